//! `nodes.*` APIs: `info`, `stats`, `usage`, `hot_threads`, `reload_secure_settings`.
//!
//! There is one node. A `node_id` expression (`_all`, `_local`, `_master`, the id, the name,
//! wildcards, `role:true`, `attr:value`) either selects it or selects nothing, in which case ES
//! answers an empty `nodes` object with `_nodes.total: 0`.
//!
//! tern has no JVM. `jvm` is absent from node info; node stats carry a minimal `jvm.mem` section
//! whose "heap" is the process's resident memory against the machine's physical memory, the same
//! figures `_cat/nodes` shows as `heap.*`, so monitoring that watches heap pressure watches the
//! memory tern actually uses.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::{Map, Value, json};
use tern_common::EsError;
use tern_node::Node;
use tern_node::info::{NodeStats, ShardStats, available_processors};

use crate::api::cat::node_selected;
use crate::api::cluster::render_settings;
use crate::api::stats::{
    blocking, bytes_field, millis_field, parse_stats_metrics, path_param, stats_json, unrecognized,
};
use crate::context::Ctx;
use crate::error::ApiResult;
use crate::params::split_list;

const INFO_METRICS: &[&str] = &[
    "settings",
    "os",
    "process",
    "jvm",
    "thread_pool",
    "transport",
    "http",
    "remote_cluster_server",
    "interfaces",
    "plugins",
    "ingest",
    "aggregations",
    "indices",
];

const STATS_NODE_METRICS: &[&str] = &[
    "indices",
    "os",
    "process",
    "jvm",
    "thread_pool",
    "fs",
    "transport",
    "http",
    "breaker",
    "script",
    "discovery",
    "ingest",
    "adaptive_selection",
    "script_cache",
    "indexing_pressure",
    "repositories",
    "allocations",
];

/// The ES pools `thread_pool` sections name (see `_cat/thread_pool`).
const POOLS: [(&str, &str); 5] =
    [("generic", "scaling"), ("get", "fixed"), ("management", "scaling"), ("search", "fixed"), ("write", "fixed")];

fn nodes_header(node: &Node, selected: bool) -> Map<String, Value> {
    let n = selected as u32;
    let mut m = Map::new();
    m.insert("_nodes".into(), json!({"total": n, "successful": n, "failed": 0}));
    m.insert("cluster_name".into(), json!(node.info.cluster_name));
    m
}

fn with_nodes(mut head: Map<String, Value>, node: &Node, entry: Option<Value>) -> Value {
    let mut nodes = Map::new();
    if let Some(e) = entry {
        nodes.insert(node.info.node_id.clone(), e);
    }
    head.insert("nodes".into(), Value::Object(nodes));
    Value::Object(head)
}

fn sorted_roles(node: &Node) -> Vec<String> {
    let mut roles = node.info.roles.clone();
    roles.sort();
    roles.dedup();
    roles
}

fn transport_port(node: &Node) -> String {
    node.info.transport_address.rsplit(':').next().unwrap_or("9300").to_string()
}

/// Resolves `/_nodes/{node_id}` where the one segment may list metrics instead (ES's
/// `RestNodesInfoAction.parseNodeIdsAndMetrics`).
fn info_target(node_id: Option<String>, metric: Option<String>) -> (String, Vec<String>) {
    match (node_id, metric) {
        (Some(first), None) => {
            let parts = split_list(&first);
            if !parts.is_empty()
                && parts.iter().all(|p| INFO_METRICS.contains(&p.as_str()) || p == "_all" || p == "_none")
            {
                ("_all".into(), parts)
            } else {
                (first, vec!["_all".into()])
            }
        }
        (id, metric) => {
            (id.unwrap_or_else(|| "_all".into()), metric.map(|m| split_list(&m)).unwrap_or_else(|| vec!["_all".into()]))
        }
    }
}

/// `GET /_nodes`, `/_nodes/{node_id}`, `/_nodes/{node_id}/{metric}` (also `/_nodes/{metric}`)
pub async fn info(
    State(node): State<Arc<Node>>,
    path: Option<Path<Vec<(String, String)>>>,
    ctx: Ctx,
) -> ApiResult<Response> {
    ctx.params.check(&["flat_settings", "timeout", "master_timeout"])?;
    let flat = ctx.params.bool("flat_settings", false)?;
    let (spec, metrics) = info_target(path_param(&path, "node_id"), path_param(&path, "metric"));
    let all = metrics.iter().any(|m| m == "_all");
    let none = metrics.iter().any(|m| m == "_none");
    if !all && !none {
        let bad: Vec<String> = metrics.iter().filter(|m| !INFO_METRICS.contains(&m.as_str())).cloned().collect();
        if !bad.is_empty() {
            return Err(ctx.error(unrecognized(&ctx.params.path, "metric", &bad, INFO_METRICS)));
        }
    }
    let want = |m: &str| !none && (all || metrics.iter().any(|x| x == m));
    let selected = node_selected(&node, &spec);
    let head = nodes_header(&node, selected);
    if !selected {
        let mut out = with_nodes(head, &node, None);
        add_other_nodes(&node, &spec, &mut out, &want);
        return ctx.ok(out);
    }
    let info = &node.info;
    let ip = node.publish_ip();
    let human = ctx.human;
    let mut n = Map::new();
    n.insert("name".into(), json!(info.node_name));
    n.insert("transport_address".into(), json!(info.transport_address));
    n.insert("host".into(), json!(info.host));
    n.insert("ip".into(), json!(ip));
    n.insert("version".into(), json!(info.version));
    n.insert("build_flavor".into(), json!("default"));
    n.insert("build_type".into(), json!("tar"));
    n.insert("build_hash".into(), json!(env!("CARGO_PKG_VERSION")));
    n.insert("roles".into(), json!(sorted_roles(&node)));
    n.insert("attributes".into(), json!(info.attributes));
    if want("settings") {
        let mut flat_settings: tern_cluster::FlatSettings = node
            .settings
            .all()
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(_) | Value::Array(_) => v.clone(),
                    other => Value::from(other.to_string()),
                };
                (k.clone(), v)
            })
            .collect();
        flat_settings.entry("cluster.name".into()).or_insert_with(|| json!(info.cluster_name));
        flat_settings.entry("node.name".into()).or_insert_with(|| json!(info.node_name));
        flat_settings.entry("client.type".into()).or_insert_with(|| json!("node"));
        flat_settings.entry("http.type.default".into()).or_insert_with(|| json!("tern"));
        n.insert("settings".into(), render_settings(&flat_settings, flat));
    }
    let need_os = want("os") || want("process");
    let os = if need_os {
        let up = node.uptime();
        Some(blocking(move || tern_node::info::os_stats(up)).await.map_err(|e| ctx.error(e))?)
    } else {
        None
    };
    if let Some(os) = os.as_ref().filter(|_| want("os")) {
        let mut o = Map::new();
        millis_field(&mut o, "refresh_interval", 1000, human);
        o.insert("name".into(), json!(os.name));
        if let Some(p) = &os.pretty_name {
            o.insert("pretty_name".into(), json!(p));
        }
        o.insert("arch".into(), json!(os.arch));
        if let Some(v) = &os.version {
            o.insert("version".into(), json!(v));
        }
        o.insert("available_processors".into(), json!(os.available_processors));
        o.insert("allocated_processors".into(), json!(os.available_processors));
        n.insert("os".into(), Value::Object(o));
    }
    if want("process") {
        let mut p = Map::new();
        millis_field(&mut p, "refresh_interval", 1000, human);
        p.insert("id".into(), json!(std::process::id()));
        p.insert("mlockall".into(), json!(false));
        n.insert("process".into(), Value::Object(p));
    }
    if want("thread_pool") {
        let cpus = available_processors();
        let pools: Map<String, Value> = POOLS
            .iter()
            .map(|(name, kind)| {
                let v = if *kind == "fixed" {
                    json!({"type": kind, "size": cpus, "queue_size": -1})
                } else {
                    json!({"type": kind, "core": 1, "max": cpus, "keep_alive": "30s", "queue_size": -1})
                };
                (name.to_string(), v)
            })
            .collect();
        n.insert("thread_pool".into(), Value::Object(pools));
    }
    if want("transport") {
        n.insert(
            "transport".into(),
            json!({"bound_address": [info.transport_address], "publish_address": info.transport_address, "profiles": {}}),
        );
    }
    if want("http") {
        let mut h = Map::new();
        h.insert("bound_address".into(), json!([info.http_address]));
        h.insert("publish_address".into(), json!(info.http_address));
        let max = node.settings.max_content_length().unwrap_or(100 << 20);
        bytes_field(&mut h, "max_content_length", max, human);
        n.insert("http".into(), Value::Object(h));
    }
    if want("plugins") {
        n.insert("plugins".into(), json!([]));
        n.insert("modules".into(), json!([]));
    }
    if want("ingest") {
        n.insert("ingest".into(), json!({"processors": []}));
    }
    if want("aggregations") {
        n.insert("aggregations".into(), json!({}));
    }
    let mut out = with_nodes(head, &node, Some(Value::Object(n)));
    add_other_nodes(&node, &spec, &mut out, &want);
    ctx.ok(out)
}

/// Whether a `node_id` expression selects another node of the cluster (`_all`, `*`, `_master`,
/// ids and names with wildcards).
fn other_node_selected(spec: &str, other: &tern_cluster::DiscoveryNode, master: Option<&str>) -> bool {
    split_list(spec).iter().any(|p| match p.as_str() {
        "_all" | "*" => true,
        "_master" => master == Some(other.id.as_str()),
        "_local" => false,
        p => {
            tern_cluster::wildcard::wildcard_match(p, &other.id)
                || tern_cluster::wildcard::wildcard_match(p, &other.name)
        }
    })
}

/// Adds the registry's entries for the other nodes of a cluster (tern reports what the registry
/// knows of them: names, addresses, roles, attributes).
fn add_other_nodes(node: &Node, spec: &str, out: &mut Value, want: &dyn Fn(&str) -> bool) {
    if !node.is_clustered() {
        return;
    }
    let master = node.master_node_id();
    let mut added = 0;
    for other in node.cluster_nodes().into_iter().filter(|n| n.id != node.info.node_id) {
        if !other_node_selected(spec, &other, master.as_deref()) {
            continue;
        }
        let mut roles = other.roles.clone();
        roles.sort();
        roles.dedup();
        let ip = other.transport_address.rsplit_once(':').map(|(h, _)| h.to_string()).unwrap_or_default();
        let mut e = Map::new();
        e.insert("name".into(), json!(other.name));
        e.insert("transport_address".into(), json!(other.transport_address));
        e.insert("host".into(), json!(ip));
        e.insert("ip".into(), json!(ip));
        e.insert("version".into(), json!(node.info.version));
        e.insert("build_flavor".into(), json!("default"));
        e.insert("build_type".into(), json!("tar"));
        e.insert("build_hash".into(), json!(env!("CARGO_PKG_VERSION")));
        e.insert("roles".into(), json!(roles));
        e.insert("attributes".into(), json!(other.attributes));
        if want("http") {
            e.insert(
                "http".into(),
                json!({"bound_address": [other.http_address], "publish_address": other.http_address}),
            );
        }
        if want("transport") {
            e.insert(
                "transport".into(),
                json!({"bound_address": [other.transport_address], "publish_address": other.transport_address, "profiles": {}}),
            );
        }
        if let Some(nodes) = out.get_mut("nodes").and_then(Value::as_object_mut) {
            nodes.insert(other.id.clone(), Value::Object(e));
            added += 1;
        }
    }
    if let Some(h) = out.get_mut("_nodes").and_then(Value::as_object_mut) {
        for k in ["total", "successful"] {
            let v = h.get(k).and_then(Value::as_u64).unwrap_or(0) + added;
            h.insert(k.into(), json!(v));
        }
    }
}

fn os_json(ns: &NodeStats, human: bool) -> Value {
    let os = &ns.os;
    let mut cpu = Map::new();
    cpu.insert("percent".into(), json!(os.cpu_percent.unwrap_or(0)));
    if let Some(l) = os.load_average {
        cpu.insert("load_average".into(), json!({"1m": l[0], "5m": l[1], "15m": l[2]}));
    }
    let mem = os_mem_json(os, human);
    let mut swap = Map::new();
    if let (Some(t), Some(f)) = (os.swap_total_bytes, os.swap_free_bytes) {
        bytes_field(&mut swap, "total", t, human);
        bytes_field(&mut swap, "free", f, human);
        bytes_field(&mut swap, "used", t.saturating_sub(f), human);
    }
    json!({"timestamp": ns.timestamp_millis, "cpu": cpu, "mem": mem, "swap": swap})
}

fn process_json(ns: &NodeStats, human: bool) -> Value {
    let p = &ns.process;
    let mut m = Map::new();
    m.insert("timestamp".into(), json!(ns.timestamp_millis));
    if let Some(o) = p.open_file_descriptors {
        m.insert("open_file_descriptors".into(), json!(o));
    }
    if let Some(x) = p.max_file_descriptors {
        m.insert("max_file_descriptors".into(), json!(x));
    }
    let mut cpu = Map::new();
    cpu.insert("percent".into(), json!(p.cpu_percent.unwrap_or(0)));
    if let Some(t) = p.cpu_total_millis {
        millis_field(&mut cpu, "total", t, human);
    }
    m.insert("cpu".into(), Value::Object(cpu));
    let mut mem = Map::new();
    if let Some(v) = p.mem_virtual_bytes {
        bytes_field(&mut mem, "total_virtual", v, human);
    }
    m.insert("mem".into(), Value::Object(mem));
    Value::Object(m)
}

fn jvm_json(ns: &NodeStats, human: bool) -> Value {
    let mut mem = Map::new();
    let rss = ns.process.mem_resident_bytes.unwrap_or(0);
    let max = ns.os.mem_total_bytes.unwrap_or(0);
    bytes_field(&mut mem, "heap_used", rss, human);
    mem.insert(
        "heap_used_percent".into(),
        json!(if max > 0 { (rss as f64 * 100.0 / max as f64).round() as u64 } else { 0 }),
    );
    bytes_field(&mut mem, "heap_committed", rss, human);
    bytes_field(&mut mem, "heap_max", max, human);
    let mut m = Map::new();
    m.insert("timestamp".into(), json!(ns.timestamp_millis));
    millis_field(&mut m, "uptime", ns.uptime.as_millis() as u64, human);
    m.insert("mem".into(), Value::Object(mem));
    Value::Object(m)
}

fn fs_json(ns: &NodeStats, human: bool) -> Value {
    let mut m = Map::new();
    m.insert("timestamp".into(), json!(ns.timestamp_millis));
    let Some(f) = &ns.fs else {
        m.insert("total".into(), json!({}));
        m.insert("data".into(), json!([]));
        return Value::Object(m);
    };
    let mut total = Map::new();
    bytes_field(&mut total, "total", f.total_bytes, human);
    bytes_field(&mut total, "free", f.free_bytes, human);
    bytes_field(&mut total, "available", f.available_bytes, human);
    let mut data = Map::new();
    data.insert("path".into(), json!(f.path));
    data.insert("mount".into(), json!(f.mount));
    data.insert("type".into(), json!(f.fs_type));
    data.extend(total.clone());
    m.insert("total".into(), Value::Object(total));
    m.insert("data".into(), json!([data]));
    Value::Object(m)
}

fn thread_pool_stats_json() -> Value {
    let cpus = available_processors();
    let pools: Map<String, Value> = POOLS
        .iter()
        .map(|(name, _)| {
            (
                name.to_string(),
                json!({"threads": cpus, "queue": 0, "active": 0, "rejected": 0, "largest": cpus, "completed": 0}),
            )
        })
        .collect();
    Value::Object(pools)
}

const NODE_STATS_PARAMS: &[&str] = &[
    "completion_fields",
    "fielddata_fields",
    "fields",
    "groups",
    "include_segment_file_sizes",
    "include_unloaded_segments",
    "level",
    "timeout",
    "types",
    "master_timeout",
];

/// `GET /_nodes/stats`, `/_nodes/stats/{metric}`, `/_nodes/stats/{metric}/{index_metric}`,
/// `/_nodes/{node_id}/stats`, `/_nodes/{node_id}/stats/{metric}`,
/// `/_nodes/{node_id}/stats/{metric}/{index_metric}`
pub async fn stats(
    State(node): State<Arc<Node>>,
    path: Option<Path<Vec<(String, String)>>>,
    ctx: Ctx,
) -> ApiResult<Response> {
    ctx.params.check(NODE_STATS_PARAMS)?;
    let human = ctx.human;
    let file_sizes = ctx.params.bool("include_segment_file_sizes", false)?;
    let level = ctx.params.get("level").unwrap_or("node").to_ascii_lowercase();
    if !matches!(level.as_str(), "node" | "indices" | "shards") {
        return Err(ctx.error(EsError::illegal_argument(format!(
            "level parameter must be one of [node] or [indices] or [shards] but was [{level}]"
        ))));
    }
    let spec = path_param(&path, "node_id").unwrap_or_else(|| "_all".into());
    let metrics: Vec<String> =
        path_param(&path, "metric").map(|m| split_list(&m)).unwrap_or_else(|| vec!["_all".into()]);
    let all = metrics.iter().any(|m| m == "_all");
    if all && metrics.len() > 1 {
        return Err(ctx.error(EsError::illegal_argument(format!(
            "request [{}] contains _all and individual metrics [{}]",
            ctx.params.path,
            metrics.join(",")
        ))));
    }
    if !all {
        let bad: Vec<String> = metrics.iter().filter(|m| !STATS_NODE_METRICS.contains(&m.as_str())).cloned().collect();
        if !bad.is_empty() {
            return Err(ctx.error(unrecognized(&ctx.params.path, "metric", &bad, STATS_NODE_METRICS)));
        }
    }
    let want = |m: &str| all || metrics.iter().any(|x| x == m);
    let index_metrics = match path_param(&path, "index_metric") {
        Some(im) => {
            if !want("indices") {
                return Err(ctx.error(EsError::illegal_argument(format!(
                    "request [{}] contains index metrics [{im}] but indices stats not requested",
                    ctx.params.path
                ))));
            }
            parse_stats_metrics(&ctx.params.path, Some(&im)).map_err(|e| ctx.error(e))?
        }
        None => None,
    };
    let selected = node_selected(&node, &spec);
    let head = nodes_header(&node, selected);
    if !selected {
        return ctx.ok(with_nodes(head, &node, None));
    }
    let n2 = node.clone();
    let per_index = want("indices") && level != "node";
    let (ns, by_index) = blocking(move || {
        let ns = n2.node_stats();
        let by_index = if per_index {
            let meta = n2.metadata();
            let names: Vec<String> = meta.indices.keys().cloned().collect();
            // A node's own copies only, as ES's node stats.
            n2.indices_stats(&meta, &names, &Default::default())
        } else {
            Vec::new()
        };
        (ns, by_index)
    })
    .await
    .map_err(|e| ctx.error(e))?;
    let info = &node.info;
    let mut n = Map::new();
    n.insert("timestamp".into(), json!(ns.timestamp_millis));
    n.insert("name".into(), json!(info.node_name));
    n.insert("transport_address".into(), json!(info.transport_address));
    n.insert("host".into(), json!(info.host));
    n.insert("ip".into(), json!(format!("{}:{}", node.publish_ip(), transport_port(&node))));
    n.insert("roles".into(), json!(sorted_roles(&node)));
    n.insert("attributes".into(), json!(info.attributes));
    let im = index_metrics.as_deref();
    if want("indices") {
        let mut indices = match stats_json(&ns.indices, im, human, file_sizes) {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        if per_index {
            let mut per = Map::new();
            let mut shards = Map::new();
            for ix in &by_index {
                if ix.copies.iter().all(|c| c.stats.is_none()) {
                    continue;
                }
                per.insert(ix.index.clone(), stats_json(&ix.total(), im, human, file_sizes));
                if level == "shards" {
                    let list: Vec<Value> = ix
                        .copies
                        .iter()
                        .filter_map(|c| {
                            let s: &ShardStats = c.stats.as_ref()?;
                            let mut one = Map::new();
                            one.insert(c.routing.shard.to_string(), stats_json(s, im, human, file_sizes));
                            Some(Value::Object(one))
                        })
                        .collect();
                    shards.insert(ix.index.clone(), Value::Array(list));
                }
            }
            if level == "shards" {
                indices.insert("shards".into(), Value::Object(shards));
            } else {
                indices.insert("indices".into(), Value::Object(per));
            }
        }
        n.insert("indices".into(), Value::Object(indices));
    }
    if want("os") {
        n.insert("os".into(), os_json(&ns, human));
    }
    if want("process") {
        n.insert("process".into(), process_json(&ns, human));
    }
    if want("jvm") {
        n.insert("jvm".into(), jvm_json(&ns, human));
    }
    if want("thread_pool") {
        n.insert("thread_pool".into(), thread_pool_stats_json());
    }
    if want("fs") {
        n.insert("fs".into(), fs_json(&ns, human));
    }
    ctx.ok(with_nodes(head, &node, Some(Value::Object(n))))
}

/// `GET /_nodes/usage`, `/_nodes/{node_id}/usage`, `/_nodes/usage/{metric}`, `/_nodes/{node_id}/usage/{metric}`
pub async fn usage(
    State(node): State<Arc<Node>>,
    path: Option<Path<Vec<(String, String)>>>,
    ctx: Ctx,
) -> ApiResult<Response> {
    ctx.params.check(&["timeout"])?;
    let metrics = path_param(&path, "metric").map(|m| split_list(&m)).unwrap_or_else(|| vec!["_all".into()]);
    let allowed = ["_all", "rest_actions", "aggregations"];
    let bad: Vec<String> = metrics.iter().filter(|m| !allowed.contains(&m.as_str())).cloned().collect();
    if !bad.is_empty() {
        return Err(ctx.error(unrecognized(&ctx.params.path, "metric", &bad, &allowed)));
    }
    let want = |m: &str| metrics.iter().any(|x| x == m || x == "_all");
    let spec = path_param(&path, "node_id").unwrap_or_else(|| "_all".into());
    let selected = node_selected(&node, &spec);
    let head = nodes_header(&node, selected);
    if !selected {
        return ctx.ok(with_nodes(head, &node, None));
    }
    let mut n = Map::new();
    n.insert("timestamp".into(), json!(tern_node::node::now_millis()));
    n.insert("since".into(), json!(node.info.start_time_millis));
    if want("rest_actions") {
        n.insert("rest_actions".into(), json!({}));
    }
    if want("aggregations") {
        n.insert("aggregations".into(), json!({}));
    }
    ctx.ok(with_nodes(head, &node, Some(Value::Object(n))))
}

/// `GET /_nodes/hot_threads`, `/_nodes/{node_id}/hot_threads`: ES's text report. tern's work runs
/// on an async runtime, so the report names the node and lists no busy JVM threads.
pub async fn hot_threads(
    State(node): State<Arc<Node>>,
    path: Option<Path<Vec<(String, String)>>>,
    ctx: Ctx,
) -> ApiResult<Response> {
    ctx.params.check(&[
        "ignore_idle_threads",
        "interval",
        "snapshots",
        "sort",
        "threads",
        "timeout",
        "type",
        "master_timeout",
    ])?;
    let interval = ctx.params.get("interval").unwrap_or("500ms").to_string();
    let threads = ctx.params.i64("threads")?.unwrap_or(3);
    let ignore_idle = ctx.params.bool("ignore_idle_threads", true)?;
    let kind = ctx.params.get("type").unwrap_or("cpu").to_ascii_lowercase();
    if !matches!(kind.as_str(), "cpu" | "wait" | "block" | "mem") {
        return Err(ctx.error(EsError::illegal_argument(format!("type not supported [{kind}]"))));
    }
    let spec = path_param(&path, "node_id").unwrap_or_else(|| "_all".into());
    if !node_selected(&node, &spec) {
        return ctx.text(String::new());
    }
    let info = &node.info;
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ");
    let roles = tern_node::info::role_abbreviations(&info.roles);
    let text = format!(
        "::: {{{}}}{{{}}}{{{}}}{{{}}}{{{}:{}}}{{{roles}}}\n   Hot threads at {now}, interval={interval}, busiestThreads={threads}, ignoreIdleThreads={ignore_idle}:\n\n",
        info.node_name,
        info.node_id,
        tern_node::info::stable_id(&[&info.node_id, &info.start_time_millis.to_string()]),
        info.host,
        node.publish_ip(),
        transport_port(&node),
    );
    ctx.text(text)
}

/// `POST /_nodes/reload_secure_settings`, `/_nodes/{node_id}/reload_secure_settings`: tern keeps
/// no keystore, so there is nothing to reload; each selected node reports success.
pub async fn reload_secure_settings(
    State(node): State<Arc<Node>>,
    path: Option<Path<Vec<(String, String)>>>,
    ctx: Ctx,
) -> ApiResult<Response> {
    ctx.params.check(&["timeout"])?;
    let spec = path_param(&path, "node_id").unwrap_or_else(|| "_all".into());
    let selected = node_selected(&node, &spec);
    let head = nodes_header(&node, selected);
    let entry = selected.then(|| json!({"name": node.info.node_name}));
    ctx.ok(with_nodes(head, &node, entry))
}

/// The `os.mem` section shared by `_nodes/stats` and `_cluster/stats`.
pub(crate) fn os_mem_json(os: &tern_node::info::OsStats, human: bool) -> Map<String, Value> {
    let mut mem = Map::new();
    if let Some(t) = os.mem_total_bytes {
        bytes_field(&mut mem, "total", t, human);
        bytes_field(&mut mem, "adjusted_total", t, human);
    }
    if let Some(f) = os.mem_free_bytes {
        bytes_field(&mut mem, "free", f, human);
    }
    if let Some(u) = os.mem_used_bytes() {
        bytes_field(&mut mem, "used", u, human);
    }
    if let Some(up) = os.mem_used_percent() {
        mem.insert("free_percent".into(), json!(100 - up.min(100)));
        mem.insert("used_percent".into(), json!(up));
    }
    mem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_segment_is_metrics_when_all_parts_are_metrics() {
        assert_eq!(info_target(Some("http".into()), None), ("_all".into(), vec!["http".to_string()]));
        assert_eq!(info_target(Some("os,process".into()), None).1, vec!["os".to_string(), "process".to_string()]);
        assert_eq!(info_target(Some("_local".into()), None), ("_local".into(), vec!["_all".to_string()]));
        assert_eq!(info_target(Some("_all".into()), Some("http".into())), ("_all".into(), vec!["http".to_string()]));
        assert_eq!(info_target(None, None), ("_all".into(), vec!["_all".to_string()]));
    }

    #[test]
    fn node_stats_metric_list_is_es_compatible() {
        assert!(STATS_NODE_METRICS.contains(&"indices"));
        assert!(crate::api::stats::STATS_METRICS.contains(&"docs"));
    }
}
