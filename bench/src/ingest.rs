//! `ingest`: tern over HTTP vs embedded tantivy on the same documents, interleaved runs.

use std::time::Duration;

use serde_json::{Value, json};

use crate::baseline::{Baseline, BaselineIngest};
use crate::corpus::{Corpus, Shape};
use crate::process::{self, dir_size};
use crate::report::{f, int, mib, table};
use crate::stats::median;
use crate::ternrun::{Bulks, Load, Server, load};
use crate::{Ctx, TANTIVY_MEMORY_BUDGET};

pub struct Args {
    pub shape: Shape,
    pub docs: usize,
    pub runs: usize,
    pub bulk_size: usize,
    pub clients: usize,
    /// Diagnosis overrides of the index settings (defaults: 1s, request).
    pub index: crate::ternrun::IndexOptions,
}

struct TernRun {
    load: Load,
    ready_ms: f64,
    data_bytes_before_stop: u64,
    data_bytes_after_stop: u64,
    rss_kib: u64,
    hwm_kib: u64,
    stop_secs: f64,
}

struct TantivyRun {
    ingest: BaselineIngest,
    docs_per_sec: f64,
    cpu_secs: f64,
    threads_cpu: std::collections::BTreeMap<String, f64>,
    index_bytes: u64,
}

fn tern_run(ctx: &Ctx, corpus: &Corpus, a: &Args) -> anyhow::Result<TernRun> {
    let bulks = Bulks::of(corpus, a.bulk_size);
    let mut server = Server::start(ctx)?;
    let load = load(ctx, &mut server, corpus, &bulks, a.clients, None, &a.index)?;
    let (rss_kib, hwm_kib) = server.proc.rss_kib()?;
    let data_bytes_before_stop = dir_size(&server.data_dir()).0;
    let data = server.data_dir();
    let ready_ms = server.ready.to_first_answer_ms;
    let Server { proc, dir, .. } = server;
    let stop_secs = proc.stop(Duration::from_secs(120))?;
    let data_bytes_after_stop = dir_size(&data).0;
    drop(dir);
    Ok(TernRun { load, ready_ms, data_bytes_before_stop, data_bytes_after_stop, rss_kib, hwm_kib, stop_secs })
}

fn tantivy_run(ctx: &Ctx, corpus: &Corpus) -> anyhow::Result<TantivyRun> {
    let dir = tempfile::Builder::new().prefix("tantivy-bench-").tempdir_in(&ctx.work_dir)?;
    let baseline = Baseline::create(dir.path(), &corpus.mappings, ctx.tokenizer)?;
    let sampler = process::ThreadSampler::start(std::process::id(), Duration::from_millis(50));
    let ingest = baseline.ingest(&corpus.docs, TANTIVY_MEMORY_BUDGET, Some(sampler))?;
    let cpu_secs = ingest.cpu_secs;
    let threads_cpu = ingest.threads_cpu.clone();
    let index_bytes = dir_size(dir.path()).0;
    Ok(TantivyRun { docs_per_sec: ingest.docs as f64 / ingest.secs, ingest, cpu_secs, threads_cpu, index_bytes })
}

fn threads_str(m: &std::collections::BTreeMap<String, f64>) -> String {
    let mut v: Vec<(&String, &f64)> = m.iter().filter(|(_, c)| **c >= 0.05).collect();
    v.sort_by(|a, b| b.1.total_cmp(a.1));
    v.iter().map(|(k, c)| format!("{k} {c:.1}s")).collect::<Vec<_>>().join(", ")
}

pub fn run(ctx: &Ctx, a: &Args) -> anyhow::Result<(String, Value)> {
    eprintln!("ingest: generating {} {} docs", a.docs, a.shape.name());
    let corpus = Corpus::generate(&ctx.generator, a.shape, a.docs)?;
    eprintln!("  generated {} docs in {:.1} s", corpus.docs.len(), corpus.generate_secs);
    let mut terns = Vec::new();
    let mut tantivys = Vec::new();
    for i in 0..a.runs {
        eprintln!("ingest: run {}/{}: tern", i + 1, a.runs);
        let t = tern_run(ctx, &corpus, a)?;
        eprintln!("  tern {:.0} docs/s", t.load.docs_per_sec);
        terns.push(t);
        eprintln!("ingest: run {}/{}: tantivy", i + 1, a.runs);
        let b = tantivy_run(ctx, &corpus)?;
        eprintln!("  tantivy {:.0} docs/s", b.docs_per_sec);
        tantivys.push(b);
    }
    let tern_med = median(&terns.iter().map(|t| t.load.docs_per_sec).collect::<Vec<_>>());
    let tan_med = median(&tantivys.iter().map(|t| t.docs_per_sec).collect::<Vec<_>>());
    let ratio = tern_med / tan_med;
    let mb = corpus.source_bytes as f64 / 1e6;

    let mut md = format!(
        "## ingest: {} {} docs ({:.1} MB of source), bulk {} x {} clients, {} interleaved runs each\n\n",
        int(a.docs as u64),
        a.shape.name(),
        mb,
        a.bulk_size,
        a.clients,
        a.runs
    );
    md += &table(
        &["", "median docs/s", "median MB/s", "runs (docs/s)"],
        &[
            vec![
                format!(
                    "tern (HTTP _bulk, durability={}, refresh_interval={})",
                    a.index.durability, a.index.refresh_interval
                ),
                f(tern_med, 0),
                f(tern_med * mb / a.docs as f64, 2),
                terns.iter().map(|t| f(t.load.docs_per_sec, 0)).collect::<Vec<_>>().join(" / "),
            ],
            vec![
                format!("embedded tantivy (1 indexing thread, 1 commit, {:?} tokenizer)", ctx.tokenizer),
                f(tan_med, 0),
                f(tan_med * mb / a.docs as f64, 2),
                tantivys.iter().map(|t| f(t.docs_per_sec, 0)).collect::<Vec<_>>().join(" / "),
            ],
        ],
    );
    md += &format!(
        "\n**ratio tern/tantivy = {:.2}** (target >= 0.7: {})\n\n",
        ratio,
        if ratio >= 0.7 { "met" } else { "MISSED" }
    );
    md += "tern runs, breakdown:\n\n";
    md += &table(
        &[
            "run",
            "bulk s",
            "refresh s",
            "bulk req p50/p99 ms",
            "server CPU s (us/doc)",
            "client CPU s",
            "apply (index_time) s",
            "refreshes (s)",
            "segments",
            "data MiB (after stop)",
            "RSS MiB (peak)",
            "foreign load (cores)",
            "server threads CPU",
        ],
        &terns
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let s = &t.load.stats;
                vec![
                    (i + 1).to_string(),
                    f(t.load.bulk.secs, 2),
                    f(t.load.refresh_secs, 3),
                    format!(
                        "{} / {}",
                        f(t.load.bulk.request_latency.p50_ms, 0),
                        f(t.load.bulk.request_latency.p99_ms, 0)
                    ),
                    format!(
                        "{} ({})",
                        f(t.load.server_cpu_secs, 1),
                        f(t.load.server_cpu_secs * 1e6 / t.load.docs as f64, 1)
                    ),
                    f(t.load.client_cpu_secs, 1),
                    if s.get("unavailable").is_some() {
                        "n/a (no _stats)".into()
                    } else {
                        f(s["indexing"]["index_time_in_millis"].as_f64().unwrap_or(f64::NAN) / 1000.0, 1)
                    },
                    if s.get("unavailable").is_some() {
                        "n/a".into()
                    } else {
                        format!(
                            "{} ({})",
                            s["refresh"]["total"],
                            f(s["refresh"]["total_time_in_millis"].as_f64().unwrap_or(f64::NAN) / 1000.0, 1)
                        )
                    },
                    t.load.segments_after_refresh.to_string(),
                    format!("{} ({})", mib(t.data_bytes_before_stop), mib(t.data_bytes_after_stop)),
                    format!("{} ({})", f(t.rss_kib as f64 / 1024.0, 0), f(t.hwm_kib as f64 / 1024.0, 0)),
                    f(t.load.foreign_cores, 2),
                    threads_str(&t.load.server_threads_cpu),
                ]
            })
            .collect::<Vec<_>>(),
    );
    md += "\nembedded tantivy runs, breakdown:\n\n";
    md += &table(
        &[
            "run",
            "parse+add s",
            "commit s",
            "merge tail s (untimed)",
            "segments",
            "CPU s (us/doc)",
            "index MiB",
            "foreign load (cores)",
            "threads CPU",
        ],
        &tantivys
            .iter()
            .enumerate()
            .map(|(i, t)| {
                vec![
                    (i + 1).to_string(),
                    f(t.ingest.add_secs, 2),
                    f(t.ingest.commit_secs, 3),
                    f(t.ingest.merge_tail_secs, 2),
                    t.ingest.segments.to_string(),
                    format!("{} ({})", f(t.cpu_secs, 1), f(t.cpu_secs * 1e6 / t.ingest.docs as f64, 1)),
                    mib(t.index_bytes),
                    f(t.ingest.foreign_cores, 2),
                    threads_str(&t.threads_cpu),
                ]
            })
            .collect::<Vec<_>>(),
    );
    let json = json!({
        "shape": a.shape, "docs": a.docs, "source_bytes": corpus.source_bytes, "bulk_size": a.bulk_size,
        "clients": a.clients, "runs": a.runs, "baseline_tokenizer": ctx.tokenizer,
        "refresh_interval": a.index.refresh_interval, "durability": a.index.durability, "tantivy_memory_budget": TANTIVY_MEMORY_BUDGET,
        "tern_median_docs_per_sec": tern_med, "tantivy_median_docs_per_sec": tan_med, "ratio": ratio,
        "target_ratio": 0.7, "target_met": ratio >= 0.7,
        "tern_runs": terns.iter().map(|t| json!({
            "load": t.load, "ready_ms": t.ready_ms, "data_bytes_before_stop": t.data_bytes_before_stop,
            "data_bytes_after_stop": t.data_bytes_after_stop, "rss_kib": t.rss_kib, "hwm_kib": t.hwm_kib,
            "stop_secs": t.stop_secs,
        })).collect::<Vec<_>>(),
        "tantivy_runs": tantivys.iter().map(|t| json!({
            "ingest": t.ingest, "docs_per_sec": t.docs_per_sec, "cpu_secs": t.cpu_secs,
            "threads_cpu": t.threads_cpu, "index_bytes": t.index_bytes,
        })).collect::<Vec<_>>(),
    });
    Ok((md, json))
}
