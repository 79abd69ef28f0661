//! Random input must never make a parser panic: every outcome is a value or an error.

use proptest::prelude::*;
use serde_json::{Map, Value};
use tern_query::{
    Fuzziness, LiteralFields, MinimumShouldMatch, QueryStringQuery, SimpleQueryStringQuery, apply_uri_search_params,
    parse_query, parse_query_string, parse_search_request, parse_simple_query_string, simple_flags,
};

/// Keys and strings the parsers react to, so that random documents reach deep into them.
const VOCAB: &[&str] = &[
    "bool",
    "must",
    "should",
    "filter",
    "must_not",
    "match",
    "match_all",
    "match_none",
    "match_phrase",
    "match_phrase_prefix",
    "match_bool_prefix",
    "multi_match",
    "combined_fields",
    "term",
    "terms",
    "range",
    "exists",
    "prefix",
    "wildcard",
    "regexp",
    "fuzzy",
    "ids",
    "query_string",
    "simple_query_string",
    "constant_score",
    "dis_max",
    "boosting",
    "function_score",
    "functions",
    "gauss",
    "exp",
    "linear",
    "field_value_factor",
    "random_score",
    "weight",
    "script_score",
    "nested",
    "query",
    "fields",
    "field",
    "value",
    "values",
    "boost",
    "_name",
    "minimum_should_match",
    "fuzziness",
    "operator",
    "type",
    "tie_breaker",
    "slop",
    "gte",
    "gt",
    "lte",
    "lt",
    "from",
    "to",
    "include_lower",
    "format",
    "relation",
    "flags",
    "queries",
    "positive",
    "negative",
    "negative_boost",
    "score_mode",
    "boost_mode",
    "origin",
    "scale",
    "decay",
    "modifier",
    "factor",
    "index",
    "id",
    "path",
    "size",
    "sort",
    "order",
    "missing",
    "mode",
    "_source",
    "includes",
    "excludes",
    "track_total_hits",
    "aggs",
    "search_after",
    "stored_fields",
    "docvalue_fields",
    "indices_boost",
    "timeout",
    "post_filter",
    "_score",
    "_doc",
    "title",
    "AUTO",
    "AUTO:3,6",
    "2<75%",
    "-25%",
    "and",
    "or",
    "desc",
    "asc",
    "best_fields",
    "phrase",
    "1s",
    "_none_",
    "*",
    "a*b",
    "\"x\"",
];

fn arb_string() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(VOCAB).prop_map(str::to_string),
        "[a-zA-Z0-9_*?~^\"()\\[\\]{}:+\\-|\\\\/ <>=%!&.,]{0,16}",
        any::<String>(),
    ]
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-3i64..70).prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        arb_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(8, 96, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((arb_string(), inner), 0..4)
                .prop_map(|kvs| Value::Object(kvs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A query-shaped document: `{"<query name>": <random>}`.
fn arb_query() -> impl Strategy<Value = Value> {
    (prop::sample::select(VOCAB), arb_json()).prop_map(|(name, body)| {
        let mut m = Map::new();
        m.insert(name.to_string(), body);
        Value::Object(m)
    })
}

/// Query names ES knows, to build query-shaped trees.
const QUERY_NAMES: &[&str] = &[
    "bool",
    "match",
    "match_all",
    "match_none",
    "match_phrase",
    "match_phrase_prefix",
    "match_bool_prefix",
    "multi_match",
    "combined_fields",
    "term",
    "terms",
    "range",
    "exists",
    "prefix",
    "wildcard",
    "regexp",
    "fuzzy",
    "ids",
    "query_string",
    "simple_query_string",
    "constant_score",
    "dis_max",
    "boosting",
    "function_score",
];

/// Trees of query-shaped objects: `{"<query>": {"<param>": leaf | tree | [tree...]}}`, so that
/// random input gets past the first checks of compound queries.
fn arb_query_tree() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        arb_json(),
        prop::sample::select(QUERY_NAMES).prop_map(|n| {
            let mut m = Map::new();
            m.insert(n.to_string(), Value::Object(Map::new()));
            Value::Object(m)
        }),
    ];
    leaf.prop_recursive(6, 64, 4, |inner| {
        let param = prop_oneof![inner.clone(), prop::collection::vec(inner, 0..3).prop_map(Value::Array),];
        (prop::sample::select(QUERY_NAMES), prop::collection::vec((prop::sample::select(VOCAB), param), 0..4)).prop_map(
            |(name, params)| {
                let body: Map<String, Value> = params.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
                let mut m = Map::new();
                m.insert(name.to_string(), Value::Object(body));
                Value::Object(m)
            },
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn parse_query_never_panics(v in prop_oneof![arb_json(), arb_query(), arb_query_tree()]) {
        if let Ok(q) = parse_query(&v) {
            // Whatever parses serializes and reads back the same.
            let json = serde_json::to_value(&q);
            prop_assert!(json.is_ok());
            let back: Result<tern_query::QueryAst, _> =
                serde_json::from_value(json.unwrap_or_default());
            prop_assert_eq!(back.ok(), Some(q));
        }
    }

    #[test]
    fn parse_search_request_never_panics(v in arb_json(), q in arb_query()) {
        let _ = parse_search_request(&v);
        let mut body = Map::new();
        body.insert("query".into(), q);
        if let Value::Object(extra) = v {
            body.extend(extra);
        }
        if let Ok(mut req) = parse_search_request(&Value::Object(body)) {
            // A successfully parsed request always serializes.
            prop_assert!(serde_json::to_string(&req).is_ok());
            let _ = apply_uri_search_params(&mut req, &[("sort".into(), "a:desc,b".into())]);
        }
    }

    #[test]
    fn query_string_syntax_never_panics(s in arb_string(), and in any::<bool>()) {
        let mut q = QueryStringQuery::new(s.clone());
        if and {
            q.default_operator = tern_query::Operator::And;
        }
        let _ = parse_query_string(&q, &LiteralFields);
        let mut sq = SimpleQueryStringQuery::new(s);
        if and {
            sq.flags = simple_flags::ALL & !simple_flags::WHITESPACE;
        }
        let _ = parse_simple_query_string(&sq, &LiteralFields);
    }

    #[test]
    fn scalar_option_parsers_never_panic(s in arb_string(), n in any::<usize>()) {
        if let Ok(m) = MinimumShouldMatch::parse(&s) {
            let _ = m.resolve(n % 1_000_000);
        }
        if let Ok(f) = Fuzziness::parse_str(&s) {
            let e = f.edits_for(n);
            prop_assert!(e <= 2);
        }
        let _ = apply_uri_search_params(
            &mut Default::default(),
            &[
                ("q".into(), s.clone()),
                ("sort".into(), s.clone()),
                ("track_total_hits".into(), s.clone()),
                ("size".into(), s.clone()),
                ("timeout".into(), s),
            ],
        );
    }
}
