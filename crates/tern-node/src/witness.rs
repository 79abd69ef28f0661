//! The witness: the log-only third voter of a shard group with two data copies.
//!
//! Two copies alone cannot keep a raft majority when one is lost, so ES's "one replica survives one
//! node loss" needs a third vote. The witness stores the group's log and votes, but holds no index:
//! applying an entry only advances its marker. It may still win an election (its log can be the
//! most complete one after a crash, and refusing it would leave the group without a leader); while
//! it leads it accepts no writes and hands leadership to the first data copy that has caught up, the
//! moment one has (a watcher on the group's metrics). It campaigns a little later than data copies
//! (election timeouts ×1.25: not more, since the timeout is also the lease during which it refuses
//! to vote for a new leader), so in the common case a data copy wins outright.

use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;
use tern_common::EsError;
use tern_raft::{ApplyHandler, RaftGroup};
use tern_shard::ShardIdent;
use tern_shard::ops::{OpFailure, ShardReply};

use crate::persist::write_atomic;

/// The witness's state: the marker of the last entry it saw, persisted to a small file so a
/// restart replays only the log tail.
pub struct WitnessStateMachine {
    marker: Mutex<Option<String>>,
    durable: Mutex<Option<String>>,
    file: Option<PathBuf>,
}

impl WitnessStateMachine {
    pub fn open(file: Option<PathBuf>) -> Result<WitnessStateMachine, EsError> {
        let durable = match &file {
            Some(f) => match std::fs::read_to_string(f) {
                Ok(s) => Some(s),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(EsError::internal(format!("cannot read witness state [{}]: {e}", f.display()))),
            },
            None => None,
        };
        Ok(WitnessStateMachine { marker: Mutex::new(durable.clone()), durable: Mutex::new(durable), file })
    }
}

impl ApplyHandler for WitnessStateMachine {
    fn apply(&self, _term: u64, marker: String, _payload: &[u8]) -> Vec<u8> {
        *self.marker.lock() = Some(marker);
        // Only a leading witness's replies reach a proposer, and it refuses proposals first.
        ShardReply::Rejected(OpFailure::from_es(&EsError::new(
            tern_common::ErrorKind::UnavailableShards,
            "a witness holds no shard data",
        )))
        .encode()
    }

    fn advance(&self, marker: String) {
        *self.marker.lock() = Some(marker);
    }

    fn durable_marker(&self) -> Option<String> {
        self.durable.lock().clone()
    }

    /// A witness holds no data, so a snapshot's marker is all it installs (a witness added after
    /// the log was purged catches up this way).
    fn can_install_snapshot(&self) -> bool {
        true
    }

    fn install_snapshot(&self, snapshot: &tern_raft::LocalSnapshot) -> Result<(), String> {
        *self.marker.lock() = snapshot.marker.clone();
        self.persist().map(|_| ())
    }

    fn persist(&self) -> Result<Option<String>, String> {
        let marker = self.marker.lock().clone();
        if let (Some(file), Some(m)) = (&self.file, &marker) {
            if let Some(dir) = file.parent() {
                std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
            }
            write_atomic(file, m.as_bytes()).map_err(|e| e.to_string())?;
        }
        *self.durable.lock() = marker.clone();
        Ok(marker)
    }
}

/// A witness voter running on this node.
pub struct WitnessHandle {
    pub ident: ShardIdent,
    pub group: RaftGroup<WitnessStateMachine>,
}

impl WitnessHandle {
    /// Wraps a started witness group and watches it: the moment it leads and a data copy holds
    /// the whole log, leadership goes to that copy (a write waits for this, so a tick is too slow).
    pub fn new(ident: ShardIdent, group: RaftGroup<WitnessStateMachine>) -> Arc<WitnessHandle> {
        let handle = Arc::new(WitnessHandle { ident, group });
        let weak = Arc::downgrade(&handle);
        tokio::spawn(async move {
            loop {
                let Some(h) = weak.upgrade() else { break };
                let me = h.group.node_id;
                let ready = h
                    .group
                    .wait_for(std::time::Duration::from_secs(1), "a data copy to hand leadership to", |m| {
                        m.is_leader() && caught_up_voter(m, me).is_some()
                    })
                    .await;
                if let Ok(m) = ready
                    && let Some(to) = caught_up_voter(&m, me)
                    && let Err(e) = h.group.transfer_leader(to).await
                {
                    tracing::warn!(index = %h.ident.index, shard = h.ident.shard, error = %e, "witness hand-over failed");
                }
                if h.group.metrics().role == tern_raft::GroupRole::Shutdown {
                    break;
                }
                drop(h);
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        });
        handle
    }

    /// While leading, hands leadership to a data copy that holds the whole log (the tick's
    /// fallback to the watcher above). `data_voters` are the raft ids of the data copies.
    pub async fn hand_over(&self, data_voters: &[u64]) {
        let m = self.group.metrics();
        if !m.is_leader() {
            return;
        }
        let target = caught_up_voter(&m, self.group.node_id).filter(|v| data_voters.contains(v));
        if let Some(to) = target
            && let Err(e) = self.group.transfer_leader(to).await
        {
            tracing::warn!(index = %self.ident.index, shard = self.ident.shard, error = %e, "witness hand-over failed");
        }
    }
}

/// A voter other than the witness itself (so a data copy) holding the leader's whole log.
fn caught_up_voter(m: &tern_raft::GroupMetrics, witness: u64) -> Option<u64> {
    let last = m.last_log_index.unwrap_or(0);
    m.membership.voters.iter().copied().filter(|v| *v != witness).find(|v| m.matched.get(v).is_some_and(|i| *i >= last))
}
