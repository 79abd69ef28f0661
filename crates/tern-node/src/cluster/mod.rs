//! A node in a multi-node cluster: discovery, bootstrap, the replicated metadata, the node registry
//! and write forwarding.
//!
//! # The model
//!
//! - **Transport.** Every node runs one `TransportServer` on `transport.port`. Besides raft's own
//!   service it serves the `cluster` service of this module: `hello` (discovery and fault
//!   detection), `join` (a node asks the master to admit it), `propose` (a metadata command
//!   forwarded to the master) and `shard` (a shard write forwarded to the shard group's leader).
//! - **Discovery.** A node says `hello` to every `discovery.seed_hosts` address; both sides learn
//!   each other's id, name, roles, attributes, addresses and raft id. A peer of another
//!   `cluster.name` is refused.
//! - **Metadata group.** The cluster metadata is raft group [`METADATA_GROUP`] over the
//!   master-eligible nodes (data-only nodes follow it as learners); its leader is the elected
//!   master. The node named first in `cluster.initial_master_nodes` bootstraps it, once, when it has
//!   discovered every initial master node, with those nodes as voters; it records that in
//!   `_state/bootstrapped.json`, and raft's own log makes a second `Initialize` a no-op anyway. The
//!   first master proposes the `cluster_uuid` (applied only if none is set, so it is created once).
//! - **Joining.** A node that is not in the replicated node registry (or is there with stale
//!   addresses) sends `join` to the master (directly, or through any peer, which forwards it). The
//!   master adds it to the metadata group (learner, then voter if master-eligible) and proposes
//!   `NodeJoined`. The master pings every registered node; after [`FAILURES_BEFORE_LEFT`] missed
//!   pings in a row it proposes `NodeLeft`. A returning node simply joins again.
//! - **Metadata writes.** [`Cluster::submit`] sends a command to the master (or proposes it when
//!   this node is the master) and waits until this node has applied the entry, so a caller reads
//!   its own write from the local copy.
//! - **Shards.** The pure state machine allocates every shard's copies (and a witness for a
//!   two-copy group) in its routing table (`tern_cluster::allocation`). Each shard is one raft
//!   group: the copies that created it initialize it, later ones join. The group's leader (the
//!   primary) brings the membership in line with the table ([`Node::shard_group_duties`]): new
//!   copies join as learners, vote once caught up and are reported started; dropped copies leave.
//!   A node opens and closes its copies as the table says ([`Node::reconcile_shards`]). Writes
//!   reach the leader from anywhere (`forward.rs`, and the `shard` method from a follower copy).

pub mod state_machine;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use tern_cluster::{ClusterMetadata, DiscoveryNode, MetadataCommand, MetadataOutcome};
use tern_common::{ErrorKind, EsError};
use tern_raft::{Bootstrap, GroupError, GroupSettings, RaftGroup, RaftTransport};
use tern_transport::{
    HandlerError, HandlerErrorKind, HandlerFuture, InboundRequest, ServiceHandler, TransportError, TransportServer,
};

use crate::node::{Node, ShardRole, now_millis, random_uuid};
use crate::persist::JsonFile;
use state_machine::{MetadataEntry, MetadataStateMachine, decode_reply};

/// The raft group id of the cluster metadata.
pub const METADATA_GROUP: u64 = 0;
/// The transport service of this module.
pub const CLUSTER_SERVICE: &str = "cluster";
/// Missed pings in a row after which the master drops a node from the registry.
pub const FAILURES_BEFORE_LEFT: u32 = 3;
/// How long a metadata write or a forwarded shard write waits for a master / leader.
pub const MASTER_TIMEOUT: Duration = Duration::from_secs(30);
const TICK: Duration = Duration::from_millis(250);
/// How long a copy the routing table dropped stays while its group still counts its vote.
const STALE_COPY_GRACE: Duration = Duration::from_secs(30);
/// How many log entries a new copy may trail its leader by and still be made a voter.
const CATCH_UP_SLACK: u64 = 64;
const PING_TIMEOUT: Duration = Duration::from_millis(1000);

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Hello {
    cluster_name: String,
    node: DiscoveryNode,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ProposeAnswer {
    /// The log index of the entry, so the proposer can wait until it applied it too.
    index: u64,
    reply: Vec<u8>,
}

/// How the cluster settings describe this node's start.
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    pub seed_hosts: Vec<String>,
    pub initial_master_nodes: Vec<String>,
}

impl ClusterSettings {
    pub fn from(settings: &tern_config::Settings) -> ClusterSettings {
        ClusterSettings {
            seed_hosts: settings.get_list("discovery.seed_hosts"),
            initial_master_nodes: settings.get_list("cluster.initial_master_nodes"),
        }
    }

    /// A lone node runs as before: no seeds, and no initial master other than itself.
    pub fn is_multi_node(&self, node_name: &str) -> bool {
        !self.seed_hosts.is_empty() || self.initial_master_nodes.iter().any(|n| n != node_name)
    }
}

/// The cluster side of a node running in a multi-node cluster.
pub struct Cluster {
    pub(crate) server: TransportServer,
    pub(crate) raft: RaftTransport,
    pub(crate) local: DiscoveryNode,
    cluster_name: String,
    settings: ClusterSettings,
    handler: Arc<MetadataStateMachine>,
    group: OnceLock<Arc<RaftGroup<MetadataStateMachine>>>,
    group_settings: GroupSettings,
    bootstrapped_file: JsonFile,
    /// Nodes discovered through `hello`, by node id.
    peers: RwLock<BTreeMap<String, DiscoveryNode>>,
    /// Missed pings per node (master only).
    failures: Mutex<HashMap<String, u32>>,
    /// Serializes joins on the master (raft allows one membership change at a time).
    join_lock: tokio::sync::Mutex<()>,
    join_in_flight: std::sync::atomic::AtomicBool,
    /// When this node's last join was accepted: it waits a little for the entry to reach it
    /// before asking again.
    last_join: Mutex<Option<Instant>>,
}

impl Cluster {
    /// Binds nothing: the caller bound `server`; this wires the raft and cluster services.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn start(
        server: TransportServer,
        raft: RaftTransport,
        local: DiscoveryNode,
        cluster_name: String,
        settings: ClusterSettings,
        handler: Arc<MetadataStateMachine>,
        state_dir: Option<std::path::PathBuf>,
        wal: &Arc<tern_raft::wal::Wal>,
    ) -> Result<Arc<Cluster>, EsError> {
        raft.serve(&server);
        let group_settings = GroupSettings {
            // The metadata group is small: never snapshot it, so a joining node always catches up
            // from the log (its state machine installs no snapshots).
            snapshot_every_logs: u64::MAX / 4,
            ..GroupSettings::default()
        };
        let bootstrapped_file = JsonFile::new(state_dir.map(|d| d.join("bootstrapped.json")));
        let cluster = Arc::new(Cluster {
            server,
            raft,
            local,
            cluster_name,
            settings,
            handler,
            group: OnceLock::new(),
            group_settings,
            bootstrapped_file,
            peers: RwLock::new(BTreeMap::new()),
            failures: Mutex::new(HashMap::new()),
            join_lock: tokio::sync::Mutex::new(()),
            join_in_flight: std::sync::atomic::AtomicBool::new(false),
            last_join: Mutex::new(None),
        });
        let bootstrapped = cluster.bootstrapped_file.load::<serde_json::Value>()?.is_some();
        if !cluster.is_bootstrapper() || bootstrapped {
            cluster.start_group(wal, Bootstrap::Join).await?;
        }
        Ok(cluster)
    }

    fn is_bootstrapper(&self) -> bool {
        self.settings.initial_master_nodes.first().is_some_and(|n| *n == self.local.name)
    }

    async fn start_group(&self, wal: &Arc<tern_raft::wal::Wal>, bootstrap: Bootstrap) -> Result<(), EsError> {
        if self.group.get().is_some() {
            return Ok(());
        }
        let log = wal.log_store(METADATA_GROUP, tern_raft::wal::Durability::Request);
        let group = RaftGroup::start(
            METADATA_GROUP,
            self.local.raft_id,
            log,
            self.handler.clone(),
            &self.group_settings,
            &self.raft,
            bootstrap,
        )
        .await
        .map_err(EsError::from)?;
        let _ = self.group.set(Arc::new(group));
        Ok(())
    }

    pub(crate) fn group(&self) -> Option<&Arc<RaftGroup<MetadataStateMachine>>> {
        self.group.get()
    }

    pub(crate) fn applied_watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.handler.applied.subscribe()
    }

    /// The elected master's raft id, as this node knows it.
    pub fn master_raft_id(&self) -> Option<u64> {
        let group = self.group()?;
        let m = group.metrics();
        if m.role == tern_raft::GroupRole::Candidate {
            return None;
        }
        m.leader
    }

    pub fn is_master(&self) -> bool {
        self.group().is_some_and(|g| g.is_leader())
    }

    /// Sends `cmd` to the master (or proposes it here on the master) and waits until this node
    /// applied it.
    pub(crate) async fn submit(&self, cmd: MetadataCommand) -> Result<MetadataOutcome, EsError> {
        let payload = MetadataEntry { command: cmd, now_millis: now_millis() }.encode();
        let deadline = Instant::now() + MASTER_TIMEOUT;
        loop {
            let attempt = self.try_submit(&payload).await;
            match attempt {
                Ok(Some(answer)) => {
                    if let Some(group) = self.group() {
                        group
                            .wait_applied(answer.index, MASTER_TIMEOUT)
                            .await
                            .map_err(|e| EsError::new(ErrorKind::Timeout, e.to_string()))?;
                    }
                    return decode_reply(&answer.reply);
                }
                Ok(None) => {}
                Err(e) => return Err(e),
            }
            if Instant::now() >= deadline {
                return Err(master_not_discovered(MASTER_TIMEOUT));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// One attempt: `Ok(None)` when there is no master to take it right now (retry).
    async fn try_submit(&self, payload: &[u8]) -> Result<Option<ProposeAnswer>, EsError> {
        let Some(group) = self.group() else {
            return Ok(None);
        };
        if group.is_leader() {
            return match group.propose_entry(payload.to_vec()).await {
                Ok(c) => Ok(Some(ProposeAnswer { index: c.position.index, reply: c.reply })),
                Err(GroupError::NotLeader { .. } | GroupError::NoLeader { .. }) => Ok(None),
                Err(e) => Err(e.into()),
            };
        }
        let Some(addr) = group.current_leader_addr() else {
            return Ok(None);
        };
        if addr == self.local.transport_address {
            return Ok(None);
        }
        match self
            .raft
            .client()
            .call(&addr, CLUSTER_SERVICE, METADATA_GROUP, "propose", payload.to_vec(), Some(MASTER_TIMEOUT))
            .await
        {
            Ok(bytes) => postcard::from_bytes::<ProposeAnswer>(&bytes)
                .map(Some)
                .map_err(|e| EsError::internal(format!("undecodable answer of the master: {e}"))),
            Err(TransportError::Remote { error, .. }) if error.kind == HandlerErrorKind::Unavailable => Ok(None),
            Err(TransportError::Remote { error, .. }) => Err(EsError::internal(error.message)),
            Err(TransportError::Timeout { .. }) => Err(EsError::new(
                ErrorKind::ProcessClusterEventTimeout,
                "the master did not answer in time; the outcome of the change is unknown",
            )),
            Err(_) => Ok(None),
        }
    }

    /// The registry as the REST layer shows it: the replicated registry, plus this node if it has
    /// not been admitted yet.
    pub fn nodes(&self, meta: &ClusterMetadata) -> Vec<DiscoveryNode> {
        let mut nodes: BTreeMap<String, DiscoveryNode> = meta.nodes.clone();
        nodes.entry(self.local.id.clone()).or_insert_with(|| self.local.clone());
        nodes.into_values().collect()
    }

    async fn hello(&self, addr: &str) -> Result<DiscoveryNode, TransportError> {
        let req = Hello { cluster_name: self.cluster_name.clone(), node: self.local.clone() };
        let answer: Hello =
            self.raft.client().call_typed(addr, CLUSTER_SERVICE, 0, "hello", &req, Some(PING_TIMEOUT)).await?;
        Ok(answer.node)
    }
}

fn master_not_discovered(waited: Duration) -> EsError {
    EsError::new(ErrorKind::StatusException, format!("master not discovered yet, waited [{}s]", waited.as_secs()))
        .with_status(503)
        .with_type("master_not_discovered_exception")
}

impl Node {
    /// The node registry to render (`_cat/nodes`, `_nodes`, `_cluster/state`): the cluster's, or
    /// this node alone.
    pub fn cluster_nodes(&self) -> Vec<DiscoveryNode> {
        match &self.cluster {
            Some(c) => c.nodes(&self.metadata()),
            None => vec![self.local_discovery_node()],
        }
    }

    /// The id of the elected master (this node on a single node); `None` while there is none.
    pub fn master_node_id(&self) -> Option<String> {
        let Some(c) = &self.cluster else {
            return Some(self.info.node_id.clone());
        };
        let raft_id = c.master_raft_id()?;
        if raft_id == self.raft_id {
            return Some(self.info.node_id.clone());
        }
        self.metadata().node_by_raft_id(raft_id).map(|n| n.id.clone())
    }

    /// The metadata group's term and voters (node ids; a raft id whose node is not in the registry
    /// is shown as the number), ES's `cluster_coordination` `term` and `last_committed_config`. A
    /// lone node is its own single voter in term 1.
    pub fn voting_config(&self) -> (u64, Vec<String>) {
        let Some(group) = self.cluster.as_ref().and_then(|c| c.group()) else {
            return (1, vec![self.info.node_id.clone()]);
        };
        let m = group.metrics();
        let meta = self.metadata();
        let voters = m
            .membership
            .voters
            .iter()
            .map(|raft_id| match meta.node_by_raft_id(*raft_id) {
                Some(n) => n.id.clone(),
                None if *raft_id == self.raft_id => self.info.node_id.clone(),
                None => raft_id.to_string(),
            })
            .collect();
        (m.term, voters)
    }

    /// Whether this node is the elected master (a lone node always is): cluster-wide background
    /// work (a plugin's metadata upkeep, say) runs there only, once.
    pub fn is_elected_master(&self) -> bool {
        match &self.cluster {
            Some(c) => c.is_master(),
            None => true,
        }
    }

    /// Whether this node holds a data copy of shard `shard` of index `index`.
    pub fn holds_copy(&self, index: &str, shard: u32) -> bool {
        let meta = self.metadata();
        meta.indices.get(index).is_some_and(|im| self.shard(&im.uuid, shard).is_some())
    }

    /// Whether this node runs in a multi-node cluster.
    pub fn is_clustered(&self) -> bool {
        self.cluster.is_some()
    }

    pub fn local_discovery_node(&self) -> DiscoveryNode {
        DiscoveryNode {
            id: self.info.node_id.clone(),
            name: self.info.node_name.clone(),
            roles: self.info.roles.clone(),
            attributes: self.info.attributes.clone(),
            transport_address: self.info.transport_address.clone(),
            http_address: self.info.http_address.clone(),
            raft_id: self.raft_id,
        }
    }

    /// Registers the transport services and starts the cluster's background loop.
    pub(crate) fn start_cluster_services(self: &Arc<Self>) {
        let Some(cluster) = self.cluster.clone() else {
            return;
        };
        cluster.server.register(CLUSTER_SERVICE, Arc::new(ClusterRpc { node: Arc::downgrade(self) }));
        crate::shard_rpc::register(self);
        crate::recovery::register(self, &cluster.server);
        let weak = Arc::downgrade(self);
        let mut shutdown = self.shutdown_watch();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = shutdown.changed() => break,
                }
                let Some(node) = weak.upgrade() else { break };
                node.cluster_tick(&cluster).await;
            }
        });
        // The shard reconciler: opens and closes shard copies as the applied metadata says.
        let weak = Arc::downgrade(self);
        let mut applied = self.cluster.as_ref().map(|c| c.applied_watch()).expect("cluster");
        let mut shutdown = self.shutdown_watch();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    r = applied.changed() => if r.is_err() { break },
                    _ = shutdown.changed() => break,
                }
                let Some(node) = weak.upgrade() else { break };
                node.reconcile_shards().await;
                node.shard_group_duties().await;
            }
        });
    }

    async fn cluster_tick(self: &Arc<Self>, c: &Arc<Cluster>) {
        // Discovery: hello to every seed not known yet.
        let known: Vec<String> = c.peers.read().values().map(|p| p.transport_address.clone()).collect();
        let seeds: Vec<String> = c
            .settings
            .seed_hosts
            .iter()
            .filter(|s| **s != c.local.transport_address && !known.contains(s))
            .cloned()
            .collect();
        let hellos = seeds.iter().map(|s| c.hello(s));
        for (seed, r) in seeds.iter().zip(futures::future::join_all(hellos).await) {
            match r {
                Ok(peer) => {
                    tracing::info!(peer.name = %peer.name, peer.address = %peer.transport_address, "discovered a node");
                    c.peers.write().insert(peer.id.clone(), peer);
                }
                Err(TransportError::Remote { error, .. }) if error.kind == HandlerErrorKind::BadRequest => {
                    tracing::warn!(seed, reason = %error.message, "seed host refused this node");
                }
                Err(e) => tracing::debug!(seed, error = %e, "seed host not reachable"),
            }
        }
        // Bootstrap, once, when every initial master node is known.
        if c.group().is_none() && c.is_bootstrapper() {
            let peers = c.peers.read().clone();
            let mut voters = BTreeMap::new();
            for name in &c.settings.initial_master_nodes {
                if *name == c.local.name {
                    voters.insert(c.local.raft_id, c.local.transport_address.clone());
                } else if let Some(p) = peers.values().find(|p| p.name == *name) {
                    voters.insert(p.raft_id, p.transport_address.clone());
                }
            }
            if voters.len() == c.settings.initial_master_nodes.len() {
                tracing::info!(?voters, "bootstrapping the cluster");
                match c.start_group(&self.wal, Bootstrap::Initialize(voters)).await {
                    Ok(()) => {
                        if let Err(e) = c.bootstrapped_file.store(&serde_json::json!({"bootstrapped_at": now_millis()}))
                        {
                            tracing::warn!(error = %e.reason, "recording the bootstrap failed");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e.reason, "bootstrapping the cluster failed"),
                }
            }
        }
        let Some(group) = c.group().cloned() else {
            return;
        };
        let meta = self.metadata();
        // Join (or rejoin with new addresses).
        let recently_joined = c.last_join.lock().is_some_and(|at| at.elapsed() < Duration::from_secs(2));
        if meta.nodes.get(&c.local.id) != Some(&c.local)
            && !recently_joined
            && !c.join_in_flight.swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            let node = self.clone();
            let c2 = c.clone();
            tokio::spawn(async move {
                match node.send_join(&c2).await {
                    Ok(()) => *c2.last_join.lock() = Some(Instant::now()),
                    Err(e) => tracing::debug!(error = %e.reason, "joining the cluster failed; retrying"),
                }
                c2.join_in_flight.store(false, std::sync::atomic::Ordering::SeqCst);
            });
        }
        if !group.is_leader() {
            c.failures.lock().clear();
            return;
        }
        // Master duties: the cluster uuid, and fault detection.
        if meta.cluster_uuid.is_empty() || meta.cluster_uuid == "_na_" {
            let cmd = MetadataCommand::SetClusterUuid { cluster_uuid: random_uuid() };
            if let Err(e) = c.submit(cmd).await {
                tracing::warn!(error = %e.reason, "setting the cluster uuid failed");
            }
        }
        let others: Vec<DiscoveryNode> = meta.nodes.values().filter(|n| n.id != c.local.id).cloned().collect();
        let pings = others.iter().map(|n| c.hello(&n.transport_address));
        let results = futures::future::join_all(pings).await;
        for (n, r) in others.iter().zip(results) {
            let failed = match r {
                Ok(seen) => seen.id != n.id,
                Err(_) => true,
            };
            let count = {
                let mut f = c.failures.lock();
                let e = f.entry(n.id.clone()).or_insert(0);
                *e = if failed { *e + 1 } else { 0 };
                *e
            };
            if count == FAILURES_BEFORE_LEFT {
                tracing::info!(node.name = %n.name, "node left the cluster (no answer to pings)");
                let node = self.clone();
                let id = n.id.clone();
                tokio::spawn(async move {
                    if let Some(c) = &node.cluster
                        && let Err(e) = c.submit(MetadataCommand::NodeLeft { node_id: id }).await
                    {
                        tracing::warn!(error = %e.reason, "removing a node failed");
                    }
                });
            }
        }
    }

    /// Asks the master to admit this node: directly when the master is known, else through a
    /// peer (which forwards to the master it knows).
    async fn send_join(&self, c: &Arc<Cluster>) -> Result<(), EsError> {
        let req = Hello { cluster_name: c.cluster_name.clone(), node: c.local.clone() };
        let body = postcard::to_stdvec(&req).map_err(|e| EsError::internal(e.to_string()))?;
        if c.is_master() {
            return self.handle_join(req.node).await;
        }
        let mut targets: Vec<String> = Vec::new();
        if let Some(addr) = c.group().and_then(|g| g.current_leader_addr()) {
            targets.push(addr);
        }
        targets.extend(c.peers.read().values().map(|p| p.transport_address.clone()));
        targets.extend(c.settings.seed_hosts.iter().cloned());
        targets.retain(|t| *t != c.local.transport_address);
        targets.dedup();
        let mut last = EsError::internal("no node to join through");
        for t in targets {
            match c.raft.client().call(&t, CLUSTER_SERVICE, 0, "join", body.clone(), Some(MASTER_TIMEOUT)).await {
                Ok(_) => return Ok(()),
                Err(e) => last = EsError::internal(e.to_string()),
            }
        }
        Err(last)
    }

    /// On the master: adds the node to the metadata group and the registry.
    async fn handle_join(&self, joining: DiscoveryNode) -> Result<(), EsError> {
        let Some(c) = &self.cluster else {
            return Err(EsError::internal("not clustered"));
        };
        let Some(group) = c.group().cloned() else {
            return Err(master_not_discovered(Duration::ZERO));
        };
        let _guard = c.join_lock.lock().await;
        if joining.id != c.local.id {
            let m = group.metrics();
            if !m.membership.nodes.contains_key(&joining.raft_id) {
                tracing::info!(node.name = %joining.name, "adding a node to the metadata group");
                group.add_learner(joining.raft_id, &joining.transport_address, false).await.map_err(EsError::from)?;
            }
            let m = group.metrics();
            if joining.is_master_eligible() && !m.membership.voters.contains(&joining.raft_id) {
                let mut voters = m.membership.voters.clone();
                voters.insert(joining.raft_id);
                group
                    .wait_for(Duration::from_secs(10), "the joining node to catch up", |m| {
                        m.membership.nodes.contains_key(&joining.raft_id)
                    })
                    .await
                    .map_err(EsError::from)?;
                group.change_membership(voters, true).await.map_err(EsError::from)?;
            }
        }
        tracing::info!(node.name = %joining.name, node.id = %joining.id, "node joined");
        c.submit(MetadataCommand::NodeJoined { node: joining }).await?;
        Ok(())
    }

    /// Proposes an entry forwarded by another node (this node must be the master).
    async fn handle_forwarded_proposal(&self, payload: Bytes) -> Result<Bytes, HandlerError> {
        let c = self.cluster.as_ref().ok_or_else(|| HandlerError::unavailable("not clustered"))?;
        let group = c.group().ok_or_else(|| HandlerError::unavailable("no metadata group yet"))?;
        if !group.is_leader() {
            return Err(HandlerError::unavailable("not the master"));
        }
        match group.propose_entry(payload.to_vec()).await {
            Ok(committed) => {
                let answer = ProposeAnswer { index: committed.position.index, reply: committed.reply };
                postcard::to_stdvec(&answer).map(Bytes::from).map_err(|e| HandlerError::internal(e.to_string()))
            }
            Err(GroupError::NotLeader { .. } | GroupError::NoLeader { .. }) => {
                Err(HandlerError::unavailable("not the master"))
            }
            Err(e) => Err(HandlerError::internal(e.to_string())),
        }
    }

    /// Proposes a shard command forwarded by another node on this node's copy (its leader).
    async fn handle_forwarded_shard_write(&self, group_id: u64, payload: Bytes) -> Result<Bytes, HandlerError> {
        let Some(handle) = self.all_shards().into_iter().find(|h| h.group.id == group_id) else {
            // A leading witness takes no writes; it hands over to a data copy within a tick.
            if self.witnesses.read().values().any(|w| w.group.id == group_id) {
                return Err(HandlerError::unavailable("a witness leads the shard group; retry on its next leader"));
            }
            return Err(HandlerError::unknown_target(format!("no shard group {group_id} on this node")));
        };
        if !handle.group.is_leader() {
            return Err(HandlerError::unavailable("not the primary"));
        }
        match handle.group.propose(payload.to_vec()).await {
            Ok((_term, reply)) => Ok(Bytes::from(reply)),
            Err(GroupError::NotLeader { .. } | GroupError::NoLeader { .. }) => {
                Err(HandlerError::unavailable("not the primary"))
            }
            Err(e) => Err(HandlerError::internal(e.to_string())),
        }
    }

    /// Waits until this node has applied every metadata change the master had committed when
    /// called: a request that reads cluster state right after another node changed it (the
    /// settings a plugin reads, say) sees the change. A no-op on the master and on a lone node.
    pub async fn catch_up_metadata(&self) -> Result<(), EsError> {
        let Some(c) = &self.cluster else { return Ok(()) };
        let Some(group) = c.group() else { return Ok(()) };
        if group.is_leader() {
            return Ok(());
        }
        let Some(addr) = group.current_leader_addr() else {
            return Err(master_not_discovered(Duration::ZERO));
        };
        let bytes = c
            .raft
            .client()
            .call(&addr, CLUSTER_SERVICE, METADATA_GROUP, "read_index", Vec::new(), Some(PING_TIMEOUT))
            .await
            .map_err(|e| EsError::new(ErrorKind::StatusException, e.to_string()).with_status(503))?;
        let index: u64 = postcard::from_bytes(&bytes).map_err(|e| EsError::internal(e.to_string()))?;
        group
            .wait_applied(index, MASTER_TIMEOUT)
            .await
            .map(|_| ())
            .map_err(|e| EsError::new(ErrorKind::Timeout, e.to_string()))
    }

    /// On a shard group's leader: its commit index, for a follower's read barrier.
    fn handle_read_index(&self, group_id: u64) -> Result<Bytes, HandlerError> {
        if group_id == METADATA_GROUP {
            let group = self
                .cluster
                .as_ref()
                .and_then(|c| c.group())
                .ok_or_else(|| HandlerError::unavailable("no metadata group yet"))?;
            let m = group.metrics();
            if !m.is_leader() {
                return Err(HandlerError::unavailable("not the master"));
            }
            let index = m.committed.map_or(0, |p| p.index);
            return postcard::to_stdvec(&index).map(Bytes::from).map_err(|e| HandlerError::internal(e.to_string()));
        }
        let handle = self
            .all_shards()
            .into_iter()
            .find(|h| h.group.id == group_id)
            .ok_or_else(|| HandlerError::unknown_target(format!("no shard group {group_id} on this node")))?;
        let m = handle.group.metrics();
        if !m.is_leader() {
            return Err(HandlerError::unavailable("not the primary"));
        }
        let index = m.committed.map_or(0, |p| p.index);
        postcard::to_stdvec(&index).map(Bytes::from).map_err(|e| HandlerError::internal(e.to_string()))
    }

    /// Opens the shard copies and witnesses the routing table assigns to this node and closes
    /// those it no longer does.
    pub(crate) async fn reconcile_shards(&self) {
        let meta = self.metadata();
        for im in meta.indices.values().filter(|im| im.is_open()) {
            let wanted = (0..im.number_of_shards()).any(|shard| {
                let key = (im.uuid.clone(), shard);
                match self.shard_role(&meta, &im.uuid, shard) {
                    ShardRole::Copy => !self.shards.read().contains_key(&key),
                    ShardRole::Witness => !self.witnesses.read().contains_key(&key),
                    ShardRole::None => false,
                }
            });
            if wanted && let Err(e) = self.open_index_shards(im).await {
                tracing::warn!(index = %im.name, error = %e.reason, "opening a shard copy failed");
            }
        }
        let local: Vec<(String, u32)> = {
            let mut v: Vec<(String, u32)> =
                self.shards.read().keys().chain(self.witnesses.read().keys()).cloned().collect();
            v.sort();
            v.dedup();
            v
        };
        // Read the metadata again *after* listing the local copies: a copy is opened only once its
        // index is in the local metadata, so an index missing from this newer state was deleted
        // (the older snapshot above may predate an index created meanwhile).
        let meta = self.metadata();
        let mut gone_indices: Vec<String> = Vec::new();
        for (uuid, shard) in local {
            match meta.indices.values().find(|im| im.uuid == uuid) {
                None => gone_indices.push(uuid),
                Some(im) if !im.is_open() => gone_indices.push(uuid),
                Some(_) => {
                    let role = self.shard_role(&meta, &uuid, shard);
                    let key = (uuid.clone(), shard);
                    let stale_copy = role != ShardRole::Copy && self.shards.read().contains_key(&key);
                    let stale_witness = role != ShardRole::Witness && self.witnesses.read().contains_key(&key);
                    if stale_witness && role == ShardRole::Copy {
                        // The witness becomes a copy in place: it keeps the raft log (its vote rests on
                        // it) and the new index replays it.
                        tracing::info!(index_uuid = %uuid, shard, "this node's witness becomes a data copy");
                        self.close_shard(&uuid, shard, false, false).await;
                        if let Some(dir) = self.index_dir(&uuid) {
                            let _ = std::fs::remove_file(dir.join(format!("{shard}.witness")));
                        }
                    } else if stale_copy && role == ShardRole::None && self.keep_stale_copy(&uuid, shard) {
                        // Still a voter of its group: the table may give it back at once (a node
                        // that left and returned), and then its log spares a full copy.
                    } else if stale_copy || stale_witness {
                        tracing::info!(index_uuid = %uuid, shard, ?role, "the routing table moved this shard copy away; removing it");
                        self.close_shard(&uuid, shard, true, stale_copy && role == ShardRole::Witness).await;
                    }
                }
            }
        }
        gone_indices.dedup();
        for uuid in gone_indices {
            let deleted = !meta.indices.values().any(|im| im.uuid == uuid);
            self.close_index_shards(&uuid, deleted).await;
        }
    }

    /// Whether a copy the routing table dropped is kept a little longer: while its group still
    /// counts it as a voter, for up to [`STALE_COPY_GRACE`].
    fn keep_stale_copy(&self, uuid: &str, shard: u32) -> bool {
        let key = (uuid.to_string(), shard);
        let voter =
            self.shard(uuid, shard).is_some_and(|h| h.group.metrics().membership.voters.contains(&self.raft_id));
        let mut stale = self.stale_copies.lock();
        if !voter {
            stale.remove(&key);
            return false;
        }
        let since = *stale.entry(key.clone()).or_insert_with(Instant::now);
        if since.elapsed() < STALE_COPY_GRACE {
            return true;
        }
        stale.remove(&key);
        false
    }

    /// The work of a shard group's leader and witness, every tick: a leading witness hands over to
    /// a data copy; a leading copy brings the group's membership in line with the routing table
    /// (new copies join as learners, become voters once caught up and are reported started; copies
    /// the table dropped leave the group).
    pub(crate) async fn shard_group_duties(&self) {
        let meta = self.metadata();
        let raft_of = |id: &String| -> Option<(u64, String)> {
            if *id == self.info.node_id {
                return Some((self.raft_id, self.info.transport_address.clone()));
            }
            meta.nodes.get(id).map(|n| (n.raft_id, n.transport_address.clone()))
        };
        let witnesses: Vec<_> = self.witnesses.read().values().cloned().collect();
        for w in witnesses {
            let Some(alloc) = meta.shard_allocation(&w.ident.index_uuid, w.ident.shard) else { continue };
            let data: Vec<u64> = alloc.copies.iter().filter_map(|c| raft_of(c).map(|(r, _)| r)).collect();
            w.hand_over(&data).await;
        }
        for h in self.all_shards() {
            let m = h.group.metrics();
            if !m.is_leader() || m.membership.joint {
                continue;
            }
            let Some(alloc) = meta.shard_allocation(&h.ident.index_uuid, h.ident.shard).cloned() else { continue };
            let term_known = meta
                .indices
                .values()
                .find(|im| im.uuid == h.ident.index_uuid)
                .and_then(|im| im.primary_terms.get(h.ident.shard as usize))
                .is_some_and(|t| *t >= m.term);
            if (alloc.primary.as_deref() != Some(self.info.node_id.as_str()) || !term_known)
                && alloc.copies.contains(&self.info.node_id)
                && let Some(c) = &self.cluster
            {
                let cmd = MetadataCommand::PrimaryElected {
                    index_uuid: h.ident.index_uuid.clone(),
                    shard: h.ident.shard,
                    node_id: self.info.node_id.clone(),
                    term: m.term,
                };
                if let Err(e) = c.submit(cmd).await {
                    tracing::debug!(index = %h.ident.index, error = %e.reason, "recording the primary failed");
                }
            }
            if let Err(e) = self.reconcile_group(&h, &alloc, &m, &raft_of).await {
                tracing::debug!(index = %h.ident.index, shard = h.ident.shard, error = %e.reason, "shard group membership change deferred");
            }
        }
    }

    async fn reconcile_group(
        &self,
        h: &Arc<crate::shard::ShardHandle>,
        alloc: &tern_cluster::ShardAllocation,
        m: &tern_raft::GroupMetrics,
        raft_of: &(dyn Fn(&String) -> Option<(u64, String)> + Sync),
    ) -> Result<(), EsError> {
        let Some(c) = &self.cluster else { return Ok(()) };
        let me = &self.info.node_id;
        // Members the table wants: every copy and the witness.
        let mut members: BTreeMap<u64, (String, String)> = BTreeMap::new();
        for id in alloc.copies.iter().chain(alloc.witness.iter()) {
            if let Some((raft, addr)) = raft_of(id) {
                members.insert(raft, (id.clone(), addr));
            }
        }
        for (raft, (_, addr)) in &members {
            if !m.membership.nodes.contains_key(raft) {
                h.group.add_learner(*raft, addr, false).await.map_err(EsError::from)?;
                return Ok(());
            }
        }
        // The voters: the members that already vote, and those that caught up (a copy or witness
        // votes only once it holds nearly the whole log, so adding it never stalls commits).
        let last = m.last_log_index.unwrap_or(0);
        let mut voters: BTreeSet<u64> = BTreeSet::new();
        let mut newly_started: Vec<String> = Vec::new();
        for (raft, (id, _)) in &members {
            let caught_up = *raft == self.raft_id || m.matched.get(raft).is_some_and(|i| i + CATCH_UP_SLACK >= last);
            let votes = m.membership.voters.contains(raft) || caught_up;
            if votes {
                voters.insert(*raft);
            }
            let unreported = if alloc.copies.contains(id) {
                !alloc.is_started(id)
            } else {
                alloc.witness.as_ref() == Some(id) && !alloc.witness_started
            };
            if votes && unreported {
                newly_started.push(id.clone());
            }
        }
        if !alloc.copies.contains(me) {
            // This copy is leaving: hand leadership to a started copy that holds the whole log.
            if let Some(to) = alloc
                .copies
                .iter()
                .filter(|id| alloc.is_started(id))
                .filter_map(|id| raft_of(id).map(|(r, _)| r))
                .find(|r| m.matched.get(r).is_some_and(|i| *i >= last))
            {
                h.group.transfer_leader(to).await.map_err(EsError::from)?;
            }
            return Ok(());
        }
        let stale: BTreeSet<u64> = m.membership.nodes.keys().filter(|r| !members.contains_key(r)).copied().collect();
        if voters != m.membership.voters || !stale.is_empty() {
            tracing::info!(index = %h.ident.index, shard = h.ident.shard, ?voters, ?stale, "changing shard group membership");
            h.group.change_membership(voters.clone(), false).await.map_err(EsError::from)?;
            if !stale.is_empty() {
                h.group.remove_members(stale).await.map_err(EsError::from)?;
            }
        }
        for id in newly_started {
            let raft = raft_of(&id).map(|(r, _)| r);
            if raft.is_some_and(|r| voters.contains(&r)) {
                let cmd = MetadataCommand::ShardStarted {
                    index_uuid: h.ident.index_uuid.clone(),
                    shard: h.ident.shard,
                    node_id: id,
                };
                c.submit(cmd).await?;
            }
        }
        Ok(())
    }
}

/// The `cluster` transport service.
struct ClusterRpc {
    node: Weak<Node>,
}

impl ServiceHandler for ClusterRpc {
    fn handle(&self, request: InboundRequest) -> HandlerFuture {
        let node = self.node.clone();
        Box::pin(async move {
            let node = node.upgrade().ok_or_else(|| HandlerError::unavailable("node is shutting down"))?;
            let cluster = node.cluster.clone().ok_or_else(|| HandlerError::unavailable("not clustered"))?;
            match request.method.as_str() {
                "hello" => {
                    let hello: Hello =
                        postcard::from_bytes(&request.body).map_err(|e| HandlerError::bad_request(e.to_string()))?;
                    if hello.cluster_name != cluster.cluster_name {
                        return Err(HandlerError::bad_request(format!(
                            "cluster name mismatch: this node is in cluster [{}], the caller in [{}]",
                            cluster.cluster_name, hello.cluster_name
                        )));
                    }
                    if hello.node.id != cluster.local.id {
                        cluster.peers.write().insert(hello.node.id.clone(), hello.node.clone());
                    }
                    let answer = Hello { cluster_name: cluster.cluster_name.clone(), node: cluster.local.clone() };
                    postcard::to_stdvec(&answer).map(Bytes::from).map_err(|e| HandlerError::internal(e.to_string()))
                }
                "join" => {
                    let hello: Hello =
                        postcard::from_bytes(&request.body).map_err(|e| HandlerError::bad_request(e.to_string()))?;
                    if hello.cluster_name != cluster.cluster_name {
                        return Err(HandlerError::bad_request("cluster name mismatch"));
                    }
                    if cluster.is_master() {
                        node.handle_join(hello.node).await.map_err(|e| HandlerError::internal(e.reason))?;
                        return Ok(Bytes::new());
                    }
                    // Forward to the master this node knows.
                    let Some(addr) = cluster.group().and_then(|g| g.current_leader_addr()) else {
                        return Err(HandlerError::unavailable("no master known"));
                    };
                    if addr == cluster.local.transport_address || Some(addr.as_str()) == request.from.as_deref() {
                        return Err(HandlerError::unavailable("no master known"));
                    }
                    cluster
                        .raft
                        .client()
                        .call(&addr, CLUSTER_SERVICE, 0, "join", request.body, Some(MASTER_TIMEOUT))
                        .await
                        .map_err(|e| HandlerError::unavailable(e.to_string()))
                }
                "propose" => node.handle_forwarded_proposal(request.body).await,
                "shard" => node.handle_forwarded_shard_write(request.group, request.body).await,
                "write" => node.handle_forwarded_write(request.group, request.body).await,
                "read_index" => node.handle_read_index(request.group),
                other => Err(HandlerError::bad_request(format!("unknown cluster method [{other}]"))),
            }
        })
    }
}
