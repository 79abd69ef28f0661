//! ES date math (`now-1d/d`, `2020-01-01||+1M/M`), as ES's `JavaDateMathParser`.

use chrono::{Datelike, Duration, Months, NaiveDateTime, NaiveTime, Timelike};

use super::{DateError, DateFormat, Tz, from_local, to_local};

/// Evaluates an ES date math expression to epoch milliseconds.
///
/// * `now` (the caller's clock, `now_millis`) or a date read with `format`, optionally followed by
///   `||` and math;
/// * `+N<unit>` / `-N<unit>` add or subtract, `/<unit>` rounds down — or, with `round_up` (the `lte`
///   and `gt` bounds of a range), to the last millisecond of the unit;
/// * units `y M w d h H m s`;
/// * without `||`, a date with missing fields is completed like ES (`round_up` fills the end of the
///   day: `2014-11-18` → `2014-11-18T23:59:59.999`);
/// * `time_zone` (`+01:00`, `UTC`, `Europe/Paris`) applies to dates without an offset and to
///   rounding.
pub fn parse_date_math(
    expr: &str,
    now_millis: i64,
    round_up: bool,
    format: &DateFormat,
    time_zone: Option<&str>,
) -> Result<i64, DateError> {
    let tz = match time_zone {
        Some(z) => Some(Tz::parse(z)?),
        None => None,
    };
    let (time, math) = if let Some(rest) = expr.strip_prefix("now") {
        (now_millis, rest)
    } else if let Some(i) = expr.find("||") {
        (parse_date_time(&expr[..i], format, tz.as_ref(), false)?, &expr[i + 2..])
    } else {
        return parse_date_time(expr, format, tz.as_ref(), round_up);
    };
    apply_math(math, time, round_up, &tz.unwrap_or(Tz::UTC))
}

fn parse_date_time(value: &str, format: &DateFormat, tz: Option<&Tz>, round_up: bool) -> Result<i64, DateError> {
    if value.is_empty() {
        return Err(DateError::Math("cannot parse empty datetime".to_string()));
    }
    format.parse_inner(value, tz, round_up).map_err(|e| DateError::MathDate {
        value: value.to_string(),
        format: format.spec().to_string(),
        inner: e.to_string(),
    })
}

fn out_of_range(math: &str) -> DateError {
    DateError::OutOfRange(format!("date math [{math}] is out of the supported date range"))
}

fn apply_math(math: &str, time: i64, round_up: bool, tz: &Tz) -> Result<i64, DateError> {
    let chars: Vec<char> = math.chars().collect();
    let mut ms = time;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        let (round, sign) = match c {
            '/' => (true, 1i64),
            '+' => (false, 1),
            '-' => (false, -1),
            _ => {
                return Err(DateError::Math(format!("operator not supported for date math [{math}]")));
            }
        };
        if i >= chars.len() {
            return Err(DateError::Math(format!("truncated date math [{math}]")));
        }
        let num: i64 = if !chars[i].is_ascii_digit() {
            1
        } else {
            let from = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            if i >= chars.len() {
                return Err(DateError::Math(format!("truncated date math [{math}]")));
            }
            let digits: String = chars[from..i].iter().collect();
            digits
                .parse::<i32>()
                .map(i64::from)
                .map_err(|_| DateError::Math(format!("For input string: \"{digits}\"")))?
        };
        if round && num != 1 {
            return Err(DateError::Math(format!("rounding `/` can only be used on single unit types [{math}]")));
        }
        let unit = chars[i];
        i += 1;
        let local = to_local(ms, tz).ok_or_else(|| out_of_range(math))?;
        let n = sign * num;
        ms = match unit {
            'y' | 'M' | 'w' | 'd' => {
                let new_local = if round {
                    let start = round_date_unit(&local, unit).ok_or_else(|| out_of_range(math))?;
                    if round_up { add_date_unit(&start, unit, 1).ok_or_else(|| out_of_range(math))? } else { start }
                } else {
                    add_date_unit(&local, unit, n).ok_or_else(|| out_of_range(math))?
                };
                from_local(&new_local, tz).ok_or_else(|| out_of_range(math))?
            }
            'h' | 'H' | 'm' | 's' => {
                let unit_ms: i64 = match unit {
                    'm' => 60_000,
                    's' => 1000,
                    _ => 3_600_000,
                };
                if round {
                    let truncated = match unit {
                        'm' => local.with_second(0).and_then(|l| l.with_nanosecond(0)),
                        's' => local.with_nanosecond(0),
                        _ => local.with_minute(0).and_then(|l| l.with_second(0)).and_then(|l| l.with_nanosecond(0)),
                    }
                    .ok_or_else(|| out_of_range(math))?;
                    let start = from_local(&truncated, tz).ok_or_else(|| out_of_range(math))?;
                    if round_up { start.checked_add(unit_ms).ok_or_else(|| out_of_range(math))? } else { start }
                } else {
                    n.checked_mul(unit_ms).and_then(|d| ms.checked_add(d)).ok_or_else(|| out_of_range(math))?
                }
            }
            other => {
                return Err(DateError::Math(format!("unit [{other}] not supported for date math [{math}]")));
            }
        };
        if round && round_up {
            ms -= 1;
        }
    }
    Ok(ms)
}

/// Truncates a local date-time to the start of a date unit (weeks start on Monday).
fn round_date_unit(local: &NaiveDateTime, unit: char) -> Option<NaiveDateTime> {
    let date = local.date();
    let d = match unit {
        'y' => date.with_ordinal(1)?,
        'M' => date.with_day(1)?,
        'w' => date.checked_sub_signed(Duration::days(i64::from(date.weekday().num_days_from_monday())))?,
        _ => date,
    };
    Some(d.and_time(NaiveTime::MIN))
}

/// Adds `n` date units to a local date-time (months clamp the day like Java's `plusMonths`).
fn add_date_unit(local: &NaiveDateTime, unit: char, n: i64) -> Option<NaiveDateTime> {
    match unit {
        'y' | 'M' => {
            let months = if unit == 'y' { n.checked_mul(12)? } else { n };
            let m = u32::try_from(months.unsigned_abs()).ok()?;
            if months >= 0 {
                local.checked_add_months(Months::new(m))
            } else {
                local.checked_sub_months(Months::new(m))
            }
        }
        'w' => local.checked_add_signed(Duration::try_weeks(n)?),
        _ => local.checked_add_signed(Duration::try_days(n)?),
    }
}
