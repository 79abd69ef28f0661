//! Term-level queries: `term`, `terms`, `range`, `exists`, `prefix`, `wildcard`, `regexp`,
//! `fuzzy`, `ids`. Their values are not analyzed (except by a keyword normalizer, on the shard).

use serde_json::{Map, Value};

use super::{check_single_field, max_expansions, prefix_length};
use crate::ast::{
    ExistsQuery, FuzzyQuery, IdsQuery, PrefixQuery, QueryAst, RangeQuery, RangeRelation, RegexpQuery, TermQuery,
    TermsLookupQuery, TermsQuery, WildcardQuery, regexp_flags,
};
use crate::error::{QueryError, QueryResult};
use crate::fuzziness::Fuzziness;
use crate::xcontent::{
    Accepts, ObjectParser, bool_value, boost_value, check_boost, float_value, int_value, is_value, scalar,
    string_array, text, text_or_null, token_name,
};

fn field_required(field: Option<&str>) -> QueryResult<String> {
    match field {
        Some(f) if !f.is_empty() => Ok(f.to_string()),
        _ => Err(QueryError::illegal("field name is null or empty")),
    }
}

pub(super) fn parse_term(body: &Map<String, Value>) -> QueryResult<QueryAst> {
    let mut field: Option<&str> = None;
    let mut value = None;
    let mut boost = 1.0;
    let mut name = None;
    let mut case_insensitive = false;
    for (key, v) in body {
        match v {
            Value::Object(inner) => {
                check_single_field("term", field, key)?;
                field = Some(key);
                for (k, iv) in inner {
                    match k.as_str() {
                        "value" => {
                            value = match iv {
                                Value::Array(_) => {
                                    return Err(QueryError::parsing("[term] query does not support array of values"));
                                }
                                Value::Object(_) => {
                                    return Err(QueryError::parsing(format!(
                                        "[term] unknown token [START_OBJECT] after [{k}]"
                                    )));
                                }
                                _ => scalar(iv),
                            }
                        }
                        "_name" => name = Some(text(iv)?),
                        "boost" => boost = float_value(iv)?,
                        "case_insensitive" => case_insensitive = bool_value(iv)?,
                        _ => {
                            return Err(QueryError::parsing(format!("[term] query does not support [{k}]")));
                        }
                    }
                }
            }
            Value::Array(_) => {
                return Err(QueryError::parsing("[term] query does not support array of values"));
            }
            _ if is_value(v) => {
                check_single_field("term", field, key)?;
                field = Some(key);
                value = scalar(v);
            }
            _ => {
                return Err(QueryError::parsing(format!("unknown token [{}] after [{key}]", token_name(v))));
            }
        }
    }
    let field = field_required(field)?;
    let Some(value) = value else {
        return Err(QueryError::illegal("value cannot be null"));
    };
    check_boost(boost)?;
    Ok(QueryAst::Term(TermQuery { field, value, case_insensitive, boost, name }))
}

pub(super) fn parse_terms(body: &Map<String, Value>) -> QueryResult<QueryAst> {
    let mut field: Option<&str> = None;
    let mut values: Option<Vec<Value>> = None;
    let mut lookup: Option<(String, String, String, Option<String>)> = None;
    let mut boost = 1.0;
    let mut name = None;
    for (key, v) in body {
        match v {
            Value::Array(items) => {
                if field.is_some() {
                    return Err(QueryError::parsing("[terms] query does not support multiple fields"));
                }
                field = Some(key);
                let mut vals = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Value::Null => {
                            return Err(QueryError::parsing("No value specified for terms query"));
                        }
                        Value::Object(_) | Value::Array(_) => {
                            return Err(QueryError::parsing(format!(
                                "[terms] query does not support [{}] values",
                                token_name(item)
                            )));
                        }
                        _ => vals.push(item.clone()),
                    }
                }
                values = Some(vals);
            }
            Value::Object(inner) => {
                if let Some(first) = field {
                    return Err(QueryError::parsing(format!(
                        "[terms] query does not support more than one field. Already got: [{first}] \
                         but also found [{key}]"
                    )));
                }
                field = Some(key);
                lookup = Some(parse_terms_lookup(inner)?);
            }
            _ if is_value(v) => match key.as_str() {
                "boost" => boost = float_value(v)?,
                "_name" => name = Some(text(v)?),
                _ => {
                    return Err(QueryError::parsing(format!("[terms] query does not support [{key}]")));
                }
            },
            _ => {
                return Err(QueryError::parsing(format!("[terms] unknown token [{}] after [{key}]", token_name(v))));
            }
        }
    }
    let Some(field) = field else {
        return Err(QueryError::parsing(
            "[terms] query requires a field name, followed by array of terms or a document lookup \
             specification",
        ));
    };
    check_boost(boost)?;
    let field = field.to_string();
    if let Some((index, id, path, routing)) = lookup {
        return Ok(QueryAst::TermsLookup(TermsLookupQuery { field, index, id, path, routing, boost, name }));
    }
    Ok(QueryAst::Terms(TermsQuery { field, values: values.unwrap_or_default(), boost, name }))
}

fn parse_terms_lookup(body: &Map<String, Value>) -> QueryResult<(String, String, String, Option<String>)> {
    let (mut index, mut id, mut path, mut routing) = (None, None, None, None);
    for (key, v) in body {
        if !is_value(v) && !v.is_null() {
            return Err(QueryError::parsing(format!("[terms] unknown token [{}] after [{key}]", token_name(v))));
        }
        match key.as_str() {
            "index" => index = text_or_null(v)?,
            "id" => id = text_or_null(v)?,
            "path" => path = text_or_null(v)?,
            "routing" => routing = text_or_null(v)?,
            _ => {
                return Err(QueryError::parsing(format!(
                    "[terms] query does not support [{key}] within lookup element"
                )));
            }
        }
    }
    let Some(id) = id else {
        return Err(QueryError::illegal("[terms] query lookup element requires specifying the id."));
    };
    let Some(path) = path else {
        return Err(QueryError::illegal("[terms] query lookup element requires specifying the path."));
    };
    let Some(index) = index else {
        return Err(QueryError::illegal("[terms] query lookup element requires specifying the index."));
    };
    Ok((index, id, path, routing))
}

/// A range bound: a scalar, or null for "unbounded".
fn range_bound(key: &str, v: &Value) -> QueryResult<Option<Value>> {
    match v {
        Value::Null => Ok(None),
        Value::Object(_) | Value::Array(_) => {
            Err(QueryError::parsing(format!("[range] query does not support [{}] for [{key}]", token_name(v))))
        }
        _ => Ok(scalar(v)),
    }
}

fn parse_relation(s: &str) -> QueryResult<RangeRelation> {
    match s.to_lowercase().as_str() {
        "intersects" => Ok(RangeRelation::Intersects),
        "contains" => Ok(RangeRelation::Contains),
        "within" => Ok(RangeRelation::Within),
        "disjoint" => Err(QueryError::parsing(format!("[range] query does not support relation [{s}]"))),
        _ => Err(QueryError::illegal(format!("{s} is not a valid relation"))),
    }
}

pub(super) fn parse_range(body: &Map<String, Value>) -> QueryResult<QueryAst> {
    let mut field: Option<&str> = None;
    let mut q = RangeQuery::new(String::new());
    let mut lower: Option<Value> = None;
    let mut upper: Option<Value> = None;
    let mut include_lower = true;
    let mut include_upper = true;
    for (key, v) in body {
        let Value::Object(inner) = v else {
            return Err(QueryError::parsing(format!("[range] query does not support [{key}]")));
        };
        check_single_field("range", field, key)?;
        field = Some(key);
        for (k, iv) in inner {
            match k.as_str() {
                "from" => lower = range_bound(k, iv)?,
                "to" => upper = range_bound(k, iv)?,
                "include_lower" => include_lower = bool_value(iv)?,
                "include_upper" => include_upper = bool_value(iv)?,
                "gt" => {
                    lower = range_bound(k, iv)?;
                    include_lower = false;
                }
                "gte" => {
                    lower = range_bound(k, iv)?;
                    include_lower = true;
                }
                "lt" => {
                    upper = range_bound(k, iv)?;
                    include_upper = false;
                }
                "lte" => {
                    upper = range_bound(k, iv)?;
                    include_upper = true;
                }
                "boost" => q.boost = float_value(iv)?,
                "time_zone" => q.time_zone = Some(text(iv)?),
                "format" => q.format = Some(text(iv)?),
                "relation" => q.relation = Some(parse_relation(&text(iv)?)?),
                "_name" => q.name = Some(text(iv)?),
                _ => {
                    return Err(QueryError::parsing(format!("[range] query does not support [{k}]")));
                }
            }
        }
    }
    q.field = field_required(field)?;
    if include_lower {
        q.gte = lower;
    } else {
        q.gt = lower;
    }
    if include_upper {
        q.lte = upper;
    } else {
        q.lt = upper;
    }
    check_boost(q.boost)?;
    Ok(QueryAst::Range(q))
}

pub(super) fn parse_exists(body: &Map<String, Value>) -> QueryResult<QueryAst> {
    let mut field = None;
    let mut boost = 1.0;
    let mut name = None;
    for (key, v) in body {
        if !is_value(v) {
            return Err(QueryError::parsing(format!("[exists] unknown token [{}] after [{key}]", token_name(v))));
        }
        match key.as_str() {
            "field" => field = Some(text(v)?),
            "_name" => name = Some(text(v)?),
            "boost" => boost = float_value(v)?,
            _ => {
                return Err(QueryError::parsing(format!("[exists] query does not support [{key}]")));
            }
        }
    }
    let Some(field) = field else {
        return Err(QueryError::parsing("[exists] must be provided with a [field]"));
    };
    if field.is_empty() {
        return Err(QueryError::illegal("field name is null or empty"));
    }
    check_boost(boost)?;
    Ok(QueryAst::Exists(ExistsQuery { field, boost, name }))
}

/// The skeleton of `prefix`, `wildcard`, `regexp` and `fuzzy`: `{"field": value}` or
/// `{"field": {"value": ..., options...}}`. `option` returns false for unknown keys.
fn single_field_term<'a>(
    query: &str,
    body: &'a Map<String, Value>,
    value_keys: &[&str],
    mut option: impl FnMut(&str, &Value) -> QueryResult<bool>,
) -> QueryResult<(Option<&'a str>, Option<Value>)> {
    let mut field: Option<&str> = None;
    let mut value = None;
    for (key, v) in body {
        check_single_field(query, field, key)?;
        field = Some(key);
        match v {
            Value::Object(inner) => {
                for (k, iv) in inner {
                    if value_keys.contains(&k.as_str()) {
                        value = match iv {
                            Value::Null => None,
                            _ if is_value(iv) => scalar(iv),
                            _ => return Err(bad_token(query, k, iv)),
                        };
                    } else if !option(k, iv)? {
                        return Err(QueryError::parsing(format!("[{query}] query does not support [{k}]")));
                    }
                }
            }
            Value::Null => value = None,
            _ if is_value(v) => value = scalar(v),
            _ => return Err(bad_token(query, key, v)),
        }
    }
    Ok((field, value))
}

fn bad_token(query: &str, key: &str, v: &Value) -> QueryError {
    let verb = if query == "fuzzy" { "unexpected" } else { "unknown" };
    QueryError::parsing(format!("[{query}] {verb} token [{}] after [{key}]", token_name(v)))
}

fn value_required(value: Option<Value>) -> QueryResult<String> {
    match value {
        Some(v) => text(&v),
        None => Err(QueryError::illegal("value cannot be null")),
    }
}

pub(super) fn parse_prefix(body: &Map<String, Value>) -> QueryResult<QueryAst> {
    let mut q = PrefixQuery {
        field: String::new(),
        value: String::new(),
        case_insensitive: false,
        rewrite: None,
        normalize: false,
        boost: 1.0,
        name: None,
    };
    let (field, value) = single_field_term("prefix", body, &["value", "prefix"], |k, v| {
        match k {
            "_name" => q.name = Some(text(v)?),
            "boost" => q.boost = float_value(v)?,
            "rewrite" => q.rewrite = text_or_null(v)?,
            "case_insensitive" => q.case_insensitive = bool_value(v)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    q.field = field_required(field)?;
    q.value = value_required(value)?;
    check_boost(q.boost)?;
    Ok(QueryAst::Prefix(q))
}

pub(super) fn parse_wildcard(body: &Map<String, Value>) -> QueryResult<QueryAst> {
    let mut q = WildcardQuery {
        field: String::new(),
        value: String::new(),
        case_insensitive: false,
        rewrite: None,
        normalize: false,
        boost: 1.0,
        name: None,
    };
    let (field, value) = single_field_term("wildcard", body, &["value", "wildcard"], |k, v| {
        match k {
            "_name" => q.name = Some(text(v)?),
            "boost" => q.boost = float_value(v)?,
            "rewrite" => q.rewrite = text_or_null(v)?,
            "case_insensitive" => q.case_insensitive = bool_value(v)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    q.field = field_required(field)?;
    q.value = value_required(value)?;
    check_boost(q.boost)?;
    Ok(QueryAst::Wildcard(q))
}

/// ES's `RegexpFlag.resolveValue`: `"INTERSECTION|COMPLEMENT"`, case-insensitive.
pub(crate) fn resolve_regexp_flags(s: &str) -> QueryResult<u32> {
    if s.is_empty() {
        return Ok(regexp_flags::ALL);
    }
    let mut magic = regexp_flags::NONE;
    for part in s.split('|') {
        if part.is_empty() {
            continue;
        }
        let flag = match part.to_uppercase().as_str() {
            "ALL" => return Ok(regexp_flags::ALL),
            "NONE" => continue,
            "INTERSECTION" => regexp_flags::INTERSECTION,
            "COMPLEMENT" => regexp_flags::COMPLEMENT,
            "EMPTY" => regexp_flags::EMPTY,
            "ANYSTRING" => regexp_flags::ANYSTRING,
            "INTERVAL" => regexp_flags::INTERVAL,
            _ => {
                return Err(QueryError::illegal(format!("Unknown regexp flag [{part}]")));
            }
        };
        magic |= flag;
    }
    Ok(magic)
}

pub(super) fn parse_regexp(body: &Map<String, Value>) -> QueryResult<QueryAst> {
    let mut q = RegexpQuery {
        field: String::new(),
        value: String::new(),
        flags: regexp_flags::ALL,
        case_insensitive: false,
        max_determinized_states: 10_000,
        rewrite: None,
        boost: 1.0,
        name: None,
    };
    let mut max_states = 10_000;
    let (field, value) = single_field_term("regexp", body, &["value"], |k, v| {
        match k {
            "flags" => q.flags = resolve_regexp_flags(&text(v)?)?,
            "flags_value" => q.flags = int_value(v)? as u32,
            "max_determinized_states" => max_states = int_value(v)?,
            "case_insensitive" => q.case_insensitive = bool_value(v)?,
            "rewrite" => q.rewrite = text_or_null(v)?,
            "_name" => q.name = Some(text(v)?),
            "boost" => q.boost = float_value(v)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    q.field = field_required(field)?;
    q.value = value_required(value)?;
    q.max_determinized_states = u32::try_from(max_states)
        .map_err(|_| QueryError::illegal("[regexp] requires max_determinized_states to be non-negative."))?;
    check_boost(q.boost)?;
    Ok(QueryAst::Regexp(q))
}

pub(super) fn parse_fuzzy(body: &Map<String, Value>) -> QueryResult<QueryAst> {
    let mut q = FuzzyQuery {
        field: String::new(),
        value: Value::Null,
        fuzziness: Fuzziness::AUTO,
        prefix_length: 0,
        max_expansions: 50,
        transpositions: true,
        rewrite: None,
        normalize: false,
        boost: 1.0,
        name: None,
    };
    let mut prefix_len = 0;
    let mut expansions = 50;
    let (field, value) = single_field_term("fuzzy", body, &["value", "term"], |k, v| {
        match k {
            "boost" => q.boost = float_value(v)?,
            "fuzziness" => q.fuzziness = Fuzziness::from_json(v)?,
            "prefix_length" => prefix_len = int_value(v)?,
            "max_expansions" => expansions = int_value(v)?,
            "transpositions" => q.transpositions = bool_value(v)?,
            "rewrite" => q.rewrite = text_or_null(v)?,
            "_name" => q.name = Some(text(v)?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    match field {
        Some(f) if !f.is_empty() => q.field = f.to_string(),
        _ => return Err(QueryError::illegal("field name cannot be null or empty")),
    }
    let Some(value) = value else {
        return Err(QueryError::illegal("query value cannot be null"));
    };
    q.value = value;
    q.prefix_length = prefix_length("fuzzy", prefix_len)?;
    q.max_expansions = max_expansions("fuzzy", expansions)?;
    check_boost(q.boost)?;
    Ok(QueryAst::Fuzzy(q))
}

const IDS: ObjectParser = ObjectParser { name: "ids", fields: &["values", "boost", "_name"] };

pub(super) fn parse_ids(body: &Map<String, Value>) -> QueryResult<QueryAst> {
    let p = &IDS;
    let mut q = IdsQuery { values: Vec::new(), boost: 1.0, name: None };
    for (key, v) in body {
        match key.as_str() {
            "values" => q.values = p.field(key, v, Accepts::StringArray, string_array)?,
            "boost" => q.boost = p.field(key, v, Accepts::Number, boost_value)?,
            "_name" => q.name = Some(p.field(key, v, Accepts::String, text)?),
            _ => return Err(p.unknown_field(key)),
        }
    }
    Ok(QueryAst::Ids(q))
}

#[cfg(test)]
mod tests {
    use crate::ast::*;
    use crate::dsl::parse_query;
    use crate::error::QueryError;
    use crate::fuzziness::Fuzziness;
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
    fn term_forms() {
        let expected = QueryAst::Term(TermQuery {
            field: "user".into(),
            value: json!("kimchy"),
            case_insensitive: false,
            boost: 1.0,
            name: None,
        });
        assert_eq!(ok(json!({"term": {"user": "kimchy"}})), expected);
        assert_eq!(ok(json!({"term": {"user": {"value": "kimchy"}}})), expected);
        let QueryAst::Term(t) = ok(json!({"term": {"n": {"value": 5, "boost": 2,
            "case_insensitive": true, "_name": "t"}}}))
        else {
            panic!()
        };
        assert_eq!(t.value, json!(5));
        assert!(t.case_insensitive);
        assert_eq!((t.boost, t.name.as_deref()), (2.0, Some("t")));
        let QueryAst::Term(t) = ok(json!({"term": {"b": true}})) else { panic!() };
        assert_eq!(t.value, json!(true));
    }

    #[test]
    fn term_errors() {
        assert_eq!(
            err(json!({"term": {"a": "x", "b": "y"}})).to_string(),
            "[term] query doesn't support multiple fields, found [a] and [b]"
        );
        assert_eq!(
            err(json!({"term": {"a": {"value": "x", "foo": 1}}})).to_string(),
            "[term] query does not support [foo]"
        );
        assert_eq!(err(json!({"term": {"a": ["x"]}})).to_string(), "[term] query does not support array of values");
        assert_eq!(err(json!({"term": {}})).to_string(), "field name is null or empty");
        assert_eq!(err(json!({"term": {"a": {"boost": 2}}})).to_string(), "value cannot be null");
        assert_eq!(
            err(json!({"term": {"a": {"value": "x", "boost": -2}}})).to_string(),
            "negative [boost] are not allowed."
        );
    }

    #[test]
    fn terms_values_and_lookup() {
        let q = ok(json!({"terms": {"tags": ["a", 1, true], "boost": 2}}));
        assert_eq!(
            q,
            QueryAst::Terms(TermsQuery {
                field: "tags".into(),
                values: vec![json!("a"), json!(1), json!(true)],
                boost: 2.0,
                name: None,
            })
        );
        let q = ok(json!({"terms": {"tags": {"index": "i", "id": "2", "path": "t",
            "routing": "r"}}}));
        assert_eq!(
            q,
            QueryAst::TermsLookup(TermsLookupQuery {
                field: "tags".into(),
                index: "i".into(),
                id: "2".into(),
                path: "t".into(),
                routing: Some("r".into()),
                boost: 1.0,
                name: None,
            })
        );
        assert_eq!(
            err(json!({"terms": {"a": [1], "b": [2]}})).to_string(),
            "[terms] query does not support multiple fields"
        );
        assert_eq!(err(json!({"terms": {"a": [null]}})).to_string(), "No value specified for terms query");
        assert_eq!(
            err(json!({"terms": {"boost": 1}})).to_string(),
            "[terms] query requires a field name, followed by array of terms or a document \
             lookup specification"
        );
        assert_eq!(err(json!({"terms": {"a": [1], "foo": 1}})).to_string(), "[terms] query does not support [foo]");
        assert_eq!(
            err(json!({"terms": {"a": {"index": "i", "path": "p"}}})).to_string(),
            "[terms] query lookup element requires specifying the id."
        );
        assert_eq!(
            err(json!({"terms": {"a": {"index": "i", "id": "1", "path": "p", "x": 1}}})).to_string(),
            "[terms] query does not support [x] within lookup element"
        );
    }

    #[test]
    fn range_modern_and_legacy() {
        let QueryAst::Range(r) = ok(json!({"range": {"age": {"gte": 10, "lt": 20,
            "boost": 2, "format": "yyyy", "time_zone": "+01:00", "relation": "within"}}}))
        else {
            panic!()
        };
        assert_eq!((r.gte, r.lt, r.gt, r.lte), (Some(json!(10)), Some(json!(20)), None, None));
        assert_eq!(r.format.as_deref(), Some("yyyy"));
        assert_eq!(r.time_zone.as_deref(), Some("+01:00"));
        assert_eq!(r.relation, Some(RangeRelation::Within));

        let QueryAst::Range(r) = ok(json!({"range": {"age": {"from": 1, "to": 5,
            "include_lower": false, "include_upper": true}}}))
        else {
            panic!()
        };
        assert_eq!((r.gt, r.lte), (Some(json!(1)), Some(json!(5))));
        assert_eq!((r.gte, r.lt), (None, None));

        let QueryAst::Range(r) = ok(json!({"range": {"age": {"from": null, "to": "now"}}})) else { panic!() };
        assert_eq!((r.gte, r.lte), (None, Some(json!("now"))));

        // The last lower bound wins, as in ES.
        let QueryAst::Range(r) = ok(json!({"range": {"age": {"gt": 1, "gte": 2}}})) else { panic!() };
        assert_eq!((r.gt, r.gte), (None, Some(json!(2))));

        assert_eq!(
            err(json!({"range": {"age": {"gte": 1, "foo": 2}}})).to_string(),
            "[range] query does not support [foo]"
        );
        assert_eq!(
            err(json!({"range": {"a": {"gte": 1}, "b": {"gte": 1}}})).to_string(),
            "[range] query doesn't support multiple fields, found [a] and [b]"
        );
        assert_eq!(
            err(json!({"range": {"a": {"gte": 1}, "boost": 2}})).to_string(),
            "[range] query does not support [boost]"
        );
        assert_eq!(
            err(json!({"range": {"a": {"relation": "disjoint"}}})).to_string(),
            "[range] query does not support relation [disjoint]"
        );
        assert_eq!(err(json!({"range": {}})).to_string(), "field name is null or empty");
    }

    #[test]
    fn exists() {
        assert_eq!(
            ok(json!({"exists": {"field": "user"}})),
            QueryAst::Exists(ExistsQuery { field: "user".into(), boost: 1.0, name: None })
        );
        assert_eq!(err(json!({"exists": {}})).to_string(), "[exists] must be provided with a [field]");
        assert_eq!(err(json!({"exists": {"field": "a", "x": 1}})).to_string(), "[exists] query does not support [x]");
        assert_eq!(
            err(json!({"exists": {"field": ["a"]}})).to_string(),
            "[exists] unknown token [START_ARRAY] after [field]"
        );
    }

    #[test]
    fn prefix_wildcard_regexp() {
        let QueryAst::Prefix(p) = ok(json!({"prefix": {"user": "ki"}})) else { panic!() };
        assert_eq!((p.field.as_str(), p.value.as_str()), ("user", "ki"));
        assert!(!p.normalize);
        let QueryAst::Prefix(p) = ok(json!({"prefix": {"user": {"value": "ki",
            "case_insensitive": true, "rewrite": "constant_score", "boost": 2}}}))
        else {
            panic!()
        };
        assert!(p.case_insensitive);
        assert_eq!(p.rewrite.as_deref(), Some("constant_score"));
        let QueryAst::Prefix(p) = ok(json!({"prefix": {"user": {"prefix": "ki"}}})) else { panic!() };
        assert_eq!(p.value, "ki");
        assert_eq!(
            err(json!({"prefix": {"user": {"value": "ki", "x": 1}}})).to_string(),
            "[prefix] query does not support [x]"
        );
        assert_eq!(
            err(json!({"prefix": {"a": "x", "b": "y"}})).to_string(),
            "[prefix] query doesn't support multiple fields, found [a] and [b]"
        );

        let QueryAst::Wildcard(w) = ok(json!({"wildcard": {"user": {"wildcard": "k*y"}}})) else { panic!() };
        assert_eq!(w.value, "k*y");
        let QueryAst::Wildcard(w) = ok(json!({"wildcard": {"user": "k?y"}})) else { panic!() };
        assert_eq!(w.value, "k?y");

        let QueryAst::Regexp(r) = ok(json!({"regexp": {"user": {"value": "k.*y",
            "flags": "INTERSECTION|COMPLEMENT", "max_determinized_states": 500}}}))
        else {
            panic!()
        };
        assert_eq!(r.flags, regexp_flags::INTERSECTION | regexp_flags::COMPLEMENT);
        assert_eq!(r.max_determinized_states, 500);
        let QueryAst::Regexp(r) = ok(json!({"regexp": {"user": "k.*y"}})) else { panic!() };
        assert_eq!(r.flags, regexp_flags::ALL);
        assert_eq!(
            err(json!({"regexp": {"user": {"value": "k", "flags": "FOO"}}})).to_string(),
            "Unknown regexp flag [FOO]"
        );
        assert_eq!(err(json!({"wildcard": {"user": {"boost": 1}}})).to_string(), "value cannot be null");
    }

    #[test]
    fn fuzzy() {
        let QueryAst::Fuzzy(f) = ok(json!({"fuzzy": {"user": "ki"}})) else { panic!() };
        assert_eq!(f.fuzziness, Fuzziness::AUTO);
        assert_eq!((f.prefix_length, f.max_expansions, f.transpositions), (0, 50, true));
        let QueryAst::Fuzzy(f) = ok(json!({"fuzzy": {"user": {"value": "ki", "fuzziness": 2,
            "prefix_length": 1, "max_expansions": 5, "transpositions": false}}}))
        else {
            panic!()
        };
        assert_eq!(f.fuzziness, Fuzziness::Edits(2));
        assert_eq!((f.prefix_length, f.max_expansions, f.transpositions), (1, 5, false));
        assert_eq!(
            err(json!({"fuzzy": {"user": {"value": "ki", "x": 1}}})).to_string(),
            "[fuzzy] query does not support [x]"
        );
        assert_eq!(
            err(json!({"fuzzy": {"user": {"value": {}}}})).to_string(),
            "[fuzzy] unexpected token [START_OBJECT] after [value]"
        );
        assert_eq!(err(json!({"fuzzy": {"user": {"fuzziness": 1}}})).to_string(), "query value cannot be null");
    }

    #[test]
    fn ids() {
        assert_eq!(
            ok(json!({"ids": {"values": ["1", 2]}})),
            QueryAst::Ids(IdsQuery { values: vec!["1".into(), "2".into()], boost: 1.0, name: None })
        );
        let e = err(json!({"ids": {"type": "_doc", "values": []}}));
        assert_eq!(e.es_type(), "x_content_parse_exception");
        assert_eq!(e.to_string(), "[ids] unknown field [type]");
        let e = err(json!({"ids": {"values": {}}}));
        assert_eq!(e.to_string(), "[ids] values doesn't support values of type: START_OBJECT");
    }
}
