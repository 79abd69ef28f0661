//! Typed values and ES's per-type coercion rules.

use std::borrow::Cow;
use std::net::IpAddr;

use crate::error::MappingError;
use crate::field::{FieldMapping, FieldType};
use crate::util::{java_double, java_float};

/// One value to index, typed by the field's mapping.
#[derive(Debug, Clone, PartialEq)]
pub enum IndexedValue {
    /// Analyzed text (`text`, `match_only_text`).
    Text(String),
    /// An exact term (`keyword`, `constant_keyword`, `wildcard`, `version`, `flattened`).
    Keyword(String),
    /// `long`, `integer`, `short`, `byte`.
    I64(i64),
    /// `unsigned_long`.
    U64(u64),
    /// `double`, and `float`/`half_float`/`scaled_float` already rounded to their precision.
    F64(f64),
    Bool(bool),
    /// `date` / `date_nanos`, epoch milliseconds.
    Date(i64),
    Ip(IpAddr),
}

/// A JSON scalar as the document parser sees it (numbers keep their source text).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar<'a> {
    Str(Cow<'a, str>),
    Num { raw: Cow<'a, str>, integral: bool },
    Bool(bool),
    Null,
}

impl Scalar<'_> {
    /// The token's text, as Jackson's `text()` gives it.
    pub fn text(&self) -> Cow<'_, str> {
        match self {
            Scalar::Str(s) => Cow::Borrowed(s.as_ref()),
            Scalar::Num { raw, .. } => Cow::Borrowed(raw.as_ref()),
            Scalar::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
            Scalar::Null => Cow::Borrowed("null"),
        }
    }

    fn token_name(&self) -> &'static str {
        match self {
            Scalar::Str(_) => "VALUE_STRING",
            Scalar::Num { integral: true, .. } => "VALUE_NUMBER_INT",
            Scalar::Num { .. } => "VALUE_NUMBER_FLOAT",
            Scalar::Bool(true) => "VALUE_TRUE",
            Scalar::Bool(false) => "VALUE_FALSE",
            Scalar::Null => "VALUE_NULL",
        }
    }
}

/// The outcome of converting one scalar for a field.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Converted {
    Value(IndexedValue),
    /// JSON null (or an empty string where ES treats it as null).
    Null,
    /// A valid value of a type that produces no indexed value here (`binary`, `geo_point`).
    NotIndexed,
}

impl Converted {
    pub fn into_value(self) -> Option<IndexedValue> {
        match self {
            Converted::Value(v) => Some(v),
            _ => None,
        }
    }
}

fn ia(msg: impl Into<String>) -> MappingError {
    MappingError::IllegalArgument(msg.into())
}

/// Converts a scalar to the field's value type, with ES's coercion rules and error texts.
pub(crate) fn convert_scalar(fm: &FieldMapping, path: &str, s: &Scalar<'_>) -> Result<Converted, MappingError> {
    if *s == Scalar::Null {
        return Ok(Converted::Null);
    }
    let t = fm.field_type;
    let v = match t {
        FieldType::Text | FieldType::MatchOnlyText => IndexedValue::Text(s.text().into_owned()),
        FieldType::Keyword | FieldType::Wildcard | FieldType::Version | FieldType::Flattened => {
            IndexedValue::Keyword(s.text().into_owned())
        }
        FieldType::ConstantKeyword => {
            let text = s.text().into_owned();
            if let Some(expected) = fm.constant_value().and_then(|v| v.as_str())
                && expected != text
            {
                return Err(ia(format!(
                    "[constant_keyword] field [{path}] only accepts values that are equal to the value defined in the mappings [{expected}], but got [{text}]"
                )));
            }
            IndexedValue::Keyword(text)
        }
        FieldType::Long | FieldType::Integer | FieldType::Short | FieldType::Byte => {
            match parse_integral(t, s, fm.coerce())? {
                Some(i) => IndexedValue::I64(i),
                None => return Ok(Converted::Null),
            }
        }
        FieldType::UnsignedLong => match parse_unsigned(s)? {
            Some(u) => IndexedValue::U64(u),
            None => return Ok(Converted::Null),
        },
        FieldType::Double | FieldType::Float | FieldType::HalfFloat | FieldType::ScaledFloat => {
            match parse_floating(t, s, fm.coerce(), fm.scaling_factor())? {
                Some(f) => IndexedValue::F64(f),
                None => return Ok(Converted::Null),
            }
        }
        FieldType::Boolean => match s {
            Scalar::Bool(b) => IndexedValue::Bool(*b),
            Scalar::Str(v) if v == "true" => IndexedValue::Bool(true),
            Scalar::Str(v) if v == "false" || v.is_empty() => IndexedValue::Bool(false),
            Scalar::Str(v) => {
                return Err(ia(format!("Failed to parse value [{v}] as only [true] or [false] are allowed.")));
            }
            other => {
                return Err(ia(format!("Current token ({}) not of boolean type", other.token_name())));
            }
        },
        FieldType::Date | FieldType::DateNanos => {
            let format = fm.date_format()?;
            let ms = format.parse_millis(&s.text(), None)?;
            if t == FieldType::DateNanos {
                const MAX_NANOS_MS: i64 = 9_223_372_036_854;
                if ms < 0 {
                    return Err(ia(format!(
                        "date[{}] is before the epoch in 1970 and cannot be stored in nanosecond resolution",
                        format_iso(ms)
                    )));
                }
                if ms > MAX_NANOS_MS {
                    return Err(ia(format!(
                        "date[{}] is after 2262-04-11T23:47:16.854775807 and cannot be stored in nanosecond resolution",
                        format_iso(ms)
                    )));
                }
            }
            IndexedValue::Date(ms)
        }
        FieldType::Ip => {
            let text = s.text();
            match text.parse::<IpAddr>() {
                Ok(ip) => IndexedValue::Ip(ip),
                Err(_) => return Err(ia(format!("'{text}' is not an IP string literal."))),
            }
        }
        FieldType::Binary | FieldType::GeoPoint => return Ok(Converted::NotIndexed),
        FieldType::Object | FieldType::Nested | FieldType::Alias => {
            return Err(MappingError::IllegalState(format!("field of type [{}] has no leaf value", t.name())));
        }
    };
    Ok(Converted::Value(v))
}

fn format_iso(ms: i64) -> String {
    crate::date::DateFormat::default_date().format_millis(ms)
}

/// A decimal number's parts (Java `BigDecimal` grammar): sign, digits, position of the decimal
/// point within the digits (may be outside them).
struct Decimal {
    negative: bool,
    digits: Vec<u8>,
    point: i64,
}

fn parse_decimal(s: &str) -> Option<Decimal> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut negative = false;
    if let Some(&c) = b.first()
        && (c == b'+' || c == b'-')
    {
        negative = c == b'-';
        i = 1;
    }
    let mut digits = Vec::new();
    let mut point: Option<i64> = None;
    let mut saw_digit = false;
    while i < b.len() {
        match b[i] {
            c @ b'0'..=b'9' => {
                digits.push(c - b'0');
                saw_digit = true;
            }
            b'.' if point.is_none() => point = Some(digits.len() as i64),
            b'e' | b'E' => break,
            _ => return None,
        }
        i += 1;
    }
    if !saw_digit {
        return None;
    }
    let mut point = point.unwrap_or(digits.len() as i64);
    if i < b.len() {
        // Exponent.
        let exp: i64 = std::str::from_utf8(&b[i + 1..]).ok()?.parse().ok()?;
        if !(-10_000..=10_000).contains(&exp) {
            return None;
        }
        point += exp;
    }
    Some(Decimal { negative, digits, point })
}

impl Decimal {
    /// The integer part (truncated toward zero) if it fits an i128, and whether a fraction exists.
    fn truncate(&self) -> (Option<i128>, bool) {
        let mut int: i128 = 0;
        let mut overflow = false;
        let mut has_fraction = false;
        for (idx, d) in self.digits.iter().enumerate() {
            if (idx as i64) < self.point {
                match int.checked_mul(10).and_then(|x| x.checked_add(i128::from(*d))) {
                    Some(x) => int = x,
                    None => overflow = true,
                }
            } else if *d != 0 {
                has_fraction = true;
            }
        }
        // Trailing zeros implied by a point past the digits.
        let extra = self.point - self.digits.len() as i64;
        if extra > 0 && int != 0 {
            for _ in 0..extra {
                match int.checked_mul(10) {
                    Some(x) => int = x,
                    None => {
                        overflow = true;
                        break;
                    }
                }
            }
        }
        if overflow {
            return (None, has_fraction);
        }
        (Some(if self.negative { -int } else { int }), has_fraction)
    }
}

/// Java `Double.parseDouble`: trims whitespace, accepts `NaN`/`Infinity` and `d`/`f` suffixes.
fn java_parse_double(s: &str) -> Result<f64, MappingError> {
    let t = s.trim_matches(|c: char| c <= ' ');
    if t.is_empty() {
        return Err(MappingError::NumberFormat(if s.is_empty() {
            "empty String".to_string()
        } else {
            format!("For input string: \"{s}\"")
        }));
    }
    let (sign, body) = match t.as_bytes()[0] {
        b'-' => (-1.0, &t[1..]),
        b'+' => (1.0, &t[1..]),
        _ => (1.0, t),
    };
    if body == "NaN" {
        return Ok(f64::NAN);
    }
    if body == "Infinity" {
        return Ok(sign * f64::INFINITY);
    }
    let body = body.strip_suffix(['d', 'D', 'f', 'F']).unwrap_or(body);
    let valid = !body.is_empty()
        && body.bytes().all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
        && body.bytes().next().is_some_and(|c| c.is_ascii_digit() || c == b'.');
    match body.parse::<f64>() {
        Ok(v) if valid => Ok(sign * v),
        _ => Err(MappingError::NumberFormat(format!("For input string: \"{s}\""))),
    }
}

fn type_article(t: FieldType) -> &'static str {
    match t {
        FieldType::Integer => "an integer",
        FieldType::Short => "a short",
        FieldType::Byte => "a byte",
        _ => "a long",
    }
}

fn java_class_name(t: FieldType) -> &'static str {
    match t {
        FieldType::Integer => "Integer",
        FieldType::Short => "Short",
        FieldType::Byte => "Byte",
        FieldType::Float | FieldType::HalfFloat => "Float",
        FieldType::Double | FieldType::ScaledFloat => "Double",
        _ => "Long",
    }
}

fn bounds(t: FieldType) -> (i128, i128) {
    match t {
        FieldType::Integer => (i128::from(i32::MIN), i128::from(i32::MAX)),
        FieldType::Short => (i128::from(i16::MIN), i128::from(i16::MAX)),
        FieldType::Byte => (i128::from(i8::MIN), i128::from(i8::MAX)),
        _ => (i128::from(i64::MIN), i128::from(i64::MAX)),
    }
}

/// `long`/`integer`/`short`/`byte` from a scalar (ES `XContentParser.longValue(coerce)` & co).
fn parse_integral(t: FieldType, s: &Scalar<'_>, coerce: bool) -> Result<Option<i64>, MappingError> {
    let (lo, hi) = bounds(t);
    let out_of_range = |text: &str| ia(format!("Value [{text}] is out of range for {}", type_article(t)));
    match s {
        Scalar::Null => Ok(None),
        Scalar::Bool(_) => {
            Err(ia(format!("Current token ({}) not numeric, can not use numeric value accessors", s.token_name())))
        }
        Scalar::Str(text) => {
            if text.is_empty() && coerce {
                return Ok(None);
            }
            if !coerce {
                return Err(ia(format!("{} value passed as String", java_class_name(t))));
            }
            if t == FieldType::Long {
                // Numbers.toLong: Long.parseLong, then BigDecimal.
                if let Ok(v) = text.parse::<i64>() {
                    return Ok(Some(v));
                }
                let d = parse_decimal(text).ok_or_else(|| ia(format!("For input string: \"{text}\"")))?;
                let (int, _) = d.truncate();
                match int {
                    Some(i) if i >= lo && i <= hi => Ok(Some(i as i64)),
                    _ => Err(out_of_range(text)),
                }
            } else {
                // intValue/shortValue/byteValue: Double.parseDouble, range check, truncation.
                let f = java_parse_double(text)?;
                if f.is_nan() || f < lo as f64 || f > hi as f64 {
                    return Err(out_of_range(text));
                }
                Ok(Some(f.trunc() as i64))
            }
        }
        Scalar::Num { raw, integral } => {
            if *integral {
                match raw.parse::<i128>() {
                    Ok(i) if i >= lo && i <= hi => Ok(Some(i as i64)),
                    _ => Err(out_of_range(raw)),
                }
            } else {
                let f: f64 = raw.parse().map_err(|_| out_of_range(raw))?;
                if !coerce && f.fract() != 0.0 {
                    return Err(ia(format!(
                        "{} cannot be converted to {} without data loss",
                        java_double(f),
                        java_class_name(t)
                    )));
                }
                let tr = f.trunc();
                if !tr.is_finite() || tr < lo as f64 || tr > hi as f64 {
                    return Err(out_of_range(raw));
                }
                Ok(Some(tr as i64))
            }
        }
    }
}

fn parse_unsigned(s: &Scalar<'_>) -> Result<Option<u64>, MappingError> {
    let text = match s {
        Scalar::Null => return Ok(None),
        Scalar::Bool(_) => {
            return Err(ia(format!(
                "Current token ({}) not numeric, can not use numeric value accessors",
                s.token_name()
            )));
        }
        Scalar::Str(t) if t.is_empty() => return Ok(None),
        other => other.text().into_owned(),
    };
    if let Ok(v) = text.parse::<u64>() {
        return Ok(Some(v));
    }
    let d = parse_decimal(&text).ok_or_else(|| ia(format!("For input string: \"{text}\"")))?;
    match d.truncate().0 {
        Some(i) if (0..=i128::from(u64::MAX)).contains(&i) => Ok(Some(i as u64)),
        _ => Err(ia(format!("Value [{text}] is out of range for unsigned_long"))),
    }
}

/// Rounds an `f32` to the nearest `f16` (round half to even) and back.
pub(crate) fn round_to_half_float(v: f32) -> f32 {
    if !v.is_finite() || v == 0.0 {
        return v;
    }
    let a = v.abs();
    if a >= 65520.0 {
        return f32::INFINITY.copysign(v);
    }
    // Spacing of half floats around `a`.
    let exp = a.log2().floor() as i32;
    let exp = exp.max(-14);
    let ulp = 2f32.powi(exp - 10);
    let q = a / ulp;
    let r = q.round();
    // Ties to even.
    let r = if (q - q.trunc() - 0.5).abs() < f32::EPSILON && r % 2.0 != 0.0 { r - 1.0 } else { r };
    (r * ulp).copysign(v)
}

fn parse_floating(
    t: FieldType,
    s: &Scalar<'_>,
    coerce: bool,
    scaling: Option<f64>,
) -> Result<Option<f64>, MappingError> {
    let f = match s {
        Scalar::Null => return Ok(None),
        Scalar::Bool(_) => {
            return Err(ia(format!(
                "Current token ({}) not numeric, can not use numeric value accessors",
                s.token_name()
            )));
        }
        Scalar::Str(text) => {
            if text.is_empty() && coerce {
                return Ok(None);
            }
            if !coerce {
                return Err(ia(format!("{} value passed as String", java_class_name(t))));
            }
            java_parse_double(text)?
        }
        Scalar::Num { raw, .. } => {
            raw.parse::<f64>().map_err(|_| MappingError::NumberFormat(format!("For input string: \"{raw}\"")))?
        }
    };
    match t {
        FieldType::Float | FieldType::HalfFloat => {
            let f32v = f as f32;
            if !f32v.is_finite() {
                return Err(ia(format!("[{}] supports only finite values, but got [{}]", t.name(), java_float(f32v))));
            }
            if t == FieldType::HalfFloat {
                let h = round_to_half_float(f32v);
                if !h.is_finite() {
                    return Err(ia(format!(
                        "[half_float] supports only finite values, but got [{}]",
                        java_float(f32v)
                    )));
                }
                return Ok(Some(f64::from(h)));
            }
            Ok(Some(f64::from(f32v)))
        }
        FieldType::ScaledFloat => {
            if !f.is_finite() {
                return Err(ia(format!("[scaled_float] only supports finite values, but got [{}]", java_double(f))));
            }
            let sf = scaling.unwrap_or(1.0);
            let scaled = (f * sf + 0.5).floor();
            if !scaled.is_finite() || scaled.abs() >= 9.2e18 {
                return Err(ia(format!(
                    "[scaled_float] exceeds the representable range of a [long] (value: [{}], scaling factor: [{}])",
                    java_double(f),
                    java_double(sf)
                )));
            }
            Ok(Some(scaled / sf))
        }
        _ => {
            if !f.is_finite() {
                return Err(ia(format!("[double] supports only finite values, but got [{}]", java_double(f))));
            }
            Ok(Some(f))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::FieldMapping;
    use serde_json::json;

    fn conv(t: FieldType, v: serde_json::Value) -> Result<Option<IndexedValue>, String> {
        FieldMapping::new(t).value_from_json(&v).map_err(|e| format!("{}: {e}", e.es_type()))
    }

    #[test]
    fn longs() {
        assert_eq!(conv(FieldType::Long, json!(5)), Ok(Some(IndexedValue::I64(5))));
        assert_eq!(conv(FieldType::Long, json!("5")), Ok(Some(IndexedValue::I64(5))));
        assert_eq!(conv(FieldType::Long, json!(5.7)), Ok(Some(IndexedValue::I64(5))));
        assert_eq!(conv(FieldType::Long, json!("5.7")), Ok(Some(IndexedValue::I64(5))));
        assert_eq!(conv(FieldType::Long, json!("1e3")), Ok(Some(IndexedValue::I64(1000))));
        assert_eq!(conv(FieldType::Long, json!("")), Ok(None));
        assert_eq!(
            conv(FieldType::Long, json!("abc")),
            Err("illegal_argument_exception: For input string: \"abc\"".into())
        );
        assert_eq!(
            conv(FieldType::Long, json!("9223372036854775808")),
            Err("illegal_argument_exception: Value [9223372036854775808] is out of range for a long".into())
        );
        assert_eq!(
            conv(FieldType::Integer, json!(3_000_000_000u64)),
            Err("illegal_argument_exception: Value [3000000000] is out of range for an integer".into())
        );
        assert_eq!(
            conv(FieldType::Integer, json!("abc")),
            Err("number_format_exception: For input string: \"abc\"".into())
        );
        assert_eq!(conv(FieldType::Byte, json!("12.9")), Ok(Some(IndexedValue::I64(12))));
        assert!(conv(FieldType::Byte, json!(128)).is_err());
        assert!(conv(FieldType::Long, json!(true)).is_err());
    }

    #[test]
    fn no_coerce() {
        let f = FieldMapping::new(FieldType::Long).with_param("coerce", json!(false)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            f.value_from_json(&json!("5")).err().map(|e| e.to_string()),
            Some("Long value passed as String".into())
        );
        assert_eq!(
            f.value_from_json(&json!(5.7)).err().map(|e| e.to_string()),
            Some("5.7 cannot be converted to Long without data loss".into())
        );
        assert_eq!(f.value_from_json(&json!(5.0)).ok().flatten(), Some(IndexedValue::I64(5)));
    }

    #[test]
    fn floats() {
        assert_eq!(conv(FieldType::Double, json!("1.5")), Ok(Some(IndexedValue::F64(1.5))));
        assert_eq!(conv(FieldType::Float, json!(1.1)), Ok(Some(IndexedValue::F64(f64::from(1.1f32)))));
        assert_eq!(conv(FieldType::HalfFloat, json!(1.0)), Ok(Some(IndexedValue::F64(1.0))));
        assert_eq!(conv(FieldType::HalfFloat, json!(0.1)), Ok(Some(IndexedValue::F64(f64::from(0.099975586f32)))));
        assert!(conv(FieldType::HalfFloat, json!(70000)).is_err());
        assert_eq!(
            conv(FieldType::Double, json!("NaN")),
            Err("illegal_argument_exception: [double] supports only finite values, but got [NaN]".into())
        );
        assert_eq!(
            conv(FieldType::Double, json!("abc")),
            Err("number_format_exception: For input string: \"abc\"".into())
        );
        let sf = FieldMapping::new(FieldType::ScaledFloat)
            .with_param("scaling_factor", json!(100))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sf.value_from_json(&json!(1.234)).ok().flatten(), Some(IndexedValue::F64(1.23)));
    }

    #[test]
    fn others() {
        assert_eq!(conv(FieldType::Boolean, json!("true")), Ok(Some(IndexedValue::Bool(true))));
        assert_eq!(conv(FieldType::Boolean, json!("")), Ok(Some(IndexedValue::Bool(false))));
        assert_eq!(
            conv(FieldType::Boolean, json!("yes")),
            Err("illegal_argument_exception: Failed to parse value [yes] as only [true] or [false] are allowed.".into())
        );
        assert_eq!(conv(FieldType::Keyword, json!(1.50)), Ok(Some(IndexedValue::Keyword("1.5".into()))));
        assert_eq!(conv(FieldType::Keyword, json!(true)), Ok(Some(IndexedValue::Keyword("true".into()))));
        assert_eq!(
            conv(FieldType::Ip, json!("192.168.0.1")),
            Ok(Some(IndexedValue::Ip("192.168.0.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0])))))
        );
        assert_eq!(
            conv(FieldType::Ip, json!("nope")),
            Err("illegal_argument_exception: 'nope' is not an IP string literal.".into())
        );
        assert_eq!(conv(FieldType::Date, json!("2015-01-01")), Ok(Some(IndexedValue::Date(1_420_070_400_000))));
        assert_eq!(conv(FieldType::Date, json!(1_420_070_400_000i64)), Ok(Some(IndexedValue::Date(1_420_070_400_000))));
        assert_eq!(
            conv(FieldType::Date, json!("nope")),
            Err("illegal_argument_exception: failed to parse date field [nope] with format [strict_date_optional_time||epoch_millis]".into())
        );
        assert!(conv(FieldType::DateNanos, json!("1969-01-01")).is_err());
        assert_eq!(conv(FieldType::UnsignedLong, json!("18446744073709551615")), Ok(Some(IndexedValue::U64(u64::MAX))));
        assert!(conv(FieldType::UnsignedLong, json!(-1)).is_err());
    }

    #[test]
    fn half_float_rounding() {
        assert_eq!(round_to_half_float(1.0), 1.0);
        assert_eq!(round_to_half_float(65504.0), 65504.0);
        assert_eq!(round_to_half_float(2049.0), 2048.0);
        assert_eq!(round_to_half_float(2051.0), 2052.0);
        assert_eq!(round_to_half_float(-0.5), -0.5);
    }
}
