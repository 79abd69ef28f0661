//! Copying a shard's commit between copies as files: the node side of [`tern_shard::commit_files`].
//!
//! The source pins a commit and serves its files; the target stages what it lacks next to the shard
//! (`indices/<uuid>/<shard>.staging`), then swaps: the shard's raft group stops, the engine releases
//! its writer, the files and the commit point go in, and a new engine and group open on them. Until
//! the new handle replaces the old one in the shard map, searches keep running on the old commit,
//! so readers see either the old commit or the new one, never a mix. Remote sync uses this. Peer
//! recovery ([`crate::recovery`]) uses the same pieces (pinned commits, [`Staging`],
//! [`install_commit`](tern_shard::commit_files::install_commit) through the engine, and the
//! [`Throttle`]) but swaps the engine in place, inside its raft group's snapshot install.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::Semaphore;

use tern_common::{ErrorKind, EsError};
use tern_shard::commit_files::install_commit;
pub use tern_shard::commit_files::{CommitFile, CommitManifest, PinnedCommit, Staging, file_crc32};

use crate::node::Node;
use crate::shard::ShardHandle;

impl Node {
    fn open_shard_handle(&self, index: &str, shard: u32) -> Result<Arc<ShardHandle>, EsError> {
        let meta = self.metadata();
        let im = meta.indices.get(index).ok_or_else(|| EsError::index_not_found(index))?;
        if !im.is_open() {
            return Err(EsError::new(ErrorKind::IndexClosed, "closed").with("index", index));
        }
        self.shard(&im.uuid, shard).ok_or_else(|| {
            EsError::new(ErrorKind::ResourceNotFound, format!("no such shard [{shard}] of index [{index}]"))
        })
    }

    /// Pins the last commit of one shard of `index` so its files can be copied elsewhere.
    pub fn pin_shard_commit(&self, index: &str, shard: u32) -> Result<PinnedCommit, EsError> {
        self.open_shard_handle(index, shard)?.engine.pin_commit()
    }

    /// The files of the shard's last commit.
    pub fn shard_committed_files(&self, index: &str, shard: u32) -> Result<BTreeSet<String>, EsError> {
        self.open_shard_handle(index, shard)?.engine.committed_files()
    }

    /// Where files for the shard are staged before [`Node::install_shard_commit`]; it survives
    /// restarts so an interrupted copy resumes, and goes away with the index.
    pub fn shard_staging_dir(&self, index: &str, shard: u32) -> Result<PathBuf, EsError> {
        let meta = self.metadata();
        let im = meta.indices.get(index).ok_or_else(|| EsError::index_not_found(index))?;
        self.index_dir(&im.uuid)
            .map(|d| d.join(format!("{shard}.staging")))
            .ok_or_else(|| EsError::illegal_argument("this node keeps no files"))
    }

    /// Makes the shard hold exactly the commit of `manifest`, with the files it lacked staged in
    /// [`Node::shard_staging_dir`] and already verified by the caller.
    pub async fn install_shard_commit(
        &self,
        index: &str,
        shard: u32,
        manifest: &CommitManifest,
    ) -> Result<(), EsError> {
        // Serialized with index lifecycle changes: the index cannot be closed or deleted mid-swap.
        let _guard = self.metadata_lock.lock().await;
        let meta = self.metadata();
        let im = meta.indices.get(index).ok_or_else(|| EsError::index_not_found(index))?.clone();
        let old = self.open_shard_handle(index, shard)?;
        let shard_dir =
            old.engine.path().map(PathBuf::from).ok_or_else(|| EsError::illegal_argument("in-memory shard"))?;
        let staged = self.shard_staging_dir(index, shard)?;

        old.group.shutdown().await;
        let engine = old.engine.clone();
        let marker = tokio::task::spawn_blocking(move || engine.release().map(|_| engine.committed_marker()))
            .await
            .map_err(|e| EsError::internal(e.to_string()))??;
        let manifest_owned = manifest.clone();
        let dir = shard_dir.clone();
        let installed = tokio::task::spawn_blocking(move || install_commit(&dir, &staged, &manifest_owned, marker))
            .await
            .map_err(|e| EsError::internal(e.to_string()))?;
        // Whether or not the install went through, the shard must come back: either commit is whole.
        let new = self.start_shard(&im, shard).await?;
        new.engine.set_merges_enabled(old.engine.merges_enabled());
        self.shards.write().insert((im.uuid.clone(), shard), new.clone());
        if let Err(e) = new.refresh().await {
            tracing::warn!(index, shard, error = %e.reason, "refresh after installing a commit failed");
        }
        installed
    }
}

/// A node-wide byte rate limit for copying files (`remote_sync.max_bytes_per_sec`,
/// `indices.recovery.max_bytes_per_sec`), and a bound on chunks in flight.
///
/// Bytes are paced rather than bucketed: each chunk reserves the next `len / rate` seconds on one
/// shared clock and waits until they have passed. The long-run rate is then exactly the limit, with
/// no burst above it, and a wait is what stats count as a pause.
pub struct Throttle {
    /// When the next byte may go, on the shared clock.
    next_free: Mutex<Instant>,
    chunks: Mutex<(usize, Arc<Semaphore>)>,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle { next_free: Mutex::new(Instant::now()), chunks: Mutex::new((10, Arc::new(Semaphore::new(10)))) }
    }
}

impl Throttle {
    /// Waits until `bytes` may be transferred at `bytes_per_sec` (0 = unlimited); returns how long it
    /// waited, if it did.
    pub async fn acquire(&self, bytes: u64, bytes_per_sec: u64) -> Option<Duration> {
        if bytes_per_sec == 0 {
            return None;
        }
        let now = Instant::now();
        // The chunk is charged before it goes: it may leave once its own share of time has passed,
        // so no burst ever exceeds the rate (a first chunk for free would).
        let until = {
            let mut next = self.next_free.lock();
            let until = (*next).max(now) + Duration::from_secs_f64(bytes as f64 / bytes_per_sec as f64);
            *next = until;
            until
        };
        let wait = until.saturating_duration_since(now);
        if wait.is_zero() {
            return None;
        }
        tokio::time::sleep(wait).await;
        Some(wait)
    }

    /// The semaphore bounding chunks in flight on this node, re-made when the setting changes.
    pub fn chunk_permits(&self, max_concurrent: usize) -> Arc<Semaphore> {
        let mut g = self.chunks.lock();
        if g.0 != max_concurrent {
            *g = (max_concurrent, Arc::new(Semaphore::new(max_concurrent.max(1))));
        }
        g.1.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pacing_holds_the_rate() {
        let t = Throttle::default();
        let started = Instant::now();
        let mut paused = Duration::ZERO;
        // 10 chunks of 100 KB at 1 MB/s take one second.
        for _ in 0..10 {
            paused += t.acquire(100_000, 1_000_000).await.unwrap_or_default();
        }
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(990), "{elapsed:?}");
        assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
        assert!(paused >= Duration::from_millis(900));
        assert!(t.acquire(1 << 30, 0).await.is_none(), "0 means unlimited");
    }
}
