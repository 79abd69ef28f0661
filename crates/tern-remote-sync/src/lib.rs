//! Cross-cluster read/write splitting: a follower cluster keeps copies of a leader cluster's indices
//! by copying their shard commits as files over the leader's REST port.
//!
//! The API is Huawei CSS's (see `docs/remote-sync.md`): remote clusters under
//! `cluster.remote.rest.<name>`, `PUT start_remote_sync`, `auto_sync/pattern`, `{index}/stop_remote_sync`,
//! `{index}/sync_stats`, `_remote/rest/info`, and the `remote_sync.*` settings. Where that design has
//! known gaps this plugin goes further: changes are detected by commit file set (never missed when
//! the document count stays the same), every chunk and file is checksummed, an interrupted copy
//! resumes, and `sync_stats` reports state, last error and lag.
//!
//! It is a plugin: it adds routes to the REST edge, keeps its state in the cluster metadata's custom
//! section (so follow tasks survive restarts and replicate with the metadata), and runs its own
//! background tasks. The node knows nothing of it beyond the generic pieces it uses: commit pinning
//! and installation, `index.blocks.write` and `index.merge.enabled`.

pub mod api;
pub mod client;
pub mod config;
pub mod follower;
pub mod leader;
pub mod stats;
pub mod throttle;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::Extension;
use axum::routing::{delete, get, post, put};
use parking_lot::Mutex;
use reqwest::Method;
use tern_common::EsError;
use tern_node::Node;
use tern_node::node::now_millis;
use tern_rest::router::Routes;
use tokio::sync::{Notify, watch};

use crate::client::{RemoteClient, seg};
use crate::config::{CUSTOM_KEY, FollowSpec, SyncState, remotes};
use crate::stats::{AutoSyncStats, IndexStats};

/// How often auto-sync patterns look for new leader indices.
pub const PATTERN_POLL: Duration = Duration::from_secs(2);

/// What the plugin knows about a remote cluster's reachability, for `_remote/rest/info`.
#[derive(Debug, Clone, Default)]
pub struct RemoteStatus {
    pub last_contact: Option<i64>,
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
}

struct FollowTask {
    cancel: watch::Sender<bool>,
    handle: tokio::task::JoinHandle<()>,
}

/// The plugin's state on one node.
pub struct Runtime {
    pub node: Arc<Node>,
    pub leases: leader::Leases,
    pub throttle: throttle::Throttle,
    pub auto_stats: AutoSyncStats,
    stats: Mutex<HashMap<String, Arc<IndexStats>>>,
    clients: Mutex<HashMap<String, Arc<RemoteClient>>>,
    status: Mutex<HashMap<String, RemoteStatus>>,
    tasks: Mutex<HashMap<String, FollowTask>>,
    kick: Notify,
}

impl Runtime {
    fn new(node: Arc<Node>) -> Arc<Runtime> {
        Arc::new(Runtime {
            node,
            leases: Default::default(),
            throttle: Default::default(),
            auto_stats: Default::default(),
            stats: Default::default(),
            clients: Default::default(),
            status: Default::default(),
            tasks: Default::default(),
            kick: Notify::new(),
        })
    }

    /// The client for a configured remote, rebuilt when its settings change.
    pub fn client(&self, name: &str) -> Result<Arc<RemoteClient>, EsError> {
        let config = remotes(&self.node.metadata())
            .remove(name)
            .ok_or_else(|| EsError::from(client::RemoteError::NotConfigured(name.to_string())))?;
        let mut clients = self.clients.lock();
        if let Some(c) = clients.get(name)
            && c.config == config
        {
            return Ok(c.clone());
        }
        let c = Arc::new(RemoteClient::new(config)?);
        clients.insert(name.to_string(), c.clone());
        Ok(c)
    }

    pub fn note_remote_ok(&self, name: &str) {
        let mut s = self.status.lock();
        let e = s.entry(name.to_string()).or_default();
        e.last_contact = Some(now_millis());
    }

    pub fn note_remote_error(&self, name: &str, error: &str) {
        let mut s = self.status.lock();
        let e = s.entry(name.to_string()).or_default();
        e.last_error = Some(error.to_string());
        e.last_error_at = Some(now_millis());
    }

    pub fn remote_status(&self, name: &str) -> RemoteStatus {
        self.status.lock().get(name).cloned().unwrap_or_default()
    }

    pub fn index_stats(&self, local: &str) -> Arc<IndexStats> {
        self.stats.lock().entry(local.to_string()).or_default().clone()
    }

    pub fn existing_stats(&self, local: &str) -> Option<Arc<IndexStats>> {
        self.stats.lock().get(local).cloned()
    }

    fn forget_stats(&self, local: &str) {
        self.stats.lock().remove(local);
    }

    /// Starts following: checks the remote and the leader index, prepares the local index, records
    /// the task in the cluster metadata, and wakes the supervisor so the first round runs now.
    pub async fn start_follow(self: &Arc<Self>, spec: FollowSpec) -> Result<(), EsError> {
        // The remote may have been configured through another node a moment ago.
        self.node.catch_up_metadata().await?;
        let client = self.client(&spec.remote_cluster)?;
        let leader = client
            .json(Method::GET, &format!("/_remote_sync/leader/{}", seg(&spec.remote_index)), None)
            .await
            .map_err(EsError::from)?;
        self.note_remote_ok(&spec.remote_cluster);
        follower::prepare_local_index(self, &spec, &leader).await?;
        let local = spec.local_index.clone();
        self.node
            .update_custom(CUSTOM_KEY, move |v| {
                let mut st = SyncState::from_value(v);
                st.follows.insert(spec.local_index.clone(), spec);
                *v = st.to_value();
                Ok(())
            })
            .await?;
        // A changed policy takes effect with a fresh task.
        self.stop_tasks(std::slice::from_ref(&local)).await;
        self.kick.notify_one();
        Ok(())
    }

    /// Cancels follow tasks and waits for them: a round in progress stops between chunks and never
    /// installs a commit after this returns.
    async fn stop_tasks(&self, names: &[String]) {
        let tasks: Vec<FollowTask> = {
            let mut t = self.tasks.lock();
            names.iter().filter_map(|n| t.remove(n)).collect()
        };
        for task in tasks {
            task.cancel.send_replace(true);
            let _ = task.handle.await;
        }
    }

    /// Keeps one task per follow spec, runs auto-sync patterns, and ends idle leases.
    async fn supervise(self: Arc<Self>) {
        let mut last_patterns = Instant::now() - PATTERN_POLL;
        loop {
            let state = SyncState::of(&self.node.metadata());
            {
                let mut tasks = self.tasks.lock();
                tasks.retain(|local, t| {
                    let keep = state.follows.contains_key(local) && !t.handle.is_finished();
                    if !keep {
                        t.cancel.send_replace(true);
                    }
                    keep
                });
                for local in state.follows.keys() {
                    if !tasks.contains_key(local) {
                        let (cancel, rx) = watch::channel(false);
                        let handle = tokio::spawn(follower::run(self.clone(), local.clone(), rx));
                        tasks.insert(local.clone(), FollowTask { cancel, handle });
                    }
                }
            }
            // New leader indices are followed once, by the master, whichever node runs this.
            if last_patterns.elapsed() >= PATTERN_POLL && !state.patterns.is_empty() && self.node.is_elected_master() {
                last_patterns = Instant::now();
                api::poll_patterns(&self, &state).await;
            }
            self.leases.expire();
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = self.kick.notified() => {}
            }
        }
    }
}

/// The plugin object the server registers with the REST edge.
#[derive(Default)]
pub struct RemoteSyncPlugin {
    runtime: OnceLock<Arc<Runtime>>,
}

impl RemoteSyncPlugin {
    pub fn new() -> Arc<RemoteSyncPlugin> {
        Arc::new(RemoteSyncPlugin::default())
    }

    pub fn runtime(&self) -> Option<&Arc<Runtime>> {
        self.runtime.get()
    }
}

impl tern_rest::Plugin for RemoteSyncPlugin {
    fn name(&self) -> &'static str {
        "remote-sync"
    }

    fn routes(&self, node: Arc<Node>) -> Routes {
        let rt = self
            .runtime
            .get_or_init(|| {
                let rt = Runtime::new(node);
                tokio::spawn(rt.clone().supervise());
                rt
            })
            .clone();
        Routes::new()
            .route("/start_remote_sync", put(api::start).post(api::start))
            .route("/{index}/stop_remote_sync", put(api::stop).post(api::stop))
            .route("/{index}/sync_stats", get(api::sync_stats))
            .route("/auto_sync/pattern", get(api::get_patterns))
            .route(
                "/auto_sync/pattern/{name}",
                get(api::get_patterns).put(api::put_pattern).post(api::put_pattern).delete(api::delete_pattern),
            )
            .route("/auto_sync/stats", get(api::auto_sync_stats))
            .route("/_remote/rest/info", get(api::remote_info))
            .route("/_remote_sync/leader/{index}", get(leader::metadata))
            .route("/_remote_sync/leader/{index}/_pin", post(leader::pin))
            .route("/_remote_sync/leader/lease/{lease}/{shard}/{file}", get(leader::chunk))
            .route("/_remote_sync/leader/lease/{lease}", delete(leader::release))
            .layer(Extension(rt))
    }
}
