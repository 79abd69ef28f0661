//! Behaviour of `ClusterMetadata::apply`, command by command, against ES's observable results.

use serde_json::{Value, json};
use tern_cluster::{
    AliasAction, BlockLevel, ClusterError, ClusterMetadata, IndexState, IndicesOptions, MetadataCommand,
    MetadataOutcome,
};
use tern_common::EsError;

const NOW: i64 = 1_700_000_000_000;

fn create(md: &mut ClusterMetadata, name: &str, body: Value) -> Result<MetadataOutcome, ClusterError> {
    md.apply(
        MetadataCommand::CreateIndex {
            name: name.into(),
            uuid: format!("uuid-{name}"),
            settings: body.get("settings").cloned().unwrap_or(Value::Null),
            mappings: body.get("mappings").cloned().unwrap_or(Value::Null),
            aliases: body.get("aliases").cloned().unwrap_or(Value::Null),
        },
        NOW,
    )
}

fn aliases(md: &mut ClusterMetadata, body: Value) -> Result<MetadataOutcome, ClusterError> {
    let actions = AliasAction::parse_actions(&body)?;
    md.apply(MetadataCommand::UpdateAliases { actions }, NOW)
}

fn put_settings(md: &mut ClusterMetadata, index: &str, settings: Value) -> Result<MetadataOutcome, ClusterError> {
    md.apply(
        MetadataCommand::UpdateSettings {
            indices: vec![index.into()],
            settings,
            preserve_existing: false,
            options: None,
        },
        NOW,
    )
}

fn put_template(md: &mut ClusterMetadata, name: &str, body: Value) -> Result<MetadataOutcome, ClusterError> {
    md.apply(MetadataCommand::PutIndexTemplate { name: name.into(), body, create: false }, NOW)
}

fn close(md: &mut ClusterMetadata, name: &str) {
    md.apply(MetadataCommand::CloseIndices { names: vec![name.into()], options: None }, NOW).unwrap();
}

fn es(e: ClusterError) -> EsError {
    e.into()
}

// ---------------------------------------------------------------------------------------------
// create index
// ---------------------------------------------------------------------------------------------

#[test]
fn create_index_stores_es_settings_and_defaults() {
    let mut md = ClusterMetadata::new("cluster-1");
    let out = create(
        &mut md,
        "foo",
        json!({"settings": {"index": {"number_of_shards": 3}}, "mappings": {"properties": {"a": {"type": "keyword"}}}}),
    )
    .unwrap();
    assert_eq!(out, MetadataOutcome::IndexCreated { index: "foo".into(), uuid: "uuid-foo".into(), template: None });
    assert_eq!(md.version, 1);
    let idx = md.index("foo").unwrap();
    assert_eq!(idx.state, IndexState::Open);
    assert_eq!(idx.creation_date, NOW);
    assert_eq!(idx.primary_terms, vec![1, 1, 1]);
    assert_eq!(idx.number_of_shards(), 3);
    assert_eq!(idx.number_of_replicas(), 1);
    assert_eq!(idx.routing_num_shards(), 768);
    assert_eq!((idx.mapping_version, idx.settings_version, idx.aliases_version), (1, 1, 1));
    assert_eq!(idx.mappings, json!({"properties": {"a": {"type": "keyword"}}}));
    let nested = idx.settings.to_nested_json();
    assert_eq!(
        nested,
        json!({"index": {
            "creation_date": NOW.to_string(),
            "number_of_replicas": "1",
            "number_of_shards": "3",
            "provided_name": "foo",
            "routing": {"allocation": {"include": {"_tier_preference": "data_content"}}},
            "uuid": "uuid-foo",
            "version": {"created": "8500003"}
        }})
    );
    let flat = idx.settings.to_flat_json();
    assert_eq!(flat["index.number_of_shards"], json!("3"));
    let get = idx.to_get_index_json(false, true);
    assert_eq!(get["aliases"], json!({}));
    assert_eq!(get["settings"]["index"]["uuid"], json!("uuid-foo"));
    assert_eq!(get["defaults"]["index"]["refresh_interval"], json!("1s"));
}

#[test]
fn create_index_accepts_flat_and_short_settings() {
    let mut md = ClusterMetadata::new("c");
    create(&mut md, "a", json!({"settings": {"index.number_of_replicas": 0, "refresh_interval": "30s"}})).unwrap();
    let s = &md.index("a").unwrap().settings;
    assert_eq!(s.number_of_replicas(), 0);
    assert_eq!(s.refresh_interval(), Some(std::time::Duration::from_secs(30)));
    assert_eq!(s.get_str("index.refresh_interval"), Some("30s"));
}

#[test]
fn create_existing_index_is_resource_already_exists() {
    let mut md = ClusterMetadata::new("c");
    create(&mut md, "foo", json!({})).unwrap();
    let err = es(create(&mut md, "foo", json!({})).unwrap_err());
    assert_eq!(err.es_type(), "resource_already_exists_exception");
    assert_eq!(err.reason, "index [foo/uuid-foo] already exists");
    assert_eq!(err.metadata["index_uuid"], json!("uuid-foo"));
    assert_eq!(err.metadata["index"], json!("foo"));
    assert_eq!(md.version, 1, "a failed command does not change the state");
}

#[test]
fn create_index_validates_name_settings_and_private_settings() {
    let mut md = ClusterMetadata::new("c");
    let e = es(create(&mut md, "FOO", json!({})).unwrap_err());
    assert_eq!(e.es_type(), "invalid_index_name_exception");
    assert_eq!(e.reason, "Invalid index name [FOO], must be lowercase");

    let e = es(create(&mut md, "foo", json!({"settings": {"index.foo": 1}})).unwrap_err());
    assert_eq!(e.es_type(), "illegal_argument_exception");
    assert_eq!(
        e.reason,
        "unknown setting [index.foo] please check that any required plugins are installed, or check the breaking changes documentation for removed settings"
    );

    let e = es(create(&mut md, "foo", json!({"settings": {"number_of_shards": 0}})).unwrap_err());
    assert_eq!(e.reason, "Failed to parse value [0] for setting [index.number_of_shards] must be >= 1");

    let e = es(create(&mut md, "foo", json!({"settings": {"index.uuid": "x"}})).unwrap_err());
    assert_eq!(e.es_type(), "validation_exception");
    assert_eq!(e.reason, "Validation Failed: 1: private index setting [index.uuid] can not be set explicitly;");

    assert!(md.indices.is_empty());
    assert_eq!(md.version, 0);
}

#[test]
fn create_index_with_explicit_creation_date_and_routing_shards() {
    let mut md = ClusterMetadata::new("c");
    create(
        &mut md,
        "r",
        json!({"settings": {"index": {"creation_date": 42, "number_of_shards": 2, "number_of_routing_shards": 8}}}),
    )
    .unwrap();
    let idx = md.index("r").unwrap();
    assert_eq!(idx.creation_date, 42);
    assert_eq!(idx.routing_num_shards(), 8);
    let e =
        create(&mut md, "s", json!({"settings": {"number_of_shards": 4, "number_of_routing_shards": 2}})).unwrap_err();
    assert_eq!(e.to_string(), "index.number_of_routing_shards [2] must be >= index.number_of_shards [4]");
}

#[test]
fn create_index_with_aliases_and_conflicts() {
    let mut md = ClusterMetadata::new("c");
    create(
        &mut md,
        "logs-1",
        json!({"aliases": {"logs": {"is_write_index": true}, "filtered": {"filter": {"term": {"a": 1}}, "routing": "2"}}}),
    )
    .unwrap();
    let idx = md.index("logs-1").unwrap();
    assert_eq!(idx.aliases["logs"].is_write_index, Some(true));
    assert_eq!(idx.aliases["filtered"].index_routing.as_deref(), Some("2"));
    assert_eq!(
        idx.aliases_json(),
        json!({"filtered": {"filter": {"term": {"a": 1}}, "index_routing": "2", "search_routing": "2"}, "logs": {"is_write_index": true}})
    );

    // An index named like an alias.
    let e = es(create(&mut md, "logs", json!({})).unwrap_err());
    assert_eq!(e.es_type(), "invalid_index_name_exception");
    assert_eq!(e.reason, "Invalid index name [logs], already exists as alias");

    // An alias named like an index.
    let e = es(create(&mut md, "other", json!({"aliases": {"logs-1": {}}})).unwrap_err());
    assert_eq!(e.es_type(), "invalid_alias_name_exception");
    assert_eq!(e.reason, "Invalid alias name [logs-1]: an index or data stream exists with the same name as the alias");

    // A second write index on the same alias.
    let e = es(create(&mut md, "logs-2", json!({"aliases": {"logs": {"is_write_index": true}}})).unwrap_err());
    assert_eq!(e.es_type(), "illegal_state_exception");
    assert_eq!(e.reason, "alias [logs] has more than one write index [logs-1,logs-2]");
    assert!(!md.has_index("logs-2"));
}

// ---------------------------------------------------------------------------------------------
// templates
// ---------------------------------------------------------------------------------------------

#[test]
fn templates_apply_by_priority_and_request_wins() {
    let mut md = ClusterMetadata::new("c");
    put_template(
        &mut md,
        "low",
        json!({"index_patterns": ["logs-*"], "priority": 1, "template": {"settings": {"number_of_shards": 5}}}),
    )
    .unwrap();
    put_template(
        &mut md,
        "high",
        json!({"index_patterns": ["logs-*"], "priority": 10, "template": {
            "settings": {"number_of_shards": 2, "number_of_replicas": 0},
            "mappings": {"properties": {"msg": {"type": "text"}, "host": {"type": "keyword"}}},
            "aliases": {"all-logs": {}}
        }}),
    )
    .unwrap();
    let out = create(
        &mut md,
        "logs-a",
        json!({"settings": {"number_of_replicas": 2}, "mappings": {"properties": {"host": {"type": "text"}}}}),
    )
    .unwrap();
    assert_eq!(
        out,
        MetadataOutcome::IndexCreated {
            index: "logs-a".into(),
            uuid: "uuid-logs-a".into(),
            template: Some("high".into())
        }
    );
    let idx = md.index("logs-a").unwrap();
    assert_eq!(idx.number_of_shards(), 2);
    assert_eq!(idx.number_of_replicas(), 2);
    assert_eq!(idx.mappings, json!({"properties": {"msg": {"type": "text"}, "host": {"type": "text"}}}));
    assert!(idx.aliases.contains_key("all-logs"));
    // Non-matching names get no template.
    create(&mut md, "metrics", json!({})).unwrap();
    assert_eq!(md.index("metrics").unwrap().number_of_shards(), 1);
}

#[test]
fn component_templates_compose_in_order() {
    let mut md = ClusterMetadata::new("c");
    md.apply(
        MetadataCommand::PutComponentTemplate {
            name: "c1".into(),
            body: json!({"template": {"settings": {"number_of_shards": 3, "number_of_replicas": 0}, "mappings": {"properties": {"a": {"type": "keyword"}}}}}),
            create: false,
        },
        NOW,
    )
    .unwrap();
    md.apply(
        MetadataCommand::PutComponentTemplate {
            name: "c2".into(),
            body: json!({"template": {"settings": {"number_of_shards": 4}, "mappings": {"properties": {"b": {"type": "long"}}}}}),
            create: false,
        },
        NOW,
    )
    .unwrap();
    put_template(
        &mut md,
        "t",
        json!({"index_patterns": ["x*"], "composed_of": ["c1", "c2"], "template": {"settings": {"refresh_interval": "5s"}}}),
    )
    .unwrap();
    create(&mut md, "x1", json!({})).unwrap();
    let idx = md.index("x1").unwrap();
    assert_eq!(idx.number_of_shards(), 4);
    assert_eq!(idx.number_of_replicas(), 0);
    assert_eq!(idx.settings.get_str("index.refresh_interval"), Some("5s"));
    assert_eq!(idx.mappings, json!({"properties": {"a": {"type": "keyword"}, "b": {"type": "long"}}}));

    // A component in use cannot be removed.
    let e = md.apply(MetadataCommand::DeleteComponentTemplate { name: "c1".into() }, NOW).unwrap_err();
    assert_eq!(
        e.to_string(),
        "component templates [c1] cannot be removed as they are still in use by index templates [t]"
    );
    // A template referencing a missing component is refused.
    let e = put_template(&mut md, "u", json!({"index_patterns": ["u*"], "composed_of": ["nope"]})).unwrap_err();
    assert_eq!(e.to_string(), "index template [u] specifies component templates [nope] that do not exist");
    let e = md.apply(MetadataCommand::DeleteComponentTemplate { name: "nope".into() }, NOW).unwrap_err();
    assert_eq!(es(e).es_type(), "resource_not_found_exception");
}

#[test]
fn hidden_request_skips_global_templates() {
    let mut md = ClusterMetadata::new("c");
    put_template(
        &mut md,
        "global",
        json!({"index_patterns": ["*"], "template": {"settings": {"number_of_shards": 2}}}),
    )
    .unwrap();
    create(&mut md, "visible", json!({})).unwrap();
    assert_eq!(md.index("visible").unwrap().number_of_shards(), 2);
    create(&mut md, "secret", json!({"settings": {"index.hidden": true}})).unwrap();
    assert_eq!(md.index("secret").unwrap().number_of_shards(), 1);
}

#[test]
fn template_validation_and_overlap() {
    let mut md = ClusterMetadata::new("c");
    put_template(&mut md, "a", json!({"index_patterns": ["logs-*"], "priority": 5})).unwrap();
    let e = put_template(&mut md, "b", json!({"index_patterns": ["logs-2024*", "other"], "priority": 5})).unwrap_err();
    assert_eq!(
        e.to_string(),
        "index template [b] has index patterns [logs-2024*, other] matching patterns from existing templates [a] with patterns (a => [logs-*]) that have the same priority [5], multiple index templates may not match during index creation, please use a different priority"
    );
    // Different priority is fine, and re-putting the same template replaces it.
    put_template(&mut md, "b", json!({"index_patterns": ["logs-2024*"], "priority": 6})).unwrap();
    put_template(&mut md, "a", json!({"index_patterns": ["logs-*"], "priority": 5, "version": 2})).unwrap();
    assert_eq!(md.templates["a"].version, Some(2));

    let e = md
        .apply(
            MetadataCommand::PutIndexTemplate {
                name: "a".into(),
                body: json!({"index_patterns": ["z"]}),
                create: true,
            },
            NOW,
        )
        .unwrap_err();
    assert_eq!(e.to_string(), "index template [a] already exists");

    let e = put_template(&mut md, "c", json!({"template": {}})).unwrap_err();
    assert_eq!(e.to_string(), "Validation Failed: 1: index patterns are missing;");
    let e = put_template(&mut md, "c", json!({"index_patterns": ["c*"], "data_stream": {}})).unwrap_err();
    assert_eq!(es(e).es_type(), "illegal_argument_exception");
    let e = put_template(&mut md, "c", json!({"index_patterns": ["c*"], "template": {"settings": {"index.nope": 1}}}))
        .unwrap_err();
    assert_eq!(es(e).es_type(), "invalid_index_template_exception");

    // Rendering for GET _index_template.
    let got = md.get_index_templates(Some("a")).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1.to_json()["index_patterns"], json!(["logs-*"]));
    let e = md.get_index_templates(Some("missing")).unwrap_err();
    assert_eq!(e.to_string(), "index template matching [missing] not found");
    assert!(md.get_index_templates(Some("zz*")).unwrap().is_empty());
}

#[test]
fn delete_index_templates() {
    let mut md = ClusterMetadata::new("c");
    put_template(&mut md, "t1", json!({"index_patterns": ["a*"], "priority": 1})).unwrap();
    put_template(&mut md, "t2", json!({"index_patterns": ["b*"]})).unwrap();
    let e = es(md.apply(MetadataCommand::DeleteIndexTemplate { name: "x".into() }, NOW).unwrap_err());
    assert_eq!(e.es_type(), "index_template_missing_exception");
    assert_eq!(e.reason, "index_template [x] missing");
    assert_eq!(e.status(), 404);
    let e = md.apply(MetadataCommand::DeleteIndexTemplate { name: "zz*".into() }, NOW).unwrap_err();
    assert_eq!(e.to_string(), "index_template [zz*] missing");
    let out = md.apply(MetadataCommand::DeleteIndexTemplate { name: "t*".into() }, NOW).unwrap();
    assert_eq!(out, MetadataOutcome::IndexTemplatesDeleted { names: vec!["t1".into(), "t2".into()] });
    // Match-all on nothing is fine.
    md.apply(MetadataCommand::DeleteIndexTemplate { name: "*".into() }, NOW).unwrap();
}

// ---------------------------------------------------------------------------------------------
// delete / open / close
// ---------------------------------------------------------------------------------------------

#[test]
fn delete_indices_requires_names_by_default() {
    let mut md = ClusterMetadata::new("c");
    create(&mut md, "a1", json!({})).unwrap();
    create(&mut md, "a2", json!({"aliases": {"al": {}}})).unwrap();
    let del = |names: &[&str]| MetadataCommand::DeleteIndices {
        names: names.iter().map(|s| s.to_string()).collect(),
        options: None,
    };
    let e = md.apply(del(&["a*"]), NOW).unwrap_err();
    assert_eq!(e.to_string(), "Wildcard expressions or all indices are not allowed");
    let e = md.apply(del(&["_all"]), NOW).unwrap_err();
    assert_eq!(e.to_string(), "Wildcard expressions or all indices are not allowed");
    let e = md.apply(del(&["al"]), NOW).unwrap_err();
    assert_eq!(
        e.to_string(),
        "The provided expression [al] matches an alias, specify the corresponding concrete indices instead."
    );
    let e = es(md.apply(del(&["nope"]), NOW).unwrap_err());
    assert_eq!(e.es_type(), "index_not_found_exception");
    assert_eq!(e.reason, "no such index [nope]");

    let out = md.apply(del(&["a1"]), NOW).unwrap();
    assert_eq!(
        out,
        MetadataOutcome::IndicesDeleted {
            indices: vec![tern_cluster::IndexRef { name: "a1".into(), uuid: "uuid-a1".into() }]
        }
    );
    md.apply(
        MetadataCommand::PutClusterSettings {
            persistent: json!({"action.destructive_requires_name": false}),
            transient: Value::Null,
        },
        NOW,
    )
    .unwrap();
    md.apply(del(&["a*"]), NOW).unwrap();
    assert!(md.indices.is_empty());
}

#[test]
fn open_and_close() {
    let mut md = ClusterMetadata::new("c");
    create(&mut md, "a", json!({})).unwrap();
    create(&mut md, "b", json!({})).unwrap();
    close(&mut md, "a");
    assert!(md.index("a").unwrap().is_closed());
    // Wildcards for open expand closed indices.
    let out = md.apply(MetadataCommand::OpenIndices { names: vec!["*".into()], options: None }, NOW).unwrap();
    assert_eq!(out, MetadataOutcome::IndicesOpened { indices: vec!["a".into()] });
    assert!(md.index("a").unwrap().is_open());
    let v = md.version;
    // Opening an open index changes nothing.
    md.apply(MetadataCommand::OpenIndices { names: vec!["a".into()], options: None }, NOW).unwrap();
    assert_eq!(md.version, v);
}

// ---------------------------------------------------------------------------------------------
// mappings and settings
// ---------------------------------------------------------------------------------------------

#[test]
fn put_mapping_replaces_and_bumps_version() {
    let mut md = ClusterMetadata::new("c");
    create(&mut md, "a", json!({})).unwrap();
    assert_eq!(md.index("a").unwrap().mappings, json!({}));
    let put = |m: Value| MetadataCommand::PutMapping { indices: vec!["a".into()], mappings: m, options: None };
    md.apply(put(json!({"properties": {"x": {"type": "long"}}})), NOW).unwrap();
    assert_eq!(md.index("a").unwrap().mapping_version, 2);
    let v = md.version;
    md.apply(put(json!({"properties": {"x": {"type": "long"}}})), NOW).unwrap();
    assert_eq!(md.index("a").unwrap().mapping_version, 2);
    assert_eq!(md.version, v);
    put_settings(&mut md, "a", json!({"index.blocks.read_only": true})).unwrap();
    let e = es(md.apply(put(json!({"properties": {}})), NOW).unwrap_err());
    assert_eq!(e.es_type(), "cluster_block_exception");
    assert_eq!(e.reason, "index [a] blocked by: [FORBIDDEN/5/index read-only (api)];");
    assert_eq!(e.status(), 403);
    let e = md.apply(put(json!({"properties": {}})), NOW);
    assert!(e.is_err());
    let e = es(md
        .apply(MetadataCommand::PutMapping { indices: vec!["missing".into()], mappings: json!({}), options: None }, NOW)
        .unwrap_err());
    assert_eq!(e.es_type(), "index_not_found_exception");
}

#[test]
fn update_settings_dynamic_static_final_private() {
    let mut md = ClusterMetadata::new("c");
    create(&mut md, "foo", json!({})).unwrap();
    put_settings(&mut md, "foo", json!({"index": {"number_of_replicas": 0, "refresh_interval": "-1"}})).unwrap();
    let idx = md.index("foo").unwrap();
    assert_eq!(idx.number_of_replicas(), 0);
    assert_eq!(idx.settings.refresh_interval(), None);
    assert_eq!(idx.settings_version, 2);

    // The `{"settings": {...}}` wrapper is accepted too.
    put_settings(&mut md, "foo", json!({"settings": {"index.max_result_window": 500}})).unwrap();
    assert_eq!(md.index("foo").unwrap().settings.max_result_window(), 500);

    let e = put_settings(&mut md, "foo", json!({"index.number_of_shards": 2})).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Can't update non dynamic settings [[index.number_of_shards]] for open indices [[foo/uuid-foo]]"
    );
    let e = put_settings(&mut md, "foo", json!({"index.analysis.analyzer.a.type": "standard"})).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Can't update non dynamic settings [[index.analysis.analyzer.a.type]] for open indices [[foo/uuid-foo]]"
    );
    let e = put_settings(&mut md, "foo", json!({"index.uuid": "x"})).unwrap_err();
    assert_eq!(e.to_string(), "can not update private setting [index.uuid]; this setting is managed by Elasticsearch");
    let e = put_settings(&mut md, "foo", json!({"index.bogus": 1})).unwrap_err();
    assert!(e.to_string().starts_with("unknown setting [index.bogus]"));

    close(&mut md, "foo");
    put_settings(&mut md, "foo", json!({"index.analysis.analyzer.a.type": "standard"})).unwrap();
    assert_eq!(md.index("foo").unwrap().settings.analysis(), Some(json!({"analyzer": {"a": {"type": "standard"}}})));
    let e = put_settings(&mut md, "foo", json!({"index.number_of_shards": 2})).unwrap_err();
    assert_eq!(e.to_string(), "final foo setting [index.number_of_shards], not updateable");
}

#[test]
fn update_settings_reset_and_preserve_existing() {
    let mut md = ClusterMetadata::new("c");
    create(
        &mut md,
        "foo",
        json!({"settings": {"refresh_interval": "5s", "routing.allocation.include.zone": "a", "routing.allocation.exclude.zone": "b"}}),
    )
    .unwrap();
    put_settings(&mut md, "foo", json!({"index.refresh_interval": null})).unwrap();
    assert!(!md.index("foo").unwrap().settings.refresh_interval_is_explicit());
    put_settings(&mut md, "foo", json!({"index.routing.allocation.*": null})).unwrap();
    let flat = md.index("foo").unwrap().settings.flat().clone();
    assert!(!flat.keys().any(|k| k.starts_with("index.routing.allocation.")), "{flat:?}");
    assert!(flat.contains_key("index.uuid"));

    md.apply(
        MetadataCommand::UpdateSettings {
            indices: vec!["foo".into()],
            settings: json!({"index.number_of_replicas": 5, "index.max_result_window": 20}),
            preserve_existing: true,
            options: None,
        },
        NOW,
    )
    .unwrap();
    let s = &md.index("foo").unwrap().settings;
    assert_eq!(s.number_of_replicas(), 1, "existing value kept");
    assert_eq!(s.max_result_window(), 20, "missing value added");
}

#[test]
fn blocks_can_be_lifted_on_blocked_indices() {
    let mut md = ClusterMetadata::new("c");
    create(&mut md, "foo", json!({"settings": {"index.blocks.read_only": true}})).unwrap();
    let e = es(put_settings(&mut md, "foo", json!({"index.number_of_replicas": 0})).unwrap_err());
    assert_eq!(e.es_type(), "cluster_block_exception");
    put_settings(&mut md, "foo", json!({"index.blocks.read_only": false})).unwrap();
    put_settings(&mut md, "foo", json!({"index.number_of_replicas": 0})).unwrap();

    put_settings(&mut md, "foo", json!({"index.blocks.write": true})).unwrap();
    let e = es(md.check_index_block("foo", BlockLevel::Write).unwrap_err());
    assert_eq!(e.reason, "index [foo] blocked by: [FORBIDDEN/8/index write (api)];");
    assert!(md.check_index_block("foo", BlockLevel::Read).is_ok());
    put_settings(&mut md, "foo", json!({"index.blocks.read_only_allow_delete": true, "index.blocks.write": false}))
        .unwrap();
    let e = es(md.check_index_block("foo", BlockLevel::Write).unwrap_err());
    assert_eq!(e.status(), 429);
}

// ---------------------------------------------------------------------------------------------
// aliases
// ---------------------------------------------------------------------------------------------

#[test]
fn alias_actions_are_atomic() {
    let mut md = ClusterMetadata::new("c");
    create(&mut md, "i1", json!({})).unwrap();
    create(&mut md, "i2", json!({})).unwrap();
    aliases(&mut md, json!({"actions": [{"add": {"index": "i1", "alias": "a", "is_write_index": true}}]})).unwrap();
    assert_eq!(md.index("i1").unwrap().aliases_version, 2);
    // Second write index in one request: refused, and the first action is not applied either.
    let e = es(aliases(
        &mut md,
        json!({"actions": [
            {"add": {"index": "i2", "alias": "b"}},
            {"add": {"index": "i2", "alias": "a", "is_write_index": true}}
        ]}),
    )
    .unwrap_err());
    assert_eq!(e.es_type(), "illegal_state_exception");
    assert_eq!(e.reason, "alias [a] has more than one write index [i1,i2]");
    assert!(!md.has_alias("b"));
    // Swapping the write index in one request is fine.
    aliases(
        &mut md,
        json!({"actions": [
            {"add": {"index": "i1", "alias": "a", "is_write_index": false}},
            {"add": {"index": "i2", "alias": "a", "is_write_index": true}}
        ]}),
    )
    .unwrap();
    assert_eq!(md.resolve_write_index("a").unwrap().index, "i2");
}

#[test]
fn write_index_resolution() {
    let mut md = ClusterMetadata::new("c");
    create(&mut md, "i1", json!({})).unwrap();
    create(&mut md, "i2", json!({})).unwrap();
    aliases(&mut md, json!({"actions": [{"add": {"index": "i1", "alias": "single", "routing": "7"}}]})).unwrap();
    let t = md.resolve_write_index("single").unwrap();
    assert_eq!(t.index, "i1");
    assert_eq!(t.alias.as_deref(), Some("single"));
    assert_eq!(t.effective_routing(None).unwrap().as_deref(), Some("7"));
    assert_eq!(t.effective_routing(Some("7")).unwrap().as_deref(), Some("7"));
    assert_eq!(
        t.effective_routing(Some("8")).unwrap_err().to_string(),
        "Alias [single] has index routing associated with it [7], and was provided with routing value [8], rejecting operation"
    );

    aliases(&mut md, json!({"actions": [{"add": {"indices": ["i1", "i2"], "alias": "multi"}}]})).unwrap();
    let msg = "no write index is defined for alias [multi]. The write index may be explicitly disabled using is_write_index=false or the alias points to multiple indices without one being designated as a write index";
    let e = es(md.resolve_write_index("multi").unwrap_err());
    assert_eq!(e.es_type(), "illegal_argument_exception");
    assert_eq!(e.reason, msg);

    aliases(&mut md, json!({"actions": [{"add": {"index": "i2", "alias": "off", "is_write_index": false}}]})).unwrap();
    assert!(md.resolve_write_index("off").is_err());

    let t = md.resolve_write_index("i2").unwrap();
    assert_eq!((t.index.as_str(), t.alias.clone()), ("i2", None));
    assert_eq!(t.effective_routing(Some("r")).unwrap().as_deref(), Some("r"));
    assert_eq!(es(md.resolve_write_index("nope").unwrap_err()).es_type(), "index_not_found_exception");
    close(&mut md, "i2");
    assert_eq!(es(md.resolve_write_index("i2").unwrap_err()).es_type(), "index_closed_exception");
}

#[test]
fn alias_removal_semantics() {
    let mut md = ClusterMetadata::new("c");
    create(&mut md, "i1", json!({"aliases": {"a1": {}, "a2": {}, "b1": {}}})).unwrap();
    let e = es(aliases(&mut md, json!({"actions": [{"remove": {"index": "i1", "alias": "zz"}}]})).unwrap_err());
    assert_eq!(e.es_type(), "aliases_not_found_exception");
    assert_eq!(e.reason, "aliases [zz] missing");
    assert_eq!(e.status(), 404);
    aliases(&mut md, json!({"actions": [{"remove": {"index": "i1", "alias": "zz", "must_exist": false}}]})).unwrap();
    let e = aliases(
        &mut md,
        json!({"actions": [
            {"remove": {"index": "i1", "alias": "a1"}},
            {"remove": {"index": "i1", "alias": "zz", "must_exist": true}}
        ]}),
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "aliases [zz] missing");
    assert!(md.has_alias("a1"), "atomic: nothing removed");
    aliases(&mut md, json!({"actions": [{"remove": {"index": "i*", "alias": "a*"}}]})).unwrap();
    assert_eq!(md.aliases_for("i1").keys().collect::<Vec<_>>(), vec!["b1"]);
    aliases(&mut md, json!({"actions": [{"remove_index": {"index": "i1"}}]})).unwrap();
    assert!(!md.has_index("i1"));
}

#[test]
fn alias_name_rules() {
    let mut md = ClusterMetadata::new("c");
    create(&mut md, "i1", json!({})).unwrap();
    create(&mut md, "i2", json!({})).unwrap();
    let e = es(aliases(&mut md, json!({"actions": [{"add": {"index": "i1", "alias": "i2"}}]})).unwrap_err());
    assert_eq!(e.es_type(), "invalid_alias_name_exception");
    let e = es(aliases(&mut md, json!({"actions": [{"add": {"index": "i1", "alias": "_x"}}]})).unwrap_err());
    assert_eq!(e.reason, "Invalid alias name [_x]: must not start with '_', '-', or '+'");
    let e = aliases(&mut md, json!({"actions": [{"add": {"index": "i1", "alias": "r", "index_routing": "1,2"}}]}))
        .unwrap_err();
    assert_eq!(e.to_string(), "alias [r] has several index routing values associated with it");
    let e = es(aliases(&mut md, json!({"actions": [{"add": {"index": "missing", "alias": "x"}}]})).unwrap_err());
    assert_eq!(e.es_type(), "index_not_found_exception");
    // Hidden must agree across indices.
    aliases(&mut md, json!({"actions": [{"add": {"index": "i1", "alias": "h", "is_hidden": true}}]})).unwrap();
    let e = aliases(&mut md, json!({"actions": [{"add": {"index": "i2", "alias": "h"}}]})).unwrap_err();
    assert_eq!(
        e.to_string(),
        "alias [h] has is_hidden set to true on indices [i1] but does not have is_hidden set to true on indices [i2]; alias must have the same is_hidden setting on all indices"
    );
}

// ---------------------------------------------------------------------------------------------
// cluster settings and primary terms
// ---------------------------------------------------------------------------------------------

#[test]
fn cluster_settings_put_reset_and_reject() {
    let mut md = ClusterMetadata::new("c");
    let out = md
        .apply(
            MetadataCommand::PutClusterSettings {
                persistent: json!({"cluster": {"routing": {"allocation": {"enable": "primaries"}}}, "remote_sync.chunk_size": "4mb"}),
                transient: json!({"search.max_buckets": 1000}),
            },
            NOW,
        )
        .unwrap();
    match out {
        MetadataOutcome::ClusterSettingsUpdated { persistent, transient } => {
            assert_eq!(persistent["cluster.routing.allocation.enable"], json!("primaries"));
            assert_eq!(transient["search.max_buckets"], json!("1000"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(md.cluster_setting("remote_sync.chunk_size"), Some(&json!("4mb")));
    let e = md
        .apply(
            MetadataCommand::PutClusterSettings { persistent: json!({"cluster.bogus": 1}), transient: Value::Null },
            NOW,
        )
        .unwrap_err();
    assert_eq!(e.to_string(), "persistent setting [cluster.bogus], not recognized");
    md.apply(
        MetadataCommand::PutClusterSettings {
            persistent: json!({"remote_sync.chunk_size": null}),
            transient: json!({"search.*": null}),
        },
        NOW,
    )
    .unwrap();
    assert_eq!(md.cluster_setting("remote_sync.chunk_size"), None);
    assert!(md.transient_settings.is_empty());
}

#[test]
fn auto_create_rules() {
    let mut md = ClusterMetadata::new("c");
    assert!(md.check_auto_create("x").is_ok());
    md.apply(
        MetadataCommand::PutClusterSettings {
            persistent: json!({"action.auto_create_index": "false"}),
            transient: Value::Null,
        },
        NOW,
    )
    .unwrap();
    assert_eq!(
        md.check_auto_create("x").unwrap_err().to_string(),
        "no such index [x] and [action.auto_create_index] is [false]"
    );
    put_template(&mut md, "t", json!({"index_patterns": ["auto-*"], "allow_auto_create": true})).unwrap();
    assert!(md.check_auto_create("auto-1").is_ok());
}

#[test]
fn primary_terms_bump_per_shard() {
    let mut md = ClusterMetadata::new("c");
    create(&mut md, "a", json!({"settings": {"number_of_shards": 2}})).unwrap();
    let out = md.apply(MetadataCommand::BumpPrimaryTerm { index: "a".into(), shard: 1 }, NOW).unwrap();
    assert_eq!(out, MetadataOutcome::PrimaryTermBumped { index: "a".into(), shard: 1, primary_term: 2 });
    assert_eq!(md.index("a").unwrap().primary_terms, vec![1, 2]);
    assert!(md.apply(MetadataCommand::BumpPrimaryTerm { index: "a".into(), shard: 2 }, NOW).is_err());
    assert!(md.apply(MetadataCommand::BumpPrimaryTerm { index: "b".into(), shard: 0 }, NOW).is_err());
}

#[test]
fn routing_through_index_metadata() {
    let mut md = ClusterMetadata::new("c");
    create(&mut md, "three", json!({"settings": {"number_of_shards": 3}})).unwrap();
    let idx = md.index("three").unwrap();
    let shards: Vec<u32> = ["1", "2", "foo", "hello"].iter().map(|id| idx.shard_for(id, None)).collect();
    assert_eq!(shards, vec![2, 1, 0, 2]);
    assert_eq!(idx.shard_for("whatever", Some("hello")), 2);
}

#[test]
fn state_and_commands_round_trip_through_json() {
    let mut md = ClusterMetadata::new("c");
    create(
        &mut md,
        "a",
        json!({"settings": {"number_of_shards": 2, "analysis": {"analyzer": {"x": {"type": "custom", "tokenizer": "standard", "filter": ["lowercase"]}}}}, "aliases": {"al": {"filter": {"match_all": {}}}}}),
    )
    .unwrap();
    put_template(
        &mut md,
        "t",
        json!({"index_patterns": ["t*"], "_meta": {"k": "v"}, "template": {"aliases": {"ta": {}}}}),
    )
    .unwrap();
    close(&mut md, "a");
    let text = serde_json::to_string(&md).unwrap();
    let back: ClusterMetadata = serde_json::from_str(&text).unwrap();
    assert_eq!(back, md);

    let cmd = MetadataCommand::UpdateSettings {
        indices: vec!["a".into()],
        settings: json!({"index.number_of_replicas": 0}),
        preserve_existing: false,
        options: Some(IndicesOptions::lenient_expand_open()),
    };
    let text = serde_json::to_string(&cmd).unwrap();
    let back: MetadataCommand = serde_json::from_str(&text).unwrap();
    assert_eq!(back, cmd);
}
