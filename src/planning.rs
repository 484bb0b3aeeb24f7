//! Wires the planner into the engine: events in, proposals out.
//!
//! Owns: the intake (every source calls `admit`: the bus task, `POST /api/events`, the
//! breaker via incidents), the batched timeline writes for accepted events, the planning
//! tasks (bounded: `PLAN_SLOTS` at once, `PLAN_QUEUE` waiting, beyond that an event is
//! counted as overload and not planned, with no cooldown, so a later one retries), and the
//! effects of a plan: proposal row, cooldown row, action file, `remediation_started`
//! file, timeline event, live update, bus message.
//! Does not own: decisions. The gate, the router, the policy and the incidents decide;
//! this module carries their results to the store and the world.
//!
//! Growth: every collection here that event data can grow is bounded — the gate's and
//! the flaps' maps by their caps (`planner::gate::MAX_*`), the timeline queue by
//! `RECORD_QUEUE`, the plan queue by `PLAN_QUEUE`; `deferred` holds at most one entry per
//! incident root, i.e. per configured provider (only breaker trips add to it), and the
//! incidents' maps and the router's per-model stats are keyed by config ids.

use crate::api::{Api, ApiError, Update};
use crate::bus::{Bus, BusInput, BusStatus};
use crate::events::EngineEvent;
use crate::health::incidents::Incidents;
use crate::planner::gate::{Admission, Flaps, Gate, IntakeCounts, Target};
use crate::planner::policy::{decide, Rules};
use crate::planner::prompt::{build_messages, Topology};
use crate::planner::proposal::{emit_event, write_action, write_pending_action, FsEvent, Proposal};
use crate::planner::router::Router;
use crate::planner::rules::RULES_MODEL;
use crate::planner::{parse_message, HealthEvent, Rejected};
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Plans running at once (each may wait on a model for its whole timeout).
pub const PLAN_SLOTS: usize = 8;
/// Plans waiting for a slot; beyond this, events are counted as overload.
pub const PLAN_QUEUE: usize = 256;
/// Accepted events waiting to be written to the timeline; beyond this they are counted.
const RECORD_QUEUE: usize = 20_000;
/// How often accepted events are written to the timeline.
const RECORD_EVERY: Duration = Duration::from_millis(250);
/// Default cooldown per `svc_key`.
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(300);

pub(crate) struct Planning {
    pub gate: Mutex<Gate>,
    pub flaps: Mutex<Flaps>,
    pub incidents: Mutex<Incidents>,
    pub router: Router,
    pub bus: Option<Bus>,
    pub pending: AtomicI64,
    pub overload: std::sync::atomic::AtomicU64,
    pub echoes: std::sync::atomic::AtomicU64,
    /// Expiry ticks run and proposals they read (`executing::expire`).
    pub(crate) expiry_ticks: std::sync::atomic::AtomicU64,
    pub(crate) expiry_rows_read: std::sync::atomic::AtomicU64,
    slots: Arc<Semaphore>,
    queued: AtomicUsize,
    records: Mutex<Vec<(DateTime<Utc>, EngineEvent)>>,
    /// New incidents waiting a moment before they are planned: (when, root, event). One
    /// per incident root (a configured provider), so bounded by the config.
    pub deferred: Mutex<Vec<(DateTime<Utc>, String, HealthEvent)>>,
    /// Automatic runs per service in the last hour (the auto-execution budget).
    pub(crate) auto_runs: Mutex<crate::executing::AutoRuns>,
    /// Output of the commands running now.
    pub(crate) live_runs: crate::executing::LiveRuns,
    data_dir: PathBuf,
    /// `STEWARD_FAILPOINTS`, read once at start: the crash tests' way to stop the process
    /// with SIGKILL at a named step (see [`failpoint`]).
    failpoints: Vec<String>,
    tracker: TaskTracker,
    cancel: CancellationToken,
}

impl Planning {
    pub fn new(
        router: Router,
        bus: Option<Bus>,
        cooldown: Duration,
        data_dir: PathBuf,
        tracker: TaskTracker,
        cancel: CancellationToken,
    ) -> Planning {
        Planning {
            gate: Mutex::new(Gate::new(cooldown)),
            flaps: Mutex::new(Flaps::default()),
            incidents: Mutex::new(Incidents::new()),
            router,
            bus,
            pending: AtomicI64::new(0),
            overload: Default::default(),
            echoes: Default::default(),
            expiry_ticks: Default::default(),
            expiry_rows_read: Default::default(),
            slots: Arc::new(Semaphore::new(PLAN_SLOTS)),
            queued: AtomicUsize::new(0),
            records: Mutex::new(Vec::new()),
            deferred: Mutex::new(Vec::new()),
            auto_runs: Mutex::new(Default::default()),
            live_runs: Default::default(),
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
}

impl Planning {
    pub fn tracker(&self) -> &TaskTracker {
        &self.tracker
    }

    /// Cancelled when the engine stops (running commands are killed then).
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }
}

/// `[planner] actions_dir`, else `<data dir>/actions`.
pub(crate) fn actions_dir(api: &Api) -> PathBuf {
    api.config()
        .planner
        .as_ref()
        .and_then(|p| p.actions_dir.clone())
        .unwrap_or_else(|| api.inner.planning.data_dir.join("actions"))
}

/// `[planner] events_dir`, else `<data dir>/events`.
pub(crate) fn events_dir(api: &Api) -> PathBuf {
    api.config()
        .planner
        .as_ref()
        .and_then(|p| p.events_dir.clone())
        .unwrap_or_else(|| api.inner.planning.data_dir.join("events"))
}

/// Stops the process at once (SIGKILL, as `kill -9` would) when `STEWARD_FAILPOINTS`
/// names `name`. Only the crash tests set it: they need to stop Steward between two
/// steps that follow each other within microseconds, which no outside `kill` can hit.
pub(crate) fn failpoint(api: &Api, name: &str) {
    if api.inner.planning.failpoints.iter().any(|f| f == name) {
        tracing::warn!(
            failpoint = name,
            "STEWARD_FAILPOINTS: stopping with SIGKILL"
        );
        // Ignored on purpose: if raising fails, there is nothing better to do than go on.
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
}

/// The cooldown from config.
pub fn cooldown_of(config: &crate::config::Config) -> Duration {
    config
        .planner
        .as_ref()
        .and_then(|p| p.cooldown.as_deref())
        .and_then(|c| humantime::parse_duration(c).ok())
        .unwrap_or(DEFAULT_COOLDOWN)
}

/// The chain from config; without one, every configured model in order, then `rules`.
pub fn chain_of(config: &crate::config::Config) -> Vec<String> {
    match config.planner.as_ref().map(|p| &p.chain) {
        Some(chain) if !chain.is_empty() => chain.clone(),
        _ => config
            .models
            .iter()
            .map(|m| m.id.clone())
            .chain([RULES_MODEL.to_owned()])
            .collect(),
    }
}

/// What `POST /api/events` answers.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Accepted {
    pub status: &'static str,
    pub svc_key: String,
    /// `plan`, `benign`, `cooldown`, `in_flight`, `suppressed`, `overload`,
    /// `unknown_target_limited` (a target not in the config, over `[planner]
    /// unknown_target_rate`), `cooldowns_full` or `in_flight_full` (the gate's caps).
    pub decision: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cooldown_remaining_secs: Option<f64>,
}

/// Counters for the API and UI.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IntakeView {
    #[serde(flatten)]
    pub counts: IntakeCounts,
    pub overload: u64,
    pub echoes: u64,
    pub in_flight: usize,
    pub cooldowns: usize,
    pub cooldown_secs: u64,
    pub observer_degraded: bool,
    /// Flap histories forgotten early (`planner::gate::MAX_FLAP_KEYS`).
    pub dropped_flaps: u64,
    /// Plans for targets not in the config in the last minute, and the limit.
    pub unknown_targets_last_minute: usize,
    pub unknown_target_rate: u32,
}

/// Why an event was not planned even though the gate let it through.
fn suppressed(api: &Api) -> bool {
    api.inner.planning.incidents.lock().observer_degraded()
}

/// `[planner] unknown_target_rate`, else the default.
pub fn unknown_target_rate_of(config: &crate::config::Config) -> u32 {
    config
        .planner
        .as_ref()
        .map_or(crate::planner::gate::DEFAULT_UNKNOWN_TARGET_RATE, |p| {
            p.unknown_target_rate()
        })
}

/// Whether the config names `event`'s target: a `[[providers]]` node/service pair
/// (enabled or not), or this workstation's session pipeline when `[sessions]` is set.
/// Anything else is an unknown target, rate-limited by `unknown_target_rate`.
pub fn target_of(config: &crate::config::Config, event: &HealthEvent) -> Target {
    let known = config
        .providers
        .iter()
        .any(|p| p.node == event.node && p.service == event.service)
        || (config.sessions.is_some()
            && event.service == crate::pipeline::SERVICE
            && event.node == crate::config::node_name());
    if known {
        Target::Known
    } else {
        Target::Unknown {
            rate_per_min: unknown_target_rate_of(config),
        }
    }
}

/// The one door for every event. Decides at once; planning continues in the background.
pub(crate) fn admit(api: &Api, event: HealthEvent, dependents: Vec<String>) -> Accepted {
    let p = &api.inner.planning;
    let now = api.now();
    let key = event.svc_key();
    let target = target_of(&api.config(), &event);
    p.flaps.lock().note(&key, event.is_benign(), now);
    let (admission, record) = {
        let mut gate = p.gate.lock();
        let a = gate.admit_target(&event, target, now);
        let record = event.raw_channel != "breaker" && gate.should_record(&event, &a, now);
        (a, record)
    };
    let mut decision = admission.as_str();
    if admission == Admission::Plan {
        if suppressed(api) {
            let mut gate = p.gate.lock();
            gate.finish(&key);
            gate.counts.planned -= 1;
            gate.counts.suppressed_incident += 1;
            decision = "suppressed";
        } else if p.queued.fetch_add(1, Ordering::SeqCst) >= PLAN_QUEUE {
            p.queued.fetch_sub(1, Ordering::SeqCst);
            p.overload.fetch_add(1, Ordering::Relaxed);
            let mut gate = p.gate.lock();
            gate.finish(&key);
            gate.counts.planned -= 1;
            decision = "overload";
        }
    }
    if record {
        let mut records = p.records.lock();
        // An event answered `202` over HTTP is always queued (`submit_event` refuses with
        // 503 when the queue is full, so this overshoots by at most the requests racing).
        if records.len() < RECORD_QUEUE || event.raw_channel == "api" {
            records.push((
                event.timestamp.min(now),
                EngineEvent::HealthReceived {
                    source: event.raw_channel.clone(),
                    node: event.node.clone(),
                    service: event.service.clone(),
                    event_type: event.event_type.clone(),
                    event_severity: event.severity.clone(),
                    payload: serde_json::Value::Object(event.payload.clone()),
                    planned: decision == "plan",
                },
            ));
        } else {
            p.gate.lock().counts.not_recorded += 1;
        }
    }
    let cooldown_remaining_secs = match admission {
        Admission::Cooldown { remaining_secs } => Some(remaining_secs),
        _ => None,
    };
    if decision == "plan" {
        let api2 = api.clone();
        p.tracker.spawn(async move {
            let permit = tokio::select! {
                _ = api2.inner.planning.cancel.cancelled() => None,
                permit = Arc::clone(&api2.inner.planning.slots).acquire_owned() => permit.ok(),
            };
            api2.inner.planning.queued.fetch_sub(1, Ordering::SeqCst);
            if permit.is_some() {
                let key = event.svc_key();
                plan_one(&api2, event, dependents).await;
                api2.inner.planning.gate.lock().finish(&key);
            }
        });
    }
    Accepted {
        status: "accepted",
        svc_key: key,
        decision,
        cooldown_remaining_secs,
    }
}

/// Input off the bus: raw bytes, parsed here; refusals are counted, never fatal.
fn admit_raw(api: &Api, channel: &str, data: &[u8]) {
    match parse_message(data, channel, api.now()) {
        Ok(event) => {
            if is_echo(&event) {
                api.inner.planning.echoes.fetch_add(1, Ordering::Relaxed);
                return;
            }
            admit(api, event, Vec::new());
        }
        Err(why) => refuse_raw(api, channel, why),
    }
}

/// A refused bus message: counted by reason, never fatal.
fn refuse_raw(api: &Api, channel: &str, why: Rejected) {
    let mut gate = api.inner.planning.gate.lock();
    gate.rejected(&why);
    let n = gate.counts.rejected_total;
    drop(gate);
    // The first few are worth a line each; after that, every thousandth.
    if n <= 10 || n % 1000 == 0 {
        tracing::warn!(channel, rejected_total = n, "dropped bus message: {why}");
    }
}

/// Our own messages coming back (when the publish channel is also subscribed).
fn is_echo(event: &HealthEvent) -> bool {
    event.payload.get("source").and_then(|v| v.as_str()) == Some("steward")
        && event.payload.get("origin").and_then(|v| v.as_str())
            == Some(crate::config::node_name().as_str())
}

/// Publishes one of Steward's own events on the bus (no-op without a bus).
pub(crate) fn publish_to_bus(
    api: &Api,
    kind: &str,
    node: &str,
    service: &str,
    severity: &str,
    payload: serde_json::Value,
) {
    if let Some(bus) = &api.inner.planning.bus {
        bus.publish(&serde_json::json!({
            "type": kind,
            "node": node,
            "service": service,
            "severity": severity,
            "timestamp": api.now().to_rfc3339(),
            "source": "steward",
            "origin": crate::config::node_name(),
            "payload": payload,
        }));
    }
}

/// Plans one admitted event and carries out the result.
async fn plan_one(api: &Api, event: HealthEvent, dependents: Vec<String>) {
    let p = &api.inner.planning;
    let config = api.config();
    let chain = chain_of(&config);
    let topology = Topology::from_config(&config);
    let messages = build_messages(&event, &topology);
    let result = p
        .router
        .route(&chain, &config.models, &event, &messages)
        .await;
    for (provider_id, t) in &result.transitions {
        if let Some(pc) = config.provider(provider_id) {
            let e = crate::engine::event_for(pc, t, None);
            if let Err(err) = crate::engine::publish_event(api, e).await {
                tracing::warn!(error = %err, "cannot record a breaker change from the router");
            }
        }
    }
    let now = api.now();
    let key = event.svc_key();
    let Some(content) = result.content.clone() else {
        p.gate.lock().counts.planning_failed += 1;
        let error = result.failure_summary();
        tracing::warn!(svc_key = %key, "{error}");
        publish_to_bus(
            api,
            "planning_failed",
            &event.node,
            &event.service,
            "warning",
            serde_json::json!({"error": error, "retry_at": result.retry_at}),
        );
        let e = EngineEvent::PlanningFailed {
            node: event.node.clone(),
            service: event.service.clone(),
            error,
            retry_at: result.retry_at,
        };
        if let Err(err) = crate::engine::publish_event(api, e).await {
            tracing::warn!(error = %err, "cannot record a planning failure");
        }
        return;
    };
    let planner = config.planner.clone().unwrap_or_default();
    let rules = Rules {
        confidence_threshold: planner.confidence_threshold.unwrap_or(0.7),
        protected_nodes: planner.protected_nodes.clone(),
        flapping: p.flaps.lock().flapping(&key, now),
        target_enabled: config
            .providers
            .iter()
            .any(|c| c.enabled && c.node == event.node && c.service == event.service),
        untrusted_source: untrusted_source(&config, &event),
    };
    let d = decide(&event, &content, &rules);
    let model = result
        .model_used
        .clone()
        .unwrap_or_else(|| "unknown".into());
    if d.action == "ignore" {
        record_cooldown(api, &key, now).await;
        p.gate.lock().counts.ignored += 1;
        let e = EngineEvent::PlanIgnored {
            node: event.node.clone(),
            service: event.service.clone(),
            reason: d.reason.clone(),
            model,
        };
        publish_to_bus(
            api,
            "plan_ignored",
            &event.node,
            &event.service,
            "info",
            serde_json::json!({"reason": d.reason}),
        );
        if let Err(err) = crate::engine::publish_event(api, e).await {
            tracing::warn!(error = %err, "cannot record an ignore");
        }
        return;
    }
    let mut proposal = Proposal {
        action_id: Proposal::make_id(&event.node, &event.service, now),
        kind: d.kind.to_owned(),
        action: d.action.clone(),
        node: event.node.clone(),
        service: event.service.clone(),
        reason: d.reason.clone(),
        description: format!(
            "{} {} on {}: {}",
            d.action, event.service, event.node, d.reason
        ),
        confidence: d.confidence,
        requires_human: d.requires_human,
        risk_level: d.risk_level.to_owned(),
        status: "pending".into(),
        created_at: now,
        source_event: event.to_json(),
        llm_model: model.clone(),
        llm_attempts: result.attempts.clone(),
        overrides: d.overrides.clone(),
        dependents,
        latency_ms: result.latency_ms,
        decided_by: None,
        decided_at: None,
        status_detail: None,
        run: None,
        updated_at: None,
    };
    let auto_run = crate::executing::auto_policy(api, &mut proposal);
    match api.inner.store.insert_proposal(&proposal).await {
        Ok(id) => proposal.action_id = id,
        Err(e) => {
            // Not stored means not proposed: no cooldown, the next event retries.
            tracing::error!(error = %e, svc_key = %key, "cannot store a proposal");
            p.gate.lock().counts.planning_failed += 1;
            return;
        }
    }
    record_cooldown(api, &key, now).await;
    p.pending.fetch_add(1, Ordering::SeqCst);
    p.gate.lock().counts.proposals += 1;
    write_files(api, &proposal).await;
    let e = EngineEvent::ProposalCreated {
        action_id: proposal.action_id.clone(),
        action: proposal.action.clone(),
        node: proposal.node.clone(),
        service: proposal.service.clone(),
        reason: proposal.reason.clone(),
        confidence: proposal.confidence,
        requires_human: proposal.requires_human,
        model,
        overrides: proposal.overrides.clone(),
    };
    tracing::info!(action_id = %proposal.action_id, "{}", proposal.summary());
    publish_to_bus(
        api,
        "proposal_created",
        &proposal.node,
        &proposal.service,
        "info",
        proposal.to_action_file(),
    );
    let _ = api.inner.updates.send(Update::Proposal {
        proposal: Box::new(proposal.clone()),
    });
    if let Err(err) = crate::engine::publish_event(api, e).await {
        tracing::warn!(error = %err, "cannot record a proposal event");
    }
    if auto_run {
        crate::executing::auto_run(api, &proposal).await;
    }
}

/// The event's source in words when it may not run a fix by itself: everything but
/// Steward's own sources (its breakers, its session pipeline, the token-protected API),
/// that is the Redis bus, unless `[bus] trusted = true`.
fn untrusted_source(config: &crate::config::Config, event: &HealthEvent) -> Option<String> {
    let own = matches!(event.raw_channel.as_str(), "breaker" | "sessions" | "api");
    let trusted = config.bus.as_ref().is_some_and(|b| b.trusted);
    (!own && !trusted).then(|| {
        format!(
            "the Redis bus (channel {:?}; [bus] trusted = false)",
            event.raw_channel
        )
    })
}

async fn record_cooldown(api: &Api, key: &str, now: DateTime<Utc>) {
    let until = api.inner.planning.gate.lock().cooldowns.record(key, now);
    if let Err(e) = api.inner.store.save_cooldown(key, until).await {
        tracing::warn!(error = %e, svc_key = key, "cannot save a cooldown; it holds until restart");
    }
}

/// The action file and the `remediation_started` event, for external executors.
async fn write_files(api: &Api, proposal: &Proposal) {
    let actions = actions_dir(api);
    let events = events_dir(api);
    let p = proposal.clone();
    let now = api.now();
    let written = tokio::task::spawn_blocking(move || {
        let a = write_pending_action(&actions, &p)
            .map_err(|e| format!("action file in {}: {e}", actions.display()));
        let fs_event = FsEvent {
            event_type: "remediation_started",
            severity: "info",
            service: &p.service,
            correlation_id: &p.action_id,
            payload: serde_json::json!({"action": p.action, "type": p.kind, "node": p.node,
                                        "requires_human": p.requires_human}),
        };
        let e = emit_event(&events, &fs_event, now)
            .map_err(|e| format!("event file in {}: {e}", events.display()));
        [a.err(), e.err()]
    })
    .await;
    match written {
        Ok(errors) => {
            for e in errors.into_iter().flatten() {
                tracing::warn!("cannot write {e}");
            }
        }
        Err(e) => tracing::warn!(error = %e, "writing proposal files failed"),
    }
}

/// Loads saved cooldowns and the pending count (at start).
pub(crate) async fn restore(api: &Api) -> Result<(), crate::store::StoreError> {
    let now = api.now();
    let saved = api.inner.store.load_cooldowns(now).await?;
    {
        let mut gate = api.inner.planning.gate.lock();
        for (key, until) in saved {
            gate.cooldowns.restore(&key, until);
        }
    }
    let pending = api.inner.store.count_proposals("pending").await?;
    api.inner.planning.pending.store(pending, Ordering::SeqCst);
    // A crash between storing a proposal and its cooldown or its action file loses
    // neither: recent proposals hold their keys, pending ones get their file back.
    let period = chrono::Duration::from_std(cooldown_of(&api.config()))
        .unwrap_or(chrono::Duration::minutes(5));
    let actions = actions_dir(api);
    for p in api.inner.store.proposals(None, 1000).await? {
        let until = p.created_at + period;
        if until > now {
            let key = format!("{}/{}", p.node, p.service);
            let mut gate = api.inner.planning.gate.lock();
            if gate.cooldowns.is_ready(&key, now) {
                gate.cooldowns.restore(&key, until);
            }
        }
        reconcile_action_file(&actions, &p);
    }
    // The budget of automatic runs survives a restart: a crash loop cannot reset it.
    let recent = api
        .inner
        .store
        .auto_approvals_since(now - chrono::Duration::hours(1))
        .await?;
    let mut runs = api.inner.planning.auto_runs.lock();
    for (key, at) in recent {
        runs.restore(&key, at);
    }
    Ok(())
}

/// A crash between a committed change and its file leaves the file behind: at start, a
/// file that is missing or says another status than the database is written again. A
/// handed-off proposal's file belongs to the executor that claimed it.
fn reconcile_action_file(actions: &std::path::Path, p: &Proposal) {
    use crate::execute::state::Status;
    // Approved and running proposals are settled by `executing::recover` right after,
    // which writes their files; a handed-off proposal's file belongs to its claimant.
    if [Status::HandedOff, Status::Approved, Status::Running]
        .iter()
        .any(|s| s.as_str() == p.status)
    {
        return;
    }
    let path = crate::planner::proposal::action_path(actions, &p.action_id);
    let on_disk = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    let says = on_disk.as_ref().and_then(|v| v["status"].as_str());
    if says == Some(p.status.as_str()) || (on_disk.is_none() && p.status != "pending") {
        // In step, or a decided proposal whose file is gone (pruned, or never written):
        // nothing an executor could act on.
        return;
    }
    match write_action(actions, p) {
        Ok(path) => {
            tracing::info!(path = %path.display(), status = %p.status, "rewrote an action file that was behind")
        }
        Err(e) => {
            tracing::warn!(error = %e, action_id = %p.action_id, "cannot rewrite an action file")
        }
    }
}

/// The intake task: bus input, timeline batches, pruning.
pub(crate) async fn intake(
    api: Api,
    mut bus_rx: Option<mpsc::Receiver<BusInput>>,
    cancel: CancellationToken,
) {
    let mut flush = tokio::time::interval(RECORD_EVERY);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut prune = tokio::time::interval(Duration::from_secs(60));
    prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut intake_seen = api.intake();
    loop {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            got = async { bus_rx.as_mut()?.recv().await }, if bus_rx.is_some() => match got {
                Some(BusInput::Message { channel, data }) => admit_raw(&api, &channel, &data),
                Some(BusInput::Oversized { channel, bytes }) => {
                    refuse_raw(&api, &channel, Rejected::TooLarge(bytes))
                }
                Some(BusInput::Connected) => {
                    let url = api.bus_status().map(|s| s.url).unwrap_or_default();
                    let _ = crate::engine::publish_event(&api, EngineEvent::BusConnected { url }).await;
                }
                Some(BusInput::Disconnected { error }) => {
                    let url = api.bus_status().map(|s| s.url).unwrap_or_default();
                    let _ = crate::engine::publish_event(&api, EngineEvent::BusDisconnected { url, error }).await;
                }
                None => bus_rx = None,
            },
            _ = flush.tick() => {
                write_records(&api).await;
                // Counters changed: push the status (at most every RECORD_EVERY).
                let now_seen = api.intake();
                if now_seen != intake_seen {
                    intake_seen = now_seen;
                    crate::engine::push_status(&api);
                }
            }
            _ = prune.tick() => {
                let now = api.now();
                api.inner.planning.gate.lock().prune(now);
                api.inner.planning.flaps.lock().prune(now);
            }
        }
    }
    write_records(&api).await;
}

/// Writes the accepted events waiting for the timeline. When the database cannot be
/// written (full disk, I/O error) they go back in front of the queue, in order, and are
/// tried again on the next tick: an event answered `202` is written once the disk takes
/// writes again (or lost with the process only). The queue may then hold up to twice
/// `RECORD_QUEUE`. With nothing waiting, a failed storage is re-checked by a one-row write,
/// so the status learns of the recovery.
async fn write_records(api: &Api) {
    let store = &api.inner.store;
    let was_ok = store.health().is_ok();
    let batch = std::mem::take(&mut *api.inner.planning.records.lock());
    if batch.is_empty() {
        if !was_ok {
            let _ = store.check_writable().await;
        }
    } else {
        match store.insert_events(&batch).await {
            Ok(records) => {
                for (record, (_, event)) in records.into_iter().zip(batch) {
                    let _ = api.inner.updates.send(Update::Event { record, event });
                }
            }
            Err(e) if e.unavailable().is_some() => {
                tracing::debug!(error = %e, events = batch.len(), "cannot record events yet");
                let mut queue = api.inner.planning.records.lock();
                let newer = std::mem::replace(&mut *queue, batch);
                queue.extend(newer);
            }
            // Anything else would fail again the same way.
            Err(e) => tracing::warn!(error = %e, events = batch.len(), "cannot record events"),
        }
    }
    if store.health().is_ok() != was_ok {
        crate::engine::push_status(api);
    }
}

/// Queues an event for the timeline (written by the intake task). False when the queue is
/// full.
pub(crate) fn hold_record(api: &Api, at: DateTime<Utc>, event: EngineEvent) -> bool {
    let mut records = api.inner.planning.records.lock();
    if records.len() >= RECORD_QUEUE {
        return false;
    }
    records.push((at, event));
    true
}

/// Events waiting to be written to the timeline.
pub(crate) fn unwritten_records(api: &Api) -> usize {
    api.inner.planning.records.lock().len()
}

impl Api {
    /// `POST /api/events`: parses, gates, and answers at once; planning goes on behind.
    /// A `202` means the event is taken: planned as decided and on the timeline (unless it
    /// repeats one recorded within the cooldown). While the database cannot be written, or
    /// the timeline queue is full, the answer is `503 storage_unavailable` and nothing of the
    /// event is kept, so the sender knows to send it again.
    pub fn submit_event(&self, body: &[u8]) -> Result<Accepted, ApiError> {
        if let Some(why) = self.inner.store.health().error() {
            return Err(StoreError::Unavailable(format!(
                "the database cannot be written ({why}); the event was not accepted, send it again later"
            ))
            .into());
        }
        if unwritten_records(self) >= RECORD_QUEUE {
            return Err(StoreError::Unavailable(format!(
                "{RECORD_QUEUE} events are waiting to be written; the event was not accepted, send it again later"
            ))
            .into());
        }
        match parse_message(body, "api", self.now()) {
            Ok(event) => Ok(admit(self, event, Vec::new())),
            Err(why) => {
                self.inner.planning.gate.lock().rejected(&why);
                Err(match why {
                    Rejected::TooLarge(_) => {
                        ApiError::PayloadTooLarge(format!("event refused: {why}"))
                    }
                    _ => ApiError::BadRequest(format!("event refused: {why}")),
                })
            }
        }
    }

    /// Proposals, pending first; `status` filters (`all`, as the CLI says, or absent: every
    /// status); an unknown status is a `BadRequest` naming the known ones.
    pub async fn proposals(
        &self,
        status: Option<&str>,
        limit: u32,
    ) -> Result<Vec<serde_json::Value>, ApiError> {
        use crate::execute::state::{Status, ALL};
        let status = match status {
            None | Some("all") => None,
            Some(s) if Status::parse(s).is_some() => Some(s),
            Some(s) => {
                let known: Vec<&str> = ALL.iter().map(|st| st.as_str()).collect();
                return Err(ApiError::BadRequest(format!(
                    "unknown status {s:?}: expected all or one of {}",
                    known.join(", ")
                )));
            }
        };
        let rows = self
            .inner
            .store
            .proposals(status, limit.clamp(1, 1000))
            .await?;
        Ok(rows.iter().map(|p| self.with_live_run(p)).collect())
    }

    /// The action-file JSON; a running proposal carries its output so far as `run`.
    fn with_live_run(&self, p: &Proposal) -> serde_json::Value {
        let mut v = p.to_action_file();
        if p.status == "running" {
            if let Some(run) = self
                .inner
                .planning
                .live_runs
                .run_json(&p.action_id, self.now())
            {
                v["run"] = run;
            }
        }
        v
    }

    pub async fn proposal(&self, action_id: &str) -> Result<serde_json::Value, ApiError> {
        self.inner
            .store
            .proposal(action_id)
            .await?
            .map(|p| self.with_live_run(&p))
            .ok_or_else(|| ApiError::NotFound(format!("no proposal {action_id:?}")))
    }

    pub fn pending_proposals(&self) -> i64 {
        self.inner.planning.pending.load(Ordering::SeqCst)
    }

    pub fn intake(&self) -> IntakeView {
        let p = &self.inner.planning;
        let observer_degraded = p.incidents.lock().observer_degraded();
        let dropped_flaps = p.flaps.lock().dropped;
        let gate = p.gate.lock();
        IntakeView {
            counts: gate.counts.clone(),
            overload: p.overload.load(Ordering::Relaxed),
            echoes: p.echoes.load(Ordering::Relaxed),
            in_flight: gate.in_flight(),
            cooldowns: gate.cooldowns.len(),
            cooldown_secs: gate.cooldowns.period().as_secs(),
            observer_degraded,
            dropped_flaps,
            unknown_targets_last_minute: gate.unknown_in_window(self.now()),
            unknown_target_rate: unknown_target_rate_of(&self.config()),
        }
    }

    /// `GET /api/intake`: the gate's counters, the bus, the models.
    pub fn intake_report(&self) -> serde_json::Value {
        serde_json::json!({
            "intake": self.intake(),
            "bus": self.bus_status(),
            "models": self.model_stats(),
        })
    }

    pub fn bus_status(&self) -> Option<BusStatus> {
        self.inner.planning.bus.as_ref().map(Bus::status)
    }

    /// Per-model counters of the router (successes, failures, junk answers, skips).
    pub fn model_stats(&self) -> serde_json::Value {
        serde_json::to_value(self.inner.planning.router.model_stats()).unwrap_or_default()
    }

    /// Waits until no plan is running, waiting, or deferred (tests, benchmarks).
    pub async fn planning_idle(&self) {
        loop {
            let p = &self.inner.planning;
            if p.queued.load(Ordering::SeqCst) == 0
                && p.gate.lock().in_flight() == 0
                && p.deferred.lock().is_empty()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}
