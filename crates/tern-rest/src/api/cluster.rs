//! `cluster.*` APIs: `health`, `state`, `get_settings`, `put_settings`, `stats`.
//!
//! Health follows ES's `TransportClusterHealthAction`: the requested indices resolve leniently
//! (open, closed and hidden; missing names ignored) for the figures, while every `wait_for_*`
//! condition (and the existence of explicitly named indices, checked strictly) must hold before the
//! answer. Until then the request polls the node; when `timeout` (30s by default) passes first, ES
//! answers `408` with the last figures and `timed_out: true` — and an index that does not exist
//! makes the status `red` and the request wait for it, exactly like ES.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};
use tern_cluster::settings::flat_settings_json;
use tern_cluster::{ClusterMetadata, ExpandWildcards, FlatSettings, IndicesOptions, nest_settings, parse_time_value};
use tern_common::{ErrorKind, EsError};
use tern_node::Node;
use tern_node::info::{ClusterHealth, HealthStatus, IndexRouting, ShardRouting, ShardState, index_blocks, stable_id};

use crate::api::stats::{bytes_field, path_param, stats_json};
use crate::context::{Ctx, EsBody};
use crate::error::ApiResult;
use crate::params::split_list;

// ---------------------------------------------------------------------------------------------
// Health
// ---------------------------------------------------------------------------------------------

/// `wait_for_active_shards`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum ActiveShards {
    None,
    All,
    AtLeast(u64),
}

fn parse_active_shards(v: &str) -> Result<ActiveShards, EsError> {
    match v {
        "all" => Ok(ActiveShards::All),
        // `index-setting` (the default) means "do not wait" for health.
        "index-setting" | "default" => Ok(ActiveShards::None),
        n => match n.parse::<i64>() {
            Ok(n) if n < 0 => Err(EsError::illegal_argument("shard count cannot be a negative value")),
            Ok(0) => Ok(ActiveShards::None),
            Ok(n) => Ok(ActiveShards::AtLeast(n as u64)),
            Err(_) => Err(EsError::illegal_argument(format!("For input string: \"{n}\""))),
        },
    }
}

/// `wait_for_nodes`: `N`, `>=N`, `<=N`, `>N`, `<N`, `ge(N)`, `le(N)`, `gt(N)`, `lt(N)`.
fn nodes_condition_met(spec: &str, nodes: u32) -> Result<bool, EsError> {
    let num = |s: &str| {
        s.trim().parse::<u32>().map_err(|_| EsError::illegal_argument(format!("For input string: \"{}\"", s.trim())))
    };
    let inner = |s: &str, prefix: &str| s.strip_prefix(prefix).and_then(|r| r.strip_suffix(')')).map(str::to_string);
    let n = nodes;
    Ok(if let Some(r) = spec.strip_prefix(">=") {
        n >= num(r)?
    } else if let Some(r) = inner(spec, "ge(") {
        n >= num(&r)?
    } else if let Some(r) = spec.strip_prefix("<=") {
        n <= num(r)?
    } else if let Some(r) = inner(spec, "le(") {
        n <= num(&r)?
    } else if let Some(r) = spec.strip_prefix('>') {
        n > num(r)?
    } else if let Some(r) = inner(spec, "gt(") {
        n > num(&r)?
    } else if let Some(r) = spec.strip_prefix('<') {
        n < num(r)?
    } else if let Some(r) = inner(spec, "lt(") {
        n < num(&r)?
    } else {
        n == num(spec)?
    })
}

/// What a health request waits for.
#[derive(Debug, Clone, Default)]
struct HealthWaits {
    status: Option<HealthStatus>,
    no_relocating: bool,
    no_initializing: bool,
    active_shards: Option<ActiveShards>,
    nodes: Option<String>,
    /// Explicitly named indices must exist.
    indices: Option<Vec<String>>,
}

impl HealthWaits {
    /// ES's `prepareResponse`: counts the conditions met; a missing index turns the status red.
    fn met(&self, h: &mut ClusterHealth, meta: &ClusterMetadata) -> Result<(usize, usize), EsError> {
        let mut required = 0;
        let mut met = 0;
        if let Some(s) = self.status {
            required += 1;
            met += (h.status <= s) as usize;
        }
        if self.no_relocating {
            required += 1;
            met += (h.relocating_shards == 0) as usize;
        }
        if self.no_initializing {
            required += 1;
            met += (h.initializing_shards == 0) as usize;
        }
        match self.active_shards {
            None | Some(ActiveShards::None) => {}
            Some(ActiveShards::All) => {
                required += 1;
                met += (h.unassigned_shards == 0 && h.initializing_shards == 0) as usize;
            }
            Some(ActiveShards::AtLeast(n)) => {
                required += 1;
                met += (h.active_shards as u64 >= n) as usize;
            }
        }
        if let Some(expr) = &self.indices {
            required += 1;
            let strict = IndicesOptions::strict_expand_open_closed();
            match meta.resolve_indices(expr, &strict) {
                Ok(_) => met += 1,
                Err(_) => h.status = HealthStatus::Red,
            }
        }
        if let Some(spec) = &self.nodes {
            required += 1;
            met += nodes_condition_met(spec, h.number_of_nodes)? as usize;
        }
        Ok((met, required))
    }
}

fn no_enum_constant(class: &str, v: &str) -> EsError {
    EsError::illegal_argument(format!("No enum constant org.elasticsearch.{class}.{}", v.to_ascii_uppercase()))
}

fn time_param(ctx: &Ctx, key: &str, default: Duration) -> Result<Duration, EsError> {
    match ctx.params.get(key) {
        None => Ok(default),
        // `-1` waits without a limit; a day stands in for "forever".
        Some(v) => Ok(parse_time_value(v, key).map_err(EsError::from)?.unwrap_or(Duration::from_secs(86_400))),
    }
}

pub(crate) fn health_json(h: &ClusterHealth, timed_out: bool, level: &str, human: bool) -> Value {
    let mut m = Map::new();
    m.insert("cluster_name".into(), json!(h.cluster_name));
    m.insert("status".into(), json!(h.status.as_str()));
    m.insert("timed_out".into(), json!(timed_out));
    m.insert("number_of_nodes".into(), json!(h.number_of_nodes));
    m.insert("number_of_data_nodes".into(), json!(h.number_of_data_nodes));
    m.insert("active_primary_shards".into(), json!(h.active_primary_shards));
    m.insert("active_shards".into(), json!(h.active_shards));
    m.insert("relocating_shards".into(), json!(h.relocating_shards));
    m.insert("initializing_shards".into(), json!(h.initializing_shards));
    m.insert("unassigned_shards".into(), json!(h.unassigned_shards));
    m.insert("unassigned_primary_shards".into(), json!(h.unassigned_primary_shards));
    m.insert("delayed_unassigned_shards".into(), json!(h.delayed_unassigned_shards));
    m.insert("number_of_pending_tasks".into(), json!(h.number_of_pending_tasks));
    m.insert("number_of_in_flight_fetch".into(), json!(h.number_of_in_flight_fetch));
    if human {
        m.insert(
            "task_max_waiting_in_queue".into(),
            json!(crate::api::stats::format_millis(h.task_max_waiting_in_queue_millis)),
        );
    }
    m.insert("task_max_waiting_in_queue_millis".into(), json!(h.task_max_waiting_in_queue_millis));
    if human {
        m.insert("active_shards_percent".into(), json!(format!("{:.1}%", h.active_shards_percent)));
    }
    m.insert("active_shards_percent_as_number".into(), json!(h.active_shards_percent));
    if level == "indices" || level == "shards" {
        let mut indices = Map::new();
        for (name, ih) in &h.indices {
            let mut im = Map::new();
            im.insert("status".into(), json!(ih.status.as_str()));
            im.insert("number_of_shards".into(), json!(ih.number_of_shards));
            im.insert("number_of_replicas".into(), json!(ih.number_of_replicas));
            im.insert("active_primary_shards".into(), json!(ih.active_primary_shards));
            im.insert("active_shards".into(), json!(ih.active_shards));
            im.insert("relocating_shards".into(), json!(ih.relocating_shards));
            im.insert("initializing_shards".into(), json!(ih.initializing_shards));
            im.insert("unassigned_shards".into(), json!(ih.unassigned_shards));
            im.insert("unassigned_primary_shards".into(), json!(ih.unassigned_primary_shards));
            if level == "shards" {
                let shards: Map<String, Value> = ih
                    .shards
                    .iter()
                    .map(|s| {
                        (
                            s.shard.to_string(),
                            json!({
                                "status": s.status.as_str(),
                                "primary_active": s.primary_active,
                                "active_shards": s.active_shards,
                                "relocating_shards": s.relocating_shards,
                                "initializing_shards": s.initializing_shards,
                                "unassigned_shards": s.unassigned_shards,
                                "unassigned_primary_shards": s.unassigned_primary_shards,
                            }),
                        )
                    })
                    .collect();
                im.insert("shards".into(), Value::Object(shards));
            }
            indices.insert(name.clone(), Value::Object(im));
        }
        m.insert("indices".into(), Value::Object(indices));
    }
    Value::Object(m)
}

const HEALTH_PARAMS: &[&str] = &[
    "expand_wildcards",
    "level",
    "local",
    "master_timeout",
    "timeout",
    "wait_for_active_shards",
    "wait_for_events",
    "wait_for_no_initializing_shards",
    "wait_for_no_relocating_shards",
    "wait_for_nodes",
    "wait_for_status",
    "ignore_unavailable",
    "allow_no_indices",
];

/// `GET /_cluster/health`, `/_cluster/health/{index}`
pub async fn health(State(node): State<Arc<Node>>, index: Option<Path<String>>, ctx: Ctx) -> ApiResult<Response> {
    ctx.params.check(HEALTH_PARAMS)?;
    let p = &ctx.params;
    // ES only reads `level` when rendering; anything but indices/shards renders the cluster level.
    let level = p.get("level").unwrap_or("cluster").to_ascii_lowercase();
    p.bool("local", false)?;
    time_param(&ctx, "master_timeout", Duration::from_secs(30))?;
    let timeout = time_param(&ctx, "timeout", Duration::from_secs(30))?;
    let opts = p.indices_options(IndicesOptions {
        ignore_unavailable: true,
        allow_no_indices: true,
        expand_wildcards: ExpandWildcards::ALL,
        forbid_closed_indices: false,
        ignore_aliases: false,
    })?;
    let expr: Option<Vec<String>> = index.map(|Path(i)| split_list(&i)).filter(|v| !v.is_empty());
    let waits = HealthWaits {
        status: p
            .get("wait_for_status")
            .map(|v| HealthStatus::parse(v).ok_or_else(|| no_enum_constant("cluster.health.ClusterHealthStatus", v)))
            .transpose()?,
        no_relocating: p.bool("wait_for_no_relocating_shards", false)?,
        no_initializing: p.bool("wait_for_no_initializing_shards", false)?,
        active_shards: p.get("wait_for_active_shards").map(parse_active_shards).transpose()?,
        nodes: p.get("wait_for_nodes").filter(|v| !v.is_empty()).map(str::to_string),
        indices: expr.clone(),
    };
    if let Some(ev) = p.get("wait_for_events") {
        // A single node has no queued cluster-state tasks: every priority is reached at once.
        if !matches!(ev.to_ascii_lowercase().as_str(), "immediate" | "urgent" | "high" | "normal" | "low" | "languid") {
            return Err(ctx.error(no_enum_constant("common.Priority", ev)));
        }
    }
    let target = expr.clone().unwrap_or_else(|| vec!["_all".into()]);
    let deadline = Instant::now() + timeout;
    let (health, timed_out) = loop {
        let meta = node.metadata();
        let mut h = match meta.resolve_indices(&target, &opts) {
            Ok(names) => node.cluster_health(&meta, &names),
            Err(_) => {
                let mut h = node.cluster_health(&meta, &[]);
                h.status = HealthStatus::Red;
                h
            }
        };
        let (met, required) = waits.met(&mut h, &meta).map_err(|e| ctx.error(e))?;
        if met == required {
            break (h, false);
        }
        let now = Instant::now();
        if now >= deadline {
            break (h, true);
        }
        tokio::time::sleep((deadline - now).min(Duration::from_millis(50))).await;
    };
    let body = health_json(&health, timed_out, &level, ctx.human);
    let status = if timed_out { StatusCode::REQUEST_TIMEOUT } else { StatusCode::OK };
    ctx.json(status, body)
}

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

const STATE_METRICS: &[&str] =
    &["version", "master_node", "blocks", "nodes", "metadata", "routing_table", "routing_nodes", "customs"];

pub(crate) fn shard_routing_json(c: &ShardRouting) -> Value {
    let mut m = Map::new();
    m.insert("state".into(), json!(c.state.as_str()));
    m.insert("primary".into(), json!(c.primary));
    m.insert("node".into(), json!(c.node_id));
    m.insert("relocating_node".into(), Value::Null);
    m.insert("shard".into(), json!(c.shard));
    m.insert("index".into(), json!(c.index));
    match c.state {
        ShardState::Unassigned => {
            m.insert("recovery_source".into(), json!({"type": "PEER"}));
        }
        ShardState::Initializing => {
            m.insert("recovery_source".into(), json!({"type": "EXISTING_STORE", "bootstrap_new_history_uuid": false}));
        }
        ShardState::Started => {}
    }
    if let Some(id) = &c.allocation_id {
        m.insert("allocation_id".into(), json!({"id": id}));
    }
    if let Some(u) = &c.unassigned {
        let mut ui = Map::new();
        ui.insert("reason".into(), json!(u.reason));
        if let Some(at) = chrono::DateTime::from_timestamp_millis(u.at_millis) {
            ui.insert("at".into(), json!(at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()));
        }
        ui.insert("delayed".into(), json!(false));
        if let Some(d) = &u.details {
            ui.insert("details".into(), json!(d));
        }
        ui.insert("allocation_status".into(), json!("no_attempt"));
        m.insert("unassigned_info".into(), Value::Object(ui));
    }
    Value::Object(m)
}

fn routing_table_json(routing: &[IndexRouting]) -> Value {
    let indices: Map<String, Value> = routing
        .iter()
        .map(|r| {
            let shards: Map<String, Value> = r
                .shards
                .iter()
                .enumerate()
                .map(|(n, copies)| (n.to_string(), Value::Array(copies.iter().map(shard_routing_json).collect())))
                .collect();
            (r.index.clone(), json!({"shards": shards}))
        })
        .collect();
    json!({"indices": indices})
}

fn node_settings_flat(node: &Node) -> FlatSettings {
    let mut flat: FlatSettings = node
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
    flat.entry("cluster.name".into()).or_insert_with(|| json!(node.info.cluster_name));
    flat.entry("node.name".into()).or_insert_with(|| json!(node.info.node_name));
    flat.entry("client.type".into()).or_insert_with(|| json!("node"));
    flat
}

pub(crate) fn render_settings(flat: &FlatSettings, flat_settings: bool) -> Value {
    let masked;
    let flat = if flat.keys().any(|k| tern_cluster::cluster_settings::is_secure_setting(k)) {
        // Credentials are stored, never echoed: the seed's examples show them as `*****`.
        masked = flat
            .iter()
            .map(|(k, v)| {
                let v =
                    if tern_cluster::cluster_settings::is_secure_setting(k) { Value::from("*****") } else { v.clone() };
                (k.clone(), v)
            })
            .collect::<FlatSettings>();
        &masked
    } else {
        flat
    };
    if flat_settings { flat_settings_json(flat) } else { nest_settings(flat) }
}

/// The `metadata.indices.{name}` entry of the cluster state.
fn index_metadata_json(im: &tern_cluster::IndexMetadata, flat: bool) -> Value {
    let mut m = Map::new();
    m.insert("version".into(), json!(1 + im.mapping_version + im.settings_version + im.aliases_version));
    m.insert("mapping_version".into(), json!(im.mapping_version));
    m.insert("settings_version".into(), json!(im.settings_version));
    m.insert("aliases_version".into(), json!(im.aliases_version));
    m.insert("routing_num_shards".into(), json!(im.routing_num_shards()));
    m.insert("state".into(), json!(im.state.as_str()));
    m.insert("settings".into(), render_settings(im.settings.flat(), flat));
    let mappings = match &im.mappings {
        Value::Object(o) if !o.is_empty() => json!({"_doc": im.mappings}),
        _ => json!({}),
    };
    m.insert("mappings".into(), mappings);
    m.insert("aliases".into(), json!(im.aliases.keys().collect::<Vec<_>>()));
    let terms: Map<String, Value> =
        (0..im.number_of_shards()).map(|s| (s.to_string(), json!(im.primary_term(s).unwrap_or(1)))).collect();
    m.insert("primary_terms".into(), Value::Object(terms));
    let in_sync: Map<String, Value> = (0..im.number_of_shards())
        .map(|s| (s.to_string(), json!([stable_id(&[&im.uuid, &s.to_string(), "p"])])))
        .collect();
    m.insert("in_sync_allocations".into(), Value::Object(in_sync));
    m.insert("rollover_info".into(), json!({}));
    m.insert("system".into(), json!(false));
    m.insert("timestamp_range".into(), json!({"shards": []}));
    Value::Object(m)
}

pub(crate) fn discovery_node_json(node: &Node) -> Value {
    let mut roles = node.info.roles.clone();
    roles.sort();
    json!({
        "name": node.info.node_name,
        "ephemeral_id": stable_id(&[&node.info.node_id, &node.info.start_time_millis.to_string()]),
        "transport_address": node.info.transport_address,
        "external_id": node.info.node_name,
        "attributes": node.info.attributes,
        "roles": roles,
        "version": node.info.version,
    })
}

const STATE_PARAMS: &[&str] = &[
    "allow_no_indices",
    "expand_wildcards",
    "flat_settings",
    "ignore_unavailable",
    "local",
    "master_timeout",
    "wait_for_metadata_version",
    "wait_for_timeout",
];

/// `GET /_cluster/state`, `/_cluster/state/{metric}`, `/_cluster/state/{metric}/{index}`
pub async fn state(
    State(node): State<Arc<Node>>,
    path: Option<Path<Vec<(String, String)>>>,
    ctx: Ctx,
) -> ApiResult<Response> {
    ctx.params.check(STATE_PARAMS)?;
    let flat = ctx.params.bool("flat_settings", false)?;
    ctx.params.bool("local", false)?;
    time_param(&ctx, "master_timeout", Duration::from_secs(30))?;
    // Unknown metric names are ignored, as ES's `Metric.parseString(.., ignoreUnknown=true)` does.
    let metrics: Vec<String> = match path_param(&path, "metric") {
        None => STATE_METRICS.iter().map(|s| s.to_string()).collect(),
        Some(m) => {
            let list = split_list(&m);
            if list.iter().any(|x| x == "_all") { STATE_METRICS.iter().map(|s| s.to_string()).collect() } else { list }
        }
    };
    let has = |m: &str| metrics.iter().any(|x| x == m);
    if let Some(v) = ctx.params.i64("wait_for_metadata_version")? {
        let wait = time_param(&ctx, "wait_for_timeout", Duration::from_secs(60))?;
        let deadline = Instant::now() + wait;
        while (node.metadata().version as i64) < v {
            if Instant::now() >= deadline {
                return ctx.ok(json!({"cluster_name": node.info.cluster_name, "wait_for_timed_out": true}));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let meta = node.metadata();
    let names: Option<Vec<String>> = match path_param(&path, "index") {
        None => None,
        Some(i) => {
            let opts = ctx.params.indices_options(IndicesOptions::lenient_expand_open())?;
            Some(meta.resolve_indices(&split_list(&i), &opts).map_err(|e| ctx.error(EsError::from(e)))?)
        }
    };
    let selected: Vec<&tern_cluster::IndexMetadata> =
        meta.indices.values().filter(|im| names.as_ref().is_none_or(|n| n.contains(&im.name))).collect();
    let mut body = Map::new();
    body.insert("cluster_name".into(), json!(node.info.cluster_name));
    body.insert("cluster_uuid".into(), json!(meta.cluster_uuid));
    if has("version") {
        body.insert("version".into(), json!(meta.version));
        body.insert("state_uuid".into(), json!(node.state_uuid(&meta)));
    }
    if has("master_node") {
        body.insert("master_node".into(), json!(node.master_node_id()));
    }
    if has("blocks") {
        let mut indices = Map::new();
        for im in &selected {
            let blocks = index_blocks(im);
            if blocks.is_empty() {
                continue;
            }
            let b: Map<String, Value> = blocks
                .into_iter()
                .map(|b| {
                    (
                        b.id.to_string(),
                        json!({"description": b.description, "retryable": b.retryable, "levels": b.levels}),
                    )
                })
                .collect();
            indices.insert(im.name.clone(), Value::Object(b));
        }
        let blocks = if indices.is_empty() { json!({}) } else { json!({"indices": indices}) };
        body.insert("blocks".into(), blocks);
    }
    if has("nodes") {
        let mut nodes = Map::new();
        nodes.insert(node.info.node_id.clone(), discovery_node_json(&node));
        for other in node.cluster_nodes().into_iter().filter(|n| n.id != node.info.node_id) {
            let mut roles = other.roles.clone();
            roles.sort();
            nodes.insert(
                other.id.clone(),
                json!({
                    "name": other.name,
                    "ephemeral_id": stable_id(&[&other.id, &other.transport_address]),
                    "transport_address": other.transport_address,
                    "external_id": other.name,
                    "attributes": other.attributes,
                    "roles": roles,
                    "version": node.info.version,
                }),
            );
        }
        body.insert("nodes".into(), Value::Object(nodes));
    }
    if has("metadata") {
        let indices: Map<String, Value> =
            selected.iter().map(|im| (im.name.clone(), index_metadata_json(im, flat))).collect();
        let templates: Map<String, Value> = meta.templates.iter().map(|(k, t)| (k.clone(), t.to_json())).collect();
        let components: Map<String, Value> =
            meta.component_templates.iter().map(|(k, t)| (k.clone(), t.to_json())).collect();
        let (coordination_term, voting_config) = node.voting_config();
        body.insert(
            "metadata".into(),
            json!({
                "cluster_uuid": meta.cluster_uuid,
                "cluster_uuid_committed": true,
                "cluster_coordination": {
                    "term": coordination_term,
                    "last_committed_config": voting_config,
                    "last_accepted_config": voting_config,
                    "voting_config_exclusions": [],
                },
                "templates": {},
                "indices": indices,
                "index-graveyard": {"tombstones": []},
                "component_template": {"component_template": components},
                "index_template": {"index_template": templates},
            }),
        );
    }
    let routing = if has("routing_table") || has("routing_nodes") {
        let wanted: Vec<String> = selected.iter().map(|im| im.name.clone()).collect();
        node.routing_table(&meta, Some(wanted.as_slice()))
    } else {
        Vec::new()
    };
    if has("routing_table") {
        body.insert("routing_table".into(), routing_table_json(&routing));
    }
    if has("routing_nodes") {
        let copies: Vec<&ShardRouting> = routing.iter().flat_map(|r| r.copies()).collect();
        let unassigned: Vec<Value> =
            copies.iter().filter(|c| c.node_id.is_none()).map(|c| shard_routing_json(c)).collect();
        let assigned: Vec<Value> =
            copies.iter().filter(|c| c.node_id.is_some()).map(|c| shard_routing_json(c)).collect();
        let mut by_node = Map::new();
        by_node.insert(node.info.node_id.clone(), Value::Array(assigned));
        body.insert("routing_nodes".into(), json!({"unassigned": unassigned, "nodes": by_node}));
    }
    ctx.ok(Value::Object(body))
}

// ---------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------

/// `GET /_cluster/settings`
pub async fn get_settings(State(node): State<Arc<Node>>, ctx: Ctx) -> ApiResult<Response> {
    ctx.params.check(&["flat_settings", "include_defaults", "master_timeout", "timeout", "local"])?;
    let flat = ctx.params.bool("flat_settings", false)?;
    let defaults = ctx.params.bool("include_defaults", false)?;
    ctx.params.bool("local", false)?;
    let meta = node.metadata();
    let mut body = Map::new();
    body.insert("persistent".into(), render_settings(&meta.persistent_settings, flat));
    body.insert("transient".into(), render_settings(&meta.transient_settings, flat));
    if defaults {
        let mut d = tern_cluster::cluster_setting_defaults();
        d.extend(node_settings_flat(&node));
        d.retain(|k, _| !meta.persistent_settings.contains_key(k) && !meta.transient_settings.contains_key(k));
        body.insert("defaults".into(), render_settings(&d, flat));
    }
    ctx.ok(Value::Object(body))
}

/// `PUT /_cluster/settings`
pub async fn put_settings(State(node): State<Arc<Node>>, ctx: Ctx, body: EsBody) -> ApiResult<Response> {
    ctx.params.check(&["flat_settings", "master_timeout", "timeout"])?;
    let flat = ctx.params.bool("flat_settings", false)?;
    let body = body.required_json()?;
    let Some(obj) = body.as_object() else {
        return Err(
            ctx.error(EsError::new(ErrorKind::XContentParse, "[cluster_update_settings_request] expected an object"))
        );
    };
    for k in obj.keys() {
        if k != "persistent" && k != "transient" {
            return Err(ctx.error(EsError::new(
                ErrorKind::XContentParse,
                format!("[cluster_update_settings_request] unknown field [{k}]"),
            )));
        }
    }
    let (persistent, transient) = node.put_cluster_settings_acknowledged(&body).await.map_err(|e| ctx.error(e))?;
    ctx.ok(json!({
        "acknowledged": true,
        "persistent": render_settings(&persistent, flat),
        "transient": render_settings(&transient, flat),
    }))
}

// ---------------------------------------------------------------------------------------------
// Stats
// ---------------------------------------------------------------------------------------------

/// Counts mapped field types over all indices (`indices.mappings.field_types`).
fn field_types(meta: &ClusterMetadata) -> Vec<Value> {
    use std::collections::BTreeMap;
    fn walk(props: &Value, seen: &mut BTreeMap<String, u64>) {
        let Some(p) = props.as_object() else { return };
        for def in p.values() {
            let t = def.get("type").and_then(Value::as_str).unwrap_or(if def.get("properties").is_some() {
                "object"
            } else {
                ""
            });
            if !t.is_empty() {
                *seen.entry(t.to_string()).or_default() += 1;
            }
            if let Some(sub) = def.get("properties") {
                walk(sub, seen);
            }
            if let Some(fields) = def.get("fields") {
                walk(fields, seen);
            }
        }
    }
    let mut total: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for im in meta.indices.values() {
        let mut seen = BTreeMap::new();
        if let Some(p) = im.mappings.get("properties") {
            walk(p, &mut seen);
        }
        for (t, n) in seen {
            let e = total.entry(t).or_default();
            e.0 += n;
            e.1 += 1;
        }
    }
    total
        .into_iter()
        .map(|(name, (count, index_count))| json!({"name": name, "count": count, "index_count": index_count}))
        .collect()
}

/// `GET /_cluster/stats`, `/_cluster/stats/nodes/{node_id}`
pub async fn stats(
    State(node): State<Arc<Node>>,
    path: Option<Path<Vec<(String, String)>>>,
    ctx: Ctx,
) -> ApiResult<Response> {
    ctx.params.check(&["timeout", "include_remotes", "flat_settings"])?;
    let selected = path_param(&path, "node_id").is_none_or(|spec| crate::api::cat::node_selected(&node, &spec));
    let meta = node.metadata();
    let names: Vec<String> = meta.indices.keys().cloned().collect();
    let (n2, m2, names2) = (node.clone(), meta.clone(), names.clone());
    let remote = node.remote_copy_stats(&meta, &names).await;
    let (indices_stats, ns) =
        crate::api::stats::blocking(move || (n2.indices_stats(&m2, &names2, &remote), n2.node_stats()))
            .await
            .map_err(|e| ctx.error(e))?;
    let health = node.cluster_health(&meta, &names);
    let human = ctx.human;
    let mut totals = tern_node::info::ShardStats::empty();
    totals.shard_count = 0;
    let (mut shards_total, mut primaries_total) = (0u64, 0u64);
    let mut per_index_shards: Vec<(u64, u64)> = Vec::new();
    for ix in &indices_stats {
        let started: Vec<_> = ix.copies.iter().filter(|c| c.routing.state == ShardState::Started).collect();
        let p = started.iter().filter(|c| c.routing.primary).count() as u64;
        shards_total += started.len() as u64;
        primaries_total += p;
        per_index_shards.push((started.len() as u64, p));
        totals.add(&ix.total());
    }
    let minmaxavg = |v: Vec<f64>| {
        let n = v.len().max(1) as f64;
        let min = v.iter().cloned().reduce(f64::min).unwrap_or(0.0);
        let max = v.iter().cloned().reduce(f64::max).unwrap_or(0.0);
        let avg = v.iter().sum::<f64>() / n;
        json!({"min": min, "max": max, "avg": avg})
    };
    let shards = if shards_total == 0 {
        json!({})
    } else {
        let repl = |t: u64, p: u64| if p == 0 { 0.0 } else { (t - p) as f64 / p as f64 };
        json!({
            "total": shards_total,
            "primaries": primaries_total,
            "replication": repl(shards_total, primaries_total),
            "index": {
                "shards": minmaxavg(per_index_shards.iter().map(|(t, _)| *t as f64).collect()),
                "primaries": minmaxavg(per_index_shards.iter().map(|(_, p)| *p as f64).collect()),
                "replication": minmaxavg(per_index_shards.iter().map(|(t, p)| repl(*t, *p)).collect()),
            }
        })
    };
    let metric_list: Vec<String> =
        ["docs", "store", "fielddata", "query_cache", "completion", "segments"].iter().map(|s| s.to_string()).collect();
    let mut indices = Map::new();
    indices.insert("count".into(), json!(meta.indices.len()));
    indices.insert("shards".into(), shards);
    if let Value::Object(m) = stats_json(&totals, Some(&metric_list), human, false) {
        indices.extend(m);
    }
    indices.insert("mappings".into(), json!({"field_types": field_types(&meta), "runtime_field_types": []}));
    indices.insert(
        "analysis".into(),
        json!({
            "char_filter_types": [], "tokenizer_types": [], "filter_types": [], "analyzer_types": [],
            "built_in_char_filters": [], "built_in_tokenizers": [], "built_in_filters": [], "built_in_analyzers": [],
        }),
    );
    let primary_bytes: u64 = indices_stats.iter().map(|ix| ix.primaries().store_size_bytes).sum();
    indices.insert(
        "versions".into(),
        json!([{
            "version": node.info.version,
            "index_count": meta.indices.len(),
            "primary_shard_count": primaries_total,
            "total_primary_bytes": primary_bytes,
        }]),
    );
    let roles = &node.info.roles;
    let has_role = |r: &str| roles.iter().any(|x| x == r) as u32;
    let os = &ns.os;
    let mem = crate::api::nodes::os_mem_json(os, human);
    let fds = ns.process.open_file_descriptors.unwrap_or(0);
    let mut fs = Map::new();
    if let Some(f) = &ns.fs {
        bytes_field(&mut fs, "total", f.total_bytes, human);
        bytes_field(&mut fs, "free", f.free_bytes, human);
        bytes_field(&mut fs, "available", f.available_bytes, human);
    }
    let node_count = selected as u32;
    let nodes = json!({
        "count": {
            "total": node_count,
            "coordinating_only": if roles.is_empty() { node_count } else { 0 },
            "data": node_count * node.is_data_node() as u32,
            "ingest": node_count * has_role("ingest"),
            "master": node_count * has_role("master"),
            "ml": node_count * has_role("ml"),
            "remote_cluster_client": node_count * has_role("remote_cluster_client"),
            "transform": node_count * has_role("transform"),
            "voting_only": node_count * has_role("voting_only"),
        },
        "versions": [node.info.version],
        "os": {
            "available_processors": os.available_processors,
            "allocated_processors": os.available_processors,
            "names": [{"name": os.name, "count": node_count}],
            "pretty_names": [{"pretty_name": os.pretty_name.clone().unwrap_or_else(|| os.name.clone()), "count": node_count}],
            "architectures": [{"arch": os.arch, "count": node_count}],
            "mem": mem,
        },
        "process": {
            "cpu": {"percent": ns.process.cpu_percent.unwrap_or(0)},
            "open_file_descriptors": {"min": fds, "max": fds, "avg": fds},
        },
        "fs": fs,
        "plugins": [],
        "network_types": {"transport_types": {"tern": node_count}, "http_types": {"tern": node_count}},
        "discovery_types": {"single-node": node_count},
        "packaging_types": [{"flavor": "default", "type": "tar", "count": node_count}],
        "ingest": {"number_of_pipelines": 0, "processor_stats": {}},
    });
    ctx.ok(json!({
        "_nodes": {"total": node_count, "successful": node_count, "failed": 0},
        "cluster_name": node.info.cluster_name,
        "cluster_uuid": meta.cluster_uuid,
        "timestamp": ns.timestamp_millis,
        "status": health.status.as_str(),
        "indices": indices,
        "nodes": nodes,
    }))
}

// ---------------------------------------------------------------------------------------------
// Allocation explain
// ---------------------------------------------------------------------------------------------

/// `GET|POST /_cluster/allocation/explain`: why a shard copy is (or is not) where it is.
pub async fn allocation_explain(State(node): State<Arc<Node>>, ctx: Ctx, body: EsBody) -> ApiResult<Response> {
    ctx.params.check(&["include_yes_decisions", "include_disk_info"])?;
    let include_yes = ctx.params.bool("include_yes_decisions", false)?;
    ctx.params.bool("include_disk_info", false)?;
    let req = body.json().map_err(|e| ctx.error(e))?;
    let target = match &req {
        None => None,
        Some(v) => {
            let obj =
                v.as_object().ok_or_else(|| ctx.error(EsError::illegal_argument("request body must be an object")))?;
            for key in obj.keys() {
                if !matches!(key.as_str(), "index" | "shard" | "primary" | "current_node") {
                    return Err(ctx.error(EsError::new(
                        ErrorKind::XContentParse,
                        format!("[cluster_allocation_explain_request] unknown field [{key}]"),
                    )));
                }
            }
            let index = obj.get("index").and_then(Value::as_str);
            let shard = obj.get("shard").and_then(Value::as_u64);
            let primary = obj.get("primary").and_then(Value::as_bool);
            match (index, shard, primary) {
                (Some(i), Some(s), Some(p)) => Some((i.to_string(), s as u32, p)),
                _ => {
                    return Err(ctx.error(EsError::illegal_argument(
                        "the request must either specify all of [index, shard, primary] or none of them, to explain the first unassigned shard",
                    )))
                }
            }
        }
    };
    let ex = node.explain_allocation(target).map_err(|e| ctx.error(e))?;
    let c = &ex.copy;
    let mut out = Map::new();
    out.insert("index".into(), json!(c.index));
    out.insert("shard".into(), json!(c.shard));
    out.insert("primary".into(), json!(c.primary));
    out.insert("current_state".into(), json!(c.state.as_str().to_ascii_lowercase()));
    let node_json = |n: &tern_cluster::DiscoveryNode| json!({"id": n.id, "name": n.name, "transport_address": n.transport_address, "attributes": n.attributes});
    if let Some(u) = &c.unassigned {
        out.insert(
            "unassigned_info".into(),
            json!({"reason": u.reason, "at": crate::api::cat::iso_millis(u.at_millis), "last_allocation_status": "no_attempt"}),
        );
        let any_yes = ex.decisions.iter().any(|d| d.refusal.is_none());
        out.insert("can_allocate".into(), json!(if any_yes { "yes" } else { "no" }));
        out.insert(
            "allocate_explanation".into(),
            json!(if any_yes {
                "Elasticsearch can allocate the shard."
            } else {
                "Elasticsearch isn't allowed to allocate this shard to any of the nodes in the cluster. Choose a node to which you expect this shard to be allocated, find this node in the node-by-node explanation, and address the reasons which prevent Elasticsearch from allocating this shard there."
            }),
        );
        let decisions: Vec<Value> = ex
            .decisions
            .iter()
            .enumerate()
            .map(|(rank, d)| {
                let mut deciders = Vec::new();
                match &d.refusal {
                    Some((decider, why)) => deciders.push(json!({"decider": decider, "decision": "NO", "explanation": why})),
                    None if include_yes => deciders.push(json!({"decider": "filter", "decision": "YES", "explanation": "node passes include/exclude/require filters"})),
                    None => {}
                }
                json!({
                    "node_id": d.node.id,
                    "node_name": d.node.name,
                    "transport_address": d.node.transport_address,
                    "node_attributes": d.node.attributes,
                    "roles": d.node.roles,
                    "node_decision": if d.refusal.is_some() { "no" } else { "yes" },
                    "weight_ranking": rank + 1,
                    "deciders": deciders,
                })
            })
            .collect();
        out.insert("node_allocation_decisions".into(), Value::Array(decisions));
    } else if let Some(n) = &ex.current_node {
        let mut current = node_json(n);
        current["weight_ranking"] = json!(1);
        out.insert("current_node".into(), current);
        out.insert("can_remain_on_current_node".into(), json!("yes"));
        out.insert("can_rebalance_cluster".into(), json!("yes"));
        out.insert("can_rebalance_to_other_node".into(), json!("no"));
        out.insert(
            "rebalance_explanation".into(),
            json!("Elasticsearch cannot rebalance this shard to another node since there is no node to which allocation is permitted which would improve the cluster balance. If you expect this shard to be rebalanced to another node, find this node in the node-by-node explanation and address the reasons which prevent Elasticsearch from rebalancing this shard there."),
        );
    }
    ctx.json(StatusCode::OK, Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_for_nodes_expressions() {
        assert!(nodes_condition_met("1", 1).unwrap());
        assert!(!nodes_condition_met("10", 1).unwrap());
        assert!(nodes_condition_met(">=1", 1).unwrap());
        assert!(nodes_condition_met("ge(1)", 1).unwrap());
        assert!(!nodes_condition_met(">1", 1).unwrap());
        assert!(nodes_condition_met("lt(2)", 1).unwrap());
        assert!(nodes_condition_met("<=3", 1).unwrap());
        assert!(nodes_condition_met("x", 1).is_err());
    }

    #[test]
    fn wait_for_active_shards_values() {
        assert_eq!(parse_active_shards("all").unwrap(), ActiveShards::All);
        assert_eq!(parse_active_shards("0").unwrap(), ActiveShards::None);
        assert_eq!(parse_active_shards("5").unwrap(), ActiveShards::AtLeast(5));
        assert!(parse_active_shards("-1").is_err());
        assert!(parse_active_shards("lots").is_err());
    }

    #[test]
    fn health_body_has_es_fields_in_order() {
        let h = tern_node::info::cluster_health("c", 1, vec![], &[]);
        let v = health_json(&h, false, "cluster", false);
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "cluster_name",
                "status",
                "timed_out",
                "number_of_nodes",
                "number_of_data_nodes",
                "active_primary_shards",
                "active_shards",
                "relocating_shards",
                "initializing_shards",
                "unassigned_shards",
                "unassigned_primary_shards",
                "delayed_unassigned_shards",
                "number_of_pending_tasks",
                "number_of_in_flight_fetch",
                "task_max_waiting_in_queue_millis",
                "active_shards_percent_as_number",
            ]
        );
        assert_eq!(v["active_shards_percent_as_number"], 100.0);
        assert!(health_json(&h, false, "indices", false).get("indices").is_some());
        assert!(health_json(&h, false, "bogus", false).get("indices").is_none());
    }
}
