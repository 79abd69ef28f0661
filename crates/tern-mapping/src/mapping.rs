//! The root mapping: parse from ES JSON, render back, merge (put mapping), flattened lookups.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::date::{DEFAULT_DATE_FORMAT, DateFormat};
use crate::dynamic::DynamicTemplate;
use crate::error::MappingError;
use crate::field::{
    Dynamic, FieldMapping, FieldType, MAX_MAPPING_DEPTH, merge_properties, parse_bool, parse_properties,
};
use crate::util::{java_class, java_to_string, join_path};

/// `dynamic_date_formats` in effect when the mapping sets none. ES documents
/// `["strict_date_optional_time", "yyyy/MM/dd HH:mm:ss Z||yyyy/MM/dd Z"]`, but the formats its code
/// actually uses (and puts into the mapping of a detected date) are these two.
pub const DEFAULT_DYNAMIC_DATE_FORMATS: [&str; 2] =
    [DEFAULT_DATE_FORMAT, "yyyy/MM/dd HH:mm:ss||yyyy/MM/dd||epoch_millis"];

/// `_source` settings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SourceConfig {
    pub enabled: Option<bool>,
    pub includes: Option<Vec<String>>,
    pub excludes: Option<Vec<String>>,
    /// ES 8 `mode`: `stored`, `synthetic`, `disabled`.
    pub mode: Option<String>,
}

impl SourceConfig {
    fn is_default(&self) -> bool {
        self.enabled.is_none()
            && self.includes.as_ref().is_none_or(Vec::is_empty)
            && self.excludes.as_ref().is_none_or(Vec::is_empty)
            && self.mode.is_none()
    }
}

/// `_routing` settings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RoutingConfig {
    pub required: Option<bool>,
}

/// Index limits ES enforces on mappings (`index.mapping.*` settings).
#[derive(Debug, Clone, PartialEq)]
pub struct MappingLimits {
    /// `index.mapping.total_fields.limit` (1000).
    pub total_fields: usize,
    /// `index.mapping.depth.limit` (20); capped at [`MAX_MAPPING_DEPTH`].
    pub depth: usize,
    /// `index.mapping.nested_fields.limit` (50).
    pub nested_fields: usize,
    /// `index.mapping.field_name_length.limit` (unlimited).
    pub field_name_length: usize,
}

impl Default for MappingLimits {
    fn default() -> Self {
        MappingLimits { total_fields: 1000, depth: 20, nested_fields: 50, field_name_length: usize::MAX }
    }
}

/// An index mapping, as the body under `"mappings"`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Mapping {
    /// Root `dynamic` (unset = `true`).
    pub dynamic: Option<Dynamic>,
    /// `date_detection` (unset = `true`).
    pub date_detection: Option<bool>,
    /// `numeric_detection` (unset = `false`).
    pub numeric_detection: Option<bool>,
    /// `dynamic_date_formats` (unset = [`DEFAULT_DYNAMIC_DATE_FORMATS`]).
    pub dynamic_date_formats: Option<Vec<String>>,
    pub dynamic_templates: Option<Vec<DynamicTemplate>>,
    pub source: Option<SourceConfig>,
    pub routing: Option<RoutingConfig>,
    pub meta: Option<Map<String, Value>>,
    /// `runtime` fields, kept as given (tern does not evaluate them).
    pub runtime: Option<Map<String, Value>>,
    pub subobjects: Option<bool>,
    /// Other metadata field configs kept verbatim (`_field_names`, `_data_stream_timestamp`).
    pub metadata_fields: BTreeMap<String, Value>,
    pub properties: BTreeMap<String, FieldMapping>,
}

const KEPT_METADATA_FIELDS: [&str; 2] = ["_field_names", "_data_stream_timestamp"];

fn string_or_list(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(a) => a.iter().map(|x| x.as_str().map(str::to_string)).collect(),
        _ => None,
    }
}

impl Mapping {
    /// An empty mapping (`{}`).
    pub fn new() -> Mapping {
        Mapping::default()
    }

    /// Whether nothing is set (renders as `{}`).
    pub fn is_empty(&self) -> bool {
        *self == Mapping::default()
    }

    /// Parses the body under `"mappings"` (`{"properties": {...}, "dynamic": ...}`), validating it
    /// like ES 8.
    pub fn parse(v: &Value) -> Result<Mapping, MappingError> {
        let map = match v {
            Value::Null => return Ok(Mapping::default()),
            Value::Object(m) => m,
            other => {
                return Err(MappingError::mapper_parsing(format!(
                    "Expected map for property [mappings] but got a {}",
                    java_class(other)
                )));
            }
        };
        if map.len() == 1
            && let Some(Value::Object(_)) = map.get("_doc")
        {
            return Err(MappingError::illegal_argument(
                "The mapping definition cannot be nested under a type [_doc] unless include_type_name is set to true.",
            ));
        }
        let mut m = Mapping::default();
        let mut unsupported = Vec::new();
        if let Some(v) = map.get("subobjects") {
            m.subobjects = Some(
                parse_bool(v)
                    .map_err(|_| MappingError::mapper_parsing("Could not convert [_doc.subobjects] to boolean"))?,
            );
        }
        for (k, v) in map {
            match k.as_str() {
                "properties" | "subobjects" => {}
                "dynamic" => m.dynamic = Some(Dynamic::parse(v, "_doc.dynamic")?),
                "date_detection" | "numeric_detection" => {
                    let b = parse_bool(v)
                        .map_err(|_| MappingError::mapper_parsing(format!("Could not convert [{k}] to boolean")))?;
                    if k == "date_detection" {
                        m.date_detection = Some(b);
                    } else {
                        m.numeric_detection = Some(b);
                    }
                }
                "dynamic_date_formats" => {
                    let list = string_or_list(v).ok_or_else(|| {
                        MappingError::mapper_parsing(format!(
                            "Invalid format: [{}]: expected string or list of strings",
                            java_to_string(v)
                        ))
                    })?;
                    for f in &list {
                        DateFormat::parse(f).map_err(MappingError::from)?;
                    }
                    m.dynamic_date_formats = Some(list);
                }
                "dynamic_templates" => m.dynamic_templates = Some(DynamicTemplate::parse_list(v)?),
                "_source" => m.source = parse_source(v)?,
                "_routing" => m.routing = parse_routing(v)?,
                "_meta" => match v {
                    Value::Object(o) => m.meta = Some(o.clone()),
                    Value::Null => {}
                    other => {
                        return Err(MappingError::mapper_parsing(format!(
                            "[_meta] must be an object, got {}[{}]",
                            java_class(other).trim_start_matches("class java.lang."),
                            java_to_string(other)
                        )));
                    }
                },
                "runtime" => match v {
                    Value::Object(o) => {
                        for (name, def) in o {
                            if !def.is_object() {
                                return Err(MappingError::mapper_parsing(format!(
                                    "Expected map for runtime field [{name}] definition but got a {}",
                                    java_class(def)
                                )));
                            }
                        }
                        m.runtime = Some(o.clone());
                    }
                    other => {
                        return Err(MappingError::mapper_parsing(format!(
                            "Expected map for runtime fields but got a {}",
                            java_class(other)
                        )));
                    }
                },
                k if KEPT_METADATA_FIELDS.contains(&k) && v.is_object() => {
                    m.metadata_fields.insert(k.to_string(), v.clone());
                }
                _ => unsupported.push(format!(" [{k} : {}]", java_to_string(v))),
            }
        }
        if !unsupported.is_empty() {
            return Err(MappingError::mapper_parsing(format!(
                "Root mapping definition has unsupported parameters: {}",
                unsupported.concat()
            )));
        }
        if let Some(props) = map.get("properties") {
            m.properties = parse_properties(props, "", m.subobjects.unwrap_or(true), 1)?;
        }
        m.validate_aliases()?;
        Ok(m)
    }

    /// What `GET idx/_mapping` shows under `"mappings"`: only what was set; an empty mapping is `{}`.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        if let Some(d) = self.dynamic {
            out.insert("dynamic".into(), Value::from(d.as_str()));
        }
        if let Some(meta) = &self.meta {
            out.insert("_meta".into(), Value::Object(meta.clone()));
        }
        if let Some(r) = &self.routing
            && let Some(req) = r.required
        {
            out.insert("_routing".into(), serde_json::json!({ "required": req }));
        }
        if let Some(s) = &self.source {
            let mut so = Map::new();
            if let Some(e) = s.enabled {
                so.insert("enabled".into(), Value::Bool(e));
            }
            if let Some(m) = &s.mode {
                so.insert("mode".into(), Value::from(m.clone()));
            }
            if let Some(i) = &s.includes
                && !i.is_empty()
            {
                so.insert("includes".into(), Value::from(i.clone()));
            }
            if let Some(e) = &s.excludes
                && !e.is_empty()
            {
                so.insert("excludes".into(), Value::from(e.clone()));
            }
            if !so.is_empty() {
                out.insert("_source".into(), Value::Object(so));
            }
        }
        for (k, v) in &self.metadata_fields {
            out.insert(k.clone(), v.clone());
        }
        if let Some(f) = &self.dynamic_date_formats {
            out.insert("dynamic_date_formats".into(), Value::from(f.clone()));
        }
        if let Some(t) = &self.dynamic_templates {
            out.insert("dynamic_templates".into(), Value::Array(t.iter().map(DynamicTemplate::to_json).collect()));
        }
        if let Some(b) = self.date_detection {
            out.insert("date_detection".into(), Value::Bool(b));
        }
        if let Some(b) = self.numeric_detection {
            out.insert("numeric_detection".into(), Value::Bool(b));
        }
        if let Some(b) = self.subobjects {
            out.insert("subobjects".into(), Value::Bool(b));
        }
        if let Some(r) = &self.runtime {
            out.insert("runtime".into(), Value::Object(r.clone()));
        }
        if !self.properties.is_empty() {
            let mut props = Map::new();
            for (k, v) in &self.properties {
                props.insert(k.clone(), v.to_json());
            }
            out.insert("properties".into(), Value::Object(props));
        }
        Value::Object(out)
    }

    /// Merges a put-mapping (or a dynamic update) into this mapping: new fields are added,
    /// updatable parameters take the update's value, type changes and changes to non-updatable
    /// parameters are refused. Atomic: on error `self` is unchanged.
    pub fn merge(&mut self, update: &Mapping) -> Result<(), MappingError> {
        let mut merged = self.clone();
        if let Some(d) = update.dynamic {
            merged.dynamic = Some(d);
        }
        if let Some(b) = update.date_detection {
            merged.date_detection = Some(b);
        }
        if let Some(b) = update.numeric_detection {
            merged.numeric_detection = Some(b);
        }
        if let Some(f) = &update.dynamic_date_formats {
            merged.dynamic_date_formats = Some(f.clone());
        }
        if let Some(t) = &update.dynamic_templates {
            merged.dynamic_templates = Some(t.clone());
        }
        if let Some(m) = &update.meta {
            merged.meta = Some(m.clone());
        }
        if let Some(s) = &update.subobjects
            && merged.subobjects.unwrap_or(true) != *s
        {
            return Err(MappingError::mapper_parsing(
                "the [subobjects] parameter can't be updated for the object mapping [_doc]",
            ));
        }
        if let Some(us) = &update.source {
            let cur = merged.source.clone().unwrap_or_default();
            let mut conflicts = Vec::new();
            let fmt_list = |l: &Option<Vec<String>>| format!("[{}]", l.clone().unwrap_or_default().join(", "));
            if cur.enabled.unwrap_or(true) != us.enabled.unwrap_or(true) {
                conflicts.push(format!(
                    "Cannot update parameter [enabled] from [{}] to [{}]",
                    cur.enabled.unwrap_or(true),
                    us.enabled.unwrap_or(true)
                ));
            }
            if cur.includes.clone().unwrap_or_default() != us.includes.clone().unwrap_or_default() {
                conflicts.push(format!(
                    "Cannot update parameter [includes] from [{}] to [{}]",
                    fmt_list(&cur.includes),
                    fmt_list(&us.includes)
                ));
            }
            if cur.excludes.clone().unwrap_or_default() != us.excludes.clone().unwrap_or_default() {
                conflicts.push(format!(
                    "Cannot update parameter [excludes] from [{}] to [{}]",
                    fmt_list(&cur.excludes),
                    fmt_list(&us.excludes)
                ));
            }
            if us.mode.is_some() && cur.mode != us.mode {
                conflicts.push(format!(
                    "Cannot update parameter [mode] from [{}] to [{}]",
                    cur.mode.clone().unwrap_or_else(|| "stored".into()),
                    us.mode.clone().unwrap_or_else(|| "stored".into())
                ));
            }
            if !conflicts.is_empty() {
                return Err(MappingError::illegal_argument(format!(
                    "Mapper for [_source] conflicts with existing mapper:\n\t{}",
                    conflicts.join("\n\t")
                )));
            }
        }
        if let Some(ur) = &update.routing {
            let cur = merged.routing.as_ref().and_then(|r| r.required).unwrap_or(false);
            let new = ur.required.unwrap_or(false);
            if cur != new {
                return Err(MappingError::illegal_argument(format!(
                    "Mapper for [_routing] conflicts with existing mapper:\n\tCannot update parameter [required] from [{cur}] to [{new}]"
                )));
            }
        }
        if let Some(rt) = &update.runtime {
            let cur = merged.runtime.get_or_insert_with(Map::new);
            for (k, v) in rt {
                if v.is_null() {
                    cur.remove(k);
                } else {
                    cur.insert(k.clone(), v.clone());
                }
            }
            if cur.is_empty() {
                merged.runtime = None;
            }
        }
        for (k, v) in &update.metadata_fields {
            merged.metadata_fields.insert(k.clone(), v.clone());
        }
        merge_properties(&mut merged.properties, &update.properties, "")?;
        merged.validate_aliases()?;
        *self = merged;
        Ok(())
    }

    /// The field at a full dotted path: objects (`user`), leaves (`user.name`), multi-fields
    /// (`title.keyword`) and aliases (not followed; see [`Mapping::resolve_field`]).
    pub fn field(&self, path: &str) -> Option<&FieldMapping> {
        lookup(&self.properties, path)
    }

    /// Like [`Mapping::field`] but follows an alias to its target; returns the concrete path.
    pub fn resolve_field(&self, path: &str) -> Option<(String, &FieldMapping)> {
        let f = self.field(path)?;
        if f.field_type == FieldType::Alias {
            let target = f.path()?;
            let t = self.field(target)?;
            return Some((target.to_string(), t));
        }
        Some((path.to_string(), f))
    }

    /// The ES type name of a field (aliases resolved), for `_field_caps`.
    pub fn field_type_name(&self, path: &str) -> Option<&'static str> {
        self.resolve_field(path).map(|(_, f)| f.field_type.name())
    }

    /// Every field by full dotted path — objects, leaves, multi-fields, aliases — sorted by path.
    pub fn fields(&self) -> impl Iterator<Item = (String, &FieldMapping)> {
        let mut out: Vec<(String, &FieldMapping)> = Vec::new();
        let mut stack: Vec<(String, &BTreeMap<String, FieldMapping>)> = vec![(String::new(), &self.properties)];
        while let Some((prefix, props)) = stack.pop() {
            for (name, f) in props {
                let path = join_path(&prefix, name);
                for (sub, sf) in &f.fields {
                    out.push((join_path(&path, sub), sf));
                }
                if f.field_type.is_object() {
                    stack.push((path.clone(), &f.properties));
                }
                out.push((path, f));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out.into_iter()
    }

    /// Fields counted against `index.mapping.total_fields.limit` (objects, leaves, multi-fields,
    /// aliases, runtime fields).
    pub fn total_field_count(&self) -> usize {
        self.fields().count() + self.runtime.as_ref().map_or(0, Map::len)
    }

    /// `dynamic` of the root (`true` when unset).
    pub fn root_dynamic(&self) -> Dynamic {
        self.dynamic.unwrap_or(Dynamic::True)
    }

    /// `date_detection` in effect.
    pub fn date_detection_enabled(&self) -> bool {
        self.date_detection.unwrap_or(true)
    }

    /// `numeric_detection` in effect.
    pub fn numeric_detection_enabled(&self) -> bool {
        self.numeric_detection.unwrap_or(false)
    }

    /// `dynamic_date_formats` in effect.
    pub fn effective_dynamic_date_formats(&self) -> Vec<String> {
        match &self.dynamic_date_formats {
            Some(f) => f.clone(),
            None => DEFAULT_DYNAMIC_DATE_FORMATS.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// `_source.enabled` in effect.
    pub fn source_enabled(&self) -> bool {
        self.source.as_ref().and_then(|s| s.enabled).unwrap_or(true)
            && self.source.as_ref().and_then(|s| s.mode.as_deref()) != Some("disabled")
    }

    /// `_routing.required` in effect.
    pub fn routing_required(&self) -> bool {
        self.routing.as_ref().and_then(|r| r.required).unwrap_or(false)
    }

    /// Checks ES's mapping limits (call after create-index / put-mapping merges).
    pub fn check_limits(&self, limits: &MappingLimits) -> Result<(), MappingError> {
        let depth_limit = limits.depth.min(MAX_MAPPING_DEPTH);
        let mut nested = 0usize;
        for (path, f) in self.fields() {
            if f.field_type.is_object() {
                let depth = path.matches('.').count() + 2;
                if depth > depth_limit {
                    return Err(MappingError::illegal_argument(format!(
                        "Limit of mapping depth [{}] has been exceeded due to object field [{path}]",
                        limits.depth
                    )));
                }
            }
            if f.field_type == FieldType::Nested {
                nested += 1;
            }
            if let Some(leaf) = path.rsplit('.').next()
                && leaf.chars().count() > limits.field_name_length
            {
                return Err(MappingError::illegal_argument(format!(
                    "Field name [{path}] is longer than the limit of [{}] characters",
                    limits.field_name_length
                )));
            }
        }
        if nested > limits.nested_fields {
            return Err(MappingError::illegal_argument(format!(
                "Limit of nested fields [{}] has been exceeded",
                limits.nested_fields
            )));
        }
        if self.total_field_count() > limits.total_fields {
            return Err(MappingError::illegal_argument(format!(
                "Limit of total fields [{}] has been exceeded",
                limits.total_fields
            )));
        }
        Ok(())
    }

    fn validate_aliases(&self) -> Result<(), MappingError> {
        for (path, f) in self.fields() {
            if f.field_type != FieldType::Alias {
                continue;
            }
            let target = f.path().unwrap_or_default();
            if target == path {
                return Err(MappingError::mapper_parsing(format!(
                    "Invalid [path] value [{target}] for field alias [{path}]: an alias cannot refer to itself."
                )));
            }
            match self.field(target) {
                None => {
                    return Err(MappingError::mapper_parsing(format!(
                        "Invalid [path] value [{target}] for field alias [{path}]: an alias must refer to an existing field in the mappings."
                    )));
                }
                Some(t) if t.field_type == FieldType::Alias => {
                    return Err(MappingError::mapper_parsing(format!(
                        "Invalid [path] value [{target}] for field alias [{path}]: an alias cannot refer to another alias."
                    )));
                }
                Some(t) if t.field_type.is_object() => {
                    return Err(MappingError::mapper_parsing(format!(
                        "Invalid [path] value [{target}] for field alias [{path}]: an alias must refer to an existing field in the mappings."
                    )));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

/// Walks properties by path; handles dotted names (`subobjects: false`) and multi-fields.
pub(crate) fn lookup<'a>(root: &'a BTreeMap<String, FieldMapping>, path: &str) -> Option<&'a FieldMapping> {
    let mut props = root;
    let mut rest = path;
    loop {
        if let Some(f) = props.get(rest) {
            return Some(f);
        }
        let mut found = None;
        for (i, _) in rest.rmatch_indices('.') {
            if let Some(f) = props.get(&rest[..i]) {
                found = Some((f, &rest[i + 1..]));
                break;
            }
        }
        let (f, tail) = found?;
        if f.field_type.is_object() {
            props = &f.properties;
            rest = tail;
        } else {
            return f.fields.get(tail);
        }
    }
}

fn parse_source(v: &Value) -> Result<Option<SourceConfig>, MappingError> {
    let Value::Object(m) = v else {
        return Err(MappingError::mapper_parsing(format!(
            "Expected map for property [_source] but got a {}",
            java_class(v)
        )));
    };
    let mut s = SourceConfig::default();
    for (k, v) in m {
        match k.as_str() {
            "enabled" => {
                let b = parse_bool(v)?;
                if !b {
                    s.enabled = Some(false);
                }
            }
            "includes" | "excludes" => {
                let list = string_or_list(v).ok_or_else(|| {
                    MappingError::mapper_parsing(format!(
                        "Wrong value for parameter [{k}] on field [_source]: expected a list of strings but got {}",
                        java_to_string(v)
                    ))
                })?;
                if k == "includes" {
                    s.includes = Some(list);
                } else {
                    s.excludes = Some(list);
                }
            }
            "mode" => match v.as_str() {
                Some(m @ ("synthetic" | "stored" | "disabled")) => s.mode = Some(m.to_string()),
                _ => {
                    return Err(MappingError::mapper_parsing(format!(
                        "Unknown value [{}] for field [mode] - accepted values are [disabled, stored, synthetic]",
                        java_to_string(v)
                    )));
                }
            },
            other => {
                return Err(MappingError::mapper_parsing(format!(
                    "unknown parameter [{other}] on metadata field [_source]"
                )));
            }
        }
    }
    Ok(if s.is_default() { None } else { Some(s) })
}

fn parse_routing(v: &Value) -> Result<Option<RoutingConfig>, MappingError> {
    let Value::Object(m) = v else {
        return Err(MappingError::mapper_parsing(format!(
            "Expected map for property [_routing] but got a {}",
            java_class(v)
        )));
    };
    let mut r = RoutingConfig::default();
    for (k, v) in m {
        match k.as_str() {
            "required" => {
                if parse_bool(v)? {
                    r.required = Some(true);
                }
            }
            other => {
                return Err(MappingError::mapper_parsing(format!(
                    "unknown parameter [{other}] on metadata field [_routing]"
                )));
            }
        }
    }
    Ok(if r.required.is_none() { None } else { Some(r) })
}

impl Serialize for Mapping {
    /// Human-readable formats get the ES JSON object; binary formats (postcard) get it as a JSON
    /// string, since they cannot carry arbitrary JSON values.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let json = self.to_json();
        if serializer.is_human_readable() {
            json.serialize(serializer)
        } else {
            serializer.serialize_str(&json.to_string())
        }
    }
}

impl<'de> Deserialize<'de> for Mapping {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = if deserializer.is_human_readable() {
            Value::deserialize(deserializer)?
        } else {
            let s = String::deserialize(deserializer)?;
            serde_json::from_str(&s).map_err(serde::de::Error::custom)?
        };
        Mapping::parse(&value).map_err(serde::de::Error::custom)
    }
}
