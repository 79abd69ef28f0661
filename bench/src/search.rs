//! `search`: per-query latency of tern over HTTP vs embedded tantivy on the same documents, hit
//! count equality, and concurrent throughput.
//!
//! tern is timed client-side (request sent to response body read, keep-alive connection). The
//! baseline runs the translated query on a warm searcher, counts, collects the top hits and reads
//! their stored `_id` and `_source` (what tern's response carries), and computes the aggregations;
//! its query objects are built once, outside the timing. A query whose aggregations tern does not
//! answer is reported as unsupported, not timed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::Method;
use serde_json::{Value, json};

use crate::baseline::{Baseline, Translated};
use crate::corpus::{self, Corpus, Shape};
use crate::process::ms;
use crate::report::{f, int, table};
use crate::stats::{LatencySummary, percentile};
use crate::ternrun::{Bulks, Server, load};
use crate::{Ctx, TANTIVY_MEMORY_BUDGET};

pub struct Args {
    pub shapes: Vec<Shape>,
    pub docs: usize,
    pub iters: usize,
    pub warmup: usize,
    pub concurrency: usize,
    pub duration_secs: u64,
    /// Per query and side, stop timing after this long (the report shows the runs done).
    pub max_secs_per_query: u64,
}

#[derive(Debug, Clone, serde::Serialize)]
struct Side {
    latency: Option<LatencySummary>,
    /// `ok`, or why there is no number (`unsupported: ...`, `error: ...`, `untranslated: ...`).
    status: String,
    hits: Option<u64>,
    /// Hits returned in the response (tern) or fetched from the store (tantivy).
    returned: Option<usize>,
}

#[derive(Debug, Clone, serde::Serialize)]
struct Row {
    name: String,
    tern: Side,
    tantivy: Side,
    /// For queries with aggregations both answered: `equal`, or the differences found.
    aggs_check: Option<String>,
}

fn bucket_key(b: &Value) -> String {
    match b.get("key") {
        Some(Value::Number(n)) => format!("{}", n.as_f64().unwrap_or(f64::NAN)),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => "?".into(),
    }
}

/// Compares tern's aggregations with the baseline's, taking the baseline's fields as the reference
/// (numbers with a relative tolerance of 1e-9; buckets matched by key; `key_as_string` and
/// `doc_count_error_upper_bound` skipped). Appends human-readable differences.
fn compare_aggs(path: &str, tern: &Value, reference: &Value, diffs: &mut Vec<String>) {
    if diffs.len() >= 5 {
        return;
    }
    match (tern, reference) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.as_f64().unwrap_or(f64::NAN), b.as_f64().unwrap_or(f64::NAN));
            if (a - b).abs() > 1e-9 * a.abs().max(b.abs()).max(1.0) {
                diffs.push(format!("{path}: tern {a} vs tantivy {b}"));
            }
        }
        (Value::Object(t), Value::Object(r)) => {
            for (k, rv) in r {
                // Formats may legitimately differ; tantivy reports a per-segment error bound where ES
                // (one shard) reports 0.
                if k == "key_as_string" || k == "doc_count_error_upper_bound" {
                    continue;
                }
                let p = format!("{path}.{k}");
                match (k.as_str(), t.get(k)) {
                    (_, None) => diffs.push(format!("{p}: missing in tern")),
                    ("buckets", Some(Value::Array(tb))) if rv.is_array() => {
                        let rb = rv.as_array().expect("array");
                        let tmap: std::collections::BTreeMap<String, &Value> =
                            tb.iter().map(|b| (bucket_key(b), b)).collect();
                        let rmap: std::collections::BTreeMap<String, &Value> =
                            rb.iter().map(|b| (bucket_key(b), b)).collect();
                        if tb.len() != rb.len() {
                            diffs.push(format!("{p}: tern {} buckets vs tantivy {}", tb.len(), rb.len()));
                        }
                        for (key, rbucket) in &rmap {
                            match tmap.get(key) {
                                Some(tbucket) => compare_aggs(&format!("{p}[{key}]"), tbucket, rbucket, diffs),
                                None => diffs.push(format!("{p}[{key}]: bucket missing in tern")),
                            }
                        }
                    }
                    (_, Some(tv)) => compare_aggs(&p, tv, rv, diffs),
                }
            }
        }
        (Value::Null, Value::Null) => {}
        (a, b) if a == b => {}
        (a, b) => diffs.push(format!("{path}: tern {a} vs tantivy {b}")),
    }
}

#[derive(Debug, Clone, serde::Serialize)]
struct Throughput {
    clients: usize,
    secs: f64,
    requests: usize,
    qps: f64,
    latency: LatencySummary,
    errors: usize,
    first_error: Option<String>,
    /// CPU seconds per wall second of the server (tern) or of this process (tantivy).
    cpu_cores_busy: f64,
    client_cpu_cores_busy: Option<f64>,
    /// CPU cores used by other processes of the machine meanwhile (noise indicator).
    foreign_cores: f64,
}

fn excerpt(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(600)]).to_string()
}

/// Names of the aggregations a body asks for, and whether the response answered every one.
fn aggs_missing(body: &Value, resp: &Value) -> Option<String> {
    let asked = body.get("aggs").or_else(|| body.get("aggregations"))?.as_object()?;
    let got = resp.get("aggregations").and_then(Value::as_object);
    let missing: Vec<&str> =
        asked.keys().filter(|k| got.is_none_or(|g| !g.contains_key(*k))).map(String::as_str).collect();
    if missing.is_empty() {
        None
    } else if got.is_none() {
        Some("unsupported: 200 OK without `aggregations` (aggs silently ignored)".to_string())
    } else {
        Some(format!("unsupported: aggregations {missing:?} missing from the response"))
    }
}

fn time_tern(
    ctx: &Ctx,
    server: &Server,
    index: &str,
    body: &Value,
    iters: usize,
    warmup: usize,
    max_secs: u64,
) -> anyhow::Result<(Side, Option<Value>)> {
    let path = format!("/{index}/_search");
    let bytes = Bytes::from(serde_json::to_vec(body)?);
    let es = server.es.clone();
    let (status, resp) = ctx.rt.block_on(es.raw(Method::POST, &path, Some(bytes.clone()), "application/json"))?;
    if status != 200 {
        let side = Side {
            latency: None,
            status: format!("error: POST {path} {} -> {status} {}", body, excerpt(&resp)),
            hits: None,
            returned: None,
        };
        return Ok((side, None));
    }
    let v: Value = serde_json::from_slice(&resp)?;
    let hits = v.pointer("/hits/total/value").and_then(Value::as_u64);
    let returned = v.pointer("/hits/hits").and_then(Value::as_array).map(Vec::len);
    if let Some(why) = aggs_missing(body, &v) {
        return Ok((Side { latency: None, status: why, hits, returned }, None));
    }
    let aggs = v.get("aggregations").cloned();
    let cap = Duration::from_secs(max_secs);
    let lat = ctx.rt.block_on(async {
        let mut lat = Vec::with_capacity(iters);
        let started = Instant::now();
        for i in 0..warmup + iters {
            // Slow queries: cut the warmup at a quarter of the cap, stop after the cap once 5 runs are timed.
            let warming = i < warmup;
            if (warming && started.elapsed() > cap / 4) || (lat.len() >= 5 && started.elapsed() > cap) {
                if warming {
                    continue;
                }
                break;
            }
            let t = Instant::now();
            let (status, resp) = es.raw(Method::POST, &path, Some(bytes.clone()), "application/json").await?;
            let el = ms(t.elapsed());
            if status != 200 {
                anyhow::bail!("POST {path} {body} answered {status} on repetition {i}: {}", excerpt(&resp));
            }
            if !warming {
                lat.push(el);
            }
        }
        Ok(lat)
    })?;
    Ok((Side { latency: Some(LatencySummary::of_ms(&lat)), status: "ok".into(), hits, returned }, aggs))
}

fn time_tantivy(
    baseline: &Baseline,
    searcher: &tantivy::Searcher,
    t: &anyhow::Result<Translated>,
    iters: usize,
    warmup: usize,
    max_secs: u64,
) -> anyhow::Result<Side> {
    let t = match t {
        Ok(t) => t,
        Err(e) => {
            return Ok(Side { latency: None, status: format!("untranslated: {e}"), hits: None, returned: None });
        }
    };
    let first = baseline.execute(searcher, t)?;
    let mut lat = Vec::with_capacity(iters);
    let cap = Duration::from_secs(max_secs);
    let started = Instant::now();
    for i in 0..warmup + iters {
        let warming = i < warmup;
        if (warming && started.elapsed() > cap / 4) || (lat.len() >= 5 && started.elapsed() > cap) {
            if warming {
                continue;
            }
            break;
        }
        let start = Instant::now();
        let e = baseline.execute(searcher, t)?;
        let el = ms(start.elapsed());
        std::hint::black_box(e);
        if !warming {
            lat.push(el);
        }
    }
    Ok(Side {
        latency: Some(LatencySummary::of_ms(&lat)),
        status: "ok".into(),
        hits: Some(first.count as u64),
        returned: Some(first.fetched),
    })
}

fn tern_throughput(ctx: &Ctx, server: &Server, index: &str, mix: &[Bytes], clients: usize, secs: u64) -> Throughput {
    let path = format!("/{index}/_search");
    let cpu0 = server.proc.cpu_secs();
    let me = std::process::id();
    let self0 = crate::process::process_cpu_secs(me);
    let machine0 = crate::process::machine_busy_secs();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(secs);
    let results: Vec<(Vec<f64>, usize, Option<String>)> = ctx.rt.block_on(async {
        let mut tasks = Vec::new();
        for c in 0..clients {
            let es = server.es.clone();
            let mix: Vec<Bytes> = mix.to_vec();
            let path = path.clone();
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut errors = 0;
                let mut first_error = None;
                let mut i = c;
                while Instant::now() < deadline {
                    let body = mix[i % mix.len()].clone();
                    i += 1;
                    let t = Instant::now();
                    match es.raw(Method::POST, &path, Some(body.clone()), "application/json").await {
                        Ok((200, _)) => lat.push(ms(t.elapsed())),
                        Ok((status, resp)) => {
                            errors += 1;
                            first_error.get_or_insert_with(|| {
                                format!("POST {path} {} -> {status} {}", String::from_utf8_lossy(&body), excerpt(&resp))
                            });
                        }
                        Err(e) => {
                            errors += 1;
                            first_error.get_or_insert_with(|| format!("POST {path}: {e:#}"));
                        }
                    }
                }
                (lat, errors, first_error)
            }));
        }
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap_or_else(|e| (vec![], 1, Some(format!("client task failed: {e}")))));
        }
        out
    });
    let wall = started.elapsed().as_secs_f64();
    let lat: Vec<f64> = results.iter().flat_map(|r| r.0.iter().copied()).collect();
    Throughput {
        clients,
        secs: wall,
        requests: lat.len(),
        qps: lat.len() as f64 / wall,
        latency: LatencySummary::of_ms(&lat),
        errors: results.iter().map(|r| r.1).sum(),
        first_error: results.iter().find_map(|r| r.2.clone()),
        cpu_cores_busy: (server.proc.cpu_secs() - cpu0) / wall,
        client_cpu_cores_busy: Some((crate::process::process_cpu_secs(me) - self0) / wall),
        foreign_cores: ((crate::process::machine_busy_secs()
            - machine0
            - (server.proc.cpu_secs() - cpu0)
            - (crate::process::process_cpu_secs(me) - self0))
            / wall)
            .max(0.0),
    }
}

fn tantivy_throughput(
    baseline: &Baseline,
    searcher: &tantivy::Searcher,
    mix: &[&Translated],
    clients: usize,
    secs: u64,
) -> Throughput {
    let me = std::process::id();
    let cpu0 = crate::process::process_cpu_secs(me);
    let machine0 = crate::process::machine_busy_secs();
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let results: Vec<(Vec<f64>, usize, Option<String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                let stop = &stop;
                let searcher = searcher.clone();
                s.spawn(move || {
                    let mut lat = Vec::new();
                    let mut errors = 0;
                    let mut first = None;
                    let mut i = c;
                    while !stop.load(Ordering::Relaxed) {
                        let t = Instant::now();
                        match baseline.execute(&searcher, mix[i % mix.len()]) {
                            Ok(e) => {
                                std::hint::black_box(e);
                                lat.push(ms(t.elapsed()));
                            }
                            Err(e) => {
                                errors += 1;
                                first.get_or_insert_with(|| e.to_string());
                            }
                        }
                        i += 1;
                    }
                    (lat, errors, first)
                })
            })
            .collect();
        std::thread::sleep(Duration::from_secs(secs));
        stop.store(true, Ordering::Relaxed);
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| (vec![], 1, Some("thread panicked".into())))).collect()
    });
    let wall = started.elapsed().as_secs_f64();
    let lat: Vec<f64> = results.iter().flat_map(|r| r.0.iter().copied()).collect();
    Throughput {
        clients,
        secs: wall,
        requests: lat.len(),
        qps: lat.len() as f64 / wall,
        latency: LatencySummary::of_ms(&lat),
        errors: results.iter().map(|r| r.1).sum(),
        first_error: results.iter().find_map(|r| r.2.clone()),
        cpu_cores_busy: (crate::process::process_cpu_secs(me) - cpu0) / wall,
        client_cpu_cores_busy: None,
        foreign_cores: ((crate::process::machine_busy_secs()
            - machine0
            - (crate::process::process_cpu_secs(me) - cpu0))
            / wall)
            .max(0.0),
    }
}

fn http_floor(ctx: &Ctx, server: &Server, iters: usize, warmup: usize) -> anyhow::Result<LatencySummary> {
    let es = server.es.clone();
    let lat = ctx.rt.block_on(async {
        let mut lat = Vec::new();
        for i in 0..warmup + iters {
            let t = Instant::now();
            let (status, _) = es.raw(Method::GET, "/", None, "").await?;
            anyhow::ensure!(status == 200, "GET / answered {status}");
            if i >= warmup {
                lat.push(ms(t.elapsed()));
            }
        }
        Ok(lat)
    })?;
    Ok(LatencySummary::of_ms(&lat))
}

fn one_shape(ctx: &Ctx, shape: Shape, a: &Args) -> anyhow::Result<(String, Value)> {
    let index = shape.name();
    eprintln!("search: generating {} {} docs", a.docs, index);
    let corpus = Corpus::generate(&ctx.generator, shape, a.docs)?;
    eprintln!("  generated {} docs in {:.1} s", corpus.docs.len(), corpus.generate_secs);
    let queries = corpus::queries(&ctx.generator, shape)?;
    let bulks = Bulks::of(&corpus, 5000);
    eprintln!("search: loading tern");
    let mut server = Server::start(ctx)?;
    let l = load(ctx, &mut server, &corpus, &bulks, 2, None, &Default::default())?;
    drop(bulks);
    let quiet = server.proc.wait_quiet(0.05, Duration::from_secs(120));
    let tern_segments = Some(crate::ternrun::segments_on_disk(&server.data_dir()));
    eprintln!("search: loading embedded tantivy");
    let tdir = tempfile::Builder::new().prefix("tantivy-bench-").tempdir_in(&ctx.work_dir)?;
    let baseline = Baseline::create(tdir.path(), &corpus.mappings, ctx.tokenizer)?;
    let bi = baseline.ingest(&corpus.docs, TANTIVY_MEMORY_BUDGET, None)?;
    drop(corpus);
    let reader = baseline.reader()?;
    let searcher = reader.searcher();
    let floor = http_floor(ctx, &server, a.iters, a.warmup)?;

    let mut rows = Vec::new();
    let mut translated = Vec::new();
    let me = std::process::id();
    let (m0, s0, t0, w0) = (
        crate::process::machine_busy_secs(),
        crate::process::process_cpu_secs(me),
        server.proc.cpu_secs(),
        Instant::now(),
    );
    for q in &queries {
        eprintln!("search: {} {}", index, q.name);
        let (tern, tern_aggs) = time_tern(ctx, &server, index, &q.body, a.iters, a.warmup, a.max_secs_per_query)?;
        let t = baseline.translate(&q.body);
        let tantivy = time_tantivy(&baseline, &searcher, &t, a.iters, a.warmup, a.max_secs_per_query)?;
        let aggs_check = match (&tern_aggs, &t) {
            (Some(ta), Ok(tr)) => baseline.aggs_json(&searcher, tr)?.map(|reference| {
                let mut diffs = Vec::new();
                compare_aggs("aggregations", ta, &reference, &mut diffs);
                if diffs.is_empty() { "equal".to_string() } else { diffs.join("; ") }
            }),
            _ => None,
        };
        rows.push(Row { name: q.name.clone(), tern, tantivy, aggs_check });
        translated.push(t);
    }
    let latency_phase_foreign_cores = ((crate::process::machine_busy_secs()
        - m0
        - (crate::process::process_cpu_secs(me) - s0)
        - (server.proc.cpu_secs() - t0))
        / w0.elapsed().as_secs_f64())
    .max(0.0);
    server.proc.check_alive()?;

    // Throughput over the queries both sides answer.
    let both: Vec<usize> =
        (0..rows.len()).filter(|&i| rows[i].tern.latency.is_some() && rows[i].tantivy.latency.is_some()).collect();
    let mix_http: Vec<Bytes> =
        both.iter().map(|&i| Bytes::from(serde_json::to_vec(&queries[i].body).expect("json"))).collect();
    let mix_tan: Vec<&Translated> = both.iter().filter_map(|&i| translated[i].as_ref().ok()).collect();
    let (tp_tern, tp_tan) = if both.is_empty() {
        (None, None)
    } else {
        eprintln!("search: {} throughput, {} clients x {} s", index, a.concurrency, a.duration_secs);
        let tt = tern_throughput(ctx, &server, index, &mix_http, a.concurrency, a.duration_secs);
        let tb = tantivy_throughput(&baseline, &searcher, &mix_tan, a.concurrency, a.duration_secs);
        (Some(tt), Some(tb))
    };
    let (rss, _) = server.proc.rss_kib()?;
    let Server { proc, dir, .. } = server;
    proc.stop(Duration::from_secs(60))?;
    drop(dir);

    // Markdown.
    let mut md = format!(
        "### search: {} ({} docs; tern {} segments after {:.0} s of merge settling, tantivy {} segments, {:?} tokenizer)\n\n",
        index,
        int(l.docs as u64),
        tern_segments.map(|s| s.to_string()).unwrap_or("?".into()),
        quiet,
        bi.segments,
        ctx.tokenizer
    );
    md += &format!(
        "HTTP round-trip floor (`GET /`, same client): p50 {} ms, p99 {} ms. Sequential, {} timed runs per query after {} warmup; foreign load meanwhile {} cores.\n\n",
        f(floor.p50_ms, 3),
        f(floor.p99_ms, 3),
        a.iters,
        a.warmup,
        f(latency_phase_foreign_cores, 2)
    );
    let mut met = 0;
    let mut timed = 0;
    let mut equal = 0;
    let mut compared = 0;
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let tl = r.tern.latency;
            let bl = r.tantivy.latency;
            let delta = match (tl, bl) {
                (Some(t), Some(b)) => Some(t.p50_ms - b.p50_ms),
                _ => None,
            };
            if let Some(d) = delta {
                timed += 1;
                if d <= 1.0 {
                    met += 1;
                }
            }
            let eq = match (r.tern.hits, r.tantivy.hits) {
                (Some(a), Some(b)) => {
                    compared += 1;
                    if a == b {
                        equal += 1;
                        "yes".to_string()
                    } else {
                        "**NO**".to_string()
                    }
                }
                _ => "-".to_string(),
            };
            let side = |s: &Side, pick: fn(&LatencySummary) -> f64| match s.latency {
                Some(l) if l.n < a.iters => format!("{} (n={})", f(pick(&l), 3), l.n),
                Some(l) => f(pick(&l), 3),
                None => s.status.split(':').next().unwrap_or("").to_string(),
            };
            vec![
                r.name.clone(),
                side(&r.tern, |l| l.p50_ms),
                side(&r.tern, |l| l.p99_ms),
                side(&r.tantivy, |l| l.p50_ms),
                side(&r.tantivy, |l| l.p99_ms),
                delta
                    .map(|d| {
                        format!("{}{}", if d > 1.0 { "**" } else { "" }, f(d, 3)) + if d > 1.0 { "**" } else { "" }
                    })
                    .unwrap_or("-".into()),
                r.tern.hits.map(int).unwrap_or("-".into()),
                r.tantivy.hits.map(int).unwrap_or("-".into()),
                match &r.aggs_check {
                    None => eq,
                    Some(c) if c == "equal" => format!("{eq}, aggs yes"),
                    Some(_) => format!("{eq}, aggs **NO**"),
                },
            ]
        })
        .collect();
    md += &table(
        &[
            "query",
            "tern p50 ms",
            "tern p99 ms",
            "tantivy p50 ms",
            "tantivy p99 ms",
            "p50 delta ms",
            "tern hits",
            "tantivy hits",
            "equal (hits, aggs)",
        ],
        &table_rows,
    );
    md += &format!("\np50 <= embedded + 1 ms: {met}/{timed} timed queries; hit counts equal: {equal}/{compared}.\n");
    let notes: Vec<String> = rows
        .iter()
        .flat_map(|r| {
            let mut v = Vec::new();
            if r.tern.status != "ok" {
                v.push(format!("- `{}` tern: {}", r.name, r.tern.status));
            }
            if r.tantivy.status != "ok" {
                v.push(format!("- `{}` tantivy: {}", r.name, r.tantivy.status));
            }
            if let Some(c) = r.aggs_check.as_ref().filter(|c| *c != "equal") {
                v.push(format!("- `{}` aggregations differ: {c}", r.name));
            }
            v
        })
        .collect();
    if !notes.is_empty() {
        md += &format!("\n{}\n", notes.join("\n"));
    }
    if let (Some(tt), Some(tb)) = (&tp_tern, &tp_tan) {
        md += &format!(
            "\nThroughput, {} clients for {} s over the {} queries both answer (round robin):\n\n",
            a.concurrency,
            a.duration_secs,
            both.len()
        );
        let tr = |name: &str, t: &Throughput| {
            vec![
                name.to_string(),
                f(t.qps, 0),
                f(t.latency.p50_ms, 2),
                f(t.latency.p99_ms, 2),
                t.errors.to_string(),
                f(t.cpu_cores_busy, 2),
                t.client_cpu_cores_busy.map(|c| f(c, 2)).unwrap_or("-".into()),
                f(t.foreign_cores, 2),
            ]
        };
        md += &table(
            &[
                "system",
                "queries/s",
                "p50 ms",
                "p99 ms",
                "errors",
                "server cores busy",
                "client cores busy",
                "foreign load (cores)",
            ],
            &[tr("tern (HTTP)", tt), tr("embedded tantivy (threads)", tb)],
        );
        md += &format!("\ntern/tantivy throughput ratio: {:.2}\n", tt.qps / tb.qps);
        if let Some(e) = &tt.first_error {
            md += &format!("\ntern first error under load: {e}\n");
        }
    }
    let all_p50_tern: Vec<f64> = rows.iter().filter_map(|r| r.tern.latency.map(|l| l.p50_ms)).collect();
    let json = json!({
        "shape": shape, "docs": l.docs, "load": l, "tern_segments": tern_segments, "tantivy_ingest": bi,
        "merge_settle_secs": quiet, "latency_phase_foreign_cores": latency_phase_foreign_cores, "http_floor": floor, "queries": rows, "throughput_tern": tp_tern,
        "throughput_tantivy": tp_tan, "tern_rss_kib_end": rss,
        "p50_target_met": met, "p50_timed": timed, "hits_equal": equal, "hits_compared": compared,
        "tern_p50_ms_p50_over_queries": percentile(&all_p50_tern, 50.0),
    });
    Ok((md, json))
}

pub fn run(ctx: &Ctx, a: &Args) -> anyhow::Result<(String, Value)> {
    let mut md = format!("## search ({} docs per shape)\n\n", int(a.docs as u64));
    let mut out = serde_json::Map::new();
    for &shape in &a.shapes {
        let (m, j) = one_shape(ctx, shape, a)?;
        md += &m;
        md += "\n";
        out.insert(shape.name().to_string(), j);
    }
    Ok((md, Value::Object(out)))
}
