//! The document write and read paths.
//!
//! A write is routed to its shard with ES's formula, grouped with the other operations of the same
//! request that go to the same shard, and proposed to that shard's raft group as one command: a bulk
//! costs one raft entry (and, through the shared log, about one fsync) per shard, not per document.
//! The reply carries the real `_seq_no`, `_version` and `result` computed at apply time.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tern_cluster::{BlockLevel, ClusterMetadata, IndexMetadata, shard_id};
use tern_common::{ErrorKind, EsError};
use tern_shard::StoredDoc;
use tern_shard::ops::{DocOp, DocOpKind, OpSuccess, ShardCommand, ShardReply, UpdateSpec, WriteCondition};

use crate::forward::WriteTarget;
use crate::node::{Node, now_millis, random_es_id};
use crate::search::ShardCopy;
use crate::shard::ShardHandle;
use crate::shard_rpc::{ReadError, RemoteShard, get_local};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RefreshPolicy {
    #[default]
    None,
    Immediate,
    WaitFor,
}

impl RefreshPolicy {
    /// Parses the `refresh` parameter (`true`, empty, `false`, `wait_for`).
    pub fn parse(v: Option<&str>) -> Result<Self, EsError> {
        Ok(match v {
            None | Some("false") => RefreshPolicy::None,
            Some("") | Some("true") => RefreshPolicy::Immediate,
            Some("wait_for") => RefreshPolicy::WaitFor,
            Some(other) => {
                return Err(EsError::illegal_argument(format!("Unknown value for refresh: [{other}].")));
            }
        })
    }
}

#[derive(Debug, Clone)]
pub enum WriteKind {
    Index { source: Vec<u8>, create: bool },
    Delete,
    Update(UpdateSpec),
}

#[derive(Debug, Clone)]
pub struct WriteRequest {
    /// Index name or alias as given.
    pub target: String,
    pub id: Option<String>,
    pub routing: Option<String>,
    pub kind: WriteKind,
    pub cond: WriteCondition,
    /// `require_alias`: the target must be an alias (no auto-creation of an index by that name).
    pub require_alias: bool,
}

/// How many copies a write reached (`_shards`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopiesInfo {
    pub total: u32,
    pub successful: u32,
    pub failed: u32,
}

#[derive(Debug, Clone)]
pub struct WriteOutcome {
    /// The concrete index (an alias is resolved to its write index).
    pub index: String,
    pub id: String,
    pub shard: u32,
    pub result: Result<(OpSuccess, CopiesInfo), EsError>,
    /// Whether `refresh=true|wait_for` made this write visible before the response.
    pub forced_refresh: bool,
}

struct Routed {
    slot: usize,
    index: String,
    id: String,
    shard: u32,
    target: WriteTarget,
    copies: CopiesInfo,
    op: DocOp,
}

impl Node {
    /// Executes writes (one or a whole bulk) and returns one outcome per request, in order.
    pub async fn write(&self, requests: Vec<WriteRequest>, refresh: RefreshPolicy) -> Vec<WriteOutcome> {
        let mut outcomes: Vec<Option<WriteOutcome>> = vec![None; requests.len()];
        // Auto-create every missing target first (once per name).
        let mut created: HashMap<String, Result<(), EsError>> = HashMap::new();
        for r in &requests {
            if r.require_alias && !self.metadata().has_alias(&r.target) {
                continue;
            }
            if !created.contains_key(&r.target) {
                let res = self.ensure_index_for_write(&r.target).await;
                created.insert(r.target.clone(), res);
            }
        }
        let meta = self.metadata();
        let mut routed: Vec<Routed> = Vec::with_capacity(requests.len());
        for (slot, req) in requests.into_iter().enumerate() {
            let fail = |index: String, id: String, e: EsError| WriteOutcome {
                index,
                id,
                shard: 0,
                result: Err(e),
                forced_refresh: false,
            };
            if req.require_alias && !meta.has_alias(&req.target) {
                let reason = format!(
                    "no such index [{0}] and [require_alias] request flag is [true] and [{0}] is not an alias",
                    req.target
                );
                let e = EsError::index_not_found(&req.target);
                let e = EsError { reason, ..e };
                outcomes[slot] = Some(fail(req.target.clone(), req.id.clone().unwrap_or_default(), e));
                continue;
            }
            if let Some(Err(e)) = created.get(&req.target) {
                outcomes[slot] = Some(fail(req.target.clone(), req.id.clone().unwrap_or_default(), e.clone()));
                continue;
            }
            match self.route(&meta, req) {
                Ok(r) => routed.push(Routed { slot, ..r }),
                Err((index, id, e)) => outcomes[slot] = Some(fail(index, id, e)),
            }
        }
        // One command per shard, operations in request order.
        let mut by_shard: BTreeMap<(String, u32), Vec<usize>> = BTreeMap::new();
        for (i, r) in routed.iter().enumerate() {
            by_shard.entry((r.target.ident().index_uuid.clone(), r.shard)).or_default().push(i);
        }
        let now = now_millis();
        let proposals = by_shard.values().map(|idxs| {
            let target = routed[idxs[0]].target.clone();
            let cmd = ShardCommand::Ops { now_millis: now, ops: idxs.iter().map(|&i| routed[i].op.clone()).collect() };
            async move { (self.propose_to(&target, &cmd).await, target) }
        });
        let replies = futures::future::join_all(proposals).await;
        let mut touched: Vec<(WriteTarget, i64)> = Vec::new();
        for ((_, idxs), (reply, handle)) in by_shard.iter().zip(replies) {
            let mut max_seq = -1;
            let per_op: Vec<Result<OpSuccess, EsError>> = match reply {
                Ok(ShardReply::Ops(results)) => results.into_iter().map(|r| r.map_err(|f| f.to_es())).collect(),
                Ok(ShardReply::Rejected(f)) => vec![Err(f.to_es()); idxs.len()],
                Ok(ShardReply::MappingSet) => {
                    vec![Err(EsError::internal("unexpected shard reply")); idxs.len()]
                }
                Err(e) => vec![Err(e); idxs.len()],
            };
            for (&i, res) in idxs.iter().zip(per_op) {
                let r = &routed[i];
                if let Ok(s) = &res {
                    max_seq = max_seq.max(s.seq_no);
                }
                outcomes[r.slot] = Some(WriteOutcome {
                    index: r.index.clone(),
                    id: r.id.clone(),
                    shard: r.shard,
                    result: res.map(|s| (s, r.copies)),
                    forced_refresh: false,
                });
            }
            touched.push((handle, max_seq));
        }
        let handles: Vec<Arc<ShardHandle>> = touched.iter().filter_map(|(t, _)| t.local().cloned()).collect();
        self.publish_dynamic_mappings(&handles).await;
        let forced = match refresh {
            RefreshPolicy::None => false,
            RefreshPolicy::Immediate => {
                for (t, _) in &touched {
                    let ident = t.ident();
                    if let Err(e) = self.refresh_shard_copies(&ident.index_uuid, ident.shard).await {
                        tracing::warn!(error = %e.reason, "refresh after write failed");
                    }
                }
                true
            }
            RefreshPolicy::WaitFor => {
                for (t, seq) in &touched {
                    let h = match t {
                        WriteTarget::Local(h) => h,
                        // Waiting on another node's refresh listeners: refresh its copies instead.
                        WriteTarget::Remote(ident) => {
                            let _ = self.refresh_shard_copies(&ident.index_uuid, ident.shard).await;
                            continue;
                        }
                    };
                    let meta = self.metadata();
                    let disabled = meta
                        .indices
                        .get(&h.ident.index)
                        .map(|m| m.settings.refresh_interval().is_none())
                        .unwrap_or(true);
                    // With refreshes disabled nothing would ever make the write visible: refresh now,
                    // which is what ES does once too many listeners wait.
                    if disabled || !h.wait_for_refresh(*seq, Duration::from_secs(30)).await {
                        let _ = h.refresh().await;
                    }
                }
                false
            }
        };
        outcomes
            .into_iter()
            .map(|o| {
                let mut o = o.expect("every request has an outcome");
                o.forced_refresh = forced && o.result.is_ok();
                o
            })
            .collect()
    }

    /// Resolves a write's index, id, routing and shard.
    fn route(
        &self,
        meta: &tern_cluster::ClusterMetadata,
        req: WriteRequest,
    ) -> Result<Routed, (String, String, EsError)> {
        let id_for_err = req.id.clone().unwrap_or_default();
        let target = meta
            .resolve_write_index(&req.target)
            .map_err(|e| (req.target.clone(), id_for_err.clone(), EsError::from(e)))?;
        let index = target.index.clone();
        let err = |e: EsError| (index.clone(), id_for_err.clone(), e);
        let im: &IndexMetadata = meta.indices.get(&index).ok_or_else(|| err(EsError::index_not_found(&index)))?;
        if !im.is_open() {
            return Err(err(EsError::new(ErrorKind::IndexClosed, "closed")
                .with("index_uuid", im.uuid.clone())
                .with("index", index.clone())));
        }
        meta.check_index_block(&index, BlockLevel::Write).map_err(|e| err(EsError::from(e)))?;
        let (id, auto_id) = match req.id {
            Some(id) => (id, false),
            None => (random_es_id(), true),
        };
        let routing = target.effective_routing(req.routing.as_deref()).map_err(|e| err(EsError::from(e)))?;
        if routing.is_none() && im.mappings.pointer("/_routing/required").and_then(Value::as_bool) == Some(true) {
            return Err(err(EsError::new(
                ErrorKind::IllegalArgument,
                format!("routing is required for [{index}]/[{id}]"),
            )
            .with_type("routing_missing_exception")
            .with("index_uuid", im.uuid.clone())
            .with("index", index.clone())));
        }
        let n = im.settings.number_of_shards();
        let shard = shard_id(routing.as_deref().unwrap_or(&id), n, im.settings.routing_num_shards());
        let target = self.write_target(&index, &im.uuid, shard).map_err(err)?;
        let kind = match req.kind {
            WriteKind::Index { source, create } => DocOpKind::Index { source, create },
            WriteKind::Delete => DocOpKind::Delete,
            WriteKind::Update(spec) => DocOpKind::Update(spec),
        };
        let copies = match meta.shard_allocation(&im.uuid, shard) {
            // In a cluster: the wanted copies, and the started ones on nodes in the registry (raft
            // replicates to every reachable copy; a majority holds the entry when it is acknowledged).
            Some(alloc) if self.is_clustered() => {
                let live = alloc.copies.iter().filter(|n| alloc.is_started(n) && meta.nodes.contains_key(*n)).count();
                let total = meta.wanted_copies(im).max(alloc.copies.len());
                CopiesInfo { total: total as u32, successful: live.max(1) as u32, failed: 0 }
            }
            _ => CopiesInfo { total: 1 + im.settings.number_of_replicas(), successful: 1, failed: 0 },
        };
        Ok(Routed {
            slot: 0,
            index: index.clone(),
            id: id.clone(),
            shard,
            target,
            copies,
            op: DocOp { id, routing, kind, cond: req.cond, auto_id },
        })
    }

    /// Realtime (or refreshed-only) GET of one document, from a copy of its shard chosen by
    /// `preference` (see [`crate::search::Preference`]): this node's or another node's. A copy
    /// that cannot serve (its node is gone, a follower that cannot reach its primary for a realtime
    /// read) is replaced by the next one.
    pub async fn get_document(
        &self,
        target: &str,
        id: &str,
        routing: Option<&str>,
        realtime: bool,
        preference: Option<&str>,
    ) -> Result<(String, Option<StoredDoc>), EsError> {
        let meta = self.metadata();
        let index = single_index(&meta, target)?;
        let im = meta.concrete_index(&index).map_err(EsError::from)?;
        if !im.is_open() {
            return Err(EsError::new(ErrorKind::IndexClosed, "closed")
                .with("index_uuid", im.uuid.clone())
                .with("index", index.clone()));
        }
        if routing.is_none() && im.mappings.pointer("/_routing/required").and_then(Value::as_bool) == Some(true) {
            return Err(EsError::new(ErrorKind::IllegalArgument, format!("routing is required for [{index}]/[{id}]"))
                .with_type("routing_missing_exception")
                .with("index_uuid", im.uuid.clone())
                .with("index", index.clone()));
        }
        let shard = shard_id(routing.unwrap_or(id), im.settings.number_of_shards(), im.settings.routing_num_shards());
        let preference = crate::search::Preference::parse(preference.unwrap_or_default())?;
        let copies = self.read_copies(&meta, &index, &im.uuid, shard, &preference)?;
        let clustered = self.is_clustered();
        let mut last = None;
        for copy in copies {
            let read = match &copy {
                ShardCopy::Local(h) => get_local(h, id, realtime, clustered).await,
                ShardCopy::Remote(c) => match &self.cluster {
                    Some(cluster) => {
                        RemoteShard { client: cluster.raft.client(), copy: c, index_uuid: &im.uuid, shard }
                            .get(id, realtime)
                            .await
                    }
                    None => continue,
                },
            };
            match read {
                Ok(doc) => return Ok((index, doc)),
                Err(ReadError::Shard(e)) => return Err(e),
                Err(ReadError::Copy(e)) => {
                    tracing::debug!(index = %index, shard, error = %e.reason, "GET on a shard copy failed; trying the next");
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| {
            EsError::new(ErrorKind::NoShardAvailable, format!("[{index}][{shard}] shard is not available"))
        }))
    }
}

/// Parses a JSON request body with ES's error for malformed input.
pub fn parse_json_body(bytes: &[u8]) -> Result<Value, EsError> {
    serde_json::from_slice(bytes).map_err(|e| {
        EsError::new(ErrorKind::XContentParse, format!("[{}:{}] failed to parse: {e}", e.line(), e.column()))
    })
}

/// Resolves a name that must denote exactly one index (an index, or an alias of one index).
pub(crate) fn single_index(meta: &ClusterMetadata, target: &str) -> Result<String, EsError> {
    if meta.has_index(target) {
        return Ok(target.to_string());
    }
    if meta.has_alias(target) {
        let indices = meta.alias_indices(target);
        if indices.len() == 1 {
            return Ok(indices[0].name.clone());
        }
        return Err(EsError::illegal_argument(format!(
            "alias [{target}] has more than one index associated with it [{}], can't execute a single index op",
            indices.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", ")
        )));
    }
    Err(EsError::index_not_found(target))
}
