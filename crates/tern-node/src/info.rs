//! Cluster health, node and index statistics as the `_cluster`, `_nodes`, `_stats` and `_cat` APIs
//! report them.
//!
//! # The single-node routing table
//!
//! tern does not keep an ES routing table; it is derived here from the metadata and the shards this
//! node runs. The node is the elected master and the only node, so:
//!
//! - every primary of an open index is `STARTED` here once its shard is open (a shard that is not open
//!   yet, or failed to open, is `INITIALIZING`, which makes the index red as in ES);
//! - closed indices are reported like ES 8 reports replicated closed indices: their primaries count
//!   as started (the data is on this node), so closing an index does not change health;
//! - replicas (`number_of_replicas`, or the minimum of `auto_expand_replicas` on one node) are
//!   `UNASSIGNED`: ES never puts two copies of a shard on one node. Any replica makes health yellow.
//!
//! The computation is split into pure functions over [`IndexMetadata`] (unit-tested below) and thin
//! [`Node`] methods that feed them the open shards.
//!
//! # Operating-system figures
//!
//! Process and OS numbers come from `/proc` (Linux); file-system figures of the data path from
//! `df -Pk`. Whatever cannot be read is `None` and the REST layer leaves it out rather than invent
//! it. tern has no JVM: where ES reports heap, tern reports the process's resident memory against
//! the machine's physical memory (documented at [`ProcessStats`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::Value;
use tern_cluster::{
    BlockDescription, BlockLevel, ClusterMetadata, FlatSettings, IndexMetadata, IndexState, MetadataCommand,
    MetadataOutcome,
};
use tern_common::EsError;

use crate::node::{Node, now_millis};
use crate::shard::ShardHandle;

// ---------------------------------------------------------------------------------------------
// Health
// ---------------------------------------------------------------------------------------------

/// ES's cluster health colours, ordered so that "at least as good as" is `<=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HealthStatus {
    Green,
    Yellow,
    Red,
}

impl HealthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Green => "green",
            HealthStatus::Yellow => "yellow",
            HealthStatus::Red => "red",
        }
    }

    /// Parses `green`, `yellow`, `red` (any case).
    pub fn parse(s: &str) -> Option<HealthStatus> {
        match s.to_ascii_lowercase().as_str() {
            "green" => Some(HealthStatus::Green),
            "yellow" => Some(HealthStatus::Yellow),
            "red" => Some(HealthStatus::Red),
            _ => None,
        }
    }
}

/// The state of one shard copy (ES's `ShardRoutingState`, without `RELOCATING`: nothing relocates on
/// one node).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ShardState {
    Started,
    Initializing,
    Unassigned,
}

impl ShardState {
    pub fn as_str(self) -> &'static str {
        match self {
            ShardState::Started => "STARTED",
            ShardState::Initializing => "INITIALIZING",
            ShardState::Unassigned => "UNASSIGNED",
        }
    }

    pub fn is_active(self) -> bool {
        self == ShardState::Started
    }
}

/// Why a copy is unassigned (ES's `UnassignedInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnassignedInfo {
    /// `INDEX_CREATED` or `CLUSTER_RECOVERED`.
    pub reason: &'static str,
    pub at_millis: i64,
    pub details: Option<String>,
}

/// One shard copy in the routing table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardRouting {
    pub index: String,
    pub index_uuid: String,
    pub shard: u32,
    pub primary: bool,
    pub state: ShardState,
    /// The node holding the copy (this node), `None` when unassigned.
    pub node_id: Option<String>,
    /// A stable allocation id for an assigned copy.
    pub allocation_id: Option<String>,
    pub unassigned: Option<UnassignedInfo>,
}

/// All copies of all shards of one index: `shards[n]` is `[primary, replica...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexRouting {
    pub index: String,
    pub shards: Vec<Vec<ShardRouting>>,
}

impl IndexRouting {
    pub fn copies(&self) -> impl Iterator<Item = &ShardRouting> {
        self.shards.iter().flatten()
    }
}

/// The replica count in effect: on one node `auto_expand_replicas` settles on its minimum.
pub fn effective_replicas(im: &IndexMetadata) -> u32 {
    match im.settings.auto_expand_replicas() {
        Some(auto) => auto.min.min(auto.max.unwrap_or(u32::MAX)),
        None => im.number_of_replicas(),
    }
}

/// A short id derived from `parts` (FNV-1a over them, rendered as ES-style URL-safe base64 of 16
/// bytes, 22 characters): stable across calls, so allocation ids and state uuids do not flicker.
pub fn stable_id(parts: &[&str]) -> String {
    use base64::Engine;
    let mut bytes = [0u8; 16];
    for (half, seed) in [(0usize, 0xcbf29ce484222325u64), (8, 0x84222325cbf29ce4u64)] {
        let mut h = seed;
        for p in parts {
            for b in p.bytes().chain(std::iter::once(0xff)) {
                h ^= b as u64;
                h = h.wrapping_mul(0x100000001b3);
            }
        }
        bytes[half..half + 8].copy_from_slice(&h.to_le_bytes());
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The routing of one index on this node. `primary_open(shard)` says whether the shard runs here;
/// `node_started_millis` decides whether unassigned replicas date from the index's creation or from
/// this node's start.
pub fn index_routing(
    im: &IndexMetadata,
    node_id: &str,
    node_started_millis: i64,
    primary_open: impl Fn(u32) -> bool,
) -> IndexRouting {
    let replicas = effective_replicas(im);
    let unassigned = if im.creation_date >= node_started_millis {
        UnassignedInfo { reason: "INDEX_CREATED", at_millis: im.creation_date, details: None }
    } else {
        UnassignedInfo { reason: "CLUSTER_RECOVERED", at_millis: node_started_millis, details: None }
    };
    let shards = (0..im.number_of_shards())
        .map(|shard| {
            let started = im.state == IndexState::Close || primary_open(shard);
            let mut copies = Vec::with_capacity(1 + replicas as usize);
            copies.push(ShardRouting {
                index: im.name.clone(),
                index_uuid: im.uuid.clone(),
                shard,
                primary: true,
                state: if started { ShardState::Started } else { ShardState::Initializing },
                node_id: Some(node_id.to_string()),
                allocation_id: Some(stable_id(&[&im.uuid, &shard.to_string(), "p"])),
                unassigned: None,
            });
            for _ in 0..replicas {
                copies.push(ShardRouting {
                    index: im.name.clone(),
                    index_uuid: im.uuid.clone(),
                    shard,
                    primary: false,
                    state: ShardState::Unassigned,
                    node_id: None,
                    allocation_id: None,
                    unassigned: Some(unassigned.clone()),
                });
            }
            copies
        })
        .collect();
    IndexRouting { index: im.name.clone(), shards }
}

/// Health of one shard (all its copies), ES's `ClusterShardHealth`.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardHealth {
    pub shard: u32,
    pub status: HealthStatus,
    pub primary_active: bool,
    pub active_shards: u32,
    pub relocating_shards: u32,
    pub initializing_shards: u32,
    pub unassigned_shards: u32,
    pub unassigned_primary_shards: u32,
}

/// Health of one index, ES's `ClusterIndexHealth`.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexHealth {
    pub index: String,
    pub status: HealthStatus,
    pub number_of_shards: u32,
    pub number_of_replicas: u32,
    pub active_primary_shards: u32,
    pub active_shards: u32,
    pub relocating_shards: u32,
    pub initializing_shards: u32,
    pub unassigned_shards: u32,
    pub unassigned_primary_shards: u32,
    pub shards: Vec<ShardHealth>,
}

/// ES's `ClusterHealthResponse` without the wait outcome (`timed_out`), which the caller adds.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterHealth {
    pub cluster_name: String,
    pub status: HealthStatus,
    pub number_of_nodes: u32,
    pub number_of_data_nodes: u32,
    pub active_primary_shards: u32,
    pub active_shards: u32,
    pub relocating_shards: u32,
    pub initializing_shards: u32,
    pub unassigned_shards: u32,
    pub unassigned_primary_shards: u32,
    pub delayed_unassigned_shards: u32,
    pub number_of_pending_tasks: u32,
    pub number_of_in_flight_fetch: u32,
    pub task_max_waiting_in_queue_millis: u64,
    pub active_shards_percent: f64,
    /// The requested indices, by name.
    pub indices: BTreeMap<String, IndexHealth>,
}

pub fn shard_health(shard: u32, copies: &[ShardRouting]) -> ShardHealth {
    let mut h = ShardHealth {
        shard,
        status: HealthStatus::Red,
        primary_active: false,
        active_shards: 0,
        relocating_shards: 0,
        initializing_shards: 0,
        unassigned_shards: 0,
        unassigned_primary_shards: 0,
    };
    for c in copies {
        match c.state {
            ShardState::Started => {
                h.active_shards += 1;
                if c.primary {
                    h.primary_active = true;
                }
            }
            ShardState::Initializing => h.initializing_shards += 1,
            ShardState::Unassigned => {
                h.unassigned_shards += 1;
                if c.primary {
                    h.unassigned_primary_shards += 1;
                }
            }
        }
    }
    h.status = if !h.primary_active {
        HealthStatus::Red
    } else if h.active_shards as usize == copies.len() {
        HealthStatus::Green
    } else {
        HealthStatus::Yellow
    };
    h
}

pub fn index_health(im: &IndexMetadata, routing: &IndexRouting) -> IndexHealth {
    let mut h = IndexHealth {
        index: im.name.clone(),
        status: HealthStatus::Green,
        number_of_shards: im.number_of_shards(),
        number_of_replicas: effective_replicas(im),
        active_primary_shards: 0,
        active_shards: 0,
        relocating_shards: 0,
        initializing_shards: 0,
        unassigned_shards: 0,
        unassigned_primary_shards: 0,
        shards: Vec::new(),
    };
    for (n, copies) in routing.shards.iter().enumerate() {
        let s = shard_health(n as u32, copies);
        if s.primary_active {
            h.active_primary_shards += 1;
        }
        h.active_shards += s.active_shards;
        h.relocating_shards += s.relocating_shards;
        h.initializing_shards += s.initializing_shards;
        h.unassigned_shards += s.unassigned_shards;
        h.unassigned_primary_shards += s.unassigned_primary_shards;
        h.status = h.status.max(s.status);
        h.shards.push(s);
    }
    if routing.shards.is_empty() {
        h.status = HealthStatus::Red;
    }
    h
}

/// Cluster health over the `requested` indices; `all` is every index's routing (the active-shards
/// percentage is cluster-wide in ES, and 100 when the requested indices are green).
pub fn cluster_health(
    cluster_name: &str,
    data_nodes: u32,
    requested: Vec<IndexHealth>,
    all: &[IndexRouting],
) -> ClusterHealth {
    let mut h = ClusterHealth {
        cluster_name: cluster_name.to_string(),
        status: HealthStatus::Green,
        number_of_nodes: 1,
        number_of_data_nodes: data_nodes,
        active_primary_shards: 0,
        active_shards: 0,
        relocating_shards: 0,
        initializing_shards: 0,
        unassigned_shards: 0,
        unassigned_primary_shards: 0,
        delayed_unassigned_shards: 0,
        number_of_pending_tasks: 0,
        number_of_in_flight_fetch: 0,
        task_max_waiting_in_queue_millis: 0,
        active_shards_percent: 100.0,
        indices: BTreeMap::new(),
    };
    for ih in requested {
        h.active_primary_shards += ih.active_primary_shards;
        h.active_shards += ih.active_shards;
        h.relocating_shards += ih.relocating_shards;
        h.initializing_shards += ih.initializing_shards;
        h.unassigned_shards += ih.unassigned_shards;
        h.unassigned_primary_shards += ih.unassigned_primary_shards;
        h.status = h.status.max(ih.status);
        h.indices.insert(ih.index.clone(), ih);
    }
    if h.status != HealthStatus::Green {
        let (active, total) =
            all.iter().flat_map(|r| r.copies()).fold((0u64, 0u64), |(a, t), c| (a + c.state.is_active() as u64, t + 1));
        h.active_shards_percent = if total == 0 { 100.0 } else { active as f64 * 100.0 / total as f64 };
    }
    h
}

// ---------------------------------------------------------------------------------------------
// Shard and index statistics
// ---------------------------------------------------------------------------------------------

/// The per-shard counters `_stats`, `_nodes/stats` and `_cat` report. Times are milliseconds.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ShardStats {
    pub docs_count: u64,
    pub docs_deleted: u64,
    pub store_size_bytes: u64,
    pub index_total: u64,
    pub index_time_millis: u64,
    pub index_failed: u64,
    pub delete_total: u64,
    pub noop_update_total: u64,
    pub get_total: u64,
    pub get_exists_total: u64,
    pub get_missing_total: u64,
    pub query_total: u64,
    pub query_time_millis: u64,
    pub fetch_total: u64,
    pub refresh_total: u64,
    pub refresh_time_millis: u64,
    pub flush_total: u64,
    pub segments_count: u64,
    /// Highest `_seq_no` applied (`-1` for an empty shard); aggregated as a maximum.
    pub max_seq_no: i64,
    /// Open scroll contexts (node-wide; only filled in node aggregates).
    pub open_contexts: u64,
    /// Number of shard copies aggregated into this value.
    pub shard_count: u64,
}

impl ShardStats {
    /// The figures of one open shard. Blocking: counts documents and walks the shard directory.
    pub fn of(engine: &tern_shard::ShardEngine) -> ShardStats {
        let c = &engine.counters;
        let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        ShardStats {
            docs_count: engine.doc_count(),
            docs_deleted: engine.deleted_count(),
            store_size_bytes: engine.store_size_bytes(),
            index_total: get(&c.index_total),
            index_time_millis: get(&c.index_time_nanos) / 1_000_000,
            index_failed: get(&c.index_failed),
            delete_total: get(&c.delete_total),
            noop_update_total: get(&c.noop_update_total),
            get_total: get(&c.get_total),
            get_exists_total: get(&c.get_exists_total),
            get_missing_total: get(&c.get_missing_total),
            query_total: get(&c.query_total),
            query_time_millis: get(&c.query_time_nanos) / 1_000_000,
            fetch_total: get(&c.fetch_total),
            refresh_total: get(&c.refresh_total),
            refresh_time_millis: get(&c.refresh_time_nanos) / 1_000_000,
            flush_total: get(&c.flush_total),
            segments_count: engine.segment_count() as u64,
            max_seq_no: engine.max_seq_no(),
            open_contexts: 0,
            shard_count: 1,
        }
    }

    /// A shard that holds nothing (an empty aggregate starts here).
    pub fn empty() -> ShardStats {
        ShardStats { max_seq_no: -1, ..Default::default() }
    }

    pub fn add(&mut self, o: &ShardStats) {
        self.docs_count += o.docs_count;
        self.docs_deleted += o.docs_deleted;
        self.store_size_bytes += o.store_size_bytes;
        self.index_total += o.index_total;
        self.index_time_millis += o.index_time_millis;
        self.index_failed += o.index_failed;
        self.delete_total += o.delete_total;
        self.noop_update_total += o.noop_update_total;
        self.get_total += o.get_total;
        self.get_exists_total += o.get_exists_total;
        self.get_missing_total += o.get_missing_total;
        self.query_total += o.query_total;
        self.query_time_millis += o.query_time_millis;
        self.fetch_total += o.fetch_total;
        self.refresh_total += o.refresh_total;
        self.refresh_time_millis += o.refresh_time_millis;
        self.flush_total += o.flush_total;
        self.segments_count += o.segments_count;
        self.max_seq_no = self.max_seq_no.max(o.max_seq_no);
        self.open_contexts += o.open_contexts;
        self.shard_count += o.shard_count;
    }
}

/// One shard copy with its statistics (`None` for an unassigned copy).
#[derive(Debug, Clone)]
pub struct ShardCopyStats {
    pub routing: ShardRouting,
    pub stats: Option<ShardStats>,
    /// The applied raft position stored with the last durable commit, if any.
    pub committed_marker: Option<String>,
    pub path: Option<PathBuf>,
    pub primary_term: u64,
}

/// One index as `_stats` reports it.
#[derive(Debug, Clone)]
pub struct IndexStats {
    pub index: String,
    pub uuid: String,
    pub state: IndexState,
    pub health: HealthStatus,
    pub copies: Vec<ShardCopyStats>,
}

impl IndexStats {
    fn sum(&self, primaries_only: bool) -> ShardStats {
        let mut s = ShardStats::empty();
        for c in &self.copies {
            if primaries_only && !c.routing.primary {
                continue;
            }
            if let Some(st) = &c.stats {
                s.add(st);
            }
        }
        s
    }

    pub fn primaries(&self) -> ShardStats {
        self.sum(true)
    }

    pub fn total(&self) -> ShardStats {
        self.sum(false)
    }

    /// Shard copies, and those that answered (assigned ones).
    pub fn shard_counts(&self) -> (u32, u32) {
        let total = self.copies.len() as u32;
        let ok = self.copies.iter().filter(|c| c.stats.is_some()).count() as u32;
        (total, ok)
    }
}

/// One segment of one shard, for `_cat/segments`.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentInfo {
    pub index: String,
    pub shard: u32,
    pub primary: bool,
    pub name: String,
    pub generation: u64,
    pub docs_count: u64,
    pub docs_deleted: u64,
    pub size_bytes: u64,
}

// ---------------------------------------------------------------------------------------------
// Process, OS and file system
// ---------------------------------------------------------------------------------------------

/// The tern process. ES's heap figures have no JVM counterpart here: the REST layer reports
/// `mem_resident_bytes` as the heap in use and the machine's physical memory as the heap maximum,
/// because that is the memory the process can actually grow into.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcessStats {
    pub pid: u32,
    pub open_file_descriptors: Option<u64>,
    pub max_file_descriptors: Option<u64>,
    /// Recent CPU use of the process, percent of all CPUs.
    pub cpu_percent: Option<u32>,
    pub cpu_total_millis: Option<u64>,
    pub mem_resident_bytes: Option<u64>,
    pub mem_virtual_bytes: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct OsStats {
    pub name: String,
    pub pretty_name: Option<String>,
    pub arch: String,
    pub version: Option<String>,
    pub available_processors: u32,
    /// Recent CPU use of the whole machine, percent.
    pub cpu_percent: Option<u32>,
    pub load_average: Option<[f64; 3]>,
    pub mem_total_bytes: Option<u64>,
    /// `MemAvailable`: what can be allocated without swapping.
    pub mem_free_bytes: Option<u64>,
    pub swap_total_bytes: Option<u64>,
    pub swap_free_bytes: Option<u64>,
}

impl OsStats {
    pub fn mem_used_bytes(&self) -> Option<u64> {
        Some(self.mem_total_bytes?.saturating_sub(self.mem_free_bytes?))
    }

    /// Used memory, whole percent (ES rounds `used * 100 / total`).
    pub fn mem_used_percent(&self) -> Option<u32> {
        let total = self.mem_total_bytes.filter(|t| *t > 0)?;
        Some(((self.mem_used_bytes()? as f64 * 100.0 / total as f64).round()) as u32)
    }
}

/// The file system holding the data path.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FsStats {
    pub path: String,
    pub mount: String,
    pub fs_type: String,
    pub total_bytes: u64,
    /// Free including blocks reserved for root.
    pub free_bytes: u64,
    /// Free for this (unprivileged) process.
    pub available_bytes: u64,
}

/// Everything `_nodes/stats` reports for this node.
#[derive(Debug, Clone)]
pub struct NodeStats {
    pub timestamp_millis: i64,
    pub uptime: Duration,
    pub indices: ShardStats,
    pub process: ProcessStats,
    pub os: OsStats,
    pub fs: Option<FsStats>,
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// `/proc/self/stat` fields after the command name: (utime, stime) in clock ticks.
fn proc_self_cpu_ticks() -> Option<u64> {
    let stat = read("/proc/self/stat")?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// `/proc/stat`'s aggregate `cpu` line: (busy, total) in clock ticks.
fn machine_cpu_ticks() -> Option<(u64, u64)> {
    let stat = read("/proc/stat")?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    if v.len() < 4 {
        return None;
    }
    // user nice system idle iowait irq softirq steal (guest counts are already in user/nice).
    let total: u64 = v.iter().take(8).sum();
    let idle = v[3] + v.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// `/proc/*` counters are in USER_HZ, fixed at 100 by the Linux ABI.
const CLOCK_TICKS_PER_SEC: u64 = 100;

struct CpuSample {
    at: Instant,
    process_ticks: u64,
    machine: Option<(u64, u64)>,
    process_percent: Option<u32>,
    machine_percent: Option<u32>,
}

static CPU_SAMPLE: std::sync::Mutex<Option<CpuSample>> = std::sync::Mutex::new(None);

/// Recent CPU use (process, machine) in percent. Each call compares with the previous sample when it
/// is at least a second old; the first call reports averages since process start / boot.
fn cpu_percents(uptime: Duration, cpus: u32) -> (Option<u32>, Option<u32>) {
    let now = Instant::now();
    let process_ticks = proc_self_cpu_ticks();
    let machine = machine_cpu_ticks();
    let mut guard = CPU_SAMPLE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(prev) = guard.as_ref()
        && now.duration_since(prev.at) < Duration::from_secs(1)
    {
        return (prev.process_percent, prev.machine_percent);
    }
    let cpus = cpus.max(1) as f64;
    let (process_percent, machine_percent) = match guard.as_ref() {
        Some(prev) => {
            let secs = now.duration_since(prev.at).as_secs_f64();
            let p = process_ticks.map(|t| {
                let used = t.saturating_sub(prev.process_ticks) as f64 / CLOCK_TICKS_PER_SEC as f64;
                percent(used / (secs * cpus))
            });
            let m = match (machine, prev.machine) {
                (Some((b, t)), Some((pb, pt))) if t > pt => {
                    Some(percent(b.saturating_sub(pb) as f64 / (t - pt) as f64))
                }
                _ => prev.machine_percent,
            };
            (p, m)
        }
        None => {
            let p = process_ticks.map(|t| {
                let secs = uptime.as_secs_f64().max(0.001);
                percent(t as f64 / CLOCK_TICKS_PER_SEC as f64 / (secs * cpus))
            });
            let m = machine.filter(|(_, t)| *t > 0).map(|(b, t)| percent(b as f64 / t as f64));
            (p, m)
        }
    };
    *guard = Some(CpuSample {
        at: now,
        process_ticks: process_ticks.unwrap_or(0),
        machine,
        process_percent,
        machine_percent,
    });
    (process_percent, machine_percent)
}

fn percent(ratio: f64) -> u32 {
    (ratio * 100.0).round().clamp(0.0, 100.0) as u32
}

/// A `Key:   123 kB` line of `/proc/meminfo` or `/proc/self/status`, in bytes.
fn kb_field(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.split(':').next() == Some(key))?;
    let n: u64 = line.split(':').nth(1)?.split_whitespace().next()?.parse().ok()?;
    Some(n * 1024)
}

/// Reads the process figures.
pub fn process_stats(uptime: Duration) -> ProcessStats {
    let status = read("/proc/self/status").unwrap_or_default();
    let open = std::fs::read_dir("/proc/self/fd")
        .ok()
        // The listing itself holds one descriptor.
        .map(|rd| (rd.count() as u64).saturating_sub(1));
    let max = read("/proc/self/limits").and_then(|l| {
        let line = l.lines().find(|x| x.starts_with("Max open files"))?;
        line["Max open files".len()..].split_whitespace().next()?.parse().ok()
    });
    let cpus = available_processors();
    let (cpu_percent, _) = cpu_percents(uptime, cpus);
    ProcessStats {
        pid: std::process::id(),
        open_file_descriptors: open,
        max_file_descriptors: max,
        cpu_percent,
        cpu_total_millis: proc_self_cpu_ticks().map(|t| t * 1000 / CLOCK_TICKS_PER_SEC),
        mem_resident_bytes: kb_field(&status, "VmRSS"),
        mem_virtual_bytes: kb_field(&status, "VmSize"),
    }
}

pub fn available_processors() -> u32 {
    std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1)
}

/// Java's `os.arch` names, which ES reports.
fn java_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "x86",
        other => other,
    }
}

/// Reads the operating-system figures.
pub fn os_stats(uptime: Duration) -> OsStats {
    let meminfo = read("/proc/meminfo").unwrap_or_default();
    let load_average = read("/proc/loadavg").and_then(|l| {
        let v: Vec<f64> = l.split_whitespace().take(3).filter_map(|x| x.parse().ok()).collect();
        (v.len() == 3).then(|| [v[0], v[1], v[2]])
    });
    let pretty_name = read("/etc/os-release")
        .and_then(|t| t.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=")).map(|v| v.trim_matches('"').to_string()));
    let cpus = available_processors();
    let (_, cpu_percent) = cpu_percents(uptime, cpus);
    OsStats {
        name: match std::env::consts::OS {
            "linux" => "Linux".into(),
            "macos" => "Mac OS X".into(),
            other => other.into(),
        },
        pretty_name,
        arch: java_arch().into(),
        version: read("/proc/sys/kernel/osrelease").map(|v| v.trim().to_string()),
        available_processors: cpus,
        cpu_percent,
        load_average,
        mem_total_bytes: kb_field(&meminfo, "MemTotal"),
        mem_free_bytes: kb_field(&meminfo, "MemAvailable").or_else(|| kb_field(&meminfo, "MemFree")),
        swap_total_bytes: kb_field(&meminfo, "SwapTotal"),
        swap_free_bytes: kb_field(&meminfo, "SwapFree"),
    }
}

/// The file system of `path` (or its nearest existing ancestor), from `df -Pk`.
pub fn fs_stats(path: &Path) -> Option<FsStats> {
    let existing = path.ancestors().find(|p| p.exists())?;
    let out = std::process::Command::new("df").arg("-Pk").arg(existing).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().nth(1)?;
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() < 6 {
        return None;
    }
    let kb = |s: &str| s.parse::<u64>().ok().map(|n| n * 1024);
    let total = kb(f[1])?;
    let used = kb(f[2])?;
    let available = kb(f[3])?;
    let mount = f[5..].join(" ");
    let fs_type = read("/proc/mounts")
        .and_then(|m| {
            m.lines().find_map(|l| {
                let p: Vec<&str> = l.split_whitespace().collect();
                (p.len() > 2 && p[1] == mount).then(|| p[2].to_string())
            })
        })
        .unwrap_or_default();
    Some(FsStats {
        path: existing.display().to_string(),
        mount: format!("{mount} ({})", f[0]),
        fs_type,
        total_bytes: total,
        free_bytes: total.saturating_sub(used),
        available_bytes: available,
    })
}

/// ES's one-letter role abbreviations, concatenated in sorted order (`-` for none).
pub fn role_abbreviations(roles: &[String]) -> String {
    let mut out: Vec<char> = roles
        .iter()
        .filter_map(|r| match r.as_str() {
            "data" => Some('d'),
            "data_cold" => Some('c'),
            "data_content" => Some('s'),
            "data_frozen" => Some('f'),
            "data_hot" => Some('h'),
            "data_warm" => Some('w'),
            "ingest" => Some('i'),
            "master" => Some('m'),
            "ml" => Some('l'),
            "remote_cluster_client" => Some('r'),
            "transform" => Some('t'),
            "voting_only" => Some('v'),
            _ => None,
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    if out.is_empty() { "-".into() } else { out.into_iter().collect() }
}

/// An index block as the cluster state reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockInfo {
    pub id: u32,
    pub description: &'static str,
    pub retryable: bool,
    pub levels: Vec<&'static str>,
}

/// The `index.blocks.*` in effect on an index, with the operation classes each one blocks.
pub fn index_blocks(im: &IndexMetadata) -> Vec<BlockInfo> {
    let levels = [
        (BlockLevel::Read, "read"),
        (BlockLevel::Write, "write"),
        (BlockLevel::MetadataRead, "metadata_read"),
        (BlockLevel::MetadataWrite, "metadata_write"),
    ];
    let mut out: Vec<BlockInfo> = Vec::new();
    for (level, name) in levels {
        for b in im.blocks_for(level) {
            let BlockDescription { id, description, status } = b;
            match out.iter_mut().find(|x| x.id == id) {
                Some(x) => x.levels.push(name),
                None => out.push(BlockInfo { id, description, retryable: status == 429, levels: vec![name] }),
            }
        }
    }
    out.sort_by_key(|b| b.id);
    out
}

// ---------------------------------------------------------------------------------------------
// Node methods
// ---------------------------------------------------------------------------------------------

impl Node {
    pub fn uptime(&self) -> Duration {
        self.info.started_at.elapsed()
    }

    /// Whether this node holds data (`data` or any `data_*` role).
    pub fn is_data_node(&self) -> bool {
        self.info.roles.iter().any(|r| r == "data" || r.starts_with("data_"))
    }

    /// The IP this node publishes (its host, or loopback when bound to every interface).
    pub fn publish_ip(&self) -> String {
        let host = self.info.host.trim_matches(|c| c == '[' || c == ']');
        if host.is_empty() || host == "0.0.0.0" || host == "::" {
            return "127.0.0.1".into();
        }
        match host.parse::<std::net::IpAddr>() {
            Ok(ip) => ip.to_string(),
            Err(_) => {
                use std::net::ToSocketAddrs;
                (host, 0)
                    .to_socket_addrs()
                    .ok()
                    .and_then(|mut a| a.next())
                    .map(|a| a.ip().to_string())
                    .unwrap_or_else(|| "127.0.0.1".into())
            }
        }
    }

    /// The directory holding shard data, or `None` for an ephemeral node.
    pub fn data_dir(&self) -> Option<PathBuf> {
        self.index_dir("_").and_then(|p| p.parent().and_then(Path::parent).map(Path::to_path_buf))
    }

    /// The path whose file system `fs` stats describe.
    fn fs_path(&self) -> PathBuf {
        self.data_dir().unwrap_or_else(|| {
            let shm = Path::new("/dev/shm");
            if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() }
        })
    }

    /// A stable identifier of the current metadata version (ES's `state_uuid`).
    pub fn state_uuid(&self, meta: &ClusterMetadata) -> String {
        stable_id(&[&meta.cluster_uuid, &meta.version.to_string(), &self.info.node_id])
    }

    /// The routing of the named indices (all indices with `None`), in metadata order.
    pub fn routing_table(&self, meta: &ClusterMetadata, names: Option<&[String]>) -> Vec<IndexRouting> {
        let open: BTreeSet<(String, u32)> = self.shards.read().keys().cloned().collect();
        let pick: Box<dyn Fn(&str) -> bool> = match names {
            Some(n) => {
                let set: BTreeSet<&str> = n.iter().map(String::as_str).collect();
                Box::new(move |name| set.contains(name))
            }
            None => Box::new(|_| true),
        };
        if self.is_clustered() {
            return meta
                .indices
                .values()
                .filter(|im| pick(&im.name))
                .map(|im| self.cluster_index_routing(meta, im))
                .collect();
        }
        meta.indices
            .values()
            .filter(|im| pick(&im.name))
            .map(|im| {
                index_routing(im, &self.info.node_id, self.info.start_time_millis, |s| {
                    open.contains(&(im.uuid.clone(), s))
                })
            })
            .collect()
    }

    /// An index's routing in a multi-node cluster, from the replicated routing table: a copy is
    /// started once its group's leader reported it caught up, initializing before, and unassigned
    /// while its node is out of the registry; wanted copies with no node are unassigned replicas.
    /// The primary is the copy the group's leader last reported (the local group's leader when this
    /// node holds a copy and knows better).
    fn cluster_index_routing(&self, meta: &ClusterMetadata, im: &IndexMetadata) -> IndexRouting {
        let wanted = meta.wanted_copies(im);
        let shards = (0..im.number_of_shards())
            .map(|shard| {
                let alloc = meta.shard_allocation(&im.uuid, shard).cloned().unwrap_or_default();
                let local_leader = self
                    .shard(&im.uuid, shard)
                    .and_then(|h| h.group.current_leader())
                    .and_then(|raft| {
                        if raft == self.raft_id {
                            Some(self.info.node_id.clone())
                        } else {
                            meta.node_by_raft_id(raft).map(|n| n.id.clone())
                        }
                    })
                    .filter(|id| alloc.copies.contains(id));
                let primary = local_leader
                    .or_else(|| alloc.primary.clone().filter(|p| alloc.copies.contains(p)))
                    .or_else(|| alloc.copies.iter().find(|c| alloc.is_started(c)).cloned());
                let mut out: Vec<ShardRouting> = alloc
                    .copies
                    .iter()
                    .map(|c| {
                        let present = meta.nodes.contains_key(c) || *c == self.info.node_id;
                        let state = if !present {
                            ShardState::Unassigned
                        } else if alloc.is_started(c) || im.state == IndexState::Close {
                            ShardState::Started
                        } else {
                            ShardState::Initializing
                        };
                        ShardRouting {
                            index: im.name.clone(),
                            index_uuid: im.uuid.clone(),
                            shard,
                            primary: primary.as_ref() == Some(c),
                            state,
                            node_id: present.then(|| c.clone()),
                            allocation_id: Some(stable_id(&[&im.uuid, &shard.to_string(), c])),
                            unassigned: (!present).then_some(UnassignedInfo {
                                reason: "NODE_LEFT",
                                at_millis: im.creation_date,
                                details: None,
                            }),
                        }
                    })
                    .collect();
                for _ in out.len()..wanted {
                    out.push(ShardRouting {
                        index: im.name.clone(),
                        index_uuid: im.uuid.clone(),
                        shard,
                        primary: out.is_empty(),
                        state: ShardState::Unassigned,
                        node_id: None,
                        allocation_id: None,
                        unassigned: Some(UnassignedInfo {
                            reason: if alloc.initial.is_empty() {
                                "INDEX_CREATED"
                            } else if alloc
                                .initial
                                .iter()
                                .any(|n| !alloc.copies.contains(n) && alloc.witness.as_ref() != Some(n))
                            {
                                "NODE_LEFT"
                            } else {
                                "REPLICA_ADDED"
                            },
                            at_millis: im.creation_date,
                            details: None,
                        }),
                    });
                }
                // The primary first, as ES lists copies.
                out.sort_by_key(|c| !c.primary);
                out
            })
            .collect();
        IndexRouting { index: im.name.clone(), shards }
    }

    /// A shard whose witness does not vote yet tolerates no further node loss: it counts as an
    /// initializing copy and the index is not green.
    fn with_witnesses(&self, meta: &ClusterMetadata, im: &IndexMetadata, mut h: IndexHealth) -> IndexHealth {
        if !self.is_clustered() || !im.is_open() {
            return h;
        }
        for s in h.shards.iter_mut() {
            if meta.shard_allocation(&im.uuid, s.shard).is_some_and(|a| a.witness_pending()) {
                s.initializing_shards += 1;
                s.status = s.status.max(HealthStatus::Yellow);
                h.initializing_shards += 1;
                h.status = h.status.max(HealthStatus::Yellow);
            }
        }
        h
    }

    /// Cluster health over the given concrete indices (ES computes it over the indices the request
    /// resolved to; pass every index for the whole cluster).
    pub fn cluster_health(&self, meta: &ClusterMetadata, indices: &[String]) -> ClusterHealth {
        let all = self.routing_table(meta, None);
        let wanted: BTreeSet<&str> = indices.iter().map(String::as_str).collect();
        let requested = all
            .iter()
            .filter(|r| wanted.contains(r.index.as_str()))
            .filter_map(|r| meta.indices.get(&r.index).map(|im| self.with_witnesses(meta, im, index_health(im, r))))
            .collect();
        let mut h = cluster_health(&self.info.cluster_name, self.is_data_node() as u32, requested, &all);
        if self.is_clustered() {
            let nodes = self.cluster_nodes();
            h.number_of_nodes = nodes.len() as u32;
            h.number_of_data_nodes = nodes.iter().filter(|n| n.is_data()).count() as u32;
        }
        h
    }

    /// The statistics of the named indices' started copies on other nodes, by (index uuid, shard,
    /// node id), fetched in parallel; a copy that does not answer is left out.
    pub async fn remote_copy_stats(&self, meta: &ClusterMetadata, names: &[String]) -> RemoteStats {
        let Some(cluster) = &self.cluster else { return RemoteStats::new() };
        let client = cluster.raft.client();
        let mut jobs = Vec::new();
        for name in names {
            let Some(im) = meta.indices.get(name).filter(|im| im.is_open()) else { continue };
            for shard in 0..im.number_of_shards() {
                for n in self.copy_nodes(meta, &im.uuid, shard) {
                    if n.id == self.info.node_id {
                        continue;
                    }
                    let uuid = im.uuid.clone();
                    jobs.push(async move {
                        let copy = crate::shard_rpc::RemoteCopy {
                            node_id: n.id.clone(),
                            node_name: n.name.clone(),
                            address: n.transport_address.clone(),
                        };
                        let remote = crate::shard_rpc::RemoteShard { client, copy: &copy, index_uuid: &uuid, shard };
                        remote.stats().await.ok().map(|st| ((uuid.clone(), shard, n.id.clone()), st))
                    });
                }
            }
        }
        futures::future::join_all(jobs).await.into_iter().flatten().collect()
    }

    /// Statistics of the named indices' shard copies, in the given order: this node's copies, and
    /// other nodes' copies from `remote` ([`Self::remote_copy_stats`]). Blocking (see
    /// [`ShardStats::of`]); call it from `spawn_blocking`.
    pub fn indices_stats(&self, meta: &ClusterMetadata, names: &[String], remote: &RemoteStats) -> Vec<IndexStats> {
        let routing = self.routing_table(meta, Some(names));
        let by_name: BTreeMap<&str, &IndexRouting> = routing.iter().map(|r| (r.index.as_str(), r)).collect();
        let mut out = Vec::new();
        for name in names {
            let (Some(im), Some(r)) = (meta.indices.get(name), by_name.get(name.as_str())) else { continue };
            let handles: BTreeMap<u32, Arc<ShardHandle>> =
                self.index_shards(&im.uuid).into_iter().map(|h| (h.ident.shard, h)).collect();
            let copies = r
                .copies()
                .map(|c| {
                    // A lone node's copies are all local; in a cluster a copy is this node's own or
                    // another node's (its figures come from `remote`).
                    let mine = !self.is_clustered() || c.node_id.as_deref() == Some(self.info.node_id.as_str());
                    let handle = (mine && c.state.is_active()).then(|| handles.get(&c.shard)).flatten();
                    let fetched = c
                        .node_id
                        .as_ref()
                        .filter(|_| !mine)
                        .and_then(|n| remote.get(&(im.uuid.clone(), c.shard, n.clone())).cloned());
                    let stats = match (handle, c.state.is_active()) {
                        (Some(h), _) => Some(ShardStats::of(&h.engine)),
                        (None, true) if fetched.is_some() => fetched,
                        // A closed index's started copy: present, but nothing is loaded.
                        (None, true) => Some(ShardStats { shard_count: 1, ..ShardStats::empty() }),
                        (None, false) => None,
                    };
                    ShardCopyStats {
                        routing: c.clone(),
                        stats,
                        committed_marker: handle.and_then(|h| h.engine.committed_marker()),
                        path: handle.and_then(|h| h.engine.path().map(Path::to_path_buf)),
                        primary_term: im.primary_term(c.shard).unwrap_or(1),
                    }
                })
                .collect();
            let health = index_health(im, r).status;
            out.push(IndexStats { index: im.name.clone(), uuid: im.uuid.clone(), state: im.state, health, copies });
        }
        out
    }

    /// The segments of the named indices' open shards. Blocking.
    pub fn segments(&self, meta: &ClusterMetadata, names: &[String]) -> Vec<SegmentInfo> {
        let mut out = Vec::new();
        for name in names {
            let Some(im) = meta.indices.get(name) else { continue };
            for h in self.index_shards(&im.uuid) {
                let searcher = h.engine.searcher();
                for (generation, seg) in searcher.segment_readers().iter().enumerate() {
                    out.push(SegmentInfo {
                        index: im.name.clone(),
                        shard: h.ident.shard,
                        primary: true,
                        name: format!("_{}", seg.segment_id().short_uuid_string()),
                        generation: generation as u64,
                        docs_count: seg.num_docs() as u64,
                        docs_deleted: seg.num_deleted_docs() as u64,
                        size_bytes: seg.space_usage().map(|u| u.total().get_bytes()).unwrap_or(0),
                    });
                }
            }
        }
        out
    }

    /// This node's statistics. Blocking.
    pub fn node_stats(&self) -> NodeStats {
        let uptime = self.uptime();
        let mut indices = ShardStats::empty();
        indices.shard_count = 0;
        for h in self.all_shards() {
            indices.add(&ShardStats::of(&h.engine));
        }
        indices.open_contexts = self.open_scroll_count() as u64;
        NodeStats {
            timestamp_millis: now_millis(),
            uptime,
            indices,
            process: process_stats(uptime),
            os: os_stats(uptime),
            fs: fs_stats(&self.fs_path()),
        }
    }

    /// Process, OS and file-system figures without the (costlier) shard statistics. Blocking.
    pub fn machine_stats(&self) -> (ProcessStats, OsStats, Option<FsStats>) {
        let uptime = self.uptime();
        (process_stats(uptime), os_stats(uptime), fs_stats(&self.fs_path()))
    }

    /// Applies `PUT _cluster/settings` and returns the settings that were set (flat, non-null), which
    /// ES echoes back as `persistent` / `transient`.
    pub async fn put_cluster_settings_acknowledged(
        &self,
        body: &Value,
    ) -> Result<(FlatSettings, FlatSettings), EsError> {
        let _guard = self.metadata_lock.lock().await;
        let outcome = self
            .apply_metadata(MetadataCommand::PutClusterSettings {
                persistent: body.get("persistent").cloned().unwrap_or(Value::Null),
                transient: body.get("transient").cloned().unwrap_or(Value::Null),
            })
            .await?;
        match outcome {
            MetadataOutcome::ClusterSettingsUpdated { persistent, transient } => Ok((persistent, transient)),
            _ => Ok((FlatSettings::new(), FlatSettings::new())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn index(name: &str, shards: u32, replicas: u32, state: IndexState) -> IndexMetadata {
        let mut flat = FlatSettings::new();
        flat.insert("index.number_of_shards".into(), json!(shards.to_string()));
        flat.insert("index.number_of_replicas".into(), json!(replicas.to_string()));
        IndexMetadata {
            name: name.into(),
            uuid: format!("{name}-uuid"),
            creation_date: 1_000,
            state,
            settings: tern_cluster::IndexSettings::from_flat(flat),
            mappings: Value::Null,
            aliases: BTreeMap::new(),
            primary_terms: vec![1; shards as usize],
            mapping_version: 1,
            settings_version: 1,
            aliases_version: 1,
        }
    }

    #[test]
    fn no_replicas_and_all_primaries_open_is_green() {
        let im = index("a", 2, 0, IndexState::Open);
        let r = index_routing(&im, "n1", 0, |_| true);
        let h = index_health(&im, &r);
        assert_eq!(h.status, HealthStatus::Green);
        assert_eq!((h.active_primary_shards, h.active_shards, h.unassigned_shards), (2, 2, 0));
        let c = cluster_health("c", 1, vec![h], std::slice::from_ref(&r));
        assert_eq!(c.status, HealthStatus::Green);
        assert_eq!(c.active_shards_percent, 100.0);
    }

    #[test]
    fn replicas_stay_unassigned_and_make_the_index_yellow() {
        let im = index("a", 3, 1, IndexState::Open);
        let r = index_routing(&im, "n1", 0, |_| true);
        assert_eq!(r.shards.len(), 3);
        assert!(r.shards.iter().all(|copies| copies.len() == 2 && copies[0].primary && !copies[1].primary));
        assert_eq!(r.shards[0][1].state, ShardState::Unassigned);
        assert_eq!(r.shards[0][1].node_id, None);
        assert_eq!(r.shards[0][1].unassigned.as_ref().map(|u| u.reason), Some("INDEX_CREATED"));
        let h = index_health(&im, &r);
        assert_eq!(h.status, HealthStatus::Yellow);
        assert_eq!((h.active_shards, h.unassigned_shards, h.unassigned_primary_shards), (3, 3, 0));
        let c = cluster_health("c", 1, vec![h], std::slice::from_ref(&r));
        assert_eq!(c.status, HealthStatus::Yellow);
        assert_eq!(c.active_shards_percent, 50.0);
    }

    #[test]
    fn a_primary_that_is_not_open_makes_the_index_red() {
        let im = index("a", 2, 0, IndexState::Open);
        let r = index_routing(&im, "n1", 0, |s| s == 0);
        let h = index_health(&im, &r);
        assert_eq!(h.status, HealthStatus::Red);
        assert_eq!((h.active_primary_shards, h.initializing_shards), (1, 1));
        assert_eq!(h.shards[1].status, HealthStatus::Red);
        assert!(!h.shards[1].primary_active);
    }

    #[test]
    fn closed_indices_count_as_started_like_replicated_closed_indices() {
        let closed = index("c", 2, 0, IndexState::Close);
        let r = index_routing(&closed, "n1", 0, |_| false);
        assert_eq!(index_health(&closed, &r).status, HealthStatus::Green);
        let closed_with_replicas = index("d", 1, 50, IndexState::Close);
        let r2 = index_routing(&closed_with_replicas, "n1", 0, |_| false);
        assert_eq!(index_health(&closed_with_replicas, &r2).status, HealthStatus::Yellow);
    }

    #[test]
    fn cluster_status_is_the_worst_requested_index_and_empty_is_green() {
        let green = index("g", 1, 0, IndexState::Open);
        let yellow = index("y", 1, 1, IndexState::Open);
        let rg = index_routing(&green, "n", 0, |_| true);
        let ry = index_routing(&yellow, "n", 0, |_| true);
        let all = vec![rg.clone(), ry.clone()];
        let only_green = cluster_health("c", 1, vec![index_health(&green, &rg)], &all);
        assert_eq!(only_green.status, HealthStatus::Green);
        assert_eq!(only_green.active_shards_percent, 100.0);
        let both = cluster_health("c", 1, vec![index_health(&green, &rg), index_health(&yellow, &ry)], &all);
        assert_eq!(both.status, HealthStatus::Yellow);
        assert_eq!(both.active_shards, 2);
        assert_eq!(both.unassigned_shards, 1);
        assert!((both.active_shards_percent - 200.0 / 3.0).abs() < 1e-9);
        assert_eq!(both.indices.len(), 2);
        let empty = cluster_health("c", 1, vec![], &[]);
        assert_eq!(empty.status, HealthStatus::Green);
        assert_eq!(empty.active_shards, 0);
    }

    #[test]
    fn auto_expand_replicas_settles_on_its_minimum_on_one_node() {
        let mut im = index("a", 1, 1, IndexState::Open);
        let mut flat = im.settings.clone().into_flat();
        flat.insert("index.auto_expand_replicas".into(), json!("0-1"));
        im.settings = tern_cluster::IndexSettings::from_flat(flat);
        assert_eq!(effective_replicas(&im), 0);
        let r = index_routing(&im, "n", 0, |_| true);
        assert_eq!(index_health(&im, &r).status, HealthStatus::Green);
    }

    #[test]
    fn replicas_of_indices_older_than_the_node_are_cluster_recovered() {
        let im = index("a", 1, 1, IndexState::Open);
        let r = index_routing(&im, "n", 5_000, |_| true);
        let u = r.shards[0][1].unassigned.clone().unwrap();
        assert_eq!((u.reason, u.at_millis), ("CLUSTER_RECOVERED", 5_000));
    }

    #[test]
    fn stats_aggregate_and_keep_the_max_seq_no() {
        let mut a = ShardStats { docs_count: 2, max_seq_no: 4, shard_count: 1, ..ShardStats::empty() };
        let b = ShardStats { docs_count: 3, max_seq_no: 1, shard_count: 1, ..ShardStats::empty() };
        a.add(&b);
        assert_eq!((a.docs_count, a.max_seq_no, a.shard_count), (5, 4, 2));
    }

    #[test]
    fn roles_abbreviate_sorted() {
        let roles: Vec<String> = ["master", "data", "ingest"].iter().map(|s| s.to_string()).collect();
        assert_eq!(role_abbreviations(&roles), "dim");
        assert_eq!(role_abbreviations(&[]), "-");
    }

    #[test]
    fn stable_ids_are_stable_and_distinct() {
        assert_eq!(stable_id(&["a", "b"]), stable_id(&["a", "b"]));
        assert_ne!(stable_id(&["a", "b"]), stable_id(&["ab"]));
        assert_eq!(stable_id(&["x"]).len(), 22);
    }

    #[test]
    fn health_status_orders_and_parses() {
        assert!(HealthStatus::Green < HealthStatus::Yellow && HealthStatus::Yellow < HealthStatus::Red);
        assert_eq!(HealthStatus::parse("YELLOW"), Some(HealthStatus::Yellow));
        assert_eq!(HealthStatus::parse("blue"), None);
    }

    #[test]
    fn proc_readers_do_not_panic() {
        let p = process_stats(Duration::from_secs(1));
        assert_eq!(p.pid, std::process::id());
        let o = os_stats(Duration::from_secs(1));
        assert!(o.available_processors >= 1);
        if let (Some(t), Some(f)) = (o.mem_total_bytes, o.mem_free_bytes) {
            assert!(f <= t);
        }
        if let Some(fs) = fs_stats(&std::env::temp_dir()) {
            assert!(fs.available_bytes <= fs.total_bytes);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Allocation explain
// ---------------------------------------------------------------------------------------------

/// What `_cluster/allocation/explain` reports about one shard copy.
#[derive(Debug, Clone)]
pub struct AllocationExplanation {
    pub copy: ShardRouting,
    /// Every node's decision for placing this copy (for an unassigned copy).
    pub decisions: Vec<tern_cluster::NodeDecision>,
    /// The node holding the copy, when assigned.
    pub current_node: Option<tern_cluster::DiscoveryNode>,
}

impl Node {
    /// Explains one shard copy: the given one, or the first unassigned copy in the cluster.
    pub fn explain_allocation(&self, target: Option<(String, u32, bool)>) -> Result<AllocationExplanation, EsError> {
        let meta = self.metadata();
        let routing = self.routing_table(&meta, None);
        let copy = match &target {
            Some((index, shard, primary)) => {
                let im = meta.indices.get(index).ok_or_else(|| EsError::index_not_found(index))?;
                let r = routing.iter().find(|r| r.index == im.name).ok_or_else(|| EsError::index_not_found(index))?;
                let copies = r.shards.get(*shard as usize).ok_or_else(|| {
                    EsError::illegal_argument(format!("No shard was specified in the explain API request, so this request explains a randomly chosen unassigned shard. There are no unassigned shards in this cluster, so this request cannot be completed. Specify the index, shard and primary parameters to explain a specific shard. [shard {shard} does not exist in index [{index}]]"))
                })?;
                // A replica: an unassigned one first (the one worth explaining), else any.
                copies
                    .iter()
                    .filter(|c| c.primary == *primary)
                    .min_by_key(|c| c.state != ShardState::Unassigned)
                    .cloned()
                    .ok_or_else(|| {
                        EsError::illegal_argument(format!(
                            "unable to find a replica shard assignment for [{index}][{shard}]: the index has no replicas"
                        ))
                    })?
            }
            None => routing
                .iter()
                .flat_map(|r| r.shards.iter().flatten())
                .find(|c| c.state == ShardState::Unassigned)
                .cloned()
                .ok_or_else(|| {
                    EsError::illegal_argument(
                        "No shard was specified in the explain API request, so this request explains a randomly chosen unassigned shard. There are no unassigned shards in this cluster, so this request cannot be completed. Specify the index, shard and primary parameters to explain a specific shard.",
                    )
                })?,
        };
        let im = meta.indices.get(&copy.index).cloned().ok_or_else(|| EsError::index_not_found(&copy.index))?;
        let decisions = if self.is_clustered() {
            meta.explain_allocation(&im, copy.shard)
        } else {
            // A lone node: the only node holds the primary; a replica can never go to it.
            let node = self.local_discovery_node();
            let refusal = Some((
                "same_shard",
                format!(
                    "a copy of this shard is already allocated to this node [[{}][{}], node[{}]]",
                    im.name, copy.shard, node.id
                ),
            ));
            vec![tern_cluster::NodeDecision { node, refusal }]
        };
        let current_node = copy.node_id.as_ref().and_then(|id| {
            if *id == self.info.node_id { Some(self.local_discovery_node()) } else { meta.nodes.get(id).cloned() }
        });
        Ok(AllocationExplanation { copy, decisions, current_node })
    }
}

/// Other nodes' shard copy statistics, by (index uuid, shard, node id).
pub type RemoteStats = std::collections::HashMap<(String, u32, String), ShardStats>;
