//! Loading a corpus into a freshly started tern: the part `ingest`, `rss`, `startup` and `search`
//! share.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use reqwest::Method;
use serde_json::{Value, json};

use crate::Ctx;
use crate::corpus::Corpus;
use crate::http::{BulkPhase, Es, send_bulks};
use crate::process::{self, Ready, TernProcess};

/// Index settings of the benchmark indices: 1 shard, 0 replicas, `refresh_interval` 1 s and
/// durability `request` unless a diagnosis run overrides them.
pub fn index_settings(refresh_interval: &str, durability: &str) -> Value {
    json!({
        "number_of_shards": 1,
        "number_of_replicas": 0,
        "refresh_interval": refresh_interval,
        "translog": {"durability": durability}
    })
}

/// How the index of a load is created.
#[derive(Debug, Clone)]
pub struct IndexOptions {
    pub refresh_interval: String,
    pub durability: String,
}

impl Default for IndexOptions {
    fn default() -> Self {
        IndexOptions { refresh_interval: "1s".into(), durability: "request".into() }
    }
}

/// A started tern on its own temporary data directory.
pub struct Server {
    pub proc: TernProcess,
    pub es: Es,
    pub ready: Ready,
    /// Owns the temporary directory (removed on drop).
    pub dir: tempfile::TempDir,
}

impl Server {
    pub fn start(ctx: &Ctx) -> anyhow::Result<Server> {
        let dir = tempfile::Builder::new().prefix("tern-bench-").tempdir_in(&ctx.work_dir)?;
        Self::start_in(ctx, dir)
    }

    pub fn start_in(ctx: &Ctx, dir: tempfile::TempDir) -> anyhow::Result<Server> {
        Self::start_with(ctx, dir, &[])
    }

    /// [`Self::start_in`] with more `-E key=value` settings.
    pub fn start_with(ctx: &Ctx, dir: tempfile::TempDir, extra: &[String]) -> anyhow::Result<Server> {
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data)?;
        let mut proc = TernProcess::spawn_with(&ctx.tern_bin, &data, &dir.path().join("tern.log"), extra)?;
        // Serving any 200 means the node has started (tern binds first, serves after start-up).
        let ready = proc.wait_ready("/", true, Duration::from_millis(2), Duration::from_secs(60))?;
        let es = Es::new(proc.base_url())?;
        Ok(Server { proc, es, ready, dir })
    }

    pub fn data_dir(&self) -> PathBuf {
        self.proc.data_dir.clone()
    }
}

/// What loading a corpus over `_bulk` measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Load {
    pub docs: usize,
    pub bulk: BulkPhase,
    pub refresh_secs: f64,
    /// First bulk sent to `_refresh` answered: the figure docs/s is computed from.
    pub secs: f64,
    pub docs_per_sec: f64,
    pub count_after_refresh: u64,
    /// tern's CPU seconds over the load (all threads).
    pub server_cpu_secs: f64,
    /// The benchmark client's CPU seconds over the load (it shares the machine).
    pub client_cpu_secs: f64,
    /// tern's CPU seconds over the load by thread group (see [`process::ThreadSampler`]).
    pub server_threads_cpu: BTreeMap<String, f64>,
    /// Average CPU cores used by other processes of the machine during the load (noise indicator).
    pub foreign_cores: f64,
    /// `GET /{index}/_stats` `_all.primaries` sections tern reported after the refresh (or why not).
    pub stats: Value,
    /// Committed segments on disk right after the refresh.
    pub segments_after_refresh: u64,
}

/// Creates `index` with the corpus mapping and sends the corpus with `clients` concurrent bulk
/// clients, then `_refresh` and `_count`. A count different from the docs sent is an error.
pub fn load(
    ctx: &Ctx,
    server: &mut Server,
    corpus: &Corpus,
    bulks: &Bulks,
    clients: usize,
    budget: Option<Duration>,
    opts: &IndexOptions,
) -> anyhow::Result<Load> {
    let index = corpus.shape.name();
    let es = server.es.clone();
    let settings = index_settings(&opts.refresh_interval, &opts.durability);
    ctx.rt.block_on(es.create_index(index, &corpus.mappings, &settings))?;
    let cpu0 = server.proc.cpu_secs();
    let self_cpu0 = process::process_cpu_secs(std::process::id());
    let sampler = process::ThreadSampler::start(server.proc.pid, Duration::from_millis(50));
    let machine0 = process::machine_busy_secs();
    let started = Instant::now();
    let bulk = ctx
        .rt
        .block_on(send_bulks(&es, index, bulks.bodies.clone(), bulks.docs_per_body.clone(), clients, budget))
        .context("bulk phase failed")?;
    let t_refresh = Instant::now();
    ctx.rt.block_on(es.refresh(index))?;
    let refresh_secs = t_refresh.elapsed().as_secs_f64();
    let secs = started.elapsed().as_secs_f64();
    let server_cpu_secs = server.proc.cpu_secs() - cpu0;
    let client_cpu_secs = process::process_cpu_secs(std::process::id()) - self_cpu0;
    let server_threads_cpu = sampler.finish();
    let foreign_cores = (process::machine_busy_secs() - machine0 - server_cpu_secs - client_cpu_secs) / secs;
    server.proc.check_alive()?;
    let count = ctx.rt.block_on(es.count(index))?;
    if count != bulk.docs_sent as u64 {
        bail!(
            "GET /{index}/_count answered {count} after _refresh, but {} documents were acknowledged",
            bulk.docs_sent
        );
    }
    // Index stats when tern serves them (apply time, refresh count/time); an error is recorded.
    let stats = match ctx.rt.block_on(es.json(Method::GET, &format!("/{index}/_stats"), None)) {
        Ok(stats) => {
            let p = &stats["_all"]["primaries"];
            json!({
                "indexing": p["indexing"], "refresh": p["refresh"], "flush": p["flush"],
                "segments_count": p["segments"]["count"], "store_size_in_bytes": p["store"]["size_in_bytes"],
            })
        }
        Err(e) => json!({"unavailable": format!("{e:#}")}),
    };
    Ok(Load {
        docs: bulk.docs_sent,
        docs_per_sec: bulk.docs_sent as f64 / secs,
        bulk,
        refresh_secs,
        secs,
        count_after_refresh: count,
        server_cpu_secs,
        client_cpu_secs,
        server_threads_cpu,
        foreign_cores: foreign_cores.max(0.0),
        stats,
        segments_after_refresh: segments_on_disk(&server.data_dir()),
    })
}

/// Segments of every tantivy index under `dir`, read from the `meta.json` files on disk (works for
/// tern's shards and for the baseline alike, whatever APIs tern serves).
pub fn segments_on_disk(dir: &std::path::Path) -> u64 {
    let mut n = 0;
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            n += segments_on_disk(&p);
        } else if p.file_name().is_some_and(|f| f == "meta.json") {
            let segs = std::fs::read(&p)
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .and_then(|v| v.get("segments").and_then(Value::as_array).map(Vec::len));
            n += segs.unwrap_or(0) as u64;
        }
    }
    n
}

/// A corpus as prebuilt `_bulk` bodies.
pub struct Bulks {
    pub bodies: Arc<Vec<Bytes>>,
    /// How many docs each body carries.
    pub docs_per_body: Arc<Vec<usize>>,
}

impl Bulks {
    pub fn of(corpus: &Corpus, batch: usize) -> Bulks {
        let total = corpus.docs.len();
        Bulks {
            bodies: Arc::new(corpus.bulk_bodies(batch)),
            docs_per_body: Arc::new((0..total.div_ceil(batch)).map(|i| batch.min(total - i * batch)).collect()),
        }
    }
}
