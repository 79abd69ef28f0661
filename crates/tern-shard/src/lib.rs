//! tern's shard engine: the only crate that imports tantivy.
//!
//! A shard is a tantivy index driven as a deterministic state machine ([`engine`]): raft decides the
//! order of [`ops::ShardCommand`]s, the engine applies them with Elasticsearch's document semantics
//! (versions, sequence numbers, optimistic concurrency, partial updates). Queries arrive as
//! `tern_query::QueryAst` and are compiled here, where the mapping and the tantivy schema meet.

pub mod aggs;
pub mod analysis;
pub mod commit_files;
pub mod engine;
pub mod highlight;
pub mod mapping_ext;
pub mod ops;
pub mod schema;

pub use engine::{ShardEngine, ShardIdent, ShardOptions, StoredDoc};
pub mod search;
pub mod wire;
