//! Index expression resolution, alias filters and search routing.

use serde_json::{Value, json};
use tern_cluster::{AliasAction, ClusterMetadata, ExpandWildcards, IndicesOptions, MetadataCommand};
use tern_common::EsError;

fn create(md: &mut ClusterMetadata, name: &str, settings: Value, aliases: Value) {
    md.apply(
        MetadataCommand::CreateIndex {
            name: name.into(),
            uuid: format!("u-{name}"),
            settings,
            mappings: Value::Null,
            aliases,
        },
        0,
    )
    .unwrap();
}

fn exprs(s: &[&str]) -> Vec<String> {
    s.iter().map(|x| x.to_string()).collect()
}

/// logs-1, logs-2 (closed), metrics, .sys (dot), secret (hidden); aliases: logs -> logs-1,logs-2;
/// filtered -> logs-1 (filter), metrics (no filter)
fn fixture() -> ClusterMetadata {
    let mut md = ClusterMetadata::new("c");
    create(
        &mut md,
        "logs-1",
        Value::Null,
        json!({"logs": {}, "filtered": {"filter": {"term": {"f": 1}}, "search_routing": "1,2"}}),
    );
    create(&mut md, "logs-2", Value::Null, json!({"logs": {}}));
    create(&mut md, "metrics", Value::Null, json!({"filtered": {}}));
    create(&mut md, ".sys", Value::Null, Value::Null);
    create(&mut md, "secret", json!({"index.hidden": true}), Value::Null);
    md.apply(MetadataCommand::CloseIndices { names: vec!["logs-2".into()], options: None }, 0).unwrap();
    md
}

fn resolve(md: &ClusterMetadata, e: &[&str], opts: IndicesOptions) -> Result<Vec<String>, String> {
    md.resolve_indices(&exprs(e), &opts).map_err(|e| e.to_string())
}

#[test]
fn all_and_wildcards_respect_state_and_hidden() {
    let md = fixture();
    let open = IndicesOptions::strict_expand_open();
    assert_eq!(resolve(&md, &[], open).unwrap(), vec!["logs-1", "metrics"]);
    assert_eq!(resolve(&md, &["_all"], open).unwrap(), vec!["logs-1", "metrics"]);
    assert_eq!(resolve(&md, &["*"], open).unwrap(), vec!["logs-1", "metrics"]);
    let open_closed = IndicesOptions::strict_expand_open_closed();
    assert_eq!(resolve(&md, &["logs-*"], open_closed).unwrap(), vec!["logs-1", "logs-2"]);
    let all = IndicesOptions { expand_wildcards: ExpandWildcards::ALL, ..open };
    assert_eq!(resolve(&md, &["*"], all).unwrap(), vec![".sys", "logs-1", "logs-2", "metrics", "secret"]);
    // A dot pattern sees dot indices without `hidden`.
    assert_eq!(resolve(&md, &[".s*"], open).unwrap(), vec![".sys"]);
    // Explicit names always resolve, hidden or not.
    assert_eq!(resolve(&md, &["secret", ".sys"], open).unwrap(), vec!["secret", ".sys"]);
    // expand_wildcards=none: wildcards match nothing.
    let none = IndicesOptions { expand_wildcards: ExpandWildcards::NONE, ..open };
    assert!(resolve(&md, &["*"], none).unwrap().is_empty());
}

#[test]
fn comma_lists_exclusions_and_dedup() {
    let md = fixture();
    let open = IndicesOptions::strict_expand_open();
    assert_eq!(resolve(&md, &["metrics,logs-1"], open).unwrap(), vec!["metrics", "logs-1"]);
    assert_eq!(resolve(&md, &["*", "-metrics"], open).unwrap(), vec!["logs-1"]);
    assert_eq!(resolve(&md, &["*,-log*"], open).unwrap(), vec!["metrics"]);
    assert_eq!(resolve(&md, &["metrics", "metrics", "met*"], open).unwrap(), vec!["metrics"]);
    // Without a preceding wildcard `-x` is a name, and a missing one.
    assert_eq!(resolve(&md, &["-metrics"], open).unwrap_err(), "no such index [-metrics]");
}

#[test]
fn missing_indices_and_options() {
    let md = fixture();
    let open = IndicesOptions::strict_expand_open();
    let e: EsError = md.resolve_indices(&exprs(&["nope"]), &open).unwrap_err().into();
    assert_eq!(e.es_type(), "index_not_found_exception");
    assert_eq!(e.reason, "no such index [nope]");
    assert_eq!(e.metadata["resource.id"], json!("nope"));
    let lenient = IndicesOptions::lenient_expand_open();
    assert_eq!(resolve(&md, &["nope", "metrics"], lenient).unwrap(), vec!["metrics"]);
    // allow_no_indices=false: a wildcard matching nothing fails.
    let strict = IndicesOptions { allow_no_indices: false, ..open };
    assert_eq!(resolve(&md, &["zz*"], strict).unwrap_err(), "no such index [zz*]");
    assert!(resolve(&md, &["zz*"], open).unwrap().is_empty());
    let o = IndicesOptions::from_params(Some("true"), Some("false"), Some("open"), open).unwrap();
    assert_eq!(resolve(&md, &["nope"], o).unwrap_err(), "no such index [nope]");
}

#[test]
fn closed_indices() {
    let md = fixture();
    let search = IndicesOptions::strict_expand_open_forbid_closed();
    let e: EsError = md.resolve_indices(&exprs(&["logs-2"]), &search).unwrap_err().into();
    assert_eq!(e.es_type(), "index_closed_exception");
    assert_eq!(e.reason, "closed");
    assert_eq!(e.metadata["index"], json!("logs-2"));
    let lenient = IndicesOptions { ignore_unavailable: true, ..search };
    assert!(resolve(&md, &["logs-2"], lenient).unwrap().is_empty());
    // Through an alias, the closed member is silently skipped.
    assert_eq!(resolve(&md, &["logs"], search).unwrap(), vec!["logs-1"]);
    // Without forbid_closed an explicit closed name resolves.
    assert_eq!(resolve(&md, &["logs-2"], IndicesOptions::strict_expand_open()).unwrap(), vec!["logs-2"]);
}

#[test]
fn aliases_expand_to_indices() {
    let md = fixture();
    let oc = IndicesOptions::strict_expand_open_closed();
    assert_eq!(resolve(&md, &["logs"], oc).unwrap(), vec!["logs-1", "logs-2"]);
    assert_eq!(resolve(&md, &["filt*"], oc).unwrap(), vec!["logs-1", "metrics"]);
    let no_alias = IndicesOptions::delete_index_default();
    assert_eq!(
        resolve(&md, &["logs"], no_alias).unwrap_err(),
        "The provided expression [logs] matches an alias, specify the corresponding concrete indices instead."
    );
    assert_eq!(resolve(&md, &["filt*"], no_alias).unwrap(), Vec::<String>::new());
}

#[test]
fn alias_filters_follow_what_was_requested() {
    let md = fixture();
    // Through the filtered alias: logs-1 gets the filter, metrics (alias without filter) gets none.
    assert_eq!(md.alias_filters("logs-1", &exprs(&["filtered"])), Some(vec![json!({"term": {"f": 1}})]));
    assert_eq!(md.alias_filters("metrics", &exprs(&["filtered"])), None);
    // Naming the index directly or via a wildcard over indices drops the filter.
    assert_eq!(md.alias_filters("logs-1", &exprs(&["filtered", "logs-1"])), None);
    assert_eq!(md.alias_filters("logs-1", &exprs(&["logs-*"])), None);
    assert_eq!(md.alias_filters("logs-1", &exprs(&["_all"])), None);
    // Through an unfiltered alias as well as the filtered one: no filter.
    assert_eq!(md.alias_filters("logs-1", &exprs(&["filtered", "logs"])), None);
    // A wildcard matching the alias name behaves like naming the alias.
    assert_eq!(md.alias_filters("logs-1", &exprs(&["filt*"])), Some(vec![json!({"term": {"f": 1}})]));
}

#[test]
fn search_routing_combines_alias_and_request() {
    let md = fixture();
    let r = md.resolve_search_routing(None, &exprs(&["filtered"])).unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(r["logs-1"].iter().cloned().collect::<Vec<_>>(), vec!["1", "2"]);
    // Reached through an alias without routing as well: no restriction, in either order.
    assert_eq!(md.resolve_search_routing(None, &exprs(&["filtered", "logs"])), None);
    assert_eq!(md.resolve_search_routing(None, &exprs(&["logs", "filtered"])), None);
    let r = md.resolve_search_routing(Some("2,3"), &exprs(&["filtered"])).unwrap();
    assert_eq!(r["logs-1"].iter().cloned().collect::<Vec<_>>(), vec!["2"]);
    assert_eq!(r["metrics"].iter().cloned().collect::<Vec<_>>(), vec!["2", "3"]);
    assert_eq!(md.resolve_search_routing(None, &exprs(&["metrics"])), None);
    let r = md.resolve_search_routing(Some("x"), &exprs(&["metrics"])).unwrap();
    assert_eq!(r["metrics"].len(), 1);
}

#[test]
fn find_aliases_reports_missing_names() {
    let md = fixture();
    let idx = exprs(&["logs-1", "metrics"]);
    let all = md.find_aliases(&idx, &[]);
    assert_eq!(all.by_index["logs-1"].len(), 2);
    assert!(all.missing.is_empty());
    let some = md.find_aliases(&idx, &exprs(&["logs", "nope", "fil*"]));
    assert_eq!(some.by_index["logs-1"].keys().collect::<Vec<_>>(), vec!["filtered", "logs"]);
    assert_eq!(some.by_index["metrics"].keys().collect::<Vec<_>>(), vec!["filtered"]);
    assert_eq!(some.missing, vec!["nope"]);
    let excl = md.find_aliases(&idx, &exprs(&["*", "-logs"]));
    assert_eq!(excl.by_index["logs-1"].keys().collect::<Vec<_>>(), vec!["filtered"]);
}

#[test]
fn alias_actions_with_wildcards() {
    let mut md = fixture();
    md.apply(MetadataCommand::UpdateAliases { actions: vec![AliasAction::add("logs-*", "everything")] }, 0).unwrap();
    assert_eq!(md.alias_indices("everything").len(), 2, "open and closed indices");
    md.apply(MetadataCommand::UpdateAliases { actions: vec![AliasAction::remove("*", "every*")] }, 0).unwrap();
    assert!(!md.has_alias("everything"));
}
