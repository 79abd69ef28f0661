use serde_json::{Map, Value};

/// The ES exception types tern can answer with, each bound to the HTTP status ES uses for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ErrorKind {
    IndexNotFound,
    ResourceAlreadyExists,
    ResourceNotFound,
    InvalidIndexName,
    InvalidAliasName,
    IllegalArgument,
    IllegalState,
    Parsing,
    XContentParse,
    JsonParse,
    DocumentParsing,
    MapperParsing,
    StrictDynamicMappingViolation,
    VersionConflict,
    DocumentMissing,
    ActionRequestValidation,
    ClusterBlock,
    IndexClosed,
    ContentTooLarge,
    MediaTypeHeader,
    ContentTypeNotSupported,
    MethodNotAllowed,
    SearchPhaseExecution,
    SearchContextMissing,
    QueryShardException,
    Timeout,
    ProcessClusterEventTimeout,
    UnavailableShards,
    NoShardAvailable,
    IndexTemplateMissing,
    AliasesNotFound,
    Unsupported,
    StatusException,
    Internal,
}

impl ErrorKind {
    /// The `error.type` string ES puts in the body.
    pub fn es_type(self) -> &'static str {
        use ErrorKind::*;
        match self {
            IndexNotFound => "index_not_found_exception",
            ResourceAlreadyExists => "resource_already_exists_exception",
            ResourceNotFound => "resource_not_found_exception",
            InvalidIndexName => "invalid_index_name_exception",
            InvalidAliasName => "invalid_alias_name_exception",
            IllegalArgument => "illegal_argument_exception",
            IllegalState => "illegal_state_exception",
            Parsing => "parsing_exception",
            XContentParse => "x_content_parse_exception",
            JsonParse => "json_parse_exception",
            DocumentParsing => "document_parsing_exception",
            MapperParsing => "mapper_parsing_exception",
            StrictDynamicMappingViolation => "strict_dynamic_mapping_exception",
            VersionConflict => "version_conflict_engine_exception",
            DocumentMissing => "document_missing_exception",
            ActionRequestValidation => "action_request_validation_exception",
            ClusterBlock => "cluster_block_exception",
            IndexClosed => "index_closed_exception",
            ContentTooLarge => "content_too_long_exception",
            MediaTypeHeader => "media_type_header_exception",
            ContentTypeNotSupported => "illegal_argument_exception",
            MethodNotAllowed => "method_not_allowed",
            SearchPhaseExecution => "search_phase_execution_exception",
            SearchContextMissing => "search_context_missing_exception",
            QueryShardException => "query_shard_exception",
            Timeout => "timeout_exception",
            ProcessClusterEventTimeout => "process_cluster_event_timeout_exception",
            UnavailableShards => "unavailable_shards_exception",
            NoShardAvailable => "no_shard_available_action_exception",
            IndexTemplateMissing => "index_template_missing_exception",
            AliasesNotFound => "aliases_not_found_exception",
            Unsupported => "illegal_argument_exception",
            StatusException => "status_exception",
            Internal => "exception",
        }
    }

    /// The HTTP status ES answers with for this exception.
    pub fn status(self) -> u16 {
        use ErrorKind::*;
        match self {
            IndexNotFound | ResourceNotFound | DocumentMissing | IndexTemplateMissing | AliasesNotFound
            | SearchContextMissing => 404,
            VersionConflict => 409,
            ClusterBlock => 403,
            ContentTooLarge => 413,
            MethodNotAllowed => 405,
            ContentTypeNotSupported => 406,
            Timeout | ProcessClusterEventTimeout | UnavailableShards | NoShardAvailable => 503,
            Internal => 500,
            IndexClosed => 400,
            StatusException => 400,
            _ => 400,
        }
    }
}

/// One ES error: the kind, the human reason, extra keys ES adds next to `type`/`reason` (such as
/// `index`, `index_uuid`, `shard`, `resource.id`, `line`, `col`) and an optional cause.
///
/// The same value renders both the top-level error and its single `root_cause` entry, which is what ES
/// does for errors that were not wrapped by a coordinating phase.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {reason}", kind.es_type())]
pub struct EsError {
    pub kind: ErrorKind,
    pub reason: String,
    /// Extra keys in ES's order of appearance.
    pub metadata: Map<String, Value>,
    pub caused_by: Option<Box<EsError>>,
    /// Overrides the status implied by `kind`, for the few ES errors whose status depends on context
    /// (a `status_exception` or a search phase failure carrying its shards' status).
    pub status_override: Option<u16>,
    /// Overrides the rendered type for kinds that share a status with a family of ES types.
    pub type_override: Option<&'static str>,
}

pub type EsResult<T> = Result<T, EsError>;

impl EsError {
    pub fn new(kind: ErrorKind, reason: impl Into<String>) -> Self {
        EsError {
            kind,
            reason: reason.into(),
            metadata: Map::new(),
            caused_by: None,
            status_override: None,
            type_override: None,
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.metadata.insert(key.to_string(), value.into());
        self
    }

    pub fn caused_by(mut self, cause: EsError) -> Self {
        self.caused_by = Some(Box::new(cause));
        self
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status_override = Some(status);
        self
    }

    pub fn with_type(mut self, es_type: &'static str) -> Self {
        self.type_override = Some(es_type);
        self
    }

    pub fn status(&self) -> u16 {
        self.status_override.unwrap_or_else(|| self.kind.status())
    }

    pub fn es_type(&self) -> &'static str {
        self.type_override.unwrap_or_else(|| self.kind.es_type())
    }

    pub fn illegal_argument(reason: impl Into<String>) -> Self {
        Self::new(ErrorKind::IllegalArgument, reason)
    }

    pub fn parsing(reason: impl Into<String>) -> Self {
        Self::new(ErrorKind::Parsing, reason)
    }

    pub fn internal(reason: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, reason)
    }

    /// ES's 404 for a missing index: the reason and metadata keys the clients and YAML tests check.
    pub fn index_not_found(index: &str) -> Self {
        Self::new(ErrorKind::IndexNotFound, format!("no such index [{index}]"))
            .with("resource.type", "index_or_alias")
            .with("resource.id", index)
            .with("index_uuid", "_na_")
            .with("index", index)
    }

    /// ES's 400 for `Validation Failed: 1: ...;` with every message numbered.
    pub fn validation(messages: &[String]) -> Self {
        let mut reason = String::from("Validation Failed: ");
        for (i, m) in messages.iter().enumerate() {
            reason.push_str(&format!("{}: {};", i + 1, m));
        }
        Self::new(ErrorKind::ActionRequestValidation, reason)
    }

    /// The error object (the value under `"error"` in ES's envelope) without the `root_cause` list.
    pub fn to_cause_json(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("type".into(), Value::from(self.es_type()));
        obj.insert("reason".into(), Value::from(self.reason.clone()));
        for (k, v) in &self.metadata {
            obj.insert(k.clone(), v.clone());
        }
        if let Some(cause) = &self.caused_by {
            obj.insert("caused_by".into(), cause.to_cause_json());
        }
        Value::Object(obj)
    }

    /// The innermost cause, which ES reports as the `root_cause`.
    pub fn root(&self) -> &EsError {
        let mut e = self;
        while let Some(c) = &e.caused_by {
            e = c;
        }
        e
    }

    /// The value under `"error"`: `{"root_cause":[...],"type":..,"reason":..,...}`. Bulk items and
    /// mget entries embed exactly this.
    pub fn to_error_json(&self) -> Value {
        let mut root = self.root().to_cause_json();
        if let Value::Object(o) = &mut root {
            o.remove("caused_by");
        }
        let mut top = Map::new();
        top.insert("root_cause".into(), Value::Array(vec![root]));
        if let Value::Object(o) = self.to_cause_json() {
            top.extend(o);
        }
        Value::Object(top)
    }

    /// ES's full envelope: `{"error":{"root_cause":[...],"type":..,"reason":..},"status":N}`.
    pub fn to_body(&self) -> Value {
        let mut body = Map::new();
        body.insert("error".into(), self.to_error_json());
        body.insert("status".into(), Value::from(self.status()));
        Value::Object(body)
    }
}

/// An [`EsError`] as it travels between nodes: a shard that fails on another node answers the
/// coordinator with the same error a local shard would have returned, so the response does not
/// depend on where the shard ran. Metadata values are JSON text because compact binary encodings
/// (postcard) cannot decode a `serde_json::Value`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WireError {
    kind: ErrorKind,
    reason: String,
    metadata_json: String,
    caused_by: Option<Box<WireError>>,
    status_override: Option<u16>,
    type_override: Option<String>,
}

impl From<&EsError> for WireError {
    fn from(e: &EsError) -> Self {
        WireError {
            kind: e.kind,
            reason: e.reason.clone(),
            metadata_json: if e.metadata.is_empty() {
                String::new()
            } else {
                Value::Object(e.metadata.clone()).to_string()
            },
            caused_by: e.caused_by.as_deref().map(|c| Box::new(WireError::from(c))),
            status_override: e.status_override,
            type_override: e.type_override.map(String::from),
        }
    }
}

impl From<WireError> for EsError {
    fn from(w: WireError) -> Self {
        let metadata = match serde_json::from_str::<Value>(&w.metadata_json) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        EsError {
            kind: w.kind,
            reason: w.reason,
            metadata,
            caused_by: w.caused_by.map(|c| Box::new(EsError::from(*c))),
            status_override: w.status_override,
            type_override: w.type_override.as_deref().and_then(intern_type),
        }
    }
}

/// The `&'static str` of an overridden error type that came over the wire. The types are the
/// handful of ES exception names tern's code spells out, so the interned set stays small; past a
/// bound (a peer sending arbitrary names) the override is dropped and the kind's type shows.
fn intern_type(t: &str) -> Option<&'static str> {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};
    static TYPES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut set = TYPES.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(known) = set.get(t) {
        return Some(known);
    }
    if set.len() >= 256 {
        return None;
    }
    let leaked: &'static str = Box::leak(t.to_string().into_boxed_str());
    set.insert(leaked);
    Some(leaked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_error_round_trips() {
        let e = EsError::new(ErrorKind::SearchPhaseExecution, "all shards failed")
            .with("phase", "query")
            .with("grouped", true)
            .with_status(404)
            .caused_by(EsError::illegal_argument("bad").with_type("too_many_buckets_exception").with("max_buckets", 3));
        let back = EsError::from(WireError::from(&e));
        assert_eq!(back, e);
        assert_eq!(back.to_body(), e.to_body());
    }

    #[test]
    fn index_not_found_renders_like_es() {
        let body = EsError::index_not_found("foo").to_body();
        assert_eq!(body["status"], 404);
        assert_eq!(body["error"]["type"], "index_not_found_exception");
        assert_eq!(body["error"]["root_cause"][0]["reason"], "no such index [foo]");
        assert_eq!(body["error"]["resource.id"], "foo");
    }

    #[test]
    fn root_cause_is_innermost() {
        let e = EsError::new(ErrorKind::SearchPhaseExecution, "all shards failed")
            .caused_by(EsError::parsing("unknown query [foo]"));
        let body = e.to_body();
        assert_eq!(body["error"]["root_cause"][0]["type"], "parsing_exception");
        assert_eq!(body["error"]["caused_by"]["type"], "parsing_exception");
        assert_eq!(body["error"]["type"], "search_phase_execution_exception");
    }

    #[test]
    fn validation_numbers_messages() {
        let e = EsError::validation(&["a".into(), "b".into()]);
        assert_eq!(e.reason, "Validation Failed: 1: a;2: b;");
    }
}
