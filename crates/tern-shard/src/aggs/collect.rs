//! Binding a request to a shard, and collecting it segment by segment.
//!
//! Every per-segment collector implements [`SegAgg`]: `collect(doc, ord)` adds a document to the
//! bucket `ord` of the *parent* (0 at the top level), and `harvest(ord)` returns that bucket's
//! [`Partial`]. Bucket aggregations hand their own bucket ordinals down to their sub-aggregations,
//! so a `terms` with an `avg` below keeps one average per term in one `avg` collector.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use regex::Regex;
use serde_json::Value;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::fastfield::AliveBitSet;
use tantivy::query::{EnableScoring, Scorer, Weight};
use tantivy::{DocId, DocSet, Score, Searcher, SegmentOrdinal, SegmentReader, TERMINATED};
use tern_common::EsError;
use tern_mapping::Mapping;
use tern_mapping::date::Tz;

use super::date::{AUTO_LEVELS, DateRounding, auto_level_of, auto_rounding};
use super::numfmt::{ip_to_string, parse_cidr, parse_ip};
use super::partial::{
    Bucket, CompositePartial, HistPartial, KeyKind, Partial, RangeBucket, RangePartial, RarePartial, ShardAccess,
    SigBucket, SigPartial, TermBucket, TermsPartial, TopHit, TopHitsPartial, compare_composite, finish_shard,
    new_stats, range_key, sort_top_hits, validate_order_paths,
};
use super::request::{AggKind, AggNode, CompositeSourceKind, IncludeExclude, MetricOp, TopHitsSpec, VsSpec};
use super::sketch::{fmix64, mix64, murmur3_x64_h1, murmur3_x86_32};
use super::values::{Accept, MISSING_ORD, SegValues, Source, VType};
use super::{AggPartial, AggRequest, Fmt, KahanSum, TermKey};
use crate::engine::ShardEngine;
use crate::search::{SortKey, SortReader};

/// The ordinal of a bucket that collected nothing (sub-aggregations answer with empty results).
const EMPTY: u32 = u32::MAX;

fn child_ord(owner: u32, n: usize, i: usize) -> u32 {
    if owner == EMPTY {
        return EMPTY;
    }
    let v = owner as u64 * n as u64 + i as u64;
    if v >= EMPTY as u64 { EMPTY - 1 } else { v as u32 }
}

/// What binding needs from the shard.
pub(crate) struct BindCtx<'a> {
    pub engine: &'a ShardEngine,
    pub mapping: &'a Mapping,
    pub searcher: &'a Searcher,
    pub now: i64,
}

/// How bucket keys of a values source are encoded per segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyMode {
    /// Term ordinals of the segment's string column.
    Ord,
    /// `i64` as bits.
    Long,
    /// `f64` bits (-0.0 folded into 0.0).
    Double,
}

fn key_mode(vtype: VType) -> (KeyMode, KeyKind) {
    match vtype {
        VType::Keyword => (KeyMode::Ord, KeyKind::Str),
        VType::Ip => (KeyMode::Ord, KeyKind::Ip),
        VType::Long | VType::Date | VType::Bool => (KeyMode::Long, KeyKind::Long),
        VType::Double => (KeyMode::Double, KeyKind::Double),
        VType::Unmapped => (KeyMode::Ord, KeyKind::Unmapped),
    }
}

fn norm_bits(f: f64) -> u64 {
    if f == 0.0 { 0.0f64.to_bits() } else { f.to_bits() }
}

/// `include`/`exclude` of `terms` and `rare_terms`, typed by the field.
enum KeyFilter {
    Str {
        include_re: Option<Regex>,
        exclude_re: Option<Regex>,
        include: Option<HashSet<String>>,
        exclude: Option<HashSet<String>>,
        partition: Option<(i64, i64)>,
    },
    Ip {
        include: Option<HashSet<u128>>,
        exclude: Option<HashSet<u128>>,
    },
    Num {
        include: Option<HashSet<u64>>,
        exclude: Option<HashSet<u64>>,
        partition: Option<(i64, i64)>,
    },
}

impl KeyFilter {
    fn accept_str(&self, s: &str) -> bool {
        match self {
            KeyFilter::Str { include_re, exclude_re, include, exclude, partition } => {
                if let Some((p, n)) = partition
                    && i64::from(murmur3_x86_32(s.as_bytes(), 31)).rem_euclid(*n) != *p
                {
                    return false;
                }
                if let Some(re) = include_re
                    && !re.is_match(s)
                {
                    return false;
                }
                if let Some(set) = include
                    && !set.contains(s)
                {
                    return false;
                }
                if let Some(re) = exclude_re
                    && re.is_match(s)
                {
                    return false;
                }
                if let Some(set) = exclude
                    && set.contains(s)
                {
                    return false;
                }
                true
            }
            KeyFilter::Ip { include, exclude } => {
                let Some(ip) = parse_ip(s) else { return false };
                include.as_ref().is_none_or(|i| i.contains(&ip)) && !exclude.as_ref().is_some_and(|e| e.contains(&ip))
            }
            KeyFilter::Num { .. } => true,
        }
    }

    fn accept_num(&self, k: u64, mode: KeyMode) -> bool {
        match self {
            KeyFilter::Num { include, exclude, partition } => {
                if let Some((p, n)) = partition {
                    let v = match mode {
                        KeyMode::Double => f64::from_bits(k).to_bits() as i64,
                        _ => k as i64,
                    };
                    if mix64(v).rem_euclid(*n) != *p {
                        return false;
                    }
                }
                include.as_ref().is_none_or(|i| i.contains(&k)) && !exclude.as_ref().is_some_and(|e| e.contains(&k))
            }
            _ => true,
        }
    }
}

fn build_filter(ie: &IncludeExclude, src: &Source, name: &str, now: i64) -> Result<Option<KeyFilter>, EsError> {
    if ie.is_empty() {
        return Ok(None);
    }
    let string_like = matches!(src.vtype, VType::Keyword | VType::Unmapped);
    if ie.is_regex() && !string_like {
        // ES raises an `AggregationExecutionException` (a server error) here.
        return Err(EsError::new(
            tern_common::ErrorKind::IllegalArgument,
            format!(
                "Aggregation [{name}] cannot support regular expression style include/exclude settings as they can only be applied to string fields. Use an array of values for include/exclude clauses"
            ),
        )
        .with_type("aggregation_execution_exception")
        .with_status(500));
    }
    let as_str = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Ok(Some(match src.vtype {
        VType::Keyword | VType::Unmapped => {
            let re = |s: &Option<String>| -> Result<Option<Regex>, EsError> {
                s.as_ref()
                    .map(|r| {
                        Regex::new(&format!("^(?:{r})$"))
                            .map_err(|_| EsError::illegal_argument(format!("Invalid regular expression [{r}]")))
                    })
                    .transpose()
            };
            KeyFilter::Str {
                include_re: re(&ie.include_re)?,
                exclude_re: re(&ie.exclude_re)?,
                include: ie.include_values.as_ref().map(|v| v.iter().map(as_str).collect()),
                exclude: ie.exclude_values.as_ref().map(|v| v.iter().map(as_str).collect()),
                partition: ie.partition,
            }
        }
        VType::Ip => {
            let set = |vals: &Option<Vec<Value>>| -> Option<HashSet<u128>> {
                vals.as_ref().map(|v| v.iter().filter_map(|x| parse_ip(&as_str(x))).collect())
            };
            KeyFilter::Ip { include: set(&ie.include_values), exclude: set(&ie.exclude_values) }
        }
        vt => {
            let key = |v: &Value| -> Result<u64, EsError> {
                Ok(match vt {
                    VType::Double => norm_bits(match v {
                        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
                        other => as_str(other).parse::<f64>().map_err(|_| {
                            EsError::illegal_argument(format!("For input string: \"{}\"", as_str(other)))
                        })?,
                    }),
                    VType::Date => src.parse_date(v, None, now, false)? as u64,
                    VType::Bool => match v {
                        Value::Bool(b) => u64::from(*b),
                        Value::String(s) if s == "true" => 1,
                        Value::String(s) if s == "false" => 0,
                        Value::Number(n) => n.as_i64().unwrap_or(0) as u64,
                        other => {
                            return Err(EsError::illegal_argument(format!(
                                "Can't parse boolean value [{}], expected [true] or [false]",
                                as_str(other)
                            )));
                        }
                    },
                    _ => match v {
                        Value::Number(n) => n.as_i64().unwrap_or_else(|| n.as_f64().unwrap_or(0.0) as i64) as u64,
                        other => as_str(other).parse::<i64>().map_err(|_| {
                            EsError::illegal_argument(format!("For input string: \"{}\"", as_str(other)))
                        })? as u64,
                    },
                })
            };
            let set = |vals: &Option<Vec<Value>>| -> Result<Option<HashSet<u64>>, EsError> {
                vals.as_ref().map(|v| v.iter().map(key).collect::<Result<HashSet<u64>, EsError>>()).transpose()
            };
            KeyFilter::Num {
                include: set(&ie.include_values)?,
                exclude: set(&ie.exclude_values)?,
                partition: ie.partition,
            }
        }
    }))
}

/// Which terms-like aggregation a terms collector feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    Terms,
    Rare,
    Significant,
}

#[derive(Debug, Clone, Copy)]
enum Rounder {
    Num { interval: f64, offset: f64 },
    Date(DateRounding),
}

struct BoundRange {
    from: Option<f64>,
    to: Option<f64>,
    key: String,
    from_str: Option<String>,
    to_str: Option<String>,
}

struct BoundIpRange {
    from: Option<u128>,
    to: Option<u128>,
    key: String,
    from_str: Option<String>,
    to_str: Option<String>,
}

enum CompKind {
    Terms(KeyMode, KeyKind),
    Hist(f64),
    Date(DateRounding),
}

struct BoundCompSource {
    src: Arc<Source>,
    kind: CompKind,
    missing_bucket: bool,
}

enum BoundKind {
    Metric {
        src: Arc<Source>,
        template: Partial,
    },
    WeightedAvg {
        value: Arc<Source>,
        weight: Arc<Source>,
        fmt: Fmt,
    },
    TopHits {
        keys: Arc<Vec<SortKey>>,
        spec: Arc<TopHitsSpec>,
    },
    Terms {
        src: Arc<Source>,
        mode: KeyMode,
        kind: KeyKind,
        filter: Option<Arc<KeyFilter>>,
        zero: bool,
        flavor: Flavor,
    },
    Histogram {
        src: Arc<Source>,
        rounder: Rounder,
        bounds: Option<(Option<f64>, Option<f64>)>,
        hard: Option<(Option<f64>, Option<f64>)>,
    },
    AutoDate {
        src: Arc<Source>,
        tz: Option<String>,
        min_level: usize,
    },
    Range {
        src: Arc<Source>,
        ranges: Arc<Vec<BoundRange>>,
        fmt: Fmt,
    },
    IpRange {
        src: Arc<Source>,
        ranges: Arc<Vec<BoundIpRange>>,
    },
    Filter(Box<dyn Weight>),
    Filters {
        weights: Vec<Box<dyn Weight>>,
        other: bool,
    },
    Adjacency {
        weights: Vec<Box<dyn Weight>>,
        names: Arc<Vec<String>>,
    },
    Missing(Arc<Source>),
    Global,
    Composite {
        sources: Vec<BoundCompSource>,
        after: Option<Vec<Option<TermKey>>>,
        asc: Arc<Vec<bool>>,
        size: usize,
    },
}

/// A request node bound to this shard.
pub(crate) struct BoundNode {
    kind: BoundKind,
    subs: Vec<BoundNode>,
}

impl BoundNode {
    fn needs_scores(&self) -> bool {
        let me = match &self.kind {
            BoundKind::TopHits { spec, .. } => {
                spec.sort.is_empty() || spec.track_scores || spec.sort.iter().any(|s| s.field == "_score")
            }
            _ => false,
        };
        me || self.subs.iter().any(BoundNode::needs_scores)
    }
}

fn set_fmt(p: Partial, f: Fmt) -> Partial {
    match p {
        Partial::Avg { sum, count, .. } => Partial::Avg { sum, count, fmt: f },
        Partial::Sum { sum, .. } => Partial::Sum { sum, fmt: f },
        Partial::Min { v, .. } => Partial::Min { v, fmt: f },
        Partial::Max { v, .. } => Partial::Max { v, fmt: f },
        Partial::Stats { .. } => new_stats(f),
        Partial::TDigest(d, _) => Partial::TDigest(d, f),
        Partial::Hdr(h, _) => Partial::Hdr(h, f),
        Partial::WeightedAvg { sum, weight, .. } => Partial::WeightedAvg { sum, weight, fmt: f },
        other => other,
    }
}

fn bind_node(ctx: &BindCtx, node: &AggNode) -> Result<BoundNode, EsError> {
    let src = |vs: &VsSpec, accept: Accept| -> Result<Arc<Source>, EsError> {
        if vs.field.as_deref() == Some("_id") {
            return Err(EsError::illegal_argument(
                "Fielddata access on the _id field is disallowed, you can re-enable it by updating the dynamic cluster setting: indices.id_field_data.enabled",
            ));
        }
        if vs.field.as_deref() == Some("_index") {
            // Every document of the shard holds the index name: an unmapped keyword whose
            // `missing` value is that name reads exactly so.
            let vs = VsSpec {
                field: Some(String::new()),
                missing: Some(Value::String(ctx.engine.ident().index.clone())),
                value_type: Some("string".into()),
                ..vs.clone()
            };
            return Source::bind(ctx.mapping, &vs, node.ty, accept, ctx.now).map(Arc::new);
        }
        Source::bind(ctx.mapping, vs, node.ty, accept, ctx.now).map(Arc::new)
    };
    let weight = |q: &tern_query::QueryAst| -> Result<Box<dyn Weight>, EsError> {
        let query = crate::search::compile_query(ctx.engine, ctx.mapping, ctx.now, q)?;
        query
            .weight(EnableScoring::disabled_from_searcher(ctx.searcher))
            .map_err(|e| EsError::new(tern_common::ErrorKind::QueryShardException, e.to_string()))
    };
    let kind = match &node.kind {
        AggKind::Metric { op, vs } => {
            let accept = match op {
                MetricOp::ValueCount | MetricOp::Cardinality { .. } => Accept::Any,
                _ => Accept::Numeric,
            };
            let s = src(vs, accept)?;
            let fmt = match op {
                MetricOp::ValueCount | MetricOp::Cardinality { .. } => Fmt::Raw,
                _ => s.fmt.clone(),
            };
            let template = set_fmt(Partial::empty(node), fmt);
            BoundKind::Metric { src: s, template }
        }
        AggKind::Percentiles { vs, .. } | AggKind::PercentileRanks { vs, .. } => {
            let s = src(vs, Accept::Numeric)?;
            let template = set_fmt(Partial::empty(node), s.fmt.clone());
            BoundKind::Metric { src: s, template }
        }
        AggKind::WeightedAvg { value, weight: w, format } => {
            let v = src(value, Accept::Numeric)?;
            let wt = src(w, Accept::Numeric)?;
            let fmt = match format {
                Some(f) => Fmt::Decimal(f.clone()),
                None => v.fmt.clone(),
            };
            BoundKind::WeightedAvg { value: v, weight: wt, fmt }
        }
        AggKind::TopHits(spec) => {
            let keys = ctx.engine.sort_keys(ctx.mapping, &spec.sort)?;
            BoundKind::TopHits { keys: Arc::new(keys), spec: Arc::new(spec.clone()) }
        }
        AggKind::Terms(spec) => {
            validate_order_paths(&spec.order, node)?;
            let s = src(&spec.vs, Accept::Any)?;
            let (mode, kind) = key_mode(s.vtype);
            let filter = build_filter(&spec.include, &s, &node.name, ctx.now)?.map(Arc::new);
            BoundKind::Terms { src: s, mode, kind, filter, zero: spec.min_doc_count == 0, flavor: Flavor::Terms }
        }
        AggKind::RareTerms(spec) => {
            let s = src(&spec.vs, Accept::Any)?;
            let (mode, kind) = key_mode(s.vtype);
            let filter = build_filter(&spec.include, &s, &node.name, ctx.now)?.map(Arc::new);
            BoundKind::Terms { src: s, mode, kind, filter, zero: false, flavor: Flavor::Rare }
        }
        AggKind::SignificantTerms(spec) => {
            let s = src(&spec.vs, Accept::Any)?;
            let (mode, kind) = key_mode(s.vtype);
            let filter = build_filter(&spec.include, &s, &node.name, ctx.now)?.map(Arc::new);
            BoundKind::Terms { src: s, mode, kind, filter, zero: false, flavor: Flavor::Significant }
        }
        AggKind::Histogram(h) => {
            validate_order_paths(&h.order, node)?;
            let s = src(&h.vs, Accept::Numeric)?;
            BoundKind::Histogram {
                src: s,
                rounder: Rounder::Num { interval: h.interval, offset: h.offset },
                bounds: h.extended_bounds,
                hard: h.hard_bounds,
            }
        }
        AggKind::DateHistogram(h) => {
            validate_order_paths(&h.order, node)?;
            let s = src(&h.vs, Accept::Date)?;
            let tz = match &h.vs.time_zone {
                Some(t) => Tz::parse(t).map_err(EsError::from)?,
                None => Tz::UTC,
            };
            let rounding = DateRounding::new(h.interval, tz, h.offset);
            let date = |v: &Option<Value>| -> Result<Option<f64>, EsError> {
                v.as_ref()
                    .map(|v| s.parse_date(v, h.vs.format.as_deref(), ctx.now, false).map(|ms| ms as f64))
                    .transpose()
            };
            let bounds = match &h.extended_bounds {
                Some((a, b)) => Some((date(a)?, date(b)?)),
                None => None,
            };
            if let Some((Some(lo), Some(hi))) = bounds
                && lo > hi
            {
                return Err(EsError::illegal_argument(format!(
                    "[extended_bounds.min][{}] cannot be greater than [extended_bounds.max][{}] for histogram aggregation [{}]",
                    lo as i64, hi as i64, node.name
                )));
            }
            let hard = match &h.hard_bounds {
                Some((a, b)) => Some((date(a)?, date(b)?)),
                None => None,
            };
            BoundKind::Histogram { src: s, rounder: Rounder::Date(rounding), bounds, hard }
        }
        AggKind::AutoDateHistogram(a) => {
            let s = src(&a.vs, Accept::Date)?;
            BoundKind::AutoDate {
                src: s,
                tz: a.vs.time_zone.clone(),
                min_level: a.minimum_interval.map(auto_level_of).unwrap_or(0),
            }
        }
        AggKind::Range(r) | AggKind::DateRange(r) => {
            let date = matches!(node.kind, AggKind::DateRange(_));
            let s = src(&r.vs, if date { Accept::Date } else { Accept::Numeric })?;
            let fmt = s.fmt.clone();
            let parse = |v: &Option<Value>| -> Result<Option<f64>, EsError> {
                match v {
                    None => Ok(None),
                    // date_range reads numbers as text in the field's format (`epoch_second`...).
                    Some(Value::Number(n)) if date && matches!(s.vtype, VType::Date | VType::Unmapped) => s
                        .parse_date(&Value::String(n.to_string()), r.vs.format.as_deref(), ctx.now, false)
                        .map(|ms| Some(ms as f64)),
                    Some(v) if date && matches!(s.vtype, VType::Date | VType::Unmapped) => {
                        s.parse_date(v, r.vs.format.as_deref(), ctx.now, false).map(|ms| Some(ms as f64))
                    }
                    Some(Value::Number(n)) => Ok(n.as_f64()),
                    Some(Value::String(st)) => st
                        .trim()
                        .parse::<f64>()
                        .map(Some)
                        .map_err(|_| EsError::illegal_argument(format!("For input string: \"{st}\""))),
                    Some(other) => Err(EsError::illegal_argument(format!("Unsupported range value [{other}]"))),
                }
            };
            let mut ranges = Vec::new();
            for (key, from, to) in &r.ranges {
                let (from, to) = (parse(from)?, parse(to)?);
                let fs = |v: Option<f64>| v.filter(|_| !fmt.is_raw()).map(|x| fmt.format_f64(x));
                ranges.push(BoundRange {
                    from,
                    to,
                    key: key.clone().unwrap_or_else(|| range_key(from, to, &fmt)),
                    from_str: fs(from),
                    to_str: fs(to),
                });
            }
            ranges.sort_by(|a, b| {
                a.from
                    .unwrap_or(f64::NEG_INFINITY)
                    .total_cmp(&b.from.unwrap_or(f64::NEG_INFINITY))
                    .then(a.to.unwrap_or(f64::INFINITY).total_cmp(&b.to.unwrap_or(f64::INFINITY)))
            });
            BoundKind::Range { src: s, ranges: Arc::new(ranges), fmt }
        }
        AggKind::IpRange(r) => {
            let s = src(&r.vs, Accept::Ip)?;
            let mut ranges = Vec::new();
            for (key, from, to, mask) in &r.ranges {
                let (f, t, default_key) = match mask {
                    Some(m) => {
                        let (f, t) = parse_cidr(m).unwrap_or((0, None));
                        (Some(f), t, m.clone())
                    }
                    None => {
                        let f = from.as_deref().and_then(parse_ip);
                        let t = to.as_deref().and_then(parse_ip);
                        let k = format!(
                            "{}-{}",
                            f.map(ip_to_string).unwrap_or_else(|| "*".into()),
                            t.map(ip_to_string).unwrap_or_else(|| "*".into())
                        );
                        (f, t, k)
                    }
                };
                ranges.push(BoundIpRange {
                    from: f,
                    to: t,
                    key: key.clone().unwrap_or(default_key),
                    from_str: f.map(ip_to_string),
                    to_str: t.map(ip_to_string),
                });
            }
            ranges.sort_by(|a, b| {
                a.from
                    .unwrap_or(0)
                    .cmp(&b.from.unwrap_or(0))
                    .then(a.to.unwrap_or(u128::MAX).cmp(&b.to.unwrap_or(u128::MAX)))
            });
            BoundKind::IpRange { src: s, ranges: Arc::new(ranges) }
        }
        AggKind::Filter(q) => BoundKind::Filter(weight(q)?),
        AggKind::Filters { filters, other_bucket, .. } => BoundKind::Filters {
            weights: filters.iter().map(|(_, q)| weight(q)).collect::<Result<_, _>>()?,
            other: other_bucket.is_some(),
        },
        AggKind::AdjacencyMatrix { filters, separator } => {
            let n = filters.len();
            let mut names: Vec<String> = filters.iter().map(|(k, _)| k.clone()).collect();
            for i in 0..n {
                for j in i + 1..n {
                    names.push(format!("{}{separator}{}", filters[i].0, filters[j].0));
                }
            }
            BoundKind::Adjacency {
                weights: filters.iter().map(|(_, q)| weight(q)).collect::<Result<_, _>>()?,
                names: Arc::new(names),
            }
        }
        AggKind::Missing(vs) => BoundKind::Missing(src(vs, Accept::Any)?),
        AggKind::Global => BoundKind::Global,
        AggKind::Composite(c) => {
            let mut sources = Vec::new();
            for s in &c.sources {
                let (accept, fallback_type) = match s.kind {
                    CompositeSourceKind::Terms => (Accept::Any, None),
                    CompositeSourceKind::Histogram { .. } => (Accept::Numeric, Some("double")),
                    CompositeSourceKind::DateHistogram { .. } => (Accept::Date, Some("date")),
                };
                let mut vs = s.vs.clone();
                if vs.value_type.is_none() && ctx.mapping.resolve_field(vs.field.as_deref().unwrap_or("")).is_none() {
                    vs.value_type = fallback_type.map(String::from);
                }
                let bound = Arc::new(Source::bind(ctx.mapping, &vs, "composite", accept, ctx.now)?);
                let kind = match &s.kind {
                    CompositeSourceKind::Terms => {
                        let (m, k) = key_mode(bound.vtype);
                        CompKind::Terms(m, k)
                    }
                    CompositeSourceKind::Histogram { interval } => CompKind::Hist(*interval),
                    CompositeSourceKind::DateHistogram { interval, offset } => {
                        let tz = match &vs.time_zone {
                            Some(t) => Tz::parse(t).map_err(EsError::from)?,
                            None => Tz::UTC,
                        };
                        CompKind::Date(DateRounding::new(*interval, tz, *offset))
                    }
                };
                sources.push(BoundCompSource { src: bound, kind, missing_bucket: s.missing_bucket });
            }
            let after = match &c.after {
                None => None,
                Some(m) => {
                    let mut keys = Vec::new();
                    for (spec, b) in c.sources.iter().zip(&sources) {
                        let v = m.get(&spec.name).cloned().unwrap_or(Value::Null);
                        keys.push(after_key(&v, b, spec.vs.format.as_deref(), ctx.now)?);
                    }
                    Some(keys)
                }
            };
            BoundKind::Composite {
                sources,
                after,
                asc: Arc::new(c.sources.iter().map(|s| s.asc).collect()),
                size: c.size,
            }
        }
    };
    let subs = node.subs.iter().map(|n| bind_node(ctx, n)).collect::<Result<Vec<_>, _>>()?;
    Ok(BoundNode { kind, subs })
}

fn after_key(v: &Value, b: &BoundCompSource, format: Option<&str>, now: i64) -> Result<Option<TermKey>, EsError> {
    if v.is_null() {
        return Ok(None);
    }
    let bad = || EsError::illegal_argument(format!("Invalid value for [after]: [{v}]"));
    Ok(Some(match &b.kind {
        CompKind::Terms(_, kind) => match kind {
            KeyKind::Str | KeyKind::Unmapped => TermKey::Str(match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            }),
            KeyKind::Ip => TermKey::Ip(v.as_str().and_then(parse_ip).ok_or_else(bad)?),
            KeyKind::Long => match (v, b.src.vtype) {
                (Value::String(_), VType::Date) => TermKey::Long(b.src.parse_date(v, format, now, false)?),
                (Value::Bool(x), _) => TermKey::Long(i64::from(*x)),
                (Value::Number(n), _) => TermKey::Long(n.as_i64().unwrap_or_else(|| n.as_f64().unwrap_or(0.0) as i64)),
                (Value::String(s), _) => TermKey::Long(s.parse().map_err(|_| bad())?),
                _ => return Err(bad()),
            },
            KeyKind::Double => TermKey::Double(match v {
                Value::Number(n) => n.as_f64().unwrap_or(0.0),
                Value::String(s) => s.parse().map_err(|_| bad())?,
                _ => return Err(bad()),
            }),
        },
        CompKind::Hist(_) => TermKey::Double(match v {
            Value::Number(n) => n.as_f64().unwrap_or(0.0),
            Value::String(s) => s.parse().map_err(|_| bad())?,
            _ => return Err(bad()),
        }),
        CompKind::Date(_) => TermKey::Long(b.src.parse_date(v, format, now, false)?),
    }))
}

/// Binds a request to this shard: the collector to run next to the top hits.
pub(crate) fn bind(ctx: &BindCtx, req: &AggRequest) -> Result<AggCollector, EsError> {
    let root: Vec<BoundNode> = req.aggs.iter().map(|n| bind_node(ctx, n)).collect::<Result<_, _>>()?;
    let needs_scores = root.iter().any(BoundNode::needs_scores);
    let empties = root.iter().zip(&req.aggs).map(|(b, n)| bound_empty(b, n)).collect();
    Ok(AggCollector { root: Arc::new(root), needs_scores, empties })
}

/// What a shard without segments answers: empty results that still carry what binding resolved
/// (range keys, formats).
fn bound_empty(b: &BoundNode, node: &AggNode) -> Partial {
    let empty_bucket =
        || Bucket { doc_count: 0, subs: b.subs.iter().zip(&node.subs).map(|(sb, sn)| bound_empty(sb, sn)).collect() };
    match &b.kind {
        BoundKind::Metric { template, .. } => template.clone(),
        BoundKind::Range { ranges, fmt, .. } => Partial::Range(RangePartial {
            fmt: fmt.clone(),
            ip: false,
            buckets: ranges
                .iter()
                .map(|r| RangeBucket {
                    key: r.key.clone(),
                    from: r.from,
                    to: r.to,
                    from_str: r.from_str.clone(),
                    to_str: r.to_str.clone(),
                    bucket: empty_bucket(),
                })
                .collect(),
        }),
        BoundKind::IpRange { ranges, .. } => Partial::Range(RangePartial {
            fmt: Fmt::Ip,
            ip: true,
            buckets: ranges
                .iter()
                .map(|r| RangeBucket {
                    key: r.key.clone(),
                    from: None,
                    to: None,
                    from_str: r.from_str.clone(),
                    to_str: r.to_str.clone(),
                    bucket: empty_bucket(),
                })
                .collect(),
        }),
        BoundKind::Histogram { src, bounds, hard, .. } => Partial::Histogram(HistPartial {
            fmt: src.fmt.clone(),
            buckets: vec![],
            bounds: *bounds,
            hard: *hard,
            auto: None,
        }),
        BoundKind::Filter(_) | BoundKind::Missing(_) | BoundKind::Global => Partial::Single(empty_bucket()),
        BoundKind::Filters { weights, other } => {
            Partial::Filters((0..weights.len() + usize::from(*other)).map(|_| empty_bucket()).collect())
        }
        _ => Partial::empty(node),
    }
}

/// The shard's answer: merged segment results trimmed as an ES shard trims them.
pub(crate) fn finish(fruit: AggFruit, req: &AggRequest, loader: &dyn ShardAccess) -> Result<AggPartial, EsError> {
    let mut aggs = fruit.0;
    for (p, n) in aggs.iter_mut().zip(&req.aggs) {
        finish_shard(p, n, loader)?;
    }
    Ok(AggPartial { aggs })
}

// ---------------------------------------------------------------------------------------------
// The tantivy collector

/// Collects every aggregation of a request in one pass.
pub(crate) struct AggCollector {
    root: Arc<Vec<BoundNode>>,
    needs_scores: bool,
    empties: Vec<Partial>,
}

/// One segment's (then one shard's) aggregation results.
pub(crate) struct AggFruit(pub(crate) Vec<Partial>);

pub(crate) struct AggSegment {
    colls: Vec<Box<dyn SegAgg>>,
}

impl Collector for AggCollector {
    type Fruit = AggFruit;
    type Child = AggSegment;

    fn for_segment(&self, segment: SegmentOrdinal, reader: &SegmentReader) -> tantivy::Result<AggSegment> {
        let colls = self.root.iter().map(|b| make(b, reader, segment)).collect::<tantivy::Result<Vec<_>>>()?;
        Ok(AggSegment { colls })
    }

    fn requires_scoring(&self) -> bool {
        self.needs_scores
    }

    fn merge_fruits(&self, fruits: Vec<AggFruit>) -> tantivy::Result<AggFruit> {
        let mut iter = fruits.into_iter();
        let Some(mut first) = iter.next() else { return Ok(AggFruit(self.empties.clone())) };
        for f in iter {
            for (a, b) in first.0.iter_mut().zip(f.0) {
                a.merge(b);
            }
        }
        Ok(first)
    }
}

impl SegmentCollector for AggSegment {
    type Fruit = AggFruit;

    fn collect(&mut self, doc: DocId, score: Score) {
        for c in &mut self.colls {
            c.collect(doc, 0, score);
        }
    }

    fn harvest(mut self) -> AggFruit {
        for c in &mut self.colls {
            c.finish();
        }
        AggFruit(self.colls.iter_mut().map(|c| c.harvest(0)).collect())
    }
}

// ---------------------------------------------------------------------------------------------
// Segment collectors

pub(crate) trait SegAgg: Send {
    fn collect(&mut self, doc: DocId, ord: u32, score: Score);
    /// Called once after the segment's documents were collected.
    fn finish(&mut self) {}
    fn harvest(&mut self, ord: u32) -> Partial;
}

fn collect_subs(subs: &mut [Box<dyn SegAgg>], doc: DocId, ord: u32, score: Score) {
    for s in subs {
        s.collect(doc, ord, score);
    }
}

fn finish_subs(subs: &mut [Box<dyn SegAgg>]) {
    for s in subs {
        s.finish();
    }
}

fn harvest_subs(subs: &mut [Box<dyn SegAgg>], ord: u32) -> Vec<Partial> {
    subs.iter_mut().map(|s| s.harvest(ord)).collect()
}

fn bump(counts: &mut Vec<u64>, ord: u32) {
    let i = ord as usize;
    if counts.len() <= i {
        counts.resize(i + 1, 0);
    }
    counts[i] += 1;
}

fn count_of(counts: &[u64], ord: u32) -> u64 {
    counts.get(ord as usize).copied().unwrap_or(0)
}

fn make(b: &BoundNode, reader: &SegmentReader, segment: SegmentOrdinal) -> tantivy::Result<Box<dyn SegAgg>> {
    let subs =
        || -> tantivy::Result<Vec<Box<dyn SegAgg>>> { b.subs.iter().map(|s| make(s, reader, segment)).collect() };
    Ok(match &b.kind {
        BoundKind::Metric { src, template } => Box::new(MetricColl {
            vals: SegValues::open(src, reader),
            template: template.clone(),
            states: Vec::new(),
            f: Vec::new(),
            i: Vec::new(),
            o: Vec::new(),
            ord_sets: Vec::new(),
            hashes: HashMap::new(),
        }),
        BoundKind::WeightedAvg { value, weight, fmt } => Box::new(WeightedAvgColl {
            value: SegValues::open(value, reader),
            weight: SegValues::open(weight, reader),
            fmt: fmt.clone(),
            states: Vec::new(),
            v: Vec::new(),
            w: Vec::new(),
        }),
        BoundKind::TopHits { keys, spec } => Box::new(TopHitsColl {
            reader: SortReader::open(keys.clone(), reader)?,
            spec: spec.clone(),
            segment,
            per: Vec::new(),
        }),
        BoundKind::Terms { src, mode, kind, filter, zero, flavor } => {
            let vals = SegValues::open(src, reader);
            let mut accept = vec![0u8; vals.num_terms() as usize];
            if let (Some(f), KeyMode::Ord) = (filter, mode) {
                // Decide every term of the segment in one pass over its dictionary.
                vals.for_each_term(|o, t| {
                    if let Some(slot) = accept.get_mut(o as usize) {
                        *slot = if f.accept_str(t) { 1 } else { 2 };
                    }
                });
            }
            Box::new(TermsColl {
                accept,
                names: HashMap::new(),
                vals,
                mode: *mode,
                kind: *kind,
                filter: filter.clone(),
                zero: *zero,
                flavor: *flavor,
                owner_docs: Vec::new(),
                owners: Vec::new(),
                counts: Vec::new(),
                subs: subs()?,
                all_keys: None,
                alive: AliveDocs::of(reader),
                keys: Vec::new(),
                f: Vec::new(),
                i: Vec::new(),
            })
        }
        BoundKind::AutoDate { src, tz, min_level } => {
            let vals = SegValues::open(src, reader);
            let level = auto_level(&vals, *min_level);
            Box::new(HistColl {
                vals,
                rounder: Rounder::Date(auto_rounding(level, tz.as_deref())),
                bounds: None,
                hard: None,
                auto: Some((level, tz.clone())),
                owners: Vec::new(),
                counts: Vec::new(),
                subs: subs()?,
                keys: Vec::new(),
                f: Vec::new(),
                i: Vec::new(),
            })
        }
        BoundKind::Histogram { src, rounder, bounds, hard } => Box::new(HistColl {
            vals: SegValues::open(src, reader),
            rounder: *rounder,
            bounds: *bounds,
            hard: *hard,
            auto: None,
            owners: Vec::new(),
            counts: Vec::new(),
            subs: subs()?,
            keys: Vec::new(),
            f: Vec::new(),
            i: Vec::new(),
        }),
        BoundKind::Range { src, ranges, fmt } => Box::new(RangeColl {
            vals: SegValues::open(src, reader),
            ranges: ranges.clone(),
            fmt: fmt.clone(),
            counts: Vec::new(),
            subs: subs()?,
            f: Vec::new(),
        }),
        BoundKind::IpRange { src, ranges } => Box::new(IpRangeColl {
            vals: SegValues::open(src, reader),
            ranges: ranges.clone(),
            ips: HashMap::new(),
            counts: Vec::new(),
            subs: subs()?,
            o: Vec::new(),
        }),
        BoundKind::Filter(w) => {
            Box::new(FilterColl { scorer: w.scorer(reader, 1.0)?, counts: Vec::new(), subs: subs()? })
        }
        BoundKind::Filters { weights, other } => Box::new(FiltersColl {
            scorers: weights.iter().map(|w| w.scorer(reader, 1.0)).collect::<tantivy::Result<_>>()?,
            other: *other,
            counts: Vec::new(),
            subs: subs()?,
        }),
        BoundKind::Adjacency { weights, names } => Box::new(AdjacencyColl {
            scorers: weights.iter().map(|w| w.scorer(reader, 1.0)).collect::<tantivy::Result<_>>()?,
            names: names.clone(),
            counts: Vec::new(),
            subs: subs()?,
            hits: Vec::new(),
        }),
        BoundKind::Missing(src) => {
            Box::new(MissingColl { vals: SegValues::open(src, reader), counts: Vec::new(), subs: subs()? })
        }
        BoundKind::Global => {
            Box::new(GlobalColl { alive: AliveDocs::of(reader), count: 0, subs: subs()?, done: false })
        }
        BoundKind::Composite { sources, after, asc, size } => Box::new(CompositeColl {
            sources: sources
                .iter()
                .map(|s| CompSeg {
                    vals: SegValues::open(&s.src, reader),
                    kind: match &s.kind {
                        CompKind::Terms(m, k) => CompKind::Terms(*m, *k),
                        CompKind::Hist(i) => CompKind::Hist(*i),
                        CompKind::Date(r) => CompKind::Date(*r),
                    },
                    missing_bucket: s.missing_bucket,
                })
                .collect(),
            fmts: sources.iter().map(composite_fmt).collect(),
            after: after.clone(),
            asc: asc.clone(),
            size: *size,
            owners: Vec::new(),
            counts: Vec::new(),
            subs: subs()?,
        }),
    })
}

fn composite_fmt(s: &BoundCompSource) -> Fmt {
    match (&s.kind, &s.src.fmt) {
        (CompKind::Terms(_, KeyKind::Ip), _) => Fmt::Ip,
        (CompKind::Date(_), Fmt::Date { pattern, tz }) if s.src.vtype == VType::Date => {
            // Composite date keys print as millis unless a `format` was asked for: the source's
            // format is the field's default exactly when none was given.
            let default = s
                .src
                .date_format
                .as_ref()
                .map(|f| f.spec().split("||").next().unwrap_or("") == pattern.split("||").next().unwrap_or(""))
                .unwrap_or(true);
            if default { Fmt::Raw } else { Fmt::Date { pattern: pattern.clone(), tz: tz.clone() } }
        }
        (_, Fmt::Decimal(p)) => Fmt::Decimal(p.clone()),
        _ => Fmt::Raw,
    }
}

/// The live documents of a segment (for `global` and `min_doc_count: 0`).
struct AliveDocs {
    max_doc: DocId,
    alive: Option<AliveBitSet>,
}

impl AliveDocs {
    fn of(reader: &SegmentReader) -> AliveDocs {
        AliveDocs { max_doc: reader.max_doc(), alive: reader.alive_bitset().cloned() }
    }

    fn for_each(&self, mut f: impl FnMut(DocId)) {
        for d in 0..self.max_doc {
            if self.alive.as_ref().is_none_or(|a| a.is_alive(d)) {
                f(d);
            }
        }
    }
}

/// Whether `doc` matches a filter scorer (documents arrive in non-decreasing order).
fn matches(scorer: &mut Box<dyn Scorer>, doc: DocId) -> bool {
    let mut cur = scorer.doc();
    if cur < doc && cur != TERMINATED {
        cur = scorer.seek(doc);
    }
    cur == doc
}

// --- metrics

struct MetricColl {
    vals: SegValues,
    template: Partial,
    states: Vec<Partial>,
    f: Vec<f64>,
    i: Vec<i64>,
    o: Vec<u64>,
    /// String cardinality: the ordinals seen per bucket, hashed at harvest.
    ord_sets: Vec<HashSet<u64>>,
    hashes: HashMap<u64, u64>,
}

fn add_value(st: &mut Partial, v: f64) {
    match st {
        Partial::Avg { sum, count, .. } => {
            sum.add(v);
            *count += 1;
        }
        Partial::Sum { sum, .. } => sum.add(v),
        Partial::Min { v: m, .. } => *m = m.min(v),
        Partial::Max { v: m, .. } => *m = m.max(v),
        Partial::Stats { count, sum, min, max, sum_sq, .. } => {
            *count += 1;
            sum.add(v);
            sum_sq.add(v * v);
            *min = min.min(v);
            *max = max.max(v);
        }
        Partial::TDigest(d, _) => d.add(v),
        Partial::Hdr(h, _) => h.add(v),
        _ => {}
    }
}

impl SegAgg for MetricColl {
    fn collect(&mut self, doc: DocId, ord: u32, _score: Score) {
        let idx = ord as usize;
        if self.states.len() <= idx {
            self.states.resize(idx + 1, self.template.clone());
        }
        let MetricColl { vals, states, f, i, o, ord_sets, .. } = self;
        match &mut states[idx] {
            Partial::ValueCount(c) => *c += vals.value_count(doc),
            Partial::Cardinality(h) => {
                if vals.is_string() {
                    // Ordinals now, strings (and their hashes) once per segment at harvest.
                    vals.ords(doc, o);
                    if ord_sets.len() <= idx {
                        ord_sets.resize_with(idx + 1, HashSet::new);
                    }
                    ord_sets[idx].extend(o.iter().copied());
                } else if vals.src.vtype == VType::Double {
                    vals.f64s(doc, f);
                    for v in f.iter() {
                        h.add_hash(fmix64(norm_bits(*v)));
                    }
                } else {
                    vals.i64s(doc, i);
                    for v in i.iter() {
                        h.add_hash(fmix64(*v as u64));
                    }
                }
            }
            st => {
                vals.f64s(doc, f);
                for v in f.iter() {
                    add_value(st, *v);
                }
            }
        }
    }

    fn harvest(&mut self, ord: u32) -> Partial {
        let idx = ord as usize;
        if let Some(set) = self.ord_sets.get_mut(idx).map(std::mem::take)
            && !set.is_empty()
        {
            let unknown: Vec<u64> = set.iter().copied().filter(|o| !self.hashes.contains_key(o)).collect();
            for (o, s) in self.vals.ord_strs(&unknown) {
                self.hashes.insert(o, murmur3_x64_h1(s.as_bytes()));
            }
            if let Some(Partial::Cardinality(h)) = self.states.get_mut(idx) {
                for o in set {
                    if let Some(hash) = self.hashes.get(&o) {
                        h.add_hash(*hash);
                    }
                }
            }
        }
        match self.states.get_mut(idx) {
            Some(st) => std::mem::replace(st, self.template.clone()),
            None => self.template.clone(),
        }
    }
}

struct WeightedAvgColl {
    value: SegValues,
    weight: SegValues,
    fmt: Fmt,
    states: Vec<(KahanSum, KahanSum)>,
    v: Vec<f64>,
    w: Vec<f64>,
}

impl SegAgg for WeightedAvgColl {
    fn collect(&mut self, doc: DocId, ord: u32, _score: Score) {
        self.weight.f64s(doc, &mut self.w);
        let Some(&weight) = self.w.first() else { return };
        self.value.f64s(doc, &mut self.v);
        if self.v.is_empty() {
            return;
        }
        let idx = ord as usize;
        if self.states.len() <= idx {
            self.states.resize(idx + 1, (KahanSum::default(), KahanSum::default()));
        }
        let st = &mut self.states[idx];
        for v in &self.v {
            st.0.add(v * weight);
            st.1.add(weight);
        }
    }

    fn harvest(&mut self, ord: u32) -> Partial {
        let (sum, weight) = self.states.get(ord as usize).copied().unwrap_or_default();
        Partial::WeightedAvg { sum, weight, fmt: self.fmt.clone() }
    }
}

struct TopHitsColl {
    reader: SortReader,
    spec: Arc<TopHitsSpec>,
    segment: SegmentOrdinal,
    per: Vec<TopHitsPartial>,
}

impl SegAgg for TopHitsColl {
    fn collect(&mut self, doc: DocId, ord: u32, score: Score) {
        let idx = ord as usize;
        if self.per.len() <= idx {
            self.per.resize(idx + 1, TopHitsPartial::default());
        }
        let keep = self.spec.from + self.spec.size;
        let sort = self.reader.values(doc);
        let p = &mut self.per[idx];
        p.total += 1;
        p.max_score = Some(p.max_score.map_or(score, |m| m.max(score)));
        if keep == 0 {
            return;
        }
        p.hits.push(TopHit { score, sort, shard: 0, doc_key: ((self.segment as u64) << 32) | doc as u64, hit: None });
        if p.hits.len() > 2 * keep + 16 {
            sort_top_hits(&mut p.hits, &self.spec.sort);
            p.hits.truncate(keep);
        }
    }

    fn harvest(&mut self, ord: u32) -> Partial {
        let mut p = self.per.get_mut(ord as usize).map(std::mem::take).unwrap_or_default();
        sort_top_hits(&mut p.hits, &self.spec.sort);
        p.hits.truncate(self.spec.from + self.spec.size);
        Partial::TopHits(p)
    }
}

// --- terms

struct TermsColl {
    vals: SegValues,
    mode: KeyMode,
    kind: KeyKind,
    filter: Option<Arc<KeyFilter>>,
    /// Per term ordinal: 0 unknown, 1 accepted, 2 rejected.
    accept: Vec<u8>,
    zero: bool,
    flavor: Flavor,
    /// Documents collected per owning bucket (`significant_terms`' foreground size).
    owner_docs: Vec<u64>,
    owners: Vec<HashMap<u64, u32>>,
    counts: Vec<u64>,
    subs: Vec<Box<dyn SegAgg>>,
    /// Every key of the segment (numeric `min_doc_count: 0`).
    all_keys: Option<Vec<u64>>,
    /// Strings of the ordinals being harvested.
    names: HashMap<u64, String>,
    alive: AliveDocs,
    keys: Vec<u64>,
    f: Vec<f64>,
    i: Vec<i64>,
}

impl TermsColl {
    fn doc_keys(&mut self, doc: DocId) {
        match self.mode {
            KeyMode::Ord => self.vals.ords(doc, &mut self.keys),
            KeyMode::Long => {
                self.vals.i64s(doc, &mut self.i);
                self.keys.clear();
                self.keys.extend(self.i.iter().map(|v| *v as u64));
                self.keys.sort_unstable();
                self.keys.dedup();
            }
            KeyMode::Double => {
                self.vals.f64s(doc, &mut self.f);
                self.keys.clear();
                self.keys.extend(self.f.iter().filter(|v| !v.is_nan()).map(|v| norm_bits(*v)));
                self.keys.sort_unstable();
                self.keys.dedup();
            }
        }
        if let Some(filter) = self.filter.clone() {
            let mut kept = std::mem::take(&mut self.keys);
            kept.retain(|k| self.accepts(&filter, *k));
            self.keys = kept;
        }
    }

    fn accepts(&mut self, filter: &KeyFilter, k: u64) -> bool {
        match self.mode {
            KeyMode::Ord => {
                if k == MISSING_ORD {
                    return filter.accept_str(&self.vals.ord_str(k));
                }
                let i = k as usize;
                if i >= self.accept.len() {
                    return filter.accept_str(&self.vals.ord_str(k));
                }
                if self.accept[i] == 0 {
                    self.accept[i] = if filter.accept_str(&self.vals.ord_str(k)) { 1 } else { 2 };
                }
                self.accept[i] == 1
            }
            mode => filter.accept_num(k, mode),
        }
    }

    fn term_key(&self, k: u64) -> TermKey {
        match self.mode {
            KeyMode::Ord => {
                let s = match self.names.get(&k) {
                    Some(s) => s.clone(),
                    None => self.vals.ord_str(k),
                };
                if self.kind == KeyKind::Ip
                    && let Some(ip) = parse_ip(&s)
                {
                    return TermKey::Ip(ip);
                }
                TermKey::Str(s)
            }
            KeyMode::Long => TermKey::Long(k as i64),
            KeyMode::Double => TermKey::Double(f64::from_bits(k)),
        }
    }
}

impl SegAgg for TermsColl {
    fn collect(&mut self, doc: DocId, ord: u32, score: Score) {
        if self.flavor == Flavor::Significant {
            bump(&mut self.owner_docs, ord);
        }
        self.doc_keys(doc);
        if self.keys.is_empty() {
            return;
        }
        let o = ord as usize;
        if self.owners.len() <= o {
            self.owners.resize_with(o + 1, HashMap::new);
        }
        for idx in 0..self.keys.len() {
            let k = self.keys[idx];
            let next = self.counts.len() as u32;
            let bucket = *self.owners[o].entry(k).or_insert(next);
            bump(&mut self.counts, bucket);
            collect_subs(&mut self.subs, doc, bucket, score);
        }
    }

    fn finish(&mut self) {
        if self.zero && self.mode != KeyMode::Ord {
            let mut all: HashSet<u64> = HashSet::new();
            let alive = std::mem::replace(&mut self.alive, AliveDocs { max_doc: 0, alive: None });
            alive.for_each(|d| {
                self.doc_keys(d);
                all.extend(self.keys.iter().copied());
            });
            self.alive = alive;
            self.all_keys = Some(all.into_iter().collect());
        }
        finish_subs(&mut self.subs);
    }

    fn harvest(&mut self, ord: u32) -> Partial {
        let mut buckets = Vec::new();
        let mut seen: HashSet<u64> = HashSet::new();
        let entries: Vec<(u64, u32)> = match self.owners.get(ord as usize) {
            Some(m) => m.iter().map(|(k, v)| (*k, *v)).collect(),
            None => vec![],
        };
        if self.mode == KeyMode::Ord {
            let keys: Vec<u64> = entries.iter().map(|(k, _)| *k).collect();
            self.names = self.vals.ord_strs(&keys);
        }
        for (k, b) in entries {
            seen.insert(k);
            buckets.push(TermBucket {
                key: self.term_key(k),
                bucket: Bucket { doc_count: count_of(&self.counts, b), subs: harvest_subs(&mut self.subs, b) },
                error: 0,
            });
        }
        if self.zero {
            let candidates: Vec<u64> = match self.mode {
                KeyMode::Ord => {
                    let mut all: Vec<u64> = (0..self.vals.num_terms()).collect();
                    if matches!(self.vals.src.missing, Some(super::values::Missing::Str(_))) {
                        all.push(MISSING_ORD);
                    }
                    all
                }
                _ => self.all_keys.clone().unwrap_or_default(),
            };
            let filter = self.filter.clone();
            if self.mode == KeyMode::Ord {
                let missing: Vec<u64> = candidates.iter().copied().filter(|k| !seen.contains(k)).collect();
                self.names = self.vals.ord_strs(&missing);
            }
            for k in candidates {
                if seen.contains(&k) {
                    continue;
                }
                if let Some(f) = &filter
                    && !self.accepts(f, k)
                {
                    continue;
                }
                buckets.push(TermBucket {
                    key: self.term_key(k),
                    bucket: Bucket { doc_count: 0, subs: harvest_subs(&mut self.subs, EMPTY) },
                    error: 0,
                });
            }
        }
        let fmt = self.vals.src.fmt.clone();
        if self.flavor == Flavor::Significant {
            let src = &self.vals.src;
            return Partial::Sig(SigPartial {
                kind: self.kind,
                fmt,
                path: src.column.strip_prefix("_k.").unwrap_or(&src.column).to_string(),
                boolean: src.vtype == VType::Bool,
                subset_size: count_of(&self.owner_docs, ord),
                superset_size: 0,
                buckets: buckets.into_iter().map(|b| SigBucket { key: b.key, bucket: b.bucket, bg: 0 }).collect(),
            });
        }
        if self.flavor == Flavor::Rare {
            Partial::Rare(RarePartial { kind: self.kind, fmt, buckets, excluded: vec![] })
        } else {
            Partial::Terms(TermsPartial {
                kind: self.kind,
                fmt,
                buckets,
                other_doc_count: 0,
                doc_count_error: 0,
                shards: 0,
            })
        }
    }
}

// --- histograms

/// The finest `auto_date_histogram` level that keeps a segment's value span under 10,000 buckets.
fn auto_level(vals: &SegValues, min_level: usize) -> usize {
    let Some((lo, hi)) = vals.min_max() else { return min_level };
    let span = (hi - lo).max(0.0);
    for (level, (unit, _, _)) in AUTO_LEVELS.iter().enumerate().skip(min_level) {
        if span / unit.approx_millis() as f64 <= 10_000.0 {
            return level;
        }
    }
    AUTO_LEVELS.len() - 1
}

struct HistColl {
    vals: SegValues,
    rounder: Rounder,
    bounds: Option<(Option<f64>, Option<f64>)>,
    hard: Option<(Option<f64>, Option<f64>)>,
    auto: Option<(usize, Option<String>)>,
    owners: Vec<HashMap<u64, u32>>,
    counts: Vec<u64>,
    subs: Vec<Box<dyn SegAgg>>,
    keys: Vec<u64>,
    f: Vec<f64>,
    i: Vec<i64>,
}

impl SegAgg for HistColl {
    fn collect(&mut self, doc: DocId, ord: u32, score: Score) {
        self.keys.clear();
        match self.rounder {
            Rounder::Num { interval, offset } => {
                self.vals.f64s(doc, &mut self.f);
                for v in &self.f {
                    if v.is_nan() {
                        continue;
                    }
                    let key = ((v - offset) / interval).floor() * interval + offset;
                    self.keys.push(norm_bits(key));
                }
            }
            Rounder::Date(r) => {
                self.vals.i64s(doc, &mut self.i);
                for v in &self.i {
                    self.keys.push(norm_bits(r.round(*v) as f64));
                }
            }
        }
        if self.keys.is_empty() {
            return;
        }
        self.keys.sort_unstable();
        self.keys.dedup();
        if let Some((lo, hi)) = self.hard {
            self.keys.retain(|k| {
                let x = f64::from_bits(*k);
                lo.is_none_or(|l| x >= l) && hi.is_none_or(|h| x <= h)
            });
        }
        let o = ord as usize;
        if self.owners.len() <= o {
            self.owners.resize_with(o + 1, HashMap::new);
        }
        for idx in 0..self.keys.len() {
            let k = self.keys[idx];
            let next = self.counts.len() as u32;
            let bucket = *self.owners[o].entry(k).or_insert(next);
            bump(&mut self.counts, bucket);
            collect_subs(&mut self.subs, doc, bucket, score);
        }
    }

    fn finish(&mut self) {
        finish_subs(&mut self.subs);
    }

    fn harvest(&mut self, ord: u32) -> Partial {
        let mut entries: Vec<(u64, u32)> = match self.owners.get(ord as usize) {
            Some(m) => m.iter().map(|(k, v)| (*k, *v)).collect(),
            None => vec![],
        };
        entries.sort_by(|a, b| f64::from_bits(a.0).total_cmp(&f64::from_bits(b.0)));
        let buckets = entries
            .into_iter()
            .map(|(k, b)| {
                (
                    f64::from_bits(k),
                    Bucket { doc_count: count_of(&self.counts, b), subs: harvest_subs(&mut self.subs, b) },
                )
            })
            .collect();
        Partial::Histogram(HistPartial {
            fmt: self.vals.src.fmt.clone(),
            buckets,
            bounds: self.bounds,
            hard: self.hard,
            auto: self.auto.clone(),
        })
    }
}

// --- ranges

struct RangeColl {
    vals: SegValues,
    ranges: Arc<Vec<BoundRange>>,
    fmt: Fmt,
    counts: Vec<u64>,
    subs: Vec<Box<dyn SegAgg>>,
    f: Vec<f64>,
}

impl SegAgg for RangeColl {
    fn collect(&mut self, doc: DocId, ord: u32, score: Score) {
        self.vals.f64s(doc, &mut self.f);
        if self.f.is_empty() {
            return;
        }
        let n = self.ranges.len();
        for (i, r) in self.ranges.iter().enumerate() {
            let hit = self.f.iter().any(|v| r.from.is_none_or(|f| *v >= f) && r.to.is_none_or(|t| *v < t));
            if hit {
                let b = child_ord(ord, n, i);
                bump(&mut self.counts, b);
                collect_subs(&mut self.subs, doc, b, score);
            }
        }
    }

    fn finish(&mut self) {
        finish_subs(&mut self.subs);
    }

    fn harvest(&mut self, ord: u32) -> Partial {
        let n = self.ranges.len();
        let ranges = self.ranges.clone();
        let buckets = ranges
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let b = child_ord(ord, n, i);
                RangeBucket {
                    key: r.key.clone(),
                    from: r.from,
                    to: r.to,
                    from_str: r.from_str.clone(),
                    to_str: r.to_str.clone(),
                    bucket: Bucket { doc_count: count_of(&self.counts, b), subs: harvest_subs(&mut self.subs, b) },
                }
            })
            .collect();
        Partial::Range(RangePartial { fmt: self.fmt.clone(), ip: false, buckets })
    }
}

struct IpRangeColl {
    vals: SegValues,
    ranges: Arc<Vec<BoundIpRange>>,
    ips: HashMap<u64, Option<u128>>,
    counts: Vec<u64>,
    subs: Vec<Box<dyn SegAgg>>,
    o: Vec<u64>,
}

impl SegAgg for IpRangeColl {
    fn collect(&mut self, doc: DocId, ord: u32, score: Score) {
        self.vals.ords(doc, &mut self.o);
        if self.o.is_empty() {
            return;
        }
        let mut values = Vec::with_capacity(self.o.len());
        for k in &self.o {
            let vals = &self.vals;
            if let Some(ip) = *self.ips.entry(*k).or_insert_with(|| parse_ip(&vals.ord_str(*k))) {
                values.push(ip);
            }
        }
        let n = self.ranges.len();
        for (i, r) in self.ranges.iter().enumerate() {
            if values.iter().any(|v| r.from.is_none_or(|f| *v >= f) && r.to.is_none_or(|t| *v < t)) {
                let b = child_ord(ord, n, i);
                bump(&mut self.counts, b);
                collect_subs(&mut self.subs, doc, b, score);
            }
        }
    }

    fn finish(&mut self) {
        finish_subs(&mut self.subs);
    }

    fn harvest(&mut self, ord: u32) -> Partial {
        let n = self.ranges.len();
        let ranges = self.ranges.clone();
        let buckets = ranges
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let b = child_ord(ord, n, i);
                RangeBucket {
                    key: r.key.clone(),
                    from: None,
                    to: None,
                    from_str: r.from_str.clone(),
                    to_str: r.to_str.clone(),
                    bucket: Bucket { doc_count: count_of(&self.counts, b), subs: harvest_subs(&mut self.subs, b) },
                }
            })
            .collect();
        Partial::Range(RangePartial { fmt: Fmt::Ip, ip: true, buckets })
    }
}

// --- single-bucket and filter aggregations

struct FilterColl {
    scorer: Box<dyn Scorer>,
    counts: Vec<u64>,
    subs: Vec<Box<dyn SegAgg>>,
}

impl SegAgg for FilterColl {
    fn collect(&mut self, doc: DocId, ord: u32, score: Score) {
        if matches(&mut self.scorer, doc) {
            bump(&mut self.counts, ord);
            collect_subs(&mut self.subs, doc, ord, score);
        }
    }

    fn finish(&mut self) {
        finish_subs(&mut self.subs);
    }

    fn harvest(&mut self, ord: u32) -> Partial {
        Partial::Single(Bucket { doc_count: count_of(&self.counts, ord), subs: harvest_subs(&mut self.subs, ord) })
    }
}

struct FiltersColl {
    scorers: Vec<Box<dyn Scorer>>,
    other: bool,
    counts: Vec<u64>,
    subs: Vec<Box<dyn SegAgg>>,
}

impl SegAgg for FiltersColl {
    fn collect(&mut self, doc: DocId, ord: u32, score: Score) {
        let n = self.scorers.len() + usize::from(self.other);
        let mut any = false;
        for i in 0..self.scorers.len() {
            if matches(&mut self.scorers[i], doc) {
                any = true;
                let b = child_ord(ord, n, i);
                bump(&mut self.counts, b);
                collect_subs(&mut self.subs, doc, b, score);
            }
        }
        if self.other && !any {
            let b = child_ord(ord, n, n - 1);
            bump(&mut self.counts, b);
            collect_subs(&mut self.subs, doc, b, score);
        }
    }

    fn finish(&mut self) {
        finish_subs(&mut self.subs);
    }

    fn harvest(&mut self, ord: u32) -> Partial {
        let n = self.scorers.len() + usize::from(self.other);
        let buckets = (0..n)
            .map(|i| {
                let b = child_ord(ord, n, i);
                Bucket { doc_count: count_of(&self.counts, b), subs: harvest_subs(&mut self.subs, b) }
            })
            .collect();
        Partial::Filters(buckets)
    }
}

struct AdjacencyColl {
    scorers: Vec<Box<dyn Scorer>>,
    names: Arc<Vec<String>>,
    counts: Vec<u64>,
    subs: Vec<Box<dyn SegAgg>>,
    hits: Vec<usize>,
}

impl SegAgg for AdjacencyColl {
    fn collect(&mut self, doc: DocId, ord: u32, score: Score) {
        let n = self.scorers.len();
        let total = self.names.len();
        self.hits.clear();
        for i in 0..n {
            if matches(&mut self.scorers[i], doc) {
                self.hits.push(i);
            }
        }
        let hits = self.hits.clone();
        for (x, &i) in hits.iter().enumerate() {
            let b = child_ord(ord, total, i);
            bump(&mut self.counts, b);
            collect_subs(&mut self.subs, doc, b, score);
            for &j in &hits[x + 1..] {
                let idx = n + i * n - i * (i + 1) / 2 + (j - i - 1);
                let b = child_ord(ord, total, idx);
                bump(&mut self.counts, b);
                collect_subs(&mut self.subs, doc, b, score);
            }
        }
    }

    fn finish(&mut self) {
        finish_subs(&mut self.subs);
    }

    fn harvest(&mut self, ord: u32) -> Partial {
        let total = self.names.len();
        let names = self.names.clone();
        let mut out = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let b = child_ord(ord, total, i);
            let c = count_of(&self.counts, b);
            if c > 0 {
                out.push((name.clone(), Bucket { doc_count: c, subs: harvest_subs(&mut self.subs, b) }));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Partial::Adjacency(out)
    }
}

struct MissingColl {
    vals: SegValues,
    counts: Vec<u64>,
    subs: Vec<Box<dyn SegAgg>>,
}

impl SegAgg for MissingColl {
    fn collect(&mut self, doc: DocId, ord: u32, score: Score) {
        if self.vals.src.missing.is_none() && !self.vals.has_value(doc) {
            bump(&mut self.counts, ord);
            collect_subs(&mut self.subs, doc, ord, score);
        }
    }

    fn finish(&mut self) {
        finish_subs(&mut self.subs);
    }

    fn harvest(&mut self, ord: u32) -> Partial {
        Partial::Single(Bucket { doc_count: count_of(&self.counts, ord), subs: harvest_subs(&mut self.subs, ord) })
    }
}

struct GlobalColl {
    alive: AliveDocs,
    count: u64,
    subs: Vec<Box<dyn SegAgg>>,
    done: bool,
}

impl SegAgg for GlobalColl {
    fn collect(&mut self, _doc: DocId, _ord: u32, _score: Score) {}

    fn finish(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        let mut count = 0;
        let subs = &mut self.subs;
        self.alive.for_each(|d| {
            count += 1;
            collect_subs(subs, d, 0, 0.0);
        });
        self.count = count;
        finish_subs(&mut self.subs);
    }

    fn harvest(&mut self, ord: u32) -> Partial {
        let count = if ord == 0 { self.count } else { 0 };
        Partial::Single(Bucket { doc_count: count, subs: harvest_subs(&mut self.subs, ord) })
    }
}

// --- composite

struct CompSeg {
    vals: SegValues,
    kind: CompKind,
    missing_bucket: bool,
}

struct CompositeColl {
    sources: Vec<CompSeg>,
    fmts: Vec<Fmt>,
    after: Option<Vec<Option<TermKey>>>,
    asc: Arc<Vec<bool>>,
    size: usize,
    owners: Vec<HashMap<Vec<Option<u64>>, u32>>,
    counts: Vec<u64>,
    subs: Vec<Box<dyn SegAgg>>,
}

impl CompositeColl {
    fn source_values(s: &CompSeg, doc: DocId) -> Vec<Option<u64>> {
        let mut out: Vec<u64> = Vec::new();
        match &s.kind {
            CompKind::Terms(KeyMode::Ord, _) => s.vals.ords(doc, &mut out),
            CompKind::Terms(KeyMode::Long, _) => {
                let mut i = Vec::new();
                s.vals.i64s(doc, &mut i);
                out.extend(i.into_iter().map(|v| v as u64));
            }
            CompKind::Terms(KeyMode::Double, _) => {
                let mut f = Vec::new();
                s.vals.f64s(doc, &mut f);
                out.extend(f.into_iter().map(norm_bits));
            }
            CompKind::Hist(interval) => {
                let mut f = Vec::new();
                s.vals.f64s(doc, &mut f);
                out.extend(f.into_iter().map(|v| norm_bits((v / interval).floor() * interval)));
            }
            CompKind::Date(r) => {
                let mut i = Vec::new();
                s.vals.i64s(doc, &mut i);
                out.extend(i.into_iter().map(|v| r.round(v) as u64));
            }
        }
        out.sort_unstable();
        out.dedup();
        if out.is_empty() {
            return if s.missing_bucket { vec![None] } else { vec![] };
        }
        out.into_iter().map(Some).collect()
    }

    fn term_key(s: &CompSeg, v: u64, names: &HashMap<u64, String>) -> TermKey {
        match &s.kind {
            CompKind::Terms(KeyMode::Ord, kind) => {
                let st = names.get(&v).cloned().unwrap_or_else(|| s.vals.ord_str(v));
                if *kind == KeyKind::Ip
                    && let Some(ip) = parse_ip(&st)
                {
                    return TermKey::Ip(ip);
                }
                TermKey::Str(st)
            }
            CompKind::Terms(KeyMode::Long, _) | CompKind::Date(_) => TermKey::Long(v as i64),
            CompKind::Terms(KeyMode::Double, _) | CompKind::Hist(_) => TermKey::Double(f64::from_bits(v)),
        }
    }
}

impl SegAgg for CompositeColl {
    fn collect(&mut self, doc: DocId, ord: u32, score: Score) {
        let per: Vec<Vec<Option<u64>>> = self.sources.iter().map(|s| CompositeColl::source_values(s, doc)).collect();
        if per.iter().any(Vec::is_empty) {
            return;
        }
        let o = ord as usize;
        if self.owners.len() <= o {
            self.owners.resize_with(o + 1, HashMap::new);
        }
        // Every combination of the sources' values is a bucket.
        let mut idx = vec![0usize; per.len()];
        loop {
            let key: Vec<Option<u64>> = idx.iter().zip(&per).map(|(i, vals)| vals[*i]).collect();
            let next = self.counts.len() as u32;
            let bucket = *self.owners[o].entry(key).or_insert(next);
            bump(&mut self.counts, bucket);
            collect_subs(&mut self.subs, doc, bucket, score);
            let mut pos = per.len();
            loop {
                if pos == 0 {
                    return;
                }
                pos -= 1;
                idx[pos] += 1;
                if idx[pos] < per[pos].len() {
                    break;
                }
                idx[pos] = 0;
            }
        }
    }

    fn finish(&mut self) {
        finish_subs(&mut self.subs);
    }

    fn harvest(&mut self, ord: u32) -> Partial {
        let entries: Vec<(Vec<Option<u64>>, u32)> = match self.owners.get(ord as usize) {
            Some(m) => m.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            None => vec![],
        };
        let names: Vec<HashMap<u64, String>> = self
            .sources
            .iter()
            .enumerate()
            .map(|(i, s)| match s.kind {
                CompKind::Terms(KeyMode::Ord, _) => {
                    let ords: Vec<u64> = entries.iter().filter_map(|(k, _)| k[i]).collect();
                    s.vals.ord_strs(&ords)
                }
                _ => HashMap::new(),
            })
            .collect();
        let mut keyed: Vec<(Vec<Option<TermKey>>, u32)> = entries
            .into_iter()
            .map(|(k, b)| {
                let key = k
                    .iter()
                    .zip(&self.sources)
                    .zip(&names)
                    .map(|((v, s), n)| v.map(|v| CompositeColl::term_key(s, v, n)))
                    .collect();
                (key, b)
            })
            .collect();
        if let Some(after) = &self.after {
            keyed.retain(|(k, _)| compare_composite(k, after, &self.asc) == std::cmp::Ordering::Greater);
        }
        keyed.sort_by(|a, b| compare_composite(&a.0, &b.0, &self.asc));
        keyed.truncate(self.size);
        let buckets = keyed
            .into_iter()
            .map(|(k, b)| (k, Bucket { doc_count: count_of(&self.counts, b), subs: harvest_subs(&mut self.subs, b) }))
            .collect();
        Partial::Composite(CompositePartial { fmts: self.fmts.clone(), buckets })
    }
}
