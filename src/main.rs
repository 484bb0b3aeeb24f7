//! The `steward` command: `serve` (headless engine + HTTP API + UI), `check`, and
//! `proposals` (list / approve / reject through the running instance's HTTP API).

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use steward::config::{self, Config};
use steward::engine::EngineOptions;
use steward::health::breaker::Breakers;
use steward::health::monitor::{LoopOptions, Monitor, Outcome, ProbeTarget};
use steward::health::probe;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(name = "steward", version, about = "Keeps a small fleet alive.")]
struct Cli {
    /// Config file (default: $STEWARD_CONFIG, else the user's config dir).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the engine with the HTTP API and the web UI (no display needed).
    Serve {
        /// Start real demo services on loopback and monitor those.
        #[arg(long)]
        demo: bool,
        /// Listen address (overrides [http] listen). Port 0 picks a free port: see
        /// --address-file.
        #[arg(long)]
        listen: Option<String>,
        /// Once the engine runs, write the address it listens on (e.g. 127.0.0.1:43121,
        /// a valid --listen) to this file, atomically (a temp file renamed): how scripts
        /// and tests find the port chosen for `--listen 127.0.0.1:0`.
        #[arg(long, value_name = "PATH")]
        address_file: Option<PathBuf>,
    },
    /// Probe every enabled provider once; exit 0 when all are up, 1 when any is down,
    /// 2 on a config error.
    Check,
    /// List, approve or reject proposals of the running Steward (`steward serve`).
    ///
    /// Talks to its HTTP API on loopback: the address is the config's [http] listen
    /// (127.0.0.1:7878 by default), or --url / $STEWARD_URL; the token is $STEWARD_TOKEN,
    /// else the file `token` in the data dir ($STEWARD_DATA_DIR). Exit codes: 0 done,
    /// 1 refused by Steward (not pending, no such proposal), 2 config or token problem,
    /// 3 Steward cannot be reached. (The desktop app serves no HTTP API: approve there in
    /// its window or tray menu.)
    Proposals {
        /// Base URL of the running Steward, e.g. http://127.0.0.1:7878 (overrides
        /// [http] listen; the config is then not read).
        #[arg(long, env = "STEWARD_URL", global = true)]
        url: Option<String>,
        #[command(subcommand)]
        command: ProposalsCommand,
    },
}

#[derive(Subcommand)]
enum ProposalsCommand {
    /// Print proposals: waiting ones first (oldest first), then the rest newest first.
    List {
        /// Only proposals with this status; `all` for every status.
        #[arg(long, default_value = "pending", value_parser = parse_status_filter)]
        status: String,
        /// At most this many.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
        /// Print the API's JSON (action-file keys) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Approve a pending proposal: Steward runs its command (recorded as approved by "api").
    Approve {
        /// The proposal's action_id.
        id: String,
        /// Print the proposal's JSON after the approval.
        #[arg(long)]
        json: bool,
    },
    /// Reject a pending proposal.
    Reject {
        /// The proposal's action_id.
        id: String,
        /// Why, kept in the audit and shown with the proposal.
        #[arg(long)]
        reason: Option<String>,
        /// Print the proposal's JSON after the rejection.
        #[arg(long)]
        json: bool,
    },
}

fn parse_status_filter(s: &str) -> Result<String, String> {
    use steward::execute::state::{Status, ALL};
    if s == "all" || Status::parse(s).is_some() {
        Ok(s.to_owned())
    } else {
        let known: Vec<&str> = ALL.iter().map(|st| st.as_str()).collect();
        Err(format!("expected all or one of {}", known.join(", ")))
    }
}

fn main() -> ExitCode {
    steward::init_logging("steward=info,warn");
    let cli = Cli::parse();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("steward: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    rt.block_on(async move {
        match cli.command {
            Command::Check => check(cli.config).await,
            Command::Proposals { url, command } => proposals::run(cli.config, url, command).await,
            Command::Serve {
                demo,
                listen,
                address_file,
            } => match serve(cli.config, demo, listen, address_file).await {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("steward: {e:#}");
                    ExitCode::from(1)
                }
            },
        }
    })
}

fn load(path: &std::path::Path) -> Result<Config, ExitCode> {
    Config::load_or_init(path).map_err(|e| {
        eprintln!("steward: the config is not valid:\n{e}");
        ExitCode::from(2)
    })
}

async fn check(config_path: Option<PathBuf>) -> ExitCode {
    let path = config::config_path(config_path.as_deref());
    let config = match load(&path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let client = probe::http_client(probe::Pooling::within_tick());
    let clock: steward::clock::SharedClock = Arc::new(steward::clock::SystemClock);
    let targets: Vec<ProbeTarget> = config
        .providers
        .iter()
        .filter(|p| p.enabled)
        .map(|p| ProbeTarget {
            id: p.id.clone(),
            interval: None,
            timeout: Some(p.timeout),
            confirm_after: None,
            probe: probe::for_provider(p, &client, &clock),
        })
        .collect();
    let opts = LoopOptions {
        interval: config.probe.interval,
        timeout: config.probe.timeout,
        max_concurrency: config.probe.max_concurrency,
        ..LoopOptions::default()
    };
    let monitor = match Monitor::new(Arc::new(Breakers::default()), targets, opts, clock, None) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("steward: {e}");
            return ExitCode::from(2);
        }
    };
    let reports = monitor.tick_once().await;
    println!(
        "{:<20} {:<8} {:<28} {:<13} {:>10}  DETAIL",
        "PROVIDER", "KIND", "NODE/SERVICE", "RESULT", "LATENCY"
    );
    let mut down = 0;
    for r in &reports {
        let p = config.provider(&r.provider_id).expect("probed from config");
        let up = matches!(r.outcome, Outcome::Up | Outcome::RateLimited);
        down += usize::from(!up);
        println!(
            "{:<20} {:<8} {:<28} {:<13} {:>8.1}ms  {}",
            p.id,
            p.target.kind(),
            format!("{}/{}", p.node, p.service),
            r.outcome.as_str(),
            r.latency.as_secs_f64() * 1000.0,
            r.error.as_deref().unwrap_or("")
        );
    }
    println!("{} up, {} down", reports.len() - down, down);
    if down == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

async fn serve(
    config_path: Option<PathBuf>,
    demo: bool,
    listen: Option<String>,
    address_file: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let mut data_dir = config::data_dir();
    let cancel = CancellationToken::new();
    let path = if demo {
        data_dir = data_dir.join("demo");
        steward::store::private_dir(&data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        let listen = listen
            .clone()
            .unwrap_or_else(|| config::DEFAULT_LISTEN.into());
        let d = steward::demo::start(cancel.clone(), &listen).await?;
        let path = data_dir.join("demo.toml");
        std::fs::write(&path, d.config).with_context(|| format!("writing {}", path.display()))?;
        path
    } else {
        config::config_path(config_path.as_deref())
    };
    let mut config = match load(&path) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    if let Some(l) = listen {
        config.listen = l.parse().with_context(|| format!("--listen {l:?}"))?;
    }
    if let steward::http::ScrapeToken::Unset { var } = steward::http::scrape_token(&config) {
        // Not a config error: the tray app and `steward check` read the same file and serve
        // no metrics. Said at once, so a scrape that answers 401 is not a mystery.
        tracing::warn!(
            "[http] metrics_token_env names {var}, which is unset or empty in Steward's \
             environment: GET /metrics opens only with the admin token until {var} is set \
             and Steward restarted"
        );
    }
    let addr = config.listen;
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "listening beyond loopback: anyone who can reach it needs only the token");
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (set [http] listen or --listen)"))?;
    let local = listener.local_addr()?;
    let (token, created) = steward::http::load_or_create_token(&data_dir)
        .with_context(|| format!("token file in {}", data_dir.display()))?;

    let engine = steward::api::start(EngineOptions::new(config, &data_dir)).await?;
    let ui = steward::http::UiFiles::from_env();
    if !ui.is_built() {
        tracing::warn!(?ui, "no web UI to serve: the binary was built without one, or STEWARD_UI_DIR has no index.html");
    }
    let url = format!("http://{local}/");
    let from_env = std::env::var("STEWARD_TOKEN").is_ok_and(|t| !t.trim().is_empty());
    // The token goes to a person at a terminal only: piped or under a service manager,
    // stdout ends up in a log (journald) that others may read.
    let show_token = (created.is_some() || demo) && std::io::stdout().is_terminal();
    if show_token {
        println!("Steward is running at {url}#token={}", token.expose());
    } else if from_env {
        println!("Steward is running at {url} (API token: $STEWARD_TOKEN)");
    } else {
        println!(
            "Steward is running at {url} (API token in {})",
            steward::http::token_file(&data_dir).display()
        );
    }
    if let Some(file) = created {
        println!(
            "A new API token was written to {} (mode 0600).",
            file.display()
        );
    }
    println!("Config: {}   Data: {}", path.display(), data_dir.display());

    // The listener is bound and the engine runs: a request sent from now on is answered.
    if let Some(file) = &address_file {
        if let Err(e) = write_address(file, local) {
            engine.shutdown().await;
            return Err(anyhow::Error::new(e).context(format!("--address-file {}", file.display())));
        }
    }
    let server = tokio::spawn(steward::http::serve(
        engine.api().clone(),
        listener,
        steward::http::ServerOptions { token, ui },
        cancel.clone(),
    ));
    shutdown_signal().await;
    eprintln!("steward: shutting down");
    cancel.cancel();
    match server.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "the HTTP server stopped with an error"),
        Err(e) => tracing::warn!(error = %e, "the HTTP server task failed"),
    }
    engine.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// Writes `addr` and a newline to `file` through a temp file in the same directory, so a
/// reader sees either no file or the whole address.
fn write_address(file: &std::path::Path, addr: std::net::SocketAddr) -> std::io::Result<()> {
    let mut tmp = file.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, format!("{addr}\n"))?;
    std::fs::rename(&tmp, file)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// `steward proposals …`: a small client of the running instance's HTTP API. It never
/// opens the database (the running engine owns it).
mod proposals {
    use super::ProposalsCommand;
    use reqwest::{StatusCode, Url};
    use serde_json::Value;
    use std::path::{Path, PathBuf};
    use std::process::ExitCode;
    use std::time::Duration;
    use steward::config;

    /// The whole request, connecting included.
    const TIMEOUT: Duration = Duration::from_secs(15);
    const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

    const REFUSED: u8 = 1;
    const CONFIG: u8 = 2;
    const UNREACHABLE: u8 = 3;

    /// A failure and its exit code.
    struct Failure {
        code: u8,
        message: String,
    }

    fn fail(code: u8, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }

    pub(super) async fn run(
        config_path: Option<PathBuf>,
        url: Option<String>,
        command: ProposalsCommand,
    ) -> ExitCode {
        match execute(config_path, url, command).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(f) => {
                eprintln!("steward: {}", f.message);
                ExitCode::from(f.code)
            }
        }
    }

    async fn execute(
        config_path: Option<PathBuf>,
        url: Option<String>,
        command: ProposalsCommand,
    ) -> Result<(), Failure> {
        let base = match url.filter(|u| !u.trim().is_empty()) {
            Some(u) => parse_base(&u)?,
            None => base_from_config(config_path.as_deref())?,
        };
        let client = Client {
            http: reqwest::Client::builder()
                .timeout(TIMEOUT)
                .connect_timeout(CONNECT_TIMEOUT)
                .build()
                .map_err(|e| fail(CONFIG, format!("cannot set up the HTTP client: {e}")))?,
            token: token()?,
            base,
        };
        match command {
            ProposalsCommand::List {
                status,
                limit,
                json,
            } => {
                let mut query = vec![("limit", limit.to_string())];
                if status != "all" {
                    query.push(("status", status.clone()));
                }
                let list = client
                    .send(reqwest::Method::GET, &["api", "proposals"], &query, None)
                    .await?;
                let rows = list
                    .as_array()
                    .ok_or_else(|| client.not_steward("the proposal list is not a JSON array"))?;
                if json {
                    print_json(&list);
                } else if rows.is_empty() {
                    match status.as_str() {
                        "all" => println!("No proposals."),
                        s => println!("No {s} proposals."),
                    }
                } else {
                    print!("{}", table(rows));
                }
            }
            ProposalsCommand::Approve { id, json } => {
                let p = client
                    .send(
                        reqwest::Method::POST,
                        &["api", "proposals", &id, "approve"],
                        &[],
                        None,
                    )
                    .await?;
                print_decision(&p, &id, json);
            }
            ProposalsCommand::Reject { id, reason, json } => {
                let body = serde_json::json!({ "reason": reason });
                let p = client
                    .send(
                        reqwest::Method::POST,
                        &["api", "proposals", &id, "reject"],
                        &[],
                        Some(body),
                    )
                    .await?;
                print_decision(&p, &id, json);
            }
        }
        Ok(())
    }

    fn print_json(v: &Value) {
        println!(
            "{}",
            serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
        );
    }

    fn print_decision(p: &Value, id: &str, json: bool) {
        if json {
            print_json(p);
            return;
        }
        let status = p["status"].as_str().unwrap_or("?");
        let detail = p["status_detail"].as_str().map(|d| {
            // "rejected: not now" after "rejected" says it twice.
            d.strip_prefix(status)
                .and_then(|d| d.strip_prefix(": "))
                .unwrap_or(d)
        });
        match detail.filter(|d| !d.is_empty()) {
            Some(detail) => println!("{id}: {status} ({detail})"),
            None => println!("{id}: {status}"),
        }
    }

    /// `http://host:port` from `--url` / `STEWARD_URL` (a bare `host:port` is accepted).
    fn parse_base(raw: &str) -> Result<Url, Failure> {
        let raw = raw.trim();
        let with_scheme = if raw.contains("://") {
            raw.to_owned()
        } else {
            format!("http://{raw}")
        };
        let url = Url::parse(&with_scheme).map_err(|e| {
            fail(
                CONFIG,
                format!("--url / STEWARD_URL {raw:?} is not a URL: {e}"),
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            return Err(fail(
                CONFIG,
                format!("--url / STEWARD_URL {raw:?}: expected http://HOST:PORT"),
            ));
        }
        Ok(url)
    }

    /// The config's `[http] listen` (only that key is read: a config that the running
    /// engine refused elsewhere still names its address). An unspecified address
    /// (`0.0.0.0`, `::`) is reached on loopback.
    fn base_from_config(explicit: Option<&Path>) -> Result<Url, Failure> {
        let named =
            explicit.is_some() || std::env::var_os("STEWARD_CONFIG").is_some_and(|v| !v.is_empty());
        let path = config::config_path(explicit);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => Some(t),
            // Never written: `steward serve` would write the default, which listens on the default.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !named => None,
            Err(e) => {
                return Err(fail(
                    CONFIG,
                    format!("cannot read the config {}: {e}", path.display()),
                ))
            }
        };
        let listen = match text {
            Some(text) => listen_of(&text)
                .map_err(|e| fail(CONFIG, format!("the config {}: {e}", path.display())))?,
            None => config::DEFAULT_LISTEN.parse().expect("valid default"),
        };
        let host = match listen.ip() {
            std::net::IpAddr::V4(ip) if ip.is_unspecified() => "127.0.0.1".to_owned(),
            std::net::IpAddr::V6(ip) if ip.is_unspecified() => "[::1]".to_owned(),
            std::net::IpAddr::V4(ip) => ip.to_string(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        };
        Url::parse(&format!("http://{host}:{}/", listen.port()))
            .map_err(|e| fail(CONFIG, format!("[http] listen {listen}: {e}")))
    }

    /// `[http] listen` of a config text, or the default.
    pub(super) fn listen_of(text: &str) -> Result<std::net::SocketAddr, String> {
        let table: toml::Table = toml::from_str(text).map_err(|e| e.message().trim().to_owned())?;
        match table.get("http").and_then(|h| h.get("listen")) {
            None => Ok(config::DEFAULT_LISTEN.parse().expect("valid default")),
            Some(toml::Value::String(s)) => s.parse().map_err(|_| {
                format!("[http] listen = {s:?} is not an address like 127.0.0.1:7878")
            }),
            Some(other) => Err(format!(
                "[http] listen must be a string like \"127.0.0.1:7878\", not {other}"
            )),
        }
    }

    /// `STEWARD_TOKEN`, else `<data dir>/token` (written by `steward serve` on first run).
    fn token() -> Result<String, Failure> {
        if let Ok(t) = std::env::var("STEWARD_TOKEN") {
            if !t.trim().is_empty() {
                return Ok(t.trim().to_owned());
            }
        }
        let path = config::data_dir().join("token");
        match std::fs::read_to_string(&path) {
            Ok(t) if !t.trim().is_empty() => Ok(t.trim().to_owned()),
            Ok(_) => Err(fail(CONFIG, format!("the token file {} is empty", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(fail(
                CONFIG,
                format!(
                    "no API token: set STEWARD_TOKEN, or STEWARD_DATA_DIR to the data dir of the running Steward (`steward serve` writes the file {} on its first run)",
                    path.display()
                ),
            )),
            Err(e) => Err(fail(
                CONFIG,
                format!("cannot read the token file {}: {e}", path.display()),
            )),
        }
    }

    struct Client {
        http: reqwest::Client,
        token: String,
        base: Url,
    }

    impl Client {
        fn url(&self, segments: &[&str]) -> Url {
            let mut url = self.base.clone();
            url.set_query(None);
            url.set_fragment(None);
            if let Ok(mut path) = url.path_segments_mut() {
                path.pop_if_empty().extend(segments);
            }
            url
        }

        fn not_steward(&self, what: &str) -> Failure {
            fail(
                UNREACHABLE,
                format!("{} does not answer like Steward: {what}", self.base),
            )
        }

        /// Sends one request; answers the JSON body of a 2xx, or the failure to report.
        async fn send(
            &self,
            method: reqwest::Method,
            segments: &[&str],
            query: &[(&str, String)],
            body: Option<Value>,
        ) -> Result<Value, Failure> {
            let url = self.url(segments);
            let mut req = self
                .http
                .request(method, url.clone())
                .bearer_auth(&self.token)
                .query(query);
            // Who, for the audit ("api:<login>"); the token is what authorises.
            if let Some(user) = steward::execute::actor::local_user() {
                req = req.header(steward::http::USER_HEADER, user);
            }
            if let Some(body) = body {
                req = req.json(&body);
            }
            let resp = req.send().await.map_err(|e| {
                let why = if e.is_timeout() {
                    format!("no answer within {}s", TIMEOUT.as_secs())
                } else {
                    // The innermost cause says it best ("Connection refused").
                    let mut source: &dyn std::error::Error = &e;
                    while let Some(s) = source.source() {
                        source = s;
                    }
                    source.to_string()
                };
                fail(
                    UNREACHABLE,
                    format!(
                        "cannot reach Steward at {}: {why} (is `steward serve` running? set [http] listen, --url or STEWARD_URL)",
                        self.base
                    ),
                )
            })?;
            let status = resp.status();
            let text = resp
                .text()
                .await
                .map_err(|e| fail(UNREACHABLE, format!("{url}: the answer broke off: {e}")))?;
            let json: Option<Value> = serde_json::from_str(&text).ok();
            if status.is_success() {
                return json.ok_or_else(|| self.not_steward("the answer is not JSON"));
            }
            let message = json
                .as_ref()
                .and_then(|j| j["message"].as_str())
                .map(str::to_owned)
                .unwrap_or_else(|| text.trim().chars().take(300).collect());
            if status == StatusCode::UNAUTHORIZED {
                return Err(fail(
                    CONFIG,
                    format!(
                        "Steward at {} refused the API token: {message} (set STEWARD_TOKEN, or STEWARD_DATA_DIR to the running Steward's data dir)",
                        self.base
                    ),
                ));
            }
            // 403: this address is not the server's own (its Host check); 404 / 409 and
            // the rest: Steward refused the request itself.
            let code = if status == StatusCode::FORBIDDEN {
                CONFIG
            } else {
                REFUSED
            };
            let message = if message.is_empty() {
                format!("{url}: refused")
            } else {
                message
            };
            Err(fail(code, format!("{message} (HTTP {status})")))
        }
    }

    /// The compact table of `proposals list`.
    pub(super) fn table(rows: &[Value]) -> String {
        let cells: Vec<[String; 6]> = rows
            .iter()
            .map(|p| {
                let s = |k: &str| p[k].as_str().unwrap_or("").to_owned();
                let action = p["payload"]["action"]
                    .as_str()
                    .filter(|a| !a.is_empty())
                    .map(str::to_owned)
                    .unwrap_or_else(|| s("type"));
                [
                    s("action_id"),
                    s("status"),
                    action,
                    format!("{} on {}", s("service"), s("node")),
                    p["confidence"]
                        .as_f64()
                        .map(|c| format!("{c:.2}"))
                        .unwrap_or_default(),
                    if p["requires_human"].as_bool() == Some(true) {
                        "yes".into()
                    } else {
                        "no".into()
                    },
                ]
            })
            .collect();
        let header = ["ID", "STATUS", "ACTION", "TARGET", "CONF", "NEEDS APPROVAL"];
        let mut width = header.map(str::len);
        for row in &cells {
            for (w, c) in width.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |row: [&str; 6]| {
            let mut out = String::new();
            for (i, (c, w)) in row.iter().zip(width).enumerate() {
                if i == 5 {
                    out.push_str(c);
                } else if i == 4 {
                    out.push_str(&format!("{c:>w$}  "));
                } else {
                    out.push_str(&format!("{c:<w$}  "));
                }
            }
            out.push('\n');
            out
        };
        let mut out = line(header);
        for row in &cells {
            out.push_str(&line(row.each_ref().map(String::as_str)));
        }
        out
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_table_has_one_aligned_line_per_proposal() {
            let rows = vec![
                serde_json::json!({"action_id": "plan-piha-mosquitto-1", "status": "pending",
                    "type": "container_restart", "node": "piha", "service": "mosquitto",
                    "confidence": 0.9, "requires_human": true,
                    "payload": {"action": "restart", "reason": "exited"}}),
                serde_json::json!({"action_id": "plan-nas-backup-2", "status": "rejected",
                    "type": "notify", "node": "nas", "service": "backup",
                    "confidence": 0.5, "requires_human": false, "payload": {}}),
            ];
            let t = table(&rows);
            let lines: Vec<&str> = t.lines().collect();
            assert_eq!(lines.len(), 3);
            assert!(lines[0].starts_with("ID "));
            assert!(lines[1].contains("restart") && lines[1].contains("mosquitto on piha"));
            assert!(lines[1].contains("0.90") && lines[1].ends_with("yes"));
            assert!(lines[2].contains("notify"), "no payload action: the type");
            assert!(lines[2].ends_with("no"));
            let col = |l: &str| l.find("pending").or_else(|| l.find("rejected"));
            assert_eq!(col(lines[1]), col(lines[2]), "columns line up");
        }

        #[test]
        fn the_address_comes_from_http_listen() {
            assert_eq!(
                listen_of("[http]\nlisten = \"127.0.0.1:9999\"\n").unwrap(),
                "127.0.0.1:9999".parse().unwrap()
            );
            assert_eq!(
                listen_of("[[providers]]\nid = 1\n").unwrap().to_string(),
                config::DEFAULT_LISTEN,
                "only [http] listen is read"
            );
            assert!(listen_of("[http]\nlisten = \"nowhere\"\n").is_err());
            assert!(listen_of("[http\n").is_err());
        }

        #[test]
        fn a_bare_address_is_a_url() {
            assert_eq!(
                parse_base("127.0.0.1:7878").ok().unwrap().as_str(),
                "http://127.0.0.1:7878/"
            );
            assert!(parse_base("ftp://x").is_err());
        }

        #[test]
        fn proposal_ids_are_one_path_segment() {
            let c = Client {
                http: reqwest::Client::new(),
                token: String::new(),
                base: parse_base("http://127.0.0.1:1/").ok().unwrap(),
            };
            assert_eq!(
                c.url(&["api", "proposals", "a/b?c", "approve"]).as_str(),
                "http://127.0.0.1:1/api/proposals/a%2Fb%3Fc/approve"
            );
        }
    }
}
