//! The session watcher and the file index together, on real directories and a real store:
//! whatever writers do under `<root>/<user>/*.jsonl`, the index ends up matching the disk.
//!
//! Each test starts a watcher whose batches are applied to the index by a consumer task, as
//! the engine does, then changes files and waits (with a generous deadline: these are real
//! file system events) for the index to show the change.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::wait::eventually;
use parking_lot::Mutex;
use steward::sessions::index::{FileIndex, IndexError, IndexedFile, ScanReport};
use steward::sessions::watcher::{Backend, Change, SessionWatcher, WatchMode};
use steward::store::Store;
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const SOON: Duration = Duration::from_secs(10);

/// One batch from the watcher and what applying it did.
struct Applied {
    batch: Vec<Change>,
    report: Result<ScanReport, String>,
}

struct Lab {
    _tmp: TempDir,
    root: PathBuf,
    outside: PathBuf,
    index: FileIndex,
    watcher: SessionWatcher,
    log: Arc<Mutex<Vec<Applied>>>,
    cancel: CancellationToken,
    tracker: TaskTracker,
}

impl Lab {
    /// A watcher on `<tmp>/sessions` (created first when `root_exists`), its batches applied
    /// to the index as they come.
    async fn start(root_exists: bool, backend: Backend) -> Lab {
        Lab::prepared(backend, |tmp| {
            let root = tmp.join("sessions");
            if root_exists {
                std::fs::create_dir(&root).unwrap();
            }
            root
        })
        .await
    }

    /// A watcher on the root that `prepare` lays out in `<tmp>` (next to `<tmp>/outside`,
    /// which exists) and returns, started once it is laid out.
    async fn prepared(backend: Backend, prepare: impl FnOnce(&Path) -> PathBuf) -> Lab {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        let root = prepare(tmp.path());
        let store = Store::open(
            &tmp.path().join("steward.db"),
            std::sync::Arc::new(steward::clock::SystemClock),
        )
        .await
        .unwrap();
        let index = FileIndex::new(
            store,
            &root,
            std::sync::Arc::new(steward::clock::SystemClock),
        );
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        let (watcher, mut rx) =
            SessionWatcher::start_with(root.clone(), cancel.clone(), &tracker, backend);
        let log: Arc<Mutex<Vec<Applied>>> = Default::default();
        let (consumer_index, consumer_log, stop) = (index.clone(), log.clone(), cancel.clone());
        tracker.spawn(async move {
            loop {
                let batch = tokio::select! {
                    _ = stop.cancelled() => break,
                    batch = rx.recv() => match batch { Some(b) => b, None => break },
                };
                let report = consumer_index
                    .apply(&batch)
                    .await
                    .map_err(|e| e.to_string());
                consumer_log.lock().push(Applied { batch, report });
            }
        });
        Lab {
            _tmp: tmp,
            root,
            outside,
            index,
            watcher,
            log,
            cancel,
            tracker,
        }
    }

    /// Started and watching natively, with the first rescan applied.
    async fn watching() -> Lab {
        let lab = Lab::start(true, Backend::Native).await;
        lab.until_watching(WatchMode::Native).await;
        lab
    }

    async fn until_watching(&self, mode: WatchMode) {
        eventually(
            &format!("the watcher in {mode:?} with its rescan applied"),
            SOON,
            || {
                let ok = self.watcher.mode() == mode && self.rescans_applied() > 0;
                async move { ok.then_some(()) }
            },
        )
        .await;
    }

    fn rescans_applied(&self) -> usize {
        self.log
            .lock()
            .iter()
            .filter(|a| a.batch.iter().any(|c| matches!(c, Change::Rescan { .. })))
            .count()
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn write(&self, rel: &str, content: &[u8]) {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    async fn row(&self, rel: &str) -> Option<IndexedFile> {
        self.index
            .files()
            .await
            .unwrap()
            .into_iter()
            .find(|f| f.path == rel)
    }

    /// Waits until the row of `rel` satisfies `ok`, and returns it.
    async fn until_row(
        &self,
        rel: &str,
        what: &str,
        ok: impl Fn(&IndexedFile) -> bool,
    ) -> IndexedFile {
        eventually(&format!("{rel}: {what}"), SOON, || async {
            self.row(rel).await.filter(|r| ok(r))
        })
        .await
    }

    /// How many batches carried a change for `path`, and of which kind.
    fn changes_for(&self, path: &Path) -> (usize, usize) {
        let log = self.log.lock();
        let upserts = log
            .iter()
            .flat_map(|a| &a.batch)
            .filter(|c| matches!(c, Change::Upsert(p) if p == path))
            .count();
        let removes = log
            .iter()
            .flat_map(|a| &a.batch)
            .filter(|c| matches!(c, Change::Remove(p) if p == path))
            .count();
        (upserts, removes)
    }

    fn failed_applies(&self) -> Vec<String> {
        self.log
            .lock()
            .iter()
            .filter_map(|a| a.report.as_ref().err().cloned())
            .collect()
    }

    /// Stops everything and checks that every task ended.
    async fn stop(self) {
        let Lab {
            watcher,
            cancel,
            tracker,
            ..
        } = self;
        drop(watcher);
        cancel.cancel();
        tracker.close();
        tokio::time::timeout(SOON, tracker.wait())
            .await
            .expect("the watcher's and the consumer's tasks end when cancelled");
    }
}

fn hash(content: &[u8]) -> String {
    blake3::hash(content).to_hex().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_with_a_partial_last_line_and_its_completion_are_each_indexed_with_a_new_hash() {
    let lab = Lab::watching().await;
    let partial = b"{\"role\":\"user\",\"text\":\"hi\"}\n{\"role\":\"assis";
    lab.write("alice/s1.jsonl", partial);
    let first = lab
        .until_row("alice/s1.jsonl", "indexed with the partial line", |r| {
            r.size == partial.len() as u64
        })
        .await;
    assert_eq!(
        first.file_hash.as_deref(),
        Some(hash(partial).as_str()),
        "the index hashes the bytes as they are, partial line included"
    );
    assert_eq!(first.username, "alice", "the user is the directory");

    let mut full = partial.to_vec();
    full.extend_from_slice(b"tant\",\"text\":\"hello\"}\n");
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(lab.path("alice/s1.jsonl"))
            .unwrap();
        f.write_all(&full[partial.len()..]).unwrap();
    }
    let second = lab
        .until_row("alice/s1.jsonl", "indexed with the completed line", |r| {
            r.size == full.len() as u64
        })
        .await;
    assert_eq!(second.file_hash.as_deref(), Some(hash(&full).as_str()));
    assert_ne!(
        first.file_hash, second.file_hash,
        "an append changes the hash"
    );
    let (upserts, removes) = lab.changes_for(&lab.path("alice/s1.jsonl"));
    assert!(
        upserts >= 2 && removes == 0,
        "the write and the append each reach the index as an upsert (saw {upserts} upserts, {removes} removes)"
    );
    assert!(
        lab.failed_applies().is_empty(),
        "{:?}",
        lab.failed_applies()
    );
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_written_to_a_temp_name_and_renamed_into_place_is_indexed_only_under_its_final_name()
{
    let lab = Lab::watching().await;
    let content = b"{\"n\":1}\n{\"n\":2}\n";
    for tmp in ["bob/.s1.jsonl.tmp", "bob/s2.jsonl.tmp"] {
        lab.write(tmp, content);
    }
    std::fs::rename(lab.path("bob/.s1.jsonl.tmp"), lab.path("bob/s1.jsonl")).unwrap();
    std::fs::rename(lab.path("bob/s2.jsonl.tmp"), lab.path("bob/s2.jsonl")).unwrap();
    for rel in ["bob/s1.jsonl", "bob/s2.jsonl"] {
        let row = lab
            .until_row(rel, "indexed after the rename", |r| {
                r.size == content.len() as u64
            })
            .await;
        assert_eq!(row.file_hash.as_deref(), Some(hash(content).as_str()));
    }
    let paths: Vec<String> = lab
        .index
        .files()
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.path)
        .collect();
    assert_eq!(
        paths,
        ["bob/s1.jsonl", "bob/s2.jsonl"],
        "temporary names are never indexed"
    );
    for tmp in ["bob/.s1.jsonl.tmp", "bob/s2.jsonl.tmp"] {
        assert_eq!(
            lab.changes_for(&lab.path(tmp)),
            (0, 0),
            "{tmp}: the watcher does not even report temporary names"
        );
    }

    // Replacing an existing file by rename (how editors and atomic writers save).
    let newer = b"{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n";
    lab.write("bob/.s1.jsonl.tmp", newer);
    std::fs::rename(lab.path("bob/.s1.jsonl.tmp"), lab.path("bob/s1.jsonl")).unwrap();
    let row = lab
        .until_row("bob/s1.jsonl", "replaced by rename", |r| {
            r.size == newer.len() as u64
        })
        .await;
    assert_eq!(row.file_hash.as_deref(), Some(hash(newer).as_str()));
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_file_is_indexed_empty_with_a_new_hash() {
    let lab = Lab::watching().await;
    let content = b"{\"a\":1}\n";
    lab.write("carol/s.jsonl", content);
    let before = lab
        .until_row("carol/s.jsonl", "indexed", |r| {
            r.size == content.len() as u64
        })
        .await;
    std::fs::OpenOptions::new()
        .write(true)
        .open(lab.path("carol/s.jsonl"))
        .unwrap()
        .set_len(0)
        .unwrap();
    let after = lab
        .until_row("carol/s.jsonl", "indexed at size 0", |r| r.size == 0)
        .await;
    assert_eq!(after.file_hash.as_deref(), Some(hash(b"").as_str()));
    assert_ne!(
        before.file_hash, after.file_hash,
        "truncation changes the hash"
    );
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_file_leaves_the_index_and_so_does_a_deleted_user_directory() {
    let lab = Lab::watching().await;
    lab.write("dave/a.jsonl", b"{}\n");
    lab.write("dave/b.jsonl", b"{}\n");
    lab.write("erin/c.jsonl", b"{}\n");
    for rel in ["dave/a.jsonl", "dave/b.jsonl", "erin/c.jsonl"] {
        lab.until_row(rel, "indexed", |_| true).await;
    }
    std::fs::remove_file(lab.path("dave/a.jsonl")).unwrap();
    eventually("dave/a.jsonl removed from the index", SOON, || async {
        lab.row("dave/a.jsonl").await.is_none().then_some(())
    })
    .await;
    assert!(
        lab.row("dave/b.jsonl").await.is_some(),
        "only the deleted file goes"
    );

    std::fs::remove_dir_all(lab.path("erin")).unwrap();
    eventually("erin's files removed with her directory", SOON, || async {
        lab.row("erin/c.jsonl").await.is_none().then_some(())
    })
    .await;
    let summary = lab.index.summary().await.unwrap();
    assert_eq!(summary.files, 1, "dave/b.jsonl is all that is left");
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_ten_thousand_files_is_indexed_completely() {
    const FILES: usize = 10_000;
    let lab = Lab::watching().await;
    for user in ["u0", "u1", "u2", "u3"] {
        std::fs::create_dir(lab.path(user)).unwrap();
    }
    let started = Instant::now();
    for i in 0..FILES {
        lab.write(
            &format!("u{}/s{i:05}.jsonl", i % 4),
            format!("{{\"i\":{i}}}\n").as_bytes(),
        );
    }
    let written = started.elapsed();
    eventually(
        "all 10,000 files indexed",
        Duration::from_secs(120),
        || async { (lab.index.summary().await.unwrap().files == FILES as u64).then_some(()) },
    )
    .await;
    let indexed = started.elapsed();
    // Settled: a rewrite of the first file, queued behind every event of the burst, is
    // applied after all of them; then nothing more is in flight and the count stays exact.
    let first = format!("u0/s{:05}.jsonl", 0);
    let rewritten = b"{\"i\":0,\"settled\":true}\n";
    lab.write(&first, rewritten);
    lab.until_row(&first, "the rewrite after the burst", |r| {
        r.file_hash.as_deref() == Some(hash(rewritten).as_str())
    })
    .await;
    let files = lab.index.files().await.unwrap();
    assert_eq!(files.len(), FILES, "exactly one row per file, no more");
    assert!(
        files.iter().all(|f| f.file_hash.is_some()),
        "every file hashed"
    );
    assert!(
        lab.failed_applies().is_empty(),
        "every batch (rescans included) was applied: {:?}",
        lab.failed_applies()
    );
    let rescans = lab.rescans_applied();
    eprintln!(
        "10,000 files: written in {written:?}, indexed after {indexed:?}; rescans applied: {rescans} (1 is the start)"
    );
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_directory_created_or_moved_in_after_start_is_watched_with_the_files_already_in_it()
{
    let lab = Lab::watching().await;
    // Written as fast as possible after mkdir: some land before notify watches the directory.
    std::fs::create_dir(lab.path("late")).unwrap();
    for i in 0..50 {
        std::fs::write(lab.path(&format!("late/s{i}.jsonl")), b"{}\n").unwrap();
    }
    // A directory filled elsewhere and moved in: no event at all for the files inside.
    let staged = lab.outside.join("moved");
    std::fs::create_dir(&staged).unwrap();
    for i in 0..20 {
        std::fs::write(staged.join(format!("s{i}.jsonl")), b"{}\n").unwrap();
    }
    std::fs::rename(&staged, lab.path("moved")).unwrap();

    eventually("70 files indexed", SOON, || async {
        (lab.index.summary().await.unwrap().files == 70).then_some(())
    })
    .await;
    // And the new directories are watched from now on.
    lab.write("moved/later.jsonl", b"{}\n");
    lab.write("late/later.jsonl", b"{}\n");
    lab.until_row("moved/later.jsonl", "a file written after the move", |_| {
        true
    })
    .await;
    lab.until_row("late/later.jsonl", "a file written after the mkdir", |_| {
        true
    })
    .await;
    lab.stop().await;
}

// A current-thread runtime: its clock can be paused for the first part.
#[tokio::test]
async fn a_root_that_does_not_exist_yet_is_waited_for_then_watched() {
    let lab = Lab::start(false, Backend::Native).await;
    // A second and a half passes in no time: the root check (every second) comes round
    // and finds nothing. Then real time again, for the real file system events.
    tokio::time::pause();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    tokio::time::resume();
    assert_eq!(
        lab.watcher.mode(),
        WatchMode::Waiting,
        "no root, nothing to watch yet"
    );
    assert!(
        lab.log.lock().is_empty(),
        "nothing to report without a root"
    );

    // The root appears with a file already in it, then more follow.
    lab.write("frank/early.jsonl", b"{}\n");
    lab.until_watching(WatchMode::Native).await;
    lab.until_row("frank/early.jsonl", "indexed by the first rescan", |_| true)
        .await;
    lab.write("frank/later.jsonl", b"{}\n");
    lab.until_row("frank/later.jsonl", "reported by the new watch", |_| true)
        .await;
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_root_that_goes_away_and_comes_back_is_watched_again() {
    let lab = Lab::watching().await;
    lab.write("gina/a.jsonl", b"{}\n");
    lab.until_row("gina/a.jsonl", "indexed", |_| true).await;
    std::fs::remove_dir_all(&lab.root).unwrap();
    eventually("waiting for the root again", SOON, || {
        let waiting = lab.watcher.mode() == WatchMode::Waiting;
        async move { waiting.then_some(()) }
    })
    .await;
    lab.write("gina/b.jsonl", b"{}\n");
    lab.until_watching(WatchMode::Native).await;
    lab.until_row("gina/b.jsonl", "indexed after the root came back", |_| true)
        .await;
    eventually("the old file gone from the index", SOON, || async {
        lab.row("gina/a.jsonl").await.is_none().then_some(())
    })
    .await;
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_native_watching_fails_the_watcher_polls_and_still_reports_new_files() {
    let lab = Lab::start(true, Backend::NativeFails).await;
    // Waits for the first rescan too: a file written before it is applied would be
    // indexed by that rescan, and the poller's own event could come a poll later.
    eventually("polling, with its first rescan applied", SOON, || {
        let mode = lab.watcher.mode();
        let ok = matches!(mode, WatchMode::Polling { .. }) && lab.rescans_applied() > 0;
        async move { ok.then_some(mode) }
    })
    .await;
    let WatchMode::Polling { reason } = lab.watcher.mode() else {
        unreachable!()
    };
    assert!(
        reason.contains("limit"),
        "the mode says why it polls: {reason}"
    );
    lab.write("hank/s.jsonl", b"{\"polled\":true}\n");
    let row = lab
        .until_row("hank/s.jsonl", "reported by the poller", |_| true)
        .await;
    assert_eq!(
        row.file_hash.as_deref(),
        Some(hash(b"{\"polled\":true}\n").as_str())
    );
    // The poller's event (not only a rescan) reports it.
    let path = lab.path("hank/s.jsonl");
    eventually("the poller's event for the file", SOON, || {
        let seen = lab.changes_for(&path).0 >= 1;
        async move { seen.then_some(()) }
    })
    .await;
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_watcher_stops_its_task() {
    let tmp = tempfile::tempdir().unwrap();
    let (cancel, tracker) = (CancellationToken::new(), TaskTracker::new());
    let (watcher, _rx) = SessionWatcher::start(tmp.path().to_path_buf(), cancel.clone(), &tracker);
    eventually("watching", SOON, || {
        let native = watcher.mode() == WatchMode::Native;
        async move { native.then_some(()) }
    })
    .await;
    drop(watcher);
    tracker.close();
    tokio::time::timeout(SOON, tracker.wait())
        .await
        .expect("dropping the SessionWatcher ends its task");
    assert!(
        !cancel.is_cancelled(),
        "the caller's token is the caller's: the drop stops only the watcher"
    );
}

// Symbolic links: nothing below the root is ever followed.

/// A tree outside the root that a symlinked user directory must not cost anything: 300
/// directories, each holding a session-looking file, and one more such file at its top.
/// Returns every directory in it.
fn big_tree(top: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![top.to_path_buf()];
    std::fs::create_dir_all(top).unwrap();
    std::fs::write(top.join("top.jsonl"), b"{\"outside\":true}\n").unwrap();
    for i in 0..300 {
        let dir = top.join(format!("d{i:03}"));
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("s.jsonl"), b"{\"outside\":true}\n").unwrap();
        dirs.push(dir);
    }
    dirs
}

/// The (device, inode) of every directory or file the kernel's inotify instances of this
/// process watch, read from `/proc/self/fdinfo`: what is really watched, whatever the
/// watcher says. Tests run in parallel in one process, so other tests' watches are in it
/// too; callers only ask whether particular inodes are among them.
fn inotify_watched() -> std::collections::HashSet<(u64, u64)> {
    let mut watched = std::collections::HashSet::new();
    for fd in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let is_inotify =
            std::fs::read_link(fd.path()).is_ok_and(|l| l.to_str() == Some("anon_inode:inotify"));
        if !is_inotify {
            continue;
        }
        let info = std::path::Path::new("/proc/self/fdinfo").join(fd.file_name());
        let Ok(text) = std::fs::read_to_string(info) else {
            continue;
        };
        for line in text.lines().filter(|l| l.starts_with("inotify wd:")) {
            let field = |name: &str| {
                line.split_whitespace()
                    .find_map(|f| f.strip_prefix(name))
                    .and_then(|v| u64::from_str_radix(v, 16).ok())
            };
            if let (Some(ino), Some(sdev)) = (field("ino:"), field("sdev:")) {
                watched.insert((sdev, ino));
            }
        }
    }
    watched
}

/// `path`'s (device, inode) as `/proc/self/fdinfo` spells them: the kernel's own device
/// number, `major << 20 | minor`, not `st_dev`'s encoding.
fn kernel_id(path: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(path).unwrap();
    let dev = m.dev();
    let major = ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff);
    let minor = ((dev >> 12) & 0xffff_ff00) | (dev & 0xff);
    ((major << 20) | minor, m.ino())
}

fn indexed_paths(files: &[IndexedFile]) -> Vec<&str> {
    files.iter().map(|f| f.path.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_directory_linked_to_a_big_tree_outside_the_root_is_never_watched_nor_listed() {
    let mut outside_dirs = Vec::new();
    let lab = Lab::prepared(Backend::Native, |tmp| {
        let root = tmp.join("sessions");
        outside_dirs = big_tree(&tmp.join("outside/big"));
        std::fs::create_dir_all(root.join("alice")).unwrap();
        std::fs::write(root.join("alice/a.jsonl"), b"{}\n").unwrap();
        // There when watching starts (the issue's /usr/share case).
        std::os::unix::fs::symlink(tmp.join("outside/big"), root.join("linked")).unwrap();
        root
    })
    .await;
    lab.until_watching(WatchMode::Native).await;
    lab.until_row("alice/a.jsonl", "indexed by the first rescan", |_| true)
        .await;
    let real_dirs = [lab.root.clone(), lab.path("alice")];
    assert_eq!(
        lab.watcher.watched_dirs(),
        real_dirs.len(),
        "the root and its one real user directory, nothing behind the link"
    );

    // One made while watching, and a real file after it: once the file is indexed, the
    // batch that reported the link has been applied too.
    std::os::unix::fs::symlink(lab.outside.join("big"), lab.path("late")).unwrap();
    lab.write("alice/b.jsonl", b"{}\n");
    lab.until_row("alice/b.jsonl", "a file written after the link", |_| true)
        .await;

    let files = lab.index.files().await.unwrap();
    assert_eq!(
        indexed_paths(&files),
        ["alice/a.jsonl", "alice/b.jsonl"],
        "nothing from behind a link is indexed"
    );
    for link in ["linked", "late"] {
        for rel in ["top.jsonl", "d000/s.jsonl"] {
            assert_eq!(
                lab.changes_for(&lab.path(link).join(rel)),
                (0, 0),
                "{link}/{rel}: the watcher does not even list a linked directory"
            );
        }
    }
    let watched = inotify_watched();
    let followed = outside_dirs
        .iter()
        .filter(|d| watched.contains(&kernel_id(d)))
        .count();
    assert_eq!(
        followed, 0,
        "the kernel watches none of the 301 directories behind the links"
    );
    for dir in &real_dirs {
        assert!(
            watched.contains(&kernel_id(dir)),
            "{} is watched by the kernel",
            dir.display()
        );
    }
    assert_eq!(
        lab.watcher.watched_dirs(),
        real_dirs.len(),
        "the links made while watching added no watch either"
    );
    assert!(
        lab.failed_applies().is_empty(),
        "{:?}",
        lab.failed_applies()
    );
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_polling_a_user_directory_linked_outside_the_root_is_never_walked() {
    let lab = Lab::prepared(Backend::NativeFails, |tmp| {
        let root = tmp.join("sessions");
        big_tree(&tmp.join("outside/big"));
        std::fs::create_dir_all(root.join("alice")).unwrap();
        std::fs::write(root.join("alice/a.jsonl"), b"{}\n").unwrap();
        std::os::unix::fs::symlink(tmp.join("outside/big"), root.join("linked")).unwrap();
        root
    })
    .await;
    eventually("polling, with its first rescan applied", SOON, || {
        let ok =
            matches!(lab.watcher.mode(), WatchMode::Polling { .. }) && lab.rescans_applied() > 0;
        async move { ok.then_some(()) }
    })
    .await;
    lab.until_row("alice/a.jsonl", "indexed by the first rescan", |_| true)
        .await;
    assert_eq!(
        lab.watcher.watched_dirs(),
        2,
        "the poller looks at the root and alice, not at the 301 directories behind the link"
    );

    // A change behind the link (a later mtime: the poller compares whole seconds). A poller
    // that walked the link would report it as `linked/top.jsonl`.
    let behind = lab.outside.join("big/top.jsonl");
    std::fs::write(&behind, b"{\"outside\":\"changed\"}\n").unwrap();
    let later = std::time::SystemTime::now() + Duration::from_secs(10);
    filetime::set_file_mtime(&behind, filetime::FileTime::from_system_time(later)).unwrap();
    // Three poll passes later, each marked by a file in a real directory, anything that
    // pass saw has been reported and applied.
    for i in 0..3 {
        let rel = format!("alice/mark{i}.jsonl");
        lab.write(&rel, b"{}\n");
        lab.until_row(&rel, "seen by the poller", |_| true).await;
    }
    assert_eq!(
        lab.changes_for(&lab.path("linked/top.jsonl")),
        (0, 0),
        "the poller never walked behind the link"
    );
    let files = lab.index.files().await.unwrap();
    assert_eq!(
        indexed_paths(&files),
        [
            "alice/a.jsonl",
            "alice/mark0.jsonl",
            "alice/mark1.jsonl",
            "alice/mark2.jsonl"
        ]
    );
    assert_eq!(lab.watcher.watched_dirs(), 2);
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_symlinked_session_file_is_never_indexed_wherever_it_points() {
    let lab = Lab::watching().await;
    lab.write("alice/a.jsonl", b"{}\n");
    lab.until_row("alice/a.jsonl", "indexed", |_| true).await;
    std::fs::write(lab.outside.join("secret.jsonl"), b"{\"secret\":1}\n").unwrap();
    let links = [
        (lab.outside.join("secret.jsonl"), "alice/escape.jsonl"),
        (lab.path("alice/a.jsonl"), "alice/inside.jsonl"),
        (PathBuf::from("a.jsonl"), "alice/relative.jsonl"),
    ];
    for (target, link) in &links {
        std::os::unix::fs::symlink(target, lab.path(link)).unwrap();
    }
    lab.write("alice/b.jsonl", b"{}\n");
    lab.until_row("alice/b.jsonl", "a file written after the links", |_| true)
        .await;
    let files = lab.index.files().await.unwrap();
    assert_eq!(
        indexed_paths(&files),
        ["alice/a.jsonl", "alice/b.jsonl"],
        "a link is not a session file, even one pointing inside the root"
    );
    let report = lab.index.rescan().await.unwrap();
    assert_eq!(
        (report.seen, report.new, report.removed),
        (2, 0, 0),
        "the rescan agrees: {report:?}"
    );
    assert!(report.ignored >= 3, "the links are ignored: {report:?}");
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symlink_loops_under_the_root_do_not_hang_watching_polling_or_rescanning() {
    for backend in [Backend::Native, Backend::NativeFails] {
        let lab = Lab::prepared(backend, |tmp| {
            let root = tmp.join("sessions");
            std::fs::create_dir_all(root.join("alice")).unwrap();
            // A user directory linking to its parent, one linking to itself, and a
            // directory inside a user directory linking back up.
            std::os::unix::fs::symlink(&root, root.join("loop")).unwrap();
            std::os::unix::fs::symlink(root.join("self"), root.join("self")).unwrap();
            std::os::unix::fs::symlink("..", root.join("alice/up")).unwrap();
            root
        })
        .await;
        eventually(&format!("{backend:?}: watching"), SOON, || {
            let ok = lab.watcher.mode() != WatchMode::Waiting && lab.rescans_applied() > 0;
            async move { ok.then_some(()) }
        })
        .await;
        lab.write("alice/a.jsonl", b"{}\n");
        lab.until_row("alice/a.jsonl", "indexed", |_| true).await;
        assert_eq!(lab.watcher.watched_dirs(), 2, "{backend:?}: root and alice");
        let report = lab.index.rescan().await.unwrap();
        assert_eq!(report.seen, 1, "{backend:?}: {report:?}");
        assert_eq!(
            indexed_paths(&lab.index.files().await.unwrap()),
            ["alice/a.jsonl"]
        );
        lab.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_root_given_as_a_symlink_is_followed_and_nothing_below_it_is() {
    let lab = Lab::prepared(Backend::Native, |tmp| {
        let real = tmp.join("real-sessions");
        std::fs::create_dir_all(real.join("alice")).unwrap();
        std::os::unix::fs::symlink(tmp.join("outside"), real.join("linked")).unwrap();
        let root = tmp.join("sessions");
        std::os::unix::fs::symlink(&real, &root).unwrap();
        root
    })
    .await;
    lab.until_watching(WatchMode::Native).await;
    std::fs::write(lab.outside.join("o.jsonl"), b"{}\n").unwrap();
    lab.write("alice/a.jsonl", b"{}\n");
    let row = lab
        .until_row(
            "alice/a.jsonl",
            "reported under the root as configured",
            |_| true,
        )
        .await;
    assert_eq!(row.username, "alice");
    assert_eq!(
        indexed_paths(&lab.index.files().await.unwrap()),
        ["alice/a.jsonl"],
        "the link below the root is still not followed"
    );
    assert_eq!(lab.watcher.watched_dirs(), 2);

    // The link re-pointed (replaced atomically, as `ln -sfn` does) to another directory:
    // within a second the watch is on the directory the root names now.
    let other = lab.root.parent().unwrap().join("other-sessions");
    std::fs::create_dir_all(other.join("bob")).unwrap();
    let next = lab.root.parent().unwrap().join("sessions.next");
    std::os::unix::fs::symlink(&other, &next).unwrap();
    std::fs::rename(&next, &lab.root).unwrap();
    eventually("alice's file gone with the old target", SOON, || async {
        lab.row("alice/a.jsonl").await.is_none().then_some(())
    })
    .await;
    lab.write("bob/b.jsonl", b"{}\n");
    lab.until_row("bob/b.jsonl", "written in the new target", |_| true)
        .await;
    assert_eq!(lab.watcher.watched_dirs(), 2, "the root and bob");
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renamed_user_directory_is_watched_under_its_new_name_and_one_turned_into_a_link_is_dropped(
) {
    let lab = Lab::watching().await;
    lab.write("alice/a.jsonl", b"{}\n");
    lab.write("dora/d.jsonl", b"{}\n");
    lab.until_row("alice/a.jsonl", "indexed", |_| true).await;
    lab.until_row("dora/d.jsonl", "indexed", |_| true).await;
    assert_eq!(lab.watcher.watched_dirs(), 3);

    std::fs::rename(lab.path("alice"), lab.path("carol")).unwrap();
    lab.until_row("carol/a.jsonl", "found under the new name", |_| true)
        .await;
    lab.write("carol/new.jsonl", b"{}\n");
    lab.until_row("carol/new.jsonl", "written after the rename", |_| true)
        .await;
    assert!(
        lab.row("alice/a.jsonl").await.is_none(),
        "the old name is gone"
    );
    assert_eq!(lab.watcher.watched_dirs(), 3, "carol instead of alice");

    // dora's directory moved out of the root and replaced by a link to a big tree.
    std::fs::rename(lab.path("dora"), lab.outside.join("dora")).unwrap();
    let big = lab.outside.join("big");
    big_tree(&big);
    std::os::unix::fs::symlink(&big, lab.path("dora")).unwrap();
    eventually("dora's file gone from the index", SOON, || async {
        lab.row("dora/d.jsonl").await.is_none().then_some(())
    })
    .await;
    lab.write("carol/later.jsonl", b"{}\n");
    lab.until_row("carol/later.jsonl", "written after the link", |_| true)
        .await;
    assert_eq!(
        lab.watcher.watched_dirs(),
        2,
        "the root and carol: the link took the place of a watched directory, not its watch"
    );
    assert_eq!(lab.changes_for(&lab.path("dora/top.jsonl")), (0, 0));
    let files = lab.index.files().await.unwrap();
    assert_eq!(
        indexed_paths(&files),
        ["carol/a.jsonl", "carol/later.jsonl", "carol/new.jsonl"]
    );
    lab.stop().await;
}

// The index on its own: rescans.

async fn index_on(files: &[(&str, &[u8])]) -> (TempDir, PathBuf, FileIndex) {
    let (tmp, root, index, _) = index_and_store_on(files).await;
    (tmp, root, index)
}

async fn index_and_store_on(files: &[(&str, &[u8])]) -> (TempDir, PathBuf, FileIndex, Store) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("sessions");
    for (rel, content) in files {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    std::fs::create_dir_all(&root).unwrap();
    let store = Store::open(
        &tmp.path().join("steward.db"),
        std::sync::Arc::new(steward::clock::SystemClock),
    )
    .await
    .unwrap();
    let index = FileIndex::new(
        store.clone(),
        &root,
        std::sync::Arc::new(steward::clock::SystemClock),
    );
    (tmp, root, index, store)
}

#[tokio::test]
async fn a_rescan_of_unchanged_files_hashes_and_writes_nothing() {
    let names: Vec<String> = (0..100).map(|i| format!("u{}/s{i}.jsonl", i % 3)).collect();
    let files: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"{}\n"[..])).collect();
    let (_tmp, root, index) = index_on(&files).await;

    let first = index.rescan().await.unwrap();
    assert_eq!(
        (
            first.seen,
            first.new,
            first.hashed,
            first.changed,
            first.removed
        ),
        (100, 100, 100, 0, 0),
        "the first scan indexes and hashes everything: {first:?}"
    );
    let before = index.files().await.unwrap();
    let again = index.rescan().await.unwrap();
    assert_eq!(
        again,
        ScanReport {
            seen: 100,
            ..ScanReport::default()
        },
        "nothing changed: no hashing, no writes"
    );
    assert_eq!(index.files().await.unwrap(), before, "rows untouched");

    // A touch (new mtime, same bytes) is a change: rehashed, same hash.
    let touched = root.join("u0/s0.jsonl");
    let old = std::fs::metadata(&touched).unwrap().modified().unwrap();
    filetime::set_file_mtime(
        &touched,
        filetime::FileTime::from_system_time(old + Duration::from_secs(60)),
    )
    .unwrap();
    let after_touch = index.rescan().await.unwrap();
    assert_eq!(
        (after_touch.changed, after_touch.hashed, after_touch.new),
        (1, 1, 0),
        "only the touched file is looked at again: {after_touch:?}"
    );
    let row = index
        .files()
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.path == "u0/s0.jsonl")
        .unwrap();
    assert_eq!(row.file_hash.as_deref(), Some(hash(b"{}\n").as_str()));

    // Deleting between rescans removes the row.
    std::fs::remove_file(root.join("u1/s1.jsonl")).unwrap();
    let after_delete = index.rescan().await.unwrap();
    assert_eq!((after_delete.removed, after_delete.seen), (1, 99));
    assert_eq!(index.summary().await.unwrap().files, 99);
}

#[tokio::test]
async fn a_rescan_skips_what_is_not_a_session_file() {
    let (tmp, root, index) = index_on(&[
        ("u/a.jsonl", b"{}\n"),
        ("u/.b.jsonl", b"{}\n"),
        ("u/c.jsonl.tmp", b"{}\n"),
        ("u/notes.txt", b"x"),
        ("u/sub/d.jsonl", b"{}\n"),
        (".hidden/e.jsonl", b"{}\n"),
        ("top.jsonl", b"{}\n"),
    ])
    .await;
    // Symlinks: one staying inside the root, one leaving it, one user directory leaving it.
    // None is followed.
    std::fs::write(tmp.path().join("secret.jsonl"), b"{}\n").unwrap();
    std::fs::create_dir(tmp.path().join("elsewhere")).unwrap();
    std::fs::write(tmp.path().join("elsewhere/f.jsonl"), b"{}\n").unwrap();
    std::os::unix::fs::symlink(root.join("u/a.jsonl"), root.join("u/inside.jsonl")).unwrap();
    std::os::unix::fs::symlink(tmp.path().join("secret.jsonl"), root.join("u/escape.jsonl"))
        .unwrap();
    std::os::unix::fs::symlink(tmp.path().join("elsewhere"), root.join("v")).unwrap();
    std::fs::create_dir(root.join("u/dir.jsonl")).unwrap();

    let report = index.rescan().await.unwrap();
    let paths: Vec<String> = index
        .files()
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.path)
        .collect();
    assert_eq!(
        paths,
        ["u/a.jsonl"],
        "regular files in real user directories only: no symlink below the root is \
         followed, not even one staying inside it"
    );
    assert_eq!(report.seen, 1);
    assert!(
        report.ignored >= 9,
        "the rest is counted as ignored: {report:?}"
    );

    // The same rules hold for paths reported by the watcher.
    let applied = index
        .apply(&[
            Change::Upsert(root.join("u/escape.jsonl")),
            Change::Upsert(root.join("u/inside.jsonl")),
            Change::Upsert(root.join("v/f.jsonl")),
            Change::Upsert(root.join("u/dir.jsonl")),
            Change::Upsert(root.join("u/sub/d.jsonl")),
            Change::Upsert(tmp.path().join("secret.jsonl")),
            Change::Upsert(root.join("u/a.jsonl")),
        ])
        .await
        .unwrap();
    assert_eq!(
        applied,
        ScanReport {
            seen: 1,
            ignored: 6,
            ..ScanReport::default()
        },
        "six ignored, and the one real file unchanged"
    );
}

#[tokio::test]
async fn apply_looks_at_the_file_system_not_at_the_kind_of_change() {
    let (_tmp, root, index) = index_on(&[("u/a.jsonl", b"{}\n")]).await;
    let path = root.join("u/a.jsonl");
    let report = index.apply(&[Change::Remove(path.clone())]).await.unwrap();
    assert_eq!(
        (report.new, report.removed),
        (1, 0),
        "a stale Remove of a file that exists indexes it"
    );
    std::fs::remove_file(&path).unwrap();
    let report = index.apply(&[Change::Upsert(path.clone())]).await.unwrap();
    assert_eq!(
        report.removed, 1,
        "an Upsert of a file that vanished before it was looked at removes its row"
    );
    assert_eq!(index.summary().await.unwrap().files, 0);
}

#[tokio::test]
async fn a_missing_root_is_an_error_that_leaves_the_index_alone() {
    let (_tmp, root, index) = index_on(&[("u/a.jsonl", b"{}\n")]).await;
    index.rescan().await.unwrap();
    std::fs::remove_dir_all(&root).unwrap();
    let err = index.rescan().await.unwrap_err();
    assert!(
        matches!(err, IndexError::RootMissing(_)),
        "an unmounted share must not look like every session deleted: {err}"
    );
    assert_eq!(index.summary().await.unwrap().files, 1, "the index is kept");
}

#[tokio::test]
async fn the_summary_counts_bytes_and_the_newest_mtime() {
    let (_tmp, root, index) = index_on(&[("u/a.jsonl", b"12345"), ("v/b.jsonl", b"123")]).await;
    let newest = chrono::DateTime::parse_from_rfc3339("2030-01-02T03:04:05.678Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    filetime::set_file_mtime(
        root.join("v/b.jsonl"),
        filetime::FileTime::from_unix_time(newest.timestamp(), newest.timestamp_subsec_nanos()),
    )
    .unwrap();
    assert_eq!(
        index.summary().await.unwrap().files,
        0,
        "empty before a scan"
    );
    index.rescan().await.unwrap();
    let s = index.summary().await.unwrap();
    assert_eq!((s.files, s.total_bytes), (2, 8));
    assert_eq!(
        s.newest_mtime,
        Some(newest),
        "mtimes are kept to the millisecond"
    );
}

#[tokio::test]
async fn a_rescan_repairs_rows_changed_behind_the_index() {
    let (_tmp, _root, index, store) =
        index_and_store_on(&[("u/a.jsonl", b"{}\n"), ("u/b.jsonl", b"{}\n")]).await;
    index.rescan().await.unwrap();
    // Someone else deletes a row (the index keeps a copy of the table in memory).
    store
        .write_session_files(&[], &["u/a.jsonl".to_string()])
        .await
        .unwrap();
    let report = index.rescan().await.unwrap();
    assert_eq!(
        (report.new, report.hashed),
        (1, 1),
        "the rescan notices the table no longer matches its copy and puts the row back: {report:?}"
    );
    assert_eq!(index.summary().await.unwrap().files, 2);
}
