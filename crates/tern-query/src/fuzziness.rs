//! `fuzziness`: how many edits a fuzzy term may be away from the query term.
//!
//! ES accepts `0`, `1`, `2` (also as `"1"` or `1.0`), `"AUTO"` (0 edits below 3 characters, 1 below
//! 6, 2 from then on) and `"AUTO:low,high"` with custom bounds.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{QueryError, QueryResult};
use crate::xcontent::{Token, parse_java_double, parse_java_int, text};

/// A parsed `fuzziness` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fuzziness {
    /// A fixed number of edits: 0, 1 or 2.
    Edits(u8),
    /// `AUTO:low,high`: 0 edits for terms shorter than `low` characters, 1 below `high`, else 2.
    Auto { low: u32, high: u32 },
}

impl Default for Fuzziness {
    fn default() -> Self {
        Fuzziness::AUTO
    }
}

impl Fuzziness {
    /// Plain `AUTO`, i.e. `AUTO:3,6`.
    pub const AUTO: Fuzziness = Fuzziness::Auto { low: 3, high: 6 };

    /// ES's `Fuzziness.fromString`.
    pub fn parse_str(s: &str) -> QueryResult<Fuzziness> {
        if s.is_empty() {
            return Err(QueryError::illegal("fuzziness cannot be null or empty."));
        }
        let upper = s.to_uppercase();
        if upper == "AUTO" {
            return Ok(Fuzziness::AUTO);
        }
        if let Some(rest) = upper.strip_prefix("AUTO:") {
            return parse_custom_auto(&upper, rest);
        }
        let parsed = match parse_java_double(&upper) {
            Ok(f) if f.is_finite() => f as f32,
            _ => return Err(QueryError::illegal(format!("fuzziness cannot be [{s}]."))),
        };
        if parsed % 1.0 > 0.0 {
            return Err(QueryError::illegal(format!("fuzziness needs to be one of 0.0, 1.0 or 2.0 but was {parsed}")));
        }
        Self::from_edits(parsed as i32)
    }

    /// ES's `Fuzziness.fromEdits`.
    pub fn from_edits(edits: i32) -> QueryResult<Fuzziness> {
        match edits {
            0..=2 => Ok(Fuzziness::Edits(edits as u8)),
            _ => Err(QueryError::illegal(format!("Valid edit distances are [0, 1, 2] but was [{edits}]"))),
        }
    }

    /// ES's `Fuzziness.parse(XContentParser)`: a string or a number.
    pub fn from_json(v: &Value) -> QueryResult<Fuzziness> {
        match Token::of(v) {
            Token::String | Token::Number => Self::parse_str(&text(v)?),
            t => Err(QueryError::illegal(format!("Can't parse fuzziness on token: [{}]", t.name()))),
        }
    }

    /// The number of edits allowed for a term of `term_len` characters (Unicode code points).
    pub fn edits_for(&self, term_len: usize) -> u8 {
        match *self {
            Fuzziness::Edits(n) => n.min(2),
            Fuzziness::Auto { low, high } => {
                if term_len < low as usize {
                    0
                } else if term_len < high as usize {
                    1
                } else {
                    2
                }
            }
        }
    }

    /// The form ES renders: `"AUTO"`, `"AUTO:2,5"` or the number of edits.
    pub fn to_es_string(&self) -> String {
        match *self {
            Fuzziness::Edits(n) => n.to_string(),
            Fuzziness::Auto { low: 3, high: 6 } => "AUTO".to_string(),
            Fuzziness::Auto { low, high } => format!("AUTO:{low},{high}"),
        }
    }
}

fn parse_custom_auto(upper: &str, rest: &str) -> QueryResult<Fuzziness> {
    // Java's String.split drops trailing empty strings.
    let mut parts: Vec<&str> = rest.split(',').collect();
    while parts.last().is_some_and(|p| p.is_empty()) {
        parts.pop();
    }
    if parts.len() != 2 {
        return Err(QueryError::Parse("failed to find low and high distance values".into()));
    }
    let bad = || QueryError::Parse(format!("failed to parse [{upper}] as a \"auto:int,int\""));
    let low = parse_java_int(parts[0]).map_err(|_| bad())?;
    let high = parse_java_int(parts[1]).map_err(|_| bad())?;
    if low < 0 || high < 0 || low > high {
        return Err(QueryError::Parse(format!("fuzziness wrongly configured [{upper}]")));
    }
    Ok(Fuzziness::Auto { low: low as u32, high: high as u32 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_every_es_form() {
        assert_eq!(Fuzziness::parse_str("AUTO").ok(), Some(Fuzziness::AUTO));
        assert_eq!(Fuzziness::parse_str("auto").ok(), Some(Fuzziness::AUTO));
        assert_eq!(Fuzziness::parse_str("AUTO:2,5").ok(), Some(Fuzziness::Auto { low: 2, high: 5 }));
        assert_eq!(Fuzziness::parse_str("1").ok(), Some(Fuzziness::Edits(1)));
        assert_eq!(Fuzziness::parse_str("2.0").ok(), Some(Fuzziness::Edits(2)));
        assert_eq!(Fuzziness::from_json(&json!(0)).ok(), Some(Fuzziness::Edits(0)));
        assert_eq!(Fuzziness::from_json(&json!("1")).ok(), Some(Fuzziness::Edits(1)));
    }

    #[test]
    fn rejects_like_es() {
        let msg = |s: &str| Fuzziness::parse_str(s).err().map(|e| e.to_string());
        assert_eq!(msg("3"), Some("Valid edit distances are [0, 1, 2] but was [3]".into()));
        assert_eq!(msg("1.5"), Some("fuzziness needs to be one of 0.0, 1.0 or 2.0 but was 1.5".into()));
        assert_eq!(msg("abc"), Some("fuzziness cannot be [abc].".into()));
        assert_eq!(msg("AUTO:6,3"), Some("fuzziness wrongly configured [AUTO:6,3]".into()));
        assert_eq!(msg("AUTO:3"), Some("failed to find low and high distance values".into()));
        assert_eq!(msg("auto:a,b"), Some("failed to parse [AUTO:A,B] as a \"auto:int,int\"".into()));
        assert!(Fuzziness::from_json(&json!(true)).is_err());
        assert!(Fuzziness::parse_str("").is_err());
        assert!(Fuzziness::parse_str("NaN").is_err());
    }

    #[test]
    fn edits_follow_auto_bounds() {
        let auto = Fuzziness::AUTO;
        assert_eq!(auto.edits_for(0), 0);
        assert_eq!(auto.edits_for(2), 0);
        assert_eq!(auto.edits_for(3), 1);
        assert_eq!(auto.edits_for(5), 1);
        assert_eq!(auto.edits_for(6), 2);
        assert_eq!(auto.edits_for(60), 2);
        let custom = Fuzziness::Auto { low: 1, high: 2 };
        assert_eq!(custom.edits_for(0), 0);
        assert_eq!(custom.edits_for(1), 1);
        assert_eq!(custom.edits_for(2), 2);
        assert_eq!(Fuzziness::Edits(1).edits_for(100), 1);
        assert_eq!(auto.to_es_string(), "AUTO");
        assert_eq!(custom.to_es_string(), "AUTO:1,2");
    }
}
