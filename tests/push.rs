//! Push channels against real loopback receivers: one speaking ntfy's JSON publish API,
//! one webhook receiver that checks the HMAC-SHA256 signature. A breaker trip reaches both;
//! each channel takes only its severities and kinds; snoozing stops them; a channel that
//! fails is reported and retried, and a channel that hangs never delays probing.

mod common;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use common::*;
use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use serde_json::Value;
use sha2::Sha256;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

/// Probes every 300 ms on loopback: trips and recoveries show within moments.
const SOON: Duration = Duration::from_secs(10);
/// Retries wait 1 s, then 2 s, …: a few of them fit in this.
const RETRIES: Duration = Duration::from_secs(20);

const PROBE: &str = "[probe]\ninterval = \"300ms\"\ntimeout = \"300ms\"\nfailure_threshold = 2\nbackoff = \"30s\"\n\n";

/// How a receiver answers its next request.
#[derive(Clone, Copy, Debug)]
enum Answer {
    Status(u16),
    /// Takes the request and never answers.
    Hang,
}

/// One request a receiver got.
#[derive(Clone, Debug)]
struct Seen {
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Seen {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }
}

/// A loopback HTTP receiver: records every request, answers as planned (200 once the
/// plan is used up).
#[derive(Clone, Default)]
struct Receiver {
    seen: Arc<Mutex<Vec<Seen>>>,
    plan: Arc<Mutex<VecDeque<Answer>>>,
    url: String,
}

async fn receive(
    State(r): State<Receiver>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    r.seen.lock().push(Seen {
        path: uri.path().to_owned(),
        headers,
        body,
    });
    let answer = r.plan.lock().pop_front().unwrap_or(Answer::Status(200));
    match answer {
        Answer::Status(code) => (StatusCode::from_u16(code).unwrap(), "answered").into_response(),
        Answer::Hang => std::future::pending().await,
    }
}

impl Receiver {
    async fn start(plan: &[Answer]) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut r = Receiver {
            url: format!("http://{}", listener.local_addr().unwrap()),
            ..Receiver::default()
        };
        r.plan.lock().extend(plan.iter().copied());
        let app = axum::Router::new().fallback(receive).with_state(r.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        r.url.push('/');
        r
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().clone()
    }

    /// The titles of the notices received, in order (ntfy and webhook bodies both have one).
    fn titles(&self) -> Vec<String> {
        self.seen()
            .iter()
            .map(|s| s.json()["title"].as_str().unwrap().to_owned())
            .collect()
    }
}

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `web` (the one the tests stop) and `canary` (always up), with the channels appended.
fn config(web: &Service, canary: &Service, channels: &str) -> String {
    format!(
        "{PROBE}[[providers]]\nid = \"web\"\nkind = \"http\"\nurl = \"{}\"\nnode = \"nas\"\nservice = \"web\"\n\n\
         [[providers]]\nid = \"canary\"\nkind = \"http\"\nurl = \"{}\"\nnode = \"nas\"\nservice = \"canary\"\n\n{channels}",
        web.url("/health"),
        canary.url("/health"),
    )
}

async fn channel(s: &Steward, name: &str) -> Value {
    s.get("/api/status").await["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("channel {name} in /api/status"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breaker_trip_reaches_ntfy_and_the_signed_webhook_each_by_its_own_filter() {
    std::env::set_var("STEWARD_TEST_NTFY_TOKEN", "tk_ntfy_secret_value");
    std::env::set_var("STEWARD_TEST_HOOK_SECRET", "hook-signing-secret");
    let dir = tempfile::tempdir().unwrap();
    let mut web = Service::start(ok_health()).await;
    let canary = Service::start(ok_health()).await;
    let ntfy = Receiver::start(&[]).await;
    let hook = Receiver::start(&[]).await;
    let cfg = config(
        &web,
        &canary,
        &format!(
            "[notifications]\nui_url = \"http://steward.lan:7878\"\n\n\
             [[notifications.channels]]\nname = \"phone\"\nkind = \"ntfy\"\nurl = \"{}\"\ntopic = \"homelab\"\ntoken_env = \"STEWARD_TEST_NTFY_TOKEN\"\n\n\
             [[notifications.channels]]\nkind = \"webhook\"\nurl = \"{}hooks/steward\"\nsecret_env = \"STEWARD_TEST_HOOK_SECRET\"\nmin_severity = \"critical\"\nkinds = [\"incident\"]\n",
            ntfy.url, hook.url
        ),
    );
    let cfg = write_config(dir.path(), &cfg);
    let s = Steward::start(&cfg, &dir.path().join("data")).await;
    expect_update(s.api(), "both up", SOON, || async {
        s.all_providers(|p| p["last_outcome"] == "up").await
    })
    .await;
    let status = s.get("/api/status").await;
    assert_eq!(status["channels"][0]["name"], "phone");
    assert_eq!(status["channels"][0]["kind"], "ntfy");
    assert_eq!(status["channels"][0]["state"], "idle");
    assert_eq!(
        status["channels"][1]["name"], "webhook",
        "named by its kind"
    );

    web.stop();
    eventually("the trip reaches ntfy", SOON, || async {
        !ntfy.seen().is_empty()
    })
    .await;
    eventually("the trip reaches the webhook", SOON, || async {
        !hook.seen().is_empty()
    })
    .await;

    let published = &ntfy.seen()[0];
    assert_eq!(
        published.path, "/",
        "ntfy's JSON publish API is the server root"
    );
    assert_eq!(
        published.header("authorization").as_deref(),
        Some("Bearer tk_ntfy_secret_value")
    );
    let body = published.json();
    assert_eq!(body["topic"], "homelab");
    assert_eq!(body["title"], "web is down");
    assert_eq!(body["priority"], 5, "an incident is critical: ntfy's max");
    assert_eq!(body["click"], "http://steward.lan:7878/#/overview");
    assert!(body["message"].as_str().unwrap().contains("web on nas"));

    let delivered = &hook.seen()[0];
    assert_eq!(delivered.path, "/hooks/steward");
    let signature = delivered.header("x-steward-signature-256").expect("signed");
    assert_eq!(
        signature,
        format!(
            "sha256={}",
            hmac_hex("hook-signing-secret", &delivered.body)
        ),
        "the signature is the HMAC-SHA256 of the exact body"
    );
    assert_ne!(
        signature,
        format!("sha256={}", hmac_hex("another-secret", &delivered.body))
    );
    assert_eq!(
        delivered.header("x-steward-event").as_deref(),
        Some("incident")
    );
    let body = delivered.json();
    assert_eq!(body["kind"], "incident");
    assert_eq!(body["severity"], "critical");
    assert_eq!(body["title"], "web is down");
    assert_eq!(body["target"], "provider:web");
    assert_eq!(body["url"], "http://steward.lan:7878/#/overview");
    assert_eq!(body["id"], delivered.header("x-steward-delivery").unwrap());
    assert!(body["at"].as_str().unwrap().ends_with('Z'));

    // The recovery is `info`: ntfy takes it, the critical-only webhook does not.
    web.restart().await;
    eventually("the recovery reaches ntfy", SOON, || async {
        ntfy.titles().contains(&"web recovered".to_owned())
    })
    .await;
    let phone = channel(&s, "phone").await;
    assert_eq!(phone["state"], "ok");
    assert_eq!(phone["sent"], 2);
    assert_eq!(phone["failed"], 0);
    let webhook = channel(&s, "webhook").await;
    assert_eq!(webhook["sent"], 1, "{webhook}");
    assert_eq!(hook.titles(), ["web is down"], "info notices stay off it");
    assert_eq!(ntfy.titles(), ["web is down", "web recovered"]);

    // A test notice goes to every channel, whatever its filters, and says how each went.
    let tested = s
        .post("/api/notifications/test", serde_json::json!({}))
        .await;
    assert_eq!(tested.status(), 200);
    let tested: Value = tested.json().await.unwrap();
    assert_eq!(
        tested,
        serde_json::json!([
            {"name": "phone", "kind": "ntfy", "ok": true, "error": null},
            {"name": "webhook", "kind": "webhook", "ok": true, "error": null},
        ])
    );
    assert_eq!(hook.titles().last().unwrap(), "Steward: test notification");
    assert_eq!(hook.seen().last().unwrap().json()["kind"], "test");
    assert_eq!(ntfy.titles().last().unwrap(), "Steward: test notification");

    // No secret reaches the timeline or the database.
    let db = std::fs::read(dir.path().join("data/steward.db")).unwrap();
    for secret in ["tk_ntfy_secret_value", "hook-signing-secret"] {
        let text = String::from_utf8_lossy(&db);
        assert!(!text.contains(secret), "{secret} in the database");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snoozed_notices_reach_no_channel() {
    let dir = tempfile::tempdir().unwrap();
    let mut web = Service::start(ok_health()).await;
    let canary = Service::start(ok_health()).await;
    let ntfy = Receiver::start(&[]).await;
    let hook = Receiver::start(&[]).await;
    let cfg = config(
        &web,
        &canary,
        &format!(
            "[[notifications.channels]]\nkind = \"ntfy\"\nurl = \"{}\"\ntopic = \"t\"\n\n\
             [[notifications.channels]]\nkind = \"webhook\"\nurl = \"{}\"\n",
            ntfy.url, hook.url
        ),
    );
    let cfg = write_config(dir.path(), &cfg);
    let s = Steward::start(&cfg, &dir.path().join("data")).await;
    expect_update(s.api(), "both up", SOON, || async {
        s.all_providers(|p| p["last_outcome"] == "up").await
    })
    .await;
    let r = s
        .post(
            "/api/notifications/snooze",
            serde_json::json!({"minutes": 30}),
        )
        .await;
    assert!(r.status().is_success(), "{}", r.status());

    web.stop();
    expect_update(s.api(), "the incident is on the timeline", SOON, || async {
        !s.events_of("incident_opened").await.is_empty()
    })
    .await;
    // Back on: the recovery is sent. Each channel sends in order, so an incident notice
    // queued while snoozed would have arrived before it.
    let r = s
        .post(
            "/api/notifications/snooze",
            serde_json::json!({"minutes": 0}),
        )
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    web.restart().await;
    for (name, receiver) in [("ntfy", &ntfy), ("webhook", &hook)] {
        eventually(&format!("the recovery reaches {name}"), SOON, || async {
            !receiver.seen().is_empty()
        })
        .await;
        assert_eq!(receiver.titles(), ["web recovered"], "{name}");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_channel_is_reported_and_retried_and_a_hanging_one_never_delays_probing() {
    let dir = tempfile::tempdir().unwrap();
    let mut web = Service::start(ok_health()).await;
    let canary = Service::start(ok_health()).await;
    // The webhook's receiver is down for two tries, then takes the third.
    let hook = Receiver::start(&[Answer::Status(503), Answer::Status(503)]).await;
    // ntfy takes the request and never answers (until the client's own timeout).
    let stuck = Receiver::start(&[Answer::Hang; 8]).await;
    let cfg = config(
        &web,
        &canary,
        &format!(
            "[[notifications.channels]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"{}\"\nkinds = [\"incident\"]\n\n\
             [[notifications.channels]]\nname = \"stuck\"\nkind = \"ntfy\"\nurl = \"{}\"\ntopic = \"t\"\n",
            hook.url, stuck.url
        ),
    );
    let cfg = write_config(dir.path(), &cfg);
    let s = Steward::start(&cfg, &dir.path().join("data")).await;
    expect_update(s.api(), "both up", SOON, || async {
        s.all_providers(|p| p["last_outcome"] == "up").await
    })
    .await;

    web.stop();
    expect_update(
        s.api(),
        "the webhook channel reported failing",
        SOON,
        || async { channel(&s, "hook").await["state"] == "failing" },
    )
    .await;
    let failing = channel(&s, "hook").await;
    assert!(
        failing["last_error"].as_str().unwrap().starts_with("503"),
        "{failing}"
    );
    assert!(failing["next_retry_at"].is_string(), "{failing}");
    assert_eq!(failing["queued"], 1);
    expect_update(s.api(), "push_failing on the timeline", SOON, || async {
        s.events_of("push_failing")
            .await
            .iter()
            .any(|e| e["data"]["channel"] == "hook")
    })
    .await;

    // While ntfy hangs on its request, the canary is still probed on its schedule.
    eventually("the stuck channel took the request", SOON, || async {
        !stuck.seen().is_empty()
    })
    .await;
    let checks = Mutex::new(Vec::new());
    eventually("five fresh probes of the canary", SOON, || async {
        let at = s.provider("canary").await["last_checked_at"].clone();
        let mut checks = checks.lock();
        if checks.last() != Some(&at) {
            checks.push(at);
        }
        checks.len() >= 5
    })
    .await;
    let stuck_now = channel(&s, "stuck").await;
    assert_eq!(
        stuck_now["sent"], 0,
        "still waiting on its answer: {stuck_now}"
    );

    // The third try is taken: the channel works again, the same delivery id each time.
    expect_update(s.api(), "the webhook works again", RETRIES, || async {
        channel(&s, "hook").await["state"] == "ok"
    })
    .await;
    let tries = hook.seen();
    assert_eq!(tries.len(), 3, "two refused tries and the one taken");
    let ids: Vec<_> = tries
        .iter()
        .map(|t| t.header("x-steward-delivery").unwrap())
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert!(tries.iter().all(|t| t.json()["title"] == "web is down"));
    let ok = channel(&s, "hook").await;
    assert_eq!(
        (ok["sent"].as_u64(), ok["queued"].as_u64()),
        (Some(1), Some(0))
    );
    expect_update(s.api(), "push_recovered on the timeline", SOON, || async {
        s.events_of("push_recovered")
            .await
            .iter()
            .any(|e| e["data"]["channel"] == "hook")
    })
    .await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_notice_says_which_channel_fails_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let web = Service::start(ok_health()).await;
    let canary = Service::start(ok_health()).await;
    let refusing = Receiver::start(&[Answer::Status(401)]).await;
    let working = Receiver::start(&[]).await;
    let cfg = config(
        &web,
        &canary,
        &format!(
            "[[notifications.channels]]\nname = \"gone\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:{}/\"\n\n\
             [[notifications.channels]]\nname = \"refusing\"\nkind = \"ntfy\"\nurl = \"{}\"\ntopic = \"t\"\n\n\
             [[notifications.channels]]\nname = \"unset\"\nkind = \"webhook\"\nurl = \"{}\"\nsecret_env = \"STEWARD_TEST_NEVER_SET\"\n\n\
             [[notifications.channels]]\nname = \"working\"\nkind = \"webhook\"\nurl = \"{}\"\nmin_severity = \"critical\"\n",
            dead_port().await,
            refusing.url,
            working.url,
            working.url
        ),
    );
    let cfg = write_config(dir.path(), &cfg);
    let s = Steward::start(&cfg, &dir.path().join("data")).await;
    let r = s
        .post(
            "/api/notifications/snooze",
            serde_json::json!({"minutes": 30}),
        )
        .await;
    assert!(r.status().is_success());
    let tested: Value = s
        .post("/api/notifications/test", serde_json::json!({}))
        .await
        .json()
        .await
        .unwrap();
    let said: Vec<(&str, bool, &str)> = tested
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap(),
                t["ok"].as_bool().unwrap(),
                t["error"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        said,
        [
            ("gone", false, "cannot connect"),
            ("refusing", false, "401 Unauthorized: answered"),
            (
                "unset",
                false,
                "the environment variable STEWARD_TEST_NEVER_SET is not set"
            ),
            ("working", true, ""),
        ],
        "snoozed and info-only, the test is still sent: a person asked for it"
    );
    assert_eq!(working.titles(), ["Steward: test notification"]);
    let status = s.get("/api/status").await;
    assert!(
        status["channels"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["sent"] == 0 && c["state"] == "idle"),
        "a test counts nothing: {status}"
    );
    s.stop().await;
}

#[tokio::test]
async fn channel_mistakes_are_config_errors_with_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        dir.path(),
        "[[notifications.channels]]\nkind = \"ntfy\"\nurl = \"https://ntfy.sh\"\n\n\
         [[notifications.channels]]\nkind = \"pager\"\nurl = \"https://x\"\n\n\
         [[notifications.channels]]\nkind = \"webhook\"\nurl = \"ftp://x\"\n\n\
         [[notifications.channels]]\nkind = \"webhook\"\nurl = \"https://x\"\nmin_severity = \"loud\"\nkinds = [\"everything\"]\n",
    );
    let err = steward::config::Config::load(&path)
        .unwrap_err()
        .to_string();
    for expected in [
        "notifications.channels[0].topic",
        "is required for an ntfy channel",
        "notifications.channels[1].kind",
        "\"pager\" is not one of ntfy, webhook",
        "notifications.channels[2].url",
        "must start with http:// or https://",
        "notifications.channels[3].min_severity",
        "\"loud\" is not one of info, warning, critical",
        "notifications.channels[3].kinds",
        "\"everything\" is not one of incident, recovery, proposal",
    ] {
        assert!(err.contains(expected), "{expected:?} missing from:\n{err}");
    }
    assert!(
        err.contains("steward.toml:6: notifications.channels[1].kind"),
        "the kind's line: {err}"
    );
}
