//! Turns an [`ApplyHandler`] written by the layer above into an openraft state machine.
//!
//! The handler owns the real state (a shard's tantivy index) and persists it on its own schedule. To
//! let openraft know how far that persisted state reaches, the adapter hands the handler an opaque
//! *marker* with every entry: the entry's log id and the membership in force, encoded as JSON. The
//! handler stores the marker of the last applied entry with each durable commit (tantivy's commit
//! payload), and after a restart [`ApplyHandler::durable_marker`] gives it back, so openraft re-applies
//! only the log tail after it.
//!
//! `apply` runs the handler on tokio's blocking pool: indexing is CPU work and must not stall the
//! runtime. Entries that are ready together are applied as one batch in one blocking call.

use std::future::Future;
use std::io;
use std::sync::Arc;

use futures::{FutureExt, Stream, StreamExt};
use openraft::EntryPayload;
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine, Snapshot, SnapshotMeta};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use tern_transport::TransportClient;

use crate::types::{GroupId, LogId, Reply, StoredMembership, TypeConfig};

/// The application side of a raft group's state machine.
pub trait ApplyHandler: Send + Sync + 'static {
    /// Applies one proposal committed in `term`. The returned bytes travel back to the proposer.
    fn apply(&self, term: u64, marker: String, payload: &[u8]) -> Vec<u8>;
    /// Records that a blank or membership entry was applied (it changes no data, only the marker).
    fn advance(&self, marker: String);
    /// The marker stored with the handler's last durable commit.
    fn durable_marker(&self) -> Option<String>;
    /// Makes everything applied so far durable and returns the marker it covers.
    fn persist(&self) -> Result<Option<String>, String>;

    /// Whether [`Self::install_snapshot`] works. A follower that cannot install refuses a snapshot
    /// at the network boundary (a typed, logged error the leader retries), because a failed
    /// install inside openraft is a storage error that stops the group on this node.
    fn can_install_snapshot(&self) -> bool {
        false
    }

    /// Brings to this node whatever `snapshot` stands for beyond its marker (a shard copies the
    /// leader's commit files from `source`), before openraft is handed the snapshot.
    ///
    /// It runs in the follower's RPC handler, outside openraft: openraft's install must be quick
    /// and cannot fail without stopping the group, while a copy takes as long as the data needs and
    /// may fail (the leader then sends the snapshot again). The leader's RPC may time out while this
    /// runs; an implementation whose fetch outlives one RPC should keep it going and let the next
    /// attempt for the same snapshot pick it up. On success, the next [`Self::install_snapshot`]
    /// of `snapshot` must succeed. The default has nothing to fetch: a marker-only snapshot.
    fn fetch_snapshot(
        self: Arc<Self>,
        source: SnapshotSource,
        snapshot: LocalSnapshot,
    ) -> impl Future<Output = Result<(), String>> + Send {
        let _ = (source, snapshot);
        async { Ok(()) }
    }

    /// Replaces the handler's whole state with `snapshot`, taken on the group's leader, whose
    /// marker is `snapshot.marker` (after [`Self::fetch_snapshot`] of it succeeded); afterwards
    /// [`Self::durable_marker`] must return that marker.
    fn install_snapshot(&self, snapshot: &LocalSnapshot) -> Result<(), String> {
        Err(format!("this state machine cannot install snapshots (snapshot marker {:?})", snapshot.marker))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
struct AppliedState {
    last_applied: Option<LogId>,
    membership: StoredMembership,
}

impl AppliedState {
    fn decode(marker: Option<&str>) -> AppliedState {
        marker.and_then(|m| serde_json::from_str(m).ok()).unwrap_or_default()
    }

    fn encode(&self) -> String {
        serde_json::to_string(self).expect("applied state always encodes")
    }
}

/// A snapshot: the handler's durable state at a marker.
///
/// The raft network sends it to a lagging follower as it is (postcard, in one message: see
/// `network.rs`), so whatever it carries must stay serde-serializable and small. State too big for
/// one message (a shard's files) is not in it: the follower's handler fetches that from the sender
/// ([`ApplyHandler::fetch_snapshot`]) before the snapshot is installed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LocalSnapshot {
    pub marker: Option<String>,
}

/// Where a snapshot being installed comes from: the node that sent it (the group's leader) and a
/// transport client to reach it.
#[derive(Debug, Clone)]
pub struct SnapshotSource {
    pub group: GroupId,
    /// The sender's transport address (`host:port`).
    pub addr: String,
    pub client: TransportClient,
}

type SnapshotOf = openraft::alias::SnapshotOf<TypeConfig, LocalSnapshot>;

pub struct StateMachine<H: ApplyHandler> {
    handler: Arc<H>,
    applied: AppliedState,
    /// The last snapshot built, shared with the builders so openraft can ask for it later.
    current_snapshot: Arc<Mutex<Option<SnapshotOf>>>,
}

impl<H: ApplyHandler> StateMachine<H> {
    pub fn new(handler: Arc<H>) -> Self {
        let applied = AppliedState::decode(handler.durable_marker().as_deref());
        StateMachine { handler, applied, current_snapshot: Arc::default() }
    }
}

enum Work {
    Apply { term: u64, marker: String, payload: Vec<u8> },
    Advance { marker: String },
}

impl<H: ApplyHandler> RaftStateMachine<TypeConfig> for StateMachine<H> {
    type SnapshotData = LocalSnapshot;
    type SnapshotBuilder = SnapshotBuilder<H>;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        Ok((self.applied.last_applied, self.applied.membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + Send,
    {
        loop {
            // Gather what is ready now into one batch; wait only for the first entry.
            let Some(first) = entries.next().await else {
                break;
            };
            let mut batch = vec![first?];
            while let Some(Some(next)) = entries.next().now_or_never() {
                batch.push(next?);
            }
            let mut work = Vec::with_capacity(batch.len());
            let mut responders = Vec::with_capacity(batch.len());
            for (entry, responder) in batch {
                self.applied.last_applied = Some(entry.log_id);
                let item = match entry.payload {
                    EntryPayload::Normal(p) => {
                        Work::Apply { term: entry.log_id.leader_id.term, marker: self.applied.encode(), payload: p.0 }
                    }
                    EntryPayload::Membership(m) => {
                        self.applied.membership = StoredMembership::new(Some(entry.log_id), m);
                        Work::Advance { marker: self.applied.encode() }
                    }
                    EntryPayload::Blank => Work::Advance { marker: self.applied.encode() },
                };
                work.push(item);
                responders.push(responder);
            }
            let handler = self.handler.clone();
            let replies = tokio::task::spawn_blocking(move || {
                work.into_iter()
                    .map(|w| match w {
                        Work::Apply { term, marker, payload } => handler.apply(term, marker, &payload),
                        Work::Advance { marker } => {
                            handler.advance(marker);
                            Vec::new()
                        }
                    })
                    .collect::<Vec<_>>()
            })
            .await
            .map_err(io::Error::other)?;
            for (responder, reply) in responders.into_iter().zip(replies) {
                if let Some(r) = responder {
                    r.send(Reply(reply));
                }
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder { handler: self.handler.clone(), current: self.current_snapshot.clone() }
    }

    async fn install_snapshot(
        &mut self,
        meta: &openraft::alias::SnapshotMetaOf<TypeConfig>,
        snapshot: Self::SnapshotData,
    ) -> Result<(), io::Error> {
        let handler = self.handler.clone();
        let installed = snapshot.clone();
        tokio::task::spawn_blocking(move || handler.install_snapshot(&installed))
            .await
            .map_err(io::Error::other)?
            .map_err(|reason| {
                tracing::error!(last_log_id = ?meta.last_log_id, %reason, "installing a raft snapshot failed");
                io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("installing snapshot {:?} failed: {reason}", meta.last_log_id),
                )
            })?;
        self.applied = AppliedState { last_applied: meta.last_log_id, membership: meta.last_membership.clone() };
        *self.current_snapshot.lock() = Some(Snapshot { meta: meta.clone(), snapshot });
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<SnapshotOf>, io::Error> {
        Ok(self.current_snapshot.lock().clone())
    }
}

pub struct SnapshotBuilder<H: ApplyHandler> {
    handler: Arc<H>,
    current: Arc<Mutex<Option<SnapshotOf>>>,
}

impl<H: ApplyHandler> RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder<H> {
    type SnapshotData = LocalSnapshot;

    /// Building a snapshot is a durable commit of the handler: afterwards the log before the marker
    /// is no longer needed for recovery and openraft may purge it.
    async fn build_snapshot(&mut self) -> Result<SnapshotOf, io::Error> {
        let handler = self.handler.clone();
        let marker = tokio::task::spawn_blocking(move || handler.persist())
            .await
            .map_err(io::Error::other)?
            .map_err(io::Error::other)?;
        let state = AppliedState::decode(marker.as_deref());
        let snapshot = Snapshot {
            meta: SnapshotMeta { last_log_id: state.last_applied, last_membership: state.membership },
            snapshot: LocalSnapshot { marker },
        };
        *self.current.lock() = Some(snapshot.clone());
        Ok(snapshot)
    }
}
