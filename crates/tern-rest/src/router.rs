//! Route table and the layers every request passes through.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post, put};
use serde_json::json;
use tern_node::Node;

use crate::api::{bulk, document, root};
use crate::context::MaxContentLength;

/// A plugin contributes routes (and, through the node, settings and background services).
pub trait Plugin: Send + Sync {
    fn name(&self) -> &'static str;
    fn routes(&self, node: Arc<Node>) -> Router<Arc<Node>>;
}

/// Builds the full router for a node.
pub fn router(node: Arc<Node>, plugins: &[Arc<dyn Plugin>]) -> Router {
    let max_len = node.settings.max_content_length().unwrap_or(100 << 20) as usize;
    let mut r: Router<Arc<Node>> = Router::new()
        .route("/", get(root::info))
        .route("/_bulk", post(bulk::bulk).put(bulk::bulk))
        .route("/{index}/_bulk", post(bulk::bulk).put(bulk::bulk))
        .route("/_mget", get(document::mget).post(document::mget))
        .route("/{index}/_mget", get(document::mget).post(document::mget))
        .route("/{index}/_doc", post(document::index_auto_id))
        .route(
            "/{index}/_doc/{id}",
            put(document::index_with_id).post(document::index_with_id).get(document::get).delete(document::delete),
        )
        .route("/{index}/_create/{id}", put(document::create).post(document::create))
        .route("/{index}/_update/{id}", post(document::update))
        .route("/{index}/_source/{id}", get(document::get_source));
    r = crate::api::register(r);
    for p in plugins {
        r = r.merge(p.routes(node.clone()));
    }
    r.fallback(no_handler)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(node)
        // A bug that panics in one request answers ES's 500 envelope; the node keeps serving.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn(move |mut req: Request, next: Next| async move {
            req.extensions_mut().insert(MaxContentLength(max_len));
            edge(req, next).await
        }))
}

/// Checks the content type of requests with a body and stamps `X-Elastic-Product` on every answer.
async fn edge(req: Request, next: Next) -> Response {
    let has_body = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .map(|v| v != "0")
        .unwrap_or_else(|| req.headers().contains_key(header::TRANSFER_ENCODING));
    let mut resp = match req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        Some(ct) if has_body && !supported_content_type(ct) => {
            let body = json!({"error": format!("Content-Type header [{ct}] is not supported"), "status": 406});
            (StatusCode::NOT_ACCEPTABLE, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
        }
        _ => next.run(req).await,
    };
    resp.headers_mut().insert("x-elastic-product", HeaderValue::from_static("Elasticsearch"));
    resp
}

fn supported_content_type(ct: &str) -> bool {
    let base = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    matches!(
        base.as_str(),
        "application/json"
            | "application/x-ndjson"
            | "application/vnd.elasticsearch+json"
            | "application/vnd.elasticsearch+x-ndjson"
    )
}

fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = detail, "request handler panicked");
    let err = tern_common::EsError::internal(format!("internal error while handling the request: {detail}"));
    let mut resp = crate::error::ApiError::from(err).into_response();
    resp.headers_mut().insert("x-elastic-product", HeaderValue::from_static("Elasticsearch"));
    resp
}

async fn no_handler(req: Request<Body>) -> Response {
    let body = json!({
        "error": format!("no handler found for uri [{}] and method [{}]", req.uri(), req.method()),
        "status": 400
    });
    (StatusCode::BAD_REQUEST, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

async fn method_not_allowed(req: Request<Body>) -> Response {
    let body = json!({
        "error": format!("Incorrect HTTP method for uri [{}] and method [{}]", req.uri(), req.method()),
        "status": 405
    });
    (StatusCode::METHOD_NOT_ALLOWED, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// Helper for modules registering routes.
pub type Routes = Router<Arc<Node>>;
pub type Route = MethodRouter<Arc<Node>>;
