//! What the window and `GET /api/sessions` show of the session pipeline.
//!
//! Owns: the view types (`SessionsView` and its parts, the live `PipelineUpdate`) and
//! the status shown before the first scan or without `[sessions]`. Plain data.

use crate::sessions::scheduler::ProcessorState;
use crate::sessions::status::{PipelineLevel, PipelineStatus};
use crate::sessions::watcher::WatchMode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::path::PathBuf;

/// The last full scan, for the view.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct ScanView {
    pub at: DateTime<Utc>,
    pub duration_ms: u64,
    pub seen: u64,
    pub new: u64,
    pub changed: u64,
    pub removed: u64,
    pub hashed: u64,
    pub error: Option<String>,
}

/// How the root is watched, for the view.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ts_rs::TS)]
pub struct WatchView {
    /// `native`, `polling` (the native watch failed: `detail` says why) or `waiting`
    /// (the root does not exist yet).
    #[ts(type = "'native' | 'polling' | 'waiting'")]
    pub mode: &'static str,
    pub detail: Option<String>,
    /// Directories watched: the root and its real user directories (never anything behind
    /// a symlink). Only in `GET /api/sessions`; a change of mode is what is news.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub watched_dirs: Option<usize>,
}

pub fn watch_view(mode: &WatchMode) -> WatchView {
    match mode {
        WatchMode::Native => WatchView {
            mode: "native",
            detail: None,
            watched_dirs: None,
        },
        WatchMode::Polling { reason } => WatchView {
            mode: "polling",
            detail: Some(reason.clone()),
            watched_dirs: None,
        },
        WatchMode::Waiting => WatchView {
            mode: "waiting",
            detail: Some("the session root does not exist yet".into()),
            watched_dirs: None,
        },
    }
}

/// One indexed file and where each processor stands with it.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct FileView {
    pub path: String,
    pub username: String,
    pub size: u64,
    pub mtime: DateTime<Utc>,
    pub file_hash: Option<String>,
    pub processors: Vec<FileProcessorView>,
}

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct FileProcessorView {
    pub processor: String,
    pub processed_at: Option<DateTime<Utc>>,
    pub items_extracted: u64,
    pub last_error: Option<String>,
}

/// `GET /api/sessions`.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct SessionsView {
    pub configured: bool,
    #[ts(type = "string | null")]
    pub root: Option<PathBuf>,
    pub watch: Option<WatchView>,
    pub scanned: bool,
    pub last_scan: Option<ScanView>,
    /// `services.session_pipeline` of `/api/health/detailed`.
    pub status: PipelineStatus,
    pub files: FilesView,
    pub processors: Vec<ProcessorState>,
    pub usage: UsageView,
}

#[derive(Debug, Clone, Serialize, Default, ts_rs::TS)]
pub struct FilesView {
    pub count: u64,
    pub total_bytes: u64,
    pub newest_mtime: Option<DateTime<Utc>>,
    /// The newest files (at most [`FILES_LISTED`](crate::sessions::pipeline::FILES_LISTED)).
    pub list: Vec<FileView>,
    pub truncated: bool,
}

/// What the `usage` processors extracted, in total, by model and by day (last 30 days).
#[derive(Debug, Clone, Serialize, Default, ts_rs::TS)]
pub struct UsageView {
    pub files: u64,
    pub records: u64,
    pub malformed: u64,
    pub tokens: crate::sessions::processor::Tokens,
    pub by_model: Vec<crate::store::UsageBy>,
    pub by_day: Vec<crate::store::UsageBy>,
}

/// The live push: status and processors (the files and usage are fetched on demand).
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct PipelineUpdate {
    pub status: PipelineStatus,
    pub processors: Vec<ProcessorState>,
    pub files: u64,
}

pub fn not_configured() -> PipelineStatus {
    PipelineStatus {
        status: PipelineLevel::Ok,
        detail: Some("no [sessions] configured".into()),
        stuck_file: None,
        stuck_file_age_seconds: None,
        processor: None,
    }
}

pub fn scanning() -> PipelineStatus {
    PipelineStatus {
        status: PipelineLevel::Ok,
        detail: Some("first scan of the session files in progress".into()),
        stuck_file: None,
        stuck_file_age_seconds: None,
        processor: None,
    }
}

impl SessionsView {
    /// Without `[sessions]`.
    pub fn not_configured() -> SessionsView {
        SessionsView {
            configured: false,
            root: None,
            watch: None,
            scanned: false,
            last_scan: None,
            status: not_configured(),
            files: FilesView::default(),
            processors: Vec::new(),
            usage: UsageView::default(),
        }
    }
}
