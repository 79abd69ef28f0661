//! `rss`: tern's resident memory idle, after loading a large logs corpus, and after queries; data
//! directory size.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::Ctx;
use crate::corpus::{self, Corpus, Shape};
use crate::process::dir_size;
use crate::report::{f, int, mib, table};
use crate::ternrun::{Bulks, Server, load};

pub struct Args {
    pub docs: usize,
    pub budget_secs: u64,
    /// Keep tern running this long after the measurements (to inspect `/proc/<pid>`).
    pub hold_secs: u64,
}

fn mib_k(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

pub fn run(ctx: &Ctx, a: &Args) -> anyhow::Result<(String, Value)> {
    eprintln!("rss: generating {} logs docs", a.docs);
    let corpus = Corpus::generate(&ctx.generator, Shape::Logs, a.docs)?;
    eprintln!("  generated {} docs in {:.1} s", corpus.docs.len(), corpus.generate_secs);
    let queries = corpus::queries(&ctx.generator, Shape::Logs)?;
    let bulks = Bulks::of(&corpus, 5000);
    let mut server = Server::start(ctx)?;
    std::thread::sleep(Duration::from_secs(3));
    let (idle, idle_hwm) = server.proc.rss_kib()?;
    let parts_idle = crate::process::rss_parts_kib(server.proc.pid);
    eprintln!("rss: idle {:.1} MiB; loading", mib_k(idle));
    let l = load(ctx, &mut server, &corpus, &bulks, 2, Some(Duration::from_secs(a.budget_secs)), &Default::default())?;
    let (after_load, hwm_load) = server.proc.rss_kib()?;
    let parts_load = crate::process::rss_parts_kib(server.proc.pid);
    let data_after_load = dir_size(&server.data_dir());
    let breakdown_after_load = crate::process::dir_breakdown(&server.data_dir());
    let quiet_secs = server.proc.wait_quiet(0.05, Duration::from_secs(120));
    let (after_quiet, _) = server.proc.rss_kib()?;
    let parts_quiet = crate::process::rss_parts_kib(server.proc.pid);
    // Every logs query 5 times (aggregations included, whatever tern does with them).
    let t = Instant::now();
    let mut failures = Vec::new();
    for q in &queries {
        let body = bytes::Bytes::from(serde_json::to_vec(&q.body)?);
        for _ in 0..5 {
            let (status, resp) = ctx.rt.block_on(server.es.raw(
                reqwest::Method::POST,
                "/logs/_search",
                Some(body.clone()),
                "application/json",
            ))?;
            if status != 200 {
                failures.push(format!(
                    "{}: {} {}",
                    q.name,
                    status,
                    String::from_utf8_lossy(&resp[..resp.len().min(300)])
                ));
                break;
            }
        }
    }
    let query_secs = t.elapsed().as_secs_f64();
    let (after_queries, hwm_all) = server.proc.rss_kib()?;
    let parts_queries = crate::process::rss_parts_kib(server.proc.pid);
    if a.hold_secs > 0 {
        eprintln!("rss: holding tern pid {} for {} s", server.proc.pid, a.hold_secs);
        std::thread::sleep(Duration::from_secs(a.hold_secs));
    }
    let data = server.data_dir();
    let Server { proc, dir, .. } = server;
    proc.stop(Duration::from_secs(120))?;
    let data_after_stop = dir_size(&data);
    let breakdown_after_stop = crate::process::dir_breakdown(&data);
    drop(dir);
    let src_mb = corpus.docs[..l.docs].iter().map(Vec::len).sum::<usize>() as u64;
    let mut md = format!(
        "## rss: tern memory, {} logs docs loaded ({} docs/s over HTTP{})\n\n",
        int(l.docs as u64),
        f(l.docs_per_sec, 0),
        if l.bulk.stopped_by_budget {
            format!(", STOPPED by the {} s budget before {}", a.budget_secs, int(a.docs as u64))
        } else {
            String::new()
        }
    );
    md += &table(
        &["point", "VmRSS MiB", "RssAnon MiB (heap)", "RssFile MiB (mapped index files)", "VmHWM MiB"],
        &[
            vec![
                "idle, 3 s after start (target <= 50)".into(),
                f(mib_k(idle), 1),
                f(mib_k(parts_idle.0), 1),
                f(mib_k(parts_idle.1), 1),
                f(mib_k(idle_hwm), 1),
            ],
            vec![
                "right after load + _refresh".into(),
                f(mib_k(after_load), 1),
                f(mib_k(parts_load.0), 1),
                f(mib_k(parts_load.1), 1),
                f(mib_k(hwm_load), 1),
            ],
            vec![
                format!("after merges settle ({} s)", f(quiet_secs, 0)),
                f(mib_k(after_quiet), 1),
                f(mib_k(parts_quiet.0), 1),
                f(mib_k(parts_quiet.1), 1),
                "-".into(),
            ],
            vec![
                format!("after {} queries x 5", queries.len()),
                f(mib_k(after_queries), 1),
                f(mib_k(parts_queries.0), 1),
                f(mib_k(parts_queries.1), 1),
                f(mib_k(hwm_all), 1),
            ],
        ],
    );
    md += &format!(
        "\ndata dir: {} MiB apparent / {} MiB allocated after load; {} MiB / {} MiB after graceful stop; source JSON {} MiB.\n",
        mib(data_after_load.0),
        mib(data_after_load.1),
        mib(data_after_stop.0),
        mib(data_after_stop.1),
        mib(src_mb)
    );
    let bd = |v: &[(String, u64)]| v.iter().map(|(n, b)| format!("{n} {} MiB", mib(*b))).collect::<Vec<_>>().join(", ");
    md += &format!(
        "data dir by part: after load: {}; after stop: {}.\n",
        bd(&breakdown_after_load),
        bd(&breakdown_after_stop)
    );
    md += &format!("idle target <= 50 MiB: {}\n", if mib_k(idle) <= 50.0 { "met" } else { "MISSED" });
    if !failures.is_empty() {
        md += &format!("\nquery failures: {}\n", failures.join("; "));
    }
    let json = json!({
        "docs_requested": a.docs, "docs_loaded": l.docs, "load": l,
        "rss_kib": {"idle": idle, "idle_hwm": idle_hwm, "after_load": after_load, "hwm_after_load": hwm_load,
                    "after_quiet": after_quiet, "after_queries": after_queries, "hwm_end": hwm_all,
                    "anon_file_idle": parts_idle, "anon_file_after_load": parts_load,
                    "anon_file_after_quiet": parts_quiet, "anon_file_after_queries": parts_queries},
        "quiet_wait_secs": quiet_secs, "query_pass_secs": query_secs, "query_failures": failures,
        "data_bytes_after_load": {"apparent": data_after_load.0, "allocated": data_after_load.1},
        "data_bytes_after_stop": {"apparent": data_after_stop.0, "allocated": data_after_stop.1},
        "data_breakdown_after_load": breakdown_after_load, "data_breakdown_after_stop": breakdown_after_stop,
        "source_bytes": src_mb, "idle_target_mib": 50, "idle_target_met": mib_k(idle) <= 50.0,
    });
    Ok((md, json))
}
