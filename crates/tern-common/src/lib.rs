//! The bottom of tern's crate graph.
//!
//! Elasticsearch clients branch on two things when a request fails: the HTTP status and the
//! `error.type` string. Both are fixed by [`ErrorKind`], a closed vocabulary, so a crate cannot invent
//! an error type that no client knows. Every crate keeps its own `thiserror` enum and converts it into
//! an [`EsError`]; the REST edge renders an `EsError` into ES's JSON envelope in exactly one place.

mod error;

pub use error::{ErrorKind, EsError, EsResult, WireError};
