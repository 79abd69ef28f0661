//! `_source` filtering (`_source`, `_source_includes`, `_source_excludes`), shared by GET, mget,
//! search and update responses.

use serde_json::{Map, Value};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceFilter {
    pub enabled: bool,
    pub includes: Vec<String>,
    pub excludes: Vec<String>,
}

impl SourceFilter {
    pub fn all() -> Self {
        SourceFilter { enabled: true, includes: vec![], excludes: vec![] }
    }

    /// From the `_source`, `_source_includes` and `_source_excludes` URL parameters.
    pub fn from_params(source: Option<&str>, includes: Option<&str>, excludes: Option<&str>) -> Self {
        let mut f = SourceFilter::all();
        match source {
            Some("false") => f.enabled = false,
            Some("true") | Some("") | None => {}
            Some(list) => f.includes = crate::params::split_list(list),
        }
        if let Some(i) = includes {
            f.includes = crate::params::split_list(i);
            f.enabled = true;
        }
        if let Some(e) = excludes {
            f.excludes = crate::params::split_list(e);
        }
        f
    }

    /// From a `_source` body value: bool, string, array, or `{includes, excludes}`.
    pub fn from_value(v: &Value) -> Self {
        let list = |v: Option<&Value>| -> Vec<String> {
            match v {
                Some(Value::String(s)) => vec![s.clone()],
                Some(Value::Array(a)) => a.iter().filter_map(|x| x.as_str().map(String::from)).collect(),
                _ => vec![],
            }
        };
        match v {
            Value::Bool(b) => SourceFilter { enabled: *b, ..SourceFilter::all() },
            Value::String(_) | Value::Array(_) => SourceFilter { includes: list(Some(v)), ..SourceFilter::all() },
            Value::Object(o) => SourceFilter {
                enabled: true,
                includes: list(o.get("includes").or_else(|| o.get("include"))),
                excludes: list(o.get("excludes").or_else(|| o.get("exclude"))),
            },
            _ => SourceFilter::all(),
        }
    }

    pub fn is_identity(&self) -> bool {
        self.enabled && self.includes.is_empty() && self.excludes.is_empty()
    }

    /// Applies the filter to raw source bytes; `None` when `_source` is disabled.
    pub fn apply_bytes(&self, source: &[u8]) -> Option<Value> {
        if !self.enabled {
            return None;
        }
        let v: Value = serde_json::from_slice(source).unwrap_or(Value::Null);
        Some(self.apply(v))
    }

    pub fn apply(&self, v: Value) -> Value {
        if self.is_identity() {
            return v;
        }
        filter_value(v, "", &self.includes, &self.excludes).unwrap_or_else(|| Value::Object(Map::new()))
    }
}

fn matches(pattern: &str, path: &str) -> bool {
    if !pattern.contains('*') {
        return pattern == path;
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = path;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else if let Some(pos) = rest.find(part) {
            rest = &rest[pos + part.len()..];
        } else {
            return false;
        }
    }
    true
}

/// Whether `path` is included: it matches a pattern, lies under a matched path, or is an ancestor
/// of a pattern (objects on the way to an included leaf are kept).
fn included(path: &str, includes: &[String]) -> (bool, bool) {
    if includes.is_empty() {
        return (true, false);
    }
    let mut full = false;
    let mut partial = false;
    for p in includes {
        if matches(p, path) || path.starts_with(&format!("{p}.")) {
            full = true;
        } else if p.starts_with(&format!("{path}.")) || p.contains('*') {
            partial = true;
        }
    }
    (full, partial)
}

fn filter_value(v: Value, prefix: &str, includes: &[String], excludes: &[String]) -> Option<Value> {
    match v {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, child) in map {
                let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                if excludes.iter().any(|e| matches(e, &path)) {
                    continue;
                }
                let (full, partial) = included(&path, includes);
                if full {
                    if let Some(c) = filter_value(child, &path, &[], excludes) {
                        out.insert(k, c);
                    }
                } else if partial
                    && let Some(c @ (Value::Object(_) | Value::Array(_))) =
                        filter_value(child, &path, includes, excludes)
                {
                    let empty = match &c {
                        Value::Object(o) => o.is_empty(),
                        Value::Array(a) => a.is_empty(),
                        _ => false,
                    };
                    if !empty {
                        out.insert(k, c);
                    }
                }
            }
            Some(Value::Object(out))
        }
        Value::Array(items) => Some(Value::Array(
            items
                .into_iter()
                .filter_map(|i| match i {
                    Value::Object(_) | Value::Array(_) => filter_value(i, prefix, includes, excludes),
                    scalar => Some(scalar),
                })
                .collect(),
        )),
        other => Some(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn includes_and_excludes() {
        let doc = json!({"a": 1, "b": {"c": 2, "d": 3}, "e": [{"c": 1, "x": 2}]});
        let f = SourceFilter { enabled: true, includes: vec!["b.c".into()], excludes: vec![] };
        assert_eq!(f.apply(doc.clone()), json!({"b": {"c": 2}}));
        let f = SourceFilter { enabled: true, includes: vec![], excludes: vec!["b".into()] };
        assert_eq!(f.apply(doc.clone()), json!({"a": 1, "e": [{"c": 1, "x": 2}]}));
        let f = SourceFilter { enabled: true, includes: vec!["*.c".into()], excludes: vec![] };
        assert_eq!(f.apply(doc), json!({"b": {"c": 2}, "e": [{"c": 1}]}));
    }
}
