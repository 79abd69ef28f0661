//! One running raft group: creation, bootstrap, proposals.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use openraft::async_runtime::watch::WatchReceiver;
use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, Config, SnapshotPolicy};

use crate::log_store::LogStore;
use crate::network::PeerlessNetwork;
use crate::state_machine::{ApplyHandler, StateMachine};
use crate::types::{GroupId, Proposal, TypeConfig};

#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    #[error("raft group {group} failed to start: {reason}")]
    Start { group: GroupId, reason: String },
    #[error("this node is not the primary of raft group {group} (leader: {leader:?})")]
    NotLeader { group: GroupId, leader: Option<u64> },
    #[error("raft group {group} is shutting down or failed: {reason}")]
    Fatal { group: GroupId, reason: String },
    #[error("raft group {group} has no leader after {waited:?}")]
    NoLeader { group: GroupId, waited: Duration },
}

impl From<GroupError> for tern_common::EsError {
    fn from(e: GroupError) -> Self {
        use tern_common::{ErrorKind, EsError};
        match &e {
            GroupError::NotLeader { .. } | GroupError::NoLeader { .. } => {
                EsError::new(ErrorKind::UnavailableShards, e.to_string())
            }
            _ => EsError::internal(e.to_string()),
        }
    }
}

/// Settings for a group's raft instance.
#[derive(Debug, Clone)]
pub struct GroupSettings {
    pub heartbeat_interval_ms: u64,
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    /// Build a snapshot (a durable handler commit) after this many log entries, so the log can be
    /// purged behind it.
    pub snapshot_every_logs: u64,
}

impl Default for GroupSettings {
    fn default() -> Self {
        // Many groups per node: slow heartbeats keep idle traffic low.
        GroupSettings {
            heartbeat_interval_ms: 250,
            election_timeout_min_ms: 1000,
            election_timeout_max_ms: 2000,
            snapshot_every_logs: 2000,
        }
    }
}

pub type Raft<H> = openraft::Raft<TypeConfig, StateMachine<H>>;

pub struct RaftGroup<H: ApplyHandler> {
    pub id: GroupId,
    pub node_id: u64,
    raft: Raft<H>,
}

impl<H: ApplyHandler> RaftGroup<H> {
    /// Starts the group; a group that has never been initialized is bootstrapped with this node as
    /// its only voter, and this node is made leader without waiting for an election timeout.
    pub async fn start_single(
        id: GroupId,
        node_id: u64,
        node_addr: &str,
        log: LogStore,
        handler: Arc<H>,
        settings: &GroupSettings,
    ) -> Result<Self, GroupError> {
        let start = |reason: String| GroupError::Start { group: id, reason };
        let config = Config {
            cluster_name: format!("group-{id}"),
            heartbeat_interval: settings.heartbeat_interval_ms,
            election_timeout_min: settings.election_timeout_min_ms,
            election_timeout_max: settings.election_timeout_max_ms,
            install_snapshot_timeout: 60_000,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(settings.snapshot_every_logs),
            max_in_snapshot_log_to_keep: 0,
            // Entries can be whole bulks: purge as soon as a snapshot covers them.
            purge_batch_size: 1,
            ..Default::default()
        };
        let config = Arc::new(config.validate().map_err(|e| start(e.to_string()))?);
        let sm = StateMachine::new(handler);
        let raft =
            openraft::Raft::new(node_id, config, PeerlessNetwork, log, sm).await.map_err(|e| start(e.to_string()))?;
        let group = RaftGroup { id, node_id, raft };
        if !group.raft.is_initialized().await.map_err(|e| start(e.to_string()))? {
            let mut members = BTreeMap::new();
            members.insert(node_id, BasicNode::new(node_addr));
            group.raft.initialize(members).await.map_err(|e| start(e.to_string()))?;
        } else {
            group.raft.trigger().elect(false).await.map_err(|e| start(e.to_string()))?;
        }
        group.wait_leader(Duration::from_secs(10)).await?;
        Ok(group)
    }

    pub async fn wait_leader(&self, timeout: Duration) -> Result<(), GroupError> {
        let me = self.node_id;
        self.raft
            .wait(Some(timeout))
            .metrics(|m| m.current_leader == Some(me) && m.state.is_leader(), "leader")
            .await
            .map(|_| ())
            .map_err(|_| GroupError::NoLeader { group: self.id, waited: timeout })
    }

    /// Proposes a command and waits until it is committed and applied; returns the leader term the
    /// entry was committed in and the state machine's reply.
    pub async fn propose(&self, payload: Vec<u8>) -> Result<(u64, Vec<u8>), GroupError> {
        match self.raft.client_write(Proposal(payload)).await {
            Ok(resp) => Ok((resp.log_id.leader_id.term, resp.data.0)),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(GroupError::NotLeader { group: self.id, leader: f.leader_id })
            }
            Err(e) => Err(GroupError::Fatal { group: self.id, reason: e.to_string() }),
        }
    }

    /// The term of the current leader: tern's `_primary_term`.
    pub fn current_term(&self) -> u64 {
        self.raft.metrics().borrow_watched().current_term
    }

    pub fn is_leader(&self) -> bool {
        let m = self.raft.metrics().borrow_watched().clone();
        m.state.is_leader()
    }

    /// Asks for a snapshot now: the handler commits durably and the log behind it can be purged.
    pub async fn snapshot(&self) -> Result<(), GroupError> {
        self.raft.trigger().snapshot().await.map_err(|e| GroupError::Fatal { group: self.id, reason: e.to_string() })
    }

    pub async fn shutdown(&self) {
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(group = self.id, error = %e, "raft group shutdown failed");
        }
    }
}
