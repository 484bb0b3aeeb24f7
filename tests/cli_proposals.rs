//! `steward proposals list|approve|reject`: the real binary against a real engine and
//! HTTP API on a loopback port, with its exit codes (0 done, 1 refused, 2 config or
//! token, 3 unreachable).

mod common;

use common::*;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Output;
use std::time::Duration;

/// Runs the `steward` binary with a clean environment of Steward variables.
async fn steward(data_dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_steward"));
    cmd.args(args)
        .env_remove("STEWARD_URL")
        .env_remove("STEWARD_CONFIG")
        .env_remove("STEWARD_TOKEN")
        .env("STEWARD_DATA_DIR", data_dir)
        .env("STEWARD_LOG", "warn")
        // The CLI names its user in the audit ("api:carol").
        .env("USER", "carol")
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().await.expect("the steward binary runs");
    eprintln!(
        "$ steward {}\n  exit {:?}\n  stdout: {}\n  stderr: {}",
        args.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).trim_end(),
        String::from_utf8_lossy(&out.stderr).trim_end()
    );
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Posts a `service_unhealthy` event and waits for its pending proposal; answers its id.
async fn pending_proposal(s: &Steward, service: &str) -> String {
    let r = s
        .post(
            "/api/events",
            json!({"type": "service_unhealthy", "node": "lab", "service": service,
                   "payload": {"exit_code": 137}}),
        )
        .await;
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    let what = format!("a pending proposal for {service}");
    expect_update(s.api(), &what, Duration::from_secs(10), || async {
        let pending = s.api().proposals(Some("pending"), 100).await.unwrap();
        pending
            .iter()
            .find(|p| p["service"] == service)
            .and_then(|p| p["action_id"].as_str())
            .map(str::to_owned)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_lists_approves_and_rejects_through_the_running_instance() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = Steward::start(
        &write_config(dir.path(), "[planner]\nchain = [\"rules\"]\n"),
        &data,
    )
    .await;
    // The CLI's own data dir has no token file: the token comes from STEWARD_TOKEN.
    let cli_data = dir.path().join("cli-data");
    let url_env = [("STEWARD_TOKEN", TOKEN), ("STEWARD_URL", s.base.as_str())];

    let id = pending_proposal(&s, "x").await;

    // list: the table, then JSON.
    let out = steward(&cli_data, &url_env, &["proposals", "list"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let table = stdout(&out);
    assert!(table.starts_with("ID "), "a header line: {table}");
    let line = table
        .lines()
        .find(|l| l.contains(&id))
        .unwrap_or_else(|| panic!("{id} is listed: {table}"));
    assert!(
        line.contains("pending") && line.contains("x on lab"),
        "{line}"
    );

    let out = steward(&cli_data, &url_env, &["proposals", "list", "--json"]).await;
    assert_eq!(out.status.code(), Some(0));
    let list: Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    let p = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["action_id"] == id.as_str())
        .expect("the proposal is in the JSON");
    assert_eq!(p["status"], "pending");
    assert_eq!(p["node"], "lab");

    // The address can also come from the config's [http] listen (written after binding).
    let cfg = dir.path().join("cli.toml");
    let listen = s.base.trim_start_matches("http://");
    std::fs::write(
        &cfg,
        format!("[http]\nlisten = \"{listen}\"\n\n[planner]\nchain = [\"rules\"]\n"),
    )
    .unwrap();
    let out = steward(
        &cli_data,
        &[("STEWARD_TOKEN", TOKEN)],
        &[
            "proposals",
            "list",
            "--config",
            cfg.to_str().unwrap(),
            "--status",
            "all",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains(&id), "listed through --config");

    // reject with a reason: 0, the status printed, the reason kept.
    let out = steward(
        &cli_data,
        &url_env,
        &["proposals", "reject", &id, "--reason", "not now"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("rejected"), "{}", stdout(&out));
    let p = s.api().proposal(&id).await.unwrap();
    assert_eq!(p["status"], "rejected");
    assert_eq!(
        p["decided_by"], "api:carol",
        "the API call, by the CLI's user"
    );
    assert!(
        p["status_detail"]
            .as_str()
            .unwrap_or("")
            .contains("not now"),
        "the reason is kept: {p}"
    );
    let audit = s.api().executions(Some(&id), 10).await.unwrap();
    let audit = serde_json::to_value(audit).unwrap();
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["step"] == "reject" && e["detail"] == "not now"),
        "the audit has the rejection and its reason: {audit}"
    );

    // A second reject is refused: 1, with the server's conflict message.
    let out = steward(&cli_data, &url_env, &["proposals", "reject", &id]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot be rejected") && stderr(&out).contains("409"),
        "{}",
        stderr(&out)
    );
    // No such proposal: 1 as well (404).
    let out = steward(
        &cli_data,
        &url_env,
        &["proposals", "approve", "plan-nope-1"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("404"), "{}", stderr(&out));

    // approve: 0, the status after the approval; recorded as approved by "api".
    let id2 = pending_proposal(&s, "y").await;
    let out = steward(&cli_data, &url_env, &["proposals", "approve", &id2]).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("{id2}: approved")),
        "{}",
        stdout(&out)
    );
    let p = s.api().proposal(&id2).await.unwrap();
    assert_ne!(p["status"], "pending");
    assert_eq!(
        p["decided_by"], "api:carol",
        "the API call, by the CLI's user"
    );
    let out = steward(&cli_data, &url_env, &["proposals", "list"]).await;
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout(&out).contains("No pending proposals"),
        "{}",
        stdout(&out)
    );

    // A wrong token is a configuration problem: 2, and it says so.
    let out = steward(
        &cli_data,
        &[("STEWARD_TOKEN", "wrong"), ("STEWARD_URL", s.base.as_str())],
        &["proposals", "list"],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("token"), "{}", stderr(&out));
    // No token at all (no STEWARD_TOKEN, no token file): 2.
    let out = steward(
        &cli_data,
        &[("STEWARD_URL", s.base.as_str())],
        &["proposals", "list"],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("STEWARD_TOKEN"), "{}", stderr(&out));
    // ...but the token file in the data dir works.
    std::fs::create_dir_all(&cli_data).unwrap();
    std::fs::write(cli_data.join("token"), format!("{TOKEN}\n")).unwrap();
    let out = steward(
        &cli_data,
        &[("STEWARD_URL", s.base.as_str())],
        &["proposals", "list", "--status", "rejected"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains(&id));

    s.stop().await;
}

#[tokio::test]
async fn unreachable_and_misconfigured_have_their_own_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let token = [("STEWARD_TOKEN", TOKEN)];

    // Nothing listens: 3, naming the URL.
    let port = dead_port().await;
    let url = format!("http://127.0.0.1:{port}");
    let out = steward(&data, &token, &["proposals", "list", "--url", &url]).await;
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains(&format!("127.0.0.1:{port}")),
        "{}",
        stderr(&out)
    );
    // The same through the config's [http] listen.
    let cfg = dir.path().join("dead.toml");
    std::fs::write(&cfg, format!("[http]\nlisten = \"0.0.0.0:{port}\"\n")).unwrap();
    let out = steward(
        &data,
        &token,
        &[
            "proposals",
            "approve",
            "x",
            "--config",
            cfg.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains(&format!("http://127.0.0.1:{port}/")),
        "an unspecified address is reached on loopback: {}",
        stderr(&out)
    );

    // A config that is not TOML, a missing named config, a bad --url: 2.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[http\nlisten = 1\n").unwrap();
    let out = steward(
        &data,
        &token,
        &["proposals", "list", "--config", bad.to_str().unwrap()],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("bad.toml"), "{}", stderr(&out));
    let missing = dir.path().join("missing.toml");
    let out = steward(
        &data,
        &token,
        &["proposals", "list", "--config", missing.to_str().unwrap()],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    let out = steward(&data, &token, &["proposals", "list", "--url", "ftp://x"]).await;
    assert_eq!(out.status.code(), Some(2));
    // An unknown status filter is a usage error (clap's exit code 2).
    let out = steward(
        &data,
        &token,
        &["proposals", "list", "--status", "bogus", "--url", &url],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("pending"), "{}", stderr(&out));
}
