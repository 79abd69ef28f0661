//! The log store under openraft's real engine: single-node raft groups (one per shard, sharing one
//! log) that elect themselves, apply writes, snapshot and purge, then restart from the same log.

mod common;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use common::{MemStateMachine, SnapshotData};
use openraft::alias::SnapshotOf;
use openraft::error::{RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::RPCOption;
use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse};
use openraft::storage::RaftLogStorage;
use openraft::{BasicNode, Config, OptionalSend, Raft, RaftNetworkFactory, RaftNetworkV2, SnapshotPolicy};
use tern_raft::types::Vote;
use tern_raft::wal::{Durability, Wal, WalOptions};
use tern_raft::{Proposal, TypeConfig};

/// A network to nowhere: a single-node group never sends anything.
struct NoNetwork;

impl RaftNetworkFactory<TypeConfig> for NoNetwork {
    type Network = NoNetwork;

    async fn new_client(&mut self, _target: u64, _node: &BasicNode) -> NoNetwork {
        NoNetwork
    }
}

impl RaftNetworkV2<TypeConfig> for NoNetwork {
    type SnapshotData = SnapshotData;

    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        Err(RPCError::Unreachable(Unreachable::from_string("single node")))
    }

    async fn vote(
        &mut self,
        _rpc: VoteRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        Err(RPCError::Unreachable(Unreachable::from_string("single node")))
    }

    async fn full_snapshot(
        &mut self,
        _vote: Vote,
        _snapshot: SnapshotOf<TypeConfig, SnapshotData>,
        _cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        Err(StreamingError::Unreachable(Unreachable::from_string("single node")))
    }
}

fn config() -> Arc<Config> {
    let config = Config {
        snapshot_policy: SnapshotPolicy::LogsSinceLast(30),
        max_in_snapshot_log_to_keep: 5,
        purge_batch_size: 1,
        ..Config::default()
    };
    Arc::new(config.validate().expect("valid config"))
}

async fn start(
    wal: &Arc<Wal>,
    group: u64,
    sm: MemStateMachine,
    durability: Durability,
) -> Raft<TypeConfig, MemStateMachine> {
    Raft::new(1, config(), NoNetwork, wal.log_store(group, durability), sm).await.expect("raft")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_node_groups_write_snapshot_purge_and_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let groups = [(1u64, Durability::Request), (2u64, Durability::Async)];
    let machines: BTreeMap<u64, MemStateMachine> =
        groups.iter().map(|(g, _)| (*g, MemStateMachine::default())).collect();

    {
        let wal = Wal::open(dir.path(), WalOptions::default()).expect("open");
        let mut rafts = Vec::new();
        for (g, durability) in groups {
            let raft = start(&wal, g, machines[&g].clone(), durability).await;
            raft.initialize(BTreeMap::from([(1u64, BasicNode::default())])).await.expect("initialize");
            raft.wait(Some(Duration::from_secs(10))).current_leader(1, "elected").await.expect("leader");
            rafts.push(raft);
        }
        // Interleave writes of both groups; each write waits for commit and apply.
        for i in 0..100u32 {
            for raft in &rafts {
                let resp = raft.client_write(Proposal(i.to_le_bytes().to_vec())).await.expect("write");
                assert_eq!(resp.data.0, resp.log_id.index.to_le_bytes().to_vec());
            }
        }
        // The snapshot policy fired and the log was purged behind it.
        for (g, _) in groups {
            let mut store = wal.log_store(g, Durability::Request);
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            loop {
                let st = store.get_log_state().await.expect("log state");
                if st.last_purged_log_id.is_some_and(|p| p.index >= 30) {
                    break;
                }
                assert!(std::time::Instant::now() < deadline, "group {g} never purged: {st:?}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert_eq!(machines[&g].inner.lock().data.len(), 100);
        }
        for raft in &rafts {
            raft.shutdown().await.expect("shutdown");
        }
    }

    // Restart both groups from the same log (state machines kept, as a persistent one would be).
    let wal = Wal::open(dir.path(), WalOptions::default()).expect("reopen");
    assert_eq!(wal.groups(), vec![1, 2]);
    for (g, durability) in groups {
        let before = machines[&g].inner.lock().applied;
        let raft = start(&wal, g, machines[&g].clone(), durability).await;
        raft.wait(Some(Duration::from_secs(10))).current_leader(1, "re-elected").await.expect("leader after restart");
        let resp = raft.client_write(Proposal(b"after restart".to_vec())).await.expect("write after restart");
        assert!(before.is_some_and(|b| resp.log_id.index > b.index));
        assert_eq!(machines[&g].inner.lock().data.len(), 101);
        raft.shutdown().await.expect("shutdown");
    }
}
