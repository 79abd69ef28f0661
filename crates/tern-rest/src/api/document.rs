//! Single-document APIs: `index`, `create`, `get`, `exists`, `get_source`, `delete`, `update`, `mget`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};
use tern_common::{ErrorKind, EsError};
use tern_node::Node;
use tern_node::documents::{RefreshPolicy, WriteKind, WriteOutcome, WriteRequest};
use tern_shard::StoredDoc;
use tern_shard::ops::{UpdateSpec, VersionType, WriteCondition, WriteResult};

use crate::context::{Ctx, EsBody};
use crate::error::ApiResult;
use crate::source::SourceFilter;

const WRITE_PARAMS: &[&str] = &[
    "routing",
    "refresh",
    "if_seq_no",
    "if_primary_term",
    "version",
    "version_type",
    "op_type",
    "timeout",
    "wait_for_active_shards",
    "pipeline",
    "require_alias",
    "require_data_stream",
];
const GET_PARAMS: &[&str] = &[
    "routing",
    "realtime",
    "refresh",
    "_source",
    "_source_includes",
    "_source_excludes",
    "stored_fields",
    "preference",
    "version",
    "version_type",
];

/// Validates an index name given on a write path before it can be auto-created.
fn check_target(name: &str) -> Result<(), EsError> {
    tern_cluster::validate_index_name(name).map_err(EsError::from)
}

pub(crate) fn condition(ctx: &Ctx) -> Result<WriteCondition, EsError> {
    let p = &ctx.params;
    let version_type = match p.get("version_type") {
        None | Some("internal") => VersionType::Internal,
        Some("external") => VersionType::External,
        Some("external_gte") => VersionType::ExternalGte,
        Some("force") => {
            return Err(EsError::illegal_argument("version type [force] may no longer be used"));
        }
        Some(other) => {
            return Err(EsError::illegal_argument(format!("No version type match [{other}]")));
        }
    };
    let cond = WriteCondition {
        if_seq_no: p.i64("if_seq_no")?,
        if_primary_term: p.i64("if_primary_term")?,
        version: p.i64("version")?,
        version_type,
    };
    validate_condition(&cond)?;
    Ok(cond)
}

pub(crate) fn validate_condition(cond: &WriteCondition) -> Result<(), EsError> {
    let mut errors = Vec::new();
    if cond.version.is_some() && cond.version_type == VersionType::Internal {
        errors.push("internal versioning can not be used for optimistic concurrency control. Please use `if_seq_no` and `if_primary_term` instead".to_string());
    }
    if cond.version_type != VersionType::Internal && cond.version.is_none() {
        errors.push("an explicit version is required for external versioning".to_string());
    }
    if cond.if_seq_no.is_some() != cond.if_primary_term.is_some() {
        errors.push("ifSeqNo is set, but primary term is [0]".to_string());
    }
    if let Some(s) = cond.if_seq_no
        && s < 0
    {
        errors.push(format!("ifSeqNo must be greater than or equal to 0, but was [{s}]"));
    }
    if errors.is_empty() { Ok(()) } else { Err(EsError::validation(&errors)) }
}

/// ES refuses compare-and-write on updates that may insert.
pub(crate) fn validate_upsert_condition(spec: &UpdateSpec, cond: &WriteCondition) -> Result<(), EsError> {
    if cond.if_seq_no.is_none() && cond.if_primary_term.is_none() {
        return Ok(());
    }
    if spec.doc_as_upsert {
        return Err(EsError::validation(&["compare and write operations can not be used with upsert".into()]));
    }
    if spec.upsert.is_some() {
        return Err(EsError::validation(&["upsert requests don't support `if_seq_no` and `if_primary_term`".into()]));
    }
    Ok(())
}

pub(crate) fn shards_json(o: &WriteOutcome) -> Value {
    match &o.result {
        Ok((s, c)) if s.result == WriteResult::Noop => {
            json!({"total": 0, "successful": 0, "failed": 0})
        }
        Ok((_, c)) => json!({"total": c.total, "successful": c.successful, "failed": c.failed}),
        Err(_) => json!({"total": 0, "successful": 0, "failed": 0}),
    }
}

/// ES's body for a successful write (index, create, delete, update).
pub(crate) fn write_body(o: &WriteOutcome) -> Value {
    let Ok((s, _)) = &o.result else {
        return Value::Null;
    };
    let mut m = Map::new();
    m.insert("_index".into(), o.index.clone().into());
    m.insert("_id".into(), o.id.clone().into());
    m.insert("_version".into(), s.version.into());
    m.insert("result".into(), s.result.as_str().into());
    if o.forced_refresh {
        m.insert("forced_refresh".into(), true.into());
    }
    m.insert("_shards".into(), shards_json(o));
    m.insert("_seq_no".into(), s.seq_no.into());
    m.insert("_primary_term".into(), s.primary_term.into());
    Value::Object(m)
}

pub(crate) fn write_status(r: WriteResult) -> StatusCode {
    match r {
        WriteResult::Created => StatusCode::CREATED,
        WriteResult::NotFound => StatusCode::NOT_FOUND,
        _ => StatusCode::OK,
    }
}

async fn single_write(node: &Node, ctx: &Ctx, req: WriteRequest) -> ApiResult<Response> {
    let refresh = RefreshPolicy::parse(ctx.params.get("refresh"))?;
    let mut out = node.write(vec![req], refresh).await;
    let o = out.pop().expect("one outcome per request");
    match &o.result {
        Ok((s, _)) => ctx.json(write_status(s.result), write_body(&o)),
        Err(e) => Err(ctx.error(e.clone())),
    }
}

fn op_type_create(ctx: &Ctx, default: bool) -> Result<bool, EsError> {
    match ctx.params.get("op_type") {
        None => Ok(default),
        Some("create") => Ok(true),
        Some("index") => Ok(false),
        Some(other) => Err(EsError::illegal_argument(format!("opType must be 'create' or 'index', found: [{other}]"))),
    }
}

fn reject_pipeline(ctx: &Ctx) -> Result<(), EsError> {
    if let Some(p) = ctx.params.get("pipeline")
        && p != "_none"
    {
        return Err(EsError::illegal_argument(format!("pipeline with id [{p}] does not exist")));
    }
    Ok(())
}

/// `PUT|POST /{index}/_doc/{id}`
pub async fn index_with_id(
    State(node): State<Arc<Node>>,
    Path((index, id)): Path<(String, String)>,
    ctx: Ctx,
    body: EsBody,
) -> ApiResult<Response> {
    ctx.params.check(WRITE_PARAMS)?;
    reject_pipeline(&ctx)?;
    check_target(&index)?;
    let create = op_type_create(&ctx, false)?;
    index_doc(&node, &ctx, index, Some(id), body, create).await
}

/// `POST /{index}/_doc`
pub async fn index_auto_id(
    State(node): State<Arc<Node>>,
    Path(index): Path<String>,
    ctx: Ctx,
    body: EsBody,
) -> ApiResult<Response> {
    ctx.params.check(WRITE_PARAMS)?;
    reject_pipeline(&ctx)?;
    check_target(&index)?;
    index_doc(&node, &ctx, index, None, body, true).await
}

/// `PUT|POST /{index}/_create/{id}`
pub async fn create(
    State(node): State<Arc<Node>>,
    Path((index, id)): Path<(String, String)>,
    ctx: Ctx,
    body: EsBody,
) -> ApiResult<Response> {
    ctx.params.check(WRITE_PARAMS)?;
    reject_pipeline(&ctx)?;
    check_target(&index)?;
    index_doc(&node, &ctx, index, Some(id), body, true).await
}

fn check_id(id: &str) -> Result<(), EsError> {
    if id.len() > 512 {
        return Err(EsError::validation(&[format!(
            "id [{id}] is too long, must be no longer than 512 bytes but was: {}",
            id.len()
        )]));
    }
    if id.is_empty() {
        return Err(EsError::validation(&["if _id is specified it must not be empty".into()]));
    }
    Ok(())
}

async fn index_doc(
    node: &Node,
    ctx: &Ctx,
    index: String,
    id: Option<String>,
    body: EsBody,
    create: bool,
) -> ApiResult<Response> {
    if let Some(id) = &id {
        check_id(id)?;
    }
    if body.is_empty() {
        return Err(ctx.error(EsError::validation(&["source is missing".into()])));
    }
    // The shard parses the document once, against the mapping, and reports malformed input as
    // document_parsing_exception with ES's texts.
    let cond = condition(ctx)?;
    if create && cond.version_type != VersionType::Internal {
        return Err(ctx.error(EsError::validation(&[
            "create operations only support internal versioning. use index instead".into(),
        ])));
    }
    let req = WriteRequest {
        target: index,
        id,
        routing: ctx.params.get("routing").map(String::from),
        kind: WriteKind::Index { source: body.0.to_vec(), create },
        cond,
        require_alias: ctx.params.bool("require_alias", false)?,
    };
    single_write(node, ctx, req).await
}

/// `DELETE /{index}/_doc/{id}`
pub async fn delete(
    State(node): State<Arc<Node>>,
    Path((index, id)): Path<(String, String)>,
    ctx: Ctx,
) -> ApiResult<Response> {
    ctx.params.check(WRITE_PARAMS)?;
    let meta = node.metadata();
    if !meta.indices.contains_key(&index) && !meta.has_alias(&index) {
        return Err(ctx.error(EsError::index_not_found(&index)));
    }
    let req = WriteRequest {
        target: index,
        id: Some(id),
        routing: ctx.params.get("routing").map(String::from),
        kind: WriteKind::Delete,
        cond: condition(&ctx)?,
        require_alias: false,
    };
    single_write(&node, &ctx, req).await
}

/// Values of `store: true` fields, as ES returns them under `fields` for `stored_fields`. A stored
/// field holds exactly the source's values, so they are read from the source.
pub(crate) fn stored_fields(node: &Node, index: &str, source: &[u8], wanted: &[String]) -> Option<Value> {
    let meta = node.metadata();
    let mapping = tern_mapping::Mapping::parse(&meta.indices.get(index)?.mappings).ok()?;
    let doc: Value = serde_json::from_slice(source).ok()?;
    let mut out = Map::new();
    for field in wanted {
        if !mapping.field(field).is_some_and(|f| f.store()) {
            continue;
        }
        let mut values = Vec::new();
        collect_path(&doc, &field.split('.').collect::<Vec<_>>(), &mut values);
        if !values.is_empty() {
            out.insert(field.clone(), Value::Array(values));
        }
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

fn collect_path(v: &Value, path: &[&str], out: &mut Vec<Value>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| collect_path(i, path, out)),
        Value::Object(m) if !path.is_empty() => {
            if let Some(child) = m.get(path[0]) {
                collect_path(child, &path[1..], out);
            }
        }
        Value::Null => {}
        leaf if path.is_empty() => out.push(leaf.clone()),
        _ => {}
    }
}

pub(crate) fn get_body(index: &str, id: &str, doc: Option<&StoredDoc>, filter: &SourceFilter) -> Value {
    let mut m = Map::new();
    m.insert("_index".into(), index.into());
    m.insert("_id".into(), id.into());
    match doc {
        Some(d) => {
            m.insert("_version".into(), d.version.into());
            m.insert("_seq_no".into(), d.seq_no.into());
            m.insert("_primary_term".into(), d.primary_term.into());
            if let Some(r) = &d.routing {
                m.insert("_routing".into(), r.clone().into());
            }
            m.insert("found".into(), true.into());
            // An empty stored source means `_source` is disabled in the mapping.
            if !d.source.is_empty()
                && let Some(src) = filter.apply_bytes(&d.source)
            {
                m.insert("_source".into(), src);
            }
        }
        None => {
            m.insert("found".into(), false.into());
        }
    }
    Value::Object(m)
}

fn realtime(ctx: &Ctx) -> Result<bool, EsError> {
    ctx.params.bool("realtime", true)
}

async fn refresh_before_get(node: &Node, ctx: &Ctx, index: &str) -> Result<(), EsError> {
    if ctx.params.bool("refresh", false)? {
        node.refresh(&[index.to_string()], &tern_cluster::IndicesOptions::strict_expand_open()).await?;
    }
    Ok(())
}

/// `GET|HEAD /{index}/_doc/{id}`
pub async fn get(
    State(node): State<Arc<Node>>,
    Path((index, id)): Path<(String, String)>,
    ctx: Ctx,
) -> ApiResult<Response> {
    ctx.params.check(GET_PARAMS)?;
    refresh_before_get(&node, &ctx, &index).await?;
    let (concrete, doc) = node
        .get_document(&index, &id, ctx.params.get("routing"), realtime(&ctx)?, ctx.params.get("preference"))
        .await?;
    let doc = check_version(&ctx, doc)?;
    if ctx.method == axum::http::Method::HEAD {
        return ctx.status(if doc.is_some() { StatusCode::OK } else { StatusCode::NOT_FOUND });
    }
    let p = &ctx.params;
    let filter = SourceFilter::from_params(p.get("_source"), p.get("_source_includes"), p.get("_source_excludes"));
    let status = if doc.is_some() { StatusCode::OK } else { StatusCode::NOT_FOUND };
    let mut filter = filter;
    let wanted = p.list("stored_fields");
    if !wanted.is_empty() && !p.has("_source") && !p.has("_source_includes") && !p.has("_source_excludes") {
        filter.enabled = false;
    }
    let mut body = get_body(&concrete, &id, doc.as_ref(), &filter);
    if let Some(d) = &doc
        && let Some(fields) = stored_fields(&node, &concrete, &d.source, &wanted)
    {
        body["fields"] = fields;
    }
    ctx.json(status, body)
}

/// GET with `version=N`: ES answers a conflict when the document's version differs.
fn check_version(ctx: &Ctx, doc: Option<StoredDoc>) -> Result<Option<StoredDoc>, EsError> {
    if let (Some(v), Some(d)) = (ctx.params.i64("version")?, &doc)
        && d.version != v
    {
        return Err(EsError::new(
            ErrorKind::VersionConflict,
            format!(
                "[{}]: version conflict, current version [{}] is different than the one provided [{v}]",
                d.id, d.version
            ),
        ));
    }
    Ok(doc)
}

/// `GET|HEAD /{index}/_source/{id}`
pub async fn get_source(
    State(node): State<Arc<Node>>,
    Path((index, id)): Path<(String, String)>,
    ctx: Ctx,
) -> ApiResult<Response> {
    ctx.params.check(GET_PARAMS)?;
    refresh_before_get(&node, &ctx, &index).await?;
    let (concrete, doc) = node
        .get_document(&index, &id, ctx.params.get("routing"), realtime(&ctx)?, ctx.params.get("preference"))
        .await?;
    let doc = doc.filter(|d| !d.source.is_empty());
    let Some(doc) = doc else {
        if ctx.method == axum::http::Method::HEAD {
            return ctx.status(StatusCode::NOT_FOUND);
        }
        return Err(ctx.error(EsError::new(
            ErrorKind::ResourceNotFound,
            format!("Document not found [{concrete}]/[_doc]/[{id}]"),
        )));
    };
    if ctx.method == axum::http::Method::HEAD {
        return ctx.status(StatusCode::OK);
    }
    let p = &ctx.params;
    let filter = SourceFilter::from_params(p.get("_source"), p.get("_source_includes"), p.get("_source_excludes"));
    ctx.ok(filter.apply_bytes(&doc.source).unwrap_or(Value::Null))
}

/// Builds an update from an `_update` body (also used by `_bulk`).
pub(crate) fn update_spec(body: &Value) -> Result<(UpdateSpec, Option<SourceFilter>), EsError> {
    let Some(obj) = body.as_object() else {
        return Err(EsError::new(
            ErrorKind::XContentParse,
            "[1:1] [UpdateRequest] failed to parse, expected an object",
        ));
    };
    let mut spec = UpdateSpec { detect_noop: true, ..Default::default() };
    let mut source = None;
    for (k, v) in obj {
        match k.as_str() {
            "doc" => {
                if !v.is_object() {
                    return Err(EsError::new(
                        ErrorKind::XContentParse,
                        "[1:8] [UpdateRequest] failed to parse field [doc]",
                    ));
                }
                spec.doc = Some(serde_json::to_vec(v).unwrap_or_default());
            }
            "upsert" => spec.upsert = Some(serde_json::to_vec(v).unwrap_or_default()),
            "doc_as_upsert" => spec.doc_as_upsert = v.as_bool().unwrap_or(false),
            "detect_noop" => spec.detect_noop = v.as_bool().unwrap_or(true),
            "_source" => source = Some(SourceFilter::from_value(v)),
            "script" | "scripted_upsert" => {
                return Err(EsError::illegal_argument(
                    "scripts are not supported by tern: use a partial [doc] (with [upsert] or [doc_as_upsert]) instead",
                ));
            }
            other => {
                const KNOWN: &[&str] =
                    &["doc", "upsert", "doc_as_upsert", "detect_noop", "_source", "script", "scripted_upsert"];
                let hint = KNOWN
                    .iter()
                    .find(|k| crate::params::levenshtein(other, k) <= 2)
                    .map(|k| format!(" did you mean [{k}]?"))
                    .unwrap_or_default();
                return Err(EsError::new(
                    ErrorKind::XContentParse,
                    format!("[1:2] [UpdateRequest] unknown field [{other}]{hint}"),
                ));
            }
        }
    }
    if spec.doc.is_none() {
        return Err(EsError::validation(&["script or doc is missing".into()]));
    }
    Ok((spec, source))
}

/// `POST /{index}/_update/{id}`
pub async fn update(
    State(node): State<Arc<Node>>,
    Path((index, id)): Path<(String, String)>,
    ctx: Ctx,
    body: EsBody,
) -> ApiResult<Response> {
    ctx.params.check(&[
        "routing",
        "refresh",
        "if_seq_no",
        "if_primary_term",
        "timeout",
        "wait_for_active_shards",
        "retry_on_conflict",
        "_source",
        "_source_includes",
        "_source_excludes",
        "lang",
        "require_alias",
    ])?;
    check_target(&index)?;
    let (spec, body_filter) = update_spec(&body.required_json()?)?;
    let p = &ctx.params;
    let filter = if p.has("_source") || p.has("_source_includes") || p.has("_source_excludes") {
        Some(SourceFilter::from_params(p.get("_source"), p.get("_source_includes"), p.get("_source_excludes")))
    } else {
        body_filter
    };
    let refresh = RefreshPolicy::parse(p.get("refresh"))?;
    let cond = WriteCondition {
        if_seq_no: p.i64("if_seq_no")?,
        if_primary_term: p.i64("if_primary_term")?,
        ..Default::default()
    };
    validate_condition(&cond)?;
    validate_upsert_condition(&spec, &cond)?;
    let retries = p.i64("retry_on_conflict")?.unwrap_or(0).max(0);
    let mut attempt = 0;
    loop {
        let req = WriteRequest {
            target: index.clone(),
            id: Some(id.clone()),
            routing: p.get("routing").map(String::from),
            kind: WriteKind::Update(spec.clone()),
            cond: cond.clone(),
            require_alias: p.bool("require_alias", false)?,
        };
        let o = node.write(vec![req], refresh).await.pop().expect("one outcome");
        match &o.result {
            Ok((s, _)) => {
                let mut body = write_body(&o);
                if let (Some(f), Some(src)) = (&filter, &s.source)
                    && f.enabled
                    && !(f.includes.is_empty() && f.excludes.is_empty() && !p.has("_source") && filter.is_none())
                {
                    let mut get = Map::new();
                    get.insert("_seq_no".into(), s.seq_no.into());
                    get.insert("_primary_term".into(), s.primary_term.into());
                    get.insert("found".into(), true.into());
                    if let Some(v) = f.apply_bytes(src) {
                        get.insert("_source".into(), v);
                    }
                    body["get"] = Value::Object(get);
                }
                return ctx.json(write_status(s.result), body);
            }
            Err(e) if e.kind == ErrorKind::VersionConflict && attempt < retries && cond.if_seq_no.is_none() => {
                attempt += 1;
            }
            Err(e) => return Err(ctx.error(e.clone())),
        }
    }
}

/// `GET|POST /_mget` and `/{index}/_mget`
pub async fn mget(
    State(node): State<Arc<Node>>,
    index: Option<Path<String>>,
    ctx: Ctx,
    body: EsBody,
) -> ApiResult<Response> {
    ctx.params.check(&[
        "routing",
        "realtime",
        "refresh",
        "_source",
        "_source_includes",
        "_source_excludes",
        "stored_fields",
        "preference",
    ])?;
    let default_index = index.map(|Path(i)| i);
    let body = body.required_json()?;
    let p = &ctx.params;
    let default_filter =
        SourceFilter::from_params(p.get("_source"), p.get("_source_includes"), p.get("_source_excludes"));
    let mut specs: Vec<(Option<String>, String, Option<String>, SourceFilter)> = Vec::new();
    if let Some(docs) = body.get("docs") {
        let Some(docs) = docs.as_array() else {
            return Err(ctx.error(EsError::parsing("docs must be an array")));
        };
        for d in docs {
            let Some(o) = d.as_object() else {
                return Err(ctx.error(EsError::parsing("docs entries must be objects")));
            };
            let id = match o.get("_id") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => {
                    return Err(ctx.error(EsError::validation(&["id is missing for doc 0".into()])));
                }
            };
            let idx = o.get("_index").and_then(Value::as_str).map(String::from).or_else(|| default_index.clone());
            let routing = o
                .get("routing")
                .and_then(|v| v.as_str().map(String::from).or_else(|| v.as_i64().map(|n| n.to_string())))
                .or_else(|| p.get("routing").map(String::from));
            let filter = o.get("_source").map(SourceFilter::from_value).unwrap_or_else(|| default_filter.clone());
            specs.push((idx, id, routing, filter));
        }
    } else if let Some(ids) = body.get("ids") {
        let Some(ids) = ids.as_array() else {
            return Err(ctx.error(EsError::parsing("ids must be an array")));
        };
        for id in ids {
            let id = id.as_str().map(String::from).unwrap_or_else(|| id.to_string());
            specs.push((default_index.clone(), id, p.get("routing").map(String::from), default_filter.clone()));
        }
    } else {
        return Err(ctx.error(EsError::validation(&["no documents to get".into()])));
    }
    if specs.is_empty() {
        return Err(ctx.error(EsError::validation(&["no documents to get".into()])));
    }
    if p.bool("refresh", false)? {
        let names: Vec<String> = specs.iter().filter_map(|s| s.0.clone()).collect();
        node.refresh(&names, &tern_cluster::IndicesOptions::lenient_expand_open()).await?;
    }
    let rt = realtime(&ctx)?;
    let preference = p.get("preference");
    let mut gets = Vec::with_capacity(specs.len());
    for (i, (idx, id, routing, filter)) in specs.into_iter().enumerate() {
        let Some(idx) = idx else {
            return Err(ctx.error(EsError::validation(&[format!("index is missing for doc {i}")])));
        };
        let node = &node;
        // The documents are fetched concurrently: each may live on another node.
        gets.push(async move {
            match node.get_document(&idx, &id, routing.as_deref(), rt, preference).await {
                Ok((concrete, doc)) => get_body(&concrete, &id, doc.as_ref(), &filter),
                Err(e) => json!({"_index": idx, "_id": id, "error": e.to_error_json()}),
            }
        });
    }
    let docs = futures::future::join_all(gets).await;
    ctx.ok(json!({"docs": docs}))
}
