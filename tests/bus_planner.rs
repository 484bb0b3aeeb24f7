//! Events over a real Redis bus become proposals: both wire shapes and junk published by
//! a real client, Steward's own events published back, and a Redis outage survived.

mod common;
#[path = "common/redis.rs"]
mod redis_server;

use common::*;
use futures::StreamExt;
use redis_server::RedisServer;
use serde_json::{json, Value};
use std::time::Duration;

/// A message through a Redis server on loopback, then a plan by the rules planner.
const SOON: Duration = Duration::from_secs(10);
/// A reconnection waits out the bus's backoff (500 ms, doubling, with jitter).
const RECONNECT: Duration = Duration::from_secs(30);

async fn publish(url: &str, channel: &str, data: &[u8]) {
    let client = redis::Client::open(url).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let _: i64 = redis::cmd("PUBLISH")
        .arg(channel)
        .arg(data)
        .query_async(&mut c)
        .await
        .unwrap();
}

async fn proposals(s: &Steward) -> Vec<Value> {
    s.get("/api/proposals").await.as_array().unwrap().clone()
}

async fn bus_connected(s: &Steward) -> bool {
    s.get("/api/status").await["bus"]["connected"] == true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_published_on_redis_become_proposals_and_survive_a_redis_outage() {
    let mut redis = RedisServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = format!(
        "[planner]\nchain = [\"rules\"]\nprotected_nodes = [\"chelsty*\"]\nactions_dir = \"{0}/actions\"\nevents_dir = \"{0}/events\"\n\n\
         [bus]\nredis_url = \"{1}\"\npublish_channel = \"steward_events\"\n",
        dir.path().display(),
        redis.url()
    );
    let s = Steward::start(&write_config(dir.path(), &cfg), &dir.path().join("data")).await;
    expect_update(s.api(), "the bus connects", SOON, || bus_connected(&s)).await;

    // Steward's own events come back on the publish channel.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut own = client.get_async_pubsub().await.unwrap();
    own.subscribe("steward_events").await.unwrap();
    let mut own = own.into_on_message();

    // Shape A on health_events, shape B on world_updates, and junk.
    let a = json!({"type": "service_unhealthy", "node": "piha", "service": "mosquitto",
                   "severity": "error", "payload": {"status": "exited", "exit_code": 1},
                   "timestamp": "2026-05-27T12:00:00Z"});
    let b = json!({"event_type": "node_offline", "node": "chelsty-infra", "service": "mosquitto",
                   "severity": "critical", "timestamp": 1_779_883_200});
    publish(&redis.url(), "health_events", a.to_string().as_bytes()).await;
    publish(&redis.url(), "world_updates", b.to_string().as_bytes()).await;
    publish(&redis.url(), "health_events", b"{not valid json").await;
    publish(&redis.url(), "health_events", &[0xff, 0xfe, 0x00]).await;
    publish(
        &redis.url(),
        "world_updates",
        br#"{"type":"service_unhealthy","service":"x"}"#,
    )
    .await;
    expect_update(s.api(), "two proposals", SOON, || async {
        proposals(&s).await.len() == 2
    })
    .await;
    let all = proposals(&s).await;
    let restart = all.iter().find(|p| p["node"] == "piha").unwrap();
    assert_eq!(restart["type"], "container_restart");
    assert_eq!(restart["source_event"]["channel"], "health_events");
    let offline = all.iter().find(|p| p["node"] == "chelsty-infra").unwrap();
    assert_eq!(offline["type"], "notify");
    assert_eq!(offline["requires_human"], true, "protected node");
    assert_eq!(offline["source_event"]["channel"], "world_updates");

    let intake = s.get("/api/intake").await;
    assert_eq!(intake["intake"]["rejected"]["invalid_json"], 1, "{intake}");
    assert_eq!(intake["intake"]["rejected"]["not_text"], 1, "{intake}");
    assert_eq!(intake["intake"]["rejected"]["missing_node"], 1, "{intake}");
    assert_eq!(s.get("/api/status").await["events_rejected"], 3);

    // The proposals were published for other workstations.
    let mut kinds = Vec::new();
    while kinds.iter().filter(|k| *k == "proposal_created").count() < 2 {
        let msg = tokio::time::timeout(std::time::Duration::from_secs(10), own.next())
            .await
            .expect("steward publishes its proposals")
            .unwrap();
        let v: Value = serde_json::from_slice(msg.get_payload_bytes()).unwrap();
        assert_eq!(v["source"], "steward");
        kinds.push(v["type"].as_str().unwrap().to_owned());
    }

    // Our own messages coming back (publish channel also subscribed) are not planned.
    let echo = json!({"type": "service_unhealthy", "node": "echo-node", "source": "steward",
                      "origin": s.api().config().node});
    publish(&redis.url(), "health_events", echo.to_string().as_bytes()).await;
    expect_update(s.api(), "the echo is counted", SOON, || async {
        s.get("/api/intake").await["intake"]["echoes"] == 1
    })
    .await;
    assert!(!proposals(&s).await.iter().any(|p| p["node"] == "echo-node"));

    // Redis goes away: the UI and the detailed health say so.
    redis.kill();
    expect_update(s.api(), "the bus reports the outage", SOON, || async {
        !bus_connected(&s).await
    })
    .await;
    let detailed = s.get("/api/health/detailed").await;
    assert_eq!(detailed["status"], "degraded");
    assert_eq!(detailed["bus"]["status"], "error");
    assert!(
        detailed["bus"]["detail"]
            .as_str()
            .unwrap()
            .contains("reconnecting"),
        "{detailed}"
    );
    expect_update(s.api(), "the outage is in the timeline", SOON, || async {
        !s.events_of("bus_disconnected").await.is_empty()
    })
    .await;

    // It comes back: Steward reconnects and later events are planned again.
    redis.restart().await;
    expect_update(s.api(), "the bus reconnects", RECONNECT, || {
        bus_connected(&s)
    })
    .await;
    assert!(
        s.get("/api/status").await["bus"]["reconnects"]
            .as_u64()
            .unwrap()
            >= 1
    );
    let later = json!({"type": "service_unhealthy", "node": "solaria", "service": "ollama"});
    publish(&redis.url(), "health_events", later.to_string().as_bytes()).await;
    expect_update(
        s.api(),
        "a third proposal after the outage",
        SOON,
        || async { proposals(&s).await.iter().any(|p| p["node"] == "solaria") },
    )
    .await;
    assert_eq!(s.get("/api/health/detailed").await["bus"]["status"], "ok");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_in_the_redis_url_reaches_neither_the_api_nor_the_database() {
    let redis = RedisServer::start_with(&["--requirepass", "s3cret-pw"]).await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("redis://:s3cret-pw@127.0.0.1:{}", redis.port);
    let cfg = format!("[bus]\nredis_url = \"{url}\"\n");
    let s = Steward::start(&write_config(dir.path(), &cfg), &dir.path().join("data")).await;
    expect_update(s.api(), "the bus connects with the password", SOON, || {
        bus_connected(&s)
    })
    .await;
    publish(
        &url,
        "health_events",
        br#"{"type":"service_unhealthy","node":"piha"}"#,
    )
    .await;
    expect_update(s.api(), "planned", SOON, || async {
        !proposals(&s).await.is_empty()
    })
    .await;
    let status = s.get("/api/status").await.to_string();
    let intake = s.get("/api/intake").await.to_string();
    let events = s.get("/api/events").await.to_string();
    for text in [&status, &intake, &events] {
        assert!(!text.contains("s3cret-pw"), "{text}");
    }
    assert!(status.contains("***"), "{status}");
    let db_path = s.data_dir.join("steward.db");
    s.stop().await;
    let db = std::fs::read(db_path).unwrap();
    assert!(
        !db.windows(9).any(|w| w == b"s3cret-pw"),
        "the password is not in the database"
    );
}

/// A Steward on `redis` that watches piha/mosquitto (probed on demand only), runs a
/// counting fix for low risks by itself, and trusts the bus or not.
async fn auto_steward(redis: &RedisServer, dir: &std::path::Path, trusted: bool) -> Steward {
    let fix = dir.join("fix");
    std::fs::write(
        &fix,
        format!(
            "#!/bin/sh\necho \"$1\" >> '{}'\n",
            dir.join("runs").display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fix, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cfg = format!(
        "[[providers]]\nid = \"mqtt\"\nkind = \"command\"\ncommand = [\"false\"]\nnode = \"piha\"\nservice = \"mosquitto\"\ninterval = \"1h\"\nfailure_threshold = 100\n\n\
         [planner]\nchain = [\"rules\"]\nactions_dir = \"{d}/actions\"\nevents_dir = \"{d}/events\"\n\n\
         [bus]\nredis_url = \"{url}\"\ntrusted = {trusted}\n\n\
         [executor]\nauto_execute = [\"none\", \"low\"]\n[executor.commands]\ncontainer_restart = [\"{fix}\", \"{{service}}\"]\n",
        d = dir.display(),
        url = redis.url(),
        fix = fix.display()
    );
    let s = Steward::start(&write_config(dir, &cfg), &dir.join("data")).await;
    expect_update(s.api(), "the bus connects", SOON, || bus_connected(&s)).await;
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bus_events_never_run_a_fix_by_themselves_unless_the_bus_is_trusted() {
    let redis = RedisServer::start().await;
    // Confident enough for the rules planner (exit code 1: restart, 0.75).
    let event = json!({"type": "service_unhealthy", "node": "piha", "service": "mosquitto",
                       "payload": {"exit_code": 1}});

    let untrusted = tempfile::tempdir().unwrap();
    let s = auto_steward(&redis, untrusted.path(), false).await;
    publish(&redis.url(), "health_events", event.to_string().as_bytes()).await;
    expect_update(s.api(), "a proposal", SOON, || async {
        proposals(&s).await.len() == 1
    })
    .await;
    s.engine.as_ref().unwrap().api().planning_idle().await;
    let p = &proposals(&s).await[0];
    assert_eq!(p["status"], "pending", "{p:#}");
    assert_eq!(p["requires_human"], true);
    assert!(
        p["overrides"][0]
            .as_str()
            .unwrap()
            .contains("came from the Redis bus (channel \"health_events\"; [bus] trusted = false)"),
        "{p:#}"
    );
    assert!(!untrusted.path().join("runs").exists(), "nothing ran");
    s.stop().await;

    let trusted = tempfile::tempdir().unwrap();
    let s = auto_steward(&redis, trusted.path(), true).await;
    publish(&redis.url(), "health_events", event.to_string().as_bytes()).await;
    expect_update(s.api(), "a proposal", SOON, || async {
        proposals(&s).await.len() == 1
    })
    .await;
    s.engine.as_ref().unwrap().api().planning_idle().await;
    let p = &proposals(&s).await[0];
    assert_eq!(
        p["decided_by"], "auto",
        "the same event from a trusted bus: {p:#}"
    );
    eventually("the fix ran", SOON, || async {
        trusted.path().join("runs").exists()
    })
    .await;
    s.stop().await;
}
