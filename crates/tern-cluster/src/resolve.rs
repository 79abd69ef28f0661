//! Read-only queries over the metadata: index expression resolution (ES's
//! `IndexNameExpressionResolver`), write-index resolution, alias filters and routing, lookups.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::alias::{AliasMetadata, split_routing};
use crate::cluster_settings::{ACTION_AUTO_CREATE_INDEX, ACTION_DESTRUCTIVE_REQUIRES_NAME, AutoCreateIndex};
use crate::error::ClusterError;
use crate::metadata::{BlockLevel, ClusterMetadata, IndexMetadata, IndexState};
use crate::options::IndicesOptions;
use crate::settings::{display_value, parse_bool};
use crate::template::{ComponentTemplate, IndexTemplate};
use crate::wildcard::{is_wildcard, wildcard_match};

static NO_ALIASES: BTreeMap<String, AliasMetadata> = BTreeMap::new();

/// Where a write addressed to an index or alias goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteTarget {
    /// The concrete index.
    pub index: String,
    pub uuid: String,
    /// The alias the write was addressed to, if any.
    pub alias: Option<String>,
    /// The alias's `index_routing`, if any.
    pub index_routing: Option<String>,
}

impl WriteTarget {
    /// The routing a write must use: the alias's index routing wins, and a different explicit
    /// routing is rejected (ES's `Metadata.resolveIndexRouting`).
    pub fn effective_routing(&self, request_routing: Option<&str>) -> Result<Option<String>, ClusterError> {
        let Some(alias_routing) = &self.index_routing else {
            return Ok(request_routing.map(String::from));
        };
        let alias = self.alias.as_deref().unwrap_or(&self.index);
        if alias_routing.contains(',') {
            return Err(ClusterError::illegal_argument(format!(
                "index/alias [{alias}] provided with routing value [{alias_routing}] that resolved to several routing values, rejecting operation"
            )));
        }
        if let Some(r) = request_routing
            && r != alias_routing
        {
            return Err(ClusterError::illegal_argument(format!(
                "Alias [{alias}] has index routing associated with it [{alias_routing}], and was provided with routing value [{r}], rejecting operation"
            )));
        }
        Ok(Some(alias_routing.clone()))
    }
}

/// The result of an alias lookup (`GET _alias/{name}`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AliasLookup {
    /// For every requested index, the matching aliases (possibly none).
    pub by_index: BTreeMap<String, BTreeMap<String, AliasMetadata>>,
    /// Requested alias names (not wildcards) that matched nothing: ES answers 404 with
    /// `alias [x] missing` (or `aliases [x,y] missing`) next to the partial result.
    pub missing: Vec<String>,
}

/// One name an expression resolved to, before aliases are replaced by their indices.
struct ResolvedName {
    name: String,
    is_alias: bool,
    /// Named explicitly (not through a wildcard).
    explicit: bool,
}

fn split_expressions(expr: &[String]) -> Vec<&str> {
    expr.iter().flat_map(|e| e.split(',')).map(str::trim).filter(|s| !s.is_empty()).collect()
}

fn is_all(parts: &[&str]) -> bool {
    parts.is_empty() || (parts.len() == 1 && parts[0] == "_all")
}

impl ClusterMetadata {
    // -----------------------------------------------------------------------------------------
    // Simple lookups
    // -----------------------------------------------------------------------------------------

    pub fn index(&self, name: &str) -> Option<&IndexMetadata> {
        self.indices.get(name)
    }

    pub fn has_index(&self, name: &str) -> bool {
        self.indices.contains_key(name)
    }

    /// Whether some index carries this alias.
    pub fn has_alias(&self, alias: &str) -> bool {
        self.indices.values().any(|m| m.aliases.contains_key(alias))
    }

    /// The indices an alias points to, sorted by name.
    pub fn alias_indices(&self, alias: &str) -> Vec<&IndexMetadata> {
        self.indices.values().filter(|m| m.aliases.contains_key(alias)).collect()
    }

    /// Every alias name in the cluster.
    pub fn all_aliases(&self) -> BTreeSet<&str> {
        self.indices.values().flat_map(|m| m.aliases.keys().map(String::as_str)).collect()
    }

    /// The aliases of one index (empty for unknown indices).
    pub fn aliases_for(&self, index: &str) -> &BTreeMap<String, AliasMetadata> {
        self.indices.get(index).map(|m| &m.aliases).unwrap_or(&NO_ALIASES)
    }

    /// An index by exact name, or `index_not_found_exception`.
    pub fn concrete_index(&self, name: &str) -> Result<&IndexMetadata, ClusterError> {
        self.indices.get(name).ok_or_else(|| ClusterError::index_not_found(name))
    }

    /// Fails with `cluster_block_exception` when an `index.blocks.*` block applies to `level`.
    pub fn check_index_block(&self, index: &str, level: BlockLevel) -> Result<(), ClusterError> {
        self.concrete_index(index)?.check_block(level)
    }

    // -----------------------------------------------------------------------------------------
    // Cluster settings
    // -----------------------------------------------------------------------------------------

    /// The effective value of a cluster setting: transient over persistent.
    pub fn cluster_setting(&self, key: &str) -> Option<&Value> {
        self.transient_settings.get(key).or_else(|| self.persistent_settings.get(key))
    }

    /// `action.destructive_requires_name` (ES 8 default: true).
    pub fn destructive_requires_name(&self) -> bool {
        self.cluster_setting(ACTION_DESTRUCTIVE_REQUIRES_NAME)
            .and_then(Value::as_str)
            .and_then(|s| parse_bool(s).ok())
            .unwrap_or(true)
    }

    /// Whether a write may auto-create `index`: a matching template's `allow_auto_create` wins over
    /// `action.auto_create_index`. Errors are ES's `index_not_found_exception` variants.
    pub fn check_auto_create(&self, index: &str) -> Result<(), ClusterError> {
        if let Some((_, t)) = self.find_matching_template(index, false)
            && let Some(allow) = t.allow_auto_create
        {
            return if allow {
                Ok(())
            } else {
                Err(ClusterError::IndexNotFound {
                    index: index.to_string(),
                    detail: Some(format!(
                        "composable template [{}] forbids index auto creation",
                        t.index_patterns.join(", ")
                    )),
                })
            };
        }
        match self.cluster_setting(ACTION_AUTO_CREATE_INDEX) {
            None => Ok(()),
            Some(v) => AutoCreateIndex::parse(v).check(index, &display_value(v)),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Templates
    // -----------------------------------------------------------------------------------------

    /// `GET _index_template[/{name}]`: all templates, or those matching a (comma list of) name or
    /// wildcard. A concrete name that does not exist is a 404.
    pub fn get_index_templates(&self, name: Option<&str>) -> Result<Vec<(&str, &IndexTemplate)>, ClusterError> {
        lookup_templates(&self.templates, name, "index template")
    }

    /// `GET _component_template[/{name}]`.
    pub fn get_component_templates(&self, name: Option<&str>) -> Result<Vec<(&str, &ComponentTemplate)>, ClusterError> {
        lookup_templates(&self.component_templates, name, "component template")
    }

    // -----------------------------------------------------------------------------------------
    // Expression resolution
    // -----------------------------------------------------------------------------------------

    /// Whether wildcards may see this index under these options.
    fn index_visible(&self, meta: &IndexMetadata, pattern: &str, opts: &IndicesOptions) -> bool {
        let state_ok = match meta.state {
            IndexState::Open => opts.expand_wildcards.open,
            IndexState::Close => opts.expand_wildcards.closed,
        };
        let hidden = meta.is_hidden() || meta.name.starts_with('.');
        let hidden_ok =
            !hidden || opts.expand_wildcards.hidden || (meta.name.starts_with('.') && pattern.starts_with('.'));
        state_ok && hidden_ok
    }

    fn alias_visible(&self, alias: &str, pattern: &str, opts: &IndicesOptions) -> bool {
        let hidden = alias.starts_with('.')
            || self.indices.values().any(|m| m.aliases.get(alias).is_some_and(|a| a.is_hidden == Some(true)));
        !hidden || opts.expand_wildcards.hidden || (alias.starts_with('.') && pattern.starts_with('.'))
    }

    fn state_matches(meta: &IndexMetadata, opts: &IndicesOptions) -> bool {
        match meta.state {
            IndexState::Open => opts.expand_wildcards.open,
            IndexState::Close => opts.expand_wildcards.closed,
        }
    }

    /// Resolves expressions to index and alias names; `None` means "all indices". With
    /// `preserve_aliases` a wildcard matching an alias yields the alias name instead of its indices.
    fn resolve_names(
        &self,
        expr: &[String],
        opts: &IndicesOptions,
        preserve_aliases: bool,
    ) -> Result<Option<Vec<ResolvedName>>, ClusterError> {
        let parts = split_expressions(expr);
        if is_all(&parts) {
            return Ok(None);
        }
        let mut out: Vec<ResolvedName> = Vec::new();
        let mut seen: BTreeSet<(String, bool)> = BTreeSet::new();
        let mut push = |out: &mut Vec<ResolvedName>, name: &str, is_alias: bool, explicit: bool| {
            if seen.insert((name.to_string(), is_alias)) {
                out.push(ResolvedName { name: name.to_string(), is_alias, explicit });
            } else if explicit && let Some(existing) = out.iter_mut().find(|r| r.name == name && r.is_alias == is_alias)
            {
                existing.explicit = true;
            }
        };
        let mut wildcard_seen = false;
        for part in parts {
            if let Some(excluded) = part.strip_prefix('-')
                && wildcard_seen
            {
                out.retain(|r| !wildcard_match(excluded, &r.name));
                continue;
            }
            let pattern = if part == "_all" { "*" } else { part };
            if is_wildcard(pattern) {
                wildcard_seen = true;
                if opts.expand_wildcards.is_none() {
                    continue;
                }
                let before = out.len();
                for meta in self.indices.values() {
                    if wildcard_match(pattern, &meta.name) && self.index_visible(meta, pattern, opts) {
                        push(&mut out, &meta.name, false, false);
                    }
                }
                if !opts.ignore_aliases {
                    for alias in self.all_aliases() {
                        if !wildcard_match(pattern, alias) || !self.alias_visible(alias, pattern, opts) {
                            continue;
                        }
                        if preserve_aliases {
                            push(&mut out, alias, true, false);
                        } else {
                            for meta in self.alias_indices(alias) {
                                if Self::state_matches(meta, opts) {
                                    push(&mut out, &meta.name, false, false);
                                }
                            }
                        }
                    }
                }
                if out.len() == before && !opts.allow_no_indices {
                    return Err(ClusterError::index_not_found(part));
                }
                continue;
            }
            if self.indices.contains_key(part) {
                push(&mut out, part, false, true);
            } else if self.has_alias(part) {
                if opts.ignore_aliases {
                    return Err(ClusterError::illegal_argument(format!(
                        "The provided expression [{part}] matches an alias, specify the corresponding concrete indices instead."
                    )));
                }
                push(&mut out, part, true, true);
            } else if !opts.ignore_unavailable {
                return Err(ClusterError::index_not_found(part));
            }
        }
        Ok(Some(out))
    }

    /// Resolves an index expression (comma lists, `*`/`?` wildcards, `_all`, `-exclusions` after a
    /// wildcard, aliases) to concrete index names, honouring `expand_wildcards` (hidden and
    /// dot-prefixed indices only match wildcards with `hidden`, or a pattern that itself starts with
    /// `.`), `ignore_unavailable`, `allow_no_indices` and the closed-index rules.
    pub fn resolve_indices(&self, expr: &[String], opts: &IndicesOptions) -> Result<Vec<String>, ClusterError> {
        let names = match self.resolve_names(expr, opts, false)? {
            None => {
                let all: Vec<String> = self
                    .indices
                    .values()
                    .filter(|m| self.index_visible(m, "*", opts))
                    .map(|m| m.name.clone())
                    .collect();
                if all.is_empty() && !opts.allow_no_indices {
                    return Err(ClusterError::index_not_found("_all"));
                }
                return Ok(all);
            }
            Some(names) => names,
        };
        let mut out: Vec<String> = Vec::new();
        let mut seen = BTreeSet::new();
        for r in names {
            if r.is_alias {
                for meta in self.alias_indices(&r.name) {
                    if meta.is_closed() && (opts.forbid_closed_indices || !opts.expand_wildcards.closed) {
                        continue;
                    }
                    if seen.insert(meta.name.clone()) {
                        out.push(meta.name.clone());
                    }
                }
                continue;
            }
            let Some(meta) = self.indices.get(&r.name) else {
                continue;
            };
            if r.explicit && meta.is_closed() && opts.forbid_closed_indices {
                if opts.ignore_unavailable {
                    continue;
                }
                return Err(ClusterError::IndexClosed { index: meta.name.clone(), uuid: meta.uuid.clone() });
            }
            if seen.insert(meta.name.clone()) {
                out.push(meta.name.clone());
            }
        }
        if out.is_empty() && !opts.allow_no_indices {
            return Err(ClusterError::index_not_found(split_expressions(expr).join(",")));
        }
        Ok(out)
    }

    /// Where a write to `name` (an index or an alias) goes. An alias needs a write index: its only
    /// index (unless `is_write_index: false`) or the one with `is_write_index: true`.
    pub fn resolve_write_index(&self, name: &str) -> Result<WriteTarget, ClusterError> {
        if let Some(meta) = self.indices.get(name) {
            if meta.is_closed() {
                return Err(ClusterError::IndexClosed { index: meta.name.clone(), uuid: meta.uuid.clone() });
            }
            return Ok(WriteTarget {
                index: meta.name.clone(),
                uuid: meta.uuid.clone(),
                alias: None,
                index_routing: None,
            });
        }
        let members = self.alias_indices(name);
        if members.is_empty() {
            return Err(ClusterError::index_not_found(name));
        }
        let explicit: Vec<&&IndexMetadata> =
            members.iter().filter(|m| m.aliases[name].is_write_index == Some(true)).collect();
        let writer = match (explicit.first(), members.as_slice()) {
            (Some(m), _) => Some(**m),
            (None, [only]) if only.aliases[name].is_write_index != Some(false) => Some(*only),
            _ => None,
        };
        let Some(meta) = writer else {
            return Err(ClusterError::illegal_argument(format!(
                "no write index is defined for alias [{name}]. The write index may be explicitly disabled using is_write_index=false or the alias points to multiple indices without one being designated as a write index"
            )));
        };
        if meta.is_closed() {
            return Err(ClusterError::IndexClosed { index: meta.name.clone(), uuid: meta.uuid.clone() });
        }
        Ok(WriteTarget {
            index: meta.name.clone(),
            uuid: meta.uuid.clone(),
            alias: Some(name.to_string()),
            index_routing: meta.aliases[name].index_routing.clone(),
        })
    }

    /// The alias names and index names an expression names (aliases kept as aliases), for filters and
    /// routing. `None` means all indices.
    fn expression_names(&self, expr: &[String]) -> Option<BTreeSet<String>> {
        let opts = IndicesOptions {
            expand_wildcards: crate::options::ExpandWildcards::ALL,
            ..IndicesOptions::lenient_expand_open()
        };
        self.resolve_names(expr, &opts, true).ok().flatten().map(|names| names.into_iter().map(|r| r.name).collect())
    }

    /// The alias filters a search over `requested` must apply to documents of `index` (ES's
    /// `filteringAliases`). `None`: no filtering (the index was named directly, matched by a
    /// wildcard, reached through an alias without filter, or everything was requested).
    /// `Some(filters)`: a document must match at least one of them.
    pub fn alias_filters(&self, index: &str, requested: &[String]) -> Option<Vec<Value>> {
        let names = self.expression_names(requested)?;
        let meta = self.indices.get(index)?;
        if names.contains(index) {
            return None;
        }
        let mut filters = Vec::new();
        for (alias, am) in &meta.aliases {
            if !names.contains(alias) {
                continue;
            }
            match &am.filter {
                Some(f) => filters.push(f.clone()),
                None => return None,
            }
        }
        if filters.is_empty() { None } else { Some(filters) }
    }

    /// ES's `resolveSearchRouting`: the routing values each index must be searched with, combining
    /// alias `search_routing` and the request's `routing` (comma list). `None`: no restriction.
    pub fn resolve_search_routing(
        &self,
        routing: Option<&str>,
        requested: &[String],
    ) -> Option<BTreeMap<String, BTreeSet<String>>> {
        let param: Option<BTreeSet<String>> = routing.map(|r| split_routing(Some(r)).into_iter().collect());
        let names = match self.expression_names(requested) {
            Some(n) => n,
            None => {
                let param = param?;
                return Some(self.indices.keys().map(|k| (k.clone(), param.clone())).collect());
            }
        };
        let mut routings: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        // Indices reached without routing (directly or through an alias without search routing):
        // ES searches them with the request routing only, whatever other aliases say.
        let mut no_routing: BTreeSet<String> = BTreeSet::new();
        let collect =
            |routings: &mut BTreeMap<String, BTreeSet<String>>, no_routing: &mut BTreeSet<String>, index: &str| {
                if no_routing.insert(index.to_string()) {
                    match &param {
                        Some(p) => {
                            routings.insert(index.to_string(), p.clone());
                        }
                        None => {
                            routings.remove(index);
                        }
                    }
                }
            };
        for name in &names {
            if self.indices.contains_key(name) {
                collect(&mut routings, &mut no_routing, name);
                continue;
            }
            for meta in self.alias_indices(name) {
                if no_routing.contains(&meta.name) {
                    continue;
                }
                let values = meta.aliases[name].search_routing_values();
                if values.is_empty() {
                    collect(&mut routings, &mut no_routing, &meta.name);
                    continue;
                }
                let entry = routings.entry(meta.name.clone()).or_default();
                entry.extend(values);
                if let Some(p) = &param {
                    entry.retain(|v| p.contains(v));
                }
                if entry.is_empty() {
                    routings.remove(&meta.name);
                }
            }
        }
        if routings.is_empty() { None } else { Some(routings) }
    }

    /// `GET {indices}/_alias/{aliases}` over already resolved concrete indices. Alias patterns may
    /// be names, wildcards, `_all`/`*`, and `-exclusions` after a wildcard; empty means all.
    pub fn find_aliases(&self, indices: &[String], aliases: &[String]) -> AliasLookup {
        let patterns = split_expressions(aliases);
        let match_all = is_all(&patterns);
        let mut lookup = AliasLookup::default();
        let mut found_names = BTreeSet::new();
        for index in indices {
            let Some(meta) = self.indices.get(index) else {
                continue;
            };
            let mut matched = BTreeMap::new();
            for (alias, am) in &meta.aliases {
                if match_all || alias_selected(&patterns, alias) {
                    matched.insert(alias.clone(), am.clone());
                    found_names.insert(alias.clone());
                }
            }
            lookup.by_index.insert(index.clone(), matched);
        }
        if !match_all {
            lookup.missing = patterns
                .iter()
                .filter(|p| !is_wildcard(p) && !p.starts_with('-') && **p != "_all")
                .filter(|p| !found_names.contains(**p))
                .map(|p| p.to_string())
                .collect();
        }
        lookup
    }
}

/// Whether an alias is selected by a list of patterns with `-exclusions` after a wildcard.
fn alias_selected(patterns: &[&str], alias: &str) -> bool {
    let mut selected = false;
    let mut wildcard_seen = false;
    for p in patterns {
        if let Some(excluded) = p.strip_prefix('-')
            && wildcard_seen
        {
            if wildcard_match(excluded, alias) {
                selected = false;
            }
            continue;
        }
        let p = if *p == "_all" { "*" } else { p };
        if is_wildcard(p) {
            wildcard_seen = true;
        }
        if wildcard_match(p, alias) {
            selected = true;
        }
    }
    selected
}

fn lookup_templates<'a, T>(
    map: &'a BTreeMap<String, T>,
    name: Option<&str>,
    what: &str,
) -> Result<Vec<(&'a str, &'a T)>, ClusterError> {
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        return Ok(map.iter().map(|(k, v)| (k.as_str(), v)).collect());
    };
    let parts: Vec<&str> = name.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    let mut out = Vec::new();
    for part in &parts {
        let matched: Vec<(&str, &T)> =
            map.iter().filter(|(k, _)| wildcard_match(part, k)).map(|(k, v)| (k.as_str(), v)).collect();
        if matched.is_empty() && !is_wildcard(part) {
            return Err(ClusterError::ResourceNotFound(format!("{what} matching [{part}] not found")));
        }
        for m in matched {
            if !out.iter().any(|(k, _): &(&str, &T)| *k == m.0) {
                out.push(m);
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(b.0));
    Ok(out)
}
