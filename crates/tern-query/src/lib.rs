//! The Elasticsearch 8 query DSL and search request body, parsed into a serializable AST.
//!
//! # Where this sits
//!
//! A search travels in three steps: the REST layer hands a JSON body to this crate, which turns it
//! into a [`SearchRequest`] holding a [`QueryAst`]; the shard engine compiles that AST into tantivy
//! queries against the index mapping. This crate has no tantivy, no IO and no mapping: it is the
//! pure, testable middle step (the design quickwit-query uses, written from scratch here).
//!
//! # Why values stay raw
//!
//! A query value means different things per field type: `"2024-01-01"` is a date range bound on a
//! `date` field and a plain term on a `keyword`; `"5"` is a number on a `long` field; `match` text is
//! analyzed with the field's analyzer; a `range` `format` only makes sense for dates. Field types
//! are only known on the shard, from the mapping, so the AST keeps term values, range bounds,
//! decay origins and the like as `serde_json::Value`, and keeps full-text input as text. It does
//! resolve everything that does not depend on the mapping: query structure, option types and
//! defaults, `minimum_should_match`, `fuzziness`, field boosts (`title^2`), operators.
//!
//! For the same reason the `query_string` and `simple_query_string` *syntax* is parsed by the
//! shard, through [`query_string::parse_query_string`] and
//! [`simple_query_string::parse_simple_query_string`], which take a [`FieldResolver`] to expand
//! field patterns such as `*` and `user.*` against the mapping. ES does the same, which is also why
//! a syntax error there is a `query_shard_exception`.
//!
//! # Errors
//!
//! Parsing mirrors ES's own parsers closely enough that clients see ES's error `type` and `reason`
//! (without the `[line:col]` position prefix, which a parsed `Value` cannot provide): see
//! [`QueryError`] and its conversion into [`tern_common::EsError`].
//!
//! # Safety limits
//!
//! Query nesting is capped like ES's `indices.query.bool.max_nested_depth` (default 30, see
//! [`parse_query_with_max_depth`]), and query string parentheses at
//! [`query_string::MAX_GROUP_DEPTH`], so no input can exhaust the stack. Nothing here panics on
//! input.

pub mod ast;
mod dsl;
pub mod error;
pub mod fuzziness;
pub mod highlight;
pub mod msm;
pub mod query_string;
pub mod search_request;
pub mod simple_query_string;
mod xcontent;

pub use ast::*;
pub use dsl::{DEFAULT_MAX_NESTED_DEPTH, parse_query, parse_query_with_max_depth};
pub use error::{QueryError, QueryResult};
pub use fuzziness::Fuzziness;
pub use highlight::{BoundaryScanner, FieldOptions, Highlight, HighlightField, HighlightOptions, parse_highlight};
pub use msm::{MinimumShouldMatch, MsmValue};
pub use query_string::{FieldResolver, LiteralFields, parse_query_string};
pub use search_request::{
    FieldAndFormat, SearchRequest, SortMode, SortOrder, SortSpec, SourceFilter, TrackTotalHits,
    apply_uri_search_params, parse_search_request, parse_search_request_with_max_depth, parse_time_value,
    parse_uri_search_params,
};
pub use simple_query_string::parse_simple_query_string;
