//! `--demo`: a few real services on loopback so a newcomer sees Steward work at once.
//!
//! Owns: the demo services and the config that points at them. One of them ("flaky")
//! fails for `DOWN_FOR` out of every `CYCLE`, so within a minute of starting the user sees
//! probing, a trip, a notification and a recovery. Nothing here is used outside demo mode.

use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub const CYCLE: Duration = Duration::from_secs(50);
pub const UP_FOR: Duration = Duration::from_secs(20);

pub struct Demo {
    /// A complete config (TOML) for the demo services.
    pub config: String,
}

async fn bind() -> std::io::Result<(TcpListener, u16)> {
    let l = TcpListener::bind("127.0.0.1:0").await?;
    let port = l.local_addr()?.port();
    Ok((l, port))
}

/// A little jitter so the sparklines look like a real network.
async fn jitter() {
    let ms = rand::random::<u64>() % 30 + 2;
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// Starts the demo services; they stop with `cancel`.
pub async fn start(cancel: CancellationToken, listen: &str) -> std::io::Result<Demo> {
    let (web, web_port) = bind().await?;
    let (flaky, flaky_port) = bind().await?;
    let (llm, llm_port) = bind().await?;
    let (tcp, tcp_port) = bind().await?;

    let web_app = Router::new().route(
        "/health",
        get(|| async {
            jitter().await;
            Json(serde_json::json!({"status": "ok"}))
        }),
    );
    let born = Arc::new(Instant::now());
    let flaky_app = Router::new().route(
        "/health",
        get(move || {
            let born = Arc::clone(&born);
            async move {
                jitter().await;
                let phase = born.elapsed().as_secs() % CYCLE.as_secs();
                if phase < UP_FOR.as_secs() {
                    (StatusCode::OK, "ok")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "maintenance")
                }
            }
        }),
    );
    let llm_app = Router::new().route(
        "/api/tags",
        get(|| async {
            jitter().await;
            Json(serde_json::json!({"models": [{"name": "qwen2.5:7b"}, {"name": "llama3.2:3b"}]}))
        }),
    );
    for (listener, app) in [(web, web_app), (flaky, flaky_app), (llm, llm_app)] {
        let c = cancel.clone();
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(c.cancelled_owned())
                .await
            {
                tracing::warn!(error = %e, "demo: a fake service stopped");
            }
        });
    }
    let c = cancel.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = c.cancelled() => break,
                accepted = tcp.accept() => { drop(accepted); }
            }
        }
    });

    let config = format!(
        r#"# Demo config written by `steward serve --demo`: real services on loopback.
# "flaky" fails for {down}s out of every {cycle}s, so you will see a trip and a recovery.

[probe]
interval = "5s"
timeout = "2s"
failure_threshold = 2
backoff = "15s"

[http]
listen = "{listen}"

[[providers]]
id = "web"
kind = "http"
url = "http://127.0.0.1:{web_port}/health"
expect_json = {{ pointer = "/status", equals = "ok" }}
node = "demo-lab"
service = "nginx"

[[providers]]
id = "flaky"
kind = "http"
url = "http://127.0.0.1:{flaky_port}/health"
node = "demo-lab"
service = "api"

[[providers]]
id = "ollama"
kind = "llm"
api = "ollama"
url = "http://127.0.0.1:{llm_port}"
model = "qwen2.5:7b"
node = "demo-gpu"
service = "ollama"

[[providers]]
id = "mqtt"
kind = "tcp"
address = "127.0.0.1:{tcp_port}"
node = "demo-lab"
service = "mosquitto"

[[providers]]
id = "backup"
kind = "command"
command = ["true"]
node = "demo-nas"
service = "backup"
"#,
        down = (CYCLE - UP_FOR).as_secs(),
        cycle = CYCLE.as_secs(),
    );
    Ok(Demo { config })
}
