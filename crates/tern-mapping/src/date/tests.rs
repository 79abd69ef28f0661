use super::*;

fn f(spec: &str) -> DateFormat {
    DateFormat::parse(spec).unwrap_or_else(|e| panic!("{spec}: {e}"))
}

fn ms(spec: &str, s: &str) -> i64 {
    f(spec).parse_millis(s, None).unwrap_or_else(|e| panic!("{spec} / {s}: {e}"))
}

/// Epoch millis of a UTC date-time.
fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, milli: u32) -> i64 {
    chrono::NaiveDate::from_ymd_opt(y, mo, d)
        .and_then(|d| d.and_hms_milli_opt(h, mi, s, milli))
        .map(|dt| dt.and_utc().timestamp_millis())
        .unwrap_or_else(|| panic!("bad test date"))
}

#[test]
fn strict_date_optional_time_variants() {
    let spec = "strict_date_optional_time";
    assert_eq!(ms(spec, "2015"), utc(2015, 1, 1, 0, 0, 0, 0));
    assert_eq!(ms(spec, "2015-02"), utc(2015, 2, 1, 0, 0, 0, 0));
    assert_eq!(ms(spec, "2015-02-03"), utc(2015, 2, 3, 0, 0, 0, 0));
    assert_eq!(ms(spec, "2015-02-03T04"), utc(2015, 2, 3, 4, 0, 0, 0));
    assert_eq!(ms(spec, "2015-02-03T04:05"), utc(2015, 2, 3, 4, 5, 0, 0));
    assert_eq!(ms(spec, "2015-02-03T04:05:06"), utc(2015, 2, 3, 4, 5, 6, 0));
    assert_eq!(ms(spec, "2015-02-03T04:05:06.7"), utc(2015, 2, 3, 4, 5, 6, 700));
    assert_eq!(ms(spec, "2015-02-03T04:05:06.789Z"), utc(2015, 2, 3, 4, 5, 6, 789));
    assert_eq!(ms(spec, "2015-02-03T04:05:06.123456789Z"), utc(2015, 2, 3, 4, 5, 6, 123));
    assert_eq!(ms(spec, "2015-02-03T04:05:06+01:00"), utc(2015, 2, 3, 3, 5, 6, 0));
    assert_eq!(ms(spec, "2015-02-03T04:05:06-0130"), utc(2015, 2, 3, 5, 35, 6, 0));
    assert_eq!(ms(spec, "2015-02-03T04:05Z"), utc(2015, 2, 3, 4, 5, 0, 0));
    for bad in ["2015-2-3", "15-02-03", "2015-02-30", "2015-13-01", "2015-02-03 04:05", "x", "", "2015-02-03T25:00"] {
        assert!(f(spec).parse_millis(bad, None).is_err(), "{bad}");
    }
    // The lenient variant takes one-digit fields.
    assert_eq!(ms("date_optional_time", "2015-2-3T4:5"), utc(2015, 2, 3, 4, 5, 0, 0));
}

#[test]
fn default_format_and_printing() {
    let d = DateFormat::default_date();
    assert_eq!(d.spec(), "strict_date_optional_time||epoch_millis");
    assert_eq!(d.parse_millis("2015-01-01", None), Ok(1_420_070_400_000));
    assert_eq!(d.parse_millis("1420070400001", None), Ok(1_420_070_400_001));
    assert_eq!(d.format_millis(1_420_070_400_000), "2015-01-01T00:00:00.000Z");
    assert_eq!(d.format_millis(-1), "1969-12-31T23:59:59.999Z");
    assert_eq!(
        d.format_millis_tz(1_420_070_400_000, &Tz::parse("+01:00").unwrap_or(Tz::UTC)),
        "2015-01-01T01:00:00.000+01:00"
    );
    assert_eq!(f("epoch_millis").format_millis(1234), "1234");
    assert_eq!(f("epoch_second").format_millis(1500), "1.5");
    assert_eq!(f("epoch_second").format_millis(3000), "3");
    assert_eq!(f("strict_date").format_millis(1_420_070_400_000), "2015-01-01");
    assert_eq!(f("basic_date").format_millis(1_420_070_400_000), "20150101");
    assert_eq!(f("yyyy/MM/dd HH:mm:ss").format_millis(1_420_070_400_000), "2015/01/01 00:00:00");
    assert_eq!(f("strict_date_time").format_millis(1_420_070_400_000), "2015-01-01T00:00:00.000Z");
    assert_eq!(f("strict_date_time_no_millis").format_millis(1_420_070_400_000), "2015-01-01T00:00:00Z");
    assert_eq!(f("strict_date_hour_minute_second").format_millis(1_420_070_400_000), "2015-01-01T00:00:00");
    assert_eq!(f("year_month_day").format_millis(1_420_070_400_000), "2015-01-01");
    assert_eq!(f("yyyy-MM-dd'T'HH:mm:ss.SSSXXX").format_millis(1_420_070_400_000), "2015-01-01T00:00:00.000Z");
    assert_eq!(f("yyyy-MM-dd'T'HH:mm:ssZ").format_millis(1_420_070_400_000), "2015-01-01T00:00:00+0000");
    assert_eq!(f("EEE, dd MMM yyyy").format_millis(1_420_070_400_000), "Thu, 01 Jan 2015");
    assert_eq!(f("strict_week_date").format_millis(1_420_070_400_000), "2015-W01-4");
    assert_eq!(f("strict_ordinal_date").format_millis(utc(2015, 2, 1, 0, 0, 0, 0)), "2015-032");
    assert_eq!(f("hh:mm a").format_millis(utc(2015, 2, 1, 13, 5, 0, 0)), "01:05 PM");
}

#[test]
fn epoch_formats() {
    assert_eq!(ms("epoch_millis", "0"), 0);
    assert_eq!(ms("epoch_millis", "-1"), -1);
    assert_eq!(ms("epoch_millis", "1.5"), 1);
    assert_eq!(ms("epoch_millis", "-1.5"), -2);
    assert_eq!(ms("epoch_second", "1420070400"), 1_420_070_400_000);
    assert_eq!(ms("epoch_second", "1420070400.123"), 1_420_070_400_123);
    for bad in ["", "abc", "1e3", "+5", "1.", "99999999999999999999999"] {
        assert!(f("epoch_millis").parse_millis(bad, None).is_err(), "{bad}");
    }
    // Far outside the representable range: an error, never an overflow.
    let huge = format!("1{}", "0".repeat(37));
    assert!(f("epoch_second").parse_millis(&huge, None).is_err());
    assert!(f("epoch_millis").parse_millis("9223372036854775807", None).is_err());
}

#[test]
fn named_formats() {
    assert_eq!(ms("basic_date", "20150203"), utc(2015, 2, 3, 0, 0, 0, 0));
    assert_eq!(ms("basic_date_time", "20150203T040506.789Z"), utc(2015, 2, 3, 4, 5, 6, 789));
    assert_eq!(ms("basic_date_time_no_millis", "20150203T040506+0100"), utc(2015, 2, 3, 3, 5, 6, 0));
    assert_eq!(ms("basic_ordinal_date", "2015034"), utc(2015, 2, 3, 0, 0, 0, 0));
    assert_eq!(ms("strict_date", "2015-02-03"), utc(2015, 2, 3, 0, 0, 0, 0));
    assert_eq!(ms("date", "2015-2-3"), utc(2015, 2, 3, 0, 0, 0, 0));
    assert_eq!(ms("strict_date_time", "2015-02-03T04:05:06.789+02:00"), utc(2015, 2, 3, 2, 5, 6, 789));
    assert_eq!(ms("date_time", "2015-02-03T04:05:06.7Z"), utc(2015, 2, 3, 4, 5, 6, 700));
    assert_eq!(ms("strict_date_hour_minute_second", "2015-02-03T04:05:06"), utc(2015, 2, 3, 4, 5, 6, 0));
    assert_eq!(ms("strict_date_hour_minute", "2015-02-03T04:05"), utc(2015, 2, 3, 4, 5, 0, 0));
    assert_eq!(ms("strict_hour_minute", "04:05"), utc(1970, 1, 1, 4, 5, 0, 0));
    assert_eq!(ms("strict_time", "04:05:06.789Z"), utc(1970, 1, 1, 4, 5, 6, 789));
    assert_eq!(ms("strict_year_month", "2015-02"), utc(2015, 2, 1, 0, 0, 0, 0));
    assert_eq!(ms("strict_year", "2015"), utc(2015, 1, 1, 0, 0, 0, 0));
    assert_eq!(ms("year_month_day", "2015-02-03"), utc(2015, 2, 3, 0, 0, 0, 0));
    assert_eq!(ms("strict_week_date", "2015-W01-4"), utc(2015, 1, 1, 0, 0, 0, 0));
    assert_eq!(ms("strict_weekyear_week", "2015-W02"), utc(2015, 1, 5, 0, 0, 0, 0));
    assert_eq!(ms("strict_ordinal_date", "2015-032"), utc(2015, 2, 1, 0, 0, 0, 0));
    assert_eq!(ms("strict_date_optional_time_nanos", "2015-02-03T04:05:06.123456789Z"), utc(2015, 2, 3, 4, 5, 6, 123));
    assert!(f("strict_date").parse_millis("2015-2-3", None).is_err());
    assert!(f("strict_basic_week_date").parse_millis("2015W014", None).is_ok());
    // Every built-in compiles and round-trips a fixed instant through its printer.
    let t = utc(2015, 2, 3, 4, 5, 6, 789);
    for name in named::names() {
        let fmt = f(&name);
        let printed = fmt.format_millis(t);
        assert!(fmt.parse_millis(&printed, None).is_ok(), "{name}: {printed}");
    }
}

#[test]
fn java_patterns() {
    assert_eq!(ms("yyyy/MM/dd HH:mm:ss", "2015/02/03 04:05:06"), utc(2015, 2, 3, 4, 5, 6, 0));
    assert_eq!(ms("yyyy/MM/dd HH:mm:ss Z", "2015/02/03 04:05:06 +0100"), utc(2015, 2, 3, 3, 5, 6, 0));
    assert_eq!(ms("dd.MM.yyyy", "03.02.2015"), utc(2015, 2, 3, 0, 0, 0, 0));
    assert_eq!(ms("yyyyMMdd", "20150203"), utc(2015, 2, 3, 0, 0, 0, 0));
    assert_eq!(ms("yyyyMMddHHmmss", "20150203040506"), utc(2015, 2, 3, 4, 5, 6, 0));
    assert_eq!(ms("uuuu-MM-dd", "2015-02-03"), utc(2015, 2, 3, 0, 0, 0, 0));
    assert_eq!(ms("yy-MM-dd", "15-02-03"), utc(2015, 2, 3, 0, 0, 0, 0));
    assert_eq!(ms("MMM d, yyyy", "Feb 3, 2015"), utc(2015, 2, 3, 0, 0, 0, 0));
    assert_eq!(ms("MMMM d yyyy", "February 3 2015"), utc(2015, 2, 3, 0, 0, 0, 0));
    assert_eq!(ms("yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "2015-02-03T04:05:06.789+01:00"), utc(2015, 2, 3, 3, 5, 6, 789));
    assert_eq!(ms("yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "2015-02-03T04:05:06.789Z"), utc(2015, 2, 3, 4, 5, 6, 789));
    assert_eq!(ms("yyyy-MM-dd[ HH:mm]", "2015-02-03"), utc(2015, 2, 3, 0, 0, 0, 0));
    assert_eq!(ms("yyyy-MM-dd[ HH:mm]", "2015-02-03 04:05"), utc(2015, 2, 3, 4, 5, 0, 0));
    assert_eq!(ms("hh:mm a yyyy-MM-dd", "01:05 PM 2015-02-03"), utc(2015, 2, 3, 13, 5, 0, 0));
    assert_eq!(ms("yyyy-MM-dd HH:mm VV", "2015-07-01 12:00 Europe/Paris"), utc(2015, 7, 1, 10, 0, 0, 0));
    assert_eq!(ms("yyyy-MM-dd'T'HH:mm:ss.SSS", "2015-02-03T04:05:06.789"), utc(2015, 2, 3, 4, 5, 6, 789));
    // SSS is exactly three digits in a Java pattern.
    assert!(f("yyyy-MM-dd'T'HH:mm:ss.SSS").parse_millis("2015-02-03T04:05:06.78", None).is_err());
    assert!(f("yyyy/MM/dd").parse_millis("2015-02-03", None).is_err());
}

#[test]
fn alternatives() {
    let fmt = f("yyyy/MM/dd||epoch_millis||strict_date");
    assert_eq!(fmt.parse_millis("2015/02/03", None), Ok(utc(2015, 2, 3, 0, 0, 0, 0)));
    assert_eq!(fmt.parse_millis("1000", None), Ok(1000));
    assert_eq!(fmt.parse_millis("2015-02-03", None), Ok(utc(2015, 2, 3, 0, 0, 0, 0)));
    assert_eq!(fmt.format_millis(utc(2015, 2, 3, 0, 0, 0, 0)), "2015/02/03");
    let err = fmt.parse_millis("nope", None).err();
    assert_eq!(
        err.as_ref().map(|e| e.to_string()),
        Some("failed to parse date field [nope] with format [yyyy/MM/dd||epoch_millis||strict_date]".into())
    );
    let es: tern_common::EsError = err.unwrap_or(DateError::EmptyFormat).into();
    assert_eq!(es.es_type(), "illegal_argument_exception");
    assert_eq!(es.caused_by.as_ref().map(|c| c.es_type()), Some("date_time_parse_exception"));
}

#[test]
fn invalid_formats() {
    let e = |s: &str| DateFormat::parse(s).err().map(|e| e.to_string());
    assert_eq!(e("yyyy-MM-dd bogus"), Some("Invalid format: [yyyy-MM-dd bogus]: Unknown pattern letter: b".into()));
    assert_eq!(e("ddd"), Some("Invalid format: [ddd]: Too many pattern letters: d".into()));
    assert_eq!(
        e("yyyy'T"),
        Some("Invalid format: [yyyy'T]: Pattern ends with an incomplete string literal: yyyy'T".into())
    );
    assert_eq!(e("yyyy]"), Some("Invalid format: [yyyy]]: Pattern invalid as it contains ] without previous [".into()));
    assert_eq!(e(""), Some("No date pattern provided".into()));
    assert!(DateFormat::parse("strict_date_optional_time||").is_err());
    assert!(DateFormat::parse("#").is_err());
}

#[test]
fn time_zones() {
    let tz = |s: &str| Tz::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
    assert_eq!(tz("Z"), Tz::UTC);
    assert_eq!(tz("UTC"), Tz::UTC);
    assert_eq!(tz("+01:00"), Tz::Fixed(3600));
    assert_eq!(tz("-05:00"), Tz::Fixed(-5 * 3600));
    assert_eq!(tz("+0530"), Tz::Fixed(5 * 3600 + 1800));
    assert_eq!(tz("-03"), Tz::Fixed(-3 * 3600));
    assert_eq!(tz("UTC+01:00"), Tz::Fixed(3600));
    assert_eq!(tz("GMT-2"), Tz::Fixed(-7200));
    assert_eq!(tz("Europe/Paris").id(), "Europe/Paris");
    assert_eq!(
        Tz::parse("Mars/Olympus").err().map(|e| e.to_string()),
        Some("Unknown time-zone ID: Mars/Olympus".into())
    );
    assert!(Tz::parse("+25:00").is_err());
    assert!(Tz::parse("").is_err());
    // Local times in a zone.
    let paris = tz("Europe/Paris");
    assert_eq!(
        f("strict_date_optional_time").parse_millis("2020-07-01T12:00:00", Some(&paris)),
        Ok(utc(2020, 7, 1, 10, 0, 0, 0))
    );
    assert_eq!(
        f("strict_date_optional_time").parse_millis("2020-01-01T12:00:00", Some(&paris)),
        Ok(utc(2020, 1, 1, 11, 0, 0, 0))
    );
    // An explicit offset wins over the zone argument.
    assert_eq!(
        f("strict_date_optional_time").parse_millis("2020-01-01T12:00:00Z", Some(&paris)),
        Ok(utc(2020, 1, 1, 12, 0, 0, 0))
    );
    // DST gap (02:30 does not exist on 2020-03-29 in Paris): shifted by the gap like Java.
    assert_eq!(
        f("strict_date_optional_time").parse_millis("2020-03-29T02:30:00", Some(&paris)),
        Ok(utc(2020, 3, 29, 1, 30, 0, 0))
    );
    // DST overlap (02:30 happens twice on 2020-10-25): the earlier instant.
    assert_eq!(
        f("strict_date_optional_time").parse_millis("2020-10-25T02:30:00", Some(&paris)),
        Ok(utc(2020, 10, 25, 0, 30, 0, 0))
    );
    assert_eq!(paris.offset_at(utc(2020, 7, 1, 0, 0, 0, 0) / 1000), 7200);
}

#[test]
fn round_up_defaults() {
    let d = DateFormat::default_date();
    assert_eq!(d.parse_millis_round_up("2014-11-18", None), Ok(utc(2014, 11, 18, 23, 59, 59, 999)));
    assert_eq!(d.parse_millis_round_up("2014-11-18T10", None), Ok(utc(2014, 11, 18, 10, 59, 59, 999)));
    // ES fills month and day with 01, not with the end of the period.
    assert_eq!(d.parse_millis_round_up("2020", None), Ok(utc(2020, 1, 1, 23, 59, 59, 999)));
    assert_eq!(d.parse_millis_round_up("2014-11-18T10:11:12.123Z", None), Ok(utc(2014, 11, 18, 10, 11, 12, 123)));
    // Like ES, a four-digit number is a year for strict_date_optional_time, before epoch_millis.
    assert_eq!(d.parse_millis_round_up("1000", None), Ok(utc(1000, 1, 1, 23, 59, 59, 999)));
    assert_eq!(d.parse_millis_round_up("1420070400001", None), Ok(1_420_070_400_001));
}

const NOW: i64 = 1_416_320_820_000; // 2014-11-18T14:27:00Z

fn dm(expr: &str, round_up: bool) -> i64 {
    parse_date_math(expr, NOW, round_up, &DateFormat::default_date(), None).unwrap_or_else(|e| panic!("{expr}: {e}"))
}

fn dm_err(expr: &str) -> String {
    match parse_date_math(expr, NOW, false, &DateFormat::default_date(), None) {
        Ok(v) => panic!("{expr}: expected an error, got {v}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn date_math_es_examples() {
    assert_eq!(NOW, utc(2014, 11, 18, 14, 27, 0, 0));
    assert_eq!(dm("now", false), NOW);
    assert_eq!(dm("now+1h", false), utc(2014, 11, 18, 15, 27, 0, 0));
    assert_eq!(dm("now-1h", false), utc(2014, 11, 18, 13, 27, 0, 0));
    assert_eq!(dm("now-1h/d", false), utc(2014, 11, 18, 0, 0, 0, 0));
    assert_eq!(dm("now-1d/d", false), utc(2014, 11, 17, 0, 0, 0, 0));
    assert_eq!(dm("now/d", true), utc(2014, 11, 18, 23, 59, 59, 999));
    assert_eq!(dm("now+1M", false), utc(2014, 12, 18, 14, 27, 0, 0));
    assert_eq!(dm("now-1y", false), utc(2013, 11, 18, 14, 27, 0, 0));
    assert_eq!(dm("now/w", false), utc(2014, 11, 17, 0, 0, 0, 0));
    assert_eq!(dm("now/w", true), utc(2014, 11, 23, 23, 59, 59, 999));
    assert_eq!(dm("now/H", false), utc(2014, 11, 18, 14, 0, 0, 0));
    assert_eq!(dm("now/m", true), utc(2014, 11, 18, 14, 27, 59, 999));
    assert_eq!(dm("now-2d+3h-10m", false), utc(2014, 11, 16, 17, 17, 0, 0));
    // The range-query rounding table of the ES docs, for 2014-11-18||/M.
    assert_eq!(dm("2014-11-18||/M", true), utc(2014, 11, 30, 23, 59, 59, 999)); // gt, lte
    assert_eq!(dm("2014-11-18||/M", false), utc(2014, 11, 1, 0, 0, 0, 0)); // gte, lt
    assert_eq!(dm("2014-11-18||/y", true), utc(2014, 12, 31, 23, 59, 59, 999));
    // The docs example `2001.02.01||+1M/d` with format `yyyy.MM.dd`.
    let f = DateFormat::parse("yyyy.MM.dd").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(parse_date_math("2001.02.01||+1M/d", NOW, false, &f, None), Ok(utc(2001, 3, 1, 0, 0, 0, 0)));
    // Month arithmetic clamps like Java.
    assert_eq!(dm("2015-01-31||+1M", false), utc(2015, 2, 28, 0, 0, 0, 0));
    // Without ||, a date alone is completed (rounding up fills the end of the day).
    assert_eq!(dm("2014-11-18", true), utc(2014, 11, 18, 23, 59, 59, 999));
    assert_eq!(dm("2014-11-18", false), utc(2014, 11, 18, 0, 0, 0, 0));
    // With ||, the date part is never rounded up by itself.
    assert_eq!(dm("2014-11-18||+1d", true), utc(2014, 11, 19, 0, 0, 0, 0));
}

#[test]
fn date_math_time_zones() {
    let d = DateFormat::default_date();
    let now = utc(2020, 1, 1, 23, 30, 0, 0);
    // In +01:00 it is already 2020-01-02 00:30, so /d rounds to 2020-01-02T00:00+01:00.
    assert_eq!(parse_date_math("now/d", now, false, &d, Some("+01:00")), Ok(utc(2020, 1, 1, 23, 0, 0, 0)));
    assert_eq!(parse_date_math("now/d", now, true, &d, Some("+01:00")), Ok(utc(2020, 1, 2, 22, 59, 59, 999)));
    assert_eq!(parse_date_math("2020-01-01T00:00:00", now, false, &d, Some("-05:00")), Ok(utc(2020, 1, 1, 5, 0, 0, 0)));
    // An offset in the value wins; the zone still drives rounding.
    assert_eq!(
        parse_date_math("2020-01-01T00:00:00Z||/d", now, false, &d, Some("+01:00")),
        Ok(utc(2019, 12, 31, 23, 0, 0, 0))
    );
    // Day rounding across a DST change in Paris: 2020-03-29 has 23 hours.
    let t = utc(2020, 3, 29, 12, 0, 0, 0);
    assert_eq!(parse_date_math("now/d", t, false, &d, Some("Europe/Paris")), Ok(utc(2020, 3, 28, 23, 0, 0, 0)));
    assert_eq!(parse_date_math("now/d", t, true, &d, Some("Europe/Paris")), Ok(utc(2020, 3, 29, 21, 59, 59, 999)));
    assert_eq!(parse_date_math("now/d", t, false, &d, Some("UTC")), Ok(utc(2020, 3, 29, 0, 0, 0, 0)));
    assert!(parse_date_math("now", t, false, &d, Some("Nowhere/Land")).is_err());
}

#[test]
fn date_math_errors() {
    assert_eq!(dm_err("now+"), "truncated date math [+]");
    assert_eq!(dm_err("now+1"), "truncated date math [+1]");
    assert_eq!(dm_err("now*1d"), "operator not supported for date math [*1d]");
    assert_eq!(dm_err("now/2d"), "rounding `/` can only be used on single unit types [/2d]");
    assert_eq!(dm_err("now+1x"), "unit [x] not supported for date math [+1x]");
    assert_eq!(dm_err("||+1d"), "cannot parse empty datetime");
    assert_eq!(
        dm_err("nope||+1d"),
        "failed to parse date field [nope] with format [strict_date_optional_time||epoch_millis]: [failed to parse date field [nope] with format [strict_date_optional_time||epoch_millis]]"
    );
    let e: tern_common::EsError = parse_date_math("now+", NOW, false, &DateFormat::default_date(), None)
        .err()
        .unwrap_or(DateError::EmptyFormat)
        .into();
    assert_eq!(e.es_type(), "parse_exception");
    assert_eq!(e.status(), 400);
    assert!(parse_date_math("now+99999999999y", NOW, false, &DateFormat::default_date(), None).is_err());
    assert!(parse_date_math("now+2000000y", NOW, false, &DateFormat::default_date(), None).is_err());
}

#[test]
fn ymd_helper() {
    assert_eq!(ymd_hms_utc(1_420_070_400_000), Some((2015, 1, 1, 0, 0, 0, 0)));
}
