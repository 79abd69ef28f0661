//! Intermediate (mergeable) aggregation results.
//!
//! A [`Partial`] is what one segment, one shard or several shards know about one aggregation.
//! [`Partial::merge`] is a pure union (sums, unions of buckets by key); trimming happens in two
//! explicit places that have the request at hand: [`finish_shard`] (what an ES shard returns:
//! `shard_size` terms, a composite page, loaded top hits) and the final reduce.
//! Sub-aggregation results are positional: `subs[i]` belongs to the node's `subs[i]`.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tern_common::{ErrorKind, EsError};
use tern_query::SortSpec;

use super::request::{AggKind, AggNode, MetricOp, Order, OrderBy, PercentileMethod, SigHeuristic, TermsSpec};
use super::sketch::{Hdr, Hll, TDigest};
use super::{Fmt, KahanSum, TermKey};
use crate::search::SortValue;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Bucket {
    pub doc_count: u64,
    pub subs: Vec<Partial>,
}

impl Bucket {
    pub(crate) fn empty(node: &AggNode) -> Bucket {
        Bucket { doc_count: 0, subs: node.subs.iter().map(Partial::empty).collect() }
    }

    pub(crate) fn merge(&mut self, other: Bucket) {
        self.doc_count += other.doc_count;
        if self.subs.is_empty() {
            self.subs = other.subs;
            return;
        }
        for (a, b) in self.subs.iter_mut().zip(other.subs) {
            a.merge(b);
        }
    }
}

/// The kind of keys a terms result holds (ES's `StringTerms`, `LongTerms`, `DoubleTerms`,
/// `UnmappedTerms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum KeyKind {
    Str,
    Long,
    Double,
    Ip,
    Unmapped,
}

impl KeyKind {
    pub(crate) fn merge(self, other: KeyKind) -> KeyKind {
        match (self, other) {
            (KeyKind::Unmapped, o) => o,
            (s, KeyKind::Unmapped) => s,
            (KeyKind::Long, KeyKind::Double) | (KeyKind::Double, KeyKind::Long) => KeyKind::Double,
            (s, _) => s,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TermBucket {
    pub key: TermKey,
    pub bucket: Bucket,
    /// ES's per-bucket `doc_count_error` bookkeeping (minus the errors of shards that had it).
    pub error: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TermsPartial {
    pub kind: KeyKind,
    pub fmt: Fmt,
    pub buckets: Vec<TermBucket>,
    pub other_doc_count: u64,
    /// Sum of the shards' error bounds; -1 when unbounded.
    pub doc_count_error: i64,
    /// How many shard results were merged.
    pub shards: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RarePartial {
    pub kind: KeyKind,
    pub fmt: Fmt,
    pub buckets: Vec<TermBucket>,
    /// Terms some shard saw more than `max_doc_count` times.
    pub excluded: Vec<TermKey>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SigBucket {
    pub key: TermKey,
    pub bucket: Bucket,
    /// Documents of the background set holding the term.
    pub bg: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SigPartial {
    pub kind: KeyKind,
    pub fmt: Fmt,
    /// The `_k` path of the field (for background frequencies).
    pub path: String,
    pub boolean: bool,
    /// Foreground documents (the parent bucket's).
    pub subset_size: u64,
    /// Background documents (the shard's).
    pub superset_size: u64,
    pub buckets: Vec<SigBucket>,
}

/// A significance score (ES's `JLHScore` / `PercentageScore`).
pub(crate) fn sig_score(
    h: SigHeuristic,
    subset_df: u64,
    subset_size: u64,
    superset_df: u64,
    superset_size: u64,
) -> f64 {
    match h {
        SigHeuristic::Percentage => {
            if superset_df == 0 {
                0.0
            } else {
                subset_df as f64 / superset_df as f64
            }
        }
        SigHeuristic::Jlh => {
            if subset_size == 0 || superset_size == 0 {
                return 0.0;
            }
            let superset_df = superset_df.max(1);
            let sub = subset_df as f64 / subset_size as f64;
            let sup = superset_df as f64 / superset_size as f64;
            let abs_change = sub - sup;
            if abs_change <= 0.0 {
                return 0.0;
            }
            abs_change * (sub / sup)
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RangeBucket {
    pub key: String,
    pub from: Option<f64>,
    pub to: Option<f64>,
    pub from_str: Option<String>,
    pub to_str: Option<String>,
    pub bucket: Bucket,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RangePartial {
    pub fmt: Fmt,
    pub ip: bool,
    pub buckets: Vec<RangeBucket>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct HistPartial {
    pub fmt: Fmt,
    /// `(key, bucket)`, sorted by key.
    pub buckets: Vec<(f64, Bucket)>,
    /// Resolved `extended_bounds`.
    pub bounds: Option<(Option<f64>, Option<f64>)>,
    /// Resolved `hard_bounds`.
    pub hard: Option<(Option<f64>, Option<f64>)>,
    /// `auto_date_histogram`: the rounding level of the keys and the time zone.
    #[serde(default)]
    pub auto: Option<(usize, Option<String>)>,
}

impl HistPartial {
    /// Re-rounds an `auto_date_histogram` result to a coarser level, merging buckets.
    pub(crate) fn rebucket(&mut self, level: usize) {
        let Some((cur, tz)) = self.auto.clone() else { return };
        if level <= cur {
            return;
        }
        let rounding = super::date::auto_rounding(level, tz.as_deref());
        let mut out: Vec<(f64, Bucket)> = Vec::with_capacity(self.buckets.len());
        for (k, b) in std::mem::take(&mut self.buckets) {
            let key = rounding.round(k as i64) as f64;
            match out.last_mut() {
                Some((lk, lb)) if *lk == key => lb.merge(b),
                _ => out.push((key, b)),
            }
        }
        self.buckets = out;
        self.auto = Some((level, tz));
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CompositePartial {
    pub fmts: Vec<Fmt>,
    pub buckets: Vec<(Vec<Option<TermKey>>, Bucket)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TopHit {
    pub score: f32,
    pub sort: Vec<SortValue>,
    pub shard: u32,
    pub doc_key: u64,
    /// The rendered hit, once the shard has loaded the document.
    #[serde(with = "crate::wire::json")]
    pub hit: Option<Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct TopHitsPartial {
    pub total: u64,
    pub max_score: Option<f32>,
    pub hits: Vec<TopHit>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Partial {
    Avg {
        sum: KahanSum,
        count: u64,
        fmt: Fmt,
    },
    Sum {
        sum: KahanSum,
        fmt: Fmt,
    },
    Min {
        v: f64,
        fmt: Fmt,
    },
    Max {
        v: f64,
        fmt: Fmt,
    },
    Stats {
        count: u64,
        sum: KahanSum,
        min: f64,
        max: f64,
        sum_sq: KahanSum,
        fmt: Fmt,
    },
    ValueCount(u64),
    Cardinality(Box<Hll>),
    TDigest(Box<TDigest>, Fmt),
    Hdr(Box<Hdr>, Fmt),
    WeightedAvg {
        sum: KahanSum,
        weight: KahanSum,
        fmt: Fmt,
    },
    TopHits(TopHitsPartial),
    Single(Bucket),
    /// `filters` buckets in request order (the `other` bucket last).
    Filters(Vec<Bucket>),
    Adjacency(Vec<(String, Bucket)>),
    Range(RangePartial),
    Terms(TermsPartial),
    Rare(RarePartial),
    Sig(SigPartial),
    Histogram(HistPartial),
    Composite(CompositePartial),
}

pub(crate) fn new_stats(fmt: Fmt) -> Partial {
    Partial::Stats {
        count: 0,
        sum: KahanSum::default(),
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
        sum_sq: KahanSum::default(),
        fmt,
    }
}

impl Partial {
    /// The result of an aggregation that saw no documents.
    pub(crate) fn empty(node: &AggNode) -> Partial {
        match &node.kind {
            AggKind::Metric { op, .. } => match op {
                MetricOp::Avg => Partial::Avg { sum: KahanSum::default(), count: 0, fmt: Fmt::Raw },
                MetricOp::Sum => Partial::Sum { sum: KahanSum::default(), fmt: Fmt::Raw },
                MetricOp::Min => Partial::Min { v: f64::INFINITY, fmt: Fmt::Raw },
                MetricOp::Max => Partial::Max { v: f64::NEG_INFINITY, fmt: Fmt::Raw },
                MetricOp::Stats | MetricOp::ExtendedStats { .. } => new_stats(Fmt::Raw),
                MetricOp::ValueCount => Partial::ValueCount(0),
                MetricOp::Cardinality { precision_threshold } => {
                    Partial::Cardinality(Box::new(Hll::new(*precision_threshold)))
                }
                MetricOp::MedianAbsoluteDeviation { compression } => {
                    Partial::TDigest(Box::new(TDigest::new(*compression)), Fmt::Raw)
                }
            },
            AggKind::Percentiles { method, .. } | AggKind::PercentileRanks { method, .. } => match method {
                PercentileMethod::TDigest { compression } => {
                    Partial::TDigest(Box::new(TDigest::new(*compression)), Fmt::Raw)
                }
                PercentileMethod::Hdr { digits } => Partial::Hdr(Box::new(Hdr::new(*digits)), Fmt::Raw),
            },
            AggKind::WeightedAvg { .. } => {
                Partial::WeightedAvg { sum: KahanSum::default(), weight: KahanSum::default(), fmt: Fmt::Raw }
            }
            AggKind::TopHits(_) => Partial::TopHits(TopHitsPartial::default()),
            AggKind::Filter(_) | AggKind::Missing(_) | AggKind::Global => Partial::Single(Bucket::empty(node)),
            AggKind::Filters { filters, other_bucket, .. } => Partial::Filters(
                (0..filters.len() + usize::from(other_bucket.is_some())).map(|_| Bucket::empty(node)).collect(),
            ),
            AggKind::AdjacencyMatrix { .. } => Partial::Adjacency(vec![]),
            AggKind::Range(r) | AggKind::DateRange(r) => Partial::Range(RangePartial {
                fmt: Fmt::Raw,
                ip: false,
                buckets: r
                    .ranges
                    .iter()
                    .map(|(key, from, to)| {
                        let from = from.as_ref().and_then(Value::as_f64);
                        let to = to.as_ref().and_then(Value::as_f64);
                        RangeBucket {
                            key: key.clone().unwrap_or_else(|| range_key(from, to, &Fmt::Raw)),
                            from,
                            to,
                            from_str: None,
                            to_str: None,
                            bucket: Bucket::empty(node),
                        }
                    })
                    .collect(),
            }),
            AggKind::IpRange(r) => Partial::Range(RangePartial {
                fmt: Fmt::Ip,
                ip: true,
                buckets: r
                    .ranges
                    .iter()
                    .map(|(key, from, to, mask)| RangeBucket {
                        key: key.clone().or_else(|| mask.clone()).unwrap_or_else(|| {
                            format!(
                                "{}-{}",
                                from.clone().unwrap_or_else(|| "*".into()),
                                to.clone().unwrap_or_else(|| "*".into())
                            )
                        }),
                        from: None,
                        to: None,
                        from_str: from.clone(),
                        to_str: to.clone(),
                        bucket: Bucket::empty(node),
                    })
                    .collect(),
            }),
            AggKind::Terms(_) => Partial::Terms(TermsPartial {
                kind: KeyKind::Unmapped,
                fmt: Fmt::Raw,
                buckets: vec![],
                other_doc_count: 0,
                doc_count_error: 0,
                shards: 0,
            }),
            AggKind::RareTerms(_) => {
                Partial::Rare(RarePartial { kind: KeyKind::Unmapped, fmt: Fmt::Raw, buckets: vec![], excluded: vec![] })
            }
            AggKind::SignificantTerms(_) => Partial::Sig(SigPartial {
                kind: KeyKind::Unmapped,
                fmt: Fmt::Raw,
                path: String::new(),
                boolean: false,
                subset_size: 0,
                superset_size: 0,
                buckets: vec![],
            }),
            AggKind::Histogram(_) | AggKind::DateHistogram(_) | AggKind::AutoDateHistogram(_) => {
                Partial::Histogram(HistPartial::default())
            }
            AggKind::Composite(c) => {
                Partial::Composite(CompositePartial { fmts: vec![Fmt::Raw; c.sources.len()], buckets: vec![] })
            }
        }
    }

    pub(crate) fn merge(&mut self, other: Partial) {
        match (self, other) {
            (Partial::Avg { sum, count, fmt }, Partial::Avg { sum: s2, count: c2, fmt: f2 }) => {
                sum.add(s2.value);
                *count += c2;
                fmt.merge(&f2);
            }
            (Partial::Sum { sum, fmt }, Partial::Sum { sum: s2, fmt: f2 }) => {
                sum.add(s2.value);
                fmt.merge(&f2);
            }
            (Partial::Min { v, fmt }, Partial::Min { v: v2, fmt: f2 }) => {
                *v = v.min(v2);
                fmt.merge(&f2);
            }
            (Partial::Max { v, fmt }, Partial::Max { v: v2, fmt: f2 }) => {
                *v = v.max(v2);
                fmt.merge(&f2);
            }
            (
                Partial::Stats { count, sum, min, max, sum_sq, fmt },
                Partial::Stats { count: c2, sum: s2, min: mn2, max: mx2, sum_sq: q2, fmt: f2 },
            ) => {
                *count += c2;
                sum.add(s2.value);
                sum_sq.add(q2.value);
                *min = min.min(mn2);
                *max = max.max(mx2);
                fmt.merge(&f2);
            }
            (Partial::ValueCount(a), Partial::ValueCount(b)) => *a += b,
            (Partial::Cardinality(a), Partial::Cardinality(b)) => a.merge(&b),
            (Partial::TDigest(a, fmt), Partial::TDigest(b, f2)) => {
                a.merge(&b);
                fmt.merge(&f2);
            }
            (Partial::Hdr(a, fmt), Partial::Hdr(b, f2)) => {
                a.merge(&b);
                fmt.merge(&f2);
            }
            (Partial::WeightedAvg { sum, weight, fmt }, Partial::WeightedAvg { sum: s2, weight: w2, fmt: f2 }) => {
                sum.add(s2.value);
                weight.add(w2.value);
                fmt.merge(&f2);
            }
            (Partial::TopHits(a), Partial::TopHits(b)) => {
                a.total += b.total;
                a.max_score = match (a.max_score, b.max_score) {
                    (Some(x), Some(y)) => Some(x.max(y)),
                    (x, y) => x.or(y),
                };
                a.hits.extend(b.hits);
            }
            (Partial::Single(a), Partial::Single(b)) => a.merge(b),
            (Partial::Filters(a), Partial::Filters(b)) => {
                for (x, y) in a.iter_mut().zip(b) {
                    x.merge(y);
                }
            }
            (Partial::Adjacency(a), Partial::Adjacency(b)) => {
                let mut map: HashMap<String, Bucket> = std::mem::take(a).into_iter().collect();
                for (k, v) in b {
                    match map.get_mut(&k) {
                        Some(x) => x.merge(v),
                        None => {
                            map.insert(k, v);
                        }
                    }
                }
                let mut v: Vec<(String, Bucket)> = map.into_iter().collect();
                v.sort_by(|x, y| x.0.cmp(&y.0));
                *a = v;
            }
            (Partial::Range(a), Partial::Range(b)) => {
                a.fmt.merge(&b.fmt);
                for (x, y) in a.buckets.iter_mut().zip(b.buckets) {
                    x.bucket.merge(y.bucket);
                    if x.from_str.is_none() {
                        x.from_str = y.from_str;
                    }
                    if x.to_str.is_none() {
                        x.to_str = y.to_str;
                    }
                }
            }
            (Partial::Terms(a), Partial::Terms(b)) => {
                a.kind = a.kind.merge(b.kind);
                a.fmt.merge(&b.fmt);
                a.other_doc_count += b.other_doc_count;
                a.doc_count_error = if a.doc_count_error == -1 || b.doc_count_error == -1 {
                    -1
                } else {
                    a.doc_count_error + b.doc_count_error
                };
                a.shards += b.shards;
                merge_term_buckets(&mut a.buckets, b.buckets);
                if a.kind == KeyKind::Double {
                    for b in &mut a.buckets {
                        if let TermKey::Long(n) = b.key {
                            b.key = TermKey::Double(n as f64);
                        }
                    }
                }
            }
            (Partial::Sig(a), Partial::Sig(b)) => {
                a.kind = a.kind.merge(b.kind);
                a.fmt.merge(&b.fmt);
                if a.path.is_empty() {
                    a.path = b.path;
                    a.boolean = b.boolean;
                }
                a.subset_size += b.subset_size;
                a.superset_size += b.superset_size;
                let mut index: HashMap<TermKey, usize> =
                    a.buckets.iter().enumerate().map(|(i, t)| (t.key.clone(), i)).collect();
                for sb in b.buckets {
                    match index.get(&sb.key) {
                        Some(i) => {
                            a.buckets[*i].bucket.merge(sb.bucket);
                            a.buckets[*i].bg += sb.bg;
                        }
                        None => {
                            index.insert(sb.key.clone(), a.buckets.len());
                            a.buckets.push(sb);
                        }
                    }
                }
            }
            (Partial::Rare(a), Partial::Rare(b)) => {
                a.kind = a.kind.merge(b.kind);
                a.fmt.merge(&b.fmt);
                merge_term_buckets(&mut a.buckets, b.buckets);
                a.excluded.extend(b.excluded);
            }
            (Partial::Histogram(a), Partial::Histogram(mut b)) => {
                a.fmt.merge(&b.fmt);
                if let (Some((la, _)), Some((lb, _))) = (&a.auto, &b.auto) {
                    let level = (*la).max(*lb);
                    a.rebucket(level);
                    b.rebucket(level);
                } else if a.auto.is_none() {
                    a.auto = b.auto.clone();
                }
                if a.bounds.is_none() {
                    a.bounds = b.bounds;
                }
                if a.hard.is_none() {
                    a.hard = b.hard;
                }
                let mut all = std::mem::take(&mut a.buckets);
                all.extend(b.buckets);
                all.sort_by(|x, y| x.0.total_cmp(&y.0));
                let mut out: Vec<(f64, Bucket)> = Vec::with_capacity(all.len());
                for (k, bucket) in all {
                    match out.last_mut() {
                        Some((lk, lb)) if *lk == k => lb.merge(bucket),
                        _ => out.push((k, bucket)),
                    }
                }
                a.buckets = out;
            }
            (Partial::Composite(a), Partial::Composite(b)) => {
                for (x, y) in a.fmts.iter_mut().zip(&b.fmts) {
                    x.merge(y);
                }
                let mut index: HashMap<Vec<Option<TermKey>>, usize> =
                    a.buckets.iter().enumerate().map(|(i, (k, _))| (k.clone(), i)).collect();
                for (k, bucket) in b.buckets {
                    match index.get(&k) {
                        Some(i) => a.buckets[*i].1.merge(bucket),
                        None => {
                            index.insert(k.clone(), a.buckets.len());
                            a.buckets.push((k, bucket));
                        }
                    }
                }
            }
            (me, other) => {
                // Different shapes only meet when a shard answered with an empty result of
                // another kind; keep whichever holds data.
                if is_empty_partial(me) {
                    *me = other;
                }
            }
        }
    }
}

fn is_empty_partial(p: &Partial) -> bool {
    match p {
        Partial::Terms(t) => t.buckets.is_empty(),
        Partial::Histogram(h) => h.buckets.is_empty(),
        _ => false,
    }
}

fn merge_term_buckets(a: &mut Vec<TermBucket>, b: Vec<TermBucket>) {
    if a.is_empty() {
        *a = b;
        return;
    }
    let mut index: HashMap<TermKey, usize> = a.iter().enumerate().map(|(i, t)| (t.key.clone(), i)).collect();
    for tb in b {
        match index.get(&tb.key) {
            Some(i) => {
                let x = &mut a[*i];
                x.bucket.merge(tb.bucket);
                x.error += tb.error;
            }
            None => {
                index.insert(tb.key.clone(), a.len());
                a.push(tb);
            }
        }
    }
}

/// ES's range key: `from-to` with `*` for open ends, numbers formatted by the field's format.
pub(crate) fn range_key(from: Option<f64>, to: Option<f64>, fmt: &Fmt) -> String {
    let f = |v: Option<f64>| match v {
        None => "*".to_string(),
        Some(x) => match fmt {
            Fmt::Raw | Fmt::Ip => super::numfmt::java_double(x),
            other => other.format_f64(x),
        },
    };
    format!("{}-{}", f(from), f(to))
}

// ---------------------------------------------------------------------------------------------
// Ordering buckets by their sub-aggregations

/// The value an order path (`the_max`, `stats.avg`, `filter>_count`, `pct[99.0]`) resolves to in a
/// bucket.
pub(crate) fn sort_value(bucket: &Bucket, nodes: &[AggNode], path: &str) -> Result<f64, EsError> {
    let invalid = |why: &str| {
        EsError::new(ErrorKind::IllegalArgument, format!("Invalid aggregation order path [{path}]. {why}"))
            .with_type("aggregation_execution_exception")
    };
    if path == "_count" || path == "doc_count" {
        return Ok(bucket.doc_count as f64);
    }
    let mut elements = path.split('>').peekable();
    let mut cur = bucket;
    let mut cur_nodes = nodes;
    while let Some(el) = elements.next() {
        let (name, key) = split_key(el);
        if name == "_count" {
            return Ok(cur.doc_count as f64);
        }
        let Some(i) = cur_nodes.iter().position(|n| n.name == name) else {
            return Err(invalid(&format!(
                "The provided aggregation [{name}] either does not exist, or is a pipeline aggregation and cannot be used to sort the buckets."
            )));
        };
        let node = &cur_nodes[i];
        let Some(p) = cur.subs.get(i) else { return Ok(f64::NAN) };
        if elements.peek().is_some() {
            match p {
                Partial::Single(b) => {
                    cur = b;
                    cur_nodes = &node.subs;
                    continue;
                }
                _ => {
                    return Err(invalid(&format!(
                        "Buckets can only be sorted on a sub-aggregator path that is built out of zero or more single-bucket aggregations within the path and a final single-bucket or a metrics aggregation at the path end. Sub-path [{name}] points to non single-bucket aggregation"
                    )));
                }
            }
        }
        return metric_value(p, node, key)
            .ok_or_else(|| invalid(&format!("Unknown value key [{}] for aggregation [{name}]", key.unwrap_or(""))));
    }
    Ok(f64::NAN)
}

/// `name.key` or `name[key]`.
pub(crate) fn split_key(el: &str) -> (&str, Option<&str>) {
    if let Some(open) = el.find('[')
        && el.ends_with(']')
    {
        return (&el[..open], Some(&el[open + 1..el.len() - 1]));
    }
    match el.split_once('.') {
        Some((n, k)) => (n, Some(k)),
        None => (el, None),
    }
}

/// A numeric property of a partial result (`value`, `avg`, `99.0`, `doc_count`...).
pub(crate) fn metric_value(p: &Partial, node: &AggNode, key: Option<&str>) -> Option<f64> {
    let single = |v: f64| match key {
        None | Some("value") => Some(v),
        Some(_) => None,
    };
    match p {
        Partial::Avg { sum, count, .. } => single(if *count == 0 { f64::NAN } else { sum.value / *count as f64 }),
        Partial::Sum { sum, .. } => single(sum.value),
        Partial::Min { v, .. } => single(*v),
        Partial::Max { v, .. } => single(*v),
        Partial::ValueCount(c) => single(*c as f64),
        Partial::Cardinality(h) => single(h.estimate() as f64),
        Partial::WeightedAvg { sum, weight, .. } => {
            single(if weight.value == 0.0 { f64::NAN } else { sum.value / weight.value })
        }
        Partial::Stats { count, sum, min, max, sum_sq, .. } => {
            let n = *count as f64;
            let avg = if *count == 0 { f64::NAN } else { sum.value / n };
            let variance = ((sum_sq.value - sum.value * sum.value / n) / n).max(0.0);
            let sigma = match node.kind {
                AggKind::Metric { op: MetricOp::ExtendedStats { sigma }, .. } => sigma,
                _ => 2.0,
            };
            let std = variance.sqrt();
            Some(match key? {
                "count" => n,
                "sum" => sum.value,
                "min" => *min,
                "max" => *max,
                "avg" => avg,
                "sum_of_squares" => sum_sq.value,
                "variance" | "variance_population" => variance,
                "variance_sampling" => ((sum_sq.value - sum.value * sum.value / n) / (n - 1.0)).max(0.0),
                "std_deviation" | "std_deviation_population" => std,
                "std_deviation_sampling" => ((sum_sq.value - sum.value * sum.value / n) / (n - 1.0)).max(0.0).sqrt(),
                "std_upper" => avg + sigma * std,
                "std_lower" => avg - sigma * std,
                _ => return None,
            })
        }
        Partial::TDigest(d, _) => {
            let mut d = d.clone();
            match &node.kind {
                AggKind::Metric { op: MetricOp::MedianAbsoluteDeviation { .. }, .. } => single(mad(&mut d)),
                AggKind::PercentileRanks { .. } => {
                    let x: f64 = key?.parse().ok()?;
                    Some(d.cdf(x) * 100.0)
                }
                _ => {
                    let q: f64 = key?.parse().ok()?;
                    Some(d.quantile(q / 100.0))
                }
            }
        }
        Partial::Hdr(h, _) => {
            let x: f64 = key?.parse().ok()?;
            match &node.kind {
                AggKind::PercentileRanks { .. } => Some(h.percentile_rank(x)),
                _ => Some(h.percentile(x)),
            }
        }
        Partial::Single(b) => match key {
            None | Some("doc_count") | Some("_count") => Some(b.doc_count as f64),
            _ => None,
        },
        _ => None,
    }
}

/// Median absolute deviation of a digest (ES builds a second digest of `|x - median|`).
pub(crate) fn mad(d: &mut TDigest) -> f64 {
    if d.count() == 0 {
        return f64::NAN;
    }
    let median = d.quantile(0.5);
    let points: Vec<(f64, u64)> = d.centroids().into_iter().map(|(m, w)| ((m - median).abs(), w)).collect();
    let mut dev = TDigest::from_weighted(100.0, &points);
    dev.quantile(0.5)
}

/// Compares two term buckets by a terms `order` (with ES's `_key` ascending tie-breaker).
pub(crate) fn compare_term_buckets(a: &TermBucket, b: &TermBucket, orders: &[Order], nodes: &[AggNode]) -> Ordering {
    let default = [Order { by: OrderBy::Count, asc: false }];
    let orders = if orders.is_empty() { &default[..] } else { orders };
    for o in orders {
        let ord = match &o.by {
            OrderBy::Count => a.bucket.doc_count.cmp(&b.bucket.doc_count),
            OrderBy::Key => a.key.cmp(&b.key),
            OrderBy::Path(p) => {
                let x = sort_value(&a.bucket, nodes, p).unwrap_or(f64::NAN);
                let y = sort_value(&b.bucket, nodes, p).unwrap_or(f64::NAN);
                x.total_cmp(&y)
            }
        };
        let ord = if o.asc { ord } else { ord.reverse() };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    a.key.cmp(&b.key)
}

fn is_key_order(orders: &[Order]) -> bool {
    matches!(orders.first(), Some(Order { by: OrderBy::Key, .. }))
}

fn is_count_desc(orders: &[Order]) -> bool {
    orders.is_empty() || matches!(orders.first(), Some(Order { by: OrderBy::Count, asc: false }))
}

/// Validates order paths of a terms or histogram request against its sub-aggregations.
pub(crate) fn validate_order_paths(orders: &[Order], node: &AggNode) -> Result<(), EsError> {
    let probe = Bucket::empty(node);
    for o in orders {
        if let OrderBy::Path(p) = &o.by {
            sort_value(&probe, &node.subs, p)?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Shard-level trimming

/// What the shard-level trimming needs from the shard: stored documents for `top_hits`, term
/// statistics for `significant_terms`.
pub(crate) trait ShardAccess {
    /// Loads and renders a top hit.
    fn top_hit(&self, doc_key: u64, spec: &super::request::TopHitsSpec, hit: &TopHit) -> Option<Value>;
    /// How many documents of the shard hold `key` in the `_k` path `path`.
    fn doc_freq(&self, path: &str, key: &TermKey, boolean: bool) -> u64;
    /// Live documents of the shard.
    fn num_docs(&self) -> u64;
}

type HitLoader<'a> = dyn ShardAccess + 'a;

/// Trims a shard's merged segment results the way an ES shard does before answering.
pub(crate) fn finish_shard(p: &mut Partial, node: &AggNode, loader: &HitLoader) -> Result<(), EsError> {
    match (p, &node.kind) {
        (Partial::Terms(t), AggKind::Terms(spec)) => finish_terms(t, spec, node, loader)?,
        (Partial::Rare(r), AggKind::RareTerms(spec)) => {
            let mut kept = Vec::new();
            for b in std::mem::take(&mut r.buckets) {
                if b.bucket.doc_count <= spec.max_doc_count {
                    kept.push(b);
                } else {
                    r.excluded.push(b.key);
                }
            }
            r.buckets = kept;
            for b in &mut r.buckets {
                finish_bucket(&mut b.bucket, node, loader)?;
            }
        }
        (Partial::Sig(sp), AggKind::SignificantTerms(spec)) => {
            sp.superset_size = loader.num_docs();
            for b in &mut sp.buckets {
                b.bg = loader.doc_freq(&sp.path, &b.key, sp.boolean);
            }
            let (sub, sup) = (sp.subset_size, sp.superset_size);
            let mut buckets: Vec<(f64, SigBucket)> = std::mem::take(&mut sp.buckets)
                .into_iter()
                .filter(|b| b.bucket.doc_count >= spec.shard_min_doc_count)
                .map(|b| (sig_score(spec.heuristic, b.bucket.doc_count, sub, b.bg, sup), b))
                .collect();
            buckets.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.key.cmp(&b.1.key)));
            let suggested = 2 * (((spec.size as f64) * 1.5 + 10.0) as usize);
            buckets.truncate(spec.shard_size.unwrap_or(suggested).max(spec.size));
            sp.buckets = buckets.into_iter().map(|(_, b)| b).collect();
            for b in &mut sp.buckets {
                finish_bucket(&mut b.bucket, node, loader)?;
            }
        }
        (Partial::Composite(c), AggKind::Composite(spec)) => {
            let asc: Vec<bool> = spec.sources.iter().map(|s| s.asc).collect();
            c.buckets.sort_by(|a, b| compare_composite(&a.0, &b.0, &asc));
            c.buckets.truncate(spec.size);
            for (_, b) in &mut c.buckets {
                finish_bucket(b, node, loader)?;
            }
        }
        (Partial::TopHits(t), AggKind::TopHits(spec)) => {
            sort_top_hits(&mut t.hits, &spec.sort);
            t.hits.truncate(spec.from + spec.size);
            for h in &mut t.hits {
                h.hit = loader.top_hit(h.doc_key, spec, h);
            }
        }
        (Partial::Hdr(h, _), _) if h.negative => {
            return Err(EsError::new(
                ErrorKind::IllegalArgument,
                "Negative values cannot be recorded by an HDR histogram (Histogram recorded value cannot be negative.)",
            )
            .with_type("array_index_out_of_bounds_exception")
            .with_status(500));
        }
        (Partial::Single(b), _) => finish_bucket(b, node, loader)?,
        (Partial::Filters(bs), _) => {
            for b in bs {
                finish_bucket(b, node, loader)?;
            }
        }
        (Partial::Adjacency(bs), _) => {
            for (_, b) in bs {
                finish_bucket(b, node, loader)?;
            }
        }
        (Partial::Range(r), _) => {
            for b in &mut r.buckets {
                finish_bucket(&mut b.bucket, node, loader)?;
            }
        }
        (Partial::Histogram(h), _) => {
            for (_, b) in &mut h.buckets {
                finish_bucket(b, node, loader)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn finish_bucket(b: &mut Bucket, node: &AggNode, loader: &HitLoader) -> Result<(), EsError> {
    for (p, n) in b.subs.iter_mut().zip(&node.subs) {
        finish_shard(p, n, loader)?;
    }
    Ok(())
}

/// ES's default `shard_size`: `size * 1.5 + 10`.
pub(crate) fn shard_size(spec: &TermsSpec) -> usize {
    let suggested = ((spec.size as f64) * 1.5 + 10.0) as usize;
    spec.shard_size.unwrap_or(suggested).max(spec.size)
}

fn finish_terms(t: &mut TermsPartial, spec: &TermsSpec, node: &AggNode, loader: &HitLoader) -> Result<(), EsError> {
    let total: u64 = t.buckets.iter().map(|b| b.bucket.doc_count).sum();
    let mut buckets: Vec<TermBucket> =
        std::mem::take(&mut t.buckets).into_iter().filter(|b| b.bucket.doc_count >= spec.shard_min_doc_count).collect();
    buckets.sort_by(|a, b| compare_term_buckets(a, b, &spec.order, &node.subs));
    let size = shard_size(spec);
    buckets.truncate(size);
    let kept: u64 = buckets.iter().map(|b| b.bucket.doc_count).sum();
    // ES's `InternalTerms.getDocCountError` for one shard's answer.
    let error = if buckets.is_empty() || buckets.len() < size || is_key_order(&spec.order) {
        0
    } else if is_count_desc(&spec.order) {
        buckets.iter().map(|b| b.bucket.doc_count).min().unwrap_or(0) as i64
    } else {
        -1
    };
    for b in &mut buckets {
        b.error = -error.max(0);
        finish_bucket(&mut b.bucket, node, loader)?;
    }
    t.buckets = buckets;
    t.other_doc_count += total - kept;
    t.doc_count_error = error;
    t.shards = 1;
    Ok(())
}

/// Composite keys in source order, each ascending or descending, missing values first.
pub(crate) fn compare_composite(a: &[Option<TermKey>], b: &[Option<TermKey>], asc: &[bool]) -> Ordering {
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let ord = match (x, y) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(x), Some(y)) => x.cmp(y),
        };
        let ord = if asc.get(i).copied().unwrap_or(true) { ord } else { ord.reverse() };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

/// Orders top hits by the request's sort (score descending without one), then shard and doc.
pub(crate) fn sort_top_hits(hits: &mut [TopHit], sort: &[SortSpec]) {
    hits.sort_by(|a, b| {
        if sort.is_empty() {
            return b.score.total_cmp(&a.score).then(a.shard.cmp(&b.shard)).then(a.doc_key.cmp(&b.doc_key));
        }
        for (i, spec) in sort.iter().enumerate() {
            let desc = spec.order.map(|o| o == tern_query::SortOrder::Desc).unwrap_or(spec.field == "_score");
            let missing_first = matches!(spec.missing.as_ref().and_then(Value::as_str), Some("_first"));
            let ord = match spec.field.as_str() {
                "_score" => {
                    let o = a.score.total_cmp(&b.score);
                    if desc { o.reverse() } else { o }
                }
                "_doc" => {
                    let o = a.doc_key.cmp(&b.doc_key);
                    if desc { o.reverse() } else { o }
                }
                _ => match (a.sort.get(i), b.sort.get(i)) {
                    (Some(SortValue::Missing), Some(SortValue::Missing)) | (None, None) => Ordering::Equal,
                    (Some(SortValue::Missing), _) | (None, _) => {
                        if missing_first {
                            Ordering::Less
                        } else {
                            Ordering::Greater
                        }
                    }
                    (_, Some(SortValue::Missing)) | (_, None) => {
                        if missing_first {
                            Ordering::Greater
                        } else {
                            Ordering::Less
                        }
                    }
                    (Some(x), Some(y)) => {
                        let o = SortValue::cmp_values(x, y);
                        if desc { o.reverse() } else { o }
                    }
                },
            };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        a.shard.cmp(&b.shard).then(a.doc_key.cmp(&b.doc_key))
    });
}

/// Terms to drop at the final reduce of `rare_terms`.
pub(crate) fn excluded_set(r: &RarePartial) -> HashSet<TermKey> {
    r.excluded.iter().cloned().collect()
}
