//! Running session processors: on their cadence, when files change, and when asked.
//!
//! Owns: one lock per processor (a run in flight is never launched again: a tick during a
//! run is skipped, a change during a run sets "run again" so it is picked up right after,
//! a manual run is refused with [`RunRefused::Busy`]), the runs themselves (the due files
//! oldest first, one at a time; a failing or panicking file is recorded as that file's
//! error and the run goes on), the per-processor bookkeeping (`last_run` advances whatever
//! the outcome, panics included, and survives restarts), and the events that tell the
//! engine a run started or finished.
//! Does not own: the file index (the watcher tells us with [`SchedulerHandle::notify_changed`]),
//! what a processor does with a file ([`super::processor`]), or the status' decision
//! ([`super::status`]; [`SchedulerHandle::pipeline_status`] only gathers its input).
//!
//! Processors are independent: each has its own ticker task, and each run is its own task,
//! so a slow processor never delays another. Every task is on the caller's `TaskTracker`
//! and stops with its `CancellationToken` (or when the last handle is dropped).

use super::processor::{ProcessContext, ProcessError, Processor, SessionFile};
pub use super::records::ProcessorOutcome;
use super::status::{self, PipelineStatus};
use crate::clock::{self, SharedClock};
use crate::config::SessionsConfig;
use crate::store::{DueFile, ProcessorRun, Store, StoreError};
use chrono::{DateTime, Utc};
use futures::FutureExt;
use parking_lot::Mutex;
use serde::Serialize;
use std::any::Any;
use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::{CancellationToken, DropGuard};
use tokio_util::task::TaskTracker;

/// Where the stuck-file grace comes from: [`crate::config`] reads it once per load into
/// `Config::stuck_file_grace`, which callers pass to [`SchedulerHandle::pipeline_status`].
pub use crate::config::{parse_stuck_grace, STUCK_GRACE_ENV};

/// Scheduler events kept for slow subscribers.
const EVENT_BUFFER: usize = 256;

/// One processor to schedule.
#[derive(Debug, Clone)]
pub struct ProcessorSpec {
    pub name: String,
    pub processor: Processor,
    pub cadence: Duration,
    /// `false`: never runs by itself (no cadence, no change trigger); [`SchedulerHandle::run_now`]
    /// still runs it.
    pub enabled: bool,
}

impl ProcessorSpec {
    /// The processors of a checked `[sessions]` table.
    pub fn from_config(
        sessions: &SessionsConfig,
    ) -> Result<Vec<ProcessorSpec>, super::processor::ProcessorConfigError> {
        sessions
            .processors
            .iter()
            .map(|c| {
                Ok(ProcessorSpec {
                    name: c.name.clone(),
                    processor: Processor::from_config(c)?,
                    cadence: c.cadence(),
                    enabled: c.enabled(),
                })
            })
            .collect()
    }
}

/// Why a run started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    Cadence,
    Changed,
    Manual,
    /// Files changed during the previous run.
    Again,
}

/// What the scheduler tells the engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SchedulerEvent {
    RunStarted {
        processor: String,
        trigger: Trigger,
    },
    RunFinished {
        processor: String,
        outcome: ProcessorOutcome,
        processed: u64,
        failed: u64,
        error: Option<String>,
    },
}

/// Why [`SchedulerHandle::run_now`] did not start a run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunRefused {
    #[error("processor {0:?} is already running")]
    Busy(String),
    #[error("no session processor is named {0:?}")]
    NotFound(String),
    #[error("shutting down")]
    ShuttingDown,
}

impl RunRefused {
    /// Stable machine-readable code (`busy` → HTTP 409, `not_found` → 404).
    pub fn code(&self) -> &'static str {
        match self {
            RunRefused::Busy(_) => "busy",
            RunRefused::NotFound(_) => "not_found",
            RunRefused::ShuttingDown => "shutting_down",
        }
    }
}

/// The processors could not be scheduled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchedulerError {
    #[error("two session processors are named {0:?}")]
    DuplicateName(String),
    #[error("processor {0:?}: the cadence must be greater than 0")]
    ZeroCadence(String),
}

/// One processor, as `GET /api/sessions` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct ProcessorState {
    pub name: String,
    pub kind: String,
    pub cadence_secs: u64,
    pub enabled: bool,
    pub running: bool,
    pub last_run_started_at: Option<DateTime<Utc>>,
    pub last_run_finished_at: Option<DateTime<Utc>>,
    pub last_outcome: Option<ProcessorOutcome>,
    pub last_error: Option<String>,
    /// Files processed and failed in the last finished run.
    pub files_processed: u64,
    pub files_failed: u64,
    /// Files due now.
    pub backlog: u64,
    /// The next cadence run (none when disabled or stopped).
    pub next_run_at: Option<DateTime<Utc>>,
}

/// Starts processors.
pub struct Scheduler;

impl Scheduler {
    /// Starts one ticker per enabled processor (its first run is at once) on `tracker`.
    /// Files are `root` joined with the index's relative paths. Everything stops when
    /// `cancel` is cancelled or the last handle is dropped.
    pub fn start(
        store: Store,
        root: PathBuf,
        specs: Vec<ProcessorSpec>,
        clock: SharedClock,
        cancel: &CancellationToken,
        tracker: &TaskTracker,
    ) -> Result<SchedulerHandle, SchedulerError> {
        let mut names = HashSet::new();
        for spec in &specs {
            if !names.insert(spec.name.clone()) {
                return Err(SchedulerError::DuplicateName(spec.name.clone()));
            }
            if spec.cadence.is_zero() {
                return Err(SchedulerError::ZeroCadence(spec.name.clone()));
            }
        }
        let cancel = cancel.child_token();
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let inner = Arc::new(Inner {
            store,
            root,
            started_at: clock.now(),
            clock,
            cancel: cancel.clone(),
            tracker: tracker.clone(),
            slots: specs
                .into_iter()
                .map(|spec| {
                    Arc::new(Slot {
                        spec,
                        running: AtomicBool::new(false),
                        again: AtomicBool::new(false),
                        next_run_at: Mutex::new(None),
                    })
                })
                .collect(),
            events,
        });
        for slot in inner.slots.iter().filter(|s| s.spec.enabled) {
            tracker.spawn(ticker(inner.clone(), slot.clone()));
        }
        Ok(SchedulerHandle {
            inner,
            _stop_on_drop: Arc::new(cancel.drop_guard()),
        })
    }
}

/// The scheduler's handle: cheap to clone; the scheduler stops when the last clone drops.
#[derive(Clone)]
pub struct SchedulerHandle {
    inner: Arc<Inner>,
    _stop_on_drop: Arc<DropGuard>,
}

struct Inner {
    store: Store,
    root: PathBuf,
    clock: SharedClock,
    /// When this scheduler started: a processor gets one grace period for its first run.
    started_at: DateTime<Utc>,
    cancel: CancellationToken,
    tracker: TaskTracker,
    slots: Vec<Arc<Slot>>,
    events: broadcast::Sender<SchedulerEvent>,
}

struct Slot {
    spec: ProcessorSpec,
    /// The lock: a run is in flight. Taken by [`try_launch`], released by [`RunGuard`].
    running: AtomicBool,
    /// Files changed since the current run listed its due files.
    again: AtomicBool,
    next_run_at: Mutex<Option<DateTime<Utc>>>,
}

impl SchedulerHandle {
    /// Files changed: every enabled processor runs soon. A processor that is running runs
    /// once more right after (however many changes came in meanwhile).
    pub fn notify_changed(&self) {
        for slot in self.inner.slots.iter().filter(|s| s.spec.enabled) {
            // Set before trying the lock: a run that ends meanwhile sees it and goes again.
            slot.again.store(true, SeqCst);
            // Busy: the run in flight sees `again` and goes again; shutting down: no more runs.
            let _ = try_launch(&self.inner, slot, Trigger::Changed);
        }
    }

    /// Starts a run of `name` now (also when it is disabled), without waiting for it.
    pub async fn run_now(&self, name: &str) -> Result<(), RunRefused> {
        let slot = self
            .inner
            .slots
            .iter()
            .find(|s| s.spec.name == name)
            .ok_or_else(|| RunRefused::NotFound(name.to_owned()))?;
        try_launch(&self.inner, slot, Trigger::Manual)
    }

    /// Every processor, in config order, with its last run and backlog.
    pub async fn states(&self) -> Result<Vec<ProcessorState>, StoreError> {
        let runs = self.inner.store.processor_runs().await?;
        let mut out = Vec::with_capacity(self.inner.slots.len());
        for slot in &self.inner.slots {
            let spec = &slot.spec;
            let run = runs
                .iter()
                .find(|r| r.processor == spec.name)
                .cloned()
                .unwrap_or_default();
            out.push(ProcessorState {
                name: spec.name.clone(),
                kind: spec.processor.kind().to_owned(),
                cadence_secs: spec.cadence.as_secs(),
                enabled: spec.enabled,
                running: slot.running.load(SeqCst),
                last_run_started_at: run.last_run_started_at,
                last_run_finished_at: run.last_run_finished_at,
                last_outcome: run.last_outcome,
                last_error: run.last_error,
                files_processed: run.files_processed,
                files_failed: run.files_failed,
                backlog: self.inner.store.session_backlog(&spec.name).await?,
                next_run_at: if self.inner.cancel.is_cancelled() {
                    None
                } else {
                    *slot.next_run_at.lock()
                },
            });
        }
        Ok(out)
    }

    /// Runs started and finished, as they happen.
    pub fn subscribe(&self) -> broadcast::Receiver<SchedulerEvent> {
        self.inner.events.subscribe()
    }

    /// The pipeline status at `now` over the enabled processors (see [`status`]);
    /// `stuck_grace_override` is the config's `stuck_file_grace`.
    pub async fn pipeline_status(
        &self,
        now: DateTime<Utc>,
        stuck_grace_override: Option<Duration>,
    ) -> Result<PipelineStatus, StoreError> {
        let processors: Vec<(&str, Duration)> = self
            .inner
            .slots
            .iter()
            .filter(|s| s.spec.enabled)
            .map(|s| (s.spec.name.as_str(), s.spec.cadence))
            .collect();
        let mut input = self
            .inner
            .store
            .pipeline_input(&processors, stuck_grace_override)
            .await?;
        let runs = self.inner.store.processor_runs().await?;
        for p in &mut input.processors {
            let finished = runs
                .iter()
                .any(|r| r.processor == p.name && r.last_run_finished_at.is_some());
            p.first_run_pending = !finished
                && now < crate::clock::add(self.inner.started_at, status::grace(p.cadence));
        }
        Ok(status::pipeline_status(&input, now))
    }

    /// Stops every ticker and run (a command in flight is killed); the tracker sees them end.
    pub fn stop(&self) {
        self.inner.cancel.cancel();
    }
}

/// Takes `slot`'s lock and starts a run on the tracker; `Busy` when one is in flight.
fn try_launch(inner: &Arc<Inner>, slot: &Arc<Slot>, trigger: Trigger) -> Result<(), RunRefused> {
    if inner.cancel.is_cancelled() {
        return Err(RunRefused::ShuttingDown);
    }
    if slot
        .running
        .compare_exchange(false, true, SeqCst, SeqCst)
        .is_err()
    {
        return Err(RunRefused::Busy(slot.spec.name.clone()));
    }
    let guard = RunGuard(slot.clone());
    inner.tracker.spawn(run(inner.clone(), guard, trigger));
    Ok(())
}

/// Holds a processor's lock; releases it when dropped, however the run ended (a panic or an
/// aborted task included).
struct RunGuard(Arc<Slot>);

impl Drop for RunGuard {
    fn drop(&mut self) {
        self.0.running.store(false, SeqCst);
    }
}

/// A processor's cadence: the first tick at once, then every `cadence` after the previous
/// tick; a tick that comes during a run is skipped (`MissedTickBehavior::Delay`: no burst
/// of catch-up runs after a long one).
async fn ticker(inner: Arc<Inner>, slot: Arc<Slot>) {
    let cadence = slot.spec.cadence;
    let mut interval = tokio::time::interval(cadence);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = inner.cancel.cancelled() => break,
            _ = interval.tick() => {
                *slot.next_run_at.lock() = Some(clock::add(inner.clock.now(), cadence));
                if let Err(RunRefused::Busy(name)) = try_launch(&inner, &slot, Trigger::Cadence) {
                    tracing::debug!(processor = %name, "still running: this tick is skipped");
                }
            }
        }
    }
    *slot.next_run_at.lock() = None;
}

/// What one run did.
#[derive(Debug, Default)]
struct Report {
    processed: u64,
    failed: u64,
    panicked: bool,
    cancelled: bool,
    /// The run's own error (the due files could not be listed), or the first file's.
    error: Option<String>,
}

impl Report {
    fn outcome(&self) -> ProcessorOutcome {
        if self.cancelled {
            ProcessorOutcome::Cancelled
        } else if self.panicked {
            ProcessorOutcome::Panicked
        } else if self.failed > 0 || self.error.is_some() {
            ProcessorOutcome::Failed
        } else {
            ProcessorOutcome::Ok
        }
    }
}

/// One run, holding the lock: bookkeeping before and after, whatever happens in between.
async fn run(inner: Arc<Inner>, guard: RunGuard, trigger: Trigger) {
    let slot = guard.0.clone();
    let name = slot.spec.name.clone();
    // Changes before this point are seen by the due-file query below.
    slot.again.store(false, SeqCst);
    let started = inner.clock.now();
    // Err: nobody subscribed now. Events are notices; the run's record is in the store.
    let _ = inner.events.send(SchedulerEvent::RunStarted {
        processor: name.clone(),
        trigger,
    });
    if let Err(e) = inner.store.record_run_started(&name, started).await {
        tracing::warn!(processor = %name, error = %e, "cannot record the start of a run");
    }
    let report = match AssertUnwindSafe(process_due(&inner, &slot))
        .catch_unwind()
        .await
    {
        Ok(report) => report,
        Err(panic) => Report {
            panicked: true,
            error: Some(format!("the run panicked: {}", panic_text(&*panic))),
            ..Report::default()
        },
    };
    let outcome = report.outcome();
    let error = match (&report.error, report.failed) {
        (Some(e), 0) => Some(e.clone()),
        (Some(first), n) => Some(format!(
            "{n} of {} files failed; first: {first}",
            n + report.processed
        )),
        (None, _) => None,
    };
    let finished = ProcessorRun {
        processor: name.clone(),
        last_run_started_at: Some(started),
        last_run_finished_at: Some(inner.clock.now()),
        last_outcome: Some(outcome),
        last_error: error.clone(),
        files_processed: report.processed,
        files_failed: report.failed,
    };
    if let Err(e) = inner.store.record_run_finished(&finished).await {
        tracing::warn!(processor = %name, error = %e, "cannot record the end of a run");
    }
    match outcome {
        ProcessorOutcome::Ok => {
            tracing::debug!(processor = %name, processed = report.processed, "run finished")
        }
        _ => {
            tracing::warn!(processor = %name, outcome = outcome.as_str(), processed = report.processed, failed = report.failed, error = error.as_deref().unwrap_or(""), "run finished")
        }
    }
    drop(guard);
    // Err: nobody subscribed now. Events are notices; the run's record is in the store.
    let _ = inner.events.send(SchedulerEvent::RunFinished {
        processor: name,
        outcome,
        processed: report.processed,
        failed: report.failed,
        error,
    });
    // After the release: a change that came in during the run and found the lock taken is
    // picked up now (its notifier set `again` before trying the lock).
    if slot.again.load(SeqCst) {
        // Busy: another launch won the lock and will see the changes; shutting down: done.
        let _ = try_launch(&inner, &slot, Trigger::Again);
    }
}

/// Processes the due files, oldest first. One file's failure or panic is that file's
/// error; the run goes on.
async fn process_due(inner: &Inner, slot: &Slot) -> Report {
    let name = slot.spec.name.as_str();
    let mut report = Report::default();
    let due = match inner.store.session_due_files(name).await {
        Ok(due) => due,
        Err(e) => {
            report.error = Some(format!("cannot list the due files: {e}"));
            return report;
        }
    };
    for listed in due {
        if inner.cancel.is_cancelled() {
            report.cancelled = true;
            break;
        }
        // The index as it is now: the hash recorded is the one of the content processed
        // (or older, which only means one more processing later). Gone: nothing to do.
        let file = match inner.store.session_indexed_file(&listed.path).await {
            Ok(Some(file)) => file,
            Ok(None) => continue,
            Err(e) => {
                report.error.get_or_insert(format!("{}: {e}", listed.path));
                report.failed += 1;
                continue;
            }
        };
        let result = match resolve(&inner.root, &file.path) {
            Some(abs_path) => {
                let session = SessionFile {
                    path: file.path.clone(),
                    abs_path,
                    username: file.username.clone(),
                    mtime: file.mtime,
                    file_hash: file.file_hash.clone(),
                };
                let ctx = ProcessContext {
                    store: inner.store.clone(),
                    cancel: inner.cancel.clone(),
                    now: inner.clock.now(),
                };
                let work =
                    AssertUnwindSafe(slot.spec.processor.process(&session, &ctx)).catch_unwind();
                // Shutdown does not wait for a processor that ignores it (dropping a
                // command's future kills its process group).
                tokio::select! {
                    biased;
                    result = work => result,
                    () = inner.cancel.cancelled() => Ok(Err(ProcessError::Cancelled)),
                }
            }
            None => Ok(Err(ProcessError::Failed(
                "the path leaves the sessions root".to_owned(),
            ))),
        };
        let error = match result {
            Ok(Ok(done)) => {
                match inner
                    .store
                    .record_session_processed(name, &file, done.items, inner.clock.now())
                    .await
                {
                    Ok(()) => {
                        report.processed += 1;
                        continue;
                    }
                    Err(e) => format!("processed, but the state was not stored: {e}"),
                }
            }
            Ok(Err(ProcessError::Cancelled)) => {
                report.cancelled = true;
                break;
            }
            Ok(Err(e)) => e.to_string(),
            Err(panic) => {
                report.panicked = true;
                format!("panicked: {}", panic_text(&*panic))
            }
        };
        report.failed += 1;
        report
            .error
            .get_or_insert(format!("{}: {error}", file.path));
        record_failure(inner, name, &file, &error).await;
    }
    report
}

async fn record_failure(inner: &Inner, name: &str, file: &DueFile, error: &str) {
    tracing::debug!(processor = name, file = %file.path, error, "session file failed");
    if let Err(e) = inner
        .store
        .record_session_failed(name, file, error, inner.clock.now())
        .await
    {
        tracing::warn!(processor = name, file = %file.path, error = %e, "cannot record a file's failure");
    }
}

/// `root` joined with an index path, which must stay inside it (plain components only).
fn resolve(root: &Path, relative: &str) -> Option<PathBuf> {
    let rel = Path::new(relative);
    let plain = rel.components().all(|c| matches!(c, Component::Normal(_)));
    if !plain || relative.is_empty() {
        return None;
    }
    let joined = root.join(rel);
    std::path::absolute(&joined).ok()
}

fn panic_text(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use crate::sessions::processor::{ProcessFile, Processed};
    use crate::store::ms;
    use futures::future::BoxFuture;
    use std::sync::atomic::AtomicU64;
    use tokio::sync::Semaphore;

    /// A processor that waits for a permit per file (so a test holds a run open), counts
    /// how often it ran and at most how many ran at once, and fails or panics on request.
    struct Gate {
        permits: Semaphore,
        calls: AtomicU64,
        inside: AtomicU64,
        max_inside: AtomicU64,
        panic_on: Mutex<Option<String>>,
        fail_on: Mutex<Option<String>>,
    }

    impl ProcessFile for Gate {
        fn kind(&self) -> &str {
            "gate"
        }

        fn process<'a>(
            &'a self,
            file: &'a SessionFile,
            _ctx: &'a ProcessContext,
        ) -> BoxFuture<'a, Result<Processed, ProcessError>> {
            Box::pin(async move {
                self.calls.fetch_add(1, SeqCst);
                let now_inside = self.inside.fetch_add(1, SeqCst) + 1;
                self.max_inside.fetch_max(now_inside, SeqCst);
                let _left = Left(&self.inside);
                self.permits.acquire().await.expect("open").forget();
                if self.panic_on.lock().as_deref() == Some(file.path.as_str()) {
                    panic!("bad record in {}", file.path);
                }
                if self.fail_on.lock().as_deref() == Some(file.path.as_str()) {
                    return Err(ProcessError::Failed("cannot parse".into()));
                }
                Ok(Processed { items: 2 })
            })
        }
    }

    impl Default for Gate {
        fn default() -> Self {
            Self {
                permits: Semaphore::new(0),
                calls: AtomicU64::new(0),
                inside: AtomicU64::new(0),
                max_inside: AtomicU64::new(0),
                panic_on: Mutex::new(None),
                fail_on: Mutex::new(None),
            }
        }
    }

    struct Left<'a>(&'a AtomicU64);
    impl Drop for Left<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, SeqCst);
        }
    }

    struct Lab {
        dir: tempfile::TempDir,
        clock: SharedClock,
        store: Store,
        cancel: CancellationToken,
        tracker: TaskTracker,
    }

    async fn lab() -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let clock: SharedClock = Arc::new(SystemClock);
        let store = Store::open(&dir.path().join("steward.db"), Arc::clone(&clock))
            .await
            .unwrap();
        Lab {
            dir,
            clock,
            store,
            cancel: CancellationToken::new(),
            tracker: TaskTracker::new(),
        }
    }

    impl Lab {
        async fn index(&self, path: &str, hash: &str) {
            sqlx::query(
                "INSERT INTO session_files (path, username, size, mtime, file_hash, seen_at) \
                 VALUES (?, 'u', 1, ?, ?, 0) ON CONFLICT (path) DO UPDATE SET \
                 mtime = excluded.mtime, file_hash = excluded.file_hash",
            )
            .bind(path)
            .bind(ms(self.clock.now()))
            .bind(hash)
            .execute(self.store.pool())
            .await
            .unwrap();
        }

        fn start(&self, specs: Vec<ProcessorSpec>) -> SchedulerHandle {
            Scheduler::start(
                self.store.clone(),
                self.dir.path().to_owned(),
                specs,
                Arc::clone(&self.clock),
                &self.cancel,
                &self.tracker,
            )
            .unwrap()
        }
    }

    fn spec(name: &str, gate: &Arc<Gate>, cadence: Duration, enabled: bool) -> ProcessorSpec {
        ProcessorSpec {
            name: name.to_owned(),
            processor: Processor::Custom(gate.clone()),
            cadence,
            enabled,
        }
    }

    const HOUR: Duration = Duration::from_secs(3600);

    /// Waits (bounded) for an event matching `want`.
    async fn until(
        rx: &mut broadcast::Receiver<SchedulerEvent>,
        want: impl Fn(&SchedulerEvent) -> bool,
    ) -> SchedulerEvent {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let e = rx.recv().await.expect("scheduler alive");
                if want(&e) {
                    return e;
                }
            }
        })
        .await
        .expect("the event came")
    }

    fn finished(e: &SchedulerEvent) -> bool {
        matches!(e, SchedulerEvent::RunFinished { .. })
    }

    async fn state(h: &SchedulerHandle, name: &str) -> ProcessorState {
        h.states()
            .await
            .unwrap()
            .into_iter()
            .find(|s| s.name == name)
            .unwrap()
    }

    #[tokio::test]
    async fn the_first_cadence_run_is_at_once_and_processes_every_due_file() {
        let lab = lab().await;
        lab.index("u/a.jsonl", "h1").await;
        lab.index("u/b.jsonl", "h2").await;
        let gate = Arc::new(Gate::default());
        gate.permits.add_permits(100);
        let h = lab.start(vec![spec("p", &gate, HOUR, true)]);
        let mut rx = h.subscribe();
        let e = until(&mut rx, finished).await;
        assert_eq!(
            e,
            SchedulerEvent::RunFinished {
                processor: "p".into(),
                outcome: ProcessorOutcome::Ok,
                processed: 2,
                failed: 0,
                error: None
            }
        );
        let st = lab
            .store
            .session_file_state("p", "u/a.jsonl")
            .await
            .unwrap()
            .unwrap();
        assert!(st.processed_at.is_some());
        assert_eq!(
            (st.items_extracted, st.file_hash.as_deref()),
            (2, Some("h1"))
        );
        let s = state(&h, "p").await;
        assert_eq!((s.backlog, s.files_processed, s.running), (0, 2, false));
        assert_eq!(s.last_outcome, Some(ProcessorOutcome::Ok));
        assert!(s.next_run_at.unwrap() > lab.clock.now() + chrono::Duration::minutes(59));
        lab.cancel.cancel();
    }

    #[tokio::test]
    async fn a_manual_run_while_one_is_in_flight_is_busy_and_the_lock_is_released_after() {
        let lab = lab().await;
        lab.index("u/a.jsonl", "h1").await;
        let gate = Arc::new(Gate::default());
        let h = lab.start(vec![spec("p", &gate, HOUR, false)]);
        let mut rx = h.subscribe();
        assert_eq!(
            h.run_now("nope").await,
            Err(RunRefused::NotFound("nope".into()))
        );
        h.run_now("p")
            .await
            .expect("disabled, but a manual run is allowed");
        assert_eq!(h.run_now("p").await, Err(RunRefused::Busy("p".into())));
        assert_eq!(RunRefused::Busy("p".into()).code(), "busy");
        assert!(state(&h, "p").await.running);
        gate.permits.add_permits(1);
        until(&mut rx, finished).await;
        assert!(!state(&h, "p").await.running);
        h.run_now("p").await.expect("the lock was released");
        until(&mut rx, finished).await;
        assert_eq!(
            gate.calls.load(SeqCst),
            1,
            "the second run found nothing due"
        );
        lab.cancel.cancel();
    }

    #[tokio::test]
    async fn changes_during_a_run_coalesce_into_one_more_run_never_two_at_once() {
        let lab = lab().await;
        lab.index("u/a.jsonl", "h1").await;
        let gate = Arc::new(Gate::default());
        let h = lab.start(vec![spec("p", &gate, HOUR, true)]);
        let mut rx = h.subscribe();
        // The first (cadence) run is held open on a.jsonl.
        until(&mut rx, |e| matches!(e, SchedulerEvent::RunStarted { .. })).await;
        lab.index("u/b.jsonl", "h2").await;
        for _ in 0..5 {
            h.notify_changed();
        }
        gate.permits.add_permits(10);
        let first = until(&mut rx, finished).await;
        let again = until(&mut rx, |e| matches!(e, SchedulerEvent::RunStarted { .. })).await;
        assert_eq!(
            again,
            SchedulerEvent::RunStarted {
                processor: "p".into(),
                trigger: Trigger::Again
            }
        );
        let second = until(&mut rx, finished).await;
        let processed = |e: &SchedulerEvent| match e {
            SchedulerEvent::RunFinished { processed, .. } => *processed,
            _ => unreachable!(),
        };
        assert_eq!(processed(&first) + processed(&second), 2);
        assert_eq!(gate.max_inside.load(SeqCst), 1, "never two runs at once");
        // Nothing else is pending: once the run task is gone (only the ticker is left),
        // no third run was started.
        wait_for_tasks(&lab.tracker, 1).await;
        assert!(matches!(
            rx.try_recv(),
            Err(broadcast::error::TryRecvError::Empty)
        ));
        assert_eq!(gate.calls.load(SeqCst), 2, "a.jsonl and b.jsonl, once each");
        lab.cancel.cancel();
    }

    /// Waits (bounded) until `n` tasks are left on the tracker.
    async fn wait_for_tasks(tracker: &TaskTracker, n: usize) {
        tokio::time::timeout(Duration::from_secs(10), async {
            while tracker.len() != n {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the tasks ended");
    }

    #[tokio::test]
    async fn disabled_processors_do_not_run_by_themselves_but_are_listed() {
        let lab = lab().await;
        lab.index("u/a.jsonl", "h1").await;
        let gate = Arc::new(Gate::default());
        gate.permits.add_permits(10);
        let h = lab.start(vec![spec("off", &gate, Duration::from_millis(20), false)]);
        h.notify_changed();
        assert_eq!(
            lab.tracker.len(),
            0,
            "no ticker, and a change started no run"
        );
        let s = state(&h, "off").await;
        assert!(!s.enabled && !s.running);
        assert_eq!((s.backlog, s.next_run_at, s.last_outcome), (1, None, None));
        lab.cancel.cancel();
    }

    #[tokio::test]
    async fn a_panicking_file_is_that_files_error_and_last_run_still_advances() {
        let lab = lab().await;
        lab.index("u/a.jsonl", "h1").await;
        lab.index("u/b.jsonl", "h2").await;
        lab.index("u/c.jsonl", "h3").await;
        let gate = Arc::new(Gate::default());
        gate.permits.add_permits(100);
        *gate.panic_on.lock() = Some("u/b.jsonl".into());
        *gate.fail_on.lock() = Some("u/c.jsonl".into());
        let h = lab.start(vec![spec("p", &gate, HOUR, false)]);
        let mut rx = h.subscribe();
        h.run_now("p").await.unwrap();
        let e = until(&mut rx, finished).await;
        let SchedulerEvent::RunFinished {
            outcome,
            processed,
            failed,
            error,
            ..
        } = e
        else {
            unreachable!()
        };
        assert_eq!(
            (outcome, processed, failed),
            (ProcessorOutcome::Panicked, 1, 2)
        );
        assert_eq!(
            error.as_deref(),
            Some("2 of 3 files failed; first: u/b.jsonl: panicked: bad record in u/b.jsonl")
        );
        let b = lab
            .store
            .session_file_state("p", "u/b.jsonl")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            b.last_error.as_deref(),
            Some("panicked: bad record in u/b.jsonl")
        );
        assert_eq!(b.processed_at, None);
        let c = lab
            .store
            .session_file_state("p", "u/c.jsonl")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(c.last_error.as_deref(), Some("cannot parse"));
        let s = state(&h, "p").await;
        assert_eq!(s.last_outcome, Some(ProcessorOutcome::Panicked));
        assert!(s.last_run_finished_at >= s.last_run_started_at);
        assert_eq!(s.backlog, 2);
        h.run_now("p").await.expect("released after a panic");
        lab.cancel.cancel();
    }

    #[tokio::test]
    async fn a_slow_processor_does_not_hold_up_another() {
        let lab = lab().await;
        lab.index("u/a.jsonl", "h1").await;
        let slow = Arc::new(Gate::default());
        let fast = Arc::new(Gate::default());
        fast.permits.add_permits(10);
        let h = lab.start(vec![
            spec("slow", &slow, HOUR, true),
            spec("fast", &fast, HOUR, true),
        ]);
        let mut rx = h.subscribe();
        let e = until(&mut rx, finished).await;
        assert!(
            matches!(&e, SchedulerEvent::RunFinished { processor, .. } if processor == "fast"),
            "{e:?}"
        );
        assert!(state(&h, "slow").await.running, "still held open");
        // Stopping ends the held run (its processor ignores the token) and records it.
        h.stop();
        lab.tracker.close();
        tokio::time::timeout(Duration::from_secs(10), lab.tracker.wait())
            .await
            .expect("every task stops");
        let s = state(&h, "slow").await;
        assert_eq!(s.last_outcome, Some(ProcessorOutcome::Cancelled));
        assert!(!s.running);
        assert_eq!(s.backlog, 1, "a.jsonl is still to do for slow");
        assert_eq!(state(&h, "fast").await.backlog, 0);
    }

    #[tokio::test]
    async fn stopping_refuses_new_runs_and_drops_stop_the_tickers() {
        let lab = lab().await;
        let gate = Arc::new(Gate::default());
        let h = lab.start(vec![spec("p", &gate, HOUR, true)]);
        let mut rx = h.subscribe();
        until(&mut rx, finished).await;
        drop(rx);
        drop(h);
        lab.tracker.close();
        tokio::time::timeout(Duration::from_secs(10), lab.tracker.wait())
            .await
            .expect("the last handle dropped stops the ticker");
        assert!(!lab.cancel.is_cancelled(), "only the scheduler's own token");
        let h = lab.start(vec![spec("p", &gate, HOUR, true)]);
        h.stop();
        assert_eq!(h.run_now("p").await, Err(RunRefused::ShuttingDown));
    }

    #[tokio::test]
    async fn duplicate_names_and_zero_cadences_are_refused() {
        let lab = lab().await;
        let gate = Arc::new(Gate::default());
        let start = |specs| {
            Scheduler::start(
                lab.store.clone(),
                PathBuf::from("/s"),
                specs,
                Arc::new(SystemClock),
                &lab.cancel,
                &lab.tracker,
            )
            .err()
        };
        assert_eq!(
            start(vec![
                spec("a", &gate, HOUR, true),
                spec("a", &gate, HOUR, true)
            ]),
            Some(SchedulerError::DuplicateName("a".into()))
        );
        assert_eq!(
            start(vec![spec("z", &gate, Duration::ZERO, true)]),
            Some(SchedulerError::ZeroCadence("z".into()))
        );
        assert_eq!(lab.tracker.len(), 0, "nothing was started");
    }

    #[test]
    fn paths_outside_the_root_are_refused() {
        let root = Path::new("/data/sessions");
        assert_eq!(
            resolve(root, "ann/a.jsonl"),
            Some(PathBuf::from("/data/sessions/ann/a.jsonl"))
        );
        for bad in ["../etc/passwd", "/etc/passwd", "ann/../../x", "", "./a"] {
            assert_eq!(resolve(root, bad), None, "{bad:?}");
        }
    }
}
