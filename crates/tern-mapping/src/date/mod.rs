//! ES date formats, time zones and date math.
//!
//! ES fields of type `date` take a `format`: one or more formats separated by `||`, each either an ES
//! built-in name (`strict_date_optional_time`, `epoch_millis`, `basic_date`, ... and their `strict_`
//! variants) or a Java `DateTimeFormatter` pattern (`yyyy-MM-dd'T'HH:mm:ss.SSSXXX`, `[...]` optional
//! sections, `'...'` literals). Parsing tries the formats in order; printing uses the first one.
//!
//! Values without an offset or zone are read in the caller's time zone (a range query's `time_zone`),
//! else UTC. Missing fields default like ES: to the start of the period, or, when rounding up (a
//! range query's `lte`/`gt` bound), to `MM=01, dd=01, HH=23, mm=59, ss=59, nanos=999999999` — so
//! `2014-11-18` rounds up to `2014-11-18T23:59:59.999Z`.
//!
//! [`parse_date_math`] implements ES date math: `now`, `now-1d/d`, `2020-01-01||+1M/M`, units
//! `y M w d h H m s`, rounding down (or to the last millisecond of the unit when rounding up).

mod math;
mod named;
mod pattern;

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, OnceLock, RwLock};

use chrono::{Datelike, NaiveDateTime, Offset, TimeZone, Timelike};
use tern_common::{ErrorKind, EsError};

pub use math::parse_date_math;

use pattern::{Elem, Parsed};

/// The default `format` of a `date` field.
pub const DEFAULT_DATE_FORMAT: &str = "strict_date_optional_time||epoch_millis";
/// The default `format` of a `date_nanos` field.
pub const DEFAULT_DATE_NANOS_FORMAT: &str = "strict_date_optional_time_nanos||epoch_millis";

/// Date format, date value and date math errors, with ES's exception types and texts.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DateError {
    /// An invalid `format` (ES: `Invalid format: [xyz]: Unknown pattern letter: x`).
    #[error("Invalid format: [{pattern}]: {reason}")]
    InvalidFormat { pattern: String, reason: String },
    /// An empty `format`.
    #[error("No date pattern provided")]
    EmptyFormat,
    /// A value no format of the list could read.
    #[error("failed to parse date field [{value}] with format [{format}]")]
    Unparseable {
        value: String,
        format: String,
        /// Java's `DateTimeParseException` message, rendered as the `caused_by`.
        cause: String,
    },
    /// A date math syntax error (`parse_exception`).
    #[error("{0}")]
    Math(String),
    /// A date inside date math that could not be read (`parse_exception`).
    #[error("failed to parse date field [{value}] with format [{format}]: [{inner}]")]
    MathDate { value: String, format: String, inner: String },
    /// An unknown or invalid time zone id.
    #[error("{0}")]
    TimeZone(String),
    /// A date outside the supported range.
    #[error("{0}")]
    OutOfRange(String),
}

impl DateError {
    pub fn es_type(&self) -> &'static str {
        match self {
            DateError::Math(_) | DateError::MathDate { .. } => "parse_exception",
            _ => "illegal_argument_exception",
        }
    }
}

impl From<DateError> for EsError {
    fn from(e: DateError) -> Self {
        let reason = e.to_string();
        match e {
            DateError::Math(_) | DateError::MathDate { .. } => {
                EsError::new(ErrorKind::Parsing, reason).with_type("parse_exception")
            }
            DateError::Unparseable { cause, .. } => EsError::new(ErrorKind::IllegalArgument, reason)
                .caused_by(EsError::new(ErrorKind::IllegalArgument, cause).with_type("date_time_parse_exception")),
            _ => EsError::new(ErrorKind::IllegalArgument, reason),
        }
    }
}

/// A time zone: a fixed offset or an IANA region (Java `ZoneId`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tz {
    /// Seconds east of UTC.
    Fixed(i32),
    Named(chrono_tz::Tz),
}

impl Tz {
    pub const UTC: Tz = Tz::Fixed(0);

    /// Parses a zone id like Java's `ZoneId.of`: `Z`, `UTC`, `GMT`, `+01:00`, `-0500`, `+01`,
    /// `UTC+01:00`, `GMT+1`, `Europe/Paris`.
    pub fn parse(s: &str) -> Result<Tz, DateError> {
        if s == "Z" || s == "UTC" || s == "GMT" || s == "UT" {
            return Ok(Tz::UTC);
        }
        if s.starts_with('+') || s.starts_with('-') {
            return parse_offset_id(s)
                .map(Tz::Fixed)
                .ok_or_else(|| DateError::TimeZone(format!("Invalid ID for ZoneOffset, invalid format: {s}")));
        }
        for prefix in ["UTC", "GMT", "UT"] {
            if let Some(rest) = s.strip_prefix(prefix)
                && (rest.starts_with('+') || rest.starts_with('-'))
            {
                return parse_offset_id(rest)
                    .map(Tz::Fixed)
                    .ok_or_else(|| DateError::TimeZone(format!("Invalid ID for offset-based ZoneId: {s}")));
            }
        }
        match chrono_tz::Tz::from_str(s) {
            Ok(tz) => Ok(Tz::Named(tz)),
            Err(_) => {
                let valid = !s.is_empty()
                    && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '~' | '/' | '.' | '_' | '+' | '-'));
                if valid {
                    Err(DateError::TimeZone(format!("Unknown time-zone ID: {s}")))
                } else {
                    Err(DateError::TimeZone(format!("Invalid ID for region-based ZoneId, invalid format: {s}")))
                }
            }
        }
    }

    /// The zone's offset from UTC, in seconds, at an instant.
    pub fn offset_at(&self, epoch_seconds: i64) -> i32 {
        match self {
            Tz::Fixed(o) => *o,
            Tz::Named(tz) => match chrono::DateTime::from_timestamp(epoch_seconds, 0) {
                Some(dt) => tz.offset_from_utc_datetime(&dt.naive_utc()).fix().local_minus_utc(),
                None => 0,
            },
        }
    }

    /// The instant (epoch seconds) of a local date-time: for an overlap the earlier instant, for a
    /// gap the local time shifted by the gap's length (Java `ZonedDateTime.ofLocal`).
    pub(crate) fn local_to_epoch_seconds(&self, local: &NaiveDateTime) -> i64 {
        let naive_secs = local.and_utc().timestamp();
        match self {
            Tz::Fixed(o) => naive_secs - i64::from(*o),
            Tz::Named(tz) => match tz.offset_from_local_datetime(local) {
                chrono::LocalResult::Single(o) => naive_secs - i64::from(o.fix().local_minus_utc()),
                chrono::LocalResult::Ambiguous(a, b) => {
                    let x = naive_secs - i64::from(a.fix().local_minus_utc());
                    let y = naive_secs - i64::from(b.fix().local_minus_utc());
                    x.min(y)
                }
                chrono::LocalResult::None => {
                    let before = self.offset_at(naive_secs - 86_400);
                    naive_secs - i64::from(before)
                }
            },
        }
    }

    /// The Java zone id (`Z`, `+01:00`, `Europe/Paris`).
    pub fn id(&self) -> String {
        match self {
            Tz::Fixed(0) => "Z".to_string(),
            Tz::Fixed(o) => format_offset_colon(*o),
            Tz::Named(tz) => tz.name().to_string(),
        }
    }

    /// The short zone name at an instant (Java pattern letter `z`).
    pub(crate) fn short_name(&self, epoch_seconds: i64) -> String {
        match self {
            Tz::Fixed(0) => "Z".to_string(),
            Tz::Fixed(o) => format_offset_colon(*o),
            Tz::Named(tz) => match chrono::DateTime::from_timestamp(epoch_seconds, 0) {
                Some(dt) => tz.offset_from_utc_datetime(&dt.naive_utc()).to_string(),
                None => tz.name().to_string(),
            },
        }
    }
}

impl fmt::Display for Tz {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id())
    }
}

impl FromStr for Tz {
    type Err = DateError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Tz::parse(s)
    }
}

pub(crate) fn format_offset_colon(secs: i32) -> String {
    let sign = if secs < 0 { '-' } else { '+' };
    let a = secs.unsigned_abs();
    let (h, m, s) = (a / 3600, (a / 60) % 60, a % 60);
    if s != 0 { format!("{sign}{h:02}:{m:02}:{s:02}") } else { format!("{sign}{h:02}:{m:02}") }
}

/// `+H`, `+HH`, `+HH:MM`, `+HHMM`, `+HH:MM:SS`, `+HHMMSS` (Java `ZoneOffset.of`).
fn parse_offset_id(s: &str) -> Option<i32> {
    let bytes = s.as_bytes();
    let sign = match bytes.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let rest = &s[1..];
    if !rest.bytes().all(|b| b.is_ascii_digit() || b == b':') {
        return None;
    }
    let num = |t: &str| t.parse::<i32>().ok();
    let (h, m, sec) = match rest.len() {
        1 | 2 if !rest.contains(':') => (num(rest)?, 0, 0),
        4 if !rest.contains(':') => (num(&rest[..2])?, num(&rest[2..])?, 0),
        5 if rest.as_bytes()[2] == b':' => (num(&rest[..2])?, num(&rest[3..])?, 0),
        6 if !rest.contains(':') => (num(&rest[..2])?, num(&rest[2..4])?, num(&rest[4..])?),
        8 if rest.as_bytes()[2] == b':' && rest.as_bytes()[5] == b':' => {
            (num(&rest[..2])?, num(&rest[3..5])?, num(&rest[6..])?)
        }
        _ => return None,
    };
    if h > 18 || m > 59 || sec > 59 || (h == 18 && (m > 0 || sec > 0)) {
        return None;
    }
    Some(sign * (h * 3600 + m * 60 + sec))
}

/// One format of a `||` list.
#[derive(Debug, Clone)]
pub(crate) enum SingleFormat {
    EpochMillis,
    EpochSecond,
    Pattern { parse: Vec<Elem>, print: Vec<Elem> },
}

/// A compiled ES date format (`strict_date_optional_time||epoch_millis`, `yyyy/MM/dd`, ...).
#[derive(Clone)]
pub struct DateFormat {
    spec: String,
    formats: Vec<Arc<SingleFormat>>,
}

impl fmt::Debug for DateFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DateFormat").field(&self.spec).finish()
    }
}

impl PartialEq for DateFormat {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec
    }
}

impl fmt::Display for DateFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.spec)
    }
}

const MAX_FORMAT_CACHE: usize = 4096;

fn cache() -> &'static RwLock<HashMap<String, Arc<DateFormat>>> {
    static CACHE: OnceLock<RwLock<HashMap<String, Arc<DateFormat>>>> = OnceLock::new();
    CACHE.get_or_init(|| RwLock::new(HashMap::new()))
}

impl DateFormat {
    /// Compiles a format spec: `||`-separated built-in names and Java patterns.
    pub fn parse(spec: &str) -> Result<DateFormat, DateError> {
        if spec.is_empty() {
            return Err(DateError::EmptyFormat);
        }
        let mut formats = Vec::new();
        for part in spec.split("||") {
            if part.is_empty() {
                return Err(DateError::InvalidFormat {
                    pattern: spec.to_string(),
                    reason: "No date pattern provided".to_string(),
                });
            }
            let single = match part {
                "epoch_millis" => Arc::new(SingleFormat::EpochMillis),
                "epoch_second" => Arc::new(SingleFormat::EpochSecond),
                _ => match named::lookup(part) {
                    Some(f) => f,
                    None => {
                        let elems = pattern::compile(part, pattern::Mode::Java)
                            .map_err(|reason| DateError::InvalidFormat { pattern: part.to_string(), reason })?;
                        Arc::new(SingleFormat::Pattern { parse: elems.clone(), print: elems })
                    }
                },
            };
            formats.push(single);
        }
        Ok(DateFormat { spec: spec.to_string(), formats })
    }

    /// A shared compiled format from a process-wide cache (formats are compiled once, not per
    /// document).
    pub fn cached(spec: &str) -> Result<Arc<DateFormat>, DateError> {
        if let Ok(map) = cache().read()
            && let Some(f) = map.get(spec)
        {
            return Ok(f.clone());
        }
        let f = Arc::new(DateFormat::parse(spec)?);
        if let Ok(mut map) = cache().write() {
            if map.len() >= MAX_FORMAT_CACHE {
                map.clear();
            }
            map.insert(spec.to_string(), f.clone());
        }
        Ok(f)
    }

    /// `strict_date_optional_time||epoch_millis`.
    pub fn default_date() -> Arc<DateFormat> {
        static F: OnceLock<Arc<DateFormat>> = OnceLock::new();
        F.get_or_init(|| {
            Arc::new(DateFormat::parse(DEFAULT_DATE_FORMAT).unwrap_or_else(|_| DateFormat {
                spec: DEFAULT_DATE_FORMAT.to_string(),
                formats: vec![Arc::new(SingleFormat::EpochMillis)],
            }))
        })
        .clone()
    }

    /// The spec this format was compiled from.
    pub fn spec(&self) -> &str {
        &self.spec
    }

    /// Parses a date into epoch milliseconds. Values without offset/zone are read in `tz` (UTC when
    /// `None`); missing fields default to the start of the period.
    pub fn parse_millis(&self, s: &str, tz: Option<&Tz>) -> Result<i64, DateError> {
        self.parse_inner(s, tz, false)
    }

    /// Like [`DateFormat::parse_millis`], but missing fields default like ES's round-up parser
    /// (`MM=01 dd=01 HH=23 mm=59 ss=59 .999999999`), for `lte`/`gt` range bounds.
    pub fn parse_millis_round_up(&self, s: &str, tz: Option<&Tz>) -> Result<i64, DateError> {
        self.parse_inner(s, tz, true)
    }

    pub(crate) fn parse_inner(&self, s: &str, tz: Option<&Tz>, round_up: bool) -> Result<i64, DateError> {
        let mut first_error: Option<usize> = None;
        for f in &self.formats {
            let r = match f.as_ref() {
                SingleFormat::EpochMillis => parse_epoch(s, false),
                SingleFormat::EpochSecond => parse_epoch(s, true),
                SingleFormat::Pattern { parse, .. } => pattern::parse(parse, s).and_then(|p| resolve(&p, tz, round_up)),
            };
            match r {
                Ok(ms) => return Ok(ms),
                Err(at) => {
                    first_error.get_or_insert(at);
                }
            }
        }
        let cause = if self.formats.len() > 1 {
            "Failed to parse with all enclosed parsers".to_string()
        } else {
            format!("Text '{s}' could not be parsed at index {}", first_error.unwrap_or(0))
        };
        Err(DateError::Unparseable { value: s.to_string(), format: self.spec.clone(), cause })
    }

    /// Formats epoch milliseconds with the first format of the list, in UTC (ES prints
    /// `2015-01-01T00:00:00.000Z` for `strict_date_optional_time`).
    pub fn format_millis(&self, ms: i64) -> String {
        self.format_millis_tz(ms, &Tz::UTC)
    }

    /// Formats epoch milliseconds with the first format of the list, in a time zone.
    pub fn format_millis_tz(&self, ms: i64, tz: &Tz) -> String {
        let Some(first) = self.formats.first() else {
            return ms.to_string();
        };
        match first.as_ref() {
            SingleFormat::EpochMillis => ms.to_string(),
            SingleFormat::EpochSecond => {
                let secs = ms.div_euclid(1000);
                let frac = ms.rem_euclid(1000);
                if frac == 0 {
                    secs.to_string()
                } else {
                    let f = format!("{frac:03}");
                    format!("{secs}.{}", f.trim_end_matches('0'))
                }
            }
            SingleFormat::Pattern { print, .. } => {
                let secs = ms.div_euclid(1000);
                let nanos = (ms.rem_euclid(1000) * 1_000_000) as u32;
                let offset = tz.offset_at(secs);
                let local = chrono::DateTime::from_timestamp(secs + i64::from(offset), nanos).map(|d| d.naive_utc());
                match local {
                    Some(local) => pattern::print(print, &local, offset, tz, secs),
                    None => ms.to_string(),
                }
            }
        }
    }
}

/// `epoch_millis`: `-?\d+(\.\d{1,6})?`; `epoch_second`: `-?\d+(\.\d{1,9})?`.
fn parse_epoch(s: &str, seconds: bool) -> Result<i64, usize> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int_part, frac_part) = match body.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (body, None),
    };
    if int_part.is_empty() || int_part.len() > 19 || !int_part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(0);
    }
    let int: i128 = int_part.parse().map_err(|_| 0usize)?;
    let max_frac = if seconds { 9 } else { 6 };
    let frac_nanos: i128 = match frac_part {
        None => 0,
        Some(f) => {
            if f.is_empty() || f.len() > max_frac || !f.bytes().all(|b| b.is_ascii_digit()) {
                return Err(int_part.len() + 1);
            }
            let scale = if seconds { 9 } else { 6 };
            let v: i128 = f.parse().map_err(|_| 0usize)?;
            v * 10i128.pow((scale - f.len()) as u32)
        }
    };
    // Total in nanoseconds, then floor to milliseconds.
    let total_nanos = if seconds { int * 1_000_000_000 + frac_nanos } else { int * 1_000_000 + frac_nanos };
    let total_nanos = if neg { -total_nanos } else { total_nanos };
    let ms = total_nanos.div_euclid(1_000_000);
    // Keep inside the range chrono can represent.
    const LIMIT: i128 = 8_210_266_876_799_999;
    if !(-LIMIT..=LIMIT).contains(&ms) {
        return Err(0);
    }
    Ok(ms as i64)
}

/// Turns parsed fields into epoch milliseconds.
fn resolve(p: &Parsed, tz: Option<&Tz>, round_up: bool) -> Result<i64, usize> {
    let date = resolve_date(p).ok_or(0usize)?;
    let hour = if let Some(h) = p.hour {
        h
    } else if let Some(k) = p.clock_hour_24 {
        if k == 24 { 0 } else { k }
    } else if p.hour_of_ampm.is_some() || p.clock_hour_of_ampm.is_some() {
        let base = p.hour_of_ampm.or_else(|| p.clock_hour_of_ampm.map(|h| if h == 12 { 0 } else { h })).unwrap_or(0);
        base + if p.ampm == Some(1) { 12 } else { 0 }
    } else if let Some(mod_) = p.milli_of_day {
        mod_ / 3_600_000
    } else if round_up {
        23
    } else {
        0
    };
    let (minute, second, nanos) = if p.hour.is_none()
        && p.clock_hour_24.is_none()
        && p.hour_of_ampm.is_none()
        && p.clock_hour_of_ampm.is_none()
        && let Some(mod_) = p.milli_of_day
    {
        ((mod_ / 60_000) % 60, (mod_ / 1000) % 60, (mod_ % 1000) * 1_000_000)
    } else {
        (
            p.minute.unwrap_or(if round_up { 59 } else { 0 }),
            p.second.unwrap_or(if round_up { 59 } else { 0 }),
            p.nanos.unwrap_or(if round_up { 999_999_999 } else { 0 }),
        )
    };
    if !(0..24).contains(&hour)
        || !(0..60).contains(&minute)
        || !(0..60).contains(&second)
        || !(0..1_000_000_000).contains(&nanos)
    {
        return Err(0);
    }
    let time =
        chrono::NaiveTime::from_hms_nano_opt(hour as u32, minute as u32, second as u32, nanos as u32).ok_or(0usize)?;
    let local = date.and_time(time);
    let secs = if let Some(off) = p.offset {
        local.and_utc().timestamp() - i64::from(off)
    } else if let Some(z) = p.zone.as_ref() {
        z.local_to_epoch_seconds(&local)
    } else if let Some(z) = tz {
        z.local_to_epoch_seconds(&local)
    } else {
        local.and_utc().timestamp()
    };
    secs.checked_mul(1000).and_then(|ms| ms.checked_add(i64::from(local.nanosecond() / 1_000_000))).ok_or(0)
}

fn resolve_date(p: &Parsed) -> Option<chrono::NaiveDate> {
    let year_of_era = p.year_of_era.map(|y| if p.era == Some(0) { 1 - y } else { y });
    if p.week_year.is_some() || p.week.is_some() {
        let wy = p.week_year.or(p.year).or(year_of_era).unwrap_or(1970);
        let week = p.week.unwrap_or(1);
        let dow = p.day_of_week.unwrap_or(1);
        let weekday = match dow {
            1 => chrono::Weekday::Mon,
            2 => chrono::Weekday::Tue,
            3 => chrono::Weekday::Wed,
            4 => chrono::Weekday::Thu,
            5 => chrono::Weekday::Fri,
            6 => chrono::Weekday::Sat,
            7 => chrono::Weekday::Sun,
            _ => return None,
        };
        return chrono::NaiveDate::from_isoywd_opt(i32::try_from(wy).ok()?, u32::try_from(week).ok()?, weekday);
    }
    let year = p.year.or(year_of_era).unwrap_or(1970);
    let year = i32::try_from(year).ok()?;
    if let Some(doy) = p.day_of_year {
        return chrono::NaiveDate::from_yo_opt(year, u32::try_from(doy).ok()?);
    }
    let month = p.month.unwrap_or(1);
    let day = p.day.unwrap_or(1);
    let d = chrono::NaiveDate::from_ymd_opt(year, u32::try_from(month).ok()?, u32::try_from(day).ok()?)?;
    if let Some(dow) = p.day_of_week
        && i64::from(d.weekday().number_from_monday()) != dow
    {
        return None;
    }
    Some(d)
}

/// Local date-time and offset (seconds) of an instant in a zone.
pub(crate) fn to_local(ms: i64, tz: &Tz) -> Option<NaiveDateTime> {
    let secs = ms.div_euclid(1000);
    let nanos = (ms.rem_euclid(1000) * 1_000_000) as u32;
    let off = tz.offset_at(secs);
    chrono::DateTime::from_timestamp(secs.checked_add(i64::from(off))?, nanos).map(|d| d.naive_utc())
}

/// Epoch milliseconds of a local date-time in a zone.
pub(crate) fn from_local(local: &NaiveDateTime, tz: &Tz) -> Option<i64> {
    let secs = tz.local_to_epoch_seconds(local);
    secs.checked_mul(1000)?.checked_add(i64::from(local.nanosecond() / 1_000_000))
}

/// Year, month, day of an epoch-millis instant in UTC (handy for tests and callers).
pub fn ymd_hms_utc(ms: i64) -> Option<(i32, u32, u32, u32, u32, u32, u32)> {
    let l = to_local(ms, &Tz::UTC)?;
    Some((l.year(), l.month(), l.day(), l.hour(), l.minute(), l.second(), l.nanosecond() / 1_000_000))
}

#[cfg(test)]
mod tests;
