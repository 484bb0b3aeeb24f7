//! The typed error every engine call answers with, and its stable wire `code`.
//!
//! Owns: `ApiError`. Adapters turn it into `{code, message}` with their own status codes
//! (`http/error.rs`, the Tauri commands); capabilities return it from the commands they
//! carry out (approve, reject, submit an event, run a processor).

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no provider {0:?}")]
    UnknownProvider(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    /// The proposal's time to live ran out (a `409` with code `expired`).
    #[error("{0}")]
    Expired(String),
    /// The input is larger than its limit (HTTP 413).
    #[error("{0}")]
    PayloadTooLarge(String),
    /// Shutting down, or a part that is not running.
    #[error("{0}")]
    Unavailable(String),
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
}

impl ApiError {
    /// Stable machine-readable code (`{code, message}` on the wire).
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::UnknownProvider(_) | ApiError::NotFound(_) => "not_found",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Conflict(_) => "conflict",
            ApiError::Expired(_) => "expired",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Store(e) if e.unavailable().is_some() => "storage_unavailable",
            ApiError::Store(_) => "internal",
        }
    }
}
