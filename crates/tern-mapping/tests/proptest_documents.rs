//! Property tests: arbitrary documents and bytes never panic the parser; mappings round-trip.

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use tern_mapping::{DocumentParseOptions, Mapping, MappingLimits};

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        "[a-z0-9 ./:+-]{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("2015-01-01"),
            Just("2015/09/02"),
            Just("1420070400000"),
            Just("true"),
            Just("1.5"),
            Just("::1"),
            Just(""),
            Just("NaN"),
        ]
        .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec(("[a-e._]{0,4}", inner), 0..5).prop_map(|kv| {
                let mut m = Map::new();
                for (k, v) in kv {
                    m.insert(k, v);
                }
                Value::Object(m)
            }),
        ]
    })
}

fn mappings() -> Vec<Mapping> {
    let specs = [
        json!({}),
        json!({"dynamic": "strict", "properties": {"a": {"type": "keyword"}, "b": {"type": "long"}}}),
        json!({"dynamic": false, "properties": {"a": {"type": "object", "properties": {"b": {"type": "date"}}}}}),
        json!({"numeric_detection": true, "properties": {
            "a": {"type": "text", "fields": {"k": {"type": "keyword", "ignore_above": 3}}, "copy_to": "c"},
            "b": {"type": "ip", "ignore_malformed": true},
            "c": {"type": "keyword", "null_value": "N"},
            "d": {"type": "nested", "properties": {"e": {"type": "half_float"}}},
            "e": {"type": "flattened"},
            "_": {"type": "boolean"},
            "x": {"type": "alias", "path": "a"}
        }}),
        json!({"dynamic_templates": [
            {"s": {"match_mapping_type": "string", "mapping": {"type": "keyword"}}},
            {"o": {"match": "e*", "match_mapping_type": "object", "mapping": {"type": "flattened"}}},
            {"n": {"match_mapping_type": "*", "match": "d", "mapping": {"type": "{dynamic_type}"}}}
        ]}),
        json!({"properties": {"a": {"type": "object", "subobjects": false}}}),
    ];
    specs.iter().map(|s| Mapping::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, .. ProptestConfig::default() })]

    #[test]
    fn random_documents_never_panic(doc in arb_json()) {
        let src = serde_json::to_vec(&doc).unwrap_or_default();
        let opts = DocumentParseOptions {
            limits: MappingLimits { total_fields: 40, depth: 5, ..MappingLimits::default() },
            ..DocumentParseOptions::default()
        };
        for m in mappings() {
            let r = m.parse_document_with(&src, "id", &opts);
            if let Ok(parsed) = r {
                // A dynamic update always merges into the mapping that produced it, and the
                // merged mapping renders and parses back to itself.
                if let Some(u) = parsed.dynamic_update {
                    let mut merged = m.clone();
                    prop_assert!(merged.merge(&u).is_ok(), "{:?}", merged.merge(&u));
                    let again = Mapping::parse(&merged.to_json());
                    prop_assert_eq!(again.ok(), Some(merged.clone()));
                    // And the same document needs no further update.
                    let second = merged.parse_document_with(&src, "id", &opts);
                    if let Ok(p2) = second {
                        prop_assert!(p2.dynamic_update.is_none());
                    }
                }
            }
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        for m in mappings() {
            let _ = m.parse_document(&bytes, "id");
        }
    }

    #[test]
    fn random_text_like_json_never_panics(s in r#"[{}\[\]":,0-9a-z .\-eE/*\\]{0,40}"#) {
        for m in mappings() {
            let _ = m.parse_document(s.as_bytes(), "id");
        }
    }

    #[test]
    fn random_mapping_values_never_panic(v in arb_json()) {
        let _ = Mapping::parse(&v);
        let _ = Mapping::parse(&json!({"properties": v.clone()}));
        let _ = Mapping::parse(&json!({"properties": {"f": v}}));
    }

    #[test]
    fn date_strings_never_panic(s in "[0-9TZ:+\\-./ WAPMJanFeb]{0,30}") {
        let fmts = ["strict_date_optional_time||epoch_millis", "yyyy/MM/dd HH:mm:ss Z", "epoch_second", "basic_week_date", "MMM d, yyyy hh:mm a"];
        for f in fmts {
            let fmt = tern_mapping::date::DateFormat::parse(f).unwrap_or_else(|e| panic!("{e}"));
            if let Ok(ms) = fmt.parse_millis(&s, None) {
                let _ = fmt.format_millis(ms);
            }
            let _ = tern_mapping::date::parse_date_math(&s, 0, true, &fmt, Some("Europe/Paris"));
        }
    }
}
