//! Document parsing against ES 8 behaviour.

use std::net::IpAddr;

use serde_json::{Value, json};
use tern_common::EsError;
use tern_mapping::{DocumentParseOptions, IndexedValue, Mapping, MappingError, MappingLimits, ParsedDocument};

fn mapping(v: Value) -> Mapping {
    Mapping::parse(&v).unwrap_or_else(|e| panic!("{v}: {e}"))
}

fn doc(m: &Mapping, src: &str) -> ParsedDocument {
    m.parse_document(src.as_bytes(), "1").unwrap_or_else(|e| panic!("{src}: {e}"))
}

fn doc_err(m: &Mapping, src: &str) -> MappingError {
    match m.parse_document(src.as_bytes(), "1") {
        Ok(d) => panic!("{src}: expected an error, got {d:?}"),
        Err(e) => e,
    }
}

fn vals(d: &ParsedDocument, path: &str) -> Vec<IndexedValue> {
    d.values(path).cloned().collect()
}

fn kw(s: &str) -> IndexedValue {
    IndexedValue::Keyword(s.to_string())
}

fn text(s: &str) -> IndexedValue {
    IndexedValue::Text(s.to_string())
}

#[test]
fn dynamic_mapping_infers_es_types() {
    let m = Mapping::new();
    let d = doc(
        &m,
        r#"{"name": "John", "age": 42, "score": 1.5, "ok": true, "born": "2015-01-01",
            "slash": "2015/09/02", "nothing": null, "empty": [], "user": {"city": "Paris"},
            "tags": ["a", "b"], "num_str": "42"}"#,
    );
    let update = d.dynamic_update.clone().unwrap_or_default();
    assert_eq!(
        update.to_json(),
        json!({"properties": {
            "age": {"type": "long"},
            "born": {"type": "date"},
            "name": {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}},
            "num_str": {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}},
            "ok": {"type": "boolean"},
            "score": {"type": "float"},
            "slash": {"type": "date", "format": "yyyy/MM/dd HH:mm:ss||yyyy/MM/dd||epoch_millis"},
            "tags": {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}},
            "user": {"properties": {"city": {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}}}}
        }})
    );
    assert_eq!(vals(&d, "name"), vec![text("John")]);
    assert_eq!(vals(&d, "name.keyword"), vec![kw("John")]);
    assert_eq!(vals(&d, "age"), vec![IndexedValue::I64(42)]);
    assert_eq!(vals(&d, "score"), vec![IndexedValue::F64(1.5)]);
    assert_eq!(vals(&d, "ok"), vec![IndexedValue::Bool(true)]);
    assert_eq!(vals(&d, "born"), vec![IndexedValue::Date(1_420_070_400_000)]);
    assert_eq!(vals(&d, "slash"), vec![IndexedValue::Date(1_441_152_000_000)]);
    assert_eq!(vals(&d, "tags"), vec![text("a"), text("b")]);
    assert_eq!(vals(&d, "user.city.keyword"), vec![kw("Paris")]);
    assert!(d.has_field("user"));
    assert!(d.has_field("user.city"));
    assert!(d.has_field("name.keyword"));
    assert!(!d.has_field("nothing"));
    assert!(!d.has_field("empty"));

    // Merge the update: the same document now needs no update and types the same way.
    let mut merged = m.clone();
    merged.merge(&update).unwrap_or_else(|e| panic!("{e}"));
    let d2 = doc(&merged, r#"{"name": "Jane", "age": "43", "user": {"city": "Rome"}}"#);
    assert!(d2.dynamic_update.is_none());
    assert_eq!(vals(&d2, "age"), vec![IndexedValue::I64(43)]);
}

#[test]
fn dynamic_update_for_new_field_under_existing_objects() {
    let m = mapping(json!({"properties": {"user": {"properties": {"name": {"type": "keyword"}}},
                                          "comments": {"type": "nested", "properties": {"text": {"type": "text"}}}}}));
    let d = doc(&m, r#"{"user": {"name": "x", "age": 3}, "comments": [{"text": "hi", "votes": 2}]}"#);
    let update = d.dynamic_update.clone().unwrap_or_default();
    assert_eq!(
        update.to_json(),
        json!({"properties": {
            "comments": {"type": "nested", "properties": {"votes": {"type": "long"}}},
            "user": {"properties": {"age": {"type": "long"}}}
        }})
    );
    let mut merged = m.clone();
    merged.merge(&update).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(merged.field_type_name("comments.votes"), Some("long"));
    assert_eq!(merged.field_type_name("comments"), Some("nested"));
    assert_eq!(vals(&d, "comments.text"), vec![text("hi")]);
}

#[test]
fn strict_mode() {
    let m = mapping(
        json!({"dynamic": "strict", "properties": {"a": {"type": "keyword"}, "o": {"properties": {"b": {"type": "keyword"}}}}}),
    );
    let e = doc_err(&m, r#"{"foo": "bar"}"#);
    assert_eq!(e.es_type(), "strict_dynamic_mapping_exception");
    assert_eq!(
        e.to_string(),
        "[1:9] mapping set to strict, dynamic introduction of [foo] within [_doc] is not allowed"
    );
    let e = doc_err(&m, r#"{"a": "x", "o": {"c": 1}}"#);
    assert_eq!(e.to_string(), "[1:23] mapping set to strict, dynamic introduction of [c] within [o] is not allowed");
    // Even null and empty arrays are refused for unknown fields.
    assert!(m.parse_document(br#"{"n": null}"#, "1").is_err());
    assert!(m.parse_document(br#"{"n": []}"#, "1").is_err());
    // Dotted names: the first unknown segment is reported.
    let e = doc_err(&m, r#"{"x.y": 1}"#);
    assert!(e.to_string().ends_with("dynamic introduction of [x] within [_doc] is not allowed"));
    // A strict object inside a dynamic root.
    let m2 = mapping(json!({"properties": {"o": {"dynamic": "strict", "properties": {"k": {"type": "keyword"}}}}}));
    assert!(doc(&m2, r#"{"other": 1}"#).dynamic_update.is_some());
    let e = doc_err(&m2, r#"{"o": {"z": 1}}"#);
    assert!(e.to_string().ends_with("dynamic introduction of [z] within [o] is not allowed"));
    let es: EsError = e.into();
    assert_eq!(es.status(), 400);
}

#[test]
fn dynamic_false_skips_unmapped() {
    let m = mapping(json!({"dynamic": false, "properties": {"a": {"type": "keyword"}}}));
    let d = doc(&m, r#"{"a": "x", "b": "y", "o": {"deep": [1, {"x": 2}]}}"#);
    assert!(d.dynamic_update.is_none());
    assert_eq!(d.fields, vec![("a".to_string(), kw("x"))]);
    // A dynamic:true object inside a dynamic:false root still maps new fields.
    let m = mapping(json!({"dynamic": false, "properties": {"o": {"dynamic": true, "properties": {}}}}));
    let d = doc(&m, r#"{"o": {"n": 1}, "skip": 2}"#);
    assert_eq!(
        d.dynamic_update.map(|u| u.to_json()),
        Some(json!({"properties": {"o": {"properties": {"n": {"type": "long"}}}}}))
    );
}

#[test]
fn ignore_above_and_null_value() {
    let m = mapping(json!({"properties": {
        "k": {"type": "keyword", "ignore_above": 5, "null_value": "NULL"},
        "n": {"type": "long", "null_value": 0},
        "t": {"type": "text"}
    }}));
    let d = doc(&m, r#"{"k": ["short", "toolong", null], "n": null, "t": null}"#);
    assert_eq!(vals(&d, "k"), vec![kw("short"), kw("NULL")]);
    assert_eq!(vals(&d, "n"), vec![IndexedValue::I64(0)]);
    assert!(vals(&d, "t").is_empty());
    assert!(!d.has_field("t"));
    assert_eq!(d.ignored_fields, vec!["k".to_string()]);
    // The dynamic keyword sub-field skips values over 256 characters, the text keeps them.
    let long = "x".repeat(300);
    let d = doc(&Mapping::new(), &format!(r#"{{"s": "{long}"}}"#));
    assert_eq!(vals(&d, "s").len(), 1);
    assert!(vals(&d, "s.keyword").is_empty());
    assert!(d.ignored_fields.contains(&"s.keyword".to_string()));
}

#[test]
fn coercion_rules() {
    let m = mapping(json!({"properties": {
        "l": {"type": "long"}, "i": {"type": "integer"}, "b": {"type": "boolean"}, "k": {"type": "keyword"},
        "d": {"type": "double"}, "f": {"type": "float"}, "ip": {"type": "ip"}, "dt": {"type": "date"},
        "strict_l": {"type": "long", "coerce": false}
    }}));
    let d = doc(
        &m,
        r#"{"l": ["5", 5.7, "6.9", 7], "i": "12", "b": ["true", false, "false", ""], "k": [1.50, 2, true],
            "d": "2.5", "f": 0.1, "ip": "::1", "dt": [1420070400000, "2015-01-01T00:00:00Z"], "strict_l": 3}"#,
    );
    assert_eq!(
        vals(&d, "l"),
        vec![IndexedValue::I64(5), IndexedValue::I64(5), IndexedValue::I64(6), IndexedValue::I64(7)]
    );
    assert_eq!(vals(&d, "i"), vec![IndexedValue::I64(12)]);
    assert_eq!(
        vals(&d, "b"),
        vec![IndexedValue::Bool(true), IndexedValue::Bool(false), IndexedValue::Bool(false), IndexedValue::Bool(false)]
    );
    assert_eq!(vals(&d, "k"), vec![kw("1.50"), kw("2"), kw("true")]);
    assert_eq!(vals(&d, "d"), vec![IndexedValue::F64(2.5)]);
    assert_eq!(vals(&d, "f"), vec![IndexedValue::F64(f64::from(0.1f32))]);
    assert_eq!(vals(&d, "ip"), vec![IndexedValue::Ip("::1".parse::<IpAddr>().unwrap_or(IpAddr::from([0u8; 16])))]);
    assert_eq!(vals(&d, "dt"), vec![IndexedValue::Date(1_420_070_400_000), IndexedValue::Date(1_420_070_400_000)]);

    let e = doc_err(&m, r#"{"strict_l": "3"}"#);
    assert_eq!(
        e.to_string(),
        "[1:14] failed to parse field [strict_l] of type [long] in document with id '1'. Preview of field's value: '3'"
    );
}

#[test]
fn field_value_errors_are_es_shaped() {
    let m = mapping(
        json!({"properties": {"age": {"type": "long"}, "price": {"type": "double"}, "k": {"type": "keyword"}, "d": {"type": "date"}}}),
    );
    let e = doc_err(&m, r#"{"name": "x", "age": "abc"}"#);
    let body = EsError::from(e.clone()).to_body();
    assert_eq!(body["error"]["type"], "document_parsing_exception");
    assert_eq!(
        body["error"]["reason"],
        "[1:22] failed to parse field [age] of type [long] in document with id '1'. Preview of field's value: 'abc'"
    );
    assert_eq!(body["error"]["caused_by"]["type"], "illegal_argument_exception");
    assert_eq!(body["error"]["caused_by"]["reason"], "For input string: \"abc\"");
    assert_eq!(body["error"]["root_cause"][0]["type"], "illegal_argument_exception");

    let e = doc_err(&m, r#"{"price": "cheap"}"#);
    let body = EsError::from(e).to_body();
    assert_eq!(body["error"]["caused_by"]["type"], "number_format_exception");

    // An object into a leaf: the preview is Java's Map.toString, the location the closing brace.
    let e = doc_err(&m, r#"{"k": {"zip": "a", "src": [1, 2]}}"#);
    assert_eq!(
        e.to_string(),
        "[1:33] failed to parse field [k] of type [keyword] in document with id '1'. Preview of field's value: '{zip=a, src=[1, 2]}'"
    );

    let e = doc_err(&m, r#"{"d": "yesterday"}"#);
    let body = EsError::from(e).to_body();
    assert_eq!(
        body["error"]["caused_by"]["reason"],
        "failed to parse date field [yesterday] with format [strict_date_optional_time||epoch_millis]"
    );
    assert_eq!(body["error"]["caused_by"]["caused_by"]["type"], "date_time_parse_exception");
}

#[test]
fn ignore_malformed() {
    let m =
        mapping(json!({"properties": {"n": {"type": "integer", "ignore_malformed": true}, "k": {"type": "keyword"}}}));
    let d = doc(&m, r#"{"n": "not a number", "k": "ok"}"#);
    assert!(vals(&d, "n").is_empty());
    assert_eq!(d.ignored_fields, vec!["n".to_string()]);
    // Index-level default.
    let m = mapping(json!({"properties": {"n": {"type": "integer"}}}));
    let opts = DocumentParseOptions { ignore_malformed: true, ..DocumentParseOptions::default() };
    let d = m.parse_document_with(br#"{"n": "x"}"#, "1", &opts).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(d.ignored_fields, vec!["n".to_string()]);
}

#[test]
fn structure_errors() {
    let m = mapping(
        json!({"properties": {"o": {"properties": {"a": {"type": "keyword"}}}, "al": {"type": "alias", "path": "o.a"}}}),
    );
    assert_eq!(
        doc_err(&m, r#"{"o": "flat"}"#).to_string(),
        "[1:7] object mapping for [o] tried to parse field [o] as object, but found a concrete value"
    );
    assert_eq!(doc_err(&m, r#"{"al": "x"}"#).to_string(), "[1:8] Cannot write to a field alias [al].");
    let e = doc_err(&m, r#"{"o.a.b": 1}"#);
    assert_eq!(e.es_type(), "document_parsing_exception");
    assert!(e.to_string().ends_with(
        "Could not dynamically add mapping for field [o.a.b]. Existing mapping for [o.a] must be of type object but found [keyword]."
    ));
    assert_eq!(
        doc_err(&m, r#"{"_id": "x"}"#).to_string(),
        "[1:9] Field [_id] is a metadata field and cannot be added inside a document. Use the index API request parameters."
    );
    assert_eq!(doc_err(&m, r#"{"": 1}"#).to_string(), "[1:6] failed to parse: Field name cannot be an empty string");
    assert!(doc_err(&m, r#"{"a..b": 1}"#).to_string().contains("makes object resolution ambiguous"));
}

#[test]
fn malformed_documents() {
    let m = Mapping::new();
    let e = doc_err(&m, "");
    assert_eq!(e.to_string(), "[0:0] failed to parse, document is empty");
    assert_eq!(e.es_type(), "document_parsing_exception");
    for s in ["[1, 2]", "\"str\"", "42", "   "] {
        let e = doc_err(&m, s);
        assert_eq!(e.to_string(), "Malformed content, must start with an object", "{s}");
    }
    let e = doc_err(&m, "{}{}");
    assert_eq!(e.es_type(), "illegal_argument_exception");
    assert_eq!(e.to_string(), "Malformed content, found extra data after parsing: START_OBJECT");
    let e = doc_err(&m, r#"{"a": }"#);
    assert_eq!(e.to_string(), "[1:7] failed to parse: Unexpected character ('}' (code 125)): expected a value");
    let body = EsError::from(e).to_body();
    assert_eq!(body["error"]["caused_by"]["type"], "x_content_parse_exception");
    let e = doc_err(&m, r#"{"a": 1, "a": 2}"#);
    assert_eq!(e.to_string(), "[1:10] failed to parse: Duplicate field 'a'");
    let e = doc_err(&m, "{\"a\": 1");
    assert!(e.to_string().contains("Unexpected end-of-input"));
    assert!(m.parse_document(&[0xff, 0xfe], "1").is_err());
    assert!(m.parse_document(b"{\"a\": \"\xff\"}", "1").is_err());
    // Comments are fine, like ES.
    assert!(m.parse_document(b"{/* c */ \"a\": 1}", "1").is_ok());
    // An empty object is a valid (empty) document.
    let d = doc(&m, "{}");
    assert!(d.fields.is_empty() && d.dynamic_update.is_none());
}

#[test]
fn ten_thousand_deep_document_errors_cleanly() {
    let depth = 10_000;
    let mut s = String::with_capacity(depth * 8);
    for _ in 0..depth {
        s.push_str("{\"a\":");
    }
    s.push('1');
    for _ in 0..depth {
        s.push('}');
    }
    for m in [
        Mapping::new(),
        mapping(json!({"dynamic": false})),
        mapping(json!({"dynamic": "strict", "properties": {"a": {"type": "object"}}})),
    ] {
        let e = m.parse_document(s.as_bytes(), "1").err();
        assert!(e.is_some());
    }
    // Arrays too.
    let arr = format!("{{\"a\":{}{}}}", "[".repeat(depth), "]".repeat(depth));
    assert!(Mapping::new().parse_document(arr.as_bytes(), "1").is_err());
    // Just under the nesting limit, dynamic:false skips the subtree fine.
    let mut s = String::new();
    for _ in 0..998 {
        s.push_str("{\"a\":");
    }
    s.push('1');
    for _ in 0..998 {
        s.push('}');
    }
    assert!(mapping(json!({"dynamic": false})).parse_document(s.as_bytes(), "1").is_ok());
    // With dynamic:true the mapping depth limit (20) is what fails, as in ES.
    let e = Mapping::new().parse_document(s.as_bytes(), "1").err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.starts_with("Limit of mapping depth [20] has been exceeded due to object field [a.a.a"), "{e}");
}

#[test]
fn mapping_depth_limit_for_dynamic_objects() {
    let nest = |n: usize| {
        let mut s = String::new();
        for _ in 0..n {
            s.push_str("{\"o\":");
        }
        s.push('1');
        for _ in 0..n {
            s.push('}');
        }
        s
    };
    // 19 object levels + the root = depth 20: fine; one more is over the limit.
    let d = Mapping::new().parse_document(nest(20).as_bytes(), "1");
    assert!(d.is_ok(), "{d:?}");
    let e = Mapping::new().parse_document(nest(21).as_bytes(), "1").err();
    let path = vec!["o"; 20].join(".");
    assert_eq!(
        e.map(|e| e.to_string()),
        Some(format!("Limit of mapping depth [20] has been exceeded due to object field [{path}]"))
    );
}

#[test]
fn total_fields_limit() {
    let opts = DocumentParseOptions {
        limits: MappingLimits { total_fields: 3, ..MappingLimits::default() },
        ..DocumentParseOptions::default()
    };
    let e = Mapping::new().parse_document_with(br#"{"a": 1, "b": 2, "c": 3, "d": 4}"#, "1", &opts).err();
    assert_eq!(
        e.map(|e| e.to_string()),
        Some("[1:31] failed to parse: Limit of total fields [3] has been exceeded while adding new fields [4]".into())
    );
}

#[test]
fn dynamic_templates() {
    let m = mapping(json!({
        "dynamic_templates": [
            {"names": {"path_match": "person.*", "mapping": {"type": "keyword", "meta": {"from": "{name}"}}}},
            {"ints": {"match_mapping_type": "long", "mapping": {"type": "integer"}}},
            {"strings": {"match_mapping_type": "string", "unmatch": "*_text", "mapping": {"type": "keyword", "ignore_above": 10}}},
            {"texts": {"match": "*_text", "mapping": {"type": "text", "copy_to": "all_{name}_copy"}}},
            {"dates": {"match_mapping_type": "date", "mapping": {"type": "date_nanos"}}},
            {"objs": {"match_mapping_type": "object", "match": "flat*", "mapping": {"type": "flattened"}}}
        ]
    }));
    let d = doc(
        &m,
        r#"{"n": 5, "s": "hello", "body_text": "Hello World", "person": {"first": 7},
            "when": "2020/01/02", "flat1": {"a": {"b": "x"}}}"#,
    );
    let u = d.dynamic_update.clone().unwrap_or_default();
    assert_eq!(
        u.to_json()["properties"],
        json!({
            "all_body_text_copy": {"type": "keyword", "ignore_above": 10},
            "body_text": {"type": "text", "copy_to": ["all_body_text_copy"]},
            "flat1": {"type": "flattened"},
            "n": {"type": "integer"},
            "person": {"properties": {"first": {"type": "keyword", "meta": {"from": "first"}}}},
            "s": {"type": "keyword", "ignore_above": 10},
            "when": {"type": "date_nanos", "format": "yyyy/MM/dd HH:mm:ss||yyyy/MM/dd||epoch_millis"}
        })
    );
    assert_eq!(vals(&d, "n"), vec![IndexedValue::I64(5)]);
    assert_eq!(vals(&d, "body_text"), vec![text("Hello World")]);
    // copy_to: the copy is typed by the target (created dynamically, too long for ignore_above).
    assert!(vals(&d, "all_body_text_copy").is_empty());
    assert_eq!(d.ignored_fields, vec!["all_body_text_copy".to_string()]);
    assert_eq!(vals(&d, "person.first"), vec![kw("7")]);
    assert_eq!(vals(&d, "flat1"), vec![kw("x")]);
    assert_eq!(vals(&d, "flat1.a.b"), vec![kw("x")]);
    let mut merged = m.clone();
    merged.merge(&u).unwrap_or_else(|e| panic!("{e}"));
    assert!(doc(&merged, r#"{"n": 6, "body_text": "x"}"#).dynamic_update.is_none());
}

#[test]
fn numeric_and_date_detection() {
    let m = mapping(json!({"numeric_detection": true, "date_detection": false}));
    let d = doc(&m, r#"{"my_float": "1.0", "my_int": "1", "d": "2015-01-01"}"#);
    assert_eq!(
        d.dynamic_update.map(|u| u.to_json()["properties"].clone()),
        Some(json!({
            "d": {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}},
            "my_float": {"type": "float"},
            "my_int": {"type": "long"}
        }))
    );
    let m = mapping(json!({"dynamic_date_formats": ["MM/dd/yyyy"]}));
    let d = doc(&m, r#"{"create_date": "09/25/2015", "other": "2015-09-25"}"#);
    let u = d.dynamic_update.map(|u| u.to_json()["properties"].clone()).unwrap_or_default();
    assert_eq!(u["create_date"], json!({"type": "date", "format": "MM/dd/yyyy"}));
    assert_eq!(u["other"]["type"], "text");
}

#[test]
fn multi_fields_copy_to_and_arrays_of_objects() {
    let m = mapping(json!({"properties": {
        "first": {"type": "text", "copy_to": ["full"]},
        "last": {"type": "text", "copy_to": "full"},
        "full": {"type": "text", "fields": {"raw": {"type": "keyword"}}},
        "title": {"type": "text", "fields": {"len": {"type": "integer", "ignore_malformed": true}}},
        "people": {"properties": {"name": {"type": "keyword"}, "age": {"type": "byte"}}}
    }}));
    let d = doc(
        &m,
        r#"{"first": "John", "last": "Smith", "title": "12", "people": [{"name": "a", "age": 1}, {"name": "b", "age": "2"}]}"#,
    );
    assert_eq!(vals(&d, "full"), vec![text("John"), text("Smith")]);
    assert_eq!(vals(&d, "full.raw"), vec![kw("John"), kw("Smith")]);
    assert_eq!(vals(&d, "title.len"), vec![IndexedValue::I64(12)]);
    assert_eq!(vals(&d, "people.name"), vec![kw("a"), kw("b")]);
    assert_eq!(vals(&d, "people.age"), vec![IndexedValue::I64(1), IndexedValue::I64(2)]);
    assert!(d.dynamic_update.is_none());
    // Nested arrays flatten.
    let d = doc(&Mapping::new(), r#"{"a": [[1, 2], [3, [4]]]}"#);
    assert_eq!(
        vals(&d, "a"),
        vec![IndexedValue::I64(1), IndexedValue::I64(2), IndexedValue::I64(3), IndexedValue::I64(4)]
    );
}

#[test]
fn dotted_document_keys_expand() {
    let m = mapping(json!({"properties": {"a": {"properties": {"b": {"type": "keyword"}}}}}));
    let d = doc(&m, r#"{"a.b": "x", "a.c.d": 1}"#);
    assert_eq!(vals(&d, "a.b"), vec![kw("x")]);
    assert_eq!(vals(&d, "a.c.d"), vec![IndexedValue::I64(1)]);
    assert_eq!(
        d.dynamic_update.map(|u| u.to_json()),
        Some(json!({"properties": {"a": {"properties": {"c": {"properties": {"d": {"type": "long"}}}}}}}))
    );
    // subobjects: false keeps the dotted leaf.
    let m = mapping(json!({"properties": {"metrics": {"type": "object", "subobjects": false}}}));
    let d = doc(&m, r#"{"metrics": {"cpu.idle": 0.5}}"#);
    assert_eq!(vals(&d, "metrics.cpu.idle"), vec![IndexedValue::F64(0.5)]);
    let mut merged = m.clone();
    merged.merge(&d.dynamic_update.unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(merged.field_type_name("metrics.cpu.idle"), Some("float"));
}

#[test]
fn disabled_objects_and_other_types() {
    let m = mapping(json!({"properties": {
        "raw": {"type": "object", "enabled": false},
        "bin": {"type": "binary"},
        "loc": {"type": "geo_point"},
        "ver": {"type": "version"},
        "c": {"type": "constant_keyword", "value": "x"},
        "u": {"type": "unsigned_long"},
        "h": {"type": "half_float"},
        "s": {"type": "scaled_float", "scaling_factor": 10},
        "dn": {"type": "date_nanos"}
    }}));
    let d = doc(
        &m,
        r#"{"raw": {"anything": [1, {"goes": true}]}, "bin": "U29tZSBiaW5hcnk=", "loc": {"lat": 1, "lon": 2},
            "ver": "1.2.3", "c": "x", "u": 18446744073709551615, "h": 1.1, "s": 1.26, "dn": "2020-01-01T00:00:00.123456789Z"}"#,
    );
    assert!(d.dynamic_update.is_none());
    assert!(vals(&d, "raw").is_empty());
    assert!(!d.has_field("raw"));
    assert!(d.has_field("bin"));
    assert!(d.has_field("loc"));
    assert_eq!(vals(&d, "ver"), vec![kw("1.2.3")]);
    assert_eq!(vals(&d, "u"), vec![IndexedValue::U64(u64::MAX)]);
    assert_eq!(vals(&d, "h"), vec![IndexedValue::F64(1.099609375)]);
    assert_eq!(vals(&d, "s"), vec![IndexedValue::F64(1.3)]);
    assert_eq!(vals(&d, "dn"), vec![IndexedValue::Date(1_577_836_800_123)]);
    let body = EsError::from(doc_err(&m, r#"{"c": "y"}"#)).to_body();
    assert_eq!(
        body["error"]["caused_by"]["reason"],
        "[constant_keyword] field [c] only accepts values that are equal to the value defined in the mappings [x], but got [y]"
    );
}

#[test]
fn parse_is_deterministic_and_update_is_mergeable_for_many_docs() {
    let mut m = Mapping::new();
    let docs = [
        r#"{"a": 1, "b": {"c": "x"}}"#,
        r#"{"a": 2, "b": {"d": true}, "e": [1.5]}"#,
        r#"{"b": {"c": "y", "f": {"g": "2021-01-01"}}}"#,
    ];
    for src in docs {
        let d = doc(&m, src);
        if let Some(u) = d.dynamic_update {
            m.merge(&u).unwrap_or_else(|e| panic!("{e}"));
        }
        assert!(doc(&m, src).dynamic_update.is_none());
    }
    assert_eq!(m.field_type_name("b.f.g"), Some("date"));
    assert_eq!(m.field_type_name("e"), Some("float"));
}
