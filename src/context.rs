//! What every capability shares: the config, the clock, the store, the outbox, the
//! engine's tasks.
//!
//! Owns: the current config (swapped whole on reload) and its errors, the data dir with
//! the folders derived from it (`actions_dir`, `events_dir`), `STEWARD_FAILPOINTS` (read
//! once), and the one `TaskTracker` and `CancellationToken` every engine task runs under.
//! Does not own: any capability's state; each capability holds an `Arc<Context>` beside
//! its own.

use crate::clock::SharedClock;
use crate::config::{Config, ConfigIssue};
use crate::outbox::Outbox;
use crate::store::Store;
use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use parking_lot::RwLock;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub struct Context {
    config: ArcSwap<Config>,
    config_errors: RwLock<Vec<ConfigIssue>>,
    pub clock: SharedClock,
    pub store: Store,
    pub outbox: Outbox,
    data_dir: PathBuf,
    /// `STEWARD_FAILPOINTS`, read once at start: the crash tests' way to stop the process
    /// with SIGKILL at a named step (see [`Context::failpoint`]).
    failpoints: Vec<String>,
    tracker: TaskTracker,
    cancel: CancellationToken,
}

impl Context {
    pub fn new(
        config: Config,
        clock: SharedClock,
        store: Store,
        outbox: Outbox,
        data_dir: PathBuf,
        tracker: TaskTracker,
        cancel: CancellationToken,
    ) -> Context {
        Context {
            config: ArcSwap::from_pointee(config),
            config_errors: RwLock::new(Vec::new()),
            clock,
            store,
            outbox,
            data_dir,
            failpoints: std::env::var("STEWARD_FAILPOINTS")
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            tracker,
            cancel,
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn config(&self) -> Arc<Config> {
        self.config.load_full()
    }

    /// Takes a new config (a reload that passed validation) and clears the errors.
    pub fn set_config(&self, config: Config) {
        self.config.store(Arc::new(config));
        self.config_errors.write().clear();
    }

    pub fn config_errors(&self) -> Vec<ConfigIssue> {
        self.config_errors.read().clone()
    }

    /// Why the config file on disk was refused (the last good config stays).
    pub fn set_config_errors(&self, issues: Vec<ConfigIssue>) {
        *self.config_errors.write() = issues;
    }

    /// `[planner] actions_dir`, else `<data dir>/actions`.
    pub fn actions_dir(&self) -> PathBuf {
        self.config()
            .planner
            .as_ref()
            .and_then(|p| p.actions_dir.clone())
            .unwrap_or_else(|| self.data_dir.join("actions"))
    }

    /// `[planner] events_dir`, else `<data dir>/events`.
    pub fn events_dir(&self) -> PathBuf {
        self.config()
            .planner
            .as_ref()
            .and_then(|p| p.events_dir.clone())
            .unwrap_or_else(|| self.data_dir.join("events"))
    }

    /// Stops the process at once (SIGKILL, as `kill -9` would) when `STEWARD_FAILPOINTS`
    /// names `name`. Only the crash tests set it: they need to stop Steward between two
    /// steps that follow each other within microseconds, which no outside `kill` can hit.
    pub fn failpoint(&self, name: &str) {
        if self.failpoints.iter().any(|f| f == name) {
            tracing::warn!(
                failpoint = name,
                "STEWARD_FAILPOINTS: stopping with SIGKILL"
            );
            // Ignored on purpose: if raising fails, there is nothing better to do than go on.
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
        }
    }

    /// Runs `task` as one of the engine's tasks (stopped and awaited at shutdown).
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tracker.spawn(task);
    }

    pub fn tracker(&self) -> &TaskTracker {
        &self.tracker
    }

    /// Cancelled when the engine stops (running commands are killed then).
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }
}
