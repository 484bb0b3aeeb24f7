//! Crash safety with the real binary: `kill -9` Steward while a fix runs; after a restart
//! the proposal is `interrupted`, audited, and never run again by itself.

mod common;

use common::serve::{Serve, ServeCommand};
use common::wait::eventually;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// What the running binary does at once (plan with the rules planner, start a script,
/// re-probe a dead port with a 1 s timeout) shows within moments.
const SOON: Duration = Duration::from_secs(10);

/// The proposals of `status` (empty when there are none).
async fn proposals(s: &Serve, status: &str) -> Vec<Value> {
    s.get(&format!("/api/proposals?status={status}"))
        .await
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fix_cut_off_by_kill_9_is_interrupted_after_the_restart_and_never_run_again() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let pid = dir.path().join("script.pid");
    let script = dir.path().join("slow-restart");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho $$ > '{}'\necho \"$1\" >> '{}'\nsleep 60\n",
            pid.display(),
            runs.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = dir.path().join("steward.toml");
    std::fs::write(
        &config,
        format!(
            "[[providers]]\nid = \"batch\"\nkind = \"tcp\"\naddress = \"127.0.0.1:9\"\nnode = \"lab\"\nservice = \"batchsvc\"\nenabled = false\n\n\
             [planner]\nchain = [\"rules\"]\nactions_dir = \"{d}/actions\"\nevents_dir = \"{d}/events\"\n\n\
             [executor]\nauto_execute = [\"none\"]\ntimeout = \"120s\"\n[executor.commands]\ncontainer_restart = [\"{s}\", \"{{service}}\"]\n",
            d = dir.path().display(),
            s = script.display()
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let serve = ServeCommand::new(&config, &data);

    let mut steward = serve.start().await;
    let event = json!({"type": "service_unhealthy", "node": "lab", "service": "batchsvc"});
    assert_eq!(steward.post("/api/events", &event).await.0, 202);
    eventually("a pending proposal", SOON, || async {
        proposals(&steward, "pending").await.len() == 1
    })
    .await;
    let id = proposals(&steward, "pending").await[0]["action_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        steward
            .post(&format!("/api/proposals/{id}/approve"), &json!({}))
            .await
            .0,
        200
    );
    eventually("the fix is running", SOON, || async { lines(&runs) == 1 }).await;
    eventually("its status says so", SOON, || async {
        steward.get(&format!("/api/proposals/{id}")).await["status"] == "running"
    })
    .await;

    // kill -9: no shutdown, no cleanup.
    steward.kill9();
    // The orphaned command is the machine's business now; end it so the test is tidy.
    if let Ok(p) = std::fs::read_to_string(&pid) {
        // ESRCH: it ended by itself, which is as tidy.
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(p.trim().parse().unwrap()),
            nix::sys::signal::Signal::SIGKILL,
        );
    }

    // The same data dir again (on a port of its own choosing).
    let steward = serve.start().await;
    let p = steward.get(&format!("/api/proposals/{id}")).await;
    assert_eq!(p["status"], "interrupted", "{p}");
    assert!(p["status_detail"]
        .as_str()
        .unwrap()
        .contains("not run again"));
    let audit = steward
        .get(&format!("/api/executions?action_id={id}"))
        .await;
    let steps: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|r| r["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["approve", "start", "interrupt"], "{audit:#}");
    // Approving it again is refused; nothing ran a second time.
    assert_eq!(
        steward
            .post(&format!("/api/proposals/{id}/approve"), &json!({}))
            .await
            .0,
        409
    );
    // A refused approval spawns nothing: the audit has no second start, and the command
    // ran once.
    let audit = steward
        .get(&format!("/api/executions?action_id={id}"))
        .await;
    let starts = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["step"] == "start")
        .count();
    assert_eq!(starts, 1, "{audit:#}");
    assert_eq!(lines(&runs), 1, "the command ran once");
    drop(steward);
}

/// One run of the crash matrix: a fix for `lab/batchsvc` (an enabled provider that is
/// down), approved through the API, with Steward stopped by SIGKILL at `failpoint`.
struct Matrix {
    dir: tempfile::TempDir,
    /// `steward serve` on the test's config and data dir, without a failpoint.
    serve: ServeCommand,
    /// The process that crashed at the failpoint, then the one after the restart.
    steward: Serve,
    id: String,
}

impl Matrix {
    fn runs(&self) -> usize {
        lines(&self.dir.path().join("runs"))
    }

    fn release_command(&self) {
        std::fs::write(self.dir.path().join("go"), "").unwrap();
    }

    /// Starts Steward again on the same data dir, without the failpoint.
    async fn restart(&mut self) {
        self.steward = self.serve.start().await;
    }

    /// The action file wherever it is (claimed or not), parsed.
    fn action_file(&self) -> Value {
        let actions = self.dir.path().join("actions");
        let name = format!("{}.json", self.id);
        let claimed = actions.join("claimed").join(&name);
        let path = if claimed.exists() {
            claimed
        } else {
            actions.join(&name)
        };
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
    }

    /// The proposal, its action file and its audit all say `status`.
    async fn agree_on(&self, status: &str) -> Value {
        let p = self
            .steward
            .get(&format!("/api/proposals/{}", self.id))
            .await;
        assert_eq!(p["status"], status, "the API: {p:#}");
        let file = self.action_file();
        assert_eq!(file["status"], status, "the action file: {file:#}");
        let audit = self
            .steward
            .get(&format!("/api/executions?action_id={}", self.id))
            .await;
        assert_eq!(
            audit[0]["status_after"], status,
            "the newest audit row: {audit:#}"
        );
        p
    }

    /// Waits until step number `steps` is written everywhere: the audit and the proposal
    /// first (one transaction), the action file after them.
    async fn settled(&self, what: &str, steps: usize, status: &str) {
        eventually(what, SOON, || async {
            self.steps().await.len() == steps && self.action_file()["status"] == status
        })
        .await;
    }

    async fn steps(&self) -> Vec<String> {
        let audit = self
            .steward
            .get(&format!("/api/executions?action_id={}", self.id))
            .await;
        audit
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .map(|r| r["step"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// Sets up, starts Steward with `failpoint`, plans a proposal, approves it, and waits
/// for the process to stop itself at the failpoint.
async fn crash_at(failpoint: &str, release_first: bool) -> Matrix {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("fix");
    // Counts its runs, then waits for `go` (the test decides when it ends).
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$1\" >> '{d}/runs'\nwhile [ ! -e '{d}/go' ]; do sleep 0.05; done\n",
            d = dir.path().display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = dir.path().join("steward.toml");
    // The target is enabled and down (nothing listens on port 9): the click-time
    // re-check lets the fix run, and the verification finds it still down.
    std::fs::write(
        &config,
        format!(
            "[[providers]]\nid = \"batch\"\nkind = \"tcp\"\naddress = \"127.0.0.1:9\"\nnode = \"lab\"\nservice = \"batchsvc\"\ninterval = \"1h\"\ntimeout = \"1s\"\n\n\
             [planner]\nchain = [\"rules\"]\nactions_dir = \"{d}/actions\"\nevents_dir = \"{d}/events\"\n\n\
             [executor]\nauto_execute = []\ntimeout = \"120s\"\n[executor.commands]\ncontainer_restart = [\"{s}\", \"{{service}}\"]\n",
            d = dir.path().display(),
            s = script.display()
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let serve = ServeCommand::new(&config, &data);
    if release_first {
        std::fs::write(dir.path().join("go"), "").unwrap();
    }
    let mut steward = serve
        .clone()
        .env("STEWARD_FAILPOINTS", failpoint)
        .start()
        .await;
    let event = json!({"type": "service_unhealthy", "node": "lab", "service": "batchsvc",
                       "payload": {"exit_code": 137}});
    assert_eq!(steward.post("/api/events", &event).await.0, 202);
    eventually("a pending proposal", SOON, || async {
        proposals(&steward, "pending").await.len() == 1
    })
    .await;
    let id = proposals(&steward, "pending").await[0]["action_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The approval answers unless the failpoint comes before the answer; either way
    // Steward stops itself at the failpoint.
    let _ = steward
        .client
        .post(steward.url(&format!("/api/proposals/{id}/approve")))
        .bearer_auth(&steward.token)
        .send()
        .await;
    let status = steward.exit_status(SOON).await;
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(9),
        "stopped by SIGKILL at {failpoint}"
    );
    Matrix {
        dir,
        serve,
        steward,
        id,
    }
}

async fn approving_again_is_refused(m: &Matrix) {
    assert_eq!(
        m.steward
            .post(&format!("/api/proposals/{}/approve", m.id), &json!({}))
            .await
            .0,
        409,
        "a proposal is run at most once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_the_approval_before_the_claim_runs_nothing() {
    let mut m = crash_at("after_approved", true).await;
    m.restart().await;
    let p = m.agree_on("interrupted").await;
    assert!(p["status_detail"]
        .as_str()
        .unwrap()
        .contains("before the command started"));
    assert_eq!(m.steps().await, ["approve", "interrupt"]);
    approving_again_is_refused(&m).await;
    assert_eq!(m.runs(), 0, "nothing ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_the_claim_runs_nothing() {
    let mut m = crash_at("after_claim", true).await;
    m.restart().await;
    m.agree_on("interrupted").await;
    assert!(
        m.dir
            .path()
            .join(format!("actions/claimed/{}.json", m.id))
            .exists(),
        "the claimed file stays claimed"
    );
    assert_eq!(m.steps().await, ["approve", "interrupt"]);
    approving_again_is_refused(&m).await;
    assert_eq!(m.runs(), 0, "nothing ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_the_start_before_the_spawn_runs_nothing() {
    let mut m = crash_at("after_running", true).await;
    m.restart().await;
    let p = m.agree_on("interrupted").await;
    assert!(
        p["status_detail"]
            .as_str()
            .unwrap()
            .contains("before its process group was recorded"),
        "{p:#}"
    );
    assert_eq!(m.steps().await, ["approve", "start", "interrupt"]);
    approving_again_is_refused(&m).await;
    assert_eq!(m.runs(), 0, "nothing ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_still_running_after_a_crash_is_reported_watched_and_verified() {
    let mut m = crash_at("after_spawn", false).await;
    eventually("the command runs on its own", SOON, || async {
        m.runs() == 1
    })
    .await;
    m.restart().await;
    let p = m.agree_on("running").await;
    let pgid = p["run"]["pgid"].as_u64().expect("the pgid was recorded");
    let detail = p["status_detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("still running as pgid {pgid} since")),
        "{detail}"
    );
    assert_eq!(m.steps().await, ["approve", "start", "adopt"]);
    approving_again_is_refused(&m).await;
    // The command ends by itself: Steward sees it, marks it, re-probes the target.
    m.release_command();
    m.settled("the end is seen and verified", 5, "interrupted")
        .await;
    let p = m.agree_on("interrupted").await;
    let detail = p["status_detail"].as_str().unwrap();
    assert!(detail.contains("ran on as pgid"), "{detail}");
    assert!(
        detail.contains("re-probed: batchsvc on lab still does not answer"),
        "{detail}"
    );
    assert_eq!(
        m.steps().await,
        ["approve", "start", "adopt", "interrupt", "verify"]
    );
    assert_eq!(m.runs(), 1, "the command ran once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_that_finished_while_steward_was_down_is_interrupted_and_verified() {
    let mut m = crash_at("after_spawn", false).await;
    eventually("the command runs on its own", SOON, || async {
        m.runs() == 1
    })
    .await;
    m.release_command();
    let pgid = m.action_file()["run"]["pgid"].as_i64().unwrap();
    // Wait until the group is gone (its processes were reparented and collected).
    eventually("the command's process group to end", SOON, || async {
        nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid as i32), None).is_err()
    })
    .await;
    m.restart().await;
    m.settled("verified", 4, "interrupted").await;
    let p = m.agree_on("interrupted").await;
    let detail = p["status_detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("(pgid {pgid}) had ended")),
        "{detail}"
    );
    assert_eq!(m.steps().await, ["approve", "start", "interrupt", "verify"]);
    approving_again_is_refused(&m).await;
    assert_eq!(m.runs(), 1, "the command ran once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_the_run_finished_verifies_at_the_restart_without_running_again() {
    let mut m = crash_at("after_succeeded", true).await;
    assert_eq!(m.runs(), 1);
    m.restart().await;
    m.settled("verified after the restart", 4, "unresolved")
        .await;
    m.agree_on("unresolved").await;
    assert_eq!(m.steps().await, ["approve", "start", "run", "verify"]);
    approving_again_is_refused(&m).await;
    assert_eq!(m.runs(), 1, "the command ran once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_the_verification_puts_the_file_right_at_the_restart() {
    let mut m = crash_at("after_unresolved", true).await;
    assert_eq!(
        m.action_file()["status"],
        "succeeded",
        "the crash came before the file was rewritten"
    );
    m.restart().await;
    m.agree_on("unresolved").await;
    assert_eq!(m.steps().await, ["approve", "start", "run", "verify"]);
    approving_again_is_refused(&m).await;
    assert_eq!(m.runs(), 1, "the command ran once");
}
