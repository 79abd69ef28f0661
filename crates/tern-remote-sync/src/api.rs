//! The follower-side REST API, as the seed document gives it.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Extension;
use axum::extract::Path;
use axum::response::Response;
use reqwest::Method;
use serde_json::{Map, Value, json};
use tern_cluster::wildcard::{is_wildcard, wildcard_match};
use tern_common::{ErrorKind, EsError};
use tern_node::node::now_millis;
use tern_rest::context::{Ctx, EsBody};
use tern_rest::error::ApiResult;

use crate::Runtime;
use crate::client::seg;
use crate::config::{CUSTOM_KEY, FollowSpec, SyncState, parse_pattern, parse_start, remotes};

/// `PUT start_remote_sync`
pub async fn start(Extension(rt): Extension<Arc<Runtime>>, ctx: Ctx, body: EsBody) -> ApiResult<Response> {
    ctx.params.check(&["master_timeout", "timeout"])?;
    let body = body.required_json().map_err(|e| ctx.error(e))?;
    let spec = parse_start(&body).map_err(|e| ctx.error(e))?;
    rt.start_follow(spec).await.map_err(|e| ctx.error(e))?;
    ctx.ok(json!({"acknowledged": true}))
}

/// Resolves `{index}` of stop/sync_stats against follower indices: wildcards match followers only,
/// a concrete name must be a follower (or its absence is ES's 404).
fn resolve_followers(rt: &Runtime, expr: &str) -> Result<Vec<String>, EsError> {
    let meta = rt.node.metadata();
    let state = SyncState::of(&meta);
    let mut out = Vec::new();
    for part in expr.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if part == "_all" || is_wildcard(part) {
            let pattern = if part == "_all" { "*" } else { part };
            out.extend(state.follows.keys().filter(|k| wildcard_match(pattern, k)).cloned());
        } else if state.follows.contains_key(part) {
            out.push(part.to_string());
        } else if meta.indices.contains_key(part) {
            return Err(EsError::illegal_argument(format!("index [{part}] is not a remote sync follower")));
        } else {
            return Err(EsError::index_not_found(part));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// `PUT {index}/stop_remote_sync`
pub async fn stop(Extension(rt): Extension<Arc<Runtime>>, ctx: Ctx, Path(index): Path<String>) -> ApiResult<Response> {
    ctx.params.check(&["master_timeout", "timeout"])?;
    let names = resolve_followers(&rt, &index).map_err(|e| ctx.error(e))?;
    crate::follower::stop(&rt, &names).await.map_err(|e| ctx.error(e))?;
    ctx.ok(json!({"acknowledged": true}))
}

/// `GET {index}/sync_stats`
pub async fn sync_stats(
    Extension(rt): Extension<Arc<Runtime>>,
    ctx: Ctx,
    Path(index): Path<String>,
) -> ApiResult<Response> {
    ctx.params.check(&[])?;
    let names = resolve_followers(&rt, &index).map_err(|e| ctx.error(e))?;
    let meta = rt.node.metadata();
    let now = now_millis();
    let mut indices = Map::new();
    for name in names {
        let stats = rt.index_stats(&name);
        let shards_n = meta.indices.get(&name).map(|im| im.number_of_shards()).unwrap_or(0);
        let mut shards = Map::new();
        for shard in 0..shards_n {
            // This node holds the one started copy of each shard: the primary.
            shards.insert(shard.to_string(), json!([stats.shard(shard).to_json(true, now)]));
        }
        let state = SyncState::of(&meta);
        let mut entry = json!({"shards": shards});
        if let Some(spec) = state.follows.get(&name) {
            entry["remote_cluster"] = json!(spec.remote_cluster);
            entry["remote_index"] = json!(spec.remote_index);
        }
        indices.insert(name, entry);
    }
    ctx.ok(json!({"indices": indices}))
}

/// `PUT auto_sync/pattern/{name}`
pub async fn put_pattern(
    Extension(rt): Extension<Arc<Runtime>>,
    ctx: Ctx,
    Path(name): Path<String>,
    body: EsBody,
) -> ApiResult<Response> {
    ctx.params.check(&["master_timeout", "timeout"])?;
    let body = body.required_json().map_err(|e| ctx.error(e))?;
    let spec = parse_pattern(&name, &body).map_err(|e| ctx.error(e))?;
    rt.node.catch_up_metadata().await.map_err(|e| ctx.error(e))?;
    rt.client(&spec.remote_cluster).map_err(|e| ctx.error(e))?;
    let n = name.clone();
    rt.node
        .update_custom(CUSTOM_KEY, move |v| {
            let mut st = SyncState::from_value(v);
            if st.patterns.contains_key(&n) {
                // The seed: a pattern cannot be modified once started; delete and create it again.
                return Err(EsError::new(
                    ErrorKind::ResourceAlreadyExists,
                    format!("auto sync pattern [{n}] already exists; delete it to replace it"),
                ));
            }
            st.patterns.insert(n, spec);
            *v = st.to_value();
            Ok(())
        })
        .await
        .map_err(|e| ctx.error(e))?;
    rt.kick.notify_one();
    ctx.ok(json!({"acknowledged": true}))
}

/// `GET auto_sync/pattern` and `GET auto_sync/pattern/{name}`
pub async fn get_patterns(
    Extension(rt): Extension<Arc<Runtime>>,
    ctx: Ctx,
    name: Option<Path<String>>,
) -> ApiResult<Response> {
    ctx.params.check(&[])?;
    let state = SyncState::of(&rt.node.metadata());
    let patterns: Vec<Value> = match name {
        Some(Path(name)) => {
            let p = state.patterns.get(&name).ok_or_else(|| {
                ctx.error(EsError::new(ErrorKind::ResourceNotFound, format!("auto sync pattern [{name}] is missing")))
            })?;
            vec![p.to_json(&name)]
        }
        None => state.patterns.iter().map(|(n, p)| p.to_json(n)).collect(),
    };
    ctx.ok(json!({ "patterns": patterns }))
}

/// `DELETE auto_sync/pattern/{name}`: stops new tasks only; indices already syncing go on.
pub async fn delete_pattern(
    Extension(rt): Extension<Arc<Runtime>>,
    ctx: Ctx,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    ctx.params.check(&["master_timeout", "timeout"])?;
    rt.node
        .update_custom(CUSTOM_KEY, |v| {
            let mut st = SyncState::from_value(v);
            if st.patterns.remove(&name).is_none() {
                return Err(EsError::new(
                    ErrorKind::ResourceNotFound,
                    format!("auto sync pattern [{name}] is missing"),
                ));
            }
            *v = st.to_value();
            Ok(())
        })
        .await
        .map_err(|e| ctx.error(e))?;
    ctx.ok(json!({"acknowledged": true}))
}

/// `GET auto_sync/stats`
pub async fn auto_sync_stats(Extension(rt): Extension<Arc<Runtime>>, ctx: Ctx) -> ApiResult<Response> {
    ctx.params.check(&[])?;
    ctx.ok(rt.auto_stats.to_json())
}

/// `GET _remote/rest/info`: the seed's `connected` per remote, checked now, plus what helps an
/// operator: seeds, the leader's cluster name and version, last contact and last error.
pub async fn remote_info(Extension(rt): Extension<Arc<Runtime>>, ctx: Ctx) -> ApiResult<Response> {
    ctx.params.check(&[])?;
    rt.node.catch_up_metadata().await.map_err(|e| ctx.error(e))?;
    let configured = remotes(&rt.node.metadata());
    let mut out = Map::new();
    for (name, config) in configured {
        let mut entry = Map::new();
        let ping = match rt.client(&name) {
            Ok(c) => tokio::time::timeout(Duration::from_secs(5), c.ping()).await.ok(),
            Err(_) => None,
        };
        match ping {
            Some(Ok(info)) => {
                rt.note_remote_ok(&name);
                entry.insert("connected".into(), json!(true));
                entry.insert("cluster_name".into(), info.get("cluster_name").cloned().unwrap_or(Value::Null));
                entry.insert("leader_version".into(), info.pointer("/version/number").cloned().unwrap_or(Value::Null));
            }
            Some(Err(e)) => {
                rt.note_remote_error(&name, &e.to_string());
                entry.insert("connected".into(), json!(false));
            }
            None => {
                rt.note_remote_error(&name, "no answer within 5s");
                entry.insert("connected".into(), json!(false));
            }
        }
        let status = rt.remote_status(&name);
        entry.insert("seeds".into(), json!(config.seeds));
        entry.insert("last_contact_millis".into(), json!(status.last_contact));
        entry.insert("last_error".into(), json!(status.last_error));
        entry.insert("last_error_millis".into(), json!(status.last_error_at));
        out.insert(name, Value::Object(entry));
    }
    ctx.ok(Value::Object(out))
}

/// One poll of every auto-sync pattern: list the leader's matching indices, start those not started
/// before.
pub(crate) async fn poll_patterns(rt: &Arc<Runtime>, state: &SyncState) {
    for (name, pattern) in &state.patterns {
        let client = match rt.client(&pattern.remote_cluster) {
            Ok(c) => c,
            Err(e) => {
                record_remote_failure(rt, &e.reason);
                continue;
            }
        };
        let path = format!(
            "/_cat/indices/{}?format=json&h=index&expand_wildcards=open,closed",
            seg(&pattern.remote_index_patterns.join(","))
        );
        let listed = match client.json(Method::GET, &path, None).await {
            Ok(v) => v,
            Err(e) => {
                rt.note_remote_error(&pattern.remote_cluster, &e.to_string());
                record_remote_failure(rt, &e.to_string());
                continue;
            }
        };
        rt.note_remote_ok(&pattern.remote_cluster);
        let mut leader_indices: Vec<String> = listed
            .as_array()
            .map(|a| a.iter().filter_map(|r| r.get("index").and_then(Value::as_str).map(String::from)).collect())
            .unwrap_or_default();
        leader_indices.retain(|i| !i.starts_with('.') && pattern.matches(i));
        leader_indices.sort();
        if !pattern.initialized {
            let existing = leader_indices.clone();
            let apply = pattern.apply_exist_index;
            let n = name.clone();
            let _ = rt
                .node
                .update_custom(CUSTOM_KEY, move |v| {
                    let mut st = SyncState::from_value(v);
                    if let Some(p) = st.patterns.get_mut(&n) {
                        if !apply {
                            p.skip.extend(existing);
                        }
                        p.initialized = true;
                    }
                    *v = st.to_value();
                    Ok(())
                })
                .await;
            if !apply {
                continue;
            }
        }
        for leader_index in leader_indices {
            if pattern.skip.contains(&leader_index) {
                continue;
            }
            let spec = FollowSpec {
                remote_cluster: pattern.remote_cluster.clone(),
                remote_index: leader_index.clone(),
                local_index: pattern.local_name(&leader_index),
                options: pattern.options.clone(),
                pattern: Some(name.clone()),
            };
            match rt.start_follow(spec).await {
                Ok(()) => {
                    rt.auto_stats.success_count.fetch_add(1, Ordering::Relaxed);
                    let (n, li) = (name.clone(), leader_index.clone());
                    let _ = rt
                        .node
                        .update_custom(CUSTOM_KEY, move |v| {
                            let mut st = SyncState::from_value(v);
                            if let Some(p) = st.patterns.get_mut(&n) {
                                p.skip.insert(li);
                            }
                            *v = st.to_value();
                            Ok(())
                        })
                        .await;
                }
                Err(e) => {
                    tracing::warn!(pattern = %name, index = %leader_index, error = %e.reason, "auto sync could not start");
                    rt.auto_stats.failed_count.fetch_add(1, Ordering::Relaxed);
                    *rt.auto_stats.last_fail_exception.lock() = Some(e.reason.clone());
                }
            }
        }
    }
}

fn record_remote_failure(rt: &Runtime, reason: &str) {
    rt.auto_stats.failed_remote_cluster_state_requests_count.fetch_add(1, Ordering::Relaxed);
    *rt.auto_stats.last_fail_remote_cluster_requests_exception.lock() = Some(reason.to_string());
}
