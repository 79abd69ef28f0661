//! Field mappings: types, parameters, parsing from ES JSON, rendering back, merging.
//!
//! A [`FieldMapping`] keeps only the parameters the user set to a non-default value, in a
//! normalized form (`"index": "false"` becomes `false`, `copy_to: "a"` becomes `["a"]`). That is
//! exactly what `GET idx/_mapping` shows in ES 8, and what merge conflicts compare against the
//! parameter defaults.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::date::{DEFAULT_DATE_FORMAT, DEFAULT_DATE_NANOS_FORMAT, DateError, DateFormat};
use crate::error::MappingError;
use crate::util::{java_class, java_to_string, join_path};
use crate::value::{Scalar, convert_scalar};

/// How deep object mappings may nest, whatever `index.mapping.depth.limit` says. Keeps every
/// recursive walk over mappings shallow and mappings round-trippable through `serde_json`.
pub const MAX_MAPPING_DEPTH: usize = 50;

/// The ES field types tern knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FieldType {
    Text,
    MatchOnlyText,
    Keyword,
    ConstantKeyword,
    Wildcard,
    Version,
    Long,
    Integer,
    Short,
    Byte,
    Double,
    Float,
    HalfFloat,
    ScaledFloat,
    UnsignedLong,
    Boolean,
    Date,
    DateNanos,
    Ip,
    Binary,
    Object,
    Nested,
    Flattened,
    GeoPoint,
    Alias,
}

impl FieldType {
    const ALL: [FieldType; 25] = [
        FieldType::Text,
        FieldType::MatchOnlyText,
        FieldType::Keyword,
        FieldType::ConstantKeyword,
        FieldType::Wildcard,
        FieldType::Version,
        FieldType::Long,
        FieldType::Integer,
        FieldType::Short,
        FieldType::Byte,
        FieldType::Double,
        FieldType::Float,
        FieldType::HalfFloat,
        FieldType::ScaledFloat,
        FieldType::UnsignedLong,
        FieldType::Boolean,
        FieldType::Date,
        FieldType::DateNanos,
        FieldType::Ip,
        FieldType::Binary,
        FieldType::Object,
        FieldType::Nested,
        FieldType::Flattened,
        FieldType::GeoPoint,
        FieldType::Alias,
    ];

    /// The ES type name (`"keyword"`, `"scaled_float"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::MatchOnlyText => "match_only_text",
            FieldType::Keyword => "keyword",
            FieldType::ConstantKeyword => "constant_keyword",
            FieldType::Wildcard => "wildcard",
            FieldType::Version => "version",
            FieldType::Long => "long",
            FieldType::Integer => "integer",
            FieldType::Short => "short",
            FieldType::Byte => "byte",
            FieldType::Double => "double",
            FieldType::Float => "float",
            FieldType::HalfFloat => "half_float",
            FieldType::ScaledFloat => "scaled_float",
            FieldType::UnsignedLong => "unsigned_long",
            FieldType::Boolean => "boolean",
            FieldType::Date => "date",
            FieldType::DateNanos => "date_nanos",
            FieldType::Ip => "ip",
            FieldType::Binary => "binary",
            FieldType::Object => "object",
            FieldType::Nested => "nested",
            FieldType::Flattened => "flattened",
            FieldType::GeoPoint => "geo_point",
            FieldType::Alias => "alias",
        }
    }

    /// Looks a type up by its ES name.
    pub fn from_name(name: &str) -> Option<FieldType> {
        FieldType::ALL.into_iter().find(|t| t.name() == name)
    }

    /// `object` or `nested`.
    pub fn is_object(self) -> bool {
        matches!(self, FieldType::Object | FieldType::Nested)
    }

    /// Any numeric type (including `scaled_float` and `unsigned_long`).
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            FieldType::Long
                | FieldType::Integer
                | FieldType::Short
                | FieldType::Byte
                | FieldType::Double
                | FieldType::Float
                | FieldType::HalfFloat
                | FieldType::ScaledFloat
                | FieldType::UnsignedLong
        )
    }

    /// Integral numeric types indexed as `I64`.
    pub fn is_integral(self) -> bool {
        matches!(self, FieldType::Long | FieldType::Integer | FieldType::Short | FieldType::Byte)
    }

    /// Types whose values are indexed as `Keyword`.
    pub fn is_keyword_like(self) -> bool {
        matches!(
            self,
            FieldType::Keyword
                | FieldType::ConstantKeyword
                | FieldType::Wildcard
                | FieldType::Version
                | FieldType::Flattened
        )
    }

    /// Types whose values are analyzed text.
    pub fn is_text(self) -> bool {
        matches!(self, FieldType::Text | FieldType::MatchOnlyText)
    }

    /// `date` or `date_nanos`.
    pub fn is_date(self) -> bool {
        matches!(self, FieldType::Date | FieldType::DateNanos)
    }
}

/// An object's `dynamic` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dynamic {
    True,
    False,
    Strict,
    /// ES's `runtime`: tern maps new fields like `true` (it has no runtime fields).
    Runtime,
}

impl Dynamic {
    /// As ES prints it in `GET _mapping` (always a string).
    pub fn as_str(self) -> &'static str {
        match self {
            Dynamic::True => "true",
            Dynamic::False => "false",
            Dynamic::Strict => "strict",
            Dynamic::Runtime => "runtime",
        }
    }

    pub(crate) fn parse(v: &Value, what: &str) -> Result<Dynamic, MappingError> {
        match v {
            Value::Bool(true) => Ok(Dynamic::True),
            Value::Bool(false) => Ok(Dynamic::False),
            Value::String(s) if s.eq_ignore_ascii_case("strict") => Ok(Dynamic::Strict),
            Value::String(s) if s.eq_ignore_ascii_case("runtime") => Ok(Dynamic::Runtime),
            Value::String(s) if s == "true" => Ok(Dynamic::True),
            Value::String(s) if s == "false" => Ok(Dynamic::False),
            _ => Err(MappingError::mapper_parsing(format!("Could not convert [{what}] to boolean"))),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    Str,
    Int,
    Float,
    Meta,
    StrList,
    Any,
    Format,
    NullValue,
}

#[derive(Debug, Clone, Copy)]
struct Param {
    name: &'static str,
    kind: Kind,
    updatable: bool,
}

const fn p(name: &'static str, kind: Kind, updatable: bool) -> Param {
    Param { name, kind, updatable }
}

const INDEX: Param = p("index", Kind::Bool, false);
const DOC_VALUES: Param = p("doc_values", Kind::Bool, false);
const STORE: Param = p("store", Kind::Bool, false);
const META: Param = p("meta", Kind::Meta, true);
const COPY_TO: Param = p("copy_to", Kind::StrList, true);
const BOOST: Param = p("boost", Kind::Float, true);
const SCRIPT: Param = p("script", Kind::Any, false);
const ON_SCRIPT_ERROR: Param = p("on_script_error", Kind::Str, true);
const IGNORE_MALFORMED: Param = p("ignore_malformed", Kind::Bool, true);
const COERCE: Param = p("coerce", Kind::Bool, true);
const NULL_VALUE: Param = p("null_value", Kind::NullValue, false);
const TS_DIMENSION: Param = p("time_series_dimension", Kind::Bool, false);
const TS_METRIC: Param = p("time_series_metric", Kind::Str, false);
const NORMS: Param = p("norms", Kind::Bool, true);
const SIMILARITY: Param = p("similarity", Kind::Str, false);
const INDEX_OPTIONS: Param = p("index_options", Kind::Str, false);
const EAGER_GLOBAL_ORDINALS: Param = p("eager_global_ordinals", Kind::Bool, true);
const IGNORE_ABOVE: Param = p("ignore_above", Kind::Int, true);
const SPLIT_QUERIES: Param = p("split_queries_on_whitespace", Kind::Bool, true);

const TEXT_PARAMS: &[Param] = &[
    INDEX,
    STORE,
    INDEX_OPTIONS,
    NORMS,
    p("term_vector", Kind::Str, false),
    p("analyzer", Kind::Str, false),
    p("search_analyzer", Kind::Str, true),
    p("search_quote_analyzer", Kind::Str, true),
    SIMILARITY,
    p("index_phrases", Kind::Bool, false),
    p("index_prefixes", Kind::Any, false),
    p("fielddata", Kind::Bool, true),
    p("fielddata_frequency_filter", Kind::Any, true),
    EAGER_GLOBAL_ORDINALS,
    p("position_increment_gap", Kind::Int, false),
    BOOST,
    META,
    COPY_TO,
];
const MATCH_ONLY_TEXT_PARAMS: &[Param] = &[META, COPY_TO];
const KEYWORD_PARAMS: &[Param] = &[
    INDEX,
    DOC_VALUES,
    STORE,
    NULL_VALUE,
    IGNORE_ABOVE,
    p("normalizer", Kind::Str, false),
    SPLIT_QUERIES,
    INDEX_OPTIONS,
    NORMS,
    SIMILARITY,
    EAGER_GLOBAL_ORDINALS,
    BOOST,
    META,
    COPY_TO,
    SCRIPT,
    ON_SCRIPT_ERROR,
    TS_DIMENSION,
];
const CONSTANT_KEYWORD_PARAMS: &[Param] = &[p("value", Kind::Any, false), META];
const WILDCARD_PARAMS: &[Param] = &[IGNORE_ABOVE, NULL_VALUE, META, COPY_TO];
const VERSION_PARAMS: &[Param] = &[META, COPY_TO];
const NUMBER_PARAMS: &[Param] = &[
    INDEX,
    DOC_VALUES,
    STORE,
    NULL_VALUE,
    COERCE,
    IGNORE_MALFORMED,
    BOOST,
    META,
    COPY_TO,
    SCRIPT,
    ON_SCRIPT_ERROR,
    TS_DIMENSION,
    TS_METRIC,
];
const SCALED_FLOAT_PARAMS: &[Param] = &[
    INDEX,
    DOC_VALUES,
    STORE,
    NULL_VALUE,
    COERCE,
    IGNORE_MALFORMED,
    BOOST,
    META,
    COPY_TO,
    SCRIPT,
    ON_SCRIPT_ERROR,
    TS_DIMENSION,
    TS_METRIC,
    p("scaling_factor", Kind::Float, false),
];
const UNSIGNED_LONG_PARAMS: &[Param] =
    &[INDEX, DOC_VALUES, STORE, NULL_VALUE, IGNORE_MALFORMED, BOOST, META, COPY_TO, TS_DIMENSION, TS_METRIC];
const BOOLEAN_PARAMS: &[Param] = &[
    INDEX,
    DOC_VALUES,
    STORE,
    NULL_VALUE,
    IGNORE_MALFORMED,
    BOOST,
    META,
    COPY_TO,
    SCRIPT,
    ON_SCRIPT_ERROR,
    TS_DIMENSION,
];
const DATE_PARAMS: &[Param] = &[
    INDEX,
    DOC_VALUES,
    STORE,
    p("format", Kind::Format, false),
    p("locale", Kind::Str, false),
    NULL_VALUE,
    IGNORE_MALFORMED,
    BOOST,
    META,
    COPY_TO,
    SCRIPT,
    ON_SCRIPT_ERROR,
];
const IP_PARAMS: &[Param] = &[
    INDEX,
    DOC_VALUES,
    STORE,
    NULL_VALUE,
    IGNORE_MALFORMED,
    BOOST,
    META,
    COPY_TO,
    SCRIPT,
    ON_SCRIPT_ERROR,
    TS_DIMENSION,
];
const BINARY_PARAMS: &[Param] = &[DOC_VALUES, STORE, META, COPY_TO];
const FLATTENED_PARAMS: &[Param] = &[
    p("depth_limit", Kind::Int, true),
    DOC_VALUES,
    EAGER_GLOBAL_ORDINALS,
    IGNORE_ABOVE,
    INDEX,
    INDEX_OPTIONS,
    NULL_VALUE,
    SIMILARITY,
    SPLIT_QUERIES,
    p("time_series_dimensions", Kind::Any, false),
    META,
    COPY_TO,
];
const GEO_POINT_PARAMS: &[Param] = &[
    IGNORE_MALFORMED,
    p("ignore_z_value", Kind::Bool, true),
    INDEX,
    DOC_VALUES,
    STORE,
    NULL_VALUE,
    META,
    COPY_TO,
    SCRIPT,
    ON_SCRIPT_ERROR,
];
const ALIAS_PARAMS: &[Param] = &[p("path", Kind::Str, true)];
const OBJECT_PARAMS: &[Param] =
    &[p("dynamic", Kind::Any, true), p("enabled", Kind::Bool, false), p("subobjects", Kind::Bool, false)];
const NESTED_PARAMS: &[Param] = &[
    p("dynamic", Kind::Any, true),
    p("enabled", Kind::Bool, false),
    p("subobjects", Kind::Bool, false),
    p("include_in_parent", Kind::Bool, false),
    p("include_in_root", Kind::Bool, false),
];

fn params_for(t: FieldType) -> &'static [Param] {
    match t {
        FieldType::Text => TEXT_PARAMS,
        FieldType::MatchOnlyText => MATCH_ONLY_TEXT_PARAMS,
        FieldType::Keyword => KEYWORD_PARAMS,
        FieldType::ConstantKeyword => CONSTANT_KEYWORD_PARAMS,
        FieldType::Wildcard => WILDCARD_PARAMS,
        FieldType::Version => VERSION_PARAMS,
        FieldType::Long
        | FieldType::Integer
        | FieldType::Short
        | FieldType::Byte
        | FieldType::Double
        | FieldType::Float
        | FieldType::HalfFloat => NUMBER_PARAMS,
        FieldType::ScaledFloat => SCALED_FLOAT_PARAMS,
        FieldType::UnsignedLong => UNSIGNED_LONG_PARAMS,
        FieldType::Boolean => BOOLEAN_PARAMS,
        FieldType::Date | FieldType::DateNanos => DATE_PARAMS,
        FieldType::Ip => IP_PARAMS,
        FieldType::Binary => BINARY_PARAMS,
        FieldType::Flattened => FLATTENED_PARAMS,
        FieldType::GeoPoint => GEO_POINT_PARAMS,
        FieldType::Alias => ALIAS_PARAMS,
        FieldType::Object => OBJECT_PARAMS,
        FieldType::Nested => NESTED_PARAMS,
    }
}

fn find_param(t: FieldType, name: &str) -> Option<Param> {
    params_for(t).iter().copied().find(|p| p.name == name)
}

/// The value a parameter has when it is not set, as ES compares it in merges.
fn default_param(t: FieldType, name: &str) -> Value {
    match name {
        "index" | "enabled" | "subobjects" | "coerce" | "ignore_z_value" => Value::Bool(true),
        "doc_values" => Value::Bool(!matches!(t, FieldType::Binary | FieldType::Text | FieldType::MatchOnlyText)),
        "norms" => Value::Bool(t == FieldType::Text),
        "store"
        | "ignore_malformed"
        | "index_phrases"
        | "fielddata"
        | "eager_global_ordinals"
        | "split_queries_on_whitespace"
        | "time_series_dimension"
        | "include_in_parent"
        | "include_in_root" => Value::Bool(false),
        "analyzer" | "search_analyzer" | "search_quote_analyzer" => Value::from("default"),
        "similarity" => Value::from("BM25"),
        "index_options" => Value::from(if t == FieldType::Text { "positions" } else { "docs" }),
        "term_vector" => Value::from("no"),
        "position_increment_gap" => Value::from(100),
        "ignore_above" => Value::from(2_147_483_647),
        "depth_limit" => Value::from(20),
        "format" => {
            Value::from(if t == FieldType::DateNanos { DEFAULT_DATE_NANOS_FORMAT } else { DEFAULT_DATE_FORMAT })
        }
        "locale" => Value::from(""),
        "boost" => Value::from(1.0),
        "meta" => Value::Object(Map::new()),
        "copy_to" => Value::Array(Vec::new()),
        _ => Value::Null,
    }
}

/// Parameters that ES always prints, even at their default.
fn always_serialized(name: &str) -> bool {
    matches!(name, "scaling_factor" | "path" | "value")
}

/// One field of a mapping: a leaf (with its multi-fields), an object/nested (with its properties),
/// or an alias.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldMapping {
    pub field_type: FieldType,
    /// Explicitly set, normalized, non-default parameters.
    params: BTreeMap<String, Value>,
    /// Sub-fields of an `object` / `nested`.
    pub properties: BTreeMap<String, FieldMapping>,
    /// Multi-fields of a leaf (`title.keyword`).
    pub fields: BTreeMap<String, FieldMapping>,
}

impl FieldMapping {
    /// A field of a type with no parameters set.
    pub fn new(field_type: FieldType) -> FieldMapping {
        FieldMapping { field_type, params: BTreeMap::new(), properties: BTreeMap::new(), fields: BTreeMap::new() }
    }

    /// An `object` with no properties.
    pub fn object() -> FieldMapping {
        FieldMapping::new(FieldType::Object)
    }

    /// What dynamic mapping creates for a string: `text` with a `keyword` multi-field
    /// (`ignore_above: 256`).
    pub fn dynamic_text() -> FieldMapping {
        let mut kw = FieldMapping::new(FieldType::Keyword);
        kw.params.insert("ignore_above".into(), Value::from(256));
        let mut f = FieldMapping::new(FieldType::Text);
        f.fields.insert("keyword".into(), kw);
        f
    }

    /// Sets a parameter (normalized like the mapping parser does). Unknown parameters are refused.
    pub fn with_param(mut self, name: &str, value: Value) -> Result<FieldMapping, MappingError> {
        let spec = find_param(self.field_type, name).ok_or_else(|| {
            MappingError::mapper_parsing(format!(
                "unknown parameter [{name}] for a field of type [{}]",
                self.field_type.name()
            ))
        })?;
        if let Some(v) = normalize_param(self.field_type, spec, &value, name)? {
            self.set_normalized(name, v);
        } else {
            self.params.remove(name);
        }
        Ok(self)
    }

    fn set_normalized(&mut self, name: &str, v: Value) {
        if !always_serialized(name) && v == default_param(self.field_type, name) {
            self.params.remove(name);
        } else {
            self.params.insert(name.to_string(), v);
        }
    }

    /// An explicitly set parameter, normalized (`None` when unset or set to its default).
    pub fn param(&self, name: &str) -> Option<&Value> {
        self.params.get(name)
    }

    /// All explicitly set parameters.
    pub fn params(&self) -> &BTreeMap<String, Value> {
        &self.params
    }

    /// The parameter's effective value: explicit, else ES's default.
    pub fn effective_param(&self, name: &str) -> Value {
        self.params.get(name).cloned().unwrap_or_else(|| default_param(self.field_type, name))
    }

    fn bool_param(&self, name: &str) -> bool {
        self.effective_param(name).as_bool().unwrap_or(false)
    }

    fn str_param(&self, name: &str) -> Option<&str> {
        self.params.get(name).and_then(Value::as_str)
    }

    /// `index` (default `true`).
    pub fn index(&self) -> bool {
        self.bool_param("index")
    }
    /// `doc_values` (default `true`, `false` for `text` and `binary`).
    pub fn doc_values(&self) -> bool {
        self.bool_param("doc_values")
    }
    /// `store` (default `false`).
    pub fn store(&self) -> bool {
        self.bool_param("store")
    }
    /// `norms` (default `true` for `text`, else `false`).
    pub fn norms(&self) -> bool {
        self.bool_param("norms")
    }
    /// `fielddata` on `text` (default `false`).
    pub fn fielddata(&self) -> bool {
        self.bool_param("fielddata")
    }
    /// `coerce` on numbers (default `true`).
    pub fn coerce(&self) -> bool {
        self.bool_param("coerce")
    }
    /// `ignore_malformed` as set on the field (`None` = the index default).
    pub fn ignore_malformed(&self) -> Option<bool> {
        self.params.get("ignore_malformed").and_then(Value::as_bool)
    }
    /// `ignore_above` for keyword-like fields (`None` = no limit).
    pub fn ignore_above(&self) -> Option<u32> {
        self.params.get("ignore_above").and_then(Value::as_u64).map(|v| u32::try_from(v).unwrap_or(u32::MAX))
    }
    /// `null_value`, as set.
    pub fn null_value(&self) -> Option<&Value> {
        self.params.get("null_value")
    }
    /// `analyzer` (`None` = the index default analyzer).
    pub fn analyzer(&self) -> Option<&str> {
        self.str_param("analyzer")
    }
    /// `search_analyzer`, falling back to `analyzer` like ES.
    pub fn search_analyzer(&self) -> Option<&str> {
        self.str_param("search_analyzer").or_else(|| self.analyzer())
    }
    /// `search_quote_analyzer`, falling back to the search analyzer like ES.
    pub fn search_quote_analyzer(&self) -> Option<&str> {
        self.str_param("search_quote_analyzer").or_else(|| self.search_analyzer())
    }
    /// `normalizer` of a keyword.
    pub fn normalizer(&self) -> Option<&str> {
        self.str_param("normalizer")
    }
    /// `scaling_factor` of a `scaled_float`.
    pub fn scaling_factor(&self) -> Option<f64> {
        self.params.get("scaling_factor").and_then(Value::as_f64)
    }
    /// The date `format` spec in effect (the type's default when unset).
    pub fn format(&self) -> &str {
        match self.str_param("format") {
            Some(f) => f,
            None if self.field_type == FieldType::DateNanos => DEFAULT_DATE_NANOS_FORMAT,
            None => DEFAULT_DATE_FORMAT,
        }
    }
    /// The compiled date format (shared, compiled once per spec).
    pub fn date_format(&self) -> Result<Arc<DateFormat>, DateError> {
        DateFormat::cached(self.format())
    }
    /// `dynamic` of an object, if set.
    pub fn dynamic(&self) -> Option<Dynamic> {
        self.params.get("dynamic").and_then(|v| Dynamic::parse(v, "dynamic").ok())
    }
    /// `enabled` of an object (default `true`).
    pub fn enabled(&self) -> bool {
        self.bool_param("enabled")
    }
    /// `subobjects` of an object (default `true`).
    pub fn subobjects(&self) -> bool {
        self.bool_param("subobjects")
    }
    /// `include_in_parent` of a nested object.
    pub fn include_in_parent(&self) -> bool {
        self.bool_param("include_in_parent")
    }
    /// `include_in_root` of a nested object.
    pub fn include_in_root(&self) -> bool {
        self.bool_param("include_in_root")
    }
    /// `path` of an alias.
    pub fn path(&self) -> Option<&str> {
        self.str_param("path")
    }
    /// `copy_to` targets.
    pub fn copy_to(&self) -> Vec<&str> {
        match self.params.get("copy_to") {
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }
    /// `meta`.
    pub fn meta(&self) -> Option<&Map<String, Value>> {
        self.params.get("meta").and_then(Value::as_object)
    }
    /// `value` of a `constant_keyword`.
    pub fn constant_value(&self) -> Option<&Value> {
        self.params.get("value")
    }
    /// `depth_limit` of a `flattened` field (default 20).
    pub fn depth_limit(&self) -> usize {
        self.effective_param("depth_limit").as_u64().map_or(20, |v| v as usize)
    }

    /// Converts a JSON value into what this field indexes, with the same rules as document parsing
    /// (coercion, formats) but without `null_value`/`ignore_above`/`ignore_malformed`. Handy to
    /// compile query terms. `Ok(None)` for JSON null and for types that index no values.
    pub fn value_from_json(&self, v: &Value) -> Result<Option<crate::value::IndexedValue>, MappingError> {
        let scalar = match v {
            Value::Null => Scalar::Null,
            Value::Bool(b) => Scalar::Bool(*b),
            Value::Number(n) => Scalar::Num { raw: n.to_string().into(), integral: n.is_i64() || n.is_u64() },
            Value::String(s) => Scalar::Str(s.as_str().into()),
            other => {
                return Err(MappingError::illegal_argument(format!(
                    "cannot convert [{}] to a value of field type [{}]",
                    java_to_string(other),
                    self.field_type.name()
                )));
            }
        };
        convert_scalar(self, "", &scalar).map(|c| c.into_value())
    }

    /// Renders this field as ES shows it in `GET _mapping`.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        match self.field_type {
            FieldType::Object => {
                if self.properties.is_empty() {
                    m.insert("type".into(), Value::from("object"));
                }
            }
            t => {
                m.insert("type".into(), Value::from(t.name()));
            }
        }
        for (k, v) in &self.params {
            m.insert(k.clone(), v.clone());
        }
        if !self.fields.is_empty() {
            let mut f = Map::new();
            for (k, v) in &self.fields {
                f.insert(k.clone(), v.to_json());
            }
            m.insert("fields".into(), Value::Object(f));
        }
        if self.field_type.is_object() && !self.properties.is_empty() {
            let mut props = Map::new();
            for (k, v) in &self.properties {
                props.insert(k.clone(), v.to_json());
            }
            m.insert("properties".into(), Value::Object(props));
        }
        Value::Object(m)
    }
}

/// Converts a parameter value into its stored form; `None` = treat as unset (a null `null_value`).
fn normalize_param(t: FieldType, spec: Param, v: &Value, field: &str) -> Result<Option<Value>, MappingError> {
    if v.is_null() {
        if spec.kind == Kind::NullValue {
            return Ok(None);
        }
        return Err(MappingError::mapper_parsing(format!(
            "[{}] on mapper [{field}] of type [{}] must not have a [null] value",
            spec.name,
            t.name()
        )));
    }
    let out = match spec.kind {
        Kind::Bool => Value::Bool(parse_bool(v)?),
        Kind::Str => match v {
            Value::String(s) => Value::String(s.clone()),
            Value::Number(_) | Value::Bool(_) => Value::String(java_to_string(v)),
            other => {
                return Err(MappingError::mapper_parsing(format!(
                    "Wrong value for parameter [{}] on field [{field}]: expected a string but got {}",
                    spec.name,
                    java_to_string(other)
                )));
            }
        },
        Kind::Int => {
            let n = match v {
                Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
                Value::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            }
            .ok_or_else(|| MappingError::mapper_parsing(format!("For input string: \"{}\"", java_to_string(v))))?;
            if spec.name == "ignore_above" && n < 0 {
                return Err(MappingError::mapper_parsing(format!("[ignore_above] must be positive, got [{n}]")));
            }
            Value::from(n)
        }
        Kind::Float => {
            let f = match v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            }
            .ok_or_else(|| MappingError::mapper_parsing(format!("For input string: \"{}\"", java_to_string(v))))?;
            if spec.name == "scaling_factor" && !(f.is_finite() && f > 0.0) {
                return Err(MappingError::mapper_parsing(format!(
                    "[scaling_factor] must be a positive number, got [{}]",
                    crate::util::java_double(f)
                )));
            }
            serde_json::Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null)
        }
        Kind::Meta => {
            let Value::Object(m) = v else {
                return Err(MappingError::mapper_parsing(format!(
                    "[meta] must be an object, got {} for field [{field}]",
                    java_class(v)
                )));
            };
            if m.len() > 5 {
                return Err(MappingError::mapper_parsing(format!(
                    "[meta] can't have more than 5 entries, but got {} on field [{field}]",
                    m.len()
                )));
            }
            for (k, val) in m {
                if k.chars().count() > 20 {
                    return Err(MappingError::mapper_parsing(format!(
                        "[meta] keys can't be longer than 20 chars, but got [{k}] for field [{field}]"
                    )));
                }
                match val {
                    Value::String(s) if s.chars().count() > 50 => {
                        return Err(MappingError::mapper_parsing(format!(
                            "[meta] values can't be longer than 50 chars, but got [{s}] for field [{field}]"
                        )));
                    }
                    Value::String(_) => {}
                    other => {
                        let class = match other {
                            Value::Number(n) if n.is_i64() || n.is_u64() => "Integer",
                            Value::Number(_) => "Double",
                            Value::Bool(_) => "Boolean",
                            Value::Array(_) => "ArrayList",
                            Value::Object(_) => "LinkedHashMap",
                            _ => "null",
                        };
                        return Err(MappingError::mapper_parsing(format!(
                            "[meta] values can only be strings, but got {class}[{}] for field [{field}]",
                            java_to_string(other)
                        )));
                    }
                }
            }
            v.clone()
        }
        Kind::StrList => match v {
            Value::String(s) => Value::Array(vec![Value::String(s.clone())]),
            Value::Array(a) => {
                let mut out = Vec::with_capacity(a.len());
                for x in a {
                    match x {
                        Value::String(s) => out.push(Value::String(s.clone())),
                        other => out.push(Value::String(java_to_string(other))),
                    }
                }
                Value::Array(out)
            }
            other => Value::Array(vec![Value::String(java_to_string(other))]),
        },
        Kind::Any => v.clone(),
        Kind::Format => {
            let spec_str = match v {
                Value::String(s) => s.clone(),
                other => java_to_string(other),
            };
            if let Err(e) = DateFormat::parse(&spec_str) {
                return Err(MappingError::mapper_parsing(format!("Error parsing [format] on field [{field}]: {e}")));
            }
            Value::String(spec_str)
        }
        Kind::NullValue => normalize_null_value(t, v, field)?,
    };
    Ok(Some(out))
}

/// ES `Booleans.parseBoolean`: `true`/`false` (booleans or strings).
pub(crate) fn parse_bool(v: &Value) -> Result<bool, MappingError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s == "true" => Ok(true),
        Value::String(s) if s == "false" => Ok(false),
        other => Err(MappingError::mapper_parsing(format!(
            "Failed to parse value [{}] as only [true] or [false] are allowed.",
            java_to_string(other)
        ))),
    }
}

/// Validates `null_value` with the field's own value parser and stores it in the field's type.
fn normalize_null_value(t: FieldType, v: &Value, field: &str) -> Result<Value, MappingError> {
    let probe = FieldMapping::new(t);
    let converted = match t {
        FieldType::GeoPoint | FieldType::Binary => return Ok(v.clone()),
        // Dates are checked against the field's own `format` once all parameters are read.
        FieldType::Date | FieldType::DateNanos => {
            return Ok(match v {
                Value::String(_) => v.clone(),
                other => Value::String(java_to_string(other)),
            });
        }
        _ => probe.value_from_json(v),
    };
    let converted = converted
        .map_err(|e| MappingError::mapper_parsing(format!("Error parsing [null_value] on field [{field}]: {e}")))?;
    Ok(match (t, converted) {
        (t, Some(crate::value::IndexedValue::I64(i))) if t.is_integral() => Value::from(i),
        (FieldType::UnsignedLong, Some(crate::value::IndexedValue::U64(u))) => Value::from(u),
        (FieldType::Boolean, Some(crate::value::IndexedValue::Bool(b))) => Value::Bool(b),
        (FieldType::Double | FieldType::Float | FieldType::HalfFloat | FieldType::ScaledFloat, _) => match v {
            Value::String(s) => s
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .unwrap_or_else(|| v.clone()),
            _ => v.clone(),
        },
        (_, _) => match v {
            Value::String(_) => v.clone(),
            other => Value::String(java_to_string(other)),
        },
    })
}

/// Validates a (non-dotted) field name.
fn validate_field_name(name: &str) -> Result<(), MappingError> {
    if name.is_empty() {
        return Err(MappingError::mapper_parsing("field name cannot be an empty string"));
    }
    if name.trim().is_empty() {
        return Err(MappingError::mapper_parsing(format!("field name cannot contain only whitespace: ['{name}']")));
    }
    Ok(())
}

/// Splits a dotted property name like ES does when `subobjects` is on.
pub(crate) fn split_dotted(name: &str) -> Result<Vec<&str>, String> {
    if name.chars().all(|c| c == '.') {
        return Err("field name cannot contain only dots".to_string());
    }
    let parts: Vec<&str> = name.split('.').collect();
    for part in &parts {
        if part.is_empty() {
            return Err(format!(
                "object field starting or ending with a [.] makes object resolution ambiguous: [{name}]"
            ));
        }
        if part.trim().is_empty() {
            return Err(format!("object field cannot contain only whitespace: ['{name}']"));
        }
    }
    Ok(parts)
}

fn depth_error(path: &str) -> MappingError {
    MappingError::illegal_argument(format!(
        "Limit of mapping depth [{MAX_MAPPING_DEPTH}] has been exceeded due to object field [{path}]"
    ))
}

/// Parses a `properties` object. `owner` is the full path of the object that holds it (`""` for
/// the root), `depth` its object depth (root = 1).
pub(crate) fn parse_properties(
    props: &Value,
    owner: &str,
    subobjects: bool,
    depth: usize,
) -> Result<BTreeMap<String, FieldMapping>, MappingError> {
    let mut out: BTreeMap<String, FieldMapping> = BTreeMap::new();
    let map = match props {
        Value::Object(m) => m,
        Value::Array(a) if a.is_empty() => return Ok(out),
        Value::Null => return Ok(out),
        other => {
            let owner_name = if owner.is_empty() { "_doc" } else { owner };
            return Err(MappingError::mapper_parsing(format!(
                "Expected map for property [properties] on field [{owner_name}] but got a {}",
                java_class(other)
            )));
        }
    };
    for (name, def) in map {
        validate_field_name(name)?;
        if let Value::Array(a) = def
            && a.is_empty()
        {
            continue;
        }
        if !def.is_object() {
            return Err(MappingError::mapper_parsing(format!(
                "Expected map for property [fields] on field [{name}] but got a {}",
                java_class(def)
            )));
        }
        let (segments, leaf_name): (Vec<&str>, &str) = if subobjects && name.contains('.') {
            let parts = split_dotted(name).map_err(MappingError::mapper_parsing)?;
            let (last, init) = parts
                .split_last()
                .ok_or_else(|| MappingError::mapper_parsing("field name cannot contain only dots"))?;
            (init.to_vec(), *last)
        } else {
            (Vec::new(), name.as_str())
        };
        if depth + segments.len() > MAX_MAPPING_DEPTH {
            return Err(depth_error(&join_path(owner, name)));
        }
        let parent_path = segments.iter().fold(owner.to_string(), |acc, s| join_path(&acc, s));
        let mut fm = parse_field(leaf_name, &parent_path, def, depth + segments.len(), false)?;
        // Wrap dotted names into objects, innermost first.
        let mut child_name = leaf_name.to_string();
        for seg in segments.iter().rev() {
            let mut obj = FieldMapping::object();
            obj.properties.insert(child_name, fm);
            fm = obj;
            child_name = (*seg).to_string();
        }
        match out.get_mut(&child_name) {
            Some(existing) => merge_field(existing, &fm, &join_path(owner, &child_name))?,
            None => {
                out.insert(child_name, fm);
            }
        }
    }
    Ok(out)
}

/// Parses one field definition. `parent` is the full path of the enclosing object.
pub(crate) fn parse_field(
    name: &str,
    parent: &str,
    def: &Value,
    depth: usize,
    multi_field: bool,
) -> Result<FieldMapping, MappingError> {
    let Value::Object(map) = def else {
        return Err(MappingError::mapper_parsing(format!(
            "Expected map for property [fields] on field [{name}] but got a {}",
            java_class(def)
        )));
    };
    let full = join_path(parent, name);
    let field_type = match map.get("type") {
        Some(Value::String(t)) => FieldType::from_name(t).ok_or_else(|| {
            MappingError::mapper_parsing(format!("No handler for type [{t}] declared on field [{name}]"))
        })?,
        Some(other) => {
            return Err(MappingError::mapper_parsing(format!(
                "No handler for type [{}] declared on field [{name}]",
                java_to_string(other)
            )));
        }
        None => {
            if map.contains_key("properties") || (map.len() == 1 && map.contains_key("enabled")) {
                FieldType::Object
            } else {
                return Err(MappingError::mapper_parsing(format!("No type specified for field [{name}]")));
            }
        }
    };
    if multi_field && (field_type.is_object() || field_type == FieldType::Alias) {
        return Err(MappingError::mapper_parsing(format!(
            "Type [{}] cannot be used in multi field",
            field_type.name()
        )));
    }
    let mut fm = FieldMapping::new(field_type);
    if field_type.is_object() {
        if depth + 1 > MAX_MAPPING_DEPTH {
            return Err(depth_error(&full));
        }
        let mut unsupported = Vec::new();
        let mut props_def: Option<&Value> = None;
        for (k, v) in map {
            match k.as_str() {
                "type" => {}
                "properties" => props_def = Some(v),
                "dynamic" => {
                    let d = Dynamic::parse(v, &format!("{name}.dynamic"))?;
                    fm.params.insert("dynamic".into(), Value::from(d.as_str()));
                }
                "enabled" | "subobjects" | "include_in_parent" | "include_in_root"
                    if find_param(field_type, k).is_some() =>
                {
                    let b = parse_bool(v).map_err(|_| {
                        MappingError::mapper_parsing(format!("Could not convert [{name}.{k}] to boolean"))
                    })?;
                    fm.set_normalized(k, Value::Bool(b));
                }
                _ => unsupported.push(format!(" [{k} : {}]", java_to_string(v))),
            }
        }
        if !unsupported.is_empty() {
            return Err(MappingError::mapper_parsing(format!(
                "Mapping definition for [{name}] has unsupported parameters: {}",
                unsupported.concat()
            )));
        }
        if let Some(pd) = props_def {
            fm.properties = parse_properties(pd, &full, fm.subobjects(), depth + 1)?;
        }
        return Ok(fm);
    }
    for (k, v) in map {
        match k.as_str() {
            "type" => {}
            "fields" => {
                if multi_field {
                    return Err(MappingError::mapper_parsing(format!(
                        "At least one multi-field, [{name}], was encountered that itself contains a multi-field. Defining multi-fields within a multi-field is not supported for indices created in 8.0 and later."
                    )));
                }
                if field_type == FieldType::Alias {
                    return Err(MappingError::mapper_parsing(format!(
                        "unknown parameter [fields] on mapper [{name}] of type [alias]"
                    )));
                }
                let Value::Object(subs) = v else {
                    if matches!(v, Value::Array(a) if a.is_empty()) {
                        continue;
                    }
                    return Err(MappingError::mapper_parsing(format!(
                        "Expected map for property [fields] on field [{name}] but got a {}",
                        java_class(v)
                    )));
                };
                for (sub_name, sub_def) in subs {
                    validate_field_name(sub_name)?;
                    if sub_name.contains('.') {
                        return Err(MappingError::mapper_parsing(format!(
                            "Field name [{sub_name}] which is a multi field of [{name}] cannot contain '.'"
                        )));
                    }
                    let sub = parse_field(sub_name, &full, sub_def, depth, true)?;
                    fm.fields.insert(sub_name.clone(), sub);
                }
            }
            "copy_to" if multi_field => {
                return Err(MappingError::mapper_parsing(format!(
                    "[copy_to] may not be used to copy from a multi-field: [{full}]"
                )));
            }
            _ => {
                let Some(spec) = find_param(field_type, k) else {
                    return Err(MappingError::mapper_parsing(format!(
                        "unknown parameter [{k}] on mapper [{name}] of type [{}]",
                        field_type.name()
                    )));
                };
                if let Some(nv) = normalize_param(field_type, spec, v, name)? {
                    fm.set_normalized(k, nv);
                }
            }
        }
    }
    // Required parameters.
    if field_type == FieldType::ScaledFloat && fm.scaling_factor().is_none() {
        return Err(MappingError::mapper_parsing("Field [scaling_factor] is required"));
    }
    if field_type == FieldType::Alias && fm.path().is_none() {
        return Err(MappingError::mapper_parsing(format!("The [path] property must be specified for field [{name}].")));
    }
    // A date null_value must parse with the field's own format.
    if field_type.is_date()
        && let Some(Value::String(nv)) = fm.null_value()
    {
        let f = fm.date_format().map_err(MappingError::from)?;
        if let Err(e) = f.parse_millis(nv, None) {
            return Err(MappingError::mapper_parsing(format!("Error parsing [null_value] on field [{name}]: {e}")));
        }
    }
    Ok(fm)
}

/// Merges `update` into `existing` like a put-mapping: type changes are refused, non-updatable
/// parameters must keep their effective value, updatable ones take the update's value, multi-fields
/// and properties are merged.
pub(crate) fn merge_field(existing: &mut FieldMapping, update: &FieldMapping, path: &str) -> Result<(), MappingError> {
    let (et, ut) = (existing.field_type, update.field_type);
    if et.is_object() || ut.is_object() {
        if et.is_object() && !ut.is_object() {
            return Err(MappingError::illegal_argument(format!(
                "can't merge a non object mapping [{path}] with an object mapping"
            )));
        }
        if !et.is_object() && ut.is_object() {
            return Err(MappingError::illegal_argument(format!(
                "mapper [{path}] cannot be changed from type [{}] to [{}]",
                et.name(),
                ut.name()
            )));
        }
        if et != ut {
            return Err(MappingError::illegal_argument(format!(
                "can't merge a non-nested mapping [{path}] with a nested mapping"
            )));
        }
        if let Some(d) = update.params.get("dynamic") {
            existing.params.insert("dynamic".into(), d.clone());
        }
        for name in ["enabled", "subobjects", "include_in_parent", "include_in_root"] {
            if find_param(et, name).is_none() || !update.params.contains_key(name) {
                continue;
            }
            if existing.effective_param(name) != update.effective_param(name) {
                return Err(MappingError::mapper_parsing(format!(
                    "the [{name}] parameter can't be updated for the object mapping [{path}]"
                )));
            }
        }
        merge_properties(&mut existing.properties, &update.properties, path)?;
        return Ok(());
    }
    if et != ut {
        return Err(MappingError::illegal_argument(format!(
            "mapper [{path}] cannot be changed from type [{}] to [{}]",
            et.name(),
            ut.name()
        )));
    }
    let mut conflicts = Vec::new();
    let mut merged = existing.params.clone();
    for spec in params_for(et) {
        let old = existing.effective_param(spec.name);
        let new = update.effective_param(spec.name);
        let ok = if spec.name == "norms" {
            old == new || (old == Value::Bool(true) && new == Value::Bool(false))
        } else if spec.name == "value" && et == FieldType::ConstantKeyword {
            old.is_null() || old == new || new.is_null()
        } else {
            spec.updatable || old == new
        };
        if !ok {
            conflicts.push(format!(
                "Cannot update parameter [{}] from [{}] to [{}]",
                spec.name,
                java_to_string(&old),
                java_to_string(&new)
            ));
            continue;
        }
        if spec.name == "value" && et == FieldType::ConstantKeyword && new.is_null() {
            continue;
        }
        match update.params.get(spec.name) {
            Some(v) => {
                merged.insert(spec.name.to_string(), v.clone());
            }
            None => {
                merged.remove(spec.name);
            }
        }
    }
    if !conflicts.is_empty() {
        return Err(MappingError::illegal_argument(format!(
            "Mapper for [{path}] conflicts with existing mapper:\n\t{}",
            conflicts.join("\n\t")
        )));
    }
    let mut fields = existing.fields.clone();
    for (name, sub) in &update.fields {
        let sub_path = join_path(path, name);
        match fields.get_mut(name) {
            Some(e) => merge_field(e, sub, &sub_path)?,
            None => {
                fields.insert(name.clone(), sub.clone());
            }
        }
    }
    existing.params = merged;
    existing.fields = fields;
    Ok(())
}

/// Merges properties maps (children are merged in place; callers merge on a copy to stay atomic).
pub(crate) fn merge_properties(
    existing: &mut BTreeMap<String, FieldMapping>,
    update: &BTreeMap<String, FieldMapping>,
    owner: &str,
) -> Result<(), MappingError> {
    for (name, fm) in update {
        let path = join_path(owner, name);
        match existing.get_mut(name) {
            Some(e) => merge_field(e, fm, &path)?,
            None => {
                existing.insert(name.clone(), fm.clone());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(def: Value) -> Result<FieldMapping, MappingError> {
        parse_field("f", "", &def, 1, false)
    }

    #[test]
    fn parses_and_normalizes_params() {
        let f = parse(json!({"type": "keyword", "ignore_above": "256", "index": "true", "doc_values": false}))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(f.to_json(), json!({"type": "keyword", "ignore_above": 256, "doc_values": false}));
        assert_eq!(f.ignore_above(), Some(256));
        assert!(f.index());
        assert!(!f.doc_values());
    }

    #[test]
    fn unknown_type_and_param() {
        assert_eq!(
            parse(json!({"type": "foo"})).err().map(|e| e.to_string()),
            Some("No handler for type [foo] declared on field [f]".into())
        );
        assert_eq!(
            parse(json!({"type": "keyword", "x": 1})).err().map(|e| e.to_string()),
            Some("unknown parameter [x] on mapper [f] of type [keyword]".into())
        );
        assert_eq!(
            parse(json!({"index": false})).err().map(|e| e.to_string()),
            Some("No type specified for field [f]".into())
        );
        assert_eq!(
            parse(json!({"type": "keyword", "ignore_above": null})).err().map(|e| e.to_string()),
            Some("[ignore_above] on mapper [f] of type [keyword] must not have a [null] value".into())
        );
        assert_eq!(
            parse(json!({"type": "scaled_float"})).err().map(|e| e.to_string()),
            Some("Field [scaling_factor] is required".into())
        );
        assert!(parse(json!({"type": "date", "format": "yyyy-MM-dd bogus"})).is_err());
        assert!(parse(json!({"type": "long", "null_value": "abc"})).is_err());
        assert!(parse(json!({"type": "date", "null_value": "not a date"})).is_err());
        let d = parse(json!({"type": "date", "format": "yyyy/MM/dd", "null_value": "2020/01/02"}))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.null_value(), Some(&json!("2020/01/02")));
    }

    #[test]
    fn multi_fields() {
        let f =
            parse(json!({"type": "text", "fields": {"raw": {"type": "keyword"}}})).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(f.fields.len(), 1);
        assert!(parse(json!({"type": "text", "fields": {"o": {"type": "object"}}})).is_err());
        assert!(parse(json!({"type": "text", "fields": {"a.b": {"type": "keyword"}}})).is_err());
        assert!(
            parse(json!({"type": "text", "fields": {"k": {"type": "keyword", "fields": {"x": {"type": "keyword"}}}}}))
                .is_err()
        );
    }

    #[test]
    fn merge_rules() {
        let mut a = parse(json!({"type": "keyword", "ignore_above": 10})).unwrap_or_else(|e| panic!("{e}"));
        let b = parse(json!({"type": "keyword", "ignore_above": 20, "fields": {"t": {"type": "text"}}}))
            .unwrap_or_else(|e| panic!("{e}"));
        merge_field(&mut a, &b, "f").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.ignore_above(), Some(20));
        assert_eq!(a.fields.len(), 1);
        let c = parse(json!({"type": "keyword", "index": false})).unwrap_or_else(|e| panic!("{e}"));
        let err = merge_field(&mut a, &c, "f").err().map(|e| e.to_string());
        assert_eq!(
            err,
            Some("Mapper for [f] conflicts with existing mapper:\n\tCannot update parameter [index] from [true] to [false]".into())
        );
        let d = parse(json!({"type": "long"})).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            merge_field(&mut a, &d, "f").err().map(|e| e.to_string()),
            Some("mapper [f] cannot be changed from type [keyword] to [long]".into())
        );
        // Analyzer conflicts show ES's "default".
        let mut t = parse(json!({"type": "text"})).unwrap_or_else(|e| panic!("{e}"));
        let t2 = parse(json!({"type": "text", "analyzer": "english"})).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            merge_field(&mut t, &t2, "t")
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
                .contains("Cannot update parameter [analyzer] from [default] to [english]")
        );
        // norms may go from true to false only.
        let t3 = parse(json!({"type": "text", "norms": false})).unwrap_or_else(|e| panic!("{e}"));
        assert!(merge_field(&mut t, &t3, "t").is_ok());
        let t4 = parse(json!({"type": "text", "norms": true})).unwrap_or_else(|e| panic!("{e}"));
        assert!(merge_field(&mut t, &t4, "t").is_err());
    }
}
