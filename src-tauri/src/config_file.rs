//! "Open config file" in the tray app: the config file the Settings area edits, opened
//! with the desktop's default application for it (`tauri-plugin-opener`: `xdg-open` on
//! Linux), so a person can edit it by hand next to the app.
//!
//! Owns: the desktop-only `open_config_file` command (not in the route table: a headless
//! Steward has no desktop to open a file on; the browser UI shows the path instead).
//! Does not own: where the file is (the engine's config says) or editing it (`Api`).

use crate::commands::IpcError;
use serde::Serialize;
use std::path::PathBuf;
use steward::api::Api;
use tauri::ipc::Invoke;
use tauri::{AppHandle, State};
use tauri_plugin_opener::OpenerExt;

/// The commands of this module (dispatched by `commands::app_handler`).
pub const COMMANDS: [&str; 1] = ["open_config_file"];

#[derive(Debug, Clone, Serialize)]
pub struct Opened {
    pub path: PathBuf,
}

#[tauri::command]
async fn open_config_file(app: AppHandle, api: State<'_, Api>) -> Result<Opened, IpcError> {
    let failed = |message: String| IpcError {
        code: "open_config_file",
        message,
        details: serde_json::Map::new(),
    };
    let path = api
        .config()
        .source
        .clone()
        .ok_or_else(|| failed("this Steward runs without a config file".into()))?;
    app.opener()
        .open_path(path.to_string_lossy(), None::<&str>)
        .map_err(|e| failed(format!("cannot open {}: {e}", path.display())))?;
    tracing::info!(path = %path.display(), "opened the config file");
    Ok(Opened { path })
}

/// The handler of [`COMMANDS`].
pub fn handler() -> impl Fn(Invoke<tauri::Wry>) -> bool + Send + Sync + 'static {
    tauri::generate_handler![open_config_file]
}
