//! Headless mode's HTTP adapter: the same `Api` over JSON and server-sent events, plus the
//! built UI as static files.
//!
//! Owns: routes (design.md "HTTP API") and the route table both transports share
//! ([`table`]), bearer-token auth (everything but
//! `GET /api/health`), the Host check against DNS rebinding, `{code, message}` errors, and
//! the token file. Does not own: any decision; every handler is a call into `Api`.

mod auth;
mod error;
mod routes;
pub mod table;

pub use auth::{load_or_create_token, token_file, Token};
pub use routes::USER_HEADER;

use crate::api::Api;
use std::net::SocketAddr;
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

pub struct ServerOptions {
    pub token: Token,
    /// The built UI (`ui/dist`); `None` serves a short page saying how to build it.
    pub ui_dir: Option<PathBuf>,
}

/// The UI directory: `STEWARD_UI_DIR`, else `ui/dist` next to the executable's project,
/// else `ui/dist` under the current directory.
pub fn default_ui_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("STEWARD_UI_DIR").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    let candidates = [
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("ui/dist")),
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(|d| d.join("ui"))),
        Some(PathBuf::from("ui/dist")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|d| d.join("index.html").is_file())
}

/// Serves until `cancel` fires. Open event streams end with it.
pub async fn serve(
    api: Api,
    listener: tokio::net::TcpListener,
    opts: ServerOptions,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    let local: SocketAddr = listener.local_addr()?;
    let app = routes::router(api, opts, local, cancel.clone());
    axum::serve(listener, app)
        .with_graceful_shutdown(cancel.cancelled_owned())
        .await
}
