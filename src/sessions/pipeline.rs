//! The session pipeline wired into the engine: watcher → index → processors → status.
//!
//! Owns: starting the `[sessions]` parts with the engine, the loop that applies watcher
//! batches to the index and tells the scheduler (so a new file is processed within a
//! second, not on the next tick), the periodic rescan safety net, the status kept current
//! (recomputed on every change and every few seconds, since a grace can run out with no
//! file event at all), the timeline event and notification on each status transition,
//! the `pipeline_stale` health event a `warning` hands to the planner, and the views
//! behind `GET /api/sessions`, `POST /api/sessions/processors/{name}/run`,
//! `services.session_pipeline` and the pipeline's part of `GET /metrics`.
//! Does not own: watching (`sessions::watcher`), the index (`sessions::index`), running
//! processors (`sessions::scheduler`) or what the status is (`sessions::status`, pure).

use crate::config::SessionsConfig;
use crate::context::Context;
use crate::error::ApiError;
use crate::events::EngineEvent;
use crate::outbox::Update;
use crate::planner::event::HealthEvent;
use crate::planner::intake::Intake;
use crate::sessions::index::{FileIndex, ScanReport};
use crate::sessions::scheduler::{
    ProcessorSpec, ProcessorState, RunRefused, Scheduler, SchedulerEvent, SchedulerHandle,
};
use crate::sessions::status::{PipelineLevel, PipelineStatus};
use crate::sessions::view::{
    scanning, watch_view, FileProcessorView, FileView, FilesView, PipelineUpdate, ScanView,
    SessionsView, UsageView, WatchView,
};
use crate::sessions::watcher::{Change, SessionWatcher};
use parking_lot::Mutex;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The safety net: a full rescan this often, whatever the watcher says.
pub const RESCAN_EVERY: Duration = Duration::from_secs(5 * 60);
/// The status is recomputed this often even when nothing happens (graces run out).
pub const STATUS_EVERY: Duration = Duration::from_secs(10);
/// Live pushes of the pipeline view are at most this frequent.
const PUSH_EVERY: Duration = Duration::from_millis(250);
/// Newest files listed by `GET /api/sessions`.
pub const FILES_LISTED: u32 = 200;
/// The service name of the pipeline in health events and proposals.
pub use crate::sessions::status::SERVICE;
/// How long `GET /metrics` reuses the processors' backlog before it counts again.
pub const SCRAPE_TTL: Duration = Duration::from_secs(10);
/// Where the last status level is kept, so a restart does not notify again.
const LEVEL_SETTING: &str = "session_pipeline_level";

/// The running pipeline (one per engine, when `[sessions]` is configured).
pub struct Pipeline {
    ctx: Arc<Context>,
    /// Where a `warning` goes as a `pipeline_stale` event.
    intake: Arc<Intake>,
    root: PathBuf,
    index: FileIndex,
    scheduler: SchedulerHandle,
    watcher: SessionWatcher,
    /// The first full scan finished (until then the status says it is scanning).
    scanned: AtomicBool,
    last_scan: Mutex<Option<ScanView>>,
    status: Mutex<Option<PipelineStatus>>,
    /// The processors' states as `GET /metrics` last read them, and when.
    scraped: tokio::sync::Mutex<(Option<tokio::time::Instant>, Vec<ProcessorState>)>,
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("sessions: {0}")]
    Processor(#[from] crate::sessions::processor::ProcessorConfigError),
    #[error("sessions: {0}")]
    Scheduler(#[from] crate::sessions::scheduler::SchedulerError),
}

impl Pipeline {
    /// Starts the watcher and the scheduler (their tasks are the engine's); the loop
    /// that ties them together is [`run`].
    pub fn start(
        ctx: Arc<Context>,
        intake: Arc<Intake>,
        config: &SessionsConfig,
    ) -> Result<(Arc<Pipeline>, mpsc::Receiver<Vec<Change>>), PipelineError> {
        let root = std::path::absolute(&config.root).unwrap_or_else(|_| config.root.clone());
        let specs = ProcessorSpec::from_config(config)?;
        let cancel = ctx.cancel_token();
        let store = ctx.store.clone();
        let scheduler = Scheduler::start(
            store.clone(),
            root.clone(),
            specs,
            ctx.clock.clone(),
            &cancel,
            ctx.tracker(),
        )?;
        let (watcher, changes) =
            SessionWatcher::start(root.clone(), cancel.child_token(), ctx.tracker());
        let index = FileIndex::new(store, &root, ctx.clock.clone());
        Ok((
            Arc::new(Pipeline {
                ctx,
                intake,
                index,
                root,
                scheduler,
                watcher,
                scanned: AtomicBool::new(false),
                last_scan: Mutex::new(None),
                status: Mutex::new(None),
                scraped: tokio::sync::Mutex::new((None, Vec::new())),
            }),
            changes,
        ))
    }

    /// The last computed status (`None` before the first).
    pub fn level(&self) -> Option<PipelineLevel> {
        self.status.lock().as_ref().map(|s| s.status)
    }

    /// Every processor with its backlog and whether it runs, for `GET /metrics`: read from
    /// the store at most every [`SCRAPE_TTL`] (a count over the indexed files per
    /// processor), however often the metrics are scraped. A failed read answers the last
    /// good one.
    pub async fn processors_for_scrape(&self) -> Vec<ProcessorState> {
        let mut cache = self.scraped.lock().await;
        let fresh = cache.0.is_some_and(|at| at.elapsed() < SCRAPE_TTL);
        if !fresh {
            match self.scheduler.states().await {
                Ok(states) => *cache = (Some(tokio::time::Instant::now()), states),
                Err(e) => tracing::warn!(error = %e, "cannot read the session processors"),
            }
        }
        cache.1.clone()
    }
}

impl Pipeline {
    /// `services.session_pipeline`: computed now (the seed's contract is that the answer
    /// reflects the files and the processing state at the time of the request).
    pub async fn status(&self) -> Result<PipelineStatus, ApiError> {
        if !self.scanned.load(Ordering::SeqCst) {
            return Ok(scanning());
        }
        Ok(self
            .scheduler
            .pipeline_status(self.ctx.now(), self.ctx.config().stuck_file_grace)
            .await?)
    }

    /// `GET /api/sessions`.
    pub async fn sessions(&self) -> Result<SessionsView, ApiError> {
        let p = self;
        let store = &self.ctx.store;
        let summary = store.session_files_summary().await?;
        let recent = store.session_files_recent(FILES_LISTED).await?;
        let states = store
            .session_states_of(&recent.iter().map(|f| f.path.clone()).collect::<Vec<_>>())
            .await?;
        let processors = p.scheduler.states().await?;
        let list = recent
            .into_iter()
            .map(|f| FileView {
                processors: processors
                    .iter()
                    .map(|proc_| {
                        let s = states
                            .iter()
                            .find(|s| s.processor == proc_.name && s.session_file == f.path);
                        FileProcessorView {
                            processor: proc_.name.clone(),
                            processed_at: s.and_then(|s| s.processed_at),
                            items_extracted: s.map_or(0, |s| s.items_extracted),
                            last_error: s.and_then(|s| s.last_error.clone()),
                        }
                    })
                    .collect(),
                path: f.path,
                username: f.username,
                size: f.size,
                mtime: f.mtime,
                file_hash: f.file_hash,
            })
            .collect::<Vec<_>>();
        let totals = store.session_usage_totals().await?;
        let since = (self.ctx.now() - chrono::Duration::days(30)).date_naive();
        let status = self.status().await?;
        let by_model = store.session_usage_by_model().await?;
        let by_day = store.session_usage_by_day(Some(since)).await?;
        // One lock, released before the answer is built (no guard in a struct literal).
        let last_scan = p.last_scan.lock().clone();
        Ok(SessionsView {
            configured: true,
            root: Some(p.root.clone()),
            watch: Some(WatchView {
                watched_dirs: Some(p.watcher.watched_dirs()),
                ..watch_view(&p.watcher.mode())
            }),
            scanned: p.scanned.load(Ordering::SeqCst),
            last_scan,
            status,
            files: FilesView {
                count: summary.files,
                total_bytes: summary.total_bytes,
                newest_mtime: summary.newest_mtime,
                truncated: summary.files > list.len() as u64,
                list,
            },
            processors,
            usage: UsageView {
                files: totals.files,
                records: totals.records,
                malformed: totals.malformed,
                tokens: totals.tokens,
                by_model,
                by_day,
            },
        })
    }

    /// `POST /api/sessions/processors/{name}/run`: starts a run now; `Conflict` while
    /// one is running, `NotFound` for a name the config does not have.
    pub async fn run_processor(&self, name: &str) -> Result<(), ApiError> {
        self.scheduler.run_now(name).await.map_err(|e| match e {
            RunRefused::Busy(_) => ApiError::Conflict(e.to_string()),
            RunRefused::NotFound(_) => ApiError::NotFound(e.to_string()),
            RunRefused::ShuttingDown => ApiError::Unavailable(e.to_string()),
        })
    }
}

/// The loop: watcher batches into the index (and the scheduler), scheduler events, the
/// periodic rescan and status checks. Ends on `cancel`.
pub async fn run(
    p: Arc<Pipeline>,
    mut changes: mpsc::Receiver<Vec<Change>>,
    cancel: CancellationToken,
) {
    let p = &*p;
    let mut runs = p.scheduler.subscribe();
    let mut modes = p.watcher.modes();
    let mut last_mode = watch_view(&modes.borrow_and_update());
    scan(p).await; // refreshes the status too
    let mut rescan = tokio::time::interval(RESCAN_EVERY);
    rescan.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    rescan.reset();
    let mut recheck = tokio::time::interval(STATUS_EVERY);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    recheck.reset();
    // Pushes go out at once, then at most one per PUSH_EVERY (the rest coalesce).
    let mut push_due = false;
    let mut next_push = tokio::time::Instant::now();
    loop {
        tokio::select! {
            () = cancel.cancelled() => break,
            batch = changes.recv() => {
                let Some(mut batch) = batch else { break };
                // Whatever else is queued goes in the same pass.
                while let Ok(more) = changes.try_recv() {
                    batch.extend(more);
                }
                apply(p, &batch).await;
                push_due = true;
            }
            event = runs.recv() => {
                match event {
                    Ok(SchedulerEvent::RunFinished { .. }) => refresh(p).await,
                    Ok(SchedulerEvent::RunStarted { .. }) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => refresh(p).await,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
                push_due = true;
            }
            changed = modes.changed() => {
                if changed.is_err() {
                    break;
                }
                let mode = watch_view(&modes.borrow_and_update());
                if mode != last_mode {
                    note_watch_mode(p, &last_mode, &mode).await;
                    last_mode = mode;
                    push_due = true;
                }
            }
            _ = rescan.tick() => {
                scan(p).await;
                push_due = true;
            }
            _ = recheck.tick() => refresh(p).await,
            () = tokio::time::sleep_until(next_push), if push_due => {
                push_due = false;
                push_view(p).await;
                next_push = tokio::time::Instant::now() + PUSH_EVERY;
            }
        }
    }
}

/// A full rescan (start, safety net): the index catches up with the disk, and the
/// processors hear of anything new or changed.
async fn scan(p: &Pipeline) {
    let started = std::time::Instant::now();
    let at = p.ctx.now();
    let result = p.index.rescan().await;
    let (report, error) = match result {
        Ok(r) => (r, None),
        Err(e) => {
            tracing::warn!(root = %p.root.display(), error = %e, "session rescan failed");
            (ScanReport::default(), Some(e.to_string()))
        }
    };
    *p.last_scan.lock() = Some(ScanView {
        at,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        seen: report.seen,
        new: report.new,
        changed: report.changed,
        removed: report.removed,
        hashed: report.hashed,
        error,
    });
    p.scanned.store(true, Ordering::SeqCst);
    if report.new + report.changed > 0 {
        p.scheduler.notify_changed();
    }
    refresh(p).await;
}

async fn apply(p: &Pipeline, batch: &[Change]) {
    match p.index.apply(batch).await {
        Ok(report) => {
            if report.new + report.changed > 0 {
                p.scheduler.notify_changed();
            }
            if report.new + report.changed + report.removed > 0 {
                refresh(p).await;
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot index session changes; rescanning");
            scan(p).await;
        }
    }
}

/// Recomputes the status; a change of level is a timeline event (and a notification when
/// it becomes or stops being a `warning`); becoming a `warning` hands the planner a
/// `pipeline_stale` event.
async fn refresh(p: &Pipeline) {
    if !p.scanned.load(Ordering::SeqCst) {
        return;
    }
    let status = match p
        .scheduler
        .pipeline_status(p.ctx.now(), p.ctx.config().stuck_file_grace)
        .await
    {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot compute the session pipeline status");
            return;
        }
    };
    let before = {
        let mut last = p.status.lock();
        let before = last.as_ref().map(|s| s.status);
        *last = Some(status.clone());
        before
    };
    let before = match before {
        Some(b) => b,
        // First computation since start: compare with what was last recorded.
        None => match p.ctx.store.setting(LEVEL_SETTING).await {
            Ok(Some(s)) => parse_level(&s),
            _ => PipelineLevel::Ok,
        },
    };
    if before == status.status {
        p.ctx.outbox.status_changed();
        return;
    }
    if let Err(e) = p
        .ctx
        .store
        .set_setting(LEVEL_SETTING, Some(status.status.as_str()))
        .await
    {
        tracing::warn!(error = %e, "cannot record the session pipeline level");
    }
    let event = EngineEvent::PipelineStatusChanged {
        status: status.status,
        previous: before,
        detail: status.detail.clone(),
        processor: status.processor.clone(),
        stuck_file: status.stuck_file.clone(),
    };
    if let Err(e) = p.ctx.outbox.publish(event).await {
        tracing::warn!(error = %e, "cannot record a session pipeline change");
    }
    if status.status == PipelineLevel::Warning {
        let mut payload = serde_json::Map::new();
        payload.insert("detail".into(), status.detail.clone().into());
        payload.insert("processor".into(), status.processor.clone().into());
        payload.insert("root".into(), p.root.display().to_string().into());
        let event = HealthEvent {
            node: p.ctx.config().node.clone(),
            service: SERVICE.into(),
            event_type: "pipeline_stale".into(),
            severity: "warning".into(),
            payload,
            timestamp: p.ctx.now(),
            raw_channel: "sessions".into(),
        };
        p.intake.admit(event, Vec::new());
    }
}

/// The stored level; anything unreadable counts as `ok` (at worst one notification again).
fn parse_level(s: &str) -> PipelineLevel {
    PipelineLevel::parse(s).unwrap_or(PipelineLevel::Ok)
}

async fn note_watch_mode(p: &Pipeline, before: &WatchView, now: &WatchView) {
    if now.mode == "polling" {
        tracing::warn!(
            reason = now.detail.as_deref().unwrap_or(""),
            "session watcher fell back to polling"
        );
    }
    let event = EngineEvent::SessionWatchChanged {
        mode: now.mode.to_owned(),
        previous: before.mode.to_owned(),
        detail: now.detail.clone(),
    };
    if let Err(e) = p.ctx.outbox.publish(event).await {
        tracing::warn!(error = %e, "cannot record the session watch mode");
    }
}

async fn push_view(p: &Pipeline) {
    let Some(status) = p.status.lock().clone() else {
        return;
    };
    let processors = match p.scheduler.states().await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the session processors");
            return;
        }
    };
    let files = p
        .ctx
        .store
        .session_files_summary()
        .await
        .map(|s| s.files)
        .unwrap_or_default();
    p.ctx.outbox.send(Update::Pipeline {
        pipeline: PipelineUpdate {
            status,
            processors,
            files,
        },
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notice::notice_for;

    fn changed(status: &str, previous: &str) -> EngineEvent {
        EngineEvent::PipelineStatusChanged {
            status: PipelineLevel::parse(status).unwrap(),
            previous: PipelineLevel::parse(previous).unwrap(),
            detail: Some("newest session x/a.jsonl is 2 h old".into()),
            processor: Some("verification".into()),
            stuck_file: None,
        }
    }

    #[test]
    fn a_warning_notifies_and_so_does_catching_up_but_an_info_does_not() {
        let n = notice_for(&changed("warning", "ok")).expect("a warning notifies");
        assert_eq!(n.title, "Session pipeline is behind");
        assert!(n.body.contains("2 h old"), "{}", n.body);
        assert_eq!(n.target.as_deref(), Some("view:pipeline"));
        let n = notice_for(&changed("ok", "warning")).expect("recovery notifies");
        assert_eq!(n.title, "Session pipeline caught up");
        assert!(
            notice_for(&changed("info", "ok")).is_none(),
            "a skipped file is for the view, not a notification"
        );
        assert!(notice_for(&changed("ok", "info")).is_none());
        assert_eq!(
            changed("warning", "ok").severity(),
            crate::events::Severity::Warning
        );
    }

    #[test]
    fn polling_instead_of_watching_is_said_once() {
        let polling = EngineEvent::SessionWatchChanged {
            mode: "polling".into(),
            previous: "native".into(),
            detail: Some("inotify watch limit reached".into()),
        };
        let n = notice_for(&polling).expect("falling back to polling is news");
        assert!(n.body.contains("watch limit"));
        assert!(polling.message().contains("polling"));
        let native = EngineEvent::SessionWatchChanged {
            mode: "native".into(),
            previous: "waiting".into(),
            detail: None,
        };
        assert!(notice_for(&native).is_none());
    }

    #[test]
    fn levels_survive_a_restart_as_text() {
        for level in [
            PipelineLevel::Ok,
            PipelineLevel::Info,
            PipelineLevel::Warning,
        ] {
            assert_eq!(parse_level(level.as_str()), level);
        }
        assert_eq!(parse_level("junk"), PipelineLevel::Ok);
    }
}
