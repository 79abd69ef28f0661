//! `GET /` (info) and `HEAD /` (ping).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::json;
use tern_node::Node;

use crate::context::Ctx;
use crate::error::ApiResult;

/// Lucene's version in the ES release tern reports; clients only display it.
const LUCENE_VERSION: &str = "9.11.1";

pub async fn info(State(node): State<Arc<Node>>, ctx: Ctx) -> ApiResult<Response> {
    ctx.params.check(&[])?;
    if ctx.method == Method::HEAD {
        return ctx.status(StatusCode::OK);
    }
    let meta = node.metadata();
    ctx.ok(json!({
        "name": node.info.node_name,
        "cluster_name": node.info.cluster_name,
        "cluster_uuid": meta.cluster_uuid,
        "version": {
            "number": node.info.version,
            "build_flavor": "default",
            "build_type": "tar",
            "build_hash": env!("CARGO_PKG_VERSION"),
            "build_date": "2026-11-22T00:00:00.000Z",
            "build_snapshot": false,
            "lucene_version": LUCENE_VERSION,
            "minimum_wire_compatibility_version": "7.17.0",
            "minimum_index_compatibility_version": "7.0.0"
        },
        "tagline": "You Know, for Search"
    }))
}
