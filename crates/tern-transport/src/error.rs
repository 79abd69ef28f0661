//! The transport's typed errors: what a handler answers ([`HandlerError`], travels on the wire) and
//! what a caller gets ([`TransportError`], local).

use std::fmt;
use std::time::Duration;

use hyper::StatusCode;
use serde::{Deserialize, Serialize};

/// Why a handler refused or failed a request. Encoded (postcard) into the body of a non-200 answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HandlerErrorKind {
    /// No handler is registered for the service on the receiving node.
    UnknownService,
    /// The service has no such target on this node (e.g. a raft group this node does not host).
    UnknownTarget,
    /// The request was malformed: bad path, bad method, undecodable body.
    BadRequest,
    /// The request body exceeded the server's limit.
    TooLarge,
    /// The target exists but cannot serve now (shutting down, or not able to do this yet).
    Unavailable,
    /// The handler failed.
    Internal,
}

impl HandlerErrorKind {
    pub(crate) fn status(self) -> StatusCode {
        match self {
            HandlerErrorKind::UnknownService | HandlerErrorKind::UnknownTarget => StatusCode::NOT_FOUND,
            HandlerErrorKind::BadRequest => StatusCode::BAD_REQUEST,
            HandlerErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            HandlerErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            HandlerErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl fmt::Display for HandlerErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HandlerErrorKind::UnknownService => "unknown_service",
            HandlerErrorKind::UnknownTarget => "unknown_target",
            HandlerErrorKind::BadRequest => "bad_request",
            HandlerErrorKind::TooLarge => "too_large",
            HandlerErrorKind::Unavailable => "unavailable",
            HandlerErrorKind::Internal => "internal",
        })
    }
}

/// A handler's typed refusal, as seen by both ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct HandlerError {
    pub kind: HandlerErrorKind,
    pub message: String,
}

impl HandlerError {
    pub fn new(kind: HandlerErrorKind, message: impl Into<String>) -> Self {
        HandlerError { kind, message: message.into() }
    }

    pub fn unknown_target(message: impl Into<String>) -> Self {
        Self::new(HandlerErrorKind::UnknownTarget, message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(HandlerErrorKind::BadRequest, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(HandlerErrorKind::Unavailable, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(HandlerErrorKind::Internal, message)
    }
}

/// Everything that can go wrong with a transport call or the server.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("failed to bind the transport on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to build the transport client: {0}")]
    Client(String),
    #[error("invalid transport address {addr:?}: {reason}")]
    InvalidAddress { addr: String, reason: String },
    #[error("invalid service or method name {0:?}")]
    InvalidName(String),
    /// The peer could not be reached or the connection broke before an answer arrived.
    #[error("transport peer {peer} is unreachable: {reason}")]
    Unreachable { peer: String, reason: String },
    /// No answer within the call's deadline (connecting included).
    #[error("transport request to {peer} timed out after {after:?}")]
    Timeout { peer: String, after: Duration },
    /// The fault filter dropped the request or its response (tests only).
    #[error("message {from} -> {to} dropped by the fault filter")]
    Dropped { from: String, to: String },
    /// The peer answered with a handler error.
    #[error("transport peer {peer} refused the request: {error}")]
    Remote {
        peer: String,
        #[source]
        error: HandlerError,
    },
    /// The peer answered something that is not this protocol.
    #[error("transport protocol error from {peer}: {reason}")]
    Protocol { peer: String, reason: String },
    #[error("failed to encode a transport message: {0}")]
    Encode(#[source] postcard::Error),
    #[error("failed to decode a transport message from {peer}: {source}")]
    Decode {
        peer: String,
        #[source]
        source: postcard::Error,
    },
}

impl TransportError {
    /// The message did not (or may not) reach the peer's handler, and the peer is best treated as
    /// down for a while: connection refused or broken, timed out, or cut by the fault filter.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            TransportError::Unreachable { .. } | TransportError::Timeout { .. } | TransportError::Dropped { .. }
        )
    }

    /// The handler error the peer answered with, if that is what this is.
    pub fn remote(&self) -> Option<&HandlerError> {
        match self {
            TransportError::Remote { error, .. } => Some(error),
            _ => None,
        }
    }
}
