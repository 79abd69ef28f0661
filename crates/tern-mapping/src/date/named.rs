//! ES built-in date formats.
//!
//! Written in this crate's pattern language for built-ins ([`Mode::NamedStrict`] /
//! [`Mode::NamedLenient`]): `yyyy` year (4-9 digits strict, 1-9 lenient), `YYYY` ISO week-based
//! year, `S` a 1-9 digit fraction (printed with as many digits as letters), `Z` an offset or zone
//! id (printed `Z` for UTC, else `+HH:MM`), `e` ISO day of week.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use super::SingleFormat;
use super::pattern::{self, Mode};

/// `(name, parse pattern, print pattern, always strict)`. Every name also exists with a `strict_`
/// prefix; the plain name is lenient about digit counts unless "always strict" (the `basic_*`
/// formats are fixed-width in ES either way).
const FORMATS: &[(&str, &str, &str, bool)] = &[
    ("date_optional_time", "yyyy[-MM[-dd['T'HH[:mm[:ss[.S]]][Z]]]]", "yyyy-MM-dd'T'HH:mm:ss.SSSZ", false),
    ("date_optional_time_nanos", "yyyy[-MM[-dd['T'HH[:mm[:ss[.S]]][Z]]]]", "yyyy-MM-dd'T'HH:mm:ss.SSSZ", false),
    ("iso8601", "yyyy[-MM[-dd['T'HH[:mm[:ss[.S]]][Z]]]]", "yyyy-MM-dd'T'HH:mm:ss.SSSZ", false),
    ("basic_date", "yyyyMMdd", "yyyyMMdd", true),
    ("basic_date_time", "yyyyMMdd'T'HHmmss.SZ", "yyyyMMdd'T'HHmmss.SSSZ", true),
    ("basic_date_time_no_millis", "yyyyMMdd'T'HHmmssZ", "yyyyMMdd'T'HHmmssZ", true),
    ("basic_ordinal_date", "yyyyDDD", "yyyyDDD", true),
    ("basic_ordinal_date_time", "yyyyDDD'T'HHmmss.SZ", "yyyyDDD'T'HHmmss.SSSZ", true),
    ("basic_ordinal_date_time_no_millis", "yyyyDDD'T'HHmmssZ", "yyyyDDD'T'HHmmssZ", true),
    ("basic_time", "HHmmss.SZ", "HHmmss.SSSZ", true),
    ("basic_time_no_millis", "HHmmssZ", "HHmmssZ", true),
    ("basic_t_time", "'T'HHmmss.SZ", "'T'HHmmss.SSSZ", true),
    ("basic_t_time_no_millis", "'T'HHmmssZ", "'T'HHmmssZ", true),
    ("basic_week_date", "YYYY'W'wwe", "YYYY'W'wwe", true),
    ("basic_week_date_time", "YYYY'W'wwe'T'HHmmss.SZ", "YYYY'W'wwe'T'HHmmss.SSSZ", true),
    ("basic_week_date_time_no_millis", "YYYY'W'wwe'T'HHmmssZ", "YYYY'W'wwe'T'HHmmssZ", true),
    ("date", "yyyy-MM-dd", "yyyy-MM-dd", false),
    ("date_hour", "yyyy-MM-dd'T'HH", "yyyy-MM-dd'T'HH", false),
    ("date_hour_minute", "yyyy-MM-dd'T'HH:mm", "yyyy-MM-dd'T'HH:mm", false),
    ("date_hour_minute_second", "yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd'T'HH:mm:ss", false),
    ("date_hour_minute_second_fraction", "yyyy-MM-dd'T'HH:mm:ss.S", "yyyy-MM-dd'T'HH:mm:ss.SSS", false),
    ("date_hour_minute_second_millis", "yyyy-MM-dd'T'HH:mm:ss.S", "yyyy-MM-dd'T'HH:mm:ss.SSS", false),
    ("date_time", "yyyy-MM-dd'T'HH:mm:ss.SZ", "yyyy-MM-dd'T'HH:mm:ss.SSSZ", false),
    ("date_time_no_millis", "yyyy-MM-dd'T'HH:mm:ssZ", "yyyy-MM-dd'T'HH:mm:ssZ", false),
    ("hour", "HH", "HH", false),
    ("hour_minute", "HH:mm", "HH:mm", false),
    ("hour_minute_second", "HH:mm:ss", "HH:mm:ss", false),
    ("hour_minute_second_fraction", "HH:mm:ss.S", "HH:mm:ss.SSS", false),
    ("hour_minute_second_millis", "HH:mm:ss.S", "HH:mm:ss.SSS", false),
    ("ordinal_date", "yyyy-DDD", "yyyy-DDD", false),
    ("ordinal_date_time", "yyyy-DDD'T'HH:mm:ss.SZ", "yyyy-DDD'T'HH:mm:ss.SSSZ", false),
    ("ordinal_date_time_no_millis", "yyyy-DDD'T'HH:mm:ssZ", "yyyy-DDD'T'HH:mm:ssZ", false),
    ("time", "HH:mm:ss.SZ", "HH:mm:ss.SSSZ", false),
    ("time_no_millis", "HH:mm:ssZ", "HH:mm:ssZ", false),
    ("t_time", "'T'HH:mm:ss.SZ", "'T'HH:mm:ss.SSSZ", false),
    ("t_time_no_millis", "'T'HH:mm:ssZ", "'T'HH:mm:ssZ", false),
    ("week_date", "YYYY-'W'ww-e", "YYYY-'W'ww-e", false),
    ("week_date_time", "YYYY-'W'ww-e'T'HH:mm:ss.SZ", "YYYY-'W'ww-e'T'HH:mm:ss.SSSZ", false),
    ("week_date_time_no_millis", "YYYY-'W'ww-e'T'HH:mm:ssZ", "YYYY-'W'ww-e'T'HH:mm:ssZ", false),
    ("weekyear", "YYYY", "YYYY", false),
    ("weekyear_week", "YYYY-'W'ww", "YYYY-'W'ww", false),
    ("weekyear_week_day", "YYYY-'W'ww-e", "YYYY-'W'ww-e", false),
    ("year", "yyyy", "yyyy", false),
    ("year_month", "yyyy-MM", "yyyy-MM", false),
    ("year_month_day", "yyyy-MM-dd", "yyyy-MM-dd", false),
];

fn table() -> &'static HashMap<String, Arc<SingleFormat>> {
    static TABLE: OnceLock<HashMap<String, Arc<SingleFormat>>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut map = HashMap::new();
        for (name, parse, print, always_strict) in FORMATS {
            for strict in [true, false] {
                let mode = if strict || *always_strict { Mode::NamedStrict } else { Mode::NamedLenient };
                let (Ok(p), Ok(pr)) = (pattern::compile(parse, mode), pattern::compile(print, Mode::NamedStrict))
                else {
                    continue;
                };
                let key = if strict { format!("strict_{name}") } else { (*name).to_string() };
                map.insert(key, Arc::new(SingleFormat::Pattern { parse: p, print: pr }));
            }
        }
        map
    })
}

/// A built-in format by name (`strict_date_optional_time`, `basic_date`, ...).
pub(crate) fn lookup(name: &str) -> Option<Arc<SingleFormat>> {
    table().get(name).cloned()
}

/// Every built-in name (for tests and docs).
#[cfg(test)]
pub(crate) fn names() -> Vec<String> {
    table().keys().cloned().collect()
}
