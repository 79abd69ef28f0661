//! The raft network seen by openraft.
//!
//! Two implementations of openraft's `RaftNetworkFactory`:
//!
//! - [`TransportNetwork`]: the real one. Every node has one [`RaftTransport`] (a
//!   [`TransportClient`] plus the node's [`GroupRegistry`]) shared by all its raft groups; each group
//!   gets a factory that knows its group id, and each peer a [`PeerNetwork`] that sends
//!   `POST /raft/{group}/{method}` to the peer's transport address (the `addr` of its `BasicNode` in
//!   the group's membership). So any number of groups are multiplexed over one listening port and one
//!   per-peer connection pool per node.
//! - [`PeerlessNetwork`]: for a group with a single voter that never needs a peer
//!   ([`RaftGroup::start_single`](crate::RaftGroup::start_single)). It answers every RPC with
//!   `Unreachable`: openraft then treats the peer as down, which is the truth, rather than pretending
//!   that a message was delivered.
//!
//! Error mapping: a timeout becomes openraft's `Timeout`; everything else (refused or broken
//! connection, a message cut by the fault filter, a peer that does not run the group (yet), a peer
//! whose group is shutting down, a peer that refuses a snapshot) becomes `Unreachable`, so openraft
//! backs off (`Config::backoff`) instead of retrying in a tight loop.
//!
//! Timeouts follow openraft's `RPCOption::soft_ttl` (3/4 of the hard limit: the heartbeat interval for
//! appends, the election timeout for votes, `install_snapshot_timeout` for snapshots). An append also
//! gets time in proportion to its size, so a big bulk entry is not cut off by a heartbeat-sized
//! deadline and then resent forever.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use openraft::BasicNode;
use openraft::error::{RPCError, ReplicationClosed, StreamingError, Timeout, Unreachable};
use openraft::network::{RPCOption, RPCTypes, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest, TransferLeaderResponse,
    VoteRequest, VoteResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tern_transport::{TransportClient, TransportError, TransportServer};

use crate::rpc::{GroupRegistry, RAFT_SERVICE, SnapshotRequest, method};
use crate::state_machine::LocalSnapshot;
use crate::types::{GroupId, TypeConfig, Vote};

/// Extra time an append gets per byte of payload: 16 MiB/s is far below loopback or LAN speed,
/// so only a transfer that truly stalls runs into the deadline.
const APPEND_BYTES_PER_SEC: u64 = 16 << 20;

/// The node-level raft network: one transport client and the registry of this node's groups.
/// Cheap to clone; every [`RaftGroup`](crate::RaftGroup) started with it shares both.
#[derive(Clone, Debug)]
pub struct RaftTransport {
    client: TransportClient,
    registry: Arc<GroupRegistry>,
}

impl RaftTransport {
    /// A raft network sending through `client`. Nothing is served until [`Self::serve`].
    pub fn new(client: TransportClient) -> RaftTransport {
        RaftTransport { client, registry: GroupRegistry::new() }
    }

    /// Routes the raft service of `server` to this node's groups.
    pub fn serve(&self, server: &TransportServer) {
        server.register(RAFT_SERVICE, self.registry.clone());
    }

    /// The groups running on this node.
    pub fn registry(&self) -> &Arc<GroupRegistry> {
        &self.registry
    }

    pub fn client(&self) -> &TransportClient {
        &self.client
    }

    /// This node's transport address (`host:port`).
    pub fn local_addr(&self) -> &str {
        self.client.local_addr()
    }

    pub(crate) fn network(&self, group: GroupId, node_id: u64) -> TransportNetwork {
        TransportNetwork { client: self.client.clone(), group, node_id }
    }
}

/// The network factory of one group on one node.
pub struct TransportNetwork {
    client: TransportClient,
    group: GroupId,
    node_id: u64,
}

impl RaftNetworkFactory<TypeConfig> for TransportNetwork {
    type Network = PeerNetwork;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> PeerNetwork {
        PeerNetwork {
            client: self.client.clone(),
            group: self.group,
            node_id: self.node_id,
            target,
            addr: node.addr.clone(),
        }
    }
}

/// Why a raft RPC to a peer failed, as carried inside openraft's errors.
#[derive(Debug, thiserror::Error)]
pub enum RaftRpcError {
    #[error("raft group {group}: {rpc} to node {target} ({addr}) failed: {source}")]
    Transport {
        group: GroupId,
        rpc: &'static str,
        target: u64,
        addr: String,
        #[source]
        source: TransportError,
    },
}

/// One group's connection to one peer (a thin handle: the connections live in the shared client).
pub struct PeerNetwork {
    client: TransportClient,
    group: GroupId,
    node_id: u64,
    target: u64,
    addr: String,
}

impl PeerNetwork {
    fn error(&self, rpc: &'static str, source: TransportError) -> RaftRpcError {
        RaftRpcError::Transport { group: self.group, rpc, target: self.target, addr: self.addr.clone(), source }
    }

    fn rpc_error(&self, action: RPCTypes, rpc: &'static str, e: TransportError) -> RPCError<TypeConfig> {
        match e {
            TransportError::Timeout { after, .. } => {
                RPCError::Timeout(Timeout { action, id: self.node_id, target: self.target, timeout: after })
            }
            e => RPCError::Unreachable(Unreachable::new(&self.error(rpc, e))),
        }
    }

    async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        method: &str,
        request: &Req,
        timeout: Duration,
    ) -> Result<Resp, TransportError> {
        self.client.call_typed(&self.addr, RAFT_SERVICE, self.group, method, request, Some(timeout)).await
    }
}

impl RaftNetworkV2<TypeConfig> for PeerNetwork {
    type SnapshotData = LocalSnapshot;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        let bytes = postcard::to_stdvec(&rpc)
            .map_err(|e| self.rpc_error(RPCTypes::AppendEntries, method::APPEND, TransportError::Encode(e)))?;
        let timeout = option.soft_ttl() + Duration::from_millis(bytes.len() as u64 * 1000 / APPEND_BYTES_PER_SEC);
        let answer = self
            .client
            .call(&self.addr, RAFT_SERVICE, self.group, method::APPEND, bytes, Some(timeout))
            .await
            .map_err(|e| self.rpc_error(RPCTypes::AppendEntries, method::APPEND, e))?;
        postcard::from_bytes(&answer).map_err(|source| {
            let e = TransportError::Decode { peer: self.addr.clone(), source };
            self.rpc_error(RPCTypes::AppendEntries, method::APPEND, e)
        })
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call(method::VOTE, &rpc, option.soft_ttl())
            .await
            .map_err(|e| self.rpc_error(RPCTypes::Vote, method::VOTE, e))
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call(method::PRE_VOTE, &rpc, option.soft_ttl())
            .await
            .map_err(|e| self.rpc_error(RPCTypes::Vote, method::PRE_VOTE, e))
    }

    async fn transfer_leader(
        &mut self,
        req: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call(method::TRANSFER_LEADER, &req, option.soft_ttl())
            .await
            .map_err(|e| self.rpc_error(RPCTypes::TransferLeader, method::TRANSFER_LEADER, e))
    }

    /// Sends the whole snapshot (its metadata and [`LocalSnapshot`], postcard-encoded) in one
    /// request, with this node's address: the follower fetches what the snapshot stands for (a
    /// shard's files) from here before it answers. A follower whose state machine cannot install
    /// snapshots, or whose fetch failed, refuses it; that comes back as a logged, typed
    /// `Unreachable` and openraft retries after its backoff. A timeout is retried at once, and the
    /// follower's fetch carries on meanwhile (see [`ApplyHandler::fetch_snapshot`]).
    ///
    /// [`ApplyHandler::fetch_snapshot`]: crate::ApplyHandler::fetch_snapshot
    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: openraft::alias::SnapshotOf<TypeConfig, LocalSnapshot>,
        cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let last_log_id = snapshot.meta.last_log_id;
        let request = SnapshotRequest {
            vote,
            meta: snapshot.meta,
            snapshot: snapshot.snapshot,
            source: self.client.local_addr().to_string(),
        };
        let result = tokio::select! {
            result = self.call::<_, SnapshotResponse<TypeConfig>>(method::SNAPSHOT, &request, option.soft_ttl()) => result,
            closed = cancel => return Err(StreamingError::Closed(closed)),
        };
        result.map_err(|e| {
            let e = self.error(method::SNAPSHOT, e);
            tracing::warn!(group = self.group, target = self.target, ?last_log_id, error = %e, "raft snapshot transfer failed");
            match &e {
                RaftRpcError::Transport { source: TransportError::Timeout { after, .. }, .. } => {
                    StreamingError::Timeout(Timeout {
                        action: RPCTypes::InstallSnapshot,
                        id: self.node_id,
                        target: self.target,
                        timeout: *after,
                    })
                }
                _ => StreamingError::Unreachable(Unreachable::new(&e)),
            }
        })
    }
}

/// The network of a group with no peers: every RPC answers `Unreachable`.
#[derive(Debug, Clone, Default)]
pub struct PeerlessNetwork;

#[derive(Debug, thiserror::Error)]
#[error("raft peer {0} is unreachable: this group was started without a transport to other nodes")]
struct NoTransport(u64);

impl RaftNetworkFactory<TypeConfig> for PeerlessNetwork {
    type Network = PeerlessClient;

    async fn new_client(&mut self, target: u64, _node: &BasicNode) -> Self::Network {
        PeerlessClient { target }
    }
}

pub struct PeerlessClient {
    target: u64,
}

impl PeerlessClient {
    fn unreachable(&self) -> Unreachable<TypeConfig> {
        Unreachable::new(&NoTransport(self.target))
    }
}

impl RaftNetworkV2<TypeConfig> for PeerlessClient {
    type SnapshotData = LocalSnapshot;

    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        Err(RPCError::Unreachable(self.unreachable()))
    }

    async fn vote(
        &mut self,
        _rpc: VoteRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        Err(RPCError::Unreachable(self.unreachable()))
    }

    async fn full_snapshot(
        &mut self,
        _vote: Vote,
        _snapshot: openraft::alias::SnapshotOf<TypeConfig, LocalSnapshot>,
        _cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        Err(StreamingError::Unreachable(self.unreachable()))
    }
}
