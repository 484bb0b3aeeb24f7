//! Headless mode's HTTP adapter: the same `Api` over JSON and server-sent events, plus the
//! built UI (embedded in the binary, see `ui`).
//!
//! Owns: routes (design.md "HTTP API") and the route table both transports share
//! ([`table`]), bearer-token auth (everything but
//! `GET /api/health`), the Host check against DNS rebinding, `{code, message}` errors, and
//! the token file; `GET /metrics` (outside `/api` and the route table: HTTP only), which
//! the admin token opens and so does the scrape-only token of `[http] metrics_token_env`
//! ([`scrape_token`]), which opens nothing else. Does not own: any decision; every handler
//! is a call into `Api`.

mod auth;
mod error;
mod routes;
pub mod table;
mod ui;

pub use auth::{load_or_create_token, scrape_token, token_file, ScrapeToken, Token};
pub use routes::USER_HEADER;
pub use ui::UiFiles;

use crate::api::Api;
use std::net::SocketAddr;
use tokio_util::sync::CancellationToken;

pub struct ServerOptions {
    pub token: Token,
    /// Where the UI's files come from (see [`UiFiles::from_env`]).
    pub ui: UiFiles,
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
