//! The node: identity, metadata, the shards it hosts, background services.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use tern_cluster::{ClusterMetadata, IndexMetadata, MetadataCommand, MetadataOutcome};
use tern_common::EsError;
use tern_config::Settings;
use tern_mapping::Mapping;
use tern_raft::wal::{Durability, Wal, WalOptions};
use tern_raft::{Bootstrap, GroupSettings, RaftGroup, RaftTransport};
use tern_shard::{ShardEngine, ShardIdent, ShardOptions};
use tern_transport::{ClientOptions, ServerOptions, TransportClient, TransportServer};

use crate::cluster::state_machine::{MetadataStateMachine, PersistedMetadata};
use crate::cluster::{Cluster, ClusterSettings};
use crate::persist::JsonFile;
use crate::shard::{ShardHandle, ShardStateMachine};

/// What `GET /` and `_nodes` report about this node.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub node_id: String,
    pub node_name: String,
    pub cluster_name: String,
    pub roles: Vec<String>,
    pub attributes: BTreeMap<String, String>,
    pub http_address: String,
    pub transport_address: String,
    pub host: String,
    pub started_at: Instant,
    pub start_time_millis: i64,
    pub version: &'static str,
}

pub struct NodeOptions {
    pub settings: Settings,
    /// Keep everything in memory (`--ephemeral`).
    pub ephemeral: bool,
    pub http_address: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct NodeIdentity {
    node_id: String,
    /// The raft node id of this node, stable across restarts.
    raft_id: u64,
}

pub(crate) type ShardKey = (String, u32);

/// What a node holds of one shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardRole {
    /// A data copy (every shard on a lone node).
    Copy,
    /// The log-only voter of a two-copy group.
    Witness,
    None,
}

pub struct Node {
    pub info: NodeInfo,
    pub settings: Settings,
    pub(crate) raft_id: u64,
    data_path: Option<PathBuf>,
    /// Holds the temporary directory of an ephemeral node's log for the node's lifetime.
    _ephemeral_dir: Option<tempfile::TempDir>,
    pub(crate) wal: Arc<Wal>,
    pub(crate) metadata: Arc<RwLock<Arc<ClusterMetadata>>>,
    metadata_file: JsonFile,
    /// Set when the node runs in a multi-node cluster (seed hosts or other initial master nodes).
    pub(crate) cluster: Option<Arc<Cluster>>,
    /// A lone node's transport server (bound, serving nothing yet); a clustered node's lives in
    /// `cluster`.
    _transport: Option<TransportServer>,
    /// Serializes opening and closing shard copies (requests and the cluster's reconciler).
    shard_lifecycle: tokio::sync::Mutex<()>,
    /// Serializes metadata changes (the single-node stand-in for the master's task queue).
    pub(crate) metadata_lock: tokio::sync::Mutex<()>,
    pub(crate) shards: RwLock<HashMap<ShardKey, Arc<ShardHandle>>>,
    /// The shard groups this node is the witness of (log-only voters, see `witness.rs`).
    pub(crate) witnesses: RwLock<HashMap<ShardKey, Arc<crate::witness::WitnessHandle>>>,
    /// Copies the routing table dropped while their group still counted them, and since when.
    pub(crate) stale_copies: parking_lot::Mutex<HashMap<ShardKey, Instant>>,
    pub(crate) group_settings: GroupSettings,
    pub(crate) search_contexts: crate::search::SearchContexts,
    shutdown: tokio::sync::watch::Sender<bool>,
}

/// How often the refresher looks at shards; `refresh_interval` is honoured to within half of it.
const REFRESH_TICK: Duration = Duration::from_millis(100);

/// A shard with writes older than this is flushed: a durable commit after which the raft log behind it
/// is purged, which bounds both the in-memory log and replay time after a crash.
const FLUSH_AFTER: Duration = Duration::from_secs(10);

/// The ES version tern reports: clients check the major version.
pub const ES_VERSION: &str = "8.15.0";

impl Node {
    pub async fn start(opts: NodeOptions) -> Result<Arc<Node>, EsError> {
        let settings = opts.settings;
        // An ephemeral node runs exactly like a persistent one, on a data directory in tmpfs (memory)
        // that is removed when the node goes away.
        let (data_path, ephemeral_dir) = if opts.ephemeral {
            let base = if std::path::Path::new("/dev/shm").is_dir() { "/dev/shm" } else { "/tmp" };
            let dir = tempfile::Builder::new()
                .prefix("tern-ephemeral-")
                .tempdir_in(base)
                .map_err(|e| EsError::internal(format!("cannot create ephemeral dir: {e}")))?;
            (Some(dir.path().to_path_buf()), Some(dir))
        } else {
            (Some(settings.data_path()), None)
        };
        let state_dir = data_path.as_ref().map(|p| p.join("_state"));
        let identity_file = JsonFile::new(state_dir.as_ref().map(|d| d.join("node.json")));
        let identity = match identity_file.load::<NodeIdentity>()? {
            Some(id) => id,
            None => {
                let id = NodeIdentity { node_id: random_uuid(), raft_id: rand::random::<u64>() >> 1 };
                identity_file.store(&id)?;
                id
            }
        };
        let wal_dir = data_path.as_ref().map(|p| p.join("wal")).unwrap_or_else(|| PathBuf::from("wal"));
        let wal = Wal::open(&wal_dir, WalOptions::default())
            .map_err(|e| EsError::internal(format!("cannot open write-ahead log at [{}]: {e}", wal_dir.display())))?;
        let node_name = settings.node_name();
        let cluster_settings = ClusterSettings::from(&settings);
        let multi_node = cluster_settings.is_multi_node(&node_name);
        let host = settings.http_host();
        // The transport: a clustered node cannot run without it; a lone node binds it if it can.
        let transport_host = settings
            .get_str("transport.host")
            .or_else(|| settings.get_str("network.host"))
            .unwrap_or_else(|| host.clone());
        let transport_ports = settings.transport_port().map_err(|e| EsError::illegal_argument(e.to_string()))?;
        let mut transport = None;
        let mut bind_error = None;
        for port in transport_ports.0..=transport_ports.1 {
            match TransportServer::bind(&format!("{transport_host}:{port}"), ServerOptions::default()).await {
                Ok(server) => {
                    transport = Some(server);
                    break;
                }
                Err(e) => bind_error = Some(e),
            }
        }
        // The address other nodes dial: the bound one, unless a publish host says how this node is
        // reached (a container bound on 0.0.0.0 is reached by its service name).
        let publish_host =
            settings.get_str("transport.publish_host").or_else(|| settings.get_str("network.publish_host"));
        let transport_address = match &transport {
            Some(server) => match &publish_host {
                Some(h) => format!("{h}:{}", server.local_addr().port()),
                None => server.local_addr().to_string(),
            },
            None if multi_node => {
                return Err(EsError::internal(format!(
                    "cannot bind the transport on {transport_host}:{}-{}: {bind_error:?}",
                    transport_ports.0, transport_ports.1
                )));
            }
            None => {
                tracing::warn!(error = ?bind_error, "cannot bind the transport port; running without it");
                format!("{host}:{}", transport_ports.0)
            }
        };
        let metadata_file = JsonFile::new(state_dir.as_ref().map(|d| d.join("cluster.json")));
        let raft_metadata_file = JsonFile::new(state_dir.as_ref().map(|d| d.join("cluster_raft.json")));
        let mut marker = None;
        let metadata = if multi_node {
            // The replicated copy and the raft position it covers; the cluster uuid comes from the
            // first master.
            match raft_metadata_file.load::<PersistedMetadata>()? {
                Some(p) => {
                    marker = p.marker;
                    p.metadata
                }
                None => ClusterMetadata::new("_na_"),
            }
        } else {
            match metadata_file.load::<ClusterMetadata>()? {
                Some(m) => m,
                None => {
                    let m = ClusterMetadata::new(random_uuid());
                    metadata_file.store(&m)?;
                    m
                }
            }
        };
        let metadata = Arc::new(RwLock::new(Arc::new(metadata)));
        let info = NodeInfo {
            node_id: identity.node_id.clone(),
            node_name,
            cluster_name: settings.cluster_name(),
            roles: settings.node_roles(),
            attributes: settings.node_attributes(),
            http_address: opts.http_address,
            transport_address,
            host,
            started_at: Instant::now(),
            start_time_millis: now_millis(),
            version: ES_VERSION,
        };
        let (shutdown, _) = tokio::sync::watch::channel(false);
        let group_settings = crate::recovery::group_settings(&settings);
        let mut cluster = None;
        let mut lone_transport = None;
        if multi_node && let Some(server) = transport {
            let client = TransportClient::new(info.transport_address.clone(), ClientOptions::default())
                .map_err(|e| EsError::internal(e.to_string()))?;
            let raft = RaftTransport::new(client);
            let handler = Arc::new(MetadataStateMachine::new(metadata.clone(), raft_metadata_file, marker));
            let local = tern_cluster::DiscoveryNode {
                id: info.node_id.clone(),
                name: info.node_name.clone(),
                roles: info.roles.clone(),
                attributes: info.attributes.clone(),
                transport_address: info.transport_address.clone(),
                http_address: info.http_address.clone(),
                raft_id: identity.raft_id,
            };
            cluster = Some(
                Cluster::start(
                    server,
                    raft,
                    local,
                    info.cluster_name.clone(),
                    cluster_settings,
                    handler,
                    state_dir.clone(),
                    &wal,
                )
                .await?,
            );
        } else {
            lone_transport = transport;
        }
        let node = Arc::new(Node {
            info,
            settings,
            raft_id: identity.raft_id,
            data_path,
            _ephemeral_dir: ephemeral_dir,
            wal,
            metadata,
            metadata_file,
            cluster,
            _transport: lone_transport,
            shard_lifecycle: tokio::sync::Mutex::new(()),
            witnesses: RwLock::new(HashMap::new()),
            stale_copies: parking_lot::Mutex::new(HashMap::new()),
            metadata_lock: tokio::sync::Mutex::new(()),
            shards: RwLock::new(HashMap::new()),
            group_settings,
            search_contexts: Default::default(),
            shutdown,
        });
        // Reopen the shards of every open index; raft replays each one's log tail.
        let meta = node.metadata();
        let opens =
            meta.indices.values().filter(|m| m.is_open()).map(|m| node.open_index_shards(m)).collect::<Vec<_>>();
        for r in futures::future::join_all(opens).await {
            r?;
        }
        node.spawn_refresher();
        node.start_cluster_services();
        Ok(node)
    }

    pub fn metadata(&self) -> Arc<ClusterMetadata> {
        self.metadata.read().clone()
    }

    /// Applies a metadata command, persists the result, and returns the outcome. Callers hold
    /// `metadata_lock` when they need to combine a metadata change with shard changes atomically.
    /// In a cluster the command goes to the master, which proposes it to the metadata group; the
    /// call returns once this node has applied it.
    pub(crate) async fn apply_metadata(&self, cmd: MetadataCommand) -> Result<MetadataOutcome, EsError> {
        if let Some(cluster) = &self.cluster {
            return cluster.submit(cmd).await;
        }
        let mut next = (**self.metadata.read()).clone();
        let outcome = next.apply(cmd, now_millis()).map_err(EsError::from)?;
        self.metadata_file.store(&next)?;
        *self.metadata.write() = Arc::new(next);
        Ok(outcome)
    }

    /// Sets (or with `null`, removes) a plugin's own state in the cluster metadata.
    pub async fn put_custom(&self, key: &str, value: serde_json::Value) -> Result<(), EsError> {
        let _guard = self.metadata_lock.lock().await;
        self.apply_metadata(MetadataCommand::PutCustom { key: key.to_string(), value }).await?;
        Ok(())
    }

    /// Read-modify-write of a plugin's state under the metadata lock, so concurrent requests of one
    /// plugin do not lose each other's changes.
    pub async fn update_custom<T>(
        &self,
        key: &str,
        f: impl FnOnce(&mut serde_json::Value) -> Result<T, EsError>,
    ) -> Result<T, EsError> {
        let _guard = self.metadata_lock.lock().await;
        let mut value = self.metadata().customs.get(key).cloned().unwrap_or(serde_json::Value::Null);
        let out = f(&mut value)?;
        self.apply_metadata(MetadataCommand::PutCustom { key: key.to_string(), value }).await?;
        Ok(out)
    }

    fn shard_path(&self, index_uuid: &str, shard: u32) -> Option<PathBuf> {
        self.data_path.as_ref().map(|p| p.join("indices").join(index_uuid).join(shard.to_string()))
    }

    pub(crate) fn index_dir(&self, index_uuid: &str) -> Option<PathBuf> {
        self.data_path.as_ref().map(|p| p.join("indices").join(index_uuid))
    }

    /// Raft group ids are derived from the index uuid and shard number, so every node agrees on
    /// them without coordination (FNV-1a, 63 bits).
    pub(crate) fn group_id(index_uuid: &str, shard: u32) -> u64 {
        let mut h: u64 = 0xcbf29ce484222325;
        for b in index_uuid.bytes().chain(shard.to_le_bytes()) {
            h ^= b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
        h >> 1
    }

    pub(crate) fn shutdown_watch(&self) -> tokio::sync::watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Opens the index's shard copies (and witnesses) the routing table assigns to this node
    /// (every shard on a lone node).
    pub(crate) async fn open_index_shards(&self, meta: &IndexMetadata) -> Result<(), EsError> {
        let _guard = self.shard_lifecycle.lock().await;
        let md = self.metadata();
        let mut opened = Vec::new();
        let mut witnesses = Vec::new();
        for shard in 0..meta.settings.number_of_shards() {
            let key = (meta.uuid.clone(), shard);
            match self.shard_role(&md, &meta.uuid, shard) {
                ShardRole::Copy if !self.shards.read().contains_key(&key) => opened.push(self.start_shard(meta, shard)),
                ShardRole::Witness if !self.witnesses.read().contains_key(&key) => {
                    witnesses.push(self.start_witness(meta, shard))
                }
                _ => {}
            }
        }
        for r in futures::future::join_all(opened).await {
            let handle = r?;
            self.shards.write().insert((meta.uuid.clone(), handle.ident.shard), handle);
        }
        for r in futures::future::join_all(witnesses).await {
            let handle = r?;
            self.witnesses.write().insert((meta.uuid.clone(), handle.ident.shard), handle);
        }
        Ok(())
    }

    /// What this node holds of a shard.
    pub(crate) fn shard_role(&self, meta: &tern_cluster::ClusterMetadata, index_uuid: &str, shard: u32) -> ShardRole {
        if self.cluster.is_none() {
            return ShardRole::Copy;
        }
        match meta.shard_allocation(index_uuid, shard) {
            Some(a) if a.copies.contains(&self.info.node_id) => ShardRole::Copy,
            Some(a) if a.witness.as_deref() == Some(self.info.node_id.as_str()) => ShardRole::Witness,
            _ => ShardRole::None,
        }
    }

    /// How a copy starts its shard's raft group: the copies that created the group initialize it
    /// with its first voters (a no-op once initialized); any later copy or witness joins, and the
    /// group's leader adds it. A copy re-added after it was dropped is not started, so it joins too
    /// and never re-initializes a group that has moved on.
    fn bootstrap_of(&self, meta: &tern_cluster::ClusterMetadata, index_uuid: &str, shard: u32) -> Bootstrap {
        let me = &self.info.node_id;
        let Some(alloc) = meta.shard_allocation(index_uuid, shard) else {
            return Bootstrap::Join;
        };
        if !(alloc.initial.contains(me) && alloc.is_started(me)) {
            return Bootstrap::Join;
        }
        let voters = alloc
            .initial
            .iter()
            .filter_map(|id| if id == me { Some(self.local_discovery_node()) } else { meta.nodes.get(id).cloned() })
            .map(|n| (n.raft_id, n.transport_address))
            .collect();
        Bootstrap::Initialize(voters)
    }

    /// Starts this node's witness of a shard group.
    async fn start_witness(
        &self,
        meta: &IndexMetadata,
        shard: u32,
    ) -> Result<Arc<crate::witness::WitnessHandle>, EsError> {
        let cluster = self.cluster.as_ref().ok_or_else(|| EsError::internal("a witness needs a cluster"))?;
        let ident = ShardIdent { index: meta.name.clone(), index_uuid: meta.uuid.clone(), shard };
        let file = self.index_dir(&meta.uuid).map(|d| d.join(format!("{shard}.witness")));
        let handler = Arc::new(crate::witness::WitnessStateMachine::open(file)?);
        let group_id = Self::group_id(&meta.uuid, shard);
        // Campaign after the data copies, and keep a long log: a lagging copy catches up from a
        // leading witness's log, which has no files to send instead.
        // A little later only: the witness's election timeout is also the lease during which it
        // refuses to vote for a new leader, so doubling it would double every failover.
        let settings = GroupSettings {
            election_timeout_min_ms: self.group_settings.election_timeout_min_ms * 5 / 4,
            election_timeout_max_ms: self.group_settings.election_timeout_max_ms * 5 / 4,
            snapshot_every_logs: self.group_settings.snapshot_every_logs * 10,
            logs_kept_after_snapshot: self.group_settings.logs_kept_after_snapshot * 10,
            ..self.group_settings.clone()
        };
        let group = RaftGroup::start(
            group_id,
            self.raft_id,
            self.wal.log_store(group_id, durability_of(meta)),
            handler,
            &settings,
            &cluster.raft,
            Bootstrap::Join,
        )
        .await
        .map_err(EsError::from)?;
        Ok(crate::witness::WitnessHandle::new(ident, group))
    }

    /// Opens one shard's engine and starts its raft group; raft replays the log tail after the
    /// engine's last commit. The caller puts the handle in the shard map.
    pub(crate) async fn start_shard(&self, meta: &IndexMetadata, shard: u32) -> Result<Arc<ShardHandle>, EsError> {
        let mapping = Mapping::parse(&meta.mappings).map_err(EsError::from)?;
        let ident = ShardIdent { index: meta.name.clone(), index_uuid: meta.uuid.clone(), shard };
        let engine_opts = ShardOptions {
            ident: ident.clone(),
            path: self.shard_path(&meta.uuid, shard),
            mapping,
            analysis: meta.settings.analysis(),
            writer_memory_bytes: 32 << 20,
        };
        let engine = Arc::new(
            tokio::task::spawn_blocking(move || ShardEngine::open(engine_opts))
                .await
                .map_err(|e| EsError::internal(e.to_string()))??,
        );
        engine.set_merges_enabled(meta.settings.merges_enabled());
        let group_id = Self::group_id(&meta.uuid, shard);
        let log = self.wal.log_store(group_id, durability_of(meta));
        let handler = Arc::new(ShardStateMachine::new(engine.clone(), self.cluster.is_some()));
        if let Some(cluster) = &self.cluster {
            let bootstrap = self.bootstrap_of(&self.metadata(), &meta.uuid, shard);
            let started = RaftGroup::start(
                group_id,
                self.raft_id,
                log,
                handler.clone(),
                &self.group_settings,
                &cluster.raft,
                bootstrap,
            )
            .await;
            let group = match started {
                Ok(group) => group,
                // Another copy initialized the group and asked this one for its vote before this
                // one initialized: raft then refuses `initialize`. This copy is one of the voters
                // the others initialized with, so it simply joins and receives the log.
                Err(tern_raft::GroupError::Start { reason, .. }) if reason.contains("not allowed to initialize") => {
                    tracing::debug!(index = %meta.name, shard, "shard group already started elsewhere; joining it");
                    RaftGroup::start(
                        group_id,
                        self.raft_id,
                        self.wal.log_store(group_id, durability_of(meta)),
                        handler,
                        &self.group_settings,
                        &cluster.raft,
                        Bootstrap::Join,
                    )
                    .await
                    .map_err(EsError::from)?
                }
                Err(e) => return Err(e.into()),
            };
            return Ok(Arc::new(ShardHandle::new(ident, engine, group).with_forwarding(cluster.raft.client().clone())));
        }
        let group = RaftGroup::start_single(
            group_id,
            self.raft_id,
            &self.info.transport_address,
            log,
            handler,
            &self.group_settings,
        )
        .await
        .map_err(EsError::from)?;
        Ok(Arc::new(ShardHandle::new(ident, engine, group)))
    }

    /// Stops an index's shards (copies and witnesses); with `delete`, also removes their files and
    /// raft logs.
    pub(crate) async fn close_index_shards(&self, index_uuid: &str, delete: bool) {
        let _guard = self.shard_lifecycle.lock().await;
        let keys: Vec<ShardKey> = {
            let shards = self.shards.read();
            let witnesses = self.witnesses.read();
            let mut keys: Vec<ShardKey> =
                shards.keys().chain(witnesses.keys()).filter(|(u, _)| u == index_uuid).cloned().collect();
            keys.sort();
            keys.dedup();
            keys
        };
        for (uuid, shard) in keys {
            self.stop_shard(&uuid, shard, delete, false).await;
        }
        if delete
            && let Some(dir) = self.index_dir(index_uuid)
            && let Err(e) = std::fs::remove_dir_all(&dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %dir.display(), error = %e, "removing index files failed");
        }
    }

    /// Stops one shard's copy or witness on this node (the routing table moved it elsewhere); with
    /// `delete`, also removes its files and raft log. With `to_witness`, a data copy keeps its raft
    /// log for the witness this node becomes.
    pub(crate) async fn close_shard(&self, index_uuid: &str, shard: u32, delete: bool, to_witness: bool) {
        let _guard = self.shard_lifecycle.lock().await;
        self.stop_shard(index_uuid, shard, delete, to_witness).await;
    }

    async fn stop_shard(&self, uuid: &str, shard: u32, delete: bool, to_witness: bool) {
        let key = (uuid.to_string(), shard);
        let handle = self.shards.write().remove(&key);
        let witness = self.witnesses.write().remove(&key);
        let mut witness_marker = None;
        if let Some(handle) = handle {
            if (!delete || to_witness)
                && let Err(e) = handle.flush().await
            {
                tracing::warn!(index_uuid = %uuid, shard, error = %e.reason, "flush before close failed");
            }
            handle.group.shutdown().await;
            witness_marker = handle.engine.committed_marker();
            // Drop the tantivy writer (and its directory lock) now, not when the last handle goes.
            let engine = handle.engine.clone();
            match tokio::task::spawn_blocking(move || engine.release()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(index_uuid = %uuid, shard, error = %e.reason, "releasing the shard failed")
                }
                Err(e) => tracing::warn!(index_uuid = %uuid, shard, error = %e, "releasing the shard failed"),
            }
        }
        if let Some(w) = witness {
            w.group.shutdown().await;
        }
        if to_witness {
            // The copy becomes the group's witness: the raft log stays (this node's vote rests on
            // it), the witness starts from the engine's last durable marker, the index files go.
            if let (Some(dir), Some(marker)) = (self.index_dir(uuid), witness_marker) {
                let file = dir.join(format!("{shard}.witness"));
                if let Err(e) = crate::persist::write_atomic(&file, marker.as_bytes()) {
                    tracing::warn!(file = %file.display(), error = %e, "recording the witness marker failed");
                }
            }
            if let Some(dir) = self.shard_path(uuid, shard)
                && let Err(e) = std::fs::remove_dir_all(&dir)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(dir = %dir.display(), error = %e, "removing shard files failed");
            }
            return;
        }
        if delete {
            if let Err(e) = self.wal.drop_group(Self::group_id(uuid, shard)).await {
                tracing::warn!(index_uuid = %uuid, shard, error = %e, "dropping raft log failed");
            }
            if let Some(dir) = self.shard_path(uuid, shard)
                && let Err(e) = std::fs::remove_dir_all(&dir)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(dir = %dir.display(), error = %e, "removing shard files failed");
            }
            if let Some(dir) = self.index_dir(uuid) {
                let _ = std::fs::remove_file(dir.join(format!("{shard}.witness")));
            }
        }
    }

    pub(crate) fn shard(&self, index_uuid: &str, shard: u32) -> Option<Arc<ShardHandle>> {
        self.shards.read().get(&(index_uuid.to_string(), shard)).cloned()
    }

    /// The nodes holding a started data copy of a shard (this node's own copy included), in a
    /// stable order: the copies a read may go to and a write may be sent through. Empty on a lone
    /// node, whose copies are all local.
    pub fn copy_nodes(
        &self,
        meta: &tern_cluster::ClusterMetadata,
        index_uuid: &str,
        shard: u32,
    ) -> Vec<tern_cluster::DiscoveryNode> {
        if self.cluster.is_none() {
            return Vec::new();
        }
        let Some(alloc) = meta.shard_allocation(index_uuid, shard) else {
            return Vec::new();
        };
        alloc
            .copies
            .iter()
            .filter(|id| alloc.is_started(id))
            .filter_map(|id| {
                if *id == self.info.node_id { Some(self.local_discovery_node()) } else { meta.nodes.get(id).cloned() }
            })
            .collect()
    }

    pub(crate) fn index_shards(&self, index_uuid: &str) -> Vec<Arc<ShardHandle>> {
        let mut v: Vec<Arc<ShardHandle>> =
            self.shards.read().iter().filter(|((u, _), _)| u == index_uuid).map(|(_, h)| h.clone()).collect();
        v.sort_by_key(|h| h.ident.shard);
        v
    }

    pub(crate) fn all_shards(&self) -> Vec<Arc<ShardHandle>> {
        self.shards.read().values().cloned().collect()
    }

    /// Refreshes shards whose `refresh_interval` has elapsed since their last refresh.
    fn spawn_refresher(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let mut shutdown = self.shutdown.subscribe();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(REFRESH_TICK);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = shutdown.changed() => break,
                }
                let Some(node) = weak.upgrade() else { break };
                let meta = node.metadata();
                for handle in node.all_shards() {
                    let Some(im) = meta.indices.get(&handle.ident.index) else {
                        continue;
                    };
                    handle.engine.set_merges_enabled(im.settings.merges_enabled());
                    if handle.flush_due(FLUSH_AFTER) {
                        let h = handle.clone();
                        tokio::spawn(async move {
                            if let Err(e) = h.flush().await {
                                tracing::warn!(index = %h.ident.index, error = %e.reason, "periodic flush failed");
                            }
                        });
                    }
                    let Some(interval) = im.settings.refresh_interval() else {
                        continue;
                    };
                    // Due within half a tick counts as due: otherwise a 1 s interval on a 100 ms tick
                    // lands on the 11th tick whenever the 10th comes a hair early.
                    if handle.last_refresh.lock().elapsed() + REFRESH_TICK / 2 < interval
                        || !handle.engine.needs_refresh()
                    {
                        continue;
                    }
                    if let Err(e) = handle.refresh().await {
                        tracing::warn!(index = %handle.ident.index, shard = handle.ident.shard, error = %e.reason, "scheduled refresh failed");
                    }
                }
            }
        });
    }

    /// Graceful stop: refresh scheduler off, every shard flushed and its raft group stopped.
    pub async fn shutdown(&self) {
        self.shutdown.send_replace(true);
        let uuids: Vec<String> = {
            let shards = self.shards.read();
            let mut u: Vec<String> = shards.keys().map(|(u, _)| u.clone()).collect();
            u.dedup();
            u
        };
        for uuid in uuids {
            self.close_index_shards(&uuid, false).await;
        }
        if let Some(cluster) = &self.cluster {
            if let Some(group) = cluster.group() {
                group.shutdown().await;
            }
            cluster.server.shutdown().await;
        }
    }
}

pub(crate) fn durability_of(meta: &IndexMetadata) -> Durability {
    match meta.settings.translog_durability() {
        tern_cluster::TranslogDurability::Async => Durability::Async,
        _ => Durability::Request,
    }
}

pub fn now_millis() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// A 20-character URL-safe base64 id, the shape of ES's auto-generated document ids. The first six
/// bytes are the clock in milliseconds so ids made close in time share a prefix, which keeps the
/// term dictionary of `_id` compact, as ES's time-based ids do.
pub fn random_es_id() -> String {
    use base64::Engine;
    let mut bytes: [u8; 15] = rand::random();
    bytes[..6].copy_from_slice(&now_millis().to_be_bytes()[2..]);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A 22-character URL-safe base64 uuid (16 random bytes), the shape of ES's index, node and cluster
/// uuids.
pub fn random_uuid() -> String {
    use base64::Engine;
    let bytes: [u8; 16] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
