//! Model-based property test of the shard engine against Elasticsearch's document semantics.
//!
//! Random sequences of commands (index with and without `op_type=create`, delete, partial update with
//! upsert / `doc_as_upsert` / `detect_noop`, `if_seq_no` + `if_primary_term` and external-version
//! conditions, several operations per command) interleaved with refresh, flush, a new primary term and
//! a reopen from disk are applied both to a [`ShardEngine`] and to a small in-memory model written
//! from ES's rules (`InternalEngine.planIndexingAsPrimary` / `planDeletionAsPrimary`, `UpdateHelper`).
//!
//! After every step:
//! - every operation's outcome matched the model: `result`, `_version`, `_seq_no`, `_primary_term`,
//!   or the error type, status and ES's exact conflict text;
//! - realtime GET of every id matches the model (it sees every applied write);
//! - search (match_all, ids, count) and non-realtime GET match the model as of the last refresh,
//!   because only a refresh makes writes searchable.
//!
//! A reopen flushes, closes and reopens the engine from its directory. Like ES after a restart whose
//! translog holds nothing to replay, the reopened shard no longer remembers delete tombstones.
//!
//! `PROPTEST_CASES` overrides the default of 64 cases.

use std::collections::BTreeMap;
use std::path::Path;

use proptest::prelude::*;
use serde_json::{Value, json};
use tern_mapping::Mapping;
use tern_shard::ops::{
    DocOp, DocOpKind, OpOutcome, ShardCommand, ShardReply, UpdateSpec, VersionType, WriteCondition, WriteResult,
};
use tern_shard::{ShardEngine, ShardIdent, ShardOptions};

const IDS: [&str; 4] = ["a", "b", "c", "d"];
/// A fixed clock: tombstones never expire within a case (ES's `index.gc_deletes` is 60s).
const NOW: i64 = 1_700_000_000_000;

// ---------------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Entry {
    Live {
        version: i64,
        seq_no: i64,
        term: i64,
        source: Value,
    },
    /// A delete tombstone (also left by deleting a missing document).
    Deleted {
        version: i64,
        seq_no: i64,
        term: i64,
    },
}

impl Entry {
    fn version(&self) -> i64 {
        match self {
            Entry::Live { version, .. } | Entry::Deleted { version, .. } => *version,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Expected {
    result: WriteResult,
    version: i64,
    seq_no: i64,
    term: i64,
}

#[derive(Debug, Clone, PartialEq)]
struct ExpectedFailure {
    es_type: &'static str,
    status: u16,
    reason: String,
}

#[derive(Debug, Clone, Default)]
struct Model {
    docs: BTreeMap<String, Entry>,
    max_seq_no: i64,
    /// Live documents as of the last refresh (what search sees).
    searchable: BTreeMap<String, Entry>,
}

fn conflict(id: &str, reason: String) -> ExpectedFailure {
    ExpectedFailure {
        es_type: "version_conflict_engine_exception",
        status: 409,
        reason: format!("[{id}]: version conflict, {reason}"),
    }
}

/// ES's partial-update merge (`XContentHelper.update`): objects merge key by key, anything else
/// replaces. Returns whether anything changed.
fn merge(target: &mut Value, partial: &Value) -> bool {
    match (target, partial) {
        (Value::Object(t), Value::Object(p)) => {
            let mut changed = false;
            for (k, v) in p {
                match t.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => changed |= merge(existing, v),
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
            let changed = t != p;
            *t = p.clone();
            changed
        }
    }
}

impl Model {
    fn new() -> Model {
        Model { max_seq_no: -1, ..Default::default() }
    }

    /// The `if_seq_no` check of `planIndexingAsPrimary` / `planDeletionAsPrimary`.
    fn check_cas(&self, id: &str, cond: &WriteCondition) -> Result<(), ExpectedFailure> {
        let Some(if_seq_no) = cond.if_seq_no else {
            return Ok(());
        };
        let if_term = cond.if_primary_term.unwrap_or(0);
        match self.docs.get(id) {
            Some(Entry::Live { seq_no, term, .. }) => {
                if *seq_no != if_seq_no || *term != if_term {
                    Err(conflict(
                        id,
                        format!(
                            "required seqNo [{if_seq_no}], primary term [{if_term}]. current document has seqNo [{seq_no}] and primary term [{term}]"
                        ),
                    ))
                } else {
                    Ok(())
                }
            }
            _ => Err(conflict(
                id,
                format!("required seqNo [{if_seq_no}], primary term [{if_term}]. but no document was found"),
            )),
        }
    }

    /// Version checks and the version the write gets (`VersionType.updateVersion`).
    fn next_version(&self, id: &str, cond: &WriteCondition, create: bool) -> Result<i64, ExpectedFailure> {
        let current = self.docs.get(id);
        let live = matches!(current, Some(Entry::Live { .. }));
        match cond.version_type {
            VersionType::Internal => {
                if create && live {
                    return Err(conflict(
                        id,
                        format!("document already exists (current version [{}])", current.unwrap().version()),
                    ));
                }
                Ok(current.map(|e| e.version() + 1).unwrap_or(1))
            }
            VersionType::External | VersionType::ExternalGte => {
                let provided = cond.version.expect("external versions carry a version");
                if let Some(cur) = current.map(Entry::version) {
                    let gte = cond.version_type == VersionType::ExternalGte;
                    if gte && cur > provided {
                        return Err(conflict(
                            id,
                            format!("current version [{cur}] is higher than the one provided [{provided}]"),
                        ));
                    }
                    if !gte && cur >= provided {
                        return Err(conflict(
                            id,
                            format!("current version [{cur}] is higher or equal to the one provided [{provided}]"),
                        ));
                    }
                }
                Ok(provided)
            }
        }
    }

    fn write(&mut self, id: &str, version: i64, term: i64, source: Value, result: WriteResult) -> Expected {
        self.max_seq_no += 1;
        let seq_no = self.max_seq_no;
        self.docs.insert(id.to_string(), Entry::Live { version, seq_no, term, source });
        Expected { result, version, seq_no, term }
    }

    fn index(
        &mut self,
        id: &str,
        source: Value,
        create: bool,
        cond: &WriteCondition,
        term: i64,
    ) -> Result<Expected, ExpectedFailure> {
        self.check_cas(id, cond)?;
        let version = self.next_version(id, cond, create)?;
        let result = match self.docs.get(id) {
            Some(Entry::Live { .. }) => WriteResult::Updated,
            _ => WriteResult::Created,
        };
        Ok(self.write(id, version, term, source, result))
    }

    fn delete(&mut self, id: &str, cond: &WriteCondition, term: i64) -> Result<Expected, ExpectedFailure> {
        self.check_cas(id, cond)?;
        let version = self.next_version(id, cond, false)?;
        let result = match self.docs.get(id) {
            Some(Entry::Live { .. }) => WriteResult::Deleted,
            _ => WriteResult::NotFound,
        };
        self.max_seq_no += 1;
        let seq_no = self.max_seq_no;
        self.docs.insert(id.to_string(), Entry::Deleted { version, seq_no, term });
        Ok(Expected { result, version, seq_no, term })
    }

    /// `UpdateHelper`: a get (with the `if_seq_no` check) then an index of the merged source, a noop,
    /// or an upsert (`op_type=create`) when the document is missing.
    fn update(
        &mut self,
        id: &str,
        spec: &UpdateSpec,
        cond: &WriteCondition,
        term: i64,
    ) -> Result<Expected, ExpectedFailure> {
        let partial: Value = serde_json::from_slice(spec.doc.as_ref().expect("updates carry a doc")).unwrap();
        match self.docs.get(id).cloned() {
            Some(Entry::Live { version, seq_no, term: doc_term, source }) => {
                self.check_cas(id, cond)?;
                let mut merged = source;
                let changed = merge(&mut merged, &partial);
                if spec.detect_noop && !changed {
                    return Ok(Expected { result: WriteResult::Noop, version, seq_no, term: doc_term });
                }
                Ok(self.write(id, version + 1, term, merged, WriteResult::Updated))
            }
            current => {
                let source = if spec.doc_as_upsert {
                    Some(partial)
                } else {
                    spec.upsert.as_ref().map(|u| serde_json::from_slice(u).unwrap())
                };
                let Some(source) = source else {
                    return Err(ExpectedFailure {
                        es_type: "document_missing_exception",
                        status: 404,
                        reason: format!("[{id}]: document missing"),
                    });
                };
                let version = current.map(|e| e.version() + 1).unwrap_or(1);
                Ok(self.write(id, version, term, source, WriteResult::Created))
            }
        }
    }

    fn refresh(&mut self) {
        self.searchable = self.live();
    }

    fn live(&self) -> BTreeMap<String, Entry> {
        self.docs.iter().filter(|(_, e)| matches!(e, Entry::Live { .. })).map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// A reopened shard keeps every committed document but no delete tombstones, and search sees
    /// the last commit.
    fn reopen(&mut self) {
        self.docs.retain(|_, e| matches!(e, Entry::Live { .. }));
        self.searchable = self.live();
    }
}

// ---------------------------------------------------------------------------------------------
// Generated steps
// ---------------------------------------------------------------------------------------------

/// A condition, resolved against the model when the step runs (so that "the current seq_no" is
/// the current one at that point).
#[derive(Debug, Clone)]
enum Cond {
    None,
    /// `if_seq_no`/`if_primary_term` of the current document (or tombstone).
    MatchCurrent,
    /// The current seq_no with another term.
    OtherTerm,
    /// An arbitrary seq_no with the current term.
    Seq(i64),
    /// External version relative to the current one (`delta`), or absolute when no version exists.
    External {
        gte: bool,
        delta: i64,
    },
}

#[derive(Debug, Clone)]
enum Op {
    Index { id: usize, create: bool, source: Value, cond: Cond },
    Delete { id: usize, cond: Cond },
    Update { id: usize, doc: Value, upsert: Option<Value>, doc_as_upsert: bool, detect_noop: bool, cond: Cond },
}

#[derive(Debug, Clone)]
enum Step {
    /// One command: its operations are applied in order, atomically.
    Ops(Vec<Op>),
    Refresh,
    Flush,
    Reopen,
    /// A new primary (raft leader) with a higher term.
    NewTerm,
}

fn source_strategy() -> impl Strategy<Value = Value> {
    (0i64..3, prop::option::of(prop::sample::select(vec!["x", "y"])), prop::option::of(0i64..2)).prop_map(
        |(n, s, o)| {
            let mut v = json!({"n": n});
            if let Some(s) = s {
                v["s"] = json!(s);
            }
            if let Some(o) = o {
                v["o"] = json!({"x": o});
            }
            v
        },
    )
}

fn partial_strategy() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0i64..3).prop_map(|n| json!({"n": n})),
        prop::sample::select(vec!["x", "y"]).prop_map(|s| json!({"s": s})),
        (0i64..2).prop_map(|x| json!({"o": {"x": x}})),
        (0i64..3, 0i64..2).prop_map(|(n, x)| json!({"n": n, "o": {"x": x}})),
    ]
}

fn cas_strategy() -> impl Strategy<Value = Cond> {
    prop_oneof![
        6 => Just(Cond::None),
        3 => Just(Cond::MatchCurrent),
        1 => Just(Cond::OtherTerm),
        1 => (0i64..6).prop_map(Cond::Seq),
    ]
}

fn any_cond_strategy() -> impl Strategy<Value = Cond> {
    prop_oneof![
        8 => cas_strategy(),
        2 => (any::<bool>(), -1i64..3).prop_map(|(gte, delta)| Cond::External { gte, delta }),
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let id = 0..IDS.len();
    prop_oneof![
        4 => (id.clone(), source_strategy(), any_cond_strategy()).prop_map(|(id, source, cond)| Op::Index { id, create: false, source, cond }),
        // ES: "create operations only support internal versioning".
        2 => (id.clone(), source_strategy(), cas_strategy()).prop_map(|(id, source, cond)| Op::Index { id, create: true, source, cond }),
        2 => (id.clone(), any_cond_strategy()).prop_map(|(id, cond)| Op::Delete { id, cond }),
        4 => (id, partial_strategy(), prop::option::of(source_strategy()), any::<bool>(), prop::bool::weighted(0.8), cas_strategy())
            .prop_map(|(id, doc, upsert, doc_as_upsert, detect_noop, cond)| {
                // ES: compare-and-write cannot be combined with an upsert.
                let cond = if upsert.is_some() || doc_as_upsert { Cond::None } else { cond };
                Op::Update { id, doc, upsert, doc_as_upsert, detect_noop, cond }
            }),
    ]
}

fn step_strategy() -> impl Strategy<Value = Step> {
    prop_oneof![
        12 => prop::collection::vec(op_strategy(), 1..4).prop_map(Step::Ops),
        3 => Just(Step::Refresh),
        1 => Just(Step::Flush),
        1 => Just(Step::Reopen),
        1 => Just(Step::NewTerm),
    ]
}

// ---------------------------------------------------------------------------------------------
// Running a case
// ---------------------------------------------------------------------------------------------

struct Harness {
    dir: tempfile::TempDir,
    engine: Option<ShardEngine>,
    model: Model,
    term: i64,
    raft_index: u64,
}

fn open_engine(path: &Path) -> ShardEngine {
    ShardEngine::open(ShardOptions {
        ident: ShardIdent { index: "model".into(), index_uuid: "model-uuid".into(), shard: 0 },
        path: Some(path.to_path_buf()),
        mapping: Mapping::parse(&json!({})).expect("empty mapping"),
        analysis: None,
        writer_memory_bytes: 15 << 20,
    })
    .expect("open engine")
}

fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let builder = {
        let mut b = tempfile::Builder::new();
        b.prefix("tern-engine-model-");
        b
    };
    if shm.is_dir() { builder.tempdir_in(shm) } else { builder.tempdir() }.expect("temp dir")
}

fn query(v: Value) -> tern_query::QueryAst {
    tern_query::parse_query(&v).expect("valid query")
}

impl Harness {
    fn new() -> Harness {
        let dir = scratch_dir();
        let engine = open_engine(dir.path());
        Harness { dir, engine: Some(engine), model: Model::new(), term: 1, raft_index: 0 }
    }

    fn engine(&self) -> &ShardEngine {
        self.engine.as_ref().expect("engine is open")
    }

    fn resolve(&self, id: &str, cond: &Cond) -> WriteCondition {
        let current = self.model.docs.get(id);
        let (seq, term) = match current {
            Some(Entry::Live { seq_no, term, .. }) | Some(Entry::Deleted { seq_no, term, .. }) => (*seq_no, *term),
            None => (0, self.term),
        };
        match cond {
            Cond::None => WriteCondition::default(),
            Cond::MatchCurrent => {
                WriteCondition { if_seq_no: Some(seq), if_primary_term: Some(term), ..Default::default() }
            }
            Cond::OtherTerm => {
                WriteCondition { if_seq_no: Some(seq), if_primary_term: Some(term + 1), ..Default::default() }
            }
            Cond::Seq(s) => {
                WriteCondition { if_seq_no: Some(*s), if_primary_term: Some(self.term), ..Default::default() }
            }
            Cond::External { gte, delta } => {
                let base = current.map(Entry::version).unwrap_or(1);
                WriteCondition {
                    version: Some((base + delta).max(1)),
                    version_type: if *gte { VersionType::ExternalGte } else { VersionType::External },
                    ..Default::default()
                }
            }
        }
    }

    fn run(&mut self, step: &Step) -> Result<(), TestCaseError> {
        match step {
            Step::Ops(ops) => self.apply_ops(ops)?,
            Step::Refresh => {
                self.engine().refresh().map_err(|e| TestCaseError::fail(format!("refresh failed: {}", e.reason)))?;
                self.model.refresh();
            }
            Step::Flush => {
                self.engine().flush().map_err(|e| TestCaseError::fail(format!("flush failed: {}", e.reason)))?;
            }
            Step::Reopen => {
                let engine = self.engine.take().expect("engine is open");
                engine.flush().map_err(|e| TestCaseError::fail(format!("flush failed: {}", e.reason)))?;
                engine.close().map_err(|e| TestCaseError::fail(format!("close failed: {}", e.reason)))?;
                self.engine = Some(open_engine(self.dir.path()));
                self.model.reopen();
            }
            Step::NewTerm => self.term += 1,
        }
        self.check_state(step)
    }

    fn apply_ops(&mut self, ops: &[Op]) -> Result<(), TestCaseError> {
        let mut doc_ops = Vec::new();
        let mut expected = Vec::new();
        for op in ops {
            let (doc_op, exp) = match op {
                Op::Index { id, create, source, cond } => {
                    let id = IDS[*id];
                    let cond = self.resolve(id, cond);
                    let exp = self.model.index(id, source.clone(), *create, &cond, self.term);
                    let kind = DocOpKind::Index { source: serde_json::to_vec(source).unwrap(), create: *create };
                    (DocOp { id: id.into(), routing: None, kind, cond, auto_id: false }, exp)
                }
                Op::Delete { id, cond } => {
                    let id = IDS[*id];
                    let cond = self.resolve(id, cond);
                    let exp = self.model.delete(id, &cond, self.term);
                    (DocOp { id: id.into(), routing: None, kind: DocOpKind::Delete, cond, auto_id: false }, exp)
                }
                Op::Update { id, doc, upsert, doc_as_upsert, detect_noop, cond } => {
                    let id = IDS[*id];
                    let cond = self.resolve(id, cond);
                    let spec = UpdateSpec {
                        doc: Some(serde_json::to_vec(doc).unwrap()),
                        upsert: upsert.as_ref().map(|u| serde_json::to_vec(u).unwrap()),
                        doc_as_upsert: *doc_as_upsert,
                        detect_noop: *detect_noop,
                    };
                    let exp = self.model.update(id, &spec, &cond, self.term);
                    (DocOp { id: id.into(), routing: None, kind: DocOpKind::Update(spec), cond, auto_id: false }, exp)
                }
            };
            doc_ops.push(doc_op);
            expected.push(exp);
        }
        self.raft_index += 1;
        let cmd = ShardCommand::Ops { now_millis: NOW, ops: doc_ops.clone() };
        let reply = self.engine().apply(&cmd, self.term, format!("{}-{}", self.term, self.raft_index));
        let ShardReply::Ops(outcomes) = reply else {
            return Err(TestCaseError::fail(format!("command rejected: {reply:?}")));
        };
        prop_assert_eq!(outcomes.len(), expected.len());
        for ((outcome, exp), op) in outcomes.iter().zip(&expected).zip(&doc_ops) {
            check_outcome(outcome, exp, op)?;
        }
        Ok(())
    }

    /// Realtime GET against the model, search and non-realtime GET against the last refresh.
    fn check_state(&self, after: &Step) -> Result<(), TestCaseError> {
        let engine = self.engine();
        prop_assert_eq!(engine.max_seq_no(), self.model.max_seq_no, "max_seq_no after {:?}", after);
        for id in IDS {
            let got = engine.get(id).map(|d| (d.version, d.seq_no, d.primary_term, parse(&d.source)));
            let want = match self.model.docs.get(id) {
                Some(Entry::Live { version, seq_no, term, source }) => Some((*version, *seq_no, *term, source.clone())),
                _ => None,
            };
            prop_assert_eq!(got, want, "realtime GET [{}] after {:?}", id, after);

            let got = engine.get_refreshed(id).map(|d| (d.version, d.seq_no, d.primary_term, parse(&d.source)));
            let want = match self.model.searchable.get(id) {
                Some(Entry::Live { version, seq_no, term, source }) => Some((*version, *seq_no, *term, source.clone())),
                _ => None,
            };
            prop_assert_eq!(got, want, "non-realtime GET [{}] after {:?}", id, after);

            let n = engine
                .count(&query(json!({"ids": {"values": [id]}})), &[], NOW)
                .map_err(|e| TestCaseError::fail(e.reason))?;
            prop_assert_eq!(
                n,
                u64::from(self.model.searchable.contains_key(id)),
                "ids query [{}] after {:?}",
                id,
                after
            );
        }
        let all = engine
            .count(&query(json!({"ids": {"values": IDS}})), &[], NOW)
            .map_err(|e| TestCaseError::fail(e.reason))?;
        prop_assert_eq!(all, self.model.searchable.len() as u64, "ids count after {:?}", after);
        let docs =
            engine.matching_docs(&query(json!({"match_all": {}})), NOW).map_err(|e| TestCaseError::fail(e.reason))?;
        let got: BTreeMap<String, (i64, i64, i64, Value)> =
            docs.iter().map(|d| (d.id.clone(), (d.version, d.seq_no, d.primary_term, parse(&d.source)))).collect();
        prop_assert_eq!(got.len(), docs.len(), "search returned an id twice after {:?}", after);
        let want: BTreeMap<String, (i64, i64, i64, Value)> = self
            .model
            .searchable
            .iter()
            .map(|(id, e)| match e {
                Entry::Live { version, seq_no, term, source } => {
                    (id.clone(), (*version, *seq_no, *term, source.clone()))
                }
                Entry::Deleted { .. } => unreachable!("only live documents are searchable"),
            })
            .collect();
        prop_assert_eq!(got, want, "match_all after {:?}", after);
        Ok(())
    }
}

fn parse(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("stored source is not JSON ({e}): {bytes:?}"))
}

fn check_outcome(
    outcome: &OpOutcome,
    expected: &Result<Expected, ExpectedFailure>,
    op: &DocOp,
) -> Result<(), TestCaseError> {
    match (outcome, expected) {
        (Ok(s), Ok(e)) => {
            let got = Expected { result: s.result, version: s.version, seq_no: s.seq_no, term: s.primary_term };
            prop_assert_eq!(&got, e, "outcome of {:?}", op);
        }
        (Err(f), Err(e)) => {
            prop_assert_eq!(f.es_type.as_str(), e.es_type, "error type of {:?}", op);
            prop_assert_eq!(f.status, e.status, "error status of {:?}", op);
            prop_assert_eq!(&f.reason, &e.reason, "error reason of {:?}", op);
        }
        (got, want) => {
            return Err(TestCaseError::fail(format!("{op:?}: engine answered {got:?}, the model expects {want:?}")));
        }
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        // Keep failing seeds out of the source tree; proptest prints the minimal case.
        failure_persistence: None,
        max_shrink_iters: 2048,
        ..ProptestConfig::default()
    })]

    #[test]
    fn engine_matches_the_es_model(steps in prop::collection::vec(step_strategy(), 1..40)) {
        let mut h = Harness::new();
        for step in &steps {
            h.run(step)?;
        }
        // Whatever happened, a final reopen keeps every live document.
        h.run(&Step::Reopen)?;
    }
}

/// Deterministic checks of the rules the model encodes, so a model bug shows up as such.
#[test]
fn the_model_follows_es_rules() {
    let mut m = Model::new();
    let none = WriteCondition::default();
    let e = m.index("a", json!({"n": 1}), false, &none, 1).unwrap();
    assert_eq!(e, Expected { result: WriteResult::Created, version: 1, seq_no: 0, term: 1 });
    let f = m.index("a", json!({"n": 1}), true, &none, 1).unwrap_err();
    assert_eq!(f.reason, "[a]: version conflict, document already exists (current version [1])");
    let e = m.delete("a", &none, 1).unwrap();
    assert_eq!((e.result, e.version, e.seq_no), (WriteResult::Deleted, 2, 1));
    let e = m.delete("a", &none, 1).unwrap();
    assert_eq!((e.result, e.version, e.seq_no), (WriteResult::NotFound, 3, 2));
    let e = m.index("a", json!({"n": 2}), true, &none, 1).unwrap();
    assert_eq!((e.result, e.version), (WriteResult::Created, 4));
    let spec = UpdateSpec { doc: Some(br#"{"n":2}"#.to_vec()), detect_noop: true, ..Default::default() };
    let e = m.update("a", &spec, &none, 1).unwrap();
    assert_eq!((e.result, e.version, e.seq_no), (WriteResult::Noop, 4, 3));
    let cas = WriteCondition { if_seq_no: Some(0), if_primary_term: Some(1), ..Default::default() };
    let f = m.update("a", &spec, &cas, 1).unwrap_err();
    assert_eq!(
        f.reason,
        "[a]: version conflict, required seqNo [0], primary term [1]. current document has seqNo [3] and primary term [1]"
    );
    let f = m.update("zz", &spec, &none, 1).unwrap_err();
    assert_eq!((f.es_type, f.status), ("document_missing_exception", 404));
}

/// A fixed scenario through the harness (the property test's machinery on a known path).
#[test]
fn a_known_sequence() {
    let mut h = Harness::new();
    let steps = vec![
        Step::Ops(vec![Op::Index { id: 0, create: false, source: json!({"n": 1}), cond: Cond::None }]),
        Step::Ops(vec![
            Op::Update {
                id: 0,
                doc: json!({"n": 1}),
                upsert: None,
                doc_as_upsert: false,
                detect_noop: true,
                cond: Cond::None,
            },
            Op::Update {
                id: 1,
                doc: json!({"n": 2}),
                upsert: None,
                doc_as_upsert: true,
                detect_noop: true,
                cond: Cond::None,
            },
            Op::Delete { id: 0, cond: Cond::MatchCurrent },
        ]),
        Step::Refresh,
        Step::NewTerm,
        Step::Ops(vec![Op::Index { id: 0, create: true, source: json!({"n": 3}), cond: Cond::None }]),
        Step::Ops(vec![Op::Index { id: 1, create: false, source: json!({"n": 4}), cond: Cond::OtherTerm }]),
        Step::Flush,
        Step::Reopen,
        Step::Ops(vec![Op::Index {
            id: 2,
            create: false,
            source: json!({"s": "x"}),
            cond: Cond::External { gte: false, delta: 5 },
        }]),
        Step::Refresh,
    ];
    for step in &steps {
        h.run(step).unwrap_or_else(|e| panic!("{step:?}: {e}"));
    }
    assert_eq!(h.model.docs.len(), 3);
}
