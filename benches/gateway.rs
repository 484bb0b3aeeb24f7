//! The LLM gateway's overhead: the same requests sent straight to a fake upstream and
//! through Steward's gateway, on loopback.
//!
//! `cargo bench --bench gateway [-- streams]` (`streams`: only the concurrent-streams case)
//!
//! Three processes: the fake upstream (OpenAI wire, answers at once; streams of 3 chunks
//! 1 ms apart, or held open for the concurrent-streams case), the engine with its gateway
//! (its RSS is read from /proc), and this one, the load generator (tokio + reqwest,
//! keep-alive). Reports, each direct and through the gateway:
//! - latency p50 / p99 at a fixed 1,000 requests/s for 10 s (non-streaming);
//! - the most requests/s with 64 clients in a closed loop for 10 s;
//! - time to the first chunk of a stream, p50 / p99 over 2,000 streams, 8 at once;
//! - the engine's RSS before and while 1,000 streams are held open at once;
//! - a route whose first target refuses connections: p50 / p99 against asking the
//!   second target directly.
//!
//! The load generator shares the 2 cores with both servers, so absolute figures include
//! its own scheduling; the differences are the gateway's.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const KEY: &str = "bench-gateway-key";

fn main() {
    match std::env::var("STEWARD_BENCH_ROLE").as_deref() {
        Ok("upstream") => return tokio_main(upstream()),
        Ok("engine") => return tokio_main(engine()),
        _ => {}
    }
    tokio_main(run());
}

fn tokio_main<F: std::future::Future<Output = ()>>(f: F) {
    tokio::runtime::Runtime::new().unwrap().block_on(f);
}

/// Waits until stdin closes (the parent is done).
async fn until_stdin_closes() {
    let _ = tokio::task::spawn_blocking(|| {
        let mut s = String::new();
        // Any outcome means: stop.
        let _ = std::io::stdin().read_line(&mut s);
    })
    .await;
}

async fn upstream() {
    use axum::body::{Body, Bytes};
    use axum::response::{IntoResponse, Response};
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(|body: Bytes| async move {
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let model = v["model"].as_str().unwrap_or("m").to_owned();
            if v["stream"] != true {
                return axum::Json(serde_json::json!({
                    "id": "c1", "object": "chat.completion", "created": 0, "model": model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}))
                .into_response();
            }
            // `hold_ms` (a bench-only field): keep the stream open that long after the
            // first chunk.
            let hold = Duration::from_millis(v["hold_ms"].as_u64().unwrap_or(1));
            let chunk = |text: &str| {
                Bytes::from(format!(
                    "data: {}\n\n",
                    serde_json::json!({"id": "c1", "object": "chat.completion.chunk",
                        "created": 0, "model": model,
                        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]})
                ))
            };
            let parts = vec![chunk("h"), chunk("i"), Bytes::from("data: [DONE]\n\n")];
            let body = futures::stream::iter(parts.into_iter().enumerate()).then(move |(i, b)| async move {
                if i > 0 {
                    tokio::time::sleep(hold).await;
                }
                Ok::<Bytes, std::io::Error>(b)
            });
            Response::builder()
                .header("content-type", "text/event-stream")
                .body(Body::from_stream(body))
                .unwrap()
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("{}", l.local_addr().unwrap().port());
    std::io::stdout().flush().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    until_stdin_closes().await;
}

use futures::StreamExt;

async fn engine() {
    let upstream: u16 = std::env::var("STEWARD_BENCH_UPSTREAM")
        .unwrap()
        .parse()
        .unwrap();
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let gw = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    std::env::set_var("STEWARD_BENCH_GATEWAY_KEY", KEY);
    let cfg = format!(
        r#"
[planner]
chain = ["rules"]

[[models]]
id = "up"
api = "openai"
url = "http://127.0.0.1:{upstream}/v1"
model = "m"

[[models]]
id = "dead"
api = "openai"
url = "http://127.0.0.1:{dead}/v1"
model = "m"

[gateway]
listen = "127.0.0.1:{gw}"
api_key_env = "STEWARD_BENCH_GATEWAY_KEY"

[[gateway.routes]]
model = "chat"
targets = ["up"]

[[gateway.routes]]
model = "failover"
targets = ["dead", "up"]
"#
    );
    let dir = tempfile::tempdir().unwrap();
    let config = steward::config::Config::parse(&cfg, None).unwrap();
    let engine = steward::api::start(steward::engine::EngineOptions::new(config, dir.path()))
        .await
        .unwrap();
    println!("{gw}");
    std::io::stdout().flush().unwrap();
    until_stdin_closes().await;
    engine.shutdown().await;
}

fn spawn(role: &str, env: &[(&str, String)]) -> (std::process::Child, u16) {
    // `STEWARD_BENCH_ENGINE_PREFIX="heaptrack -o /tmp/gw"` runs the engine under a
    // profiler (its RSS is then the profiler's process, not the engine's).
    let prefix = match role {
        "engine" => std::env::var("STEWARD_BENCH_ENGINE_PREFIX").unwrap_or_default(),
        _ => String::new(),
    };
    let mut words = prefix.split_whitespace();
    let mut cmd = match words.next() {
        Some(program) => {
            let mut c = Command::new(program);
            c.args(words).arg(std::env::current_exe().unwrap());
            c
        }
        None => Command::new(std::env::current_exe().unwrap()),
    };
    cmd.env("STEWARD_BENCH_ROLE", role)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    // The first line that is a port number (a profiler may print before it).
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let port = loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "{role} exited before its port"
        );
        if let Ok(port) = line.trim().parse() {
            break port;
        }
    };
    (child, port)
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: f64) -> String {
    format!("{:.2} ms", d * 1000.0)
}

/// Two table rows, p50 and p99: direct, through the gateway, and the difference.
fn percentile_rows(what: &str, mut direct: Vec<f64>, mut gateway: Vec<f64>) {
    for (name, p) in [("p50", 0.5), ("p99", 0.99)] {
        let (d, g) = (pct(&mut direct, p), pct(&mut gateway, p));
        println!("| {what}, {name} | {} | {} | {} |", ms(d), ms(g), ms(g - d));
    }
}

struct Target {
    url: String,
    model: &'static str,
    key: bool,
}

impl Target {
    fn request(
        &self,
        client: &reqwest::Client,
        stream: bool,
        hold_ms: u64,
    ) -> reqwest::RequestBuilder {
        let mut r = client.post(&self.url).json(&serde_json::json!({
            "model": self.model, "stream": stream, "hold_ms": hold_ms,
            "messages": [{"role": "user", "content": "hi"}]}));
        if self.key {
            r = r.bearer_auth(KEY);
        }
        r
    }
}

/// Latencies of non-streaming requests sent at `rate` per second for `secs`.
async fn fixed_rate(client: &reqwest::Client, t: &Arc<Target>, rate: u64, secs: u64) -> Vec<f64> {
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..rate * secs {
        tick.tick().await;
        let (client, t) = (client.clone(), Arc::clone(t));
        tasks.spawn(async move {
            let started = Instant::now();
            let r = t.request(&client, false, 0).send().await.unwrap();
            assert!(r.status().is_success(), "{}", r.status());
            r.bytes().await.unwrap();
            started.elapsed().as_secs_f64()
        });
    }
    let mut out = Vec::new();
    while let Some(r) = tasks.join_next().await {
        out.push(r.unwrap());
    }
    out
}

/// Requests per second with `clients` sending back to back for `secs`.
async fn closed_loop(client: &reqwest::Client, t: &Arc<Target>, clients: usize, secs: u64) -> f64 {
    let until = Instant::now() + Duration::from_secs(secs);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (client, t) = (client.clone(), Arc::clone(t));
        tasks.spawn(async move {
            let mut n = 0u64;
            while Instant::now() < until {
                let r = t.request(&client, false, 0).send().await.unwrap();
                r.bytes().await.unwrap();
                n += 1;
            }
            n
        });
    }
    let mut total = 0;
    while let Some(n) = tasks.join_next().await {
        total += n.unwrap();
    }
    total as f64 / secs as f64
}

/// Time to the first chunk of `n` streams, `at_once` at a time.
async fn first_chunks(
    client: &reqwest::Client,
    t: &Arc<Target>,
    n: usize,
    at_once: usize,
) -> Vec<f64> {
    let sem = Arc::new(tokio::sync::Semaphore::new(at_once));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (client, t, sem) = (client.clone(), Arc::clone(t), Arc::clone(&sem));
        tasks.spawn(async move {
            let _permit = sem.acquire().await.unwrap();
            let started = Instant::now();
            let mut r = t.request(&client, true, 1).send().await.unwrap();
            r.chunk().await.unwrap().unwrap();
            let first = started.elapsed().as_secs_f64();
            while r.chunk().await.unwrap().is_some() {}
            first
        });
    }
    let mut out = Vec::new();
    while let Some(r) = tasks.join_next().await {
        out.push(r.unwrap());
    }
    out
}

async fn run() {
    let (mut up, up_port) = spawn("upstream", &[]);
    let (mut eng, gw_port) = spawn("engine", &[("STEWARD_BENCH_UPSTREAM", up_port.to_string())]);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(2048)
        .build()
        .unwrap();
    let direct = Arc::new(Target {
        url: format!("http://127.0.0.1:{up_port}/v1/chat/completions"),
        model: "m",
        key: false,
    });
    let gateway = Arc::new(Target {
        url: format!("http://127.0.0.1:{gw_port}/v1/chat/completions"),
        model: "chat",
        key: true,
    });
    let failover = Arc::new(Target {
        url: format!("http://127.0.0.1:{gw_port}/v1/chat/completions"),
        model: "failover",
        key: true,
    });
    // Warm both paths (connections, the engine's first requests).
    fixed_rate(&client, &direct, 500, 1).await;
    fixed_rate(&client, &gateway, 500, 1).await;

    println!("| measure | direct | through the gateway | added |");
    println!("| --- | --- | --- | --- |");
    // `-- streams`: only the concurrent-streams memory case.
    let only_streams = std::env::args().any(|a| a == "streams");
    if !only_streams {
        let d = fixed_rate(&client, &direct, 1000, 10).await;
        let g = fixed_rate(&client, &gateway, 1000, 10).await;
        percentile_rows("latency at 1,000 req/s", d, g);

        let dr = closed_loop(&client, &direct, 64, 10).await;
        let gr = closed_loop(&client, &gateway, 64, 10).await;
        println!("| requests/s, 64 clients | {dr:.0} | {gr:.0} | – |");

        let d = first_chunks(&client, &direct, 2000, 8).await;
        let g = first_chunks(&client, &gateway, 2000, 8).await;
        percentile_rows("time to first chunk", d, g);
    }

    // 1,000 streams open at once, each held 3 s after its first chunk.
    let before = rss_mib(eng.id());
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..1000 {
        let (client, t) = (client.clone(), Arc::clone(&gateway));
        tasks.spawn(async move {
            let mut r = t.request(&client, true, 3000).send().await.unwrap();
            while r.chunk().await.unwrap().is_some() {}
        });
    }
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let during = rss_mib(eng.id());
    while tasks.join_next().await.is_some() {}
    println!(
        "| engine RSS, 1,000 streams open at once | – | {before:.1} MiB before, {during:.1} MiB during | {:.1} MiB |",
        during - before
    );
    // What the burst leaves behind: idle connections the gateway's client keeps.
    tokio::time::sleep(Duration::from_millis(5000)).await;
    let after = rss_mib(eng.id());
    let fds = std::fs::read_dir(format!("/proc/{}/fd", eng.id())).map_or(0, |d| d.count());
    println!(
        "| engine RSS 5 s after the 1,000 streams ended | – | {after:.1} MiB, {fds} open files | {:.1} MiB |",
        after - before
    );

    if !only_streams {
        let mut d = fixed_rate(&client, &direct, 200, 5).await;
        let mut f = fixed_rate(&client, &failover, 200, 5).await;
        let (d50, d99, f50, f99) = (
            pct(&mut d, 0.5),
            pct(&mut d, 0.99),
            pct(&mut f, 0.5),
            pct(&mut f, 0.99),
        );
        println!(
            "| first target refuses connections, p50 / p99 (200 req/s) | {} / {} | {} / {} | {} / {} |",
            ms(d50),
            ms(d99),
            ms(f50),
            ms(f99),
            ms(f50 - d50),
            ms(f99 - d99)
        );
    }

    drop(eng.stdin.take());
    drop(up.stdin.take());
    let _ = eng.wait();
    let _ = up.wait();
}
