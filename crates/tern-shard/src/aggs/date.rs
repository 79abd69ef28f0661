//! Date rounding for `date_histogram`, `composite` date sources and `auto_date_histogram`.
//!
//! Dates are epoch milliseconds. Calendar intervals (`minute` .. `year`) round in the local time of
//! the request's `time_zone` (so a `day` bucket starts at local midnight, also across DST changes);
//! fixed intervals (`90m`, `2d`) are multiples of a length, rounded in local time too, as ES's
//! `TimeIntervalRounding` does for zones with a fixed offset. An `offset` shifts bucket starts.

use tern_mapping::date::Tz;

const SECOND: i64 = 1000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CalUnit {
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl CalUnit {
    /// ES's calendar interval names (`DateHistogramAggregationBuilder.DATE_FIELD_UNITS`).
    pub(crate) fn parse(s: &str) -> Option<CalUnit> {
        Some(match s {
            "1s" | "second" => CalUnit::Second,
            "1m" | "minute" => CalUnit::Minute,
            "1h" | "hour" => CalUnit::Hour,
            "1d" | "day" => CalUnit::Day,
            "1w" | "week" => CalUnit::Week,
            "1M" | "month" => CalUnit::Month,
            "1q" | "quarter" => CalUnit::Quarter,
            "1y" | "year" => CalUnit::Year,
            _ => return None,
        })
    }

    /// Nominal length, for ordering intervals (`auto_date_histogram`) and derivative units.
    pub(crate) fn approx_millis(self) -> i64 {
        match self {
            CalUnit::Second => SECOND,
            CalUnit::Minute => MINUTE,
            CalUnit::Hour => HOUR,
            CalUnit::Day => DAY,
            CalUnit::Week => 7 * DAY,
            CalUnit::Month => 30 * DAY,
            CalUnit::Quarter => 91 * DAY,
            CalUnit::Year => 365 * DAY,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interval {
    Calendar(CalUnit),
    /// Milliseconds, > 0.
    Fixed(i64),
}

/// `auto_date_histogram`'s roundings, finest first: unit, inner intervals, unit abbreviation
/// (ES's `AutoDateHistogramAggregationBuilder.buildRoundings`).
pub(crate) const AUTO_LEVELS: [(CalUnit, &[u32], &str); 6] = [
    (CalUnit::Second, &[1, 5, 10, 30], "s"),
    (CalUnit::Minute, &[1, 5, 10, 30], "m"),
    (CalUnit::Hour, &[1, 3, 12], "h"),
    (CalUnit::Day, &[1, 7], "d"),
    (CalUnit::Month, &[1, 3], "M"),
    (CalUnit::Year, &[1, 5, 10, 20, 50, 100], "y"),
];

/// The level of `AUTO_LEVELS` a calendar unit starts at (`minimum_interval`).
pub(crate) fn auto_level_of(unit: CalUnit) -> usize {
    AUTO_LEVELS.iter().position(|(u, _, _)| *u == unit).unwrap_or(0)
}

/// The rounding of an `auto_date_histogram` level in a time zone.
pub(crate) fn auto_rounding(level: usize, tz: Option<&str>) -> DateRounding {
    let tz = tz.and_then(|t| Tz::parse(t).ok()).unwrap_or(Tz::UTC);
    let (unit, _, _) = AUTO_LEVELS[level.min(AUTO_LEVELS.len() - 1)];
    DateRounding::new(Interval::Calendar(unit), tz, 0)
}

/// A rounding: interval, time zone and offset.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DateRounding {
    pub interval: Interval,
    pub tz: Tz,
    pub offset: i64,
}

impl DateRounding {
    pub(crate) fn new(interval: Interval, tz: Tz, offset: i64) -> DateRounding {
        DateRounding { interval, tz, offset }
    }

    /// The start of the bucket holding `t`.
    pub(crate) fn round(&self, t: i64) -> i64 {
        let shifted = t.saturating_sub(self.offset);
        let local = shifted + self.offset_ms(shifted);
        let truncated = match self.interval {
            Interval::Fixed(len) => local.div_euclid(len) * len,
            Interval::Calendar(u) => truncate_local(local, u),
        };
        self.local_to_utc(truncated).saturating_add(self.offset)
    }

    /// The start of the bucket after the one starting at `key`.
    pub(crate) fn next(&self, key: i64) -> i64 {
        let base = key - self.offset;
        let local = base + self.offset_ms(base);
        let next_local = match self.interval {
            Interval::Fixed(len) => local + len,
            Interval::Calendar(u) => add_units(truncate_local(local, u), u, 1),
        };
        let next = self.local_to_utc(next_local) + self.offset;
        if next <= key {
            // A DST overlap can map the next local start onto the same instant: step past it.
            self.round(key + self.step_hint()).max(key + 1)
        } else {
            next
        }
    }

    fn step_hint(&self) -> i64 {
        match self.interval {
            Interval::Fixed(len) => len,
            Interval::Calendar(u) => u.approx_millis(),
        }
    }

    fn offset_ms(&self, utc: i64) -> i64 {
        i64::from(self.tz.offset_at(utc.div_euclid(1000))) * 1000
    }

    /// The instant of a local wall-clock time (earlier instant in an overlap; in a gap, the time
    /// shifted forward by the gap, like `ZonedDateTime.ofLocal`).
    fn local_to_utc(&self, local: i64) -> i64 {
        let o1 = self.offset_ms(local);
        let guess = local - o1;
        let o2 = self.offset_ms(guess);
        if o1 == o2 {
            return guess;
        }
        let second = local - o2;
        if self.offset_ms(second) == o2 {
            // Both candidates may be valid in an overlap: take the earlier.
            if self.offset_ms(guess) == o1 { guess.min(second) } else { second }
        } else {
            // A gap: keep the local time shifted by the gap.
            local - o1.min(o2)
        }
    }
}

fn truncate_local(local: i64, unit: CalUnit) -> i64 {
    match unit {
        CalUnit::Second => local.div_euclid(SECOND) * SECOND,
        CalUnit::Minute => local.div_euclid(MINUTE) * MINUTE,
        CalUnit::Hour => local.div_euclid(HOUR) * HOUR,
        CalUnit::Day => local.div_euclid(DAY) * DAY,
        CalUnit::Week => {
            let days = local.div_euclid(DAY);
            // 1970-01-01 was a Thursday; ISO weeks start on Monday.
            (days - (days + 3).rem_euclid(7)) * DAY
        }
        CalUnit::Month | CalUnit::Quarter | CalUnit::Year => {
            let (y, m, _) = civil_from_days(local.div_euclid(DAY));
            let month = match unit {
                CalUnit::Month => m,
                CalUnit::Quarter => ((m - 1) / 3) * 3 + 1,
                _ => 1,
            };
            days_from_civil(y, month, 1) * DAY
        }
    }
}

fn add_units(local: i64, unit: CalUnit, n: i64) -> i64 {
    match unit {
        CalUnit::Second => local + n * SECOND,
        CalUnit::Minute => local + n * MINUTE,
        CalUnit::Hour => local + n * HOUR,
        CalUnit::Day => local + n * DAY,
        CalUnit::Week => local + n * 7 * DAY,
        CalUnit::Month | CalUnit::Quarter | CalUnit::Year => {
            let months = match unit {
                CalUnit::Month => n,
                CalUnit::Quarter => 3 * n,
                _ => 12 * n,
            };
            let day_ms = local.rem_euclid(DAY);
            let (y, m, d) = civil_from_days(local.div_euclid(DAY));
            let total = y * 12 + (m - 1) + months;
            let (ny, nm) = (total.div_euclid(12), total.rem_euclid(12) + 1);
            let nd = d.min(days_in_month(ny, nm));
            days_from_civil(ny, nm, nd) * DAY + day_ms
        }
    }
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 {
                29
            } else {
                28
            }
        }
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// The proleptic Gregorian date of a day count since 1970-01-01.
pub(crate) fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// An ES time value (`90m`, `1.5h`, `500ms`, `2d`) in milliseconds.
pub(crate) fn parse_time_millis(s: &str) -> Option<i64> {
    let s = s.trim();
    let units: [(&str, f64); 7] = [
        ("nanos", 1e-6),
        ("micros", 1e-3),
        ("ms", 1.0),
        ("s", 1000.0),
        ("m", 60_000.0),
        ("h", 3_600_000.0),
        ("d", 86_400_000.0),
    ];
    for (suffix, factor) in units {
        if let Some(num) = s.strip_suffix(suffix) {
            if num.is_empty() || num.ends_with(|c: char| c.is_ascii_alphabetic()) {
                continue;
            }
            let n: f64 = num.trim().parse().ok()?;
            return Some((n * factor).round() as i64);
        }
    }
    None
}

/// A `date_histogram` `offset`: `+1d`, `-4h`, `4h` or a number of milliseconds.
pub(crate) fn parse_offset(v: &serde_json::Value) -> Option<i64> {
    match v {
        serde_json::Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        serde_json::Value::String(s) => {
            let s = s.trim();
            if let Some(rest) = s.strip_prefix('-') {
                parse_time_millis(rest).map(|m| -m)
            } else {
                parse_time_millis(s.strip_prefix('+').unwrap_or(s))
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(y: i64, m: i64, d: i64) -> i64 {
        days_from_civil(y, m, d) * DAY
    }

    #[test]
    fn civil_round_trip() {
        for z in [-800_000i64, -1, 0, 1, 16_000, 19_000, 2_000_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(utc(2016, 1, 1), 1_451_606_400_000);
    }

    #[test]
    fn calendar_rounding_utc() {
        let r = DateRounding::new(Interval::Calendar(CalUnit::Month), Tz::UTC, 0);
        assert_eq!(r.round(utc(2016, 1, 2) + 5 * HOUR), utc(2016, 1, 1));
        assert_eq!(r.next(utc(2016, 1, 1)), utc(2016, 2, 1));
        assert_eq!(r.next(utc(2016, 12, 1)), utc(2017, 1, 1));
        let w = DateRounding::new(Interval::Calendar(CalUnit::Week), Tz::UTC, 0);
        // 2020-03-04 is a Wednesday; its ISO week starts Monday 2020-03-02.
        assert_eq!(w.round(utc(2020, 3, 4)), utc(2020, 3, 2));
        let q = DateRounding::new(Interval::Calendar(CalUnit::Quarter), Tz::UTC, 0);
        assert_eq!(q.round(utc(2020, 5, 17)), utc(2020, 4, 1));
        let y = DateRounding::new(Interval::Calendar(CalUnit::Year), Tz::UTC, 0);
        assert_eq!(y.round(utc(1969, 5, 17)), utc(1969, 1, 1));
    }

    #[test]
    fn rounding_in_zones() {
        let tz = Tz::parse("-02:00").unwrap();
        let r = DateRounding::new(Interval::Calendar(CalUnit::Day), tz, 0);
        // 2017-10-22T01:00Z is 2017-10-21T23:00-02:00: its day starts 2017-10-21T02:00Z.
        assert_eq!(r.round(utc(2017, 10, 22) + HOUR), utc(2017, 10, 21) + 2 * HOUR);
        let phoenix = Tz::parse("America/Phoenix").unwrap();
        let ms = DateRounding::new(Interval::Fixed(1), phoenix, 0);
        assert_eq!(ms.round(utc(2016, 1, 1)), utc(2016, 1, 1));
        let paris = Tz::parse("Europe/Paris").unwrap();
        let d = DateRounding::new(Interval::Calendar(CalUnit::Day), paris, 0);
        // 2020-03-29 (DST starts): local midnight is 2020-03-28T23:00Z.
        assert_eq!(d.round(utc(2020, 3, 29) + 5 * HOUR), utc(2020, 3, 28) + 23 * HOUR);
        assert_eq!(d.next(utc(2020, 3, 28) + 23 * HOUR), utc(2020, 3, 29) + 22 * HOUR);
    }

    #[test]
    fn offsets_and_time_values() {
        assert_eq!(parse_time_millis("90m"), Some(90 * MINUTE));
        assert_eq!(parse_time_millis("1ms"), Some(1));
        assert_eq!(parse_time_millis("1w"), None);
        assert_eq!(parse_offset(&serde_json::json!("+1d")), Some(DAY));
        assert_eq!(parse_offset(&serde_json::json!("-4h")), Some(-4 * HOUR));
        let r = DateRounding::new(Interval::Calendar(CalUnit::Day), Tz::UTC, 4 * HOUR);
        assert_eq!(r.round(utc(2017, 10, 20) + 3 * HOUR), utc(2017, 10, 19) + 4 * HOUR);
    }
}
