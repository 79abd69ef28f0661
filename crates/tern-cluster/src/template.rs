//! Composable index templates (`_index_template`) and component templates (`_component_template`).
//!
//! At index creation the highest-priority index template whose `index_patterns` match the name
//! contributes settings, mappings and aliases, composed in ES's order: each component template of
//! `composed_of` in turn, then the index template's own `template`, then the create request itself
//! (later sources win).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::alias::{AliasMetadata, parse_aliases_section};
use crate::error::ClusterError;
use crate::names::INVALID_FILENAME_CHARS;
use crate::settings::{
    FlatSettings, IndexSettings, SETTING_HIDDEN, SETTING_UUID, SETTING_VERSION_CREATED, nest_settings,
    parse_index_settings, validate_index_settings,
};
use crate::wildcard::{is_match_all, wildcard_match};

/// The `template` section shared by index and component templates.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Template {
    /// Normalised flat settings (`index.` prefixed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<IndexSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mappings: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aliases: Option<BTreeMap<String, AliasMetadata>>,
}

impl Template {
    pub fn parse(value: &Value) -> Result<Template, ClusterError> {
        let obj =
            value.as_object().ok_or_else(|| ClusterError::XContentParse("[template] must be an object".into()))?;
        let mut t = Template::default();
        for (field, v) in obj {
            match field.as_str() {
                "settings" => {
                    if !v.is_null() {
                        t.settings = Some(IndexSettings::from_flat(
                            parse_index_settings(v)?.into_iter().filter(|(_, v)| !v.is_null()).collect(),
                        ));
                    }
                }
                "mappings" => match v {
                    Value::Null => {}
                    Value::Object(_) => t.mappings = Some(v.clone()),
                    _ => {
                        return Err(ClusterError::XContentParse("[template] failed to parse field [mappings]".into()));
                    }
                },
                "aliases" => {
                    if !v.is_null() {
                        t.aliases = Some(parse_aliases_section(v)?);
                    }
                }
                "lifecycle" | "data_stream_options" => {
                    return Err(ClusterError::illegal_argument(format!(
                        "[{field}] is not supported: tern has no data streams"
                    )));
                }
                other => {
                    return Err(ClusterError::XContentParse(format!("[template] unknown field [{other}]")));
                }
            }
        }
        Ok(t)
    }

    /// ES's rendering: settings nested, mappings and aliases as stored.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        if let Some(s) = &self.settings {
            out.insert("settings".into(), nest_settings(s.flat()));
        }
        if let Some(m) = &self.mappings {
            out.insert("mappings".into(), m.clone());
        }
        if let Some(a) = &self.aliases {
            out.insert("aliases".into(), Value::Object(a.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()));
        }
        Value::Object(out)
    }

    fn flat_settings(&self) -> Option<&FlatSettings> {
        self.settings.as_ref().map(IndexSettings::flat)
    }
}

fn opt_i64(field: &str, v: &Value) -> Result<Option<i64>, ClusterError> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => {
            n.as_i64().map(Some).ok_or_else(|| ClusterError::XContentParse(format!("[{field}] must be an integer")))
        }
        Value::String(s) => {
            s.parse().map(Some).map_err(|_| ClusterError::XContentParse(format!("[{field}] must be an integer")))
        }
        _ => Err(ClusterError::XContentParse(format!("[{field}] must be an integer"))),
    }
}

fn opt_bool(field: &str, v: &Value) -> Result<Option<bool>, ClusterError> {
    match v {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        _ => Err(ClusterError::XContentParse(format!("[{field}] must be a boolean"))),
    }
}

fn string_list(field: &str, v: &Value) -> Result<Vec<String>, ClusterError> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(String::from)
                    .ok_or_else(|| ClusterError::XContentParse(format!("[{field}] must contain strings")))
            })
            .collect(),
        _ => Err(ClusterError::XContentParse(format!("[{field}] must be an array of strings"))),
    }
}

/// A composable index template.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IndexTemplate {
    pub index_patterns: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<Template>,
    #[serde(default)]
    pub composed_of: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_auto_create: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_missing_component_templates: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<bool>,
}

impl IndexTemplate {
    /// Parses a `PUT _index_template/{name}` body (structure only; see
    /// `MetadataCommand::PutIndexTemplate` for the semantic checks against the state).
    pub fn parse(body: &Value) -> Result<IndexTemplate, ClusterError> {
        let obj = body
            .as_object()
            .ok_or_else(|| ClusterError::XContentParse("[index_template] request body must be an object".into()))?;
        let mut t = IndexTemplate::default();
        let mut has_patterns = false;
        for (field, v) in obj {
            match field.as_str() {
                "index_patterns" => {
                    t.index_patterns = string_list(field, v)?;
                    has_patterns = !v.is_null();
                }
                "template" => {
                    if !v.is_null() {
                        t.template = Some(Template::parse(v)?);
                    }
                }
                "composed_of" => t.composed_of = string_list(field, v)?,
                "priority" => t.priority = opt_i64(field, v)?,
                "version" => t.version = opt_i64(field, v)?,
                "_meta" => {
                    if !v.is_null() {
                        if !v.is_object() {
                            return Err(ClusterError::XContentParse("[_meta] must be an object".into()));
                        }
                        t.meta = Some(v.clone());
                    }
                }
                "allow_auto_create" => t.allow_auto_create = opt_bool(field, v)?,
                "ignore_missing_component_templates" => t.ignore_missing_component_templates = string_list(field, v)?,
                "deprecated" => t.deprecated = opt_bool(field, v)?,
                "data_stream" => {
                    return Err(ClusterError::illegal_argument(
                        "[data_stream] is not supported: tern has no data streams",
                    ));
                }
                other => {
                    return Err(ClusterError::XContentParse(format!("[index_template] unknown field [{other}]")));
                }
            }
        }
        let mut errors = Vec::new();
        if !has_patterns || t.index_patterns.is_empty() {
            errors.push("index patterns are missing".to_string());
        }
        if let Some(p) = t.priority
            && p < 0
        {
            errors.push("index template priority must be >= 0".to_string());
        }
        if !errors.is_empty() {
            return Err(ClusterError::ActionRequestValidation(errors));
        }
        Ok(t)
    }

    pub fn priority_or_zero(&self) -> i64 {
        self.priority.unwrap_or(0)
    }

    /// Whether one of the patterns matches the index name.
    pub fn matches(&self, index: &str) -> bool {
        self.index_patterns.iter().any(|p| wildcard_match(p, index))
    }

    /// ES's rendering inside `GET _index_template`.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("index_patterns".into(), Value::from(self.index_patterns.clone()));
        if let Some(t) = &self.template {
            out.insert("template".into(), t.to_json());
        }
        out.insert("composed_of".into(), Value::from(self.composed_of.clone()));
        if let Some(p) = self.priority {
            out.insert("priority".into(), Value::from(p));
        }
        if let Some(v) = self.version {
            out.insert("version".into(), Value::from(v));
        }
        if let Some(m) = &self.meta {
            out.insert("_meta".into(), m.clone());
        }
        if let Some(a) = self.allow_auto_create {
            out.insert("allow_auto_create".into(), Value::from(a));
        }
        if !self.ignore_missing_component_templates.is_empty() {
            out.insert(
                "ignore_missing_component_templates".into(),
                Value::from(self.ignore_missing_component_templates.clone()),
            );
        }
        if let Some(d) = self.deprecated {
            out.insert("deprecated".into(), Value::from(d));
        }
        Value::Object(out)
    }
}

/// A component template: a reusable `template` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ComponentTemplate {
    pub template: Template,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<bool>,
}

impl ComponentTemplate {
    pub fn parse(body: &Value) -> Result<ComponentTemplate, ClusterError> {
        let obj = body
            .as_object()
            .ok_or_else(|| ClusterError::XContentParse("[component_template] request body must be an object".into()))?;
        let mut t = ComponentTemplate::default();
        let mut has_template = false;
        for (field, v) in obj {
            match field.as_str() {
                "template" => {
                    t.template = Template::parse(v)?;
                    has_template = true;
                }
                "version" => t.version = opt_i64(field, v)?,
                "_meta" => {
                    if !v.is_null() {
                        t.meta = Some(v.clone());
                    }
                }
                "deprecated" => t.deprecated = opt_bool(field, v)?,
                other => {
                    return Err(ClusterError::XContentParse(format!("[component_template] unknown field [{other}]")));
                }
            }
        }
        if !has_template {
            return Err(ClusterError::XContentParse("[component_template] Required [template]".into()));
        }
        Ok(t)
    }

    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("template".into(), self.template.to_json());
        if let Some(v) = self.version {
            out.insert("version".into(), Value::from(v));
        }
        if let Some(m) = &self.meta {
            out.insert("_meta".into(), m.clone());
        }
        if let Some(d) = self.deprecated {
            out.insert("deprecated".into(), Value::from(d));
        }
        Value::Object(out)
    }
}

/// ES's `MetadataIndexTemplateService.validate`: name, patterns, settings and aliases of a template.
pub(crate) fn validate_template_parts(
    name: &str,
    patterns: &[String],
    template: Option<&Template>,
) -> Result<(), ClusterError> {
    let mut errors = Vec::new();
    if name.contains(' ') {
        errors.push("name must not contain a space".to_string());
    }
    if name.contains(',') {
        errors.push("name must not contain a ','".to_string());
    }
    if name.contains('#') {
        errors.push("name must not contain a '#'".to_string());
    }
    if name.contains('*') {
        errors.push("name must not contain a '*'".to_string());
    }
    if name.starts_with('_') {
        errors.push("name must not start with '_'".to_string());
    }
    if name.to_lowercase() != name {
        errors.push("name must be lower cased".to_string());
    }
    for p in patterns {
        if p.contains(' ') {
            errors.push(format!("index_patterns [{p}] must not contain a space"));
        }
        if p.contains(',') {
            errors.push(format!("index_pattern [{p}] must not contain a ','"));
        }
        if p.contains('#') {
            errors.push(format!("index_pattern [{p}] must not contain a '#'"));
        }
        if p.contains(':') {
            errors.push(format!("index_pattern [{p}] must not contain a ':'"));
        }
        if p.starts_with('_') {
            errors.push(format!("index_pattern [{p}] must not start with '_'"));
        }
        if p.chars().any(|c| c != '*' && INVALID_FILENAME_CHARS.contains(&c)) {
            errors.push(format!(
                "index_pattern [{p}] must not contain the following characters [ , \", *, \\, <, |, ,, >, /, ?]"
            ));
        }
    }
    if let Some(settings) = template.and_then(Template::flat_settings) {
        if let Err(e) = validate_index_settings(settings) {
            errors.push(e.to_string());
        }
        for key in [SETTING_UUID, SETTING_VERSION_CREATED] {
            if settings.contains_key(key) {
                errors.push(format!("private index setting [{key}] can not be set explicitly"));
            }
        }
        if patterns.iter().any(|p| is_match_all(p)) && settings.contains_key(SETTING_HIDDEN) {
            errors.push(format!("global templates may not specify the setting {SETTING_HIDDEN}"));
        }
    }
    if !errors.is_empty() {
        return Err(ClusterError::InvalidIndexTemplate {
            name: name.to_string(),
            reason: crate::error::ClusterError::Validation(errors).to_string(),
        });
    }
    if let Some(aliases) = template.and_then(|t| t.aliases.as_ref()) {
        for alias in aliases.keys() {
            if patterns.iter().any(|p| p == alias) {
                return Err(ClusterError::illegal_argument(format!(
                    "alias [{alias}] cannot be the same as any pattern in [{}]",
                    patterns.join(", ")
                )));
            }
        }
    }
    Ok(())
}

/// Recursively merges `overlay` into `base`: objects merge key by key, anything else is replaced.
pub fn deep_merge(base: &mut Value, overlay: &Value) {
    match (base, overlay) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => deep_merge(existing, v),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (base, overlay) => *base = overlay.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_and_renders_a_template() {
        let t = IndexTemplate::parse(&json!({
            "index_patterns": ["logs-*"],
            "template": {"settings": {"number_of_shards": 2}, "mappings": {"properties": {"a": {"type": "keyword"}}}, "aliases": {"logs": {}}},
            "priority": 10, "version": 3, "_meta": {"owner": "me"}, "composed_of": ["c1"]
        }))
        .unwrap();
        assert_eq!(t.priority_or_zero(), 10);
        assert!(t.matches("logs-1"));
        assert!(!t.matches("metrics"));
        let j = t.to_json();
        assert_eq!(j["template"]["settings"]["index"]["number_of_shards"], json!("2"));
        assert_eq!(j["composed_of"], json!(["c1"]));
        assert_eq!(j["_meta"]["owner"], json!("me"));
        assert_eq!(j["template"]["aliases"]["logs"], json!({}));
    }

    #[test]
    fn single_string_pattern_is_accepted() {
        let t = IndexTemplate::parse(&json!({"index_patterns": "x*"})).unwrap();
        assert_eq!(t.index_patterns, vec!["x*"]);
    }

    #[test]
    fn missing_patterns_and_bad_fields() {
        let e = IndexTemplate::parse(&json!({"priority": 1})).unwrap_err();
        assert_eq!(e.to_string(), "Validation Failed: 1: index patterns are missing;");
        let e = IndexTemplate::parse(&json!({"index_patterns": ["a"], "priority": -1})).unwrap_err();
        assert_eq!(e.to_string(), "Validation Failed: 1: index template priority must be >= 0;");
        let e = IndexTemplate::parse(&json!({"index_patterns": ["a"], "foo": 1})).unwrap_err();
        assert_eq!(e.to_string(), "[index_template] unknown field [foo]");
        let e = IndexTemplate::parse(&json!({"index_patterns": ["a"], "data_stream": {}})).unwrap_err();
        assert_eq!(e.es_type(), "illegal_argument_exception");
        let e = IndexTemplate::parse(&json!({"index_patterns": ["a"], "template": {"bogus": 1}})).unwrap_err();
        assert_eq!(e.to_string(), "[template] unknown field [bogus]");
    }

    #[test]
    fn template_validation() {
        let t = Template::parse(&json!({"settings": {"index.foo": 1}})).unwrap();
        let e = validate_template_parts("t1", &["a*".into()], Some(&t)).unwrap_err();
        assert_eq!(e.es_type(), "invalid_index_template_exception");
        assert_eq!(
            e.to_string(),
            "index_template [t1] invalid, cause [Validation Failed: 1: unknown setting [index.foo] please check that any required plugins are installed, or check the breaking changes documentation for removed settings;]"
        );
        let e = validate_template_parts("t1", &["_a*".into(), "b c".into()], None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "index_template [t1] invalid, cause [Validation Failed: 1: index_pattern [_a*] must not start with '_';2: index_patterns [b c] must not contain a space;3: index_pattern [b c] must not contain the following characters [ , \", *, \\, <, |, ,, >, /, ?];]"
        );
        let hidden = Template::parse(&json!({"settings": {"index.hidden": true}})).unwrap();
        let e = validate_template_parts("g", &["*".into()], Some(&hidden)).unwrap_err();
        assert!(e.to_string().contains("global templates may not specify the setting index.hidden"));
        let aliased = Template::parse(&json!({"aliases": {"a*": {}}}));
        assert!(aliased.is_err());
        let aliased = Template::parse(&json!({"aliases": {"logs": {}}})).unwrap();
        let e = validate_template_parts("t", &["logs".into()], Some(&aliased)).unwrap_err();
        assert_eq!(e.to_string(), "alias [logs] cannot be the same as any pattern in [logs]");
    }

    #[test]
    fn component_templates() {
        let c = ComponentTemplate::parse(&json!({"template": {"settings": {"number_of_replicas": 0}}, "version": 1}))
            .unwrap();
        assert_eq!(c.version, Some(1));
        assert_eq!(c.to_json()["template"]["settings"]["index"]["number_of_replicas"], json!("0"));
        assert!(ComponentTemplate::parse(&json!({"version": 1})).is_err());
    }

    #[test]
    fn deep_merge_merges_objects() {
        let mut base = json!({"properties": {"a": {"type": "keyword"}, "b": {"type": "text"}}, "dynamic": true});
        deep_merge(
            &mut base,
            &json!({"properties": {"b": {"type": "keyword"}, "c": {"type": "long"}}, "dynamic": "strict"}),
        );
        assert_eq!(
            base,
            json!({"properties": {"a": {"type": "keyword"}, "b": {"type": "keyword"}, "c": {"type": "long"}}, "dynamic": "strict"})
        );
    }
}
