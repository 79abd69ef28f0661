//! `GET {index}/sync_stats`: the seed's counters per shard copy, plus what an operator needs and
//! the seed lacks (state, last error, last sync time, lag in time, operations and bytes).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use serde_json::{Value, json};

#[derive(Debug, Default)]
pub struct CopyStats {
    pub total_synced_times: AtomicU64,
    pub total_empty_times: AtomicU64,
    pub total_synced_files: AtomicU64,
    pub total_synced_bytes: AtomicU64,
    pub total_paused_nanos: AtomicU64,
    pub total_paused_times: AtomicU64,
    pub current_files_count: AtomicU64,
    pub current_finished_files_count: AtomicU64,
    pub current_bytes: AtomicU64,
    pub current_finished_bytes: AtomicU64,
    pub detail: Mutex<CopyDetail>,
}

#[derive(Debug, Default, Clone)]
pub struct CopyDetail {
    pub state: &'static str,
    pub last_error: Option<String>,
    /// When the last round ended with this copy identical to the leader's commit (ms since epoch).
    pub last_sync_at: Option<i64>,
    /// When the copy was first seen behind the leader since it was last in sync.
    pub behind_since: Option<i64>,
    pub leader_generation: Option<u64>,
    pub leader_max_seq_no: i64,
    pub local_max_seq_no: i64,
    /// Bytes of the leader's commit this copy lacked at the last check.
    pub lag_bytes: u64,
}

impl CopyStats {
    pub fn add(&self, counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn begin_round(&self, files: u64, bytes: u64) {
        self.current_files_count.store(files, Ordering::Relaxed);
        self.current_bytes.store(bytes, Ordering::Relaxed);
        self.current_finished_files_count.store(0, Ordering::Relaxed);
        self.current_finished_bytes.store(0, Ordering::Relaxed);
    }

    pub fn end_round(&self) {
        self.begin_round(0, 0);
    }

    pub fn to_json(&self, primary: bool, now: i64) -> Value {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let d = self.detail.lock().clone();
        let lag_millis = d.behind_since.map(|t| (now - t).max(0)).unwrap_or(0);
        json!({
            "primary": primary,
            "total_synced_times": g(&self.total_synced_times),
            "total_empty_times": g(&self.total_empty_times),
            "total_synced_files": g(&self.total_synced_files),
            "total_synced_bytes": g(&self.total_synced_bytes),
            "total_paused_nanos": g(&self.total_paused_nanos),
            "total_paused_times": g(&self.total_paused_times),
            "current": {
                "files_count": g(&self.current_files_count),
                "finished_files_count": g(&self.current_finished_files_count),
                "bytes": g(&self.current_bytes),
                "finished_bytes": g(&self.current_finished_bytes),
            },
            "state": if d.state.is_empty() { "starting" } else { d.state },
            "last_error": d.last_error,
            "last_sync_at": d.last_sync_at,
            "lag_millis": lag_millis,
            "lag_operations": (d.leader_max_seq_no - d.local_max_seq_no).max(0),
            "lag_bytes": d.lag_bytes,
            "leader_generation": d.leader_generation,
            "leader_max_seq_no": d.leader_max_seq_no,
            "local_max_seq_no": d.local_max_seq_no,
        })
    }
}

/// Counters of one follower index, by shard (this node holds one copy of each).
#[derive(Debug, Default)]
pub struct IndexStats {
    pub shards: Mutex<BTreeMap<u32, Arc<CopyStats>>>,
}

impl IndexStats {
    pub fn shard(&self, shard: u32) -> Arc<CopyStats> {
        self.shards.lock().entry(shard).or_default().clone()
    }

    /// Marks every shard's state at once (a round that failed before reaching the shards).
    pub fn set_error(&self, error: &str) {
        for s in self.shards.lock().values() {
            let mut d = s.detail.lock();
            d.state = "failing";
            d.last_error = Some(error.to_string());
        }
    }
}

/// `GET auto_sync/stats`: the shape the seed's older revision gives.
#[derive(Debug, Default)]
pub struct AutoSyncStats {
    pub success_count: AtomicU64,
    pub failed_count: AtomicU64,
    pub failed_remote_cluster_state_requests_count: AtomicU64,
    pub last_fail_exception: Mutex<Option<String>>,
    pub last_fail_remote_cluster_requests_exception: Mutex<Option<String>>,
}

impl AutoSyncStats {
    pub fn to_json(&self) -> Value {
        let err = |m: &Mutex<Option<String>>| match m.lock().clone() {
            Some(reason) => json!({"type": "exception", "reason": reason}),
            None => json!({}),
        };
        json!({
            "success_count": self.success_count.load(Ordering::Relaxed),
            "failed_count": self.failed_count.load(Ordering::Relaxed),
            "failed_remote_cluster_state_requests_count": self.failed_remote_cluster_state_requests_count.load(Ordering::Relaxed),
            "last_fail_exception": err(&self.last_fail_exception),
            "last_fail_remote_cluster_requests_exception": err(&self.last_fail_remote_cluster_requests_exception),
        })
    }
}
