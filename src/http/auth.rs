//! The API token, the scrape-only token of `GET /metrics`, and the checks every request
//! passes.

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::error_response;
use crate::api::Api;
use crate::config::Config;

/// A bearer token. Its `Debug` never shows the value.
#[derive(Clone)]
pub struct Token(Arc<str>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(***)")
    }
}

impl Token {
    pub fn new(value: impl Into<String>) -> Self {
        Token(Arc::from(value.into()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares without leaking the position of the first difference.
    pub fn matches(&self, candidate: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), candidate.as_bytes());
        let mut diff = (a.len() ^ b.len()) as u8 | u8::from(a.len() != b.len());
        for (x, y) in a.iter().zip(b.iter()) {
            diff |= x ^ y;
        }
        diff == 0
    }
}

/// `STEWARD_TOKEN`, else the token file in the data dir, created (0600, in a 0700 data dir)
/// on first run. Returns the token and, when it was just created, the file it was written to.
pub fn load_or_create_token(data_dir: &Path) -> std::io::Result<(Token, Option<PathBuf>)> {
    if let Ok(t) = std::env::var("STEWARD_TOKEN") {
        if !t.trim().is_empty() {
            return Ok((Token::new(t.trim()), None));
        }
    }
    let path = token_file(data_dir);
    if let Ok(t) = std::fs::read_to_string(&path) {
        if !t.trim().is_empty() {
            crate::store::private_file(&path)?;
            return Ok((Token::new(t.trim()), None));
        }
    }
    crate::store::private_dir(data_dir)?;
    use rand::RngCore;
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)?;
    f.write_all(token.as_bytes())?;
    // `mode` applies only to a file it creates: an empty one left behind keeps its mode.
    crate::store::private_file(&path)?;
    Ok((Token::new(token), Some(path)))
}

/// Where the API token is kept when `STEWARD_TOKEN` is not set.
pub fn token_file(data_dir: &Path) -> PathBuf {
    data_dir.join("token")
}

/// The scrape-only token as it is now: the value of the environment variable that
/// `[http] metrics_token_env` names, read at each request (a reload that names another
/// variable applies at once). The value is never logged, stored or shown.
#[derive(Debug)]
pub enum ScrapeToken {
    /// No `[http] metrics_token_env`: only the admin token opens `/metrics`.
    NotConfigured,
    /// The variable is unset, empty or blank: only the admin token opens `/metrics`
    /// (an empty token would let an empty `Bearer` in).
    Unset {
        var: String,
    },
    Set(Token),
}

/// The scrape-only token `config` names, read from the environment now.
pub fn scrape_token(config: &Config) -> ScrapeToken {
    match &config.metrics_token_env {
        Some(var) => scrape_token_of(var, std::env::var(var).ok()),
        None => ScrapeToken::NotConfigured,
    }
}

/// The scrape token variable `var` makes with `value`: trimmed, and none when blank.
fn scrape_token_of(var: &str, value: Option<String>) -> ScrapeToken {
    match value.as_deref().map(str::trim) {
        Some(token) if !token.is_empty() => ScrapeToken::Set(Token::new(token)),
        _ => ScrapeToken::Unset {
            var: var.to_owned(),
        },
    }
}

/// The bearer token of a request, trimmed.
fn bearer(req: &Request) -> Option<&str> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
}

fn unauthorized(message: &str) -> Response {
    let mut resp = error_response(StatusCode::UNAUTHORIZED, "unauthorized", message);
    resp.headers_mut()
        .insert(header::WWW_AUTHENTICATE, "Bearer".parse().expect("static"));
    resp
}

#[derive(Clone)]
pub(super) struct Guard {
    pub token: Token,
    pub local: SocketAddr,
}

impl Guard {
    /// Host must be the listen address or localhost on its port. A server bound to every
    /// interface accepts any host on its port (the token still guards it).
    fn host_allowed(&self, host: &str) -> bool {
        let port = self.local.port();
        if self.local.ip().is_unspecified() {
            return host
                .rsplit_once(':')
                .and_then(|(_, p)| p.parse::<u16>().ok())
                == Some(port);
        }
        let allowed = [
            self.local.to_string(),
            format!("localhost:{port}"),
            format!("127.0.0.1:{port}"),
            format!("[::1]:{port}"),
        ];
        allowed.iter().any(|a| a.eq_ignore_ascii_case(host))
    }
}

pub(super) async fn check_host(State(g): State<Guard>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !g.host_allowed(host) {
        return error_response(
            StatusCode::FORBIDDEN,
            "forbidden_host",
            format!("Host {host:?} is not this server's address"),
        );
    }
    next.run(req).await
}

pub(super) async fn require_token(State(g): State<Guard>, req: Request, next: Next) -> Response {
    let bearer = bearer(&req);
    // EventSource cannot send headers: the stream alone also takes `?access_token=`.
    let query = (req.uri().path() == "/api/stream")
        .then(|| {
            req.uri().query().and_then(|q| {
                q.split('&')
                    .find_map(|kv| kv.strip_prefix("access_token="))
                    .map(str::to_owned)
            })
        })
        .flatten();
    let ok =
        bearer.is_some_and(|b| g.token.matches(b)) || query.is_some_and(|q| g.token.matches(&q));
    if !ok {
        return unauthorized("missing or wrong bearer token (see the token file in the data dir)");
    }
    next.run(req).await
}

/// Who may scrape `GET /metrics`: the admin token, or the scrape-only token (which opens
/// nothing else: every other route checks the admin token alone).
#[derive(Clone)]
pub(super) struct ScrapeGuard {
    pub admin: Token,
    pub api: Api,
}

pub(super) async fn require_scrape_token(
    State(g): State<ScrapeGuard>,
    req: Request,
    next: Next,
) -> Response {
    let ok = bearer(&req).is_some_and(|b| {
        g.admin.matches(b)
            || match scrape_token(&g.api.config()) {
                ScrapeToken::Set(t) => t.matches(b),
                ScrapeToken::NotConfigured | ScrapeToken::Unset { .. } => false,
            }
    });
    if !ok {
        return unauthorized(
            "missing or wrong bearer token (the admin token, or the scrape token of [http] metrics_token_env)",
        );
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_exactly() {
        let t = Token::new("abc123");
        assert!(t.matches("abc123"));
        assert!(!t.matches("abc124"));
        assert!(!t.matches("abc12"));
        assert!(!t.matches(""));
        assert_eq!(
            format!("{t:?}"),
            "Token(***)",
            "the value never reaches logs"
        );
    }

    #[test]
    fn a_blank_scrape_token_variable_is_no_token_at_all() {
        for blank in [None, Some(""), Some("  \t ")] {
            let t = scrape_token_of("SCRAPE", blank.map(str::to_owned));
            assert!(
                matches!(&t, ScrapeToken::Unset { var } if var == "SCRAPE"),
                "{blank:?}: {t:?} (a blank token would match a blank bearer)"
            );
        }
        match scrape_token_of("SCRAPE", Some(" s3cret\n".into())) {
            ScrapeToken::Set(t) => {
                assert!(t.matches("s3cret"), "trimmed like STEWARD_TOKEN");
                assert_eq!(format!("{t:?}"), "Token(***)", "never shown");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn host_check_allows_only_this_server() {
        let g = Guard {
            token: Token::new("x"),
            local: "127.0.0.1:7878".parse().unwrap(),
        };
        assert!(g.host_allowed("127.0.0.1:7878"));
        assert!(g.host_allowed("localhost:7878"));
        assert!(!g.host_allowed("evil.example:7878"), "DNS rebinding");
        assert!(!g.host_allowed("localhost:8080"));
        assert!(!g.host_allowed(""));
    }
}
