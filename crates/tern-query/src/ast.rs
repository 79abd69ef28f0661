//! The query AST: one variant per ES query type tern supports, each holding the options ES accepts
//! for it, with ES's defaults filled in.
//!
//! Query values (`term` values, `range` bounds, `match` text...) stay `serde_json::Value`s: whether
//! `"2024-01-01"` is a date, a keyword or text, and whether `5` means a long or a double, is only known
//! on the shard, which has the index mapping. The shard engine compiles this AST into tantivy queries.
//!
//! Every query carries `boost` (default 1.0) and `name` (ES's `_name`, for `matched_queries`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::fuzziness::Fuzziness;
use crate::msm::MinimumShouldMatch;

/// A parsed ES query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryAst {
    MatchAll(MatchAllQuery),
    MatchNone(MatchNoneQuery),
    Match(MatchQuery),
    MatchPhrase(MatchPhraseQuery),
    MatchPhrasePrefix(MatchPhrasePrefixQuery),
    MatchBoolPrefix(MatchBoolPrefixQuery),
    MultiMatch(MultiMatchQuery),
    CombinedFields(CombinedFieldsQuery),
    Bool(BoolQuery),
    Term(TermQuery),
    Terms(TermsQuery),
    TermsLookup(TermsLookupQuery),
    Range(RangeQuery),
    Exists(ExistsQuery),
    Prefix(PrefixQuery),
    Wildcard(WildcardQuery),
    Regexp(RegexpQuery),
    Fuzzy(FuzzyQuery),
    Ids(IdsQuery),
    QueryString(QueryStringQuery),
    SimpleQueryString(SimpleQueryStringQuery),
    ConstantScore(ConstantScoreQuery),
    DisMax(DisMaxQuery),
    Boosting(BoostingQuery),
    FunctionScore(FunctionScoreQuery),
}

macro_rules! for_each_variant {
    ($self:expr, $q:ident => $body:expr) => {
        match $self {
            QueryAst::MatchAll($q) => $body,
            QueryAst::MatchNone($q) => $body,
            QueryAst::Match($q) => $body,
            QueryAst::MatchPhrase($q) => $body,
            QueryAst::MatchPhrasePrefix($q) => $body,
            QueryAst::MatchBoolPrefix($q) => $body,
            QueryAst::MultiMatch($q) => $body,
            QueryAst::CombinedFields($q) => $body,
            QueryAst::Bool($q) => $body,
            QueryAst::Term($q) => $body,
            QueryAst::Terms($q) => $body,
            QueryAst::TermsLookup($q) => $body,
            QueryAst::Range($q) => $body,
            QueryAst::Exists($q) => $body,
            QueryAst::Prefix($q) => $body,
            QueryAst::Wildcard($q) => $body,
            QueryAst::Regexp($q) => $body,
            QueryAst::Fuzzy($q) => $body,
            QueryAst::Ids($q) => $body,
            QueryAst::QueryString($q) => $body,
            QueryAst::SimpleQueryString($q) => $body,
            QueryAst::ConstantScore($q) => $body,
            QueryAst::DisMax($q) => $body,
            QueryAst::Boosting($q) => $body,
            QueryAst::FunctionScore($q) => $body,
        }
    };
}

impl QueryAst {
    /// The ES name of the query type (`"match"`, `"bool"`...).
    pub fn query_type(&self) -> &'static str {
        match self {
            QueryAst::MatchAll(_) => "match_all",
            QueryAst::MatchNone(_) => "match_none",
            QueryAst::Match(_) => "match",
            QueryAst::MatchPhrase(_) => "match_phrase",
            QueryAst::MatchPhrasePrefix(_) => "match_phrase_prefix",
            QueryAst::MatchBoolPrefix(_) => "match_bool_prefix",
            QueryAst::MultiMatch(_) => "multi_match",
            QueryAst::CombinedFields(_) => "combined_fields",
            QueryAst::Bool(_) => "bool",
            QueryAst::Term(_) => "term",
            QueryAst::Terms(_) | QueryAst::TermsLookup(_) => "terms",
            QueryAst::Range(_) => "range",
            QueryAst::Exists(_) => "exists",
            QueryAst::Prefix(_) => "prefix",
            QueryAst::Wildcard(_) => "wildcard",
            QueryAst::Regexp(_) => "regexp",
            QueryAst::Fuzzy(_) => "fuzzy",
            QueryAst::Ids(_) => "ids",
            QueryAst::QueryString(_) => "query_string",
            QueryAst::SimpleQueryString(_) => "simple_query_string",
            QueryAst::ConstantScore(_) => "constant_score",
            QueryAst::DisMax(_) => "dis_max",
            QueryAst::Boosting(_) => "boosting",
            QueryAst::FunctionScore(_) => "function_score",
        }
    }

    /// The query's `boost`.
    pub fn boost(&self) -> f32 {
        for_each_variant!(self, q => q.boost)
    }

    /// Sets the query's `boost`.
    pub fn set_boost(&mut self, boost: f32) {
        for_each_variant!(self, q => q.boost = boost)
    }

    /// The query's `_name`.
    pub fn name(&self) -> Option<&str> {
        for_each_variant!(self, q => q.name.as_deref())
    }

    /// Sets the query's `_name`.
    pub fn set_name(&mut self, name: Option<String>) {
        for_each_variant!(self, q => q.name = name)
    }

    /// A `match_all` with default options.
    pub fn match_all() -> QueryAst {
        QueryAst::MatchAll(MatchAllQuery { boost: 1.0, name: None })
    }

    /// A `match_none` with default options.
    pub fn match_none() -> QueryAst {
        QueryAst::MatchNone(MatchNoneQuery { boost: 1.0, name: None })
    }
}

/// `operator` / `default_operator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operator {
    #[default]
    Or,
    And,
}

/// `zero_terms_query`: what a full-text query whose text analyzes to no tokens matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZeroTermsQuery {
    #[default]
    None,
    All,
    /// Not settable from JSON: the clause disappears from its enclosing boolean query, as with ES's
    /// internal `ZeroTermsQueryOption.NULL`. The `query_string` and `simple_query_string` syntax
    /// parsers produce it, so that `the AND fox` with `the` a stop word searches for `fox`. At the top
    /// level (no enclosing bool) it behaves like `None`.
    Null,
}

/// `multi_match` `type` (also `query_string` `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MultiMatchType {
    #[default]
    BestFields,
    MostFields,
    CrossFields,
    Phrase,
    PhrasePrefix,
    BoolPrefix,
}

impl MultiMatchType {
    pub fn es_name(self) -> &'static str {
        match self {
            MultiMatchType::BestFields => "best_fields",
            MultiMatchType::MostFields => "most_fields",
            MultiMatchType::CrossFields => "cross_fields",
            MultiMatchType::Phrase => "phrase",
            MultiMatchType::PhrasePrefix => "phrase_prefix",
            MultiMatchType::BoolPrefix => "bool_prefix",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchAllQuery {
    pub boost: f32,
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchNoneQuery {
    pub boost: f32,
    pub name: Option<String>,
}

/// `match`: analyzed full-text search on one field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchQuery {
    pub field: String,
    /// The query text; a JSON number or boolean when given so (a `match` on a numeric field).
    pub query: Value,
    pub operator: Operator,
    pub minimum_should_match: Option<MinimumShouldMatch>,
    pub fuzziness: Option<Fuzziness>,
    /// Default 0.
    pub prefix_length: u32,
    /// Default 50.
    pub max_expansions: u32,
    /// Default true.
    pub fuzzy_transpositions: bool,
    pub fuzzy_rewrite: Option<String>,
    pub analyzer: Option<String>,
    pub lenient: bool,
    pub zero_terms_query: ZeroTermsQuery,
    /// Default true.
    pub auto_generate_synonyms_phrase_query: bool,
    pub boost: f32,
    pub name: Option<String>,
}

impl MatchQuery {
    /// A `match` query with ES's defaults.
    pub fn new(field: impl Into<String>, query: Value) -> Self {
        MatchQuery {
            field: field.into(),
            query,
            operator: Operator::Or,
            minimum_should_match: None,
            fuzziness: None,
            prefix_length: 0,
            max_expansions: 50,
            fuzzy_transpositions: true,
            fuzzy_rewrite: None,
            analyzer: None,
            lenient: false,
            zero_terms_query: ZeroTermsQuery::None,
            auto_generate_synonyms_phrase_query: true,
            boost: 1.0,
            name: None,
        }
    }
}

/// `match_phrase`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchPhraseQuery {
    pub field: String,
    pub query: String,
    /// Default 0.
    pub slop: u32,
    pub analyzer: Option<String>,
    pub zero_terms_query: ZeroTermsQuery,
    pub boost: f32,
    pub name: Option<String>,
}

impl MatchPhraseQuery {
    pub fn new(field: impl Into<String>, query: impl Into<String>) -> Self {
        MatchPhraseQuery {
            field: field.into(),
            query: query.into(),
            slop: 0,
            analyzer: None,
            zero_terms_query: ZeroTermsQuery::None,
            boost: 1.0,
            name: None,
        }
    }
}

/// `match_phrase_prefix`: a phrase whose last term is a prefix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchPhrasePrefixQuery {
    pub field: String,
    pub query: String,
    pub slop: u32,
    /// Default 50.
    pub max_expansions: u32,
    pub analyzer: Option<String>,
    pub zero_terms_query: ZeroTermsQuery,
    pub boost: f32,
    pub name: Option<String>,
}

/// `match_bool_prefix`: a bool of term queries whose last term is a prefix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchBoolPrefixQuery {
    pub field: String,
    pub query: String,
    pub operator: Operator,
    pub minimum_should_match: Option<MinimumShouldMatch>,
    pub fuzziness: Option<Fuzziness>,
    pub prefix_length: u32,
    pub max_expansions: u32,
    pub fuzzy_transpositions: bool,
    pub fuzzy_rewrite: Option<String>,
    pub analyzer: Option<String>,
    pub boost: f32,
    pub name: Option<String>,
}

/// `multi_match`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultiMatchQuery {
    pub query: Value,
    /// Field names or patterns with their `^boost` (1.0 when not given), in request order. Empty
    /// means ES's default: the index setting `index.query.default_field` (`*`).
    pub fields: Vec<(String, f32)>,
    #[serde(rename = "type")]
    pub match_type: MultiMatchType,
    pub tie_breaker: Option<f32>,
    pub operator: Operator,
    pub minimum_should_match: Option<MinimumShouldMatch>,
    pub fuzziness: Option<Fuzziness>,
    pub prefix_length: u32,
    pub max_expansions: u32,
    pub fuzzy_transpositions: bool,
    pub fuzzy_rewrite: Option<String>,
    pub slop: u32,
    pub analyzer: Option<String>,
    pub lenient: bool,
    pub zero_terms_query: ZeroTermsQuery,
    pub auto_generate_synonyms_phrase_query: bool,
    pub boost: f32,
    pub name: Option<String>,
}

/// `combined_fields`: BM25F-style search over several text fields as if they were one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CombinedFieldsQuery {
    pub query: String,
    pub fields: Vec<(String, f32)>,
    pub operator: Operator,
    pub minimum_should_match: Option<MinimumShouldMatch>,
    pub zero_terms_query: ZeroTermsQuery,
    pub auto_generate_synonyms_phrase_query: bool,
    pub boost: f32,
    pub name: Option<String>,
}

/// `bool`.
///
/// Semantics the compiler must keep (ES's): with neither `must` nor `filter` clauses and no
/// `minimum_should_match`, at least one `should` clause must match; with `must`/`filter` clauses,
/// `should` clauses only score. A bool with only `must_not` clauses matches all other documents
/// (`adjust_pure_negative`). A bool with no clauses at all matches everything.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoolQuery {
    pub must: Vec<QueryAst>,
    pub filter: Vec<QueryAst>,
    pub should: Vec<QueryAst>,
    pub must_not: Vec<QueryAst>,
    pub minimum_should_match: Option<MinimumShouldMatch>,
    /// Default true.
    pub adjust_pure_negative: bool,
    pub boost: f32,
    pub name: Option<String>,
}

impl Default for BoolQuery {
    fn default() -> Self {
        BoolQuery {
            must: Vec::new(),
            filter: Vec::new(),
            should: Vec::new(),
            must_not: Vec::new(),
            minimum_should_match: None,
            adjust_pure_negative: true,
            boost: 1.0,
            name: None,
        }
    }
}

/// `term`: an exact, unanalyzed value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TermQuery {
    pub field: String,
    /// A JSON string, number or boolean.
    pub value: Value,
    pub case_insensitive: bool,
    pub boost: f32,
    pub name: Option<String>,
}

/// `terms` with inline values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TermsQuery {
    pub field: String,
    /// JSON strings, numbers or booleans.
    pub values: Vec<Value>,
    pub boost: f32,
    pub name: Option<String>,
}

/// `terms` whose values are read from a field of another document (`{"index","id","path"}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TermsLookupQuery {
    pub field: String,
    pub index: String,
    pub id: String,
    pub path: String,
    pub routing: Option<String>,
    pub boost: f32,
    pub name: Option<String>,
}

/// `relation` of a `range` query on range fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RangeRelation {
    Intersects,
    Contains,
    Within,
}

/// `range`. Legacy `from`/`to`/`include_lower`/`include_upper` are folded into `gt`/`gte`/`lt`/`lte`
/// exactly as ES folds them: each of `gt`/`gte`/`from` replaces the lower bound, the last one wins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RangeQuery {
    pub field: String,
    pub gt: Option<Value>,
    pub gte: Option<Value>,
    pub lt: Option<Value>,
    pub lte: Option<Value>,
    pub format: Option<String>,
    pub time_zone: Option<String>,
    pub relation: Option<RangeRelation>,
    pub boost: f32,
    pub name: Option<String>,
}

impl RangeQuery {
    pub fn new(field: impl Into<String>) -> Self {
        RangeQuery {
            field: field.into(),
            gt: None,
            gte: None,
            lt: None,
            lte: None,
            format: None,
            time_zone: None,
            relation: None,
            boost: 1.0,
            name: None,
        }
    }
}

/// `exists`. `field` may be a pattern (`user.*`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExistsQuery {
    pub field: String,
    pub boost: f32,
    pub name: Option<String>,
}

/// `prefix`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrefixQuery {
    pub field: String,
    pub value: String,
    pub case_insensitive: bool,
    pub rewrite: Option<String>,
    /// Run `value` through the field's search-analyzer normalization first (lowercasing...). False
    /// for the DSL query; true when produced by the `query_string`/`simple_query_string` parsers,
    /// which is what ES does there.
    pub normalize: bool,
    pub boost: f32,
    pub name: Option<String>,
}

/// `wildcard` (`*` and `?`, `\` escapes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WildcardQuery {
    pub field: String,
    pub value: String,
    pub case_insensitive: bool,
    pub rewrite: Option<String>,
    /// As [`PrefixQuery::normalize`].
    pub normalize: bool,
    pub boost: f32,
    pub name: Option<String>,
}

/// Lucene `RegExp` syntax flags (ES's `RegexpFlag`).
pub mod regexp_flags {
    pub const NONE: u32 = 0;
    pub const INTERSECTION: u32 = 0x0001;
    pub const COMPLEMENT: u32 = 0x0002;
    pub const EMPTY: u32 = 0x0004;
    pub const ANYSTRING: u32 = 0x0008;
    pub const INTERVAL: u32 = 0x0020;
    /// Every optional operator enabled (ES's default).
    pub const ALL: u32 = 0xffff;
}

/// `regexp` (Lucene syntax, anchored to the whole term).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegexpQuery {
    pub field: String,
    pub value: String,
    /// A [`regexp_flags`] bit set; default `ALL`.
    pub flags: u32,
    pub case_insensitive: bool,
    /// Default 10000.
    pub max_determinized_states: u32,
    pub rewrite: Option<String>,
    pub boost: f32,
    pub name: Option<String>,
}

/// `fuzzy`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FuzzyQuery {
    pub field: String,
    pub value: Value,
    /// Default `AUTO`.
    pub fuzziness: Fuzziness,
    pub prefix_length: u32,
    /// Default 50.
    pub max_expansions: u32,
    /// Default true.
    pub transpositions: bool,
    pub rewrite: Option<String>,
    /// As [`PrefixQuery::normalize`].
    pub normalize: bool,
    pub boost: f32,
    pub name: Option<String>,
}

/// `ids`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdsQuery {
    pub values: Vec<String>,
    pub boost: f32,
    pub name: Option<String>,
}

/// `query_string`, as given. The shard turns `query` into a [`QueryAst`] with
/// [`crate::query_string::parse_query_string`] once it can expand field patterns against the
/// mapping; syntax errors surface there, as `query_shard_exception`, as in ES.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryStringQuery {
    pub query: String,
    pub fields: Vec<(String, f32)>,
    pub default_field: Option<String>,
    pub default_operator: Operator,
    pub analyzer: Option<String>,
    pub quote_analyzer: Option<String>,
    pub quote_field_suffix: Option<String>,
    /// Default true.
    pub allow_leading_wildcard: bool,
    pub analyze_wildcard: bool,
    /// Default true.
    pub enable_position_increments: bool,
    /// Default `AUTO`; used for `term~` without an explicit distance.
    pub fuzziness: Fuzziness,
    pub fuzzy_prefix_length: u32,
    /// Default 50.
    pub fuzzy_max_expansions: u32,
    /// Default true.
    pub fuzzy_transpositions: bool,
    pub fuzzy_rewrite: Option<String>,
    pub phrase_slop: u32,
    pub tie_breaker: Option<f32>,
    pub rewrite: Option<String>,
    pub minimum_should_match: Option<MinimumShouldMatch>,
    /// `None` means the index default (`index.query_string.lenient`, false), or true when searching
    /// all fields (`*`), as in ES.
    pub lenient: Option<bool>,
    pub time_zone: Option<String>,
    #[serde(rename = "type")]
    pub match_type: MultiMatchType,
    /// Default 10000.
    pub max_determinized_states: u32,
    /// Default true.
    pub auto_generate_synonyms_phrase_query: bool,
    pub escape: bool,
    pub boost: f32,
    pub name: Option<String>,
}

impl QueryStringQuery {
    /// A `query_string` query with ES's defaults.
    pub fn new(query: impl Into<String>) -> Self {
        QueryStringQuery {
            query: query.into(),
            fields: Vec::new(),
            default_field: None,
            default_operator: Operator::Or,
            analyzer: None,
            quote_analyzer: None,
            quote_field_suffix: None,
            allow_leading_wildcard: true,
            analyze_wildcard: false,
            enable_position_increments: true,
            fuzziness: Fuzziness::AUTO,
            fuzzy_prefix_length: 0,
            fuzzy_max_expansions: 50,
            fuzzy_transpositions: true,
            fuzzy_rewrite: None,
            phrase_slop: 0,
            tie_breaker: None,
            rewrite: None,
            minimum_should_match: None,
            lenient: None,
            time_zone: None,
            match_type: MultiMatchType::BestFields,
            max_determinized_states: 10_000,
            auto_generate_synonyms_phrase_query: true,
            escape: false,
            boost: 1.0,
            name: None,
        }
    }
}

/// `simple_query_string` operator flags (ES's `SimpleQueryStringFlag`).
pub mod simple_flags {
    pub const NONE: u32 = 0;
    pub const AND: u32 = 1 << 0;
    pub const NOT: u32 = 1 << 1;
    pub const OR: u32 = 1 << 2;
    pub const PREFIX: u32 = 1 << 3;
    pub const PHRASE: u32 = 1 << 4;
    pub const PRECEDENCE: u32 = 1 << 5;
    pub const ESCAPE: u32 = 1 << 6;
    pub const WHITESPACE: u32 = 1 << 7;
    pub const FUZZY: u32 = 1 << 8;
    /// `NEAR` and `SLOP` are the same flag: `"phrase"~N`.
    pub const NEAR: u32 = 1 << 9;
    pub const SLOP: u32 = 1 << 9;
    pub const ALL: u32 = (1 << 10) - 1;
}

/// `simple_query_string`, as given; see [`crate::simple_query_string::parse_simple_query_string`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimpleQueryStringQuery {
    pub query: String,
    pub fields: Vec<(String, f32)>,
    pub default_operator: Operator,
    pub analyzer: Option<String>,
    /// A [`simple_flags`] bit set; default `ALL`.
    pub flags: u32,
    pub lenient: Option<bool>,
    pub analyze_wildcard: bool,
    pub minimum_should_match: Option<MinimumShouldMatch>,
    pub quote_field_suffix: Option<String>,
    pub auto_generate_synonyms_phrase_query: bool,
    pub fuzzy_prefix_length: u32,
    pub fuzzy_max_expansions: u32,
    pub fuzzy_transpositions: bool,
    pub boost: f32,
    pub name: Option<String>,
}

impl SimpleQueryStringQuery {
    pub fn new(query: impl Into<String>) -> Self {
        SimpleQueryStringQuery {
            query: query.into(),
            fields: Vec::new(),
            default_operator: Operator::Or,
            analyzer: None,
            flags: simple_flags::ALL,
            lenient: None,
            analyze_wildcard: false,
            minimum_should_match: None,
            quote_field_suffix: None,
            auto_generate_synonyms_phrase_query: true,
            fuzzy_prefix_length: 0,
            fuzzy_max_expansions: 50,
            fuzzy_transpositions: true,
            boost: 1.0,
            name: None,
        }
    }
}

/// `constant_score`: every match of `filter` scores `boost`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConstantScoreQuery {
    pub filter: Box<QueryAst>,
    pub boost: f32,
    pub name: Option<String>,
}

/// `dis_max`: the best clause's score plus `tie_breaker` times the others'.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DisMaxQuery {
    pub queries: Vec<QueryAst>,
    /// Default 0.0.
    pub tie_breaker: f32,
    pub boost: f32,
    pub name: Option<String>,
}

/// `boosting`: matches `positive`; documents also matching `negative` have their score multiplied
/// by `negative_boost`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoostingQuery {
    pub positive: Box<QueryAst>,
    pub negative: Box<QueryAst>,
    pub negative_boost: f32,
    pub boost: f32,
    pub name: Option<String>,
}

/// `function_score` `score_mode`: how the functions' scores combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoreMode {
    #[default]
    Multiply,
    Sum,
    Avg,
    First,
    Max,
    Min,
}

/// `function_score` `boost_mode`: how the functions' score combines with the query score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BoostMode {
    #[default]
    Multiply,
    Replace,
    Sum,
    Avg,
    Max,
    Min,
}

/// `function_score`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionScoreQuery {
    /// Default `match_all`.
    pub query: Box<QueryAst>,
    pub functions: Vec<ScoreFunction>,
    pub score_mode: ScoreMode,
    pub boost_mode: BoostMode,
    /// Default `f32::MAX`.
    pub max_boost: f32,
    pub min_score: Option<f32>,
    pub boost: f32,
    pub name: Option<String>,
}

/// One entry of `functions` (or the single function given inline).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreFunction {
    /// Only documents matching the filter get this function (all when `None`).
    pub filter: Option<Box<QueryAst>>,
    /// Multiplies the function's score; for [`ScoreFunctionKind::Weight`] it is the score.
    pub weight: Option<f32>,
    pub kind: ScoreFunctionKind,
}

/// `field_value_factor` `modifier`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldValueFactorModifier {
    #[default]
    None,
    Log,
    Log1p,
    Log2p,
    Ln,
    Ln1p,
    Ln2p,
    Square,
    Sqrt,
    Reciprocal,
}

/// The decay curve of a decay function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecayKind {
    Gauss,
    Exp,
    Linear,
}

/// `multi_value_mode` of a decay function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MultiValueMode {
    #[default]
    Min,
    Max,
    Avg,
    Sum,
}

/// What a score function computes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoreFunctionKind {
    /// A constant: the function's `weight` (1.0 if absent).
    Weight,
    FieldValueFactor {
        field: String,
        /// Default 1.0.
        factor: f32,
        modifier: FieldValueFactorModifier,
        missing: Option<f64>,
    },
    /// `gauss`/`exp`/`linear`. `origin`, `scale` and `offset` stay raw: numbers, dates (`"2d"`,
    /// `"now"`) or geo points, depending on the field's type.
    Decay {
        kind: DecayKind,
        field: String,
        origin: Option<Value>,
        scale: Value,
        offset: Option<Value>,
        /// Default 0.5.
        decay: f64,
        multi_value_mode: MultiValueMode,
    },
    /// `random_score`.
    RandomScore { seed: Option<Value>, field: Option<String> },
}
