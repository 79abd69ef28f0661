//! Cluster-wide dynamic settings (`PUT _cluster/settings`): the known keys, validation with ES's
//! messages, and the update semantics (`null` resets, a trailing `*` with `null` resets a group).

use serde_json::Value;

use crate::error::ClusterError;
use crate::settings::{FlatSettings, Kind, SettingDef, display_value, parse_bool, validate_value};
use crate::wildcard::{is_wildcard, wildcard_match};

pub const ACTION_AUTO_CREATE_INDEX: &str = "action.auto_create_index";
pub const ACTION_DESTRUCTIVE_REQUIRES_NAME: &str = "action.destructive_requires_name";

const fn cdef(key: &'static str, kind: Kind, default: Option<&'static str>) -> SettingDef {
    SettingDef { key, kind, dynamic: true, is_final: false, private: false, default }
}

fn cluster_setting_defs() -> Vec<SettingDef> {
    vec![
        cdef(ACTION_AUTO_CREATE_INDEX, Kind::Any, Some("true")),
        cdef(ACTION_DESTRUCTIVE_REQUIRES_NAME, Kind::Bool, Some("true")),
        cdef("cluster.max_shards_per_node", Kind::Int { min: 1, max: i64::from(i32::MAX) }, Some("1000")),
        cdef("indices.recovery.max_bytes_per_sec", Kind::Bytes { min: 0 }, Some("40mb")),
        cdef(
            "cluster.routing.allocation.enable",
            Kind::Enum(&["all", "primaries", "new_primaries", "none"]),
            Some("all"),
        ),
        cdef("cluster.routing.rebalance.enable", Kind::Enum(&["all", "primaries", "replicas", "none"]), Some("all")),
        cdef("cluster.routing.allocation.awareness.attributes", Kind::Any, Some("[]")),
        cdef("remote_sync.force_synchronize", Kind::Bool, Some("false")),
        cdef("remote_sync.chunk_size", Kind::Bytes { min: 1024 * 1024 }, Some("1mb")),
        cdef("remote_sync.max_concurrent_file_chunks", Kind::Int { min: 1, max: 100 }, Some("10")),
        cdef("remote_sync.max_bytes_per_sec", Kind::Bytes { min: 0 }, Some("40mb")),
    ]
}

/// Groups accepted under a prefix (values are not interpreted here).
const CLUSTER_PREFIXES: &[&str] = &["cluster.routing.allocation.", "search.", "cluster.remote.", "logger."];

fn lookup_cluster_setting(key: &str) -> Option<Kind> {
    if let Some(d) = cluster_setting_defs().iter().find(|d| d.key == key) {
        return Some(d.kind);
    }
    CLUSTER_PREFIXES.iter().any(|p| key.starts_with(p) && key.len() > p.len()).then_some(Kind::Any)
}

/// Settings whose values are never shown back (ES's secure settings): credentials of remote clusters.
pub fn is_secure_setting(key: &str) -> bool {
    key.starts_with("cluster.remote.") && (key.ends_with(".password") || key.ends_with(".api_key"))
}

/// Whether `key` is a cluster setting tern knows.
pub fn is_known_cluster_setting(key: &str) -> bool {
    lookup_cluster_setting(key).is_some()
}

/// The defaults ES reports for `GET _cluster/settings?include_defaults`.
pub fn cluster_setting_defaults() -> FlatSettings {
    cluster_setting_defs().into_iter().filter_map(|d| d.default.map(|v| (d.key.to_string(), Value::from(v)))).collect()
}

/// Validates one scope (`persistent` or `transient`) of an update, including `null` resets.
pub(crate) fn validate_cluster_update(scope: &str, update: &FlatSettings) -> Result<(), ClusterError> {
    for (key, value) in update {
        if value.is_null() && (key.ends_with('*') || is_wildcard(key)) {
            continue;
        }
        if let Some(rest) = key.strip_prefix("cluster.remote.rest.") {
            validate_remote_rest(scope, key, rest, value)?;
            continue;
        }
        let Some(kind) = lookup_cluster_setting(key) else {
            return Err(ClusterError::illegal_argument(format!("{scope} setting [{key}], not recognized")));
        };
        validate_value(key, kind, value)?;
    }
    Ok(())
}

/// `cluster.remote.rest.<name>.{seeds,username,password,ssl.*}`: the remote clusters of remote sync.
fn validate_remote_rest(scope: &str, key: &str, rest: &str, value: &Value) -> Result<(), ClusterError> {
    const FIELDS: &[&str] = &["seeds", "username", "password", "ssl.verification_mode", "ssl.certificate_authorities"];
    let Some((name, field)) =
        FIELDS.iter().find_map(|f| rest.strip_suffix(f).and_then(|n| n.strip_suffix('.')).map(|n| (n, *f)))
    else {
        return Err(ClusterError::illegal_argument(format!("{scope} setting [{key}], not recognized")));
    };
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(ClusterError::illegal_argument(format!(
            "invalid remote cluster name [{name}]: only letters, digits, '_' and '-' are allowed"
        )));
    }
    if value.is_null() {
        return Ok(());
    }
    match field {
        "seeds" => {
            let seeds: Vec<String> = match value {
                Value::Array(items) => items.iter().map(display_value).collect(),
                other => display_value(other).split(',').map(|s| s.trim().to_string()).collect(),
            };
            for seed in seeds {
                let hostport = seed.strip_prefix("https://").or_else(|| seed.strip_prefix("http://")).unwrap_or(&seed);
                let hostport = hostport.trim_end_matches('/');
                let ok = hostport
                    .rsplit_once(':')
                    .is_some_and(|(h, p)| !h.is_empty() && !h.contains('/') && p.parse::<u16>().is_ok());
                if !ok {
                    return Err(ClusterError::illegal_argument(format!(
                        "invalid seed [{seed}] for remote cluster [{name}]: expected http(s)://host:port"
                    )));
                }
            }
        }
        "ssl.verification_mode" if !matches!(display_value(value).as_str(), "full" | "certificate" | "none") => {
            return Err(ClusterError::illegal_argument(format!(
                "invalid ssl.verification_mode [{}] for remote cluster [{name}]: expected full, certificate or none",
                display_value(value)
            )));
        }
        _ => {}
    }
    Ok(())
}

/// Applies a validated update to one scope; returns the non-null settings that were applied (what ES
/// echoes back in the response).
pub(crate) fn apply_cluster_update(target: &mut FlatSettings, update: &FlatSettings) -> FlatSettings {
    let mut applied = FlatSettings::new();
    for (key, value) in update {
        if value.is_null() {
            if is_wildcard(key) {
                target.retain(|k, _| !wildcard_match(key, k));
            } else {
                target.remove(key);
            }
        } else {
            target.insert(key.clone(), value.clone());
            applied.insert(key.clone(), value.clone());
        }
    }
    applied
}

/// `action.auto_create_index`: `true`, `false`, or a comma list of `+pattern` / `-pattern`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AutoCreateIndex {
    Allowed,
    Forbidden,
    /// `(allow, pattern)` in order; the first matching pattern decides.
    Patterns(Vec<(bool, String)>),
}

impl AutoCreateIndex {
    pub fn parse(value: &Value) -> AutoCreateIndex {
        let text = match value {
            Value::Array(items) => items.iter().map(display_value).collect::<Vec<_>>().join(","),
            other => display_value(other),
        };
        match parse_bool(text.trim()) {
            Ok(true) => AutoCreateIndex::Allowed,
            Ok(false) => AutoCreateIndex::Forbidden,
            Err(_) => AutoCreateIndex::Patterns(
                text.split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(|p| {
                        if let Some(rest) = p.strip_prefix('-') {
                            (false, rest.to_string())
                        } else {
                            (true, p.strip_prefix('+').unwrap_or(p).to_string())
                        }
                    })
                    .collect(),
            ),
        }
    }

    /// ES's `AutoCreateIndex.shouldAutoCreate` decision for one index name, with its messages.
    pub fn check(&self, index: &str, raw: &str) -> Result<(), ClusterError> {
        let not_found = |detail: String| ClusterError::IndexNotFound { index: index.to_string(), detail: Some(detail) };
        match self {
            AutoCreateIndex::Allowed => Ok(()),
            AutoCreateIndex::Forbidden => Err(not_found(format!("[{ACTION_AUTO_CREATE_INDEX}] is [false]"))),
            AutoCreateIndex::Patterns(patterns) => {
                for (allow, pattern) in patterns {
                    if wildcard_match(pattern, index) {
                        return if *allow {
                            Ok(())
                        } else {
                            Err(not_found(format!(
                                "[{ACTION_AUTO_CREATE_INDEX}] contains [-{pattern}] which forbids automatic creation of the index"
                            )))
                        };
                    }
                }
                Err(not_found(format!("[{ACTION_AUTO_CREATE_INDEX}] ([{raw}]) doesn't match")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::flatten_settings;
    use serde_json::json;

    #[test]
    fn unknown_cluster_settings_are_rejected_with_scope() {
        let update = flatten_settings(&json!({"cluster": {"foo": "bar"}})).unwrap();
        assert_eq!(
            validate_cluster_update("persistent", &update).unwrap_err().to_string(),
            "persistent setting [cluster.foo], not recognized"
        );
        assert_eq!(
            validate_cluster_update("transient", &update).unwrap_err().to_string(),
            "transient setting [cluster.foo], not recognized"
        );
        let reset_unknown = flatten_settings(&json!({"cluster.foo": null})).unwrap();
        assert!(validate_cluster_update("persistent", &reset_unknown).is_err());
    }

    #[test]
    fn known_cluster_settings_validate_values() {
        let ok = flatten_settings(&json!({
            "cluster.routing.allocation.enable": "primaries",
            "cluster.routing.allocation.awareness.attributes": "zone",
            "cluster.routing.allocation.disk.watermark.low": "90%",
            "indices.recovery.max_bytes_per_sec": "100mb",
            "action.auto_create_index": "+logs-*,-tmp*",
            "action.destructive_requires_name": false,
            "cluster.max_shards_per_node": 2000,
            "search.default_search_timeout": "30s",
            "remote_sync": {"force_synchronize": true, "chunk_size": "2mb", "max_concurrent_file_chunks": 5, "max_bytes_per_sec": "0"},
            "cluster.remote.other.seeds": ["127.0.0.1:9300"],
            "logger.org.elasticsearch": "DEBUG"
        }))
        .unwrap();
        validate_cluster_update("persistent", &ok).unwrap();
        let bad = flatten_settings(&json!({"action.destructive_requires_name": "nope"})).unwrap();
        assert_eq!(
            validate_cluster_update("persistent", &bad).unwrap_err().to_string(),
            "Failed to parse value [nope] as only [true] or [false] are allowed."
        );
        let bad = flatten_settings(&json!({"remote_sync.max_concurrent_file_chunks": 500})).unwrap();
        assert_eq!(
            validate_cluster_update("persistent", &bad).unwrap_err().to_string(),
            "Failed to parse value [500] for setting [remote_sync.max_concurrent_file_chunks] must be <= 100"
        );
        let bad = flatten_settings(&json!({"remote_sync.chunk_size": "1kb"})).unwrap();
        assert!(validate_cluster_update("persistent", &bad).is_err());
    }

    #[test]
    fn apply_resets_and_wildcard_resets() {
        let mut target = FlatSettings::new();
        let up = flatten_settings(&json!({
            "cluster.routing.allocation.enable": "none",
            "cluster.routing.allocation.awareness.attributes": "zone",
            "search.max_buckets": 100
        }))
        .unwrap();
        let applied = apply_cluster_update(&mut target, &up);
        assert_eq!(applied.len(), 3);
        assert_eq!(target["search.max_buckets"], json!("100"));
        let reset =
            flatten_settings(&json!({"cluster.routing.allocation.*": null, "search.max_buckets": null})).unwrap();
        validate_cluster_update("persistent", &reset).unwrap();
        let applied = apply_cluster_update(&mut target, &reset);
        assert!(applied.is_empty());
        assert!(target.is_empty());
    }

    #[test]
    fn auto_create_index_decisions() {
        assert!(AutoCreateIndex::parse(&json!("true")).check("x", "true").is_ok());
        assert_eq!(
            AutoCreateIndex::parse(&json!("false")).check("x", "false").unwrap_err().to_string(),
            "no such index [x] and [action.auto_create_index] is [false]"
        );
        let p = AutoCreateIndex::parse(&json!("+logs-*,-tmp*"));
        assert!(p.check("logs-1", "+logs-*,-tmp*").is_ok());
        assert_eq!(
            p.check("tmp1", "+logs-*,-tmp*").unwrap_err().to_string(),
            "no such index [tmp1] and [action.auto_create_index] contains [-tmp*] which forbids automatic creation of the index"
        );
        assert_eq!(
            p.check("other", "+logs-*,-tmp*").unwrap_err().to_string(),
            "no such index [other] and [action.auto_create_index] ([+logs-*,-tmp*]) doesn't match"
        );
    }
}
