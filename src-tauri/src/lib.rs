//! Steward's desktop shell: a thin Tauri 2 layer over the engine's [`steward::api::Api`].
//!
//! Owns: starting the engine for the desktop (arguments, config, data dir, `--demo`),
//! one instance per session (a second launch opens the running one's window and exits;
//! the engine's data-dir lock keeps any other engine off the same database), the app
//! living on in the tray with no window, and a clean quit (the engine is shut down before
//! the process exits).
//! Does not own: any decision. What a provider's state is, when to notify and with what
//! text, what "overall" means: all of that comes from the engine through `Api`.
//!
//! # Layout
//! - this file: `run`, startup and quit.
//! - [`window`]: the window, created on Open and destroyed on Hide or close.
//! - `autostart`: Start at login (an XDG autostart entry starting `--hidden`).
//! - `config_file`: "Open config file" with the desktop's default application.
//! - [`commands`]: IPC commands, one-line adapters to `Api`, errors as `{code, message}`.
//! - `bridge`: engine updates → UI events (`steward://update`), native notifications,
//!   tray refresh.
//! - `tray`: the tray icon (one per overall state) and its menu.
//! - `gl`: no EGL driver (Mesa, LLVM) in the app process; the web view's frames come in
//!   shared memory.
//! - `js`: the web view's JavaScript JIT only for a fleet of 1,000 providers or more.
//! - `locale`: a valid web view language under a POSIX locale (a WebKitGTK quirk).
//! - `trim`: once the window is gone, WebKit's network process ended and the pages of
//!   the code the window ran given back to the kernel; the code that ran only to start
//!   or to open the window, likewise once that has settled.
//!
//! # Command line
//! `steward-desktop [--config PATH] [--demo] [--hidden]`
//! - `--config PATH`, else `STEWARD_CONFIG`, else the user's config dir (a commented
//!   default is written on first run); `STEWARD_DATA_DIR` sets the data dir.
//! - `--demo` (or `STEWARD_DEMO=1`): starts loopback demo services and monitors those,
//!   with data in `<data dir>/demo`, like `steward serve --demo`.
//! - `--hidden`: start in the tray without showing the window.
//!
//! Exit codes: 0 after Quit, 2 when the config (or the command line) is not valid — the
//! problem is printed on stderr and no window opens — and 1 when the engine cannot start
//! (e.g. the database cannot be opened).

pub mod commands;

mod autostart;
mod bridge;
mod config_file;
mod gl;
mod js;
mod locale;
mod tray;
mod trim;
pub mod window;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use steward::api::EngineHandle;
use steward::config::{self, Config, ConfigError};
use steward::engine::{EngineError, EngineOptions};
use tauri::{AppHandle, Manager, RunEvent};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use window::MAIN_WINDOW;

/// How long an exit that did not come through [`quit`] waits for the engine.
const EXIT_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// What the command line asks for.
#[derive(Debug, Default, PartialEq)]
struct Options {
    config: Option<PathBuf>,
    demo: bool,
    hidden: bool,
}

#[derive(Debug, thiserror::Error)]
enum StartError {
    #[error("{0}")]
    Usage(String),
    #[error("the config is not valid:\n{0}")]
    Config(#[from] ConfigError),
    #[error("cannot start the demo: {0}")]
    Demo(#[source] std::io::Error),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl StartError {
    fn exit_code(&self) -> ExitCode {
        match self {
            StartError::Usage(_) | StartError::Config(_) => ExitCode::from(2),
            StartError::Demo(_) | StartError::Engine(_) => ExitCode::from(1),
        }
    }
}

const USAGE: &str = "usage: steward-desktop [--config PATH] [--demo] [--hidden]";

impl Options {
    fn parse(args: impl IntoIterator<Item = String>, demo_env: bool) -> Result<Self, StartError> {
        let mut o = Options {
            demo: demo_env,
            ..Options::default()
        };
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--demo" => o.demo = true,
                "--hidden" => o.hidden = true,
                // WebKitWebDriver (tauri-driver) starts the "browser" with this; the
                // webview reads its own switch from the environment.
                "--automation" => {}
                "--config" => match args.next() {
                    Some(p) => o.config = Some(PathBuf::from(p)),
                    None => {
                        return Err(StartError::Usage(format!("--config needs a path\n{USAGE}")))
                    }
                },
                "-h" | "--help" => return Err(StartError::Usage(USAGE.to_owned())),
                other => match other.strip_prefix("--config=") {
                    Some(p) => o.config = Some(PathBuf::from(p)),
                    None => {
                        return Err(StartError::Usage(format!(
                            "unknown argument {other:?}\n{USAGE}"
                        )))
                    }
                },
            }
        }
        Ok(o)
    }
}

/// The running engine and the shell's own tasks; managed state, stopped once on quit.
pub(crate) struct Shell {
    /// Held for the whole shutdown, so a second Quit waits for the first to finish.
    engine: tokio::sync::Mutex<Option<EngineHandle>>,
    /// Stops the demo services (never cancelled before quit otherwise).
    demo: CancellationToken,
    /// Stops the shell's tasks (the bridge); `tracker` waits for them.
    tasks: CancellationToken,
    tracker: TaskTracker,
}

impl Shell {
    fn new(engine: EngineHandle, demo: CancellationToken) -> Self {
        Self {
            engine: tokio::sync::Mutex::new(Some(engine)),
            demo,
            tasks: CancellationToken::new(),
            tracker: TaskTracker::new(),
        }
    }

    /// Stops the shell's tasks, then the engine (which flushes and closes the database).
    /// Safe to call more than once.
    async fn shutdown(&self) {
        self.tasks.cancel();
        self.tracker.close();
        self.tracker.wait().await;
        let mut engine = self.engine.lock().await;
        if let Some(engine) = engine.take() {
            engine.shutdown().await;
            tracing::info!("engine stopped");
        }
        self.demo.cancel();
    }
}

/// Shuts the engine down cleanly, then exits the app.
pub(crate) fn quit(app: &AppHandle) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        app.state::<Shell>().shutdown().await;
        app.exit(0);
    });
}

struct Started {
    engine: EngineHandle,
    demo: CancellationToken,
}

/// The config of a non-demo start, read before Tauri starts: a bad config exits 2 with its
/// message even where no window could open (the demo's config is generated, always valid).
fn load_config(opts: &Options) -> Result<Option<(PathBuf, Config)>, StartError> {
    if opts.demo {
        return Ok(None);
    }
    let path = config::config_path(opts.config.as_deref());
    let config = Config::load_or_init(&path)?;
    Ok(Some((path, config)))
}

/// Starts the engine on `loaded` (else the demo's config): runs in Tauri's setup, after
/// the single-instance check.
async fn start_engine(loaded: Option<(PathBuf, Config)>) -> Result<Started, StartError> {
    let mut data_dir = config::data_dir();
    let demo = CancellationToken::new();
    let (path, config) = match loaded {
        Some(loaded) => loaded,
        None => {
            data_dir = data_dir.join("demo");
            std::fs::create_dir_all(&data_dir).map_err(StartError::Demo)?;
            let d = steward::demo::start(demo.clone(), config::DEFAULT_LISTEN)
                .await
                .map_err(StartError::Demo)?;
            let path = data_dir.join("demo.toml");
            std::fs::write(&path, d.config).map_err(StartError::Demo)?;
            let config = Config::load_or_init(&path)?;
            (path, config)
        }
    };
    tracing::info!(config = %path.display(), data = %data_dir.display(), "starting the engine");
    let engine = steward::api::start(EngineOptions::new(config, &data_dir)).await?;
    Ok(Started { engine, demo })
}

/// Quits on SIGTERM / SIGINT, so a session logout or `kill` also shuts down cleanly.
async fn quit_on_signal(app: AppHandle, cancel: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::warn!("cannot watch for SIGTERM/SIGINT");
        return;
    };
    tokio::select! {
        _ = cancel.cancelled() => return,
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    tracing::info!("signal received, quitting");
    quit(&app);
}

/// Runs the desktop app until Quit. Returns only when startup fails.
pub fn run() -> ExitCode {
    // First, while this is the only thread: it changes the environment for a moment.
    let gl = gl::keep_out();
    steward::init_logging("steward=info,steward_desktop=info,warn");
    match gl {
        gl::Outcome::KeptOut => tracing::debug!("no EGL driver in the app process"),
        gl::Outcome::LeftToWebKit(why) => tracing::info!("EGL left to WebKit: {why}"),
    }

    let demo_env = std::env::var("STEWARD_DEMO").is_ok_and(|v| v == "1" || v == "true");
    let opts = match Options::parse(std::env::args().skip(1), demo_env) {
        Ok(opts) => opts,
        Err(e) => {
            eprintln!("steward-desktop: {e}");
            return e.exit_code();
        }
    };
    let hidden = opts.hidden;
    let loaded = match load_config(&opts) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("steward-desktop: {e}");
            return e.exit_code();
        }
    };
    // Still the only thread: this sets the environment of the web processes to come.
    let fleet = loaded.as_ref().map_or(0, |(_, c)| c.providers.len());
    let jit = js::configure(fleet);
    tracing::debug!(providers = fleet, ?jit, "the web view's JavaScript JIT");
    // Why the setup failed, when it was the engine (its exit code is not 1 for all).
    let failed: Arc<Mutex<Option<StartError>>> = Arc::default();
    let failed_in_setup = Arc::clone(&failed);

    let app = tauri::Builder::default()
        // First: a second launch hands over to the running app (which opens its window)
        // and exits here, before it would start an engine of its own.
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            tracing::info!("Steward was launched again: opening this one's window");
            window::open(app, None);
        }))
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_opener::init())
        .invoke_handler(commands::app_handler())
        .setup(move |app| {
            let started = tauri::async_runtime::block_on(start_engine(loaded));
            let Started { engine, demo } = match started {
                Ok(s) => s,
                Err(e) => {
                    let message = e.to_string();
                    *failed_in_setup.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                    return Err(message.into());
                }
            };
            let api = engine.api().clone();
            app.manage(api.clone());
            app.manage(Shell::new(engine, demo));
            let handle = app.handle();
            if hidden {
                trim::after_start(handle);
            } else {
                window::open(handle, None);
            }

            // Subscribe before drawing the tray, so no change falls in between.
            let updates = api.feed();
            bridge::on_notification_click(handle);
            tray::create(handle, &api.status())?;
            let shell = app.state::<Shell>();
            tauri::async_runtime::spawn(shell.tracker.track_future(bridge::run(
                handle.clone(),
                api.clone(),
                updates,
                shell.tasks.clone(),
            )));
            tauri::async_runtime::spawn(
                shell
                    .tracker
                    .track_future(quit_on_signal(handle.clone(), shell.tasks.clone())),
            );
            Ok(())
        })
        .build(tauri::generate_context!());
    let app = match app {
        Ok(app) => app,
        Err(e) => {
            if let Some(start) = failed.lock().unwrap_or_else(|p| p.into_inner()).take() {
                eprintln!("steward-desktop: {start}");
                return start.exit_code();
            }
            eprintln!("steward-desktop: cannot start the window: {e}");
            return ExitCode::from(1);
        }
    };
    app.run(|app, event| match event {
        // The window was closed (or hidden, which destroys it): Steward lives on in the
        // tray. Only an exit with a code (Quit, a signal) ends it.
        RunEvent::ExitRequested {
            code: None, api, ..
        } => api.prevent_exit(),
        // Hidden (Hide or closed): what the window left behind is given back a moment later.
        RunEvent::WindowEvent {
            label,
            event: tauri::WindowEvent::Destroyed,
            ..
        } if label == window::MAIN_WINDOW => trim::after_hide(app),
        // Any other way out (the OS ending the session, a plugin calling exit) still
        // stops the engine; after `quit` this finds nothing left to do.
        // Bounded: this runs on the main thread, which a task being stopped might wait on.
        RunEvent::Exit => {
            let Some(shell) = app.try_state::<Shell>() else {
                return;
            };
            tauri::async_runtime::block_on(async {
                if tokio::time::timeout(EXIT_GRACE, shell.shutdown())
                    .await
                    .is_err()
                {
                    tracing::warn!("the engine did not stop within {EXIT_GRACE:?}; exiting anyway");
                }
            });
        }
        _ => {}
    });
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, StartError> {
        Options::parse(args.iter().map(|s| s.to_string()), false)
    }

    #[test]
    fn arguments_are_read_in_both_spellings() {
        let o = parse(&["--config", "/x.toml", "--hidden"]).unwrap();
        assert_eq!(o.config, Some(PathBuf::from("/x.toml")));
        assert!(o.hidden && !o.demo);
        let o = parse(&["--config=/y.toml", "--demo"]).unwrap();
        assert_eq!(o.config, Some(PathBuf::from("/y.toml")));
        assert!(o.demo);
        let o = parse(&["--automation"]).unwrap();
        assert_eq!(
            o,
            Options::default(),
            "what WebKitWebDriver adds changes nothing"
        );
    }

    #[test]
    fn demo_can_come_from_the_environment() {
        let o = Options::parse(Vec::<String>::new(), true).unwrap();
        assert!(o.demo, "STEWARD_DEMO=1 is the same as --demo");
    }

    #[test]
    fn a_bad_command_line_exits_2_like_a_bad_config() {
        for args in [&["--nope"][..], &["--config"][..]] {
            let e = parse(args).unwrap_err();
            assert_eq!(e.exit_code(), ExitCode::from(2), "{args:?}");
        }
    }
}
