//! A real three-process cluster on loopback: formation, replicated metadata, replicated shards,
//! failover of the master (timed), a node's return, and a full cluster restart.
//!
//! Every wait is on observable state through the REST API, bounded in time.

use std::time::{Duration, Instant};

use tern_integration_tests::{Body, CLUSTER_TIMEOUT, TestCluster, Value, json, wait_until};

fn cluster_uuid(c: &TestCluster, i: usize) -> Option<String> {
    let (status, body) = c.node(i).get("/_cluster/state/metadata", ());
    (status == 200).then(|| body["cluster_uuid"].as_str().map(String::from)).flatten().filter(|u| u != "_na_")
}

fn has_index(c: &TestCluster, i: usize, index: &str) -> bool {
    let (status, body) = c.node(i).get("/_cluster/state/metadata", ());
    status == 200 && body["metadata"]["indices"].get(index).is_some()
}

/// Waits until node `i` counts `expected` documents in `index` (refreshing its copies first).
fn wait_count(c: &TestCluster, i: usize, index: &str, expected: u64) {
    wait_until(CLUSTER_TIMEOUT, &format!("node-{} to count {expected} docs in {index}", i + 1), |last| {
        let client = c.node(i).client();
        let _ = client.try_send("POST", &format!("/{index}/_refresh"), Body::Empty, &[]);
        let r = client.try_send("GET", &format!("/{index}/_count"), Body::Empty, &[]).ok()?;
        let n = r.json["count"].as_u64();
        *last = format!("status {} count {n:?}: {}", r.status, r.text);
        (n == Some(expected)).then_some(())
    })
}

/// Indexes `ids` through node `i` one bulk at a time; returns the ids acknowledged.
fn bulk(c: &TestCluster, i: usize, index: &str, ids: std::ops::Range<u32>) -> Vec<u32> {
    let mut lines = Vec::new();
    for id in ids.clone() {
        lines.push(json!({"index": {"_index": index, "_id": id.to_string()}}));
        lines.push(json!({"n": id, "text": format!("document {id}")}));
    }
    let r = c.node(i).client().send("POST", "/_bulk", Body::bulk(&lines), &[]);
    assert_eq!(r.status, 200, "bulk through node-{}: {}", i + 1, r.text);
    r.json["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|it| it["index"]["status"].as_u64().is_some_and(|s| s < 300))
        .filter_map(|it| it["index"]["_id"].as_str().and_then(|s| s.parse().ok()))
        .collect()
}

#[test]
fn three_nodes_form_one_cluster_replicate_fail_over_and_restart() {
    let mut c = TestCluster::start(3, &[]);
    let formed = Instant::now();
    let master = c.wait_formed(CLUSTER_TIMEOUT);
    println!("cluster formed (master {master}) {:?} after the last node started", formed.elapsed());

    // One cluster: one uuid everywhere, health counts three nodes.
    let uuid = wait_until(CLUSTER_TIMEOUT, "a cluster uuid on node-1", |_| cluster_uuid(&c, 0));
    for i in 1..3 {
        wait_until(CLUSTER_TIMEOUT, "the same cluster uuid", |last| {
            let u = cluster_uuid(&c, i);
            *last = format!("{u:?}");
            (u.as_deref() == Some(uuid.as_str())).then_some(())
        });
    }
    let (_, health) = c.node(2).get("/_cluster/health", ());
    assert_eq!(health["number_of_nodes"], 3, "{health}");
    assert_eq!(health["number_of_data_nodes"], 3, "{health}");
    let (_, state) = c.node(0).get("/_cluster/state/nodes,master_node", ());
    assert_eq!(state["nodes"].as_object().map(|n| n.len()), Some(3), "{state}");
    assert!(state["nodes"][state["master_node"].as_str().unwrap_or("?")]["name"] == master.as_str(), "{state}");
    let (_, nodes) = c.node(1).get("/_nodes", ());
    assert_eq!(nodes["_nodes"]["total"], 3, "{nodes}");
    let (_, cat_master) = c.node(1).get("/_cat/master?format=json", ());
    assert_eq!(cat_master[0]["node"], master.as_str(), "{cat_master}");

    // An index created through node-2 is in every node's metadata, and its shards are replicated.
    let created = c.node(1).put_ok("/logs", json!({"settings": {"number_of_shards": 2, "number_of_replicas": 1}}));
    assert_eq!(created["acknowledged"], true);
    for i in [0, 2] {
        wait_until(CLUSTER_TIMEOUT, "the index on every node", |_| has_index(&c, i, "logs").then_some(()));
    }
    let acked = bulk(&c, 2, "logs", 0..200);
    assert_eq!(acked.len(), 200);
    // A realtime GET on any node sees a write acknowledged through another one at once.
    for k in 0..5 {
        let id = format!("rt-{k}");
        let (status, _) = c.node(k % 3).put(&format!("/logs/_doc/{id}"), json!({"n": -1}));
        assert_eq!(status, 201);
        for i in 0..3 {
            let (status, doc) = c.node(i).get(&format!("/logs/_doc/{id}"), ());
            assert_eq!((status, doc["found"].clone()), (200, json!(true)), "node-{}: {doc}", i + 1);
        }
        c.node(0).delete(&format!("/logs/_doc/{id}"), ());
    }
    for i in 0..3 {
        wait_count(&c, i, "logs", 200);
    }
    let (_, shards) = c.node(0).get("/_cat/shards/logs?format=json&h=shard,prirep,state,node", ());
    let rows = shards.as_array().expect("rows");
    // Two shards with one replica: four copies over the three nodes.
    assert_eq!(rows.len(), 4, "{shards}");
    assert!(rows.iter().all(|r| r["state"] == "STARTED"), "{shards}");
    for s in ["0", "1"] {
        let primaries = rows.iter().filter(|r| r["shard"] == s && r["prirep"] == "p").count();
        assert_eq!(primaries, 1, "{shards}");
    }

    // kill -9 the master: the others elect a new one; metadata and document writes work through
    // any surviving node, and nothing acknowledged is lost.
    let old = c.index_of(&master);
    let killed_at = Instant::now();
    c.kill9(old);
    let survivors = c.alive();
    let new_master = wait_until(CLUSTER_TIMEOUT, "a new master", |last| {
        let mut seen = None;
        for &i in &survivors {
            let (status, body) = c.node(i).get("/_cat/master?format=json", ());
            let name = body[0]["node"].as_str().map(String::from);
            *last = format!("node-{}: {status} {name:?}", i + 1);
            match name {
                Some(n) if n != master && (seen.is_none() || seen.as_ref() == Some(&n)) => seen = Some(n),
                _ => return None,
            }
        }
        seen
    });
    let failover = killed_at.elapsed();
    println!("master failover: {master} killed, {new_master} elected after {failover:?}");
    for &i in &survivors {
        let index = format!("after-failover-{}", i + 1);
        let (status, body) = c.node(i).put(&format!("/{index}"), json!({"settings": {"number_of_shards": 1}}));
        assert_eq!(status, 200, "create through node-{} after failover: {body}", i + 1);
    }
    for &i in &survivors {
        for j in &survivors {
            let index = format!("after-failover-{}", j + 1);
            wait_until(CLUSTER_TIMEOUT, "new indices everywhere", |_| has_index(&c, i, &index).then_some(()));
        }
    }
    let writes_at = Instant::now();
    let acked2 = bulk(&c, survivors[0], "logs", 200..300);
    println!("first bulk after the failover acknowledged after {:?}", writes_at.elapsed());
    assert_eq!(acked2.len(), 100);
    for &i in &survivors {
        wait_count(&c, i, "logs", 300);
    }
    c.wait_formed(CLUSTER_TIMEOUT);

    // The killed node comes back, rejoins, and catches up on metadata and documents.
    c.restart(old);
    c.wait_formed(CLUSTER_TIMEOUT);
    for j in &survivors {
        let index = format!("after-failover-{}", j + 1);
        wait_until(CLUSTER_TIMEOUT, "the returning node to learn new indices", |_| {
            has_index(&c, old, &index).then_some(())
        });
    }
    wait_count(&c, old, "logs", 300);
    assert_eq!(cluster_uuid(&c, old).as_deref(), Some(uuid.as_str()));

    // A full cluster restart keeps everything.
    for i in 0..3 {
        c.terminate(i);
    }
    for i in 0..3 {
        c.restart(i);
    }
    let master_after = c.wait_formed(CLUSTER_TIMEOUT);
    println!("full restart: master {master_after}");
    for i in 0..3 {
        assert_eq!(cluster_uuid(&c, i).as_deref(), Some(uuid.as_str()), "node-{}", i + 1);
        for index in ["logs", "after-failover-1", "after-failover-2", "after-failover-3"] {
            if index.ends_with(&format!("-{}", old + 1)) {
                continue;
            }
            assert!(has_index(&c, i, index), "node-{} lost {index}", i + 1);
        }
        wait_count(&c, i, "logs", 300);
    }
    let (_, doc) = c.node(0).get("/logs/_doc/42", ());
    assert_eq!(doc["_source"]["n"], 42, "{doc}");
}

#[test]
fn a_node_of_another_cluster_is_refused() {
    let c = TestCluster::start(1, &[]);
    // A single-node "cluster" that names itself and a peer: it waits for node-2 to bootstrap.
    let port = c.transport_ports[0];
    let other = tern_integration_tests::TestProcess::start(&[
        "node.name=stranger",
        "cluster.name=another-cluster",
        "transport.host=127.0.0.1",
        &format!("transport.port={}", tern_integration_tests::free_port()),
        &format!("discovery.seed_hosts=127.0.0.1:{port}"),
        "cluster.initial_master_nodes=stranger",
    ]);
    wait_until(CLUSTER_TIMEOUT, "the refusal to be logged", |_| {
        other.logs().contains("seed host refused this node").then_some(())
    });
    let (_, nodes) = other.get("/_cat/nodes?format=json", ());
    assert_eq!(nodes.as_array().map(Vec::len), Some(1), "{nodes}");
    let _: Value = nodes;
}

/// Every document of node `i`'s copies: id -> (version, seq_no, primary_term).
fn copy_contents(c: &TestCluster, i: usize, index: &str) -> std::collections::BTreeMap<String, (u64, u64, u64)> {
    let client = c.node(i).client();
    client.refresh(index);
    let (status, body) = client.post(
        &format!("/{index}/_search"),
        json!({"size": 10000, "version": true, "seq_no_primary_term": true, "query": {"match_all": {}}}),
    );
    assert_eq!(status, 200, "{body}");
    body["hits"]["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| {
            let n = |k: &str| h[k].as_u64().unwrap_or(u64::MAX);
            (h["_id"].as_str().unwrap_or("").to_string(), (n("_version"), n("_seq_no"), n("_primary_term")))
        })
        .collect()
}

#[test]
fn acknowledged_writes_survive_the_loss_of_a_primary() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    let mut c = TestCluster::start(3, &[]);
    c.wait_formed(CLUSTER_TIMEOUT);
    c.node(0).put_ok("/orders", json!({"settings": {"number_of_shards": 3, "number_of_replicas": 1}}));
    // The node holding the primary of shard 0 is the victim; writers use the other two.
    let (_, shards) = c.node(0).get("/_cat/shards/orders?format=json&h=shard,prirep,node,state", ());
    let victim_name = shards
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["shard"] == "0" && r["prirep"] == "p")
        .and_then(|r| r["node"].as_str())
        .expect("a primary of shard 0")
        .to_string();
    let victim = c.index_of(&victim_name);
    let writers: Vec<usize> = (0..3).filter(|i| *i != victim).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let acks = Arc::new(AtomicUsize::new(0));
    let mut threads = Vec::new();
    for (w, &i) in writers.iter().enumerate() {
        let client = c.node(i).client().clone();
        let stop = stop.clone();
        let acks = acks.clone();
        threads.push(std::thread::spawn(move || {
            let mut acked = Vec::new();
            let mut longest_gap = Duration::ZERO;
            let mut last_ack = Instant::now();
            let mut n = 0u32;
            while !stop.load(Ordering::SeqCst) {
                let id = format!("w{w}-{n}");
                n += 1;
                let r = client.try_send("PUT", &format!("/orders/_doc/{id}"), Body::Json(json!({"n": n})), &[]);
                if let Ok(r) = r
                    && (r.status == 200 || r.status == 201)
                {
                    longest_gap = longest_gap.max(last_ack.elapsed());
                    last_ack = Instant::now();
                    acked.push(id);
                    acks.fetch_add(1, Ordering::SeqCst);
                }
            }
            (acked, longest_gap)
        }));
    }
    // Let writes flow, then kill the primary's node.
    wait_until(CLUSTER_TIMEOUT, "some writes", |_| (acks.load(Ordering::SeqCst) >= 100).then_some(()));
    let killed_at = Instant::now();
    c.kill9(victim);
    let failover = wait_until(CLUSTER_TIMEOUT, "a new primary of shard 0", |last| {
        let (_, rows) = c.node(writers[0]).get("/_cat/shards/orders?format=json&h=shard,prirep,node,state", ());
        let primary = rows
            .as_array()?
            .iter()
            .find(|r| r["shard"] == "0" && r["prirep"] == "p" && r["state"] == "STARTED")
            .and_then(|r| r["node"].as_str().map(String::from));
        *last = format!("{primary:?}");
        primary.filter(|p| *p != victim_name).map(|_| killed_at.elapsed())
    });
    println!("shard 0 primary failover after kill -9 of {victim_name}: {failover:?}");
    // Keep writing after the failover, then stop.
    let before = acks.load(Ordering::SeqCst);
    wait_until(CLUSTER_TIMEOUT, "writes after the failover", |_| {
        (acks.load(Ordering::SeqCst) >= before + 100).then_some(())
    });
    stop.store(true, Ordering::SeqCst);
    let mut acked = Vec::new();
    for t in threads {
        let (ids, gap) = t.join().expect("writer");
        println!("writer: {} acknowledged, longest pause between acknowledgements {gap:?}", ids.len());
        acked.extend(ids);
    }
    assert!(acked.len() > 100);
    // Every acknowledged write is on both survivors.
    for &i in &writers {
        let contents = copy_contents(&c, i, "orders");
        let missing: Vec<&String> = acked.iter().filter(|id| !contents.contains_key(*id)).collect();
        assert!(missing.is_empty(), "node-{} lost acknowledged writes: {missing:?}", i + 1);
        let (status, doc) = c.node(i).get(&format!("/orders/_doc/{}", acked[acked.len() - 1]), ());
        assert_eq!((status, doc["found"].clone()), (200, json!(true)), "{doc}");
    }
    // The victim returns and catches up; all copies hold the same documents, versions, seq_nos.
    c.restart(victim);
    c.wait_formed(CLUSTER_TIMEOUT);
    let reference = copy_contents(&c, writers[0], "orders");
    for i in 0..3 {
        wait_until(CLUSTER_TIMEOUT, &format!("node-{}'s copies to match", i + 1), |last| {
            let contents = copy_contents(&c, i, "orders");
            *last = format!("{} docs vs {}", contents.len(), reference.len());
            (contents == reference).then_some(())
        });
    }
    // The returned node's copies are started once their primaries caught them up: green.
    wait_health(&c, victim, "green");
}

/// Name of the node holding the primary of `shard` of `index`, as node `i` sees it (started copies).
fn primary_of(c: &TestCluster, i: usize, index: &str, shard: &str) -> Option<String> {
    let (_, rows) = c.node(i).get(&format!("/_cat/shards/{index}?format=json&h=shard,prirep,node,state"), ());
    rows.as_array()?
        .iter()
        .find(|r| r["shard"] == shard && r["prirep"] == "p" && r["state"] == "STARTED")
        .and_then(|r| r["node"].as_str().map(String::from))
}

/// Five rounds of kill -9 of the node holding a primary (the master too, when it is the same
/// node), each followed by the node's return; reports the failover times.
#[test]
fn failover_times_over_five_rounds() {
    let mut c = TestCluster::start(3, &[]);
    c.wait_formed(CLUSTER_TIMEOUT);
    c.node(0).put_ok("/rounds", json!({"settings": {"number_of_shards": 1, "number_of_replicas": 1}}));
    let mut shard_times = Vec::new();
    let mut master_times = Vec::new();
    let mut written = 0u32;
    for round in 0..5 {
        let victim_name = wait_until(CLUSTER_TIMEOUT, "a primary", |_| primary_of(&c, 0, "rounds", "0"));
        let victim = c.index_of(&victim_name);
        let other = (victim + 1) % 3;
        let master = c.wait_formed(CLUSTER_TIMEOUT);
        // Acknowledged writes before the kill.
        for _ in 0..20 {
            let (status, body) = c.node(other).put(&format!("/rounds/_doc/{written}"), json!({"round": round}));
            assert_eq!(status, 201, "{body}");
            written += 1;
        }
        let killed_at = Instant::now();
        c.kill9(victim);
        // The first write through a survivor that is acknowledged after the kill.
        let (status, body) = c.node(other).put(&format!("/rounds/_doc/{written}"), json!({"round": round}));
        assert_eq!(status, 201, "{body}");
        written += 1;
        let took = killed_at.elapsed();
        shard_times.push(took);
        if master == victim_name {
            let m = wait_until(CLUSTER_TIMEOUT, "a new master", |_| {
                let (_, body) = c.node(other).get("/_cat/master?format=json", ());
                body[0]["node"].as_str().filter(|n| *n != victim_name).map(|_| killed_at.elapsed())
            });
            master_times.push(m);
        }
        println!(
            "round {round}: killed {victim_name} (master: {}), write acknowledged after {took:?}",
            master == victim_name
        );
        c.restart(victim);
        c.wait_formed(CLUSTER_TIMEOUT);
        wait_count(&c, victim, "rounds", u64::from(written));
        // The next loss is survivable once both copies are in sync again.
        wait_health(&c, other, "green");
    }
    for i in 0..3 {
        wait_count(&c, i, "rounds", u64::from(written));
    }
    shard_times.sort();
    master_times.sort();
    println!("primary failover (kill -9 -> write acknowledged), sorted: {shard_times:?}");
    println!("master failover (kill -9 -> new master seen), sorted: {master_times:?}");
    assert!(shard_times.iter().all(|t| *t < Duration::from_secs(10)), "{shard_times:?}");
}

/// Nodes that were not initial master nodes join a formed cluster: a master-eligible one becomes a
/// voter of the metadata group (the cluster keeps a master when two of the first three are gone),
/// a data-only one follows as a learner and holds copies of new indices; a node without a copy of
/// an index serves it through the nodes that hold one.
#[test]
fn nodes_join_a_formed_cluster() {
    let mut c = TestCluster::start(3, &[]);
    c.wait_formed(CLUSTER_TIMEOUT);
    c.node(0).put_ok("/before", json!({"settings": {"number_of_shards": 1}}));
    let fourth = c.add_node(&[]);
    let data_only = c.add_node(&["node.roles=data"]);
    c.wait_formed(CLUSTER_TIMEOUT);
    wait_until(CLUSTER_TIMEOUT, "node-4 to see the older index", |_| has_index(&c, fourth, "before").then_some(()));
    // A node without a copy of an index serves it all the same: writes, GETs and searches go to
    // the nodes that hold copies.
    let (status, body) = c.node(fourth).put("/before/_doc/1", json!({"a": 1}));
    assert_eq!(status, 201, "{body}");
    let (status, doc) = c.node(fourth).get("/before/_doc/1", ());
    assert_eq!((status, doc["_source"]["a"].clone()), (200, json!(1)), "{doc}");
    wait_count(&c, fourth, "before", 1);
    let (_, nodes) = c.node(data_only).get("/_cat/nodes?format=json&h=name,node.role,master", ());
    assert_eq!(nodes.as_array().map(Vec::len), Some(5), "{nodes}");
    // A new index is spread over the data nodes, the late ones included; writes through the
    // data-only node are readable everywhere.
    c.node(fourth).put_ok("/after", json!({"settings": {"number_of_shards": 5, "number_of_replicas": 1}}));
    let (_, shards) = c.node(0).get("/_cat/shards/after?format=json&h=shard,node", ());
    let rows = shards.as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 10, "{shards}");
    let holders: std::collections::BTreeSet<&str> = rows.iter().filter_map(|r| r["node"].as_str()).collect();
    assert_eq!(holders.len(), 5, "every data node holds copies: {shards}");
    let acked = bulk(&c, data_only, "after", 0..50);
    assert_eq!(acked.len(), 50);
    for i in 0..5 {
        wait_count(&c, i, "after", 50);
    }
    // node-4 is a voter of the metadata group, the data-only node-5 is not.
    let ids: Vec<String> = [fourth, data_only]
        .iter()
        .map(|i| {
            let (_, body) = c.node(*i).get("/_nodes/_local", ());
            body["nodes"].as_object().and_then(|n| n.keys().next().cloned()).expect("node id")
        })
        .collect();
    wait_until(CLUSTER_TIMEOUT, "node-4 in the voting configuration", |last| {
        let (_, state) = c.node(0).get("/_cluster/state/metadata", ());
        let config = state["metadata"]["cluster_coordination"]["last_committed_config"].clone();
        *last = config.to_string();
        let has = |id: &str| config.as_array().is_some_and(|a| a.iter().any(|v| v == id));
        (config.as_array().map(Vec::len) == Some(4) && has(&ids[0]) && !has(&ids[1])).then_some(())
    });
    // One of the first three gone: three of four voters remain, metadata writes go on.
    let master = c.wait_formed(CLUSTER_TIMEOUT);
    let victim = (0..3).find(|i| format!("node-{}", i + 1) != master).expect("a non-master");
    c.terminate(victim);
    c.wait_formed(CLUSTER_TIMEOUT);
    let (status, body) = c.node(fourth).put("/while-one-is-down", json!({}));
    assert_eq!(status, 200, "{body}");
}

/// `_cat/shards` rows of `index` as node `i` renders them: (shard, prirep, state, node, docs).
fn cat_shards(c: &TestCluster, i: usize, index: &str) -> Vec<(String, String, String, String, Option<u64>)> {
    let (status, rows) = c.node(i).get(&format!("/_cat/shards/{index}?format=json&h=shard,prirep,state,node,docs"), ());
    if status != 200 {
        return Vec::new();
    }
    rows.as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
                    (s("shard"), s("prirep"), s("state"), s("node"), s("docs").parse().ok())
                })
                .collect()
        })
        .unwrap_or_default()
}

fn health_of(c: &TestCluster, i: usize) -> Value {
    c.node(i).get("/_cluster/health", ()).1
}

fn wait_health(c: &TestCluster, i: usize, status: &str) -> Value {
    wait_until(CLUSTER_TIMEOUT, &format!("{status} health on node-{}", i + 1), |last| {
        let h = health_of(c, i);
        *last = h.to_string();
        (h["status"] == status).then_some(h)
    })
}

#[test]
fn replicas_are_honoured_survive_a_node_loss_and_change_at_runtime() {
    let mut c = TestCluster::start(3, &[]);
    c.wait_formed(CLUSTER_TIMEOUT);
    c.node(0).put_ok("/alloc", json!({"settings": {"number_of_shards": 3, "number_of_replicas": 1}}));
    let h = wait_health(&c, 1, "green");
    assert_eq!(h["active_shards"], 6, "{h}");
    // Two copies per shard, never on one node, three shards' copies spread two per node.
    let rows = cat_shards(&c, 2, "alloc");
    assert_eq!(rows.len(), 6, "{rows:?}");
    let mut per_node = std::collections::BTreeMap::<String, usize>::new();
    for s in ["0", "1", "2"] {
        let nodes: Vec<&str> = rows.iter().filter(|r| r.0 == s).map(|r| r.3.as_str()).collect();
        assert_eq!(nodes.len(), 2, "{rows:?}");
        assert_ne!(nodes[0], nodes[1], "{rows:?}");
        for n in nodes {
            *per_node.entry(n.to_string()).or_default() += 1;
        }
    }
    assert_eq!(per_node.values().copied().collect::<Vec<_>>(), vec![2, 2, 2], "{per_node:?}");
    // Every node takes writes, for shards it holds and shards it does not.
    for i in 0..3 {
        let acked = bulk(&c, i, "alloc", (i as u32 * 100)..(i as u32 * 100 + 100));
        assert_eq!(acked.len(), 100);
    }
    // Losing the node with the most primaries keeps every shard writable (the witness votes).
    let rows = cat_shards(&c, 0, "alloc");
    let victim_name = {
        let mut primaries = std::collections::BTreeMap::<String, usize>::new();
        for r in rows.iter().filter(|r| r.1 == "p") {
            *primaries.entry(r.3.clone()).or_default() += 1;
        }
        primaries.into_iter().max_by_key(|(_, n)| *n).map(|(n, _)| n).expect("a primary")
    };
    let victim = c.index_of(&victim_name);
    c.kill9(victim);
    let survivor = c.alive()[0];
    let started = Instant::now();
    let acked = bulk(&c, survivor, "alloc", 300..400);
    assert_eq!(acked.len(), 100, "writes through node-{} after losing {victim_name}", survivor + 1);
    println!("writes after losing {victim_name}: first bulk acknowledged after {:?}", started.elapsed());
    let h = wait_health(&c, survivor, "yellow");
    assert_eq!(h["unassigned_shards"], 2, "the victim held two copies: {h}");
    let (_, ex) = c.node(survivor).get("/_cluster/allocation/explain", ());
    assert_eq!(ex["current_state"], "unassigned", "{ex}");
    assert_eq!(ex["unassigned_info"]["reason"], "NODE_LEFT", "{ex}");
    // The node comes back: its copies catch up from the raft log and the cluster turns green.
    c.restart(victim);
    c.wait_formed(CLUSTER_TIMEOUT);
    wait_health(&c, survivor, "green");
    let _ = c.node(0).client().try_send("POST", "/alloc/_refresh", Body::Empty, &[]);
    wait_until(CLUSTER_TIMEOUT, "the returned node's copies to hold every document", |last| {
        for i in 0..3 {
            let _ = c.node(i).client().try_send("POST", "/alloc/_refresh", Body::Empty, &[]);
        }
        // Each node renders its own copies' document counts.
        let mut per_shard = std::collections::BTreeMap::<String, Vec<u64>>::new();
        for i in 0..3 {
            let me = format!("node-{}", i + 1);
            for r in cat_shards(&c, i, "alloc").into_iter().filter(|r| r.3 == me) {
                per_shard.entry(r.0.clone()).or_default().push(r.4.unwrap_or(0));
            }
        }
        *last = format!("{per_shard:?}");
        let total: u64 = per_shard.values().map(|v| v.first().copied().unwrap_or(0)).sum();
        let agree = per_shard.values().all(|v| v.len() == 2 && v[0] == v[1]);
        (agree && total == 400).then_some(())
    });
    // More replicas: three copies of every shard (the witnesses become copies in place); fewer:
    // one copy each.
    c.node(1).put_ok("/alloc/_settings", json!({"index": {"number_of_replicas": 2}}));
    wait_until(CLUSTER_TIMEOUT, "three copies per shard", |last| {
        let h = health_of(&c, 0);
        *last = h.to_string();
        (h["status"] == "green" && h["active_shards"] == 9).then_some(())
    });
    c.node(1).put_ok("/alloc/_settings", json!({"index": {"number_of_replicas": 0}}));
    wait_until(CLUSTER_TIMEOUT, "one copy per shard", |last| {
        let h = health_of(&c, 2);
        *last = h.to_string();
        (h["status"] == "green" && h["active_shards"] == 3).then_some(())
    });
    let acked = bulk(&c, 2, "alloc", 400..450);
    assert_eq!(acked.len(), 50);
}

/// A lost copy is re-created on a node that had none (four nodes, one replica: the fourth node is
/// neither copy nor witness), from the primary's snapshot files since the log behind them is gone;
/// the cluster turns green again with every document on the new copy.
#[test]
fn a_lost_copy_is_recreated_elsewhere_from_snapshot_files() {
    let mut c = TestCluster::start(4, &["tern.raft.snapshot_every_logs=20", "tern.raft.logs_kept_after_snapshot=5"]);
    c.wait_formed(CLUSTER_TIMEOUT);
    c.node(0).put_ok("/moved", json!({"settings": {"number_of_shards": 1, "number_of_replicas": 1}}));
    wait_health(&c, 0, "green");
    for k in 0..10u32 {
        assert_eq!(bulk(&c, 0, "moved", k * 30..k * 30 + 30).len(), 30);
    }
    c.node(0).post_ok("/moved/_flush", json!({}));
    let rows = cat_shards(&c, 0, "moved");
    let holders: Vec<String> = rows.iter().map(|r| r.3.clone()).collect();
    assert_eq!(holders.len(), 2, "{rows:?}");
    // Lose the replica's node: the copy goes to a node that holds nothing of the shard.
    let replica = rows.iter().find(|r| r.1 == "r").map(|r| r.3.clone()).expect("a replica");
    let lost = c.index_of(&replica);
    c.kill9(lost);
    let survivor = c.alive()[0];
    wait_until(CLUSTER_TIMEOUT, "a new copy, started, on another node", |last| {
        let h = health_of(&c, survivor);
        let rows = cat_shards(&c, survivor, "moved");
        *last = format!("{h} {rows:?}");
        let nodes: Vec<&str> = rows.iter().filter(|r| r.2 == "STARTED").map(|r| r.3.as_str()).collect();
        (h["status"] == "green" && nodes.len() == 2 && !nodes.contains(&replica.as_str())).then_some(())
    });
    // The new copy has every document (each node renders its own copy's count).
    let rows = cat_shards(&c, survivor, "moved");
    let newcomer = rows.iter().map(|r| r.3.clone()).find(|n| !holders.contains(n)).expect("the new holder");
    let i = c.index_of(&newcomer);
    wait_until(CLUSTER_TIMEOUT, "the new copy to hold every document", |last| {
        let _ = c.node(i).client().try_send("POST", "/moved/_refresh", Body::Empty, &[]);
        let (_, v) = c.node(i).get("/moved/_search?preference=_only_local&size=0&track_total_hits=true", ());
        *last = v.to_string();
        (v["hits"]["total"]["value"] == 300).then_some(())
    });
    // It came from the primary's files: a finished peer recovery to the new holder.
    wait_until(CLUSTER_TIMEOUT, "a finished peer recovery to the new copy", |last| {
        let r = c.node(survivor).client().try_send("GET", "/_cat/recovery/moved?format=json", Body::Empty, &[]).ok()?;
        *last = r.text.clone();
        r.json
            .as_array()?
            .iter()
            .find(|row| row["type"] == "peer" && row["target_node"] == newcomer.as_str() && row["stage"] == "done")
            .map(|_| ())
    });
}
