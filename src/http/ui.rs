//! The built web UI (`ui/dist`), embedded in the binary when it is compiled, so an
//! installed `steward serve` needs no source tree. `STEWARD_UI_DIR` serves a directory
//! instead (working on the UI without rebuilding the binary).
//!
//! Owns: which files the UI is, their content types and cache headers, and the page shown
//! when the binary was built without a UI. Paths that are not files (the UI's own routes)
//! answer `index.html`; a missing asset answers 404.

use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::path::PathBuf;
use tower_http::services::{ServeDir, ServeFile};

/// `ui/dist` as it was when the binary was compiled (empty when it was not built then).
#[derive(rust_embed::Embed)]
#[folder = "ui/dist/"]
#[allow_missing = true]
struct Dist;

/// Where the UI's files come from.
#[derive(Clone, Debug, PartialEq)]
pub enum UiFiles {
    /// Inside the binary.
    Embedded,
    /// A directory on disk (`STEWARD_UI_DIR`).
    Dir(PathBuf),
}

impl UiFiles {
    /// `STEWARD_UI_DIR` when set, else the embedded files.
    pub fn from_env() -> UiFiles {
        match std::env::var_os("STEWARD_UI_DIR").filter(|v| !v.is_empty()) {
            Some(dir) => UiFiles::Dir(PathBuf::from(dir)),
            None => UiFiles::Embedded,
        }
    }

    /// Whether there is a UI to serve (an `index.html`).
    pub fn is_built(&self) -> bool {
        match self {
            UiFiles::Embedded => Dist::get("index.html").is_some(),
            UiFiles::Dir(dir) => dir.join("index.html").is_file(),
        }
    }

    pub(super) fn router(&self) -> Router {
        if !self.is_built() {
            return Router::new().fallback(not_built);
        }
        match self {
            UiFiles::Embedded => Router::new().fallback(embedded),
            UiFiles::Dir(dir) => Router::new().fallback_service(
                ServeDir::new(dir).fallback(ServeFile::new(dir.join("index.html"))),
            ),
        }
    }
}

async fn not_built() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "Steward is running, but this binary was built without its UI.\n\
         Build the UI (npm --prefix ui install && npm --prefix ui run build), then the \
         binary again, or point STEWARD_UI_DIR at a built ui/dist.\n\
         The API is under /api (bearer token in the data dir).\n",
    )
        .into_response()
}

/// One embedded file; `index.html` for a path that is not a file and looks like a route.
async fn embedded(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    let (name, file) = match Dist::get(path) {
        Some(file) => (path, file),
        // `/assets/x.js` that is not there is a 404; `/proposals` is the page.
        None if path
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains('.')) =>
        {
            return StatusCode::NOT_FOUND.into_response();
        }
        None => match Dist::get("index.html") {
            Some(file) => ("index.html", file),
            None => return StatusCode::NOT_FOUND.into_response(),
        },
    };
    // Vite names what is under assets/ by content hash: it never changes under a name.
    let cache = if name.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    (
        [
            (header::CONTENT_TYPE, file.metadata.mimetype().to_owned()),
            (header::CACHE_CONTROL, cache.to_owned()),
        ],
        file.data,
    )
        .into_response()
}
