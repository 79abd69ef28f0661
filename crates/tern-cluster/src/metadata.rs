//! The cluster metadata value, its commands and the deterministic `apply`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::alias::{AliasAction, AliasMetadata, parse_aliases_section, validate_alias};
use crate::cluster_settings::{apply_cluster_update, validate_cluster_update};
use crate::error::{BlockDescription, ClusterError};
use crate::names::validate_index_name;
use crate::options::IndicesOptions;
use crate::routing::{shard_id, shard_id_partitioned};
use crate::settings::{
    FlatSettings, INDEX_VERSION_CREATED, IndexSettings, SETTING_CREATION_DATE, SETTING_HIDDEN,
    SETTING_NUMBER_OF_REPLICAS, SETTING_NUMBER_OF_SHARDS, SETTING_PROVIDED_NAME, SETTING_TIER_PREFERENCE, SETTING_UUID,
    SETTING_VERSION_CREATED, cross_validate, flatten_settings, index_unknown_setting_error, lookup_index_setting,
    parse_index_settings, validate_index_settings, validate_value,
};
use crate::template::{ComponentTemplate, IndexTemplate, deep_merge, validate_template_parts};
use crate::wildcard::{is_match_all, is_wildcard, patterns_intersect, wildcard_match};

/// Whether an index is open or closed (ES renders `open` / `close`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IndexState {
    Open,
    Close,
}

impl IndexState {
    pub fn as_str(self) -> &'static str {
        match self {
            IndexState::Open => "open",
            IndexState::Close => "close",
        }
    }
}

/// The operation class a block applies to (ES's `ClusterBlockLevel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockLevel {
    Read,
    Write,
    MetadataRead,
    MetadataWrite,
}

const BLOCK_READ_ONLY: BlockDescription = BlockDescription { id: 5, description: "index read-only (api)", status: 403 };
const BLOCK_READ: BlockDescription = BlockDescription { id: 7, description: "index read (api)", status: 403 };
const BLOCK_WRITE: BlockDescription = BlockDescription { id: 8, description: "index write (api)", status: 403 };
const BLOCK_METADATA: BlockDescription = BlockDescription { id: 9, description: "index metadata (api)", status: 403 };
const BLOCK_READ_ONLY_ALLOW_DELETE: BlockDescription = BlockDescription {
    id: 12,
    description: "disk usage exceeded flood-stage watermark, index has read-only-allow-delete block",
    status: 429,
};

/// Everything the cluster knows about one index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexMetadata {
    pub name: String,
    pub uuid: String,
    /// Milliseconds since the epoch.
    pub creation_date: i64,
    pub state: IndexState,
    pub settings: IndexSettings,
    /// The canonical ES mapping JSON (`{"properties":{...}}`); the mapping crate owns its meaning.
    pub mappings: Value,
    pub aliases: BTreeMap<String, AliasMetadata>,
    /// One primary term per shard; starts at 1 and grows on every primary change.
    pub primary_terms: Vec<u64>,
    pub mapping_version: u64,
    pub settings_version: u64,
    pub aliases_version: u64,
}

impl IndexMetadata {
    pub fn number_of_shards(&self) -> u32 {
        self.settings.number_of_shards()
    }

    pub fn number_of_replicas(&self) -> u32 {
        self.settings.number_of_replicas()
    }

    pub fn routing_num_shards(&self) -> u32 {
        self.settings.routing_num_shards()
    }

    pub fn is_open(&self) -> bool {
        self.state == IndexState::Open
    }

    pub fn is_closed(&self) -> bool {
        self.state == IndexState::Close
    }

    /// Hidden from wildcards: `index.hidden: true`.
    pub fn is_hidden(&self) -> bool {
        self.settings.hidden()
    }

    pub fn primary_term(&self, shard: u32) -> Option<u64> {
        self.primary_terms.get(shard as usize).copied()
    }

    /// The shard a document goes to: `_routing` if given, else `_id`, with partitioned routing when
    /// `index.routing_partition_size > 1`.
    pub fn shard_for(&self, id: &str, routing: Option<&str>) -> u32 {
        let shards = self.number_of_shards();
        let rns = self.routing_num_shards();
        match routing {
            Some(r) => {
                let partition = self.settings.routing_partition_size();
                if partition > 1 {
                    shard_id_partitioned(r, id, partition, shards, rns)
                } else {
                    shard_id(r, shards, rns)
                }
            }
            None => shard_id(id, shards, rns),
        }
    }

    /// The `index.blocks.*` blocks that apply to an operation class.
    pub fn blocks_for(&self, level: BlockLevel) -> Vec<BlockDescription> {
        let b = self.settings.blocks();
        let mut out = Vec::new();
        if b.read_only && matches!(level, BlockLevel::Write | BlockLevel::MetadataWrite) {
            out.push(BLOCK_READ_ONLY);
        }
        if b.read && level == BlockLevel::Read {
            out.push(BLOCK_READ);
        }
        if b.write && level == BlockLevel::Write {
            out.push(BLOCK_WRITE);
        }
        if b.metadata && matches!(level, BlockLevel::MetadataRead | BlockLevel::MetadataWrite) {
            out.push(BLOCK_METADATA);
        }
        if b.read_only_allow_delete && matches!(level, BlockLevel::Write | BlockLevel::MetadataWrite) {
            out.push(BLOCK_READ_ONLY_ALLOW_DELETE);
        }
        out
    }

    /// Fails with ES's `cluster_block_exception` when a block applies.
    pub fn check_block(&self, level: BlockLevel) -> Result<(), ClusterError> {
        let blocks = self.blocks_for(level);
        if blocks.is_empty() { Ok(()) } else { Err(ClusterError::ClusterBlock { index: self.name.clone(), blocks }) }
    }

    /// The aliases rendered like `GET {index}` does.
    pub fn aliases_json(&self) -> Value {
        Value::Object(self.aliases.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
    }

    /// ES's `GET {index}` entry for this index: `{"aliases":..,"mappings":..,"settings":..}` (plus
    /// `"defaults"` with `include_defaults`).
    pub fn to_get_index_json(&self, flat_settings: bool, include_defaults: bool) -> Value {
        let mut out = Map::new();
        out.insert("aliases".into(), self.aliases_json());
        out.insert("mappings".into(), self.mappings.clone());
        if let Value::Object(rendered) = self.settings.render(flat_settings, include_defaults) {
            out.extend(rendered);
        }
        Value::Object(out)
    }

    fn index_ref(&self) -> String {
        format!("[{}/{}]", self.name, self.uuid)
    }
}

/// A reference to an index by name and uuid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexRef {
    pub name: String,
    pub uuid: String,
}

/// Every mutation of the cluster metadata. Commands carry all non-determinism (uuids, client input);
/// the clock is the `now_millis` argument of [`ClusterMetadata::apply`], chosen by the proposer.
/// Index expressions (`names`, `indices`) are resolved against the state at apply time with the
/// API's default options unless `options` says otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetadataCommand {
    CreateIndex {
        name: String,
        uuid: String,
        #[serde(default)]
        settings: Value,
        #[serde(default)]
        mappings: Value,
        #[serde(default)]
        aliases: Value,
    },
    DeleteIndices {
        names: Vec<String>,
        #[serde(default)]
        options: Option<IndicesOptions>,
    },
    /// Replaces the mapping of each index by `mappings` (the caller merged it with the mapping crate).
    PutMapping {
        indices: Vec<String>,
        mappings: Value,
        #[serde(default)]
        options: Option<IndicesOptions>,
    },
    UpdateSettings {
        indices: Vec<String>,
        settings: Value,
        #[serde(default)]
        preserve_existing: bool,
        #[serde(default)]
        options: Option<IndicesOptions>,
    },
    UpdateAliases {
        actions: Vec<AliasAction>,
    },
    OpenIndices {
        names: Vec<String>,
        #[serde(default)]
        options: Option<IndicesOptions>,
    },
    CloseIndices {
        names: Vec<String>,
        #[serde(default)]
        options: Option<IndicesOptions>,
    },
    PutIndexTemplate {
        name: String,
        body: Value,
        #[serde(default)]
        create: bool,
    },
    /// `name` may be a comma list and contain wildcards.
    DeleteIndexTemplate {
        name: String,
    },
    PutComponentTemplate {
        name: String,
        body: Value,
        #[serde(default)]
        create: bool,
    },
    /// `name` may be a comma list and contain wildcards.
    DeleteComponentTemplate {
        name: String,
    },
    PutClusterSettings {
        #[serde(default)]
        persistent: Value,
        #[serde(default)]
        transient: Value,
    },
    BumpPrimaryTerm {
        index: String,
        shard: u32,
    },
    /// Sets (or with `null`, removes) a plugin's own cluster-wide state, e.g. remote sync patterns.
    PutCustom {
        key: String,
        value: Value,
    },
    /// Sets the cluster uuid if it is not set yet (the first elected master proposes it once).
    SetClusterUuid {
        cluster_uuid: String,
    },
    /// A node joined the cluster (or rejoined with new addresses): it enters the node registry.
    NodeJoined {
        node: DiscoveryNode,
    },
    /// The master lost contact with a node: it leaves the node registry.
    NodeLeft {
        node_id: String,
    },
    /// A shard group's primary caught a new copy up and made it a voter.
    ShardStarted {
        index_uuid: String,
        shard: u32,
        node_id: String,
    },
    /// A copy became its shard group's leader in raft term `term`: it is the primary, and the
    /// index's primary term of the shard follows the raft term.
    PrimaryElected {
        index_uuid: String,
        shard: u32,
        node_id: String,
        term: u64,
    },
}

/// A member of the cluster as the node registry records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoveryNode {
    pub id: String,
    pub name: String,
    pub roles: Vec<String>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// `host:port` of the node's transport (node-to-node) server.
    pub transport_address: String,
    /// `host:port` of the node's HTTP server.
    pub http_address: String,
    /// The node's id in every raft group, stable across restarts.
    pub raft_id: u64,
}

impl DiscoveryNode {
    pub fn is_master_eligible(&self) -> bool {
        self.roles.iter().any(|r| r == "master")
    }

    /// ES's `data` role or any `data_*` tier role.
    pub fn is_data(&self) -> bool {
        self.roles.iter().any(|r| r == "data" || r.starts_with("data_"))
    }
}

/// What a command did, for the response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetadataOutcome {
    IndexCreated {
        index: String,
        uuid: String,
        /// The composable template that contributed, if any.
        template: Option<String>,
    },
    IndicesDeleted {
        indices: Vec<IndexRef>,
    },
    MappingUpdated {
        indices: Vec<String>,
    },
    SettingsUpdated {
        indices: Vec<String>,
    },
    AliasesUpdated,
    IndicesOpened {
        indices: Vec<String>,
    },
    IndicesClosed {
        indices: Vec<String>,
    },
    IndexTemplatePut {
        name: String,
    },
    IndexTemplatesDeleted {
        names: Vec<String>,
    },
    ComponentTemplatePut {
        name: String,
    },
    ComponentTemplatesDeleted {
        names: Vec<String>,
    },
    /// The non-null settings that were applied, flat (ES echoes them back nested).
    ClusterSettingsUpdated {
        persistent: FlatSettings,
        transient: FlatSettings,
    },
    PrimaryTermBumped {
        index: String,
        shard: u32,
        primary_term: u64,
    },
    CustomUpdated {
        key: String,
    },
    ClusterUuidSet {
        cluster_uuid: String,
    },
    NodeJoined {
        node_id: String,
    },
    NodeLeft {
        node_id: String,
    },
    ShardStarted {
        index_uuid: String,
        shard: u32,
        node_id: String,
    },
    PrimaryElected {
        index_uuid: String,
        shard: u32,
        node_id: String,
    },
}

/// The result of composing a create-index request with the matching templates.
#[derive(Debug, Clone, PartialEq)]
pub struct ComposedIndex {
    pub template: Option<String>,
    /// Flat, `index.`-prefixed settings (request values win).
    pub settings: FlatSettings,
    /// Template mappings deep-merged with the request mapping (request wins).
    pub mappings: Value,
    pub aliases: BTreeMap<String, AliasMetadata>,
}

/// The whole cluster metadata: a plain value, mutated only through [`ClusterMetadata::apply`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterMetadata {
    pub cluster_uuid: String,
    /// Grows by one with every command that changed the state.
    pub version: u64,
    pub indices: BTreeMap<String, IndexMetadata>,
    /// Composable index templates (`_index_template`).
    pub templates: BTreeMap<String, IndexTemplate>,
    #[serde(default)]
    pub component_templates: BTreeMap<String, ComponentTemplate>,
    #[serde(default)]
    pub persistent_settings: FlatSettings,
    #[serde(default)]
    pub transient_settings: FlatSettings,
    /// Plugins' own state, by plugin key; it lives and replicates with the rest of the metadata.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub customs: BTreeMap<String, Value>,
    /// The node registry of a multi-node cluster, by node id (empty on a single node).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub nodes: BTreeMap<String, DiscoveryNode>,
    /// Where the copies of each shard live in a multi-node cluster: index uuid -> one allocation
    /// per shard, kept in step by [`ClusterMetadata::allocate`] (see `allocation.rs`). Empty on a
    /// lone node.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub routing_table: BTreeMap<String, Vec<crate::allocation::ShardAllocation>>,
}

fn split_names(names: &[String]) -> Vec<String> {
    names.iter().flat_map(|n| n.split(',')).map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
}

impl ClusterMetadata {
    pub fn new(cluster_uuid: impl Into<String>) -> Self {
        ClusterMetadata { cluster_uuid: cluster_uuid.into(), ..Default::default() }
    }

    /// Applies one command. All-or-nothing: on error the state is untouched. `version` grows by one
    /// when the state changed.
    pub fn apply(&mut self, cmd: MetadataCommand, now_millis: i64) -> Result<MetadataOutcome, ClusterError> {
        let mut next = self.clone();
        let outcome = next.apply_to_copy(cmd, now_millis)?;
        next.validate_alias_invariants()?;
        next.allocate();
        next.version = self.version;
        if next != *self {
            next.version = self.version + 1;
            *self = next;
        }
        Ok(outcome)
    }

    fn apply_to_copy(&mut self, cmd: MetadataCommand, now_millis: i64) -> Result<MetadataOutcome, ClusterError> {
        match cmd {
            MetadataCommand::CreateIndex { name, uuid, settings, mappings, aliases } => {
                self.create_index(name, uuid, &settings, &mappings, &aliases, now_millis)
            }
            MetadataCommand::DeleteIndices { names, options } => self.delete_indices(&names, options),
            MetadataCommand::PutMapping { indices, mappings, options } => self.put_mapping(&indices, mappings, options),
            MetadataCommand::UpdateSettings { indices, settings, preserve_existing, options } => {
                self.update_settings(&indices, &settings, preserve_existing, options)
            }
            MetadataCommand::UpdateAliases { actions } => self.update_aliases(&actions),
            MetadataCommand::OpenIndices { names, options } => self.set_state(&names, options, IndexState::Open),
            MetadataCommand::CloseIndices { names, options } => self.set_state(&names, options, IndexState::Close),
            MetadataCommand::PutIndexTemplate { name, body, create } => self.put_index_template(name, &body, create),
            MetadataCommand::DeleteIndexTemplate { name } => self.delete_index_templates(&name),
            MetadataCommand::PutComponentTemplate { name, body, create } => {
                self.put_component_template(name, &body, create)
            }
            MetadataCommand::DeleteComponentTemplate { name } => self.delete_component_templates(&name),
            MetadataCommand::PutClusterSettings { persistent, transient } => {
                self.put_cluster_settings(&persistent, &transient)
            }
            MetadataCommand::BumpPrimaryTerm { index, shard } => self.bump_primary_term(&index, shard),
            MetadataCommand::PutCustom { key, value } => {
                if value.is_null() {
                    self.customs.remove(&key);
                } else {
                    self.customs.insert(key.clone(), value);
                }
                Ok(MetadataOutcome::CustomUpdated { key })
            }
            MetadataCommand::SetClusterUuid { cluster_uuid } => {
                if self.cluster_uuid.is_empty() || self.cluster_uuid == "_na_" {
                    self.cluster_uuid = cluster_uuid;
                }
                Ok(MetadataOutcome::ClusterUuidSet { cluster_uuid: self.cluster_uuid.clone() })
            }
            MetadataCommand::NodeJoined { node } => {
                let node_id = node.id.clone();
                self.nodes.insert(node_id.clone(), node);
                Ok(MetadataOutcome::NodeJoined { node_id })
            }
            MetadataCommand::NodeLeft { node_id } => {
                self.nodes.remove(&node_id);
                Ok(MetadataOutcome::NodeLeft { node_id })
            }
            MetadataCommand::ShardStarted { index_uuid, shard, node_id } => {
                if let Some(s) = self.routing_table.get_mut(&index_uuid).and_then(|v| v.get_mut(shard as usize)) {
                    if s.copies.contains(&node_id) {
                        s.started.insert(node_id.clone());
                    } else if s.witness.as_ref() == Some(&node_id) {
                        s.witness_started = true;
                    }
                }
                Ok(MetadataOutcome::ShardStarted { index_uuid, shard, node_id })
            }
            MetadataCommand::PrimaryElected { index_uuid, shard, node_id, term } => {
                if let Some(s) = self.routing_table.get_mut(&index_uuid).and_then(|v| v.get_mut(shard as usize))
                    && s.copies.contains(&node_id)
                {
                    s.primary = Some(node_id.clone());
                }
                if let Some(im) = self.indices.values_mut().find(|im| im.uuid == index_uuid)
                    && let Some(t) = im.primary_terms.get_mut(shard as usize)
                {
                    *t = (*t).max(term);
                }
                Ok(MetadataOutcome::PrimaryElected { index_uuid, shard, node_id })
            }
        }
    }

    /// The registry entry of the node with raft id `raft_id`.
    pub fn node_by_raft_id(&self, raft_id: u64) -> Option<&DiscoveryNode> {
        self.nodes.values().find(|n| n.raft_id == raft_id)
    }

    // -----------------------------------------------------------------------------------------
    // Indices
    // -----------------------------------------------------------------------------------------

    /// The highest-priority composable template matching `index` (ties broken by name). With
    /// `hidden == true` (the request sets `index.hidden: true`) match-all templates are skipped.
    pub fn find_matching_template(&self, index: &str, hidden: bool) -> Option<(&str, &IndexTemplate)> {
        let mut best: Option<(&str, &IndexTemplate)> = None;
        for (name, t) in &self.templates {
            if hidden && t.index_patterns.iter().any(|p| is_match_all(p)) {
                continue;
            }
            if !t.matches(index) {
                continue;
            }
            match best {
                Some((_, b)) if b.priority_or_zero() >= t.priority_or_zero() => {}
                _ => best = Some((name.as_str(), t)),
            }
        }
        best
    }

    /// Composes a create-index request with the matching templates without changing anything (the
    /// `_simulate_index` view, and what `CreateIndex` stores).
    pub fn compose_index(
        &self,
        name: &str,
        request_settings: &FlatSettings,
        request_mappings: &Value,
        request_aliases: &BTreeMap<String, AliasMetadata>,
    ) -> Result<ComposedIndex, ClusterError> {
        let hidden = request_settings.get(SETTING_HIDDEN).and_then(Value::as_str).is_some_and(|v| v == "true");
        let mut settings = FlatSettings::new();
        let mut mappings = Value::Object(Map::new());
        let mut aliases = BTreeMap::new();
        let mut template_name = None;
        if let Some((tname, t)) = self.find_matching_template(name, hidden) {
            template_name = Some(tname.to_string());
            let mut sources = Vec::new();
            for component in &t.composed_of {
                match self.component_templates.get(component) {
                    Some(c) => sources.push(&c.template),
                    None if t.ignore_missing_component_templates.contains(component) => {}
                    None => {
                        return Err(ClusterError::illegal_argument(format!(
                            "index template [{tname}] specifies component templates [{component}] that do not exist"
                        )));
                    }
                }
            }
            if let Some(own) = &t.template {
                sources.push(own);
            }
            for source in sources {
                if let Some(s) = &source.settings {
                    settings.extend(s.flat().iter().map(|(k, v)| (k.clone(), v.clone())));
                }
                if let Some(m) = &source.mappings {
                    deep_merge(&mut mappings, m);
                }
                if let Some(a) = &source.aliases {
                    aliases.extend(a.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            }
        }
        settings.extend(request_settings.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), v.clone())));
        match request_mappings {
            Value::Null => {}
            Value::Object(_) => deep_merge(&mut mappings, request_mappings),
            _ => {
                return Err(ClusterError::illegal_argument("Failed to parse mapping: mappings must be an object"));
            }
        }
        aliases.extend(request_aliases.iter().map(|(k, v)| (k.clone(), v.clone())));
        Ok(ComposedIndex { template: template_name, settings, mappings, aliases })
    }

    fn create_index(
        &mut self,
        name: String,
        uuid: String,
        settings: &Value,
        mappings: &Value,
        aliases: &Value,
        now_millis: i64,
    ) -> Result<MetadataOutcome, ClusterError> {
        validate_index_name(&name)?;
        if let Some(existing) = self.indices.get(&name) {
            return Err(ClusterError::IndexAlreadyExists { index: name, uuid: existing.uuid.clone() });
        }
        if self.has_alias(&name) {
            return Err(ClusterError::InvalidIndexName { index: name, reason: "already exists as alias".into() });
        }
        if uuid.is_empty() {
            return Err(ClusterError::illegal_argument("the index uuid must be generated by the proposer"));
        }
        let request_settings: FlatSettings =
            parse_index_settings(settings)?.into_iter().filter(|(_, v)| !v.is_null()).collect();
        let private: Vec<String> = [SETTING_UUID, SETTING_VERSION_CREATED]
            .into_iter()
            .filter(|k| request_settings.contains_key(*k))
            .map(|k| format!("private index setting [{k}] can not be set explicitly"))
            .collect();
        if !private.is_empty() {
            return Err(ClusterError::Validation(private));
        }
        let request_aliases = parse_aliases_section(aliases)?;
        let composed = self.compose_index(&name, &request_settings, mappings, &request_aliases)?;
        let mut flat = composed.settings;
        validate_index_settings(&flat)?;

        flat.entry(SETTING_NUMBER_OF_SHARDS.into()).or_insert_with(|| Value::from("1"));
        flat.entry(SETTING_NUMBER_OF_REPLICAS.into()).or_insert_with(|| Value::from("1"));
        flat.entry(SETTING_TIER_PREFERENCE.into()).or_insert_with(|| Value::from("data_content"));
        flat.entry(SETTING_CREATION_DATE.into()).or_insert_with(|| Value::from(now_millis.to_string()));
        flat.insert(SETTING_UUID.into(), Value::from(uuid.clone()));
        flat.insert(SETTING_VERSION_CREATED.into(), Value::from(INDEX_VERSION_CREATED));
        flat.insert(SETTING_PROVIDED_NAME.into(), Value::from(name.clone()));
        cross_validate(&flat)?;
        let settings = IndexSettings::from_flat(flat);

        for (alias, meta) in &composed.aliases {
            validate_alias(alias, meta)?;
            if alias == &name || self.indices.contains_key(alias) {
                return Err(ClusterError::InvalidAliasName {
                    alias: alias.clone(),
                    reason: "an index or data stream exists with the same name as the alias".into(),
                    index: None,
                });
            }
        }

        let shards = settings.number_of_shards();
        let creation_date = settings.creation_date().unwrap_or(now_millis);
        let index = IndexMetadata {
            name: name.clone(),
            uuid: uuid.clone(),
            creation_date,
            state: IndexState::Open,
            settings,
            mappings: composed.mappings,
            aliases: composed.aliases,
            primary_terms: vec![1; shards as usize],
            mapping_version: 1,
            settings_version: 1,
            aliases_version: 1,
        };
        self.indices.insert(name.clone(), index);
        Ok(MetadataOutcome::IndexCreated { index: name, uuid, template: composed.template })
    }

    /// `action.destructive_requires_name` (default true in ES 8): no wildcards or `_all` in
    /// destructive operations.
    fn check_destructive(&self, names: &[String]) -> Result<(), ClusterError> {
        if !self.destructive_requires_name() {
            return Ok(());
        }
        let parts = split_names(names);
        if parts.is_empty() || parts.iter().any(|p| p == "_all" || is_wildcard(p)) {
            return Err(ClusterError::illegal_argument("Wildcard expressions or all indices are not allowed"));
        }
        Ok(())
    }

    fn delete_indices(
        &mut self,
        names: &[String],
        options: Option<IndicesOptions>,
    ) -> Result<MetadataOutcome, ClusterError> {
        self.check_destructive(names)?;
        let opts = options.unwrap_or(IndicesOptions::delete_index_default());
        let resolved = self.resolve_indices(names, &opts)?;
        let mut deleted = Vec::new();
        for name in resolved {
            if let Some(meta) = self.indices.remove(&name) {
                deleted.push(IndexRef { name: meta.name, uuid: meta.uuid });
            }
        }
        Ok(MetadataOutcome::IndicesDeleted { indices: deleted })
    }

    fn put_mapping(
        &mut self,
        indices: &[String],
        mappings: Value,
        options: Option<IndicesOptions>,
    ) -> Result<MetadataOutcome, ClusterError> {
        if !mappings.is_object() {
            return Err(ClusterError::illegal_argument("Failed to parse mapping: mappings must be an object"));
        }
        let opts = options.unwrap_or(IndicesOptions::update_default());
        let resolved = self.resolve_indices(indices, &opts)?;
        for name in &resolved {
            if let Some(meta) = self.indices.get(name) {
                meta.check_block(BlockLevel::MetadataWrite)?;
            }
        }
        for name in &resolved {
            if let Some(meta) = self.indices.get_mut(name)
                && meta.mappings != mappings
            {
                meta.mappings = mappings.clone();
                meta.mapping_version += 1;
            }
        }
        Ok(MetadataOutcome::MappingUpdated { indices: resolved })
    }

    fn update_settings(
        &mut self,
        indices: &[String],
        settings: &Value,
        preserve_existing: bool,
        options: Option<IndicesOptions>,
    ) -> Result<MetadataOutcome, ClusterError> {
        // `PUT _settings` accepts the settings bare or wrapped in `{"settings": ...}`.
        let body = match settings {
            Value::Object(o) if o.len() == 1 && o.get("settings").is_some_and(Value::is_object) => &o["settings"],
            other => other,
        };
        let update = parse_index_settings(body)?;
        if update.is_empty() {
            return Err(ClusterError::ActionRequestValidation(vec!["no settings to update".into()]));
        }
        let mut static_keys = BTreeSet::new();
        let mut final_keys = BTreeSet::new();
        for (key, value) in &update {
            if is_wildcard(key) {
                if value.is_null() {
                    continue;
                }
                return Err(index_unknown_setting_error(key));
            }
            let known = lookup_index_setting(key).ok_or_else(|| index_unknown_setting_error(key))?;
            if known.private {
                return Err(ClusterError::illegal_argument(format!(
                    "can not update private setting [{key}]; this setting is managed by Elasticsearch"
                )));
            }
            validate_value(key, known.kind, value)?;
            if !known.dynamic {
                static_keys.insert(key.clone());
            }
            if known.is_final {
                final_keys.insert(key.clone());
            }
        }

        let opts = options.unwrap_or(IndicesOptions::update_default());
        let resolved = self.resolve_indices(indices, &opts)?;

        if !update.keys().all(|k| k.starts_with("index.blocks.")) {
            for name in &resolved {
                if let Some(meta) = self.indices.get(name) {
                    meta.check_block(BlockLevel::MetadataWrite)?;
                }
            }
        }

        let open: Vec<String> = resolved
            .iter()
            .filter_map(|n| self.indices.get(n))
            .filter(|m| m.is_open())
            .map(IndexMetadata::index_ref)
            .collect();
        if !static_keys.is_empty() && !open.is_empty() {
            return Err(ClusterError::illegal_argument(format!(
                "Can't update non dynamic settings [[{}]] for open indices [{}]",
                static_keys.iter().cloned().collect::<Vec<_>>().join(", "),
                open.join(", ")
            )));
        }

        for name in &resolved {
            let Some(meta) = self.indices.get_mut(name) else {
                continue;
            };
            if let Some(key) = final_keys.iter().next() {
                return Err(ClusterError::illegal_argument(format!("final {name} setting [{key}], not updateable")));
            }
            let before = meta.settings.clone();
            let flat = meta.settings.flat_mut();
            for (key, value) in &update {
                if value.is_null() {
                    if is_wildcard(key) {
                        flat.retain(|k, _| !wildcard_match(key, k) || is_protected_key(k));
                    } else {
                        flat.remove(key);
                    }
                } else if preserve_existing && flat.contains_key(key) {
                    continue;
                } else {
                    flat.insert(key.clone(), value.clone());
                }
            }
            cross_validate(meta.settings.flat())?;
            if meta.settings != before {
                meta.settings_version += 1;
            }
        }
        Ok(MetadataOutcome::SettingsUpdated { indices: resolved })
    }

    fn set_state(
        &mut self,
        names: &[String],
        options: Option<IndicesOptions>,
        state: IndexState,
    ) -> Result<MetadataOutcome, ClusterError> {
        let opts = match state {
            IndexState::Close => {
                self.check_destructive(names)?;
                // The default options are `strict_expand_open`, ES's default for closing.
                options.unwrap_or_default()
            }
            IndexState::Open => options.unwrap_or(IndicesOptions::open_index_default()),
        };
        let resolved = self.resolve_indices(names, &opts)?;
        for name in &resolved {
            if let Some(meta) = self.indices.get_mut(name) {
                meta.state = state;
            }
        }
        Ok(match state {
            IndexState::Open => MetadataOutcome::IndicesOpened { indices: resolved },
            IndexState::Close => MetadataOutcome::IndicesClosed { indices: resolved },
        })
    }

    fn bump_primary_term(&mut self, index: &str, shard: u32) -> Result<MetadataOutcome, ClusterError> {
        let meta = self.indices.get_mut(index).ok_or_else(|| ClusterError::index_not_found(index))?;
        let term = meta.primary_terms.get_mut(shard as usize).ok_or_else(|| {
            ClusterError::illegal_argument(format!("shard [{shard}] does not exist in index [{index}]"))
        })?;
        *term += 1;
        Ok(MetadataOutcome::PrimaryTermBumped { index: index.to_string(), shard, primary_term: *term })
    }

    // -----------------------------------------------------------------------------------------
    // Aliases
    // -----------------------------------------------------------------------------------------

    fn update_aliases(&mut self, actions: &[AliasAction]) -> Result<MetadataOutcome, ClusterError> {
        if actions.is_empty() {
            return Err(ClusterError::ActionRequestValidation(vec!["Must specify at least one alias action".into()]));
        }
        // Blocks are checked against the state before the request, like ES's `checkBlock`.
        for action in actions {
            let resolved =
                self.resolve_indices(action.indices(), &IndicesOptions::aliases_default()).unwrap_or_default();
            for name in resolved {
                if let Some(meta) = self.indices.get(&name) {
                    meta.check_block(BlockLevel::MetadataWrite)?;
                }
            }
        }
        let mut applied_any = false;
        let mut all_aliases = BTreeSet::new();
        let mut lenient_remove = false;
        let mut touched = BTreeSet::new();
        // Aliases added by this request; checked against index names once every action (including
        // `remove_index`, which may free the name) has been applied.
        let mut added = BTreeSet::new();
        for action in actions {
            match action {
                AliasAction::Add {
                    indices,
                    aliases,
                    filter,
                    index_routing,
                    search_routing,
                    is_write_index,
                    is_hidden,
                } => {
                    all_aliases.extend(aliases.iter().cloned());
                    let resolved = self.resolve_indices(indices, &IndicesOptions::aliases_default())?;
                    let meta = AliasMetadata {
                        filter: filter.clone().filter(|f| f.as_object().is_some_and(|o| !o.is_empty())),
                        index_routing: index_routing.clone(),
                        search_routing: search_routing.clone(),
                        is_write_index: *is_write_index,
                        is_hidden: *is_hidden,
                    };
                    for alias in aliases {
                        validate_alias(alias, &meta)?;
                        added.insert(alias.clone());
                    }
                    for index in &resolved {
                        let Some(im) = self.indices.get_mut(index) else {
                            continue;
                        };
                        for alias in aliases {
                            applied_any = true;
                            if im.aliases.get(alias) != Some(&meta) {
                                im.aliases.insert(alias.clone(), meta.clone());
                                touched.insert(index.clone());
                            }
                        }
                    }
                }
                AliasAction::Remove { indices, aliases, must_exist } => {
                    all_aliases.extend(aliases.iter().cloned());
                    if *must_exist == Some(false) {
                        lenient_remove = true;
                    }
                    let resolved = self.resolve_indices(indices, &IndicesOptions::aliases_default())?;
                    let mut removed_any = false;
                    for index in &resolved {
                        let Some(im) = self.indices.get_mut(index) else {
                            continue;
                        };
                        let matching: Vec<String> = im
                            .aliases
                            .keys()
                            .filter(|a| aliases.iter().any(|p| p == "_all" || wildcard_match(p, a)))
                            .cloned()
                            .collect();
                        if *must_exist == Some(true) {
                            let missing: Vec<String> = aliases
                                .iter()
                                .filter(|p| !is_wildcard(p) && *p != "_all")
                                .filter(|p| !im.aliases.contains_key(*p))
                                .cloned()
                                .collect();
                            if !missing.is_empty() {
                                return Err(ClusterError::AliasesNotFound { aliases: missing });
                            }
                        }
                        for alias in matching {
                            im.aliases.remove(&alias);
                            removed_any = true;
                            touched.insert(index.clone());
                        }
                    }
                    if removed_any {
                        applied_any = true;
                    } else if *must_exist == Some(true) {
                        return Err(ClusterError::AliasesNotFound { aliases: aliases.clone() });
                    }
                }
                AliasAction::RemoveIndex { indices } => {
                    let resolved = self.resolve_indices(indices, &IndicesOptions::delete_index_default())?;
                    for index in resolved {
                        if self.indices.remove(&index).is_some() {
                            applied_any = true;
                        }
                        touched.remove(&index);
                    }
                }
            }
        }
        if !applied_any && !lenient_remove {
            return Err(ClusterError::AliasesNotFound { aliases: all_aliases.into_iter().collect() });
        }
        if let Some(alias) = added.iter().find(|a| self.indices.contains_key(*a)) {
            return Err(ClusterError::InvalidAliasName {
                alias: alias.clone(),
                reason: "an index or data stream exists with the same name as the alias".into(),
                index: None,
            });
        }
        for index in touched {
            if let Some(im) = self.indices.get_mut(&index) {
                im.aliases_version += 1;
            }
        }
        Ok(MetadataOutcome::AliasesUpdated)
    }

    /// ES's `Metadata.validateAlias`: at most one write index per alias and the same `is_hidden` on
    /// every index of an alias.
    pub fn validate_alias_invariants(&self) -> Result<(), ClusterError> {
        let mut by_alias: BTreeMap<&str, Vec<(&str, &AliasMetadata)>> = BTreeMap::new();
        for (index, meta) in &self.indices {
            for (alias, am) in &meta.aliases {
                by_alias.entry(alias).or_default().push((index, am));
            }
        }
        for (alias, members) in by_alias {
            let writers: Vec<&str> =
                members.iter().filter(|(_, am)| am.is_write_index == Some(true)).map(|(i, _)| *i).collect();
            if writers.len() > 1 {
                return Err(ClusterError::IllegalState(format!(
                    "alias [{alias}] has more than one write index [{}]",
                    writers.join(",")
                )));
            }
            let hidden: Vec<&str> =
                members.iter().filter(|(_, am)| am.is_hidden == Some(true)).map(|(i, _)| *i).collect();
            if !hidden.is_empty() && hidden.len() != members.len() {
                let visible: Vec<&str> =
                    members.iter().filter(|(_, am)| am.is_hidden != Some(true)).map(|(i, _)| *i).collect();
                return Err(ClusterError::IllegalState(format!(
                    "alias [{alias}] has is_hidden set to true on indices [{}] but does not have is_hidden set to true on indices [{}]; alias must have the same is_hidden setting on all indices",
                    hidden.join(","),
                    visible.join(",")
                )));
            }
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Templates
    // -----------------------------------------------------------------------------------------

    fn put_index_template(
        &mut self,
        name: String,
        body: &Value,
        create: bool,
    ) -> Result<MetadataOutcome, ClusterError> {
        let template = IndexTemplate::parse(body)?;
        if create && self.templates.contains_key(&name) {
            return Err(ClusterError::illegal_argument(format!("index template [{name}] already exists")));
        }
        validate_template_parts(&name, &template.index_patterns, template.template.as_ref())?;
        let missing: Vec<&str> = template
            .composed_of
            .iter()
            .filter(|c| !self.component_templates.contains_key(*c))
            .filter(|c| !template.ignore_missing_component_templates.contains(c))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(ClusterError::illegal_argument(format!(
                "index template [{name}] specifies component templates [{}] that do not exist",
                missing.join(", ")
            )));
        }
        let priority = template.priority_or_zero();
        let overlaps: Vec<(&String, &IndexTemplate)> = self
            .templates
            .iter()
            .filter(|(other, t)| **other != name && t.priority_or_zero() == priority)
            .filter(|(_, t)| {
                t.index_patterns.iter().any(|a| template.index_patterns.iter().any(|b| patterns_intersect(a, b)))
            })
            .collect();
        if !overlaps.is_empty() {
            return Err(ClusterError::illegal_argument(format!(
                "index template [{name}] has index patterns [{}] matching patterns from existing templates [{}] with patterns ({}) that have the same priority [{priority}], multiple index templates may not match during index creation, please use a different priority",
                template.index_patterns.join(", "),
                overlaps.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(","),
                overlaps
                    .iter()
                    .map(|(n, t)| format!("{n} => [{}]", t.index_patterns.join(", ")))
                    .collect::<Vec<_>>()
                    .join(",")
            )));
        }
        self.templates.insert(name.clone(), template);
        Ok(MetadataOutcome::IndexTemplatePut { name })
    }

    fn delete_index_templates(&mut self, name: &str) -> Result<MetadataOutcome, ClusterError> {
        let names = split_names(&[name.to_string()]);
        let mut to_delete = BTreeSet::new();
        let mut missing = Vec::new();
        for n in &names {
            if is_wildcard(n) {
                to_delete.extend(self.templates.keys().filter(|k| wildcard_match(n, k)).cloned());
            } else if self.templates.contains_key(n) {
                to_delete.insert(n.clone());
            } else {
                missing.push(n.clone());
            }
        }
        if !missing.is_empty() {
            return Err(ClusterError::IndexTemplateMissing { name: missing.join(",") });
        }
        if to_delete.is_empty() && !names.iter().all(|n| is_match_all(n)) {
            return Err(ClusterError::IndexTemplateMissing { name: name.to_string() });
        }
        for n in &to_delete {
            self.templates.remove(n);
        }
        Ok(MetadataOutcome::IndexTemplatesDeleted { names: to_delete.into_iter().collect() })
    }

    fn put_component_template(
        &mut self,
        name: String,
        body: &Value,
        create: bool,
    ) -> Result<MetadataOutcome, ClusterError> {
        let component = ComponentTemplate::parse(body)?;
        if create && self.component_templates.contains_key(&name) {
            return Err(ClusterError::illegal_argument(format!("component template [{name}] already exists")));
        }
        validate_template_parts(&name, &[], Some(&component.template))?;
        self.component_templates.insert(name.clone(), component);
        Ok(MetadataOutcome::ComponentTemplatePut { name })
    }

    fn delete_component_templates(&mut self, name: &str) -> Result<MetadataOutcome, ClusterError> {
        let names = split_names(&[name.to_string()]);
        let mut to_delete = BTreeSet::new();
        let mut missing = Vec::new();
        for n in &names {
            if is_wildcard(n) {
                to_delete.extend(self.component_templates.keys().filter(|k| wildcard_match(n, k)).cloned());
            } else if self.component_templates.contains_key(n) {
                to_delete.insert(n.clone());
            } else {
                missing.push(n.clone());
            }
        }
        if !missing.is_empty() {
            return Err(ClusterError::ResourceNotFound(missing.join(",")));
        }
        if to_delete.is_empty() && !names.iter().all(|n| is_match_all(n)) {
            return Err(ClusterError::ResourceNotFound(name.to_string()));
        }
        let users: Vec<&str> = self
            .templates
            .iter()
            .filter(|(_, t)| t.composed_of.iter().any(|c| to_delete.contains(c)))
            .map(|(n, _)| n.as_str())
            .collect();
        if !users.is_empty() {
            let used: Vec<&str> = to_delete
                .iter()
                .filter(|c| self.templates.values().any(|t| t.composed_of.contains(c)))
                .map(String::as_str)
                .collect();
            return Err(ClusterError::illegal_argument(format!(
                "component templates [{}] cannot be removed as they are still in use by index templates [{}]",
                used.join(", "),
                users.join(", ")
            )));
        }
        for n in &to_delete {
            self.component_templates.remove(n);
        }
        Ok(MetadataOutcome::ComponentTemplatesDeleted { names: to_delete.into_iter().collect() })
    }

    // -----------------------------------------------------------------------------------------
    // Cluster settings
    // -----------------------------------------------------------------------------------------

    fn put_cluster_settings(&mut self, persistent: &Value, transient: &Value) -> Result<MetadataOutcome, ClusterError> {
        let persistent = flatten_settings(persistent)?;
        let transient = flatten_settings(transient)?;
        if persistent.is_empty() && transient.is_empty() {
            return Err(ClusterError::ActionRequestValidation(vec!["no settings to update".into()]));
        }
        validate_cluster_update("persistent", &persistent)?;
        validate_cluster_update("transient", &transient)?;
        let applied_persistent = apply_cluster_update(&mut self.persistent_settings, &persistent);
        let applied_transient = apply_cluster_update(&mut self.transient_settings, &transient);
        Ok(MetadataOutcome::ClusterSettingsUpdated { persistent: applied_persistent, transient: applied_transient })
    }
}

/// Settings a wildcard reset must never remove (they identify the index).
fn is_protected_key(key: &str) -> bool {
    matches!(
        key,
        SETTING_UUID
            | SETTING_VERSION_CREATED
            | SETTING_CREATION_DATE
            | SETTING_PROVIDED_NAME
            | SETTING_NUMBER_OF_SHARDS
            | crate::settings::SETTING_NUMBER_OF_ROUTING_SHARDS
            | crate::settings::SETTING_ROUTING_PARTITION_SIZE
    )
}
