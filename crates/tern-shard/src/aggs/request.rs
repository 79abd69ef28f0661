//! Parsing the `aggs` section of a search into a tree of [`AggNode`]s, with ES's errors.
//!
//! Parsing happens once, on the coordinating node, before any shard runs (as in ES, where the
//! request's aggregation builders are parsed and validated there). Everything that needs the
//! mapping — field types, date formats, query compilation — is left to the shard's bind step.

use std::collections::HashSet;

use serde_json::{Map, Value};
use tern_common::{ErrorKind, EsError};
use tern_query::{QueryAst, SortSpec, SourceFilter};

use super::date::{CalUnit, Interval, parse_offset, parse_time_millis};

/// A parsed `aggs` section.
#[derive(Debug, Clone, Default)]
pub struct AggRequest {
    pub(crate) aggs: Vec<AggNode>,
    pub(crate) pipelines: Vec<PipelineNode>,
    /// The `aggs` JSON this was parsed from: what a shard on another node receives and parses again.
    source: Value,
}

/// One aggregation of the tree.
#[derive(Debug, Clone)]
pub(crate) struct AggNode {
    pub name: String,
    /// The ES type name (`terms`, `avg`, ...).
    pub ty: &'static str,
    pub meta: Option<Value>,
    pub kind: AggKind,
    pub subs: Vec<AggNode>,
    pub pipelines: Vec<PipelineNode>,
}

/// `field`, `missing`, `value_type`, `format` (and `time_zone` for date aggregations).
#[derive(Debug, Clone, Default)]
pub(crate) struct VsSpec {
    pub field: Option<String>,
    pub missing: Option<Value>,
    pub value_type: Option<String>,
    pub format: Option<String>,
    pub time_zone: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum MetricOp {
    Avg,
    Sum,
    Min,
    Max,
    Stats,
    ExtendedStats { sigma: f64 },
    ValueCount,
    Cardinality { precision_threshold: u64 },
    MedianAbsoluteDeviation { compression: f64 },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum PercentileMethod {
    TDigest { compression: f64 },
    Hdr { digits: u32 },
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum OrderBy {
    Count,
    Key,
    /// A sub-aggregation path: `the_max`, `stats.avg`, `filter>the_max`, `pct[99.0]`.
    Path(String),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Order {
    pub by: OrderBy,
    pub asc: bool,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct IncludeExclude {
    pub include_re: Option<String>,
    pub exclude_re: Option<String>,
    pub include_values: Option<Vec<Value>>,
    pub exclude_values: Option<Vec<Value>>,
    /// `(partition, num_partitions)`.
    pub partition: Option<(i64, i64)>,
}

impl IncludeExclude {
    pub(crate) fn is_regex(&self) -> bool {
        self.include_re.is_some() || self.exclude_re.is_some()
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.include_re.is_none()
            && self.exclude_re.is_none()
            && self.include_values.is_none()
            && self.exclude_values.is_none()
            && self.partition.is_none()
    }
}

#[derive(Debug, Clone)]
pub(crate) struct TermsSpec {
    pub vs: VsSpec,
    pub size: usize,
    pub shard_size: Option<usize>,
    pub min_doc_count: u64,
    pub shard_min_doc_count: u64,
    pub order: Vec<Order>,
    pub include: IncludeExclude,
    pub show_term_doc_count_error: bool,
}

/// `significant_terms` scoring.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum SigHeuristic {
    Jlh,
    Percentage,
}

#[derive(Debug, Clone)]
pub(crate) struct SigTermsSpec {
    pub vs: VsSpec,
    pub size: usize,
    pub shard_size: Option<usize>,
    pub min_doc_count: u64,
    pub shard_min_doc_count: u64,
    pub include: IncludeExclude,
    pub heuristic: SigHeuristic,
}

#[derive(Debug, Clone)]
pub(crate) struct RareTermsSpec {
    pub vs: VsSpec,
    pub max_doc_count: u64,
    pub include: IncludeExclude,
}

#[derive(Debug, Clone)]
pub(crate) struct HistogramSpec {
    pub vs: VsSpec,
    pub interval: f64,
    pub offset: f64,
    pub min_doc_count: u64,
    pub extended_bounds: Option<(Option<f64>, Option<f64>)>,
    pub hard_bounds: Option<(Option<f64>, Option<f64>)>,
    pub keyed: bool,
    pub order: Vec<Order>,
}

#[derive(Debug, Clone)]
pub(crate) struct DateHistogramSpec {
    pub vs: VsSpec,
    pub interval: Interval,
    pub offset: i64,
    pub min_doc_count: u64,
    /// Raw bounds (dates or numbers), parsed with the field's format on the shard.
    pub extended_bounds: Option<(Option<Value>, Option<Value>)>,
    pub hard_bounds: Option<(Option<Value>, Option<Value>)>,
    pub keyed: bool,
    pub order: Vec<Order>,
}

#[derive(Debug, Clone)]
pub(crate) struct AutoDateHistogramSpec {
    pub vs: VsSpec,
    pub buckets: usize,
    pub minimum_interval: Option<CalUnit>,
}

#[derive(Debug, Clone)]
pub(crate) struct RangeSpec {
    pub vs: VsSpec,
    /// `(key, from, to)`, raw (numbers, or dates for `date_range`).
    pub ranges: Vec<(Option<String>, Option<Value>, Option<Value>)>,
    pub keyed: bool,
}

/// An `ip_range` range: `(key, from, to, mask)`.
pub(crate) type IpRangeEntry = (Option<String>, Option<String>, Option<String>, Option<String>);

/// `min`/`max` of `extended_bounds` or `hard_bounds`, raw.
pub(crate) type RawBounds = Option<(Option<Value>, Option<Value>)>;

#[derive(Debug, Clone)]
pub(crate) struct IpRangeSpec {
    pub vs: VsSpec,
    pub ranges: Vec<IpRangeEntry>,
    pub keyed: bool,
}

#[derive(Debug, Clone)]
pub(crate) enum CompositeSourceKind {
    Terms,
    Histogram { interval: f64 },
    DateHistogram { interval: Interval, offset: i64 },
}

#[derive(Debug, Clone)]
pub(crate) struct CompositeSource {
    pub name: String,
    pub kind: CompositeSourceKind,
    pub vs: VsSpec,
    pub missing_bucket: bool,
    pub asc: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct CompositeSpec {
    pub sources: Vec<CompositeSource>,
    pub size: usize,
    pub after: Option<Map<String, Value>>,
}

#[derive(Debug, Clone)]
pub(crate) struct TopHitsSpec {
    pub from: usize,
    pub size: usize,
    pub sort: Vec<SortSpec>,
    pub source: SourceFilter,
    pub version: bool,
    pub seq_no_primary_term: bool,
    pub track_scores: bool,
}

#[derive(Debug, Clone)]
pub(crate) enum AggKind {
    Metric { op: MetricOp, vs: VsSpec },
    Percentiles { vs: VsSpec, percents: Vec<f64>, keyed: bool, method: PercentileMethod },
    PercentileRanks { vs: VsSpec, values: Vec<f64>, keyed: bool, method: PercentileMethod },
    WeightedAvg { value: VsSpec, weight: VsSpec, format: Option<String> },
    TopHits(TopHitsSpec),
    Terms(TermsSpec),
    RareTerms(RareTermsSpec),
    SignificantTerms(SigTermsSpec),
    Histogram(HistogramSpec),
    DateHistogram(DateHistogramSpec),
    AutoDateHistogram(AutoDateHistogramSpec),
    Range(RangeSpec),
    DateRange(RangeSpec),
    IpRange(IpRangeSpec),
    Filter(QueryAst),
    Filters { filters: Vec<(String, QueryAst)>, keyed: bool, other_bucket: Option<String> },
    AdjacencyMatrix { filters: Vec<(String, QueryAst)>, separator: String },
    Missing(VsSpec),
    Global,
    Composite(CompositeSpec),
}

impl AggKind {
    /// Aggregations whose results are buckets (and so may hold sub-aggregations).
    pub(crate) fn is_bucket(&self) -> bool {
        !matches!(
            self,
            AggKind::Metric { .. }
                | AggKind::Percentiles { .. }
                | AggKind::PercentileRanks { .. }
                | AggKind::WeightedAvg { .. }
                | AggKind::TopHits(_)
        )
    }

    /// Bucket aggregations with many buckets (what sibling pipelines and `bucket_sort` walk).
    pub(crate) fn is_multi_bucket(&self) -> bool {
        self.is_bucket() && !matches!(self, AggKind::Filter(_) | AggKind::Missing(_) | AggKind::Global)
    }

    pub(crate) fn is_histogram_like(&self) -> bool {
        matches!(self, AggKind::Histogram(_) | AggKind::DateHistogram(_) | AggKind::AutoDateHistogram(_))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GapPolicy {
    Skip,
    InsertZeros,
    KeepValues,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum BucketMetric {
    Max,
    Min,
    Avg,
    Sum,
    Stats,
    ExtendedStats { sigma: f64 },
    Percentiles { percents: Vec<f64>, keyed: bool },
}

#[derive(Debug, Clone)]
pub(crate) enum PipelineKind {
    /// A sibling pipeline over the buckets of `path`'s first element.
    BucketMetric {
        metric: BucketMetric,
        path: String,
        gap: GapPolicy,
        format: Option<String>,
    },
    CumulativeSum {
        path: String,
        format: Option<String>,
    },
    Derivative {
        path: String,
        gap: GapPolicy,
        unit: Option<i64>,
        format: Option<String>,
    },
    SerialDiff {
        path: String,
        gap: GapPolicy,
        lag: usize,
        format: Option<String>,
    },
    MovingFn {
        path: String,
        gap: GapPolicy,
        window: usize,
        shift: i64,
        func: MovingFunction,
        format: Option<String>,
    },
    BucketSort {
        sort: Vec<(String, bool)>,
        from: usize,
        size: Option<usize>,
        gap: GapPolicy,
    },
}

/// The `MovingFunctions` scripts `moving_fn` understands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum MovingFunction {
    Max,
    Min,
    Sum,
    UnweightedAvg,
    LinearWeightedAvg,
    Ewma(f64),
    StdDev,
}

#[derive(Debug, Clone)]
pub(crate) struct PipelineNode {
    pub name: String,
    pub ty: &'static str,
    pub meta: Option<Value>,
    pub kind: PipelineKind,
}

impl PipelineNode {
    /// The first aggregation name of the pipeline's `buckets_path` (what it depends on).
    pub(crate) fn first_path_element(&self) -> Option<&str> {
        let path = match &self.kind {
            PipelineKind::BucketMetric { path, .. }
            | PipelineKind::CumulativeSum { path, .. }
            | PipelineKind::Derivative { path, .. }
            | PipelineKind::SerialDiff { path, .. }
            | PipelineKind::MovingFn { path, .. } => path.as_str(),
            PipelineKind::BucketSort { .. } => return None,
        };
        Some(path.split(['>', '.', '[']).next().unwrap_or(path))
    }

    pub(crate) fn is_parent_pipeline(&self) -> bool {
        !matches!(self.kind, PipelineKind::BucketMetric { .. })
    }
}

/// ES's registered aggregation names (for `did you mean`).
const ALL_TYPES: &[&str] = &[
    "adjacency_matrix",
    "auto_date_histogram",
    "avg",
    "avg_bucket",
    "boxplot",
    "bucket_correlation",
    "bucket_count_ks_test",
    "bucket_script",
    "bucket_selector",
    "bucket_sort",
    "cardinality",
    "categorize_text",
    "change_point",
    "children",
    "composite",
    "cumulative_cardinality",
    "cumulative_sum",
    "date_histogram",
    "date_range",
    "derivative",
    "diversified_sampler",
    "extended_stats",
    "extended_stats_bucket",
    "filter",
    "filters",
    "frequent_item_sets",
    "geo_bounds",
    "geo_centroid",
    "geo_distance",
    "geo_line",
    "geohash_grid",
    "geohex_grid",
    "geotile_grid",
    "global",
    "histogram",
    "inference",
    "ip_prefix",
    "ip_range",
    "matrix_stats",
    "max",
    "max_bucket",
    "median_absolute_deviation",
    "min",
    "min_bucket",
    "missing",
    "moving_fn",
    "moving_percentiles",
    "multi_terms",
    "nested",
    "normalize",
    "parent",
    "percentile_ranks",
    "percentiles",
    "percentiles_bucket",
    "random_sampler",
    "range",
    "rare_terms",
    "rate",
    "reverse_nested",
    "sampler",
    "scripted_metric",
    "serial_diff",
    "significant_terms",
    "significant_text",
    "stats",
    "stats_bucket",
    "string_stats",
    "sum",
    "sum_bucket",
    "t_test",
    "terms",
    "time_series",
    "top_hits",
    "top_metrics",
    "value_count",
    "variable_width_histogram",
    "weighted_avg",
];

/// Lucene's `LevenshteinDistance.getDistance`: `1 - distance / max(len)`.
fn similarity(a: &str, b: &str) -> f32 {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.is_empty() || b.is_empty() {
        return if a == b { 1.0 } else { 0.0 };
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j + 1] + 1).min(cur[j] + 1).min(prev[j] + cost);
        }
        prev = cur;
    }
    1.0 - prev[b.len()] as f32 / a.len().max(b.len()) as f32
}

/// ES's `SuggestingErrorOnUnknown.suggest`: ` did you mean [x]?` / ` did you mean any of [a, b]?`.
pub(crate) fn did_you_mean(unknown: &str, candidates: &[&str]) -> String {
    let mut scored: Vec<(f32, &str)> =
        candidates.iter().map(|c| (similarity(unknown, c), *c)).filter(|(d, _)| *d > 0.5).collect();
    if scored.is_empty() {
        return String::new();
    }
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    let keys: Vec<&str> = scored.into_iter().map(|(_, k)| k).collect();
    if keys.len() == 1 {
        format!(" did you mean [{}]?", keys[0])
    } else {
        format!(" did you mean any of [{}]?", keys.join(", "))
    }
}

fn parsing(reason: impl Into<String>) -> EsError {
    EsError::new(ErrorKind::Parsing, reason)
}

fn xcontent(reason: impl Into<String>) -> EsError {
    EsError::new(ErrorKind::XContentParse, reason)
}

fn token_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "VALUE_NULL",
        Value::Bool(_) => "VALUE_BOOLEAN",
        Value::Number(_) => "VALUE_NUMBER",
        Value::String(_) => "VALUE_STRING",
        Value::Array(_) => "START_ARRAY",
        Value::Object(_) => "START_OBJECT",
    }
}

/// Typed access to one aggregation's options with ES's parse errors.
struct Opts<'a> {
    ty: &'a str,
    name: &'a str,
    map: &'a Map<String, Value>,
}

impl<'a> Opts<'a> {
    fn check(&self, known: &[&str]) -> Result<(), EsError> {
        for k in self.map.keys() {
            if !known.contains(&k.as_str()) {
                return Err(xcontent(format!("[{}] unknown field [{k}]{}", self.ty, did_you_mean(k, known))));
            }
        }
        Ok(())
    }

    fn get(&self, k: &str) -> Option<&'a Value> {
        self.map.get(k).filter(|v| !v.is_null())
    }

    fn bad(&self, k: &str) -> EsError {
        xcontent(format!("[{}] failed to parse field [{k}]", self.ty))
    }

    fn f64(&self, k: &str) -> Result<Option<f64>, EsError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(Value::String(s)) => s.trim().parse::<f64>().map(Some).map_err(|_| self.bad(k)),
            Some(_) => Err(self.bad(k)),
        }
    }

    fn i64(&self, k: &str) -> Result<Option<i64>, EsError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(i) => Ok(Some(i)),
                None => n.as_f64().filter(|f| f.fract() == 0.0).map(|f| Some(f as i64)).ok_or_else(|| self.bad(k)),
            },
            Some(Value::String(s)) => s.trim().parse::<i64>().map(Some).map_err(|_| self.bad(k)),
            Some(_) => Err(self.bad(k)),
        }
    }

    fn bool(&self, k: &str) -> Result<Option<bool>, EsError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s == "true" => Ok(Some(true)),
            Some(Value::String(s)) if s == "false" => Ok(Some(false)),
            Some(_) => Err(self.bad(k)),
        }
    }

    fn string(&self, k: &str) -> Result<Option<String>, EsError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(_) => Err(self.bad(k)),
        }
    }

    fn object(&self, k: &str) -> Result<Option<&'a Map<String, Value>>, EsError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(_) => Err(self.bad(k)),
        }
    }

    fn sub(&self, ty: &'a str, map: &'a Map<String, Value>) -> Opts<'a> {
        Opts { ty, name: self.name, map }
    }

    /// `field`, `script`, `missing`, `value_type`, `format`, `time_zone`.
    fn values_source(&self, field_required: bool) -> Result<VsSpec, EsError> {
        if self.get("script").is_some() {
            return Err(EsError::illegal_argument(format!(
                "[script] is not supported in aggregation [{}]: tern does not run scripts",
                self.name
            )));
        }
        let field = self.string("field")?;
        if field.is_none() && field_required {
            return Err(EsError::illegal_argument("Required one of fields [field, script], but none were specified. "));
        }
        let value_type = self.string("value_type")?.or(self.string("valueType")?);
        if let Some(vt) = &value_type {
            const TYPES: &[&str] =
                &["string", "long", "double", "number", "date", "date_nanos", "ip", "numeric", "boolean", "keyword"];
            if !TYPES.contains(&vt.as_str()) {
                return Err(EsError::illegal_argument(format!("Unknown value type [{vt}]")));
            }
        }
        Ok(VsSpec {
            field,
            missing: self.get("missing").cloned(),
            value_type,
            format: self.string("format")?,
            time_zone: self.string("time_zone")?,
        })
    }
}

const VS_FIELDS: &[&str] = &["field", "script", "missing", "value_type", "format"];

fn with_vs(extra: &[&'static str]) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = VS_FIELDS.to_vec();
    v.extend_from_slice(extra);
    v
}

impl AggRequest {
    /// Parses an `aggs`/`aggregations` object.
    /// The request as it was given.
    pub fn source(&self) -> &Value {
        &self.source
    }

    pub fn parse(v: &Value) -> Result<AggRequest, EsError> {
        let (aggs, pipelines) = parse_aggs(v, None, 0)?;
        let mut errors = Vec::new();
        validate_pipelines(&aggs, &pipelines, None, &mut errors);
        validate_tree(&aggs, &mut errors);
        if !errors.is_empty() {
            return Err(EsError::validation(&errors));
        }
        Ok(AggRequest { aggs, pipelines, source: v.clone() })
    }

    pub fn is_empty(&self) -> bool {
        self.aggs.is_empty() && self.pipelines.is_empty()
    }

    /// Checks request-level limits that depend on cluster settings (a `composite` `size` above
    /// `search.max_buckets`).
    pub fn check_max_buckets(&self, max_buckets: usize) -> Result<(), EsError> {
        fn walk(nodes: &[AggNode], max: usize) -> Result<(), EsError> {
            for n in nodes {
                if let AggKind::Composite(c) = &n.kind
                    && c.size > max
                {
                    return Err(super::too_many_buckets(max));
                }
                walk(&n.subs, max)?;
            }
            Ok(())
        }
        walk(&self.aggs, max_buckets)
    }
}

const MAX_DEPTH: usize = 64;

fn parse_aggs(
    v: &Value,
    parent: Option<(&str, &'static str)>,
    depth: usize,
) -> Result<(Vec<AggNode>, Vec<PipelineNode>), EsError> {
    if depth > MAX_DEPTH {
        return Err(parsing("aggregations are nested too deeply"));
    }
    let Value::Object(map) = v else {
        return Err(parsing(format!("Unexpected token {} in [aggs].", token_name(v))));
    };
    let mut aggs = Vec::new();
    let mut pipelines = Vec::new();
    let mut names = HashSet::new();
    for (name, def) in map {
        if name.contains(['[', ']', '>']) {
            return Err(parsing(format!(
                "Invalid aggregation name [{name}]. Aggregation names can contain any character except '[', ']', and '>'"
            )));
        }
        if !names.insert(name.clone()) {
            return Err(EsError::illegal_argument(format!(
                "Two sibling aggregations cannot have the same name: [{name}]"
            )));
        }
        let Value::Object(def) = def else {
            return Err(parsing(format!(
                "Aggregation definition for [{name} starts with a [{}], expected a [START_OBJECT].",
                token_name(def)
            )));
        };
        let mut meta = None;
        let mut subs_json: Option<&Value> = None;
        let mut type_def: Option<(&str, &Value)> = None;
        for (key, body) in def {
            match key.as_str() {
                "meta" => match body {
                    Value::Object(_) => meta = Some(body.clone()),
                    other => {
                        return Err(parsing(format!(
                            "Expected [START_OBJECT] under [meta], but got a [{}] in [{name}]",
                            token_name(other)
                        )));
                    }
                },
                "aggs" | "aggregations" => {
                    if subs_json.is_some() {
                        return Err(parsing(format!("Found two sub aggregation definitions under [{name}]")));
                    }
                    if !body.is_object() {
                        return Err(parsing(format!(
                            "Expected [START_OBJECT] under [{key}], but got a [{}] in [{name}]",
                            token_name(body)
                        )));
                    }
                    subs_json = Some(body);
                }
                ty => {
                    if let Some((first, _)) = type_def {
                        return Err(parsing(format!(
                            "Found two aggregation type definitions in [{name}]: [{first}] and [{ty}]"
                        )));
                    }
                    if !body.is_object() {
                        return Err(parsing(format!(
                            "Expected [START_OBJECT] under [{ty}], but got a [{}] in [{name}]",
                            token_name(body)
                        )));
                    }
                    type_def = Some((ty, body));
                }
            }
        }
        let Some((ty, body)) = type_def else {
            return Err(parsing(format!("Missing definition for aggregation [{name}]")));
        };
        let body = body.as_object().expect("checked above");
        match parse_type(ty, name, body, parent)? {
            Parsed::Agg(static_ty, kind) => {
                let kind = *kind;
                let (subs, sub_pipelines) = match subs_json {
                    Some(s) => parse_aggs(s, Some((name, static_ty)), depth + 1)?,
                    None => (vec![], vec![]),
                };
                if !kind.is_bucket() && (!subs.is_empty() || !sub_pipelines.is_empty()) {
                    return Err(EsError::new(
                        ErrorKind::IllegalArgument,
                        format!("Aggregator [{name}] of type [{static_ty}] cannot accept sub-aggregations"),
                    )
                    .with_type("aggregation_initialization_exception"));
                }
                aggs.push(AggNode { name: name.clone(), ty: static_ty, meta, kind, subs, pipelines: sub_pipelines });
            }
            Parsed::Pipeline(static_ty, kind) => {
                if subs_json.is_some_and(|s| s.as_object().is_some_and(|m| !m.is_empty())) {
                    return Err(EsError::new(
                        ErrorKind::IllegalArgument,
                        format!("Aggregator [{name}] of type [{static_ty}] cannot accept sub-aggregations"),
                    )
                    .with_type("aggregation_initialization_exception"));
                }
                pipelines.push(PipelineNode { name: name.clone(), ty: static_ty, meta, kind });
            }
        }
    }
    Ok((aggs, pipelines))
}

enum Parsed {
    Agg(&'static str, Box<AggKind>),
    Pipeline(&'static str, PipelineKind),
}

impl Parsed {
    fn agg(ty: &'static str, kind: AggKind) -> Parsed {
        Parsed::Agg(ty, Box::new(kind))
    }
}

fn static_type(ty: &str) -> Option<&'static str> {
    ALL_TYPES.iter().find(|t| **t == ty).copied()
}

fn unsupported(ty: &str, why: &str) -> EsError {
    EsError::illegal_argument(format!("aggregation type [{ty}] is not supported by tern: {why}"))
}

fn parse_type(
    ty: &str,
    name: &str,
    body: &Map<String, Value>,
    parent: Option<(&str, &'static str)>,
) -> Result<Parsed, EsError> {
    let Some(sty) = static_type(ty) else {
        return Err(parsing(format!("Unknown aggregation type [{ty}]{}", did_you_mean(ty, ALL_TYPES))));
    };
    let o = Opts { ty: sty, name, map: body };
    let metric = |op: MetricOp, extra: &[&'static str]| -> Result<Parsed, EsError> {
        o.check(&with_vs(extra))?;
        Ok(Parsed::agg(sty, AggKind::Metric { op, vs: o.values_source(true)? }))
    };
    match sty {
        "avg" => metric(MetricOp::Avg, &[]),
        "sum" => metric(MetricOp::Sum, &[]),
        "min" => metric(MetricOp::Min, &[]),
        "max" => metric(MetricOp::Max, &[]),
        "stats" => metric(MetricOp::Stats, &[]),
        "value_count" => metric(MetricOp::ValueCount, &[]),
        "extended_stats" => {
            let sigma = o.f64("sigma")?.unwrap_or(2.0);
            if sigma < 0.0 {
                return Err(EsError::illegal_argument(format!(
                    "[sigma] must be greater than or equal to 0. Found [{}] in [{name}]",
                    super::numfmt::java_double(sigma)
                )));
            }
            metric(MetricOp::ExtendedStats { sigma }, &["sigma"])
        }
        "cardinality" => {
            let pt = o.i64("precision_threshold")?.unwrap_or(3000);
            if pt < 0 {
                return Err(EsError::illegal_argument(format!(
                    "[precisionThreshold] must be greater than or equal to 0. Found [{pt}] in [{name}]"
                )));
            }
            metric(
                MetricOp::Cardinality { precision_threshold: pt as u64 },
                &["precision_threshold", "execution_hint", "rehash"],
            )
        }
        "median_absolute_deviation" => {
            let compression = o.f64("compression")?.unwrap_or(1000.0);
            if compression <= 0.0 {
                return Err(EsError::illegal_argument(format!(
                    "[compression] must be greater than 0. Found [{}] in [{name}]",
                    super::numfmt::java_double(compression)
                )));
            }
            metric(MetricOp::MedianAbsoluteDeviation { compression }, &["compression", "execution_hint"])
        }
        "percentiles" | "percentile_ranks" => parse_percentiles(&o, sty),
        "weighted_avg" => {
            o.check(&["value", "weight", "format", "value_type"])?;
            let part = |k: &str| -> Result<VsSpec, EsError> {
                let m = o.object(k)?.ok_or_else(|| xcontent(format!("[{sty}] Required [{k}]")))?;
                let sub = o.sub(sty, m);
                sub.check(&["field", "missing", "script", "value_type"])?;
                sub.values_source(true)
            };
            Ok(Parsed::agg(
                sty,
                AggKind::WeightedAvg { value: part("value")?, weight: part("weight")?, format: o.string("format")? },
            ))
        }
        "top_hits" => parse_top_hits(&o).map(|t| Parsed::agg(sty, AggKind::TopHits(t))),
        "terms" => parse_terms(&o).map(|t| Parsed::agg(sty, AggKind::Terms(t))),
        "rare_terms" => {
            o.check(&with_vs(&["max_doc_count", "precision", "include", "exclude"]))?;
            let max_doc_count = o.i64("max_doc_count")?.unwrap_or(1);
            if max_doc_count <= 0 {
                return Err(EsError::illegal_argument(format!(
                    "[maxDocCount] must be greater than 0. Found [{max_doc_count}] in [{name}]"
                )));
            }
            if max_doc_count > 100 {
                return Err(EsError::illegal_argument(
                    "[max_doc_count] must be smaller than or equal to [100].".to_string(),
                ));
            }
            Ok(Parsed::agg(
                sty,
                AggKind::RareTerms(RareTermsSpec {
                    vs: o.values_source(true)?,
                    max_doc_count: max_doc_count as u64,
                    include: parse_include_exclude(&o)?,
                }),
            ))
        }
        "significant_terms" => {
            o.check(&with_vs(&[
                "size",
                "shard_size",
                "min_doc_count",
                "shard_min_doc_count",
                "include",
                "exclude",
                "execution_hint",
                "background_filter",
                "jlh",
                "mutual_information",
                "chi_square",
                "gnd",
                "percentage",
                "script_heuristic",
                "p_value",
            ]))?;
            if o.get("background_filter").is_some() {
                return Err(unsupported(sty, "[background_filter] is not supported"));
            }
            for h in ["mutual_information", "chi_square", "gnd", "script_heuristic", "p_value"] {
                if o.get(h).is_some() {
                    return Err(unsupported(sty, &format!("the [{h}] significance heuristic is not supported")));
                }
            }
            let heuristic = if o.get("percentage").is_some() { SigHeuristic::Percentage } else { SigHeuristic::Jlh };
            let vs = o.values_source(true)?;
            let size = o.i64("size")?.unwrap_or(10);
            if size <= 0 {
                return Err(EsError::illegal_argument(format!(
                    "[size] must be greater than 0. Found [{size}] in [{name}]"
                )));
            }
            let shard_size = o.i64("shard_size")?;
            let min_doc_count = o.i64("min_doc_count")?.unwrap_or(3);
            if min_doc_count < 0 {
                return Err(EsError::illegal_argument(format!(
                    "[minDocCount] must be greater than or equal to 0. Found [{min_doc_count}] in [{name}]"
                )));
            }
            Ok(Parsed::agg(
                sty,
                AggKind::SignificantTerms(SigTermsSpec {
                    vs,
                    size: size as usize,
                    shard_size: shard_size.filter(|s| *s > 0).map(|s| s as usize),
                    min_doc_count: min_doc_count as u64,
                    shard_min_doc_count: o.i64("shard_min_doc_count")?.unwrap_or(0).max(0) as u64,
                    include: parse_include_exclude(&o)?,
                    heuristic,
                }),
            ))
        }
        "histogram" => parse_histogram(&o).map(|h| Parsed::agg(sty, AggKind::Histogram(h))),
        "date_histogram" => parse_date_histogram(&o).map(|h| Parsed::agg(sty, AggKind::DateHistogram(h))),
        "auto_date_histogram" => {
            o.check(&with_vs(&["time_zone", "buckets", "minimum_interval"]))?;
            let buckets = o.i64("buckets")?.unwrap_or(10);
            if buckets <= 0 {
                return Err(EsError::illegal_argument(format!(
                    "[buckets] must be greater than 0. Found [{buckets}] in [{name}]"
                )));
            }
            let minimum_interval = match o.string("minimum_interval")? {
                None => None,
                Some(s) => Some(match s.as_str() {
                    "second" => CalUnit::Second,
                    "minute" => CalUnit::Minute,
                    "hour" => CalUnit::Hour,
                    "day" => CalUnit::Day,
                    "month" => CalUnit::Month,
                    "year" => CalUnit::Year,
                    _ => {
                        return Err(EsError::illegal_argument(format!(
                            "minimum_interval must be one of [second, minute, hour, day, month, year]; found [{s}]"
                        )));
                    }
                }),
            };
            Ok(Parsed::agg(
                sty,
                AggKind::AutoDateHistogram(AutoDateHistogramSpec {
                    vs: o.values_source(true)?,
                    buckets: buckets as usize,
                    minimum_interval,
                }),
            ))
        }
        "range" | "date_range" => {
            let mut known = with_vs(&["ranges", "keyed"]);
            if sty == "date_range" {
                known.push("time_zone");
            }
            o.check(&known)?;
            let ranges = match o.get("ranges") {
                Some(Value::Array(a)) => a,
                Some(_) => return Err(o.bad("ranges")),
                None => {
                    return Err(EsError::illegal_argument(format!(
                        "No [ranges] specified for the [{name}] aggregation"
                    )));
                }
            };
            let mut out = Vec::new();
            for r in ranges {
                let Value::Object(m) = r else { return Err(o.bad("ranges")) };
                let ro = o.sub(sty, m);
                ro.check(&["key", "from", "to"])?;
                out.push((ro.string("key")?, ro.get("from").cloned(), ro.get("to").cloned()));
            }
            if out.is_empty() {
                return Err(EsError::illegal_argument(format!("No [ranges] specified for the [{name}] aggregation")));
            }
            let spec = RangeSpec { vs: o.values_source(true)?, ranges: out, keyed: o.bool("keyed")?.unwrap_or(false) };
            Ok(Parsed::agg(sty, if sty == "range" { AggKind::Range(spec) } else { AggKind::DateRange(spec) }))
        }
        "ip_range" => {
            o.check(&with_vs(&["ranges", "keyed"]))?;
            let ranges = match o.get("ranges") {
                Some(Value::Array(a)) => a,
                Some(_) => return Err(o.bad("ranges")),
                None => {
                    return Err(EsError::illegal_argument(format!(
                        "No [ranges] specified for the [{name}] aggregation"
                    )));
                }
            };
            let mut out = Vec::new();
            for r in ranges {
                let Value::Object(m) = r else { return Err(o.bad("ranges")) };
                let ro = o.sub(sty, m);
                ro.check(&["key", "from", "to", "mask"])?;
                let mask = ro.string("mask")?;
                if let Some(mk) = &mask
                    && super::numfmt::parse_cidr(mk).is_none()
                {
                    return Err(EsError::illegal_argument(format!("Expected [ip/prefix] but was [{mk}]")));
                }
                for k in ["from", "to"] {
                    if let Some(s) = ro.string(k)?
                        && super::numfmt::parse_ip(&s).is_none()
                    {
                        return Err(EsError::illegal_argument(format!("'{s}' is not an IP string literal.")));
                    }
                }
                out.push((ro.string("key")?, ro.string("from")?, ro.string("to")?, mask));
            }
            if out.is_empty() {
                return Err(EsError::illegal_argument(format!("No [ranges] specified for the [{name}] aggregation")));
            }
            Ok(Parsed::agg(
                sty,
                AggKind::IpRange(IpRangeSpec {
                    vs: o.values_source(true)?,
                    ranges: out,
                    keyed: o.bool("keyed")?.unwrap_or(false),
                }),
            ))
        }
        "filter" => {
            let q = tern_query::parse_query(&Value::Object(body.clone())).map_err(EsError::from)?;
            Ok(Parsed::agg(sty, AggKind::Filter(q)))
        }
        "filters" => {
            o.check(&["filters", "other_bucket", "other_bucket_key", "keyed"])?;
            let (filters, named) = parse_filter_list(&o)?;
            let other_key = o.string("other_bucket_key")?;
            let other = match (o.bool("other_bucket")?, other_key) {
                (Some(false), _) => None,
                (Some(true), k) => Some(k.unwrap_or_else(|| "_other_".to_string())),
                (None, Some(k)) => Some(k),
                (None, None) => None,
            };
            let keyed = named && o.bool("keyed")?.unwrap_or(true);
            Ok(Parsed::agg(sty, AggKind::Filters { filters, keyed, other_bucket: other }))
        }
        "adjacency_matrix" => {
            o.check(&["filters", "separator"])?;
            let Some(m) = o.object("filters")? else {
                return Err(EsError::illegal_argument("[filters] cannot be empty."));
            };
            let mut filters = Vec::new();
            for (k, q) in m {
                filters.push((k.clone(), tern_query::parse_query(q).map_err(EsError::from)?));
            }
            if filters.is_empty() {
                return Err(EsError::illegal_argument("[filters] cannot be empty."));
            }
            filters.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(Parsed::agg(
                sty,
                AggKind::AdjacencyMatrix {
                    filters,
                    separator: o.string("separator")?.unwrap_or_else(|| "&".to_string()),
                },
            ))
        }
        "missing" => {
            o.check(VS_FIELDS)?;
            Ok(Parsed::agg(sty, AggKind::Missing(o.values_source(true)?)))
        }
        "global" => {
            o.check(&[])?;
            if let Some((p, _)) = parent {
                return Err(EsError::new(
                    ErrorKind::IllegalArgument,
                    format!(
                        "Aggregation [{p}] cannot have a global sub-aggregation [{name}]. Global aggregations can only be defined as top level aggregations"
                    ),
                )
                .with_type("aggregation_initialization_exception"));
            }
            Ok(Parsed::agg(sty, AggKind::Global))
        }
        "composite" => {
            let spec = parse_composite(&o)?;
            if let Some((_, pty)) = parent {
                return Err(EsError::illegal_argument(format!(
                    "[composite] aggregation cannot be used with a parent aggregation of type: [{}]",
                    factory_name(pty)
                )));
            }
            Ok(Parsed::agg(sty, AggKind::Composite(spec)))
        }
        // Pipelines
        "max_bucket"
        | "min_bucket"
        | "avg_bucket"
        | "sum_bucket"
        | "stats_bucket"
        | "extended_stats_bucket"
        | "percentiles_bucket" => {
            let mut known = vec!["buckets_path", "gap_policy", "format"];
            if sty == "extended_stats_bucket" {
                known.push("sigma");
            }
            if sty == "percentiles_bucket" {
                known.extend(["percents", "keyed"]);
            }
            o.check(&known)?;
            let metric = match sty {
                "max_bucket" => BucketMetric::Max,
                "min_bucket" => BucketMetric::Min,
                "avg_bucket" => BucketMetric::Avg,
                "sum_bucket" => BucketMetric::Sum,
                "stats_bucket" => BucketMetric::Stats,
                "extended_stats_bucket" => {
                    let sigma = o.f64("sigma")?.unwrap_or(2.0);
                    if sigma < 0.0 {
                        return Err(EsError::illegal_argument(format!(
                            "[sigma] must be greater than or equal to 0. Found [{}] in [{name}]",
                            super::numfmt::java_double(sigma)
                        )));
                    }
                    BucketMetric::ExtendedStats { sigma }
                }
                _ => {
                    let percents = match o.get("percents") {
                        None => vec![1.0, 5.0, 25.0, 50.0, 75.0, 95.0, 99.0],
                        Some(Value::Array(a)) => {
                            let mut p = Vec::new();
                            for v in a {
                                let x = v.as_f64().ok_or_else(|| o.bad("percents"))?;
                                if !(0.0..=100.0).contains(&x) {
                                    return Err(EsError::illegal_argument(format!(
                                        "The percent value [{}] must be a double between 0.0 and 100.0",
                                        super::numfmt::java_double(x)
                                    )));
                                }
                                p.push(x);
                            }
                            p
                        }
                        Some(_) => return Err(o.bad("percents")),
                    };
                    BucketMetric::Percentiles { percents, keyed: o.bool("keyed")?.unwrap_or(true) }
                }
            };
            Ok(Parsed::Pipeline(
                sty,
                PipelineKind::BucketMetric {
                    metric,
                    path: buckets_path(&o)?,
                    gap: gap_policy(&o)?,
                    format: o.string("format")?,
                },
            ))
        }
        "cumulative_sum" => {
            o.check(&["buckets_path", "format"])?;
            Ok(Parsed::Pipeline(
                sty,
                PipelineKind::CumulativeSum { path: buckets_path(&o)?, format: o.string("format")? },
            ))
        }
        "derivative" => {
            o.check(&["buckets_path", "gap_policy", "format", "unit"])?;
            let unit = match o.string("unit")? {
                None => None,
                Some(u) => Some(match CalUnit::parse(&u) {
                    Some(c) => c.approx_millis(),
                    None => {
                        parse_time_millis(&u).ok_or_else(|| EsError::illegal_argument(format!("Unknown unit [{u}]")))?
                    }
                }),
            };
            Ok(Parsed::Pipeline(
                sty,
                PipelineKind::Derivative {
                    path: buckets_path(&o)?,
                    gap: gap_policy(&o)?,
                    unit,
                    format: o.string("format")?,
                },
            ))
        }
        "serial_diff" => {
            o.check(&["buckets_path", "gap_policy", "format", "lag"])?;
            let lag = o.i64("lag")?.unwrap_or(1);
            if lag <= 0 {
                return Err(EsError::illegal_argument("[lag] must be a positive integer: [".to_string() + name + "]"));
            }
            Ok(Parsed::Pipeline(
                sty,
                PipelineKind::SerialDiff {
                    path: buckets_path(&o)?,
                    gap: gap_policy(&o)?,
                    lag: lag as usize,
                    format: o.string("format")?,
                },
            ))
        }
        "moving_fn" => {
            o.check(&["buckets_path", "gap_policy", "format", "window", "script", "shift"])?;
            let window = o.i64("window")?;
            if window.is_none_or(|w| w <= 0) {
                return Err(EsError::illegal_argument("[window] must be a positive, non-zero integer."));
            }
            let script = match o.get("script") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Object(m)) => m.get("source").and_then(Value::as_str).unwrap_or_default().to_string(),
                _ => return Err(xcontent("[moving_fn] Required [script]")),
            };
            let func = moving_function(&script).ok_or_else(|| {
                unsupported(sty, &format!("the script [{script}] is not one of the MovingFunctions tern evaluates"))
            })?;
            Ok(Parsed::Pipeline(
                sty,
                PipelineKind::MovingFn {
                    path: buckets_path(&o)?,
                    gap: gap_policy(&o)?,
                    window: window.unwrap_or(1) as usize,
                    shift: o.i64("shift")?.unwrap_or(0),
                    func,
                    format: o.string("format")?,
                },
            ))
        }
        "bucket_sort" => {
            o.check(&["sort", "from", "size", "gap_policy"])?;
            let mut sort = Vec::new();
            let items: Vec<Value> = match o.get("sort") {
                None => vec![],
                Some(Value::Array(a)) => a.clone(),
                Some(v) => vec![v.clone()],
            };
            for item in items {
                match item {
                    Value::String(s) => sort.push((s.clone(), s == "_score")),
                    Value::Object(m) => {
                        for (k, v) in m {
                            let order = match &v {
                                Value::String(s) => s.clone(),
                                Value::Object(inner) => {
                                    inner.get("order").and_then(Value::as_str).unwrap_or("asc").to_string()
                                }
                                _ => return Err(o.bad("sort")),
                            };
                            let asc = match order.to_ascii_lowercase().as_str() {
                                "asc" => true,
                                "desc" => false,
                                _ => return Err(o.bad("sort")),
                            };
                            sort.push((k.clone(), !asc));
                        }
                    }
                    _ => return Err(o.bad("sort")),
                }
            }
            // Stored as (path, descending).
            let sort = sort.into_iter().map(|(p, desc)| (p, !desc)).collect();
            let from = o.i64("from")?.unwrap_or(0);
            if from < 0 {
                return Err(EsError::illegal_argument(format!(
                    "[from] must be greater than or equal to 0. Found [{from}] in [{name}]"
                )));
            }
            let size = o.i64("size")?;
            if let Some(s) = size
                && s <= 0
            {
                return Err(EsError::illegal_argument(format!(
                    "[size] must be greater than 0. Found [{s}] in [{name}]"
                )));
            }
            Ok(Parsed::Pipeline(
                sty,
                PipelineKind::BucketSort {
                    sort,
                    from: from as usize,
                    size: size.map(|s| s as usize),
                    gap: gap_policy(&o)?,
                },
            ))
        }
        "bucket_script" | "bucket_selector" => {
            Err(unsupported(sty, "it evaluates a script for every bucket and tern does not run scripts"))
        }
        "scripted_metric" => Err(unsupported(sty, "tern does not run scripts")),
        "nested" | "reverse_nested" | "children" | "parent" => {
            Err(unsupported(sty, "tern does not index nested or joined documents"))
        }
        other => Err(unsupported(other, "not implemented")),
    }
}

/// The Java class of an aggregator factory, as ES names a parent in its errors.
fn factory_name(ty: &str) -> String {
    let mut out = String::new();
    for part in ty.split('_') {
        let mut c = part.chars();
        if let Some(f) = c.next() {
            out.extend(f.to_uppercase());
            out.push_str(c.as_str());
        }
    }
    format!("{out}AggregationFactory")
}

fn moving_function(script: &str) -> Option<MovingFunction> {
    let s: String = script.chars().filter(|c| !c.is_whitespace()).collect();
    let s = s.trim_end_matches(';');
    Some(match s {
        "MovingFunctions.max(values)" => MovingFunction::Max,
        "MovingFunctions.min(values)" => MovingFunction::Min,
        "MovingFunctions.sum(values)" => MovingFunction::Sum,
        "MovingFunctions.unweightedAvg(values)" => MovingFunction::UnweightedAvg,
        "MovingFunctions.linearWeightedAvg(values)" => MovingFunction::LinearWeightedAvg,
        "MovingFunctions.stdDev(values,MovingFunctions.unweightedAvg(values))" => MovingFunction::StdDev,
        _ => {
            let inner = s.strip_prefix("MovingFunctions.ewma(values,")?.strip_suffix(')')?;
            MovingFunction::Ewma(inner.parse().ok()?)
        }
    })
}

fn buckets_path(o: &Opts) -> Result<String, EsError> {
    match o.get("buckets_path") {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(a)) if a.len() == 1 && a[0].is_string() => Ok(a[0].as_str().unwrap_or_default().to_string()),
        Some(Value::Array(_)) => Err(EsError::illegal_argument(format!(
            "[buckets_path] must contain a single entry for aggregation [{}]",
            o.name
        ))),
        Some(_) => Err(o.bad("buckets_path")),
        None => Err(EsError::illegal_argument(format!(
            "Missing required field [buckets_path] for {} aggregation [{}]",
            o.ty, o.name
        ))),
    }
}

fn gap_policy(o: &Opts) -> Result<GapPolicy, EsError> {
    Ok(match o.string("gap_policy")?.as_deref() {
        None | Some("skip") => GapPolicy::Skip,
        Some("insert_zeros") => GapPolicy::InsertZeros,
        Some("keep_values") => GapPolicy::KeepValues,
        Some(other) => {
            return Err(EsError::illegal_argument(format!(
                "Invalid gap policy: [{other}], accepted values: [insert_zeros, skip, keep_values]"
            )));
        }
    })
}

fn parse_percentiles(o: &Opts, sty: &'static str) -> Result<Parsed, EsError> {
    let ranks = sty == "percentile_ranks";
    let list_key = if ranks { "values" } else { "percents" };
    o.check(&with_vs(&[
        list_key,
        "keyed",
        "tdigest",
        "hdr",
        "method",
        "compression",
        "number_of_significant_value_digits",
    ]))?;
    let list = match o.map.get(list_key) {
        None if !ranks => vec![1.0, 5.0, 25.0, 50.0, 75.0, 95.0, 99.0],
        None => {
            return Err(EsError::illegal_argument(format!("[values] must not be null: [{}]", o.name)));
        }
        Some(Value::Null) => {
            return Err(EsError::illegal_argument(format!("[{list_key}] must not be null: [{}]", o.name)));
        }
        Some(Value::Array(a)) => {
            let mut out = Vec::with_capacity(a.len());
            for v in a {
                let x = match v {
                    Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
                    _ => return Err(o.bad(list_key)),
                };
                if !ranks && !(0.0..=100.0).contains(&x) {
                    return Err(EsError::illegal_argument(format!(
                        "percent must be in [0,100], got [{}]: [{}]",
                        super::numfmt::java_double(x),
                        o.name
                    )));
                }
                out.push(x);
            }
            if out.is_empty() {
                return Err(EsError::illegal_argument(format!("[{list_key}] must not be empty: [{}]", o.name)));
            }
            if !ranks {
                out.sort_by(|a, b| a.total_cmp(b));
            }
            out
        }
        Some(_) => return Err(o.bad(list_key)),
    };
    let tdigest = o.object("tdigest")?;
    let hdr = o.object("hdr")?;
    let method = match (tdigest, hdr) {
        (Some(_), Some(_)) => return Err(xcontent("Only one percentiles method should be declared.")),
        (_, Some(h)) => {
            let ho = o.sub(sty, h);
            ho.check(&["number_of_significant_value_digits"])?;
            let digits = match h.get("number_of_significant_value_digits") {
                Some(Value::Null) => -1,
                _ => ho.i64("number_of_significant_value_digits")?.unwrap_or(3),
            };
            if !(0..=5).contains(&digits) {
                return Err(EsError::illegal_argument(format!(
                    "[numberOfSignificantValueDigits] must be between 0 and 5: [{}]",
                    o.name
                )));
            }
            PercentileMethod::Hdr { digits: digits as u32 }
        }
        (Some(t), None) => {
            let to = o.sub(sty, t);
            to.check(&["compression", "execution_hint"])?;
            let compression = to.f64("compression")?.unwrap_or(100.0);
            if compression < 0.0 {
                return Err(EsError::illegal_argument(format!(
                    "[compression] must be greater than or equal to 0. Found [{}] in [{}]",
                    super::numfmt::java_double(compression),
                    o.name
                )));
            }
            PercentileMethod::TDigest { compression }
        }
        (None, None) => match o.string("method")?.as_deref() {
            Some("hdr") => PercentileMethod::Hdr {
                digits: o.i64("number_of_significant_value_digits")?.unwrap_or(3).clamp(0, 5) as u32,
            },
            _ => PercentileMethod::TDigest { compression: o.f64("compression")?.unwrap_or(100.0) },
        },
    };
    let vs = o.values_source(true)?;
    let keyed = o.bool("keyed")?.unwrap_or(true);
    Ok(Parsed::agg(
        sty,
        if ranks {
            AggKind::PercentileRanks { vs, values: list, keyed, method }
        } else {
            AggKind::Percentiles { vs, percents: list, keyed, method }
        },
    ))
}

fn parse_top_hits(o: &Opts) -> Result<TopHitsSpec, EsError> {
    o.check(&[
        "from",
        "size",
        "sort",
        "_source",
        "version",
        "seq_no_primary_term",
        "explain",
        "stored_fields",
        "docvalue_fields",
        "fields",
        "highlight",
        "script_fields",
        "track_scores",
    ])?;
    let mut body = Map::new();
    for k in ["sort", "_source", "version", "seq_no_primary_term", "track_scores"] {
        if let Some(v) = o.map.get(k) {
            body.insert(k.to_string(), v.clone());
        }
    }
    let parsed = tern_query::parse_search_request(&Value::Object(body)).map_err(EsError::from)?;
    let from = o.i64("from")?.unwrap_or(0);
    let size = o.i64("size")?.unwrap_or(3);
    if from < 0 {
        return Err(EsError::illegal_argument(format!(
            "[from] must be greater than or equal to 0. Found [{from}] in [{}]",
            o.name
        )));
    }
    if size < 0 {
        return Err(EsError::illegal_argument(format!(
            "[size] must be greater than or equal to 0. Found [{size}] in [{}]",
            o.name
        )));
    }
    Ok(TopHitsSpec {
        from: from as usize,
        size: size as usize,
        sort: parsed.sort,
        source: parsed.source,
        version: parsed.version.unwrap_or(false),
        seq_no_primary_term: parsed.seq_no_primary_term.unwrap_or(false),
        track_scores: parsed.track_scores,
    })
}

fn parse_order(o: &Opts, histogram: bool) -> Result<Vec<Order>, EsError> {
    let Some(v) = o.get("order") else { return Ok(vec![]) };
    let items: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    let mut out = Vec::new();
    for item in items {
        let Value::Object(m) = item else {
            return Err(parsing(format!(
                "Order elements must be of type object in [{}] found token of type [{}].",
                o.name,
                token_name(item)
            )));
        };
        for (k, dir) in m {
            let asc = match dir.as_str().map(str::to_ascii_lowercase).as_deref() {
                Some("asc") => true,
                Some("desc") => false,
                _ => {
                    return Err(parsing(format!(
                        "Unknown {} order direction [{}]",
                        if histogram { "histogram" } else { "terms" },
                        dir
                    )));
                }
            };
            let by = match k.as_str() {
                "_count" => OrderBy::Count,
                "_key" | "_term" | "_time" => OrderBy::Key,
                path => OrderBy::Path(path.to_string()),
            };
            out.push(Order { by, asc });
        }
    }
    Ok(out)
}

fn parse_include_exclude(o: &Opts) -> Result<IncludeExclude, EsError> {
    let mut ie = IncludeExclude::default();
    match o.get("include") {
        None => {}
        Some(Value::String(s)) => ie.include_re = Some(s.clone()),
        Some(Value::Array(a)) => ie.include_values = Some(a.clone()),
        Some(Value::Object(m)) => {
            let io = o.sub(o.ty, m);
            io.check(&["partition", "num_partitions"])?;
            let num = io
                .i64("num_partitions")?
                .ok_or_else(|| xcontent("Missing [num_partitions] parameter for partition-based include"))?;
            let part = io
                .i64("partition")?
                .ok_or_else(|| xcontent("Missing [partition] parameter for partition-based include"))?;
            if num <= 0 || part < 0 || part >= num {
                return Err(EsError::illegal_argument(format!("Invalid partition [{part}] of [{num}] partitions")));
            }
            ie.partition = Some((part, num));
        }
        Some(_) => return Err(o.bad("include")),
    }
    match o.get("exclude") {
        None => {}
        Some(Value::String(s)) => ie.exclude_re = Some(s.clone()),
        Some(Value::Array(a)) => ie.exclude_values = Some(a.clone()),
        Some(_) => return Err(o.bad("exclude")),
    }
    for re in [&ie.include_re, &ie.exclude_re].into_iter().flatten() {
        if regex::Regex::new(&format!("^(?:{re})$")).is_err() {
            return Err(EsError::illegal_argument(format!("Invalid regular expression [{re}]")));
        }
    }
    Ok(ie)
}

fn parse_terms(o: &Opts) -> Result<TermsSpec, EsError> {
    o.check(&with_vs(&[
        "size",
        "shard_size",
        "min_doc_count",
        "shard_min_doc_count",
        "order",
        "include",
        "exclude",
        "execution_hint",
        "collect_mode",
        "show_term_doc_count_error",
    ]))?;
    let vs = o.values_source(true)?;
    let size = o.i64("size")?.unwrap_or(10);
    if size <= 0 {
        return Err(EsError::illegal_argument(format!(
            "[size] must be greater than 0. Found [{size}] in [{}]",
            o.name
        )));
    }
    let shard_size = o.i64("shard_size")?;
    if let Some(s) = shard_size
        && s <= 0
    {
        return Err(EsError::illegal_argument(format!(
            "[shardSize] must be greater than 0. Found [{s}] in [{}]",
            o.name
        )));
    }
    let min_doc_count = o.i64("min_doc_count")?.unwrap_or(1);
    if min_doc_count < 0 {
        return Err(EsError::illegal_argument(format!(
            "[minDocCount] must be greater than or equal to 0. Found [{min_doc_count}] in [{}]",
            o.name
        )));
    }
    let shard_min_doc_count = o.i64("shard_min_doc_count")?.unwrap_or(0);
    if shard_min_doc_count < 0 {
        return Err(EsError::illegal_argument(format!(
            "[shardMinDocCount] must be greater than or equal to 0. Found [{shard_min_doc_count}] in [{}]",
            o.name
        )));
    }
    if let Some(mode) = o.string("collect_mode")?
        && mode != "depth_first"
        && mode != "breadth_first"
    {
        return Err(EsError::illegal_argument(format!("Unknown `collect_mode` [{mode}]")));
    }
    Ok(TermsSpec {
        vs,
        size: size as usize,
        shard_size: shard_size.map(|s| s as usize),
        min_doc_count: min_doc_count as u64,
        shard_min_doc_count: shard_min_doc_count as u64,
        order: parse_order(o, false)?,
        include: parse_include_exclude(o)?,
        show_term_doc_count_error: o.bool("show_term_doc_count_error")?.unwrap_or(false),
    })
}

fn parse_bounds(o: &Opts, key: &str) -> Result<RawBounds, EsError> {
    let Some(m) = o.object(key)? else { return Ok(None) };
    let bo = o.sub(o.ty, m);
    bo.check(&["min", "max"])?;
    Ok(Some((bo.get("min").cloned(), bo.get("max").cloned())))
}

fn num_bound(o: &Opts, key: &str, v: Option<Value>) -> Result<Option<f64>, EsError> {
    match v {
        None => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| o.bad(key)),
        Some(_) => Err(o.bad(key)),
    }
}

fn parse_histogram(o: &Opts) -> Result<HistogramSpec, EsError> {
    o.check(&with_vs(&["interval", "offset", "min_doc_count", "extended_bounds", "hard_bounds", "keyed", "order"]))?;
    let vs = o.values_source(true)?;
    let interval = o.f64("interval")?.ok_or_else(|| xcontent("[histogram] Required [interval]"))?;
    if interval <= 0.0 || !interval.is_finite() {
        return Err(EsError::illegal_argument(format!("[interval] must be >0 for histogram aggregation [{}]", o.name)));
    }
    let min_doc_count = o.i64("min_doc_count")?.unwrap_or(0);
    if min_doc_count < 0 {
        return Err(EsError::illegal_argument(format!(
            "[minDocCount] must be greater than or equal to 0. Found [{min_doc_count}] in [{}]",
            o.name
        )));
    }
    let eb = match parse_bounds(o, "extended_bounds")? {
        Some((a, b)) => Some((num_bound(o, "extended_bounds", a)?, num_bound(o, "extended_bounds", b)?)),
        None => None,
    };
    let hb = match parse_bounds(o, "hard_bounds")? {
        Some((a, b)) => Some((num_bound(o, "hard_bounds", a)?, num_bound(o, "hard_bounds", b)?)),
        None => None,
    };
    if let Some((Some(lo), Some(hi))) = eb
        && lo > hi
    {
        return Err(EsError::illegal_argument(format!(
            "[extended_bounds.min][{}] cannot be greater than [extended_bounds.max][{}] for histogram aggregation [{}]",
            super::numfmt::java_double(lo),
            super::numfmt::java_double(hi),
            o.name
        )));
    }
    Ok(HistogramSpec {
        vs,
        interval,
        offset: o.f64("offset")?.unwrap_or(0.0),
        min_doc_count: min_doc_count as u64,
        extended_bounds: eb,
        hard_bounds: hb,
        keyed: o.bool("keyed")?.unwrap_or(false),
        order: parse_order(o, true)?,
    })
}

/// `calendar_interval` / `fixed_interval` / legacy `interval` of a date histogram or composite
/// date source.
fn parse_interval(o: &Opts) -> Result<Interval, EsError> {
    let calendar = o.string("calendar_interval")?;
    let fixed = o.string("fixed_interval")?;
    let legacy = o.string("interval")?;
    if calendar.is_some() && fixed.is_some() {
        return Err(EsError::illegal_argument(
            "Cannot use [fixed_interval] with [calendar_interval] configuration option.",
        ));
    }
    if legacy.is_some() && (calendar.is_some() || fixed.is_some()) {
        return Err(EsError::illegal_argument(
            "Cannot use [interval] with [fixed_interval] or [calendar_interval] configuration options.",
        ));
    }
    if let Some(c) = calendar {
        return CalUnit::parse(&c).map(Interval::Calendar).ok_or_else(|| {
            EsError::illegal_argument(format!(
                "The supplied interval [{c}] could not be parsed as a calendar interval."
            ))
        });
    }
    if let Some(f) = fixed {
        return match parse_time_millis(&f) {
            Some(ms) if ms > 0 => Ok(Interval::Fixed(ms)),
            Some(_) => Err(EsError::illegal_argument("Zero or negative time interval not supported")),
            None => Err(EsError::illegal_argument(format!(
                "failed to parse setting [date_histogram.fixedInterval] with value [{f}] as a time value: unit is missing or unrecognized"
            ))),
        };
    }
    if let Some(l) = legacy {
        if let Some(c) = CalUnit::parse(&l) {
            return Ok(Interval::Calendar(c));
        }
        let ms = l.parse::<i64>().ok().or_else(|| parse_time_millis(&l));
        return match ms {
            Some(ms) if ms > 0 => Ok(Interval::Fixed(ms)),
            _ => Err(EsError::illegal_argument(format!(
                "failed to parse setting [date_histogram.interval] with value [{l}] as a time value: unit is missing or unrecognized"
            ))),
        };
    }
    Err(EsError::illegal_argument("Invalid interval specified, must be non-null and non-empty"))
}

fn parse_date_histogram(o: &Opts) -> Result<DateHistogramSpec, EsError> {
    o.check(&with_vs(&[
        "time_zone",
        "interval",
        "calendar_interval",
        "fixed_interval",
        "offset",
        "min_doc_count",
        "extended_bounds",
        "hard_bounds",
        "keyed",
        "order",
    ]))?;
    let vs = o.values_source(true)?;
    let interval = parse_interval(o)?;
    let offset = match o.get("offset") {
        None => 0,
        Some(v) => parse_offset(v).ok_or_else(|| {
            EsError::illegal_argument(format!(
                "failed to parse setting [date_histogram.offset] with value [{}] as a time value: unit is missing or unrecognized",
                v.as_str().map(String::from).unwrap_or_else(|| v.to_string())
            ))
        })?,
    };
    let min_doc_count = o.i64("min_doc_count")?.unwrap_or(0);
    if min_doc_count < 0 {
        return Err(EsError::illegal_argument(format!(
            "[minDocCount] must be greater than or equal to 0. Found [{min_doc_count}] in [{}]",
            o.name
        )));
    }
    Ok(DateHistogramSpec {
        vs,
        interval,
        offset,
        min_doc_count: min_doc_count as u64,
        extended_bounds: parse_bounds(o, "extended_bounds")?,
        hard_bounds: parse_bounds(o, "hard_bounds")?,
        keyed: o.bool("keyed")?.unwrap_or(false),
        order: parse_order(o, true)?,
    })
}

fn parse_filter_list(o: &Opts) -> Result<(Vec<(String, QueryAst)>, bool), EsError> {
    let empty = || EsError::illegal_argument("[filters] cannot be empty.");
    match o.get("filters") {
        None => Err(empty()),
        Some(Value::Object(m)) => {
            let mut out = Vec::new();
            for (k, q) in m {
                out.push((k.clone(), tern_query::parse_query(q).map_err(EsError::from)?));
            }
            if out.is_empty() {
                return Err(empty());
            }
            out.sort_by(|a, b| a.0.cmp(&b.0));
            Ok((out, true))
        }
        Some(Value::Array(a)) => {
            let mut out = Vec::new();
            for (i, q) in a.iter().enumerate() {
                out.push((i.to_string(), tern_query::parse_query(q).map_err(EsError::from)?));
            }
            if out.is_empty() {
                return Err(empty());
            }
            Ok((out, false))
        }
        Some(_) => Err(o.bad("filters")),
    }
}

fn parse_composite(o: &Opts) -> Result<CompositeSpec, EsError> {
    o.check(&["sources", "size", "after"])?;
    let sources = match o.map.get("sources") {
        None => return Err(xcontent("[composite] Required [sources]")),
        Some(Value::Null) => return Err(EsError::illegal_argument("Composite [sources] cannot be null or empty")),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(o.bad("sources")),
    };
    if sources.is_empty() {
        return Err(EsError::illegal_argument("Composite [sources] cannot be null or empty"));
    }
    let mut out = Vec::new();
    let mut names: HashSet<String> = HashSet::new();
    let mut dups: Vec<String> = Vec::new();
    for s in sources {
        let Value::Object(m) = s else { return Err(o.bad("sources")) };
        for (name, def) in m {
            let Value::Object(defm) = def else { return Err(o.bad("sources")) };
            if defm.len() != 1 {
                return Err(parsing(format!("Expected one source type for composite source [{name}]")));
            }
            let (ty, opts) = defm.iter().next().expect("one entry");
            let Value::Object(opts) = opts else { return Err(o.bad("sources")) };
            let so = Opts { ty: "composite", name: o.name, map: opts };
            let base =
                ["field", "script", "missing_bucket", "missing_order", "order", "value_type", "missing", "format"];
            let (kind, vs) = match ty.as_str() {
                "terms" => {
                    so.check(&base)?;
                    (CompositeSourceKind::Terms, so.values_source(false)?)
                }
                "histogram" => {
                    let mut known = base.to_vec();
                    known.push("interval");
                    so.check(&known)?;
                    let interval = so.f64("interval")?.ok_or_else(|| xcontent("[histogram] Required [interval]"))?;
                    if interval <= 0.0 {
                        return Err(EsError::illegal_argument(
                            "[interval] must be greater than 0 for [histogram] source",
                        ));
                    }
                    (CompositeSourceKind::Histogram { interval }, so.values_source(false)?)
                }
                "date_histogram" => {
                    let mut known = base.to_vec();
                    known.extend(["interval", "calendar_interval", "fixed_interval", "time_zone", "offset"]);
                    so.check(&known)?;
                    let interval = parse_interval(&so)?;
                    let offset = match so.get("offset") {
                        None => 0,
                        Some(v) => parse_offset(v).ok_or_else(|| so.bad("offset"))?,
                    };
                    (CompositeSourceKind::DateHistogram { interval, offset }, so.values_source(false)?)
                }
                "geotile_grid" => return Err(unsupported("geotile_grid", "tern has no geo aggregations")),
                other => {
                    return Err(parsing(format!(
                        "Unknown source type [{other}] for composite source [{name}]{}",
                        did_you_mean(other, &["terms", "histogram", "date_histogram", "geotile_grid"])
                    )));
                }
            };
            let asc = match so.string("order")?.as_deref() {
                None | Some("asc") => true,
                Some("desc") => false,
                Some(other) => return Err(EsError::illegal_argument(format!("Unknown order [{other}]"))),
            };
            if !names.insert(name.clone()) {
                dups.push(name.clone());
            }
            out.push(CompositeSource {
                name: name.clone(),
                kind,
                vs,
                missing_bucket: so.bool("missing_bucket")?.unwrap_or(false),
                asc,
            });
        }
    }
    if !dups.is_empty() {
        return Err(EsError::illegal_argument(format!(
            "Composite source names must be unique, found duplicates: [{}]",
            dups.join(", ")
        )));
    }
    let size = o.i64("size")?.unwrap_or(10);
    if size <= 0 {
        return Err(EsError::illegal_argument(format!(
            "[size] must be greater than 0. Found [{size}] in [{}]",
            o.name
        )));
    }
    let after = match o.get("after") {
        None => None,
        Some(Value::Object(m)) => {
            if m.len() != out.len() || out.iter().any(|s| !m.contains_key(&s.name)) {
                return Err(EsError::illegal_argument(format!(
                    "[after] has {} value(s) but [sources] has {}",
                    m.len(),
                    out.len()
                )));
            }
            Some(m.clone())
        }
        Some(_) => return Err(o.bad("after")),
    };
    Ok(CompositeSpec { sources: out, size: size as usize, after })
}

/// Pipeline placement rules (ES's `PipelineAggregationBuilder.validate`).
fn validate_pipelines(
    siblings: &[AggNode],
    pipelines: &[PipelineNode],
    parent: Option<&AggNode>,
    errors: &mut Vec<String>,
) {
    for p in pipelines {
        match &p.kind {
            PipelineKind::BucketSort { .. } => match parent {
                None => errors.push(format!("{} aggregation [{}] must be declared inside of another aggregation", p.ty, p.name)),
                Some(a) if !a.kind.is_multi_bucket() => errors.push(format!(
                    "{} aggregation [{}] must be declared inside of a multi-bucket aggregation",
                    p.ty, p.name
                )),
                _ => {}
            },
            PipelineKind::CumulativeSum { .. }
            | PipelineKind::Derivative { .. }
            | PipelineKind::SerialDiff { .. }
            | PipelineKind::MovingFn { .. } => match parent {
                None => errors.push(format!(
                    "{} aggregation [{}] must have a histogram, date_histogram or auto_date_histogram as parent but doesn't have a parent",
                    p.ty, p.name
                )),
                Some(a) if !a.kind.is_histogram_like() => errors.push(format!(
                    "{} aggregation [{}] must have a histogram, date_histogram or auto_date_histogram as parent",
                    p.ty, p.name
                )),
                _ => {}
            },
            PipelineKind::BucketMetric { path, .. } => {
                let first = path.split(['>', '.', '[']).next().unwrap_or(path);
                match siblings.iter().find(|s| s.name == first) {
                    None if !pipelines.iter().any(|o| o.name == first) => {
                        errors.push(format!("No aggregation found for path [{path}]"));
                    }
                    None => {}
                    Some(a) if !a.kind.is_multi_bucket() => errors.push(format!(
                        "The first aggregation in buckets_path must be a multi-bucket aggregation for aggregation [{}] found :{} for buckets path: {path}",
                        p.name,
                        factory_name(a.ty).replace("AggregationFactory", "AggregationBuilder")
                    )),
                    _ => {}
                }
            }
        }
    }
}

fn validate_tree(nodes: &[AggNode], errors: &mut Vec<String>) {
    for n in nodes {
        validate_pipelines(&n.subs, &n.pipelines, Some(n), errors);
        validate_tree(&n.subs, errors);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn unknown_type_suggests() {
        let e = AggRequest::parse(&json!({"a": {"termz": {"field": "x"}}})).unwrap_err();
        assert_eq!(e.reason, "Unknown aggregation type [termz] did you mean [terms]?");
        assert_eq!(e.es_type(), "parsing_exception");
        let e = AggRequest::parse(&json!({"a": {"significant_terms": {"field": "x", "jlp": {}}}})).unwrap_err();
        assert!(e.reason.contains("[significant_terms] unknown field [jlp] did you mean [jlh]?"), "{}", e.reason);
    }

    #[test]
    fn structure_errors() {
        let e = AggRequest::parse(&json!({"a": {}})).unwrap_err();
        assert_eq!(e.reason, "Missing definition for aggregation [a]");
        let e = AggRequest::parse(&json!({"a": {"avg": {"field": "x"}, "max": {"field": "x"}}})).unwrap_err();
        assert!(e.reason.starts_with("Found two aggregation type definitions in [a]"));
        let e = AggRequest::parse(&json!({"a": {"avg": {"field": "x"}, "aggs": {"b": {"max": {"field": "y"}}}}}))
            .unwrap_err();
        assert_eq!(e.reason, "Aggregator [a] of type [avg] cannot accept sub-aggregations");
        let e = AggRequest::parse(&json!({"a[1]": {"avg": {"field": "x"}}})).unwrap_err();
        assert!(e.reason.starts_with("Invalid aggregation name [a[1]]"));
        let e = AggRequest::parse(&json!({"a": {"terms": {"size": 1}}})).unwrap_err();
        assert!(e.reason.starts_with("Required one of fields [field, script], but none were specified"));
    }

    #[test]
    fn parameter_errors() {
        let e = AggRequest::parse(&json!({"x": {"extended_stats": {"field": "f", "sigma": -1}}})).unwrap_err();
        assert_eq!(e.reason, "[sigma] must be greater than or equal to 0. Found [-1.0] in [x]");
        let e = AggRequest::parse(&json!({"x": {"extended_stats": {"field": "f", "sigma": "foo"}}})).unwrap_err();
        assert_eq!(e.es_type(), "x_content_parse_exception");
        let e =
            AggRequest::parse(&json!({"d": {"cardinality": {"field": "f", "precision_threshold": -1}}})).unwrap_err();
        assert_eq!(e.reason, "[precisionThreshold] must be greater than or equal to 0. Found [-1] in [d]");
        let e = AggRequest::parse(&json!({"f": {"filters": {}}})).unwrap_err();
        assert_eq!(e.reason, "[filters] cannot be empty.");
        let e = AggRequest::parse(&json!({"c": {"composite": {"sources": []}}})).unwrap_err();
        assert_eq!(e.reason, "Composite [sources] cannot be null or empty");
        let e = AggRequest::parse(
            &json!({"p": {"percentiles": {"field": "f", "hdr": {"number_of_significant_value_digits": 10}}}}),
        )
        .unwrap_err();
        assert!(e.reason.starts_with("[numberOfSignificantValueDigits] must be between 0 and 5"));
    }

    #[test]
    fn pipeline_placement() {
        let e = AggRequest::parse(&json!({
            "t": {"terms": {"field": "f"}, "aggs": {"m": {"max": {"field": "f"}}}},
            "s": {"bucket_sort": {"sort": ["t>m"]}}
        }))
        .unwrap_err();
        assert!(
            e.reason.contains("bucket_sort aggregation [s] must be declared inside of another aggregation"),
            "{}",
            e.reason
        );
        let ok = AggRequest::parse(&json!({
            "h": {"date_histogram": {"field": "d", "calendar_interval": "month"},
                  "aggs": {"s": {"sum": {"field": "n"}}, "d": {"derivative": {"buckets_path": "s"}}}},
            "m": {"max_bucket": {"buckets_path": "h>s"}}
        }));
        assert!(ok.is_ok(), "{ok:?}");
        let e = AggRequest::parse(&json!({"w": {"moving_fn": {"buckets_path": "a", "window": -1, "script": "x"}}}))
            .unwrap_err();
        assert_eq!(e.reason, "[window] must be a positive, non-zero integer.");
    }
}
