//! The LLM gateway (issue 15): apps on this workstation ask Steward, Steward
//! asks the first healthy target, fails over before the app sees a byte, and what the
//! traffic shows lands on the breakers the probe loop and the planner share.
//!
//! Real parts: the engine with its gateway on a loopback port, fake upstreams speaking the
//! OpenAI and Anthropic wire formats (JSON and server-sent events) on loopback.

mod common;
#[path = "common/llm.rs"]
mod llm;

use common::{write_config, Steward};
use llm::{FakeLlm, Reply};
use reqwest::StatusCode;
use serde_json::{json, Value};

const KEY_ENV: &str = "STEWARD_TEST_GATEWAY_KEY";
const KEY: &str = "gw-key-for-tests-0123";
/// The targets' own keys (`[[models]] api_key_env`), which only the targets see.
const TARGET_A_KEY: &str = "sk-target-a-4567";
const TARGET_C_KEY: &str = "sk-ant-target-c-89";

/// Three fake upstreams: `a` and `b` for OpenAI-wire models, `c` for an Anthropic-wire one.
async fn upstreams() -> (FakeLlm, FakeLlm, FakeLlm) {
    (
        FakeLlm::start().await,
        FakeLlm::start().await,
        FakeLlm::start().await,
    )
}

struct Gw {
    steward: Steward,
    base: String,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// A free loopback port for the gateway (bound and released: the engine binds it next).
async fn free_port() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

/// Models `a` (first) and `b` on OpenAI-wire fakes, `c` on an Anthropic-wire fake, each
/// its own provider with a breaker (threshold 2); route `chat` = a, b; route `claude` = c.
async fn start(a: &FakeLlm, b: &FakeLlm, c: &FakeLlm, a_url: Option<String>) -> Gw {
    start_with(a, b, c, a_url, None).await
}

/// The same, reading wall time (the breakers' windows) from `clock` when given.
async fn start_with(
    a: &FakeLlm,
    b: &FakeLlm,
    c: &FakeLlm,
    a_url: Option<String>,
    clock: Option<&common::ManualClock>,
) -> Gw {
    std::env::set_var(KEY_ENV, KEY);
    std::env::set_var("STEWARD_TEST_TARGET_A_KEY", TARGET_A_KEY);
    std::env::set_var("STEWARD_TEST_TARGET_C_KEY", TARGET_C_KEY);
    let port = free_port().await;
    let a_url = a_url.unwrap_or_else(|| a.url("/v1"));
    let config = format!(
        r#"
[probe]
interval = "1h"
failure_threshold = 2
backoff = "30s"

[[providers]]
id = "prov-a"
kind = "llm"
node = "cloud"
service = "a"
url = "{a_url}"
api = "openai"
model = "m-a"
enabled = false

[[providers]]
id = "prov-b"
kind = "llm"
node = "cloud"
service = "b"
url = "{b}"
api = "openai"
model = "m-b"
enabled = false

[[models]]
id = "a"
api = "openai"
url = "{a_url}"
model = "m-a"
provider = "prov-a"
timeout = "2s"
api_key_env = "STEWARD_TEST_TARGET_A_KEY"

[[models]]
id = "b"
api = "openai"
url = "{b}"
model = "m-b"
provider = "prov-b"
timeout = "2s"

[[models]]
id = "c"
api = "anthropic"
url = "{c}"
model = "m-c"
timeout = "2s"
api_key_env = "STEWARD_TEST_TARGET_C_KEY"

[planner]
chain = ["rules"]

[gateway]
listen = "127.0.0.1:{port}"
api_key_env = "{KEY_ENV}"
max_body = "64KiB"

[[gateway.routes]]
model = "chat"
targets = ["a", "b"]

[[gateway.routes]]
model = "claude"
targets = ["c"]

[[gateway.routes]]
model = "mixed"
targets = ["a", "c"]
"#,
        b = b.url("/v1"),
        c = c.url(""),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &config);
    let steward = match clock {
        Some(c) => Steward::start_with_clock(&path, &dir.path().join("data"), c.shared()).await,
        None => Steward::start(&path, &dir.path().join("data")).await,
    };
    Gw {
        steward,
        base: format!("http://127.0.0.1:{port}"),
        client: reqwest::Client::new(),
        _dir: dir,
    }
}

impl Gw {
    async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .bearer_auth(KEY)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// `post`, and the answer's whole text (a stream read to its end).
    async fn post_text(&self, path: &str, body: Value) -> String {
        self.post(path, body).await.text().await.unwrap()
    }

    async fn chat(&self, model: &str) -> reqwest::Response {
        self.post(
            "/v1/chat/completions",
            json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await
    }

    /// An Anthropic-wire request, keyed the way Anthropic clients send it (`x-api-key`).
    async fn messages(&self, body: Value) -> reqwest::Response {
        self.client
            .post(format!("{}/v1/messages", self.base))
            .header("x-api-key", KEY)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn view(&self) -> Value {
        self.steward.get("/api/gateway").await
    }
}

fn text_of(v: &Value) -> &str {
    v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default()
}

#[tokio::test]
async fn a_route_answers_from_its_first_target_with_the_targets_model_name() {
    let (a, b, c) = upstreams().await;
    a.script("m-a", vec![Reply::Text("from a".into())]);
    let gw = start(&a, &b, &c, None).await;
    let r = gw.chat("chat").await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(text_of(&v), "from a");
    assert_eq!(
        a.seen_for("m-a").len(),
        1,
        "the target's own model name went upstream"
    );
    assert!(b.seen().is_empty());
    // A [[models]] id goes to that target alone.
    b.script("m-b", vec![Reply::Text("from b".into())]);
    let v: Value = gw.chat("b").await.json().await.unwrap();
    assert_eq!(text_of(&v), "from b");
    // The list names routes and models.
    let models: Value = gw
        .client
        .get(format!("{}/v1/models", gw.base))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["chat", "claude", "mixed", "a", "b", "c"]);
    let view = gw.view().await;
    assert_eq!(view["targets"]["a"]["ok"], 1);
    assert_eq!(
        view["apps"]["default"], 2,
        "two chat requests (listing the models is not one)"
    );
}

#[tokio::test]
async fn a_target_that_refuses_connections_fails_over_and_trips_its_breaker() {
    let (a, b, c) = upstreams().await;
    b.script("m-b", vec![Reply::Text("from b".into())]);
    let dead = format!("http://127.0.0.1:{}/v1", common::dead_port().await);
    let gw = start(&a, &b, &c, Some(dead)).await;
    for _ in 0..2 {
        let v: Value = gw.chat("chat").await.json().await.unwrap();
        assert_eq!(text_of(&v), "from b");
    }
    // Two failures: prov-a's breaker is open; the next request skips a without trying.
    let p = gw.steward.provider("prov-a").await;
    assert_eq!(p["state"], "open", "{p}");
    let v: Value = gw.chat("chat").await.json().await.unwrap();
    assert_eq!(text_of(&v), "from b");
    let view = gw.view().await;
    assert_eq!(view["targets"]["a"]["failed"], 2, "{view}");
    // Each failover is on the timeline (the skip after the trip is not one).
    let failovers = gw.steward.events_of("gateway_failover").await;
    assert_eq!(failovers.len(), 2, "{failovers:?}");
    assert_eq!(failovers[0]["data"]["target"], "a");
    assert_eq!(failovers[0]["data"]["next"], "b");
    // The trip says where it came from.
    let opened = gw.steward.events_of("breaker_opened").await;
    assert_eq!(opened.len(), 1, "{opened:?}");
    let reason = opened[0]["data"]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("from gateway traffic: connect"),
        "{reason}"
    );
    assert!(opened[0]["message"]
        .as_str()
        .unwrap()
        .contains("from gateway traffic"));
    assert_eq!(view["targets"]["a"]["skipped"], 1, "{view}");
    assert_eq!(view["failovers"], 2);
}

#[tokio::test]
async fn a_500_and_a_429_with_retry_after_fail_over_and_count_against_the_breaker() {
    let (a, b, c) = upstreams().await;
    a.script(
        "m-a",
        vec![
            Reply::status(500),
            Reply::Status(
                429,
                json!({"error": {"message": "slow down"}}).to_string(),
                vec![("Retry-After".into(), "30".into())],
            ),
        ],
    );
    b.script("m-b", vec![Reply::Text("from b".into())]);
    let gw = start(&a, &b, &c, None).await;
    for _ in 0..2 {
        assert_eq!(
            text_of(&gw.chat("chat").await.json().await.unwrap()),
            "from b"
        );
    }
    let p = gw.steward.provider("prov-a").await;
    assert_eq!(p["state"], "open", "{p}");
    // Retry-After 30 s: the window is at least that long.
    let until = chrono::DateTime::parse_from_rfc3339(p["open_until"].as_str().unwrap()).unwrap();
    assert!(
        until > chrono::Utc::now() + chrono::Duration::seconds(25),
        "{p}"
    );
    assert_eq!(a.seen().len(), 2, "no third call to a");
}

/// A target that answers with a redirect is not followed there: the try fails (and counts
/// against its breaker, with the reason), and the route's next target answers.
#[tokio::test]
async fn a_redirect_is_not_followed_but_failed_over() {
    let (a, b, c) = upstreams().await;
    b.script("m-b", vec![Reply::Text("from b".into())]);
    a.script(
        "m-a",
        vec![Reply::Status(
            307,
            String::new(),
            vec![("location".into(), b.url("/v1/chat/completions"))],
        )],
    );
    let gw = start(&a, &b, &c, None).await;
    let v: Value = gw.chat("chat").await.json().await.unwrap();
    assert_eq!(text_of(&v), "from b");
    assert_eq!(a.seen().len(), 1);
    assert_eq!(
        b.seen().len(),
        1,
        "b was asked once: by the failover, not the redirect"
    );
    let view = gw.view().await;
    assert_eq!(view["targets"]["a"]["failed"], 1, "{view}");
    assert_eq!(view["targets"]["a"]["ok"], 0, "{view}");
    let failovers = gw.steward.events_of("gateway_failover").await;
    assert_eq!(
        failovers[0]["data"]["error"],
        "HTTP 307 (a redirect, not followed)"
    );
}

#[tokio::test]
async fn a_client_error_goes_back_to_the_client_and_leaves_the_breaker_alone() {
    let (a, b, c) = upstreams().await;
    a.script(
        "m-a",
        vec![Reply::Status(
            400,
            json!({"error": {"message": "bad messages", "type": "invalid_request_error"}})
                .to_string(),
            vec![],
        )],
    );
    let gw = start(&a, &b, &c, None).await;
    for _ in 0..3 {
        let r = gw.chat("chat").await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["message"], "bad messages");
    }
    assert!(b.seen().is_empty(), "no failover on the client's own error");
    let p = gw.steward.provider("prov-a").await;
    assert_eq!(p["state"], "closed", "{p}");
}

#[tokio::test]
async fn every_target_down_is_a_503_in_the_clients_wire_format_with_retry_after() {
    let (a, b, c) = upstreams().await;
    a.script("m-a", vec![Reply::status(503)]);
    b.script("m-b", vec![Reply::status(502)]);
    let gw = start(&a, &b, &c, None).await;
    for _ in 0..2 {
        assert_eq!(
            gw.chat("chat").await.status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
    // Both breakers open now: nothing is tried, and the answer says when to come back.
    let (a_calls, b_calls) = (a.seen().len(), b.seen().len());
    let r = gw.chat("chat").await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let retry: i64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    let v: Value = r.json().await.unwrap();
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("a: skipped") && message.contains("b: skipped"),
        "{message}"
    );
    assert_eq!((a.seen().len(), b.seen().len()), (a_calls, b_calls));
}

#[tokio::test]
async fn a_stream_passes_through_and_a_cut_one_ends_with_an_error_event_not_a_retry() {
    let (a, b, c) = upstreams().await;
    a.script(
        "m-a",
        vec![
            Reply::Stream {
                deltas: vec!["Hel".into(), "lo".into()],
                cut: false,
            },
            Reply::Stream {
                deltas: vec!["par".into()],
                cut: true,
            },
        ],
    );
    b.script("m-b", vec![Reply::Text("from b".into())]);
    let gw = start(&a, &b, &c, None).await;
    let body = json!({"model": "chat", "stream": true,
                      "messages": [{"role": "user", "content": "hi"}]});
    let r = gw.post("/v1/chat/completions", body.clone()).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let text = r.text().await.unwrap();
    assert!(
        text.contains("\"Hel\"") && text.contains("\"lo\""),
        "{text}"
    );
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");

    let text = gw.post_text("/v1/chat/completions", body).await;
    assert!(text.contains("\"par\""), "{text}");
    assert!(text.contains("the upstream stream was cut"), "{text}");
    assert!(b.seen().is_empty(), "bytes went out: no retry elsewhere");
}

/// Streaming, the first chunk decides: a target that sends its answer's head and then no
/// event within its `timeout` (2 s) is failed over before the client sees a byte. A stream
/// that stalls after its first bytes ends with the wire format's error event once no chunk
/// came for that long, and is not tried elsewhere.
#[tokio::test]
async fn a_stream_without_a_first_chunk_in_time_fails_over_and_one_that_stalls_later_ends() {
    let (a, b, c) = upstreams().await;
    a.script(
        "m-a",
        vec![
            Reply::StreamHeadThenHang,
            Reply::StreamThenHang("Hel".into()),
        ],
    );
    b.script(
        "m-b",
        vec![Reply::Stream {
            deltas: vec!["from b".into()],
            cut: false,
        }],
    );
    let gw = start(&a, &b, &c, None).await;
    let body = json!({"model": "chat", "stream": true,
                      "messages": [{"role": "user", "content": "hi"}]});
    let r = gw.post("/v1/chat/completions", body.clone()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    assert!(text.contains("\"from b\""), "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    assert!(
        !text.contains("error"),
        "nothing of a reached the client: {text}"
    );
    let failovers = gw.steward.events_of("gateway_failover").await;
    assert_eq!(failovers.len(), 1, "{failovers:?}");
    assert_eq!(failovers[0]["data"]["error"], "no first chunk within 2 s");
    assert_eq!(gw.view().await["targets"]["a"]["failed"], 1);

    // Now a sends "Hel" and then nothing: the client gets "Hel", then the error event.
    let text = gw.post_text("/v1/chat/completions", body).await;
    assert!(text.contains("\"Hel\""), "{text}");
    assert!(
        text.contains("the upstream stream stalled: no chunk for 2 s"),
        "{text}"
    );
    assert_eq!(b.seen().len(), 1, "bytes went out: no retry elsewhere");
    assert_eq!(a.seen().len(), 2);
}

/// A stream's events larger than the gateway's read buffer for streams (1 KiB) arrive
/// whole, passed through or translated; each target gets its own key, marked the way its
/// wire format says, and never the client's.
#[tokio::test]
async fn large_stream_events_arrive_whole_and_each_target_gets_its_own_key() {
    let (a, b, c) = upstreams().await;
    let deltas: Vec<String> = (0..4)
        .map(|i| format!("{i}{}", "é-".repeat(1500)))
        .collect();
    let whole: String = deltas.concat();
    let stream = Reply::Stream {
        deltas: deltas.clone(),
        cut: false,
    };
    a.script("m-a", vec![stream.clone()]);
    c.script("m-c", vec![stream]);
    let gw = start(&a, &b, &c, None).await;
    for model in ["chat", "claude"] {
        let body = json!({"model": model, "stream": true,
                          "messages": [{"role": "user", "content": "hi"}]});
        let r = gw.post("/v1/chat/completions", body).await;
        assert_eq!(r.status(), StatusCode::OK, "{model}");
        let text = r.text().await.unwrap();
        let got: String = text
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter_map(|d| serde_json::from_str::<Value>(d).ok())
            .filter_map(|v| {
                v["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect();
        assert_eq!(got, whole, "{model}: the deltas, in order, whole");
        assert!(text.trim_end().ends_with("data: [DONE]"), "{model}");
    }
    let to_a = &a.seen()[0];
    assert_eq!(
        to_a.header("authorization"),
        Some(format!("Bearer {TARGET_A_KEY}").as_str())
    );
    assert_eq!(to_a.header("x-api-key"), None);
    let to_c = &c.seen()[0];
    assert_eq!(to_c.header("x-api-key"), Some(TARGET_C_KEY));
    assert_eq!(to_c.header("authorization"), None);
    assert_eq!(to_c.header("anthropic-version"), Some("2023-06-01"));
    for seen in [to_a, to_c] {
        assert!(!seen.headers.values().any(|v| v.contains(KEY)));
        assert!(seen
            .header("user-agent")
            .is_some_and(|ua| ua.starts_with("steward-gateway/")));
    }
}

/// A stopping engine does not wait for a stream that never ends: open streams get a grace
/// period, then their connections close, and the engine stops.
#[tokio::test]
async fn stopping_the_engine_closes_a_stream_that_never_ends() {
    let (a, b, c) = upstreams().await;
    // A delta every 200 ms, for ever: never stalled, never done.
    a.script("m-a", vec![Reply::Trickle("Hel".into())]);
    let gw = start(&a, &b, &c, None).await;
    let body = json!({"model": "chat", "stream": true,
                      "messages": [{"role": "user", "content": "hi"}]});
    let mut r = gw.post("/v1/chat/completions", body).await;
    assert_eq!(r.status(), StatusCode::OK);
    let first = r.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("\"Hel\""));
    let Gw {
        steward, _dir: dir, ..
    } = gw;
    let stop = tokio::time::timeout(std::time::Duration::from_secs(60), steward.stop()).await;
    assert!(stop.is_ok(), "the engine stopped with a stream open");
    let rest = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while let Ok(Some(_)) = r.chunk().await {}
    })
    .await;
    assert!(rest.is_ok(), "the client's stream ended");
    drop(dir);
}

#[tokio::test]
async fn the_anthropic_wire_goes_to_anthropic_targets_and_to_openai_ones_translated() {
    let (a, b, c) = upstreams().await;
    c.script("m-c", vec![Reply::Text("from c".into())]);
    let gw = start(&a, &b, &c, None).await;
    let r = gw
        .messages(json!({"model": "claude", "max_tokens": 10,
                      "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["content"][1]["text"], "from c");
    let seen = &c.seen()[0];
    assert_eq!(seen.path, "/v1/messages");
    assert_eq!(seen.header("anthropic-version"), Some("2023-06-01"));
    // An Anthropic client asking for an OpenAI-wire route: translated both ways.
    a.script("m-a", vec![Reply::Text("from a".into())]);
    let r = gw
        .messages(
            json!({"model": "chat", "max_tokens": 10, "system": "Be brief.",
                         "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["type"], "message");
    assert_eq!(v["content"][0]["text"], "from a");
    assert_eq!(v["stop_reason"], "end_turn");
    let sent = &a.seen()[0].body;
    assert_eq!(
        sent["messages"][0],
        json!({"role": "system", "content": "Be brief."})
    );
    assert_eq!(sent["model"], "m-a");
}

#[tokio::test]
async fn an_openai_client_fails_over_to_an_anthropic_target_streaming_or_not() {
    let (a, b, c) = upstreams().await;
    a.script("m-a", vec![Reply::status(500)]);
    c.script(
        "m-c",
        vec![
            Reply::Text("from c".into()),
            Reply::Stream {
                deltas: vec!["Hel".into(), "lo".into()],
                cut: false,
            },
        ],
    );
    let gw = start(&a, &b, &c, None).await;
    let v: Value = gw.chat("mixed").await.json().await.unwrap();
    assert_eq!(text_of(&v), "from c", "{v}");
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["usage"]["total_tokens"], 120);
    let sent = &c.seen()[0];
    assert_eq!(sent.path, "/v1/messages");
    assert!(
        sent.body["max_tokens"].as_u64().is_some(),
        "Anthropic needs max_tokens"
    );

    // Streaming: OpenAI chunks made of the Anthropic events, ending with [DONE].
    let r = gw
        .post(
            "/v1/chat/completions",
            json!({"model": "mixed", "stream": true,
                   "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let text = r.text().await.unwrap();
    let chunks: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let said: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(said, "Hello", "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");

    // A request with tools is not translated: the Anthropic target is skipped, said so.
    let r = gw
        .post(
            "/v1/chat/completions",
            json!({"model": "claude", "tools": [],
                   "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"]["message"].as_str().unwrap().contains("tools"),
        "{v}"
    );
}

/// Tools, tool calls and images pass through untouched to a target of the client's wire
/// format; when that target fails, the route's next target of the other format is
/// skipped (it would need translation), and the 503 says why.
#[tokio::test]
async fn tools_and_images_pass_through_to_a_target_of_the_same_wire_format() {
    let (a, b, c) = upstreams().await;
    a.script(
        "m-a",
        vec![Reply::Text("used the tool".into()), Reply::status(500)],
    );
    let gw = start(&a, &b, &c, None).await;
    let tools = json!([{"type": "function", "function": {"name": "lookup",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}]);
    let messages = json!([
        {"role": "user", "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
            "function": {"name": "lookup", "arguments": "{\"q\":\"x\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "a cat"}
    ]);
    let body = json!({"model": "mixed", "tools": tools, "tool_choice": "auto",
                      "messages": messages});
    let r = gw.post("/v1/chat/completions", body.clone()).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(text_of(&r.json().await.unwrap()), "used the tool");
    let seen = &a.seen()[0];
    assert_eq!(seen.body["tools"], tools);
    assert_eq!(seen.body["tool_choice"], "auto");
    assert_eq!(seen.body["messages"], messages);

    // a fails now: c (Anthropic wire) would need translation, so it is skipped.
    let r = gw.post("/v1/chat/completions", body).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let v: Value = r.json().await.unwrap();
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("a: HTTP 500") && message.contains("c: skipped"),
        "{message}"
    );
    assert!(c.seen().is_empty());
}

#[tokio::test]
async fn only_a_gateway_key_opens_it_and_bodies_are_bounded() {
    let (a, b, c) = upstreams().await;
    let gw = start(&a, &b, &c, None).await;
    let url = format!("{}/v1/chat/completions", gw.base);
    let body = json!({"model": "chat", "messages": []});
    let none = gw.client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    let wrong = gw
        .client
        .post(&url)
        .bearer_auth("nope")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    // The admin token is not a gateway key.
    let admin = gw
        .client
        .post(&url)
        .bearer_auth(common::TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), StatusCode::UNAUTHORIZED);
    let v: Value = admin.json().await.unwrap();
    assert_eq!(v["error"]["type"], "authentication_error");
    // Over max_body (64 KiB): 413 in the wire format.
    let big =
        json!({"model": "chat", "messages": [{"role": "user", "content": "x".repeat(70_000)}]});
    let r = gw.post("/v1/chat/completions", big).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "request_too_large");
    assert!(a.seen().is_empty() && b.seen().is_empty());
    assert_eq!(gw.view().await["unauthorized"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_open_breaker_lets_exactly_one_request_try_the_target() {
    let (a, b, c) = upstreams().await;
    // Two 500s open prov-a's breaker; after that, a hangs (its 2 s timeout ends the try).
    a.script(
        "m-a",
        vec![Reply::status(500), Reply::status(500), Reply::Hang],
    );
    b.script("m-b", vec![Reply::Text("from b".into())]);
    let clock = common::ManualClock::at(chrono::Utc::now());
    let gw = start_with(&a, &b, &c, None, Some(&clock)).await;
    for _ in 0..2 {
        assert_eq!(
            text_of(&gw.chat("chat").await.json().await.unwrap()),
            "from b"
        );
    }
    assert_eq!(gw.steward.provider("prov-a").await["state"], "open");
    // The window (30 s) passes: half-open. Three requests at once: one claims the trial
    // (and waits on the hanging a), the others skip a while it is in flight.
    clock.advance(chrono::Duration::seconds(31));
    let (r1, r2, r3) = tokio::join!(gw.chat("chat"), gw.chat("chat"), gw.chat("chat"));
    for r in [r1, r2, r3] {
        assert_eq!(text_of(&r.json().await.unwrap()), "from b");
    }
    assert_eq!(a.seen().len(), 3, "exactly one trial reached a");
    let view = gw.view().await;
    assert_eq!(view["targets"]["a"]["skipped"], 2, "{view}");
}

/// Established TCP connections whose local port is `port`: a loopback server's side of
/// the connections made to it.
fn established_at(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp is readable");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let local = f.get(1).and_then(|a| a.rsplit(':').next());
            f.get(3) == Some(&"01")
                && local.and_then(|p| u16::from_str_radix(p, 16).ok()) == Some(port)
        })
        .count()
}

#[tokio::test]
async fn after_a_burst_at_most_32_idle_connections_to_a_target_stay_open() {
    let (a, b, c) = upstreams().await;
    // 40 requests held at the upstream until all 40 are there: 40 connections at once.
    let burst = 40;
    let together = std::sync::Arc::new(tokio::sync::Barrier::new(burst));
    a.script("m-a", vec![Reply::Together(together, "at once".into())]);
    let gw = start(&a, &b, &c, None).await;
    let answers = futures::future::join_all((0..burst).map(|_| gw.chat("a"))).await;
    for r in answers {
        assert_eq!(r.status(), StatusCode::OK);
    }
    assert_eq!(a.seen_for("m-a").len(), burst);
    // The connections beyond 32 close; the rest stay for the next requests.
    let started = std::time::Instant::now();
    let mut open = established_at(a.port);
    while open > 32 && started.elapsed() < std::time::Duration::from_secs(10) {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        open = established_at(a.port);
    }
    assert!(
        (1..=32).contains(&open),
        "{open} connections to the target stay open after a burst of {burst}"
    );
    // A request after the burst reuses one: no new connection.
    a.script("m-a", vec![Reply::Text("again".into())]);
    let v: Value = gw.chat("a").await.json().await.unwrap();
    assert_eq!(text_of(&v), "again");
    assert_eq!(
        established_at(a.port),
        open,
        "an idle connection was reused"
    );
}

/// The gateway config of the keys-and-bodies test: one route to `a`, the default key and
/// two named ones (`editor`, `agent`), `log_bodies` when asked.
fn keyed_config(a: &FakeLlm, port: u16, log_bodies: bool) -> String {
    format!(
        r#"
[probe]
interval = "1h"

[[models]]
id = "a"
api = "openai"
url = "{a_url}"
model = "m-a"
timeout = "2s"
api_key_env = "STEWARD_TEST_TARGET_A_KEY"

[planner]
chain = ["rules"]

[gateway]
listen = "127.0.0.1:{port}"
api_key_env = "{KEY_ENV}"
log_bodies = {log_bodies}

[[gateway.keys]]
name = "editor"
env = "STEWARD_TEST_EDITOR_KEY"

[[gateway.keys]]
name = "agent"
env = "STEWARD_TEST_AGENT_KEY"

[[gateway.routes]]
model = "chat"
targets = ["a"]
"#,
        a_url = a.url("/v1"),
    )
}

/// Every file under `dir`, as bytes (the database, its WAL, anything else written there).
fn files_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path, bytes));
        }
    }
    out
}

/// Keys are named after the app they are given to, and `GET /api/gateway` counts requests
/// per app. Bodies and keys never reach the logs (even at debug level) nor the data dir;
/// with `log_bodies = true` the request and the whole answer are logged, the keys still
/// are not. The real `steward serve` binary, its stdout and stderr read whole.
#[tokio::test]
async fn named_keys_count_per_app_and_bodies_are_logged_only_when_asked() {
    const EDITOR: &str = "gw-editor-key-6a1b";
    const AGENT: &str = "gw-agent-key-3c9d";
    const PROMPT: &str = "prompt-marker-5e1f";
    const ANSWER: &str = "answer-marker-9c2d";
    let a = FakeLlm::start().await;
    a.script("m-a", vec![Reply::Text(ANSWER.into())]);
    let port = free_port().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = write_config(dir.path(), &keyed_config(&a, port, false));
    let command = common::ServeCommand::new(&config, &data)
        .env("STEWARD_LOG", "debug")
        .env(KEY_ENV, KEY)
        .env("STEWARD_TEST_EDITOR_KEY", EDITOR)
        .env("STEWARD_TEST_AGENT_KEY", AGENT)
        .env("STEWARD_TEST_TARGET_A_KEY", TARGET_A_KEY);
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/v1/chat/completions");
    let body = json!({"model": "chat", "messages": [{"role": "user", "content": PROMPT}]});
    let ask = |key: &'static str, header: &'static str| {
        let request = client.post(&url).json(&body);
        let request = if header == "x-api-key" {
            request.header("x-api-key", key)
        } else {
            request.bearer_auth(key)
        };
        async move {
            let r = request.send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            let v: Value = r.json().await.unwrap();
            assert_eq!(text_of(&v), ANSWER);
        }
    };

    let serve = command.start().await;
    ask(EDITOR, "bearer").await;
    ask(EDITOR, "x-api-key").await;
    ask(AGENT, "bearer").await;
    ask(KEY, "bearer").await;
    let view = serve.get("/api/gateway").await;
    assert_eq!(
        view["apps"],
        json!({"default": 1, "editor": 2, "agent": 1}),
        "{view}"
    );
    let (stdout, stderr) = serve.stop().await;
    let printed = format!("{stdout}{stderr}");
    assert!(printed.contains("DEBUG"), "the run logged at debug level");
    for secret in [PROMPT, ANSWER, KEY, EDITOR, AGENT, TARGET_A_KEY] {
        assert!(
            !printed.contains(secret),
            "{secret} in the logs:\n{printed}"
        );
        for (path, bytes) in files_under(&data) {
            let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!found, "{secret} in {}", path.display());
        }
    }
    assert_eq!(a.seen().len(), 4);

    // log_bodies = true: the request and the answer are in the log; the keys are not.
    write_config(dir.path(), &keyed_config(&a, port, true));
    let serve = command.start().await;
    ask(EDITOR, "bearer").await;
    let (stdout, stderr) = serve.stop().await;
    let printed = format!("{stdout}{stderr}");
    assert!(
        printed.contains(PROMPT),
        "the request is logged:\n{printed}"
    );
    assert!(printed.contains(ANSWER), "the answer is logged:\n{printed}");
    for secret in [KEY, EDITOR, AGENT, TARGET_A_KEY] {
        assert!(!printed.contains(secret), "{secret} in the logs");
    }
    for (path, bytes) in files_under(&data) {
        for marker in [PROMPT, ANSWER] {
            let found = bytes.windows(marker.len()).any(|w| w == marker.as_bytes());
            assert!(!found, "{marker} stored in {}", path.display());
        }
    }
}
