//! Node services over raft-replicated shards.
//!
//! The REST edge calls [`Node`]; the node resolves index expressions against the cluster metadata,
//! routes documents to shards with ES's formula, proposes writes to each shard's raft group, fans
//! searches out to shards and merges what they return. It owns the shard lifecycle (open, close,
//! delete, refresh scheduling) and the registry through which plugins add routes, settings and
//! background services.
//!
//! Cluster metadata is a pure state machine (`tern-cluster`); on a single node the node applies its
//! commands in order under one lock and persists the result before answering, so a metadata change
//! that was acknowledged survives a crash. In a multi-node cluster the same commands are entries of
//! a raft group over the master-eligible nodes (see [`cluster`]).

pub mod by_query;
pub mod cluster;
pub mod commit_copy;
pub mod documents;
pub mod forward;
pub mod indices;
pub mod info;
pub mod node;
pub mod persist;
pub mod recovery;
pub mod search;
pub mod shard;
pub mod shard_rpc;
pub mod witness;

pub use node::{Node, NodeInfo, NodeOptions};
