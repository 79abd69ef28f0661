//! A shard as the node runs it: the engine, its raft group, and the refresh bookkeeping.
//!
//! [`ShardStateMachine`] is the adapter openraft drives (through tern-raft's [`ApplyHandler`]): it
//! decodes each committed command and applies it to the engine. The raft term of the entry becomes
//! the documents' `_primary_term`. Its raft snapshots are engine commits, pinned until the next
//! one so that a copy that fell behind the purged log can fetch their files (peer recovery: see
//! [`crate::recovery`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use parking_lot::Mutex;
use tern_common::ErrorKind;
use tern_common::EsError;
use tern_raft::{ApplyHandler, GroupError, LocalSnapshot, RaftGroup, SnapshotSource};
use tern_shard::commit_files::{CommitManifest, HeldCommit, PinnedCommit};
use tern_shard::ops::{OpFailure, ShardCommand, ShardReply};
use tern_shard::{ShardEngine, ShardIdent};
use tern_transport::{HandlerErrorKind, TransportClient, TransportError};
use tokio::sync::watch;

use crate::recovery::{RecoveryState, SharedRecovery};

type FetchResult = Result<Arc<CommitManifest>, String>;

/// A snapshot's files being fetched (or fetched, waiting for openraft to install them).
struct Fetch {
    marker: Option<String>,
    result: Shared<BoxFuture<'static, FetchResult>>,
    abort: tokio::task::AbortHandle,
}

pub struct ShardStateMachine {
    pub engine: Arc<ShardEngine>,
    /// Whether snapshots are pinned for other copies (a copy in a cluster); a lone node's shard has
    /// nobody to send them to and skips the checksums a pin computes.
    pin_snapshots: bool,
    /// The commit of the last raft snapshot (built here or installed), whose files a lagging copy
    /// fetches: held so merges cannot delete them until the next snapshot replaces it, and pinned
    /// (checksummed) the first time a copy asks for it.
    snapshot: Mutex<Option<(HeldCommit, Option<Arc<PinnedCommit>>)>>,
    /// The fetch of the leader's snapshot, outliving the RPC that started it (see
    /// [`ApplyHandler::fetch_snapshot`]).
    fetch: Mutex<Option<Fetch>>,
    /// This copy's last peer recovery, for `_cat/recovery`.
    recovery: Mutex<Option<SharedRecovery>>,
}

impl ShardStateMachine {
    /// The handler of a shard copy; `clustered` when other copies may need its snapshots.
    pub fn new(engine: Arc<ShardEngine>, clustered: bool) -> ShardStateMachine {
        ShardStateMachine {
            engine,
            pin_snapshots: clustered,
            snapshot: Mutex::new(None),
            fetch: Mutex::new(None),
            recovery: Mutex::new(None),
        }
    }

    /// The commit of the group's last snapshot on this copy, if it has one on disk, pinned for
    /// copying. Blocking: the first call for a snapshot reads its new files for their checksums.
    pub fn snapshot_commit(&self) -> Result<Option<Arc<PinnedCommit>>, EsError> {
        let Some((held, pinned)) = self.snapshot.lock().clone() else {
            return Ok(None);
        };
        if let Some(pin) = pinned {
            return Ok(Some(pin));
        }
        let pin = Arc::new(self.engine.pin_held(&held)?);
        let mut snapshot = self.snapshot.lock();
        // Unless a newer snapshot replaced it meanwhile, later calls reuse this pin.
        if let Some((current, slot)) = snapshot.as_mut()
            && current.marker() == held.marker()
        {
            *slot = Some(pin.clone());
        }
        Ok(Some(pin))
    }

    /// Where the files of a snapshot being fetched are staged: next to the shard's directory, so
    /// they move in by rename, and kept across restarts so an interrupted copy resumes.
    pub(crate) fn staging_dir(&self) -> Option<PathBuf> {
        let path = self.engine.path()?;
        Some(path.with_file_name(format!("{}.recovery", self.engine.ident().shard)))
    }

    /// This copy's last (or running) peer recovery.
    pub fn recovery(&self) -> Option<RecoveryState> {
        self.recovery.lock().as_ref().map(|r| r.lock().clone())
    }

    pub(crate) fn begin_recovery(&self, state: RecoveryState) -> SharedRecovery {
        let shared: SharedRecovery = Arc::new(Mutex::new(state));
        *self.recovery.lock() = Some(shared.clone());
        shared
    }
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

    /// A snapshot is a durable commit, held (replacing the previous snapshot's) so that its files
    /// stay while a lagging copy fetches them.
    fn persist(&self) -> Result<Option<String>, String> {
        if !self.pin_snapshots {
            self.engine.flush().map_err(|e| e.reason)?;
            return Ok(self.engine.committed_marker());
        }
        match self.engine.flush_and_hold().map_err(|e| e.reason)? {
            Some(held) => {
                let marker = held.marker();
                *self.snapshot.lock() = Some((held, None));
                Ok(marker)
            }
            None => Ok(self.engine.committed_marker()),
        }
    }

    fn can_install_snapshot(&self) -> bool {
        self.pin_snapshots && self.engine.path().is_some()
    }

    /// Fetches the files of the leader's snapshot commit that this copy lacks into the staging
    /// directory, on a task of its own: a big copy outlives the leader's RPC, whose next attempt
    /// for the same snapshot waits on the same task.
    async fn fetch_snapshot(self: Arc<Self>, source: SnapshotSource, snapshot: LocalSnapshot) -> Result<(), String> {
        let marker = snapshot.marker;
        let result = {
            let mut fetch = self.fetch.lock();
            match &*fetch {
                Some(f) if f.marker == marker => f.result.clone(),
                _ => {
                    if let Some(old) = fetch.take() {
                        old.abort.abort();
                    }
                    let task =
                        tokio::spawn(crate::recovery::fetch_snapshot_files(self.clone(), source, marker.clone()));
                    let abort = task.abort_handle();
                    let result = task
                        .map(|joined| joined.map_err(|e| format!("the snapshot fetch stopped: {e}")).and_then(|r| r))
                        .boxed()
                        .shared();
                    *fetch = Some(Fetch { marker: marker.clone(), result: result.clone(), abort });
                    result
                }
            }
        };
        let outcome = result.await;
        if outcome.is_err() {
            // Forget the failure, so the leader's next attempt starts a new fetch.
            let mut fetch = self.fetch.lock();
            if fetch.as_ref().is_some_and(|f| f.marker == marker && f.result.peek().is_some_and(|r| r.is_err())) {
                *fetch = None;
            }
        }
        outcome.map(|_| ())
    }

    /// Switches the engine, in place, to the fetched commit with the snapshot's marker, and holds it
    /// as this copy's snapshot (this copy may lead the group next and send it on).
    fn install_snapshot(&self, snapshot: &LocalSnapshot) -> Result<(), String> {
        let fetched = {
            let fetch = self.fetch.lock();
            fetch.as_ref().filter(|f| f.marker == snapshot.marker).and_then(|f| f.result.peek().cloned())
        };
        let manifest = match fetched {
            Some(Ok(manifest)) => manifest,
            Some(Err(e)) => return Err(e),
            None => return Err(format!("the files of snapshot {:?} were not fetched", snapshot.marker)),
        };
        let staging = self.staging_dir().ok_or("an in-memory shard cannot install a snapshot")?;
        let recovery = self.recovery.lock().clone();
        if let Some(r) = &recovery {
            r.lock().stage = crate::recovery::Stage::Finalize;
        }
        self.engine.install_commit(&staging, &manifest, snapshot.marker.clone()).map_err(|e| e.reason)?;
        *self.fetch.lock() = None;
        if let Err(e) = std::fs::remove_dir_all(&staging) {
            tracing::warn!(dir = %staging.display(), error = %e, "removing the recovery staging directory failed");
        }
        match self.engine.hold_commit() {
            Ok(held) => *self.snapshot.lock() = held.map(|h| (h, None)),
            Err(e) => {
                tracing::warn!(shard = ?self.engine.ident(), error = %e.reason, "holding the installed snapshot failed")
            }
        }
        if let Some(r) = &recovery {
            r.lock().finish();
        }
        tracing::info!(shard = ?self.engine.ident(), marker = ?snapshot.marker, files = manifest.files.len(), "installed the leader's snapshot");
        Ok(())
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
    /// In a cluster: the transport a write takes to the group's leader when this copy is not it.
    forward: Option<TransportClient>,
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
            forward: None,
        }
    }

    /// Forwards writes to the leader of the group through `client` when this copy does not lead.
    pub fn with_forwarding(mut self, client: TransportClient) -> Self {
        self.forward = Some(client);
        self
    }

    /// Proposes a command through raft and decodes the shard's reply.
    ///
    /// In a cluster, a copy that does not lead its group sends the command to the leader's node
    /// (which proposes it there and answers the reply), and every copy waits for a leader while
    /// there is none (an election after a failover), up to [`crate::cluster::MASTER_TIMEOUT`].
    pub async fn propose(&self, cmd: &ShardCommand) -> Result<ShardReply, EsError> {
        let Some(client) = &self.forward else {
            let (_term, bytes) = self.group.propose(cmd.encode()).await.map_err(EsError::from)?;
            return decode_reply(&bytes);
        };
        let payload = cmd.encode();
        let deadline = Instant::now() + crate::cluster::MASTER_TIMEOUT;
        loop {
            if self.group.is_leader() {
                match self.group.propose(payload.clone()).await {
                    Ok((_term, bytes)) => return decode_reply(&bytes),
                    Err(GroupError::NotLeader { .. } | GroupError::NoLeader { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            } else if let Some(addr) = self.group.current_leader_addr()
                && addr != client.local_addr()
            {
                match client
                    .call(
                        &addr,
                        crate::cluster::CLUSTER_SERVICE,
                        self.group.id,
                        "shard",
                        payload.clone(),
                        Some(crate::cluster::MASTER_TIMEOUT),
                    )
                    .await
                {
                    Ok(bytes) => return decode_reply(&bytes),
                    Err(TransportError::Remote { error, .. }) if error.kind == HandlerErrorKind::Unavailable => {}
                    Err(TransportError::Remote { error, .. }) => {
                        return Err(EsError::new(ErrorKind::UnavailableShards, error.message));
                    }
                    Err(e @ TransportError::Timeout { .. }) => {
                        return Err(EsError::new(
                            ErrorKind::UnavailableShards,
                            format!("the primary of [{}][{}] did not answer: {e}", self.ident.index, self.ident.shard),
                        ));
                    }
                    // The leader's node is down or cut off: wait for the next election.
                    Err(_) => {}
                }
            }
            if Instant::now() >= deadline {
                return Err(EsError::new(
                    ErrorKind::UnavailableShards,
                    format!("[{}][{}] primary shard is not active", self.ident.index, self.ident.shard),
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A read barrier for realtime reads on a copy that does not lead its group: asks the leader
    /// for its commit index and waits until this copy has applied up to it, so everything
    /// acknowledged before the read started is visible. A no-op on the leader and on a lone node.
    pub async fn read_barrier(&self, timeout: Duration) -> Result<(), EsError> {
        let Some(client) = &self.forward else {
            return Ok(());
        };
        let deadline = Instant::now() + timeout;
        loop {
            if self.group.is_leader() {
                return Ok(());
            }
            if let Some(addr) = self.group.current_leader_addr()
                && addr != client.local_addr()
            {
                let answer = client
                    .call(
                        &addr,
                        crate::cluster::CLUSTER_SERVICE,
                        self.group.id,
                        "read_index",
                        Vec::new(),
                        Some(timeout),
                    )
                    .await;
                if let Ok(bytes) = answer
                    && let Ok(index) = postcard::from_bytes::<u64>(&bytes)
                {
                    let left = deadline.saturating_duration_since(Instant::now());
                    return self.group.wait_applied(index, left).await.map(|_| ()).map_err(EsError::from);
                }
            }
            if Instant::now() >= deadline {
                return Err(EsError::new(
                    ErrorKind::NoShardAvailable,
                    format!("[{}][{}] no primary to read from", self.ident.index, self.ident.shard),
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// One attempt at [`Self::read_barrier`], for searches: a search on a follower copy catches up
    /// with what its primary has committed when that costs one round trip, but does not wait for
    /// an election (a group that lost its primary still serves searches, as ES's replicas do).
    /// `Err` says why the copy could not catch up; the caller decides whether that matters.
    pub async fn try_read_barrier(&self, timeout: Duration) -> Result<(), EsError> {
        let Some(client) = &self.forward else {
            return Ok(());
        };
        if self.group.is_leader() {
            return Ok(());
        }
        let no_primary = || {
            EsError::new(
                ErrorKind::NoShardAvailable,
                format!("[{}][{}] no primary to read from", self.ident.index, self.ident.shard),
            )
        };
        let addr = self.group.current_leader_addr().filter(|a| a != client.local_addr()).ok_or_else(no_primary)?;
        let bytes = client
            .call(&addr, crate::cluster::CLUSTER_SERVICE, self.group.id, "read_index", Vec::new(), Some(timeout))
            .await
            .map_err(|e| no_primary().caused_by(EsError::internal(e.to_string())))?;
        let index = postcard::from_bytes::<u64>(&bytes).map_err(|e| EsError::internal(e.to_string()))?;
        self.group.wait_applied(index, timeout).await.map(|_| ()).map_err(EsError::from)
    }

    /// Refreshes on the blocking pool and publishes the visible seq_no.
    pub async fn refresh(self: &Arc<Self>) -> Result<(), EsError> {
        // The period is measured from refresh start to refresh start, so `refresh_interval` is not
        // stretched by the refresh's own duration.
        let started = Instant::now();
        let me = self.clone();
        let seq = tokio::task::spawn_blocking(move || me.engine.refresh())
            .await
            .map_err(|e| EsError::internal(e.to_string()))??;
        *self.last_refresh.lock() = started;
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

fn decode_reply(bytes: &[u8]) -> Result<ShardReply, EsError> {
    ShardReply::decode(bytes).map_err(|e| EsError::internal(format!("undecodable shard reply: {e}")))
}
