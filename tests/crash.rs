//! Crash safety with the real binary: `kill -9` Steward while a fix runs; after a restart
//! the proposal is `interrupted`, audited, and never run again by itself.

use serde_json::{json, Value};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "crash-test-token-0123456789";

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(config: &Path, data: &Path) -> Serve {
    Serve(
        Command::new(env!("CARGO_BIN_EXE_steward"))
            .args(["serve", "--config"])
            .arg(config)
            .env("STEWARD_DATA_DIR", data)
            .env("STEWARD_TOKEN", TOKEN)
            .env("STEWARD_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the steward binary runs"),
    )
}

struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    async fn get(&self, path: &str) -> Option<Value> {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .ok()?;
        r.json().await.ok()
    }

    async fn post(&self, path: &str, body: Value) -> u16 {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        r.status().as_u16()
    }

    async fn wait_for<F, Fut>(&self, what: &str, mut f: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !f().await {
            assert!(Instant::now() < deadline, "timed out waiting: {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fix_cut_off_by_kill_9_is_interrupted_after_the_restart_and_never_run_again() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
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
            "[http]\nlisten = \"127.0.0.1:{port}\"\n\n\
             [[providers]]\nid = \"batch\"\nkind = \"tcp\"\naddress = \"127.0.0.1:9\"\nnode = \"lab\"\nservice = \"batchsvc\"\nenabled = false\n\n\
             [planner]\nchain = [\"rules\"]\nactions_dir = \"{d}/actions\"\nevents_dir = \"{d}/events\"\n\n\
             [executor]\nauto_execute = [\"none\"]\ntimeout = \"120s\"\n[executor.commands]\ncontainer_restart = [\"{s}\", \"{{service}}\"]\n",
            d = dir.path().display(),
            s = script.display()
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let api = Api {
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
        base: format!("http://127.0.0.1:{port}"),
    };

    let mut steward = serve(&config, &data);
    api.wait_for("steward answers", || async {
        api.get("/api/status").await.is_some()
    })
    .await;
    let event = json!({"type": "service_unhealthy", "node": "lab", "service": "batchsvc"});
    assert_eq!(api.post("/api/events", event).await, 202);
    let pending = || async {
        api.get("/api/proposals?status=pending")
            .await
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    };
    api.wait_for("a pending proposal", || async {
        pending().await.len() == 1
    })
    .await;
    let id = pending().await[0]["action_id"].as_str().unwrap().to_owned();
    assert_eq!(
        api.post(&format!("/api/proposals/{id}/approve"), json!({}))
            .await,
        200
    );
    api.wait_for("the fix is running", || async { lines(&runs) == 1 })
        .await;
    api.wait_for("its status says so", || async {
        api.get(&format!("/api/proposals/{id}"))
            .await
            .is_some_and(|p| p["status"] == "running")
    })
    .await;

    // kill -9: no shutdown, no cleanup.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(steward.0.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let _ = steward.0.wait();
    // The orphaned command is the machine's business now; end it so the test is tidy.
    if let Ok(p) = std::fs::read_to_string(&pid) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(p.trim().parse().unwrap()),
            nix::sys::signal::Signal::SIGKILL,
        );
    }

    steward = serve(&config, &data);
    api.wait_for("steward answers again", || async {
        api.get("/api/status").await.is_some()
    })
    .await;
    let p = api.get(&format!("/api/proposals/{id}")).await.unwrap();
    assert_eq!(p["status"], "interrupted", "{p}");
    assert!(p["status_detail"]
        .as_str()
        .unwrap()
        .contains("not run again"));
    let audit = api
        .get(&format!("/api/executions?action_id={id}"))
        .await
        .unwrap();
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
        api.post(&format!("/api/proposals/{id}/approve"), json!({}))
            .await,
        409
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(lines(&runs), 1, "the command ran once");
    drop(steward);
}
