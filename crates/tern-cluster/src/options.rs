//! `IndicesOptions`: how an index expression is resolved (ES's `ignore_unavailable`,
//! `allow_no_indices`, `expand_wildcards` parameters, plus the per-API flags that are not parameters).

use serde::{Deserialize, Serialize};

use crate::error::ClusterError;

/// Which indices a wildcard expands to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpandWildcards {
    pub open: bool,
    pub closed: bool,
    pub hidden: bool,
}

impl ExpandWildcards {
    pub const OPEN: ExpandWildcards = ExpandWildcards { open: true, closed: false, hidden: false };
    pub const CLOSED: ExpandWildcards = ExpandWildcards { open: false, closed: true, hidden: false };
    pub const OPEN_CLOSED: ExpandWildcards = ExpandWildcards { open: true, closed: true, hidden: false };
    pub const ALL: ExpandWildcards = ExpandWildcards { open: true, closed: true, hidden: true };
    pub const NONE: ExpandWildcards = ExpandWildcards { open: false, closed: false, hidden: false };

    /// Parses `expand_wildcards` (`open,closed,hidden,none,all`, comma separated).
    pub fn parse(value: &str) -> Result<ExpandWildcards, ClusterError> {
        let mut out = ExpandWildcards::NONE;
        for token in value.split(',').map(str::trim) {
            match token {
                "open" => out.open = true,
                "closed" => out.closed = true,
                "hidden" => out.hidden = true,
                "none" => out = ExpandWildcards::NONE,
                "all" => out = ExpandWildcards::ALL,
                other => {
                    return Err(ClusterError::illegal_argument(format!("No valid expand wildcard value [{other}]")));
                }
            }
        }
        Ok(out)
    }

    /// Whether wildcards expand to nothing at all.
    pub fn is_none(&self) -> bool {
        !self.open && !self.closed
    }
}

/// How index expressions resolve to concrete indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndicesOptions {
    /// Skip missing (and, where closed indices are forbidden, closed) concrete names instead of failing.
    pub ignore_unavailable: bool,
    /// Accept an expression that resolves to no index at all.
    pub allow_no_indices: bool,
    pub expand_wildcards: ExpandWildcards,
    /// Naming a closed index explicitly is an `index_closed_exception` (searches, writes).
    #[serde(default)]
    pub forbid_closed_indices: bool,
    /// Aliases are not accepted: naming one is an error and wildcards do not match them (delete index).
    #[serde(default)]
    pub ignore_aliases: bool,
}

impl Default for IndicesOptions {
    fn default() -> Self {
        IndicesOptions::strict_expand_open()
    }
}

impl IndicesOptions {
    /// `ignore_unavailable=false, allow_no_indices=true, expand_wildcards=open`.
    pub const fn strict_expand_open() -> Self {
        IndicesOptions {
            ignore_unavailable: false,
            allow_no_indices: true,
            expand_wildcards: ExpandWildcards::OPEN,
            forbid_closed_indices: false,
            ignore_aliases: false,
        }
    }

    /// The search default: like `strict_expand_open` but naming a closed index fails.
    pub const fn strict_expand_open_forbid_closed() -> Self {
        IndicesOptions { forbid_closed_indices: true, ..IndicesOptions::strict_expand_open() }
    }

    /// `ignore_unavailable=true, allow_no_indices=true, expand_wildcards=open`.
    pub const fn lenient_expand_open() -> Self {
        IndicesOptions { ignore_unavailable: true, ..IndicesOptions::strict_expand_open() }
    }

    /// `ignore_unavailable=false, allow_no_indices=true, expand_wildcards=open,closed`.
    pub const fn strict_expand_open_closed() -> Self {
        IndicesOptions { expand_wildcards: ExpandWildcards::OPEN_CLOSED, ..IndicesOptions::strict_expand_open() }
    }

    /// Delete index: open and closed, no aliases.
    pub const fn delete_index_default() -> Self {
        IndicesOptions { ignore_aliases: true, ..IndicesOptions::strict_expand_open_closed() }
    }

    /// Open index: wildcards expand to closed indices.
    pub const fn open_index_default() -> Self {
        IndicesOptions { expand_wildcards: ExpandWildcards::CLOSED, ..IndicesOptions::strict_expand_open() }
    }

    /// Update settings / put mapping: open and closed, at least one index.
    pub const fn update_default() -> Self {
        IndicesOptions { allow_no_indices: false, ..IndicesOptions::strict_expand_open_closed() }
    }

    /// `POST _aliases` index expressions: open and closed, at least one index.
    pub const fn aliases_default() -> Self {
        IndicesOptions { allow_no_indices: false, ..IndicesOptions::strict_expand_open_closed() }
    }

    /// Builds options from the REST parameters, starting from the API's defaults.
    pub fn from_params(
        ignore_unavailable: Option<&str>,
        allow_no_indices: Option<&str>,
        expand_wildcards: Option<&str>,
        defaults: IndicesOptions,
    ) -> Result<IndicesOptions, ClusterError> {
        let mut out = defaults;
        if let Some(v) = ignore_unavailable {
            out.ignore_unavailable = param_bool(v)?;
        }
        if let Some(v) = allow_no_indices {
            out.allow_no_indices = param_bool(v)?;
        }
        if let Some(v) = expand_wildcards {
            out.expand_wildcards = ExpandWildcards::parse(v)?;
        }
        Ok(out)
    }
}

/// REST boolean parameter: an empty value (`?ignore_unavailable`) counts as `true`.
fn param_bool(value: &str) -> Result<bool, ClusterError> {
    match value {
        "" | "true" => Ok(true),
        "false" => Ok(false),
        other => Err(ClusterError::illegal_argument(format!(
            "Failed to parse value [{other}] as only [true] or [false] are allowed."
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_expand_wildcards() {
        assert_eq!(ExpandWildcards::parse("open").unwrap(), ExpandWildcards::OPEN);
        assert_eq!(ExpandWildcards::parse("open,closed").unwrap(), ExpandWildcards::OPEN_CLOSED);
        assert_eq!(ExpandWildcards::parse("all").unwrap(), ExpandWildcards::ALL);
        assert_eq!(ExpandWildcards::parse("none").unwrap(), ExpandWildcards::NONE);
        assert!(ExpandWildcards::parse("open,hidden").unwrap().hidden);
        assert_eq!(ExpandWildcards::parse("bogus").unwrap_err().to_string(), "No valid expand wildcard value [bogus]");
    }

    #[test]
    fn from_params_overrides_defaults() {
        let o = IndicesOptions::from_params(
            Some("true"),
            Some("false"),
            Some("all"),
            IndicesOptions::strict_expand_open_forbid_closed(),
        )
        .unwrap();
        assert!(o.ignore_unavailable);
        assert!(!o.allow_no_indices);
        assert_eq!(o.expand_wildcards, ExpandWildcards::ALL);
        assert!(o.forbid_closed_indices);
        let o = IndicesOptions::from_params(Some(""), None, None, IndicesOptions::default()).unwrap();
        assert!(o.ignore_unavailable);
        assert!(IndicesOptions::from_params(Some("yes"), None, None, IndicesOptions::default()).is_err());
    }
}
