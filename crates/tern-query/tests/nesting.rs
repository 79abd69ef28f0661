//! Hostile nesting must end in an error, never in a stack overflow.

use serde_json::{Value, json};
use tern_query::{LiteralFields, QueryStringQuery, parse_query, parse_query_string, parse_search_request};

/// Drops a deep value without recursion (serde_json's own drop recurses).
fn drop_iteratively(v: Value) {
    let mut stack = vec![v];
    while let Some(mut v) = stack.pop() {
        match &mut v {
            Value::Object(map) => stack.extend(std::mem::take(map).into_iter().map(|(_, c)| c)),
            Value::Array(items) => stack.append(items),
            _ => {}
        }
    }
}

/// `{key: value}` built by hand: `json!` would serialize an interpolated `Value` again, recursively.
fn obj(pairs: Vec<(&str, Value)>) -> Value {
    Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

fn nest(levels: usize, wrap: impl Fn(Value) -> Value) -> Value {
    let mut v = json!({"match_all": {}});
    for _ in 0..levels {
        v = wrap(v);
    }
    v
}

const DEPTH_MESSAGE: &str = "The nested depth of the query exceeds the maximum nested depth for \
                             queries set in [indices.query.bool.max_nested_depth]";

#[test]
fn ten_thousand_nested_bools_are_rejected() {
    let v = nest(10_000, |v| obj(vec![("bool", obj(vec![("must", v)]))]));
    let err = parse_query(&v).err();
    let root = err.as_ref().map(|e| e.root().to_string());
    assert_eq!(root.as_deref(), Some(DEPTH_MESSAGE));
    assert_eq!(err.as_ref().map(|e| e.root().es_type()), Some("illegal_argument_exception"));

    let body = obj(vec![("query", v)]);
    assert!(parse_search_request(&body).is_err());
    drop_iteratively(body);
}

#[test]
fn other_compound_queries_are_capped_too() {
    let wrappers: Vec<Box<dyn Fn(Value) -> Value>> = vec![
        Box::new(|v| obj(vec![("bool", obj(vec![("should", Value::Array(vec![v]))]))])),
        Box::new(|v| obj(vec![("constant_score", obj(vec![("filter", v)]))])),
        Box::new(|v| obj(vec![("dis_max", obj(vec![("queries", Value::Array(vec![v]))]))])),
        Box::new(|v| {
            obj(vec![(
                "boosting",
                obj(vec![("positive", v), ("negative", json!({"match_none": {}})), ("negative_boost", json!(0.5))]),
            )])
        }),
        Box::new(|v| obj(vec![("function_score", obj(vec![("query", v)]))])),
        Box::new(|v| {
            let function = obj(vec![("filter", v), ("weight", json!(1))]);
            obj(vec![("function_score", obj(vec![("functions", Value::Array(vec![function]))]))])
        }),
    ];
    for wrap in &wrappers {
        let ok = nest(29, wrap);
        assert!(parse_query(&ok).is_ok(), "30 levels are within ES's default");
        drop_iteratively(ok);
        let deep = nest(5_000, wrap);
        let root = parse_query(&deep).err().map(|e| e.root().to_string());
        assert_eq!(root.as_deref(), Some(DEPTH_MESSAGE));
        drop_iteratively(deep);
    }
}

#[test]
fn deep_query_string_groups_are_rejected() {
    let q = QueryStringQuery::new(format!("{}a{}", "(".repeat(10_000), ")".repeat(10_000)));
    let err = parse_query_string(&q, &LiteralFields).err();
    assert_eq!(err.map(|e| e.es_type()), Some("query_shard_exception"));
}
