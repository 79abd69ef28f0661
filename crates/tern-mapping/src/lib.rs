//! ES 8 mappings for tern: parse, merge and render mappings; type documents; ES dates.
//!
//! # Why mapping-driven typing exists
//!
//! A tantivy schema is fixed when the index is created, while an ES index gains fields whenever a
//! document brings new ones (dynamic mapping) or a put-mapping adds them. tern therefore keeps a
//! fixed tantivy schema (system fields plus JSON fields for document content, see the architecture
//! notes) and applies ES's *types* itself, in two places:
//!
//! * **indexing** — [`Mapping::parse_document`] turns a JSON source into `(path, IndexedValue)`
//!   pairs typed by the mapping with ES's coercion rules (`"5"` into a `long` is `5`, `5.7` is `5`,
//!   `"true"` into a `boolean` is `true`, numbers into a `keyword` become their text, `ignore_above`,
//!   `null_value`, multi-fields, `copy_to`), and reports the mapping update dynamic mapping implies.
//!   The shard engine builds the tantivy document from those values.
//! * **searching** — the query compiler looks fields up ([`Mapping::field`],
//!   [`Mapping::resolve_field`]) to know whether `title` is analyzed text or an exact keyword, how
//!   to read a date (`FieldMapping::date_format`, [`date::parse_date_math`]) and how to convert a
//!   query term ([`FieldMapping::value_from_json`]).
//!
//! The mapping itself lives in cluster metadata; [`Mapping`] serializes to the JSON ES shows in
//! `GET idx/_mapping` ([`Mapping::to_json`]) and parses back from it ([`Mapping::parse`]).
//!
//! This crate does no IO and knows nothing about tantivy. Nothing in it recurses with the depth of
//! its input: documents are read by an iterative JSON reader into a flat arena and walked with an
//! explicit stack, and mappings are capped at [`MAX_MAPPING_DEPTH`] object levels.
//!
//! # Errors
//!
//! [`MappingError`] variants carry ES 8's exception types and reason texts
//! (`mapper_parsing_exception`, `document_parsing_exception` with `[line:col]` prefixes and
//! `caused_by`, `strict_dynamic_mapping_exception`, `illegal_argument_exception`) and convert into
//! [`tern_common::EsError`].

pub mod date;
mod document;
mod dynamic;
mod error;
mod field;
mod json;
mod mapping;
mod util;
mod value;

pub use document::{DocumentParseOptions, ParsedDocument};
pub use dynamic::{DynamicTemplate, XContentFieldType};
pub use error::{Location, MappingError};
pub use field::{Dynamic, FieldMapping, FieldType, MAX_MAPPING_DEPTH};
pub use mapping::{DEFAULT_DYNAMIC_DATE_FORMATS, Mapping, MappingLimits, RoutingConfig, SourceConfig};
pub use value::IndexedValue;
