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
    /// A config edit without `If-Match` (HTTP 428): edits never overwrite blindly.
    #[error("a config edit must say which revision it changes (If-Match)")]
    RevisionRequired,
    /// The config file changed since the revision the edit was made on (HTTP 409).
    #[error("the config file changed on disk since it was read; reload it and edit again")]
    ConfigChanged { revision: String },
    /// A config edit the validator refuses (HTTP 400); the file is untouched.
    #[error("{}", .0.iter().map(|i| format!("{}: {}", i.field, i.message)).collect::<Vec<_>>().join("; "))]
    InvalidConfig(Vec<FieldIssue>),
}

/// What is wrong with a config edit, where a form can show it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
pub struct FieldIssue {
    /// Where in the file: `providers[2].url`, `executor.timeout`, or `config` when no
    /// field is known.
    pub field: String,
    /// The key inside the entry or section being edited (`url`), when the issue is there.
    pub key: Option<String>,
    /// The line in the file as it would be written.
    pub line: Option<usize>,
    pub message: String,
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
            ApiError::RevisionRequired => "revision_required",
            ApiError::ConfigChanged { .. } => "config_changed",
            ApiError::InvalidConfig(_) => "invalid_config",
        }
    }

    /// Fields the wire shape carries besides `code` and `message`: the file's revision
    /// now (`config_changed`), the issues by field (`invalid_config`).
    pub fn details(&self) -> Option<(&'static str, serde_json::Value)> {
        match self {
            ApiError::ConfigChanged { revision } => Some(("revision", revision.clone().into())),
            ApiError::InvalidConfig(issues) => Some((
                "issues",
                serde_json::to_value(issues).unwrap_or(serde_json::Value::Null),
            )),
            _ => None,
        }
    }
}
