//! Session processors against real files, a real SQLite file and real processes: the
//! scheduler's lock (a slow processor is never launched twice and never holds up another,
//! a manual run while one is in flight is refused, a failing or panicking run releases the
//! lock and still advances `last_run`), per-file isolation (one bad file does not stop the
//! others), reprocessing only what changed, the usage processor on a realistic log, and the
//! pipeline status read through the scheduler.
//!
//! The index rows (`session_files`) are written here as the watcher would write them, so
//! these tests depend on the scheduler only. The command processors' programs are small
//! `/bin/sh` scripts, passed as `["/bin/sh", script, …, "{file}"]`; the runner itself never
//! uses a shell. Scripts get a clean environment, so everything they need is an argument.

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use steward::clock::SystemClock;
use steward::sessions::processor::{
    ProcessContext, ProcessError, ProcessFile, Processed, Processor, SessionFile,
};
use steward::sessions::scheduler::{
    ProcessorOutcome, ProcessorSpec, ProcessorState, RunRefused, Scheduler, SchedulerEvent,
    SchedulerHandle, Trigger,
};
use steward::sessions::status::PipelineLevel;
use steward::store::Store;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const HOUR: Duration = Duration::from_secs(3600);
/// Upper bound for anything that should happen soon (the machine may be busy).
const SOON: Duration = Duration::from_secs(30);

struct Lab {
    dir: tempfile::TempDir,
    root: PathBuf,
    store: Store,
    cancel: CancellationToken,
    tracker: TaskTracker,
}

async fn lab() -> Lab {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("user_sessions");
    std::fs::create_dir_all(&root).unwrap();
    let store = Store::open(
        &dir.path().join("data/steward.db"),
        std::sync::Arc::new(steward::clock::SystemClock),
    )
    .await
    .unwrap();
    Lab {
        dir,
        root,
        store,
        cancel: CancellationToken::new(),
        tracker: TaskTracker::new(),
    }
}

impl Lab {
    /// Writes `<root>/<rel>` and indexes it as the watcher would (its mtime, a content hash).
    async fn session(&self, rel: &str, content: &str) {
        let path = self.root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        let mtime: DateTime<Utc> = std::fs::metadata(&path).unwrap().modified().unwrap().into();
        self.index(rel, content.len(), mtime, &hash(content)).await;
    }

    /// Rewrites `<root>/<rel>` and indexes it with a later mtime than any before (so the
    /// change never hides behind the filesystem's timestamp granularity).
    async fn rewrite(&self, rel: &str, content: &str) {
        std::fs::write(self.root.join(rel), content).unwrap();
        let later = Utc::now() + chrono::Duration::seconds(5);
        self.index(rel, content.len(), later, &hash(content)).await;
    }

    async fn index(&self, rel: &str, size: usize, mtime: DateTime<Utc>, hash: &str) {
        sqlx::query(
            "INSERT INTO session_files (path, username, size, mtime, file_hash, seen_at) \
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (path) DO UPDATE SET size = excluded.size, \
             mtime = excluded.mtime, file_hash = excluded.file_hash, seen_at = excluded.seen_at",
        )
        .bind(rel)
        .bind(rel.split('/').next().unwrap())
        .bind(size as i64)
        .bind(mtime.timestamp_millis())
        .bind(hash)
        .bind(Utc::now().timestamp_millis())
        .execute(self.store.pool())
        .await
        .unwrap();
    }

    /// An executable-free script: run as `/bin/sh <script>`.
    fn script(&self, name: &str, body: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        path.to_str().unwrap().to_owned()
    }

    fn log(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn start(&self, specs: Vec<ProcessorSpec>) -> SchedulerHandle {
        Scheduler::start(
            self.store.clone(),
            self.root.clone(),
            specs,
            Arc::new(SystemClock),
            &self.cancel,
            &self.tracker,
        )
        .expect("valid specs")
    }

    /// Stops everything and waits (bounded) for every task to end.
    async fn shut_down(&self) {
        self.cancel.cancel();
        self.tracker.close();
        tokio::time::timeout(SOON, self.tracker.wait())
            .await
            .expect("every scheduler task ends after cancellation");
    }
}

/// Any stable digest of the content will do for these tests (the index uses blake3).
fn hash(content: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    content.hash(&mut h);
    format!("{:016x}", h.finish())
}

fn command(name: &str, argv: &[&str], cadence: Duration, enabled: bool) -> ProcessorSpec {
    ProcessorSpec {
        name: name.to_owned(),
        processor: Processor::Command {
            argv: argv.iter().map(|a| (*a).to_owned()).collect(),
            timeout: Duration::from_secs(20),
        },
        cadence,
        enabled,
    }
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The next event matching `want`, within [`SOON`].
async fn next(
    rx: &mut broadcast::Receiver<SchedulerEvent>,
    want: impl Fn(&SchedulerEvent) -> bool,
) -> SchedulerEvent {
    tokio::time::timeout(SOON, async {
        loop {
            let e = rx.recv().await.expect("the scheduler is alive");
            if want(&e) {
                return e;
            }
        }
    })
    .await
    .expect("the event came in time")
}

fn finished_by(name: &'static str) -> impl Fn(&SchedulerEvent) -> bool {
    move |e| matches!(e, SchedulerEvent::RunFinished { processor, .. } if processor == name)
}

fn started_by(name: &'static str) -> impl Fn(&SchedulerEvent) -> bool {
    move |e| matches!(e, SchedulerEvent::RunStarted { processor, .. } if processor == name)
}

async fn state(h: &SchedulerHandle, name: &str) -> ProcessorState {
    h.states()
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.name == name)
        .expect("listed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_processor_never_holds_up_another_and_is_never_launched_twice() {
    let lab = lab().await;
    lab.session("ann/a.jsonl", "{}\n").await;
    let slow_log = lab.log("slow.log");
    let fast_log = lab.log("fast.log");
    let slow = lab.script(
        "slow.sh",
        "echo \"start $2\" >> \"$1\"\nsleep 4\necho \"end $2\" >> \"$1\"",
    );
    let fast = lab.script("fast.sh", "echo \"ran $2\" >> \"$1\"");
    let (slow_log_s, fast_log_s) = (slow_log.to_str().unwrap(), fast_log.to_str().unwrap());
    let h = lab.start(vec![
        // A cadence of 1 s: ticks come during its 4 s run and must not launch it again.
        command(
            "slow",
            &["/bin/sh", &slow, slow_log_s, "{file}"],
            Duration::from_secs(1),
            true,
        ),
        command(
            "fast",
            &["/bin/sh", &fast, fast_log_s, "{file}"],
            HOUR,
            true,
        ),
    ]);
    let mut rx = h.subscribe();

    // Both start at once; fast finishes while slow is still inside its file.
    let done = next(&mut rx, finished_by("fast")).await;
    assert!(
        matches!(
            done,
            SchedulerEvent::RunFinished {
                outcome: ProcessorOutcome::Ok,
                processed: 1,
                ..
            }
        ),
        "{done:?}"
    );
    assert!(
        state(&h, "slow").await.running,
        "fast finished while slow was still running"
    );
    assert_eq!(lines(&fast_log).len(), 1);

    // While slow runs: changes, a manual run and cadence ticks.
    for _ in 0..3 {
        h.notify_changed();
    }
    assert_eq!(
        h.run_now("slow").await,
        Err(RunRefused::Busy("slow".into())),
        "a manual run while one is in flight is refused (HTTP 409)"
    );
    next(&mut rx, finished_by("slow")).await;
    // The change that came during the run is looked at right after it (nothing is due).
    let again = next(&mut rx, started_by("slow")).await;
    assert!(
        matches!(
            again,
            SchedulerEvent::RunStarted {
                trigger: Trigger::Again | Trigger::Cadence,
                ..
            }
        ),
        "{again:?}"
    );
    next(&mut rx, finished_by("slow")).await;

    let file = lab.root.join("ann/a.jsonl");
    let file = file.to_str().unwrap();
    assert_eq!(
        lines(&slow_log),
        [format!("start {file}"), format!("end {file}")],
        "launched once, never overlapping, whatever fired during its run"
    );
    assert_eq!(
        lines(&fast_log),
        [format!("ran {file}")],
        "the notified changes did not make fast process an unchanged file again"
    );
    let s = state(&h, "slow").await;
    assert_eq!(s.last_outcome, Some(ProcessorOutcome::Ok));
    assert_eq!(s.backlog, 0);
    lab.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_bad_file_fails_alone_and_a_failing_run_releases_its_lock() {
    let lab = lab().await;
    lab.session("ann/a.jsonl", "{}\n").await;
    lab.session("ann/bad.jsonl", "{}\n").await;
    lab.session("bob/c.jsonl", "{}\n{}\n").await;
    let verify = lab.script(
        "verify.sh",
        "case \"$1\" in */bad.jsonl) echo \"cannot parse $1\" >&2; exit 1;; esac\necho '{\"items\": 4}'",
    );
    let h = lab.start(vec![command(
        "verification",
        &["/bin/sh", &verify, "{file}"],
        HOUR,
        false,
    )]);
    let mut rx = h.subscribe();

    h.run_now("verification").await.unwrap();
    let SchedulerEvent::RunFinished {
        outcome,
        processed,
        failed,
        error,
        ..
    } = next(&mut rx, finished_by("verification")).await
    else {
        unreachable!()
    };
    assert_eq!(
        (outcome, processed, failed),
        (ProcessorOutcome::Failed, 2, 1)
    );
    let bad_abs = lab.root.join("ann/bad.jsonl");
    assert_eq!(
        error.as_deref(),
        Some(
            format!(
                "1 of 3 files failed; first: ann/bad.jsonl: exited with code 1: cannot parse {}",
                bad_abs.display()
            )
            .as_str()
        )
    );
    for ok in ["ann/a.jsonl", "bob/c.jsonl"] {
        let st = lab
            .store
            .session_file_state("verification", ok)
            .await
            .unwrap()
            .unwrap();
        assert!(
            st.processed_at.is_some(),
            "{ok} was processed despite bad.jsonl"
        );
        assert_eq!(st.items_extracted, 4, "from the script's stdout JSON");
        assert_eq!(st.last_error, None);
    }
    let bad = lab
        .store
        .session_file_state("verification", "ann/bad.jsonl")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bad.processed_at, None);
    assert!(
        bad.last_error
            .as_deref()
            .unwrap()
            .starts_with("exited with code 1: cannot parse"),
        "{bad:?}"
    );
    let first = state(&h, "verification").await;
    assert_eq!(first.last_outcome, Some(ProcessorOutcome::Failed));
    assert_eq!((first.files_processed, first.files_failed), (2, 1));
    assert_eq!(first.backlog, 1, "only the bad file is still due");
    assert!(!first.running);

    // The lock was released: a second manual run starts, and only retries the bad file.
    h.run_now("verification")
        .await
        .expect("a failed run released the lock");
    next(&mut rx, finished_by("verification")).await;
    let second = state(&h, "verification").await;
    assert!(
        second.last_run_started_at > first.last_run_started_at,
        "last_run advanced after a failure"
    );
    assert_eq!((second.files_processed, second.files_failed), (0, 1));
    assert_eq!(second.last_outcome, Some(ProcessorOutcome::Failed));
    lab.shut_down().await;
}

/// A processor whose processing panics on every file.
struct Panics;

impl ProcessFile for Panics {
    fn kind(&self) -> &str {
        "panics"
    }

    fn process<'a>(
        &'a self,
        file: &'a SessionFile,
        _ctx: &'a ProcessContext,
    ) -> BoxFuture<'a, Result<Processed, ProcessError>> {
        Box::pin(async move { panic!("index out of bounds in {}", file.path) })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_processor_still_advances_last_run_and_releases_its_lock() {
    let lab = lab().await;
    lab.session("ann/a.jsonl", "{}\n").await;
    let h = lab.start(vec![ProcessorSpec {
        name: "fragile".into(),
        processor: Processor::Custom(Arc::new(Panics)),
        cadence: HOUR,
        enabled: false,
    }]);
    let mut rx = h.subscribe();
    for round in 0..2 {
        h.run_now("fragile")
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        let e = next(&mut rx, finished_by("fragile")).await;
        assert!(
            matches!(
                e,
                SchedulerEvent::RunFinished {
                    outcome: ProcessorOutcome::Panicked,
                    processed: 0,
                    failed: 1,
                    ..
                }
            ),
            "{e:?}"
        );
    }
    let s = state(&h, "fragile").await;
    assert_eq!(s.last_outcome, Some(ProcessorOutcome::Panicked));
    assert!(s.last_run_finished_at.is_some() && !s.running);
    assert_eq!(s.kind, "panics");
    let st = lab
        .store
        .session_file_state("fragile", "ann/a.jsonl")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        st.last_error.as_deref(),
        Some("panicked: index out of bounds in ann/a.jsonl")
    );
    lab.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_file_is_processed_again_and_a_touched_one_is_not() {
    let lab = lab().await;
    lab.session("ann/a.jsonl", "{\"n\":1}\n").await;
    lab.session("ann/b.jsonl", "{\"n\":2}\n").await;
    let log = lab.log("seen.log");
    let record = lab.script("record.sh", "echo \"$2\" >> \"$1\"");
    let h = lab.start(vec![command(
        "p",
        &["/bin/sh", &record, log.to_str().unwrap(), "{file}"],
        HOUR,
        true,
    )]);
    let mut rx = h.subscribe();
    next(&mut rx, finished_by("p")).await;
    assert_eq!(lines(&log).len(), 2);
    let before = lab
        .store
        .session_file_state("p", "ann/b.jsonl")
        .await
        .unwrap()
        .unwrap();

    // a.jsonl grows (new mtime, new hash); b.jsonl is only touched (new mtime, same hash).
    lab.rewrite("ann/a.jsonl", "{\"n\":1}\n{\"n\":3}\n").await;
    let later = Utc::now() + chrono::Duration::seconds(5);
    lab.index("ann/b.jsonl", 8, later, &hash("{\"n\":2}\n"))
        .await;
    assert_eq!(state(&h, "p").await.backlog, 1, "only a.jsonl is due");
    h.notify_changed();
    let e = next(&mut rx, finished_by("p")).await;
    assert!(
        matches!(
            e,
            SchedulerEvent::RunFinished {
                processed: 1,
                failed: 0,
                ..
            }
        ),
        "{e:?}"
    );
    let a = lab.root.join("ann/a.jsonl").display().to_string();
    let b = lab.root.join("ann/b.jsonl").display().to_string();
    assert_eq!(lines(&log), [a.clone(), b, a], "a twice, b once");
    let after = lab
        .store
        .session_file_state("p", "ann/b.jsonl")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after, before, "b's state is untouched");
    let a_state = lab
        .store
        .session_file_state("p", "ann/a.jsonl")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        a_state.file_hash.as_deref(),
        Some(hash("{\"n\":1}\n{\"n\":3}\n").as_str()),
        "the hash of the content processed"
    );
    lab.shut_down().await;
}

/// A Claude Code session as written on disk: user and assistant lines, one reply split over
/// two lines that repeat its usage, a summary line, tool results; plus one OpenAI-style line,
/// one broken line and an unfinished last line.
const FIXTURE: &str = concat!(
    r#"{"type":"summary","summary":"Fix the flaky test","leafUuid":"0b9e"}"#,
    "\n",
    r#"{"parentUuid":null,"isSidechain":false,"userType":"external","cwd":"/home/ann/steward","sessionId":"5d1c","version":"1.0.51","type":"user","message":{"role":"user","content":"why does the test flake?"},"uuid":"a1","timestamp":"2026-05-01T09:00:00.000Z"}"#,
    "\n",
    r#"{"parentUuid":"a1","type":"assistant","requestId":"req_1","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{"type":"thinking","thinking":"..."}],"stop_reason":null,"usage":{"input_tokens":1200,"cache_creation_input_tokens":3000,"cache_read_input_tokens":15000,"output_tokens":250,"service_tier":"standard"}},"uuid":"a2","timestamp":"2026-05-01T09:00:05.000Z"}"#,
    "\n",
    r#"{"parentUuid":"a2","type":"assistant","requestId":"req_1","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{"type":"tool_use","id":"toolu_1","name":"Bash","input":{"command":"cargo test"}}],"stop_reason":"tool_use","usage":{"input_tokens":1200,"cache_creation_input_tokens":3000,"cache_read_input_tokens":15000,"output_tokens":250,"service_tier":"standard"}},"uuid":"a3","timestamp":"2026-05-01T09:00:05.500Z"}"#,
    "\n",
    r#"{"parentUuid":"a3","type":"user","message":{"role":"user","content":[{"tool_use_id":"toolu_1","type":"tool_result","content":"test result: ok"}]},"uuid":"a4","timestamp":"2026-05-01T09:00:30.000Z"}"#,
    "\n",
    r#"{"parentUuid":"a4","type":"assistant","requestId":"req_2","message":{"id":"msg_2","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{"type":"text","text":"It passes now."}],"usage":{"input_tokens":8,"cache_creation_input_tokens":0,"cache_read_input_tokens":18000,"output_tokens":40}},"uuid":"a5","timestamp":"2026-05-02T00:00:10.000Z"}"#,
    "\n",
    r#"{"model":"gpt-4o-mini","usage":{"prompt_tokens":500,"completion_tokens":120,"total_tokens":620},"timestamp":"2026-05-02T08:00:00Z"}"#,
    "\n",
    r#"{"type":"assistant","message":{"id":"msg_3","model":"claude-sonn"#,
    "\n",
    r#"{"type":"assistant","requestId":"req_4","message":{"id":"msg_4","model":"claude-opus-4-1","usage":{"input_tokens":7,"output_tokens":9}},"timestamp":"2026-05-02T09:00:00Z"}"#,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_usage_processor_counts_a_real_log_and_never_double_counts_it() {
    let lab = lab().await;
    lab.session("ann/5d1c.jsonl", FIXTURE).await;
    let h = lab.start(vec![ProcessorSpec {
        name: "usage".into(),
        processor: Processor::Usage,
        cadence: HOUR,
        enabled: true,
    }]);
    let mut rx = h.subscribe();
    next(&mut rx, finished_by("usage")).await;

    let file = lab
        .store
        .session_usage_file("ann/5d1c.jsonl")
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(file.records, 7, "every complete JSON line");
    assert_eq!(file.malformed, 1, "the cut-off line in the middle");
    assert!(
        file.partial_tail > 0,
        "the unfinished last line waits for its newline"
    );
    let st = lab
        .store
        .session_file_state("usage", "ann/5d1c.jsonl")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(st.items_extracted, 7, "items = records");

    let by_model = lab.store.session_usage_by_model().await.unwrap();
    let sonnet = by_model
        .iter()
        .find(|m| m.key == "claude-sonnet-4-5-20250929")
        .expect("sonnet");
    assert_eq!(
        (
            sonnet.tokens.input,
            sonnet.tokens.output,
            sonnet.tokens.cache_read,
            sonnet.tokens.cache_creation,
            sonnet.tokens.messages
        ),
        (1208, 290, 33000, 3000, 2),
        "msg_1's two lines count once"
    );
    let gpt = by_model.iter().find(|m| m.key == "gpt-4o-mini").unwrap();
    assert_eq!((gpt.tokens.input, gpt.tokens.output), (500, 120));
    assert!(
        !by_model.iter().any(|m| m.key == "claude-opus-4-1"),
        "the unfinished line is not counted yet"
    );
    let days: Vec<(String, u64)> = lab
        .store
        .session_usage_by_day(None)
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.key, d.tokens.input))
        .collect();
    assert_eq!(
        days,
        [
            ("2026-05-01".to_owned(), 1200),
            ("2026-05-02".to_owned(), 508)
        ],
        "each record on the day of its own timestamp"
    );
    let totals_before = lab.store.session_usage_totals().await.unwrap();

    // The writer finishes its line: the file is processed again and counted once.
    lab.rewrite("ann/5d1c.jsonl", &format!("{FIXTURE}\n")).await;
    h.notify_changed();
    next(&mut rx, finished_by("usage")).await;
    let file = lab
        .store
        .session_usage_file("ann/5d1c.jsonl")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((file.records, file.malformed, file.partial_tail), (8, 1, 0));
    let totals = lab.store.session_usage_totals().await.unwrap();
    assert_eq!(totals.files, 1);
    assert_eq!(totals.records, 8, "8, not 7 + 8");
    assert_eq!(
        totals.tokens.input,
        totals_before.tokens.input + 7,
        "only the new reply's tokens were added"
    );
    assert_eq!(totals.tokens.output, 290 + 120 + 9);
    assert_eq!(totals.tokens.messages, 4);
    lab.shut_down().await;
}

/// A session line with `input` input tokens of model `m`.
fn usage_line(id: &str, input: u64) -> String {
    format!(
        "{{\"type\":\"assistant\",\"requestId\":\"r-{id}\",\"message\":{{\"id\":\"{id}\",\"model\":\"m\",\"usage\":{{\"input_tokens\":{input},\"output_tokens\":1}}}}}}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_or_user_directory_swapped_for_a_symlink_after_indexing_is_not_followed() {
    let lab = lab().await;
    lab.session("ann/a.jsonl", &usage_line("a", 10)).await;
    lab.session("ann/b.jsonl", &usage_line("b", 20)).await;
    lab.session("bob/c.jsonl", &usage_line("c", 30)).await;
    // Outside the root, look-alikes with other content.
    let outside = lab.dir.path().join("outside");
    std::fs::create_dir_all(outside.join("bob")).unwrap();
    std::fs::write(outside.join("secret.jsonl"), usage_line("s", 999_999)).unwrap();
    std::fs::write(outside.join("bob/c.jsonl"), usage_line("t", 888_888)).unwrap();
    // After indexing: ann/a.jsonl becomes a link to the secret, and bob's directory a link
    // to the outside one (the file name stays the same, only a directory on the way moved).
    std::fs::remove_file(lab.root.join("ann/a.jsonl")).unwrap();
    std::os::unix::fs::symlink(outside.join("secret.jsonl"), lab.root.join("ann/a.jsonl")).unwrap();
    std::fs::rename(lab.root.join("bob"), lab.dir.path().join("bob-was-here")).unwrap();
    std::os::unix::fs::symlink(outside.join("bob"), lab.root.join("bob")).unwrap();

    let log = lab.log("verify.log");
    let record = lab.script("record.sh", "echo \"$2\" >> \"$1\"");
    let h = lab.start(vec![
        ProcessorSpec {
            name: "usage".into(),
            processor: Processor::Usage,
            cadence: HOUR,
            enabled: true,
        },
        command(
            "verify",
            &["/bin/sh", &record, log.to_str().unwrap(), "{file}"],
            HOUR,
            true,
        ),
    ]);
    let mut rx = h.subscribe();
    let mut finished = Vec::new();
    while finished.len() < 2 {
        if let SchedulerEvent::RunFinished {
            processor,
            outcome,
            processed,
            failed,
            ..
        } = next(&mut rx, |e| matches!(e, SchedulerEvent::RunFinished { .. })).await
        {
            finished.push((processor, outcome, processed, failed));
        }
    }
    finished.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        finished,
        [
            ("usage".to_owned(), ProcessorOutcome::Failed, 1, 2),
            ("verify".to_owned(), ProcessorOutcome::Failed, 1, 2)
        ],
        "each run processes the real file and records the two links as failures, and ends"
    );

    let totals = lab.store.session_usage_totals().await.unwrap();
    assert_eq!(
        (totals.files, totals.tokens.input),
        (1, 20),
        "only ann/b.jsonl was read: nothing behind the links"
    );
    assert_eq!(
        lines(&log),
        [lab.root.join("ann/b.jsonl").to_str().unwrap()],
        "the command was never invoked for a path through a link"
    );
    for processor in ["usage", "verify"] {
        for (rel, link) in [("ann/a.jsonl", "ann/a.jsonl"), ("bob/c.jsonl", "bob")] {
            let st = lab
                .store
                .session_file_state(processor, rel)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("{processor}: {rel} has a state row"));
            assert_eq!(st.processed_at, None, "{processor}: {rel}");
            assert_eq!(
                st.last_error.as_deref(),
                Some(format!("{link} is a symbolic link: not followed").as_str()),
                "{processor}: {rel}: the error names the link"
            );
        }
    }
    lab.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_past_its_timeout_is_that_files_error_and_shutdown_stops_a_run() {
    let lab = lab().await;
    lab.session("ann/a.jsonl", "{}\n").await;
    let hang = lab.script("hang.sh", "sleep 30");
    let hangs = ProcessorSpec {
        processor: Processor::Command {
            argv: vec!["/bin/sh".into(), hang.clone(), "{file}".into()],
            timeout: Duration::from_millis(500),
        },
        ..command("hangs", &[], HOUR, false)
    };
    let h = lab.start(vec![
        hangs,
        command("stuck", &["/bin/sh", &hang, "{file}"], HOUR, false),
    ]);
    let mut rx = h.subscribe();
    h.run_now("hangs").await.unwrap();
    let e = next(&mut rx, finished_by("hangs")).await;
    assert!(
        matches!(
            e,
            SchedulerEvent::RunFinished {
                outcome: ProcessorOutcome::Failed,
                failed: 1,
                ..
            }
        ),
        "{e:?}"
    );
    let st = lab
        .store
        .session_file_state("hangs", "ann/a.jsonl")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        st.last_error.as_deref(),
        Some("timed out after 500ms (the process group was killed)")
    );

    // A run in flight at shutdown ends at once, as cancelled, and blames no file.
    h.run_now("stuck").await.unwrap();
    next(&mut rx, started_by("stuck")).await;
    let stopping = tokio::time::Instant::now();
    lab.shut_down().await;
    assert!(
        stopping.elapsed() < Duration::from_secs(10),
        "did not wait for the 30 s command"
    );
    let s = state(&h, "stuck").await;
    assert_eq!(s.last_outcome, Some(ProcessorOutcome::Cancelled));
    assert!(!s.running);
    let st = lab
        .store
        .session_file_state("stuck", "ann/a.jsonl")
        .await
        .unwrap();
    assert!(
        st.is_none_or(|st| st.last_error.is_none()),
        "shutdown is not the file's fault"
    );
    assert_eq!(
        h.run_now("stuck").await,
        Err(RunRefused::ShuttingDown),
        "no new runs after shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_run_and_the_file_states_survive_a_restart() {
    let lab = lab().await;
    lab.session("ann/a.jsonl", "{}\n").await;
    let fail = lab.script("fail.sh", "echo 'no database' >&2\nexit 1");
    let spec = || command("p", &["/bin/sh", &fail, "{file}"], HOUR, false);
    let db = lab.dir.path().join("data/steward.db");
    {
        let h = lab.start(vec![spec()]);
        let mut rx = h.subscribe();
        h.run_now("p").await.unwrap();
        next(&mut rx, finished_by("p")).await;
        lab.shut_down().await;
        lab.store.close().await;
    }
    let store = Store::open(&db, std::sync::Arc::new(steward::clock::SystemClock))
        .await
        .unwrap();
    let h = Scheduler::start(
        store.clone(),
        lab.root.clone(),
        vec![spec()],
        Arc::new(SystemClock),
        &CancellationToken::new(),
        &TaskTracker::new(),
    )
    .unwrap();
    let s = state(&h, "p").await;
    assert_eq!(s.last_outcome, Some(ProcessorOutcome::Failed));
    assert_eq!(
        s.last_error.as_deref(),
        Some("1 of 1 files failed; first: ann/a.jsonl: exited with code 1: no database")
    );
    assert!(s.last_run_started_at.is_some() && s.last_run_finished_at.is_some());
    assert!(
        !s.running,
        "nothing runs after a restart until it is due or asked"
    );
    assert_eq!(s.backlog, 1);
    h.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_status_follows_the_processors() {
    let lab = lab().await;
    let status_at = |h: SchedulerHandle, now: DateTime<Utc>, stuck: Option<Duration>| async move {
        h.pipeline_status(now, stuck).await.unwrap()
    };
    let skip = lab.script(
        "skip.sh",
        "case \"$1\" in */old.jsonl) echo 'unsupported format' >&2; exit 2;; esac",
    );
    // A cadence of 1 h: grace 2 h, stuck grace 8 h. Its first run (at once) finds nothing.
    let h = lab.start(vec![command(
        "verification",
        &["/bin/sh", &skip, "{file}"],
        HOUR,
        true,
    )]);
    let mut rx = h.subscribe();
    next(&mut rx, finished_by("verification")).await;
    let empty = status_at(h.clone(), Utc::now(), None).await;
    assert_eq!(empty.status, PipelineLevel::Ok, "no files: the cold start");

    // An old file the processor cannot handle, and a fresh one.
    lab.session("ann/fresh.jsonl", "{}\n").await;
    lab.session("ann/old.jsonl", "{}\n").await;
    let five_hours_ago = Utc::now() - chrono::Duration::hours(5);
    lab.index("ann/old.jsonl", 3, five_hours_ago, &hash("{}\n"))
        .await;
    let before = status_at(h.clone(), Utc::now(), None).await;
    assert_eq!(before.status, PipelineLevel::Warning, "never processed");
    assert!(
        before
            .detail
            .as_deref()
            .unwrap()
            .contains("never processed a session file"),
        "{before:?}"
    );

    h.run_now("verification").await.unwrap();
    next(&mut rx, finished_by("verification")).await;
    let after = status_at(h.clone(), Utc::now(), None).await;
    assert_eq!(
        after.status,
        PipelineLevel::Ok,
        "5 h is within the 8 h stuck grace: {after:?}"
    );
    assert!(
        after
            .detail
            .as_deref()
            .unwrap()
            .contains("1 waiting (oldest 5 h old)"),
        "{after:?}"
    );
    // The override (the caller reads it from the environment) shortens the stuck grace.
    let stuck = status_at(h.clone(), Utc::now(), Some(Duration::from_secs(60))).await;
    assert_eq!(stuck.status, PipelineLevel::Info, "{stuck:?}");
    assert_eq!(stuck.stuck_file.as_deref(), Some("ann/old.jsonl"));
    assert!(stuck.stuck_file_age_seconds.unwrap() >= 5 * 3600);
    let detail = stuck.detail.unwrap();
    assert!(detail.contains("skipped"), "{detail}");
    assert!(
        detail.contains("exited with code 2: unsupported format"),
        "the file's own error is in the detail: {detail}"
    );
    // Without the override, 4 h later the file is 9 h old: past the default.
    let later = status_at(h.clone(), Utc::now() + chrono::Duration::hours(4), None).await;
    assert_eq!(later.status, PipelineLevel::Info, "{later:?}");
    lab.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processors_come_from_the_config_file() {
    let lab = lab().await;
    let text = format!(
        "[sessions]\nroot = {:?}\n\
         [[sessions.processors]]\nname = \"usage\"\nkind = \"usage\"\ncadence = \"10m\"\n\
         [[sessions.processors]]\nname = \"verify\"\nkind = \"command\"\n\
         command = [\"/bin/true\", \"{{file}}\"]\nenabled = false\n",
        lab.root.display()
    );
    let config = steward::config::Config::parse(&text, None).unwrap();
    let sessions = config.sessions.unwrap();
    let specs = ProcessorSpec::from_config(&sessions).unwrap();
    let h = lab.start(specs);
    let states = h.states().await.unwrap();
    let summary: Vec<_> = states
        .iter()
        .map(|s| (s.name.as_str(), s.kind.as_str(), s.cadence_secs, s.enabled))
        .collect();
    assert_eq!(
        summary,
        [
            ("usage", "usage", 600, true),
            ("verify", "command", 900, false)
        ]
    );
    // Subscribed before the look: a first run that ends after it is an event to come.
    let mut rx = h.subscribe();
    if state(&h, "usage").await.last_outcome.is_none() {
        next(&mut rx, finished_by("usage")).await;
    }
    assert_eq!(
        state(&h, "usage").await.last_outcome,
        Some(ProcessorOutcome::Ok),
        "the enabled processor's first run"
    );
    assert_eq!(state(&h, "verify").await.last_outcome, None, "disabled");
    lab.shut_down().await;
}
