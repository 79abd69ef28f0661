//! `_bulk`: NDJSON parsing and per-item results.
//!
//! Action lines are deserialized into a small struct; source lines are never parsed here, only sliced
//! out of the body and handed to the shard, which parses each document once, against the mapping,
//! when it applies the operation.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tern_common::{ErrorKind, EsError};
use tern_node::Node;
use tern_node::documents::{RefreshPolicy, WriteKind, WriteRequest};
use tern_shard::ops::{VersionType, WriteCondition};

use crate::api::document::{shards_json, update_spec, validate_condition, write_status};
use crate::context::{Ctx, EsBody};
use crate::error::ApiResult;
use crate::source::SourceFilter;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ActionMeta {
    #[serde(rename = "_index")]
    index: Option<String>,
    #[serde(rename = "_id")]
    id: Option<IdValue>,
    routing: Option<IdValue>,
    if_seq_no: Option<i64>,
    if_primary_term: Option<i64>,
    version: Option<i64>,
    version_type: Option<String>,
    retry_on_conflict: Option<i64>,
    require_alias: Option<bool>,
    pipeline: Option<String>,
    dynamic_templates: Option<Value>,
    #[serde(rename = "_source")]
    source: Option<Value>,
    op_type: Option<String>,
    /// Mapping types are gone in ES 8; `_doc`, the only name they may still carry, is accepted.
    #[serde(rename = "_type")]
    mapping_type: Option<String>,
}

/// ES accepts ids and routing as strings or numbers.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum IdValue {
    S(String),
    N(serde_json::Number),
}

impl IdValue {
    fn into_string(self) -> String {
        match self {
            IdValue::S(s) => s,
            IdValue::N(n) => n.to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Action {
    Index,
    Create,
    Update,
    Delete,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Index => "index",
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }
}

/// One parsed bulk item: either a request or an error that stays in its slot.
struct Item {
    action: Action,
    request: Result<WriteRequest, (String, Option<String>, EsError)>,
    /// `_source` asked for in an update's result (`get` in the item).
    source: Option<SourceFilter>,
    /// `retry_on_conflict` of an update.
    retries: u32,
}

/// The Jackson token name ES reports for a JSON value.
fn token_name(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "START_ARRAY",
        Value::Object(_) => "START_OBJECT",
        Value::Number(_) => "VALUE_NUMBER",
        Value::Bool(_) => "VALUE_BOOLEAN",
        Value::Null => "VALUE_NULL",
        Value::String(_) => "VALUE_STRING",
    }
}

fn malformed(line: usize, msg: &str) -> EsError {
    EsError::illegal_argument(format!("Malformed action/metadata line [{line}], {msg}"))
}

fn split_lines(body: &[u8]) -> Vec<(usize, &[u8])> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut n = 0;
    for (i, b) in body.iter().enumerate() {
        if *b == b'\n' {
            n += 1;
            out.push((n, &body[start..i]));
            start = i + 1;
        }
    }
    if start < body.len() {
        n += 1;
        out.push((n, &body[start..]));
    }
    out
}

fn parse(body: &[u8], default_index: Option<&str>, ctx: &Ctx) -> Result<Vec<Item>, EsError> {
    let default_routing = ctx.params.get("routing").map(String::from);
    let default_require_alias =
        if ctx.params.has("require_alias") { Some(ctx.params.bool("require_alias", false)?) } else { None };
    let default_source = ctx.params.get("_source").map(String::from);
    let _ = default_source;
    let lines = split_lines(body);
    let mut items = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let (line_no, line) = lines[i];
        i += 1;
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        let v: Value = serde_json::from_slice(line).map_err(|e| {
            EsError::new(ErrorKind::XContentParse, format!("[{line_no}:{}] Unexpected character: {e}", e.column()))
        })?;
        let obj = match v {
            Value::Object(obj) => obj,
            other => {
                let found = token_name(&other);
                return Err(malformed(line_no, &format!("expected START_OBJECT but found [{found}]")));
            }
        };
        let mut it = obj.into_iter();
        let Some((name, meta)) = it.next() else {
            return Err(malformed(line_no, "expected FIELD_NAME but found [END_OBJECT]"));
        };
        if it.next().is_some() {
            return Err(malformed(line_no, "expected END_OBJECT but found [FIELD_NAME]"));
        }
        let action = match name.as_str() {
            "index" => Action::Index,
            "create" => Action::Create,
            "update" => Action::Update,
            "delete" => Action::Delete,
            other => {
                return Err(malformed(
                    line_no,
                    &format!("expected field [create], [delete], [index] or [update] but found [{other}]"),
                ));
            }
        };
        if !meta.is_object() {
            let found = token_name(&meta);
            return Err(malformed(line_no, &format!("expected START_OBJECT or END_OBJECT but found [{found}]")));
        }
        let meta: ActionMeta = serde_json::from_value(meta).map_err(|e| {
            let field = e.to_string();
            let field = field.split('`').nth(1).unwrap_or("?").to_string();
            EsError::illegal_argument(format!(
                "Action/metadata line [{line_no}] contains an unknown parameter [{field}]"
            ))
        })?;
        let source = if action == Action::Delete {
            None
        } else {
            let Some(&(_, src)) = lines.get(i) else {
                return Err(EsError::illegal_argument("The bulk request must be terminated by a newline [\\n]"));
            };
            i += 1;
            Some(src)
        };
        items.push(build_item(action, meta, source, default_index, default_routing.as_deref(), default_require_alias));
    }
    Ok(items)
}

fn build_item(
    action: Action,
    meta: ActionMeta,
    source: Option<&[u8]>,
    default_index: Option<&str>,
    default_routing: Option<&str>,
    default_require_alias: Option<bool>,
) -> Item {
    let id = meta.id.map(IdValue::into_string);
    let index = meta.index.clone().or(default_index.map(String::from));
    let err_slot = |e: EsError| Item {
        action,
        request: Err((index.clone().unwrap_or_default(), id.clone(), e)),
        source: None,
        retries: 0,
    };
    if meta.mapping_type.as_deref().is_some_and(|t| t != "_doc") {
        return err_slot(EsError::illegal_argument("Action/metadata line contains an unknown parameter [_type]"));
    }
    if meta.dynamic_templates.as_ref().is_some_and(|d| d.as_object().is_none_or(|m| !m.is_empty())) {
        return err_slot(EsError::illegal_argument("[dynamic_templates] in bulk requests are not supported by tern"));
    }
    if id.as_deref() == Some("") {
        return err_slot(EsError::illegal_argument("if _id is specified it must not be empty"));
    }
    let Some(index) = index.clone() else {
        return err_slot(EsError::validation(&["index is missing".into()]));
    };
    if let Err(e) = tern_cluster::validate_index_name(&index) {
        return err_slot(EsError::from(e));
    }
    if meta.pipeline.as_deref().is_some_and(|p| p != "_none") {
        // tern has no ingest pipelines, so no pipeline id exists.
        let p = meta.pipeline.clone().unwrap_or_default();
        return err_slot(EsError::illegal_argument(format!("pipeline with id [{p}] does not exist")));
    }
    let version_type = match meta.version_type.as_deref() {
        None | Some("internal") => VersionType::Internal,
        Some("external") => VersionType::External,
        Some("external_gte") => VersionType::ExternalGte,
        Some(other) => {
            return err_slot(EsError::illegal_argument(format!("No version type match [{other}]")));
        }
    };
    let cond = WriteCondition {
        if_seq_no: meta.if_seq_no,
        if_primary_term: meta.if_primary_term,
        version: meta.version,
        version_type,
    };
    if let Err(e) = validate_condition(&cond) {
        return err_slot(e);
    }
    let routing = meta.routing.map(IdValue::into_string).or(default_routing.map(String::from));
    let mut update_source = None;
    let kind = match action {
        Action::Index | Action::Create => {
            // The shard parses the source once, against the mapping; malformed documents fail there
            // with document_parsing_exception in their own slot.
            let src = source.unwrap_or_default();
            let create = action == Action::Create || meta.op_type.as_deref() == Some("create");
            WriteKind::Index { source: src.to_vec(), create }
        }
        Action::Delete => WriteKind::Delete,
        Action::Update => {
            let parsed = serde_json::from_slice::<Value>(source.unwrap_or_default())
                .map_err(|e| EsError::new(ErrorKind::XContentParse, format!("[1:1] failed to parse: {e}")))
                .and_then(|v| update_spec(&v));
            match parsed.and_then(|(spec, filter)| {
                crate::api::document::validate_upsert_condition(&spec, &cond)?;
                Ok((spec, filter))
            }) {
                Ok((spec, filter)) => {
                    update_source = filter.or_else(|| meta.source.as_ref().map(SourceFilter::from_value));
                    WriteKind::Update(spec)
                }
                Err(e) => return err_slot(e),
            }
        }
    };
    if id.is_none() && matches!(action, Action::Update | Action::Delete) {
        return err_slot(EsError::validation(&["id is missing".into()]));
    }
    let require_alias = meta.require_alias.or(default_require_alias).unwrap_or(false);
    Item {
        action,
        request: Ok(WriteRequest { target: index, id, routing, kind, cond, require_alias }),
        source: update_source.filter(|f| f.enabled),
        retries: meta.retry_on_conflict.unwrap_or(0).clamp(0, 100) as u32,
    }
}

/// `POST|PUT /_bulk` and `/{index}/_bulk`
pub async fn bulk(
    State(node): State<Arc<Node>>,
    index: Option<Path<String>>,
    ctx: Ctx,
    body: EsBody,
) -> ApiResult<Response> {
    ctx.params.check(&[
        "refresh",
        "routing",
        "timeout",
        "wait_for_active_shards",
        "pipeline",
        "require_alias",
        "require_data_stream",
        "_source",
        "_source_includes",
        "_source_excludes",
        "list_executed_pipelines",
    ])?;
    let started = Instant::now();
    if body.is_empty() {
        return Err(ctx.error(EsError::validation(&["no requests added".into()])));
    }
    if body.0.last() != Some(&b'\n') {
        return Err(ctx.error(EsError::illegal_argument("The bulk request must be terminated by a newline [\\n]")));
    }
    let default_index = index.map(|Path(i)| i);
    let items = parse(&body.0, default_index.as_deref(), &ctx).map_err(|e| ctx.error(e))?;
    if items.is_empty() {
        return Err(ctx.error(EsError::validation(&["no requests added".into()])));
    }
    let refresh = RefreshPolicy::parse(ctx.params.get("refresh"))?;
    let mut requests = Vec::with_capacity(items.len());
    let mut slots = Vec::with_capacity(items.len());
    for item in &items {
        match &item.request {
            Ok(r) => {
                slots.push(Some(requests.len()));
                requests.push(r.clone());
            }
            Err(_) => slots.push(None),
        }
    }
    let mut outcomes = node.write(requests.clone(), refresh).await;
    // Updates with `retry_on_conflict` are re-applied on a version conflict, as ES retries them.
    for (item, slot) in items.iter().zip(&slots) {
        let Some(i) = *slot else { continue };
        let mut left = item.retries;
        while left > 0
            && matches!(&outcomes[i].result, Err(e) if e.kind == ErrorKind::VersionConflict)
            && requests[i].cond.if_seq_no.is_none()
        {
            left -= 1;
            outcomes[i] = node.write(vec![requests[i].clone()], refresh).await.remove(0);
        }
    }
    let mut errors = false;
    let mut rendered = Vec::with_capacity(items.len());
    for (item, slot) in items.into_iter().zip(slots) {
        let mut m = Map::new();
        match slot.map(|s| &outcomes[s]) {
            Some(o) => {
                m.insert("_index".into(), o.index.clone().into());
                m.insert("_id".into(), o.id.clone().into());
                match &o.result {
                    Ok((s, _)) => {
                        m.insert("_version".into(), s.version.into());
                        m.insert("result".into(), s.result.as_str().into());
                        if o.forced_refresh {
                            m.insert("forced_refresh".into(), true.into());
                        }
                        m.insert("_shards".into(), shards_json(o));
                        m.insert("_seq_no".into(), s.seq_no.into());
                        m.insert("_primary_term".into(), s.primary_term.into());
                        m.insert("status".into(), write_status(s.result).as_u16().into());
                        if let (Some(f), Some(src)) = (&item.source, &s.source) {
                            let mut get = Map::new();
                            get.insert("_seq_no".into(), s.seq_no.into());
                            get.insert("_primary_term".into(), s.primary_term.into());
                            get.insert("found".into(), true.into());
                            if let Some(v) = f.apply_bytes(src) {
                                get.insert("_source".into(), v);
                            }
                            m.insert("get".into(), Value::Object(get));
                        }
                    }
                    Err(e) => {
                        errors = true;
                        m.insert("status".into(), e.status().into());
                        m.insert("error".into(), e.to_cause_json());
                    }
                }
            }
            None => {
                errors = true;
                let Err((index, id, e)) = item.request else { unreachable!("slot is None only for errors") };
                m.insert("_index".into(), index.into());
                m.insert("_id".into(), id.map(Value::from).unwrap_or(Value::Null));
                m.insert("status".into(), e.status().into());
                m.insert("error".into(), e.to_cause_json());
            }
        }
        rendered.push(json!({ item.action.name(): Value::Object(m) }));
    }
    ctx.ok(json!({"took": started.elapsed().as_millis() as u64, "errors": errors, "items": rendered}))
}
