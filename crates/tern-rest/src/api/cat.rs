//! `cat.*` APIs: human-oriented tables over the same data as the JSON monitoring APIs.
//!
//! Every endpoint builds one [`Table`]: a list of [`Column`]s (ES's names, aliases, description,
//! default visibility, alignment, `pri.` sibling) and rows of typed [`Cell`]s. The table alone
//! implements ES's `RestTable` behaviour, so no endpoint renders anything itself:
//!
//! - `h` selects columns by name or alias (the alias becomes the header), with `*` wildcards;
//!   with `pri`, a selected column that has a `pri.` sibling brings it along;
//! - `s` sorts by columns (`:asc` / `:desc`), comparing numbers, byte sizes and times by value;
//! - `v` adds the header row, `ts=false` hides `epoch`/`timestamp`, `help` lists the columns;
//! - `bytes` / `time` fix the unit of byte and time cells;
//! - text output pads columns to their widest cell (text left-aligned, numbers right-aligned, no
//!   trailing blanks after a left-aligned last column); `format=json` (or a JSON `Accept` header)
//!   answers an array of objects whose values are strings, or `null` for empty cells, as ES does.

use std::cmp::Ordering;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::{Map, Value};
use tern_cluster::wildcard::wildcard_match;
use tern_cluster::{IndexState, IndicesOptions};
use tern_common::{ErrorKind, EsError};
use tern_node::Node;
use tern_node::info::{HealthStatus, ShardState, ShardStats, role_abbreviations};

use crate::api::stats::{blocking, format_bytes, format_millis, path_param};
use crate::context::Ctx;
use crate::error::ApiResult;
use crate::params::split_list;

// ---------------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------------

/// One column: ES's `Table.addCell(name, "alias:..;desc:..;default:false;text-align:right;sibling:pri")`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Column {
    pub name: String,
    pub aliases: Vec<String>,
    pub desc: String,
    pub default: bool,
    pub right: bool,
    /// `pri`: the column `pri.{name}` accompanies this one when `h` names it and `pri` is set.
    pub sibling: Option<String>,
}

/// Parses ES's attribute string.
pub(crate) fn col(name: &str, attrs: &str) -> Column {
    let mut c = Column {
        name: name.to_string(),
        aliases: vec![],
        desc: String::new(),
        default: true,
        right: false,
        sibling: None,
    };
    for attr in attrs.split(';').filter(|a| !a.is_empty()) {
        let (k, v) = attr.split_once(':').unwrap_or((attr, ""));
        match k {
            "alias" => c.aliases = v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect(),
            "desc" => c.desc = v.to_string(),
            "default" => c.default = v != "false",
            "text-align" => c.right = v == "right",
            "sibling" => c.sibling = Some(v.to_string()),
            _ => {}
        }
    }
    c
}

/// A cell value. Numbers, byte sizes and times sort by value and render per `bytes` / `time`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Null,
    Text(String),
    Int(i64),
    Bytes(u64),
    Millis(u64),
}

impl From<&str> for Cell {
    fn from(v: &str) -> Cell {
        Cell::Text(v.to_string())
    }
}
impl From<String> for Cell {
    fn from(v: String) -> Cell {
        Cell::Text(v)
    }
}
impl From<i64> for Cell {
    fn from(v: i64) -> Cell {
        Cell::Int(v)
    }
}
impl From<u64> for Cell {
    fn from(v: u64) -> Cell {
        Cell::Int(v as i64)
    }
}
impl From<u32> for Cell {
    fn from(v: u32) -> Cell {
        Cell::Int(v as i64)
    }
}
impl From<bool> for Cell {
    fn from(v: bool) -> Cell {
        Cell::Text(v.to_string())
    }
}
impl<T: Into<Cell>> From<Option<T>> for Cell {
    fn from(v: Option<T>) -> Cell {
        v.map(Into::into).unwrap_or(Cell::Null)
    }
}

impl Cell {
    fn render(&self, o: &CatOptions) -> Option<String> {
        Some(match self {
            Cell::Null => return None,
            Cell::Text(s) => s.clone(),
            Cell::Int(n) => n.to_string(),
            Cell::Bytes(b) => match o.bytes.as_deref() {
                Some("b") => b.to_string(),
                Some("k" | "kb") => (b >> 10).to_string(),
                Some("m" | "mb") => (b >> 20).to_string(),
                Some("g" | "gb") => (b >> 30).to_string(),
                Some("t" | "tb") => (b >> 40).to_string(),
                Some("p" | "pb") => (b >> 50).to_string(),
                _ => format_bytes(*b),
            },
            Cell::Millis(ms) => match o.time.as_deref() {
                Some("nanos") => (ms * 1_000_000).to_string(),
                Some("micros") => (ms * 1000).to_string(),
                Some("ms") => ms.to_string(),
                Some("s") => (ms / 1000).to_string(),
                Some("m") => (ms / 60_000).to_string(),
                Some("h") => (ms / 3_600_000).to_string(),
                Some("d") => (ms / 86_400_000).to_string(),
                _ => format_millis(*ms),
            },
        })
    }

    /// ES's `compareCell`: nulls first, like types by value, anything else by its text.
    fn compare(&self, other: &Cell) -> Ordering {
        match (self, other) {
            (Cell::Null, Cell::Null) => Ordering::Equal,
            (Cell::Null, _) => Ordering::Less,
            (_, Cell::Null) => Ordering::Greater,
            (Cell::Text(a), Cell::Text(b)) => a.cmp(b),
            (Cell::Int(a), Cell::Int(b)) => a.cmp(b),
            (Cell::Bytes(a), Cell::Bytes(b)) => a.cmp(b),
            (Cell::Millis(a), Cell::Millis(b)) => a.cmp(b),
            (a, b) => a.plain().cmp(&b.plain()),
        }
    }

    fn plain(&self) -> String {
        match self {
            Cell::Null => String::new(),
            Cell::Text(s) => s.clone(),
            Cell::Int(n) => n.to_string(),
            Cell::Bytes(b) => format_bytes(*b),
            Cell::Millis(m) => format_millis(*m),
        }
    }
}

/// The rendering parameters common to every cat API.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct CatOptions {
    pub v: bool,
    pub h: Option<Vec<String>>,
    pub s: Option<Vec<String>>,
    pub pri: bool,
    pub bytes: Option<String>,
    pub time: Option<String>,
    pub ts: bool,
    pub help: bool,
    pub json: bool,
}

impl CatOptions {
    pub fn from_ctx(ctx: &Ctx) -> Result<CatOptions, EsError> {
        let p = &ctx.params;
        let json = match p.get("format").map(str::to_ascii_lowercase) {
            Some(f) if f == "json" => true,
            Some(f) if f == "text" || f == "txt" || f.is_empty() => false,
            Some(f) if matches!(f.as_str(), "yaml" | "cbor" | "smile") => {
                return Err(EsError::illegal_argument(format!(
                    "format [{f}] is not supported by tern's cat APIs; use [json] or [text]"
                )));
            }
            Some(_) => false,
            // Without `format`, one JSON media type in `Accept` selects JSON; a list is a media range.
            None => ctx
                .headers
                .get(axum::http::header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|a| !a.contains(',') && a.to_ascii_lowercase().contains("json")),
        };
        let list = |k: &str| p.get(k).map(split_list);
        Ok(CatOptions {
            v: p.bool("v", false)?,
            h: list("h"),
            s: list("s"),
            pri: p.bool("pri", false)?,
            bytes: p.get("bytes").map(str::to_ascii_lowercase),
            time: p.get("time").map(str::to_ascii_lowercase),
            ts: p.bool("ts", true)?,
            help: p.bool("help", false)?,
            json,
        })
    }
}

/// A column picked for display: its index and the header to show.
#[derive(Debug, Clone, PartialEq)]
struct Shown {
    col: usize,
    display: String,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Table {
    pub cols: Vec<Column>,
    rows: Vec<Vec<Cell>>,
}

impl Table {
    pub fn new(cols: Vec<Column>) -> Table {
        Table { cols, rows: Vec::new() }
    }

    /// ES's `startHeadersWithTimestamp`: `epoch` and `timestamp` first.
    pub fn with_timestamp(mut cols: Vec<Column>) -> Table {
        let mut all = vec![
            col("epoch", "alias:t,time;desc:seconds since 1970-01-01 00:00:00"),
            col("timestamp", "alias:ts,hms,hhmmss;desc:time in HH:MM:SS"),
        ];
        all.append(&mut cols);
        Table::new(all)
    }

    /// The `epoch` and `timestamp` cells of a row, for tables made `with_timestamp`.
    pub fn now_cells() -> Vec<(&'static str, Cell)> {
        let now = chrono::Utc::now();
        vec![("epoch", Cell::Int(now.timestamp())), ("timestamp", Cell::Text(now.format("%H:%M:%S").to_string()))]
    }

    /// Adds a row from `(column name, value)` pairs; columns not named are empty.
    pub fn push(&mut self, cells: Vec<(&str, Cell)>) {
        let mut row = vec![Cell::Null; self.cols.len()];
        for (name, cell) in cells {
            match self.cols.iter().position(|c| c.name == name) {
                Some(i) => row[i] = cell,
                None => debug_assert!(false, "cat table has no column [{name}]"),
            }
        }
        self.rows.push(row);
    }

    fn ts_allowed(&self, col: usize, o: &CatOptions) -> bool {
        o.ts || !matches!(self.cols[col].name.as_str(), "epoch" | "timestamp")
    }

    /// ES's `buildDisplayHeaders`.
    fn shown(&self, o: &CatOptions) -> Vec<Shown> {
        let Some(h) = &o.h else {
            return (0..self.cols.len())
                .filter(|&i| self.cols[i].default && self.ts_allowed(i, o))
                .map(|i| Shown { col: i, display: self.cols[i].name.clone() })
                .collect();
        };
        let mut wanted: Vec<String> = Vec::new();
        let mut add = |s: &str| {
            if !wanted.iter().any(|w| w == s) {
                wanted.push(s.to_string());
            }
        };
        for token in h {
            if token.contains('*') {
                for c in &self.cols {
                    if wildcard_match(token, &c.name) || c.aliases.iter().any(|a| wildcard_match(token, a)) {
                        add(&c.name);
                    }
                }
            } else {
                add(token);
            }
        }
        let mut out = Vec::new();
        for w in wanted {
            let found = match self.cols.iter().position(|c| c.name == w) {
                Some(i) => Some(Shown { col: i, display: w.clone() }),
                // ES lets the last column declaring an alias win.
                None => {
                    self.cols.iter().rposition(|c| c.aliases.contains(&w)).map(|i| Shown { col: i, display: w.clone() })
                }
            };
            let Some(s) = found else { continue };
            if !self.ts_allowed(s.col, o) {
                continue;
            }
            let sibling = self.cols[s.col].sibling.clone();
            let sibling_name = format!("{}.{}", sibling.as_deref().unwrap_or(""), self.cols[s.col].name);
            let display = s.display.clone();
            out.push(s);
            if let Some(flag) = sibling
                && flag == "pri"
                && o.pri
                && let Some(j) = self.cols.iter().position(|c| c.name == sibling_name)
            {
                out.push(Shown { col: j, display: format!("{flag}.{display}") });
            }
        }
        out
    }

    /// ES's `getRowOrder`.
    fn row_order(&self, o: &CatOptions) -> Result<Vec<usize>, EsError> {
        let mut order: Vec<usize> = (0..self.rows.len()).collect();
        let Some(s) = &o.s else { return Ok(order) };
        let mut keys: Vec<(usize, bool)> = Vec::new();
        for token in s {
            let (name, desc) = match token.strip_suffix(":desc") {
                Some(n) => (n, true),
                None => (token.strip_suffix(":asc").unwrap_or(token), false),
            };
            // ES's alias map: the last column declaring the name or alias wins.
            let col = self.cols.iter().rposition(|c| c.name == name || c.aliases.iter().any(|a| a == name));
            match col {
                Some(i) => keys.push((i, desc)),
                None => {
                    return Err(EsError::new(
                        ErrorKind::Internal,
                        format!("Unable to sort by unknown sort key `{name}`"),
                    )
                    .with_type("unsupported_operation_exception"));
                }
            }
        }
        order.sort_by(|&a, &b| {
            for &(c, desc) in &keys {
                let ord = self.rows[a][c].compare(&self.rows[b][c]);
                if ord != Ordering::Equal {
                    return if desc { ord.reverse() } else { ord };
                }
            }
            Ordering::Equal
        });
        Ok(order)
    }

    pub fn to_text(&self, o: &CatOptions) -> Result<String, EsError> {
        let shown = self.shown(o);
        let order = self.row_order(o)?;
        let width = |s: &Option<String>| s.as_ref().map(|x| x.chars().count()).unwrap_or(0);
        let rendered: Vec<Vec<Option<String>>> =
            order.iter().map(|&r| shown.iter().map(|s| self.rows[r][s.col].render(o)).collect()).collect();
        let mut widths = vec![0usize; shown.len()];
        for (i, s) in shown.iter().enumerate() {
            if o.v {
                widths[i] = s.display.chars().count();
            }
            for row in &rendered {
                widths[i] = widths[i].max(width(&row[i]));
            }
        }
        let mut out = String::new();
        let mut line = |cells: Vec<Option<String>>| {
            let last = cells.len().saturating_sub(1);
            for (i, cell) in cells.iter().enumerate() {
                let len = width(cell);
                let pad = widths[i].saturating_sub(len);
                let value = cell.as_deref().unwrap_or("");
                if pad > 0 && self.cols[shown[i].col].right {
                    out.push_str(&" ".repeat(pad));
                    out.push_str(value);
                } else {
                    out.push_str(value);
                    if i != last {
                        out.push_str(&" ".repeat(pad));
                    }
                }
                if i != last {
                    out.push(' ');
                }
            }
            out.push('\n');
        };
        if o.v {
            line(shown.iter().map(|s| Some(s.display.clone())).collect());
        }
        for row in rendered {
            line(row);
        }
        Ok(out)
    }

    pub fn to_json(&self, o: &CatOptions) -> Result<Value, EsError> {
        let shown = self.shown(o);
        let order = self.row_order(o)?;
        Ok(Value::Array(
            order
                .iter()
                .map(|&r| {
                    let m: Map<String, Value> = shown
                        .iter()
                        .map(|s| {
                            (s.display.clone(), self.rows[r][s.col].render(o).map(Value::from).unwrap_or(Value::Null))
                        })
                        .collect();
                    Value::Object(m)
                })
                .collect(),
        ))
    }

    /// `help`: one `name | aliases | description` line per column, each part padded.
    pub fn help_text(cols: &[Column]) -> String {
        let aliases = |c: &Column| c.aliases.join(",");
        let desc = |c: &Column| if c.desc.is_empty() { "not available".to_string() } else { c.desc.clone() };
        let w0 = cols.iter().map(|c| c.name.chars().count()).max().unwrap_or(0);
        let w1 = cols.iter().map(|c| aliases(c).chars().count()).max().unwrap_or(0);
        let w2 = cols.iter().map(|c| desc(c).chars().count()).max().unwrap_or(0);
        let pad = |s: String, w: usize| {
            let n = s.chars().count();
            s + &" ".repeat(w.saturating_sub(n))
        };
        cols.iter()
            .map(|c| format!("{} | {} | {}\n", pad(c.name.clone(), w0), pad(aliases(c), w1), pad(desc(c), w2)))
            .collect()
    }

    /// Answers with the table in the format the request asked for.
    pub fn respond(&self, ctx: &Ctx, o: &CatOptions) -> ApiResult<Response> {
        if o.json {
            let v = self.to_json(o).map_err(|e| ctx.error(e))?;
            ctx.ok(v)
        } else {
            let t = self.to_text(o).map_err(|e| ctx.error(e))?;
            ctx.text(t)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Shared columns and helpers
// ---------------------------------------------------------------------------------------------

/// Parameters every cat API accepts (ES's `AbstractCatAction.RESPONSE_PARAMS` plus `help`).
const CAT_PARAMS: &[&str] = &["h", "v", "s", "help", "bytes", "time", "ts", "pri", "size"];

fn check(ctx: &Ctx, extra: &[&str]) -> Result<CatOptions, EsError> {
    let mut allowed: Vec<&str> = CAT_PARAMS.to_vec();
    allowed.extend_from_slice(extra);
    ctx.params.check(&allowed)?;
    CatOptions::from_ctx(ctx)
}

/// Statistic columns shared by `_cat/shards`, `_cat/indices` and `_cat/nodes`, in ES's order.
type StatValue = fn(&ShardStats) -> Cell;
const STAT_COLS: &[(&str, &str, &str, StatValue)] = &[
    ("completion.size", "cs,completionSize", "size of completion", |_| Cell::Bytes(0)),
    ("fielddata.memory_size", "fm,fielddataMemory", "used fielddata cache", |_| Cell::Bytes(0)),
    ("fielddata.evictions", "fe,fielddataEvictions", "fielddata evictions", |_| Cell::Int(0)),
    ("query_cache.memory_size", "qcm,queryCacheMemory", "used query cache", |_| Cell::Bytes(0)),
    ("query_cache.evictions", "qce,queryCacheEvictions", "query cache evictions", |_| Cell::Int(0)),
    ("flush.total", "ft,flushTotal", "number of flushes", |s| s.flush_total.into()),
    ("flush.total_time", "ftt,flushTotalTime", "time spent in flush", |_| Cell::Millis(0)),
    ("get.current", "gc,getCurrent", "number of current get ops", |_| Cell::Int(0)),
    ("get.time", "gti,getTime", "time spent in get", |_| Cell::Millis(0)),
    ("get.total", "gto,getTotal", "number of get ops", |s| s.get_total.into()),
    ("get.exists_time", "geti,getExistsTime", "time spent in successful gets", |_| Cell::Millis(0)),
    ("get.exists_total", "geto,getExistsTotal", "number of successful gets", |s| s.get_exists_total.into()),
    ("get.missing_time", "gmti,getMissingTime", "time spent in failed gets", |_| Cell::Millis(0)),
    ("get.missing_total", "gmto,getMissingTotal", "number of failed gets", |s| s.get_missing_total.into()),
    ("indexing.delete_current", "idc,indexingDeleteCurrent", "number of current deletions", |_| Cell::Int(0)),
    ("indexing.delete_time", "idti,indexingDeleteTime", "time spent in deletions", |_| Cell::Millis(0)),
    ("indexing.delete_total", "idto,indexingDeleteTotal", "number of delete ops", |s| s.delete_total.into()),
    ("indexing.index_current", "iic,indexingIndexCurrent", "number of current indexing ops", |_| Cell::Int(0)),
    ("indexing.index_time", "iiti,indexingIndexTime", "time spent in indexing", |s| Cell::Millis(s.index_time_millis)),
    ("indexing.index_total", "iito,indexingIndexTotal", "number of indexing ops", |s| s.index_total.into()),
    ("indexing.index_failed", "iif,indexingIndexFailed", "number of failed indexing ops", |s| s.index_failed.into()),
    ("merges.current", "mc,mergesCurrent", "number of current merges", |_| Cell::Int(0)),
    ("merges.current_docs", "mcd,mergesCurrentDocs", "number of current merging docs", |_| Cell::Int(0)),
    ("merges.current_size", "mcs,mergesCurrentSize", "size of current merges", |_| Cell::Bytes(0)),
    ("merges.total", "mt,mergesTotal", "number of completed merge ops", |_| Cell::Int(0)),
    ("merges.total_docs", "mtd,mergesTotalDocs", "docs merged", |_| Cell::Int(0)),
    ("merges.total_size", "mts,mergesTotalSize", "size merged", |_| Cell::Bytes(0)),
    ("merges.total_time", "mtt,mergesTotalTime", "time spent in merges", |_| Cell::Millis(0)),
    ("refresh.total", "rto,refreshTotal", "total refreshes", |s| s.refresh_total.into()),
    ("refresh.time", "rti,refreshTime", "time spent in refreshes", |s| Cell::Millis(s.refresh_time_millis)),
    ("refresh.external_total", "rto,refreshTotal", "total external refreshes", |s| s.refresh_total.into()),
    ("refresh.external_time", "rti,refreshTime", "time spent in external refreshes", |s| {
        Cell::Millis(s.refresh_time_millis)
    }),
    ("refresh.listeners", "rli,refreshListeners", "number of pending refresh listeners", |_| Cell::Int(0)),
    ("search.fetch_current", "sfc,searchFetchCurrent", "current fetch phase ops", |_| Cell::Int(0)),
    ("search.fetch_time", "sfti,searchFetchTime", "time spent in fetch phase", |_| Cell::Millis(0)),
    ("search.fetch_total", "sfto,searchFetchTotal", "total fetch ops", |s| s.fetch_total.into()),
    ("search.open_contexts", "so,searchOpenContexts", "open search contexts", |s| s.open_contexts.into()),
    ("search.query_current", "sqc,searchQueryCurrent", "current query phase ops", |_| Cell::Int(0)),
    ("search.query_time", "sqti,searchQueryTime", "time spent in query phase", |s| Cell::Millis(s.query_time_millis)),
    ("search.query_total", "sqto,searchQueryTotal", "total query phase ops", |s| s.query_total.into()),
    ("search.scroll_current", "scc,searchScrollCurrent", "open scroll contexts", |_| Cell::Int(0)),
    ("search.scroll_time", "scti,searchScrollTime", "time scroll contexts held open", |_| Cell::Millis(0)),
    ("search.scroll_total", "scto,searchScrollTotal", "completed scroll contexts", |_| Cell::Int(0)),
    ("segments.count", "sc,segmentsCount", "number of segments", |s| s.segments_count.into()),
    ("segments.memory", "sm,segmentsMemory", "memory used by segments", |_| Cell::Bytes(0)),
    ("segments.index_writer_memory", "siwm,segmentsIndexWriterMemory", "memory used by index writer", |_| {
        Cell::Bytes(0)
    }),
    ("segments.version_map_memory", "svmm,segmentsVersionMapMemory", "memory used by version map", |_| Cell::Bytes(0)),
    (
        "segments.fixed_bitset_memory",
        "sfbm,fixedBitsetMemory",
        "memory used by fixed bit sets for nested object field types and type filters for types referred in _parent fields",
        |_| Cell::Bytes(0),
    ),
];

const WARMER_COLS: &[(&str, &str, &str, StatValue)] = &[
    ("warmer.current", "wc,warmerCurrent", "current warmer ops", |_| Cell::Int(0)),
    ("warmer.total", "wto,warmerTotal", "total warmer ops", |_| Cell::Int(0)),
    ("warmer.total_time", "wtt,warmerTotalTime", "time spent in warmers", |_| Cell::Millis(0)),
];

fn stat_columns(list: &[(&str, &str, &str, StatValue)], with_pri: bool) -> Vec<Column> {
    let mut out = Vec::new();
    for (name, alias, desc, _) in list {
        if with_pri {
            out.push(col(name, &format!("sibling:pri;alias:{alias};default:false;text-align:right;desc:{desc}")));
            out.push(col(&format!("pri.{name}"), &format!("default:false;text-align:right;desc:{desc}")));
        } else {
            out.push(col(name, &format!("alias:{alias};default:false;text-align:right;desc:{desc}")));
        }
    }
    out
}

fn stat_cells<'a>(
    list: &'a [(&'a str, &'a str, &'a str, StatValue)],
    stats: Option<&ShardStats>,
    prefix: &str,
) -> Vec<(String, Cell)> {
    list.iter().map(|(name, _, _, f)| (format!("{prefix}{name}"), stats.map(f).unwrap_or(Cell::Null))).collect()
}

/// `push` for rows whose column names are built at runtime.
fn push_owned(t: &mut Table, cells: Vec<(String, Cell)>) {
    let borrowed: Vec<(&str, Cell)> = cells.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    t.push(borrowed);
}

pub(crate) fn iso_millis(ms: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(ms).map(|d| d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
}

fn index_expr(path: &Option<Path<Vec<(String, String)>>>, name: &str) -> Vec<String> {
    path_param(path, name).map(|i| split_list(&i)).unwrap_or_else(|| vec!["_all".into()])
}

fn parse_health(v: &str) -> Result<HealthStatus, EsError> {
    HealthStatus::parse(v).ok_or_else(|| EsError::illegal_argument(format!("unknown cluster health status [{v}]")))
}

// ---------------------------------------------------------------------------------------------
// Endpoints
// ---------------------------------------------------------------------------------------------

const CAT_HELP: &str = "=^.^=
/_cat/allocation
/_cat/shards
/_cat/shards/{index}
/_cat/master
/_cat/nodes
/_cat/indices
/_cat/indices/{index}
/_cat/segments
/_cat/segments/{index}
/_cat/count
/_cat/count/{index}
/_cat/recovery
/_cat/recovery/{index}
/_cat/health
/_cat/aliases
/_cat/aliases/{alias}
/_cat/thread_pool
/_cat/thread_pool/{thread_pools}
/_cat/plugins
/_cat/nodeattrs
/_cat/templates
/_cat/templates/{name}
";

/// `GET /_cat`
pub async fn help(ctx: Ctx) -> ApiResult<Response> {
    ctx.params.check(&[])?;
    ctx.text(CAT_HELP.to_string())
}

fn indices_columns() -> Vec<Column> {
    let mut cols = vec![
        col("health", "alias:h;desc:current health status"),
        col("status", "alias:s;desc:open/close status"),
        col("index", "alias:i,idx;desc:index name"),
        col("uuid", "alias:id,uuid;desc:index uuid"),
        col("pri", "alias:p,shards.primary,shardsPrimary;text-align:right;desc:number of primary shards"),
        col("rep", "alias:r,shards.replica,shardsReplica;text-align:right;desc:number of replica shards"),
        col("docs.count", "alias:dc,docsCount;text-align:right;desc:available docs"),
        col("docs.deleted", "alias:dd,docsDeleted;text-align:right;desc:deleted docs"),
        col("creation.date", "alias:cd;default:false;desc:index creation date (millisecond value)"),
        col("creation.date.string", "alias:cds;default:false;desc:index creation date (as string)"),
        col("store.size", "sibling:pri;alias:ss,storeSize;text-align:right;desc:store size of primaries & replicas"),
        col("pri.store.size", "text-align:right;desc:store size of primaries"),
        col("dataset.size", "default:false;text-align:right;desc:total size of dataset"),
    ];
    cols.extend(stat_columns(STAT_COLS, true));
    cols.extend(stat_columns(WARMER_COLS, true));
    cols.push(col("search.throttled", "alias:sth;default:false;desc:indicates if the index is search throttled"));
    cols
}

/// `GET /_cat/indices`, `/_cat/indices/{index}`
pub async fn indices(
    State(node): State<Arc<Node>>,
    path: Option<Path<Vec<(String, String)>>>,
    ctx: Ctx,
) -> ApiResult<Response> {
    let o = check(
        &ctx,
        &[
            "local",
            "master_timeout",
            "health",
            "expand_wildcards",
            "include_unloaded_segments",
            "ignore_unavailable",
            "allow_no_indices",
        ],
    )?;
    if o.help {
        return ctx.text(Table::help_text(&indices_columns()));
    }
    let health_filter = ctx.params.get("health").map(parse_health).transpose()?;
    let opts = ctx.params.indices_options(IndicesOptions::strict_expand_open_closed())?;
    let meta = node.metadata();
    let names = meta.resolve_indices(&index_expr(&path, "index"), &opts).map_err(|e| ctx.error(EsError::from(e)))?;
    let n2 = node.clone();
    let (m2, names2) = (meta.clone(), names.clone());
    let remote = node.remote_copy_stats(&meta, &names).await;
    let stats = blocking(move || n2.indices_stats(&m2, &names2, &remote)).await.map_err(|e| ctx.error(e))?;
    let mut t = Table::new(indices_columns());
    for ix in &stats {
        if health_filter.is_some_and(|h| h != ix.health) {
            continue;
        }
        let Some(im) = meta.indices.get(&ix.index) else { continue };
        let open = ix.state == IndexState::Open;
        let (pri, total) = (ix.primaries(), ix.total());
        let (pri, total) = if open { (Some(&pri), Some(&total)) } else { (None, None) };
        let mut cells: Vec<(String, Cell)> = vec![
            ("health".into(), ix.health.as_str().into()),
            ("status".into(), ix.state.as_str().into()),
            ("index".into(), ix.index.clone().into()),
            ("uuid".into(), ix.uuid.clone().into()),
            ("pri".into(), im.number_of_shards().into()),
            ("rep".into(), tern_node::info::effective_replicas(im).into()),
            ("docs.count".into(), pri.map(|s| s.docs_count).into()),
            ("docs.deleted".into(), pri.map(|s| s.docs_deleted).into()),
            ("creation.date".into(), im.creation_date.into()),
            ("creation.date.string".into(), iso_millis(im.creation_date).into()),
            ("store.size".into(), total.map(|s| Cell::Bytes(s.store_size_bytes)).unwrap_or(Cell::Null)),
            ("pri.store.size".into(), pri.map(|s| Cell::Bytes(s.store_size_bytes)).unwrap_or(Cell::Null)),
            ("dataset.size".into(), total.map(|s| Cell::Bytes(s.store_size_bytes)).unwrap_or(Cell::Null)),
            ("search.throttled".into(), false.into()),
        ];
        for list in [STAT_COLS, WARMER_COLS] {
            cells.extend(stat_cells(list, total, ""));
            cells.extend(stat_cells(list, pri, "pri."));
        }
        push_owned(&mut t, cells);
    }
    t.respond(&ctx, &o)
}

fn health_columns() -> Vec<Column> {
    vec![
        col("cluster", "alias:cl;desc:cluster name"),
        col("status", "alias:st;desc:health status"),
        col("node.total", "alias:nt,nodeTotal;text-align:right;desc:total number of nodes"),
        col("node.data", "alias:nd,nodeData;text-align:right;desc:number of nodes that can store data"),
        col("shards", "alias:t,sh,shards.total,shardsTotal;text-align:right;desc:total number of shards"),
        col("pri", "alias:p,shards.primary,shardsPrimary;text-align:right;desc:number of primary shards"),
        col("relo", "alias:r,shards.relocating,shardsRelocating;text-align:right;desc:number of relocating nodes"),
        col(
            "init",
            "alias:i,shards.initializing,shardsInitializing;text-align:right;desc:number of initializing nodes",
        ),
        col("unassign", "alias:u,shards.unassigned,shardsUnassigned;text-align:right;desc:number of unassigned shards"),
        col("pending_tasks", "alias:pt,pendingTasks;text-align:right;desc:number of pending tasks"),
        col("max_task_wait_time", "alias:mtwt,maxTaskWaitTime;text-align:right;desc:wait time of longest task pending"),
        col(
            "active_shards_percent",
            "alias:asp,activeShardsPercent;text-align:right;desc:active number of shards in percent",
        ),
    ]
}

/// `GET /_cat/health`
pub async fn health(State(node): State<Arc<Node>>, ctx: Ctx) -> ApiResult<Response> {
    let o = check(&ctx, &["local", "master_timeout"])?;
    let mut t = Table::with_timestamp(health_columns());
    if o.help {
        return ctx.text(Table::help_text(&t.cols));
    }
    let meta = node.metadata();
    let all: Vec<String> = meta.indices.keys().cloned().collect();
    let h = node.cluster_health(&meta, &all);
    let mut cells = Table::now_cells();
    cells.extend([
        ("cluster", h.cluster_name.clone().into()),
        ("status", h.status.as_str().into()),
        ("node.total", h.number_of_nodes.into()),
        ("node.data", h.number_of_data_nodes.into()),
        ("shards", h.active_shards.into()),
        ("pri", h.active_primary_shards.into()),
        ("relo", h.relocating_shards.into()),
        ("init", h.initializing_shards.into()),
        ("unassign", h.unassigned_shards.into()),
        ("pending_tasks", h.number_of_pending_tasks.into()),
        (
            "max_task_wait_time",
            if h.task_max_waiting_in_queue_millis == 0 {
                "-".into()
            } else {
                Cell::Millis(h.task_max_waiting_in_queue_millis)
            },
        ),
        ("active_shards_percent", format!("{:.1}%", h.active_shards_percent).into()),
    ]);
    t.push(cells);
    t.respond(&ctx, &o)
}

fn shards_columns() -> Vec<Column> {
    let mut cols = vec![
        col("index", "default:true;alias:i,idx;desc:index name"),
        col("shard", "default:true;alias:s,sh;desc:shard name"),
        col("prirep", "alias:p,pr,primaryOrReplica;default:true;desc:primary or replica"),
        col("state", "default:true;alias:st;desc:shard state"),
        col("docs", "alias:d,dc;text-align:right;desc:number of docs in shard"),
        col("store", "alias:sto;text-align:right;desc:store size of shard (how much disk it uses)"),
        col("ip", "default:true;desc:ip of node where it lives"),
        col("id", "default:false;desc:unique id of node where it lives"),
        col("node", "default:true;alias:n;desc:name of node where it lives"),
        col("sync_id", "alias:sync_id;default:false;desc:sync id"),
        col("unassigned.reason", "alias:ur;default:false;desc:reason shard is unassigned"),
        col("unassigned.at", "alias:ua;default:false;desc:time shard became unassigned (UTC)"),
        col("unassigned.for", "alias:uf;default:false;text-align:right;desc:time has been unassigned"),
        col(
            "unassigned.details",
            "alias:ud;default:false;desc:additional details as to why the shard became unassigned",
        ),
        col("recoverysource.type", "alias:rs;default:false;desc:recovery source type"),
    ];
    cols.extend(stat_columns(STAT_COLS, false));
    cols.extend([
        col("seq_no.max", "alias:sqm,maxSeqNo;default:false;text-align:right;desc:max sequence number"),
        col(
            "seq_no.local_checkpoint",
            "alias:sql,localCheckpoint;default:false;text-align:right;desc:local checkpoint",
        ),
        col(
            "seq_no.global_checkpoint",
            "alias:sqg,globalCheckpoint;default:false;text-align:right;desc:global checkpoint",
        ),
    ]);
    cols.extend(stat_columns(WARMER_COLS, false));
    cols.extend([
        col("path.data", "alias:pd,dataPath;default:false;text-align:right;desc:shard data path"),
        col("path.state", "alias:ps,statsPath;default:false;text-align:right;desc:shard state path"),
    ]);
    cols
}

/// `GET /_cat/shards`, `/_cat/shards/{index}`
pub async fn shards(
    State(node): State<Arc<Node>>,
    path: Option<Path<Vec<(String, String)>>>,
    ctx: Ctx,
) -> ApiResult<Response> {
    let o = check(&ctx, &["local", "master_timeout", "expand_wildcards", "ignore_unavailable", "allow_no_indices"])?;
    if o.help {
        return ctx.text(Table::help_text(&shards_columns()));
    }
    let mut opts = ctx.params.indices_options(IndicesOptions::strict_expand_open_closed())?;
    if ctx.params.get("expand_wildcards").is_none() {
        opts.expand_wildcards.hidden = true;
    }
    let meta = node.metadata();
    let names = meta.resolve_indices(&index_expr(&path, "index"), &opts).map_err(|e| ctx.error(EsError::from(e)))?;
    let n2 = node.clone();
    let m2 = meta.clone();
    let remote = node.remote_copy_stats(&meta, &names).await;
    let stats = blocking(move || n2.indices_stats(&m2, &names, &remote)).await.map_err(|e| ctx.error(e))?;
    let ip = node.publish_ip();
    let now = tern_node::node::now_millis();
    let registry = node.cluster_nodes();
    let node_of = |id: &Option<String>| id.as_ref().and_then(|id| registry.iter().find(|n| n.id == *id));
    let mut t = Table::new(shards_columns());
    for ix in &stats {
        let open = ix.state == IndexState::Open;
        for c in &ix.copies {
            let r = &c.routing;
            let stats = if open { c.stats.as_ref() } else { None };
            let assigned = r.node_id.is_some();
            let u = r.unassigned.as_ref();
            let recovery = match r.state {
                ShardState::Unassigned => Some("peer"),
                ShardState::Initializing => Some("existing_store"),
                ShardState::Started => None,
            };
            let path = c.path.as_ref().map(|p| p.display().to_string());
            let mut cells: Vec<(String, Cell)> = vec![
                ("index".into(), r.index.clone().into()),
                ("shard".into(), r.shard.into()),
                ("prirep".into(), if r.primary { "p" } else { "r" }.into()),
                ("state".into(), r.state.as_str().into()),
                ("docs".into(), stats.map(|s| s.docs_count).into()),
                ("store".into(), stats.map(|s| Cell::Bytes(s.store_size_bytes)).unwrap_or(Cell::Null)),
                (
                    "ip".into(),
                    assigned
                        .then(|| match node_of(&r.node_id) {
                            Some(n) if n.id != node.info.node_id => address_ip(&n.transport_address),
                            _ => ip.clone(),
                        })
                        .into(),
                ),
                ("id".into(), r.node_id.clone().into()),
                (
                    "node".into(),
                    assigned
                        .then(|| {
                            node_of(&r.node_id).map(|n| n.name.clone()).unwrap_or_else(|| node.info.node_name.clone())
                        })
                        .into(),
                ),
                ("unassigned.reason".into(), u.map(|u| u.reason).into()),
                ("unassigned.at".into(), u.and_then(|u| iso_millis(u.at_millis)).into()),
                (
                    "unassigned.for".into(),
                    u.map(|u| Cell::Millis(now.saturating_sub(u.at_millis).max(0) as u64)).unwrap_or(Cell::Null),
                ),
                ("unassigned.details".into(), u.and_then(|u| u.details.clone()).into()),
                ("recoverysource.type".into(), recovery.into()),
                ("seq_no.max".into(), stats.map(|s| s.max_seq_no).into()),
                ("seq_no.local_checkpoint".into(), stats.map(|s| s.max_seq_no).into()),
                ("seq_no.global_checkpoint".into(), stats.map(|s| s.max_seq_no).into()),
                ("path.data".into(), path.clone().into()),
                ("path.state".into(), path.into()),
            ];
            cells.extend(stat_cells(STAT_COLS, stats, ""));
            cells.extend(stat_cells(WARMER_COLS, stats, ""));
            push_owned(&mut t, cells);
        }
    }
    t.respond(&ctx, &o)
}

fn nodes_columns() -> Vec<Column> {
    let mut cols = vec![
        col("id", "default:false;alias:id,nodeId;desc:unique node id"),
        col("pid", "default:false;alias:p;desc:process id"),
        col("ip", "alias:i;desc:ip address"),
        col("port", "default:false;alias:po;desc:bound transport port"),
        col("http_address", "default:false;alias:http;desc:bound http address"),
        col("version", "default:false;alias:v;desc:es version"),
        col("flavor", "default:false;alias:f;desc:es distribution flavor"),
        col("type", "default:false;alias:t;desc:es distribution type"),
        col("build", "default:false;alias:b;desc:es build hash"),
        col("jdk", "default:false;alias:j;desc:jdk version"),
        col("disk.total", "default:false;alias:dt,diskTotal;text-align:right;desc:total disk space"),
        col("disk.used", "default:false;alias:du,diskUsed;text-align:right;desc:used disk space"),
        col("disk.avail", "default:false;alias:d,da,disk,diskAvail;text-align:right;desc:available disk space"),
        col(
            "disk.used_percent",
            "default:false;alias:dup,diskUsedPercent;text-align:right;desc:used disk space percentage",
        ),
        col(
            "heap.current",
            "default:false;alias:hc,heapCurrent;text-align:right;desc:used heap (tern: resident process memory)",
        ),
        col(
            "heap.percent",
            "alias:hp,heapPercent;text-align:right;desc:used heap ratio (tern: resident memory of physical memory)",
        ),
        col(
            "heap.max",
            "default:false;alias:hm,heapMax;text-align:right;desc:max configured heap (tern: physical memory)",
        ),
        col("ram.current", "default:false;alias:rc,ramCurrent;text-align:right;desc:used machine memory"),
        col("ram.percent", "alias:rp,ramPercent;text-align:right;desc:used machine memory ratio"),
        col("ram.max", "default:false;alias:rm,ramMax;text-align:right;desc:total machine memory"),
        col(
            "file_desc.current",
            "default:false;alias:fdc,fileDescriptorCurrent;text-align:right;desc:used file descriptors",
        ),
        col(
            "file_desc.percent",
            "default:false;alias:fdp,fileDescriptorPercent;text-align:right;desc:used file descriptor ratio",
        ),
        col("file_desc.max", "default:false;alias:fdm,fileDescriptorMax;text-align:right;desc:max file descriptors"),
        col("cpu", "alias:cpu;text-align:right;desc:recent cpu usage"),
        col("load_1m", "alias:l;text-align:right;desc:1m load avg"),
        col("load_5m", "alias:l;text-align:right;desc:5m load avg"),
        col("load_15m", "alias:l;text-align:right;desc:15m load avg"),
        col("uptime", "default:false;alias:u;text-align:right;desc:node uptime"),
        col(
            "node.role",
            "alias:r,role,nodeRole;desc:m:master eligible node, d:data node, i:ingest node, -:coordinating node only",
        ),
        col("master", "alias:m;desc:*:current master"),
        col("name", "alias:n;desc:node name"),
    ];
    cols.extend(stat_columns(STAT_COLS, false));
    cols.extend(stat_columns(WARMER_COLS, false));
    cols
}

fn ratio_percent(part: u64, whole: u64) -> Option<u64> {
    (whole > 0).then(|| ((part as f64 * 100.0) / whole as f64).round() as u64)
}

/// `GET /_cat/nodes`
pub async fn nodes(State(node): State<Arc<Node>>, ctx: Ctx) -> ApiResult<Response> {
    let o = check(&ctx, &["local", "master_timeout", "full_id", "include_unloaded_segments"])?;
    if o.help {
        return ctx.text(Table::help_text(&nodes_columns()));
    }
    let full_id = ctx.params.bool("full_id", false)?;
    let master = node.master_node_id();
    let n2 = node.clone();
    let ns = blocking(move || n2.node_stats()).await.map_err(|e| ctx.error(e))?;
    let info = &node.info;
    let id = if full_id { info.node_id.clone() } else { info.node_id.chars().take(4).collect() };
    let port = info.transport_address.rsplit(':').next().map(str::to_string);
    let mem_total = ns.os.mem_total_bytes;
    let rss = ns.process.mem_resident_bytes;
    let fs = ns.fs.as_ref();
    let disk_used = fs.map(|f| f.total_bytes.saturating_sub(f.available_bytes));
    let load = |i: usize| ns.os.load_average.map(|l| format!("{:.2}", l[i]));
    let mut cells: Vec<(String, Cell)> = vec![
        ("id".into(), id.into()),
        ("pid".into(), ns.process.pid.into()),
        ("ip".into(), node.publish_ip().into()),
        ("port".into(), port.into()),
        ("http_address".into(), info.http_address.clone().into()),
        ("version".into(), info.version.into()),
        ("flavor".into(), "default".into()),
        ("type".into(), "tar".into()),
        ("build".into(), env!("CARGO_PKG_VERSION").into()),
        ("disk.total".into(), fs.map(|f| Cell::Bytes(f.total_bytes)).unwrap_or(Cell::Null)),
        ("disk.used".into(), disk_used.map(Cell::Bytes).unwrap_or(Cell::Null)),
        ("disk.avail".into(), fs.map(|f| Cell::Bytes(f.available_bytes)).unwrap_or(Cell::Null)),
        (
            "disk.used_percent".into(),
            fs.filter(|f| f.total_bytes > 0)
                .map(|f| format!("{:.2}", disk_used.unwrap_or(0) as f64 * 100.0 / f.total_bytes as f64))
                .into(),
        ),
        ("heap.current".into(), rss.map(Cell::Bytes).unwrap_or(Cell::Null)),
        ("heap.percent".into(), rss.zip(mem_total).and_then(|(r, t)| ratio_percent(r, t)).into()),
        ("heap.max".into(), mem_total.map(Cell::Bytes).unwrap_or(Cell::Null)),
        ("ram.current".into(), ns.os.mem_used_bytes().map(Cell::Bytes).unwrap_or(Cell::Null)),
        ("ram.percent".into(), ns.os.mem_used_percent().into()),
        ("ram.max".into(), mem_total.map(Cell::Bytes).unwrap_or(Cell::Null)),
        ("file_desc.current".into(), ns.process.open_file_descriptors.into()),
        (
            "file_desc.percent".into(),
            ns.process
                .open_file_descriptors
                .zip(ns.process.max_file_descriptors)
                .and_then(|(c, m)| ratio_percent(c, m))
                .into(),
        ),
        ("file_desc.max".into(), ns.process.max_file_descriptors.into()),
        ("cpu".into(), ns.os.cpu_percent.into()),
        ("load_1m".into(), load(0).into()),
        ("load_5m".into(), load(1).into()),
        ("load_15m".into(), load(2).into()),
        ("uptime".into(), Cell::Millis(ns.uptime.as_millis() as u64)),
        ("node.role".into(), role_abbreviations(&info.roles).into()),
        ("master".into(), master_marker(&master, &info.node_id).into()),
        ("name".into(), info.node_name.clone().into()),
    ];
    cells.extend(stat_cells(STAT_COLS, Some(&ns.indices), ""));
    cells.extend(stat_cells(WARMER_COLS, Some(&ns.indices), ""));
    let mut t = Table::new(nodes_columns());
    push_owned(&mut t, cells);
    // The other nodes of a cluster, from the registry: tern does not fetch their statistics.
    for other in node.cluster_nodes().into_iter().filter(|n| n.id != info.node_id) {
        let id = if full_id { other.id.clone() } else { other.id.chars().take(4).collect() };
        let cells: Vec<(String, Cell)> = vec![
            ("id".into(), id.into()),
            ("ip".into(), address_ip(&other.transport_address).into()),
            ("port".into(), other.transport_address.rsplit(':').next().map(str::to_string).into()),
            ("http_address".into(), other.http_address.clone().into()),
            ("version".into(), info.version.into()),
            ("flavor".into(), "default".into()),
            ("type".into(), "tar".into()),
            ("build".into(), env!("CARGO_PKG_VERSION").into()),
            ("node.role".into(), role_abbreviations(&other.roles).into()),
            ("master".into(), master_marker(&master, &other.id).into()),
            ("name".into(), other.name.clone().into()),
        ];
        push_owned(&mut t, cells);
    }
    t.respond(&ctx, &o)
}

/// `GET /_cat/count`, `/_cat/count/{index}`
pub async fn count(
    State(node): State<Arc<Node>>,
    path: Option<Path<Vec<(String, String)>>>,
    ctx: Ctx,
) -> ApiResult<Response> {
    let o = check(&ctx, &["local", "master_timeout", "expand_wildcards", "ignore_unavailable", "allow_no_indices"])?;
    let mut t = Table::with_timestamp(vec![col("count", "alias:dc,docs.count,docsCount;desc:the document count")]);
    if o.help {
        return ctx.text(Table::help_text(&t.cols));
    }
    let opts = ctx.params.indices_options(IndicesOptions::strict_expand_open_forbid_closed())?;
    let targets = node.search_targets(&index_expr(&path, "index"), &opts).map_err(|e| ctx.error(e))?;
    let (n, _, _) = node.count(targets, None).await.map_err(|e| ctx.error(e))?;
    let mut cells = Table::now_cells();
    cells.push(("count", n.into()));
    t.push(cells);
    t.respond(&ctx, &o)
}

fn aliases_columns() -> Vec<Column> {
    vec![
        col("alias", "alias:a;desc:alias name"),
        col("index", "alias:i,idx;desc:index alias points to"),
        col("filter", "alias:f,fi;desc:filter"),
        col("routing.index", "alias:ri,routingIndex;desc:index routing"),
        col("routing.search", "alias:rs,routingSearch;desc:search routing"),
        col("is_write_index", "alias:w,isWriteIndex;desc:write index"),
    ]
}

/// `GET /_cat/aliases`, `/_cat/aliases/{name}`
pub async fn aliases(
    State(node): State<Arc<Node>>,
    path: Option<Path<Vec<(String, String)>>>,
    ctx: Ctx,
) -> ApiResult<Response> {
    let o = check(&ctx, &["local", "master_timeout", "expand_wildcards"])?;
    if o.help {
        return ctx.text(Table::help_text(&aliases_columns()));
    }
    let expand = match ctx.params.get("expand_wildcards") {
        Some(v) => tern_cluster::ExpandWildcards::parse(v).map_err(|e| ctx.error(EsError::from(e)))?,
        None => tern_cluster::ExpandWildcards::ALL,
    };
    let patterns = path_param(&path, "name").map(|n| split_list(&n)).filter(|p| !p.iter().any(|x| x == "_all"));
    let meta = node.metadata();
    let mut t = Table::new(aliases_columns());
    for im in meta.indices.values() {
        let state_ok = if im.is_open() { expand.open } else { expand.closed };
        if !state_ok || (im.is_hidden() && !expand.hidden) {
            continue;
        }
        for (name, a) in &im.aliases {
            if a.is_hidden == Some(true) && !expand.hidden {
                continue;
            }
            if let Some(p) = &patterns
                && !p.iter().any(|p| wildcard_match(p, name))
            {
                continue;
            }
            let dash = |v: Option<String>| Cell::Text(v.unwrap_or_else(|| "-".into()));
            t.push(vec![
                ("alias", name.clone().into()),
                ("index", im.name.clone().into()),
                ("filter", if a.filter.is_some() { "*" } else { "-" }.into()),
                ("routing.index", dash(a.index_routing.clone())),
                ("routing.search", dash(a.search_routing.clone())),
                ("is_write_index", dash(a.is_write_index.map(|w| w.to_string()))),
            ]);
        }
    }
    t.respond(&ctx, &o)
}

fn templates_columns() -> Vec<Column> {
    vec![
        col("name", "alias:n;desc:template name"),
        col("index_patterns", "alias:t;desc:template index patterns"),
        col("order", "alias:o,p;desc:template application order/priority number"),
        col("version", "alias:v;desc:version"),
        col("composed_of", "alias:c;desc:component templates comprising index template"),
    ]
}

/// `GET /_cat/templates`, `/_cat/templates/{name}`
pub async fn templates(
    State(node): State<Arc<Node>>,
    path: Option<Path<Vec<(String, String)>>>,
    ctx: Ctx,
) -> ApiResult<Response> {
    let o = check(&ctx, &["local", "master_timeout"])?;
    if o.help {
        return ctx.text(Table::help_text(&templates_columns()));
    }
    let pattern = path_param(&path, "name");
    let meta = node.metadata();
    let mut t = Table::new(templates_columns());
    for (name, tpl) in &meta.templates {
        if pattern.as_deref().is_some_and(|p| !wildcard_match(p, name)) {
            continue;
        }
        t.push(vec![
            ("name", name.clone().into()),
            ("index_patterns", format!("[{}]", tpl.index_patterns.join(", ")).into()),
            ("order", tpl.priority.into()),
            ("version", tpl.version.into()),
            ("composed_of", format!("[{}]", tpl.composed_of.join(", ")).into()),
        ]);
    }
    t.respond(&ctx, &o)
}

fn master_columns() -> Vec<Column> {
    vec![
        col("id", "desc:node id"),
        col("host", "alias:h;desc:host name"),
        col("ip", "desc:ip address "),
        col("node", "alias:n;desc:node name"),
    ]
}

/// `GET /_cat/master`
pub async fn master(State(node): State<Arc<Node>>, ctx: Ctx) -> ApiResult<Response> {
    let o = check(&ctx, &["local", "master_timeout"])?;
    if o.help {
        return ctx.text(Table::help_text(&master_columns()));
    }
    let mut t = Table::new(master_columns());
    let master = node.master_node_id();
    match master.as_deref() {
        Some(id) if id == node.info.node_id => t.push(vec![
            ("id", node.info.node_id.clone().into()),
            ("host", node.info.host.clone().into()),
            ("ip", node.publish_ip().into()),
            ("node", node.info.node_name.clone().into()),
        ]),
        Some(id) => {
            let other = node.cluster_nodes().into_iter().find(|n| n.id == id);
            let ip = other.as_ref().map(|n| address_ip(&n.transport_address));
            t.push(vec![
                ("id", id.to_string().into()),
                ("host", ip.clone().into()),
                ("ip", ip.into()),
                ("node", other.map(|n| n.name).into()),
            ])
        }
        None => t.push(vec![("id", Cell::Null), ("host", Cell::Null), ("ip", Cell::Null), ("node", Cell::Null)]),
    }
    t.respond(&ctx, &o)
}

fn allocation_columns() -> Vec<Column> {
    vec![
        col("shards", "alias:s;text-align:right;desc:number of shards on node"),
        col("disk.indices", "alias:di,diskIndices;text-align:right;desc:disk used by ES indices"),
        col("disk.used", "alias:du,diskUsed;text-align:right;desc:disk used (total, not just ES)"),
        col("disk.avail", "alias:da,diskAvail;text-align:right;desc:disk available"),
        col("disk.total", "alias:dt,diskTotal;text-align:right;desc:total capacity of all volumes"),
        col("disk.percent", "alias:dp,diskPercent;text-align:right;desc:percent disk used"),
        col("host", "alias:h;desc:host of node"),
        col("ip", "desc:ip of node"),
        col("node", "alias:n;desc:name of node"),
        col("node.role", "default:false;alias:r,role,nodeRole;desc:node roles"),
    ]
}

/// Whether a `node_id` expression selects this node (`_all`, `_local`, `_master`, id, name,
/// wildcards, `role:true|false`, `attr:value`).
pub(crate) fn node_selected(node: &Node, spec: &str) -> bool {
    let info = &node.info;
    let mut selected = false;
    for part in split_list(spec) {
        match part.as_str() {
            "_all" | "_local" | "_master" | "*" => selected = true,
            p => match p.split_once(':') {
                Some((k, v)) => {
                    let is_role = matches!(
                        k,
                        "master"
                            | "data"
                            | "ingest"
                            | "ml"
                            | "remote_cluster_client"
                            | "transform"
                            | "voting_only"
                            | "coordinating_only"
                    ) || k.starts_with("data_");
                    if is_role {
                        let has = if k == "coordinating_only" {
                            info.roles.is_empty()
                        } else if k == "data" {
                            node.is_data_node()
                        } else {
                            info.roles.iter().any(|r| r == k)
                        };
                        match v {
                            "true" if has => selected = true,
                            "false" if has => selected = false,
                            _ => {}
                        }
                    } else if info.attributes.get(k).is_some_and(|a| wildcard_match(v, a)) {
                        selected = true;
                    }
                }
                None => {
                    if wildcard_match(p, &info.node_id) || wildcard_match(p, &info.node_name) {
                        selected = true;
                    }
                }
            },
        }
    }
    selected
}

/// `GET /_cat/allocation`, `/_cat/allocation/{node_id}`
pub async fn allocation(
    State(node): State<Arc<Node>>,
    path: Option<Path<Vec<(String, String)>>>,
    ctx: Ctx,
) -> ApiResult<Response> {
    let o = check(&ctx, &["local", "master_timeout"])?;
    if o.help {
        return ctx.text(Table::help_text(&allocation_columns()));
    }
    let meta = node.metadata();
    let routing = node.routing_table(&meta, None);
    let assigned = routing.iter().flat_map(|r| r.copies()).filter(|c| c.node_id.is_some()).count() as u64;
    let unassigned = routing.iter().flat_map(|r| r.copies()).filter(|c| c.node_id.is_none()).count() as u64;
    let mut t = Table::new(allocation_columns());
    if path_param(&path, "node_id").is_none_or(|spec| node_selected(&node, &spec)) {
        let n2 = node.clone();
        let ns = blocking(move || n2.node_stats()).await.map_err(|e| ctx.error(e))?;
        let fs = ns.fs.as_ref();
        let used = fs.map(|f| f.total_bytes.saturating_sub(f.available_bytes));
        t.push(vec![
            ("shards", assigned.into()),
            ("disk.indices", Cell::Bytes(ns.indices.store_size_bytes)),
            ("disk.used", used.map(Cell::Bytes).unwrap_or(Cell::Null)),
            ("disk.avail", fs.map(|f| Cell::Bytes(f.available_bytes)).unwrap_or(Cell::Null)),
            ("disk.total", fs.map(|f| Cell::Bytes(f.total_bytes)).unwrap_or(Cell::Null)),
            (
                "disk.percent",
                fs.zip(used).and_then(|(f, u)| (f.total_bytes > 0).then(|| u * 100 / f.total_bytes)).into(),
            ),
            ("host", node.info.host.clone().into()),
            ("ip", node.publish_ip().into()),
            ("node", node.info.node_name.clone().into()),
            ("node.role", role_abbreviations(&node.info.roles).into()),
        ]);
    }
    if unassigned > 0 {
        t.push(vec![("shards", unassigned.into()), ("node", "UNASSIGNED".into())]);
    }
    t.respond(&ctx, &o)
}

fn segments_columns() -> Vec<Column> {
    vec![
        col("index", "default:true;alias:i,idx;desc:index name"),
        col("shard", "default:true;alias:s,sh;desc:shard name"),
        col("prirep", "alias:p,pr,primaryOrReplica;default:true;desc:primary or replica"),
        col("ip", "default:true;desc:ip of node where it lives"),
        col("id", "default:false;desc:unique id of node where it lives"),
        col("segment", "default:true;alias:seg;desc:segment name"),
        col("generation", "default:true;alias:g,gen;text-align:right;desc:segment generation"),
        col("docs.count", "default:true;alias:dc,docsCount;text-align:right;desc:number of docs in segment"),
        col(
            "docs.deleted",
            "default:true;alias:dd,docsDeleted;text-align:right;desc:number of deleted docs in segment",
        ),
        col("size", "default:true;alias:si;text-align:right;desc:segment size in bytes"),
        col("size.memory", "default:true;alias:sm,sizeMemory;text-align:right;desc:segment memory in bytes"),
        col("committed", "default:true;alias:ic,isCommitted;desc:is segment committed"),
        col("searchable", "default:true;alias:is,isSearchable;desc:is segment searched"),
        col("version", "default:true;alias:v,versionString;desc:version"),
        col("compound", "default:true;alias:ico,isCompound;desc:is segment compound"),
    ]
}

/// The Lucene version tern reports (as `GET /` does); segments are tantivy segments.
const SEGMENT_VERSION: &str = "9.11.1";

/// `GET /_cat/segments`, `/_cat/segments/{index}`
pub async fn segments(
    State(node): State<Arc<Node>>,
    path: Option<Path<Vec<(String, String)>>>,
    ctx: Ctx,
) -> ApiResult<Response> {
    let o = check(
        &ctx,
        &[
            "local",
            "master_timeout",
            "expand_wildcards",
            "ignore_unavailable",
            "allow_no_indices",
            "allow_closed",
            "ignore_throttled",
        ],
    )?;
    if o.help {
        return ctx.text(Table::help_text(&segments_columns()));
    }
    let opts = ctx.params.indices_options(IndicesOptions::strict_expand_open_forbid_closed())?;
    let meta = node.metadata();
    let names = meta.resolve_indices(&index_expr(&path, "index"), &opts).map_err(|e| ctx.error(EsError::from(e)))?;
    let n2 = node.clone();
    let m2 = meta.clone();
    let segs = blocking(move || n2.segments(&m2, &names)).await.map_err(|e| ctx.error(e))?;
    let ip = node.publish_ip();
    let mut t = Table::new(segments_columns());
    for s in segs {
        t.push(vec![
            ("index", s.index.into()),
            ("shard", s.shard.into()),
            ("prirep", if s.primary { "p" } else { "r" }.into()),
            ("ip", ip.clone().into()),
            ("id", node.info.node_id.clone().into()),
            ("segment", s.name.into()),
            ("generation", s.generation.into()),
            ("docs.count", s.docs_count.into()),
            ("docs.deleted", s.docs_deleted.into()),
            ("size", Cell::Bytes(s.size_bytes)),
            ("size.memory", Cell::Bytes(0)),
            ("committed", true.into()),
            ("searchable", true.into()),
            ("version", SEGMENT_VERSION.into()),
            ("compound", false.into()),
        ]);
    }
    t.respond(&ctx, &o)
}

fn recovery_columns() -> Vec<Column> {
    vec![
        col("index", "alias:i,idx;desc:index name"),
        col("shard", "alias:s,sh;desc:shard name"),
        col("start_time", "default:false;alias:start;desc:recovery start time"),
        col("start_time_millis", "default:false;alias:start_millis;desc:recovery start time in epoch milliseconds"),
        col("stop_time", "default:false;alias:stop;desc:recovery stop time"),
        col("stop_time_millis", "default:false;alias:stop_millis;desc:recovery stop time in epoch milliseconds"),
        col("time", "alias:t,ti;text-align:right;desc:recovery time"),
        col("type", "alias:ty;desc:recovery type"),
        col("stage", "alias:st;desc:recovery stage"),
        col("source_host", "alias:shost;desc:source host"),
        col("source_node", "alias:snode;desc:source node name"),
        col("target_host", "alias:thost;desc:target host"),
        col("target_node", "alias:tnode;desc:target node name"),
        col("repository", "alias:rep;desc:repository"),
        col("snapshot", "alias:snap;desc:snapshot"),
        col("files", "alias:f;desc:number of files to recover"),
        col("files_recovered", "alias:fr;desc:files recovered"),
        col("files_percent", "alias:fp;desc:percent of files recovered"),
        col("files_total", "alias:tf;desc:total number of files"),
        col("bytes", "alias:b;desc:number of bytes to recover"),
        col("bytes_recovered", "alias:br;desc:bytes recovered"),
        col("bytes_percent", "alias:bp;desc:percent of bytes recovered"),
        col("bytes_total", "alias:tb;desc:total number of bytes"),
        col("translog_ops", "alias:to;desc:number of translog ops to recover"),
        col("translog_ops_recovered", "alias:tor;desc:translog ops recovered"),
        col("translog_ops_percent", "alias:top;desc:percent of translog ops recovered"),
    ]
}

/// `GET /_cat/recovery`, `/_cat/recovery/{index}`: every open primary recovered locally (from an
/// empty store when the index was created while this node ran, else from its existing store), and
/// every copy's last peer recovery (the files of its raft leader's snapshot), on any node.
pub async fn recovery(
    State(node): State<Arc<Node>>,
    path: Option<Path<Vec<(String, String)>>>,
    ctx: Ctx,
) -> ApiResult<Response> {
    let o = check(
        &ctx,
        &[
            "active_only",
            "detailed",
            "index",
            "local",
            "master_timeout",
            "expand_wildcards",
            "ignore_unavailable",
            "allow_no_indices",
        ],
    )?;
    if o.help {
        return ctx.text(Table::help_text(&recovery_columns()));
    }
    let active_only = ctx.params.bool("active_only", false)?;
    ctx.params.bool("detailed", false)?;
    let mut expr = index_expr(&path, "index");
    if let Some(i) = ctx.params.get("index") {
        expr = split_list(i);
    }
    let opts = ctx.params.indices_options(IndicesOptions::strict_expand_open())?;
    let meta = node.metadata();
    let names = meta.resolve_indices(&expr, &opts).map_err(|e| ctx.error(EsError::from(e)))?;
    let routing = node.routing_table(&meta, Some(names.as_slice()));
    let started_at = node.info.start_time_millis;
    let mut t = Table::new(recovery_columns());
    for r in &routing {
        let Some(im) = meta.indices.get(&r.index) else { continue };
        if !im.is_open() || active_only {
            continue;
        }
        for c in r.copies().filter(|c| c.primary && c.state == ShardState::Started) {
            let start = im.creation_date.max(started_at);
            let existing = im.creation_date < started_at;
            t.push(vec![
                ("index", c.index.clone().into()),
                ("shard", c.shard.into()),
                ("start_time", iso_millis(start).into()),
                ("start_time_millis", start.into()),
                ("stop_time", iso_millis(start).into()),
                ("stop_time_millis", start.into()),
                ("time", Cell::Millis(0)),
                ("type", if existing { "existing_store" } else { "empty_store" }.into()),
                ("stage", "done".into()),
                ("source_host", "n/a".into()),
                ("source_node", "n/a".into()),
                ("target_host", node.info.host.clone().into()),
                ("target_node", node.info.node_name.clone().into()),
                ("repository", "n/a".into()),
                ("snapshot", "n/a".into()),
                ("files", 0u64.into()),
                ("files_recovered", 0u64.into()),
                ("files_percent", "100.0%".into()),
                ("files_total", 0u64.into()),
                ("bytes", Cell::Bytes(0)),
                ("bytes_recovered", Cell::Bytes(0)),
                ("bytes_percent", "100.0%".into()),
                ("bytes_total", Cell::Bytes(0)),
                ("translog_ops", 0u64.into()),
                ("translog_ops_recovered", 0u64.into()),
                ("translog_ops_percent", "100.0%".into()),
            ]);
        }
    }
    for r in node.recoveries().await {
        let Some(im) = meta.indices.values().find(|im| im.uuid == r.index_uuid) else { continue };
        if !names.contains(&im.name) || !im.is_open() || (active_only && r.stop_millis.is_some()) {
            continue;
        }
        let host = |addr: &str| addr.rsplit_once(':').map_or(addr, |(h, _)| h).to_string();
        let percent = |done: u64, total: u64| {
            format!("{:.1}%", if total == 0 { 100.0 } else { done as f64 * 100.0 / total as f64 })
        };
        let stop = r.stop_millis.unwrap_or(0);
        t.push(vec![
            ("index", im.name.clone().into()),
            ("shard", r.shard.into()),
            ("start_time", iso_millis(r.start_millis).into()),
            ("start_time_millis", r.start_millis.into()),
            ("stop_time", r.stop_millis.and_then(iso_millis).into()),
            ("stop_time_millis", stop.into()),
            ("time", Cell::Millis(r.time_millis() as u64)),
            ("type", "peer".into()),
            ("stage", r.stage.as_str().to_ascii_lowercase().into()),
            ("source_host", host(&r.source_address).into()),
            ("source_node", r.source_node.clone().into()),
            ("target_host", host(&r.target_address).into()),
            ("target_node", r.target_node.clone().into()),
            ("repository", "n/a".into()),
            ("snapshot", "n/a".into()),
            ("files", r.files_to_recover.into()),
            ("files_recovered", r.files_recovered.into()),
            ("files_percent", percent(r.files_recovered, r.files_to_recover).into()),
            ("files_total", r.files_total.into()),
            ("bytes", Cell::Bytes(r.bytes_to_recover)),
            ("bytes_recovered", Cell::Bytes(r.bytes_recovered)),
            ("bytes_percent", percent(r.bytes_recovered, r.bytes_to_recover).into()),
            ("bytes_total", Cell::Bytes(r.bytes_total)),
            ("translog_ops", 0u64.into()),
            ("translog_ops_recovered", 0u64.into()),
            ("translog_ops_percent", "100.0%".into()),
        ]);
    }
    t.respond(&ctx, &o)
}

fn thread_pool_columns() -> Vec<Column> {
    vec![
        col("node_name", "default:true;alias:nn;desc:node name"),
        col("node_id", "default:false;alias:id;desc:persistent node id"),
        col("ephemeral_node_id", "default:false;alias:eid;desc:ephemeral node id"),
        col("pid", "default:false;alias:p;desc:process id"),
        col("host", "default:false;alias:h;desc:host name"),
        col("ip", "default:false;alias:i;desc:ip address"),
        col("port", "default:false;alias:po;desc:bound transport port"),
        col("name", "default:true;alias:n;desc:thread pool name"),
        col("type", "alias:t;default:false;desc:thread pool type"),
        col("active", "alias:a;default:true;text-align:right;desc:number of active threads"),
        col("pool_size", "alias:psz;default:false;text-align:right;desc:number of threads"),
        col("queue", "alias:q;default:true;text-align:right;desc:number of tasks currently in queue"),
        col("queue_size", "alias:qs;default:false;text-align:right;desc:maximum number of tasks permitted in queue"),
        col("rejected", "alias:r;default:true;text-align:right;desc:number of rejected tasks"),
        col("largest", "alias:l;default:false;text-align:right;desc:highest number of seen active threads"),
        col("completed", "alias:c;default:false;text-align:right;desc:number of completed tasks"),
        col("core", "alias:cr;default:false;text-align:right;desc:core number of threads in a scaling thread pool"),
        col("max", "alias:mx;default:false;text-align:right;desc:maximum number of threads in a scaling thread pool"),
        col("size", "alias:sz;default:false;text-align:right;desc:number of threads in a fixed thread pool"),
        col("keep_alive", "alias:ka;default:false;text-align:right;desc:thread keep alive time"),
    ]
}

/// `GET /_cat/thread_pool`, `/_cat/thread_pool/{thread_pool_patterns}`. tern runs on an async
/// runtime rather than ES's named pools and never rejects work by queue size; the rows name the ES
/// pools that clients look for, sized to the processors, with no queued or rejected work.
pub async fn thread_pool(
    State(node): State<Arc<Node>>,
    path: Option<Path<Vec<(String, String)>>>,
    ctx: Ctx,
) -> ApiResult<Response> {
    let o = check(&ctx, &["local", "master_timeout"])?;
    if o.help {
        return ctx.text(Table::help_text(&thread_pool_columns()));
    }
    let patterns = path_param(&path, "thread_pool_patterns").map(|p| split_list(&p));
    let cpus = tern_node::info::available_processors() as u64;
    let info = &node.info;
    let port = info.transport_address.rsplit(':').next().map(str::to_string);
    let pools: [(&str, &str); 5] =
        [("generic", "scaling"), ("get", "fixed"), ("management", "scaling"), ("search", "fixed"), ("write", "fixed")];
    let mut t = Table::new(thread_pool_columns());
    for (name, kind) in pools {
        if patterns.as_ref().is_some_and(|p| !p.iter().any(|p| wildcard_match(p, name))) {
            continue;
        }
        let fixed = kind == "fixed";
        t.push(vec![
            ("node_name", info.node_name.clone().into()),
            ("node_id", info.node_id.clone().into()),
            ("ephemeral_node_id", info.node_id.clone().into()),
            ("pid", std::process::id().into()),
            ("host", info.host.clone().into()),
            ("ip", node.publish_ip().into()),
            ("port", port.clone().into()),
            ("name", name.into()),
            ("type", kind.into()),
            ("active", 0u64.into()),
            ("pool_size", cpus.into()),
            ("queue", 0u64.into()),
            ("queue_size", if fixed { Cell::Int(-1) } else { Cell::Null }),
            ("rejected", 0u64.into()),
            ("largest", cpus.into()),
            ("completed", 0u64.into()),
            ("core", if fixed { Cell::Null } else { Cell::Int(1) }),
            ("max", if fixed { Cell::Null } else { cpus.into() }),
            ("size", if fixed { cpus.into() } else { Cell::Null }),
            ("keep_alive", if fixed { Cell::Null } else { "30s".into() }),
        ]);
    }
    t.respond(&ctx, &o)
}

fn plugins_columns() -> Vec<Column> {
    vec![
        col("id", "default:false;desc:unique node id"),
        col("name", "alias:n;desc:node name"),
        col("component", "alias:c;desc:component"),
        col("version", "alias:v;desc:component version"),
        col("description", "alias:d;default:false;desc:plugin details"),
    ]
}

/// `GET /_cat/plugins`: tern has no ES plugins installed.
pub async fn plugins(ctx: Ctx) -> ApiResult<Response> {
    let o = check(&ctx, &["local", "master_timeout", "include_bootstrap"])?;
    if o.help {
        return ctx.text(Table::help_text(&plugins_columns()));
    }
    Table::new(plugins_columns()).respond(&ctx, &o)
}

fn nodeattrs_columns() -> Vec<Column> {
    vec![
        col("node", "default:true;alias:name;desc:node name"),
        col("id", "default:false;alias:id,nodeId;desc:unique node id"),
        col("pid", "default:false;alias:p;desc:process id"),
        col("host", "alias:h;desc:host name"),
        col("ip", "alias:i;desc:ip address"),
        col("port", "default:false;alias:po;desc:bound transport port"),
        col("attr", "default:true;alias:attr.name;desc:attribute description"),
        col("value", "default:true;alias:attr.value;desc:attribute value"),
    ]
}

/// `GET /_cat/nodeattrs`
pub async fn nodeattrs(State(node): State<Arc<Node>>, ctx: Ctx) -> ApiResult<Response> {
    let o = check(&ctx, &["local", "master_timeout"])?;
    if o.help {
        return ctx.text(Table::help_text(&nodeattrs_columns()));
    }
    let info = &node.info;
    let port = info.transport_address.rsplit(':').next().map(str::to_string);
    let mut t = Table::new(nodeattrs_columns());
    for (k, v) in &info.attributes {
        t.push(vec![
            ("node", info.node_name.clone().into()),
            ("id", info.node_id.clone().into()),
            ("pid", std::process::id().into()),
            ("host", info.host.clone().into()),
            ("ip", node.publish_ip().into()),
            ("port", port.clone().into()),
            ("attr", k.clone().into()),
            ("value", v.clone().into()),
        ]);
    }
    t.respond(&ctx, &o)
}

/// `*` for the elected master, `-` for every other node (`_cat/nodes`).
fn master_marker(master: &Option<String>, node_id: &str) -> &'static str {
    if master.as_deref() == Some(node_id) { "*" } else { "-" }
}

/// The host part of a `host:port` address.
fn address_ip(addr: &str) -> String {
    addr.rsplit_once(':').map(|(h, _)| h.trim_matches(|c| c == '[' || c == ']').to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table {
        let mut t = Table::new(vec![
            col("index", "alias:i,idx;desc:index name"),
            col("docs.count", "alias:dc,docsCount;text-align:right;desc:available docs"),
            col("store.size", "sibling:pri;alias:ss;text-align:right;desc:store size"),
            col("pri.store.size", "text-align:right;desc:primary store size"),
            col("hidden", "default:false;desc:not shown by default"),
        ]);
        t.push(vec![
            ("index", "bb".into()),
            ("docs.count", 5u64.into()),
            ("store.size", Cell::Bytes(2048)),
            ("pri.store.size", Cell::Bytes(1024)),
        ]);
        t.push(vec![("index", "a".into()), ("docs.count", 100u64.into()), ("store.size", Cell::Bytes(300))]);
        t.push(vec![("index", "ccc".into()), ("docs.count", Cell::Null), ("store.size", Cell::Bytes(10 << 20))]);
        t
    }

    fn opts() -> CatOptions {
        CatOptions { ts: true, ..Default::default() }
    }

    #[test]
    fn text_pads_left_aligned_text_and_right_aligned_numbers() {
        let t = sample();
        let o = CatOptions { v: true, ..opts() };
        let text = t.to_text(&o).unwrap();
        assert_eq!(
            text,
            "index docs.count store.size pri.store.size\n\
             bb             5        2kb            1kb\n\
             a            100       300b               \n\
             ccc                    10mb               \n"
        );
    }

    #[test]
    fn last_left_aligned_column_has_no_trailing_blanks() {
        let t = sample();
        let o = CatOptions { h: Some(vec!["dc".into(), "i".into()]), ..opts() };
        assert_eq!(t.to_text(&o).unwrap(), "  5 bb\n100 a\n    ccc\n");
    }

    #[test]
    fn h_selects_by_name_alias_and_wildcard() {
        let t = sample();
        let o = CatOptions { v: true, h: Some(vec!["i".into(), "docs.*".into(), "nope".into()]), ..opts() };
        assert_eq!(t.to_text(&o).unwrap().lines().next().unwrap(), "i   docs.count");
        let o = CatOptions { h: Some(vec!["hidden".into()]), v: true, ..opts() };
        assert_eq!(t.to_text(&o).unwrap().lines().next().unwrap(), "hidden");
        // `pri` brings the sibling along, named after the alias used.
        let o = CatOptions { h: Some(vec!["ss".into()]), pri: true, v: true, ..opts() };
        assert_eq!(t.to_text(&o).unwrap().lines().next().unwrap(), "  ss pri.ss");
    }

    #[test]
    fn s_sorts_by_value_with_desc_and_nulls_first() {
        let t = sample();
        let names = |o: &CatOptions| -> Vec<String> {
            t.to_json(o).unwrap().as_array().unwrap().iter().map(|r| r["index"].as_str().unwrap().to_string()).collect()
        };
        assert_eq!(names(&CatOptions { s: Some(vec!["docs.count".into()]), ..opts() }), ["ccc", "bb", "a"]);
        assert_eq!(names(&CatOptions { s: Some(vec!["dc:desc".into()]), ..opts() }), ["a", "bb", "ccc"]);
        assert_eq!(names(&CatOptions { s: Some(vec!["store.size".into()]), ..opts() }), ["a", "bb", "ccc"]);
        assert_eq!(names(&CatOptions { s: Some(vec!["index:asc".into()]), ..opts() }), ["a", "bb", "ccc"]);
        let e = t.to_text(&CatOptions { s: Some(vec!["bogus".into()]), ..opts() }).unwrap_err();
        assert_eq!(e.reason, "Unable to sort by unknown sort key `bogus`");
        assert_eq!(e.es_type(), "unsupported_operation_exception");
    }

    #[test]
    fn json_rows_hold_strings_and_nulls_under_display_names() {
        let t = sample();
        let o = CatOptions {
            h: Some(vec!["i".into(), "dc".into(), "store.size".into()]),
            bytes: Some("b".into()),
            ..opts()
        };
        let v = t.to_json(&o).unwrap();
        assert_eq!(v[0], serde_json::json!({"i": "bb", "dc": "5", "store.size": "2048"}));
        assert_eq!(v[2]["dc"], Value::Null);
    }

    #[test]
    fn bytes_and_time_units() {
        let o = CatOptions { bytes: Some("kb".into()), time: Some("s".into()), ..opts() };
        assert_eq!(Cell::Bytes(4096).render(&o).as_deref(), Some("4"));
        assert_eq!(Cell::Millis(65_000).render(&o).as_deref(), Some("65"));
        assert_eq!(Cell::Millis(65_000).render(&opts()).as_deref(), Some("1m"));
    }

    #[test]
    fn timestamps_hide_with_ts_false() {
        let mut t = Table::with_timestamp(vec![col("count", "desc:n")]);
        let mut cells = Table::now_cells();
        cells.push(("count", 3u64.into()));
        t.push(cells);
        let text = t.to_text(&CatOptions { ts: false, ..opts() }).unwrap();
        assert_eq!(text, "3\n");
        let with = t.to_text(&opts()).unwrap();
        assert_eq!(with.split_whitespace().count(), 3);
    }

    #[test]
    fn help_lists_every_column_padded() {
        let cols = vec![col("index", "alias:i,idx;desc:index name"), col("dc", "desc:docs")];
        assert_eq!(Table::help_text(&cols), "index | i,idx | index name\ndc    |       | docs      \n");
    }

    #[test]
    fn empty_table_is_empty_text() {
        let t = Table::new(vec![col("a", "")]);
        assert_eq!(t.to_text(&opts()).unwrap(), "");
        assert_eq!(t.to_text(&CatOptions { v: true, ..opts() }).unwrap(), "a\n");
    }

    #[test]
    fn shards_help_lists_es_columns_in_order() {
        let names: Vec<String> = shards_columns().into_iter().map(|c| c.name).collect();
        assert_eq!(&names[..9], ["index", "shard", "prirep", "state", "docs", "store", "ip", "id", "node"]);
        assert_eq!(names.last().map(String::as_str), Some("path.state"));
        assert_eq!(names.len(), 71);
    }
}
