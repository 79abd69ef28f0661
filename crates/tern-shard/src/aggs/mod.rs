//! Elasticsearch aggregations over a shard's fast fields, merged exactly across shards.
//!
//! # Flow
//!
//! 1. The coordinator parses the request's `aggs` once ([`AggRequest::parse`]), with ES's parse and
//!    validation errors; nothing there needs a mapping.
//! 2. Each shard binds the tree to its mapping (field types, date formats, `missing` values, filter
//!    queries compiled to tantivy weights) and runs one collector in the same pass as the top hits
//!    (a tantivy tuple collector). Per segment, every aggregation collects `(doc, owning bucket
//!    ordinal)` pairs, as ES's aggregators do, so sub-aggregations cost one state per bucket, not one
//!    collector per bucket.
//! 3. Segment results are merged, then trimmed the way an ES shard trims them (`shard_size`, top
//!    hits loaded, composite pages) into an opaque [`AggPartial`].
//! 4. The coordinator merges the partials of all shards ([`AggPartial::merge`]) and reduces them
//!    into final results ([`AggPartial::finalize`]): bucket sizes and orders, `min_doc_count`, empty
//!    histogram buckets, `doc_count_error_upper_bound`, then the pipeline aggregations.
//!    [`AggResults::to_json`] renders them (with `typed_keys` on request).
//!
//! # Why not tantivy's aggregation module
//!
//! tantivy's aggregations (`tantivy::aggregation`) take ES-shaped JSON, but their results differ
//! from ES in ways clients see (key types, `key_as_string`, date keys as tantivy dates while tern
//! stores epoch milliseconds in plain i64 columns, unmapped fields, `min_doc_count: 0` on terms,
//! error bounds), and their tree cannot host the aggregations tantivy lacks (`filters` compiled by
//! tern's query compiler, `date_range`, `missing`, `global`, `composite` with date sources in a
//! time zone, `top_hits` with tern's sort semantics) under or above its own. Mixing two engines in
//! one tree was not workable, so tern collects with its own small engine here and uses tantivy for
//! what it does best: fast-field columns, queries and collection.

mod collect;
mod date;
mod numfmt;
mod partial;
mod pipeline;
mod reduce;
mod request;
mod sketch;
mod values;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::cmp::Ordering;
use tern_common::{ErrorKind, EsError};

pub(crate) use collect::{BindCtx, bind, finish};
pub(crate) use partial::{ShardAccess, TopHit as TopHitRef};
pub use request::AggRequest;
pub(crate) use request::TopHitsSpec as TopHitsRender;

use partial::Partial;

/// A shard's (or several shards') intermediate aggregation results.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AggPartial {
    pub(crate) aggs: Vec<Partial>,
}

/// Options of the final reduction.
#[derive(Debug, Clone, Copy)]
pub struct FinalizeOptions {
    /// `search.max_buckets`.
    pub max_buckets: usize,
}

impl Default for FinalizeOptions {
    fn default() -> Self {
        FinalizeOptions { max_buckets: 65_536 }
    }
}

/// Final aggregation results, ready to render.
#[derive(Debug, Clone, Default)]
pub struct AggResults {
    pub(crate) aggs: Vec<reduce::FinalAgg>,
}

impl AggPartial {
    /// Empty results for a request (no shard answered).
    pub fn empty(req: &AggRequest) -> AggPartial {
        AggPartial { aggs: req.aggs.iter().map(Partial::empty).collect() }
    }

    /// Merges another shard's results into these.
    pub fn merge(&mut self, other: AggPartial) {
        if self.aggs.is_empty() {
            self.aggs = other.aggs;
            return;
        }
        for (a, b) in self.aggs.iter_mut().zip(other.aggs) {
            a.merge(b);
        }
    }

    /// The final reduction: sizes, orders, empty buckets, pipelines.
    pub fn finalize(self, req: &AggRequest, opts: &FinalizeOptions) -> Result<AggResults, EsError> {
        let partials = if self.aggs.len() == req.aggs.len() { self } else { AggPartial::empty(req) };
        reduce::finalize(partials.aggs, req, opts)
    }
}

impl AggResults {
    /// The `aggregations` object of a search response.
    pub fn to_json(&self, typed_keys: bool, total_hits_as_int: bool) -> Value {
        reduce::render(&self.aggs, typed_keys, total_hits_as_int)
    }

    pub fn is_empty(&self) -> bool {
        self.aggs.is_empty()
    }
}

/// An IP key as ES prints it.
pub(crate) fn ip_string(v: u128) -> String {
    numfmt::ip_to_string(v)
}

/// ES's `too_many_buckets_exception`.
pub(crate) fn too_many_buckets(max: usize) -> EsError {
    EsError::new(
        ErrorKind::IllegalArgument,
        format!(
            "Trying to create too many buckets. Must be less than or equal to: [{max}]. This limit can be set by changing the [search.max_buckets] cluster level setting."
        ),
    )
    .with_type("too_many_buckets_exception")
    .with("max_buckets", max as u64)
}

/// How values render as strings (ES's `DocValueFormat`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) enum Fmt {
    #[default]
    Raw,
    Date {
        pattern: String,
        tz: Option<String>,
    },
    Bool,
    Ip,
    Decimal(String),
}

impl Fmt {
    pub(crate) fn is_raw(&self) -> bool {
        matches!(self, Fmt::Raw)
    }

    pub(crate) fn format_f64(&self, v: f64) -> String {
        match self {
            Fmt::Raw | Fmt::Ip => numfmt::java_double(v),
            Fmt::Date { .. } => self.format_i64(v as i64),
            Fmt::Bool => (v != 0.0).to_string(),
            Fmt::Decimal(p) => match numfmt::DecimalFormat::parse(p) {
                Ok(f) => f.format(v),
                Err(_) => numfmt::java_double(v),
            },
        }
    }

    pub(crate) fn format_i64(&self, v: i64) -> String {
        match self {
            Fmt::Raw | Fmt::Ip => v.to_string(),
            Fmt::Date { pattern, tz } => {
                let tz = tz
                    .as_deref()
                    .and_then(|t| tern_mapping::date::Tz::parse(t).ok())
                    .unwrap_or(tern_mapping::date::Tz::UTC);
                match tern_mapping::date::DateFormat::cached(pattern) {
                    Ok(f) => f.format_millis_tz(v, &tz),
                    Err(_) => v.to_string(),
                }
            }
            Fmt::Bool => (v != 0).to_string(),
            Fmt::Decimal(_) => self.format_f64(v as f64),
        }
    }

    /// Keeps the first informative format when results of several shards meet.
    pub(crate) fn merge(&mut self, other: &Fmt) {
        if self.is_raw() && !other.is_raw() {
            *self = other.clone();
        }
    }
}

/// A bucket key of `terms`-like aggregations.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum TermKey {
    Str(String),
    Long(i64),
    Double(f64),
    Ip(u128),
}

impl TermKey {
    fn rank(&self) -> u8 {
        match self {
            TermKey::Long(_) | TermKey::Double(_) => 0,
            TermKey::Ip(_) => 1,
            TermKey::Str(_) => 2,
        }
    }
}

impl PartialEq for TermKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for TermKey {}
impl PartialOrd for TermKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for TermKey {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (TermKey::Str(a), TermKey::Str(b)) => a.cmp(b),
            (TermKey::Long(a), TermKey::Long(b)) => a.cmp(b),
            (TermKey::Double(a), TermKey::Double(b)) => a.total_cmp(b),
            (TermKey::Long(a), TermKey::Double(b)) => (*a as f64).total_cmp(b),
            (TermKey::Double(a), TermKey::Long(b)) => a.total_cmp(&(*b as f64)),
            (TermKey::Ip(a), TermKey::Ip(b)) => a.cmp(b),
            (a, b) => a.rank().cmp(&b.rank()),
        }
    }
}
impl std::hash::Hash for TermKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match self {
            TermKey::Str(s) => {
                0u8.hash(state);
                s.hash(state);
            }
            // Longs and doubles that compare equal must hash equal.
            TermKey::Long(n) => {
                1u8.hash(state);
                (*n as f64).to_bits().hash(state);
            }
            TermKey::Double(f) => {
                1u8.hash(state);
                (if *f == 0.0 { 0.0f64 } else { *f }).to_bits().hash(state);
            }
            TermKey::Ip(v) => {
                2u8.hash(state);
                v.hash(state);
            }
        }
    }
}

/// ES's `CompensatedSum` (Kahan summation).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub(crate) struct KahanSum {
    pub value: f64,
    delta: f64,
}

impl KahanSum {
    pub(crate) fn add(&mut self, v: f64) {
        if !v.is_finite() {
            self.value += v;
        }
        if self.value.is_finite() {
            let corrected = v + self.delta;
            let updated = self.value + corrected;
            self.delta = corrected - (updated - self.value);
            self.value = updated;
        }
    }
}

/// A `top_hits` document's `_source`, filtered by the aggregation's `_source` option.
pub(crate) fn filter_source(source: &[u8], filter: &tern_query::SourceFilter) -> Option<Value> {
    if filter.fetch() == Some(false) {
        return None;
    }
    let v: Value = serde_json::from_slice(source).ok()?;
    let (inc, exc) = (filter.includes(), filter.excludes());
    if inc.is_empty() && exc.is_empty() {
        return Some(v);
    }
    Some(filter_value(&v, "", inc, exc, inc.is_empty()).unwrap_or_else(|| Value::Object(Default::default())))
}

fn glob(pattern: &str, s: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == s,
        Some((head, tail)) => {
            let Some(rest) = s.strip_prefix(head) else { return false };
            tail.is_empty() || rest.char_indices().map(|(i, _)| i).chain([rest.len()]).any(|i| glob(tail, &rest[i..]))
        }
    }
}

fn may_include_below(pattern: &str, path: &str) -> bool {
    let prefix = format!("{path}.");
    match pattern.split_once('*') {
        None => pattern.starts_with(&prefix),
        Some((head, _)) => head.starts_with(&prefix) || prefix.starts_with(head),
    }
}

fn filter_value(v: &Value, path: &str, inc: &[String], exc: &[String], included: bool) -> Option<Value> {
    match v {
        Value::Object(m) => {
            let mut out = serde_json::Map::new();
            for (k, c) in m {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                if exc.iter().any(|e| glob(e, &p)) {
                    continue;
                }
                let inc_here = included || inc.iter().any(|i| glob(i, &p));
                if (inc_here || inc.iter().any(|i| may_include_below(i, &p)))
                    && let Some(x) = filter_value(c, &p, inc, exc, inc_here)
                {
                    out.insert(k.clone(), x);
                }
            }
            if out.is_empty() && !included { None } else { Some(Value::Object(out)) }
        }
        Value::Array(a) => {
            let items: Vec<Value> = a.iter().filter_map(|x| filter_value(x, path, inc, exc, included)).collect();
            if items.is_empty() && !included { None } else { Some(Value::Array(items)) }
        }
        other => included.then(|| other.clone()),
    }
}

#[cfg(test)]
mod tests;
