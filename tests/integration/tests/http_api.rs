//! The ES 8 REST contract, checked over HTTP against the shared in-process node.
//!
//! Each test works on its own indices (`unique_index`), so tests run in parallel on one node.
//! Expected values are Elasticsearch 8's answers, texts included where clients or users match on them.

use std::time::{Duration, Instant};

use tern_integration_tests::{Body, TestApp, json};

fn app() -> &'static TestApp {
    TestApp::shared()
}

fn create_index(name: &str, body: serde_json::Value) {
    let (status, v) = app().put(&format!("/{name}"), body);
    assert_eq!(status, 200, "create index {name}: {v}");
    assert_eq!(v["acknowledged"], json!(true), "{v}");
}

#[test]
fn root_reports_an_es8_node() {
    let r = app().send("GET", "/", (), &[]);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("x-elastic-product"), Some("Elasticsearch"));
    let v = &r.json;
    assert!(v["version"]["number"].as_str().unwrap().starts_with("8."), "{v}");
    assert_eq!(v["version"]["build_flavor"], json!("default"));
    assert_eq!(v["tagline"], json!("You Know, for Search"));
    assert!(v["cluster_name"].is_string() && v["name"].is_string(), "{v}");
}

#[test]
fn index_get_delete_lifecycle() {
    let idx = app().unique_index("lifecycle");
    let (s, v) = app().put(&format!("/{idx}/_doc/1"), json!({"title": "one"}));
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["result"], json!("created"));
    assert_eq!(v["_index"], json!(idx));
    assert_eq!(v["_id"], json!("1"));
    assert_eq!(v["_version"], json!(1));
    assert_eq!(v["_seq_no"], json!(0));
    assert_eq!(v["_primary_term"], json!(1));
    assert_eq!(v["_shards"], json!({"total": 2, "successful": 1, "failed": 0}), "one replica is unassigned");

    let (s, v) = app().get(&format!("/{idx}/_doc/1"), ());
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v,
        json!({"_index": idx, "_id": "1", "_version": 1, "_seq_no": 0, "_primary_term": 1, "found": true,
               "_source": {"title": "one"}})
    );

    let (s, v) = app().put(&format!("/{idx}/_doc/1"), json!({"title": "uno"}));
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["result"].clone(), v["_version"].clone(), v["_seq_no"].clone()),
        (json!("updated"), json!(2), json!(1))
    );

    // POST with an id is the same as PUT.
    let (s, v) = app().post(&format!("/{idx}/_doc/1"), json!({"title": "eins"}));
    assert_eq!(s, 200, "{v}");
    assert_eq!((v["_version"].clone(), v["_seq_no"].clone()), (json!(3), json!(2)));

    assert_eq!(app().head(&format!("/{idx}/_doc/1"), ()).0, 200);
    assert_eq!(app().head(&format!("/{idx}/_doc/2"), ()).0, 404);
    assert_eq!(app().get(&format!("/{idx}/_source/1"), ()), (200, json!({"title": "eins"})));

    let (s, v) = app().delete(&format!("/{idx}/_doc/1"), ());
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["result"].clone(), v["_version"].clone(), v["_seq_no"].clone()),
        (json!("deleted"), json!(4), json!(3))
    );

    let (s, v) = app().get(&format!("/{idx}/_doc/1"), ());
    assert_eq!((s, v), (404, json!({"_index": idx, "_id": "1", "found": false})));

    // Deleting a missing document is a 404 that still takes a seq_no and bumps the tombstone's version.
    let (s, v) = app().delete(&format!("/{idx}/_doc/1"), ());
    assert_eq!(s, 404, "{v}");
    assert_eq!(
        (v["result"].clone(), v["_version"].clone(), v["_seq_no"].clone()),
        (json!("not_found"), json!(5), json!(4))
    );

    // Auto-generated ids: 20 URL-safe base64 characters, op_type create.
    let (s, v) = app().post(&format!("/{idx}/_doc"), json!({"title": "auto"}));
    assert_eq!(s, 201, "{v}");
    let id = v["_id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 20, "{v}");
    assert!(id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "{id}");
    assert_eq!(v["_version"], json!(1));
    assert_eq!(app().get(&format!("/{idx}/_doc/{id}"), ()).1["_source"], json!({"title": "auto"}));

    // Unknown index: ES's index_not_found_exception.
    let missing = app().unique_index("missing");
    let r = app().send("GET", &format!("/{missing}/_doc/1"), (), &[]);
    assert_eq!(r.status, 404);
    assert_eq!(r.error_type(), "index_not_found_exception");
    assert_eq!(r.error_reason(), format!("no such index [{missing}]"));
}

#[test]
fn create_conflicts_use_es_texts() {
    let idx = app().unique_index("create");
    let (s, v) = app().put(&format!("/{idx}/_create/1"), json!({"a": 1}));
    assert_eq!((s, v["result"].clone()), (201, json!("created")), "{v}");

    for path in [format!("/{idx}/_create/1"), format!("/{idx}/_doc/1?op_type=create")] {
        let r = app().send("PUT", &path, json!({"a": 2}), &[]);
        assert_eq!(r.status, 409, "{path}: {}", r.text);
        assert_eq!(r.error_type(), "version_conflict_engine_exception");
        assert_eq!(r.error_reason(), "[1]: version conflict, document already exists (current version [1])");
        assert_eq!(r.json["error"]["index"], json!(idx));
        assert_eq!(r.json["error"]["shard"], json!("0"));
        assert_eq!(r.json["status"], json!(409));
        assert_eq!(r.json["error"]["root_cause"][0]["type"], json!("version_conflict_engine_exception"));
    }
    // The failed creates changed nothing.
    let v = app().get_ok(&format!("/{idx}/_doc/1"));
    assert_eq!(
        (v["_version"].clone(), v["_seq_no"].clone(), v["_source"].clone()),
        (json!(1), json!(0), json!({"a": 1}))
    );

    // After a delete, create succeeds and the version continues from the tombstone.
    let v = app().delete(&format!("/{idx}/_doc/1"), ()).1;
    assert_eq!(v["_version"], json!(2));
    let (s, v) = app().put(&format!("/{idx}/_create/1"), json!({"a": 3}));
    assert_eq!(s, 201, "{v}");
    assert_eq!(
        (v["result"].clone(), v["_version"].clone(), v["_seq_no"].clone()),
        (json!("created"), json!(3), json!(2))
    );

    let r = app().send("PUT", &format!("/{idx}/_doc/2?op_type=bogus"), json!({"a": 1}), &[]);
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.error_type(), "illegal_argument_exception");
}

#[test]
fn if_seq_no_and_if_primary_term() {
    let idx = app().unique_index("cas");
    app().put_ok(&format!("/{idx}/_doc/1"), json!({"n": 0}));
    app().put_ok(&format!("/{idx}/_doc/1"), json!({"n": 1}));

    let r = app().send("PUT", &format!("/{idx}/_doc/1?if_seq_no=0&if_primary_term=1"), json!({"n": 2}), &[]);
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.error_type(), "version_conflict_engine_exception");
    assert_eq!(
        r.error_reason(),
        "[1]: version conflict, required seqNo [0], primary term [1]. current document has seqNo [1] and primary term [1]"
    );
    let r = app().send("PUT", &format!("/{idx}/_doc/1?if_seq_no=1&if_primary_term=2"), json!({"n": 2}), &[]);
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(
        r.error_reason(),
        "[1]: version conflict, required seqNo [1], primary term [2]. current document has seqNo [1] and primary term [1]"
    );
    let r = app().send("PUT", &format!("/{idx}/_doc/nope?if_seq_no=4&if_primary_term=1"), json!({"n": 2}), &[]);
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(
        r.error_reason(),
        "[nope]: version conflict, required seqNo [4], primary term [1]. but no document was found"
    );
    let r = app().send("DELETE", &format!("/{idx}/_doc/1?if_seq_no=7&if_primary_term=1"), (), &[]);
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(
        r.error_reason(),
        "[1]: version conflict, required seqNo [7], primary term [1]. current document has seqNo [1] and primary term [1]"
    );

    // The matching condition succeeds, and the next seq_no is the next one of the shard.
    let (s, v) = app().put(&format!("/{idx}/_doc/1?if_seq_no=1&if_primary_term=1"), json!({"n": 2}));
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["_version"].clone(), v["_seq_no"].clone(), v["_primary_term"].clone()),
        (json!(3), json!(2), json!(1))
    );
    let (s, v) = app().delete(&format!("/{idx}/_doc/1?if_seq_no=2&if_primary_term=1"), ());
    assert_eq!(s, 200, "{v}");
    assert_eq!((v["_version"].clone(), v["_seq_no"].clone()), (json!(4), json!(3)));
    // A deleted document has no seq_no to match.
    let r = app().send("PUT", &format!("/{idx}/_doc/1?if_seq_no=3&if_primary_term=1"), json!({"n": 3}), &[]);
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(
        r.error_reason(),
        "[1]: version conflict, required seqNo [3], primary term [1]. but no document was found"
    );

    // Request validation, as ES's IndexRequest.validate words it.
    let r = app().send("PUT", &format!("/{idx}/_doc/1?if_seq_no=3"), json!({"n": 3}), &[]);
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.error_type(), "action_request_validation_exception");
    assert_eq!(r.error_reason(), "Validation Failed: 1: ifSeqNo is set, but primary term is [0];");
    let r = app().send("PUT", &format!("/{idx}/_doc/1?version=3"), json!({"n": 3}), &[]);
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(
        r.error_reason(),
        "Validation Failed: 1: internal versioning can not be used for optimistic concurrency control. Please use `if_seq_no` and `if_primary_term` instead;"
    );
}

#[test]
fn external_versions() {
    let idx = app().unique_index("extver");
    let path = |q: &str| format!("/{idx}/_doc/1?{q}");
    let (s, v) = app().put(&path("version=10&version_type=external"), json!({"v": 10}));
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["_version"], json!(10));

    let r = app().send("PUT", &path("version=10&version_type=external"), json!({"v": 10}), &[]);
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(
        r.error_reason(),
        "[1]: version conflict, current version [10] is higher or equal to the one provided [10]"
    );
    let r = app().send("PUT", &path("version=3&version_type=external"), json!({"v": 3}), &[]);
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(
        r.error_reason(),
        "[1]: version conflict, current version [10] is higher or equal to the one provided [3]"
    );

    let (s, v) = app().put(&path("version=10&version_type=external_gte"), json!({"v": 10}));
    assert_eq!(s, 200, "{v}");
    assert_eq!((v["_version"].clone(), v["result"].clone()), (json!(10), json!("updated")));
    let r = app().send("PUT", &path("version=9&version_type=external_gte"), json!({"v": 9}), &[]);
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.error_reason(), "[1]: version conflict, current version [10] is higher than the one provided [9]");

    let (s, v) = app().put(&path("version=42&version_type=external"), json!({"v": 42}));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["_version"], json!(42));
    let v = app().get_ok(&format!("/{idx}/_doc/1"));
    assert_eq!((v["_version"].clone(), v["_source"].clone()), (json!(42), json!({"v": 42})));

    // Deletes with external versions obey the same rule.
    let r = app().send("DELETE", &path("version=41&version_type=external"), (), &[]);
    assert_eq!(r.status, 409, "{}", r.text);
    let (s, v) = app().delete(&path("version=50&version_type=external"), ());
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["_version"], json!(50));

    let r = app().send("PUT", &path("version_type=external"), json!({"v": 1}), &[]);
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.error_type(), "action_request_validation_exception");
}

#[test]
fn update_doc_upsert_doc_as_upsert_and_detect_noop() {
    let idx = app().unique_index("update");
    let upd = |id: &str| format!("/{idx}/_update/{id}");

    // Missing document without upsert.
    let r = app().send("POST", &upd("1"), json!({"doc": {"a": 1}}), &[]);
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(r.error_type(), "document_missing_exception");
    assert_eq!(r.error_reason(), "[1]: document missing");

    // upsert: the upsert document is indexed, not the partial doc.
    let (s, v) = app().post(&upd("1"), json!({"doc": {"a": 1}, "upsert": {"a": 0, "created": true}}));
    assert_eq!(s, 201, "{v}");
    assert_eq!(
        (v["result"].clone(), v["_version"].clone(), v["_seq_no"].clone()),
        (json!("created"), json!(1), json!(0))
    );
    assert_eq!(app().get_ok(&format!("/{idx}/_doc/1"))["_source"], json!({"a": 0, "created": true}));

    // doc: merged into the existing source, objects key by key.
    app().put_ok(&format!("/{idx}/_doc/2"), json!({"a": 1, "o": {"x": 1, "y": 1}, "keep": "me"}));
    let (s, v) = app().post(&upd("2"), json!({"doc": {"a": 2, "o": {"y": 2, "z": 3}}}));
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["result"].clone(), v["_version"].clone(), v["_seq_no"].clone()),
        (json!("updated"), json!(2), json!(2))
    );
    assert_eq!(
        app().get_ok(&format!("/{idx}/_doc/2"))["_source"],
        json!({"a": 2, "o": {"x": 1, "y": 2, "z": 3}, "keep": "me"})
    );

    // detect_noop (default true): nothing changes, no seq_no, no version, _shards all zero.
    let (s, v) = app().post(&upd("2"), json!({"doc": {"a": 2}}));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["result"], json!("noop"));
    assert_eq!((v["_version"].clone(), v["_seq_no"].clone()), (json!(2), json!(2)));
    assert_eq!(v["_shards"], json!({"total": 0, "successful": 0, "failed": 0}));
    // detect_noop false: the same update is a real write.
    let (s, v) = app().post(&upd("2"), json!({"doc": {"a": 2}, "detect_noop": false}));
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["result"].clone(), v["_version"].clone(), v["_seq_no"].clone()),
        (json!("updated"), json!(3), json!(3))
    );

    // doc_as_upsert on a missing document indexes the doc; on an existing one it merges.
    let (s, v) = app().post(&upd("3"), json!({"doc": {"b": 1}, "doc_as_upsert": true}));
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["result"], json!("created"));
    let (s, v) = app().post(&upd("3"), json!({"doc": {"c": 1}, "doc_as_upsert": true}));
    assert_eq!(s, 200, "{v}");
    assert_eq!((v["result"].clone(), v["_version"].clone()), (json!("updated"), json!(2)));
    assert_eq!(app().get_ok(&format!("/{idx}/_doc/3"))["_source"], json!({"b": 1, "c": 1}));

    // _source=true returns the updated document under `get`.
    let (s, v) = app().post(&format!("{}?_source=true", upd("3")), json!({"doc": {"d": 1}}));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["get"]["found"], json!(true));
    assert_eq!(v["get"]["_source"], json!({"b": 1, "c": 1, "d": 1}));
    assert_eq!(v["get"]["_seq_no"], v["_seq_no"]);

    // Updates honour if_seq_no.
    let cur = app().get_ok(&format!("/{idx}/_doc/3"));
    let seq = cur["_seq_no"].as_i64().unwrap();
    let r = app().send(
        "POST",
        &format!("{}?if_seq_no={}&if_primary_term=1", upd("3"), seq + 100),
        json!({"doc": {"e": 1}}),
        &[],
    );
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(
        r.error_reason(),
        format!(
            "[3]: version conflict, required seqNo [{}], primary term [1]. current document has seqNo [{seq}] and primary term [1]",
            seq + 100
        )
    );
    let (s, v) = app().post(&format!("{}?if_seq_no={seq}&if_primary_term=1", upd("3")), json!({"doc": {"e": 1}}));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["result"], json!("updated"));

    // A body without doc (and without script) is a validation error.
    let r = app().send("POST", &upd("3"), json!({"upsert": {"a": 1}}), &[]);
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.error_type(), "action_request_validation_exception");
    assert_eq!(r.error_reason(), "Validation Failed: 1: script or doc is missing;");
}

/// ES's `UpdateRequest.validate`: compare-and-write cannot be combined with an upsert.
#[test]
fn update_with_if_seq_no_rejects_upserts() {
    let idx = app().unique_index("update-cas");
    app().put_ok(&format!("/{idx}/_doc/1"), json!({"a": 1}));
    let r = app().send(
        "POST",
        &format!("/{idx}/_update/1?if_seq_no=0&if_primary_term=1"),
        json!({"doc": {"a": 2}, "doc_as_upsert": true}),
        &[],
    );
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.error_type(), "action_request_validation_exception");
    assert_eq!(r.error_reason(), "Validation Failed: 1: compare and write operations can not be used with upsert;");
    let r = app().send(
        "POST",
        &format!("/{idx}/_update/1?if_seq_no=0&if_primary_term=1"),
        json!({"doc": {"a": 2}, "upsert": {"a": 0}}),
        &[],
    );
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(
        r.error_reason(),
        "Validation Failed: 1: upsert requests don't support `if_seq_no` and `if_primary_term`;"
    );
}

#[test]
fn seq_nos_are_contiguous_per_shard_and_failures_take_none() {
    let idx = app().unique_index("seqno");
    let mut expected = 0;
    for i in 0..5 {
        let v = app().put_ok(&format!("/{idx}/_doc/{}", i % 2), json!({"i": i}));
        assert_eq!(v["_seq_no"], json!(expected), "{v}");
        expected += 1;
        // A conflict, a validation error and a noop do not consume a seq_no.
        assert_eq!(app().put(&format!("/{idx}/_create/{}", i % 2), json!({"i": i})).0, 409);
        assert_eq!(
            app().post(&format!("/{idx}/_update/{}", i % 2), json!({"doc": {"i": i}})).1["result"],
            json!("noop")
        );
    }
    let v = app().put_ok(&format!("/{idx}/_doc/z"), json!({"i": 99}));
    assert_eq!(v["_seq_no"], json!(expected));
}

#[test]
fn refresh_wait_for_makes_a_doc_searchable() {
    let idx = app().unique_index("waitfor");
    create_index(&idx, json!({"settings": {"number_of_shards": 1}}));
    let (s, v) = app().put(&format!("/{idx}/_doc/1?refresh=wait_for"), json!({"t": "hello"}));
    assert_eq!(s, 201, "{v}");
    assert!(v.get("forced_refresh").is_none(), "wait_for waits for a scheduled refresh: {v}");
    // No refresh in between: the write itself waited for visibility.
    let v = app().post_ok(&format!("/{idx}/_search"), json!({"query": {"ids": {"values": ["1"]}}}));
    assert_eq!(v["hits"]["total"]["value"], json!(1), "{v}");

    let (s, v) = app().put(&format!("/{idx}/_doc/2?refresh=true"), json!({"t": "world"}));
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["forced_refresh"], json!(true), "{v}");
    assert_eq!(app().count(&idx), 2);

    let lines = [json!({"index": {"_id": "3"}}), json!({"t": "bulk"})];
    let v = app().bulk_ok(&format!("/{idx}/_bulk?refresh=wait_for"), &lines);
    assert_eq!(v["items"][0]["index"]["status"], json!(201));
    assert_eq!(app().count(&idx), 3);

    let r = app().send("PUT", &format!("/{idx}/_doc/4?refresh=sometimes"), json!({}), &[]);
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.error_type(), "illegal_argument_exception");
}

#[test]
fn realtime_get_sees_writes_before_a_refresh() {
    let idx = app().unique_index("realtime");
    create_index(&idx, json!({"settings": {"refresh_interval": "-1"}}));
    app().put_ok(&format!("/{idx}/_doc/1"), json!({"a": 1}));
    app().put_ok(&format!("/{idx}/_doc/1"), json!({"a": 2}));

    let v = app().get_ok(&format!("/{idx}/_doc/1"));
    assert_eq!((v["_version"].clone(), v["_source"].clone()), (json!(2), json!({"a": 2})));
    assert_eq!(app().get(&format!("/{idx}/_doc/1?realtime=false"), ()).0, 404);
    assert_eq!(app().count(&idx), 0, "refresh_interval -1 keeps the write out of search");
    let v = app().post_ok(&format!("/{idx}/_mget"), json!({"ids": ["1"]}));
    assert_eq!(v["docs"][0]["found"], json!(true), "mget is realtime too: {v}");

    app().refresh(&idx);
    assert_eq!(app().count(&idx), 1);
    let v = app().get_ok(&format!("/{idx}/_doc/1?realtime=false"));
    assert_eq!(v["_version"], json!(2));

    // GET with refresh=true refreshes first.
    app().put_ok(&format!("/{idx}/_doc/2"), json!({"a": 3}));
    assert_eq!(app().get(&format!("/{idx}/_doc/2?realtime=false"), ()).0, 404);
    assert_eq!(app().get(&format!("/{idx}/_doc/2?realtime=false&refresh=true"), ()).0, 200);
}

#[test]
fn bulk_with_mixed_items_reports_each() {
    let idx = app().unique_index("bulk");
    create_index(&idx, json!({"mappings": {"properties": {"n": {"type": "integer"}}}}));
    let lines = [
        json!({"index": {"_index": idx, "_id": "1"}}),
        json!({"n": 1}),
        json!({"create": {"_index": idx, "_id": "1"}}),
        json!({"n": 2}),
        json!({"update": {"_index": idx, "_id": "missing"}}),
        json!({"doc": {"n": 3}}),
        json!({"update": {"_index": idx, "_id": "1"}}),
        json!({"doc": {"n": 4}}),
        json!({"index": {"_index": idx}}),
        json!({"n": "not a number"}),
        json!({"delete": {"_index": idx, "_id": "gone"}}),
        json!({"create": {"_index": idx, "_id": "2"}}),
        json!({"n": 5}),
        json!({"delete": {"_index": idx, "_id": "2"}}),
    ];
    let (s, v) = app().post("/_bulk", Body::bulk(&lines));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["errors"], json!(true));
    assert!(v["took"].is_u64(), "{v}");
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 8, "{v}");
    let item = |i: usize, action: &str| items[i][action].clone();

    assert_eq!(item(0, "index")["status"], json!(201));
    assert_eq!(item(0, "index")["result"], json!("created"));
    assert_eq!(item(0, "index")["_seq_no"], json!(0));
    assert_eq!(item(1, "create")["status"], json!(409));
    assert_eq!(item(1, "create")["error"]["type"], json!("version_conflict_engine_exception"));
    assert_eq!(
        item(1, "create")["error"]["reason"],
        json!("[1]: version conflict, document already exists (current version [1])")
    );
    assert_eq!(item(2, "update")["status"], json!(404));
    assert_eq!(item(2, "update")["error"]["type"], json!("document_missing_exception"));
    assert_eq!(item(2, "update")["error"]["reason"], json!("[missing]: document missing"));
    assert_eq!(item(3, "update")["status"], json!(200));
    assert_eq!(
        (item(3, "update")["result"].clone(), item(3, "update")["_version"].clone()),
        (json!("updated"), json!(2))
    );
    assert_eq!(item(4, "index")["status"], json!(400));
    assert_eq!(item(4, "index")["error"]["type"], json!("document_parsing_exception"));
    assert!(item(4, "index")["_id"].is_string(), "an auto id is reported for a failed item: {v}");
    assert_eq!(item(5, "delete")["status"], json!(404));
    assert_eq!(item(5, "delete")["result"], json!("not_found"));
    assert_eq!(item(6, "create")["status"], json!(201));
    assert_eq!(item(7, "delete")["status"], json!(200));
    assert_eq!(item(7, "delete")["result"], json!("deleted"));
    for (i, it) in items.iter().enumerate() {
        let (_, body) = it.as_object().unwrap().iter().next().unwrap();
        assert_eq!(body["_index"], json!(idx), "item {i}: {it}");
    }
    // Successful items took contiguous seq_nos, failed ones none.
    let seqs: Vec<i64> =
        items.iter().filter_map(|it| it.as_object().unwrap().values().next().unwrap()["_seq_no"].as_i64()).collect();
    assert_eq!(seqs, vec![0, 1, 2, 3, 4], "{v}");

    // A bulk without failures says errors: false; the index in the path is the default.
    let v = app().bulk_ok(
        &format!("/{idx}/_bulk"),
        &[json!({"index": {"_id": "a"}}), json!({"n": 1}), json!({"index": {"_id": "b"}}), json!({"n": 2})],
    );
    assert_eq!(v["items"].as_array().unwrap().len(), 2);
    app().refresh(&idx);
    assert_eq!(app().count(&idx), 3);
}

#[test]
fn mget_by_docs_and_ids() {
    let idx = app().unique_index("mget");
    app().put_ok(&format!("/{idx}/_doc/1"), json!({"a": 1, "b": 1}));
    app().put_ok(&format!("/{idx}/_doc/2"), json!({"a": 2, "b": 2}));
    let missing = app().unique_index("mget-missing");
    let v = app().post_ok(
        "/_mget",
        json!({"docs": [
            {"_index": idx, "_id": "1"},
            {"_index": idx, "_id": "2", "_source": ["b"]},
            {"_index": idx, "_id": "3"},
            {"_index": missing, "_id": "1"}
        ]}),
    );
    let docs = v["docs"].as_array().unwrap();
    assert_eq!(docs.len(), 4);
    assert_eq!(docs[0]["_source"], json!({"a": 1, "b": 1}));
    assert_eq!(docs[0]["_version"], json!(1));
    assert_eq!(docs[0]["found"], json!(true));
    assert_eq!(docs[1]["_source"], json!({"b": 2}));
    assert_eq!(docs[2], json!({"_index": idx, "_id": "3", "found": false}));
    assert_eq!(docs[3]["error"]["type"], json!("index_not_found_exception"), "{v}");

    let v = app().post_ok(&format!("/{idx}/_mget?_source=false"), json!({"ids": ["2", "1"]}));
    let docs = v["docs"].as_array().unwrap();
    assert_eq!((docs[0]["_id"].clone(), docs[1]["_id"].clone()), (json!("2"), json!("1")));
    assert!(docs[0].get("_source").is_none(), "{v}");

    let r = app().send("POST", &format!("/{idx}/_mget"), json!({"ids": []}), &[]);
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.error_type(), "action_request_validation_exception");
}

fn search_fixture() -> String {
    let idx = app().unique_index("search");
    create_index(
        &idx,
        json!({"mappings": {"properties": {
            "title": {"type": "text"}, "tag": {"type": "keyword"}, "n": {"type": "integer"},
            "opt": {"type": "keyword"}, "when": {"type": "date"}
        }}}),
    );
    let docs = [
        json!({"title": "quick brown fox", "tag": "a", "n": 1, "opt": "x", "when": "2024-01-01"}),
        json!({"title": "lazy dog", "tag": "b", "n": 2, "when": "2024-02-01"}),
        json!({"title": "quick dog", "tag": "c", "n": 3, "when": "2024-03-01"}),
        json!({"title": "sleepy cat", "tag": "a", "n": 4, "opt": "y", "when": "2024-04-01"}),
        json!({"title": "the quick cat", "tag": "b", "n": 5, "when": "2024-05-01"}),
    ];
    let mut lines = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        lines.push(json!({"index": {"_id": (i + 1).to_string()}}));
        lines.push(d.clone());
    }
    app().bulk_ok(&format!("/{idx}/_bulk?refresh=true"), &lines);
    idx
}

fn ids_of(v: &serde_json::Value) -> Vec<String> {
    v["hits"]["hits"]
        .as_array()
        .unwrap_or_else(|| panic!("no hits in {v}"))
        .iter()
        .map(|h| h["_id"].as_str().unwrap().to_string())
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn search_queries() {
    let idx = search_fixture();
    let search = |body: serde_json::Value| app().post_ok(&format!("/{idx}/_search"), body);

    let v = search(json!({"query": {"match": {"title": "quick"}}}));
    assert_eq!(sorted(ids_of(&v)), ["1", "3", "5"]);
    assert_eq!(v["hits"]["total"], json!({"value": 3, "relation": "eq"}));
    assert!(v["hits"]["max_score"].as_f64().unwrap() > 0.0, "{v}");
    assert_eq!(v["_shards"]["failed"], json!(0));
    assert_eq!(v["timed_out"], json!(false));

    assert_eq!(sorted(ids_of(&search(json!({"query": {"term": {"tag": "a"}}})))), ["1", "4"]);
    assert_eq!(sorted(ids_of(&search(json!({"query": {"terms": {"tag": ["a", "c"]}}})))), ["1", "3", "4"]);
    assert_eq!(sorted(ids_of(&search(json!({"query": {"range": {"n": {"gt": 1, "lte": 3}}}})))), ["2", "3"]);
    assert_eq!(
        sorted(ids_of(&search(json!({"query": {"range": {"when": {"gte": "2024-03-01", "lt": "2024-05-01"}}}})))),
        ["3", "4"]
    );
    assert_eq!(sorted(ids_of(&search(json!({"query": {"ids": {"values": ["2", "5", "99"]}}})))), ["2", "5"]);
    assert_eq!(sorted(ids_of(&search(json!({"query": {"exists": {"field": "opt"}}})))), ["1", "4"]);
    let v = search(json!({"query": {"bool": {
        "must": [{"match": {"title": "quick"}}],
        "filter": [{"range": {"n": {"gte": 2}}}],
        "must_not": [{"term": {"tag": "b"}}],
        "should": [{"term": {"tag": "c"}}]
    }}}));
    assert_eq!(ids_of(&v), ["3"]);
    let v = search(
        json!({"query": {"bool": {"should": [{"term": {"tag": "a"}}, {"term": {"n": 2}}], "minimum_should_match": 1}}}),
    );
    assert_eq!(sorted(ids_of(&v)), ["1", "2", "4"]);
}

/// ES compiles `match` on `_id` (and so `q=_id:N` / `query_string`) into a term query on `_id`.
#[test]
fn match_and_query_string_on_id() {
    let idx = search_fixture();
    let v = app().post_ok(&format!("/{idx}/_search"), json!({"query": {"match": {"_id": "4"}}}));
    assert_eq!(ids_of(&v), ["4"], "match on _id");
    let v = app().post_ok(&format!("/{idx}/_search?q=_id:4"), ());
    assert_eq!(ids_of(&v), ["4"], "q=_id:4");
    let v = app().post_ok(&format!("/{idx}/_search"), json!({"query": {"query_string": {"query": "_id:4 OR _id:5"}}}));
    assert_eq!(sorted(ids_of(&v)), ["4", "5"], "query_string on _id");
}

#[test]
fn search_paging_sorting_source_filtering_and_total_hits() {
    let idx = search_fixture();
    let search = |body: serde_json::Value| app().post_ok(&format!("/{idx}/_search"), body);

    let v = search(json!({"sort": [{"n": "desc"}]}));
    assert_eq!(ids_of(&v), ["5", "4", "3", "2", "1"]);
    assert_eq!(v["hits"]["hits"][0]["sort"], json!([5]));
    assert_eq!(v["hits"]["hits"][0]["_score"], json!(null), "sorting by a field does not score");
    let v = search(json!({"sort": [{"tag": "asc"}, {"n": "desc"}]}));
    assert_eq!(ids_of(&v), ["4", "1", "5", "2", "3"]);
    assert_eq!(v["hits"]["hits"][0]["sort"], json!(["a", 4]));

    let v = search(json!({"sort": ["n"], "from": 1, "size": 2}));
    assert_eq!(ids_of(&v), ["2", "3"]);
    assert_eq!(v["hits"]["total"]["value"], json!(5), "total ignores paging");
    let v = app().post_ok(&format!("/{idx}/_search?from=3&size=10&sort=n:asc"), ());
    assert_eq!(ids_of(&v), ["4", "5"]);
    assert!(ids_of(&search(json!({"size": 0}))).is_empty());

    let v = search(json!({"query": {"ids": {"values": ["1"]}}, "_source": ["tag", "n"]}));
    assert_eq!(v["hits"]["hits"][0]["_source"], json!({"tag": "a", "n": 1}));
    let v = search(json!({"query": {"ids": {"values": ["1"]}}, "_source": {"excludes": ["title", "when"]}}));
    assert_eq!(v["hits"]["hits"][0]["_source"], json!({"tag": "a", "n": 1, "opt": "x"}));
    let v = search(json!({"query": {"ids": {"values": ["1"]}}, "_source": false}));
    assert!(v["hits"]["hits"][0].get("_source").is_none(), "{v}");
    let v = app().post_ok(&format!("/{idx}/_search?_source_includes=opt,n&q=opt:y"), ());
    assert_eq!(ids_of(&v), ["4"]);
    assert_eq!(v["hits"]["hits"][0]["_source"], json!({"opt": "y", "n": 4}), "{v}");

    let v = search(json!({"track_total_hits": 2, "size": 1}));
    assert_eq!(v["hits"]["total"], json!({"value": 2, "relation": "gte"}));
    let v = search(json!({"track_total_hits": 10, "size": 1}));
    assert_eq!(v["hits"]["total"], json!({"value": 5, "relation": "eq"}));
    let v = search(json!({"track_total_hits": false}));
    assert!(v["hits"].get("total").is_none(), "{v}");
    let v = search(json!({"track_total_hits": true}));
    assert_eq!(v["hits"]["total"], json!({"value": 5, "relation": "eq"}));
    let v = app().post_ok(&format!("/{idx}/_search?rest_total_hits_as_int=true"), ());
    assert_eq!(v["hits"]["total"], json!(5));

    let v = search(json!({"query": {"ids": {"values": ["2"]}}, "seq_no_primary_term": true, "version": true}));
    let hit = &v["hits"]["hits"][0];
    assert_eq!(
        (hit["_version"].clone(), hit["_seq_no"].clone(), hit["_primary_term"].clone()),
        (json!(1), json!(1), json!(1))
    );
}

#[test]
fn count_api() {
    let idx = search_fixture();
    assert_eq!(app().count(&idx), 5);
    let v = app().post_ok(&format!("/{idx}/_count"), json!({"query": {"match": {"title": "dog"}}}));
    assert_eq!(v["count"], json!(2));
    assert_eq!(v["_shards"]["successful"], json!(1));
    let v = app().get_ok(&format!("/{idx}/_count?q=tag:a"));
    assert_eq!(v["count"], json!(2));
    let r = app().send("POST", &format!("/{idx}/_count"), json!({"query": {"match_all": {}}, "size": 1}), &[]);
    assert_eq!(r.status, 400, "{}", r.text);
}

#[test]
fn aliases_with_filters_and_write_index() {
    let a = app().unique_index("alias-a");
    let b = app().unique_index("alias-b");
    let filtered = app().unique_index("alias-filtered");
    let both = app().unique_index("alias-both");
    create_index(&a, json!({"mappings": {"properties": {"tag": {"type": "keyword"}}}}));
    create_index(&b, json!({"mappings": {"properties": {"tag": {"type": "keyword"}}}}));
    app().bulk_ok(
        "/_bulk?refresh=true",
        &[
            json!({"index": {"_index": a, "_id": "1"}}),
            json!({"tag": "red"}),
            json!({"index": {"_index": a, "_id": "2"}}),
            json!({"tag": "blue"}),
            json!({"index": {"_index": b, "_id": "3"}}),
            json!({"tag": "red"}),
        ],
    );
    let v = app().post_ok(
        "/_aliases",
        json!({"actions": [
            {"add": {"index": a, "alias": filtered, "filter": {"term": {"tag": "red"}}}},
            {"add": {"index": a, "alias": both, "is_write_index": true}},
            {"add": {"index": b, "alias": both}}
        ]}),
    );
    assert_eq!(v, json!({"acknowledged": true}));

    assert_eq!(app().count(&filtered), 1);
    assert_eq!(ids_of(&app().post_ok(&format!("/{filtered}/_search"), ())), ["1"]);
    assert_eq!(app().count(&both), 3);

    // Writes through the alias go to its write index.
    let (s, v) = app().put(&format!("/{both}/_doc/4?refresh=true"), json!({"tag": "green"}));
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["_index"], json!(a));
    assert_eq!(app().get_ok(&format!("/{a}/_doc/4"))["_source"], json!({"tag": "green"}));
    // A GET through an alias of two indices is ambiguous.
    let r = app().send("GET", &format!("/{both}/_doc/4"), (), &[]);
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.error_type(), "illegal_argument_exception");
    assert!(r.error_reason().contains("has more than one index associated with it"), "{}", r.text);

    let v = app().get_ok(&format!("/_alias/{both}"));
    assert_eq!(v[&a]["aliases"][&both]["is_write_index"], json!(true), "{v}");
    assert_eq!(v[&b]["aliases"][&both], json!({}), "{v}");
    let v = app().get_ok(&format!("/{a}/_alias/{filtered}"));
    assert_eq!(v[&a]["aliases"][&filtered]["filter"], json!({"term": {"tag": "red"}}), "{v}");

    // Without a write index, writes through a multi-index alias fail with ES's text.
    app().post_ok("/_aliases", json!({"actions": [{"add": {"index": a, "alias": both, "is_write_index": false}}]}));
    let r = app().send("PUT", &format!("/{both}/_doc/5"), json!({"tag": "x"}), &[]);
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.error_type(), "illegal_argument_exception");
    assert!(r.error_reason().starts_with(&format!("no write index is defined for alias [{both}]")), "{}", r.text);

    let v = app().post_ok("/_aliases", json!({"actions": [{"remove": {"index": a, "alias": filtered}}]}));
    assert_eq!(v["acknowledged"], json!(true));
    assert_eq!(app().get(&format!("/_alias/{filtered}"), ()).0, 404);
}

#[test]
fn index_templates_apply_on_auto_create() {
    let prefix = app().unique_index("tpl");
    let template = format!("{prefix}-template");
    let alias = format!("{prefix}-all");
    let (s, v) = app().put(
        &format!("/_index_template/{template}"),
        json!({
            "index_patterns": [format!("{prefix}-logs-*")],
            "priority": 10,
            "template": {
                "settings": {"number_of_shards": 2},
                "mappings": {"properties": {"msg": {"type": "keyword"}}},
                "aliases": {alias.clone(): {}}
            }
        }),
    );
    assert_eq!((s, v), (200, json!({"acknowledged": true})));

    let idx = format!("{prefix}-logs-1");
    let (s, v) = app().put(&format!("/{idx}/_doc/1?refresh=true"), json!({"msg": "hello world"}));
    assert_eq!(s, 201, "{v}");
    let v = app().get_ok(&format!("/{idx}"));
    assert_eq!(v[&idx]["settings"]["index"]["number_of_shards"], json!("2"), "{v}");
    assert_eq!(v[&idx]["mappings"]["properties"]["msg"], json!({"type": "keyword"}), "{v}");
    assert!(v[&idx]["aliases"].get(&alias).is_some(), "{v}");
    // keyword, not text: the whole value is one term.
    let v = app().post_ok(&format!("/{alias}/_search"), json!({"query": {"term": {"msg": "hello world"}}}));
    assert_eq!(ids_of(&v), ["1"]);

    // An index that does not match keeps the defaults.
    let other = format!("{prefix}-other");
    app().put_ok(&format!("/{other}/_doc/1"), json!({"msg": "hello world"}));
    let v = app().get_ok(&format!("/{other}/_mapping"));
    assert_eq!(v[&other]["mappings"]["properties"]["msg"]["type"], json!("text"), "{v}");
    assert_eq!(
        app().get_ok(&format!("/{other}/_settings"))[&other]["settings"]["index"]["number_of_shards"],
        json!("1")
    );

    let (s, _) = app().delete(&format!("/_index_template/{template}"), ());
    assert_eq!(s, 200);
    assert_eq!(app().get(&format!("/_index_template/{template}"), ()).0, 404);
}

#[test]
fn dynamic_mappings_true_false_and_strict() {
    // dynamic: true (default) maps new fields the way ES does.
    let dynamic = app().unique_index("dyn-true");
    app().put_ok(
        &format!("/{dynamic}/_doc/1"),
        json!({"s": "text", "l": 5, "f": 1.5, "b": true, "d": "2020-01-01", "o": {"x": 1}}),
    );
    let v = app().get_ok(&format!("/{dynamic}/_mapping"));
    let props = &v[&dynamic]["mappings"]["properties"];
    assert_eq!(props["s"], json!({"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}}));
    assert_eq!(props["l"]["type"], json!("long"));
    assert_eq!(props["f"]["type"], json!("float"));
    assert_eq!(props["b"]["type"], json!("boolean"));
    assert_eq!(props["d"]["type"], json!("date"));
    assert_eq!(props["o"]["properties"]["x"]["type"], json!("long"));

    // dynamic: false keeps unmapped fields in _source but does not index them.
    let off = app().unique_index("dyn-false");
    create_index(&off, json!({"mappings": {"dynamic": false, "properties": {"a": {"type": "keyword"}}}}));
    app().put_ok(&format!("/{off}/_doc/1?refresh=true"), json!({"a": "x", "b": "y"}));
    let v = app().get_ok(&format!("/{off}/_mapping"));
    assert!(v[&off]["mappings"]["properties"].get("b").is_none(), "{v}");
    assert_eq!(app().get_ok(&format!("/{off}/_doc/1"))["_source"], json!({"a": "x", "b": "y"}));
    let v = app().post_ok(&format!("/{off}/_search"), json!({"query": {"match": {"b": "y"}}}));
    assert_eq!(v["hits"]["total"]["value"], json!(0));
    assert_eq!(app().post_ok(&format!("/{off}/_count"), json!({"query": {"term": {"a": "x"}}}))["count"], json!(1));

    // dynamic: strict refuses unmapped fields.
    let strict = app().unique_index("dyn-strict");
    create_index(&strict, json!({"mappings": {"dynamic": "strict", "properties": {"a": {"type": "keyword"}}}}));
    let r = app().send("PUT", &format!("/{strict}/_doc/1"), json!({"a": "x", "b": 1}), &[]);
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.error_type(), "strict_dynamic_mapping_exception");
    assert!(
        r.error_reason().ends_with("mapping set to strict, dynamic introduction of [b] within [_doc] is not allowed"),
        "{}",
        r.text
    );
    assert_eq!(app().put(&format!("/{strict}/_doc/1"), json!({"a": "x"})).0, 201);

    // put_mapping adds a field; a type change is refused.
    let (s, v) = app().put(&format!("/{strict}/_mapping"), json!({"properties": {"b": {"type": "integer"}}}));
    assert_eq!((s, v), (200, json!({"acknowledged": true})));
    assert_eq!(app().put(&format!("/{strict}/_doc/2"), json!({"a": "y", "b": 1})).0, 201);
    let r = app().send("PUT", &format!("/{strict}/_mapping"), json!({"properties": {"b": {"type": "keyword"}}}), &[]);
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.error_type(), "illegal_argument_exception");
    assert_eq!(r.error_reason(), "mapper [b] cannot be changed from type [integer] to [keyword]");
}

#[test]
fn refresh_interval_minus_one_then_refresh() {
    let idx = app().unique_index("refresh-setting");
    create_index(&idx, json!({}));
    let v = app().put_ok(&format!("/{idx}/_settings"), json!({"index": {"refresh_interval": "-1"}}));
    assert_eq!(v, json!({"acknowledged": true}));
    let v = app().get_ok(&format!("/{idx}/_settings"));
    assert_eq!(v[&idx]["settings"]["index"]["refresh_interval"], json!("-1"), "{v}");

    app().put_ok(&format!("/{idx}/_doc/1"), json!({"a": 1}));
    // An observation window longer than the default interval (1s): the document must stay hidden.
    let window = Instant::now();
    while window.elapsed() < Duration::from_millis(1500) {
        assert_eq!(app().count(&idx), 0, "a scheduled refresh ran although refresh_interval is -1");
    }
    let v = app().post_ok(&format!("/{idx}/_refresh"), ());
    assert_eq!(v["_shards"]["failed"], json!(0), "{v}");
    assert_eq!(app().count(&idx), 1);

    // Back to the default: scheduled refreshes make new writes visible without _refresh.
    app().put_ok(&format!("/{idx}/_settings"), json!({"index": {"refresh_interval": null}}));
    app().put_ok(&format!("/{idx}/_doc/2"), json!({"a": 2}));
    let deadline = Instant::now() + Duration::from_secs(10);
    while app().count(&idx) != 2 {
        assert!(Instant::now() < deadline, "the scheduled refresh did not run within 10s");
    }
}

#[test]
fn every_response_carries_the_product_header() {
    let idx = app().unique_index("header");
    app().put_ok(&format!("/{idx}/_doc/1"), json!({"a": 1}));
    let missing = app().unique_index("header-missing");
    let cases: Vec<(&str, String, Body, u16)> = vec![
        ("GET", "/".into(), Body::Empty, 200),
        ("HEAD", "/".into(), Body::Empty, 200),
        ("GET", format!("/{idx}/_doc/1"), Body::Empty, 200),
        ("GET", format!("/{idx}/_doc/2"), Body::Empty, 404),
        ("HEAD", format!("/{idx}/_doc/2"), Body::Empty, 404),
        ("GET", format!("/{missing}/_search"), Body::Empty, 404),
        ("GET", format!("/{missing}/_doc/1"), Body::Empty, 404),
        ("GET", "/_no_such_api/x/y/z".into(), Body::Empty, 400),
        ("PATCH", format!("/{idx}/_doc/1"), Body::Empty, 405),
        ("PUT", format!("/{idx}/_doc/3"), Body::raw("{}", "text/plain"), 406),
        ("POST", format!("/{idx}/_search"), Body::json_text("{"), 400),
        ("PUT", format!("/{idx}/_create/1"), Body::Json(json!({"a": 1})), 409),
    ];
    for (method, path, body, status) in cases {
        let r = app().send(method, &path, body, &[]);
        assert_eq!(r.status, status, "{method} {path}: {}", r.text);
        assert_eq!(r.header("x-elastic-product"), Some("Elasticsearch"), "{method} {path} lacks X-Elastic-Product");
        if method != "HEAD" {
            assert!(r.json.is_object(), "{method} {path}: not a JSON body: {}", r.text);
        }
    }
}

#[test]
fn compatible_with_media_types() {
    let idx = app().unique_index("compat");
    for version in ["7", "8", "9"] {
        let media = format!("application/vnd.elasticsearch+json; compatible-with={version}");
        let r = app().send(
            "PUT",
            &format!("/{idx}/_doc/{version}"),
            Body::raw(json!({"v": version}).to_string(), &media),
            &[("accept", media.as_str())],
        );
        assert_eq!(r.status, 201, "compatible-with={version}: {}", r.text);
        let ct = r.header("content-type").unwrap_or("");
        assert!(
            ct.starts_with("application/vnd.elasticsearch+json") && ct.contains(&format!("compatible-with={version}")),
            "content-type for compatible-with={version}: {ct}"
        );
        let r = app().send("GET", &format!("/{idx}/_doc/{version}"), (), &[("accept", media.as_str())]);
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["_source"], json!({"v": version}));
    }
    let r = app().send("GET", "/", (), &[("accept", "application/vnd.elasticsearch+json; compatible-with=5")]);
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.error_type(), "media_type_header_exception");
}

#[test]
fn filter_path_and_pretty() {
    let idx = search_fixture();
    let v = app().get_ok(&format!("/{idx}/_search?filter_path=hits.hits._id,hits.total.value&sort=n:desc&size=2"));
    assert_eq!(v, json!({"hits": {"total": {"value": 5}, "hits": [{"_id": "5"}, {"_id": "4"}]}}));
    let v = app().get_ok(&format!("/{idx}/_search?filter_path=-hits.hits,-_shards,-took"));
    assert_eq!(v, json!({"timed_out": false, "hits": {"total": {"value": 5, "relation": "eq"}, "max_score": 1.0}}));
    let v = app().get_ok(&format!("/{idx}/_doc/1?filter_path=_source.tag,found"));
    assert_eq!(v, json!({"found": true, "_source": {"tag": "a"}}));
    let v = app().get_ok(&format!("/{idx}/_search?filter_path=hits.hits.*.tag&size=1&sort=n"));
    assert_eq!(v, json!({"hits": {"hits": [{"_source": {"tag": "a"}}]}}));
    // Errors are not filtered.
    let r = app().send("GET", &format!("/{idx}/_doc/1?filter_path=nothing&foo=1"), (), &[]);
    assert_eq!(r.status, 400);
    assert!(r.json["error"].is_object(), "{}", r.text);
    // A filter that matches nothing gives an empty object.
    assert_eq!(app().get_ok(&format!("/{idx}/_count?filter_path=nope")), json!({}));

    let r = app().send("GET", &format!("/{idx}/_count?pretty"), (), &[]);
    assert_eq!(r.status, 200);
    assert!(r.text.contains("\n  \"count\" : 5") || r.text.contains("\n  \"count\": 5"), "{}", r.text);
    assert!(r.text.ends_with('\n'), "{:?}", r.text);
    let r = app().send("GET", &format!("/{idx}/_count?pretty=false"), (), &[]);
    assert!(!r.text.contains('\n'), "{:?}", r.text);
    let r = app().send("GET", &format!("/{idx}/_count?pretty&filter_path=count"), (), &[]);
    assert_eq!(r.json, json!({"count": 5}));
    assert!(r.text.contains('\n'), "{:?}", r.text);
}
