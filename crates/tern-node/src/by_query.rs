//! `_delete_by_query` and `_update_by_query`: a scroll over the matching documents, then conditional
//! writes in batches.
//!
//! This is ES's bulk-by-scroll model, run in the request instead of a task. A scroll pins one
//! searcher per shard, so the operation works on the point-in-time view of the last refresh (a
//! document written after it is not seen; one changed after it is caught by the write condition).
//! Each scroll page is one batch: its documents are deleted (delete by query) or indexed again with
//! their own `_source` (update by query, which applies mappings added since and bumps `_version`),
//! every write conditional on the `_seq_no`/`_primary_term` the scroll saw. A write that finds the
//! document changed is a version conflict: counted, and fatal unless `conflicts=proceed`. Any other
//! write failure ends the operation after its batch, as in ES.
//!
//! `slices` splits the documents by a hash of `_id` (ES's `_id` slicing); each slice runs its own
//! scroll concurrently and reports its own status. Throttling (`requests_per_second`) delays a batch
//! by the time the previous batch "should" have taken, like ES's worker. Tasks do not exist in tern, so
//! `wait_for_completion=false` is refused at the REST edge rather than faked.

// `EsError` is the workspace-wide error type; its size is a workspace decision, not this module's.
#![allow(clippy::result_large_err)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use tern_cluster::IndicesOptions;
use tern_common::{ErrorKind, EsError};
use tern_query::{SearchRequest, SortSpec};
use tern_shard::StoredDoc;
use tern_shard::ops::{WriteCondition, WriteResult};

use crate::documents::{RefreshPolicy, WriteKind, WriteRequest};
use crate::node::Node;
use crate::search::Target;

/// ES's default batch size (`scroll_size`).
pub const DEFAULT_SCROLL_SIZE: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByQueryAction {
    Delete,
    Update,
}

/// `slices`: a number, or `auto` (one slice per shard of the target with the fewest shards).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slices {
    Count(u32),
    Auto,
}

impl Slices {
    /// Parses the `slices` parameter with ES's error.
    pub fn parse(v: &str) -> Result<Slices, EsError> {
        if v == "auto" {
            return Ok(Slices::Auto);
        }
        let err = || {
            EsError::illegal_argument(format!(
                "[slices] must be a positive integer or the string \"auto\", but was [{v}]"
            ))
        };
        let n: i64 = v.parse().map_err(|_| err())?;
        if n < 1 || n > i64::from(i32::MAX) {
            return Err(err());
        }
        Ok(Slices::Count(n as u32))
    }
}

/// `wait_for_active_shards`: how many copies of each written shard must be active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ActiveShardCount {
    /// ES's default: the primary.
    #[default]
    Default,
    All,
    Count(u32),
}

impl ActiveShardCount {
    pub fn parse(v: &str) -> Result<ActiveShardCount, EsError> {
        match v {
            "all" => Ok(ActiveShardCount::All),
            "index-setting" | "default" => Ok(ActiveShardCount::Default),
            other => match other.parse::<i64>() {
                Ok(n) if n >= 0 => Ok(ActiveShardCount::Count(n as u32)),
                Ok(_) => Err(EsError::illegal_argument("shard count cannot be a negative value")),
                Err(_) => Err(EsError::illegal_argument(format!("cannot parse ActiveShardCount[{other}]"))),
            },
        }
    }

    fn required(self, number_of_replicas: u32) -> u32 {
        match self {
            ActiveShardCount::Default => 1,
            ActiveShardCount::All => 1 + number_of_replicas,
            ActiveShardCount::Count(n) => n,
        }
    }
}

/// Parses `requests_per_second`: a float greater than 0, or -1 for unlimited (`None`).
pub fn parse_requests_per_second(v: &str) -> Result<Option<f32>, EsError> {
    let err = || {
        EsError::illegal_argument("[requests_per_second] must be a float greater than 0. Use -1 to disable throttling.")
    };
    let f: f32 = v.trim().parse().map_err(|_| err())?;
    if f == -1.0 {
        return Ok(None);
    }
    if f.is_nan() || f <= 0.0 {
        return Err(err());
    }
    if f.is_infinite() { Ok(None) } else { Ok(Some(f)) }
}

/// A delete- or update-by-query, with parameters already validated by the REST edge.
#[derive(Debug, Clone)]
pub struct ByQueryRequest {
    pub action: ByQueryAction,
    pub indices: Vec<String>,
    pub indices_options: IndicesOptions,
    /// The search: `query`, `sort` (others are ignored; `size` is the batch size below).
    pub search: SearchRequest,
    /// Restricts the shards searched, like a search's `routing`.
    pub routing: Option<String>,
    pub max_docs: Option<u64>,
    /// `conflicts=proceed`: count version conflicts and go on.
    pub proceed_on_conflicts: bool,
    pub scroll_size: usize,
    pub scroll_keep_alive: Duration,
    pub slices: Slices,
    /// `None`: unthrottled.
    pub requests_per_second: Option<f32>,
    /// Refresh the written indices at the end.
    pub refresh: bool,
    pub wait_for_active_shards: ActiveShardCount,
    /// How long a batch waits for active shards (`timeout`), and its text for messages.
    pub timeout: Duration,
    pub timeout_text: String,
}

/// ES's `BulkByScrollTask.Status` of one slice (or of the whole operation).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ByQueryStatus {
    pub slice_id: Option<u32>,
    pub total: u64,
    pub updated: u64,
    pub created: u64,
    pub deleted: u64,
    pub batches: u64,
    pub version_conflicts: u64,
    pub noops: u64,
    pub throttled_millis: u64,
    /// `None`: unthrottled (rendered as -1).
    pub requests_per_second: Option<f32>,
}

impl ByQueryStatus {
    fn successful(&self) -> u64 {
        self.updated + self.created + self.deleted
    }

    fn add(&mut self, other: &ByQueryStatus) {
        self.total += other.total;
        self.updated += other.updated;
        self.created += other.created;
        self.deleted += other.deleted;
        self.batches += other.batches;
        self.version_conflicts += other.version_conflicts;
        self.noops += other.noops;
        self.throttled_millis += other.throttled_millis;
    }
}

/// A write that failed (ES's `BulkItemResponse.Failure`).
#[derive(Debug, Clone)]
pub struct WriteFailure {
    pub index: String,
    pub id: String,
    pub cause: EsError,
}

impl WriteFailure {
    pub fn status(&self) -> u16 {
        self.cause.status()
    }
}

/// A shard the scroll could not read (ES's `SearchFailure`).
#[derive(Debug, Clone)]
pub struct ScrollFailure {
    pub index: String,
    pub shard: u32,
    pub reason: EsError,
}

#[derive(Debug, Clone, Default)]
pub struct ByQueryResponse {
    pub took_ms: u64,
    /// The sum over slices (the only status when not sliced).
    pub status: ByQueryStatus,
    /// One entry per slice when the request was sliced, in slice order.
    pub slices: Vec<ByQueryStatus>,
    pub failures: Vec<WriteFailure>,
    pub search_failures: Vec<ScrollFailure>,
}

impl ByQueryResponse {
    /// The HTTP status ES answers with: the highest status among the failures, else 200.
    pub fn http_status(&self) -> u16 {
        let writes = self.failures.iter().map(WriteFailure::status);
        let searches = self.search_failures.iter().map(|f| f.reason.status());
        writes.chain(searches).fold(200, u16::max)
    }
}

/// The slice a document belongs to: ES hashes `_id` with murmur3 and takes it modulo the slice count.
pub fn slice_of(id: &str, slices: u32) -> u32 {
    tern_cluster::routing_hash(id).rem_euclid(slices as i32) as u32
}

/// Splits `max_docs` over slices the way ES does: evenly, the remainder to the first slices.
pub fn max_docs_for_slice(max_docs: u64, slice: u32, slices: u32) -> u64 {
    let slices = u64::from(slices);
    max_docs / slices + u64::from(u64::from(slice) < max_docs % slices)
}

/// How long to wait before a batch so that the previous one ran at `requests_per_second`.
pub fn throttle_delay(last_batch_size: usize, requests_per_second: Option<f32>) -> Duration {
    match requests_per_second {
        Some(rps) if last_batch_size > 0 => Duration::from_secs_f64(last_batch_size as f64 / f64::from(rps)),
        _ => Duration::ZERO,
    }
}

/// Clears a scroll when dropped.
struct ScrollGuard<'a> {
    node: &'a Node,
    id: Option<String>,
}

impl Drop for ScrollGuard<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            self.node.clear_scrolls(Some(&[id]));
        }
    }
}

/// What one slice of the operation ends with.
struct SliceOutcome {
    status: ByQueryStatus,
    failures: Vec<WriteFailure>,
    search_failures: Vec<ScrollFailure>,
    touched: BTreeSet<String>,
}

impl Node {
    /// Runs a delete- or update-by-query to completion.
    pub async fn by_query(&self, req: &ByQueryRequest) -> Result<ByQueryResponse, EsError> {
        let started = Instant::now();
        let targets = self.by_query_targets(req)?;
        let slices = match req.slices {
            Slices::Count(n) => n.max(1),
            Slices::Auto => {
                let meta = self.metadata();
                let indices: BTreeSet<&str> = targets.iter().map(|t| t.index.as_str()).collect();
                indices
                    .iter()
                    .filter_map(|i| meta.indices.get(*i).map(|m| m.settings.number_of_shards()))
                    .min()
                    .unwrap_or(1)
                    .max(1)
            }
        };
        let mut response = ByQueryResponse::default();
        let mut touched = BTreeSet::new();
        if slices == 1 {
            let out = self.run_slice(req, &targets, None, req.max_docs, req.requests_per_second).await?;
            response.status = out.status;
            response.failures = out.failures;
            response.search_failures = out.search_failures;
            touched = out.touched;
        } else {
            let rps = req.requests_per_second.map(|r| r / slices as f32);
            let runs = (0..slices).map(|i| {
                let max_docs = req.max_docs.map(|m| max_docs_for_slice(m, i, slices));
                self.run_slice(req, &targets, Some((i, slices)), max_docs, rps)
            });
            let outs = futures::future::join_all(runs).await;
            let mut total = ByQueryStatus { requests_per_second: req.requests_per_second, ..Default::default() };
            for out in outs {
                let out = out?;
                total.add(&out.status);
                response.slices.push(out.status);
                response.failures.extend(out.failures);
                response.search_failures.extend(out.search_failures);
                touched.extend(out.touched);
            }
            response.status = total;
        }
        if req.refresh && !touched.is_empty() {
            let names: Vec<String> = touched.into_iter().collect();
            self.refresh(&names, &IndicesOptions::lenient_expand_open()).await?;
        }
        response.took_ms = started.elapsed().as_millis() as u64;
        Ok(response)
    }

    /// The shards to scroll: the search targets, narrowed by `routing` (and alias search routing).
    fn by_query_targets(&self, req: &ByQueryRequest) -> Result<Vec<Target>, EsError> {
        let targets = self.search_targets(&req.indices, &req.indices_options)?;
        let meta = self.metadata();
        let Some(routings) = meta.resolve_search_routing(req.routing.as_deref(), &req.indices) else {
            return Ok(targets);
        };
        Ok(targets
            .into_iter()
            .filter(|t| {
                let Some(values) = routings.get(&t.index) else {
                    return true;
                };
                let Some(im) = meta.indices.get(&t.index) else {
                    return true;
                };
                if im.settings.routing_partition_size() > 1 {
                    // A routing value spreads over several shards: keep them all (a superset is safe).
                    return true;
                }
                let n = im.settings.number_of_shards();
                values.iter().any(|r| tern_cluster::shard_id(r, n, im.settings.routing_num_shards()) == t.shard)
            })
            .collect())
    }

    /// One slice (or the whole operation): scroll, batch, write, count.
    async fn run_slice(
        &self,
        req: &ByQueryRequest,
        targets: &[Target],
        slice: Option<(u32, u32)>,
        max_docs: Option<u64>,
        requests_per_second: Option<f32>,
    ) -> Result<SliceOutcome, EsError> {
        let mut search = req.search.clone();
        search.size = Some(req.scroll_size as i64);
        search.from = None;
        // Only the documents matter: no aggregations, no highlighting.
        search.aggs = None;
        search.highlight = None;
        if search.sort.is_empty() {
            // ES scrolls bulk-by-scroll requests in index order: no scoring, cheapest paging.
            search.sort.push(SortSpec::new("_doc"));
        }
        let mut status = ByQueryStatus { slice_id: slice.map(|s| s.0), requests_per_second, ..Default::default() };
        let mut out = SliceOutcome {
            status: ByQueryStatus::default(),
            failures: Vec::new(),
            search_failures: Vec::new(),
            touched: BTreeSet::new(),
        };
        let first = self.search(targets.to_vec(), &search, Some(req.scroll_keep_alive)).await?;
        // Frees the scroll however this ends, a client going away included.
        let _guard = ScrollGuard { node: self, id: first.scroll_id.clone() };
        self.drive_slice(req, first, slice, max_docs, requests_per_second, &mut status, &mut out).await?;
        out.status = status;
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    async fn drive_slice(
        &self,
        req: &ByQueryRequest,
        first: crate::search::SearchOutcome,
        slice: Option<(u32, u32)>,
        max_docs: Option<u64>,
        requests_per_second: Option<f32>,
        status: &mut ByQueryStatus,
        out: &mut SliceOutcome,
    ) -> Result<(), EsError> {
        let scroll_id = first.scroll_id.clone().unwrap_or_default();
        let in_slice = |doc: &StoredDoc| slice.is_none_or(|(i, n)| slice_of(&doc.id, n) == i);
        let cap = |total: u64| max_docs.map_or(total, |m| total.min(m));
        // Unsliced, the scroll knows the total up front; a slice counts the documents it sees.
        let known_total = slice.is_none().then_some(first.total);
        if let Some(t) = known_total {
            status.total = cap(t);
        }
        if max_docs == Some(0) {
            status.total = 0;
            return Ok(());
        }
        let mut seen: u64 = 0;
        let mut page = first;
        let mut pending: std::collections::VecDeque<(String, StoredDoc)> = Default::default();
        let mut last_batch_size = 0usize;
        loop {
            if !page.shards_failed.is_empty() {
                out.search_failures.extend(page.shards_failed.drain(..).map(|(index, shard, reason)| ScrollFailure {
                    index,
                    shard,
                    reason,
                }));
                return Ok(());
            }
            let exhausted = page.hits.is_empty();
            for (index, hit) in page.hits.drain(..) {
                if in_slice(&hit.doc) {
                    seen += 1;
                    pending.push_back((index, hit.doc));
                }
            }
            // A batch is one scroll page; a slice fills its batches from several pages.
            while pending.len() >= req.scroll_size || (exhausted && !pending.is_empty()) {
                let mut take = pending.len().min(req.scroll_size);
                if let Some(m) = max_docs {
                    take = take.min(m.saturating_sub(status.successful()) as usize);
                }
                let batch: Vec<(String, StoredDoc)> = pending.drain(..take).collect();
                let delay = throttle_delay(last_batch_size, requests_per_second);
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                    status.throttled_millis += delay.as_millis() as u64;
                }
                status.batches += 1;
                last_batch_size = batch.len();
                let failed = self.write_batch(req, batch, status, out).await?;
                let done = max_docs.is_some_and(|m| status.successful() >= m);
                if failed || done {
                    if known_total.is_none() {
                        // The slice's total is every document of the slice, processed or not.
                        seen += if exhausted { 0 } else { self.count_rest_of_slice(&scroll_id, slice).await };
                        status.total = cap(seen);
                    }
                    return Ok(());
                }
            }
            if exhausted {
                break;
            }
            page = self.scroll(&scroll_id, None).await?;
        }
        if known_total.is_none() {
            status.total = cap(seen);
        }
        Ok(())
    }

    /// Scrolls to the end without writing, counting a slice's remaining documents.
    async fn count_rest_of_slice(&self, scroll_id: &str, slice: Option<(u32, u32)>) -> u64 {
        let mut n = 0;
        while let Ok(page) = self.scroll(scroll_id, None).await {
            if page.hits.is_empty() {
                break;
            }
            n +=
                page.hits.iter().filter(|(_, h)| slice.is_none_or(|(i, s)| slice_of(&h.doc.id, s) == i)).count() as u64;
        }
        n
    }

    /// Writes one batch; returns whether it failed in a way that ends the operation.
    async fn write_batch(
        &self,
        req: &ByQueryRequest,
        batch: Vec<(String, StoredDoc)>,
        status: &mut ByQueryStatus,
        out: &mut SliceOutcome,
    ) -> Result<bool, EsError> {
        if batch.is_empty() {
            return Ok(false);
        }
        if let Some(failures) = self.check_active_shards(req, &batch).await {
            out.failures.extend(failures);
            return Ok(true);
        }
        let mut writes = Vec::with_capacity(batch.len());
        for (index, doc) in &batch {
            let kind = match req.action {
                ByQueryAction::Delete => WriteKind::Delete,
                ByQueryAction::Update => {
                    if doc.source.is_empty() {
                        return Err(EsError::illegal_argument(format!("[{index}][{}] didn't store _source", doc.id)));
                    }
                    WriteKind::Index { source: doc.source.to_vec(), create: false }
                }
            };
            writes.push(WriteRequest {
                target: index.clone(),
                id: Some(doc.id.clone()),
                routing: doc.routing.clone(),
                kind,
                cond: WriteCondition {
                    if_seq_no: Some(doc.seq_no),
                    if_primary_term: Some(doc.primary_term),
                    ..Default::default()
                },
                require_alias: false,
            });
        }
        let outcomes = self.write(writes, RefreshPolicy::None).await;
        let mut failed = false;
        for o in outcomes {
            match o.result {
                Ok((s, _)) => {
                    out.touched.insert(o.index.clone());
                    match s.result {
                        WriteResult::Deleted => status.deleted += 1,
                        WriteResult::Created => status.created += 1,
                        WriteResult::Updated => status.updated += 1,
                        WriteResult::Noop => status.noops += 1,
                        // The document vanished between the scroll and the write.
                        WriteResult::NotFound => status.version_conflicts += 1,
                    }
                }
                Err(e) => {
                    if e.status() == 409 {
                        status.version_conflicts += 1;
                        if req.proceed_on_conflicts {
                            continue;
                        }
                    }
                    failed = true;
                    out.failures.push(WriteFailure { index: o.index, id: o.id, cause: e });
                }
            }
        }
        Ok(failed)
    }

    /// Enforces `wait_for_active_shards`: a node holds one copy of each of its shards, so asking
    /// for more than that waits `timeout` and fails every write of the batch, as ES does.
    async fn check_active_shards(
        &self,
        req: &ByQueryRequest,
        batch: &[(String, StoredDoc)],
    ) -> Option<Vec<WriteFailure>> {
        const ACTIVE_COPIES: u32 = 1;
        let meta = self.metadata();
        let short = |index: &str| {
            let replicas = meta.indices.get(index).map(|m| m.settings.number_of_replicas()).unwrap_or(0);
            let required = req.wait_for_active_shards.required(replicas);
            (required > ACTIVE_COPIES).then_some(required)
        };
        if !batch.iter().any(|(index, _)| short(index).is_some()) {
            return None;
        }
        tokio::time::sleep(req.timeout).await;
        let mut per_shard: std::collections::BTreeMap<(String, u32), usize> = Default::default();
        let shard_of = |index: &str, doc: &StoredDoc| {
            meta.indices
                .get(index)
                .map(|m| {
                    tern_cluster::shard_id(
                        doc.routing.as_deref().unwrap_or(&doc.id),
                        m.settings.number_of_shards(),
                        m.settings.routing_num_shards(),
                    )
                })
                .unwrap_or(0)
        };
        for (index, doc) in batch {
            *per_shard.entry((index.clone(), shard_of(index, doc))).or_default() += 1;
        }
        let failures = batch
            .iter()
            .filter_map(|(index, doc)| {
                let required = short(index)?;
                let shard = shard_of(index, doc);
                let n = per_shard.get(&(index.clone(), shard)).copied().unwrap_or(1);
                let reason = format!(
                    "[{index}][{shard}] Not enough active copies to meet shard count of [{required}] (have {ACTIVE_COPIES}, needed {required}). Timeout: [{}], request: [BulkShardRequest [[{index}][{shard}]] containing [{n}] requests]",
                    req.timeout_text
                );
                Some(WriteFailure {
                    index: index.clone(),
                    id: doc.id.clone(),
                    cause: EsError::new(ErrorKind::UnavailableShards, reason)
                        .with("index_uuid", meta.indices.get(index).map(|m| m.uuid.clone()).unwrap_or_default())
                        .with("shard", shard.to_string())
                        .with("index", index.clone()),
                })
            })
            .collect();
        Some(failures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_parse_like_es() {
        assert_eq!(Slices::parse("auto").unwrap(), Slices::Auto);
        assert_eq!(Slices::parse("5").unwrap(), Slices::Count(5));
        for bad in ["0", "-1", "junk", ""] {
            let e = Slices::parse(bad).unwrap_err();
            assert!(e.reason.starts_with("[slices] must be a positive integer or the string \"auto\""), "{bad}");
        }
    }

    #[test]
    fn requests_per_second_parse_like_es() {
        assert_eq!(parse_requests_per_second("-1").unwrap(), None);
        assert_eq!(parse_requests_per_second("1.5").unwrap(), Some(1.5));
        assert_eq!(parse_requests_per_second(".00000001").unwrap(), Some(0.00000001));
        for bad in ["", "0", "-12", "unlimited", "NaN"] {
            assert!(parse_requests_per_second(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn max_docs_split_over_slices() {
        let parts: Vec<u64> = (0..3).map(|i| max_docs_for_slice(10, i, 3)).collect();
        assert_eq!(parts, vec![4, 3, 3]);
        assert_eq!(parts.iter().sum::<u64>(), 10);
    }

    #[test]
    fn slices_partition_ids() {
        let ids: Vec<String> = (0..200).map(|i| format!("doc-{i}")).collect();
        let mut counts = [0usize; 4];
        for id in &ids {
            let s = slice_of(id, 4);
            assert!(s < 4);
            assert_eq!(s, slice_of(id, 4), "stable");
            counts[s as usize] += 1;
        }
        assert_eq!(counts.iter().sum::<usize>(), 200);
        assert!(counts.iter().all(|c| *c > 20), "{counts:?}");
    }

    #[test]
    fn throttle_waits_for_the_previous_batch() {
        assert_eq!(throttle_delay(0, Some(1.0)), Duration::ZERO);
        assert_eq!(throttle_delay(3, None), Duration::ZERO);
        assert_eq!(throttle_delay(2, Some(4.0)), Duration::from_millis(500));
    }

    #[test]
    fn active_shard_count() {
        assert_eq!(ActiveShardCount::parse("all").unwrap().required(2), 3);
        assert_eq!(ActiveShardCount::parse("4").unwrap().required(5), 4);
        assert_eq!(ActiveShardCount::Default.required(5), 1);
        assert!(ActiveShardCount::parse("-2").is_err());
        assert!(ActiveShardCount::parse("x").is_err());
    }
}
