//! Full-text queries: `match`, `match_phrase`, `match_phrase_prefix`, `match_bool_prefix`,
//! `multi_match`, `combined_fields`, `query_string`, `simple_query_string`.

use serde_json::{Map, Value};

use super::{check_single_field, field_and_boost, max_expansions, prefix_length, push_field, slop};
use crate::ast::{
    CombinedFieldsQuery, MatchBoolPrefixQuery, MatchPhrasePrefixQuery, MatchPhraseQuery, MatchQuery, MultiMatchQuery,
    MultiMatchType, Operator, QueryAst, QueryStringQuery, SimpleQueryStringQuery, ZeroTermsQuery, simple_flags,
};
use crate::error::{QueryError, QueryResult};
use crate::fuzziness::Fuzziness;
use crate::msm::MinimumShouldMatch;
use crate::xcontent::{
    Accepts, ObjectParser, Token, bool_value, boost_value, check_boost, float_value, int_value, is_value, scalar,
    string_array, text, text_or_null, token_name,
};

/// ES's `Operator.fromString` (`valueOf` of the upper-cased name).
pub(crate) fn parse_operator(s: &str) -> QueryResult<Operator> {
    match s.to_uppercase().as_str() {
        "OR" => Ok(Operator::Or),
        "AND" => Ok(Operator::And),
        upper => Err(QueryError::illegal(format!("No enum constant org.elasticsearch.index.query.Operator.{upper}"))),
    }
}

fn parse_zero_terms(s: &str) -> QueryResult<ZeroTermsQuery> {
    if s.eq_ignore_ascii_case("none") {
        Ok(ZeroTermsQuery::None)
    } else if s.eq_ignore_ascii_case("all") {
        Ok(ZeroTermsQuery::All)
    } else {
        Err(QueryError::parsing(format!("Unsupported zero_terms_query value [{s}]")))
    }
}

/// ES's `MultiMatchQueryBuilder.Type.parse` (also used by `query_string`'s `type`).
pub(crate) fn parse_multi_match_type(s: &str) -> QueryResult<MultiMatchType> {
    match s.to_lowercase().as_str() {
        "best_fields" | "boolean" => Ok(MultiMatchType::BestFields),
        "most_fields" => Ok(MultiMatchType::MostFields),
        "cross_fields" => Ok(MultiMatchType::CrossFields),
        "phrase" => Ok(MultiMatchType::Phrase),
        "phrase_prefix" => Ok(MultiMatchType::PhrasePrefix),
        "bool_prefix" => Ok(MultiMatchType::BoolPrefix),
        _ => Err(QueryError::Parse(format!("failed to parse [multi_match] query type [{s}]. unknown type."))),
    }
}

/// The text of a full-text query as ES's `objectText()` sees it.
fn phrase_text(v: &Value) -> QueryResult<String> {
    text(v)
}

/// The shared skeleton of the hand-written single-field full-text parsers: either
/// `{"field": "text"}` or `{"field": {"query": ..., options...}}`.
///
/// `option` handles one inner option and returns `false` for keys the query does not know.
fn single_field_full_text<'a>(
    query: &str,
    body: &'a Map<String, Value>,
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
                    if !is_value(iv) {
                        return Err(QueryError::parsing(format!(
                            "[{query}] unknown token [{}] after [{k}]",
                            token_name(iv)
                        )));
                    }
                    if k == "query" {
                        value = scalar(iv);
                    } else if !option(k, iv)? {
                        return Err(QueryError::parsing(format!("[{query}] query does not support [{k}]")));
                    }
                }
            }
            Value::Null => value = None,
            _ if is_value(v) => value = scalar(v),
            _ => {
                return Err(QueryError::parsing(format!("[{query}] unknown token [{}] after [{key}]", token_name(v))));
            }
        }
    }
    Ok((field, value))
}

pub(super) fn parse_match(body: &Map<String, Value>) -> QueryResult<QueryAst> {
    let mut q = MatchQuery::new(String::new(), Value::Null);
    let mut prefix_len = 0;
    let mut expansions = 50;
    let (field, value) = single_field_full_text("match", body, |k, v| {
        match k {
            "analyzer" => q.analyzer = Some(text(v)?),
            "boost" => q.boost = float_value(v)?,
            "fuzziness" => q.fuzziness = Some(Fuzziness::from_json(v)?),
            "prefix_length" => prefix_len = int_value(v)?,
            "max_expansions" => expansions = int_value(v)?,
            "operator" => q.operator = parse_operator(&text(v)?)?,
            "minimum_should_match" => q.minimum_should_match = MinimumShouldMatch::from_json(v)?,
            "fuzzy_rewrite" => q.fuzzy_rewrite = text_or_null(v)?,
            "fuzzy_transpositions" => q.fuzzy_transpositions = bool_value(v)?,
            "lenient" => q.lenient = bool_value(v)?,
            "zero_terms_query" => q.zero_terms_query = parse_zero_terms(&text(v)?)?,
            "_name" => q.name = Some(text(v)?),
            "auto_generate_synonyms_phrase_query" => q.auto_generate_synonyms_phrase_query = bool_value(v)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    let Some(value) = value else {
        return Err(QueryError::parsing("No text specified for text query"));
    };
    let Some(field) = field else {
        return Err(QueryError::illegal("[match] requires fieldName"));
    };
    q.field = field.to_string();
    q.query = value;
    q.prefix_length = prefix_length("match", prefix_len)?;
    q.max_expansions = max_expansions("match", expansions)?;
    check_boost(q.boost)?;
    Ok(QueryAst::Match(q))
}

pub(super) fn parse_match_phrase(body: &Map<String, Value>) -> QueryResult<QueryAst> {
    let mut q = MatchPhraseQuery::new(String::new(), String::new());
    let mut slop_value = 0;
    let (field, value) = single_field_full_text("match_phrase", body, |k, v| {
        match k {
            "analyzer" => q.analyzer = Some(text(v)?),
            "boost" => q.boost = float_value(v)?,
            "slop" => slop_value = int_value(v)?,
            "zero_terms_query" => q.zero_terms_query = parse_zero_terms(&text(v)?)?,
            "_name" => q.name = Some(text(v)?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    let Some(value) = value else {
        return Err(QueryError::parsing("No text specified for text query"));
    };
    let Some(field) = field else {
        return Err(QueryError::illegal("[match_phrase] requires fieldName"));
    };
    q.field = field.to_string();
    q.query = phrase_text(&value)?;
    q.slop = slop(slop_value)?;
    check_boost(q.boost)?;
    Ok(QueryAst::MatchPhrase(q))
}

pub(super) fn parse_match_phrase_prefix(body: &Map<String, Value>) -> QueryResult<QueryAst> {
    let mut q = MatchPhrasePrefixQuery {
        field: String::new(),
        query: String::new(),
        slop: 0,
        max_expansions: 50,
        analyzer: None,
        zero_terms_query: ZeroTermsQuery::None,
        boost: 1.0,
        name: None,
    };
    let mut slop_value = 0;
    let mut expansions = 50;
    let (field, value) = single_field_full_text("match_phrase_prefix", body, |k, v| {
        match k {
            "analyzer" => q.analyzer = Some(text(v)?),
            "boost" => q.boost = float_value(v)?,
            "slop" => slop_value = int_value(v)?,
            "max_expansions" => expansions = int_value(v)?,
            "zero_terms_query" => q.zero_terms_query = parse_zero_terms(&text(v)?)?,
            "_name" => q.name = Some(text(v)?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    let Some(value) = value else {
        return Err(QueryError::parsing("No text specified for text query"));
    };
    let Some(field) = field else {
        return Err(QueryError::illegal("[match_phrase_prefix] requires fieldName"));
    };
    q.field = field.to_string();
    q.query = phrase_text(&value)?;
    q.slop = slop(slop_value)?;
    q.max_expansions = max_expansions("match_phrase_prefix", expansions)?;
    check_boost(q.boost)?;
    Ok(QueryAst::MatchPhrasePrefix(q))
}

pub(super) fn parse_match_bool_prefix(body: &Map<String, Value>) -> QueryResult<QueryAst> {
    let mut q = MatchBoolPrefixQuery {
        field: String::new(),
        query: String::new(),
        operator: Operator::Or,
        minimum_should_match: None,
        fuzziness: None,
        prefix_length: 0,
        max_expansions: 50,
        fuzzy_transpositions: true,
        fuzzy_rewrite: None,
        analyzer: None,
        boost: 1.0,
        name: None,
    };
    let mut prefix_len = 0;
    let mut expansions = 50;
    let (field, value) = single_field_full_text("match_bool_prefix", body, |k, v| {
        match k {
            "analyzer" => q.analyzer = Some(text(v)?),
            "operator" => q.operator = parse_operator(&text(v)?)?,
            "minimum_should_match" => q.minimum_should_match = MinimumShouldMatch::from_json(v)?,
            "fuzziness" => q.fuzziness = Some(Fuzziness::from_json(v)?),
            "prefix_length" => prefix_len = int_value(v)?,
            "max_expansions" => expansions = int_value(v)?,
            "fuzzy_transpositions" => q.fuzzy_transpositions = bool_value(v)?,
            "fuzzy_rewrite" => q.fuzzy_rewrite = text_or_null(v)?,
            "boost" => q.boost = float_value(v)?,
            "_name" => q.name = Some(text(v)?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    let Some(value) = value else {
        return Err(QueryError::parsing("No text specified for text query"));
    };
    let Some(field) = field else {
        return Err(QueryError::illegal("[match_bool_prefix] requires fieldName"));
    };
    q.field = field.to_string();
    q.query = phrase_text(&value)?;
    q.prefix_length = prefix_length("match_bool_prefix", prefix_len)?;
    q.max_expansions = max_expansions("match_bool_prefix", expansions)?;
    check_boost(q.boost)?;
    Ok(QueryAst::MatchBoolPrefix(q))
}

pub(super) fn parse_multi_match(body: &Map<String, Value>) -> QueryResult<QueryAst> {
    let mut q = MultiMatchQuery {
        query: Value::Null,
        fields: Vec::new(),
        match_type: MultiMatchType::BestFields,
        tie_breaker: None,
        operator: Operator::Or,
        minimum_should_match: None,
        fuzziness: None,
        prefix_length: 0,
        max_expansions: 50,
        fuzzy_transpositions: true,
        fuzzy_rewrite: None,
        slop: 0,
        analyzer: None,
        lenient: false,
        zero_terms_query: ZeroTermsQuery::None,
        auto_generate_synonyms_phrase_query: true,
        boost: 1.0,
        name: None,
    };
    let mut value = None;
    let mut prefix_len = 0;
    let mut expansions = 50;
    let mut slop_value = 0;
    let unsupported = |k: &str| QueryError::parsing(format!("[multi_match] query does not support [{k}]"));
    for (key, v) in body {
        if key == "fields" {
            match v {
                Value::Array(items) => {
                    for item in items {
                        push_field(&mut q.fields, field_and_boost(&text(item)?)?);
                    }
                }
                _ if is_value(v) => push_field(&mut q.fields, field_and_boost(&text(v)?)?),
                _ => return Err(unsupported(key)),
            }
            continue;
        }
        if !is_value(v) {
            return Err(QueryError::parsing(format!("[multi_match] unknown token [{}] after [{key}]", token_name(v))));
        }
        match key.as_str() {
            "query" => value = scalar(v),
            "type" => q.match_type = parse_multi_match_type(&text(v)?)?,
            "analyzer" => q.analyzer = Some(text(v)?),
            "boost" => q.boost = float_value(v)?,
            "slop" | "phrase_slop" => slop_value = int_value(v)?,
            "fuzziness" => q.fuzziness = Some(Fuzziness::from_json(v)?),
            "prefix_length" => prefix_len = int_value(v)?,
            "max_expansions" => expansions = int_value(v)?,
            "operator" => q.operator = parse_operator(&text(v)?)?,
            "minimum_should_match" => q.minimum_should_match = MinimumShouldMatch::from_json(v)?,
            "fuzzy_rewrite" => q.fuzzy_rewrite = text_or_null(v)?,
            "tie_breaker" => q.tie_breaker = Some(float_value(v)?),
            "lenient" => q.lenient = bool_value(v)?,
            "zero_terms_query" => q.zero_terms_query = parse_zero_terms(&text(v)?)?,
            "_name" => q.name = Some(text(v)?),
            "auto_generate_synonyms_phrase_query" => q.auto_generate_synonyms_phrase_query = bool_value(v)?,
            "fuzzy_transpositions" => q.fuzzy_transpositions = bool_value(v)?,
            _ => return Err(unsupported(key)),
        }
    }
    let Some(value) = value else {
        return Err(QueryError::parsing("No text specified for multi_match query"));
    };
    if q.fuzziness.is_some()
        && matches!(q.match_type, MultiMatchType::CrossFields | MultiMatchType::Phrase | MultiMatchType::PhrasePrefix)
    {
        return Err(QueryError::parsing(format!("Fuzziness not allowed for type [{}]", q.match_type.es_name())));
    }
    if slop_value != 0 && q.match_type == MultiMatchType::BoolPrefix {
        return Err(QueryError::parsing(format!("slop not allowed for type [{}]", q.match_type.es_name())));
    }
    q.query = value;
    q.slop = slop(slop_value)?;
    q.prefix_length = prefix_length("multi_match", prefix_len)?;
    q.max_expansions = max_expansions("multi_match", expansions)?;
    check_boost(q.boost)?;
    Ok(QueryAst::MultiMatch(q))
}

const COMBINED_FIELDS: ObjectParser = ObjectParser {
    name: "combined_fields",
    fields: &[
        "query",
        "fields",
        "auto_generate_synonyms_phrase_query",
        "operator",
        "minimum_should_match",
        "zero_terms_query",
        "boost",
        "_name",
    ],
};

pub(super) fn parse_combined_fields(body: &Map<String, Value>) -> QueryResult<QueryAst> {
    let p = &COMBINED_FIELDS;
    let mut query = None;
    let mut fields = None;
    let mut q = CombinedFieldsQuery {
        query: String::new(),
        fields: Vec::new(),
        operator: Operator::Or,
        minimum_should_match: None,
        zero_terms_query: ZeroTermsQuery::None,
        auto_generate_synonyms_phrase_query: true,
        boost: 1.0,
        name: None,
    };
    for (key, v) in body {
        match key.as_str() {
            "query" => query = Some(p.field(key, v, Accepts::Value, text)?),
            "fields" => {
                let parsed = p.field(key, v, Accepts::StringArray, |v| {
                    let mut parsed = Vec::new();
                    for f in string_array(v)? {
                        push_field(&mut parsed, field_and_boost(&f)?);
                    }
                    Ok(parsed)
                })?;
                fields = Some(parsed);
            }
            "auto_generate_synonyms_phrase_query" => {
                q.auto_generate_synonyms_phrase_query = p.field(key, v, Accepts::Boolean, bool_value)?
            }
            "operator" => q.operator = p.field(key, v, Accepts::String, |v| parse_operator(&text(v)?))?,
            "minimum_should_match" => {
                q.minimum_should_match = p.field(key, v, Accepts::Value, MinimumShouldMatch::from_json)?
            }
            "zero_terms_query" => {
                q.zero_terms_query = p.field(key, v, Accepts::String, |v| parse_zero_terms(&text(v)?))?
            }
            "boost" => q.boost = p.field(key, v, Accepts::Number, boost_value)?,
            "_name" => q.name = Some(p.field(key, v, Accepts::String, text)?),
            _ => return Err(p.unknown_field(key)),
        }
    }
    let mut missing = Vec::new();
    if query.is_none() {
        missing.push("query");
    }
    if fields.is_none() {
        missing.push("fields");
    }
    if !missing.is_empty() {
        return Err(QueryError::illegal(format!("Required [{}]", missing.join(", "))));
    }
    q.query = query.unwrap_or_default();
    q.fields = fields.unwrap_or_default();
    Ok(QueryAst::CombinedFields(q))
}

fn fields_array(query: &str, key: &str, v: &Value) -> QueryResult<Vec<(String, f32)>> {
    let Value::Array(items) = v else {
        return Err(QueryError::parsing(format!("[{query}] query does not support [{key}]")));
    };
    let mut out = Vec::new();
    for item in items {
        push_field(&mut out, field_and_boost(&text(item)?)?);
    }
    Ok(out)
}

pub(super) fn parse_query_string(body: &Map<String, Value>) -> QueryResult<QueryAst> {
    let mut q = QueryStringQuery::new(String::new());
    let mut query = None;
    let unsupported = |k: &str| QueryError::parsing(format!("[query_string] query does not support [{k}]"));
    for (key, v) in body {
        if let Value::Array(_) = v {
            if key == "fields" {
                q.fields = fields_array("query_string", key, v)?;
                continue;
            }
            return Err(unsupported(key));
        }
        if !is_value(v) {
            return Err(QueryError::parsing(format!("[query_string] unknown token [{}] after [{key}]", token_name(v))));
        }
        match key.as_str() {
            "query" => query = Some(text(v)?),
            "default_field" => q.default_field = Some(text(v)?),
            "default_operator" => q.default_operator = parse_operator(&text(v)?)?,
            "analyzer" => q.analyzer = Some(text(v)?),
            "quote_analyzer" => q.quote_analyzer = Some(text(v)?),
            "allow_leading_wildcard" => q.allow_leading_wildcard = bool_value(v)?,
            "max_determinized_states" => q.max_determinized_states = non_negative(key, int_value(v)?)?,
            "enable_position_increments" => q.enable_position_increments = bool_value(v)?,
            "escape" => q.escape = bool_value(v)?,
            "fuzzy_prefix_length" => q.fuzzy_prefix_length = non_negative(key, int_value(v)?)?,
            "fuzzy_max_expansions" => q.fuzzy_max_expansions = non_negative(key, int_value(v)?)?,
            "fuzzy_rewrite" => q.fuzzy_rewrite = text_or_null(v)?,
            "phrase_slop" => q.phrase_slop = slop(int_value(v)?)?,
            "fuzziness" => q.fuzziness = Fuzziness::from_json(v)?,
            "boost" => q.boost = float_value(v)?,
            "tie_breaker" => q.tie_breaker = Some(float_value(v)?),
            "analyze_wildcard" => q.analyze_wildcard = bool_value(v)?,
            "rewrite" => q.rewrite = text_or_null(v)?,
            "minimum_should_match" => q.minimum_should_match = MinimumShouldMatch::from_json(v)?,
            "quote_field_suffix" => q.quote_field_suffix = text_or_null(v)?,
            "lenient" => q.lenient = Some(bool_value(v)?),
            "time_zone" => q.time_zone = Some(text(v)?),
            "_name" => q.name = Some(text(v)?),
            "auto_generate_synonyms_phrase_query" => q.auto_generate_synonyms_phrase_query = bool_value(v)?,
            "fuzzy_transpositions" => q.fuzzy_transpositions = bool_value(v)?,
            "type" => q.match_type = parse_multi_match_type(&text(v)?)?,
            _ => return Err(unsupported(key)),
        }
    }
    let Some(query) = query else {
        return Err(QueryError::parsing("[query_string] must be provided with a [query]"));
    };
    q.query = query;
    check_boost(q.boost)?;
    Ok(QueryAst::QueryString(q))
}

fn non_negative(key: &str, v: i32) -> QueryResult<u32> {
    u32::try_from(v).map_err(|_| QueryError::illegal(format!("[{key}] must be non-negative")))
}

/// ES's `SimpleQueryStringFlag.resolveFlags`: `"AND|OR|PREFIX"`, case-insensitive.
pub(crate) fn resolve_simple_flags(s: &str) -> QueryResult<u32> {
    if s.is_empty() {
        return Ok(simple_flags::ALL);
    }
    let mut magic = simple_flags::NONE;
    for part in s.split('|') {
        if part.is_empty() {
            continue;
        }
        let flag = match part.to_uppercase().as_str() {
            "ALL" => return Ok(simple_flags::ALL),
            "NONE" => simple_flags::NONE,
            "AND" => simple_flags::AND,
            "NOT" => simple_flags::NOT,
            "OR" => simple_flags::OR,
            "PREFIX" => simple_flags::PREFIX,
            "PHRASE" => simple_flags::PHRASE,
            "PRECEDENCE" => simple_flags::PRECEDENCE,
            "ESCAPE" => simple_flags::ESCAPE,
            "WHITESPACE" => simple_flags::WHITESPACE,
            "FUZZY" => simple_flags::FUZZY,
            "NEAR" => simple_flags::NEAR,
            "SLOP" => simple_flags::SLOP,
            _ => {
                return Err(QueryError::illegal(format!("Unknown simple_query_string flag [{part}]")));
            }
        };
        magic |= flag;
    }
    Ok(magic)
}

pub(super) fn parse_simple_query_string(body: &Map<String, Value>) -> QueryResult<QueryAst> {
    let mut q = SimpleQueryStringQuery::new(String::new());
    let mut query = None;
    for (key, v) in body {
        if let Value::Array(_) = v {
            if key == "fields" {
                q.fields = fields_array("simple_query_string", key, v)?;
                continue;
            }
            return Err(QueryError::parsing(format!("[simple_query_string] query does not support [{key}]")));
        }
        if !is_value(v) {
            return Err(QueryError::parsing(format!(
                "[simple_query_string] unknown token [{}] after [{key}]",
                token_name(v)
            )));
        }
        match key.as_str() {
            "query" => query = Some(text(v)?),
            "boost" => q.boost = float_value(v)?,
            "analyzer" => q.analyzer = Some(text(v)?),
            "default_operator" => q.default_operator = parse_operator(&text(v)?)?,
            "flags" => {
                q.flags = if Token::of(v) == Token::Number {
                    let f = int_value(v)?;
                    if f < 0 { simple_flags::ALL } else { (f as u32) & simple_flags::ALL }
                } else {
                    resolve_simple_flags(&text(v)?)?
                }
            }
            "lenient" => q.lenient = Some(bool_value(v)?),
            "analyze_wildcard" => q.analyze_wildcard = bool_value(v)?,
            "_name" => q.name = Some(text(v)?),
            "minimum_should_match" => q.minimum_should_match = MinimumShouldMatch::from_json(v)?,
            "quote_field_suffix" => q.quote_field_suffix = text_or_null(v)?,
            "auto_generate_synonyms_phrase_query" => q.auto_generate_synonyms_phrase_query = bool_value(v)?,
            "fuzzy_prefix_length" => q.fuzzy_prefix_length = non_negative(key, int_value(v)?)?,
            "fuzzy_max_expansions" => q.fuzzy_max_expansions = non_negative(key, int_value(v)?)?,
            "fuzzy_transpositions" => q.fuzzy_transpositions = bool_value(v)?,
            _ => {
                return Err(QueryError::parsing(format!("[simple_query_string] unsupported field [{key}]")));
            }
        }
    }
    let Some(query) = query else {
        return Err(QueryError::parsing("[simple_query_string] query text missing"));
    };
    q.query = query;
    check_boost(q.boost)?;
    Ok(QueryAst::SimpleQueryString(q))
}

#[cfg(test)]
mod tests {
    use crate::ast::*;
    use crate::dsl::parse_query;
    use crate::error::QueryError;
    use crate::fuzziness::Fuzziness;
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
    fn match_short_and_long_forms() {
        let short = ok(json!({"match": {"title": "quick fox"}}));
        assert_eq!(short, QueryAst::Match(MatchQuery::new("title", json!("quick fox"))));
        let long = ok(json!({"match": {"title": {
            "query": "quick fox", "operator": "and", "minimum_should_match": "2",
            "fuzziness": "AUTO", "prefix_length": 1, "max_expansions": 10,
            "analyzer": "standard", "lenient": true, "zero_terms_query": "all",
            "fuzzy_transpositions": false, "boost": 2.0, "_name": "m",
            "auto_generate_synonyms_phrase_query": false, "fuzzy_rewrite": "constant_score"
        }}}));
        let QueryAst::Match(m) = long else { panic!() };
        assert_eq!(m.operator, Operator::And);
        assert_eq!(m.minimum_should_match, Some(MinimumShouldMatch::Simple(MsmValue::Count(2))));
        assert_eq!(m.fuzziness, Some(Fuzziness::AUTO));
        assert_eq!((m.prefix_length, m.max_expansions), (1, 10));
        assert_eq!(m.analyzer.as_deref(), Some("standard"));
        assert!(m.lenient && !m.fuzzy_transpositions && !m.auto_generate_synonyms_phrase_query);
        assert_eq!(m.zero_terms_query, ZeroTermsQuery::All);
        assert_eq!(m.boost, 2.0);
        assert_eq!(m.name.as_deref(), Some("m"));
        let QueryAst::Match(m) = ok(json!({"match": {"n": 5}})) else { panic!() };
        assert_eq!(m.query, json!(5));
    }

    #[test]
    fn match_errors() {
        let e = err(json!({"match": {"title": {"query": "x", "foo": 1}}}));
        assert_eq!(e.es_type(), "parsing_exception");
        assert_eq!(e.to_string(), "[match] query does not support [foo]");
        assert_eq!(
            err(json!({"match": {"a": "x", "b": "y"}})).to_string(),
            "[match] query doesn't support multiple fields, found [a] and [b]"
        );
        assert_eq!(
            err(json!({"match": {"a": "x", "boost": 2}})).to_string(),
            "[match] query doesn't support multiple fields, found [a] and [boost]"
        );
        assert_eq!(
            err(json!({"match": {"a": {"query": {"x": 1}}}})).to_string(),
            "[match] unknown token [START_OBJECT] after [query]"
        );
        assert_eq!(err(json!({"match": {"a": {"operator": "and"}}})).to_string(), "No text specified for text query");
        assert_eq!(err(json!({"match": {}})).to_string(), "No text specified for text query");
        assert_eq!(
            err(json!({"match": {"a": {"query": "x", "operator": "xor"}}})).to_string(),
            "No enum constant org.elasticsearch.index.query.Operator.XOR"
        );
        let e = err(json!({"match": {"a": {"query": "x", "boost": "abc"}}}));
        assert_eq!(e.es_type(), "number_format_exception");
        let e = err(json!({"match": {"a": {"query": "x", "lenient": 3}}}));
        assert_eq!(e.es_type(), "x_content_parse_exception");
        assert_eq!(
            err(json!({"match": {"a": {"query": "x", "zero_terms_query": "some"}}})).to_string(),
            "Unsupported zero_terms_query value [some]"
        );
        assert_eq!(
            err(json!({"match": {"a": {"query": "x", "max_expansions": 0}}})).to_string(),
            "[match] requires maxExpansions to be positive."
        );
        assert_eq!(err(json!({"match": {"a": [1, 2]}})).to_string(), "[match] unknown token [START_ARRAY] after [a]");
    }

    #[test]
    fn match_phrase_family() {
        let q = ok(json!({"match_phrase": {"body": {"query": "quick fox", "slop": 2}}}));
        let QueryAst::MatchPhrase(p) = q else { panic!() };
        assert_eq!((p.field.as_str(), p.query.as_str(), p.slop), ("body", "quick fox", 2));
        let q = ok(json!({"match_phrase": {"body": "quick fox"}}));
        assert_eq!(q, QueryAst::MatchPhrase(MatchPhraseQuery::new("body", "quick fox")));
        assert_eq!(
            err(json!({"match_phrase": {"body": {"query": "x", "operator": "and"}}})).to_string(),
            "[match_phrase] query does not support [operator]"
        );
        assert_eq!(
            err(json!({"match_phrase": {"body": {"query": "x", "slop": -1}}})).to_string(),
            "No negative slop allowed."
        );

        let q = ok(json!({"match_phrase_prefix": {"body": {"query": "quick br",
            "max_expansions": 10}}}));
        let QueryAst::MatchPhrasePrefix(p) = q else { panic!() };
        assert_eq!((p.query.as_str(), p.max_expansions), ("quick br", 10));

        let q = ok(json!({"match_bool_prefix": {"body": {"query": "quick br",
            "operator": "and", "fuzziness": 1}}}));
        let QueryAst::MatchBoolPrefix(p) = q else { panic!() };
        assert_eq!(p.operator, Operator::And);
        assert_eq!(p.fuzziness, Some(Fuzziness::Edits(1)));
        let q = ok(json!({"match_bool_prefix": {"body": "quick br"}}));
        assert!(matches!(q, QueryAst::MatchBoolPrefix(_)));
    }

    #[test]
    fn multi_match() {
        let q = ok(json!({"multi_match": {"query": "fox", "fields": ["title^2", "body", "tags^0.5"],
            "type": "most_fields", "tie_breaker": 0.3, "operator": "AND"}}));
        let QueryAst::MultiMatch(m) = q else { panic!() };
        assert_eq!(m.fields, vec![("title".into(), 2.0), ("body".into(), 1.0), ("tags".into(), 0.5)]);
        assert_eq!(m.match_type, MultiMatchType::MostFields);
        assert_eq!(m.tie_breaker, Some(0.3));
        assert_eq!(m.operator, Operator::And);
        let QueryAst::MultiMatch(m) = ok(json!({"multi_match": {"query": "x", "fields": "title^3"}})) else { panic!() };
        assert_eq!(m.fields, vec![("title".into(), 3.0)]);
        assert_eq!(
            err(json!({"multi_match": {"fields": ["a"]}})).to_string(),
            "No text specified for multi_match query"
        );
        assert_eq!(
            err(json!({"multi_match": {"query": "x", "type": "phrase", "fuzziness": 1}})).to_string(),
            "Fuzziness not allowed for type [phrase]"
        );
        assert_eq!(
            err(json!({"multi_match": {"query": "x", "type": "bool_prefix", "slop": 1}})).to_string(),
            "slop not allowed for type [bool_prefix]"
        );
        let e = err(json!({"multi_match": {"query": "x", "type": "nope"}}));
        assert_eq!(e.es_type(), "parse_exception");
        assert_eq!(
            err(json!({"multi_match": {"query": "x", "foo": 1}})).to_string(),
            "[multi_match] query does not support [foo]"
        );
    }

    #[test]
    fn combined_fields() {
        let q = ok(json!({"combined_fields": {"query": "fox", "fields": ["title^2", "body"],
            "operator": "and"}}));
        let QueryAst::CombinedFields(c) = q else { panic!() };
        assert_eq!(c.fields, vec![("title".into(), 2.0), ("body".into(), 1.0)]);
        assert_eq!(err(json!({"combined_fields": {"query": "fox"}})).to_string(), "Required [fields]");
        assert_eq!(
            err(json!({"combined_fields": {"query": "fox", "fields": ["a"], "x": 1}})).to_string(),
            "[combined_fields] unknown field [x]"
        );
    }

    #[test]
    fn query_string_options() {
        let q = ok(json!({"query_string": {"query": "a AND b", "fields": ["title^2", "body"],
            "default_operator": "and", "phrase_slop": 1, "fuzziness": 1, "lenient": true,
            "analyze_wildcard": true, "allow_leading_wildcard": false, "type": "most_fields",
            "minimum_should_match": "50%", "time_zone": "+01:00", "_name": "qs"}}));
        let QueryAst::QueryString(s) = q else { panic!() };
        assert_eq!(s.query, "a AND b");
        assert_eq!(s.fields, vec![("title".into(), 2.0), ("body".into(), 1.0)]);
        assert_eq!(s.default_operator, Operator::And);
        assert_eq!(s.phrase_slop, 1);
        assert_eq!(s.fuzziness, Fuzziness::Edits(1));
        assert_eq!(s.lenient, Some(true));
        assert!(s.analyze_wildcard && !s.allow_leading_wildcard);
        assert_eq!(s.match_type, MultiMatchType::MostFields);
        assert_eq!(s.time_zone.as_deref(), Some("+01:00"));
        assert_eq!(
            err(json!({"query_string": {"default_field": "a"}})).to_string(),
            "[query_string] must be provided with a [query]"
        );
        assert_eq!(
            err(json!({"query_string": {"query": "a", "foo": true}})).to_string(),
            "[query_string] query does not support [foo]"
        );
        assert_eq!(
            err(json!({"query_string": {"query": "a", "fields": "title"}})).to_string(),
            "[query_string] query does not support [fields]"
        );
    }

    #[test]
    fn simple_query_string_options() {
        let q = ok(json!({"simple_query_string": {"query": "a + b", "fields": ["title"],
            "flags": "AND|PHRASE", "default_operator": "AND"}}));
        let QueryAst::SimpleQueryString(s) = q else { panic!() };
        assert_eq!(s.flags, simple_flags::AND | simple_flags::PHRASE);
        assert_eq!(s.default_operator, Operator::And);
        let QueryAst::SimpleQueryString(s) = ok(json!({"simple_query_string": {"query": "a", "flags": -1}})) else {
            panic!()
        };
        assert_eq!(s.flags, simple_flags::ALL);
        assert_eq!(
            err(json!({"simple_query_string": {"query": "a", "flags": "BOGUS"}})).to_string(),
            "Unknown simple_query_string flag [BOGUS]"
        );
        assert_eq!(
            err(json!({"simple_query_string": {"fields": ["a"]}})).to_string(),
            "[simple_query_string] query text missing"
        );
        assert_eq!(
            err(json!({"simple_query_string": {"query": "a", "x": 1}})).to_string(),
            "[simple_query_string] unsupported field [x]"
        );
    }
}
