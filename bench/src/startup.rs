//! `startup`: spawn to first `200` of `GET /_cluster/health`, empty data dir vs an existing index.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::Ctx;
use crate::corpus::{Corpus, Shape};
use crate::process::{Ready, TernProcess, dir_size, ms};
use crate::report::{f, int, mib, table};
use crate::stats::{median, percentile};
use crate::ternrun::{Bulks, Server, load};

pub struct Args {
    pub runs: usize,
    pub docs: usize,
}

struct Sample {
    ready: Ready,
    /// For the existing index: spawn until `_count` answers the full count.
    to_count_ms: Option<f64>,
    stop_secs: f64,
}

fn one(
    ctx: &Ctx,
    data: &std::path::Path,
    log: &std::path::Path,
    expect: Option<(&str, u64)>,
) -> anyhow::Result<Sample> {
    let spawned = Instant::now();
    let mut p = TernProcess::spawn(&ctx.tern_bin, data, log)?;
    let ready = p.wait_ready("/_cluster/health", false, Duration::from_millis(2), Duration::from_secs(60))?;
    let to_count_ms = match expect {
        None => None,
        Some((index, n)) => {
            let es = crate::http::Es::new(p.base_url())?;
            loop {
                if let Ok(c) = ctx.rt.block_on(es.count(index))
                    && c == n
                {
                    break Some(ms(spawned.elapsed()));
                }
                if spawned.elapsed() > Duration::from_secs(60) {
                    anyhow::bail!("_count of [{index}] never reached {n} after restart");
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    };
    let stop_secs = p.stop(Duration::from_secs(60))?;
    Ok(Sample { ready, to_count_ms, stop_secs })
}

fn summary(name: &str, s: &[Sample]) -> Vec<String> {
    let first: Vec<f64> = s.iter().map(|x| x.ready.to_first_answer_ms).collect();
    let ok: Vec<f64> = s.iter().filter_map(|x| x.ready.to_200_ms).collect();
    let l: Vec<f64> = s.iter().filter_map(|x| x.ready.to_started_log_ms).collect();
    let c: Vec<f64> = s.iter().filter_map(|x| x.to_count_ms).collect();
    let codes: std::collections::BTreeSet<String> = s
        .iter()
        .map(|x| {
            if x.ready.first_status == 200 {
                format!("200 ({})", x.ready.health_status)
            } else {
                x.ready.first_status.to_string()
            }
        })
        .collect();
    vec![
        name.to_string(),
        if ok.len() == s.len() {
            f(median(&ok), 1)
        } else {
            format!("none ({} of {} runs got a 200)", ok.len(), s.len())
        },
        f(median(&first), 1),
        format!("{} / {}", f(percentile(&first, 0.0), 1), f(percentile(&first, 100.0), 1)),
        codes.into_iter().collect::<Vec<_>>().join(", "),
        f(median(&l), 1),
        if c.is_empty() { "-".into() } else { f(median(&c), 1) },
        f(median(&s.iter().map(|x| x.stop_secs * 1000.0).collect::<Vec<_>>()), 0),
    ]
}

pub fn run(ctx: &Ctx, a: &Args) -> anyhow::Result<(String, Value)> {
    // Prepare the existing index once: load, refresh, graceful stop (tern flushes).
    eprintln!("startup: preparing an index of {} logs docs", a.docs);
    let corpus = Corpus::generate(&ctx.generator, Shape::Logs, a.docs)?;
    let bulks = Bulks::of(&corpus, 5000);
    let prepared_dir = tempfile::Builder::new().prefix("tern-bench-startup-").tempdir_in(&ctx.work_dir)?;
    let mut server = Server::start_in(ctx, tempfile::Builder::new().prefix("tern-bench-").tempdir_in(&ctx.work_dir)?)?;
    load(ctx, &mut server, &corpus, &bulks, 2, None, &Default::default())?;
    let existing = server.data_dir();
    let Server { proc, dir, .. } = server;
    proc.stop(Duration::from_secs(120))?;
    let existing_bytes = dir_size(&existing).0;
    drop(corpus);

    let mut empty = Vec::new();
    let mut with_index = Vec::new();
    for i in 0..a.runs {
        eprintln!("startup: run {}/{}", i + 1, a.runs);
        let fresh = tempfile::Builder::new().prefix("tern-bench-empty-").tempdir_in(&ctx.work_dir)?;
        let data = fresh.path().join("data");
        std::fs::create_dir_all(&data)?;
        empty.push(one(ctx, &data, &fresh.path().join("tern.log"), None)?);
        with_index.push(one(ctx, &existing, &prepared_dir.path().join("tern.log"), Some(("logs", a.docs as u64)))?);
    }
    drop(dir);
    let med = |v: &[Sample]| median(&v.iter().map(|s| s.ready.to_first_answer_ms).collect::<Vec<_>>());
    let (med_empty, med_idx) = (med(&empty), med(&with_index));
    let all_200 = empty.iter().chain(&with_index).all(|s| s.ready.to_200_ms.is_some());
    let met = all_200 && med_empty <= 300.0 && med_idx <= 300.0;
    let mut md = format!(
        "## startup: spawn -> first 200 of GET /_cluster/health (polled every 2 ms), {} runs each, interleaved\n\n",
        a.runs
    );
    md += &table(
        &[
            "data dir",
            "median to first 200 ms",
            "median to first answer ms",
            "min / max first answer ms",
            "first answer status",
            "median to \"started\" log ms",
            "median to full _count ms",
            "median SIGTERM->exit ms",
        ],
        &[
            summary("empty", &empty),
            summary(
                &format!("existing index ({} logs docs, {} MiB)", int(a.docs as u64), mib(existing_bytes)),
                &with_index,
            ),
        ],
    );
    if all_200 {
        md += &format!("\ntarget <= 300 ms: {}\n", if met { "met" } else { "MISSED" });
    } else {
        let example = empty.iter().chain(&with_index).find(|s| s.ready.to_200_ms.is_none()).expect("a run without 200");
        md += &format!(
            "\ntarget <= 300 ms to the first 200: NOT MEASURABLE, `GET /_cluster/health` answered {} `{}`. \
             The first answer time above (tern serves HTTP only after the node has started) is the proxy; \
             against it the target is {}.\n",
            example.ready.first_status,
            example.ready.first_body.trim(),
            if med_empty <= 300.0 && med_idx <= 300.0 { "met" } else { "MISSED" }
        );
    }
    let sample_json = |s: &Sample| json!({"ready": s.ready, "to_count_ms": s.to_count_ms, "stop_secs": s.stop_secs});
    let json = json!({
        "runs": a.runs, "existing_docs": a.docs, "existing_bytes": existing_bytes,
        "median_first_answer_empty_ms": med_empty, "median_first_answer_existing_ms": med_idx,
        "all_runs_got_200": all_200, "target_ms": 300, "target_met": met,
        "empty": empty.iter().map(sample_json).collect::<Vec<_>>(),
        "existing": with_index.iter().map(sample_json).collect::<Vec<_>>(),
    });
    Ok((md, json))
}
