//! Aliases: their metadata, their JSON forms (create-index / template `aliases` sections and the
//! `_aliases` actions body) and the per-alias invariants ES enforces.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ClusterError;
use crate::names::validate_alias_name;

/// One alias on one index.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AliasMetadata {
    /// A query (ES query DSL JSON) documents must match to be visible through the alias.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_routing: Option<String>,
    /// Comma-separated routing values searches through the alias use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_routing: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_write_index: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_hidden: Option<bool>,
}

impl AliasMetadata {
    /// ES's rendering in `GET _alias` / `GET {index}`: only the fields that are set, in ES's order.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        if let Some(f) = &self.filter {
            out.insert("filter".into(), f.clone());
        }
        if let Some(r) = &self.index_routing {
            out.insert("index_routing".into(), Value::from(r.clone()));
        }
        if let Some(r) = &self.search_routing {
            out.insert("search_routing".into(), Value::from(r.clone()));
        }
        if let Some(w) = self.is_write_index {
            out.insert("is_write_index".into(), Value::from(w));
        }
        if let Some(h) = self.is_hidden {
            out.insert("is_hidden".into(), Value::from(h));
        }
        Value::Object(out)
    }

    /// The individual search routing values.
    pub fn search_routing_values(&self) -> Vec<String> {
        split_routing(self.search_routing.as_deref())
    }

    /// Whether searches through this alias must apply a filter.
    pub fn filtering_required(&self) -> bool {
        self.filter.is_some()
    }

    /// Parses one alias definition (`{"filter":..,"routing":..,"is_write_index":..}`).
    pub fn parse(alias: &str, body: &Value) -> Result<AliasMetadata, ClusterError> {
        let mut meta = AliasMetadata::default();
        let obj = match body {
            Value::Null => return Ok(meta),
            Value::Object(o) => o,
            _ => {
                return Err(ClusterError::illegal_argument(format!("alias [{alias}] must be an object")));
            }
        };
        let mut routing: Option<String> = None;
        for (field, value) in obj {
            match field.as_str() {
                "filter" => meta.filter = parse_filter(alias, value)?,
                "routing" => routing = routing_string(alias, field, value)?,
                "index_routing" | "indexRouting" | "index-routing" => {
                    meta.index_routing = routing_string(alias, field, value)?
                }
                "search_routing" | "searchRouting" | "search-routing" => {
                    meta.search_routing = routing_string(alias, field, value)?
                }
                "is_write_index" => meta.is_write_index = bool_field(alias, field, value)?,
                "is_hidden" => meta.is_hidden = bool_field(alias, field, value)?,
                other => {
                    return Err(ClusterError::illegal_argument(format!("Unknown field [{other}] in alias [{alias}]")));
                }
            }
        }
        if let Some(r) = routing {
            meta.index_routing.get_or_insert_with(|| r.clone());
            meta.search_routing.get_or_insert(r);
        }
        Ok(meta)
    }
}

pub(crate) fn split_routing(routing: Option<&str>) -> Vec<String> {
    routing
        .map(|r| r.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect())
        .unwrap_or_default()
}

fn parse_filter(alias: &str, value: &Value) -> Result<Option<Value>, ClusterError> {
    match value {
        Value::Null => Ok(None),
        Value::Object(o) if o.is_empty() => Ok(None),
        Value::Object(_) => Ok(Some(value.clone())),
        _ => Err(ClusterError::illegal_argument(format!("failed to parse filter for alias [{alias}]"))),
    }
}

fn routing_string(alias: &str, field: &str, value: &Value) -> Result<Option<String>, ClusterError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        _ => Err(ClusterError::illegal_argument(format!("Unsupported value for field [{field}] in alias [{alias}]"))),
    }
}

fn bool_field(alias: &str, field: &str, value: &Value) -> Result<Option<bool>, ClusterError> {
    match value {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        Value::String(s) if s == "true" => Ok(Some(true)),
        Value::String(s) if s == "false" => Ok(Some(false)),
        _ => Err(ClusterError::illegal_argument(format!("Unsupported value for field [{field}] in alias [{alias}]"))),
    }
}

/// Validates an alias on its own: its name and its index routing (ES's `validateAliasStandalone`).
pub fn validate_alias(alias: &str, meta: &AliasMetadata) -> Result<(), ClusterError> {
    validate_alias_name(alias)?;
    if let Some(r) = &meta.index_routing
        && r.contains(',')
    {
        return Err(ClusterError::illegal_argument(format!(
            "alias [{alias}] has several index routing values associated with it"
        )));
    }
    Ok(())
}

/// Parses an `aliases` section of a create-index request or template: `{"a1":{..},"a2":{}}`.
pub fn parse_aliases_section(value: &Value) -> Result<BTreeMap<String, AliasMetadata>, ClusterError> {
    let mut out = BTreeMap::new();
    match value {
        Value::Null => {}
        Value::Object(map) => {
            for (name, body) in map {
                let meta = AliasMetadata::parse(name, body)?;
                validate_alias(name, &meta)?;
                out.insert(name.clone(), meta);
            }
        }
        _ => {
            return Err(ClusterError::XContentParse("[aliases] must be an object".into()));
        }
    }
    Ok(out)
}

/// One action of `POST _aliases`. Index and alias names may be wildcard expressions; they are resolved
/// against the state when the command is applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AliasAction {
    Add {
        indices: Vec<String>,
        aliases: Vec<String>,
        #[serde(default)]
        filter: Option<Value>,
        #[serde(default)]
        index_routing: Option<String>,
        #[serde(default)]
        search_routing: Option<String>,
        #[serde(default)]
        is_write_index: Option<bool>,
        #[serde(default)]
        is_hidden: Option<bool>,
    },
    Remove {
        indices: Vec<String>,
        aliases: Vec<String>,
        #[serde(default)]
        must_exist: Option<bool>,
    },
    RemoveIndex {
        indices: Vec<String>,
    },
}

impl AliasAction {
    /// A simple `add` of one alias to one index.
    pub fn add(index: impl Into<String>, alias: impl Into<String>) -> AliasAction {
        AliasAction::Add {
            indices: vec![index.into()],
            aliases: vec![alias.into()],
            filter: None,
            index_routing: None,
            search_routing: None,
            is_write_index: None,
            is_hidden: None,
        }
    }

    /// A simple `remove` of one alias from one index.
    pub fn remove(index: impl Into<String>, alias: impl Into<String>) -> AliasAction {
        AliasAction::Remove { indices: vec![index.into()], aliases: vec![alias.into()], must_exist: None }
    }

    fn kind_name(&self) -> &'static str {
        match self {
            AliasAction::Add { .. } => "add",
            AliasAction::Remove { .. } => "remove",
            AliasAction::RemoveIndex { .. } => "remove_index",
        }
    }

    /// The index expressions of this action.
    pub fn indices(&self) -> &[String] {
        match self {
            AliasAction::Add { indices, .. }
            | AliasAction::Remove { indices, .. }
            | AliasAction::RemoveIndex { indices } => indices,
        }
    }

    /// Parses the body of `POST _aliases`: `{"actions":[{"add":{...}},{"remove":{...}}]}`.
    pub fn parse_actions(body: &Value) -> Result<Vec<AliasAction>, ClusterError> {
        let obj = body
            .as_object()
            .ok_or_else(|| ClusterError::XContentParse("[aliases] request body must be an object".into()))?;
        let mut actions = Vec::new();
        for (field, value) in obj {
            if field != "actions" {
                return Err(ClusterError::XContentParse(format!("[aliases] unknown field [{field}]")));
            }
            let items: Vec<&Value> = match value {
                Value::Array(items) => items.iter().collect(),
                Value::Object(_) => vec![value],
                _ => {
                    return Err(ClusterError::XContentParse("[aliases] actions must be an array".into()));
                }
            };
            for item in items {
                let action_obj = item.as_object().filter(|o| o.len() == 1).ok_or_else(|| {
                    ClusterError::XContentParse(
                        "[alias_action] each action must be an object with exactly one of [add, remove, remove_index]"
                            .into(),
                    )
                })?;
                let (kind, spec) = action_obj
                    .iter()
                    .next()
                    .ok_or_else(|| ClusterError::XContentParse("[alias_action] empty action".into()))?;
                actions.push(Self::parse_one(kind, spec)?);
            }
        }
        let mut errors = Vec::new();
        if actions.is_empty() {
            errors.push("Must specify at least one alias action".to_string());
        }
        for action in &actions {
            if action.indices().is_empty() {
                errors.push(format!(
                    "Alias action [{}]: Property [index/indices] is either missing or null",
                    action.kind_name()
                ));
            }
            match action {
                AliasAction::Add { aliases, .. } | AliasAction::Remove { aliases, .. } if aliases.is_empty() => {
                    errors.push(format!(
                        "Alias action [{}]: Property [alias/aliases] is either missing or null",
                        action.kind_name()
                    ));
                }
                _ => {}
            }
        }
        if !errors.is_empty() {
            return Err(ClusterError::ActionRequestValidation(errors));
        }
        Ok(actions)
    }

    fn parse_one(kind: &str, spec: &Value) -> Result<AliasAction, ClusterError> {
        let obj = spec
            .as_object()
            .ok_or_else(|| ClusterError::XContentParse(format!("[{kind}] action must be an object")))?;
        let mut indices: Option<Vec<String>> = None;
        let mut aliases: Option<Vec<String>> = None;
        let mut meta_fields = Map::new();
        let mut must_exist = None;
        for (field, value) in obj {
            match field.as_str() {
                "index" | "indices" => {
                    if indices.is_some() {
                        return Err(ClusterError::illegal_argument("Only one of [index] and [indices] is supported"));
                    }
                    indices = Some(string_list(field, value)?);
                }
                "alias" | "aliases" => {
                    if aliases.is_some() {
                        return Err(ClusterError::illegal_argument("Only one of [alias] and [aliases] is supported"));
                    }
                    aliases = Some(string_list(field, value)?);
                }
                "must_exist" => {
                    must_exist = match value {
                        Value::Bool(b) => Some(*b),
                        Value::Null => None,
                        _ => {
                            return Err(ClusterError::XContentParse("[must_exist] must be a boolean".into()));
                        }
                    }
                }
                "filter" | "routing" | "index_routing" | "search_routing" | "is_write_index" | "is_hidden"
                    if kind == "add" =>
                {
                    meta_fields.insert(field.clone(), value.clone());
                }
                other => {
                    return Err(ClusterError::XContentParse(format!("[{kind}] unknown field [{other}]")));
                }
            }
        }
        let indices = indices.unwrap_or_default();
        let aliases_list = aliases.unwrap_or_default();
        match kind {
            "add" => {
                if must_exist.is_some() {
                    return Err(ClusterError::illegal_argument("[must_exist] is unsupported for [ADD]"));
                }
                let label = aliases_list.first().cloned().unwrap_or_default();
                let meta = AliasMetadata::parse(&label, &Value::Object(meta_fields))?;
                Ok(AliasAction::Add {
                    indices,
                    aliases: aliases_list,
                    filter: meta.filter,
                    index_routing: meta.index_routing,
                    search_routing: meta.search_routing,
                    is_write_index: meta.is_write_index,
                    is_hidden: meta.is_hidden,
                })
            }
            "remove" => Ok(AliasAction::Remove { indices, aliases: aliases_list, must_exist }),
            "remove_index" => {
                if !aliases_list.is_empty() {
                    return Err(ClusterError::illegal_argument("aliases are not supported for [REMOVE_INDEX]"));
                }
                if must_exist.is_some() {
                    return Err(ClusterError::illegal_argument("[must_exist] is unsupported for [REMOVE_INDEX]"));
                }
                Ok(AliasAction::RemoveIndex { indices })
            }
            other => Err(ClusterError::XContentParse(format!("[alias_action] unknown field [{other}]"))),
        }
    }
}

fn string_list(field: &str, value: &Value) -> Result<Vec<String>, ClusterError> {
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(String::from)
                    .ok_or_else(|| ClusterError::XContentParse(format!("[{field}] must contain strings")))
            })
            .collect(),
        Value::Null => Ok(Vec::new()),
        _ => Err(ClusterError::XContentParse(format!("[{field}] must be a string or an array of strings"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn routing_sets_both_routings() {
        let m = AliasMetadata::parse("a", &json!({"routing": 1})).unwrap();
        assert_eq!(m.index_routing.as_deref(), Some("1"));
        assert_eq!(m.search_routing.as_deref(), Some("1"));
        let m = AliasMetadata::parse("a", &json!({"routing": "1", "search_routing": "2,3"})).unwrap();
        assert_eq!(m.index_routing.as_deref(), Some("1"));
        assert_eq!(m.search_routing_values(), vec!["2", "3"]);
    }

    #[test]
    fn renders_only_set_fields() {
        let m = AliasMetadata::parse("a", &json!({"filter": {"term": {"user": "k"}}, "is_write_index": true})).unwrap();
        assert_eq!(m.to_json(), json!({"filter": {"term": {"user": "k"}}, "is_write_index": true}));
        assert_eq!(AliasMetadata::default().to_json(), json!({}));
    }

    #[test]
    fn several_index_routings_are_rejected() {
        let m = AliasMetadata::parse("a", &json!({"index_routing": "1,2"})).unwrap();
        assert_eq!(
            validate_alias("a", &m).unwrap_err().to_string(),
            "alias [a] has several index routing values associated with it"
        );
    }

    #[test]
    fn parses_actions() {
        let actions = AliasAction::parse_actions(&json!({"actions": [
            {"add": {"index": "i1", "alias": "a1", "is_write_index": true, "routing": "r"}},
            {"add": {"indices": ["i2", "i3"], "aliases": ["a2"]}},
            {"remove": {"index": "i*", "alias": "a*", "must_exist": true}},
            {"remove_index": {"index": "old"}}
        ]}))
        .unwrap();
        assert_eq!(actions.len(), 4);
        match &actions[0] {
            AliasAction::Add { indices, aliases, is_write_index, index_routing, search_routing, .. } => {
                assert_eq!(indices, &vec!["i1".to_string()]);
                assert_eq!(aliases, &vec!["a1".to_string()]);
                assert_eq!(*is_write_index, Some(true));
                assert_eq!(index_routing.as_deref(), Some("r"));
                assert_eq!(search_routing.as_deref(), Some("r"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            actions[2],
            AliasAction::Remove { indices: vec!["i*".into()], aliases: vec!["a*".into()], must_exist: Some(true) }
        );
        assert_eq!(actions[3], AliasAction::RemoveIndex { indices: vec!["old".into()] });
    }

    #[test]
    fn action_validation_errors() {
        let e = AliasAction::parse_actions(&json!({"actions": [{"add": {"alias": "a"}}]})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Validation Failed: 1: Alias action [add]: Property [index/indices] is either missing or null;"
        );
        assert_eq!(e.es_type(), "action_request_validation_exception");
        let e = AliasAction::parse_actions(&json!({"actions": []})).unwrap_err();
        assert_eq!(e.to_string(), "Validation Failed: 1: Must specify at least one alias action;");
        let e = AliasAction::parse_actions(
            &json!({"actions": [{"add": {"index": "i", "alias": "a", "must_exist": true}}]}),
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "[must_exist] is unsupported for [ADD]");
        let e = AliasAction::parse_actions(&json!({"actions": [{"explode": {"index": "i"}}]})).unwrap_err();
        assert_eq!(e.es_type(), "x_content_parse_exception");
    }

    #[test]
    fn aliases_section() {
        let a = parse_aliases_section(&json!({"a1": {}, "a2": {"is_hidden": true}})).unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a["a2"].is_hidden, Some(true));
        assert!(parse_aliases_section(&json!({"_bad": {}})).is_err());
    }
}
