//! Reading `serde_json::Value`s the way ES's `XContentParser` reads tokens.
//!
//! ES's parsers are lenient in specific ways (a number given as a string is a number, `"true"` is a
//! boolean) and strict in others, and their error messages name the token kinds of the Jackson
//! streaming parser (`START_OBJECT`, `VALUE_STRING`...). The helpers here reproduce both, so that each
//! query parser can be written as a plain loop over a JSON object.

use serde_json::{Map, Value};

use crate::error::{QueryError, QueryResult};

/// The kind of a JSON value, named like ES's `XContentParser.Token`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Token {
    StartObject,
    StartArray,
    String,
    Number,
    Boolean,
    Null,
}

impl Token {
    pub(crate) fn of(v: &Value) -> Token {
        match v {
            Value::Object(_) => Token::StartObject,
            Value::Array(_) => Token::StartArray,
            Value::String(_) => Token::String,
            Value::Number(_) => Token::Number,
            Value::Bool(_) => Token::Boolean,
            Value::Null => Token::Null,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Token::StartObject => "START_OBJECT",
            Token::StartArray => "START_ARRAY",
            Token::String => "VALUE_STRING",
            Token::Number => "VALUE_NUMBER",
            Token::Boolean => "VALUE_BOOLEAN",
            Token::Null => "VALUE_NULL",
        }
    }

    /// ES's `Token.isValue()`: strings, numbers and booleans (not null).
    pub(crate) fn is_value(self) -> bool {
        matches!(self, Token::String | Token::Number | Token::Boolean)
    }
}

pub(crate) fn token_name(v: &Value) -> &'static str {
    Token::of(v).name()
}

pub(crate) fn is_value(v: &Value) -> bool {
    Token::of(v).is_value()
}

/// Jackson's own token names, which appear in its numeric/boolean accessor errors.
fn jackson_token(v: &Value) -> &'static str {
    match v {
        Value::Object(_) => "START_OBJECT",
        Value::Array(_) => "START_ARRAY",
        Value::String(_) => "VALUE_STRING",
        Value::Number(n) if n.is_f64() => "VALUE_NUMBER_FLOAT",
        Value::Number(_) => "VALUE_NUMBER_INT",
        Value::Bool(true) => "VALUE_TRUE",
        Value::Bool(false) => "VALUE_FALSE",
        Value::Null => "VALUE_NULL",
    }
}

fn not_numeric(v: &Value) -> QueryError {
    QueryError::x_content(format!(
        "Current token ({}) not numeric, can not use numeric value accessors",
        jackson_token(v)
    ))
}

pub(crate) fn number_format(input: &str) -> QueryError {
    if input.is_empty() {
        QueryError::NumberFormat("empty String".into())
    } else {
        QueryError::NumberFormat(format!("For input string: \"{input}\""))
    }
}

/// Java's `Float.parseFloat` / `Double.parseDouble` for decimal input: surrounding ASCII control
/// characters and spaces are ignored, a trailing `f`/`F`/`d`/`D` is allowed, `NaN` and `Infinity`
/// are spelled exactly so.
pub(crate) fn parse_java_double(s: &str) -> QueryResult<f64> {
    let t = s.trim_matches(|c: char| c <= ' ');
    let body = t
        .strip_suffix(['f', 'F', 'd', 'D'])
        .filter(|b| !b.is_empty() && !b.ends_with(['e', 'E', '+', '-']))
        .unwrap_or(t);
    let unsigned = body.strip_prefix(['+', '-']).unwrap_or(body);
    let ok = match unsigned {
        "NaN" | "Infinity" => true,
        _ => is_decimal_literal(unsigned),
    };
    if !ok {
        return Err(number_format(s));
    }
    let normalized = match unsigned {
        "NaN" => "NaN".to_string(),
        "Infinity" => body.replace("Infinity", "inf"),
        _ => body.to_string(),
    };
    normalized.parse::<f64>().map_err(|_| number_format(s))
}

/// `digits [. digits] [e[+-]digits]` or `. digits [...]`, at least one digit in the mantissa.
fn is_decimal_literal(s: &str) -> bool {
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut mantissa_digits = 0;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
        mantissa_digits += 1;
    }
    if i < bytes.len() && bytes[i] == b'.' {
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
            mantissa_digits += 1;
        }
    }
    if mantissa_digits == 0 {
        return false;
    }
    if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
        i += 1;
        if i < bytes.len() && (bytes[i] == b'+' || bytes[i] == b'-') {
            i += 1;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    i == bytes.len()
}

/// Java's `Integer.parseInt`: optional sign, ASCII digits, no spaces, within `i32`.
pub(crate) fn parse_java_int(s: &str) -> QueryResult<i32> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(int_format(s));
    }
    s.parse::<i32>().map_err(|_| int_format(s))
}

/// `Integer.parseInt`'s message, which (unlike `Float.parseFloat`) quotes even an empty input.
fn int_format(s: &str) -> QueryError {
    QueryError::NumberFormat(format!("For input string: \"{s}\""))
}

/// Java's `Long.parseLong`.
pub(crate) fn parse_java_long(s: &str) -> QueryResult<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(int_format(s));
    }
    s.parse::<i64>().map_err(|_| int_format(s))
}

/// `parser.floatValue()`: numbers, and strings holding a number.
pub(crate) fn float_value(v: &Value) -> QueryResult<f32> {
    Ok(double_value(v)? as f32)
}

/// `parser.doubleValue()`.
pub(crate) fn double_value(v: &Value) -> QueryResult<f64> {
    match v {
        Value::Number(n) => n.as_f64().ok_or_else(|| not_numeric(v)),
        Value::String(s) => parse_java_double(s),
        _ => Err(not_numeric(v)),
    }
}

/// `parser.intValue()`: integers, floats (truncated), numeric strings (truncated, range checked).
pub(crate) fn int_value(v: &Value) -> QueryResult<i32> {
    match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i32::try_from(i).map_err(|_| {
                    QueryError::x_content(format!("Numeric value ({i}) out of range of int (-2147483648 - 2147483647)"))
                })
            } else if let Some(u) = n.as_u64() {
                Err(QueryError::x_content(format!(
                    "Numeric value ({u}) out of range of int (-2147483648 - 2147483647)"
                )))
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if f.is_nan() || f < i32::MIN as f64 || f > i32::MAX as f64 {
                    Err(QueryError::x_content(format!(
                        "Numeric value ({n}) out of range of int (-2147483648 - 2147483647)"
                    )))
                } else {
                    Ok(f as i32)
                }
            }
        }
        Value::String(s) => {
            let d = parse_java_double(s)?;
            if d.is_nan() || d < i32::MIN as f64 || d > i32::MAX as f64 {
                return Err(QueryError::illegal(format!("Value [{s}] is out of range for an integer")));
            }
            Ok(d as i32)
        }
        _ => Err(not_numeric(v)),
    }
}

/// ES's strict `Booleans.parseBoolean`.
pub(crate) fn parse_bool_str(s: &str) -> QueryResult<bool> {
    match s {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(QueryError::illegal(format!("Failed to parse value [{s}] as only [true] or [false] are allowed."))),
    }
}

/// `parser.booleanValue()`: booleans and the strings `"true"`/`"false"`.
pub(crate) fn bool_value(v: &Value) -> QueryResult<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) => parse_bool_str(s),
        _ => Err(QueryError::x_content(format!("Current token ({}) not of boolean type", jackson_token(v)))),
    }
}

/// `parser.text()`: the text of a string, number or boolean.
pub(crate) fn text(v: &Value) -> QueryResult<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(QueryError::x_content(format!("Can't get text on a {}", token_name(v)))),
    }
}

/// `parser.textOrNull()`.
pub(crate) fn text_or_null(v: &Value) -> QueryResult<Option<String>> {
    match v {
        Value::Null => Ok(None),
        _ => text(v).map(Some),
    }
}

/// `parser.objectText()`/`objectBytes()` for scalars: strings, numbers and booleans keep their JSON
/// type (the shard decides what they mean for the field), `null` stays `null`.
pub(crate) fn scalar(v: &Value) -> Option<Value> {
    match v {
        Value::String(_) | Value::Number(_) | Value::Bool(_) => Some(v.clone()),
        _ => None,
    }
}

/// A `boost` value: ES rejects negative boosts when they are set.
pub(crate) fn boost_value(v: &Value) -> QueryResult<f32> {
    let b = float_value(v)?;
    check_boost(b)?;
    Ok(b)
}

pub(crate) fn check_boost(b: f32) -> QueryResult<()> {
    if b < 0.0 {
        return Err(QueryError::illegal("negative [boost] are not allowed."));
    }
    // ES would accept these and score with them; tern refuses, so that an AST always serializes
    // (JSON has no NaN or infinity) and scores stay comparable.
    if !b.is_finite() {
        return Err(QueryError::illegal(format!("[boost] must be a finite number, got [{b}]")));
    }
    Ok(())
}

/// Lucene's `LevenshteinDistance.getDistance`: `1 - edits / max(len)`, over UTF-16 units as in Java.
pub(crate) fn levenshtein_similarity(target: &str, other: &str) -> f32 {
    let a: Vec<u16> = target.encode_utf16().collect();
    let b: Vec<u16> = other.encode_utf16().collect();
    let (n, m) = (a.len(), b.len());
    if n == 0 || m == 0 {
        return if n == m { 1.0 } else { 0.0 };
    }
    let mut prev: Vec<usize> = (0..=n).collect();
    let mut cur = vec![0usize; n + 1];
    for j in 1..=m {
        cur[0] = j;
        let tj = b[j - 1];
        for i in 1..=n {
            let cost = usize::from(a[i - 1] != tj);
            cur[i] = (cur[i - 1] + 1).min(prev[i] + 1).min(prev[i - 1] + cost);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    1.0 - (prev[n] as f32 / n.max(m) as f32)
}

/// ES's `SuggestingErrorOnUnknown.suggest`: `" did you mean [x]?"`, `" did you mean any of [x, y]?"`
/// or nothing, for candidates more than 50% similar.
pub(crate) fn suggest(input: &str, candidates: &[&str]) -> String {
    let mut scored: Vec<(f32, &str)> =
        candidates.iter().map(|c| (levenshtein_similarity(input, c), *c)).filter(|(d, _)| *d > 0.5).collect();
    if scored.is_empty() {
        return String::new();
    }
    scored.sort_by(|x, y| y.0.total_cmp(&x.0).then_with(|| x.1.cmp(y.1)));
    if scored.len() == 1 {
        format!(" did you mean [{}]?", scored[0].1)
    } else {
        let names: Vec<&str> = scored.iter().map(|(_, n)| *n).collect();
        format!(" did you mean any of [{}]?", names.join(", "))
    }
}

/// Errors of ES's declarative `ObjectParser`, used by the queries ES parses with one (`bool`, `ids`,
/// `match_all`, sort and fetch sub-objects...).
pub(crate) struct ObjectParser {
    pub name: &'static str,
    pub fields: &'static [&'static str],
}

/// The token kinds an `ObjectParser` field accepts (ES's `ObjectParser.ValueType`).
#[derive(Clone, Copy)]
pub(crate) enum Accepts {
    String,
    StringOrNull,
    Number,
    Boolean,
    Value,
    ObjectArrayOrNull,
    StringArray,
    Object,
}

// `ValueType.VALUE` in ES also admits null: a field declared so may be set to null explicitly.

impl Accepts {
    fn allows(self, t: Token) -> bool {
        match self {
            Accepts::String => t == Token::String,
            Accepts::StringOrNull => matches!(t, Token::String | Token::Null),
            Accepts::Number => matches!(t, Token::Number | Token::String),
            Accepts::Boolean => matches!(t, Token::Boolean | Token::String),
            Accepts::Value => matches!(t, Token::String | Token::Number | Token::Boolean | Token::Null),
            Accepts::ObjectArrayOrNull => {
                matches!(t, Token::StartObject | Token::StartArray | Token::Null)
            }
            Accepts::StringArray => matches!(t, Token::StartArray | Token::String),
            Accepts::Object => t == Token::StartObject,
        }
    }
}

impl ObjectParser {
    pub(crate) fn unknown_field(&self, field: &str) -> QueryError {
        QueryError::x_content(format!("[{}] unknown field [{}]{}", self.name, field, suggest(field, self.fields)))
    }

    /// Checks the token kind, then runs `f`, wrapping its failure in ES's
    /// `[name] failed to parse field [field]`.
    pub(crate) fn field<T>(
        &self,
        field: &str,
        v: &Value,
        accepts: Accepts,
        f: impl FnOnce(&Value) -> QueryResult<T>,
    ) -> QueryResult<T> {
        if !accepts.allows(Token::of(v)) {
            return Err(QueryError::x_content(format!(
                "[{}] {} doesn't support values of type: {}",
                self.name,
                field,
                token_name(v)
            )));
        }
        f(v).map_err(|e| QueryError::x_content_caused(format!("[{}] failed to parse field [{}]", self.name, field), e))
    }

    /// The object an `ObjectParser` is applied to must be an object.
    pub(crate) fn expect_object<'a>(&self, v: &'a Value) -> QueryResult<&'a Map<String, Value>> {
        match v {
            Value::Object(o) => Ok(o),
            _ => {
                Err(QueryError::x_content(format!("[{}] Expected START_OBJECT but was: {}", self.name, token_name(v))))
            }
        }
    }
}

/// A string array read element by element with `parser.text()` (ES's `declareStringArray`), which
/// also accepts a single string.
pub(crate) fn string_array(v: &Value) -> QueryResult<Vec<String>> {
    match v {
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::Object(_) | Value::Array(_) => {
                    Err(QueryError::illegal(format!("expected value but got [{}]", token_name(item))))
                }
                _ => text(item),
            })
            .collect(),
        _ => Ok(vec![text(v)?]),
    }
}

/// Splits a comma separated list like ES's `Strings.splitStringByCommaToArray` (empty items dropped).
pub(crate) fn split_commas(s: &str) -> Vec<String> {
    s.split(',').filter(|p| !p.is_empty()).map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_coerce_like_es() {
        assert_eq!(float_value(&json!("1.5")).ok(), Some(1.5));
        assert_eq!(float_value(&json!(2)).ok(), Some(2.0));
        assert_eq!(float_value(&json!("2f")).ok(), Some(2.0));
        assert_eq!(float_value(&json!("abc")).err().map(|e| e.to_string()), Some("For input string: \"abc\"".into()));
        assert_eq!(float_value(&json!(true)).err().map(|e| e.es_type()), Some("x_content_parse_exception"));
        assert_eq!(int_value(&json!(1.9)).ok(), Some(1));
        assert_eq!(int_value(&json!("12")).ok(), Some(12));
        assert_eq!(int_value(&json!("-3.7")).ok(), Some(-3));
        assert!(int_value(&json!(3_000_000_000_i64)).is_err());
        assert!(int_value(&json!("1e20")).is_err());
        assert!(parse_java_double("inf").is_err());
        assert!(parse_java_double("-Infinity").is_ok());
        assert!(parse_java_double("1e").is_err());
        assert!(parse_java_double(".5").is_ok());
        assert!(parse_java_int(" 1").is_err());
        assert_eq!(parse_java_int("+7").ok(), Some(7));
    }

    #[test]
    fn booleans_are_strict() {
        assert_eq!(bool_value(&json!("true")).ok(), Some(true));
        assert_eq!(
            bool_value(&json!("yes")).err().map(|e| e.to_string()),
            Some("Failed to parse value [yes] as only [true] or [false] are allowed.".into())
        );
        assert!(bool_value(&json!(1)).is_err());
    }

    #[test]
    fn suggestions_match_es_format() {
        assert_eq!(suggest("mach", &["match", "bool"]), " did you mean [match]?");
        assert_eq!(suggest("zzzz", &["match", "bool"]), "");
        assert_eq!(suggest("matchx", &["match", "match_all", "bool"]), " did you mean any of [match, match_all]?");
    }
}
