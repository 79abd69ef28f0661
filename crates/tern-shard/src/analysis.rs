//! Text analysis as ES defines it.
//!
//! tern tokenizes text itself and hands tantivy pre-tokenized strings. The tantivy schema is fixed when
//! a shard is created, but ES lets every text field pick its analyzer (and a custom analyzer is defined
//! in index settings): doing analysis here keeps the schema independent of analyzers and makes the
//! same code serve indexing, query building and `_analyze`.
//!
//! The standard tokenizer follows Unicode text segmentation (UAX #29) word boundaries, which is what
//! Lucene's `StandardTokenizer` implements; tokens longer than 255 characters are split as ES does.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;
use tern_common::{ErrorKind, EsError};
use unicode_segmentation::UnicodeSegmentation;

/// One token with ES's `_analyze` attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalyzedToken {
    pub text: String,
    pub start_offset: usize,
    pub end_offset: usize,
    pub position: usize,
    pub token_type: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tokenizer {
    Standard,
    Whitespace,
    Keyword,
    Letter,
    Lowercase,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TokenFilter {
    Lowercase,
    Uppercase,
    AsciiFolding,
    Stop(Arc<Vec<String>>),
    Trim,
    Length { min: usize, max: usize },
}

/// A tokenizer followed by token filters.
#[derive(Debug, Clone, PartialEq)]
pub struct Analyzer {
    pub tokenizer: Tokenizer,
    pub filters: Vec<TokenFilter>,
}

const MAX_TOKEN_LENGTH: usize = 255;

/// Lucene's English stop words, the `_english_` set and the default of the `stop` analyzer.
pub const ENGLISH_STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no", "not", "of",
    "on", "or", "such", "that", "the", "their", "then", "there", "these", "they", "this", "to", "was", "will", "with",
];

impl Analyzer {
    pub fn standard() -> Self {
        Analyzer { tokenizer: Tokenizer::Standard, filters: vec![TokenFilter::Lowercase] }
    }

    pub fn keyword() -> Self {
        Analyzer { tokenizer: Tokenizer::Keyword, filters: vec![] }
    }

    /// The built-in analyzers ES ships under these names.
    pub fn builtin(name: &str) -> Option<Self> {
        Some(match name {
            "standard" | "default" => Self::standard(),
            "simple" => Analyzer { tokenizer: Tokenizer::Lowercase, filters: vec![] },
            "whitespace" => Analyzer { tokenizer: Tokenizer::Whitespace, filters: vec![] },
            "keyword" => Self::keyword(),
            "stop" => Analyzer {
                tokenizer: Tokenizer::Lowercase,
                filters: vec![TokenFilter::Stop(Arc::new(english_stop_words()))],
            },
            "english" => Analyzer {
                tokenizer: Tokenizer::Standard,
                filters: vec![TokenFilter::Lowercase, TokenFilter::Stop(Arc::new(english_stop_words()))],
            },
            _ => return None,
        })
    }

    pub fn analyze(&self, text: &str) -> Vec<AnalyzedToken> {
        let mut tokens = tokenize(self.tokenizer, text);
        for filter in &self.filters {
            apply_filter(filter, &mut tokens);
        }
        tokens
    }

    /// Only the token texts, for indexing and query building.
    pub fn terms(&self, text: &str) -> Vec<String> {
        self.analyze(text).into_iter().map(|t| t.text).collect()
    }
}

fn english_stop_words() -> Vec<String> {
    ENGLISH_STOP_WORDS.iter().map(|s| s.to_string()).collect()
}

fn tokenize(tokenizer: Tokenizer, text: &str) -> Vec<AnalyzedToken> {
    let mut out = Vec::new();
    let mut offsets = Utf16Offsets::new(text);
    let mut push = |start: usize, end: usize, token_type: &'static str| {
        let position = out.len();
        let start_offset = offsets.at(start);
        let end_offset = offsets.at(end);
        out.push(AnalyzedToken { text: text[start..end].to_string(), start_offset, end_offset, position, token_type });
    };
    match tokenizer {
        Tokenizer::Standard => {
            for (start, word) in text.split_word_bound_indices() {
                let Some(kind) = standard_token_type(word) else {
                    continue;
                };
                let mut s = start;
                let end = start + word.len();
                // Lucene splits overlong tokens at max_token_length characters.
                while s < end {
                    let chunk_end =
                        text[s..end].char_indices().nth(MAX_TOKEN_LENGTH).map(|(i, _)| s + i).unwrap_or(end);
                    push(s, chunk_end, kind);
                    s = chunk_end;
                }
            }
        }
        Tokenizer::Whitespace => {
            let mut start = None;
            for (i, c) in text.char_indices() {
                if c.is_whitespace() {
                    if let Some(s) = start.take() {
                        push(s, i, "word");
                    }
                } else if start.is_none() {
                    start = Some(i);
                }
            }
            if let Some(s) = start {
                push(s, text.len(), "word");
            }
        }
        Tokenizer::Letter | Tokenizer::Lowercase => {
            let mut start = None;
            for (i, c) in text.char_indices() {
                if !c.is_alphabetic() {
                    if let Some(s) = start.take() {
                        push(s, i, "word");
                    }
                } else if start.is_none() {
                    start = Some(i);
                }
            }
            if let Some(s) = start {
                push(s, text.len(), "word");
            }
            if tokenizer == Tokenizer::Lowercase {
                for t in &mut out {
                    t.text = t.text.to_lowercase();
                }
            }
        }
        Tokenizer::Keyword => {
            if !text.is_empty() {
                push(0, text.len(), "word");
            }
        }
    }
    out
}

/// The token type Lucene's standard tokenizer reports, or `None` for a segment that is not a word.
fn standard_token_type(word: &str) -> Option<&'static str> {
    let mut has_alpha = false;
    let mut has_digit = false;
    for c in word.chars() {
        if c.is_numeric() {
            has_digit = true;
        } else if c.is_alphanumeric() {
            has_alpha = true;
        } else if is_ideographic(c) {
            return Some("<IDEOGRAPHIC>");
        }
    }
    match (has_alpha, has_digit) {
        (false, false) => None,
        (false, true) => Some("<NUM>"),
        _ => Some("<ALPHANUM>"),
    }
}

fn is_ideographic(c: char) -> bool {
    matches!(c as u32, 0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0xF900..=0xFAFF)
}

/// Converts byte offsets into the UTF-16 code-unit offsets ES reports (Java strings). Tokens come in
/// text order, so a cursor walks the text once instead of re-counting from the start per token.
struct Utf16Offsets<'a> {
    text: &'a str,
    ascii: bool,
    byte: usize,
    units: usize,
}

impl<'a> Utf16Offsets<'a> {
    fn new(text: &'a str) -> Self {
        Utf16Offsets { text, ascii: text.is_ascii(), byte: 0, units: 0 }
    }

    fn at(&mut self, byte: usize) -> usize {
        if self.ascii {
            return byte;
        }
        if byte < self.byte {
            self.byte = 0;
            self.units = 0;
        }
        self.units += self.text[self.byte..byte].encode_utf16().count();
        self.byte = byte;
        self.units
    }
}

fn apply_filter(filter: &TokenFilter, tokens: &mut Vec<AnalyzedToken>) {
    match filter {
        TokenFilter::Lowercase => tokens.iter_mut().for_each(|t| t.text = t.text.to_lowercase()),
        TokenFilter::Uppercase => tokens.iter_mut().for_each(|t| t.text = t.text.to_uppercase()),
        TokenFilter::AsciiFolding => tokens.iter_mut().for_each(|t| t.text = ascii_fold(&t.text)),
        TokenFilter::Trim => tokens.iter_mut().for_each(|t| t.text = t.text.trim().to_string()),
        TokenFilter::Stop(words) => tokens.retain(|t| !words.iter().any(|w| w == &t.text)),
        TokenFilter::Length { min, max } => tokens.retain(|t| {
            let n = t.text.chars().count();
            n >= *min && n <= *max
        }),
    }
}

/// Folds Latin letters with diacritics onto their ASCII base letter, as Lucene's ASCIIFoldingFilter
/// does for the Latin-1 and Latin Extended-A blocks.
pub fn ascii_fold(s: &str) -> String {
    if s.is_ascii() {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match fold_char(c) {
            Some(f) => out.push_str(f),
            None => out.push(c),
        }
    }
    out
}

fn fold_char(c: char) -> Option<&'static str> {
    Some(match c {
        'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' | 'Ā' | 'Ă' | 'Ą' => "A",
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'Æ' => "AE",
        'æ' => "ae",
        'Ç' | 'Ć' | 'Ĉ' | 'Ċ' | 'Č' => "C",
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => "c",
        'Ð' | 'Ď' | 'Đ' => "D",
        'ð' | 'ď' | 'đ' => "d",
        'È' | 'É' | 'Ê' | 'Ë' | 'Ē' | 'Ĕ' | 'Ė' | 'Ę' | 'Ě' => "E",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
        'Ĝ' | 'Ğ' | 'Ġ' | 'Ģ' => "G",
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => "g",
        'Ĥ' | 'Ħ' => "H",
        'ĥ' | 'ħ' => "h",
        'Ì' | 'Í' | 'Î' | 'Ï' | 'Ĩ' | 'Ī' | 'Ĭ' | 'Į' | 'İ' => "I",
        'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => "i",
        'Ĵ' => "J",
        'ĵ' => "j",
        'Ķ' => "K",
        'ķ' => "k",
        'Ĺ' | 'Ļ' | 'Ľ' | 'Ŀ' | 'Ł' => "L",
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => "l",
        'Ñ' | 'Ń' | 'Ņ' | 'Ň' => "N",
        'ñ' | 'ń' | 'ņ' | 'ň' => "n",
        'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' | 'Ō' | 'Ŏ' | 'Ő' => "O",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => "o",
        'Œ' => "OE",
        'œ' => "oe",
        'Ŕ' | 'Ŗ' | 'Ř' => "R",
        'ŕ' | 'ŗ' | 'ř' => "r",
        'Ś' | 'Ŝ' | 'Ş' | 'Š' => "S",
        'ś' | 'ŝ' | 'ş' | 'š' => "s",
        'ß' => "ss",
        'Ţ' | 'Ť' | 'Ŧ' => "T",
        'ţ' | 'ť' | 'ŧ' => "t",
        'Ù' | 'Ú' | 'Û' | 'Ü' | 'Ũ' | 'Ū' | 'Ŭ' | 'Ů' | 'Ű' | 'Ų' => "U",
        'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => "u",
        'Ŵ' => "W",
        'ŵ' => "w",
        'Ý' | 'Ÿ' | 'Ŷ' => "Y",
        'ý' | 'ÿ' | 'ŷ' => "y",
        'Ź' | 'Ż' | 'Ž' => "Z",
        'ź' | 'ż' | 'ž' => "z",
        'Þ' => "TH",
        'þ' => "th",
        _ => return None,
    })
}

/// The analyzers of one index: built-ins plus the custom ones from `index.analysis`.
#[derive(Debug, Clone, Default)]
pub struct AnalyzerRegistry {
    custom: HashMap<String, Analyzer>,
}

impl AnalyzerRegistry {
    /// Builds the registry from the `index.analysis` settings subtree
    /// (`{"analyzer":{"name":{"type":"custom","tokenizer":..,"filter":[..]}}, "filter":{..}}`).
    pub fn from_settings(analysis: Option<&Value>) -> Result<Self, EsError> {
        let mut reg = AnalyzerRegistry::default();
        let Some(analysis) = analysis else {
            return Ok(reg);
        };
        let custom_filters = analysis.get("filter").and_then(Value::as_object);
        if let Some(analyzers) = analysis.get("analyzer").and_then(Value::as_object) {
            for (name, def) in analyzers {
                let analyzer = build_custom(name, def, custom_filters)?;
                reg.custom.insert(name.clone(), analyzer);
            }
        }
        Ok(reg)
    }

    pub fn get(&self, name: &str) -> Option<Analyzer> {
        self.custom.get(name).cloned().or_else(|| Analyzer::builtin(name))
    }

    /// Resolves an analyzer name, with ES's error for an unknown one.
    pub fn resolve(&self, name: &str) -> Result<Analyzer, EsError> {
        self.get(name).ok_or_else(|| EsError::illegal_argument(format!("failed to find analyzer [{name}]")))
    }
}

fn build_custom(
    name: &str,
    def: &Value,
    custom_filters: Option<&serde_json::Map<String, Value>>,
) -> Result<Analyzer, EsError> {
    let kind = def.get("type").and_then(Value::as_str).unwrap_or("custom");
    if kind != "custom" {
        let mut base = Analyzer::builtin(kind)
            .ok_or_else(|| EsError::illegal_argument(format!("Unknown analyzer type [{kind}] for [{name}]")))?;
        if let Some(stop) = def.get("stopwords") {
            base.filters.retain(|f| !matches!(f, TokenFilter::Stop(_)));
            base.filters.push(TokenFilter::Stop(Arc::new(stop_words(stop))));
        }
        return Ok(base);
    }
    let tokenizer = match def.get("tokenizer").and_then(Value::as_str) {
        Some(t) => parse_tokenizer(t)?,
        None => {
            return Err(EsError::new(
                ErrorKind::IllegalArgument,
                format!("analyzer [{name}] must specify either an analyzer type, or a tokenizer"),
            ));
        }
    };
    let mut filters = Vec::new();
    let names: Vec<String> = match def.get("filter") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a.iter().filter_map(|v| v.as_str().map(String::from)).collect(),
        _ => vec![],
    };
    for f in names {
        filters.push(resolve_filter(&f, custom_filters)?);
    }
    Ok(Analyzer { tokenizer, filters })
}

/// Tokenizer names accepted by `_analyze` and custom analyzers.
pub fn parse_tokenizer(name: &str) -> Result<Tokenizer, EsError> {
    Ok(match name {
        "standard" => Tokenizer::Standard,
        "whitespace" => Tokenizer::Whitespace,
        "keyword" => Tokenizer::Keyword,
        "letter" => Tokenizer::Letter,
        "lowercase" => Tokenizer::Lowercase,
        other => {
            return Err(EsError::illegal_argument(format!("failed to find global tokenizer under [{other}]")));
        }
    })
}

/// Filter names accepted by `_analyze` and custom analyzers, including ones defined in settings.
pub fn resolve_filter(name: &str, custom: Option<&serde_json::Map<String, Value>>) -> Result<TokenFilter, EsError> {
    if let Some(def) = custom.and_then(|c| c.get(name)) {
        return filter_from_def(def);
    }
    Ok(match name {
        "lowercase" => TokenFilter::Lowercase,
        "uppercase" => TokenFilter::Uppercase,
        "asciifolding" => TokenFilter::AsciiFolding,
        "trim" => TokenFilter::Trim,
        "stop" => TokenFilter::Stop(Arc::new(english_stop_words())),
        other => {
            return Err(EsError::illegal_argument(format!("failed to find global filter under [{other}]")));
        }
    })
}

/// A filter given inline as an object (`{"type":"stop","stopwords":[..]}`).
pub fn filter_from_def(def: &Value) -> Result<TokenFilter, EsError> {
    let kind = def.get("type").and_then(Value::as_str).unwrap_or("");
    Ok(match kind {
        "stop" => TokenFilter::Stop(Arc::new(def.get("stopwords").map(stop_words).unwrap_or_else(english_stop_words))),
        "length" => TokenFilter::Length {
            min: def.get("min").and_then(Value::as_u64).unwrap_or(0) as usize,
            max: def.get("max").and_then(Value::as_u64).unwrap_or(i32::MAX as u64) as usize,
        },
        "lowercase" | "uppercase" | "asciifolding" | "trim" => resolve_filter(kind, None)?,
        other => {
            return Err(EsError::illegal_argument(format!("Unknown filter type [{other}] for token filter")));
        }
    })
}

fn stop_words(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) if s == "_english_" => english_stop_words(),
        Value::String(s) if s == "_none_" => vec![],
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().filter_map(|x| x.as_str().map(String::from)).collect(),
        _ => english_stop_words(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_splits_on_word_boundaries_and_lowercases() {
        let a = Analyzer::standard();
        assert_eq!(a.terms("The QUICK brown-fox, don't 3.14!"), vec!["the", "quick", "brown", "fox", "don't", "3.14"]);
        let toks = a.analyze("Hello world");
        assert_eq!(toks[1].start_offset, 6);
        assert_eq!(toks[1].end_offset, 11);
        assert_eq!(toks[1].position, 1);
        assert_eq!(toks[0].token_type, "<ALPHANUM>");
    }

    #[test]
    fn stop_and_simple_analyzers() {
        let stop = Analyzer::builtin("stop").unwrap();
        assert_eq!(stop.terms("The quick fox is 2 fast"), vec!["quick", "fox", "fast"]);
        let ws = Analyzer::builtin("whitespace").unwrap();
        assert_eq!(ws.terms("Foo  Bar-baz"), vec!["Foo", "Bar-baz"]);
    }

    #[test]
    fn custom_analyzer_with_asciifolding() {
        let settings = serde_json::json!({
            "analyzer": {"folded": {"type": "custom", "tokenizer": "standard",
                                    "filter": ["lowercase", "asciifolding"]}}
        });
        let reg = AnalyzerRegistry::from_settings(Some(&settings)).unwrap();
        assert_eq!(reg.resolve("folded").unwrap().terms("Café Ñandú"), vec!["cafe", "nandu"]);
        assert!(reg.resolve("nope").is_err());
    }
}
