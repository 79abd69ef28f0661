//! The query DSL parser: a JSON query clause (`{"match": {...}}`) into a [`QueryAst`].
//!
//! Each query family lives in its own module and follows the structure (and the error messages) of
//! the matching ES query builder's `fromXContent`. Compound queries recurse through
//! [`parse_inner`], which counts nesting so that a hostile body cannot exhaust the stack.

mod compound;
mod full_text;
mod function_score;
mod term_level;

use serde_json::{Map, Value};

pub(crate) use full_text::parse_operator;

use crate::ast::QueryAst;
use crate::error::{QueryError, QueryResult};
use crate::xcontent::suggest;

/// ES's default for `indices.query.bool.max_nested_depth`: how deeply queries may nest.
pub const DEFAULT_MAX_NESTED_DEPTH: usize = 30;

/// Every query name an ES 8 node with the default distribution registers, for "did you mean"
/// suggestions on unknown names.
const ES_QUERY_NAMES: &[&str] = &[
    "bool",
    "boosting",
    "combined_fields",
    "constant_score",
    "dis_max",
    "distance_feature",
    "exists",
    "function_score",
    "fuzzy",
    "geo_bounding_box",
    "geo_distance",
    "geo_grid",
    "geo_polygon",
    "geo_shape",
    "has_child",
    "has_parent",
    "ids",
    "intervals",
    "knn",
    "match",
    "match_all",
    "match_bool_prefix",
    "match_none",
    "match_phrase",
    "match_phrase_prefix",
    "more_like_this",
    "multi_match",
    "nested",
    "parent_id",
    "percolate",
    "pinned",
    "prefix",
    "query_string",
    "range",
    "rank_feature",
    "regexp",
    "rule",
    "script",
    "script_score",
    "semantic",
    "shape",
    "simple_query_string",
    "span_containing",
    "span_field_masking",
    "span_first",
    "span_multi",
    "span_near",
    "span_not",
    "span_or",
    "span_term",
    "span_within",
    "sparse_vector",
    "term",
    "terms",
    "terms_set",
    "text_expansion",
    "weighted_tokens",
    "wildcard",
    "wrapper",
];

/// Query types ES has that tern does not implement: they get a clear "not supported" error
/// instead of ES's "unknown query".
const UNSUPPORTED_QUERIES: &[&str] = &[
    "distance_feature",
    "geo_bounding_box",
    "geo_distance",
    "geo_grid",
    "geo_polygon",
    "geo_shape",
    "has_child",
    "has_parent",
    "intervals",
    "knn",
    "more_like_this",
    "nested",
    "parent_id",
    "percolate",
    "pinned",
    "rank_feature",
    "rule",
    "semantic",
    "shape",
    "span_containing",
    "span_field_masking",
    "field_masking_span",
    "span_first",
    "span_multi",
    "span_near",
    "span_not",
    "span_or",
    "span_term",
    "span_within",
    "sparse_vector",
    "terms_set",
    "text_expansion",
    "weighted_tokens",
    "wrapper",
];

/// Parsing state shared down a query tree.
pub(crate) struct Ctx {
    depth: usize,
    max_depth: usize,
}

impl Ctx {
    pub(crate) fn new(max_depth: usize) -> Self {
        Ctx { depth: 0, max_depth: max_depth.max(1) }
    }
}

/// Parses one query clause such as `{"match": {"title": "quick fox"}}`.
pub fn parse_query(v: &Value) -> QueryResult<QueryAst> {
    parse_query_with_max_depth(v, DEFAULT_MAX_NESTED_DEPTH)
}

/// [`parse_query`] with a custom nesting limit (the node setting
/// `indices.query.bool.max_nested_depth`).
pub fn parse_query_with_max_depth(v: &Value, max_nested_depth: usize) -> QueryResult<QueryAst> {
    let mut ctx = Ctx::new(max_nested_depth);
    parse_inner(v, &mut ctx)
}

/// ES's `parseInnerQueryBuilder`: exactly one `{"<query name>": {...}}`.
pub(crate) fn parse_inner(v: &Value, ctx: &mut Ctx) -> QueryResult<QueryAst> {
    let Value::Object(obj) = v else {
        return Err(QueryError::parsing("[_na] query malformed, must start with start_object"));
    };
    let Some((name, body)) = obj.iter().next() else {
        return Err(QueryError::illegal("query malformed, empty clause found"));
    };
    let Value::Object(body) = body else {
        return Err(QueryError::parsing(format!("[{name}] query malformed, no start_object after query name")));
    };
    ctx.depth += 1;
    if ctx.depth > ctx.max_depth {
        ctx.depth -= 1;
        return Err(QueryError::illegal(
            "The nested depth of the query exceeds the maximum nested depth for queries set in \
             [indices.query.bool.max_nested_depth]",
        ));
    }
    let parsed = parse_named(name, body, ctx);
    ctx.depth -= 1;
    let query = parsed?;
    if obj.len() > 1 {
        return Err(QueryError::parsing(format!(
            "[{name}] malformed query, expected [END_OBJECT] but found [FIELD_NAME]"
        )));
    }
    Ok(query)
}

fn parse_named(name: &str, body: &Map<String, Value>, ctx: &mut Ctx) -> QueryResult<QueryAst> {
    match name {
        "match_all" => compound::parse_match_all(body),
        "match_none" => compound::parse_match_none(body),
        "bool" => compound::parse_bool(body, ctx),
        "constant_score" => compound::parse_constant_score(body, ctx),
        "dis_max" => compound::parse_dis_max(body, ctx),
        "boosting" => compound::parse_boosting(body, ctx),
        "function_score" => function_score::parse_function_score(body, ctx),
        "match" => full_text::parse_match(body),
        "match_phrase" => full_text::parse_match_phrase(body),
        "match_phrase_prefix" => full_text::parse_match_phrase_prefix(body),
        "match_bool_prefix" => full_text::parse_match_bool_prefix(body),
        "multi_match" => full_text::parse_multi_match(body),
        "combined_fields" => full_text::parse_combined_fields(body),
        "query_string" => full_text::parse_query_string(body),
        "simple_query_string" => full_text::parse_simple_query_string(body),
        "term" => term_level::parse_term(body),
        "terms" => term_level::parse_terms(body),
        "range" => term_level::parse_range(body),
        "exists" => term_level::parse_exists(body),
        "prefix" => term_level::parse_prefix(body),
        "wildcard" => term_level::parse_wildcard(body),
        "regexp" => term_level::parse_regexp(body),
        "fuzzy" => term_level::parse_fuzzy(body),
        "ids" => term_level::parse_ids(body),
        "script" | "script_score" => {
            Err(QueryError::unsupported(format!("[{name}] query is not supported: tern does not execute scripts")))
        }
        _ if UNSUPPORTED_QUERIES.contains(&name) => {
            Err(QueryError::unsupported(format!("[{name}] query is not supported by tern")))
        }
        _ => Err(QueryError::parsing(format!("unknown query [{name}]{}", suggest(name, ES_QUERY_NAMES)))),
    }
}

/// ES's `throwParsingExceptionOnMultipleFields`.
pub(crate) fn check_single_field(query: &str, seen: Option<&str>, current: &str) -> QueryResult<()> {
    match seen {
        Some(first) => Err(QueryError::parsing(format!(
            "[{query}] query doesn't support multiple fields, found [{first}] and [{current}]"
        ))),
        None => Ok(()),
    }
}

/// Parses a `fields` entry `name^boost` (ES's `parseFieldsAndWeights`: the first `^` splits).
pub(crate) fn field_and_boost(spec: &str) -> QueryResult<(String, f32)> {
    match spec.split_once('^') {
        Some((field, boost)) => {
            let b = crate::xcontent::parse_java_double(boost)? as f32;
            Ok((field.to_string(), b))
        }
        None => Ok((spec.to_string(), 1.0)),
    }
}

/// Adds a field, replacing an earlier entry of the same name (ES keeps them in a map).
pub(crate) fn push_field(fields: &mut Vec<(String, f32)>, entry: (String, f32)) {
    if let Some(existing) = fields.iter_mut().find(|(f, _)| *f == entry.0) {
        existing.1 = entry.1;
    } else {
        fields.push(entry);
    }
}

fn non_negative_u32(query: &str, what: &str, v: i32) -> QueryResult<u32> {
    u32::try_from(v).map_err(|_| QueryError::illegal(format!("[{query}] requires {what} to be non-negative.")))
}

/// `prefix_length` validation shared by the fuzzy-capable queries.
pub(crate) fn prefix_length(query: &str, v: i32) -> QueryResult<u32> {
    non_negative_u32(query, "prefix length", v)
}

/// `max_expansions` validation shared by the fuzzy-capable queries.
pub(crate) fn max_expansions(query: &str, v: i32) -> QueryResult<u32> {
    if v <= 0 {
        return Err(QueryError::illegal(format!("[{query}] requires maxExpansions to be positive.")));
    }
    Ok(v as u32)
}

/// Phrase `slop` validation.
pub(crate) fn slop(v: i32) -> QueryResult<u32> {
    u32::try_from(v).map_err(|_| QueryError::illegal("No negative slop allowed."))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(v: Value) -> QueryError {
        match parse_query(&v) {
            Ok(q) => panic!("expected an error, got {q:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn unknown_query_is_a_parsing_exception() {
        let e = err(json!({"foo": {}}));
        assert_eq!(e.es_type(), "parsing_exception");
        assert_eq!(e.to_string(), "unknown query [foo]");
        let e = err(json!({"matchx": {"a": "b"}}));
        assert_eq!(e.to_string(), "unknown query [matchx] did you mean any of [match, match_all]?");
    }

    #[test]
    fn malformed_clauses() {
        assert_eq!(err(json!("x")).to_string(), "[_na] query malformed, must start with start_object");
        let e = err(json!({}));
        assert_eq!(e.es_type(), "illegal_argument_exception");
        assert_eq!(e.to_string(), "query malformed, empty clause found");
        assert_eq!(err(json!({"match": "x"})).to_string(), "[match] query malformed, no start_object after query name");
        let e = err(json!({"match_all": {}, "term": {"a": "b"}}));
        assert_eq!(e.es_type(), "parsing_exception");
        assert_eq!(e.to_string(), "[match_all] malformed query, expected [END_OBJECT] but found [FIELD_NAME]");
    }

    #[test]
    fn unsupported_queries_say_so() {
        let e = err(json!({"script": {"script": "1"}}));
        assert_eq!(e.es_type(), "illegal_argument_exception");
        assert!(e.to_string().contains("not supported"), "{e}");
        let e = err(json!({"nested": {"path": "a", "query": {"match_all": {}}}}));
        assert!(e.to_string().contains("[nested] query is not supported"), "{e}");
        let e = err(json!({"script_score": {}}));
        assert!(e.to_string().contains("scripts"), "{e}");
    }

    #[test]
    fn nesting_is_capped() {
        let mut v = json!({"match_all": {}});
        for _ in 0..29 {
            v = json!({"bool": {"must": v}});
        }
        assert!(parse_query(&v).is_ok(), "30 levels are allowed");
        let v = json!({"bool": {"must": v}});
        let e = err(v.clone());
        assert_eq!(
            e.root().to_string(),
            "The nested depth of the query exceeds the maximum nested depth for queries set in \
             [indices.query.bool.max_nested_depth]"
        );
        assert!(parse_query_with_max_depth(&v, 31).is_ok());
    }

    #[test]
    fn fields_with_boosts() {
        assert_eq!(field_and_boost("title^2").ok(), Some(("title".into(), 2.0)));
        assert_eq!(field_and_boost("title").ok(), Some(("title".into(), 1.0)));
        assert_eq!(field_and_boost("a^1.5^x").ok(), None);
        assert!(field_and_boost("title^x").is_err());
    }
}
