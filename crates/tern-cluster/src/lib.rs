//! Cluster metadata as a pure, deterministic state machine, plus Elasticsearch document routing.
//!
//! # The model
//!
//! [`ClusterMetadata`] is a plain value: the indices (settings, mappings, aliases, primary terms),
//! the composable and component templates, and the persistent/transient cluster settings. It changes
//! only through [`ClusterMetadata::apply`], which takes one [`MetadataCommand`] and the proposer's
//! clock reading, and either returns a [`MetadataOutcome`] or a [`ClusterError`] with ES's exact
//! error type and reason. A failed command leaves the state untouched (every command is
//! all-or-nothing, including multi-action `_aliases` requests), and `version` grows by one with each
//! command that changed something.
//!
//! # Why a pure state machine
//!
//! Today one node applies commands and persists the serialized state. Later the same commands are
//! entries of a raft log replicated over the master-eligible nodes (ES's elected master becomes the
//! raft leader), and every node applies them to its own copy. That only works if `apply` is a
//! function of `(state, command)`: the same log must produce byte-identical state on every node and
//! on every replay. So this crate does no IO, reads no clock, draws no random numbers, and iterates
//! only ordered maps. Everything non-deterministic — index uuids, the creation timestamp — is
//! chosen by the proposer *before* the command enters the log and travels inside it. Index
//! expressions inside commands (wildcards, aliases) are resolved at apply time against the state the
//! log has built, so concurrent proposals cannot race each other.
//!
//! Both the state and the commands are `serde` values; serde_json round-trips them (the commands
//! carry `serde_json::Value` bodies, so use a self-describing format such as JSON for log entries).
//!
//! # Routing
//!
//! [`routing`] reproduces ES's document-to-shard function bit for bit (murmur3 over the UTF-16LE
//! bytes of the routing value, `floorMod(hash, routing_num_shards) / routing_factor`), pinned by
//! ES's own test vectors.

pub mod alias;
pub mod allocation;
pub mod cluster_settings;
pub mod error;
pub mod metadata;
pub mod names;
pub mod options;
pub mod resolve;
pub mod routing;
pub mod settings;
pub mod template;
pub mod wildcard;

pub use alias::{AliasAction, AliasMetadata};
pub use allocation::{NodeDecision, ShardAllocation};
pub use cluster_settings::{AutoCreateIndex, cluster_setting_defaults, is_known_cluster_setting};
pub use error::{BlockDescription, ClusterError};
pub use metadata::{
    BlockLevel, ClusterMetadata, ComposedIndex, DiscoveryNode, IndexMetadata, IndexRef, IndexState, MetadataCommand,
    MetadataOutcome,
};
pub use names::{validate_alias_name, validate_index_name};
pub use options::{ExpandWildcards, IndicesOptions};
pub use resolve::{AliasLookup, WriteTarget};
pub use routing::{default_routing_num_shards, murmur3_x86_32, routing_hash, shard_id, shard_id_partitioned};
pub use settings::{
    AutoExpandReplicas, FlatSettings, IndexBlocks, IndexSettings, TranslogDurability, flatten_settings, nest_settings,
    parse_time_value,
};
pub use template::{ComponentTemplate, IndexTemplate, Template};
