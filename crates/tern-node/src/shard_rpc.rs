//! The shard-read transport service: what a coordinating node asks of a shard copy on another node.
//!
//! A node that holds no copy of a shard (or whose copy was not the one chosen) reads it through
//! the `shard_read` service of a node that does: the query phase of a search (with aggregation
//! partials), counts, realtime and refreshed GETs, highlighting of the hits a copy returned, reader
//! contexts for scrolls and points in time, and the `_refresh`/`_flush` broadcasts.
//!
//! Every method runs exactly what the coordinator runs on a local copy (the `*_local` functions
//! here serve both), so an answer does not depend on where the shard was. Messages are postcard;
//! the fields holding JSON values travel as JSON text (see `tern_shard::wire`). Every answer is a
//! 200 with `Result<T, Failure>`: [`Failure::Shard`] is the shard's own ES error, returned to the
//! client as a local shard's would be; [`Failure::Unavailable`] says this copy cannot serve (not
//! here, not caught up), and the coordinator tries another copy, as it does when the transport
//! fails.
//!
//! Reader contexts: opening one pins the copy's current searcher under a random id, kept while it
//! is used within its keep-alive (each use may extend it) and reaped by a background task after
//! that, as ES's search contexts are. The coordinator holds a [`RemoteReader`] per context;
//! dropping it (clear-scroll, close-PIT, expiry on the coordinator) releases the context remotely.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tern_common::{ErrorKind, EsError, WireError};
use tern_query::{Highlight, QueryAst};
use tern_shard::StoredDoc;
use tern_shard::highlight::{HighlightSettings, HitHighlight, ShardHighlighter};
use tern_shard::search::{PinnedSearcher, ShardSearchRequest, ShardSearchResult};
use tern_transport::{HandlerError, HandlerFuture, InboundRequest, ServiceHandler, TransportClient, TransportError};

use crate::node::Node;
use crate::shard::ShardHandle;

/// The transport service name.
pub const SHARD_READ_SERVICE: &str = "shard_read";
/// How long a coordinator waits for a remote copy's answer. A copy whose node died answers at
/// once (the connection is refused or reset); this bounds a node that hangs.
const READ_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a search on a follower copy may spend catching up with its primary.
pub(crate) const SEARCH_BARRIER_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a realtime GET on a follower copy may wait for its primary's commit index.
pub(crate) const GET_BARRIER_TIMEOUT: Duration = Duration::from_secs(10);
/// How often expired reader contexts are released (ES's `search.keep_alive_interval`).
const REAPER_INTERVAL: Duration = Duration::from_secs(60);

/// Why a remote copy did not answer with a result.
#[derive(Debug, Serialize, Deserialize)]
enum Failure {
    /// The shard's own error: another copy would answer the same.
    Shard(WireError),
    /// This copy cannot serve the request; another copy may.
    Unavailable(String),
}

type Answer<T> = Result<T, Failure>;

/// A shard, as the messages name it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ShardRef {
    index_uuid: String,
    shard: u32,
}

/// A reader context a search runs on, and the keep-alive its use extends it to.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct ReaderUse {
    id: u64,
    keep_alive_ms: Option<u64>,
}

#[derive(Serialize, Deserialize)]
struct SearchMsg {
    shard: ShardRef,
    request: ShardSearchRequest,
    reader: Option<ReaderUse>,
}

#[derive(Serialize, Deserialize)]
struct CountMsg {
    shard: ShardRef,
    #[serde(with = "tern_shard::wire::json")]
    query: QueryAst,
    #[serde(with = "tern_shard::wire::json")]
    filters: Vec<QueryAst>,
    now_millis: i64,
}

#[derive(Serialize, Deserialize)]
struct GetMsg {
    shard: ShardRef,
    id: String,
    realtime: bool,
}

#[derive(Serialize, Deserialize)]
struct HighlightMsg {
    shard: ShardRef,
    #[serde(with = "tern_shard::wire::json")]
    highlight: Highlight,
    #[serde(with = "tern_shard::wire::json")]
    query: QueryAst,
    settings: HighlightSettings,
    /// `(doc_key, source)` of each hit to highlight.
    docs: Vec<(u64, Vec<u8>)>,
}

#[derive(Serialize, Deserialize)]
struct OpenReaderMsg {
    shard: ShardRef,
    keep_alive_ms: u64,
}

/// A copy of a shard on another node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteCopy {
    pub node_id: String,
    pub node_name: String,
    /// The node's transport address.
    pub address: String,
}

/// Why a read on a copy failed.
#[derive(Debug, Clone)]
pub(crate) enum ReadError {
    /// The copy could not serve (its node is gone, it has no such shard, it could not catch up):
    /// another copy may.
    Copy(EsError),
    /// The shard's own answer.
    Shard(EsError),
}

impl ReadError {
    pub(crate) fn into_es(self) -> EsError {
        match self {
            ReadError::Copy(e) | ReadError::Shard(e) => e,
        }
    }
}

impl From<EsError> for ReadError {
    fn from(e: EsError) -> Self {
        ReadError::Shard(e)
    }
}

/// The client side: calls on one remote copy of one shard.
pub(crate) struct RemoteShard<'a> {
    pub client: &'a TransportClient,
    pub copy: &'a RemoteCopy,
    pub index_uuid: &'a str,
    pub shard: u32,
}

impl RemoteShard<'_> {
    fn shard_ref(&self) -> ShardRef {
        ShardRef { index_uuid: self.index_uuid.to_string(), shard: self.shard }
    }

    async fn call<Req: Serialize, Resp: DeserializeOwned>(&self, method: &str, msg: &Req) -> Result<Resp, ReadError> {
        let body = postcard::to_stdvec(msg)
            .map_err(|e| ReadError::Shard(EsError::internal(format!("cannot encode a shard request: {e}"))))?;
        let group = Node::group_id(self.index_uuid, self.shard);
        let bytes = self
            .client
            .call(&self.copy.address, SHARD_READ_SERVICE, group, method, body, Some(READ_TIMEOUT))
            .await
            .map_err(|e| ReadError::Copy(self.unreachable(&e)))?;
        let answer: Answer<Resp> = postcard::from_bytes(&bytes).map_err(|e| {
            ReadError::Copy(EsError::internal(format!(
                "undecodable answer from node [{}] for shard [{}]: {e}",
                self.copy.node_name, self.shard
            )))
        })?;
        match answer {
            Ok(v) => Ok(v),
            Err(Failure::Shard(w)) => Err(ReadError::Shard(w.into())),
            Err(Failure::Unavailable(reason)) => {
                Err(ReadError::Copy(EsError::new(ErrorKind::NoShardAvailable, reason)))
            }
        }
    }

    fn unreachable(&self, e: &TransportError) -> EsError {
        EsError::new(
            ErrorKind::NoShardAvailable,
            format!(
                "[{}][{}] node [{}] did not answer: {e}",
                self.copy.node_name, self.copy.address, self.copy.node_id
            ),
        )
    }

    pub(crate) async fn search(
        &self,
        request: ShardSearchRequest,
        reader: Option<(u64, Option<Duration>)>,
    ) -> Result<ShardSearchResult, ReadError> {
        let reader = reader.map(|(id, keep)| ReaderUse { id, keep_alive_ms: keep.map(|k| k.as_millis() as u64) });
        self.call("search", &SearchMsg { shard: self.shard_ref(), request, reader }).await
    }

    pub(crate) async fn count(
        &self,
        query: QueryAst,
        filters: Vec<QueryAst>,
        now_millis: i64,
    ) -> Result<u64, ReadError> {
        self.call("count", &CountMsg { shard: self.shard_ref(), query, filters, now_millis }).await
    }

    pub(crate) async fn get(&self, id: &str, realtime: bool) -> Result<Option<StoredDoc>, ReadError> {
        self.call("get", &GetMsg { shard: self.shard_ref(), id: id.to_string(), realtime }).await
    }

    pub(crate) async fn highlight(
        &self,
        highlight: Highlight,
        query: QueryAst,
        settings: HighlightSettings,
        docs: Vec<(u64, Vec<u8>)>,
    ) -> Result<Vec<Option<HitHighlight>>, ReadError> {
        self.call("highlight", &HighlightMsg { shard: self.shard_ref(), highlight, query, settings, docs }).await
    }

    pub(crate) async fn open_reader(&self, keep_alive: Duration) -> Result<u64, ReadError> {
        let msg = OpenReaderMsg { shard: self.shard_ref(), keep_alive_ms: keep_alive.as_millis() as u64 };
        self.call("open_reader", &msg).await
    }

    pub(crate) async fn refresh(&self) -> Result<(), ReadError> {
        self.call("refresh", &self.shard_ref()).await
    }

    pub(crate) async fn flush(&self) -> Result<(), ReadError> {
        self.call("flush", &self.shard_ref()).await
    }

    pub(crate) async fn stats(&self) -> Result<crate::info::ShardStats, ReadError> {
        self.call("stats", &self.shard_ref()).await
    }
}

/// A reader context on another node, held by a scroll or point in time of this (coordinating)
/// node. Dropping the last reference releases the context there.
pub struct RemoteReader {
    pub(crate) client: TransportClient,
    pub(crate) copy: RemoteCopy,
    pub(crate) index_uuid: String,
    pub(crate) shard: u32,
    pub(crate) id: u64,
}

impl RemoteReader {
    pub(crate) fn remote(&self) -> RemoteShard<'_> {
        RemoteShard { client: &self.client, copy: &self.copy, index_uuid: &self.index_uuid, shard: self.shard }
    }
}

impl Drop for RemoteReader {
    fn drop(&mut self) {
        // Best effort: a context that is not released here expires on its node after its keep-alive.
        let Ok(rt) = tokio::runtime::Handle::try_current() else { return };
        let client = self.client.clone();
        let address = self.copy.address.clone();
        let group = Node::group_id(&self.index_uuid, self.shard);
        let ids = vec![self.id];
        rt.spawn(async move {
            let Ok(body) = postcard::to_stdvec(&ids) else { return };
            if let Err(e) = client.call(&address, SHARD_READ_SERVICE, group, "close_readers", body, None).await {
                tracing::debug!(%address, error = %e, "releasing a remote reader context failed");
            }
        });
    }
}

/// The reader contexts this node keeps for coordinators (scrolls and points in time whose
/// coordinating node is elsewhere).
#[derive(Default)]
pub(crate) struct ReaderContexts {
    contexts: Mutex<HashMap<u64, ReaderContext>>,
}

struct ReaderContext {
    handle: Arc<ShardHandle>,
    pinned: PinnedSearcher,
    keep_alive: Duration,
    last_access: Instant,
}

impl ReaderContexts {
    fn open(&self, handle: Arc<ShardHandle>, keep_alive: Duration) -> u64 {
        let pinned = handle.engine.pin();
        let mut contexts = self.contexts.lock();
        let mut id = rand::random::<u64>();
        while contexts.contains_key(&id) {
            id = rand::random::<u64>();
        }
        contexts.insert(id, ReaderContext { handle, pinned, keep_alive, last_access: Instant::now() });
        id
    }

    /// The context's copy and searcher, marking it used (and extending its keep-alive).
    fn use_context(&self, id: u64, keep_alive: Option<Duration>) -> Option<(Arc<ShardHandle>, PinnedSearcher)> {
        let mut contexts = self.contexts.lock();
        let ctx = contexts.get_mut(&id)?;
        if ctx.last_access.elapsed() >= ctx.keep_alive {
            contexts.remove(&id);
            return None;
        }
        ctx.last_access = Instant::now();
        if let Some(k) = keep_alive {
            ctx.keep_alive = k;
        }
        Some((ctx.handle.clone(), ctx.pinned.clone()))
    }

    fn close(&self, ids: &[u64]) -> usize {
        let mut contexts = self.contexts.lock();
        ids.iter().filter(|id| contexts.remove(id).is_some()).count()
    }

    fn reap(&self) {
        self.contexts.lock().retain(|_, c| c.last_access.elapsed() < c.keep_alive);
    }

    /// Open contexts (for stats).
    pub(crate) fn len(&self) -> usize {
        self.contexts.lock().len()
    }
}

/// Runs a search on a local copy: a follower catches up with its primary first (one round trip,
/// best effort) unless the search reads a pinned point in time, which is already fixed.
pub(crate) async fn search_local(
    handle: Arc<ShardHandle>,
    request: ShardSearchRequest,
    pinned: Option<PinnedSearcher>,
    clustered: bool,
) -> Result<ShardSearchResult, EsError> {
    if pinned.is_none() {
        *handle.last_search.lock() = Some(Instant::now());
        if clustered {
            search_barrier(&handle).await;
        }
    }
    tokio::task::spawn_blocking(move || match pinned {
        Some(p) => handle.engine.search_with(p.searcher(), &request),
        None => handle.engine.search(&request),
    })
    .await
    .map_err(|e| EsError::internal(e.to_string()))?
}

/// Counts on a local copy (a search without hits: same catch-up as [`search_local`]).
pub(crate) async fn count_local(
    handle: Arc<ShardHandle>,
    query: QueryAst,
    filters: Vec<QueryAst>,
    now_millis: i64,
    clustered: bool,
) -> Result<u64, EsError> {
    *handle.last_search.lock() = Some(Instant::now());
    if clustered {
        search_barrier(&handle).await;
    }
    tokio::task::spawn_blocking(move || handle.engine.count(&query, &filters, now_millis))
        .await
        .map_err(|e| EsError::internal(e.to_string()))?
}

/// Best-effort catch-up of a follower copy before a search (see [`ShardHandle::try_read_barrier`]).
pub(crate) async fn search_barrier(handle: &ShardHandle) {
    if handle.group.is_leader() {
        return;
    }
    if let Err(e) = handle.try_read_barrier(SEARCH_BARRIER_TIMEOUT).await {
        tracing::debug!(index = %handle.ident.index, shard = handle.ident.shard, error = %e.reason,
            "search on a follower copy without catching up with the primary");
    }
}

/// GET on a local copy. A realtime GET on a follower first waits until everything its primary
/// acknowledged is applied here; when it cannot, the copy cannot serve it ([`ReadError::Copy`]).
pub(crate) async fn get_local(
    handle: &ShardHandle,
    id: &str,
    realtime: bool,
    clustered: bool,
) -> Result<Option<StoredDoc>, ReadError> {
    if realtime && clustered && !handle.group.is_leader() {
        handle.read_barrier(GET_BARRIER_TIMEOUT).await.map_err(ReadError::Copy)?;
    }
    Ok(if realtime { handle.engine.get(id) } else { handle.engine.get_refreshed(id) })
}

/// Highlights hits of a local copy: `(doc_key, source)` in, one result per document out.
pub(crate) async fn highlight_local(
    handle: Arc<ShardHandle>,
    highlight: Arc<Highlight>,
    query: QueryAst,
    settings: HighlightSettings,
    docs: Vec<(u64, Arc<Vec<u8>>)>,
) -> Result<Vec<Option<HitHighlight>>, EsError> {
    tokio::task::spawn_blocking(move || {
        let highlighter = ShardHighlighter::new(&handle.engine, &highlight, &query, settings)?;
        docs.iter().map(|(doc_key, source)| highlighter.highlight(source, *doc_key)).collect()
    })
    .await
    .map_err(|e| EsError::internal(e.to_string()))?
}

/// Refreshes a local copy; a follower first applies what its primary committed, so the refresh
/// covers every write acknowledged before it. A follower that cannot reach a primary (the group
/// lost it) refreshes what it has, as an ES replica refreshes without its primary.
pub(crate) async fn refresh_local(handle: &Arc<ShardHandle>, clustered: bool) -> Result<(), EsError> {
    if clustered
        && !handle.group.is_leader()
        && let Err(e) = handle.try_read_barrier(GET_BARRIER_TIMEOUT).await
    {
        tracing::debug!(index = %handle.ident.index, shard = handle.ident.shard, error = %e.reason,
            "refreshing a follower copy without catching up with the primary");
    }
    handle.refresh().await
}

/// Registers the service on the node's transport and starts the reaper of expired contexts.
pub(crate) fn register(node: &Arc<Node>) {
    let Some(cluster) = &node.cluster else { return };
    cluster.server.register(SHARD_READ_SERVICE, Arc::new(ShardReadRpc { node: Arc::downgrade(node) }));
    let weak = Arc::downgrade(node);
    let mut shutdown = node.shutdown_watch();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(REAPER_INTERVAL);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => break,
            }
            let Some(node) = weak.upgrade() else { break };
            node.search_contexts.readers.reap();
        }
    });
}

struct ShardReadRpc {
    node: Weak<Node>,
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, HandlerError> {
    postcard::from_bytes(body).map_err(|e| HandlerError::bad_request(format!("undecodable shard read: {e}")))
}

fn encode<T: Serialize>(answer: &Answer<T>) -> Result<Bytes, HandlerError> {
    postcard::to_stdvec(answer).map(Bytes::from).map_err(|e| HandlerError::internal(e.to_string()))
}

fn shard_failure(e: EsError) -> Failure {
    Failure::Shard(WireError::from(&e))
}

impl ShardReadRpc {
    fn copy(node: &Node, shard: &ShardRef) -> Result<Arc<ShardHandle>, Failure> {
        node.shard(&shard.index_uuid, shard.shard).ok_or_else(|| {
            Failure::Unavailable(format!(
                "node [{}] holds no copy of shard [{}][{}]",
                node.info.node_name, shard.index_uuid, shard.shard
            ))
        })
    }

    async fn search(node: &Node, msg: SearchMsg) -> Answer<ShardSearchResult> {
        let (handle, pinned) = match msg.reader {
            Some(r) => {
                let keep = r.keep_alive_ms.map(Duration::from_millis);
                let (handle, pinned) = node.search_contexts.readers.use_context(r.id, keep).ok_or_else(|| {
                    shard_failure(EsError::new(
                        ErrorKind::SearchContextMissing,
                        format!("No search context found for id [{}]", r.id),
                    ))
                })?;
                (handle, Some(pinned))
            }
            None => (Self::copy(node, &msg.shard)?, None),
        };
        search_local(handle, msg.request, pinned, true).await.map_err(shard_failure)
    }

    async fn dispatch(node: &Node, request: &InboundRequest) -> Result<Bytes, HandlerError> {
        match request.method.as_str() {
            "search" => encode(&Self::search(node, decode(&request.body)?).await),
            "count" => {
                let msg: CountMsg = decode(&request.body)?;
                let answer = match Self::copy(node, &msg.shard) {
                    Ok(h) => count_local(h, msg.query, msg.filters, msg.now_millis, true).await.map_err(shard_failure),
                    Err(f) => Err(f),
                };
                encode(&answer)
            }
            "get" => {
                let msg: GetMsg = decode(&request.body)?;
                let answer = match Self::copy(node, &msg.shard) {
                    Ok(h) => get_local(&h, &msg.id, msg.realtime, true).await.map_err(|e| match e {
                        ReadError::Copy(e) => Failure::Unavailable(e.reason),
                        ReadError::Shard(e) => shard_failure(e),
                    }),
                    Err(f) => Err(f),
                };
                encode(&answer)
            }
            "highlight" => {
                let msg: HighlightMsg = decode(&request.body)?;
                let answer = match Self::copy(node, &msg.shard) {
                    Ok(h) => {
                        let docs = msg.docs.into_iter().map(|(k, s)| (k, Arc::new(s))).collect();
                        highlight_local(h, Arc::new(msg.highlight), msg.query, msg.settings, docs)
                            .await
                            .map_err(shard_failure)
                    }
                    Err(f) => Err(f),
                };
                encode(&answer)
            }
            "open_reader" => {
                let msg: OpenReaderMsg = decode(&request.body)?;
                let answer = match Self::copy(node, &msg.shard) {
                    Ok(h) => {
                        search_barrier(&h).await;
                        Ok(node.search_contexts.readers.open(h, Duration::from_millis(msg.keep_alive_ms)))
                    }
                    Err(f) => Err(f),
                };
                encode(&answer)
            }
            "close_readers" => {
                let ids: Vec<u64> = decode(&request.body)?;
                encode::<usize>(&Ok(node.search_contexts.readers.close(&ids)))
            }
            "refresh" => {
                let shard: ShardRef = decode(&request.body)?;
                let answer = match Self::copy(node, &shard) {
                    Ok(h) => refresh_local(&h, true).await.map_err(shard_failure),
                    Err(f) => Err(f),
                };
                encode(&answer)
            }
            "flush" => {
                let shard: ShardRef = decode(&request.body)?;
                let answer = match Self::copy(node, &shard) {
                    Ok(h) => h.flush().await.map_err(shard_failure),
                    Err(f) => Err(f),
                };
                encode(&answer)
            }
            "stats" => {
                let shard: ShardRef = decode(&request.body)?;
                let answer = match Self::copy(node, &shard) {
                    Ok(h) => tokio::task::spawn_blocking(move || crate::info::ShardStats::of(&h.engine))
                        .await
                        .map_err(|e| shard_failure(EsError::internal(e.to_string()))),
                    Err(f) => Err(f),
                };
                encode(&answer)
            }
            other => Err(HandlerError::bad_request(format!("unknown shard read method [{other}]"))),
        }
    }
}

impl ServiceHandler for ShardReadRpc {
    fn handle(&self, request: InboundRequest) -> HandlerFuture {
        let node = self.node.clone();
        Box::pin(async move {
            let node = node.upgrade().ok_or_else(|| HandlerError::unavailable("node is shutting down"))?;
            Self::dispatch(&node, &request).await
        })
    }
}
