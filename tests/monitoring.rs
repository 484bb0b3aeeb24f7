//! Providers monitored end to end: real loopback services, a real engine with a real
//! SQLite file, the real HTTP API and its event stream.

mod common;

use common::*;
use std::time::Duration;

/// Probes on loopback every 200 ms: anything they change shows within a few seconds.
const SOON: Duration = Duration::from_secs(10);

fn config(listen_providers: &str) -> String {
    format!(
        "[probe]\ninterval = \"200ms\"\ntimeout = \"300ms\"\nfailure_threshold = 2\nbackoff = \"1s\"\n\n{listen_providers}"
    )
}

fn http_provider(id: &str, url: &str) -> String {
    format!("[[providers]]\nid = \"{id}\"\nkind = \"http\"\nurl = \"{url}\"\nnode = \"lab\"\nservice = \"{id}-svc\"\n\n")
}

fn tcp_provider(id: &str, port: u16) -> String {
    format!("[[providers]]\nid = \"{id}\"\nkind = \"tcp\"\naddress = \"127.0.0.1:{port}\"\nnode = \"lab\"\nservice = \"mosquitto\"\n\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_dies_trips_on_the_second_failure_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let mut web = Service::start(ok_health()).await;
    let mqtt = Service::start(ok_health()).await;
    let cfg = write_config(
        dir.path(),
        &config(&(http_provider("web", &web.url("/health")) + &tcp_provider("mqtt", mqtt.port))),
    );
    let s = Steward::start(&cfg, &dir.path().join("data")).await;
    let stream = StreamLog::open(&s).await;

    expect_update(s.api(), "both providers up", SOON, || async {
        let (w, m) = (s.provider("web").await, s.provider("mqtt").await);
        w["last_outcome"] == "up" && m["last_outcome"] == "up"
    })
    .await;
    let web_view = s.provider("web").await;
    assert_eq!(web_view["state"], "closed");
    assert_eq!(web_view["status"], "ok");
    // A real round trip takes some time, and less than the probe's timeout.
    let latency = web_view["last_latency_ms"].as_f64().unwrap();
    assert!(latency > 0.0 && latency < 3000.0, "{latency}");

    web.stop();
    // The breaker's state is live at once; its event is written by the next flush.
    expect_update(
        s.api(),
        "web's breaker opens and the trip is recorded",
        SOON,
        || async {
            s.provider("web").await["state"] == "open"
                && !s
                    .events_of_provider("breaker_opened", "web")
                    .await
                    .is_empty()
        },
    )
    .await;
    let opened = s.events_of_provider("breaker_opened", "web").await;
    assert_eq!(opened.len(), 1, "one trip, one event");
    assert_eq!(opened[0]["severity"], "error");
    assert_eq!(opened[0]["node"], "lab");
    assert!(opened[0]["message"]
        .as_str()
        .unwrap()
        .contains("web is down"));

    // The trip came with the second consecutive failure, not the first.
    let detail = s.get("/api/providers/web").await;
    let trip_at = opened[0]["at"].as_str().unwrap().to_owned();
    let failures_before_trip = detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["ok"] == false && h["at"].as_str().unwrap() <= trip_at.as_str())
        .count();
    assert_eq!(failures_before_trip, 2);
    assert_eq!(
        s.provider("mqtt").await["state"],
        "closed",
        "one bad provider sinks no other"
    );

    // Live: the event stream carried the trip and the provider's new state.
    stream
        .expect("the trip on the stream", SOON, |m| {
            m["type"] == "event" && m["event"]["type"] == "breaker_opened"
        })
        .await;
    stream
        .expect("web's open state on the stream", SOON, |m| {
            m["type"] == "provider_updated"
                && m["provider"]["id"] == "web"
                && m["provider"]["state"] == "open"
        })
        .await;
    let health = s.get("/api/health/detailed").await;
    assert_eq!(health["status"], "degraded");
    assert_eq!(health["services"]["web"]["status"], "error");
    assert_eq!(health["services"]["mqtt"]["status"], "ok");

    web.restart().await;
    expect_update(
        s.api(),
        "web recovers and the recovery is recorded",
        SOON,
        || async {
            s.provider("web").await["state"] == "closed"
                && !s
                    .events_of_provider("breaker_closed", "web")
                    .await
                    .is_empty()
        },
    )
    .await;
    let closed = s.events_of_provider("breaker_closed", "web").await;
    assert_eq!(closed.len(), 1);
    assert!(closed[0]["message"].as_str().unwrap().contains("recovered"));
    expect_update(s.api(), "overall healthy again", SOON, || async {
        s.get("/api/health/detailed").await["status"] == "ok"
    })
    .await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breaker_state_history_and_events_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = dead_port().await;
    let cfg = write_config(
        dir.path(),
        &config(&http_provider("gone", &format!("http://127.0.0.1:{port}/")))
            .replace("backoff = \"1s\"", "backoff = \"1h\""),
    );
    let s = Steward::start(&cfg, &data).await;
    expect_update(s.api(), "gone trips", SOON, || async {
        s.provider("gone").await["state"] == "open"
    })
    .await;
    let before = s.get("/api/providers/gone").await;
    let samples_before = before["history"].as_array().unwrap().len();
    let open_until = before["open_until"].clone();
    s.stop().await;

    let s = Steward::start(&cfg, &data).await;
    let after = s.provider("gone").await;
    assert_eq!(
        after["state"], "open",
        "the breaker is still open after a restart"
    );
    assert_eq!(after["open_until"], open_until, "with the same window");
    assert!(after["consecutive_failures"].as_u64().unwrap() >= 2);
    let detail = s.get("/api/providers/gone").await;
    assert!(detail["history"].as_array().unwrap().len() >= samples_before);
    assert_eq!(
        s.events_of_provider("breaker_opened", "gone").await.len(),
        1,
        "no second trip"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_server_is_a_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let hang = Service::start(Mode::Hang).await;
    let cfg = write_config(dir.path(), &config(&http_provider("slow", &hang.url("/"))));
    let s = Steward::start(&cfg, &dir.path().join("data")).await;
    expect_update(s.api(), "slow times out", SOON, || async {
        s.provider("slow").await["last_outcome"] == "timeout"
    })
    .await;
    let p = s.provider("slow").await;
    assert!(p["last_error"].as_str().unwrap().contains("timeout"), "{p}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_now_answers_the_fresh_result() {
    let dir = tempfile::tempdir().unwrap();
    let web = Service::start(ok_health()).await;
    let cfg = write_config(
        dir.path(),
        &config(&http_provider("web", &web.url("/health"))).replace("200ms", "1h"),
    );
    let s = Steward::start(&cfg, &dir.path().join("data")).await;
    expect_update(s.api(), "first probe", SOON, || async {
        !s.provider("web").await["last_checked_at"].is_null()
    })
    .await;
    let first = s.provider("web").await["last_checked_at"].clone();
    let r = s
        .post("/api/providers/web/probe", serde_json::json!({}))
        .await;
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_ne!(
        v["last_checked_at"], first,
        "the answer reflects the new probe"
    );
    assert_eq!(v["last_outcome"], "up");
    let missing = s
        .post("/api/providers/nope/probe", serde_json::json!({}))
        .await;
    assert_eq!(missing.status(), 404);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_requires_a_token_checks_the_host_and_answers_errors_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &config(""));
    let s = Steward::start(&cfg, &dir.path().join("data")).await;
    let c = &s.client;

    let health = c
        .get(format!("{}/api/health", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "liveness needs no token");
    assert_eq!(
        health.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"status": "ok"})
    );

    for path in [
        "/api/providers",
        "/api/health/detailed",
        "/api/events",
        "/api/stream",
    ] {
        let r = c.get(format!("{}{path}", s.base)).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path} without a token");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["code"], "unauthorized");
        let r = c
            .get(format!("{}{path}", s.base))
            .bearer_auth("wrong")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path} with a wrong token");
    }
    let r = c
        .get(format!("{}/api/providers?access_token={TOKEN}", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        401,
        "the query token is only for the event stream"
    );

    let rebound = c
        .get(format!("{}/api/health", s.base))
        .header("Host", "attacker.example:80")
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status(), 403, "DNS rebinding is refused");

    let r = c
        .get(format!("{}/api/providers/ghost", s.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "not_found");
    assert!(body["message"].as_str().unwrap().contains("ghost"));

    let r = s
        .post(
            "/api/notifications/snooze",
            serde_json::json!({"minutes": "soon"}),
        )
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["code"],
        "bad_request"
    );
    let r = c
        .get(format!("{}/api/nothing-here", s.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_and_snooze_are_reported_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = write_config(dir.path(), &config(""));
    let s = Steward::start(&cfg, &data).await;
    let v: serde_json::Value = s
        .post("/api/monitor/pause", serde_json::json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["paused"], true);
    let v: serde_json::Value = s
        .post(
            "/api/notifications/snooze",
            serde_json::json!({"minutes": 60}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(v["snoozed_until"].is_string());
    let trip = steward::events::EngineEvent::IncidentOpened {
        incident_id: "inc-x-1".into(),
        provider_id: "x".into(),
        node: "n".into(),
        service: "s".into(),
        reason: "r".into(),
        dependents: Vec::new(),
    };
    assert_eq!(s.api().notice(&trip), None, "snoozed: no notification");
    s.stop().await;

    let s = Steward::start(&cfg, &data).await;
    let status = s.get("/api/status").await;
    assert_eq!(status["paused"], true);
    assert!(status["snoozed_until"].is_string());
    let v: serde_json::Value = s
        .post(
            "/api/notifications/snooze",
            serde_json::json!({"minutes": 0}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(v["snoozed_until"].is_null());
    assert!(
        s.api().notice(&trip).is_some(),
        "unsnoozed: a trip notifies"
    );
    let kinds: Vec<String> = s
        .get("/api/events")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect();
    assert!(kinds.contains(&"monitor_paused".to_owned()));
    assert!(kinds.contains(&"notifications_snoozed".to_owned()));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_config_edit_keeps_the_last_good_config_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let web = Service::start(ok_health()).await;
    let good = config(&http_provider("web", &web.url("/health")));
    let cfg = write_config(dir.path(), &good);
    let s = Steward::start(&cfg, &dir.path().join("data")).await;
    expect_update(s.api(), "web up", SOON, || async {
        s.provider("web").await["last_outcome"] == "up"
    })
    .await;

    // A broken edit: the error names file, line and field; monitoring goes on.
    std::fs::write(
        &cfg,
        good.replace("interval = \"200ms\"", "interval = \"0s\""),
    )
    .unwrap();
    expect_update(s.api(), "the error is reported", SOON, || async {
        !s.get("/api/status").await["config_errors"]
            .as_array()
            .unwrap()
            .is_empty()
    })
    .await;
    let status = s.get("/api/status").await;
    let issue = &status["config_errors"][0];
    assert_eq!(issue["line"], 2);
    assert_eq!(issue["field"], "probe.interval");
    assert_eq!(issue["message"], "must be greater than 0");
    assert!(issue["file"].as_str().unwrap().ends_with("steward.toml"));
    let detailed = s.get("/api/health/detailed").await;
    assert_eq!(detailed["config_errors"][0]["field"], "probe.interval");
    assert_eq!(
        s.provider("web").await["id"],
        "web",
        "still monitoring with the last good config"
    );
    let rejected = s.get("/api/events").await;
    assert!(rejected
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["type"] == "config_rejected"));

    // A good edit: a provider added, the error cleared.
    let tcp = Service::start(ok_health()).await;
    std::fs::write(&cfg, good.clone() + &tcp_provider("mqtt", tcp.port)).unwrap();
    expect_update(s.api(), "mqtt appears and is probed", SOON, || async {
        let all = s.get("/api/providers").await;
        all.as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == "mqtt" && p["last_outcome"] == "up")
    })
    .await;
    assert!(s.get("/api/status").await["config_errors"]
        .as_array()
        .unwrap()
        .is_empty());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steward_check_exits_0_when_all_up_1_when_any_down_2_on_bad_config() {
    let dir = tempfile::tempdir().unwrap();
    let web = Service::start(ok_health()).await;
    let up = write_config(
        dir.path(),
        &config(&http_provider("web", &web.url("/health"))),
    );
    let run = |path: std::path::PathBuf| async move {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_steward"))
            .args(["check", "--config"])
            .arg(path)
            .output()
            .await
            .unwrap()
    };
    let out = run(up.clone()).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("web") && text.contains("up"), "{text}");

    let port = dead_port().await;
    let down_cfg = dir.path().join("down.toml");
    std::fs::write(
        &down_cfg,
        config(&(http_provider("web", &web.url("/health")) + &tcp_provider("mqtt", port))),
    )
    .unwrap();
    let out = run(down_cfg).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("mqtt") && text.contains("Connection refused"),
        "{text}"
    );

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[probe]\ntimeout = \"0s\"\n").unwrap();
    let out = run(bad).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.contains("bad.toml:2: probe.timeout: must be greater than 0"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_run_writes_a_commented_default_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fresh/steward.toml");
    let c = steward::config::Config::load_or_init(&path).unwrap();
    assert!(c.providers.is_empty());
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("# Steward configuration"));
    assert!(text.contains("failure_threshold = 2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_samples_fold_into_hourly_rows_and_still_count_for_uptime() {
    use steward::store::{Batch, Sample, Store};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        &dir.path().join("s.db"),
        std::sync::Arc::new(steward::clock::SystemClock),
    )
    .await
    .unwrap();
    let now = chrono::Utc::now();
    let mut batch = Batch::default();
    for i in 0..10 {
        batch.samples.push(Sample {
            provider_id: "web".into(),
            at: now - chrono::Duration::hours(50) + chrono::Duration::seconds(i * 30),
            ok: i != 3,
            latency_ms: Some(10.0 + i as f64),
            outcome: if i == 3 { "down".into() } else { "up".into() },
            error: None,
        });
    }
    batch.samples.push(Sample {
        provider_id: "web".into(),
        at: now,
        ok: true,
        latency_ms: Some(5.0),
        outcome: "up".into(),
        error: None,
    });
    store.write_batch(batch).await.unwrap();
    let folded = store
        .compact(
            now - chrono::Duration::hours(48),
            now - chrono::Duration::days(90),
        )
        .await
        .unwrap();
    assert_eq!(folded, 10);
    let hourly = store
        .hourly("web", now - chrono::Duration::days(3))
        .await
        .unwrap();
    let total: i64 = hourly.iter().map(|h| h.samples).sum();
    let ok: i64 = hourly.iter().map(|h| h.ok).sum();
    assert_eq!((total, ok), (10, 9));
    assert_eq!(
        hourly
            .iter()
            .map(|h| h.max_latency_ms.unwrap())
            .fold(0.0, f64::max),
        19.0
    );
    let raw = store
        .history("web", now - chrono::Duration::days(3))
        .await
        .unwrap();
    assert_eq!(raw.len(), 1, "only the fresh sample stays raw");
    let up = store
        .uptime_counts(now - chrono::Duration::days(3))
        .await
        .unwrap();
    assert_eq!(up["web"], (11, 10), "raw and hourly together");
    // Compacting again changes nothing.
    assert_eq!(
        store
            .compact(
                now - chrono::Duration::hours(48),
                now - chrono::Duration::days(90)
            )
            .await
            .unwrap(),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_providers_are_written_in_a_few_transactions_not_thousands() {
    let dir = tempfile::tempdir().unwrap();
    let web = Service::start(ok_health()).await;
    let mut body = String::from("[probe]\ninterval = \"1h\"\ntimeout = \"3s\"\n\n");
    for i in 0..2000 {
        body.push_str(&http_provider(
            &format!("p{i}"),
            &web.url(&format!("/h/{i}")),
        ));
    }
    let cfg = write_config(dir.path(), &body);
    let s = Steward::start(&cfg, &dir.path().join("data")).await;
    // The store's write counters announce nothing: polled.
    eventually(
        "one full tick is stored",
        Duration::from_secs(30),
        || async { s.api().write_stats().1 >= 2000 },
    )
    .await;
    let (transactions, samples) = s.api().write_stats();
    assert_eq!(samples, 2000);
    assert!(
        transactions <= 20,
        "2000 results took {transactions} transactions: writes are not batched"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_of_any_size_store_every_sample_and_state_exactly_once() {
    use steward::health::breaker::BreakerState;
    use steward::store::{Batch, Sample, Store};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        &dir.path().join("s.db"),
        std::sync::Arc::new(steward::clock::SystemClock),
    )
    .await
    .unwrap();
    let start = chrono::Utc::now() - chrono::Duration::minutes(30);
    // Sizes around the multi-row statement's 64 rows: below, at, above, several times.
    let mut written = 0i64;
    for (round, size) in [1usize, 63, 64, 65, 129, 200].into_iter().enumerate() {
        let mut batch = Batch::default();
        for i in 0..size {
            let id = format!("p{i}");
            batch.samples.push(Sample {
                provider_id: id.clone(),
                at: start + chrono::Duration::seconds(round as i64),
                ok: i % 5 != 0,
                latency_ms: (i % 7 != 0).then_some(i as f64 / 4.0),
                outcome: if i % 5 != 0 {
                    "up".into()
                } else {
                    "down".into()
                },
                error: (i % 5 == 0).then(|| format!("refused {i}")),
            });
            let state = BreakerState {
                consecutive_failures: (round * 1000 + i) as u32,
                ..BreakerState::default()
            };
            batch.states.insert(id, state);
        }
        store.write_batch(batch).await.unwrap();
        written += size as i64;
    }
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM probe_samples")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(count, written);
    // Every field of a row past the first 64 of a 129-row batch came through.
    let history = store.history("p100", start).await.unwrap();
    assert_eq!(history.len(), 2, "p100 was in the 129 and the 200 batches");
    let s = &history[0];
    assert_eq!((s.ok, s.outcome.as_str()), (false, "down"));
    assert_eq!(s.latency_ms, Some(25.0));
    assert_eq!(s.error.as_deref(), Some("refused 100"));
    // The last write of each breaker state wins.
    let states = store.load_breakers().await.unwrap();
    assert_eq!(states.len(), 200);
    assert_eq!(states["p0"].consecutive_failures, 5000);
    assert_eq!(states["p150"].consecutive_failures, 5150);
    assert_eq!(states["p64"].consecutive_failures, 5064);
}
