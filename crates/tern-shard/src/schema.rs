//! The fixed tantivy schema every shard uses.
//!
//! tantivy cannot add fields to an existing index, while ES mappings grow at any time. So the schema is
//! the same for every shard and never depends on the mapping:
//! - system fields (`_id`, `_source`, `_seq_no`, `_version`, `_primary_term`, `_routing`);
//! - `_field_names`: every field path a document holds, so `exists` works for every type;
//! - `_k`: one JSON field, raw (untokenized) and fast, for keyword, numeric, date, boolean and ip
//!   values, typed by the mapping before they reach tantivy (dates as epoch milliseconds);
//! - `_t0` .. `_t15`: text slots. Each ES `text` field is given its own slot the first time a document
//!   holds it, so BM25 sees per-field lengths as Lucene does; text is analyzed by tern and arrives
//!   pre-tokenized, so a slot is not bound to an analyzer. Text fields beyond the slots share `_tx`.

use tantivy::schema::{
    BytesOptions, Field, INDEXED, IndexRecordOption, JsonObjectOptions, NumericOptions, STORED, STRING, Schema,
    TextFieldIndexing, TextOptions,
};

pub const TEXT_SLOTS: usize = 16;

#[derive(Debug, Clone)]
pub struct Fields {
    pub id: Field,
    pub source: Field,
    pub seq_no: Field,
    pub version: Field,
    pub primary_term: Field,
    pub routing: Field,
    pub field_names: Field,
    pub kw: Field,
    pub text_slots: Vec<Field>,
    pub text_overflow: Field,
}

pub fn build_schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let id = b.add_text_field("_id", STRING | STORED | tantivy::schema::FAST);
    let source = b.add_bytes_field("_source", BytesOptions::default().set_stored());
    let num = NumericOptions::default().set_fast().set_stored();
    let seq_no = b.add_i64_field("_seq_no", num.clone() | INDEXED);
    let version = b.add_i64_field("_version", num.clone());
    let primary_term = b.add_i64_field("_primary_term", num);
    let routing = b.add_text_field("_routing", STRING | STORED);
    let names_indexing = TextFieldIndexing::default()
        .set_tokenizer("raw")
        .set_fieldnorms(false)
        .set_index_option(IndexRecordOption::Basic);
    let field_names = b.add_text_field("_field_names", TextOptions::default().set_indexing_options(names_indexing));
    let kw_indexing = TextFieldIndexing::default()
        .set_tokenizer("raw")
        .set_fieldnorms(false)
        .set_index_option(IndexRecordOption::WithFreqs);
    let kw = b.add_json_field(
        "_k",
        JsonObjectOptions::default().set_indexing_options(kw_indexing).set_fast("raw").set_expand_dots_enabled(),
    );
    let text_indexing =
        TextFieldIndexing::default().set_tokenizer("raw").set_index_option(IndexRecordOption::WithFreqsAndPositions);
    let text_slots = (0..TEXT_SLOTS)
        .map(|i| {
            b.add_text_field(&format!("_t{i}"), TextOptions::default().set_indexing_options(text_indexing.clone()))
        })
        .collect();
    let overflow_indexing = TextFieldIndexing::default()
        .set_tokenizer("default")
        .set_index_option(IndexRecordOption::WithFreqsAndPositions);
    let text_overflow = b.add_json_field(
        "_tx",
        JsonObjectOptions::default().set_indexing_options(overflow_indexing).set_expand_dots_enabled(),
    );
    let fields =
        Fields { id, source, seq_no, version, primary_term, routing, field_names, kw, text_slots, text_overflow };
    (b.build(), fields)
}

/// Where a text field's tokens live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextTarget {
    Slot(Field),
    Overflow,
}
