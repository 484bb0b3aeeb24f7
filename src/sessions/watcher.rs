//! Watches the session root and reports which session files changed, bridged from
//! `notify`'s threads into tokio without dropping events.
//!
//! Owns: the `notify` watcher (through `notify-debouncer-full`, so a burst of writes to one
//! file is one report a little after it settles), which directories it watches, its
//! lifecycle (waiting for a root that does not exist yet, re-watching a root that was
//! removed and comes back, falling back to polling when the OS refuses native watches),
//! and translating notify's events into [`Change`]s about `<root>/<user>/*.jsonl`.
//! Does not own: what a change means for the index (`index::FileIndex::apply` looks at the
//! file again), nor the periodic safety-net rescan (the caller's schedule).
//!
//! What is watched: the root and each *real* user directory, each with its own
//! non-recursive watch. Session files are only ever `<root>/<user>/*.jsonl`, so nothing
//! deeper is watched, and no symbolic link below the root is ever followed, natively or by
//! the poller: a user directory that is a symlink (to `/usr/share`, to `/`, to its own
//! parent) costs no watch and is never listed or walked. [`SessionWatcher::watched_dirs`]
//! says how many directories are watched (the root plus its real user directories).
//! The root itself is taken as configured: when it is a symlink, it is followed, like any
//! component above it (whoever wrote the config chose it), and when it is re-pointed or
//! replaced the watch is set up again on the directory it names now. A directory swapped
//! for a symlink between our look at it and the kernel's `inotify_add_watch` (which follows
//! links) would cost one watch on the link's target, which is dropped when the look after
//! the watch sees the link; nothing there is ever walked.
//!
//! Guarantees:
//! - Every batch is sent with a blocking send on a bounded channel: while the consumer is
//!   behind, notify's debouncer thread waits and the debouncer keeps queueing raw events, so
//!   nothing is dropped. A batch is abandoned only when its watch is being torn down, and
//!   every new watch starts with a [`Change::Rescan`], so even that loses nothing.
//! - Whenever the kernel says events were lost (inotify queue overflow: notify's rescan
//!   flag) or notify reports an error, a [`Change::Rescan`] is sent, and the watched user
//!   directories are made to match the disk again.
//! - Files written into a user directory before its watch was added are reported: when a
//!   user directory appears (created or renamed in), it is watched first and then listed,
//!   and its session files are sent as [`Change::Upsert`]s.
//! - A failing native watch (e.g. the inotify watch limit) is logged as a warning and
//!   replaced by notify's `PollWatcher`; [`SessionWatcher::mode`] says so, with the reason.
//!   The poller sees mtimes to the second only, so polling also sends a rescan every
//!   [`POLLING_RESCAN`].
//!
//! Tasks: one supervisor task on the caller's `TaskTracker`, stopped by the caller's
//! `CancellationToken` or by dropping the [`SessionWatcher`].

use super::layout::{session_path, user_dir};
use notify_debouncer_full::notify::event::{
    AccessKind, AccessMode, ModifyKind, RemoveKind, RenameMode,
};
use notify_debouncer_full::notify::{
    self, ErrorKind, EventKind, PollWatcher, RecommendedWatcher, RecursiveMode,
};
use notify_debouncer_full::{
    new_debouncer_opt, DebounceEventHandler, DebounceEventResult, DebouncedEvent, Debouncer,
    NoCache,
};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
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
/// How often a missing root is looked for, and a watched one checked for still being there
/// (and still being the same directory).
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
    watched: Arc<AtomicUsize>,
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
        let watched = Arc::new(AtomicUsize::new(0));
        let stop = cancel.child_token();
        let supervisor = Supervisor {
            watches: Arc::new(Mutex::new(Watches::new(root.clone(), watched.clone()))),
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
                watched,
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

    /// How many directories are watched now: the root and its real user directories (0
    /// while waiting for the root). Never more: nothing behind a symlink, nothing deeper.
    pub fn watched_dirs(&self) -> usize {
        self.watched.load(Ordering::SeqCst)
    }
}

/// Why the notify side asks the supervisor to replace the watch.
#[derive(Debug)]
enum Trouble {
    RootGone,
    WatchLimit(String),
}

/// One watch, native or polling; dropping it stops it. No file-id cache: on Linux notify's
/// recommended cache is none anyway, and elsewhere it walks the tree following symlinks.
enum Active {
    Native(Debouncer<RecommendedWatcher, NoCache>),
    Polling(Debouncer<PollWatcher, NoCache>),
}

impl Active {
    fn watch(&mut self, dir: &Path) -> notify::Result<()> {
        match self {
            Active::Native(d) => d.watch(dir, RecursiveMode::NonRecursive),
            Active::Polling(d) => d.watch(dir, RecursiveMode::NonRecursive),
        }
    }

    /// Stops watching `dir`. notify has often dropped it already (inotify forgets a watch
    /// whose directory was removed or moved away): that error is the expected outcome.
    fn unwatch(&mut self, dir: &Path) {
        // An error says the watch is gone already: what we wanted (see above).
        let _ = match self {
            Active::Native(d) => d.unwatch(dir),
            Active::Polling(d) => d.unwatch(dir),
        };
    }

    fn is_native(&self) -> bool {
        matches!(self, Active::Native(_))
    }
}

/// `(device, inode)` of a directory.
type DirId = (u64, u64);

/// `path`'s identity when it is a directory itself, not a symlink to one.
fn real_dir(path: &Path) -> Option<DirId> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    meta.file_type().is_dir().then(|| (meta.dev(), meta.ino()))
}

/// The directories of the current watch: the root and the real user directories, each
/// watched non-recursively. Shared by the supervisor (which sets the watch up and tears
/// it down) and the handler (which adds and drops user directories as they come and go).
/// The handler's reference to it is a cycle (the watch owns the handler): tearing down,
/// which every way out of the supervisor does, breaks it.
struct Watches {
    root: PathBuf,
    active: Option<Active>,
    /// The supervisor's generation of `active`.
    generation: u64,
    /// The user directories watched, with their identity when they were.
    dirs: HashMap<PathBuf, DirId>,
    /// What [`SessionWatcher::watched_dirs`] reads.
    count: Arc<AtomicUsize>,
}

impl Watches {
    fn new(root: PathBuf, count: Arc<AtomicUsize>) -> Watches {
        Watches {
            root,
            active: None,
            generation: 0,
            dirs: HashMap::new(),
            count,
        }
    }

    /// Makes `active` the watch: the root, then every real user directory. Blocking (the
    /// poller takes its first look at each directory here).
    fn install(&mut self, mut active: Active, generation: u64) -> notify::Result<()> {
        self.tear_down();
        active.watch(&self.root)?;
        self.active = Some(active);
        self.generation = generation;
        if let Err(e) = self.sync() {
            self.tear_down();
            return Err(e);
        }
        Ok(())
    }

    /// Ends the watch; the caller drops what it returns (dropping never blocks).
    fn tear_down(&mut self) -> Option<Active> {
        self.dirs.clear();
        let active = self.active.take();
        self.update_count();
        active
    }

    /// Whether the handler of (`generation`, `native`) is the current watch's.
    fn is_current(&self, generation: u64, native: bool) -> bool {
        self.generation == generation
            && self
                .active
                .as_ref()
                .is_some_and(|a| a.is_native() == native)
    }

    /// Makes the watched user directories the real ones on disk now (after lost events).
    /// Natively every one is watched again (inotify merges a repeated watch into the
    /// existing one, and a directory replaced under the same name needs a new one); the
    /// poller would take a new first look and miss what changed since its last, so an
    /// unchanged directory is left as it is.
    fn sync(&mut self) -> notify::Result<()> {
        let Some(native) = self.active.as_ref().map(Active::is_native) else {
            return Ok(());
        };
        let entries = std::fs::read_dir(&self.root)
            .map_err(|e| notify::Error::io(e).add_path(self.root.clone()))?;
        let mut present = HashSet::new();
        for entry in entries.flatten() {
            let dir = entry.path();
            if user_dir(&self.root, &dir).is_none() {
                continue;
            }
            let unchanged = real_dir(&dir).is_some_and(|id| self.dirs.get(&dir) == Some(&id));
            if (unchanged && !native) || self.refresh(&dir)? {
                present.insert(dir);
            }
        }
        let gone: Vec<PathBuf> = self
            .dirs
            .keys()
            .filter(|d| !present.contains(*d))
            .cloned()
            .collect();
        for dir in gone {
            self.forget(&dir);
        }
        Ok(())
    }

    /// Looks at the user directory `dir` again (it appeared, went away, or was replaced):
    /// watched when it is a real directory now, forgotten when it is not (gone, a file, a
    /// symlink). `Ok(true)` when it is watched.
    fn refresh(&mut self, dir: &Path) -> notify::Result<bool> {
        let Some(active) = self.active.as_mut() else {
            return Ok(false);
        };
        let id = match real_dir(dir) {
            Some(_) => {
                active.watch(dir)?;
                // A symlink swapped in between the look and the watch was followed by the
                // kernel: that watch is on something else, and goes below.
                real_dir(dir)
            }
            None => None,
        };
        let watched = match id {
            Some(id) => {
                self.dirs.insert(dir.to_path_buf(), id);
                true
            }
            None => {
                active.unwatch(dir);
                self.dirs.remove(dir);
                false
            }
        };
        self.update_count();
        Ok(watched)
    }

    fn forget(&mut self, dir: &Path) {
        if self.dirs.remove(dir).is_some() {
            if let Some(active) = self.active.as_mut() {
                active.unwatch(dir);
            }
        }
        self.update_count();
    }

    fn update_count(&self) {
        let n = match self.active {
            Some(_) => 1 + self.dirs.len(),
            None => 0,
        };
        self.count.store(n, Ordering::SeqCst);
    }
}

/// Tears the watch down when the supervisor ends, however it ends (its future may be
/// dropped without running to its end when the runtime shuts down).
struct TearDownOnDrop(Arc<Mutex<Watches>>);

impl Drop for TearDownOnDrop {
    fn drop(&mut self) {
        let active = self.0.lock().tear_down();
        drop(active);
    }
}

struct Supervisor {
    root: PathBuf,
    watches: Arc<Mutex<Watches>>,
    tx: mpsc::Sender<Vec<Change>>,
    mode: watch::Sender<WatchMode>,
    stop: CancellationToken,
    backend: Backend,
}

impl Supervisor {
    async fn run(self) {
        let _tear_down = TearDownOnDrop(self.watches.clone());
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
            // What the root names now (a symlinked root may be re-pointed later).
            let root_id = root_identity(&root);
            let handler = |native| Handler {
                root: root.clone(),
                watches: self.watches.clone(),
                tx: self.tx.clone(),
                run: run.clone(),
                trouble: trouble_tx.clone(),
                generation,
                native,
            };
            let (native_handler, polling_handler) = (handler(true), handler(false));
            let (backend, reason, watches) = (self.backend, polling.clone(), self.watches.clone());
            let started = tokio::task::spawn_blocking(move || {
                start_watch(
                    &watches,
                    generation,
                    backend,
                    reason,
                    native_handler,
                    polling_handler,
                )
            })
            .await;
            let mode = match started {
                Ok(Ok(mode)) => mode,
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
                    _ = check.tick() => match root_identity(&root) {
                        None => {
                            tracing::warn!(root = %root.display(), "the session root went away");
                            break;
                        }
                        Some(id) if Some(id) != root_id => {
                            tracing::warn!(root = %root.display(), "the session root now names another directory; watching it instead");
                            break;
                        }
                        Some(_) => {}
                    }
                }
            }
            // Tear down; the next watch starts with a rescan, which covers whatever this
            // one had not delivered.
            run.cancel();
            let active = self.watches.lock().tear_down();
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

/// The identity of the directory `root` names (following the root itself when it is a
/// symlink); `None` when there is none.
fn root_identity(root: &Path) -> Option<DirId> {
    let meta = std::fs::metadata(root).ok()?;
    meta.is_dir().then(|| (meta.dev(), meta.ino()))
}

/// Starts the native watch, or polling when the native one fails (or failed before:
/// `polling` holds the reason). Blocking: both look at every user directory.
fn start_watch(
    watches: &Mutex<Watches>,
    generation: u64,
    backend: Backend,
    polling: Option<String>,
    native: Handler,
    poller: Handler,
) -> notify::Result<WatchMode> {
    let mut watches = watches.lock();
    let reason = match polling {
        Some(reason) => reason,
        None => match start_native(&mut watches, generation, backend, native) {
            Ok(()) => return Ok(WatchMode::Native),
            Err(e) => {
                let root = watches.root.clone();
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
    let config = notify::Config::default()
        .with_poll_interval(POLL_INTERVAL)
        .with_follow_symlinks(false);
    let d = new_debouncer_opt::<_, PollWatcher, NoCache>(DEBOUNCE, None, poller, NoCache, config)?;
    watches.install(Active::Polling(d), generation)?;
    Ok(WatchMode::Polling { reason })
}

fn start_native(
    watches: &mut Watches,
    generation: u64,
    backend: Backend,
    handler: Handler,
) -> notify::Result<()> {
    // Every watch is non-recursive, so notify never walks anything; not following
    // symlinks is said anyway, for any walk a later notify might add.
    let config = notify::Config::default().with_follow_symlinks(false);
    let d = new_debouncer_opt::<_, RecommendedWatcher, NoCache>(
        DEBOUNCE, None, handler, NoCache, config,
    )?;
    if backend == Backend::NativeFails {
        let root = watches.root.clone();
        return Err(notify::Error::new(ErrorKind::MaxFilesWatch).add_path(root));
    }
    watches.install(Active::Native(d), generation)
}

/// Runs on the debouncer's thread: turns each debounced batch into one `Vec<Change>`, and
/// keeps the watched user directories up with the ones that come and go.
struct Handler {
    root: PathBuf,
    watches: Arc<Mutex<Watches>>,
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
        let mut batch = match result {
            Ok(events) => translate(&self.root, &events, |t| self.report(t)),
            Err(errors) => {
                let mut batch = Batch::default();
                for e in errors {
                    batch.rescan(self.error(e));
                }
                // An error may hide a directory that came or went.
                batch.lost = true;
                batch
            }
        };
        self.follow_dirs(&mut batch);
        if batch.changes.is_empty() {
            return;
        }
        // Waits while the channel is full (back-pressure; the debouncer keeps queueing raw
        // events meanwhile) and gives up only when this watch is being torn down.
        let send = std::pin::pin!(self.tx.send(batch.changes));
        let torn_down = std::pin::pin!(self.run.cancelled());
        // A send error means the receiver is gone (the watcher is stopping): nobody needs
        // the batch.
        let _ = futures::executor::block_on(futures::future::select(send, torn_down));
    }
}

impl Handler {
    fn report(&self, trouble: Trouble) {
        // The receiver is gone only when the watcher is stopping: nobody to tell.
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

    /// Watches the user directories that appeared and forgets those that went (all of them
    /// after lost events), then lists the new ones: a file written before its directory's
    /// watch was in place has no event of its own.
    fn follow_dirs(&self, batch: &mut Batch) {
        if batch.dirs.is_empty() && !batch.lost {
            return;
        }
        let mut listed = Vec::new();
        {
            let mut watches = self.watches.lock();
            if !watches.is_current(self.generation, self.native) {
                return;
            }
            if batch.lost {
                if let Err(e) = watches.sync() {
                    batch.rescan(self.error(e));
                }
            } else {
                for dir in std::mem::take(&mut batch.dirs) {
                    match watches.refresh(&dir) {
                        Ok(true) => listed.push(dir),
                        Ok(false) => {}
                        Err(e) => batch.rescan(self.error(e)),
                    }
                }
            }
        }
        for dir in listed {
            list_sessions(&self.root, &dir, batch);
        }
    }
}

/// Collects changes, one per path (the latest wins, the first position is kept), and at
/// most one rescan; and the user directories to look at again.
#[derive(Default)]
struct Batch {
    changes: Vec<Change>,
    at: HashMap<PathBuf, usize>,
    rescan: bool,
    /// User directories that appeared or went away (by name: what they are is looked at
    /// when the watch is updated).
    dirs: Vec<PathBuf>,
    /// Events were lost: every user directory is looked at again.
    lost: bool,
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

    fn dir(&mut self, dir: &Path) {
        if !self.dirs.iter().any(|d| d == dir) {
            self.dirs.push(dir.to_path_buf());
        }
    }
}

/// Translates one debounced batch (by paths alone: what a user directory is, is looked at
/// by [`Handler::follow_dirs`]). `trouble` is told when the root itself went away.
fn translate(root: &Path, events: &[DebouncedEvent], trouble: impl Fn(Trouble)) -> Batch {
    let mut batch = Batch::default();
    for ev in events {
        if ev.need_rescan() {
            tracing::warn!(root = %root.display(), "file events were lost (the OS event queue overflowed); rescanning");
            batch.rescan(Change::Rescan {
                reason: "file events were lost (the OS event queue overflowed)".into(),
            });
            batch.lost = true;
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
                    if p.symlink_metadata().is_ok() {
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
    batch
}

/// A path was written or touched.
fn touched(root: &Path, p: &Path, batch: &mut Batch) {
    if session_path(root, p).is_some() {
        batch.path(Change::Upsert(p.to_path_buf()));
    }
}

/// A path appeared (created or renamed in). A user directory that appears is to be watched,
/// and listed (it may already hold files written before its watch).
fn arrived(root: &Path, p: &Path, batch: &mut Batch) {
    if session_path(root, p).is_some() {
        batch.path(Change::Upsert(p.to_path_buf()));
    } else if user_dir(root, p).is_some() {
        batch.dir(p);
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
            batch.dir(p);
            // Removing a directory drops the pending events of the files in it (the
            // debouncer keeps only the directory's): rescan rather than guess.
            batch.rescan(Change::Rescan {
                reason: format!("user directory {user} was removed or renamed away"),
            });
        }
    }
}

/// Sends an upsert for each session file in the user directory `dir`: regular files only,
/// a symlink is nobody's session file.
fn list_sessions(root: &Path, dir: &Path, batch: &mut Batch) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.path();
        let regular = entry.file_type().is_ok_and(|t| t.is_file());
        if regular && session_path(root, &file).is_some() {
            batch.path(Change::Upsert(file));
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
        let batch = translate(Path::new("/r"), events, |t| {
            assert!(matches!(t, Trouble::RootGone));
            *gone.borrow_mut() += 1;
        });
        (batch.changes, gone.into_inner())
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
    fn user_directories_that_come_or_go_are_looked_at_again_and_nothing_deeper() {
        let batch = translate(
            Path::new("/r"),
            &[
                ev(EventKind::Create(CreateKind::Folder), &["/r/late"]),
                ev(EventKind::Create(CreateKind::Any), &["/r/link"]),
                ev(EventKind::Remove(RemoveKind::Folder), &["/r/gone"]),
                ev(EventKind::Create(CreateKind::Folder), &["/r/late/sub"]),
                ev(EventKind::Create(CreateKind::Folder), &["/r/.hidden"]),
                ev(EventKind::Create(CreateKind::Folder), &["/r/late"]),
            ],
            |_| {},
        );
        assert_eq!(
            batch.dirs,
            [
                PathBuf::from("/r/late"),
                PathBuf::from("/r/link"),
                PathBuf::from("/r/gone")
            ],
            "each user directory once, whatever it turns out to be; never a deeper one"
        );
        assert!(!batch.lost);
        let overflow = DebouncedEvent::new(
            Event::new(EventKind::Other).set_flag(notify::event::Flag::Rescan),
            std::time::Instant::now(),
        );
        assert!(
            translate(Path::new("/r"), &[overflow], |_| {}).lost,
            "after lost events every user directory is looked at again"
        );
    }

    #[test]
    fn a_listed_user_directory_yields_its_regular_session_files_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("late")).unwrap();
        std::fs::write(root.join("late/a.jsonl"), "{}\n").unwrap();
        std::fs::write(root.join("late/.b.jsonl"), "{}\n").unwrap();
        std::fs::create_dir(root.join("late/d.jsonl")).unwrap();
        std::os::unix::fs::symlink(root.join("late/a.jsonl"), root.join("late/c.jsonl")).unwrap();
        let mut batch = Batch::default();
        list_sessions(root, &root.join("late"), &mut batch);
        assert_eq!(
            batch.changes,
            vec![Change::Upsert(root.join("late/a.jsonl"))],
            "files written before the directory was watched are reported; a symlink, a \
             dotfile and a directory are not"
        );
    }

    #[test]
    fn only_real_directories_are_watched() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("real")).unwrap();
        std::os::unix::fs::symlink(root.join("real"), root.join("link")).unwrap();
        std::fs::write(root.join("file"), "").unwrap();
        assert!(real_dir(&root.join("real")).is_some());
        assert_eq!(real_dir(&root.join("link")), None, "a link to a directory");
        assert_eq!(real_dir(&root.join("file")), None);
        assert_eq!(real_dir(&root.join("missing")), None);
        assert_eq!(
            root_identity(&root.join("link")),
            real_dir(&root.join("real")),
            "the root itself is followed when it is a link"
        );
    }
}
