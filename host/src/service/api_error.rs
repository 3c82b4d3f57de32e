//! [`ApiError`]: every error the service answers, as JSON naming what was
//! wrong: `{"error": {"code", "message", "field"?}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// Stable, kebab-case.
    pub code: &'static str,
    /// For humans.
    pub message: String,
    /// The request field that was wrong, when one was.
    pub field: Option<String>,
}

impl ApiError {
    /// 400 `invalid-request`, naming `field` when known.
    pub fn invalid(field: Option<&str>, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "invalid-request",
            message: message.into(),
            field: field.map(str::to_owned),
        }
    }

    /// 404 `not-found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::plain(StatusCode::NOT_FOUND, "not-found", message)
    }

    /// 401 `unauthorized`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::plain(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 409 `conflict`.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::plain(StatusCode::CONFLICT, "conflict", message)
    }

    /// 413 `body-too-large`.
    pub fn too_large(limit: usize) -> Self {
        Self::plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            format!("the request body is larger than the limit of {limit} bytes"),
        )
    }

    /// 408 `body-timeout`: the whole body did not arrive within `limit`.
    pub fn body_timeout(limit: std::time::Duration) -> Self {
        Self::plain(
            StatusCode::REQUEST_TIMEOUT,
            "body-timeout",
            format!(
                "the request body did not arrive within {:.3} s",
                limit.as_secs_f64()
            ),
        )
    }

    /// 503 `log-unavailable`: the change could not be recorded, so it did
    /// not happen.
    pub fn log_unavailable(message: impl std::fmt::Display) -> Self {
        Self::plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "log-unavailable",
            message.to_string(),
        )
    }

    /// 500 `internal`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::plain(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// Any status and code.
    pub fn plain(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        let mut error = serde_json::json!({ "code": self.code, "message": self.message });
        if let (Some(field), Some(obj)) = (&self.field, error.as_object_mut()) {
            obj.insert("field".to_owned(), serde_json::Value::String(field.clone()));
        }
        serde_json::json!({ "error": error })
    }
}

impl From<crate::request::RequestError> for ApiError {
    fn from(e: crate::request::RequestError) -> Self {
        match &e {
            crate::request::RequestError::Field { field, .. } => {
                ApiError::invalid(Some(field), e.to_string())
            }
            crate::request::RequestError::Malformed(_) => ApiError::invalid(None, e.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            // RFC 6750 §3.
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"gavel\""),
            );
        }
        if matches!(
            self.status,
            StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_TIMEOUT
        ) {
            // The rest of the body is never read: the connection cannot
            // carry another request.
            response.headers_mut().insert(
                axum::http::header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
        }
        response
    }
}
