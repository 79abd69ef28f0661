//! The raft network seen by openraft.
//!
//! Node-to-node traffic belongs to the transport (cluster issue). A node running alone has no peers, so
//! [`PeerlessNetwork`] answers every RPC with `Unreachable`: openraft then treats the peer as down,
//! which is the truth, rather than pretending that a message was delivered.

use std::future::Future;

use openraft::error::{RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse};

use crate::state_machine::LocalSnapshot;
use crate::types::{TypeConfig, Vote};

#[derive(Debug, Clone, Default)]
pub struct PeerlessNetwork;

#[derive(Debug, thiserror::Error)]
#[error("raft peer {0} is unreachable: this node has no transport to other nodes")]
struct NoTransport(u64);

impl RaftNetworkFactory<TypeConfig> for PeerlessNetwork {
    type Network = PeerlessClient;

    async fn new_client(&mut self, target: u64, _node: &openraft::BasicNode) -> Self::Network {
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
