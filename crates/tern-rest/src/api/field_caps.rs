//! `field_caps` (`GET|POST /_field_caps`, `/{index}/_field_caps`): the capabilities of fields
//! across indices, read from the index mappings.
//!
//! Per index, every mapped leaf (and multi-field) that matches a `fields` pattern is reported with
//! ES 8's notion of `searchable` (indexed, or doc values for the types ES 8.1+ searches through
//! doc values) and `aggregatable` (doc values; `fielddata` for `text`), plus its object/nested
//! parents and the metadata fields a pattern names. Across indices, one entry per type: `indices`
//! when a field has several types, `non_searchable_indices`/`non_aggregatable_indices` when the
//! indices disagree, and `meta` merged into sorted value lists, as ES merges them.

// `EsError` is the workspace-wide error type; its size is a workspace decision, not this module's.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::{Map, Value};
use tern_cluster::IndicesOptions;
use tern_common::{ErrorKind, EsError};
use tern_mapping::{FieldMapping, FieldType, Mapping};
use tern_node::Node;
use tern_query::QueryAst;

use crate::context::{Ctx, EsBody};
use crate::error::ApiResult;
use crate::params::split_list;

/// One field's capabilities in one index.
#[derive(Debug, Clone, PartialEq)]
struct IndexCaps {
    field_type: String,
    metadata_field: bool,
    searchable: bool,
    aggregatable: bool,
    meta: BTreeMap<String, String>,
}

/// ES 8's metadata fields: name, searchable, aggregatable.
const METADATA_FIELDS: &[(&str, bool, bool)] = &[
    ("_id", true, false),
    ("_ignored", true, false),
    ("_index", true, true),
    ("_routing", true, false),
    ("_seq_no", true, true),
    ("_source", false, false),
    ("_version", false, true),
];

fn glob(pattern: &str, s: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == s,
        Some((head, tail)) => {
            let Some(rest) = s.strip_prefix(head) else {
                return false;
            };
            tail.is_empty() || (0..=rest.len()).filter(|i| rest.is_char_boundary(*i)).any(|i| glob(tail, &rest[i..]))
        }
    }
}

fn matches_any(patterns: &[String], name: &str) -> bool {
    patterns.iter().any(|p| glob(p, name))
}

/// `searchable` and `aggregatable` of a concrete (non-alias) field, ES 8 semantics.
fn leaf_caps(f: &FieldMapping) -> (bool, bool) {
    use FieldType::*;
    let dv = f.doc_values();
    match f.field_type {
        Text => (f.index(), f.fielddata()),
        MatchOnlyText => (true, false),
        ConstantKeyword => (true, true),
        Wildcard => (true, true),
        Flattened => (f.index(), dv),
        Keyword | Version | Long | Integer | Short | Byte | Double | Float | HalfFloat | ScaledFloat | UnsignedLong
        | Boolean | Date | DateNanos | Ip | GeoPoint => (f.index() || dv, dv),
        Binary => (false, dv),
        Object | Nested | Alias => (false, false),
    }
}

fn meta_of(f: &FieldMapping) -> BTreeMap<String, String> {
    f.meta()
        .map(|m| {
            m.iter().map(|(k, v)| (k.clone(), v.as_str().map(String::from).unwrap_or_else(|| v.to_string()))).collect()
        })
        .unwrap_or_default()
}

#[derive(Debug, Clone, Default)]
struct Filters {
    only_metadata: bool,
    no_metadata: bool,
    no_nested: bool,
    no_multifield: bool,
    no_parent: bool,
}

impl Filters {
    fn parse(v: Option<&str>) -> Result<Filters, EsError> {
        let mut f = Filters::default();
        for item in v.map(split_list).unwrap_or_default() {
            match item.as_str() {
                "+metadata" => f.only_metadata = true,
                "-metadata" => f.no_metadata = true,
                "-nested" => f.no_nested = true,
                "-multifield" => f.no_multifield = true,
                "-parent" => f.no_parent = true,
                other => {
                    return Err(EsError::illegal_argument(format!("[{other}] is not a valid filter")));
                }
            }
        }
        Ok(f)
    }
}

/// The capabilities of every matching field of one index's mapping.
fn index_fields(
    mapping: &Mapping,
    patterns: &[String],
    types: &[String],
    filters: &Filters,
) -> BTreeMap<String, IndexCaps> {
    let mut out = BTreeMap::new();
    if !filters.only_metadata {
        let all: Vec<(String, &FieldMapping)> = mapping.fields().collect();
        let multi_fields: BTreeSet<String> =
            all.iter().flat_map(|(path, f)| f.fields.keys().map(move |sub| format!("{path}.{sub}"))).collect();
        let nested_paths: Vec<&String> =
            all.iter().filter(|(_, f)| f.field_type == FieldType::Nested).map(|(p, _)| p).collect();
        for (path, f) in &all {
            if f.field_type.is_object() || !matches_any(patterns, path) {
                continue;
            }
            if filters.no_multifield && multi_fields.contains(path) {
                continue;
            }
            if filters.no_nested && nested_paths.iter().any(|n| path.starts_with(&format!("{n}."))) {
                continue;
            }
            let (concrete, target) = match mapping.resolve_field(path) {
                Some((c, t)) if t.field_type != FieldType::Alias => (c, t),
                _ => continue,
            };
            let _ = concrete;
            let type_name = target.field_type.name();
            if !types.is_empty() && !types.iter().any(|t| t == type_name) {
                continue;
            }
            let (searchable, aggregatable) = leaf_caps(target);
            out.insert(
                path.clone(),
                IndexCaps {
                    field_type: type_name.to_string(),
                    metadata_field: false,
                    searchable,
                    aggregatable,
                    meta: meta_of(target),
                },
            );
        }
        if !filters.no_parent {
            let leaves: Vec<String> = out.keys().cloned().collect();
            for leaf in leaves {
                let mut p = leaf.as_str();
                while let Some(dot) = p.rfind('.') {
                    p = &p[..dot];
                    if out.contains_key(p) {
                        break;
                    }
                    if let Some(parent) = mapping.field(p).filter(|f| f.field_type.is_object()) {
                        if filters.no_nested && parent.field_type == FieldType::Nested {
                            continue;
                        }
                        out.insert(
                            p.to_string(),
                            IndexCaps {
                                field_type: parent.field_type.name().to_string(),
                                metadata_field: false,
                                searchable: false,
                                aggregatable: false,
                                meta: BTreeMap::new(),
                            },
                        );
                    }
                }
            }
        }
    }
    if !filters.no_metadata {
        for (name, searchable, aggregatable) in METADATA_FIELDS {
            if matches_any(patterns, name) && (types.is_empty() || types.iter().any(|t| t == name)) {
                out.insert(
                    name.to_string(),
                    IndexCaps {
                        field_type: name.to_string(),
                        metadata_field: true,
                        searchable: *searchable,
                        aggregatable: *aggregatable,
                        meta: BTreeMap::new(),
                    },
                );
            }
        }
    }
    out
}

/// For one field: each type it has, with the indices (and their capabilities) that give it that type.
type TypesOfField<'a> = BTreeMap<&'a str, Vec<(&'a str, &'a IndexCaps)>>;

/// Merges per-index capabilities into ES's response `fields` object.
fn merge(per_index: &[(String, BTreeMap<String, IndexCaps>)], include_unmapped: bool) -> Map<String, Value> {
    let mut by_field: BTreeMap<&str, TypesOfField> = BTreeMap::new();
    for (index, fields) in per_index {
        for (name, caps) in fields {
            by_field.entry(name).or_default().entry(&caps.field_type).or_default().push((index, caps));
        }
    }
    let unmapped = IndexCaps {
        field_type: "unmapped".into(),
        metadata_field: false,
        searchable: false,
        aggregatable: false,
        meta: BTreeMap::new(),
    };
    let mut out = Map::new();
    for (name, mut types) in by_field {
        if include_unmapped {
            let mapped: BTreeSet<&str> = types.values().flatten().map(|(i, _)| *i).collect();
            let missing: Vec<(&str, &IndexCaps)> = per_index
                .iter()
                .filter(|(i, _)| !mapped.contains(i.as_str()))
                .map(|(i, _)| (i.as_str(), &unmapped))
                .collect();
            if !missing.is_empty() {
                types.insert("unmapped", missing);
            }
        }
        let with_indices = types.len() > 1;
        let mut type_map = Map::new();
        for (type_name, entries) in types {
            let mut m = Map::new();
            m.insert("type".into(), type_name.into());
            m.insert("metadata_field".into(), entries.iter().any(|(_, c)| c.metadata_field).into());
            let searchable = entries.iter().all(|(_, c)| c.searchable);
            let aggregatable = entries.iter().all(|(_, c)| c.aggregatable);
            m.insert("searchable".into(), searchable.into());
            m.insert("aggregatable".into(), aggregatable.into());
            let names = |pred: &dyn Fn(&IndexCaps) -> bool| -> Value {
                Value::Array(entries.iter().filter(|(_, c)| pred(c)).map(|(i, _)| Value::from(*i)).collect())
            };
            if with_indices {
                m.insert("indices".into(), names(&|_| true));
            }
            if !searchable && entries.iter().any(|(_, c)| c.searchable) {
                m.insert("non_searchable_indices".into(), names(&|c| !c.searchable));
            }
            if !aggregatable && entries.iter().any(|(_, c)| c.aggregatable) {
                m.insert("non_aggregatable_indices".into(), names(&|c| !c.aggregatable));
            }
            let mut meta: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
            for (_, c) in &entries {
                for (k, v) in &c.meta {
                    meta.entry(k).or_default().insert(v);
                }
            }
            if !meta.is_empty() {
                let meta: Map<String, Value> = meta
                    .into_iter()
                    .map(|(k, vs)| (k.to_string(), Value::Array(vs.into_iter().map(Value::from).collect())))
                    .collect();
                m.insert("meta".into(), Value::Object(meta));
            }
            type_map.insert(type_name.to_string(), Value::Object(m));
        }
        out.insert(name.to_string(), Value::Object(type_map));
    }
    out
}

fn string_list(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => split_list(s),
        Value::Array(a) => a.iter().filter_map(|x| x.as_str()).flat_map(split_list).collect(),
        _ => vec![],
    }
}

/// `GET|POST /_field_caps`, `/{index}/_field_caps`
pub async fn field_caps(
    State(node): State<Arc<Node>>,
    index: Option<Path<String>>,
    ctx: Ctx,
    body: EsBody,
) -> ApiResult<Response> {
    ctx.params.check(&[
        "allow_no_indices",
        "expand_wildcards",
        "fields",
        "filters",
        "ignore_unavailable",
        "include_empty_fields",
        "include_unmapped",
        "types",
    ])?;
    let p = &ctx.params;
    let mut patterns = p.list("fields");
    let mut index_filter: Option<QueryAst> = None;
    if let Some(v) = body.json()? {
        let Value::Object(obj) = v else {
            return Err(ctx.error(EsError::parsing("request body must be an object")));
        };
        for (k, v) in obj {
            match k.as_str() {
                "fields" => patterns.extend(string_list(&v)),
                "index_filter" => {
                    index_filter = Some(tern_query::parse_query(&v).map_err(EsError::from).map_err(|e| ctx.error(e))?)
                }
                "runtime_mappings" => {
                    if v.as_object().is_some_and(|o| !o.is_empty()) {
                        return Err(ctx.error(EsError::illegal_argument(
                            "[runtime_mappings] are not supported by tern's field_caps",
                        )));
                    }
                }
                other => {
                    return Err(ctx.error(EsError::new(
                        ErrorKind::XContentParse,
                        format!("[field_caps_request] unknown field [{other}]"),
                    )));
                }
            }
        }
    }
    if patterns.is_empty() {
        return Err(ctx.error(EsError::validation(&["specified fields can't be null or empty".into()])));
    }
    let include_unmapped = p.bool("include_unmapped", false)?;
    p.bool("include_empty_fields", true)?;
    let types = p.list("types");
    let filters = Filters::parse(p.get("filters")).map_err(|e| ctx.error(e))?;
    let expr = index.map(|Path(i)| split_list(&i)).unwrap_or_else(|| vec!["_all".to_string()]);
    let opts = p.indices_options(IndicesOptions::strict_expand_open_forbid_closed())?;
    let meta = node.metadata();
    let names = meta.resolve_indices(&expr, &opts).map_err(EsError::from).map_err(|e| ctx.error(e))?;
    let mut kept = Vec::new();
    for name in names {
        let Some(im) = meta.indices.get(&name) else {
            continue;
        };
        if !im.is_open() {
            if opts.ignore_unavailable {
                continue;
            }
            return Err(ctx.error(
                EsError::new(ErrorKind::IndexClosed, "closed").with("index_uuid", im.uuid.clone()).with("index", name),
            ));
        }
        if let Some(filter) = &index_filter
            && !matches!(filter, QueryAst::MatchAll(_))
        {
            // ES skips indices whose shards cannot match the filter; tern asks the shards.
            let targets = node.search_targets(std::slice::from_ref(&name), &opts).map_err(|e| ctx.error(e))?;
            let (count, _, _) = node.count(targets, Some(filter.clone())).await.map_err(|e| ctx.error(e))?;
            if count == 0 {
                continue;
            }
        }
        let mapping = Mapping::parse(&im.mappings).map_err(EsError::from).map_err(|e| ctx.error(e))?;
        kept.push((name, index_fields(&mapping, &patterns, &types, &filters)));
    }
    let fields = merge(&kept, include_unmapped);
    let indices: Vec<Value> = kept.iter().map(|(n, _)| Value::from(n.clone())).collect();
    let mut body = Map::new();
    body.insert("indices".into(), Value::Array(indices));
    body.insert("fields".into(), Value::Object(fields));
    ctx.ok(Value::Object(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mapping(v: Value) -> Mapping {
        Mapping::parse(&v).unwrap()
    }

    #[test]
    fn globbing() {
        assert!(glob("*", "_id"));
        assert!(glob("obj*", "object.nested1"));
        assert!(glob("*.c", "a.b.c"));
        assert!(!glob("n*", "text"));
    }

    #[test]
    fn leaves_parents_and_multi_types() {
        let m1 = mapping(json!({"properties": {
            "number": {"type": "double"},
            "text": {"type": "text", "fields": {"raw": {"type": "keyword"}}},
            "object": {"properties": {"nested1": {"type": "text", "index": false}}}
        }}));
        let m2 = mapping(json!({"properties": {
            "number": {"type": "long", "meta": {"unit": "ms"}},
            "object": {"type": "nested", "properties": {"nested1": {"type": "text"}}}
        }}));
        let pats = vec!["*".to_string()];
        let f1 = index_fields(&m1, &pats, &[], &Filters::default());
        assert_eq!(f1["text.raw"].field_type, "keyword");
        assert_eq!(f1["object"].field_type, "object");
        assert!(f1["_id"].metadata_field);
        let f2 = index_fields(&m2, &pats, &[], &Filters::default());
        let merged = merge(&[("i1".into(), f1), ("i2".into(), f2)], true);
        assert_eq!(merged["number"]["double"]["indices"], json!(["i1"]));
        assert_eq!(merged["number"]["long"]["meta"], json!({"unit": ["ms"]}));
        assert_eq!(merged["object.nested1"]["text"]["searchable"], false);
        assert_eq!(merged["object.nested1"]["text"]["non_searchable_indices"], json!(["i1"]));
        assert!(merged["object.nested1"]["text"].get("indices").is_none());
        assert_eq!(merged["text"]["unmapped"]["indices"], json!(["i2"]));
        assert_eq!(merged["text"]["text"]["aggregatable"], false);
        assert_eq!(merged["object"]["nested"]["indices"], json!(["i2"]));
    }

    #[test]
    fn metadata_only_when_named() {
        let m = mapping(json!({"properties": {"a": {"type": "keyword"}}}));
        let f = index_fields(&m, &["a".to_string()], &[], &Filters::default());
        assert!(!f.contains_key("_id"));
        let f = index_fields(&m, &["_index".to_string()], &[], &Filters::default());
        assert_eq!(f.keys().collect::<Vec<_>>(), vec!["_index"]);
    }
}
