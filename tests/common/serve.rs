//! The real `steward serve` binary as a child process: the one harness of every test that
//! needs the program itself (its exit, a `kill -9`, a restart on the same data dir, what it
//! prints, a full disk under it).
//!
//! The child binds the port itself (`--listen 127.0.0.1:0`) and says which one through
//! `--address-file`: no port is picked here and released for it to take. Its stdout and
//! stderr go to files (read them with [`Serve::stdout`] / [`Serve::stderr`]); when a test
//! fails while it runs, the end of its stderr is printed with the failure.
//!
//! ```ignore
//! let cmd = ServeCommand::new(&config, &data).env("NODE_NAME", "lab");
//! let mut s = cmd.start().await;          // answers GET /api/health
//! let (code, _) = s.post("/api/events", &event).await;
//! s.kill9();                              // no shutdown, no cleanup
//! let s = cmd.start().await;              // the same data dir, a new port
//! let (stdout, stderr) = s.stop().await;  // SIGTERM, a clean exit
//! ```

use super::wait::eventually;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

/// How long a start may take to answer: a debug binary migrating a fresh database on a
/// busy machine.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The token the harness gives `steward serve` unless a test says otherwise.
pub const SERVE_TOKEN: &str = "serve-test-token-0123456789";

/// Steward's own environment variables: cleared for the child unless set here, so the
/// environment the tests run in never leaks into what they check.
const STEWARD_VARS: [&str; 8] = [
    "STEWARD_CONFIG",
    "STEWARD_TOKEN",
    "STEWARD_URL",
    "STEWARD_UI_DIR",
    "STEWARD_FAILPOINTS",
    "STEWARD_LOG",
    "NODE_NAME",
    "SESSION_PIPELINE_STUCK_FILE_GRACE_SECONDS",
];

/// How to start `steward serve`: a config file, a data dir, the environment. Cheap to
/// clone, and every [`ServeCommand::start`] starts a new process on the same data dir.
#[derive(Clone, Debug)]
pub struct ServeCommand {
    config: PathBuf,
    data: PathBuf,
    listen: String,
    env: Vec<(String, Option<String>)>,
}

impl ServeCommand {
    /// `steward serve --config <config>` with `STEWARD_DATA_DIR=<data>`, the token
    /// [`SERVE_TOKEN`], `STEWARD_LOG=warn`, and no other Steward variable. The config's
    /// `[http] listen` is overridden: the child binds a free loopback port.
    pub fn new(config: &Path, data: &Path) -> ServeCommand {
        ServeCommand {
            config: config.to_owned(),
            data: data.to_owned(),
            listen: "127.0.0.1:0".into(),
            env: vec![
                ("STEWARD_TOKEN".into(), Some(SERVE_TOKEN.into())),
                ("STEWARD_LOG".into(), Some("warn".into())),
            ],
        }
    }

    /// Sets an environment variable of the child.
    pub fn env(mut self, key: &str, value: &str) -> ServeCommand {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), Some(value.into())));
        self
    }

    /// Removes an environment variable from the child's (`STEWARD_TOKEN`: it generates one
    /// into the data dir on its first start).
    pub fn env_remove(mut self, key: &str) -> ServeCommand {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), None));
        self
    }

    /// Listens on `addr` instead of a free port (e.g. the address of an earlier run).
    pub fn listen(mut self, addr: &str) -> ServeCommand {
        self.listen = addr.into();
        self
    }

    fn env_value(&self, key: &str) -> Option<&str> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.as_deref())
    }

    /// Starts the process and waits (up to [`START_TIMEOUT`]) until it answers
    /// `GET /api/health`; panics with its stderr when it exits first.
    pub async fn start(&self) -> Serve {
        let (mut serve, address_file) = self.spawn();
        let addr = eventually("steward serve writes its address", START_TIMEOUT, || {
            serve.assert_running("before writing its address");
            let addr = std::fs::read_to_string(&address_file).ok();
            async move { addr.filter(|a| a.ends_with('\n')) }
        })
        .await;
        serve.base = format!("http://{}", addr.trim());
        serve.token = match self.env_value("STEWARD_TOKEN") {
            Some(t) => t.to_owned(),
            None => std::fs::read_to_string(self.data.join("token"))
                .map(|t| t.trim().to_owned())
                .unwrap_or_default(),
        };
        // The address is written once the engine runs: the first request is answered.
        let health = serve.client.get(serve.url("/api/health")).send().await;
        assert!(
            health.as_ref().is_ok_and(|r| r.status().is_success()),
            "steward serve at {} does not answer GET /api/health: {health:?}; stderr:\n{}",
            serve.base,
            serve.stderr()
        );
        serve
    }

    /// Starts the process expecting it to refuse: waits (up to [`START_TIMEOUT`]) for its
    /// exit; its exit status and stderr. Panics if it writes its address (it started).
    pub async fn start_refused(&self) -> (ExitStatus, String) {
        let (mut serve, address_file) = self.spawn();
        let status = eventually("steward serve exits", START_TIMEOUT, || {
            assert!(
                !address_file.exists(),
                "steward serve started, but it should have refused; stderr:\n{}",
                serve.stderr()
            );
            let status = serve.try_wait();
            async move { status }
        })
        .await;
        (status, serve.stderr())
    }

    /// The child, started, and the file it will write its address to.
    fn spawn(&self) -> (Serve, PathBuf) {
        let logs = tempfile::tempdir().expect("a temp dir for the logs");
        let address_file = logs.path().join("address");
        let stdout = logs.path().join("stdout");
        let stderr = logs.path().join("stderr");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_steward"));
        cmd.args(["serve", "--config"])
            .arg(&self.config)
            .args(["--listen", &self.listen, "--address-file"])
            .arg(&address_file)
            .env("STEWARD_DATA_DIR", &self.data)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap());
        for var in STEWARD_VARS {
            cmd.env_remove(var);
        }
        for (k, v) in &self.env {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        let child = cmd.spawn().expect("the steward binary runs");
        let serve = Serve {
            base: String::new(),
            token: String::new(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            child,
            exited: None,
            stdout,
            stderr,
            command: self.clone(),
            _logs: logs,
        };
        (serve, address_file)
    }
}

/// A running `steward serve`; killed (SIGKILL) when dropped.
pub struct Serve {
    /// `http://127.0.0.1:<port>`, the port the child bound.
    pub base: String,
    /// The API token: `STEWARD_TOKEN` as given, else the one it generated.
    pub token: String,
    /// A client with a 10 s timeout per request.
    pub client: reqwest::Client,
    child: Child,
    exited: Option<ExitStatus>,
    stdout: PathBuf,
    stderr: PathBuf,
    command: ServeCommand,
    _logs: tempfile::TempDir,
}

impl Serve {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// How it was started: `serve.command().start()` is a restart on the same data dir.
    pub fn command(&self) -> &ServeCommand {
        &self.command
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Everything it printed on stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// Everything it printed on stderr (its log) so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// `GET path` with the token; panics unless it answers 2xx with JSON.
    pub async fn get(&self, path: &str) -> Value {
        let r = self
            .client
            .get(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: not JSON: {e}"))
    }

    /// `POST path` with the token and a JSON body: the status and the JSON answer (`Null`
    /// when the answer is not JSON).
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .client
            .post(self.url(path))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Panics, with its stderr, unless the process is still running.
    fn assert_running(&mut self, when: &str) {
        if let Some(status) = self.try_wait() {
            panic!(
                "steward serve exited {when}: {status}; stderr:\n{}",
                self.stderr()
            );
        }
    }

    fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().expect("the child's status");
        }
        self.exited
    }

    /// The process is still running and its log has no panic.
    pub fn assert_alive_without_panic(&mut self) {
        self.assert_running("while the test still needed it");
        let log = self.stderr();
        assert!(!log.contains("panicked"), "no panic; stderr:\n{log}");
    }

    /// `kill -9`: no shutdown, no cleanup; returns once it is gone.
    pub fn kill9(&mut self) {
        if self.exited.is_none() {
            // An error means it has exited already; the wait below reaps it either way.
            let _ = self.child.kill();
            self.exited = Some(self.child.wait().expect("the killed child is reaped"));
        }
    }

    /// Waits (up to `timeout`) for the process to exit by itself; its exit status.
    pub async fn exit_status(&mut self, timeout: Duration) -> ExitStatus {
        eventually("steward serve exits", timeout, || {
            let status = self.try_wait();
            async move { status }
        })
        .await
    }

    /// SIGTERM, a clean exit within 20 s, then everything it printed: `(stdout, stderr)`.
    pub async fn stop(mut self) -> (String, String) {
        self.assert_running("before it was stopped");
        kill(Pid::from_raw(self.pid()), Signal::SIGTERM).unwrap();
        let status = self.exit_status(Duration::from_secs(20)).await;
        assert!(
            status.success(),
            "a clean exit on SIGTERM: {status}; stderr:\n{}",
            self.stderr()
        );
        (self.stdout(), self.stderr())
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            let log = self.stderr();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!(
                "--- steward serve at {} (data {}), the end of its stderr:\n{}",
                self.base,
                self.command.data.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    }
}
