//! Java `DateTimeFormatter` patterns: compile, parse (with optional sections and adjacent value
//! parsing, like Java), print.

use chrono::{Datelike, NaiveDateTime, Timelike};

use super::{Tz, format_offset_colon};

/// How pattern letters are interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// User patterns: Java `DateTimeFormatter.ofPattern` semantics.
    Java,
    /// ES built-in strict formats: fixed widths (`yyyy` = 4+ digits), `S` = 1-9 fraction digits,
    /// `Z` = offset or zone id, `Y` = ISO week-based year.
    NamedStrict,
    /// ES built-in non-strict formats: like strict, but numbers take 1..n digits.
    NamedLenient,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumField {
    Year,
    YearOfEra,
    WeekYear,
    Month,
    Day,
    DayOfYear,
    Hour,
    ClockHourOfAmPm,
    HourOfAmPm,
    ClockHour24,
    Minute,
    Second,
    Week,
    DayOfWeek,
    NanoOfSecond,
    MilliOfDay,
    Quarter,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextField {
    Month,
    DayOfWeek,
    AmPm,
    Era,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OffsetStyle {
    /// ES built-ins: parse any offset or zone id; print `Z` or `+HH:MM`.
    ZoneOrOffset,
    /// `Z`..`ZZZ`: `+HHMM`, `+0000` for UTC.
    PlusHhmm,
    /// `O` / `ZZZZ` / `OOOO`: `GMT+8` / `GMT+08:00`.
    Gmt { full: bool },
    /// `X`..`XXXXX`: like `x` but `Z` for UTC.
    UpperX(u8),
    /// `x`..`xxxxx`: `+HH`, `+HHMM`, `+HH:MM`, `+HHMMss`, `+HH:MM:ss`.
    LowerX(u8),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ZoneStyle {
    /// `VV`: zone id.
    Id,
    /// `z`/`v`: zone name.
    Name,
}

#[derive(Debug, Clone)]
pub(crate) enum Elem {
    Lit(String),
    Num {
        field: NumField,
        min: u8,
        max: u8,
        /// `yy`: two-digit year based on 2000.
        reduced: bool,
    },
    Frac {
        min: u8,
        max: u8,
        print: u8,
    },
    Offset(OffsetStyle),
    Zone(ZoneStyle),
    Text {
        field: TextField,
        full: bool,
    },
    Opt(Vec<Elem>),
}

const MAX_OPTIONAL_NESTING: usize = 16;

/// Compiles a pattern. Errors carry Java's message (`Unknown pattern letter: b`).
pub(crate) fn compile(pattern: &str, mode: Mode) -> Result<Vec<Elem>, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut stack: Vec<Vec<Elem>> = vec![Vec::new()];
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // Quoted literal; '' is a single quote.
            let mut j = i + 1;
            let mut lit = String::new();
            loop {
                match chars.get(j) {
                    None => {
                        return Err(format!("Pattern ends with an incomplete string literal: {pattern}"));
                    }
                    Some('\'') => {
                        if chars.get(j + 1) == Some(&'\'') {
                            lit.push('\'');
                            j += 2;
                        } else {
                            j += 1;
                            break;
                        }
                    }
                    Some(ch) => {
                        lit.push(*ch);
                        j += 1;
                    }
                }
            }
            if lit.is_empty() {
                lit.push('\'');
            }
            push(&mut stack, Elem::Lit(lit));
            i = j;
            continue;
        }
        if c == '[' {
            if stack.len() > MAX_OPTIONAL_NESTING {
                return Err("Pattern nests optional sections too deeply".to_string());
            }
            stack.push(Vec::new());
            i += 1;
            continue;
        }
        if c == ']' {
            if stack.len() <= 1 {
                return Err("Pattern invalid as it contains ] without previous [".to_string());
            }
            let inner = stack.pop().unwrap_or_default();
            push(&mut stack, Elem::Opt(inner));
            i += 1;
            continue;
        }
        if matches!(c, '#' | '{' | '}') {
            return Err(format!("Pattern includes reserved character: '{c}'"));
        }
        if c.is_ascii_alphabetic() {
            let mut n = 1;
            while chars.get(i + n) == Some(&c) {
                n += 1;
            }
            let elem = letter(c, n, mode)?;
            push(&mut stack, elem);
            i += n;
            continue;
        }
        push(&mut stack, Elem::Lit(c.to_string()));
        i += 1;
    }
    while stack.len() > 1 {
        let inner = stack.pop().unwrap_or_default();
        push(&mut stack, Elem::Opt(inner));
    }
    Ok(stack.pop().unwrap_or_default())
}

fn push(stack: &mut [Vec<Elem>], e: Elem) {
    if let Some(top) = stack.last_mut() {
        // Merge adjacent literals.
        if let (Elem::Lit(new), Some(Elem::Lit(prev))) = (&e, top.last_mut()) {
            prev.push_str(new);
            return;
        }
        top.push(e);
    }
}

fn num(field: NumField, min: usize, max: usize) -> Elem {
    Elem::Num { field, min: min as u8, max: max as u8, reduced: false }
}

fn too_many(c: char) -> String {
    format!("Too many pattern letters: {c}")
}

fn letter(c: char, n: usize, mode: Mode) -> Result<Elem, String> {
    let named = mode != Mode::Java;
    let lenient = mode == Mode::NamedLenient;
    // Built-in formats: fixed or 1..n widths, 4..9 digit years, flexible fractions and zones.
    if named {
        let fixed = |field: NumField| {
            if lenient { num(field, 1, n) } else { num(field, n, n) }
        };
        match c {
            'y' | 'Y' => {
                let field = if c == 'y' { NumField::Year } else { NumField::WeekYear };
                return Ok(if lenient { num(field, 1, 9) } else { num(field, n, 9) });
            }
            'M' | 'd' | 'H' | 'm' | 's' | 'w' | 'D' | 'e' => {
                let field = match c {
                    'M' => NumField::Month,
                    'd' => NumField::Day,
                    'H' => NumField::Hour,
                    'm' => NumField::Minute,
                    's' => NumField::Second,
                    'w' => NumField::Week,
                    'D' => NumField::DayOfYear,
                    _ => NumField::DayOfWeek,
                };
                return Ok(fixed(field));
            }
            'S' => {
                return Ok(Elem::Frac { min: 1, max: 9, print: n as u8 });
            }
            'Z' => return Ok(Elem::Offset(OffsetStyle::ZoneOrOffset)),
            _ => {}
        }
    }
    let elem = match c {
        'G' => {
            if n > 5 {
                return Err(too_many(c));
            }
            Elem::Text { field: TextField::Era, full: n == 4 }
        }
        'u' | 'y' | 'Y' => {
            let field = match c {
                'u' => NumField::Year,
                'y' => NumField::YearOfEra,
                _ => NumField::WeekYear,
            };
            if n == 2 { Elem::Num { field, min: 2, max: 2, reduced: true } } else { num(field, n, 19.max(n)) }
        }
        'Q' | 'q' => match n {
            1 | 2 => num(NumField::Quarter, n, 2),
            _ => return Err(format!("Unsupported pattern letter count: {c}")),
        },
        'M' | 'L' => match n {
            1 => num(NumField::Month, 1, 2),
            2 => num(NumField::Month, 2, 2),
            3 | 5 => Elem::Text { field: TextField::Month, full: false },
            4 => Elem::Text { field: TextField::Month, full: true },
            _ => return Err(too_many(c)),
        },
        'w' => match n {
            1 => num(NumField::Week, 1, 2),
            2 => num(NumField::Week, 2, 2),
            _ => return Err(too_many(c)),
        },
        'D' => match n {
            1 => num(NumField::DayOfYear, 1, 3),
            2 => num(NumField::DayOfYear, 2, 3),
            3 => num(NumField::DayOfYear, 3, 3),
            _ => return Err(too_many(c)),
        },
        'd' | 'H' | 'h' | 'K' | 'k' | 'm' | 's' => {
            let field = match c {
                'd' => NumField::Day,
                'H' => NumField::Hour,
                'h' => NumField::ClockHourOfAmPm,
                'K' => NumField::HourOfAmPm,
                'k' => NumField::ClockHour24,
                'm' => NumField::Minute,
                _ => NumField::Second,
            };
            match n {
                1 => num(field, 1, 2),
                2 => num(field, 2, 2),
                _ => return Err(too_many(c)),
            }
        }
        'E' => match n {
            1..=3 | 5 => Elem::Text { field: TextField::DayOfWeek, full: false },
            4 => Elem::Text { field: TextField::DayOfWeek, full: true },
            _ => return Err(too_many(c)),
        },
        'e' | 'c' => match n {
            1 | 2 => num(NumField::DayOfWeek, n, n),
            3 | 5 => Elem::Text { field: TextField::DayOfWeek, full: false },
            4 => Elem::Text { field: TextField::DayOfWeek, full: true },
            _ => return Err(too_many(c)),
        },
        'a' => {
            if n > 1 {
                return Err(too_many(c));
            }
            Elem::Text { field: TextField::AmPm, full: false }
        }
        'S' => Elem::Frac { min: n as u8, max: n as u8, print: n as u8 },
        'n' => num(NumField::NanoOfSecond, n, 19.max(n)),
        'A' => num(NumField::MilliOfDay, n, 19.max(n)),
        'V' => {
            if n != 2 {
                return Err("Pattern letter count must be 2: V".to_string());
            }
            Elem::Zone(ZoneStyle::Id)
        }
        'v' | 'z' => {
            if n > 4 {
                return Err(too_many(c));
            }
            Elem::Zone(ZoneStyle::Name)
        }
        'O' => match n {
            1 => Elem::Offset(OffsetStyle::Gmt { full: false }),
            4 => Elem::Offset(OffsetStyle::Gmt { full: true }),
            _ => return Err("Pattern letter count must be 1 or 4: O".to_string()),
        },
        'X' => {
            if n > 5 {
                return Err(too_many(c));
            }
            Elem::Offset(OffsetStyle::UpperX(n as u8))
        }
        'x' => {
            if n > 5 {
                return Err(too_many(c));
            }
            Elem::Offset(OffsetStyle::LowerX(n as u8))
        }
        'Z' => match n {
            1..=3 => Elem::Offset(OffsetStyle::PlusHhmm),
            4 => Elem::Offset(OffsetStyle::Gmt { full: true }),
            5 => Elem::Offset(OffsetStyle::UpperX(5)),
            _ => return Err(too_many(c)),
        },
        _ => return Err(format!("Unknown pattern letter: {c}")),
    };
    Ok(elem)
}

/// Fields read from a date string.
#[derive(Debug, Clone, Default)]
pub(crate) struct Parsed {
    pub year: Option<i64>,
    pub year_of_era: Option<i64>,
    pub era: Option<i64>,
    pub week_year: Option<i64>,
    pub month: Option<i64>,
    pub day: Option<i64>,
    pub day_of_year: Option<i64>,
    pub hour: Option<i64>,
    pub clock_hour_of_ampm: Option<i64>,
    pub hour_of_ampm: Option<i64>,
    pub clock_hour_24: Option<i64>,
    pub ampm: Option<i64>,
    pub minute: Option<i64>,
    pub second: Option<i64>,
    pub nanos: Option<i64>,
    pub milli_of_day: Option<i64>,
    pub week: Option<i64>,
    pub day_of_week: Option<i64>,
    pub offset: Option<i32>,
    pub zone: Option<Tz>,
}

/// Parses the whole input; `Err(index)` is where parsing failed.
pub(crate) fn parse(elems: &[Elem], input: &str) -> Result<Parsed, usize> {
    let mut p = Parsed::default();
    let end = parse_seq(elems, input.as_bytes(), 0, &mut p)?;
    if end != input.len() {
        return Err(end);
    }
    Ok(p)
}

fn digits_at(s: &[u8], pos: usize) -> usize {
    s[pos.min(s.len())..].iter().take_while(|b| b.is_ascii_digit()).count()
}

fn parse_seq(elems: &[Elem], s: &[u8], mut pos: usize, p: &mut Parsed) -> Result<usize, usize> {
    for (i, e) in elems.iter().enumerate() {
        match e {
            Elem::Lit(lit) => {
                let b = lit.as_bytes();
                if s.len() >= pos + b.len() && &s[pos..pos + b.len()] == b {
                    pos += b.len();
                } else {
                    return Err(pos);
                }
            }
            Elem::Opt(inner) => {
                let mut trial = p.clone();
                if let Ok(np) = parse_seq(inner, s, pos, &mut trial) {
                    *p = trial;
                    pos = np;
                }
            }
            Elem::Num { field, min, max, reduced } => {
                let (min, max) = (*min as usize, *max as usize);
                // Java adjacent value parsing: reserve the widths of following fixed-width numbers.
                let mut reserved = 0;
                if max > min {
                    for next in &elems[i + 1..] {
                        match next {
                            Elem::Num { min: a, max: b, .. } if a == b => reserved += *a as usize,
                            _ => break,
                        }
                    }
                }
                let mut sign = 1i64;
                let mut start = pos;
                if matches!(field, NumField::Year | NumField::WeekYear)
                    && !*reduced
                    && matches!(s.get(pos), Some(b'-' | b'+'))
                {
                    if s.get(pos) == Some(&b'-') {
                        sign = -1;
                    }
                    start += 1;
                }
                let avail = digits_at(s, start);
                let take = if avail >= reserved + min { (avail - reserved).min(max) } else { avail.min(max) };
                if take < min || take == 0 {
                    return Err(start);
                }
                let text = std::str::from_utf8(&s[start..start + take]).map_err(|_| start)?;
                let mut v: i64 = text.parse().map_err(|_| start)?;
                v *= sign;
                if *reduced {
                    v += 2000;
                }
                set_num(p, *field, v);
                pos = start + take;
            }
            Elem::Frac { min, max, .. } => {
                let avail = digits_at(s, pos);
                let take = avail.min(*max as usize);
                if take < (*min as usize) || take == 0 {
                    return Err(pos);
                }
                let text = std::str::from_utf8(&s[pos..pos + take]).map_err(|_| pos)?;
                let v: i64 = text.parse().map_err(|_| pos)?;
                p.nanos = Some(v * 10i64.pow(9 - take as u32));
                pos += take;
            }
            Elem::Offset(style) => {
                let (np, off) = parse_offset(s, pos, *style).ok_or(pos)?;
                if let Some(off) = off {
                    p.offset = Some(off.0);
                    if let Some(z) = off.1 {
                        p.zone = Some(z);
                        p.offset = None;
                    }
                }
                pos = np;
            }
            Elem::Zone(_) => {
                let (np, tz) = parse_zone(s, pos).ok_or(pos)?;
                match tz {
                    Tz::Fixed(o) => p.offset = Some(o),
                    named => p.zone = Some(named),
                }
                pos = np;
            }
            Elem::Text { field, .. } => {
                let (np, v) = parse_text(s, pos, *field).ok_or(pos)?;
                match field {
                    TextField::Month => p.month = Some(v),
                    TextField::DayOfWeek => p.day_of_week = Some(v),
                    TextField::AmPm => p.ampm = Some(v),
                    TextField::Era => p.era = Some(v),
                }
                pos = np;
            }
        }
    }
    Ok(pos)
}

fn set_num(p: &mut Parsed, field: NumField, v: i64) {
    let slot = match field {
        NumField::Year => &mut p.year,
        NumField::YearOfEra => &mut p.year_of_era,
        NumField::WeekYear => &mut p.week_year,
        NumField::Month => &mut p.month,
        NumField::Day => &mut p.day,
        NumField::DayOfYear => &mut p.day_of_year,
        NumField::Hour => &mut p.hour,
        NumField::ClockHourOfAmPm => &mut p.clock_hour_of_ampm,
        NumField::HourOfAmPm => &mut p.hour_of_ampm,
        NumField::ClockHour24 => &mut p.clock_hour_24,
        NumField::Minute => &mut p.minute,
        NumField::Second => &mut p.second,
        NumField::Week => &mut p.week,
        NumField::DayOfWeek => &mut p.day_of_week,
        NumField::NanoOfSecond => &mut p.nanos,
        NumField::MilliOfDay => &mut p.milli_of_day,
        NumField::Quarter => return,
    };
    *slot = Some(v);
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

fn starts_with_ci(s: &[u8], pos: usize, word: &str) -> bool {
    let w = word.as_bytes();
    s.len() >= pos + w.len() && s[pos..pos + w.len()].eq_ignore_ascii_case(w)
}

fn parse_text(s: &[u8], pos: usize, field: TextField) -> Option<(usize, i64)> {
    let names: Vec<(String, i64)> = match field {
        TextField::Month => MONTHS
            .iter()
            .enumerate()
            .flat_map(|(i, m)| [(m.to_string(), i as i64 + 1), (m[..3].to_string(), i as i64 + 1)])
            .collect(),
        TextField::DayOfWeek => DAYS
            .iter()
            .enumerate()
            .flat_map(|(i, d)| [(d.to_string(), i as i64 + 1), (d[..3].to_string(), i as i64 + 1)])
            .collect(),
        TextField::AmPm => vec![("AM".into(), 0), ("PM".into(), 1)],
        TextField::Era => {
            vec![("Anno Domini".into(), 1), ("Before Christ".into(), 0), ("AD".into(), 1), ("BC".into(), 0)]
        }
    };
    names.iter().find(|(n, _)| starts_with_ci(s, pos, n)).map(|(n, v)| (pos + n.len(), *v))
}

/// Parses an offset. Returns the new position and `Some((offset, zone))` (`zone` set when a region
/// id was read), or `None` on failure. Lenient: every style accepts `Z`, `+HH`, `+HHMM`, `+HH:MM`
/// (and seconds); ES built-ins also accept zone ids.
#[allow(clippy::type_complexity)]
fn parse_offset(s: &[u8], pos: usize, style: OffsetStyle) -> Option<(usize, Option<(i32, Option<Tz>)>)> {
    let mut pos = pos;
    if let OffsetStyle::Gmt { .. } = style {
        if starts_with_ci(s, pos, "GMT") {
            pos += 3;
            if !matches!(s.get(pos), Some(b'+' | b'-')) {
                return Some((pos, Some((0, None))));
            }
        } else {
            return None;
        }
    }
    match s.get(pos) {
        Some(b'Z') => return Some((pos + 1, Some((0, None)))),
        Some(b'+' | b'-') => {}
        _ => {
            if style == OffsetStyle::ZoneOrOffset {
                let (np, tz) = parse_zone(s, pos)?;
                return Some(match tz {
                    Tz::Fixed(o) => (np, Some((o, None))),
                    named => (np, Some((0, Some(named)))),
                });
            }
            return None;
        }
    }
    let sign = if s[pos] == b'-' { -1 } else { 1 };
    let mut p = pos + 1;
    let hd = digits_at(s, p);
    let hours_len = if hd >= 2 {
        2
    } else if hd == 1 {
        1
    } else {
        return None;
    };
    let h: i32 = std::str::from_utf8(&s[p..p + hours_len]).ok()?.parse().ok()?;
    p += hours_len;
    let mut m = 0;
    let mut sec = 0;
    let take_pair = |p: &mut usize| -> Option<i32> {
        if s.get(*p) == Some(&b':') && digits_at(s, *p + 1) >= 2 {
            let v = std::str::from_utf8(&s[*p + 1..*p + 3]).ok()?.parse().ok()?;
            *p += 3;
            Some(v)
        } else if s.get(*p) != Some(&b':') && digits_at(s, *p) >= 2 && hours_len == 2 {
            let v = std::str::from_utf8(&s[*p..*p + 2]).ok()?.parse().ok()?;
            *p += 2;
            Some(v)
        } else {
            None
        }
    };
    if let Some(v) = take_pair(&mut p) {
        m = v;
        if let Some(v2) = take_pair(&mut p) {
            sec = v2;
        }
    }
    if h > 18 || m > 59 || sec > 59 {
        return None;
    }
    Some((p, Some((sign * (h * 3600 + m * 60 + sec), None))))
}

/// Parses a zone id or offset at `pos` (longest id that is valid).
fn parse_zone(s: &[u8], pos: usize) -> Option<(usize, Tz)> {
    if matches!(s.get(pos), Some(b'+' | b'-' | b'Z'))
        && let Some((np, Some((off, z)))) = parse_offset(s, pos, OffsetStyle::LowerX(5))
    {
        return Some((np, z.unwrap_or(Tz::Fixed(off))));
    }
    let len = s[pos.min(s.len())..]
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'~' | b'.' | b'+' | b'-' | b':'))
        .count()
        .min(64);
    for l in (1..=len).rev() {
        let Ok(cand) = std::str::from_utf8(&s[pos..pos + l]) else {
            continue;
        };
        if let Ok(tz) = Tz::parse(cand) {
            return Some((pos + l, tz));
        }
    }
    None
}

/// Prints a local date-time (with its UTC offset in seconds and zone) with a pattern.
pub(crate) fn print(elems: &[Elem], local: &NaiveDateTime, offset: i32, tz: &Tz, epoch_secs: i64) -> String {
    let mut out = String::new();
    // Optional sections print like mandatory ones (all fields are available): flatten iteratively.
    let mut stack: Vec<std::slice::Iter<'_, Elem>> = vec![elems.iter()];
    while let Some(top) = stack.last_mut() {
        let Some(e) = top.next() else {
            stack.pop();
            continue;
        };
        match e {
            Elem::Opt(inner) => stack.push(inner.iter()),
            Elem::Lit(l) => out.push_str(l),
            Elem::Num { field, min, reduced, .. } => {
                let v: i64 = match field {
                    NumField::Year => i64::from(local.year()),
                    NumField::YearOfEra => {
                        let y = i64::from(local.year());
                        if y <= 0 { 1 - y } else { y }
                    }
                    NumField::WeekYear => i64::from(local.iso_week().year()),
                    NumField::Month => i64::from(local.month()),
                    NumField::Day => i64::from(local.day()),
                    NumField::DayOfYear => i64::from(local.ordinal()),
                    NumField::Hour => i64::from(local.hour()),
                    NumField::ClockHourOfAmPm => {
                        let h = local.hour() % 12;
                        i64::from(if h == 0 { 12 } else { h })
                    }
                    NumField::HourOfAmPm => i64::from(local.hour() % 12),
                    NumField::ClockHour24 => {
                        let h = local.hour();
                        i64::from(if h == 0 { 24 } else { h })
                    }
                    NumField::Minute => i64::from(local.minute()),
                    NumField::Second => i64::from(local.second()),
                    NumField::Week => i64::from(local.iso_week().week()),
                    NumField::DayOfWeek => i64::from(local.weekday().number_from_monday()),
                    NumField::NanoOfSecond => i64::from(local.nanosecond()),
                    NumField::MilliOfDay => {
                        i64::from(local.num_seconds_from_midnight()) * 1000 + i64::from(local.nanosecond() / 1_000_000)
                    }
                    NumField::Quarter => i64::from((local.month() - 1) / 3 + 1),
                };
                if *reduced {
                    out.push_str(&format!("{:02}", v.rem_euclid(100)));
                } else {
                    let width = *min as usize;
                    let digits = format!("{:0width$}", v.unsigned_abs());
                    if v < 0 {
                        out.push('-');
                    } else if width >= 4
                        && digits.len() > width
                        && matches!(field, NumField::Year | NumField::YearOfEra | NumField::WeekYear)
                    {
                        out.push('+');
                    }
                    out.push_str(&digits);
                }
            }
            Elem::Frac { print, .. } => {
                let nanos = format!("{:09}", local.nanosecond().min(999_999_999));
                let n = (*print as usize).clamp(1, 9);
                out.push_str(&nanos[..n]);
            }
            Elem::Offset(style) => out.push_str(&print_offset(offset, *style)),
            Elem::Zone(ZoneStyle::Id) => out.push_str(&tz.id()),
            Elem::Zone(ZoneStyle::Name) => out.push_str(&tz.short_name(epoch_secs)),
            Elem::Text { field, full } => {
                let s: String = match field {
                    TextField::Month => {
                        let m = MONTHS[(local.month0() as usize).min(11)];
                        if *full { m.to_string() } else { m[..3].to_string() }
                    }
                    TextField::DayOfWeek => {
                        let d = DAYS[(local.weekday().num_days_from_monday() as usize).min(6)];
                        if *full { d.to_string() } else { d[..3].to_string() }
                    }
                    TextField::AmPm => if local.hour() < 12 { "AM" } else { "PM" }.to_string(),
                    TextField::Era => {
                        let ad = local.year() > 0;
                        match (ad, *full) {
                            (true, false) => "AD",
                            (false, false) => "BC",
                            (true, true) => "Anno Domini",
                            (false, true) => "Before Christ",
                        }
                        .to_string()
                    }
                };
                out.push_str(&s);
            }
        }
    }
    out
}

fn print_offset(secs: i32, style: OffsetStyle) -> String {
    let sign = if secs < 0 { '-' } else { '+' };
    let a = secs.unsigned_abs();
    let (h, m, s) = (a / 3600, (a / 60) % 60, a % 60);
    match style {
        OffsetStyle::ZoneOrOffset => {
            if secs == 0 {
                "Z".to_string()
            } else {
                format_offset_colon(secs)
            }
        }
        OffsetStyle::PlusHhmm => format!("{sign}{h:02}{m:02}"),
        OffsetStyle::Gmt { full } => {
            if secs == 0 {
                "GMT".to_string()
            } else if full {
                format!("GMT{}", format_offset_colon(secs))
            } else if m == 0 && s == 0 {
                format!("GMT{sign}{h}")
            } else {
                format!("GMT{sign}{h}:{m:02}")
            }
        }
        OffsetStyle::UpperX(n) | OffsetStyle::LowerX(n) => {
            if secs == 0 && matches!(style, OffsetStyle::UpperX(_)) {
                return "Z".to_string();
            }
            match n {
                1 => {
                    if m == 0 {
                        format!("{sign}{h:02}")
                    } else {
                        format!("{sign}{h:02}{m:02}")
                    }
                }
                2 => format!("{sign}{h:02}{m:02}"),
                3 => format!("{sign}{h:02}:{m:02}"),
                4 => {
                    if s == 0 {
                        format!("{sign}{h:02}{m:02}")
                    } else {
                        format!("{sign}{h:02}{m:02}{s:02}")
                    }
                }
                _ => {
                    if s == 0 {
                        format!("{sign}{h:02}:{m:02}")
                    } else {
                        format!("{sign}{h:02}:{m:02}:{s:02}")
                    }
                }
            }
        }
    }
}
