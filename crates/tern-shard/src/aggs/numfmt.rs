//! Number and address rendering the way ES (Java) prints them.
//!
//! - [`java_double`]: `Double.toString` (`50.0`, `14.6`, `1.0E7`, `1.0E-4`), used for range keys,
//!   percentile keys and keyed histogram buckets;
//! - [`DecimalFormat`]: the subset of `java.text.DecimalFormat` patterns aggregations accept as a
//!   numeric `format` (`"Value is ##0.0"`, `"#,##0.00"`, `"0.###E0"` is not supported);
//! - [`ip_to_string`] / [`parse_ip`]: IP values as 128-bit numbers (IPv4 mapped into `::ffff:0:0/96`,
//!   as Lucene's `InetAddressPoint` encodes them), so IP ranges and key order compare like ES.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Java's `Double.toString`.
pub(crate) fn java_double(v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity".to_string() } else { "-Infinity".to_string() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0.0".to_string() } else { "0.0".to_string() };
    }
    let abs = v.abs();
    if (1e-3..1e7).contains(&abs) {
        let s = format!("{v}");
        if s.contains('.') { s } else { format!("{s}.0") }
    } else {
        // Rust's `{:e}` gives the shortest round-trip digits: `1.46e1`, `1e7`.
        let s = format!("{v:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let mantissa = if mantissa.contains('.') { mantissa.to_string() } else { format!("{mantissa}.0") };
        format!("{mantissa}E{exp}")
    }
}

/// A compiled `java.text.DecimalFormat` pattern (prefix, grouping, integer and fraction digits,
/// suffix; a `;negative` sub-pattern is ignored). Rounds half-even like Java.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DecimalFormat {
    prefix: String,
    suffix: String,
    min_int: usize,
    min_frac: usize,
    max_frac: usize,
    grouping: usize,
    percent: bool,
}

impl DecimalFormat {
    pub(crate) fn parse(pattern: &str) -> Result<DecimalFormat, String> {
        let positive = pattern.split(';').next().unwrap_or("");
        let chars: Vec<char> = positive.chars().collect();
        let is_num = |c: char| matches!(c, '#' | '0' | ',' | '.');
        let mut i = 0;
        let mut prefix = String::new();
        while i < chars.len() && !is_num(chars[i]) {
            if chars[i] == '\'' {
                i += 1;
                while i < chars.len() && chars[i] != '\'' {
                    prefix.push(chars[i]);
                    i += 1;
                }
                i += 1;
                continue;
            }
            prefix.push(chars[i]);
            i += 1;
        }
        let start = i;
        while i < chars.len() && is_num(chars[i]) {
            i += 1;
        }
        let number: String = chars[start..i].iter().collect();
        let mut suffix = String::new();
        while i < chars.len() {
            if chars[i] == '\'' {
                i += 1;
                while i < chars.len() && chars[i] != '\'' {
                    suffix.push(chars[i]);
                    i += 1;
                }
                i += 1;
                continue;
            }
            suffix.push(chars[i]);
            i += 1;
        }
        if number.is_empty() {
            return Err(format!("Malformed pattern \"{pattern}\""));
        }
        let (int_part, frac_part) = match number.split_once('.') {
            Some((a, b)) => (a.to_string(), b.to_string()),
            None => (number.clone(), String::new()),
        };
        if frac_part.contains('.') || frac_part.contains(',') {
            return Err(format!("Malformed pattern \"{pattern}\""));
        }
        let grouping = match int_part.rfind(',') {
            Some(p) => int_part.len() - p - 1,
            None => 0,
        };
        let digits: String = int_part.chars().filter(|c| *c != ',').collect();
        let min_int = digits.chars().filter(|c| *c == '0').count();
        let min_frac = frac_part.chars().filter(|c| *c == '0').count();
        let max_frac = frac_part.len();
        let percent = suffix.contains('%') || prefix.contains('%');
        Ok(DecimalFormat { prefix, suffix, min_int, min_frac, max_frac, grouping, percent })
    }

    pub(crate) fn format(&self, v: f64) -> String {
        if v.is_nan() {
            return "NaN".to_string();
        }
        if v.is_infinite() {
            return format!("{}{}∞{}", if v < 0.0 { "-" } else { "" }, self.prefix, self.suffix);
        }
        let v = if self.percent { v * 100.0 } else { v };
        let negative = v < 0.0;
        let rounded = round_half_even(v.abs(), self.max_frac);
        let text = format!("{rounded:.prec$}", prec = self.max_frac);
        let (int_digits, frac_digits) = match text.split_once('.') {
            Some((a, b)) => (a.to_string(), b.to_string()),
            None => (text.clone(), String::new()),
        };
        let mut frac = frac_digits;
        while frac.len() > self.min_frac && frac.ends_with('0') {
            frac.pop();
        }
        let mut int_digits = int_digits.trim_start_matches('0').to_string();
        while int_digits.len() < self.min_int {
            int_digits.insert(0, '0');
        }
        if self.grouping > 0 && int_digits.len() > self.grouping {
            let mut grouped = String::new();
            let n = int_digits.len();
            for (idx, c) in int_digits.chars().enumerate() {
                if idx > 0 && (n - idx) % self.grouping == 0 {
                    grouped.push(',');
                }
                grouped.push(c);
            }
            int_digits = grouped;
        }
        let mut out = String::new();
        if negative && (int_digits.chars().any(|c| c != '0' && c != ',') || frac.chars().any(|c| c != '0')) {
            out.push('-');
        }
        out.push_str(&self.prefix);
        out.push_str(&int_digits);
        if !frac.is_empty() {
            out.push('.');
            out.push_str(&frac);
        }
        out.push_str(&self.suffix);
        out
    }
}

fn round_half_even(v: f64, digits: usize) -> f64 {
    let scale = 10f64.powi(digits as i32);
    let x = v * scale;
    if !x.is_finite() {
        return v;
    }
    let floor = x.floor();
    let diff = x - floor;
    let r =
        if (diff - 0.5).abs() < 1e-9 { if (floor as i64) % 2 == 0 { floor } else { floor + 1.0 } } else { x.round() };
    r / scale
}

/// An IP address as the 128-bit number Lucene sorts by (IPv4 mapped into `::ffff:0:0/96`).
pub(crate) fn parse_ip(s: &str) -> Option<u128> {
    let ip: IpAddr = s.trim().parse().ok()?;
    Some(ip_to_u128(ip))
}

pub(crate) fn ip_to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// Renders an IP like ES (`InetAddresses.toAddrString`): IPv4-mapped addresses as dotted quads.
pub(crate) fn ip_to_string(v: u128) -> String {
    let v6 = Ipv6Addr::from(v);
    let seg = v6.segments();
    if seg[0..5].iter().all(|s| *s == 0) && seg[5] == 0xffff {
        let o = v6.octets();
        return Ipv4Addr::new(o[12], o[13], o[14], o[15]).to_string();
    }
    v6.to_string()
}

/// A CIDR mask (`192.168.0.0/16`, `::/24`) as a `[from, to)` range of 128-bit IPs; `to` is `None` when
/// the range reaches the top of the address space.
pub(crate) fn parse_cidr(mask: &str) -> Option<(u128, Option<u128>)> {
    let (addr, bits) = mask.split_once('/')?;
    let ip: IpAddr = addr.trim().parse().ok()?;
    let prefix: u32 = bits.trim().parse().ok()?;
    let (value, total_prefix) = match ip {
        IpAddr::V4(_) => {
            if prefix > 32 {
                return None;
            }
            (ip_to_u128(ip), prefix + 96)
        }
        IpAddr::V6(_) => {
            if prefix > 128 {
                return None;
            }
            (ip_to_u128(ip), prefix)
        }
    };
    let host_bits = 128 - total_prefix;
    let mask_low: u128 = if host_bits == 128 { u128::MAX } else { (1u128 << host_bits) - 1 };
    let from = value & !mask_low;
    let to = from.checked_add(mask_low).and_then(|x| x.checked_add(1));
    Some((from, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_doubles() {
        assert_eq!(java_double(50.0), "50.0");
        assert_eq!(java_double(14.6), "14.6");
        assert_eq!(java_double(-3.5), "-3.5");
        assert_eq!(java_double(1e7), "1.0E7");
        assert_eq!(java_double(1.5e-4), "1.5E-4");
        assert_eq!(java_double(99.9), "99.9");
        assert_eq!(java_double(0.0), "0.0");
    }

    #[test]
    fn decimal_formats() {
        let f = DecimalFormat::parse("Value is ##0.0").unwrap();
        assert_eq!(f.format(0.0), "Value is 0.0");
        assert_eq!(f.format(50.0), "Value is 50.0");
        assert_eq!(f.format(150.0), "Value is 150.0");
        let g = DecimalFormat::parse("#,##0.00").unwrap();
        assert_eq!(g.format(1234567.891), "1,234,567.89");
        let h = DecimalFormat::parse("000").unwrap();
        assert_eq!(h.format(7.0), "007");
        let k = DecimalFormat::parse("#.##").unwrap();
        assert_eq!(k.format(2.5), "2.5");
    }

    #[test]
    fn ips() {
        let a = parse_ip("127.0.0.1").unwrap();
        let b = parse_ip("::1").unwrap();
        assert!(b < a);
        assert_eq!(ip_to_string(a), "127.0.0.1");
        assert_eq!(ip_to_string(b), "::1");
        let (from, to) = parse_cidr("::/24").unwrap();
        assert_eq!(ip_to_string(from), "::");
        assert_eq!(ip_to_string(to.unwrap()), "0:100::");
        let (from, to) = parse_cidr("192.168.0.0/16").unwrap();
        assert_eq!(ip_to_string(from), "192.168.0.0");
        assert_eq!(ip_to_string(to.unwrap()), "192.169.0.0");
    }
}
