//! The follower side: one task per follower index, one round per `index.remote_sync.sync_interval`.
//!
//! A round pins the leader index's last commit, brings the follower's metadata up to date (mapping
//! always; settings, aliases and open/closed state when enabled), then for each shard compares the
//! leader's commit files with the follower copy's. Equal sets make an empty round. Otherwise the
//! missing files are fetched in chunks of `remote_sync.chunk_size`, at most
//! `remote_sync.max_concurrent_file_chunks` in flight on this node, paced to
//! `remote_sync.max_bytes_per_sec`, each chunk checked against the leader's CRC and each whole file
//! against the manifest; then the shard switches to the new commit at once.
//!
//! Change detection is by commit file set, not document count, so updates and deletes that leave the
//! count unchanged propagate; `remote_sync.force_synchronize` is accepted for compatibility and
//! changes nothing. Staged chunks are logged as they land (`progress.log` in the staging directory)
//! so a copy interrupted by a crash or a leader outage resumes where it stopped.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use reqwest::Method;
use serde_json::{Map, Value, json};
use tern_cluster::IndicesOptions;
use tern_common::{ErrorKind, EsError};
use tern_node::commit_copy::{CommitFile, CommitManifest, Staging};
use tern_node::node::now_millis;

use crate::Runtime;
use crate::client::{RemoteClient, seg};
use crate::config::{CUSTOM_KEY, FollowSpec, SyncState, never_synced};
use crate::leader::CRC_HEADER;
use crate::stats::{CopyStats, IndexStats};

pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_secs(30);

/// The cluster-level knobs, read at the start of each round so changes apply without restarts.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub chunk_size: u64,
    pub max_concurrent_file_chunks: usize,
    pub max_bytes_per_sec: u64,
}

impl Limits {
    pub fn of(meta: &tern_cluster::ClusterMetadata) -> Limits {
        let get = |key: &str| meta.transient_settings.get(key).or_else(|| meta.persistent_settings.get(key)).cloned();
        let bytes = |key: &str, default: u64| {
            get(key)
                .and_then(|v| v.as_str().map(String::from))
                .and_then(|s| tern_cluster::settings::parse_byte_size(&s, key).ok())
                .map(|b| b.max(0) as u64)
                .unwrap_or(default)
        };
        let chunks = get("remote_sync.max_concurrent_file_chunks")
            .and_then(|v| v.as_str().and_then(|s| s.parse::<usize>().ok()))
            .unwrap_or(10);
        Limits {
            chunk_size: bytes("remote_sync.chunk_size", 1 << 20).max(1),
            max_concurrent_file_chunks: chunks.clamp(1, 100),
            max_bytes_per_sec: bytes("remote_sync.max_bytes_per_sec", 40 << 20),
        }
    }
}

pub fn sync_interval(node: &tern_node::Node, local: &str) -> Duration {
    let meta = node.metadata();
    meta.indices
        .get(local)
        .and_then(|im| im.settings.get_str("index.remote_sync.sync_interval").map(String::from))
        .and_then(|s| tern_cluster::parse_time_value(&s, "index.remote_sync.sync_interval").ok().flatten())
        .unwrap_or(DEFAULT_SYNC_INTERVAL)
        .max(Duration::from_secs(1))
}

fn cancelled() -> EsError {
    EsError::new(ErrorKind::IllegalState, "remote sync was stopped")
}

/// The follow loop of one index; ends when the task is cancelled or the follow spec is gone.
pub async fn run(rt: Arc<Runtime>, local: String, mut cancel: tokio::sync::watch::Receiver<bool>) {
    let stats = rt.index_stats(&local);
    loop {
        let Some(spec) = SyncState::of(&rt.node.metadata()).follows.get(&local).cloned() else {
            break;
        };
        if *cancel.borrow() {
            break;
        }
        // Rounds start on a fixed cadence (not `interval` after the previous round ended), so the
        // time a round takes does not stretch the interval and the lag stays bounded by it.
        let round_started = tokio::time::Instant::now();
        if let Err(e) = round(&rt, &spec, &stats, &cancel).await {
            if *cancel.borrow() {
                break;
            }
            tracing::warn!(index = %local, remote = %spec.remote_cluster, error = %e.reason, "remote sync round failed");
            rt.note_remote_error(&spec.remote_cluster, &e.reason);
            stats.set_error(&e.reason);
        }
        let interval = sync_interval(&rt.node, &local);
        tokio::select! {
            _ = tokio::time::sleep_until(round_started + interval) => {}
            _ = cancel.changed() => {}
        }
    }
}

async fn round(
    rt: &Arc<Runtime>,
    spec: &FollowSpec,
    stats: &IndexStats,
    cancel: &tokio::sync::watch::Receiver<bool>,
) -> Result<(), EsError> {
    let client = rt.client(&spec.remote_cluster)?;
    let pinned = client
        .json(Method::POST, &format!("/_remote_sync/leader/{}/_pin", seg(&spec.remote_index)), None)
        .await
        .map_err(EsError::from)?;
    rt.note_remote_ok(&spec.remote_cluster);
    let lease = pinned.get("lease").and_then(Value::as_str).map(String::from);
    let result = round_pinned(rt, spec, &client, &pinned, lease.as_deref(), stats, cancel).await;
    if let Some(lease) = lease {
        // Best effort: an unreleased lease ends by itself.
        let _ = client.json(Method::DELETE, &format!("/_remote_sync/leader/lease/{lease}"), None).await;
    }
    result
}

#[allow(clippy::too_many_arguments)]
async fn round_pinned(
    rt: &Arc<Runtime>,
    spec: &FollowSpec,
    client: &RemoteClient,
    leader: &Value,
    lease: Option<&str>,
    stats: &IndexStats,
    cancel: &tokio::sync::watch::Receiver<bool>,
) -> Result<(), EsError> {
    // In a multi-node follower cluster, every node copies files into its own copies of the
    // follower shards, and the master alone keeps the index's settings, aliases and state in sync.
    if rt.node.is_elected_master() {
        sync_metadata(rt, spec, leader).await?;
    }
    let meta = rt.node.metadata();
    let Some(im) = meta.indices.get(&spec.local_index) else {
        return Err(EsError::index_not_found(&spec.local_index));
    };
    if !im.is_open() {
        return Ok(());
    }
    let limits = Limits::of(&meta);
    let empty = Vec::new();
    for entry in leader.get("shards").and_then(Value::as_array).unwrap_or(&empty) {
        let shard = entry.get("shard").and_then(Value::as_u64).unwrap_or(0) as u32;
        if !rt.node.holds_copy(&spec.local_index, shard) {
            continue;
        }
        let manifest: CommitManifest = serde_json::from_value(entry.get("manifest").cloned().unwrap_or(Value::Null))
            .map_err(|e| EsError::internal(format!("unreadable commit manifest from the leader: {e}")))?;
        let st = stats.shard(shard);
        st.add(&st.total_synced_times, 1);
        let now = now_millis();
        {
            let mut d = st.detail.lock();
            d.leader_generation = Some(manifest.generation);
            d.leader_max_seq_no = manifest.max_seq_no;
        }
        let have = rt.node.shard_committed_files(&spec.local_index, shard)?;
        if have == manifest.file_names() {
            st.add(&st.total_empty_times, 1);
            let mut d = st.detail.lock();
            d.state = "following";
            d.last_error = None;
            d.last_sync_at = Some(now);
            d.behind_since = None;
            d.lag_bytes = 0;
            d.local_max_seq_no = manifest.max_seq_no;
            continue;
        }
        st.detail.lock().behind_since.get_or_insert(now);
        let Some(lease) = lease else {
            return Err(EsError::internal("the leader sent manifests without a lease"));
        };
        let result =
            copy_shard(rt, client, lease, &spec.local_index, shard, &manifest, &have, &st, limits, cancel).await;
        st.end_round();
        match result {
            Ok(()) => {
                let mut d = st.detail.lock();
                d.state = "following";
                d.last_error = None;
                d.last_sync_at = Some(now_millis());
                d.behind_since = None;
                d.lag_bytes = 0;
                d.local_max_seq_no = manifest.max_seq_no;
            }
            Err(e) => {
                let mut d = st.detail.lock();
                d.state = "failing";
                d.last_error = Some(e.reason.clone());
                return Err(e);
            }
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn copy_shard(
    rt: &Arc<Runtime>,
    client: &RemoteClient,
    lease: &str,
    local: &str,
    shard: u32,
    manifest: &CommitManifest,
    have: &BTreeSet<String>,
    st: &Arc<CopyStats>,
    limits: Limits,
    cancel: &tokio::sync::watch::Receiver<bool>,
) -> Result<(), EsError> {
    let staging = rt.node.shard_staging_dir(local, shard)?;
    let needed: Vec<CommitFile> = manifest.files.iter().filter(|f| !have.contains(&f.name)).cloned().collect();
    let staged = {
        let (dir, needed) = (staging.clone(), needed.clone());
        Arc::new(
            tokio::task::spawn_blocking(move || Staging::open(&dir, &needed))
                .await
                .map_err(|e| EsError::internal(e.to_string()))??,
        )
    };
    let total_bytes: u64 = needed.iter().map(|f| f.length).sum();
    st.begin_round(needed.len() as u64, total_bytes);
    st.detail.lock().lag_bytes = total_bytes;

    let (jobs, already) = staged.missing_chunks(&needed, limits.chunk_size);
    let mut remaining: HashMap<String, u64> = HashMap::new();
    for (name, _, _) in &jobs {
        *remaining.entry(name.clone()).or_insert(0) += 1;
    }
    let finished = needed.iter().filter(|f| !remaining.contains_key(&f.name)).count() as u64;
    st.add(&st.current_finished_files_count, finished);
    st.add(&st.current_finished_bytes, already);
    let permits = rt.throttle.chunk_permits(limits.max_concurrent_file_chunks);
    let remaining = Arc::new(parking_lot::Mutex::new(remaining));
    let fetched: u64 = futures::stream::iter(jobs)
        .map(|(name, offset, len)| {
            let (permits, staged, remaining) = (permits.clone(), staged.clone(), remaining.clone());
            async move {
                let _permit = permits.acquire_owned().await.map_err(|_| cancelled())?;
                if *cancel.borrow() {
                    return Err(cancelled());
                }
                if let Some(wait) = rt.throttle.acquire(len, limits.max_bytes_per_sec).await {
                    st.add(&st.total_paused_times, 1);
                    st.add(&st.total_paused_nanos, wait.as_nanos() as u64);
                }
                let path =
                    format!("/_remote_sync/leader/lease/{lease}/{shard}/{}?offset={offset}&length={len}", seg(&name));
                let (bytes, crc) = client.bytes(&path, CRC_HEADER).await.map_err(EsError::from)?;
                let crc_ok = crc.and_then(|c| c.parse::<u32>().ok()) == Some(crc32fast::hash(&bytes));
                if bytes.len() as u64 != len || !crc_ok {
                    return Err(EsError::internal(format!(
                        "chunk [{name}@{offset}+{len}] from the leader failed its checksum ({} bytes)",
                        bytes.len()
                    )));
                }
                let name2 = name.clone();
                tokio::task::spawn_blocking(move || staged.write_chunk(&name2, offset, &bytes))
                    .await
                    .map_err(|e| EsError::internal(e.to_string()))??;
                st.add(&st.current_finished_bytes, len);
                let mut rem = remaining.lock();
                if let Some(n) = rem.get_mut(&name) {
                    *n -= 1;
                    if *n == 0 {
                        st.add(&st.current_finished_files_count, 1);
                    }
                }
                Ok::<u64, EsError>(len)
            }
        })
        .buffer_unordered(limits.max_concurrent_file_chunks)
        .try_fold(0u64, |acc, n| async move { Ok(acc + n) })
        .await?;

    // Whole-file checks, then make the staged files durable before they become the commit.
    {
        let (staged, needed) = (staged.clone(), needed.clone());
        tokio::task::spawn_blocking(move || staged.verify(&needed))
            .await
            .map_err(|e| EsError::internal(e.to_string()))??;
    }
    if *cancel.borrow() {
        return Err(cancelled());
    }
    rt.node.install_shard_commit(local, shard, manifest).await?;
    let _ = tokio::fs::remove_dir_all(&staging).await;
    st.add(&st.total_synced_files, needed.len() as u64);
    st.add(&st.total_synced_bytes, fetched);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Metadata
// ---------------------------------------------------------------------------------------------

fn strict() -> IndicesOptions {
    IndicesOptions::default()
}

/// The leader's settings a new follower starts with: all but identity and follower mechanics,
/// then the request's overrides, then the follower's own block and no-merge settings.
pub fn initial_settings(leader: &Value, spec: &FollowSpec) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(flat) = leader.get("settings").and_then(Value::as_object) {
        for (k, v) in flat {
            let keep = !never_synced(k) || k == "index.number_of_shards" || k == "index.number_of_replicas";
            if keep {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    for (k, v) in &spec.options.settings {
        out.insert(k.clone(), v.clone());
    }
    out.insert("index.blocks.write".into(), json!("true"));
    out.insert("index.merge.enabled".into(), json!("false"));
    out
}

/// Creates the follower index, or turns an existing index with the leader's shard count into one.
pub async fn prepare_local_index(rt: &Runtime, spec: &FollowSpec, leader: &Value) -> Result<(), EsError> {
    let node = &rt.node;
    let leader_shards = leader.get("number_of_shards").and_then(Value::as_u64).unwrap_or(1) as u32;
    let existing = node.metadata().indices.get(&spec.local_index).cloned();
    match existing {
        Some(im) => {
            if im.number_of_shards() != leader_shards {
                return Err(EsError::illegal_argument(format!(
                    "cannot sync leader index [{}] with [{leader_shards}] shards into existing index [{}] with [{}] shards",
                    spec.remote_index,
                    spec.local_index,
                    im.number_of_shards()
                )));
            }
            let mut settings = Map::new();
            settings.insert("index.blocks.write".into(), json!(true));
            settings.insert("index.merge.enabled".into(), json!(false));
            node.update_settings(std::slice::from_ref(&spec.local_index), &strict(), &Value::Object(settings), false)
                .await?;
            let overrides: Map<String, Value> = spec.options.settings.clone().into_iter().collect();
            if !overrides.is_empty() {
                node.update_settings(
                    std::slice::from_ref(&spec.local_index),
                    &strict(),
                    &Value::Object(overrides),
                    false,
                )
                .await?;
            }
        }
        None => {
            let mut body = json!({
                "settings": Value::Object(initial_settings(leader, spec)),
            });
            if let Some(m) = leader.get("mappings").filter(|m| m.as_object().is_some_and(|o| !o.is_empty())) {
                body["mappings"] = m.clone();
            }
            if spec.options.alias_sync_enable
                && let Some(a) = leader.get("aliases").filter(|a| a.as_object().is_some_and(|o| !o.is_empty()))
            {
                body["aliases"] = a.clone();
            }
            node.create_index(&spec.local_index, &body).await?;
        }
    }
    Ok(())
}

/// Brings the follower's mapping, and when enabled its settings, aliases and state, to the leader's.
async fn sync_metadata(rt: &Runtime, spec: &FollowSpec, leader: &Value) -> Result<(), EsError> {
    let node = &rt.node;
    let local = std::slice::from_ref(&spec.local_index);
    let Some(im) = node.metadata().indices.get(&spec.local_index).cloned() else {
        return Err(EsError::index_not_found(&spec.local_index));
    };
    let leader_open = leader.get("state").and_then(Value::as_str) == Some("open");
    if spec.options.state_sync_enable && im.is_open() != leader_open {
        if leader_open {
            node.open_indices(local, &strict()).await?;
        } else {
            node.close_indices(local, &strict()).await?;
        }
    }
    if let Some(m) = leader.get("mappings").filter(|m| m.as_object().is_some_and(|o| !o.is_empty()))
        && *m != im.mappings
    {
        node.put_mapping(local, &strict(), m).await?;
    }
    if spec.options.settings_sync_enable {
        let leader_settings = leader.get("settings").and_then(Value::as_object).cloned().unwrap_or_default();
        let mut changes: Vec<(String, Value)> = Vec::new();
        for (k, v) in &leader_settings {
            if spec.options.syncs_setting(k) && im.settings.get(k) != Some(v) {
                changes.push((k.clone(), v.clone()));
            }
        }
        for k in im.settings.flat().keys() {
            if spec.options.syncs_setting(k) && !leader_settings.contains_key(k) {
                changes.push((k.clone(), Value::Null));
            }
        }
        for (k, v) in changes {
            // One at a time: a static setting cannot change on an open index, and that must not
            // keep the dynamic ones from syncing.
            let body = json!({ k.clone(): v });
            if let Err(e) = node.update_settings(local, &strict(), &body, false).await {
                tracing::debug!(index = %spec.local_index, setting = %k, error = %e.reason, "leader setting not synced");
            }
        }
    }
    if spec.options.alias_sync_enable {
        let leader_aliases = leader.get("aliases").and_then(Value::as_object).cloned().unwrap_or_default();
        let mut actions = Vec::new();
        for (name, def) in &leader_aliases {
            let same = im.aliases.get(name).map(|a| a.to_json()) == Some(def.clone());
            if !same {
                let mut add = def.as_object().cloned().unwrap_or_default();
                add.insert("index".into(), json!(spec.local_index));
                add.insert("alias".into(), json!(name));
                actions.push(json!({ "add": add }));
            }
        }
        for name in im.aliases.keys() {
            if !leader_aliases.contains_key(name) {
                actions.push(json!({"remove": {"index": spec.local_index, "alias": name}}));
            }
        }
        if !actions.is_empty() {
            node.update_aliases(&json!({ "actions": actions })).await?;
        }
    }
    Ok(())
}

/// Removes follow tasks and makes their indices writable again.
pub async fn stop(rt: &Runtime, names: &[String]) -> Result<(), EsError> {
    let names_owned = names.to_vec();
    rt.node
        .update_custom(CUSTOM_KEY, move |v| {
            let mut st = SyncState::from_value(v);
            for n in &names_owned {
                st.follows.remove(n);
            }
            *v = st.to_value();
            Ok(())
        })
        .await?;
    rt.stop_tasks(names).await;
    let reset = json!({"index.blocks.write": null, "index.merge.enabled": null});
    let existing: Vec<String> = {
        let meta = rt.node.metadata();
        names.iter().filter(|n| meta.indices.contains_key(*n)).cloned().collect()
    };
    if !existing.is_empty() {
        rt.node.update_settings(&existing, &strict(), &reset, false).await?;
    }
    for n in names {
        rt.forget_stats(n);
    }
    Ok(())
}
