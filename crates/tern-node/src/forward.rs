//! Writes to a shard that this node may not hold a copy of.
//!
//! With `number_of_replicas` honoured, a coordinating node often holds no copy of the shard a
//! document routes to. It then sends the shard command to a node that does (the `write` method of
//! the `cluster` transport service); that copy proposes it, forwarding once more to its group's
//! leader when it does not lead (two hops at most: the receiving copy only forwards to the leader
//! it knows, which never forwards again). The command travels encoded once; nothing is re-parsed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tern_common::{ErrorKind, EsError};
use tern_shard::ShardIdent;
use tern_shard::ops::{ShardCommand, ShardReply};
use tern_transport::{HandlerErrorKind, TransportError};

use crate::cluster::{CLUSTER_SERVICE, MASTER_TIMEOUT};
use crate::node::Node;
use crate::shard::ShardHandle;

/// Where a shard command goes: the local copy, or copies on other nodes.
#[derive(Clone)]
pub enum WriteTarget {
    Local(Arc<ShardHandle>),
    Remote(ShardIdent),
}

impl WriteTarget {
    pub fn ident(&self) -> &ShardIdent {
        match self {
            WriteTarget::Local(h) => &h.ident,
            WriteTarget::Remote(ident) => ident,
        }
    }

    pub fn local(&self) -> Option<&Arc<ShardHandle>> {
        match self {
            WriteTarget::Local(h) => Some(h),
            WriteTarget::Remote(_) => None,
        }
    }
}

impl Node {
    /// The target of a write to one shard, or ES's error when no copy is known anywhere.
    pub(crate) fn write_target(&self, index: &str, index_uuid: &str, shard: u32) -> Result<WriteTarget, EsError> {
        if let Some(h) = self.shard(index_uuid, shard) {
            return Ok(WriteTarget::Local(h));
        }
        if self.is_clustered() && self.metadata().shard_allocation(index_uuid, shard).is_some() {
            return Ok(WriteTarget::Remote(ShardIdent {
                index: index.to_string(),
                index_uuid: index_uuid.to_string(),
                shard,
            }));
        }
        Err(EsError::new(ErrorKind::UnavailableShards, format!("[{index}][{shard}] primary shard is not active")))
    }

    /// Every shard of an index as a write target (a shard with no known copy is skipped).
    pub(crate) fn index_write_targets(&self, index_uuid: &str) -> Vec<WriteTarget> {
        let meta = self.metadata();
        let Some(im) = meta.indices.values().find(|im| im.uuid == index_uuid) else {
            return Vec::new();
        };
        (0..im.number_of_shards()).filter_map(|shard| self.write_target(&im.name, index_uuid, shard).ok()).collect()
    }

    /// Proposes `cmd` on the shard's group, wherever its copies are.
    pub(crate) async fn propose_to(&self, target: &WriteTarget, cmd: &ShardCommand) -> Result<ShardReply, EsError> {
        match target {
            WriteTarget::Local(h) => h.propose(cmd).await,
            WriteTarget::Remote(ident) => self.propose_remote(ident, cmd).await,
        }
    }

    async fn propose_remote(&self, ident: &ShardIdent, cmd: &ShardCommand) -> Result<ShardReply, EsError> {
        let cluster = self.cluster.as_ref().ok_or_else(|| EsError::internal("not clustered"))?;
        let group = Self::group_id(&ident.index_uuid, ident.shard);
        let payload = cmd.encode();
        let deadline = Instant::now() + MASTER_TIMEOUT;
        let not_active = || {
            EsError::new(
                ErrorKind::UnavailableShards,
                format!("[{}][{}] primary shard is not active", ident.index, ident.shard),
            )
        };
        loop {
            // Read the copies every round: a failover or a re-allocation may have moved them.
            let meta = self.metadata();
            let copies = self.copy_nodes(&meta, &ident.index_uuid, ident.shard);
            for node in copies.iter().filter(|n| n.id != self.info.node_id) {
                let answer = cluster
                    .raft
                    .client()
                    .call(
                        &node.transport_address,
                        CLUSTER_SERVICE,
                        group,
                        "write",
                        payload.clone(),
                        Some(MASTER_TIMEOUT),
                    )
                    .await;
                match answer {
                    Ok(bytes) => {
                        return ShardReply::decode(&bytes)
                            .map_err(|e| EsError::internal(format!("undecodable shard reply: {e}")));
                    }
                    // The copy is gone, not open yet, or has no leader right now: try another one.
                    Err(TransportError::Remote { error, .. })
                        if matches!(error.kind, HandlerErrorKind::UnknownTarget | HandlerErrorKind::Unavailable) => {}
                    Err(TransportError::Remote { error, .. }) => {
                        return Err(EsError::new(ErrorKind::UnavailableShards, error.message));
                    }
                    // A timeout leaves the outcome unknown: never resend (it could apply twice).
                    Err(e @ TransportError::Timeout { .. }) => {
                        return Err(EsError::new(
                            ErrorKind::UnavailableShards,
                            format!("[{}][{}] the primary did not answer: {e}", ident.index, ident.shard),
                        ));
                    }
                    Err(_) => {}
                }
            }
            if Instant::now() >= deadline {
                return Err(not_active());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Serves a shard command sent by a node without a copy: proposes it on this node's copy (which
    /// forwards to its leader when it does not lead) and publishes the dynamic mappings it added.
    pub(crate) async fn handle_forwarded_write(
        &self,
        group_id: u64,
        payload: bytes::Bytes,
    ) -> Result<bytes::Bytes, tern_transport::HandlerError> {
        use tern_transport::HandlerError;
        let handle = self
            .all_shards()
            .into_iter()
            .find(|h| h.group.id == group_id)
            .ok_or_else(|| HandlerError::unknown_target(format!("no shard group {group_id} on this node")))?;
        let cmd = ShardCommand::decode(&payload).map_err(|e| HandlerError::bad_request(e.to_string()))?;
        let reply = match handle.propose(&cmd).await {
            Ok(r) => r,
            Err(e) if e.kind == ErrorKind::UnavailableShards => return Err(HandlerError::unavailable(e.reason)),
            Err(e) => return Err(HandlerError::internal(e.reason)),
        };
        self.publish_dynamic_mappings(&[handle]).await;
        Ok(bytes::Bytes::from(reply.encode()))
    }
}
