//! The `_search` request body (ES's `SearchSourceBuilder`) and the URI search parameters.
//!
//! Every top-level key is accepted only for the JSON kinds ES accepts it as; anything else is ES's
//! `parsing_exception` `"Unknown key for a START_OBJECT in [foo]."` (with the kind of the offending
//! value). `highlight` is parsed into a [`Highlight`]. Sections tern hands to other components
//! unchanged (aggregations, suggest, collapse, pit, rescore, slice, ext) are kept as raw JSON.
//! Scripted features are rejected with a clear `illegal_argument_exception`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ast::{QueryAst, QueryStringQuery};
use crate::dsl::{Ctx, DEFAULT_MAX_NESTED_DEPTH, parse_inner};
use crate::error::{QueryError, QueryResult};
use crate::highlight::{Highlight, parse_highlight};
use crate::xcontent::{
    Accepts, ObjectParser, Token, bool_value, float_value, int_value, parse_bool_str, parse_java_double,
    parse_java_long, split_commas, text, token_name,
};

/// A parsed search request.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SearchRequest {
    /// `None`: match all documents.
    pub query: Option<QueryAst>,
    /// `None`: 0.
    pub from: Option<i64>,
    /// `None`: 10.
    pub size: Option<i64>,
    /// Empty: by `_score` descending.
    pub sort: Vec<SortSpec>,
    pub source: SourceFilter,
    /// `None`: ES's default, count accurately up to 10,000 hits.
    pub track_total_hits: Option<TrackTotalHits>,
    /// `aggs`/`aggregations`, raw.
    pub aggs: Option<Value>,
    pub search_after: Option<Vec<Value>>,
    pub post_filter: Option<QueryAst>,
    pub min_score: Option<f32>,
    pub terminate_after: Option<i64>,
    /// As given (`"10s"`, `"500ms"`), validated.
    pub timeout: Option<String>,
    pub explain: Option<bool>,
    pub version: Option<bool>,
    pub seq_no_primary_term: Option<bool>,
    /// `Some(["_none_"])` disables stored fields (and `_source`), as in ES.
    pub stored_fields: Option<Vec<String>>,
    pub docvalue_fields: Vec<FieldAndFormat>,
    pub fields: Vec<FieldAndFormat>,
    pub highlight: Option<Highlight>,
    pub collapse: Option<Value>,
    pub pit: Option<Value>,
    pub track_scores: bool,
    pub indices_boost: Vec<(String, f32)>,
    /// Each rescorer, raw.
    pub rescore: Vec<Value>,
    pub profile: bool,
    pub suggest: Option<Value>,
    pub slice: Option<Value>,
    pub stats: Vec<String>,
    pub ext: Option<Value>,
}

impl SearchRequest {
    /// `from`, defaulting to 0.
    pub fn from_or_default(&self) -> i64 {
        self.from.unwrap_or(0)
    }

    /// `size`, defaulting to 10.
    pub fn size_or_default(&self) -> i64 {
        self.size.unwrap_or(10)
    }
}

/// `track_total_hits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackTotalHits {
    /// `true`: count exactly; `false` (or `-1`): do not count.
    Bool(bool),
    /// Count exactly up to this many hits, then report a lower bound (`"relation": "gte"`).
    Count(i64),
}

impl TrackTotalHits {
    /// ES's default when the request does not say.
    pub const DEFAULT: TrackTotalHits = TrackTotalHits::Count(10_000);

    /// The hit count to track exactly: `None` for "do not track", `Some(i64::MAX)` for all.
    pub fn up_to(self) -> Option<i64> {
        match self {
            TrackTotalHits::Bool(true) => Some(i64::MAX),
            TrackTotalHits::Bool(false) => None,
            TrackTotalHits::Count(n) => Some(n),
        }
    }
}

/// `_source` filtering.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceFilter {
    /// Not given: the whole `_source` is returned, unless `stored_fields` is given.
    #[default]
    Unspecified,
    /// `true`/`false`, a pattern, a list of patterns, or `{"includes": .., "excludes": ..}`.
    Specified { fetch: bool, includes: Vec<String>, excludes: Vec<String> },
}

impl SourceFilter {
    /// Whether `_source` is returned, when the request says.
    pub fn fetch(&self) -> Option<bool> {
        match self {
            SourceFilter::Unspecified => None,
            SourceFilter::Specified { fetch, .. } => Some(*fetch),
        }
    }

    pub fn includes(&self) -> &[String] {
        match self {
            SourceFilter::Unspecified => &[],
            SourceFilter::Specified { includes, .. } => includes,
        }
    }

    pub fn excludes(&self) -> &[String] {
        match self {
            SourceFilter::Unspecified => &[],
            SourceFilter::Specified { excludes, .. } => excludes,
        }
    }
}

/// A `docvalue_fields` / `fields` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldAndFormat {
    pub field: String,
    pub format: Option<String>,
    pub include_unmapped: Option<bool>,
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortOrder {
    Asc,
    Desc,
}

/// How a multi-valued field is reduced to one sort value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortMode {
    Min,
    Max,
    Sum,
    Avg,
    Median,
}

/// One sort criterion. `field` is a field name, `_score` or `_doc`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SortSpec {
    pub field: String,
    /// `None`: ES's default, descending for `_score` and ascending otherwise.
    pub order: Option<SortOrder>,
    /// `_last` (default), `_first` or a value.
    pub missing: Option<Value>,
    pub unmapped_type: Option<String>,
    pub mode: Option<SortMode>,
    pub format: Option<String>,
    /// `long`, `double`, `date` or `date_nanos`.
    pub numeric_type: Option<String>,
}

impl SortSpec {
    /// A sort on `field` with default options.
    pub fn new(field: impl Into<String>) -> Self {
        SortSpec {
            field: field.into(),
            order: None,
            missing: None,
            unmapped_type: None,
            mode: None,
            format: None,
            numeric_type: None,
        }
    }

    /// Whether this is the relevance sort.
    pub fn is_score(&self) -> bool {
        self.field == "_score"
    }

    /// The direction, with ES's default applied.
    pub fn effective_order(&self) -> SortOrder {
        self.order.unwrap_or(if self.is_score() { SortOrder::Desc } else { SortOrder::Asc })
    }
}

/// Parses a `_search` body.
pub fn parse_search_request(body: &Value) -> QueryResult<SearchRequest> {
    parse_search_request_with_max_depth(body, DEFAULT_MAX_NESTED_DEPTH)
}

/// [`parse_search_request`] with a custom query nesting limit.
pub fn parse_search_request_with_max_depth(body: &Value, max_nested_depth: usize) -> QueryResult<SearchRequest> {
    let Value::Object(obj) = body else {
        return Err(QueryError::parsing(format!("Expected [START_OBJECT] but found [{}]", token_name(body))));
    };
    let mut req = SearchRequest::default();
    for (key, v) in obj {
        match Token::of(v) {
            Token::String | Token::Number | Token::Boolean => parse_value_key(&mut req, key, v)?,
            Token::StartObject => parse_object_key(&mut req, key, v, max_nested_depth)?,
            Token::StartArray => parse_array_key(&mut req, key, v)?,
            Token::Null => return Err(unknown_key(key, v)),
        }
    }
    Ok(req)
}

fn unknown_key(key: &str, v: &Value) -> QueryError {
    QueryError::parsing(format!("Unknown key for a {} in [{key}].", token_name(v)))
}

fn check_from(from: i64) -> QueryResult<i64> {
    if from < 0 {
        return Err(QueryError::illegal(format!("[from] parameter cannot be negative but was [{from}]")));
    }
    Ok(from)
}

fn check_size(size: i64) -> QueryResult<i64> {
    if size < 0 {
        return Err(QueryError::illegal(format!("[size] parameter cannot be negative, found [{size}]")));
    }
    Ok(size)
}

fn check_terminate_after(n: i64) -> QueryResult<i64> {
    if n < 0 {
        return Err(QueryError::illegal("terminateAfter must be > 0"));
    }
    Ok(n)
}

fn track_total_hits_count(n: i64) -> QueryResult<TrackTotalHits> {
    match n {
        -1 => Ok(TrackTotalHits::Bool(false)),
        n if n < -1 => {
            Err(QueryError::illegal(format!("[track_total_hits] parameter must be positive or equals to -1, got {n}")))
        }
        n => Ok(TrackTotalHits::Count(n)),
    }
}

fn parse_value_key(req: &mut SearchRequest, key: &str, v: &Value) -> QueryResult<()> {
    match key {
        "from" => req.from = Some(check_from(i64::from(int_value(v)?))?),
        "size" => req.size = Some(check_size(i64::from(int_value(v)?))?),
        "timeout" => {
            let t = text(v)?;
            parse_time_value(&t, "timeout")?;
            req.timeout = Some(t);
        }
        "terminate_after" => req.terminate_after = Some(check_terminate_after(i64::from(int_value(v)?))?),
        "min_score" => req.min_score = Some(float_value(v)?),
        "version" => req.version = Some(bool_value(v)?),
        "seq_no_primary_term" => req.seq_no_primary_term = Some(bool_value(v)?),
        "explain" => req.explain = Some(bool_value(v)?),
        "track_scores" => req.track_scores = bool_value(v)?,
        "track_total_hits" => {
            let is_bool = match v {
                Value::Bool(_) => true,
                Value::String(s) => s == "true" || s == "false",
                _ => false,
            };
            req.track_total_hits = Some(if is_bool {
                TrackTotalHits::Bool(bool_value(v)?)
            } else {
                track_total_hits_count(i64::from(int_value(v)?))?
            });
        }
        "_source" => req.source = parse_source(v)?,
        "stored_fields" => req.stored_fields = Some(parse_stored_fields(key, v)?),
        "sort" => req.sort.push(field_or_score(text(v)?)),
        "profile" => req.profile = bool_value(v)?,
        _ => return Err(unknown_key(key, v)),
    }
    Ok(())
}

fn parse_object_key(req: &mut SearchRequest, key: &str, v: &Value, max_nested_depth: usize) -> QueryResult<()> {
    let is_empty = v.as_object().is_some_and(Map::is_empty);
    match key {
        "query" => req.query = Some(parse_inner(v, &mut Ctx::new(max_nested_depth))?),
        "post_filter" => req.post_filter = Some(parse_inner(v, &mut Ctx::new(max_nested_depth))?),
        "_source" => req.source = parse_source(v)?,
        "aggregations" | "aggs" => req.aggs = Some(v.clone()),
        "highlight" => req.highlight = Some(parse_highlight(v, max_nested_depth)?),
        "suggest" => req.suggest = Some(v.clone()),
        "sort" => req.sort = parse_sort(v)?,
        "rescore" => req.rescore = vec![v.clone()],
        "ext" => req.ext = Some(v.clone()),
        "slice" => req.slice = Some(v.clone()),
        "collapse" => req.collapse = Some(v.clone()),
        "pit" => req.pit = Some(v.clone()),
        "script_fields" | "runtime_mappings" if is_empty => {}
        "script_fields" => {
            return Err(QueryError::unsupported("[script_fields] are not supported: tern does not execute scripts"));
        }
        "runtime_mappings" => {
            return Err(QueryError::unsupported("[runtime_mappings] are not supported by tern"));
        }
        "knn" => {
            return Err(QueryError::unsupported("[knn] search is not supported by tern"));
        }
        "retriever" | "rank" => {
            return Err(QueryError::unsupported(format!("[{key}] is not supported by tern")));
        }
        _ => return Err(unknown_key(key, v)),
    }
    Ok(())
}

fn parse_array_key(req: &mut SearchRequest, key: &str, v: &Value) -> QueryResult<()> {
    let Value::Array(items) = v else {
        return Err(unknown_key(key, v));
    };
    match key {
        "stored_fields" => req.stored_fields = Some(parse_stored_fields(key, v)?),
        "docvalue_fields" => {
            req.docvalue_fields = items.iter().map(parse_field_and_format).collect::<QueryResult<_>>()?
        }
        "fields" => req.fields = items.iter().map(parse_field_and_format).collect::<QueryResult<_>>()?,
        "indices_boost" => req.indices_boost = items.iter().map(parse_index_boost).collect::<QueryResult<_>>()?,
        "sort" => req.sort = parse_sort(v)?,
        "rescore" => req.rescore = items.clone(),
        "stats" => {
            let mut stats = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(s) => stats.push(s.clone()),
                    _ => {
                        return Err(QueryError::parsing(format!(
                            "Expected [VALUE_STRING] in [stats] but found [{}]",
                            token_name(item)
                        )));
                    }
                }
            }
            req.stats = stats;
        }
        "_source" => req.source = parse_source(v)?,
        "search_after" => req.search_after = Some(parse_search_after(items)?),
        "knn" if items.is_empty() => {}
        "knn" => {
            return Err(QueryError::unsupported("[knn] search is not supported by tern"));
        }
        "sub_searches" => {
            return Err(QueryError::unsupported("[sub_searches] are not supported by tern"));
        }
        _ => return Err(unknown_key(key, v)),
    }
    Ok(())
}

fn parse_search_after(items: &[Value]) -> QueryResult<Vec<Value>> {
    items
        .iter()
        .map(|item| match item {
            Value::Object(_) | Value::Array(_) => Err(QueryError::parsing(format!(
                "Expected [VALUE_STRING] or [VALUE_NUMBER] or [VALUE_BOOLEAN] or [VALUE_NULL] but \
                 found [{}] inside search_after.",
                token_name(item)
            ))),
            _ => Ok(item.clone()),
        })
        .collect()
}

fn parse_index_boost(item: &Value) -> QueryResult<(String, f32)> {
    let Value::Object(o) = item else {
        return Err(QueryError::parsing(format!(
            "Expected [START_OBJECT] in [indices_boost] but found [{}]",
            token_name(item)
        )));
    };
    let mut entries = o.iter();
    let Some((index, boost)) = entries.next() else {
        return Err(QueryError::parsing("Expected [FIELD_NAME] in [indices_boost] but found [END_OBJECT]"));
    };
    if !matches!(boost, Value::Number(_)) {
        return Err(QueryError::parsing(format!(
            "Expected [VALUE_NUMBER] in [indices_boost] but found [{}]",
            token_name(boost)
        )));
    }
    if entries.next().is_some() {
        return Err(QueryError::parsing("Expected [END_OBJECT] in [indices_boost] but found [FIELD_NAME]"));
    }
    Ok((index.clone(), float_value(boost)?))
}

/// ES's `FetchSourceContext.fromXContent`.
fn parse_source(v: &Value) -> QueryResult<SourceFilter> {
    let (fetch, includes, excludes) = match v {
        Value::Bool(b) => (*b, Vec::new(), Vec::new()),
        Value::String(s) => (true, vec![s.clone()], Vec::new()),
        Value::Array(items) => (true, items.iter().map(text).collect::<QueryResult<Vec<_>>>()?, Vec::new()),
        Value::Object(o) => {
            let mut includes = Vec::new();
            let mut excludes = Vec::new();
            for (key, item) in o {
                let target = match key.as_str() {
                    "includes" | "include" => &mut includes,
                    "excludes" | "exclude" => &mut excludes,
                    _ => return Err(unknown_key(key, item)),
                };
                match item {
                    Value::String(s) => *target = vec![s.clone()],
                    Value::Array(list) => {
                        let mut out = Vec::with_capacity(list.len());
                        for entry in list {
                            match entry {
                                Value::String(s) => out.push(s.clone()),
                                _ => return Err(unknown_key(key, entry)),
                            }
                        }
                        *target = out;
                    }
                    _ => return Err(unknown_key(key, item)),
                }
            }
            (true, includes, excludes)
        }
        _ => {
            return Err(QueryError::parsing(format!(
                "Expected one of [VALUE_BOOLEAN, START_OBJECT] but found [{}]",
                token_name(v)
            )));
        }
    };
    Ok(SourceFilter::Specified { fetch, includes, excludes })
}

/// ES's `StoredFieldsContext.fromXContent` + `fromList`.
fn parse_stored_fields(key: &str, v: &Value) -> QueryResult<Vec<String>> {
    let list = match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().map(text).collect::<QueryResult<Vec<_>>>()?,
        _ => {
            return Err(QueryError::parsing(format!(
                "Expected [VALUE_STRING] or [START_ARRAY] in [{key}] but found [{}]",
                token_name(v)
            )));
        }
    };
    stored_fields_from_list(list)
}

fn stored_fields_from_list(list: Vec<String>) -> QueryResult<Vec<String>> {
    if list.iter().any(|f| f == "_none_") && list.len() > 1 {
        return Err(QueryError::illegal("cannot combine _none_ with other fields"));
    }
    Ok(list)
}

const FIELD_AND_FORMAT: ObjectParser =
    ObjectParser { name: "fetch_field_and_format", fields: &["field", "format", "include_unmapped"] };

/// ES's `FieldAndFormat.fromXContent`: `"field"` or `{"field": .., "format": ..}`.
fn parse_field_and_format(v: &Value) -> QueryResult<FieldAndFormat> {
    if crate::xcontent::is_value(v) {
        return Ok(FieldAndFormat { field: text(v)?, format: None, include_unmapped: None });
    }
    let p = &FIELD_AND_FORMAT;
    let o = p.expect_object(v)?;
    let mut field = None;
    let mut format = None;
    let mut include_unmapped = None;
    for (key, item) in o {
        match key.as_str() {
            "field" => field = Some(p.field(key, item, Accepts::String, text)?),
            "format" => {
                format = p.field(key, item, Accepts::StringOrNull, |v| match v {
                    Value::Null => Ok(None),
                    _ => text(v).map(Some),
                })?
            }
            "include_unmapped" => include_unmapped = Some(p.field(key, item, Accepts::Boolean, bool_value)?),
            _ => return Err(p.unknown_field(key)),
        }
    }
    let Some(field) = field else {
        return Err(QueryError::illegal("Required [field]"));
    };
    Ok(FieldAndFormat { field, format, include_unmapped })
}

fn field_or_score(field: String) -> SortSpec {
    SortSpec::new(field)
}

fn parse_sort_order(s: &str) -> QueryResult<SortOrder> {
    match s.to_uppercase().as_str() {
        "ASC" => Ok(SortOrder::Asc),
        "DESC" => Ok(SortOrder::Desc),
        upper => Err(QueryError::illegal(format!("No enum constant org.elasticsearch.search.sort.SortOrder.{upper}"))),
    }
}

fn parse_sort_mode(s: &str) -> QueryResult<SortMode> {
    match s.to_lowercase().as_str() {
        "min" => Ok(SortMode::Min),
        "max" => Ok(SortMode::Max),
        "sum" => Ok(SortMode::Sum),
        "avg" => Ok(SortMode::Avg),
        "median" => Ok(SortMode::Median),
        _ => Err(QueryError::illegal(format!("Unknown SortMode [{s}]"))),
    }
}

fn parse_numeric_type(s: &str) -> QueryResult<String> {
    let lower = s.to_lowercase();
    match lower.as_str() {
        "long" | "double" | "date" | "date_nanos" => Ok(lower),
        _ => Err(QueryError::illegal(format!(
            "invalid value for [numeric_type], must be [long, double, date, date_nanos], got {lower}"
        ))),
    }
}

/// ES's `SortBuilder.fromXContent` for the object and array forms.
pub(crate) fn parse_sort(v: &Value) -> QueryResult<Vec<SortSpec>> {
    let mut out = Vec::new();
    match v {
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::Object(o) => parse_compound_sort(o, &mut out)?,
                    Value::String(s) => out.push(field_or_score(s.clone())),
                    _ => {
                        return Err(QueryError::illegal(
                            "malformed sort format, within the sort array, an object, or an \
                             actual string are allowed",
                        ));
                    }
                }
            }
        }
        Value::String(s) => out.push(field_or_score(s.clone())),
        Value::Object(o) => parse_compound_sort(o, &mut out)?,
        _ => {
            return Err(QueryError::illegal(
                "malformed sort format, either start with array, object, or an actual string",
            ));
        }
    }
    Ok(out)
}

const FIELD_SORT: ObjectParser = ObjectParser {
    name: "field_sort",
    fields: &["missing", "unmapped_type", "order", "mode", "nested", "numeric_type", "format"],
};

const SCORE_SORT: ObjectParser = ObjectParser { name: "_score", fields: &["order"] };

fn parse_compound_sort(o: &Map<String, Value>, out: &mut Vec<SortSpec>) -> QueryResult<()> {
    for (field, v) in o {
        if let Value::String(order) = v {
            let mut spec = field_or_score(field.clone());
            spec.order = Some(parse_sort_order(order)?);
            out.push(spec);
            continue;
        }
        match field.as_str() {
            "_script" => {
                return Err(QueryError::unsupported("[_script] sort is not supported: tern does not execute scripts"));
            }
            "_geo_distance" | "geo_distance" => {
                return Err(QueryError::unsupported(format!("[{field}] sort is not supported by tern")));
            }
            "_score" => {
                let p = &SCORE_SORT;
                let params = p.expect_object(v)?;
                let mut spec = SortSpec::new("_score");
                for (key, item) in params {
                    match key.as_str() {
                        "order" => {
                            spec.order = Some(p.field(key, item, Accepts::String, |v| parse_sort_order(&text(v)?))?)
                        }
                        _ => return Err(p.unknown_field(key)),
                    }
                }
                out.push(spec);
            }
            _ => out.push(parse_field_sort(field, v)?),
        }
    }
    Ok(())
}

fn parse_field_sort(field: &str, v: &Value) -> QueryResult<SortSpec> {
    let p = &FIELD_SORT;
    let params = p.expect_object(v)?;
    let mut spec = SortSpec::new(field);
    for (key, item) in params {
        match key.as_str() {
            "missing" => spec.missing = p.field(key, item, Accepts::Value, |v| Ok(crate::xcontent::scalar(v)))?,
            "unmapped_type" => spec.unmapped_type = Some(p.field(key, item, Accepts::String, text)?),
            "order" => spec.order = Some(p.field(key, item, Accepts::String, |v| parse_sort_order(&text(v)?))?),
            "mode" => spec.mode = Some(p.field(key, item, Accepts::String, |v| parse_sort_mode(&text(v)?))?),
            "numeric_type" => {
                spec.numeric_type = Some(p.field(key, item, Accepts::String, |v| parse_numeric_type(&text(v)?))?)
            }
            "format" => spec.format = Some(p.field(key, item, Accepts::String, text)?),
            "nested" => {
                return Err(QueryError::unsupported("[nested] sort is not supported by tern"));
            }
            "nested_path" | "nested_filter" => {
                return Err(QueryError::parsing(format!(
                    "[{key}] has been removed in favour of the [nested] parameter"
                )));
            }
            _ => return Err(p.unknown_field(key)),
        }
    }
    Ok(spec)
}

/// ES's `TimeValue.parseTimeValue`: `-1`, `0`, or an integer with a unit (`nanos`, `micros`, `ms`,
/// `s`, `m`, `h`, `d`).
pub fn parse_time_value(value: &str, setting: &str) -> QueryResult<()> {
    let normalized = value.to_lowercase();
    let normalized = normalized.trim();
    const UNITS: &[&str] = &["nanos", "micros", "ms", "s", "m", "h", "d"];
    for unit in UNITS {
        if let Some(number) = normalized.strip_suffix(unit) {
            let number = number.trim();
            return match parse_java_long(number) {
                Ok(n) if n < -1 => Err(QueryError::illegal(format!(
                    "failed to parse setting [{setting}] with value [{value}] as a time value: \
                     negative durations are not supported"
                ))),
                Ok(_) => Ok(()),
                Err(_) if parse_java_double(number).is_ok() => Err(QueryError::Parse(format!(
                    "failed to parse [{value}], fractional time values are not supported"
                ))),
                Err(_) => Err(QueryError::Parse(format!("failed to parse [{value}]"))),
            };
        }
    }
    if normalized == "-1" || normalized == "0" {
        return Ok(());
    }
    Err(QueryError::Parse(format!(
        "failed to parse setting [{setting}] with value [{value}] as a time value: unit is \
         missing or unrecognized"
    )))
}

/// Applies the URI search parameters ES reads in `RestSearchAction` (`q`, `df`, `analyzer`,
/// `analyze_wildcard`, `lenient`, `default_operator`, `from`, `size`, `sort`, `_source`,
/// `_source_includes`, `_source_excludes`, `track_total_hits`, `terminate_after`, `timeout`,
/// `explain`, `version`, `seq_no_primary_term`, `track_scores`, `stored_fields`,
/// `docvalue_fields`) on top of a parsed body, as ES does (parameters win). Other parameters are
/// ignored here: the REST layer owns the list of parameters an endpoint accepts.
pub fn apply_uri_search_params(req: &mut SearchRequest, params: &[(String, String)]) -> QueryResult<()> {
    let get = |key: &str| params.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    if let Some(q) = get("q") {
        let mut qs = QueryStringQuery::new(q);
        qs.default_field = get("df").map(str::to_string);
        qs.analyzer = get("analyzer").map(str::to_string);
        qs.analyze_wildcard = param_bool(get("analyze_wildcard"))?.unwrap_or(false);
        qs.lenient = param_bool(get("lenient"))?;
        if let Some(op) = get("default_operator") {
            qs.default_operator = crate::dsl::parse_operator(op)?;
        }
        req.query = Some(QueryAst::QueryString(qs));
    }
    if let Some(from) = param_int("from", get("from"))?
        && from != -1
    {
        req.from = Some(check_from(from)?);
    }
    if let Some(size) = param_int("size", get("size"))?
        && size != -1
    {
        req.size = Some(check_size(size)?);
    }
    if let Some(sort) = get("sort") {
        for item in split_commas(sort) {
            match item.rfind(':') {
                Some(i) => {
                    let (field, dir) = (&item[..i], &item[i + 1..]);
                    let order = match dir {
                        "asc" => SortOrder::Asc,
                        "desc" => SortOrder::Desc,
                        // ES silently drops a sort with an unknown direction.
                        _ => continue,
                    };
                    let mut spec = field_or_score(field.to_string());
                    spec.order = Some(order);
                    req.sort.push(spec);
                }
                None => req.sort.push(field_or_score(item)),
            }
        }
    }
    let source = get("_source");
    let includes = get("_source_includes");
    let excludes = get("_source_excludes");
    if source.is_some() || includes.is_some() || excludes.is_some() {
        let mut fetch = true;
        let mut inc = Vec::new();
        if let Some(s) = source {
            match s {
                "true" => fetch = true,
                "false" => fetch = false,
                _ => inc = split_commas(s),
            }
        }
        if let Some(s) = includes {
            inc = split_commas(s);
        }
        req.source =
            SourceFilter::Specified { fetch, includes: inc, excludes: excludes.map(split_commas).unwrap_or_default() };
    }
    if let Some(t) = get("track_total_hits") {
        req.track_total_hits = Some(if t == "true" || t == "false" {
            TrackTotalHits::Bool(t == "true")
        } else {
            track_total_hits_count(param_int("track_total_hits", Some(t))?.unwrap_or(10_000))?
        });
    }
    if let Some(n) = param_int("terminate_after", get("terminate_after"))? {
        req.terminate_after = Some(check_terminate_after(n)?);
    }
    if let Some(t) = get("timeout") {
        parse_time_value(t, "timeout")?;
        req.timeout = Some(t.to_string());
    }
    if let Some(b) = param_bool(get("explain"))? {
        req.explain = Some(b);
    }
    if let Some(b) = param_bool(get("version"))? {
        req.version = Some(b);
    }
    if let Some(b) = param_bool(get("seq_no_primary_term"))? {
        req.seq_no_primary_term = Some(b);
    }
    if let Some(b) = param_bool(get("track_scores"))? {
        req.track_scores = b;
    }
    if let Some(s) = get("stored_fields") {
        req.stored_fields = Some(stored_fields_from_list(split_commas(s))?);
    }
    if let Some(s) = get("docvalue_fields") {
        for field in split_commas(s) {
            req.docvalue_fields.push(FieldAndFormat { field, format: None, include_unmapped: None });
        }
    }
    Ok(())
}

/// A search request from URI parameters alone (a `GET _search?q=...` without body).
pub fn parse_uri_search_params(params: &[(String, String)]) -> QueryResult<SearchRequest> {
    let mut req = SearchRequest::default();
    apply_uri_search_params(&mut req, params)?;
    Ok(req)
}

/// ES's `RestRequest.paramAsBoolean`: an empty value means true.
fn param_bool(v: Option<&str>) -> QueryResult<Option<bool>> {
    match v {
        None => Ok(None),
        Some("") => Ok(Some(true)),
        Some(s) => parse_bool_str(s).map(Some),
    }
}

/// ES's `RestRequest.paramAsInt`.
fn param_int(key: &str, v: Option<&str>) -> QueryResult<Option<i64>> {
    match v {
        None => Ok(None),
        Some(s) => s
            .parse::<i32>()
            .map(|n| Some(i64::from(n)))
            .map_err(|_| QueryError::illegal(format!("Failed to parse int parameter [{key}] with value [{s}]"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(v: Value) -> SearchRequest {
        match parse_search_request(&v) {
            Ok(r) => r,
            Err(e) => panic!("{v}: {e:?}"),
        }
    }

    fn err(v: Value) -> QueryError {
        match parse_search_request(&v) {
            Ok(r) => panic!("expected an error, got {r:?}"),
            Err(e) => e,
        }
    }

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn empty_body_is_all_defaults() {
        let r = ok(json!({}));
        assert_eq!(r, SearchRequest::default());
        assert_eq!((r.from_or_default(), r.size_or_default()), (0, 10));
        assert!(r.sort.is_empty());
    }

    #[test]
    fn full_body() {
        let r = ok(json!({
            "query": {"match": {"title": "fox"}},
            "post_filter": {"term": {"tag": "a"}},
            "from": 5, "size": "20",
            "sort": [{"date": {"order": "desc", "missing": "_last", "unmapped_type": "long",
                "mode": "max", "format": "strict_date", "numeric_type": "date"}}, "_score",
                {"name": "asc"}, {"_doc": {"order": "asc"}}],
            "_source": {"includes": ["a.*"], "excludes": "b"},
            "track_total_hits": 100,
            "aggs": {"t": {"terms": {"field": "tag"}}},
            "search_after": [1, "x", null, true],
            "min_score": 0.5, "terminate_after": 1000, "timeout": "10s",
            "explain": true, "version": true, "seq_no_primary_term": false,
            "stored_fields": ["_none_"],
            "docvalue_fields": ["a", {"field": "b", "format": "epoch_millis"}],
            "fields": [{"field": "c", "include_unmapped": true}],
            "highlight": {"fields": {"title": {}}},
            "collapse": {"field": "user"},
            "pit": {"id": "abc", "keep_alive": "1m"},
            "track_scores": true,
            "indices_boost": [{"a": 1.5}, {"b": 2}],
            "rescore": {"window_size": 10, "query": {}},
            "profile": true,
            "suggest": {"s": {"text": "x", "term": {"field": "f"}}},
            "slice": {"id": 0, "max": 2},
            "stats": ["group"],
            "ext": {},
            "script_fields": {},
            "runtime_mappings": {}
        }));
        assert!(matches!(r.query, Some(QueryAst::Match(_))));
        assert!(matches!(r.post_filter, Some(QueryAst::Term(_))));
        assert_eq!((r.from, r.size), (Some(5), Some(20)));
        assert_eq!(r.sort.len(), 4);
        assert_eq!(
            r.sort[0],
            SortSpec {
                field: "date".into(),
                order: Some(SortOrder::Desc),
                missing: Some(json!("_last")),
                unmapped_type: Some("long".into()),
                mode: Some(SortMode::Max),
                format: Some("strict_date".into()),
                numeric_type: Some("date".into()),
            }
        );
        assert!(r.sort[1].is_score());
        assert_eq!(r.sort[1].effective_order(), SortOrder::Desc);
        assert_eq!(r.sort[2].order, Some(SortOrder::Asc));
        assert_eq!(r.sort[3].field, "_doc");
        assert_eq!(
            r.source,
            SourceFilter::Specified { fetch: true, includes: vec!["a.*".into()], excludes: vec!["b".into()] }
        );
        assert_eq!(r.track_total_hits, Some(TrackTotalHits::Count(100)));
        assert!(r.aggs.is_some());
        assert_eq!(r.search_after, Some(vec![json!(1), json!("x"), json!(null), json!(true)]));
        assert_eq!(r.min_score, Some(0.5));
        assert_eq!(r.terminate_after, Some(1000));
        assert_eq!(r.timeout.as_deref(), Some("10s"));
        assert_eq!((r.explain, r.version, r.seq_no_primary_term), (Some(true), Some(true), Some(false)));
        assert_eq!(r.stored_fields, Some(vec!["_none_".to_string()]));
        assert_eq!(r.docvalue_fields.len(), 2);
        assert_eq!(r.docvalue_fields[1].format.as_deref(), Some("epoch_millis"));
        assert_eq!(r.fields[0].include_unmapped, Some(true));
        assert!(r.highlight.is_some() && r.collapse.is_some() && r.pit.is_some());
        assert!(r.track_scores && r.profile);
        assert_eq!(r.indices_boost, vec![("a".into(), 1.5), ("b".into(), 2.0)]);
        assert_eq!(r.rescore.len(), 1);
        assert!(r.suggest.is_some() && r.slice.is_some() && r.ext.is_some());
        assert_eq!(r.stats, vec!["group".to_string()]);
    }

    #[test]
    fn aggregations_alias_and_source_forms() {
        assert!(ok(json!({"aggregations": {}})).aggs.is_some());
        assert_eq!(ok(json!({"_source": false})).source.fetch(), Some(false));
        assert_eq!(ok(json!({"_source": "a"})).source.includes(), ["a".to_string()]);
        assert_eq!(ok(json!({"_source": ["a", "b"]})).source.includes(), ["a".to_string(), "b".to_string()]);
        assert_eq!(ok(json!({"_source": {"include": "a", "exclude": ["b"]}})).source.excludes(), ["b".to_string()]);
        assert_eq!(
            err(json!({"_source": 1})).to_string(),
            "Expected one of [VALUE_BOOLEAN, START_OBJECT] but found [VALUE_NUMBER]"
        );
        assert_eq!(err(json!({"_source": {"foo": ["a"]}})).to_string(), "Unknown key for a START_ARRAY in [foo].");
    }

    #[test]
    fn sort_forms() {
        assert_eq!(ok(json!({"sort": "title"})).sort, vec![SortSpec::new("title")]);
        assert_eq!(
            ok(json!({"sort": {"a": "desc", "b": {"order": "asc"}}})).sort,
            vec![
                SortSpec { order: Some(SortOrder::Desc), ..SortSpec::new("a") },
                SortSpec { order: Some(SortOrder::Asc), ..SortSpec::new("b") }
            ]
        );
        assert_eq!(ok(json!({"sort": [{"_score": {"order": "asc"}}]})).sort[0].effective_order(), SortOrder::Asc);
        assert_eq!(
            err(json!({"sort": {"a": "up"}})).to_string(),
            "No enum constant org.elasticsearch.search.sort.SortOrder.UP"
        );
        let e = err(json!({"sort": {"a": {"order": "up"}}}));
        assert_eq!(e.to_string(), "[field_sort] failed to parse field [order]");
        assert_eq!(e.es_type(), "x_content_parse_exception");
        let e = err(json!({"sort": {"a": {"foo": 1}}}));
        assert_eq!(e.to_string(), "[field_sort] unknown field [foo]");
        assert_eq!(
            err(json!({"sort": [1]})).to_string(),
            "malformed sort format, within the sort array, an object, or an actual string are \
             allowed"
        );
        assert!(err(json!({"sort": {"_script": {"script": "x"}}})).to_string().contains("scripts"));
        assert_eq!(err(json!({"sort": {"a": {"mode": "first"}}})).root().to_string(), "Unknown SortMode [first]");
        assert_eq!(
            err(json!({"sort": {"a": 1}})).to_string(),
            "[field_sort] Expected START_OBJECT but was: VALUE_NUMBER"
        );
    }

    #[test]
    fn unknown_keys_name_the_token() {
        assert_eq!(err(json!({"foo": {}})).to_string(), "Unknown key for a START_OBJECT in [foo].");
        assert_eq!(err(json!({"foo": "x"})).to_string(), "Unknown key for a VALUE_STRING in [foo].");
        assert_eq!(err(json!({"foo": 1})).to_string(), "Unknown key for a VALUE_NUMBER in [foo].");
        assert_eq!(err(json!({"foo": true})).to_string(), "Unknown key for a VALUE_BOOLEAN in [foo].");
        assert_eq!(err(json!({"foo": []})).to_string(), "Unknown key for a START_ARRAY in [foo].");
        assert_eq!(err(json!({"query": null})).to_string(), "Unknown key for a VALUE_NULL in [query].");
        assert_eq!(err(json!({"query": "x"})).to_string(), "Unknown key for a VALUE_STRING in [query].");
        let e = err(json!({"query": {"foo": {}}}));
        assert_eq!(e.es_type(), "parsing_exception");
        assert_eq!(e.to_string(), "unknown query [foo]");
        assert_eq!(err(json!([])).to_string(), "Expected [START_OBJECT] but found [START_ARRAY]");
    }

    #[test]
    fn value_validation() {
        assert_eq!(err(json!({"size": -1})).to_string(), "[size] parameter cannot be negative, found [-1]");
        assert_eq!(err(json!({"from": -1})).to_string(), "[from] parameter cannot be negative but was [-1]");
        assert_eq!(err(json!({"size": "x"})).es_type(), "number_format_exception");
        assert_eq!(ok(json!({"track_total_hits": -1})).track_total_hits, Some(TrackTotalHits::Bool(false)));
        assert_eq!(ok(json!({"track_total_hits": "true"})).track_total_hits, Some(TrackTotalHits::Bool(true)));
        assert_eq!(
            err(json!({"track_total_hits": -2})).to_string(),
            "[track_total_hits] parameter must be positive or equals to -1, got -2"
        );
        assert_eq!(
            err(json!({"timeout": "10"})).to_string(),
            "failed to parse setting [timeout] with value [10] as a time value: unit is missing \
             or unrecognized"
        );
        assert!(ok(json!({"timeout": "1500ms"})).timeout.is_some());
        assert!(err(json!({"timeout": "1.5s"})).to_string().contains("fractional"));
        assert_eq!(
            err(json!({"stored_fields": ["_none_", "a"]})).to_string(),
            "cannot combine _none_ with other fields"
        );
        assert_eq!(
            err(json!({"indices_boost": [{"a": "x"}]})).to_string(),
            "Expected [VALUE_NUMBER] in [indices_boost] but found [VALUE_STRING]"
        );
        assert!(err(json!({"search_after": [{}]})).to_string().contains("inside search_after"));
    }

    #[test]
    fn unsupported_features() {
        for body in [
            json!({"script_fields": {"x": {"script": "1"}}}),
            json!({"runtime_mappings": {"x": {"type": "long"}}}),
            json!({"knn": {"field": "v", "query_vector": [1], "k": 1}}),
            json!({"knn": [{"field": "v"}]}),
        ] {
            let e = err(body.clone());
            assert_eq!(e.es_type(), "illegal_argument_exception", "{body}");
            assert!(e.to_string().contains("not supported"), "{body}: {e}");
        }
    }

    #[test]
    fn uri_params() {
        let r = parse_uri_search_params(&params(&[
            ("q", "title:fox"),
            ("df", "body"),
            ("default_operator", "AND"),
            ("lenient", "true"),
            ("from", "5"),
            ("size", "7"),
            ("sort", "date:desc,name,_score:asc,bad:sideways"),
            ("_source_includes", "a,b"),
            ("_source_excludes", "c"),
            ("track_total_hits", "false"),
            ("explain", ""),
            ("timeout", "1s"),
            ("stored_fields", "x,y"),
        ]))
        .unwrap_or_else(|e| panic!("{e}"));
        let Some(QueryAst::QueryString(qs)) = &r.query else { panic!("{:?}", r.query) };
        assert_eq!(qs.query, "title:fox");
        assert_eq!(qs.default_field.as_deref(), Some("body"));
        assert_eq!(qs.default_operator, crate::ast::Operator::And);
        assert_eq!(qs.lenient, Some(true));
        assert_eq!((r.from, r.size), (Some(5), Some(7)));
        assert_eq!(
            r.sort,
            vec![
                SortSpec { order: Some(SortOrder::Desc), ..SortSpec::new("date") },
                SortSpec::new("name"),
                SortSpec { order: Some(SortOrder::Asc), ..SortSpec::new("_score") },
            ]
        );
        assert_eq!(
            r.source,
            SourceFilter::Specified { fetch: true, includes: vec!["a".into(), "b".into()], excludes: vec!["c".into()] }
        );
        assert_eq!(r.track_total_hits, Some(TrackTotalHits::Bool(false)));
        assert_eq!(r.explain, Some(true));
        assert_eq!(r.stored_fields, Some(vec!["x".to_string(), "y".to_string()]));

        let r =
            parse_uri_search_params(&params(&[("_source", "false"), ("size", "-1")])).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.source.fetch(), Some(false));
        assert_eq!(r.size, None, "size=-1 means unset");
        let r = parse_uri_search_params(&params(&[("_source", "a,b")])).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.source.includes(), ["a".to_string(), "b".to_string()]);

        let e = parse_uri_search_params(&params(&[("size", "ten")])).err();
        assert_eq!(e.map(|e| e.to_string()), Some("Failed to parse int parameter [size] with value [ten]".into()));
        let e = parse_uri_search_params(&params(&[("explain", "yes")])).err();
        assert_eq!(
            e.map(|e| e.to_string()),
            Some("Failed to parse value [yes] as only [true] or [false] are allowed.".into())
        );

        // Parameters override the body.
        let mut body = ok(json!({"size": 3, "query": {"match_all": {}}}));
        apply_uri_search_params(&mut body, &params(&[("size", "4"), ("q", "x")])).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(body.size, Some(4));
        assert!(matches!(body.query, Some(QueryAst::QueryString(_))));
    }

    #[test]
    fn serde_round_trip() {
        let r = ok(json!({
            "query": {"bool": {"must": [{"match": {"a": {"query": "x", "fuzziness": "AUTO"}}}],
                "filter": {"range": {"d": {"gte": "now-1d"}}}, "minimum_should_match": "2<75%"}},
            "sort": ["_score"], "_source": false, "track_total_hits": true
        }));
        let json = serde_json::to_value(&r).unwrap_or_else(|e| panic!("{e}"));
        let back: SearchRequest = serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, r);
    }
}
