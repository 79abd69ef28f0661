//! Shard allocation: which nodes hold the copies of each shard in a multi-node cluster.
//!
//! Allocation is part of the pure metadata state machine: after every command,
//! [`ClusterMetadata::allocate`] brings the routing table in line with the indices, their settings
//! and the node registry. Every node applies the same commands in the same order, so every node
//! computes the same table, and the master needs no separate "reroute" step that could be lost when
//! it dies.
//!
//! # Copies, voters and the witness
//!
//! Each shard is one raft group. Its data copies are `1 + number_of_replicas` nodes (fewer when
//! there are not enough eligible nodes: the rest stay unassigned and the index is yellow). A group
//! of exactly two data copies cannot keep a raft majority when one of them is lost, which would
//! break ES's promise that one replica survives one node loss; such a shard gets a third voter, a
//! **witness**, on a node without a copy: it stores the log but no index, and hands leadership to a
//! data copy as soon as it can. See `docs/architecture.md` for the trade-off against ES's in-sync
//! copies.
//!
//! # Decisions
//!
//! - Never two copies of one shard on one node; the witness is never on a copy's node. Its node
//!   takes a new copy of the shard only as a last resort and only while every copy is up (more
//!   replicas): while a copy is lost, the group needs the witness's vote. So on three nodes with one
//!   replica, a lost copy is re-created when its node returns or a fourth node joins; writes go on
//!   meanwhile.
//! - A copy whose node left the registry is dropped (and replaced) only while another started copy
//!   remains: the last copy of a shard is kept, so the shard is red until its node returns rather
//!   than silently replaced by an empty copy.
//! - New copies go to eligible nodes (data role, allocation filters) spreading over the values of
//!   the awareness attributes (`cluster.routing.allocation.awareness.attributes`), then to the node
//!   with the fewest copies, then by node id (deterministic).
//! - A copy is `started` once its group's primary has caught it up and made it a voter
//!   ([`crate::MetadataCommand::ShardStarted`]); surplus copies (fewer replicas, an excluded node) are
//!   removed only while enough started copies remain, the unstarted ones first.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::metadata::{ClusterMetadata, DiscoveryNode, IndexMetadata};
use crate::settings::parse_auto_expand_replicas;
use crate::wildcard::wildcard_match;

/// A copy outweighs any number of witnesses in a node's load: copies are balanced first, and
/// witnesses (cheap: a log, no index) only spread among nodes with equally many copies.
const COPY_WEIGHT: usize = 1 << 20;

/// Where the copies of one shard live.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardAllocation {
    /// Node ids of the data copies, in the order they were assigned.
    pub copies: Vec<String>,
    /// The copies that caught up and vote in the shard's group (ES's `STARTED`); the others are
    /// recovering (`INITIALIZING`).
    #[serde(default)]
    pub started: BTreeSet<String>,
    /// The log-only voter of a two-copy group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witness: Option<String>,
    /// Whether the witness votes in the group (reported like a started copy): until it does, the
    /// group tolerates no further loss, so the shard is not green.
    #[serde(default)]
    pub witness_started: bool,
    /// The copy leading the group (ES's primary), as its leader last reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<String>,
    /// The group's voters when it was created: these copies initialize the group, every later copy
    /// or witness joins it.
    #[serde(default)]
    pub initial: Vec<String>,
}

impl ShardAllocation {
    pub fn is_started(&self, node_id: &str) -> bool {
        self.started.contains(node_id)
    }

    /// A witness is assigned but does not vote yet.
    pub fn witness_pending(&self) -> bool {
        self.witness.is_some() && !self.witness_started
    }

    /// The voters the group should have: the started copies and the witness.
    pub fn voters(&self) -> BTreeSet<String> {
        let mut v: BTreeSet<String> = self.copies.iter().filter(|c| self.started.contains(*c)).cloned().collect();
        v.extend(self.witness.clone());
        v
    }
}

/// Why a shard copy cannot be placed on a node, for `_cluster/allocation/explain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeDecision {
    pub node: DiscoveryNode,
    /// `None` when the node could take the copy.
    pub refusal: Option<(&'static str, String)>,
}

impl ClusterMetadata {
    /// The allocation of one shard.
    pub fn shard_allocation(&self, index_uuid: &str, shard: u32) -> Option<&ShardAllocation> {
        self.routing_table.get(index_uuid).and_then(|shards| shards.get(shard as usize))
    }

    /// The number of data copies an index wants: `1 + number_of_replicas`, or the range of
    /// `auto_expand_replicas` clamped to the data nodes.
    pub fn wanted_copies(&self, im: &IndexMetadata) -> usize {
        let data_nodes = self.nodes.values().filter(|n| n.is_data()).count() as u32;
        let auto = im.settings.get_str("index.auto_expand_replicas").and_then(|v| parse_auto_expand_replicas(v).ok());
        let replicas = match auto.flatten() {
            Some(range) => {
                let max = range.max.unwrap_or(u32::MAX).min(data_nodes.saturating_sub(1));
                max.max(range.min)
            }
            None => im.number_of_replicas(),
        };
        1 + replicas as usize
    }

    /// Whether `node` may hold a copy of `im`: a data node that the index's and the cluster's
    /// allocation filters allow. The reason is ES's decider name and explanation.
    pub fn can_allocate(&self, im: &IndexMetadata, node: &DiscoveryNode) -> Result<(), (&'static str, String)> {
        if !node.is_data() {
            return Err(("data_tier", "the node does not hold the [data] role".to_string()));
        }
        let index_filters = FilterSet::from_flat(im.settings.flat(), "index.routing.allocation.");
        if let Some(why) = index_filters.refuses(node) {
            return Err(("filter", format!("node does not match index setting [index.routing.allocation.{why}]")));
        }
        let mut cluster = self.persistent_settings.clone();
        cluster.extend(self.transient_settings.clone());
        let cluster_filters = FilterSet::from_flat(&cluster, "cluster.routing.allocation.");
        if let Some(why) = cluster_filters.refuses(node) {
            return Err(("filter", format!("node does not match cluster setting [cluster.routing.allocation.{why}]")));
        }
        Ok(())
    }

    fn awareness_attributes(&self) -> Vec<String> {
        let key = "cluster.routing.allocation.awareness.attributes";
        let v = self.transient_settings.get(key).or_else(|| self.persistent_settings.get(key));
        let list: Vec<String> = match v {
            Some(serde_json::Value::String(s)) => s.split(',').map(str::trim).map(String::from).collect(),
            Some(serde_json::Value::Array(a)) => a.iter().filter_map(|v| v.as_str()).map(String::from).collect(),
            _ => Vec::new(),
        };
        list.into_iter().filter(|s| !s.is_empty()).collect()
    }

    /// Brings the routing table in line with the indices, their settings and the node registry (see
    /// the module docs). A lone node (empty registry) has no routing table.
    pub(crate) fn allocate(&mut self) {
        let indices = &self.indices;
        self.routing_table.retain(|uuid, _| indices.values().any(|im| &im.uuid == uuid));
        if self.nodes.is_empty() {
            return;
        }
        let awareness = self.awareness_attributes();
        // Copies per node over the whole table (witnesses only break ties): the balance the next
        // placement keeps.
        let mut load: BTreeMap<String, usize> = self.nodes.keys().map(|id| (id.clone(), 0)).collect();
        for shards in self.routing_table.values() {
            for s in shards {
                for c in &s.copies {
                    *load.entry(c.clone()).or_default() += COPY_WEIGHT;
                }
                if let Some(w) = &s.witness {
                    *load.entry(w.clone()).or_default() += 1;
                }
            }
        }
        let uuids: Vec<(String, String)> = self.indices.values().map(|im| (im.name.clone(), im.uuid.clone())).collect();
        for (name, uuid) in uuids {
            let im = self.indices[&name].clone();
            let wanted = self.wanted_copies(&im);
            let n_shards = im.number_of_shards() as usize;
            let mut shards = self.routing_table.remove(&uuid).unwrap_or_default();
            shards.resize_with(n_shards, ShardAllocation::default);
            for s in shards.iter_mut() {
                self.allocate_shard(&im, s, wanted, &awareness, &mut load);
                if s.initial.is_empty() && !s.copies.is_empty() {
                    // A new group: its first copies are created together, empty, as its voters.
                    s.started = s.copies.iter().cloned().collect();
                    s.witness_started = s.witness.is_some();
                    s.initial = s.copies.iter().cloned().chain(s.witness.clone()).collect();
                }
            }
            self.routing_table.insert(uuid, shards);
        }
    }

    fn allocate_shard(
        &self,
        im: &IndexMetadata,
        s: &mut ShardAllocation,
        wanted: usize,
        awareness: &[String],
        load: &mut BTreeMap<String, usize>,
    ) {
        let present = |id: &str| self.nodes.contains_key(id);
        // 1. Copies on nodes that left: dropped while another started copy remains.
        let lost: Vec<String> = s.copies.iter().filter(|c| !present(c)).cloned().collect();
        for c in lost {
            let others_started = s.copies.iter().any(|o| *o != c && present(o) && s.started.contains(o));
            if others_started {
                s.copies.retain(|o| *o != c);
                s.started.remove(&c);
                if let Some(l) = load.get_mut(&c) {
                    *l = l.saturating_sub(COPY_WEIGHT);
                }
            }
        }
        // 2. New copies on eligible nodes until the shard has `wanted` copies on eligible nodes. A
        //    new copy recovers from a started one: with none reachable (a lost last copy) nothing is
        //    added, and the shard waits for its node.
        let eligible = |n: &DiscoveryNode| self.can_allocate(im, n).is_ok();
        let can_recover = s.initial.is_empty() || s.copies.iter().any(|c| present(c) && s.started.contains(c));
        loop {
            if !can_recover {
                break;
            }
            let placed = s.copies.iter().filter(|c| self.nodes.get(*c).is_some_and(eligible)).count();
            if placed >= wanted {
                break;
            }
            let Some(node) = self.pick_node(s, im, awareness, load) else { break };
            *load.entry(node.clone()).or_default() += COPY_WEIGHT;
            if s.witness.as_deref() == Some(node.as_str()) {
                s.witness = None;
            }
            s.copies.push(node);
        }
        // 3. Surplus copies (fewer replicas, excluded nodes), while enough started copies remain.
        loop {
            if s.copies.len() <= wanted.max(1) {
                break;
            }
            let started_eligible =
                s.copies.iter().filter(|c| s.started.contains(*c) && self.nodes.get(*c).is_some_and(eligible)).count();
            // The worst copy first: on an ineligible node, then not started, then the newest.
            let victim = s
                .copies
                .iter()
                .enumerate()
                .max_by_key(|(i, c)| {
                    let ineligible = !self.nodes.get(*c).is_some_and(eligible);
                    (ineligible, !s.started.contains(*c), *i)
                })
                .map(|(_, c)| c.clone());
            let Some(victim) = victim else { break };
            let victim_started = s.started.contains(&victim);
            let victim_eligible = self.nodes.get(&victim).is_some_and(eligible);
            // Keep a started copy until enough eligible ones have started to replace it.
            let remaining_started = started_eligible - usize::from(victim_started && victim_eligible);
            if victim_started && remaining_started < wanted.min(s.copies.len() - 1).max(1) {
                break;
            }
            s.copies.retain(|c| *c != victim);
            s.started.remove(&victim);
            if let Some(l) = load.get_mut(&victim) {
                *l = l.saturating_sub(COPY_WEIGHT);
            }
        }
        // 4. The witness of a two-copy group. It stays while a copy is lost (dropping a voter while
        //    another is down could leave the group without the majority it needs to reconfigure).
        let witness_ok = |w: &String| present(w) && !s.copies.contains(w);
        if s.copies.len() < 2 && wanted >= 2 && s.witness.as_ref().is_some_and(witness_ok) {
            return;
        }
        if s.copies.len() == 2 {
            if !s.witness.as_ref().is_some_and(witness_ok) {
                if let Some(w) = s.witness.take()
                    && let Some(l) = load.get_mut(&w)
                {
                    *l = l.saturating_sub(1);
                }
                let pick = self
                    .nodes
                    .keys()
                    .filter(|id| !s.copies.contains(*id))
                    .min_by_key(|id| (load.get(*id).copied().unwrap_or(0), (*id).clone()))
                    .cloned();
                if let Some(w) = pick {
                    *load.entry(w.clone()).or_default() += 1;
                    s.witness = Some(w);
                    s.witness_started = false;
                }
            }
        } else if let Some(w) = s.witness.take() {
            s.witness_started = false;
            if let Some(l) = load.get_mut(&w) {
                *l = l.saturating_sub(1);
            }
        }
    }

    /// The best node for a new copy of `s`, or `None` when no eligible node is free.
    fn pick_node(
        &self,
        s: &ShardAllocation,
        im: &IndexMetadata,
        awareness: &[String],
        load: &BTreeMap<String, usize>,
    ) -> Option<String> {
        // Copies per value of each awareness attribute: a value holding fewer copies comes first.
        let spread = |n: &DiscoveryNode| -> Vec<usize> {
            awareness
                .iter()
                .map(|attr| {
                    let value = n.attributes.get(attr);
                    s.copies
                        .iter()
                        .filter_map(|c| self.nodes.get(c))
                        .filter(|other| other.attributes.get(attr) == value)
                        .count()
                })
                .collect()
        };
        // The witness's node is the last resort, and only while every copy is up: it turns its
        // witness into a copy in place, replaying its raft log into a new index (see
        // `Node::reconcile_shards`). While a copy is lost, the group needs the witness's vote more
        // than a third copy.
        let up = s.copies.iter().filter(|c| self.nodes.contains_key(*c) && s.started.contains(*c)).count();
        let all_up = up >= 2 && up == s.copies.len();
        self.nodes
            .values()
            .filter(|n| !s.copies.contains(&n.id))
            .filter(|n| all_up || s.witness.as_ref() != Some(&n.id))
            .filter(|n| self.can_allocate(im, n).is_ok())
            .min_by_key(|n| {
                (s.witness.as_ref() == Some(&n.id), spread(n), load.get(&n.id).copied().unwrap_or(0), n.id.clone())
            })
            .map(|n| n.id.clone())
    }

    /// Every node's decision for a new copy of the shard (`_cluster/allocation/explain`).
    pub fn explain_allocation(&self, im: &IndexMetadata, shard: u32) -> Vec<NodeDecision> {
        let s = self.shard_allocation(&im.uuid, shard).cloned().unwrap_or_default();
        self.nodes
            .values()
            .map(|n| {
                let refusal = if s.witness.as_ref() == Some(&n.id) {
                    Some((
                        "witness",
                        format!(
                            "this node holds the raft log of [{}][{shard}] as its witness voter; a copy goes to another node",
                            im.name
                        ),
                    ))
                } else if s.copies.contains(&n.id) {
                    Some((
                        "same_shard",
                        format!(
                            "a copy of this shard is already allocated to this node [[{}][{shard}], node[{}]]",
                            im.name, n.id
                        ),
                    ))
                } else {
                    self.can_allocate(im, n).err()
                };
                NodeDecision { node: n.clone(), refusal }
            })
            .collect()
    }
}

/// `include`/`exclude`/`require` filters under a settings prefix.
struct FilterSet {
    include: Vec<(String, Vec<String>)>,
    exclude: Vec<(String, Vec<String>)>,
    require: Vec<(String, Vec<String>)>,
}

impl FilterSet {
    fn from_flat(flat: &crate::FlatSettings, prefix: &str) -> FilterSet {
        let mut set = FilterSet { include: Vec::new(), exclude: Vec::new(), require: Vec::new() };
        for (key, value) in flat {
            let Some(rest) = key.strip_prefix(prefix) else { continue };
            let Some((kind, attr)) = rest.split_once('.') else { continue };
            // `_tier_preference` is a tier rule, not a node filter: every data node is in every tier here.
            if attr == "_tier_preference" {
                continue;
            }
            let values: Vec<String> = match value {
                serde_json::Value::String(s) => {
                    s.split(',').map(str::trim).filter(|v| !v.is_empty()).map(String::from).collect()
                }
                serde_json::Value::Array(a) => a.iter().filter_map(|v| v.as_str()).map(String::from).collect(),
                _ => continue,
            };
            if values.is_empty() {
                continue;
            }
            let entry = (attr.to_string(), values);
            match kind {
                "include" => set.include.push(entry),
                "exclude" => set.exclude.push(entry),
                "require" => set.require.push(entry),
                _ => {}
            }
        }
        set
    }

    /// The first filter `node` fails, as `kind.attr` (e.g. `exclude._name`).
    fn refuses(&self, node: &DiscoveryNode) -> Option<String> {
        let matches = |attr: &str, values: &[String]| -> bool {
            let actual: Vec<&str> = match attr {
                "_name" => vec![node.name.as_str()],
                "_id" => vec![node.id.as_str()],
                "_ip" | "_host" | "_host_ip" | "_publish_ip" => {
                    vec![node.transport_address.rsplit_once(':').map_or(node.transport_address.as_str(), |(h, _)| h)]
                }
                other => node.attributes.get(other).map(String::as_str).into_iter().collect(),
            };
            values.iter().any(|p| actual.iter().any(|a| wildcard_match(p, a)))
        };
        for (attr, values) in &self.require {
            if !matches(attr, values) {
                return Some(format!("require.{attr}:\"{}\"", values.join(",")));
            }
        }
        if !self.include.is_empty() && !self.include.iter().any(|(attr, values)| matches(attr, values)) {
            let (attr, values) = &self.include[0];
            return Some(format!("include.{attr}:\"{}\"", values.join(",")));
        }
        for (attr, values) in &self.exclude {
            if matches(attr, values) {
                return Some(format!("exclude.{attr}:\"{}\"", values.join(",")));
            }
        }
        None
    }
}
