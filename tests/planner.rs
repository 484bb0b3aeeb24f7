//! The planner end to end (seed 001's `TestPlannerHandleEvent`, ported): events posted to
//! the real HTTP API, a model served by a real loopback server in the OpenAI wire format,
//! proposals in the real SQLite file and in real action/event directories.

mod common;

use common::*;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A plan by a model on loopback (or the rules planner) is done within moments.
const SOON: Duration = Duration::from_secs(10);

/// A chat-completions answer whose content is `content`.
fn completion(content: &str) -> Reply {
    Reply::json(
        200,
        &json!({"id": "c1", "object": "chat.completion",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": content}}]})
        .to_string(),
    )
}

/// A model server that answers every chat completion with `content`, counting calls.
async fn model_answering(content: Value) -> (Service, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let text = content.to_string();
    let svc = Service::start(Mode::Answer(Arc::new(move |head: &str| {
        if head.starts_with("POST /v1/chat/completions") {
            c.fetch_add(1, Ordering::SeqCst);
            completion(&text)
        } else {
            Reply::json(404, "{}")
        }
    })))
    .await;
    (svc, calls)
}

fn answer(action: &str, confidence: f64, requires_human: bool) -> Value {
    json!({"action": action, "service": "mosquitto", "node": "piha",
           "reason": "Container is stopped", "confidence": confidence,
           "requires_human": requires_human})
}

/// A config with one model (`local`) at `model_url`, then `extra`.
fn planner_config(dir: &Path, model_url: Option<&str>, model_name: &str, extra: &str) -> String {
    let model = match model_url {
        Some(url) => format!(
            "[[models]]\nid = \"local\"\napi = \"openai\"\nurl = \"{url}\"\nmodel = \"{model_name}\"\ntimeout = \"5s\"\n\n"
        ),
        None => String::new(),
    };
    let chain = if model_url.is_some() {
        "[\"local\"]"
    } else {
        "[\"rules\"]"
    };
    // piha/mosquitto is watched (an enabled provider, probed on demand only): a fix for a
    // target no enabled provider watches always waits for a person.
    format!(
        "[[providers]]\nid = \"mqtt\"\nkind = \"tcp\"\naddress = \"127.0.0.1:9\"\nnode = \"piha\"\nservice = \"mosquitto\"\ninterval = \"1h\"\nfailure_threshold = 100\n\n\
         [planner]\ncooldown = \"5m\"\nconfidence_threshold = 0.7\nprotected_nodes = [\"chelsty*\"]\n\
         chain = {chain}\nactions_dir = \"{}\"\nevents_dir = \"{}\"\n{extra}\n\n{model}",
        dir.join("actions").display(),
        dir.join("events").display(),
    )
}

fn unhealthy(node: &str, service: &str) -> Value {
    json!({"type": "service_unhealthy", "node": node, "service": service,
           "severity": "error", "payload": {"status": "exited"}})
}

async fn post_event(s: &Steward, event: Value) -> Value {
    let r = s.post("/api/events", event).await;
    assert_eq!(r.status(), 202, "event accepted");
    r.json().await.unwrap()
}

async fn proposals(s: &Steward) -> Vec<Value> {
    s.get("/api/proposals").await.as_array().unwrap().clone()
}

/// The one proposal, once planning is over (the timeline event comes after the files).
async fn one_proposal(s: &Steward) -> Value {
    expect_update(s.api(), "a proposal", SOON, || async {
        !s.events_of("proposal_created").await.is_empty()
    })
    .await;
    let all = proposals(s).await;
    assert_eq!(all.len(), 1, "{all:#?}");
    all[0].clone()
}

fn files_in(dir: &Path) -> Vec<std::path::PathBuf> {
    fn walk(d: &Path, out: &mut Vec<std::path::PathBuf>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out)
            } else {
                out.push(p)
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out
}

struct Setup {
    dir: tempfile::TempDir,
    s: Steward,
    calls: Arc<AtomicUsize>,
    _model: Service,
}

async fn setup(content: Value, model_name: &str, extra: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let (model, calls) = model_answering(content).await;
    let cfg = write_config(
        dir.path(),
        &planner_config(dir.path(), Some(&model.url("/v1")), model_name, extra),
    );
    let s = Steward::start(&cfg, &dir.path().join("data")).await;
    Setup {
        dir,
        s,
        calls,
        _model: model,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_benign_event_is_recorded_but_not_planned() {
    let t = setup(answer("restart", 0.9, false), "qwen2.5:7b", "").await;
    let a = post_event(
        &t.s,
        json!({"type": "service_healthy", "node": "piha", "service": "mosquitto"}),
    )
    .await;
    assert_eq!(a["decision"], "benign");
    expect_update(t.s.api(), "recorded in the timeline", SOON, || async {
        !t.s.events_of("health_event").await.is_empty()
    })
    .await;
    t.s.api().planning_idle().await;
    assert_eq!(t.calls.load(Ordering::SeqCst), 0, "no model was asked");
    assert!(proposals(&t.s).await.is_empty());
    assert!(files_in(&t.dir.path().join("actions")).is_empty());
    t.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_answer_becomes_a_pending_proposal_with_its_action_file() {
    let t = setup(answer("restart", 0.9, false), "qwen2.5:7b", "").await;
    let a = post_event(&t.s, unhealthy("piha", "mosquitto")).await;
    assert_eq!(a["decision"], "plan");
    assert_eq!(a["svc_key"], "piha/mosquitto");
    let p = one_proposal(&t.s).await;
    assert_eq!(p["type"], "container_restart");
    assert_eq!(p["payload"]["action"], "restart");
    assert_eq!(p["status"], "pending");
    assert_eq!(p["risk_level"], "low");
    assert_eq!(p["requires_human"], false);
    assert_eq!(p["llm_model"], "qwen2.5:7b");
    assert_eq!(p["llm_attempts"][0]["model"], "local");
    assert_eq!(p["llm_attempts"][0]["outcome"], "success");
    assert_eq!(p["source_event"]["type"], "service_unhealthy");
    assert_eq!(p["source_event"]["channel"], "api");
    let id = p["action_id"].as_str().unwrap();
    assert!(id.starts_with("plan-piha-mosquitto-"), "{id}");

    // The action file: same JSON, complete.
    let file = t.dir.path().join("actions").join(format!("{id}.json"));
    let on_disk: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(on_disk["action_id"], p["action_id"]);
    assert_eq!(on_disk["status"], "pending");
    assert_eq!(on_disk["type"], "container_restart");
    assert_eq!(
        files_in(&t.dir.path().join("actions")).len(),
        1,
        "no temp files left"
    );

    // One remediation_started event under events/YYYY-MM-DD/<node>/ with the id.
    let events = files_in(&t.dir.path().join("events"));
    assert_eq!(events.len(), 1, "{events:?}");
    let rel: Vec<_> = events[0]
        .strip_prefix(t.dir.path().join("events"))
        .unwrap()
        .iter()
        .map(|c| c.to_string_lossy().to_string())
        .collect();
    assert_eq!(rel.len(), 3, "{rel:?}");
    assert_eq!(rel[1], t.s.api().config().node);
    let e: Value = serde_json::from_slice(&std::fs::read(&events[0]).unwrap()).unwrap();
    assert_eq!(e["type"], "remediation_started");
    assert_eq!(e["service"], "mosquitto");
    assert_eq!(e["correlation_id"], id);

    // The timeline and the proposal by id.
    assert_eq!(t.s.events_of("proposal_created").await.len(), 1);
    assert_eq!(
        t.s.get(&format!("/api/proposals/{id}")).await["action_id"],
        id
    );
    assert_eq!(t.s.get("/api/status").await["pending_proposals"], 1);
    t.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redeploy_is_guarded() {
    let t = setup(answer("redeploy", 0.9, false), "qwen2.5:7b", "").await;
    post_event(&t.s, unhealthy("piha", "mosquitto")).await;
    let p = one_proposal(&t.s).await;
    assert_eq!(p["type"], "redeploy");
    assert_eq!(p["risk_level"], "guarded");
    t.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignore_writes_nothing_but_records_a_cooldown() {
    let mut a = answer("ignore", 0.9, false);
    a["reason"] = json!("Transient glitch");
    let t = setup(a, "qwen2.5:7b", "").await;
    post_event(&t.s, unhealthy("piha", "mosquitto")).await;
    expect_update(t.s.api(), "the ignore is recorded", SOON, || async {
        !t.s.events_of("plan_ignored").await.is_empty()
    })
    .await;
    assert!(proposals(&t.s).await.is_empty());
    assert!(files_in(&t.dir.path().join("actions")).is_empty());
    assert!(files_in(&t.dir.path().join("events")).is_empty());
    let again = post_event(&t.s, unhealthy("piha", "mosquitto")).await;
    assert_eq!(again["decision"], "cooldown");
    assert_eq!(t.calls.load(Ordering::SeqCst), 1);
    t.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cooldown_blocks_a_duplicate_and_survives_a_restart() {
    let t = setup(answer("restart", 0.9, false), "qwen2.5:7b", "").await;
    post_event(&t.s, unhealthy("piha", "mosquitto")).await;
    one_proposal(&t.s).await;
    let dup = post_event(&t.s, unhealthy("piha", "mosquitto")).await;
    assert_eq!(dup["decision"], "cooldown");
    let left = dup["cooldown_remaining_secs"].as_f64().unwrap();
    assert!(left > 0.0 && left <= 300.0, "{left}");
    // Another key is not in cooldown.
    assert_eq!(
        post_event(&t.s, unhealthy("solaria", "ollama")).await["decision"],
        "plan"
    );
    t.s.api().planning_idle().await;
    assert_eq!(
        t.calls.load(Ordering::SeqCst),
        2,
        "the duplicate never reached the model"
    );

    let (cfg, data) = (t.s.config_path.clone(), t.s.data_dir.clone());
    t.s.stop().await;
    // A crash took the action files: the restart writes the pending ones again.
    std::fs::remove_dir_all(t.dir.path().join("actions")).unwrap();
    let s = Steward::start(&cfg, &data).await;
    assert_eq!(
        files_in(&t.dir.path().join("actions")).len(),
        2,
        "action files rewritten"
    );
    assert_eq!(
        post_event(&s, unhealthy("piha", "mosquitto")).await["decision"],
        "cooldown"
    );
    assert_eq!(
        s.get("/api/status").await["pending_proposals"],
        2,
        "pending survives too"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_failure_writes_nothing_and_records_no_cooldown() {
    let dir = tempfile::tempdir().unwrap();
    let model = Service::start(Mode::Answer(Arc::new(|_| {
        Reply::json(500, r#"{"error":"boom"}"#)
    })))
    .await;
    let cfg = write_config(
        dir.path(),
        &planner_config(dir.path(), Some(&model.url("/v1")), "qwen2.5:7b", ""),
    );
    let s = Steward::start(&cfg, &dir.path().join("data")).await;
    post_event(&s, unhealthy("piha", "mosquitto")).await;
    expect_update(s.api(), "the failure is recorded", SOON, || async {
        !s.events_of("planning_failed").await.is_empty()
    })
    .await;
    let failed = &s.events_of("planning_failed").await[0];
    assert!(
        failed["message"].as_str().unwrap().contains("local"),
        "{failed}"
    );
    assert!(proposals(&s).await.is_empty());
    assert!(files_in(&dir.path().join("actions")).is_empty());
    s.api().planning_idle().await;
    // No cooldown: the next event is planned again.
    assert_eq!(
        post_event(&s, unhealthy("piha", "mosquitto")).await["decision"],
        "plan"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requires_human_from_the_model_is_kept() {
    let t = setup(answer("restart", 0.6, true), "qwen2.5:7b", "").await;
    post_event(&t.s, unhealthy("piha", "mosquitto")).await;
    let p = one_proposal(&t.s).await;
    assert_eq!(p["requires_human"], true);
    t.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_name_is_recorded_in_the_proposal() {
    let t = setup(
        answer("restart", 0.9, false),
        "claude-haiku-4-5-20251001",
        "",
    )
    .await;
    post_event(&t.s, unhealthy("piha", "mosquitto")).await;
    assert_eq!(
        one_proposal(&t.s).await["llm_model"],
        "claude-haiku-4-5-20251001"
    );
    t.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rules_hold_whatever_the_model_says() {
    // The model wants to restart a protected node's service, confidently, and names
    // another target.
    let mut a = answer("restart", 0.95, false);
    a["node"] = json!("solaria");
    let t = setup(a, "qwen2.5:7b", "").await;
    post_event(&t.s, unhealthy("chelsty-infra", "mosquitto")).await;
    let p = one_proposal(&t.s).await;
    assert_eq!(
        p["node"], "chelsty-infra",
        "the event's target, not the model's"
    );
    assert_eq!(p["requires_human"], true);
    let overrides: Vec<&str> = p["overrides"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap())
        .collect();
    assert!(
        overrides.contains(&"requires_human forced: node matches protected 'chelsty*'"),
        "{overrides:?}"
    );
    assert!(
        overrides
            .iter()
            .any(|o| o.starts_with("target ignored: the model named solaria/mosquitto")),
        "{overrides:?}"
    );

    // disk_pressure is notify, whatever the model said.
    post_event(
        &t.s,
        json!({"type": "disk_pressure", "node": "piha", "payload": {"disk_pct": 97}}),
    )
    .await;
    expect_update(t.s.api(), "two proposals", SOON, || async {
        proposals(&t.s).await.len() == 2
    })
    .await;
    let disk = proposals(&t.s)
        .await
        .into_iter()
        .find(|p| p["service"] == "piha")
        .unwrap();
    assert_eq!(disk["type"], "notify");
    assert_eq!(disk["payload"]["action"], "notify");
    t.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_any_llm_the_rules_planner_proposes() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &planner_config(dir.path(), None, "", ""));
    let s = Steward::start(&cfg, &dir.path().join("data")).await;
    post_event(
        &s,
        json!({"type": "service_unhealthy", "node": "piha", "service": "mosquitto",
               "payload": {"exit_code": 137, "status": "exited"}}),
    )
    .await;
    let p = one_proposal(&s).await;
    assert_eq!(p["llm_model"], "rules");
    assert_eq!(p["payload"]["action"], "restart");
    assert_eq!(p["confidence"], 0.62);
    assert_eq!(p["requires_human"], true, "0.62 is below the threshold");
    assert!(p["payload"]["reason"].as_str().unwrap().contains("137"));
    assert_eq!(
        p["overrides"][0],
        "requires_human forced: confidence 0.62 is below 0.70"
    );

    for (kind, node) in [("node_offline", "nas"), ("pipeline_stale", "sessions")] {
        post_event(&s, json!({"event_type": kind, "node": node})).await;
    }
    expect_update(s.api(), "three proposals", SOON, || async {
        proposals(&s).await.len() == 3
    })
    .await;
    for p in proposals(&s).await.iter().filter(|p| p["node"] != "piha") {
        assert_eq!(p["type"], "notify", "{p}");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_a_reason_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &planner_config(dir.path(), None, "", ""));
    let s = Steward::start(&cfg, &dir.path().join("data")).await;
    let cases: [(&str, &str); 4] = [
        ("{not valid json", "invalid JSON"),
        ("42", "must be a JSON object"),
        (
            r#"{"type": "service_unhealthy", "service": "mosquitto"}"#,
            "missing \\\"node\\\"",
        ),
        (r#"{"node": "piha"}"#, "missing \\\"type\\\""),
    ];
    for (body, why) in cases {
        let r = s
            .client
            .post(format!("{}/api/events", s.base))
            .bearer_auth(TOKEN)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{body}");
        let text = r.text().await.unwrap();
        assert!(text.contains("\"code\":\"bad_request\""), "{text}");
        assert!(text.contains(why), "{body}: {text}");
    }
    let status = s.get("/api/status").await;
    assert_eq!(status["events_rejected"], 4);
    let intake = s.get("/api/intake").await;
    assert_eq!(intake["intake"]["rejected"]["missing_node"], 1);
    // Without a token, nothing gets in.
    let r = s
        .client
        .post(format!("{}/api/events", s.base))
        .json(&unhealthy("piha", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(proposals(&s).await.is_empty());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flapping_service_is_downgraded_to_notify() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &planner_config(dir.path(), None, "", "").replace("cooldown = \"5m\"", "cooldown = \"1s\""),
    );
    let clock = steward::clock::TokioClock::starting_at(chrono::Utc::now());
    let s = Steward::start_with(&cfg, &dir.path().join("data"), |o| {
        o.clock = Arc::new(clock.clone())
    })
    .await;
    for i in 0..3 {
        post_event(&s, unhealthy("piha", "mosquitto")).await;
        expect_update(s.api(), "proposal", SOON, || async {
            proposals(&s).await.len() == i + 1
        })
        .await;
        post_event(
            &s,
            json!({"type": "service_healthy", "node": "piha", "service": "mosquitto"}),
        )
        .await;
        // The plan is over (not only its proposal stored), and the one-second cooldown
        // passes, in no time.
        s.api().planning_idle().await;
        clock.jump(Duration::from_millis(1100));
    }
    let mut by_time = proposals(&s).await;
    by_time.sort_by(|a, b| {
        a["timestamp"]
            .as_f64()
            .partial_cmp(&b["timestamp"].as_f64())
            .unwrap()
    });
    assert_eq!(by_time[0]["payload"]["action"], "restart");
    assert_eq!(by_time[1]["payload"]["action"], "restart");
    let last = by_time.last().unwrap();
    assert_eq!(last["payload"]["action"], "notify", "{last}");
    assert!(
        last["overrides"][0]
            .as_str()
            .unwrap()
            .contains("flapped (3 trips"),
        "{last}"
    );
    s.stop().await;
}
