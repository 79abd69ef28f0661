//! One running raft group: creation, bootstrap, membership, proposals, metrics.
//!
//! A group starts in one of two ways:
//!
//! - [`RaftGroup::start_single`]: a group whose only voter is this node, with no network (a node
//!   running alone). It is bootstrapped on first start and elects itself at once.
//! - [`RaftGroup::start`]: a group whose members live on several nodes, over the node's
//!   [`RaftTransport`]. A brand-new group is created by exactly one node passing
//!   [`Bootstrap::Initialize`] with the initial voters (node id -> transport address); every other
//!   member starts with [`Bootstrap::Join`] and waits to hear from a leader, either because it is
//!   one of those voters or because the leader added it with [`RaftGroup::add_learner`]. A restart
//!   always works the same way: the group's state comes back from the log, and `Initialize` on an
//!   initialized group does nothing.
//!
//! Membership follows openraft: a new copy joins as a learner ([`RaftGroup::add_learner`], which can
//! wait until it has caught up), then [`RaftGroup::change_membership`] makes it a voter (joint
//! consensus, then the uniform config).
//!
//! Timing: a node hosts many groups, each with its own heartbeats, so heartbeats are slower than
//! openraft's default (200 ms instead of 50 ms). What bounds failover is openraft's election rule: a
//! follower grants no vote while its *leader lease* (= `election_timeout_max`) runs, and starts an
//! election only after the lease plus its own randomized election timeout (`min..max`) have passed
//! since it last heard from the leader. With the defaults (500..1000 ms) a dead leader is replaced
//! 1.5-2 s after its last heartbeat, i.e. within about 2 s of dying; `election_timeout_max` of 2 s
//! would push that to 3-4 s. The failover tests measure it. Multi-node groups also run raft's
//! pre-vote round, so a node cut off from the others cannot inflate its term while alone and depose
//! a healthy leader when it comes back.
//!
//! The accessors ([`RaftGroup::metrics`] and friends) expose tern's own types, so the layers above
//! never name an openraft type.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use openraft::async_runtime::watch::WatchReceiver;
use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, Config, Instant, ServerState, SnapshotPolicy};

use crate::log_store::LogStore;
use crate::network::{PeerlessNetwork, RaftTransport};
use crate::rpc::{RaftEndpoint, Registration};
use crate::state_machine::{ApplyHandler, StateMachine};
use crate::types::{GroupId, LogId, Proposal, TypeConfig};

#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    #[error("raft group {group} failed to start: {reason}")]
    Start { group: GroupId, reason: String },
    #[error("this node is not the primary of raft group {group} (leader: {leader:?})")]
    NotLeader { group: GroupId, leader: Option<u64> },
    /// The proposal reached this node's log, but this node lost leadership and its entry was
    /// replaced: whether it commits (through the new leader) is unknown.
    #[error(
        "raft group {group} lost leadership while a proposal was pending; its outcome is unknown (leader: {leader:?})"
    )]
    Discarded { group: GroupId, leader: Option<u64> },
    #[error("membership change of raft group {group} failed: {reason}")]
    Membership { group: GroupId, reason: String },
    #[error("raft group {group} is shutting down or failed: {reason}")]
    Fatal { group: GroupId, reason: String },
    #[error("raft group {group} has no leader after {waited:?}")]
    NoLeader { group: GroupId, waited: Duration },
    #[error("raft group {group}: timed out after {waited:?} waiting for {what}")]
    Timeout { group: GroupId, waited: Duration, what: String },
}

impl From<GroupError> for tern_common::EsError {
    fn from(e: GroupError) -> Self {
        use tern_common::{ErrorKind, EsError};
        match &e {
            GroupError::NotLeader { .. }
            | GroupError::NoLeader { .. }
            | GroupError::Discarded { .. }
            | GroupError::Timeout { .. } => EsError::new(ErrorKind::UnavailableShards, e.to_string()),
            _ => EsError::internal(e.to_string()),
        }
    }
}

impl GroupError {
    fn from_write(group: GroupId, e: RaftError<TypeConfig, ClientWriteError<TypeConfig>>) -> GroupError {
        match e {
            RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
                GroupError::NotLeader { group, leader: f.leader_id }
            }
            RaftError::APIError(ClientWriteError::LogEntryDiscarded(f)) => {
                GroupError::Discarded { group, leader: f.leader_id }
            }
            RaftError::APIError(e @ ClientWriteError::ChangeMembershipError(_))
            | RaftError::APIError(e @ ClientWriteError::PreconditionFailed(_)) => {
                GroupError::Membership { group, reason: e.to_string() }
            }
            RaftError::Fatal(e) => GroupError::Fatal { group, reason: e.to_string() },
        }
    }
}

/// Settings for a group's raft instance.
#[derive(Debug, Clone)]
pub struct GroupSettings {
    pub heartbeat_interval_ms: u64,
    /// A follower starts an election after `election_timeout_max_ms` (the leader lease) plus a
    /// random time in `election_timeout_min_ms..election_timeout_max_ms` without hearing from the
    /// leader.
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    /// Build a snapshot (a durable handler commit) after this many log entries, so the log can be
    /// purged behind it.
    pub snapshot_every_logs: u64,
    /// Multi-node groups keep this many entries behind a snapshot, so a follower that was briefly
    /// away catches up from the log rather than needing a snapshot. Costs memory: every unpurged
    /// entry stays in memory (see `wal.rs`). Single-node groups keep none.
    pub logs_kept_after_snapshot: u64,
}

impl Default for GroupSettings {
    fn default() -> Self {
        // Many groups per node: slower heartbeats than openraft's 50 ms keep idle traffic low; the
        // election timeouts bound failover to about 2 s (see the module docs).
        GroupSettings {
            heartbeat_interval_ms: 200,
            election_timeout_min_ms: 500,
            election_timeout_max_ms: 1000,
            snapshot_every_logs: 2000,
            logs_kept_after_snapshot: 500,
        }
    }
}

/// How [`RaftGroup::start`] brings a group up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bootstrap {
    /// Create the group with these voters (node id -> transport `host:port`), which must include
    /// this node; nothing happens if the group is already initialized (a restart). Exactly one
    /// node of a new group does this.
    Initialize(BTreeMap<u64, String>),
    /// Start without creating anything and wait to be contacted by a leader.
    Join,
}

/// A node's role in a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupRole {
    Leader,
    Follower,
    Candidate,
    Learner,
    Shutdown,
}

/// A position in a group's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogPosition {
    pub term: u64,
    pub index: u64,
}

impl From<&LogId> for LogPosition {
    fn from(id: &LogId) -> Self {
        LogPosition { term: id.leader_id.term, index: id.index }
    }
}

/// A group's membership: who votes, who only replicates, and where each lives.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupMembership {
    /// Voters; during a joint change, the union of the old and new voter sets.
    pub voters: BTreeSet<u64>,
    pub learners: BTreeSet<u64>,
    /// Every member's transport address.
    pub nodes: BTreeMap<u64, String>,
    /// A membership change is half done (joint consensus).
    pub joint: bool,
}

/// A snapshot of a group's state as this node sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMetrics {
    pub group: GroupId,
    pub node_id: u64,
    pub role: GroupRole,
    /// The current term (tern's `_primary_term` once a leader is elected in it).
    pub term: u64,
    pub leader: Option<u64>,
    pub last_log_index: Option<u64>,
    /// The last entry known committed.
    pub committed: Option<LogPosition>,
    /// The last entry applied to the state machine on this node.
    pub last_applied: Option<LogPosition>,
    /// The last entry covered by this node's latest snapshot.
    pub snapshot: Option<LogPosition>,
    /// The last entry purged from this node's log.
    pub purged: Option<LogPosition>,
    pub membership: GroupMembership,
    /// On the leader: how long ago a quorum last acknowledged it (`None` elsewhere).
    pub quorum_acked_ago: Option<Duration>,
    /// On the leader: the last log index each other member holds (absent while unknown), to tell
    /// when a new copy has caught up.
    pub matched: BTreeMap<u64, u64>,
}

impl GroupMetrics {
    fn from_raft(group: GroupId, m: &openraft::RaftMetrics<TypeConfig>) -> GroupMetrics {
        let role = match m.state {
            ServerState::Leader => GroupRole::Leader,
            ServerState::Follower => GroupRole::Follower,
            ServerState::Candidate => GroupRole::Candidate,
            ServerState::Learner => GroupRole::Learner,
            ServerState::Shutdown => GroupRole::Shutdown,
        };
        let stored = m.membership_config.membership();
        let membership = GroupMembership {
            voters: stored.voter_ids().collect(),
            learners: stored.learner_ids().collect(),
            nodes: stored.nodes().map(|(id, n)| (*id, n.addr.clone())).collect(),
            joint: stored.get_joint_config().len() > 1,
        };
        GroupMetrics {
            group,
            node_id: m.id,
            role,
            term: m.current_term,
            leader: m.current_leader,
            last_log_index: m.last_log_index,
            committed: m.local_committed.as_ref().map(LogPosition::from),
            last_applied: m.last_applied.as_ref().map(LogPosition::from),
            snapshot: m.snapshot.as_ref().map(LogPosition::from),
            purged: m.purged.as_ref().map(LogPosition::from),
            membership,
            quorum_acked_ago: m.last_quorum_acked.as_ref().map(|at| at.elapsed()),
            matched: m
                .replication
                .as_ref()
                .map(|r| r.iter().filter_map(|(id, log)| log.as_ref().map(|l| (*id, l.index))).collect())
                .unwrap_or_default(),
        }
    }

    /// Whether this node is the leader.
    pub fn is_leader(&self) -> bool {
        self.role == GroupRole::Leader
    }

    /// The index of the last applied entry (0 if none).
    pub fn applied_index(&self) -> u64 {
        self.last_applied.map_or(0, |p| p.index)
    }
}

/// A committed and applied proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The position of the entry (its term is tern's `_primary_term`).
    pub position: LogPosition,
    /// The state machine's reply.
    pub reply: Vec<u8>,
}

pub type Raft<H> = openraft::Raft<TypeConfig, StateMachine<H>>;

pub struct RaftGroup<H: ApplyHandler> {
    pub id: GroupId,
    pub node_id: u64,
    raft: Raft<H>,
    handler: Arc<H>,
    /// Multi-node groups: keeps the group reachable through the node's transport until shutdown
    /// (or until the group is dropped).
    registration: parking_lot::Mutex<Option<Registration>>,
}

impl<H: ApplyHandler> RaftGroup<H> {
    fn config(id: GroupId, settings: &GroupSettings, multi_node: bool) -> Result<Arc<Config>, GroupError> {
        let config = Config {
            cluster_name: format!("group-{id}"),
            heartbeat_interval: settings.heartbeat_interval_ms,
            election_timeout_min: settings.election_timeout_min_ms,
            election_timeout_max: settings.election_timeout_max_ms,
            install_snapshot_timeout: 60_000,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(settings.snapshot_every_logs),
            // Entries can be whole bulks: a lone node purges as soon as a snapshot covers them.
            max_in_snapshot_log_to_keep: if multi_node { settings.logs_kept_after_snapshot } else { 0 },
            purge_batch_size: 1,
            enable_pre_vote: multi_node.then_some(true),
            // A member that comes back with an emptied log (a shard copy the routing table dropped and
            // gave back, recreated empty) is caught up again instead of stopping replication with a
            // panic; its old acknowledgements no longer count, as with any failed member.
            allow_log_reversion: multi_node.then_some(true),
            ..Default::default()
        };
        config.validate().map(Arc::new).map_err(|e| GroupError::Start { group: id, reason: e.to_string() })
    }

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
        let config = Self::config(id, settings, false)?;
        let sm = StateMachine::new(handler.clone());
        let raft =
            openraft::Raft::new(node_id, config, PeerlessNetwork, log, sm).await.map_err(|e| start(e.to_string()))?;
        let group = RaftGroup { id, node_id, raft, handler, registration: parking_lot::Mutex::new(None) };
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

    /// Starts a group whose members live on several nodes, reachable through `transport` (which
    /// must be serving on this node's transport server). Returns once the group runs and is
    /// registered; it does not wait for a leader (see [`Self::wait_for_leader`]).
    pub async fn start(
        id: GroupId,
        node_id: u64,
        log: LogStore,
        handler: Arc<H>,
        settings: &GroupSettings,
        transport: &RaftTransport,
        bootstrap: Bootstrap,
    ) -> Result<Self, GroupError> {
        let start = |reason: String| GroupError::Start { group: id, reason };
        if transport.registry().contains(id) {
            return Err(start(format!("raft group {id} is already running on this node")));
        }
        let config = Self::config(id, settings, true)?;
        let sm = StateMachine::new(handler.clone());
        let raft = openraft::Raft::new(node_id, config, transport.network(id, node_id), log, sm)
            .await
            .map_err(|e| start(e.to_string()))?;
        let endpoint = Arc::new(RaftEndpoint {
            group: id,
            raft: raft.clone(),
            handler: handler.clone(),
            client: transport.client().clone(),
            snapshot_lock: Arc::default(),
        });
        let Some(registration) = transport.registry().register(id, endpoint) else {
            let _ = raft.shutdown().await;
            return Err(start(format!("raft group {id} is already running on this node")));
        };
        let group = RaftGroup { id, node_id, raft, handler, registration: parking_lot::Mutex::new(Some(registration)) };
        if let Bootstrap::Initialize(voters) = bootstrap {
            let initialized = group.raft.is_initialized().await.map_err(|e| start(e.to_string()))?;
            if !initialized {
                if !voters.contains_key(&node_id) {
                    group.shutdown().await;
                    return Err(start(format!("node {node_id} must be one of the initial voters {voters:?}")));
                }
                let members: BTreeMap<u64, BasicNode> =
                    voters.into_iter().map(|(id, addr)| (id, BasicNode::new(addr))).collect();
                if let Err(e) = group.raft.initialize(members).await {
                    group.shutdown().await;
                    return Err(start(e.to_string()));
                }
            }
        }
        Ok(group)
    }

    /// Waits until this node is the group's leader.
    pub async fn wait_leader(&self, timeout: Duration) -> Result<(), GroupError> {
        let me = self.node_id;
        self.raft
            .wait(Some(timeout))
            .metrics(|m| m.current_leader == Some(me) && m.state.is_leader(), "leader")
            .await
            .map(|_| ())
            .map_err(|_| GroupError::NoLeader { group: self.id, waited: timeout })
    }

    /// Waits until this node knows a leader of the group (any node) and returns its id.
    pub async fn wait_for_leader(&self, timeout: Duration) -> Result<u64, GroupError> {
        let m = self
            .wait_for(timeout, "a leader", |m| m.leader.is_some() && m.role != GroupRole::Candidate)
            .await
            .map_err(|_| GroupError::NoLeader { group: self.id, waited: timeout })?;
        m.leader.ok_or(GroupError::NoLeader { group: self.id, waited: timeout })
    }

    /// Waits until this node has applied the entry at `index` (or a later one).
    pub async fn wait_applied(&self, index: u64, timeout: Duration) -> Result<GroupMetrics, GroupError> {
        self.wait_for(timeout, &format!("log index {index} to be applied"), |m| {
            m.last_applied.is_some_and(|p| p.index >= index)
        })
        .await
    }

    /// Waits until `condition` holds for the group's metrics and returns them.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        what: &str,
        condition: impl Fn(&GroupMetrics) -> bool + Send + Sync,
    ) -> Result<GroupMetrics, GroupError> {
        let group = self.id;
        self.raft
            .wait(Some(timeout))
            .metrics(|m| condition(&GroupMetrics::from_raft(group, m)), what)
            .await
            .map(|m| GroupMetrics::from_raft(group, &m))
            .map_err(|_| GroupError::Timeout { group, waited: timeout, what: what.to_owned() })
    }

    /// Proposes a command and waits until it is committed and applied; returns the leader term the
    /// entry was committed in and the state machine's reply.
    pub async fn propose(&self, payload: Vec<u8>) -> Result<(u64, Vec<u8>), GroupError> {
        let committed = self.propose_entry(payload).await?;
        Ok((committed.position.term, committed.reply))
    }

    /// [`Self::propose`], returning the entry's log position too.
    pub async fn propose_entry(&self, payload: Vec<u8>) -> Result<Committed, GroupError> {
        self.await_first_quorum_ack().await;
        let resp = self.raft.client_write(Proposal(payload)).await.map_err(|e| GroupError::from_write(self.id, e))?;
        Ok(Committed { position: LogPosition::from(&resp.log_id), reply: resp.data.0 })
    }

    /// openraft's CheckQuorum makes a leader refuse proposals (with an empty `ForwardToLeader`) until
    /// a quorum has acknowledged it. Right after an election that takes one round trip; a proposal
    /// arriving in that window waits for it (bounded by the leader lease) instead of failing. A
    /// leader whose acknowledgements are merely old (cut off from its quorum) does not wait: it
    /// refuses at once, as it should.
    async fn await_first_quorum_ack(&self) {
        let (fresh_leader, lease) = {
            let m = self.raft.metrics().borrow_watched().clone();
            let multi_voter = m.membership_config.membership().voter_ids().nth(1).is_some();
            (
                m.state.is_leader() && multi_voter && m.last_quorum_acked.is_none(),
                self.raft.config().election_timeout_max,
            )
        };
        if fresh_leader {
            let _ = self
                .raft
                .wait(Some(Duration::from_millis(lease)))
                .metrics(|m| !m.state.is_leader() || m.last_quorum_acked.is_some(), "first quorum ack")
                .await;
        }
    }

    /// Adds `node_id` (reachable at transport address `addr`) as a learner: it receives the log but
    /// does not vote. With `blocking`, waits until it has caught up with the leader. Leader only.
    pub async fn add_learner(&self, node_id: u64, addr: &str, blocking: bool) -> Result<(), GroupError> {
        self.await_first_quorum_ack().await;
        self.raft
            .add_learner(node_id, BasicNode::new(addr), blocking)
            .await
            .map(|_| ())
            .map_err(|e| GroupError::from_write(self.id, e))
    }

    /// Makes `voters` the group's voter set (each must already be a member: a learner or a voter).
    /// Removed voters stay as learners with `retain`, or leave the group without. Leader only;
    /// returns once the final (uniform) membership is committed.
    pub async fn change_membership(&self, voters: BTreeSet<u64>, retain: bool) -> Result<(), GroupError> {
        self.await_first_quorum_ack().await;
        self.raft.change_membership(voters, retain).await.map(|_| ()).map_err(|e| GroupError::from_write(self.id, e))
    }

    /// Removes members that are not voters (learners left behind by a membership change) from
    /// the group, so the leader stops replicating to them. Leader only.
    pub async fn remove_members(&self, ids: BTreeSet<u64>) -> Result<(), GroupError> {
        self.await_first_quorum_ack().await;
        self.raft
            .change_membership(openraft::ChangeMembers::RemoveNodes(ids), false)
            .await
            .map(|_| ())
            .map_err(|e| GroupError::from_write(self.id, e))
    }

    /// Asks the leader to hand leadership to `to` (a voter). Returns at once.
    pub async fn transfer_leader(&self, to: u64) -> Result<(), GroupError> {
        self.raft
            .trigger()
            .transfer_leader(to)
            .await
            .map_err(|e| GroupError::Fatal { group: self.id, reason: e.to_string() })
    }

    /// The state machine's handler.
    pub fn handler(&self) -> &Arc<H> {
        &self.handler
    }

    /// The group's state as this node sees it now.
    pub fn metrics(&self) -> GroupMetrics {
        GroupMetrics::from_raft(self.id, &self.raft.metrics().borrow_watched())
    }

    /// The leader this node knows of, if any.
    pub fn current_leader(&self) -> Option<u64> {
        self.raft.metrics().borrow_watched().current_leader
    }

    /// The transport address of the leader this node knows of, if any.
    pub fn current_leader_addr(&self) -> Option<String> {
        let m = self.raft.metrics().borrow_watched().clone();
        let leader = m.current_leader?;
        m.membership_config.membership().get_node(&leader).map(|n| n.addr.clone())
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

    /// Stops the group on this node: it leaves the node's transport registry (peers' messages for
    /// it are answered "not running") and openraft shuts down.
    pub async fn shutdown(&self) {
        drop(self.registration.lock().take());
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(group = self.id, error = %e, "raft group shutdown failed");
        }
    }
}
