//! The `query_string` syntax (Lucene's classic query parser, as ES extends it) into a [`QueryAst`].
//!
//! ES parses this syntax on the shard, where field patterns can be expanded against the mapping, so
//! this parser takes a [`FieldResolver`]. The output uses only plain AST nodes: a bare word becomes a
//! `match` per field (the shard analyzes it), a quoted phrase a `match_phrase`, `foo*` a `prefix`,
//! `f?o` a `wildcard`, `/re/` a `regexp`, `foo~1` a `fuzzy`, `[a TO b]` / `>=5` a `range`,
//! `_exists_:f` and `f:*` an `exists`, `*:*` a `match_all`. Several fields combine like ES: a
//! `dis_max` (or a `bool` of `should`s for `type: most_fields`).
//!
//! Boolean structure follows Lucene exactly, including its quirks: `a AND b OR c` is not
//! `(a AND b) OR c`; each `AND` makes the clause before it required, each `OR` (under
//! `default_operator: AND`) makes it optional, `+`/`-`/`NOT` apply to one clause.
//!
//! Syntax errors become ES's `query_shard_exception` "Failed to parse query [...]" caused by a
//! `parse_exception` "Cannot parse '...': ...".

use serde_json::Value;

use crate::ast::{
    BoolQuery, DisMaxQuery, ExistsQuery, FuzzyQuery, MatchPhraseQuery, MatchQuery, MultiMatchType, Operator,
    PrefixQuery, QueryAst, QueryStringQuery, RangeQuery, RegexpQuery, WildcardQuery, ZeroTermsQuery, regexp_flags,
};
use crate::error::{QueryError, QueryResult};
use crate::fuzziness::Fuzziness;

/// Expands field names and patterns against the mapping of the index being searched.
pub trait FieldResolver {
    /// The concrete fields `pattern` (`title`, `user.*`, `*`) stands for; empty when none match.
    fn resolve(&self, pattern: &str) -> Vec<String>;
}

/// A resolver for when no mapping is at hand: every name stands for itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct LiteralFields;

impl FieldResolver for LiteralFields {
    fn resolve(&self, pattern: &str) -> Vec<String> {
        vec![pattern.to_string()]
    }
}

impl<F: Fn(&str) -> Vec<String>> FieldResolver for F {
    fn resolve(&self, pattern: &str) -> Vec<String> {
        self(pattern)
    }
}

/// How deeply parentheses may nest in a query string (protects the stack).
pub const MAX_GROUP_DEPTH: usize = 100;

/// Expands weighted field patterns into weighted concrete fields, first occurrence winning.
pub(crate) fn expand_fields(patterns: &[(String, f32)], resolver: &dyn FieldResolver) -> Vec<(String, f32)> {
    let mut out: Vec<(String, f32)> = Vec::new();
    for (pattern, boost) in patterns {
        for field in resolver.resolve(pattern) {
            if !out.iter().any(|(f, _)| *f == field) {
                out.push((field, *boost));
            }
        }
    }
    out
}

/// Multiplies a query's boost (Lucene's `BoostQuery` around it).
pub(crate) fn boosted(mut q: QueryAst, boost: f32) -> QueryAst {
    if boost != 1.0 {
        let b = q.boost() * boost;
        q.set_boost(b);
    }
    q
}

/// Combines per-field queries: one stays as it is, several go into a `dis_max` (or a `bool` of
/// `should` clauses), none is `match_none`.
pub(crate) fn combine_fields(mut per_field: Vec<QueryAst>, most_fields: bool, tie: f32) -> QueryAst {
    match per_field.len() {
        0 => QueryAst::match_none(),
        1 => per_field.pop().unwrap_or_else(QueryAst::match_none),
        _ if most_fields => QueryAst::Bool(BoolQuery { should: per_field, ..BoolQuery::default() }),
        _ => QueryAst::DisMax(DisMaxQuery { queries: per_field, tie_breaker: tie, boost: 1.0, name: None }),
    }
}

/// Parses `qs.query` into a [`QueryAst`], expanding field names with `resolver`.
pub fn parse_query_string(qs: &QueryStringQuery, resolver: &dyn FieldResolver) -> QueryResult<QueryAst> {
    let mut result = if qs.query.trim().is_empty() {
        QueryAst::match_none()
    } else {
        let tokens = Lexer::new(&qs.query).tokenize().map_err(|m| syntax_error(qs, &m))?;
        let mut parser = Parser::new(qs, resolver, tokens);
        let q = parser.top_level().map_err(|e| match e {
            Failure::Syntax(m) => syntax_error(qs, &m),
            Failure::Other(e) => e,
        })?;
        match q {
            QueryAst::Bool(mut b) if qs.minimum_should_match.is_some() => {
                b.minimum_should_match = qs.minimum_should_match.clone();
                QueryAst::Bool(b)
            }
            q => q,
        }
    };
    result = boosted(result, qs.boost);
    if qs.name.is_some() {
        result.set_name(qs.name.clone());
    }
    Ok(result)
}

fn syntax_error(qs: &QueryStringQuery, message: &str) -> QueryError {
    QueryError::QueryShard {
        reason: format!("Failed to parse query [{}]", qs.query),
        cause: Some(Box::new(QueryError::Parse(format!("Cannot parse '{}': {message}", qs.query)))),
    }
}

/// Lucene's `discardEscapeChar`: `\x` is `x`, `\uXXXX` a code unit.
pub(crate) fn discard_escapes(input: &str) -> Result<String, String> {
    let chars: Vec<char> = input.chars().collect();
    let mut out = String::with_capacity(input.len());
    let mut units: Vec<u16> = Vec::new();
    let mut i = 0;
    let flush = |units: &mut Vec<u16>, out: &mut String| {
        if !units.is_empty() {
            out.push_str(&String::from_utf16_lossy(units));
            units.clear();
        }
    };
    while i < chars.len() {
        let c = chars[i];
        if c != '\\' {
            flush(&mut units, &mut out);
            out.push(c);
            i += 1;
            continue;
        }
        let Some(&next) = chars.get(i + 1) else {
            return Err("Term can not end with escape character.".into());
        };
        if next == 'u' {
            let mut code: u32 = 0;
            for k in 0..4 {
                let Some(h) = chars.get(i + 2 + k) else {
                    return Err("Truncated unicode escape sequence.".into());
                };
                let Some(d) = h.to_digit(16) else {
                    return Err(format!("Non-hex character in Unicode escape sequence: {h}"));
                };
                code = code * 16 + d;
            }
            units.push(code as u16);
            i += 6;
        } else {
            flush(&mut units, &mut out);
            out.push(next);
            i += 2;
        }
    }
    flush(&mut units, &mut out);
    Ok(out)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    And,
    Or,
    Not,
    Plus,
    Minus,
    BareOper(char),
    LParen,
    RParen,
    Colon,
    Star,
    Carat,
    Quoted(String),
    Term(String),
    FuzzySlop(String),
    PrefixTerm(String),
    WildTerm(String),
    RegexpTerm(String),
    RangeInStart,
    RangeExStart,
    RangeTo,
    RangeInEnd,
    RangeExEnd,
    RangeQuoted(String),
    RangeGoop(String),
    Number(String),
    Eof,
}

#[derive(Debug, Clone)]
struct Spanned {
    tok: Tok,
    image: String,
    column: usize,
}

#[derive(PartialEq)]
enum LexState {
    Default,
    Boost,
    Range,
}

struct Lexer {
    chars: Vec<char>,
    pos: usize,
    state: LexState,
}

fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{3000}')
}

fn is_special(c: char) -> bool {
    is_ws(c)
        || matches!(
            c,
            '+' | '-' | '!' | '(' | ')' | ':' | '^' | '[' | ']' | '"' | '{' | '}' | '~' | '*' | '?' | '\\' | '/'
        )
}

// Token kinds in Lucene's declaration order: on equal match lengths the earlier one wins.
const K_AND: u8 = 0;
const K_OR: u8 = 1;
const K_NOT: u8 = 2;
const K_PLUS: u8 = 3;
const K_MINUS: u8 = 4;
const K_BAREOPER: u8 = 5;
const K_LPAREN: u8 = 6;
const K_RPAREN: u8 = 7;
const K_COLON: u8 = 8;
const K_STAR: u8 = 9;
const K_CARAT: u8 = 10;
const K_QUOTED: u8 = 11;
const K_TERM: u8 = 12;
const K_FUZZY: u8 = 13;
const K_PREFIX: u8 = 14;
const K_WILD: u8 = 15;
const K_REGEXP: u8 = 16;
const K_RANGEIN: u8 = 17;
const K_RANGEEX: u8 = 18;

impl Lexer {
    fn new(input: &str) -> Self {
        Lexer { chars: input.chars().collect(), pos: 0, state: LexState::Default }
    }

    fn at(&self, i: usize) -> Option<char> {
        self.chars.get(i).copied()
    }

    fn starts_with(&self, i: usize, s: &str) -> bool {
        s.chars().enumerate().all(|(k, c)| self.at(i + k) == Some(c))
    }

    /// Length of a `_TERM_START_CHAR` (an escaped character counts two) at `i`, or 0.
    fn term_start_len(&self, i: usize) -> usize {
        match self.at(i) {
            Some('\\') if self.at(i + 1).is_some() => 2,
            Some(c) if !is_special(c) => 1,
            _ => 0,
        }
    }

    /// Length of a `_TERM_CHAR` at `i`, or 0.
    fn term_char_len(&self, i: usize) -> usize {
        match self.at(i) {
            Some('-') | Some('+') => 1,
            _ => self.term_start_len(i),
        }
    }

    fn scan_term(&self, i: usize) -> usize {
        let start = self.term_start_len(i);
        if start == 0 {
            return 0;
        }
        let mut j = i + start;
        loop {
            let l = self.term_char_len(j);
            if l == 0 {
                return j - i;
            }
            j += l;
        }
    }

    fn scan_wild(&self, i: usize) -> usize {
        let start = match self.at(i) {
            Some('*') | Some('?') => 1,
            _ => self.term_start_len(i),
        };
        if start == 0 {
            return 0;
        }
        let mut j = i + start;
        loop {
            let l = match self.at(j) {
                Some('*') | Some('?') => 1,
                _ => self.term_char_len(j),
            };
            if l == 0 {
                return j - i;
            }
            j += l;
        }
    }

    /// A `"..."` (with `\` escapes) starting at `i`, or 0 when it does not close.
    fn scan_quoted(&self, i: usize) -> usize {
        let mut j = i + 1;
        while let Some(c) = self.at(j) {
            match c {
                '"' => return j + 1 - i,
                '\\' => {
                    if self.at(j + 1).is_none() {
                        return 0;
                    }
                    j += 2;
                }
                _ => j += 1,
            }
        }
        0
    }

    /// `/.../` where the body may contain `\/`; the longest match wins.
    fn scan_regexp(&self, i: usize) -> usize {
        let mut last_close = None;
        let mut j = i + 1;
        while let Some(c) = self.at(j) {
            if c == '/' {
                last_close = Some(j);
                if j > i + 1 && self.at(j - 1) == Some('\\') {
                    j += 1;
                    continue;
                }
                break;
            }
            j += 1;
        }
        last_close.map_or(0, |e| e + 1 - i)
    }

    fn lex_default(&mut self, i: usize) -> Result<(Tok, usize), String> {
        let mut best: (usize, u8) = (0, u8::MAX);
        let mut consider = |len: usize, kind: u8| {
            if len > best.0 || (len == best.0 && len > 0 && kind < best.1) {
                best = (len, kind);
            }
        };
        if self.starts_with(i, "AND") {
            consider(3, K_AND);
        }
        if self.starts_with(i, "&&") {
            consider(2, K_AND);
        }
        if self.starts_with(i, "OR") {
            consider(2, K_OR);
        }
        if self.starts_with(i, "||") {
            consider(2, K_OR);
        }
        if self.starts_with(i, "NOT") {
            consider(3, K_NOT);
        }
        let c = self.at(i).unwrap_or(' ');
        match c {
            '!' => consider(1, K_NOT),
            '+' => consider(1, K_PLUS),
            '-' => consider(1, K_MINUS),
            '(' => consider(1, K_LPAREN),
            ')' => consider(1, K_RPAREN),
            ':' => consider(1, K_COLON),
            '*' => consider(1, K_STAR),
            '^' => consider(1, K_CARAT),
            '[' => consider(1, K_RANGEIN),
            '{' => consider(1, K_RANGEEX),
            _ => {}
        }
        if matches!(c, '+' | '-' | '!') && self.at(i + 1).is_some_and(is_ws) {
            consider(2, K_BAREOPER);
        }
        if c == '"' {
            consider(self.scan_quoted(i), K_QUOTED);
        }
        let term = self.scan_term(i);
        consider(term, K_TERM);
        if c == '~' {
            let mut j = i + 1;
            loop {
                let l = self.term_char_len(j);
                if l == 0 {
                    break;
                }
                j += l;
            }
            consider(j - i, K_FUZZY);
        }
        if c == '*' {
            consider(1, K_PREFIX);
        } else if term > 0 && self.at(i + term) == Some('*') {
            consider(term + 1, K_PREFIX);
        }
        consider(self.scan_wild(i), K_WILD);
        if c == '/' {
            consider(self.scan_regexp(i), K_REGEXP);
        }
        let (len, kind) = best;
        if len == 0 {
            return Err(lexical_error(i, c));
        }
        let image: String = self.chars[i..i + len].iter().collect();
        let tok = match kind {
            K_AND => Tok::And,
            K_OR => Tok::Or,
            K_NOT => Tok::Not,
            K_PLUS => Tok::Plus,
            K_MINUS => Tok::Minus,
            K_BAREOPER => Tok::BareOper(c),
            K_LPAREN => Tok::LParen,
            K_RPAREN => Tok::RParen,
            K_COLON => Tok::Colon,
            K_STAR => Tok::Star,
            K_CARAT => {
                self.state = LexState::Boost;
                Tok::Carat
            }
            K_QUOTED => Tok::Quoted(self.chars[i + 1..i + len - 1].iter().collect()),
            K_TERM => Tok::Term(image),
            K_FUZZY => Tok::FuzzySlop(self.chars[i + 1..i + len].iter().collect()),
            K_PREFIX => Tok::PrefixTerm(image),
            K_WILD => Tok::WildTerm(image),
            K_REGEXP => Tok::RegexpTerm(self.chars[i + 1..i + len - 1].iter().collect()),
            K_RANGEIN => {
                self.state = LexState::Range;
                Tok::RangeInStart
            }
            _ => {
                self.state = LexState::Range;
                Tok::RangeExStart
            }
        };
        Ok((tok, len))
    }

    fn lex_boost(&mut self, i: usize) -> Result<(Tok, usize), String> {
        let mut j = i;
        while self.at(j).is_some_and(|c| c.is_ascii_digit()) {
            j += 1;
        }
        if j == i {
            return Err(lexical_error(i, self.at(i).unwrap_or(' ')));
        }
        if self.at(j) == Some('.') && self.at(j + 1).is_some_and(|c| c.is_ascii_digit()) {
            j += 1;
            while self.at(j).is_some_and(|c| c.is_ascii_digit()) {
                j += 1;
            }
        }
        self.state = LexState::Default;
        Ok((Tok::Number(self.chars[i..j].iter().collect()), j - i))
    }

    fn lex_range(&mut self, i: usize) -> Result<(Tok, usize), String> {
        let c = self.at(i).unwrap_or(' ');
        let mut goop = 0;
        while self.at(i + goop).is_some_and(|g| !matches!(g, ' ' | ']' | '}')) {
            goop += 1;
        }
        let quoted = if c == '"' {
            // `"` ( [^"] | `\"` )+ `"`, longest match.
            let mut last_close = None;
            let mut j = i + 1;
            while let Some(q) = self.at(j) {
                if q == '"' {
                    if j == i + 1 {
                        // The body cannot be empty.
                        break;
                    }
                    last_close = Some(j);
                    if self.at(j - 1) == Some('\\') {
                        // `\"` may also be part of the body: keep looking for a longer match.
                        j += 1;
                        continue;
                    }
                    break;
                }
                j += 1;
            }
            last_close.map_or(0, |e| e + 1 - i)
        } else {
            0
        };
        if self.starts_with(i, "TO") && goop <= 2 {
            return Ok((Tok::RangeTo, 2));
        }
        if c == ']' {
            self.state = LexState::Default;
            return Ok((Tok::RangeInEnd, 1));
        }
        if c == '}' {
            self.state = LexState::Default;
            return Ok((Tok::RangeExEnd, 1));
        }
        if quoted > 0 && quoted >= goop {
            return Ok((Tok::RangeQuoted(self.chars[i + 1..i + quoted - 1].iter().collect()), quoted));
        }
        if goop > 0 {
            return Ok((Tok::RangeGoop(self.chars[i..i + goop].iter().collect()), goop));
        }
        Err(lexical_error(i, c))
    }

    fn tokenize(mut self) -> Result<Vec<Spanned>, String> {
        let mut out = Vec::new();
        loop {
            while self.at(self.pos).is_some_and(is_ws) {
                self.pos += 1;
            }
            let i = self.pos;
            if i >= self.chars.len() {
                out.push(Spanned { tok: Tok::Eof, image: "<EOF>".into(), column: i + 1 });
                return Ok(out);
            }
            let (tok, len) = match self.state {
                LexState::Default => self.lex_default(i)?,
                LexState::Boost => self.lex_boost(i)?,
                LexState::Range => self.lex_range(i)?,
            };
            out.push(Spanned { tok, image: self.chars[i..i + len].iter().collect(), column: i + 1 });
            self.pos = i + len;
        }
    }
}

fn lexical_error(i: usize, c: char) -> String {
    format!("Lexical error at line 1, column {}.  Encountered: \"{}\" ({}), after : \"\"", i + 1, c, c as u32)
}

#[derive(Clone, Copy, PartialEq)]
enum Occur {
    Must,
    Should,
    MustNot,
}

#[derive(Clone, Copy, PartialEq)]
enum Conj {
    None,
    And,
    Or,
}

#[derive(Clone, Copy, PartialEq)]
enum Mods {
    None,
    Not,
    Req,
}

enum Failure {
    Syntax(String),
    Other(QueryError),
}

impl From<QueryError> for Failure {
    fn from(e: QueryError) -> Self {
        Failure::Other(e)
    }
}

type PResult<T> = Result<T, Failure>;

struct Parser<'a> {
    qs: &'a QueryStringQuery,
    resolver: &'a dyn FieldResolver,
    tokens: Vec<Spanned>,
    pos: usize,
    depth: usize,
    default_fields: Vec<(String, f32)>,
    all_fields: bool,
}

impl<'a> Parser<'a> {
    fn new(qs: &'a QueryStringQuery, resolver: &'a dyn FieldResolver, tokens: Vec<Spanned>) -> Self {
        let patterns: Vec<(String, f32)> = if !qs.fields.is_empty() {
            qs.fields.clone()
        } else if let Some(df) = &qs.default_field {
            vec![(df.clone(), 1.0)]
        } else {
            vec![("*".to_string(), 1.0)]
        };
        let all_fields = patterns.len() == 1 && patterns[0].0 == "*";
        Parser {
            qs,
            resolver,
            tokens,
            pos: 0,
            depth: 0,
            default_fields: expand_fields(&patterns, resolver),
            all_fields,
        }
    }

    fn peek(&self) -> &Tok {
        self.peek_at(0)
    }

    fn peek_at(&self, k: usize) -> &Tok {
        self.tokens.get(self.pos + k).or(self.tokens.last()).map_or(&Tok::Eof, |s| &s.tok)
    }

    fn next(&mut self) -> Spanned {
        let t = self.tokens.get(self.pos).or(self.tokens.last()).cloned().unwrap_or(Spanned {
            tok: Tok::Eof,
            image: "<EOF>".into(),
            column: 1,
        });
        if self.pos < self.tokens.len() {
            self.pos += 1;
        }
        t
    }

    fn unexpected(&self) -> Failure {
        let (image, column) = self
            .tokens
            .get(self.pos)
            .or(self.tokens.last())
            .map_or(("<EOF>".to_string(), 1), |s| (s.image.clone(), s.column));
        Failure::Syntax(format!("Encountered \"{image}\" at line 1, column {column}."))
    }

    fn top_level(&mut self) -> PResult<QueryAst> {
        let q = self.query(None)?;
        if *self.peek() != Tok::Eof {
            return Err(self.unexpected());
        }
        Ok(q)
    }

    fn starts_clause(tok: &Tok) -> bool {
        matches!(
            tok,
            Tok::And
                | Tok::Or
                | Tok::Not
                | Tok::Plus
                | Tok::Minus
                | Tok::BareOper(_)
                | Tok::LParen
                | Tok::Star
                | Tok::Quoted(_)
                | Tok::Term(_)
                | Tok::PrefixTerm(_)
                | Tok::WildTerm(_)
                | Tok::RegexpTerm(_)
                | Tok::RangeInStart
                | Tok::RangeExStart
                | Tok::Number(_)
        )
    }

    fn modifiers(&mut self) -> Mods {
        match self.peek() {
            Tok::Plus => {
                self.next();
                Mods::Req
            }
            Tok::Minus | Tok::Not => {
                self.next();
                Mods::Not
            }
            _ => Mods::None,
        }
    }

    fn conjunction(&mut self) -> Conj {
        match self.peek() {
            Tok::And => {
                self.next();
                Conj::And
            }
            Tok::Or => {
                self.next();
                Conj::Or
            }
            _ => Conj::None,
        }
    }

    fn query(&mut self, field: Option<&str>) -> PResult<QueryAst> {
        let mut clauses: Vec<(Occur, QueryAst)> = Vec::new();
        let mods = self.modifiers();
        let q = self.clause(field)?;
        self.add_clause(&mut clauses, Conj::None, mods, q);
        let first_plain = mods == Mods::None;
        while Self::starts_clause(self.peek()) {
            let conj = self.conjunction();
            let mods = self.modifiers();
            let q = self.clause(field)?;
            self.add_clause(&mut clauses, conj, mods, q);
        }
        if clauses.len() == 1
            && first_plain
            && let Some((_, q)) = clauses.pop()
        {
            return Ok(q);
        }
        let mut b = BoolQuery::default();
        for (occur, q) in clauses {
            match occur {
                Occur::Must => b.must.push(q),
                Occur::Should => b.should.push(q),
                Occur::MustNot => b.must_not.push(q),
            }
        }
        Ok(QueryAst::Bool(b))
    }

    /// Lucene's `QueryParserBase.addClause`.
    fn add_clause(&self, clauses: &mut Vec<(Occur, QueryAst)>, conj: Conj, mods: Mods, q: QueryAst) {
        let and_default = self.qs.default_operator == Operator::And;
        if let Some(last) = clauses.last_mut() {
            if conj == Conj::And && last.0 != Occur::MustNot {
                last.0 = Occur::Must;
            }
            if and_default && conj == Conj::Or && last.0 != Occur::MustNot {
                last.0 = Occur::Should;
            }
        }
        let prohibited = mods == Mods::Not;
        let required = if and_default {
            !prohibited && conj != Conj::Or
        } else {
            mods == Mods::Req || (conj == Conj::And && !prohibited)
        };
        let occur = if prohibited {
            Occur::MustNot
        } else if required {
            Occur::Must
        } else {
            Occur::Should
        };
        clauses.push((occur, q));
    }

    fn clause(&mut self, field: Option<&str>) -> PResult<QueryAst> {
        let mut field = field.map(str::to_string);
        if *self.peek_at(1) == Tok::Colon {
            match self.peek().clone() {
                Tok::Term(image) => {
                    field = Some(discard_escapes(&image).map_err(Failure::Syntax)?);
                    self.pos += 2;
                }
                Tok::Star => {
                    field = Some("*".into());
                    self.pos += 2;
                }
                _ => {}
            }
        }
        if *self.peek() == Tok::LParen {
            self.next();
            self.depth += 1;
            if self.depth > MAX_GROUP_DEPTH {
                return Err(Failure::Syntax(format!("query nesting exceeds {MAX_GROUP_DEPTH} levels of parentheses")));
            }
            let q = self.query(field.as_deref())?;
            self.depth -= 1;
            if *self.peek() != Tok::RParen {
                return Err(self.unexpected());
            }
            self.next();
            let boost = self.optional_boost()?;
            return Ok(boosted(q, boost.unwrap_or(1.0)));
        }
        self.term(field.as_deref())
    }

    fn optional_boost(&mut self) -> PResult<Option<f32>> {
        if *self.peek() != Tok::Carat {
            return Ok(None);
        }
        self.next();
        match self.next().tok {
            Tok::Number(n) => Ok(Some(n.parse::<f32>().unwrap_or(1.0))),
            _ => {
                self.pos -= 1;
                Err(self.unexpected())
            }
        }
    }

    /// `[^boost [~fuzzy]] | [~fuzzy [^boost]]` after a term or phrase.
    fn boost_and_fuzzy(&mut self) -> PResult<(Option<f32>, Option<String>)> {
        let mut boost = None;
        let mut fuzzy = None;
        if *self.peek() == Tok::Carat {
            boost = self.optional_boost()?;
            if let Tok::FuzzySlop(s) = self.peek().clone() {
                self.next();
                fuzzy = Some(s);
            }
        } else if let Tok::FuzzySlop(s) = self.peek().clone() {
            self.next();
            fuzzy = Some(s);
            boost = self.optional_boost()?;
        }
        Ok((boost, fuzzy))
    }

    fn term(&mut self, field: Option<&str>) -> PResult<QueryAst> {
        let tok = self.peek().clone();
        let q = match tok {
            Tok::Term(_)
            | Tok::Star
            | Tok::PrefixTerm(_)
            | Tok::WildTerm(_)
            | Tok::RegexpTerm(_)
            | Tok::BareOper(_)
            | Tok::Number(_) => {
                self.next();
                let (boost, fuzzy) = self.boost_and_fuzzy()?;
                let q = self.bare_token(field, tok, fuzzy)?;
                boosted(q, boost.unwrap_or(1.0))
            }
            Tok::RangeInStart | Tok::RangeExStart => {
                self.next();
                let start_inclusive = tok == Tok::RangeInStart;
                let lower = self.range_goop()?;
                if *self.peek() == Tok::RangeTo {
                    self.next();
                }
                let upper = self.range_goop()?;
                let end_inclusive = match self.peek() {
                    Tok::RangeInEnd => true,
                    Tok::RangeExEnd => false,
                    _ => return Err(self.unexpected()),
                };
                self.next();
                let boost = self.optional_boost()?;
                let q = self.range(field, lower, upper, start_inclusive, end_inclusive)?;
                boosted(q, boost.unwrap_or(1.0))
            }
            Tok::Quoted(inner) => {
                self.next();
                let (boost, fuzzy) = self.boost_and_fuzzy()?;
                let slop = fuzzy
                    .and_then(|s| s.parse::<f32>().ok())
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .map_or(self.qs.phrase_slop, |s| s as u32);
                let text = discard_escapes(&inner).map_err(Failure::Syntax)?;
                let q = self.field_query(field, text, true, slop)?;
                boosted(q, boost.unwrap_or(1.0))
            }
            _ => return Err(self.unexpected()),
        };
        Ok(q)
    }

    /// One range end: `None` for `*`.
    fn range_goop(&mut self) -> PResult<Option<String>> {
        let t = self.next();
        match t.tok {
            Tok::RangeGoop(g) => {
                if g == "*" {
                    Ok(None)
                } else {
                    Ok(Some(discard_escapes(&g).map_err(Failure::Syntax)?))
                }
            }
            Tok::RangeQuoted(q) => Ok(Some(discard_escapes(&q).map_err(Failure::Syntax)?)),
            Tok::RangeTo => Ok(Some("TO".into())),
            _ => {
                self.pos -= 1;
                Err(self.unexpected())
            }
        }
    }

    fn bare_token(&mut self, field: Option<&str>, tok: Tok, fuzzy: Option<String>) -> PResult<QueryAst> {
        match tok {
            Tok::Star => self.wildcard(field, "*".into()),
            Tok::WildTerm(image) => self.wildcard(field, image),
            Tok::PrefixTerm(image) => {
                let body = image.strip_suffix('*').unwrap_or(&image);
                let text = discard_escapes(body).map_err(Failure::Syntax)?;
                Ok(self.per_field(field, |f| {
                    QueryAst::Prefix(PrefixQuery {
                        field: f.to_string(),
                        value: text.clone(),
                        case_insensitive: false,
                        rewrite: self.qs.rewrite.clone(),
                        normalize: true,
                        boost: 1.0,
                        name: None,
                    })
                }))
            }
            Tok::RegexpTerm(inner) => Ok(self.per_field(field, |f| {
                QueryAst::Regexp(RegexpQuery {
                    field: f.to_string(),
                    value: inner.clone(),
                    flags: regexp_flags::ALL,
                    case_insensitive: false,
                    max_determinized_states: self.qs.max_determinized_states,
                    rewrite: self.qs.rewrite.clone(),
                    boost: 1.0,
                    name: None,
                })
            })),
            Tok::Term(image) | Tok::Number(image) => {
                let text = discard_escapes(&image).map_err(Failure::Syntax)?;
                match fuzzy {
                    Some(slop) => self.fuzzy(field, text, &slop),
                    None => self.field_query(field, text, false, 0),
                }
            }
            Tok::BareOper(c) => self.field_query(field, c.to_string(), false, 0),
            _ => Err(self.unexpected()),
        }
    }

    /// The fields a clause searches: its explicit field (expanded) or the default fields.
    fn fields_for(&self, field: Option<&str>) -> Vec<(String, f32)> {
        match field {
            Some(f) => expand_fields(&[(f.to_string(), 1.0)], self.resolver),
            None => self.default_fields.clone(),
        }
    }

    fn searches_all_fields(&self, field: Option<&str>) -> bool {
        match field {
            Some(f) => f == "*",
            None => self.all_fields,
        }
    }

    fn lenient(&self, field: Option<&str>) -> bool {
        self.qs.lenient.unwrap_or_else(|| self.searches_all_fields(field))
    }

    fn per_field(&self, field: Option<&str>, make: impl Fn(&str) -> QueryAst) -> QueryAst {
        let per_field = self.fields_for(field).into_iter().map(|(f, boost)| boosted(make(&f), boost)).collect();
        combine_fields(per_field, self.qs.match_type == MultiMatchType::MostFields, self.qs.tie_breaker.unwrap_or(0.0))
    }

    fn field_query(&mut self, field: Option<&str>, text: String, quoted: bool, slop: u32) -> PResult<QueryAst> {
        if field == Some("_exists_") {
            let fields = expand_fields(&[(text, 1.0)], self.resolver);
            let exists: Vec<QueryAst> = fields
                .into_iter()
                .map(|(f, _)| QueryAst::Exists(ExistsQuery { field: f, boost: 1.0, name: None }))
                .collect();
            return Ok(combine_fields(exists, true, 0.0));
        }
        if !quoted && let Some(f) = field {
            let chars: Vec<char> = text.chars().collect();
            if chars.len() > 1 && (chars[0] == '>' || chars[0] == '<') {
                let inclusive = chars.len() > 2 && chars[1] == '=';
                let rest: String = chars[if inclusive { 2 } else { 1 }..].iter().collect();
                return if chars[0] == '>' {
                    self.range(Some(f), Some(rest), None, inclusive, true)
                } else {
                    self.range(Some(f), None, Some(rest), true, inclusive)
                };
            }
        }
        let lenient = self.lenient(field);
        let qs = self.qs;
        let phrase = quoted || matches!(qs.match_type, MultiMatchType::Phrase);
        Ok(self.per_field(field, |f| {
            if phrase {
                QueryAst::MatchPhrase(MatchPhraseQuery {
                    field: f.to_string(),
                    query: text.clone(),
                    slop,
                    analyzer: qs.quote_analyzer.clone().or_else(|| qs.analyzer.clone()),
                    zero_terms_query: ZeroTermsQuery::Null,
                    boost: 1.0,
                    name: None,
                })
            } else {
                let mut m = MatchQuery::new(f, Value::String(text.clone()));
                m.operator = qs.default_operator;
                m.analyzer = qs.analyzer.clone();
                m.lenient = lenient;
                m.zero_terms_query = ZeroTermsQuery::Null;
                m.auto_generate_synonyms_phrase_query = qs.auto_generate_synonyms_phrase_query;
                QueryAst::Match(m)
            }
        }))
    }

    fn range(
        &mut self,
        field: Option<&str>,
        lower: Option<String>,
        upper: Option<String>,
        include_lower: bool,
        include_upper: bool,
    ) -> PResult<QueryAst> {
        let qs = self.qs;
        Ok(self.per_field(field, |f| {
            if lower.is_none() && upper.is_none() {
                return QueryAst::Exists(ExistsQuery { field: f.to_string(), boost: 1.0, name: None });
            }
            let mut r = RangeQuery::new(f);
            let lo = lower.clone().map(Value::String);
            let hi = upper.clone().map(Value::String);
            if include_lower {
                r.gte = lo;
            } else {
                r.gt = lo;
            }
            if include_upper {
                r.lte = hi;
            } else {
                r.lt = hi;
            }
            r.time_zone = qs.time_zone.clone();
            QueryAst::Range(r)
        }))
    }

    fn wildcard(&mut self, field: Option<&str>, image: String) -> PResult<QueryAst> {
        if image == "*" {
            if self.searches_all_fields(field) {
                return Ok(QueryAst::match_all());
            }
            return Ok(self
                .per_field(field, |f| QueryAst::Exists(ExistsQuery { field: f.to_string(), boost: 1.0, name: None })));
        }
        if !self.qs.allow_leading_wildcard && (image.starts_with('*') || image.starts_with('?')) {
            return Err(Failure::Syntax("'*' or '?' not allowed as first character in WildcardQuery".into()));
        }
        let qs = self.qs;
        Ok(self.per_field(field, |f| {
            QueryAst::Wildcard(WildcardQuery {
                field: f.to_string(),
                value: image.clone(),
                case_insensitive: false,
                rewrite: qs.rewrite.clone(),
                normalize: true,
                boost: 1.0,
                name: None,
            })
        }))
    }

    fn fuzzy(&mut self, field: Option<&str>, text: String, slop: &str) -> PResult<QueryAst> {
        let term_len = text.chars().count();
        let fuzziness = if slop.is_empty() { self.qs.fuzziness } else { Fuzziness::parse_str(slop)? };
        let edits = Fuzziness::from_edits(i32::from(fuzziness.edits_for(term_len)))?;
        let qs = self.qs;
        Ok(self.per_field(field, |f| {
            QueryAst::Fuzzy(FuzzyQuery {
                field: f.to_string(),
                value: Value::String(text.clone()),
                fuzziness: edits,
                prefix_length: qs.fuzzy_prefix_length,
                max_expansions: qs.fuzzy_max_expansions,
                transpositions: qs.fuzzy_transpositions,
                rewrite: qs.fuzzy_rewrite.clone(),
                normalize: true,
                boost: 1.0,
                name: None,
            })
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msm::{MinimumShouldMatch, MsmValue};
    use serde_json::json;

    fn qs(query: &str) -> QueryStringQuery {
        let mut q = QueryStringQuery::new(query);
        q.default_field = Some("body".into());
        q
    }

    fn parse(q: &QueryStringQuery) -> QueryAst {
        match parse_query_string(q, &LiteralFields) {
            Ok(a) => a,
            Err(e) => panic!("{}: {e:?}", q.query),
        }
    }

    fn p(query: &str) -> QueryAst {
        parse(&qs(query))
    }

    fn m(field: &str, text: &str) -> QueryAst {
        let mut m = MatchQuery::new(field, json!(text));
        m.zero_terms_query = ZeroTermsQuery::Null;
        QueryAst::Match(m)
    }

    fn bool_of(must: Vec<QueryAst>, should: Vec<QueryAst>, must_not: Vec<QueryAst>) -> QueryAst {
        QueryAst::Bool(BoolQuery { must, should, must_not, ..BoolQuery::default() })
    }

    #[test]
    fn single_terms_and_fields() {
        assert_eq!(p("fox"), m("body", "fox"));
        assert_eq!(p("title:fox"), m("title", "fox"));
        assert_eq!(p("title:\"quick fox\"~2"), {
            let mut ph = MatchPhraseQuery::new("title", "quick fox");
            ph.slop = 2;
            ph.zero_terms_query = ZeroTermsQuery::Null;
            QueryAst::MatchPhrase(ph)
        });
        assert_eq!(p("fox^2").boost(), 2.0);
        assert_eq!(p("a\\:b"), m("body", "a:b"));
        assert_eq!(p("  "), QueryAst::match_none());
    }

    #[test]
    fn boolean_operators_follow_lucene() {
        assert_eq!(p("a b"), bool_of(vec![], vec![m("body", "a"), m("body", "b")], vec![]));
        assert_eq!(p("a AND b"), bool_of(vec![m("body", "a"), m("body", "b")], vec![], vec![]));
        assert_eq!(p("a && b || c"), bool_of(vec![m("body", "a"), m("body", "b")], vec![m("body", "c")], vec![]));
        assert_eq!(p("+a -b c"), bool_of(vec![m("body", "a")], vec![m("body", "c")], vec![m("body", "b")]));
        assert_eq!(p("a AND NOT b"), bool_of(vec![m("body", "a")], vec![], vec![m("body", "b")]));
        assert_eq!(p("NOT b"), bool_of(vec![], vec![], vec![m("body", "b")]));
        assert_eq!(p("!b"), bool_of(vec![], vec![], vec![m("body", "b")]));
        let mut and = qs("a b OR c");
        and.default_operator = Operator::And;
        let m_and = |t: &str| match m("body", t) {
            QueryAst::Match(mut q) => {
                q.operator = Operator::And;
                QueryAst::Match(q)
            }
            q => q,
        };
        assert_eq!(parse(&and), bool_of(vec![m_and("a")], vec![m_and("b"), m_and("c")], vec![]));
    }

    #[test]
    fn groups_and_field_groups() {
        assert_eq!(
            p("(a OR b) AND c"),
            bool_of(
                vec![bool_of(vec![], vec![m("body", "a"), m("body", "b")], vec![]), m("body", "c")],
                vec![],
                vec![]
            )
        );
        assert_eq!(
            p("title:(a b)^3"),
            QueryAst::Bool(BoolQuery {
                should: vec![m("title", "a"), m("title", "b")],
                boost: 3.0,
                ..BoolQuery::default()
            })
        );
    }

    #[test]
    fn multi_term_kinds() {
        let QueryAst::Prefix(pr) = p("qui*") else { panic!() };
        assert_eq!((pr.value.as_str(), pr.normalize), ("qui", true));
        let QueryAst::Wildcard(w) = p("qu?ck*x") else { panic!() };
        assert_eq!(w.value, "qu?ck*x");
        let QueryAst::Regexp(r) = p("name:/joh?n(ath[oa]n)/") else { panic!() };
        assert_eq!((r.field.as_str(), r.value.as_str()), ("name", "joh?n(ath[oa]n)"));
        let QueryAst::Fuzzy(f) = p("quikc~") else { panic!() };
        assert_eq!(f.fuzziness, Fuzziness::Edits(1), "AUTO on a 5-letter term");
        let QueryAst::Fuzzy(f) = p("quikc~2") else { panic!() };
        assert_eq!(f.fuzziness, Fuzziness::Edits(2));
        assert_eq!(
            p("_exists_:title"),
            QueryAst::Exists(ExistsQuery { field: "title".into(), boost: 1.0, name: None })
        );
        assert_eq!(p("title:*"), QueryAst::Exists(ExistsQuery { field: "title".into(), boost: 1.0, name: None }));
        assert_eq!(p("*:*"), QueryAst::match_all());
    }

    #[test]
    fn ranges() {
        let QueryAst::Range(r) = p("age:[10 TO 20}") else { panic!() };
        assert_eq!((r.gte, r.lt), (Some(json!("10")), Some(json!("20"))));
        let QueryAst::Range(r) = p("date:{* TO 2012-01-01]") else { panic!() };
        assert_eq!((r.gt, r.gte, r.lte), (None, None, Some(json!("2012-01-01"))));
        let QueryAst::Range(r) = p("age:>=5") else { panic!() };
        assert_eq!(r.gte, Some(json!("5")));
        let QueryAst::Range(r) = p("age:<5") else { panic!() };
        assert_eq!(r.lt, Some(json!("5")));
        let QueryAst::Range(r) = p("name:[\"a b\" TO c]") else { panic!() };
        assert_eq!(r.gte, Some(json!("a b")));
        assert!(matches!(p("age:[* TO *]"), QueryAst::Exists(_)));
    }

    #[test]
    fn multiple_default_fields() {
        let mut q = QueryStringQuery::new("fox");
        q.fields = vec![("title".into(), 2.0), ("body".into(), 1.0)];
        q.tie_breaker = Some(0.3);
        let QueryAst::DisMax(d) = parse(&q) else { panic!() };
        assert_eq!(d.tie_breaker, 0.3);
        assert_eq!(d.queries[0].boost(), 2.0);
        q.match_type = MultiMatchType::MostFields;
        assert!(matches!(parse(&q), QueryAst::Bool(_)));

        let resolver =
            |p: &str| -> Vec<String> { if p == "*" { vec!["a".into(), "b".into()] } else { vec![p.to_string()] } };
        let q = QueryStringQuery::new("fox");
        let QueryAst::DisMax(d) = parse_query_string(&q, &resolver).unwrap_or_else(|e| panic!("{e}")) else { panic!() };
        let QueryAst::Match(first) = &d.queries[0] else { panic!() };
        assert!(first.lenient, "searching all fields is lenient, as in ES");
    }

    #[test]
    fn options_apply() {
        let mut q = qs("a b");
        q.minimum_should_match = Some(MinimumShouldMatch::Simple(MsmValue::Count(2)));
        q.boost = 2.0;
        q.name = Some("n".into());
        let QueryAst::Bool(b) = parse(&q) else { panic!() };
        assert_eq!(b.minimum_should_match, q.minimum_should_match);
        assert_eq!(b.boost, 2.0);
        assert_eq!(b.name.as_deref(), Some("n"));
    }

    #[test]
    fn syntax_errors() {
        for bad in ["a AND", "(a", "a)", "title:", "[1 TO", "a^", "\"unclosed", "a \\", "()", "]"] {
            let err = parse_query_string(&qs(bad), &LiteralFields);
            let Err(e) = err else { panic!("{bad} should fail: {err:?}") };
            assert_eq!(e.es_type(), "query_shard_exception", "{bad}");
            assert_eq!(e.to_string(), format!("Failed to parse query [{bad}]"));
            assert_eq!(e.root().es_type(), "parse_exception");
            assert!(e.root().to_string().starts_with(&format!("Cannot parse '{bad}': ")));
        }
        let mut q = qs("*foo");
        q.allow_leading_wildcard = false;
        assert!(parse_query_string(&q, &LiteralFields).is_err());
        let deep = format!("{}a{}", "(".repeat(500), ")".repeat(500));
        assert!(parse_query_string(&qs(&deep), &LiteralFields).is_err());
        assert!(parse_query_string(&qs("a~3"), &LiteralFields).is_err());
    }
}
