//! The session pipeline: how fast a new file is processed, and what scans cost.
//!
//! `cargo bench --bench sessions [-- latency|scan] [files]` (default: both; 100,000 files)
//!
//! - latency: the whole engine (`Engine::start` with a `[sessions]` root and the built-in
//!   `usage` processor, cadence 15 min so only the watcher can trigger it); 200 new session
//!   files written one at a time (write to a temp name, rename into place, as writers do);
//!   for each, the time from the rename until `GET /api/sessions`'s data (`Api::sessions`)
//!   shows it processed and the status recomputed (`Update::Pipeline` with the new file
//!   count). Reports p50 / p99 / max.
//! - scan: `FileIndex::rescan` over `files` files in 1,000 user directories on a real
//!   filesystem and a real SQLite file: the initial scan (stat + hash + insert every file),
//!   then a rescan with nothing changed (the mtime/size precheck: no hashing, no writes),
//!   then a rescan after 1 % of the files were appended to. Peak RSS of this process.

use std::path::Path;
use std::time::{Duration, Instant};
use steward::api::Update;
use steward::config::Config;
use steward::engine::EngineOptions;
use steward::sessions::index::FileIndex;
use steward::store::Store;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let files = args
        .iter()
        .find_map(|a| a.parse::<usize>().ok())
        .unwrap_or(100_000);
    let which: Vec<&String> = args
        .iter()
        .filter(|a| a.parse::<usize>().is_err())
        .collect();
    let all = which.is_empty();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        if all || which.iter().any(|w| *w == "latency") {
            latency(200).await;
        }
        if all || which.iter().any(|w| *w == "scan") {
            scan(files).await;
        }
    });
}

fn proc_mib(key: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// A small but realistic session: a user line and two replies with usage.
fn session_body(i: usize) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "{{\"type\":\"user\",\"message\":{{\"content\":\"question {i}\"}}}}\n"
    ));
    for k in 0..2 {
        s.push_str(&format!(
            "{{\"type\":\"assistant\",\"requestId\":\"r{i}-{k}\",\"message\":{{\"id\":\"m{i}-{k}\",\
             \"model\":\"claude-bench\",\"usage\":{{\"input_tokens\":{},\"output_tokens\":{}}}}}}}\n",
            100 + k,
            20 + k
        ));
    }
    s
}

async fn latency(n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("sessions");
    std::fs::create_dir_all(root.join("bench")).unwrap();
    let config = Config::parse(
        &format!(
            "[sessions]\nroot = \"{}\"\n[[sessions.processors]]\nname = \"usage\"\nkind = \"usage\"\ncadence = \"15m\"\n",
            root.display()
        ),
        None,
    )
    .expect("bench config");
    let engine = steward::api::start(EngineOptions::new(config, dir.path().join("data")))
        .await
        .expect("engine starts");
    let api = engine.api().clone();
    // Let the first scan and the first (empty) run finish.
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Every pipeline push, with when it arrived.
    type Push = (Instant, u64, bool, Option<chrono::DateTime<chrono::Utc>>);
    let pushes = std::sync::Arc::new(parking_lot::Mutex::new(Vec::<Push>::new()));
    let mut updates = api.subscribe();
    let log = pushes.clone();
    let listener = tokio::spawn(async move {
        loop {
            match updates.recv().await {
                Ok(Update::Pipeline { pipeline }) => {
                    let p = &pipeline.processors[0];
                    log.lock().push((
                        Instant::now(),
                        pipeline.files,
                        p.running,
                        p.last_run_finished_at,
                    ))
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => break,
            }
        }
    });
    let mut processed = Vec::with_capacity(n);
    let mut pushed = Vec::with_capacity(n);
    for i in 0..n {
        let tmp = root.join("bench").join(format!(".s{i}.tmp"));
        let dst = root.join("bench").join(format!("s{i}.jsonl"));
        std::fs::write(&tmp, session_body(i)).unwrap();
        let (t0, wall0) = (Instant::now(), chrono::Utc::now());
        std::fs::rename(&tmp, &dst).unwrap();
        let want = (i + 1) as u64;
        // Processed: the usage processor's results for it are in the store.
        loop {
            if api.sessions().await.unwrap().usage.files >= want {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "file {i} not processed"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        processed.push(t0.elapsed());
        // Pushed: the first pipeline update with the file indexed and a run finished after
        // the rename (the status recomputed with it processed).
        loop {
            let seen = pushes
                .lock()
                .iter()
                .find_map(|(t, files, running, finished)| {
                    (*files >= want && !running && finished.is_some_and(|f| f >= wall0))
                        .then_some(*t)
                });
            if let Some(t) = seen {
                pushed.push(t - t0);
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "no push for file {i}"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        // The next file starts from a quiet pipeline.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    listener.abort();
    for (what, mut took) in [("processed", processed), ("status pushed", pushed)] {
        took.sort();
        println!(
            "latency: {n} new files, rename → {what}: p50 {} p99 {} max {}",
            ms(percentile(&took, 0.5)),
            ms(percentile(&took, 0.99)),
            ms(*took.last().unwrap())
        );
    }
    engine.shutdown().await;
}

async fn scan(files: usize) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("sessions");
    let users = 1_000.min(files.max(1));
    let t0 = Instant::now();
    for u in 0..users {
        std::fs::create_dir_all(root.join(format!("u{u}"))).unwrap();
    }
    for i in 0..files {
        let p = root
            .join(format!("u{}", i % users))
            .join(format!("s{i}.jsonl"));
        std::fs::write(p, session_body(i)).unwrap();
    }
    println!(
        "scan: wrote {files} files ({} bytes each) in {users} user dirs in {:.1} s",
        session_body(0).len(),
        t0.elapsed().as_secs_f64()
    );
    let store = Store::open(
        &dir.path().join("steward.db"),
        std::sync::Arc::new(steward::clock::SystemClock),
    )
    .await
    .unwrap();
    let index = FileIndex::new(
        store.clone(),
        &root,
        std::sync::Arc::new(steward::clock::SystemClock),
    );
    let rss0 = proc_mib("VmRSS");

    let t = Instant::now();
    let r = index.rescan().await.unwrap();
    println!(
        "scan: initial scan of {} files: {:.2} s (new {}, hashed {}), RSS {:.0} → {:.0} MiB",
        r.seen,
        t.elapsed().as_secs_f64(),
        r.new,
        r.hashed,
        rss0,
        proc_mib("VmRSS")
    );
    let t = Instant::now();
    let r = index.rescan().await.unwrap();
    println!(
        "scan: rescan, nothing changed: {:.3} s (changed {}, hashed {})",
        t.elapsed().as_secs_f64(),
        r.changed,
        r.hashed
    );
    let touched = (files / 100).max(1);
    append_to(&root, files, users, touched);
    let t = Instant::now();
    let r = index.rescan().await.unwrap();
    println!(
        "scan: rescan after appending to {touched} files: {:.3} s (changed {}, hashed {})",
        t.elapsed().as_secs_f64(),
        r.changed,
        r.hashed
    );
    println!("scan: peak RSS {:.0} MiB", proc_mib("VmHWM"));
    store.close().await;
}

fn append_to(root: &Path, files: usize, users: usize, touched: usize) {
    use std::io::Write;
    let step = files / touched;
    for k in 0..touched {
        let i = k * step;
        let p = root
            .join(format!("u{}", i % users))
            .join(format!("s{i}.jsonl"));
        let mut f = std::fs::OpenOptions::new().append(true).open(p).unwrap();
        writeln!(
            f,
            "{{\"type\":\"user\",\"message\":{{\"content\":\"more\"}}}}"
        )
        .unwrap();
    }
}
