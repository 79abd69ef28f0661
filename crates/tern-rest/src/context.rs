//! The request context every handler receives, and the response it builds.
//!
//! [`Ctx`] carries the parsed query parameters and the media type negotiation result; replies built
//! through it honour `pretty`, `filter_path` and `human` and echo the compatible-with media type the
//! client asked for, the way ES answers `application/vnd.elasticsearch+json; compatible-with=8`.

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;
use tern_common::{ErrorKind, EsError};

use crate::error::ApiError;
use crate::filter_path::FilterPath;
use crate::params::Params;

#[derive(Debug, Clone)]
pub struct Ctx {
    pub params: Params,
    pub method: Method,
    pub headers: HeaderMap,
    pretty: bool,
    filter: Option<FilterPath>,
    pub human: bool,
    error_trace: bool,
    /// `compatible-with` version asked for, echoed in the response media type.
    compat: Option<u8>,
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let params = Params::parse(parts.uri.path(), parts.uri.query())?;
        let compat = negotiate(&parts.headers)?;
        let pretty = params.bool("pretty", false)?;
        let human = params.bool("human", false)?;
        let error_trace = params.bool("error_trace", false)?;
        let filter = params.get("filter_path").map(FilterPath::parse);
        Ok(Ctx {
            params,
            method: parts.method.clone(),
            headers: parts.headers.clone(),
            pretty,
            filter,
            human,
            error_trace,
            compat,
        })
    }
}

/// Validates `Accept`/`Content-Type` compatible-with versions: 7, 8 and 9 are all served as ES 8
/// JSON (the 9.x Python client sends 9), anything else is ES's `media_type_header_exception`.
fn negotiate(headers: &HeaderMap) -> Result<Option<u8>, EsError> {
    let mut compat = None;
    for name in [header::ACCEPT, header::CONTENT_TYPE] {
        let Some(v) = headers.get(&name).and_then(|v| v.to_str().ok()) else {
            continue;
        };
        if let Some(pos) = v.find("compatible-with=") {
            let ver = v[pos + "compatible-with=".len()..].trim().trim_end_matches(';');
            match ver.parse::<u8>() {
                Ok(n @ 7..=9) => compat = compat.or(Some(n)),
                _ => {
                    let which = if name == header::ACCEPT { "Accept" } else { "Content-Type" };
                    return Err(EsError::new(
                        ErrorKind::MediaTypeHeader,
                        format!("Invalid media-type value on headers [{which}]"),
                    )
                    .caused_by(EsError::new(
                        ErrorKind::StatusException,
                        format!("A compatible version is required on both Content-Type and Accept headers if either one has requested a compatible version. Accept version must be either version 8 or 7, but found {ver}. Accept=[{v}]"),
                    )));
                }
            }
        }
    }
    Ok(compat)
}

/// What a handler answers.
pub enum Reply {
    Json(StatusCode, Value),
    Text(StatusCode, String),
    /// HEAD-style answers: a status and no body.
    Status(StatusCode),
}

impl Ctx {
    pub fn ok(&self, body: Value) -> Result<Response, ApiError> {
        Ok(self.render(Reply::Json(StatusCode::OK, body)))
    }

    pub fn json(&self, status: StatusCode, body: Value) -> Result<Response, ApiError> {
        Ok(self.render(Reply::Json(status, body)))
    }

    pub fn text(&self, body: String) -> Result<Response, ApiError> {
        Ok(self.render(Reply::Text(StatusCode::OK, body)))
    }

    pub fn status(&self, status: StatusCode) -> Result<Response, ApiError> {
        Ok(self.render(Reply::Status(status)))
    }

    /// An error rendered with this request's `error_trace`.
    pub fn error(&self, e: EsError) -> ApiError {
        ApiError { error: e, trace: self.error_trace }
    }

    pub fn render(&self, reply: Reply) -> Response {
        match reply {
            Reply::Json(status, mut body) => {
                if let Some(f) = &self.filter {
                    body = f.apply(body);
                }
                let text = if self.pretty {
                    serde_json::to_string_pretty(&body).unwrap_or_default() + "\n"
                } else {
                    body.to_string()
                };
                let mut resp = (status, text).into_response();
                resp.headers_mut().insert(header::CONTENT_TYPE, self.json_media_type());
                resp
            }
            Reply::Text(status, text) => {
                let mut resp = (status, text).into_response();
                resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=UTF-8"));
                resp
            }
            Reply::Status(status) => {
                let mut resp = status.into_response();
                resp.headers_mut().insert(header::CONTENT_TYPE, self.json_media_type());
                resp
            }
        }
    }

    fn json_media_type(&self) -> HeaderValue {
        match self.compat {
            Some(7) => HeaderValue::from_static("application/vnd.elasticsearch+json;compatible-with=7"),
            Some(8) => HeaderValue::from_static("application/vnd.elasticsearch+json;compatible-with=8"),
            Some(9) => HeaderValue::from_static("application/vnd.elasticsearch+json;compatible-with=9"),
            _ => HeaderValue::from_static("application/json"),
        }
    }
}

/// A request body read up to `http.max_content_length`; larger bodies get 413 without being
/// buffered whole.
pub struct EsBody(pub Bytes);

/// The limit lives in request extensions, set by the router from the node's settings.
#[derive(Debug, Clone, Copy)]
pub struct MaxContentLength(pub usize);

impl<S: Send + Sync> FromRequest<S> for EsBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let limit = req.extensions().get::<MaxContentLength>().map(|m| m.0).unwrap_or(100 << 20);
        let too_large = || {
            ApiError::from(EsError::new(
                ErrorKind::ContentTooLarge,
                format!("request body is larger than http.max_content_length [{limit}b]"),
            ))
        };
        if let Some(len) = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok())
            && len > limit
        {
            return Err(too_large());
        }
        let body: Body = req.into_body();
        match axum::body::to_bytes(body, limit).await {
            Ok(b) => Ok(EsBody(b)),
            Err(_) => Err(too_large()),
        }
    }
}

impl EsBody {
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|b| b.is_ascii_whitespace())
    }

    /// The body as JSON; an empty body is `None`.
    pub fn json(&self) -> Result<Option<Value>, EsError> {
        if self.is_empty() {
            return Ok(None);
        }
        parse_json(&self.0).map(Some)
    }

    /// The body as JSON, required.
    pub fn required_json(&self) -> Result<Value, EsError> {
        self.json()?.ok_or_else(|| EsError::new(ErrorKind::ActionRequestValidation, "request body is required"))
    }
}

/// Parses JSON with ES's error types: invalid UTF-8 and syntax errors are `x_content_parse_exception`
/// / `json_parse_exception` with a line and column; nesting deeper than serde_json's limit is refused
/// rather than overflowing the stack.
pub fn parse_json(bytes: &[u8]) -> Result<Value, EsError> {
    serde_json::from_slice(bytes).map_err(|e| {
        EsError::new(ErrorKind::XContentParse, format!("[{}:{}] {}", e.line(), e.column(), json_reason(&e)))
            .caused_by(EsError::new(ErrorKind::JsonParse, e.to_string()))
    })
}

fn json_reason(e: &serde_json::Error) -> String {
    if e.to_string().contains("recursion limit") {
        "failed to parse: the document is nested too deeply".into()
    } else {
        format!("failed to parse: {e}")
    }
}
