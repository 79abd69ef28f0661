//! Peer recovery on a real three-process cluster: a copy that was away while its raft group's log
//! was purged past it comes back and catches up by copying the leader's snapshot files, then
//! follows the log again.
//!
//! The nodes snapshot every 20 log entries and keep 5 behind a snapshot (hidden `tern.raft.*`
//! settings), so a few hundred single-document writes purge the log well past the stopped copy.

use tern_integration_tests::{Body, CLUSTER_TIMEOUT, TestCluster, Value, json, wait_until};

const INDEX: &str = "recov";

/// The documents node `i`'s own copy holds (its `_stats` describe its local copy), after a refresh.
fn local_doc_count(c: &TestCluster, i: usize) -> Option<u64> {
    let client = c.node(i).client();
    let _ = client.try_send("POST", &format!("/{INDEX}/_refresh"), Body::Empty, &[]);
    let r = client.try_send("GET", &format!("/{INDEX}/_stats/docs"), Body::Empty, &[]).ok()?;
    r.json["indices"][INDEX]["primaries"]["docs"]["count"].as_u64()
}

fn put_doc(c: &TestCluster, i: usize, id: u32) {
    let (status, body) = c.node(i).put(&format!("/{INDEX}/_doc/{id}"), json!({"n": id, "text": format!("doc {id}")}));
    assert!(status == 200 || status == 201, "write {id} through node-{}: {status} {body}", i + 1);
}

#[test]
fn a_copy_behind_the_purged_log_recovers_from_the_leaders_snapshot_files() {
    let mut c = TestCluster::start(3, &["tern.raft.snapshot_every_logs=20", "tern.raft.logs_kept_after_snapshot=5"]);
    c.wait_formed(CLUSTER_TIMEOUT);
    c.node(0).put_ok(
        &format!("/{INDEX}"),
        json!({"settings": {"number_of_shards": 1, "number_of_replicas": 2, "refresh_interval": "1s"}}),
    );
    for i in 0..50 {
        put_doc(&c, 0, i);
    }
    for i in 0..3 {
        wait_until(CLUSTER_TIMEOUT, &format!("node-{} to hold 50 docs", i + 1), |last| {
            let n = local_doc_count(&c, i);
            *last = format!("{n:?}");
            (n == Some(50)).then_some(())
        });
    }

    // Stop a copy that does not lead the shard's group; write through another node.
    let (_, shards) = c.node(0).get(&format!("/_cat/shards/{INDEX}?format=json&h=prirep,node"), ());
    let primary = shards
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["prirep"] == "p"))
        .and_then(|r| r["node"].as_str())
        .expect("a primary")
        .to_string();
    let leader = c.index_of(&primary);
    let victim = (0..3).find(|i| *i != leader).expect("a non-primary node");
    let writer = (0..3).find(|i| *i != victim).expect("a survivor");
    c.terminate(victim);
    for i in 50..300 {
        put_doc(&c, writer, i);
    }
    // A delete and an update the copy must also learn about.
    let (status, _) = c.node(writer).delete(&format!("/{INDEX}/_doc/7"), ());
    assert_eq!(status, 200);
    put_doc(&c, writer, 8);
    let (status, flushed) = c.node(writer).post(&format!("/{INDEX}/_flush"), ());
    assert_eq!(status, 200, "{flushed}");
    // The sender's rate is a dynamic cluster setting.
    let (status, body) =
        c.node(writer).put("/_cluster/settings", json!({"persistent": {"indices.recovery.max_bytes_per_sec": "20mb"}}));
    assert_eq!(status, 200, "{body}");

    c.restart(victim);
    c.wait_formed(CLUSTER_TIMEOUT);
    let victim_name = format!("node-{}", victim + 1);
    // `_cat/recovery` on any node reports the copy's peer recovery, done, with the files it copied.
    let row = wait_until(CLUSTER_TIMEOUT, "a finished peer recovery of the returning copy", |last| {
        let r = c
            .node(writer)
            .client()
            .try_send("GET", &format!("/_cat/recovery/{INDEX}?format=json&bytes=b"), Body::Empty, &[])
            .ok()?;
        *last = r.text.clone();
        r.json
            .as_array()?
            .iter()
            .find(|row| row["type"] == "peer" && row["target_node"] == victim_name.as_str())
            .cloned()
    });
    let done = wait_until(CLUSTER_TIMEOUT, "the peer recovery to finish", |last| {
        let r = c
            .node(victim)
            .client()
            .try_send("GET", &format!("/_cat/recovery/{INDEX}?format=json&bytes=b"), Body::Empty, &[])
            .ok()?;
        *last = format!("{} (first seen: {row})", r.text);
        r.json
            .as_array()?
            .iter()
            .find(|row| row["type"] == "peer" && row["target_node"] == victim_name.as_str() && row["stage"] == "done")
            .cloned()
    });
    let num = |v: &Value| v.as_str().and_then(|s| s.parse::<u64>().ok()).or_else(|| v.as_u64()).unwrap_or(0);
    assert!(num(&done["files"]) > 0, "{done}");
    assert_eq!(num(&done["files_recovered"]), num(&done["files"]), "{done}");
    assert_eq!(num(&done["bytes_recovered"]), num(&done["bytes"]), "{done}");
    assert!(num(&done["bytes_total"]) >= num(&done["bytes"]) && num(&done["bytes"]) > 0, "{done}");
    assert_eq!(done["files_percent"], "100.0%", "{done}");
    assert!(done["source_node"].as_str().is_some_and(|n| n != victim_name), "the source is another copy: {done}");
    assert!(
        c.node(victim).logs().contains("installed the leader's snapshot"),
        "the copy caught up through a snapshot install, not the log"
    );

    // The copy holds every document, and follows the log again afterwards.
    wait_until(CLUSTER_TIMEOUT, "the returning copy to hold 299 docs", |last| {
        let n = local_doc_count(&c, victim);
        *last = format!("{n:?}");
        (n == Some(299)).then_some(())
    });
    put_doc(&c, writer, 1000);
    wait_until(CLUSTER_TIMEOUT, "the returning copy to apply a new write", |last| {
        let n = local_doc_count(&c, victim);
        *last = format!("{n:?}");
        (n == Some(300)).then_some(())
    });
    for id in [0u32, 8, 150, 299, 1000] {
        let (status, doc) = c.node(victim).get(&format!("/{INDEX}/_doc/{id}"), ());
        assert_eq!((status, doc["_source"]["n"].clone()), (200, json!(id)), "{doc}");
    }
    let (status, _) = c.node(victim).get(&format!("/{INDEX}/_doc/7"), ());
    assert_eq!(status, 404, "the delete made while the copy was away is in its copy");

    // The recovered copy survives a restart of its own: its commit carries the leader's position.
    c.terminate(victim);
    c.restart(victim);
    c.wait_formed(CLUSTER_TIMEOUT);
    wait_until(CLUSTER_TIMEOUT, "the recovered copy to reopen with 300 docs", |last| {
        let n = local_doc_count(&c, victim);
        *last = format!("{n:?}");
        (n == Some(300)).then_some(())
    });
}
