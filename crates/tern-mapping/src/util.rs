//! Small helpers shared by the mapping parser and the document parser.

use serde_json::Value;

/// How Java's `Object.toString()` renders a parsed JSON value (maps as `{a=1}`, lists as `[1, 2]`),
/// which ES puts into several error messages. Depth-capped.
pub(crate) fn java_to_string(v: &Value) -> String {
    let mut out = String::new();
    write_java(v, &mut out, 0);
    out
}

fn write_java(v: &Value, out: &mut String, depth: usize) {
    if depth > 64 {
        out.push_str("...");
        return;
    }
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| !(n.is_i64() || n.is_u64())) {
                out.push_str(&java_double(f));
            } else {
                out.push_str(&n.to_string());
            }
        }
        Value::String(s) => out.push_str(s),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_java(x, out, depth + 1);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(k);
                out.push('=');
                write_java(x, out, depth + 1);
            }
            out.push('}');
        }
    }
}

/// Java's `Double.toString` for the common cases (`5.0`, `5.7`, `1.0E20`, `NaN`, `Infinity`).
pub(crate) fn java_double(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    let a = f.abs();
    if a != 0.0 && !(1e-3..1e7).contains(&a) {
        // Scientific: Rust gives `1e20` / `1.5e-5`; Java gives `1.0E20` / `1.5E-5`.
        let s = format!("{f:e}");
        let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let mant = if mant.contains('.') { mant.to_string() } else { format!("{mant}.0") };
        return format!("{mant}E{exp}");
    }
    let s = format!("{f}");
    if s.contains('.') { s } else { format!("{s}.0") }
}

/// Java's `Float.toString` for the common cases.
pub(crate) fn java_float(f: f32) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e7 {
        return format!("{f}.0");
    }
    if f.is_finite() && (1e-3..1e7).contains(&f.abs()) {
        return format!("{f}");
    }
    java_double(f64::from(f))
}

/// The Java class name ES prints for a JSON value (`class java.lang.String`).
pub(crate) fn java_class(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "class java.lang.Boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "class java.lang.Integer",
        Value::Number(_) => "class java.lang.Double",
        Value::String(_) => "class java.lang.String",
        Value::Array(_) => "class java.util.ArrayList",
        Value::Object(_) => "class java.util.LinkedHashMap",
    }
}

/// ES `Regex.simpleMatch`: `*` matches any run of characters, everything else literally.
pub(crate) fn simple_match(pattern: &str, s: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = s.chars().collect();
    // Iterative wildcard matching with backtracking to the last star.
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<usize> = None;
    let mut mark = 0usize;
    while ti < t.len() {
        if pi < p.len() && p[pi] != '*' && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(sp) = star {
            pi = sp + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// Java `String.length()`: UTF-16 code units.
pub(crate) fn java_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// Joins a parent path and a child name.
pub(crate) fn join_path(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        let mut s = String::with_capacity(parent.len() + 1 + name.len());
        s.push_str(parent);
        s.push('.');
        s.push_str(name);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn java_rendering() {
        assert_eq!(java_to_string(&json!({"properties": {"a": {"type": "text"}}})), "{properties={a={type=text}}}");
        assert_eq!(java_to_string(&json!([1, "x", null])), "[1, x, null]");
        assert_eq!(java_double(5.0), "5.0");
        assert_eq!(java_double(5.7), "5.7");
        assert_eq!(java_double(1e20), "1.0E20");
        assert_eq!(java_double(-1.5e-5), "-1.5E-5");
        assert_eq!(java_float(70000.0), "70000.0");
    }

    #[test]
    fn simple_match_works() {
        assert!(simple_match("*", "anything"));
        assert!(simple_match("long_*", "long_field"));
        assert!(simple_match("*_text", "a_text"));
        assert!(simple_match("a*b*c", "aXXbYYc"));
        assert!(!simple_match("a*b*c", "aXXbYY"));
        assert!(simple_match("abc", "abc"));
        assert!(!simple_match("abc", "abcd"));
        assert!(simple_match("name.*", "name.first"));
    }
}
