//! Mapping parse / render / merge / lookup, against ES 8 behaviour.

use serde_json::{Value, json};
use tern_common::EsError;
use tern_mapping::{Dynamic, FieldType, Mapping, MappingError, MappingLimits};

fn parse(v: Value) -> Mapping {
    Mapping::parse(&v).unwrap_or_else(|e| panic!("{v}: {e}"))
}

fn parse_err(v: Value) -> (String, String) {
    match Mapping::parse(&v) {
        Ok(m) => panic!("{v}: expected an error, got {m:?}"),
        Err(e) => (e.es_type().to_string(), e.to_string()),
    }
}

#[test]
fn empty_mapping_renders_as_empty_object() {
    assert_eq!(Mapping::new().to_json(), json!({}));
    assert_eq!(parse(json!({})).to_json(), json!({}));
    assert!(parse(json!(null)).is_empty());
    assert!(parse(json!({"properties": {}})).is_empty());
}

#[test]
fn round_trip_shows_only_explicit_params() {
    let body = json!({
        "dynamic": "strict",
        "date_detection": false,
        "numeric_detection": true,
        "dynamic_date_formats": ["yyyy-MM-dd"],
        "_source": {"excludes": ["secret"]},
        "_routing": {"required": true},
        "_meta": {"owner": "me"},
        "dynamic_templates": [{"kw": {"match_mapping_type": "string", "mapping": {"type": "keyword"}}}],
        "properties": {
            "title": {"type": "text", "analyzer": "english", "fields": {"raw": {"type": "keyword", "ignore_above": 100}}},
            "tags": {"type": "keyword", "index": true, "doc_values": true},
            "count": {"type": "integer", "coerce": false, "null_value": "7"},
            "price": {"type": "scaled_float", "scaling_factor": 100},
            "when": {"type": "date", "format": "strict_date_optional_time||epoch_millis"},
            "day": {"type": "date", "format": "yyyy-MM-dd"},
            "ok": {"type": "boolean"},
            "ip": {"type": "ip"},
            "user": {"properties": {"name": {"type": "keyword"}, "age": {"type": "short"}}},
            "empty_obj": {"type": "object"},
            "comments": {"type": "nested", "properties": {"text": {"type": "text"}}},
            "disabled": {"type": "object", "enabled": false},
            "alias_to_title": {"type": "alias", "path": "title"}
        }
    });
    let m = parse(body);
    let out = m.to_json();
    assert_eq!(
        out,
        json!({
            "dynamic": "strict",
            "_meta": {"owner": "me"},
            "_routing": {"required": true},
            "_source": {"excludes": ["secret"]},
            "dynamic_date_formats": ["yyyy-MM-dd"],
            "dynamic_templates": [{"kw": {"match_mapping_type": "string", "mapping": {"type": "keyword"}}}],
            "date_detection": false,
            "numeric_detection": true,
            "properties": {
                "alias_to_title": {"type": "alias", "path": "title"},
                "comments": {"type": "nested", "properties": {"text": {"type": "text"}}},
                "count": {"type": "integer", "coerce": false, "null_value": 7},
                "day": {"type": "date", "format": "yyyy-MM-dd"},
                "disabled": {"type": "object", "enabled": false},
                "empty_obj": {"type": "object"},
                "ip": {"type": "ip"},
                "ok": {"type": "boolean"},
                "price": {"type": "scaled_float", "scaling_factor": 100.0},
                "tags": {"type": "keyword"},
                "title": {"type": "text", "analyzer": "english", "fields": {"raw": {"type": "keyword", "ignore_above": 100}}},
                "user": {"properties": {"age": {"type": "short"}, "name": {"type": "keyword"}}},
                "when": {"type": "date"}
            }
        })
    );
    // Rendering parses back to the same mapping.
    assert_eq!(parse(out.clone()), m);
    // serde goes through the same JSON.
    let s = serde_json::to_string(&m).unwrap_or_default();
    let back: Mapping = serde_json::from_str(&s).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, m);
    assert_eq!(m.root_dynamic(), Dynamic::Strict);
    assert!(m.routing_required());
    assert!(m.source_enabled());
}

#[test]
fn dotted_names_expand_into_objects() {
    let m = parse(json!({"properties": {"a.b.c": {"type": "keyword"}, "a.d": {"type": "long"}}}));
    assert_eq!(
        m.to_json(),
        json!({"properties": {"a": {"properties": {"b": {"properties": {"c": {"type": "keyword"}}}, "d": {"type": "long"}}}}})
    );
    assert_eq!(m.field_type_name("a.b.c"), Some("keyword"));
    // subobjects: false keeps dotted leaf names.
    let m = parse(
        json!({"properties": {"metrics": {"type": "object", "subobjects": false, "properties": {"cpu.idle": {"type": "double"}}}}}),
    );
    assert_eq!(m.field_type_name("metrics.cpu.idle"), Some("double"));
}

#[test]
fn es_error_texts() {
    assert_eq!(
        parse_err(json!({"properties": {"bar": {"type": "foo"}}})),
        ("mapper_parsing_exception".into(), "No handler for type [foo] declared on field [bar]".into())
    );
    assert_eq!(
        parse_err(json!({"foo": "bar"})),
        ("mapper_parsing_exception".into(), "Root mapping definition has unsupported parameters:  [foo : bar]".into())
    );
    assert_eq!(
        parse_err(json!({"properties": {"f": {"type": "keyword", "x": 1}}})),
        ("mapper_parsing_exception".into(), "unknown parameter [x] on mapper [f] of type [keyword]".into())
    );
    assert_eq!(
        parse_err(json!({"_doc": {"properties": {"a": {"type": "text"}}}})),
        (
            "illegal_argument_exception".into(),
            "The mapping definition cannot be nested under a type [_doc] unless include_type_name is set to true."
                .into()
        )
    );
    assert_eq!(
        parse_err(json!({"my_type": {"properties": {"a": {"type": "text"}}}})),
        (
            "mapper_parsing_exception".into(),
            "Root mapping definition has unsupported parameters:  [my_type : {properties={a={type=text}}}]".into()
        )
    );
    assert_eq!(
        parse_err(json!({"properties": {"o": {"properties": {}, "foo": 1}}})).1,
        "Mapping definition for [o] has unsupported parameters:  [foo : 1]"
    );
    assert_eq!(parse_err(json!({"properties": {"f": {}}})).1, "No type specified for field [f]");
    assert_eq!(parse_err(json!({"properties": {"": {"type": "text"}}})).1, "field name cannot be an empty string");
    assert_eq!(parse_err(json!({"dynamic": "sometimes"})).1, "Could not convert [_doc.dynamic] to boolean");
    assert_eq!(
        parse_err(json!({"properties": {"a": {"type": "alias", "path": "missing"}}})).1,
        "Invalid [path] value [missing] for field alias [a]: an alias must refer to an existing field in the mappings."
    );
    assert_eq!(
        parse_err(json!({"properties": {"a": {"type": "alias"}}})).1,
        "The [path] property must be specified for field [a]."
    );
    assert_eq!(
        parse_err(json!({"properties": {"d": {"type": "date", "format": "yyyy-MM-dd bogus"}}})).1,
        "Error parsing [format] on field [d]: Invalid format: [yyyy-MM-dd bogus]: Unknown pattern letter: b"
    );
    assert_eq!(
        parse_err(json!({"properties": {"f": {"type": "keyword", "meta": {"a": 3}}}})).1,
        "[meta] values can only be strings, but got Integer[3] for field [f]"
    );
    assert_eq!(parse_err(json!({"_source": {"foo": true}})).1, "unknown parameter [foo] on metadata field [_source]");
    assert!(Mapping::parse(&json!({"dynamic_templates": {"a": 1}})).is_err());
    assert!(Mapping::parse(&json!("nope")).is_err());
}

#[test]
fn create_index_wrapping() {
    let e = Mapping::parse(&json!({"properties": {"bar": {"type": "foo"}}}))
        .err()
        .unwrap_or(MappingError::IllegalArgument(String::new()));
    let es = e.into_create_index_error();
    let body = es.to_body();
    assert_eq!(body["error"]["type"], "mapper_parsing_exception");
    assert_eq!(body["error"]["reason"], "Failed to parse mapping: No handler for type [foo] declared on field [bar]");
    assert_eq!(body["error"]["caused_by"]["reason"], "No handler for type [foo] declared on field [bar]");
    assert_eq!(body["status"], 400);
}

#[test]
fn merge_adds_and_updates_and_refuses() {
    let mut m = parse(
        json!({"properties": {"a": {"type": "long"}, "k": {"type": "keyword", "ignore_above": 10}, "o": {"properties": {"x": {"type": "text"}}}}}),
    );
    let up = parse(json!({
        "dynamic": false,
        "properties": {
            "b": {"type": "text"},
            "k": {"type": "keyword", "ignore_above": 50},
            "o": {"properties": {"y": {"type": "keyword"}}}
        }
    }));
    m.merge(&up).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        m.to_json(),
        json!({"dynamic": "false", "properties": {
            "a": {"type": "long"},
            "b": {"type": "text"},
            "k": {"type": "keyword", "ignore_above": 50},
            "o": {"properties": {"x": {"type": "text"}, "y": {"type": "keyword"}}}
        }})
    );
    let before = m.clone();
    let bad = parse(json!({"properties": {"b": {"type": "keyword"}, "zzz": {"type": "long"}}}));
    let e = m.merge(&bad).err().unwrap_or(MappingError::IllegalArgument(String::new()));
    assert_eq!(e.es_type(), "illegal_argument_exception");
    assert_eq!(e.to_string(), "mapper [b] cannot be changed from type [text] to [keyword]");
    assert_eq!(m, before, "a failed merge changes nothing");
    let e = m.merge(&parse(json!({"properties": {"a": {"type": "long", "index": false}}}))).err();
    assert_eq!(
        e.map(|e| e.to_string()),
        Some(
            "Mapper for [a] conflicts with existing mapper:\n\tCannot update parameter [index] from [true] to [false]"
                .into()
        )
    );
    let e = m.merge(&parse(json!({"properties": {"o": {"type": "keyword"}}}))).err();
    assert_eq!(e.map(|e| e.to_string()), Some("can't merge a non object mapping [o] with an object mapping".into()));
    let e = m.merge(&parse(json!({"properties": {"a": {"properties": {"x": {"type": "long"}}}}}))).err();
    assert_eq!(e.map(|e| e.to_string()), Some("mapper [a] cannot be changed from type [long] to [object]".into()));
    let e = m.merge(&parse(json!({"properties": {"o": {"type": "nested"}}}))).err();
    assert!(e.is_some());
    let e = m.merge(&parse(json!({"_routing": {"required": true}}))).err();
    assert!(
        e.map(|e| e.to_string())
            .unwrap_or_default()
            .contains("Cannot update parameter [required] from [false] to [true]")
    );
    // Same mapping again is a no-op.
    let again = m.clone();
    m.merge(&again).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m, again);
}

#[test]
fn lookups() {
    let m = parse(json!({"properties": {
        "title": {"type": "text", "fields": {"keyword": {"type": "keyword"}}},
        "user": {"properties": {"name": {"type": "keyword"}, "geo": {"properties": {"ip": {"type": "ip"}}}}},
        "t": {"type": "alias", "path": "title"}
    }}));
    assert_eq!(m.field("title").map(|f| f.field_type), Some(FieldType::Text));
    assert_eq!(m.field("title.keyword").map(|f| f.field_type), Some(FieldType::Keyword));
    assert_eq!(m.field("user").map(|f| f.field_type), Some(FieldType::Object));
    assert_eq!(m.field("user.geo.ip").map(|f| f.field_type), Some(FieldType::Ip));
    assert!(m.field("user.nope").is_none());
    assert!(m.field("title.nope").is_none());
    assert_eq!(m.field("t").map(|f| f.field_type), Some(FieldType::Alias));
    assert_eq!(m.field_type_name("t"), Some("text"));
    assert_eq!(m.resolve_field("t").map(|(p, _)| p), Some("title".to_string()));
    let all: Vec<(String, &'static str)> = m.fields().map(|(p, f)| (p, f.field_type.name())).collect();
    assert_eq!(
        all,
        vec![
            ("t".to_string(), "alias"),
            ("title".to_string(), "text"),
            ("title.keyword".to_string(), "keyword"),
            ("user".to_string(), "object"),
            ("user.geo".to_string(), "object"),
            ("user.geo.ip".to_string(), "ip"),
            ("user.name".to_string(), "keyword"),
        ]
    );
    assert_eq!(m.total_field_count(), 7);
}

#[test]
fn limits() {
    let mut props = serde_json::Map::new();
    for i in 0..5 {
        props.insert(format!("f{i}"), json!({"type": "keyword"}));
    }
    let m = parse(json!({"properties": props}));
    let small = MappingLimits { total_fields: 3, ..MappingLimits::default() };
    assert_eq!(
        m.check_limits(&small).err().map(|e| e.to_string()),
        Some("Limit of total fields [3] has been exceeded".into())
    );
    assert!(m.check_limits(&MappingLimits::default()).is_ok());
    // 20 nested object levels break the default depth limit of 20 (root counts as 1).
    let mut v = json!({"type": "keyword"});
    for _ in 0..20 {
        v = json!({"properties": {"o": v}});
    }
    let deep = parse(json!({"properties": {"o": v}}));
    let e = deep.check_limits(&MappingLimits::default()).err().map(|e| e.to_string());
    let path = vec!["o"; 20].join(".");
    assert_eq!(e, Some(format!("Limit of mapping depth [20] has been exceeded due to object field [{path}]")));
    let nested = parse(json!({"properties": {"a": {"type": "nested"}, "b": {"type": "nested"}}}));
    let one_nested = MappingLimits { nested_fields: 1, ..MappingLimits::default() };
    assert_eq!(
        nested.check_limits(&one_nested).err().map(|e| e.to_string()),
        Some("Limit of nested fields [1] has been exceeded".into())
    );
}

#[test]
fn mapping_depth_is_bounded_even_for_programmatic_values() {
    // Build a Value deeper than serde_json's parser would allow; parsing must error, not overflow.
    let mut v = json!({"type": "keyword"});
    for _ in 0..500 {
        v = json!({"properties": {"o": v}});
    }
    let r = Mapping::parse(&json!({"properties": {"o": v}}));
    assert!(r.is_err());
}

#[test]
fn es_error_conversion() {
    let e = Mapping::parse(&json!({"foo": 1})).err().unwrap_or(MappingError::IllegalArgument(String::new()));
    let es: EsError = e.into();
    assert_eq!(es.status(), 400);
    assert_eq!(es.es_type(), "mapper_parsing_exception");
}

#[test]
fn serde_binary_and_json_round_trips() {
    let m = parse(
        json!({"dynamic": "strict", "properties": {"a": {"type": "keyword", "ignore_above": 5}, "o": {"properties": {"b": {"type": "date", "format": "yyyy"}}}}}),
    );
    // Binary formats carry the mapping as a JSON string.
    let bytes = postcard::to_allocvec(&m).unwrap_or_default();
    let back: Mapping = postcard::from_bytes(&bytes).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, m);
    // Human-readable formats carry the ES JSON object itself.
    let v = serde_json::to_value(&m).unwrap_or_default();
    assert_eq!(v, m.to_json());
    let back: Mapping = serde_json::from_value(v).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, m);
}

#[test]
fn types_are_thread_safe() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<Mapping>();
    assert_send_sync::<tern_mapping::ParsedDocument>();
    assert_send_sync::<MappingError>();
    assert_send_sync::<tern_mapping::date::DateFormat>();
}
