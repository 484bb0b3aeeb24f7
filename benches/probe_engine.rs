//! The probe engine against 1,000 and 10,000 real loopback HTTP endpoints.
//!
//! `cargo bench --bench probe_engine [-- SIZES...]` (default: 0 100 1000 10000)
//!
//! The endpoints run in a child process (this binary re-executed with
//! `STEWARD_BENCH_ROLE=server`), so the CPU and memory measured here are the engine's
//! alone: the full engine (monitor, recorder, SQLite batching) with a 30 s interval and a
//! 3 s timeout. Per size it reports the wall time of each tick (first to last probe
//! completion), probes per second, the CPU time per probe and the average share of one
//! core over the steady interval, steady and peak RSS, and the database size after one
//! simulated hour of history. Size 0 is the idle engine (no providers): its CPU share is
//! the cost of the engine's own timers. Each size runs in its own process
//! (`STEWARD_BENCH_ROLE=engine`), so its peak RSS is its own.
//!
//! Profiling: with `STEWARD_BENCH_PROFILE=<dir>` each size's engine process runs
//! `perf record -g` on itself over the steady window and leaves `<dir>/perf-<n>.data`
//! (symbols need an unstripped build: `CARGO_PROFILE_BENCH_STRIP=false`).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ENDPOINTS_PER_PORT: usize = 1000;

fn main() {
    match std::env::var("STEWARD_BENCH_ROLE").as_deref() {
        Ok("server") => return server(),
        Ok("engine") => {
            let n = std::env::var("STEWARD_BENCH_N").unwrap().parse().unwrap();
            let rt = tokio::runtime::Runtime::new().unwrap();
            return rt.block_on(run(n));
        }
        _ => {}
    }
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![0, 100, 1000, 10_000]
    } else {
        sizes
    };
    println!("| providers | tick wall time (p50 / max) | probes/s | CPU per probe | CPU % of one core | RSS steady / peak | DB after 1 h |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for n in sizes {
        // One process per size: its peak RSS is its own. It prints its row.
        let status = Command::new(std::env::current_exe().unwrap())
            .env("STEWARD_BENCH_ROLE", "engine")
            .env("STEWARD_BENCH_N", n.to_string())
            .status()
            .unwrap();
        assert!(status.success(), "the run with {n} providers failed");
    }
}

/// `perf record` on this process for `secs`, when `STEWARD_BENCH_PROFILE` names a dir.
fn start_profile(n: usize, secs: u64) -> Option<std::process::Child> {
    let dir = std::env::var_os("STEWARD_BENCH_PROFILE")?;
    let out = std::path::Path::new(&dir).join(format!("perf-{n}.data"));
    Command::new("perf")
        .args(["record", "-F", "999", "-g", "-o"])
        .arg(&out)
        .args([
            "-p",
            &std::process::id().to_string(),
            "--",
            "sleep",
            &secs.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
}

/// Endpoints: `ceil(n / 1000)` ports, paths `/health/<i>`.
fn server() {
    let n: usize = std::env::var("STEWARD_BENCH_N").unwrap().parse().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let ports = n.div_ceil(ENDPOINTS_PER_PORT).max(1);
        let mut out = Vec::new();
        for _ in 0..ports {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            out.push(l.local_addr().unwrap().port());
            let app = axum::Router::new().route(
                "/health/{i}",
                axum::routing::get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
            );
            tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        }
        let line: Vec<String> = out.iter().map(|p| p.to_string()).collect();
        println!("{}", line.join(","));
        std::io::stdout().flush().unwrap();
        // Serve until the parent closes our stdin (EOF and a read error alike end it).
        let _ = tokio::task::spawn_blocking(|| {
            let mut s = String::new();
            // Any outcome means: stop serving.
            let _ = std::io::stdin().read_line(&mut s);
        })
        .await;
    });
}

fn cpu_seconds() -> f64 {
    let r = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF).unwrap();
    let t = |tv: nix::sys::time::TimeVal| tv.tv_sec() as f64 + tv.tv_usec() as f64 / 1e6;
    t(r.user_time()) + t(r.system_time())
}

fn rss_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

async fn run(n: usize) {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .env("STEWARD_BENCH_ROLE", "server")
        .env("STEWARD_BENCH_N", n.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let ports: Vec<u16> = line.trim().split(',').map(|p| p.parse().unwrap()).collect();

    let dir = tempfile::tempdir().unwrap();
    let mut cfg = String::from("[probe]\ninterval = \"30s\"\ntimeout = \"3s\"\n");
    // More `[probe]` settings to compare (e.g. "max_concurrency = 64").
    if let Ok(extra) = std::env::var("STEWARD_BENCH_PROBE") {
        cfg.push_str(&extra.replace(';', "\n"));
        cfg.push('\n');
    }
    cfg.push('\n');
    for i in 0..n {
        let port = ports[i / ENDPOINTS_PER_PORT];
        cfg.push_str(&format!(
            "[[providers]]\nid = \"p{i}\"\nkind = \"http\"\nurl = \"http://127.0.0.1:{port}/health/{i}\"\nnode = \"node{}\"\nservice = \"svc{i}\"\n",
            i % 20
        ));
    }
    let config = steward::config::Config::parse(&cfg, None).unwrap();
    drop(cfg);
    let parse_peak = rss_mib("VmHWM:");
    let engine = steward::api::start(steward::engine::EngineOptions::new(config, dir.path()))
        .await
        .unwrap();
    let started_rss = rss_mib("VmRSS:");

    // Four ticks: 0 s (cold connections), 30 s, 60 s, 90 s. CPU measured over the steady
    // 60 s from just before the second tick to just before the fourth... plus one tick.
    tokio::time::sleep(Duration::from_secs(25)).await;
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let from = chrono::Utc::now();
    let profile = start_profile(n, 60);
    tokio::time::sleep(Duration::from_secs(60)).await;
    let cpu = cpu_seconds() - cpu0;
    let window = t0.elapsed().as_secs_f64();
    let to = chrono::Utc::now();
    if let Some(mut p) = profile {
        // The profile is a by-product; the measurement stands without it.
        let _ = p.wait();
    }
    tokio::time::sleep(Duration::from_secs(10)).await;
    let peak = rss_mib("VmHWM:");
    let steady = rss_mib("VmRSS:");

    // Tick wall times from the stored samples: ticks are 30 s apart.
    let pool = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        steward::engine::database_path(dir.path()).display()
    ))
    .await
    .unwrap();
    let rows: Vec<(i64,)> = sqlx::query_as("SELECT at FROM probe_samples ORDER BY at")
        .fetch_all(&pool)
        .await
        .unwrap();
    let mut ticks: Vec<(i64, i64, usize)> = Vec::new();
    for (at,) in rows {
        match ticks.last_mut() {
            Some((first, last, count)) if at - *first < 15_000 => {
                *last = at;
                *count += 1;
            }
            _ => ticks.push((at, at, 1)),
        }
    }
    let mut walls: Vec<f64> = ticks
        .iter()
        .filter(|t| t.2 >= n * 9 / 10)
        .map(|t| (t.1 - t.0) as f64 / 1000.0)
        .collect();
    let probed: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM probe_samples WHERE at >= ? AND at < ?")
            .bind(from.timestamp_millis())
            .bind(to.timestamp_millis())
            .fetch_one(&pool)
            .await
            .unwrap();
    let all_ok: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM probe_samples WHERE ok = 0")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    engine.shutdown().await;
    drop(child.stdin.take());
    // Reaps the server child; its exit status is no part of the measurement.
    let _ = child.wait();

    walls.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let p50 = walls.get(walls.len() / 2).copied().unwrap_or(f64::NAN);
    let max = walls.last().copied().unwrap_or(f64::NAN);

    // One simulated hour of history: 120 ticks of n samples, written as the recorder does.
    let db_mb = simulate_hour(n).await;
    let per_probe = if probed > 0 {
        format!("{:.0} µs", cpu / probed as f64 * 1e6)
    } else {
        "–".into()
    };
    println!(
        "| {n} | {p50:.2} s / {max:.2} s ({} ticks{}) | {:.1} | {per_probe} | {:.2} % | {steady:.1} MiB / {peak:.1} MiB | {db_mb:.1} MiB |",
        walls.len(),
        if all_ok > 0 { format!(", {all_ok} failed probes") } else { String::new() },
        probed as f64 / window,
        cpu / window * 100.0,
    );
    // Beside the table (stderr): where the peak was reached.
    eprintln!(
        "{n} providers: peak RSS {parse_peak:.1} MiB through the config parse, RSS {started_rss:.1} MiB once started (first tick under way)"
    );
}

async fn simulate_hour(n: usize) -> f64 {
    use steward::store::{Batch, Sample, Store};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("steward.db");
    let store = Store::open(&path, std::sync::Arc::new(steward::clock::SystemClock))
        .await
        .unwrap();
    let start = chrono::Utc::now() - chrono::Duration::hours(1);
    for tick in 0..120 {
        let at = start + chrono::Duration::seconds(tick * 30);
        let mut batch = Batch::default();
        for i in 0..n {
            batch.samples.push(Sample {
                provider_id: format!("p{i}"),
                at,
                ok: true,
                latency_ms: Some(0.8 + (i % 7) as f64 * 0.1),
                outcome: "up".into(),
                error: None,
            });
        }
        store.write_batch(batch).await.unwrap();
    }
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(store.pool())
        .await
        .unwrap();
    store.close().await;
    let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let total = size(&path) + size(&dir.path().join("steward.db-wal"));
    total as f64 / (1024.0 * 1024.0)
}
