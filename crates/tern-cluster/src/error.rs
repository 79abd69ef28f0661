//! Errors of the metadata state machine and their mapping onto ES's wire vocabulary.
//!
//! Every variant carries exactly the pieces ES puts in its error body, so the conversion into
//! [`tern_common::EsError`] adds the same `index` / `index_uuid` / `resource.*` keys ES does.

use serde_json::Value;
use tern_common::{ErrorKind, EsError};

/// One block on an index, as ES prints it: `FORBIDDEN/8/index write (api)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockDescription {
    pub id: u32,
    pub description: &'static str,
    /// `FORBIDDEN` (403) or `TOO_MANY_REQUESTS` (429).
    pub status: u16,
}

impl BlockDescription {
    fn status_name(&self) -> &'static str {
        if self.status == 429 { "TOO_MANY_REQUESTS" } else { "FORBIDDEN" }
    }
}

impl std::fmt::Display for BlockDescription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.status_name(), self.id, self.description)
    }
}

fn join_blocks(blocks: &[BlockDescription]) -> String {
    blocks.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

fn validation_reason(messages: &[String]) -> String {
    let mut reason = String::from("Validation Failed: ");
    for (i, m) in messages.iter().enumerate() {
        reason.push_str(&format!("{}: {};", i + 1, m));
    }
    reason
}

/// Everything the metadata state machine can refuse, with ES's exact reasons.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClusterError {
    /// `index_not_found_exception` (404): `no such index [x]`, optionally followed by ` and <detail>`.
    #[error("no such index [{index}]{}", detail.as_ref().map(|d| format!(" and {d}")).unwrap_or_default())]
    IndexNotFound { index: String, detail: Option<String> },
    /// `resource_already_exists_exception` (400): `index [foo/<uuid>] already exists`.
    #[error("index [{index}/{uuid}] already exists")]
    IndexAlreadyExists { index: String, uuid: String },
    /// `invalid_index_name_exception` (400): `Invalid index name [x], <reason>`.
    #[error("Invalid index name [{index}], {reason}")]
    InvalidIndexName { index: String, reason: String },
    /// `invalid_alias_name_exception` (400). ES has two message shapes: `Invalid alias name [a]: <reason>`
    /// for a bad name, and `Invalid alias name [a], <reason>` (with the index set) when the alias clashes
    /// with an index.
    #[error("{}", match index {
        Some(_) => format!("Invalid alias name [{alias}], {reason}"),
        None => format!("Invalid alias name [{alias}]: {reason}"),
    })]
    InvalidAliasName {
        alias: String,
        reason: String,
        /// `(name, uuid)` of the index the error is attached to.
        index: Option<(String, String)>,
    },
    /// `illegal_argument_exception` (400).
    #[error("{0}")]
    IllegalArgument(String),
    /// `illegal_state_exception`.
    #[error("{0}")]
    IllegalState(String),
    /// `index_template_missing_exception` (404): `index_template [x] missing`.
    #[error("index_template [{name}] missing")]
    IndexTemplateMissing { name: String },
    /// `resource_not_found_exception` (404) with a free reason.
    #[error("{0}")]
    ResourceNotFound(String),
    /// `aliases_not_found_exception` (404): `aliases [a, b] missing`.
    #[error("aliases [{}] missing", aliases.join(", "))]
    AliasesNotFound { aliases: Vec<String> },
    /// `invalid_index_template_exception` (400).
    #[error("index_template [{name}] invalid, cause [{reason}]")]
    InvalidIndexTemplate { name: String, reason: String },
    /// `validation_exception` (400): `Validation Failed: 1: ...;`.
    #[error("{}", validation_reason(.0))]
    Validation(Vec<String>),
    /// `action_request_validation_exception` (400): `Validation Failed: 1: ...;`.
    #[error("{}", validation_reason(.0))]
    ActionRequestValidation(Vec<String>),
    /// `index_closed_exception` (400): reason `closed`.
    #[error("closed")]
    IndexClosed { index: String, uuid: String },
    /// `cluster_block_exception` (403, or 429 when every block is a flood-stage block).
    #[error("index [{index}] blocked by: [{}];", join_blocks(blocks))]
    ClusterBlock { index: String, blocks: Vec<BlockDescription> },
    /// `x_content_parse_exception` (400), for bodies with unknown or mistyped fields.
    #[error("{0}")]
    XContentParse(String),
}

impl ClusterError {
    /// `no such index [name]`.
    pub fn index_not_found(index: impl Into<String>) -> Self {
        ClusterError::IndexNotFound { index: index.into(), detail: None }
    }

    pub fn illegal_argument(reason: impl Into<String>) -> Self {
        ClusterError::IllegalArgument(reason.into())
    }

    /// The `error.type` this error renders as.
    pub fn es_type(&self) -> &'static str {
        EsError::from(self.clone()).es_type()
    }

    /// The HTTP status this error renders with.
    pub fn status(&self) -> u16 {
        EsError::from(self.clone()).status()
    }
}

impl From<ClusterError> for EsError {
    fn from(err: ClusterError) -> Self {
        let reason = err.to_string();
        match err {
            ClusterError::IndexNotFound { index, detail } => {
                let mut e = EsError::index_not_found(&index);
                if detail.is_some() {
                    e.reason = reason;
                }
                e
            }
            ClusterError::IndexAlreadyExists { index, uuid } => {
                EsError::new(ErrorKind::ResourceAlreadyExists, reason).with("index_uuid", uuid).with("index", index)
            }
            ClusterError::InvalidIndexName { index, .. } => {
                EsError::new(ErrorKind::InvalidIndexName, reason).with("index_uuid", "_na_").with("index", index)
            }
            ClusterError::InvalidAliasName { index, .. } => {
                let e = EsError::new(ErrorKind::InvalidAliasName, reason);
                match index {
                    Some((name, uuid)) => e.with("index_uuid", uuid).with("index", name),
                    None => e,
                }
            }
            ClusterError::IllegalArgument(_) => EsError::new(ErrorKind::IllegalArgument, reason),
            ClusterError::IllegalState(_) => EsError::new(ErrorKind::IllegalState, reason),
            ClusterError::IndexTemplateMissing { .. } => EsError::new(ErrorKind::IndexTemplateMissing, reason),
            ClusterError::ResourceNotFound(_) => EsError::new(ErrorKind::ResourceNotFound, reason),
            ClusterError::AliasesNotFound { aliases } => {
                let id = if aliases.len() == 1 { Value::from(aliases[0].clone()) } else { Value::from(aliases) };
                EsError::new(ErrorKind::AliasesNotFound, reason)
                    .with("resource.type", "aliases")
                    .with("resource.id", id)
            }
            ClusterError::InvalidIndexTemplate { .. } => {
                EsError::new(ErrorKind::IllegalArgument, reason).with_type("invalid_index_template_exception")
            }
            ClusterError::Validation(_) => {
                EsError::new(ErrorKind::ActionRequestValidation, reason).with_type("validation_exception")
            }
            ClusterError::ActionRequestValidation(_) => EsError::new(ErrorKind::ActionRequestValidation, reason),
            ClusterError::IndexClosed { index, uuid } => {
                EsError::new(ErrorKind::IndexClosed, reason).with("index_uuid", uuid).with("index", index)
            }
            ClusterError::ClusterBlock { blocks, .. } => {
                let e = EsError::new(ErrorKind::ClusterBlock, reason);
                if !blocks.is_empty() && blocks.iter().all(|b| b.status == 429) { e.with_status(429) } else { e }
            }
            ClusterError::XContentParse(_) => EsError::new(ErrorKind::XContentParse, reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn already_exists_renders_like_es() {
        let e: EsError = ClusterError::IndexAlreadyExists { index: "foo".into(), uuid: "u1".into() }.into();
        let body = e.to_body();
        assert_eq!(body["status"], 400);
        assert_eq!(body["error"]["type"], "resource_already_exists_exception");
        assert_eq!(body["error"]["reason"], "index [foo/u1] already exists");
        assert_eq!(body["error"]["index_uuid"], "u1");
        assert_eq!(body["error"]["index"], "foo");
    }

    #[test]
    fn invalid_index_name_carries_na_uuid() {
        let e: EsError =
            ClusterError::InvalidIndexName { index: "FOO".into(), reason: "must be lowercase".into() }.into();
        assert_eq!(e.es_type(), "invalid_index_name_exception");
        assert_eq!(e.reason, "Invalid index name [FOO], must be lowercase");
        assert_eq!(e.metadata["index_uuid"], "_na_");
    }

    #[test]
    fn alias_name_messages_have_two_shapes() {
        let a = ClusterError::InvalidAliasName {
            alias: "_a".into(),
            reason: "must not start with '_', '-', or '+'".into(),
            index: None,
        };
        assert_eq!(a.to_string(), "Invalid alias name [_a]: must not start with '_', '-', or '+'");
        let b = ClusterError::InvalidAliasName {
            alias: "foo".into(),
            reason: "an index or data stream exists with the same name as the alias".into(),
            index: Some(("bar".into(), "u".into())),
        };
        assert_eq!(
            b.to_string(),
            "Invalid alias name [foo], an index or data stream exists with the same name as the alias"
        );
        assert_eq!(b.es_type(), "invalid_alias_name_exception");
    }

    #[test]
    fn aliases_missing_and_template_missing() {
        let e: EsError = ClusterError::AliasesNotFound { aliases: vec!["x".into()] }.into();
        assert_eq!(e.status(), 404);
        assert_eq!(e.reason, "aliases [x] missing");
        assert_eq!(e.metadata["resource.id"], "x");
        let t: EsError = ClusterError::IndexTemplateMissing { name: "x".into() }.into();
        assert_eq!(t.es_type(), "index_template_missing_exception");
        assert_eq!(t.reason, "index_template [x] missing");
        assert_eq!(t.status(), 404);
    }

    #[test]
    fn blocks_render_and_pick_status() {
        let write = BlockDescription { id: 8, description: "index write (api)", status: 403 };
        let e = ClusterError::ClusterBlock { index: "foo".into(), blocks: vec![write] };
        assert_eq!(e.to_string(), "index [foo] blocked by: [FORBIDDEN/8/index write (api)];");
        assert_eq!(e.status(), 403);
        let flood = ClusterError::ClusterBlock {
            index: "foo".into(),
            blocks: vec![BlockDescription {
                id: 12,
                description: "disk usage exceeded flood-stage watermark, index has read-only-allow-delete block",
                status: 429,
            }],
        };
        assert_eq!(flood.status(), 429);
    }

    #[test]
    fn validation_variants() {
        let v = ClusterError::Validation(vec!["private index setting [index.uuid] can not be set explicitly".into()]);
        assert_eq!(v.es_type(), "validation_exception");
        assert_eq!(
            v.to_string(),
            "Validation Failed: 1: private index setting [index.uuid] can not be set explicitly;"
        );
        let closed = ClusterError::IndexClosed { index: "foo".into(), uuid: "u".into() };
        assert_eq!(closed.es_type(), "index_closed_exception");
        let nf = ClusterError::IndexNotFound {
            index: "foo".into(),
            detail: Some("[action.auto_create_index] is [false]".into()),
        };
        let e: EsError = nf.into();
        assert_eq!(e.reason, "no such index [foo] and [action.auto_create_index] is [false]");
        assert_eq!(e.metadata["index"], "foo");
    }
}
