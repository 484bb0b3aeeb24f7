//! The only writer of probe results: the live board, incidents, and their events.
//!
//! Owns: the recorder task (it reads every `MonitorEvent`, batches samples, breaker
//! states and events into one transaction per flush — at most every `FLUSH_EVERY`, or at
//! once when a breaker changed state — and announces them through the outbox), the live
//! board (`Live` per provider, the 24 h uptime cache), the incident rules' state and its
//! effects (timeline events, bus messages, re-probes, and a plan for each new incident a
//! moment after it opened, so dependents failing in the same tick are part of it), and
//! the provider queries, and the probe counts since start that `GET /metrics` reads
//! (durations and failures per provider in the live board, outcomes for the fleet).
//! Does not own: probing (`monitor`), breaker decisions (`breaker`), incident rules
//! (`incidents`, pure), or planning (it hands incidents to the planner's intake).

use crate::config::{Config, ProviderConfig};
use crate::context::Context;
use crate::events::EngineEvent;
use crate::health::breaker::{BreakerState, Breakers, Transition};
use crate::health::incidents::{Effect, Fleet, Incidents, Member};
use crate::health::monitor::{Monitor, MonitorEvent, Outcome, ProbeReport};
use crate::health::prober::Prober;
use crate::health::tally::Outcomes;
use crate::health::view::ProviderStatus;
use crate::health::view::{status_of, view, Live, ProviderDetail, ProviderView};
use crate::heap::{self, Trim};
use crate::outbox::Update;
use crate::pace::Pace;
use crate::planner::intake::Intake;
use crate::planner::HealthEvent;
use crate::status::{natural_cmp, Counts, DOWN_LISTED};
use crate::store::{Batch, Sample, Store, StoreError};
use chrono::{DateTime, Utc};
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The longest a probe result waits before it is written.
pub const FLUSH_EVERY: Duration = Duration::from_millis(500);

/// The tick when no probe reports and no incident waits (a report brings it back).
const QUIET_EVERY: Duration = Duration::from_secs(10);
/// A batch this large is written at once. At 10,000 providers a tick's results arrive
/// at ~10,000 a second; with batches of 5,000 (and the reports queued behind their
/// write) the engine peaked 5–8 MiB higher than with 1,000, at the same CPU per probe
/// (paired runs of `cargo bench --bench probe_engine`).
const FLUSH_AT: usize = 1000;
/// Most probe samples held while the database cannot be written (about 10 MB); beyond it
/// the oldest are dropped and counted in the status (`storage.dropped_samples`).
const BACKLOG_SAMPLES: usize = 100_000;
/// While probe results keep coming, the heap a burst freed is given back at least this
/// often (and each time the recorder goes quiet after one).
const TRIM_EVERY: Duration = Duration::from_secs(60);
/// How long the 24 h uptime counts are reused before they are read again.
const UPTIME_TTL: Duration = Duration::from_secs(30);
/// How long a new incident's plan waits for dependents failing in the same tick (the
/// probe timeout, within these bounds).
const PLAN_SETTLE_MIN: Duration = Duration::from_millis(500);
const PLAN_SETTLE_MAX: Duration = Duration::from_secs(5);

/// `(samples, ok)` per provider over 24 h, and when it was computed.
type UptimeCache = (Option<tokio::time::Instant>, HashMap<String, (i64, i64)>);

pub struct Recorder {
    ctx: Arc<Context>,
    breakers: Arc<Breakers>,
    monitor: Arc<Monitor>,
    prober: Prober,
    /// Boxed: a `Live` is 224 bytes and the table keeps over a third of its slots empty
    /// (unboxed, 10,000 providers took 16,384 slots, 4.5 MB in `heaptrack`).
    live: RwLock<HashMap<String, Box<Live>>>,
    uptime: tokio::sync::Mutex<UptimeCache>,
    incidents: Arc<Mutex<Incidents>>,
    /// New incidents waiting a moment before they are planned: (when, root, event). One
    /// per incident root (a configured provider), so bounded by the config.
    deferred: Mutex<Vec<(DateTime<Utc>, String, HealthEvent)>>,
    intake: Arc<Intake>,
    /// The fleet's counted probes by outcome since start (`GET /metrics`).
    outcomes: Outcomes,
}

impl Recorder {
    /// The board starts from the last hour of stored samples.
    pub async fn new(
        ctx: Arc<Context>,
        breakers: Arc<Breakers>,
        prober: Prober,
        monitor: Arc<Monitor>,
        incidents: Arc<Mutex<Incidents>>,
        intake: Arc<Intake>,
    ) -> Result<Arc<Recorder>, StoreError> {
        let mut live = seed_live(&ctx.store, ctx.now()).await?;
        // Sized once for the fleet, not grown by doubling through the first tick.
        let providers = ctx.config().providers.len();
        live.reserve(providers.saturating_sub(live.len()));
        Ok(Arc::new(Recorder {
            ctx,
            breakers,
            monitor,
            prober,
            live: RwLock::new(live),
            uptime: tokio::sync::Mutex::new((None, HashMap::new())),
            incidents,
            deferred: Mutex::new(Vec::new()),
            intake,
            outcomes: Outcomes::default(),
        }))
    }

    fn view_of(
        &self,
        p: &ProviderConfig,
        live: Option<&Live>,
        uptime: Option<(i64, i64)>,
        now: DateTime<Utc>,
    ) -> ProviderView {
        let state = self.breakers.state(&p.id).unwrap_or_default();
        view(p, &state, live, uptime, now)
    }

    async fn uptimes(&self) -> HashMap<String, (i64, i64)> {
        let mut cache = self.uptime.lock().await;
        let fresh = cache.0.is_some_and(|t| t.elapsed() < UPTIME_TTL);
        if !fresh {
            let since = self.ctx.now() - chrono::Duration::hours(24);
            match self.ctx.store.uptime_counts(since).await {
                Ok(counts) => *cache = (Some(tokio::time::Instant::now()), counts),
                Err(e) => tracing::warn!(error = %e, "uptime query failed"),
            }
        }
        cache.1.clone()
    }

    /// One provider's view without touching the database (used for live updates).
    pub fn view_now(&self, id: &str) -> Option<ProviderView> {
        let config = self.ctx.config();
        let p = config.provider(id)?;
        let live = self.live.read();
        let uptime = self
            .uptime
            .try_lock()
            .ok()
            .and_then(|c| c.1.get(id).copied());
        Some(self.view_of(p, live_of(&live, id), uptime, self.ctx.now()))
    }

    pub async fn providers(&self) -> Vec<ProviderView> {
        let uptimes = self.uptimes().await;
        let config = self.ctx.config();
        let live = self.live.read();
        let now = self.ctx.now();
        config
            .providers
            .iter()
            .map(|p| self.view_of(p, live_of(&live, &p.id), uptimes.get(&p.id).copied(), now))
            .collect()
    }

    /// One provider with its last 24 h of samples and 30 days of hourly rows; `None` for
    /// an id the config does not have.
    pub async fn provider(&self, id: &str) -> Result<Option<ProviderDetail>, StoreError> {
        let config = self.ctx.config();
        let Some(p) = config.provider(id) else {
            return Ok(None);
        };
        let uptimes = self.uptimes().await;
        let now = self.ctx.now();
        let provider = {
            let live = self.live.read();
            self.view_of(p, live_of(&live, id), uptimes.get(id).copied(), now)
        };
        let history = self
            .ctx
            .store
            .history(id, now - chrono::Duration::hours(24))
            .await?;
        let hourly = self
            .ctx
            .store
            .hourly(id, now - chrono::Duration::days(30))
            .await?;
        Ok(Some(ProviderDetail {
            provider,
            history,
            hourly,
        }))
    }

    /// Probes one provider now and answers its new view (`None`: not probed, unknown or
    /// disabled).
    pub async fn probe(&self, id: &str) -> Option<ProviderView> {
        self.prober.probe(id).await?;
        self.view_now(id)
    }

    /// The providers counted by status at `now`, and the first `DOWN_LISTED` of those in
    /// error in natural order (no database read, no view built: the status task runs
    /// this on every change, at 10,000 providers too).
    pub fn counts(&self, config: &Config, now: DateTime<Utc>) -> (Counts, Vec<String>) {
        let live = self.live.read();
        let mut counts = Counts::default();
        let mut down: Vec<&str> = Vec::new();
        for p in &config.providers {
            let state = self.breakers.state(&p.id).unwrap_or_default();
            let last = live_of(&live, &p.id).and_then(|l| l.last_outcome);
            let status = status_of(p.enabled, state.phase(now), &state, last);
            if status == ProviderStatus::Error {
                down.push(&p.id);
            }
            counts.add(status);
        }
        let n = down.len().min(DOWN_LISTED);
        if n > 0 && n < down.len() {
            down.select_nth_unstable_by(n - 1, |a, b| natural_cmp(a, b));
        }
        down.truncate(n);
        down.sort_by(|a, b| natural_cmp(a, b));
        (counts, down.into_iter().map(str::to_owned).collect())
    }

    /// Calls `f` with each configured provider, its breaker state and its live results
    /// (`None` before its first probe), in config order: what a scrape of `GET /metrics`
    /// reads, from memory only (no database read, at 10,000 providers too).
    pub fn each_provider(
        &self,
        config: &Config,
        mut f: impl FnMut(&ProviderConfig, &BreakerState, Option<&Live>),
    ) {
        let live = self.live.read();
        for p in &config.providers {
            let state = self.breakers.state(&p.id).unwrap_or_default();
            f(p, &state, live_of(&live, &p.id));
        }
    }

    /// The fleet's counted probes by outcome since start.
    pub fn outcomes(&self) -> Vec<(Outcome, u64)> {
        self.outcomes.counts()
    }

    /// Whether this workstation's network looks down (most providers failing at once).
    pub fn observer_degraded(&self) -> bool {
        self.incidents.lock().observer_degraded()
    }

    /// Open incidents.
    pub fn incident_count(&self) -> usize {
        self.incidents.lock().incidents().len()
    }

    /// No incident is waiting to be planned.
    pub fn nothing_deferred(&self) -> bool {
        self.deferred.lock().is_empty()
    }

    /// The recorder task: runs until `cancel`, then writes what the monitor already sent.
    pub async fn run(
        self: Arc<Self>,
        mut rx: mpsc::Receiver<MonitorEvent>,
        cancel: CancellationToken,
    ) {
        let mut batch = Batch::default();
        let mut fleets = FleetCache {
            config: None,
            fleet: Fleet::default(),
        };
        let mut pace = Pace::new(FLUSH_EVERY, QUIET_EVERY);
        let mut trim = Trim::new(TRIM_EVERY);
        loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                msg = rx.recv() => match msg {
                    None => break,
                    Some(MonitorEvent::Probed(r)) => {
                        pace.stir();
                        let transitions = !r.transitions.is_empty();
                        if transitions || r.outcome.is_ok() {
                            self.track_incidents(&self.ctx.config(), &mut fleets, &r, &mut batch);
                        }
                        self.apply(r, &mut batch);
                        // While writes fail, only the tick retries (not every report).
                        if (transitions || batch.samples.len() >= FLUSH_AT)
                            && self.ctx.store.health().is_ok()
                        {
                            self.flush(&mut batch).await;
                        }
                    }
                    Some(MonitorEvent::Woke { at, gap }) => {
                        batch.events.push((at, EngineEvent::WokeFromSleep { gap_secs: gap.as_secs() }));
                        self.flush(&mut batch).await;
                    }
                    Some(MonitorEvent::Flush(done)) => {
                        self.flush(&mut batch).await;
                        // The asker may have given up waiting; nothing to tell it then.
                        let _ = done.send(());
                    }
                },
                _ = pace.tick() => {
                    let config = self.ctx.config();
                    let now = self.ctx.now();
                    let effects = {
                        let fleet = fleets.get(&self.incidents, &config);
                        self.incidents.lock().tick(fleet, now)
                    };
                    self.carry_out(&config, effects, now, &mut batch);
                    self.plan_settled_incidents(now);
                    let had_work = !batch.is_empty();
                    self.flush(&mut batch).await;
                    // Nothing written, no incident settling or open, no plan waiting: the
                    // next probe report (or `QUIET_EVERY`) wakes the tick again.
                    let quiet = !had_work
                        && batch.is_empty()
                        && self.incidents.lock().is_quiet()
                        && self.nothing_deferred();
                    if trim.after(had_work, quiet, tokio::time::Instant::now()) {
                        give_back_freed_heap();
                    }
                    pace.next(quiet);
                }
            }
        }
        // Drain what the monitor already sent, then write it: shutdown loses nothing.
        while let Ok(msg) = rx.try_recv() {
            if let MonitorEvent::Probed(r) = msg {
                self.apply(r, &mut batch);
            }
        }
        self.flush(&mut batch).await;
    }

    /// Plans the incidents whose settle time is over, with the dependents they have now.
    fn plan_settled_incidents(&self, now: DateTime<Utc>) {
        let due: Vec<(String, HealthEvent)> = {
            let mut deferred = self.deferred.lock();
            let (due, wait): (Vec<_>, Vec<_>) =
                deferred.drain(..).partition(|(at, _, _)| *at <= now);
            *deferred = wait;
            due.into_iter().map(|(_, root, e)| (root, e)).collect()
        };
        for (root, mut event) in due {
            let dependents = self.incidents.lock().dependents_of(&root);
            if !dependents.is_empty() {
                event
                    .payload
                    .insert("dependents".into(), dependents.clone().into());
            }
            self.intake.admit(event, dependents);
        }
    }

    /// Turns incident effects into timeline events, plans and re-probes.
    fn carry_out(
        &self,
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
                    if let Some(p) = config.provider(&root) {
                        let opened = Opened {
                            incident_id,
                            reason,
                            dependents,
                        };
                        self.incident_opened(config, p, opened, at, batch);
                    }
                }
                Effect::Joined {
                    incident_id,
                    member,
                    root,
                } => {
                    if let Some(p) = config.provider(&member) {
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
                }
                Effect::Recheck(ids) => {
                    let monitor = Arc::clone(&self.monitor);
                    self.ctx.spawn(async move {
                        let probes = ids.iter().map(|id| monitor.probe_now(id));
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
                    self.ctx.outbox.to_bus(
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
                Effect::ObserverRecovered => {
                    batch.events.push((at, EngineEvent::ObserverRecovered))
                }
            }
        }
    }

    /// A new incident: its timeline event, its bus message, and its plan, deferred a
    /// moment so dependents failing in the same tick are part of it.
    fn incident_opened(
        &self,
        config: &Config,
        p: &ProviderConfig,
        o: Opened,
        at: DateTime<Utc>,
        batch: &mut Batch,
    ) {
        let root = &p.id;
        batch.events.push((
            at,
            EngineEvent::IncidentOpened {
                incident_id: o.incident_id.clone(),
                provider_id: root.clone(),
                node: p.node.clone(),
                service: p.service.clone(),
                reason: o.reason.clone(),
                dependents: o.dependents.clone(),
            },
        ));
        self.ctx.outbox.to_bus(
            "service_unhealthy",
            &p.node,
            &p.service,
            "error",
            serde_json::json!({"provider_id": root, "reason": o.reason,
                               "incident_id": o.incident_id, "dependents": o.dependents}),
        );
        let mut payload = serde_json::Map::new();
        payload.insert("provider_id".into(), root.clone().into());
        payload.insert("kind".into(), p.target.kind().into());
        payload.insert("reason".into(), o.reason.into());
        payload.insert("incident_id".into(), o.incident_id.into());
        let event = HealthEvent {
            node: p.node.clone(),
            service: p.service.clone(),
            event_type: "service_unhealthy".into(),
            severity: "error".into(),
            payload,
            timestamp: at,
            raw_channel: "breaker".into(),
        };
        let settle = chrono::Duration::from_std(
            config.probe.timeout.clamp(PLAN_SETTLE_MIN, PLAN_SETTLE_MAX),
        )
        .unwrap_or(chrono::Duration::seconds(1));
        self.deferred
            .lock()
            .push((at + settle, root.clone(), event));
    }

    /// Feeds breaker transitions and probe results to the incident rules.
    fn track_incidents(
        &self,
        config: &Arc<Config>,
        fleets: &mut FleetCache,
        r: &ProbeReport,
        batch: &mut Batch,
    ) {
        let fleet = fleets.get(&self.incidents, config);
        let mut effects = Vec::new();
        {
            let mut incidents = self.incidents.lock();
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
            let key = crate::planner::svc_key(&p.node, &p.service);
            for t in &r.transitions {
                match t {
                    Transition::Opened {
                        reopened: false, ..
                    } => self.intake.note_flap(&key, false, r.at),
                    Transition::Closed => self.intake.note_flap(&key, true, r.at),
                    _ => {}
                }
            }
        }
        self.carry_out(config, effects, r.at, batch);
    }

    /// Applies one probe report to the live board and the pending batch.
    fn apply(&self, r: ProbeReport, batch: &mut Batch) {
        let config = self.ctx.config();
        let latency_ms = (r.latency.as_secs_f64() * 1_000_000.0).round() / 1000.0;
        let ok = r.outcome.is_ok();
        {
            let mut live = self.live.write();
            let l = live.entry(r.provider_id.clone()).or_default();
            l.last_checked_at = Some(r.at);
            l.last_outcome = Some(r.outcome);
            l.last_latency_ms = ok.then_some(latency_ms);
            l.last_probe_error = r.error.clone();
            l.push_spark(r.at, ok.then_some(latency_ms));
            if r.counted {
                l.tally.observe(r.latency, r.outcome);
            }
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
                    batch
                        .events
                        .push((r.at, EngineEvent::of_transition(p, t, down_for)));
                }
            }
        }
        if r.counted {
            self.outcomes.add(r.outcome);
            // Keep the cached 24 h uptime current between its periodic recomputations.
            if let Ok(mut cache) = self.uptime.try_lock() {
                let e = cache.1.entry(r.provider_id.clone()).or_insert((0, 0));
                e.0 += 1;
                e.1 += i64::from(ok);
            }
            batch.samples.push(Sample {
                provider_id: r.provider_id.clone(),
                at: r.at,
                ok,
                latency_ms: (r.outcome != Outcome::Timeout).then_some(latency_ms),
                outcome: r.outcome.as_str().to_owned(),
                error: r.error.clone(),
            });
        }
        batch.states.insert(r.provider_id.clone(), r.state);
        if !self.ctx.outbox.has_listeners() {
            return;
        }
        if let Some(view) = self.view_now(&r.provider_id) {
            self.ctx
                .outbox
                .send(Update::ProviderUpdated { provider: view });
        }
    }

    async fn flush(&self, batch: &mut Batch) {
        if batch.is_empty() {
            return;
        }
        let samples = batch.samples.len();
        let started = std::time::Instant::now();
        match self.ctx.store.write_batch_ref(batch).await {
            Ok(records) => {
                let events = std::mem::take(batch).events;
                tracing::debug!(
                    samples,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "flushed"
                );
                self.ctx
                    .outbox
                    .announce(records, events.into_iter().map(|(_, e)| e).collect());
            }
            // The database is unavailable: keep the results (the oldest samples beyond a
            // bound go, counted) and retry on the next flush. Events and breaker states are
            // few and all kept: they are what the timeline must not lose.
            Err(e) if e.unavailable().is_some() => {
                tracing::debug!(error = %e, samples, "writing probe results failed; will retry");
                if batch.samples.len() > BACKLOG_SAMPLES {
                    let n = batch.samples.len() - BACKLOG_SAMPLES;
                    batch.samples.drain(..n);
                    self.ctx.store.health().dropped_samples(n as u64);
                }
            }
            // Anything else would fail again the same way: drop this batch, keep recording.
            Err(e) => {
                *batch = Batch::default();
                tracing::error!(error = %e, samples, "writing probe results failed; dropped them");
            }
        }
        self.ctx.outbox.status_changed();
    }
}

/// One provider's live results, if it has been probed.
fn live_of<'a>(live: &'a HashMap<String, Box<Live>>, id: &str) -> Option<&'a Live> {
    live.get(id).map(Box::as_ref)
}

/// A probe tick's reports, samples and connections are freed once it is written; glibc
/// keeps those pages in its arenas (at 10,000 providers, about 10 MiB between ticks)
/// until they are given back.
fn give_back_freed_heap() {
    let started = std::time::Instant::now();
    let released = heap::give_back();
    tracing::debug!(
        released,
        elapsed_us = started.elapsed().as_micros() as u64,
        "gave freed heap back"
    );
}

/// What an `Effect::Opened` carries besides its root.
struct Opened {
    incident_id: String,
    reason: String,
    dependents: Vec<String>,
}

async fn seed_live(
    store: &Store,
    now: DateTime<Utc>,
) -> Result<HashMap<String, Box<Live>>, StoreError> {
    let mut live: HashMap<String, Box<Live>> = HashMap::new();
    for s in store
        .recent_samples(now - chrono::Duration::hours(1))
        .await?
    {
        let l = live.entry(s.provider_id.clone()).or_default();
        l.last_checked_at = Some(s.at);
        l.last_outcome = Outcome::parse(&s.outcome);
        l.last_latency_ms = s.ok.then_some(s.latency_ms).flatten();
        l.last_probe_error = s.error.clone();
        l.push_spark(s.at, s.ok.then_some(s.latency_ms).flatten());
    }
    Ok(live)
}

/// The incident rules' view of the config.
pub fn fleet_of(config: &Config) -> Fleet {
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
    fn get(&mut self, incidents: &Mutex<Incidents>, config: &Arc<Config>) -> &Fleet {
        if !self.config.as_ref().is_some_and(|c| Arc::ptr_eq(c, config)) {
            self.fleet = fleet_of(config);
            self.config = Some(Arc::clone(config));
            incidents.lock().retain(&self.fleet);
        }
        &self.fleet
    }
}
