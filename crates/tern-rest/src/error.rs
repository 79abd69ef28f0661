//! The one place where an error becomes ES's JSON envelope.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tern_common::EsError;

/// An error on its way to the client. Handlers return `Result<_, ApiError>`; every rejection takes
/// this path, so the client always gets `{"error":{...},"status":N}` with the right status.
#[derive(Debug)]
pub struct ApiError {
    pub error: EsError,
    /// `error_trace=true`: add a `stack_trace` (tern has no JVM stack; it reports the cause chain).
    pub trace: bool,
}

impl From<EsError> for ApiError {
    fn from(error: EsError) -> Self {
        ApiError { error, trace: false }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut body = self.error.to_body();
        if self.trace
            && let Some(e) = body.get_mut("error").and_then(|e| e.as_object_mut())
        {
            e.insert("stack_trace".into(), format!("{:?}", self.error).into());
        }
        let mut resp = (status, body.to_string()).into_response();
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
