//! Bounded growth (issue 10): how big the data dir gets, and what an expiry tick costs.
//!
//! `cargo bench --bench retention [-- size|expiry]` (default: both)
//!
//! - size: 100,000 `service_unhealthy` events, each for a node nobody configured (the
//!   flood of issue 10), through `Api::submit_event` into a real engine (rules planner,
//!   default `unknown_target_rate` 20/min, default actions and events dirs under the data
//!   dir), paced at 5,000 per 300 ms so the timeline keeps every one of them. Reports the
//!   data dir (database, WAL, action and event files) while running and after shutdown,
//!   and per 1,000 events.
//! - expiry: one expiry tick (`Api::expire_due`: the due-only indexed query) with 10 and
//!   with 10,000 pending proposals, none due, mean and p99 over 2,000 ticks; next to it
//!   the query the tick ran before (every pending proposal, `proposals_with_status`).

use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};
use steward::config::Config;
use steward::engine::EngineOptions;
use steward::planner::proposal::Proposal;
use steward::store::Store;

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
        if all || which.iter().any(|w| w == "size") {
            size(100_000).await;
        }
        if all || which.iter().any(|w| w == "expiry") {
            expiry(&[10, 10_000]).await;
        }
    });
}

fn bytes_under(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => bytes_under(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

fn mib(b: u64) -> String {
    format!("{:.2} MiB", b as f64 / (1024.0 * 1024.0))
}

async fn size(n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = Config::parse("[planner]\nchain = [\"rules\"]\n", None).unwrap();
    let mut opts = EngineOptions::new(config, &data);
    opts.watch = None;
    let engine = steward::api::start(opts).await.unwrap();
    let api = engine.api().clone();
    let start = Instant::now();
    for chunk in (0..n).collect::<Vec<_>>().chunks(5_000) {
        for i in chunk {
            let body = format!(
                r#"{{"type":"service_unhealthy","node":"flood-{i}","service":"svc","severity":"error","payload":{{"status":"exited"}}}}"#
            );
            api.submit_event(body.as_bytes()).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    api.planning_idle().await;
    // Let the last timeline batch land.
    let store = Store::open(
        &data.join("steward.db"),
        std::sync::Arc::new(steward::clock::SystemClock),
    )
    .await
    .unwrap();
    let recorded = loop {
        let got: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE type = 'health_event'")
                .fetch_one(store.pool())
                .await
                .unwrap();
        let lost = api.intake().counts.not_recorded as i64;
        if got + lost >= n as i64 {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let took = start.elapsed();
    let intake = api.intake();
    let db = data.join("steward.db");
    let running = (
        file_len(&db),
        file_len(&data.join("steward.db-wal")),
        file_len(&data.join("steward.db-shm")),
        bytes_under(&data.join("actions")),
        bytes_under(&data.join("events")),
        bytes_under(&data),
    );
    store.close().await;
    engine.shutdown().await;
    let closed = bytes_under(&data);
    println!("## data dir after {n} events for unknown targets\n");
    println!(
        "{n} events in {:.1} s: {} proposals, {} unknown_target_limited, {recorded} on the timeline, {} not recorded; dropped flaps {}, dropped timeline marks {}.\n",
        took.as_secs_f64(),
        intake.counts.proposals,
        intake.counts.unknown_target_limited,
        intake.counts.not_recorded,
        intake.dropped_flaps,
        intake.counts.dropped_record_marks,
    );
    println!("| | database | WAL | shm | actions/ | events/ | data dir | per 1,000 events |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    println!(
        "| running | {} | {} | {} | {} KiB | {} KiB | {} | {:.0} KiB |",
        mib(running.0),
        mib(running.1),
        mib(running.2),
        running.3 / 1024,
        running.4 / 1024,
        mib(running.5),
        running.5 as f64 / 1024.0 / (n as f64 / 1000.0),
    );
    println!(
        "| after shutdown | | | | | | {} | {:.0} KiB |\n",
        mib(closed),
        closed as f64 / 1024.0 / (n as f64 / 1000.0),
    );
}

fn pending(id: &str, at: chrono::DateTime<chrono::Utc>) -> Proposal {
    serde_json::from_value(json!({
        "action_id": id, "type": "container_restart", "action": "restart", "node": "n",
        "service": id, "reason": "stopped", "confidence": 0.62, "requires_human": true,
        "risk_level": "low", "status": "pending", "created_at": at,
        "source_event": {"type": "service_unhealthy", "node": "n", "service": id},
        "llm_model": "rules",
    }))
    .unwrap()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn expiry(sizes: &[usize]) {
    println!("## expiry tick cost (none due)\n");
    println!("| pending proposals | tick now: mean / p99 (rows read) | before: every pending proposal read, mean |");
    println!("| --- | --- | --- |");
    for &n in sizes {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let now = chrono::Utc::now();
        let store = Store::open(
            &data.join("steward.db"),
            std::sync::Arc::new(steward::clock::SystemClock),
        )
        .await
        .unwrap();
        for i in 0..n {
            store
                .insert_proposal(&pending(&format!("p{i}"), now))
                .await
                .unwrap();
        }
        let config = Config::parse("[planner]\nchain = [\"rules\"]\n", None).unwrap();
        let mut opts = EngineOptions::new(config, &data);
        opts.watch = None;
        let engine = steward::api::start(opts).await.unwrap();
        let api = engine.api().clone();
        let mut took = Vec::new();
        let mut read = 0;
        for _ in 0..2_000 {
            let t = Instant::now();
            read += api.expire_due().await;
            took.push(t.elapsed().as_secs_f64() * 1e6);
        }
        took.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let mean = took.iter().sum::<f64>() / took.len() as f64;
        let mut before = Vec::new();
        for _ in 0..20 {
            let t = Instant::now();
            let all = store
                .proposals_with_status(steward::execute::state::Status::Pending)
                .await
                .unwrap();
            assert_eq!(all.len(), n);
            before.push(t.elapsed().as_secs_f64() * 1e6);
        }
        let before_mean = before.iter().sum::<f64>() / before.len() as f64;
        println!(
            "| {n} | {:.0} µs / {:.0} µs ({read} rows in 2,000 ticks) | {:.0} µs |",
            mean,
            percentile(&took, 0.99),
            before_mean
        );
        store.close().await;
        engine.shutdown().await;
    }
    println!();
}
