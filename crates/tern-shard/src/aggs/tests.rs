//! End-to-end tests: documents indexed into in-memory shards, aggregated per shard, merged and
//! reduced as the coordinator does. The central property: splitting the same documents over
//! several shards gives the results of one shard (exact merges), except where ES itself is
//! approximate (terms beyond `shard_size`).

use std::sync::Arc;

use serde_json::{Value, json};
use tern_mapping::Mapping;
use tern_query::QueryAst;

use super::{AggPartial, AggRequest, FinalizeOptions};
use crate::ops::{DocOp, DocOpKind, ShardCommand, WriteCondition};
use crate::search::ShardSearchRequest;
use crate::{ShardEngine, ShardIdent, ShardOptions};

const NOW: i64 = 1_700_000_000_000;

fn mapping() -> Value {
    json!({"properties": {
        "s": {"type": "keyword"},
        "n": {"type": "long"},
        "d": {"type": "double"},
        "dt": {"type": "date"},
        "b": {"type": "boolean"},
        "ip": {"type": "ip"},
        "tags": {"type": "keyword"},
        "t": {"type": "text"}
    }})
}

fn shard(index: &str, n: u32) -> ShardEngine {
    ShardEngine::open(ShardOptions {
        ident: ShardIdent { index: index.into(), index_uuid: format!("{index}-uuid"), shard: n },
        path: None,
        mapping: Mapping::parse(&mapping()).expect("mapping"),
        analysis: None,
        writer_memory_bytes: 15 << 20,
    })
    .expect("open shard")
}

fn index(engine: &ShardEngine, docs: &[(String, Value)]) {
    let ops = docs
        .iter()
        .map(|(id, src)| DocOp {
            id: id.clone(),
            routing: None,
            kind: DocOpKind::Index { source: serde_json::to_vec(src).unwrap(), create: false },
            cond: WriteCondition::default(),
            auto_id: false,
        })
        .collect();
    engine.apply(&ShardCommand::Ops { now_millis: NOW, ops }, 1, "m".into());
    engine.refresh().expect("refresh");
}

fn docs(count: usize) -> Vec<(String, Value)> {
    (0..count)
        .map(|i| {
            let tags: Vec<String> = (0..(i % 3)).map(|t| format!("tag{}", (i + t) % 5)).collect();
            let mut doc = json!({
                "s": format!("k{}", i % 7),
                "n": (i * 37 % 101) as i64,
                "d": (i as f64) * 1.25,
                "dt": 1_451_606_400_000i64 + (i as i64) * 86_400_000 * 3,
                "b": i % 4 == 0,
                "ip": format!("10.0.{}.{}", i % 3, i % 11),
                "tags": tags,
                "t": "some text",
            });
            if i % 10 == 9 {
                doc.as_object_mut().unwrap().remove("n");
            }
            (format!("id{i}"), doc)
        })
        .collect()
}

fn request(aggs: &Value) -> Arc<AggRequest> {
    Arc::new(AggRequest::parse(aggs).expect("valid aggs"))
}

fn search(engine: &ShardEngine, aggs: &Arc<AggRequest>, query: Option<&Value>) -> AggPartial {
    let query = match query {
        Some(q) => tern_query::parse_query(q).unwrap(),
        None => QueryAst::match_all(),
    };
    let req = ShardSearchRequest {
        query,
        filters: vec![],
        sort: vec![],
        top: 0,
        search_after: None,
        min_score: None,
        terminate_after: None,
        track_scores: false,
        now_millis: NOW,
        after_doc_key: None,
        aggs: Some(aggs.clone()),
        post_filter: None,
    };
    engine.search(&req).expect("search").aggs.expect("aggs")
}

/// Runs `aggs` over `docs` split into `shards` shards (round robin) and reduces.
fn run(docs: &[(String, Value)], shards: usize, aggs: &Value, query: Option<&Value>) -> Value {
    let req = request(aggs);
    let engines: Vec<ShardEngine> = (0..shards).map(|i| shard("idx", i as u32)).collect();
    for (i, e) in engines.iter().enumerate() {
        let part: Vec<(String, Value)> = docs.iter().skip(i).step_by(shards).cloned().collect();
        index(e, &part);
    }
    let mut merged: Option<AggPartial> = None;
    for e in &engines {
        let p = search(e, &req, query);
        match &mut merged {
            Some(m) => m.merge(p),
            None => merged = Some(p),
        }
    }
    let merged = merged.unwrap_or_else(|| AggPartial::empty(&req));
    merged.finalize(&req, &FinalizeOptions::default()).expect("finalize").to_json(false, false)
}

fn strip_error_bounds(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.remove("doc_count_error_upper_bound");
            for (_, c) in m.iter_mut() {
                strip_error_bounds(c);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(strip_error_bounds),
        _ => {}
    }
}

#[test]
fn metrics_and_buckets_merge_exactly_across_shards() {
    let docs = docs(60);
    let aggs = json!({
        "avg_n": {"avg": {"field": "n"}},
        "sum_d": {"sum": {"field": "d"}},
        "min_dt": {"min": {"field": "dt"}},
        "max_n": {"max": {"field": "n"}},
        "stats": {"extended_stats": {"field": "d"}},
        "vc": {"value_count": {"field": "tags"}},
        "card": {"cardinality": {"field": "s"}},
        "card_n": {"cardinality": {"field": "n"}},
        "pct": {"percentiles": {"field": "n", "percents": [10, 50, 90]}},
        "hdr": {"percentiles": {"field": "n", "hdr": {}}},
        "missing_n": {"missing": {"field": "n"}},
        "terms": {"terms": {"field": "s", "size": 20, "order": {"_key": "asc"}},
                  "aggs": {"avg": {"avg": {"field": "d"}}, "tags": {"terms": {"field": "tags", "size": 10}}}},
        "bools": {"terms": {"field": "b"}},
        "hist": {"histogram": {"field": "n", "interval": 10}, "aggs": {"c": {"cumulative_sum": {"buckets_path": "_count"}}}},
        "dh": {"date_histogram": {"field": "dt", "calendar_interval": "month"},
               "aggs": {"s": {"sum": {"field": "n"}}, "deriv": {"derivative": {"buckets_path": "s"}}}},
        "ranges": {"range": {"field": "d", "ranges": [{"to": 10}, {"from": 10, "to": 40}, {"from": 40}]}},
        "dr": {"date_range": {"field": "dt", "ranges": [{"to": "2016-03-01"}, {"from": "2016-03-01"}]}},
        "ipr": {"ip_range": {"field": "ip", "ranges": [{"to": "10.0.1.0"}, {"mask": "10.0.1.0/24"}]}},
        "f": {"filter": {"term": {"b": true}}, "aggs": {"m": {"max": {"field": "d"}}}},
        "fs": {"filters": {"filters": {"low": {"range": {"n": {"lt": 50}}}, "high": {"range": {"n": {"gte": 50}}}}, "other_bucket": true}},
        "g": {"global": {}, "aggs": {"c": {"value_count": {"field": "s"}}}},
        "comp": {"composite": {"size": 50, "sources": [{"s": {"terms": {"field": "s"}}}, {"b": {"terms": {"field": "b"}}}]}},
        "max_b": {"max_bucket": {"buckets_path": "terms>avg"}},
        "sum_b": {"sum_bucket": {"buckets_path": "hist>_count"}}
    });
    let one = run(&docs, 1, &aggs, None);
    for shards in [2, 3, 5] {
        let mut many = run(&docs, shards, &aggs, None);
        let mut single = one.clone();
        // Error bounds legitimately differ: 0 for one shard, a sum for several.
        strip_error_bounds(&mut many);
        strip_error_bounds(&mut single);
        assert_eq!(single, many, "{shards} shards");
    }
    assert_eq!(one["avg_n"]["value"], json!(docs_avg(&docs)));
    assert_eq!(one["missing_n"]["doc_count"], json!(6));
    assert_eq!(one["card"]["value"], json!(7));
    assert_eq!(one["g"]["doc_count"], json!(60));
    assert_eq!(one["bools"]["buckets"][0]["key_as_string"], json!("false"));
    assert_eq!(one["fs"]["buckets"]["_other_"]["doc_count"], json!(6));
    // Month buckets are contiguous and start on the first of the month.
    assert_eq!(one["dh"]["buckets"][0]["key_as_string"], json!("2016-01-01T00:00:00.000Z"));
    assert!(one["dh"]["buckets"][0].get("deriv").is_none());
    assert!(one["dh"]["buckets"][1]["deriv"]["value"].is_number());
}

fn docs_avg(docs: &[(String, Value)]) -> f64 {
    let vals: Vec<f64> = docs.iter().filter_map(|(_, d)| d["n"].as_f64()).collect();
    vals.iter().sum::<f64>() / vals.len() as f64
}

#[test]
fn terms_beyond_shard_size_report_their_error_bounds() {
    // 30 terms with skewed counts over 3 shards, asking for the top 3 with a small shard size.
    let mut docs = Vec::new();
    for i in 0..300usize {
        let term = i % 30;
        if i % (term + 1) == 0 {
            docs.push((format!("d{i}"), json!({"s": format!("t{term:02}")})));
        }
    }
    let aggs = json!({"t": {"terms": {"field": "s", "size": 3, "shard_size": 3, "show_term_doc_count_error": true}}});
    let one = run(&docs, 1, &aggs, None);
    let many = run(&docs, 3, &aggs, None);
    assert_eq!(one["t"]["doc_count_error_upper_bound"], json!(0));
    let total = docs.len() as u64;
    for r in [&one, &many] {
        let buckets = r["t"]["buckets"].as_array().unwrap();
        assert_eq!(buckets.len(), 3);
        let shown: u64 = buckets.iter().map(|b| b["doc_count"].as_u64().unwrap()).sum();
        assert_eq!(shown + r["t"]["sum_other_doc_count"].as_u64().unwrap(), total);
    }
    assert!(many["t"]["doc_count_error_upper_bound"].as_i64().unwrap() > 0);
    assert_eq!(one["t"]["buckets"][0]["key"], json!("t00"));
    assert_eq!(many["t"]["buckets"][0]["key"], json!("t00"));
}

#[test]
fn queries_filters_and_unmapped_fields() {
    let docs = docs(20);
    let aggs = json!({
        "a": {"avg": {"field": "n"}},
        "un": {"terms": {"field": "nope"}},
        "un_missing": {"terms": {"field": "nope", "missing": "x"}},
        "un_avg": {"avg": {"field": "nope", "missing": 2}},
        "idx": {"terms": {"field": "_index"}}
    });
    let q = json!({"range": {"n": {"gte": 50}}});
    let r = run(&docs, 2, &aggs, Some(&q));
    let expected: Vec<f64> = docs.iter().filter_map(|(_, d)| d["n"].as_f64()).filter(|n| *n >= 50.0).collect();
    assert_eq!(r["a"]["value"], json!(expected.iter().sum::<f64>() / expected.len() as f64));
    assert_eq!(r["un"]["buckets"], json!([]));
    assert_eq!(r["un_missing"]["buckets"][0]["doc_count"], json!(expected.len()));
    assert_eq!(r["un_avg"]["value"], json!(2.0));
    assert_eq!(r["idx"]["buckets"][0]["key"], json!("idx"));
}

#[test]
fn aggregating_text_or_keyword_with_metrics_fails_like_es() {
    let e = shard("idx", 0);
    index(&e, &docs(3));
    for (aggs, reason) in [
        (json!({"x": {"terms": {"field": "t"}}}), "Text fields are not optimised"),
        (json!({"x": {"avg": {"field": "s"}}}), "Field [s] of type [keyword] is not supported for aggregation [avg]"),
    ] {
        let req = ShardSearchRequest {
            query: QueryAst::match_all(),
            filters: vec![],
            sort: vec![],
            top: 0,
            search_after: None,
            min_score: None,
            terminate_after: None,
            track_scores: false,
            now_millis: NOW,
            after_doc_key: None,
            aggs: Some(request(&aggs)),
            post_filter: None,
        };
        let err = e.search(&req).unwrap_err();
        assert!(err.reason.contains(reason), "{}", err.reason);
        assert_eq!(err.status(), 400);
    }
}

#[test]
fn top_hits_and_typed_keys() {
    let docs = docs(12);
    let aggs = json!({"t": {"terms": {"field": "b"}, "aggs": {"top": {"top_hits": {"size": 2, "sort": [{"n": "desc"}], "_source": ["n"]}}}}});
    let req = request(&aggs);
    let engines: Vec<ShardEngine> = (0..2).map(|i| shard("idx", i)).collect();
    for (i, e) in engines.iter().enumerate() {
        let part: Vec<(String, Value)> = docs.iter().skip(i).step_by(2).cloned().collect();
        index(e, &part);
    }
    let mut merged = search(&engines[0], &req, None);
    merged.merge(search(&engines[1], &req, None));
    let out = merged.finalize(&req, &FinalizeOptions::default()).unwrap().to_json(true, false);
    let bucket = &out["lterms#t"]["buckets"][0];
    let hits = bucket["top_hits#top"]["hits"]["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 2);
    let n0 = hits[0]["_source"]["n"].as_i64().unwrap();
    let n1 = hits[1]["_source"]["n"].as_i64().unwrap();
    assert!(n0 >= n1);
    assert_eq!(hits[0]["sort"], json!([n0]));
    assert!(hits[0]["_source"].get("s").is_none());
    assert_eq!(bucket["top_hits#top"]["hits"]["max_score"], Value::Null);
}

#[test]
fn pipeline_errors_name_the_offending_aggregation() {
    let docs = docs(10);
    let engine = shard("idx", 0);
    index(&engine, &docs);
    let cases = [
        (
            json!({"t": {"terms": {"field": "n"}, "aggs": {"t2": {"terms": {"field": "n"}}}}, "m": {"max_bucket": {"buckets_path": "t>t2"}}}),
            "[LongTerms] at aggregation [t2]",
        ),
        (
            json!({"t": {"terms": {"field": "n"}, "aggs": {"t2": {"terms": {"field": "n"}, "aggs": {"x": {"max": {"field": "n"}}}}}}, "m": {"max_bucket": {"buckets_path": "t>t2>x"}}}),
            "[Object[]] at aggregation [t2]",
        ),
        (
            json!({"t": {"terms": {"field": "n"}, "aggs": {"p": {"percentiles": {"field": "n"}}}}, "m": {"max_bucket": {"buckets_path": "t>p"}}}),
            "but [p] contains multiple values",
        ),
    ];
    for (aggs, msg) in cases {
        let req = request(&aggs);
        let p = search(&engine, &req, None);
        let err = p.finalize(&req, &FinalizeOptions::default()).unwrap_err();
        assert!(err.reason.contains(msg), "{}", err.reason);
    }
    let req = request(&json!({"t": {"terms": {"field": "s"}}}));
    let p = search(&engine, &req, None);
    let err = p.finalize(&req, &FinalizeOptions { max_buckets: 3 }).unwrap_err();
    assert_eq!(err.es_type(), "too_many_buckets_exception");
}

#[test]
fn significant_terms_score_foreground_against_the_shard() {
    // "tag1" is in every doc with b=true and rare otherwise: it is significant for b=true.
    let docs: Vec<(String, Value)> = (0..40)
        .map(|i| {
            let b = i % 4 == 0;
            let tags = if b || i == 1 { vec!["tag1", "common"] } else { vec!["common"] };
            (format!("d{i}"), json!({"b": b, "tags": tags}))
        })
        .collect();
    let aggs = json!({"sig": {"significant_terms": {"field": "tags", "min_doc_count": 1}}});
    let q = json!({"term": {"b": true}});
    let r = run(&docs, 1, &aggs, Some(&q));
    assert_eq!(r["sig"]["doc_count"], json!(10));
    assert_eq!(r["sig"]["bg_count"], json!(40));
    let buckets = r["sig"]["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 1, "{r}");
    assert_eq!(buckets[0]["key"], json!("tag1"));
    assert_eq!(buckets[0]["doc_count"], json!(10));
    assert_eq!(buckets[0]["bg_count"], json!(11));
    // JLH: (10/10 - 11/40) * (10/10) / (11/40)
    let expected = (1.0 - 11.0 / 40.0) * (1.0 / (11.0 / 40.0));
    assert!((buckets[0]["score"].as_f64().unwrap() - expected).abs() < 1e-9);
    // Over two shards, background counts come only from shards that returned the term (as in
    // ES), yet the significant term still ranks first.
    let r = run(&docs, 2, &aggs, Some(&q));
    assert_eq!(r["sig"]["bg_count"], json!(40));
    assert_eq!(r["sig"]["buckets"][0]["key"], json!("tag1"));
}
