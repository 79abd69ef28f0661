//! `explain` (`GET|POST /{index}/_explain/{id}`): does one document match a query, and with what
//! score.
//!
//! tern runs the query on the document's shard restricted to its `_id` (plus the filters of a
//! filtered alias, as a search through that alias would) over the refreshed view, as ES's explain
//! does. The score is the real one; tern does not break it down per clause, and says so in the
//! explanation rather than inventing a Lucene-style tree.

// `EsError` is the workspace-wide error type; its size is a workspace decision, not this module's.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};
use tern_cluster::IndicesOptions;
use tern_common::{ErrorKind, EsError};
use tern_node::Node;
use tern_query::{BoolQuery, ConstantScoreQuery, IdsQuery, MatchAllQuery, QueryAst, SearchRequest};

use crate::context::{Ctx, EsBody};
use crate::error::ApiResult;
use crate::source::SourceFilter;

const EXPLAIN_PARAMS: &[&str] = &[
    "_source",
    "_source_excludes",
    "_source_includes",
    "analyze_wildcard",
    "analyzer",
    "default_operator",
    "df",
    "lenient",
    "preference",
    "q",
    "routing",
    "stored_fields",
];

/// The query of an explain body (`{"query": {...}}` and nothing else), or of `q`.
fn parse_query(ctx: &Ctx, body: &EsBody) -> Result<QueryAst, EsError> {
    let mut query = None;
    if let Some(v) = body.json()? {
        let Value::Object(obj) = v else {
            return Err(EsError::parsing("request body must be an object"));
        };
        for (k, v) in obj {
            if k != "query" {
                return Err(EsError::parsing(format!("request does not support [{k}]")));
            }
            query = Some(tern_query::parse_query(&v).map_err(EsError::from)?);
        }
    }
    if ctx.params.has("q") {
        let mut req = SearchRequest::default();
        tern_query::apply_uri_search_params(&mut req, &ctx.params.pairs()).map_err(EsError::from)?;
        query = req.query;
    }
    query.ok_or_else(|| EsError::validation(&["query is missing".into()]))
}

/// The `get` section ES adds when source or stored fields were asked for.
fn get_section(ctx: &Ctx, doc: &tern_shard::StoredDoc) -> Option<Value> {
    let p = &ctx.params;
    let wants_source =
        p.has("_source_includes") || p.has("_source_excludes") || p.get("_source").is_some_and(|s| s != "false");
    if !wants_source && !p.has("stored_fields") {
        return None;
    }
    let filter = SourceFilter::from_params(p.get("_source"), p.get("_source_includes"), p.get("_source_excludes"));
    let mut m = Map::new();
    m.insert("_seq_no".into(), doc.seq_no.into());
    m.insert("_primary_term".into(), doc.primary_term.into());
    m.insert("found".into(), true.into());
    if wants_source
        && !doc.source.is_empty()
        && let Some(src) = filter.apply_bytes(&doc.source)
    {
        m.insert("_source".into(), src);
    }
    Some(Value::Object(m))
}

pub(crate) fn explanation(score: Option<f32>) -> Value {
    match score {
        Some(s) => json!({
            "value": s,
            "description": "score computed by tern for this query; tern does not break scores down per clause",
            "details": [],
        }),
        None => json!({
            "value": 0.0,
            "description": "no match: the document does not match the query (tern does not detail which clause failed)",
            "details": [],
        }),
    }
}

/// `GET|POST /{index}/_explain/{id}`
pub async fn explain(
    State(node): State<Arc<Node>>,
    Path((index, id)): Path<(String, String)>,
    ctx: Ctx,
    body: EsBody,
) -> ApiResult<Response> {
    ctx.params.check(EXPLAIN_PARAMS)?;
    let query = parse_query(&ctx, &body).map_err(|e| ctx.error(e))?;
    let routing = ctx.params.get("routing");
    // The document as the refreshed view holds it; this also resolves `index` to one index.
    let preference = ctx.params.get("preference");
    let (concrete, doc) = node.get_document(&index, &id, routing, false, preference).await.map_err(|e| ctx.error(e))?;
    let Some(doc) = doc else {
        return ctx.json(StatusCode::NOT_FOUND, json!({"_index": concrete, "_id": id, "matched": false}));
    };
    let meta = node.metadata();
    let im = meta.indices.get(&concrete).ok_or_else(|| ctx.error(EsError::index_not_found(&concrete)))?;
    let shard = tern_cluster::shard_id(
        routing.unwrap_or(&id),
        im.settings.number_of_shards(),
        im.settings.routing_num_shards(),
    );
    let targets = node
        .search_targets_with(
            std::slice::from_ref(&index),
            &IndicesOptions::strict_expand_open_forbid_closed(),
            preference,
        )
        .map_err(|e| ctx.error(e))?;
    let target = targets.into_iter().find(|t| t.index == concrete && t.shard == shard).ok_or_else(|| {
        ctx.error(EsError::new(ErrorKind::NoShardAvailable, format!("[{concrete}][{shard}] shard is not available")))
    })?;
    // A bare `match_all` scores its boost; tern-shard compiles it to tantivy's `AllQuery`, which a
    // boolean with other required clauses (the id filter below) drops along with its score. The
    // equivalent `constant_score` keeps it.
    let query = match query {
        QueryAst::MatchAll(m) => QueryAst::ConstantScore(ConstantScoreQuery {
            filter: Box::new(QueryAst::MatchAll(MatchAllQuery { boost: 1.0, name: None })),
            boost: m.boost,
            name: m.name,
        }),
        other => other,
    };
    // The query, restricted to this document; the target carries any filtered alias's filter.
    let restricted = QueryAst::Bool(BoolQuery {
        must: vec![query],
        filter: vec![QueryAst::Ids(IdsQuery { values: vec![id.clone()], boost: 1.0, name: None })],
        ..Default::default()
    });
    let search = SearchRequest { query: Some(restricted), size: Some(1), ..Default::default() };
    let result = node.search(vec![target], &search, None).await.map_err(|e| {
        // One shard was asked: answer its own failure, not the search-phase wrapper around it.
        match (e.kind, e.caused_by.clone()) {
            (ErrorKind::SearchPhaseExecution, Some(cause)) => ctx.error(*cause),
            _ => ctx.error(e),
        }
    })?;
    let hit = result.hits.into_iter().map(|(_, h)| h).find(|h| h.doc.id == id);
    let matched = hit.is_some();
    let mut m = Map::new();
    m.insert("_index".into(), concrete.into());
    m.insert("_id".into(), id.into());
    m.insert("matched".into(), matched.into());
    m.insert("explanation".into(), explanation(hit.map(|h| h.score.unwrap_or(0.0))));
    if let Some(get) = get_section(&ctx, &doc) {
        m.insert("get".into(), get);
    }
    ctx.ok(Value::Object(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explanation_shapes() {
        let v = explanation(Some(1.0));
        assert_eq!(v["value"], 1.0);
        assert_eq!(v["details"], json!([]));
        assert_eq!(explanation(None)["value"], 0.0);
    }
}
