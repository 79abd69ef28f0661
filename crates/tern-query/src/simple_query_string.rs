//! The `simple_query_string` syntax (Lucene's `SimpleQueryParser`) into a [`QueryAst`].
//!
//! The syntax never fails: `+` (AND), `|` (OR), `-` (NOT), `"phrase"`, `"phrase"~N` (slop),
//! `term~N` (fuzzy), `prefix*`, `( )` and `\` escapes, each enabled by a flag (a disabled
//! operator is searched as text). An unbalanced `"` or `(` is ignored. Whitespace means
//! `default_operator`.
//!
//! Like Lucene, operators are applied left to right without precedence: when the operator changes,
//! everything so far becomes one clause of a new boolean query. A negated clause is
//! `bool(must_not: clause, should: match_all)`, which is why `a -b` with the default `OR` operator
//! also matches documents without `b` that lack `a` (ES documents this).
//!
//! Each term searches every field; several fields combine in a `dis_max` with tie breaker 1.0, as
//! ES's `SimpleQueryStringQueryParser` does.

use serde_json::Value;

use crate::ast::{
    BoolQuery, FuzzyQuery, MatchPhraseQuery, MatchQuery, Operator, PrefixQuery, QueryAst, SimpleQueryStringQuery,
    ZeroTermsQuery, simple_flags,
};
use crate::error::QueryResult;
use crate::fuzziness::Fuzziness;
use crate::query_string::{FieldResolver, boosted, combine_fields, expand_fields};

/// How deeply parentheses may nest; deeper ones are ignored (protects the stack).
pub const MAX_GROUP_DEPTH: usize = 100;

#[derive(Clone, Copy, PartialEq)]
enum Occur {
    Must,
    Should,
}

/// A boolean tree under construction (Lucene's `BooleanQuery.Builder` snapshots).
#[derive(Clone)]
enum Node {
    Leaf(Box<QueryAst>),
    Bool(Vec<(Occur, Node)>),
}

impl Node {
    fn into_ast(self) -> QueryAst {
        match self {
            Node::Leaf(q) => *q,
            Node::Bool(clauses) => {
                let mut b = BoolQuery::default();
                for (occur, n) in clauses {
                    match occur {
                        Occur::Must => b.must.push(n.into_ast()),
                        Occur::Should => b.should.push(n.into_ast()),
                    }
                }
                QueryAst::Bool(b)
            }
        }
    }
}

struct State {
    end: usize,
    index: usize,
    top: Option<Node>,
    previous: Option<Occur>,
    current: Option<Occur>,
    not: u32,
}

impl State {
    fn new(start: usize, end: usize) -> Self {
        State { end, index: start, top: None, previous: None, current: None, not: 0 }
    }
}

/// Parses `q.query` into a [`QueryAst`], expanding `q.fields` with `resolver` (an empty field
/// list means `*`, ES's default `index.query.default_field`).
pub fn parse_simple_query_string(q: &SimpleQueryStringQuery, resolver: &dyn FieldResolver) -> QueryResult<QueryAst> {
    let patterns = if q.fields.is_empty() { vec![("*".to_string(), 1.0)] } else { q.fields.clone() };
    let all_fields = patterns.len() == 1 && patterns[0].0 == "*";
    let parser = SimpleParser {
        q,
        chars: q.query.chars().collect(),
        fields: expand_fields(&patterns, resolver),
        lenient: q.lenient.unwrap_or(all_fields),
        default_occur: match q.default_operator {
            Operator::And => Occur::Must,
            Operator::Or => Occur::Should,
        },
    };
    let mut state = State::new(0, parser.chars.len());
    parser.parse_sub_query(&mut state, 0);
    let mut result = match state.top {
        None => QueryAst::match_none(),
        Some(node) => node.into_ast(),
    };
    if let (QueryAst::Bool(b), Some(msm)) = (&mut result, &q.minimum_should_match) {
        b.minimum_should_match = Some(msm.clone());
    }
    result = boosted(result, q.boost);
    if q.name.is_some() {
        result.set_name(q.name.clone());
    }
    Ok(result)
}

struct SimpleParser<'a> {
    q: &'a SimpleQueryStringQuery,
    chars: Vec<char>,
    fields: Vec<(String, f32)>,
    lenient: bool,
    default_occur: Occur,
}

fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

impl SimpleParser<'_> {
    fn on(&self, flag: u32) -> bool {
        self.q.flags & flag != 0
    }

    fn parse_sub_query(&self, state: &mut State, depth: usize) {
        while state.index < state.end {
            let c = self.chars[state.index];
            if c == '(' && self.on(simple_flags::PRECEDENCE) {
                self.consume_sub_query(state, depth);
            } else if c == ')' && self.on(simple_flags::PRECEDENCE) {
                // An extraneous closing parenthesis is ignored.
                state.index += 1;
            } else if c == '"' && self.on(simple_flags::PHRASE) {
                self.consume_phrase(state);
            } else if c == '+' && self.on(simple_flags::AND) {
                if state.current.is_none() && state.top.is_some() {
                    state.current = Some(Occur::Must);
                }
                state.index += 1;
            } else if c == '|' && self.on(simple_flags::OR) {
                if state.current.is_none() && state.top.is_some() {
                    state.current = Some(Occur::Should);
                }
                state.index += 1;
            } else if c == '-' && self.on(simple_flags::NOT) {
                state.not += 1;
                state.index += 1;
                // The negation applies to what follows, so it must survive this iteration.
                continue;
            } else if is_ws(c) && self.on(simple_flags::WHITESPACE) {
                state.index += 1;
            } else {
                self.consume_token(state);
            }
            state.not = 0;
        }
    }

    fn consume_sub_query(&self, state: &mut State, depth: usize) {
        state.index += 1;
        if depth >= MAX_GROUP_DEPTH {
            // Too deep: this parenthesis is ignored, as an unbalanced one would be.
            return;
        }
        let start = state.index;
        let mut precedence = 1;
        let mut escaped = false;
        while state.index < state.end {
            let c = self.chars[state.index];
            if !escaped {
                if c == '\\' && self.on(simple_flags::ESCAPE) {
                    escaped = true;
                    state.index += 1;
                    continue;
                } else if c == '(' {
                    precedence += 1;
                } else if c == ')' {
                    precedence -= 1;
                    if precedence == 0 {
                        break;
                    }
                }
            }
            escaped = false;
            state.index += 1;
        }
        if state.index == state.end {
            // No closing parenthesis: the opening one is ignored.
            state.index = start;
        } else if state.index == start {
            // `()`: nothing to apply the pending operator to.
            state.current = None;
            state.index += 1;
        } else {
            let mut sub = State::new(start, state.index);
            self.parse_sub_query(&mut sub, depth + 1);
            if let Some(top) = sub.top {
                self.build_tree(state, top);
            }
            state.index += 1;
        }
    }

    fn consume_phrase(&self, state: &mut State) {
        state.index += 1;
        let start = state.index;
        let mut buffer = String::new();
        let mut escaped = false;
        let mut has_slop = false;
        while state.index < state.end {
            let c = self.chars[state.index];
            if !escaped {
                if c == '\\' && self.on(simple_flags::ESCAPE) {
                    escaped = true;
                    state.index += 1;
                    continue;
                } else if c == '"' {
                    if state.index + 1 < state.end && self.chars[state.index + 1] == '~' && self.on(simple_flags::NEAR)
                    {
                        state.index += 1;
                        if state.index + 1 < state.end {
                            has_slop = true;
                        }
                    }
                    break;
                }
            }
            escaped = false;
            buffer.push(c);
            state.index += 1;
        }
        if state.index == state.end {
            // No closing quote: the opening one is ignored.
            state.index = start;
        } else if state.index == start {
            // `""`: nothing to apply the pending operator to.
            state.current = None;
            state.index += 1;
        } else {
            let slop = if has_slop { self.parse_fuzziness(state) } else { 0 };
            let branch = self.phrase(&buffer, slop);
            self.build_tree(state, branch);
            state.index += 1;
        }
    }

    fn consume_token(&self, state: &mut State) {
        let mut buffer: Vec<char> = Vec::new();
        let mut escaped = false;
        let mut prefix = false;
        let mut fuzzy = false;
        while state.index < state.end {
            let c = self.chars[state.index];
            if !escaped {
                if c == '\\' && self.on(simple_flags::ESCAPE) {
                    escaped = true;
                    prefix = false;
                    state.index += 1;
                    continue;
                } else if self.token_finished(c) {
                    break;
                } else if !buffer.is_empty() && c == '~' && self.on(simple_flags::FUZZY) {
                    fuzzy = true;
                    break;
                }
                prefix = !buffer.is_empty() && c == '*' && self.on(simple_flags::PREFIX);
            }
            escaped = false;
            buffer.push(c);
            state.index += 1;
        }
        if buffer.is_empty() {
            return;
        }
        let branch = if fuzzy && self.on(simple_flags::FUZZY) {
            let token: String = buffer.iter().collect();
            let edits = self.parse_fuzziness(state).min(2);
            if edits == 0 { self.default_query(&token) } else { self.fuzzy(&token, edits as u8) }
        } else if prefix {
            let token: String = buffer[..buffer.len() - 1].iter().collect();
            self.prefix(&token)
        } else {
            let token: String = buffer.iter().collect();
            self.default_query(&token)
        };
        self.build_tree(state, branch);
    }

    /// Reads the number after a `~` (at `state.index`); `~` alone means 2; garbage means 0.
    fn parse_fuzziness(&self, state: &mut State) -> u32 {
        if state.index >= state.end || self.chars[state.index] != '~' {
            return 0;
        }
        let mut text = String::new();
        while state.index < state.end {
            state.index += 1;
            if state.index < state.end {
                let c = self.chars[state.index];
                if self.token_finished(c) {
                    break;
                }
                text.push(c);
            }
        }
        if text.is_empty() {
            return 2;
        }
        text.parse::<i64>().ok().map_or(0, |n| u32::try_from(n.max(0)).unwrap_or(u32::MAX))
    }

    fn token_finished(&self, c: char) -> bool {
        (c == '"' && self.on(simple_flags::PHRASE))
            || (c == '|' && self.on(simple_flags::OR))
            || (c == '+' && self.on(simple_flags::AND))
            || ((c == '(' || c == ')') && self.on(simple_flags::PRECEDENCE))
            || (is_ws(c) && self.on(simple_flags::WHITESPACE))
    }

    /// Lucene's `buildQueryTree`.
    fn build_tree(&self, state: &mut State, branch: impl Into<Node>) {
        let mut branch: Node = branch.into();
        if state.not % 2 == 1 {
            branch = Node::Leaf(Box::new(QueryAst::Bool(BoolQuery {
                must_not: vec![branch.into_ast()],
                should: vec![QueryAst::match_all()],
                ..BoolQuery::default()
            })));
        }
        match state.top.take() {
            None => state.top = Some(branch),
            Some(top) => {
                let current = state.current.unwrap_or(self.default_occur);
                let top = if state.previous != Some(current) { Node::Bool(vec![(current, top)]) } else { top };
                let mut clauses = match top {
                    Node::Bool(c) => c,
                    leaf => vec![(current, leaf)],
                };
                clauses.push((current, branch));
                state.top = Some(Node::Bool(clauses));
                state.previous = Some(current);
            }
        }
        state.current = None;
    }

    fn per_field(&self, make: impl Fn(&str) -> QueryAst) -> QueryAst {
        let per_field = self.fields.iter().map(|(f, boost)| boosted(make(f), *boost)).collect();
        combine_fields(per_field, false, 1.0)
    }

    fn default_query(&self, text: &str) -> QueryAst {
        self.per_field(|f| {
            let mut m = MatchQuery::new(f, Value::String(text.to_string()));
            m.operator = self.q.default_operator;
            m.analyzer = self.q.analyzer.clone();
            m.lenient = self.lenient;
            m.zero_terms_query = ZeroTermsQuery::Null;
            m.auto_generate_synonyms_phrase_query = self.q.auto_generate_synonyms_phrase_query;
            QueryAst::Match(m)
        })
    }

    fn phrase(&self, text: &str, slop: u32) -> QueryAst {
        self.per_field(|f| {
            QueryAst::MatchPhrase(MatchPhraseQuery {
                field: f.to_string(),
                query: text.to_string(),
                slop,
                analyzer: self.q.analyzer.clone(),
                zero_terms_query: ZeroTermsQuery::Null,
                boost: 1.0,
                name: None,
            })
        })
    }

    fn prefix(&self, text: &str) -> QueryAst {
        self.per_field(|f| {
            QueryAst::Prefix(PrefixQuery {
                field: f.to_string(),
                value: text.to_string(),
                case_insensitive: false,
                rewrite: None,
                normalize: true,
                boost: 1.0,
                name: None,
            })
        })
    }

    fn fuzzy(&self, text: &str, edits: u8) -> QueryAst {
        self.per_field(|f| {
            QueryAst::Fuzzy(FuzzyQuery {
                field: f.to_string(),
                value: Value::String(text.to_string()),
                fuzziness: Fuzziness::Edits(edits),
                prefix_length: self.q.fuzzy_prefix_length,
                max_expansions: self.q.fuzzy_max_expansions,
                transpositions: self.q.fuzzy_transpositions,
                rewrite: None,
                normalize: true,
                boost: 1.0,
                name: None,
            })
        })
    }
}

impl From<QueryAst> for Node {
    fn from(q: QueryAst) -> Self {
        Node::Leaf(Box::new(q))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query_string::LiteralFields;
    use serde_json::json;

    fn sqs(query: &str) -> SimpleQueryStringQuery {
        let mut q = SimpleQueryStringQuery::new(query);
        q.fields = vec![("body".into(), 1.0)];
        q
    }

    fn parse(q: &SimpleQueryStringQuery) -> QueryAst {
        match parse_simple_query_string(q, &LiteralFields) {
            Ok(a) => a,
            Err(e) => panic!("{e}"),
        }
    }

    fn p(query: &str) -> QueryAst {
        parse(&sqs(query))
    }

    fn m(text: &str) -> QueryAst {
        let mut m = MatchQuery::new("body", json!(text));
        m.zero_terms_query = ZeroTermsQuery::Null;
        QueryAst::Match(m)
    }

    fn should(v: Vec<QueryAst>) -> QueryAst {
        QueryAst::Bool(BoolQuery { should: v, ..BoolQuery::default() })
    }

    fn must(v: Vec<QueryAst>) -> QueryAst {
        QueryAst::Bool(BoolQuery { must: v, ..BoolQuery::default() })
    }

    fn not(q: QueryAst) -> QueryAst {
        QueryAst::Bool(BoolQuery { must_not: vec![q], should: vec![QueryAst::match_all()], ..BoolQuery::default() })
    }

    #[test]
    fn terms_and_operators() {
        assert_eq!(p("fox"), m("fox"));
        assert_eq!(p("quick fox"), should(vec![m("quick"), m("fox")]));
        assert_eq!(p("quick + fox"), must(vec![m("quick"), m("fox")]));
        assert_eq!(p("a | b | c"), should(vec![m("a"), m("b"), m("c")]));
        // Left to right, no precedence: (a AND b) OR c.
        assert_eq!(p("a + b | c"), should(vec![must(vec![m("a"), m("b")]), m("c")]));
        assert_eq!(p("a -b"), should(vec![m("a"), not(m("b"))]));
        assert_eq!(p("--a"), m("a"), "double negation cancels");
        assert_eq!(p(""), QueryAst::match_none());
        assert_eq!(p("   "), QueryAst::match_none());
    }

    #[test]
    fn default_operator_and() {
        let mut q = sqs("quick fox");
        q.default_operator = Operator::And;
        let QueryAst::Bool(b) = parse(&q) else { panic!() };
        assert_eq!(b.must.len(), 2);
    }

    #[test]
    fn phrases_prefixes_fuzzy_groups() {
        let QueryAst::MatchPhrase(ph) = p("\"quick fox\"~3") else { panic!() };
        assert_eq!((ph.query.as_str(), ph.slop), ("quick fox", 3));
        let QueryAst::Prefix(pr) = p("qui*") else { panic!() };
        assert_eq!(pr.value, "qui");
        let QueryAst::Fuzzy(f) = p("quikc~1") else { panic!() };
        assert_eq!(f.fuzziness, Fuzziness::Edits(1));
        let QueryAst::Fuzzy(f) = p("quikc~") else { panic!() };
        assert_eq!(f.fuzziness, Fuzziness::Edits(2));
        assert_eq!(p("quikc~0"), m("quikc"));
        assert_eq!(p("(a | b) + c"), must(vec![should(vec![m("a"), m("b")]), m("c")]));
        // Unbalanced quotes and parentheses are ignored.
        assert_eq!(p("\"abc"), m("abc"));
        assert_eq!(p("(abc"), m("abc"));
        assert_eq!(p("a\\+b"), m("a+b"));
    }

    #[test]
    fn flags_disable_syntax() {
        let mut q = sqs("a + b*");
        q.flags = simple_flags::WHITESPACE;
        assert_eq!(parse(&q), should(vec![m("a"), m("+"), m("b*")]));
    }

    #[test]
    fn multiple_fields_use_dis_max_with_tie_1() {
        let mut q = SimpleQueryStringQuery::new("fox");
        q.fields = vec![("title".into(), 3.0), ("body".into(), 1.0)];
        let QueryAst::DisMax(d) = parse(&q) else { panic!() };
        assert_eq!(d.tie_breaker, 1.0);
        assert_eq!(d.queries[0].boost(), 3.0);
    }

    #[test]
    fn deep_groups_do_not_overflow() {
        let deep = format!("{}a{}", "(".repeat(5_000), ")".repeat(5_000));
        assert!(parse_simple_query_string(&sqs(&deep), &LiteralFields).is_ok());
    }
}
