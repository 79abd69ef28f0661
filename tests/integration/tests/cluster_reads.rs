//! Reads through a node that holds no shard copy: a three-process cluster whose third node is
//! master-only, so every search, count, GET, scroll, point in time and broadcast it coordinates
//! reaches the copies on the two data nodes over the transport. Then a data node is killed and the
//! reads carry on from the surviving copies.
//!
//! Every wait is on observable state through the REST API, bounded in time.

use std::collections::BTreeSet;

use tern_integration_tests::{Body, CLUSTER_TIMEOUT, TestCluster, Value, json, wait_until};

/// The coordinating node with no data: `node-3`.
const COORD: usize = 2;
const INDEX: &str = "books";
const DOCS: u32 = 40;

fn doc(i: u32) -> Value {
    let topic = ["rust", "search", "raft"][(i % 3) as usize];
    let genre = ["fiction", "science"][(i % 2) as usize];
    json!({
        "title": format!("book {i} about {topic}"),
        "genre": genre,
        "year": 1990 + i,
        "n": i,
    })
}

fn ids_of(body: &Value) -> Vec<String> {
    body["hits"]["hits"]
        .as_array()
        .unwrap_or_else(|| panic!("no hits in {body}"))
        .iter()
        .map(|h| h["_id"].as_str().expect("_id").to_string())
        .collect()
}

/// `_refresh` through `node`, answered with `_shards`.
fn refresh(c: &TestCluster, node: usize) -> Value {
    let (status, body) = c.node(node).post(&format!("/{INDEX}/_refresh"), ());
    assert_eq!(status, 200, "refresh through node-{}: {body}", node + 1);
    body["_shards"].clone()
}

/// The search of the aggregation/sort/highlight/paging check, through the coordinator.
fn rust_books(c: &TestCluster, preference: Option<&str>) -> Value {
    let path = match preference {
        Some(p) => format!("/{INDEX}/_search?preference={p}"),
        None => format!("/{INDEX}/_search"),
    };
    let (status, body) = c.node(COORD).post(
        &path,
        json!({
            "query": {"match": {"title": "rust"}},
            "sort": [{"year": "desc"}],
            "from": 5,
            "size": 5,
            "highlight": {"fields": {"title": {}}},
            "aggs": {
                "genres": {"terms": {"field": "genre"}},
                "avg_year": {"avg": {"field": "year"}},
            },
        }),
    );
    assert_eq!(status, 200, "search through the master-only node: {body}");
    body
}

fn check_rust_books(body: &Value) {
    assert_eq!(body["_shards"], json!({"total": 2, "successful": 2, "skipped": 0, "failed": 0}), "{body}");
    // `rust` is every third book: 0, 3, ..., 39; by year descending, the second page of five.
    assert_eq!(body["hits"]["total"]["value"], 14, "{body}");
    assert_eq!(ids_of(body), ["24", "21", "18", "15", "12"], "{body}");
    for hit in body["hits"]["hits"].as_array().expect("hits") {
        let fragment = hit["highlight"]["title"][0].as_str().unwrap_or_else(|| panic!("no highlight: {hit}"));
        assert!(fragment.contains("<em>rust</em>"), "{hit}");
        assert_eq!(hit["sort"], json!([hit["_source"]["year"]]), "{hit}");
    }
    let buckets = &body["aggregations"]["genres"]["buckets"];
    assert_eq!(buckets, &json!([{"key": "fiction", "doc_count": 7}, {"key": "science", "doc_count": 7}]), "{body}");
    assert_eq!(body["aggregations"]["avg_year"]["value"], 2009.5, "{body}");
}

#[test]
fn a_node_without_copies_reads_them_from_other_nodes_and_survives_a_dead_copy() {
    let mut c = TestCluster::start_with(3, &[], &[&[], &[], &["node.roles=master"]]);
    c.wait_formed(CLUSTER_TIMEOUT);
    let (_, nodes) = c.node(COORD).get("/_cat/nodes?format=json&h=name,node.role", ());
    println!("nodes: {nodes}");

    // The index lives on node-1 and node-2 only; it is created and written through node-1.
    c.node(0).put_ok(
        &format!("/{INDEX}"),
        json!({
            "settings": {"number_of_shards": 2, "number_of_replicas": 1},
            "mappings": {"properties": {
                "title": {"type": "text"},
                "genre": {"type": "keyword"},
                "year": {"type": "long"},
                "n": {"type": "long"},
            }},
        }),
    );
    let mut lines = Vec::new();
    for i in 0..DOCS {
        lines.push(json!({"index": {"_index": INDEX, "_id": i.to_string()}}));
        lines.push(doc(i));
    }
    c.node(0).bulk_ok("/_bulk", &lines);

    // `_refresh` through the master-only node reaches all four copies on the other two nodes
    // (once node-2 has opened its copies).
    wait_until(CLUSTER_TIMEOUT, "a refresh of all four copies", |last| {
        let shards = refresh(&c, COORD);
        *last = shards.to_string();
        (shards == json!({"total": 4, "successful": 4, "failed": 0})).then_some(())
    });
    // Both copies of each shard answer the same: round robin alternates them.
    for _ in 0..4 {
        check_rust_books(&rust_books(&c, None));
    }

    // Count.
    assert_eq!(c.node(COORD).count(INDEX), DOCS as u64);
    let (status, counted) =
        c.node(COORD).post(&format!("/{INDEX}/_count"), json!({"query": {"term": {"genre": "science"}}}));
    assert_eq!((status, counted["count"].clone()), (200, json!(20)), "{counted}");
    assert_eq!(counted["_shards"]["successful"], 2, "{counted}");

    // GET, HEAD, `_source`, mget, `_explain`.
    let (status, got) = c.node(COORD).get(&format!("/{INDEX}/_doc/7"), ());
    assert_eq!(status, 200, "{got}");
    assert_eq!((got["found"].clone(), got["_source"]["n"].clone()), (json!(true), json!(7)), "{got}");
    assert_eq!(got["_version"], 1, "{got}");
    assert_eq!(c.node(COORD).head(&format!("/{INDEX}/_doc/7"), ()).0, 200);
    assert_eq!(c.node(COORD).head(&format!("/{INDEX}/_doc/nope"), ()).0, 404);
    let (status, missing) = c.node(COORD).get(&format!("/{INDEX}/_doc/nope"), ());
    assert_eq!((status, missing["found"].clone()), (404, json!(false)), "{missing}");
    let (status, source) = c.node(COORD).get(&format!("/{INDEX}/_source/8"), ());
    assert_eq!((status, source["title"].clone()), (200, json!("book 8 about raft")), "{source}");
    let (status, mget) = c.node(COORD).post(&format!("/{INDEX}/_mget"), json!({"ids": ["1", "nope", "2", "3"]}));
    assert_eq!(status, 200, "{mget}");
    let found: Vec<Value> = mget["docs"].as_array().expect("docs").iter().map(|d| d["found"].clone()).collect();
    assert_eq!(found, [json!(true), json!(false), json!(true), json!(true)], "{mget}");
    assert_eq!(mget["docs"][2]["_source"]["n"], 2, "{mget}");
    let (status, explained) =
        c.node(COORD).post(&format!("/{INDEX}/_explain/3"), json!({"query": {"match": {"title": "rust"}}}));
    assert_eq!((status, explained["matched"].clone()), (200, json!(true)), "{explained}");

    // A realtime GET through the coordinator sees a write acknowledged a moment ago, whichever
    // copy serves it.
    for k in 0..4 {
        let id = format!("rt-{k}");
        let (status, put) = c.node(0).put(&format!("/{INDEX}/_doc/{id}"), json!({"n": 1000 + k, "year": 3000}));
        assert_eq!(status, 201, "{put}");
        let (status, got) = c.node(COORD).get(&format!("/{INDEX}/_doc/{id}"), ());
        assert_eq!((status, got["_source"]["n"].clone()), (200, json!(1000 + k)), "{got}");
        let (status, deleted) = c.node(0).delete(&format!("/{INDEX}/_doc/{id}"), ());
        assert_eq!(status, 200, "{deleted}");
    }
    assert_eq!(refresh(&c, COORD), json!({"total": 4, "successful": 4, "failed": 0}));

    // Scroll to the end: every document once, pages served by reader contexts on the data nodes.
    let (status, mut page) = c
        .node(COORD)
        .post(&format!("/{INDEX}/_search?scroll=1m"), json!({"size": 7, "sort": ["_doc"], "query": {"match_all": {}}}));
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["hits"]["total"]["value"], DOCS, "{page}");
    let scroll_id = page["_scroll_id"].as_str().expect("_scroll_id").to_string();
    let mut seen = BTreeSet::new();
    let mut pages = 0;
    loop {
        let ids = ids_of(&page);
        if ids.is_empty() {
            break;
        }
        pages += 1;
        for id in ids {
            assert!(seen.insert(id.clone()), "document {id} scrolled twice");
        }
        let (status, next) = c.node(COORD).post("/_search/scroll", json!({"scroll": "1m", "scroll_id": scroll_id}));
        assert_eq!(status, 200, "{next}");
        assert_eq!(next["_shards"]["failed"], 0, "{next}");
        page = next;
    }
    assert_eq!(seen.len(), DOCS as usize);
    assert!(pages >= 6, "{pages} pages of 7 for {DOCS} documents");
    let (status, cleared) = c.node(COORD).delete("/_search/scroll", json!({"scroll_id": scroll_id}));
    assert_eq!((status, cleared["num_freed"].clone()), (200, json!(1)), "{cleared}");
    let (status, _) = c.node(COORD).post("/_search/scroll", json!({"scroll": "1m", "scroll_id": scroll_id}));
    assert_eq!(status, 404);

    // A point in time, paged with `search_after`: it keeps the view it opened on while more
    // documents arrive and are refreshed.
    let (status, pit) = c.node(COORD).post(&format!("/{INDEX}/_pit?keep_alive=1m"), ());
    assert_eq!(status, 200, "{pit}");
    assert_eq!(pit["_shards"]["successful"], 2, "{pit}");
    let pit_id = pit["id"].as_str().expect("pit id").to_string();
    let mut late = Vec::new();
    for i in 100..105u32 {
        late.push(json!({"index": {"_index": INDEX, "_id": i.to_string()}}));
        late.push(json!({"title": format!("late arrival {i}"), "genre": "late", "year": 3000 + i, "n": i}));
    }
    c.node(0).bulk_ok("/_bulk", &late);
    assert_eq!(refresh(&c, COORD)["successful"], 4);
    let mut seen = Vec::new();
    let mut after: Option<Value> = None;
    loop {
        let mut body = json!({"size": 10, "pit": {"id": pit_id, "keep_alive": "1m"}, "sort": [{"year": "asc"}]});
        if let Some(a) = &after {
            body["search_after"] = a.clone();
        }
        let (status, page) = c.node(COORD).post("/_search", body);
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["hits"]["total"]["value"], DOCS, "the point in time sees its own view: {page}");
        let hits = page["hits"]["hits"].as_array().expect("hits").clone();
        if hits.is_empty() {
            break;
        }
        seen.extend(ids_of(&page));
        after = Some(hits.last().expect("a hit")["sort"].clone());
    }
    let expected: Vec<String> = (0..DOCS).map(|i| i.to_string()).collect();
    assert_eq!(seen, expected, "year ascending, each document once");
    let (status, closed) = c.node(COORD).delete("/_pit", json!({"id": pit_id}));
    assert_eq!((status, closed["num_freed"].clone()), (200, json!(1)), "{closed}");
    assert_eq!(c.node(COORD).count(INDEX), DOCS as u64 + 5);

    // Preferences: no local copy here; named nodes; a shard subset; a custom string.
    let (status, only_local) = c.node(COORD).get(&format!("/{INDEX}/_search?preference=_only_local"), ());
    assert_eq!(status, 503, "{only_local}");
    assert_eq!(only_local["error"]["type"], "search_phase_execution_exception", "{only_local}");
    for pref in ["_only_nodes:node-2", "_prefer_nodes:node-1", "_local", "my-session"] {
        check_rust_books(&rust_books(&c, Some(pref)));
    }
    let (status, one_shard) = c.node(COORD).get(&format!("/{INDEX}/_search?preference=_shards:0&size=0"), ());
    assert_eq!(status, 200, "{one_shard}");
    assert_eq!(one_shard["_shards"]["total"], 1, "{one_shard}");
    let (status, bad) = c.node(COORD).get(&format!("/{INDEX}/_search?preference=_primary"), ());
    assert_eq!((status, bad["error"]["type"].clone()), (400, json!("illegal_argument_exception")), "{bad}");

    // kill -9 a data node: every search, count and (refreshed) GET through the coordinator is
    // answered by the surviving copies, whichever copy it tried first.
    c.kill9(0);
    for k in 0..6 {
        let body = rust_books(&c, None);
        assert_eq!(body["_shards"]["successful"], 2, "search {k} after the kill: {body}");
        assert_eq!(body["_shards"]["failed"], 0, "search {k} after the kill: {body}");
        assert_eq!(ids_of(&body), ["24", "21", "18", "15", "12"], "{body}");
        let (status, counted) = c.node(COORD).get(&format!("/{INDEX}/_count"), ());
        assert_eq!((status, counted["count"].clone()), (200, json!(DOCS + 5)), "count {k}: {counted}");
        let r = c.node(COORD).client().send("GET", &format!("/{INDEX}/_doc/{k}?realtime=false"), Body::Empty, &[]);
        assert_eq!((r.status, r.json["found"].clone()), (200, json!(true)), "GET {k}: {}", r.text);
    }
    // `_refresh` counts the dead node's copies as not refreshed.
    let shards = refresh(&c, COORD);
    assert_eq!((shards["total"].clone(), shards["successful"].clone()), (json!(4), json!(2)), "{shards}");
}
