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

/// A shared byte buffer (a document's `_source`) as one byte string, via `serde_bytes`.
pub mod shared_bytes {
    use super::*;

    pub fn serialize<S: Serializer>(v: &Arc<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        serde_bytes::serialize(v.as_slice(), s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<Vec<u8>>, D::Error> {
        serde_bytes::deserialize::<Vec<u8>, D>(d).map(Arc::new)
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;
    use tern_query::{QueryAst, SortSpec};

    use crate::StoredDoc;
    use crate::aggs::{AggPartial, AggRequest, FinalizeOptions};
    use crate::search::{ShardHit, ShardSearchRequest, ShardSearchResult, SortValue};

    #[test]
    fn a_search_request_crosses_the_wire_in_postcard() {
        let aggs = AggRequest::parse(&json!({"low": {"min": {"field": "n"}}})).expect("aggs");
        let mut sort = SortSpec::new("n");
        sort.missing = Some(json!("_first"));
        let req = ShardSearchRequest {
            query: tern_query::parse_query(&json!({"range": {"n": {"gte": 3, "lt": "10"}}})).expect("query"),
            filters: vec![QueryAst::match_all()],
            sort: vec![sort],
            top: 7,
            search_after: Some(vec![json!(4), json!("x")]),
            min_score: Some(0.5),
            terminate_after: None,
            track_scores: true,
            now_millis: 42,
            after_doc_key: Some(-1),
            aggs: Some(Arc::new(aggs)),
            post_filter: Some(tern_query::parse_query(&json!({"term": {"k": "v"}})).expect("post filter")),
        };
        let bytes = postcard::to_stdvec(&req).expect("encode");
        let back: ShardSearchRequest = postcard::from_bytes(&bytes).expect("decode");
        assert_eq!(back.query, req.query);
        assert_eq!(back.sort, req.sort);
        assert_eq!(back.search_after, req.search_after);
        assert_eq!(back.post_filter, req.post_filter);
        assert_eq!((back.top, back.after_doc_key, back.now_millis), (7, Some(-1), 42));
        assert_eq!(back.aggs.as_ref().map(|a| a.source().clone()), Some(json!({"low": {"min": {"field": "n"}}})));
    }

    #[test]
    fn a_search_result_keeps_sources_and_infinite_partials() {
        let aggs = AggRequest::parse(&json!({"low": {"min": {"field": "n"}}})).expect("aggs");
        let result = ShardSearchResult {
            total: 3,
            max_score: Some(1.5),
            hits: vec![ShardHit {
                score: Some(1.5),
                sort: vec![SortValue::I64(3), SortValue::Missing],
                doc: StoredDoc {
                    id: "a".into(),
                    seq_no: 1,
                    primary_term: 2,
                    version: 3,
                    routing: Some("r".into()),
                    source: Arc::new(br#"{"n":3}"#.to_vec()),
                },
                shard: 1,
                doc_key: 9,
                highlight: Some(vec![("t".into(), vec!["<em>x</em>".into()])]),
                collapse: Some(("k".into(), json!(["v"]))),
                inner_hits: Vec::new(),
            }],
            terminated_early: false,
            aggs: Some(AggPartial::empty(&aggs)),
        };
        let bytes = postcard::to_stdvec(&result).expect("encode");
        let back: ShardSearchResult = postcard::from_bytes(&bytes).expect("decode");
        let hit = &back.hits[0];
        assert_eq!(hit.doc, result.hits[0].doc);
        assert_eq!(
            (hit.sort.clone(), hit.doc_key, hit.collapse.clone()),
            (result.hits[0].sort.clone(), 9, result.hits[0].collapse.clone())
        );
        assert_eq!(hit.highlight, result.hits[0].highlight);
        // An empty `min` is +inf until it is finalized (to null): JSON could not carry it.
        let finalize =
            |p: AggPartial| p.finalize(&aggs, &FinalizeOptions::default()).expect("finalize").to_json(false, false);
        assert_eq!(finalize(back.aggs.expect("aggs")), finalize(result.aggs.expect("aggs")));
    }
}
