//! `indices.stats`: `GET /_stats`, `/_stats/{metric}`, `/{index}/_stats`, `/{index}/_stats/{metric}`,
//! plus the rendering helpers the other monitoring APIs share (ES's human-readable byte and time
//! values, the per-shard statistics sections, and ES's "unrecognized metric" error).
//!
//! tern tracks documents, store size, indexing, get, search, refresh, flush and segment counts per
//! shard; the sections ES has for caches, merges, translog, warmers, bulk and recovery are reported
//! with zero counters (tern has no such caches, and its merges and write-ahead log are not metered
//! per shard), so clients that read them find the shape they expect.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::{Map, Value, json};
use tern_cluster::{IndexState, IndicesOptions};
use tern_common::EsError;
use tern_node::Node;
use tern_node::info::{IndexStats, ShardCopyStats, ShardStats};

use crate::context::Ctx;
use crate::error::ApiResult;
use crate::params::split_list;

// ---------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------

/// Runs blocking statistics work (document counts, directory walks, `/proc` reads) off the runtime.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, EsError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| EsError::internal(format!("statistics task failed: {e}")))
}

/// Path parameters by name (`{index}`, `{metric}`, `{node_id}`...).
pub(crate) fn path_param(path: &Option<Path<Vec<(String, String)>>>, name: &str) -> Option<String> {
    path.as_ref().and_then(|Path(p)| p.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
}

/// Lucene's Levenshtein similarity, `1 - distance / max(len)`, which ES uses for its hints.
fn similarity(a: &str, b: &str) -> f32 {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let longest = a.len().max(b.len());
    if longest == 0 {
        return 1.0;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + (ca != cb) as usize).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    1.0 - prev[b.len()] as f32 / longest as f32
}

/// ES's `request [path] contains unrecognized metric: [x] -> did you mean [y]?` (BaseRestHandler).
pub(crate) fn unrecognized(path: &str, detail: &str, invalid: &[String], candidates: &[&str]) -> EsError {
    let mut msg =
        format!("request [{path}] contains unrecognized {detail}{}: ", if invalid.len() > 1 { "s" } else { "" });
    for (i, bad) in invalid.iter().enumerate() {
        let mut scored: Vec<(f32, &str)> =
            candidates.iter().map(|c| (similarity(bad, c), *c)).filter(|(s, _)| *s > 0.5).collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
        if i > 0 {
            msg.push_str(", ");
        }
        msg.push_str(&format!("[{bad}]"));
        match scored.as_slice() {
            [] => {}
            [(_, one)] => msg.push_str(&format!(" -> did you mean [{one}]?")),
            many => {
                let names: Vec<&str> = many.iter().map(|(_, n)| *n).collect();
                msg.push_str(&format!(" -> did you mean any of [{}]?", names.join(", ")));
            }
        }
    }
    EsError::illegal_argument(msg)
}

/// ES's one-decimal rendering (`Strings.format1Decimals`): truncates, drops a `.0`.
fn one_decimal(value: f64, suffix: &str) -> String {
    let tenths = (value * 10.0).floor() as u64;
    if tenths.is_multiple_of(10) {
        format!("{}{suffix}", tenths / 10)
    } else {
        format!("{}.{}{suffix}", tenths / 10, tenths % 10)
    }
}

/// ES's `ByteSizeValue.toString()`: `0b`, `225b`, `1.5kb`, `3.2gb`.
pub(crate) fn format_bytes(bytes: u64) -> String {
    const UNITS: [(u64, &str); 5] =
        [(1 << 50, "pb"), (1 << 40, "tb"), (1 << 30, "gb"), (1 << 20, "mb"), (1 << 10, "kb")];
    for (size, suffix) in UNITS {
        if bytes >= size {
            return one_decimal(bytes as f64 / size as f64, suffix);
        }
    }
    format!("{bytes}b")
}

/// ES's `TimeValue.toString()` of a millisecond count: `0s`, `15ms`, `1.2s`, `3m`, `1.5h`, `2d`.
pub(crate) fn format_millis(ms: u64) -> String {
    const UNITS: [(u64, &str); 4] = [(86_400_000, "d"), (3_600_000, "h"), (60_000, "m"), (1000, "s")];
    if ms == 0 {
        return "0s".into();
    }
    for (size, suffix) in UNITS {
        if ms >= size {
            return one_decimal(ms as f64 / size as f64, suffix);
        }
    }
    format!("{ms}ms")
}

/// `"size":"1kb","size_in_bytes":1024` (the readable field only with `human`).
pub(crate) fn bytes_field(m: &mut Map<String, Value>, name: &str, bytes: u64, human: bool) {
    if human {
        m.insert(name.to_string(), Value::from(format_bytes(bytes)));
    }
    m.insert(format!("{name}_in_bytes"), Value::from(bytes));
}

/// `"time":"1s","time_in_millis":1000` (the readable field only with `human`).
pub(crate) fn millis_field(m: &mut Map<String, Value>, name: &str, ms: u64, human: bool) {
    if human {
        m.insert(name.to_string(), Value::from(format_millis(ms)));
    }
    m.insert(format!("{name}_in_millis"), Value::from(ms));
}

/// Builds one statistics section: plain numbers, byte fields and millisecond fields in order.
enum F<'a> {
    N(&'a str, Value),
    B(&'a str, u64),
    /// A byte field whose raw name is not `{name}_in_bytes`: (readable, raw, value).
    Bx(&'a str, &'a str, u64),
    T(&'a str, u64),
}

fn section(fields: Vec<F<'_>>, human: bool) -> Value {
    let mut m = Map::new();
    for f in fields {
        match f {
            F::N(k, v) => {
                m.insert(k.to_string(), v);
            }
            F::B(k, v) => bytes_field(&mut m, k, v, human),
            F::Bx(k, raw, v) => {
                if human {
                    m.insert(k.to_string(), Value::from(format_bytes(v)));
                }
                m.insert(raw.to_string(), Value::from(v));
            }
            F::T(k, v) => millis_field(&mut m, k, v, human),
        }
    }
    Value::Object(m)
}

/// The metrics `_stats` accepts, in ES's output order. `merge` renders as `merges`.
pub(crate) const STATS_METRICS: &[&str] = &[
    "docs",
    "shard_stats",
    "store",
    "indexing",
    "get",
    "search",
    "merge",
    "refresh",
    "flush",
    "warmer",
    "query_cache",
    "fielddata",
    "completion",
    "segments",
    "translog",
    "request_cache",
    "recovery",
    "bulk",
    "dense_vector",
    "sparse_vector",
    "mappings",
];

/// Parses a metric list (`_all` or names from `STATS_METRICS`); `None` means all.
pub(crate) fn parse_stats_metrics(path: &str, metric: Option<&str>) -> Result<Option<Vec<String>>, EsError> {
    let Some(metric) = metric else { return Ok(None) };
    let list = split_list(metric);
    if list.iter().any(|m| m == "_all") {
        if list.len() > 1 {
            return Err(EsError::illegal_argument(format!(
                "request [{path}] contains _all and individual metrics [{}]",
                list.join(",")
            )));
        }
        return Ok(None);
    }
    let bad: Vec<String> = list.iter().filter(|m| !STATS_METRICS.contains(&m.as_str())).cloned().collect();
    if !bad.is_empty() {
        return Err(unrecognized(path, "metric", &bad, STATS_METRICS));
    }
    Ok(Some(list))
}

/// The statistics sections of one shard (or an aggregate), restricted to `metrics` (`None`: all).
pub(crate) fn stats_json(s: &ShardStats, metrics: Option<&[String]>, human: bool, file_sizes: bool) -> Value {
    use F::*;
    let want = |m: &str| metrics.is_none_or(|l| l.iter().any(|x| x == m));
    let mut out = Map::new();
    for metric in STATS_METRICS {
        if !want(metric) {
            continue;
        }
        let (key, value) = match *metric {
            "docs" => ("docs", json!({"count": s.docs_count, "deleted": s.docs_deleted})),
            "shard_stats" => ("shard_stats", json!({"total_count": s.shard_count})),
            "store" => (
                "store",
                section(
                    vec![B("size", s.store_size_bytes), B("total_data_set_size", s.store_size_bytes), B("reserved", 0)],
                    human,
                ),
            ),
            "indexing" => (
                "indexing",
                section(
                    vec![
                        N("index_total", s.index_total.into()),
                        T("index_time", s.index_time_millis),
                        N("index_current", 0.into()),
                        N("index_failed", s.index_failed.into()),
                        N("delete_total", s.delete_total.into()),
                        T("delete_time", 0),
                        N("delete_current", 0.into()),
                        N("noop_update_total", s.noop_update_total.into()),
                        N("is_throttled", false.into()),
                        T("throttle_time", 0),
                        N("write_load", 0.0.into()),
                    ],
                    human,
                ),
            ),
            "get" => (
                "get",
                section(
                    vec![
                        N("total", s.get_total.into()),
                        T("time", 0),
                        N("exists_total", s.get_exists_total.into()),
                        T("exists_time", 0),
                        N("missing_total", s.get_missing_total.into()),
                        T("missing_time", 0),
                        N("current", 0.into()),
                    ],
                    human,
                ),
            ),
            "search" => (
                "search",
                section(
                    vec![
                        N("open_contexts", s.open_contexts.into()),
                        N("query_total", s.query_total.into()),
                        T("query_time", s.query_time_millis),
                        N("query_current", 0.into()),
                        N("fetch_total", s.fetch_total.into()),
                        T("fetch_time", 0),
                        N("fetch_current", 0.into()),
                        N("scroll_total", 0.into()),
                        T("scroll_time", 0),
                        N("scroll_current", 0.into()),
                        N("suggest_total", 0.into()),
                        T("suggest_time", 0),
                        N("suggest_current", 0.into()),
                    ],
                    human,
                ),
            ),
            "merge" => (
                "merges",
                section(
                    vec![
                        N("current", 0.into()),
                        N("current_docs", 0.into()),
                        B("current_size", 0),
                        N("total", 0.into()),
                        T("total_time", 0),
                        N("total_docs", 0.into()),
                        B("total_size", 0),
                        T("total_stopped_time", 0),
                        T("total_throttled_time", 0),
                        B("total_auto_throttle", 0),
                    ],
                    human,
                ),
            ),
            "refresh" => (
                "refresh",
                section(
                    vec![
                        N("total", s.refresh_total.into()),
                        T("total_time", s.refresh_time_millis),
                        N("external_total", s.refresh_total.into()),
                        T("external_total_time", s.refresh_time_millis),
                        N("listeners", 0.into()),
                    ],
                    human,
                ),
            ),
            "flush" => (
                "flush",
                section(vec![N("total", s.flush_total.into()), N("periodic", 0.into()), T("total_time", 0)], human),
            ),
            "warmer" => {
                ("warmer", section(vec![N("current", 0.into()), N("total", 0.into()), T("total_time", 0)], human))
            }
            "query_cache" => (
                "query_cache",
                section(
                    vec![
                        B("memory_size", 0),
                        N("total_count", 0.into()),
                        N("hit_count", 0.into()),
                        N("miss_count", 0.into()),
                        N("cache_size", 0.into()),
                        N("cache_count", 0.into()),
                        N("evictions", 0.into()),
                    ],
                    human,
                ),
            ),
            "fielddata" => ("fielddata", section(vec![B("memory_size", 0), N("evictions", 0.into())], human)),
            "completion" => ("completion", section(vec![B("size", 0)], human)),
            "segments" => {
                let mut v = section(
                    vec![
                        N("count", s.segments_count.into()),
                        B("memory", 0),
                        B("terms_memory", 0),
                        B("stored_fields_memory", 0),
                        B("term_vectors_memory", 0),
                        B("norms_memory", 0),
                        B("points_memory", 0),
                        B("doc_values_memory", 0),
                        B("index_writer_memory", 0),
                        B("version_map_memory", 0),
                        Bx("fixed_bit_set", "fixed_bit_set_memory_in_bytes", 0),
                        N("max_unsafe_auto_id_timestamp", (-1).into()),
                    ],
                    human,
                );
                if file_sizes && let Some(m) = v.as_object_mut() {
                    m.insert("file_sizes".into(), json!({}));
                }
                ("segments", v)
            }
            "translog" => (
                "translog",
                section(
                    vec![
                        N("operations", 0.into()),
                        B("size", 0),
                        N("uncommitted_operations", 0.into()),
                        B("uncommitted_size", 0),
                        N("earliest_last_modified_age", 0.into()),
                    ],
                    human,
                ),
            ),
            "request_cache" => (
                "request_cache",
                section(
                    vec![
                        B("memory_size", 0),
                        N("evictions", 0.into()),
                        N("hit_count", 0.into()),
                        N("miss_count", 0.into()),
                    ],
                    human,
                ),
            ),
            "recovery" => (
                "recovery",
                section(
                    vec![N("current_as_source", 0.into()), N("current_as_target", 0.into()), T("throttle_time", 0)],
                    human,
                ),
            ),
            "bulk" => (
                "bulk",
                section(
                    vec![
                        N("total_operations", 0.into()),
                        T("total_time", 0),
                        B("total_size", 0),
                        T("avg_time", 0),
                        B("avg_size", 0),
                    ],
                    human,
                ),
            ),
            "dense_vector" => ("dense_vector", json!({"value_count": 0})),
            "sparse_vector" => ("sparse_vector", json!({"value_count": 0})),
            // Mapping statistics are only reported when asked for by name.
            "mappings" if metrics.is_some() => {
                ("mappings", json!({"total_count": 0, "total_estimated_overhead_in_bytes": 0}))
            }
            _ => continue,
        };
        out.insert(key.to_string(), value);
    }
    Value::Object(out)
}

fn shard_copy_json(c: &ShardCopyStats, metrics: Option<&[String]>, human: bool, file_sizes: bool) -> Option<Value> {
    let stats = c.stats.as_ref()?;
    let mut v = stats_json(stats, metrics, human, file_sizes);
    let m = v.as_object_mut()?;
    let r = &c.routing;
    let mut out = Map::new();
    out.insert(
        "routing".into(),
        json!({"state": r.state.as_str(), "primary": r.primary, "node": r.node_id, "relocating_node": null}),
    );
    out.append(m);
    let marker = c.committed_marker.clone().unwrap_or_default();
    let mut user_data = Map::new();
    user_data.insert("max_seq_no".into(), Value::from(stats.max_seq_no.to_string()));
    if let Some(mk) = &c.committed_marker {
        user_data.insert("raft_applied".into(), Value::from(mk.clone()));
    }
    out.insert(
        "commit".into(),
        json!({
            "id": tern_node::info::stable_id(&[&r.index_uuid, &r.shard.to_string(), &marker]),
            "generation": stats.flush_total + 1,
            "user_data": user_data,
            "num_docs": stats.docs_count,
        }),
    );
    out.insert(
        "seq_no".into(),
        json!({"max_seq_no": stats.max_seq_no, "local_checkpoint": stats.max_seq_no, "global_checkpoint": stats.max_seq_no}),
    );
    out.insert("retention_leases".into(), json!({"primary_term": c.primary_term, "version": 1, "leases": []}));
    if let Some(p) = &c.path {
        let p = p.display().to_string();
        out.insert("shard_path".into(), json!({"state_path": p, "data_path": p, "is_custom_data_path": false}));
    }
    Some(Value::Object(out))
}

/// The `indices.{name}` entry of `_stats`.
fn index_json(ix: &IndexStats, metrics: Option<&[String]>, level: &str, human: bool, file_sizes: bool) -> Value {
    let mut m = Map::new();
    m.insert("uuid".into(), Value::from(ix.uuid.clone()));
    m.insert("health".into(), Value::from(ix.health.as_str()));
    m.insert("status".into(), Value::from(ix.state.as_str()));
    m.insert("primaries".into(), stats_json(&ix.primaries(), metrics, human, file_sizes));
    m.insert("total".into(), stats_json(&ix.total(), metrics, human, file_sizes));
    if level == "shards" {
        let mut shards: Map<String, Value> = Map::new();
        for c in &ix.copies {
            let Some(v) = shard_copy_json(c, metrics, human, file_sizes) else { continue };
            let slot = shards.entry(c.routing.shard.to_string()).or_insert_with(|| Value::Array(vec![]));
            if let Value::Array(a) = slot {
                a.push(v);
            }
        }
        m.insert("shards".into(), Value::Object(shards));
    }
    Value::Object(m)
}

/// Validates `level` the way ES's indices stats response does.
pub(crate) fn parse_level(ctx: &Ctx, default: &'static str) -> Result<String, EsError> {
    let level = ctx.params.get("level").unwrap_or(default).to_ascii_lowercase();
    if !matches!(level.as_str(), "cluster" | "indices" | "shards") {
        return Err(EsError::illegal_argument(format!(
            "level parameter must be one of [cluster] or [indices] or [shards] but was [{level}]"
        )));
    }
    Ok(level)
}

const STATS_PARAMS: &[&str] = &[
    "completion_fields",
    "fielddata_fields",
    "fields",
    "groups",
    "level",
    "include_segment_file_sizes",
    "include_unloaded_segments",
    "forbid_closed_indices",
    "expand_wildcards",
    "ignore_unavailable",
    "allow_no_indices",
];

/// `GET /_stats`, `/_stats/{metric}`, `/{index}/_stats`, `/{index}/_stats/{metric}`
pub async fn stats(
    State(node): State<Arc<Node>>,
    path: Option<Path<Vec<(String, String)>>>,
    ctx: Ctx,
) -> ApiResult<Response> {
    ctx.params.check(STATS_PARAMS)?;
    let metrics = parse_stats_metrics(&ctx.params.path, path_param(&path, "metric").as_deref())?;
    let level = parse_level(&ctx, "indices")?;
    let file_sizes = ctx.params.bool("include_segment_file_sizes", false)?;
    ctx.params.bool("include_unloaded_segments", false)?;
    let forbid_closed = ctx.params.bool("forbid_closed_indices", true)?;
    let mut opts = ctx.params.indices_options(IndicesOptions::strict_expand_open_forbid_closed())?;
    opts.forbid_closed_indices = forbid_closed;
    let target = path_param(&path, "index").map(|i| split_list(&i)).unwrap_or_else(|| vec!["_all".into()]);
    let meta = node.metadata();
    let mut names = meta.resolve_indices(&target, &opts).map_err(|e| ctx.error(EsError::from(e)))?;
    if forbid_closed {
        names.retain(|n| meta.indices.get(n).is_some_and(|im| im.state == IndexState::Open));
    }
    let n2 = node.clone();
    let m2 = meta.clone();
    let remote = node.remote_copy_stats(&meta, &names).await;
    let all = blocking(move || n2.indices_stats(&m2, &names, &remote)).await.map_err(|e| ctx.error(e))?;
    let metrics = metrics.as_deref();
    let human = ctx.human;
    let (mut total, mut ok) = (0u32, 0u32);
    let mut primaries = ShardStats::empty();
    primaries.shard_count = 0;
    let mut totals = primaries.clone();
    for ix in &all {
        let (t, s) = ix.shard_counts();
        total += t;
        ok += s;
        primaries.add(&ix.primaries());
        totals.add(&ix.total());
    }
    let mut body = Map::new();
    body.insert("_shards".into(), json!({"total": total, "successful": ok, "failed": 0}));
    body.insert(
        "_all".into(),
        json!({
            "primaries": stats_json(&primaries, metrics, human, file_sizes),
            "total": stats_json(&totals, metrics, human, file_sizes),
        }),
    );
    if level != "cluster" {
        let indices: Map<String, Value> =
            all.iter().map(|ix| (ix.index.clone(), index_json(ix, metrics, &level, human, file_sizes))).collect();
        body.insert("indices".into(), Value::Object(indices));
    }
    ctx.ok(Value::Object(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_render_like_byte_size_value() {
        assert_eq!(format_bytes(0), "0b");
        assert_eq!(format_bytes(225), "225b");
        assert_eq!(format_bytes(1024), "1kb");
        assert_eq!(format_bytes(1536), "1.5kb");
        assert_eq!(format_bytes(2047), "1.9kb");
        assert_eq!(format_bytes(5 << 30), "5gb");
    }

    #[test]
    fn times_render_like_time_value() {
        assert_eq!(format_millis(0), "0s");
        assert_eq!(format_millis(15), "15ms");
        assert_eq!(format_millis(1200), "1.2s");
        assert_eq!(format_millis(180_000), "3m");
        assert_eq!(format_millis(5_400_000), "1.5h");
    }

    #[test]
    fn unknown_metrics_get_es_hints() {
        let e = parse_stats_metrics("/_stats/fieldata", Some("fieldata")).unwrap_err();
        assert_eq!(
            e.reason,
            "request [/_stats/fieldata] contains unrecognized metric: [fieldata] -> did you mean [fielddata]?"
        );
        let e = parse_stats_metrics("/_stats/x,docz", Some("x,docz")).unwrap_err();
        assert_eq!(
            e.reason,
            "request [/_stats/x,docz] contains unrecognized metrics: [x], [docz] -> did you mean [docs]?"
        );
        assert_eq!(parse_stats_metrics("/_stats/_all", Some("_all")).unwrap(), None);
        assert_eq!(
            parse_stats_metrics("/_stats/docs", Some("docs,store")).unwrap(),
            Some(vec!["docs".into(), "store".into()])
        );
    }

    #[test]
    fn stats_sections_follow_the_metric_filter() {
        let s = ShardStats { docs_count: 3, store_size_bytes: 2048, segments_count: 1, ..ShardStats::empty() };
        let all = stats_json(&s, None, false, false);
        for k in [
            "docs",
            "store",
            "indexing",
            "get",
            "search",
            "merges",
            "refresh",
            "flush",
            "warmer",
            "query_cache",
            "fielddata",
            "completion",
            "segments",
            "translog",
            "recovery",
        ] {
            assert!(all.get(k).is_some(), "{k}");
        }
        assert_eq!(all["docs"]["count"], 3);
        assert_eq!(all["store"]["size_in_bytes"], 2048);
        assert!(all["store"].get("size").is_none());
        let some = ["store".to_string(), "merge".to_string()];
        let v = stats_json(&s, Some(&some), true, false);
        assert_eq!(v.as_object().unwrap().len(), 2);
        assert_eq!(v["store"]["size"], "2kb");
        assert!(v.get("merges").is_some());
        let seg = ["segments".to_string()];
        assert!(stats_json(&s, Some(&seg), false, true)["segments"]["file_sizes"].is_object());
        assert!(stats_json(&s, Some(&seg), false, false)["segments"].get("file_sizes").is_none());
    }
}
