//! The embedded-tantivy baseline: the same documents in a plain tantivy index with a typed schema
//! derived from the corpus mapping, and a hand translator from the ES query bodies `gen.py` emits
//! into tantivy queries.
//!
//! Schema (what a careful tantivy user would write for these mappings):
//! - `_id`: raw string, indexed and stored; `_source`: the original JSON bytes, stored;
//! - `text` → tokenized (see below), frequencies and positions, not stored;
//! - `keyword` → raw string, indexed and fast; `long`/`double`/`boolean` → indexed and fast;
//!   `date` → indexed and fast with millisecond precision.
//!
//! - text analysis: by default (`--baseline-tokenizer standard`) a tokenizer with the semantics of
//!   ES's `standard` analyzer, which tern implements: UAX #29 word boundaries from the same
//!   `unicode-segmentation` crate tern uses, segments with a letter or digit kept, lower-cased. So
//!   both sides index the same terms and every hit count must match. `--baseline-tokenizer default`
//!   uses tantivy's `default` tokenizer (alphanumeric runs) instead: cheaper, but `team_hm_header.gif`
//!   then yields `team`, `hm`, `header`, `gif` where ES and tern keep one token, so some
//!   `request`/`message` counts differ for that reason alone.
//!
//! tern's schema differs on purpose (one JSON field for all non-text values, pre-tokenized text
//! slots, system fields `_seq_no`/`_version`/`_primary_term`/`_field_names`): the gap between the two
//! is part of what the benchmark measures.

use std::ops::Bound;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, anyhow, bail};
use serde_json::{Map, Value};
use tantivy::aggregation::agg_req::Aggregations;
use tantivy::aggregation::{AggContextParams, AggregationCollector};
use tantivy::collector::{Count, TopDocs};
use tantivy::directory::MmapDirectory;
use tantivy::indexer::IndexWriterOptions;
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, DisjunctionMaxQuery, EmptyQuery, ExistsQuery, Occur,
    PhraseQuery, Query, RangeQuery, RegexQuery, TermQuery, TermSetQuery,
};
use tantivy::schema::{
    BytesOptions, DateOptions, DateTimePrecision, FAST, Field, INDEXED, IndexRecordOption, NumericOptions, STORED,
    STRING, Schema, TextFieldIndexing, TextOptions, Value as _,
};
use tantivy::tokenizer::{LowerCaser, TextAnalyzer, Token, TokenStream, Tokenizer};
use tantivy::{DateTime, DocAddress, Index, IndexReader, Order, ReloadPolicy, Searcher, TantivyDocument, Term};
use unicode_segmentation::UnicodeSegmentation;

/// How the baseline analyzes `text` fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TextTokenizer {
    /// ES `standard` semantics (UAX #29 words, lower-cased), as tern indexes text.
    Standard,
    /// tantivy's `default` tokenizer (alphanumeric runs, lower-cased).
    Default,
}

/// UAX #29 word segments that contain a letter or a digit: what Lucene's `StandardTokenizer` (and
/// tern's `standard` analyzer) emit for this corpus.
#[derive(Clone, Default)]
struct UaxWordTokenizer {
    token: Token,
}

struct UaxWordStream<'a> {
    words: unicode_segmentation::UWordBoundIndices<'a>,
    token: &'a mut Token,
}

impl Tokenizer for UaxWordTokenizer {
    type TokenStream<'a> = UaxWordStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> UaxWordStream<'a> {
        self.token.reset();
        UaxWordStream { words: text.split_word_bound_indices(), token: &mut self.token }
    }
}

impl TokenStream for UaxWordStream<'_> {
    fn advance(&mut self) -> bool {
        for (start, word) in self.words.by_ref() {
            if word.chars().any(char::is_alphanumeric) {
                self.token.text.clear();
                self.token.text.push_str(word);
                self.token.offset_from = start;
                self.token.offset_to = start + word.len();
                self.token.position = self.token.position.wrapping_add(1);
                return true;
            }
        }
        false
    }

    fn token(&self) -> &Token {
        self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        self.token
    }
}

const ES_STANDARD: &str = "es_standard";

/// Field types of the corpus mappings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Keyword,
    Long,
    Double,
    Date,
    Bool,
}

pub struct Baseline {
    pub index: Index,
    id: Field,
    source: Field,
    fields: Vec<(String, Field, Kind)>,
}

/// Timings of one baseline ingest.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BaselineIngest {
    pub docs: usize,
    /// Parse + `add_document` for every doc, then `commit` (the figure docs/s is computed from).
    pub secs: f64,
    pub add_secs: f64,
    pub commit_secs: f64,
    /// Time to let merges started by the commit finish (not included in `secs`).
    pub merge_tail_secs: f64,
    pub segments: usize,
    /// This process's CPU seconds from the first document to the end of the commit.
    pub cpu_secs: f64,
    /// Average CPU cores used by other processes of the machine meanwhile (noise indicator).
    pub foreign_cores: f64,
    /// The same by thread group, when a sampler was given.
    pub threads_cpu: std::collections::BTreeMap<String, f64>,
}

/// A translated `_search` body.
pub struct Translated {
    pub query: Box<dyn Query>,
    pub size: usize,
    pub sort: Option<(String, Kind, Order)>,
    pub aggs: Option<(Aggregations, AggContextParams)>,
}

/// What one execution produced (kept so the work cannot be optimized away).
#[derive(Debug, Clone, Copy)]
pub struct Executed {
    pub count: usize,
    pub fetched: usize,
}

fn parse_date_millis(v: &Value) -> anyhow::Result<i64> {
    match v {
        Value::Number(n) => n.as_i64().ok_or_else(|| anyhow!("bad epoch millis {n}")),
        Value::String(s) if s.len() == 10 => {
            let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")?;
            Ok(d.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp_millis())
        }
        Value::String(s) => Ok(chrono::DateTime::parse_from_rfc3339(s)?.timestamp_millis()),
        other => bail!("not a date: {other}"),
    }
}

/// Escapes regex meta characters for tantivy's (regex-syntax) patterns.
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn wildcard_to_regex(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            c => out.push_str(&regex_escape(&c.to_string())),
        }
    }
    out
}

/// `{"field": value}` or `{"field": {key: value, ...}}`: the field name and the inner value.
fn single_field(v: &Value) -> anyhow::Result<(&str, &Value)> {
    let obj = v.as_object().ok_or_else(|| anyhow!("expected an object, got {v}"))?;
    let mut it = obj.iter().filter(|(k, _)| !matches!(String::as_str(k), "boost" | "_name"));
    let (k, inner) = it.next().ok_or_else(|| anyhow!("no field in {v}"))?;
    Ok((k.as_str(), inner))
}

/// The value of `{"field": value}` or `{"field": {"<key>": value}}`.
fn inner_value<'a>(inner: &'a Value, key: &str) -> &'a Value {
    match inner {
        Value::Object(o) => o.get(key).unwrap_or(inner),
        _ => inner,
    }
}

fn clauses(v: Option<&Value>) -> Vec<&Value> {
    match v {
        None => vec![],
        Some(Value::Array(a)) => a.iter().collect(),
        Some(one) => vec![one],
    }
}

impl Baseline {
    /// Creates an empty index in `dir` with the schema derived from `mappings`.
    pub fn create(dir: &Path, mappings: &Value, tokenizer: TextTokenizer) -> anyhow::Result<Baseline> {
        let mut b = Schema::builder();
        let text_opts = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(match tokenizer {
                    TextTokenizer::Standard => ES_STANDARD,
                    TextTokenizer::Default => "default",
                })
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        );
        let id = b.add_text_field("_id", STRING | STORED);
        let source = b.add_bytes_field("_source", BytesOptions::default().set_stored());
        let props = mappings.get("properties").and_then(Value::as_object).context("mapping has no properties")?;
        let mut fields = Vec::new();
        for (name, def) in props {
            let ty = def.get("type").and_then(Value::as_str).unwrap_or("object");
            let num = NumericOptions::default().set_indexed().set_fast();
            let (field, kind) = match ty {
                "text" => (b.add_text_field(name, text_opts.clone()), Kind::Text),
                "keyword" => (b.add_text_field(name, STRING | FAST), Kind::Keyword),
                "long" | "integer" | "short" | "byte" => (b.add_i64_field(name, num), Kind::Long),
                "double" | "float" => (b.add_f64_field(name, num), Kind::Double),
                "boolean" => (b.add_bool_field(name, INDEXED | FAST), Kind::Bool),
                "date" => {
                    let opts =
                        DateOptions::default().set_indexed().set_fast().set_precision(DateTimePrecision::Milliseconds);
                    (b.add_date_field(name, opts), Kind::Date)
                }
                other => bail!("baseline: unsupported mapping type [{other}] for [{name}]"),
            };
            fields.push((name.clone(), field, kind));
        }
        std::fs::create_dir_all(dir)?;
        let index = Index::create(MmapDirectory::open(dir)?, b.build(), Default::default())?;
        index
            .tokenizers()
            .register(ES_STANDARD, TextAnalyzer::builder(UaxWordTokenizer::default()).filter(LowerCaser).build());
        Ok(Baseline { index, id, source, fields })
    }

    fn field(&self, name: &str) -> anyhow::Result<(Field, Kind)> {
        self.fields
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, f, k)| (*f, *k))
            .ok_or_else(|| anyhow!("unknown field [{name}]"))
    }

    fn add_value(&self, doc: &mut TantivyDocument, field: Field, kind: Kind, v: &Value) -> anyhow::Result<()> {
        match (kind, v) {
            (_, Value::Null) => {}
            (_, Value::Array(items)) => {
                for item in items {
                    self.add_value(doc, field, kind, item)?;
                }
            }
            (Kind::Text | Kind::Keyword, Value::String(s)) => doc.add_text(field, s),
            (Kind::Long, v) => doc.add_i64(field, v.as_i64().ok_or_else(|| anyhow!("not a long: {v}"))?),
            (Kind::Double, v) => doc.add_f64(field, v.as_f64().ok_or_else(|| anyhow!("not a double: {v}"))?),
            (Kind::Bool, v) => doc.add_bool(field, v.as_bool().ok_or_else(|| anyhow!("not a boolean: {v}"))?),
            (Kind::Date, v) => doc.add_date(field, DateTime::from_timestamp_millis(parse_date_millis(v)?)),
            (_, other) => bail!("cannot index {other} as {kind:?}"),
        }
        Ok(())
    }

    /// Parses a source and builds the tantivy document (the per-document work of an indexer).
    fn to_doc(&self, id: usize, src: &[u8]) -> anyhow::Result<TantivyDocument> {
        let parsed: Map<String, Value> = serde_json::from_slice(src)?;
        let mut doc = TantivyDocument::new();
        doc.add_text(self.id, id.to_string());
        doc.add_bytes(self.source, src);
        for (name, field, kind) in &self.fields {
            if let Some(v) = parsed.get(name) {
                self.add_value(&mut doc, *field, *kind, v)?;
            }
        }
        Ok(doc)
    }

    /// Indexes `docs` with one indexing thread and `memory_budget` bytes, commits once at the end.
    pub fn ingest(
        &self,
        docs: &[Vec<u8>],
        memory_budget: usize,
        sampler: Option<crate::process::ThreadSampler>,
    ) -> anyhow::Result<BaselineIngest> {
        let me = std::process::id();
        let opts = IndexWriterOptions::builder()
            .memory_budget_per_thread(memory_budget)
            .num_worker_threads(1)
            .num_merge_threads(1)
            .build();
        let mut writer = self.index.writer_with_options::<TantivyDocument>(opts)?;
        let started = Instant::now();
        let cpu0 = crate::process::process_cpu_secs(me);
        let machine0 = crate::process::machine_busy_secs();
        for (i, src) in docs.iter().enumerate() {
            writer.add_document(self.to_doc(i, src).with_context(|| format!("document {i}"))?)?;
        }
        let added = Instant::now();
        writer.commit()?;
        let committed = Instant::now();
        let cpu_secs = crate::process::process_cpu_secs(me) - cpu0;
        let foreign = crate::process::machine_busy_secs() - machine0 - cpu_secs;
        let threads_cpu = sampler.map(|s| s.finish()).unwrap_or_default();
        writer.wait_merging_threads()?;
        let merged = Instant::now();
        let segments = self.index.searchable_segment_ids()?.len();
        Ok(BaselineIngest {
            docs: docs.len(),
            secs: (committed - started).as_secs_f64(),
            add_secs: (added - started).as_secs_f64(),
            commit_secs: (committed - added).as_secs_f64(),
            merge_tail_secs: (merged - committed).as_secs_f64(),
            segments,
            cpu_secs,
            threads_cpu,
            foreign_cores: (foreign / (committed - started).as_secs_f64()).max(0.0),
        })
    }

    pub fn reader(&self) -> anyhow::Result<IndexReader> {
        Ok(self.index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?)
    }

    fn text_terms(&self, field: Field, text: &str) -> anyhow::Result<Vec<Term>> {
        let mut analyzer = self.index.tokenizer_for_field(field)?;
        let mut stream = analyzer.token_stream(text);
        let mut terms = Vec::new();
        while stream.advance() {
            terms.push(Term::from_field_text(field, &stream.token().text));
        }
        Ok(terms)
    }

    fn value_term(&self, field: Field, kind: Kind, v: &Value) -> anyhow::Result<Term> {
        Ok(match kind {
            Kind::Text | Kind::Keyword => match v {
                Value::String(s) => Term::from_field_text(field, s),
                other => Term::from_field_text(field, &other.to_string()),
            },
            Kind::Long => Term::from_field_i64(
                field,
                v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok())).ok_or_else(|| anyhow!("not a long"))?,
            ),
            Kind::Double => Term::from_field_f64(
                field,
                v.as_f64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                    .ok_or_else(|| anyhow!("not a double"))?,
            ),
            Kind::Bool => Term::from_field_bool(
                field,
                v.as_bool().or_else(|| v.as_str().and_then(|s| s.parse().ok())).ok_or_else(|| anyhow!("not a bool"))?,
            ),
            Kind::Date => Term::from_field_date(field, DateTime::from_timestamp_millis(parse_date_millis(v)?)),
        })
    }

    /// ES `match` on one field: analyzed terms combined with `operator`.
    fn match_query(&self, name: &str, text: &Value, and: bool) -> anyhow::Result<Box<dyn Query>> {
        let (field, kind) = self.field(name)?;
        if kind != Kind::Text {
            return Ok(Box::new(TermQuery::new(self.value_term(field, kind, text)?, IndexRecordOption::Basic)));
        }
        let text = text.as_str().ok_or_else(|| anyhow!("match text must be a string"))?;
        let mut terms = self.text_terms(field, text)?;
        Ok(match terms.len() {
            0 => Box::new(EmptyQuery),
            1 => Box::new(TermQuery::new(terms.remove(0), IndexRecordOption::WithFreqs)),
            _ => {
                let occur = if and { Occur::Must } else { Occur::Should };
                Box::new(BooleanQuery::new(
                    terms
                        .into_iter()
                        .map(|t| (occur, Box::new(TermQuery::new(t, IndexRecordOption::WithFreqs)) as Box<dyn Query>))
                        .collect(),
                ))
            }
        })
    }

    /// Translates an ES query object.
    pub fn query(&self, q: &Value) -> anyhow::Result<Box<dyn Query>> {
        let (kind, body) = single_field(q)?;
        Ok(match kind {
            "match_all" => Box::new(AllQuery),
            "match" => {
                let (name, inner) = single_field(body)?;
                let and = inner.get("operator").and_then(Value::as_str).is_some_and(|o| o.eq_ignore_ascii_case("and"));
                self.match_query(name, inner_value(inner, "query"), and)?
            }
            "match_phrase" => {
                let (name, inner) = single_field(body)?;
                let (field, _) = self.field(name)?;
                let text = inner_value(inner, "query").as_str().ok_or_else(|| anyhow!("phrase must be a string"))?;
                let mut terms = self.text_terms(field, text)?;
                match terms.len() {
                    0 => Box::new(EmptyQuery),
                    1 => Box::new(TermQuery::new(terms.remove(0), IndexRecordOption::WithFreqs)),
                    _ => Box::new(PhraseQuery::new(terms)),
                }
            }
            "multi_match" => {
                let text = body.get("query").ok_or_else(|| anyhow!("multi_match without query"))?;
                let and = body.get("operator").and_then(Value::as_str).is_some_and(|o| o.eq_ignore_ascii_case("and"));
                if let Some(t) = body.get("type").and_then(Value::as_str)
                    && t != "best_fields"
                {
                    bail!("multi_match type [{t}] not translated");
                }
                let mut disjuncts: Vec<Box<dyn Query>> = Vec::new();
                for f in body.get("fields").and_then(Value::as_array).context("multi_match without fields")? {
                    let spec = f.as_str().context("field must be a string")?;
                    let (name, boost) = match spec.split_once('^') {
                        Some((n, b)) => (n, b.parse::<f32>()?),
                        None => (spec, 1.0),
                    };
                    let q = self.match_query(name, text, and)?;
                    disjuncts.push(if boost == 1.0 { q } else { Box::new(BoostQuery::new(q, boost)) });
                }
                Box::new(DisjunctionMaxQuery::new(disjuncts))
            }
            "term" => {
                let (name, inner) = single_field(body)?;
                let (field, kind) = self.field(name)?;
                let record = if kind == Kind::Text { IndexRecordOption::WithFreqs } else { IndexRecordOption::Basic };
                Box::new(TermQuery::new(self.value_term(field, kind, inner_value(inner, "value"))?, record))
            }
            "terms" => {
                let (name, inner) = single_field(body)?;
                let (field, kind) = self.field(name)?;
                let values = inner.as_array().ok_or_else(|| anyhow!("terms values must be an array"))?;
                let terms =
                    values.iter().map(|v| self.value_term(field, kind, v)).collect::<anyhow::Result<Vec<_>>>()?;
                Box::new(TermSetQuery::new(terms))
            }
            "range" => {
                let (name, inner) = single_field(body)?;
                let (field, kind) = self.field(name)?;
                let bound = |inc: &str, exc: &str| -> anyhow::Result<Bound<Term>> {
                    Ok(if let Some(v) = inner.get(inc) {
                        Bound::Included(self.value_term(field, kind, v)?)
                    } else if let Some(v) = inner.get(exc) {
                        Bound::Excluded(self.value_term(field, kind, v)?)
                    } else {
                        Bound::Unbounded
                    })
                };
                Box::new(RangeQuery::new(bound("gte", "gt")?, bound("lte", "lt")?))
            }
            "exists" => {
                let name = body.get("field").and_then(Value::as_str).context("exists without field")?;
                let (_, kind) = self.field(name)?;
                if kind == Kind::Text {
                    bail!("exists on a text field is not translated (no fast field)");
                }
                Box::new(ExistsQuery::new(name.to_string(), false))
            }
            "prefix" | "wildcard" => {
                let (name, inner) = single_field(body)?;
                let (field, _) = self.field(name)?;
                let v = inner_value(inner, "value").as_str().context("pattern must be a string")?;
                let pattern = if kind == "prefix" { format!("{}.*", regex_escape(v)) } else { wildcard_to_regex(v) };
                Box::new(RegexQuery::from_pattern(&pattern, field)?)
            }
            "bool" => {
                let mut subs: Vec<(Occur, Box<dyn Query>)> = Vec::new();
                let must = clauses(body.get("must"));
                let filter = clauses(body.get("filter"));
                let should = clauses(body.get("should"));
                let must_not = clauses(body.get("must_not"));
                for c in &must {
                    subs.push((Occur::Must, self.query(c)?));
                }
                for c in &filter {
                    subs.push((Occur::Must, Box::new(ConstScoreQuery::new(self.query(c)?, 0.0))));
                }
                for c in &should {
                    subs.push((Occur::Should, self.query(c)?));
                }
                for c in &must_not {
                    subs.push((Occur::MustNot, self.query(c)?));
                }
                if must.is_empty() && filter.is_empty() && should.is_empty() {
                    subs.push((Occur::Must, Box::new(AllQuery)));
                }
                let msm = match body.get("minimum_should_match") {
                    Some(Value::Number(n)) => n.as_u64().context("bad minimum_should_match")? as usize,
                    Some(Value::String(s)) => s.parse().context("only integer minimum_should_match is translated")?,
                    Some(other) => bail!("bad minimum_should_match {other}"),
                    None if !should.is_empty() && must.is_empty() && filter.is_empty() => 1,
                    None => 0,
                };
                Box::new(BooleanQuery::with_minimum_required_clauses(subs, msm))
            }
            other => bail!("query [{other}] is not translated"),
        })
    }

    /// Translates a whole `_search` body (query, size, first sort key, aggs).
    pub fn translate(&self, body: &Value) -> anyhow::Result<Translated> {
        let query = match body.get("query") {
            Some(q) => self.query(q)?,
            None => Box::new(AllQuery),
        };
        let size = body.get("size").and_then(Value::as_u64).unwrap_or(10) as usize;
        let sort = match body.get("sort").and_then(Value::as_array).and_then(|a| a.first()) {
            None => None,
            Some(Value::String(name)) => Some((name.clone(), "asc".to_string())),
            Some(Value::Object(o)) => {
                let (name, spec) = o.iter().next().context("empty sort")?;
                let order = match spec {
                    Value::String(s) => s.clone(),
                    other => other.get("order").and_then(Value::as_str).unwrap_or("asc").to_string(),
                };
                Some((name.clone(), order))
            }
            Some(other) => bail!("sort {other} not translated"),
        };
        let sort = match sort {
            None => None,
            Some((name, _)) if name == "_score" => None,
            Some((name, order)) => {
                let (_, kind) = self.field(&name)?;
                let order = if order == "desc" { Order::Desc } else { Order::Asc };
                Some((name, kind, order))
            }
        };
        let aggs = match body.get("aggs").or_else(|| body.get("aggregations")) {
            None => None,
            Some(a) => Some((serde_json::from_value::<Aggregations>(a.clone())?, AggContextParams::default())),
        };
        Ok(Translated { query, size, sort, aggs })
    }

    /// The aggregation results of a translated search as JSON (ES response shape), for comparing
    /// with tern's `aggregations`.
    pub fn aggs_json(&self, searcher: &Searcher, t: &Translated) -> anyhow::Result<Option<Value>> {
        let Some((aggs, ctx)) = &t.aggs else {
            return Ok(None);
        };
        let res = searcher.search(&*t.query, &AggregationCollector::from_aggs(aggs.clone(), ctx.clone()))?;
        Ok(Some(serde_json::to_value(&res)?))
    }

    fn sorted_top(&self, searcher: &Searcher, t: &Translated) -> anyhow::Result<(Vec<DocAddress>, usize)> {
        let q = &*t.query;
        let top = TopDocs::with_limit(t.size);
        fn addrs<K>(v: Vec<(K, DocAddress)>) -> Vec<DocAddress> {
            v.into_iter().map(|(_, a)| a).collect()
        }
        Ok(match &t.sort {
            None => {
                let (hits, count) = searcher.search(q, &(top.order_by_score(), Count))?;
                (addrs(hits), count)
            }
            Some((name, kind, order)) => {
                let order = *order;
                match kind {
                    Kind::Long => {
                        let (hits, count) =
                            searcher.search(q, &(top.order_by_fast_field::<i64>(name, order), Count))?;
                        (addrs(hits), count)
                    }
                    Kind::Double => {
                        let (hits, count) =
                            searcher.search(q, &(top.order_by_fast_field::<f64>(name, order), Count))?;
                        (addrs(hits), count)
                    }
                    Kind::Date => {
                        let (hits, count) =
                            searcher.search(q, &(top.order_by_fast_field::<DateTime>(name, order), Count))?;
                        (addrs(hits), count)
                    }
                    Kind::Keyword => {
                        let (hits, count) =
                            searcher.search(q, &(top.order_by_string_fast_field(name, order), Count))?;
                        (addrs(hits), count)
                    }
                    other => bail!("sort on {other:?} not translated"),
                }
            }
        })
    }

    /// Runs a translated search the way tern answers it: total count, top hits with their stored
    /// `_id`/`_source`, aggregations.
    pub fn execute(&self, searcher: &Searcher, t: &Translated) -> anyhow::Result<Executed> {
        let (addrs, count) = match (&t.aggs, t.size) {
            (Some((aggs, ctx)), 0) => {
                let collector = AggregationCollector::from_aggs(aggs.clone(), ctx.clone());
                let (count, res) = searcher.search(&*t.query, &(Count, collector))?;
                std::hint::black_box(res);
                (vec![], count)
            }
            (Some((aggs, ctx)), n) if t.sort.is_none() => {
                let collector = AggregationCollector::from_aggs(aggs.clone(), ctx.clone());
                let (hits, count, res) =
                    searcher.search(&*t.query, &(TopDocs::with_limit(n).order_by_score(), Count, collector))?;
                std::hint::black_box(res);
                (hits.into_iter().map(|(_, a)| a).collect(), count)
            }
            (Some(_), _) => bail!("aggregations with a sort are not translated"),
            (None, 0) => (vec![], searcher.search(&*t.query, &Count)?),
            (None, _) => self.sorted_top(searcher, t)?,
        };
        let mut source_bytes = 0;
        for a in &addrs {
            let doc: TantivyDocument = searcher.doc(*a)?;
            source_bytes += doc.get_first(self.source).and_then(|v| v.as_bytes()).map(<[u8]>::len).unwrap_or(0);
            std::hint::black_box(doc.get_first(self.id).and_then(|v| v.as_str()).map(str::len));
        }
        std::hint::black_box(source_bytes);
        Ok(Executed { count, fetched: addrs.len() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn translates_and_counts_the_query_shapes() {
        let dir = tempfile::tempdir().unwrap();
        let mapping = json!({"properties": {
            "t": {"type": "text"}, "k": {"type": "keyword"}, "n": {"type": "long"},
            "d": {"type": "date"}, "p": {"type": "double"}, "b": {"type": "boolean"}
        }});
        let b = Baseline::create(dir.path(), &mapping, TextTokenizer::Default).unwrap();
        let docs: Vec<Vec<u8>> = [
            json!({"t": "GET /english/images/team_hm_header.gif", "k": "200.1.1.1", "n": 200, "d": "1998-06-01T00:00:01.000Z", "p": 1.5, "b": true}),
            json!({"t": "english news", "k": "10.0.0.1", "n": 404, "d": "2020-01-05", "b": false}),
            json!({"t": "french news", "k": ["a", "b"], "n": 304}),
        ]
        .iter()
        .map(|d| serde_json::to_vec(d).unwrap())
        .collect();
        b.ingest(&docs, 15 << 20, None).unwrap();
        let reader = b.reader().unwrap();
        let s = reader.searcher();
        let count = |body: Value| b.execute(&s, &b.translate(&body).unwrap()).unwrap().count;
        assert_eq!(count(json!({"query": {"match": {"t": "english"}}})), 2);
        assert_eq!(count(json!({"query": {"match": {"t": {"query": "english news", "operator": "and"}}}})), 1);
        assert_eq!(count(json!({"query": {"match_phrase": {"t": "english images"}}})), 1);
        assert_eq!(count(json!({"query": {"multi_match": {"query": "french header", "fields": ["t^2", "k"]}}})), 2);
        assert_eq!(count(json!({"query": {"term": {"n": 404}}})), 1);
        assert_eq!(count(json!({"query": {"terms": {"n": [404, 304]}}})), 2);
        assert_eq!(count(json!({"query": {"term": {"b": false}}})), 1);
        assert_eq!(count(json!({"query": {"range": {"n": {"gte": 300, "lt": 404}}}})), 1);
        assert_eq!(count(json!({"query": {"range": {"d": {"gte": "2020-01-01", "lte": "2020-12-31"}}}})), 1);
        assert_eq!(count(json!({"query": {"range": {"p": {"gte": 1, "lte": 2}}}})), 1);
        assert_eq!(count(json!({"query": {"exists": {"field": "p"}}})), 1);
        assert_eq!(count(json!({"query": {"bool": {"must_not": [{"exists": {"field": "d"}}]}}})), 1);
        assert_eq!(count(json!({"query": {"prefix": {"k": "200."}}})), 1);
        assert_eq!(count(json!({"query": {"wildcard": {"t": {"value": "hea*er"}}}})), 1);
        assert_eq!(
            count(
                json!({"query": {"bool": {"should": [{"match": {"t": "news"}}, {"term": {"k": "a"}}], "minimum_should_match": 2}}})
            ),
            1
        );
        assert_eq!(
            count(json!({"query": {"bool": {"must": [{"match": {"t": "news"}}], "filter": [{"term": {"n": 404}}]}}})),
            1
        );
        let sorted = b.translate(&json!({"query": {"match_all": {}}, "sort": [{"n": {"order": "desc"}}]})).unwrap();
        let e = b.execute(&s, &sorted).unwrap();
        assert_eq!((e.count, e.fetched), (3, 3));
        let aggs = json!({"size": 0, "aggs": {"s": {"terms": {"field": "n", "size": 10}}}});
        assert_eq!(count(aggs), 3);
    }

    #[test]
    fn standard_tokenizer_keeps_file_names_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mapping = json!({"properties": {"t": {"type": "text"}}});
        let b = Baseline::create(dir.path(), &mapping, TextTokenizer::Standard).unwrap();
        let (field, _) = b.field("t").unwrap();
        let terms: Vec<String> = b
            .text_terms(field, "GET /english/images/Team_hm_header.gif HTTP/1.0 [01/Jun/1998:00:08:20 +0000] 4443")
            .unwrap()
            .iter()
            .map(|t| t.value().as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            terms,
            [
                "get",
                "english",
                "images",
                "team_hm_header.gif",
                "http",
                "1.0",
                "01",
                "jun",
                "1998",
                "00",
                "08",
                "20",
                "0000",
                "4443"
            ]
        );
    }
}
