//! Peer recovery: a shard copy that fell behind its raft group's purged log becomes a copy of the
//! leader's last snapshot commit, file by file, as ES's peer recovery (phase 1) does.
//!
//! A shard's raft snapshot is a durable engine commit, held on the copy that built it until the
//! next snapshot ([`ShardStateMachine::persist`](crate::shard::ShardStateMachine)), so merges cannot
//! delete its files; the first copy that asks for it has its files checksummed (pinned). openraft sends a lagging follower only the snapshot's marker (its raft
//! position); before the follower hands it to openraft, its handler fetches the commit's files from
//! the sender through the [`RECOVERY_SERVICE`] ([`fetch_snapshot_files`]):
//!
//! - `start` (group = the shard's raft group): the sender's pinned snapshot commit (its
//!   [`CommitManifest`]: file names, lengths, CRC-32s, the commit point with its marker), held for
//!   the follower in a session that outlives a newer snapshot on the sender. The follower checks the
//!   marker is the snapshot's: if the sender built a newer one meanwhile, the fetch fails and
//!   openraft sends the newer snapshot.
//! - `chunk`: up to [`CHUNK_SIZE`] bytes of one file with their CRC-32, paced on the sender to
//!   `indices.recovery.max_bytes_per_sec` (a dynamic cluster setting, else the node setting, else
//!   `40mb`; `0` = unlimited), shared by every recovery the node serves.
//! - `finish`: the follower is done (a session nobody reads for [`SESSION_IDLE`] ends by itself).
//! - `status` (any group): the peer recoveries of the copies on this node, for `_cat/recovery`.
//!
//! The follower stages only the files it lacks (each copy applies the log on its own, so its
//! segments have other names unless they came from an earlier recovery) in
//! `indices/<uuid>/<shard>.recovery`, resumably ([`Staging`]), verifies them, and then openraft
//! installs the snapshot: the engine switches to the commit in place, with the leader's marker, so
//! raft resumes right after the snapshot ([`ShardEngine::install_commit`](tern_shard::ShardEngine)).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tern_config::Settings;
use tern_raft::{GroupSettings, SnapshotSource};
use tern_shard::commit_files::{CommitManifest, PinnedCommit, Staging, crc32, files_to_fetch};
use tern_transport::{HandlerError, HandlerFuture, InboundRequest, ServiceHandler, TransportClient, TransportServer};

use crate::commit_copy::Throttle;
use crate::node::{Node, now_millis};
use crate::shard::ShardStateMachine;

/// The transport service of peer recovery.
pub const RECOVERY_SERVICE: &str = "recovery";
/// ES's `indices.recovery.chunk_size` default.
pub const CHUNK_SIZE: u64 = 512 << 10;
/// ES's `indices.recovery.max_concurrent_file_chunks` default.
const CONCURRENT_CHUNKS: usize = 2;
/// A session nobody read for this long ends, unpinning its commit.
pub const SESSION_IDLE: Duration = Duration::from_secs(120);
const RPC_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_BYTES_PER_SEC: &str = "indices.recovery.max_bytes_per_sec";
const DEFAULT_MAX_BYTES_PER_SEC: u64 = 40 << 20;

mod method {
    pub const START: &str = "start";
    pub const CHUNK: &str = "chunk";
    pub const FINISH: &str = "finish";
    pub const STATUS: &str = "status";
}

#[derive(Debug, Serialize, Deserialize)]
struct StartResponse {
    session: u64,
    /// The sender's node name, for `_cat/recovery`.
    node_name: String,
    manifest: CommitManifest,
}

#[derive(Debug, Serialize, Deserialize)]
struct ChunkRequest {
    session: u64,
    name: String,
    offset: u64,
    length: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct ChunkResponse {
    crc32: u32,
    data: Vec<u8>,
}

/// ES's recovery stages, as far as a file-based recovery goes through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stage {
    /// Asking the source for its snapshot commit.
    Init,
    /// Copying files.
    Index,
    /// Switching the shard to the copied commit.
    Finalize,
    Done,
}

impl Stage {
    /// The name ES reports (`_recovery` upper-case, `_cat/recovery` lower-case).
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Init => "INIT",
            Stage::Index => "INDEX",
            Stage::Finalize => "FINALIZE",
            Stage::Done => "DONE",
        }
    }
}

/// One peer recovery of a shard copy, as `_cat/recovery` reports it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecoveryState {
    pub index_uuid: String,
    pub shard: u32,
    pub stage: Stage,
    pub start_millis: i64,
    pub stop_millis: Option<i64>,
    pub source_address: String,
    pub source_node: String,
    pub target_address: String,
    pub target_node: String,
    /// Files and bytes of the whole commit.
    pub files_total: u64,
    pub bytes_total: u64,
    /// Files and bytes this copy lacked, and how much of them has arrived (resumed chunks count).
    pub files_to_recover: u64,
    pub files_recovered: u64,
    pub bytes_to_recover: u64,
    pub bytes_recovered: u64,
}

impl RecoveryState {
    pub(crate) fn finish(&mut self) {
        self.stage = Stage::Done;
        self.stop_millis = Some(now_millis());
    }

    /// Milliseconds the recovery took, or has taken so far.
    pub fn time_millis(&self) -> i64 {
        (self.stop_millis.unwrap_or_else(now_millis) - self.start_millis).max(0)
    }
}

pub(crate) type SharedRecovery = Arc<Mutex<RecoveryState>>;

/// The raft settings of this node's shard groups; hidden `tern.raft.*` node settings override the
/// defaults (tests use them to purge the log after a few entries).
pub(crate) fn group_settings(settings: &Settings) -> GroupSettings {
    let mut g = GroupSettings::default();
    let num = |key: &str| settings.get_str(key).and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = num("tern.raft.snapshot_every_logs") {
        g.snapshot_every_logs = n.max(1);
    }
    if let Some(n) = num("tern.raft.logs_kept_after_snapshot") {
        g.logs_kept_after_snapshot = n;
    }
    g
}

/// `indices.recovery.max_bytes_per_sec`: the cluster setting (transient, then persistent), else
/// the node's, else 40mb.
fn max_bytes_per_sec(node: &Node) -> u64 {
    let meta = node.metadata();
    let parse = |v: &serde_json::Value| {
        let s = v.as_str().map(String::from).unwrap_or_else(|| v.to_string());
        tern_cluster::settings::parse_byte_size(&s, MAX_BYTES_PER_SEC).ok().map(|b| b.max(0) as u64)
    };
    meta.transient_settings
        .get(MAX_BYTES_PER_SEC)
        .or_else(|| meta.persistent_settings.get(MAX_BYTES_PER_SEC))
        .and_then(parse)
        .or_else(|| node.settings.get(MAX_BYTES_PER_SEC).and_then(parse))
        .unwrap_or(DEFAULT_MAX_BYTES_PER_SEC)
}

struct Session {
    pin: Arc<PinnedCommit>,
    last_access: Instant,
}

/// The sending side: serves the pinned snapshot commits of this node's shard copies.
struct RecoveryService {
    node: Weak<Node>,
    sessions: Mutex<HashMap<u64, Session>>,
    next_session: AtomicU64,
    throttle: Throttle,
}

/// The [`RECOVERY_SERVICE`] handler (a shared [`RecoveryService`]: a chunk's future outlives the
/// call that made it).
struct RecoveryRpc(Arc<RecoveryService>);

/// Serves [`RECOVERY_SERVICE`] on `server` (called once the node runs in a cluster).
pub(crate) fn register(node: &Arc<Node>, server: &TransportServer) {
    let service = RecoveryService {
        node: Arc::downgrade(node),
        sessions: Mutex::new(HashMap::new()),
        next_session: AtomicU64::new(1),
        throttle: Throttle::default(),
    };
    server.register(RECOVERY_SERVICE, Arc::new(RecoveryRpc(Arc::new(service))));
}

fn encode<T: Serialize>(value: &T) -> Result<bytes::Bytes, HandlerError> {
    postcard::to_stdvec(value)
        .map(bytes::Bytes::from)
        .map_err(|e| HandlerError::internal(format!("encoding failed: {e}")))
}

fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, HandlerError> {
    postcard::from_bytes(body).map_err(|e| HandlerError::bad_request(format!("undecodable recovery message: {e}")))
}

impl RecoveryService {
    fn node(&self) -> Result<Arc<Node>, HandlerError> {
        self.node.upgrade().ok_or_else(|| HandlerError::unavailable("the node is shutting down"))
    }

    async fn start(&self, group: u64) -> Result<StartResponse, HandlerError> {
        let node = self.node()?;
        let handle = node
            .all_shards()
            .into_iter()
            .find(|h| h.group.id == group)
            .ok_or_else(|| HandlerError::unknown_target(format!("no copy of raft group {group} on this node")))?;
        // The first copy asking for a snapshot has its files checksummed: off the async runtime.
        let pin = tokio::task::spawn_blocking(move || handle.group.handler().snapshot_commit())
            .await
            .map_err(|e| HandlerError::internal(e.to_string()))?
            .map_err(|e| HandlerError::internal(e.reason))?
            .ok_or_else(|| {
                HandlerError::unavailable(format!("the copy of raft group {group} on this node has no snapshot yet"))
            })?;
        let session = self.next_session.fetch_add(1, Ordering::Relaxed);
        let manifest = pin.manifest().clone();
        let mut sessions = self.sessions.lock();
        sessions.retain(|_, s| s.last_access.elapsed() < SESSION_IDLE);
        sessions.insert(session, Session { pin, last_access: Instant::now() });
        Ok(StartResponse { session, node_name: node.info.node_name.clone(), manifest })
    }

    fn session(&self, id: u64) -> Result<Arc<PinnedCommit>, HandlerError> {
        let mut sessions = self.sessions.lock();
        let s = sessions
            .get_mut(&id)
            .ok_or_else(|| HandlerError::unknown_target(format!("recovery session [{id}] ended or never existed")))?;
        s.last_access = Instant::now();
        Ok(s.pin.clone())
    }

    async fn chunk(&self, req: ChunkRequest) -> Result<ChunkResponse, HandlerError> {
        let pin = self.session(req.session)?;
        let length = req.length.clamp(1, 4 * CHUNK_SIZE);
        let rate = max_bytes_per_sec(self.node()?.as_ref());
        self.throttle.acquire(length, rate).await;
        let data = tokio::task::spawn_blocking(move || pin.read_chunk(&req.name, req.offset, length as usize))
            .await
            .map_err(|e| HandlerError::internal(e.to_string()))?
            .map_err(|e| HandlerError::bad_request(e.reason))?;
        Ok(ChunkResponse { crc32: crc32(&data), data })
    }
}

impl ServiceHandler for RecoveryRpc {
    fn handle(&self, request: InboundRequest) -> HandlerFuture {
        let service = self.0.clone();
        Box::pin(async move {
            match request.method.as_str() {
                method::START => encode(&service.start(request.group).await?),
                method::CHUNK => encode(&service.chunk(decode(&request.body)?).await?),
                method::FINISH => {
                    service.sessions.lock().remove(&decode::<u64>(&request.body)?);
                    encode(&())
                }
                method::STATUS => encode(&service.node()?.local_recoveries()),
                other => Err(HandlerError::bad_request(format!("unknown recovery method {other:?}"))),
            }
        })
    }
}

/// The receiving side, run by a shard copy's handler on a task of its own when its raft leader
/// sends a snapshot: stages and verifies the files of the leader's snapshot commit (whose marker
/// must be `marker`) that this copy lacks, and returns the commit's manifest for the install.
pub(crate) async fn fetch_snapshot_files(
    sm: Arc<ShardStateMachine>,
    source: SnapshotSource,
    marker: Option<String>,
) -> Result<Arc<CommitManifest>, String> {
    let engine = sm.engine.clone();
    let staging_dir = sm.staging_dir().ok_or("an in-memory shard cannot install a snapshot")?;
    let shard_dir = engine.path().map(|p| p.to_path_buf()).ok_or("an in-memory shard cannot install a snapshot")?;
    let ident = engine.ident().clone();
    let progress = sm.begin_recovery(RecoveryState {
        index_uuid: ident.index_uuid.clone(),
        shard: ident.shard,
        stage: Stage::Init,
        start_millis: now_millis(),
        stop_millis: None,
        source_address: source.addr.clone(),
        source_node: String::new(),
        target_address: source.client.local_addr().to_string(),
        target_node: String::new(),
        files_total: 0,
        bytes_total: 0,
        files_to_recover: 0,
        files_recovered: 0,
        bytes_to_recover: 0,
        bytes_recovered: 0,
    });
    let client = &source.client;
    let call = |method: &'static str, body: Vec<u8>| {
        client.call(&source.addr, RECOVERY_SERVICE, source.group, method, body, Some(RPC_TIMEOUT))
    };
    let failed = |what: &str, e: &dyn std::fmt::Display| format!("{what} from [{}] failed: {e}", source.addr);
    let answer = call(method::START, Vec::new()).await.map_err(|e| failed("asking for the snapshot commit", &e))?;
    let start: StartResponse = postcard::from_bytes(&answer).map_err(|e| failed("decoding the snapshot commit", &e))?;
    let manifest = Arc::new(start.manifest);
    if manifest.marker() != marker {
        let _ = call(method::FINISH, postcard::to_stdvec(&start.session).unwrap_or_default()).await;
        return Err(format!(
            "the snapshot commit of [{}] is at {:?}, not at the snapshot's {marker:?}: it built a newer one",
            source.addr,
            manifest.marker()
        ));
    }
    let have = engine.committed_files().map_err(|e| e.reason)?;
    let needed = files_to_fetch(&shard_dir, &have, &manifest);
    let staging = {
        let (dir, needed) = (staging_dir.clone(), needed.clone());
        tokio::task::spawn_blocking(move || Staging::open(&dir, &needed))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.reason)?
    };
    let staging = Arc::new(staging);
    let (jobs, already) = staging.missing_chunks(&needed, CHUNK_SIZE);
    let mut chunks_left: HashMap<String, usize> = HashMap::new();
    for (name, _, _) in &jobs {
        *chunks_left.entry(name.clone()).or_default() += 1;
    }
    {
        let mut p = progress.lock();
        p.stage = Stage::Index;
        p.source_node = start.node_name.clone();
        p.files_total = manifest.files.len() as u64;
        p.bytes_total = manifest.total_bytes();
        p.files_to_recover = needed.len() as u64;
        p.bytes_to_recover = needed.iter().map(|f| f.length).sum();
        p.bytes_recovered = already;
        p.files_recovered = needed.iter().filter(|f| !chunks_left.contains_key(&f.name)).count() as u64;
    }
    let chunks_left = Mutex::new(chunks_left);
    futures::stream::iter(jobs)
        .map(|(name, offset, length)| {
            let (staging, progress, chunks_left) = (staging.clone(), progress.clone(), &chunks_left);
            let request = ChunkRequest { session: start.session, name: name.clone(), offset, length };
            let (call, failed, addr) = (&call, &failed, &source.addr);
            async move {
                let body = postcard::to_stdvec(&request).map_err(|e| e.to_string())?;
                let answer = call(method::CHUNK, body).await.map_err(|e| failed(&format!("fetching [{name}]"), &e))?;
                let chunk: ChunkResponse = postcard::from_bytes(&answer).map_err(|e| e.to_string())?;
                if chunk.data.len() as u64 != length || crc32(&chunk.data) != chunk.crc32 {
                    return Err(format!(
                        "chunk [{name}@{offset}+{length}] from [{addr}] failed its checksum ({} bytes)",
                        chunk.data.len()
                    ));
                }
                let file = name.clone();
                tokio::task::spawn_blocking(move || staging.write_chunk(&file, offset, &chunk.data))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.reason)?;
                let file_done = {
                    let mut left = chunks_left.lock();
                    let n = left.get_mut(&name).expect("every job's file is counted");
                    *n -= 1;
                    *n == 0
                };
                let mut p = progress.lock();
                p.bytes_recovered += length;
                p.files_recovered += u64::from(file_done);
                Ok::<(), String>(())
            }
        })
        .buffer_unordered(CONCURRENT_CHUNKS)
        .try_collect::<()>()
        .await?;
    {
        let (staging, needed) = (staging.clone(), needed.clone());
        tokio::task::spawn_blocking(move || staging.verify(&needed))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.reason)?;
    }
    // Best effort: an unreleased session ends by itself.
    let _ = call(method::FINISH, postcard::to_stdvec(&start.session).unwrap_or_default()).await;
    tracing::info!(
        index = %ident.index,
        shard = ident.shard,
        source = %source.addr,
        files = needed.len(),
        bytes = needed.iter().map(|f| f.length).sum::<u64>(),
        "fetched the leader's snapshot files"
    );
    Ok(manifest)
}

impl Node {
    /// The peer recoveries of this node's shard copies (the last one of each copy).
    pub fn local_recoveries(&self) -> Vec<RecoveryState> {
        let mut out: Vec<RecoveryState> = self
            .all_shards()
            .iter()
            .filter_map(|h| h.group.handler().recovery())
            .map(|mut r| {
                r.target_node = self.info.node_name.clone();
                r
            })
            .collect();
        out.sort_by(|a, b| (&a.index_uuid, a.shard).cmp(&(&b.index_uuid, b.shard)));
        out
    }

    /// The peer recoveries of every node's shard copies: this node's, and those the other nodes
    /// of the cluster report (a node that does not answer in time is left out).
    pub async fn recoveries(&self) -> Vec<RecoveryState> {
        let mut out = self.local_recoveries();
        let Some(cluster) = &self.cluster else {
            return out;
        };
        let client: TransportClient = cluster.raft.client().clone();
        let meta = self.metadata();
        let asks = meta.nodes.values().filter(|n| n.id != self.info.node_id).map(|n| {
            let client = client.clone();
            let addr = n.transport_address.clone();
            async move {
                let answer = client
                    .call(&addr, RECOVERY_SERVICE, 0, method::STATUS, Vec::new(), Some(Duration::from_secs(5)))
                    .await
                    .ok()?;
                postcard::from_bytes::<Vec<RecoveryState>>(&answer).ok()
            }
        });
        for states in futures::future::join_all(asks).await.into_iter().flatten() {
            out.extend(states);
        }
        out
    }
}
