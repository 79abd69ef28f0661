//! Bad input must get ES's error answer and must not hurt the node.
//!
//! Every test ends with [`assert_node_healthy`]: the node still answers and the canary index, written
//! once before any bad input of this binary, still holds exactly its documents with their versions.
//! Tests share one in-process node, so a request that corrupts state shows up in the other tests too.

use std::sync::OnceLock;

use tern_integration_tests::{Body, TestApp, TestProcess, Value, json};

fn app() -> &'static TestApp {
    TestApp::shared()
}

const CANARY_DOCS: usize = 5;

/// The canary index, created on first use: documents `0..CANARY_DOCS` with version 2.
fn canary() -> &'static str {
    static CANARY: OnceLock<String> = OnceLock::new();
    CANARY.get_or_init(|| {
        let idx = app().unique_index("canary");
        for i in 0..CANARY_DOCS {
            app().put_ok(&format!("/{idx}/_doc/{i}"), json!({"i": i, "v": 1}));
            app().put_ok(&format!("/{idx}/_doc/{i}"), json!({"i": i, "v": 2}));
        }
        app().refresh(&idx);
        idx
    })
}

fn assert_node_healthy() {
    let idx = canary();
    let (s, v) = app().get("/", ());
    assert_eq!(s, 200, "the node stopped answering: {v}");
    for i in 0..CANARY_DOCS {
        let v = app().get_ok(&format!("/{idx}/_doc/{i}"));
        assert_eq!(v["_version"], json!(2), "canary doc {i}: {v}");
        assert_eq!(v["_source"], json!({"i": i, "v": 2}), "canary doc {i}: {v}");
    }
    assert_eq!(app().count(idx), CANARY_DOCS as u64, "canary count");
    // The node still takes writes.
    let probe = app().unique_index("probe");
    let (s, v) = app().put(&format!("/{probe}/_doc/1?refresh=true"), json!({"ok": true}));
    assert_eq!(s, 201, "the node no longer takes writes: {v}");
    assert_eq!(app().count(&probe), 1);
}

fn expect_error(method: &str, path: &str, body: impl Into<Body>, status: u16, es_type: &str) -> Value {
    let r = app().send(method, path, body, &[]);
    assert_eq!(r.status, status, "{method} {path}: {}", r.text);
    assert_eq!(r.error_type(), es_type, "{method} {path}: {}", r.text);
    assert_eq!(r.json["status"], json!(status), "{method} {path}: {}", r.text);
    assert_eq!(r.header("x-elastic-product"), Some("Elasticsearch"));
    r.json
}

#[test]
fn malformed_json_bodies() {
    canary();
    let idx = app().unique_index("malformed");
    app().put_ok(&format!("/{idx}/_doc/1"), json!({"a": 1}));
    let bad = ["{\"query\": {\"match_all\": {}},,}", "{\"a\" 1}", "{'a': 1}", "{\"a\": tru}", "{\"a\": 1}}"];
    for text in bad {
        expect_error("POST", &format!("/{idx}/_search"), Body::json_text(text), 400, "x_content_parse_exception");
        expect_error(
            "PUT",
            &format!("/{}", app().unique_index("malformed-create")),
            Body::json_text(text),
            400,
            "x_content_parse_exception",
        );
        expect_error("POST", &format!("/{idx}/_update/1"), Body::json_text(text), 400, "x_content_parse_exception");
        expect_error("POST", "/_aliases", Body::json_text(text), 400, "x_content_parse_exception");
        expect_error("POST", &format!("/{idx}/_mget"), Body::json_text(text), 400, "x_content_parse_exception");
        // Documents: a 400 in every case (the ES 8 type is checked in `malformed_documents_are_document_parsing_exceptions`).
        let r = app().send("PUT", &format!("/{idx}/_doc/2"), Body::json_text(text), &[]);
        assert_eq!(r.status, 400, "{text}: {}", r.text);
        assert!(r.json["error"]["type"].is_string(), "{}", r.text);
    }
    // Nothing was written by the failed requests.
    assert_eq!(app().get(&format!("/{idx}/_doc/2"), ()).0, 404);
    let v = app().get_ok(&format!("/{idx}/_doc/1"));
    assert_eq!((v["_version"].clone(), v["_source"].clone()), (json!(1), json!({"a": 1})));
    assert_node_healthy();
}

/// ES 8 parses a document's source on the shard: malformed JSON is a `document_parsing_exception`
/// (tern's `_bulk` already answers so for the same bytes).
#[test]
fn malformed_documents_are_document_parsing_exceptions() {
    let idx = app().unique_index("malformed-doc");
    for text in ["{\"a\" 1}", "{\"a\": 1", "{\"a\": tru}"] {
        let v =
            expect_error("PUT", &format!("/{idx}/_doc/1"), Body::json_text(text), 400, "document_parsing_exception");
        assert!(v["error"]["reason"].as_str().unwrap().contains("failed to parse"), "{v}");
    }
    let v = expect_error(
        "PUT",
        &format!("/{idx}/_doc/1"),
        Body::raw(b"{\"a\": \"\xff\"}".to_vec(), "application/json"),
        400,
        "document_parsing_exception",
    );
    assert!(v["error"]["reason"].as_str().unwrap().contains("Invalid UTF-8"), "{v}");
    let v =
        expect_error("PUT", &format!("/{idx}/_doc/1"), Body::json_text("[1, 2]"), 400, "document_parsing_exception");
    assert!(v["error"]["reason"].as_str().unwrap().contains("must start with an object"), "{v}");
}

#[test]
fn malformed_ndjson_bulk() {
    canary();
    let idx = app().unique_index("bulk-malformed");
    let exact = |body: &str, es_type: &str, reason: &str| {
        let v = expect_error("POST", &format!("/{idx}/_bulk"), Body::ndjson(body), 400, es_type);
        assert_eq!(v["error"]["reason"], json!(reason), "{body:?}");
    };
    exact(
        "{\"index\":{\"_id\":\"1\"}}\n{\"a\":1}",
        "illegal_argument_exception",
        "The bulk request must be terminated by a newline [\\n]",
    );
    exact(
        "{\"upsert\":{\"_id\":\"1\"}}\n{\"a\":1}\n",
        "illegal_argument_exception",
        "Malformed action/metadata line [1], expected field [create], [delete], [index] or [update] but found [upsert]",
    );
    exact(
        "{\"index\":{\"_id\":\"1\"}}\n{\"a\":1}\n{\"index\":{\"_id\":\"2\",\"bogus\":1}}\n{\"a\":2}\n",
        "illegal_argument_exception",
        "Action/metadata line [3] contains an unknown parameter [bogus]",
    );
    exact(
        "{}\n{\"a\":1}\n",
        "illegal_argument_exception",
        "Malformed action/metadata line [1], expected FIELD_NAME but found [END_OBJECT]",
    );
    exact(
        "{\"index\":{}, \"delete\":{}}\n{\"a\":1}\n",
        "illegal_argument_exception",
        "Malformed action/metadata line [1], expected END_OBJECT but found [FIELD_NAME]",
    );
    exact("", "action_request_validation_exception", "Validation Failed: 1: no requests added;");
    exact("\n\n", "action_request_validation_exception", "Validation Failed: 1: no requests added;");

    // Broken JSON on an action line: a parse error naming the line, and nothing of the bulk is applied.
    let body = "{\"index\":{\"_id\":\"1\"}}\n{\"a\":1}\n{\"index\":{\"_id\":\"2\"}\n{\"a\":2}\n";
    let r = app().send("POST", &format!("/{idx}/_bulk"), Body::ndjson(body), &[]);
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.error_type().ends_with("_exception"), "{}", r.text);
    assert!(r.error_reason().starts_with("[3:"), "the reason names line 3: {}", r.text);
    assert_eq!(app().get(&format!("/{idx}/_doc/1"), ()).0, 404, "a malformed bulk must apply nothing");

    // A malformed *source* fails only its own item.
    let body = "{\"index\":{\"_id\":\"1\"}}\n{\"a\":\n{\"index\":{\"_id\":\"2\"}}\n{\"a\":2}\n";
    let (s, v) = app().post(&format!("/{idx}/_bulk"), Body::ndjson(body));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["errors"], json!(true));
    assert_eq!(v["items"][0]["index"]["status"], json!(400), "{v}");
    assert_eq!(v["items"][0]["index"]["error"]["type"], json!("document_parsing_exception"), "{v}");
    assert_eq!(v["items"][1]["index"]["status"], json!(201), "{v}");
    assert_node_healthy();
}

/// ES's `BulkRequestParser` texts for action lines that are not objects.
#[test]
fn bulk_action_lines_that_are_not_objects() {
    let idx = app().unique_index("bulk-not-object");
    let cases = [
        ("\"index\"\n{}\n", "Malformed action/metadata line [1], expected START_OBJECT but found [VALUE_STRING]"),
        ("[1]\n{}\n", "Malformed action/metadata line [1], expected START_OBJECT but found [START_ARRAY]"),
        (
            "{\"index\":\"x\"}\n{}\n",
            "Malformed action/metadata line [1], expected START_OBJECT or END_OBJECT but found [VALUE_STRING]",
        ),
        (
            "{\"index\":[1]}\n{}\n",
            "Malformed action/metadata line [1], expected START_OBJECT or END_OBJECT but found [START_ARRAY]",
        ),
    ];
    for (body, reason) in cases {
        let v = expect_error("POST", &format!("/{idx}/_bulk"), Body::ndjson(body), 400, "illegal_argument_exception");
        assert_eq!(v["error"]["reason"], json!(reason), "{body:?}");
    }
}

#[test]
fn wrong_field_types() {
    canary();
    let idx = app().unique_index("types");
    let (s, v) = app().put(
        &format!("/{idx}"),
        json!({"mappings": {"properties": {
            "n": {"type": "integer"}, "d": {"type": "date"}, "b": {"type": "boolean"},
            "o": {"properties": {"x": {"type": "keyword"}}}, "ip": {"type": "ip"}
        }}}),
    );
    assert_eq!(s, 200, "{v}");
    let cases = [
        (json!({"n": "abc"}), "failed to parse field [n] of type [integer] in document with id '1'"),
        (json!({"n": {"x": 1}}), "failed to parse field [n] of type [integer] in document with id '1'"),
        (json!({"d": "not a date"}), "failed to parse field [d] of type [date] in document with id '1'"),
        (json!({"b": "maybe"}), "failed to parse field [b] of type [boolean] in document with id '1'"),
        (json!({"ip": "999.1.1.1"}), "failed to parse field [ip] of type [ip] in document with id '1'"),
        (json!({"o": 5}), "object mapping for [o] tried to parse field [o] as object, but found a concrete value"),
    ];
    for (doc, reason) in cases {
        let v = expect_error("PUT", &format!("/{idx}/_doc/1"), doc.clone(), 400, "document_parsing_exception");
        let got = v["error"]["reason"].as_str().unwrap();
        assert!(got.contains(reason), "{doc}: {got}");
    }
    // The same failure in a bulk stays in its item.
    let lines =
        [json!({"index": {"_id": "1"}}), json!({"n": "abc"}), json!({"index": {"_id": "2"}}), json!({"n": "12"})];
    let (s, v) = app().post(&format!("/{idx}/_bulk?refresh=true"), Body::bulk(&lines));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["items"][0]["index"]["error"]["type"], json!("document_parsing_exception"), "{v}");
    assert_eq!(v["items"][1]["index"]["status"], json!(201), "numeric strings are coerced: {v}");
    assert_eq!(app().get(&format!("/{idx}/_doc/1"), ()).0, 404);
    assert_eq!(app().count(&idx), 1);
    // The mapping did not change.
    let m = app().get_ok(&format!("/{idx}/_mapping"));
    assert_eq!(m[&idx]["mappings"]["properties"]["n"], json!({"type": "integer"}), "{m}");
    assert_node_healthy();
}

#[test]
fn strict_mapping_violations() {
    canary();
    let idx = app().unique_index("strict");
    let (s, v) = app().put(
        &format!("/{idx}"),
        json!({"mappings": {"dynamic": "strict", "properties": {
            "a": {"type": "keyword"},
            "obj": {"properties": {"x": {"type": "keyword"}}}
        }}}),
    );
    assert_eq!(s, 200, "{v}");
    let v = expect_error(
        "PUT",
        &format!("/{idx}/_doc/1"),
        json!({"a": "x", "extra": 1}),
        400,
        "strict_dynamic_mapping_exception",
    );
    let reason = v["error"]["reason"].as_str().unwrap();
    assert!(
        reason.ends_with("mapping set to strict, dynamic introduction of [extra] within [_doc] is not allowed"),
        "{reason}"
    );
    let v = expect_error(
        "PUT",
        &format!("/{idx}/_doc/1"),
        json!({"obj": {"x": "1", "y": 2}}),
        400,
        "strict_dynamic_mapping_exception",
    );
    let reason = v["error"]["reason"].as_str().unwrap();
    assert!(
        reason.ends_with("mapping set to strict, dynamic introduction of [y] within [obj] is not allowed"),
        "{reason}"
    );
    // Through _update and _bulk too.
    app().put_ok(&format!("/{idx}/_doc/2"), json!({"a": "ok"}));
    expect_error(
        "POST",
        &format!("/{idx}/_update/2"),
        json!({"doc": {"extra": 1}}),
        400,
        "strict_dynamic_mapping_exception",
    );
    let (s, v) =
        app().post(&format!("/{idx}/_bulk"), Body::bulk(&[json!({"index": {"_id": "3"}}), json!({"extra": 1})]));
    assert_eq!(s, 200);
    assert_eq!(v["items"][0]["index"]["error"]["type"], json!("strict_dynamic_mapping_exception"), "{v}");
    // Nothing leaked into the mapping or the index.
    let m = app().get_ok(&format!("/{idx}/_mapping"));
    assert!(m[&idx]["mappings"]["properties"].get("extra").is_none(), "{m}");
    let v = app().get_ok(&format!("/{idx}/_doc/2"));
    assert_eq!((v["_version"].clone(), v["_source"].clone()), (json!(1), json!({"a": "ok"})));
    assert_eq!(app().get(&format!("/{idx}/_doc/1"), ()).0, 404);
    assert_eq!(app().get(&format!("/{idx}/_doc/3"), ()).0, 404);
    assert_node_healthy();
}

#[test]
fn invalid_index_names() {
    canary();
    let long = "a".repeat(256);
    let cases: Vec<(String, String)> = vec![
        ("FOO".into(), "Invalid index name [FOO], must be lowercase".into()),
        ("_x".into(), "Invalid index name [_x], must not start with '_', '-', or '+'".into()),
        ("-x".into(), "Invalid index name [-x], must not start with '_', '-', or '+'".into()),
        ("a*b".into(), "Invalid index name [a*b], must not contain the following characters".into()),
        ("a,b".into(), "Invalid index name [a,b], must not contain the following characters".into()),
        ("a#b".into(), "Invalid index name [a#b], must not contain '#'".into()),
        ("a:b".into(), "Invalid index name [a:b], must not contain ':'".into()),
        (long.clone(), format!("Invalid index name [{long}], index name is too long, (256 > 255)")),
    ];
    for (name, reason) in &cases {
        let encoded = name.replace(',', "%2C").replace('#', "%23");
        // Explicit creation and auto-creation by a write.
        for (method, path, body) in
            [("PUT", format!("/{encoded}"), json!({})), ("PUT", format!("/{encoded}/_doc/1"), json!({"a": 1}))]
        {
            let v = expect_error(method, &path, body, 400, "invalid_index_name_exception");
            let got = v["error"]["reason"].as_str().unwrap();
            assert!(got.starts_with(reason.as_str()), "{method} {path}: {got}");
            assert_eq!(v["error"]["index"], json!(name), "{v}");
        }
        // In a bulk the failure stays in its item.
        let (s, v) =
            app().post("/_bulk", Body::bulk(&[json!({"index": {"_index": name, "_id": "1"}}), json!({"a": 1})]));
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["items"][0]["index"]["status"], json!(400), "{v}");
        assert_eq!(v["items"][0]["index"]["error"]["type"], json!("invalid_index_name_exception"), "{v}");
    }
    // No index was created by any of them.
    assert_eq!(app().get("/foo", ()).0, 404);
    assert_eq!(app().get(&format!("/{}", "a".repeat(255)), ()).0, 404);
    assert_node_healthy();
}

#[test]
fn bodies_over_max_content_length_get_413() {
    let node = TestProcess::start(&["http.max_content_length=1kb"]);
    let idx = "limits";
    node.put_ok(&format!("/{idx}/_doc/1?refresh=true"), json!({"small": true}));
    let big = json!({"text": "x".repeat(2048)});
    let r = node.send("PUT", &format!("/{idx}/_doc/2"), big.clone(), &[]);
    assert_eq!(r.status, 413, "{}", r.text);
    assert_eq!(r.header("x-elastic-product"), Some("Elasticsearch"));
    let bulk = Body::bulk(&[json!({"index": {"_id": "3"}}), big.clone()]);
    assert_eq!(node.send("POST", &format!("/{idx}/_bulk"), bulk, &[]).status, 413);
    // Exactly at the limit is fine, one byte over is not.
    let at_limit = |len: usize| {
        let filler = "y".repeat(len - r#"{"f":""}"#.len());
        Body::json_text(format!(r#"{{"f":"{filler}"}}"#))
    };
    assert_eq!(node.send("PUT", &format!("/{idx}/_doc/4"), at_limit(1024), &[]).status, 201);
    assert_eq!(node.send("PUT", &format!("/{idx}/_doc/5"), at_limit(1025), &[]).status, 413);
    // The node keeps serving, with its data.
    assert_eq!(node.get(&format!("/{idx}/_doc/2"), ()).0, 404);
    assert_eq!(node.get_ok(&format!("/{idx}/_doc/1"))["_source"], json!({"small": true}));
    node.refresh(idx);
    assert_eq!(node.count(idx), 2);
}

/// Builds `{"a":{"a":...1...}}` nested `depth` levels deep.
fn nested_object(depth: usize) -> String {
    format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth))
}

#[test]
fn deeply_nested_documents_and_queries() {
    canary();
    let idx = app().unique_index("nested");
    app().put_ok(&format!("/{idx}/_doc/ok"), json!({"a": {"b": 1}}));
    let depth = 10_000;
    let doc = nested_object(depth);
    let arrays = format!("{{\"a\":{}1{}}}", "[".repeat(depth), "]".repeat(depth));
    for body in [&doc, &arrays] {
        let r = app().send("PUT", &format!("/{idx}/_doc/deep"), Body::json_text(body.clone()), &[]);
        assert_eq!(r.status, 400, "{}", r.text);
        let r = app().send("POST", &format!("/{idx}/_update/ok"), Body::json_text(format!("{{\"doc\":{body}}}")), &[]);
        assert_eq!(r.status, 400, "{}", r.text);
        // In a bulk the source reaches the shard: it must fail the item, not the shard.
        let bulk =
            format!("{{\"index\":{{\"_id\":\"deep\"}}}}\n{body}\n{{\"index\":{{\"_id\":\"after\"}}}}\n{{\"z\":1}}\n");
        let (s, v) = app().post(&format!("/{idx}/_bulk"), Body::ndjson(bulk));
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["items"][0]["index"]["status"], json!(400), "{v}");
        assert_eq!(v["items"][1]["index"]["status"].as_u64().map(|s| s / 100), Some(2), "{v}");
    }
    // Beyond ES's index.mapping.depth.limit (20) but parseable.
    let r = app().send("PUT", &format!("/{idx}/_doc/deep"), Body::json_text(nested_object(30)), &[]);
    assert_eq!(r.status, 400, "{}", r.text);

    let query =
        format!("{{\"query\":{}{{\"match_all\":{{}}}}{}}}", "{\"bool\":{\"must\":".repeat(depth), "}}".repeat(depth));
    let r = app().send("POST", &format!("/{idx}/_search"), Body::json_text(query), &[]);
    assert_eq!(r.status, 400, "{}", r.text);
    let r = app().send("POST", &format!("/{idx}/_count"), Body::json_text(format!("{{\"query\":{doc}}}")), &[]);
    assert_eq!(r.status, 400, "{}", r.text);

    assert_eq!(app().get(&format!("/{idx}/_doc/deep"), ()).0, 404);
    assert_eq!(app().get_ok(&format!("/{idx}/_doc/ok"))["_source"], json!({"a": {"b": 1}}));
    assert_node_healthy();
}

#[test]
fn invalid_utf8_bodies() {
    canary();
    let idx = app().unique_index("utf8");
    app().put_ok(&format!("/{idx}/_doc/1"), json!({"a": "ok"}));
    let bad_doc = b"{\"a\": \"\xff\xfe\"}".to_vec();
    let r = app().send("PUT", &format!("/{idx}/_doc/2"), Body::raw(bad_doc.clone(), "application/json"), &[]);
    assert_eq!(r.status, 400, "{}", r.text);
    expect_error(
        "POST",
        &format!("/{idx}/_search"),
        Body::raw(b"{\"query\":{\"term\":{\"a\":\"\xc3\x28\"}}}".to_vec(), "application/json"),
        400,
        "x_content_parse_exception",
    );
    // Bulk: a bad source fails its item; a bad action line fails the request.
    let mut body = b"{\"index\":{\"_id\":\"3\"}}\n".to_vec();
    body.extend_from_slice(&bad_doc);
    body.extend_from_slice(b"\n{\"index\":{\"_id\":\"4\"}}\n{\"a\":\"fine\"}\n");
    let (s, v) = app().post(&format!("/{idx}/_bulk"), Body::raw(body, "application/x-ndjson"));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["items"][0]["index"]["status"], json!(400), "{v}");
    assert_eq!(v["items"][1]["index"]["status"], json!(201), "{v}");
    let r = app().send(
        "POST",
        &format!("/{idx}/_bulk"),
        Body::raw(b"{\"index\":{\"_id\":\"\xff\"}}\n{}\n".to_vec(), "application/x-ndjson"),
        &[],
    );
    assert_eq!(r.status, 400, "{}", r.text);
    // Invalid UTF-8 in the query string.
    let r = app().send("GET", &format!("/{idx}/_search?q=%FF"), (), &[]);
    assert_eq!(r.status, 400, "{}", r.text);

    assert_eq!(app().get(&format!("/{idx}/_doc/2"), ()).0, 404);
    assert_eq!(app().get(&format!("/{idx}/_doc/3"), ()).0, 404);
    assert_eq!(app().get_ok(&format!("/{idx}/_doc/1"))["_source"], json!({"a": "ok"}));
    assert_node_healthy();
}

#[test]
fn result_window_is_limited() {
    canary();
    let idx = app().unique_index("window");
    app().put_ok(&format!("/{idx}/_doc/1?refresh=true"), json!({"a": 1}));
    let text = |n: u64, limit: u64| {
        format!(
            "Result window is too large, from + size must be less than or equal to: [{limit}] but was [{n}]. See the scroll api for a more efficient way to request large data sets. This limit can be set by changing the [index.max_result_window] index level setting."
        )
    };
    for (path, body) in [
        (format!("/{idx}/_search?size=10001"), Body::Empty),
        (format!("/{idx}/_search?from=9990&size=11"), Body::Empty),
        (format!("/{idx}/_search"), Body::Json(json!({"from": 10000, "size": 1}))),
    ] {
        let v = expect_error("POST", &path, body, 400, "search_phase_execution_exception");
        assert_eq!(v["error"]["root_cause"][0]["type"], json!("illegal_argument_exception"), "{v}");
        assert_eq!(v["error"]["root_cause"][0]["reason"], json!(text(10001, 10000)), "{v}");
        assert_eq!(v["error"]["caused_by"]["reason"], json!(text(10001, 10000)), "{v}");
    }
    // Exactly at the limit is allowed.
    let v = app().post_ok(&format!("/{idx}/_search?from=9999&size=1"), ());
    assert_eq!(v["hits"]["hits"], json!([]));
    // The limit follows index.max_result_window.
    app().put_ok(&format!("/{idx}/_settings"), json!({"index": {"max_result_window": 50}}));
    let v = expect_error("POST", &format!("/{idx}/_search?size=51"), (), 400, "search_phase_execution_exception");
    assert_eq!(v["error"]["root_cause"][0]["reason"], json!(text(51, 50)), "{v}");
    app().post_ok(&format!("/{idx}/_search?size=50"), ());
    assert_node_healthy();
}

#[test]
fn unknown_query_types_and_keys() {
    canary();
    let idx = app().unique_index("unknown-query");
    app().put_ok(&format!("/{idx}/_doc/1?refresh=true"), json!({"a": 1}));
    let v =
        expect_error("POST", &format!("/{idx}/_search"), json!({"query": {"foo_bar": {}}}), 400, "parsing_exception");
    assert!(v["error"]["reason"].as_str().unwrap().starts_with("unknown query [foo_bar]"), "{v}");
    assert_eq!(v["error"]["root_cause"][0]["type"], json!("parsing_exception"));
    // Inside an object-parsed query ES wraps the cause: `[bool] failed to parse field [must]`.
    let v = expect_error(
        "POST",
        &format!("/{idx}/_search"),
        json!({"query": {"bool": {"must": [{"nope": {"a": 1}}]}}}),
        400,
        "x_content_parse_exception",
    );
    assert_eq!(v["error"]["reason"], json!("[bool] failed to parse field [must]"), "{v}");
    assert_eq!(v["error"]["root_cause"][0]["type"], json!("parsing_exception"), "{v}");
    assert!(v["error"]["root_cause"][0]["reason"].as_str().unwrap().starts_with("unknown query [nope]"), "{v}");
    let v =
        expect_error("POST", &format!("/{idx}/_count"), json!({"query": {"foo_bar": {}}}), 400, "parsing_exception");
    assert!(v["error"]["reason"].as_str().unwrap().starts_with("unknown query [foo_bar]"), "{v}");
    let v = expect_error("POST", &format!("/{idx}/_search"), json!({"quer": {}}), 400, "parsing_exception");
    assert_eq!(v["error"]["reason"], json!("Unknown key for a START_OBJECT in [quer]."));
    let r = app().send("POST", &format!("/{idx}/_search"), json!({"query": {"match_all": {"foo": 1}}}), &[]);
    assert_eq!(r.status, 400, "{}", r.text);
    assert_node_healthy();
}

#[test]
fn unknown_url_parameters() {
    canary();
    let idx = app().unique_index("params");
    app().put_ok(&format!("/{idx}/_doc/1"), json!({"a": 1}));
    let cases = [
        (
            "GET",
            format!("/{idx}/_search?bogus_param=1"),
            format!("request [/{idx}/_search] contains unrecognized parameter: [bogus_param]"),
        ),
        (
            "GET",
            format!("/{idx}/_doc/1?bogus_param=1"),
            format!("request [/{idx}/_doc/1] contains unrecognized parameter: [bogus_param]"),
        ),
        (
            "GET",
            format!("/{idx}/_count?bogus_param"),
            format!("request [/{idx}/_count] contains unrecognized parameter: [bogus_param]"),
        ),
        (
            "GET",
            format!("/{idx}/_search?sizee=1"),
            format!("request [/{idx}/_search] contains unrecognized parameter: [sizee] -> did you mean [size]?"),
        ),
        (
            "GET",
            format!("/{idx}/_doc/1?zzz_a=1&zzz_b=2"),
            format!("request [/{idx}/_doc/1] contains unrecognized parameters: [zzz_a], [zzz_b]"),
        ),
    ];
    for (method, path, reason) in &cases {
        let v = expect_error(method, path, (), 400, "illegal_argument_exception");
        assert_eq!(v["error"]["reason"], json!(reason), "{method} {path}");
    }
    // Writes are refused before they happen.
    expect_error("PUT", &format!("/{idx}/_doc/2?bogus_param=1"), json!({"a": 2}), 400, "illegal_argument_exception");
    expect_error(
        "POST",
        &format!("/{idx}/_bulk?bogus_param=1"),
        Body::bulk(&[json!({"index": {"_id": "3"}}), json!({})]),
        400,
        "illegal_argument_exception",
    );
    assert_eq!(app().get(&format!("/{idx}/_doc/2"), ()).0, 404);
    assert_eq!(app().get(&format!("/{idx}/_doc/3"), ()).0, 404);
    assert_node_healthy();
}

/// ES suggests a parameter only when Lucene's Levenshtein similarity is above 0.5
/// (`1 - distance / max(len)`): `foo` vs `from` is exactly 0.5, so ES gives no hint.
#[test]
fn unknown_parameter_hints_follow_es_similarity() {
    let idx = app().unique_index("params-hint");
    app().put_ok(&format!("/{idx}/_doc/1"), json!({"a": 1}));
    let v = expect_error("GET", &format!("/{idx}/_search?foo=1"), (), 400, "illegal_argument_exception");
    assert_eq!(v["error"]["reason"], json!(format!("request [/{idx}/_search] contains unrecognized parameter: [foo]")));
}

#[test]
fn concurrent_writes_to_one_id() {
    canary();
    const TASKS: usize = 8;
    const PER_TASK: usize = 15;
    let idx = app().unique_index("concurrent");
    // Created up front: racing auto-creation is `concurrent_first_writes_auto_create_one_index`.
    app().put_ok(&format!("/{idx}"), json!({}));
    let client = app().client();

    // Blind writes: all succeed, each gets its own version and seq_no, none is lost.
    let results: Vec<(u16, Value)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..TASKS)
            .map(|t| {
                let idx = &idx;
                s.spawn(move || {
                    (0..PER_TASK)
                        .map(|i| client.put(&format!("/{idx}/_doc/blind"), json!({"t": t, "i": i})))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("writer thread")).collect()
    });
    let mut versions: Vec<i64> = Vec::new();
    let mut seqs: Vec<i64> = Vec::new();
    for (s, v) in &results {
        assert!(*s == 200 || *s == 201, "{s}: {v}");
        versions.push(v["_version"].as_i64().unwrap());
        seqs.push(v["_seq_no"].as_i64().unwrap());
    }
    versions.sort();
    seqs.sort();
    let n = (TASKS * PER_TASK) as i64;
    assert_eq!(versions, (1..=n).collect::<Vec<_>>(), "every write got its own version");
    seqs.dedup();
    assert_eq!(seqs.len() as i64, n, "every write got its own seq_no");
    assert_eq!(app().get_ok(&format!("/{idx}/_doc/blind"))["_version"], json!(n));

    // Compare-and-set increments: each either succeeds or gets 409; no success is lost.
    app().put_ok(&format!("/{idx}/_doc/counter"), json!({"n": 0}));
    let outcomes: Vec<(usize, usize)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..TASKS)
            .map(|_| {
                let idx = &idx;
                s.spawn(move || {
                    let (mut ok, mut conflicts) = (0, 0);
                    while ok < PER_TASK {
                        let cur = client.get_ok(&format!("/{idx}/_doc/counter"));
                        let n = cur["_source"]["n"].as_i64().unwrap();
                        let path = format!(
                            "/{idx}/_doc/counter?if_seq_no={}&if_primary_term={}",
                            cur["_seq_no"], cur["_primary_term"]
                        );
                        let (s, v) = client.put(&path, json!({"n": n + 1}));
                        match s {
                            200 => ok += 1,
                            409 => {
                                assert_eq!(v["error"]["type"], json!("version_conflict_engine_exception"), "{v}");
                                conflicts += 1;
                            }
                            other => panic!("unexpected {other}: {v}"),
                        }
                    }
                    (ok, conflicts)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("cas thread")).collect()
    });
    let successes: usize = outcomes.iter().map(|o| o.0).sum();
    let conflicts: usize = outcomes.iter().map(|o| o.1).sum();
    let v = app().get_ok(&format!("/{idx}/_doc/counter"));
    assert_eq!(v["_source"]["n"], json!(successes), "lost update ({conflicts} conflicts)");
    assert_eq!(v["_version"], json!(successes + 1), "the create plus one version per successful write");

    // Partial updates race too: each succeeds or conflicts, and the final document has every
    // task's last successful write.
    app().put_ok(&format!("/{idx}/_doc/merged"), json!({}));
    let last: Vec<(usize, Option<usize>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..TASKS)
            .map(|t| {
                let idx = &idx;
                s.spawn(move || {
                    let mut ok = 0;
                    let mut last_ok = None;
                    for i in 0..PER_TASK {
                        let (s, v) =
                            client.post(&format!("/{idx}/_update/merged"), json!({"doc": {format!("t{t}"): i}}));
                        match s {
                            200 => {
                                assert_eq!(v["result"], json!("updated"), "{v}");
                                ok += 1;
                                last_ok = Some(i);
                            }
                            409 => {}
                            other => panic!("unexpected {other}: {v}"),
                        }
                    }
                    (ok, last_ok)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("update thread")).collect()
    });
    let v = app().get_ok(&format!("/{idx}/_doc/merged"));
    let ok_total: usize = last.iter().map(|l| l.0).sum();
    assert_eq!(v["_version"], json!(ok_total + 1), "{v}");
    for (t, (_, last_ok)) in last.iter().enumerate() {
        assert_eq!(v["_source"].get(format!("t{t}")).cloned(), last_ok.map(|i| json!(i)), "task {t}: {v}");
    }

    // Racing creates: exactly one wins.
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..TASKS)
            .map(|t| {
                let idx = &idx;
                s.spawn(move || client.put(&format!("/{idx}/_create/once"), json!({"t": t})).0)
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("create thread")).collect()
    });
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), TASKS - 1, "{statuses:?}");
    assert_eq!(app().get_ok(&format!("/{idx}/_doc/once"))["_version"], json!(1));
    assert_node_healthy();
}

/// ES makes writes that race an index's auto-creation wait for its primary; none fails.
#[test]
fn concurrent_first_writes_auto_create_one_index() {
    canary();
    const TASKS: usize = 8;
    for _ in 0..5 {
        let idx = app().unique_index("autocreate-race");
        let client = app().client();
        let statuses: Vec<(u16, Value)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..TASKS)
                .map(|t| {
                    let idx = &idx;
                    s.spawn(move || client.put(&format!("/{idx}/_doc/{t}"), json!({"t": t})))
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("writer thread")).collect()
        });
        for (s, v) in &statuses {
            assert_eq!(*s, 201, "{v}");
        }
        app().refresh(&idx);
        assert_eq!(app().count(&idx), TASKS as u64);
    }
    assert_node_healthy();
}

#[test]
fn wrong_content_type_is_406() {
    canary();
    let idx = app().unique_index("content-type");
    app().put_ok(&format!("/{idx}/_doc/1"), json!({"a": 1}));
    for ct in ["text/plain", "application/x-www-form-urlencoded", "application/xml", "image/png"] {
        let cases = [
            ("PUT", format!("/{idx}/_doc/2")),
            ("POST", format!("/{idx}/_search")),
            ("POST", format!("/{idx}/_bulk")),
            ("PUT", format!("/{}", app().unique_index("content-type-new"))),
        ];
        for (method, path) in cases {
            let body = if path.ends_with("_bulk") { "{\"index\":{}}\n{\"a\":1}\n" } else { "{\"a\":1}" };
            let r = app().send(method, &path, Body::raw(body, ct), &[]);
            assert_eq!(r.status, 406, "{method} {path} with {ct}: {}", r.text);
            assert_eq!(r.json, json!({"error": format!("Content-Type header [{ct}] is not supported"), "status": 406}));
            assert_eq!(r.header("x-elastic-product"), Some("Elasticsearch"));
        }
    }
    // Charset parameters on a supported type are fine.
    let (s, v) = app().put(&format!("/{idx}/_doc/3"), Body::raw("{\"a\":3}", "application/json; charset=UTF-8"));
    assert_eq!(s, 201, "{v}");
    assert_eq!(app().get(&format!("/{idx}/_doc/2"), ()).0, 404);
    assert_node_healthy();
}

#[test]
fn a_slow_client_does_not_block_others() {
    // A request whose body never completes must not stall the node for others.
    use std::io::Write;
    canary();
    let mut stream = std::net::TcpStream::connect(app().addr).expect("connect");
    stream
        .write_all(b"PUT /slow-client/_doc/1 HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"a\":")
        .expect("write partial request");
    assert_node_healthy();
    drop(stream);
    assert_eq!(app().get("/slow-client/_doc/1", ()).0, 404);
}
