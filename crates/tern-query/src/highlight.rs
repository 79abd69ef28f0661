//! The `highlight` section of a search request (ES's `HighlightBuilder`).
//!
//! The section is parsed the way ES's `ObjectParser` reads it, so that clients see ES's
//! `x_content_parse_exception` / `parsing_exception` texts for unknown keys and bad values. Options
//! can be given once for all fields and again per field; [`Highlight::field_options`] merges a
//! field's options over the global ones and ES's defaults. Everything that needs the mapping (which
//! fields a pattern stands for, their analyzers) is left to the shard, which does the highlighting.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ast::QueryAst;
use crate::dsl::{Ctx, parse_inner};
use crate::error::{QueryError, QueryResult};
use crate::xcontent::{Accepts, ObjectParser, bool_value, int_value, string_array, text};

/// `<em>` / `</em>`: the tags ES uses when none are given.
pub const DEFAULT_PRE_TAG: &str = "<em>";
pub const DEFAULT_POST_TAG: &str = "</em>";

/// The pre tags of `tags_schema: styled` (the post tag stays `</em>`).
pub const STYLED_PRE_TAGS: [&str; 10] = [
    "<em class=\"hlt1\">",
    "<em class=\"hlt2\">",
    "<em class=\"hlt3\">",
    "<em class=\"hlt4\">",
    "<em class=\"hlt5\">",
    "<em class=\"hlt6\">",
    "<em class=\"hlt7\">",
    "<em class=\"hlt8\">",
    "<em class=\"hlt9\">",
    "<em class=\"hlt10\">",
];

/// ES's defaults (`HighlightBuilder`).
pub const DEFAULT_FRAGMENT_SIZE: i32 = 100;
pub const DEFAULT_NUMBER_OF_FRAGMENTS: i32 = 5;
pub const DEFAULT_BOUNDARY_MAX_SCAN: i32 = 20;
pub const DEFAULT_BOUNDARY_CHARS: &str = ".,!? \t\n";
pub const DEFAULT_PHRASE_LIMIT: i32 = 256;

/// `boundary_scanner`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BoundaryScanner {
    Chars,
    Word,
    Sentence,
}

impl BoundaryScanner {
    pub fn es_name(self) -> &'static str {
        match self {
            BoundaryScanner::Chars => "chars",
            BoundaryScanner::Word => "word",
            BoundaryScanner::Sentence => "sentence",
        }
    }
}

/// Options settable both on the `highlight` object and on each field; `None` = not given.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HighlightOptions {
    pub pre_tags: Option<Vec<String>>,
    pub post_tags: Option<Vec<String>>,
    /// `order: score` (any other value means document order).
    pub score_ordered: Option<bool>,
    pub highlight_filter: Option<bool>,
    pub fragment_size: Option<i32>,
    pub number_of_fragments: Option<i32>,
    pub require_field_match: Option<bool>,
    pub boundary_scanner: Option<BoundaryScanner>,
    pub boundary_max_scan: Option<i32>,
    pub boundary_chars: Option<String>,
    pub boundary_scanner_locale: Option<String>,
    /// `type`: `unified`, `plain`, `fvh` (checked when highlighting, as ES does).
    pub highlighter_type: Option<String>,
    pub fragmenter: Option<String>,
    pub no_match_size: Option<i32>,
    pub force_source: Option<bool>,
    pub phrase_limit: Option<i32>,
    pub max_analyzed_offset: Option<i32>,
    pub options: Option<Map<String, Value>>,
    pub highlight_query: Option<QueryAst>,
}

/// One entry of `fields`: a field name or pattern (`title`, `*`, `user.*`) with its options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HighlightField {
    pub name: String,
    pub options: HighlightOptions,
    pub fragment_offset: Option<i32>,
    pub matched_fields: Option<Vec<String>>,
}

/// A parsed `highlight` section.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Highlight {
    pub options: HighlightOptions,
    /// `html` escapes the text around the tags; anything else leaves it as is.
    pub encoder: Option<String>,
    pub fields: Vec<HighlightField>,
}

/// A field's options after merging field, global and default values.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldOptions {
    pub pre_tags: Vec<String>,
    pub post_tags: Vec<String>,
    pub score_ordered: bool,
    pub highlight_filter: bool,
    pub fragment_size: i32,
    pub number_of_fragments: i32,
    pub require_field_match: bool,
    pub boundary_scanner: Option<BoundaryScanner>,
    pub boundary_max_scan: i32,
    pub boundary_chars: Vec<char>,
    pub boundary_scanner_locale: Option<String>,
    pub highlighter_type: Option<String>,
    pub fragmenter: Option<String>,
    pub no_match_size: i32,
    pub phrase_limit: i32,
    pub max_analyzed_offset: Option<i32>,
    pub highlight_query: Option<QueryAst>,
    pub encoder_html: bool,
    pub fragment_offset: Option<i32>,
    pub matched_fields: Vec<String>,
}

impl Highlight {
    /// The options `field` is highlighted with: its own, else the global ones, else ES's defaults.
    pub fn field_options(&self, field: &HighlightField) -> FieldOptions {
        let f = &field.options;
        let g = &self.options;
        macro_rules! pick {
            ($name:ident, $default:expr) => {
                f.$name.clone().or_else(|| g.$name.clone()).unwrap_or($default)
            };
            ($name:ident) => {
                f.$name.clone().or_else(|| g.$name.clone())
            };
        }
        FieldOptions {
            pre_tags: pick!(pre_tags, vec![DEFAULT_PRE_TAG.to_string()]),
            post_tags: pick!(post_tags, vec![DEFAULT_POST_TAG.to_string()]),
            score_ordered: pick!(score_ordered, false),
            highlight_filter: pick!(highlight_filter, false),
            fragment_size: pick!(fragment_size, DEFAULT_FRAGMENT_SIZE),
            number_of_fragments: pick!(number_of_fragments, DEFAULT_NUMBER_OF_FRAGMENTS),
            require_field_match: pick!(require_field_match, true),
            boundary_scanner: pick!(boundary_scanner),
            boundary_max_scan: pick!(boundary_max_scan, DEFAULT_BOUNDARY_MAX_SCAN),
            boundary_chars: pick!(boundary_chars, DEFAULT_BOUNDARY_CHARS.to_string()).chars().collect(),
            boundary_scanner_locale: pick!(boundary_scanner_locale),
            highlighter_type: pick!(highlighter_type),
            fragmenter: pick!(fragmenter),
            no_match_size: pick!(no_match_size, 0),
            phrase_limit: pick!(phrase_limit, DEFAULT_PHRASE_LIMIT),
            max_analyzed_offset: pick!(max_analyzed_offset),
            highlight_query: pick!(highlight_query),
            encoder_html: self.encoder.as_deref() == Some("html"),
            fragment_offset: field.fragment_offset,
            matched_fields: field.matched_fields.clone().unwrap_or_default(),
        }
    }
}

/// The options a highlight request shares with each of its fields (ES's `AbstractHighlighterBuilder`),
/// followed by the ones only the request or only a field has.
macro_rules! highlight_options {
    ($($own:literal),* $(,)?) => {
        &[
            "pre_tags",
            "post_tags",
            "order",
            "highlight_filter",
            "fragment_size",
            "number_of_fragments",
            "require_field_match",
            "boundary_scanner",
            "boundary_max_scan",
            "boundary_chars",
            "boundary_scanner_locale",
            "type",
            "fragmenter",
            "no_match_size",
            "force_source",
            "phrase_limit",
            "max_analyzed_offset",
            "options",
            "highlight_query",
            $($own),*
        ]
    };
}

const HIGHLIGHT: ObjectParser =
    ObjectParser { name: "highlight", fields: highlight_options!("tags_schema", "encoder", "fields") };

const HIGHLIGHT_FIELD: ObjectParser =
    ObjectParser { name: "highlight_field", fields: highlight_options!("fragment_offset", "matched_fields") };

const NAMED_FIELDS_SHAPE: &str = "[fields] can be a single object with any number of fields or an array where each entry is an object with a single field";

/// Parses the `highlight` object of a search body.
pub fn parse_highlight(v: &Value, max_nested_depth: usize) -> QueryResult<Highlight> {
    let obj = HIGHLIGHT.expect_object(v)?;
    let mut hl = Highlight::default();
    for (key, value) in obj {
        match key.as_str() {
            "tags_schema" => {
                let (pre, post) = HIGHLIGHT.field(key, value, Accepts::String, |v| tags_schema(&text(v)?))?;
                hl.options.pre_tags = Some(pre);
                hl.options.post_tags = Some(post);
            }
            "encoder" => hl.encoder = Some(HIGHLIGHT.field(key, value, Accepts::String, text)?),
            "fields" => hl.fields = parse_fields(value, max_nested_depth)?,
            _ => {
                if !parse_common(&HIGHLIGHT, &mut hl.options, key, value, max_nested_depth)? {
                    return Err(HIGHLIGHT.unknown_field(key));
                }
            }
        }
    }
    check_tags(&hl.options)?;
    Ok(hl)
}

fn tags_schema(name: &str) -> QueryResult<(Vec<String>, Vec<String>)> {
    match name {
        "default" => Ok((vec![DEFAULT_PRE_TAG.to_string()], vec![DEFAULT_POST_TAG.to_string()])),
        "styled" => Ok((STYLED_PRE_TAGS.iter().map(|s| s.to_string()).collect(), vec![DEFAULT_POST_TAG.to_string()])),
        other => Err(QueryError::illegal(format!("Unknown tag schema [{other}]"))),
    }
}

fn check_tags(o: &HighlightOptions) -> QueryResult<()> {
    if o.pre_tags.is_some() && o.post_tags.is_none() {
        return Err(QueryError::parsing("pre_tags are set but post_tags are not set"));
    }
    Ok(())
}

/// `fields`: `{"a": {..}, "b": {..}}` or `[{"a": {..}}, {"b": {..}}]` (ES's `declareNamedObjects`).
fn parse_fields(v: &Value, max_nested_depth: usize) -> QueryResult<Vec<HighlightField>> {
    let wrap = |e: QueryError| QueryError::x_content_caused("[highlight] failed to parse field [fields]", e);
    let mut out = Vec::new();
    match v {
        Value::Object(o) => {
            for (name, body) in o {
                out.push(parse_field(name, body, max_nested_depth).map_err(wrap)?);
            }
        }
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::Object(o) if o.len() == 1 => {
                        let (name, body) = o.iter().next().expect("one entry");
                        out.push(parse_field(name, body, max_nested_depth).map_err(wrap)?);
                    }
                    _ => return Err(wrap(QueryError::x_content(NAMED_FIELDS_SHAPE))),
                }
            }
        }
        other => {
            return Err(QueryError::x_content(format!(
                "[highlight] fields doesn't support values of type: {}",
                crate::xcontent::token_name(other)
            )));
        }
    }
    Ok(out)
}

fn parse_field(name: &str, body: &Value, max_nested_depth: usize) -> QueryResult<HighlightField> {
    let wrap = |e: QueryError| QueryError::x_content_caused(format!("[fields] failed to parse field [{name}]"), e);
    let obj = HIGHLIGHT_FIELD.expect_object(body).map_err(wrap)?;
    let mut field = HighlightField {
        name: name.to_string(),
        options: HighlightOptions::default(),
        fragment_offset: None,
        matched_fields: None,
    };
    for (key, value) in obj {
        match key.as_str() {
            "fragment_offset" => {
                field.fragment_offset =
                    Some(HIGHLIGHT_FIELD.field(key, value, Accepts::Number, int_value).map_err(wrap)?)
            }
            "matched_fields" => {
                field.matched_fields =
                    Some(HIGHLIGHT_FIELD.field(key, value, Accepts::StringArray, string_array).map_err(wrap)?)
            }
            _ => {
                if !parse_common(&HIGHLIGHT_FIELD, &mut field.options, key, value, max_nested_depth).map_err(wrap)? {
                    return Err(wrap(HIGHLIGHT_FIELD.unknown_field(key)));
                }
            }
        }
    }
    check_tags(&field.options).map_err(wrap)?;
    Ok(field)
}

/// The options both parsers declare (`AbstractHighlighterBuilder.setupParser`). Returns false for a
/// key that is not one of them.
fn parse_common(
    p: &ObjectParser,
    o: &mut HighlightOptions,
    key: &str,
    v: &Value,
    max_nested_depth: usize,
) -> QueryResult<bool> {
    let int = |v: &Value| p.field(key, v, Accepts::Number, int_value);
    let boolean = |v: &Value| p.field(key, v, Accepts::Boolean, bool_value);
    let string = |v: &Value| p.field(key, v, Accepts::String, text);
    match key {
        "pre_tags" => o.pre_tags = Some(p.field(key, v, Accepts::StringArray, string_array)?),
        "post_tags" => o.post_tags = Some(p.field(key, v, Accepts::StringArray, string_array)?),
        "order" => o.score_ordered = Some(string(v)?.eq_ignore_ascii_case("score")),
        "highlight_filter" => o.highlight_filter = Some(boolean(v)?),
        "fragment_size" => o.fragment_size = Some(int(v)?),
        "number_of_fragments" => o.number_of_fragments = Some(int(v)?),
        "require_field_match" => o.require_field_match = Some(boolean(v)?),
        "boundary_scanner" => {
            o.boundary_scanner = Some(p.field(key, v, Accepts::String, |v| {
                let s = text(v)?;
                match s.to_ascii_uppercase().as_str() {
                    "CHARS" => Ok(BoundaryScanner::Chars),
                    "WORD" => Ok(BoundaryScanner::Word),
                    "SENTENCE" => Ok(BoundaryScanner::Sentence),
                    other => Err(QueryError::illegal(format!(
                        "No enum constant org.elasticsearch.search.fetch.subphase.highlight.HighlightBuilder.BoundaryScannerType.{other}"
                    ))),
                }
            })?)
        }
        "boundary_max_scan" => o.boundary_max_scan = Some(int(v)?),
        "boundary_chars" => o.boundary_chars = Some(string(v)?),
        "boundary_scanner_locale" => o.boundary_scanner_locale = Some(string(v)?),
        "type" => o.highlighter_type = Some(string(v)?),
        "fragmenter" => o.fragmenter = Some(string(v)?),
        "no_match_size" => o.no_match_size = Some(int(v)?),
        "force_source" => o.force_source = Some(boolean(v)?),
        "phrase_limit" => o.phrase_limit = Some(int(v)?),
        "max_analyzed_offset" => {
            o.max_analyzed_offset = Some(p.field(key, v, Accepts::Number, |v| {
                let n = int_value(v)?;
                if n < -1 || n == 0 {
                    return Err(QueryError::illegal("[max_analyzed_offset] must be a positive integer, or -1"));
                }
                Ok(n)
            })?)
        }
        "options" => {
            o.options = Some(p.field(key, v, Accepts::Object, |v| Ok(v.as_object().cloned().unwrap_or_default()))?)
        }
        "highlight_query" => {
            o.highlight_query =
                Some(p.field(key, v, Accepts::Object, |v| parse_inner(v, &mut Ctx::new(max_nested_depth)))?)
        }
        _ => return Ok(false),
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> QueryResult<Highlight> {
        parse_highlight(&v, 30)
    }

    #[test]
    fn fields_as_object_or_array_with_merged_options() {
        let hl = parse(json!({
            "pre_tags": ["<b>"], "post_tags": ["</b>"], "fragment_size": 50, "order": "score",
            "fields": {"title": {"number_of_fragments": 0}, "body*": {"fragment_size": "20", "pre_tags": "<i>", "post_tags": "</i>"}}
        }))
        .unwrap();
        assert_eq!(hl.fields.len(), 2);
        let t = hl.field_options(&hl.fields[0]);
        assert_eq!((t.fragment_size, t.number_of_fragments, t.score_ordered), (50, 0, true));
        assert_eq!(t.pre_tags, vec!["<b>"]);
        assert!(t.require_field_match);
        let b = hl.field_options(&hl.fields[1]);
        assert_eq!((b.fragment_size, b.number_of_fragments), (20, 5));
        assert_eq!(b.pre_tags, vec!["<i>"]);

        let arr = parse(json!({"fields": [{"a": {}}, {"b": {"type": "plain"}}]})).unwrap();
        assert_eq!(arr.fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), vec!["a", "b"]);
        let d = arr.field_options(&arr.fields[0]);
        assert_eq!((d.fragment_size, d.number_of_fragments, d.no_match_size), (100, 5, 0));
        assert_eq!((d.pre_tags[0].as_str(), d.post_tags[0].as_str()), ("<em>", "</em>"));
    }

    #[test]
    fn tags_schema_encoder_and_highlight_query() {
        let hl = parse(json!({
            "tags_schema": "styled", "encoder": "html",
            "fields": {"t": {"highlight_query": {"match": {"t": "x"}}}}
        }))
        .unwrap();
        let o = hl.field_options(&hl.fields[0]);
        assert_eq!(o.pre_tags[0], "<em class=\"hlt1\">");
        assert_eq!(o.pre_tags.len(), 10);
        assert!(o.encoder_html);
        assert!(matches!(o.highlight_query, Some(QueryAst::Match(_))));
    }

    #[test]
    fn errors_follow_es() {
        let e = parse(json!({"foo": 1, "fields": {}})).unwrap_err();
        assert_eq!(e.es_type(), "x_content_parse_exception");
        assert_eq!(e.to_string(), "[highlight] unknown field [foo]");
        let e = parse(json!({"fragment_sise": 1})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "[highlight] unknown field [fragment_sise] did you mean any of [fragment_size, fragmenter]?"
        );

        let e = parse(json!({"fields": {"body": {"bad": 1}}})).unwrap_err();
        assert_eq!(e.to_string(), "[highlight] failed to parse field [fields]");
        assert_eq!(e.cause().unwrap().to_string(), "[fields] failed to parse field [body]");
        assert_eq!(e.root().to_string(), "[highlight_field] unknown field [bad]");

        let e = parse(json!({"fields": [{"a": {}, "b": {}}]})).unwrap_err();
        assert_eq!(e.root().to_string(), NAMED_FIELDS_SHAPE);
        let e = parse(json!({"fields": {"body": "x"}})).unwrap_err();
        assert_eq!(e.root().to_string(), "[highlight_field] Expected START_OBJECT but was: VALUE_STRING");

        let e = parse(json!({"pre_tags": ["<x>"], "fields": {}})).unwrap_err();
        assert_eq!(
            (e.es_type(), e.to_string().as_str()),
            ("parsing_exception", "pre_tags are set but post_tags are not set")
        );

        let e = parse(json!({"tags_schema": "nope"})).unwrap_err();
        assert_eq!(e.to_string(), "[highlight] failed to parse field [tags_schema]");
        assert_eq!(e.root().to_string(), "Unknown tag schema [nope]");

        let e = parse(json!({"boundary_scanner": "foo"})).unwrap_err();
        assert!(e.root().to_string().ends_with("BoundaryScannerType.FOO"));

        let e = parse(json!({"max_analyzed_offset": 0})).unwrap_err();
        assert_eq!(e.root().to_string(), "[max_analyzed_offset] must be a positive integer, or -1");
        assert_eq!(parse(json!({"max_analyzed_offset": -1})).unwrap().options.max_analyzed_offset, Some(-1));

        let e = parse(json!({"fields": {"b": {"highlight_query": {"nope": {}}}}})).unwrap_err();
        assert_eq!(e.root().es_type(), "parsing_exception");
        let e = parse(json!({"fragment_size": "abc"})).unwrap_err();
        assert_eq!(e.to_string(), "[highlight] failed to parse field [fragment_size]");
        let e = parse(json!({"fields": "x"})).unwrap_err();
        assert_eq!(e.to_string(), "[highlight] fields doesn't support values of type: VALUE_STRING");
    }
}
