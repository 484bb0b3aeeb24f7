//! Wires the engine together and owns its tasks.
//!
//! Owns: `Engine::start` (store, breakers with their saved state, monitor, recorder,
//! config watcher, retention) and `EngineHandle::shutdown`. Every task is tracked by one
//! `TaskTracker` and stopped by one `CancellationToken`; dropping the handle cancels them.
//! The recorder is the only writer of probe results: it batches samples and breaker states
//! into one transaction per flush (at most every `FLUSH_EVERY`, or at once when a breaker
//! changed state), then pushes updates to subscribers.
//! Does not own: transport (adapters use `Api`) or decisions (breaker, monitor).

use crate::api::{Api, Inner, Live, Update};
use crate::bus::{Bus, BusOptions};
use crate::clock::{SharedClock, SystemClock};
use crate::config::{Config, ConfigError, ProviderConfig};
use crate::events::EngineEvent;
use crate::health::breaker::{Breakers, Transition};
use crate::health::incidents::{Effect, Fleet, Member};
use crate::health::monitor::{LoopOptions, Monitor, MonitorEvent, ProbeReport, ProbeTarget};
use crate::health::probe::{self, Probe};
use crate::planner::router::Router;
use crate::planning::Planning;
use crate::store::{Batch, Sample, Store, StoreError};
use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The longest a probe result waits before it is written.
pub const FLUSH_EVERY: Duration = Duration::from_millis(500);
/// A batch this large is written at once.
const FLUSH_AT: usize = 5000;
/// Most probe samples held while the database cannot be written (about 10 MB); beyond it
/// the oldest are dropped and counted in the status (`storage.dropped_samples`).
const BACKLOG_SAMPLES: usize = 100_000;
/// Hourly probe aggregates are kept this long (events, proposals and their files: `[store]
/// keep`, see `retention`).
const LONG_RETENTION: chrono::Duration = chrono::Duration::days(90);

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("probe loop: {0}")]
    Monitor(#[from] crate::health::monitor::MonitorError),
    #[error(transparent)]
    Pipeline(#[from] crate::pipeline::PipelineError),
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

/// A running engine. Dropping it cancels every task; `shutdown` also waits for them.
pub struct EngineHandle {
    api: Api,
    cancel: CancellationToken,
    tracker: TaskTracker,
}

impl Drop for EngineHandle {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl EngineHandle {
    pub fn api(&self) -> &Api {
        &self.api
    }

    /// Stops probing, flushes what is pending, and closes the database.
    pub async fn shutdown(self) {
        self.api.inner.monitor.stop().await;
        self.cancel.cancel();
        self.tracker.close();
        self.tracker.wait().await;
        self.api.inner.store.close().await;
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

pub struct Engine;

impl Engine {
    pub async fn start(opts: EngineOptions) -> Result<EngineHandle, EngineError> {
        let store = Store::open(&database_path(&opts.data_dir), Arc::clone(&opts.clock)).await?;
        let config = opts.config;
        let clock = opts.clock;
        let factory: ProbeFactory = opts.probes.unwrap_or_else(|| {
            let client = probe::http_client();
            let clock = Arc::clone(&clock);
            Arc::new(move |p: &ProviderConfig| probe::for_provider(p, &client, &clock))
        });

        let breakers = Arc::new(Breakers::new(config.probe_policy()));
        let saved = store.load_breakers().await?;
        for p in &config.providers {
            breakers.register(&p.id, p.policy, saved.get(&p.id).cloned());
        }

        let (tx, rx) = mpsc::channel(8192);
        let monitor = Arc::new(Monitor::new(
            Arc::clone(&breakers),
            targets(&config, &factory),
            opts.loop_options.unwrap_or_else(|| loop_options(&config)),
            Arc::clone(&clock),
            Some(tx.clone()),
        )?);

        let now = clock.now();
        let live = seed_live(&store, now).await?;
        let snoozed_until = store
            .setting("snoozed_until")
            .await?
            .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
            .map(|d| d.with_timezone(&Utc));
        let paused = store.setting("paused").await?.is_some();
        monitor.set_paused(paused);

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
        let planning = Planning::new(
            Router::new(Arc::clone(&breakers), Arc::clone(&clock)),
            bus,
            crate::planning::cooldown_of(&config),
            opts.data_dir.clone(),
            tracker.clone(),
            cancel.clone(),
        );
        let (pipeline, session_changes) = match &config.sessions {
            Some(s) => {
                let (p, rx) = crate::pipeline::Pipeline::start(
                    s,
                    store.clone(),
                    Arc::clone(&clock),
                    &cancel,
                    &tracker,
                )?;
                (Some(p), Some(rx))
            }
            None => (None, None),
        };
        // Lagging subscribers get `Update::Resync` and refetch; no need to buffer more.
        let (updates, _) = broadcast::channel(1024);
        let api = Api {
            inner: Arc::new(Inner {
                store,
                breakers,
                monitor: Arc::clone(&monitor),
                config: ArcSwap::from_pointee(config),
                config_errors: RwLock::new(Vec::new()),
                live: RwLock::new(live),
                updates,
                snoozed_until: Mutex::new(snoozed_until),
                clock,
                uptime: tokio::sync::Mutex::new((None, HashMap::new())),
                last_status: Mutex::new(None),
                recorder: tx,
                factory,
                planning,
                pipeline,
            }),
        };
        crate::planning::restore(&api).await?;
        crate::executing::recover(&api).await?;
        tracker.spawn(expire_proposals(api.clone(), cancel.clone()));
        tracker.spawn(crate::planning::intake(api.clone(), bus_rx, cancel.clone()));
        tracker.spawn(record(api.clone(), rx, cancel.clone()));
        tracker.spawn(retain(api.clone(), cancel.clone()));
        if let Some(changes) = session_changes {
            tracker.spawn(crate::pipeline::run(api.clone(), changes, cancel.clone()));
        }
        if let Some(path) = opts.watch {
            tracker.spawn(watch_config(api.clone(), path, cancel.clone()));
        }
        monitor.start();
        Ok(EngineHandle {
            api,
            cancel,
            tracker,
        })
    }
}

impl Config {
    /// The breaker policy for providers the config does not name (e.g. LLM providers).
    pub fn probe_policy(&self) -> crate::health::breaker::BreakerPolicy {
        crate::health::breaker::BreakerPolicy {
            failure_threshold: self.probe.failure_threshold,
            backoff: self.probe.backoff,
            backoff_max: self.probe.backoff_max,
        }
    }
}

async fn seed_live(store: &Store, now: DateTime<Utc>) -> Result<HashMap<String, Live>, StoreError> {
    let mut live: HashMap<String, Live> = HashMap::new();
    for s in store
        .recent_samples(now - chrono::Duration::hours(1))
        .await?
    {
        let l = live.entry(s.provider_id.clone()).or_default();
        l.last_checked_at = Some(s.at);
        l.last_outcome = crate::health::monitor::Outcome::parse(&s.outcome);
        l.last_latency_ms = s.ok.then_some(s.latency_ms).flatten();
        l.last_probe_error = s.error.clone();
        l.push_spark(s.at, s.ok.then_some(s.latency_ms).flatten());
    }
    Ok(live)
}

/// Waits until the recorder has handled everything sent before this call.
pub(crate) async fn settle(api: &Api) {
    let (tx, rx) = oneshot::channel();
    if api
        .inner
        .recorder
        .send(MonitorEvent::Flush(tx))
        .await
        .is_ok()
    {
        let _ = rx.await;
    }
}

/// Stores an event at once and pushes it to subscribers. When the database cannot be
/// written, the event joins the intake's timeline queue and is written (and pushed) when
/// writes succeed again; an error only when that queue is full too.
pub(crate) async fn publish_event(api: &Api, event: EngineEvent) -> Result<(), StoreError> {
    let at = api.now();
    match api.inner.store.insert_event(at, &event).await {
        Ok(record) => {
            let _ = api.inner.updates.send(Update::Event { record, event });
            publish_status(api);
            Ok(())
        }
        Err(e) if e.unavailable().is_some() => {
            publish_status(api);
            if crate::planning::hold_record(api, at, event) {
                Ok(())
            } else {
                Err(e)
            }
        }
        Err(e) => Err(e),
    }
}

/// Pushes the status when it changed since the last push.
pub(crate) fn push_status(api: &Api) {
    publish_status(api)
}

fn publish_status(api: &Api) {
    let status = api.status();
    let mut last = api.inner.last_status.lock();
    if last.as_ref() != Some(&status) {
        *last = Some(status.clone());
        let _ = api.inner.updates.send(Update::Status { status });
    }
}

pub(crate) fn event_for(p: &ProviderConfig, t: &Transition, down_for: Option<i64>) -> EngineEvent {
    let (provider_id, node, service) = (p.id.clone(), p.node.clone(), p.service.clone());
    match t {
        Transition::Opened {
            reason,
            open_until,
            reopened,
        } => EngineEvent::BreakerOpened {
            provider_id,
            node,
            service,
            reason: reason.clone(),
            open_until: *open_until,
            reopened: *reopened,
        },
        Transition::HalfOpened => EngineEvent::BreakerHalfOpen {
            provider_id,
            node,
            service,
        },
        Transition::Closed => EngineEvent::BreakerClosed {
            provider_id,
            node,
            service,
            down_for_secs: down_for,
        },
    }
}

/// The incident rules' view of the config.
pub(crate) fn fleet_of(config: &Config) -> Fleet {
    Fleet {
        providers: config
            .providers
            .iter()
            .map(|p| {
                let grace = p.interval + p.timeout + config.probe.interval.min(p.interval);
                (
                    p.id.clone(),
                    Member {
                        node: p.node.clone(),
                        enabled: p.enabled,
                        depends_on: p.depends_on.clone(),
                        grace: chrono::Duration::from_std(grace)
                            .unwrap_or(chrono::Duration::seconds(60)),
                    },
                )
            })
            .collect(),
    }
}

/// The fleet for the current config, rebuilt only when the config changed.
struct FleetCache {
    config: Option<Arc<Config>>,
    fleet: Fleet,
}

impl FleetCache {
    /// The fleet for `config`; on a new config, incidents forget removed providers.
    fn get(&mut self, api: &Api, config: &Arc<Config>) -> &Fleet {
        if !self.config.as_ref().is_some_and(|c| Arc::ptr_eq(c, config)) {
            self.fleet = fleet_of(config);
            self.config = Some(Arc::clone(config));
            api.inner.planning.incidents.lock().retain(&self.fleet);
        }
        &self.fleet
    }
}

/// How long a new incident's plan waits for dependents failing in the same tick (the
/// probe timeout, within these bounds).
const PLAN_SETTLE_MIN: Duration = Duration::from_millis(500);
const PLAN_SETTLE_MAX: Duration = Duration::from_secs(5);

/// Plans the incidents whose settle time is over, with the dependents they have now.
fn plan_settled_incidents(api: &Api, now: DateTime<Utc>) {
    let due: Vec<(String, crate::planner::HealthEvent)> = {
        let mut deferred = api.inner.planning.deferred.lock();
        let (due, wait): (Vec<_>, Vec<_>) = deferred.drain(..).partition(|(at, _, _)| *at <= now);
        *deferred = wait;
        due.into_iter().map(|(_, root, e)| (root, e)).collect()
    };
    for (root, mut event) in due {
        let dependents = api.inner.planning.incidents.lock().dependents_of(&root);
        if !dependents.is_empty() {
            event
                .payload
                .insert("dependents".into(), dependents.clone().into());
        }
        crate::planning::admit(api, event, dependents);
    }
}

/// Turns incident effects into timeline events, plans and re-probes.
fn carry_out(
    api: &Api,
    config: &Config,
    effects: Vec<Effect>,
    at: DateTime<Utc>,
    batch: &mut Batch,
) {
    for effect in effects {
        match effect {
            Effect::Opened {
                incident_id,
                root,
                reason,
                dependents,
            } => {
                let Some(p) = config.provider(&root) else {
                    continue;
                };
                batch.events.push((
                    at,
                    EngineEvent::IncidentOpened {
                        incident_id: incident_id.clone(),
                        provider_id: root.clone(),
                        node: p.node.clone(),
                        service: p.service.clone(),
                        reason: reason.clone(),
                        dependents: dependents.clone(),
                    },
                ));
                crate::planning::publish_to_bus(
                    api,
                    "service_unhealthy",
                    &p.node,
                    &p.service,
                    "error",
                    serde_json::json!({"provider_id": root, "reason": reason,
                                       "incident_id": incident_id, "dependents": dependents}),
                );
                let mut payload = serde_json::Map::new();
                payload.insert("provider_id".into(), root.clone().into());
                payload.insert("kind".into(), p.target.kind().into());
                payload.insert("reason".into(), reason.clone().into());
                payload.insert("incident_id".into(), incident_id.into());
                let event = crate::planner::HealthEvent {
                    node: p.node.clone(),
                    service: p.service.clone(),
                    event_type: "service_unhealthy".into(),
                    severity: "error".into(),
                    payload,
                    timestamp: at,
                    raw_channel: "breaker".into(),
                };
                // Planned a moment later, so dependents failing in the same tick are
                // part of the plan.
                let settle = chrono::Duration::from_std(
                    config.probe.timeout.clamp(PLAN_SETTLE_MIN, PLAN_SETTLE_MAX),
                )
                .unwrap_or(chrono::Duration::seconds(1));
                api.inner
                    .planning
                    .deferred
                    .lock()
                    .push((at + settle, root.clone(), event));
            }
            Effect::Joined {
                incident_id,
                member,
                root,
            } => {
                let Some(p) = config.provider(&member) else {
                    continue;
                };
                batch.events.push((
                    at,
                    EngineEvent::IncidentJoined {
                        incident_id,
                        provider_id: member.clone(),
                        node: p.node.clone(),
                        service: p.service.clone(),
                        root,
                    },
                ));
            }
            Effect::Recheck(ids) => {
                let api2 = api.clone();
                api.inner.planning.tracker().spawn(async move {
                    let probes = ids.iter().map(|id| api2.inner.monitor.probe_now(id));
                    futures::future::join_all(probes).await;
                });
            }
            Effect::Resolved {
                incident_id,
                root,
                dependents,
                still_down,
                down_for_secs,
            } => {
                let Some(p) = config.provider(&root) else {
                    continue;
                };
                crate::planning::publish_to_bus(
                    api,
                    "service_healthy",
                    &p.node,
                    &p.service,
                    "info",
                    serde_json::json!({"provider_id": root, "incident_id": incident_id,
                                       "down_for_secs": down_for_secs}),
                );
                batch.events.push((
                    at,
                    EngineEvent::IncidentResolved {
                        incident_id,
                        provider_id: root.clone(),
                        node: p.node.clone(),
                        service: p.service.clone(),
                        dependents,
                        still_down,
                        down_for_secs,
                    },
                ));
            }
            Effect::ObserverDegraded {
                failing,
                total,
                nodes,
            } => batch.events.push((
                at,
                EngineEvent::ObserverDegraded {
                    failing,
                    total,
                    nodes,
                },
            )),
            Effect::ObserverRecovered => batch.events.push((at, EngineEvent::ObserverRecovered)),
        }
    }
}

/// Feeds breaker transitions and probe results to the incident rules.
fn track_incidents(
    api: &Api,
    config: &Arc<Config>,
    fleets: &mut FleetCache,
    r: &ProbeReport,
    batch: &mut Batch,
) {
    let fleet = fleets.get(api, config);
    let mut effects = Vec::new();
    {
        let mut incidents = api.inner.planning.incidents.lock();
        if r.outcome.is_ok() {
            incidents.on_probe_ok(&r.provider_id, r.at);
        }
        for t in &r.transitions {
            match t {
                Transition::Opened {
                    reason,
                    reopened: false,
                    ..
                } => effects.extend(incidents.on_opened(fleet, &r.provider_id, reason, r.at)),
                Transition::Closed => {
                    effects.extend(incidents.on_closed(fleet, &r.provider_id, r.at))
                }
                _ => {}
            }
        }
    }
    if let Some(p) = config.provider(&r.provider_id) {
        let key = format!("{}/{}", p.node, p.service);
        for t in &r.transitions {
            match t {
                Transition::Opened {
                    reopened: false, ..
                } => api.inner.planning.flaps.lock().note(&key, false, r.at),
                Transition::Closed => api.inner.planning.flaps.lock().note(&key, true, r.at),
                _ => {}
            }
        }
    }
    carry_out(api, config, effects, r.at, batch);
}

/// Applies one probe report to the live board and the pending batch.
fn apply(api: &Api, r: ProbeReport, batch: &mut Batch) {
    let config = api.config();
    let latency_ms = (r.latency.as_secs_f64() * 1_000_000.0).round() / 1000.0;
    let ok = r.outcome.is_ok();
    {
        let mut live = api.inner.live.write();
        let l = live.entry(r.provider_id.clone()).or_default();
        l.last_checked_at = Some(r.at);
        l.last_outcome = Some(r.outcome);
        l.last_latency_ms = ok.then_some(latency_ms);
        l.last_probe_error = r.error.clone();
        l.push_spark(r.at, ok.then_some(latency_ms));
        if let Some(p) = config.provider(&r.provider_id) {
            for t in &r.transitions {
                let down_for = match t {
                    Transition::Opened {
                        reopened: false, ..
                    } => {
                        l.down_since
                            .get_or_insert(r.state.last_failure_at.unwrap_or(r.at));
                        None
                    }
                    Transition::Closed => l
                        .down_since
                        .take()
                        .map(|since| (r.at - since).num_seconds()),
                    _ => None,
                };
                batch.events.push((r.at, event_for(p, t, down_for)));
            }
        }
    }
    if r.counted {
        // Keep the cached 24 h uptime current between its periodic recomputations.
        if let Ok(mut cache) = api.inner.uptime.try_lock() {
            let e = cache.1.entry(r.provider_id.clone()).or_insert((0, 0));
            e.0 += 1;
            e.1 += i64::from(ok);
        }
        batch.samples.push(Sample {
            provider_id: r.provider_id.clone(),
            at: r.at,
            ok,
            latency_ms: (r.outcome != crate::health::monitor::Outcome::Timeout)
                .then_some(latency_ms),
            outcome: r.outcome.as_str().to_owned(),
            error: r.error.clone(),
        });
    }
    batch.states.insert(r.provider_id.clone(), r.state);
    if let Some(view) = api.view_now(&r.provider_id) {
        let _ = api
            .inner
            .updates
            .send(Update::ProviderUpdated { provider: view });
    }
}

async fn flush(api: &Api, batch: &mut Batch) {
    if batch.is_empty() {
        return;
    }
    let samples = batch.samples.len();
    let started = std::time::Instant::now();
    match api.inner.store.write_batch_ref(batch).await {
        Ok(records) => {
            let events = std::mem::take(batch).events;
            tracing::debug!(
                samples,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "flushed"
            );
            for (record, (_, event)) in records.into_iter().zip(events) {
                match event.severity() {
                    crate::events::Severity::Error => {
                        tracing::warn!(event = record.kind, "{}", record.message)
                    }
                    _ => tracing::info!(event = record.kind, "{}", record.message),
                }
                let _ = api.inner.updates.send(Update::Event { record, event });
            }
        }
        // The database is unavailable: keep the results (the oldest samples beyond a
        // bound go, counted) and retry on the next flush. Events and breaker states are few
        // and all kept: they are what the timeline must not lose.
        Err(e) if e.unavailable().is_some() => {
            tracing::debug!(error = %e, samples, "writing probe results failed; will retry");
            if batch.samples.len() > BACKLOG_SAMPLES {
                let n = batch.samples.len() - BACKLOG_SAMPLES;
                batch.samples.drain(..n);
                api.inner.store.health().dropped_samples(n as u64);
            }
        }
        // Anything else would fail again the same way: drop this batch, keep recording.
        Err(e) => {
            *batch = Batch::default();
            tracing::error!(error = %e, samples, "writing probe results failed; dropped them");
        }
    }
    publish_status(api);
}

async fn record(api: Api, mut rx: mpsc::Receiver<MonitorEvent>, cancel: CancellationToken) {
    let mut batch = Batch::default();
    let mut fleets = FleetCache {
        config: None,
        fleet: Fleet::default(),
    };
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            msg = rx.recv() => match msg {
                None => break,
                Some(MonitorEvent::Probed(r)) => {
                    let transitions = !r.transitions.is_empty();
                    if transitions || r.outcome.is_ok() {
                        track_incidents(&api, &api.config(), &mut fleets, &r, &mut batch);
                    }
                    apply(&api, r, &mut batch);
                    // While writes fail, only the tick retries (not every report).
                    if (transitions || batch.samples.len() >= FLUSH_AT)
                        && api.inner.store.health().is_ok()
                    {
                        flush(&api, &mut batch).await;
                    }
                }
                Some(MonitorEvent::Woke { at, gap }) => {
                    batch.events.push((at, EngineEvent::WokeFromSleep { gap_secs: gap.as_secs() }));
                    flush(&api, &mut batch).await;
                }
                Some(MonitorEvent::Flush(done)) => {
                    flush(&api, &mut batch).await;
                    let _ = done.send(());
                }
            },
            _ = tick.tick() => {
                let config = api.config();
                let now = api.now();
                let effects = {
                    let fleet = fleets.get(&api, &config);
                    api.inner.planning.incidents.lock().tick(fleet, now)
                };
                carry_out(&api, &config, effects, now, &mut batch);
                plan_settled_incidents(&api, now);
                flush(&api, &mut batch).await
            }
        }
    }
    // Drain what the monitor already sent, then write it: shutdown loses nothing.
    while let Ok(msg) = rx.try_recv() {
        if let MonitorEvent::Probed(r) = msg {
            apply(&api, r, &mut batch);
        }
    }
    flush(&api, &mut batch).await;
}

/// Expires proposals nobody decided on in time.
async fn expire_proposals(api: Api, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tick.tick() => {
                crate::executing::expire(&api).await;
            }
        }
    }
}

/// Folds old samples into hourly rows and applies `[store] keep` (`retention`): at start,
/// then hourly.
async fn retain(api: Api, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tick.tick() => {
                let now = api.now();
                let raw = chrono::Duration::from_std(api.config().probe.raw_retention)
                    .unwrap_or(chrono::Duration::hours(48));
                match api.inner.store.compact(now - raw, now - LONG_RETENTION).await {
                    Ok(n) if n > 0 => tracing::info!(folded = n, "compacted probe history"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "compacting probe history failed"),
                }
                match crate::retention::prune(&api, now).await {
                    Ok(p) if !p.is_empty() => tracing::info!(?p, "pruned old history"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "pruning old history failed"),
                }
            }
        }
    }
}

/// Applies a new config: breakers keep their state, the monitor keeps known schedules.
pub(crate) async fn apply_config(api: &Api, config: Config) -> Result<(), EngineError> {
    let inner = &api.inner;
    inner.breakers.set_default_policy(config.probe_policy());
    for p in &config.providers {
        inner.breakers.register(&p.id, p.policy, None);
    }
    let ids: std::collections::HashSet<String> =
        config.providers.iter().map(|p| p.id.clone()).collect();
    inner.breakers.retain(&|id| ids.contains(id));
    inner
        .monitor
        .set_targets(targets(&config, &inner.factory))?;
    let providers = config.providers.len();
    inner
        .planning
        .gate
        .lock()
        .cooldowns
        .set_period(crate::planning::cooldown_of(&config));
    if config.bus.as_ref().map(|b| (&b.redis_url, &b.channels))
        != inner
            .config
            .load()
            .bus
            .as_ref()
            .map(|b| (&b.redis_url, &b.channels))
    {
        tracing::warn!("[bus] changed: the new bus settings apply after a restart");
    }
    inner.config.store(Arc::new(config));
    inner.config_errors.write().clear();
    publish_event(api, EngineEvent::ConfigReloaded { providers }).await?;
    Ok(())
}

/// Keeps the last good config and reports why the new one was refused.
pub(crate) async fn reject_config(api: &Api, error: ConfigError) {
    let issues = error.issues();
    tracing::error!("config rejected, keeping the last good one:\n{error}");
    *api.inner.config_errors.write() = issues.clone();
    if let Err(e) = publish_event(api, EngineEvent::ConfigRejected { issues }).await {
        tracing::warn!(error = %e, "could not record the config error");
    }
}

impl Api {
    /// Reads the config file again (also what the watcher does on change).
    pub async fn reload_config(&self) -> Result<(), ApiError> {
        let Some(path) = self.config().source.clone() else {
            return Err(ApiError::BadRequest(
                "this engine runs without a config file".into(),
            ));
        };
        match Config::load(&path) {
            Ok(c) => apply_config(self, c)
                .await
                .map_err(|e| ApiError::BadRequest(e.to_string())),
            Err(e) => {
                let msg = e.to_string();
                reject_config(self, e).await;
                Err(ApiError::BadRequest(msg))
            }
        }
    }
}

use crate::api::ApiError;

/// Watches the config file's directory (editors replace files by rename) and reloads
/// after changes settle.
async fn watch_config(api: Api, path: PathBuf, cancel: CancellationToken) {
    use notify::{RecursiveMode, Watcher};
    let (tx, mut rx) = mpsc::channel::<()>(16);
    let name = path.file_name().map(|n| n.to_owned());
    let handler = move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res {
            if ev.paths.iter().any(|p| p.file_name() == name.as_deref()) {
                // Full channel: a reload is already pending, which is all we need.
                let _ = tx.try_send(());
            }
        }
    };
    let mut watcher = match notify::recommended_watcher(handler) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the config file; reload by restarting");
            return;
        }
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if let Err(e) = watcher.watch(dir, RecursiveMode::NonRecursive) {
        tracing::warn!(error = %e, dir = %dir.display(), "cannot watch the config directory");
        return;
    }
    let mut last = std::fs::read(&path).ok();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            got = rx.recv() => {
                if got.is_none() { break; }
                // Let a burst of writes settle.
                tokio::time::sleep(Duration::from_millis(300)).await;
                while rx.try_recv().is_ok() {}
                let now = std::fs::read(&path).ok();
                if now.is_none() || now == last {
                    continue;
                }
                last = now;
                let _ = api.reload_config().await;
            }
        }
    }
}
