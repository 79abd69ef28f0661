//! What the plugin keeps in the cluster metadata (follow tasks and auto-sync patterns), the remote
//! clusters configured in cluster settings, and the parsing of request bodies with ES-style errors.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tern_cluster::ClusterMetadata;
use tern_common::{ErrorKind, EsError};

/// The plugin's key in the cluster metadata's custom sections.
pub const CUSTOM_KEY: &str = "remote_sync";

/// Cluster settings holding the remote clusters: `cluster.remote.rest.<name>.{seeds,username,password}`.
const REMOTE_PREFIX: &str = "cluster.remote.rest.";

/// Settings a follower can never take from anywhere but the leader: its files must be the leader's.
pub const NOT_OVERRIDABLE: &[&str] = &[
    "index.number_of_shards",
    "index.version.created",
    "index.uuid",
    "index.creation_date",
    "index.soft_deletes.enabled",
];

/// Settings that are never copied from the leader: identity, shard counts, and what the follower
/// itself uses to stay a follower (its write block, no merges, its own sync interval).
const NEVER_SYNCED: &[&str] = &[
    "index.number_of_shards",
    "index.number_of_replicas",
    "index.auto_expand_replicas",
    "index.uuid",
    "index.creation_date",
    "index.provided_name",
    "index.history.uuid",
    "index.version.*",
    "index.blocks.*",
    "index.merge.enabled",
    "index.remote_sync.*",
    "index.resize.*",
    "index.routing.allocation.initial_recovery.*",
];

pub fn never_synced(key: &str) -> bool {
    NEVER_SYNCED.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => key.starts_with(prefix),
        None => key == *p,
    })
}

/// Everything the plugin persists, under [`CUSTOM_KEY`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncState {
    /// Follow tasks by local (follower) index name.
    #[serde(default)]
    pub follows: BTreeMap<String, FollowSpec>,
    #[serde(default)]
    pub patterns: BTreeMap<String, PatternSpec>,
}

impl SyncState {
    pub fn of(meta: &ClusterMetadata) -> SyncState {
        meta.customs.get(CUSTOM_KEY).and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or_default()
    }

    pub fn from_value(v: &Value) -> SyncState {
        serde_json::from_value(v.clone()).unwrap_or_default()
    }

    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// The sync options shared by `start_remote_sync` and auto-sync patterns, with the seed's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncOptions {
    /// Flat `index.*` settings the follower gets instead of the leader's.
    #[serde(default)]
    pub settings: BTreeMap<String, Value>,
    #[serde(default)]
    pub settings_sync_enable: bool,
    #[serde(default = "default_patterns")]
    pub settings_sync_patterns: Vec<String>,
    #[serde(default)]
    pub settings_sync_exclude_patterns: Vec<String>,
    #[serde(default)]
    pub alias_sync_enable: bool,
    #[serde(default)]
    pub state_sync_enable: bool,
}

fn default_patterns() -> Vec<String> {
    vec!["*".to_string()]
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            settings: BTreeMap::new(),
            settings_sync_enable: false,
            settings_sync_patterns: default_patterns(),
            settings_sync_exclude_patterns: Vec::new(),
            alias_sync_enable: false,
            state_sync_enable: false,
        }
    }
}

impl SyncOptions {
    /// Whether a leader setting is copied on each round (`settings_sync_*`).
    pub fn syncs_setting(&self, key: &str) -> bool {
        if !self.settings_sync_enable || never_synced(key) || self.settings.contains_key(key) {
            return false;
        }
        let matches = |p: &String| {
            let p = if p.starts_with("index.") || p == "*" { p.clone() } else { format!("index.{p}") };
            tern_cluster::wildcard::wildcard_match(&p, key) || key.starts_with(p.trim_end_matches('*'))
        };
        self.settings_sync_patterns.iter().any(matches) && !self.settings_sync_exclude_patterns.iter().any(matches)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FollowSpec {
    pub remote_cluster: String,
    pub remote_index: String,
    pub local_index: String,
    #[serde(default)]
    pub options: SyncOptions,
    /// The auto-sync pattern that started this task, if any.
    #[serde(default)]
    pub pattern: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatternSpec {
    pub remote_cluster: String,
    pub remote_index_patterns: Vec<String>,
    pub local_index_pattern: String,
    pub apply_exist_index: bool,
    #[serde(default)]
    pub options: SyncOptions,
    /// Leader indices this pattern must not start: those that existed when it was created with
    /// `apply_exist_index: false`, and those it already started once (so a `stop_remote_sync`
    /// is not undone by the next poll).
    #[serde(default)]
    pub skip: BTreeSet<String>,
    /// Whether the leader indices existing at creation have been listed into `skip` yet.
    #[serde(default)]
    pub initialized: bool,
}

impl PatternSpec {
    pub fn local_name(&self, remote_index: &str) -> String {
        self.local_index_pattern.replace("{{remote_index}}", remote_index)
    }

    pub fn matches(&self, remote_index: &str) -> bool {
        self.remote_index_patterns.iter().any(|p| tern_cluster::wildcard::wildcard_match(p, remote_index))
    }

    /// The shape `GET auto_sync/pattern` shows (the seed's), plus the options that were given.
    pub fn to_json(&self, name: &str) -> Value {
        let mut p = Map::new();
        p.insert("remote_cluster".into(), Value::from(self.remote_cluster.clone()));
        p.insert("remote_index_patterns".into(), Value::from(self.remote_index_patterns.clone()));
        p.insert("local_index_pattern".into(), Value::from(self.local_index_pattern.clone()));
        p.insert("apply_exist_index".into(), Value::from(self.apply_exist_index));
        p.insert("settings".into(), Value::Object(self.options.settings.clone().into_iter().collect()));
        p.insert("settings_sync_enable".into(), Value::from(self.options.settings_sync_enable));
        p.insert("settings_sync_patterns".into(), Value::from(self.options.settings_sync_patterns.clone()));
        p.insert(
            "settings_sync_exclude_patterns".into(),
            Value::from(self.options.settings_sync_exclude_patterns.clone()),
        );
        p.insert("alias_sync_enable".into(), Value::from(self.options.alias_sync_enable));
        p.insert("state_sync_enable".into(), Value::from(self.options.state_sync_enable));
        serde_json::json!({"name": name, "pattern": p})
    }
}

/// A leader cluster as configured under `cluster.remote.rest.<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RemoteConfig {
    pub name: String,
    pub seeds: Vec<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// `ssl.verification_mode`: `full` (default), `certificate` (no host name check) or `none`.
    pub verification_mode: Option<String>,
    /// `ssl.certificate_authorities`: PEM file(s) of CAs to trust besides the system's.
    pub certificate_authorities: Vec<String>,
}

/// The remote clusters in the cluster settings (transient overrides persistent, as in ES).
pub fn remotes(meta: &ClusterMetadata) -> BTreeMap<String, RemoteConfig> {
    let mut out: BTreeMap<String, RemoteConfig> = BTreeMap::new();
    for scope in [&meta.persistent_settings, &meta.transient_settings] {
        for (key, value) in scope {
            let Some(rest) = key.strip_prefix(REMOTE_PREFIX) else { continue };
            let (name, field) = match rest.find(".ssl.") {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => match rest.rsplit_once('.') {
                    Some(p) => p,
                    None => continue,
                },
            };
            let entry = out.entry(name.to_string()).or_insert_with(|| RemoteConfig {
                name: name.to_string(),
                seeds: Vec::new(),
                username: None,
                password: None,
                verification_mode: None,
                certificate_authorities: Vec::new(),
            });
            match field {
                "seeds" => {
                    entry.seeds = match value {
                        Value::Array(items) => items.iter().filter_map(|v| v.as_str().map(String::from)).collect(),
                        Value::String(s) => {
                            s.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
                        }
                        _ => Vec::new(),
                    }
                }
                "username" => entry.username = value.as_str().map(String::from),
                "password" => entry.password = value.as_str().map(String::from),
                "ssl.verification_mode" => entry.verification_mode = value.as_str().map(String::from),
                "ssl.certificate_authorities" => {
                    entry.certificate_authorities = match value {
                        Value::Array(items) => items.iter().filter_map(|v| v.as_str().map(String::from)).collect(),
                        Value::String(s) => vec![s.clone()],
                        _ => Vec::new(),
                    }
                }
                _ => {}
            }
        }
    }
    out.retain(|_, r| !r.seeds.is_empty());
    out
}

// ---------------------------------------------------------------------------------------------
// Request parsing
// ---------------------------------------------------------------------------------------------

pub fn parse_error(what: &str, reason: String) -> EsError {
    EsError::new(ErrorKind::XContentParse, format!("[{what}] {reason}"))
}

fn as_bool(what: &str, key: &str, v: &Value) -> Result<bool, EsError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s == "true" || s == "false" => Ok(s == "true"),
        other => {
            Err(parse_error(what, format!("failed to parse field [{key}]: expected a boolean but found [{other}]")))
        }
    }
}

fn as_string(what: &str, key: &str, v: &Value) -> Result<String, EsError> {
    v.as_str()
        .map(String::from)
        .ok_or_else(|| parse_error(what, format!("failed to parse field [{key}]: expected a string but found [{v}]")))
}

/// A string, a comma list or an array of strings.
fn as_string_list(what: &str, key: &str, v: &Value) -> Result<Vec<String>, EsError> {
    let items: Vec<String> = match v {
        Value::String(s) => s.split(',').map(|s| s.trim().to_string()).collect(),
        Value::Array(a) => a.iter().map(|x| as_string(what, key, x)).collect::<Result<_, _>>()?,
        other => {
            return Err(parse_error(
                what,
                format!("failed to parse field [{key}]: expected a string or an array but found [{other}]"),
            ));
        }
    };
    Ok(items.into_iter().filter(|s| !s.is_empty()).collect())
}

/// Parses the option fields; returns the fields it did not consume.
fn parse_options(what: &str, body: &Map<String, Value>, rest: &mut Vec<String>) -> Result<SyncOptions, EsError> {
    let mut o = SyncOptions::default();
    for (k, v) in body {
        match k.as_str() {
            "settings" => {
                let flat = tern_cluster::settings::parse_index_settings(v).map_err(EsError::from)?;
                for key in flat.keys() {
                    if NOT_OVERRIDABLE.contains(&key.as_str()) {
                        return Err(EsError::illegal_argument(format!(
                            "setting [{key}] cannot be overridden on a remote sync follower: it is always the leader's"
                        )));
                    }
                }
                o.settings = flat;
            }
            "settings_sync_enable" => o.settings_sync_enable = as_bool(what, k, v)?,
            "settings_sync_patterns" => o.settings_sync_patterns = as_string_list(what, k, v)?,
            "settings_sync_exclude_patterns" => {
                o.settings_sync_exclude_patterns = if v.is_null() { Vec::new() } else { as_string_list(what, k, v)? }
            }
            "alias_sync_enable" => o.alias_sync_enable = as_bool(what, k, v)?,
            "state_sync_enable" => o.state_sync_enable = as_bool(what, k, v)?,
            _ => rest.push(k.clone()),
        }
    }
    if o.settings_sync_patterns.is_empty() {
        o.settings_sync_patterns = default_patterns();
    }
    Ok(o)
}

fn required(what: &str, body: &Map<String, Value>, key: &str) -> Result<String, EsError> {
    match body.get(key) {
        None | Some(Value::Null) => Err(EsError::validation(&[format!("[{key}] is missing")])),
        Some(v) => {
            let s = as_string(what, key, v)?;
            if s.is_empty() {
                return Err(EsError::validation(&[format!("[{key}] is missing")]));
            }
            Ok(s)
        }
    }
}

fn object<'a>(what: &str, body: &'a Value) -> Result<&'a Map<String, Value>, EsError> {
    body.as_object().ok_or_else(|| parse_error(what, format!("expected an object but found [{body}]")))
}

/// `PUT start_remote_sync`.
pub fn parse_start(body: &Value) -> Result<FollowSpec, EsError> {
    const WHAT: &str = "start_remote_sync";
    let obj = object(WHAT, body)?;
    let mut rest = Vec::new();
    let options = parse_options(WHAT, obj, &mut rest)?;
    for k in rest {
        if !matches!(k.as_str(), "remote_cluster" | "remote_index" | "local_index") {
            return Err(parse_error(WHAT, format!("unknown field [{k}]")));
        }
    }
    let spec = FollowSpec {
        remote_cluster: required(WHAT, obj, "remote_cluster")?,
        remote_index: required(WHAT, obj, "remote_index")?,
        local_index: required(WHAT, obj, "local_index")?,
        options,
        pattern: None,
    };
    if spec.remote_index.contains(['*', ',']) {
        return Err(EsError::illegal_argument(format!(
            "[remote_index] must name one index, not [{}]; use auto_sync/pattern for wildcards",
            spec.remote_index
        )));
    }
    tern_cluster::validate_index_name(&spec.local_index).map_err(EsError::from)?;
    Ok(spec)
}

/// `PUT auto_sync/pattern/{name}`.
pub fn parse_pattern(name: &str, body: &Value) -> Result<PatternSpec, EsError> {
    const WHAT: &str = "auto_sync_pattern";
    if name.is_empty() || name.starts_with('_') || name.contains([',', '*', '/', ' ']) {
        return Err(EsError::illegal_argument(format!("invalid auto sync pattern name [{name}]")));
    }
    let obj = object(WHAT, body)?;
    let mut rest = Vec::new();
    let options = parse_options(WHAT, obj, &mut rest)?;
    let mut apply_exist_index = true;
    let mut remote_index_patterns = Vec::new();
    for k in rest {
        match k.as_str() {
            "remote_cluster" | "local_index_pattern" => {}
            "remote_index_patterns" => remote_index_patterns = as_string_list(WHAT, &k, &obj[&k])?,
            "apply_exist_index" => apply_exist_index = as_bool(WHAT, &k, &obj[&k])?,
            _ => return Err(parse_error(WHAT, format!("unknown field [{k}]"))),
        }
    }
    if remote_index_patterns.is_empty() {
        return Err(EsError::validation(&["[remote_index_patterns] is missing".to_string()]));
    }
    for p in &remote_index_patterns {
        if p.starts_with('-') || p.contains([' ', '"', '\\', '/', '?', '<', '>', '|']) {
            return Err(EsError::illegal_argument(format!("invalid remote index pattern [{p}]")));
        }
    }
    let spec = PatternSpec {
        remote_cluster: required(WHAT, obj, "remote_cluster")?,
        remote_index_patterns,
        local_index_pattern: required(WHAT, obj, "local_index_pattern")?,
        apply_exist_index,
        options,
        skip: BTreeSet::new(),
        initialized: false,
    };
    // The pattern must make valid index names: try it on a plain name.
    tern_cluster::validate_index_name(&spec.local_name("leader-index")).map_err(|e| {
        EsError::illegal_argument(format!(
            "[local_index_pattern] [{}] does not make valid index names: {e}",
            spec.local_index_pattern
        ))
    })?;
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn start_request_defaults_and_validation() {
        let s = parse_start(&json!({"remote_cluster":"leader1","remote_index":"a","local_index":"b"})).unwrap();
        assert_eq!(s.options, SyncOptions::default());
        assert_eq!(s.options.settings_sync_patterns, vec!["*"]);
        let e = parse_start(
            &json!({"remote_cluster":"l","remote_index":"a","local_index":"b","settings":{"number_of_shards":3}}),
        )
        .unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(e.reason.contains("index.number_of_shards"), "{}", e.reason);
        let e = parse_start(&json!({"remote_cluster":"l","remote_index":"a","local_index":"BAD"})).unwrap_err();
        assert_eq!(e.es_type(), "invalid_index_name_exception");
        let e = parse_start(&json!({"remote_cluster":"l","remote_index":"a","local_index":"b","bogus":1})).unwrap_err();
        assert!(e.reason.contains("unknown field [bogus]"));
        let e = parse_start(&json!({"remote_index":"a","local_index":"b"})).unwrap_err();
        assert_eq!(e.es_type(), "action_request_validation_exception");
    }

    #[test]
    fn settings_sync_patterns_and_excludes() {
        let o = SyncOptions {
            settings_sync_enable: true,
            settings_sync_exclude_patterns: vec!["index.routing.allocation.*".into()],
            settings: [("index.refresh_interval".to_string(), json!("5s"))].into_iter().collect(),
            ..Default::default()
        };
        assert!(o.syncs_setting("index.max_result_window"));
        assert!(!o.syncs_setting("index.routing.allocation.include._name"));
        assert!(!o.syncs_setting("index.refresh_interval"), "given in settings: the follower's own value wins");
        assert!(!o.syncs_setting("index.number_of_replicas"));
        assert!(!o.syncs_setting("index.blocks.write"));
        assert!(!SyncOptions::default().syncs_setting("index.max_result_window"), "off by default");
    }

    #[test]
    fn pattern_names_local_indices() {
        let p = parse_pattern(
            "p1",
            &json!({"remote_cluster":"leader1","remote_index_patterns":"log*","local_index_pattern":"{{remote_index}}-sync"}),
        )
        .unwrap();
        assert!(p.apply_exist_index);
        assert_eq!(p.remote_index_patterns, vec!["log*"]);
        assert!(p.matches("log1") && !p.matches("data"));
        assert_eq!(p.local_name("log1"), "log1-sync");
        let e = parse_pattern(
            "p1",
            &json!({"remote_cluster":"l","remote_index_patterns":"log*","local_index_pattern":"{{remote_index}}-SYNC"}),
        )
        .unwrap_err();
        assert_eq!(e.status(), 400);
    }

    #[test]
    fn remotes_come_from_cluster_settings() {
        let mut meta = ClusterMetadata::new("u");
        meta.persistent_settings
            .insert("cluster.remote.rest.leader1.seeds".into(), json!(["http://a:9200", "http://b:9200"]));
        meta.persistent_settings.insert("cluster.remote.rest.leader1.username".into(), json!("elastic"));
        meta.persistent_settings.insert("cluster.remote.rest.leader1.password".into(), json!("pw"));
        let r = remotes(&meta);
        assert_eq!(r["leader1"].seeds.len(), 2);
        assert_eq!(r["leader1"].password.as_deref(), Some("pw"));
    }
}
