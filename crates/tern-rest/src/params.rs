//! Query-string parameters with ES's validation.
//!
//! Every API lists the parameters it accepts; anything else is answered with ES's
//! `request [...] contains unrecognized parameter: [x]` error (with a "did you mean" hint when a
//! known parameter is close), instead of being silently ignored.

use std::collections::BTreeMap;

use tern_cluster::IndicesOptions;
use tern_common::EsError;

/// Parameters every API accepts.
const COMMON: &[&str] = &["pretty", "human", "error_trace", "filter_path", "format", "source", "source_content_type"];

#[derive(Debug, Clone, Default)]
pub struct Params {
    pub path: String,
    map: BTreeMap<String, String>,
}

impl Params {
    pub fn parse(path: &str, query: Option<&str>) -> Result<Params, EsError> {
        let mut map = BTreeMap::new();
        if let Some(q) = query {
            for pair in q.split('&').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                map.insert(decode(k)?, decode(v)?);
            }
        }
        Ok(Params { path: path.to_string(), map })
    }

    /// Rejects parameters not in `allowed` (nor common to every API).
    pub fn check(&self, allowed: &[&str]) -> Result<(), EsError> {
        let unknown: Vec<&String> =
            self.map.keys().filter(|k| !allowed.contains(&k.as_str()) && !COMMON.contains(&k.as_str())).collect();
        if unknown.is_empty() {
            return Ok(());
        }
        let mut reason = format!(
            "request [{}] contains unrecognized parameter{}: ",
            self.path,
            if unknown.len() > 1 { "s" } else { "" }
        );
        let parts: Vec<String> = unknown
            .iter()
            .map(|k| match closest(k, allowed) {
                Some(s) => format!("[{k}] -> did you mean [{s}]?"),
                None => format!("[{k}]"),
            })
            .collect();
        reason.push_str(&parts.join(", "));
        Err(EsError::illegal_argument(reason))
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.map.get(key).map(String::as_str)
    }

    pub fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// ES booleans: `true`, `false`, and a bare key meaning true.
    pub fn bool(&self, key: &str, default: bool) -> Result<bool, EsError> {
        match self.get(key) {
            None => Ok(default),
            Some("") | Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(other) => Err(EsError::illegal_argument(format!(
                "Failed to parse value [{other}] as only [true] or [false] are allowed."
            ))),
        }
    }

    pub fn i64(&self, key: &str) -> Result<Option<i64>, EsError> {
        self.get(key)
            .map(|v| {
                v.parse::<i64>().map_err(|_| {
                    EsError::illegal_argument(format!("Failed to parse int parameter [{key}] with value [{v}]"))
                })
            })
            .transpose()
    }

    pub fn list(&self, key: &str) -> Vec<String> {
        self.get(key).map(split_list).unwrap_or_default()
    }

    pub fn pairs(&self) -> Vec<(String, String)> {
        self.map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// `expand_wildcards`, `ignore_unavailable`, `allow_no_indices` with an API's defaults.
    pub fn indices_options(&self, defaults: IndicesOptions) -> Result<IndicesOptions, EsError> {
        IndicesOptions::from_params(
            self.get("ignore_unavailable"),
            self.get("allow_no_indices"),
            self.get("expand_wildcards"),
            defaults,
        )
        .map_err(EsError::from)
    }
}

/// Splits a comma-separated path or parameter list.
pub fn split_list(v: &str) -> Vec<String> {
    v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

fn decode(s: &str) -> Result<String, EsError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let h = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match h {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => {
                        return Err(EsError::illegal_argument(format!("unterminated escape sequence in [{s}]")));
                    }
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| EsError::illegal_argument("invalid UTF-8 in query string"))
}

/// ES's "did you mean" hint: the candidate with the highest Levenshtein similarity
/// (`1 - distance / longer length`), offered only when that similarity is above 0.5.
fn closest<'a>(k: &str, allowed: &[&'a str]) -> Option<&'a str> {
    allowed
        .iter()
        .map(|a| {
            let longest = k.chars().count().max(a.chars().count()).max(1) as f64;
            (1.0 - levenshtein(k, a) as f64 / longest, *a)
        })
        .filter(|(sim, _)| *sim > 0.5)
        .max_by(|x, y| x.0.total_cmp(&y.0))
        .map(|(_, a)| a)
}

pub(crate) fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + (ca != *cb) as usize).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_params_are_rejected_with_a_hint() {
        let p = Params::parse("/i/_search", Some("sizee=1&pretty")).unwrap();
        let e = p.check(&["size", "from"]).unwrap_err();
        assert_eq!(e.reason, "request [/i/_search] contains unrecognized parameter: [sizee] -> did you mean [size]?");
        assert!(p.bool("pretty", false).unwrap());
    }

    #[test]
    fn decodes_percent_escapes() {
        let p = Params::parse("/", Some("q=a%20b+c&x=%2A")).unwrap();
        assert_eq!(p.get("q"), Some("a b c"));
        assert_eq!(p.get("x"), Some("*"));
    }
}
