//! `indices.analyze` (`GET|POST /_analyze`, `/{index}/_analyze`).
//!
//! Analysis runs on tern's own analyzers (`tern_shard::analysis`), the ones indexing and query
//! building use, so `_analyze` shows exactly the terms tern indexes: with an index, named analyzers
//! come from the index's registry and `field` uses the analyzer the shard indexes that field with.
//!
//! An array of texts is analyzed like a multi-valued field: positions continue after the previous
//! value plus the analyzer's position increment gap (100 for analyzers of an index and text fields,
//! 0 for global built-ins and request-built chains, as in ES), offsets after the previous value plus
//! one. `explain` reports every stage (char filters, tokenizer, each token filter) the way ES's
//! detailed response does. Char filters are tern-side here (`html_strip`, `mapping`), with token
//! offsets mapped back onto the original text.

// `EsError` is the workspace-wide error type; its size is a workspace decision, not this module's.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::{Map, Value, json};
use tern_cluster::IndicesOptions;
use tern_common::{ErrorKind, EsError};
use tern_node::Node;
use tern_shard::ShardEngine;
use tern_shard::analysis::{Analyzer, TokenFilter, Tokenizer, filter_from_def, parse_tokenizer, resolve_filter};

use crate::context::{Ctx, EsBody};
use crate::error::ApiResult;

/// `index.analyze.max_token_count` default.
const DEFAULT_MAX_TOKEN_COUNT: usize = 10_000;
/// Gap between values of a text field and for analyzers of an index (`position_increment_gap`).
const INDEX_POSITION_GAP: i64 = 100;

/// The parsed `_analyze` body.
#[derive(Debug, Default)]
struct AnalyzeRequest {
    text: Vec<String>,
    analyzer: Option<String>,
    tokenizer: Option<Value>,
    filters: Vec<Value>,
    char_filters: Vec<Value>,
    field: Option<String>,
    normalizer: Option<String>,
    explain: bool,
    attributes: Vec<String>,
}

fn parse_request(body: Option<Value>) -> Result<AnalyzeRequest, EsError> {
    let mut req = AnalyzeRequest::default();
    let Some(body) = body else {
        return Ok(req);
    };
    let Value::Object(obj) = body else {
        return Err(EsError::new(ErrorKind::XContentParse, "[analyze_request] failed to parse, expected an object"));
    };
    let strings = |key: &str, v: &Value| -> Result<Vec<String>, EsError> {
        match v {
            Value::String(s) => Ok(vec![s.clone()]),
            Value::Array(a) => a
                .iter()
                .map(|x| match x {
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(n) => Ok(n.to_string()),
                    Value::Bool(b) => Ok(b.to_string()),
                    _ => Err(EsError::new(
                        ErrorKind::XContentParse,
                        format!("[analyze_request] failed to parse field [{key}]"),
                    )),
                })
                .collect(),
            Value::Number(n) => Ok(vec![n.to_string()]),
            _ => {
                Err(EsError::new(ErrorKind::XContentParse, format!("[analyze_request] failed to parse field [{key}]")))
            }
        }
    };
    let string = |key: &str, v: &Value| -> Result<String, EsError> {
        v.as_str().map(String::from).ok_or_else(|| {
            EsError::new(ErrorKind::XContentParse, format!("[analyze_request] failed to parse field [{key}]"))
        })
    };
    let components = |v: &Value| -> Vec<Value> {
        match v {
            Value::Array(a) => a.clone(),
            other => vec![other.clone()],
        }
    };
    for (k, v) in obj {
        match k.as_str() {
            "text" => req.text = strings(&k, &v)?,
            "analyzer" => req.analyzer = Some(string(&k, &v)?),
            "tokenizer" => req.tokenizer = Some(v),
            "filter" | "token_filter" => req.filters = components(&v),
            "char_filter" => req.char_filters = components(&v),
            "field" => req.field = Some(string(&k, &v)?),
            "normalizer" => req.normalizer = Some(string(&k, &v)?),
            "explain" => {
                req.explain = match &v {
                    Value::Bool(b) => *b,
                    Value::String(s) if s == "true" || s == "false" => s == "true",
                    _ => {
                        return Err(EsError::new(
                            ErrorKind::XContentParse,
                            "[analyze_request] failed to parse field [explain]",
                        ));
                    }
                }
            }
            "attributes" => req.attributes = strings(&k, &v)?,
            other => {
                return Err(EsError::new(
                    ErrorKind::XContentParse,
                    format!("[analyze_request] unknown field [{other}]"),
                ));
            }
        }
    }
    Ok(req)
}

/// ES's request validation.
fn validate(req: &AnalyzeRequest, has_index: bool) -> Result<(), EsError> {
    let mut errors = Vec::new();
    if req.text.is_empty() {
        errors.push("text is missing".to_string());
    }
    let components = req.tokenizer.is_some() || !req.filters.is_empty() || !req.char_filters.is_empty();
    if req.normalizer.is_some() {
        if !has_index {
            errors.push("index is required if normalizer is specified".to_string());
        }
        if req.tokenizer.is_some() || req.analyzer.is_some() {
            errors.push("tokenizer/analyze should be null if normalizer is specified".to_string());
        }
    }
    if req.analyzer.is_some() && components {
        errors.push("cannot define extra components on a named analyzer".to_string());
    }
    if req.field.is_some() && components {
        errors.push("cannot define extra components on a field-specific analyzer".to_string());
    }
    if errors.is_empty() { Ok(()) } else { Err(EsError::validation(&errors)) }
}

// -------------------------------------------------------------------------------------------------
// Char filters

#[derive(Debug, Clone, PartialEq)]
enum CharFilter {
    HtmlStrip { escaped_tags: Vec<String> },
    Mapping(Vec<(String, String)>),
}

/// Output-to-input offset corrections, in UTF-16 units: from each output position on, add `diff`.
#[derive(Debug, Clone, Default)]
struct OffsetMap {
    points: Vec<(usize, i64)>,
}

impl OffsetMap {
    fn correct(&self, out: usize) -> usize {
        let diff = match self.points.binary_search_by(|(p, _)| p.cmp(&out)) {
            Ok(i) => self.points[i].1,
            Err(0) => 0,
            Err(i) => self.points[i - 1].1,
        };
        (out as i64 + diff).max(0) as usize
    }

    /// Records that output position `out` corresponds to input position `inp`.
    fn record(&mut self, out: usize, inp: usize) {
        let diff = inp as i64 - out as i64;
        let last = self.points.last().map(|p| p.1).unwrap_or(0);
        if diff != last {
            if let Some(p) = self.points.last_mut().filter(|p| p.0 == out) {
                p.1 = diff;
            } else {
                self.points.push((out, diff));
            }
        }
    }
}

/// Maps an offset in the text after every char filter back onto the original text.
fn correct_all(maps: &[OffsetMap], off: usize) -> usize {
    maps.iter().rev().fold(off, |o, m| m.correct(o))
}

fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

impl CharFilter {
    fn apply(&self, text: &str) -> (String, OffsetMap) {
        match self {
            CharFilter::HtmlStrip { escaped_tags } => html_strip(text, escaped_tags),
            CharFilter::Mapping(rules) => map_chars(text, rules),
        }
    }
}

/// The `mapping` char filter: longest key wins at each position.
fn map_chars(text: &str, rules: &[(String, String)]) -> (String, OffsetMap) {
    let mut out = String::with_capacity(text.len());
    let mut map = OffsetMap::default();
    let (mut i, mut in16, mut out16) = (0usize, 0usize, 0usize);
    while i < text.len() {
        let rest = &text[i..];
        let best = rules.iter().filter(|(k, _)| rest.starts_with(k.as_str())).max_by_key(|(k, _)| k.len());
        match best {
            Some((k, v)) => {
                out.push_str(v);
                i += k.len();
                in16 += utf16_len(k);
                out16 += utf16_len(v);
                map.record(out16, in16);
            }
            None => {
                let c = rest.chars().next().expect("non-empty rest");
                out.push(c);
                i += c.len_utf8();
                in16 += c.len_utf16();
                out16 += c.len_utf16();
            }
        }
    }
    (out, map)
}

const HTML_BLOCK_TAGS: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "br",
    "dd",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "td",
    "th",
    "tr",
    "ul",
];

fn html_entity(name: &str) -> Option<char> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix('x').or_else(|| num.strip_prefix('X')) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        return char::from_u32(code);
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        "copy" => '©',
        "reg" => '®',
        "eacute" => 'é',
        "egrave" => 'è',
        "agrave" => 'à',
        "ccedil" => 'ç',
        "uuml" => 'ü',
        "ouml" => 'ö',
        "auml" => 'ä',
        "szlig" => 'ß',
        "hellip" => '…',
        "mdash" => '—',
        "ndash" => '–',
        _ => return None,
    })
}

/// The `html_strip` char filter: tags and comments removed (block-level tags become a newline),
/// `script`/`style` content dropped, character entities decoded.
fn html_strip(text: &str, escaped_tags: &[String]) -> (String, OffsetMap) {
    let mut out = String::with_capacity(text.len());
    let mut map = OffsetMap::default();
    let (mut i, mut in16, mut out16) = (0usize, 0usize, 0usize);
    let bytes = text.as_bytes();
    let emit = |out: &mut String, out16: &mut usize, s: &str| {
        out.push_str(s);
        *out16 += utf16_len(s);
    };
    while i < text.len() {
        let rest = &text[i..];
        if rest.starts_with("<!--") {
            let end = rest.find("-->").map(|e| e + 3).unwrap_or(rest.len());
            in16 += utf16_len(&rest[..end]);
            i += end;
            map.record(out16, in16);
            continue;
        }
        if bytes[i] == b'<' {
            let close = rest.find('>');
            let name_start = if rest[1..].starts_with('/') { 2 } else { 1 };
            let name: String = rest[name_start.min(rest.len())..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect::<String>()
                .to_ascii_lowercase();
            if let (Some(close), false) = (close, name.is_empty()) {
                let tag = &rest[..=close];
                if escaped_tags.iter().any(|t| t.eq_ignore_ascii_case(&name)) {
                    emit(&mut out, &mut out16, tag);
                    in16 += utf16_len(tag);
                    i += tag.len();
                    continue;
                }
                let mut consumed = tag.len();
                if name_start == 1 && (name == "script" || name == "style") {
                    let end_tag = format!("</{name}");
                    let lower = rest.to_ascii_lowercase();
                    if let Some(e) = lower[tag.len()..].find(&end_tag) {
                        let after = tag.len() + e;
                        consumed = rest[after..].find('>').map(|g| after + g + 1).unwrap_or(rest.len());
                    } else {
                        consumed = rest.len();
                    }
                }
                if HTML_BLOCK_TAGS.contains(&name.as_str()) {
                    emit(&mut out, &mut out16, "\n");
                }
                in16 += utf16_len(&rest[..consumed]);
                i += consumed;
                map.record(out16, in16);
                continue;
            }
        }
        if bytes[i] == b'&'
            && let Some(semi) = rest[1..].find(';').filter(|s| *s <= 10)
            && let Some(c) = html_entity(&rest[1..=semi])
        {
            let mut buf = [0u8; 4];
            emit(&mut out, &mut out16, c.encode_utf8(&mut buf));
            in16 += utf16_len(&rest[..semi + 2]);
            i += semi + 2;
            map.record(out16, in16);
            continue;
        }
        let c = rest.chars().next().expect("non-empty rest");
        out.push(c);
        i += c.len_utf8();
        in16 += c.len_utf16();
        out16 += c.len_utf16();
    }
    (out, map)
}

/// Parses a `mapping` rule (`"a => b"`, with Java-style escapes).
fn parse_mapping_rule(rule: &str) -> Result<(String, String), EsError> {
    let invalid = || EsError::illegal_argument(format!("Invalid Mapping Rule : [{rule}]"));
    let (k, v) = rule.split_once("=>").ok_or_else(invalid)?;
    let k = unescape(k.trim()).ok_or_else(invalid)?;
    let v = unescape(v.trim()).ok_or_else(invalid)?;
    if k.is_empty() {
        return Err(invalid());
    }
    Ok((k, v))
}

fn unescape(s: &str) -> Option<String> {
    let mut out = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next()? {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'u' => {
                let hex: String = it.by_ref().take(4).collect();
                out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
            }
            other => out.push(other),
        }
    }
    Some(out)
}

fn char_filter_from_def(def: &Value, global: bool) -> Result<CharFilter, EsError> {
    let kind = def.get("type").and_then(Value::as_str).unwrap_or("");
    match kind {
        "html_strip" => Ok(CharFilter::HtmlStrip {
            escaped_tags: def
                .get("escaped_tags")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
                .unwrap_or_default(),
        }),
        "mapping" => {
            let Some(rules) = def.get("mappings").and_then(Value::as_array) else {
                return Err(EsError::illegal_argument(
                    "mapping requires either `mappings` or `mappings_path` to be configured",
                ));
            };
            let rules = rules
                .iter()
                .map(|r| r.as_str().ok_or_else(|| EsError::illegal_argument("mapping rules must be strings")))
                .map(|r| r.and_then(parse_mapping_rule))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(CharFilter::Mapping(rules))
        }
        other => Err(EsError::illegal_argument(if global {
            format!("failed to find global char_filter under [{other}]")
        } else {
            format!("failed to find char_filter under [{other}]")
        })),
    }
}

// -------------------------------------------------------------------------------------------------
// Resolution

/// What the request analyzes with.
struct Chain {
    analyzer: Analyzer,
    char_filters: Vec<(String, CharFilter)>,
    /// Names for the detailed response: the analyzer's, or the tokenizer's and each filter's.
    analyzer_name: String,
    tokenizer_name: String,
    filter_names: Vec<String>,
    /// Whether `explain` shows the components (request-built or custom analyzers).
    custom: bool,
    position_gap: i64,
}

/// The index an `_analyze` names: its shard engine (for analyzers and mapping) and settings.
struct IndexCtx {
    engine: Arc<ShardEngine>,
    analysis: Option<Value>,
    max_token_count: usize,
}

fn tokenizer_name(t: Tokenizer) -> &'static str {
    match t {
        Tokenizer::Standard => "standard",
        Tokenizer::Whitespace => "whitespace",
        Tokenizer::Keyword => "keyword",
        Tokenizer::Letter => "letter",
        Tokenizer::Lowercase => "lowercase",
    }
}

fn filter_name(f: &TokenFilter) -> &'static str {
    match f {
        TokenFilter::Lowercase => "lowercase",
        TokenFilter::Uppercase => "uppercase",
        TokenFilter::AsciiFolding => "asciifolding",
        TokenFilter::Stop(_) => "stop",
        TokenFilter::Trim => "trim",
        TokenFilter::Length { .. } => "length",
    }
}

/// ES names index-level lookups without the "global" of its cluster-level messages.
fn localize(e: EsError, index: Option<&IndexCtx>) -> EsError {
    if index.is_some() {
        let reason = e.reason.replacen("failed to find global ", "failed to find ", 1);
        EsError { reason, ..e }
    } else {
        e
    }
}

fn analysis_section<'a>(index: Option<&'a IndexCtx>, section: &str) -> Option<&'a Map<String, Value>> {
    index.and_then(|i| i.analysis.as_ref()).and_then(|a| a.get(section)).and_then(Value::as_object)
}

fn resolve_tokenizer(v: &Value, index: Option<&IndexCtx>) -> Result<(Tokenizer, String), EsError> {
    match v {
        Value::String(name) => {
            if let Some(def) = analysis_section(index, "tokenizer").and_then(|t| t.get(name)) {
                let kind = def.get("type").and_then(Value::as_str).unwrap_or("");
                return Ok((parse_tokenizer(kind).map_err(|e| localize(e, index))?, name.clone()));
            }
            Ok((parse_tokenizer(name).map_err(|e| localize(e, index))?, name.clone()))
        }
        Value::Object(o) => {
            let kind = o.get("type").and_then(Value::as_str).unwrap_or("");
            Ok((parse_tokenizer(kind)?, "_anonymous_tokenizer".to_string()))
        }
        _ => Err(EsError::illegal_argument("tokenizer must be a name or a definition")),
    }
}

fn resolve_token_filter(v: &Value, index: Option<&IndexCtx>) -> Result<(TokenFilter, String), EsError> {
    match v {
        Value::String(name) => {
            Ok((resolve_filter(name, analysis_section(index, "filter")).map_err(|e| localize(e, index))?, name.clone()))
        }
        Value::Object(_) => Ok((filter_from_def(v)?, "_anonymous_tokenfilter".to_string())),
        _ => Err(EsError::illegal_argument("filter must be a name or a definition")),
    }
}

fn resolve_char_filter(v: &Value, index: Option<&IndexCtx>) -> Result<(CharFilter, String), EsError> {
    match v {
        Value::String(name) => {
            if let Some(def) = analysis_section(index, "char_filter").and_then(|t| t.get(name)) {
                return Ok((char_filter_from_def(def, false)?, name.clone()));
            }
            match name.as_str() {
                "html_strip" => Ok((CharFilter::HtmlStrip { escaped_tags: vec![] }, name.clone())),
                _ => Err(localize(
                    EsError::illegal_argument(format!("failed to find global char_filter under [{name}]")),
                    index,
                )),
            }
        }
        Value::Object(_) => Ok((char_filter_from_def(v, index.is_none())?, "_anonymous_charfilter".to_string())),
        _ => Err(EsError::illegal_argument("char_filter must be a name or a definition")),
    }
}

fn named(analyzer: Analyzer, name: &str, custom: bool, gap: i64) -> Chain {
    Chain {
        tokenizer_name: tokenizer_name(analyzer.tokenizer).to_string(),
        filter_names: analyzer.filters.iter().map(|f| filter_name(f).to_string()).collect(),
        analyzer,
        char_filters: vec![],
        analyzer_name: name.to_string(),
        custom,
        position_gap: gap,
    }
}

fn is_custom_analyzer(index: Option<&IndexCtx>, name: &str) -> bool {
    analysis_section(index, "analyzer")
        .and_then(|a| a.get(name))
        .is_some_and(|def| def.get("type").and_then(Value::as_str).unwrap_or("custom") == "custom")
}

/// A custom analyzer defined in the index settings shows its components under their own names.
fn name_components_from_settings(chain: &mut Chain, index: Option<&IndexCtx>, name: &str) {
    let Some(def) = analysis_section(index, "analyzer").and_then(|a| a.get(name)) else {
        return;
    };
    if let Some(t) = def.get("tokenizer").and_then(Value::as_str) {
        chain.tokenizer_name = t.to_string();
    }
    let filters: Vec<String> = match def.get("filter") {
        Some(Value::String(f)) => vec![f.clone()],
        Some(Value::Array(a)) => a.iter().filter_map(|v| v.as_str().map(String::from)).collect(),
        _ => vec![],
    };
    if filters.len() == chain.filter_names.len() {
        chain.filter_names = filters;
    }
}

fn resolve_chain(req: &AnalyzeRequest, index: Option<&IndexCtx>) -> Result<Chain, EsError> {
    if let Some(name) = &req.analyzer {
        return match index {
            Some(ix) => {
                let a = ix
                    .engine
                    .analyzers()
                    .get(name)
                    .ok_or_else(|| EsError::illegal_argument(format!("failed to find analyzer [{name}]")))?;
                let mut chain = named(a, name, is_custom_analyzer(index, name), INDEX_POSITION_GAP);
                name_components_from_settings(&mut chain, index, name);
                Ok(chain)
            }
            None => {
                let a = Analyzer::builtin(name)
                    .ok_or_else(|| EsError::illegal_argument(format!("failed to find global analyzer [{name}]")))?;
                Ok(named(a, name, false, 0))
            }
        };
    }
    if let Some(name) = &req.normalizer {
        let ix = index.ok_or_else(|| EsError::illegal_argument("analysis based on a normalizer requires an index"))?;
        let def = analysis_section(index, "normalizer").and_then(|n| n.get(name));
        let mut chain = match (def, name.as_str()) {
            (Some(def), _) => {
                let names: Vec<Value> = match def.get("filter") {
                    Some(Value::Array(a)) => a.clone(),
                    Some(v @ Value::String(_)) => vec![v.clone()],
                    _ => vec![],
                };
                let mut filters = Vec::new();
                for n in &names {
                    filters.push(resolve_token_filter(n, Some(ix))?.0);
                }
                let mut chain = named(Analyzer { tokenizer: Tokenizer::Keyword, filters }, name, true, 0);
                let cf: Vec<Value> = match def.get("char_filter") {
                    Some(Value::Array(a)) => a.clone(),
                    Some(v @ Value::String(_)) => vec![v.clone()],
                    _ => vec![],
                };
                for c in &cf {
                    let (f, n) = resolve_char_filter(c, Some(ix))?;
                    chain.char_filters.push((n, f));
                }
                chain
            }
            (None, "lowercase") => {
                named(Analyzer { tokenizer: Tokenizer::Keyword, filters: vec![TokenFilter::Lowercase] }, name, true, 0)
            }
            (None, _) => {
                return Err(EsError::illegal_argument(format!("failed to find normalizer under [{name}]")));
            }
        };
        chain.custom = true;
        return Ok(chain);
    }
    if req.tokenizer.is_some() || !req.filters.is_empty() || !req.char_filters.is_empty() {
        // Filters without a tokenizer make a normalizer: the whole text is one token.
        let (tokenizer, tok_name) = match &req.tokenizer {
            Some(t) => resolve_tokenizer(t, index)?,
            None => (Tokenizer::Keyword, "keyword".to_string()),
        };
        let mut filters = Vec::new();
        let mut filter_names = Vec::new();
        for f in &req.filters {
            let (f, n) = resolve_token_filter(f, index)?;
            filters.push(f);
            filter_names.push(n);
        }
        let mut char_filters = Vec::new();
        for c in &req.char_filters {
            let (f, n) = resolve_char_filter(c, index)?;
            char_filters.push((n, f));
        }
        return Ok(Chain {
            analyzer: Analyzer { tokenizer, filters },
            char_filters,
            analyzer_name: "_anonymous_analyzer".into(),
            tokenizer_name: tok_name,
            filter_names,
            custom: true,
            position_gap: 0,
        });
    }
    if let Some(field) = &req.field {
        let ix =
            index.ok_or_else(|| EsError::illegal_argument("analysis based on a specific field requires an index"))?;
        let mapping = ix.engine.mapping();
        if let Some((path, f)) = mapping.resolve_field(field) {
            if f.field_type.is_text() {
                let analyzer = ix.engine.index_analyzer(&mapping, &path);
                let name = f.analyzer().unwrap_or("default").to_string();
                let gap = f.effective_param("position_increment_gap").as_i64().unwrap_or(INDEX_POSITION_GAP);
                return Ok(named(analyzer, &name, is_custom_analyzer(index, &name), gap));
            }
            if f.field_type.is_keyword_like() {
                // tern indexes keyword values whole.
                return Ok(named(Analyzer::keyword(), "keyword", false, 0));
            }
            if !f.field_type.is_object() {
                return Err(EsError::illegal_argument(format!(
                    "Can't process field [{field}], Analysis requests are only supported on tokenized fields"
                )));
            }
        }
    }
    Ok(match index {
        Some(ix) => {
            let a = ix.engine.analyzers().get("default").unwrap_or_else(Analyzer::standard);
            named(a, "default", is_custom_analyzer(index, "default"), INDEX_POSITION_GAP)
        }
        None => named(Analyzer::standard(), "standard", false, 0),
    })
}

// -------------------------------------------------------------------------------------------------
// Running

#[derive(Debug, Clone, PartialEq)]
struct Token {
    text: String,
    start_offset: usize,
    end_offset: usize,
    position: i64,
    token_type: &'static str,
}

/// Analyzes every value like a multi-valued field: positions continue after the previous value's
/// last position plus `gap`, offsets after its length plus one.
fn analyze_values(analyzer: &Analyzer, values: &[(String, Vec<OffsetMap>, usize)], gap: i64) -> Vec<Token> {
    let tokenizer_only = Analyzer { tokenizer: analyzer.tokenizer, filters: vec![] };
    let mut out = Vec::new();
    let mut last_position: i64 = -1;
    let mut offset_base = 0usize;
    for (text, maps, original_len) in values {
        for t in analyzer.analyze(text) {
            out.push(Token {
                text: t.text,
                start_offset: offset_base + correct_all(maps, t.start_offset),
                end_offset: offset_base + correct_all(maps, t.end_offset),
                position: last_position + 1 + t.position as i64,
                token_type: t.token_type,
            });
        }
        // Filters only drop tokens, so the value spans as many positions as the tokenizer made.
        last_position += tokenizer_only.analyze(text).len() as i64 + gap;
        offset_base += original_len + 1;
    }
    out
}

fn check_token_count(n: usize, max: usize) -> Result<(), EsError> {
    if n > max {
        return Err(EsError::new(
            ErrorKind::IllegalState,
            format!(
                "The number of tokens produced by calling _analyze has exceeded the allowed maximum of [{max}]. This limit can be set by changing the [index.analyze.max_token_count] index level setting."
            ),
        ));
    }
    Ok(())
}

fn token_json(t: &Token, detail: Option<&[String]>) -> Value {
    let mut m = Map::new();
    m.insert("token".into(), t.text.clone().into());
    m.insert("start_offset".into(), t.start_offset.into());
    m.insert("end_offset".into(), t.end_offset.into());
    m.insert("type".into(), t.token_type.into());
    m.insert("position".into(), t.position.into());
    if let Some(wanted) = detail {
        let keep = |name: &str| wanted.is_empty() || wanted.iter().any(|w| w == name);
        if keep("bytes") {
            let hex: Vec<String> = t.text.bytes().map(|b| format!("{b:02x}")).collect();
            m.insert("bytes".into(), format!("[{}]", hex.join(" ")).into());
        }
        if keep("positionLength") {
            m.insert("positionLength".into(), 1.into());
        }
        if keep("termFrequency") {
            m.insert("termFrequency".into(), 1.into());
        }
    }
    Value::Object(m)
}

fn run(req: &AnalyzeRequest, chain: &Chain, max_tokens: usize) -> Result<Value, EsError> {
    // Char filters first, composing their offset corrections back onto the original text.
    let mut values: Vec<(String, Vec<OffsetMap>, usize)> =
        req.text.iter().map(|t| (t.clone(), Vec::new(), utf16_len(t))).collect();
    let mut filtered_texts: Vec<(String, Vec<String>)> = Vec::new();
    for (name, cf) in &chain.char_filters {
        for v in values.iter_mut() {
            let (text, map) = cf.apply(&v.0);
            v.1.push(map);
            v.0 = text;
        }
        filtered_texts.push((name.clone(), values.iter().map(|v| v.0.clone()).collect()));
    }
    if !req.explain {
        let tokens = analyze_values(&chain.analyzer, &values, chain.position_gap);
        check_token_count(tokens.len(), max_tokens)?;
        return Ok(json!({"tokens": tokens.iter().map(|t| token_json(t, None)).collect::<Vec<_>>()}));
    }
    let attrs = req.attributes.as_slice();
    let stage = |analyzer: &Analyzer| -> Result<Vec<Value>, EsError> {
        let tokens = analyze_values(analyzer, &values, chain.position_gap);
        check_token_count(tokens.len(), max_tokens)?;
        Ok(tokens.iter().map(|t| token_json(t, Some(attrs))).collect())
    };
    let mut detail = Map::new();
    detail.insert("custom_analyzer".into(), chain.custom.into());
    if !chain.custom {
        detail.insert("analyzer".into(), json!({"name": chain.analyzer_name, "tokens": stage(&chain.analyzer)?}));
    } else {
        let charfilters: Vec<Value> =
            filtered_texts.iter().map(|(name, texts)| json!({"name": name, "filtered_text": texts})).collect();
        detail.insert("charfilters".into(), Value::Array(charfilters));
        let tokenizer_only = Analyzer { tokenizer: chain.analyzer.tokenizer, filters: vec![] };
        detail.insert("tokenizer".into(), json!({"name": chain.tokenizer_name, "tokens": stage(&tokenizer_only)?}));
        let mut filters = Vec::new();
        for (i, name) in chain.filter_names.iter().enumerate() {
            let partial =
                Analyzer { tokenizer: chain.analyzer.tokenizer, filters: chain.analyzer.filters[..=i].to_vec() };
            filters.push(json!({"name": name, "tokens": stage(&partial)?}));
        }
        detail.insert("tokenfilters".into(), Value::Array(filters));
    }
    Ok(json!({ "detail": Value::Object(detail) }))
}

/// Resolves the index an `_analyze` names to one open index's shard and settings.
fn index_ctx(node: &Node, name: &str) -> Result<IndexCtx, EsError> {
    let meta = node.metadata();
    let concrete = if meta.has_index(name) {
        name.to_string()
    } else if meta.has_alias(name) {
        let indices = meta.alias_indices(name);
        if indices.len() != 1 {
            return Err(EsError::illegal_argument(format!(
                "alias [{name}] has more than one index associated with it [{}], can't execute a single index op",
                indices.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", ")
            )));
        }
        indices[0].name.clone()
    } else {
        return Err(EsError::index_not_found(name));
    };
    let im = meta.indices.get(&concrete).ok_or_else(|| EsError::index_not_found(name))?;
    let max_token_count = im
        .settings
        .get_str("index.analyze.max_token_count")
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_MAX_TOKEN_COUNT);
    let analysis = im.settings.analysis();
    let targets =
        node.search_targets(std::slice::from_ref(&concrete), &IndicesOptions::strict_expand_open_forbid_closed())?;
    let engine = targets
        .iter()
        .find_map(|t| t.local().map(|h| h.engine.clone()))
        .ok_or_else(|| EsError::new(ErrorKind::NoShardAvailable, format!("[{concrete}] no shard available")))?;
    Ok(IndexCtx { engine, analysis, max_token_count })
}

/// `GET|POST /_analyze`, `/{index}/_analyze`
pub async fn analyze(
    State(node): State<Arc<Node>>,
    index: Option<Path<String>>,
    ctx: Ctx,
    body: EsBody,
) -> ApiResult<Response> {
    ctx.params.check(&["index"])?;
    let index_name = index.map(|Path(i)| i).or_else(|| ctx.params.get("index").map(String::from));
    let req = parse_request(body.json()?).map_err(|e| ctx.error(e))?;
    validate(&req, index_name.is_some()).map_err(|e| ctx.error(e))?;
    let ix = match &index_name {
        Some(name) => Some(index_ctx(&node, name).map_err(|e| ctx.error(e))?),
        None => None,
    };
    let chain = resolve_chain(&req, ix.as_ref()).map_err(|e| ctx.error(e))?;
    let max = ix.as_ref().map(|i| i.max_token_count).unwrap_or(DEFAULT_MAX_TOKEN_COUNT);
    let out = run(&req, &chain, max).map_err(|e| ctx.error(e))?;
    ctx.ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(texts: &[&str]) -> Vec<(String, Vec<OffsetMap>, usize)> {
        texts.iter().map(|t| (t.to_string(), Vec::new(), utf16_len(t))).collect()
    }

    #[test]
    fn array_values_continue_positions_and_offsets() {
        let tokens = analyze_values(&Analyzer::standard(), &values(&["THIS IS A TEST", "THE SECOND TEXT"]), 100);
        assert_eq!(tokens.len(), 7);
        assert_eq!((tokens[3].text.as_str(), tokens[3].position, tokens[3].start_offset), ("test", 3, 10));
        let second = &tokens[5];
        assert_eq!(second.text, "second");
        assert_eq!(second.position, 105);
        assert_eq!((second.start_offset, second.end_offset), (19, 25));
        let no_gap = analyze_values(&Analyzer::standard(), &values(&["Foo Bar", "Baz"]), 0);
        assert_eq!(no_gap.iter().map(|t| t.position).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert_eq!((no_gap[2].start_offset, no_gap[2].end_offset), (8, 11));
    }

    #[test]
    fn stop_words_leave_position_holes() {
        let stop = Analyzer::builtin("stop").unwrap();
        let tokens = analyze_values(&stop, &values(&["the fox", "a cat"]), 0);
        let got: Vec<(&str, i64)> = tokens.iter().map(|t| (t.text.as_str(), t.position)).collect();
        assert_eq!(got, vec![("fox", 1), ("cat", 3)]);
    }

    #[test]
    fn validation_messages() {
        let e = validate(&AnalyzeRequest::default(), false).unwrap_err();
        assert_eq!(e.reason, "Validation Failed: 1: text is missing;");
        let req = AnalyzeRequest {
            text: vec!["x".into()],
            analyzer: Some("standard".into()),
            tokenizer: Some(json!("keyword")),
            ..Default::default()
        };
        assert!(
            validate(&req, false).unwrap_err().reason.contains("cannot define extra components on a named analyzer")
        );
    }

    #[test]
    fn unknown_global_analyzer() {
        let req = AnalyzeRequest { text: vec!["x".into()], analyzer: Some("nope".into()), ..Default::default() };
        let e = resolve_chain(&req, None).err().unwrap();
        assert_eq!(e.reason, "failed to find global analyzer [nope]");
    }

    #[test]
    fn html_strip_maps_offsets_back() {
        let (text, map) = html_strip("<p>I&apos;m so <b>happy</b>!</p>", &[]);
        assert_eq!(text, "\nI'm so happy!\n");
        let start = text.find("happy").unwrap();
        assert_eq!(map.correct(start), 18);
        // Like Lucene, an offset at a correction point maps past the stripped markup.
        assert_eq!(map.correct(start + 5), 27);
        assert_eq!(map.correct(start + 4), 22);
    }

    #[test]
    fn mapping_char_filter() {
        let rules = vec![parse_mapping_rule("ph => f").unwrap(), parse_mapping_rule("\\u0041 => a").unwrap()];
        let (text, map) = map_chars("phone A", &rules);
        assert_eq!(text, "fone a");
        assert_eq!(map.correct(1), 2);
        assert_eq!(map.correct(5), 6);
        assert!(parse_mapping_rule("nothing").is_err());
    }

    #[test]
    fn explain_shows_each_stage() {
        let req = AnalyzeRequest {
            text: vec!["foo bar buzz".into()],
            tokenizer: Some(json!("standard")),
            filters: vec![json!({"type": "stop", "stopwords": ["foo", "buzz"]})],
            explain: true,
            ..Default::default()
        };
        let chain = resolve_chain(&req, None).unwrap();
        let out = run(&req, &chain, 100).unwrap();
        assert_eq!(out["detail"]["tokenizer"]["name"], "standard");
        assert_eq!(out["detail"]["tokenizer"]["tokens"].as_array().unwrap().len(), 3);
        assert_eq!(out["detail"]["tokenfilters"][0]["tokens"][0]["token"], "bar");
        assert_eq!(out["detail"]["tokenfilters"][0]["tokens"][0]["bytes"], "[62 61 72]");
        let too_many = run(&req, &chain, 2).unwrap_err();
        assert!(too_many.reason.contains("allowed maximum of [2]"));
    }
}
