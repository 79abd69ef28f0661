//! Search hit highlighting, as Elasticsearch 8's `unified` (default), `plain` and `fvh` highlighters
//! produce it.
//!
//! tern keeps no offsets in its index, so every highlighter works like ES's does on a field without
//! offsets: the field's values are read from `_source` and re-analyzed with the field's index
//! analyzer (keyword-like fields are one token per value), and the query is matched against those
//! tokens. Offsets are UTF-16 code units throughout, as in Java, so `fragment_size`, passage scores
//! and boundaries come out as ES computes them.
//!
//! The query is first turned into a small tree of leaves ([`HlQuery`]): the terms, phrases and
//! multi-term patterns each clause of the query stands for, analyzed per field exactly as the query
//! compiler analyzes them. Then, per hit and per highlighted field:
//!
//! - `unified` with `require_field_match` (ES's "weight matches" mode): the tree is evaluated against
//!   the document, so only clauses that match it contribute, and a phrase match is one highlighted
//!   span (`<em>quick brown</em>`). Otherwise every leaf of the query contributes its matches, a phrase
//!   only where it matches as a phrase, one tag per term.
//! - Passages follow Lucene's `FieldHighlighter`: a passage grows from the sentence around a match
//!   (ES's `BoundedBreakIteratorScanner` keeps it near `fragment_size`), passages are scored with
//!   Lucene's BM25-like `PassageScorer` and the best `number_of_fragments` are returned in text order
//!   (or by score with `order: score`).
//! - `plain` follows Lucene's `Highlighter` with the span fragmenter, `fvh` Lucene's
//!   `FastVectorHighlighter` with its simple fragment list builder and boundary scanner.

use std::collections::{HashMap, HashSet};
use std::ops::Bound;
use std::sync::Arc;

use serde_json::Value;
use tern_common::EsError;
use tern_mapping::{FieldType, Mapping};
use tern_query::{
    BoundaryScanner, FieldOptions, Fuzziness, Highlight, MinimumShouldMatch, MultiMatchType, Operator, QueryAst,
    ZeroTermsQuery,
};
use unicode_segmentation::UnicodeSegmentation;

use crate::analysis::Analyzer;
use crate::engine::ShardEngine;
use crate::mapping_ext::{FieldKind, MappingExt};
use crate::search::{regex_escape, wildcard_to_regex};

/// The highlighted fragments of one hit: each field with its fragments, in request order.
pub type HitHighlight = Vec<(String, Vec<String>)>;

/// Index settings that shape highlighting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HighlightSettings {
    /// `index.highlight.max_analyzed_offset` (default 1,000,000).
    pub max_analyzed_offset: usize,
    /// `index.highlight.weight_matches_mode.enabled` (default true).
    pub weight_matches: bool,
}

impl Default for HighlightSettings {
    fn default() -> Self {
        HighlightSettings { max_analyzed_offset: 1_000_000, weight_matches: true }
    }
}

/// Separates the values of a multi-valued field in the highlighted text (ES joins them with a
/// separator character too); passages never cross it.
const SEP: u16 = 0x2029;
/// Lucene's `PassageScorer` defaults.
const K1: f32 = 1.2;
const B: f32 = 0.75;
const PIVOT: f32 = 87.0;
/// ES's `position_increment_gap` between the values of a text field.
const POSITION_GAP: usize = 100;
/// Fast vector highlighter fragment margin (Lucene's `SimpleFragListBuilder`).
const FVH_MARGIN: i64 = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HlType {
    Unified,
    Plain,
    Fvh,
}

/// Highlights the hits of one shard for one search request.
pub struct ShardHighlighter<'a> {
    engine: &'a ShardEngine,
    mapping: Mapping,
    settings: HighlightSettings,
    fields: Vec<Prepared>,
}

/// A concrete field to highlight with its merged options and the query it is highlighted for.
struct Prepared {
    name: String,
    opts: FieldOptions,
    kind: HlType,
    query: Arc<HlQuery>,
    /// `index_options: offsets` or term vectors with offsets: ES reads offsets from the index and
    /// never applies `index.highlight.max_analyzed_offset` to the unified highlighter.
    offsets_indexed: bool,
    /// Term vectors with positions and offsets, which the fast vector highlighter requires.
    term_vectors: bool,
}

impl<'a> ShardHighlighter<'a> {
    /// Resolves the requested fields against the shard's mapping and prepares the query.
    pub fn new(
        engine: &'a ShardEngine,
        spec: &Highlight,
        query: &QueryAst,
        settings: HighlightSettings,
    ) -> Result<Self, EsError> {
        let mapping = engine.mapping();
        let main = Arc::new(HlQuery::build(engine, &mapping, query));
        let mut fields: Vec<Prepared> = Vec::new();
        for field in &spec.fields {
            let opts = spec.field_options(field);
            let wildcard = field.name.contains('*');
            let kind = match opts.highlighter_type.as_deref() {
                None | Some("unified") => HlType::Unified,
                Some("plain") => HlType::Plain,
                Some("fvh") => HlType::Fvh,
                Some(other) => {
                    return Err(EsError::illegal_argument(format!(
                        "unknown highlighter type [{other}] for the field [{}]",
                        field.name
                    )));
                }
            };
            let query = match &opts.highlight_query {
                Some(q) => Arc::new(HlQuery::build(engine, &mapping, q)),
                None => main.clone(),
            };
            for name in matching_fields(&mapping, &field.name) {
                let Some((_, fm)) = mapping.resolve_field(&name) else { continue };
                if fm.field_type.is_object() {
                    continue;
                }
                if wildcard && !matches!(fm.field_type, FieldType::Text | FieldType::MatchOnlyText | FieldType::Keyword)
                {
                    continue;
                }
                let term_vector = fm.param("term_vector").and_then(Value::as_str).unwrap_or("no");
                let term_vectors = matches!(term_vector, "with_positions_offsets" | "with_positions_offsets_payloads");
                if wildcard && kind == HlType::Fvh && !term_vectors {
                    continue;
                }
                let offsets_indexed = fm.param("index_options").and_then(Value::as_str) == Some("offsets")
                    || matches!(
                        term_vector,
                        "with_offsets" | "with_positions_offsets" | "with_positions_offsets_payloads"
                    );
                let prepared = Prepared {
                    name: name.clone(),
                    opts: opts.clone(),
                    kind,
                    query: query.clone(),
                    offsets_indexed,
                    term_vectors,
                };
                match fields.iter_mut().find(|p| p.name == name) {
                    Some(existing) => *existing = prepared,
                    None => fields.push(prepared),
                }
            }
        }
        Ok(ShardHighlighter { engine, mapping, settings, fields })
    }

    /// Whether any field is to be highlighted at all.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The highlights of one hit (`None` when no field has any). `doc` names the document in
    /// errors, as ES names its Lucene doc id.
    pub fn highlight(&self, source: &[u8], doc: u64) -> Result<Option<HitHighlight>, EsError> {
        if self.fields.is_empty() || source.is_empty() {
            return Ok(None);
        }
        let Ok(source) = serde_json::from_slice::<Value>(source) else { return Ok(None) };
        let mut ctx = DocCtx { hl: self, source: &source, cache: HashMap::new() };
        let mut out = Vec::new();
        for f in &self.fields {
            let frags = self.highlight_field(f, &mut ctx, doc)?;
            if !frags.is_empty() {
                out.push((f.name.clone(), frags));
            }
        }
        Ok(if out.is_empty() { None } else { Some(out) })
    }

    fn highlight_field(&self, f: &Prepared, ctx: &mut DocCtx, doc: u64) -> Result<Vec<String>, EsError> {
        if f.kind == HlType::Fvh && !f.term_vectors {
            return Err(EsError::illegal_argument(format!(
                "the field [{}] should be indexed with term vector with position offsets to be used with fast vector highlighter",
                f.name
            )));
        }
        let Some(ft) = ctx.field_text(&f.name) else { return Ok(Vec::new()) };
        let index_max = self.settings.max_analyzed_offset;
        let query_max = match f.opts.max_analyzed_offset {
            None => None,
            Some(-1) => Some(index_max),
            Some(n) => Some(n.max(0) as usize),
        };
        let limit_exceeded = |len: usize| query_max.is_none_or(|q| q > index_max) && len > index_max;
        let too_long = |len: usize| {
            EsError::illegal_argument(format!(
                "The length [{len}] of field [{}] in doc[{}]/index[{}] exceeds the [index.highlight.max_analyzed_offset] limit [{index_max}]. To avoid this error, set the query parameter [max_analyzed_offset] to a value less than index setting [{index_max}] and this will tolerate long field values by truncating them.",
                f.name,
                doc & 0xffff_ffff,
                self.engine.ident().index
            ))
        };
        let require = f.opts.require_field_match;
        let accepted = |field: &str| {
            if require { field == f.name || f.opts.matched_fields.iter().any(|m| m == field) } else { field != "_id" }
        };
        let has_terms = f.query.leaves.iter().any(|l| accepted(&l.field));
        match f.kind {
            HlType::Unified => {
                if !has_terms && f.opts.no_match_size <= 0 {
                    return Ok(Vec::new());
                }
                if !f.offsets_indexed && limit_exceeded(ft.units.len()) {
                    return Err(too_long(ft.units.len()));
                }
                let weight = require && self.settings.weight_matches;
                let matches = if weight {
                    let mut out = Vec::new();
                    let source_path = ctx.source_path(&f.name);
                    let ev = WeightEval { hl_field: &f.name, source_path, accepted: &accepted, limit: query_max };
                    if !ev.eval(&f.query, &f.query.root, ctx, &mut out) {
                        out.clear();
                    }
                    out.sort_by(|a, b| (a.start, a.end, &a.key).cmp(&(b.start, b.end, &b.key)));
                    out.dedup_by(|a, b| a.start == b.start && a.end == b.end);
                    out
                } else {
                    term_matches(&f.query, &ft, &accepted, query_max, false)
                };
                unified(&ft, matches, f)
            }
            HlType::Plain => {
                for v in &ft.values {
                    if limit_exceeded(v.end - v.start) {
                        return Err(too_long(v.end - v.start));
                    }
                }
                let marks = plain_marks(&f.query, &ft, &accepted, query_max);
                plain(&ft, &marks, f, query_max)
            }
            HlType::Fvh => {
                let matches = term_matches(&f.query, &ft, &accepted, query_max, true);
                fvh(&ft, matches, f)
            }
        }
    }

    /// How a field's values are read and analyzed.
    fn field_spec(&self, name: &str) -> Option<FieldSpec> {
        let (path, fm) = self.mapping.resolve_field(name)?;
        if fm.field_type.is_object() {
            return None;
        }
        let source_path = source_path(&self.mapping, &path);
        let analyzer = match fm.field_type {
            FieldType::Text | FieldType::MatchOnlyText => Some(self.engine.index_analyzer(&self.mapping, &path)),
            _ => None,
        };
        let ignore_above = if fm.field_type.is_keyword_like() { fm.ignore_above() } else { None };
        Some(FieldSpec { source_path, analyzer, ignore_above })
    }
}

/// The concrete fields a highlight field name stands for (ES's `getMatchingFieldNames`).
fn matching_fields(mapping: &Mapping, pattern: &str) -> Vec<String> {
    if !pattern.contains('*') {
        return if mapping.field(pattern).is_some() { vec![pattern.to_string()] } else { Vec::new() };
    }
    let Ok(re) = regex::Regex::new(&format!("^{}$", wildcard_to_regex(pattern))) else { return Vec::new() };
    mapping.fields().map(|(p, _)| p).filter(|p| re.is_match(p)).collect()
}

/// Where a field's values live in `_source`: a multi-field (`title.raw`) reads its parent's.
fn source_path(mapping: &Mapping, path: &str) -> String {
    if let Some((parent, sub)) = path.rsplit_once('.')
        && let Some(pf) = mapping.field(parent)
        && !pf.field_type.is_object()
        && pf.fields.contains_key(sub)
    {
        return parent.to_string();
    }
    path.to_string()
}

struct FieldSpec {
    source_path: String,
    /// `None`: one token per value (keyword-like and other non-text fields).
    analyzer: Option<Analyzer>,
    ignore_above: Option<u32>,
}

/// The values of `path` in a source document, as strings, in document order. Dotted keys and
/// nested objects both lead to a path, arrays are flattened.
fn source_values(v: &Value, path: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                if k == path {
                    leaf_values(child, out);
                } else if let Some(rest) = path.strip_prefix(k.as_str()).and_then(|r| r.strip_prefix('.')) {
                    source_values(child, rest, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| source_values(i, path, out)),
        _ => {}
    }
}

fn leaf_values(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Number(n) => out.push(n.to_string()),
        Value::Bool(b) => out.push(b.to_string()),
        Value::Array(items) => items.iter().for_each(|i| leaf_values(i, out)),
        Value::Object(_) | Value::Null => {}
    }
}

// ---------------------------------------------------------------------------------------------
// A field's text and tokens

#[derive(Debug, Clone)]
struct Tok {
    text: String,
    /// UTF-16 offsets in the joined text of the field.
    start: usize,
    end: usize,
    /// Position in the field (values are `POSITION_GAP` apart).
    pos: usize,
    /// Position within its value.
    rel_pos: usize,
    value: usize,
}

#[derive(Debug, Clone)]
struct ValueRange {
    start: usize,
    end: usize,
}

/// The values of one field of a document, joined with [`SEP`], with their tokens.
#[derive(Debug)]
struct FieldText {
    units: Vec<u16>,
    values: Vec<ValueRange>,
    tokens: Vec<Tok>,
    /// Each value's text, for boundary analysis.
    texts: Vec<String>,
    /// Analyzed text (not one token per value).
    tokenized: bool,
}

impl FieldText {
    fn build(values: Vec<String>, analyzer: Option<&Analyzer>) -> FieldText {
        let mut units = Vec::new();
        let mut ranges = Vec::new();
        let mut tokens = Vec::new();
        let mut pos_base = 0;
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                units.push(SEP);
            }
            let start = units.len();
            units.extend(v.encode_utf16());
            let end = units.len();
            let mut max_pos = 0;
            match analyzer {
                Some(a) => {
                    for t in a.analyze(v) {
                        max_pos = max_pos.max(t.position);
                        tokens.push(Tok {
                            text: t.text,
                            start: start + t.start_offset,
                            end: start + t.end_offset,
                            pos: pos_base + t.position,
                            rel_pos: t.position,
                            value: i,
                        });
                    }
                }
                None if !v.is_empty() => {
                    tokens.push(Tok { text: v.clone(), start, end, pos: pos_base, rel_pos: 0, value: i });
                }
                None => {}
            }
            ranges.push(ValueRange { start, end });
            pos_base += max_pos + 1 + POSITION_GAP;
        }
        FieldText { units, values: ranges, tokens, texts: values, tokenized: analyzer.is_some() }
    }

    fn len(&self) -> usize {
        self.units.len()
    }

    fn slice(&self, start: usize, end: usize) -> String {
        let end = end.min(self.units.len());
        if start >= end {
            return String::new();
        }
        String::from_utf16_lossy(&self.units[start..end])
    }

    /// Boundaries of a break iterator over the whole text: value starts and ends (and the position
    /// after each separator) plus the sentence or word boundaries inside each value.
    fn boundaries(&self, word: bool) -> Vec<usize> {
        let mut b = vec![0, self.len()];
        for (v, text) in self.values.iter().zip(&self.texts) {
            b.push(v.start);
            b.push(v.end);
            if v.end < self.len() {
                b.push(v.end + 1);
            }
            let map = utf16_map(text);
            if word {
                for (i, _) in text.split_word_bound_indices() {
                    b.push(v.start + map[i]);
                }
            } else {
                for (i, _) in text.split_sentence_bound_indices() {
                    b.push(v.start + map[i]);
                }
            }
        }
        b.sort_unstable();
        b.dedup();
        b
    }

    /// Boundaries after each value separator only (ES's `CustomSeparatorBreakIterator`).
    fn separator_boundaries(&self) -> Vec<usize> {
        let mut b = vec![0, self.len()];
        for v in &self.values {
            if v.end < self.len() {
                b.push(v.end + 1);
            }
        }
        b.sort_unstable();
        b.dedup();
        b
    }
}

/// UTF-16 offset of each byte offset of `s` (meaningful at char boundaries).
fn utf16_map(s: &str) -> Vec<usize> {
    let mut map = vec![0; s.len() + 1];
    let mut units = 0;
    for (i, c) in s.char_indices() {
        map[i] = units;
        units += c.len_utf16();
    }
    map[s.len()] = units;
    map
}

/// Per-document state: the source and the fields analyzed so far.
struct DocCtx<'h, 'a> {
    hl: &'h ShardHighlighter<'a>,
    source: &'h Value,
    cache: HashMap<String, Option<Arc<FieldText>>>,
}

impl DocCtx<'_, '_> {
    fn field_text(&mut self, field: &str) -> Option<Arc<FieldText>> {
        if let Some(ft) = self.cache.get(field) {
            return ft.clone();
        }
        let ft = self.hl.field_spec(field).and_then(|spec| {
            let mut values = Vec::new();
            source_values(self.source, &spec.source_path, &mut values);
            if let Some(limit) = spec.ignore_above {
                values.retain(|v| v.encode_utf16().count() <= limit as usize);
            }
            if values.is_empty() { None } else { Some(Arc::new(FieldText::build(values, spec.analyzer.as_ref()))) }
        });
        self.cache.insert(field.to_string(), ft.clone());
        ft
    }

    fn source_path(&self, field: &str) -> String {
        match self.hl.mapping.resolve_field(field) {
            Some((path, _)) => source_path(&self.hl.mapping, &path),
            None => field.to_string(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The query, as highlighting sees it

/// The query tree reduced to what highlighting needs: leaves with their terms, and the boolean
/// structure that decides which leaves match a document.
#[derive(Debug)]
struct HlQuery {
    root: HlNode,
    leaves: Vec<Leaf>,
}

#[derive(Debug)]
enum HlNode {
    Leaf(usize),
    /// A clause highlighting cannot evaluate (numbers, dates, ids, exists...): assumed to match
    /// (the document is a hit), it highlights nothing.
    Opaque,
    /// A clause that matches nothing.
    Never,
    Bool {
        must: Vec<HlNode>,
        should: Vec<HlNode>,
        min_should: usize,
    },
}

#[derive(Debug)]
struct Leaf {
    field: String,
    kind: LeafKind,
    /// The "term" Lucene reports for the leaf's matches in weight-matches mode.
    label: String,
}

#[derive(Debug)]
enum LeafKind {
    Term(TermPred),
    /// Terms with their position in the phrase.
    Phrase {
        terms: Vec<(usize, TermPred)>,
        slop: u32,
    },
}

#[derive(Debug)]
enum TermPred {
    Exact(String),
    Prefix { prefix: String, case_insensitive: bool },
    Regex(regex::Regex),
    Fuzzy { term: Vec<char>, edits: u8, prefix_length: usize, transpositions: bool },
    Range { lower: Bound<String>, upper: Bound<String> },
}

impl TermPred {
    fn matches(&self, token: &str) -> bool {
        match self {
            TermPred::Exact(t) => token == t,
            TermPred::Prefix { prefix, case_insensitive: false } => token.starts_with(prefix.as_str()),
            TermPred::Prefix { prefix, case_insensitive: true } => {
                token.to_lowercase().starts_with(&prefix.to_lowercase())
            }
            TermPred::Regex(re) => re.is_match(token),
            TermPred::Fuzzy { term, edits, prefix_length, transpositions } => {
                let tok: Vec<char> = token.chars().collect();
                if tok.len() < *prefix_length
                    || term.len() < *prefix_length
                    || tok[..*prefix_length] != term[..*prefix_length]
                {
                    return false;
                }
                edit_distance(&term[*prefix_length..], &tok[*prefix_length..], *transpositions, *edits as usize)
                    <= *edits as usize
            }
            TermPred::Range { lower, upper } => {
                let lo = match lower {
                    Bound::Included(l) => token >= l.as_str(),
                    Bound::Excluded(l) => token > l.as_str(),
                    Bound::Unbounded => true,
                };
                let hi = match upper {
                    Bound::Included(u) => token <= u.as_str(),
                    Bound::Excluded(u) => token < u.as_str(),
                    Bound::Unbounded => true,
                };
                lo && hi
            }
        }
    }

    fn is_exact(&self) -> Option<&str> {
        match self {
            TermPred::Exact(t) => Some(t),
            _ => None,
        }
    }
}

/// Levenshtein distance (with adjacent transpositions when asked, as Lucene's fuzzy automata),
/// giving up early once it exceeds `max`.
fn edit_distance(a: &[char], b: &[char], transpositions: bool, max: usize) -> usize {
    if a.len().abs_diff(b.len()) > max {
        return max + 1;
    }
    let (n, m) = (a.len(), b.len());
    let mut prev2 = vec![0usize; m + 1];
    let mut prev: Vec<usize> = (0..=m).collect();
    let mut cur = vec![0usize; m + 1];
    for i in 1..=n {
        cur[0] = i;
        let mut row_min = cur[0];
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if transpositions && i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(prev2[j - 2] + 1);
            }
            cur[j] = v;
            row_min = row_min.min(v);
        }
        if row_min > max {
            return max + 1;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[m]
}

fn value_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn anchored_regex(pattern: &str, case_insensitive: bool) -> Option<regex::Regex> {
    let flags = if case_insensitive { "(?si)" } else { "(?s)" };
    regex::Regex::new(&format!("{flags}^(?:{pattern})$")).ok()
}

/// Builds an [`HlQuery`] from a query, analyzing its text the way the query compiler does.
struct Builder<'a> {
    engine: &'a ShardEngine,
    mapping: &'a Mapping,
    leaves: Vec<Leaf>,
}

impl HlQuery {
    fn build(engine: &ShardEngine, mapping: &Mapping, query: &QueryAst) -> HlQuery {
        let mut b = Builder { engine, mapping, leaves: Vec::new() };
        let root = b.node(query);
        HlQuery { root, leaves: b.leaves }
    }
}

fn any_of(should: Vec<HlNode>) -> HlNode {
    if should.is_empty() {
        return HlNode::Never;
    }
    HlNode::Bool { must: Vec::new(), should, min_should: 1 }
}

impl Builder<'_> {
    fn leaf(&mut self, field: &str, kind: LeafKind, label: String) -> HlNode {
        self.leaves.push(Leaf { field: field.to_string(), kind, label });
        HlNode::Leaf(self.leaves.len() - 1)
    }

    fn term_leaf(&mut self, field: &str, pred: TermPred, label: String) -> HlNode {
        self.leaf(field, LeafKind::Term(pred), label)
    }

    fn kind(&self, field: &str) -> Option<FieldKind> {
        self.mapping.field_kind(field)
    }

    fn analyzer(&self, field: &str, analyzer: Option<&str>) -> Option<Analyzer> {
        match analyzer {
            Some(name) => self.engine.analyzers().get(name),
            None => Some(self.engine.search_analyzer(field)),
        }
    }

    /// Concrete fields for a pattern, as the query compiler resolves them.
    fn resolve_fields(&self, pattern: &str) -> Vec<String> {
        if !pattern.contains('*') {
            return vec![pattern.to_string()];
        }
        let Ok(re) = regex::Regex::new(&format!("^{}$", wildcard_to_regex(pattern))) else { return Vec::new() };
        self.mapping
            .field_paths()
            .into_iter()
            .filter(|p| re.is_match(p))
            .filter(|p| !matches!(self.kind(p), Some(FieldKind::Object) | None))
            .collect()
    }

    fn node(&mut self, q: &QueryAst) -> HlNode {
        match q {
            QueryAst::MatchAll(_) | QueryAst::Exists(_) | QueryAst::Ids(_) | QueryAst::TermsLookup(_) => HlNode::Opaque,
            QueryAst::MatchNone(_) => HlNode::Never,
            QueryAst::Match(m) => self.match_node(
                &m.field,
                &m.query,
                m.operator,
                m.minimum_should_match.as_ref(),
                m.fuzziness.as_ref(),
                (m.prefix_length, m.fuzzy_transpositions),
                m.analyzer.as_deref(),
                m.zero_terms_query,
            ),
            QueryAst::MatchPhrase(m) => self.phrase_node(&m.field, &m.query, m.slop, m.analyzer.as_deref(), false),
            QueryAst::MatchPhrasePrefix(m) => self.phrase_node(&m.field, &m.query, m.slop, m.analyzer.as_deref(), true),
            QueryAst::MatchBoolPrefix(m) => {
                self.bool_prefix_node(&m.field, &m.query, m.operator, m.analyzer.as_deref())
            }
            QueryAst::MultiMatch(mm) => {
                let patterns = if mm.fields.is_empty() { vec![("*".to_string(), 1.0)] } else { mm.fields.clone() };
                let mut per_field = Vec::new();
                for (p, _) in &patterns {
                    for field in self.resolve_fields(p) {
                        let text = value_string(&mm.query);
                        per_field.push(match mm.match_type {
                            MultiMatchType::Phrase => {
                                self.phrase_node(&field, &text, mm.slop, mm.analyzer.as_deref(), false)
                            }
                            MultiMatchType::PhrasePrefix => {
                                self.phrase_node(&field, &text, mm.slop, mm.analyzer.as_deref(), true)
                            }
                            // cross_fields spreads the terms over the fields: per field, any term.
                            MultiMatchType::CrossFields => self.match_node(
                                &field,
                                &mm.query,
                                Operator::Or,
                                None,
                                mm.fuzziness.as_ref(),
                                (mm.prefix_length, mm.fuzzy_transpositions),
                                mm.analyzer.as_deref(),
                                mm.zero_terms_query,
                            ),
                            _ => self.match_node(
                                &field,
                                &mm.query,
                                mm.operator,
                                mm.minimum_should_match.as_ref(),
                                mm.fuzziness.as_ref(),
                                (mm.prefix_length, mm.fuzzy_transpositions),
                                mm.analyzer.as_deref(),
                                mm.zero_terms_query,
                            ),
                        });
                    }
                }
                any_of(per_field)
            }
            QueryAst::CombinedFields(c) => {
                let mut per_field = Vec::new();
                for (p, _) in &c.fields {
                    for field in self.resolve_fields(p) {
                        per_field.push(self.match_node(
                            &field,
                            &Value::String(c.query.clone()),
                            Operator::Or,
                            None,
                            None,
                            (0, true),
                            None,
                            c.zero_terms_query,
                        ));
                    }
                }
                any_of(per_field)
            }
            QueryAst::Bool(b) => {
                let mut must: Vec<HlNode> = b.must.iter().map(|q| self.node(q)).collect();
                must.extend(b.filter.iter().map(|q| self.node(q)));
                let should: Vec<HlNode> = b.should.iter().map(|q| self.node(q)).collect();
                let positive = !b.must.is_empty() || !b.filter.is_empty();
                let min_should = match &b.minimum_should_match {
                    Some(m) => m.resolve(b.should.len()),
                    None if positive => 0,
                    None => usize::from(!b.should.is_empty()),
                };
                if min_should > should.len() {
                    return HlNode::Never;
                }
                HlNode::Bool { must, should, min_should }
            }
            QueryAst::Term(t) => self.term_node(&t.field, &t.value, t.case_insensitive),
            QueryAst::Terms(t) => {
                let should = t.values.iter().map(|v| self.term_node(&t.field, v, false)).collect();
                any_of(should)
            }
            QueryAst::Range(r) => match self.kind(&r.field) {
                Some(FieldKind::Text) | Some(FieldKind::Keyword) => {
                    let bound = |incl: &Option<Value>, excl: &Option<Value>| match (incl, excl) {
                        (Some(v), _) if !v.is_null() => Bound::Included(value_string(v)),
                        (_, Some(v)) if !v.is_null() => Bound::Excluded(value_string(v)),
                        _ => Bound::Unbounded,
                    };
                    let lower = bound(&r.gte, &r.gt);
                    let upper = bound(&r.lte, &r.lt);
                    let label = format!("{}:range", r.field);
                    self.term_leaf(&r.field, TermPred::Range { lower, upper }, label)
                }
                None | Some(FieldKind::Object) => HlNode::Never,
                _ => HlNode::Opaque,
            },
            QueryAst::Prefix(p) => match self.kind(&p.field) {
                Some(kind @ (FieldKind::Text | FieldKind::Keyword)) => {
                    let value =
                        if p.normalize && kind == FieldKind::Text { p.value.to_lowercase() } else { p.value.clone() };
                    let label = format!("{}:{}*", p.field, value);
                    let pred = TermPred::Prefix { prefix: value, case_insensitive: p.case_insensitive };
                    self.term_leaf(&p.field, pred, label)
                }
                None | Some(FieldKind::Object) => HlNode::Never,
                _ => HlNode::Opaque,
            },
            QueryAst::Wildcard(w) => match self.kind(&w.field) {
                Some(kind @ (FieldKind::Text | FieldKind::Keyword)) => {
                    let value =
                        if w.normalize && kind == FieldKind::Text { w.value.to_lowercase() } else { w.value.clone() };
                    match anchored_regex(&wildcard_to_regex(&value), w.case_insensitive) {
                        Some(re) => self.term_leaf(&w.field, TermPred::Regex(re), format!("{}:{}", w.field, value)),
                        None => HlNode::Opaque,
                    }
                }
                None | Some(FieldKind::Object) => HlNode::Never,
                _ => HlNode::Opaque,
            },
            QueryAst::Regexp(r) => match self.kind(&r.field) {
                Some(FieldKind::Text | FieldKind::Keyword) => match anchored_regex(&r.value, r.case_insensitive) {
                    Some(re) => self.term_leaf(&r.field, TermPred::Regex(re), format!("{}:/{}/", r.field, r.value)),
                    None => HlNode::Opaque,
                },
                None | Some(FieldKind::Object) => HlNode::Never,
                _ => HlNode::Opaque,
            },
            QueryAst::Fuzzy(f) => match self.kind(&f.field) {
                Some(FieldKind::Text | FieldKind::Keyword) => {
                    let value = value_string(&f.value);
                    let edits = f.fuzziness.edits_for(value.chars().count());
                    let label = format!("{}:{}~{}", f.field, value, edits);
                    let pred = fuzzy_pred(&value, edits, f.prefix_length, f.transpositions);
                    self.term_leaf(&f.field, pred, label)
                }
                None | Some(FieldKind::Object) => HlNode::Never,
                _ => HlNode::Opaque,
            },
            QueryAst::QueryString(qs) => {
                let mut qs = qs.clone();
                if qs.fields.is_empty() && qs.default_field.is_none() {
                    qs.default_field = Some("*".to_string());
                    qs.lenient = Some(qs.lenient.unwrap_or(true));
                }
                let resolver = |pattern: &str| self.resolve_fields(pattern);
                match tern_query::parse_query_string(&qs, &resolver) {
                    Ok(ast) => self.node(&ast),
                    Err(_) => HlNode::Opaque,
                }
            }
            QueryAst::SimpleQueryString(sq) => {
                let resolver = |pattern: &str| self.resolve_fields(pattern);
                match tern_query::parse_simple_query_string(sq, &resolver) {
                    Ok(ast) => self.node(&ast),
                    Err(_) => HlNode::Opaque,
                }
            }
            QueryAst::ConstantScore(c) => self.node(&c.filter),
            QueryAst::DisMax(d) => {
                let should = d.queries.iter().map(|q| self.node(q)).collect();
                any_of(should)
            }
            QueryAst::Boosting(b) => self.node(&b.positive),
            QueryAst::FunctionScore(f) => self.node(&f.query),
        }
    }

    fn term_node(&mut self, field: &str, value: &Value, case_insensitive: bool) -> HlNode {
        match self.kind(field) {
            Some(FieldKind::Text | FieldKind::Keyword) => {
                let value = match self.kind(field) {
                    Some(FieldKind::Keyword) => self.mapping.normalize_keyword(field, &value_string(value)),
                    _ => value_string(value),
                };
                let label = format!("{field}:{value}");
                if case_insensitive {
                    match anchored_regex(&regex_escape(&value), true) {
                        Some(re) => self.term_leaf(field, TermPred::Regex(re), label),
                        None => HlNode::Opaque,
                    }
                } else {
                    self.term_leaf(field, TermPred::Exact(value.clone()), value)
                }
            }
            None | Some(FieldKind::Object) if !field.starts_with('_') => HlNode::Never,
            _ => HlNode::Opaque,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn match_node(
        &mut self,
        field: &str,
        query: &Value,
        operator: Operator,
        msm: Option<&MinimumShouldMatch>,
        fuzziness: Option<&Fuzziness>,
        (prefix_length, transpositions): (u32, bool),
        analyzer: Option<&str>,
        zero_terms: ZeroTermsQuery,
    ) -> HlNode {
        match self.kind(field) {
            Some(FieldKind::Text) => {}
            _ => return self.term_node(field, query, false),
        }
        let Some(analyzer) = self.analyzer(field, analyzer) else { return HlNode::Opaque };
        let tokens = analyzer.terms(&value_string(query));
        if tokens.is_empty() {
            return match zero_terms {
                ZeroTermsQuery::All => HlNode::Opaque,
                _ => HlNode::Never,
            };
        }
        let mut clauses: Vec<HlNode> = Vec::new();
        for tok in &tokens {
            let edits = fuzziness.map(|f| f.edits_for(tok.chars().count())).unwrap_or(0);
            clauses.push(if edits > 0 {
                let label = format!("{field}:{tok}~{edits}");
                self.term_leaf(field, fuzzy_pred(tok, edits, prefix_length, transpositions), label)
            } else {
                self.term_leaf(field, TermPred::Exact(tok.clone()), tok.clone())
            });
        }
        if clauses.len() == 1 {
            return clauses.pop().expect("one clause");
        }
        match operator {
            Operator::And => HlNode::Bool { must: clauses, should: Vec::new(), min_should: 0 },
            Operator::Or => {
                let n = msm.map(|m| m.resolve(clauses.len())).unwrap_or(1);
                if n > clauses.len() {
                    return HlNode::Never;
                }
                HlNode::Bool { must: Vec::new(), should: clauses, min_should: n.max(1) }
            }
        }
    }

    fn phrase_node(&mut self, field: &str, query: &str, slop: u32, analyzer: Option<&str>, prefix: bool) -> HlNode {
        match self.kind(field) {
            Some(FieldKind::Text) => {}
            _ => return self.term_node(field, &Value::String(query.to_string()), false),
        }
        let Some(analyzer) = self.analyzer(field, analyzer) else { return HlNode::Opaque };
        let tokens = analyzer.analyze(query);
        let Some(first) = tokens.first() else { return HlNode::Never };
        let base = first.position;
        let n = tokens.len();
        let label = tokens.iter().map(|t| t.text.as_str()).collect::<Vec<_>>().join(" ");
        let mut terms = Vec::with_capacity(n);
        for (i, t) in tokens.iter().enumerate() {
            let pred = if prefix && i + 1 == n {
                TermPred::Prefix { prefix: t.text.clone(), case_insensitive: false }
            } else {
                TermPred::Exact(t.text.clone())
            };
            terms.push((t.position - base, pred));
        }
        if n == 1 {
            let (_, pred) = terms.pop().expect("one term");
            let label = if prefix { format!("{field}:{label}*") } else { label };
            return self.term_leaf(field, pred, label);
        }
        let label = if prefix { format!("{field}:\"{label}*\"") } else { label };
        self.leaf(field, LeafKind::Phrase { terms, slop }, label)
    }

    fn bool_prefix_node(&mut self, field: &str, query: &str, operator: Operator, analyzer: Option<&str>) -> HlNode {
        match self.kind(field) {
            Some(FieldKind::Text) => {}
            _ => return self.term_node(field, &Value::String(query.to_string()), false),
        }
        let Some(analyzer) = self.analyzer(field, analyzer) else { return HlNode::Opaque };
        let tokens = analyzer.terms(query);
        let n = tokens.len();
        let mut clauses = Vec::new();
        for (i, tok) in tokens.into_iter().enumerate() {
            clauses.push(if i + 1 == n {
                let label = format!("{field}:{tok}*");
                self.term_leaf(field, TermPred::Prefix { prefix: tok, case_insensitive: false }, label)
            } else {
                let label = tok.clone();
                self.term_leaf(field, TermPred::Exact(tok), label)
            });
        }
        match operator {
            Operator::And if !clauses.is_empty() => HlNode::Bool { must: clauses, should: Vec::new(), min_should: 0 },
            _ => any_of(clauses),
        }
    }
}

fn fuzzy_pred(term: &str, edits: u8, prefix_length: u32, transpositions: bool) -> TermPred {
    if edits == 0 {
        return TermPred::Exact(term.to_string());
    }
    TermPred::Fuzzy { term: term.chars().collect(), edits, prefix_length: prefix_length as usize, transpositions }
}

// ---------------------------------------------------------------------------------------------
// Matching

/// One occurrence of a leaf in a field's tokens.
struct Occurrence {
    start: usize,
    end: usize,
    /// The tokens, in the order of the phrase's terms.
    parts: Vec<usize>,
}

fn occurrences(leaf: &Leaf, toks: &[Tok], limit: Option<usize>) -> Vec<Occurrence> {
    let within = |i: usize| limit.is_none_or(|l| toks[i].start <= l);
    let mut out: Vec<Occurrence> = match &leaf.kind {
        LeafKind::Term(p) => toks
            .iter()
            .enumerate()
            .filter(|(i, t)| within(*i) && p.matches(&t.text))
            .map(|(i, t)| Occurrence { start: t.start, end: t.end, parts: vec![i] })
            .collect(),
        LeafKind::Phrase { terms, slop } => {
            phrase_occurrences(terms, *slop, toks).into_iter().filter(|o| o.parts.iter().all(|i| within(*i))).collect()
        }
    };
    out.sort_by_key(|o| (o.start, o.end));
    out
}

/// Occurrences of a phrase: every term at its place, give or take `slop` positions (a term's
/// "phrase position" is its position minus its offset in the phrase; all of them must fit in a
/// window of `slop`).
fn phrase_occurrences(terms: &[(usize, TermPred)], slop: u32, toks: &[Tok]) -> Vec<Occurrence> {
    let cands: Vec<Vec<(i64, usize)>> = terms
        .iter()
        .map(|(rel, p)| {
            let mut c: Vec<(i64, usize)> = toks
                .iter()
                .enumerate()
                .filter(|(_, t)| p.matches(&t.text))
                .map(|(i, t)| (t.pos as i64 - *rel as i64, i))
                .collect();
            c.sort_unstable();
            c
        })
        .collect();
    if cands.iter().any(Vec::is_empty) {
        return Vec::new();
    }
    let mut starts: Vec<i64> = cands.iter().flatten().map(|c| c.0).collect();
    starts.sort_unstable();
    starts.dedup();
    let slop = i64::from(slop);
    let mut out = Vec::new();
    let mut seen: HashSet<Vec<usize>> = HashSet::new();
    for w in starts {
        let mut used: Vec<usize> = Vec::with_capacity(terms.len());
        let mut lowest = i64::MAX;
        let mut ok = true;
        for c in &cands {
            let from = c.partition_point(|(pp, _)| *pp < w);
            match c[from..].iter().take_while(|(pp, _)| *pp <= w + slop).find(|(_, i)| !used.contains(i)) {
                Some((pp, i)) => {
                    used.push(*i);
                    lowest = lowest.min(*pp);
                }
                None => {
                    ok = false;
                    break;
                }
            }
        }
        if !ok || lowest != w {
            continue;
        }
        let mut key = used.clone();
        key.sort_unstable();
        if !seen.insert(key) {
            continue;
        }
        let start = used.iter().map(|i| toks[*i].start).min().unwrap_or(0);
        let end = used.iter().map(|i| toks[*i].end).max().unwrap_or(0);
        out.push(Occurrence { start, end, parts: used });
    }
    out
}

/// A highlighted span with the "term" and frequency Lucene scores passages with.
#[derive(Debug, Clone, PartialEq)]
struct Match {
    start: usize,
    end: usize,
    key: String,
    /// Which query term (fast vector highlighter tags).
    seq: usize,
    freq: u32,
    /// The spans to tag inside the match (the fast vector highlighter tags phrase terms).
    parts: Vec<(usize, usize)>,
}

/// Weight-matches mode: the query evaluated against the document, keeping the matches of the
/// clauses that match it (ES's default for the unified highlighter with `require_field_match`).
struct WeightEval<'e> {
    hl_field: &'e str,
    source_path: String,
    accepted: &'e dyn Fn(&str) -> bool,
    limit: Option<usize>,
}

impl WeightEval<'_> {
    fn eval(&self, q: &HlQuery, node: &HlNode, ctx: &mut DocCtx, out: &mut Vec<Match>) -> bool {
        match node {
            HlNode::Opaque => true,
            HlNode::Never => false,
            HlNode::Leaf(i) => {
                let leaf = &q.leaves[*i];
                // A field without values in the source (`copy_to` targets...) cannot be checked
                // here: the document is a hit, so take the clause as matching.
                let Some(ft) = ctx.field_text(&leaf.field) else { return true };
                let limit = if leaf.field == self.hl_field { self.limit } else { None };
                let occ = occurrences(leaf, &ft.tokens, limit);
                if occ.is_empty() {
                    return false;
                }
                if (self.accepted)(&leaf.field)
                    && (leaf.field == self.hl_field || ctx.source_path(&leaf.field) == self.source_path)
                {
                    for o in occ {
                        let key = match &leaf.kind {
                            LeafKind::Term(p) => p.is_exact().map(str::to_string).unwrap_or_else(|| leaf.label.clone()),
                            LeafKind::Phrase { .. } => leaf.label.clone(),
                        };
                        out.push(Match {
                            start: o.start,
                            end: o.end,
                            key,
                            seq: *i,
                            freq: 1,
                            parts: vec![(o.start, o.end)],
                        });
                    }
                }
                true
            }
            HlNode::Bool { must, should, min_should } => {
                let mut local = Vec::new();
                for m in must {
                    if !self.eval(q, m, ctx, &mut local) {
                        return false;
                    }
                }
                let mut matched = 0;
                for s in should {
                    let mut tmp = Vec::new();
                    if self.eval(q, s, ctx, &mut tmp) {
                        matched += 1;
                        local.extend(tmp);
                    }
                }
                if matched < *min_should {
                    return false;
                }
                out.extend(local);
                true
            }
        }
    }
}

/// The leaves reachable through the query's positive clauses, in query order.
fn positive_leaves(node: &HlNode, out: &mut Vec<usize>) {
    match node {
        HlNode::Leaf(i) => out.push(*i),
        HlNode::Bool { must, should, .. } => {
            must.iter().chain(should).for_each(|n| positive_leaves(n, out));
        }
        HlNode::Opaque | HlNode::Never => {}
    }
}

/// The matches of every accepted leaf in the highlighted field, whatever the boolean structure
/// (the unified highlighter without weight matches, and the fast vector highlighter). Phrases match
/// only as phrases; their terms are tagged one by one (`merge_phrases`: runs of adjacent terms
/// together, as the fast vector highlighter does).
fn term_matches(
    q: &HlQuery,
    ft: &FieldText,
    accepted: &dyn Fn(&str) -> bool,
    limit: Option<usize>,
    merge_phrases: bool,
) -> Vec<Match> {
    let mut leaves = Vec::new();
    positive_leaves(&q.root, &mut leaves);
    let mut seqs: Vec<&str> = Vec::new();
    let mut out: Vec<Match> = Vec::new();
    for i in leaves {
        let leaf = &q.leaves[i];
        if !accepted(&leaf.field) {
            continue;
        }
        let seq = match seqs.iter().position(|l| *l == leaf.label) {
            Some(s) => s,
            None => {
                seqs.push(&leaf.label);
                seqs.len() - 1
            }
        };
        for o in occurrences(leaf, &ft.tokens, limit) {
            match &leaf.kind {
                LeafKind::Term(_) => {
                    let t = &ft.tokens[o.parts[0]];
                    out.push(Match {
                        start: t.start,
                        end: t.end,
                        key: t.text.clone(),
                        seq,
                        freq: 0,
                        parts: vec![(t.start, t.end)],
                    });
                }
                LeafKind::Phrase { .. } if merge_phrases => {
                    let mut parts = o.parts.clone();
                    parts.sort_by_key(|p| ft.tokens[*p].pos);
                    let mut runs: Vec<(usize, usize)> = Vec::new();
                    let mut last_pos: Option<usize> = None;
                    for p in parts {
                        let t = &ft.tokens[p];
                        match (runs.last_mut(), last_pos) {
                            (Some(r), Some(lp)) if t.pos == lp + 1 => r.1 = t.end,
                            _ => runs.push((t.start, t.end)),
                        }
                        last_pos = Some(t.pos);
                    }
                    out.push(Match { start: o.start, end: o.end, key: leaf.label.clone(), seq, freq: 0, parts: runs });
                }
                LeafKind::Phrase { .. } => {
                    for p in &o.parts {
                        let t = &ft.tokens[*p];
                        out.push(Match {
                            start: t.start,
                            end: t.end,
                            key: t.text.clone(),
                            seq,
                            freq: 0,
                            parts: vec![(t.start, t.end)],
                        });
                    }
                }
            }
        }
    }
    out.sort_by(|a, b| (a.start, a.end, &a.key).cmp(&(b.start, b.end, &b.key)));
    out.dedup_by(|a, b| a.start == b.start && a.end == b.end);
    let mut freq: HashMap<String, u32> = HashMap::new();
    for m in &out {
        *freq.entry(m.key.clone()).or_default() += 1;
    }
    for m in &mut out {
        m.freq = freq[&m.key];
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Unified highlighter

/// A Java `BreakIterator` over precomputed boundaries (`-1` is `DONE`).
struct Breaks(Vec<usize>);

impl Breaks {
    /// The last boundary before `offset`.
    fn preceding(&self, offset: i64) -> i64 {
        let i = self.0.partition_point(|b| (*b as i64) < offset);
        if i == 0 { -1 } else { self.0[i - 1] as i64 }
    }

    /// The first boundary after `offset`.
    fn following(&self, offset: i64) -> i64 {
        let i = self.0.partition_point(|b| (*b as i64) <= offset);
        self.0.get(i).map_or(-1, |b| *b as i64)
    }
}

/// ES's `BoundedBreakIteratorScanner`: sentences, re-split at words to stay near `max_len`.
struct Bounded {
    main: Breaks,
    inner: Breaks,
    max_len: i64,
    text_end: i64,
    window_start: i64,
    window_end: i64,
    inner_start: i64,
    inner_end: i64,
}

enum Breaker {
    Plain(Breaks),
    /// One bounded scanner per value, each seeing only its value's text (Lucene's
    /// `SplittingBreakIterator` around ES's scanner): passages never span values.
    Split {
        values: Vec<(usize, usize)>,
        scanners: Vec<Bounded>,
        current: Option<usize>,
    },
}

impl Breaker {
    fn preceding(&mut self, offset: i64) -> i64 {
        match self {
            Breaker::Plain(b) => b.preceding(offset),
            Breaker::Split { values, scanners, current } => {
                let Some(i) = values.iter().position(|(s, e)| offset > *s as i64 && offset - 1 < *e as i64) else {
                    return -1;
                };
                if *current != Some(i) {
                    scanners[i].reset();
                    *current = Some(i);
                }
                let base = values[i].0 as i64;
                scanners[i].preceding(offset - base) + base
            }
        }
    }

    fn following(&mut self, offset: i64) -> i64 {
        match self {
            Breaker::Plain(b) => b.following(offset),
            Breaker::Split { values, scanners, current } => match current {
                Some(i) => scanners[*i].inner_end + values[*i].0 as i64,
                None => -1,
            },
        }
    }
}

impl Bounded {
    /// A scanner over one value's text (local offsets).
    fn for_value(text: &str, max_len: i64) -> Bounded {
        let map = utf16_map(text);
        let len = map[text.len()];
        let mut main: Vec<usize> = text.split_sentence_bound_indices().map(|(i, _)| map[i]).collect();
        main.extend([0, len]);
        main.sort_unstable();
        main.dedup();
        let mut inner: Vec<usize> = text.split_word_bound_indices().map(|(i, _)| map[i]).collect();
        inner.extend([0, len]);
        inner.sort_unstable();
        inner.dedup();
        let mut b = Bounded {
            main: Breaks(main),
            inner: Breaks(inner),
            max_len,
            text_end: len as i64,
            window_start: -1,
            window_end: -1,
            inner_start: -1,
            inner_end: 0,
        };
        b.reset();
        b
    }

    /// `setText`: forget the previous window.
    fn reset(&mut self) {
        self.window_start = -1;
        self.window_end = -1;
        self.inner_start = -1;
        self.inner_end = 0;
    }

    fn preceding(&mut self, offset: i64) -> i64 {
        if offset > self.window_start && offset < self.window_end {
            self.inner_start = self.inner_end;
            self.inner_end = self.window_end;
        } else {
            self.inner_start = self.main.preceding(offset).max(0);
            let target_end = offset + (self.max_len - (offset - self.inner_start)).max(0);
            self.inner_end =
                if target_end + 1 > self.text_end { self.text_end } else { self.main.preceding(target_end + 1) };
            if self.inner_start == self.inner_end {
                self.inner_end =
                    if target_end >= self.text_end { self.text_end } else { self.main.following(target_end) };
            }
            self.window_start = self.inner_start;
            self.window_end = self.inner_end;
        }
        if self.inner_end - self.inner_start > self.max_len {
            if offset - self.max_len > self.inner_start {
                self.inner_start = self.inner_start.max(self.inner.preceding(offset - self.max_len));
            }
            let remaining = (self.max_len - (offset - self.inner_start)).max(0);
            if offset + remaining < self.window_end {
                self.inner_end = self.window_end.min(self.inner.following(offset + remaining));
            }
        }
        self.inner_start
    }
}

#[derive(Debug, Clone)]
struct Passage {
    start: i64,
    end: i64,
    score: f32,
    matches: Vec<usize>,
}

impl Passage {
    fn new() -> Passage {
        Passage { start: -1, end: -1, score: 0.0, matches: Vec::new() }
    }
}

/// Lucene's `PassageScorer.score` (BM25 over the passage as a tiny document).
fn passage_score(p: &Passage, matches: &[Match], content_len: usize) -> f32 {
    let mut terms: Vec<(&str, u32, u32)> = Vec::new();
    for &i in &p.matches {
        let m = &matches[i];
        match terms.iter_mut().find(|(k, _, _)| *k == m.key) {
            Some(t) => t.1 += 1,
            None => terms.push((&m.key, 1, m.freq)),
        }
    }
    let passage_len = (p.end - p.start) as f32;
    let num_docs = 1.0 + content_len as f32 / PIVOT;
    let mut score = 0.0f32;
    for (_, in_passage, in_doc) in terms {
        let norm = K1 * ((1.0 - B) + B * (passage_len / PIVOT));
        let tf = in_passage as f32 / (in_passage as f32 + norm);
        let weight = (K1 + 1.0) * (1.0 + (f64::from(num_docs) + 0.5) / (f64::from(in_doc) + 0.5)).ln() as f32;
        score += tf * weight;
    }
    score * (1.0 + 1.0 / (f64::from(PIVOT) + p.start as f64).ln() as f32)
}

/// Lucene's `Passage` priority queue order: lower score first, then earlier start first.
fn passage_lt(a: &Passage, b: &Passage) -> std::cmp::Ordering {
    a.score.partial_cmp(&b.score).unwrap_or(std::cmp::Ordering::Equal).then(a.start.cmp(&b.start))
}

fn lucene_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

fn encode(s: &str, html: bool) -> String {
    if !html {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&quot;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&#x27;"),
            '/' => out.push_str("&#x2F;"),
            c => out.push(c),
        }
    }
    out
}

fn unified(ft: &FieldText, matches: Vec<Match>, f: &Prepared) -> Result<Vec<String>, EsError> {
    let opts = &f.opts;
    let tokenized = ft.tokenized;
    let content_len = ft.len();
    let nof = opts.number_of_fragments;
    let (mut breaker, max_passages) = if nof <= 0 || !tokenized {
        (Breaker::Plain(Breaks(ft.separator_boundaries())), if nof <= 0 { usize::MAX } else { nof as usize })
    } else {
        let breaker = match opts.boundary_scanner {
            None | Some(BoundaryScanner::Sentence) if opts.fragment_size > 0 => Breaker::Split {
                values: ft.values.iter().map(|v| (v.start, v.end)).collect(),
                scanners: ft.texts.iter().map(|t| Bounded::for_value(t, i64::from(opts.fragment_size))).collect(),
                current: None,
            },
            None | Some(BoundaryScanner::Sentence) => Breaker::Plain(Breaks(ft.boundaries(false))),
            Some(BoundaryScanner::Word) => Breaker::Plain(Breaks(ft.boundaries(true))),
            Some(other) => {
                return Err(EsError::illegal_argument(format!("Invalid boundary scanner type: {}", other.es_name())));
            }
        };
        (breaker, nof as usize)
    };

    // Lucene's FieldHighlighter.highlightOffsetsEnums.
    let mut queue: Vec<Passage> = Vec::new();
    let mut passage = Passage::new();
    let mut last_passage_end: i64 = 0;
    let add = |queue: &mut Vec<Passage>, mut p: Passage| {
        if p.start == -1 {
            return;
        }
        p.score = passage_score(&p, &matches, content_len);
        let min = queue.iter().min_by(|a, b| passage_lt(a, b)).cloned();
        if queue.len() == max_passages && min.as_ref().is_some_and(|m| p.score < m.score) {
            return;
        }
        queue.push(p);
        if queue.len() > max_passages
            && let Some((i, _)) = queue.iter().enumerate().min_by(|a, b| passage_lt(a.1, b.1))
        {
            queue.remove(i);
        }
    };
    for (i, m) in matches.iter().enumerate() {
        let (start, end) = (m.start as i64, m.end as i64);
        if start < content_len as i64 && end > content_len as i64 {
            continue;
        }
        if start >= passage.end {
            add(&mut queue, std::mem::replace(&mut passage, Passage::new()));
            if start >= content_len as i64 {
                break;
            }
            passage.start = breaker.preceding(start + 1).max(last_passage_end);
            last_passage_end = breaker.following(start).min(content_len as i64);
            passage.end = last_passage_end;
        }
        passage.matches.push(i);
    }
    add(&mut queue, passage);
    queue.sort_by_key(|p| p.start);

    if queue.is_empty() && opts.no_match_size > 0 {
        // ES's CustomFieldHighlighter.getSummaryPassagesNoHighlight: the start of the first value.
        let pos = ft.units.iter().take_while(|u| **u == SEP).count();
        if pos < content_len {
            let mut end = ft.units[pos..].iter().position(|u| *u == SEP).map_or(content_len, |i| pos + i);
            let size = opts.no_match_size as usize;
            if size + pos < end {
                let words = Breaks(ft.boundaries(true));
                let f = words.following((size + pos) as i64);
                end = if f < 0 { content_len } else { f as usize };
            }
            queue.push(Passage { start: pos as i64, end: end as i64, score: f32::NAN, matches: Vec::new() });
        }
    }

    // ES's CustomPassageFormatter.
    let (pre, post) = (first_tag(&opts.pre_tags), first_tag(&opts.post_tags));
    let html = opts.encoder_html;
    let mut snippets: Vec<(String, f32)> = Vec::new();
    for p in &queue {
        let (pstart, pend) = (p.start.max(0) as usize, p.end.max(0) as usize);
        let mut sb = String::new();
        let mut pos = pstart;
        let mut k = 0;
        while k < p.matches.len() {
            let m = &matches[p.matches[k]];
            sb.push_str(&encode(&ft.slice(pos, m.start), html));
            let mut end = m.end;
            while k + 1 < p.matches.len() && matches[p.matches[k + 1]].start < end {
                k += 1;
                end = end.max(matches[p.matches[k]].end);
            }
            let end = end.min(pend);
            sb.push_str(pre);
            sb.push_str(&encode(&ft.slice(m.start, end), html));
            sb.push_str(post);
            pos = end;
            k += 1;
        }
        sb.push_str(&encode(&ft.slice(pos, pend.max(pos)), html));
        if sb.ends_with('\u{2029}') {
            sb.pop();
        }
        let text = if nof == 0 { sb } else { lucene_trim(&sb).to_string() };
        if !text.trim().is_empty() {
            snippets.push((text, p.score));
        }
    }
    if opts.score_ordered {
        snippets.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal));
    }
    Ok(snippets.into_iter().map(|(s, _)| s).collect())
}

fn first_tag(tags: &[String]) -> &str {
    tags.first().map(String::as_str).unwrap_or("")
}

// ---------------------------------------------------------------------------------------------
// Plain highlighter

/// Which tokens of the highlighted field the query scores, and the phrase spans the span
/// fragmenter keeps in one fragment (per value and term, in positions within the value).
struct PlainMarks {
    tokens: HashSet<usize>,
    spans: HashMap<(usize, String), Vec<(usize, usize)>>,
}

fn plain_marks(q: &HlQuery, ft: &FieldText, accepted: &dyn Fn(&str) -> bool, limit: Option<usize>) -> PlainMarks {
    let mut leaves = Vec::new();
    positive_leaves(&q.root, &mut leaves);
    let mut marks = PlainMarks { tokens: HashSet::new(), spans: HashMap::new() };
    for i in leaves {
        let leaf = &q.leaves[i];
        if !accepted(&leaf.field) {
            continue;
        }
        for o in occurrences(leaf, &ft.tokens, limit) {
            marks.tokens.extend(o.parts.iter().copied());
            if let LeafKind::Phrase { .. } = leaf.kind {
                let first = o.parts.iter().map(|p| ft.tokens[*p].rel_pos).min().unwrap_or(0);
                let last = o.parts.iter().map(|p| ft.tokens[*p].rel_pos).max().unwrap_or(0);
                for p in &o.parts {
                    let t = &ft.tokens[*p];
                    marks.spans.entry((t.value, t.text.clone())).or_default().push((first, last));
                }
            }
        }
    }
    marks
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Fragmenter {
    Span,
    Simple,
    Null,
}

struct TextFragment {
    start: usize,
    end: usize,
    score: f32,
    num: usize,
}

fn plain(ft: &FieldText, marks: &PlainMarks, f: &Prepared, limit: Option<usize>) -> Result<Vec<String>, EsError> {
    let opts = &f.opts;
    let fragmenter = if opts.number_of_fragments == 0 {
        Fragmenter::Null
    } else {
        match opts.fragmenter.as_deref() {
            None | Some("span") => Fragmenter::Span,
            Some("simple") => Fragmenter::Simple,
            Some(other) => {
                return Err(EsError::illegal_argument(format!(
                    "unknown fragmenter option [{other}] for the field [{}]",
                    f.name
                )));
            }
        }
    };
    let max_frags = if opts.number_of_fragments <= 0 { 1 } else { opts.number_of_fragments as usize };
    let (pre, post) = (first_tag(&opts.pre_tags), first_tag(&opts.post_tags));
    let html = opts.encoder_html;
    let frag_size = i64::from(opts.fragment_size);
    let mut all: Vec<(String, f32)> = Vec::new();
    for (vi, v) in ft.values.iter().enumerate() {
        let text_len = (v.end - v.start) as i64;
        let toks: Vec<(usize, &Tok)> = ft
            .tokens
            .iter()
            .enumerate()
            .filter(|(_, t)| t.value == vi && limit.is_none_or(|l| t.start - v.start <= l))
            .collect();
        // Lucene's Highlighter.getBestTextFragments.
        let mut new_text = String::new();
        let mut frags: Vec<TextFragment> = Vec::new();
        let mut cur = TextFragment { start: 0, end: 0, score: 0.0, num: 0 };
        let mut found: HashSet<&str> = HashSet::new();
        let mut total = 0.0f32;
        let mut last_end = v.start;
        let mut group: Option<(usize, usize, f32)> = None;
        let mut prev_pos: i64 = -1;
        let (mut frag_pos, mut wait_for, mut cur_num): (i64, i64, i64) = (-1, -1, 1);
        let flush = |g: (usize, usize, f32), new_text: &mut String, last_end: &mut usize| {
            if g.0 > *last_end {
                new_text.push_str(&encode(&ft.slice(*last_end, g.0), html));
            }
            let t = encode(&ft.slice(g.0, g.1), html);
            if g.2 > 0.0 {
                new_text.push_str(pre);
                new_text.push_str(&t);
                new_text.push_str(post);
            } else {
                new_text.push_str(&t);
            }
            *last_end = (*last_end).max(g.1);
        };
        for (idx, tok) in toks {
            let inc = tok.rel_pos as i64 - prev_pos;
            prev_pos = tok.rel_pos as i64;
            if let Some(g) = group
                && tok.start >= g.1
            {
                flush(g, &mut new_text, &mut last_end);
                group = None;
                let tok_end = (tok.end - v.start) as i64;
                let is_new = match fragmenter {
                    Fragmenter::Null => false,
                    Fragmenter::Simple => {
                        let n = tok_end > frag_size * cur_num;
                        if n {
                            cur_num += 1;
                        }
                        n
                    }
                    Fragmenter::Span => {
                        frag_pos += inc;
                        if wait_for <= frag_pos {
                            wait_for = -1;
                        }
                        if wait_for != -1 {
                            false
                        } else {
                            if let Some(spans) = marks.spans.get(&(vi, tok.text.clone()))
                                && let Some((_, e)) = spans.iter().find(|(s, _)| *s as i64 == frag_pos)
                            {
                                wait_for = *e as i64 + 1;
                            }
                            let n = tok_end >= frag_size * cur_num && (text_len - tok_end) >= (frag_size >> 1);
                            if n {
                                cur_num += 1;
                            }
                            n
                        }
                    }
                };
                if is_new {
                    cur.score = total;
                    cur.end = new_text.len();
                    let num = frags.len() + 1;
                    frags.push(std::mem::replace(
                        &mut cur,
                        TextFragment { start: new_text.len(), end: 0, score: 0.0, num },
                    ));
                    found.clear();
                    total = 0.0;
                }
            }
            let score = if marks.tokens.contains(&idx) { 1.0 } else { 0.0 };
            if score > 0.0 && found.insert(tok.text.as_str()) {
                total += score;
            }
            group = Some(match group {
                None => (tok.start, tok.end, score),
                Some(g) => (g.0.min(tok.start), g.1.max(tok.end), g.2 + score),
            });
        }
        cur.score = total;
        if let Some(g) = group {
            flush(g, &mut new_text, &mut last_end);
        }
        if last_end < v.end {
            new_text.push_str(&encode(&ft.slice(last_end, v.end), html));
        }
        cur.end = new_text.len();
        frags.push(cur);
        frags
            .sort_by(|a, b| b.score.partial_cmp(&a.score).unwrap_or(std::cmp::Ordering::Equal).then(a.num.cmp(&b.num)));
        frags.truncate(max_frags);
        for fr in frags {
            if fr.score > 0.0 {
                all.push((new_text[fr.start..fr.end].to_string(), fr.score));
            }
        }
    }
    if opts.score_ordered {
        all.sort_by(|a, b| (b.1 - a.1).round().partial_cmp(&0.0).unwrap_or(std::cmp::Ordering::Equal));
    }
    let out: Vec<String> = if opts.number_of_fragments == 0 && ft.values.len() > 1 && !all.is_empty() {
        all.into_iter().map(|(s, _)| s).collect()
    } else {
        all.into_iter().take(max_frags).map(|(s, _)| s).collect()
    };
    if !out.is_empty() || opts.no_match_size <= 0 {
        return Ok(out);
    }
    // Highlighter.findGoodEndForNoHighlightExcerpt over the first value.
    let v = &ft.values[0];
    let size = opts.no_match_size as usize;
    let mut end: i64 = -1;
    let mut found = false;
    for t in ft.tokens.iter().filter(|t| t.value == 0) {
        let tend = t.end - v.start;
        if tend >= size {
            if tend == size {
                end = size as i64;
            }
            found = true;
            break;
        }
        end = tend as i64;
    }
    if !found {
        end = (v.end - v.start) as i64;
    }
    if end > 0 {
        return Ok(vec![ft.slice(v.start, v.start + end as usize)]);
    }
    Ok(Vec::new())
}

// ---------------------------------------------------------------------------------------------
// Fast vector highlighter

fn fvh(ft: &FieldText, matches: Vec<Match>, f: &Prepared) -> Result<Vec<String>, EsError> {
    let opts = &f.opts;
    let nof = opts.number_of_fragments;
    let frag_size = i64::from(opts.fragment_size);
    let margin = opts.fragment_offset.map_or(FVH_MARGIN, i64::from);
    // SimpleFragListBuilder / SingleFragListBuilder.
    let mut frags: Vec<(i64, i64, Vec<usize>)> = Vec::new();
    if nof == 0 {
        if !matches.is_empty() {
            frags.push((0, i64::MAX, (0..matches.len()).collect()));
        }
    } else {
        let min = margin * 3;
        if frag_size < min {
            return Err(EsError::illegal_argument(format!(
                "fragCharSize({frag_size}) is too small. It must be {min} or higher."
            )));
        }
        let accept = |m: &Match, len: i64| m.parts.len() <= 1 || len <= frag_size;
        let mut start_offset: i64 = 0;
        let mut i = 0;
        while i < matches.len() {
            let m = &matches[i];
            if (m.start as i64) < start_offset {
                i += 1;
                continue;
            }
            let cur_start = m.start as i64;
            let mut cur_end = m.end as i64;
            let span_start = (cur_start - margin).max(start_offset);
            let span_end = cur_end.max(span_start + frag_size);
            let mut list = Vec::new();
            if accept(m, cur_end - cur_start) {
                list.push(i);
            }
            i += 1;
            while i < matches.len() && (matches[i].end as i64) <= span_end {
                cur_end = matches[i].end as i64;
                if accept(&matches[i], cur_end - cur_start) {
                    list.push(i);
                }
                i += 1;
            }
            if list.is_empty() {
                continue;
            }
            let match_len = cur_end - cur_start;
            let new_margin = ((frag_size - match_len) / 2).max(0);
            let s = (cur_start - new_margin).max(start_offset);
            let e = s + match_len.max(frag_size);
            start_offset = e;
            frags.push((s, e, list));
        }
    }
    // Discrete multi-value highlighting: a fragment never crosses values.
    let mut infos: Vec<(usize, usize, Vec<usize>)> = Vec::new();
    for (s, e, list) in frags {
        for v in &ft.values {
            let (vs, ve) = (v.start as i64, v.end as i64);
            if e <= vs || s >= ve {
                continue;
            }
            let sub: Vec<usize> =
                list.iter().copied().filter(|i| matches[*i].start >= v.start && matches[*i].end <= v.end).collect();
            if sub.is_empty() {
                continue;
            }
            infos.push((s.max(vs) as usize, e.min(ve) as usize, sub));
        }
    }
    if opts.score_ordered {
        infos.sort_by(|a, b| b.2.len().cmp(&a.2.len()).then(a.0.cmp(&b.0)));
    }
    let limit = if nof <= 0 { infos.len() } else { (nof as usize).min(infos.len()) };
    let mut buffer = ft.units.clone();
    for u in &mut buffer {
        if *u == SEP {
            *u = u16::from(b' ');
        }
    }
    let scanner = FvhScanner::new(ft, opts);
    let html = opts.encoder_html;
    let value_of = |off: usize| ft.values.iter().find(|v| off >= v.start && off <= v.end).cloned();
    let mut out = Vec::new();
    for (s, e, sub) in infos.into_iter().take(limit) {
        let Some(v) = value_of(s) else { continue };
        let eo = e.min(buffer.len());
        let mso = scanner.find_start(&buffer, s).max(v.start);
        let eo = scanner.find_end(&buffer, eo).min(v.end).max(mso);
        let mut frag = String::new();
        let mut src = mso;
        for i in sub {
            let m = &matches[i];
            let pre = tag(&opts.pre_tags, m.seq);
            let post = tag(&opts.post_tags, m.seq);
            for &(ps, pe) in &m.parts {
                let (ps, pe) = (ps.clamp(src, eo), pe.clamp(src, eo));
                frag.push_str(&encode(&slice16(&buffer, src, ps), html));
                frag.push_str(pre);
                frag.push_str(&encode(&slice16(&buffer, ps, pe), html));
                frag.push_str(post);
                src = pe;
            }
        }
        frag.push_str(&encode(&slice16(&buffer, src, eo), html));
        out.push(frag);
    }
    if out.is_empty() && opts.no_match_size > 0 {
        let v = &ft.values[0];
        let e = (v.start + opts.no_match_size as usize).min(v.end);
        let eo = scanner.find_end(&buffer, e).min(v.end);
        out.push(encode(&slice16(&buffer, v.start, eo), html));
    }
    Ok(out)
}

fn tag(tags: &[String], seq: usize) -> &str {
    if tags.is_empty() { "" } else { &tags[seq % tags.len()] }
}

fn slice16(units: &[u16], start: usize, end: usize) -> String {
    let end = end.min(units.len());
    if start >= end {
        return String::new();
    }
    String::from_utf16_lossy(&units[start..end])
}

/// The fast vector highlighter's boundary scanners: characters (default) or a break iterator.
enum FvhScanner {
    Chars { chars: Vec<u16>, max_scan: i64 },
    Breaks(Breaks),
}

impl FvhScanner {
    fn new(ft: &FieldText, opts: &FieldOptions) -> FvhScanner {
        match opts.boundary_scanner {
            Some(BoundaryScanner::Sentence) => FvhScanner::Breaks(Breaks(ft.boundaries(false))),
            Some(BoundaryScanner::Word) => FvhScanner::Breaks(Breaks(ft.boundaries(true))),
            _ => FvhScanner::Chars {
                chars: opts.boundary_chars.iter().filter_map(|c| u16::try_from(u32::from(*c)).ok()).collect(),
                max_scan: i64::from(opts.boundary_max_scan),
            },
        }
    }

    fn find_start(&self, buf: &[u16], start: usize) -> usize {
        if start > buf.len() || start < 1 {
            return start;
        }
        match self {
            FvhScanner::Chars { chars, max_scan } => {
                let mut offset = start;
                let mut count = *max_scan;
                while offset > 0 && count > 0 {
                    if chars.contains(&buf[offset - 1]) {
                        return offset;
                    }
                    offset -= 1;
                    count -= 1;
                }
                if offset == 0 { 0 } else { start }
            }
            FvhScanner::Breaks(b) => b.preceding(start as i64).max(0) as usize,
        }
    }

    fn find_end(&self, buf: &[u16], start: usize) -> usize {
        if start > buf.len() {
            return start;
        }
        match self {
            FvhScanner::Chars { chars, max_scan } => {
                let mut offset = start;
                let mut count = *max_scan;
                while offset < buf.len() && count > 0 {
                    if chars.contains(&buf[offset]) {
                        return offset;
                    }
                    offset += 1;
                    count -= 1;
                }
                start
            }
            FvhScanner::Breaks(b) => {
                let f = b.following(start as i64);
                if f < 0 { buf.len() } else { f as usize }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use tern_mapping::Mapping;

    use super::*;
    use crate::{ShardEngine, ShardIdent, ShardOptions};

    const BODY: &str = "The quick brown fox jumps over the lazy dog. The dog sleeps.";
    const LONG: &str = "Alpha beta gamma. The fox ran into the forest. Delta epsilon zeta eta theta iota kappa lambda mu nu xi \
        omicron pi rho sigma tau upsilon phi chi psi omega. Another fox appeared near the river bank at dawn. \
        Numbers one two three four five six seven eight nine ten. Finally the last fox slept.";

    fn engine() -> ShardEngine {
        let mapping = json!({"properties": {
            "title": {"type": "text", "fields": {"keyword": {"type": "keyword"}}},
            "body": {"type": "text"}, "long": {"type": "text"}, "multi": {"type": "text"},
            "tags": {"type": "keyword"}, "short": {"type": "keyword", "ignore_above": 3},
            "tv": {"type": "text", "term_vector": "with_positions_offsets"},
            "offsets": {"type": "text", "index_options": "offsets"},
            "user": {"properties": {"name": {"type": "text"}}}
        }});
        ShardEngine::open(ShardOptions {
            ident: ShardIdent { index: "hl".into(), index_uuid: "hl-uuid".into(), shard: 0 },
            path: None,
            mapping: Mapping::parse(&mapping).expect("mapping"),
            analysis: None,
            writer_memory_bytes: 15 << 20,
        })
        .expect("engine")
    }

    fn source() -> Value {
        json!({
            "title": "The Quick Brown Fox", "body": BODY, "long": LONG,
            "multi": ["red fox", "blue whale", "green fox"], "tags": ["fox", "animal"],
            "short": ["abc", "abcd"], "tv": BODY, "offsets": BODY, "user": {"name": "Fox Mulder"},
            "html": "<b>fox</b> & friends"
        })
    }

    fn run_with(
        e: &ShardEngine,
        query: Value,
        highlight: Value,
        src: &Value,
        settings: HighlightSettings,
    ) -> Result<Option<HitHighlight>, EsError> {
        let q = tern_query::parse_query(&query).expect("query");
        let h = tern_query::parse_highlight(&highlight, 30).expect("highlight");
        ShardHighlighter::new(e, &h, &q, settings)?.highlight(&serde_json::to_vec(src).expect("json"), 0)
    }

    /// The fragments of one field.
    fn frags(query: Value, highlight: Value, field: &str) -> Vec<String> {
        let e = engine();
        let out = run_with(&e, query, highlight, &source(), HighlightSettings::default()).expect("highlight");
        out.unwrap_or_default().into_iter().find(|(f, _)| f == field).map(|(_, v)| v).unwrap_or_default()
    }

    #[test]
    fn terms_are_tagged_in_the_matching_sentence() {
        assert_eq!(
            frags(json!({"match": {"body": "fox dog"}}), json!({"fields": {"body": {}}}), "body"),
            vec!["The quick brown <em>fox</em> jumps over the lazy <em>dog</em>. The <em>dog</em> sleeps."]
        );
        let e = engine();
        let src = json!({"body": "Dogs are lazy. Foxes are quick."});
        let out = run_with(
            &e,
            json!({"match": {"body": "foxes"}}),
            json!({"fields": [{"body": {}}]}),
            &src,
            HighlightSettings::default(),
        )
        .unwrap();
        assert_eq!(out, Some(vec![("body".to_string(), vec!["<em>Foxes</em> are quick.".to_string()])]));
    }

    #[test]
    fn sentences_fragment_size_count_and_order() {
        let q = json!({"match": {"long": "fox"}});
        assert_eq!(
            frags(q.clone(), json!({"fields": {"long": {}}}), "long"),
            vec![
                "The <em>fox</em> ran into the forest.",
                "Another <em>fox</em> appeared near the river bank at dawn.",
                "Finally the last <em>fox</em> slept."
            ]
        );
        assert_eq!(
            frags(q.clone(), json!({"fields": {"long": {"fragment_size": 30, "number_of_fragments": 20}}}), "long"),
            vec![
                "The <em>fox</em> ran into the forest.",
                "Another <em>fox</em> appeared near the river",
                "Finally the last <em>fox</em> slept."
            ]
        );
        // The best two passages, in text order.
        assert_eq!(
            frags(q.clone(), json!({"fields": {"long": {"number_of_fragments": 2}}}), "long"),
            vec!["The <em>fox</em> ran into the forest.", "Finally the last <em>fox</em> slept."]
        );
        assert_eq!(
            frags(q.clone(), json!({"fields": {"long": {"number_of_fragments": 3, "order": "score"}}}), "long"),
            vec![
                "The <em>fox</em> ran into the forest.",
                "Finally the last <em>fox</em> slept.",
                "Another <em>fox</em> appeared near the river bank at dawn."
            ]
        );
        let whole = frags(q, json!({"fields": {"long": {"number_of_fragments": 0}}}), "long");
        assert_eq!(whole, vec![LONG.replace(" fox ", " <em>fox</em> ")]);
    }

    #[test]
    fn phrases_are_one_span_in_weight_matches_mode() {
        let q = json!({"match_phrase": {"body": "brown fox"}});
        assert_eq!(
            frags(q.clone(), json!({"fields": {"body": {}}}), "body"),
            vec!["The quick <em>brown fox</em> jumps over the lazy dog. The dog sleeps."]
        );
        // Without require_field_match, terms are tagged one by one (still only as a phrase).
        assert_eq!(
            frags(q, json!({"require_field_match": false, "fields": {"body": {}}}), "body"),
            vec!["The quick <em>brown</em> <em>fox</em> jumps over the lazy dog. The dog sleeps."]
        );
        // A term of the phrase elsewhere is not a phrase match.
        assert!(
            frags(json!({"match_phrase": {"body": "dog jumps"}}), json!({"fields": {"body": {}}}), "body").is_empty()
        );
        assert_eq!(
            frags(
                json!({"match_phrase": {"body": {"query": "quick fox", "slop": 1}}}),
                json!({"fields": {"body": {}}}),
                "body"
            ),
            vec!["The <em>quick brown fox</em> jumps over the lazy dog. The dog sleeps."]
        );
        assert_eq!(
            frags(json!({"match_phrase_prefix": {"body": "lazy d"}}), json!({"fields": {"body": {}}}), "body"),
            vec!["The quick brown fox jumps over the <em>lazy dog</em>. The dog sleeps."]
        );
    }

    #[test]
    fn clauses_that_do_not_match_the_document_are_not_highlighted() {
        let q = json!({"bool": {"should": [
            {"bool": {"must": [{"match": {"body": "quick"}}, {"match": {"title": "zebra"}}]}},
            {"match": {"body": "dog"}}
        ]}});
        assert_eq!(
            frags(q.clone(), json!({"fields": {"body": {}}}), "body"),
            vec!["The quick brown fox jumps over the lazy <em>dog</em>. The <em>dog</em> sleeps."]
        );
        // must_not clauses never highlight.
        let q = json!({"bool": {"must": {"match": {"body": "dog"}}, "must_not": {"match": {"body": "fox"}}}});
        assert_eq!(
            frags(q, json!({"fields": {"body": {}}}), "body"),
            vec!["The quick brown fox jumps over the lazy <em>dog</em>. The <em>dog</em> sleeps."]
        );
    }

    #[test]
    fn multi_term_queries_highlight_their_expansions() {
        let h = json!({"fields": {"body": {}}});
        let want = vec!["The quick brown fox jumps over the lazy <em>dog</em>. The <em>dog</em> sleeps."];
        assert_eq!(frags(json!({"prefix": {"body": "do"}}), h.clone(), "body"), want);
        assert_eq!(frags(json!({"wildcard": {"body": "d?g"}}), h.clone(), "body"), want);
        assert_eq!(frags(json!({"fuzzy": {"body": "dgo"}}), h.clone(), "body"), want);
        assert_eq!(frags(json!({"match": {"body": {"query": "dof", "fuzziness": 1}}}), h.clone(), "body"), want);
        assert_eq!(frags(json!({"query_string": {"query": "body:dog"}}), h, "body"), want);
    }

    #[test]
    fn require_field_match_and_field_patterns() {
        let q = json!({"match": {"title": "fox"}});
        assert!(frags(q.clone(), json!({"fields": {"body": {}}}), "body").is_empty());
        assert_eq!(
            frags(q.clone(), json!({"require_field_match": false, "fields": {"multi": {}}}), "multi"),
            vec!["red <em>fox</em>", "green <em>fox</em>"]
        );
        // `*` covers text and keyword fields (multi-fields too), and reads objects' fields.
        let e = engine();
        let out = run_with(
            &e,
            json!({"multi_match": {"query": "fox", "fields": ["*"]}}),
            json!({"fields": {"*": {}}}),
            &source(),
            HighlightSettings::default(),
        )
        .unwrap()
        .unwrap();
        let names: Vec<&str> = out.iter().map(|(f, _)| f.as_str()).collect();
        for f in ["title", "body", "long", "multi", "tags", "tv", "offsets", "user.name"] {
            assert!(names.contains(&f), "{f} missing from {names:?}");
        }
        let get = |f: &str| out.iter().find(|(n, _)| n == f).map(|(_, v)| v.clone()).unwrap();
        assert_eq!(get("tags"), vec!["<em>fox</em>"]);
        assert_eq!(get("user.name"), vec!["<em>Fox</em> Mulder"]);
        assert_eq!(get("title"), vec!["The Quick Brown <em>Fox</em>"]);
        assert!(!names.contains(&"title.keyword"));
    }

    #[test]
    fn keyword_values_and_ignore_above() {
        assert_eq!(
            frags(json!({"terms": {"tags": ["fox", "animal"]}}), json!({"fields": {"tags": {}}}), "tags"),
            vec!["<em>fox</em>", "<em>animal</em>"]
        );
        assert_eq!(
            frags(json!({"prefix": {"short": "ab"}}), json!({"fields": {"short": {}}}), "short"),
            vec!["<em>abc</em>"]
        );
    }

    #[test]
    fn tags_encoder_and_no_match_size() {
        assert_eq!(
            frags(json!({"match": {"body": "fox"}}), json!({"tags_schema": "styled", "fields": {"body": {}}}), "body"),
            vec!["The quick brown <em class=\"hlt1\">fox</em> jumps over the lazy dog. The dog sleeps."]
        );
        let e = engine();
        let src = json!({"body": "<b>fox</b> & friends"});
        let out = run_with(
            &e,
            json!({"match": {"body": "fox"}}),
            json!({"encoder": "html", "fields": {"body": {}}}),
            &src,
            HighlightSettings::default(),
        )
        .unwrap();
        assert_eq!(out.unwrap()[0].1, vec!["&lt;b&gt;<em>fox</em>&lt;&#x2F;b&gt; &amp; friends"]);
        assert_eq!(
            frags(json!({"match": {"body": "fox"}}), json!({"fields": {"title": {"no_match_size": 10}}}), "title"),
            vec!["The Quick Brown"]
        );
        assert_eq!(
            frags(
                json!({"match": {"body": "fox"}}),
                json!({"fields": {"body": {"boundary_scanner": "word", "fragment_size": 20}}}),
                "body"
            ),
            vec!["<em>fox</em>"]
        );
    }

    #[test]
    fn plain_highlighter_fragments() {
        assert_eq!(
            frags(
                json!({"match": {"long": "fox"}}),
                json!({"fields": {"long": {"type": "plain", "fragment_size": 30, "number_of_fragments": 20}}}),
                "long"
            ),
            vec![
                "Alpha beta gamma. The <em>fox</em> ran",
                " omega. Another <em>fox</em> appeared",
                ". Finally the last <em>fox</em> slept."
            ]
        );
        assert_eq!(
            frags(
                json!({"match_phrase": {"body": "brown fox"}}),
                json!({"fields": {"body": {"type": "plain"}}}),
                "body"
            ),
            vec!["The quick <em>brown</em> <em>fox</em> jumps over the lazy dog. The dog sleeps."]
        );
    }

    #[test]
    fn fast_vector_highlighter() {
        assert_eq!(
            frags(
                json!({"match": {"tv": "fox dog"}}),
                json!({"pre_tags": ["<x>", "<y>"], "post_tags": ["</x>", "</y>"], "fields": {"tv": {"type": "fvh"}}}),
                "tv"
            ),
            vec!["The quick brown <x>fox</x> jumps over the lazy <y>dog</y>. The <y>dog</y> sleeps."]
        );
        assert_eq!(
            frags(json!({"match_phrase": {"tv": "brown fox"}}), json!({"fields": {"tv": {"type": "fvh"}}}), "tv"),
            vec!["The quick <em>brown fox</em> jumps over the lazy dog. The dog sleeps."]
        );
        let e = engine();
        let err = run_with(
            &e,
            json!({"match": {"body": "fox"}}),
            json!({"fields": {"body": {"type": "fvh"}}}),
            &source(),
            HighlightSettings::default(),
        )
        .unwrap_err();
        assert_eq!(
            err.reason,
            "the field [body] should be indexed with term vector with position offsets to be used with fast vector highlighter"
        );
        let err = run_with(
            &e,
            json!({"match": {"tv": "fox"}}),
            json!({"fields": {"tv": {"type": "fvh", "fragment_size": 10}}}),
            &source(),
            HighlightSettings::default(),
        )
        .unwrap_err();
        assert_eq!(err.reason, "fragCharSize(10) is too small. It must be 18 or higher.");
    }

    #[test]
    fn max_analyzed_offset() {
        let e = engine();
        let settings = HighlightSettings { max_analyzed_offset: 10, weight_matches: true };
        let src = json!({"body": "The quick brown fox went to the forest and saw another fox.",
                         "offsets": "The quick brown fox went to the forest and saw another fox."});
        let err = run_with(&e, json!({"match": {"body": "fox"}}), json!({"fields": {"body": {}}}), &src, settings)
            .unwrap_err();
        assert_eq!(err.status(), 400);
        assert!(
            err.reason.starts_with("The length [59] of field [body] in doc[0]/index[hl] exceeds the"),
            "{}",
            err.reason
        );
        // Offsets in the index: the unified highlighter does not re-analyze, no limit.
        let ok = run_with(&e, json!({"match": {"offsets": "fox"}}), json!({"fields": {"offsets": {}}}), &src, settings)
            .unwrap()
            .unwrap();
        assert_eq!(ok[0].1, vec!["The quick brown <em>fox</em> went to the forest and saw another <em>fox</em>."]);
        // The plain highlighter always analyzes.
        assert!(
            run_with(
                &e,
                json!({"match": {"offsets": "fox"}}),
                json!({"fields": {"offsets": {"type": "plain"}}}),
                &src,
                settings
            )
            .is_err()
        );
        // A query limit below the index limit truncates instead.
        let cut = run_with(
            &e,
            json!({"match": {"body": "fox"}}),
            json!({"max_analyzed_offset": 20, "fields": {"body": {}}}),
            &src,
            HighlightSettings::default(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(cut[0].1, vec!["The quick brown <em>fox</em> went to the forest and saw another fox."]);
        // A field the query has no terms for is not looked at.
        assert!(
            run_with(&e, json!({"match": {"title": "fox"}}), json!({"fields": {"body": {}}}), &src, settings)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn unknown_highlighter_type() {
        let e = engine();
        let err = run_with(
            &e,
            json!({"match": {"body": "fox"}}),
            json!({"fields": {"body": {"type": "foo"}}}),
            &source(),
            HighlightSettings::default(),
        )
        .err()
        .unwrap();
        assert_eq!(err.reason, "unknown highlighter type [foo] for the field [body]");
    }
}
