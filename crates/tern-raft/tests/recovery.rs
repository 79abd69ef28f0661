//! Recovery, rotation, durability-mode and group-lifecycle tests of the shared write-ahead log.

mod common;

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use openraft::storage::{RaftLogReader, RaftLogStorage};
use tern_raft::wal::{Durability, Wal, WalOptions};

fn small_segments(size: u64) -> WalOptions {
    WalOptions { segment_size: size, ..WalOptions::default() }
}

/// Appends `n` entries per group for groups 1..=4, interleaved, in batches of varying size.
async fn fill_interleaved(wal: &Arc<Wal>, n: u64) {
    let mut stores: Vec<_> = (1..=4).map(|g| wal.log_store(g, Durability::Request)).collect();
    let mut next = [1u64; 4];
    while next.iter().any(|i| *i <= n) {
        for (k, store) in stores.iter_mut().enumerate() {
            let batch = (k as u64 % 3) + 1;
            let from = next[k];
            let to = (from + batch - 1).min(n);
            if from > to {
                continue;
            }
            append(store, (from..=to).map(|i| ent(k as u64 + 1, i)).collect()).await;
            next[k] = to + 1;
        }
    }
}

#[tokio::test]
async fn interleaved_groups_survive_reopen_and_crash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let crash = tempfile::tempdir().expect("tempdir");
    {
        let wal = Wal::open(dir.path(), WalOptions::default()).expect("open");
        fill_interleaved(&wal, 40).await;

        let mut s1 = wal.log_store(1, Durability::Request);
        let mut s2 = wal.log_store(2, Durability::Request);
        let mut s3 = wal.log_store(3, Durability::Request);
        let mut s4 = wal.log_store(4, Durability::Request);
        s1.save_vote(&vote(3, 7)).await.expect("vote");
        s1.save_committed(Some(log_id(1, 30))).await.expect("committed");
        s2.truncate_after(Some(log_id(2, 25))).await.expect("truncate");
        append(&mut s2, vec![ent(5, 26), ent(5, 27)]).await;
        s3.purge(log_id(3, 10)).await.expect("purge");
        s4.truncate_after(None).await.expect("truncate all");
        // Fsynced barrier: every record queued before it is written and durable.
        s2.save_vote(&vote(5, 2)).await.expect("vote");

        // A crash: the files as they are now, nothing closed.
        crash_copy(dir.path(), crash.path());
        drop((s1, s2, s3, s4));
    } // graceful close

    for path in [dir.path(), crash.path()] {
        let wal = Wal::open(path, WalOptions::default()).expect("reopen");
        assert_eq!(wal.groups(), vec![1, 2, 3, 4]);

        let mut s1 = wal.log_store(1, Durability::Request);
        assert_eq!(indexes(&mut s1).await, (1..=40).collect::<Vec<_>>());
        assert_eq!(entries(&mut s1).await[4], ent(1, 5), "payloads survive");
        assert_eq!(s1.read_vote().await.expect("vote"), Some(vote(3, 7)));
        assert_eq!(s1.read_committed().await.expect("committed"), Some(log_id(1, 30)));

        let mut s2 = wal.log_store(2, Durability::Request);
        assert_eq!(indexes(&mut s2).await, (1..=27).collect::<Vec<_>>());
        assert_eq!(entries(&mut s2).await[26], ent(5, 27));
        assert_eq!(s2.read_vote().await.expect("vote"), Some(vote(5, 2)));
        assert_eq!(state(&mut s2).await, (None, Some(log_id(5, 27))));

        let mut s3 = wal.log_store(3, Durability::Request);
        assert_eq!(indexes(&mut s3).await, (11..=40).collect::<Vec<_>>());
        assert_eq!(state(&mut s3).await, (Some(log_id(3, 10)), Some(log_id(3, 40))));

        let mut s4 = wal.log_store(4, Durability::Request);
        assert!(indexes(&mut s4).await.is_empty());
        assert_eq!(state(&mut s4).await, (None, None));
        assert_eq!(s4.read_vote().await.expect("vote"), None);
    }
}

/// Writes entries 1..=10 of group 1, one record each, and returns a crash image of the directory.
async fn ten_records() -> (tempfile::TempDir, Arc<Wal>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let wal = Wal::open(dir.path(), WalOptions::default()).expect("open");
    let mut s = wal.log_store(1, Durability::Request);
    for i in 1..=10 {
        append(&mut s, vec![ent(1, i)]).await;
    }
    let crash = tempfile::tempdir().expect("tempdir");
    crash_copy(dir.path(), crash.path());
    (dir, wal, crash)
}

#[tokio::test]
async fn torn_tail_is_cut_at_the_last_good_record() {
    let (_dir, _wal, crash) = ten_records().await;
    let files = segment_files(crash.path());
    let last = files.last().expect("a segment");
    let len = std::fs::metadata(last).expect("metadata").len();
    // A torn write: the last record lost its last bytes.
    std::fs::OpenOptions::new().write(true).open(last).expect("open").set_len(len - 3).expect("truncate");

    {
        let wal = Wal::open(crash.path(), WalOptions::default()).expect("reopen");
        let mut s = wal.log_store(1, Durability::Request);
        assert_eq!(indexes(&mut s).await, (1..=9).collect::<Vec<_>>());
        // The torn bytes were cut off the file, so it is a clean non-last segment from now on.
        let record_len = len - std::fs::metadata(last).expect("metadata").len();
        assert!(record_len > 3, "the whole torn record is gone");
        // The log goes on from the last good record.
        append(&mut s, vec![ent(2, 10), ent(2, 11)]).await;
    }
    let wal = Wal::open(crash.path(), WalOptions::default()).expect("reopen twice");
    let mut s = wal.log_store(1, Durability::Request);
    assert_eq!(indexes(&mut s).await, (1..=11).collect::<Vec<_>>());
    assert_eq!(entries(&mut s).await[9], ent(2, 10));
}

#[tokio::test]
async fn garbage_after_the_tail_is_ignored() {
    let (_dir, _wal, crash) = ten_records().await;
    let files = segment_files(crash.path());
    let last = files.last().expect("a segment");
    let good_len = std::fs::metadata(last).expect("metadata").len();
    let mut f = std::fs::OpenOptions::new().append(true).open(last).expect("open");
    // Zeroes (space allocated but never written), then random-looking bytes.
    f.write_all(&[0u8; 40]).expect("write");
    drop(f);
    let wal = Wal::open(crash.path(), WalOptions::default()).expect("reopen");
    assert_eq!(indexes(&mut wal.log_store(1, Durability::Request)).await, (1..=10).collect::<Vec<_>>());
    drop(wal);
    assert_eq!(std::fs::metadata(last).expect("metadata").len(), good_len, "zeroes cut off");

    // Every open starts a new segment: the junk goes to the end of the new last one.
    let files = segment_files(crash.path());
    let last = files.last().expect("a segment");
    let mut f = std::fs::OpenOptions::new().append(true).open(last).expect("open");
    let junk: Vec<u8> = (0..200u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    f.write_all(&junk).expect("write");
    drop(f);
    let wal = Wal::open(crash.path(), WalOptions::default()).expect("reopen");
    assert_eq!(indexes(&mut wal.log_store(1, Durability::Request)).await, (1..=10).collect::<Vec<_>>());
}

#[tokio::test]
async fn corruption_before_the_last_segment_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let wal = Wal::open(dir.path(), small_segments(512)).expect("open");
        let mut s = wal.log_store(1, Durability::Request);
        for i in 1..=40 {
            append(&mut s, vec![ent_len(1, i, 64)]).await;
        }
    }
    let files = segment_files(dir.path());
    assert!(files.len() > 2, "several segments: {files:?}");
    let victim = &files[0];
    let mut bytes = std::fs::read(victim).expect("read");
    let mid = bytes.len() - 10;
    bytes[mid] ^= 0x5a;
    std::fs::write(victim, &bytes).expect("write");

    let err = Wal::open(dir.path(), WalOptions::default()).expect_err("must refuse");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{err}");
}

#[tokio::test]
async fn rotation_and_purge_delete_segments_and_state_survives() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = small_segments(4096);
    {
        let wal = Wal::open(dir.path(), opts.clone()).expect("open");
        let mut a = wal.log_store(1, Durability::Request);
        let mut b = wal.log_store(2, Durability::Request);
        let mut idle = wal.log_store(3, Durability::Request);
        append(&mut idle, vec![ent(1, 1)]).await;
        for i in 1..=200 {
            append(&mut a, vec![ent_len(1, i, 100)]).await;
            append(&mut b, vec![ent_len(1, i, 100)]).await;
        }
        a.save_vote(&vote(1, 1)).await.expect("vote");
        let before = wal.stats();
        assert!(before.segments > 10, "rotated: {before:?}");
        assert_eq!(before.segments as usize, segment_files(dir.path()).len());

        a.purge(log_id(1, 190)).await.expect("purge");
        b.purge(log_id(1, 195)).await.expect("purge");
        wal.sync().await.expect("sync");
        let after = wal.stats();
        // The idle group pins only the first segment, which holds its one entry.
        assert!(after.segments <= 3, "dead segments deleted: {before:?} -> {after:?}");
        assert_eq!(after.segments as usize, segment_files(dir.path()).len());

        wal.drop_group(3).await.expect("drop idle group");
        assert!(wal.stats().segments <= 2, "{:?}", wal.stats());
    }
    let wal = Wal::open(dir.path(), opts).expect("reopen");
    assert_eq!(wal.groups(), vec![1, 2]);
    let mut a = wal.log_store(1, Durability::Request);
    let mut b = wal.log_store(2, Durability::Request);
    assert_eq!(indexes(&mut a).await, (191..=200).collect::<Vec<_>>());
    assert_eq!(entries(&mut a).await[0], ent_len(1, 191, 100));
    assert_eq!(state(&mut a).await, (Some(log_id(1, 190)), Some(log_id(1, 200))));
    assert_eq!(a.read_vote().await.expect("vote"), Some(vote(1, 1)));
    assert_eq!(indexes(&mut b).await, (196..=200).collect::<Vec<_>>());
    assert_eq!(state(&mut b).await, (Some(log_id(1, 195)), Some(log_id(1, 200))));
    assert_eq!(wal.stats().segments as usize, segment_files(dir.path()).len());
}

/// A truncation recorded in a segment that is later deleted must not bring the truncated entries
/// of an older, surviving segment back.
#[tokio::test]
async fn truncation_in_a_deleted_segment_stays_effective() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = small_segments(1024);
    {
        let wal = Wal::open(dir.path(), opts.clone()).expect("open");
        let mut pin = wal.log_store(9, Durability::Request);
        let mut g = wal.log_store(1, Durability::Request);
        // Segment A: group 1 entries 1..=10 and a pinning entry of group 9.
        append(&mut g, (1..=10).map(|i| ent(1, i)).collect()).await;
        append(&mut pin, vec![ent(1, 1)]).await;
        // Later segments: truncate group 1 after 5, fill, then purge up to 5.
        g.truncate_after(Some(log_id(1, 5))).await.expect("truncate");
        for i in 6..=60 {
            append(&mut g, vec![ent_len(2, i, 64)]).await;
        }
        g.purge(log_id(2, 58)).await.expect("purge");
        wal.sync().await.expect("sync");
    }
    let wal = Wal::open(dir.path(), opts).expect("reopen");
    let mut g = wal.log_store(1, Durability::Request);
    assert_eq!(indexes(&mut g).await, vec![59, 60]);
    assert_eq!(entries(&mut g).await[0], ent_len(2, 59, 64));
    let mut pin = wal.log_store(9, Durability::Request);
    assert_eq!(indexes(&mut pin).await, vec![1]);
}

#[tokio::test]
async fn drop_group_is_durable() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let wal = Wal::open(dir.path(), WalOptions::default()).expect("open");
        let mut g1 = wal.log_store(1, Durability::Request);
        let mut g2 = wal.log_store(2, Durability::Request);
        append(&mut g1, vec![ent(1, 1), ent(1, 2)]).await;
        g1.save_vote(&vote(1, 1)).await.expect("vote");
        append(&mut g2, vec![ent(1, 1)]).await;

        wal.drop_group(1).await.expect("drop");
        assert_eq!(wal.groups(), vec![2]);
        // The stale handle fails instead of resurrecting the group.
        let err = g1.try_get_log_entries(..).await.expect_err("dropped");
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
        assert!(g1.save_vote(&vote(2, 1)).await.is_err());
    }
    {
        let wal = Wal::open(dir.path(), WalOptions::default()).expect("reopen");
        assert_eq!(wal.groups(), vec![2]);
        let mut g1 = wal.log_store(1, Durability::Request);
        assert!(indexes(&mut g1).await.is_empty());
        assert_eq!(g1.read_vote().await.expect("vote"), None);
        // The id can be reused for a new group.
        append(&mut g1, vec![ent(4, 7)]).await;
    }
    let wal = Wal::open(dir.path(), WalOptions::default()).expect("reopen twice");
    assert_eq!(indexes(&mut wal.log_store(1, Durability::Request)).await, vec![7]);
    assert_eq!(indexes(&mut wal.log_store(2, Durability::Request)).await, vec![1]);
}

#[tokio::test]
async fn async_mode_acks_before_fsync() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = WalOptions { async_sync_interval: Duration::from_secs(3600), ..WalOptions::default() };
    let wal = Wal::open(dir.path(), opts).expect("open");
    let mut s = wal.log_store(1, Durability::Async);

    let before = wal.stats();
    append(&mut s, vec![ent(1, 1), ent(1, 2)]).await;
    let after = wal.stats();
    assert_eq!(after.fsyncs, before.fsyncs, "acknowledged without an fsync");
    assert!(after.bytes_written > before.bytes_written, "but written");

    // Votes are fsynced whatever the mode.
    s.save_vote(&vote(1, 1)).await.expect("vote");
    assert_eq!(wal.stats().fsyncs, after.fsyncs + 1);

    // Switching the mode applies to the next append, on every clone.
    let other_handle = s.clone();
    other_handle.set_durability(Durability::Request);
    assert_eq!(s.durability(), Durability::Request);
    let before = wal.stats().fsyncs;
    append(&mut s, vec![ent(1, 3)]).await;
    assert_eq!(wal.stats().fsyncs, before + 1);
}

#[tokio::test]
async fn async_mode_fsyncs_within_the_interval() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = WalOptions { async_sync_interval: Duration::from_millis(300), ..WalOptions::default() };
    let wal = Wal::open(dir.path(), opts).expect("open");
    let mut s = wal.log_store(1, Durability::Async);
    let before = wal.stats().fsyncs;
    append(&mut s, vec![ent(1, 1)]).await;
    assert_eq!(wal.stats().fsyncs, before);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while wal.stats().fsyncs == before {
        assert!(std::time::Instant::now() < deadline, "no periodic fsync");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(wal.stats().fsyncs, before + 1);
    // Nothing new to sync: the writer goes back to sleep.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(wal.stats().fsyncs, before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_groups_share_fsyncs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wal = Wal::open(dir.path(), WalOptions::default()).expect("open");
    let before = wal.stats();
    let tasks: Vec<_> = (1..=32u64)
        .map(|g| {
            let mut store = wal.log_store(g, Durability::Request);
            tokio::spawn(async move {
                for i in 1..=20 {
                    append(&mut store, vec![ent(1, i)]).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    let after = wal.stats();
    let records = after.records - before.records;
    let fsyncs = after.fsyncs - before.fsyncs;
    assert_eq!(records, 32 * 20);
    assert!(fsyncs < records, "group commit: {fsyncs} fsyncs for {records} records");
    for g in 1..=32 {
        assert_eq!(indexes(&mut wal.log_store(g, Durability::Request)).await.len(), 20);
    }
}

#[tokio::test]
async fn holes_are_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wal = Wal::open(dir.path(), WalOptions::default()).expect("open");
    let mut s = wal.log_store(1, Durability::Request);
    append(&mut s, vec![ent(1, 1), ent(1, 2)]).await;
    let err = s.append(vec![ent(1, 4)], openraft::storage::IOFlushed::noop()).await.expect_err("hole");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert_eq!(indexes(&mut s).await, vec![1, 2]);
}
