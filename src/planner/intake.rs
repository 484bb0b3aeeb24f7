//! The one door for every event: the bus, `POST /api/events`, the breaker's incidents,
//! the session pipeline and Alertmanager's webhook (`planner::alerts`) all call
//! [`Intake::admit`].
//!
//! Owns: the gate (cooldown, in-flight, unknown-target rate) with its counters, the flap
//! histories, the timeline record of accepted events (held in the outbox, written by the
//! intake task every `RECORD_EVERY`), and the bounded planning queue: `PLAN_SLOTS` plans
//! at once, `PLAN_QUEUE` waiting; beyond that an event is counted as overload and not
//! planned, with no cooldown, so a later one retries.
//! Does not own: the decisions (`gate`, pure) or the plan itself (`planning`).
//!
//! Growth: the gate's and the flaps' maps are bounded by their caps
//! (`planner::gate::MAX_*`), the held timeline by `outbox::HELD_EVENTS`, the plan queue
//! by `PLAN_QUEUE`.

use crate::bus::BusInput;
use crate::config::Config;
use crate::context::Context;
use crate::error::ApiError;
use crate::events::EngineEvent;
use crate::health::incidents::Incidents;
use crate::outbox::HELD_EVENTS;
use crate::pace::Pace;
use crate::planner::alertmanager::CHANNEL;
use crate::planner::gate::{Admission, Flaps, Gate, IntakeCounts, IntakeDecision, Target};
use crate::planner::planning::{Planned, Planning};
use crate::planner::{parse_message, HealthEvent, Rejected};
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Notify, Semaphore};
use tokio_util::sync::CancellationToken;

/// Plans running at once (each may wait on a model for its whole timeout).
pub const PLAN_SLOTS: usize = 8;
/// Plans waiting for a slot; beyond this, events are counted as overload.
pub const PLAN_QUEUE: usize = 256;
/// How often accepted events are written to the timeline.
const RECORD_EVERY: Duration = Duration::from_millis(250);

/// The intake task's wake-up when nothing happens (activity brings it back at once).
const QUIET_EVERY: Duration = Duration::from_secs(5);

/// What `POST /api/events` answers.
#[derive(Debug, Clone, Serialize, PartialEq, ts_rs::TS)]
pub struct Accepted {
    #[ts(type = "'accepted'")]
    pub status: &'static str,
    pub svc_key: String,
    /// `plan`, `benign`, `cooldown`, `in_flight`, `suppressed`, `overload`,
    /// `unknown_target_limited` (a target not in the config, over `[planner]
    /// unknown_target_rate`), `cooldowns_full` or `in_flight_full` (the gate's caps).
    pub decision: IntakeDecision,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub cooldown_remaining_secs: Option<f64>,
}

/// Counters for the API and UI.
#[derive(Debug, Clone, Serialize, PartialEq, ts_rs::TS)]
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

pub struct Intake {
    ctx: Arc<Context>,
    gate: Arc<Mutex<Gate>>,
    flaps: Arc<Mutex<Flaps>>,
    /// Shared with the recorder, which feeds it; read here: no plans while this
    /// workstation's own network looks down.
    incidents: Arc<Mutex<Incidents>>,
    planning: Arc<Planning>,
    slots: Arc<Semaphore>,
    queued: AtomicUsize,
    overload: AtomicU64,
    echoes: AtomicU64,
    /// Something changed the counters or held an event: the intake task's next write and
    /// status check come within `RECORD_EVERY` even when it was quiet.
    activity: Notify,
}

/// `[planner] unknown_target_rate`, else the default.
pub fn unknown_target_rate_of(config: &Config) -> u32 {
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
pub fn target_of(config: &Config, event: &HealthEvent) -> Target {
    let known = config
        .providers
        .iter()
        .any(|p| p.node == event.node && p.service == event.service)
        || (config.sessions.is_some()
            && event.service == crate::sessions::status::SERVICE
            && event.node == config.node);
    if known {
        Target::Known
    } else {
        Target::Unknown {
            rate_per_min: unknown_target_rate_of(config),
        }
    }
}

impl Intake {
    pub fn new(
        ctx: Arc<Context>,
        gate: Arc<Mutex<Gate>>,
        flaps: Arc<Mutex<Flaps>>,
        incidents: Arc<Mutex<Incidents>>,
        planning: Arc<Planning>,
    ) -> Arc<Intake> {
        Arc::new(Intake {
            ctx,
            gate,
            flaps,
            incidents,
            planning,
            slots: Arc::new(Semaphore::new(PLAN_SLOTS)),
            queued: AtomicUsize::new(0),
            overload: AtomicU64::new(0),
            echoes: AtomicU64::new(0),
            activity: Notify::new(),
        })
    }

    /// A breaker opened or closed for `key` (the recorder): flap detection.
    pub fn note_flap(&self, key: &str, healthy: bool, at: DateTime<Utc>) {
        self.flaps.lock().note(key, healthy, at);
        self.activity.notify_one();
    }

    /// Lets a planned event wait for a slot (or counts it as overload).
    fn enqueue(&self, key: &str) -> IntakeDecision {
        if self.incidents.lock().observer_degraded() {
            let mut gate = self.gate.lock();
            gate.finish(key);
            gate.counts.planned -= 1;
            gate.counts.suppressed_incident += 1;
            IntakeDecision::Suppressed
        } else if self.queued.fetch_add(1, Ordering::SeqCst) >= PLAN_QUEUE {
            self.queued.fetch_sub(1, Ordering::SeqCst);
            self.overload.fetch_add(1, Ordering::Relaxed);
            let mut gate = self.gate.lock();
            gate.finish(key);
            gate.counts.planned -= 1;
            IntakeDecision::Overload
        } else {
            IntakeDecision::Plan
        }
    }

    /// The one door for every event. Decides at once; planning continues in the
    /// background.
    pub fn admit(self: &Arc<Self>, event: HealthEvent, dependents: Vec<String>) -> Accepted {
        self.admit_then(event, dependents, None)
    }

    /// The same, for a caller that wants to know what became of the plan: the receiver
    /// gets the outcome when the decision is `plan` (and is closed unanswered when the
    /// engine stops first); `None` for any other decision.
    pub fn admit_watched(
        self: &Arc<Self>,
        event: HealthEvent,
    ) -> (Accepted, Option<oneshot::Receiver<Planned>>) {
        let (tx, rx) = oneshot::channel();
        let accepted = self.admit_then(event, Vec::new(), Some(tx));
        let planned = accepted.decision == IntakeDecision::Plan;
        (accepted, planned.then_some(rx))
    }

    fn admit_then(
        self: &Arc<Self>,
        event: HealthEvent,
        dependents: Vec<String>,
        done: Option<oneshot::Sender<Planned>>,
    ) -> Accepted {
        self.activity.notify_one();
        let now = self.ctx.now();
        let key = event.svc_key();
        let target = target_of(&self.ctx.config(), &event);
        self.flaps.lock().note(&key, event.is_benign(), now);
        let (admission, record) = {
            let mut gate = self.gate.lock();
            let a = gate.admit_target(&event, target, now);
            let record = event.raw_channel != "breaker" && gate.should_record(&event, &a, now);
            (a, record)
        };
        let decision = match admission {
            Admission::Plan => self.enqueue(&key),
            _ => admission.decision(),
        };
        if record {
            self.record(&event, decision == IntakeDecision::Plan, now);
        }
        let cooldown_remaining_secs = match admission {
            Admission::Cooldown { remaining_secs } => Some(remaining_secs),
            _ => None,
        };
        if decision == IntakeDecision::Plan {
            self.spawn_plan(event, dependents, done);
        }
        Accepted {
            status: "accepted",
            svc_key: key,
            decision,
            cooldown_remaining_secs,
        }
    }

    /// Puts an accepted event on the timeline (written by the intake task).
    fn record(&self, event: &HealthEvent, planned: bool, now: DateTime<Utc>) {
        let at = event.timestamp.min(now);
        let received = EngineEvent::HealthReceived {
            source: event.raw_channel.clone(),
            node: event.node.clone(),
            service: event.service.clone(),
            event_type: event.event_type.clone(),
            event_severity: event.severity.clone(),
            payload: serde_json::Value::Object(event.payload.clone()),
            planned,
        };
        // An event answered `202` over HTTP is always held (`submit_event` and the
        // Alertmanager webhook refuse with 503 when the queue is full, so this overshoots
        // by at most the requests racing).
        if matches!(event.raw_channel.as_str(), "api" | CHANNEL) {
            self.ctx.outbox.hold_always(at, received);
        } else if !self.ctx.outbox.hold(at, received) {
            self.gate.lock().counts.not_recorded += 1;
        }
    }

    /// Plans `event` once a slot is free; its key leaves the in-flight set after.
    fn spawn_plan(
        self: &Arc<Self>,
        event: HealthEvent,
        dependents: Vec<String>,
        done: Option<oneshot::Sender<Planned>>,
    ) {
        let intake = Arc::clone(self);
        let cancel = self.ctx.cancel_token();
        self.ctx.spawn(async move {
            let permit = tokio::select! {
                _ = cancel.cancelled() => None,
                permit = Arc::clone(&intake.slots).acquire_owned() => permit.ok(),
            };
            intake.queued.fetch_sub(1, Ordering::SeqCst);
            if permit.is_some() {
                let key = event.svc_key();
                let planned = intake.planning.plan(event, dependents).await;
                intake.gate.lock().finish(&key);
                if let Some(done) = done {
                    // A watcher that went away no longer needs the outcome.
                    let _ = done.send(planned);
                }
            }
            intake.activity.notify_one();
        });
    }

    /// Input off the bus: raw bytes, parsed here; refusals are counted, never fatal.
    fn admit_raw(self: &Arc<Self>, channel: &str, data: &[u8]) {
        match parse_message(data, channel, self.ctx.now()) {
            Ok(event) => {
                if self.ctx.outbox.is_echo(&event.payload) {
                    self.echoes.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                self.admit(event, Vec::new());
            }
            Err(why) => self.refuse_raw(channel, why),
        }
    }

    /// A refused bus message: counted by reason, never fatal.
    fn refuse_raw(&self, channel: &str, why: Rejected) {
        let mut gate = self.gate.lock();
        gate.rejected(&why);
        let n = gate.counts.rejected_total;
        drop(gate);
        self.activity.notify_one();
        // The first few are worth a line each; after that, every thousandth.
        if n <= 10 || n.is_multiple_of(1000) {
            tracing::warn!(channel, rejected_total = n, "dropped bus message: {why}");
        }
    }

    /// `POST /api/events`: parses, gates, and answers at once; planning goes on behind.
    /// A `202` means the event is taken: planned as decided and on the timeline (unless it
    /// repeats one recorded within the cooldown). While the database cannot be written, or
    /// the timeline queue is full, the answer is `503 storage_unavailable` and nothing of
    /// the event is kept, so the sender knows to send it again.
    pub fn submit_event(self: &Arc<Self>, body: &[u8]) -> Result<Accepted, ApiError> {
        self.check_storage("the event")?;
        match parse_message(body, "api", self.ctx.now()) {
            Ok(event) => Ok(self.admit(event, Vec::new())),
            Err(why) => {
                self.gate.lock().rejected(&why);
                self.activity.notify_one();
                Err(match why {
                    Rejected::TooLarge(_) => {
                        ApiError::PayloadTooLarge(format!("event refused: {why}"))
                    }
                    _ => ApiError::BadRequest(format!("event refused: {why}")),
                })
            }
        }
    }

    /// Counts input refused elsewhere (an Alertmanager webhook or one of its alerts) with
    /// the intake's other refusals, by the reason's short name.
    pub fn refused(&self, kind: &str) {
        self.gate.lock().refused(kind);
        self.activity.notify_one();
    }

    /// `503 storage_unavailable` while an accepted event could not be kept (the database
    /// takes no writes, or the timeline queue is full): `what` names the input in the
    /// message, so its sender knows to send it again.
    pub fn check_storage(&self, what: &str) -> Result<(), ApiError> {
        if let Some(why) = self.ctx.store.health().error() {
            return Err(StoreError::Unavailable(format!(
                "the database cannot be written ({why}); {what} was not accepted, send it again later"
            ))
            .into());
        }
        if self.ctx.outbox.unwritten() >= HELD_EVENTS {
            return Err(StoreError::Unavailable(format!(
                "{HELD_EVENTS} events are waiting to be written; {what} was not accepted, send it again later"
            ))
            .into());
        }
        Ok(())
    }

    /// Input refused since start (invalid JSON, missing node, …).
    pub fn rejected_total(&self) -> u64 {
        self.gate.lock().counts.rejected_total
    }

    pub fn view(&self) -> IntakeView {
        let observer_degraded = self.incidents.lock().observer_degraded();
        let dropped_flaps = self.flaps.lock().dropped;
        let gate = self.gate.lock();
        IntakeView {
            counts: gate.counts.clone(),
            overload: self.overload.load(Ordering::Relaxed),
            echoes: self.echoes.load(Ordering::Relaxed),
            in_flight: gate.in_flight(),
            cooldowns: gate.cooldowns.len(),
            cooldown_secs: gate.cooldowns.period().as_secs(),
            observer_degraded,
            dropped_flaps,
            unknown_targets_last_minute: gate.unknown_in_window(self.ctx.now()),
            unknown_target_rate: unknown_target_rate_of(&self.ctx.config()),
        }
    }

    /// No plan is running or waiting.
    pub fn idle(&self) -> bool {
        self.queued.load(Ordering::SeqCst) == 0 && self.gate.lock().in_flight() == 0
    }

    /// The intake task: bus input, timeline batches, pruning. Ends on `cancel`, after a
    /// last write of the held events.
    pub async fn run(
        self: Arc<Self>,
        mut bus_rx: Option<mpsc::Receiver<BusInput>>,
        cancel: CancellationToken,
    ) {
        let mut pace = Pace::new(RECORD_EVERY, QUIET_EVERY);
        let mut prune = tokio::time::interval(Duration::from_secs(60));
        prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut intake_seen = self.view();
        loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                got = async { bus_rx.as_mut()?.recv().await }, if bus_rx.is_some() => match got {
                    Some(input) => self.on_bus(input).await,
                    None => bus_rx = None,
                },
                () = self.activity.notified() => pace.stir(),
                _ = pace.tick() => {
                    let held = self.ctx.outbox.unwritten();
                    self.ctx.outbox.write_held().await;
                    // Counters changed: the status may have (at most every RECORD_EVERY).
                    let now_seen = self.view();
                    let changed = now_seen != intake_seen;
                    // Quiet: nothing was written or changed, no plan runs or waits, and
                    // no count falls with time (unknown targets in the last minute).
                    let quiet = held == 0
                        && !changed
                        && self.idle()
                        && now_seen.unknown_targets_last_minute == 0
                        && self.ctx.outbox.unwritten() == 0;
                    if changed {
                        intake_seen = now_seen;
                        self.ctx.outbox.status_changed();
                    }
                    pace.next(quiet);
                }
                _ = prune.tick() => {
                    let now = self.ctx.now();
                    self.gate.lock().prune(now);
                    self.flaps.lock().prune(now);
                    // Pruning may change the counts the status shows.
                    pace.stir();
                }
            }
        }
        self.ctx.outbox.write_held().await;
    }

    async fn on_bus(self: &Arc<Self>, input: BusInput) {
        let event = match input {
            BusInput::Message { channel, data } => return self.admit_raw(&channel, &data),
            BusInput::Oversized { channel, bytes } => {
                return self.refuse_raw(&channel, Rejected::TooLarge(bytes))
            }
            BusInput::Connected => EngineEvent::BusConnected {
                url: self.bus_url(),
            },
            BusInput::Disconnected { error } => EngineEvent::BusDisconnected {
                url: self.bus_url(),
                error,
            },
        };
        if let Err(e) = self.ctx.outbox.publish(event).await {
            tracing::warn!(error = %e, "cannot record a bus connection change");
        }
    }

    fn bus_url(&self) -> String {
        self.ctx
            .outbox
            .bus_status()
            .map(|s| s.url)
            .unwrap_or_default()
    }
}
