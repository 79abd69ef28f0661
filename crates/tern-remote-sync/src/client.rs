//! The follower's HTTP client for one leader cluster: its REST port only, basic auth when given,
//! and failover over the seeds (the one that answered last is tried first).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tern_common::{ErrorKind, EsError};

use crate::config::RemoteConfig;

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("no such remote cluster: [{0}]")]
    NotConfigured(String),
    #[error("remote cluster [{name}] is unreachable at all of its seeds {seeds:?}: {last}")]
    Unreachable { name: String, seeds: Vec<String>, last: String },
    #[error("remote cluster [{name}] answered {status}: {reason}")]
    Status { name: String, status: u16, es_type: Option<String>, reason: String },
    #[error("remote cluster [{name}] sent an unreadable answer: {detail}")]
    Protocol { name: String, detail: String },
}

impl RemoteError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, RemoteError::Status { status: 404, .. })
    }
}

impl From<RemoteError> for EsError {
    fn from(e: RemoteError) -> EsError {
        match &e {
            RemoteError::NotConfigured(_) => {
                EsError::new(ErrorKind::ResourceNotFound, e.to_string()).with_type("no_such_remote_cluster_exception")
            }
            RemoteError::Status { status: 404, es_type, reason, .. } => {
                let kind = if es_type.as_deref() == Some("index_not_found_exception") {
                    ErrorKind::IndexNotFound
                } else {
                    ErrorKind::ResourceNotFound
                };
                EsError::new(kind, reason.clone())
            }
            RemoteError::Unreachable { .. } => EsError::new(ErrorKind::IllegalState, e.to_string())
                .with_type("connect_transport_exception")
                .with_status(500),
            _ => EsError::new(ErrorKind::IllegalState, e.to_string()).with_status(500),
        }
    }
}

pub struct RemoteClient {
    pub config: RemoteConfig,
    http: reqwest::Client,
    preferred: AtomicUsize,
}

/// Normalizes a seed to a base URL: `host:port` means plain HTTP.
fn base_url(seed: &str) -> String {
    let s = seed.trim().trim_end_matches('/');
    if s.starts_with("http://") || s.starts_with("https://") { s.to_string() } else { format!("http://{s}") }
}

impl RemoteClient {
    pub fn new(config: RemoteConfig) -> Result<RemoteClient, EsError> {
        let mut extra_roots = Vec::new();
        for path in &config.certificate_authorities {
            let pem = std::fs::read(path).map_err(|e| {
                EsError::illegal_argument(format!(
                    "cannot read ssl.certificate_authorities [{path}] of remote cluster [{}]: {e}",
                    config.name
                ))
            })?;
            extra_roots.extend(reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                EsError::illegal_argument(format!(
                    "bad certificate in [{path}] of remote cluster [{}]: {e}",
                    config.name
                ))
            })?);
        }
        let builder = |system_roots: bool| {
            let mut b = reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(3))
                .timeout(Duration::from_secs(60))
                .pool_idle_timeout(Duration::from_secs(30));
            b = if system_roots {
                extra_roots.iter().cloned().fold(b, |b, c| b.add_root_certificate(c))
            } else {
                b.tls_certs_only(extra_roots.iter().cloned())
            };
            match config.verification_mode.as_deref() {
                Some("none") => b.tls_danger_accept_invalid_certs(true),
                Some("certificate") => b.tls_danger_accept_invalid_hostnames(true),
                _ => b,
            }
        };
        // A host without a system trust store (a FROM scratch image) still gets a client: plain
        // HTTP works, and HTTPS trusts only the configured CAs.
        let http = match builder(true).build() {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(remote = %config.name, error = %error_chain(&e), "no system trust store; trusting only ssl.certificate_authorities");
                builder(false).build().map_err(|e| {
                    EsError::internal(format!("cannot build the remote sync HTTP client: {}", error_chain(&e)))
                })?
            }
        };
        Ok(RemoteClient { config, http, preferred: AtomicUsize::new(0) })
    }

    /// One request, tried on each seed in turn from the last one that answered. Only failures to
    /// connect move on to the next seed: an HTTP answer is the cluster's answer.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<reqwest::Response, RemoteError> {
        let seeds = &self.config.seeds;
        if seeds.is_empty() {
            return Err(RemoteError::NotConfigured(self.config.name.clone()));
        }
        let first = self.preferred.load(Ordering::Relaxed) % seeds.len();
        let mut last = String::new();
        for i in 0..seeds.len() {
            let idx = (first + i) % seeds.len();
            let url = format!("{}{path}", base_url(&seeds[idx]));
            let mut req = self.http.request(method.clone(), &url);
            if let Some(user) = &self.config.username {
                req = req.basic_auth(user, self.config.password.as_deref());
            }
            if let Some(b) = &body {
                req = req.header("content-type", "application/json").body(b.clone());
            }
            match req.send().await {
                Ok(resp) => {
                    self.preferred.store(idx, Ordering::Relaxed);
                    return Ok(resp);
                }
                Err(e) => last = format!("{url}: {}", error_chain(&e)),
            }
        }
        Err(RemoteError::Unreachable { name: self.config.name.clone(), seeds: seeds.clone(), last })
    }

    async fn check(&self, resp: reqwest::Response) -> Result<reqwest::Response, RemoteError> {
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let text = resp.text().await.unwrap_or_default();
        let parsed: Option<Value> = serde_json::from_str(&text).ok();
        let err = parsed.as_ref().and_then(|v| v.get("error"));
        let reason = err
            .and_then(|e| {
                e.get("reason").and_then(Value::as_str).map(String::from).or_else(|| e.as_str().map(String::from))
            })
            .unwrap_or(text);
        Err(RemoteError::Status {
            name: self.config.name.clone(),
            status: status.as_u16(),
            es_type: err.and_then(|e| e.get("type")).and_then(Value::as_str).map(String::from),
            reason,
        })
    }

    pub async fn json(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value, RemoteError> {
        let resp = self.send(method, path, body.map(|b| b.to_string().into_bytes())).await?;
        let resp = self.check(resp).await?;
        resp.json().await.map_err(|e| RemoteError::Protocol { name: self.config.name.clone(), detail: e.to_string() })
    }

    /// A binary GET; returns the body and the named header.
    pub async fn bytes(&self, path: &str, header: &str) -> Result<(Bytes, Option<String>), RemoteError> {
        let resp = self.send(Method::GET, path, None).await?;
        let resp = self.check(resp).await?;
        let h = resp.headers().get(header).and_then(|v| v.to_str().ok()).map(String::from);
        let body = resp
            .bytes()
            .await
            .map_err(|e| RemoteError::Protocol { name: self.config.name.clone(), detail: e.to_string() })?;
        Ok((body, h))
    }

    /// `GET /` of the leader: whether it answers, and its version.
    pub async fn ping(&self) -> Result<Value, RemoteError> {
        self.json(Method::GET, "/", None).await
    }
}

/// An error with its causes: reqwest's own message hides why a connection failed (refused, TLS).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cur = c.source();
    }
    out
}

/// Percent-encodes a path segment (index names may hold `+`, `#`, ...).
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub fn is_success(status: StatusCode) -> bool {
    status.is_success()
}
