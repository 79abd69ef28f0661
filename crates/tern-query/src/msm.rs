//! `minimum_should_match`: how many optional clauses of a boolean query must match.
//!
//! The syntax (`3`, `-2`, `75%`, `-25%`, `3<90%`, `2<-25% 9<-3`) and the arithmetic are those of
//! ES's `Queries.calculateMinShouldMatch`, including its Java integer/float behaviour: percentages
//! are computed in `float` and truncated toward zero, negative values count the clauses that may be
//! missing, and the result is never negative. Note that ES does **not** cap the result at the number
//! of optional clauses: `minimum_should_match: 3` over two `should` clauses matches nothing.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{QueryError, QueryResult};
use crate::xcontent::{parse_java_int, text};

/// One simple `minimum_should_match` expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MsmValue {
    /// `3` (at least 3) or `-2` (all but 2).
    Count(i32),
    /// `75%` (75% of the clauses, rounded down) or `-25%` (all but 25%, rounded down).
    Percent(i32),
}

/// A parsed `minimum_should_match` specification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MinimumShouldMatch {
    Simple(MsmValue),
    /// `a<x b<y ...`: with at most `a` optional clauses all are required; above `a`, `x` applies;
    /// above `b`, `y` applies, and so on.
    Conditional(Vec<(i32, MsmValue)>),
}

impl MinimumShouldMatch {
    /// Parses the textual form. Numbers given as JSON numbers go through [`Self::from_json`].
    pub fn parse(spec: &str) -> QueryResult<MinimumShouldMatch> {
        let spec = java_trim(spec);
        if spec.contains('<') {
            let collapsed = collapse_spaces_around_lt(spec);
            let mut conditions = Vec::new();
            for part in java_split(&collapsed, ' ') {
                let pieces = java_split(part, '<');
                let bound = pieces.first().copied().unwrap_or("");
                let upper_bound = parse_java_int(bound)?;
                let value = match pieces.get(1) {
                    Some(v) => parse_simple(v)?,
                    None => {
                        return Err(QueryError::illegal(format!(
                            "Invalid minimum_should_match spec [{spec}]: expecting values before and after '<'"
                        )));
                    }
                };
                conditions.push((upper_bound, value));
            }
            return Ok(MinimumShouldMatch::Conditional(conditions));
        }
        Ok(MinimumShouldMatch::Simple(parse_simple(spec)?))
    }

    /// Parses a JSON value (ES reads it with `textOrNull`, so `2` and `"2"` are the same).
    pub fn from_json(v: &Value) -> QueryResult<Option<MinimumShouldMatch>> {
        match v {
            Value::Null => Ok(None),
            _ => Self::parse(&text(v)?).map(Some),
        }
    }

    /// The number of optional clauses that must match out of `optional_clauses`.
    pub fn resolve(&self, optional_clauses: usize) -> usize {
        let count = i32::try_from(optional_clauses).unwrap_or(i32::MAX);
        let result = match self {
            MinimumShouldMatch::Simple(v) => calc_simple(count, *v),
            MinimumShouldMatch::Conditional(conditions) => {
                let mut result = count;
                for (upper_bound, value) in conditions {
                    if count <= *upper_bound {
                        break;
                    }
                    result = calc_simple(count, *value);
                }
                result
            }
        };
        usize::try_from(result).unwrap_or(0)
    }
}

fn calc_simple(count: i32, value: MsmValue) -> i32 {
    let result = match value {
        MsmValue::Percent(percent) => {
            let calc = count.wrapping_mul(percent) as f32 * (1.0f32 / 100.0f32);
            if calc < 0.0 { count.wrapping_add(calc as i32) } else { calc as i32 }
        }
        MsmValue::Count(n) => {
            if n < 0 {
                count.wrapping_add(n)
            } else {
                n
            }
        }
    };
    result.max(0)
}

fn parse_simple(spec: &str) -> QueryResult<MsmValue> {
    if spec.contains('%') {
        // ES assumes the '%' is the last character and lets the integer parse fail otherwise.
        let mut chars = spec.chars();
        chars.next_back();
        let body = chars.as_str();
        return Ok(MsmValue::Percent(parse_java_int(body)?));
    }
    Ok(MsmValue::Count(parse_java_int(spec)?))
}

/// Java's `String.trim`: strips characters up to and including U+0020.
fn java_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

/// Java's `String.split(sep)` with a one-character literal: trailing empty strings are removed.
fn java_split(s: &str, sep: char) -> Vec<&str> {
    let mut parts: Vec<&str> = s.split(sep).collect();
    while parts.len() > 1 && parts.last().is_some_and(|p| p.is_empty()) {
        parts.pop();
    }
    if parts.len() == 1 && parts[0].is_empty() && !s.is_empty() {
        parts.clear();
    }
    parts
}

/// ES replaces `(\s+<\s*)|(\s*<\s+)` with `<`: whitespace around a `<` disappears.
fn collapse_spaces_around_lt(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut skipping = false;
    for c in s.chars() {
        if c == '<' {
            while out.ends_with(is_java_space) {
                out.pop();
            }
            out.push('<');
            skipping = true;
        } else if skipping && is_java_space(c) {
            continue;
        } else {
            skipping = false;
            out.push(c);
        }
    }
    out
}

fn is_java_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r')
}

impl fmt::Display for MsmValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MsmValue::Count(n) => write!(f, "{n}"),
            MsmValue::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl fmt::Display for MinimumShouldMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MinimumShouldMatch::Simple(v) => write!(f, "{v}"),
            MinimumShouldMatch::Conditional(conditions) => {
                for (i, (bound, v)) in conditions.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{bound}<{v}")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resolve(spec: &str, clauses: usize) -> usize {
        match MinimumShouldMatch::parse(spec) {
            Ok(m) => m.resolve(clauses),
            Err(e) => panic!("{spec}: {e}"),
        }
    }

    #[test]
    fn integers_and_negatives() {
        assert_eq!(resolve("2", 5), 2);
        assert_eq!(resolve("7", 5), 7, "ES does not cap at the clause count");
        assert_eq!(resolve("-2", 5), 3);
        assert_eq!(resolve("-7", 5), 0);
        assert_eq!(resolve("0", 5), 0);
        assert_eq!(resolve(" 3 ", 5), 3);
    }

    #[test]
    fn percentages_round_down() {
        assert_eq!(resolve("75%", 4), 3);
        assert_eq!(resolve("70%", 3), 2);
        assert_eq!(resolve("50%", 3), 1);
        assert_eq!(resolve("100%", 3), 3);
        assert_eq!(resolve("-25%", 4), 3);
        assert_eq!(resolve("-25%", 3), 3, "-0.75 truncates to 0 missing clauses");
        assert_eq!(resolve("-50%", 3), 2);
        assert_eq!(resolve("-100%", 3), 0);
    }

    #[test]
    fn conditional_combinations() {
        assert_eq!(resolve("3<90%", 3), 3);
        assert_eq!(resolve("3<90%", 10), 9);
        assert_eq!(resolve("2<-25% 9<-3", 2), 2);
        assert_eq!(resolve("2<-25% 9<-3", 4), 3);
        assert_eq!(resolve("2<-25% 9<-3", 9), 7);
        assert_eq!(resolve("2<-25% 9<-3", 12), 9);
        assert_eq!(resolve("2 < -25%  ", 4), 3);
        assert_eq!(resolve("1<1", 0), 0);
    }

    #[test]
    fn json_forms_and_errors() {
        assert_eq!(
            MinimumShouldMatch::from_json(&json!(2)).ok().flatten(),
            Some(MinimumShouldMatch::Simple(MsmValue::Count(2)))
        );
        assert_eq!(MinimumShouldMatch::from_json(&json!(null)).ok(), Some(None));
        let err = MinimumShouldMatch::parse("abc").err();
        assert_eq!(err.as_ref().map(|e| e.es_type()), Some("number_format_exception"));
        assert_eq!(err.map(|e| e.to_string()), Some("For input string: \"abc\"".into()));
        assert!(MinimumShouldMatch::parse("2.5").is_err());
        assert!(MinimumShouldMatch::parse("3<").is_err());
        assert!(MinimumShouldMatch::parse("<3").is_err());
        assert!(MinimumShouldMatch::parse("").is_err());
        assert!(MinimumShouldMatch::parse("%").is_err());
    }

    #[test]
    fn displays_es_form() {
        let m = MinimumShouldMatch::parse("2<-25% 9<-3").ok();
        assert_eq!(m.map(|m| m.to_string()), Some("2<-25% 9<-3".into()));
    }
}
