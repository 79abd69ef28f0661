//! The one openraft type configuration every tern raft group uses.
//!
//! tern-raft knows nothing about shards or metadata: a proposal is an opaque byte payload that the
//! layer above encodes (postcard) and decodes in its state machine, and the reply is opaque bytes too.
//! That keeps openraft confined to this crate and lets one write-ahead log serve every group.

use serde::{Deserialize, Serialize};

/// An opaque command proposed to a raft group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Proposal(#[serde(with = "serde_bytes")] pub Vec<u8>);

/// The state machine's opaque answer to one applied [`Proposal`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Reply(#[serde(with = "serde_bytes")] pub Vec<u8>);

impl std::fmt::Display for Proposal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "proposal({} bytes)", self.0.len())
    }
}

/// A raft group id. Shard groups and the metadata group share one id space on a node.
pub type GroupId = u64;

openraft::declare_raft_types!(
    /// tern's raft type configuration: opaque payloads, u64 node ids, and the standard leader id so
    /// that one term has at most one leader (a term is then a valid `_primary_term`).
    pub TypeConfig:
        D = Proposal,
        R = Reply,
        NodeId = u64,
        Node = openraft::BasicNode,
        LeaderId = openraft::impls::leader_id_std::LeaderId<Self::Term, Self::NodeId>,
);

pub type LogId = openraft::alias::LogIdOf<TypeConfig>;
pub type Entry = openraft::alias::EntryOf<TypeConfig>;
pub type Vote = openraft::alias::VoteOf<TypeConfig>;
pub type StoredMembership = openraft::alias::StoredMembershipOf<TypeConfig>;
