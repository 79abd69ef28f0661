//! openraft's log storage for one raft group, backed by the node-wide [`Wal`].
//!
//! A [`LogStore`] is only a handle: an `Arc` of the shared log plus the group's in-memory state. It
//! is cheap to clone, so it also serves as its own [`RaftLogReader`] for openraft's replication
//! tasks. All reads are served from memory (the log keeps every unpurged entry of every group in
//! memory, so a follower that is behind never waits on the disk); all writes go through the shared
//! writer thread, which is what lets many groups share one fsync.
//!
//! Contract with openraft, and how it is met:
//! - entries are readable as soon as [`RaftLogStorage::append`] returns: memory is updated before
//!   the record is queued;
//! - the [`IOFlushed`] callback fires once the entries are durable: after the fsync in
//!   [`Durability::Request`] mode, after the write in [`Durability::Async`] mode;
//! - a vote is fsynced before [`RaftLogStorage::save_vote`] returns, in both modes;
//! - writes are serialized: memory is changed and the record queued under the group's lock, and the
//!   one writer thread writes records in queue order.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use openraft::OptionalSend;
use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};

use crate::types::{Entry, GroupId, LogId, TypeConfig, Vote};
use crate::wal::{Done, Durability, GroupShared, Wal};

/// The openraft log store of one raft group. Obtained from [`Wal::log_store`].
#[derive(Clone)]
pub struct LogStore {
    wal: Arc<Wal>,
    group: Arc<GroupShared>,
}

impl Debug for LogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStore")
            .field("group", &self.group.id)
            .field("durability", &self.group.durability())
            .finish_non_exhaustive()
    }
}

impl LogStore {
    pub(crate) fn new(wal: Arc<Wal>, group: Arc<GroupShared>) -> Self {
        Self { wal, group }
    }

    /// The raft group this store belongs to.
    pub fn group_id(&self) -> GroupId {
        self.group.id
    }

    /// The group's current durability mode.
    pub fn durability(&self) -> Durability {
        self.group.durability()
    }

    /// Changes the group's durability mode; affects every clone of this store (including the one
    /// openraft owns) from the next append on.
    pub fn set_durability(&self, durability: Durability) {
        self.group.set_durability(durability);
    }

    /// The shared log this store writes to.
    pub fn wal(&self) -> &Arc<Wal> {
        &self.wal
    }
}

/// Turns any range of indexes into `[start, end)`, `None` meaning unbounded; `None` overall if the
/// range is empty (`BTreeMap::range` panics on inverted ranges, openraft may pass them).
fn normalize<RB: RangeBounds<u64>>(range: &RB) -> Option<(u64, Option<u64>)> {
    let start = match range.start_bound() {
        Bound::Included(s) => *s,
        Bound::Excluded(s) => s.checked_add(1)?,
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(e) => e.checked_add(1),
        Bound::Excluded(e) => Some(*e),
        Bound::Unbounded => None,
    };
    match end {
        Some(e) if e <= start => None,
        _ => Some((start, end)),
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let Some((start, end)) = normalize(&range) else {
            return Ok(Vec::new());
        };
        let st = self.group.lock_live()?;
        let entries = match end {
            Some(end) => st.log.range(start..end).map(|(_, e)| e.clone()).collect(),
            None => st.log.range(start..).map(|(_, e)| e.clone()).collect(),
        };
        Ok(entries)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        Ok(self.group.lock_live()?.vote)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let st = self.group.lock_live()?;
        Ok(LogState { last_purged_log_id: st.purged, last_log_id: st.last_log_id() })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        self.wal.save_vote(&self.group, vote).await
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        self.wal.save_committed(&self.group, committed)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        Ok(self.group.lock_live()?.committed)
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<TypeConfig>) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        self.wal.append(&self.group, entries, Done::Flushed(callback))
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        self.wal.truncate_after(&self.group, last_log_id)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        self.wal.purge(&self.group, log_id)
    }
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn normalize_ranges() {
        assert_eq!(normalize(&(3..7)), Some((3, Some(7))));
        assert_eq!(normalize(&(3..=7)), Some((3, Some(8))));
        assert_eq!(normalize(&(5..5)), None);
        #[allow(clippy::reversed_empty_ranges)]
        let inverted = 7..3;
        assert_eq!(normalize(&inverted), None);
        assert_eq!(normalize(&(..)), Some((0, None)));
        assert_eq!(normalize(&(u64::MAX..=u64::MAX)), Some((u64::MAX, None)));
    }
}
