//! The probe loop: who probes what, when, how many at once, and what a result means for
//! the breaker.
//!
//! Owns: scheduling (one task, a heap of due times: no task per provider sleeping forever),
//! the per-probe timeout, bounded concurrency with a slow lane (a probe that is still
//! running after a short soft deadline gives its fast slot to the next provider, so hanging
//! providers cannot starve the healthy ones), the confirmation re-probe after a first
//! failure, the re-check after the machine wakes from sleep, and the lifecycle of seed 002
//! (first tick at once, idempotent start/stop, cancellation is the normal exit, bounded stop).
//! Does not own: storage or notifications. Every result leaves as a `MonitorEvent` on the
//! sink; the engine records it.
//!
//! Missed ticks: each provider is next due `max(started + interval, now)`, i.e. tokio's
//! `MissedTickBehavior::Delay`. A late or long probe never causes a burst of catch-up
//! probes, and a provider is never probed twice at once.

use crate::clock::{self, SharedClock};
use crate::health::breaker::{BreakerState, Breakers, Transition};
use crate::health::probe::{Probe, ProbeError, Verdict};
use chrono::{DateTime, Utc};
use futures::FutureExt;
use parking_lot::Mutex;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Notify, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long `stop` waits for the loop before aborting it.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MonitorError {
    #[error("interval must be greater than 0 (provider {0:?})")]
    Interval(String),
    #[error("timeout must be greater than 0 (provider {0:?})")]
    Timeout(String),
    #[error("max_concurrency must be greater than 0")]
    Concurrency,
}

/// One provider as the loop sees it.
pub struct ProbeTarget {
    pub id: String,
    /// `None`: the loop's default.
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub confirm_after: Option<Duration>,
    pub probe: Arc<dyn Probe>,
}

impl ProbeTarget {
    pub fn new(id: impl Into<String>, probe: Arc<dyn Probe>) -> Self {
        Self {
            id: id.into(),
            interval: None,
            timeout: None,
            confirm_after: None,
            probe,
        }
    }
}

#[derive(Debug, Clone)]
pub struct LoopOptions {
    pub interval: Duration,
    pub timeout: Duration,
    /// Probes in the fast lane at once.
    pub max_concurrency: usize,
    /// Probes past their soft deadline at once (the slow lane).
    pub slow_lane: usize,
    /// After this long a probe moves to the slow lane (capped at a quarter of its timeout).
    pub soft_deadline: Duration,
    /// A wall-clock jump this much larger than tokio's clock means the machine slept.
    pub wake_gap: Duration,
    /// After a wake, a failure is re-probed this much later before it counts.
    pub wake_recheck_after: Duration,
}

impl Default for LoopOptions {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(3),
            max_concurrency: 256,
            slow_lane: 256,
            soft_deadline: Duration::from_millis(250),
            wake_gap: Duration::from_secs(60),
            wake_recheck_after: Duration::from_secs(5),
        }
    }
}

/// What a probe's result was, as stored and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Up,
    Down,
    Timeout,
    Error,
    RateLimited,
    Inconclusive,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Up => "up",
            Outcome::Down => "down",
            Outcome::Timeout => "timeout",
            Outcome::Error => "error",
            Outcome::RateLimited => "rate_limited",
            Outcome::Inconclusive => "inconclusive",
        }
    }

    /// Every outcome, in a fixed order (the order `/metrics` counts them in).
    pub const ALL: [Outcome; 6] = [
        Outcome::Up,
        Outcome::Down,
        Outcome::Timeout,
        Outcome::Error,
        Outcome::RateLimited,
        Outcome::Inconclusive,
    ];

    pub fn parse(s: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// Whether the provider answered as it should.
    pub fn is_ok(self) -> bool {
        matches!(self, Outcome::Up | Outcome::RateLimited)
    }
}

/// One probe's result and what it did to the breaker.
#[derive(Debug, Clone)]
pub struct ProbeReport {
    pub provider_id: String,
    pub at: DateTime<Utc>,
    pub latency: Duration,
    pub outcome: Outcome,
    pub error: Option<String>,
    /// False when a failure right after a wake was held back for a re-check.
    pub counted: bool,
    pub transitions: Vec<Transition>,
    pub state: BreakerState,
}

#[derive(Debug)]
pub enum MonitorEvent {
    Probed(ProbeReport),
    /// The wall clock jumped far ahead of tokio's: the machine slept.
    Woke {
        at: DateTime<Utc>,
        gap: Duration,
    },
    /// Sent by whoever shares the sink: the consumer answers once it has handled every
    /// message sent before this one (a read-your-writes barrier for "probe now").
    Flush(tokio::sync::oneshot::Sender<()>),
}

struct Entry {
    target: ProbeTarget,
    recheck: AtomicBool,
    in_flight: AtomicBool,
}

struct Shared {
    breakers: Arc<Breakers>,
    clock: SharedClock,
    opts: LoopOptions,
    targets: Mutex<Arc<HashMap<String, Arc<Entry>>>>,
    sink: Option<mpsc::Sender<MonitorEvent>>,
    fast: Arc<Semaphore>,
    slow: Arc<Semaphore>,
    paused: AtomicBool,
    changed: Notify,
}

struct Running {
    cancel: CancellationToken,
    handle: tokio::task::JoinHandle<()>,
}

/// The probe loop. Cancels its task when dropped.
pub struct Monitor {
    shared: Arc<Shared>,
    running: Mutex<Option<Running>>,
}

impl Drop for Monitor {
    fn drop(&mut self) {
        if let Some(r) = self.running.lock().take() {
            r.cancel.cancel();
        }
    }
}

fn validate(id: &str, t: &ProbeTarget) -> Result<(), MonitorError> {
    if t.interval.is_some_and(|d| d.is_zero()) {
        return Err(MonitorError::Interval(id.to_owned()));
    }
    if t.timeout.is_some_and(|d| d.is_zero()) {
        return Err(MonitorError::Timeout(id.to_owned()));
    }
    Ok(())
}

fn index(targets: Vec<ProbeTarget>) -> Result<HashMap<String, Arc<Entry>>, MonitorError> {
    let mut map = HashMap::with_capacity(targets.len());
    for t in targets {
        validate(&t.id, &t)?;
        map.insert(
            t.id.clone(),
            Arc::new(Entry {
                target: t,
                recheck: AtomicBool::new(false),
                in_flight: AtomicBool::new(false),
            }),
        );
    }
    Ok(map)
}

impl Monitor {
    pub fn new(
        breakers: Arc<Breakers>,
        targets: Vec<ProbeTarget>,
        opts: LoopOptions,
        clock: SharedClock,
        sink: Option<mpsc::Sender<MonitorEvent>>,
    ) -> Result<Monitor, MonitorError> {
        if opts.interval.is_zero() {
            return Err(MonitorError::Interval("*".into()));
        }
        if opts.timeout.is_zero() {
            return Err(MonitorError::Timeout("*".into()));
        }
        if opts.max_concurrency == 0 {
            return Err(MonitorError::Concurrency);
        }
        let targets = index(targets)?;
        Ok(Monitor {
            shared: Arc::new(Shared {
                breakers,
                clock,
                fast: Arc::new(Semaphore::new(opts.max_concurrency)),
                slow: Arc::new(Semaphore::new(opts.slow_lane)),
                opts,
                targets: Mutex::new(Arc::new(targets)),
                sink,
                paused: AtomicBool::new(false),
                changed: Notify::new(),
            }),
            running: Mutex::new(None),
        })
    }

    pub fn provider_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.shared.targets.lock().keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Replaces the providers (config reload). Known ones keep their schedule.
    pub fn set_targets(&self, targets: Vec<ProbeTarget>) -> Result<(), MonitorError> {
        let map = index(targets)?;
        *self.shared.targets.lock() = Arc::new(map);
        self.shared.changed.notify_one();
        Ok(())
    }

    pub fn is_running(&self) -> bool {
        self.running.lock().is_some()
    }

    pub fn is_paused(&self) -> bool {
        self.shared.paused.load(Ordering::Relaxed)
    }

    /// Pausing stops new probes; those in flight finish.
    pub fn set_paused(&self, paused: bool) {
        self.shared.paused.store(paused, Ordering::Relaxed);
        self.shared.changed.notify_one();
    }

    /// Starts the loop; the first tick runs at once. Starting twice is a no-op.
    pub fn start(&self) {
        let mut running = self.running.lock();
        if running.is_some() {
            return;
        }
        let cancel = CancellationToken::new();
        let handle = tokio::spawn(run(Arc::clone(&self.shared), cancel.clone()));
        *running = Some(Running { cancel, handle });
    }

    /// Stops the loop and waits for it (at most `STOP_GRACE`). Safe before `start` and twice.
    pub async fn stop(&self) {
        let Some(r) = self.running.lock().take() else {
            return;
        };
        r.cancel.cancel();
        let abort = r.handle.abort_handle();
        if tokio::time::timeout(STOP_GRACE, r.handle).await.is_err() {
            abort.abort();
        }
    }

    /// Probes every provider once, concurrently, and waits for all of them.
    pub async fn tick_once(&self) -> Vec<ProbeReport> {
        let targets = Arc::clone(&self.shared.targets.lock());
        let mut set = JoinSet::new();
        for entry in targets.values() {
            set.spawn(probe_one(Arc::clone(&self.shared), Arc::clone(entry)));
        }
        let mut reports = Vec::with_capacity(targets.len());
        while let Some(r) = set.join_next().await {
            if let Ok(report) = r {
                reports.push(report);
            }
        }
        reports.sort_by(|a, b| a.provider_id.cmp(&b.provider_id));
        reports
    }

    /// Probes one provider now (the "probe now" button).
    pub async fn probe_now(&self, id: &str) -> Option<ProbeReport> {
        let entry = self.shared.targets.lock().get(id).cloned()?;
        Some(probe_one(Arc::clone(&self.shared), entry).await)
    }
}

impl Shared {
    fn interval(&self, e: &Entry) -> Duration {
        e.target.interval.unwrap_or(self.opts.interval)
    }
    fn timeout(&self, e: &Entry) -> Duration {
        e.target.timeout.unwrap_or(self.opts.timeout)
    }
    fn min_interval(&self, targets: &HashMap<String, Arc<Entry>>) -> Duration {
        targets
            .values()
            .map(|e| self.interval(e))
            .min()
            .unwrap_or(self.opts.interval)
    }
}

/// The scheduler. One task; a heap of (due, id) with lazy deletion against `due`.
async fn run(shared: Arc<Shared>, cancel: CancellationToken) {
    let mut due: HashMap<String, Instant> = HashMap::new();
    let mut heap: BinaryHeap<Reverse<(Instant, String)>> = BinaryHeap::new();
    let mut inflight: JoinSet<(String, Instant, ProbeReport)> = JoinSet::new();
    let mut last_wall = shared.clock.now();
    let mut last_instant = Instant::now();
    let mut targets = Arc::new(HashMap::new());
    let mut was_paused = shared.paused.load(Ordering::Relaxed);
    // A wall-clock gap this much larger than tokio's means a sleep; recomputed on reload.
    let mut wake_gap = shared.opts.wake_gap;

    let schedule =
        |due: &mut HashMap<String, Instant>, heap: &mut BinaryHeap<_>, id: String, at: Instant| {
            due.insert(id.clone(), at);
            heap.push(Reverse((at, id)));
        };

    loop {
        // Pick up config reloads and resumes.
        let current = Arc::clone(&shared.targets.lock());
        let paused = shared.paused.load(Ordering::Relaxed);
        let now = Instant::now();
        if !Arc::ptr_eq(&current, &targets) || (was_paused && !paused) {
            due.retain(|id, _| current.contains_key(id));
            for (id, entry) in current.iter() {
                let in_flight = entry.in_flight.load(Ordering::Relaxed);
                if (was_paused && !paused) || (!due.contains_key(id) && !in_flight) {
                    schedule(&mut due, &mut heap, id.clone(), now);
                }
            }
            wake_gap = shared.opts.wake_gap.max(shared.min_interval(&current));
            targets = current;
        }
        was_paused = paused;

        // A machine that slept: wall time ran on while tokio's clock did not.
        let wall = shared.clock.now();
        let wall_gap = clock::since(wall, last_wall);
        let instant_gap = now - last_instant;
        if wall_gap > instant_gap + wake_gap {
            let gap = wall_gap - instant_gap;
            tracing::info!(
                gap_secs = gap.as_secs(),
                "woke from sleep: re-checking failures"
            );
            for (id, entry) in targets.iter() {
                entry.recheck.store(true, Ordering::Relaxed);
                if !entry.in_flight.load(Ordering::Relaxed) {
                    schedule(&mut due, &mut heap, id.clone(), now);
                }
            }
            if let Some(sink) = &shared.sink {
                // The receiver is gone only when the engine is stopping: nobody to tell.
                let _ = sink.send(MonitorEvent::Woke { at: wall, gap }).await;
            }
        }
        last_wall = wall;
        last_instant = now;

        // At most as many probe tasks exist as there are lane slots: due providers wait
        // in the heap, not as thousands of parked tasks.
        let cap = shared.opts.max_concurrency + shared.opts.slow_lane;
        if !paused {
            while let Some(Reverse((at, _))) = heap.peek() {
                if *at > now || inflight.len() >= cap {
                    break;
                }
                let Some(Reverse((at, id))) = heap.pop() else {
                    break;
                };
                if due.get(&id) != Some(&at) {
                    continue; // superseded
                }
                due.remove(&id);
                let Some(entry) = targets.get(&id) else {
                    continue;
                };
                let entry = Arc::clone(entry);
                let shared2 = Arc::clone(&shared);
                inflight.spawn(async move {
                    let started = Instant::now();
                    let report = probe_one(shared2, entry).await;
                    (id, started, report)
                });
            }
        }

        let next = heap.peek().map(|Reverse((at, _))| *at);
        tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            _ = shared.changed.notified() => {}
            Some(done) = inflight.join_next(), if !inflight.is_empty() => {
                if let Ok((id, started, report)) = done {
                    if let Some(entry) = targets.get(&id) {
                        let at = next_due(&shared, entry, started, &report);
                        schedule(&mut due, &mut heap, id, at);
                    }
                }
            }
            _ = sleep_until_opt(next), if next.is_some() && !paused && inflight.len() < cap => {}
        }
    }
    // Cancellation is the normal exit: in-flight probes are dropped (command probes kill
    // their process group on drop).
    inflight.shutdown().await;
}

async fn sleep_until_opt(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at).await;
    }
}

fn next_due(shared: &Shared, entry: &Entry, started: Instant, report: &ProbeReport) -> Instant {
    let now = Instant::now();
    if !report.counted {
        return now + shared.opts.wake_recheck_after;
    }
    let confirm = entry.target.confirm_after.filter(|_| {
        !report.outcome.is_ok()
            && report.outcome != Outcome::Inconclusive
            && report.state.open_until.is_none()
            && report.state.consecutive_failures > 0
    });
    if let Some(c) = confirm {
        return now + c;
    }
    (started + shared.interval(entry)).max(now)
}

enum Ran {
    Done(Result<Verdict, ProbeError>),
    Panicked(String),
    TimedOut(Duration),
}

async fn run_probe(shared: &Shared, entry: &Entry) -> (Ran, Duration) {
    let fast = Arc::clone(&shared.fast)
        .acquire_owned()
        .await
        .expect("the fast lane is never closed");
    let started = Instant::now();
    let timeout = shared.timeout(entry);
    let soft = shared.opts.soft_deadline.min(timeout / 4);
    let check = AssertUnwindSafe(entry.target.probe.check()).catch_unwind();
    let ran = tokio::time::timeout(timeout, async {
        tokio::pin!(check);
        // The lane slot this probe holds until it finishes.
        let mut slot = fast;
        tokio::select! {
            r = &mut check => return r,
            _ = tokio::time::sleep(soft) => {}
        }
        if let Ok(slow) = Arc::clone(&shared.slow).try_acquire_owned() {
            slot = slow; // the fast slot goes to the next provider
        }
        let r = check.await;
        drop(slot);
        r
    })
    .await;
    let ran = match ran {
        Ok(Ok(result)) => Ran::Done(result),
        Ok(Err(panic)) => Ran::Panicked(panic_message(&*panic)),
        Err(_) => Ran::TimedOut(timeout),
    };
    (ran, started.elapsed())
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "probe panicked".to_owned())
}

/// Runs one probe and applies its result to the breaker.
async fn probe_one(shared: Arc<Shared>, entry: Arc<Entry>) -> ProbeReport {
    entry.in_flight.store(true, Ordering::Relaxed);
    let (ran, latency) = run_probe(&shared, &entry).await;
    entry.in_flight.store(false, Ordering::Relaxed);
    let id = entry.target.id.as_str();
    let now = shared.clock.now();
    let (outcome, error) = match ran {
        Ran::Done(Ok(Verdict::Up)) => (Outcome::Up, None),
        Ran::Done(Ok(Verdict::Down { reason })) => (Outcome::Down, Some(reason)),
        Ran::Done(Ok(Verdict::RateLimited { retry_after })) => (
            Outcome::RateLimited,
            Some(match retry_after {
                Some(d) => format!("rate limited (retry after {}s)", d.as_secs()),
                None => "rate limited".to_owned(),
            }),
        ),
        Ran::Done(Ok(Verdict::Inconclusive { reason })) => (Outcome::Inconclusive, Some(reason)),
        Ran::Done(Err(e)) => (Outcome::Error, Some(e.to_string())),
        Ran::Panicked(msg) => (Outcome::Error, Some(format!("panic: {msg}"))),
        Ran::TimedOut(t) => (Outcome::Timeout, Some(format!("timeout after {t:?}"))),
    };
    let b = &shared.breakers;
    let mut transitions: Vec<Transition> = b.poll(id, now).into_iter().collect();
    let mut counted = true;
    match outcome {
        Outcome::Up => {
            entry.recheck.store(false, Ordering::Relaxed);
            transitions.extend(b.mark_healthy(id, now));
        }
        // Reachable: neither a failure nor a success for the breaker.
        Outcome::RateLimited | Outcome::Inconclusive => b.mark_inconclusive(id),
        Outcome::Down | Outcome::Timeout | Outcome::Error => {
            if entry.recheck.swap(false, Ordering::Relaxed) {
                counted = false;
            } else {
                let reason = error.as_deref().unwrap_or("down");
                transitions.extend(b.mark_unhealthy(id, reason, now));
            }
        }
    }
    let report = ProbeReport {
        provider_id: id.to_owned(),
        at: now,
        latency,
        outcome,
        error,
        counted,
        transitions,
        state: b.state(id).unwrap_or_default(),
    };
    if let Some(sink) = &shared.sink {
        // The receiver is gone only when the engine is stopping; the report is returned too.
        let _ = sink.send(MonitorEvent::Probed(report.clone())).await;
    }
    report
}
