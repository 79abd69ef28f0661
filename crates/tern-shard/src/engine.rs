//! One shard: a tantivy index plus the ES document semantics tantivy does not have.
//!
//! The shard is a deterministic state machine driven by [`ShardCommand`]s in raft log order. Every
//! check that needs the current document (create conflicts, `if_seq_no`, external versions, partial
//! updates, upserts) runs here, at apply time, so all copies of a shard reach the same state.
//!
//! tantivy only shows committed data, and a commit fsyncs. ES semantics need three views:
//! - the **live version map**: every document written since the last commit, so realtime GET and
//!   version checks see a write the moment it is applied;
//! - the **get reader**, reloaded after every commit (refreshes and memory-pressure commits);
//! - the **search reader**, reloaded only by a refresh, so `refresh_interval: -1` really hides writes
//!   from search until `_refresh`.
//!
//! The raft log is the durable record, so a commit is needed for visibility and to bound replay, not
//! for durability. Each commit stores the applied raft position (an opaque marker from the layer above),
//! the highest `_seq_no`, the mapping and the text-slot assignment in tantivy's commit payload; a restart
//! reads it back and raft replays only the tail after it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tantivy::collector::Count;
use tantivy::directory::MmapDirectory;
use tantivy::query::AllQuery;
use tantivy::schema::{IndexRecordOption, OwnedValue, Term, Value as _};
use tantivy::tokenizer::{PreTokenizedString, Token};
use tantivy::{DocAddress, Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, TantivyDocument};
use tern_common::{ErrorKind, EsError};
use tern_mapping::{IndexedValue, Mapping};

use crate::analysis::{Analyzer, AnalyzerRegistry};
use crate::commit_files::{ChecksumCache, CommitManifest, HeldCommit, PinnedCommit};
use crate::mapping_ext::MappingExt;
use crate::ops::*;
use crate::schema::{Fields, TEXT_SLOTS, TextTarget, build_schema};

/// ES `index.gc_deletes`: how long a delete tombstone keeps its version.
const GC_DELETES_MILLIS: i64 = 60_000;
/// Live-map memory that forces an internal commit, so realtime GET does not hold unbounded sources.
const LIVE_MAP_MAX_BYTES: usize = 64 << 20;
/// ES keeps positions of separate array values this far apart (`position_increment_gap`).
const POSITION_INCREMENT_GAP: usize = 100;

/// Identity of a shard, used in error bodies and stats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardIdent {
    pub index: String,
    pub index_uuid: String,
    pub shard: u32,
}

pub struct ShardOptions {
    pub ident: ShardIdent,
    /// `None` keeps the shard in memory (`--ephemeral`).
    pub path: Option<PathBuf>,
    pub mapping: Mapping,
    pub analysis: Option<Value>,
    pub writer_memory_bytes: usize,
}

/// A document as a GET sees it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StoredDoc {
    pub id: String,
    pub seq_no: i64,
    pub primary_term: i64,
    pub version: i64,
    pub routing: Option<String>,
    #[serde(with = "crate::wire::shared_bytes")]
    pub source: Arc<Vec<u8>>,
}

#[derive(Debug, Clone)]
struct LiveEntry {
    seq_no: i64,
    primary_term: i64,
    version: i64,
    routing: Option<String>,
    /// `None` marks a delete.
    source: Option<Arc<Vec<u8>>>,
}

#[derive(Debug, Clone, Copy)]
struct Tombstone {
    seq_no: i64,
    primary_term: i64,
    version: i64,
    deleted_at: i64,
}

/// What apply needs to know about the current state of an id.
#[derive(Debug, Clone)]
enum Current {
    Missing,
    Deleted(Tombstone),
    Live(StoredDoc),
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct CommitPayload {
    marker: Option<String>,
    max_seq_no: i64,
    mapping: Value,
    slots: BTreeMap<String, usize>,
}

struct WriteState {
    /// `None` once the shard is released (closed or deleted): the writer's directory lock is gone,
    /// so the same shard can be opened again while stale handles still exist.
    writer: Option<IndexWriter>,
    live: HashMap<String, LiveEntry>,
    live_bytes: usize,
    tombstones: HashMap<String, Tombstone>,
    max_seq_no: i64,
    /// Highest seq_no visible to search (after the last refresh).
    refreshed_seq_no: i64,
    mapping: Mapping,
    mapping_dirty: bool,
    slots: BTreeMap<String, usize>,
    marker: Option<String>,
    uncommitted_ops: u64,
    last_commit_seq_no: i64,
}

/// Counters reported by `_stats` and `_nodes/stats`.
#[derive(Debug, Default)]
pub struct ShardCounters {
    pub index_total: AtomicU64,
    pub index_time_nanos: AtomicU64,
    pub index_failed: AtomicU64,
    pub delete_total: AtomicU64,
    pub noop_update_total: AtomicU64,
    pub query_total: AtomicU64,
    pub query_time_nanos: AtomicU64,
    pub fetch_total: AtomicU64,
    pub get_total: AtomicU64,
    pub get_exists_total: AtomicU64,
    pub get_missing_total: AtomicU64,
    pub refresh_total: AtomicU64,
    pub refresh_time_nanos: AtomicU64,
    pub flush_total: AtomicU64,
}

pub struct ShardEngine {
    ident: ShardIdent,
    path: Option<PathBuf>,
    index: Index,
    fields: Fields,
    state: Mutex<WriteState>,
    get_reader: IndexReader,
    search_reader: IndexReader,
    analyzers: AnalyzerRegistry,
    checksums: ChecksumCache,
    merges_enabled: AtomicBool,
    writer_memory_bytes: usize,
    pub counters: ShardCounters,
}

fn engine_err(e: impl std::fmt::Display) -> EsError {
    EsError::internal(format!("shard engine failure: {e}"))
}

impl ShardEngine {
    /// Opens the shard at `path` (creating it if empty) or in memory.
    pub fn open(opts: ShardOptions) -> Result<ShardEngine, EsError> {
        let (schema, fields) = build_schema();
        let index = match &opts.path {
            Some(path) => {
                std::fs::create_dir_all(path).map_err(engine_err)?;
                let dir = MmapDirectory::open(path).map_err(engine_err)?;
                Index::open_or_create(dir, schema).map_err(engine_err)?
            }
            None => Index::create_in_ram(schema),
        };
        let payload = load_payload(&index)?;
        let mapping = if payload.mapping.is_null() {
            opts.mapping
        } else {
            Mapping::parse(&payload.mapping).map_err(EsError::from)?
        };
        let writer = new_writer(&index, opts.writer_memory_bytes)?;
        let reader = || index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into().map_err(engine_err);
        let get_reader = reader()?;
        let search_reader = reader()?;
        let analyzers = AnalyzerRegistry::from_settings(opts.analysis.as_ref())?;
        let state = WriteState {
            writer: Some(writer),
            live: HashMap::new(),
            live_bytes: 0,
            tombstones: HashMap::new(),
            max_seq_no: payload.max_seq_no,
            refreshed_seq_no: payload.max_seq_no,
            mapping,
            mapping_dirty: false,
            slots: payload.slots,
            marker: payload.marker,
            uncommitted_ops: 0,
            last_commit_seq_no: payload.max_seq_no,
        };
        Ok(ShardEngine {
            ident: opts.ident,
            path: opts.path,
            index,
            fields,
            state: Mutex::new(state),
            get_reader,
            search_reader,
            analyzers,
            checksums: ChecksumCache::default(),
            merges_enabled: AtomicBool::new(true),
            writer_memory_bytes: opts.writer_memory_bytes,
            counters: ShardCounters::default(),
        })
    }

    pub fn ident(&self) -> &ShardIdent {
        &self.ident
    }

    pub fn fields(&self) -> &Fields {
        &self.fields
    }

    pub fn analyzers(&self) -> &AnalyzerRegistry {
        &self.analyzers
    }

    /// The raft position recorded by the last commit; raft replays entries after it.
    pub fn committed_marker(&self) -> Option<String> {
        self.index
            .load_metas()
            .ok()
            .and_then(|m| m.payload)
            .and_then(|p| serde_json::from_str::<CommitPayload>(&p).ok())
            .and_then(|p| p.marker)
    }

    /// Records the raft position of an entry that changed no documents (blank or membership).
    pub fn set_marker(&self, marker: String) {
        self.state.lock().marker = Some(marker);
    }

    /// The raft position of the last applied command (committed or not).
    pub fn applied_marker(&self) -> Option<String> {
        self.state.lock().marker.clone()
    }

    pub fn max_seq_no(&self) -> i64 {
        self.state.lock().max_seq_no
    }

    pub fn refreshed_seq_no(&self) -> i64 {
        self.state.lock().refreshed_seq_no
    }

    pub fn mapping(&self) -> Mapping {
        self.state.lock().mapping.clone()
    }

    /// Takes the mapping if documents added fields since the last call (dynamic mapping), so the
    /// node can publish it to the cluster metadata.
    pub fn take_mapping_update(&self) -> Option<Mapping> {
        let mut st = self.state.lock();
        if st.mapping_dirty {
            st.mapping_dirty = false;
            Some(st.mapping.clone())
        } else {
            None
        }
    }

    /// Text slot assignment, for query compilation.
    pub fn text_target(&self, path: &str) -> Option<TextTarget> {
        let st = self.state.lock();
        st.slots
            .get(path)
            .map(|&s| if s < TEXT_SLOTS { TextTarget::Slot(self.fields.text_slots[s]) } else { TextTarget::Overflow })
    }

    /// Applies one command. `marker` is the raft position of the entry, `primary_term` its term.
    pub fn apply(&self, cmd: &ShardCommand, primary_term: i64, marker: String) -> ShardReply {
        self.apply_owned(cmd.clone(), primary_term, marker)
    }

    /// [`Self::apply`] on an owned command: document sources move into the index and the live map
    /// without being copied (the raft apply path decodes into an owned command).
    pub fn apply_owned(&self, cmd: ShardCommand, primary_term: i64, marker: String) -> ShardReply {
        let mut st = self.state.lock();
        st.marker = Some(marker);
        let reply = match cmd {
            ShardCommand::Ops { now_millis, ops } => {
                let started = Instant::now();
                let mut out = Vec::with_capacity(ops.len());
                for op in ops {
                    let r = self.apply_op(&mut st, op, primary_term, now_millis);
                    match &r {
                        Ok(s) => match s.result {
                            WriteResult::Deleted | WriteResult::NotFound => {
                                self.counters.delete_total.fetch_add(1, Ordering::Relaxed);
                            }
                            WriteResult::Noop => {
                                self.counters.noop_update_total.fetch_add(1, Ordering::Relaxed);
                            }
                            _ => {
                                self.counters.index_total.fetch_add(1, Ordering::Relaxed);
                            }
                        },
                        Err(_) => {
                            self.counters.index_failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    out.push(r);
                }
                self.counters.index_time_nanos.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
                self.prune_tombstones(&mut st, now_millis);
                ShardReply::Ops(out)
            }
            ShardCommand::SetMapping { mapping_json } => {
                match serde_json::from_str::<Value>(&mapping_json)
                    .map_err(|e| EsError::internal(e.to_string()))
                    .and_then(|v| Mapping::parse(&v).map_err(EsError::from))
                {
                    Ok(m) => {
                        st.mapping = m;
                        ShardReply::MappingSet
                    }
                    Err(e) => ShardReply::Rejected(OpFailure::from_es(&e)),
                }
            }
        };
        if st.live_bytes > LIVE_MAP_MAX_BYTES
            && let Err(e) = self.commit_locked(&mut st, false)
        {
            tracing::warn!(shard = ?self.ident, error = %e, "memory-pressure commit failed");
        }
        reply
    }

    fn apply_op(
        &self,
        st: &mut WriteState,
        mut op: DocOp,
        primary_term: i64,
        now: i64,
    ) -> Result<OpSuccess, OpFailure> {
        let current = if op.auto_id { Current::Missing } else { self.current(st, &op.id, now) };
        let fail = |e: EsError| OpFailure::from_es(&self.decorate(e));
        if let DocOpKind::Index { source, create } = &mut op.kind {
            let create = *create;
            let source = std::mem::take(source);
            let version = self.check_write(&op.id, &op.cond, &current, create).map_err(fail)?;
            let result = if matches!(current, Current::Live(_)) { WriteResult::Updated } else { WriteResult::Created };
            return self.write_doc(st, &op, source, version, primary_term, &current, result).map_err(fail);
        }
        let op = &op;
        match &op.kind {
            DocOpKind::Index { .. } => unreachable!("handled above"),
            DocOpKind::Delete => {
                let version = self.check_write(&op.id, &op.cond, &current, false).map_err(fail)?;
                let seq_no = st.max_seq_no + 1;
                st.max_seq_no = seq_no;
                let result = match &current {
                    Current::Live(_) => {
                        writer_of(st).map_err(fail)?.delete_term(self.id_term(&op.id));
                        WriteResult::Deleted
                    }
                    _ => WriteResult::NotFound,
                };
                let tomb = Tombstone { seq_no, primary_term, version, deleted_at: now };
                if let Some(old) = st.live.insert(
                    op.id.clone(),
                    LiveEntry { seq_no, primary_term, version, routing: op.routing.clone(), source: None },
                ) {
                    st.live_bytes -= old.source.map(|s| s.len()).unwrap_or(0);
                }
                st.tombstones.insert(op.id.clone(), tomb);
                st.uncommitted_ops += 1;
                Ok(OpSuccess { result, seq_no, primary_term, version, source: None })
            }
            DocOpKind::Update(spec) => self.apply_update(st, op, spec, current, primary_term).map_err(fail),
        }
    }

    fn apply_update(
        &self,
        st: &mut WriteState,
        op: &DocOp,
        spec: &UpdateSpec,
        current: Current,
        primary_term: i64,
    ) -> Result<OpSuccess, EsError> {
        match &current {
            Current::Live(doc) => {
                self.check_write(&op.id, &op.cond, &current, false)?;
                let Some(partial) = &spec.doc else {
                    return Err(EsError::validation(&["script or doc is missing".into()]));
                };
                let mut merged: Value = serde_json::from_slice(&doc.source)
                    .map_err(|e| EsError::internal(format!("stored source is not JSON: {e}")))?;
                let partial: Value = parse_json_object(partial)?;
                let changed = merge_into(&mut merged, &partial);
                if spec.detect_noop && !changed {
                    return Ok(OpSuccess {
                        result: WriteResult::Noop,
                        seq_no: doc.seq_no,
                        primary_term: doc.primary_term,
                        version: doc.version,
                        source: Some(doc.source.to_vec()),
                    });
                }
                let bytes = serde_json::to_vec(&merged).map_err(engine_err)?;
                let routing = op.routing.clone().or_else(|| doc.routing.clone());
                let op = DocOp { routing, ..op.clone() };
                let mut s = self.write_doc(
                    st,
                    &op,
                    bytes.clone(),
                    doc.version + 1,
                    primary_term,
                    &current,
                    WriteResult::Updated,
                )?;
                s.source = Some(bytes);
                Ok(s)
            }
            Current::Missing | Current::Deleted(_) => {
                let source = if spec.doc_as_upsert { spec.doc.clone() } else { spec.upsert.clone() };
                let Some(source) = source else {
                    return Err(EsError::new(ErrorKind::DocumentMissing, format!("[{}]: document missing", op.id)));
                };
                if op.cond.if_seq_no.is_some() {
                    self.check_write(&op.id, &op.cond, &current, false)?;
                }
                parse_json_object(&source)?;
                let version = match current {
                    Current::Deleted(t) => t.version + 1,
                    _ => 1,
                };
                let mut s =
                    self.write_doc(st, op, source.clone(), version, primary_term, &current, WriteResult::Created)?;
                s.source = Some(source);
                Ok(s)
            }
        }
    }

    /// Adds ES's shard coordinates to an error raised while applying an operation.
    fn decorate(&self, e: EsError) -> EsError {
        if matches!(e.kind, ErrorKind::VersionConflict | ErrorKind::DocumentMissing) {
            e.with("index_uuid", self.ident.index_uuid.clone())
                .with("shard", self.ident.shard.to_string())
                .with("index", self.ident.index.clone())
        } else {
            e
        }
    }

    /// Checks a write's preconditions and returns the version the document will have.
    fn check_write(&self, id: &str, cond: &WriteCondition, current: &Current, create: bool) -> Result<i64, EsError> {
        let conflict =
            |reason: String| EsError::new(ErrorKind::VersionConflict, format!("[{id}]: version conflict, {reason}"));
        let (cur_version, cur_seq, cur_term, exists) = match current {
            Current::Live(d) => (Some(d.version), d.seq_no, d.primary_term, true),
            Current::Deleted(t) => (Some(t.version), t.seq_no, t.primary_term, false),
            Current::Missing => (None, -1, 0, false),
        };
        if let Some(if_seq_no) = cond.if_seq_no {
            let if_term = cond.if_primary_term.unwrap_or(0);
            if !exists {
                return Err(conflict(format!(
                    "required seqNo [{if_seq_no}], primary term [{if_term}]. but no document was found"
                )));
            }
            if cur_seq != if_seq_no || cur_term != if_term {
                return Err(conflict(format!(
                    "required seqNo [{if_seq_no}], primary term [{if_term}]. current document has seqNo [{cur_seq}] and primary term [{cur_term}]"
                )));
            }
        }
        match cond.version_type {
            VersionType::Internal => {
                if create && exists {
                    return Err(conflict(format!(
                        "document already exists (current version [{}])",
                        cur_version.unwrap_or(1)
                    )));
                }
                Ok(if exists { cur_version.unwrap_or(0) + 1 } else { cur_version.map(|v| v + 1).unwrap_or(1) })
            }
            VersionType::External | VersionType::ExternalGte => {
                let provided = cond.version.unwrap_or(0);
                if create && exists {
                    return Err(conflict(format!(
                        "document already exists (current version [{}])",
                        cur_version.unwrap_or(1)
                    )));
                }
                if let Some(cur) = cur_version {
                    let gte = cond.version_type == VersionType::ExternalGte;
                    let ok = if gte { provided >= cur } else { provided > cur };
                    if !ok {
                        let rel = if gte { "higher than" } else { "higher or equal to" };
                        return Err(conflict(format!(
                            "current version [{cur}] is {rel} the one provided [{provided}]"
                        )));
                    }
                }
                Ok(provided)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn write_doc(
        &self,
        st: &mut WriteState,
        op: &DocOp,
        source: Vec<u8>,
        version: i64,
        primary_term: i64,
        current: &Current,
        result: WriteResult,
    ) -> Result<OpSuccess, EsError> {
        let seq_no = st.max_seq_no + 1;
        let doc = self.build_doc(st, &op.id, &source, op.routing.as_deref(), seq_no, version, primary_term)?;
        if matches!(current, Current::Live(_)) {
            writer_of(st)?.delete_term(self.id_term(&op.id));
        }
        writer_of(st)?.add_document(doc).map_err(engine_err)?;
        st.max_seq_no = seq_no;
        st.tombstones.remove(&op.id);
        // With `_source: {enabled: false}` nothing of the source is kept, not even for realtime GET.
        let source = if st.mapping.source_enabled() { Arc::new(source) } else { Arc::new(Vec::new()) };
        st.live_bytes += source.len() + op.id.len();
        if let Some(old) = st.live.insert(
            op.id.clone(),
            LiveEntry { seq_no, primary_term, version, routing: op.routing.clone(), source: Some(source) },
        ) {
            st.live_bytes -= old.source.map(|s| s.len()).unwrap_or(0) + op.id.len();
        }
        st.uncommitted_ops += 1;
        Ok(OpSuccess { result, seq_no, primary_term, version, source: None })
    }

    /// Turns a source into a tantivy document typed by the mapping; new fields update the mapping.
    #[allow(clippy::too_many_arguments)]
    fn build_doc(
        &self,
        st: &mut WriteState,
        id: &str,
        source: &[u8],
        routing: Option<&str>,
        seq_no: i64,
        version: i64,
        primary_term: i64,
    ) -> Result<TantivyDocument, EsError> {
        let parsed = st.mapping.parse_document(source, id).map_err(EsError::from)?;
        if let Some(update) = &parsed.dynamic_update {
            st.mapping.merge(update).map_err(EsError::from)?;
            st.mapping_dirty = true;
        }
        let f = &self.fields;
        let mut doc = TantivyDocument::new();
        doc.add_text(f.id, id);
        if st.mapping.source_enabled() {
            doc.add_bytes(f.source, source);
        }
        doc.add_i64(f.seq_no, seq_no);
        doc.add_i64(f.version, version);
        doc.add_i64(f.primary_term, primary_term);
        if let Some(r) = routing {
            doc.add_text(f.routing, r);
            doc.add_text(f.field_names, "_routing");
        }
        let mut kw: BTreeMap<String, OwnedValue> = BTreeMap::new();
        let mut overflow: BTreeMap<String, OwnedValue> = BTreeMap::new();
        let mut text_positions: HashMap<usize, usize> = HashMap::new();
        for (path, value) in &parsed.fields {
            let v = match value {
                IndexedValue::Text(text) => {
                    let slot = slot_for(&mut st.slots, path);
                    let analyzer = self.index_analyzer(&st.mapping, path);
                    if slot < TEXT_SLOTS {
                        let base = text_positions.entry(slot).or_insert(0);
                        let tokens = pre_tokenize(&analyzer, text, *base);
                        *base = tokens.last().map(|t| t.position + POSITION_INCREMENT_GAP).unwrap_or(*base);
                        doc.add_pre_tokenized_text(
                            f.text_slots[slot],
                            PreTokenizedString { text: text.clone(), tokens },
                        );
                    } else {
                        push_json(&mut overflow, path, OwnedValue::Str(analyzer.terms(text).join(" ")));
                    }
                    continue;
                }
                IndexedValue::Keyword(s) => OwnedValue::Str(s.clone()),
                IndexedValue::I64(n) => OwnedValue::I64(*n),
                IndexedValue::U64(n) => OwnedValue::U64(*n),
                IndexedValue::F64(n) => OwnedValue::F64(*n),
                IndexedValue::Bool(b) => OwnedValue::Bool(*b),
                IndexedValue::Date(ms) => OwnedValue::I64(*ms),
                IndexedValue::Ip(ip) => OwnedValue::Str(ip.to_string()),
            };
            push_json(&mut kw, path, v);
        }
        for path in &parsed.field_paths {
            doc.add_text(f.field_names, path);
        }
        if !kw.is_empty() {
            doc.add_object(f.kw, kw);
        }
        if !overflow.is_empty() {
            doc.add_object(f.text_overflow, overflow);
        }
        Ok(doc)
    }

    /// The analyzer used to index a text field (its `analyzer`, else `standard`).
    pub fn index_analyzer(&self, mapping: &Mapping, path: &str) -> Analyzer {
        mapping.text_analyzer(path).and_then(|name| self.analyzers.get(&name)).unwrap_or_else(Analyzer::standard)
    }

    /// The analyzer used on query text for a field (`search_analyzer`, else `analyzer`).
    pub fn search_analyzer(&self, path: &str) -> Analyzer {
        let st = self.state.lock();
        st.mapping
            .text_search_analyzer(path)
            .and_then(|name| self.analyzers.get(&name))
            .unwrap_or_else(Analyzer::standard)
    }

    fn id_term(&self, id: &str) -> Term {
        Term::from_field_text(self.fields.id, id)
    }

    fn prune_tombstones(&self, st: &mut WriteState, now: i64) {
        if st.tombstones.len() > 1024 {
            st.tombstones.retain(|_, t| now - t.deleted_at < GC_DELETES_MILLIS);
        }
    }

    /// The current state of an id: live map, then tombstones, then the last commit.
    fn current(&self, st: &WriteState, id: &str, now: i64) -> Current {
        if let Some(e) = st.live.get(id) {
            return match &e.source {
                Some(src) => Current::Live(StoredDoc {
                    id: id.to_string(),
                    seq_no: e.seq_no,
                    primary_term: e.primary_term,
                    version: e.version,
                    routing: e.routing.clone(),
                    source: src.clone(),
                }),
                None => Current::Deleted(Tombstone {
                    seq_no: e.seq_no,
                    primary_term: e.primary_term,
                    version: e.version,
                    deleted_at: now,
                }),
            };
        }
        if let Some(t) = st.tombstones.get(id)
            && now - t.deleted_at < GC_DELETES_MILLIS
        {
            return Current::Deleted(*t);
        }
        match self.lookup_committed(&self.get_reader.searcher(), id) {
            Some(d) => Current::Live(d),
            None => Current::Missing,
        }
    }

    fn lookup_committed(&self, searcher: &Searcher, id: &str) -> Option<StoredDoc> {
        let term = self.id_term(id);
        for (ord, seg) in searcher.segment_readers().iter().enumerate() {
            let inv = seg.inverted_index(self.fields.id).ok()?;
            let Ok(Some(mut postings)) = inv.read_postings(&term, IndexRecordOption::Basic) else {
                continue;
            };
            use tantivy::DocSet;
            let mut doc = postings.doc();
            while doc != tantivy::TERMINATED {
                if seg.alive_bitset().is_none_or(|b| b.is_alive(doc)) {
                    return self.load_stored(searcher, DocAddress::new(ord as u32, doc));
                }
                doc = postings.advance();
            }
        }
        None
    }

    /// Reads a stored document (system fields and source).
    pub fn load_stored(&self, searcher: &Searcher, addr: DocAddress) -> Option<StoredDoc> {
        let doc: TantivyDocument = searcher.doc(addr).ok()?;
        let f = &self.fields;
        let s = |field| doc.get_first(field).and_then(|v| v.as_str().map(String::from));
        let i = |field| doc.get_first(field).and_then(|v| v.as_i64()).unwrap_or(0);
        Some(StoredDoc {
            id: s(f.id)?,
            seq_no: i(f.seq_no),
            primary_term: i(f.primary_term),
            version: i(f.version),
            routing: s(f.routing),
            source: Arc::new(doc.get_first(f.source).and_then(|v| v.as_bytes()).unwrap_or_default().to_vec()),
        })
    }

    /// Realtime GET: sees every applied write.
    pub fn get(&self, id: &str) -> Option<StoredDoc> {
        self.counters.get_total.fetch_add(1, Ordering::Relaxed);
        let found = {
            let st = self.state.lock();
            st.live.get(id).map(|e| {
                e.source.as_ref().map(|src| StoredDoc {
                    id: id.to_string(),
                    seq_no: e.seq_no,
                    primary_term: e.primary_term,
                    version: e.version,
                    routing: e.routing.clone(),
                    source: src.clone(),
                })
            })
        };
        let doc = match found {
            Some(d) => d,
            None => self.lookup_committed(&self.get_reader.searcher(), id),
        };
        let counter = if doc.is_some() { &self.counters.get_exists_total } else { &self.counters.get_missing_total };
        counter.fetch_add(1, Ordering::Relaxed);
        doc
    }

    /// Non-realtime GET (`realtime=false`): only what the last refresh made visible.
    pub fn get_refreshed(&self, id: &str) -> Option<StoredDoc> {
        self.lookup_committed(&self.search_reader.searcher(), id)
    }

    /// Makes every applied write searchable. Returns the seq_no now visible.
    pub fn refresh(&self) -> Result<i64, EsError> {
        let started = Instant::now();
        let mut st = self.state.lock();
        if st.uncommitted_ops > 0 || st.mapping_dirty || st.last_commit_seq_no != st.max_seq_no {
            self.commit_locked(&mut st, true)?;
        } else if st.refreshed_seq_no != st.max_seq_no {
            self.search_reader.reload().map_err(engine_err)?;
            st.refreshed_seq_no = st.max_seq_no;
        }
        self.counters.refresh_total.fetch_add(1, Ordering::Relaxed);
        self.counters.refresh_time_nanos.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        Ok(st.refreshed_seq_no)
    }

    /// Whether writes are waiting for a refresh.
    pub fn needs_refresh(&self) -> bool {
        let st = self.state.lock();
        st.refreshed_seq_no != st.max_seq_no || st.uncommitted_ops > 0
    }

    /// Commits and records the applied raft position: what `_flush` does. The caller may then purge
    /// the raft log up to [`Self::committed_marker`].
    pub fn flush(&self) -> Result<(), EsError> {
        let mut st = self.state.lock();
        self.commit_locked(&mut st, false)?;
        self.counters.flush_total.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn commit_locked(&self, st: &mut WriteState, make_searchable: bool) -> Result<(), EsError> {
        let payload = CommitPayload {
            marker: st.marker.clone(),
            max_seq_no: st.max_seq_no,
            mapping: st.mapping.to_json(),
            slots: st.slots.clone(),
        };
        let payload = serde_json::to_string(&payload).map_err(engine_err)?;
        let mut prepared = writer_of(st)?.prepare_commit().map_err(engine_err)?;
        prepared.set_payload(&payload);
        prepared.commit().map_err(engine_err)?;
        self.get_reader.reload().map_err(engine_err)?;
        // Everything in the live map is now in the get reader; deletes keep their tombstone.
        st.live.clear();
        st.live_bytes = 0;
        st.uncommitted_ops = 0;
        st.last_commit_seq_no = st.max_seq_no;
        if make_searchable {
            self.search_reader.reload().map_err(engine_err)?;
            st.refreshed_seq_no = st.max_seq_no;
        }
        Ok(())
    }

    /// Pins the last commit for copying to another copy of the shard (see [`crate::commit_files`]).
    pub fn pin_commit(&self) -> Result<PinnedCommit, EsError> {
        let dir =
            self.path.as_deref().ok_or_else(|| EsError::illegal_argument("an in-memory shard has no files to copy"))?;
        let meta = self.index.load_metas().map_err(engine_err)?;
        let num_docs = meta.segments.iter().map(|s| s.num_docs() as u64).sum();
        PinnedCommit::new(meta, dir, num_docs, &self.checksums)
    }

    /// Commits (what [`Self::flush`] does) and holds that very commit, for the raft snapshot of a
    /// shard with several copies: a copy that fell behind the purged log fetches its files, which
    /// must outlive merges until the next snapshot replaces it. `None` for an in-memory shard.
    /// Nothing is read here (see [`Self::pin_held`]): a node restarting with a purged log builds a
    /// snapshot of every shard before it starts.
    pub fn flush_and_hold(&self) -> Result<Option<HeldCommit>, EsError> {
        let mut st = self.state.lock();
        self.commit_locked(&mut st, false)?;
        self.counters.flush_total.fetch_add(1, Ordering::Relaxed);
        // Read under the lock: this is the commit just made, not one a refresh made since.
        self.hold_commit()
    }

    /// Holds the last commit (`None` for an in-memory shard).
    pub fn hold_commit(&self) -> Result<Option<HeldCommit>, EsError> {
        if self.path.is_none() {
            return Ok(None);
        }
        Ok(Some(HeldCommit { meta: self.index.load_metas().map_err(engine_err)? }))
    }

    /// Pins a held commit for copying: lists its files with their checksums (reading files not
    /// seen before). Blocking.
    pub fn pin_held(&self, held: &HeldCommit) -> Result<PinnedCommit, EsError> {
        let dir =
            self.path.as_deref().ok_or_else(|| EsError::illegal_argument("an in-memory shard has no files to copy"))?;
        let num_docs = held.meta.segments.iter().map(|s| s.num_docs() as u64).sum();
        PinnedCommit::new(held.meta.clone(), dir, num_docs, &self.checksums)
    }

    /// Replaces this shard's whole state, in place, with the commit of `manifest` whose files this
    /// copy lacked are staged (and verified) in `staged_dir`; the commit's raft position becomes
    /// `marker`. This is how a copy installs its group leader's snapshot (peer recovery).
    ///
    /// Under the write lock: the writer stops (uncommitted changes and running merges of the old
    /// state are dropped or finished), [`crate::commit_files::install_commit`] switches
    /// `meta.json` atomically, then a new writer opens on the new commit and both readers reload.
    /// Searches running meanwhile keep the old segments (still mapped) and see the old commit;
    /// later ones see the new one, never a mix. If the install fails the shard reopens on whatever
    /// commit is on disk (the old one, unless the switch itself happened).
    pub fn install_commit(
        &self,
        staged_dir: &Path,
        manifest: &CommitManifest,
        marker: Option<String>,
    ) -> Result<(), EsError> {
        let dir =
            self.path.clone().ok_or_else(|| EsError::illegal_argument("an in-memory shard cannot install a commit"))?;
        let mut st = self.state.lock();
        let writer = st.writer.take().ok_or_else(|| EsError::new(ErrorKind::IndexClosed, "closed"))?;
        writer.wait_merging_threads().map_err(engine_err)?;
        let installed = crate::commit_files::install_commit(&dir, staged_dir, manifest, marker);
        let reopened = self.reopen_locked(&mut st);
        installed.and(reopened)
    }

    /// Opens a new writer and resets the write state and both readers to the commit on disk.
    fn reopen_locked(&self, st: &mut WriteState) -> Result<(), EsError> {
        let payload = load_payload(&self.index)?;
        let writer = new_writer(&self.index, self.writer_memory_bytes)?;
        if !self.merges_enabled() {
            writer.set_merge_policy(Box::new(tantivy::merge_policy::NoMergePolicy));
        }
        if !payload.mapping.is_null() {
            st.mapping = Mapping::parse(&payload.mapping).map_err(EsError::from)?;
        }
        st.writer = Some(writer);
        st.live.clear();
        st.live_bytes = 0;
        st.tombstones.clear();
        st.max_seq_no = payload.max_seq_no;
        st.refreshed_seq_no = payload.max_seq_no;
        st.last_commit_seq_no = payload.max_seq_no;
        st.mapping_dirty = false;
        st.slots = payload.slots;
        st.marker = payload.marker;
        st.uncommitted_ops = 0;
        self.get_reader.reload().map_err(engine_err)?;
        self.search_reader.reload().map_err(engine_err)?;
        Ok(())
    }

    /// The files of the last commit, by name.
    pub fn committed_files(&self) -> Result<std::collections::BTreeSet<String>, EsError> {
        let Some(dir) = self.path.as_deref() else {
            return Ok(Default::default());
        };
        let meta = self.index.load_metas().map_err(engine_err)?;
        Ok(meta
            .list_segment_files()
            .into_iter()
            .filter(|p| dir.join(p).exists())
            .map(|p| p.to_string_lossy().into_owned())
            .collect())
    }

    /// ES's `index.merge.enabled`: a copy whose files must stay identical to another copy's (a
    /// remote-sync follower) must not merge on its own.
    pub fn merges_enabled(&self) -> bool {
        self.merges_enabled.load(Ordering::Relaxed)
    }

    pub fn set_merges_enabled(&self, enabled: bool) {
        if self.merges_enabled.swap(enabled, Ordering::Relaxed) == enabled {
            return;
        }
        let st = self.state.lock();
        if let Some(w) = st.writer.as_ref() {
            if enabled {
                w.set_merge_policy(Box::new(tantivy::merge_policy::LogMergePolicy::default()));
            } else {
                w.set_merge_policy(Box::new(tantivy::merge_policy::NoMergePolicy));
            }
        }
    }

    /// A searcher over what the last refresh made visible.
    pub fn searcher(&self) -> Searcher {
        self.search_reader.searcher()
    }

    pub fn doc_count(&self) -> u64 {
        self.searcher().search(&AllQuery, &Count).map(|c| c as u64).unwrap_or(0)
    }

    pub fn deleted_count(&self) -> u64 {
        self.searcher().segment_readers().iter().map(|s| s.num_deleted_docs() as u64).sum()
    }

    pub fn segment_count(&self) -> usize {
        self.searcher().segment_readers().len()
    }

    /// Bytes the shard occupies on disk (or in memory for an ephemeral shard).
    pub fn store_size_bytes(&self) -> u64 {
        match &self.path {
            Some(p) => dir_size(p),
            None => self.searcher().space_usage().map(|s| s.total().get_bytes()).unwrap_or(0),
        }
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Stops the writer, waiting for merges, after a last commit.
    pub fn close(self) -> Result<(), EsError> {
        self.release()
    }

    /// Commits, stops the writer (waiting for merges) and drops its directory lock. The engine
    /// refuses writes afterwards; reads of the last commit keep working.
    pub fn release(&self) -> Result<(), EsError> {
        let mut st = self.state.lock();
        if st.writer.is_none() {
            return Ok(());
        }
        self.commit_locked(&mut st, true)?;
        if let Some(writer) = st.writer.take() {
            writer.wait_merging_threads().map_err(engine_err)?;
        }
        Ok(())
    }
}

/// The payload of the commit on disk (a fresh index has none).
fn load_payload(index: &Index) -> Result<CommitPayload, EsError> {
    Ok(index
        .load_metas()
        .map_err(engine_err)?
        .payload
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or(CommitPayload { max_seq_no: -1, ..Default::default() }))
}

fn new_writer(index: &Index, memory_bytes: usize) -> Result<IndexWriter, EsError> {
    let opts = tantivy::indexer::IndexWriterOptions::builder()
        .memory_budget_per_thread(memory_bytes.max(15 << 20))
        .num_worker_threads(1)
        .num_merge_threads(1)
        .build();
    index.writer_with_options(opts).map_err(engine_err)
}

fn writer_of(st: &mut WriteState) -> Result<&mut IndexWriter, EsError> {
    st.writer.as_mut().ok_or_else(|| EsError::new(ErrorKind::IndexClosed, "closed"))
}

fn dir_size(p: &Path) -> u64 {
    std::fs::read_dir(p)
        .map(|rd| rd.filter_map(Result::ok).filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum())
        .unwrap_or(0)
}

fn slot_for(slots: &mut BTreeMap<String, usize>, path: &str) -> usize {
    if let Some(s) = slots.get(path) {
        return *s;
    }
    let s = slots.len();
    slots.insert(path.to_string(), s);
    s
}

fn pre_tokenize(analyzer: &Analyzer, text: &str, base_position: usize) -> Vec<Token> {
    analyzer
        .analyze(text)
        .into_iter()
        .map(|t| Token {
            offset_from: 0,
            offset_to: 0,
            position: base_position + t.position,
            text: t.text,
            position_length: 1,
        })
        .collect()
}

fn push_json(obj: &mut BTreeMap<String, OwnedValue>, path: &str, v: OwnedValue) {
    match obj.get_mut(path) {
        None => {
            obj.insert(path.to_string(), v);
        }
        Some(OwnedValue::Array(a)) => a.push(v),
        Some(existing) => {
            let first = std::mem::replace(existing, OwnedValue::Null);
            *existing = OwnedValue::Array(vec![first, v]);
        }
    }
}

fn parse_json_object(bytes: &[u8]) -> Result<Value, EsError> {
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| EsError::new(ErrorKind::DocumentParsing, format!("failed to parse: {e}")))?;
    if !v.is_object() {
        return Err(EsError::new(ErrorKind::DocumentParsing, "failed to parse, document is not an object"));
    }
    Ok(v)
}

/// ES's partial-update merge: objects merge key by key, anything else replaces. Returns whether the
/// target changed.
pub fn merge_into(target: &mut Value, partial: &Value) -> bool {
    match (target, partial) {
        (Value::Object(t), Value::Object(p)) => {
            let mut changed = false;
            for (k, v) in p {
                match t.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => {
                        changed |= merge_into(existing, v);
                    }
                    Some(existing) => {
                        if existing != v {
                            *existing = v.clone();
                            changed = true;
                        }
                    }
                    None => {
                        t.insert(k.clone(), v.clone());
                        changed = true;
                    }
                }
            }
            changed
        }
        (t, p) => {
            if t != p {
                *t = p.clone();
                true
            } else {
                false
            }
        }
    }
}
