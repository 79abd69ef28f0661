//! Property test: random sequences of appends, truncations, purges, votes, commits, group drops,
//! durability switches, clean reopens and crash reopens across three groups sharing one log with
//! tiny segments (so rotation and segment deletion happen all the time), checked against a plain
//! in-memory model after every step.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use common::*;
use openraft::storage::{RaftLogReader, RaftLogStorage};
use proptest::prelude::*;
use tern_raft::log_store::LogStore;
use tern_raft::types::{Entry, GroupId, LogId, Vote};
use tern_raft::wal::{Durability, Wal, WalOptions};

#[derive(Debug, Clone)]
enum Op {
    Append { g: GroupId, n: u64, new_term: bool },
    Truncate { g: GroupId, back: u64 },
    Purge { g: GroupId, fwd: u64 },
    Vote { g: GroupId },
    Commit { g: GroupId },
    Drop { g: GroupId },
    Durability { g: GroupId, asynchronous: bool },
    Reopen,
    CrashReopen,
}

fn op() -> impl Strategy<Value = Op> {
    let g = 1u64..=3;
    prop_oneof![
        6 => (g.clone(), 1u64..=4, proptest::bool::weighted(0.2))
            .prop_map(|(g, n, new_term)| Op::Append { g, n, new_term }),
        2 => (g.clone(), 0u64..=5).prop_map(|(g, back)| Op::Truncate { g, back }),
        2 => (g.clone(), 0u64..=6).prop_map(|(g, fwd)| Op::Purge { g, fwd }),
        1 => g.clone().prop_map(|g| Op::Vote { g }),
        1 => g.clone().prop_map(|g| Op::Commit { g }),
        1 => g.clone().prop_map(|g| Op::Drop { g }),
        1 => (g, any::<bool>()).prop_map(|(g, asynchronous)| Op::Durability { g, asynchronous }),
        1 => Just(Op::Reopen),
        1 => Just(Op::CrashReopen),
    ]
}

/// What one group's log should contain.
#[derive(Debug, Default)]
struct Model {
    log: BTreeMap<u64, Entry>,
    purged: Option<LogId>,
    vote: Option<Vote>,
    committed: Option<LogId>,
    term: u64,
}

impl Model {
    fn last_log_id(&self) -> Option<LogId> {
        self.log.values().next_back().map(|e| e.log_id).or(self.purged)
    }
}

struct Harness {
    /// Keeps every directory alive until the case ends.
    dirs: Vec<tempfile::TempDir>,
    path: PathBuf,
    opts: WalOptions,
    wal: Option<Arc<Wal>>,
    stores: HashMap<GroupId, LogStore>,
    modes: HashMap<GroupId, Durability>,
    models: BTreeMap<GroupId, Model>,
    vote_term: u64,
}

impl Harness {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().to_path_buf();
        let opts = WalOptions { segment_size: 700, ..WalOptions::default() };
        let wal = Wal::open(&path, opts.clone()).expect("open");
        Self {
            dirs: vec![dir],
            path,
            opts,
            wal: Some(wal),
            stores: HashMap::new(),
            modes: HashMap::new(),
            models: BTreeMap::new(),
            vote_term: 0,
        }
    }

    fn wal(&self) -> &Arc<Wal> {
        self.wal.as_ref().expect("wal open")
    }

    fn store(&mut self, g: GroupId) -> LogStore {
        let mode = self.modes.get(&g).copied().unwrap_or_default();
        let wal = Arc::clone(self.wal());
        self.stores.entry(g).or_insert_with(|| wal.log_store(g, mode)).clone()
    }

    /// Closes the log (its writer thread drains, fsyncs and exits) and opens `path`.
    fn reopen_at(&mut self, path: PathBuf) {
        self.stores.clear();
        let wal = self.wal.take().expect("wal open");
        assert_eq!(Arc::strong_count(&wal), 1, "no handle may outlive the log");
        drop(wal);
        self.path = path;
        let wal = Wal::open(&self.path, self.opts.clone()).expect("reopen");
        let expected: Vec<GroupId> = self.models.keys().copied().collect();
        assert_eq!(wal.groups(), expected, "groups after reopen");
        self.wal = Some(wal);
    }

    async fn step(&mut self, op: Op) {
        match op {
            Op::Append { g, n, new_term } => {
                let mut s = self.store(g);
                let m = self.models.entry(g).or_default();
                m.term = if new_term { m.term + 1 } else { m.term.max(1) };
                let start = m.last_log_id().map_or(1, |l| l.index + 1);
                let entries: Vec<Entry> = (start..start + n).map(|i| ent_len(m.term, i, (i % 50) as usize)).collect();
                for e in &entries {
                    m.log.insert(e.log_id.index, e.clone());
                }
                append(&mut s, entries).await;
            }
            Op::Truncate { g, back } => {
                let Some(m) = self.models.get_mut(&g) else {
                    return;
                };
                let Some(last) = m.last_log_id() else { return };
                let target = last.index.saturating_sub(back);
                let arg = match &m.purged {
                    Some(p) if target <= p.index => Some(*p),
                    _ => m.log.get(&target).map(|e| e.log_id),
                };
                match &arg {
                    Some(l) => drop(m.log.split_off(&(l.index + 1))),
                    None => m.log.clear(),
                }
                let mut s = self.store(g);
                s.truncate_after(arg).await.expect("truncate");
            }
            Op::Purge { g, fwd } => {
                let Some(m) = self.models.get_mut(&g) else {
                    return;
                };
                let (Some(first), Some(last)) = (m.log.keys().next().copied(), m.log.keys().next_back().copied())
                else {
                    return;
                };
                let target = (first + fwd).min(last);
                let upto = m.log[&target].log_id;
                m.log = m.log.split_off(&(target + 1));
                m.purged = Some(upto);
                let mut s = self.store(g);
                s.purge(upto).await.expect("purge");
            }
            Op::Vote { g } => {
                self.vote_term += 1;
                let v = vote(self.vote_term, g);
                self.models.entry(g).or_default().vote = Some(v);
                let mut s = self.store(g);
                s.save_vote(&v).await.expect("vote");
            }
            Op::Commit { g } => {
                let m = self.models.entry(g).or_default();
                let c = m.log.values().next_back().map(|e| e.log_id);
                m.committed = c;
                let mut s = self.store(g);
                s.save_committed(c).await.expect("commit");
            }
            Op::Drop { g } => {
                self.models.remove(&g);
                self.stores.remove(&g);
                self.wal().drop_group(g).await.expect("drop group");
            }
            Op::Durability { g, asynchronous } => {
                let mode = if asynchronous { Durability::Async } else { Durability::Request };
                self.modes.insert(g, mode);
                self.store(g).set_durability(mode);
            }
            Op::Reopen => {
                let path = self.path.clone();
                self.reopen_at(path);
                self.verify_all().await;
            }
            Op::CrashReopen => {
                // Barrier: everything queued (truncates, purges, commits are not waited for) is
                // written; then the files are taken as they are, as after a process crash.
                self.wal().sync().await.expect("sync");
                let crash = tempfile::tempdir().expect("tempdir");
                crash_copy(&self.path, crash.path());
                let path = crash.path().to_path_buf();
                self.dirs.push(crash);
                self.reopen_at(path);
                self.verify_all().await;
            }
        }
    }

    async fn verify(&mut self, g: GroupId) {
        let mut s = self.store(g);
        let empty = Model::default();
        let m = self.models.get(&g).unwrap_or(&empty);
        let got = s.try_get_log_entries(..).await.expect("read");
        let want: Vec<Entry> = m.log.values().cloned().collect();
        assert_eq!(got, want, "entries of group {g}");
        let st = s.get_log_state().await.expect("state");
        assert_eq!(st.last_purged_log_id, m.purged, "purged of group {g}");
        assert_eq!(st.last_log_id, m.last_log_id(), "last log id of group {g}");
        assert_eq!(s.read_vote().await.expect("vote"), m.vote, "vote of group {g}");
        assert_eq!(s.read_committed().await.expect("committed"), m.committed, "committed of group {g}");
    }

    async fn verify_all(&mut self) {
        for g in 1..=3 {
            self.verify(g).await;
        }
    }

    fn touched(op: &Op) -> Option<GroupId> {
        match op {
            Op::Append { g, .. }
            | Op::Truncate { g, .. }
            | Op::Purge { g, .. }
            | Op::Vote { g }
            | Op::Commit { g }
            | Op::Drop { g }
            | Op::Durability { g, .. } => Some(*g),
            Op::Reopen | Op::CrashReopen => None,
        }
    }
}

fn run(ops: Vec<Op>) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let mut h = Harness::new();
        for op in ops {
            let touched = Harness::touched(&op);
            h.step(op).await;
            if let Some(g) = touched
                && h.models.contains_key(&g)
            {
                h.verify(g).await;
            }
        }
        h.wal().sync().await.expect("sync");
        let stats = h.wal().stats();
        assert_eq!(stats.segments as usize, segment_files(&h.path).len(), "segment count");
        let path = h.path.clone();
        h.reopen_at(path);
        h.verify_all().await;
    });
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn wal_matches_model(ops in proptest::collection::vec(op(), 1..80)) {
        run(ops);
    }
}

#[test]
fn regression_drop_then_reuse_group() {
    run(vec![
        Op::Append { g: 3, n: 1, new_term: false },
        Op::Purge { g: 3, fwd: 0 },
        Op::Append { g: 1, n: 1, new_term: false },
        Op::Reopen,
        Op::Drop { g: 3 },
        Op::Append { g: 3, n: 1, new_term: false },
        Op::Vote { g: 1 },
        Op::Truncate { g: 3, back: 1 },
        Op::Reopen,
    ]);
}
