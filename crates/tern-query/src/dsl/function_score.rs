//! `function_score`: the query plus score functions (`weight`, `field_value_factor`, the decay
//! functions `gauss`/`exp`/`linear`, `random_score`). `script_score` functions are rejected: tern does
//! not run scripts.

use serde_json::{Map, Value};

use super::{Ctx, parse_inner};
use crate::ast::{
    BoostMode, DecayKind, FieldValueFactorModifier, FunctionScoreQuery, MultiValueMode, QueryAst, ScoreFunction,
    ScoreFunctionKind, ScoreMode,
};
use crate::error::{QueryError, QueryResult};
use crate::xcontent::{double_value, float_value, is_value, text, token_name};

const MISPLACED: &str = "you can either define [functions] array or a single function, not both. ";

/// Score function names ES knows, for the "unknown field" error.
const FUNCTION_NAMES: &[&str] =
    &["script_score", "field_value_factor", "random_score", "weight", "gauss", "exp", "linear"];

fn misplaced(detail: &str) -> QueryError {
    QueryError::parsing(format!("failed to parse [function_score] query. [{MISPLACED}{detail}]"))
}

fn parse_score_mode(s: &str) -> QueryResult<ScoreMode> {
    match s.to_uppercase().as_str() {
        "MULTIPLY" => Ok(ScoreMode::Multiply),
        "SUM" => Ok(ScoreMode::Sum),
        "AVG" => Ok(ScoreMode::Avg),
        "FIRST" => Ok(ScoreMode::First),
        "MAX" => Ok(ScoreMode::Max),
        "MIN" => Ok(ScoreMode::Min),
        upper => Err(QueryError::illegal(format!(
            "No enum constant org.elasticsearch.common.lucene.search.function.FunctionScoreQuery.ScoreMode.{upper}"
        ))),
    }
}

fn parse_boost_mode(s: &str) -> QueryResult<BoostMode> {
    match s.to_uppercase().as_str() {
        "MULTIPLY" => Ok(BoostMode::Multiply),
        "REPLACE" => Ok(BoostMode::Replace),
        "SUM" => Ok(BoostMode::Sum),
        "AVG" => Ok(BoostMode::Avg),
        "MAX" => Ok(BoostMode::Max),
        "MIN" => Ok(BoostMode::Min),
        upper => Err(QueryError::illegal(format!(
            "No enum constant org.elasticsearch.common.lucene.search.function.CombineFunction.{upper}"
        ))),
    }
}

pub(super) fn parse_function_score(body: &Map<String, Value>, ctx: &mut Ctx) -> QueryResult<QueryAst> {
    let mut query = None;
    let mut functions = Vec::new();
    let mut q = FunctionScoreQuery {
        query: Box::new(QueryAst::match_all()),
        functions: Vec::new(),
        score_mode: ScoreMode::Multiply,
        boost_mode: BoostMode::Multiply,
        max_boost: f32::MAX,
        min_score: None,
        boost: 1.0,
        name: None,
    };
    let mut array_found = false;
    let mut single_found: Option<&str> = None;
    for (key, v) in body {
        match v {
            Value::Object(inner) => {
                if key == "query" {
                    query = Some(parse_inner(v, ctx)?);
                    continue;
                }
                if let Some(first) = single_found {
                    return Err(QueryError::parsing(format!(
                        "failed to parse [function_score] query. already found function [{first}], \
                         now encountering [{key}]. use [functions] array if you want to define \
                         several functions."
                    )));
                }
                if array_found {
                    return Err(misplaced(&format!("already found [functions] array, now encountering [{key}].")));
                }
                single_found = Some(key);
                functions.push(ScoreFunction { filter: None, weight: None, kind: parse_function(key, inner)? });
            }
            Value::Array(items) => {
                if key != "functions" {
                    return Err(QueryError::parsing(format!(
                        "failed to parse [function_score] query. array [{key}] is not supported"
                    )));
                }
                if let Some(first) = single_found {
                    return Err(misplaced(&format!("already found [{first}], now encountering [functions].")));
                }
                array_found = true;
                for item in items {
                    functions.push(parse_function_entry(item, ctx)?);
                }
            }
            _ if is_value(v) => match key.as_str() {
                "score_mode" => q.score_mode = parse_score_mode(&text(v)?)?,
                "boost_mode" => q.boost_mode = parse_boost_mode(&text(v)?)?,
                "max_boost" => q.max_boost = float_value(v)?,
                "boost" => q.boost = float_value(v)?,
                "_name" => q.name = Some(text(v)?),
                "min_score" => q.min_score = Some(float_value(v)?),
                _ => {
                    if let Some(first) = single_found {
                        return Err(QueryError::parsing(format!(
                            "failed to parse [function_score] query. already found function \
                             [{first}], now encountering [{key}]. use [functions] array if you \
                             want to define several functions."
                        )));
                    }
                    if array_found {
                        return Err(misplaced(&format!("already found [functions] array, now encountering [{key}].")));
                    }
                    if key == "weight" {
                        functions.push(ScoreFunction {
                            filter: None,
                            weight: Some(float_value(v)?),
                            kind: ScoreFunctionKind::Weight,
                        });
                        single_found = Some(key);
                    } else {
                        return Err(QueryError::parsing(format!(
                            "failed to parse [function_score] query. field [{key}] is not supported"
                        )));
                    }
                }
            },
            _ => {
                return Err(QueryError::parsing(format!(
                    "failed to parse [function_score] query. field [{key}] is not supported"
                )));
            }
        }
    }
    if let Some(query) = query {
        q.query = Box::new(query);
    }
    q.functions = functions;
    crate::xcontent::check_boost(q.boost)?;
    Ok(QueryAst::FunctionScore(q))
}

fn parse_function_entry(item: &Value, ctx: &mut Ctx) -> QueryResult<ScoreFunction> {
    let Value::Object(entry) = item else {
        return Err(QueryError::parsing(format!(
            "failed to parse [function_score]. malformed query, expected a [START_OBJECT] while \
             parsing functions but got a [{}] instead",
            token_name(item)
        )));
    };
    let mut filter = None;
    let mut kind: Option<(&str, ScoreFunctionKind)> = None;
    let mut weight = None;
    for (key, v) in entry {
        match v {
            Value::Object(inner) => {
                if key == "filter" {
                    filter = Some(Box::new(parse_inner(v, ctx)?));
                    continue;
                }
                if let Some((first, _)) = kind {
                    return Err(QueryError::parsing(format!(
                        "failed to parse function_score functions. already found [{first}], now \
                         encountering [{key}]."
                    )));
                }
                kind = Some((key, parse_function(key, inner)?));
            }
            _ if is_value(v) && key == "weight" => weight = Some(float_value(v)?),
            _ => {
                return Err(QueryError::parsing(format!(
                    "failed to parse [function_score] query. field [{key}] is not supported"
                )));
            }
        }
    }
    let kind = match kind {
        Some((_, k)) => k,
        None if weight.is_some() => ScoreFunctionKind::Weight,
        None => {
            return Err(QueryError::parsing(
                "failed to parse [function_score] query. an entry in functions list is missing a \
                 function.",
            ));
        }
    };
    Ok(ScoreFunction { filter, weight, kind })
}

fn parse_function(name: &str, body: &Map<String, Value>) -> QueryResult<ScoreFunctionKind> {
    match name {
        "field_value_factor" => parse_field_value_factor(body),
        "gauss" => parse_decay(DecayKind::Gauss, name, body),
        "exp" => parse_decay(DecayKind::Exp, name, body),
        "linear" => parse_decay(DecayKind::Linear, name, body),
        "random_score" => parse_random_score(body),
        "script_score" => {
            Err(QueryError::unsupported("[script_score] function is not supported: tern does not execute scripts"))
        }
        _ => Err(QueryError::x_content(format!(
            "unknown field [{name}]{}",
            crate::xcontent::suggest(name, FUNCTION_NAMES)
        ))),
    }
}

fn parse_modifier(s: &str) -> QueryResult<FieldValueFactorModifier> {
    use FieldValueFactorModifier::*;
    match s.to_uppercase().as_str() {
        "NONE" => Ok(None),
        "LOG" => Ok(Log),
        "LOG1P" => Ok(Log1p),
        "LOG2P" => Ok(Log2p),
        "LN" => Ok(Ln),
        "LN1P" => Ok(Ln1p),
        "LN2P" => Ok(Ln2p),
        "SQUARE" => Ok(Square),
        "SQRT" => Ok(Sqrt),
        "RECIPROCAL" => Ok(Reciprocal),
        upper => Err(QueryError::illegal(format!(
            "No enum constant org.elasticsearch.common.lucene.search.function.FieldValueFactorFunction.Modifier.{upper}"
        ))),
    }
}

fn parse_field_value_factor(body: &Map<String, Value>) -> QueryResult<ScoreFunctionKind> {
    let mut field = None;
    let mut factor = 1.0;
    let mut modifier = FieldValueFactorModifier::None;
    let mut missing = None;
    for (key, v) in body {
        if is_value(v) {
            match key.as_str() {
                "field" => field = Some(text(v)?),
                "factor" => factor = float_value(v)?,
                "modifier" => modifier = parse_modifier(&text(v)?)?,
                "missing" => missing = Some(double_value(v)?),
                _ => {
                    return Err(QueryError::parsing(format!("field_value_factor query does not support [{key}]")));
                }
            }
        } else if key == "factor" && matches!(v, Value::Array(_) | Value::Object(_)) {
            return Err(QueryError::parsing("[field_value_factor] field 'factor' does not support lists or objects"));
        }
    }
    let Some(field) = field else {
        return Err(QueryError::parsing("[field_value_factor] required field 'field' missing"));
    };
    Ok(ScoreFunctionKind::FieldValueFactor { field, factor, modifier, missing })
}

fn parse_multi_value_mode(s: &str) -> QueryResult<MultiValueMode> {
    match s.to_lowercase().as_str() {
        "min" => Ok(MultiValueMode::Min),
        "max" => Ok(MultiValueMode::Max),
        "avg" => Ok(MultiValueMode::Avg),
        "sum" => Ok(MultiValueMode::Sum),
        _ => Err(QueryError::illegal(format!("Unknown MultiValueMode: [{s}]"))),
    }
}

fn parse_decay(kind: DecayKind, name: &str, body: &Map<String, Value>) -> QueryResult<ScoreFunctionKind> {
    let malformed = || QueryError::parsing("malformed score function score parameters.");
    let mut field: Option<(&str, &Map<String, Value>)> = None;
    let mut multi_value_mode = MultiValueMode::Min;
    for (key, v) in body {
        match v {
            Value::Object(params) => field = Some((key, params)),
            _ if key == "multi_value_mode" => {
                multi_value_mode = parse_multi_value_mode(&text(v)?)?;
            }
            _ => return Err(malformed()),
        }
    }
    let Some((field, params)) = field else {
        return Err(malformed());
    };
    let mut origin = None;
    let mut scale = None;
    let mut offset = None;
    let mut decay = 0.5;
    for (key, v) in params {
        match key.as_str() {
            "origin" => origin = Some(v.clone()),
            "scale" => scale = Some(v.clone()),
            "offset" => offset = Some(v.clone()),
            "decay" => decay = double_value(v)?,
            _ => {
                return Err(QueryError::Parse(format!("parameter [{key}] not supported!")));
            }
        }
    }
    let Some(scale) = scale else {
        return Err(QueryError::Parse(format!("[{name}] requires [scale] for field [{field}]")));
    };
    if !(decay > 0.0 && decay < 1.0) {
        return Err(QueryError::illegal(format!("decay must be in the range [0..1]. Got {decay}.")));
    }
    Ok(ScoreFunctionKind::Decay { kind, field: field.to_string(), origin, scale, offset, decay, multi_value_mode })
}

fn parse_random_score(body: &Map<String, Value>) -> QueryResult<ScoreFunctionKind> {
    let mut seed = None;
    let mut field = None;
    for (key, v) in body {
        match key.as_str() {
            "seed" if is_value(v) => seed = Some(v.clone()),
            "field" if is_value(v) => field = Some(text(v)?),
            _ => {
                return Err(QueryError::parsing(format!("random_score query does not support [{key}]")));
            }
        }
    }
    Ok(ScoreFunctionKind::RandomScore { seed, field })
}

#[cfg(test)]
mod tests {
    use crate::ast::*;
    use crate::dsl::parse_query;
    use crate::error::QueryError;
    use serde_json::{Value, json};

    fn ok(v: Value) -> FunctionScoreQuery {
        match parse_query(&v) {
            Ok(QueryAst::FunctionScore(f)) => f,
            other => panic!("{v}: {other:?}"),
        }
    }

    fn err(v: Value) -> QueryError {
        match parse_query(&v) {
            Ok(q) => panic!("expected an error, got {q:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn functions_array() {
        let f = ok(json!({"function_score": {
            "query": {"match": {"title": "fox"}},
            "functions": [
                {"filter": {"term": {"tag": "a"}}, "weight": 2},
                {"field_value_factor": {"field": "likes", "factor": 1.2, "modifier": "sqrt",
                    "missing": 1}},
                {"gauss": {"date": {"origin": "now", "scale": "10d", "offset": "1d",
                    "decay": 0.3}}, "weight": 3},
                {"random_score": {"seed": 10, "field": "_seq_no"}}
            ],
            "score_mode": "sum", "boost_mode": "replace", "max_boost": 10,
            "min_score": 0.5, "boost": 2
        }}));
        assert!(matches!(*f.query, QueryAst::Match(_)));
        assert_eq!(f.functions.len(), 4);
        assert_eq!(f.functions[0].kind, ScoreFunctionKind::Weight);
        assert_eq!(f.functions[0].weight, Some(2.0));
        assert!(f.functions[0].filter.is_some());
        assert_eq!(
            f.functions[1].kind,
            ScoreFunctionKind::FieldValueFactor {
                field: "likes".into(),
                factor: 1.2,
                modifier: FieldValueFactorModifier::Sqrt,
                missing: Some(1.0)
            }
        );
        assert_eq!(
            f.functions[2].kind,
            ScoreFunctionKind::Decay {
                kind: DecayKind::Gauss,
                field: "date".into(),
                origin: Some(json!("now")),
                scale: json!("10d"),
                offset: Some(json!("1d")),
                decay: 0.3,
                multi_value_mode: MultiValueMode::Min
            }
        );
        assert_eq!(f.functions[2].weight, Some(3.0));
        assert!(matches!(f.functions[3].kind, ScoreFunctionKind::RandomScore { .. }));
        assert_eq!(f.score_mode, ScoreMode::Sum);
        assert_eq!(f.boost_mode, BoostMode::Replace);
        assert_eq!((f.max_boost, f.min_score, f.boost), (10.0, Some(0.5), 2.0));
    }

    #[test]
    fn single_function_shorthand() {
        let f = ok(json!({"function_score": {"field_value_factor": {"field": "likes"}}}));
        assert_eq!(*f.query, QueryAst::match_all());
        assert_eq!(f.functions.len(), 1);
        let f = ok(json!({"function_score": {"query": {"match_all": {}}, "weight": 5}}));
        assert_eq!(f.functions[0].weight, Some(5.0));
        let f = ok(json!({"function_score": {"linear": {"price": {"origin": 0, "scale": 20},
            "multi_value_mode": "avg"}}}));
        assert!(matches!(
            f.functions[0].kind,
            ScoreFunctionKind::Decay { kind: DecayKind::Linear, multi_value_mode: MultiValueMode::Avg, .. }
        ));
    }

    #[test]
    fn errors() {
        let e = err(json!({"function_score": {"script_score": {"script": "1"}}}));
        assert_eq!(e.es_type(), "illegal_argument_exception");
        assert!(e.to_string().contains("scripts"));
        let e = err(json!({"function_score": {"foo": {}}}));
        assert_eq!(e.es_type(), "x_content_parse_exception");
        assert_eq!(e.to_string(), "unknown field [foo]");
        assert_eq!(
            err(json!({"function_score": {"functions": [{"filter": {"match_all": {}}}]}})).to_string(),
            "failed to parse [function_score] query. an entry in functions list is missing a \
             function."
        );
        assert!(
            err(json!({"function_score": {"functions": [], "weight": 2}}))
                .to_string()
                .contains("you can either define [functions] array or a single function")
        );
        assert_eq!(
            err(json!({"function_score": {"score_mode": "bogus"}})).to_string(),
            "No enum constant org.elasticsearch.common.lucene.search.function.FunctionScoreQuery.ScoreMode.BOGUS"
        );
        assert_eq!(
            err(json!({"function_score": {"field_value_factor": {"factor": 2}}})).to_string(),
            "[field_value_factor] required field 'field' missing"
        );
        assert_eq!(
            err(json!({"function_score": {"gauss": {"multi_value_mode": "min"}}})).to_string(),
            "malformed score function score parameters."
        );
        assert_eq!(
            err(json!({"function_score": {"gauss": {"d": {"origin": 1, "scale": 2, "x": 1}}}})).to_string(),
            "parameter [x] not supported!"
        );
        assert_eq!(
            err(json!({"function_score": {"foo": 1}})).to_string(),
            "failed to parse [function_score] query. field [foo] is not supported"
        );
    }
}
