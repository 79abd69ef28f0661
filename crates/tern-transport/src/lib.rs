//! Node-to-node RPC for tern.
//!
//! # The model
//!
//! Every node runs one [`TransportServer`] on its `transport.port` and holds one [`TransportClient`].
//! A request is addressed by a **service** (`raft`, later `recovery`, `cluster`, ...), a **group** id
//! (a raft group: a shard copy set or the metadata group) and a **method**, and travels as
//! `POST /{service}/{group}/{method}` with a postcard-encoded body. The server dispatches on the
//! service to a handler registered at runtime ([`ServiceHandler`], a trait object), which routes on
//! the group itself; so hundreds of raft groups share one listening port and, per peer, one pool of
//! connections, instead of a socket per group.
//!
//! # Why HTTP/1.1 and postcard
//!
//! - hyper (server) and reqwest (client, itself on hyper) are already in the dependency tree for the
//!   REST edge and the test tools, so the transport adds no new network stack. axum is deliberately
//!   not used: the architecture keeps it above the REST crate.
//! - HTTP/1.1 with keep-alive gives connection reuse, framing, timeouts and a readable wire
//!   (`curl` can poke a node) for free. One request is in flight per connection; concurrency comes
//!   from the client's per-peer pool of idle connections. HTTP/2 would multiplex better, but raft
//!   traffic per peer is a handful of concurrent RPCs (one replication stream per group), so the
//!   pool is enough and the simpler protocol is easier to reason about under faults.
//! - postcard is compact, fast and already used for the write-ahead log; both ends are the same
//!   binary, so a non-self-describing format is safe. A mixed-version cluster would need a version
//!   header; that is future work.
//!
//! # Errors
//!
//! A handler answers either bytes (HTTP 200) or a typed [`HandlerError`] (a non-200 status whose
//! body is the postcard-encoded error), so a caller can tell "this node has no such group" from "the
//! group is shutting down" from "the peer is down" ([`TransportError`]), and map each to the
//! retry policy it needs.
//!
//! # Fault injection
//!
//! Tests simulate partitions and slow links without root (no iptables) through a [`FaultFilter`]: a
//! runtime-switchable set of drop/delay rules keyed by node addresses. The filter is consulted by
//! the *sending* client for both legs of an RPC: the request leg (`local -> peer`) before the request
//! is sent, and the response leg (`peer -> local`) after the answer arrives, so a one-way cut behaves
//! like the real thing (a dropped response means the peer did the work but the caller never learns
//! it). Every node's client in a test may share one filter; the server does not consult it, so no
//! rule is applied twice.

mod client;
mod error;
mod fault;
mod server;

pub use client::{ClientOptions, TransportClient};
pub use error::{HandlerError, HandlerErrorKind, TransportError};
pub use fault::{FaultAction, FaultFilter, FaultRule, RuleId, Verdict};
pub use server::{HandlerFuture, InboundRequest, ServerOptions, ServerStats, ServiceHandler, TransportServer};

/// The request header carrying the sender's transport address (`host:port`), for logs and handlers.
pub const FROM_HEADER: &str = "x-tern-from";
/// The content type of every request and response body.
pub const CONTENT_TYPE: &str = "application/x-postcard";

/// Checks a service or method name: non-empty, `[a-z0-9_-]`, so it is one URL path segment as is.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}
