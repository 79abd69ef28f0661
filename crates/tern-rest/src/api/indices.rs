//! `indices.*` APIs: create, delete, get, exists, mappings, settings, refresh, flush, open, close,
//! aliases and composable index templates.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value, json};
use tern_cluster::IndicesOptions;
use tern_common::{ErrorKind, EsError};
use tern_node::Node;
use tern_node::indices::ShardsSummary;

use crate::api::search::shards_json;
use crate::context::{Ctx, EsBody};
use crate::error::ApiResult;
use crate::params::split_list;

const MASTER: &[&str] = &["timeout", "master_timeout"];

fn allowed<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v: Vec<&str> = MASTER.to_vec();
    v.extend_from_slice(extra);
    v
}

const INDICES_OPTS: &[&str] = &["ignore_unavailable", "allow_no_indices", "expand_wildcards"];

fn expr(index: &str) -> Vec<String> {
    split_list(index)
}

/// `PUT /{index}`
pub async fn create(
    State(node): State<Arc<Node>>,
    Path(index): Path<String>,
    ctx: Ctx,
    body: EsBody,
) -> ApiResult<Response> {
    ctx.params.check(&allowed(&["wait_for_active_shards", "include_type_name"]))?;
    let body = body.json()?.unwrap_or(Value::Null);
    if let Some(obj) = body.as_object() {
        for k in obj.keys() {
            if !matches!(k.as_str(), "settings" | "mappings" | "aliases") {
                return Err(ctx.error(EsError::parsing(format!("unknown key [{k}] for create index"))));
            }
        }
    } else if !body.is_null() {
        return Err(ctx.error(EsError::parsing("request body must be an object")));
    }
    let name = node.create_index(&index, &body).await.map_err(|e| ctx.error(e))?;
    ctx.ok(json!({"acknowledged": true, "shards_acknowledged": true, "index": name}))
}

/// `DELETE /{index}`
pub async fn delete(State(node): State<Arc<Node>>, Path(index): Path<String>, ctx: Ctx) -> ApiResult<Response> {
    ctx.params.check(&allowed(INDICES_OPTS))?;
    let opts = ctx.params.indices_options(IndicesOptions::delete_index_default())?;
    node.delete_indices(&expr(&index), &opts).await.map_err(|e| ctx.error(e))?;
    ctx.ok(json!({"acknowledged": true}))
}

/// `GET|HEAD /{index}`
pub async fn get(State(node): State<Arc<Node>>, Path(index): Path<String>, ctx: Ctx) -> ApiResult<Response> {
    ctx.params.check(&allowed(&[
        "ignore_unavailable",
        "allow_no_indices",
        "expand_wildcards",
        "flat_settings",
        "include_defaults",
        "local",
        "features",
        "include_type_name",
    ]))?;
    let head = ctx.method == Method::HEAD;
    let opts = ctx.params.indices_options(IndicesOptions::strict_expand_open())?;
    let meta = node.metadata();
    let names = match meta.resolve_indices(&expr(&index), &opts) {
        Ok(n) => n,
        Err(e) if head => {
            let _ = e;
            return ctx.status(StatusCode::NOT_FOUND);
        }
        Err(e) => return Err(ctx.error(EsError::from(e))),
    };
    if head {
        return ctx.status(if names.is_empty() { StatusCode::NOT_FOUND } else { StatusCode::OK });
    }
    let flat = ctx.params.bool("flat_settings", false)?;
    let defaults = ctx.params.bool("include_defaults", false)?;
    let mut out = Map::new();
    for n in names {
        if let Some(im) = meta.indices.get(&n) {
            out.insert(n.clone(), im.to_get_index_json(flat, defaults));
        }
    }
    ctx.ok(Value::Object(out))
}

/// `GET /_mapping`, `/{index}/_mapping`
pub async fn get_mapping(State(node): State<Arc<Node>>, index: Option<Path<String>>, ctx: Ctx) -> ApiResult<Response> {
    ctx.params.check(&allowed(&[
        "ignore_unavailable",
        "allow_no_indices",
        "expand_wildcards",
        "local",
        "include_type_name",
    ]))?;
    let opts = ctx.params.indices_options(IndicesOptions::strict_expand_open())?;
    let target = index.map(|Path(i)| expr(&i)).unwrap_or_else(|| vec!["_all".into()]);
    let meta = node.metadata();
    let names = meta.resolve_indices(&target, &opts).map_err(|e| ctx.error(EsError::from(e)))?;
    let mut out = Map::new();
    for n in names {
        if let Some(im) = meta.indices.get(&n) {
            let mapping = if im.mappings.is_null() { json!({}) } else { im.mappings.clone() };
            out.insert(n.clone(), json!({"mappings": mapping}));
        }
    }
    ctx.ok(Value::Object(out))
}

/// `PUT|POST /{index}/_mapping`
pub async fn put_mapping(
    State(node): State<Arc<Node>>,
    Path(index): Path<String>,
    ctx: Ctx,
    body: EsBody,
) -> ApiResult<Response> {
    ctx.params.check(&allowed(&[
        "ignore_unavailable",
        "allow_no_indices",
        "expand_wildcards",
        "write_index_only",
        "include_type_name",
    ]))?;
    let opts = ctx.params.indices_options(IndicesOptions::strict_expand_open_forbid_closed())?;
    let body = body.required_json()?;
    node.put_mapping(&expr(&index), &opts, &body).await.map_err(|e| ctx.error(e))?;
    ctx.ok(json!({"acknowledged": true}))
}

/// `GET /_settings`, `/{index}/_settings`, `/{index}/_settings/{name}`, `/_settings/{name}`
pub async fn get_settings(
    State(node): State<Arc<Node>>,
    path: Option<Path<Vec<(String, String)>>>,
    ctx: Ctx,
) -> ApiResult<Response> {
    ctx.params.check(&allowed(&[
        "ignore_unavailable",
        "allow_no_indices",
        "expand_wildcards",
        "flat_settings",
        "include_defaults",
        "local",
    ]))?;
    let mut index = None;
    let mut name = None;
    for (k, v) in path.map(|Path(p)| p).unwrap_or_default() {
        match k.as_str() {
            "index" => index = Some(v),
            "name" => name = Some(v),
            _ => {}
        }
    }
    let opts = ctx.params.indices_options(IndicesOptions::strict_expand_open())?;
    let target = index.map(|i| expr(&i)).unwrap_or_else(|| vec!["_all".into()]);
    let patterns: Option<Vec<String>> = name.map(|n| expr(&n)).filter(|p| !p.iter().any(|x| x == "_all"));
    let flat = ctx.params.bool("flat_settings", false)?;
    let defaults = ctx.params.bool("include_defaults", false)?;
    let meta = node.metadata();
    let names = meta.resolve_indices(&target, &opts).map_err(|e| ctx.error(EsError::from(e)))?;
    let mut out = Map::new();
    for n in names {
        let Some(im) = meta.indices.get(&n) else {
            continue;
        };
        let settings = match &patterns {
            Some(p) => im.settings.filtered(p),
            None => im.settings.clone(),
        };
        let rendered = settings.render(flat, defaults);
        if patterns.is_some()
            && rendered.get("settings").and_then(Value::as_object).is_some_and(|m| m.is_empty())
            && !defaults
        {
            continue;
        }
        out.insert(n.clone(), rendered);
    }
    ctx.ok(Value::Object(out))
}

/// `PUT /_settings`, `/{index}/_settings`
pub async fn put_settings(
    State(node): State<Arc<Node>>,
    index: Option<Path<String>>,
    ctx: Ctx,
    body: EsBody,
) -> ApiResult<Response> {
    ctx.params.check(&allowed(&[
        "ignore_unavailable",
        "allow_no_indices",
        "expand_wildcards",
        "flat_settings",
        "preserve_existing",
        "reopen",
    ]))?;
    let opts = ctx.params.indices_options(IndicesOptions::update_default())?;
    let target = index.map(|Path(i)| expr(&i)).unwrap_or_else(|| vec!["_all".into()]);
    let body = body.required_json()?;
    let preserve = ctx.params.bool("preserve_existing", false)?;
    node.update_settings(&target, &opts, &body, preserve).await.map_err(|e| ctx.error(e))?;
    ctx.ok(json!({"acknowledged": true}))
}

fn summary_json(s: &ShardsSummary) -> Value {
    let failures: Vec<(String, u32, EsError)> = s.failures.clone();
    shards_json(s.total, s.successful, &failures)
}

/// `POST|GET /_refresh`, `/{index}/_refresh`
pub async fn refresh(State(node): State<Arc<Node>>, index: Option<Path<String>>, ctx: Ctx) -> ApiResult<Response> {
    ctx.params.check(INDICES_OPTS)?;
    let opts = ctx.params.indices_options(IndicesOptions::strict_expand_open())?;
    let target = index.map(|Path(i)| expr(&i)).unwrap_or_else(|| vec!["_all".into()]);
    let s = node.refresh(&target, &opts).await.map_err(|e| ctx.error(e))?;
    let mut body = summary_json(&s);
    body.as_object_mut().map(|m| m.remove("skipped"));
    ctx.ok(json!({"_shards": body}))
}

/// `POST|GET /_flush`, `/{index}/_flush`
pub async fn flush(State(node): State<Arc<Node>>, index: Option<Path<String>>, ctx: Ctx) -> ApiResult<Response> {
    ctx.params.check(&["ignore_unavailable", "allow_no_indices", "expand_wildcards", "force", "wait_if_ongoing"])?;
    let opts = ctx.params.indices_options(IndicesOptions::strict_expand_open())?;
    let target = index.map(|Path(i)| expr(&i)).unwrap_or_else(|| vec!["_all".into()]);
    let s = node.flush(&target, &opts).await.map_err(|e| ctx.error(e))?;
    let mut body = summary_json(&s);
    body.as_object_mut().map(|m| m.remove("skipped"));
    ctx.ok(json!({"_shards": body}))
}

/// `POST /{index}/_open`
pub async fn open(State(node): State<Arc<Node>>, Path(index): Path<String>, ctx: Ctx) -> ApiResult<Response> {
    ctx.params.check(&allowed(&[
        "ignore_unavailable",
        "allow_no_indices",
        "expand_wildcards",
        "wait_for_active_shards",
    ]))?;
    let opts = ctx.params.indices_options(IndicesOptions::open_index_default())?;
    node.open_indices(&expr(&index), &opts).await.map_err(|e| ctx.error(e))?;
    ctx.ok(json!({"acknowledged": true, "shards_acknowledged": true}))
}

/// `POST /{index}/_close`
pub async fn close(State(node): State<Arc<Node>>, Path(index): Path<String>, ctx: Ctx) -> ApiResult<Response> {
    ctx.params.check(&allowed(&[
        "ignore_unavailable",
        "allow_no_indices",
        "expand_wildcards",
        "wait_for_active_shards",
    ]))?;
    let opts = ctx.params.indices_options(IndicesOptions::strict_expand_open())?;
    let names = node.close_indices(&expr(&index), &opts).await.map_err(|e| ctx.error(e))?;
    let indices: Map<String, Value> = names.into_iter().map(|n| (n, json!({"closed": true}))).collect();
    ctx.ok(json!({"acknowledged": true, "shards_acknowledged": true, "indices": indices}))
}

/// `POST /_aliases`
pub async fn update_aliases(State(node): State<Arc<Node>>, ctx: Ctx, body: EsBody) -> ApiResult<Response> {
    ctx.params.check(MASTER)?;
    let body = body.required_json()?;
    node.update_aliases(&body).await.map_err(|e| ctx.error(e))?;
    ctx.ok(json!({"acknowledged": true}))
}

/// `PUT|POST /{index}/_alias/{name}` (and `_aliases`)
pub async fn put_alias(
    State(node): State<Arc<Node>>,
    Path((index, name)): Path<(String, String)>,
    ctx: Ctx,
    body: EsBody,
) -> ApiResult<Response> {
    ctx.params.check(MASTER)?;
    let mut add = body.json()?.unwrap_or_else(|| json!({}));
    let Some(obj) = add.as_object_mut() else {
        return Err(ctx.error(EsError::parsing("alias body must be an object")));
    };
    obj.insert("index".into(), json!(expr(&index)));
    obj.insert("alias".into(), json!(name));
    node.update_aliases(&json!({"actions": [{"add": add}]})).await.map_err(|e| ctx.error(e))?;
    ctx.ok(json!({"acknowledged": true}))
}

/// `DELETE /{index}/_alias/{name}` (and `_aliases`)
pub async fn delete_alias(
    State(node): State<Arc<Node>>,
    Path((index, name)): Path<(String, String)>,
    ctx: Ctx,
) -> ApiResult<Response> {
    ctx.params.check(MASTER)?;
    // ES answers 404 only when none of the indices holds a matching alias.
    let meta = node.metadata();
    let indices = meta
        .resolve_indices(&expr(&index), &IndicesOptions::strict_expand_open_closed())
        .map_err(|e| ctx.error(EsError::from(e)))?;
    let lookup = meta.find_aliases(&indices, &expr(&name));
    if lookup.by_index.values().all(|a| a.is_empty()) {
        return Err(ctx.error(
            EsError::new(ErrorKind::AliasesNotFound, format!("aliases [{name}] missing"))
                .with("resource.type", "aliases")
                .with("resource.id", name.clone()),
        ));
    }
    let action = json!({"actions": [{"remove": {"index": expr(&index), "aliases": expr(&name), "must_exist": false}}]});
    node.update_aliases(&action).await.map_err(|e| ctx.error(e))?;
    ctx.ok(json!({"acknowledged": true}))
}

/// `GET|HEAD /_alias`, `/_alias/{name}`, `/{index}/_alias`, `/{index}/_alias/{name}`
pub async fn get_alias(
    State(node): State<Arc<Node>>,
    path: Option<Path<Vec<(String, String)>>>,
    ctx: Ctx,
) -> ApiResult<Response> {
    ctx.params.check(&["ignore_unavailable", "allow_no_indices", "expand_wildcards", "local"])?;
    let mut index = None;
    let mut name = None;
    for (k, v) in path.map(|Path(p)| p).unwrap_or_default() {
        match k.as_str() {
            "index" => index = Some(v),
            "name" => name = Some(v),
            _ => {}
        }
    }
    let head = ctx.method == Method::HEAD;
    let opts = ctx.params.indices_options(IndicesOptions::strict_expand_open())?;
    let meta = node.metadata();
    let target = index.clone().map(|i| expr(&i)).unwrap_or_else(|| vec!["_all".into()]);
    let indices = match meta.resolve_indices(&target, &opts) {
        Ok(i) => i,
        Err(_) if head => return ctx.status(StatusCode::NOT_FOUND),
        Err(e) => return Err(ctx.error(EsError::from(e))),
    };
    let aliases = name.map(|n| expr(&n)).unwrap_or_default();
    let lookup = meta.find_aliases(&indices, &aliases);
    let mut out = Map::new();
    let mut any = false;
    for (idx, found) in &lookup.by_index {
        if !aliases.is_empty() && found.is_empty() {
            continue;
        }
        any |= !found.is_empty();
        let a: Map<String, Value> = found.iter().map(|(k, v)| (k.clone(), v.to_json())).collect();
        out.insert(idx.clone(), json!({"aliases": a}));
    }
    if head {
        let ok = if aliases.is_empty() { any } else { lookup.missing.is_empty() && any };
        return ctx.status(if ok { StatusCode::OK } else { StatusCode::NOT_FOUND });
    }
    if !lookup.missing.is_empty() {
        let mut missing = lookup.missing.clone();
        missing.sort();
        let reason = if missing.len() == 1 {
            format!("alias [{}] missing", missing[0])
        } else {
            format!("aliases [{}] missing", missing.join(","))
        };
        let mut body = Value::Object(out);
        body["error"] = Value::from(reason);
        body["status"] = Value::from(404);
        return ctx.json(StatusCode::NOT_FOUND, body);
    }
    ctx.ok(Value::Object(out))
}

/// `PUT|POST /_index_template/{name}`
pub async fn put_index_template(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
    ctx: Ctx,
    body: EsBody,
) -> ApiResult<Response> {
    ctx.params.check(&allowed(&["create", "cause"]))?;
    let create = ctx.params.bool("create", false)?;
    let body = body.required_json()?;
    node.put_index_template(&name, &body, create).await.map_err(|e| ctx.error(e))?;
    ctx.ok(json!({"acknowledged": true}))
}

/// `GET|HEAD /_index_template`, `/_index_template/{name}`
pub async fn get_index_template(
    State(node): State<Arc<Node>>,
    name: Option<Path<String>>,
    ctx: Ctx,
) -> ApiResult<Response> {
    ctx.params.check(&allowed(&["local", "flat_settings", "include_defaults"]))?;
    let meta = node.metadata();
    let name = name.map(|Path(n)| n);
    let found = meta.get_index_templates(name.as_deref());
    templates_reply(&ctx, found.map(|f| f.into_iter().map(|(n, t)| (n, t.to_json())).collect()), "index_template")
}

/// `DELETE /_index_template/{name}`
pub async fn delete_index_template(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
    ctx: Ctx,
) -> ApiResult<Response> {
    ctx.params.check(MASTER)?;
    node.delete_index_template(&name).await.map_err(|e| ctx.error(e))?;
    ctx.ok(json!({"acknowledged": true}))
}

/// Legacy `_template` answers ES 8's own deprecation path with a clear error: tern implements only
/// composable templates.
pub async fn legacy_template(ctx: Ctx) -> ApiResult<Response> {
    Err(ctx.error(EsError::new(
        ErrorKind::IllegalArgument,
        "legacy index templates (_template) are not supported by tern; use composable templates (_index_template)",
    )))
}

/// `PUT|POST /_component_template/{name}`
pub async fn put_component_template(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
    ctx: Ctx,
    body: EsBody,
) -> ApiResult<Response> {
    ctx.params.check(&allowed(&["create"]))?;
    let create = ctx.params.bool("create", false)?;
    let body = body.required_json()?;
    node.put_component_template(&name, &body, create).await.map_err(|e| ctx.error(e))?;
    ctx.ok(json!({"acknowledged": true}))
}

/// `GET|HEAD /_component_template`, `/_component_template/{name}`
pub async fn get_component_template(
    State(node): State<Arc<Node>>,
    name: Option<Path<String>>,
    ctx: Ctx,
) -> ApiResult<Response> {
    ctx.params.check(&allowed(&["local", "flat_settings", "include_defaults"]))?;
    let meta = node.metadata();
    let name = name.map(|Path(n)| n);
    let found = meta.get_component_templates(name.as_deref());
    templates_reply(&ctx, found.map(|f| f.into_iter().map(|(n, t)| (n, t.to_json())).collect()), "component_template")
}

/// `DELETE /_component_template/{name}`
pub async fn delete_component_template(
    State(node): State<Arc<Node>>,
    Path(name): Path<String>,
    ctx: Ctx,
) -> ApiResult<Response> {
    ctx.params.check(MASTER)?;
    node.delete_component_template(&name).await.map_err(|e| ctx.error(e))?;
    ctx.ok(json!({"acknowledged": true}))
}

/// The GET/HEAD answer of the template APIs: `{"<kind>s":[{"name":..,"<kind>":..}]}`, or the status.
fn templates_reply(
    ctx: &Ctx,
    found: Result<Vec<(&str, Value)>, tern_cluster::ClusterError>,
    kind: &str,
) -> ApiResult<Response> {
    if ctx.method == Method::HEAD {
        let ok = found.map(|f| !f.is_empty()).unwrap_or(false);
        return ctx.status(if ok { StatusCode::OK } else { StatusCode::NOT_FOUND });
    }
    let found = found.map_err(|e| ctx.error(EsError::from(e)))?;
    let list: Vec<Value> = found.into_iter().map(|(n, t)| json!({"name": n, kind: t})).collect();
    ctx.ok(json!({ format!("{kind}s"): list }))
}
