//! `remote-sync`: cross-cluster sync (`crates/tern-remote-sync`) between two tern processes.
//!
//! A leader and a follower run as separate processes, each on its own temporary data directory and
//! port. The follower knows the leader as remote cluster `leader1`
//! (`cluster.remote.rest.leader1.seeds`). N corpus docs are loaded into a leader index (1 shard,
//! 0 replicas). Once merges settle, the index is `_flush`ed. Then come two measurements:
//!
//! - **Throughput.** The follower gets `remote_sync.max_bytes_per_sec` (default `"0"`, no throttle),
//!   with the default chunk size and chunks in flight unless told otherwise. `PUT start_remote_sync`
//!   into a new follower index is timed from the request until the follower's `sync_stats` shows the
//!   copy installed (`total_synced_bytes > 0`) and its `_count` equals N. `sync_stats` is polled
//!   every 10 ms, which also splits the time into phases. The baseline is a plain file copy of the
//!   leader's shard directory (`<data>/indices/<uuid>/0`): `std::fs::copy` of every file into a
//!   fresh directory on the same disk, then `fsync` of each file and of the directory. The runs
//!   interleave. Both sides read files that are in the page cache: dropping it needs root.
//! - **Lag.** The last follower index keeps following, with `index.remote_sync.sync_interval`
//!   (default 1 s). One client writes to the leader at a steady rate: by default 100-doc bulks every
//!   100 ms, 1,000 docs/s. Each doc is a corpus doc plus a sequence number (`bench_seq`) and its send
//!   time (`bench_sent_ms`). A second thread searches the leader index and then the follower index
//!   every 50 ms, each for docs with `bench_seq` above the highest it has seen there, sorted by it,
//!   descending, size 1. Each newly visible maximum on the follower is one sample: the time it was
//!   seen minus the ack time of its bulk. Every doc also gives per-document samples. These are ack
//!   to seen on the follower, and that time split in two. The first part is ack to seen in the
//!   leader's own search: its refresh, which is the commit the follower can copy. The second part is
//!   seen on the leader to seen on the follower. The writes stop after `lag_secs`. The poller then
//!   waits, for at most `timeout_secs`, until the last doc is visible on the follower.
//!
//! What the lag is made of (from the code): a doc acknowledged by the leader is only in its live
//! version map and raft log. Only a **commit** can be synced: the follower pins the leader's *last
//! commit*. In tern a refresh with pending writes *is* a commit (`ShardEngine::refresh` ->
//! `commit_locked`), so the leader's `refresh_interval` sets how often there is something new to
//! sync. The leader's refresher ticks every 100 ms and refreshes once `refresh_interval` has passed
//! since `last_refresh`, which is stamped when a refresh *ends*: a 1 s interval gives a 1.1 s
//! period (`Node::spawn_refresher`, `ShardHandle::refresh`). The follower runs one round, then
//! sleeps `sync_interval` (`follower::run`). The period of its rounds is therefore `sync_interval`
//! plus the round's own time: pin, copy, verify, fsync, and an install that restarts the shard.
//! Neither side is triggered by the other, so the wait between a commit and the next round drifts
//! with the phase of the two clocks.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use reqwest::Method;
use serde::Serialize;
use serde_json::{Value, json};

use crate::Ctx;
use crate::corpus::{Corpus, Shape};
use crate::http::Es;
use crate::process::{self, dir_size, ms};
use crate::report::{f, int, mib, table};
use crate::stats::{LatencySummary, median};
use crate::ternrun::{Bulks, IndexOptions, Load, Server, load};

/// The leader's name on the follower.
const REMOTE: &str = "leader1";
/// Fields the lag phase adds to each doc: its sequence number and the client's send time (epoch ms).
const SEQ: &str = "bench_seq";
const SENT: &str = "bench_sent_ms";
/// How often `sync_stats` is polled while a copy is timed.
const STATS_POLL: Duration = Duration::from_millis(10);

pub struct Args {
    pub shape: Shape,
    pub docs: usize,
    /// Interleaved throughput runs (sync, plain copy, sync, ...).
    pub runs: usize,
    /// Length of the steady-write phase; 0 skips the lag measurement.
    pub lag_secs: u64,
    /// Docs per second written to the leader during the lag phase.
    pub rate: u64,
    pub lag_bulk_docs: usize,
    pub poll_ms: u64,
    /// `index.remote_sync.sync_interval` of the follower indices.
    pub sync_interval: String,
    /// `refresh_interval` of the leader index.
    pub refresh_interval: String,
    /// `remote_sync.max_bytes_per_sec` on the follower.
    pub max_bytes_per_sec: String,
    pub chunk_size: Option<String>,
    pub max_concurrent_file_chunks: Option<u32>,
    /// Bound on each wait: a copy to finish, the follower to catch up after the writes.
    pub timeout_secs: u64,
}

/// CPU of the two servers and the client, and the foreign load, over a measured interval.
struct CpuMark {
    leader: f64,
    follower: f64,
    client: f64,
    machine: f64,
    at: Instant,
}

#[derive(Debug, Clone, Serialize)]
struct CpuUse {
    leader_cpu_secs: f64,
    follower_cpu_secs: f64,
    client_cpu_secs: f64,
    /// Average cores used by other processes of the machine (noise indicator).
    foreign_cores: f64,
}

impl CpuMark {
    fn now(leader: &Server, follower: &Server) -> CpuMark {
        CpuMark {
            leader: leader.proc.cpu_secs(),
            follower: follower.proc.cpu_secs(),
            client: process::process_cpu_secs(std::process::id()),
            machine: process::machine_busy_secs(),
            at: Instant::now(),
        }
    }

    fn since(&self, leader: &Server, follower: &Server) -> CpuUse {
        let now = CpuMark::now(leader, follower);
        let (l, fo, c) = (now.leader - self.leader, now.follower - self.follower, now.client - self.client);
        let secs = (now.at - self.at).as_secs_f64().max(1e-9);
        CpuUse {
            leader_cpu_secs: l,
            follower_cpu_secs: fo,
            client_cpu_secs: c,
            foreign_cores: ((now.machine - self.machine - l - fo - c) / secs).max(0.0),
        }
    }
}

/// One timed `start_remote_sync` with the throttle off.
#[derive(Debug, Clone, Serialize)]
struct SyncRun {
    local_index: String,
    /// `total_synced_bytes` / `total_synced_files` after the copy.
    bytes: u64,
    files: u64,
    /// `PUT start_remote_sync` sent -> installed and `_count` = N.
    secs: f64,
    mb_per_sec: f64,
    /// Phases seen by the 10 ms `sync_stats` polls, in ms from the request (`None` when a phase was
    /// shorter than one poll).
    put_answered_ms: f64,
    /// First poll with `current.bytes > 0`: leader pinned (and checksummed) its commit, follower
    /// sized its staging files.
    copy_started_ms: Option<f64>,
    /// First poll with `current.finished_bytes >= current.bytes`: every chunk fetched and staged.
    chunks_fetched_ms: Option<f64>,
    /// Chunk transfer alone (copy started -> chunks fetched), when both phases were seen.
    transfer_mb_per_sec: Option<f64>,
    cpu: CpuUse,
    polls: u64,
    /// The follower copy's `sync_stats` entry at the end.
    stats: Value,
}

#[derive(Debug, Clone, Serialize)]
struct CopyRun {
    files: usize,
    bytes: u64,
    secs: f64,
    mb_per_sec: f64,
    /// Of which `fsync` of the copied files and the directory.
    fsync_secs: f64,
}

fn mbps(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / 1e6 / secs
}

/// The one copy of shard 0 of `local` in a `sync_stats` answer.
fn shard0<'a>(v: &'a Value, local: &str) -> &'a Value {
    &v["indices"][local]["shards"]["0"][0]
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn start_body(a: &Args, index: &str, local: &str) -> Value {
    json!({
        "remote_cluster": REMOTE,
        "remote_index": index,
        "local_index": local,
        "settings": {"index.remote_sync.sync_interval": a.sync_interval},
    })
}

fn sync_run(
    ctx: &Ctx,
    leader: &Server,
    follower: &Server,
    a: &Args,
    index: &str,
    local: &str,
    expect_docs: u64,
) -> anyhow::Result<SyncRun> {
    let es = &follower.es;
    let cpu = CpuMark::now(leader, follower);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(a.timeout_secs);
    ctx.rt.block_on(es.json(Method::PUT, "/start_remote_sync", Some(&start_body(a, index, local))))?;
    let put_answered_ms = ms(started.elapsed());
    let (mut copy_started_ms, mut chunks_fetched_ms) = (None, None);
    let mut polls = 0;
    let (secs, stats) = loop {
        polls += 1;
        let v = ctx.rt.block_on(es.json(Method::GET, &format!("/{local}/sync_stats"), None))?;
        let at = ms(started.elapsed());
        let s = shard0(&v, local);
        let (bytes, done) = (u(&s["current"]["bytes"]), u(&s["current"]["finished_bytes"]));
        if bytes > 0 {
            copy_started_ms.get_or_insert(at);
            if done >= bytes {
                chunks_fetched_ms.get_or_insert(at);
            }
        }
        if u(&s["total_synced_bytes"]) > 0 && ctx.rt.block_on(follower.es.count(local))? == expect_docs {
            break (started.elapsed().as_secs_f64(), s.clone());
        }
        if Instant::now() > deadline {
            bail!("the copy into [{local}] did not finish within {} s; last sync_stats: {s}", a.timeout_secs);
        }
        std::thread::sleep(STATS_POLL);
    };
    let cpu = cpu.since(leader, follower);
    let bytes = u(&stats["total_synced_bytes"]);
    let transfer_mb_per_sec = match (copy_started_ms, chunks_fetched_ms) {
        (Some(s), Some(e)) if e > s => Some(mbps(bytes, (e - s) / 1000.0)),
        _ => None,
    };
    Ok(SyncRun {
        local_index: local.to_string(),
        bytes,
        files: u(&stats["total_synced_files"]),
        secs,
        mb_per_sec: mbps(bytes, secs),
        put_answered_ms,
        copy_started_ms,
        chunks_fetched_ms,
        transfer_mb_per_sec,
        cpu,
        polls,
        stats,
    })
}

/// Regular files under `dir`, as paths relative to it.
fn files_under(dir: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir.join(rel))? {
        let e = e?;
        let ty = e.file_type()?;
        let r = rel.join(e.file_name());
        if ty.is_dir() {
            files_under(dir, &r, out)?;
        } else if ty.is_file() {
            out.push(r);
        }
    }
    Ok(())
}

/// `std::fs::copy` of every file of `src` into a fresh directory under `work_dir`, then `fsync` of
/// each copy and of the directories, timed as a whole.
fn plain_copy(src: &Path, work_dir: &Path) -> anyhow::Result<CopyRun> {
    let mut files = Vec::new();
    files_under(src, Path::new(""), &mut files).with_context(|| format!("cannot list {}", src.display()))?;
    files.sort();
    let dest = tempfile::Builder::new().prefix("tern-bench-plain-copy-").tempdir_in(work_dir)?;
    let started = Instant::now();
    let mut bytes = 0;
    let mut dirs = vec![dest.path().to_path_buf()];
    for rel in &files {
        let to = dest.path().join(rel);
        if let Some(parent) = to.parent()
            && !dirs.iter().any(|d| d == parent)
        {
            std::fs::create_dir_all(parent)?;
            dirs.push(parent.to_path_buf());
        }
        bytes += std::fs::copy(src.join(rel), &to).with_context(|| format!("cannot copy {}", rel.display()))?;
    }
    let synced = Instant::now();
    for rel in &files {
        File::open(dest.path().join(rel))?.sync_all()?;
    }
    for d in &dirs {
        File::open(d)?.sync_all()?;
    }
    let secs = started.elapsed().as_secs_f64();
    Ok(CopyRun {
        files: files.len(),
        bytes,
        secs,
        mb_per_sec: mbps(bytes, secs),
        fsync_secs: synced.elapsed().as_secs_f64(),
    })
}

/// The leader index's shard 0 directory: `<data>/indices/<index.uuid>/0`.
fn shard_dir(ctx: &Ctx, server: &Server, index: &str) -> anyhow::Result<PathBuf> {
    let v = ctx.rt.block_on(server.es.json(Method::GET, &format!("/{index}/_settings"), None))?;
    let s = &v[index]["settings"];
    let uuid = s["index"]["uuid"]
        .as_str()
        .or_else(|| s["index.uuid"].as_str())
        .with_context(|| format!("no index.uuid in GET /{index}/_settings: {v}"))?;
    let dir = server.data_dir().join("indices").join(uuid).join("0");
    anyhow::ensure!(dir.is_dir(), "shard directory {} does not exist", dir.display());
    Ok(dir)
}

// ---------------------------------------------------------------------------------------------
// Lag
// ---------------------------------------------------------------------------------------------

/// Send and ack time of each bulk of the lag phase, by bulk number.
type BulkTimes = Arc<Mutex<Vec<(Option<Instant>, Option<Instant>)>>>;

/// A poll that found docs with a higher `bench_seq` than any seen before.
#[derive(Debug, Clone, Copy)]
struct Visible {
    at: Instant,
    prev_max: u64,
    max: u64,
    /// `hits.total` of the poll: docs above `prev_max` (contiguity check: should be `max - prev_max`).
    new_docs: u64,
}

/// One side the poller watches: the follower index, or the leader index's own search (a refresh
/// with pending writes is a commit, so this shows when a doc became syncable).
struct Watch {
    es: Es,
    path: String,
    max: u64,
    events: Vec<Visible>,
    latency_ms: Vec<f64>,
    errors: u64,
    last_error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
struct WatchSummary {
    polls: usize,
    errors: u64,
    last_error: Option<String>,
    search_latency: LatencySummary,
}

impl Watch {
    fn new(rt: &tokio::runtime::Runtime, base_url: String, index: &str) -> anyhow::Result<Watch> {
        Ok(Watch {
            es: rt.block_on(async { Es::new(base_url) })?,
            path: format!("/{index}/_search"),
            max: 0,
            events: Vec::new(),
            latency_ms: Vec::new(),
            errors: 0,
            last_error: None,
        })
    }

    /// One search for docs above the highest `bench_seq` seen so far, newest first.
    fn poll(&mut self, rt: &tokio::runtime::Runtime) {
        let body = json!({
            "size": 1,
            "query": {"range": {SEQ: {"gt": self.max}}},
            "sort": [{SEQ: {"order": "desc"}}],
            "_source": [SEQ],
            "track_total_hits": true,
        });
        let sent = Instant::now();
        let search = self.es.json(Method::POST, &self.path, Some(&body));
        match rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), search).await }) {
            Ok(Ok(v)) => {
                let at = Instant::now();
                self.latency_ms.push(ms(at - sent));
                let Some(hit) = v["hits"]["hits"].get(0) else { return };
                match hit["sort"][0].as_u64().or_else(|| hit["_source"][SEQ].as_u64()) {
                    Some(top) if top > self.max => {
                        let new_docs = u(&v["hits"]["total"]["value"]);
                        self.events.push(Visible { at, prev_max: self.max, max: top, new_docs });
                        self.max = top;
                    }
                    Some(_) => {}
                    None => {
                        self.errors += 1;
                        self.last_error = Some(format!("hit without a {SEQ} sort value: {hit}"));
                    }
                }
            }
            Ok(Err(e)) => {
                self.errors += 1;
                self.last_error = Some(format!("{e:#}"));
            }
            Err(_) => {
                self.errors += 1;
                self.last_error = Some("search timed out after 10 s".into());
            }
        }
    }

    fn summary(&self) -> WatchSummary {
        WatchSummary {
            polls: self.latency_ms.len() + self.errors as usize,
            errors: self.errors,
            last_error: self.last_error.clone(),
            search_latency: LatencySummary::of_ms(&self.latency_ms),
        }
    }
}

/// When the poller may stop: the writer's last sequence number, and how long it may wait for it.
type StopAt = Arc<Mutex<Option<(u64, Instant)>>>;

/// The poller thread: every `every`, one search on the leader, then one on the follower. It has its
/// own runtime and clients: pooled connections belong to the runtime that opened them, and the main
/// thread's runtime only runs while the writer waits on a bulk.
fn poller(
    leader: (String, String),
    follower: (String, String),
    every: Duration,
    stop_at: StopAt,
    hard_stop: Arc<AtomicBool>,
) -> anyhow::Result<(Watch, Watch)> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut l = Watch::new(&rt, leader.0, &leader.1)?;
    let mut f = Watch::new(&rt, follower.0, &follower.1)?;
    loop {
        if hard_stop.load(Ordering::Relaxed) {
            break;
        }
        if let Some((last, until)) = *stop_at.lock().expect("lock")
            && (f.max >= last || Instant::now() > until)
        {
            break;
        }
        let next = Instant::now() + every;
        l.poll(&rt);
        f.poll(&rt);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    Ok((l, f))
}

/// `_bulk` body of docs `first..first + n` (sequence numbers), corpus docs cycled, each with
/// `bench_seq` and `bench_sent_ms` appended.
fn lag_body(corpus: &Corpus, first: u64, n: usize, sent_ms: i64) -> Bytes {
    let mut body = Vec::with_capacity(n * 400);
    for seq in first..first + n as u64 {
        let doc = &corpus.docs[(seq as usize) % corpus.docs.len()];
        let doc = doc.trim_ascii_end();
        body.extend_from_slice(format!("{{\"index\":{{\"_id\":\"lag-{seq}\"}}}}\n").as_bytes());
        body.extend_from_slice(&doc[..doc.len() - 1]);
        body.extend_from_slice(format!(",\"{SEQ}\":{seq},\"{SENT}\":{sent_ms}}}\n").as_bytes());
    }
    Bytes::from(body)
}

/// When each sequence number `1..=last` was first seen on a side (index `seq - 1`).
fn first_seen(events: &[Visible], last: u64) -> Vec<Option<Instant>> {
    let mut out = vec![None; last as usize];
    for e in events {
        for seq in e.prev_max + 1..=e.max.min(last) {
            out[(seq - 1) as usize] = Some(e.at);
        }
    }
    out
}

fn signed_ms(later: Instant, earlier: Instant) -> f64 {
    if later >= earlier { ms(later - earlier) } else { -ms(earlier - later) }
}

#[derive(Debug, Clone, Serialize)]
struct LagResult {
    secs_planned: u64,
    rate_planned: u64,
    bulk_docs: usize,
    poll_ms: u64,
    sync_interval: String,
    leader_refresh_interval: String,
    docs_acked: u64,
    write_secs: f64,
    achieved_docs_per_sec: f64,
    bulk_latency: LatencySummary,
    /// Largest delay of a bulk behind its schedule (a slow bulk delays the next ones).
    max_schedule_slip_ms: f64,
    /// Per newly visible maximum on the follower: seen - ack of its bulk.
    newest_from_ack: LatencySummary,
    /// The same, from the bulk's send time.
    newest_from_send: LatencySummary,
    /// Per document: seen on the follower - ack of its bulk.
    per_doc_from_ack: LatencySummary,
    /// Per document: seen in the leader's own search (its refresh, which commits) - ack.
    per_doc_leader_from_ack: LatencySummary,
    /// Per document: seen on the follower - seen on the leader (the sync's own share).
    per_doc_leader_to_follower: LatencySummary,
    /// Docs the follower showed before the leader's own search did (a flush commits without
    /// making docs searchable, and the follower copies any commit).
    docs_on_follower_before_leader_search: usize,
    /// Time between successive visibility events on each side.
    follower_visibility_interval: LatencySummary,
    leader_visibility_interval: LatencySummary,
    /// Docs newly visible per follower event.
    docs_per_event_median: f64,
    /// Follower events whose `hits.total` above the previous max was not `max - prev_max` (holes).
    non_contiguous_events: usize,
    all_visible: bool,
    last_seq: u64,
    last_visible_seq: u64,
    /// Last ack -> last doc visible on the follower.
    drain_ms: Option<f64>,
    follower_polls: WatchSummary,
    leader_polls: WatchSummary,
    follower_count_after: u64,
    leader_count_after: u64,
    /// Follower rounds from just before the writes until the last doc was seen (`sync_stats`
    /// deltas), and leader refreshes (`_stats`) over the same window.
    window_secs: f64,
    rounds: u64,
    empty_rounds: u64,
    mean_round_period_ms: f64,
    synced_files: u64,
    synced_bytes: u64,
    leader_refreshes: u64,
    leader_flushes: u64,
    leader_merges: Value,
    follower_state_after: Value,
    cpu: CpuUse,
    /// Raw timeline, ms from the first bulk: `[sent, acked]` per bulk, `[seen, max bench_seq]` per
    /// visibility event on each side.
    timeline: Value,
}

fn leader_stats(ctx: &Ctx, leader: &Server, index: &str) -> Value {
    ctx.rt
        .block_on(leader.es.json(Method::GET, &format!("/{index}/_stats"), None))
        .map(|v| v["_all"]["primaries"].clone())
        .unwrap_or_else(|e| json!({"unavailable": format!("{e:#}")}))
}

fn lag_phase(
    ctx: &Ctx,
    leader: &Server,
    follower: &Server,
    a: &Args,
    corpus: &Corpus,
    index: &str,
    local: &str,
) -> anyhow::Result<LagResult> {
    let n_bulks = ((a.lag_secs * a.rate) as usize).div_ceil(a.lag_bulk_docs.max(1));
    let every = Duration::from_secs_f64(a.lag_bulk_docs as f64 / a.rate as f64);
    let times: BulkTimes = Arc::new(Mutex::new(vec![(None, None); n_bulks]));
    let stop_at: StopAt = Arc::new(Mutex::new(None));
    let hard_stop = Arc::new(AtomicBool::new(false));
    let stats0 = ctx.rt.block_on(follower.es.json(Method::GET, &format!("/{local}/sync_stats"), None))?;
    let window0 = Instant::now();
    let lstats0 = leader_stats(ctx, leader, index);
    let cpu = CpuMark::now(leader, follower);
    let poll = {
        let sides = ((leader.proc.base_url(), index.to_string()), (follower.proc.base_url(), local.to_string()));
        let (stop_at, hard_stop) = (stop_at.clone(), hard_stop.clone());
        let every = Duration::from_millis(a.poll_ms);
        std::thread::spawn(move || poller(sides.0, sides.1, every, stop_at, hard_stop))
    };
    // The poller must end whatever happens to the writer.
    struct Stop(Arc<AtomicBool>);
    impl Drop for Stop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let guard = Stop(hard_stop.clone());

    let t0 = Instant::now();
    let mut bulk_lat = Vec::with_capacity(n_bulks);
    let mut max_slip = Duration::ZERO;
    let mut acked = 0u64;
    let mut last_ack = t0;
    let mut write_error = None;
    for i in 0..n_bulks {
        let due = t0 + every * i as u32;
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        let first = (i * a.lag_bulk_docs) as u64 + 1;
        let body = lag_body(corpus, first, a.lag_bulk_docs, chrono::Utc::now().timestamp_millis());
        let sent = Instant::now();
        max_slip = max_slip.max(sent - due);
        times.lock().expect("lock")[i].0 = Some(sent);
        if let Err(e) = ctx.rt.block_on(leader.es.bulk(index, body)) {
            write_error = Some(e.context(format!("lag phase bulk #{i}")));
            break;
        }
        last_ack = Instant::now();
        times.lock().expect("lock")[i].1 = Some(last_ack);
        bulk_lat.push(ms(last_ack - sent));
        acked += a.lag_bulk_docs as u64;
    }
    let write_secs = (last_ack - t0).as_secs_f64();
    *stop_at.lock().expect("lock") = Some((acked, Instant::now() + Duration::from_secs(a.timeout_secs)));
    if let Some(e) = write_error {
        drop(guard);
        let _ = poll.join();
        return Err(e);
    }
    let (lw, fw) = poll.join().map_err(|_| anyhow::anyhow!("the poller thread panicked"))??;
    drop(guard);
    let cpu = cpu.since(leader, follower);
    let stats1 = ctx.rt.block_on(follower.es.json(Method::GET, &format!("/{local}/sync_stats"), None))?;
    let window = window0.elapsed();
    let lstats1 = leader_stats(ctx, leader, index);

    let times = times.lock().expect("lock").clone();
    let ack_of = |seq: u64| times.get(((seq - 1) as usize) / a.lag_bulk_docs).and_then(|t| t.1);
    let sent_of = |seq: u64| times.get(((seq - 1) as usize) / a.lag_bulk_docs).and_then(|t| t.0);
    let (mut newest_ack, mut newest_send, mut holes, mut per_event) = (Vec::new(), Vec::new(), 0usize, Vec::new());
    for e in &fw.events {
        if let Some(ack) = ack_of(e.max) {
            newest_ack.push(signed_ms(e.at, ack));
        }
        if let Some(sent) = sent_of(e.max) {
            newest_send.push(signed_ms(e.at, sent));
        }
        if e.new_docs != e.max - e.prev_max {
            holes += 1;
        }
        per_event.push((e.max - e.prev_max) as f64);
    }
    let intervals = |events: &[Visible]| events.windows(2).map(|w| ms(w[1].at - w[0].at)).collect::<Vec<_>>();
    let (f_seen, l_seen) = (first_seen(&fw.events, acked), first_seen(&lw.events, acked));
    let (mut per_doc, mut per_doc_leader, mut leader_to_follower, mut early) =
        (Vec::new(), Vec::new(), Vec::new(), 0usize);
    for seq in 1..=acked {
        let (f, l, ack) = (f_seen[(seq - 1) as usize], l_seen[(seq - 1) as usize], ack_of(seq));
        if let (Some(f), Some(ack)) = (f, ack) {
            per_doc.push(signed_ms(f, ack));
        }
        if let (Some(l), Some(ack)) = (l, ack) {
            per_doc_leader.push(signed_ms(l, ack));
        }
        if let (Some(f), Some(l)) = (f, l) {
            leader_to_follower.push(signed_ms(f, l));
            early += usize::from(f < l);
        }
    }
    let last_visible_seq = fw.max;
    let all_visible = acked > 0 && last_visible_seq >= acked;
    let drain_ms = fw.events.last().filter(|_| all_visible).map(|e| signed_ms(e.at, last_ack));
    let delta = |key: &str| u(&shard0(&stats1, local)[key]).saturating_sub(u(&shard0(&stats0, local)[key]));
    let rounds = delta("total_synced_times");
    ctx.rt.block_on(leader.es.refresh(index))?;
    let leader_count_after = ctx.rt.block_on(leader.es.count(index))?;
    let follower_count_after = ctx.rt.block_on(follower.es.count(local))?;
    let lu = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    Ok(LagResult {
        secs_planned: a.lag_secs,
        rate_planned: a.rate,
        bulk_docs: a.lag_bulk_docs,
        poll_ms: a.poll_ms,
        sync_interval: a.sync_interval.clone(),
        leader_refresh_interval: a.refresh_interval.clone(),
        docs_acked: acked,
        write_secs,
        achieved_docs_per_sec: acked as f64 / write_secs.max(1e-9),
        bulk_latency: LatencySummary::of_ms(&bulk_lat),
        max_schedule_slip_ms: ms(max_slip),
        newest_from_ack: LatencySummary::of_ms(&newest_ack),
        newest_from_send: LatencySummary::of_ms(&newest_send),
        per_doc_from_ack: LatencySummary::of_ms(&per_doc),
        per_doc_leader_from_ack: LatencySummary::of_ms(&per_doc_leader),
        per_doc_leader_to_follower: LatencySummary::of_ms(&leader_to_follower),
        docs_on_follower_before_leader_search: early,
        follower_visibility_interval: LatencySummary::of_ms(&intervals(&fw.events)),
        leader_visibility_interval: LatencySummary::of_ms(&intervals(&lw.events)),
        docs_per_event_median: median(&per_event),
        non_contiguous_events: holes,
        all_visible,
        last_seq: acked,
        last_visible_seq,
        drain_ms,
        follower_polls: fw.summary(),
        leader_polls: lw.summary(),
        follower_count_after,
        leader_count_after,
        window_secs: window.as_secs_f64(),
        rounds,
        empty_rounds: delta("total_empty_times"),
        mean_round_period_ms: if rounds > 0 { ms(window) / rounds as f64 } else { f64::NAN },
        synced_files: delta("total_synced_files"),
        synced_bytes: delta("total_synced_bytes"),
        leader_refreshes: lu(&lstats1, "/refresh/total").saturating_sub(lu(&lstats0, "/refresh/total")),
        leader_flushes: lu(&lstats1, "/flush/total").saturating_sub(lu(&lstats0, "/flush/total")),
        leader_merges: json!({"before": lstats0["merges"], "after": lstats1["merges"]}),
        follower_state_after: shard0(&stats1, local).clone(),
        cpu,
        timeline: json!({
            "bulks": times.iter().map(|(s, a)| json!([s.map(|s| signed_ms(s, t0)), a.map(|a| signed_ms(a, t0))])).collect::<Vec<_>>(),
            "leader_events": lw.events.iter().map(|e| json!([signed_ms(e.at, t0), e.max])).collect::<Vec<_>>(),
            "follower_events": fw.events.iter().map(|e| json!([signed_ms(e.at, t0), e.max])).collect::<Vec<_>>(),
        }),
    })
}

// ---------------------------------------------------------------------------------------------
// Run and report
// ---------------------------------------------------------------------------------------------

pub fn run(ctx: &Ctx, a: &Args) -> anyhow::Result<(String, Value)> {
    anyhow::ensure!(a.runs >= 1, "--runs must be at least 1");
    anyhow::ensure!(a.rate > 0 && a.lag_bulk_docs > 0, "--rate and --lag-bulk-docs must be positive");
    eprintln!("remote-sync: generating {} {} docs", a.docs, a.shape.name());
    let mut corpus = Corpus::generate(&ctx.generator, a.shape, a.docs)?;
    eprintln!("  generated {} docs in {:.1} s", corpus.docs.len(), corpus.generate_secs);
    // The lag phase's fields are mapped from the start, so the follower has them before any such doc.
    if let Some(props) = corpus.mappings.get_mut("properties").and_then(Value::as_object_mut) {
        props.insert(SEQ.into(), json!({"type": "long"}));
        props.insert(SENT.into(), json!({"type": "long"}));
    }
    let index = a.shape.name();
    let server = |name: &str| -> anyhow::Result<Server> {
        let dir = tempfile::Builder::new().prefix(&format!("tern-bench-{name}-")).tempdir_in(&ctx.work_dir)?;
        Server::start_with(ctx, dir, &[format!("cluster.name=bench-{name}"), format!("node.name={name}-1")])
    };
    let mut leader = server("leader")?;
    let mut follower = server("follower")?;
    eprintln!("remote-sync: leader on :{}, follower on :{}", leader.proc.port, follower.proc.port);

    let bulks = Bulks::of(&corpus, 5000);
    let opts = IndexOptions { refresh_interval: a.refresh_interval.clone(), ..Default::default() };
    let loaded: Load = load(ctx, &mut leader, &corpus, &bulks, 2, None, &opts)?;
    drop(bulks);
    eprintln!("  loaded {} docs at {:.0} docs/s; waiting for merges to settle", loaded.docs, loaded.docs_per_sec);
    let settle_secs = leader.proc.wait_quiet(0.05, Duration::from_secs(120));
    ctx.rt.block_on(leader.es.json(Method::POST, &format!("/{index}/_flush"), None))?;
    leader.proc.wait_quiet(0.05, Duration::from_secs(30));
    let shard = shard_dir(ctx, &leader, index)?;
    let (shard_bytes, _) = dir_size(&shard);
    let segments = crate::ternrun::segments_on_disk(&shard);
    eprintln!("  leader shard {}: {} MiB, {segments} segments", shard.display(), mib(shard_bytes));

    let mut settings = serde_json::Map::new();
    settings.insert(format!("cluster.remote.rest.{REMOTE}.seeds"), json!([leader.proc.base_url()]));
    settings.insert("remote_sync.max_bytes_per_sec".into(), json!(a.max_bytes_per_sec));
    if let Some(c) = &a.chunk_size {
        settings.insert("remote_sync.chunk_size".into(), json!(c));
    }
    if let Some(c) = a.max_concurrent_file_chunks {
        settings.insert("remote_sync.max_concurrent_file_chunks".into(), json!(c.to_string()));
    }
    ctx.rt.block_on(follower.es.json(
        Method::PUT,
        "/_cluster/settings",
        Some(&json!({"persistent": Value::Object(settings)})),
    ))?;
    let cluster_settings = ctx.rt.block_on(follower.es.json(
        Method::GET,
        "/_cluster/settings?include_defaults=true&flat_settings=true",
        None,
    ))?;
    let effective: BTreeMap<String, Value> = ["persistent", "defaults"]
        .iter()
        .rev()
        .flat_map(|scope| cluster_settings[*scope].as_object().cloned().unwrap_or_default())
        .filter(|(k, _)| k.starts_with("remote_sync.") || k.starts_with("cluster.remote."))
        .collect();

    let mut syncs = Vec::new();
    let mut copies = Vec::new();
    let mut local = String::new();
    for i in 0..a.runs {
        local = format!("{index}-follower-{}", i + 1);
        eprintln!("remote-sync: run {}/{}: start_remote_sync into [{local}]", i + 1, a.runs);
        let s = sync_run(ctx, &leader, &follower, a, index, &local, loaded.docs as u64)?;
        eprintln!("  {} bytes in {:.3} s = {:.1} MB/s", s.bytes, s.secs, s.mb_per_sec);
        syncs.push(s);
        if i + 1 < a.runs {
            // Only the last follower index keeps following (into the lag phase).
            ctx.rt.block_on(follower.es.json(Method::PUT, &format!("/{local}/stop_remote_sync"), Some(&json!({}))))?;
            ctx.rt.block_on(follower.es.json(Method::DELETE, &format!("/{local}"), None))?;
        }
        eprintln!("remote-sync: run {}/{}: plain copy of {}", i + 1, a.runs, shard.display());
        let c = plain_copy(&shard, &ctx.work_dir)?;
        eprintln!("  {} bytes in {:.3} s = {:.1} MB/s", c.bytes, c.secs, c.mb_per_sec);
        copies.push(c);
    }
    follower.proc.check_alive()?;
    leader.proc.check_alive()?;

    let lag = if a.lag_secs > 0 {
        eprintln!(
            "remote-sync: lag: {} docs/s for {} s into [{index}], follower [{local}] polled every {} ms",
            a.rate, a.lag_secs, a.poll_ms
        );
        let l = lag_phase(ctx, &leader, &follower, a, &corpus, index, &local)?;
        eprintln!(
            "  newest visible p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; {:.0} docs/s",
            l.newest_from_ack.p50_ms, l.newest_from_ack.p99_ms, l.newest_from_ack.max_ms, l.achieved_docs_per_sec
        );
        Some(l)
    } else {
        None
    };
    follower.proc.check_alive()?;
    leader.proc.check_alive()?;
    let follower_data_bytes = dir_size(&follower.data_dir()).0;
    let Server { proc, dir, .. } = follower;
    proc.stop(Duration::from_secs(60))?;
    drop(dir);
    let Server { proc, dir, .. } = leader;
    proc.stop(Duration::from_secs(60))?;
    drop(dir);

    let sync_med = median(&syncs.iter().map(|s| s.mb_per_sec).collect::<Vec<_>>());
    let copy_med = median(&copies.iter().map(|c| c.mb_per_sec).collect::<Vec<_>>());
    let ratio = sync_med / copy_med;
    let md = report(
        a,
        &corpus,
        &loaded,
        shard_bytes,
        segments,
        &effective,
        &syncs,
        &copies,
        sync_med,
        copy_med,
        lag.as_ref(),
    );
    let json = json!({
        "shape": a.shape, "docs": a.docs, "source_bytes": corpus.source_bytes, "runs": a.runs,
        "leader_refresh_interval": a.refresh_interval, "sync_interval": a.sync_interval,
        "follower_remote_sync_settings": effective,
        "load": loaded, "merge_settle_secs": settle_secs,
        "leader_shard_bytes": shard_bytes, "leader_segments": segments,
        "sync_runs": syncs, "plain_copy_runs": copies,
        "sync_median_mb_per_sec": sync_med, "plain_copy_median_mb_per_sec": copy_med,
        "ratio_sync_to_plain_copy": ratio,
        "follower_data_bytes_at_end": follower_data_bytes,
        "lag": lag,
    });
    Ok((md, json))
}

#[allow(clippy::too_many_arguments)]
fn report(
    a: &Args,
    corpus: &Corpus,
    loaded: &Load,
    shard_bytes: u64,
    segments: u64,
    effective: &BTreeMap<String, Value>,
    syncs: &[SyncRun],
    copies: &[CopyRun],
    sync_med: f64,
    copy_med: f64,
    lag: Option<&LagResult>,
) -> String {
    let opt = |x: Option<f64>, d: usize| x.map(|v| f(v, d)).unwrap_or_else(|| "-".into());
    let setting = |k: &str| {
        effective.get(k).map(|v| v.as_str().map(String::from).unwrap_or_else(|| v.to_string())).unwrap_or_default()
    };
    let mut md = format!(
        "## remote-sync: {} {} docs ({:.1} MB of source), leader shard {} MiB in {segments} segments after `_flush`\n\n",
        int(a.docs as u64),
        a.shape.name(),
        corpus.source_bytes as f64 / 1e6,
        mib(shard_bytes),
    );
    md += &format!(
        "Leader load: {:.0} docs/s. Follower settings: `remote_sync.max_bytes_per_sec` = `{}`, `chunk_size` = `{}`, \
         `max_concurrent_file_chunks` = `{}`; follower `index.remote_sync.sync_interval` = `{}`; leader \
         `refresh_interval` = `{}`. MB = 10^6 bytes. Both sides read files from the page cache.\n\n",
        loaded.docs_per_sec,
        setting("remote_sync.max_bytes_per_sec"),
        setting("remote_sync.chunk_size"),
        setting("remote_sync.max_concurrent_file_chunks"),
        a.sync_interval,
        a.refresh_interval,
    );
    md += &format!("### Throughput ({} interleaved runs each)\n\n", a.runs);
    md += &table(
        &[
            "run",
            "sync bytes (files)",
            "sync s",
            "sync MB/s",
            "PUT answered / copy started / chunks fetched / installed ms",
            "transfer-only MB/s",
            "leader / follower / client CPU s",
            "foreign cores",
            "plain copy bytes (files)",
            "plain copy s (fsync s)",
            "plain copy MB/s",
        ],
        &syncs
            .iter()
            .zip(copies)
            .enumerate()
            .map(|(i, (s, c))| {
                vec![
                    (i + 1).to_string(),
                    format!("{} ({})", int(s.bytes), s.files),
                    f(s.secs, 3),
                    f(s.mb_per_sec, 1),
                    format!(
                        "{} / {} / {} / {}",
                        f(s.put_answered_ms, 0),
                        opt(s.copy_started_ms, 0),
                        opt(s.chunks_fetched_ms, 0),
                        f(s.secs * 1000.0, 0)
                    ),
                    opt(s.transfer_mb_per_sec, 1),
                    format!(
                        "{} / {} / {}",
                        f(s.cpu.leader_cpu_secs, 2),
                        f(s.cpu.follower_cpu_secs, 2),
                        f(s.cpu.client_cpu_secs, 2)
                    ),
                    f(s.cpu.foreign_cores, 2),
                    format!("{} ({})", int(c.bytes), c.files),
                    format!("{} ({})", f(c.secs, 3), f(c.fsync_secs, 3)),
                    f(c.mb_per_sec, 1),
                ]
            })
            .collect::<Vec<_>>(),
    );
    md += &format!(
        "\n**sync {} MB/s vs plain copy {} MB/s (medians): ratio sync/plain copy = {}**\n\n",
        f(sync_med, 1),
        f(copy_med, 1),
        f(sync_med / copy_med, 2)
    );
    if let Some(l) = lag {
        md += &format!(
            "### Lag: {} docs/s for {} s ({}-doc bulks), leader and follower searched every {} ms\n\n",
            int(l.rate_planned),
            l.secs_planned,
            l.bulk_docs,
            l.poll_ms
        );
        let row = |name: &str, s: &LatencySummary| {
            vec![name.to_string(), s.n.to_string(), f(s.p50_ms, 0), f(s.p90_ms, 0), f(s.p99_ms, 0), f(s.max_ms, 0)]
        };
        md += &table(
            &["ms", "n", "p50", "p90", "p99", "max"],
            &[
                row("**newest newly visible doc: seen on follower - leader ack of its bulk**", &l.newest_from_ack),
                row("same, from the bulk's send", &l.newest_from_send),
                row("every doc: seen on follower - leader ack", &l.per_doc_from_ack),
                row("every doc: seen in the leader's own search (refresh = commit) - ack", &l.per_doc_leader_from_ack),
                row("every doc: seen on follower - seen in the leader's search", &l.per_doc_leader_to_follower),
                row("time between visibility events, leader", &l.leader_visibility_interval),
                row("time between visibility events, follower", &l.follower_visibility_interval),
                row("leader bulk latency", &l.bulk_latency),
                row("poll search latency, follower", &l.follower_polls.search_latency),
                row("poll search latency, leader", &l.leader_polls.search_latency),
            ],
        );
        let errors = |w: &WatchSummary| {
            format!("{}{}", w.errors, w.last_error.as_deref().map(|e| format!(" (last: {e})")).unwrap_or_default())
        };
        md += &format!(
            "\nWrites: {} docs acked in {:.1} s = **{:.0} docs/s** (max slip behind schedule {:.0} ms). \
             Docs per follower visibility event: median {:.0}; non-contiguous events: {}. All docs visible on the \
             follower: {} (last seq {}, last seen {}, last ack -> last seen {} ms; counts after: leader {}, \
             follower {}). Docs the follower showed before the leader's own search: {}. Poll errors: follower {}, \
             leader {}.\n\n\
             Over {:.1} s: {} follower rounds ({} empty), mean period {:.0} ms; {} files, {} MiB copied. \
             Leader refreshes: {}, flushes: {}. CPU s: leader {:.1}, follower {:.1}, client {:.1}; foreign load \
             {:.2} cores.\n",
            int(l.docs_acked),
            l.write_secs,
            l.achieved_docs_per_sec,
            l.max_schedule_slip_ms,
            l.docs_per_event_median,
            l.non_contiguous_events,
            if l.all_visible { "yes" } else { "NO" },
            l.last_seq,
            l.last_visible_seq,
            opt(l.drain_ms, 0),
            l.leader_count_after,
            l.follower_count_after,
            l.docs_on_follower_before_leader_search,
            errors(&l.follower_polls),
            errors(&l.leader_polls),
            l.window_secs,
            l.rounds,
            l.empty_rounds,
            l.mean_round_period_ms,
            l.synced_files,
            mib(l.synced_bytes),
            l.leader_refreshes,
            l.leader_flushes,
            l.cpu.leader_cpu_secs,
            l.cpu.follower_cpu_secs,
            l.cpu.client_cpu_secs,
            l.cpu.foreign_cores,
        );
    }
    md
}
