//! The node-wide write-ahead log shared by every raft group on the node.
//!
//! # Why one log for all groups
//!
//! Every shard is its own raft group, so a `_bulk` request that touches twenty shards produces twenty
//! raft appends. With one log file per group that is twenty `fsync`s, and `fsync` (not CPU) is what
//! bounds write throughput on real disks. Here every group writes into one sequence of segment files,
//! and one dedicated writer thread turns whatever is queued into a single `write` and a single
//! `sync_data` ("group commit"): the twenty appends cost one fsync, and so do the appends of many
//! concurrent bulks.
//!
//! # Layout on disk
//!
//! The directory holds segment files `wal-<seq>.log` (zero-padded, so they sort by name). A segment
//! is an 8-byte magic header followed by records framed `[len u32 LE][crc32 u32 LE][payload]`, where
//! the payload is a postcard-encoded `Record`: entries appended for a group, a vote, a committed log
//! id, a truncation, a purge, a dropped group, or a checkpoint.
//!
//! Every segment starts with a **checkpoint**: for every group at the moment the segment was
//! created, its vote, committed and purged log id and the index of its last entry. Replaying a
//! checkpoint sets those, drops entries above the last index (a truncation) or up to the purged one,
//! and forgets groups it does not list (they had been dropped). So a checkpoint stands in for every
//! non-entry record before it, and an old segment is needed only while it still holds an entry
//! that is live (not purged, truncated away, or of a dropped group). The writer tracks, per
//! segment, the index range of each group's possibly-live entries, and deletes any segment other
//! than the current one whose ranges are all gone, once everything written is fsynced. Deleting out
//! of order is safe: whatever a deleted segment's records did to entries of older, surviving
//! segments is redone by the next checkpoint. An idle group that never purges therefore pins only
//! the segments holding its own entries, not every segment after them.
//!
//! # Recovery
//!
//! [`Wal::open`] replays all segments in order into the in-memory per-group state (entries in a
//! `BTreeMap` by index, vote, committed, last purged). A short, torn or CRC-bad record at the tail of
//! the *last* segment is what a crash mid-write leaves behind: the file is cut there and recovery
//! goes on with everything before it, which is exactly what was acknowledged as durable (fsync covers
//! a prefix of the file and replay never skips a bad record to read a later one). The same damage in
//! any other segment cannot come from a crash (a segment is fsynced before the next one is created),
//! so it is reported as an [`io::ErrorKind::InvalidData`] error. Every open starts a fresh segment.
//!
//! # Durability
//!
//! Per group, [`Durability::Request`] (the default, like ES `index.translog.durability: request`)
//! acknowledges an append after it is fsynced; [`Durability::Async`] acknowledges it once it is
//! written to the OS and fsyncs at most [`WalOptions::async_sync_interval`] later (ES
//! `index.translog.sync_interval`). A vote is always fsynced before it is acknowledged, whatever the
//! mode: raft's safety depends on it.
//!
//! After a failed write or fsync the log is *poisoned*: the state of the file is unknown (a failed
//! fsync may have dropped dirty pages), so every pending and later request fails and the node must
//! reopen the log, which re-reads what actually reached the disk.
//!
//! In `Async` mode an acknowledged append survives a process crash (it is in the OS page cache) but
//! not a power loss within the interval; raft then treats this node's copy as if it had never been
//! acknowledged, which is safe only while a majority of the group's replicas still hold the entry.
//! That is the same trade ES makes with an async translog.
//!
//! # Costs and caveats
//!
//! - Every unpurged entry of every group stays in memory (reads never touch the disk), so memory is
//!   bounded by how eagerly groups purge: tie openraft's snapshot policy and
//!   `max_in_snapshot_log_to_keep` to the shard's commit cadence.
//! - Dropping the last handle of a [`Wal`] (every [`LogStore`] holds one) blocks until the writer
//!   thread has written and fsynced what is queued.
//! - Only one [`Wal`] may be open on a directory at a time; the node's data-directory lock is what
//!   guarantees that.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use openraft::EntryPayload;
use openraft::storage::IOFlushed;
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

use crate::log_store::LogStore;
use crate::types::{Entry, GroupId, LogId, TypeConfig, Vote};

/// Magic bytes at the start of every segment (the last byte is the format version).
const MAGIC: &[u8; 8] = b"TERNWAL\x01";
/// `[len u32][crc32 u32]` in front of every record payload.
const FRAME_HEADER: usize = 8;
/// Upper bound on messages folded into one batch, so one batch cannot hold completions back forever.
const MAX_BATCH_MESSAGES: usize = 4096;
/// Upper bound on bytes folded into one batch.
const MAX_BATCH_BYTES: usize = 16 << 20;

/// Tuning of a [`Wal`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalOptions {
    /// A new segment is started once the current one reaches this many bytes (default 64 MiB).
    pub segment_size: u64,
    /// How long data written by [`Durability::Async`] groups may stay un-fsynced (default 5 s).
    pub async_sync_interval: Duration,
}

impl Default for WalOptions {
    fn default() -> Self {
        Self { segment_size: 64 << 20, async_sync_interval: Duration::from_secs(5) }
    }
}

/// When an append to a group is acknowledged (its [`IOFlushed`] callback fires).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// After the entries are fsynced (ES `index.translog.durability: request`).
    #[default]
    Request,
    /// After the entries are written to the OS; fsynced within
    /// [`WalOptions::async_sync_interval`] (ES `index.translog.durability: async`).
    Async,
}

impl Durability {
    fn to_u8(self) -> u8 {
        match self {
            Durability::Request => 0,
            Durability::Async => 1,
        }
    }

    fn from_u8(v: u8) -> Self {
        if v == 1 { Durability::Async } else { Durability::Request }
    }
}

/// Counters of a [`Wal`], for benchmarks and `_nodes/stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalStats {
    /// Bytes written to segment files since open (headers and checkpoints included).
    pub bytes_written: u64,
    /// `sync_data` calls since open.
    pub fsyncs: u64,
    /// Segment files currently on disk.
    pub segments: u64,
    /// Records written since open (checkpoints excluded).
    pub records: u64,
    /// Batches the writer thread processed since open; `records / batches` is the group-commit factor.
    pub batches: u64,
}

/// The node-wide write-ahead log. See the [module docs](self).
pub struct Wal {
    dir: PathBuf,
    opts: WalOptions,
    groups: RwLock<HashMap<GroupId, Arc<GroupShared>>>,
    tx: Sender<Msg>,
    writer: Mutex<Option<JoinHandle<()>>>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal").field("dir", &self.dir).field("stats", &self.stats()).finish_non_exhaustive()
    }
}

impl Wal {
    /// Opens (creating if needed) the log in `dir`, replays it, starts a fresh segment and the
    /// writer thread.
    pub fn open(dir: &Path, opts: WalOptions) -> io::Result<Arc<Wal>> {
        fs::create_dir_all(dir)?;
        let recovered = recover(dir)?;
        let shared = Arc::new(Shared::default());

        let next_seq = recovered.last_seq.map_or(1, |s| s + 1);
        let mut writer = Writer {
            dir: dir.to_path_buf(),
            opts: opts.clone(),
            shared: Arc::clone(&shared),
            file: None,
            seq: next_seq,
            seg_len: 0,
            seg_records: 0,
            tracker: recovered.tracker,
            buf: Vec::new(),
            dirty: false,
            unsynced_since: None,
            poisoned: None,
        };
        writer.start_segment(next_seq)?;
        writer.delete_dead_segments();

        let groups = recovered
            .groups
            .into_iter()
            .map(|(id, state)| (id, Arc::new(GroupShared::new(id, Durability::Request, state))))
            .collect();

        let (tx, rx) = mpsc::channel();
        let handle = std::thread::Builder::new().name("tern-wal-writer".to_string()).spawn(move || writer.run(rx))?;

        Ok(Arc::new(Wal {
            dir: dir.to_path_buf(),
            opts,
            groups: RwLock::new(groups),
            tx,
            writer: Mutex::new(Some(handle)),
            shared,
        }))
    }

    /// The directory the log lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The options the log was opened with.
    pub fn options(&self) -> &WalOptions {
        &self.opts
    }

    /// The openraft log store of `group` (created empty if the log knows nothing of it), with its
    /// durability mode set to `durability`. Cheap: an `Arc` clone and a map lookup.
    pub fn log_store(self: &Arc<Self>, group: GroupId, durability: Durability) -> LogStore {
        let shared = {
            let existing = self.groups.read().get(&group).cloned();
            match existing {
                Some(g) => g,
                None => Arc::clone(
                    self.groups
                        .write()
                        .entry(group)
                        .or_insert_with(|| Arc::new(GroupShared::new(group, durability, GroupState::default()))),
                ),
            }
        };
        shared.set_durability(durability);
        LogStore::new(Arc::clone(self), shared)
    }

    /// The groups the log knows (recovered at open, or opened by [`Wal::log_store`] since), sorted.
    /// The registry uses it at startup to find the groups that live on this node.
    pub fn groups(&self) -> Vec<GroupId> {
        let mut ids: Vec<GroupId> = self.groups.read().keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Forgets `group` durably: its entries and vote are gone once this returns, also after a
    /// restart. [`LogStore`]s of the group obtained earlier fail from now on; a later
    /// [`Wal::log_store`] for the same id starts an empty group.
    pub async fn drop_group(&self, group: GroupId) -> io::Result<()> {
        self.check_poisoned()?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        {
            let mut groups = self.groups.write();
            if let Some(g) = groups.remove(&group) {
                let mut st = g.state.lock();
                st.dropped = true;
                st.log.clear();
            }
            let bytes = encode(&Record::DropGroup { group })?;
            self.send(Msg::Write(Request {
                bytes,
                effect: Effect::Drop { group },
                sync: true,
                done: Done::Signal(tx),
            }))?;
        }
        wait(rx).await
    }

    /// Returns once everything submitted before the call is fsynced (for `_flush` and tests).
    pub async fn sync(&self) -> io::Result<()> {
        self.check_poisoned()?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send(Msg::Sync(Done::Signal(tx)))?;
        wait(rx).await
    }

    /// Current counters.
    pub fn stats(&self) -> WalStats {
        let s = &self.shared;
        WalStats {
            bytes_written: s.bytes_written.load(Ordering::Relaxed),
            fsyncs: s.fsyncs.load(Ordering::Relaxed),
            segments: s.segments.load(Ordering::Relaxed),
            records: s.records.load(Ordering::Relaxed),
            batches: s.batches.load(Ordering::Relaxed),
        }
    }

    // ---- operations used by `LogStore`; each mutates memory and queues its record under the
    // group's lock, so memory and disk see one group's operations in the same order.

    /// Makes `entries` readable now and queues them; `done` fires once they are written (Async) or
    /// fsynced (Request).
    pub(crate) fn append(&self, g: &GroupShared, entries: Vec<Entry>, done: Done) -> io::Result<()> {
        self.check_poisoned()?;
        let sync = g.durability() == Durability::Request;
        let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
            // Nothing to write, but the acknowledgement must still come after earlier appends.
            let _st = g.lock_live()?;
            return self.send(Msg::Write(Request { bytes: Vec::new(), effect: Effect::None, sync, done }));
        };
        let (first, last) = (first.log_id.index, last.log_id.index);
        let bytes = encode(&Record::Append { group: g.id, entries: Cow::Borrowed(&entries) })?;
        let mut st = g.lock_live()?;
        st.check_append(g.id, &entries)?;
        st.append(entries);
        self.send(Msg::Write(Request { bytes, effect: Effect::Append { group: g.id, first, last }, sync, done }))
    }

    /// Records `vote` and returns once it is fsynced.
    pub(crate) async fn save_vote(&self, g: &GroupShared, vote: &Vote) -> io::Result<()> {
        self.check_poisoned()?;
        let bytes = encode(&Record::Vote { group: g.id, vote: *vote })?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        {
            let mut st = g.lock_live()?;
            st.vote = Some(*vote);
            self.send(Msg::Write(Request {
                bytes,
                effect: Effect::Vote { group: g.id, vote: *vote },
                sync: true,
                done: Done::Signal(tx),
            }))?;
        }
        wait(rx).await
    }

    /// Records the committed log id; durable with the next fsync (openraft does not need more).
    pub(crate) fn save_committed(&self, g: &GroupShared, committed: Option<LogId>) -> io::Result<()> {
        self.check_poisoned()?;
        let bytes = encode(&Record::Committed { group: g.id, committed })?;
        let mut st = g.lock_live()?;
        st.committed = committed;
        self.send(Msg::Write(Request {
            bytes,
            effect: Effect::Committed { group: g.id, committed },
            sync: false,
            done: Done::None,
        }))
    }

    /// Removes entries after `last` (all if `None`). Not waited for: the record precedes, in the
    /// file, every later append, whose own acknowledgement then covers it.
    pub(crate) fn truncate_after(&self, g: &GroupShared, last: Option<LogId>) -> io::Result<()> {
        self.check_poisoned()?;
        let bytes = encode(&Record::TruncateAfter { group: g.id, last })?;
        let mut st = g.lock_live()?;
        st.truncate_after(last.as_ref());
        self.send(Msg::Write(Request {
            bytes,
            effect: Effect::TruncateAfter { group: g.id, last },
            sync: false,
            done: Done::None,
        }))
    }

    /// Removes entries up to `upto` inclusive. Not waited for: losing a purge in a crash only brings
    /// back entries that are still valid; segment files are deleted only once the purge is durable.
    pub(crate) fn purge(&self, g: &GroupShared, upto: LogId) -> io::Result<()> {
        self.check_poisoned()?;
        let bytes = encode(&Record::Purge { group: g.id, upto })?;
        let mut st = g.lock_live()?;
        st.purge(&upto);
        self.send(Msg::Write(Request {
            bytes,
            effect: Effect::Purge { group: g.id, upto },
            sync: false,
            done: Done::None,
        }))
    }

    fn send(&self, msg: Msg) -> io::Result<()> {
        self.tx.send(msg).map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "wal writer thread has stopped"))
    }

    fn check_poisoned(&self) -> io::Result<()> {
        if self.shared.poisoned_flag.load(Ordering::Acquire) { Err(self.shared.poison_error()) } else { Ok(()) }
    }
}

impl Drop for Wal {
    /// Stops the writer thread after it has written and fsynced everything queued.
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Shutdown);
        if let Some(handle) = self.writer.lock().take()
            && handle.join().is_err()
        {
            tracing::error!(dir = %self.dir.display(), "wal writer thread panicked");
        }
    }
}

async fn wait(rx: tokio::sync::oneshot::Receiver<io::Result<()>>) -> io::Result<()> {
    match rx.await {
        Ok(res) => res,
        Err(_) => Err(io::Error::new(io::ErrorKind::BrokenPipe, "wal writer thread has stopped")),
    }
}

// ---------------------------------------------------------------------------------------------
// In-memory per-group state (what readers see).

/// One group's in-memory state plus its durability mode, shared by all [`LogStore`] clones.
pub(crate) struct GroupShared {
    pub(crate) id: GroupId,
    durability: AtomicU8,
    pub(crate) state: Mutex<GroupState>,
}

impl GroupShared {
    fn new(id: GroupId, durability: Durability, state: GroupState) -> Self {
        Self { id, durability: AtomicU8::new(durability.to_u8()), state: Mutex::new(state) }
    }

    pub(crate) fn durability(&self) -> Durability {
        Durability::from_u8(self.durability.load(Ordering::Relaxed))
    }

    pub(crate) fn set_durability(&self, d: Durability) {
        self.durability.store(d.to_u8(), Ordering::Relaxed);
    }

    /// Locks the state, failing if the group was dropped.
    pub(crate) fn lock_live(&self) -> io::Result<parking_lot::MutexGuard<'_, GroupState>> {
        let st = self.state.lock();
        if st.dropped {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("raft group {} was dropped from the wal", self.id),
            ));
        }
        Ok(st)
    }
}

/// The log of one group as replay and the live operations build it.
#[derive(Default)]
pub(crate) struct GroupState {
    pub(crate) log: BTreeMap<u64, Entry>,
    pub(crate) vote: Option<Vote>,
    pub(crate) committed: Option<LogId>,
    pub(crate) purged: Option<LogId>,
    pub(crate) dropped: bool,
}

impl GroupState {
    /// The id of the last entry, or the last purged id when no entry is left.
    pub(crate) fn last_log_id(&self) -> Option<LogId> {
        match self.log.last_key_value() {
            Some((_, e)) => Some(e.log_id),
            None => self.purged,
        }
    }

    /// Rejects appends that would leave a hole, which openraft never asks for.
    fn check_append(&self, group: GroupId, entries: &[Entry]) -> io::Result<()> {
        let mut prev: Option<u64> = self.last_log_id().map(|last| last.index);
        for (i, e) in entries.iter().enumerate() {
            let idx = e.log_id.index;
            let ok = match prev {
                // The first entry may overwrite the tail (a conflict), never skip past it.
                Some(p) if i == 0 => idx <= p.saturating_add(1),
                Some(p) => idx == p.saturating_add(1),
                None => true,
            };
            if !ok {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("append to raft group {group} would leave a hole before index {idx}"),
                ));
            }
            prev = Some(idx);
        }
        Ok(())
    }

    fn append(&mut self, entries: Vec<Entry>) {
        let Some(first) = entries.first().map(|e| e.log_id.index) else {
            return;
        };
        if self.log.last_key_value().is_some_and(|(k, _)| *k >= first) {
            drop(self.log.split_off(&first));
        }
        let floor = self.purged.as_ref().map(|p| p.index);
        for e in entries {
            if floor.is_none_or(|p| e.log_id.index > p) {
                self.log.insert(e.log_id.index, e);
            }
        }
    }

    fn truncate_after(&mut self, last: Option<&LogId>) {
        self.truncate_above(last.map(|l| l.index));
    }

    /// Removes the entries after index `last` (all if `None`).
    fn truncate_above(&mut self, last: Option<u64>) {
        match last {
            None => self.log.clear(),
            Some(l) => {
                if self.log.last_key_value().is_some_and(|(k, _)| *k > l) {
                    drop(self.log.split_off(&(l + 1)));
                }
            }
        }
    }

    fn purge(&mut self, upto: &LogId) {
        if self.purged.as_ref().is_some_and(|p| p >= upto) {
            return;
        }
        self.purged = Some(*upto);
        self.remove_upto(upto.index);
    }

    /// Removes the entries at index `idx` and below.
    fn remove_upto(&mut self, idx: u64) {
        while let Some(e) = self.log.first_entry() {
            if *e.key() <= idx {
                e.remove();
            } else {
                break;
            }
        }
    }

    /// Replays one record; `Append`'s entries are moved in.
    fn apply_record(groups: &mut HashMap<GroupId, GroupState>, rec: Record<'static>) {
        match rec {
            Record::Checkpoint(metas) => {
                // A group the checkpoint does not list had been dropped by then (its DropGroup
                // record may live in a deleted segment).
                let listed: std::collections::HashSet<GroupId> = metas.iter().map(|m| m.group).collect();
                groups.retain(|g, _| listed.contains(g));
                // Set, not merge: the group may have been dropped and re-created since the
                // records replayed so far.
                for m in metas {
                    let st = groups.entry(m.group).or_default();
                    st.vote = m.vote;
                    st.committed = m.committed;
                    if let Some(p) = &m.purged {
                        st.remove_upto(p.index);
                    }
                    st.purged = m.purged;
                    st.truncate_above(m.last);
                }
            }
            Record::Append { group, entries } => groups.entry(group).or_default().append(entries.into_owned()),
            Record::Vote { group, vote } => groups.entry(group).or_default().vote = Some(vote),
            Record::Committed { group, committed } => groups.entry(group).or_default().committed = committed,
            Record::TruncateAfter { group, last } => groups.entry(group).or_default().truncate_after(last.as_ref()),
            Record::Purge { group, upto } => groups.entry(group).or_default().purge(&upto),
            Record::DropGroup { group } => {
                groups.remove(&group);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Records and framing.

/// What a checkpoint records of one group: everything but the entries themselves.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct GroupMeta {
    group: GroupId,
    vote: Option<Vote>,
    committed: Option<LogId>,
    purged: Option<LogId>,
    /// Index of the group's last entry: replay drops older entries above it, which a truncation
    /// recorded in a since-deleted segment had removed.
    last: Option<u64>,
}

/// One record of the log. Encoded from borrowed entries, decoded into owned ones.
///
/// Never reorder or remove variants: postcard stores the variant index.
#[derive(Debug, Serialize, Deserialize)]
enum Record<'a> {
    Checkpoint(Vec<GroupMeta>),
    Append { group: GroupId, entries: Cow<'a, [Entry]> },
    Vote { group: GroupId, vote: Vote },
    Committed { group: GroupId, committed: Option<LogId> },
    TruncateAfter { group: GroupId, last: Option<LogId> },
    Purge { group: GroupId, upto: LogId },
    DropGroup { group: GroupId },
}

impl Record<'_> {
    /// What the record means for segment bookkeeping.
    fn effect(&self) -> Effect {
        match self {
            Record::Checkpoint(m) => Effect::Checkpoint(m.clone()),
            Record::Append { group, entries } => match (entries.first(), entries.last()) {
                (Some(f), Some(l)) => Effect::Append { group: *group, first: f.log_id.index, last: l.log_id.index },
                _ => Effect::None,
            },
            Record::Vote { group, vote } => Effect::Vote { group: *group, vote: *vote },
            Record::Committed { group, committed } => Effect::Committed { group: *group, committed: *committed },
            Record::TruncateAfter { group, last } => Effect::TruncateAfter { group: *group, last: *last },
            Record::Purge { group, upto } => Effect::Purge { group: *group, upto: *upto },
            Record::DropGroup { group } => Effect::Drop { group: *group },
        }
    }
}

fn invalid_data(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Encodes `rec` as one framed record.
fn encode(rec: &Record<'_>) -> io::Result<Vec<u8>> {
    let hint = match rec {
        Record::Append { entries, .. } => entries
            .iter()
            .map(|e| match &e.payload {
                EntryPayload::Normal(p) => p.0.len() + 24,
                _ => 64,
            })
            .sum::<usize>(),
        Record::Checkpoint(m) => m.len() * 48,
        _ => 48,
    };
    let mut buf = Vec::with_capacity(FRAME_HEADER + 16 + hint);
    buf.extend_from_slice(&[0u8; FRAME_HEADER]);
    let mut buf = postcard::to_extend(rec, buf).map_err(|e| invalid_data(format!("encoding wal record: {e}")))?;
    let len = u32::try_from(buf.len() - FRAME_HEADER)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "wal record larger than 4 GiB"))?;
    let crc = crc32fast::hash(&buf[FRAME_HEADER..]);
    buf[0..4].copy_from_slice(&len.to_le_bytes());
    buf[4..8].copy_from_slice(&crc.to_le_bytes());
    Ok(buf)
}

/// The outcome of reading the frame at an offset of a segment.
enum Frame<'a> {
    /// A complete record with a valid checksum, and the offset after it.
    Record(&'a [u8], usize),
    /// Clean end of the segment.
    End,
    /// A short, zero-length or checksum-bad frame.
    Torn(&'static str),
}

fn read_frame(data: &[u8], off: usize) -> Frame<'_> {
    let rest = &data[off..];
    if rest.is_empty() {
        return Frame::End;
    }
    if rest.len() < FRAME_HEADER {
        return Frame::Torn("short frame header");
    }
    let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
    let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
    if len == 0 {
        // Never written (a payload is at least one byte): zero-filled space past the last write.
        return Frame::Torn("zero-length frame");
    }
    if len > rest.len() - FRAME_HEADER {
        return Frame::Torn("frame longer than the file");
    }
    let payload = &rest[FRAME_HEADER..FRAME_HEADER + len];
    if crc32fast::hash(payload) != crc {
        return Frame::Torn("checksum mismatch");
    }
    Frame::Record(payload, off + FRAME_HEADER + len)
}

fn segment_name(seq: u64) -> String {
    format!("wal-{seq:020}.log")
}

fn parse_segment_name(name: &str) -> Option<u64> {
    name.strip_prefix("wal-")?.strip_suffix(".log")?.parse().ok()
}

fn list_segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut seqs = Vec::new();
    for ent in fs::read_dir(dir)? {
        let ent = ent?;
        if let Some(seq) = ent.file_name().to_str().and_then(parse_segment_name) {
            seqs.push(seq);
        }
    }
    seqs.sort_unstable();
    Ok(seqs)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

// ---------------------------------------------------------------------------------------------
// Segment bookkeeping shared by replay and the writer thread.

/// What a record changes in the segment bookkeeping.
#[derive(Debug)]
enum Effect {
    None,
    Checkpoint(Vec<GroupMeta>),
    Append { group: GroupId, first: u64, last: u64 },
    Vote { group: GroupId, vote: Vote },
    Committed { group: GroupId, committed: Option<LogId> },
    TruncateAfter { group: GroupId, last: Option<LogId> },
    Purge { group: GroupId, upto: LogId },
    Drop { group: GroupId },
}

#[derive(Debug, Default, Clone)]
struct MetaState {
    vote: Option<Vote>,
    committed: Option<LogId>,
    purged: Option<LogId>,
    /// Index of the last entry present, if any (entries are exactly `(purged, last]`).
    last: Option<u64>,
}

/// The writer's view of the log *as written*: per group what a checkpoint records, and per segment
/// the index range of each group's entries in it that may still be live.
#[derive(Debug, Default)]
struct Tracker {
    meta: HashMap<GroupId, MetaState>,
    segments: BTreeMap<u64, HashMap<GroupId, (u64, u64)>>,
}

impl Tracker {
    fn apply(&mut self, seq: u64, effect: Effect) {
        match effect {
            Effect::None => {}
            Effect::Checkpoint(metas) => {
                let listed: std::collections::HashSet<GroupId> = metas.iter().map(|m| m.group).collect();
                let unlisted: Vec<GroupId> = self.meta.keys().filter(|g| !listed.contains(g)).copied().collect();
                for group in unlisted {
                    self.drop_group(group);
                }
                // Set, not merge: the group may have been dropped and re-created since the
                // records replayed so far.
                for m in metas {
                    let st = self.meta.entry(m.group).or_default();
                    st.vote = m.vote;
                    st.committed = m.committed;
                    st.purged = m.purged;
                    st.last = m.last;
                    if let Some(p) = &m.purged {
                        self.cut_upto(m.group, p.index);
                    }
                    self.cut_from(m.group, m.last.map_or(0, |l| l.saturating_add(1)));
                }
            }
            Effect::Append { group, first, last } => {
                let st = self.meta.entry(group).or_default();
                let lo = match &st.purged {
                    Some(p) => first.max(p.index.saturating_add(1)),
                    None => first,
                };
                let overwrites = st.last.is_some_and(|l| l >= first);
                st.last = if lo <= last { Some(last) } else { st.last.filter(|l| *l < first) };
                if overwrites {
                    self.cut_from(group, first);
                }
                if lo <= last {
                    let range = self.segments.entry(seq).or_default().entry(group).or_insert((lo, last));
                    range.0 = range.0.min(lo);
                    range.1 = range.1.max(last);
                }
            }
            Effect::Vote { group, vote } => self.meta.entry(group).or_default().vote = Some(vote),
            Effect::Committed { group, committed } => self.meta.entry(group).or_default().committed = committed,
            Effect::TruncateAfter { group, last } => {
                self.meta.entry(group).or_default();
                self.truncate_above(group, last.map(|l| l.index));
            }
            Effect::Purge { group, upto } => self.purge(group, upto),
            Effect::Drop { group } => self.drop_group(group),
        }
    }

    fn drop_group(&mut self, group: GroupId) {
        self.meta.remove(&group);
        for live in self.segments.values_mut() {
            live.remove(&group);
        }
    }

    /// Entries after `last` (all if `None`) are gone.
    fn truncate_above(&mut self, group: GroupId, last: Option<u64>) {
        let st = self.meta.entry(group).or_default();
        let floor = st.purged.as_ref().map(|p| p.index);
        st.last = match (st.last, last) {
            (Some(x), Some(l)) => Some(x.min(l)).filter(|v| floor.is_none_or(|f| *v > f)),
            _ => None,
        };
        self.cut_from(group, last.map_or(0, |l| l.saturating_add(1)));
    }

    fn purge(&mut self, group: GroupId, upto: LogId) {
        let st = self.meta.entry(group).or_default();
        if st.purged.as_ref().is_some_and(|p| *p >= upto) {
            return;
        }
        let idx = upto.index;
        st.purged = Some(upto);
        if st.last.is_some_and(|l| l <= idx) {
            st.last = None;
        }
        self.cut_upto(group, idx);
    }

    /// Entries of `group` at `upto` and below are dead in every segment written so far.
    fn cut_upto(&mut self, group: GroupId, idx: u64) {
        for live in self.segments.values_mut() {
            if let Some(range) = live.get_mut(&group) {
                if range.1 <= idx {
                    live.remove(&group);
                } else if range.0 <= idx {
                    range.0 = idx + 1;
                }
            }
        }
    }

    /// Entries of `group` at `from` and above are dead in every segment written so far.
    fn cut_from(&mut self, group: GroupId, from: u64) {
        for live in self.segments.values_mut() {
            if let Some(range) = live.get_mut(&group) {
                if range.0 >= from {
                    live.remove(&group);
                } else if range.1 >= from {
                    range.1 = from - 1;
                }
            }
        }
    }

    fn checkpoint(&self) -> Vec<GroupMeta> {
        let mut out: Vec<GroupMeta> = self
            .meta
            .iter()
            .map(|(g, m)| GroupMeta { group: *g, vote: m.vote, committed: m.committed, purged: m.purged, last: m.last })
            .collect();
        out.sort_unstable_by_key(|m| m.group);
        out
    }

    /// Segments, other than the current one, that hold no live entry.
    fn dead_segments(&self) -> Vec<u64> {
        let current = self.segments.keys().next_back().copied();
        self.segments
            .iter()
            .filter(|(seq, live)| Some(**seq) != current && live.is_empty())
            .map(|(seq, _)| *seq)
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Recovery.

struct Recovered {
    groups: HashMap<GroupId, GroupState>,
    tracker: Tracker,
    last_seq: Option<u64>,
}

fn recover(dir: &Path) -> io::Result<Recovered> {
    let seqs = list_segments(dir)?;
    let mut groups: HashMap<GroupId, GroupState> = HashMap::new();
    let mut tracker = Tracker::default();
    let mut removed_last = false;

    for (i, &seq) in seqs.iter().enumerate() {
        let is_last = i + 1 == seqs.len();
        let path = dir.join(segment_name(seq));
        let data = fs::read(&path)?;

        if data.len() < MAGIC.len() || &data[..MAGIC.len()] != MAGIC {
            if is_last && data.len() < MAGIC.len() && MAGIC.starts_with(&data) {
                // Crashed while creating the segment: nothing was ever acknowledged from it.
                tracing::warn!(path = %path.display(), "removing incomplete wal segment");
                fs::remove_file(&path)?;
                removed_last = true;
                continue;
            }
            return Err(invalid_data(format!("{}: not a tern wal segment", path.display())));
        }
        tracker.segments.insert(seq, HashMap::new());

        let mut off = MAGIC.len();
        let mut records = 0usize;
        loop {
            match read_frame(&data, off) {
                Frame::End => break,
                Frame::Record(payload, next) => {
                    // `Cow<[Entry]>` never borrows when decoded, so the record is owned.
                    let rec: Record<'static> = postcard::from_bytes(payload).map_err(|e| {
                        invalid_data(format!(
                            "{}: undecodable wal record at offset {off} (checksum ok): {e}",
                            path.display()
                        ))
                    })?;
                    tracker.apply(seq, rec.effect());
                    GroupState::apply_record(&mut groups, rec);
                    records += 1;
                    off = next;
                }
                Frame::Torn(why) => {
                    if !is_last {
                        return Err(invalid_data(format!(
                            "{}: corrupt wal record at offset {off} ({why}) in a segment that is not the last",
                            path.display()
                        )));
                    }
                    tracing::warn!(
                        path = %path.display(),
                        offset = off,
                        dropped_bytes = data.len() - off,
                        reason = why,
                        "cutting torn tail off the wal"
                    );
                    let f = OpenOptions::new().write(true).open(&path)?;
                    f.set_len(off as u64)?;
                    f.sync_all()?;
                    break;
                }
            }
        }
        if is_last && records == 0 {
            // Not even its checkpoint survived, so nothing in it was ever acknowledged.
            fs::remove_file(&path)?;
            tracker.segments.remove(&seq);
            removed_last = true;
        } else if is_last {
            // After a process crash its tail may still be only in the page cache. The new
            // segment's checkpoint will describe this state, so it must be on disk first.
            File::open(&path)?.sync_all()?;
        }
    }
    if removed_last {
        sync_dir(dir)?;
    }
    debug_assert!(tracker_matches(&groups, &tracker), "wal segment bookkeeping diverged from the replayed log");
    Ok(Recovered { groups, tracker, last_seq: seqs.last().copied() })
}

/// Whether the writer's bookkeeping agrees with the replayed state (checked in debug builds).
fn tracker_matches(groups: &HashMap<GroupId, GroupState>, tracker: &Tracker) -> bool {
    groups.len() == tracker.meta.len()
        && groups.iter().all(|(g, st)| {
            tracker.meta.get(g).is_some_and(|m| {
                m.last == st.log.last_key_value().map(|(k, _)| *k)
                    && m.purged == st.purged
                    && m.vote == st.vote
                    && m.committed == st.committed
            })
        })
}

// ---------------------------------------------------------------------------------------------
// The writer thread.

/// How a request is acknowledged.
pub(crate) enum Done {
    None,
    Flushed(IOFlushed<TypeConfig>),
    Signal(tokio::sync::oneshot::Sender<io::Result<()>>),
}

impl Done {
    fn complete(self, res: io::Result<()>) {
        match self {
            Done::None => {
                if let Err(e) = res {
                    tracing::error!(error = %e, "wal write failed");
                }
            }
            Done::Flushed(cb) => cb.io_completed(res),
            Done::Signal(tx) => {
                let _ = tx.send(res);
            }
        }
    }
}

struct Request {
    /// One framed record; empty for a pure acknowledgement barrier.
    bytes: Vec<u8>,
    effect: Effect,
    /// Whether `done` waits for an fsync.
    sync: bool,
    done: Done,
}

enum Msg {
    Write(Request),
    Sync(Done),
    Shutdown,
}

#[derive(Default)]
struct Shared {
    bytes_written: AtomicU64,
    fsyncs: AtomicU64,
    segments: AtomicU64,
    records: AtomicU64,
    batches: AtomicU64,
    poisoned_flag: AtomicBool,
    poisoned: Mutex<Option<(io::ErrorKind, String)>>,
}

impl Shared {
    fn poison_error(&self) -> io::Error {
        match &*self.poisoned.lock() {
            Some((kind, msg)) => io::Error::new(*kind, format!("wal is poisoned by an earlier IO error: {msg}")),
            None => io::Error::other("wal is poisoned by an earlier IO error"),
        }
    }
}

struct Writer {
    dir: PathBuf,
    opts: WalOptions,
    shared: Arc<Shared>,
    file: Option<File>,
    seq: u64,
    seg_len: u64,
    /// Records in the current segment besides its checkpoint.
    seg_records: u64,
    tracker: Tracker,
    buf: Vec<u8>,
    /// Written (or buffered) data not yet fsynced.
    dirty: bool,
    unsynced_since: Option<Instant>,
    poisoned: Option<(io::ErrorKind, String)>,
}

impl Writer {
    fn run(mut self, rx: Receiver<Msg>) {
        let mut batch: Vec<Msg> = Vec::new();
        loop {
            let first = match self.unsynced_since {
                Some(since) if self.poisoned.is_none() => {
                    let due = since + self.opts.async_sync_interval;
                    match rx.recv_timeout(due.saturating_duration_since(Instant::now())) {
                        Ok(m) => Some(m),
                        Err(RecvTimeoutError::Timeout) => None,
                        Err(RecvTimeoutError::Disconnected) => Some(Msg::Shutdown),
                    }
                }
                _ => Some(rx.recv().unwrap_or(Msg::Shutdown)),
            };
            let Some(first) = first else {
                // The async sync interval elapsed with nothing queued.
                if let Err(e) = self.sync() {
                    self.poison(&e);
                }
                continue;
            };
            let mut bytes = msg_len(&first);
            batch.push(first);
            while batch.len() < MAX_BATCH_MESSAGES && bytes < MAX_BATCH_BYTES {
                match rx.try_recv() {
                    Ok(m) => {
                        bytes += msg_len(&m);
                        batch.push(m);
                    }
                    Err(_) => break,
                }
            }
            let shutdown = self.process(&mut batch);
            if shutdown {
                return;
            }
        }
    }

    /// Writes a batch, fsyncs if needed, completes its requests. Returns true on shutdown.
    fn process(&mut self, batch: &mut Vec<Msg>) -> bool {
        self.shared.batches.fetch_add(1, Ordering::Relaxed);
        let mut need_sync = false;
        let mut shutdown = false;
        for msg in batch.iter_mut() {
            match msg {
                Msg::Write(req) => {
                    need_sync |= req.sync;
                    if self.poisoned.is_some() || req.bytes.is_empty() {
                        continue;
                    }
                    if let Err(e) = self.push(req) {
                        self.poison(&e);
                    }
                }
                Msg::Sync(_) => need_sync = true,
                Msg::Shutdown => {
                    need_sync = true;
                    shutdown = true;
                }
            }
        }
        if self.poisoned.is_none() {
            let due = self.unsynced_since.is_some_and(|t| t.elapsed() >= self.opts.async_sync_interval);
            let res = self.flush_buf().and_then(|()| if need_sync || due { self.sync() } else { Ok(()) });
            if let Err(e) = res {
                self.poison(&e);
            }
        }
        for msg in batch.drain(..) {
            let res = match &self.poisoned {
                None => Ok(()),
                Some(_) => Err(self.shared.poison_error()),
            };
            match msg {
                Msg::Write(req) => req.done.complete(res),
                Msg::Sync(done) => done.complete(res),
                Msg::Shutdown => {}
            }
        }
        shutdown
    }

    /// Buffers one record, rotating first if the current segment is full.
    fn push(&mut self, req: &mut Request) -> io::Result<()> {
        if self.seg_records > 0 && self.seg_len + self.buf.len() as u64 >= self.opts.segment_size {
            self.rotate()?;
        }
        self.buf.extend_from_slice(&req.bytes);
        self.seg_records += 1;
        self.mark_dirty();
        self.shared.records.fetch_add(1, Ordering::Relaxed);
        let effect = std::mem::replace(&mut req.effect, Effect::None);
        self.tracker.apply(self.seq, effect);
        Ok(())
    }

    fn mark_dirty(&mut self) {
        if !self.dirty {
            self.dirty = true;
            self.unsynced_since = Some(Instant::now());
        }
    }

    fn file(&mut self) -> io::Result<&mut File> {
        self.file.as_mut().ok_or_else(|| io::Error::other("wal has no open segment"))
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let mut buf = std::mem::take(&mut self.buf);
        let res = self.file().and_then(|f| f.write_all(&buf));
        if res.is_ok() {
            self.seg_len += buf.len() as u64;
            self.shared.bytes_written.fetch_add(buf.len() as u64, Ordering::Relaxed);
        }
        buf.clear();
        self.buf = buf;
        res
    }

    fn sync(&mut self) -> io::Result<()> {
        self.flush_buf()?;
        if !self.dirty {
            return Ok(());
        }
        self.file()?.sync_data()?;
        self.shared.fsyncs.fetch_add(1, Ordering::Relaxed);
        self.dirty = false;
        self.unsynced_since = None;
        // Everything written is durable now, purges included: dead segments can go.
        self.delete_dead_segments();
        Ok(())
    }

    /// Seals the current segment (fsynced) and starts the next one.
    fn rotate(&mut self) -> io::Result<()> {
        self.sync()?;
        self.start_segment(self.seq + 1)?;
        self.delete_dead_segments();
        Ok(())
    }

    /// Creates segment `seq` holding the header and a checkpoint of the tracker, fsynced.
    fn start_segment(&mut self, seq: u64) -> io::Result<()> {
        let path = self.dir.join(segment_name(seq));
        let mut file = OpenOptions::new().write(true).create_new(true).open(&path)?;
        let mut head = Vec::with_capacity(256);
        head.extend_from_slice(MAGIC);
        head.extend_from_slice(&encode(&Record::Checkpoint(self.tracker.checkpoint()))?);
        file.write_all(&head)?;
        file.sync_data()?;
        sync_dir(&self.dir)?;
        self.shared.fsyncs.fetch_add(1, Ordering::Relaxed);
        self.shared.bytes_written.fetch_add(head.len() as u64, Ordering::Relaxed);
        self.file = Some(file);
        self.seq = seq;
        self.seg_len = head.len() as u64;
        self.seg_records = 0;
        self.tracker.segments.insert(seq, HashMap::new());
        self.shared.segments.store(self.tracker.segments.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Deletes the oldest segments that hold no live entry. Only called when everything written is
    /// durable. A failure is logged and retried later: it costs disk space, not correctness.
    fn delete_dead_segments(&mut self) {
        let dead = self.tracker.dead_segments();
        if dead.is_empty() {
            return;
        }
        let mut deleted = false;
        for seq in dead {
            let path = self.dir.join(segment_name(seq));
            match fs::remove_file(&path) {
                Ok(()) => {
                    self.tracker.segments.remove(&seq);
                    deleted = true;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    self.tracker.segments.remove(&seq);
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "could not delete wal segment");
                    break;
                }
            }
        }
        if deleted && let Err(e) = sync_dir(&self.dir) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "could not fsync wal directory");
        }
        self.shared.segments.store(self.tracker.segments.len() as u64, Ordering::Relaxed);
    }

    fn poison(&mut self, e: &io::Error) {
        if self.poisoned.is_none() {
            tracing::error!(dir = %self.dir.display(), error = %e, "wal IO failed; the log is poisoned");
            let p = (e.kind(), e.to_string());
            *self.shared.poisoned.lock() = Some(p.clone());
            self.shared.poisoned_flag.store(true, Ordering::Release);
            self.poisoned = Some(p);
        }
        self.buf.clear();
    }
}

fn msg_len(m: &Msg) -> usize {
    match m {
        Msg::Write(r) => r.bytes.len(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::vote::leader_id_std::CommittedLeaderId;

    fn log_id(term: u64, index: u64) -> LogId {
        LogId { leader_id: CommittedLeaderId::new(term), index }
    }

    #[test]
    fn record_roundtrip() {
        let entries = vec![
            Entry { log_id: log_id(1, 1), payload: EntryPayload::Blank },
            Entry { log_id: log_id(1, 2), payload: EntryPayload::Normal(crate::Proposal(vec![1, 2, 3])) },
        ];
        let bytes = encode(&Record::Append { group: 7, entries: Cow::Borrowed(&entries) }).expect("encode");
        let Frame::Record(payload, end) = read_frame(&bytes, 0) else {
            panic!("frame not readable");
        };
        assert_eq!(end, bytes.len());
        let rec: Record<'_> = postcard::from_bytes(payload).expect("decode");
        match rec {
            Record::Append { group, entries: got } => {
                assert_eq!(group, 7);
                assert_eq!(&*got, &entries[..]);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn torn_frames_are_detected() {
        let bytes = encode(&Record::DropGroup { group: 3 }).expect("encode");
        assert!(matches!(read_frame(&bytes[..bytes.len() - 1], 0), Frame::Torn(_)));
        assert!(matches!(read_frame(&bytes[..4], 0), Frame::Torn(_)));
        assert!(matches!(read_frame(&[0u8; 16], 0), Frame::Torn(_)));
        let mut bad = bytes.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        assert!(matches!(read_frame(&bad, 0), Frame::Torn(_)));
    }

    #[test]
    fn segment_names_sort_and_parse() {
        assert_eq!(parse_segment_name(&segment_name(42)), Some(42));
        assert!(segment_name(9) < segment_name(10));
        assert_eq!(parse_segment_name("wal-x.log"), None);
    }
}
