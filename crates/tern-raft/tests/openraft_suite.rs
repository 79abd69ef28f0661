//! openraft's own storage test suite (`openraft::testing::log::Suite`) run against [`LogStore`], with
//! a minimal in-memory state machine (the suite tests a log store and a state machine together).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::MemStateMachine;
use openraft::StorageError;
use openraft::testing::log::{StoreBuilder, Suite};
use tempfile::TempDir;
use tern_raft::TypeConfig;
use tern_raft::log_store::LogStore;
use tern_raft::wal::{Durability, Wal, WalOptions};

/// Builds each suite case on a fresh log in a fresh directory.
struct FreshWal {
    durability: Durability,
    opts: WalOptions,
}

impl StoreBuilder<TypeConfig, LogStore, MemStateMachine, TempDir> for FreshWal {
    async fn build(&self) -> Result<(TempDir, LogStore, MemStateMachine), StorageError<TypeConfig>> {
        let dir = tempfile::tempdir().expect("tempdir");
        let wal = Wal::open(dir.path(), self.opts.clone()).expect("open wal");
        let store = wal.log_store(1, self.durability);
        Ok((dir, store, MemStateMachine::default()))
    }
}

/// Builds every suite case as a new group of ONE shared log, so the cases also check that groups
/// sharing segments never see each other's entries, votes or purges.
struct SharedWal {
    wal: Arc<Wal>,
    next_group: AtomicU64,
}

impl StoreBuilder<TypeConfig, LogStore, MemStateMachine> for SharedWal {
    async fn build(&self) -> Result<((), LogStore, MemStateMachine), StorageError<TypeConfig>> {
        let group = self.next_group.fetch_add(1, Ordering::Relaxed);
        Ok(((), self.wal.log_store(group, Durability::Request), MemStateMachine::default()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suite_request_durability() {
    Suite::test_all(FreshWal { durability: Durability::Request, opts: WalOptions::default() })
        .await
        .expect("openraft storage suite");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suite_async_durability() {
    Suite::test_all(FreshWal {
        durability: Durability::Async,
        opts: WalOptions { async_sync_interval: Duration::from_millis(20), ..WalOptions::default() },
    })
    .await
    .expect("openraft storage suite");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suite_shared_wal_with_tiny_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Segments of a few records: every case rotates and deletes segments under the suite's feet.
    let opts = WalOptions { segment_size: 300, ..WalOptions::default() };
    let wal = Wal::open(dir.path(), opts.clone()).expect("open wal");
    let builder = SharedWal { wal: Arc::clone(&wal), next_group: AtomicU64::new(1) };
    Suite::test_all(builder).await.expect("openraft storage suite");
    // The suite wrote far more than one segment's worth; purged groups let most segments go, the
    // groups that never purge keep theirs.
    let stats = wal.stats();
    let files = std::fs::read_dir(dir.path()).expect("read_dir").count() as u64;
    eprintln!("{stats:?}");
    assert!(stats.bytes_written > 20 * opts.segment_size, "{stats:?}");
    assert_eq!(stats.segments, files, "stats agree with the directory");
    assert!(stats.fsyncs > 0 && stats.records > 0 && stats.batches > 0);
}
