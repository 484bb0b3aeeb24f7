//! The `steward` command: `serve` (headless engine + HTTP API + UI) and `check`.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use steward::config::{self, Config};
use steward::engine::{Engine, EngineOptions};
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
        /// Listen address (overrides [http] listen).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Probe every enabled provider once; exit 0 when all are up, 1 when any is down,
    /// 2 on a config error.
    Check,
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
            Command::Serve { demo, listen } => match serve(cli.config, demo, listen).await {
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
    let client = probe::http_client();
    let targets: Vec<ProbeTarget> = config
        .providers
        .iter()
        .filter(|p| p.enabled)
        .map(|p| ProbeTarget {
            id: p.id.clone(),
            interval: None,
            timeout: Some(p.timeout),
            confirm_after: None,
            probe: probe::for_provider(p, &client),
        })
        .collect();
    let opts = LoopOptions {
        interval: config.probe.interval,
        timeout: config.probe.timeout,
        max_concurrency: config.probe.max_concurrency,
        ..LoopOptions::default()
    };
    let monitor = match Monitor::new(
        Arc::new(Breakers::default()),
        targets,
        opts,
        Arc::new(steward::clock::SystemClock),
        None,
    ) {
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
) -> anyhow::Result<ExitCode> {
    let mut data_dir = config::data_dir();
    let cancel = CancellationToken::new();
    let path = if demo {
        data_dir = data_dir.join("demo");
        std::fs::create_dir_all(&data_dir)
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

    let engine = Engine::start(EngineOptions::new(config, &data_dir)).await?;
    let ui_dir = steward::http::default_ui_dir();
    if ui_dir.is_none() {
        tracing::warn!("the UI is not built (npm --prefix ui ci && npm --prefix ui run build)");
    }
    let url = format!("http://{local}/");
    match (&created, demo) {
        (Some(_), _) | (None, true) => {
            println!("Steward is running at {url}#token={}", token.expose())
        }
        (None, false) => println!(
            "Steward is running at {url} (API token: $STEWARD_TOKEN or {})",
            data_dir.join("token").display()
        ),
    }
    if let Some(file) = created {
        println!(
            "A new API token was written to {} (mode 0600).",
            file.display()
        );
    }
    println!("Config: {}   Data: {}", path.display(), data_dir.display());

    let server = tokio::spawn(steward::http::serve(
        engine.api().clone(),
        listener,
        steward::http::ServerOptions { token, ui_dir },
        cancel.clone(),
    ));
    shutdown_signal().await;
    eprintln!("steward: shutting down");
    cancel.cancel();
    let _ = server.await;
    engine.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
