//! The cluster metadata as a raft state machine (the ApplyHandler of the metadata group).
//!
//! Every node of the cluster (master-eligible voters and data-only learners alike) applies the
//! committed [`MetadataEntry`]s of group 0 to its own copy of [`ClusterMetadata`] with the pure
//! `ClusterMetadata::apply`. After each entry the whole state is written atomically together with
//! the raft marker of that entry (`_state/cluster_raft.json`), so the persisted state and the log
//! position it covers can never disagree: after a crash raft replays exactly the entries after it.
//! Metadata changes are rare and small, so one small file write per entry is cheap.

use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use tern_cluster::{ClusterMetadata, MetadataCommand, MetadataOutcome};
use tern_common::EsError;
use tern_raft::ApplyHandler;
use tern_shard::ops::OpFailure;
use tokio::sync::watch;

use crate::persist::JsonFile;

/// One entry of the metadata log: the command and the proposer's clock.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetadataEntry {
    pub command: MetadataCommand,
    pub now_millis: i64,
}

impl MetadataEntry {
    /// JSON: the commands carry `serde_json::Value` bodies, which need a self-describing format.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("metadata entries always encode")
    }
}

/// What applying an entry answered, as it travels back to the proposer.
pub type MetadataReply = Result<MetadataOutcome, OpFailure>;

pub fn decode_reply(bytes: &[u8]) -> Result<MetadataOutcome, EsError> {
    match serde_json::from_slice::<MetadataReply>(bytes) {
        Ok(Ok(outcome)) => Ok(outcome),
        Ok(Err(failure)) => Err(failure.to_es()),
        Err(e) => Err(EsError::internal(format!("undecodable metadata reply: {e}"))),
    }
}

/// The persisted form: the state and the raft marker of the last entry it includes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PersistedMetadata {
    pub marker: Option<String>,
    pub metadata: ClusterMetadata,
}

pub struct MetadataStateMachine {
    pub(crate) metadata: Arc<RwLock<Arc<ClusterMetadata>>>,
    file: JsonFile,
    marker: Mutex<Option<String>>,
    /// Bumped after every applied entry: the node's shard reconciler watches it.
    pub(crate) applied: watch::Sender<u64>,
}

impl MetadataStateMachine {
    pub fn new(metadata: Arc<RwLock<Arc<ClusterMetadata>>>, file: JsonFile, marker: Option<String>) -> Self {
        let (applied, _) = watch::channel(0);
        MetadataStateMachine { metadata, file, marker: Mutex::new(marker), applied }
    }

    fn store(&self, metadata: &ClusterMetadata, marker: &str) {
        let persisted = PersistedMetadata { marker: Some(marker.to_string()), metadata: metadata.clone() };
        if let Err(e) = self.file.store(&persisted) {
            // The state stays applied in memory; a restart replays the entry from the raft log.
            tracing::error!(error = %e.reason, "persisting the cluster metadata failed");
        }
    }
}

impl ApplyHandler for MetadataStateMachine {
    fn apply(&self, _term: u64, marker: String, payload: &[u8]) -> Vec<u8> {
        let reply: MetadataReply = match serde_json::from_slice::<MetadataEntry>(payload) {
            Ok(entry) => {
                let mut next = (**self.metadata.read()).clone();
                match next.apply(entry.command, entry.now_millis) {
                    Ok(outcome) => {
                        self.store(&next, &marker);
                        *self.metadata.write() = Arc::new(next);
                        Ok(outcome)
                    }
                    Err(e) => {
                        self.store(&self.metadata.read(), &marker);
                        Err(OpFailure::from_es(&EsError::from(e)))
                    }
                }
            }
            Err(e) => Err(OpFailure::from_es(&EsError::internal(format!("undecodable metadata entry: {e}")))),
        };
        *self.marker.lock() = Some(marker);
        self.applied.send_modify(|v| *v += 1);
        serde_json::to_vec(&reply).unwrap_or_default()
    }

    fn advance(&self, marker: String) {
        self.store(&self.metadata.read(), &marker);
        *self.marker.lock() = Some(marker);
        self.applied.send_modify(|v| *v += 1);
    }

    fn durable_marker(&self) -> Option<String> {
        self.marker.lock().clone()
    }

    fn persist(&self) -> Result<Option<String>, String> {
        // Every entry is persisted as it is applied.
        Ok(self.marker.lock().clone())
    }
}
