//! `{code, message}` errors: the one shape every failing answer has (design.md "HTTP
//! API"), and the HTTP status each `ApiError` maps to.
//!
//! Owns: that mapping. Does not own: why a request failed (the `Api` and the checks in
//! `auth` decide).

use crate::api::ApiError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

pub(super) fn error_response(
    status: StatusCode,
    code: &str,
    message: impl Into<String>,
) -> Response {
    (
        status,
        Json(serde_json::json!({"code": code, "message": message.into()})),
    )
        .into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::UnknownProvider(_) | ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) | ApiError::Expired(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Store(e) if e.unavailable().is_some() => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::RevisionRequired => StatusCode::PRECONDITION_REQUIRED,
            ApiError::ConfigChanged { .. } => StatusCode::CONFLICT,
            ApiError::InvalidConfig(_) => StatusCode::BAD_REQUEST,
        };
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let mut body = serde_json::json!({"code": self.code(), "message": self.to_string()});
        if let Some((key, value)) = self.details() {
            body[key] = value;
        }
        (status, Json(body)).into_response()
    }
}
