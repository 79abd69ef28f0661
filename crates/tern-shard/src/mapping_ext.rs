//! What the shard needs to know about a field, derived from the mapping crate's model.
//!
//! The mapping crate knows ES field types; the shard cares about where a value lives in tantivy and
//! how it compares. [`FieldKind`] is that coarser view.

use serde_json::Value;
use tern_common::EsError;
use tern_mapping::date::{DateFormat, parse_date_math};
use tern_mapping::{FieldType, Mapping};

/// How the shard stores and compares a field's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Analyzed text in a text slot.
    Text,
    /// Exact strings in `_k`.
    Keyword,
    /// Numbers in `_k`.
    Numeric,
    /// Epoch milliseconds in `_k`.
    Date,
    Boolean,
    Ip,
    Object,
}

pub trait MappingExt {
    fn field_kind(&self, path: &str) -> Option<FieldKind>;
    fn field_paths(&self) -> Vec<String>;
    fn is_integer_field(&self, path: &str) -> bool;
    fn normalize_keyword(&self, path: &str, value: &str) -> String;
    fn text_analyzer(&self, path: &str) -> Option<String>;
    fn text_search_analyzer(&self, path: &str) -> Option<String>;
    /// A date query value (string with the field's format or date math, or epoch millis) to millis.
    fn parse_date_value(
        &self,
        path: &str,
        value: &Value,
        now_millis: i64,
        round_up: bool,
        format: Option<&str>,
        time_zone: Option<&str>,
    ) -> Result<i64, EsError>;
}

impl MappingExt for Mapping {
    fn field_kind(&self, path: &str) -> Option<FieldKind> {
        let (_, f) = self.resolve_field(path)?;
        Some(match f.field_type {
            FieldType::Text | FieldType::MatchOnlyText => FieldKind::Text,
            FieldType::Keyword
            | FieldType::ConstantKeyword
            | FieldType::Wildcard
            | FieldType::Version
            | FieldType::Flattened => FieldKind::Keyword,
            FieldType::Long
            | FieldType::Integer
            | FieldType::Short
            | FieldType::Byte
            | FieldType::Double
            | FieldType::Float
            | FieldType::HalfFloat
            | FieldType::ScaledFloat
            | FieldType::UnsignedLong => FieldKind::Numeric,
            FieldType::Boolean => FieldKind::Boolean,
            FieldType::Date | FieldType::DateNanos => FieldKind::Date,
            FieldType::Ip => FieldKind::Ip,
            FieldType::Object | FieldType::Nested | FieldType::Binary | FieldType::GeoPoint | FieldType::Alias => {
                FieldKind::Object
            }
        })
    }

    fn field_paths(&self) -> Vec<String> {
        self.fields().map(|(p, _)| p).collect()
    }

    fn is_integer_field(&self, path: &str) -> bool {
        self.resolve_field(path).map(|(_, f)| f.field_type.is_integral()).unwrap_or(false)
    }

    fn normalize_keyword(&self, _path: &str, value: &str) -> String {
        value.to_string()
    }

    fn text_analyzer(&self, path: &str) -> Option<String> {
        self.resolve_field(path).and_then(|(_, f)| f.analyzer().map(String::from))
    }

    fn text_search_analyzer(&self, path: &str) -> Option<String> {
        self.resolve_field(path).and_then(|(_, f)| f.search_analyzer().or(f.analyzer()).map(String::from))
    }

    fn parse_date_value(
        &self,
        path: &str,
        value: &Value,
        now_millis: i64,
        round_up: bool,
        format: Option<&str>,
        time_zone: Option<&str>,
    ) -> Result<i64, EsError> {
        let fmt = match format {
            Some(f) => DateFormat::cached(f).map_err(EsError::from)?,
            None => match self.resolve_field(path) {
                Some((_, f)) => f.date_format().map_err(EsError::from)?,
                None => DateFormat::default_date(),
            },
        };
        match value {
            Value::Number(n) => Ok(n.as_i64().unwrap_or_else(|| n.as_f64().unwrap_or(0.0) as i64)),
            Value::String(s) => parse_date_math(s, now_millis, round_up, &fmt, time_zone).map_err(EsError::from),
            other => Err(EsError::illegal_argument(format!("failed to parse date field [{other}]"))),
        }
    }
}
