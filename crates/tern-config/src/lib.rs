//! Node configuration with Elasticsearch's conventions.
//!
//! `config/tern.yml` may be written flat (`http.port: 9200`) or nested (`http: {port: 9200}`), may
//! reference environment variables as `${VAR}`, and every key can be overridden on the command line
//! with `-E key=value`, exactly as `elasticsearch.yml` and `elasticsearch -E` work. All of that is
//! flattened into one map of dotted keys; typed accessors read it. An unknown key stops the node at
//! startup, as ES does, instead of being silently ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file [{path}]: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file [{path}] is not valid YAML: {reason}")]
    Yaml { path: PathBuf, reason: String },
    #[error(
        "unknown setting [{0}] please check that any required plugins are installed, or check the breaking changes documentation for removed settings"
    )]
    UnknownSetting(String),
    #[error("invalid -E argument [{0}]: expected key=value")]
    BadOverride(String),
    #[error("failed to parse value [{value}] for setting [{key}]: {reason}")]
    BadValue { key: String, value: String, reason: String },
    #[error("Could not resolve placeholder '{0}'")]
    MissingEnv(String),
}

/// Keys a node understands. A trailing `*` accepts any suffix.
const KNOWN_KEYS: &[&str] = &[
    "cluster.name",
    "node.name",
    "node.id.seed",
    "node.roles",
    "node.attr.*",
    "path.data",
    "path.logs",
    "network.host",
    "network.bind_host",
    "network.publish_host",
    "http.host",
    "http.port",
    "http.publish_port",
    "http.max_content_length",
    "http.compression",
    "transport.port",
    "transport.host",
    "transport.publish_host",
    "discovery.seed_hosts",
    "discovery.type",
    "cluster.initial_master_nodes",
    "cluster.routing.allocation.awareness.attributes",
    "indices.recovery.max_bytes_per_sec",
    "action.auto_create_index",
    "action.destructive_requires_name",
    "logger.*",
    "remote_sync.*",
    "write_ha.*",
    "tern.*",
    "xpack.*",
    "bootstrap.memory_lock",
];

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    values: BTreeMap<String, Value>,
}

impl Settings {
    /// Loads the file (if any), then applies `-E` overrides in order.
    pub fn load(file: Option<&Path>, overrides: &[String]) -> Result<Settings, ConfigError> {
        let mut s = Settings::default();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
            s.merge_yaml(&text).map_err(|e| match e {
                ConfigError::Yaml { reason, .. } => ConfigError::Yaml { path: path.to_path_buf(), reason },
                other => other,
            })?;
        }
        for o in overrides {
            let (k, v) = o.split_once('=').ok_or_else(|| ConfigError::BadOverride(o.clone()))?;
            s.values.insert(k.trim().to_string(), parse_scalar(v.trim()));
        }
        s.validate()?;
        Ok(s)
    }

    pub fn from_pairs(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let overrides: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        Settings::load(None, &overrides)
    }

    fn merge_yaml(&mut self, text: &str) -> Result<(), ConfigError> {
        let substituted = substitute_env(text)?;
        let yaml: Value = serde_yaml_ng::from_str::<Option<Value>>(&substituted)
            .map_err(|e| ConfigError::Yaml { path: PathBuf::new(), reason: e.to_string() })?
            .unwrap_or(Value::Null);
        flatten("", &yaml, &mut self.values);
        Ok(())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        for key in self.values.keys() {
            let known = KNOWN_KEYS.iter().any(|k| match k.strip_suffix('*') {
                Some(prefix) => key.starts_with(prefix),
                None => k == key,
            });
            if !known {
                return Err(ConfigError::UnknownSetting(key.clone()));
            }
        }
        self.http_port()?;
        self.transport_port()?;
        self.max_content_length()?;
        Ok(())
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }

    pub fn get_str(&self, key: &str) -> Option<String> {
        self.values.get(key).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }

    /// A list setting, given as a YAML list or a comma-separated string (as `-E` gives it).
    pub fn get_list(&self, key: &str) -> Vec<String> {
        match self.values.get(key) {
            Some(Value::Array(a)) => {
                a.iter().map(|v| v.as_str().map(String::from).unwrap_or_else(|| v.to_string())).collect()
            }
            Some(Value::String(s)) => s
                .trim_matches(|c| c == '[' || c == ']')
                .split(',')
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect(),
            Some(other) => vec![other.to_string()],
            None => vec![],
        }
    }

    pub fn all(&self) -> &BTreeMap<String, Value> {
        &self.values
    }

    pub fn cluster_name(&self) -> String {
        self.get_str("cluster.name").unwrap_or_else(|| "tern".to_string())
    }

    pub fn node_name(&self) -> String {
        self.get_str("node.name").unwrap_or_else(|| {
            std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "tern-node".to_string())
        })
    }

    pub fn data_path(&self) -> PathBuf {
        PathBuf::from(self.get_str("path.data").unwrap_or_else(|| "data".to_string()))
    }

    pub fn http_host(&self) -> String {
        self.get_str("http.host")
            .or_else(|| self.get_str("network.bind_host"))
            .or_else(|| self.get_str("network.host"))
            .map(|h| resolve_special_host(&h))
            .unwrap_or_else(|| "127.0.0.1".to_string())
    }

    /// `http.port` is a number or a range like ES's default `9200-9300`; the first port of a range is
    /// tried first and the node walks up the range when it is taken.
    pub fn http_port(&self) -> Result<(u16, u16), ConfigError> {
        port_range(self, "http.port", 9200)
    }

    pub fn transport_port(&self) -> Result<(u16, u16), ConfigError> {
        port_range(self, "transport.port", 9300)
    }

    pub fn node_roles(&self) -> Vec<String> {
        if self.values.contains_key("node.roles") {
            self.get_list("node.roles")
        } else {
            vec!["master".into(), "data".into(), "ingest".into()]
        }
    }

    /// `node.attr.*` as a map without the prefix.
    pub fn node_attributes(&self) -> BTreeMap<String, String> {
        self.values
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix("node.attr.")
                    .map(|a| (a.to_string(), v.as_str().map(String::from).unwrap_or_else(|| v.to_string())))
            })
            .collect()
    }

    /// `http.max_content_length`, default 100mb as in ES.
    pub fn max_content_length(&self) -> Result<u64, ConfigError> {
        match self.get_str("http.max_content_length") {
            None => Ok(100 << 20),
            Some(v) => parse_byte_size(&v).ok_or_else(|| ConfigError::BadValue {
                key: "http.max_content_length".into(),
                value: v.clone(),
                reason: "expected a byte size such as 100mb".into(),
            }),
        }
    }
}

fn resolve_special_host(h: &str) -> String {
    match h {
        "_local_" | "localhost" => "127.0.0.1".into(),
        "_site_" | "_global_" | "0" => "0.0.0.0".into(),
        other => other.to_string(),
    }
}

fn port_range(s: &Settings, key: &str, default: u16) -> Result<(u16, u16), ConfigError> {
    let Some(v) = s.get_str(key) else {
        return Ok((default, default));
    };
    let bad = || ConfigError::BadValue {
        key: key.into(),
        value: v.clone(),
        reason: "expected a port or a port range".into(),
    };
    let (a, b) = match v.split_once('-') {
        Some((a, b)) => (a.trim().parse::<u16>().map_err(|_| bad())?, b.trim().parse::<u16>().map_err(|_| bad())?),
        None => {
            let p = v.trim().parse::<u16>().map_err(|_| bad())?;
            (p, p)
        }
    };
    if a > b {
        return Err(bad());
    }
    Ok((a, b))
}

/// Parses ES byte sizes: `100mb`, `1gb`, `512kb`, `10b`, plain numbers as bytes.
pub fn parse_byte_size(v: &str) -> Option<u64> {
    let v = v.trim().to_ascii_lowercase();
    let units: [(&str, u64); 6] =
        [("pb", 1 << 50), ("tb", 1 << 40), ("gb", 1 << 30), ("mb", 1 << 20), ("kb", 1 << 10), ("b", 1)];
    for (suffix, mult) in units {
        if let Some(n) = v.strip_suffix(suffix) {
            let n: f64 = n.trim().parse().ok()?;
            return (n >= 0.0).then_some((n * mult as f64) as u64);
        }
    }
    v.parse().ok()
}

fn parse_scalar(v: &str) -> Value {
    if v.starts_with('[') && v.ends_with(']') {
        return Value::Array(
            v[1..v.len() - 1]
                .split(',')
                .map(|p| Value::String(p.trim().to_string()))
                .filter(|p| p.as_str() != Some(""))
                .collect(),
        );
    }
    Value::String(v.to_string())
}

fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&key, child, out);
            }
        }
        Value::Null if prefix.is_empty() => {}
        other => {
            out.insert(prefix.to_string(), other.clone());
        }
    }
}

/// Replaces `${VAR}` with the environment variable's value, as ES does in its config file. Comment
/// lines are left alone (they may well mention the syntax).
fn substitute_env(text: &str) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        if line.trim_start().starts_with('#') {
            out.push_str(line);
        } else {
            out.push_str(&substitute_line(line)?);
        }
    }
    Ok(out)
}

fn substitute_line(text: &str) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let name = &after[..end];
        let (var, default) = match name.split_once(':') {
            Some((v, d)) => (v, Some(d)),
            None => (name, None),
        };
        match std::env::var(var).ok().or(default.map(String::from)) {
            Some(val) => out.push_str(&val),
            None => return Err(ConfigError::MissingEnv(var.to_string())),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_and_flat_yaml_flatten_to_the_same_keys() {
        let mut a = Settings::default();
        a.merge_yaml("cluster:\n  name: c1\nhttp.port: 9201\nnode.attr.rack: r1\n").unwrap();
        assert_eq!(a.cluster_name(), "c1");
        assert_eq!(a.http_port().unwrap(), (9201, 9201));
        assert_eq!(a.node_attributes().get("rack").map(String::as_str), Some("r1"));
    }

    #[test]
    fn overrides_win_and_unknown_keys_fail() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tern.yml");
        std::fs::write(&file, "http.port: 9200\npath.data: /a\n").unwrap();
        let s = Settings::load(Some(&file), &["http.port=9250".into(), "path.data=/tmp/x".into()]).unwrap();
        assert_eq!(s.http_port().unwrap().0, 9250);
        assert_eq!(s.data_path(), PathBuf::from("/tmp/x"));
        let err = Settings::load(None, &["foo.bar=1".into()]).unwrap_err();
        assert!(err.to_string().contains("unknown setting [foo.bar]"));
        assert!(Settings::load(None, &["http.port=abc".into()]).is_err());
    }

    #[test]
    fn lists_ranges_and_sizes() {
        let s = Settings::from_pairs(&[("node.roles", "[master, data]"), ("http.port", "9200-9300")]).unwrap();
        assert_eq!(s.node_roles(), vec!["master", "data"]);
        assert_eq!(s.http_port().unwrap(), (9200, 9300));
        assert_eq!(parse_byte_size("100mb"), Some(100 << 20));
        assert_eq!(parse_byte_size("1.5kb"), Some(1536));
    }

    #[test]
    fn shipped_config_loads() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/tern.yml");
        let s = Settings::load(Some(&path), &[]).unwrap();
        assert_eq!(s.http_port().unwrap().0, 9200);
        assert_eq!(s.cluster_name(), "tern");
    }

    #[test]
    fn env_substitution() {
        // SAFETY-free: tests run with their own variable name.
        let text = "node.name: ${TERN_TEST_UNSET_VAR:fallback}\n";
        let mut s = Settings::default();
        s.merge_yaml(text).unwrap();
        assert_eq!(s.node_name(), "fallback");
        assert!(substitute_env("${TERN_TEST_DEFINITELY_MISSING}").is_err());
    }
}
