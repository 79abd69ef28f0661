//! Helpers shared by the tern-raft integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{self, Cursor};
use std::path::Path;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use openraft::alias::{SnapshotMetaOf, SnapshotOf};
use openraft::storage::{
    EntryResponder, RaftLogReader, RaftLogStorage, RaftLogStorageExt, RaftSnapshotBuilder, RaftStateMachine,
};
use openraft::vote::leader_id_std::CommittedLeaderId;
use openraft::{EntryPayload, OptionalSend};
use parking_lot::Mutex;
use tern_raft::log_store::LogStore;
use tern_raft::types::{Entry, LogId, StoredMembership, Vote};
use tern_raft::{Proposal, Reply, TypeConfig};

pub fn log_id(term: u64, index: u64) -> LogId {
    LogId { leader_id: CommittedLeaderId::new(term), index }
}

/// A normal entry whose payload is derived from its position, so a test can check it back.
pub fn ent(term: u64, index: u64) -> Entry {
    Entry { log_id: log_id(term, index), payload: EntryPayload::Normal(Proposal(payload(term, index, 16))) }
}

/// An entry with a payload of `len` bytes.
pub fn ent_len(term: u64, index: u64, len: usize) -> Entry {
    Entry { log_id: log_id(term, index), payload: EntryPayload::Normal(Proposal(payload(term, index, len))) }
}

pub fn payload(term: u64, index: u64, len: usize) -> Vec<u8> {
    (0..len).map(|i| (term as usize * 31 + index as usize * 7 + i) as u8).collect()
}

pub fn vote(term: u64, node: u64) -> Vote {
    Vote::new(term, node)
}

/// Appends and waits until the entries are acknowledged (durable in `Request` mode).
pub async fn append(store: &mut LogStore, entries: Vec<Entry>) {
    store.blocking_append(entries).await.expect("append");
}

pub async fn entries(store: &mut LogStore) -> Vec<Entry> {
    store.try_get_log_entries(..).await.expect("read entries")
}

pub async fn indexes(store: &mut LogStore) -> Vec<u64> {
    entries(store).await.iter().map(|e| e.log_id.index).collect()
}

pub async fn state(store: &mut LogStore) -> (Option<LogId>, Option<LogId>) {
    let st = store.get_log_state().await.expect("log state");
    (st.last_purged_log_id, st.last_log_id)
}

/// Copies the files of `src` as they are at this instant, like the disk after a process crash
/// (everything written to the OS survives a process crash; nothing is closed or flushed first).
pub fn crash_copy(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).expect("mkdir");
    for ent in std::fs::read_dir(src).expect("read_dir") {
        let ent = ent.expect("dir entry");
        std::fs::copy(ent.path(), dst.join(ent.file_name())).expect("copy");
    }
}

/// The segment files of a log directory, oldest first.
pub fn segment_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("wal-") && n.ends_with(".log"))
        })
        .collect();
    files.sort();
    files
}

// ---- a minimal in-memory state machine, for openraft's suite and single-node rafts.

pub type SnapshotData = Cursor<Vec<u8>>;

#[derive(Default)]
pub struct SmInner {
    pub applied: Option<LogId>,
    pub membership: StoredMembership,
    /// index -> payload of every applied normal entry.
    pub data: BTreeMap<u64, Vec<u8>>,
    pub snapshot: Option<(SnapshotMetaOf<TypeConfig>, Vec<u8>)>,
}

/// The smallest state machine the suite accepts: everything in memory, snapshots are the applied
/// payloads encoded as JSON.
#[derive(Clone, Default)]
pub struct MemStateMachine {
    pub inner: Arc<Mutex<SmInner>>,
}

impl RaftSnapshotBuilder<TypeConfig> for MemStateMachine {
    type SnapshotData = SnapshotData;

    async fn build_snapshot(&mut self) -> Result<SnapshotOf<TypeConfig, SnapshotData>, io::Error> {
        let mut inner = self.inner.lock();
        let bytes = serde_json::to_vec(&inner.data).map_err(io::Error::other)?;
        let meta =
            SnapshotMetaOf::<TypeConfig> { last_log_id: inner.applied, last_membership: inner.membership.clone() };
        inner.snapshot = Some((meta.clone(), bytes.clone()));
        Ok(SnapshotOf::<TypeConfig, SnapshotData> { meta, snapshot: Cursor::new(bytes) })
    }
}

impl RaftStateMachine<TypeConfig> for MemStateMachine {
    type SnapshotData = SnapshotData;
    type SnapshotBuilder = MemStateMachine;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        let inner = self.inner.lock();
        Ok((inner.applied, inner.membership.clone()))
    }

    async fn apply<S>(&mut self, mut entries: S) -> Result<(), io::Error>
    where
        S: Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + OptionalSend,
    {
        while let Some(item) = entries.next().await {
            let (entry, responder) = item?;
            let reply = {
                let mut inner = self.inner.lock();
                inner.applied = Some(entry.log_id);
                match &entry.payload {
                    EntryPayload::Blank => {}
                    EntryPayload::Normal(p) => {
                        inner.data.insert(entry.log_id.index, p.0.clone());
                    }
                    EntryPayload::Membership(m) => {
                        inner.membership = StoredMembership::new(Some(entry.log_id), m.clone());
                    }
                }
                Reply(entry.log_id.index.to_le_bytes().to_vec())
            };
            if let Some(responder) = responder {
                responder.send(reply);
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMetaOf<TypeConfig>,
        snapshot: SnapshotData,
    ) -> Result<(), io::Error> {
        let bytes = snapshot.into_inner();
        let data: BTreeMap<u64, Vec<u8>> = serde_json::from_slice(&bytes).map_err(io::Error::other)?;
        let mut inner = self.inner.lock();
        inner.data = data;
        inner.applied = meta.last_log_id;
        inner.membership = meta.last_membership.clone();
        inner.snapshot = Some((meta.clone(), bytes));
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<SnapshotOf<TypeConfig, SnapshotData>>, io::Error> {
        let inner = self.inner.lock();
        Ok(inner.snapshot.as_ref().map(|(meta, bytes)| SnapshotOf::<TypeConfig, SnapshotData> {
            meta: meta.clone(),
            snapshot: Cursor::new(bytes.clone()),
        }))
    }
}
