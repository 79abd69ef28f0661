//! The node-wide limits of `remote_sync.max_bytes_per_sec` and `remote_sync.max_concurrent_file_chunks`:
//! tern-node's file-copy [`Throttle`], shared with peer recovery's sender.

pub use tern_node::commit_copy::Throttle;
