//! Click to approve, end to end: a real service run by a real restart script, a breaker
//! trip, a proposal from a scripted model, approval over HTTP, the real command, the
//! re-probe, and the audit. Also: one run for many concurrent approvals, rejection,
//! click-time staleness, expiry, and names that must never reach a command.

mod common;

use common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use steward::clock::TokioClock;
use steward::engine::EngineOptions;

/// Probes every 300 ms and a model on loopback: a trip and its proposal come within moments.
const SOON: Duration = Duration::from_secs(10);
/// A real fix: a script that may start a real service, then the re-probe that verifies it.
const A_RUN: Duration = Duration::from_secs(30);

/// A script that (re)starts a real HTTP service (python's http.server) on `port`, detached
/// from the runner's process group, and counts its runs in `runs`.
fn restart_script(dir: &Path, port: u16) -> PathBuf {
    let path = dir.join("restart-svc");
    let pidfile = dir.join("svc.pid");
    let runs = dir.join("runs");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\n\
             echo \"restarting $1\"\n\
             echo run >> '{runs}'\n\
             while [ -e '{dir}/hold' ]; do sleep 0.05; done\n\
             [ -f '{pid}' ] && kill $(cat '{pid}') 2>/dev/null\n\
             setsid python3 -m http.server {port} --bind 127.0.0.1 --directory '{dir}' >/dev/null 2>&1 < /dev/null &\n\
             echo $! > '{pid}'\n\
             for i in $(seq 1 100); do python3 -c 'import socket,sys; socket.create_connection((\"127.0.0.1\", {port}), 0.2)' 2>/dev/null && exit 0; sleep 0.05; done\n\
             echo 'did not come up' >&2; exit 1\n",
            runs = runs.display(),
            pid = pidfile.display(),
            dir = dir.display(),
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn runs(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("runs"))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

fn kill_service(dir: &Path) {
    if let Ok(pid) = std::fs::read_to_string(dir.join("svc.pid")) {
        let pid: i32 = pid.trim().parse().unwrap();
        // ESRCH: the service is down already, which is what this wants.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

struct KillOnDrop(PathBuf);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        kill_service(&self.0);
    }
}

/// A model that always proposes a restart that needs approval.
async fn model() -> Service {
    let answer = json!({"action": "restart", "reason": "the web service stopped",
                        "confidence": 0.95, "requires_human": true})
    .to_string();
    Service::start(Mode::Answer(Arc::new(move |head: &str| {
        if head.starts_with("POST /v1/chat/completions") {
            Reply::json(200, &json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": answer}}]}).to_string())
        } else {
            Reply::json(404, "{}")
        }
    })))
    .await
}

fn config(dir: &Path, port: u16, script: &Path, model_url: &str, extra: &str) -> String {
    format!(
        "[probe]\ninterval = \"300ms\"\ntimeout = \"300ms\"\nfailure_threshold = 2\nbackoff = \"30s\"\n\n\
         [[providers]]\nid = \"web\"\nkind = \"http\"\nurl = \"http://127.0.0.1:{port}/\"\nnode = \"lab\"\nservice = \"websvc\"\n\n\
         [planner]\nchain = [\"local\"]\nactions_dir = \"{d}/actions\"\nevents_dir = \"{d}/events\"\n\n\
         [[models]]\nid = \"local\"\napi = \"openai\"\nurl = \"{model_url}\"\nmodel = \"m\"\n\n\
         [executor]\ntimeout = \"20s\"\n{extra}\n[executor.commands]\ncontainer_restart = [\"{script}\", \"{{service}}\"]\n",
        d = dir.display(),
        script = script.display(),
    )
}

/// A Steward watching `web` (lab/websvc) on a port nobody serves unless `serving`, the
/// restart script for it, and a model that proposes restarts needing approval.
struct Lab {
    dir: tempfile::TempDir,
    script: PathBuf,
    s: Steward,
    _llm: Service,
    _service: KillOnDrop,
}

async fn lab(serving: bool, extra: &str) -> Lab {
    lab_with(serving, extra, |_| {}).await
}

/// The same, with the engine's options adjusted (a clock to jump).
async fn lab_with(serving: bool, extra: &str, adjust: impl FnOnce(&mut EngineOptions)) -> Lab {
    let dir = tempfile::tempdir().unwrap();
    let port = dead_port().await;
    let script = restart_script(dir.path(), port);
    if serving {
        assert!(std::process::Command::new(&script)
            .arg("websvc")
            .status()
            .unwrap()
            .success());
    }
    let llm = model().await;
    let cfg = write_config(
        dir.path(),
        &config(dir.path(), port, &script, &llm.url("/v1"), extra),
    );
    let s = Steward::start_with(&cfg, &dir.path().join("data"), adjust).await;
    Lab {
        _service: KillOnDrop(dir.path().to_owned()),
        dir,
        script,
        s,
        _llm: llm,
    }
}

/// The id of the first pending proposal, once there is one.
async fn first_pending(s: &Steward) -> String {
    expect_update(s.api(), "a pending proposal", SOON, || async {
        !pending(s).await.is_empty()
    })
    .await;
    pending(s).await[0]["action_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn pending(s: &Steward) -> Vec<Value> {
    s.get("/api/proposals?status=pending")
        .await
        .as_array()
        .unwrap()
        .clone()
}

async fn proposal(s: &Steward, id: &str) -> Value {
    s.get(&format!("/api/proposals/{id}")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tripped_service_is_restarted_after_one_click_verified_and_audited() {
    let Lab {
        dir,
        script,
        s,
        _llm,
        _service,
    } = lab(true, "").await;
    expect_update(s.api(), "web up", SOON, || async {
        s.provider("web").await["last_outcome"] == "up"
    })
    .await;

    kill_service(dir.path());
    expect_update(s.api(), "a pending proposal for the trip", SOON, || async {
        !pending(&s).await.is_empty()
    })
    .await;
    let p = pending(&s).await[0].clone();
    let id = p["action_id"].as_str().unwrap().to_owned();
    assert_eq!(p["requires_human"], true);
    assert_eq!(runs(dir.path()), 1, "nothing ran before the click");

    let r = s
        .post(&format!("/api/proposals/{id}/approve"), json!({}))
        .await;
    assert_eq!(r.status(), 200);
    let after: Value = r.json().await.unwrap();
    assert_eq!(after["status"], "approved");
    assert_eq!(after["decided_by"], "api");

    expect_update(s.api(), "resolved", A_RUN, || async {
        proposal(&s, &id).await["status"] == "resolved"
    })
    .await;
    assert_eq!(runs(dir.path()), 2, "the restart ran once");
    assert_eq!(s.provider("web").await["last_outcome"], "up");
    let done = proposal(&s, &id).await;
    assert!(
        done["status_detail"]
            .as_str()
            .unwrap()
            .contains("answers again"),
        "{done}"
    );
    assert_eq!(done["run"]["exit_code"], 0);

    let audit = s.get(&format!("/api/executions?action_id={id}")).await;
    let steps: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|r| r["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["approve", "start", "run", "verify"], "{audit:#}");
    let run = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["step"] == "run")
        .unwrap();
    assert_eq!(run["argv"], json!([script.display().to_string(), "websvc"]));
    assert_eq!(run["exit_code"], 0);
    assert!(run["stdout_tail"]
        .as_str()
        .unwrap()
        .contains("restarting websvc"));
    assert_eq!(run["actor"], "api");
    assert!(run["duration_ms"].as_i64().unwrap() >= 0);

    // A second click is a conflict; the finish is in the events dir.
    let again = s
        .post(&format!("/api/proposals/{id}/approve"), json!({}))
        .await;
    assert_eq!(again.status(), 409);
    let body: Value = again.json().await.unwrap();
    assert_eq!(body["code"], "conflict");
    let finished = || {
        std::fs::read_dir(dir.path().join("events"))
            .unwrap()
            .flatten()
            .flat_map(|d| std::fs::read_dir(d.path()).unwrap().flatten())
            .flat_map(|n| std::fs::read_dir(n.path()).unwrap().flatten())
            .filter(|f| {
                f.file_name()
                    .to_string_lossy()
                    .contains("remediation_finished")
            })
            .count()
    };
    // The finish is told after the last status change is stored.
    eventually("the finish in the events dir", SOON, || async {
        finished() > 0
    })
    .await;
    assert_eq!(finished(), 1);
    expect_update(s.api(), "the finish in the timeline", SOON, || async {
        !s.events_of("remediation_finished").await.is_empty()
    })
    .await;
    let timeline = s.events_of("remediation_finished").await;
    assert_eq!(timeline.len(), 1);
    assert!(
        timeline[0]["message"]
            .as_str()
            .unwrap()
            .contains("ended resolved"),
        "{timeline:?}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_approvals_run_the_command_once() {
    let Lab {
        dir,
        script: _,
        s,
        _llm,
        _service,
    } = lab(false, "").await;
    // The service was never started: the breaker trips and a proposal waits.
    let id = first_pending(&s).await;
    let path = format!("/api/proposals/{id}/approve");
    let clicks = (0..20).map(|_| s.post(&path, json!({})));
    let codes: Vec<u16> = futures::future::join_all(clicks)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(codes.iter().filter(|c| **c == 200).count(), 1, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == 409).count(), 19, "{codes:?}");
    // Waits for the end of the run, whatever it is, so a failure says what happened.
    let done = expect_update(s.api(), "the run to end", A_RUN, || async {
        let p = proposal(&s, &id).await;
        let status = p["status"].as_str().unwrap_or_default().to_owned();
        // Succeeded is not the end: the re-probe comes after it.
        (!["pending", "approved", "running", "succeeded"].contains(&status.as_str())).then_some(p)
    })
    .await;
    assert_eq!(done["status"], "resolved", "{done:#}");
    assert_eq!(runs(dir.path()), 1);
    let audit = s.get(&format!("/api/executions?action_id={id}")).await;
    assert_eq!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["step"] == "run")
            .count(),
        1
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_records_who_and_why_and_nothing_runs() {
    let Lab {
        dir,
        script: _,
        s,
        _llm,
        _service,
    } = lab(false, "").await;
    let id = first_pending(&s).await;
    let r = s
        .post(
            &format!("/api/proposals/{id}/reject"),
            json!({"reason": "maintenance window"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "rejected");
    assert_eq!(v["decided_by"], "api");
    assert!(v["status_detail"]
        .as_str()
        .unwrap()
        .contains("maintenance window"));
    assert_eq!(
        s.post(&format!("/api/proposals/{id}/approve"), json!({}))
            .await
            .status(),
        409
    );
    assert_eq!(
        s.post("/api/proposals/nope/approve", json!({}))
            .await
            .status(),
        404
    );
    assert_eq!(runs(dir.path()), 0);
    assert_eq!(s.get("/api/status").await["pending_proposals"], 0);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_recovered_before_the_click_makes_the_proposal_stale() {
    let Lab {
        dir,
        script,
        s,
        _llm,
        _service,
    } = lab(false, "").await;
    let id = first_pending(&s).await;
    // It comes back by itself (someone else restarted it).
    assert!(std::process::Command::new(&script)
        .arg("x")
        .status()
        .unwrap()
        .success());
    let v: Value = s
        .post(&format!("/api/proposals/{id}/approve"), json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "stale", "{v}");
    assert!(v["status_detail"].as_str().unwrap().contains("nothing ran"));
    assert_eq!(runs(dir.path()), 1, "only our own start");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_from_events_never_reach_a_command() {
    let Lab {
        dir,
        script: _,
        s,
        _llm,
        _service,
    } = lab(false, "").await;
    for (node, service) in [
        ("lab", "websvc; rm -rf /"),
        ("lab", "$(reboot)"),
        ("../etc", "websvc"),
        ("lab", "web svc"),
        ("otherhost", "websvc"),
        ("lab", "unknownsvc"),
    ] {
        let r = s
            .post(
                "/api/events",
                json!({"type": "service_unhealthy", "node": node, "service": service}),
            )
            .await;
        assert_eq!(r.status(), 202);
    }
    expect_update(s.api(), "six pending proposals", SOON, || async {
        pending(&s)
            .await
            .iter()
            .filter(|p| p["node"] != "lab" || p["service"] != "websvc")
            .count()
            == 6
    })
    .await;
    for p in pending(&s)
        .await
        .iter()
        .filter(|p| p["node"] != "lab" || p["service"] != "websvc")
    {
        let id = p["action_id"].as_str().unwrap();
        let r = s
            .post(&format!("/api/proposals/{id}/approve"), json!({}))
            .await;
        assert_eq!(r.status(), 200);
        expect_update(s.api(), "refused and failed", SOON, || async {
            proposal(&s, id).await["status"] == "failed"
        })
        .await;
        let detail = proposal(&s, id).await["status_detail"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(detail.starts_with("refused:"), "{detail}");
        let audit = s.get(&format!("/api/executions?action_id={id}")).await;
        let refused = audit
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["step"] == "refused")
            .unwrap();
        assert!(refused["argv"].is_null(), "nothing ran: {refused}");
    }
    assert_eq!(runs(dir.path()), 0, "the restart script never ran");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proposal_nobody_decides_on_expires() {
    let clock = TokioClock::starting_at(chrono::Utc::now());
    let Lab {
        s,
        dir: _dir,
        _llm,
        _service,
        ..
    } = lab_with(false, "proposal_ttl = \"10m\"", |o| {
        o.clock = Arc::new(clock.clone())
    })
    .await;
    let r = s
        .post(
            "/api/events",
            json!({"type": "service_unhealthy", "node": "lab", "service": "websvc"}),
        )
        .await;
    assert_eq!(r.status(), 202);
    first_pending(&s).await;
    // Eleven minutes pass in no time; the expiry tick (every 2 s) finds it past its TTL.
    clock.jump(Duration::from_secs(11 * 60));
    expect_update(s.api(), "expired", SOON, || async {
        s.get("/api/proposals?status=expired")
            .await
            .as_array()
            .unwrap()
            .len()
            == 1
    })
    .await;
    let audit = s.get("/api/executions").await;
    assert!(audit
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["step"] == "expire" && r["actor"] == "steward"));
    s.stop().await;
}

/// A service Steward watches with a command probe (up while the file `up` exists, probed
/// only on demand: interval 1 h), a fix that counts its runs and brings it up, and a
/// confident model that never asks for a person.
struct AutoLab {
    dir: tempfile::TempDir,
    cfg: PathBuf,
    /// The engine's wall clock: the cooldown passes when the test moves it.
    clock: TokioClock,
    _llm: Service,
}

async fn auto_lab(provider_extra: &str, executor_extra: &str) -> AutoLab {
    let dir = tempfile::tempdir().unwrap();
    let fix = dir.path().join("count-runs");
    std::fs::write(
        &fix,
        format!(
            "#!/bin/sh\necho \"$1\" >> '{d}/runs'\ntouch '{d}/up'\n",
            d = dir.path().display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fix, std::fs::Permissions::from_mode(0o755)).unwrap();
    let confident = json!({"action": "restart", "reason": "stopped", "confidence": 0.9,
                           "requires_human": false})
    .to_string();
    let llm = Service::start(Mode::Answer(Arc::new(move |_: &str| {
        Reply::json(200, &json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": confident}}]}).to_string())
    })))
    .await;
    let cfg = format!(
        "[[providers]]\nid = \"batch\"\nkind = \"command\"\ncommand = [\"test\", \"-e\", \"{d}/up\"]\nnode = \"lab\"\nservice = \"batchsvc\"\ninterval = \"1h\"\nfailure_threshold = 100\n{provider_extra}\n\n\
         [planner]\ncooldown = \"1s\"\nchain = [\"local\"]\nactions_dir = \"{d}/actions\"\nevents_dir = \"{d}/events\"\n\n\
         [[models]]\nid = \"local\"\napi = \"openai\"\nurl = \"{url}\"\nmodel = \"m\"\n\n\
         [executor]\n{executor_extra}\n[executor.commands]\ncontainer_restart = [\"{c}\", \"{{service}}\"]\n",
        d = dir.path().display(),
        url = llm.url("/v1"),
        c = fix.display()
    );
    let cfg = write_config(dir.path(), &cfg);
    AutoLab {
        dir,
        cfg,
        clock: TokioClock::starting_at(chrono::Utc::now()),
        _llm: llm,
    }
}

impl AutoLab {
    /// Steward on the lab's clock (a restart goes on from where the last run left it).
    async fn start(&self) -> Steward {
        Steward::start_with(&self.cfg, &self.dir.path().join("data"), |o| {
            o.clock = Arc::new(self.clock.clone())
        })
        .await
    }

    /// The service goes down and an event says so; answers the proposal once planned
    /// (and, when it ran by itself, after its approval was made).
    async fn outage(&self, s: &Steward) -> Value {
        // Not there: the service is down already.
        let _ = std::fs::remove_file(self.dir.path().join("up"));
        let r = s
            .post(
                "/api/events",
                json!({"type": "service_unhealthy", "node": "lab", "service": "batchsvc"}),
            )
            .await;
        let a: Value = r.json().await.unwrap();
        assert_eq!(a["decision"], "plan", "{a}");
        s.engine.as_ref().unwrap().api().planning_idle().await;
        let all = s.get("/api/proposals").await;
        all.as_array()
            .unwrap()
            .iter()
            .max_by(|a, b| {
                a["timestamp"]
                    .as_f64()
                    .partial_cmp(&b["timestamp"].as_f64())
                    .unwrap()
            })
            .unwrap()
            .clone()
    }

    /// Waits for the proposal to settle: `resolved` (the fix brought the service up), or
    /// `succeeded` for a notify (nothing to verify); a fix's `succeeded` comes before its
    /// verification.
    async fn settled(&self, s: &Steward, id: &str) -> Value {
        expect_update(s.api(), "the run ends", A_RUN, || async {
            let p = proposal(s, id).await;
            p["status"] == "resolved" || (p["status"] == "succeeded" && p["type"] == "notify")
        })
        .await;
        proposal(s, id).await
    }

    /// The one-second cooldown passes, in no time.
    fn past_the_cooldown(&self) {
        self.clock.jump(Duration::from_millis(1100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn low_risk_proposals_run_by_themselves_until_the_budget_is_used() {
    let lab = auto_lab("", "auto_execute = [\"none\", \"low\"]").await;
    let s = lab.start().await;
    for i in 1..=3 {
        let p = lab.outage(&s).await;
        assert_eq!(p["decided_by"], "auto", "run {i} went by itself: {p}");
        let id = p["action_id"].as_str().unwrap();
        assert_eq!(lab.settled(&s, id).await["status"], "resolved");
        lab.past_the_cooldown();
    }
    let fourth = lab.outage(&s).await;
    assert_eq!(fourth["type"], "notify");
    assert_eq!(fourth["decided_by"], "auto");
    assert!(
        fourth["overrides"][0]
            .as_str()
            .unwrap()
            .contains("3 automatic runs for lab/batchsvc"),
        "{fourth}"
    );
    lab.settled(&s, fourth["action_id"].as_str().unwrap()).await;
    assert_eq!(
        runs(lab.dir.path()),
        3,
        "three automatic runs, then the budget is used"
    );
    let audit = s.get("/api/executions").await;
    assert!(audit
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["actor"] == "auto"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_auto_run_budget_survives_a_restart() {
    let lab = auto_lab("", "auto_execute = [\"low\"]").await;
    let s = lab.start().await;
    for _ in 1..=3 {
        let p = lab.outage(&s).await;
        lab.settled(&s, p["action_id"].as_str().unwrap()).await;
        lab.past_the_cooldown();
    }
    s.stop().await;
    // A restart (or a crash loop) does not give the service a fresh budget.
    let s = lab.start().await;
    let fourth = lab.outage(&s).await;
    assert_eq!(fourth["type"], "notify", "{fourth}");
    assert!(fourth["overrides"][0]
        .as_str()
        .unwrap()
        .contains("3 automatic runs for lab/batchsvc"));
    assert_eq!(runs(lab.dir.path()), 3);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_explicit_empty_auto_execute_runs_nothing_by_itself() {
    // `[]` is the admin saying "never by yourself": not the default ["none", "low"].
    let lab = auto_lab("", "auto_execute = []").await;
    let s = lab.start().await;
    let p = lab.outage(&s).await;
    assert_eq!(p["status"], "pending", "{p}");
    assert_eq!(
        p["requires_human"], false,
        "the model did not ask for a person"
    );
    assert!(p["decided_by"].is_null());
    let audit = s.get("/api/executions").await;
    assert_eq!(audit.as_array().unwrap().len(), 0, "{audit}");
    assert_eq!(runs(lab.dir.path()), 0);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_whose_provider_is_disabled_waits_for_a_click() {
    let lab = auto_lab("enabled = false", "auto_execute = [\"none\", \"low\"]").await;
    let s = lab.start().await;
    let p = lab.outage(&s).await;
    assert_eq!(p["status"], "pending", "{p}");
    assert_eq!(p["requires_human"], true);
    assert_eq!(
        p["overrides"],
        json!(["requires_human forced: lab/batchsvc matches no enabled provider"])
    );
    let audit = s.get("/api/executions").await;
    assert_eq!(
        audit.as_array().unwrap().len(),
        0,
        "no run by itself: {audit}"
    );
    assert_eq!(runs(lab.dir.path()), 0);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_after_the_time_to_live_is_refused_as_expired() {
    let lab = auto_lab("", "auto_execute = []\nproposal_ttl = \"10m\"").await;
    let clock = lab.clock.clone();
    let config = steward::config::Config::load(&lab.cfg).unwrap();
    let mut opts = EngineOptions::new(config, lab.dir.path().join("data"));
    opts.clock = Arc::new(clock.clone());
    let engine = steward::api::start(opts).await.unwrap();
    let api = engine.api().clone();
    // Not there: the service is down already.
    let _ = std::fs::remove_file(lab.dir.path().join("up"));
    api.submit_event(br#"{"type": "service_unhealthy", "node": "lab", "service": "batchsvc"}"#)
        .unwrap();
    api.planning_idle().await;
    let pending = api.proposals(Some("pending"), 10).await.unwrap();
    let id = pending[0]["action_id"].as_str().unwrap().to_owned();
    // Eleven minutes pass in no time: the expiry tick (every 2 s) has not come round.
    clock.jump(std::time::Duration::from_secs(11 * 60));
    let err = api.approve(&id, "api").await.unwrap_err();
    assert_eq!(err.code(), "expired", "{err}");
    let p = api.proposal(&id).await.unwrap();
    assert_eq!(p["status"], "expired", "{p}");
    let audit = api.executions(Some(&id), 10).await.unwrap();
    let steps: Vec<&str> = audit.iter().map(|r| r.step.as_str()).collect();
    assert_eq!(steps, ["expire"], "it expired; it was never approved");
    assert_eq!(runs(lab.dir.path()), 0);
    // Asking again says the same.
    assert_eq!(api.approve(&id, "api").await.unwrap_err().code(), "expired");
    let file: Value = serde_json::from_slice(
        &std::fs::read(lab.dir.path().join(format!("actions/{id}.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(file["status"], "expired", "the action file agrees");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_action_file_follows_every_decision() {
    let lab = auto_lab("", "auto_execute = []").await;
    let s = lab.start().await;
    let file = |id: &str| -> Value {
        let actions = lab.dir.path().join("actions");
        let claimed = actions.join(format!("claimed/{id}.json"));
        let path = if claimed.exists() {
            claimed
        } else {
            actions.join(format!("{id}.json"))
        };
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    // Rejected: the file says so, with who and why.
    let p = lab.outage(&s).await;
    let rejected = p["action_id"].as_str().unwrap().to_owned();
    assert_eq!(file(&rejected)["status"], "pending");
    let r = s
        .post(
            &format!("/api/proposals/{rejected}/reject"),
            json!({"reason": "not now"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let f = file(&rejected);
    assert_eq!(f["status"], "rejected", "{f:#}");
    assert_eq!(f["decided_by"], "api");
    assert!(f["decided_at"].is_string());
    // Approved and run: claimed, then the result.
    lab.past_the_cooldown();
    let p = lab.outage(&s).await;
    let ran = p["action_id"].as_str().unwrap().to_owned();
    let r = s
        .post(&format!("/api/proposals/{ran}/approve"), json!({}))
        .await;
    assert_eq!(r.status(), 200);
    let done = lab.settled(&s, &ran).await;
    assert!(
        lab.dir
            .path()
            .join(format!("actions/claimed/{ran}.json"))
            .exists(),
        "Steward claimed it before running it"
    );
    assert!(!lab.dir.path().join(format!("actions/{ran}.json")).exists());
    // The database commits first, the file follows at once (a crash between the two is
    // put right at the next start).
    eventually("the file says resolved", SOON, || async {
        file(&ran)["status"] == "resolved"
    })
    .await;
    let f = file(&ran);
    assert_eq!(f["status"], "resolved", "{f:#}");
    assert_eq!(f["status"], done["status"]);
    assert_eq!(f["run"]["exit_code"], 0);
    assert!(f["run"]["pgid"].is_u64(), "{f:#}");
    assert_eq!(runs(lab.dir.path()), 1);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proposal_claimed_by_another_executor_is_not_run_by_steward() {
    let lab = auto_lab("", "auto_execute = []").await;
    let s = lab.start().await;
    let p = lab.outage(&s).await;
    let id = p["action_id"].as_str().unwrap().to_owned();
    // An external executor claims the file (README, "Action files").
    let actions = lab.dir.path().join("actions");
    std::fs::create_dir_all(actions.join("claimed")).unwrap();
    std::fs::rename(
        actions.join(format!("{id}.json")),
        actions.join(format!("claimed/{id}.json")),
    )
    .unwrap();
    let before = std::fs::read(actions.join(format!("claimed/{id}.json"))).unwrap();
    let r = s
        .post(&format!("/api/proposals/{id}/approve"), json!({}))
        .await;
    assert_eq!(r.status(), 200);
    let after: Value = r.json().await.unwrap();
    assert_eq!(after["status"], "handed_off", "{after:#}");
    assert_eq!(runs(lab.dir.path()), 0, "Steward did not run it too");
    assert_eq!(
        std::fs::read(actions.join(format!("claimed/{id}.json"))).unwrap(),
        before,
        "the claimant's file is not touched"
    );
    let audit = s.get(&format!("/api/executions?action_id={id}")).await;
    assert_eq!(audit[0]["step"], "hand_off", "{audit:#}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_output_shows_while_the_command_runs_and_the_audit_names_the_person() {
    let Lab {
        dir,
        script: _,
        s,
        _llm,
        _service,
    } = lab(false, "").await;
    let id = first_pending(&s).await;
    let stream = StreamLog::open(&s).await;
    // The restart script prints its first line, then waits while `hold` exists.
    std::fs::write(dir.path().join("hold"), "").unwrap();
    let r = s
        .client
        .post(format!("{}/api/proposals/{id}/approve", s.base))
        .bearer_auth(TOKEN)
        .header("X-Steward-User", "alice")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let after: Value = r.json().await.unwrap();
    assert_eq!(
        after["decided_by"], "api:alice",
        "who clicked, not only where"
    );

    expect_update(
        s.api(),
        "the first line, while the command still runs",
        A_RUN,
        || async {
            let p = proposal(&s, &id).await;
            p["status"] == "running"
                && p["run"]["live"] == true
                && p["run"]["stdout_tail"]
                    .as_str()
                    .is_some_and(|t| t.contains("restarting websvc"))
        },
    )
    .await;
    stream
        .expect("the same output on the live stream", SOON, |m| {
            m["type"] == "run_output"
                && m["output"]["action_id"] == id.as_str()
                && m["output"]["stdout_tail"]
                    .as_str()
                    .is_some_and(|t| t.contains("restarting websvc"))
        })
        .await;
    assert_eq!(proposal(&s, &id).await["status"], "running");

    std::fs::remove_file(dir.path().join("hold")).unwrap();
    expect_update(s.api(), "the run ends", A_RUN, || async {
        proposal(&s, &id).await["status"] != "running"
    })
    .await;
    let done = proposal(&s, &id).await;
    assert!(
        done["run"]["live"].is_null(),
        "the finished run replaces the live one: {done}"
    );
    assert_eq!(done["run"]["exit_code"], 0);
    let audit = s.get(&format!("/api/executions?action_id={id}")).await;
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["actor"] == "api:alice"),
        "every step of the run is recorded as alice's: {audit:#}"
    );

    let bad = s
        .client
        .post(format!("{}/api/proposals/{id}/reject", s.base))
        .bearer_auth(TOKEN)
        .header("X-Steward-User", "alice; rm -rf /")
        .send()
        .await
        .unwrap();
    assert_eq!(
        bad.status(),
        400,
        "a name that is not a plain name is refused"
    );
    s.stop().await;
}
