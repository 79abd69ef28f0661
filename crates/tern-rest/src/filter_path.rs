//! ES's `filter_path` response filtering.
//!
//! A comma-separated list of dotted paths; `*` matches one key segment (and partial names like
//! `ind*`), `**` any number of segments, a leading `-` excludes. Arrays are transparent: a path
//! applies to every element.

use serde_json::{Map, Value};

#[derive(Debug, Clone)]
pub struct FilterPath {
    includes: Vec<Vec<String>>,
    excludes: Vec<Vec<String>>,
}

impl FilterPath {
    pub fn parse(spec: &str) -> FilterPath {
        let mut f = FilterPath { includes: vec![], excludes: vec![] };
        for p in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (list, p) = match p.strip_prefix('-') {
                Some(rest) => (&mut f.excludes, rest),
                None => (&mut f.includes, p),
            };
            list.push(split_path(p));
        }
        f
    }

    pub fn apply(&self, v: Value) -> Value {
        let mut v = if self.includes.is_empty() {
            v
        } else {
            let refs: Vec<&[String]> = self.includes.iter().map(|p| p.as_slice()).collect();
            include(v, &refs).unwrap_or_else(|| Value::Object(Map::new()))
        };
        for ex in &self.excludes {
            exclude(&mut v, ex);
        }
        v
    }
}

fn split_path(p: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = p.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            '.' => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn glob(pattern: &str, key: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == key;
    }
    let mut rest = key;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(pos) => rest = &rest[pos + part.len()..],
                None => return false,
            }
        }
    }
    true
}

fn include(v: Value, paths: &[&[String]]) -> Option<Value> {
    if paths.iter().any(|p| p.is_empty()) {
        return Some(v);
    }
    match v {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, child) in map {
                let mut next: Vec<&[String]> = Vec::new();
                for p in paths {
                    if p[0] == "**" {
                        next.push(p);
                        if p.len() > 1 && glob(&p[1], &k) {
                            next.push(&p[2..]);
                        }
                    } else if glob(&p[0], &k) {
                        next.push(&p[1..]);
                    }
                }
                if next.is_empty() {
                    continue;
                }
                if let Some(c) = include(child, &next) {
                    out.insert(k, c);
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        Value::Array(items) => {
            let kept: Vec<Value> = items.into_iter().filter_map(|i| include(i, paths)).collect();
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        _ => paths.iter().any(|p| p.len() == 1 && p[0] == "**").then_some(v),
    }
}

fn exclude(v: &mut Value, path: &[String]) {
    match v {
        Value::Object(map) => {
            if path.len() == 1 {
                map.retain(|k, _| !glob(&path[0], k));
            } else {
                for (k, child) in map.iter_mut() {
                    if glob(&path[0], k) {
                        exclude(child, &path[1..]);
                    }
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| exclude(i, path)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn includes_excludes_and_wildcards() {
        let v = json!({"took": 1, "hits": {"total": {"value": 2}, "hits": [{"_id": "1", "_source": {"a": 1}}, {"_id": "2"}]}});
        assert_eq!(
            FilterPath::parse("hits.hits._id").apply(v.clone()),
            json!({"hits": {"hits": [{"_id": "1"}, {"_id": "2"}]}})
        );
        assert_eq!(FilterPath::parse("-hits").apply(v.clone()), json!({"took": 1}));
        assert_eq!(
            FilterPath::parse("**._id").apply(v.clone()),
            json!({"hits": {"hits": [{"_id": "1"}, {"_id": "2"}]}})
        );
        assert_eq!(FilterPath::parse("h*.total").apply(v), json!({"hits": {"total": {"value": 2}}}));
    }
}
