//! Shard allocation as the metadata state machine computes it: replicas, the witness, awareness,
//! filters, node loss and replica changes.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use tern_cluster::{ClusterMetadata, DiscoveryNode, MetadataCommand, ShardAllocation};

const NOW: i64 = 1_700_000_000_000;

fn node(n: u64, roles: &[&str], rack: Option<&str>) -> DiscoveryNode {
    DiscoveryNode {
        id: format!("id-{n}"),
        name: format!("node-{n}"),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        attributes: rack.map(|r| BTreeMap::from([("rack".to_string(), r.to_string())])).unwrap_or_default(),
        transport_address: format!("127.0.0.{n}:9300"),
        http_address: format!("127.0.0.{n}:9200"),
        raft_id: n,
    }
}

fn cluster(n: u64) -> ClusterMetadata {
    let mut md = ClusterMetadata::new("c");
    for i in 1..=n {
        md.apply(MetadataCommand::NodeJoined { node: node(i, &["master", "data"], None) }, NOW).unwrap();
    }
    md
}

fn create(md: &mut ClusterMetadata, name: &str, settings: Value) {
    md.apply(
        MetadataCommand::CreateIndex {
            name: name.into(),
            uuid: format!("uuid-{name}"),
            settings,
            mappings: Value::Null,
            aliases: Value::Null,
        },
        NOW,
    )
    .expect("create");
}

fn shards<'a>(md: &'a ClusterMetadata, name: &str) -> &'a [ShardAllocation] {
    &md.routing_table[&format!("uuid-{name}")]
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

fn update_settings(md: &mut ClusterMetadata, name: &str, settings: Value) {
    md.apply(
        MetadataCommand::UpdateSettings {
            indices: vec![name.into()],
            settings,
            preserve_existing: false,
            options: None,
        },
        NOW,
    )
    .expect("update settings");
}

#[test]
fn a_lone_node_has_no_routing_table() {
    let mut md = ClusterMetadata::new("c");
    create(&mut md, "solo", Value::Null);
    assert!(md.routing_table.is_empty());
}

#[test]
fn replicas_are_honoured_balanced_and_never_share_a_node() {
    let mut md = cluster(3);
    create(&mut md, "logs", json!({"index": {"number_of_shards": 3, "number_of_replicas": 1}}));
    let mut per_node: BTreeMap<String, usize> = BTreeMap::new();
    for s in shards(&md, "logs") {
        assert_eq!(s.copies.len(), 2, "{s:?}");
        assert_ne!(s.copies[0], s.copies[1]);
        // A two-copy group gets a witness on the third node, and starts with all three as voters.
        let w = s.witness.clone().expect("a witness");
        assert!(!s.copies.contains(&w));
        assert_eq!(s.started, s.copies.iter().cloned().collect());
        assert_eq!(s.initial.len(), 3);
        for c in &s.copies {
            *per_node.entry(c.clone()).or_default() += 1;
        }
    }
    assert_eq!(per_node.values().copied().collect::<Vec<_>>(), vec![2, 2, 2], "balanced: {per_node:?}");
    create(&mut md, "none", json!({"index": {"number_of_shards": 1, "number_of_replicas": 0}}));
    assert_eq!(shards(&md, "none")[0].copies.len(), 1);
    assert_eq!(shards(&md, "none")[0].witness, None);
    create(&mut md, "two", json!({"index": {"number_of_shards": 1, "number_of_replicas": 2}}));
    assert_eq!(shards(&md, "two")[0].copies.len(), 3);
    assert_eq!(shards(&md, "two")[0].witness, None);
    // More replicas than nodes: the rest stays unassigned.
    create(&mut md, "many", json!({"index": {"number_of_shards": 1, "number_of_replicas": 5}}));
    assert_eq!(shards(&md, "many")[0].copies.len(), 3);
}

#[test]
fn a_lost_copy_is_replaced_and_the_last_copy_is_kept() {
    let mut md = cluster(4);
    create(&mut md, "a", json!({"index": {"number_of_shards": 1, "number_of_replicas": 1}}));
    create(&mut md, "b", json!({"index": {"number_of_shards": 1, "number_of_replicas": 0}}));
    let before = shards(&md, "a")[0].clone();
    let lost = before.copies[0].clone();
    let kept = before.copies[1].clone();
    let b_copy = shards(&md, "b")[0].copies[0].clone();
    md.apply(MetadataCommand::NodeLeft { node_id: lost.clone() }, NOW).unwrap();
    let after = shards(&md, "a")[0].clone();
    assert!(!after.copies.contains(&lost));
    assert!(after.copies.contains(&kept));
    assert_eq!(after.copies.len(), 2, "{after:?}");
    let new = after.copies.iter().find(|c| **c != kept).unwrap().clone();
    assert!(!after.is_started(&new), "the replacement recovers first: {after:?}");
    assert!(after.witness.as_ref().is_some_and(|w| *w != lost && !after.copies.contains(w)));
    // The primary reports the new copy caught up.
    md.apply(MetadataCommand::ShardStarted { index_uuid: "uuid-a".into(), shard: 0, node_id: new.clone() }, NOW)
        .unwrap();
    assert!(shards(&md, "a")[0].is_started(&new));
    assert_eq!(shards(&md, "a")[0].voters().len(), 3);
    // The only copy of `b` stays where it was when its node leaves: the shard waits for it.
    md.apply(MetadataCommand::NodeLeft { node_id: b_copy.clone() }, NOW).unwrap();
    assert_eq!(shards(&md, "b")[0].copies, vec![b_copy]);
}

#[test]
fn replicas_change_at_runtime() {
    let mut md = cluster(3);
    create(&mut md, "r", json!({"index": {"number_of_shards": 1, "number_of_replicas": 0}}));
    let first = shards(&md, "r")[0].copies[0].clone();
    update_settings(&mut md, "r", json!({"index": {"number_of_replicas": 2}}));
    let s = shards(&md, "r")[0].clone();
    assert_eq!(s.copies.len(), 3);
    assert_eq!(s.started, set(&[&first]));
    for c in s.copies.clone() {
        md.apply(MetadataCommand::ShardStarted { index_uuid: "uuid-r".into(), shard: 0, node_id: c }, NOW).unwrap();
    }
    update_settings(&mut md, "r", json!({"index": {"number_of_replicas": 1}}));
    let s = shards(&md, "r")[0].clone();
    assert_eq!(s.copies.len(), 2);
    assert!(s.copies.contains(&first), "the oldest copies stay: {s:?}");
    assert!(s.witness.is_some());
}

#[test]
fn awareness_spreads_copies_over_racks() {
    let mut md = ClusterMetadata::new("c");
    for (n, rack) in [(1, "r1"), (2, "r1"), (3, "r2"), (4, "r2")] {
        md.apply(MetadataCommand::NodeJoined { node: node(n, &["master", "data"], Some(rack)) }, NOW).unwrap();
    }
    md.apply(
        MetadataCommand::PutClusterSettings {
            persistent: json!({"cluster.routing.allocation.awareness.attributes": "rack"}),
            transient: Value::Null,
        },
        NOW,
    )
    .unwrap();
    create(&mut md, "x", json!({"index": {"number_of_shards": 4, "number_of_replicas": 1}}));
    for s in shards(&md, "x") {
        let racks: BTreeSet<&str> = s.copies.iter().map(|c| md.nodes[c].attributes["rack"].as_str()).collect();
        assert_eq!(racks.len(), 2, "copies on both racks: {s:?}");
    }
}

#[test]
fn filters_move_copies_and_explain_says_why() {
    let mut md = cluster(3);
    create(
        &mut md,
        "f",
        json!({"index": {"number_of_shards": 1, "number_of_replicas": 0, "routing.allocation.exclude._name": "node-1,node-2"}}),
    );
    assert_eq!(shards(&md, "f")[0].copies, vec!["id-3".to_string()]);
    let im = md.indices["f"].clone();
    let decisions = md.explain_allocation(&im, 0);
    let refused: Vec<(&str, &str)> = decisions
        .iter()
        .filter_map(|d| d.refusal.as_ref().map(|(decider, _)| (d.node.name.as_str(), *decider)))
        .collect();
    assert_eq!(refused, vec![("node-1", "filter"), ("node-2", "filter"), ("node-3", "same_shard")]);
    // Moving it: the new copy is added first, the old one goes once the new one started.
    update_settings(&mut md, "f", json!({"index": {"routing.allocation.exclude._name": "node-3"}}));
    let s = shards(&md, "f")[0].clone();
    assert_eq!(s.copies.len(), 2, "{s:?}");
    let new = s.copies[1].clone();
    md.apply(MetadataCommand::ShardStarted { index_uuid: "uuid-f".into(), shard: 0, node_id: new.clone() }, NOW)
        .unwrap();
    assert_eq!(shards(&md, "f")[0].copies, vec![new]);
}

#[test]
fn auto_expand_replicas_follows_the_data_nodes() {
    let mut md = cluster(2);
    create(&mut md, "ae", json!({"index": {"number_of_shards": 1, "auto_expand_replicas": "0-all"}}));
    assert_eq!(shards(&md, "ae")[0].copies.len(), 2);
    md.apply(MetadataCommand::NodeJoined { node: node(3, &["data"], None) }, NOW).unwrap();
    assert_eq!(shards(&md, "ae")[0].copies.len(), 3);
}

#[test]
fn the_witness_node_takes_a_third_copy_only_while_every_copy_is_up() {
    let mut md = cluster(3);
    create(&mut md, "w", json!({"index": {"number_of_shards": 1, "number_of_replicas": 1}}));
    let s = shards(&md, "w")[0].clone();
    let witness = s.witness.clone().expect("a witness");
    // A lost copy is not replaced on the witness's node: the group needs its vote.
    md.apply(MetadataCommand::NodeLeft { node_id: s.copies[1].clone() }, NOW).unwrap();
    let after = shards(&md, "w")[0].clone();
    assert_eq!(after.copies, vec![s.copies[0].clone()]);
    assert_eq!(after.witness.as_ref(), Some(&witness));
    // The node returns; with every copy up, more replicas may use the witness's node.
    md.apply(MetadataCommand::NodeJoined { node: md_node(&s.copies[1]) }, NOW).unwrap();
    let back = shards(&md, "w")[0].clone();
    assert_eq!(back.copies.len(), 2);
    let returned = back.copies[1].clone();
    md.apply(MetadataCommand::ShardStarted { index_uuid: "uuid-w".into(), shard: 0, node_id: returned }, NOW).unwrap();
    update_settings(&mut md, "w", json!({"index": {"number_of_replicas": 2}}));
    let three = shards(&md, "w")[0].clone();
    assert_eq!(three.copies.len(), 3);
    assert!(three.copies.contains(&witness));
    assert_eq!(three.witness, None);
}

fn md_node(id: &str) -> DiscoveryNode {
    let n: u64 = id.trim_start_matches("id-").parse().unwrap();
    node(n, &["master", "data"], None)
}
