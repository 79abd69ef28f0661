//! Value sources: an aggregation's `field` resolved against the shard's mapping, and read per
//! segment from the `_k` JSON fast field.
//!
//! tern stores keyword, numeric, date (epoch millis), boolean and ip values of field `f` in the fast
//! column `_k.f`. One JSON path can hold several columns in a segment (a string column and a
//! numeric one, or numbers coerced to `i64`/`u64`/`f64`), so a source opens every column of its
//! path and reads them as the mapping's type asks.

use std::sync::Arc;

use serde_json::Value;
use tantivy::columnar::{Column, DynamicColumn, StrColumn};
use tantivy::{DocId, SegmentReader};
use tern_common::EsError;
use tern_mapping::date::{DateFormat, Tz, parse_date_math};
use tern_mapping::{FieldType, Mapping};

use super::Fmt;
use super::numfmt::parse_ip;
use super::request::VsSpec;

/// How an aggregation reads a field's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VType {
    Keyword,
    Ip,
    Long,
    Double,
    /// Epoch milliseconds.
    Date,
    Bool,
    /// Not in the mapping: no values (only `missing`, when given).
    Unmapped,
}

impl VType {
    pub(crate) fn is_numeric(self) -> bool {
        matches!(self, VType::Long | VType::Double | VType::Date | VType::Bool)
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Missing {
    Num(f64),
    Str(String),
}

/// What kinds of fields an aggregation accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Accept {
    Any,
    /// Numbers, dates, booleans (metrics, `histogram`, `range`).
    Numeric,
    /// Dates and numbers (`date_histogram`, `date_range`).
    Date,
    Ip,
}

/// A bound value source.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    pub column: String,
    pub vtype: VType,
    pub missing: Option<Missing>,
    pub fmt: Fmt,
    pub date_format: Option<Arc<DateFormat>>,
    pub time_zone: Option<String>,
}

pub(crate) fn text_fielddata_error(field: &str) -> EsError {
    EsError::illegal_argument(format!(
        "Text fields are not optimised for operations that require per-document field data like aggregations and sorting, so these operations are disabled by default. Please use a keyword field instead. Alternatively, set fielddata=true on [{field}] in order to load field data by uninverting the inverted index. Note that this can use significant memory."
    ))
}

fn unsupported_field(field: &str, ty: &str, agg: &str) -> EsError {
    EsError::illegal_argument(format!("Field [{field}] of type [{ty}] is not supported for aggregation [{agg}]"))
}

impl Source {
    /// Resolves `vs` against the mapping for aggregation type `agg`.
    pub(crate) fn bind(mapping: &Mapping, vs: &VsSpec, agg: &str, accept: Accept, now: i64) -> Result<Source, EsError> {
        let field = vs.field.clone().unwrap_or_default();
        let resolved = if field.is_empty() { None } else { mapping.resolve_field(&field) };
        let (path, vtype, date_spec) = match resolved {
            None => {
                let vt = match vs.value_type.as_deref() {
                    Some("string") | Some("keyword") => VType::Keyword,
                    Some("long") => VType::Long,
                    Some("double") | Some("numeric") | Some("number") => VType::Double,
                    Some("date") | Some("date_nanos") => VType::Date,
                    Some("ip") => VType::Ip,
                    Some("boolean") => VType::Bool,
                    _ => VType::Unmapped,
                };
                (field.clone(), vt, None)
            }
            Some((path, f)) => {
                let vt = match f.field_type {
                    FieldType::Text | FieldType::MatchOnlyText => {
                        if f.fielddata() {
                            return Err(EsError::illegal_argument(format!(
                                "Field [{field}] is a text field with fielddata: tern does not load fielddata; aggregate on a keyword field instead"
                            )));
                        }
                        return Err(text_fielddata_error(&field));
                    }
                    t if t.is_keyword_like() => VType::Keyword,
                    t if t.is_integral() => VType::Long,
                    FieldType::UnsignedLong => VType::Long,
                    t if t.is_numeric() => VType::Double,
                    FieldType::Boolean => VType::Bool,
                    t if t.is_date() => VType::Date,
                    FieldType::Ip => VType::Ip,
                    other => return Err(unsupported_field(&field, other.name(), agg)),
                };
                let date_spec = if vt == VType::Date { Some(f.format().to_string()) } else { None };
                let ok = match accept {
                    Accept::Any => true,
                    Accept::Numeric => vt.is_numeric(),
                    Accept::Date => matches!(vt, VType::Date | VType::Long | VType::Double),
                    Accept::Ip => vt == VType::Ip,
                };
                if !ok {
                    return Err(unsupported_field(&field, f.field_type.name(), agg));
                }
                (path, vt, date_spec)
            }
        };
        let vtype = match (vtype, accept) {
            (VType::Unmapped, Accept::Numeric) if vs.missing.is_some() => VType::Double,
            (VType::Unmapped, Accept::Date) if vs.missing.is_some() => VType::Date,
            (VType::Unmapped, Accept::Ip) if vs.missing.is_some() => VType::Ip,
            (VType::Unmapped, Accept::Any) if vs.missing.is_some() => VType::Keyword,
            (v, _) => v,
        };
        let date_spec = match (vtype, date_spec) {
            (VType::Date, None) => Some(tern_mapping::date::DEFAULT_DATE_FORMAT.to_string()),
            // An unmapped field in a date aggregation still reads and prints dates.
            (VType::Unmapped, None) if accept == Accept::Date => {
                Some(tern_mapping::date::DEFAULT_DATE_FORMAT.to_string())
            }
            (_, d) => d,
        };
        let date_format = match &date_spec {
            Some(spec) => Some(DateFormat::cached(spec).map_err(EsError::from)?),
            None => None,
        };
        if let Some(tz) = &vs.time_zone {
            Tz::parse(tz).map_err(EsError::from)?;
        }
        let fmt = match (&vs.format, vtype) {
            (Some(f), VType::Date) => {
                DateFormat::cached(f).map_err(EsError::from)?;
                Fmt::Date { pattern: f.clone(), tz: vs.time_zone.clone() }
            }
            (Some(f), VType::Long | VType::Double) if accept == Accept::Date => {
                DateFormat::cached(f).map_err(EsError::from)?;
                Fmt::Date { pattern: f.clone(), tz: vs.time_zone.clone() }
            }
            (Some(f), VType::Long | VType::Double) => {
                super::numfmt::DecimalFormat::parse(f).map_err(EsError::illegal_argument)?;
                Fmt::Decimal(f.clone())
            }
            (_, VType::Date) => Fmt::Date {
                pattern: first_format(date_spec.as_deref().unwrap_or(tern_mapping::date::DEFAULT_DATE_FORMAT)),
                tz: vs.time_zone.clone(),
            },
            (_, VType::Unmapped) if accept == Accept::Date => {
                Fmt::Date { pattern: tern_mapping::date::DEFAULT_DATE_FORMAT.to_string(), tz: vs.time_zone.clone() }
            }
            (_, VType::Bool) => Fmt::Bool,
            (_, VType::Ip) => Fmt::Ip,
            _ => Fmt::Raw,
        };
        let missing = match &vs.missing {
            None => None,
            Some(m) => Some(parse_missing(m, vtype, date_format.as_deref(), vs.time_zone.as_deref(), now)?),
        };
        Ok(Source { column: format!("_k.{path}"), vtype, missing, fmt, date_format, time_zone: vs.time_zone.clone() })
    }

    /// Parses a date bound (`extended_bounds`, `date_range` limits, composite `after`): a number of
    /// millis, or a date (or date math) in the request `format`, else the field's format.
    pub(crate) fn parse_date(&self, v: &Value, format: Option<&str>, now: i64, round_up: bool) -> Result<i64, EsError> {
        match v {
            Value::Number(n) => Ok(n.as_i64().unwrap_or_else(|| n.as_f64().unwrap_or(0.0) as i64)),
            Value::String(s) => {
                let fmt = match format {
                    Some(f) => DateFormat::cached(f).map_err(EsError::from)?,
                    None => self.date_format.clone().unwrap_or_else(DateFormat::default_date),
                };
                parse_date_math(s, now, round_up, &fmt, self.time_zone.as_deref()).map_err(EsError::from)
            }
            other => Err(EsError::illegal_argument(format!("failed to parse date field [{other}]"))),
        }
    }
}

/// The first format of a `||` list (the one ES prints with).
fn first_format(spec: &str) -> String {
    let first = spec.split("||").next().unwrap_or(spec);
    match first {
        // date_nanos prints like the millisecond format when nanos are zero.
        "strict_date_optional_time_nanos" => "strict_date_optional_time".to_string(),
        _ => spec.to_string(),
    }
}

fn parse_missing(
    v: &Value,
    vtype: VType,
    fmt: Option<&DateFormat>,
    tz: Option<&str>,
    now: i64,
) -> Result<Missing, EsError> {
    let bad = || EsError::illegal_argument(format!("failed to parse [missing] value [{v}]"));
    Ok(match vtype {
        VType::Keyword | VType::Unmapped => Missing::Str(match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }),
        VType::Ip => match v {
            Value::String(s) if parse_ip(s).is_some() => Missing::Str(s.clone()),
            _ => return Err(bad()),
        },
        VType::Bool => Missing::Num(match v {
            Value::Bool(b) => f64::from(u8::from(*b)),
            Value::String(s) if s == "true" => 1.0,
            Value::String(s) if s == "false" => 0.0,
            Value::Number(n) => n.as_f64().unwrap_or(0.0),
            _ => return Err(bad()),
        }),
        VType::Date => Missing::Num(match v {
            Value::Number(n) => n.as_f64().unwrap_or(0.0),
            Value::String(s) => {
                let f = fmt.cloned().unwrap_or_else(|| (*DateFormat::default_date()).clone());
                parse_date_math(s, now, false, &f, tz).map_err(EsError::from)? as f64
            }
            _ => return Err(bad()),
        }),
        VType::Long | VType::Double => Missing::Num(match v {
            Value::Number(n) => n.as_f64().unwrap_or(0.0),
            Value::String(s) => s.trim().parse::<f64>().map_err(|_| bad())?,
            Value::Bool(b) => f64::from(u8::from(*b)),
            _ => return Err(bad()),
        }),
    })
}

enum NumCol {
    I64(Column<i64>),
    U64(Column<u64>),
    F64(Column<f64>),
    Bool(Column<bool>),
}

/// Sentinel ordinal for the `missing` value of a string source.
pub(crate) const MISSING_ORD: u64 = u64::MAX;

/// A source's columns in one segment.
pub(crate) struct SegValues {
    pub src: Arc<Source>,
    nums: Vec<NumCol>,
    strs: Option<StrColumn>,
    missing_num: Option<f64>,
}

impl SegValues {
    pub(crate) fn open(src: &Arc<Source>, reader: &SegmentReader) -> SegValues {
        let mut nums = Vec::new();
        let mut strs = None;
        if src.vtype != VType::Unmapped {
            let handles = reader.fast_fields().dynamic_column_handles(&src.column).unwrap_or_default();
            for h in handles {
                let Ok(col) = h.open() else { continue };
                match col {
                    DynamicColumn::I64(c) => nums.push(NumCol::I64(c)),
                    DynamicColumn::U64(c) => nums.push(NumCol::U64(c)),
                    DynamicColumn::F64(c) => nums.push(NumCol::F64(c)),
                    DynamicColumn::Bool(c) => nums.push(NumCol::Bool(c)),
                    DynamicColumn::Str(c) => strs = Some(c),
                    _ => {}
                }
            }
        }
        let missing_num = match &src.missing {
            Some(Missing::Num(n)) => Some(*n),
            _ => None,
        };
        SegValues { src: src.clone(), nums, strs, missing_num }
    }

    pub(crate) fn is_string(&self) -> bool {
        matches!(self.src.vtype, VType::Keyword | VType::Ip) || (self.src.vtype == VType::Unmapped)
    }

    /// Numeric values of a doc (or the `missing` value), as f64.
    pub(crate) fn f64s(&self, doc: DocId, out: &mut Vec<f64>) {
        out.clear();
        for c in &self.nums {
            match c {
                NumCol::I64(c) => out.extend(c.values_for_doc(doc).map(|v| v as f64)),
                NumCol::U64(c) => out.extend(c.values_for_doc(doc).map(|v| v as f64)),
                NumCol::F64(c) => out.extend(c.values_for_doc(doc)),
                NumCol::Bool(c) => out.extend(c.values_for_doc(doc).map(|b| f64::from(u8::from(b)))),
            }
        }
        if out.is_empty()
            && let Some(m) = self.missing_num
        {
            out.push(m);
        }
    }

    /// Numeric values of a doc as exact i64 (longs, dates, booleans), or the `missing` value.
    pub(crate) fn i64s(&self, doc: DocId, out: &mut Vec<i64>) {
        out.clear();
        for c in &self.nums {
            match c {
                NumCol::I64(c) => out.extend(c.values_for_doc(doc)),
                NumCol::U64(c) => out.extend(c.values_for_doc(doc).map(|v| v as i64)),
                NumCol::F64(c) => out.extend(c.values_for_doc(doc).map(|v| v as i64)),
                NumCol::Bool(c) => out.extend(c.values_for_doc(doc).map(i64::from)),
            }
        }
        if out.is_empty()
            && let Some(m) = self.missing_num
        {
            out.push(m as i64);
        }
    }

    /// Distinct term ordinals of a doc ([`MISSING_ORD`] for the `missing` value).
    pub(crate) fn ords(&self, doc: DocId, out: &mut Vec<u64>) {
        out.clear();
        if let Some(c) = &self.strs {
            out.extend(c.term_ords(doc));
            if out.len() > 1 {
                out.sort_unstable();
                out.dedup();
            }
        }
        if out.is_empty() && matches!(self.src.missing, Some(Missing::Str(_))) {
            out.push(MISSING_ORD);
        }
    }

    /// The smallest and largest numeric value of the segment's columns.
    pub(crate) fn min_max(&self) -> Option<(f64, f64)> {
        let mut out: Option<(f64, f64)> = None;
        for c in &self.nums {
            let (lo, hi) = match c {
                NumCol::I64(c) => (c.min_value() as f64, c.max_value() as f64),
                NumCol::U64(c) => (c.min_value() as f64, c.max_value() as f64),
                NumCol::F64(c) => (c.min_value(), c.max_value()),
                NumCol::Bool(_) => (0.0, 1.0),
            };
            out = Some(match out {
                Some((a, b)) => (a.min(lo), b.max(hi)),
                None => (lo, hi),
            });
        }
        out
    }

    /// Whether the doc has a value (ignoring `missing`).
    pub(crate) fn has_value(&self, doc: DocId) -> bool {
        if let Some(c) = &self.strs
            && c.term_ords(doc).next().is_some()
        {
            return true;
        }
        self.nums.iter().any(|c| match c {
            NumCol::I64(c) => c.values_for_doc(doc).next().is_some(),
            NumCol::U64(c) => c.values_for_doc(doc).next().is_some(),
            NumCol::F64(c) => c.values_for_doc(doc).next().is_some(),
            NumCol::Bool(c) => c.values_for_doc(doc).next().is_some(),
        })
    }

    /// The string of a term ordinal ([`MISSING_ORD`]: the `missing` value).
    pub(crate) fn ord_str(&self, ord: u64) -> String {
        if ord == MISSING_ORD {
            return match &self.src.missing {
                Some(Missing::Str(s)) => s.clone(),
                Some(Missing::Num(n)) => n.to_string(),
                None => String::new(),
            };
        }
        let mut s = String::new();
        if let Some(c) = &self.strs {
            let _ = c.ord_to_str(ord, &mut s);
        }
        s
    }

    /// The strings of many term ordinals at once (one pass over the dictionary blocks instead of
    /// one lookup per ordinal).
    pub(crate) fn ord_strs(&self, ords: &[u64]) -> std::collections::HashMap<u64, String> {
        let mut sorted: Vec<u64> = ords.iter().copied().filter(|o| *o != MISSING_ORD).collect();
        sorted.sort_unstable();
        sorted.dedup();
        let mut out = std::collections::HashMap::with_capacity(sorted.len() + 1);
        if let Some(c) = &self.strs {
            let mut terms: Vec<String> = Vec::with_capacity(sorted.len());
            let ok = c
                .dictionary()
                .sorted_ords_to_term_cb(&sorted, |b| terms.push(String::from_utf8_lossy(b).into_owned()))
                .unwrap_or(false);
            if ok && terms.len() == sorted.len() {
                out.extend(sorted.iter().copied().zip(terms));
            } else {
                for o in &sorted {
                    out.insert(*o, self.ord_str(*o));
                }
            }
        }
        if ords.contains(&MISSING_ORD) {
            out.insert(MISSING_ORD, self.ord_str(MISSING_ORD));
        }
        out
    }

    /// Calls `f(ord, term)` for every term of the segment's string column, in order.
    pub(crate) fn for_each_term(&self, mut f: impl FnMut(u64, &str)) {
        let Some(c) = &self.strs else { return };
        let Ok(mut stream) = c.dictionary().stream() else { return };
        while stream.advance() {
            f(stream.term_ord(), &String::from_utf8_lossy(stream.key()));
        }
    }

    /// Number of distinct terms of the segment's string column.
    pub(crate) fn num_terms(&self) -> u64 {
        self.strs.as_ref().map(|c| c.num_terms() as u64).unwrap_or(0)
    }

    /// The number of values of a doc (duplicates included for numbers, as ES's `value_count`).
    pub(crate) fn value_count(&self, doc: DocId) -> u64 {
        let mut n = 0u64;
        if let Some(c) = &self.strs {
            let mut ords: Vec<u64> = c.term_ords(doc).collect();
            ords.sort_unstable();
            ords.dedup();
            n += ords.len() as u64;
        }
        for c in &self.nums {
            n += match c {
                NumCol::I64(c) => c.values_for_doc(doc).count(),
                NumCol::U64(c) => c.values_for_doc(doc).count(),
                NumCol::F64(c) => c.values_for_doc(doc).count(),
                NumCol::Bool(c) => c.values_for_doc(doc).count(),
            } as u64;
        }
        if n == 0 && self.src.missing.is_some() {
            n = 1;
        }
        n
    }
}
