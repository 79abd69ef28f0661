//! The one openraft type configuration every tern raft group uses.
//!
//! tern-raft knows nothing about shards or metadata: a proposal is an opaque byte payload that the
//! layer above encodes (postcard) and decodes in its state machine, and the reply is opaque bytes too.
//! That keeps openraft confined to this crate and lets one write-ahead log serve every group.

use serde::{Deserialize, Serialize};

/// An opaque command proposed to a raft group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Proposal(#[serde(with = "serde_bytes_compat")] pub Vec<u8>);

/// The state machine's opaque answer to one applied [`Proposal`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Reply(#[serde(with = "serde_bytes_compat")] pub Vec<u8>);

impl std::fmt::Display for Proposal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "proposal({} bytes)", self.0.len())
    }
}

/// Serializes a byte vector as one byte string rather than a sequence of numbers, which keeps both
/// postcard and JSON encodings compact.
mod serde_bytes_compat {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Vec<u8>, A::Error> {
                let mut out = Vec::new();
                while let Some(b) = a.next_element::<u8>()? {
                    out.push(b);
                }
                Ok(out)
            }
        }
        d.deserialize_byte_buf(V)
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
