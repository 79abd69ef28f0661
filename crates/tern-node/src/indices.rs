//! Index lifecycle and metadata changes: create, delete, mappings, settings, aliases, open/close,
//! templates, refresh and flush.

use std::sync::Arc;

use serde_json::Value;
use tern_cluster::{IndicesOptions, MetadataCommand, MetadataOutcome};
use tern_common::{ErrorKind, EsError};
use tern_mapping::Mapping;
use tern_shard::ops::{ShardCommand, ShardReply};

use crate::node::{Node, random_uuid};
use crate::search::ShardCopy;
use crate::shard::ShardHandle;
use crate::shard_rpc::{ReadError, RemoteCopy, RemoteShard, refresh_local};

/// Per-shard outcome of a broadcast operation (`_refresh`, `_flush`), rendered as `_shards`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ShardsSummary {
    pub total: u32,
    pub successful: u32,
    pub failed: u32,
    pub failures: Vec<(String, u32, EsError)>,
}

impl Node {
    /// Creates an index and opens its shards; answers after every primary is ready, as ES's
    /// `wait_for_active_shards=1` default does.
    pub async fn create_index(&self, name: &str, body: &Value) -> Result<String, EsError> {
        let _guard = self.metadata_lock.lock().await;
        let settings = body.get("settings").cloned().unwrap_or(Value::Null);
        let mut mappings = body.get("mappings").cloned().unwrap_or(Value::Null);
        if !mappings.is_null() {
            // Validate (and normalize) the mapping before the index exists.
            mappings = Mapping::parse(&mappings).map_err(|e| e.into_create_index_error())?.to_json();
        }
        let aliases = body.get("aliases").cloned().unwrap_or(Value::Null);
        let uuid = random_uuid();
        self.apply_metadata(MetadataCommand::CreateIndex { name: name.to_string(), uuid, settings, mappings, aliases })
            .await?;
        let meta = self.metadata();
        let im = meta.indices.get(name).ok_or_else(|| EsError::internal("index vanished after creation"))?;
        // Templates may contribute mappings the request did not validate.
        Mapping::parse(&im.mappings).map_err(EsError::from)?;
        if let Err(e) = self.open_index_shards(im).await {
            let uuid = im.uuid.clone();
            self.close_index_shards(&uuid, true).await;
            let _ = self
                .apply_metadata(MetadataCommand::DeleteIndices { names: vec![name.to_string()], options: None })
                .await;
            return Err(e);
        }
        // In a cluster the copies elect a primary first: wait for it, as ES waits for the active
        // primary before answering.
        for handle in self.index_shards(&im.uuid) {
            if let Err(e) = handle.group.wait_for_leader(std::time::Duration::from_secs(10)).await {
                tracing::warn!(index = name, shard = handle.ident.shard, error = %e, "no primary elected yet");
            }
        }
        Ok(name.to_string())
    }

    /// Creates the index a write names if it does not exist and `action.auto_create_index` allows it.
    pub async fn ensure_index_for_write(&self, name: &str) -> Result<(), EsError> {
        let meta = self.metadata();
        if meta.has_alias(name) {
            return Ok(());
        }
        if let Some(im) = meta.indices.get(name) {
            if im.is_open() && self.index_shards(&im.uuid).len() < im.settings.number_of_shards() as usize {
                // Another request is creating it: its metadata is published but its shards are still
                // opening under the metadata lock. Waiting for the lock waits for them.
                drop(self.metadata_lock.lock().await);
            }
            return Ok(());
        }
        match (meta.cluster_setting("action.auto_create_index"), self.settings.get("action.auto_create_index")) {
            // The node's configuration applies until a cluster setting overrides it.
            (None, Some(v)) => tern_cluster::AutoCreateIndex::parse(v)
                .check(name, &v.as_str().map(String::from).unwrap_or_else(|| v.to_string()))
                .map_err(EsError::from)?,
            _ => meta.check_auto_create(name).map_err(EsError::from)?,
        }
        match self.create_index(name, &Value::Null).await {
            Ok(_) => Ok(()),
            // Two writers raced to create it: fine.
            Err(e) if e.kind == ErrorKind::ResourceAlreadyExists => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub async fn delete_indices(&self, expr: &[String], opts: &IndicesOptions) -> Result<Vec<String>, EsError> {
        let _guard = self.metadata_lock.lock().await;
        let outcome =
            self.apply_metadata(MetadataCommand::DeleteIndices { names: expr.to_vec(), options: Some(*opts) }).await?;
        let MetadataOutcome::IndicesDeleted { indices } = outcome else {
            return Ok(vec![]);
        };
        for r in &indices {
            self.close_index_shards(&r.uuid, true).await;
        }
        Ok(indices.into_iter().map(|r| r.name).collect())
    }

    /// Merges a mapping update into each index and pushes the result to its shards through raft,
    /// so the new mapping is ordered with the writes around it.
    pub async fn put_mapping(&self, expr: &[String], opts: &IndicesOptions, body: &Value) -> Result<(), EsError> {
        let _guard = self.metadata_lock.lock().await;
        let update = Mapping::parse(body).map_err(EsError::from)?;
        let meta = self.metadata();
        let names = meta.resolve_indices(expr, opts).map_err(EsError::from)?;
        if names.is_empty() {
            return Err(EsError::index_not_found(&expr.join(",")));
        }
        let mut merged_all = Vec::new();
        for name in &names {
            let im = &meta.indices[name];
            let mut current = Mapping::parse(&im.mappings).map_err(EsError::from)?;
            current.merge(&update).map_err(EsError::from)?;
            merged_all.push((name.clone(), im.uuid.clone(), current.to_json()));
        }
        for (name, uuid, mapping) in merged_all {
            self.apply_metadata(MetadataCommand::PutMapping {
                indices: vec![name],
                mappings: mapping.clone(),
                options: None,
            })
            .await?;
            self.push_mapping_to_shards(&uuid, &mapping).await?;
        }
        Ok(())
    }

    pub(crate) async fn push_mapping_to_shards(&self, uuid: &str, mapping: &Value) -> Result<(), EsError> {
        let cmd = ShardCommand::SetMapping { mapping_json: mapping.to_string() };
        for target in self.index_write_targets(uuid) {
            if let ShardReply::Rejected(f) = self.propose_to(&target, &cmd).await? {
                return Err(f.to_es());
            }
        }
        Ok(())
    }

    /// Publishes mappings that documents extended dynamically to the metadata and the index's other
    /// shards.
    pub(crate) async fn publish_dynamic_mappings(&self, handles: &[Arc<ShardHandle>]) {
        for handle in handles {
            let Some(mapping) = handle.engine.take_mapping_update() else {
                continue;
            };
            let _guard = self.metadata_lock.lock().await;
            let meta = self.metadata();
            let Some(im) = meta.indices.get(&handle.ident.index) else {
                continue;
            };
            let mut merged = match Mapping::parse(&im.mappings) {
                Ok(m) => m,
                Err(_) => continue,
            };
            if merged.merge(&mapping).is_err() {
                continue;
            }
            let json = merged.to_json();
            if json == im.mappings {
                continue;
            }
            let uuid = im.uuid.clone();
            let name = im.name.clone();
            if let Err(e) = self
                .apply_metadata(MetadataCommand::PutMapping {
                    indices: vec![name],
                    mappings: json.clone(),
                    options: None,
                })
                .await
            {
                tracing::warn!(error = %e.reason, "publishing a dynamic mapping failed");
                continue;
            }
            let others: Vec<_> =
                self.index_write_targets(&uuid).into_iter().filter(|t| t.ident().shard != handle.ident.shard).collect();
            let cmd = ShardCommand::SetMapping { mapping_json: json.to_string() };
            for other in others {
                if let Err(e) = self.propose_to(&other, &cmd).await {
                    tracing::warn!(error = %e.reason, "propagating a dynamic mapping failed");
                }
            }
        }
    }

    pub async fn update_settings(
        &self,
        expr: &[String],
        opts: &IndicesOptions,
        body: &Value,
        preserve_existing: bool,
    ) -> Result<(), EsError> {
        let _guard = self.metadata_lock.lock().await;
        let meta = self.metadata();
        let names = meta.resolve_indices(expr, opts).map_err(EsError::from)?;
        let settings = body.get("settings").cloned().unwrap_or_else(|| body.clone());
        self.apply_metadata(MetadataCommand::UpdateSettings {
            indices: names.clone(),
            settings,
            preserve_existing,
            options: None,
        })
        .await?;
        let meta = self.metadata();
        for name in names {
            if let Some(im) = meta.indices.get(&name) {
                let durability = crate::node::durability_of(im);
                for handle in self.index_shards(&im.uuid) {
                    self.wal
                        .log_store(Node::group_id(&im.uuid, handle.ident.shard), durability)
                        .set_durability(durability);
                }
            }
        }
        Ok(())
    }

    pub async fn update_aliases(&self, body: &Value) -> Result<(), EsError> {
        let _guard = self.metadata_lock.lock().await;
        let actions = tern_cluster::AliasAction::parse_actions(body).map_err(EsError::from)?;
        let before: Vec<String> = self.metadata().indices.values().map(|m| m.uuid.clone()).collect();
        self.apply_metadata(MetadataCommand::UpdateAliases { actions }).await?;
        // `remove_index` actions delete indices: drop their shards too.
        let after = self.metadata();
        for uuid in before {
            if !after.indices.values().any(|m| m.uuid == uuid) {
                self.close_index_shards(&uuid, true).await;
            }
        }
        Ok(())
    }

    pub async fn open_indices(&self, expr: &[String], opts: &IndicesOptions) -> Result<Vec<String>, EsError> {
        let _guard = self.metadata_lock.lock().await;
        let meta = self.metadata();
        let names = meta.resolve_indices(expr, opts).map_err(EsError::from)?;
        self.apply_metadata(MetadataCommand::OpenIndices { names: names.clone(), options: None }).await?;
        let meta = self.metadata();
        for name in &names {
            if let Some(im) = meta.indices.get(name) {
                self.open_index_shards(im).await?;
            }
        }
        Ok(names)
    }

    pub async fn close_indices(&self, expr: &[String], opts: &IndicesOptions) -> Result<Vec<String>, EsError> {
        let _guard = self.metadata_lock.lock().await;
        let meta = self.metadata();
        let names = meta.resolve_indices(expr, opts).map_err(EsError::from)?;
        self.apply_metadata(MetadataCommand::CloseIndices { names: names.clone(), options: None }).await?;
        for name in &names {
            if let Some(im) = meta.indices.get(name) {
                self.close_index_shards(&im.uuid, false).await;
            }
        }
        Ok(names)
    }

    pub async fn put_index_template(&self, name: &str, body: &Value, create: bool) -> Result<(), EsError> {
        let _guard = self.metadata_lock.lock().await;
        self.apply_metadata(MetadataCommand::PutIndexTemplate { name: name.to_string(), body: body.clone(), create })
            .await?;
        Ok(())
    }

    pub async fn delete_index_template(&self, name: &str) -> Result<(), EsError> {
        let _guard = self.metadata_lock.lock().await;
        self.apply_metadata(MetadataCommand::DeleteIndexTemplate { name: name.to_string() }).await?;
        Ok(())
    }

    pub async fn put_component_template(&self, name: &str, body: &Value, create: bool) -> Result<(), EsError> {
        let _guard = self.metadata_lock.lock().await;
        self.apply_metadata(MetadataCommand::PutComponentTemplate {
            name: name.to_string(),
            body: body.clone(),
            create,
        })
        .await?;
        Ok(())
    }

    pub async fn delete_component_template(&self, name: &str) -> Result<(), EsError> {
        let _guard = self.metadata_lock.lock().await;
        self.apply_metadata(MetadataCommand::DeleteComponentTemplate { name: name.to_string() }).await?;
        Ok(())
    }

    pub async fn put_cluster_settings(&self, body: &Value) -> Result<(), EsError> {
        let _guard = self.metadata_lock.lock().await;
        self.apply_metadata(MetadataCommand::PutClusterSettings {
            persistent: body.get("persistent").cloned().unwrap_or(Value::Null),
            transient: body.get("transient").cloned().unwrap_or(Value::Null),
        })
        .await?;
        Ok(())
    }

    /// `_refresh`: every started copy of every shard, local or on other nodes.
    pub async fn refresh(&self, expr: &[String], opts: &IndicesOptions) -> Result<ShardsSummary, EsError> {
        self.broadcast(expr, opts, Broadcast::Refresh).await
    }

    /// `_flush`: every started copy of every shard, local or on other nodes.
    pub async fn flush(&self, expr: &[String], opts: &IndicesOptions) -> Result<ShardsSummary, EsError> {
        self.broadcast(expr, opts, Broadcast::Flush).await
    }

    /// Refreshes every started copy of one shard (a follower copy after catching up with its
    /// primary), so a write acknowledged before the call is searchable on whichever copy a search
    /// reads: what `refresh=true` needs. Fails with the first copy's failure, after trying all.
    pub(crate) async fn refresh_shard_copies(&self, index_uuid: &str, shard: u32) -> Result<(), EsError> {
        let meta = self.metadata();
        let index = meta.indices.values().find(|m| m.uuid == index_uuid).map(|m| m.name.clone()).unwrap_or_default();
        let copies = self.broadcast_copies(&meta, index_uuid, shard);
        let results = futures::future::join_all(
            copies.iter().map(|c| self.broadcast_one(&index, index_uuid, shard, c, Broadcast::Refresh)),
        )
        .await;
        results.into_iter().find_map(Result::err).map_or(Ok(()), Err)
    }

    /// The copies a broadcast reaches: every started copy in a cluster, the open local copy on a
    /// lone node.
    fn broadcast_copies(&self, meta: &tern_cluster::ClusterMetadata, index_uuid: &str, shard: u32) -> Vec<ShardCopy> {
        let nodes = self.copy_nodes(meta, index_uuid, shard);
        if nodes.is_empty() {
            return self.shard(index_uuid, shard).map(ShardCopy::Local).into_iter().collect();
        }
        nodes
            .into_iter()
            .filter_map(|n| {
                if n.id == self.info.node_id {
                    self.shard(index_uuid, shard).map(ShardCopy::Local)
                } else {
                    Some(ShardCopy::Remote(RemoteCopy {
                        node_id: n.id,
                        node_name: n.name,
                        address: n.transport_address,
                    }))
                }
            })
            .collect()
    }

    async fn broadcast_one(
        &self,
        index: &str,
        index_uuid: &str,
        shard: u32,
        copy: &ShardCopy,
        op: Broadcast,
    ) -> Result<(), EsError> {
        let clustered = self.is_clustered();
        match copy {
            ShardCopy::Local(h) => match op {
                Broadcast::Refresh => refresh_local(h, clustered).await,
                Broadcast::Flush => h.flush().await,
            },
            ShardCopy::Remote(c) => {
                let Some(cluster) = &self.cluster else {
                    return Err(EsError::new(ErrorKind::NoShardAvailable, format!("[{index}][{shard}] not clustered")));
                };
                let remote = RemoteShard { client: cluster.raft.client(), copy: c, index_uuid, shard };
                match op {
                    Broadcast::Refresh => remote.refresh().await,
                    Broadcast::Flush => remote.flush().await,
                }
                .map_err(ReadError::into_es)
            }
        }
    }

    /// Runs a broadcast on every copy of the indices' shards. `_shards.total` counts the copies
    /// each shard should have (`1 + number_of_replicas`, or more when more are started); copies that
    /// are not started count in the total only, as ES counts unassigned ones.
    async fn broadcast(&self, expr: &[String], opts: &IndicesOptions, op: Broadcast) -> Result<ShardsSummary, EsError> {
        let meta = self.metadata();
        let names = meta.resolve_indices(expr, opts).map_err(EsError::from)?;
        let clustered = self.is_clustered();
        let mut summary = ShardsSummary::default();
        let mut jobs = Vec::new();
        for name in names {
            let Some(im) = meta.indices.get(&name) else { continue };
            if !im.is_open() {
                if opts.ignore_unavailable {
                    continue;
                }
                return Err(EsError::new(ErrorKind::IndexClosed, "closed")
                    .with("index", name.clone())
                    .with("index_uuid", im.uuid.clone()));
            }
            for shard in 0..im.settings.number_of_shards() {
                let copies = self.broadcast_copies(&meta, &im.uuid, shard);
                summary.total += if clustered {
                    (copies.len() as u32).max(1 + im.settings.number_of_replicas())
                } else {
                    copies.len() as u32
                };
                for copy in copies {
                    let (name, uuid) = (name.clone(), im.uuid.clone());
                    jobs.push(async move {
                        let r = self.broadcast_one(&name, &uuid, shard, &copy, op).await;
                        (name, shard, r)
                    });
                }
            }
        }
        for (index, shard, r) in futures::future::join_all(jobs).await {
            match r {
                Ok(()) => summary.successful += 1,
                Err(e) => {
                    summary.failed += 1;
                    summary.failures.push((index, shard, e));
                }
            }
        }
        Ok(summary)
    }
}

#[derive(Debug, Clone, Copy)]
enum Broadcast {
    Refresh,
    Flush,
}
