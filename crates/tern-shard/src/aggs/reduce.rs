//! The final reduction on the coordinating node, and the JSON ES renders.
//!
//! Merged partials become [`FinalAgg`]s: terms cut to `size` with `sum_other_doc_count` and
//! `doc_count_error_upper_bound`, histograms with their empty buckets, top hits sliced, metrics
//! computed. Pipeline aggregations then run on these final values ([`super::pipeline`]), and
//! [`render`] prints ES's response shape (with `type#name` keys for `typed_keys`).

use std::collections::HashSet;

use serde_json::{Map, Value, json};
use tern_common::EsError;

use super::date::DateRounding;
use super::numfmt::{ip_to_string, java_double};
use super::partial::{
    Bucket, HistPartial, KeyKind, Partial, TermBucket, compare_composite, compare_term_buckets, excluded_set, mad,
    sig_score, sort_top_hits,
};
use super::pipeline;
use super::request::{AggKind, AggNode, AggRequest, MetricOp, Order, OrderBy};
use super::{FinalizeOptions, Fmt, TermKey, too_many_buckets};

/// A metric's values as pipelines and bucket orders see them.
#[derive(Debug, Clone)]
pub(crate) enum MetricValue {
    Single(Option<f64>),
    /// Several named values (`stats`, `percentiles`): a path must name one.
    Named(Vec<(String, Option<f64>)>),
}

#[derive(Debug, Clone)]
pub(crate) struct FinalBucket {
    /// Rendered fields before the sub-aggregations (`key`, `doc_count`, `from`...).
    pub fields: Map<String, Value>,
    /// Name of the bucket in a keyed response.
    pub key_string: String,
    /// Numeric key (`_key` in pipelines and orders).
    pub key_num: Option<f64>,
    pub doc_count: u64,
    pub aggs: Vec<FinalAgg>,
}

#[derive(Debug, Clone)]
pub(crate) enum Body {
    Metric { fields: Map<String, Value>, value: MetricValue },
    Single { doc_count: u64, aggs: Vec<FinalAgg> },
    Multi { head: Map<String, Value>, buckets: Vec<FinalBucket>, keyed: bool, tail: Map<String, Value> },
    TopHits { fields: Map<String, Value> },
}

#[derive(Debug, Clone)]
pub(crate) struct FinalAgg {
    pub name: String,
    /// The `typed_keys` prefix (`sterms`, `avg`, `date_histogram`...).
    pub type_key: String,
    /// ES's result class (`LongTerms`...), named in pipeline path errors.
    pub class: String,
    pub meta: Option<Value>,
    pub body: Body,
}

fn num(v: f64) -> Value {
    serde_json::Number::from_f64(v).map(Value::Number).unwrap_or(Value::Null)
}

fn opt_num(v: Option<f64>) -> Value {
    v.filter(|x| x.is_finite()).map(num).unwrap_or(Value::Null)
}

struct Ctx<'a> {
    opts: &'a FinalizeOptions,
    buckets: usize,
}

impl Ctx<'_> {
    fn consume(&mut self, n: usize) -> Result<(), EsError> {
        self.buckets += n;
        if self.buckets > self.opts.max_buckets {
            return Err(too_many_buckets(self.opts.max_buckets));
        }
        Ok(())
    }
}

pub(crate) fn finalize(
    partials: Vec<Partial>,
    req: &AggRequest,
    opts: &FinalizeOptions,
) -> Result<super::AggResults, EsError> {
    let mut ctx = Ctx { opts, buckets: 0 };
    let mut aggs = finalize_level(partials, &req.aggs, &mut ctx)?;
    pipeline::apply_siblings(&mut aggs, &req.aggs, &req.pipelines)?;
    Ok(super::AggResults { aggs })
}

fn finalize_level(partials: Vec<Partial>, nodes: &[AggNode], ctx: &mut Ctx) -> Result<Vec<FinalAgg>, EsError> {
    let mut out = Vec::with_capacity(nodes.len());
    for (p, n) in partials.into_iter().zip(nodes) {
        out.push(finalize_one(p, n, ctx)?);
    }
    Ok(out)
}

/// A bucket's sub-aggregations, finalized, with the sibling pipelines declared at that level.
fn finalize_bucket(subs: Vec<Partial>, node: &AggNode, ctx: &mut Ctx) -> Result<Vec<FinalAgg>, EsError> {
    let subs = if subs.len() == node.subs.len() { subs } else { node.subs.iter().map(Partial::empty).collect() };
    let mut aggs = finalize_level(subs, &node.subs, ctx)?;
    let siblings: Vec<_> = node.pipelines.iter().filter(|p| !p.is_parent_pipeline()).cloned().collect();
    pipeline::apply_siblings(&mut aggs, &node.subs, &siblings)?;
    Ok(aggs)
}

fn agg(node: &AggNode, type_key: impl Into<String>, class: impl Into<String>, body: Body) -> FinalAgg {
    FinalAgg { name: node.name.clone(), type_key: type_key.into(), class: class.into(), meta: node.meta.clone(), body }
}

fn single_metric(node: &AggNode, type_key: &str, class: &str, v: Option<f64>, fmt: &Fmt) -> FinalAgg {
    let v = v.filter(|x| x.is_finite());
    let mut fields = Map::new();
    fields.insert("value".into(), opt_num(v));
    if let (Some(x), false) = (v, fmt.is_raw()) {
        fields.insert("value_as_string".into(), Value::from(fmt.format_f64(x)));
    }
    agg(node, type_key, class, Body::Metric { fields, value: MetricValue::Single(v) })
}

fn finalize_one(p: Partial, node: &AggNode, ctx: &mut Ctx) -> Result<FinalAgg, EsError> {
    Ok(match p {
        Partial::Avg { sum, count, fmt } => {
            single_metric(node, "avg", "InternalAvg", (count > 0).then(|| sum.value / count as f64), &fmt)
        }
        Partial::Sum { sum, fmt } => single_metric(node, "sum", "InternalSum", Some(sum.value), &fmt),
        Partial::Min { v, fmt } => single_metric(node, "min", "InternalMin", Some(v), &fmt),
        Partial::Max { v, fmt } => single_metric(node, "max", "InternalMax", Some(v), &fmt),
        Partial::ValueCount(c) => {
            let mut fields = Map::new();
            fields.insert("value".into(), Value::from(c));
            agg(
                node,
                "value_count",
                "InternalValueCount",
                Body::Metric { fields, value: MetricValue::Single(Some(c as f64)) },
            )
        }
        Partial::Cardinality(h) => {
            let c = h.estimate();
            let mut fields = Map::new();
            fields.insert("value".into(), Value::from(c));
            agg(
                node,
                "cardinality",
                "InternalCardinality",
                Body::Metric { fields, value: MetricValue::Single(Some(c as f64)) },
            )
        }
        Partial::WeightedAvg { sum, weight, fmt } => single_metric(
            node,
            "weighted_avg",
            "InternalWeightedAvg",
            (weight.value != 0.0).then(|| sum.value / weight.value),
            &fmt,
        ),
        Partial::Stats { count, sum, min, max, sum_sq, fmt } => {
            let sigma = match node.kind {
                AggKind::Metric { op: MetricOp::ExtendedStats { sigma }, .. } => Some(sigma),
                _ => None,
            };
            let (fields, named) = stats_fields(count, sum.value, min, max, sum_sq.value, sigma, &fmt);
            let (tk, class) =
                if sigma.is_some() { ("extended_stats", "InternalExtendedStats") } else { ("stats", "InternalStats") };
            agg(node, tk, class, Body::Metric { fields, value: MetricValue::Named(named) })
        }
        Partial::TDigest(mut d, fmt) => match &node.kind {
            AggKind::Metric { op: MetricOp::MedianAbsoluteDeviation { .. }, .. } => {
                let v = mad(&mut d);
                single_metric(node, "median_absolute_deviation", "InternalMedianAbsoluteDeviation", Some(v), &fmt)
            }
            AggKind::PercentileRanks { values, keyed, .. } => {
                let vals: Vec<(f64, Option<f64>)> =
                    values.iter().map(|x| (*x, if d.count() == 0 { None } else { Some(d.cdf(*x) * 100.0) })).collect();
                percentiles(node, "tdigest_percentile_ranks", "InternalTDigestPercentileRanks", &vals, *keyed, &fmt)
            }
            AggKind::Percentiles { percents, keyed, .. } => {
                let vals: Vec<(f64, Option<f64>)> = percents
                    .iter()
                    .map(|p| (*p, if d.count() == 0 { None } else { Some(d.quantile(p / 100.0)) }))
                    .collect();
                percentiles(node, "tdigest_percentiles", "InternalTDigestPercentiles", &vals, *keyed, &fmt)
            }
            _ => single_metric(node, "avg", "InternalAvg", None, &fmt),
        },
        Partial::Hdr(h, fmt) => match &node.kind {
            AggKind::PercentileRanks { values, keyed, .. } => {
                let vals: Vec<(f64, Option<f64>)> = values
                    .iter()
                    .map(|x| (*x, if h.count() == 0 { None } else { Some(h.percentile_rank(*x)) }))
                    .collect();
                percentiles(node, "hdr_percentile_ranks", "InternalHDRPercentileRanks", &vals, *keyed, &fmt)
            }
            AggKind::Percentiles { percents, keyed, .. } => {
                let vals: Vec<(f64, Option<f64>)> =
                    percents.iter().map(|p| (*p, if h.count() == 0 { None } else { Some(h.percentile(*p)) })).collect();
                percentiles(node, "hdr_percentiles", "InternalHDRPercentiles", &vals, *keyed, &fmt)
            }
            _ => single_metric(node, "avg", "InternalAvg", None, &fmt),
        },
        Partial::TopHits(mut t) => {
            let AggKind::TopHits(spec) = &node.kind else { unreachable_kind(node)? };
            sort_top_hits(&mut t.hits, &spec.sort);
            let hits: Vec<Value> = t.hits.into_iter().skip(spec.from).take(spec.size).filter_map(|h| h.hit).collect();
            let scored = spec.sort.is_empty() || spec.track_scores || spec.sort.iter().any(|s| s.field == "_score");
            let mut inner = Map::new();
            inner.insert("total".into(), json!({"value": t.total, "relation": "eq"}));
            inner.insert(
                "max_score".into(),
                if scored { t.max_score.map(|s| num(s as f64)).unwrap_or(Value::Null) } else { Value::Null },
            );
            inner.insert("hits".into(), Value::Array(hits));
            let mut fields = Map::new();
            fields.insert("hits".into(), Value::Object(inner));
            agg(node, "top_hits", "InternalTopHits", Body::TopHits { fields })
        }
        Partial::Single(b) => {
            let (tk, class) = match node.kind {
                AggKind::Missing(_) => ("missing", "InternalMissing"),
                AggKind::Global => ("global", "InternalGlobal"),
                _ => ("filter", "InternalFilter"),
            };
            let aggs = finalize_bucket(b.subs, node, ctx)?;
            agg(node, tk, class, Body::Single { doc_count: b.doc_count, aggs })
        }
        Partial::Filters(buckets) => finalize_filters(buckets, node, ctx)?,
        Partial::Adjacency(buckets) => {
            ctx.consume(buckets.len())?;
            let mut out = Vec::new();
            for (name, b) in buckets {
                let mut fields = Map::new();
                fields.insert("key".into(), Value::from(name.clone()));
                fields.insert("doc_count".into(), Value::from(b.doc_count));
                out.push(FinalBucket {
                    fields,
                    key_string: name,
                    key_num: None,
                    doc_count: b.doc_count,
                    aggs: finalize_bucket(b.subs, node, ctx)?,
                });
            }
            let mut a = agg(
                node,
                "adjacency_matrix",
                "InternalAdjacencyMatrix",
                Body::Multi { head: Map::new(), buckets: out, keyed: false, tail: Map::new() },
            );
            pipeline::apply_parents(&mut a, node)?;
            a
        }
        Partial::Range(r) => {
            let keyed = match &node.kind {
                AggKind::Range(s) | AggKind::DateRange(s) => s.keyed,
                AggKind::IpRange(s) => s.keyed,
                _ => false,
            };
            ctx.consume(r.buckets.len())?;
            let mut out = Vec::new();
            for rb in r.buckets {
                let mut fields = Map::new();
                if !keyed {
                    fields.insert("key".into(), Value::from(rb.key.clone()));
                }
                if r.ip {
                    if let Some(f) = &rb.from_str {
                        fields.insert("from".into(), Value::from(f.clone()));
                    }
                    if let Some(t) = &rb.to_str {
                        fields.insert("to".into(), Value::from(t.clone()));
                    }
                } else {
                    if let Some(f) = rb.from {
                        fields.insert("from".into(), num(f));
                        if !r.fmt.is_raw() {
                            fields.insert(
                                "from_as_string".into(),
                                Value::from(rb.from_str.clone().unwrap_or_else(|| r.fmt.format_f64(f))),
                            );
                        }
                    }
                    if let Some(t) = rb.to {
                        fields.insert("to".into(), num(t));
                        if !r.fmt.is_raw() {
                            fields.insert(
                                "to_as_string".into(),
                                Value::from(rb.to_str.clone().unwrap_or_else(|| r.fmt.format_f64(t))),
                            );
                        }
                    }
                }
                fields.insert("doc_count".into(), Value::from(rb.bucket.doc_count));
                out.push(FinalBucket {
                    fields,
                    key_string: rb.key,
                    key_num: rb.from,
                    doc_count: rb.bucket.doc_count,
                    aggs: finalize_bucket(rb.bucket.subs, node, ctx)?,
                });
            }
            let (tk, class) = match node.kind {
                AggKind::DateRange(_) => ("date_range", "InternalDateRange"),
                AggKind::IpRange(_) => ("ip_range", "InternalBinaryRange"),
                _ => ("range", "InternalRange"),
            };
            let mut a = agg(node, tk, class, Body::Multi { head: Map::new(), buckets: out, keyed, tail: Map::new() });
            pipeline::apply_parents(&mut a, node)?;
            a
        }
        Partial::Terms(t) => {
            let AggKind::Terms(spec) = &node.kind else { unreachable_kind(node)? };
            let mut buckets: Vec<TermBucket> =
                t.buckets.into_iter().filter(|b| b.bucket.doc_count >= spec.min_doc_count).collect();
            buckets.sort_by(|a, b| compare_term_buckets(a, b, &spec.order, &node.subs));
            let mut other = t.other_doc_count;
            if buckets.len() > spec.size {
                other += buckets[spec.size..].iter().map(|b| b.bucket.doc_count).sum::<u64>();
                buckets.truncate(spec.size);
            }
            let error = if t.doc_count_error == -1 {
                -1
            } else if t.shards <= 1 {
                0
            } else {
                t.doc_count_error
            };
            ctx.consume(buckets.len())?;
            let mut out = Vec::with_capacity(buckets.len());
            for b in buckets {
                let mut fb = term_bucket(b.key, b.bucket.doc_count, &t.fmt, t.kind);
                if spec.show_term_doc_count_error {
                    let e = if t.doc_count_error == -1 {
                        -1
                    } else if t.shards <= 1 {
                        0
                    } else {
                        b.error + t.doc_count_error
                    };
                    fb.fields.insert("doc_count_error_upper_bound".into(), Value::from(e));
                }
                fb.aggs = finalize_bucket(b.bucket.subs, node, ctx)?;
                out.push(fb);
            }
            let mut head = Map::new();
            head.insert("doc_count_error_upper_bound".into(), Value::from(error));
            head.insert("sum_other_doc_count".into(), Value::from(other));
            let (tk, class) = terms_type(t.kind, false);
            let mut a = agg(node, tk, class, Body::Multi { head, buckets: out, keyed: false, tail: Map::new() });
            pipeline::apply_parents(&mut a, node)?;
            a
        }
        Partial::Rare(r) => {
            let AggKind::RareTerms(spec) = &node.kind else { unreachable_kind(node)? };
            let excluded: HashSet<TermKey> = excluded_set(&r);
            let mut buckets: Vec<TermBucket> = r
                .buckets
                .into_iter()
                .filter(|b| b.bucket.doc_count <= spec.max_doc_count && !excluded.contains(&b.key))
                .collect();
            let order = [Order { by: OrderBy::Count, asc: true }, Order { by: OrderBy::Key, asc: true }];
            buckets.sort_by(|a, b| compare_term_buckets(a, b, &order, &node.subs));
            ctx.consume(buckets.len())?;
            let mut out = Vec::new();
            for b in buckets {
                let mut fb = term_bucket(b.key, b.bucket.doc_count, &r.fmt, r.kind);
                fb.aggs = finalize_bucket(b.bucket.subs, node, ctx)?;
                out.push(fb);
            }
            let (tk, class) = terms_type(r.kind, true);
            let mut a =
                agg(node, tk, class, Body::Multi { head: Map::new(), buckets: out, keyed: false, tail: Map::new() });
            pipeline::apply_parents(&mut a, node)?;
            a
        }
        Partial::Sig(sp) => {
            let AggKind::SignificantTerms(spec) = &node.kind else { unreachable_kind(node)? };
            let mut scored: Vec<(f64, super::partial::SigBucket)> = sp
                .buckets
                .into_iter()
                .map(|b| (sig_score(spec.heuristic, b.bucket.doc_count, sp.subset_size, b.bg, sp.superset_size), b))
                .filter(|(score, b)| *score > 0.0 && b.bucket.doc_count >= spec.min_doc_count)
                .collect();
            scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.key.cmp(&b.1.key)));
            scored.truncate(spec.size);
            ctx.consume(scored.len())?;
            let mut out = Vec::with_capacity(scored.len());
            for (score, b) in scored {
                let mut fb = term_bucket(b.key, b.bucket.doc_count, &sp.fmt, sp.kind);
                fb.fields.insert("score".into(), num(score));
                fb.fields.insert("bg_count".into(), Value::from(b.bg));
                fb.aggs = finalize_bucket(b.bucket.subs, node, ctx)?;
                out.push(fb);
            }
            let mut head = Map::new();
            head.insert("doc_count".into(), Value::from(sp.subset_size));
            head.insert("bg_count".into(), Value::from(sp.superset_size));
            let (tk, class) = match sp.kind {
                KeyKind::Str | KeyKind::Ip => ("sigsterms", "SignificantStringTerms"),
                KeyKind::Long | KeyKind::Double => ("siglterms", "SignificantLongTerms"),
                KeyKind::Unmapped => ("umsigterms", "UnmappedSignificantTerms"),
            };
            let mut a = agg(node, tk, class, Body::Multi { head, buckets: out, keyed: false, tail: Map::new() });
            pipeline::apply_parents(&mut a, node)?;
            a
        }
        Partial::Histogram(h) => finalize_histogram(h, node, ctx)?,
        Partial::Composite(c) => {
            let AggKind::Composite(spec) = &node.kind else { unreachable_kind(node)? };
            let asc: Vec<bool> = spec.sources.iter().map(|s| s.asc).collect();
            let mut buckets = c.buckets;
            buckets.sort_by(|a, b| compare_composite(&a.0, &b.0, &asc));
            buckets.truncate(spec.size);
            ctx.consume(buckets.len())?;
            let render_key = |k: &[Option<TermKey>]| -> Value {
                let mut m = Map::new();
                for ((src, v), fmt) in spec.sources.iter().zip(k).zip(&c.fmts) {
                    m.insert(src.name.clone(), composite_value(v.as_ref(), fmt));
                }
                Value::Object(m)
            };
            let after_key = buckets.last().map(|(k, _)| render_key(k));
            let mut out = Vec::new();
            for (k, b) in buckets {
                let key = render_key(&k);
                let mut fields = Map::new();
                fields.insert("key".into(), key.clone());
                fields.insert("doc_count".into(), Value::from(b.doc_count));
                out.push(FinalBucket {
                    fields,
                    key_string: key.to_string(),
                    key_num: None,
                    doc_count: b.doc_count,
                    aggs: finalize_bucket(b.subs, node, ctx)?,
                });
            }
            let mut head = Map::new();
            if let Some(a) = after_key {
                head.insert("after_key".into(), a);
            }
            let mut a = agg(
                node,
                "composite",
                "InternalComposite",
                Body::Multi { head, buckets: out, keyed: false, tail: Map::new() },
            );
            pipeline::apply_parents(&mut a, node)?;
            a
        }
    })
}

fn unreachable_kind<T>(node: &AggNode) -> Result<T, EsError> {
    Err(EsError::internal(format!("aggregation [{}] produced a result of another type", node.name)))
}

fn terms_type(kind: KeyKind, rare: bool) -> (&'static str, &'static str) {
    match (kind, rare) {
        (KeyKind::Str | KeyKind::Ip, false) => ("sterms", "StringTerms"),
        (KeyKind::Long, false) => ("lterms", "LongTerms"),
        (KeyKind::Double, false) => ("dterms", "DoubleTerms"),
        (KeyKind::Unmapped, false) => ("umterms", "UnmappedTerms"),
        (KeyKind::Str | KeyKind::Ip, true) => ("srareterms", "StringRareTerms"),
        (KeyKind::Long | KeyKind::Double, true) => ("lrareterms", "LongRareTerms"),
        (KeyKind::Unmapped, true) => ("umrareterms", "UnmappedRareTerms"),
    }
}

/// A terms bucket's `key`, `key_as_string` and `doc_count`.
fn term_bucket(key: TermKey, doc_count: u64, fmt: &Fmt, kind: KeyKind) -> FinalBucket {
    let mut fields = Map::new();
    let (key_json, key_string, key_num) = match &key {
        TermKey::Str(s) => (Value::from(s.clone()), s.clone(), None),
        TermKey::Ip(v) => {
            let s = ip_to_string(*v);
            (Value::from(s.clone()), s, None)
        }
        TermKey::Long(n) if kind == KeyKind::Double => {
            let f = *n as f64;
            (num(f), fmt_or(fmt, f, java_double(f)), Some(f))
        }
        TermKey::Long(n) => {
            (Value::from(*n), if fmt.is_raw() { n.to_string() } else { fmt.format_i64(*n) }, Some(*n as f64))
        }
        TermKey::Double(f) => (num(*f), fmt_or(fmt, *f, java_double(*f)), Some(*f)),
    };
    fields.insert("key".into(), key_json);
    if !fmt.is_raw() && !matches!(key, TermKey::Str(_) | TermKey::Ip(_)) {
        fields.insert("key_as_string".into(), Value::from(key_string.clone()));
    }
    fields.insert("doc_count".into(), Value::from(doc_count));
    FinalBucket { fields, key_string, key_num, doc_count, aggs: vec![] }
}

fn fmt_or(fmt: &Fmt, v: f64, raw: String) -> String {
    if fmt.is_raw() { raw } else { fmt.format_f64(v) }
}

fn composite_value(v: Option<&TermKey>, fmt: &Fmt) -> Value {
    match v {
        None => Value::Null,
        Some(TermKey::Str(s)) => Value::from(s.clone()),
        Some(TermKey::Ip(ip)) => Value::from(ip_to_string(*ip)),
        Some(TermKey::Long(n)) => {
            if fmt.is_raw() {
                Value::from(*n)
            } else {
                Value::from(fmt.format_i64(*n))
            }
        }
        Some(TermKey::Double(f)) => {
            if fmt.is_raw() {
                num(*f)
            } else {
                Value::from(fmt.format_f64(*f))
            }
        }
    }
}

fn finalize_filters(buckets: Vec<Bucket>, node: &AggNode, ctx: &mut Ctx) -> Result<FinalAgg, EsError> {
    let AggKind::Filters { filters, keyed, other_bucket } = &node.kind else { return unreachable_kind(node) };
    let anonymous = filters.first().is_some_and(|(k, _)| k == "0")
        && filters.iter().enumerate().all(|(i, (k, _))| *k == i.to_string());
    let named = !anonymous;
    ctx.consume(buckets.len())?;
    let mut out = Vec::new();
    for (i, b) in buckets.into_iter().enumerate() {
        let name = match filters.get(i) {
            Some((k, _)) => k.clone(),
            None => other_bucket.clone().unwrap_or_else(|| "_other_".into()),
        };
        let mut fields = Map::new();
        if !*keyed && named {
            fields.insert("key".into(), Value::from(name.clone()));
        }
        fields.insert("doc_count".into(), Value::from(b.doc_count));
        out.push(FinalBucket {
            fields,
            key_string: name,
            key_num: None,
            doc_count: b.doc_count,
            aggs: finalize_bucket(b.subs, node, ctx)?,
        });
    }
    let mut a = agg(
        node,
        "filters",
        "InternalFilters",
        Body::Multi { head: Map::new(), buckets: out, keyed: *keyed, tail: Map::new() },
    );
    pipeline::apply_parents(&mut a, node)?;
    Ok(a)
}

fn percentiles(
    node: &AggNode,
    type_key: &str,
    class: &str,
    vals: &[(f64, Option<f64>)],
    keyed: bool,
    fmt: &Fmt,
) -> FinalAgg {
    let named: Vec<(String, Option<f64>)> =
        vals.iter().map(|(k, v)| (java_double(*k), v.filter(|x| x.is_finite()))).collect();
    let values = if keyed {
        let mut m = Map::new();
        for (k, v) in &named {
            m.insert(k.clone(), opt_num(*v));
            if let (Some(x), false) = (v, fmt.is_raw()) {
                m.insert(format!("{k}_as_string"), Value::from(fmt.format_f64(*x)));
            }
        }
        Value::Object(m)
    } else {
        Value::Array(
            vals.iter()
                .map(|(k, v)| {
                    let mut m = Map::new();
                    m.insert("key".into(), num(*k));
                    m.insert("value".into(), opt_num(*v));
                    if let (Some(x), false) = (v.filter(|x| x.is_finite()), fmt.is_raw()) {
                        m.insert("value_as_string".into(), Value::from(fmt.format_f64(x)));
                    }
                    Value::Object(m)
                })
                .collect(),
        )
    };
    let mut fields = Map::new();
    fields.insert("values".into(), values);
    agg(node, type_key, class, Body::Metric { fields, value: MetricValue::Named(named) })
}

/// Values a path can name (`avg`, `99.0`...).
pub(crate) type NamedValues = Vec<(String, Option<f64>)>;

/// `stats` / `extended_stats` fields and the values paths can name.
pub(crate) fn stats_fields(
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    sum_sq: f64,
    sigma: Option<f64>,
    fmt: &Fmt,
) -> (Map<String, Value>, NamedValues) {
    let mut f = Map::new();
    let n = count as f64;
    let avg = if count > 0 { Some(sum / n) } else { None };
    let mut named: Vec<(String, Option<f64>)> = vec![
        ("count".into(), Some(n)),
        ("min".into(), avg.map(|_| min)),
        ("max".into(), avg.map(|_| max)),
        ("avg".into(), avg),
        ("sum".into(), Some(sum)),
    ];
    f.insert("count".into(), Value::from(count));
    if count > 0 {
        f.insert("min".into(), num(min));
        f.insert("max".into(), num(max));
        f.insert("avg".into(), opt_num(avg));
        f.insert("sum".into(), num(sum));
        if !fmt.is_raw() {
            f.insert("min_as_string".into(), Value::from(fmt.format_f64(min)));
            f.insert("max_as_string".into(), Value::from(fmt.format_f64(max)));
            f.insert("avg_as_string".into(), Value::from(fmt.format_f64(avg.unwrap_or(0.0))));
            f.insert("sum_as_string".into(), Value::from(fmt.format_f64(sum)));
        }
    } else {
        f.insert("min".into(), Value::Null);
        f.insert("max".into(), Value::Null);
        f.insert("avg".into(), Value::Null);
        f.insert("sum".into(), num(0.0));
    }
    let Some(sigma) = sigma else { return (f, named) };
    let var_pop = if count > 0 { ((sum_sq - sum * sum / n) / n).max(0.0) } else { f64::NAN };
    let var_samp = if count > 1 { ((sum_sq - sum * sum / n) / (n - 1.0)).max(0.0) } else { f64::NAN };
    let std_pop = var_pop.sqrt();
    let std_samp = var_samp.sqrt();
    let a = avg.unwrap_or(f64::NAN);
    let bounds = [
        ("upper", a + std_pop * sigma),
        ("lower", a - std_pop * sigma),
        ("upper_population", a + std_pop * sigma),
        ("lower_population", a - std_pop * sigma),
        ("upper_sampling", a + std_samp * sigma),
        ("lower_sampling", a - std_samp * sigma),
    ];
    let stats = [
        ("sum_of_squares", sum_sq),
        ("variance", var_pop),
        ("variance_population", var_pop),
        ("variance_sampling", var_samp),
        ("std_deviation", std_pop),
        ("std_deviation_population", std_pop),
        ("std_deviation_sampling", std_samp),
    ];
    for (k, v) in stats {
        f.insert(k.into(), if count > 0 { opt_num(Some(v)) } else { Value::Null });
        named.push((k.into(), (count > 0).then_some(v).filter(|x| x.is_finite())));
    }
    let mut b = Map::new();
    for (k, v) in bounds {
        b.insert(k.into(), if count > 0 { opt_num(Some(v)) } else { Value::Null });
    }
    f.insert("std_deviation_bounds".into(), Value::Object(b));
    named.push(("std_upper".into(), (count > 0).then_some(bounds[0].1)));
    named.push(("std_lower".into(), (count > 0).then_some(bounds[1].1)));
    if count > 0 && !fmt.is_raw() {
        for (k, v) in stats {
            if v.is_finite() {
                f.insert(format!("{k}_as_string"), Value::from(fmt.format_f64(v)));
            }
        }
        let mut bs = Map::new();
        for (k, v) in bounds {
            if v.is_finite() {
                bs.insert(k.into(), Value::from(fmt.format_f64(v)));
            }
        }
        f.insert("std_deviation_bounds_as_string".into(), Value::Object(bs));
    }
    (f, named)
}

/// `auto_date_histogram`: coarsen the rounding until the buckets fit, then merge runs of
/// consecutive buckets (ES's `InternalAutoDateHistogram.reduce`).
fn finalize_auto(mut h: HistPartial, node: &AggNode, ctx: &mut Ctx) -> Result<FinalAgg, EsError> {
    let AggKind::AutoDateHistogram(spec) = &node.kind else { return unreachable_kind(node) };
    let target = spec.buckets;
    let tz = spec.vs.time_zone.clone();
    let start = spec.minimum_interval.map(super::date::auto_level_of).unwrap_or(0);
    let mut level = h.auto.as_ref().map(|(l, _)| *l).unwrap_or(start).max(start);
    if h.auto.is_none() {
        h.auto = Some((level, tz.clone()));
    }
    h.rebucket(level);
    let fill = |buckets: Vec<(f64, Bucket)>, level: usize| -> Result<Vec<(f64, Bucket)>, EsError> {
        let rounding = super::date::auto_rounding(level, tz.as_deref());
        let (Some(lo), Some(hi)) = (buckets.first().map(|b| b.0), buckets.last().map(|b| b.0)) else {
            return Ok(buckets);
        };
        let mut out = Vec::new();
        let mut existing = buckets.into_iter().peekable();
        let mut k = lo;
        while k <= hi {
            match existing.peek() {
                Some((ek, _)) if *ek == k => out.push(existing.next().expect("peeked")),
                _ => out.push((k, Bucket::empty(node))),
            }
            if out.len() > ctx.opts.max_buckets {
                return Err(too_many_buckets(ctx.opts.max_buckets));
            }
            let n = rounding.next(k as i64) as f64;
            if n <= k {
                break;
            }
            k = n;
        }
        out.extend(existing);
        Ok(out)
    };
    let levels = super::date::AUTO_LEVELS;
    // Escalate while the (gap-filled) buckets cannot be merged down to the target.
    let mut buckets = fill(std::mem::take(&mut h.buckets), level)?;
    loop {
        let max_inner = *levels[level].1.last().unwrap_or(&1) as usize;
        if buckets.len() <= target * max_inner || level + 1 >= levels.len() {
            break;
        }
        level += 1;
        // Drop the gap fillers before re-rounding; they are added again at the coarser level.
        h.buckets = buckets.into_iter().filter(|(_, b)| b.doc_count > 0).collect();
        h.rebucket(level);
        buckets = fill(std::mem::take(&mut h.buckets), level)?;
    }
    let mut inner = 1usize;
    if buckets.len() > target {
        for i in levels[level].1 {
            let i = *i as usize;
            if buckets.len().div_ceil(i) <= target {
                inner = i;
                break;
            }
        }
    }
    if inner > 1 {
        let mut merged: Vec<(f64, Bucket)> = Vec::new();
        for (idx, (k, b)) in buckets.into_iter().enumerate() {
            if idx % inner == 0 {
                merged.push((k, b));
            } else if let Some((_, last)) = merged.last_mut() {
                last.merge(b);
            }
        }
        buckets = merged;
    }
    ctx.consume(buckets.len())?;
    let mut out = Vec::with_capacity(buckets.len());
    for (k, b) in buckets {
        let key_string = if h.fmt.is_raw() { (k as i64).to_string() } else { h.fmt.format_i64(k as i64) };
        let mut fields = Map::new();
        fields.insert("key_as_string".into(), Value::from(key_string.clone()));
        fields.insert("key".into(), Value::from(k as i64));
        fields.insert("doc_count".into(), Value::from(b.doc_count));
        out.push(FinalBucket {
            fields,
            key_string,
            key_num: Some(k),
            doc_count: b.doc_count,
            aggs: finalize_bucket(b.subs, node, ctx)?,
        });
    }
    let mut tail = Map::new();
    tail.insert("interval".into(), Value::from(format!("{inner}{}", levels[level].2)));
    let mut a = agg(
        node,
        "auto_date_histogram",
        "InternalAutoDateHistogram",
        Body::Multi { head: Map::new(), buckets: out, keyed: false, tail },
    );
    pipeline::apply_parents(&mut a, node)?;
    Ok(a)
}

fn finalize_histogram(h: HistPartial, node: &AggNode, ctx: &mut Ctx) -> Result<FinalAgg, EsError> {
    if matches!(node.kind, AggKind::AutoDateHistogram(_)) {
        return finalize_auto(h, node, ctx);
    }
    let (min_doc_count, keyed, order, date) = match &node.kind {
        AggKind::Histogram(s) => (s.min_doc_count, s.keyed, s.order.clone(), None),
        AggKind::DateHistogram(s) => {
            let tz =
                s.vs.time_zone
                    .as_deref()
                    .and_then(|t| tern_mapping::date::Tz::parse(t).ok())
                    .unwrap_or(tern_mapping::date::Tz::UTC);
            (s.min_doc_count, s.keyed, s.order.clone(), Some(DateRounding::new(s.interval, tz, s.offset)))
        }
        _ => (1, false, vec![], None),
    };
    let (interval, offset) = match &node.kind {
        AggKind::Histogram(s) => (s.interval, s.offset),
        _ => (1.0, 0.0),
    };
    let round = |k: f64| -> f64 {
        match &date {
            Some(r) => r.round(k as i64) as f64,
            None => ((k - offset) / interval).floor() * interval + offset,
        }
    };
    let next = |k: f64| -> f64 {
        match &date {
            Some(r) => r.next(k as i64) as f64,
            None => round(k + interval + interval / 2.0),
        }
    };
    let mut buckets: Vec<(f64, Bucket)> = h.buckets;
    if min_doc_count == 0 {
        // Empty buckets between the first and last keys, stretched to `extended_bounds`.
        let mut lo = buckets.first().map(|b| b.0);
        let mut hi = buckets.last().map(|b| b.0);
        if let Some((bmin, bmax)) = h.bounds {
            if let Some(m) = bmin {
                let m = round(m);
                lo = Some(lo.map_or(m, |l| l.min(m)));
            }
            if let Some(m) = bmax {
                let m = round(m);
                hi = Some(hi.map_or(m, |x| x.max(m)));
            }
        }
        if let Some((hmin, hmax)) = h.hard {
            if let (Some(l), Some(m)) = (lo, hmin) {
                lo = Some(l.max(round(m)));
            }
            if let (Some(x), Some(m)) = (hi, hmax) {
                hi = Some(x.min(m));
            }
        }
        if let (Some(lo), Some(hi)) = (lo, hi) {
            let mut filled = Vec::new();
            let mut existing = buckets.into_iter().peekable();
            let mut k = lo;
            let mut guard = 0usize;
            while k <= hi {
                while let Some((ek, _)) = existing.peek() {
                    if *ek < k {
                        let (ek, eb) = existing.next().expect("peeked");
                        filled.push((ek, eb));
                    } else {
                        break;
                    }
                }
                match existing.peek() {
                    Some((ek, _)) if *ek == k => {
                        let (ek, eb) = existing.next().expect("peeked");
                        filled.push((ek, eb));
                    }
                    _ => filled.push((k, Bucket::empty(node))),
                }
                guard += 1;
                if guard > ctx.opts.max_buckets {
                    return Err(too_many_buckets(ctx.opts.max_buckets));
                }
                let n = next(k);
                if n <= k {
                    break;
                }
                k = n;
            }
            filled.extend(existing);
            buckets = filled;
        }
    } else {
        buckets.retain(|(_, b)| b.doc_count >= min_doc_count);
    }
    ctx.consume(buckets.len())?;
    let is_date = date.is_some();
    let mut out = Vec::with_capacity(buckets.len());
    for (k, b) in buckets {
        let mut fields = Map::new();
        let key_string = if is_date {
            if h.fmt.is_raw() { (k as i64).to_string() } else { h.fmt.format_i64(k as i64) }
        } else if h.fmt.is_raw() {
            java_double(k)
        } else {
            h.fmt.format_f64(k)
        };
        if is_date || !h.fmt.is_raw() {
            fields.insert("key_as_string".into(), Value::from(key_string.clone()));
        }
        fields.insert("key".into(), if is_date { Value::from(k as i64) } else { num(k) });
        fields.insert("doc_count".into(), Value::from(b.doc_count));
        out.push(FinalBucket {
            fields,
            key_string,
            key_num: Some(k),
            doc_count: b.doc_count,
            aggs: finalize_bucket(b.subs, node, ctx)?,
        });
    }
    if !(order.is_empty() || (order.len() == 1 && order[0].by == OrderBy::Key && order[0].asc)) {
        out.sort_by(|a, b| {
            for o in &order {
                let ord = match &o.by {
                    OrderBy::Key => a.key_num.unwrap_or(0.0).total_cmp(&b.key_num.unwrap_or(0.0)),
                    OrderBy::Count => a.doc_count.cmp(&b.doc_count),
                    OrderBy::Path(p) => {
                        let x = pipeline::bucket_value(a, p).ok().flatten().unwrap_or(f64::NAN);
                        let y = pipeline::bucket_value(b, p).ok().flatten().unwrap_or(f64::NAN);
                        x.total_cmp(&y)
                    }
                };
                let ord = if o.asc { ord } else { ord.reverse() };
                if ord != std::cmp::Ordering::Equal {
                    return ord;
                }
            }
            a.key_num.unwrap_or(0.0).total_cmp(&b.key_num.unwrap_or(0.0))
        });
    }
    let tk = if is_date { "date_histogram" } else { "histogram" };
    let class = if is_date { "InternalDateHistogram" } else { "InternalHistogram" };
    let mut a = agg(node, tk, class, Body::Multi { head: Map::new(), buckets: out, keyed, tail: Map::new() });
    pipeline::apply_parents(&mut a, node)?;
    Ok(a)
}

// ---------------------------------------------------------------------------------------------
// Rendering

fn render_key(a: &FinalAgg, typed_keys: bool) -> String {
    if typed_keys { format!("{}#{}", a.type_key, a.name) } else { a.name.clone() }
}

pub(crate) fn render(aggs: &[FinalAgg], typed_keys: bool, total_as_int: bool) -> Value {
    let mut m = Map::new();
    render_into(&mut m, aggs, typed_keys, total_as_int);
    Value::Object(m)
}

fn render_into(out: &mut Map<String, Value>, aggs: &[FinalAgg], typed_keys: bool, total_as_int: bool) {
    for a in aggs {
        out.insert(render_key(a, typed_keys), render_one(a, typed_keys, total_as_int));
    }
}

fn render_one(a: &FinalAgg, typed_keys: bool, total_as_int: bool) -> Value {
    let mut m = Map::new();
    if let Some(meta) = &a.meta {
        m.insert("meta".into(), meta.clone());
    }
    match &a.body {
        Body::Metric { fields, .. } => m.extend(fields.clone()),
        Body::TopHits { fields } => {
            let mut f = fields.clone();
            if total_as_int
                && let Some(Value::Object(h)) = f.get_mut("hits")
                && let Some(t) = h.get("total").and_then(|t| t.get("value")).cloned()
            {
                h.insert("total".into(), t);
            }
            m.extend(f);
        }
        Body::Single { doc_count, aggs } => {
            m.insert("doc_count".into(), Value::from(*doc_count));
            render_into(&mut m, aggs, typed_keys, total_as_int);
        }
        Body::Multi { head, buckets, keyed, tail } => {
            let after_key = head.get("after_key").cloned();
            for (k, v) in head {
                if k != "after_key" {
                    m.insert(k.clone(), v.clone());
                }
            }
            if let Some(ak) = after_key {
                m.insert("after_key".into(), ak);
            }
            let render_bucket = |b: &FinalBucket| -> Value {
                let mut bm = b.fields.clone();
                render_into(&mut bm, &b.aggs, typed_keys, total_as_int);
                Value::Object(bm)
            };
            if *keyed {
                let mut km = Map::new();
                for b in buckets {
                    km.insert(b.key_string.clone(), render_bucket(b));
                }
                m.insert("buckets".into(), Value::Object(km));
            } else {
                m.insert("buckets".into(), Value::Array(buckets.iter().map(render_bucket).collect()));
            }
            m.extend(tail.clone());
        }
    }
    Value::Object(m)
}
