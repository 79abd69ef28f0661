//! Query execution in one shard: `QueryAst` -> tantivy query -> top hits.
//!
//! Compilation happens here because only the shard knows both the mapping (is `status` a keyword or
//! a long? which analyzer does `title` use?) and the tantivy layout (which text slot holds `title`).
//! ES semantics kept on the way: filter clauses do not score, a `bool` with only negative clauses
//! matches everything else with score 0, numbers are normalized as tantivy indexes them, and dates
//! compare as epoch milliseconds.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::ops::Bound;
use std::sync::Arc;

use serde_json::Value;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, DisjunctionMaxQuery, EmptyQuery, EnableScoring,
    FuzzyTermQuery, Occur, PhraseQuery, Query, RangeQuery, RegexQuery, Scorer, TermQuery, TermSetQuery, Weight,
};
use tantivy::schema::{IndexRecordOption, Term};
use tantivy::{DocAddress, DocId, DocSet, Score, Searcher, SegmentOrdinal, SegmentReader};
use tern_common::{ErrorKind, EsError};
use tern_mapping::Mapping;
use tern_query::{QueryAst, SortOrder, SortSpec};

use crate::aggs::{AggPartial, AggRequest};
use crate::analysis::Analyzer;
use crate::engine::{ShardEngine, StoredDoc};
use crate::mapping_ext::{FieldKind, MappingExt};
use crate::schema::TextTarget;

/// What the coordinator asks of one shard.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ShardSearchRequest {
    #[serde(with = "crate::wire::json")]
    pub query: QueryAst,
    /// Filters that restrict without scoring (filtered aliases, `post_filter`).
    #[serde(with = "crate::wire::json")]
    pub filters: Vec<QueryAst>,
    #[serde(with = "crate::wire::json")]
    pub sort: Vec<SortSpec>,
    /// How many top hits to return (`from + size` of the request).
    pub top: usize,
    #[serde(with = "crate::wire::json")]
    pub search_after: Option<Vec<Value>>,
    pub min_score: Option<f32>,
    pub terminate_after: Option<u64>,
    /// Compute scores even when sorting by fields (`track_scores`).
    pub track_scores: bool,
    pub now_millis: i64,
    /// Tie-breaker for `search_after` within this shard: when all sort values are equal, only
    /// documents whose position (`doc_key`) is greater than this; `-1` keeps every tie. Used by
    /// scroll cursors and point-in-time `_shard_doc` tiebreaks. `None`: ties are dropped.
    pub after_doc_key: Option<i64>,
    /// Aggregations, collected in the same pass as the hits (over the query and `filters`, not the
    /// `post_filter`).
    #[serde(with = "crate::wire::agg_request")]
    pub aggs: Option<Arc<AggRequest>>,
    /// Restricts the hits (and their total) but not the aggregations.
    #[serde(with = "crate::wire::json")]
    pub post_filter: Option<QueryAst>,
}

/// A sort value as ES renders it in `hits[].sort`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum SortValue {
    I64(i64),
    F64(f64),
    Str(String),
    Missing,
}

impl SortValue {
    pub fn to_json(&self) -> Value {
        match self {
            SortValue::I64(n) => Value::from(*n),
            SortValue::F64(f) => serde_json::Number::from_f64(*f).map(Value::Number).unwrap_or(Value::Null),
            SortValue::Str(s) => Value::from(s.clone()),
            SortValue::Missing => Value::Null,
        }
    }

    pub(crate) fn cmp_values(a: &SortValue, b: &SortValue) -> Ordering {
        match (a, b) {
            (SortValue::I64(x), SortValue::I64(y)) => x.cmp(y),
            (SortValue::F64(x), SortValue::F64(y)) => x.total_cmp(y),
            (SortValue::I64(x), SortValue::F64(y)) => (*x as f64).total_cmp(y),
            (SortValue::F64(x), SortValue::I64(y)) => x.total_cmp(&(*y as f64)),
            (SortValue::Str(x), SortValue::Str(y)) => x.cmp(y),
            (SortValue::Missing, SortValue::Missing) => Ordering::Equal,
            (SortValue::Str(_), _) => Ordering::Greater,
            (_, SortValue::Str(_)) => Ordering::Less,
            (SortValue::Missing, _) | (_, SortValue::Missing) => Ordering::Equal,
        }
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ShardHit {
    pub score: Option<f32>,
    pub sort: Vec<SortValue>,
    pub doc: StoredDoc,
    pub shard: u32,
    /// Position of the document in the shard, for `_doc` order and tie-breaking.
    pub doc_key: u64,
    /// `highlight` fragments, filled by the coordinator's fetch phase for the hits it returns.
    pub highlight: Option<crate::highlight::HitHighlight>,
    /// The `collapse` field and this hit's value of it, filled by the coordinator when collapsing
    /// (ES shows it under `fields`).
    #[serde(with = "crate::wire::json")]
    pub collapse: Option<(String, Value)>,
    /// A collapsed group's expansion (`collapse.inner_hits`), by inner hits name.
    pub inner_hits: Vec<(String, InnerHitsResult)>,
}

/// The hits of one `inner_hits` expansion of a collapsed group.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct InnerHitsResult {
    pub total: u64,
    pub max_score: Option<f32>,
    /// `(index, hit)` in order.
    pub hits: Vec<(String, ShardHit)>,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ShardSearchResult {
    pub total: u64,
    pub max_score: Option<f32>,
    pub hits: Vec<ShardHit>,
    pub terminated_early: bool,
    /// This shard's aggregation results, to merge on the coordinator.
    pub aggs: Option<AggPartial>,
}

/// One resolved sort criterion.
#[derive(Debug, Clone)]
pub(crate) enum SortKey {
    Score {
        desc: bool,
    },
    Doc {
        desc: bool,
    },
    Field {
        column: String,
        kind: ColumnKind,
        desc: bool,
        missing_first: bool,
        missing_value: Option<SortValue>,
        min_mode: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ColumnKind {
    Numeric,
    Str,
    /// Unmapped field with `unmapped_type`, or `_id`-like columns.
    Absent,
}

/// Compares two hits by the request's sort (ES order: criteria in turn, then shard and doc order).
pub fn compare_hits(a: &ShardHit, b: &ShardHit, sort: &[SortSpec]) -> Ordering {
    if sort.is_empty() {
        return b
            .score
            .unwrap_or(0.0)
            .total_cmp(&a.score.unwrap_or(0.0))
            .then(a.shard.cmp(&b.shard))
            .then(a.doc_key.cmp(&b.doc_key));
    }
    for (i, spec) in sort.iter().enumerate() {
        let desc = is_desc(spec);
        let (x, y) = (&a.sort[i], &b.sort[i]);
        let ord = match (x, y) {
            (SortValue::Missing, SortValue::Missing) => Ordering::Equal,
            (SortValue::Missing, _) => {
                if missing_first(spec) {
                    Ordering::Less
                } else {
                    Ordering::Greater
                }
            }
            (_, SortValue::Missing) => {
                if missing_first(spec) {
                    Ordering::Greater
                } else {
                    Ordering::Less
                }
            }
            _ => {
                let o = SortValue::cmp_values(x, y);
                if desc { o.reverse() } else { o }
            }
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    a.shard.cmp(&b.shard).then(a.doc_key.cmp(&b.doc_key))
}

fn is_desc(spec: &SortSpec) -> bool {
    match spec.order {
        Some(SortOrder::Desc) => true,
        Some(SortOrder::Asc) => false,
        None => spec.field == "_score",
    }
}

fn missing_first(spec: &SortSpec) -> bool {
    matches!(spec.missing.as_ref().and_then(Value::as_str), Some("_first"))
}

impl ShardEngine {
    /// Runs a search over the last refreshed view.
    pub fn search(&self, req: &ShardSearchRequest) -> Result<ShardSearchResult, EsError> {
        self.search_with(&self.searcher(), req)
    }

    /// Runs a search on a pinned point-in-time view (scroll and PIT keep one per shard).
    pub fn search_with(&self, searcher: &Searcher, req: &ShardSearchRequest) -> Result<ShardSearchResult, EsError> {
        let started = std::time::Instant::now();
        let mapping = self.mapping();
        let compiler =
            Compiler { engine: self, mapping: &mapping, now: req.now_millis, lenient: std::cell::Cell::new(false) };
        let mut query = compiler.compile(&req.query)?;
        if !req.filters.is_empty() {
            let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, query)];
            for f in &req.filters {
                clauses.push((Occur::Must, Box::new(ConstScoreQuery::new(compiler.compile(f)?, 0.0))));
            }
            query = Box::new(BooleanQuery::new(clauses));
        }
        let keys = self.sort_keys(&mapping, &req.sort)?;
        // Without hits to return (`size: 0`) ES computes no scores and reports `max_score: null`.
        let needs_score = (req.top > 0
            && (req.sort.is_empty() || req.track_scores || keys.iter().any(|k| matches!(k, SortKey::Score { .. }))))
            || req.min_score.is_some();
        let after = match &req.search_after {
            Some(values) => Some(parse_search_after(values, &req.sort, &keys)?),
            None => None,
        };
        let collector = TopCollector {
            top: req.top,
            keys: Arc::new(keys),
            needs_score,
            min_score: req.min_score,
            terminate_after: req.terminate_after,
            after: after.map(Arc::new),
            after_doc_key: req.after_doc_key,
            sort: Arc::new(req.sort.clone()),
        };
        let shard_err = |e: tantivy::TantivyError| EsError::new(ErrorKind::QueryShardException, e.to_string());
        let post_filter = match &req.post_filter {
            Some(pf) => {
                Some(compiler.compile(pf)?.weight(EnableScoring::disabled_from_searcher(searcher)).map_err(shard_err)?)
            }
            None => None,
        };
        let collector = PostFiltered { inner: collector, filter: post_filter };
        let agg_request = req.aggs.as_ref().filter(|a| !a.is_empty());
        let (fruit, agg_fruit) = match agg_request {
            Some(aggs) => {
                let ctx = crate::aggs::BindCtx { engine: self, mapping: &mapping, searcher, now: req.now_millis };
                let agg_collector = crate::aggs::bind(&ctx, aggs)?;
                let (fruit, agg_fruit) = searcher.search(&*query, &(collector, agg_collector)).map_err(shard_err)?;
                (fruit, Some(agg_fruit))
            }
            None => (searcher.search(&*query, &collector).map_err(shard_err)?, None),
        };
        let aggs = match (agg_request, agg_fruit) {
            (Some(request), Some(agg_fruit)) => {
                let access = AggShardAccess { engine: self, searcher };
                Some(crate::aggs::finish(agg_fruit, request, &access)?)
            }
            _ => None,
        };
        let mut hits = Vec::with_capacity(fruit.hits.len());
        for c in fruit.hits {
            let addr = DocAddress::new(c.segment, c.doc);
            let Some(doc) = self.load_stored(searcher, addr) else {
                continue;
            };
            hits.push(ShardHit {
                score: if needs_score { Some(c.score) } else { None },
                sort: c.sort,
                doc,
                shard: self.ident().shard,
                doc_key: ((c.segment as u64) << 32) | c.doc as u64,
                highlight: None,
                collapse: None,
                inner_hits: Vec::new(),
            });
        }
        let counters = &self.counters;
        counters.query_total.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        counters.query_time_nanos.fetch_add(started.elapsed().as_nanos() as u64, std::sync::atomic::Ordering::Relaxed);
        counters.fetch_total.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(ShardSearchResult {
            total: fruit.total,
            max_score: if needs_score { fruit.max_score } else { None },
            hits,
            terminated_early: fruit.terminated,
            aggs,
        })
    }

    /// Renders one `top_hits` hit from its stored document.
    fn render_top_hit(
        &self,
        searcher: &Searcher,
        doc_key: u64,
        spec: &crate::aggs::TopHitsRender,
        hit: &crate::aggs::TopHitRef,
    ) -> Option<Value> {
        let addr = DocAddress::new((doc_key >> 32) as SegmentOrdinal, (doc_key & 0xffff_ffff) as DocId);
        let doc = self.load_stored(searcher, addr)?;
        let mut m = serde_json::Map::new();
        m.insert("_index".into(), Value::from(self.ident().index.clone()));
        m.insert("_id".into(), Value::from(doc.id.clone()));
        if spec.version {
            m.insert("_version".into(), Value::from(doc.version));
        }
        if spec.seq_no_primary_term {
            m.insert("_seq_no".into(), Value::from(doc.seq_no));
            m.insert("_primary_term".into(), Value::from(doc.primary_term));
        }
        let scored = spec.sort.is_empty() || spec.track_scores || spec.sort.iter().any(|s| s.field == "_score");
        let score = serde_json::Number::from_f64(hit.score as f64).map(Value::Number).unwrap_or(Value::Null);
        m.insert("_score".into(), if scored { score.clone() } else { Value::Null });
        if let Some(r) = &doc.routing {
            m.insert("_routing".into(), Value::from(r.clone()));
        }
        if !doc.source.is_empty()
            && let Some(src) = crate::aggs::filter_source(&doc.source, &spec.source)
        {
            m.insert("_source".into(), src);
        }
        if !spec.sort.is_empty() {
            let values: Vec<Value> = spec
                .sort
                .iter()
                .enumerate()
                .map(|(i, s)| match s.field.as_str() {
                    "_score" => score.clone(),
                    "_doc" => Value::from(doc_key as i64),
                    _ => hit.sort.get(i).map(SortValue::to_json).unwrap_or(Value::Null),
                })
                .collect();
            m.insert("sort".into(), Value::Array(values));
        }
        Some(Value::Object(m))
    }

    /// Counts matching documents (`_count`).
    pub fn count(&self, query: &QueryAst, filters: &[QueryAst], now_millis: i64) -> Result<u64, EsError> {
        let req = ShardSearchRequest {
            query: query.clone(),
            filters: filters.to_vec(),
            sort: vec![],
            top: 0,
            search_after: None,
            min_score: None,
            terminate_after: None,
            track_scores: false,
            now_millis,
            after_doc_key: None,
            aggs: None,
            post_filter: None,
        };
        Ok(self.search(&req)?.total)
    }

    /// Every matching document's id, seq_no and primary term (delete/update by query).
    pub fn matching_docs(&self, query: &QueryAst, now_millis: i64) -> Result<Vec<StoredDoc>, EsError> {
        let req = ShardSearchRequest {
            query: query.clone(),
            filters: vec![],
            sort: vec![SortSpec::new("_doc")],
            top: usize::MAX,
            search_after: None,
            min_score: None,
            terminate_after: None,
            track_scores: false,
            now_millis,
            after_doc_key: None,
            aggs: None,
            post_filter: None,
        };
        Ok(self.search(&req)?.hits.into_iter().map(|h| h.doc).collect())
    }

    pub(crate) fn sort_keys(&self, mapping: &Mapping, sort: &[SortSpec]) -> Result<Vec<SortKey>, EsError> {
        sort.iter()
            .map(|s| {
                let desc = is_desc(s);
                Ok(match s.field.as_str() {
                    "_score" => SortKey::Score { desc },
                    "_doc" => SortKey::Doc { desc },
                    field => {
                        let kind = match mapping.field_kind(field) {
                            Some(FieldKind::Keyword) | Some(FieldKind::Ip) => ColumnKind::Str,
                            Some(FieldKind::Numeric) | Some(FieldKind::Date) | Some(FieldKind::Boolean) => ColumnKind::Numeric,
                            Some(FieldKind::Text) => {
                                return Err(EsError::illegal_argument(format!(
                                    "Text fields are not optimised for operations that require per-document field data like aggregations and sorting, so these operations are disabled by default. Please use a keyword field instead. Alternatively, set fielddata=true on [{field}] in order to load field data by uninverting the inverted index. Note that this can use significant memory."
                                )));
                            }
                            Some(FieldKind::Object) | None => {
                                if s.unmapped_type.is_some() {
                                    ColumnKind::Absent
                                } else {
                                    return Err(EsError::new(ErrorKind::QueryShardException, format!("No mapping found for [{field}] in order to sort on")));
                                }
                            }
                        };
                        let missing_value = match s.missing.as_ref() {
                            None => None,
                            Some(Value::String(m)) if m == "_last" || m == "_first" => None,
                            Some(v) => Some(match v {
                                Value::Number(n) => n.as_i64().map(SortValue::I64).unwrap_or_else(|| SortValue::F64(n.as_f64().unwrap_or(0.0))),
                                Value::String(s) => SortValue::Str(s.clone()),
                                other => SortValue::Str(other.to_string()),
                            }),
                        };
                        let min_mode = match s.mode {
                            Some(tern_query::SortMode::Min) => true,
                            Some(tern_query::SortMode::Max) => false,
                            _ => !desc,
                        };
                        SortKey::Field { column: format!("_k.{field}"), kind, desc, missing_first: missing_first(s), missing_value, min_mode }
                    }
                })
            })
            .collect()
    }
}

fn parse_search_after(values: &[Value], sort: &[SortSpec], keys: &[SortKey]) -> Result<Vec<SortValue>, EsError> {
    if values.len() != sort.len() || sort.is_empty() {
        return Err(EsError::illegal_argument(format!(
            "search_after has {} value(s) but sort has {}.",
            values.len(),
            sort.len()
        )));
    }
    Ok(values
        .iter()
        .zip(keys)
        .map(|(v, k)| match (v, k) {
            (Value::Null, _) => SortValue::Missing,
            (Value::Number(n), _) => {
                n.as_i64().map(SortValue::I64).unwrap_or_else(|| SortValue::F64(n.as_f64().unwrap_or(0.0)))
            }
            (Value::String(s), SortKey::Field { kind: ColumnKind::Numeric, .. }) => {
                s.parse::<i64>().map(SortValue::I64).unwrap_or_else(|_| SortValue::Str(s.clone()))
            }
            (Value::String(s), _) => SortValue::Str(s.clone()),
            (other, _) => SortValue::Str(other.to_string()),
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Collection

struct Candidate {
    score: f32,
    sort: Vec<SortValue>,
    segment: SegmentOrdinal,
    doc: DocId,
}

struct Ranked {
    cand: Candidate,
    keys: Arc<Vec<SortKey>>,
}

impl Ranked {
    /// Ordering where "greater" means "ranks later" (so the heap's max is the worst kept hit).
    fn rank_cmp(&self, other: &Ranked) -> Ordering {
        rank(&self.cand, &other.cand, &self.keys)
    }
}

fn rank(a: &Candidate, b: &Candidate, keys: &[SortKey]) -> Ordering {
    if keys.is_empty() {
        return b.score.total_cmp(&a.score).then(a.segment.cmp(&b.segment)).then(a.doc.cmp(&b.doc));
    }
    for (i, k) in keys.iter().enumerate() {
        let ord = match k {
            SortKey::Score { desc } => {
                let o = a.score.total_cmp(&b.score);
                if *desc { o.reverse() } else { o }
            }
            SortKey::Doc { desc } => {
                let o = (a.segment, a.doc).cmp(&(b.segment, b.doc));
                if *desc { o.reverse() } else { o }
            }
            SortKey::Field { desc, missing_first, .. } => match (&a.sort[i], &b.sort[i]) {
                (SortValue::Missing, SortValue::Missing) => Ordering::Equal,
                (SortValue::Missing, _) => {
                    if *missing_first {
                        Ordering::Less
                    } else {
                        Ordering::Greater
                    }
                }
                (_, SortValue::Missing) => {
                    if *missing_first {
                        Ordering::Greater
                    } else {
                        Ordering::Less
                    }
                }
                (x, y) => {
                    let o = SortValue::cmp_values(x, y);
                    if *desc { o.reverse() } else { o }
                }
            },
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    (a.segment, a.doc).cmp(&(b.segment, b.doc))
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.rank_cmp(other) == Ordering::Equal
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank_cmp(other)
    }
}

struct TopCollector {
    top: usize,
    keys: Arc<Vec<SortKey>>,
    needs_score: bool,
    min_score: Option<f32>,
    terminate_after: Option<u64>,
    after: Option<Arc<Vec<SortValue>>>,
    after_doc_key: Option<i64>,
    sort: Arc<Vec<SortSpec>>,
}

struct TopFruit {
    total: u64,
    max_score: Option<f32>,
    hits: Vec<Candidate>,
    terminated: bool,
}

enum ColumnReader {
    I64(Column<i64>),
    F64(Column<f64>),
    U64(Column<u64>),
    Bool(Column<bool>),
    Str(StrColumn),
    None,
}

struct TopSegment {
    segment: SegmentOrdinal,
    top: usize,
    keys: Arc<Vec<SortKey>>,
    sort_reader: SortReader,
    heap: BinaryHeap<Ranked>,
    total: u64,
    max_score: Option<f32>,
    min_score: Option<f32>,
    terminate_after: Option<u64>,
    terminated: bool,
    after: Option<Arc<Vec<SortValue>>>,
    after_doc_key: Option<i64>,
    sort: Arc<Vec<SortSpec>>,
    /// Sort values of the last document that did not make the top hits, reused for the next one so
    /// that ranking a document allocates only when it enters the heap.
    spare: Vec<SortValue>,
}

impl Collector for TopCollector {
    type Fruit = TopFruit;
    type Child = TopSegment;

    fn for_segment(&self, segment: SegmentOrdinal, reader: &SegmentReader) -> tantivy::Result<TopSegment> {
        let sort_reader = SortReader::open(self.keys.clone(), reader)?;
        Ok(TopSegment {
            segment,
            top: self.top,
            keys: self.keys.clone(),
            sort_reader,
            heap: BinaryHeap::new(),
            total: 0,
            max_score: None,
            min_score: self.min_score,
            terminate_after: self.terminate_after,
            terminated: false,
            after: self.after.clone(),
            after_doc_key: self.after_doc_key,
            sort: self.sort.clone(),
            spare: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        self.needs_score
    }

    fn merge_fruits(&self, fruits: Vec<TopFruit>) -> tantivy::Result<TopFruit> {
        let mut total = 0;
        let mut max_score: Option<f32> = None;
        let mut all = Vec::new();
        let mut terminated = false;
        for f in fruits {
            total += f.total;
            terminated |= f.terminated;
            if let Some(s) = f.max_score {
                max_score = Some(max_score.map_or(s, |m| m.max(s)));
            }
            all.extend(f.hits);
        }
        all.sort_by(|a, b| rank(a, b, &self.keys));
        all.truncate(self.top);
        if let Some(limit) = self.terminate_after {
            total = total.min(limit);
        }
        Ok(TopFruit { total, max_score, hits: all, terminated })
    }
}

/// Reads the sort values of documents in one segment.
pub(crate) struct SortReader {
    keys: Arc<Vec<SortKey>>,
    columns: Vec<ColumnReader>,
    scratch: String,
}

impl SortReader {
    pub(crate) fn open(keys: Arc<Vec<SortKey>>, reader: &SegmentReader) -> tantivy::Result<SortReader> {
        let ff = reader.fast_fields();
        let mut columns = Vec::with_capacity(keys.len());
        for k in keys.iter() {
            let col = match k {
                SortKey::Field { column, kind: ColumnKind::Numeric, .. } => {
                    if let Some(c) = ff.column_opt::<i64>(column)? {
                        ColumnReader::I64(c)
                    } else if let Some(c) = ff.column_opt::<f64>(column)? {
                        ColumnReader::F64(c)
                    } else if let Some(c) = ff.column_opt::<u64>(column)? {
                        ColumnReader::U64(c)
                    } else if let Some(c) = ff.column_opt::<bool>(column)? {
                        ColumnReader::Bool(c)
                    } else {
                        ColumnReader::None
                    }
                }
                SortKey::Field { column, kind: ColumnKind::Str, .. } => match ff.str(column)? {
                    Some(c) => ColumnReader::Str(c),
                    None => ColumnReader::None,
                },
                _ => ColumnReader::None,
            };
            columns.push(col);
        }
        Ok(SortReader { keys, columns, scratch: String::new() })
    }

    pub(crate) fn values(&mut self, doc: DocId) -> Vec<SortValue> {
        let mut out = Vec::with_capacity(self.keys.len());
        self.fill(doc, &mut out);
        out
    }

    /// Appends the sort values of `doc` to `out` (which the caller may reuse between documents).
    pub(crate) fn fill(&mut self, doc: DocId, out: &mut Vec<SortValue>) {
        for (k, col) in self.keys.iter().zip(&self.columns) {
            let v = match (k, col) {
                (SortKey::Field { min_mode, missing_value, .. }, col) => {
                    let v =
                        match col {
                            ColumnReader::I64(c) => {
                                pick(c.values_for_doc(doc), *min_mode, |a, b| a.cmp(b)).map(SortValue::I64)
                            }
                            ColumnReader::U64(c) => pick(c.values_for_doc(doc), *min_mode, |a, b| a.cmp(b))
                                .map(|v| SortValue::I64(v as i64)),
                            ColumnReader::F64(c) => {
                                pick(c.values_for_doc(doc), *min_mode, |a, b| a.total_cmp(b)).map(SortValue::F64)
                            }
                            ColumnReader::Bool(c) => pick(c.values_for_doc(doc), *min_mode, |a, b| a.cmp(b))
                                .map(|b| SortValue::I64(b as i64)),
                            ColumnReader::Str(c) => {
                                let ord = pick(c.term_ords(doc), *min_mode, |a, b| a.cmp(b));
                                ord.and_then(|o| {
                                    self.scratch.clear();
                                    c.ord_to_str(o, &mut self.scratch)
                                        .ok()
                                        .filter(|f| *f)
                                        .map(|_| SortValue::Str(self.scratch.clone()))
                                })
                            }
                            ColumnReader::None => None,
                        };
                    v.or_else(|| missing_value.clone()).unwrap_or(SortValue::Missing)
                }
                _ => SortValue::Missing,
            };
            out.push(v);
        }
    }
}

impl TopSegment {
    /// Whether a candidate comes after the `search_after` point.
    fn is_after(&self, cand: &Candidate) -> bool {
        let Some(after) = &self.after else {
            return true;
        };
        for (i, k) in self.keys.iter().enumerate() {
            let spec = &self.sort[i];
            let (x, y) = (
                match k {
                    SortKey::Score { .. } => SortValue::F64(cand.score as f64),
                    SortKey::Doc { .. } => SortValue::I64(((cand.segment as i64) << 32) | cand.doc as i64),
                    _ => cand.sort[i].clone(),
                },
                after[i].clone(),
            );
            let ord = match (&x, &y) {
                (SortValue::Missing, SortValue::Missing) => Ordering::Equal,
                (SortValue::Missing, _) => {
                    if missing_first(spec) {
                        Ordering::Less
                    } else {
                        Ordering::Greater
                    }
                }
                (_, SortValue::Missing) => {
                    if missing_first(spec) {
                        Ordering::Greater
                    } else {
                        Ordering::Less
                    }
                }
                _ => {
                    let o = SortValue::cmp_values(&x, &y);
                    if is_desc(spec) { o.reverse() } else { o }
                }
            };
            match ord {
                Ordering::Greater => return true,
                Ordering::Less => return false,
                Ordering::Equal => continue,
            }
        }
        match self.after_doc_key {
            Some(key) => ((((cand.segment as u64) << 32) | cand.doc as u64) as i64) > key,
            None => false,
        }
    }
}

fn pick<T, I: Iterator<Item = T>>(it: I, min: bool, cmp: impl Fn(&T, &T) -> Ordering) -> Option<T> {
    if min { it.min_by(|a, b| cmp(a, b)) } else { it.max_by(|a, b| cmp(a, b)) }
}

impl SegmentCollector for TopSegment {
    type Fruit = TopFruit;

    fn collect(&mut self, doc: DocId, score: Score) {
        if self.terminated {
            return;
        }
        if let Some(min) = self.min_score
            && score < min
        {
            return;
        }
        if let Some(limit) = self.terminate_after
            && self.total >= limit
        {
            self.terminated = true;
            return;
        }
        if self.top == 0 && self.after.is_none() {
            // Nothing to rank (a count, or `size: 0` with aggregations): skip the sort values.
            self.total += 1;
            self.max_score = Some(self.max_score.map_or(score, |m| m.max(score)));
            return;
        }
        let mut sort = std::mem::take(&mut self.spare);
        sort.clear();
        self.sort_reader.fill(doc, &mut sort);
        let cand = Candidate { score, sort, segment: self.segment, doc };
        // ES counts every match in `hits.total`, also those before the `search_after` point.
        self.total += 1;
        if self.after.is_some() && !self.is_after(&cand) {
            self.spare = cand.sort;
            return;
        }
        self.max_score = Some(self.max_score.map_or(score, |m| m.max(score)));
        if self.top == 0 {
            self.spare = cand.sort;
            return;
        }
        if self.heap.len() < self.top {
            self.heap.push(Ranked { cand, keys: self.keys.clone() });
        } else if let Some(worst) = self.heap.peek()
            && rank(&cand, &worst.cand, &self.keys) == Ordering::Less
        {
            self.heap.pop();
            self.heap.push(Ranked { cand, keys: self.keys.clone() });
        } else {
            self.spare = cand.sort;
        }
    }

    fn harvest(self) -> TopFruit {
        TopFruit {
            total: self.total,
            max_score: self.max_score,
            hits: self.heap.into_iter().map(|r| r.cand).collect(),
            terminated: self.terminated,
        }
    }
}

/// The shard as the aggregations' final trimming sees it.
struct AggShardAccess<'a> {
    engine: &'a ShardEngine,
    searcher: &'a Searcher,
}

impl crate::aggs::ShardAccess for AggShardAccess<'_> {
    fn top_hit(&self, doc_key: u64, spec: &crate::aggs::TopHitsRender, hit: &crate::aggs::TopHitRef) -> Option<Value> {
        self.engine.render_top_hit(self.searcher, doc_key, spec, hit)
    }

    fn doc_freq(&self, path: &str, key: &crate::aggs::TermKey, boolean: bool) -> u64 {
        use crate::aggs::TermKey;
        let mut t = Term::from_field_json_path(self.engine.fields().kw, path, true);
        match key {
            TermKey::Str(s) => t.append_type_and_str(s),
            TermKey::Ip(v) => t.append_type_and_str(&crate::aggs::ip_string(*v)),
            TermKey::Long(n) if boolean => t.append_type_and_fast_value(*n != 0),
            TermKey::Long(n) => t.append_type_and_fast_value(*n),
            // tantivy indexes integral floats as i64.
            TermKey::Double(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => t.append_type_and_fast_value(*f as i64),
            TermKey::Double(f) => t.append_type_and_fast_value(*f),
        }
        self.searcher.doc_freq(&t).unwrap_or(0)
    }

    fn num_docs(&self) -> u64 {
        self.searcher.num_docs()
    }
}

/// Restricts a collector to the documents of a filter (`post_filter`: hits are filtered, the
/// aggregations collected next to them are not).
struct PostFiltered<C> {
    inner: C,
    filter: Option<Box<dyn Weight>>,
}

struct PostFilteredSegment<S> {
    inner: S,
    scorer: Option<Box<dyn Scorer>>,
}

impl<C: Collector> Collector for PostFiltered<C> {
    type Fruit = C::Fruit;
    type Child = PostFilteredSegment<C::Child>;

    fn for_segment(&self, segment: SegmentOrdinal, reader: &SegmentReader) -> tantivy::Result<Self::Child> {
        let scorer = match &self.filter {
            Some(w) => Some(w.scorer(reader, 1.0)?),
            None => None,
        };
        Ok(PostFilteredSegment { inner: self.inner.for_segment(segment, reader)?, scorer })
    }

    fn requires_scoring(&self) -> bool {
        self.inner.requires_scoring()
    }

    fn merge_fruits(&self, fruits: Vec<<Self::Child as SegmentCollector>::Fruit>) -> tantivy::Result<Self::Fruit> {
        self.inner.merge_fruits(fruits)
    }
}

impl<S: SegmentCollector> SegmentCollector for PostFilteredSegment<S> {
    type Fruit = S::Fruit;

    fn collect(&mut self, doc: DocId, score: Score) {
        if let Some(scorer) = &mut self.scorer {
            let mut cur = scorer.doc();
            if cur < doc && cur != tantivy::TERMINATED {
                cur = scorer.seek(doc);
            }
            if cur != doc {
                return;
            }
        }
        self.inner.collect(doc, score);
    }

    fn harvest(self) -> Self::Fruit {
        self.inner.harvest()
    }
}

/// Compiles a query against a shard (the `filter`/`filters` aggregations use it).
pub(crate) fn compile_query(
    engine: &ShardEngine,
    mapping: &Mapping,
    now: i64,
    ast: &QueryAst,
) -> Result<Box<dyn Query>, EsError> {
    let compiler = Compiler { engine, mapping, now, lenient: std::cell::Cell::new(false) };
    compiler.compile(ast)
}

// ---------------------------------------------------------------------------------------------
// Compilation

struct Compiler<'a> {
    engine: &'a ShardEngine,
    mapping: &'a Mapping,
    now: i64,
    lenient: std::cell::Cell<bool>,
}

fn boosted(q: Box<dyn Query>, boost: f32) -> Box<dyn Query> {
    if (boost - 1.0).abs() < f32::EPSILON { q } else { Box::new(BoostQuery::new(q, boost)) }
}

fn none() -> Box<dyn Query> {
    Box::new(EmptyQuery)
}

enum PhraseTokens {
    Tokens(Vec<crate::analysis::AnalyzedToken>),
    Query(Box<dyn Query>),
}

/// A typed value ready for a `_k` term.
enum KwValue {
    Str(String),
    I64(i64),
    F64(f64),
    Bool(bool),
}

impl<'a> Compiler<'a> {
    /// The concrete path of a field: a field alias is queried as the field it points to.
    fn concrete(&self, field: &str) -> String {
        match self.mapping.resolve_field(field) {
            Some((path, _)) => path,
            None => field.to_string(),
        }
    }

    /// Compiles a query; its `boost` is applied once here for every query type.
    fn compile(&self, ast: &QueryAst) -> Result<Box<dyn Query>, EsError> {
        let q = self.compile_unboosted(ast)?;
        Ok(match ast {
            // These carry their boost in the constant score they produce.
            QueryAst::Terms(_) | QueryAst::Ids(_) | QueryAst::ConstantScore(_) | QueryAst::Exists(_) => q,
            _ => boosted(q, ast.boost()),
        })
    }

    fn compile_unboosted(&self, ast: &QueryAst) -> Result<Box<dyn Query>, EsError> {
        Ok(match ast {
            // A constant score: tantivy drops a bare AllQuery's score inside a boolean with other
            // required clauses, while ES scores match_all 1.0 everywhere.
            QueryAst::MatchAll(_) => Box::new(ConstScoreQuery::new(Box::new(AllQuery), 1.0)),
            QueryAst::MatchNone(_) => none(),
            QueryAst::Bool(b) => {
                let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
                for q in &b.must {
                    clauses.push((Occur::Must, self.compile(q)?));
                }
                for q in &b.filter {
                    clauses.push((Occur::Must, Box::new(ConstScoreQuery::new(self.compile(q)?, 0.0))));
                }
                for q in &b.should {
                    clauses.push((Occur::Should, self.compile(q)?));
                }
                for q in &b.must_not {
                    clauses.push((Occur::MustNot, self.compile(q)?));
                }
                let positive = !b.must.is_empty() || !b.filter.is_empty();
                let required_should = match &b.minimum_should_match {
                    Some(m) => m.resolve(b.should.len()),
                    None if positive => 0,
                    None => usize::from(!b.should.is_empty()),
                };
                if required_should > b.should.len() {
                    return Ok(none());
                }
                if !positive && b.should.is_empty() {
                    // Only negative clauses: everything else matches, with score 0 as in ES.
                    clauses.push((Occur::Must, Box::new(ConstScoreQuery::new(Box::new(AllQuery), 0.0))));
                }
                if required_should > 0 && !b.should.is_empty() {
                    Box::new(BooleanQuery::with_minimum_required_clauses(clauses, required_should))
                } else {
                    Box::new(BooleanQuery::new(clauses))
                }
            }
            QueryAst::Term(t) => self.term_query(&t.field, &t.value, t.case_insensitive)?,
            QueryAst::Terms(t) => {
                let mut terms = Vec::new();
                for v in &t.values {
                    terms.extend(self.exact_terms(&t.field, v, false)?);
                }
                let q: Box<dyn Query> = if terms.is_empty() { none() } else { Box::new(TermSetQuery::new(terms)) };
                Box::new(ConstScoreQuery::new(q, t.boost))
            }
            QueryAst::Ids(ids) => {
                let terms: Vec<Term> =
                    ids.values.iter().map(|id| Term::from_field_text(self.engine.fields().id, id)).collect();
                Box::new(ConstScoreQuery::new(Box::new(TermSetQuery::new(terms)), ids.boost))
            }
            QueryAst::Exists(e) if e.field.starts_with('_') => match e.field.as_str() {
                // Every document has these metadata fields.
                "_id" | "_index" | "_seq_no" | "_version" | "_primary_term" => {
                    Box::new(ConstScoreQuery::new(Box::new(AllQuery), e.boost))
                }
                "_routing" => Box::new(ConstScoreQuery::new(
                    Box::new(TermQuery::new(
                        Term::from_field_text(self.engine.fields().field_names, "_routing"),
                        IndexRecordOption::Basic,
                    )),
                    e.boost,
                )),
                "_source" => {
                    return Err(EsError::new(
                        ErrorKind::QueryShardException,
                        "the _source field is not searchable, so exists queries on it are not supported",
                    ));
                }
                _ => self.exists_query(&e.field, e.boost),
            },
            QueryAst::Exists(e) => self.exists_query(&e.field, e.boost),
            QueryAst::Range(r) => Box::new(ConstScoreQuery::new(
                self.range_query(&r.field, &r.gt, &r.gte, &r.lt, &r.lte, r.format.as_deref(), r.time_zone.as_deref())?,
                1.0,
            )),
            QueryAst::Match(m) => self.match_query(
                &m.field,
                &m.query,
                m.operator,
                m.minimum_should_match.as_ref(),
                m.fuzziness.as_ref(),
                m.analyzer.as_deref(),
                m.zero_terms_query,
            )?,
            QueryAst::MatchPhrase(m) => self.phrase_query(&m.field, &m.query, m.slop, m.analyzer.as_deref())?,
            QueryAst::Prefix(p) => {
                let value = self.normalize_multi_term(&p.field, &p.value, p.normalize);
                let pattern = format!("{}.*", regex_escape(&value));
                Box::new(ConstScoreQuery::new(self.regex_query(&p.field, &pattern, p.case_insensitive)?, 1.0))
            }
            QueryAst::Wildcard(w) => {
                let value = self.normalize_multi_term(&w.field, &w.value, w.normalize);
                let pattern = wildcard_to_regex(&value);
                Box::new(ConstScoreQuery::new(self.regex_query(&w.field, &pattern, w.case_insensitive)?, 1.0))
            }
            QueryAst::Regexp(r) => {
                Box::new(ConstScoreQuery::new(self.regex_query(&r.field, &r.value, r.case_insensitive)?, 1.0))
            }
            QueryAst::ConstantScore(c) => Box::new(ConstScoreQuery::new(self.compile(&c.filter)?, c.boost)),
            QueryAst::DisMax(d) => {
                let qs = d.queries.iter().map(|q| self.compile(q)).collect::<Result<Vec<_>, _>>()?;
                Box::new(DisjunctionMaxQuery::with_tie_breaker(qs, d.tie_breaker))
            }
            QueryAst::QueryString(qs) => {
                let resolver = |pattern: &str| self.resolve_fields(pattern);
                let mut qs = qs.clone();
                if qs.fields.is_empty() && qs.default_field.is_none() {
                    // ES's `index.query.default_field` default: every eligible field, leniently.
                    qs.default_field = Some("*".to_string());
                    qs.lenient = Some(qs.lenient.unwrap_or(true));
                }
                let lenient = qs.lenient.unwrap_or(false);
                let ast = tern_query::parse_query_string(&qs, &resolver).map_err(EsError::from)?;
                self.with_lenient(lenient, || self.compile(&ast))?
            }
            QueryAst::SimpleQueryString(sq) => {
                let resolver = |pattern: &str| self.resolve_fields(pattern);
                let lenient = sq.lenient.unwrap_or(sq.fields.is_empty());
                let ast = tern_query::parse_simple_query_string(sq, &resolver).map_err(EsError::from)?;
                self.with_lenient(lenient, || self.compile(&ast))?
            }
            QueryAst::MultiMatch(mm) => self.multi_match(mm)?,
            QueryAst::MatchPhrasePrefix(m) => {
                self.phrase_prefix_query(&m.field, &m.query, m.max_expansions, m.analyzer.as_deref())?
            }
            QueryAst::MatchBoolPrefix(m) => {
                let Some(FieldKind::Text) = self.kind(&m.field) else {
                    return self.term_query(&m.field, &Value::String(m.query.clone()), false);
                };
                let tokens = self.analyzer_for(&m.field, m.analyzer.as_deref())?.terms(&m.query);
                let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
                let occur = if m.operator == tern_query::Operator::And { Occur::Must } else { Occur::Should };
                for (i, tok) in tokens.iter().enumerate() {
                    let q: Box<dyn Query> = if i + 1 == tokens.len() {
                        self.text_prefix(&m.field, tok)?
                    } else {
                        match self.text_term(&m.field, tok) {
                            Some(t) => Box::new(TermQuery::new(t, IndexRecordOption::WithFreqs)),
                            None => none(),
                        }
                    };
                    clauses.push((occur, q));
                }
                if clauses.is_empty() { none() } else { Box::new(BooleanQuery::new(clauses)) }
            }
            QueryAst::Fuzzy(f) => {
                let value = value_string(&f.value);
                let edits = f.fuzziness.edits_for(value.chars().count());
                match self.kind(&f.field) {
                    Some(FieldKind::Text) => match self.text_term(&f.field, &value) {
                        Some(t) => Box::new(FuzzyTermQuery::new(t, edits, f.transpositions)),
                        None => none(),
                    },
                    Some(FieldKind::Keyword) => {
                        let t = self.kw_term(&f.field, KwValue::Str(value.clone()));
                        Box::new(FuzzyTermQuery::new(t, edits, f.transpositions))
                    }
                    Some(_) => self.term_query(&f.field, &f.value, false)?,
                    None => none(),
                }
            }
            other => {
                return Err(EsError::new(
                    ErrorKind::QueryShardException,
                    format!("query [{}] is not supported by this version of tern", other.query_type()),
                ));
            }
        })
    }

    /// Documents holding a value for `field` (or, for an object, for any field under it).
    fn exists_query(&self, field: &str, boost: f32) -> Box<dyn Query> {
        let names = self.engine.fields().field_names;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(
            Occur::Should,
            Box::new(TermQuery::new(Term::from_field_text(names, field), IndexRecordOption::Basic)),
        )];
        let prefix = format!("{field}.");
        for path in self.mapping.field_paths() {
            if path.starts_with(&prefix) {
                let t = Term::from_field_text(names, &path);
                clauses.push((Occur::Should, Box::new(TermQuery::new(t, IndexRecordOption::Basic))));
            }
        }
        Box::new(ConstScoreQuery::new(Box::new(BooleanQuery::new(clauses)), boost))
    }

    /// Multi-term queries from the query-string syntax run their text through the field's
    /// normalization (lowercasing for analyzed text), as ES does.
    fn normalize_multi_term(&self, field: &str, value: &str, normalize: bool) -> String {
        if normalize && self.kind(field) == Some(FieldKind::Text) { value.to_lowercase() } else { value.to_string() }
    }

    /// Runs `f` with leniency on: type errors in field values match nothing instead of failing, as
    /// ES does for queries expanded over many fields.
    fn with_lenient<T>(&self, lenient: bool, f: impl FnOnce() -> T) -> T {
        let before = self.lenient.replace(lenient || self.lenient.get());
        let out = f();
        self.lenient.set(before);
        out
    }

    /// Concrete fields a field pattern stands for (`*`, `user.*`, a name); a wildcard keeps only
    /// fields a full-text query can search.
    fn resolve_fields(&self, pattern: &str) -> Vec<String> {
        if !pattern.contains('*') {
            return vec![pattern.to_string()];
        }
        let re = wildcard_to_regex(pattern);
        let Ok(re) = regex::Regex::new(&format!("^{re}$")) else { return vec![] };
        self.mapping
            .field_paths()
            .into_iter()
            .filter(|p| re.is_match(p))
            .filter(|p| !matches!(self.kind(p), Some(FieldKind::Object) | None))
            .collect()
    }

    fn multi_match(&self, mm: &tern_query::MultiMatchQuery) -> Result<Box<dyn Query>, EsError> {
        use tern_query::MultiMatchType as T;
        let mut fields: Vec<(String, f32)> = Vec::new();
        let patterns = if mm.fields.is_empty() { vec![("*".to_string(), 1.0)] } else { mm.fields.clone() };
        for (p, boost) in &patterns {
            for f in self.resolve_fields(p) {
                fields.push((f, *boost));
            }
        }
        let lenient = mm.lenient || mm.fields.is_empty();
        self.with_lenient(lenient, || {
            let mut per_field = Vec::new();
            for (field, boost) in &fields {
                let text = value_string(&mm.query);
                let q = match mm.match_type {
                    T::Phrase => self.phrase_query(field, &text, mm.slop, mm.analyzer.as_deref())?,
                    T::PhrasePrefix => {
                        self.phrase_prefix_query(field, &text, mm.max_expansions, mm.analyzer.as_deref())?
                    }
                    _ => self.match_query(
                        field,
                        &mm.query,
                        mm.operator,
                        mm.minimum_should_match.as_ref(),
                        mm.fuzziness.as_ref(),
                        mm.analyzer.as_deref(),
                        mm.zero_terms_query,
                    )?,
                };
                per_field.push(boosted(q, *boost));
            }
            if per_field.is_empty() {
                return Ok(none());
            }
            Ok(match mm.match_type {
                T::MostFields => {
                    Box::new(BooleanQuery::new(per_field.into_iter().map(|q| (Occur::Should, q)).collect()))
                        as Box<dyn Query>
                }
                _ => Box::new(DisjunctionMaxQuery::with_tie_breaker(per_field, mm.tie_breaker.unwrap_or(0.0))),
            })
        })
    }

    fn phrase_prefix_query(
        &self,
        field: &str,
        query: &str,
        max_expansions: u32,
        analyzer: Option<&str>,
    ) -> Result<Box<dyn Query>, EsError> {
        let tokens = match self.phrase_tokens(field, query, analyzer)? {
            PhraseTokens::Tokens(t) => t,
            PhraseTokens::Query(q) => return Ok(q),
        };
        if tokens.len() == 1 {
            return self.text_prefix(field, &tokens[0].text);
        }
        let mut terms = Vec::new();
        for t in &tokens {
            let Some(term) = self.text_term(field, &t.text) else { return Ok(none()) };
            terms.push((t.position, term));
        }
        let mut q = tantivy::query::PhrasePrefixQuery::new_with_offset(terms);
        q.set_max_expansions(max_expansions.max(1));
        Ok(Box::new(q))
    }

    /// Documents with a token starting with `prefix` in a text field.
    fn text_prefix(&self, field: &str, prefix: &str) -> Result<Box<dyn Query>, EsError> {
        self.regex_query(field, &format!("{}.*", regex_escape(prefix)), false)
    }

    fn kind(&self, field: &str) -> Option<FieldKind> {
        self.mapping.field_kind(field)
    }

    /// Terms for an exact (not analyzed) value against a field.
    fn exact_terms(&self, field: &str, value: &Value, case_insensitive: bool) -> Result<Vec<Term>, EsError> {
        let fields = self.engine.fields();
        if field == "_id" {
            return Ok(vec![Term::from_field_text(fields.id, &value_string(value))]);
        }
        if field == "_routing" {
            return Ok(vec![Term::from_field_text(fields.routing, &value_string(value))]);
        }
        let _ = case_insensitive;
        match self.kind(field) {
            None | Some(FieldKind::Object) => Ok(vec![]),
            Some(FieldKind::Text) => {
                let s = value_string(value);
                Ok(match self.engine.text_target(&self.concrete(field)) {
                    Some(TextTarget::Slot(f)) => vec![Term::from_field_text(f, &s)],
                    Some(TextTarget::Overflow) => {
                        let mut t = Term::from_field_json_path(fields.text_overflow, field, true);
                        t.append_type_and_str(&s);
                        vec![t]
                    }
                    None => vec![],
                })
            }
            Some(kind) => {
                let v = self.typed_value(field, kind, value)?;
                Ok(vec![self.kw_term(field, v)])
            }
        }
    }

    fn kw_term(&self, field: &str, v: KwValue) -> Term {
        let mut t = Term::from_field_json_path(self.engine.fields().kw, &self.concrete(field), true);
        match v {
            KwValue::Str(s) => t.append_type_and_str(&s),
            KwValue::I64(n) => t.append_type_and_fast_value(n),
            KwValue::F64(f) => {
                // tantivy indexes integral floats as i64: query the same representation.
                if f.fract() == 0.0 && f.abs() < 9.0e15 {
                    t.append_type_and_fast_value(f as i64)
                } else {
                    t.append_type_and_fast_value(f)
                }
            }
            KwValue::Bool(b) => t.append_type_and_fast_value(b),
        }
        t
    }

    fn typed_value(&self, field: &str, kind: FieldKind, value: &Value) -> Result<KwValue, EsError> {
        let bad = |what: &str| {
            EsError::new(ErrorKind::QueryShardException, format!("failed to create query: {what}"))
                .with("index", self.engine.ident().index.clone())
                .with("index_uuid", self.engine.ident().index_uuid.clone())
        };
        Ok(match kind {
            FieldKind::Keyword => KwValue::Str(self.mapping.normalize_keyword(field, &value_string(value))),
            FieldKind::Ip => KwValue::Str(value_string(value)),
            FieldKind::Boolean => match value {
                Value::Bool(b) => KwValue::Bool(*b),
                Value::String(s) if s == "true" => KwValue::Bool(true),
                Value::String(s) if s == "false" => KwValue::Bool(false),
                other => {
                    return Err(bad(&format!(
                        "Can't parse boolean value [{}], expected [true] or [false]",
                        value_string(other)
                    )));
                }
            },
            FieldKind::Date => {
                let ms = self
                    .mapping
                    .parse_date_value(field, value, self.now, false, None, None)
                    .map_err(|e| bad(&e.reason))?;
                KwValue::I64(ms)
            }
            FieldKind::Numeric => {
                let n = match value {
                    Value::Number(n) => n.clone(),
                    Value::String(s) => s
                        .trim()
                        .parse::<serde_json::Number>()
                        .map_err(|_| bad(&format!("For input string: \"{s}\"")))?,
                    other => {
                        return Err(bad(&format!("For input string: \"{}\"", value_string(other))));
                    }
                };
                if self.mapping.is_integer_field(field) {
                    match n.as_i64() {
                        Some(i) => KwValue::I64(i),
                        None => {
                            let f = n.as_f64().unwrap_or(f64::NAN);
                            if f.fract() != 0.0 {
                                // A fractional value can never equal an integer field's value.
                                KwValue::F64(f)
                            } else {
                                KwValue::I64(f as i64)
                            }
                        }
                    }
                } else {
                    KwValue::F64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            FieldKind::Text | FieldKind::Object => KwValue::Str(value_string(value)),
        })
    }

    fn term_query(&self, field: &str, value: &Value, case_insensitive: bool) -> Result<Box<dyn Query>, EsError> {
        match self.term_query_strict(field, value, case_insensitive) {
            Err(_) if self.lenient.get() => Ok(none()),
            other => other,
        }
    }

    fn term_query_strict(&self, field: &str, value: &Value, case_insensitive: bool) -> Result<Box<dyn Query>, EsError> {
        if case_insensitive {
            let pattern = format!("(?i){}", regex_escape(&value_string(value)));
            return self.regex_query(field, &pattern, false);
        }
        let terms = self.exact_terms(field, value, case_insensitive)?;
        Ok(match terms.len() {
            0 => none(),
            1 => Box::new(TermQuery::new(terms.into_iter().next().expect("one term"), IndexRecordOption::WithFreqs)),
            _ => Box::new(TermSetQuery::new(terms)),
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn range_query(
        &self,
        field: &str,
        gt: &Option<Value>,
        gte: &Option<Value>,
        lt: &Option<Value>,
        lte: &Option<Value>,
        format: Option<&str>,
        time_zone: Option<&str>,
    ) -> Result<Box<dyn Query>, EsError> {
        let Some(kind) = self.kind(field) else {
            return Ok(none());
        };
        let bound = |v: &Option<Value>, inclusive: bool, round_up: bool| -> Result<Bound<Term>, EsError> {
            let Some(v) = v else {
                return Ok(Bound::Unbounded);
            };
            if v.is_null() {
                return Ok(Bound::Unbounded);
            }
            let kv = match kind {
                FieldKind::Date => {
                    KwValue::I64(self.mapping.parse_date_value(field, v, self.now, round_up, format, time_zone)?)
                }
                FieldKind::Text => KwValue::Str(value_string(v)),
                other => self.typed_value(field, other, v)?,
            };
            let term = match (kind, kv) {
                (FieldKind::Text, KwValue::Str(s)) => match self.engine.text_target(&self.concrete(field)) {
                    Some(TextTarget::Slot(f)) => Term::from_field_text(f, &s),
                    _ => return Ok(Bound::Unbounded),
                },
                // Range bounds keep their float form so fractional limits stay exact.
                (_, KwValue::F64(f)) => {
                    let mut t = Term::from_field_json_path(self.engine.fields().kw, &self.concrete(field), true);
                    t.append_type_and_fast_value(f);
                    t
                }
                (_, kv) => self.kw_term(field, kv),
            };
            Ok(if inclusive { Bound::Included(term) } else { Bound::Excluded(term) })
        };
        let lower = match (gte, gt) {
            (Some(_), _) => bound(gte, true, false)?,
            (None, Some(_)) => bound(gt, false, true)?,
            _ => Bound::Unbounded,
        };
        let upper = match (lte, lt) {
            (Some(_), _) => bound(lte, true, true)?,
            (None, Some(_)) => bound(lt, false, false)?,
            _ => Bound::Unbounded,
        };
        if matches!((&lower, &upper), (Bound::Unbounded, Bound::Unbounded)) {
            return Ok(Box::new(TermQuery::new(
                Term::from_field_text(self.engine.fields().field_names, field),
                IndexRecordOption::Basic,
            )));
        }
        Ok(Box::new(RangeQuery::new(lower, upper)))
    }

    fn analyzer_for(&self, field: &str, analyzer: Option<&str>) -> Result<Analyzer, EsError> {
        match analyzer {
            Some(name) => self.engine.analyzers().resolve(name),
            None => Ok(self.engine.search_analyzer(field)),
        }
    }

    fn text_term(&self, field: &str, token: &str) -> Option<Term> {
        match self.engine.text_target(&self.concrete(field))? {
            TextTarget::Slot(f) => Some(Term::from_field_text(f, token)),
            TextTarget::Overflow => {
                let mut t = Term::from_field_json_path(self.engine.fields().text_overflow, field, true);
                t.append_type_and_str(token);
                Some(t)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn match_query(
        &self,
        field: &str,
        query: &Value,
        operator: tern_query::Operator,
        msm: Option<&tern_query::MinimumShouldMatch>,
        fuzziness: Option<&tern_query::Fuzziness>,
        analyzer: Option<&str>,
        zero_terms: tern_query::ZeroTermsQuery,
    ) -> Result<Box<dyn Query>, EsError> {
        if matches!(field, "_id" | "_routing") {
            // Metadata fields are exact: a full-text query on them is a term query, as in ES.
            return self.term_query(field, query, false);
        }
        match self.kind(field) {
            Some(FieldKind::Text) => {}
            None | Some(FieldKind::Object) => return Ok(none()),
            Some(_) => return self.term_query(field, query, false),
        }
        let text = value_string(query);
        let tokens = self.analyzer_for(field, analyzer)?.terms(&text);
        if tokens.is_empty() {
            return Ok(match zero_terms {
                tern_query::ZeroTermsQuery::All => Box::new(AllQuery),
                tern_query::ZeroTermsQuery::None | tern_query::ZeroTermsQuery::Null => none(),
            });
        }
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let occur = match operator {
            tern_query::Operator::And => Occur::Must,
            tern_query::Operator::Or => Occur::Should,
        };
        for tok in &tokens {
            let Some(term) = self.text_term(field, tok) else {
                return Ok(none());
            };
            let q: Box<dyn Query> = match fuzziness {
                Some(f) => {
                    let edits = f.edits_for(tok.chars().count());
                    if edits == 0 {
                        Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs))
                    } else {
                        Box::new(FuzzyTermQuery::new(term, edits, true))
                    }
                }
                None => Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs)),
            };
            clauses.push((occur, q));
        }
        if clauses.len() == 1 {
            return Ok(clauses.pop().expect("one clause").1);
        }
        if occur == Occur::Should
            && let Some(m) = msm
        {
            let n = m.resolve(clauses.len());
            if n > clauses.len() {
                return Ok(none());
            }
            return Ok(Box::new(BooleanQuery::with_minimum_required_clauses(clauses, n.max(1))));
        }
        Ok(Box::new(BooleanQuery::new(clauses)))
    }

    /// The analyzed tokens of a phrase on a text field, or the query a phrase means elsewhere: an
    /// exact term on other field types, nothing on unmapped fields or text that analyzes to nothing.
    fn phrase_tokens(&self, field: &str, query: &str, analyzer: Option<&str>) -> Result<PhraseTokens, EsError> {
        match self.kind(field) {
            Some(FieldKind::Text) => {}
            None | Some(FieldKind::Object) => return Ok(PhraseTokens::Query(none())),
            Some(_) => {
                return Ok(PhraseTokens::Query(self.term_query(field, &Value::String(query.to_string()), false)?));
            }
        }
        let tokens = self.analyzer_for(field, analyzer)?.analyze(query);
        Ok(if tokens.is_empty() { PhraseTokens::Query(none()) } else { PhraseTokens::Tokens(tokens) })
    }

    fn phrase_query(
        &self,
        field: &str,
        query: &str,
        slop: u32,
        analyzer: Option<&str>,
    ) -> Result<Box<dyn Query>, EsError> {
        let tokens = match self.phrase_tokens(field, query, analyzer)? {
            PhraseTokens::Tokens(t) => t,
            PhraseTokens::Query(q) => return Ok(q),
        };
        let mut terms = Vec::new();
        for t in &tokens {
            let Some(term) = self.text_term(field, &t.text) else {
                return Ok(none());
            };
            terms.push((t.position, term));
        }
        if terms.len() == 1 {
            return Ok(Box::new(TermQuery::new(terms.pop().expect("one").1, IndexRecordOption::WithFreqs)));
        }
        Ok(Box::new(PhraseQuery::new_with_offset_and_slop(terms, slop)))
    }

    fn regex_query(&self, field: &str, pattern: &str, case_insensitive: bool) -> Result<Box<dyn Query>, EsError> {
        let pattern = if case_insensitive { format!("(?i){pattern}") } else { pattern.to_string() };
        let fields = self.engine.fields();
        let bad = |e: tantivy::TantivyError| {
            EsError::new(ErrorKind::QueryShardException, format!("failed to create query: {e}"))
        };
        match self.kind(field) {
            Some(FieldKind::Text) => match self.engine.text_target(&self.concrete(field)) {
                Some(TextTarget::Slot(f)) => Ok(Box::new(RegexQuery::from_pattern(&pattern, f).map_err(bad)?)),
                _ => Ok(none()),
            },
            Some(FieldKind::Keyword) | Some(FieldKind::Ip) => {
                // tantivy's regex query knows nothing of JSON paths, but a JSON term's dictionary key
                // is `path, end-of-path byte, type byte, value`: anchor the pattern behind that prefix.
                let prefix = Term::from_field_json_path(fields.kw, &self.concrete(field), true);
                let mut key_prefix: String = prefix
                    .serialized_value_bytes()
                    .iter()
                    .map(|b| {
                        if b.is_ascii_alphanumeric() || *b == b'_' {
                            (*b as char).to_string()
                        } else {
                            format!("\\x{b:02x}")
                        }
                    })
                    .collect();
                key_prefix.push('s');
                let full = format!("{key_prefix}(?:{pattern})");
                Ok(Box::new(RegexQuery::from_pattern(&full, fields.kw).map_err(bad)?))
            }
            _ if field == "_id" => Ok(Box::new(RegexQuery::from_pattern(&pattern, fields.id).map_err(bad)?)),
            _ => Ok(none()),
        }
    }
}

fn value_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~\"<>@".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// ES wildcard (`*`, `?`, `\` escapes) to a regex.
pub fn wildcard_to_regex(w: &str) -> String {
    let mut out = String::new();
    let mut chars = w.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            '\\' => {
                if let Some(n) = chars.next() {
                    out.push_str(&regex_escape(&n.to_string()));
                }
            }
            c => out.push_str(&regex_escape(&c.to_string())),
        }
    }
    out
}

/// A point-in-time view of a shard: holding it keeps its segments alive.
#[derive(Clone)]
pub struct PinnedSearcher(Searcher);

impl PinnedSearcher {
    pub fn searcher(&self) -> &Searcher {
        &self.0
    }
}

impl ShardEngine {
    pub fn pin(&self) -> PinnedSearcher {
        PinnedSearcher(self.searcher())
    }
}
