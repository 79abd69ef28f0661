//! `match_all`, `match_none`, `bool`, `constant_score`, `dis_max`, `boosting`.

use serde_json::{Map, Value};

use super::{Ctx, parse_inner};
use crate::ast::{BoolQuery, BoostingQuery, ConstantScoreQuery, DisMaxQuery, MatchAllQuery, MatchNoneQuery, QueryAst};
use crate::error::{QueryError, QueryResult};
use crate::msm::MinimumShouldMatch;
use crate::xcontent::{
    Accepts, ObjectParser, bool_value, boost_value, check_boost, float_value, is_value, text, token_name,
};

const MATCH_ALL: ObjectParser = ObjectParser { name: "match_all", fields: &["boost", "_name"] };

const MATCH_NONE: ObjectParser = ObjectParser { name: "match_none", fields: &["boost", "_name"] };

fn boost_and_name(parser: &ObjectParser, body: &Map<String, Value>) -> QueryResult<(f32, Option<String>)> {
    let mut boost = 1.0;
    let mut name = None;
    for (key, v) in body {
        match key.as_str() {
            "boost" => boost = parser.field(key, v, Accepts::Number, boost_value)?,
            "_name" => name = Some(parser.field(key, v, Accepts::String, text)?),
            _ => return Err(parser.unknown_field(key)),
        }
    }
    Ok((boost, name))
}

pub(super) fn parse_match_all(body: &Map<String, Value>) -> QueryResult<QueryAst> {
    let (boost, name) = boost_and_name(&MATCH_ALL, body)?;
    Ok(QueryAst::MatchAll(MatchAllQuery { boost, name }))
}

pub(super) fn parse_match_none(body: &Map<String, Value>) -> QueryResult<QueryAst> {
    let (boost, name) = boost_and_name(&MATCH_NONE, body)?;
    Ok(QueryAst::MatchNone(MatchNoneQuery { boost, name }))
}

const BOOL: ObjectParser = ObjectParser {
    name: "bool",
    fields: &["must", "should", "must_not", "filter", "adjust_pure_negative", "minimum_should_match", "_name", "boost"],
};

/// A bool clause list: one query object, an array of them, or null (no clauses).
fn clause_list(v: &Value, ctx: &mut Ctx) -> QueryResult<Vec<QueryAst>> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Object(_) => Ok(vec![parse_inner(v, ctx)?]),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                if let Value::Array(_) = item {
                    return Err(QueryError::illegal(format!("expected value but got [{}]", token_name(item))));
                }
                out.push(parse_inner(item, ctx)?);
            }
            Ok(out)
        }
        _ => Err(QueryError::parsing("[_na] query malformed, must start with start_object")),
    }
}

pub(super) fn parse_bool(body: &Map<String, Value>, ctx: &mut Ctx) -> QueryResult<QueryAst> {
    let p = &BOOL;
    let mut q = BoolQuery::default();
    for (key, v) in body {
        match key.as_str() {
            "must" => {
                let c = p.field(key, v, Accepts::ObjectArrayOrNull, |v| clause_list(v, ctx))?;
                q.must.extend(c);
            }
            "should" => {
                let c = p.field(key, v, Accepts::ObjectArrayOrNull, |v| clause_list(v, ctx))?;
                q.should.extend(c);
            }
            "must_not" | "mustNot" => {
                let c = p.field(key, v, Accepts::ObjectArrayOrNull, |v| clause_list(v, ctx))?;
                q.must_not.extend(c);
            }
            "filter" => {
                let c = p.field(key, v, Accepts::ObjectArrayOrNull, |v| clause_list(v, ctx))?;
                q.filter.extend(c);
            }
            "adjust_pure_negative" => {
                q.adjust_pure_negative = p.field(key, v, Accepts::Boolean, bool_value)?;
            }
            "minimum_should_match" => {
                q.minimum_should_match = p.field(key, v, Accepts::Value, MinimumShouldMatch::from_json)?;
            }
            "_name" => q.name = Some(p.field(key, v, Accepts::String, text)?),
            "boost" => q.boost = p.field(key, v, Accepts::Number, boost_value)?,
            _ => return Err(p.unknown_field(key)),
        }
    }
    Ok(QueryAst::Bool(q))
}

pub(super) fn parse_constant_score(body: &Map<String, Value>, ctx: &mut Ctx) -> QueryResult<QueryAst> {
    let mut filter = None;
    let mut boost = 1.0;
    let mut name = None;
    for (key, v) in body {
        match v {
            Value::Object(_) => {
                if key == "filter" {
                    filter = Some(parse_inner(v, ctx)?);
                } else {
                    return Err(QueryError::parsing(format!("[constant_score] query does not support [{key}]")));
                }
            }
            _ if is_value(v) => match key.as_str() {
                "_name" => name = Some(text(v)?),
                "boost" => boost = float_value(v)?,
                _ => {
                    return Err(QueryError::parsing(format!("[constant_score] query does not support [{key}]")));
                }
            },
            _ => {
                return Err(QueryError::parsing(format!("unexpected token [{}]", token_name(v))));
            }
        }
    }
    let Some(filter) = filter else {
        return Err(QueryError::parsing("[constant_score] requires a 'filter' element"));
    };
    check_boost(boost)?;
    Ok(QueryAst::ConstantScore(ConstantScoreQuery { filter: Box::new(filter), boost, name }))
}

pub(super) fn parse_dis_max(body: &Map<String, Value>, ctx: &mut Ctx) -> QueryResult<QueryAst> {
    let mut queries = Vec::new();
    let mut found = false;
    let mut tie_breaker = 0.0;
    let mut boost = 1.0;
    let mut name = None;
    let unsupported = |key: &str| QueryError::parsing(format!("[dis_max] query does not support [{key}]"));
    for (key, v) in body {
        match v {
            Value::Object(_) => {
                if key != "queries" {
                    return Err(unsupported(key));
                }
                found = true;
                queries.push(parse_inner(v, ctx)?);
            }
            Value::Array(items) => {
                if key != "queries" {
                    return Err(unsupported(key));
                }
                found = true;
                for item in items {
                    queries.push(parse_inner(item, ctx)?);
                }
            }
            _ => match key.as_str() {
                "boost" => boost = float_value(v)?,
                "tie_breaker" => tie_breaker = float_value(v)?,
                "_name" => name = Some(text(v)?),
                _ => return Err(unsupported(key)),
            },
        }
    }
    if !found {
        return Err(QueryError::parsing("[dis_max] requires 'queries' field with at least one clause"));
    }
    check_boost(boost)?;
    Ok(QueryAst::DisMax(DisMaxQuery { queries, tie_breaker, boost, name }))
}

pub(super) fn parse_boosting(body: &Map<String, Value>, ctx: &mut Ctx) -> QueryResult<QueryAst> {
    let mut positive = None;
    let mut negative = None;
    let mut negative_boost = -1.0f32;
    let mut boost = 1.0;
    let mut name = None;
    let unsupported = |key: &str| QueryError::parsing(format!("[boosting] query does not support [{key}]"));
    for (key, v) in body {
        match v {
            Value::Object(_) => match key.as_str() {
                "positive" => positive = Some(parse_inner(v, ctx)?),
                "negative" => negative = Some(parse_inner(v, ctx)?),
                _ => return Err(unsupported(key)),
            },
            _ if is_value(v) => match key.as_str() {
                "negative_boost" => negative_boost = float_value(v)?,
                "_name" => name = Some(text(v)?),
                "boost" => boost = float_value(v)?,
                _ => return Err(unsupported(key)),
            },
            _ => return Err(unsupported(key)),
        }
    }
    let Some(positive) = positive else {
        return Err(QueryError::parsing("[boosting] query requires 'positive' query"));
    };
    let Some(negative) = negative else {
        return Err(QueryError::parsing("[boosting] query requires 'negative' query"));
    };
    if negative_boost < 0.0 {
        return Err(QueryError::parsing(
            "[boosting] query requires 'negative_boost' to be set to be a positive value'",
        ));
    }
    check_boost(boost)?;
    Ok(QueryAst::Boosting(BoostingQuery {
        positive: Box::new(positive),
        negative: Box::new(negative),
        negative_boost,
        boost,
        name,
    }))
}

#[cfg(test)]
mod tests {
    use crate::ast::*;
    use crate::dsl::parse_query;
    use crate::error::QueryError;
    use crate::msm::{MinimumShouldMatch, MsmValue};
    use serde_json::{Value, json};

    fn ok(v: Value) -> QueryAst {
        match parse_query(&v) {
            Ok(q) => q,
            Err(e) => panic!("{v}: {e:?}"),
        }
    }

    fn err(v: Value) -> QueryError {
        match parse_query(&v) {
            Ok(q) => panic!("expected an error, got {q:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn match_all_and_none() {
        assert_eq!(ok(json!({"match_all": {}})), QueryAst::match_all());
        let q = ok(json!({"match_all": {"boost": 1.5, "_name": "all"}}));
        assert_eq!(q.boost(), 1.5);
        assert_eq!(q.name(), Some("all"));
        assert_eq!(ok(json!({"match_none": {}})), QueryAst::match_none());
        let e = err(json!({"match_all": {"foo": 1}}));
        assert_eq!(e.es_type(), "x_content_parse_exception");
        assert_eq!(e.to_string(), "[match_all] unknown field [foo]");
        let e = err(json!({"match_all": {"boost": -1}}));
        assert_eq!(e.to_string(), "[match_all] failed to parse field [boost]");
        assert_eq!(e.root().to_string(), "negative [boost] are not allowed.");
    }

    #[test]
    fn bool_all_clause_forms() {
        let q = ok(json!({"bool": {
            "must": {"match_all": {}},
            "filter": [{"term": {"a": 1}}, {"term": {"b": "x"}}],
            "should": [],
            "must_not": null,
            "minimum_should_match": "75%",
            "boost": 2,
            "_name": "b",
            "adjust_pure_negative": false
        }}));
        let QueryAst::Bool(b) = q else { panic!("not a bool") };
        assert_eq!(b.must.len(), 1);
        assert_eq!(b.filter.len(), 2);
        assert!(b.should.is_empty() && b.must_not.is_empty());
        assert_eq!(b.minimum_should_match, Some(MinimumShouldMatch::Simple(MsmValue::Percent(75))));
        assert_eq!(b.boost, 2.0);
        assert_eq!(b.name.as_deref(), Some("b"));
        assert!(!b.adjust_pure_negative);

        let QueryAst::Bool(b) = ok(json!({"bool": {"minimum_should_match": 1}})) else { panic!() };
        assert_eq!(b.minimum_should_match, Some(MinimumShouldMatch::Simple(MsmValue::Count(1))));
    }

    #[test]
    fn bool_errors() {
        let e = err(json!({"bool": {"foo": []}}));
        assert_eq!(e.es_type(), "x_content_parse_exception");
        assert_eq!(e.to_string(), "[bool] unknown field [foo]");
        let e = err(json!({"bool": {"shuold": []}}));
        assert_eq!(e.to_string(), "[bool] unknown field [shuold] did you mean [should]?");
        let e = err(json!({"bool": {"must": [{"foo": {}}]}}));
        assert_eq!(e.to_string(), "[bool] failed to parse field [must]");
        assert_eq!(e.root().es_type(), "parsing_exception");
        assert_eq!(e.root().to_string(), "unknown query [foo]");
        let e = err(json!({"bool": {"must": "x"}}));
        assert_eq!(e.to_string(), "[bool] must doesn't support values of type: VALUE_STRING");
        let e = err(json!({"bool": {"boost": {}}}));
        assert_eq!(e.to_string(), "[bool] boost doesn't support values of type: START_OBJECT");
        let e = err(json!({"bool": {"boost": "abc"}}));
        assert_eq!(e.to_string(), "[bool] failed to parse field [boost]");
        assert_eq!(e.root().es_type(), "number_format_exception");
        // Two queries in one clause object.
        let e = err(json!({"bool": {"must": {"match_all": {}, "match_none": {}}}}));
        assert_eq!(e.root().to_string(), "[match_all] malformed query, expected [END_OBJECT] but found [FIELD_NAME]");
        let e = err(json!({"bool": {"must": [{}]}}));
        assert_eq!(e.root().to_string(), "query malformed, empty clause found");
        let e = err(json!({"bool": {"must": [[]]}}));
        assert_eq!(e.root().to_string(), "expected value but got [START_ARRAY]");
    }

    #[test]
    fn constant_score() {
        let q = ok(json!({"constant_score": {"filter": {"term": {"a": "b"}}, "boost": 1.2}}));
        let QueryAst::ConstantScore(c) = q else { panic!() };
        assert_eq!(c.boost, 1.2);
        assert!(matches!(*c.filter, QueryAst::Term(_)));
        assert_eq!(err(json!({"constant_score": {}})).to_string(), "[constant_score] requires a 'filter' element");
        assert_eq!(
            err(json!({"constant_score": {"query": {"match_all": {}}}})).to_string(),
            "[constant_score] query does not support [query]"
        );
        assert_eq!(
            err(json!({"constant_score": {"filter": {"match_all": {}}, "x": 1}})).to_string(),
            "[constant_score] query does not support [x]"
        );
    }

    #[test]
    fn dis_max() {
        let q = ok(json!({"dis_max": {"queries": [{"term": {"a": 1}}, {"term": {"b": 2}}],
            "tie_breaker": 0.7}}));
        let QueryAst::DisMax(d) = q else { panic!() };
        assert_eq!(d.queries.len(), 2);
        assert_eq!(d.tie_breaker, 0.7);
        let q = ok(json!({"dis_max": {"queries": {"term": {"a": 1}}}}));
        let QueryAst::DisMax(d) = q else { panic!() };
        assert_eq!(d.queries.len(), 1);
        assert_eq!(
            err(json!({"dis_max": {"tie_breaker": 0.7}})).to_string(),
            "[dis_max] requires 'queries' field with at least one clause"
        );
        assert_eq!(
            err(json!({"dis_max": {"queries": [], "foo": 1}})).to_string(),
            "[dis_max] query does not support [foo]"
        );
    }

    #[test]
    fn boosting() {
        let q = ok(json!({"boosting": {"positive": {"term": {"a": 1}},
            "negative": {"term": {"b": 1}}, "negative_boost": 0.2}}));
        let QueryAst::Boosting(b) = q else { panic!() };
        assert_eq!(b.negative_boost, 0.2);
        assert_eq!(
            err(json!({"boosting": {"negative": {"term": {"b": 1}}, "negative_boost": 0.2}})).to_string(),
            "[boosting] query requires 'positive' query"
        );
        assert_eq!(
            err(json!({"boosting": {"positive": {"term": {"b": 1}}, "negative_boost": 0.2}})).to_string(),
            "[boosting] query requires 'negative' query"
        );
        assert!(
            err(json!({"boosting": {"positive": {"term": {"b": 1}},
                "negative": {"term": {"b": 1}}}}))
            .to_string()
            .contains("negative_boost")
        );
    }
}
