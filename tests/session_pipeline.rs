//! The session pipeline through `steward serve` over HTTP, with real files, real mtimes
//! (set with `filetime`, no mocked clock) and the real SQLite file.
//!
//! The first eight tests are seed 003's, case by case: processing state is seeded straight
//! into `session_processor_state` as the seed does, and the `verification` processor is a
//! command that fails every file (`/bin/false`), so nothing Steward does changes the seeded
//! state: the status is judged on the files and those rows alone. The rest is the pipeline
//! doing its work: a new file processed on its own, usage totals, the warning handed to the
//! planner, manual runs and their 409.

mod common;

use common::serve::{Serve, ServeCommand};
use common::wait::eventually;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// How long `steward serve` may take to scan, run a processor over a few small files, and
/// plan (real processes, real file system events, on a busy machine).
const PATIENCE: Duration = Duration::from_secs(30);

/// A session root with user `x`, a data dir, and `steward serve` over them.
struct Lab {
    dir: tempfile::TempDir,
    serve: Option<Serve>,
}

impl Lab {
    fn new() -> Lab {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("user_sessions/x")).unwrap();
        Lab { dir, serve: None }
    }

    fn steward(&self) -> &Serve {
        self.serve.as_ref().expect("steward serve was started")
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("user_sessions")
    }

    /// A session file of user `x` whose mtime is `ago` seconds in the past.
    fn session(&self, name: &str, ago: u64, body: &str) -> PathBuf {
        let f = self.root().join("x").join(name);
        std::fs::write(&f, body).unwrap();
        set_age(&f, ago);
        f
    }

    /// A `verification` state row, as the seed's `_seed_extraction_state` writes it.
    async fn seed_state(&self, session_file: &str, processed_ago: u64) {
        let store = steward::store::Store::open(
            &self.dir.path().join("data/steward.db"),
            std::sync::Arc::new(steward::clock::SystemClock),
        )
        .await
        .unwrap();
        let at = chrono::Utc::now() - chrono::Duration::seconds(processed_ago as i64);
        sqlx::query(
            "INSERT OR REPLACE INTO session_processor_state \
             (processor_name, session_file, username, processed_at, items_extracted, file_hash) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind("verification")
        .bind(session_file)
        .bind("x")
        .bind(at.timestamp_millis())
        .bind(0)
        .bind("deadbeef")
        .execute(store.pool())
        .await
        .unwrap();
        store.close().await;
    }

    /// Starts `steward serve` with a `[sessions]` section over the root holding
    /// `processors` (TOML) and extra environment; answers once the first scan is over.
    async fn serve(&mut self, processors: &str, env: &[(&str, &str)]) {
        let sessions = format!(
            "[sessions]\nroot = \"{}\"\n{processors}",
            self.root().display()
        );
        self.start(&sessions, env).await;
        eventually("the first scan", PATIENCE, || async {
            self.get("/api/sessions").await["scanned"] == true
        })
        .await;
    }

    /// Starts `steward serve` with `sections` (TOML) as its config and extra environment;
    /// answers once it answers.
    async fn start(&mut self, sections: &str, env: &[(&str, &str)]) {
        let config = self.dir.path().join("steward.toml");
        std::fs::write(&config, sections).unwrap();
        // Failing runs are the point of several tests: their warnings are noise here.
        let mut cmd = ServeCommand::new(&config, &self.dir.path().join("data"))
            .env("STEWARD_LOG", "error")
            .env("NODE_NAME", "testnode");
        for (k, v) in env {
            cmd = cmd.env(k, v);
        }
        self.serve = None;
        self.serve = Some(cmd.start().await);
    }

    async fn get(&self, path: &str) -> Value {
        self.steward().get(path).await
    }

    /// `POST path` with no body: the status and the JSON answer (`Null` when not JSON).
    async fn post(&self, path: &str) -> (u16, Value) {
        let s = self.steward();
        let r = s
            .client
            .post(s.url(path))
            .bearer_auth(&s.token)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// `GET /api/health/detailed` once the index holds `files` files and every processor
    /// has finished its first run (until then, having processed nothing is not news).
    async fn detailed(&self, files: u64) -> Value {
        eventually(
            &format!("{files} files indexed, first runs over"),
            PATIENCE,
            || async {
                let s = self.get("/api/sessions").await;
                s["files"]["count"] == files
                    && s["processors"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .all(|p| p["last_run_finished_at"].is_string())
            },
        )
        .await;
        self.get("/api/health/detailed").await
    }
}

/// The seed's `verification` processor, failing every file so the seeded rows stand.
const VERIFICATION: &str = "[[sessions.processors]]\nname = \"verification\"\nkind = \"command\"\n\
                            command = [\"/bin/false\", \"{file}\"]\ncadence = \"15m\"\n";

fn set_age(path: &Path, ago: u64) {
    let t = SystemTime::now() - Duration::from_secs(ago);
    filetime::set_file_mtime(path, filetime::FileTime::from_system_time(t)).unwrap();
}

// ---------------------------------------------------------------------------------------
// Seed 003: TestSessionPipelineHealthCheck
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn no_session_files_returns_ok() {
    let mut lab = Lab::new();
    lab.serve(VERIFICATION, &[]).await;
    let body = lab.detailed(0).await;
    let sp = &body["services"]["session_pipeline"];
    assert_eq!(
        sp["status"], "ok",
        "an empty root is the cold start, not a warning: {sp}"
    );
}

#[tokio::test]
async fn session_files_recently_processed_returns_ok() {
    let mut lab = Lab::new();
    // Session file mtime: 1 minute ago. Processed: now. Within the grace window.
    lab.session("ok.jsonl", 60, "{}\n");
    lab.seed_state("/data/user_sessions/x/y.jsonl", 0).await;
    lab.serve(VERIFICATION, &[]).await;
    let body = lab.detailed(1).await;
    assert_eq!(
        body["services"]["session_pipeline"]["status"], "ok",
        "{body:#}"
    );
}

#[tokio::test]
async fn old_session_files_unprocessed_returns_warning_and_the_planner_hears_of_it() {
    let mut lab = Lab::new();
    // Session file mtime: 2 hours ago. Processed: 3 hours ago. Far past the 30 min grace.
    lab.session("old.jsonl", 7200, "{}\n");
    lab.seed_state("/data/user_sessions/x/y.jsonl", 3 * 3600)
        .await;
    lab.serve(VERIFICATION, &[]).await;
    let body = lab.detailed(1).await;
    let sp = &body["services"]["session_pipeline"];
    assert_eq!(sp["status"], "warning", "{sp}");
    let detail = sp["detail"].as_str().unwrap_or("");
    assert!(
        detail.contains("verification") && detail.to_lowercase().contains("session"),
        "the detail says which job to check: {detail}"
    );
    assert_eq!(body["status"], "degraded", "a warning degrades the whole");

    // The warning is a transition on the timeline and a `pipeline_stale` for the planner.
    eventually("a pipeline_status_changed event", PATIENCE, || async {
        lab.get("/api/events")
            .await
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "pipeline_status_changed" && e["data"]["status"] == "warning")
    })
    .await;
    eventually("a proposal for the stale pipeline", PATIENCE, || async {
        lab.get("/api/proposals")
            .await
            .as_array()
            .unwrap()
            .iter()
            .any(|p| {
                p["node"] == "testnode"
                    && p["service"] == "session_pipeline"
                    && p["source_event"]["type"] == "pipeline_stale"
            })
    })
    .await;
    let status = lab.get("/api/status").await;
    assert_eq!(status["pipeline"], "warning");
    assert_eq!(status["overall"], "degraded", "the tray shows it too");

    // Another run (still failing) recomputes the status: still a warning, not news again.
    let first = lab.get("/api/sessions").await["processors"][0]["last_run_finished_at"].clone();
    let (code, _) = lab.post("/api/sessions/processors/verification/run").await;
    assert_eq!(code, 202);
    eventually("the second run over", PATIENCE, || async {
        let p = &lab.get("/api/sessions").await["processors"][0];
        p["running"] == false && p["last_run_finished_at"] != first
    })
    .await;
    let warnings = lab
        .get("/api/events")
        .await
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "pipeline_status_changed")
        .count();
    assert_eq!(warnings, 1, "a transition is told once");
}

#[tokio::test]
async fn session_files_never_processed_returns_warning() {
    let mut lab = Lab::new();
    // Files exist but verification has no rows in session_processor_state.
    lab.session("neverprocessed.jsonl", 7200, "{}\n");
    lab.serve(VERIFICATION, &[]).await;
    let body = lab.detailed(1).await;
    assert_eq!(
        body["services"]["session_pipeline"]["status"], "warning",
        "{body:#}"
    );
}

// ---------------------------------------------------------------------------------------
// Seed 003: TestSessionPipelineFIFOCheck
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn fifo_check_warns_on_stuck_old_file_when_newer_was_processed() {
    let mut lab = Lab::new();
    // Old file (5 h), not in the state; newer file (1 min) processed now.
    lab.session("stuck_old.jsonl", 5 * 3600, "{}\n");
    lab.session("fresh.jsonl", 60, "{}\n");
    lab.seed_state("x/fresh.jsonl", 0).await;
    lab.serve(VERIFICATION, &[]).await;
    let body = lab.detailed(2).await;
    let sp = &body["services"]["session_pipeline"];
    assert_eq!(sp["status"], "info", "expected info, got {sp}");
    assert!(sp["detail"].as_str().unwrap().contains("skipped"), "{sp}");
    assert!(
        sp["stuck_file_age_seconds"].as_i64().unwrap() > 4 * 3600,
        "{sp}"
    );
    assert!(
        sp["stuck_file"]
            .as_str()
            .unwrap()
            .ends_with("stuck_old.jsonl"),
        "{sp}"
    );
    assert_ne!(
        body["status"], "degraded",
        "info must not degrade the headline"
    );
}

#[tokio::test]
async fn fifo_check_silent_when_old_file_under_threshold() {
    let mut lab = Lab::new();
    // The old file is 1 h old (< 2 h default threshold).
    lab.session("recent_unprocessed.jsonl", 3600, "{}\n");
    lab.session("fresh.jsonl", 60, "{}\n");
    lab.seed_state("x/fresh.jsonl", 0).await;
    lab.serve(VERIFICATION, &[]).await;
    let body = lab.detailed(2).await;
    assert_eq!(
        body["services"]["session_pipeline"]["status"], "ok",
        "{body:#}"
    );
}

#[tokio::test]
async fn fifo_check_silent_when_no_unprocessed_files() {
    let mut lab = Lab::new();
    lab.session("processed.jsonl", 60, "{}\n");
    lab.seed_state("x/processed.jsonl", 0).await;
    lab.serve(VERIFICATION, &[]).await;
    let body = lab.detailed(1).await;
    assert_eq!(
        body["services"]["session_pipeline"]["status"], "ok",
        "{body:#}"
    );
}

#[tokio::test]
async fn fifo_check_threshold_env_override() {
    let mut lab = Lab::new();
    // SESSION_PIPELINE_STUCK_FILE_GRACE_SECONDS=60: a 5 min old file is stuck.
    lab.session("five_min_old.jsonl", 300, "{}\n");
    lab.session("fresh.jsonl", 10, "{}\n");
    lab.seed_state("x/fresh.jsonl", 0).await;
    lab.serve(
        VERIFICATION,
        &[("SESSION_PIPELINE_STUCK_FILE_GRACE_SECONDS", "60")],
    )
    .await;
    let body = lab.detailed(2).await;
    let sp = &body["services"]["session_pipeline"];
    assert_eq!(sp["status"], "info", "expected info, got {sp}");
    assert!(
        sp["stuck_file"]
            .as_str()
            .unwrap()
            .ends_with("five_min_old.jsonl"),
        "{sp}"
    );
    assert_ne!(body["status"], "degraded");
}

// ---------------------------------------------------------------------------------------
// A fresh file is never stale (issue 10)
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn the_first_file_in_an_empty_root_is_not_called_stale_before_it_was_processed() {
    let mut lab = Lab::new();
    // `/bin/false`: the file is attempted and never processed, so the pipeline stays in
    // "never processed" for as long as this test looks at it.
    lab.serve(VERIFICATION, &[]).await;
    lab.detailed(0).await;

    std::fs::write(lab.root().join("x/fresh.jsonl"), "{}\n").unwrap();
    // Indexed (the status is recomputed then), then attempted by the run the change
    // triggers (and recomputed again when that run ends).
    eventually("fresh.jsonl indexed and attempted", PATIENCE, || async {
        let s = lab.get("/api/sessions").await;
        s["files"]["list"][0]["processors"][0]["last_error"].is_string()
    })
    .await;

    let body = lab.get("/api/health/detailed").await;
    let sp = &body["services"]["session_pipeline"];
    assert_eq!(sp["status"], "ok", "a file 0 s old is never stale: {sp}");
    assert!(
        sp["detail"]
            .as_str()
            .unwrap()
            .contains("waiting for its first processing"),
        "{sp}"
    );
    assert_eq!(body["status"], "ok", "{body:#}");
    assert_eq!(lab.get("/api/status").await["pipeline"], "ok");
    let events = lab.get("/api/events").await;
    let warned: Vec<&Value> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["type"] == "pipeline_status_changed" || e.to_string().contains("pipeline_stale")
        })
        .collect();
    assert!(
        warned.is_empty(),
        "no warning was ever told, not even for a moment: {warned:?}"
    );
    let stale: Vec<Value> = lab
        .get("/api/proposals")
        .await
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["service"] == "session_pipeline")
        .cloned()
        .collect();
    assert!(stale.is_empty(), "nothing for the planner: {stale:?}");
}

// ---------------------------------------------------------------------------------------
// The pipeline at work
// ---------------------------------------------------------------------------------------

const USAGE: &str =
    "[[sessions.processors]]\nname = \"usage\"\nkind = \"usage\"\ncadence = \"15m\"\n";

fn reply_line(id: &str, model: &str, input: u64, output: u64) -> String {
    json!({"type": "assistant", "requestId": format!("req-{id}"),
           "message": {"id": id, "model": model,
                       "usage": {"input_tokens": input, "output_tokens": output}}})
    .to_string()
}

#[tokio::test]
async fn a_new_file_is_processed_on_its_own_and_its_usage_counted() {
    let mut lab = Lab::new();
    lab.serve(USAGE, &[]).await;
    let (usage_before, _) = (lab.get("/api/sessions").await, ());
    assert_eq!(usage_before["processors"][0]["name"], "usage");

    // Written after start: the watcher, not the 15 min cadence, gets it processed.
    let body = format!(
        "{}\n{}\nnot json\n{}\n",
        reply_line("m1", "claude-sonnet", 100, 20),
        reply_line("m2", "claude-sonnet", 50, 5),
        json!({"type": "user", "message": {"content": "hi"}})
    );
    std::fs::create_dir_all(lab.root().join("alice")).unwrap();
    std::fs::write(lab.root().join("alice/s1.jsonl"), body).unwrap();
    eventually("the new file processed", PATIENCE, || async {
        let s = lab.get("/api/sessions").await;
        s["files"]["list"][0]["processors"][0]["processed_at"].is_string()
    })
    .await;
    let s = lab.get("/api/sessions").await;
    let f = &s["files"]["list"][0];
    assert_eq!(f["path"], "alice/s1.jsonl");
    assert_eq!(f["username"], "alice");
    assert_eq!(
        f["processors"][0]["items_extracted"], 3,
        "three records: {f}"
    );
    assert_eq!(s["usage"]["records"], 3);
    assert_eq!(
        s["usage"]["malformed"], 1,
        "the broken line is counted, not fatal"
    );
    assert_eq!(s["usage"]["tokens"]["input"], 150);
    assert_eq!(s["usage"]["tokens"]["output"], 25);
    assert_eq!(s["usage"]["by_model"][0]["key"], "claude-sonnet");
    assert_eq!(s["status"]["status"], "ok", "{s:#}");
    assert_eq!(s["watch"]["mode"], "native");

    // An append is processed again, and totals are replaced, not added twice.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(lab.root().join("alice/s1.jsonl"))
        .unwrap();
    use std::io::Write;
    writeln!(f, "{}", reply_line("m3", "gpt-4o", 7, 3)).unwrap();
    drop(f);
    eventually("the appended record counted", PATIENCE, || async {
        lab.get("/api/sessions").await["usage"]["records"] == 4
    })
    .await;
    let s = lab.get("/api/sessions").await;
    assert_eq!(s["usage"]["tokens"]["input"], 157, "{:#}", s["usage"]);
    assert_eq!(s["usage"]["files"], 1);
}

#[tokio::test]
async fn a_manual_run_while_one_runs_is_a_409_and_a_failed_run_releases_the_lock() {
    let mut lab = Lab::new();
    // A processor that takes its time on every file and then fails.
    let script = lab.dir.path().join("slow-verify");
    std::fs::write(&script, "#!/bin/sh\nsleep 2\nexit 1\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    lab.session("a.jsonl", 60, "{}\n");
    let processors = format!(
        "[[sessions.processors]]\nname = \"slow\"\nkind = \"command\"\n\
         command = [\"{}\", \"{{file}}\"]\ncadence = \"1h\"\n",
        script.display()
    );
    lab.serve(&processors, &[]).await;
    // Its first cadence run starts at once; wait until it is running, then ask again.
    eventually("the first run running", PATIENCE, || async {
        lab.get("/api/sessions").await["processors"][0]["running"] == true
    })
    .await;
    let (status, body) = lab.post("/api/sessions/processors/slow/run").await;
    assert_eq!(status, 409, "never two runs at once: {body}");
    assert_eq!(body["code"], "conflict");
    let (status, _) = lab.post("/api/sessions/processors/nope/run").await;
    assert_eq!(status, 404, "an unknown processor");

    eventually("the failed run over", PATIENCE, || async {
        let p = &lab.get("/api/sessions").await["processors"][0];
        p["running"] == false && p["last_outcome"] == "failed"
    })
    .await;
    let s = lab.get("/api/sessions").await;
    let p = &s["processors"][0];
    assert!(
        p["last_run_finished_at"].is_string(),
        "last_run advances on failure: {p}"
    );
    assert!(
        s["files"]["list"][0]["processors"][0]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("exit")),
        "the file's error says why: {s:#}"
    );
    let (status, body) = lab.post("/api/sessions/processors/slow/run").await;
    assert_eq!(status, 202, "the failed run released its lock: {body}");
    assert_eq!(body["started"], true);
}

#[tokio::test]
async fn without_sessions_configured_the_pipeline_is_ok_and_says_so() {
    let mut lab = Lab::new();
    lab.start("", &[]).await;
    let body = lab.get("/api/health/detailed").await;
    assert_eq!(body["services"]["session_pipeline"]["status"], "ok");
    assert!(body["services"]["session_pipeline"]["detail"]
        .as_str()
        .unwrap()
        .contains("no [sessions]"));
    let (status, _) = lab.post("/api/sessions/processors/usage/run").await;
    assert_eq!(status, 404);
    assert_eq!(lab.get("/api/sessions").await["configured"], false);
}
