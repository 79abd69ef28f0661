//! Errors of this crate and their ES rendering.
//!
//! Every variant maps onto one ES exception type (see [`MappingError::es_type`]) and converts into a
//! [`tern_common::EsError`] with its `caused_by` chain, so the REST edge renders exactly what ES 8
//! answers (`mapper_parsing_exception`, `document_parsing_exception`,
//! `strict_dynamic_mapping_exception`, `illegal_argument_exception`, ...).

use std::fmt;

use tern_common::{ErrorKind, EsError};

use crate::date::DateError;

/// A position in the source document, as Jackson reports it: 1-based line, 1-based byte column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Location {
    pub line: u32,
    pub column: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// `"[line:col] "` when a location is known, as ES prefixes its parse exceptions.
fn prefix(location: &Option<Location>) -> String {
    match location {
        Some(l) => format!("[{l}] "),
        None => String::new(),
    }
}

/// Everything that can go wrong while parsing or merging a mapping or parsing a document.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MappingError {
    /// `mapper_parsing_exception`: an invalid mapping definition.
    #[error("{reason}")]
    MapperParsing { reason: String, caused_by: Option<Box<MappingError>> },
    /// `illegal_argument_exception`: merge conflicts, limits, bad values.
    #[error("{0}")]
    IllegalArgument(String),
    /// `number_format_exception` (Java's `NumberFormatException`, seen as a cause of a field failure).
    #[error("{0}")]
    NumberFormat(String),
    /// `illegal_state_exception`.
    #[error("{0}")]
    IllegalState(String),
    /// `document_parsing_exception`, `[line:col]`-prefixed when the location is known.
    #[error("{}{reason}", prefix(location))]
    DocumentParsing { location: Option<Location>, reason: String, caused_by: Option<Box<MappingError>> },
    /// `strict_dynamic_mapping_exception`.
    #[error(
        "{}mapping set to strict, dynamic introduction of [{field}] within [{parent}] is not allowed",
        prefix(location)
    )]
    StrictDynamicMapping { location: Option<Location>, field: String, parent: String },
    /// `x_content_parse_exception`: malformed JSON.
    #[error("{}{reason}", prefix(location))]
    XContentParse { location: Option<Location>, reason: String },
    /// A date format, date value or date math error.
    #[error(transparent)]
    Date(#[from] DateError),
}

impl MappingError {
    pub(crate) fn mapper_parsing(reason: impl Into<String>) -> Self {
        MappingError::MapperParsing { reason: reason.into(), caused_by: None }
    }

    pub(crate) fn illegal_argument(reason: impl Into<String>) -> Self {
        MappingError::IllegalArgument(reason.into())
    }

    pub(crate) fn document_parsing(
        location: Option<Location>,
        reason: impl Into<String>,
        caused_by: Option<MappingError>,
    ) -> Self {
        MappingError::DocumentParsing { location, reason: reason.into(), caused_by: caused_by.map(Box::new) }
    }

    /// The ES exception type string of this error.
    pub fn es_type(&self) -> &'static str {
        match self {
            MappingError::MapperParsing { .. } => "mapper_parsing_exception",
            MappingError::IllegalArgument(_) => "illegal_argument_exception",
            MappingError::NumberFormat(_) => "number_format_exception",
            MappingError::IllegalState(_) => "illegal_state_exception",
            MappingError::DocumentParsing { .. } => "document_parsing_exception",
            MappingError::StrictDynamicMapping { .. } => "strict_dynamic_mapping_exception",
            MappingError::XContentParse { .. } => "x_content_parse_exception",
            MappingError::Date(d) => d.es_type(),
        }
    }

    /// The HTTP status ES answers with (all of these are client errors).
    pub fn status(&self) -> u16 {
        400
    }

    /// The error as ES reports it when it happens while *creating an index*: ES wraps the mapping
    /// error into `mapper_parsing_exception` `"Failed to parse mapping: <reason>"` with the original
    /// error as `caused_by`. Put-mapping reports the bare error instead (use `EsError::from`).
    pub fn into_create_index_error(self) -> EsError {
        let reason = format!("Failed to parse mapping: {self}");
        EsError::new(ErrorKind::MapperParsing, reason).caused_by(EsError::from(self))
    }
}

impl From<MappingError> for EsError {
    fn from(e: MappingError) -> Self {
        let reason = e.to_string();
        match e {
            MappingError::MapperParsing { caused_by, .. } => {
                let base = EsError::new(ErrorKind::MapperParsing, reason);
                match caused_by {
                    Some(c) => base.caused_by(EsError::from(*c)),
                    None => base,
                }
            }
            MappingError::IllegalArgument(_) => EsError::new(ErrorKind::IllegalArgument, reason),
            MappingError::NumberFormat(_) => {
                EsError::new(ErrorKind::IllegalArgument, reason).with_type("number_format_exception")
            }
            MappingError::IllegalState(_) => EsError::new(ErrorKind::IllegalState, reason),
            MappingError::DocumentParsing { caused_by, .. } => {
                let base = EsError::new(ErrorKind::DocumentParsing, reason);
                match caused_by {
                    Some(c) => base.caused_by(EsError::from(*c)),
                    None => base,
                }
            }
            MappingError::StrictDynamicMapping { .. } => EsError::new(ErrorKind::StrictDynamicMappingViolation, reason),
            MappingError::XContentParse { .. } => EsError::new(ErrorKind::XContentParse, reason),
            MappingError::Date(d) => EsError::from(d),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_parsing_renders_with_location_and_cause() {
        let e = MappingError::document_parsing(
            Some(Location { line: 1, column: 9 }),
            "failed to parse field [age] of type [long] in document with id '1'. Preview of field's value: 'abc'",
            Some(MappingError::illegal_argument("For input string: \"abc\"")),
        );
        let es: EsError = e.into();
        let body = es.to_body();
        assert_eq!(body["error"]["type"], "document_parsing_exception");
        assert_eq!(
            body["error"]["reason"],
            "[1:9] failed to parse field [age] of type [long] in document with id '1'. Preview of field's value: 'abc'"
        );
        assert_eq!(body["error"]["caused_by"]["type"], "illegal_argument_exception");
        assert_eq!(body["error"]["root_cause"][0]["type"], "illegal_argument_exception");
        assert_eq!(body["status"], 400);
    }

    #[test]
    fn strict_renders_exact_text() {
        let e = MappingError::StrictDynamicMapping {
            location: Some(Location { line: 1, column: 9 }),
            field: "foo".into(),
            parent: "_doc".into(),
        };
        let es: EsError = e.into();
        assert_eq!(es.es_type(), "strict_dynamic_mapping_exception");
        assert_eq!(
            es.reason,
            "[1:9] mapping set to strict, dynamic introduction of [foo] within [_doc] is not allowed"
        );
    }

    #[test]
    fn number_format_keeps_java_type() {
        let es: EsError = MappingError::NumberFormat("For input string: \"x\"".into()).into();
        assert_eq!(es.es_type(), "number_format_exception");
        assert_eq!(es.status(), 400);
    }

    #[test]
    fn create_index_wraps() {
        let e = MappingError::mapper_parsing("No handler for type [foo] declared on field [bar]");
        let es = e.into_create_index_error();
        assert_eq!(es.reason, "Failed to parse mapping: No handler for type [foo] declared on field [bar]");
        assert_eq!(es.root().reason, "No handler for type [foo] declared on field [bar]");
    }
}
