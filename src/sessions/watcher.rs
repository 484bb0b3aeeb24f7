//! Watches the session root and reports which session files changed, bridged from
//! `notify`'s threads into tokio without dropping events.
//!
//! Owns: the `notify` watcher (through `notify-debouncer-full`, so a burst of writes to one
//! file is one report a little after it settles), its lifecycle (waiting for a root that
//! does not exist yet, re-watching a root that was removed and comes back, falling back to
//! polling when the OS refuses native watches), and translating notify's events into
//! [`Change`]s about `<root>/<user>/*.jsonl`.
//! Does not own: what a change means for the index (`index::FileIndex::apply` looks at the
//! file again), nor the periodic safety-net rescan (the caller's schedule).
//!
//! Guarantees:
//! - Every batch is sent with a blocking send on a bounded channel: while the consumer is
//!   behind, notify's debouncer thread waits and the debouncer keeps queueing raw events, so
//!   nothing is dropped. A batch is abandoned only when its watch is being torn down, and
//!   every new watch starts with a [`Change::Rescan`], so even that loses nothing.
//! - Whenever the kernel says events were lost (inotify queue overflow: notify's rescan
//!   flag) or notify reports an error, a [`Change::Rescan`] is sent.
//! - Files written into a user directory before notify added its watch are reported: when a
//!   user directory appears (created or renamed in), its session files are listed and sent
//!   as [`Change::Upsert`]s.
//! - A failing native watch (e.g. the inotify watch limit) is logged as a warning and
//!   replaced by notify's `PollWatcher`; [`SessionWatcher::mode`] says so, with the reason.
//!   The poller sees mtimes to the second only, so polling also sends a rescan every
//!   [`POLLING_RESCAN`].
//!
//! Tasks: one supervisor task on the caller's `TaskTracker`, stopped by the caller's
//! `CancellationToken` or by dropping the [`SessionWatcher`].

use super::index::{session_path, user_dir};
use notify_debouncer_full::notify::event::{
    AccessKind, AccessMode, ModifyKind, RemoveKind, RenameMode,
};
use notify_debouncer_full::notify::{
    self, ErrorKind, EventKind, PollWatcher, RecommendedWatcher, RecursiveMode,
};
use notify_debouncer_full::{
    new_debouncer_opt, DebounceEventHandler, DebounceEventResult, DebouncedEvent, Debouncer,
    NoCache, RecommendedCache,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::{CancellationToken, DropGuard};
use tokio_util::task::TaskTracker;

/// How long a file must be quiet before its change is reported.
pub const DEBOUNCE: Duration = Duration::from_millis(150);
/// The `PollWatcher`'s interval in [`WatchMode::Polling`].
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// How often a rescan is sent in [`WatchMode::Polling`]: the poller sees a change only when
/// the mtime moves to a later second, so an append in the same second as its previous look
/// would wait for the next write.
pub const POLLING_RESCAN: Duration = Duration::from_secs(60);
/// How often a missing root is looked for, and a watched one checked for still being there.
const ROOT_CHECK: Duration = Duration::from_secs(1);
/// Batches in flight before notify's thread waits for the consumer.
const CHANNEL_BATCHES: usize = 64;

/// What changed under the root. Paths are absolute: the root (made absolute, not
/// canonicalised) joined with `<user>/<name>.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A session file was created, written, truncated, touched or renamed into place.
    Upsert(PathBuf),
    /// A session file was deleted or renamed away.
    Remove(PathBuf),
    /// Look at everything: events may have been lost, a user directory went away, or a
    /// new watch just started.
    Rescan { reason: String },
}

/// How the root is being watched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchMode {
    /// inotify (or the platform's native API).
    Native,
    /// notify's `PollWatcher`, because the native watch failed (the reason says why).
    Polling { reason: String },
    /// Not watching: the root does not exist yet (or the watch is being set up).
    Waiting,
}

/// Which watcher to try first. Only tests pick anything but `Native`.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    #[default]
    Native,
    /// The native watch fails as if the inotify watch limit were reached, so the polling
    /// fallback can be tested without touching system limits.
    NativeFails,
}

/// The watch on a session root. Dropping it stops watching (so does the cancellation token
/// it was started with).
pub struct SessionWatcher {
    mode: watch::Receiver<WatchMode>,
    _stop: DropGuard,
}

impl SessionWatcher {
    /// Starts watching `root` (which need not exist yet). The receiver gets one `Vec` per
    /// debounced batch; the first batch is a [`Change::Rescan`] once the watch is in place.
    pub fn start(
        root: PathBuf,
        cancel: CancellationToken,
        tracker: &TaskTracker,
    ) -> (SessionWatcher, mpsc::Receiver<Vec<Change>>) {
        Self::start_with(root, cancel, tracker, Backend::Native)
    }

    #[doc(hidden)]
    pub fn start_with(
        root: PathBuf,
        cancel: CancellationToken,
        tracker: &TaskTracker,
        backend: Backend,
    ) -> (SessionWatcher, mpsc::Receiver<Vec<Change>>) {
        let root = std::path::absolute(&root).unwrap_or(root);
        let (tx, rx) = mpsc::channel(CHANNEL_BATCHES);
        let (mode_tx, mode_rx) = watch::channel(WatchMode::Waiting);
        let stop = cancel.child_token();
        let supervisor = Supervisor {
            root,
            tx,
            mode: mode_tx,
            stop: stop.clone(),
            backend,
        };
        tracker.spawn(supervisor.run());
        (
            SessionWatcher {
                mode: mode_rx,
                _stop: stop.drop_guard(),
            },
            rx,
        )
    }

    /// The current mode.
    pub fn mode(&self) -> WatchMode {
        self.mode.borrow().clone()
    }

    /// The mode as a watch channel, to wait for a change of mode.
    pub fn modes(&self) -> watch::Receiver<WatchMode> {
        self.mode.clone()
    }
}

/// Why the notify side asks the supervisor to replace the watch.
#[derive(Debug)]
enum Trouble {
    RootGone,
    WatchLimit(String),
}

/// One watch, native or polling; dropping it stops it.
enum Active {
    Native(#[allow(dead_code)] Debouncer<RecommendedWatcher, RecommendedCache>),
    Polling(#[allow(dead_code)] Debouncer<PollWatcher, NoCache>),
}

struct Supervisor {
    root: PathBuf,
    tx: mpsc::Sender<Vec<Change>>,
    mode: watch::Sender<WatchMode>,
    stop: CancellationToken,
    backend: Backend,
}

impl Supervisor {
    async fn run(self) {
        // Once the native watch has failed, stay on polling: the limit does not go away.
        let mut polling: Option<String> = None;
        let (trouble_tx, mut trouble_rx) = mpsc::unbounded_channel::<(u64, Trouble)>();
        let mut generation = 0u64;
        let root = self.root.clone();
        loop {
            if !root.is_dir() {
                self.set_mode(WatchMode::Waiting);
                tracing::info!(root = %root.display(), "session root does not exist (yet); waiting for it");
                loop {
                    tokio::select! {
                        _ = self.stop.cancelled() => return,
                        _ = tokio::time::sleep(ROOT_CHECK) => {}
                    }
                    if root.is_dir() {
                        break;
                    }
                }
            }

            generation += 1;
            let run = self.stop.child_token();
            let handler = |native| Handler {
                root: root.clone(),
                tx: self.tx.clone(),
                run: run.clone(),
                trouble: trouble_tx.clone(),
                generation,
                native,
            };
            let (native_handler, polling_handler) = (handler(true), handler(false));
            let (backend, reason, root2) = (self.backend, polling.clone(), root.clone());
            let started = tokio::task::spawn_blocking(move || {
                start_watch(&root2, backend, reason, native_handler, polling_handler)
            })
            .await;
            let (active, mode) = match started {
                Ok(Ok(started)) => started,
                Ok(Err(e)) => {
                    if !root.is_dir() {
                        continue;
                    }
                    tracing::warn!(root = %root.display(), error = %e, "cannot watch the session root, not even by polling; retrying");
                    tokio::select! {
                        _ = self.stop.cancelled() => return,
                        _ = tokio::time::sleep(ROOT_CHECK) => continue,
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "starting the session watch panicked");
                    return;
                }
            };
            if let WatchMode::Polling { reason } = &mode {
                polling = Some(reason.clone());
            }
            let reason = match &mode {
                WatchMode::Polling { .. } => "watching started (polling)",
                _ => "watching started",
            };
            let polling_now = matches!(mode, WatchMode::Polling { .. });
            self.set_mode(mode);
            if !self.send_rescan(reason).await {
                return;
            }

            let mut check = tokio::time::interval(ROOT_CHECK);
            check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut safety_net = tokio::time::interval_at(
                tokio::time::Instant::now() + POLLING_RESCAN,
                POLLING_RESCAN,
            );
            safety_net.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = safety_net.tick(), if polling_now => {
                        if !self.send_rescan("polling compares mtimes to the second: periodic rescan").await {
                            return;
                        }
                    }
                    _ = self.stop.cancelled() => {
                        run.cancel();
                        drop(active);
                        return;
                    }
                    _ = self.tx.closed() => {
                        run.cancel();
                        return;
                    }
                    trouble = trouble_rx.recv() => match trouble {
                        Some((g, _)) if g != generation => {}
                        Some((_, Trouble::RootGone)) => {
                            tracing::warn!(root = %root.display(), "the session root went away");
                            break;
                        }
                        Some((_, Trouble::WatchLimit(reason))) => {
                            if polling.is_some() {
                                continue;
                            }
                            tracing::warn!(root = %root.display(), %reason, "native watching failed; falling back to polling every {POLL_INTERVAL:?}");
                            polling = Some(reason);
                            break;
                        }
                        None => {}
                    },
                    _ = check.tick() => if !root.is_dir() {
                        tracing::warn!(root = %root.display(), "the session root went away");
                        break;
                    }
                }
            }
            // Tear down; the next watch starts with a rescan, which covers whatever this
            // one had not delivered.
            run.cancel();
            drop(active);
        }
    }

    /// Sends a rescan; `false` when stopped or nobody listens any more.
    async fn send_rescan(&self, reason: &str) -> bool {
        let rescan = vec![Change::Rescan {
            reason: reason.into(),
        }];
        tokio::select! {
            _ = self.stop.cancelled() => false,
            sent = self.tx.send(rescan) => sent.is_ok(),
        }
    }

    fn set_mode(&self, mode: WatchMode) {
        self.mode.send_if_modified(|m| {
            if *m == mode {
                return false;
            }
            tracing::info!(from = ?m, to = ?mode, "session watch mode");
            *m = mode;
            true
        });
    }
}

/// Starts the native watch, or polling when the native one fails (or failed before:
/// `polling` holds the reason). Blocking: both walk the tree to add their watches.
fn start_watch(
    root: &Path,
    backend: Backend,
    polling: Option<String>,
    native: Handler,
    poller: Handler,
) -> notify::Result<(Active, WatchMode)> {
    let reason = match polling {
        Some(reason) => reason,
        None => match start_native(root, backend, native) {
            Ok(d) => return Ok((Active::Native(d), WatchMode::Native)),
            Err(e) => {
                if !root.is_dir() {
                    return Err(e);
                }
                let reason = match e.kind {
                    ErrorKind::MaxFilesWatch => format!(
                        "the OS limit on watches was reached (raise fs.inotify.max_user_watches): {e}"
                    ),
                    _ => format!("the native watch failed: {e}"),
                };
                tracing::warn!(root = %root.display(), %reason, "falling back to polling every {POLL_INTERVAL:?}");
                reason
            }
        },
    };
    let config = notify::Config::default().with_poll_interval(POLL_INTERVAL);
    let mut d =
        new_debouncer_opt::<_, PollWatcher, NoCache>(DEBOUNCE, None, poller, NoCache, config)?;
    d.watch(root, RecursiveMode::Recursive)?;
    Ok((Active::Polling(d), WatchMode::Polling { reason }))
}

fn start_native(
    root: &Path,
    backend: Backend,
    handler: Handler,
) -> notify::Result<Debouncer<RecommendedWatcher, RecommendedCache>> {
    let mut d = new_debouncer_opt::<_, RecommendedWatcher, RecommendedCache>(
        DEBOUNCE,
        None,
        handler,
        RecommendedCache::new(),
        notify::Config::default(),
    )?;
    if backend == Backend::NativeFails {
        return Err(notify::Error::new(ErrorKind::MaxFilesWatch).add_path(root.to_path_buf()));
    }
    d.watch(root, RecursiveMode::Recursive)?;
    Ok(d)
}

/// Runs on the debouncer's thread: turns each debounced batch into one `Vec<Change>`.
struct Handler {
    root: PathBuf,
    tx: mpsc::Sender<Vec<Change>>,
    /// Cancelled when this watch is torn down.
    run: CancellationToken,
    trouble: mpsc::UnboundedSender<(u64, Trouble)>,
    generation: u64,
    native: bool,
}

impl DebounceEventHandler for Handler {
    fn handle_event(&mut self, result: DebounceEventResult) {
        if self.run.is_cancelled() {
            return;
        }
        let changes = match result {
            Ok(events) => translate(&self.root, &events, |t| self.report(t)),
            Err(errors) => errors
                .into_iter()
                .map(|e| self.error(e))
                .collect::<Vec<_>>(),
        };
        if changes.is_empty() {
            return;
        }
        // Waits while the channel is full (back-pressure; the debouncer keeps queueing raw
        // events meanwhile) and gives up only when this watch is being torn down.
        let send = std::pin::pin!(self.tx.send(changes));
        let torn_down = std::pin::pin!(self.run.cancelled());
        let _ = futures::executor::block_on(futures::future::select(send, torn_down));
    }
}

impl Handler {
    fn report(&self, trouble: Trouble) {
        let _ = self.trouble.send((self.generation, trouble));
    }

    fn error(&self, e: notify::Error) -> Change {
        if self.native && matches!(e.kind, ErrorKind::MaxFilesWatch) {
            let reason = format!(
                "the OS limit on watches was reached (raise fs.inotify.max_user_watches): {e}"
            );
            self.report(Trouble::WatchLimit(reason.clone()));
            return Change::Rescan { reason };
        }
        tracing::warn!(root = %self.root.display(), error = %e, "session watch error; rescanning");
        Change::Rescan {
            reason: format!("watch error: {e}"),
        }
    }
}

/// Collects changes, one per path (the latest wins, the first position is kept), and at
/// most one rescan.
#[derive(Default)]
struct Batch {
    changes: Vec<Change>,
    at: HashMap<PathBuf, usize>,
    rescan: bool,
}

impl Batch {
    fn path(&mut self, change: Change) {
        let (Change::Upsert(p) | Change::Remove(p)) = &change else {
            return self.rescan(change);
        };
        match self.at.get(p) {
            Some(&i) => self.changes[i] = change,
            None => {
                self.at.insert(p.clone(), self.changes.len());
                self.changes.push(change);
            }
        }
    }

    fn rescan(&mut self, change: Change) {
        if !self.rescan {
            self.rescan = true;
            self.changes.push(change);
        }
    }
}

/// Translates one debounced batch. `trouble` is told when the root itself went away.
fn translate(root: &Path, events: &[DebouncedEvent], trouble: impl Fn(Trouble)) -> Vec<Change> {
    let mut batch = Batch::default();
    for ev in events {
        if ev.need_rescan() {
            tracing::warn!(root = %root.display(), "file events were lost (the OS event queue overflowed); rescanning");
            batch.rescan(Change::Rescan {
                reason: "file events were lost (the OS event queue overflowed)".into(),
            });
            continue;
        }
        match ev.kind {
            // Opens and reads (ours, while hashing, among them) change nothing.
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => {
                for p in &ev.paths {
                    touched(root, p, &mut batch);
                }
            }
            EventKind::Access(_) => {}
            EventKind::Create(_) | EventKind::Modify(ModifyKind::Name(RenameMode::To)) => {
                for p in &ev.paths {
                    arrived(root, p, &mut batch);
                }
            }
            EventKind::Modify(ModifyKind::Name(RenameMode::From)) => {
                for p in &ev.paths {
                    left(root, p, None, &mut batch, &trouble);
                }
            }
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => {
                if let [from, to] = ev.paths.as_slice() {
                    left(root, from, None, &mut batch, &trouble);
                    arrived(root, to, &mut batch);
                }
            }
            EventKind::Modify(ModifyKind::Name(_)) => {
                for p in &ev.paths {
                    if p.exists() {
                        arrived(root, p, &mut batch);
                    } else {
                        left(root, p, None, &mut batch, &trouble);
                    }
                }
            }
            EventKind::Remove(kind) => {
                for p in &ev.paths {
                    left(root, p, Some(kind), &mut batch, &trouble);
                }
            }
            // Data, metadata (a touch), or kinds a backend does not tell apart.
            EventKind::Modify(_) | EventKind::Any | EventKind::Other => {
                for p in &ev.paths {
                    touched(root, p, &mut batch);
                }
            }
        }
    }
    batch.changes
}

/// A path was written or touched.
fn touched(root: &Path, p: &Path, batch: &mut Batch) {
    if session_path(root, p).is_some() {
        batch.path(Change::Upsert(p.to_path_buf()));
    }
}

/// A path appeared (created or renamed in). A user directory that appears may already hold
/// files written before notify watched it: list them.
fn arrived(root: &Path, p: &Path, batch: &mut Batch) {
    if session_path(root, p).is_some() {
        batch.path(Change::Upsert(p.to_path_buf()));
    } else if user_dir(root, p).is_some() && p.is_dir() {
        let Ok(entries) = std::fs::read_dir(p) else {
            return;
        };
        for entry in entries.flatten() {
            let file = entry.path();
            if session_path(root, &file).is_some() {
                batch.path(Change::Upsert(file));
            }
        }
    }
}

/// A path went away (removed or renamed away). `kind` is known for removals only.
fn left(
    root: &Path,
    p: &Path,
    kind: Option<RemoveKind>,
    batch: &mut Batch,
    trouble: &impl Fn(Trouble),
) {
    if p == root {
        trouble(Trouble::RootGone);
    } else if session_path(root, p).is_some() {
        batch.path(Change::Remove(p.to_path_buf()));
    } else if kind != Some(RemoveKind::File) {
        if let Some(user) = user_dir(root, p) {
            // Removing a directory drops the pending events of the files in it (the
            // debouncer keeps only the directory's): rescan rather than guess.
            batch.rescan(Change::Rescan {
                reason: format!("user directory {user} was removed or renamed away"),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, DataChange, Event};
    use std::cell::RefCell;

    fn ev(kind: EventKind, paths: &[&str]) -> DebouncedEvent {
        let mut e = Event::new(kind);
        for p in paths {
            e = e.add_path(PathBuf::from(p));
        }
        DebouncedEvent::new(e, std::time::Instant::now())
    }

    fn run(events: &[DebouncedEvent]) -> (Vec<Change>, usize) {
        let gone = RefCell::new(0);
        let changes = translate(Path::new("/r"), events, |t| {
            assert!(matches!(t, Trouble::RootGone));
            *gone.borrow_mut() += 1;
        });
        (changes, gone.into_inner())
    }

    fn up(p: &str) -> Change {
        Change::Upsert(PathBuf::from(p))
    }

    fn rm(p: &str) -> Change {
        Change::Remove(PathBuf::from(p))
    }

    #[test]
    fn writes_and_creates_of_session_files_are_upserts_and_others_are_ignored() {
        let (changes, _) = run(&[
            ev(EventKind::Create(CreateKind::File), &["/r/u/a.jsonl"]),
            ev(
                EventKind::Modify(ModifyKind::Data(DataChange::Any)),
                &["/r/u/b.jsonl"],
            ),
            ev(EventKind::Create(CreateKind::File), &["/r/u/.a.jsonl.tmp"]),
            ev(EventKind::Create(CreateKind::File), &["/r/a.jsonl"]),
            ev(EventKind::Create(CreateKind::File), &["/r/u/sub/a.jsonl"]),
            ev(
                EventKind::Access(AccessKind::Open(AccessMode::Any)),
                &["/r/u/c.jsonl"],
            ),
            ev(
                EventKind::Access(AccessKind::Close(AccessMode::Read)),
                &["/r/u/c.jsonl"],
            ),
        ]);
        assert_eq!(
            changes,
            vec![up("/r/u/a.jsonl"), up("/r/u/b.jsonl")],
            "only session files, and reads (our own hashing) are no change"
        );
    }

    #[test]
    fn a_rename_into_place_is_a_remove_of_the_source_and_an_upsert_of_the_target() {
        let (changes, _) = run(&[ev(
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)),
            &["/r/u/old.jsonl", "/r/u/new.jsonl"],
        )]);
        assert_eq!(changes, vec![rm("/r/u/old.jsonl"), up("/r/u/new.jsonl")]);
        let (changes, _) = run(&[ev(
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)),
            &["/r/u/.tmp123", "/r/u/new.jsonl"],
        )]);
        assert_eq!(
            changes,
            vec![up("/r/u/new.jsonl")],
            "a temp file is never reported"
        );
    }

    #[test]
    fn the_latest_event_of_a_path_wins_and_rescans_are_reported_once() {
        let overflow = DebouncedEvent::new(
            Event::new(EventKind::Other).set_flag(notify::event::Flag::Rescan),
            std::time::Instant::now(),
        );
        let (changes, _) = run(&[
            ev(EventKind::Create(CreateKind::File), &["/r/u/a.jsonl"]),
            overflow.clone(),
            ev(EventKind::Remove(RemoveKind::File), &["/r/u/a.jsonl"]),
            overflow,
        ]);
        assert_eq!(
            changes.len(),
            2,
            "one change per path, one rescan: {changes:?}"
        );
        assert_eq!(
            changes[0],
            rm("/r/u/a.jsonl"),
            "deleted after it was created"
        );
        assert!(matches!(changes[1], Change::Rescan { .. }));
    }

    #[test]
    fn a_user_directory_going_away_is_a_rescan_and_the_root_going_away_is_trouble() {
        let (changes, gone) = run(&[ev(EventKind::Remove(RemoveKind::Folder), &["/r/u"])]);
        assert!(
            matches!(changes.as_slice(), [Change::Rescan { .. }]),
            "the files' own removals may have been dropped with the directory: {changes:?}"
        );
        assert_eq!(gone, 0);
        let (changes, _) = run(&[ev(EventKind::Remove(RemoveKind::File), &["/r/notes.txt"])]);
        assert!(
            changes.is_empty(),
            "a stray file at the top is nobody's directory"
        );
        let (_, gone) = run(&[ev(EventKind::Remove(RemoveKind::Folder), &["/r"])]);
        assert_eq!(
            gone, 1,
            "the supervisor must re-watch a root that went away"
        );
    }

    #[test]
    fn a_user_directory_that_appears_is_listed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("late")).unwrap();
        std::fs::write(root.join("late/a.jsonl"), "{}\n").unwrap();
        std::fs::write(root.join("late/.b.jsonl"), "{}\n").unwrap();
        let events = [DebouncedEvent::new(
            notify::Event::new(EventKind::Create(CreateKind::Folder)).add_path(root.join("late")),
            std::time::Instant::now(),
        )];
        let changes = translate(root, &events, |_| {});
        assert_eq!(
            changes,
            vec![Change::Upsert(root.join("late/a.jsonl"))],
            "files written before the directory was watched are reported"
        );
    }
}
