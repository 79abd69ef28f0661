//! The HTTP side: a keep-alive `reqwest` client for tern's ES API.
//!
//! Every non-2xx answer becomes an error that quotes the request (method, path, first bytes of the
//! body) and the full response, so a misbehaving server is reported as it misbehaved, not retried.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use reqwest::{Client, Method};
use serde_json::Value;

use crate::process::ms;

#[derive(Clone)]
pub struct Es {
    client: Client,
    base: String,
}

fn excerpt(b: &[u8], n: usize) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(n)]).to_string();
    if b.len() > n { format!("{s}... ({} bytes)", b.len()) } else { s }
}

impl Es {
    pub fn new(base: String) -> anyhow::Result<Es> {
        let client =
            Client::builder().pool_max_idle_per_host(64).tcp_nodelay(true).timeout(Duration::from_secs(300)).build()?;
        Ok(Es { client, base })
    }

    /// Sends a request and returns status and body, whatever the status.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
        ctype: &str,
    ) -> anyhow::Result<(u16, Bytes)> {
        let mut req = self.client.request(method, format!("{}{}", self.base, path));
        if let Some(b) = body {
            req = req.header("content-type", ctype).body(b);
        }
        let resp = req.send().await.with_context(|| format!("request {path} failed"))?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.with_context(|| format!("reading the response of {path} failed"))?;
        Ok((status, bytes))
    }

    /// A JSON request that must answer 2xx; the parsed answer.
    pub async fn json(&self, method: Method, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let b = body.map(|v| Bytes::from(serde_json::to_vec(v).expect("json")));
        let sent = b.clone();
        let (status, resp) = self.raw(method.clone(), path, b, "application/json").await?;
        if !(200..300).contains(&status) {
            bail!(
                "tern answered {status} to {method} {path}\nrequest body: {}\nresponse: {}",
                sent.as_deref().map(|b| excerpt(b, 2000)).unwrap_or_default(),
                excerpt(&resp, 4000)
            );
        }
        serde_json::from_slice(&resp).with_context(|| format!("{method} {path}: response is not JSON"))
    }

    pub async fn create_index(&self, index: &str, mappings: &Value, settings: &Value) -> anyhow::Result<()> {
        let body = serde_json::json!({"settings": settings, "mappings": mappings});
        self.json(Method::PUT, &format!("/{index}"), Some(&body)).await?;
        Ok(())
    }

    pub async fn refresh(&self, index: &str) -> anyhow::Result<()> {
        self.json(Method::POST, &format!("/{index}/_refresh"), None).await?;
        Ok(())
    }

    pub async fn count(&self, index: &str) -> anyhow::Result<u64> {
        let v = self.json(Method::GET, &format!("/{index}/_count"), None).await?;
        v.get("count").and_then(Value::as_u64).with_context(|| format!("_count answered {v}"))
    }

    /// One `_bulk` request; fails on any item error (quoting the first one).
    pub async fn bulk(&self, index: &str, body: Bytes) -> anyhow::Result<()> {
        let path = format!("/{index}/_bulk");
        let sent = body.clone();
        let (status, resp) = self.raw(Method::POST, &path, Some(body), "application/x-ndjson").await?;
        if status != 200 {
            bail!(
                "tern answered {status} to POST {path}\nrequest body starts: {}\nresponse: {}",
                excerpt(&sent, 400),
                excerpt(&resp, 4000)
            );
        }
        // `"errors":false` comes right after `took`; only a failing bulk is parsed in full.
        let head = &resp[..resp.len().min(64)];
        const NO_ERRORS: &[u8] = b"\"errors\":false";
        if head.windows(NO_ERRORS.len()).any(|w| w == NO_ERRORS) {
            return Ok(());
        }
        let v: Value = serde_json::from_slice(&resp).context("bulk response is not JSON")?;
        let first = v
            .get("items")
            .and_then(Value::as_array)
            .and_then(|items| items.iter().enumerate().find(|(_, it)| it.pointer("/index/error").is_some()));
        match first {
            Some((i, item)) => bail!(
                "POST {path}: item {i} failed: {item}\n(errors = {}, request body starts: {})",
                v.get("errors").cloned().unwrap_or(Value::Null),
                excerpt(&sent, 400)
            ),
            None => bail!("POST {path}: unexpected response: {}", excerpt(&resp, 2000)),
        }
    }
}

/// Result of sending a corpus as `_bulk` requests from several concurrent clients.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BulkPhase {
    pub docs_sent: usize,
    pub requests: usize,
    pub secs: f64,
    pub request_latency: crate::stats::LatencySummary,
    /// Whether the time budget stopped the clients before the corpus was sent.
    pub stopped_by_budget: bool,
}

/// Sends `bodies` (each holding `batch` docs, the last maybe fewer) with `clients` concurrent
/// clients that take the next body from a shared counter. Stops taking new bodies after `budget`.
pub async fn send_bulks(
    es: &Es,
    index: &str,
    bodies: Arc<Vec<Bytes>>,
    docs_per_body: Arc<Vec<usize>>,
    clients: usize,
    budget: Option<Duration>,
) -> anyhow::Result<BulkPhase> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let es = es.clone();
        let index = index.to_string();
        let bodies = bodies.clone();
        let docs_per_body = docs_per_body.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut docs = 0;
            let mut stopped = false;
            loop {
                if budget.is_some_and(|b| started.elapsed() >= b) {
                    stopped = next.load(Ordering::Relaxed) < bodies.len();
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= bodies.len() {
                    break;
                }
                let t = Instant::now();
                es.bulk(&index, bodies[i].clone()).await.with_context(|| format!("bulk request #{i}"))?;
                lat.push(ms(t.elapsed()));
                docs += docs_per_body[i];
            }
            Ok::<_, anyhow::Error>((lat, docs, stopped))
        }));
    }
    let mut lat = Vec::new();
    let mut docs = 0;
    let mut stopped = false;
    for t in tasks {
        let (l, d, s) = t.await??;
        lat.extend(l);
        docs += d;
        stopped |= s;
    }
    Ok(BulkPhase {
        docs_sent: docs,
        requests: lat.len(),
        secs: started.elapsed().as_secs_f64(),
        request_latency: crate::stats::LatencySummary::of_ms(&lat),
        stopped_by_budget: stopped,
    })
}
