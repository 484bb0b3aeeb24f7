//! A flood of events naming targets nobody configured (issue 10): 10,000 of them posted
//! to the real HTTP API of a real engine with a real SQLite file and real action and
//! event directories. The engine reads wall time from a clock that stands still unless
//! the test moves it, so "the first minute" is exact and nothing here depends on speed.

mod common;

use chrono::{DateTime, TimeZone, Utc};
use common::*;
use futures::StreamExt;
use serde_json::{json, Value};
use std::path::Path;
use steward::store::{Store, DUE_PROPOSALS_SQL};

const EVENTS: usize = 10_000;

/// The bound README states: the data dir (database, WAL, action and event files) grows
/// by at most this much per 1,000 unknown-target events, over a fixed base (mostly the
/// WAL, which SQLite keeps at its checkpoint size, ~4–5 MiB). Measured: 0.35 MiB per
/// 1,000 at 100,000 events (`cargo bench --bench retention -- size`).
const BYTES_PER_1000_EVENTS: u64 = 400 * 1024;
const BASE_BYTES: u64 = 6 * 1024 * 1024;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 27, 12, 0, 0).unwrap()
}

/// Posts one `service_unhealthy` per node `flood-<i>`, 32 at a time; the decisions.
async fn post_many(s: &Steward, nodes: std::ops::Range<usize>) -> Vec<String> {
    futures::stream::iter(nodes)
        .map(|i| async move {
            let r = s
                .post(
                    "/api/events",
                    json!({"type": "service_unhealthy", "node": format!("flood-{i}"),
                           "service": "svc", "severity": "error",
                           "payload": {"status": "exited"}}),
                )
                .await;
            assert_eq!(r.status(), 202, "accepted, planned or not");
            let v: Value = r.json().await.unwrap();
            v["decision"].as_str().unwrap().to_owned()
        })
        .buffer_unordered(32)
        .collect()
        .await
}

fn count(decisions: &[String], what: &str) -> usize {
    decisions.iter().filter(|d| *d == what).count()
}

fn files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => files(&e.path()),
            Ok(t) if t.is_file() => 1,
            _ => 0,
        })
        .sum()
}

async fn pending(s: &Steward) -> usize {
    s.get("/api/proposals?status=pending")
        .await
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unknown_targets_is_rate_limited_counted_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(t0());
    // No [[providers]]: every target is unknown. Default rate (20 a minute), default
    // actions and events dirs under the data dir, so the data dir holds everything.
    let cfg = write_config(dir.path(), "[planner]\nchain = [\"rules\"]\n");
    let data = dir.path().join("data");
    let s = Steward::start_with_clock(&cfg, &data, clock.shared()).await;
    let api = s.api().clone();

    let decisions = post_many(&s, 0..EVENTS).await;
    assert_eq!(
        count(&decisions, "plan"),
        20,
        "in the first minute only the rate is planned"
    );
    assert_eq!(count(&decisions, "unknown_target_limited"), EVENTS - 20);
    api.planning_idle().await;
    let intake = &s.get("/api/intake").await["intake"];
    assert_eq!(
        intake["unknown_target_limited"],
        (EVENTS - 20) as u64,
        "{intake}"
    );
    assert_eq!(intake["proposals"], 20, "{intake}");
    assert_eq!(intake["unknown_targets_last_minute"], 20, "{intake}");
    assert_eq!(pending(&s).await, 20);
    assert_eq!(
        files(&data.join("actions")),
        20,
        "one action file per proposal"
    );
    assert_eq!(
        files(&data.join("events")),
        20,
        "one event file per proposal"
    );

    // A minute later the budget is back: 20 more, no more.
    clock.advance(chrono::Duration::seconds(60));
    let decisions = post_many(&s, EVENTS..EVENTS + 100).await;
    assert_eq!(count(&decisions, "plan"), 20);
    api.planning_idle().await;
    assert_eq!(pending(&s).await, 40);
    // 10,100 distinct keys went past maps capped at 10,000: the oldest eighth of the flap
    // histories and of the timeline marks were forgotten, and the counters say so.
    let intake = &s.get("/api/intake").await["intake"];
    assert_eq!(intake["dropped_flaps"], 1250, "{intake}");
    assert_eq!(intake["dropped_record_marks"], 1250, "{intake}");
    assert_eq!(intake["cooldowns"], 40, "only planned keys hold a cooldown");

    // Every accepted event is on the timeline, the limited ones as not planned: wait for
    // the batches.
    let store = Store::open(
        &data.join("steward.db"),
        std::sync::Arc::new(steward::clock::SystemClock),
    )
    .await
    .unwrap();
    let timeline = |planned: bool| {
        let store = store.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM events WHERE type = 'health_event' \
                 AND json_extract(data, '$.planned') = ?",
            )
            .bind(planned)
            .fetch_one(store.pool())
            .await
            .unwrap()
        }
    };
    eventually(
        "the flood on the timeline",
        std::time::Duration::from_secs(30),
        || async { timeline(false).await + timeline(true).await == (EVENTS + 100) as i64 },
    )
    .await;
    assert_eq!(timeline(true).await, 40, "the planned ones say so");
    let size = dir_size(&data);
    let bound = BASE_BYTES + BYTES_PER_1000_EVENTS * (EVENTS as u64 + 100) / 1000;
    println!(
        "data dir after {} events: {size} bytes (db {} + wal {}; bound {bound})",
        EVENTS + 100,
        std::fs::metadata(data.join("steward.db")).map_or(0, |m| m.len()),
        std::fs::metadata(data.join("steward.db-wal")).map_or(0, |m| m.len()),
    );
    assert!(size <= bound, "{size} bytes > the documented {bound}");

    // The expiry tick reads only due proposals through the (status, created_at) index.
    let plan = store
        .query_plan(DUE_PROPOSALS_SQL)
        .await
        .unwrap()
        .join("\n");
    assert!(
        plan.contains("USING INDEX proposals_status_created (status=? AND created_at<?)"),
        "{plan}"
    );
    assert!(
        !plan.contains("SCAN"),
        "no scan of pending proposals: {plan}"
    );
    // 40 pending, none due: tick after tick reads nothing.
    let before = api.expiry_stats();
    eventually(
        "two more expiry ticks",
        std::time::Duration::from_secs(30),
        || async { api.expiry_stats().ticks >= before.ticks + 2 },
    )
    .await;
    assert_eq!(api.expiry_stats().rows_read, 0, "pending is not due");
    // 15 minutes after the first 20: exactly those are due, read once, and expired.
    clock.advance(chrono::Duration::minutes(14));
    eventually(
        "the first 20 expired",
        std::time::Duration::from_secs(30),
        || async { pending(&s).await == 20 },
    )
    .await;
    let after = api.expiry_stats();
    eventually(
        "another expiry tick",
        std::time::Duration::from_secs(30),
        || async { api.expiry_stats().ticks > after.ticks },
    )
    .await;
    assert_eq!(
        api.expiry_stats().rows_read,
        20,
        "the ticks read the 20 due proposals and none of the 20 still waiting"
    );
    store.close().await;
    s.stop().await;
}
