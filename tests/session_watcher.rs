//! The session watcher and the file index together, on real directories and a real store:
//! whatever writers do under `<root>/<user>/*.jsonl`, the index ends up matching the disk.
//!
//! Each test starts a watcher whose batches are applied to the index by a consumer task, as
//! the engine does, then changes files and waits (with a generous deadline: these are real
//! file system events) for the index to show the change.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("sessions");
        let outside = tmp.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        if root_exists {
            std::fs::create_dir(&root).unwrap();
        }
        let store = Store::open(&tmp.path().join("steward.db")).await.unwrap();
        let index = FileIndex::new(store, &root);
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
            SOON,
            &format!("the watcher in {mode:?} with its rescan applied"),
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
        eventually(SOON, &format!("{rel}: {what}"), || async {
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

async fn eventually<T, F, Fut>(within: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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
    eventually(SOON, "dave/a.jsonl removed from the index", || async {
        lab.row("dave/a.jsonl").await.is_none().then_some(())
    })
    .await;
    assert!(
        lab.row("dave/b.jsonl").await.is_some(),
        "only the deleted file goes"
    );

    std::fs::remove_dir_all(lab.path("erin")).unwrap();
    eventually(SOON, "erin's files removed with her directory", || async {
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
        Duration::from_secs(120),
        "all 10,000 files indexed",
        || async { (lab.index.summary().await.unwrap().files == FILES as u64).then_some(()) },
    )
    .await;
    let indexed = started.elapsed();
    // Settled: nothing more arrives, and the count stays exact.
    tokio::time::sleep(Duration::from_millis(500)).await;
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

    eventually(SOON, "70 files indexed", || async {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_root_that_does_not_exist_yet_is_waited_for_then_watched() {
    let lab = Lab::start(false, Backend::Native).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
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
    eventually(SOON, "waiting for the root again", || {
        let waiting = lab.watcher.mode() == WatchMode::Waiting;
        async move { waiting.then_some(()) }
    })
    .await;
    lab.write("gina/b.jsonl", b"{}\n");
    lab.until_watching(WatchMode::Native).await;
    lab.until_row("gina/b.jsonl", "indexed after the root came back", |_| true)
        .await;
    eventually(SOON, "the old file gone from the index", || async {
        lab.row("gina/a.jsonl").await.is_none().then_some(())
    })
    .await;
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_native_watching_fails_the_watcher_polls_and_still_reports_new_files() {
    let lab = Lab::start(true, Backend::NativeFails).await;
    eventually(SOON, "polling mode", || {
        let mode = lab.watcher.mode();
        async move { matches!(mode, WatchMode::Polling { .. }).then_some(mode) }
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
    assert!(
        lab.changes_for(&lab.path("hank/s.jsonl")).0 >= 1,
        "the poller's event (not only a rescan) reported it"
    );
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_watcher_stops_its_task() {
    let tmp = tempfile::tempdir().unwrap();
    let (cancel, tracker) = (CancellationToken::new(), TaskTracker::new());
    let (watcher, _rx) = SessionWatcher::start(tmp.path().to_path_buf(), cancel.clone(), &tracker);
    eventually(SOON, "watching", || {
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
    let store = Store::open(&tmp.path().join("steward.db")).await.unwrap();
    let index = FileIndex::new(store.clone(), &root);
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
        ["u/a.jsonl", "u/inside.jsonl"],
        "regular session files and symlinks that stay inside the root only"
    );
    assert_eq!(report.seen, 2);
    assert!(
        report.ignored >= 8,
        "the rest is counted as ignored: {report:?}"
    );

    // The same rules hold for paths reported by the watcher.
    let applied = index
        .apply(&[
            Change::Upsert(root.join("u/escape.jsonl")),
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
            ignored: 5,
            ..ScanReport::default()
        },
        "five ignored, and the one real file unchanged"
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
