//! How shard requests and results travel between nodes (serde adapters for the transport).
//!
//! The transport encodes messages with postcard, which is compact and exact for floats (an empty
//! `min` aggregation is `+inf`, which JSON cannot carry) but cannot decode a `serde_json::Value`
//! (it is not self-describing). The few fields that hold JSON values (query trees, sort `missing`
//! values, `search_after`, rendered `top_hits`) therefore travel as JSON text inside the postcard
//! message, through the adapters here.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A value serialized as JSON text (for types holding `serde_json::Value`s).
pub mod json {
    use super::*;

    pub fn serialize<T: Serialize, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        let text = serde_json::to_string(v).map_err(serde::ser::Error::custom)?;
        s.serialize_str(&text)
    }

    pub fn deserialize<'de, T: DeserializeOwned, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
        let text = String::deserialize(d)?;
        serde_json::from_str(&text).map_err(serde::de::Error::custom)
    }
}

/// Shared bytes (a document source) as a plain byte string.
pub mod shared_bytes {
    use super::*;

    pub fn serialize<S: Serializer>(v: &Arc<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<Vec<u8>>, D::Error> {
        struct Bytes;
        impl<'de> serde::de::Visitor<'de> for Bytes {
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
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(b) = seq.next_element()? {
                    out.push(b);
                }
                Ok(out)
            }
        }
        d.deserialize_byte_buf(Bytes).map(Arc::new)
    }
}

/// A request's aggregations as their source JSON: the receiving shard parses them again, which
/// keeps the parsed tree (with its compiled patterns and static type names) out of the wire format.
pub mod agg_request {
    use super::*;
    use crate::aggs::AggRequest;

    pub fn serialize<S: Serializer>(v: &Option<Arc<AggRequest>>, s: S) -> Result<S::Ok, S::Error> {
        let text = v.as_ref().map(|a| a.source().to_string());
        text.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Arc<AggRequest>>, D::Error> {
        let Some(text) = Option::<String>::deserialize(d)? else { return Ok(None) };
        let source: serde_json::Value = serde_json::from_str(&text).map_err(serde::de::Error::custom)?;
        AggRequest::parse(&source).map(|a| Some(Arc::new(a))).map_err(|e| serde::de::Error::custom(e.reason))
    }
}
