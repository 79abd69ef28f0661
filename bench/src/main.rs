//! `tern-bench`: the comparison harness for tern.
//!
//! It measures the `tern` release binary over HTTP, as a client would, against **embedded tantivy**
//! on the same documents. This crate depends on tantivy directly: tantivy is the *baseline* here, not
//! product code, so the "tantivy only inside tern-shard" rule of the architecture does not apply to it
//! (nothing depends on this crate, and it is never shipped).
//!
//! Subcommands (each prints a markdown report to stdout and, with `--json FILE`, writes the raw
//! figures):
//! - `ingest`: `_bulk` into tern (2 clients x 5,000 docs, durability `request`, refresh 1 s) vs one
//!   tantivy indexing thread with a single commit; interleaved runs, medians and the ratio.
//! - `startup`: spawn to first `200` of `GET /_cluster/health`, empty data dir and with an index.
//! - `rss`: tern's `VmRSS` idle, after a large load, after queries; data directory size.
//! - `search`: per-query p50/p99 of tern (HTTP) vs a hand translation into tantivy queries, hit
//!   count equality, and throughput with concurrent clients.
//! - `remote-sync`: two tern processes, leader and follower. Cross-cluster sync throughput with the
//!   throttle off vs a plain file copy of the same shard, and sync lag under steady writes.
//!
//! - `replication`: 1 node vs 3 nodes on loopback: bulk ingest with 1 and 2 replicas, single-doc
//!   write latency, and 1 vs 64 concurrent writers (group commit).
//!
//! Corpus, mappings and queries come from the shared `gen.py` (see its README). Everything runs on
//! the same machine: the client's CPU use is reported next to the server's so a reader can tell
//! when the load generator, not tern, is the limit.

mod baseline;
mod corpus;
mod http;
mod ingest;
mod process;
mod remote_sync;
mod replication;
mod report;
mod rss;
mod search;
mod startup;
mod stats;
mod ternrun;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use serde_json::json;

use crate::corpus::Shape;

/// Indexing memory of the baseline's single writer thread: the same as a tern shard's writer.
pub const TANTIVY_MEMORY_BUDGET: usize = 32 << 20;

#[derive(Debug, Parser)]
#[command(name = "tern-bench", about = "tern over HTTP vs embedded tantivy, on the shared gen.py corpus")]
struct Cli {
    /// The tern binary under test.
    #[arg(long, global = true, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/tern"))]
    tern: PathBuf,
    /// The corpus generator.
    #[arg(long = "gen", global = true, default_value = "/work/shared/corpus/gen.py")]
    generator: PathBuf,
    /// Where temporary data directories go (must be a disk, not tmpfs, for durable runs).
    #[arg(long, global = true, default_value_os_t = std::env::temp_dir())]
    work_dir: PathBuf,
    /// How the embedded-tantivy baseline analyzes text fields.
    #[arg(long, global = true, value_enum, default_value = "standard")]
    baseline_tokenizer: baseline::TextTokenizer,
    /// Also write the figures as JSON to this file.
    #[arg(long, global = true)]
    json: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// HTTP `_bulk` ingest into tern vs embedded tantivy indexing, interleaved runs.
    Ingest {
        #[arg(long, default_value_t = 200_000)]
        docs: usize,
        #[arg(long, value_enum, default_value = "logs")]
        shape: Shape,
        /// Runs per system (tern, tantivy, tern, tantivy, ...).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        #[arg(long, default_value_t = 5000)]
        bulk_size: usize,
        #[arg(long, default_value_t = 2)]
        clients: usize,
        /// Diagnosis only: the index's `refresh_interval` (e.g. `-1`).
        #[arg(long, default_value = "1s", allow_hyphen_values = true)]
        refresh_interval: String,
        /// Diagnosis only: `index.translog.durability` (`request` or `async`).
        #[arg(long, default_value = "request")]
        durability: String,
    },
    /// Spawn to first 200 of `GET /_cluster/health`: empty data dir and with an existing index.
    Startup {
        #[arg(long, default_value_t = 10)]
        runs: usize,
        /// Logs docs in the existing index.
        #[arg(long, default_value_t = 200_000)]
        docs: usize,
    },
    /// tern RSS idle and after loading logs docs; data dir size.
    Rss {
        #[arg(long, default_value_t = 1_000_000)]
        docs: usize,
        /// Stop sending bulks after this many seconds and report how far it got.
        #[arg(long, default_value_t = 300)]
        budget_secs: u64,
        /// Keep tern running this long after measuring, to inspect it (diagnosis).
        #[arg(long, default_value_t = 0)]
        hold_secs: u64,
    },
    /// Per-query latency (tern HTTP vs embedded tantivy), hit counts, concurrent throughput.
    Search {
        #[arg(long, default_value_t = 200_000)]
        docs: usize,
        /// Shapes to run (repeatable); both by default.
        #[arg(long, value_enum)]
        shape: Vec<Shape>,
        /// Timed sequential runs per query.
        #[arg(long, default_value_t = 200)]
        iters: usize,
        #[arg(long, default_value_t = 20)]
        warmup: usize,
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        #[arg(long, default_value_t = 10)]
        duration_secs: u64,
        /// Per query and system, stop the sequential timing after this many seconds.
        #[arg(long, default_value_t = 15)]
        max_secs_per_query: u64,
    },
    /// Cross-cluster sync between two tern processes: copy throughput with the throttle off vs a
    /// plain file copy of the leader's shard, and sync lag (leader ack -> visible on the follower)
    /// under steady writes.
    RemoteSync {
        /// Docs in the leader index before the copy.
        #[arg(long, default_value_t = 200_000)]
        docs: usize,
        #[arg(long, value_enum, default_value = "logs")]
        shape: Shape,
        /// Throughput runs (sync into a new follower index, plain copy, sync, ...).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Seconds of steady writes in the lag phase (0 skips it).
        #[arg(long, default_value_t = 30)]
        lag_secs: u64,
        /// Docs per second written to the leader in the lag phase.
        #[arg(long, default_value_t = 1000)]
        rate: u64,
        /// Docs per bulk in the lag phase (one bulk every lag_bulk_docs/rate seconds).
        #[arg(long, default_value_t = 100)]
        lag_bulk_docs: usize,
        /// How often the follower is searched for newly visible docs in the lag phase.
        #[arg(long, default_value_t = 50)]
        poll_ms: u64,
        /// `index.remote_sync.sync_interval` of the follower indices.
        #[arg(long, default_value = "1s")]
        sync_interval: String,
        /// The leader index's `refresh_interval` (a refresh with pending writes is a commit, and
        /// only commits are synced).
        #[arg(long, default_value = "1s", allow_hyphen_values = true)]
        refresh_interval: String,
        /// `remote_sync.max_bytes_per_sec` on the follower ("0" = unlimited).
        #[arg(long, default_value = "0")]
        max_bytes_per_sec: String,
        /// `remote_sync.chunk_size` on the follower (default: tern's, 1mb).
        #[arg(long)]
        chunk_size: Option<String>,
        /// `remote_sync.max_concurrent_file_chunks` on the follower (default: tern's, 10).
        #[arg(long)]
        max_concurrent_file_chunks: Option<u32>,
        /// Bound on each wait: one copy to finish, the follower to show the last doc.
        #[arg(long, default_value_t = 300)]
        timeout_secs: u64,
    },
    /// Replication costs: bulk ingest on 1 node vs 3 nodes with 1 and 2 replicas (same corpus),
    /// single-document write latency 1 vs 3 nodes, 1 vs many concurrent writers.
    Replication {
        #[arg(long, default_value_t = 100_000)]
        docs: usize,
        #[arg(long, value_enum, default_value = "logs")]
        shape: Shape,
        #[arg(long, default_value_t = 1000)]
        bulk_size: usize,
        /// Concurrent bulk clients (client k sends through node k mod n).
        #[arg(long, default_value_t = 3)]
        clients: usize,
        #[arg(long, default_value_t = 1)]
        shards: u32,
        /// Timed sequential single-document writes per configuration.
        #[arg(long, default_value_t = 500)]
        latency_writes: usize,
        /// Concurrent writers compared with one writer.
        #[arg(long, default_value_t = 64)]
        writers: usize,
        /// Seconds of each writers measurement.
        #[arg(long, default_value_t = 10)]
        writer_secs: u64,
    },
}

/// What every subcommand needs.
pub struct Ctx {
    pub tern_bin: PathBuf,
    pub generator: PathBuf,
    pub work_dir: PathBuf,
    pub tokenizer: baseline::TextTokenizer,
    /// A current-thread runtime: the HTTP client uses at most one core of the shared machine.
    pub rt: tokio::runtime::Runtime,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let tern_bin = cli.tern.canonicalize().with_context(|| format!("tern binary {} not found", cli.tern.display()))?;
    anyhow::ensure!(cli.generator.exists(), "corpus generator {} not found", cli.generator.display());
    let ctx = Ctx {
        tern_bin,
        generator: cli.generator.clone(),
        work_dir: cli.work_dir.clone(),
        tokenizer: cli.baseline_tokenizer,
        rt: tokio::runtime::Builder::new_current_thread().enable_all().build()?,
    };
    let machine = report::machine(&ctx.tern_bin);
    let (name, (md, results)) = match &cli.cmd {
        Cmd::Ingest { docs, shape, runs, bulk_size, clients, refresh_interval, durability } => (
            "ingest",
            ingest::run(
                &ctx,
                &ingest::Args {
                    shape: *shape,
                    docs: *docs,
                    runs: *runs,
                    bulk_size: *bulk_size,
                    clients: *clients,
                    index: ternrun::IndexOptions {
                        refresh_interval: refresh_interval.clone(),
                        durability: durability.clone(),
                    },
                },
            )?,
        ),
        Cmd::Startup { runs, docs } => ("startup", startup::run(&ctx, &startup::Args { runs: *runs, docs: *docs })?),
        Cmd::Rss { docs, budget_secs, hold_secs } => {
            ("rss", rss::run(&ctx, &rss::Args { docs: *docs, budget_secs: *budget_secs, hold_secs: *hold_secs })?)
        }
        Cmd::Search { docs, shape, iters, warmup, concurrency, duration_secs, max_secs_per_query } => {
            let shapes = if shape.is_empty() { vec![Shape::Logs, Shape::Articles] } else { shape.clone() };
            (
                "search",
                search::run(
                    &ctx,
                    &search::Args {
                        shapes,
                        docs: *docs,
                        iters: *iters,
                        warmup: *warmup,
                        concurrency: *concurrency,
                        duration_secs: *duration_secs,
                        max_secs_per_query: *max_secs_per_query,
                    },
                )?,
            )
        }
        Cmd::RemoteSync {
            docs,
            shape,
            runs,
            lag_secs,
            rate,
            lag_bulk_docs,
            poll_ms,
            sync_interval,
            refresh_interval,
            max_bytes_per_sec,
            chunk_size,
            max_concurrent_file_chunks,
            timeout_secs,
        } => (
            "remote-sync",
            remote_sync::run(
                &ctx,
                &remote_sync::Args {
                    shape: *shape,
                    docs: *docs,
                    runs: *runs,
                    lag_secs: *lag_secs,
                    rate: *rate,
                    lag_bulk_docs: *lag_bulk_docs,
                    poll_ms: *poll_ms,
                    sync_interval: sync_interval.clone(),
                    refresh_interval: refresh_interval.clone(),
                    max_bytes_per_sec: max_bytes_per_sec.clone(),
                    chunk_size: chunk_size.clone(),
                    max_concurrent_file_chunks: *max_concurrent_file_chunks,
                    timeout_secs: *timeout_secs,
                },
            )?,
        ),
        Cmd::Replication { docs, shape, bulk_size, clients, shards, latency_writes, writers, writer_secs } => (
            "replication",
            replication::run(
                &ctx,
                &replication::Args {
                    shape: *shape,
                    docs: *docs,
                    bulk_size: *bulk_size,
                    clients: *clients,
                    shards: *shards,
                    latency_writes: *latency_writes,
                    writers: *writers,
                    writer_secs: *writer_secs,
                },
            )?,
        ),
    };
    println!("# tern-bench {name}\n\n{}\n{md}", report::machine_md(&machine));
    if let Some(path) = &cli.json {
        let out = json!({
            "command": name,
            "args": std::env::args().collect::<Vec<_>>(),
            "machine": machine,
            "baseline_tokenizer": ctx.tokenizer,
            "results": results,
        });
        std::fs::write(path, serde_json::to_vec_pretty(&out)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
