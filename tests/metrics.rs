//! `GET /metrics`: the engine in the Prometheus text format, for a real Prometheus.
//!
//! - Every family is there, named `steward_…`, with help text, fed by real parts (a
//!   loopback service probed, a Redis bus, the session pipeline over real files, the LLM
//!   gateway, a proposal that runs by itself), and `promtool check metrics` (from the
//!   `prometheus` package) accepts the exposition.
//! - The admin token opens it; so does the scrape-only token named by `[http]
//!   metrics_token_env`, which opens nothing else. A variable that is unset or empty is
//!   said at start and lets nothing in.
//! - A real `prometheus` scrapes a real `steward serve` with the scrape token; PromQL over
//!   its HTTP API sees the providers up, then a breaker open once its service is stopped.
//!
//! `prometheus` and `promtool` must be installed (the test command installs the Debian
//! package `prometheus`): a test fails, naming the package, when they are not.

mod common;
#[path = "common/redis.rs"]
mod redis_server;

use common::*;
use redis_server::RedisServer;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use steward::health::monitor::Outcome;
use steward::http::table::{Method, COMMANDS};

/// The waits of this file: loopback probes every second, a Prometheus scraping every
/// second, child processes starting on a busy machine. Only bounds a broken test.
const PATIENCE: Duration = Duration::from_secs(60);

/// Every family with its type, as `# TYPE` names it (counters with `_total`).
const FAMILIES: &[(&str, &str)] = &[
    ("steward_info", "gauge"),
    ("steward_overall_state", "gauge"),
    ("steward_providers", "gauge"),
    ("steward_monitor_paused", "gauge"),
    ("steward_incidents_open", "gauge"),
    ("steward_storage_ok", "gauge"),
    ("steward_provider_info", "gauge"),
    ("steward_provider_up", "gauge"),
    ("steward_provider_breaker_state", "gauge"),
    ("steward_provider_consecutive_failures", "gauge"),
    ("steward_probe_duration_seconds", "histogram"),
    ("steward_probe_failures_total", "counter"),
    ("steward_probes_total", "counter"),
    ("steward_proposals_pending", "gauge"),
    ("steward_proposals_total", "counter"),
    ("steward_executions_total", "counter"),
    ("steward_auto_runs_total", "counter"),
    ("steward_auto_runs_downgraded_total", "counter"),
    ("steward_intake_received_total", "counter"),
    ("steward_intake_rejected_total", "counter"),
    ("steward_intake_not_planned_total", "counter"),
    ("steward_session_pipeline_status", "gauge"),
    ("steward_session_backlog_files", "gauge"),
    ("steward_session_processor_running", "gauge"),
    ("steward_bus_connected", "gauge"),
    ("steward_bus_messages_received_total", "counter"),
    ("steward_bus_disconnects_total", "counter"),
    ("steward_bus_events_published_total", "counter"),
    ("steward_bus_events_dropped_total", "counter"),
    ("steward_gateway_target_requests_total", "counter"),
    ("steward_gateway_target_results_total", "counter"),
    ("steward_gateway_app_requests_total", "counter"),
    ("steward_gateway_failovers_total", "counter"),
    ("steward_gateway_unavailable_total", "counter"),
    ("steward_gateway_unauthorized_total", "counter"),
    ("steward_push_notices_total", "counter"),
    ("steward_push_channel_failing", "gauge"),
    ("steward_push_queued", "gauge"),
];

/// The value of the sample written exactly as `series` (name and labels in the
/// exposition's order), if there is one.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().expect("a sample's value is a number"))
}

/// A program of the Debian package `prometheus`; the test fails naming it when missing.
fn tool(name: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "{name} is not installed: it comes with the Debian package `prometheus` \
             (apt-get install -y prometheus; scripts/test.sh installs it)"
        )
    })
}

/// `promtool check metrics` on `text`: its exit status and everything it said.
fn promtool_check(text: &str) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(tool("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    child
        .stdin
        .take()
        .expect("promtool's stdin")
        .write_all(text.as_bytes())
        .expect("the exposition goes to promtool");
    let out = child.wait_with_output().expect("promtool ends");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status, said)
}

/// `GET /metrics` of the in-process server with the admin token: status, content type,
/// text.
async fn scrape(s: &Steward) -> (StatusCode, String, String) {
    let r = s
        .client
        .get(format!("{}/metrics", s.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("GET /metrics");
    let status = r.status();
    let kind = r
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (status, kind, r.text().await.expect("a text body"))
}

/// Scrapes until `check` holds for the exposition; panics with the last one after
/// [`PATIENCE`].
async fn scrape_until(s: &Steward, what: &str, check: impl Fn(&str) -> bool) -> String {
    let started = std::time::Instant::now();
    loop {
        let (status, _, text) = scrape(s).await;
        assert_eq!(status, StatusCode::OK, "GET /metrics: {text}");
        if check(&text) {
            return text;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "timed out waiting for the exposition to show {what}; the last one:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_family_is_exposed_from_real_parts_and_promtool_accepts_the_exposition() {
    let dir = tempfile::tempdir().unwrap();
    let web = Service::start(ok_health()).await;
    let redis = RedisServer::start().await;
    let root = dir.path().join("sessions");
    std::fs::create_dir_all(root.join("alice")).unwrap();
    std::fs::write(root.join("alice/s1.jsonl"), "{\"type\":\"user\"}\n").unwrap();
    let gateway_port = dead_port().await;
    let nowhere = dead_port().await;
    let config = format!(
        r#"
[probe]
interval = "1s"
timeout = "2s"

[[providers]]
id = "web"
kind = "http"
url = "{web}"
node = "lab"
service = "nginx"

[[providers]]
id = "api"
kind = "tcp"
address = "127.0.0.1:{nowhere}"
node = "lab"
service = "api"

[planner]
chain = ["rules"]

[executor]
auto_execute = ["none", "low"]
[executor.commands]
container_restart = ["/bin/true"]

[bus]
redis_url = "{redis}"
channels = ["health_events"]

[sessions]
root = "{root}"
[[sessions.processors]]
name = "verification"
kind = "command"
command = ["/bin/false", "{{file}}"]
cadence = "15m"

[[models]]
id = "upstream"
api = "openai"
url = "http://127.0.0.1:{nowhere}/v1"
model = "m"

[gateway]
listen = "127.0.0.1:{gateway_port}"
api_key_env = "STEWARD_METRICS_TEST_GATEWAY_KEY_NEVER_SET"
[[gateway.routes]]
model = "chat"
targets = ["upstream"]

[[notifications.channels]]
name = "hook"
kind = "webhook"
url = "http://127.0.0.1:{nowhere}/hook"
"#,
        web = web.url("/health"),
        redis = redis.url(),
        root = root.display(),
    );
    let s = Steward::start(&write_config(dir.path(), &config), &dir.path().join("data")).await;
    let api = s.api().clone();

    // The parts at work: a probe that answers and one that does not (its breaker opens,
    // and the proposal to restart it runs by itself), a bus that is connected and hears
    // junk, a refused event, a gateway request with a wrong key.
    expect_update(&api, "web answers its probes", PATIENCE, || async {
        api.providers()
            .await
            .iter()
            .any(|p| p.id == "web" && p.last_outcome == Some(Outcome::Up))
    })
    .await;
    expect_update(&api, "the bus is connected", PATIENCE, || async {
        api.bus_status().is_some_and(|b| b.connected)
    })
    .await;
    let mut publisher = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("a Redis client connects");
    let heard: i64 = redis::cmd("PUBLISH")
        .arg("health_events")
        .arg("{not json")
        .query_async(&mut publisher)
        .await
        .expect("PUBLISH");
    assert_eq!(heard, 1, "Steward is subscribed");
    let missing_node = s
        .post("/api/events", json!({"type": "service_unhealthy"}))
        .await;
    assert_eq!(missing_node.status(), StatusCode::BAD_REQUEST);
    let wrong_key = s
        .client
        .post(format!(
            "http://127.0.0.1:{gateway_port}/v1/chat/completions"
        ))
        .bearer_auth("not-a-gateway-key")
        .json(&json!({"model": "chat", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(wrong_key.status(), StatusCode::UNAUTHORIZED);
    expect_update(&api, "the first session scan", PATIENCE, || async {
        api.sessions().await.is_ok_and(|v| v.scanned)
    })
    .await;

    let web_labels = r#"provider="web",node="lab",service="nginx",kind="http""#;
    let text = scrape_until(&s, "every part's counts", |t| {
        sample(t, &format!("steward_provider_up{{{web_labels}}}")) == Some(1.0)
            && sample(t, r#"steward_executions_total{outcome="succeeded"}"#) == Some(1.0)
            && sample(t, r#"steward_intake_rejected_total{reason="invalid_json"}"#) == Some(1.0)
            && sample(t, r#"steward_session_pipeline_status{status="ok"}"#).is_some()
            && sample(
                t,
                r#"steward_push_channel_failing{channel="hook",kind="webhook"}"#,
            ) == Some(1.0)
    })
    .await;

    for (name, kind) in FAMILIES {
        assert!(
            text.contains(&format!("\n# TYPE {name} {kind}\n")),
            "the family {name} ({kind}) is exposed:\n{text}"
        );
        let help = text
            .lines()
            .find_map(|l| l.strip_prefix(&format!("# HELP {name} ")))
            .unwrap_or_else(|| panic!("{name} has a HELP line"));
        assert!(help.len() > 10, "{name} says what it counts: {help:?}");
    }
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        assert!(
            line.starts_with("steward_"),
            "every name is steward_…: {line}"
        );
    }
    let expect = |series: &str, value: f64, why: &str| {
        assert_eq!(
            sample(&text, series),
            Some(value),
            "{series}: {why}\n{text}"
        );
    };
    // Providers: who they are, up, the breaker as one series per state, probe durations.
    expect(
        &format!("steward_provider_info{{{web_labels}}}"),
        1.0,
        "web's labels to join on",
    );
    expect(
        &format!(r#"steward_provider_breaker_state{{{web_labels},state="closed"}}"#),
        1.0,
        "web's breaker is closed",
    );
    expect(
        &format!(r#"steward_provider_breaker_state{{{web_labels},state="open"}}"#),
        0.0,
        "and not open",
    );
    expect(
        &format!("steward_provider_consecutive_failures{{{web_labels}}}"),
        0.0,
        "web never failed",
    );
    let probes = sample(
        &text,
        r#"steward_probe_duration_seconds_count{provider="web"}"#,
    )
    .expect("web's probe durations");
    assert!(probes >= 1.0, "every probe of web is in its histogram");
    expect(
        r#"steward_probe_duration_seconds_bucket{provider="web",le="+Inf"}"#,
        probes,
        "the +Inf bucket holds every probe",
    );
    expect(
        r#"steward_probe_failures_total{provider="web"}"#,
        0.0,
        "none failed",
    );
    assert!(
        sample(&text, r#"steward_probes_total{outcome="up"}"#).unwrap() >= probes,
        "the fleet's probes count web's"
    );
    expect(r#"steward_providers{status="ok"}"#, 1.0, "web is ok");
    expect(
        r#"steward_providers{status="error"}"#,
        1.0,
        "api's breaker is open",
    );
    let api_labels = r#"provider="api",node="lab",service="api",kind="tcp""#;
    expect(
        &format!(r#"steward_provider_breaker_state{{{api_labels},state="open"}}"#),
        1.0,
        "nothing listens where api should",
    );
    expect(
        &format!("steward_provider_up{{{api_labels}}}"),
        0.0,
        "api is down",
    );
    assert!(
        sample(&text, r#"steward_probe_failures_total{provider="api"}"#).unwrap() >= 2.0,
        "the failures that opened its breaker are counted"
    );
    // Proposals and runs: api's outage was planned, approved by the policy and run.
    expect(
        r#"steward_proposals_total{status="pending"}"#,
        1.0,
        "one proposal was made",
    );
    expect(
        r#"steward_proposals_total{status="running"}"#,
        1.0,
        "and it ran",
    );
    expect("steward_auto_runs_total", 1.0, "approved by the policy");
    expect(
        "steward_proposals_pending",
        0.0,
        "nothing waits for a click",
    );
    // The intake: refusals by reason, each reason listed from the start.
    expect(
        r#"steward_intake_rejected_total{reason="missing_node"}"#,
        1.0,
        "POST /api/events without a node",
    );
    expect(
        r#"steward_intake_rejected_total{reason="too_large"}"#,
        0.0,
        "a reason not seen yet is listed at zero",
    );
    // The bus, the session pipeline, the gateway.
    expect("steward_bus_connected", 1.0, "subscribed to the real Redis");
    assert!(sample(&text, "steward_bus_messages_received_total").unwrap() >= 1.0);
    expect(
        r#"steward_session_backlog_files{processor="verification"}"#,
        1.0,
        "s1.jsonl was never processed (the processor fails)",
    );
    expect(
        "steward_gateway_unauthorized_total",
        1.0,
        "the request with a wrong key",
    );

    // The push channel: nothing listens where it sends api's incident.
    expect(
        r#"steward_push_notices_total{channel="hook",result="sent"}"#,
        0.0,
        "nothing was delivered",
    );
    assert!(sample(&text, r#"steward_push_queued{channel="hook"}"#).is_some());

    let (status, said) = promtool_check(&text);
    assert!(
        status.success(),
        "promtool check metrics refuses the exposition: {said}\n{text}"
    );
    assert!(said.trim().is_empty(), "promtool has no remark: {said}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exposition_is_prometheus_text_and_an_engine_without_the_optional_parts_leaves_them_out(
) {
    let dir = tempfile::tempdir().unwrap();
    let s = Steward::start(&write_config(dir.path(), ""), &dir.path().join("data")).await;
    let (status, kind, text) = scrape(&s).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        kind, "text/plain; version=0.0.4; charset=utf-8",
        "the text format Prometheus asks for by default"
    );
    for absent in ["steward_bus_", "steward_session_", "steward_gateway_"] {
        assert!(
            !text.contains(absent),
            "no {absent}* without its section: {text}"
        );
    }
    expect_series(&text, "steward_proposals_pending", 0.0);
    let (status, said) = promtool_check(&text);
    assert!(status.success(), "promtool: {said}\n{text}");
    s.stop().await;
}

fn expect_series(text: &str, series: &str, value: f64) {
    assert_eq!(sample(text, series), Some(value), "{series}\n{text}");
}

const SCRAPE_VAR: &str = "STEWARD_METRICS_TEST_SCRAPE_TOKEN";
const SCRAPE_TOKEN: &str = "scrape-only-0123456789abcdef";

/// A config whose scrape token is read from [`SCRAPE_VAR`], with `providers` (TOML).
fn scrape_config(dir: &Path, providers: &str) -> PathBuf {
    write_config(
        dir,
        &format!(
            "[probe]\ninterval = \"1s\"\ntimeout = \"1s\"\nfailure_threshold = 2\n\
             backoff = \"10m\"\n\n[http]\nmetrics_token_env = \"{SCRAPE_VAR}\"\n\n\
             [planner]\nchain = [\"rules\"]\n{providers}"
        ),
    )
}

/// The status of `GET path` on `serve` with `token` (none: no Authorization header).
async fn status_of(serve: &Serve, path: &str, token: Option<&str>) -> StatusCode {
    let mut req = serve.client.get(serve.url(path));
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    req.send().await.expect("steward serve answers").status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scrape_token_opens_metrics_and_nothing_else_and_the_admin_token_opens_it_too() {
    let dir = tempfile::tempdir().unwrap();
    let serve = ServeCommand::new(&scrape_config(dir.path(), ""), &dir.path().join("data"))
        .env(SCRAPE_VAR, SCRAPE_TOKEN)
        .start()
        .await;

    assert_eq!(
        status_of(&serve, "/metrics", Some(SCRAPE_TOKEN)).await,
        StatusCode::OK,
        "the scrape token opens /metrics"
    );
    assert_eq!(
        status_of(&serve, "/metrics", Some(SERVE_TOKEN)).await,
        StatusCode::OK,
        "so does the admin token"
    );
    for (token, why) in [
        (None, "no token"),
        (Some("wrong"), "a wrong token"),
        (Some(""), "an empty token"),
        (Some(&SCRAPE_TOKEN[..10]), "a prefix of the scrape token"),
    ] {
        let mut req = serve.client.get(serve.url("/metrics"));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{why}");
        assert_eq!(
            r.headers().get("www-authenticate").map(|v| v.as_bytes()),
            Some(&b"Bearer"[..]),
            "{why}: a 401 says which scheme"
        );
        let body: Value = r.json().await.expect("a {code, message} body");
        assert_eq!(body["code"], "unauthorized", "{why}");
    }
    assert_eq!(
        status_of(
            &serve,
            &format!("/metrics?access_token={SERVE_TOKEN}"),
            None
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "a token in the query opens the event stream only"
    );

    // Every API route refuses the scrape token as it refuses no token.
    for c in COMMANDS.iter().filter(|c| c.method == Method::Get) {
        let path: String = c
            .path
            .split('/')
            .map(|seg| if seg.starts_with('{') { "x" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        assert_eq!(
            status_of(&serve, &path, Some(SCRAPE_TOKEN)).await,
            StatusCode::UNAUTHORIZED,
            "GET {path} ({}) with the scrape token",
            c.name
        );
    }
    let approve = serve
        .client
        .post(serve.url("/api/proposals/x/approve"))
        .bearer_auth(SCRAPE_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(
        approve.status(),
        StatusCode::UNAUTHORIZED,
        "no approval with it"
    );
    assert_eq!(
        status_of(
            &serve,
            &format!("/api/stream?access_token={SCRAPE_TOKEN}"),
            None
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "no event stream with it"
    );
    assert_eq!(
        status_of(&serve, "/api/status", Some(SERVE_TOKEN)).await,
        StatusCode::OK,
        "the admin token still opens the API"
    );
    let (_, stderr) = serve.stop().await;
    assert!(
        !stderr.contains(SCRAPE_TOKEN),
        "the scrape token is never logged:\n{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_token_variable_that_is_unset_or_empty_is_said_at_start_and_lets_nothing_in() {
    let dir = tempfile::tempdir().unwrap();
    let config = scrape_config(dir.path(), "");
    let warning = format!(
        "[http] metrics_token_env names {SCRAPE_VAR}, which is unset or empty in Steward's environment"
    );
    for (value, what) in [(None, "unset"), (Some(""), "empty"), (Some("   "), "blank")] {
        let cmd = ServeCommand::new(&config, &dir.path().join("data"));
        let cmd = match value {
            Some(v) => cmd.env(SCRAPE_VAR, v),
            None => cmd.env_remove(SCRAPE_VAR),
        };
        let serve = cmd.start().await;
        for token in [None, Some(""), Some(SCRAPE_TOKEN)] {
            assert_eq!(
                status_of(&serve, "/metrics", token).await,
                StatusCode::UNAUTHORIZED,
                "{what}: with {token:?}, only the admin token opens /metrics"
            );
        }
        assert_eq!(
            status_of(&serve, "/metrics", Some(SERVE_TOKEN)).await,
            StatusCode::OK,
            "{what}: the admin token still opens /metrics"
        );
        let (_, stderr) = serve.stop().await;
        assert!(
            stderr.contains(&warning),
            "{what}: steward serve says so at start, naming the variable:\n{stderr}"
        );
    }
}

/// A real `prometheus` on a free loopback port, scraping one target with a bearer token
/// from a file; its storage in a temp dir. Killed when dropped.
struct Prometheus {
    base: String,
    child: Child,
    dir: tempfile::TempDir,
    client: reqwest::Client,
}

impl Prometheus {
    /// Starts it (a port taken meanwhile by someone else: tried again on another) and
    /// waits until it is ready.
    async fn start(target: &str, token: &str) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("scrape-token");
        std::fs::write(&token_file, token).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
                 scrape_configs:\n  - job_name: steward\n    metrics_path: /metrics\n\
                 \x20   authorization:\n      credentials_file: {}\n\
                 \x20   static_configs:\n      - targets: ['{target}']\n",
                token_file.display()
            ),
        )
        .unwrap();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let log_file = dir.path().join("log");
        for _ in 0..3 {
            let port = dead_port().await;
            let log = std::fs::File::create(&log_file).unwrap();
            let mut child = Command::new(tool("prometheus"))
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("tsdb").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("prometheus runs");
            let base = format!("http://127.0.0.1:{port}");
            if ready(&mut child, &client, &base, &log_file).await {
                return Prometheus {
                    base,
                    child,
                    dir,
                    client,
                };
            }
            let log = std::fs::read_to_string(&log_file).unwrap_or_default();
            assert!(
                log.contains("address already in use"),
                "prometheus exited before it was ready; its log:\n{log}"
            );
        }
        panic!("prometheus found no free port in three tries");
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    /// An instant PromQL query over the HTTP API: each series' labels and value.
    async fn query(&self, promql: &str) -> Vec<(BTreeMap<String, String>, String)> {
        let r: Value = self
            .client
            .get(format!("{}/api/v1/query", self.base))
            .query(&[("query", promql)])
            .send()
            .await
            .expect("prometheus answers")
            .json()
            .await
            .expect("JSON");
        assert_eq!(r["status"], "success", "{promql}: {r}");
        r["data"]["result"]
            .as_array()
            .expect("a vector")
            .iter()
            .map(|s| {
                let labels = serde_json::from_value(s["metric"].clone()).expect("labels");
                (labels, s["value"][1].as_str().expect("a value").to_owned())
            })
            .collect()
    }

    /// The values of `promql` by the label `by`, once `check` holds for them.
    async fn until(
        &self,
        what: &str,
        promql: &str,
        by: &str,
        check: impl Fn(&BTreeMap<String, String>) -> bool,
    ) -> BTreeMap<String, String> {
        let started = std::time::Instant::now();
        loop {
            let values: BTreeMap<String, String> = self
                .query(promql)
                .await
                .into_iter()
                .map(|(labels, v)| (labels.get(by).cloned().unwrap_or_default(), v))
                .collect();
            if check(&values) {
                return values;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "timed out after {PATIENCE:?} waiting for Prometheus to see {what}: \
                 {promql} is {values:?}; its log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Waits for `GET /-/ready` of a starting `prometheus`; false when it exited first.
async fn ready(child: &mut Child, client: &reqwest::Client, base: &str, log: &Path) -> bool {
    let started = std::time::Instant::now();
    loop {
        if child.try_wait().expect("its status").is_some() {
            return false;
        }
        let r = client.get(format!("{base}/-/ready")).send().await;
        if r.is_ok_and(|r| r.status().is_success()) {
            return true;
        }
        if started.elapsed() > PATIENCE {
            // Not left running behind the failed test; an error means it exited already.
            let _ = child.kill();
            panic!(
                "prometheus is not ready after {PATIENCE:?}; its log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        // An error means it has exited already; the wait reaps it either way.
        let _ = self.child.kill();
        // Reaps it; nothing to learn from how it ended.
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- prometheus' log:\n{}", self.log());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_steward_serve_and_sees_a_breaker_open_when_its_service_stops() {
    let dir = tempfile::tempdir().unwrap();
    let a = Service::start(ok_health()).await;
    let mut b = Service::start(ok_health()).await;
    let providers = format!(
        "\n[[providers]]\nid = \"a\"\nkind = \"http\"\nurl = \"{}\"\nnode = \"lab\"\nservice = \"api\"\n\
         \n[[providers]]\nid = \"b\"\nkind = \"tcp\"\naddress = \"127.0.0.1:{}\"\nnode = \"lab\"\nservice = \"mqtt\"\n",
        a.url("/health"),
        b.port
    );
    let serve = ServeCommand::new(
        &scrape_config(dir.path(), &providers),
        &dir.path().join("data"),
    )
    .env(SCRAPE_VAR, SCRAPE_TOKEN)
    .start()
    .await;
    let target = serve.base.trim_start_matches("http://").to_owned();
    let prometheus = Prometheus::start(&target, SCRAPE_TOKEN).await;

    let up = prometheus
        .until(
            "Steward scraped with the scrape token",
            r#"up{job="steward"}"#,
            "job",
            |v| v.get("steward").is_some_and(|v| v == "1"),
        )
        .await;
    assert_eq!(up.len(), 1, "one target: {up:?}");
    prometheus
        .until(
            "both providers up",
            "steward_provider_up",
            "provider",
            |v| v.get("a").is_some_and(|v| v == "1") && v.get("b").is_some_and(|v| v == "1"),
        )
        .await;
    let open = r#"steward_provider_breaker_state{state="open"}"#;
    let before = prometheus
        .until("both breakers", open, "provider", |v| v.len() == 2)
        .await;
    assert_eq!(
        before,
        BTreeMap::from([("a".into(), "0".into()), ("b".into(), "0".into())]),
        "no breaker is open while both answer"
    );

    b.stop();
    let after = prometheus
        .until("b's breaker open", open, "provider", |v| {
            v.get("b").is_some_and(|v| v == "1")
        })
        .await;
    assert_eq!(
        after.get("a").map(String::as_str),
        Some("0"),
        "a's stays closed"
    );
    let b_down = prometheus
        .until(
            "b down",
            r#"steward_provider_up{provider="b"}"#,
            "provider",
            |v| v.contains_key("b"),
        )
        .await;
    assert_eq!(b_down["b"], "0", "b's last probe failed");
    let closed = prometheus
        .query(r#"steward_provider_breaker_state{provider="b",state="closed"}"#)
        .await;
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].1, "0", "one state at a time");
    drop(prometheus);
    serve.stop().await;
}
