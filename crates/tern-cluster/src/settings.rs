//! Index settings: the flat `index.*` map ES shows, input normalisation, validation against the known
//! settings, and typed accessors.
//!
//! ES keeps every setting as a string (or a list of strings) under its full dotted key and only parses
//! it when a component asks. tern does the same: [`IndexSettings`] is the flat map, validated once on
//! the way in (so the typed accessors can fall back to defaults instead of failing), and rendered
//! either flat (`flat_settings=true`) or nested (the default).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ClusterError;
use crate::routing::{MAX_NUMBER_OF_SHARDS, default_routing_num_shards};
use crate::wildcard::{is_wildcard, wildcard_match};

/// Settings under their full dotted keys, values as ES strings (or lists of strings). `Value::Null`
/// only appears in update requests, where it means "reset to default".
pub type FlatSettings = BTreeMap<String, Value>;

/// The `index.version.created` tern stamps on new indices (ES 8.11's index version `8_500_003`).
pub const INDEX_VERSION_CREATED: &str = "8500003";

pub const SETTING_NUMBER_OF_SHARDS: &str = "index.number_of_shards";
pub const SETTING_NUMBER_OF_REPLICAS: &str = "index.number_of_replicas";
pub const SETTING_NUMBER_OF_ROUTING_SHARDS: &str = "index.number_of_routing_shards";
pub const SETTING_ROUTING_PARTITION_SIZE: &str = "index.routing_partition_size";
pub const SETTING_UUID: &str = "index.uuid";
pub const SETTING_VERSION_CREATED: &str = "index.version.created";
pub const SETTING_CREATION_DATE: &str = "index.creation_date";
pub const SETTING_PROVIDED_NAME: &str = "index.provided_name";
pub const SETTING_HIDDEN: &str = "index.hidden";
pub const SETTING_REFRESH_INTERVAL: &str = "index.refresh_interval";
pub const SETTING_TIER_PREFERENCE: &str = "index.routing.allocation.include._tier_preference";

// ---------------------------------------------------------------------------------------------
// Input normalisation and rendering
// ---------------------------------------------------------------------------------------------

/// ES's string form of one setting value: strings as-is, numbers and booleans printed, lists as lists
/// of strings, `null` kept (it means "reset" in updates).
fn setting_value(value: &Value) -> Value {
    match value {
        Value::Null => Value::Null,
        Value::String(s) => Value::String(s.clone()),
        Value::Bool(b) => Value::String(b.to_string()),
        Value::Number(n) => Value::String(n.to_string()),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .filter(|v| !v.is_null())
                .map(|v| match v {
                    Value::String(s) => Value::String(s.clone()),
                    other => Value::String(other.to_string().trim_matches('"').to_string()),
                })
                .collect(),
        ),
        Value::Object(_) => Value::String(value.to_string()),
    }
}

fn flatten_into(prefix: &str, value: &Value, out: &mut FlatSettings) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten_into(&key, v, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), setting_value(other));
        }
    }
}

/// Flattens nested (`{"index":{"number_of_shards":3}}`) or flat (`{"index.number_of_shards":3}`) input,
/// or any mix, into dotted keys with ES string values. `null` input is an empty map.
pub fn flatten_settings(value: &Value) -> Result<FlatSettings, ClusterError> {
    let mut out = FlatSettings::new();
    match value {
        Value::Null => {}
        Value::Object(map) => {
            for (k, v) in map {
                flatten_into(k, v, &mut out);
            }
        }
        other => {
            return Err(ClusterError::illegal_argument(format!(
                "malformed settings section, expected an object but found [{other}]"
            )));
        }
    }
    Ok(out)
}

/// Adds the `index.` prefix to keys that lack it (ES's `Settings.Builder.normalizePrefix("index.")`),
/// so the short form `number_of_shards` means `index.number_of_shards`.
pub fn normalize_index_prefix(flat: FlatSettings) -> FlatSettings {
    flat.into_iter().map(|(k, v)| if k.starts_with("index.") { (k, v) } else { (format!("index.{k}"), v) }).collect()
}

/// Flattens and normalises an index settings section from a request.
pub fn parse_index_settings(value: &Value) -> Result<FlatSettings, ClusterError> {
    Ok(normalize_index_prefix(flatten_settings(value)?))
}

/// The flat rendering: `{"index.number_of_shards":"1", ...}`.
pub fn flat_settings_json(flat: &FlatSettings) -> Value {
    Value::Object(flat.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

/// The nested rendering ES uses by default: `{"index":{"number_of_shards":"1", ...}}`. A key that
/// collides with a value on its path (`a.b` = x and `a.b.c` = y) keeps its remaining dotted suffix.
pub fn nest_settings(flat: &FlatSettings) -> Value {
    let mut root = Map::new();
    for (key, value) in flat {
        insert_nested(&mut root, key, value.clone());
    }
    Value::Object(root)
}

fn insert_nested(obj: &mut Map<String, Value>, key: &str, value: Value) {
    match key.split_once('.') {
        None => {
            obj.insert(key.to_string(), value);
        }
        Some((head, rest)) => {
            let slot = obj.entry(head.to_string()).or_insert_with(|| Value::Object(Map::new()));
            match slot {
                Value::Object(child) => insert_nested(child, rest, value),
                _ => {
                    obj.insert(key.to_string(), value);
                }
            }
        }
    }
}

/// A value as ES would print it inside a message (`[a, b]` for lists).
pub(crate) fn display_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => format!("[{}]", items.iter().map(display_value).collect::<Vec<_>>().join(", ")),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Value parsers with ES's messages
// ---------------------------------------------------------------------------------------------

/// ES's strict boolean: only `true` and `false`.
pub fn parse_bool(value: &str) -> Result<bool, ClusterError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(ClusterError::illegal_argument(format!(
            "Failed to parse value [{other}] as only [true] or [false] are allowed."
        ))),
    }
}

/// Parses an integer setting with ES's `Setting.parseInt`/`parseLong` messages.
pub fn parse_int_setting(value: &str, key: &str, min: i64, max: i64) -> Result<i64, ClusterError> {
    let not_a_number =
        || ClusterError::illegal_argument(format!("Failed to parse value [{value}] for setting [{key}]"));
    let parsed: i64 = value.parse().map_err(|_| not_a_number())?;
    if max <= i64::from(i32::MAX) && (parsed > i64::from(i32::MAX) || parsed < i64::from(i32::MIN)) {
        return Err(not_a_number());
    }
    if parsed < min {
        return Err(ClusterError::illegal_argument(format!(
            "Failed to parse value [{value}] for setting [{key}] must be >= {min}"
        )));
    }
    if parsed > max {
        return Err(ClusterError::illegal_argument(format!(
            "Failed to parse value [{value}] for setting [{key}] must be <= {max}"
        )));
    }
    Ok(parsed)
}

/// Parses an ES time value (`nanos`, `micros`, `ms`, `s`, `m`, `h`, `d`; `0` and `-1` without unit).
/// `Ok(None)` is `-1` (disabled, e.g. `refresh_interval: -1`).
pub fn parse_time_value(value: &str, setting: &str) -> Result<Option<Duration>, ClusterError> {
    let normalized = value.trim().to_lowercase();
    if normalized == "-1" {
        return Ok(None);
    }
    if normalized == "0" {
        return Ok(Some(Duration::ZERO));
    }
    let units: [(&str, f64); 7] =
        [("nanos", 1e-9), ("micros", 1e-6), ("ms", 1e-3), ("s", 1.0), ("m", 60.0), ("h", 3600.0), ("d", 86400.0)];
    let Some((number, seconds_per_unit)) =
        units.iter().find_map(|(suffix, factor)| normalized.strip_suffix(suffix).map(|n| (n.trim(), *factor)))
    else {
        return Err(ClusterError::illegal_argument(format!(
            "failed to parse setting [{setting}] with value [{value}] as a time value: unit is missing or unrecognized"
        )));
    };
    let amount: f64 = number
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite())
        .ok_or_else(|| ClusterError::illegal_argument(format!("failed to parse [{value}]")))?;
    if amount < 0.0 {
        if amount == -1.0 {
            return Ok(None);
        }
        return Err(ClusterError::illegal_argument(format!(
            "failed to parse setting [{setting}] with value [{value}] as a time value: negative durations are not supported"
        )));
    }
    let secs = amount * seconds_per_unit;
    if secs > 1e15 {
        return Err(ClusterError::illegal_argument(format!("failed to parse [{value}]")));
    }
    Ok(Some(Duration::from_secs_f64(secs)))
}

/// Parses an ES byte size (`b`, `kb`, `mb`, `gb`, `tb`, `pb`, also `k`/`m`/`g`/`t`/`p`); `-1` is
/// returned as `-1`.
pub fn parse_byte_size(value: &str, setting: &str) -> Result<i64, ClusterError> {
    let normalized = value.trim().to_lowercase();
    if normalized == "-1" {
        return Ok(-1);
    }
    if normalized == "0" {
        return Ok(0);
    }
    let units: [(&str, f64); 11] = [
        ("pb", 1024f64.powi(5)),
        ("tb", 1024f64.powi(4)),
        ("gb", 1024f64.powi(3)),
        ("mb", 1024f64.powi(2)),
        ("kb", 1024.0),
        ("p", 1024f64.powi(5)),
        ("t", 1024f64.powi(4)),
        ("g", 1024f64.powi(3)),
        ("m", 1024f64.powi(2)),
        ("k", 1024.0),
        ("b", 1.0),
    ];
    let unrecognized = || {
        ClusterError::illegal_argument(format!(
            "failed to parse setting [{setting}] with value [{value}] as a size in bytes: unit is missing or unrecognized"
        ))
    };
    let (number, factor) = units
        .iter()
        .find_map(|(suffix, factor)| normalized.strip_suffix(suffix).map(|n| (n.trim(), *factor)))
        .ok_or_else(unrecognized)?;
    let amount: f64 = number
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n >= 0.0)
        .ok_or_else(|| ClusterError::illegal_argument(format!("failed to parse [{value}]")))?;
    let bytes = amount * factor;
    if bytes > i64::MAX as f64 {
        return Err(ClusterError::illegal_argument(format!("failed to parse [{value}]")));
    }
    Ok(bytes as i64)
}

/// `index.auto_expand_replicas`: `0-1`, `0-all`, `1-5`; `false` disables it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoExpandReplicas {
    pub min: u32,
    /// `None` means `all`.
    pub max: Option<u32>,
}

/// Parses `index.auto_expand_replicas` with ES's messages; `Ok(None)` is `false`.
pub fn parse_auto_expand_replicas(value: &str) -> Result<Option<AutoExpandReplicas>, ClusterError> {
    if value == "false" {
        return Ok(None);
    }
    let key = "index.auto_expand_replicas";
    let Some(dash) = value.find('-') else {
        return Err(ClusterError::illegal_argument(format!(
            "failed to parse [{key}] from value: [{value}] at index -1"
        )));
    };
    let bad =
        || ClusterError::illegal_argument(format!("failed to parse [{key}] from value: [{value}] at index {dash}"));
    let min: u32 = value[..dash].parse().map_err(|_| bad())?;
    let max_text = &value[dash + 1..];
    let max = if max_text == "all" { None } else { Some(max_text.parse::<u32>().map_err(|_| bad())?) };
    if let Some(max) = max
        && min > max
    {
        return Err(ClusterError::illegal_argument(format!(
            "[{key}] minReplicas must be =< maxReplicas but wasn't {min} > {max}"
        )));
    }
    Ok(Some(AutoExpandReplicas { min, max }))
}

// ---------------------------------------------------------------------------------------------
// Known settings
// ---------------------------------------------------------------------------------------------

/// How a setting's value is validated.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Int {
        min: i64,
        max: i64,
    },
    Long {
        min: i64,
    },
    Bool,
    /// A time value; `allow_minus_one` accepts `-1`; `min` is a lower bound in milliseconds.
    Time {
        allow_minus_one: bool,
        min_millis: u64,
    },
    Bytes {
        min: i64,
    },
    /// One of these values, compared case-insensitively.
    Enum(&'static [&'static str]),
    AutoExpand,
    ActiveShards,
    Any,
}

const INT_MAX: i64 = i32::MAX as i64;

fn int(min: i64) -> Kind {
    Kind::Int { min, max: INT_MAX }
}

/// A known setting.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SettingDef {
    pub key: &'static str,
    pub kind: Kind,
    pub dynamic: bool,
    /// A final setting can never change after creation, not even on a closed index.
    pub is_final: bool,
    /// Managed by the node (uuid, creation date...): users cannot update it.
    pub private: bool,
    /// The default ES reports with `include_defaults`.
    pub default: Option<&'static str>,
}

const fn def(key: &'static str, kind: Kind, dynamic: bool, default: Option<&'static str>) -> SettingDef {
    SettingDef { key, kind, dynamic, is_final: false, private: false, default }
}

const fn final_def(key: &'static str, kind: Kind, default: Option<&'static str>) -> SettingDef {
    SettingDef { key, kind, dynamic: false, is_final: true, private: false, default }
}

const fn private_def(key: &'static str, kind: Kind) -> SettingDef {
    SettingDef { key, kind, dynamic: false, is_final: true, private: true, default: None }
}

fn index_setting_defs() -> Vec<SettingDef> {
    let time = Kind::Time { allow_minus_one: false, min_millis: 0 };
    vec![
        final_def(SETTING_NUMBER_OF_SHARDS, Kind::Int { min: 1, max: i64::from(MAX_NUMBER_OF_SHARDS) }, Some("1")),
        def(SETTING_NUMBER_OF_REPLICAS, int(0), true, Some("1")),
        final_def(SETTING_NUMBER_OF_ROUTING_SHARDS, int(1), None),
        final_def(SETTING_ROUTING_PARTITION_SIZE, int(1), Some("1")),
        def(SETTING_REFRESH_INTERVAL, Kind::Time { allow_minus_one: true, min_millis: 0 }, true, Some("1s")),
        def("index.max_result_window", int(1), true, Some("10000")),
        def("index.max_inner_result_window", int(1), true, Some("100")),
        def("index.max_rescore_window", int(1), true, Some("10000")),
        def("index.max_docvalue_fields_search", int(0), true, Some("100")),
        def("index.max_script_fields", int(0), true, Some("32")),
        def("index.max_ngram_diff", int(0), true, Some("1")),
        def("index.max_shingle_diff", int(0), true, Some("3")),
        def("index.max_refresh_listeners", int(0), true, Some("1000")),
        def("index.max_terms_count", int(1), true, Some("65536")),
        def("index.max_regex_length", int(1), true, Some("1000")),
        def("index.max_slices_per_scroll", int(1), true, Some("1024")),
        def("index.translog.durability", Kind::Enum(&["request", "async"]), true, Some("REQUEST")),
        def("index.query_string.lenient", Kind::Bool, true, None),
        def("index.analyze.max_token_count", Kind::Int { min: 1, max: i32::MAX as i64 }, true, Some("10000")),
        def("index.translog.sync_interval", Kind::Time { allow_minus_one: false, min_millis: 100 }, true, Some("5s")),
        def("index.translog.flush_threshold_size", Kind::Bytes { min: 0 }, true, Some("512mb")),
        def("index.blocks.read_only", Kind::Bool, true, Some("false")),
        def("index.blocks.read", Kind::Bool, true, Some("false")),
        def("index.blocks.write", Kind::Bool, true, Some("false")),
        def("index.blocks.metadata", Kind::Bool, true, Some("false")),
        def("index.blocks.read_only_allow_delete", Kind::Bool, true, Some("false")),
        def(SETTING_HIDDEN, Kind::Bool, true, Some("false")),
        def("index.auto_expand_replicas", Kind::AutoExpand, true, Some("false")),
        private_def(SETTING_UUID, Kind::Any),
        private_def(SETTING_VERSION_CREATED, Kind::Any),
        private_def(SETTING_CREATION_DATE, Kind::Long { min: -1 }),
        private_def(SETTING_PROVIDED_NAME, Kind::Any),
        def("index.codec", Kind::Any, false, Some("default")),
        def("index.search.idle.after", time, true, Some("30s")),
        def("index.gc_deletes", time, true, Some("60s")),
        def("index.write.wait_for_active_shards", Kind::ActiveShards, true, Some("1")),
        def("index.priority", int(0), true, Some("1")),
        def("index.query.default_field", Kind::Any, true, Some("*")),
        def("index.mapping.total_fields.limit", int(0), true, Some("1000")),
        def("index.mapping.depth.limit", int(1), true, Some("20")),
        def("index.mapping.nested_fields.limit", int(0), true, Some("50")),
        def("index.mapping.nested_objects.limit", int(0), true, Some("10000")),
        def("index.mapping.field_name_length.limit", Kind::Long { min: 1 }, true, Some("9223372036854775807")),
        def("index.mapping.total_fields.ignore_dynamic_beyond_limit", Kind::Bool, true, Some("false")),
        def("index.mapping.ignore_malformed", Kind::Bool, false, Some("false")),
        def("index.mapping.coerce", Kind::Bool, false, Some("false")),
        def(
            "index.routing.allocation.enable",
            Kind::Enum(&["all", "primaries", "new_primaries", "none"]),
            true,
            Some("all"),
        ),
        def("index.routing.rebalance.enable", Kind::Enum(&["all", "primaries", "replicas", "none"]), true, Some("all")),
        def("index.routing.allocation.total_shards_per_node", int(-1), true, Some("-1")),
        def("index.unassigned.node_left.delayed_timeout", time, true, Some("1m")),
        def("index.highlight.max_analyzed_offset", int(1), true, Some("1000000")),
        def("index.highlight.weight_matches_mode.enabled", Kind::Bool, true, Some("true")),
        def("index.default_pipeline", Kind::Any, true, Some("_none")),
        def("index.final_pipeline", Kind::Any, true, Some("_none")),
        final_def("index.soft_deletes.enabled", Kind::Bool, Some("true")),
        def("index.merge.enabled", Kind::Bool, true, Some("true")),
        def(
            "index.remote_sync.sync_interval",
            Kind::Time { allow_minus_one: false, min_millis: 1000 },
            true,
            Some("30s"),
        ),
    ]
}

/// Group settings accepted under a prefix: `(prefix, dynamic)`.
const INDEX_PREFIXES: &[(&str, bool)] = &[
    ("index.routing.allocation.", true),
    ("index.analysis.", false),
    ("index.similarity.", false),
    ("index.mapping.", true),
    ("index.max_", true),
    ("index.translog.", true),
    ("index.remote_sync.", true),
    ("index.search.slowlog.", true),
    ("index.indexing.slowlog.", true),
];

/// What the node knows about one index setting key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KnownSetting {
    pub kind: Kind,
    pub dynamic: bool,
    pub is_final: bool,
    pub private: bool,
}

fn lookup_in(defs: &[SettingDef], prefixes: &[(&str, bool)], key: &str) -> Option<KnownSetting> {
    if let Some(d) = defs.iter().find(|d| d.key == key) {
        return Some(KnownSetting { kind: d.kind, dynamic: d.dynamic, is_final: d.is_final, private: d.private });
    }
    prefixes.iter().find(|(p, _)| key.starts_with(p) && key.len() > p.len()).map(|(_, dynamic)| KnownSetting {
        kind: Kind::Any,
        dynamic: *dynamic,
        is_final: false,
        private: false,
    })
}

pub(crate) fn lookup_index_setting(key: &str) -> Option<KnownSetting> {
    lookup_in(&index_setting_defs(), INDEX_PREFIXES, key)
}

/// Lucene's `LevenshteinDistance.getDistance`: `1 - edits / max(len)`.
fn similarity(target: &str, other: &str) -> f32 {
    let a: Vec<char> = target.chars().collect();
    let b: Vec<char> = other.chars().collect();
    if a.is_empty() || b.is_empty() {
        return if a.len() == b.len() { 1.0 } else { 0.0 };
    }
    let mut prev: Vec<usize> = (0..=a.len()).collect();
    let mut cur = vec![0usize; a.len() + 1];
    for (j, cb) in b.iter().enumerate() {
        cur[0] = j + 1;
        for i in 1..=a.len() {
            let cost = usize::from(a[i - 1] != *cb);
            cur[i] = (cur[i - 1] + 1).min(prev[i] + 1).min(prev[i - 1] + cost);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    1.0 - (prev[a.len()] as f32 / a.len().max(b.len()) as f32)
}

/// ES's "unknown setting" message, with its "did you mean" suggestions.
pub(crate) fn unknown_setting_error(key: &str, known_keys: &[&str]) -> ClusterError {
    let mut scored: Vec<(f32, &str)> =
        known_keys.iter().map(|k| (similarity(key, k), *k)).filter(|(d, _)| *d > 0.7).collect();
    scored.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
    let mut msg = format!("unknown setting [{key}]");
    if scored.is_empty() {
        msg.push_str(
            " please check that any required plugins are installed, or check the breaking changes documentation for removed settings",
        );
    } else {
        let names: Vec<&str> = scored.iter().map(|(_, k)| *k).collect();
        msg.push_str(&format!(" did you mean [{}]?", names.join(", ")));
    }
    ClusterError::IllegalArgument(msg)
}

pub(crate) fn index_unknown_setting_error(key: &str) -> ClusterError {
    let defs = index_setting_defs();
    let keys: Vec<&str> = defs.iter().map(|d| d.key).collect();
    unknown_setting_error(key, &keys)
}

/// Validates one value against its kind, with ES's messages.
pub(crate) fn validate_value(key: &str, kind: Kind, value: &Value) -> Result<(), ClusterError> {
    if matches!(kind, Kind::Any) || value.is_null() {
        return Ok(());
    }
    let text = display_value(value);
    match kind {
        Kind::Any => Ok(()),
        Kind::Int { min, max } => parse_int_setting(&text, key, min, max).map(|_| ()),
        Kind::Long { min } => parse_int_setting(&text, key, min, i64::MAX).map(|_| ()),
        Kind::Bool => parse_bool(&text).map(|_| ()),
        Kind::Time { allow_minus_one, min_millis } => match parse_time_value(&text, key)? {
            None if allow_minus_one => Ok(()),
            None => Err(ClusterError::illegal_argument(format!(
                "failed to parse value [{text}] for setting [{key}], must be >= [{}]",
                format_millis(min_millis)
            ))),
            Some(d) if (d.as_millis() as u64) < min_millis => Err(ClusterError::illegal_argument(format!(
                "failed to parse value [{text}] for setting [{key}], must be >= [{}]",
                format_millis(min_millis)
            ))),
            Some(_) => Ok(()),
        },
        Kind::Bytes { min } => {
            let bytes = parse_byte_size(&text, key)?;
            if bytes < min {
                return Err(ClusterError::illegal_argument(format!(
                    "failed to parse value [{text}] for setting [{key}], must be >= [{}]",
                    format_bytes(min)
                )));
            }
            Ok(())
        }
        Kind::Enum(values) => {
            if values.iter().any(|v| v.eq_ignore_ascii_case(&text)) {
                Ok(())
            } else if key == "index.translog.durability" {
                Err(ClusterError::illegal_argument(format!(
                    "No enum constant org.elasticsearch.index.translog.Translog.Durability.{}",
                    text.to_uppercase()
                )))
            } else if key.ends_with("allocation.enable") {
                Err(ClusterError::illegal_argument(format!(
                    "Illegal allocation.enable value [{}]",
                    text.to_uppercase()
                )))
            } else if key.ends_with("rebalance.enable") {
                Err(ClusterError::illegal_argument(format!("Illegal rebalance.enable value [{}]", text.to_uppercase())))
            } else {
                Err(ClusterError::illegal_argument(format!(
                    "Failed to parse value [{text}] for setting [{key}], expected one of [{}]",
                    values.join(", ")
                )))
            }
        }
        Kind::AutoExpand => parse_auto_expand_replicas(&text).map(|_| ()),
        Kind::ActiveShards => {
            if text.eq_ignore_ascii_case("all") {
                return Ok(());
            }
            match text.parse::<i32>() {
                Ok(n) if n >= 0 => Ok(()),
                Ok(_) => Err(ClusterError::illegal_argument(format!("Invalid value [{text}] for setting [{key}]"))),
                Err(_) => {
                    Err(ClusterError::illegal_argument(format!("Failed to parse value [{text}] for setting [{key}]")))
                }
            }
        }
    }
}

fn format_millis(millis: u64) -> String {
    if millis.is_multiple_of(1000) { format!("{}s", millis / 1000) } else { format!("{millis}ms") }
}

fn format_bytes(bytes: i64) -> String {
    const MB: i64 = 1024 * 1024;
    if bytes >= MB && bytes % MB == 0 { format!("{}mb", bytes / MB) } else { format!("{bytes}b") }
}

/// Checks every key of a flat index settings map is known and every value parses. Null values (resets)
/// and wildcard keys with null values pass the value check.
pub(crate) fn validate_index_settings(flat: &FlatSettings) -> Result<(), ClusterError> {
    for (key, value) in flat {
        if is_wildcard(key) && value.is_null() {
            continue;
        }
        let known = lookup_index_setting(key).ok_or_else(|| index_unknown_setting_error(key))?;
        validate_value(key, known.kind, value)?;
    }
    Ok(())
}

/// Checks that need several settings together (routing shards vs. shards).
pub(crate) fn cross_validate(flat: &FlatSettings) -> Result<(), ClusterError> {
    let settings = IndexSettings::from_flat(flat.clone());
    if let Some(rns) = flat.get(SETTING_NUMBER_OF_ROUTING_SHARDS).and_then(Value::as_str)
        && let Ok(rns) = rns.parse::<u32>()
    {
        let shards = settings.number_of_shards();
        if rns < shards {
            return Err(ClusterError::illegal_argument(format!(
                "index.number_of_routing_shards [{rns}] must be >= index.number_of_shards [{shards}]"
            )));
        }
        crate::routing::routing_factor(shards, rns)?;
    }
    let partition = settings.routing_partition_size();
    if partition > 1 && partition >= settings.routing_num_shards() {
        return Err(ClusterError::illegal_argument(format!(
            "routing partition size [{partition}] should be a positive number less than the number of routing shards [{}] for [{}]",
            settings.routing_num_shards(),
            settings.provided_name().unwrap_or_default()
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Typed view
// ---------------------------------------------------------------------------------------------

/// `index.translog.durability`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TranslogDurability {
    /// fsync before acknowledging every request (the default).
    Request,
    /// fsync in the background every `index.translog.sync_interval`.
    Async,
}

/// The `index.blocks.*` flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexBlocks {
    pub read_only: bool,
    pub read: bool,
    pub write: bool,
    pub metadata: bool,
    pub read_only_allow_delete: bool,
}

/// The settings of one index: ES's flat `index.*` map plus typed accessors.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IndexSettings {
    flat: FlatSettings,
}

impl IndexSettings {
    pub fn new() -> Self {
        Self::default()
    }

    /// Wraps an already validated flat map.
    pub fn from_flat(flat: FlatSettings) -> Self {
        IndexSettings { flat }
    }

    pub fn flat(&self) -> &FlatSettings {
        &self.flat
    }

    pub fn into_flat(self) -> FlatSettings {
        self.flat
    }

    pub(crate) fn flat_mut(&mut self) -> &mut FlatSettings {
        &mut self.flat
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.flat.get(key)
    }

    /// A scalar setting as a string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.flat.get(key).and_then(Value::as_str)
    }

    fn get_parsed<T: std::str::FromStr>(&self, key: &str) -> Option<T> {
        self.get_str(key).and_then(|s| s.parse().ok())
    }

    fn get_bool(&self, key: &str, default: bool) -> bool {
        self.get_str(key).and_then(|s| parse_bool(s).ok()).unwrap_or(default)
    }

    fn get_time(&self, key: &str, default: Duration) -> Option<Duration> {
        match self.get_str(key) {
            Some(s) => parse_time_value(s, key).unwrap_or(Some(default)),
            None => Some(default),
        }
    }

    /// `index.number_of_shards` (default 1).
    pub fn number_of_shards(&self) -> u32 {
        self.get_parsed::<u32>(SETTING_NUMBER_OF_SHARDS).filter(|n| *n >= 1).unwrap_or(1)
    }

    /// `index.number_of_replicas` (default 1).
    pub fn number_of_replicas(&self) -> u32 {
        self.get_parsed(SETTING_NUMBER_OF_REPLICAS).unwrap_or(1)
    }

    /// `index.number_of_routing_shards`, else ES's default `N << max(1, 10 - ceil(log2 N))`.
    pub fn routing_num_shards(&self) -> u32 {
        self.get_parsed::<u32>(SETTING_NUMBER_OF_ROUTING_SHARDS)
            .filter(|r| *r >= self.number_of_shards())
            .unwrap_or_else(|| default_routing_num_shards(self.number_of_shards()))
    }

    /// `index.routing_partition_size` (default 1: not partitioned).
    pub fn routing_partition_size(&self) -> u32 {
        self.get_parsed::<u32>(SETTING_ROUTING_PARTITION_SIZE).filter(|p| *p >= 1).unwrap_or(1)
    }

    /// `index.refresh_interval` (default 1s); `None` when refreshes are disabled (`-1`).
    pub fn refresh_interval(&self) -> Option<Duration> {
        self.get_time(SETTING_REFRESH_INTERVAL, Duration::from_secs(1))
    }

    /// Whether `index.refresh_interval` was set explicitly (ES only skips refreshes of search-idle
    /// shards when it was not).
    pub fn refresh_interval_is_explicit(&self) -> bool {
        self.flat.contains_key(SETTING_REFRESH_INTERVAL)
    }

    /// `index.max_result_window` (default 10000).
    pub fn max_result_window(&self) -> u64 {
        self.get_parsed("index.max_result_window").unwrap_or(10_000)
    }

    /// `index.max_rescore_window` (default 10,000).
    pub fn max_rescore_window(&self) -> u64 {
        self.get_parsed("index.max_rescore_window").unwrap_or(10_000)
    }

    /// `index.max_inner_result_window` (default 100).
    pub fn max_inner_result_window(&self) -> u64 {
        self.get_parsed("index.max_inner_result_window").unwrap_or(100)
    }

    /// `index.translog.durability` (default `request`).
    pub fn translog_durability(&self) -> TranslogDurability {
        match self.get_str("index.translog.durability") {
            Some(s) if s.eq_ignore_ascii_case("async") => TranslogDurability::Async,
            _ => TranslogDurability::Request,
        }
    }

    /// `index.translog.sync_interval` (default 5s).
    pub fn translog_sync_interval(&self) -> Duration {
        self.get_time("index.translog.sync_interval", Duration::from_secs(5)).unwrap_or(Duration::from_secs(5))
    }

    /// The `index.blocks.*` flags.
    pub fn blocks(&self) -> IndexBlocks {
        IndexBlocks {
            read_only: self.get_bool("index.blocks.read_only", false),
            read: self.get_bool("index.blocks.read", false),
            write: self.get_bool("index.blocks.write", false),
            metadata: self.get_bool("index.blocks.metadata", false),
            read_only_allow_delete: self.get_bool("index.blocks.read_only_allow_delete", false),
        }
    }

    /// `index.hidden` (default false).
    pub fn hidden(&self) -> bool {
        self.get_bool(SETTING_HIDDEN, false)
    }

    /// `index.auto_expand_replicas` (default disabled).
    pub fn auto_expand_replicas(&self) -> Option<AutoExpandReplicas> {
        self.get_str("index.auto_expand_replicas").and_then(|s| parse_auto_expand_replicas(s).ok().flatten())
    }

    /// `index.search.idle.after` (default 30s).
    pub fn search_idle_after(&self) -> Duration {
        self.get_time("index.search.idle.after", Duration::from_secs(30)).unwrap_or(Duration::from_secs(30))
    }

    /// `index.gc_deletes` (default 60s): how long delete tombstones keep their version.
    /// ES's `index.merge.enabled`: off for a copy whose files must stay identical to a source's.
    pub fn merges_enabled(&self) -> bool {
        self.get_bool("index.merge.enabled", true)
    }

    pub fn gc_deletes(&self) -> Duration {
        self.get_time("index.gc_deletes", Duration::from_secs(60)).unwrap_or(Duration::from_secs(60))
    }

    /// `index.codec` (default `default`).
    pub fn codec(&self) -> &str {
        self.get_str("index.codec").unwrap_or("default")
    }

    pub fn uuid(&self) -> Option<&str> {
        self.get_str(SETTING_UUID)
    }

    pub fn creation_date(&self) -> Option<i64> {
        self.get_parsed(SETTING_CREATION_DATE)
    }

    pub fn provided_name(&self) -> Option<&str> {
        self.get_str(SETTING_PROVIDED_NAME)
    }

    pub fn version_created(&self) -> Option<&str> {
        self.get_str(SETTING_VERSION_CREATED)
    }

    /// The `index.analysis.*` subtree, nested (`{"analyzer":{...},"filter":{...}}`), or `None`.
    pub fn analysis(&self) -> Option<Value> {
        let sub: FlatSettings = self
            .flat
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("index.analysis.").map(|rest| (rest.to_string(), v.clone())))
            .collect();
        if sub.is_empty() { None } else { Some(nest_settings(&sub)) }
    }

    /// The flat rendering (`flat_settings=true`).
    pub fn to_flat_json(&self) -> Value {
        flat_settings_json(&self.flat)
    }

    /// The nested rendering (ES's default for `GET _settings`).
    pub fn to_nested_json(&self) -> Value {
        nest_settings(&self.flat)
    }

    /// The defaults of the known settings this index does not set explicitly (`include_defaults`).
    pub fn defaults(&self) -> FlatSettings {
        index_setting_defs()
            .into_iter()
            .filter(|d| !self.flat.contains_key(d.key))
            .filter_map(|d| d.default.map(|v| (d.key.to_string(), Value::from(v))))
            .collect()
    }

    /// `defaults()` rendered flat or nested.
    pub fn defaults_json(&self, flat: bool) -> Value {
        let defaults = self.defaults();
        if flat { flat_settings_json(&defaults) } else { nest_settings(&defaults) }
    }

    /// ES's `GET {index}/_settings` body for this index: `{"settings":..}` plus `"defaults"` when asked.
    pub fn render(&self, flat: bool, include_defaults: bool) -> Value {
        let mut out = Map::new();
        out.insert("settings".into(), if flat { self.to_flat_json() } else { self.to_nested_json() });
        if include_defaults {
            out.insert("defaults".into(), self.defaults_json(flat));
        }
        Value::Object(out)
    }

    /// The subset whose keys match any of the patterns (`GET {index}/_settings/{name}`).
    pub fn filtered(&self, patterns: &[String]) -> IndexSettings {
        IndexSettings::from_flat(
            self.flat
                .iter()
                .filter(|(k, _)| patterns.iter().any(|p| wildcard_match(p, k)))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepts_nested_flat_and_short_forms() {
        let nested = parse_index_settings(&json!({"index": {"number_of_shards": 3}})).unwrap();
        let flat = parse_index_settings(&json!({"index.number_of_shards": 3})).unwrap();
        let short = parse_index_settings(&json!({"number_of_shards": "3"})).unwrap();
        assert_eq!(nested, flat);
        assert_eq!(flat, short);
        assert_eq!(nested["index.number_of_shards"], json!("3"));
    }

    #[test]
    fn values_become_strings_and_lists_stay_lists() {
        let s = parse_index_settings(&json!({
            "index": {"hidden": true, "analysis": {"filter": {"f": {"type": "stop", "stopwords": ["a", "b"]}}}}
        }))
        .unwrap();
        assert_eq!(s["index.hidden"], json!("true"));
        assert_eq!(s["index.analysis.filter.f.stopwords"], json!(["a", "b"]));
        let settings = IndexSettings::from_flat(s);
        assert_eq!(settings.analysis().unwrap(), json!({"filter": {"f": {"stopwords": ["a", "b"], "type": "stop"}}}));
    }

    #[test]
    fn nested_rendering() {
        let mut flat = FlatSettings::new();
        flat.insert("index.number_of_shards".into(), json!("1"));
        flat.insert("index.version.created".into(), json!("8500003"));
        flat.insert("index.routing.allocation.include._tier_preference".into(), json!("data_content"));
        let nested = nest_settings(&flat);
        assert_eq!(
            nested,
            json!({"index": {
                "number_of_shards": "1",
                "routing": {"allocation": {"include": {"_tier_preference": "data_content"}}},
                "version": {"created": "8500003"}
            }})
        );
    }

    #[test]
    fn nested_rendering_with_collisions_keeps_suffix() {
        let mut flat = FlatSettings::new();
        flat.insert("a.b".into(), json!("x"));
        flat.insert("a.b.c".into(), json!("y"));
        assert_eq!(nest_settings(&flat), json!({"a": {"b": "x", "b.c": "y"}}));
    }

    #[test]
    fn unknown_settings_like_es() {
        let err = validate_index_settings(&parse_index_settings(&json!({"index.foo": 1})).unwrap()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown setting [index.foo] please check that any required plugins are installed, or check the breaking changes documentation for removed settings"
        );
        assert_eq!(err.es_type(), "illegal_argument_exception");
        let err =
            validate_index_settings(&parse_index_settings(&json!({"index.number_of_shard": 1})).unwrap()).unwrap_err();
        assert_eq!(err.to_string(), "unknown setting [index.number_of_shard] did you mean [index.number_of_shards]?");
    }

    #[test]
    fn value_errors_like_es() {
        let check = |v: Value| {
            let flat = parse_index_settings(&v).unwrap();
            validate_index_settings(&flat).and_then(|()| cross_validate(&flat)).unwrap_err().to_string()
        };
        assert_eq!(
            check(json!({"number_of_shards": 0})),
            "Failed to parse value [0] for setting [index.number_of_shards] must be >= 1"
        );
        assert_eq!(
            check(json!({"number_of_shards": 2000})),
            "Failed to parse value [2000] for setting [index.number_of_shards] must be <= 1024"
        );
        assert_eq!(
            check(json!({"number_of_replicas": -1})),
            "Failed to parse value [-1] for setting [index.number_of_replicas] must be >= 0"
        );
        assert_eq!(
            check(json!({"number_of_replicas": "abc"})),
            "Failed to parse value [abc] for setting [index.number_of_replicas]"
        );
        assert_eq!(
            check(json!({"refresh_interval": "5"})),
            "failed to parse setting [index.refresh_interval] with value [5] as a time value: unit is missing or unrecognized"
        );
        assert_eq!(
            check(json!({"hidden": "yes"})),
            "Failed to parse value [yes] as only [true] or [false] are allowed."
        );
        assert_eq!(
            check(json!({"translog.durability": "sometimes"})),
            "No enum constant org.elasticsearch.index.translog.Translog.Durability.SOMETIMES"
        );
        assert_eq!(
            check(json!({"number_of_shards": 3, "number_of_routing_shards": 10})),
            "the number of source shards [3] must be a factor of [10]"
        );
        assert_eq!(
            check(json!({"routing.allocation.enable": "sometimes"})),
            "Illegal allocation.enable value [SOMETIMES]"
        );
        assert_eq!(
            check(json!({"auto_expand_replicas": "x"})),
            "failed to parse [index.auto_expand_replicas] from value: [x] at index -1"
        );
        assert!(
            validate_index_settings(
                &parse_index_settings(
                    &json!({"refresh_interval": "-1", "translog.durability": "ASYNC", "auto_expand_replicas": "0-all"})
                )
                .unwrap()
            )
            .is_ok()
        );
    }

    #[test]
    fn whitelisted_prefixes_pass() {
        let s = parse_index_settings(&json!({
            "index": {
                "routing": {"allocation": {"include": {"zone": "a"}}},
                "analysis": {"analyzer": {"my": {"type": "custom", "tokenizer": "standard"}}},
                "mapping": {"total_fields": {"limit": 2000}},
                "max_ngram_diff": 5,
                "search": {"idle": {"after": "10s"}},
                "gc_deletes": "30s",
                "translog": {"retention": {"size": "1gb"}},
                "write": {"wait_for_active_shards": "all"},
                "priority": 10,
                "remote_sync": {"sync_interval": "10s"},
                "codec": "best_compression"
            }
        }))
        .unwrap();
        validate_index_settings(&s).unwrap();
    }

    #[test]
    fn time_values() {
        assert_eq!(parse_time_value("1s", "k").unwrap(), Some(Duration::from_secs(1)));
        assert_eq!(parse_time_value("500ms", "k").unwrap(), Some(Duration::from_millis(500)));
        assert_eq!(parse_time_value("2m", "k").unwrap(), Some(Duration::from_secs(120)));
        assert_eq!(parse_time_value("1h", "k").unwrap(), Some(Duration::from_secs(3600)));
        assert_eq!(parse_time_value("1d", "k").unwrap(), Some(Duration::from_secs(86400)));
        assert_eq!(parse_time_value("10micros", "k").unwrap(), Some(Duration::from_micros(10)));
        assert_eq!(parse_time_value("10nanos", "k").unwrap(), Some(Duration::from_nanos(10)));
        assert_eq!(parse_time_value("1.5s", "k").unwrap(), Some(Duration::from_millis(1500)));
        assert_eq!(parse_time_value("-1", "k").unwrap(), None);
        assert_eq!(parse_time_value("0", "k").unwrap(), Some(Duration::ZERO));
        assert!(parse_time_value("-5s", "k").is_err());
        assert!(parse_time_value("abc", "k").is_err());
        assert_eq!(parse_time_value("xs", "k").unwrap_err().to_string(), "failed to parse [xs]");
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_byte_size("1kb", "k").unwrap(), 1024);
        assert_eq!(parse_byte_size("40MB", "k").unwrap(), 40 * 1024 * 1024);
        assert_eq!(parse_byte_size("1.5gb", "k").unwrap(), 1536 * 1024 * 1024);
        assert_eq!(parse_byte_size("100b", "k").unwrap(), 100);
        assert_eq!(parse_byte_size("-1", "k").unwrap(), -1);
        assert!(parse_byte_size("100", "k").is_err());
    }

    #[test]
    fn typed_accessors_and_defaults() {
        let s = IndexSettings::default();
        assert_eq!(s.number_of_shards(), 1);
        assert_eq!(s.number_of_replicas(), 1);
        assert_eq!(s.routing_num_shards(), 1024);
        assert_eq!(s.refresh_interval(), Some(Duration::from_secs(1)));
        assert!(!s.refresh_interval_is_explicit());
        assert_eq!(s.max_result_window(), 10_000);
        assert_eq!(s.translog_durability(), TranslogDurability::Request);
        assert_eq!(s.blocks(), IndexBlocks::default());
        assert!(!s.hidden());
        assert_eq!(s.auto_expand_replicas(), None);
        assert_eq!(s.search_idle_after(), Duration::from_secs(30));
        assert_eq!(s.gc_deletes(), Duration::from_secs(60));

        let s = IndexSettings::from_flat(
            parse_index_settings(&json!({
                "number_of_shards": 3, "number_of_replicas": 0, "refresh_interval": -1,
                "max_result_window": 50, "translog.durability": "async",
                "blocks": {"write": true}, "hidden": true, "auto_expand_replicas": "0-all",
                "number_of_routing_shards": 12
            }))
            .unwrap(),
        );
        assert_eq!(s.number_of_shards(), 3);
        assert_eq!(s.number_of_replicas(), 0);
        assert_eq!(s.routing_num_shards(), 12);
        assert_eq!(s.refresh_interval(), None);
        assert!(s.refresh_interval_is_explicit());
        assert_eq!(s.max_result_window(), 50);
        assert_eq!(s.translog_durability(), TranslogDurability::Async);
        assert!(s.blocks().write);
        assert!(s.hidden());
        assert_eq!(s.auto_expand_replicas(), Some(AutoExpandReplicas { min: 0, max: None }));
        let defaults = s.defaults();
        assert!(!defaults.contains_key("index.number_of_shards"));
        assert_eq!(defaults["index.max_inner_result_window"], json!("100"));
        let rendered = s.render(false, true);
        assert_eq!(rendered["settings"]["index"]["number_of_shards"], json!("3"));
        assert_eq!(rendered["defaults"]["index"]["gc_deletes"], json!("60s"));
        let flat = s.render(true, false);
        assert_eq!(flat["settings"]["index.number_of_shards"], json!("3"));
        assert!(flat.get("defaults").is_none());
    }

    #[test]
    fn similarity_matches_lucene() {
        assert!((similarity("abc", "abc") - 1.0).abs() < f32::EPSILON);
        assert!((similarity("abcd", "abce") - 0.75).abs() < 1e-6);
        assert_eq!(similarity("", "a"), 0.0);
    }
}
