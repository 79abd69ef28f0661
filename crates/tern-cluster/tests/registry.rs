//! The node registry of a multi-node cluster, and loading state written before it existed.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use tern_cluster::{ClusterMetadata, DiscoveryNode, MetadataCommand, MetadataOutcome};

const NOW: i64 = 1_700_000_000_000;

fn node(n: u64, roles: &[&str]) -> DiscoveryNode {
    DiscoveryNode {
        id: format!("id-{n}"),
        name: format!("node-{n}"),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        attributes: BTreeMap::new(),
        transport_address: format!("127.0.0.1:{}", 9300 + n),
        http_address: format!("127.0.0.1:{}", 9200 + n),
        raft_id: n,
    }
}

fn create(md: &mut ClusterMetadata, name: &str) {
    md.apply(
        MetadataCommand::CreateIndex {
            name: name.into(),
            uuid: format!("uuid-{name}"),
            settings: Value::Null,
            mappings: Value::Null,
            aliases: Value::Null,
        },
        NOW,
    )
    .expect("create");
}

#[test]
fn nodes_join_rejoin_and_leave() {
    let mut md = ClusterMetadata::new("_na_");
    let out = md.apply(MetadataCommand::NodeJoined { node: node(1, &["master", "data"]) }, NOW).unwrap();
    assert_eq!(out, MetadataOutcome::NodeJoined { node_id: "id-1".into() });
    let v = md.version;
    // The same node again changes nothing (no new version); new addresses replace the old.
    md.apply(MetadataCommand::NodeJoined { node: node(1, &["master", "data"]) }, NOW).unwrap();
    assert_eq!(md.version, v);
    let mut moved = node(1, &["master", "data"]);
    moved.http_address = "127.0.0.1:1".into();
    md.apply(MetadataCommand::NodeJoined { node: moved.clone() }, NOW).unwrap();
    assert_eq!(md.nodes["id-1"], moved);
    assert_eq!(md.node_by_raft_id(1).map(|n| n.name.as_str()), Some("node-1"));
    md.apply(MetadataCommand::NodeLeft { node_id: "id-1".into() }, NOW).unwrap();
    assert!(md.nodes.is_empty());
}

#[test]
fn the_cluster_uuid_is_set_once() {
    let mut md = ClusterMetadata::new("_na_");
    md.apply(MetadataCommand::SetClusterUuid { cluster_uuid: "first".into() }, NOW).unwrap();
    let out = md.apply(MetadataCommand::SetClusterUuid { cluster_uuid: "second".into() }, NOW).unwrap();
    assert_eq!(md.cluster_uuid, "first");
    assert_eq!(out, MetadataOutcome::ClusterUuidSet { cluster_uuid: "first".into() });
}

#[test]
fn state_written_before_the_registry_existed_loads() {
    let mut md = ClusterMetadata::new("u");
    create(&mut md, "old");
    let mut json = serde_json::to_value(&md).unwrap();
    assert!(json.get("nodes").is_none() && json.get("routing_table").is_none());
    json.as_object_mut().unwrap().remove("customs");
    let back: ClusterMetadata = serde_json::from_value(json).unwrap();
    assert_eq!(back, md);
    let _ = json!(null);
}
