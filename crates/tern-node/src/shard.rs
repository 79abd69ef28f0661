//! A shard as the node runs it: the engine, its raft group, and the refresh bookkeeping.
//!
//! [`ShardStateMachine`] is the adapter openraft drives (through tern-raft's [`ApplyHandler`]): it
//! decodes each committed command and applies it to the engine. The raft term of the entry becomes
//! the documents' `_primary_term`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tern_common::EsError;
use tern_raft::{ApplyHandler, RaftGroup};
use tern_shard::ops::{OpFailure, ShardCommand, ShardReply};
use tern_shard::{ShardEngine, ShardIdent};
use tokio::sync::watch;

pub struct ShardStateMachine {
    pub engine: Arc<ShardEngine>,
}

impl ApplyHandler for ShardStateMachine {
    fn apply(&self, term: u64, marker: String, payload: &[u8]) -> Vec<u8> {
        let reply = match ShardCommand::decode(payload) {
            Ok(cmd) => self.engine.apply_owned(cmd, term as i64, marker),
            Err(e) => {
                self.engine.set_marker(marker);
                ShardReply::Rejected(OpFailure::from_es(&EsError::internal(format!("undecodable shard command: {e}"))))
            }
        };
        reply.encode()
    }

    fn advance(&self, marker: String) {
        self.engine.set_marker(marker);
    }

    fn durable_marker(&self) -> Option<String> {
        self.engine.committed_marker()
    }

    fn persist(&self) -> Result<Option<String>, String> {
        self.engine.flush().map_err(|e| e.reason)?;
        Ok(self.engine.committed_marker())
    }
}

pub struct ShardHandle {
    pub ident: ShardIdent,
    pub engine: Arc<ShardEngine>,
    pub group: RaftGroup<ShardStateMachine>,
    /// The highest seq_no visible to search, published after each refresh (for `refresh=wait_for`).
    pub refreshed: watch::Sender<i64>,
    pub last_refresh: Mutex<Instant>,
    /// Set by a search; a shard nobody searched does not need scheduled refreshes as urgently.
    pub last_search: Mutex<Option<Instant>>,
    /// When the shard was last flushed and the highest seq_no that flush covered: the raft log
    /// (kept in memory until purged) is bounded by flushing shards with newer writes periodically.
    pub last_flush: Mutex<(Instant, i64)>,
}

impl ShardHandle {
    pub fn new(ident: ShardIdent, engine: Arc<ShardEngine>, group: RaftGroup<ShardStateMachine>) -> Self {
        let (refreshed, _) = watch::channel(engine.refreshed_seq_no());
        let engine_seq = engine.max_seq_no();
        ShardHandle {
            ident,
            engine,
            group,
            refreshed,
            last_refresh: Mutex::new(Instant::now()),
            last_search: Mutex::new(None),
            last_flush: Mutex::new((Instant::now(), engine_seq)),
        }
    }

    /// Proposes a command through raft and decodes the shard's reply.
    pub async fn propose(&self, cmd: &ShardCommand) -> Result<ShardReply, EsError> {
        let (_term, bytes) = self.group.propose(cmd.encode()).await.map_err(EsError::from)?;
        ShardReply::decode(&bytes).map_err(|e| EsError::internal(format!("undecodable shard reply: {e}")))
    }

    /// Refreshes on the blocking pool and publishes the visible seq_no.
    pub async fn refresh(self: &Arc<Self>) -> Result<(), EsError> {
        let me = self.clone();
        let seq = tokio::task::spawn_blocking(move || me.engine.refresh())
            .await
            .map_err(|e| EsError::internal(e.to_string()))??;
        *self.last_refresh.lock() = Instant::now();
        self.refreshed.send_replace(seq);
        Ok(())
    }

    /// Waits until a refresh has made `seq_no` searchable (`refresh=wait_for`).
    pub async fn wait_for_refresh(&self, seq_no: i64, timeout: Duration) -> bool {
        let mut rx = self.refreshed.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|v| *v >= seq_no)).await.is_ok()
    }

    pub async fn flush(self: &Arc<Self>) -> Result<(), EsError> {
        let seq = self.engine.max_seq_no();
        // A raft snapshot is a durable engine commit that also lets raft purge its log behind it.
        self.group.snapshot().await.map_err(EsError::from)?;
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.engine.flush())
            .await
            .map_err(|e| EsError::internal(e.to_string()))??;
        *self.last_flush.lock() = (Instant::now(), seq);
        Ok(())
    }

    /// Whether writes arrived since the last flush, which is older than `age`.
    pub fn flush_due(&self, age: Duration) -> bool {
        let (at, seq) = *self.last_flush.lock();
        self.engine.max_seq_no() > seq && at.elapsed() >= age
    }
}
