//! Bounded growth (issue 10): `[store] keep` deletes decided proposals with their audit
//! rows and files, the timeline and the event files' old day folders, never pending work
//! and never through a symlink; the expiry tick reads only due proposals, through the
//! index. Real SQLite files, real directories, a real engine whose wall clock the test
//! moves (no sleeping, no timing).

mod common;

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::*;
use serde_json::json;
use std::path::Path;
use steward::execute::state::Status;
use steward::planner::proposal::Proposal;
use steward::store::{Execution, Store, DUE_PROPOSALS_SQL, PRUNABLE_PROPOSALS_SQL};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap()
}

/// A stored proposal as the planner writes it (from JSON, so fields added later default).
fn proposal(id: &str, status: &str, at: DateTime<Utc>) -> Proposal {
    serde_json::from_value(json!({
        "action_id": id, "type": "notify", "action": "notify", "node": "n", "service": "s",
        "reason": "r", "confidence": 0.9, "requires_human": true, "risk_level": "low",
        "status": status, "created_at": at, "source_event": {}, "llm_model": "rules",
    }))
    .unwrap()
}

async fn store_in(dir: &Path) -> Store {
    Store::open(
        &dir.join("steward.db"),
        std::sync::Arc::new(steward::clock::SystemClock),
    )
    .await
    .unwrap()
}

const TERMINAL: [&str; 8] = [
    "failed",
    "timed_out",
    "rejected",
    "expired",
    "stale",
    "interrupted",
    "resolved",
    "unresolved",
];

#[tokio::test]
async fn only_decided_proposals_older_than_the_cutoff_go_and_their_audit_with_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path()).await;
    let all = [
        "pending",
        "approved",
        "running",
        "succeeded",
        "failed",
        "timed_out",
        "rejected",
        "expired",
        "stale",
        "interrupted",
        "resolved",
        "unresolved",
    ];
    for status in all {
        for (age, at) in [("old", t0()), ("new", t0() + Duration::days(10))] {
            let id = format!("p-{status}-{age}");
            store
                .insert_proposal(&proposal(&id, status, at))
                .await
                .unwrap();
        }
    }
    // Two that went through a real transition, with an audit row each.
    for (id, at) in [("flow-old", t0()), ("flow-new", t0() + Duration::days(10))] {
        store
            .insert_proposal(&proposal(id, "pending", at))
            .await
            .unwrap();
        let audit = Execution {
            actor: "api".into(),
            step: "reject".into(),
            ..Default::default()
        };
        let moved = store
            .transition(id, Status::Pending, Status::Rejected, at, |_| {}, audit)
            .await
            .unwrap();
        assert!(moved.is_some());
    }

    let cutoff = t0() + Duration::days(5);
    let (mut deleted, executions) = store
        .prune_decided_proposals(&TERMINAL, cutoff)
        .await
        .unwrap();
    deleted.sort();
    let mut expected: Vec<String> = TERMINAL.iter().map(|s| format!("p-{s}-old")).collect();
    expected.push("flow-old".into());
    expected.sort();
    assert_eq!(deleted, expected, "old and decided, nothing else");
    assert_eq!(executions, 1, "the audit of flow-old");
    for open in ["pending", "approved", "running", "succeeded"] {
        let id = format!("p-{open}-old");
        assert!(
            store.proposal(&id).await.unwrap().is_some(),
            "{open} is never dropped, however old"
        );
    }
    assert!(store.proposal("p-rejected-new").await.unwrap().is_some());
    assert!(store
        .executions(Some("flow-old"), 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.executions(Some("flow-new"), 10).await.unwrap().len(),
        1
    );
    // A second pass finds nothing more.
    let (again, _) = store
        .prune_decided_proposals(&TERMINAL, cutoff)
        .await
        .unwrap();
    assert!(again.is_empty());
    let plan = store.query_plan(PRUNABLE_PROPOSALS_SQL).await.unwrap();
    assert!(!plan.is_empty());
    store.close().await;
}

#[tokio::test]
async fn the_expiry_query_reads_the_due_proposals_whatever_the_number_pending() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path()).await;
    // Ten due (created at t0), ten more pending but not due yet, and decided ones that
    // are old (they are not pending: never read).
    for i in 0..10 {
        store
            .insert_proposal(&proposal(&format!("due-{i}"), "pending", t0()))
            .await
            .unwrap();
        let later = t0() + Duration::hours(1) + Duration::milliseconds(i);
        store
            .insert_proposal(&proposal(&format!("wait-{i}"), "pending", later))
            .await
            .unwrap();
        store
            .insert_proposal(&proposal(&format!("done-{i}"), "rejected", t0()))
            .await
            .unwrap();
    }
    let cutoff = t0() + Duration::seconds(1);
    let read = store.due_proposals(cutoff, 500).await.unwrap();
    assert_eq!(read.len(), 10);
    assert!(read.iter().all(|p| p.action_id.starts_with("due-")));
    // 10,000 more pending, none due: the query still reads the same ten.
    for i in 10..10_000 {
        let later = t0() + Duration::hours(1) + Duration::milliseconds(i);
        store
            .insert_proposal(&proposal(&format!("wait-{i}"), "pending", later))
            .await
            .unwrap();
    }
    assert_eq!(
        store.count_proposals(Status::Pending).await.unwrap(),
        10_010
    );
    let read = store.due_proposals(cutoff, 500).await.unwrap();
    assert_eq!(read.len(), 10, "the due ones, not the 10,010 pending");
    assert_eq!(
        store.due_proposals(cutoff, 3).await.unwrap().len(),
        3,
        "a tick's batch"
    );
    // How SQLite runs it: a range on (status, created_at), no scan, no sort.
    let plan = store
        .query_plan(DUE_PROPOSALS_SQL)
        .await
        .unwrap()
        .join("\n");
    assert!(
        plan.contains(
            "SEARCH proposals USING INDEX proposals_status_created (status=? AND created_at<?)"
        ),
        "{plan}"
    );
    assert!(
        !plan.contains("SCAN") && !plan.contains("TEMP B-TREE"),
        "{plan}"
    );
    store.close().await;
}

/// A config with the rules planner, every node protected (every proposal waits for a
/// person), proposals that wait a year for a decision (so "pending" survives the 91
/// days), and `extra`.
fn config(extra: &str) -> String {
    format!(
        "[planner]\nchain = [\"rules\"]\nprotected_nodes = [\"*\"]\n\n\
         [executor]\nproposal_ttl = \"365d\"\n\n{extra}"
    )
}

async fn post(s: &Steward, node: &str) {
    let r = s
        .post(
            "/api/events",
            json!({"type": "service_unhealthy", "node": node, "service": "svc"}),
        )
        .await;
    assert_eq!(r.status(), 202);
}

/// The action id of `node`'s proposal, once planned.
async fn proposal_of(s: &Steward, node: &str) -> String {
    let find = || async {
        let all = s.get("/api/proposals").await;
        all.as_array()
            .unwrap()
            .iter()
            .find(|p| p["node"] == node)
            .map(|p| p["action_id"].as_str().unwrap().to_owned())
    };
    eventually(
        &format!("a proposal for {node}"),
        std::time::Duration::from_secs(10),
        || async { find().await.is_some() },
    )
    .await;
    find().await.unwrap()
}

fn day_dir(data: &Path, at: DateTime<Utc>) -> std::path::PathBuf {
    data.join("events").join(at.format("%Y-%m-%d").to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_deletes_old_decided_work_and_its_files_but_never_pending_or_through_links() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("precious.json"), "{}").unwrap();
    let clock = ManualClock::at(t0());
    let cfg = write_config(dir.path(), &config("[store]\nkeep = \"90d\"\n"));
    let s = Steward::start_with_clock(&cfg, &data, clock.shared()).await;
    let api = s.api().clone();

    // Day 0: `old` is planned and rejected.
    post(&s, "old").await;
    let old = proposal_of(&s, "old").await;
    api.reject(&old, "api", Some("not needed")).await.unwrap();
    // An external executor claimed it too (the claimed folder of the file protocol).
    let actions = data.join("actions");
    std::fs::create_dir_all(actions.join("claimed")).unwrap();
    std::fs::write(actions.join("claimed").join(format!("{old}.json")), "{}").unwrap();
    // Links inside the old day's folder and a linked day folder point outside.
    let day0 = day_dir(&data, t0());
    assert!(day0.is_dir(), "the remediation_started file's folder");
    std::os::unix::fs::symlink(&outside, day0.join("link-to-outside")).unwrap();
    std::os::unix::fs::symlink(outside.join("precious.json"), day0.join("file-link.json")).unwrap();
    let linked_day = data.join("events").join("2025-06-01");
    std::os::unix::fs::symlink(&outside, &linked_day).unwrap();

    // Day 2: `waiting` stays pending; `recent` is rejected (decided, but young).
    clock.advance(Duration::days(2));
    post(&s, "waiting").await;
    post(&s, "recent").await;
    let waiting = proposal_of(&s, "waiting").await;
    let recent = proposal_of(&s, "recent").await;
    api.reject(&recent, "api", None).await.unwrap();
    api.planning_idle().await;

    // Day 91: the cutoff (now - 90 days) is day 1, noon.
    clock.advance(Duration::days(89));
    let pruned = api.prune_history().await.unwrap();
    assert_eq!(pruned.proposals, 1, "{pruned:?}");
    assert!(pruned.executions >= 1, "{pruned:?}");
    assert_eq!(
        pruned.action_files, 2,
        "the action file and the claimed one: {pruned:?}"
    );
    assert_eq!(pruned.event_dirs, 1, "day 0's folder: {pruned:?}");
    assert!(pruned.events >= 1, "day 0's timeline: {pruned:?}");

    let status = |id: String| {
        let s = &s;
        async move {
            let r = s
                .client
                .get(format!("{}/api/proposals/{id}", s.base))
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap();
            match r.status().as_u16() {
                404 => None,
                _ => Some(r.json::<serde_json::Value>().await.unwrap()["status"].clone()),
            }
        }
    };
    assert_eq!(status(old.clone()).await, None, "decided 91 days ago: gone");
    assert!(api.executions(Some(&old), 10).await.unwrap().is_empty());
    assert!(!actions.join(format!("{old}.json")).exists());
    assert!(!actions.join("claimed").join(format!("{old}.json")).exists());
    assert_eq!(
        status(waiting.clone()).await,
        Some(json!("pending")),
        "pending is never dropped"
    );
    assert!(actions.join(format!("{waiting}.json")).exists());
    assert_eq!(status(recent.clone()).await, Some(json!("rejected")));
    assert!(actions.join(format!("{recent}.json")).exists());
    assert!(!day0.exists(), "day 0 is wholly before the cutoff");
    assert!(day_dir(&data, t0() + Duration::days(2)).is_dir());
    assert!(
        outside.join("precious.json").exists(),
        "nothing was deleted through a link"
    );
    assert!(
        std::fs::symlink_metadata(&linked_day).is_ok(),
        "a linked day folder is left alone"
    );
    let events = s.get("/api/events?limit=5000").await;
    let cutoff = t0() + Duration::days(1);
    let old_events: Vec<&serde_json::Value> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| DateTime::parse_from_rfc3339(e["at"].as_str().unwrap()).unwrap() < cutoff)
        .collect();
    assert!(
        old_events.is_empty(),
        "events before the cutoff remain: {old_events:?}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_runs_at_start_without_being_asked() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let clock = ManualClock::at(t0());
    let cfg = write_config(dir.path(), &config("[store]\nkeep = \"30d\"\n"));
    let s = Steward::start_with_clock(&cfg, &data, clock.shared()).await;
    post(&s, "old").await;
    let old = proposal_of(&s, "old").await;
    s.api().reject(&old, "api", None).await.unwrap();
    s.stop().await;
    assert!(data.join("actions").join(format!("{old}.json")).exists());

    // Back 31 days later: the retain task's first pass (at start) deletes it.
    clock.advance(Duration::days(31));
    let s = Steward::start_with_clock(&cfg, &data, clock.shared()).await;
    eventually(
        "the old proposal pruned at start",
        std::time::Duration::from_secs(10),
        || async {
            s.get("/api/proposals")
                .await
                .as_array()
                .is_some_and(|a| a.iter().all(|p| p["action_id"] != old.as_str()))
                && !data.join("actions").join(format!("{old}.json")).exists()
        },
    )
    .await;
    s.stop().await;
}
