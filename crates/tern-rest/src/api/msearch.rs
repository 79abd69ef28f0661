//! `msearch` (`GET|POST /_msearch`, `/{index}/_msearch`): NDJSON header/body pairs, each run
//! through the same path as `_search`, answered in order with a per-item `status`.
//!
//! A malformed header or body fails the whole request (ES parses everything before searching); a
//! search that fails (a missing index, a bad query for the mapping) becomes an `error` item.

// `EsError` is the workspace-wide error type; its size is a workspace decision, not this module's.
#![allow(clippy::result_large_err)]

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, State};
use axum::response::Response;
use futures::StreamExt;
use serde_json::{Value, json};
use tern_cluster::IndicesOptions;
use tern_common::{ErrorKind, EsError};
use tern_node::Node;
use tern_query::{SearchRequest, TrackTotalHits};

use crate::api::search::render_search_typed;
use crate::context::{Ctx, EsBody};
use crate::error::ApiResult;
use crate::params::split_list;

const MSEARCH_PARAMS: &[&str] = &[
    "allow_no_indices",
    "ccs_minimize_roundtrips",
    "expand_wildcards",
    "ignore_throttled",
    "ignore_unavailable",
    "include_named_queries_score",
    "index",
    "max_concurrent_searches",
    "max_concurrent_shard_requests",
    "pre_filter_shard_size",
    "rest_total_hits_as_int",
    "routing",
    "search_type",
    "typed_keys",
];

/// One search of the batch: where it goes and what it asks.
#[derive(Debug)]
struct Item {
    indices: Vec<String>,
    options: IndicesOptions,
    /// The header's `preference` (copy choice).
    preference: Option<String>,
    request: SearchRequest,
}

/// The header's index options, starting from the URL's.
#[derive(Debug, Clone, Default)]
struct HeaderOptions {
    ignore_unavailable: Option<String>,
    allow_no_indices: Option<String>,
    expand_wildcards: Option<String>,
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(scalar).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

fn check_search_type(t: &str) -> Result<(), EsError> {
    if t == "query_then_fetch" || t == "dfs_query_then_fetch" {
        Ok(())
    } else {
        Err(EsError::illegal_argument(format!("No search type for [{t}]")))
    }
}

fn split_ndjson(body: &[u8]) -> Vec<&[u8]> {
    let mut lines: Vec<&[u8]> = body.split(|b| *b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

fn parse_line(line: &[u8], n: usize) -> Result<Value, EsError> {
    serde_json::from_slice(line).map_err(|e| {
        EsError::new(ErrorKind::XContentParse, format!("[{n}:{}] failed to parse: {e}", e.column()))
            .caused_by(EsError::new(ErrorKind::JsonParse, e.to_string()))
    })
}

/// Parses the NDJSON body into items, applying URL defaults to each header.
fn parse_items(ctx: &Ctx, body: &[u8], default_indices: &[String]) -> Result<Vec<Item>, EsError> {
    let p = &ctx.params;
    if !body.is_empty() && body.last() != Some(&b'\n') {
        return Err(EsError::illegal_argument("The msearch request must be terminated by a newline [\\n]"));
    }
    let url_opts = HeaderOptions {
        ignore_unavailable: p.get("ignore_unavailable").map(String::from),
        allow_no_indices: p.get("allow_no_indices").map(String::from),
        expand_wildcards: p.get("expand_wildcards").map(String::from),
    };
    let lines = split_ndjson(body);
    let mut items = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let header_line = lines[i];
        let header_no = i + 1;
        i += 1;
        let header = if header_line.iter().all(u8::is_ascii_whitespace) {
            Value::Object(Default::default())
        } else {
            parse_line(header_line, header_no)?
        };
        let Value::Object(header) = header else {
            return Err(EsError::parsing(format!("header line [{header_no}] must be an object")));
        };
        let mut indices = default_indices.to_vec();
        let mut opts = url_opts.clone();
        let mut preference = None;
        for (k, v) in &header {
            match k.as_str() {
                "index" | "indices" => indices = split_list(&scalar(v)),
                "search_type" => check_search_type(&scalar(v))?,
                "ignore_unavailable" => opts.ignore_unavailable = Some(scalar(v)),
                "allow_no_indices" => opts.allow_no_indices = Some(scalar(v)),
                "expand_wildcards" => opts.expand_wildcards = Some(scalar(v)),
                "preference" => preference = Some(scalar(v)),
                "routing"
                | "request_cache"
                | "ccs_minimize_roundtrips"
                | "allow_partial_search_results"
                | "ignore_throttled" => {}
                other => {
                    return Err(EsError::illegal_argument(format!(
                        "key [{other}] is not supported in the metadata section"
                    )));
                }
            }
        }
        let Some(body_line) = lines.get(i) else {
            return Err(EsError::illegal_argument(format!(
                "The msearch request must be terminated by a newline [\\n]: header line [{header_no}] has no body"
            )));
        };
        i += 1;
        let request = if body_line.iter().all(u8::is_ascii_whitespace) {
            SearchRequest::default()
        } else {
            let v = parse_line(body_line, header_no + 1)?;
            tern_query::parse_search_request(&v).map_err(EsError::from)?
        };
        let options = IndicesOptions::from_params(
            opts.ignore_unavailable.as_deref(),
            opts.allow_no_indices.as_deref(),
            opts.expand_wildcards.as_deref(),
            IndicesOptions::strict_expand_open_forbid_closed(),
        )
        .map_err(EsError::from)?;
        if indices.is_empty() {
            indices.push("_all".into());
        }
        items.push(Item { indices, options, preference, request });
    }
    Ok(items)
}

/// `rest_total_hits_as_int` needs exact totals, as in `_search`.
fn check_total_as_int(req: &SearchRequest) -> Result<(), EsError> {
    if let Some(TrackTotalHits::Count(n)) = req.track_total_hits
        && n != 10_000
        && n != i64::from(i32::MAX)
    {
        return Err(EsError::illegal_argument(format!(
            "[rest_total_hits_as_int] cannot be used if the tracking of total hits is not accurate, got {n}"
        )));
    }
    Ok(())
}

async fn run_item(node: &Node, item: &Item, total_as_int: bool, typed_keys: bool) -> Value {
    let result = async {
        let targets = node.search_targets_with(&item.indices, &item.options, item.preference.as_deref())?;
        node.search(targets, &item.request, None).await
    }
    .await;
    match result {
        Ok(out) => {
            let mut v = render_search_typed(&out, &item.request, total_as_int, typed_keys);
            if let Value::Object(m) = &mut v {
                m.insert("status".into(), 200.into());
            }
            v
        }
        Err(e) => json!({"error": e.to_error_json(), "status": e.status()}),
    }
}

/// `GET|POST /_msearch`, `/{index}/_msearch`
pub async fn msearch(
    State(node): State<Arc<Node>>,
    index: Option<Path<String>>,
    ctx: Ctx,
    body: EsBody,
) -> ApiResult<Response> {
    ctx.params.check(MSEARCH_PARAMS)?;
    let started = Instant::now();
    let p = &ctx.params;
    let max_concurrent = match p.i64("max_concurrent_searches")? {
        Some(n) if n < 1 => {
            return Err(ctx.error(EsError::illegal_argument("maxConcurrentSearchRequests must be positive")));
        }
        Some(n) => n as usize,
        None => 8,
    };
    if let Some(n) = p.i64("max_concurrent_shard_requests")?
        && n < 1
    {
        return Err(ctx.error(EsError::illegal_argument("maxConcurrentShardRequests must be >= 1")));
    }
    p.i64("pre_filter_shard_size")?;
    let typed_keys = p.bool("typed_keys", false)?;
    p.bool("ccs_minimize_roundtrips", true)?;
    if let Some(t) = p.get("search_type") {
        check_search_type(t).map_err(|e| ctx.error(e))?;
    }
    let total_as_int = p.bool("rest_total_hits_as_int", false)?;
    let default_indices =
        index.map(|Path(i)| split_list(&i)).or_else(|| p.get("index").map(split_list)).unwrap_or_default();
    let items = parse_items(&ctx, &body.0, &default_indices).map_err(|e| ctx.error(e))?;
    if items.is_empty() {
        return Err(ctx.error(EsError::validation(&["no requests added".into()])));
    }
    if total_as_int {
        for item in &items {
            check_total_as_int(&item.request).map_err(|e| ctx.error(e))?;
        }
    }
    let responses: Vec<Value> = futures::stream::iter(items)
        .map(|item| {
            let node = node.clone();
            async move { run_item(&node, &item, total_as_int, typed_keys).await }
        })
        .buffered(max_concurrent)
        .collect()
        .await;
    ctx.ok(json!({"took": started.elapsed().as_millis() as u64, "responses": responses}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndjson_lines() {
        let lines = split_ndjson(b"{}\n{\"query\":{}}\n");
        assert_eq!(lines.len(), 2);
        assert_eq!(split_ndjson(b"").len(), 0);
    }

    #[test]
    fn inaccurate_totals_refused_with_int_totals() {
        let mut req = SearchRequest { track_total_hits: Some(TrackTotalHits::Count(10)), ..Default::default() };
        let e = check_total_as_int(&req).unwrap_err();
        assert!(e.reason.ends_with("got 10"));
        req.track_total_hits = Some(TrackTotalHits::Bool(true));
        assert!(check_total_as_int(&req).is_ok());
    }

    #[test]
    fn header_values() {
        assert_eq!(scalar(&json!(["a", "b"])), "a,b");
        assert_eq!(scalar(&json!("x")), "x");
        assert!(check_search_type("query_and_fetch").is_err());
    }
}
