//! The transport server: accepts connections on the node's transport port and dispatches each
//! `POST /{service}/{group}/{method}` to the handler registered for the service.
//!
//! Connections are HTTP/1.1 with keep-alive (hyper's `http1` connection driver on tokio), one task
//! per connection. Handlers are looked up per request, so services can be registered and removed
//! while the server runs. [`TransportServer::shutdown`] stops accepting and aborts every open
//! connection at once, which is what a crashed node looks like to its peers: tests use it to kill a
//! node.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use parking_lot::{Mutex, RwLock};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::error::{HandlerError, HandlerErrorKind, TransportError};
use crate::{CONTENT_TYPE, FROM_HEADER, valid_name};

/// One request as a handler sees it.
#[derive(Debug, Clone)]
pub struct InboundRequest {
    /// The group (target) id from the path.
    pub group: u64,
    /// The method from the path.
    pub method: String,
    /// The sender's transport address, if it said.
    pub from: Option<String>,
    /// The raw (postcard) body.
    pub body: Bytes,
}

/// What a handler returns: the answer's body, or a typed refusal.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<Bytes, HandlerError>> + Send + 'static>>;

/// A service: all requests for one service name go to one handler, which routes on group and method.
///
/// The future is boxed so handlers can live in one registry as trait objects.
pub trait ServiceHandler: Send + Sync + 'static {
    fn handle(&self, request: InboundRequest) -> HandlerFuture;
}

/// Server tuning.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Requests with a larger body are refused with [`HandlerErrorKind::TooLarge`] (default 512 MiB:
    /// a raft append carries at most a few hundred entries, each at most one bulk request).
    pub max_body_bytes: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions { max_body_bytes: 512 << 20 }
    }
}

type Registry = RwLock<HashMap<String, Arc<dyn ServiceHandler>>>;

/// Counters of a running server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServerStats {
    /// TCP connections accepted since the server started (with keep-alive, far fewer than requests).
    pub connections_accepted: u64,
    /// Requests dispatched (answered with success or a handler error).
    pub requests: u64,
}

#[derive(Default)]
struct Counters {
    connections_accepted: AtomicU64,
    requests: AtomicU64,
}

/// A running transport server. Dropping it stops it like [`TransportServer::shutdown`].
pub struct TransportServer {
    local_addr: SocketAddr,
    registry: Arc<Registry>,
    counters: Arc<Counters>,
    shutdown: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for TransportServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransportServer")
            .field("local_addr", &self.local_addr)
            .field("services", &self.registry.read().keys().collect::<Vec<_>>())
            .finish()
    }
}

impl TransportServer {
    /// Binds `addr` (`host:port`; port 0 picks a free one, see [`Self::local_addr`]) and starts
    /// serving. No service is registered yet: requests answer [`HandlerErrorKind::UnknownService`]
    /// until one is.
    pub async fn bind(addr: &str, options: ServerOptions) -> Result<TransportServer, TransportError> {
        let listener =
            TcpListener::bind(addr).await.map_err(|source| TransportError::Bind { addr: addr.to_owned(), source })?;
        let local_addr =
            listener.local_addr().map_err(|source| TransportError::Bind { addr: addr.to_owned(), source })?;
        let registry: Arc<Registry> = Arc::default();
        let counters: Arc<Counters> = Arc::default();
        let (shutdown, shutdown_rx) = watch::channel(false);
        let shared = Shared { registry: registry.clone(), counters: counters.clone(), options };
        let task = tokio::spawn(accept_loop(listener, Arc::new(shared), shutdown_rx));
        tracing::info!(%local_addr, "transport listening");
        Ok(TransportServer { local_addr, registry, counters, shutdown, task: Mutex::new(Some(task)) })
    }

    /// The server's counters so far.
    pub fn stats(&self) -> ServerStats {
        ServerStats {
            connections_accepted: self.counters.connections_accepted.load(Ordering::Relaxed),
            requests: self.counters.requests.load(Ordering::Relaxed),
        }
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Routes requests for `service` to `handler` from now on; returns the handler it replaces.
    ///
    /// # Panics
    ///
    /// If `service` is not a valid name (`[a-z0-9_-]+`): service names are compile-time constants.
    pub fn register(&self, service: &str, handler: Arc<dyn ServiceHandler>) -> Option<Arc<dyn ServiceHandler>> {
        assert!(valid_name(service), "invalid transport service name {service:?}");
        self.registry.write().insert(service.to_owned(), handler)
    }

    /// Stops routing requests for `service`; returns the handler that was registered.
    pub fn deregister(&self, service: &str) -> Option<Arc<dyn ServiceHandler>> {
        self.registry.write().remove(service)
    }

    /// Stops accepting and closes every connection, in-flight requests included; waits until the
    /// listening socket is closed, so the port can be bound again.
    pub async fn shutdown(&self) {
        let _ = self.shutdown.send(true);
        let task = self.task.lock().take();
        if let Some(task) = task
            && let Err(e) = task.await
            && !e.is_cancelled()
        {
            tracing::warn!(local_addr = %self.local_addr, error = %e, "transport accept loop failed");
        }
        tracing::info!(local_addr = %self.local_addr, "transport stopped");
    }
}

impl Drop for TransportServer {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.lock().take() {
            task.abort();
        }
    }
}

/// What every connection task needs.
struct Shared {
    registry: Arc<Registry>,
    counters: Arc<Counters>,
    options: ServerOptions,
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    // Connection tasks live in the set: dropping the set (on shutdown) aborts them all.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            _ = async { drop(shutdown.wait_for(|stop| *stop).await) } => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    shared.counters.connections_accepted.fetch_add(1, Ordering::Relaxed);
                    connections.spawn(serve_connection(stream, peer, shared.clone()));
                }
                Err(e) => {
                    // Typically EMFILE; back off instead of spinning.
                    tracing::warn!(error = %e, "transport accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    connections.shutdown().await;
}

async fn serve_connection(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(%peer, error = %e, "set_nodelay failed");
    }
    let service = service_fn(move |req: Request<Incoming>| {
        let shared = shared.clone();
        async move {
            shared.counters.requests.fetch_add(1, Ordering::Relaxed);
            Ok::<_, Infallible>(dispatch(req, &shared.registry, &shared.options).await)
        }
    });
    if let Err(e) = http1::Builder::new().keep_alive(true).serve_connection(TokioIo::new(stream), service).await {
        tracing::debug!(%peer, error = %e, "transport connection ended with an error");
    }
}

fn respond(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static(CONTENT_TYPE));
    resp
}

fn error_response(error: &HandlerError) -> Response<Full<Bytes>> {
    let body = postcard::to_stdvec(error).unwrap_or_default();
    respond(error.kind.status(), Bytes::from(body))
}

/// Splits `/{service}/{group}/{method}`.
fn parse_path(path: &str) -> Option<(&str, u64, &str)> {
    let mut parts = path.strip_prefix('/')?.split('/');
    let service = parts.next()?;
    let group = parts.next()?.parse().ok()?;
    let method = parts.next()?;
    if parts.next().is_some() || !valid_name(service) || !valid_name(method) {
        return None;
    }
    Some((service, group, method))
}

async fn dispatch(req: Request<Incoming>, registry: &Registry, options: &ServerOptions) -> Response<Full<Bytes>> {
    if req.method() != Method::POST {
        return error_response(&HandlerError::bad_request(format!("method {} is not allowed", req.method())));
    }
    let Some((service, group, method)) = parse_path(req.uri().path()) else {
        return error_response(&HandlerError::bad_request(format!(
            "path {:?} is not /{{service}}/{{group}}/{{method}}",
            req.uri().path()
        )));
    };
    let (service, method) = (service.to_owned(), method.to_owned());
    let from = req.headers().get(FROM_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let handler = registry.read().get(&service).cloned();
    let Some(handler) = handler else {
        return error_response(&HandlerError::new(
            HandlerErrorKind::UnknownService,
            format!("no service {service:?} on this node"),
        ));
    };
    let body = match Limited::new(req.into_body(), options.max_body_bytes).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            let kind = if e.is::<http_body_util::LengthLimitError>() {
                HandlerErrorKind::TooLarge
            } else {
                HandlerErrorKind::BadRequest
            };
            return error_response(&HandlerError::new(kind, format!("reading the request body failed: {e}")));
        }
    };
    let request = InboundRequest { group, method: method.clone(), from: from.clone(), body };
    // A panicking handler answers an internal error instead of killing the connection silently.
    match AssertUnwindSafe(handler.handle(request)).catch_unwind().await {
        Ok(Ok(answer)) => respond(StatusCode::OK, answer),
        Ok(Err(error)) => {
            tracing::debug!(%service, group, %method, ?from, %error, "transport handler refused");
            error_response(&error)
        }
        Err(_) => {
            tracing::error!(%service, group, %method, ?from, "transport handler panicked");
            error_response(&HandlerError::internal(format!("handler for {service}/{group}/{method} panicked")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_path;

    #[test]
    fn paths() {
        assert_eq!(parse_path("/raft/12/append"), Some(("raft", 12, "append")));
        assert_eq!(parse_path("/raft/12/pre_vote"), Some(("raft", 12, "pre_vote")));
        assert_eq!(parse_path("/raft/x/append"), None);
        assert_eq!(parse_path("/raft/12"), None);
        assert_eq!(parse_path("/raft/12/append/more"), None);
        assert_eq!(parse_path("raft/12/append"), None);
        assert_eq!(parse_path("/Raft/12/append"), None);
    }
}
