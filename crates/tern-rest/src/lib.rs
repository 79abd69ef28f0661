//! The Elasticsearch REST edge.
//!
//! One module per ES API family under [`api`], named after the REST spec's API ids so conformance
//! results map onto code. Handlers are thin: they validate parameters ([`params`]), call the node, and
//! render through [`context::Ctx`], which applies `pretty`, `filter_path` and media-type negotiation.
//! Every error, extractor rejections and unknown routes included, leaves through [`error::ApiError`],
//! the one renderer of ES's error envelope; every response carries `X-Elastic-Product`.

pub mod api;
pub mod context;
pub mod error;
pub mod filter_path;
pub mod params;
pub mod router;
pub mod source;

pub use router::{Plugin, router};
