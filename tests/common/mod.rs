//! Test fixtures: real loopback servers, a real engine on a temp data dir, a real HTTP API,
//! the real `steward serve`, and the two ways to wait.
//!
//! Which to use when:
//! - An engine in the test's process: [`Steward::start`] (the engine and its HTTP API on
//!   a loopback listener bound in-process), or `Engine::start` with `EngineOptions` when
//!   the test injects a clock (`steward::clock::TokioClock`, moved with `jump`) instead of
//!   waiting for time to pass.
//! - The program itself (its exit codes, `kill -9` and restarts, what it prints, its
//!   process under a full disk): [`serve::ServeCommand`], the one harness for the
//!   `steward serve` binary. It binds its own port and reports it; nothing here picks a
//!   port for a child to take.
//! - Waiting on an in-process engine: [`wait::expect_update`], woken by `Api::subscribe`
//!   (it checks first, so nothing that happened before is missed). On a browser-like
//!   consumer of `GET /api/stream`: [`StreamLog::expect`].
//! - Waiting on anything that tells this process nothing (a child process, files on disk,
//!   an OS process, a component tested without an engine): [`wait::eventually`], polling.
//! - Time that must pass (a cooldown, a time to live, a backoff): never a real sleep.
//!   Inject a `TokioClock` and `jump` it, or run on `#[tokio::test(start_paused = true)]`
//!   (see `tests/probe_loop.rs`) when everything the test waits on follows tokio's clock.
//!
//! Every wait names what it waits for and takes its own timeout: short when the thing is
//! quick, longer for real processes and file system events. A timeout only bounds how long
//! a broken test hangs; no test asserts speed.
#![allow(dead_code)]

pub mod serve;
pub mod wait;

#[allow(unused_imports)]
pub use serve::{Serve, ServeCommand, SERVE_TOKEN};
#[allow(unused_imports)]
pub use wait::{eventually, expect_update};

use parking_lot::Mutex;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use steward::api::EngineHandle;
use steward::config::Config;
use steward::engine::EngineOptions;
use steward::http::{ServerOptions, Token};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// What the fake service answers: status, extra headers, body.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(status: u16, body: &str) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.into(),
        }
    }
}

#[derive(Clone)]
pub enum Mode {
    Answer(Arc<dyn Fn(&str) -> Reply + Send + Sync>),
    /// Accepts connections and never answers.
    Hang,
}

pub fn ok_health() -> Mode {
    Mode::Answer(Arc::new(|_| Reply::json(200, r#"{"status":"ok"}"#)))
}

/// A real HTTP/1.1 server on 127.0.0.1 that can be killed (every connection with it) and
/// brought back on the same port. It is also a TCP service: it accepts connections.
pub struct Service {
    pub port: u16,
    pub mode: Arc<Mutex<Mode>>,
    task: Option<JoinHandle<()>>,
}

impl Service {
    pub async fn start(mode: Mode) -> Service {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mode = Arc::new(Mutex::new(mode));
        let task = Some(tokio::spawn(serve_http(listener, Arc::clone(&mode))));
        Service { port, mode, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Kills the server and every open connection.
    pub fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    pub async fn restart(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            // Once the aborted task is joined, its listener is closed.
            let _ = t.await;
        }
        let listener = bind_again(self.port).await;
        self.task = Some(tokio::spawn(serve_http(listener, Arc::clone(&self.mode))));
    }

    pub fn set(&self, mode: Mode) {
        *self.mode.lock() = mode;
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The port again; a connection still closing may hold it for a moment.
async fn bind_again(port: u16) -> TcpListener {
    eventually(
        &format!("port {port} to come free"),
        Duration::from_secs(2),
        || async { TcpListener::bind(("127.0.0.1", port)).await.ok() },
    )
    .await
}

async fn serve_http(listener: TcpListener, mode: Arc<Mutex<Mode>>) {
    // Connections live in this JoinSet: aborting the server task drops them all.
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((mut sock, _)) = accepted else { continue };
                let mode = Arc::clone(&mode);
                conns.spawn(async move {
                    let mut buf = Vec::new();
                    loop {
                        let mut chunk = [0u8; 4096];
                        let n = match sock.read(&mut chunk).await { Ok(0) | Err(_) => return, Ok(n) => n };
                        buf.extend_from_slice(&chunk[..n]);
                        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
                        let head = String::from_utf8_lossy(&buf[..end]).to_string();
                        buf.drain(..end + 4);
                        // Skip the request body, so keep-alive requests stay in step.
                        let body_len = head
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length").then(|| v.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        while buf.len() < body_len {
                            let n = match sock.read(&mut chunk).await { Ok(0) | Err(_) => return, Ok(n) => n };
                            buf.extend_from_slice(&chunk[..n]);
                        }
                        buf.drain(..body_len);
                        let m = mode.lock().clone();
                        let reply = match m {
                            Mode::Hang => { std::future::pending::<()>().await; return; }
                            Mode::Answer(f) => f(&head),
                        };
                        let mut out = format!("HTTP/1.1 {} X\r\nContent-Length: {}\r\n", reply.status, reply.body.len());
                        for (k, v) in &reply.headers { out.push_str(&format!("{k}: {v}\r\n")); }
                        out.push_str("\r\n");
                        out.push_str(&reply.body);
                        if sock.write_all(out.as_bytes()).await.is_err() { return; }
                    }
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// A port nothing listens on.
pub async fn dead_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

pub const TOKEN: &str = "test-token-0123456789";

/// A running engine with its HTTP API on a random loopback port.
pub struct Steward {
    pub engine: Option<EngineHandle>,
    pub base: String,
    pub client: reqwest::Client,
    pub config_path: PathBuf,
    pub data_dir: PathBuf,
    cancel: CancellationToken,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

pub fn write_config(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("steward.toml");
    std::fs::write(&path, body).unwrap();
    path
}

impl Steward {
    pub async fn start(config_path: &Path, data_dir: &Path) -> Steward {
        Steward::start_with(config_path, data_dir, |_| {}).await
    }

    /// The same, with the engine's options adjusted first: e.g. `opts.clock` set to a
    /// `steward::clock::TokioClock` that the test moves with `jump` instead of waiting.
    pub async fn start_with(
        config_path: &Path,
        data_dir: &Path,
        adjust: impl FnOnce(&mut EngineOptions),
    ) -> Steward {
        let config = Config::load(config_path).expect("test config is valid");
        let mut opts = EngineOptions::new(config, data_dir);
        adjust(&mut opts);
        let engine = steward::api::start(opts).await.expect("engine starts");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let cancel = CancellationToken::new();
        let server = tokio::spawn(steward::http::serve(
            engine.api().clone(),
            listener,
            ServerOptions {
                token: Token::new(TOKEN),
                ui: steward::http::UiFiles::Embedded,
            },
            cancel.clone(),
        ));
        Steward {
            engine: Some(engine),
            base,
            client: reqwest::Client::new(),
            config_path: config_path.to_owned(),
            data_dir: data_dir.to_owned(),
            cancel,
            server: Some(server),
        }
    }

    /// The same, with the engine reading wall time from `clock` (decisions that take
    /// `now`: cooldowns, rate limits, expiry, retention), and no config watcher.
    pub async fn start_with_clock(
        config_path: &Path,
        data_dir: &Path,
        clock: steward::clock::SharedClock,
    ) -> Steward {
        Steward::start_with(config_path, data_dir, |opts| {
            opts.clock = clock;
            opts.watch = None;
        })
        .await
    }

    pub fn api(&self) -> &steward::api::Api {
        self.engine.as_ref().unwrap().api()
    }

    pub async fn get(&self, path: &str) -> serde_json::Value {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn provider(&self, id: &str) -> serde_json::Value {
        let all = self.get("/api/providers").await;
        all.as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("provider {id} listed"))
    }

    /// The timeline's events of one type, newest first.
    pub async fn events_of(&self, kind: &str) -> Vec<serde_json::Value> {
        self.get("/api/events?limit=5000")
            .await
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == kind)
            .cloned()
            .collect()
    }

    /// The same, for one provider.
    pub async fn events_of_provider(&self, kind: &str, provider: &str) -> Vec<serde_json::Value> {
        let mut all = self.events_of(kind).await;
        all.retain(|e| e["provider_id"] == provider);
        all
    }

    /// Whether every provider's view satisfies `pred`.
    pub async fn all_providers(&self, pred: impl Fn(&serde_json::Value) -> bool) -> bool {
        self.get("/api/providers")
            .await
            .as_array()
            .unwrap()
            .iter()
            .all(pred)
    }

    pub async fn stop(mut self) {
        self.cancel.cancel();
        if let Some(s) = self.server.take() {
            // Only waits for it to stop; a test that cares about its errors asks the API.
            let _ = s.await;
        }
        if let Some(e) = self.engine.take() {
            e.shutdown().await;
        }
    }
}

/// Collects the JSON messages of `GET /api/stream` in the background, as the web UI reads
/// them.
pub struct StreamLog {
    pub messages: Arc<Mutex<Vec<serde_json::Value>>>,
    arrived: Arc<tokio::sync::Notify>,
    task: JoinHandle<()>,
}

impl StreamLog {
    pub async fn open(s: &Steward) -> StreamLog {
        let mut resp = s
            .client
            .get(format!("{}/api/stream?access_token={TOKEN}", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let messages = Arc::new(Mutex::new(Vec::new()));
        let arrived = Arc::new(tokio::sync::Notify::new());
        let (m2, a2) = (Arc::clone(&messages), Arc::clone(&arrived));
        let task = tokio::spawn(async move {
            let mut pending = String::new();
            while let Ok(Some(chunk)) = resp.chunk().await {
                pending.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = pending.find("\n\n") {
                    let frame: String = pending.drain(..end + 2).collect();
                    for line in frame.lines() {
                        if let Some(data) = line.strip_prefix("data:") {
                            if let Ok(v) = serde_json::from_str(data.trim()) {
                                m2.lock().push(v);
                            }
                        }
                    }
                }
                a2.notify_waiters();
            }
        });
        StreamLog {
            messages,
            arrived,
            task,
        }
    }

    pub fn has(&self, pred: impl Fn(&serde_json::Value) -> bool) -> bool {
        self.messages.lock().iter().any(pred)
    }

    /// Waits until a message satisfies `pred` (checked at once, then as messages arrive);
    /// panics naming `what` after `timeout`.
    pub async fn expect(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Registered before the check: a message after it wakes this wait.
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            if self.has(&pred) {
                return;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!("timed out after {timeout:?} waiting on the event stream for: {what}");
            }
        }
    }
}

impl Drop for StreamLog {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A wall clock that stands still until a test moves it (decisions read `now` from it;
/// timers still run on tokio's clock).
#[derive(Clone)]
pub struct ManualClock(Arc<Mutex<chrono::DateTime<chrono::Utc>>>);

impl ManualClock {
    pub fn at(t: chrono::DateTime<chrono::Utc>) -> ManualClock {
        ManualClock(Arc::new(Mutex::new(t)))
    }

    pub fn advance(&self, by: chrono::Duration) {
        *self.0.lock() += by;
    }

    pub fn shared(&self) -> steward::clock::SharedClock {
        Arc::new(self.clone())
    }
}

impl steward::clock::Clock for ManualClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        *self.0.lock()
    }
}

/// Bytes of every regular file under `dir` (symlinks not followed).
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}
