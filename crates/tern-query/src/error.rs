//! The errors a query or search body can fail with, named after the Java exception ES throws for the
//! same input so that clients see the same `error.type` and (as far as tern can know it) `reason`.
//!
//! ES prefixes many reasons with a `[line:col]` position in the request body. tern parses bodies into
//! a `serde_json::Value` first, which has no positions, so the reasons here come without that prefix.

use tern_common::{ErrorKind, EsError};

/// Why a query, a search body or a query string could not be parsed.
///
/// Every variant maps to one ES exception type; see [`QueryError::es_type`]. Wrapping variants
/// (`XContentParse`, `QueryShard`) keep the inner error as their cause, as ES does.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    /// `parsing_exception`: the request is malformed for the DSL (unknown query, unknown key, ...).
    #[error("{0}")]
    Parsing(String),
    /// `x_content_parse_exception`: a value of the wrong JSON type, or an object parser rejecting a
    /// field. `cause` is the error the field's own parser raised, if any.
    #[error("{reason}")]
    XContentParse { reason: String, cause: Option<Box<QueryError>> },
    /// `illegal_argument_exception`.
    #[error("{0}")]
    IllegalArgument(String),
    /// `number_format_exception` (a Java `NumberFormatException`, status 400).
    #[error("{0}")]
    NumberFormat(String),
    /// `parse_exception` (ES's `ElasticsearchParseException`, status 400).
    #[error("{0}")]
    Parse(String),
    /// `action_request_validation_exception` with numbered messages.
    #[error("Validation Failed: {}", numbered(.0))]
    Validation(Vec<String>),
    /// `query_shard_exception`: a query that parsed but cannot be built, e.g. a `query_string` whose
    /// syntax is wrong (ES only parses that syntax on the shard).
    #[error("{reason}")]
    QueryShard { reason: String, cause: Option<Box<QueryError>> },
    /// A feature ES has and tern does not (scripts, runtime fields, kNN, geo and span queries...).
    /// Rendered as `illegal_argument_exception` with a reason that says so.
    #[error("{0}")]
    Unsupported(String),
}

fn numbered(messages: &[String]) -> String {
    let mut out = String::new();
    for (i, m) in messages.iter().enumerate() {
        out.push_str(&format!("{}: {};", i + 1, m));
    }
    out
}

pub type QueryResult<T> = Result<T, QueryError>;

impl QueryError {
    pub(crate) fn parsing(reason: impl Into<String>) -> Self {
        QueryError::Parsing(reason.into())
    }

    pub(crate) fn illegal(reason: impl Into<String>) -> Self {
        QueryError::IllegalArgument(reason.into())
    }

    pub(crate) fn x_content(reason: impl Into<String>) -> Self {
        QueryError::XContentParse { reason: reason.into(), cause: None }
    }

    pub(crate) fn x_content_caused(reason: impl Into<String>, cause: QueryError) -> Self {
        QueryError::XContentParse { reason: reason.into(), cause: Some(Box::new(cause)) }
    }

    pub(crate) fn unsupported(reason: impl Into<String>) -> Self {
        QueryError::Unsupported(reason.into())
    }

    /// The `error.type` ES renders for this error.
    pub fn es_type(&self) -> &'static str {
        match self {
            QueryError::Parsing(_) => "parsing_exception",
            QueryError::XContentParse { .. } => "x_content_parse_exception",
            QueryError::IllegalArgument(_) | QueryError::Unsupported(_) => "illegal_argument_exception",
            QueryError::NumberFormat(_) => "number_format_exception",
            QueryError::Parse(_) => "parse_exception",
            QueryError::Validation(_) => "action_request_validation_exception",
            QueryError::QueryShard { .. } => "query_shard_exception",
        }
    }

    /// The reason string, without the cause chain.
    pub fn reason(&self) -> String {
        self.to_string()
    }

    /// The wrapped cause, for the wrapping variants.
    pub fn cause(&self) -> Option<&QueryError> {
        match self {
            QueryError::XContentParse { cause, .. } | QueryError::QueryShard { cause, .. } => cause.as_deref(),
            _ => None,
        }
    }

    /// The innermost error of the cause chain.
    pub fn root(&self) -> &QueryError {
        let mut e = self;
        while let Some(c) = e.cause() {
            e = c;
        }
        e
    }
}

impl From<QueryError> for EsError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::Parsing(r) => EsError::new(ErrorKind::Parsing, r),
            QueryError::XContentParse { reason, cause } => {
                let err = EsError::new(ErrorKind::XContentParse, reason);
                match cause {
                    Some(c) => err.caused_by(EsError::from(*c)),
                    None => err,
                }
            }
            QueryError::IllegalArgument(r) | QueryError::Unsupported(r) => EsError::new(ErrorKind::IllegalArgument, r),
            QueryError::NumberFormat(r) => {
                EsError::new(ErrorKind::IllegalArgument, r).with_type("number_format_exception")
            }
            QueryError::Parse(r) => EsError::new(ErrorKind::Parsing, r).with_type("parse_exception"),
            QueryError::Validation(messages) => EsError::validation(&messages),
            QueryError::QueryShard { reason, cause } => {
                let err = EsError::new(ErrorKind::QueryShardException, reason);
                match cause {
                    Some(c) => err.caused_by(EsError::from(*c)),
                    None => err,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_to_es_types_and_keeps_causes() {
        let e = QueryError::x_content_caused(
            "[bool] failed to parse field [must]",
            QueryError::parsing("unknown query [foo]"),
        );
        let es: EsError = e.clone().into();
        assert_eq!(es.es_type(), "x_content_parse_exception");
        assert_eq!(es.status(), 400);
        let cause = es.caused_by.as_deref().map(|c| c.es_type());
        assert_eq!(cause, Some("parsing_exception"));
        assert_eq!(e.root().reason(), "unknown query [foo]");

        let nf: EsError = QueryError::NumberFormat("For input string: \"x\"".into()).into();
        assert_eq!(nf.es_type(), "number_format_exception");
        assert_eq!(nf.status(), 400);

        let pe: EsError = QueryError::Parse("bad".into()).into();
        assert_eq!(pe.es_type(), "parse_exception");

        let v: EsError = QueryError::Validation(vec!["a".into()]).into();
        assert_eq!(v.reason, "Validation Failed: 1: a;");
        assert_eq!(QueryError::Validation(vec!["a".into(), "b".into()]).to_string(), "Validation Failed: 1: a;2: b;");
    }
}
