//! `search`, `count`, `scroll`, `clear_scroll`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::{Map, Value, json};
use tern_cluster::IndicesOptions;
use tern_common::{ErrorKind, EsError};
use tern_node::Node;
use tern_node::search::{SearchOutcome, parse_time};
use tern_query::{SearchRequest, TrackTotalHits};

use crate::context::{Ctx, EsBody};
use crate::error::ApiResult;
use crate::params::split_list;
use crate::source::SourceFilter;

const SEARCH_PARAMS: &[&str] = &[
    "q",
    "df",
    "analyzer",
    "analyze_wildcard",
    "default_operator",
    "lenient",
    "from",
    "size",
    "sort",
    "_source",
    "_source_includes",
    "_source_excludes",
    "track_total_hits",
    "track_scores",
    "timeout",
    "terminate_after",
    "explain",
    "version",
    "seq_no_primary_term",
    "stored_fields",
    "docvalue_fields",
    "scroll",
    "search_type",
    "routing",
    "preference",
    "request_cache",
    "batched_reduce_size",
    "max_concurrent_shard_requests",
    "pre_filter_shard_size",
    "allow_partial_search_results",
    "expand_wildcards",
    "ignore_unavailable",
    "allow_no_indices",
    "ignore_throttled",
    "rest_total_hits_as_int",
    "typed_keys",
    "ccs_minimize_roundtrips",
    "min_score",
    "suggest_field",
    "suggest_mode",
    "suggest_size",
    "suggest_text",
    "stats",
    "include_named_queries_score",
    "force_synthetic_source",
];

fn indices_of(path: Option<Path<String>>) -> Vec<String> {
    path.map(|Path(i)| split_list(&i)).unwrap_or_else(|| vec!["_all".to_string()])
}

/// Merges URL parameters into the body request (URL wins for size/from/sort... as ES does).
fn build_request(ctx: &Ctx, body: &EsBody) -> Result<SearchRequest, EsError> {
    let mut req = match body.json()? {
        Some(v) => tern_query::parse_search_request(&v).map_err(EsError::from)?,
        None => SearchRequest::default(),
    };
    let pairs = ctx.params.pairs();
    tern_query::apply_uri_search_params(&mut req, &pairs).map_err(EsError::from)?;
    Ok(req)
}

/// `GET|POST /_search`, `/{index}/_search`
pub async fn search(
    State(node): State<Arc<Node>>,
    index: Option<Path<String>>,
    ctx: Ctx,
    body: EsBody,
) -> ApiResult<Response> {
    ctx.params.check(SEARCH_PARAMS)?;
    let has_index = index.is_some();
    let expr = indices_of(index);
    let opts = ctx.params.indices_options(IndicesOptions::strict_expand_open_forbid_closed())?;
    let req = build_request(&ctx, &body).map_err(|e| ctx.error(e))?;
    let scroll = ctx.params.get("scroll").map(parse_time).transpose()?;
    if scroll.is_some() {
        if req.size == Some(0) {
            return Err(ctx.error(EsError::validation(&["[size] cannot be [0] in a scroll context".into()])));
        }
        if ctx.params.bool("request_cache", false)? {
            return Err(ctx.error(EsError::validation(&["[request_cache] cannot be used in a scroll context".into()])));
        }
    }
    let rest_total_as_int = ctx.params.bool("rest_total_hits_as_int", false)?;
    if rest_total_as_int
        && let Some(TrackTotalHits::Count(n)) = req.track_total_hits
        && n != 10_000
        && n != i64::from(i32::MAX)
    {
        return Err(ctx.error(EsError::illegal_argument(format!(
            "[rest_total_hits_as_int] cannot be used if the tracking of total hits is not accurate, got {n}"
        ))));
    }
    let typed_keys = ctx.params.bool("typed_keys", false)?;
    let targets = if req.pit.is_some() {
        if has_index {
            return Err(ctx.error(EsError::validation(&[
                "[indices] cannot be used with point in time. Do not specify any index with point in time.".into(),
            ])));
        }
        Vec::new()
    } else {
        node.search_targets_with(&expr, &opts, ctx.params.get("preference")).map_err(|e| ctx.error(e))?
    };
    let out = node.search(targets, &req, scroll).await.map_err(|e| ctx.error(e))?;
    ctx.ok(render_search_typed(&out, &req, rest_total_as_int, typed_keys))
}

/// Renders hits (and aggregations, with plain names) the way ES does.
pub fn render_search(out: &SearchOutcome, req: &SearchRequest, total_as_int: bool) -> Value {
    render_search_typed(out, req, total_as_int, false)
}

/// `inner_hits` of a collapsed group, each rendered like a search response's `hits` with its own
/// definition (source filtering, version, sort...).
fn render_inner_hits(
    h: &tern_shard::search::ShardHit,
    req: &SearchRequest,
    total_as_int: bool,
    typed_keys: bool,
) -> Value {
    let specs = req.collapse.as_ref().map(tern_node::search::inner_hits_specs).unwrap_or_default();
    let mut out = Map::new();
    for (name, result) in &h.inner_hits {
        let inner_req = specs
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, body)| tern_query::parse_search_request(body).ok())
            .unwrap_or_default();
        let outcome = SearchOutcome {
            took_ms: 0,
            total: result.total,
            max_score: result.max_score,
            hits: result.hits.clone(),
            shards_total: 0,
            shards_successful: 0,
            shards_failed: Vec::new(),
            terminated_early: None,
            scroll_id: None,
            pit_id: None,
            aggregations: None,
        };
        let rendered = render_search_typed(&outcome, &inner_req, total_as_int, typed_keys);
        out.insert(name.clone(), json!({"hits": rendered.get("hits").cloned().unwrap_or(Value::Null)}));
    }
    Value::Object(out)
}

/// Renders hits and aggregations; `typed_keys` prefixes aggregation names with their type
/// (`sterms#my_terms`).
pub fn render_search_typed(out: &SearchOutcome, req: &SearchRequest, total_as_int: bool, typed_keys: bool) -> Value {
    let filter = source_filter(&req.source);
    let sorted = !(req.sort.is_empty() || (req.sort.len() == 1 && req.sort[0].field == "_score"));
    let show_score = !sorted || req.track_scores;
    // `stored_fields` other than `_source` turn the source off unless `_source` is asked for.
    let source_wanted = match &req.stored_fields {
        Some(f) if !f.iter().any(|x| x == "_source") => req.source.fetch() == Some(true),
        _ => true,
    };
    let field_patterns: Vec<String> = req.fields.iter().chain(&req.docvalue_fields).map(|f| f.field.clone()).collect();
    let mut hits = Vec::with_capacity(out.hits.len());
    for (index, h) in &out.hits {
        let mut m = Map::new();
        m.insert("_index".into(), index.clone().into());
        m.insert("_id".into(), h.doc.id.clone().into());
        if req.version == Some(true) {
            m.insert("_version".into(), h.doc.version.into());
        }
        if req.seq_no_primary_term == Some(true) {
            m.insert("_seq_no".into(), h.doc.seq_no.into());
            m.insert("_primary_term".into(), h.doc.primary_term.into());
        }
        m.insert("_score".into(), if show_score { score_json(h.score) } else { Value::Null });
        if req.explain == Some(true) {
            m.insert("_shard".into(), format!("[{index}][{}]", h.shard).into());
            m.insert("_explanation".into(), crate::api::explain::explanation(h.score));
        }
        if let Some(r) = &h.doc.routing {
            m.insert("_routing".into(), r.clone().into());
        }
        if source_wanted
            && !h.doc.source.is_empty()
            && let Some(src) = filter.apply_bytes(&h.doc.source)
        {
            m.insert("_source".into(), src);
        }
        let mut fields =
            if field_patterns.is_empty() { Map::new() } else { fields_from_source(&h.doc.source, &field_patterns) };
        if let Some((field, value)) = &h.collapse {
            fields.insert(field.clone(), Value::Array(vec![value.clone()]));
        }
        if !fields.is_empty() {
            m.insert("fields".into(), Value::Object(fields));
        }
        if let Some(hl) = &h.highlight {
            let fields: Map<String, Value> = hl
                .iter()
                .map(|(field, frags)| {
                    (field.clone(), Value::Array(frags.iter().map(|f| Value::from(f.as_str())).collect()))
                })
                .collect();
            m.insert("highlight".into(), Value::Object(fields));
        }
        // A point-in-time search sorts by `_score` when asked for no order, and always ends with
        // the `_shard_doc` tiebreaker: its sort values show both.
        if !req.sort.is_empty() || out.pit_id.is_some() {
            let values: Vec<Value> = h
                .sort
                .iter()
                .enumerate()
                .map(|(i, v)| match req.sort.get(i).map(|s| s.field.as_str()) {
                    Some("_score") => score_json(h.score),
                    None if i + 1 < h.sort.len() => score_json(h.score),
                    Some("_doc") => Value::from(h.doc_key as i64),
                    _ => v.to_json(),
                })
                .collect();
            m.insert("sort".into(), Value::Array(values));
        }
        if !h.inner_hits.is_empty() {
            m.insert("inner_hits".into(), render_inner_hits(h, req, total_as_int, typed_keys));
        }
        hits.push(Value::Object(m));
    }
    let mut hits_obj = Map::new();
    let track = match (req.track_total_hits, total_as_int) {
        (None, true) => TrackTotalHits::Bool(true),
        (t, _) => t.unwrap_or(TrackTotalHits::DEFAULT),
    };
    let total = match track {
        TrackTotalHits::Bool(false) => None,
        TrackTotalHits::Bool(true) => Some((out.total, "eq")),
        TrackTotalHits::Count(n) => {
            let n = n.max(0) as u64;
            if out.total > n { Some((n, "gte")) } else { Some((out.total, "eq")) }
        }
    };
    if total_as_int && total.is_none() {
        hits_obj.insert("total".into(), Value::from(-1));
    }
    if let Some((value, relation)) = total {
        if total_as_int {
            hits_obj.insert("total".into(), value.into());
        } else {
            hits_obj.insert("total".into(), json!({"value": value, "relation": relation}));
        }
    }
    hits_obj.insert(
        "max_score".into(),
        if show_score { out.max_score.map(|s| score_json(Some(s))).unwrap_or(Value::Null) } else { Value::Null },
    );
    hits_obj.insert("hits".into(), Value::Array(hits));
    let mut body = Map::new();
    if let Some(id) = &out.pit_id {
        body.insert("pit_id".into(), id.clone().into());
    }
    if let Some(id) = &out.scroll_id {
        body.insert("_scroll_id".into(), id.clone().into());
    }
    body.insert("took".into(), out.took_ms.into());
    body.insert("timed_out".into(), false.into());
    if let Some(t) = out.terminated_early {
        body.insert("terminated_early".into(), t.into());
    }
    body.insert("_shards".into(), shards_json(out.shards_total, out.shards_successful, &out.shards_failed));
    body.insert("hits".into(), Value::Object(hits_obj));
    if let Some(aggs) = &out.aggregations {
        body.insert("aggregations".into(), aggs.to_json(typed_keys, total_as_int));
    }
    Value::Object(body)
}

pub(crate) fn shards_json(total: u32, successful: u32, failed: &[(String, u32, EsError)]) -> Value {
    let mut m = json!({"total": total, "successful": successful, "skipped": 0, "failed": failed.len()});
    if !failed.is_empty() {
        m["failures"] = Value::Array(
            failed
                .iter()
                .map(|(index, shard, e)| json!({"shard": shard, "index": index, "node": Value::Null, "reason": e.to_cause_json()}))
                .collect(),
        );
    }
    m
}

fn score_json(s: Option<f32>) -> Value {
    match s {
        Some(s) => serde_json::Number::from_f64(s as f64).map(Value::Number).unwrap_or(Value::Null),
        None => Value::Null,
    }
}

fn source_filter(s: &tern_query::SourceFilter) -> SourceFilter {
    SourceFilter {
        enabled: s.fetch().unwrap_or(true),
        includes: s.includes().to_vec(),
        excludes: s.excludes().to_vec(),
    }
}

/// `GET|POST /_count`, `/{index}/_count`
pub async fn count(
    State(node): State<Arc<Node>>,
    index: Option<Path<String>>,
    ctx: Ctx,
    body: EsBody,
) -> ApiResult<Response> {
    ctx.params.check(&[
        "q",
        "df",
        "analyzer",
        "analyze_wildcard",
        "default_operator",
        "lenient",
        "routing",
        "preference",
        "min_score",
        "terminate_after",
        "expand_wildcards",
        "ignore_unavailable",
        "allow_no_indices",
        "ignore_throttled",
    ])?;
    let expr = indices_of(index);
    let opts = ctx.params.indices_options(IndicesOptions::strict_expand_open_forbid_closed())?;
    let query = match body.json()? {
        Some(v) => {
            let Some(obj) = v.as_object() else {
                return Err(ctx.error(EsError::parsing("request body must be an object")));
            };
            for k in obj.keys() {
                if k != "query" {
                    return Err(ctx.error(EsError::parsing(format!("request does not support [{k}]"))));
                }
            }
            match obj.get("query") {
                Some(q) => Some(tern_query::parse_query(q).map_err(EsError::from).map_err(|e| ctx.error(e))?),
                None => None,
            }
        }
        None => None,
    };
    let query = match (query, ctx.params.get("q")) {
        (q, None) => q,
        (_, Some(_)) => {
            let mut req = SearchRequest::default();
            tern_query::apply_uri_search_params(&mut req, &ctx.params.pairs()).map_err(EsError::from)?;
            req.query
        }
    };
    let targets = node.search_targets_with(&expr, &opts, ctx.params.get("preference")).map_err(|e| ctx.error(e))?;
    let (count, total, failed) = node.count(targets, query).await.map_err(|e| ctx.error(e))?;
    ctx.ok(json!({"count": count, "_shards": shards_json(total, total - failed.len() as u32, &failed)}))
}

/// `GET|POST /_search/scroll` (and `/_search/scroll/{scroll_id}`)
pub async fn scroll(
    State(node): State<Arc<Node>>,
    id: Option<Path<String>>,
    ctx: Ctx,
    body: EsBody,
) -> ApiResult<Response> {
    ctx.params.check(&["scroll", "scroll_id", "rest_total_hits_as_int"])?;
    let body = body.json()?;
    let scroll_id = body
        .as_ref()
        .and_then(|b| b.get("scroll_id"))
        .and_then(Value::as_str)
        .map(String::from)
        .or_else(|| ctx.params.get("scroll_id").map(String::from))
        .or(id.map(|Path(i)| i))
        .ok_or_else(|| EsError::validation(&["scrollId is missing".into()]))?;
    let keep_alive = body
        .as_ref()
        .and_then(|b| b.get("scroll"))
        .and_then(Value::as_str)
        .map(String::from)
        .or_else(|| ctx.params.get("scroll").map(String::from))
        .map(|s| parse_time(&s))
        .transpose()?;
    let out = node.scroll(&scroll_id, keep_alive).await.map_err(|e| ctx.error(e))?;
    let req = SearchRequest::default();
    ctx.ok(render_search(&out, &req, ctx.params.bool("rest_total_hits_as_int", false)?))
}

/// `DELETE /_search/scroll` (body or path ids, `_all`)
pub async fn clear_scroll(
    State(node): State<Arc<Node>>,
    id: Option<Path<String>>,
    ctx: Ctx,
    body: EsBody,
) -> ApiResult<Response> {
    ctx.params.check(&["scroll_id"])?;
    let mut ids: Vec<String> = id.map(|Path(i)| split_list(&i)).unwrap_or_default();
    if let Some(b) = body.json()? {
        match b.get("scroll_id") {
            Some(Value::String(s)) => ids.extend(split_list(s)),
            Some(Value::Array(a)) => ids.extend(a.iter().filter_map(|v| v.as_str().map(String::from))),
            _ => {}
        }
    }
    let freed = if ids.iter().any(|i| i == "_all") { node.clear_scrolls(None) } else { node.clear_scrolls(Some(&ids)) };
    let status =
        if freed == 0 && !ids.is_empty() { axum::http::StatusCode::NOT_FOUND } else { axum::http::StatusCode::OK };
    let _ = ErrorKind::Internal;
    ctx.json(status, json!({"succeeded": true, "num_freed": freed}))
}

/// Values for the `fields` / `docvalue_fields` options, read from the source: arrays of leaf values
/// per field path, wildcards allowed.
fn fields_from_source(source: &[u8], patterns: &[String]) -> Map<String, Value> {
    let mut out = Map::new();
    let Ok(doc) = serde_json::from_slice::<Value>(source) else { return out };
    let mut leaves: Vec<(String, Value)> = Vec::new();
    flatten_leaves(&doc, String::new(), &mut leaves);
    for (path, v) in leaves {
        if patterns.iter().any(|p| glob_match(p, &path)) {
            match out.get_mut(&path) {
                Some(Value::Array(a)) => a.push(v),
                _ => {
                    out.insert(path, Value::Array(vec![v]));
                }
            }
        }
    }
    out
}

fn flatten_leaves(v: &Value, prefix: String, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                let p = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten_leaves(c, p, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|i| flatten_leaves(i, prefix.clone(), out)),
        Value::Null => {}
        leaf => out.push((prefix, leaf.clone())),
    }
}

fn glob_match(pattern: &str, s: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == s,
        Some((head, tail)) => {
            let Some(rest) = s.strip_prefix(head) else { return false };
            tail.is_empty()
                || rest.char_indices().map(|(i, _)| i).chain([rest.len()]).any(|i| glob_match(tail, &rest[i..]))
        }
    }
}

/// `POST /{index}/_pit?keep_alive=`: opens a point in time over the index's shards.
pub async fn open_pit(State(node): State<Arc<Node>>, Path(index): Path<String>, ctx: Ctx) -> ApiResult<Response> {
    ctx.params.check(&[
        "keep_alive",
        "ignore_unavailable",
        "expand_wildcards",
        "allow_no_indices",
        "routing",
        "preference",
        "allow_partial_search_results",
        "max_concurrent_shard_requests",
    ])?;
    let Some(keep_alive) = ctx.params.get("keep_alive") else {
        return Err(ctx.error(EsError::validation(&["[keep_alive] is not specified".into()])));
    };
    let keep_alive = parse_time(keep_alive)?;
    let opts = ctx.params.indices_options(IndicesOptions::strict_expand_open_forbid_closed())?;
    let targets = node
        .search_targets_with(&indices_of(Some(Path(index))), &opts, ctx.params.get("preference"))
        .map_err(|e| ctx.error(e))?;
    let (id, shards) = node.open_pit(targets, keep_alive).await.map_err(|e| ctx.error(e))?;
    ctx.ok(json!({"id": id, "_shards": {"total": shards, "successful": shards, "skipped": 0, "failed": 0}}))
}

/// `DELETE /_pit` with `{"id": "..."}`.
pub async fn close_pit(State(node): State<Arc<Node>>, ctx: Ctx, body: EsBody) -> ApiResult<Response> {
    ctx.params.check(&[])?;
    let body = body.required_json().map_err(|e| ctx.error(e))?;
    let Some(id) = body.get("id").and_then(Value::as_str) else {
        return Err(ctx.error(EsError::validation(&["[id] is required".into()])));
    };
    let freed = node.close_pits(&[id.to_string()]);
    let status = if freed > 0 { axum::http::StatusCode::OK } else { axum::http::StatusCode::NOT_FOUND };
    ctx.json(status, json!({"succeeded": true, "num_freed": freed}))
}
