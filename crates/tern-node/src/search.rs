//! The search coordinator: resolve targets, fan out to shards, merge, and keep scroll cursors.
//!
//! Each shard returns its own top `from + size` hits, already fetched; the coordinator merges them by
//! the request's sort and slices `from..from+size`. Scrolls pin one tantivy searcher per shard (a
//! point-in-time view that keeps its segments alive) and page through it with per-shard cursors, so
//! `helpers.scan` sees every document exactly once even while writes continue.
//!
//! In a cluster a target shard is read from one of its copies, local or on another node (see
//! [`Preference`] for the choice and `crate::shard_rpc` for the remote calls). A copy that cannot
//! answer (its node is gone, it has not opened the shard) is replaced by the next one; the shard
//! fails only when every copy did. Follow-up work on the hits (highlighting, rescoring, inner hits)
//! goes to the copy that answered the query phase, and a scroll or point in time stays on the copy
//! it pinned (its cursors are positions in that copy's segments).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::Value;
use tern_cluster::{ClusterMetadata, IndicesOptions};
use tern_common::{ErrorKind, EsError};
use tern_query::{Highlight, QueryAst, SearchRequest, SortOrder, SortSpec};
use tern_shard::aggs::{AggPartial, AggRequest, AggResults, FinalizeOptions};
use tern_shard::highlight::HighlightSettings;
use tern_shard::search::{
    InnerHitsResult, PinnedSearcher, ShardHit, ShardSearchRequest, ShardSearchResult, SortValue, compare_hits,
};
use tern_transport::TransportClient;

use crate::node::{Node, now_millis, random_es_id};
use crate::shard::ShardHandle;
use crate::shard_rpc::{
    ReadError, ReaderContexts, RemoteCopy, RemoteReader, RemoteShard, count_local, highlight_local, search_barrier,
    search_local,
};

/// One target shard of a read: its index, the copies it may be read from in the order they are
/// tried, and the filters its index's aliases impose.
#[derive(Clone)]
pub struct Target {
    pub index: String,
    pub index_uuid: String,
    pub shard: u32,
    /// The chosen copy first; the others are tried in turn when it cannot answer.
    pub copies: Vec<ShardCopy>,
    pub alias_filters: Vec<QueryAst>,
}

impl Target {
    /// This node's copy of the shard, if it is among the copies.
    pub fn local(&self) -> Option<&Arc<ShardHandle>> {
        self.copies.iter().find_map(|c| match c {
            ShardCopy::Local(h) => Some(h),
            ShardCopy::Remote(_) => None,
        })
    }

    fn no_copy(&self) -> EsError {
        EsError::new(
            ErrorKind::NoShardAvailable,
            format!("[{}][{}] no shard copy is available", self.index, self.shard),
        )
        .with("index_uuid", self.index_uuid.clone())
        .with("shard", self.shard.to_string())
        .with("index", self.index.clone())
    }
}

/// A copy of a shard a read can go to.
#[derive(Clone)]
pub enum ShardCopy {
    /// This node's copy: read in process, nothing serialized.
    Local(Arc<ShardHandle>),
    Remote(RemoteCopy),
}

/// ES 8's `preference`: which copies of each shard a read may use, and in which order.
///
/// Without one, reads spread over the started copies round robin (ES uses adaptive replica
/// selection; round robin is its simple stand-in). `_local` tries this node's copy first,
/// `_only_local` uses nothing else, `_only_nodes:`/`_prefer_nodes:` restrict to or favour nodes
/// by id or name (wildcards allowed), `_shards:0,2` reads only those shards (and may precede
/// another preference after `|`), and any other string picks the same copies every time it is
/// used, so a user's repeated searches see one consistent view.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Preference {
    shards: Option<Vec<u32>>,
    kind: PreferenceKind,
}

#[derive(Debug, Clone, Default, PartialEq)]
enum PreferenceKind {
    #[default]
    Any,
    Local,
    OnlyLocal,
    OnlyNodes(Vec<String>),
    PreferNodes(Vec<String>),
    Custom(String),
}

impl Preference {
    pub fn parse(v: &str) -> Result<Preference, EsError> {
        let mut out = Preference::default();
        let mut rest = v;
        if let Some(after) = v.strip_prefix("_shards:") {
            let (list, tail) = match after.split_once('|') {
                Some((l, t)) => (l, Some(t)),
                None => (after, None),
            };
            let mut shards = Vec::new();
            for s in list.split(',') {
                let n = s.trim().parse::<u32>().map_err(|_| {
                    EsError::illegal_argument(format!("failed to parse preference [{v}]: [{s}] is not a shard number"))
                })?;
                shards.push(n);
            }
            out.shards = Some(shards);
            match tail {
                Some(t) => rest = t,
                None => return Ok(out),
            }
        }
        let nodes = |arg: &str| arg.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
        out.kind = if rest.is_empty() {
            PreferenceKind::Any
        } else if !rest.starts_with('_') {
            PreferenceKind::Custom(rest.to_string())
        } else {
            let (name, arg) = rest.split_once(':').unwrap_or((rest, ""));
            match name {
                "_local" => PreferenceKind::Local,
                "_only_local" => PreferenceKind::OnlyLocal,
                "_only_nodes" => PreferenceKind::OnlyNodes(nodes(arg)),
                "_prefer_nodes" => PreferenceKind::PreferNodes(nodes(arg)),
                _ => return Err(EsError::illegal_argument(format!("no Preference for [{name}]"))),
            }
        };
        Ok(out)
    }

    fn parse_opt(v: Option<&str>) -> Result<Preference, EsError> {
        v.map(Preference::parse).transpose().map(Option::unwrap_or_default)
    }

    fn wants_shard(&self, shard: u32) -> bool {
        self.shards.as_ref().is_none_or(|s| s.contains(&shard))
    }
}

/// Whether a node matches one of `_only_nodes`/`_prefer_nodes`' specs (id or name, wildcards,
/// `_local`).
fn node_matches(specs: &[String], node: &tern_cluster::DiscoveryNode, local_id: &str) -> bool {
    specs.iter().any(|s| {
        (s == "_local" && node.id == local_id)
            || tern_cluster::wildcard::wildcard_match(s, &node.id)
            || tern_cluster::wildcard::wildcard_match(s, &node.name)
    })
}

/// A stable position for a custom preference string (FNV-1a): the same string picks the same copy
/// of a shard on every coordinating node.
fn preference_hash(s: &str, shard: u32) -> usize {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes().chain(shard.to_le_bytes()) {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h as usize
}

#[derive(Debug, Clone, Default)]
pub struct SearchOutcome {
    pub took_ms: u64,
    pub total: u64,
    pub max_score: Option<f32>,
    pub hits: Vec<(String, ShardHit)>,
    pub shards_total: u32,
    pub shards_successful: u32,
    pub shards_failed: Vec<(String, u32, EsError)>,
    pub terminated_early: Option<bool>,
    pub scroll_id: Option<String>,
    /// The point in time the search ran on (`pit.id`), echoed as `pit_id`.
    pub pit_id: Option<String>,
    /// Final aggregation results, when the request had `aggs`.
    pub aggregations: Option<AggResults>,
}

/// A pinned view of one shard copy: the searcher itself when the copy is local, a reader context
/// on the copy's node otherwise.
#[derive(Clone)]
pub(crate) enum Reader {
    Local(PinnedSearcher),
    Remote(Arc<RemoteReader>),
}

struct ScrollContext {
    request: ShardSearchRequest,
    /// The request's `highlight`, applied to every page.
    highlight: Option<Arc<Highlight>>,
    /// `search.max_buckets` when the scroll started (its first page carries the aggregations).
    max_buckets: usize,
    shards: Vec<(Target, Reader, Cursor)>,
    /// Shards none of whose copies could open a reader: failed on the first page.
    failed_open: Vec<(String, u32, EsError)>,
    size: usize,
    keep_alive: Duration,
    last_access: Instant,
    total: u64,
}

#[derive(Clone, Default)]
struct Cursor {
    after: Option<Vec<Value>>,
    after_doc_key: Option<i64>,
    exhausted: bool,
}

/// Open scroll contexts and points in time, by id; the reader contexts this node keeps for other
/// coordinators; the round-robin position of copy selection.
#[derive(Default)]
pub struct SearchContexts {
    scrolls: Mutex<HashMap<String, Arc<tokio::sync::Mutex<ScrollContext>>>>,
    pits: Mutex<HashMap<String, PitContext>>,
    pub(crate) readers: ReaderContexts,
    round_robin: AtomicUsize,
}

/// A point in time: one pinned reader per shard, kept while it is used within `keep_alive`.
struct PitContext {
    shards: Vec<(Target, Reader)>,
    keep_alive: Duration,
    last_access: Instant,
}

/// `_shard_doc`, the implicit tiebreaker of point-in-time searches: the shard's position in the
/// point in time above bit 48, the document's position in the shard below.
const SHARD_DOC_BITS: u32 = 48;

/// ES's `keep_alive` time values (`1m`, `30s`, `500ms`...).
pub fn parse_time(v: &str) -> Result<Duration, EsError> {
    let v = v.trim();
    let (num, unit) = v.find(|c: char| !c.is_ascii_digit()).map(|i| v.split_at(i)).unwrap_or((v, "ms"));
    let n: u64 = num.parse().map_err(|_| {
        EsError::illegal_argument(format!(
            "failed to parse setting [keep_alive] with value [{v}] as a time value: unit is missing or unrecognized"
        ))
    })?;
    let ms = match unit {
        "nanos" => n / 1_000_000,
        "micros" => n / 1000,
        "ms" => n,
        "s" => n * 1000,
        "m" => n * 60_000,
        "h" => n * 3_600_000,
        "d" => n * 86_400_000,
        _ => {
            return Err(EsError::illegal_argument(format!(
                "failed to parse setting [keep_alive] with value [{v}] as a time value: unit is missing or unrecognized"
            )));
        }
    };
    Ok(Duration::from_millis(ms))
}

impl Node {
    /// Resolves a search's index expression into target shards with alias filters.
    pub fn search_targets(&self, expr: &[String], opts: &IndicesOptions) -> Result<Vec<Target>, EsError> {
        self.search_targets_with(expr, opts, None)
    }

    /// [`Self::search_targets`] with a `preference` choosing the copies (and maybe the shards).
    pub fn search_targets_with(
        &self,
        expr: &[String],
        opts: &IndicesOptions,
        preference: Option<&str>,
    ) -> Result<Vec<Target>, EsError> {
        let preference = Preference::parse_opt(preference)?;
        let meta = self.metadata();
        let names = meta.resolve_indices(expr, opts).map_err(EsError::from)?;
        let mut targets = Vec::new();
        for name in names {
            let Some(im) = meta.indices.get(&name) else {
                continue;
            };
            if !im.is_open() {
                if opts.ignore_unavailable {
                    continue;
                }
                return Err(EsError::new(ErrorKind::IndexClosed, "closed")
                    .with("index_uuid", im.uuid.clone())
                    .with("index", name.clone()));
            }
            meta.check_index_block(&name, tern_cluster::BlockLevel::Read).map_err(EsError::from)?;
            // A document visible through filtered aliases must match any one of their filters.
            let mut alias_filters = Vec::new();
            if let Some(filters) = meta.alias_filters(&name, expr) {
                let mut should = Vec::new();
                for f in filters {
                    should.push(tern_query::parse_query(&f).map_err(EsError::from)?);
                }
                alias_filters.push(tern_query::QueryAst::Bool(tern_query::BoolQuery {
                    must: vec![],
                    filter: vec![],
                    should,
                    must_not: vec![],
                    minimum_should_match: None,
                    adjust_pure_negative: true,
                    boost: 1.0,
                    name: None,
                }));
            }
            for shard in 0..im.settings.number_of_shards() {
                if !preference.wants_shard(shard) {
                    continue;
                }
                let copies = self.read_copies(&meta, &name, &im.uuid, shard, &preference)?;
                // A lone node reads the shards it has open; in a cluster a shard without a copy
                // is a target that fails, as ES reports an unassigned shard.
                if copies.is_empty() && !self.is_clustered() {
                    continue;
                }
                targets.push(Target {
                    index: name.clone(),
                    index_uuid: im.uuid.clone(),
                    shard,
                    copies,
                    alias_filters: alias_filters.clone(),
                });
            }
        }
        Ok(targets)
    }

    /// The copies of one shard a read may use, in the order to try them (see [`Preference`]).
    /// On a lone node, the local copy if it is open.
    pub(crate) fn read_copies(
        &self,
        meta: &ClusterMetadata,
        index: &str,
        index_uuid: &str,
        shard: u32,
        preference: &Preference,
    ) -> Result<Vec<ShardCopy>, EsError> {
        let mut nodes = self.copy_nodes(meta, index_uuid, shard);
        if nodes.is_empty() {
            return Ok(self.shard(index_uuid, shard).map(ShardCopy::Local).into_iter().collect());
        }
        let me = self.info.node_id.as_str();
        let start = match &preference.kind {
            PreferenceKind::Custom(s) => preference_hash(s, shard),
            _ => self.search_contexts.round_robin.fetch_add(1, Ordering::Relaxed),
        };
        let n = nodes.len();
        nodes.rotate_left(start % n);
        match &preference.kind {
            PreferenceKind::Local => nodes.sort_by_key(|c| c.id != me),
            PreferenceKind::OnlyLocal => nodes.retain(|c| c.id == me),
            PreferenceKind::PreferNodes(specs) => nodes.sort_by_key(|c| !node_matches(specs, c, me)),
            PreferenceKind::OnlyNodes(specs) => {
                nodes.retain(|c| node_matches(specs, c, me));
                if nodes.is_empty() {
                    return Err(EsError::illegal_argument(format!(
                        "no data nodes with criteria [{}] found for shard: [{index}][{shard}]",
                        specs.join(",")
                    )));
                }
            }
            PreferenceKind::Any | PreferenceKind::Custom(_) => {}
        }
        Ok(nodes
            .into_iter()
            .filter_map(|c| {
                if c.id == me {
                    // Listed but not open here yet: not a copy this node can read.
                    self.shard(index_uuid, shard).map(ShardCopy::Local)
                } else {
                    Some(ShardCopy::Remote(RemoteCopy {
                        node_id: c.id,
                        node_name: c.name,
                        address: c.transport_address,
                    }))
                }
            })
            .collect())
    }

    fn read_client(&self) -> Result<&TransportClient, ReadError> {
        self.cluster.as_ref().map(|c| c.raft.client()).ok_or_else(|| {
            ReadError::Copy(EsError::new(ErrorKind::NoShardAvailable, "this node is not part of a cluster"))
        })
    }

    /// Calls on one remote copy of a target's shard.
    fn remote<'a>(&'a self, t: &'a Target, copy: &'a RemoteCopy) -> Result<RemoteShard<'a>, ReadError> {
        Ok(RemoteShard { client: self.read_client()?, copy, index_uuid: &t.index_uuid, shard: t.shard })
    }

    /// Runs `read` on a target's copies in order until one answers or fails with the shard's own
    /// error; a copy that cannot serve (`ReadError::Copy`) passes to the next. Returns the outcome
    /// and the position of the copy it came from.
    async fn on_copies<T, F, Fut>(&self, t: &Target, mut read: F) -> (Result<T, EsError>, usize)
    where
        F: FnMut(ShardCopy) -> Fut,
        Fut: Future<Output = Result<T, ReadError>>,
    {
        let mut last = None;
        for (i, copy) in t.copies.iter().enumerate() {
            match read(copy.clone()).await {
                Ok(v) => return (Ok(v), i),
                Err(ReadError::Shard(e)) => return (Err(e), i),
                Err(ReadError::Copy(e)) => {
                    tracing::debug!(index = %t.index, shard = t.shard, error = %e.reason, "shard copy failed; trying the next");
                    last = Some(e);
                }
            }
        }
        (Err(last.unwrap_or_else(|| t.no_copy())), t.copies.len().saturating_sub(1))
    }

    /// The query phase on one target: on its pinned reader when it has one (no other copy can
    /// continue a pinned view), else on the first copy that answers.
    async fn query_target(
        &self,
        t: &Target,
        req: ShardSearchRequest,
        reader: Option<(&Reader, Option<Duration>)>,
    ) -> (Result<ShardSearchResult, EsError>, usize) {
        let clustered = self.is_clustered();
        if let Some((reader, keep_alive)) = reader {
            let r = match (reader, t.copies.first()) {
                (Reader::Local(p), Some(ShardCopy::Local(h))) => {
                    search_local(h.clone(), req, Some(p.clone()), clustered).await
                }
                (Reader::Remote(r), _) => {
                    r.remote().search(req, Some((r.id, keep_alive))).await.map_err(ReadError::into_es)
                }
                (Reader::Local(_), _) => Err(t.no_copy()),
            };
            return (r, 0);
        }
        self.on_copies(t, |copy| {
            let req = req.clone();
            async move {
                match copy {
                    ShardCopy::Local(h) => search_local(h, req, None, clustered).await.map_err(ReadError::Shard),
                    ShardCopy::Remote(c) => self.remote(t, &c)?.search(req, None).await,
                }
            }
        })
        .await
    }

    /// Pins a view of a target for a scroll or point in time, on the first copy that can; the
    /// target then names that copy alone.
    async fn open_reader(&self, mut t: Target, keep_alive: Duration) -> Result<(Target, Reader), (Target, EsError)> {
        let clustered = self.is_clustered();
        let (r, used) = self
            .on_copies(&t, |copy| {
                let t = &t;
                async move {
                    match copy {
                        ShardCopy::Local(h) => {
                            if clustered {
                                search_barrier(&h).await;
                            }
                            Ok(Reader::Local(h.engine.pin()))
                        }
                        ShardCopy::Remote(c) => {
                            let id = self.remote(t, &c)?.open_reader(keep_alive).await?;
                            Ok(Reader::Remote(Arc::new(RemoteReader {
                                client: self.read_client()?.clone(),
                                copy: c,
                                index_uuid: t.index_uuid.clone(),
                                shard: t.shard,
                                id,
                            })))
                        }
                    }
                }
            })
            .await;
        match r {
            Ok(reader) => {
                let copy = t.copies.swap_remove(used);
                t.copies = vec![copy];
                Ok((t, reader))
            }
            Err(e) => Err((t, e)),
        }
    }

    /// `search.max_buckets` (transient settings win over persistent ones; ES's default 65,536).
    pub fn max_buckets(&self) -> usize {
        let meta = self.metadata();
        let read = |v: &Value| match v {
            Value::Number(n) => n.as_u64().map(|n| n as usize),
            Value::String(s) => s.parse::<usize>().ok(),
            _ => None,
        };
        meta.transient_settings
            .get("search.max_buckets")
            .and_then(read)
            .or_else(|| meta.persistent_settings.get("search.max_buckets").and_then(read))
            .unwrap_or(65_536)
    }

    /// `max_result_window` of the targets (the smallest applies).
    fn max_result_window(&self, targets: &[Target]) -> u64 {
        let meta = self.metadata();
        targets
            .iter()
            .filter_map(|t| meta.indices.get(&t.index).map(|m| m.settings.max_result_window()))
            .min()
            .unwrap_or(10_000)
    }

    pub async fn search(
        &self,
        targets: Vec<Target>,
        req: &SearchRequest,
        scroll: Option<Duration>,
    ) -> Result<SearchOutcome, EsError> {
        let started = Instant::now();
        // A point in time brings its own shards (pinned when it was opened).
        let pit = match &req.pit {
            Some(p) => {
                if scroll.is_some() {
                    return Err(EsError::validation(&[
                        "using [point in time] is not allowed in a scroll context".into()
                    ]));
                }
                Some(self.pit_shards(p)?)
            }
            None => None,
        };
        let mut targets: Vec<Target> = match &pit {
            Some((_, shards, _)) => shards.iter().map(|(t, _)| t.clone()).collect(),
            None => targets,
        };
        let from = req.from.unwrap_or(0);
        let size = req.size.unwrap_or(10);
        if from < 0 {
            return Err(EsError::illegal_argument(format!("[from] parameter cannot be negative, found [{from}]")));
        }
        if size < 0 {
            return Err(EsError::illegal_argument(format!("[size] parameter cannot be negative, found [{size}]")));
        }
        let window = self.max_result_window(&targets);
        if scroll.is_none() && (from + size) as u64 > window {
            return Err(search_failure(EsError::illegal_argument(format!(
                "Result window is too large, from + size must be less than or equal to: [{window}] but was [{}]. See the scroll api for a more efficient way to request large data sets. This limit can be set by changing the [index.max_result_window] index level setting.",
                from + size
            ))));
        }
        if scroll.is_some() && size as u64 > window {
            return Err(search_failure(EsError::illegal_argument(format!(
                "Batch size is too large, size must be less than or equal to: [{window}] but was [{size}]. Scroll batch sizes cost as much memory as result windows so they are controlled by the [index.max_result_window] index level setting."
            ))));
        }
        let max_docvalue_fields = {
            let meta = self.metadata();
            targets
                .iter()
                .filter_map(|t| meta.indices.get(&t.index))
                .map(|m| {
                    m.settings
                        .get_str("index.max_docvalue_fields_search")
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(100)
                })
                .min()
                .unwrap_or(100)
        };
        if req.docvalue_fields.len() > max_docvalue_fields {
            return Err(search_failure(EsError::illegal_argument(format!(
                "Trying to retrieve too many docvalue_fields. Must be less than or equal to: [{max_docvalue_fields}] but was [{}]. This limit can be set by changing the [index.max_docvalue_fields_search] index level setting.",
                req.docvalue_fields.len()
            ))));
        }
        if scroll.is_some() && from > 0 {
            return Err(EsError::validation(&["using [from] is not allowed in a scroll context".into()]));
        }
        let mut sort = req.sort.clone();
        // `_shard_doc` is resolved here, not by the shards: it is the point in time's tiebreaker.
        if sort.last().is_some_and(|s| s.field == "_shard_doc") {
            if pit.is_none() {
                return Err(EsError::validation(&[
                    "[_shard_doc] sort field cannot be used without [point in time]".to_string()
                ]));
            }
            sort.pop();
        }
        if (scroll.is_some() || pit.is_some()) && sort.is_empty() {
            let mut by_score = SortSpec::new("_score");
            by_score.order = Some(SortOrder::Desc);
            sort.push(by_score);
        }
        let mut search_after = req.search_after.clone();
        let mut pit_run = pit.as_ref().map(|(_, shards, keep_alive)| PitRun {
            readers: shards.iter().map(|(_, r)| r.clone()).collect(),
            keep_alive: *keep_alive,
            after_keys: None,
        });
        if let (Some(run), Some(after)) = (&mut pit_run, &mut search_after)
            && after.len() == sort.len() + 1
        {
            let shard_doc = after
                .pop()
                .and_then(|v| v.as_i64())
                .ok_or_else(|| EsError::illegal_argument("the [_shard_doc] value of [search_after] must be a long"))?;
            let (at, key) = (shard_doc >> SHARD_DOC_BITS, shard_doc & ((1i64 << SHARD_DOC_BITS) - 1));
            run.after_keys = Some(
                (0..run.readers.len() as i64)
                    .map(|i| {
                        Some(match i.cmp(&at) {
                            std::cmp::Ordering::Less => i64::MAX,
                            std::cmp::Ordering::Equal => key,
                            std::cmp::Ordering::Greater => -1,
                        })
                    })
                    .collect(),
            );
        }
        let collapse = match &req.collapse {
            Some(v) => Some(self.parse_collapse(v, &targets)?),
            None => None,
        };
        if collapse.is_some() {
            let conflict = if scroll.is_some() {
                Some("cannot use `collapse` in a scroll context")
            } else if req.search_after.is_some() {
                Some("cannot use `collapse` in conjunction with `search_after`")
            } else if !req.rescore.is_empty() {
                Some("cannot use `collapse` in conjunction with `rescore`")
            } else {
                None
            };
            if let Some(reason) = conflict {
                return Err(EsError::validation(&[reason.to_string()]));
            }
        }
        let rescorers = self.parse_rescore(&req.rescore, &targets)?;
        if !rescorers.is_empty() && scroll.is_none() && sort.iter().any(|s| s.field != "_score") {
            return Err(EsError::validation(&["Cannot use [sort] option in conjunction with [rescore].".to_string()]));
        }
        let aggs = match &req.aggs {
            Some(v) => Some(Arc::new(AggRequest::parse(v)?)),
            None => None,
        };
        let max_buckets = self.max_buckets();
        if let Some(a) = &aggs {
            a.check_max_buckets(max_buckets)?;
        }
        let shard_req = ShardSearchRequest {
            query: req.query.clone().unwrap_or_else(QueryAst::match_all),
            filters: Vec::new(),
            post_filter: req.post_filter.clone(),
            aggs,
            sort,
            top: rescorers.iter().map(|r| r.window).fold((from + size) as usize, usize::max),
            search_after,
            min_score: req.min_score,
            terminate_after: req.terminate_after.map(|t| t as u64),
            track_scores: req.track_scores,
            now_millis: now_millis(),
            after_doc_key: None,
        };
        let shards_total = targets.len() as u32;
        let highlight = req.highlight.clone().map(Arc::new);
        if let Some(keep_alive) = scroll {
            return self
                .start_scroll(targets, shard_req, highlight, size as usize, keep_alive, max_buckets, started)
                .await;
        }
        let (mut hits, total, mut max_score, failed, terminated, partial) = match &collapse {
            None => self.run_shards(&mut targets, &shard_req, pit_run.as_ref()).await,
            Some(field) => run_collapsed(self, &mut targets, shard_req.clone(), field, (from + size) as usize).await?,
        };
        if failed.len() == targets.len() && !targets.is_empty() {
            let first = failed[0].2.clone();
            return Err(search_failure(first));
        }
        if pit.is_some() {
            // Each hit's `_shard_doc` joins its sort values, and breaks ties in the merged order.
            let position: HashMap<(&str, u32), i64> =
                targets.iter().enumerate().map(|(i, t)| ((t.index.as_str(), t.shard), i as i64)).collect();
            for (index, h) in hits.iter_mut() {
                let at = position.get(&(index.as_str(), h.shard)).copied().unwrap_or(0);
                h.sort
                    .push(SortValue::I64((at << SHARD_DOC_BITS) | (h.doc_key as i64 & ((1i64 << SHARD_DOC_BITS) - 1))));
            }
            let shard_sort = shard_req.sort.clone();
            let n = shard_sort.len();
            hits.sort_by(|a, b| {
                compare_hits(&a.1, &b.1, &shard_sort).then_with(|| match (&a.1.sort.get(n), &b.1.sort.get(n)) {
                    (Some(SortValue::I64(x)), Some(SortValue::I64(y))) => x.cmp(y),
                    _ => std::cmp::Ordering::Equal,
                })
            });
        }
        let aggregations = finalize_aggs(shard_req.aggs.as_deref(), partial, max_buckets)?;
        if !rescorers.is_empty() {
            max_score = rescore(self, &mut targets, &rescorers, &mut hits, shard_req.now_millis).await?.or(max_score);
        }
        let mut hits: Vec<(String, ShardHit)> = hits.into_iter().skip(from as usize).take(size as usize).collect();
        if let Some(c) = &req.collapse {
            self.expand_inner_hits(&mut targets, &shard_req.query, c, &mut hits).await?;
        }
        if let Some(hl) = &highlight {
            self.highlight_hits(&targets, hl, &shard_req.query, &mut hits).await?;
        }
        Ok(SearchOutcome {
            took_ms: started.elapsed().as_millis() as u64,
            total,
            max_score,
            hits,
            shards_total,
            shards_successful: shards_total - failed.len() as u32,
            shards_failed: failed,
            terminated_early: req.terminate_after.map(|_| terminated),
            scroll_id: None,
            pit_id: pit.map(|(id, _, _)| id),
            aggregations,
        })
    }

    pub async fn count(
        &self,
        targets: Vec<Target>,
        query: Option<QueryAst>,
    ) -> Result<(u64, u32, Vec<(String, u32, EsError)>), EsError> {
        let query = query.unwrap_or_else(QueryAst::match_all);
        let now = now_millis();
        let clustered = self.is_clustered();
        let query = &query;
        let jobs = targets.iter().map(|t| {
            self.on_copies(t, move |copy| {
                let q = query.clone();
                let filters = t.alias_filters.clone();
                async move {
                    match copy {
                        ShardCopy::Local(h) => {
                            count_local(h, q, filters, now, clustered).await.map_err(ReadError::Shard)
                        }
                        ShardCopy::Remote(c) => self.remote(t, &c)?.count(q, filters, now).await,
                    }
                }
            })
        });
        let mut total = 0;
        let mut failed = Vec::new();
        for (t, (r, _)) in targets.iter().zip(futures::future::join_all(jobs).await) {
            match r {
                Ok(n) => total += n,
                Err(e) => failed.push((t.index.clone(), t.shard, e)),
            }
        }
        if !targets.is_empty() && failed.len() == targets.len() {
            return Err(search_failure(failed[0].2.clone()));
        }
        Ok((total, targets.len() as u32, failed))
    }

    #[allow(clippy::too_many_arguments)]
    async fn start_scroll(
        &self,
        targets: Vec<Target>,
        req: ShardSearchRequest,
        highlight: Option<Arc<Highlight>>,
        size: usize,
        keep_alive: Duration,
        max_buckets: usize,
        started: Instant,
    ) -> Result<SearchOutcome, EsError> {
        let opened = futures::future::join_all(targets.into_iter().map(|t| self.open_reader(t, keep_alive))).await;
        let mut shards = Vec::new();
        let mut failed_open = Vec::new();
        for r in opened {
            match r {
                Ok((t, reader)) => shards.push((t, reader, Cursor::default())),
                Err((t, e)) => failed_open.push((t.index, t.shard, e)),
            }
        }
        let ctx = ScrollContext {
            request: req,
            highlight,
            max_buckets,
            shards,
            failed_open,
            size,
            keep_alive,
            last_access: Instant::now(),
            total: 0,
        };
        let id = random_es_id();
        let ctx = Arc::new(tokio::sync::Mutex::new(ctx));
        self.search_contexts.scrolls.lock().insert(id.clone(), ctx.clone());
        let out = self.scroll_page(&ctx, true).await;
        let mut out = match out {
            Ok(out) => out,
            Err(e) => {
                self.search_contexts.scrolls.lock().remove(&id);
                return Err(e);
            }
        };
        out.scroll_id = Some(id);
        out.took_ms = started.elapsed().as_millis() as u64;
        Ok(out)
    }

    /// The next page of a scroll.
    pub async fn scroll(&self, scroll_id: &str, keep_alive: Option<Duration>) -> Result<SearchOutcome, EsError> {
        let started = Instant::now();
        self.expire_scrolls();
        let ctx = self.search_contexts.scrolls.lock().get(scroll_id).cloned().ok_or_else(|| {
            search_failure(EsError::new(
                ErrorKind::SearchContextMissing,
                format!("No search context found for id [{scroll_id}]"),
            ))
            .with_status(404)
        })?;
        if let Some(k) = keep_alive {
            ctx.lock().await.keep_alive = k;
        }
        let mut out = self.scroll_page(&ctx, false).await?;
        out.scroll_id = Some(scroll_id.to_string());
        out.took_ms = started.elapsed().as_millis() as u64;
        Ok(out)
    }

    async fn scroll_page(
        &self,
        ctx: &Arc<tokio::sync::Mutex<ScrollContext>>,
        first: bool,
    ) -> Result<SearchOutcome, EsError> {
        let mut c = ctx.lock().await;
        c.last_access = Instant::now();
        let size = c.size;
        let keep_alive = c.keep_alive;
        let mut per_shard = Vec::new();
        for (i, (t, reader, cursor)) in c.shards.iter().enumerate() {
            if cursor.exhausted {
                continue;
            }
            let mut req = c.request.clone();
            if !first {
                req.aggs = None;
            }
            req.top = size;
            req.search_after = cursor.after.clone();
            req.after_doc_key = cursor.after_doc_key;
            req.filters.extend(t.alias_filters.iter().cloned());
            per_shard.push(async move { (i, self.query_target(t, req, Some((reader, Some(keep_alive)))).await.0) });
        }
        let results = futures::future::join_all(per_shard).await;
        let mut merged: Vec<(usize, ShardHit)> = Vec::new();
        let mut total = 0;
        let mut max_score: Option<f32> = None;
        let mut failed = if first { std::mem::take(&mut c.failed_open) } else { Vec::new() };
        let opened = c.shards.len() + failed.len();
        let mut partial: Option<AggPartial> = None;
        for (i, r) in results {
            match r {
                Ok(mut r) => {
                    merge_partial(&mut partial, r.aggs.take());
                    total += r.total;
                    if let Some(s) = r.max_score {
                        max_score = Some(max_score.map_or(s, |m| m.max(s)));
                    }
                    if r.hits.is_empty() {
                        c.shards[i].2.exhausted = true;
                    }
                    merged.extend(r.hits.into_iter().map(|h| (i, h)));
                }
                Err(e) => failed.push((c.shards[i].0.index.clone(), c.shards[i].0.shard, e)),
            }
        }
        let sort = c.request.sort.clone();
        merged.sort_by(|a, b| compare_hits(&a.1, &b.1, &sort));
        merged.truncate(size);
        for (i, h) in &merged {
            let cursor = &mut c.shards[*i].2;
            cursor.after = Some(h.sort.iter().zip(&sort).map(|(v, s)| sort_after_value(v, h, s)).collect());
            cursor.after_doc_key = Some(h.doc_key as i64);
        }
        if first {
            c.total = total;
        }
        let shards_total = if first { opened as u32 } else { c.shards.len() as u32 };
        if first && opened > 0 && failed.len() == opened {
            return Err(search_failure(failed[0].2.clone()));
        }
        let aggregations = if first { finalize_aggs(c.request.aggs.as_deref(), partial, c.max_buckets)? } else { None };
        let mut hits: Vec<(String, ShardHit)> =
            merged.into_iter().map(|(i, h)| (c.shards[i].0.index.clone(), h)).collect();
        if let Some(hl) = &c.highlight {
            let targets: Vec<Target> = c.shards.iter().map(|(t, _, _)| t.clone()).collect();
            self.highlight_hits(&targets, hl, &c.request.query, &mut hits).await?;
        }
        Ok(SearchOutcome {
            took_ms: 0,
            total: c.total,
            max_score,
            hits,
            shards_total,
            shards_successful: shards_total - failed.len() as u32,
            shards_failed: failed,
            terminated_early: None,
            scroll_id: None,
            pit_id: None,
            aggregations,
        })
    }

    /// The fetch phase's highlighting: only the hits returned are highlighted, each on the copy
    /// that returned it (whose mapping and analyzers apply). A failure fails the search, as a fetch
    /// failure on every shard does in ES.
    async fn highlight_hits(
        &self,
        targets: &[Target],
        highlight: &Arc<Highlight>,
        query: &QueryAst,
        hits: &mut [(String, ShardHit)],
    ) -> Result<(), EsError> {
        if hits.is_empty() || highlight.fields.is_empty() {
            return Ok(());
        }
        let meta = self.metadata();
        let mut jobs = Vec::new();
        for t in targets {
            let (positions, docs): (Vec<usize>, Vec<_>) = hits
                .iter()
                .enumerate()
                .filter(|(_, (index, h))| *index == t.index && h.shard == t.shard)
                .map(|(i, (_, h))| (i, (h.doc_key, h.doc.source.clone())))
                .unzip();
            if docs.is_empty() {
                continue;
            }
            let settings = meta.indices.get(&t.index).map(|m| highlight_settings(&m.settings)).unwrap_or_default();
            let highlight = highlight.clone();
            let query = query.clone();
            jobs.push(async move {
                let highlighted = match t.copies.first() {
                    Some(ShardCopy::Local(h)) => highlight_local(h.clone(), highlight, query, settings, docs).await,
                    Some(ShardCopy::Remote(c)) => {
                        let docs = docs.into_iter().map(|(k, s)| (k, s.to_vec())).collect();
                        match self.remote(t, c) {
                            Ok(remote) => remote.highlight((*highlight).clone(), query, settings, docs).await,
                            Err(e) => Err(e),
                        }
                        .map_err(ReadError::into_es)
                    }
                    None => Err(t.no_copy()),
                };
                highlighted.map(|h| positions.into_iter().zip(h).collect::<Vec<_>>())
            });
        }
        for job in futures::future::join_all(jobs).await {
            for (i, hl) in job.map_err(fetch_failure)? {
                hits[i].1.highlight = hl;
            }
        }
        Ok(())
    }

    /// Frees scroll contexts; `None` clears all. Returns how many were freed.
    pub fn clear_scrolls(&self, ids: Option<&[String]>) -> usize {
        let mut scrolls = self.search_contexts.scrolls.lock();
        match ids {
            None => {
                let n = scrolls.len();
                scrolls.clear();
                n
            }
            Some(ids) => ids.iter().filter(|id| scrolls.remove(id.as_str()).is_some()).count(),
        }
    }

    pub fn open_scroll_count(&self) -> usize {
        self.search_contexts.scrolls.lock().len()
    }

    fn expire_scrolls(&self) {
        let mut scrolls = self.search_contexts.scrolls.lock();
        scrolls.retain(|_, c| match c.try_lock() {
            Ok(c) => c.last_access.elapsed() < c.keep_alive,
            Err(_) => true,
        });
    }
}

/// The `search_after` value that resumes after a hit: the score for `_score`, the doc key for `_doc`.
fn sort_after_value(v: &SortValue, h: &ShardHit, spec: &SortSpec) -> Value {
    match spec.field.as_str() {
        "_score" => {
            serde_json::Number::from_f64(h.score.unwrap_or(0.0) as f64).map(Value::Number).unwrap_or(Value::Null)
        }
        "_doc" => Value::from(h.doc_key as i64),
        _ => v.to_json(),
    }
}

type ShardRun = (Vec<(String, ShardHit)>, u64, Option<f32>, Vec<(String, u32, EsError)>, bool, Option<AggPartial>);

fn merge_partial(acc: &mut Option<AggPartial>, next: Option<AggPartial>) {
    if let Some(p) = next {
        match acc {
            Some(a) => a.merge(p),
            None => *acc = Some(p),
        }
    }
}

/// The final reduction of the shards' aggregation results (pipelines included).
fn finalize_aggs(
    request: Option<&AggRequest>,
    partial: Option<AggPartial>,
    max_buckets: usize,
) -> Result<Option<AggResults>, EsError> {
    let Some(request) = request else { return Ok(None) };
    let partial = partial.unwrap_or_else(|| AggPartial::empty(request));
    partial.finalize(request, &FinalizeOptions { max_buckets }).map(Some)
}

impl Node {
    /// Validates `collapse` (ES's `CollapseBuilder`): one field, a keyword or a number in every
    /// target index. `inner_hits` is refused rather than ignored.
    fn parse_collapse(&self, v: &Value, targets: &[Target]) -> Result<CollapseField, EsError> {
        let obj = v.as_object().ok_or_else(|| EsError::parsing("[collapse] expected an object"))?;
        let mut field = None;
        for (k, val) in obj {
            match k.as_str() {
                "field" => field = val.as_str().map(String::from),
                "max_concurrent_group_searches" => {}
                "inner_hits" => {
                    let list: Vec<&Value> = match val {
                        Value::Array(a) => a.iter().collect(),
                        other => vec![other],
                    };
                    // ES collapses twice at most: the inner collapse cannot expand again.
                    if list.iter().any(|s| {
                        s.pointer("/collapse/inner_hits").is_some() || s.pointer("/collapse/collapse").is_some()
                    }) {
                        return Err(EsError::new(
                            ErrorKind::Parsing,
                            "[collapse] inner_hits field is not supported in the inner collapse of an inner_hits",
                        )
                        .with_type("parse_exception"));
                    }
                    for (_, spec) in inner_hits_specs(v) {
                        tern_query::parse_search_request(&spec).map_err(EsError::from)?;
                    }
                }
                other => return Err(EsError::parsing(format!("[collapse] unknown field [{other}]"))),
            }
        }
        let field = field.ok_or_else(|| EsError::validation(&["[field] is required for collapse".to_string()]))?;
        let meta = self.metadata();
        let mut paths = HashMap::new();
        for t in targets {
            let Some(im) = meta.indices.get(&t.index) else { continue };
            let mapping = tern_mapping::Mapping::parse(&im.mappings).map_err(EsError::from)?;
            if let Some((concrete, _)) = mapping.resolve_field(&field) {
                paths.insert(t.index.clone(), concrete);
            }
            match mapping.field_type_name(&field) {
                None => {
                    return Err(search_failure(EsError::illegal_argument(format!(
                        "no mapping found for `{field}` in order to collapse on"
                    ))));
                }
                Some(
                    "keyword" | "long" | "integer" | "short" | "byte" | "double" | "float" | "half_float"
                    | "scaled_float" | "unsigned_long" | "date" | "ip" | "boolean",
                ) => {}
                Some(_) => {
                    return Err(search_failure(EsError::illegal_argument(format!(
                        "unknown type for collapse field `{field}`, only keywords and numbers are accepted"
                    ))));
                }
            }
        }
        Ok(CollapseField { name: field, paths })
    }

    /// Expands each collapsed group hit with its `inner_hits`: the group's own top hits (the query
    /// restricted to the group's value), optionally collapsed again by a second field.
    async fn expand_inner_hits(
        &self,
        targets: &mut [Target],
        query: &QueryAst,
        collapse: &Value,
        hits: &mut [(String, ShardHit)],
    ) -> Result<(), EsError> {
        let specs = inner_hits_specs(collapse);
        if specs.is_empty() {
            return Ok(());
        }
        for (_, hit) in hits.iter_mut() {
            let Some((field, key)) = hit.collapse.clone() else { continue };
            let group_filter = if key.is_null() {
                tern_query::parse_query(&serde_json::json!({"bool": {"must_not": {"exists": {"field": field}}}}))
            } else {
                tern_query::parse_query(&serde_json::json!({"term": {field.clone(): key}}))
            }
            .map_err(EsError::from)?;
            for (name, spec) in &specs {
                let inner = tern_query::parse_search_request(spec).map_err(EsError::from)?;
                let from = inner.from.unwrap_or(0).max(0) as usize;
                let size = inner.size.unwrap_or(3).max(0) as usize;
                let req = restricted_request(
                    query,
                    group_filter.clone(),
                    inner.sort.clone(),
                    from + size,
                    inner.track_scores,
                    now_millis(),
                );
                let second = collapse.get("inner_hits").and_then(|ih| {
                    let one = if let Some(a) = ih.as_array() {
                        a.iter().find(|s| inner_hits_name(s, collapse) == *name)
                    } else {
                        Some(ih)
                    };
                    one.and_then(|s| s.pointer("/collapse/field")).and_then(Value::as_str).map(String::from)
                });
                let (found, total, max_score, failed, _, _) = match &second {
                    Some(f) => {
                        let f = CollapseField { name: f.clone(), paths: HashMap::new() };
                        run_collapsed(self, targets, req, &f, from + size).await?
                    }
                    None => self.run_shards(targets, &req, None).await,
                };
                if let Some((_, _, e)) = failed.into_iter().next() {
                    return Err(search_failure(e));
                }
                let page = found.into_iter().skip(from).take(size).collect();
                hit.inner_hits.push((name.clone(), InnerHitsResult { total, max_score, hits: page }));
            }
        }
        Ok(())
    }
}

fn inner_hits_name(spec: &Value, collapse: &Value) -> String {
    spec.get("name")
        .and_then(Value::as_str)
        .or_else(|| collapse.get("field").and_then(Value::as_str))
        .unwrap_or_default()
        .to_string()
}

/// `collapse.inner_hits` (an object or an array of them) as `(name, search request body)`: the keys
/// an inner hits definition shares with a search request, so one parser and one renderer serve both.
pub fn inner_hits_specs(collapse: &Value) -> Vec<(String, Value)> {
    let Some(ih) = collapse.get("inner_hits") else { return Vec::new() };
    let list: Vec<&Value> = match ih {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    list.into_iter()
        .map(|spec| {
            let mut body = serde_json::Map::new();
            if let Some(obj) = spec.as_object() {
                for (k, v) in obj {
                    if !matches!(k.as_str(), "name" | "collapse" | "ignore_unmapped") {
                        body.insert(k.clone(), v.clone());
                    }
                }
            }
            (inner_hits_name(spec, collapse), Value::Object(body))
        })
        .collect()
}

/// What a point-in-time search gives each shard: its pinned reader (and the keep-alive the search
/// extends it to) and, after `search_after` with a `_shard_doc` value, its tiebreak position.
struct PitRun {
    readers: Vec<Reader>,
    keep_alive: Duration,
    after_keys: Option<Vec<Option<i64>>>,
}

impl Node {
    /// `POST /{index}/_pit`: pins the current view of every target shard, each on one of its
    /// copies (local or remote). A shard none of whose copies can be pinned fails the request, as
    /// ES fails opening a point in time that would miss shards.
    pub async fn open_pit(&self, targets: Vec<Target>, keep_alive: Duration) -> Result<(String, u32), EsError> {
        self.expire_pits();
        let n = targets.len() as u32;
        let opened = futures::future::join_all(targets.into_iter().map(|t| self.open_reader(t, keep_alive))).await;
        let mut shards = Vec::with_capacity(opened.len());
        for r in opened {
            match r {
                Ok(shard) => shards.push(shard),
                // Dropping what was opened releases it (remote contexts included).
                Err((_, e)) => return Err(search_failure(e)),
            }
        }
        let id = random_es_id();
        self.search_contexts
            .pits
            .lock()
            .insert(id.clone(), PitContext { shards, keep_alive, last_access: Instant::now() });
        Ok((id, n))
    }

    /// `DELETE /_pit`: how many of `ids` were open. Their contexts on other nodes are released in
    /// the background.
    pub fn close_pits(&self, ids: &[String]) -> usize {
        self.expire_pits();
        let mut pits = self.search_contexts.pits.lock();
        ids.iter().filter(|id| pits.remove(id.as_str()).is_some()).count()
    }

    pub fn open_pit_count(&self) -> usize {
        self.search_contexts.pits.lock().len()
    }

    /// Reader contexts this node keeps for scrolls and points in time coordinated elsewhere.
    pub fn open_reader_context_count(&self) -> usize {
        self.search_contexts.readers.len()
    }

    fn expire_pits(&self) {
        self.search_contexts.pits.lock().retain(|_, p| p.last_access.elapsed() < p.keep_alive);
    }

    /// The shards of the point in time a search names, extending its `keep_alive`.
    #[allow(clippy::type_complexity)]
    fn pit_shards(&self, pit: &Value) -> Result<(String, Vec<(Target, Reader)>, Duration), EsError> {
        let id =
            pit.get("id").and_then(Value::as_str).ok_or_else(|| EsError::parsing("[pit] requires [id]"))?.to_string();
        let keep_alive = match pit.get("keep_alive").and_then(Value::as_str) {
            Some(k) => Some(parse_time(k)?),
            None => None,
        };
        self.expire_pits();
        let mut pits = self.search_contexts.pits.lock();
        let ctx = pits.get_mut(&id).ok_or_else(|| {
            EsError::new(ErrorKind::SearchContextMissing, format!("No search context found for id [{id}]"))
        })?;
        ctx.last_access = Instant::now();
        if let Some(k) = keep_alive {
            ctx.keep_alive = k;
        }
        Ok((id, ctx.shards.clone(), ctx.keep_alive))
    }
}

/// One query rescorer (`rescore.query`): the top `window` hits get
/// `query_weight * score (op) rescore_query_weight * rescore_score`.
#[derive(Debug, Clone)]
struct Rescorer {
    window: usize,
    query: QueryAst,
    query_weight: f32,
    rescore_weight: f32,
    mode: RescoreMode,
}

#[derive(Debug, Clone, Copy)]
enum RescoreMode {
    Total,
    Multiply,
    Avg,
    Max,
    Min,
}

impl Node {
    fn parse_rescore(&self, rescore: &[Value], targets: &[Target]) -> Result<Vec<Rescorer>, EsError> {
        let meta = self.metadata();
        let max_window = targets
            .iter()
            .filter_map(|t| meta.indices.get(&t.index).map(|m| m.settings.max_rescore_window()))
            .min()
            .unwrap_or(10_000);
        let num = |v: &Value, what: &str| -> Result<f32, EsError> {
            v.as_f64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .map(|f| f as f32)
                .ok_or_else(|| EsError::parsing(format!("[{what}] must be a number, found [{v}]")))
        };
        let mut out = Vec::new();
        for r in rescore {
            let obj = r.as_object().ok_or_else(|| EsError::parsing("[rescore] expected an object"))?;
            let mut window = 10usize;
            let mut q = None;
            for (k, v) in obj {
                match k.as_str() {
                    "window_size" => {
                        window = v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())).ok_or_else(|| {
                            EsError::parsing(format!("[window_size] must be a positive number, found [{v}]"))
                        })? as usize
                    }
                    "query" => q = Some(v),
                    other => return Err(EsError::parsing(format!("unknown rescorer [{other}]"))),
                }
            }
            if window as u64 > max_window {
                return Err(EsError::illegal_argument(format!(
                    "Rescore window [{window}] is too large. It must be less than [{max_window}]. This prevents allocating massive heaps for storing the results to be rescored. This limit can be set by changing the [index.max_rescore_window] index level setting."
                )));
            }
            let q = q
                .and_then(Value::as_object)
                .ok_or_else(|| EsError::parsing("[rescore] requires a [query] rescorer"))?;
            let mut rescorer = Rescorer {
                window,
                query: QueryAst::match_all(),
                query_weight: 1.0,
                rescore_weight: 1.0,
                mode: RescoreMode::Total,
            };
            let mut has_query = false;
            for (k, v) in q {
                match k.as_str() {
                    "rescore_query" => {
                        rescorer.query = tern_query::parse_query(v).map_err(EsError::from)?;
                        has_query = true;
                    }
                    "query_weight" => rescorer.query_weight = num(v, k)?,
                    "rescore_query_weight" => rescorer.rescore_weight = num(v, k)?,
                    "score_mode" => {
                        rescorer.mode = match v.as_str().unwrap_or_default() {
                            "total" => RescoreMode::Total,
                            "multiply" => RescoreMode::Multiply,
                            "avg" => RescoreMode::Avg,
                            "max" => RescoreMode::Max,
                            "min" => RescoreMode::Min,
                            other => return Err(EsError::illegal_argument(format!("illegal score_mode [{other}]"))),
                        }
                    }
                    other => return Err(EsError::parsing(format!("[query] rescorer does not support [{other}]"))),
                }
            }
            if !has_query {
                return Err(EsError::parsing("[query] rescorer requires [rescore_query]"));
            }
            out.push(rescorer);
        }
        Ok(out)
    }
}

/// Applies the rescorers in order to the top of the merged hits (sorted by score): the rescore query
/// is run over just the window's documents, their scores are combined, and the hits re-sorted.
/// Returns the new `max_score`.
async fn rescore(
    node: &Node,
    targets: &mut [Target],
    rescorers: &[Rescorer],
    hits: &mut [(String, ShardHit)],
    now: i64,
) -> Result<Option<f32>, EsError> {
    for r in rescorers {
        let n = r.window.min(hits.len());
        if n == 0 {
            continue;
        }
        let ids: Vec<&str> = hits[..n].iter().map(|(_, h)| h.doc.id.as_str()).collect();
        let ids_query = tern_query::parse_query(&serde_json::json!({"ids": {"values": ids}})).map_err(EsError::from)?;
        let req = restricted_request(&r.query, ids_query, Vec::new(), n, false, now);
        let (found, _, _, failed, _, _) = node.run_shards(targets, &req, None).await;
        if let Some((_, _, e)) = failed.into_iter().next() {
            return Err(search_failure(e));
        }
        let scores: HashMap<(String, String), f32> =
            found.into_iter().map(|(index, h)| ((index, h.doc.id), h.score.unwrap_or(0.0))).collect();
        for (index, h) in hits[..n].iter_mut() {
            let primary = r.query_weight * h.score.unwrap_or(0.0);
            let combined = match scores.get(&(index.clone(), h.doc.id.clone())) {
                None => primary,
                Some(s) => {
                    let secondary = r.rescore_weight * s;
                    match r.mode {
                        RescoreMode::Total => primary + secondary,
                        RescoreMode::Multiply => primary * secondary,
                        RescoreMode::Avg => (primary + secondary) / 2.0,
                        RescoreMode::Max => primary.max(secondary),
                        RescoreMode::Min => primary.min(secondary),
                    }
                }
            };
            h.score = Some(combined);
        }
        // As ES's `QueryRescorer.combine`: hits beyond the window count as rescored hits that did not
        // match the rescore query, then everything is sorted again.
        for (_, h) in hits[n..].iter_mut() {
            h.score = h.score.map(|s| s * r.query_weight);
        }
        hits.sort_by(|a, b| b.1.score.unwrap_or(0.0).total_cmp(&a.1.score.unwrap_or(0.0)));
    }
    Ok(hits.iter().filter_map(|(_, h)| h.score).reduce(f32::max))
}

/// A follow-up search over the same shards: `query` restricted to what `filter` matches, scored by
/// `query` alone (a collapsed group's inner hits, a rescore window).
fn restricted_request(
    query: &QueryAst,
    filter: QueryAst,
    sort: Vec<SortSpec>,
    top: usize,
    track_scores: bool,
    now: i64,
) -> ShardSearchRequest {
    ShardSearchRequest {
        query: QueryAst::Bool(tern_query::ast::BoolQuery {
            must: vec![query.clone()],
            filter: vec![filter],
            ..Default::default()
        }),
        filters: Vec::new(),
        post_filter: None,
        aggs: None,
        sort,
        top,
        search_after: None,
        min_score: None,
        terminate_after: None,
        track_scores,
        now_millis: now,
        after_doc_key: None,
    }
}

/// The field hits are collapsed on, and its concrete path in each index (a field alias resolves to
/// the field it points to, which is where the value is in the source).
#[derive(Debug, Clone)]
pub struct CollapseField {
    name: String,
    paths: HashMap<String, String>,
}

impl CollapseField {
    fn path_in(&self, index: &str) -> &str {
        self.paths.get(index).map(String::as_str).unwrap_or(&self.name)
    }
}

/// The value of `path` in a source, for collapsing: dotted paths through objects, a multi-field
/// (`title.raw`) through its parent's value, a one-element array as its element.
fn collapse_value(source: &[u8], path: &str) -> Result<Value, EsError> {
    let Ok(doc) = serde_json::from_slice::<Value>(source) else {
        return Ok(Value::Null);
    };
    fn walk<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
        if let Some(x) = v.get(path) {
            return Some(x);
        }
        let mut cut = path.len();
        while let Some(i) = path[..cut].rfind('.') {
            if let Some(inner) = v.get(&path[..i]) {
                return walk(inner, &path[i + 1..]);
            }
            cut = i;
        }
        None
    }
    let mut value = walk(&doc, path);
    if value.is_none()
        && let Some((parent, _)) = path.rsplit_once('.')
    {
        value = walk(&doc, parent);
    }
    match value {
        None | Some(Value::Null) => Ok(Value::Null),
        Some(Value::Array(a)) if a.is_empty() => Ok(Value::Null),
        Some(Value::Array(a)) if a.len() == 1 => Ok(a[0].clone()),
        Some(Value::Array(_)) => Err(EsError::illegal_argument(format!(
            "failed to collapse on field [{path}]: the field has more than one value in a document"
        ))),
        Some(v) => Ok(v.clone()),
    }
}

/// Field collapsing: the best hit of each distinct value of the field, in sort order. Shards are asked
/// for a window of top hits that grows until it holds `want` groups or every shard is exhausted,
/// so the groups are exact however the values are spread.
async fn run_collapsed(
    node: &Node,
    targets: &mut [Target],
    mut req: ShardSearchRequest,
    field: &CollapseField,
    want: usize,
) -> Result<ShardRun, EsError> {
    let mut window = (want.max(1) * 4).max(16);
    loop {
        req.top = window;
        let (hits, total, max_score, failed, terminated, partial) = node.run_shards(targets, &req, None).await;
        // Every matching document was returned: no larger window can add a group.
        let exhausted = hits.len() as u64 >= total;
        let mut seen = std::collections::HashSet::new();
        let mut groups = Vec::new();
        for (index, mut h) in hits {
            let key = collapse_value(&h.doc.source, field.path_in(&index))?;
            if seen.insert(key.to_string()) {
                h.collapse = Some((field.name.clone(), key));
                groups.push((index, h));
            }
        }
        if groups.len() >= want || exhausted {
            return Ok((groups, total, max_score, failed, terminated, partial));
        }
        window = window.saturating_mul(4);
    }
}

impl Node {
    /// The query phase on every target, each on the first of its copies that answers; a target
    /// whose answer came from a later copy keeps that copy first, so the follow-ups (highlighting,
    /// rescoring, inner hits) read the copy the hits came from.
    async fn run_shards(&self, targets: &mut [Target], req: &ShardSearchRequest, pit: Option<&PitRun>) -> ShardRun {
        let jobs = targets.iter().enumerate().map(|(i, t)| {
            let mut req = req.clone();
            req.filters.extend(t.alias_filters.iter().cloned());
            if let Some(keys) = pit.and_then(|p| p.after_keys.as_ref()) {
                req.after_doc_key = keys.get(i).copied().flatten();
            }
            let reader = pit.and_then(|p| p.readers.get(i).map(|r| (r, Some(p.keep_alive))));
            self.query_target(t, req, reader)
        });
        let results = futures::future::join_all(jobs).await;
        let mut hits: Vec<(String, ShardHit)> = Vec::new();
        let mut total = 0;
        let mut max_score: Option<f32> = None;
        let mut failed = Vec::new();
        let mut terminated = false;
        let mut partial: Option<AggPartial> = None;
        for (t, (r, used)) in targets.iter_mut().zip(results) {
            match r {
                Ok(mut r) => {
                    t.copies.rotate_left(used);
                    merge_partial(&mut partial, r.aggs.take());
                    total += r.total;
                    terminated |= r.terminated_early;
                    if let Some(s) = r.max_score {
                        max_score = Some(max_score.map_or(s, |m| m.max(s)));
                    }
                    hits.extend(r.hits.into_iter().map(|h| (t.index.clone(), h)));
                }
                Err(e) => failed.push((t.index.clone(), t.shard, e)),
            }
        }
        hits.sort_by(|a, b| compare_hits(&a.1, &b.1, &req.sort));
        (hits, total, max_score, failed, terminated, partial)
    }
}

/// The index settings highlighting reads.
fn highlight_settings(settings: &tern_cluster::IndexSettings) -> HighlightSettings {
    let mut out = HighlightSettings::default();
    if let Some(n) = settings.get_str("index.highlight.max_analyzed_offset").and_then(|s| s.parse::<usize>().ok()) {
        out.max_analyzed_offset = n;
    }
    if let Some(b) = settings.get_str("index.highlight.weight_matches_mode.enabled") {
        out.weight_matches = b != "false";
    }
    out
}

/// A failure of the fetch phase (highlighting), reported like ES's `search_phase_execution_exception`.
fn fetch_failure(cause: EsError) -> EsError {
    if cause.kind == ErrorKind::SearchPhaseExecution {
        return cause;
    }
    let status = cause.status();
    EsError::new(ErrorKind::SearchPhaseExecution, "all shards failed")
        .with("phase", "fetch")
        .with("grouped", true)
        .with_status(status)
        .caused_by(cause)
}

/// Wraps a shard failure the way ES reports a search that failed on every shard.
pub fn search_failure(cause: EsError) -> EsError {
    if cause.kind == ErrorKind::SearchPhaseExecution {
        return cause;
    }
    let status = cause.status();
    EsError::new(ErrorKind::SearchPhaseExecution, "all shards failed")
        .with("phase", "query")
        .with("grouped", true)
        .with_status(status)
        .caused_by(cause)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preferences_parse_like_es() {
        assert_eq!(Preference::parse("").unwrap(), Preference::default());
        assert_eq!(Preference::parse("_local").unwrap().kind, PreferenceKind::Local);
        assert_eq!(Preference::parse("_only_local").unwrap().kind, PreferenceKind::OnlyLocal);
        assert_eq!(
            Preference::parse("_only_nodes:a, b*").unwrap().kind,
            PreferenceKind::OnlyNodes(vec!["a".into(), "b*".into()])
        );
        assert_eq!(Preference::parse("_prefer_nodes:x").unwrap().kind, PreferenceKind::PreferNodes(vec!["x".into()]));
        assert_eq!(Preference::parse("session-1").unwrap().kind, PreferenceKind::Custom("session-1".into()));
        let p = Preference::parse("_shards:0,2|_local").unwrap();
        assert_eq!((p.shards.clone(), p.kind.clone()), (Some(vec![0, 2]), PreferenceKind::Local));
        assert!(p.wants_shard(2) && !p.wants_shard(1));
        assert_eq!(Preference::parse("_shards:1").unwrap().kind, PreferenceKind::Any);
        let e = Preference::parse("_primary").unwrap_err();
        assert_eq!((e.kind, e.reason.as_str()), (ErrorKind::IllegalArgument, "no Preference for [_primary]"));
        assert_eq!(Preference::parse("_shards:x").unwrap_err().kind, ErrorKind::IllegalArgument);
    }

    #[test]
    fn a_custom_preference_picks_the_same_copy_every_time() {
        assert_eq!(preference_hash("abc", 0), preference_hash("abc", 0));
        // Different shards of one session spread over the copies.
        let picks: std::collections::HashSet<usize> = (0..16).map(|s| preference_hash("abc", s) % 2).collect();
        assert_eq!(picks.len(), 2);
    }
}
