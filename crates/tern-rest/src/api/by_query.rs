//! `delete_by_query` and `update_by_query`: request parsing and ES's `BulkByScrollResponse`.
//!
//! The body is a search body plus `conflicts` and `max_docs` (and, for update by query, `script`,
//! which tern cannot run). Parameters are validated in the order ES validates them, so the first
//! error a client sees is the one ES would report. The work itself is [`Node::by_query`].

// `EsError` is the workspace-wide error type; its size is a workspace decision, not this module's.
#![allow(clippy::result_large_err)]

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};
use tern_cluster::IndicesOptions;
use tern_common::EsError;
use tern_node::Node;
use tern_node::by_query::{
    ActiveShardCount, ByQueryAction, ByQueryRequest, ByQueryResponse, ByQueryStatus, DEFAULT_SCROLL_SIZE, Slices,
    parse_requests_per_second,
};
use tern_query::SearchRequest;

use crate::context::{Ctx, EsBody};
use crate::error::ApiResult;
use crate::params::split_list;

const COMMON_PARAMS: &[&str] = &[
    "allow_no_indices",
    "analyze_wildcard",
    "analyzer",
    "conflicts",
    "default_operator",
    "df",
    "expand_wildcards",
    "from",
    "ignore_unavailable",
    "lenient",
    "max_docs",
    "preference",
    "q",
    "refresh",
    "request_cache",
    "requests_per_second",
    "routing",
    "scroll",
    "scroll_size",
    "search_timeout",
    "search_type",
    "slices",
    "sort",
    "stats",
    "terminate_after",
    "timeout",
    "version",
    "wait_for_active_shards",
    "wait_for_completion",
    "_source",
    "_source_excludes",
    "_source_includes",
    // Removed in 8.0; accepted only to answer ES 8's own error for it.
    "size",
];

/// `POST /{index}/_delete_by_query`
pub async fn delete_by_query(
    State(node): State<Arc<Node>>,
    Path(index): Path<String>,
    ctx: Ctx,
    body: EsBody,
) -> ApiResult<Response> {
    ctx.params.check(COMMON_PARAMS)?;
    run(&node, &ctx, &index, &body, ByQueryAction::Delete).await
}

/// `POST /{index}/_update_by_query`
pub async fn update_by_query(
    State(node): State<Arc<Node>>,
    Path(index): Path<String>,
    ctx: Ctx,
    body: EsBody,
) -> ApiResult<Response> {
    let mut allowed = COMMON_PARAMS.to_vec();
    allowed.extend(["pipeline", "version_type"]);
    ctx.params.check(&allowed)?;
    run(&node, &ctx, &index, &body, ByQueryAction::Update).await
}

async fn run(node: &Node, ctx: &Ctx, index: &str, body: &EsBody, action: ByQueryAction) -> ApiResult<Response> {
    let req = parse_request(ctx, index, body, action).map_err(|e| ctx.error(e))?;
    let out = node.by_query(&req).await.map_err(|e| ctx.error(e))?;
    let status = StatusCode::from_u16(out.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    ctx.json(status, render(&out, action, ctx.human))
}

/// What the body contributes besides the search.
#[derive(Debug, Default)]
struct BodyParts {
    search: SearchRequest,
    has_query: bool,
    conflicts: Option<String>,
    max_docs: Option<i64>,
}

fn parse_body(body: &EsBody, action: ByQueryAction) -> Result<BodyParts, EsError> {
    let Some(v) = body.json()? else {
        return Ok(BodyParts::default());
    };
    let Value::Object(mut obj) = v else {
        return Err(EsError::parsing("request body must be an object"));
    };
    let mut parts = BodyParts::default();
    if let Some(c) = obj.remove("conflicts") {
        match c {
            Value::String(s) => parts.conflicts = Some(s),
            other => {
                return Err(EsError::parsing(format!("[conflicts] must be a string, found [{other}]")));
            }
        }
    }
    if let Some(m) = obj.remove("max_docs") {
        let n = m
            .as_i64()
            .or_else(|| m.as_str().and_then(|s| s.parse().ok()))
            .ok_or_else(|| EsError::parsing(format!("[max_docs] must be an integer, found [{m}]")))?;
        parts.max_docs = Some(n);
    }
    if obj.contains_key("script") && action == ByQueryAction::Update {
        return Err(EsError::illegal_argument(
            "scripts are not supported by tern: [update_by_query] can only index each matching document again with its current [_source]",
        ));
    }
    if obj.contains_key("slice") {
        return Err(EsError::illegal_argument(
            "manual slicing with [slice] is not supported by tern for by-query requests: use the [slices] parameter instead",
        ));
    }
    parts.has_query = obj.contains_key("query");
    parts.search = tern_query::parse_search_request(&Value::Object(obj)).map_err(EsError::from)?;
    Ok(parts)
}

fn parse_conflicts(v: &str) -> Result<bool, EsError> {
    match v {
        "proceed" => Ok(true),
        "abort" => Ok(false),
        other => {
            Err(EsError::illegal_argument(format!("conflicts may only be \"proceed\" or \"abort\" but was [{other}]")))
        }
    }
}

fn check_max_docs(n: i64) -> Result<u64, EsError> {
    if n < 0 {
        return Err(EsError::illegal_argument(format!("[max_docs] parameter cannot be negative, found [{n}]")));
    }
    Ok(n as u64)
}

fn parse_request(ctx: &Ctx, index: &str, body: &EsBody, action: ByQueryAction) -> Result<ByQueryRequest, EsError> {
    let p = &ctx.params;
    if p.has("size") {
        return Err(EsError::illegal_argument("invalid parameter [size], use [max_docs] instead"));
    }
    let parts = parse_body(body, action)?;
    let mut search = parts.search;
    let has_query = parts.has_query || p.has("q");
    tern_query::apply_uri_search_params(&mut search, &p.pairs()).map_err(EsError::from)?;
    let conflicts = match p.get("conflicts").map(String::from).or(parts.conflicts) {
        Some(c) => parse_conflicts(&c)?,
        None => false,
    };
    let body_max_docs = parts.max_docs.map(check_max_docs).transpose()?;
    let param_max_docs = p.i64("max_docs")?.map(check_max_docs).transpose()?;
    let max_docs = match (body_max_docs, param_max_docs) {
        (Some(b), Some(u)) if b != u => {
            return Err(EsError::illegal_argument(format!("[max_docs] set to two different values [{b}] and [{u}]")));
        }
        (b, u) => u.or(b),
    };
    let scroll_size = match p.i64("scroll_size")? {
        Some(n) if n < 1 => {
            return Err(EsError::illegal_argument(format!("[scroll_size] must be greater than 0, found [{n}]")));
        }
        Some(n) => n as usize,
        None => search.size.filter(|s| *s > 0).map(|s| s as usize).unwrap_or(DEFAULT_SCROLL_SIZE),
    };
    let requests_per_second = match p.get("requests_per_second") {
        Some(v) => parse_requests_per_second(v)?,
        None => None,
    };
    let slices = p.get("slices").map(Slices::parse).transpose()?.unwrap_or(Slices::Count(1));
    if !p.bool("wait_for_completion", true)? {
        return Err(EsError::illegal_argument(
            "[wait_for_completion=false] is not supported by tern: tasks are not implemented, so by-query requests always run to completion within the request",
        ));
    }
    if let Some(t) = p.get("search_type")
        && t != "query_then_fetch"
        && t != "dfs_query_then_fetch"
    {
        return Err(EsError::illegal_argument(format!("No search type for [{t}]")));
    }
    if action == ByQueryAction::Update {
        if let Some(pl) = p.get("pipeline")
            && pl != "_none"
        {
            return Err(EsError::illegal_argument(format!(
                "pipeline with id [{pl}] does not exist (tern has no ingest pipelines)"
            )));
        }
        if let Some(vt) = p.get("version_type")
            && vt != "internal"
        {
            return Err(EsError::illegal_argument(format!(
                "[version_type] [{vt}] is not supported by tern for update_by_query: documents are written with internal versioning"
            )));
        }
    }
    let refresh = p.bool("refresh", false)?;
    let wait_for_active_shards =
        p.get("wait_for_active_shards").map(ActiveShardCount::parse).transpose()?.unwrap_or_default();
    let timeout_text = p.get("timeout").unwrap_or("1m").to_string();
    let timeout = time_param(&timeout_text, "timeout")?;
    let scroll_keep_alive = time_param(p.get("scroll").unwrap_or("5m"), "scroll")?;
    if let Some(t) = p.get("search_timeout") {
        time_param(t, "search_timeout")?;
    }
    // ES's request validation, every problem in one message.
    let mut errors = Vec::new();
    if search.stored_fields.is_some() {
        errors.push("stored_fields is not supported in this context".to_string());
    }
    if let (Some(m), Slices::Count(n)) = (max_docs, slices)
        && m < u64::from(n)
    {
        errors.push("[max_docs] should be >= [slices]".to_string());
    }
    if search.from.is_some_and(|f| f > 0) {
        errors.push("using [from] is not allowed in a scroll context".to_string());
    }
    if action == ByQueryAction::Delete && !has_query {
        errors.push("query is missing".to_string());
    }
    if !errors.is_empty() {
        return Err(EsError::validation(&errors));
    }
    let indices = split_list(index);
    let indices_options = p.indices_options(IndicesOptions::strict_expand_open_forbid_closed())?;
    Ok(ByQueryRequest {
        action,
        indices,
        indices_options,
        search,
        routing: p.get("routing").map(String::from),
        max_docs,
        proceed_on_conflicts: conflicts,
        scroll_size,
        scroll_keep_alive,
        slices,
        requests_per_second,
        refresh,
        wait_for_active_shards,
        timeout,
        timeout_text,
    })
}

fn time_param(v: &str, name: &str) -> Result<Duration, EsError> {
    Ok(tern_cluster::parse_time_value(v, name).map_err(EsError::from)?.unwrap_or(Duration::ZERO))
}

/// `requests_per_second` as ES prints it: the float, or -1 when unthrottled.
fn rps_json(rps: Option<f32>) -> Value {
    let v = match rps {
        // Through the float's shortest decimal form, so 0.1 prints as 0.1 and not 0.10000000149.
        Some(r) => r.to_string().parse::<f64>().unwrap_or(f64::from(r)),
        None => -1.0,
    };
    serde_json::Number::from_f64(v).map(Value::Number).unwrap_or(Value::Null)
}

/// A duration as ES's `TimeValue` prints it for `human=true`.
fn human_millis(ms: u64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (value, unit) = if ms >= 86_400_000 {
        (ms as f64 / 86_400_000.0, "d")
    } else if ms >= 3_600_000 {
        (ms as f64 / 3_600_000.0, "h")
    } else if ms >= 60_000 {
        (ms as f64 / 60_000.0, "m")
    } else {
        (ms as f64 / 1000.0, "s")
    };
    let text = format!("{value:.1}");
    format!("{}{unit}", text.strip_suffix(".0").unwrap_or(&text))
}

/// ES's `BulkByScrollTask.Status` fields (delete by query shows neither `updated` nor `created`;
/// update by query shows `updated` but not `created`).
fn status_fields(m: &mut Map<String, Value>, s: &ByQueryStatus, action: ByQueryAction, human: bool) {
    m.insert("total".into(), s.total.into());
    if action == ByQueryAction::Update {
        m.insert("updated".into(), (s.updated + s.created).into());
    }
    m.insert("deleted".into(), s.deleted.into());
    m.insert("batches".into(), s.batches.into());
    m.insert("version_conflicts".into(), s.version_conflicts.into());
    m.insert("noops".into(), s.noops.into());
    m.insert("retries".into(), json!({"bulk": 0, "search": 0}));
    if human {
        m.insert("throttled".into(), human_millis(s.throttled_millis).into());
    }
    m.insert("throttled_millis".into(), s.throttled_millis.into());
    m.insert("requests_per_second".into(), rps_json(s.requests_per_second));
    if human {
        m.insert("throttled_until".into(), "0s".into());
    }
    m.insert("throttled_until_millis".into(), 0.into());
}

/// ES's `BulkByScrollResponse`.
pub fn render(out: &ByQueryResponse, action: ByQueryAction, human: bool) -> Value {
    let mut m = Map::new();
    m.insert("took".into(), out.took_ms.into());
    m.insert("timed_out".into(), false.into());
    status_fields(&mut m, &out.status, action, human);
    if !out.slices.is_empty() {
        let slices = out
            .slices
            .iter()
            .map(|s| {
                let mut sm = Map::new();
                sm.insert("slice_id".into(), s.slice_id.unwrap_or(0).into());
                status_fields(&mut sm, s, action, human);
                Value::Object(sm)
            })
            .collect();
        m.insert("slices".into(), Value::Array(slices));
    }
    let mut failures: Vec<Value> = out
        .failures
        .iter()
        .map(|f| json!({"index": f.index, "id": f.id, "cause": f.cause.to_cause_json(), "status": f.status()}))
        .collect();
    failures.extend(out.search_failures.iter().map(|f| {
        json!({"index": f.index, "shard": f.shard, "status": f.reason.status(), "reason": f.reason.to_cause_json()})
    }));
    m.insert("failures".into(), Value::Array(failures));
    Value::Object(m)
}

/// `POST /_delete_by_query/{task_id}/_rethrottle` and `/_update_by_query/{task_id}/_rethrottle`.
///
/// tern runs by-query requests inside the request, never as tasks, so there is never a task to
/// rethrottle: the answer is ES's for a task that is not running, a node failure naming why (the
/// node does not exist, or the task is missing on this node).
pub async fn rethrottle(State(node): State<Arc<Node>>, Path(task_id): Path<String>, ctx: Ctx) -> ApiResult<Response> {
    ctx.params.check(&["requests_per_second", "group_by"])?;
    let p = &ctx.params;
    match p.get("requests_per_second") {
        Some(v) => {
            parse_requests_per_second(v).map_err(|e| ctx.error(e))?;
        }
        None => {
            return Err(ctx.error(EsError::validation(&["requests_per_second must be set".into()])));
        }
    }
    if let Some(g) = p.get("group_by")
        && !matches!(g, "nodes" | "parents" | "none")
    {
        return Err(ctx.error(EsError::illegal_argument(format!("unknown group_by value [{g}]"))));
    }
    let (node_id, number) = task_id
        .split_once(':')
        .filter(|(n, id)| !n.is_empty() && id.parse::<i64>().is_ok())
        .ok_or_else(|| ctx.error(EsError::illegal_argument(format!("malformed task id {task_id}"))))?;
    let cause = if node_id == node.info.node_id {
        EsError::new(tern_common::ErrorKind::ResourceNotFound, format!("task [{node_id}:{number}] is missing"))
    } else {
        EsError::new(tern_common::ErrorKind::ResourceNotFound, format!("No such node [{node_id}]"))
            .with_type("no_such_node_exception")
            .with("node_id", node_id.to_string())
    };
    let failure = EsError::new(tern_common::ErrorKind::Internal, format!("Failed node [{node_id}]"))
        .with_type("failed_node_exception")
        .with("node_id", node_id.to_string())
        .caused_by(cause);
    ctx.ok(json!({"node_failures": [failure.to_cause_json()], "nodes": {}}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflicts_values() {
        assert!(parse_conflicts("proceed").unwrap());
        assert!(!parse_conflicts("abort").unwrap());
        let e = parse_conflicts("cat").unwrap_err();
        assert_eq!(e.reason, "conflicts may only be \"proceed\" or \"abort\" but was [cat]");
    }

    #[test]
    fn renders_delete_and_update_shapes() {
        let out = ByQueryResponse {
            took_ms: 3,
            status: ByQueryStatus { total: 2, deleted: 2, batches: 1, ..Default::default() },
            ..Default::default()
        };
        let v = render(&out, ByQueryAction::Delete, false);
        assert_eq!(v["deleted"], 2);
        assert!(v.get("updated").is_none() && v.get("created").is_none());
        assert_eq!(v["requests_per_second"], -1.0);
        assert_eq!(v["failures"], json!([]));
        assert!(v.get("slices").is_none());
        let v = render(&out, ByQueryAction::Update, false);
        assert_eq!(v["updated"], 0);
        assert_eq!(v["deleted"], 2);
    }

    #[test]
    fn rps_and_human_durations() {
        assert_eq!(rps_json(Some(0.1)).to_string(), "0.1");
        assert_eq!(rps_json(None).to_string(), "-1.0");
        assert_eq!(human_millis(0), "0s");
        assert_eq!(human_millis(250), "250ms");
        assert_eq!(human_millis(2000), "2s");
        assert_eq!(human_millis(1500), "1.5s");
    }
}
