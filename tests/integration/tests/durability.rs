//! Durability of acknowledged writes, against the real `tern` process.
//!
//! The promise under test: with the default `index.translog.durability: request`, a write that was
//! acknowledged survives `kill -9`, with the same `_version`, `_seq_no` and `_primary_term` it was
//! acknowledged with. With `async` durability only a clean restart (and a prefix of the writes) is
//! promised. A graceful stop (SIGTERM) keeps everything, whatever the durability.

use std::collections::BTreeMap;

use tern_integration_tests::{HttpClient, TestProcess, Value, json};

/// What a write was acknowledged with.
#[derive(Debug, Clone, PartialEq)]
struct Ack {
    version: i64,
    seq_no: i64,
    primary_term: i64,
    /// `None` for a delete.
    source: Option<Value>,
}

fn ack_of(v: &Value, source: Option<Value>) -> Ack {
    Ack {
        version: v["_version"].as_i64().unwrap_or_else(|| panic!("no _version in {v}")),
        seq_no: v["_seq_no"].as_i64().unwrap_or_else(|| panic!("no _seq_no in {v}")),
        primary_term: v["_primary_term"].as_i64().unwrap_or_else(|| panic!("no _primary_term in {v}")),
        source,
    }
}

/// Every acknowledged document is there with what it was acknowledged with (realtime GET through
/// `_mget`), deleted ones are gone, and after `_refresh` search counts exactly the live ones.
fn assert_all_present(node: &HttpClient, index: &str, acks: &BTreeMap<String, Ack>, per_doc_get: bool) {
    let ids: Vec<&String> = acks.keys().collect();
    for chunk in ids.chunks(500) {
        let v = node.post_ok(&format!("/{index}/_mget"), json!({"ids": chunk}));
        for (doc, id) in v["docs"].as_array().expect("docs").iter().zip(chunk) {
            let ack = &acks[*id];
            match &ack.source {
                Some(source) => {
                    assert_eq!(doc["found"], json!(true), "acknowledged doc [{id}] is missing: {doc}");
                    let got = Ack {
                        version: doc["_version"].as_i64().unwrap(),
                        seq_no: doc["_seq_no"].as_i64().unwrap(),
                        primary_term: doc["_primary_term"].as_i64().unwrap(),
                        source: Some(doc["_source"].clone()),
                    };
                    assert_eq!(&got, ack, "doc [{id}] differs from its acknowledgement");
                    assert_eq!(got.source.as_ref(), Some(source));
                }
                None => assert_eq!(doc["found"], json!(false), "deleted doc [{id}] is back: {doc}"),
            }
        }
    }
    if per_doc_get {
        for (id, ack) in acks {
            let (s, doc) = node.get(&format!("/{index}/_doc/{id}"), ());
            match &ack.source {
                Some(_) => {
                    assert_eq!(s, 200, "acknowledged doc [{id}] is missing: {doc}");
                    assert_eq!(&ack_of(&doc, Some(doc["_source"].clone())), ack, "GET [{id}]");
                }
                None => assert_eq!(s, 404, "deleted doc [{id}] is back: {doc}"),
            }
        }
    }
    node.refresh(index);
    let live = acks.values().filter(|a| a.source.is_some()).count() as u64;
    assert_eq!(node.count(index), live, "search count after _refresh");
}

fn report_restart(what: &str, node: &TestProcess) {
    println!("restart after {what}: {:?} until \"started\"", node.last_start);
}

#[test]
fn acknowledged_single_writes_survive_kill9() {
    let mut node = TestProcess::start(&[]);
    let idx = "single";
    node.put_ok(&format!("/{idx}"), json!({"settings": {"number_of_shards": 2}}));
    let mut acks = BTreeMap::new();
    for i in 0..150 {
        let id = format!("d{i}");
        let source = json!({"i": i, "text": format!("document number {i}")});
        let (s, v) = node.put(&format!("/{idx}/_doc/{id}"), source.clone());
        assert_eq!(s, 201, "{v}");
        acks.insert(id.clone(), ack_of(&v, Some(source)));
        if i % 5 == 0 {
            let source = json!({"i": i, "text": "updated"});
            let v = node.put_ok(&format!("/{idx}/_doc/{id}"), source.clone());
            acks.insert(id.clone(), ack_of(&v, Some(source)));
        }
        if i % 7 == 0 {
            let (s, v) = node.post(&format!("/{idx}/_update/{id}"), json!({"doc": {"patched": true}}));
            assert_eq!(s, 200, "{v}");
            let merged = node.get_ok(&format!("/{idx}/_doc/{id}"))["_source"].clone();
            acks.insert(id.clone(), ack_of(&v, Some(merged)));
        }
        if i % 11 == 0 {
            let (s, v) = node.delete(&format!("/{idx}/_doc/{id}"), ());
            assert_eq!(s, 200, "{v}");
            acks.insert(id.clone(), ack_of(&v, None));
        }
    }

    node.kill9();
    node.restart();
    report_restart("kill -9 (150 single writes)", &node);
    assert_all_present(&node, idx, &acks, true);

    // The shard continues where it was: a new write gets a later seq_no, the next version and a
    // term no lower than before.
    let old_term = acks.values().map(|a| a.primary_term).max().unwrap();
    let v = node.put_ok(&format!("/{idx}/_doc/d1"), json!({"again": true}));
    assert_eq!(v["_version"], json!(acks["d1"].version + 1), "versions continue after a restart: {v}");
    assert!(v["_seq_no"].as_i64().unwrap() > acks["d1"].seq_no, "{v}");
    assert!(v["_primary_term"].as_i64().unwrap() >= old_term, "{v}");
}

#[test]
fn acknowledged_bulks_survive_kill9() {
    let mut node = TestProcess::start(&[]);
    let idx = "bulky";
    node.put_ok(
        &format!("/{idx}"),
        json!({"settings": {"number_of_shards": 3}, "mappings": {"properties": {"tag": {"type": "keyword"}}}}),
    );
    let mut acks = BTreeMap::new();
    let mut lines = Vec::new();
    let mut sources = Vec::new();
    for i in 0..1200 {
        let source = json!({"i": i, "tag": format!("t{}", i % 10)});
        lines.push(json!({"index": {"_id": format!("b{i}")}}));
        lines.push(source.clone());
        sources.push(source);
    }
    let v = node.bulk_ok(&format!("/{idx}/_bulk"), &lines);
    for (item, source) in v["items"].as_array().unwrap().iter().zip(&sources) {
        let it = &item["index"];
        acks.insert(it["_id"].as_str().unwrap().to_string(), ack_of(it, Some(source.clone())));
    }
    // A second bulk mixing updates, deletes and creates.
    let mut lines = Vec::new();
    let mut expected: Vec<(String, Option<Value>)> = Vec::new();
    for (i, original) in sources.iter().enumerate().take(200) {
        match i % 3 {
            0 => {
                lines.push(json!({"update": {"_id": format!("b{i}")}}));
                lines.push(json!({"doc": {"updated": true}}));
                let mut src = original.clone();
                src["updated"] = json!(true);
                expected.push((format!("b{i}"), Some(src)));
            }
            1 => {
                lines.push(json!({"delete": {"_id": format!("b{i}")}}));
                expected.push((format!("b{i}"), None));
            }
            _ => {
                lines.push(json!({"create": {"_id": format!("new{i}")}}));
                let src = json!({"new": i});
                lines.push(src.clone());
                expected.push((format!("new{i}"), Some(src)));
            }
        }
    }
    let v = node.bulk_ok(&format!("/{idx}/_bulk"), &lines);
    for (item, (id, source)) in v["items"].as_array().unwrap().iter().zip(expected) {
        let it = item.as_object().unwrap().values().next().unwrap();
        assert_eq!(it["_id"], json!(id));
        acks.insert(id, ack_of(it, source));
    }

    node.kill9();
    node.restart();
    report_restart("kill -9 (bulks of 1,400 ops over 3 shards)", &node);
    assert_all_present(&node, idx, &acks, false);
    // The index's metadata survived too.
    let m = node.get_ok(&format!("/{idx}/_mapping"));
    assert_eq!(m[idx]["mappings"]["properties"]["tag"], json!({"type": "keyword"}), "{m}");
    let v = node.post_ok(&format!("/{idx}/_count"), json!({"query": {"term": {"tag": "t3"}}}));
    assert!(v["count"].as_u64().unwrap() > 0, "{v}");
}

#[test]
fn kill9_during_concurrent_writes_keeps_every_acknowledged_one() {
    const WRITERS: usize = 4;
    let mut node = TestProcess::start(&[]);
    let idx = "racing";
    node.put_ok(&format!("/{idx}"), json!({"settings": {"number_of_shards": 2}}));
    let client = node.client().clone();
    let (tx, rx) = std::sync::mpsc::channel::<(String, Ack)>();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let client = client.clone();
            let tx = tx.clone();
            std::thread::spawn(move || {
                // Writes until the node dies under it; only acknowledged writes are reported.
                for i in 0.. {
                    let id = format!("w{w}-{i}");
                    let source = json!({"w": w, "i": i});
                    match client.try_send("PUT", &format!("/{idx}/_doc/{id}"), source.clone(), &[]) {
                        Ok(r) if r.status == 201 => {
                            if tx.send((id, ack_of(&r.json, Some(source)))).is_err() {
                                return;
                            }
                        }
                        Ok(r) => panic!("write [{id}] answered {}: {}", r.status, r.text),
                        Err(_) => return,
                    }
                }
            })
        })
        .collect();
    drop(tx);
    // Kill once enough writes were acknowledged, with more in flight.
    let mut acks = BTreeMap::new();
    while acks.len() < 300 {
        let (id, ack) = rx.recv().expect("writers stopped before 300 acknowledgements");
        acks.insert(id, ack);
    }
    node.kill9();
    for w in writers {
        w.join().expect("writer thread");
    }
    // Writes acknowledged between our last receive and the kill count too.
    acks.extend(rx.try_iter());
    node.restart();
    report_restart(&format!("kill -9 under {WRITERS} concurrent writers"), &node);
    let ids: Vec<&String> = acks.keys().collect();
    let v = node.post_ok(&format!("/{idx}/_mget"), json!({"ids": ids}));
    for doc in v["docs"].as_array().unwrap() {
        let ack = &acks[doc["_id"].as_str().unwrap()];
        assert_eq!(doc["found"], json!(true), "acknowledged write lost: {doc}");
        assert_eq!(ack_of(doc, Some(doc["_source"].clone())), *ack, "{doc}");
    }
    println!("{} acknowledged writes survived kill -9 under load", acks.len());
}

#[test]
fn async_durability_restarts_cleanly_with_a_prefix() {
    let mut node = TestProcess::start(&[]);
    let idx = "relaxed";
    node.put_ok(&format!("/{idx}"), json!({"settings": {"index.translog.durability": "async", "number_of_shards": 1}}));
    let v = node.get_ok(&format!("/{idx}/_settings"));
    assert_eq!(v[idx]["settings"]["index"]["translog"]["durability"], json!("async"), "{v}");
    let n = 300;
    for i in 0..n {
        let (s, v) = node.put(&format!("/{idx}/_doc/{i}"), json!({"i": i}));
        assert_eq!(s, 201, "{v}");
    }
    node.kill9();
    node.restart();
    report_restart("kill -9 (async durability)", &node);

    // Whatever survived is served consistently: a prefix of the writes (one shard, one log), each
    // document intact, GET and search agreeing.
    let ids: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    let v = node.post_ok(&format!("/{idx}/_mget"), json!({"ids": ids}));
    let found: Vec<bool> = v["docs"].as_array().unwrap().iter().map(|d| d["found"] == json!(true)).collect();
    let present = found.iter().filter(|f| **f).count();
    assert!(found.iter().take(present).all(|f| *f), "the surviving writes are not a prefix: {found:?}");
    for (i, doc) in v["docs"].as_array().unwrap().iter().enumerate().take(present) {
        assert_eq!(doc["_source"], json!({"i": i}), "{doc}");
        assert_eq!(doc["_version"], json!(1), "{doc}");
        assert_eq!(doc["_seq_no"], json!(i), "{doc}");
    }
    node.refresh(idx);
    assert_eq!(node.count(idx), present as u64);
    println!("async durability: {present} of {n} unsynced writes survived kill -9");
    // And it keeps working.
    let (s, v) = node.put(&format!("/{idx}/_doc/after?refresh=true"), json!({"after": true}));
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["_seq_no"], json!(present), "seq_nos continue after the surviving prefix: {v}");
    assert_eq!(node.count(idx), present as u64 + 1);
}

#[test]
fn sigterm_keeps_everything() {
    let mut node = TestProcess::start(&[]);
    let sync_idx = "graceful";
    let async_idx = "graceful-async";
    let hidden_idx = "graceful-unrefreshed";
    node.put_ok(&format!("/{async_idx}"), json!({"settings": {"index.translog.durability": "async"}}));
    node.put_ok(&format!("/{hidden_idx}"), json!({"settings": {"refresh_interval": "-1"}}));
    let mut acks: BTreeMap<&str, BTreeMap<String, Ack>> = BTreeMap::new();
    for idx in [sync_idx, async_idx, hidden_idx] {
        let mut lines = Vec::new();
        for i in 0..100 {
            lines.push(json!({"index": {"_id": i.to_string()}}));
            lines.push(json!({"i": i, "idx": idx}));
        }
        let v = node.bulk_ok(&format!("/{idx}/_bulk"), &lines);
        let mut m = BTreeMap::new();
        for (i, item) in v["items"].as_array().unwrap().iter().enumerate() {
            m.insert(i.to_string(), ack_of(&item["index"], Some(json!({"i": i, "idx": idx}))));
        }
        for i in 0..10 {
            let source = json!({"i": i, "idx": idx, "second": true});
            let v = node.put_ok(&format!("/{idx}/_doc/{i}"), source.clone());
            m.insert(i.to_string(), ack_of(&v, Some(source)));
        }
        acks.insert(idx, m);
    }
    node.post_ok("/_aliases", json!({"actions": [{"add": {"index": sync_idx, "alias": "graceful-alias"}}]}));

    node.terminate();
    assert!(node.logs().contains("\"message\":\"stopped\""), "no clean stop in the logs:\n{}", node.logs());
    node.restart();
    report_restart("SIGTERM", &node);
    for (idx, m) in &acks {
        assert_all_present(&node, idx, m, false);
    }
    assert_eq!(node.count("graceful-alias"), 100);
}

/// A restart reads the applied position from the last commit and replays only the log after it.
/// Replaying anything before it would apply those writes twice: their `_version` and `_seq_no`
/// would move, and the next write would not get the next seq_no.
#[test]
fn restart_replays_only_the_tail() {
    let mut node = TestProcess::start(&[]);
    let idx = "tail";
    node.put_ok(&format!("/{idx}"), json!({"settings": {"number_of_shards": 1}}));
    let mut acks = BTreeMap::new();
    for batch in 0..4 {
        let mut lines = Vec::new();
        for i in 0..500 {
            let id = batch * 500 + i;
            lines.push(json!({"index": {"_id": id.to_string()}}));
            lines.push(json!({"n": id}));
        }
        let v = node.bulk_ok(&format!("/{idx}/_bulk"), &lines);
        for (i, item) in v["items"].as_array().unwrap().iter().enumerate() {
            let id = batch * 500 + i;
            acks.insert(id.to_string(), ack_of(&item["index"], Some(json!({"n": id}))));
        }
    }
    let v = node.post_ok(&format!("/{idx}/_flush"), ());
    assert_eq!(v["_shards"]["failed"], json!(0), "{v}");
    for i in 2000..2010 {
        let source = json!({"n": i, "tail": true});
        let v = node.put_ok(&format!("/{idx}/_doc/{i}"), source.clone());
        acks.insert(i.to_string(), ack_of(&v, Some(source)));
    }
    node.kill9();
    node.restart();
    report_restart("kill -9 (2,000 flushed + 10 unflushed docs)", &node);

    assert_all_present(&node, idx, &acks, false);
    let v = node.put_ok(&format!("/{idx}/_doc/next"), json!({"n": -1}));
    assert_eq!(v["_seq_no"], json!(2010), "the next write takes the next seq_no: {v}");
}
