//! The raft service on the wire, and the node-level registry that serves it.
//!
//! Every raft group of a node is reachable through one transport service, [`RAFT_SERVICE`]:
//! `POST /raft/{group}/{method}` with a postcard body. The [`GroupRegistry`] is that service's
//! handler: it maps a group id to the group's running raft instance on this node and hands the
//! decoded message to it (`append` -> `Raft::append_entries`, `vote`, `pre_vote`, `snapshot` ->
//! the handler's [`ApplyHandler::fetch_snapshot`] then `Raft::install_full_snapshot`,
//! `transfer_leader`). A group registers when it starts and leaves
//! when it shuts down (or its handle is dropped); a message for a group this node does not run is
//! answered [`HandlerErrorKind::UnknownTarget`], which the sender treats as "unreachable, back off"
//! — the normal state of affairs while a copy is being created or removed.
//!
//! The messages are openraft's own request and response types (they derive serde); postcard
//! encodes them positionally, which is safe because both ends run the same openraft version.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use openraft::async_runtime::watch::WatchReceiver;
use openraft::raft::{AppendEntriesRequest, TransferLeaderRequest, VoteRequest};
use parking_lot::RwLock;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tern_transport::{HandlerError, HandlerErrorKind, HandlerFuture, InboundRequest, ServiceHandler, TransportClient};

use crate::group::Raft;
use crate::state_machine::{ApplyHandler, LocalSnapshot, SnapshotSource};
use crate::types::{GroupId, TypeConfig, Vote};

/// The transport service name of raft traffic.
pub const RAFT_SERVICE: &str = "raft";

/// The methods of [`RAFT_SERVICE`].
pub(crate) mod method {
    pub const APPEND: &str = "append";
    pub const VOTE: &str = "vote";
    pub const PRE_VOTE: &str = "pre_vote";
    pub const SNAPSHOT: &str = "snapshot";
    pub const TRANSFER_LEADER: &str = "transfer_leader";
}

/// A whole snapshot in one message: the leader's vote, the snapshot's metadata, its
/// [`LocalSnapshot`] (the handler's marker) and the sender's transport address, where the
/// follower's handler fetches whatever else the snapshot stands for.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SnapshotRequest {
    pub vote: Vote,
    pub meta: openraft::alias::SnapshotMetaOf<TypeConfig>,
    pub snapshot: LocalSnapshot,
    pub source: String,
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Bytes, HandlerError> {
    postcard::to_stdvec(value).map(Bytes::from).map_err(|e| HandlerError::internal(format!("encoding failed: {e}")))
}

pub(crate) fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, HandlerError> {
    postcard::from_bytes(body).map_err(|e| HandlerError::bad_request(format!("undecodable raft message: {e}")))
}

/// One local group as the registry sees it: something that answers raft messages.
pub(crate) trait GroupEndpoint: Send + Sync + 'static {
    fn handle(&self, method: &str, body: Bytes) -> HandlerFuture;
}

/// The receiving end of a raft group: its openraft instance plus its handler (to know whether it
/// can install snapshots, and to fetch what a snapshot stands for, before openraft is asked to).
pub(crate) struct RaftEndpoint<H: ApplyHandler> {
    pub group: GroupId,
    pub raft: Raft<H>,
    pub handler: Arc<H>,
    pub client: TransportClient,
    /// One snapshot install at a time: a leader whose RPC timed out sends the snapshot again while
    /// the first fetch may still run.
    pub snapshot_lock: Arc<tokio::sync::Mutex<()>>,
}

fn stopped(group: GroupId, e: impl std::fmt::Display) -> HandlerError {
    HandlerError::unavailable(format!("raft group {group} is not running on this node: {e}"))
}

impl<H: ApplyHandler> GroupEndpoint for RaftEndpoint<H> {
    fn handle(&self, method: &str, body: Bytes) -> HandlerFuture {
        let raft = self.raft.clone();
        let group = self.group;
        match method {
            method::APPEND => Box::pin(async move {
                let req: AppendEntriesRequest<TypeConfig> = decode(&body)?;
                encode(&raft.append_entries(req).await.map_err(|e| stopped(group, e))?)
            }),
            method::VOTE => Box::pin(async move {
                let req: VoteRequest<TypeConfig> = decode(&body)?;
                encode(&raft.vote(req).await.map_err(|e| stopped(group, e))?)
            }),
            method::PRE_VOTE => Box::pin(async move {
                let req: VoteRequest<TypeConfig> = decode(&body)?;
                encode(&raft.pre_vote(req).await.map_err(|e| stopped(group, e))?)
            }),
            method::TRANSFER_LEADER => Box::pin(async move {
                let req: TransferLeaderRequest<TypeConfig> = decode(&body)?;
                encode(&raft.handle_transfer_leader(req).await.map_err(|e| stopped(group, e))?)
            }),
            method::SNAPSHOT => {
                // Refuse here rather than let openraft call a state machine that cannot install:
                // a failed install is a storage error, which stops the whole group on this node.
                if !self.handler.can_install_snapshot() {
                    return Box::pin(async move {
                        tracing::warn!(
                            group,
                            "refusing a raft snapshot: this group's handler cannot install snapshots"
                        );
                        Err(HandlerError::unavailable(format!(
                            "raft group {group} on this node cannot install snapshots yet"
                        )))
                    });
                }
                let (handler, client, lock) = (self.handler.clone(), self.client.clone(), self.snapshot_lock.clone());
                Box::pin(async move {
                    let req: SnapshotRequest = decode(&body)?;
                    let _one_at_a_time = lock.lock().await;
                    // Fetch only what openraft will install: a snapshot from a current leader that
                    // goes beyond what this copy has committed (openraft answers the others itself).
                    let (vote, committed) = {
                        let m = raft.metrics().borrow_watched().clone();
                        (m.vote, m.local_committed)
                    };
                    let current_leader = req.vote.partial_cmp(&vote) != Some(std::cmp::Ordering::Less);
                    if current_leader && req.meta.last_log_id > committed {
                        let source = SnapshotSource { group, addr: req.source.clone(), client };
                        handler.fetch_snapshot(source, req.snapshot.clone()).await.map_err(|reason| {
                            tracing::warn!(group, source = %req.source, %reason, "fetching a raft snapshot failed");
                            HandlerError::unavailable(format!(
                                "raft group {group}: fetching snapshot {:?} from {} failed: {reason}",
                                req.meta.last_log_id, req.source
                            ))
                        })?;
                    }
                    let snapshot = openraft::Snapshot { meta: req.meta, snapshot: req.snapshot };
                    encode(&raft.install_full_snapshot(req.vote, snapshot).await.map_err(|e| stopped(group, e))?)
                })
            }
            other => {
                let message = format!("unknown raft method {other:?}");
                Box::pin(async move { Err(HandlerError::bad_request(message)) })
            }
        }
    }
}

struct Registered {
    token: u64,
    endpoint: Arc<dyn GroupEndpoint>,
}

/// The node-level map group id -> running raft group, and the handler of [`RAFT_SERVICE`].
#[derive(Default)]
pub struct GroupRegistry {
    groups: RwLock<HashMap<GroupId, Registered>>,
    next_token: AtomicU64,
}

impl std::fmt::Debug for GroupRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupRegistry").field("groups", &self.groups()).finish()
    }
}

impl GroupRegistry {
    pub fn new() -> Arc<GroupRegistry> {
        Arc::default()
    }

    /// The groups registered on this node, sorted.
    pub fn groups(&self) -> Vec<GroupId> {
        let mut ids: Vec<GroupId> = self.groups.read().keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    pub fn contains(&self, group: GroupId) -> bool {
        self.groups.read().contains_key(&group)
    }

    /// Registers `endpoint` for `group`; `None` if the group is already registered (running).
    pub(crate) fn register(self: &Arc<Self>, group: GroupId, endpoint: Arc<dyn GroupEndpoint>) -> Option<Registration> {
        let mut groups = self.groups.write();
        if groups.contains_key(&group) {
            return None;
        }
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        groups.insert(group, Registered { token, endpoint });
        Some(Registration { registry: self.clone(), group, token })
    }
}

impl ServiceHandler for GroupRegistry {
    fn handle(&self, request: InboundRequest) -> HandlerFuture {
        let endpoint = self.groups.read().get(&request.group).map(|r| r.endpoint.clone());
        match endpoint {
            Some(endpoint) => endpoint.handle(&request.method, request.body),
            None => {
                let group = request.group;
                Box::pin(async move {
                    Err(HandlerError::new(
                        HandlerErrorKind::UnknownTarget,
                        format!("raft group {group} is not running on this node"),
                    ))
                })
            }
        }
    }
}

/// Keeps a group registered; dropping it deregisters the group (only this registration of it).
pub(crate) struct Registration {
    registry: Arc<GroupRegistry>,
    group: GroupId,
    token: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut groups = self.registry.groups.write();
        if groups.get(&self.group).is_some_and(|r| r.token == self.token) {
            groups.remove(&self.group);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use openraft::raft::{AppendEntriesResponse, VoteResponse};
    use openraft::vote::leader_id_std::CommittedLeaderId;
    use openraft::{BasicNode, EntryPayload, Membership};

    use super::*;
    use crate::types::{Entry, LogId, StoredMembership};
    use crate::{Proposal, Reply};

    fn roundtrip<T: Serialize + DeserializeOwned + std::fmt::Debug>(value: &T) -> T {
        let bytes = encode(value).expect("encode");
        decode(&bytes).expect("decode")
    }

    /// postcard is positional: every message must survive a round trip field for field.
    #[test]
    fn raft_messages_roundtrip_through_postcard() {
        let log_id = |term, index| LogId { leader_id: CommittedLeaderId::new(term), index };
        let nodes = BTreeMap::from([(1u64, BasicNode::new("127.0.0.1:1")), (2, BasicNode::new("127.0.0.1:2"))]);
        let membership = Membership::<u64, BasicNode>::new(vec![BTreeSet::from([1, 2])], nodes).expect("membership");
        let append = AppendEntriesRequest::<TypeConfig> {
            vote: Vote::new_committed(3, 1),
            prev_log_id: Some(log_id(2, 9)),
            leader_commit: Some(log_id(2, 8)),
            entries: vec![
                Entry { log_id: log_id(3, 10), payload: EntryPayload::Normal(Proposal(vec![1, 2, 3])) },
                Entry { log_id: log_id(3, 11), payload: EntryPayload::Membership(membership.clone()) },
                Entry { log_id: log_id(3, 12), payload: EntryPayload::Blank },
            ],
        };
        assert_eq!(format!("{:?}", roundtrip(&append)), format!("{append:?}"));
        let resp = AppendEntriesResponse::<TypeConfig>::Success;
        assert_eq!(roundtrip(&resp), resp);
        let vote = VoteRequest::<TypeConfig>::new(Vote::new(4, 2), Some(log_id(3, 12)));
        assert_eq!(roundtrip(&vote), vote);
        let vote_resp = VoteResponse::<TypeConfig>::new(Vote::new(4, 2), Some(log_id(3, 12)), true);
        assert_eq!(roundtrip(&vote_resp), vote_resp);
        let snap = SnapshotRequest {
            vote: Vote::new_committed(3, 1),
            meta: openraft::alias::SnapshotMetaOf::<TypeConfig> {
                last_log_id: Some(log_id(3, 12)),
                last_membership: StoredMembership::new(Some(log_id(3, 11)), membership),
            },
            snapshot: LocalSnapshot { marker: Some("m".into()) },
            source: "127.0.0.1:9300".into(),
        };
        let back: SnapshotRequest = roundtrip(&snap);
        assert_eq!(back.meta, snap.meta);
        assert_eq!(back.vote, snap.vote);
        assert_eq!(back.snapshot.marker, snap.snapshot.marker);
        assert_eq!(back.source, snap.source);
        assert_eq!(roundtrip(&Reply(vec![9; 3])), Reply(vec![9; 3]));
    }
}
