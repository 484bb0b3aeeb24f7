//! The planner's overhead and the bus intake.
//!
//! `cargo bench --bench planner [-- latency|intake|flood]` (default: all three)
//!
//! - latency: event → stored proposal through the whole engine (`Api::submit_event`, gate,
//!   router over real HTTP to a zero-latency OpenAI-compatible stub on loopback, policy,
//!   SQLite insert, cooldown row, action file, event file) for 2,000 events with distinct
//!   keys, one at a time. Reports p50 / p99 / max. Also with the `rules` planner alone.
//! - intake: 1,000,000 events published to a real `redis-server` (pipelined, 1,000
//!   distinct keys, so the gate drops duplicates by cooldown) and counted by the engine.
//!   Reports the sustained rate and whether any was lost.
//! - flood: the same 1,000,000 events with 200,000 distinct keys (every fifth event a new
//!   key: the gate's maps grow, planning overloads): peak RSS of this process.
//!
//! Needs `redis-server` on PATH (the test command installs it).

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use steward::api::Update;
use steward::config::Config;
use steward::engine::EngineOptions;

fn main() {
    let which: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let all = which.is_empty();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        if all || which.iter().any(|w| w == "latency") {
            latency().await;
        }
        if all || which.iter().any(|w| w == "intake") {
            intake(1_000_000, 1_000, "intake").await;
        }
        if all || which.iter().any(|w| w == "flood") {
            intake(1_000_000, 200_000, "flood").await;
        }
    });
}

/// A size line of `/proc/self/status` (`VmRSS`, `VmHWM`) in MiB.
fn proc_mib(key: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// An OpenAI-compatible server that answers at once.
async fn stub_llm() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let answer = serde_json::json!({
        "choices": [{"index": 0, "message": {"role": "assistant", "content":
            "{\"action\":\"restart\",\"reason\":\"stopped\",\"confidence\":0.9,\"requires_human\":false}"}}]
    });
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move || {
            let a = answer.clone();
            async move { axum::Json(a) }
        }),
    );
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    format!("http://127.0.0.1:{port}/v1")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn latency() {
    let url = stub_llm().await;
    println!("## event → stored proposal (2,000 events, one at a time)\n");
    println!("| chain | p50 | p99 | max |");
    println!("| --- | --- | --- | --- |");
    for chain in ["[\"stub\"]", "[\"rules\"]"] {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            // 2,000 targets that are not in [[providers]]: lift their rate limit.
            "[planner]\nchain = {chain}\nunknown_target_rate = 1000000\n\
             actions_dir = \"{0}/actions\"\nevents_dir = \"{0}/events\"\n\n\
             [[models]]\nid = \"stub\"\napi = \"openai\"\nurl = \"{url}\"\nmodel = \"stub\"\n",
            dir.path().display()
        );
        let config = Config::parse(&text, None).unwrap();
        let mut opts = EngineOptions::new(config, dir.path().join("data"));
        opts.watch = None;
        let engine = steward::api::start(opts).await.unwrap();
        let api = engine.api().clone();
        let mut rx = api.subscribe();
        let mut took = Vec::new();
        for i in 0..2_000 {
            let body = format!(r#"{{"type":"service_unhealthy","node":"n{i}","service":"s"}}"#);
            let start = Instant::now();
            let a = api.submit_event(body.as_bytes()).unwrap();
            assert_eq!(a.decision.as_str(), "plan");
            loop {
                match rx.recv().await {
                    Ok(Update::Proposal { proposal }) if proposal.node == format!("n{i}") => break,
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(e) => panic!("{e}"),
                }
            }
            took.push(start.elapsed().as_secs_f64() * 1000.0);
        }
        took.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "| {chain} | {:.2} ms | {:.2} ms | {:.2} ms |",
            percentile(&took, 0.5),
            percentile(&took, 0.99),
            took.last().unwrap()
        );
        engine.shutdown().await;
    }
    println!();
}

struct Redis(Child);

impl Drop for Redis {
    fn drop(&mut self) {
        // An error means it has exited already; either way it is gone, and reaped.
        let _ = self.0.kill();
        // Reaps it; nothing to learn from how it ended.
        let _ = self.0.wait();
    }
}

async fn start_redis() -> (Redis, u16) {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        // Let a fast publisher run ahead of the subscriber without being cut off.
        .args(["--client-output-buffer-limit", "pubsub 0 0 0"])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server on PATH");
    let redis = Redis(child);
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
    for _ in 0..200 {
        if let Ok(mut c) = client.get_multiplexed_async_connection().await {
            if redis::cmd("PING")
                .query_async::<String>(&mut c)
                .await
                .is_ok()
            {
                return (redis, port);
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("redis-server did not start");
}

async fn intake(n: usize, keys: usize, label: &str) {
    let (_redis, port) = start_redis().await;
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[planner]\nchain = [\"rules\"]\nactions_dir = \"{0}/actions\"\nevents_dir = \"{0}/events\"\n\n\
         [bus]\nredis_url = \"redis://127.0.0.1:{port}\"\n",
        dir.path().display()
    );
    let config = Config::parse(&text, None).unwrap();
    let mut opts = EngineOptions::new(config, dir.path().join("data"));
    opts.watch = None;
    let engine = steward::api::start(opts).await.unwrap();
    let api = engine.api().clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !api.bus_status().is_some_and(|b| b.connected) {
        assert!(Instant::now() < deadline, "bus did not connect");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rss_before = proc_mib("VmRSS");
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let payloads: Arc<Vec<String>> = Arc::new(
        (0..keys.min(n))
            .map(|k| {
                format!(
                    r#"{{"type":"service_unhealthy","node":"node{}","service":"svc{k}","severity":"error","payload":{{"exit_code":1}}}}"#,
                    k % 50
                )
            })
            .collect(),
    );
    let start = Instant::now();
    let mut sent = 0;
    while sent < n {
        let mut pipe = redis::pipe();
        let chunk = (n - sent).min(5_000);
        for i in sent..sent + chunk {
            // Distinct keys spread through the stream: event i uses key i * keys / n.
            let k = i * payloads.len() / n;
            let channel = if i % 2 == 0 {
                "health_events"
            } else {
                "world_updates"
            };
            pipe.cmd("PUBLISH").arg(channel).arg(&payloads[k]).ignore();
        }
        pipe.query_async::<()>(&mut conn).await.unwrap();
        sent += chunk;
    }
    let published = start.elapsed();
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut peak = proc_mib("VmRSS");
    loop {
        let got = api.intake().counts.received as usize;
        peak = peak.max(proc_mib("VmRSS"));
        if got >= n || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = start.elapsed();
    let intake = api.intake();
    api.planning_idle().await;
    let proposals = api.intake().counts.proposals;
    println!("## {label}: {n} events, {keys} distinct keys, via redis-server\n");
    println!("| published in | all received in | rate | lost | planned | proposals | overload | not recorded | RSS before / peak / VmHWM |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    println!(
        "| {:.2} s | {:.2} s | {:.0} events/s | {} | {} | {} | {} | {} | {:.0} / {:.0} / {:.0} MiB |\n",
        published.as_secs_f64(),
        took.as_secs_f64(),
        intake.counts.received as f64 / took.as_secs_f64(),
        n as u64 - intake.counts.received.min(n as u64),
        intake.counts.planned,
        proposals,
        intake.overload,
        intake.counts.not_recorded,
        rss_before,
        peak,
        proc_mib("VmHWM"),
    );
    engine.shutdown().await;
}
