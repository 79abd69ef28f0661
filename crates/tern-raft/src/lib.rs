//! openraft glue for tern.
//!
//! Every shard of every index is one raft group; so, later, is the cluster metadata. This crate holds
//! the single openraft [`TypeConfig`], the node-wide write-ahead log that all
//! groups share (one fsync covers a bulk that touches many shards), and the adapter that turns a plain
//! [`ApplyHandler`] written by the layer above into an openraft state machine, and the raft network
//! over `tern-transport` that multiplexes every group of a node over one transport (see
//! [`network`] and [`rpc`]).

pub mod log_store;
pub mod types;
pub mod wal;

pub use types::{GroupId, LogId, Proposal, Reply, TypeConfig};
pub mod group;
pub mod network;
pub mod rpc;
pub mod state_machine;

pub use group::{
    Bootstrap, Committed, GroupError, GroupMembership, GroupMetrics, GroupRole, GroupSettings, LogPosition, RaftGroup,
};
pub use network::RaftTransport;
pub use rpc::GroupRegistry;
pub use state_machine::{ApplyHandler, LocalSnapshot, SnapshotSource};
