//! The transport client: one per node, shared by every group that talks to peers.
//!
//! It wraps one reqwest client (hyper underneath) whose pool keeps up to
//! [`ClientOptions::max_idle_per_peer`] idle keep-alive connections per peer address, so each RPC
//! normally reuses a warm connection, and concurrent RPCs to one peer use several. Every call has a
//! deadline that covers connecting, the fault filter's delays, sending and the answer.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{HandlerError, TransportError};
use crate::fault::{FaultFilter, Verdict};
use crate::{CONTENT_TYPE, FROM_HEADER, valid_name};

/// Client tuning.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Deadline for establishing a TCP connection (default 1 s). Loopback and LAN connects take
    /// microseconds to milliseconds; a peer that does not answer a SYN in a second is down.
    pub connect_timeout: Duration,
    /// Deadline of a call that does not give its own (default 10 s).
    pub default_timeout: Duration,
    /// Idle pooled connections are closed after this long (default 30 s).
    pub pool_idle_timeout: Duration,
    /// At most this many idle connections are kept per peer (default 32).
    pub max_idle_per_peer: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            connect_timeout: Duration::from_secs(1),
            default_timeout: Duration::from_secs(10),
            pool_idle_timeout: Duration::from_secs(30),
            max_idle_per_peer: 32,
        }
    }
}

struct Inner {
    http: reqwest::Client,
    local_addr: String,
    filter: FaultFilter,
    options: ClientOptions,
}

/// Sends requests to peers' [`TransportServer`](crate::TransportServer)s. Cheap to clone (shared
/// connection pool).
#[derive(Clone)]
pub struct TransportClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for TransportClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransportClient").field("local_addr", &self.inner.local_addr).finish_non_exhaustive()
    }
}

impl TransportClient {
    /// A client for the node whose transport address is `local_addr` (`host:port`, sent along with
    /// every request and used as the `from` side of fault rules), with an empty fault filter.
    pub fn new(local_addr: impl Into<String>, options: ClientOptions) -> Result<TransportClient, TransportError> {
        Self::with_fault_filter(local_addr, options, FaultFilter::new())
    }

    /// Like [`Self::new`], consulting `filter` (usually shared with the other nodes of a test).
    pub fn with_fault_filter(
        local_addr: impl Into<String>,
        options: ClientOptions,
        filter: FaultFilter,
    ) -> Result<TransportClient, TransportError> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .http1_only()
            .tcp_nodelay(true)
            .connect_timeout(options.connect_timeout)
            .pool_idle_timeout(options.pool_idle_timeout)
            .pool_max_idle_per_host(options.max_idle_per_peer)
            .build()
            .map_err(|e| TransportError::Client(e.to_string()))?;
        Ok(TransportClient { inner: Arc::new(Inner { http, local_addr: local_addr.into(), filter, options }) })
    }

    /// This node's transport address.
    pub fn local_addr(&self) -> &str {
        &self.inner.local_addr
    }

    /// The fault filter this client consults.
    pub fn fault_filter(&self) -> &FaultFilter {
        &self.inner.filter
    }

    /// Sends `body` to `service`/`group`/`method` on `peer` (`host:port`) and returns the answer's
    /// body. `timeout` (default [`ClientOptions::default_timeout`]) bounds the whole call.
    pub async fn call(
        &self,
        peer: &str,
        service: &str,
        group: u64,
        method: &str,
        body: impl Into<Bytes>,
        timeout: Option<Duration>,
    ) -> Result<Bytes, TransportError> {
        if !valid_name(service) {
            return Err(TransportError::InvalidName(service.to_owned()));
        }
        if !valid_name(method) {
            return Err(TransportError::InvalidName(method.to_owned()));
        }
        let after = timeout.unwrap_or(self.inner.options.default_timeout);
        let body = body.into();
        match tokio::time::timeout(after, self.call_inner(peer, service, group, method, body)).await {
            Ok(result) => result,
            Err(_) => Err(TransportError::Timeout { peer: peer.to_owned(), after }),
        }
    }

    /// [`Self::call`] with a postcard-encoded request and answer.
    pub async fn call_typed<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        peer: &str,
        service: &str,
        group: u64,
        method: &str,
        request: &Req,
        timeout: Option<Duration>,
    ) -> Result<Resp, TransportError> {
        let body = postcard::to_stdvec(request).map_err(TransportError::Encode)?;
        let answer = self.call(peer, service, group, method, body, timeout).await?;
        postcard::from_bytes(&answer).map_err(|source| TransportError::Decode { peer: peer.to_owned(), source })
    }

    async fn apply_filter(&self, from: &str, to: &str) -> Result<(), TransportError> {
        match self.inner.filter.verdict(from, to) {
            Verdict::Deliver => Ok(()),
            Verdict::Delay(d) => {
                tokio::time::sleep(d).await;
                Ok(())
            }
            Verdict::Drop => Err(TransportError::Dropped { from: from.to_owned(), to: to.to_owned() }),
        }
    }

    async fn call_inner(
        &self,
        peer: &str,
        service: &str,
        group: u64,
        method: &str,
        body: Bytes,
    ) -> Result<Bytes, TransportError> {
        let local = self.inner.local_addr.as_str();
        self.apply_filter(local, peer).await?;
        let url = format!("http://{peer}/{service}/{group}/{method}");
        let resp = self
            .inner
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .header(FROM_HEADER, local)
            .body(body)
            .send()
            .await
            .map_err(|e| self.send_error(peer, e))?;
        let status = resp.status();
        let answer = resp.bytes().await.map_err(|e| self.send_error(peer, e))?;
        self.apply_filter(peer, local).await?;
        if status.is_success() {
            return Ok(answer);
        }
        match postcard::from_bytes::<HandlerError>(&answer) {
            Ok(error) => Err(TransportError::Remote { peer: peer.to_owned(), error }),
            Err(_) => Err(TransportError::Protocol {
                peer: peer.to_owned(),
                reason: format!("HTTP {status} without a transport error body"),
            }),
        }
    }

    fn send_error(&self, peer: &str, e: reqwest::Error) -> TransportError {
        if e.is_builder() {
            return TransportError::InvalidAddress { addr: peer.to_owned(), reason: e.to_string() };
        }
        // Connect failures, resets and connections closed mid-answer all mean the same to the
        // caller: the peer (or the path to it) is down right now.
        let mut reason = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            reason.push_str(": ");
            reason.push_str(&s.to_string());
            source = s.source();
        }
        TransportError::Unreachable { peer: peer.to_owned(), reason }
    }
}
