//! The leader side: what a follower asks of this cluster over its REST port.
//!
//! - `GET  /_remote_sync/leader/{index}`: the index's metadata (settings, mappings, aliases, state).
//! - `POST /_remote_sync/leader/{index}/_pin`: the metadata plus, per shard, the manifest of its last
//!   commit, pinned under a **lease**: the commit's files outlive merges until the lease ends.
//! - `GET  /_remote_sync/leader/lease/{lease}/{shard}/{file}?offset=&length=`: one chunk, raw, with
//!   its CRC-32 in `x-tern-crc32`. Each read extends the lease.
//! - `DELETE /_remote_sync/leader/lease/{lease}`: the follower is done.
//!
//! A lease nobody reads for [`LEASE_IDLE`] ends by itself, so a follower that died mid-copy does not
//! hold files forever; a follower that comes back pins again and resumes with what it already has.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use serde_json::{Map, Value, json};
use tern_common::{ErrorKind, EsError};
use tern_node::Node;
use tern_node::commit_copy::PinnedCommit;
use tern_rest::context::Ctx;
use tern_rest::error::ApiResult;

use crate::Runtime;

pub const LEASE_IDLE: Duration = Duration::from_secs(120);
pub const CRC_HEADER: &str = "x-tern-crc32";
/// The largest chunk a follower may ask for in one request (ES's `chunk_size` caps at 512 MB;
/// larger requests would only hold memory).
const MAX_CHUNK: u64 = 64 << 20;

pub struct Lease {
    pub index: String,
    pins: Vec<PinnedCommit>,
    last_access: Mutex<Instant>,
}

#[derive(Default)]
pub struct Leases {
    map: Mutex<HashMap<String, Arc<Lease>>>,
}

impl Leases {
    fn get(&self, id: &str) -> Option<Arc<Lease>> {
        let lease = self.map.lock().get(id).cloned()?;
        *lease.last_access.lock() = Instant::now();
        Some(lease)
    }

    /// Ends leases nobody used for [`LEASE_IDLE`].
    pub fn expire(&self) {
        self.map.lock().retain(|_, l| l.last_access.lock().elapsed() < LEASE_IDLE);
    }

    pub fn len(&self) -> usize {
        self.map.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The leader index's metadata as the follower needs it.
fn index_json(node: &Node, index: &str) -> Result<Value, EsError> {
    let meta = node.metadata();
    let im = meta.indices.get(index).ok_or_else(|| EsError::index_not_found(index))?;
    let aliases: Map<String, Value> = im.aliases.iter().map(|(k, a)| (k.clone(), a.to_json())).collect();
    Ok(json!({
        "index": im.name,
        "uuid": im.uuid,
        "state": im.state.as_str(),
        "number_of_shards": im.number_of_shards(),
        "settings": Value::Object(im.settings.flat().iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
        "mappings": im.mappings,
        "aliases": aliases,
    }))
}

pub async fn metadata(State(node): State<Arc<Node>>, ctx: Ctx, Path(index): Path<String>) -> ApiResult<Response> {
    ctx.params.check(&[])?;
    ctx.ok(index_json(&node, &index).map_err(|e| ctx.error(e))?)
}

pub async fn pin(
    State(node): State<Arc<Node>>,
    Extension(rt): Extension<Arc<Runtime>>,
    ctx: Ctx,
    Path(index): Path<String>,
) -> ApiResult<Response> {
    ctx.params.check(&[])?;
    let mut body = index_json(&node, &index).map_err(|e| ctx.error(e))?;
    if body["state"] != "open" {
        body["shards"] = json!([]);
        return ctx.ok(body);
    }
    let shards = body["number_of_shards"].as_u64().unwrap_or(1) as u32;
    let n2 = node.clone();
    let idx = index.clone();
    // Checksums of files not seen before are computed here, which reads them: off the async runtime.
    let pins = tokio::task::spawn_blocking(move || {
        (0..shards).map(|s| n2.pin_shard_commit(&idx, s)).collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(|e| ctx.error(EsError::internal(e.to_string())))?
    .map_err(|e| ctx.error(e))?;
    body["shards"] =
        Value::Array(pins.iter().enumerate().map(|(i, p)| json!({"shard": i, "manifest": p.manifest()})).collect());
    let id = format!("{:032x}", rand::random::<u128>());
    body["lease"] = json!(id);
    rt.leases.map.lock().insert(id, Arc::new(Lease { index, pins, last_access: Mutex::new(Instant::now()) }));
    ctx.ok(body)
}

pub async fn chunk(
    Extension(rt): Extension<Arc<Runtime>>,
    ctx: Ctx,
    Path((lease, shard, file)): Path<(String, u32, String)>,
) -> ApiResult<Response> {
    ctx.params.check(&["offset", "length"])?;
    let offset = ctx.params.i64("offset").map_err(|e| ctx.error(e))?.unwrap_or(0).max(0) as u64;
    let length =
        ctx.params.i64("length").map_err(|e| ctx.error(e))?.unwrap_or(1 << 20).clamp(1, MAX_CHUNK as i64) as usize;
    let lease = rt.leases.get(&lease).ok_or_else(|| {
        ctx.error(EsError::new(
            ErrorKind::ResourceNotFound,
            format!("remote sync lease [{lease}] ended or never existed"),
        ))
    })?;
    let bytes = tokio::task::spawn_blocking(move || {
        let pin = lease.pins.get(shard as usize).ok_or_else(|| {
            EsError::new(
                ErrorKind::ResourceNotFound,
                format!("no shard [{shard}] in the lease of index [{}]", lease.index),
            )
        })?;
        pin.read_chunk(&file, offset, length)
    })
    .await
    .map_err(|e| ctx.error(EsError::internal(e.to_string())))?
    .map_err(|e| ctx.error(e))?;
    let crc = crc32fast::hash(&bytes);
    let mut resp = (StatusCode::OK, bytes).into_response();
    resp.headers_mut().insert("content-type", HeaderValue::from_static("application/octet-stream"));
    resp.headers_mut().insert(CRC_HEADER, HeaderValue::from_str(&crc.to_string()).expect("digits are a valid header"));
    Ok(resp)
}

pub async fn release(
    Extension(rt): Extension<Arc<Runtime>>,
    ctx: Ctx,
    Path(lease): Path<String>,
) -> ApiResult<Response> {
    ctx.params.check(&[])?;
    let found = rt.leases.map.lock().remove(&lease).is_some();
    ctx.ok(json!({"acknowledged": found}))
}
