//! `replication`: what replication costs. One tern process against three on loopback, in one run:
//!
//! - ingest of the same corpus over `_bulk`: 1 node (0 replicas) vs 3 nodes with 1 and with 2
//!   replicas (the bulk clients spread over the nodes, as a client of a cluster would);
//! - single-document write latency (sequential `PUT _doc`), 1 node vs 3 nodes with 1 replica,
//!   sent to the node holding the primary and to the node holding no copy (forwarded);
//! - group commit: single-document writes from 1 writer vs 64 concurrent writers, docs/s.
//!
//! Each configuration gets fresh processes and data directories. The nodes of a cluster share the
//! machine's cores with each other and with the client, so the 3-node figures include that.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use reqwest::Method;
use serde_json::{Value, json};

use crate::Ctx;
use crate::corpus::{Corpus, Shape};
use crate::http::Es;
use crate::process::{self, TernProcess, ms};
use crate::report::{f, int, table};
use crate::stats::LatencySummary;

pub struct Args {
    pub shape: Shape,
    pub docs: usize,
    pub bulk_size: usize,
    pub clients: usize,
    pub shards: u32,
    /// Sequential single-document writes timed per configuration (after a warm-up of a tenth).
    pub latency_writes: usize,
    /// Concurrent writers of the group-commit measurement (against 1).
    pub writers: usize,
    /// Seconds each writer-count measurement lasts.
    pub writer_secs: u64,
}

/// One or three started tern processes, each on its own data directory.
struct Nodes {
    procs: Vec<TernProcess>,
    es: Vec<Es>,
    /// Node names, in the order of `procs`.
    names: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Nodes {
    /// `n` processes; with `n > 1` they form one cluster (all master-eligible, node-1 bootstraps).
    fn start(ctx: &Ctx, n: usize) -> anyhow::Result<Nodes> {
        let dir = tempfile::Builder::new().prefix("tern-bench-repl-").tempdir_in(&ctx.work_dir)?;
        let ports: Vec<u16> = (0..n).map(|_| process::free_port()).collect::<anyhow::Result<_>>()?;
        let seeds = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect::<Vec<_>>().join(",");
        let names: Vec<String> = (1..=n).map(|i| format!("node-{i}")).collect();
        let mut procs = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let data = dir.path().join(name).join("data");
            std::fs::create_dir_all(&data)?;
            let mut extra = vec![format!("node.name={name}"), "cluster.name=tern-bench".to_string()];
            if n > 1 {
                extra.extend([
                    "transport.host=127.0.0.1".to_string(),
                    format!("transport.port={}", ports[i]),
                    format!("discovery.seed_hosts={seeds}"),
                    format!("cluster.initial_master_nodes={}", names.join(",")),
                ]);
            }
            let log = dir.path().join(name).join("tern.log");
            procs.push(TernProcess::spawn_with(&ctx.tern_bin, &data, &log, &extra)?);
        }
        for p in &mut procs {
            p.wait_ready("/", true, Duration::from_millis(10), Duration::from_secs(60))?;
        }
        let es = procs.iter().map(|p| Es::new(p.base_url())).collect::<anyhow::Result<Vec<_>>>()?;
        let nodes = Nodes { procs, es, names, _dir: dir };
        nodes.wait_health(ctx, "/_cluster/health", "green")?;
        Ok(nodes)
    }

    /// Waits until every node answers `path` with `status` and counts all the nodes.
    fn wait_health(&self, ctx: &Ctx, path: &str, status: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let mut last = Value::Null;
            let all = self.es.iter().all(|es| {
                let h = ctx.rt.block_on(es.json(Method::GET, path, None)).unwrap_or(Value::Null);
                let ok = h["status"] == status && h["number_of_nodes"] == self.procs.len();
                last = h;
                ok
            });
            if all {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{path} never reported {status} on all {} nodes; last: {last}", self.procs.len());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn create_index(&self, ctx: &Ctx, index: &str, mappings: &Value, replicas: u32, shards: u32) -> anyhow::Result<()> {
        let settings = json!({
            "number_of_shards": shards,
            "number_of_replicas": replicas,
            "refresh_interval": "1s",
            "translog": {"durability": "request"},
        });
        ctx.rt.block_on(self.es[0].create_index(index, mappings, &settings))?;
        self.wait_health(ctx, &format!("/_cluster/health/{index}"), "green")
    }

    /// The node holding shard 0's primary of `index`, and a node holding no copy of it (if any).
    fn primary_and_copyless(&self, ctx: &Ctx, index: &str) -> anyhow::Result<(usize, Option<usize>)> {
        if self.procs.len() == 1 {
            return Ok((0, None));
        }
        let rows = ctx.rt.block_on(self.es[0].json(
            Method::GET,
            &format!("/_cat/shards/{index}?format=json&h=shard,prirep,node"),
            None,
        ))?;
        let rows = rows.as_array().context("_cat/shards rows")?;
        let on = |r: &Value| self.names.iter().position(|n| r["node"] == n.as_str());
        let primary = rows
            .iter()
            .find(|r| r["shard"] == "0" && r["prirep"] == "p")
            .and_then(on)
            .context("no primary of shard 0")?;
        let holders: Vec<usize> = rows.iter().filter(|r| r["shard"] == "0").filter_map(on).collect();
        Ok((primary, (0..self.procs.len()).find(|i| !holders.contains(i))))
    }

    fn cpu_secs(&self) -> f64 {
        self.procs.iter().map(TernProcess::cpu_secs).sum()
    }

    fn stop(self) -> anyhow::Result<()> {
        for p in self.procs {
            p.stop(Duration::from_secs(60))?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, serde::Serialize)]
struct Ingest {
    nodes: usize,
    replicas: u32,
    docs: usize,
    secs: f64,
    docs_per_sec: f64,
    bulk_latency: LatencySummary,
    /// CPU seconds of all tern processes over the load.
    server_cpu_secs: f64,
    client_cpu_secs: f64,
}

/// Sends the corpus with `clients` concurrent bulk clients, client `k` through node `k % n`;
/// then `_refresh` and `_count` (which must equal the docs sent).
fn ingest(ctx: &Ctx, nodes: &Nodes, corpus: &Corpus, a: &Args, replicas: u32) -> anyhow::Result<Ingest> {
    let index = corpus.shape.name();
    nodes.create_index(ctx, index, &corpus.mappings, replicas, a.shards)?;
    let bodies = Arc::new(corpus.bulk_bodies(a.bulk_size));
    let cpu0 = nodes.cpu_secs();
    let self0 = process::process_cpu_secs(std::process::id());
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let lat = ctx.rt.block_on(async {
        let mut tasks = Vec::new();
        for k in 0..a.clients {
            let es = nodes.es[k % nodes.es.len()].clone();
            let bodies = bodies.clone();
            let next = next.clone();
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else { break };
                    let t = Instant::now();
                    es.bulk(index, body.clone()).await.with_context(|| format!("bulk #{i}"))?;
                    lat.push(ms(t.elapsed()));
                }
                Ok::<_, anyhow::Error>(lat)
            }));
        }
        let mut lat = Vec::new();
        for t in tasks {
            lat.extend(t.await??);
        }
        Ok::<_, anyhow::Error>(lat)
    })?;
    ctx.rt.block_on(nodes.es[0].refresh(index))?;
    let secs = started.elapsed().as_secs_f64();
    let server_cpu_secs = nodes.cpu_secs() - cpu0;
    let client_cpu_secs = process::process_cpu_secs(std::process::id()) - self0;
    let count = ctx.rt.block_on(nodes.es[0].count(index))?;
    if count != corpus.docs.len() as u64 {
        bail!("_count is {count} after _refresh, {} docs were acknowledged", corpus.docs.len());
    }
    Ok(Ingest {
        nodes: nodes.procs.len(),
        replicas,
        docs: corpus.docs.len(),
        secs,
        docs_per_sec: corpus.docs.len() as f64 / secs,
        bulk_latency: LatencySummary::of_ms(&lat),
        server_cpu_secs,
        client_cpu_secs,
    })
}

/// A small document of the latency and writer measurements.
fn small_doc(i: usize) -> Bytes {
    Bytes::from(format!("{{\"n\":{i},\"message\":\"single document write {i}\",\"level\":\"info\"}}"))
}

#[derive(Debug, Clone, serde::Serialize)]
struct Latency {
    nodes: usize,
    replicas: u32,
    /// `primary` or `no copy` (forwarded to the primary's node).
    via: String,
    latency: LatencySummary,
}

/// Sequential `PUT /{index}/_doc/{id}` through node `via`, after a warm-up.
fn latency(
    ctx: &Ctx,
    nodes: &Nodes,
    index: &str,
    via: usize,
    n: usize,
    label: &str,
    replicas: u32,
) -> anyhow::Result<Latency> {
    let es = &nodes.es[via];
    let warmup = (n / 10).max(10);
    let mut samples = Vec::with_capacity(n);
    for i in 0..warmup + n {
        let path = format!("/{index}/_doc/{label}-{i}");
        let t = Instant::now();
        let (status, body) = ctx.rt.block_on(es.raw(Method::PUT, &path, Some(small_doc(i)), "application/json"))?;
        if status != 201 {
            bail!("PUT {path} answered {status}: {}", String::from_utf8_lossy(&body));
        }
        if i >= warmup {
            samples.push(ms(t.elapsed()));
        }
    }
    Ok(Latency { nodes: nodes.procs.len(), replicas, via: label.to_string(), latency: LatencySummary::of_ms(&samples) })
}

#[derive(Debug, Clone, serde::Serialize)]
struct Writers {
    nodes: usize,
    replicas: u32,
    writers: usize,
    secs: f64,
    docs: usize,
    docs_per_sec: f64,
    latency: LatencySummary,
    /// CPU seconds of all tern processes, and of this client, over the measurement.
    server_cpu_secs: f64,
    client_cpu_secs: f64,
    /// Average cores the whole machine was busy (all processes): near 2 on this VM means the
    /// figure is CPU-bound.
    machine_busy_cores: f64,
}

/// `writers` concurrent tasks, each a loop of single-document `PUT`s for `secs`, writer `k`
/// through node `k % n`.
fn writers(ctx: &Ctx, nodes: &Nodes, index: &str, writers: usize, secs: u64, replicas: u32) -> anyhow::Result<Writers> {
    let stop = Arc::new(AtomicBool::new(false));
    let cpu0 = nodes.cpu_secs();
    let self0 = process::process_cpu_secs(std::process::id());
    let busy0 = process::machine_busy_secs();
    let started = Instant::now();
    let lat = ctx.rt.block_on(async {
        let mut tasks = Vec::new();
        for k in 0..writers {
            let es = nodes.es[k % nodes.es.len()].clone();
            let stop = stop.clone();
            let index = index.to_string();
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let path = format!("/{index}/_doc/w{writers}-{k}-{i}");
                    let t = Instant::now();
                    let (status, body) = es.raw(Method::PUT, &path, Some(small_doc(i)), "application/json").await?;
                    if status != 201 {
                        bail!("PUT {path} answered {status}: {}", String::from_utf8_lossy(&body));
                    }
                    lat.push(ms(t.elapsed()));
                    i += 1;
                }
                Ok::<_, anyhow::Error>(lat)
            }));
        }
        tokio::time::sleep(Duration::from_secs(secs)).await;
        stop.store(true, Ordering::Relaxed);
        let mut lat = Vec::new();
        for t in tasks {
            lat.extend(t.await??);
        }
        Ok::<_, anyhow::Error>(lat)
    })?;
    let secs = started.elapsed().as_secs_f64();
    let server_cpu_secs = nodes.cpu_secs() - cpu0;
    let client_cpu_secs = process::process_cpu_secs(std::process::id()) - self0;
    let machine_busy_cores = (process::machine_busy_secs() - busy0) / secs;
    Ok(Writers {
        nodes: nodes.procs.len(),
        replicas,
        writers,
        secs,
        docs: lat.len(),
        docs_per_sec: lat.len() as f64 / secs,
        latency: LatencySummary::of_ms(&lat),
        server_cpu_secs,
        client_cpu_secs,
        machine_busy_cores,
    })
}

pub fn run(ctx: &Ctx, a: &Args) -> anyhow::Result<(String, Value)> {
    eprintln!("replication: generating {} {} docs", a.docs, a.shape.name());
    let corpus = Corpus::generate(&ctx.generator, a.shape, a.docs)?;
    let small =
        json!({"properties": {"n": {"type": "long"}, "message": {"type": "text"}, "level": {"type": "keyword"}}});
    let mut ingests = Vec::new();
    let mut latencies = Vec::new();
    let mut writer_runs = Vec::new();
    for (n, replicas) in [(1usize, 0u32), (3, 1), (3, 2)] {
        eprintln!("  {n} node(s), {replicas} replica(s): starting");
        let nodes = Nodes::start(ctx, n)?;
        let ing = ingest(ctx, &nodes, &corpus, a, replicas)?;
        eprintln!("  ingest: {:.0} docs/s", ing.docs_per_sec);
        ingests.push(ing);
        if replicas < 2 {
            nodes.create_index(ctx, "latency", &small, replicas, 1)?;
            let (primary, copyless) = nodes.primary_and_copyless(ctx, "latency")?;
            latencies.push(latency(ctx, &nodes, "latency", primary, a.latency_writes, "primary", replicas)?);
            if let Some(c) = copyless {
                latencies.push(latency(ctx, &nodes, "latency", c, a.latency_writes, "no copy", replicas)?);
            }
            for w in [1, a.writers] {
                let index = format!("writers-{w}");
                nodes.create_index(ctx, &index, &small, replicas, 1)?;
                let run = writers(ctx, &nodes, &index, w, a.writer_secs, replicas)?;
                eprintln!("  {w} writer(s): {:.0} docs/s", run.docs_per_sec);
                writer_runs.push(run);
            }
        }
        nodes.stop()?;
    }
    let single = ingests[0].docs_per_sec;
    let mut md = String::new();
    md.push_str(&format!(
        "## Replicated ingest\n\n{} `{}` docs, `_bulk` of {} from {} clients (client k through node k mod n), {} shard(s), \
         durability `request`, refresh 1 s; fresh processes per row.\n\n",
        int(corpus.docs.len() as u64),
        a.shape.name(),
        a.bulk_size,
        a.clients,
        a.shards
    ));
    md.push_str(&table(
        &["nodes", "replicas", "docs/s", "vs 1 node", "bulk p50 ms", "bulk p99 ms", "tern CPU s", "client CPU s"],
        &ingests
            .iter()
            .map(|r| {
                vec![
                    r.nodes.to_string(),
                    r.replicas.to_string(),
                    int(r.docs_per_sec as u64),
                    format!("{}x", f(r.docs_per_sec / single, 2)),
                    f(r.bulk_latency.p50_ms, 1),
                    f(r.bulk_latency.p99_ms, 1),
                    f(r.server_cpu_secs, 1),
                    f(r.client_cpu_secs, 1),
                ]
            })
            .collect::<Vec<_>>(),
    ));
    md.push_str(&format!(
        "\n## Single-document write latency\n\nSequential `PUT /latency/_doc/{{id}}`, {} timed writes after a warm-up, 1 shard.\n\n",
        a.latency_writes
    ));
    md.push_str(&table(
        &["nodes", "replicas", "sent to", "p50 ms", "p90 ms", "p99 ms", "max ms"],
        &latencies
            .iter()
            .map(|r| {
                vec![
                    r.nodes.to_string(),
                    r.replicas.to_string(),
                    r.via.clone(),
                    f(r.latency.p50_ms, 2),
                    f(r.latency.p90_ms, 2),
                    f(r.latency.p99_ms, 2),
                    f(r.latency.max_ms, 2),
                ]
            })
            .collect::<Vec<_>>(),
    ));
    md.push_str(&format!(
        "\n## Concurrent writers (group commit)\n\nSingle-document `PUT`s for {} s, writer k through node k mod n, 1 shard.\n\n",
        a.writer_secs
    ));
    let mut rows = Vec::new();
    for pair in writer_runs.chunks(2) {
        if let [one, many] = pair {
            for r in [one, many] {
                rows.push(vec![
                    r.nodes.to_string(),
                    r.replicas.to_string(),
                    r.writers.to_string(),
                    int(r.docs_per_sec as u64),
                    f(r.latency.p50_ms, 2),
                    f(r.latency.p99_ms, 2),
                    if r.writers == 1 { "1x".into() } else { format!("{}x", f(r.docs_per_sec / one.docs_per_sec, 1)) },
                    f(r.server_cpu_secs * 1000.0 / r.docs.max(1) as f64, 3),
                    f(r.client_cpu_secs * 1000.0 / r.docs.max(1) as f64, 3),
                    f(r.machine_busy_cores, 2),
                ]);
            }
        }
    }
    md.push_str(&table(
        &[
            "nodes",
            "replicas",
            "writers",
            "docs/s",
            "p50 ms",
            "p99 ms",
            "vs 1 writer",
            "tern CPU ms/doc",
            "client CPU ms/doc",
            "machine busy cores",
        ],
        &rows,
    ));
    let results = json!({"ingest": ingests, "latency": latencies, "writers": writer_runs});
    Ok((md, results))
}
