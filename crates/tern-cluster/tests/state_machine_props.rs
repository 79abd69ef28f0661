//! Property tests: random command sequences never panic, keep the invariants, are deterministic,
//! and the state survives a serde_json round trip.

use proptest::prelude::*;
use serde_json::{Value, json};
use tern_cluster::{AliasAction, ClusterMetadata, IndicesOptions, MetadataCommand};

const VALID_NAMES: &[&str] = &["a", "b", "c", "logs-1", "logs-2", ".dot"];
const ODD_NAMES: &[&str] = &["BAD", "_bad", "missing"];
const PATTERNS: &[&str] = &["a*", "logs-*", "*", "_all", "x"];
const VALID_ALIASES: &[&str] = &["x", "y", "logs"];
const ODD_ALIASES: &[&str] = &["a", "x*", "_bad"];

/// An index name for creation: mostly valid, sometimes not.
fn index_name() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => prop::sample::select(VALID_NAMES),
        1 => prop::sample::select(ODD_NAMES),
    ]
    .prop_map(String::from)
}

/// An index expression: names, wildcards, aliases.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(VALID_NAMES),
        2 => prop::sample::select(PATTERNS),
        1 => prop::sample::select(ODD_NAMES),
    ]
    .prop_map(String::from)
}

fn alias() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(VALID_ALIASES),
        1 => prop::sample::select(ODD_ALIASES),
    ]
    .prop_map(String::from)
}

fn settings() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        (1u32..4).prop_map(|n| json!({"number_of_shards": n})),
        (0i64..3).prop_map(|n| json!({"index": {"number_of_replicas": n}})),
        Just(json!({"index.refresh_interval": "-1"})),
        Just(json!({"index.hidden": true})),
        Just(json!({"index.blocks.write": true})),
        Just(json!({"index.blocks.read_only": true})),
        Just(json!({"index.blocks.read_only": false, "index.blocks.write": false})),
        Just(json!({"index.analysis.analyzer.a.type": "standard"})),
        Just(json!({"index.unknown": 1})),
        Just(json!({"index.routing.allocation.*": null})),
        Just(json!({"number_of_shards": 0})),
    ]
}

fn options() -> impl Strategy<Value = Option<IndicesOptions>> {
    prop_oneof![
        Just(None),
        Just(Some(IndicesOptions::lenient_expand_open())),
        Just(Some(IndicesOptions::strict_expand_open_closed())),
    ]
}

fn alias_action() -> impl Strategy<Value = AliasAction> {
    prop_oneof![
        (name(), alias(), prop::option::of(any::<bool>()), prop::option::of(any::<bool>())).prop_map(|(i, a, w, h)| {
            AliasAction::Add {
                indices: vec![i],
                aliases: vec![a],
                filter: None,
                index_routing: None,
                search_routing: None,
                is_write_index: w,
                is_hidden: h,
            }
        }),
        (name(), alias(), prop::option::of(any::<bool>()))
            .prop_map(|(i, a, m)| { AliasAction::Remove { indices: vec![i], aliases: vec![a], must_exist: m } }),
        name().prop_map(|i| AliasAction::RemoveIndex { indices: vec![i] }),
    ]
}

fn command() -> impl Strategy<Value = MetadataCommand> {
    prop_oneof![
        3 => (index_name(), settings(), prop::option::of(alias())).prop_map(|(n, s, a)| MetadataCommand::CreateIndex {
            uuid: format!("uuid-{n}"),
            name: n,
            settings: s,
            mappings: json!({"properties": {"f": {"type": "keyword"}}}),
            aliases: a.map(|a| json!({ a: {} })).unwrap_or(Value::Null),
        }),
        1 => (name(), options()).prop_map(|(n, o)| MetadataCommand::DeleteIndices { names: vec![n], options: o }),
        1 => (name(), any::<bool>()).prop_map(|(n, b)| MetadataCommand::PutMapping {
            indices: vec![n],
            mappings: json!({"properties": {"g": {"type": if b { "long" } else { "text" }}}}),
            options: None,
        }),
        1 => (name(), settings(), any::<bool>(), options()).prop_map(|(n, s, p, o)| MetadataCommand::UpdateSettings {
            indices: vec![n],
            settings: s,
            preserve_existing: p,
            options: o,
        }),
        3 => prop::collection::vec(alias_action(), 0..3).prop_map(|actions| MetadataCommand::UpdateAliases { actions }),
        1 => (name(), options()).prop_map(|(n, o)| MetadataCommand::OpenIndices { names: vec![n], options: o }),
        1 => (name(), options()).prop_map(|(n, o)| MetadataCommand::CloseIndices { names: vec![n], options: o }),
        1 => (name(), 0i64..3, any::<bool>()).prop_map(|(n, p, c)| MetadataCommand::PutIndexTemplate {
            name: format!("t-{}", n.to_lowercase()),
            body: json!({"index_patterns": [format!("{}*", n.trim_matches('*'))], "priority": p, "template": {"settings": {"number_of_shards": 2}, "aliases": {"from-template": {}}}}),
            create: c,
        }),
        1 => name().prop_map(|n| MetadataCommand::DeleteIndexTemplate { name: format!("t-{n}") }),
        1 => (any::<bool>(), any::<bool>()).prop_map(|(d, reset)| MetadataCommand::PutClusterSettings {
            persistent: if reset { json!({"action.destructive_requires_name": null}) } else { json!({"action.destructive_requires_name": d}) },
            transient: Value::Null,
        }),
        1 => (index_name(), 0u32..3).prop_map(|(n, s)| MetadataCommand::BumpPrimaryTerm { index: n, shard: s }),
    ]
}

fn check_invariants(md: &ClusterMetadata) {
    md.validate_alias_invariants().expect("alias invariants");
    for (name, idx) in &md.indices {
        assert_eq!(name, &idx.name);
        assert_eq!(idx.primary_terms.len() as u32, idx.number_of_shards());
        assert!(idx.primary_terms.iter().all(|t| *t >= 1));
        assert!(tern_cluster::validate_index_name(name).is_ok());
        assert!(!md.has_alias(name), "an index and an alias share the name {name}");
        assert_eq!(idx.settings.uuid(), Some(idx.uuid.as_str()));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_command_sequences_keep_invariants(cmds in prop::collection::vec(command(), 1..40)) {
        let mut md = ClusterMetadata::new("prop");
        let mut replica = ClusterMetadata::new("prop");
        for (i, cmd) in cmds.into_iter().enumerate() {
            let before = md.clone();
            let result = md.apply(cmd.clone(), i as i64);
            // Determinism: a second copy applying the same log reaches the same state and answer.
            let replica_result = replica.apply(cmd, i as i64);
            prop_assert_eq!(&result, &replica_result);
            prop_assert_eq!(&md, &replica);
            match result {
                Err(_) => prop_assert_eq!(&md, &before, "a failed command must not change the state"),
                Ok(_) => prop_assert!(md.version == before.version || md.version == before.version + 1),
            }
            check_invariants(&md);
        }
        let text = serde_json::to_string(&md).unwrap();
        let back: ClusterMetadata = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(&back, &md);
    }

    #[test]
    fn commands_round_trip_through_json(cmd in command()) {
        let text = serde_json::to_string(&cmd).unwrap();
        let back: MetadataCommand = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(back, cmd);
    }

    #[test]
    fn shard_ids_are_in_range(routing in ".{0,40}", shards in 1u32..64) {
        let rns = tern_cluster::default_routing_num_shards(shards);
        prop_assert!(tern_cluster::shard_id(&routing, shards, rns) < shards);
    }
}
