//! A real-socket test cluster: every node has its own transport server on `127.0.0.1:0`, its own
//! write-ahead log in a temp dir and its own raft groups; all nodes' clients share one fault filter.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tern_raft::wal::{Wal, WalOptions};
use tern_raft::{
    ApplyHandler, Bootstrap, GroupId, GroupMetrics, GroupRole, GroupSettings, LocalSnapshot, RaftGroup, RaftTransport,
};
use tern_transport::{ClientOptions, FaultFilter, ServerOptions, TransportClient, TransportServer};

/// An in-memory state machine. It survives a node "restart" (the test keeps the `Arc`), like a
/// persistent one would, and reports the marker of its last apply as durable.
#[derive(Default)]
pub struct TestHandler {
    /// Every applied proposal: (term, payload).
    pub applied: Mutex<Vec<(u64, Vec<u8>)>>,
    pub marker: Mutex<Option<String>>,
    /// Whether snapshots can be installed.
    pub installs_snapshots: bool,
    /// Snapshots installed.
    pub installed: Mutex<Vec<LocalSnapshot>>,
    /// How often a snapshot was offered (the network asks before installing).
    pub snapshot_offers: AtomicU64,
}

impl TestHandler {
    pub fn installing() -> TestHandler {
        TestHandler { installs_snapshots: true, ..TestHandler::default() }
    }

    pub fn payloads(&self) -> Vec<Vec<u8>> {
        self.applied.lock().iter().map(|(_, p)| p.clone()).collect()
    }
}

impl ApplyHandler for TestHandler {
    fn apply(&self, term: u64, marker: String, payload: &[u8]) -> Vec<u8> {
        self.applied.lock().push((term, payload.to_vec()));
        *self.marker.lock() = Some(marker);
        [b"ok:".as_slice(), payload].concat()
    }

    fn advance(&self, marker: String) {
        *self.marker.lock() = Some(marker);
    }

    fn durable_marker(&self) -> Option<String> {
        self.marker.lock().clone()
    }

    fn persist(&self) -> Result<Option<String>, String> {
        Ok(self.marker.lock().clone())
    }

    fn can_install_snapshot(&self) -> bool {
        self.snapshot_offers.fetch_add(1, Ordering::SeqCst);
        self.installs_snapshots
    }

    fn install_snapshot(&self, snapshot: &LocalSnapshot) -> Result<(), String> {
        if !self.installs_snapshots {
            return Err("cannot install".into());
        }
        self.installed.lock().push(snapshot.clone());
        *self.marker.lock() = snapshot.marker.clone();
        Ok(())
    }
}

pub struct Node {
    pub id: u64,
    pub addr: String,
    dir: PathBuf,
    server: Option<TransportServer>,
    transport: Option<RaftTransport>,
    wal: Option<Arc<Wal>>,
    pub groups: BTreeMap<GroupId, RaftGroup<TestHandler>>,
    /// Handlers outlive restarts.
    pub handlers: BTreeMap<GroupId, Arc<TestHandler>>,
}

impl Node {
    pub fn is_up(&self) -> bool {
        self.server.is_some()
    }

    pub fn server(&self) -> &TransportServer {
        self.server.as_ref().expect("node is up")
    }

    pub fn transport(&self) -> &RaftTransport {
        self.transport.as_ref().expect("node is up")
    }
}

pub struct Cluster {
    pub filter: FaultFilter,
    pub nodes: BTreeMap<u64, Node>,
    pub settings: GroupSettings,
    _tmp: tempfile::TempDir,
}

async fn bring_up(addr: &str, filter: &FaultFilter, dir: &Path) -> (TransportServer, RaftTransport, Arc<Wal>) {
    let server = TransportServer::bind(addr, ServerOptions::default()).await.expect("bind transport");
    let addr = server.local_addr().to_string();
    let client = TransportClient::with_fault_filter(addr, ClientOptions::default(), filter.clone()).expect("client");
    let transport = RaftTransport::new(client);
    transport.serve(&server);
    let wal = Wal::open(dir, WalOptions::default()).expect("open wal");
    (server, transport, wal)
}

impl Cluster {
    /// Nodes `1..=n`, each with a transport bound on a free loopback port and an empty log.
    pub async fn new(n: u64, settings: GroupSettings) -> Cluster {
        let tmp = tempfile::tempdir().expect("tempdir");
        let filter = FaultFilter::new();
        let mut nodes = BTreeMap::new();
        for id in 1..=n {
            let dir = tmp.path().join(format!("node-{id}"));
            std::fs::create_dir_all(&dir).expect("mkdir");
            let (server, transport, wal) = bring_up("127.0.0.1:0", &filter, &dir).await;
            let addr = server.local_addr().to_string();
            nodes.insert(
                id,
                Node {
                    id,
                    addr,
                    dir,
                    server: Some(server),
                    transport: Some(transport),
                    wal: Some(wal),
                    groups: BTreeMap::new(),
                    handlers: BTreeMap::new(),
                },
            );
        }
        Cluster { filter, nodes, settings, _tmp: tmp }
    }

    pub fn addr(&self, node: u64) -> String {
        self.nodes[&node].addr.clone()
    }

    pub fn node(&self, node: u64) -> &Node {
        &self.nodes[&node]
    }

    pub fn group(&self, node: u64, group: GroupId) -> &RaftGroup<TestHandler> {
        &self.nodes[&node].groups[&group]
    }

    pub fn handler(&self, node: u64, group: GroupId) -> Arc<TestHandler> {
        self.nodes[&node].handlers[&group].clone()
    }

    pub fn up_nodes(&self) -> Vec<u64> {
        self.nodes.values().filter(|n| n.is_up()).map(|n| n.id).collect()
    }

    /// Starts `group` on `node`, creating its handler on first use.
    pub async fn start_on(&mut self, node: u64, group: GroupId, bootstrap: Bootstrap, handler: Option<TestHandler>) {
        let settings = self.settings.clone();
        let n = self.nodes.get_mut(&node).expect("node");
        let handler = match handler {
            Some(h) => {
                n.handlers.insert(group, Arc::new(h));
                n.handlers[&group].clone()
            }
            None => n.handlers.entry(group).or_default().clone(),
        };
        let wal = n.wal.as_ref().expect("node is up");
        let log = wal.log_store(group, tern_raft::wal::Durability::Request);
        let raft = RaftGroup::start(group, node, log, handler, &settings, n.transport(), bootstrap)
            .await
            .expect("start group");
        n.groups.insert(group, raft);
    }

    /// Starts `group` with `voters` on every voter: the first initializes, the others join.
    pub async fn start_group(&mut self, group: GroupId, voters: &[u64]) {
        let members: BTreeMap<u64, String> = voters.iter().map(|v| (*v, self.addr(*v))).collect();
        for (i, v) in voters.iter().enumerate() {
            let bootstrap = if i == 0 { Bootstrap::Initialize(members.clone()) } else { Bootstrap::Join };
            self.start_on(*v, group, bootstrap, None).await;
        }
    }

    /// Waits until every node in `among` runs `group`, agrees on one leader that is in `among`,
    /// and that leader says it leads and has been acknowledged by a quorum. Returns the leader.
    pub async fn wait_leader(&self, group: GroupId, among: &[u64], timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        loop {
            let metrics: Vec<GroupMetrics> = among.iter().map(|n| self.group(*n, group).metrics()).collect();
            let leaders: BTreeSet<Option<u64>> = metrics.iter().map(|m| m.leader).collect();
            if let [Some(leader)] = leaders.iter().copied().collect::<Vec<_>>()[..]
                && among.contains(&leader)
                && metrics
                    .iter()
                    .any(|m| m.node_id == leader && m.role == GroupRole::Leader && m.quorum_acked_ago.is_some())
            {
                return leader;
            }
            assert!(
                Instant::now() < deadline,
                "group {group}: no agreed leader among {among:?} after {timeout:?}: {metrics:#?}"
            );
            // Wake up on the first metrics change of any node (or after a short while).
            let waits = among.iter().map(|n| {
                let g = self.group(*n, group);
                let term = g.metrics().term;
                let leader = g.metrics().leader;
                async move {
                    let _ = g
                        .wait_for(Duration::from_millis(100), "change", |m| m.term != term || m.leader != leader)
                        .await;
                }
            });
            futures::future::select_all(waits.map(Box::pin)).await;
        }
    }

    /// Waits until every node in `nodes` has applied `index` of `group`.
    pub async fn wait_applied(&self, group: GroupId, nodes: &[u64], index: u64, timeout: Duration) {
        for n in nodes {
            self.group(*n, group).wait_applied(index, timeout).await.unwrap_or_else(|e| {
                panic!("node {n} did not apply {index}: {e}; metrics {:#?}", self.group(*n, group).metrics())
            });
        }
    }

    /// Stops a node as a crash would look to its peers: groups stop, the transport closes (open
    /// connections included), the log is closed.
    pub async fn kill(&mut self, node: u64) {
        let n = self.nodes.get_mut(&node).expect("node");
        for (_, g) in std::mem::take(&mut n.groups) {
            g.shutdown().await;
        }
        if let Some(server) = n.server.take() {
            server.shutdown().await;
        }
        n.transport = None;
        let wal = n.wal.take().expect("node was up");
        // Only one Wal may be open on a directory: wait until openraft's tasks let go of it.
        let deadline = Instant::now() + Duration::from_secs(10);
        while Arc::strong_count(&wal) > 1 {
            assert!(Instant::now() < deadline, "node {node}: the log is still in use after shutdown");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        drop(wal);
    }

    /// Brings a killed node back on its old address and log; its groups restart with `Join`.
    pub async fn restart(&mut self, node: u64, groups: &[GroupId]) {
        let filter = self.filter.clone();
        let n = self.nodes.get_mut(&node).expect("node");
        assert!(!n.is_up(), "node {node} is up");
        let (server, transport, wal) = bring_up(&n.addr, &filter, &n.dir).await;
        n.server = Some(server);
        n.transport = Some(transport);
        n.wal = Some(wal);
        for g in groups {
            self.start_on(node, *g, Bootstrap::Join, None).await;
        }
    }

    pub async fn shutdown(mut self) {
        for id in self.up_nodes() {
            self.kill(id).await;
        }
    }
}
