//! Pipeline aggregations, run on final results after the cross-shard reduction.
//!
//! *Sibling* pipelines (`max_bucket`, `avg_bucket`, `stats_bucket`...) read one value per bucket of
//! a multi-bucket sibling (`buckets_path: "histo>sales"`) and add one result next to it. *Parent*
//! pipelines (`derivative`, `cumulative_sum`, `serial_diff`, `moving_fn`, `bucket_sort`) are declared
//! inside a multi-bucket aggregation and add a value to each of its buckets (or reorder them).
//! Values resolve like ES's `BucketHelpers.resolveBucketValue`, gap policies included.

use serde_json::{Map, Value};
use tern_common::{ErrorKind, EsError};

use super::Fmt;
use super::numfmt::java_double;
use super::partial::split_key;
use super::reduce::{Body, FinalAgg, FinalBucket, MetricValue, stats_fields};
use super::request::{AggNode, BucketMetric, GapPolicy, MovingFunction, PipelineKind, PipelineNode};

fn exec_error(reason: impl Into<String>) -> EsError {
    EsError::new(ErrorKind::IllegalArgument, reason).with_type("aggregation_execution_exception")
}

fn num(v: f64) -> Value {
    serde_json::Number::from_f64(v).map(Value::Number).unwrap_or(Value::Null)
}

fn opt_num(v: Option<f64>) -> Value {
    v.filter(|x| x.is_finite()).map(num).unwrap_or(Value::Null)
}

fn fmt_of(format: &Option<String>) -> Fmt {
    match format {
        Some(f) => Fmt::Decimal(f.clone()),
        None => Fmt::Raw,
    }
}

/// A single-value pipeline result (`simple_value`, `derivative`...).
fn value_agg(p: &PipelineNode, type_key: &str, class: &str, v: Option<f64>, format: &Option<String>) -> FinalAgg {
    let v = v.filter(|x| x.is_finite());
    let mut fields = Map::new();
    fields.insert("value".into(), opt_num(v));
    let fmt = fmt_of(format);
    if let (Some(x), false) = (v, fmt.is_raw()) {
        fields.insert("value_as_string".into(), Value::from(fmt.format_f64(x)));
    }
    FinalAgg {
        name: p.name.clone(),
        type_key: type_key.into(),
        class: class.into(),
        meta: p.meta.clone(),
        body: Body::Metric { fields, value: MetricValue::Single(v) },
    }
}

/// Resolves a path inside a bucket (`_count`, `_key`, `sum`, `stats.avg`, `filter>sum`, `pct[99.0]`);
/// `Ok(None)` for a missing or non-finite value.
pub(crate) fn bucket_value(b: &FinalBucket, path: &str) -> Result<Option<f64>, EsError> {
    match path {
        "_count" => return Ok(Some(b.doc_count as f64)),
        "_key" => return Ok(b.key_num),
        _ => {}
    }
    resolve_in(&b.aggs, path, b.doc_count)
}

fn resolve_in(aggs: &[FinalAgg], path: &str, doc_count: u64) -> Result<Option<f64>, EsError> {
    let (first, rest) = match path.split_once('>') {
        Some((a, b)) => (a, Some(b)),
        None => (path, None),
    };
    if first == "_count" && rest.is_none() {
        return Ok(Some(doc_count as f64));
    }
    let (name, key) = split_key(first);
    let Some(a) = aggs.iter().find(|a| a.name == name) else {
        return Err(exec_error(format!("No aggregation found for path [{path}]")));
    };
    let type_error = |what: &str| {
        exec_error(format!(
            "buckets_path must reference either a number value or a single value numeric metric aggregation, got: [{what}] at aggregation [{name}]"
        ))
    };
    match &a.body {
        Body::Metric { value, .. } => {
            if rest.is_some() {
                return Err(type_error(&a.class));
            }
            match value {
                MetricValue::Single(v) => match key {
                    None | Some("value") => Ok(v.filter(|x| x.is_finite())),
                    Some(k) => {
                        Err(exec_error(format!("Unknown value key [{k}] for single-value metric aggregation [{name}]")))
                    }
                },
                MetricValue::Named(vals) => {
                    let Some(k) = key else {
                        return Err(exec_error(format!(
                            "buckets_path must reference either a number value or a single value numeric metric aggregation, but [{name}] contains multiple values. Please specify which to use."
                        )));
                    };
                    let found = vals
                        .iter()
                        .find(|(n, _)| n == k || (k.parse::<f64>().ok().is_some_and(|x| java_double(x) == *n)));
                    match found {
                        Some((_, v)) => Ok(v.filter(|x| x.is_finite())),
                        None => Err(exec_error(format!("Unknown value key [{k}] for aggregation [{name}]"))),
                    }
                }
            }
        }
        Body::Single { doc_count, aggs } => match rest {
            Some(r) => resolve_in(aggs, r, *doc_count),
            None => match key {
                None | Some("_count") | Some("doc_count") => Ok(Some(*doc_count as f64)),
                Some(k) => Err(exec_error(format!("Unknown value key [{k}] for single-bucket aggregation [{name}]"))),
            },
        },
        Body::Multi { .. } => Err(type_error(if rest.is_some() { "Object[]" } else { &a.class })),
        Body::TopHits { .. } => Err(type_error(&a.class)),
    }
}

/// A bucket's value for a pipeline, with ES's gap handling (empty buckets are gaps, except for
/// `_count`).
fn resolve_gap(b: &FinalBucket, path: &str, gap: GapPolicy) -> Result<Option<f64>, EsError> {
    let v = bucket_value(b, path)?;
    let is_count = path == "_count";
    let gap_hit = v.is_none_or(|x| !x.is_finite()) || (b.doc_count == 0 && !is_count);
    if !gap_hit {
        return Ok(v);
    }
    Ok(match gap {
        GapPolicy::InsertZeros => Some(0.0),
        GapPolicy::Skip => None,
        GapPolicy::KeepValues => v.filter(|x| x.is_finite()),
    })
}

/// Pipelines in dependency order (a pipeline reading another one runs after it).
fn ordered(pipelines: &[PipelineNode]) -> Vec<&PipelineNode> {
    let mut out: Vec<&PipelineNode> = Vec::new();
    let mut pending: Vec<&PipelineNode> = pipelines.iter().collect();
    while !pending.is_empty() {
        let before = pending.len();
        pending.retain(|p| {
            let dep = p.first_path_element();
            let waits = dep.is_some_and(|d| {
                pipelines.iter().any(|o| o.name == d && o.name != p.name) && !out.iter().any(|o| o.name == d)
            });
            if waits {
                true
            } else {
                out.push(p);
                false
            }
        });
        if pending.len() == before {
            out.append(&mut pending);
        }
    }
    out
}

/// Runs the sibling pipelines of one level (the top level or a bucket's sub-aggregations).
pub(crate) fn apply_siblings(
    aggs: &mut Vec<FinalAgg>,
    _nodes: &[AggNode],
    pipelines: &[PipelineNode],
) -> Result<(), EsError> {
    for p in ordered(pipelines) {
        let PipelineKind::BucketMetric { metric, path, gap, format } = &p.kind else { continue };
        let (first, rest) = match path.split_once('>') {
            Some((a, b)) => (a, b.to_string()),
            None => (path.as_str(), "_count".to_string()),
        };
        let (first_name, first_key) = split_key(first);
        let Some(target) = aggs.iter().find(|a| a.name == first_name) else {
            return Err(exec_error(format!("No aggregation found for path [{path}]")));
        };
        let Body::Multi { buckets, .. } = &target.body else {
            return Err(exec_error(format!(
                "buckets_path must reference a multi-bucket aggregation, got: [{}] for aggregation [{}]",
                target.class, p.name
            )));
        };
        let rest = match (path.split_once('>'), first_key) {
            (None, Some(k)) => k.to_string(),
            _ => rest,
        };
        let mut values: Vec<(String, f64)> = Vec::new();
        for b in buckets {
            if let Some(v) = resolve_gap(b, &rest, *gap)? {
                values.push((b.key_string.clone(), v));
            }
        }
        let result = bucket_metric(p, metric, &values, format);
        aggs.push(result);
    }
    Ok(())
}

fn bucket_metric(
    p: &PipelineNode,
    metric: &BucketMetric,
    values: &[(String, f64)],
    format: &Option<String>,
) -> FinalAgg {
    let fmt = fmt_of(format);
    match metric {
        BucketMetric::Max | BucketMetric::Min => {
            let max = matches!(metric, BucketMetric::Max);
            let mut best: Option<f64> = None;
            let mut keys: Vec<String> = Vec::new();
            for (k, v) in values {
                match best {
                    Some(b) if (max && *v < b) || (!max && *v > b) => {}
                    Some(b) if *v == b => keys.push(k.clone()),
                    _ => {
                        best = Some(*v);
                        keys = vec![k.clone()];
                    }
                }
            }
            let mut fields = Map::new();
            fields.insert("value".into(), opt_num(best));
            if let (Some(x), false) = (best, fmt.is_raw()) {
                fields.insert("value_as_string".into(), Value::from(fmt.format_f64(x)));
            }
            fields.insert("keys".into(), Value::Array(keys.into_iter().map(Value::from).collect()));
            FinalAgg {
                name: p.name.clone(),
                type_key: "bucket_metric_value".into(),
                class: "InternalBucketMetricValue".into(),
                meta: p.meta.clone(),
                body: Body::Metric { fields, value: MetricValue::Single(best) },
            }
        }
        BucketMetric::Avg => {
            let v = (!values.is_empty()).then(|| values.iter().map(|(_, v)| v).sum::<f64>() / values.len() as f64);
            value_agg(p, "simple_value", "InternalSimpleValue", v, format)
        }
        BucketMetric::Sum => {
            value_agg(p, "simple_value", "InternalSimpleValue", Some(values.iter().map(|(_, v)| v).sum()), format)
        }
        BucketMetric::Stats | BucketMetric::ExtendedStats { .. } => {
            let count = values.len() as u64;
            let sum: f64 = values.iter().map(|(_, v)| v).sum();
            let sum_sq: f64 = values.iter().map(|(_, v)| v * v).sum();
            let min = values.iter().map(|(_, v)| *v).fold(f64::INFINITY, f64::min);
            let max = values.iter().map(|(_, v)| *v).fold(f64::NEG_INFINITY, f64::max);
            let sigma = match metric {
                BucketMetric::ExtendedStats { sigma } => Some(*sigma),
                _ => None,
            };
            let (fields, named) = stats_fields(count, sum, min, max, sum_sq, sigma, &fmt);
            let (tk, class) = if sigma.is_some() {
                ("extended_stats_bucket", "InternalExtendedStatsBucket")
            } else {
                ("stats_bucket", "InternalStatsBucket")
            };
            FinalAgg {
                name: p.name.clone(),
                type_key: tk.into(),
                class: class.into(),
                meta: p.meta.clone(),
                body: Body::Metric { fields, value: MetricValue::Named(named) },
            }
        }
        BucketMetric::Percentiles { percents, keyed } => {
            let mut sorted: Vec<f64> = values.iter().map(|(_, v)| *v).collect();
            sorted.sort_by(|a, b| a.total_cmp(b));
            let named: Vec<(String, Option<f64>)> = percents
                .iter()
                .map(|p| {
                    let v = if sorted.is_empty() {
                        None
                    } else {
                        let idx = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
                        Some(sorted[idx.min(sorted.len() - 1)])
                    };
                    (java_double(*p), v)
                })
                .collect();
            let values = if *keyed {
                let mut m = Map::new();
                for (k, v) in &named {
                    m.insert(k.clone(), opt_num(*v));
                }
                Value::Object(m)
            } else {
                Value::Array(
                    percents
                        .iter()
                        .zip(&named)
                        .map(|(p, (_, v))| {
                            let mut m = Map::new();
                            m.insert("key".into(), num(*p));
                            m.insert("value".into(), opt_num(*v));
                            Value::Object(m)
                        })
                        .collect(),
                )
            };
            let mut fields = Map::new();
            fields.insert("values".into(), values);
            FinalAgg {
                name: p.name.clone(),
                type_key: "percentiles_bucket".into(),
                class: "InternalPercentilesBucket".into(),
                meta: p.meta.clone(),
                body: Body::Metric { fields, value: MetricValue::Named(named) },
            }
        }
    }
}

/// Runs the parent pipelines declared inside a multi-bucket aggregation over its buckets.
pub(crate) fn apply_parents(agg: &mut FinalAgg, node: &AggNode) -> Result<(), EsError> {
    let Body::Multi { buckets, .. } = &mut agg.body else { return Ok(()) };
    for p in ordered(&node.pipelines) {
        match &p.kind {
            PipelineKind::BucketMetric { .. } => {}
            PipelineKind::CumulativeSum { path, format } => {
                let mut sum = 0.0;
                for b in buckets.iter_mut() {
                    if let Some(v) = resolve_gap(b, path, GapPolicy::InsertZeros)? {
                        sum += v;
                    }
                    let a = value_agg(p, "simple_value", "InternalSimpleValue", Some(sum), format);
                    b.aggs.push(a);
                }
            }
            PipelineKind::Derivative { path, gap, unit, format } => {
                let mut last: Option<(f64, Option<f64>)> = None;
                for b in buckets.iter_mut() {
                    let key = b.key_num.unwrap_or(0.0);
                    let v = resolve_gap(b, path, *gap)?;
                    if let (Some((lk, Some(lv))), Some(cur)) = (last, v) {
                        let d = cur - lv;
                        let mut a = value_agg(p, "derivative", "InternalDerivative", Some(d), format);
                        if let (Some(u), Body::Metric { fields, .. }) = (unit, &mut a.body) {
                            let x = (key - lk) / *u as f64;
                            fields.insert("normalized_value".into(), opt_num(Some(d / x)));
                        }
                        b.aggs.push(a);
                    }
                    if v.is_some() || *gap != GapPolicy::Skip {
                        last = Some((key, v));
                    } else if last.is_none() {
                        last = Some((key, None));
                    }
                }
            }
            PipelineKind::SerialDiff { path, gap, lag, format } => {
                let values: Vec<Option<f64>> =
                    buckets.iter().map(|b| resolve_gap(b, path, *gap)).collect::<Result<_, _>>()?;
                for (i, b) in buckets.iter_mut().enumerate() {
                    if i < *lag {
                        continue;
                    }
                    if let (Some(cur), Some(prev)) = (values[i], values[i - lag]) {
                        b.aggs.push(value_agg(p, "simple_value", "InternalSimpleValue", Some(cur - prev), format));
                    }
                }
            }
            PipelineKind::MovingFn { path, gap, window, shift, func, format } => {
                let values: Vec<Option<f64>> =
                    buckets.iter().map(|b| resolve_gap(b, path, *gap)).collect::<Result<_, _>>()?;
                for (i, b) in buckets.iter_mut().enumerate() {
                    if values[i].is_none() && *gap == GapPolicy::Skip {
                        continue;
                    }
                    let end = (i as i64 + shift).clamp(0, values.len() as i64) as usize;
                    let start = (i as i64 + shift - *window as i64).clamp(0, values.len() as i64) as usize;
                    let win: Vec<f64> = values[start.min(end)..end].iter().flatten().copied().collect();
                    let v = moving(*func, &win);
                    b.aggs.push(value_agg(p, "simple_value", "InternalSimpleValue", Some(v), format));
                }
            }
            PipelineKind::BucketSort { sort, from, size, gap } => {
                let mut keyed: Vec<(Vec<f64>, FinalBucket)> = Vec::new();
                for b in std::mem::take(buckets) {
                    let mut vals = Vec::new();
                    let mut skip = false;
                    for (path, _) in sort {
                        let v = if path == "_key" { b.key_num.or(Some(0.0)) } else { resolve_gap(&b, path, *gap)? };
                        match v {
                            Some(x) => vals.push(x),
                            None => skip = true,
                        }
                    }
                    if !skip {
                        keyed.push((vals, b));
                    }
                }
                if !sort.is_empty() {
                    keyed.sort_by(|a, b| {
                        for (i, (_, asc)) in sort.iter().enumerate() {
                            let o = a.0[i].total_cmp(&b.0[i]);
                            let o = if *asc { o } else { o.reverse() };
                            if o != std::cmp::Ordering::Equal {
                                return o;
                            }
                        }
                        std::cmp::Ordering::Equal
                    });
                }
                *buckets = keyed.into_iter().map(|(_, b)| b).skip(*from).take(size.unwrap_or(usize::MAX)).collect();
            }
        }
    }
    Ok(())
}

/// ES's `MovingFunctions`.
fn moving(func: MovingFunction, values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let n = values.len() as f64;
    match func {
        MovingFunction::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        MovingFunction::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
        MovingFunction::Sum => values.iter().sum(),
        MovingFunction::UnweightedAvg => values.iter().sum::<f64>() / n,
        MovingFunction::LinearWeightedAvg => {
            let mut avg = 0.0;
            let mut total = 0.0;
            for (i, v) in values.iter().enumerate() {
                let w = (i + 1) as f64;
                avg += v * w;
                total += w;
            }
            avg / total
        }
        MovingFunction::Ewma(alpha) => {
            let mut avg = f64::NAN;
            for v in values {
                avg = if avg.is_nan() { *v } else { v * alpha + avg * (1.0 - alpha) };
            }
            avg
        }
        MovingFunction::StdDev => {
            let avg = values.iter().sum::<f64>() / n;
            (values.iter().map(|v| (v - avg) * (v - avg)).sum::<f64>() / n).sqrt()
        }
    }
}
