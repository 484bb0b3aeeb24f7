//! Builds the engine's parts, wires them together and owns their tasks.
//!
//! Owns: `start` (store, breakers with their saved state, monitor, outbox, context,
//! recorder, intake, planning, executor, Alertmanager intake, session pipeline: each part
//! gets handles to the parts below it and nothing else), the engine's tasks (recorder, intake,
//! expiry, retention, session pipeline, config watcher, and the one status task woken by
//! the outbox), config reloads, pause and snooze, the whole-engine status, and shutdown.
//! Every task is tracked by one `TaskTracker` and stopped by one `CancellationToken`.
//! Does not own: any decision (the capabilities and their pure parts decide) or transport
//! (adapters call `api::Api`, which delegates here and to the parts).

mod edits;

pub use edits::{ConfigDocument, TestOutcome};

use crate::bus::{Bus, BusOptions};
use crate::clock::{SharedClock, SystemClock};
use crate::config::{Config, ConfigError, ProviderConfig};
use crate::context::Context;
use crate::error::ApiError;
use crate::events::EngineEvent;
use crate::execute::executor::{self, Executor};
use crate::gateway::Gateway;
use crate::health::breaker::Breakers;
use crate::health::incidents::Incidents;
use crate::health::monitor::{LoopOptions, Monitor, ProbeTarget};
use crate::health::probe::{self, Probe};
use crate::health::prober::Prober;
use crate::health::recorder::Recorder;
use crate::outbox::{Outbox, Update};
use crate::planner::alerts::Alerts;
use crate::planner::gate::{Flaps, Gate};
use crate::planner::intake::Intake;
use crate::planner::planning::Planning;
use crate::planner::router::Router;
use crate::push::Push;
use crate::sessions::pipeline::{self, Pipeline};
use crate::status::{Overall, StatusView};
use crate::store::lock::{DataDirLock, LockError};
use crate::store::{StorageView, Store, StoreError};
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Hourly probe aggregates are kept this long (events, proposals and their files: `[store]
/// keep`, see `retention`).
const LONG_RETENTION: chrono::Duration = chrono::Duration::days(90);
/// How often pending proposals are checked for expiry.
const EXPIRE_EVERY: Duration = Duration::from_secs(2);
/// How often old history is folded and pruned (and once at start).
const RETAIN_EVERY: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("probe loop: {0}")]
    Monitor(#[from] crate::health::monitor::MonitorError),
    #[error(transparent)]
    Pipeline(#[from] crate::sessions::pipeline::PipelineError),
    #[error(transparent)]
    Locked(#[from] LockError),
    #[error("the LLM gateway cannot listen on {addr}: {source}")]
    Gateway {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

/// Builds the probe for a provider. Real probes by default; tests may use fakes.
pub type ProbeFactory = Arc<dyn Fn(&ProviderConfig) -> Arc<dyn Probe> + Send + Sync>;

pub struct EngineOptions {
    pub config: Config,
    /// When set, the file is watched and reloaded on change.
    pub watch: Option<PathBuf>,
    pub data_dir: PathBuf,
    pub clock: SharedClock,
    /// Overrides the loop options derived from the config (tests).
    pub loop_options: Option<LoopOptions>,
    pub probes: Option<ProbeFactory>,
}

impl EngineOptions {
    pub fn new(config: Config, data_dir: impl Into<PathBuf>) -> Self {
        Self {
            watch: config.source.clone(),
            config,
            data_dir: data_dir.into(),
            clock: Arc::new(SystemClock),
            loop_options: None,
            probes: None,
        }
    }
}

pub fn database_path(data_dir: &Path) -> PathBuf {
    data_dir.join("steward.db")
}

fn loop_options(config: &Config) -> LoopOptions {
    LoopOptions {
        interval: config.probe.interval,
        timeout: config.probe.timeout,
        max_concurrency: config.probe.max_concurrency,
        slow_lane: config.probe.max_concurrency,
        ..LoopOptions::default()
    }
}

fn targets(config: &Config, factory: &ProbeFactory) -> Vec<ProbeTarget> {
    config
        .providers
        .iter()
        .filter(|p| p.enabled)
        .map(|p| ProbeTarget {
            id: p.id.clone(),
            interval: Some(p.interval),
            timeout: Some(p.timeout),
            confirm_after: p.confirm_after,
            probe: factory(p),
        })
        .collect()
}

/// A running engine: its parts and their tasks.
pub struct Engine {
    pub ctx: Arc<Context>,
    pub breakers: Arc<Breakers>,
    pub monitor: Arc<Monitor>,
    factory: ProbeFactory,
    pub recorder: Arc<Recorder>,
    pub intake: Arc<Intake>,
    pub planning: Arc<Planning>,
    pub executor: Arc<Executor>,
    /// Alertmanager's webhook (`POST /api/alertmanager`).
    pub alerts: Arc<Alerts>,
    /// The session pipeline, when `[sessions]` is configured (a change needs a restart).
    pub pipeline: Option<Arc<Pipeline>>,
    /// The LLM gateway (serving only when `[gateway]` is configured at start).
    pub gateway: Arc<Gateway>,
    /// The push channels (`[[notifications.channels]]`; follows config reloads).
    pub push: Arc<Push>,
    /// Shared with `push`: notifications are off until then.
    snoozed_until: Arc<Mutex<Option<DateTime<Utc>>>>,
    tracker: TaskTracker,
    cancel: CancellationToken,
    /// Held until the database is closed (see `store::lock`).
    lock: Mutex<Option<DataDirLock>>,
    /// Config edits from the app, one at a time (`edits`).
    edits: tokio::sync::Mutex<()>,
    /// The revision of the file an edit from the app wrote and applied: the watcher does
    /// not apply it a second time.
    edited_revision: Mutex<Option<String>>,
}

/// Builds every part, restores what the last run left, and starts the tasks.
pub async fn start(opts: EngineOptions) -> Result<Arc<Engine>, EngineError> {
    // First: a second engine on this data dir stops here, before touching the database.
    let lock = DataDirLock::acquire(&opts.data_dir)?;
    let store = Store::open(&database_path(&opts.data_dir), Arc::clone(&opts.clock)).await?;
    let config = opts.config;
    let clock = opts.clock;
    let factory: ProbeFactory = opts.probes.unwrap_or_else(|| {
        let client = probe::http_client(probe::Pooling::for_providers(
            &config.providers,
            config.probe.max_concurrency,
        ));
        let clock = Arc::clone(&clock);
        Arc::new(move |p: &ProviderConfig| probe::for_provider(p, &client, &clock))
    });

    let breakers = Arc::new(Breakers::new(config.probe_policy()));
    let saved = store.load_breakers().await?;
    breakers.register_all(
        config
            .providers
            .iter()
            .map(|p| (p.id.as_str(), p.policy, saved.get(&p.id).cloned())),
    );
    let (reports, reports_rx) = mpsc::channel(8192);
    let monitor = Arc::new(Monitor::new(
        Arc::clone(&breakers),
        targets(&config, &factory),
        opts.loop_options.unwrap_or_else(|| loop_options(&config)),
        Arc::clone(&clock),
        Some(reports.clone()),
    )?);
    monitor.set_paused(store.setting("paused").await?.is_some());
    let snoozed_until = store
        .setting("snoozed_until")
        .await?
        .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
        .map(|d| d.with_timezone(&Utc));

    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();
    let (bus, bus_rx) = match &config.bus {
        Some(b) => {
            let (tx, rx) = mpsc::channel(65_536);
            let bus = Bus::start(
                BusOptions::from_config(b),
                Arc::clone(&clock),
                tx,
                &tracker,
                cancel.clone(),
            );
            (Some(bus), Some(rx))
        }
        None => (None, None),
    };
    let outbox = Outbox::new(store.clone(), Arc::clone(&clock), bus, config.node.clone());
    let router = Router::new(Arc::clone(&breakers), Arc::clone(&clock));
    let gate = Arc::new(Mutex::new(Gate::new(config.cooldown())));
    let sessions = config.sessions.clone();
    let ctx = Arc::new(Context::new(
        config,
        clock,
        store,
        outbox,
        opts.data_dir,
        tracker.clone(),
        cancel.clone(),
    ));

    let prober = Prober::new(Arc::clone(&monitor), reports);
    let flaps = Arc::new(Mutex::new(Flaps::default()));
    let incidents = Arc::new(Mutex::new(Incidents::new()));
    let executor = Executor::new(Arc::clone(&ctx), prober.clone());
    let planning = Planning::new(
        Arc::clone(&ctx),
        router,
        Arc::clone(&gate),
        Arc::clone(&flaps),
        Arc::clone(&executor),
    );
    let intake = Intake::new(
        Arc::clone(&ctx),
        gate,
        flaps,
        Arc::clone(&incidents),
        Arc::clone(&planning),
    );
    let alerts = Alerts::new(Arc::clone(&ctx), Arc::clone(&intake), Arc::clone(&executor));
    let recorder = Recorder::new(
        Arc::clone(&ctx),
        Arc::clone(&breakers),
        prober,
        Arc::clone(&monitor),
        incidents,
        Arc::clone(&intake),
    )
    .await?;
    let (pipeline, session_changes) = match &sessions {
        Some(s) => {
            let (p, rx) = Pipeline::start(Arc::clone(&ctx), Arc::clone(&intake), s)?;
            (Some(p), Some(rx))
        }
        None => (None, None),
    };
    // The gateway's listener is bound here, so a taken port stops the start with a clear
    // error instead of a gateway that silently is not there.
    let gateway = Gateway::new(Arc::clone(&ctx), Arc::clone(&breakers));
    let gateway_listener = match ctx.config().gateway.as_ref().map(|g| g.listen) {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| EngineError::Gateway { addr, source })?,
        ),
        None => None,
    };
    let snoozed_until = Arc::new(Mutex::new(snoozed_until));
    let push = Push::new(Arc::clone(&ctx), Arc::clone(&snoozed_until));
    let notices = ctx.outbox.tap_notices();
    let engine = Arc::new(Engine {
        ctx,
        breakers,
        monitor: Arc::clone(&monitor),
        factory,
        recorder,
        intake,
        planning,
        executor,
        alerts,
        pipeline,
        gateway,
        push,
        snoozed_until,
        lock: Mutex::new(Some(lock)),
        edits: tokio::sync::Mutex::new(()),
        edited_revision: Mutex::new(None),
        tracker,
        cancel,
    });
    engine.planning.restore().await?;
    engine.executor.restore().await?;
    executor::recover(&engine.executor).await?;
    engine.spawn_tasks(reports_rx, bus_rx, session_changes, opts.watch);
    if let Some(notices) = notices {
        let (push, cancel) = (Arc::clone(&engine.push), engine.cancel.clone());
        engine.tracker.spawn(push.run(notices, cancel));
    }
    if let Some(listener) = gateway_listener {
        let (gateway, cancel) = (Arc::clone(&engine.gateway), engine.cancel.clone());
        engine.tracker.spawn(async move {
            if let Err(e) = crate::gateway::serve(gateway, listener, cancel).await {
                tracing::error!(error = %e, "the LLM gateway stopped");
            }
        });
    }
    monitor.start();
    Ok(engine)
}

impl Engine {
    fn spawn_tasks(
        self: &Arc<Self>,
        reports: mpsc::Receiver<crate::health::monitor::MonitorEvent>,
        bus: Option<mpsc::Receiver<crate::bus::BusInput>>,
        session_changes: Option<mpsc::Receiver<Vec<crate::sessions::watcher::Change>>>,
        watch: Option<PathBuf>,
    ) {
        let (t, cancel) = (&self.tracker, &self.cancel);
        t.spawn(push_status(Arc::clone(self), cancel.clone()));
        t.spawn(expire_proposals(Arc::clone(&self.executor), cancel.clone()));
        t.spawn(Arc::clone(&self.intake).run(bus, cancel.clone()));
        t.spawn(Arc::clone(&self.recorder).run(reports, cancel.clone()));
        t.spawn(retain(Arc::clone(&self.ctx), cancel.clone()));
        if let (Some(p), Some(changes)) = (&self.pipeline, session_changes) {
            t.spawn(pipeline::run(Arc::clone(p), changes, cancel.clone()));
        }
        if let Some(watch) = watch.and_then(ConfigWatch::start) {
            t.spawn(watch.run(Arc::clone(self), cancel.clone()));
        }
    }

    /// Stops probing, lets every task finish (the recorder and the intake write what is
    /// pending), and closes the database.
    pub async fn shutdown(&self) {
        self.monitor.stop().await;
        self.cancel.cancel();
        self.tracker.close();
        self.tracker.wait().await;
        self.ctx.store.close().await;
        self.lock.lock().take();
    }

    /// Cancels every task without waiting (a dropped handle).
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// The whole engine at `now`, from each part's state (no database read).
    pub fn status(&self) -> StatusView {
        let config = self.ctx.config();
        let now = self.ctx.now();
        let (counts, down_providers) = self.recorder.counts(&config, now);
        let pipeline = self.pipeline.as_ref().and_then(|p| p.level());
        let storage = self.storage();
        StatusView {
            overall: Overall::of(&counts, pipeline, storage.ok),
            counts,
            paused: self.monitor.is_paused(),
            snoozed_until: self.snoozed_until(),
            config_errors: self.ctx.config_errors(),
            config_path: config.source.clone(),
            node: config.node.clone(),
            version: env!("CARGO_PKG_VERSION"),
            pending_proposals: self.executor.pending(),
            events_rejected: self.intake.rejected_total(),
            observer_degraded: self.recorder.observer_degraded(),
            incidents: self.recorder.incident_count(),
            bus: self.ctx.outbox.bus_status(),
            proposal_ttl_secs: config.proposal_ttl().as_secs(),
            pipeline,
            storage,
            down_providers,
            channels: self.push.views(),
        }
    }

    /// Whether the database takes writes, with the events waiting in memory while it
    /// does not.
    pub fn storage(&self) -> StorageView {
        let mut storage = self.ctx.store.health().view();
        if !storage.ok {
            storage.unwritten_events = self.ctx.outbox.unwritten();
        }
        storage
    }

    pub async fn set_paused(&self, paused: bool) -> Result<(), StoreError> {
        if self.monitor.is_paused() == paused {
            return Ok(());
        }
        self.monitor.set_paused(paused);
        self.ctx
            .store
            .set_setting("paused", paused.then_some("1"))
            .await?;
        let event = if paused {
            EngineEvent::MonitorPaused
        } else {
            EngineEvent::MonitorResumed
        };
        self.ctx.outbox.publish(event).await
    }

    pub fn snoozed_until(&self) -> Option<DateTime<Utc>> {
        let until = *self.snoozed_until.lock();
        until.filter(|u| *u > self.ctx.now())
    }

    /// Snoozes notifications until `until` (`None` turns them back on).
    pub async fn snooze(&self, until: Option<DateTime<Utc>>) -> Result<(), StoreError> {
        *self.snoozed_until.lock() = until;
        let stored = until.map(|u| u.to_rfc3339());
        self.ctx
            .store
            .set_setting("snoozed_until", stored.as_deref())
            .await?;
        self.ctx
            .outbox
            .publish(EngineEvent::NotificationsSnoozed { until })
            .await
    }

    /// No plan is running, waiting, or deferred.
    pub fn planning_idle(&self) -> bool {
        self.intake.idle() && self.recorder.nothing_deferred()
    }

    /// Reads the config file again (also what the watcher does on change).
    pub async fn reload_config(&self) -> Result<(), ApiError> {
        let Some(path) = self.ctx.config().source.clone() else {
            return Err(ApiError::BadRequest(
                "this engine runs without a config file".into(),
            ));
        };
        match Config::load(&path) {
            Ok(c) => self
                .apply_config(c)
                .await
                .map_err(|e| ApiError::BadRequest(e.to_string())),
            Err(e) => {
                let msg = e.to_string();
                self.reject_config(e).await;
                Err(ApiError::BadRequest(msg))
            }
        }
    }

    /// Applies a new config: breakers keep their state, the monitor keeps known schedules.
    async fn apply_config(&self, config: Config) -> Result<(), EngineError> {
        self.breakers.set_default_policy(config.probe_policy());
        self.breakers.register_all(
            config
                .providers
                .iter()
                .map(|p| (p.id.as_str(), p.policy, None)),
        );
        let ids: std::collections::HashSet<String> =
            config.providers.iter().map(|p| p.id.clone()).collect();
        self.breakers.retain(&|id| ids.contains(id));
        self.monitor.set_targets(targets(&config, &self.factory))?;
        let providers = config.providers.len();
        self.planning.set_cooldown(config.cooldown());
        let bus_of = |c: &Config| {
            c.bus
                .as_ref()
                .map(|b| (b.redis_url.clone(), b.channels.clone()))
        };
        if bus_of(&config) != bus_of(&self.ctx.config()) {
            tracing::warn!("[bus] changed: the new bus settings apply after a restart");
        }
        self.ctx.set_config(config);
        self.push.sync(&self.ctx.config());
        self.ctx
            .outbox
            .publish(EngineEvent::ConfigReloaded { providers })
            .await?;
        Ok(())
    }

    /// Keeps the last good config and reports why the new one was refused.
    async fn reject_config(&self, error: ConfigError) {
        let issues = error.issues();
        tracing::error!("config rejected, keeping the last good one:\n{error}");
        self.ctx.set_config_errors(issues.clone());
        if let Err(e) = self
            .ctx
            .outbox
            .publish(EngineEvent::ConfigRejected { issues })
            .await
        {
            tracing::warn!(error = %e, "could not record the config error");
        }
    }
}

/// The status task: recomputes the status whenever the outbox says it may have changed,
/// and pushes it when it did.
async fn push_status(engine: Arc<Engine>, cancel: CancellationToken) {
    let mut last: Option<StatusView> = None;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            () = engine.ctx.outbox.status_change() => {}
        }
        let status = engine.status();
        if last.as_ref() != Some(&status) {
            last = Some(status.clone());
            engine.ctx.outbox.send(Update::Status { status });
        }
    }
}

/// Expires proposals nobody decided on in time.
async fn expire_proposals(executor: Arc<Executor>, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(EXPIRE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            // Nothing pending, nothing to expire: no query (an idle engine stays idle).
            _ = tick.tick() => if executor.pending() > 0 {
                executor::expire(&executor).await;
            }
        }
    }
}

/// Folds old samples into hourly rows and applies `[store] keep` (`retention`): at start,
/// then hourly.
async fn retain(ctx: Arc<Context>, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(RETAIN_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tick.tick() => {
                let now = ctx.now();
                let raw = chrono::Duration::from_std(ctx.config().probe.raw_retention)
                    .unwrap_or(chrono::Duration::hours(48));
                match ctx.store.compact(now - raw, now - LONG_RETENTION).await {
                    Ok(n) if n > 0 => tracing::info!(folded = n, "compacted probe history"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "compacting probe history failed"),
                }
                match crate::retention::prune(&ctx, now).await {
                    Ok(p) if !p.is_empty() => tracing::info!(?p, "pruned old history"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "pruning old history failed"),
                }
            }
        }
    }
}

/// The config file's watch, set up before `Engine::start` returns so that an edit made
/// right after start is not missed: the watcher on the file's directory (editors replace
/// files by rename), the changes it reports, and the file as last read.
struct ConfigWatch {
    _watcher: notify::RecommendedWatcher,
    changes: mpsc::Receiver<()>,
    last: Option<Vec<u8>>,
    path: PathBuf,
}

impl ConfigWatch {
    /// `None`, with a warning, when the directory cannot be watched (reload by restarting).
    fn start(path: PathBuf) -> Option<ConfigWatch> {
        use notify::event::{AccessKind, AccessMode};
        use notify::{EventKind, RecursiveMode, Watcher};
        let (tx, changes) = mpsc::channel::<()>(16);
        let name = path.file_name().map(|n| n.to_owned());
        let handler = move |res: notify::Result<notify::Event>| {
            let Ok(ev) = res else { return };
            // inotify also reports opens and reads, the watcher's own among them: taken as
            // changes, each read of the file brought on the next, three times a second for
            // the engine's whole life. A write that ends in a close counts (it changed the
            // file); any other access does not.
            let changed = match ev.kind {
                EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
                EventKind::Access(_) => false,
                _ => true,
            };
            if changed && ev.paths.iter().any(|p| p.file_name() == name.as_deref()) {
                // Full channel: a reload is already pending, which is all we need.
                let _ = tx.try_send(());
            }
        };
        let mut watcher = match notify::recommended_watcher(handler) {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch the config file; reload by restarting");
                return None;
            }
        };
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if let Err(e) = watcher.watch(dir, RecursiveMode::NonRecursive) {
            tracing::warn!(error = %e, dir = %dir.display(), "cannot watch the config directory");
            return None;
        }
        let last = std::fs::read(&path).ok();
        Some(ConfigWatch {
            _watcher: watcher,
            changes,
            last,
            path,
        })
    }

    /// Reloads after changes settle, until `cancel`.
    async fn run(mut self, engine: Arc<Engine>, cancel: CancellationToken) {
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                got = self.changes.recv() => {
                    if got.is_none() { break; }
                    // Let a burst of writes settle.
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    while self.changes.try_recv().is_ok() {}
                    let now = std::fs::read(&self.path).ok();
                    if now.is_none() || now == self.last {
                        continue;
                    }
                    // Written by an edit from the app, which applied it already.
                    let revision = now.as_deref().map(crate::config::edit::revision);
                    self.last = now;
                    if revision.is_some() && revision == *engine.edited_revision.lock() {
                        continue;
                    }
                    // `reload_config` logs and records a refused config itself.
                    if let Err(e) = engine.reload_config().await {
                        tracing::debug!(error = %e, "config reload refused");
                    }
                }
            }
        }
    }
}
