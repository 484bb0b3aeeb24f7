//! The LLM router against a real loopback server speaking the OpenAI and Anthropic wire
//! formats: fallback along the chain, the provider breakers, junk answers, timeouts, huge
//! bodies, JSON mode, and API keys that never leak.

#[path = "common/llm.rs"]
mod llm;

use chrono::{DateTime, Utc};
use llm::{FakeLlm, Reply};
use parking_lot::Mutex;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use steward::clock::{SharedClock, SystemClock, TokioClock};
use steward::config::ModelConfig;
use steward::health::breaker::{BreakerPolicy, Breakers, Transition};
use steward::planner::event::{parse_event, HealthEvent};
use steward::planner::prompt::Messages;
use steward::planner::router::{AttemptOutcome, RouteResult, Router, MAX_RESPONSE_BYTES};

// ---------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------

/// One failure trips a breaker for 60 s: every provider mark is visible at once.
fn breakers() -> Arc<Breakers> {
    Arc::new(Breakers::new(BreakerPolicy {
        failure_threshold: 1,
        backoff: Duration::from_secs(60),
        backoff_max: Duration::from_secs(60),
    }))
}

fn router(breakers: &Arc<Breakers>) -> Router {
    Router::new(Arc::clone(breakers), Arc::new(SystemClock))
}

fn openai(id: &str, url: &str, provider: Option<&str>) -> ModelConfig {
    ModelConfig {
        id: id.into(),
        api: "openai".into(),
        url: url.into(),
        model: format!("model-{id}"),
        provider: provider.map(Into::into),
        api_key_env: None,
        timeout: Duration::from_secs(5),
    }
}

fn anthropic(id: &str, url: &str, provider: Option<&str>) -> ModelConfig {
    ModelConfig {
        api: "anthropic".into(),
        ..openai(id, url, provider)
    }
}

fn chain(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

fn event() -> HealthEvent {
    parse_event(
        &json!({"type": "service_unhealthy", "node": "piha", "service": "mosquitto",
                "severity": "error", "payload": {"exit_code": 1}}),
        "health_events",
        Utc::now(),
    )
    .unwrap()
}

fn messages() -> Messages {
    Messages {
        system: "You are the remediation planner. Answer with one JSON object.".into(),
        user: "Event: service_unhealthy\nNode: piha\nService: mosquitto\n".into(),
    }
}

fn proposal() -> Value {
    json!({"action": "restart", "node": "piha", "service": "mosquitto",
           "reason": "mosquitto exited with code 1", "confidence": 0.9, "requires_human": false})
}

fn outcomes(r: &RouteResult) -> Vec<(String, AttemptOutcome)> {
    r.attempts
        .iter()
        .map(|a| (a.model.clone(), a.outcome))
        .collect()
}

fn error_of(r: &RouteResult, i: usize) -> String {
    r.attempts[i].error.clone().unwrap_or_default()
}

fn opened(r: &RouteResult, provider: &str) -> Option<DateTime<Utc>> {
    r.transitions.iter().find_map(|(p, t)| match t {
        Transition::Opened { open_until, .. } if p == provider => Some(*open_until),
        _ => None,
    })
}

use AttemptOutcome::{Failed, Invalid, Skipped, Success};

fn o(id: &str, outcome: AttemptOutcome) -> (String, AttemptOutcome) {
    (id.to_owned(), outcome)
}

// ---------------------------------------------------------------------------------------
// Fallback along the chain
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn falls_back_to_the_next_model_when_one_answers_500() {
    let llm = FakeLlm::start().await;
    llm.script("model-a", vec![Reply::status(500)]);
    llm.script("model-b", vec![Reply::json(proposal())]);
    let b = breakers();
    let models = [
        openai("a", &llm.url("/v1"), Some("local")),
        openai("b", &llm.url("/v1"), Some("cloud")),
    ];

    let r = router(&b)
        .route(&chain(&["a", "b"]), &models, &event(), &messages())
        .await;

    assert!(r.succeeded());
    assert_eq!(outcomes(&r), vec![o("a", Failed), o("b", Success)]);
    assert!(error_of(&r, 0).contains("HTTP 500"), "{}", error_of(&r, 0));
    assert_eq!(r.content, Some(proposal()));
    assert_eq!(r.model_id.as_deref(), Some("b"));
    assert_eq!(r.model_used.as_deref(), Some("model-b"));
    assert_eq!(
        serde_json::from_str::<Value>(r.raw_text.as_deref().unwrap()).unwrap(),
        proposal()
    );
    assert_eq!(r.retry_at, None);
    // The 500 marked its provider (threshold 1: open); the good answer kept the other healthy.
    assert!(opened(&r, "local").is_some(), "{:?}", r.transitions);
    assert!(!b.is_healthy("local", Utc::now()));
    assert!(b.is_healthy("cloud", Utc::now()));
    assert_eq!(b.state("cloud").unwrap().consecutive_failures, 0);
    assert!(r.latency_ms >= r.attempts.iter().map(|a| a.latency_ms).max().unwrap());
}

#[tokio::test]
async fn a_429_marks_the_provider_unhealthy() {
    let llm = FakeLlm::start().await;
    llm.script(
        "model-a",
        vec![Reply::Status(
            429,
            r#"{"error":{"message":"rate limited"}}"#.into(),
            vec![("Retry-After".into(), "120".into())],
        )],
    );
    llm.script("model-a2", vec![Reply::json(proposal())]);
    llm.script("model-b", vec![Reply::json(proposal())]);
    let b = breakers();
    let models = [
        openai("a", &llm.url("/v1"), Some("groq")),
        openai("a2", &llm.url("/v1"), Some("groq")),
        openai("b", &llm.url("/v1"), Some("ollama")),
    ];
    let before = Utc::now();

    let r = router(&b)
        .route(&chain(&["a", "a2", "b"]), &models, &event(), &messages())
        .await;

    assert_eq!(
        outcomes(&r),
        vec![o("a", Failed), o("a2", Skipped), o("b", Success)]
    );
    assert!(error_of(&r, 0).contains("429"), "{}", error_of(&r, 0));
    assert!(!b.is_healthy("groq", Utc::now()));
    // Retry-After (120 s) is longer than the 60 s backoff, so it wins.
    let until = opened(&r, "groq").expect("an Opened transition for groq");
    assert!(
        until >= before + chrono::Duration::seconds(119),
        "{until} vs {before}"
    );
    assert_eq!(b.state("groq").unwrap().open_until, Some(until));
    // The other model of the same provider was not called at all.
    assert!(
        error_of(&r, 1).contains("provider groq breaker open until"),
        "{}",
        error_of(&r, 1)
    );
    assert!(llm.seen_for("model-a2").is_empty());
}

#[tokio::test]
async fn a_model_whose_breaker_is_open_is_skipped_and_retry_at_is_its_half_open_time() {
    let llm = FakeLlm::start().await;
    llm.script("model-a", vec![Reply::json(proposal())]);
    llm.script("model-b", vec![Reply::status(503)]);
    llm.script("model-c", vec![Reply::json(proposal())]);
    let b = breakers();
    let now = Utc::now();
    b.mark_unhealthy("ollama", "probe failed", now);
    b.mark_unhealthy_with(
        "slow",
        "probe failed",
        steward::health::breaker::FailureHints {
            retry_after: Some(Duration::from_secs(600)),
        },
        now,
    );
    let ollama_until = b.state("ollama").unwrap().open_until.unwrap();
    let models = [
        openai("c", &llm.url("/v1"), Some("slow")),
        openai("a", &llm.url("/v1"), Some("ollama")),
        openai("b", &llm.url("/v1"), Some("cloud")),
    ];

    let r = router(&b)
        .route(&chain(&["c", "a", "b"]), &models, &event(), &messages())
        .await;

    assert!(!r.succeeded());
    assert_eq!(
        outcomes(&r),
        vec![o("c", Skipped), o("a", Skipped), o("b", Failed)]
    );
    let expected = format!(
        "provider ollama breaker open until {}",
        ollama_until.format("%H:%M:%S")
    );
    assert!(
        error_of(&r, 1).starts_with(&expected),
        "{} vs {expected}",
        error_of(&r, 1)
    );
    // The earliest half-open time among the skipped models.
    assert_eq!(r.retry_at, Some(ollama_until));
    assert!(llm.seen_for("model-a").is_empty() && llm.seen_for("model-c").is_empty());
    assert_eq!(r.attempts[0].latency_ms, 0);
    assert!(
        r.failure_summary().contains("breaker open"),
        "{}",
        r.failure_summary()
    );
}

#[tokio::test]
async fn a_half_open_provider_gets_one_trial_and_a_good_answer_closes_it() {
    let llm = FakeLlm::start().await;
    llm.script("model-a", vec![Reply::json(proposal())]);
    let b = breakers();
    let clock = TokioClock::starting_at(Utc::now());
    let shared: SharedClock = Arc::new(clock.clone());
    b.mark_unhealthy("ollama", "down", shared.now());
    let router = Router::new(Arc::clone(&b), shared);
    let models = [openai("a", &llm.url("/v1"), Some("ollama"))];

    let r = router
        .route(&chain(&["a"]), &models, &event(), &messages())
        .await;
    assert_eq!(outcomes(&r), vec![o("a", Skipped)]);

    // The laptop slept past the window: the breaker is half-open and the call is its trial.
    clock.jump(Duration::from_secs(61));
    let r = router
        .route(&chain(&["a"]), &models, &event(), &messages())
        .await;
    assert_eq!(outcomes(&r), vec![o("a", Success)]);
    let ts: Vec<&Transition> = r.transitions.iter().map(|(_, t)| t).collect();
    assert_eq!(ts, vec![&Transition::HalfOpened, &Transition::Closed]);
    assert!(b.state("ollama").unwrap().open_until.is_none());
}

// ---------------------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn junk_counts_against_the_model_not_the_provider() {
    let llm = FakeLlm::start().await;
    llm.script(
        "model-prose",
        vec![Reply::Text(
            "The mosquitto broker should be restarted.".into(),
        )],
    );
    let mut bad = proposal();
    bad["confidence"] = json!(1.4);
    llm.script("model-bad", vec![Reply::json(bad)]);
    llm.script("model-good", vec![Reply::json(proposal())]);
    let b = breakers();
    // All three on the same provider, whose breaker trips on one failure.
    let models = [
        openai("prose", &llm.url("/v1"), Some("ollama")),
        openai("bad", &llm.url("/v1"), Some("ollama")),
        openai("good", &llm.url("/v1"), Some("ollama")),
    ];
    let router = router(&b);

    let r = router
        .route(
            &chain(&["prose", "bad", "good"]),
            &models,
            &event(),
            &messages(),
        )
        .await;

    assert_eq!(
        outcomes(&r),
        vec![o("prose", Invalid), o("bad", Invalid), o("good", Success)]
    );
    assert!(
        error_of(&r, 0).contains("no JSON object"),
        "{}",
        error_of(&r, 0)
    );
    assert_eq!(
        error_of(&r, 1),
        "confidence: 1.4 is greater than the maximum of 1"
    );
    assert!(b.is_healthy("ollama", Utc::now()));
    assert_eq!(b.state("ollama").unwrap().consecutive_failures, 0);
    assert!(r.transitions.is_empty(), "{:?}", r.transitions);

    let stats = router.model_stats();
    assert_eq!(stats["prose"].invalid, 1);
    assert_eq!(stats["bad"].invalid, 1);
    assert_eq!(
        stats["bad"].last_error.as_deref(),
        Some("confidence: 1.4 is greater than the maximum of 1")
    );
    assert_eq!(stats["good"].success, 1);
    assert_eq!(stats["good"].invalid + stats["good"].failed, 0);

    // Counters add up over events.
    router
        .route(&chain(&["prose", "good"]), &models, &event(), &messages())
        .await;
    assert_eq!(router.model_stats()["prose"].invalid, 2);
    assert_eq!(router.model_stats()["good"].success, 2);
}

#[tokio::test]
async fn fenced_and_prose_answers_are_accepted() {
    let llm = FakeLlm::start().await;
    let fenced = format!("```json\n{:#}\n```", proposal());
    let prose = format!(
        "Looking at the payload (exit code {{1}}), I suggest:\n{}\nThis should bring it back.",
        proposal()
    );
    llm.script(
        "model-a",
        vec![Reply::Text(fenced.clone()), Reply::Text(prose.clone())],
    );
    let b = breakers();
    let models = [openai("a", &llm.url("/v1"), None)];
    let router = router(&b);

    let r = router
        .route(&chain(&["a"]), &models, &event(), &messages())
        .await;
    assert_eq!(outcomes(&r), vec![o("a", Success)]);
    assert_eq!(r.content, Some(proposal()));
    assert_eq!(
        r.raw_text.as_deref(),
        Some(fenced.as_str()),
        "raw_text is the answer as given"
    );

    let r = router
        .route(&chain(&["a"]), &models, &event(), &messages())
        .await;
    assert_eq!(outcomes(&r), vec![o("a", Success)]);
    assert_eq!(r.content, Some(proposal()));
    assert_eq!(r.raw_text.as_deref(), Some(prose.as_str()));
}

#[tokio::test]
async fn a_huge_body_is_refused() {
    let llm = FakeLlm::start().await;
    llm.script(
        "model-len",
        vec![Reply::Huge {
            bytes: MAX_RESPONSE_BYTES + 1024,
            chunked: false,
        }],
    );
    llm.script(
        "model-chunked",
        vec![Reply::Huge {
            bytes: 4 * MAX_RESPONSE_BYTES,
            chunked: true,
        }],
    );
    llm.script("model-ok", vec![Reply::json(proposal())]);
    let b = breakers();
    let models = [
        openai("len", &llm.url("/v1"), Some("p1")),
        anthropic("chunked", &llm.url(""), Some("p2")),
        openai("ok", &llm.url("/v1"), Some("p3")),
    ];

    let r = router(&b)
        .route(
            &chain(&["len", "chunked", "ok"]),
            &models,
            &event(),
            &messages(),
        )
        .await;

    assert_eq!(
        outcomes(&r),
        vec![o("len", Failed), o("chunked", Failed), o("ok", Success)]
    );
    assert_eq!(error_of(&r, 0), "response larger than 256 KiB");
    assert_eq!(error_of(&r, 1), "response larger than 256 KiB");
    assert!(!b.is_healthy("p1", Utc::now()) && !b.is_healthy("p2", Utc::now()));
}

#[tokio::test]
async fn a_hanging_model_times_out_and_the_next_is_asked() {
    let llm = FakeLlm::start().await;
    llm.script("model-slow", vec![Reply::Hang]);
    llm.script("model-fast", vec![Reply::json(proposal())]);
    let b = breakers();
    let mut slow = openai("slow", &llm.url("/v1"), Some("ollama"));
    slow.timeout = Duration::from_millis(300);
    let models = [slow, anthropic("fast", &llm.url(""), Some("cloud"))];

    let r = router(&b)
        .route(&chain(&["slow", "fast"]), &models, &event(), &messages())
        .await;

    assert_eq!(outcomes(&r), vec![o("slow", Failed), o("fast", Success)]);
    assert!(error_of(&r, 0).contains("timed out"), "{}", error_of(&r, 0));
    assert!(error_of(&r, 0).contains("300ms"), "{}", error_of(&r, 0));
    assert!(r.attempts[0].latency_ms >= 300);
    assert!(
        !b.is_healthy("ollama", Utc::now()),
        "a timeout counts against the provider"
    );
    assert_eq!(llm.seen_for("model-slow").len(), 1);
}

// ---------------------------------------------------------------------------------------
// The chain
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn each_model_is_tried_at_most_once() {
    let llm = FakeLlm::start().await;
    llm.script("model-a", vec![Reply::status(500)]);
    llm.script("model-b", vec![Reply::status(502)]);
    let b = breakers();
    let models = [
        openai("a", &llm.url("/v1"), None),
        openai("b", &llm.url("/v1"), None),
    ];

    let r = router(&b)
        .route(
            &chain(&["a", "a", "b", "a"]),
            &models,
            &event(),
            &messages(),
        )
        .await;

    assert!(!r.succeeded());
    assert_eq!(
        outcomes(&r),
        vec![
            o("a", Failed),
            o("a", Skipped),
            o("b", Failed),
            o("a", Skipped)
        ]
    );
    assert_eq!(error_of(&r, 1), "already tried");
    assert_eq!(error_of(&r, 3), "already tried");
    assert_eq!(llm.seen_for("model-a").len(), 1);
    assert_eq!(llm.seen_for("model-b").len(), 1);
    assert_eq!(r.retry_at, None, "a duplicate is not a breaker skip");
}

#[tokio::test]
async fn every_model_failing_says_so_with_all_attempts() {
    let llm = FakeLlm::start().await;
    llm.script("model-a", vec![Reply::status(500)]);
    llm.script("model-b", vec![Reply::Text("no idea, sorry".into())]);
    llm.script("model-g", vec![Reply::Garbage]);
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let b = breakers();
    let models = [
        openai("a", &llm.url("/v1"), Some("p-a")),
        anthropic("b", &llm.url("/v1"), Some("p-b")),
        openai(
            "dead",
            &format!("http://127.0.0.1:{dead}/v1"),
            Some("p-dead"),
        ),
        openai("g", &llm.url("/v1"), Some("p-g")),
    ];

    let r = router(&b)
        .route(
            &chain(&["a", "b", "ghost", "dead", "g"]),
            &models,
            &event(),
            &messages(),
        )
        .await;

    assert!(!r.succeeded());
    assert_eq!(r.content, None);
    assert_eq!(r.model_id, None);
    assert_eq!(r.model_used, None);
    assert_eq!(
        outcomes(&r),
        vec![
            o("a", Failed),
            o("b", Invalid),
            o("ghost", Failed),
            o("dead", Failed),
            o("g", Failed)
        ]
    );
    assert_eq!(error_of(&r, 2), "no model with this id");
    assert!(error_of(&r, 3).contains("connect"), "{}", error_of(&r, 3));
    assert!(
        error_of(&r, 4).contains("unreadable"),
        "{}",
        error_of(&r, 4)
    );
    assert_eq!(r.retry_at, None, "nothing was skipped");
    let summary = r.failure_summary();
    for part in [
        "a failed (http 500",
        "b invalid",
        "ghost failed (no model with this id)",
        "dead failed",
        "g failed",
    ] {
        assert!(summary.contains(part), "{part:?} not in {summary}");
    }
    // Provider failures marked their breakers; junk did not.
    for p in ["p-a", "p-dead", "p-g"] {
        assert!(!b.is_healthy(p, Utc::now()), "{p}");
    }
    assert!(b.is_healthy("p-b", Utc::now()));
}

#[tokio::test]
async fn the_rules_planner_answers_when_no_llm_is_configured() {
    let b = breakers();
    let router = router(&b);

    let r = router
        .route(&chain(&["rules"]), &[], &event(), &messages())
        .await;

    assert_eq!(outcomes(&r), vec![o("rules", Success)]);
    assert_eq!(r.model_id.as_deref(), Some("rules"));
    assert_eq!(r.model_used.as_deref(), Some("rules"));
    let content = r.content.clone().unwrap();
    assert_eq!(content["action"], "restart");
    assert_eq!(content["node"], "piha");
    assert_eq!(
        serde_json::from_str::<Value>(r.raw_text.as_deref().unwrap()).unwrap(),
        content
    );

    // And as the last resort after a failing model.
    let llm = FakeLlm::start().await;
    llm.script("model-a", vec![Reply::status(500)]);
    let models = [openai("a", &llm.url("/v1"), None)];
    let r = router
        .route(&chain(&["a", "rules"]), &models, &event(), &messages())
        .await;
    assert_eq!(outcomes(&r), vec![o("a", Failed), o("rules", Success)]);
    assert_eq!(r.model_used.as_deref(), Some("rules"));
}

// ---------------------------------------------------------------------------------------
// Wire formats
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn openai_wire_format() {
    let llm = FakeLlm::start().await;
    llm.script("qwen2.5:7b", vec![Reply::json(proposal())]);
    let b = breakers();
    let key_env = "STEWARD_TEST_ROUTER_OPENAI_KEY_5c1d";
    std::env::set_var(key_env, "sk-openai-test-key");
    let mut m = openai("local", &llm.url("/v1/"), Some("ollama"));
    m.model = "qwen2.5:7b".into();
    m.api_key_env = Some(key_env.into());

    let r = router(&b)
        .route(&chain(&["local"]), &[m], &event(), &messages())
        .await;

    assert_eq!(r.model_used.as_deref(), Some("qwen2.5:7b"));
    let seen = llm.seen();
    assert_eq!(seen.len(), 1);
    let req = &seen[0];
    assert_eq!(req.path, "/v1/chat/completions", "no double slash");
    assert_eq!(
        req.header("authorization"),
        Some("Bearer sk-openai-test-key")
    );
    assert!(req
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    assert_eq!(req.body["model"], "qwen2.5:7b");
    assert_eq!(req.body["messages"], messages().as_chat());
    assert_eq!(req.body["temperature"], 0);
    assert_eq!(req.body["response_format"], json!({"type": "json_object"}));
    assert!(req.header("x-api-key").is_none());
}

#[tokio::test]
async fn anthropic_wire_format() {
    let llm = FakeLlm::start().await;
    llm.script(
        "claude-haiku-4-5-20251001",
        vec![Reply::Text(format!("Here you go: {}", proposal()))],
    );
    let b = breakers();
    let key_env = "STEWARD_TEST_ROUTER_ANTHROPIC_KEY_9e2a";
    std::env::set_var(key_env, "sk-ant-test-key");
    let mut bare = anthropic("claude", &llm.url(""), Some("anthropic"));
    bare.model = "claude-haiku-4-5-20251001".into();
    bare.api_key_env = Some(key_env.into());
    let with_v1 = ModelConfig {
        id: "claude-v1".into(),
        url: llm.url("/v1/"),
        ..bare.clone()
    };
    let router = router(&b);

    let r = router
        .route(
            &chain(&["claude"]),
            &[bare, with_v1.clone()],
            &event(),
            &messages(),
        )
        .await;
    let r2 = router
        .route(&chain(&["claude-v1"]), &[with_v1], &event(), &messages())
        .await;

    for r in [&r, &r2] {
        assert_eq!(outcomes(r).len(), 1);
        assert_eq!(r.attempts[0].outcome, Success, "{:?}", r.attempts);
        assert_eq!(
            r.content,
            Some(proposal()),
            "only the text blocks are the answer"
        );
        assert_eq!(r.model_used.as_deref(), Some("claude-haiku-4-5-20251001"));
    }
    let seen = llm.seen();
    assert_eq!(seen.len(), 2);
    for req in &seen {
        assert_eq!(req.path, "/v1/messages");
        assert_eq!(req.header("x-api-key"), Some("sk-ant-test-key"));
        assert_eq!(req.header("anthropic-version"), Some("2023-06-01"));
        assert!(req.header("authorization").is_none());
        assert_eq!(req.body["model"], "claude-haiku-4-5-20251001");
        assert_eq!(req.body["max_tokens"], 1024);
        assert_eq!(req.body["system"], messages().system.as_str());
        assert_eq!(
            req.body["messages"],
            json!([{"role": "user", "content": messages().user}])
        );
        assert!(req.body.get("response_format").is_none());
    }
    assert!(b.is_healthy("anthropic", Utc::now()));
}

#[tokio::test]
async fn openai_json_mode_falls_back_when_unsupported() {
    let llm = FakeLlm::start().await;
    llm.script("model-old", vec![Reply::NoJsonMode(proposal().to_string())]);
    let b = breakers();
    let models = [openai("old", &llm.url("/v1"), Some("llamacpp"))];
    let router = router(&b);

    let r = router
        .route(&chain(&["old"]), &models, &event(), &messages())
        .await;

    assert_eq!(outcomes(&r), vec![o("old", Success)]);
    assert_eq!(r.content, Some(proposal()));
    let seen = llm.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[0].body["response_format"],
        json!({"type": "json_object"})
    );
    assert!(seen[1].body.get("response_format").is_none());
    assert_eq!(seen[1].body["messages"], seen[0].body["messages"]);
    assert!(
        b.is_healthy("llamacpp", Utc::now()),
        "a 400 for JSON mode is not a provider failure"
    );
    assert!(r.transitions.is_empty());

    // Remembered: the next event asks without JSON mode straight away.
    let r = router
        .route(&chain(&["old"]), &models, &event(), &messages())
        .await;
    assert_eq!(outcomes(&r), vec![o("old", Success)]);
    let seen = llm.seen();
    assert_eq!(seen.len(), 3);
    assert!(seen[2].body.get("response_format").is_none());
}

#[tokio::test]
async fn a_401_or_404_is_a_config_problem_and_leaves_the_breaker_alone() {
    let llm = FakeLlm::start().await;
    llm.script(
        "model-a",
        vec![Reply::Status(
            401,
            r#"{"error":{"message":"invalid api key"}}"#.into(),
            vec![],
        )],
    );
    let b = breakers();
    let mut a = openai("a", &llm.url("/v1"), Some("cloud"));
    a.api_key_env = Some("STEWARD_TEST_ROUTER_UNSET_KEY_77f0".into());
    // Wrong path: the fake has nothing at /v2/…
    let wrong_url = openai("b", &llm.url("/v2"), Some("cloud"));
    // A model name the server does not know: the fake answers 404.
    let unknown_name = anthropic("c", &llm.url(""), Some("cloud"));

    let r = router(&b)
        .route(
            &chain(&["a", "b", "c"]),
            &[a, wrong_url, unknown_name],
            &event(),
            &messages(),
        )
        .await;

    assert_eq!(
        outcomes(&r),
        vec![o("a", Failed), o("b", Failed), o("c", Failed)]
    );
    assert!(
        error_of(&r, 0).starts_with("HTTP 401"),
        "{}",
        error_of(&r, 0)
    );
    assert!(
        error_of(&r, 0).contains("STEWARD_TEST_ROUTER_UNSET_KEY_77f0 is not set"),
        "{}",
        error_of(&r, 0)
    );
    assert!(
        error_of(&r, 1).starts_with("HTTP 404"),
        "{}",
        error_of(&r, 1)
    );
    assert!(
        error_of(&r, 2).starts_with("HTTP 404"),
        "{}",
        error_of(&r, 2)
    );
    assert!(b.is_healthy("cloud", Utc::now()));
    assert!(b.state("cloud").is_none(), "the breaker was never touched");
    assert!(r.transitions.is_empty());
    assert!(
        llm.seen()[0].header("authorization").is_none(),
        "no key, no header"
    );
}

// ---------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------

/// Collects everything `tracing` writes while it is installed (current thread).
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn api_key_is_sent_and_never_logged_or_returned() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // Global, not scoped: a scoped subscriber can miss events when another test thread
    // registers the same callsites at the same moment (tracing caches their interest).
    // Only this test installs one; the others' logs land here too, which only widens the
    // check that the key is never logged.
    tracing::subscriber::set_global_default(subscriber).expect("only this test sets one");
    tracing::callsite::rebuild_interest_cache();

    let key = "sk-steward-secret-3f9a1c77b2";
    let key_env = "STEWARD_TEST_ROUTER_SECRET_KEY_3f9a";
    std::env::set_var(key_env, key);
    let llm = FakeLlm::start().await;
    // A server that echoes the key back in its errors, and a junk answer quoting it.
    let echo =
        json!({"error": {"message": format!("Incorrect API key provided: {key}")}}).to_string();
    llm.script("model-a", vec![Reply::Status(401, echo.clone(), vec![])]);
    llm.script("model-b", vec![Reply::Status(500, echo, vec![])]);
    llm.script("model-c", vec![Reply::Text(format!("your key is {key}"))]);
    llm.script("model-d", vec![Reply::json(proposal())]);
    let b = breakers();
    let models: Vec<ModelConfig> = ["a", "b", "c"]
        .iter()
        .map(|id| ModelConfig {
            api_key_env: Some(key_env.into()),
            ..openai(id, &llm.url("/v1"), Some(&format!("p-{id}")))
        })
        .chain([ModelConfig {
            api_key_env: Some(key_env.into()),
            ..anthropic("d", &llm.url(""), Some("p-d"))
        }])
        .collect();
    let router = router(&b);

    let r = router
        .route(
            &chain(&["a", "b", "c", "d"]),
            &models,
            &event(),
            &messages(),
        )
        .await;

    assert_eq!(
        outcomes(&r),
        vec![
            o("a", Failed),
            o("b", Failed),
            o("c", Invalid),
            o("d", Success)
        ]
    );
    // Sent where it belongs.
    let seen = llm.seen();
    assert_eq!(
        seen[0].header("authorization"),
        Some(format!("Bearer {key}").as_str())
    );
    assert_eq!(seen[3].header("x-api-key"), Some(key));
    // Never returned, stored or logged.
    assert!(
        error_of(&r, 0).contains("[redacted]"),
        "{}",
        error_of(&r, 0)
    );
    let returned = format!(
        "{r:?} {} {:?} {:?}",
        serde_json::to_string(&r).unwrap(),
        router.model_stats(),
        b.snapshot()
    );
    assert!(!returned.contains(key), "{returned}");
    let logs = String::from_utf8_lossy(&capture.0.lock()).to_string();
    assert!(logs.contains("LLM attempt"), "the capture works: {logs}");
    assert!(!logs.contains(key), "{logs}");
}
