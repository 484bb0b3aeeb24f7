//! Fault tolerance of `steward serve` (the real binary): the disk under its database fills
//! up, and the Redis server of its bus is killed in the middle of a flood. Real parts only:
//! a real tmpfs (these tests run as root and fail, loudly, when they cannot mount one), the
//! real SQLite file on it, a real `redis-server`, real loopback services. Every wait has a
//! deadline; nothing sleeps and then asserts.

mod common;
#[path = "common/redis.rs"]
mod redis_server;

use common::serve::{Serve, ServeCommand};
use common::wait::eventually;
use common::{ok_health, Service};
use redis_server::RedisServer;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use tokio::time::Instant;

/// How long any awaited condition may take before the test fails: the binary on a busy
/// machine, a full disk, Redis restarts and the bus's reconnection backoff.
const PATIENCE: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------

/// A tmpfs mounted on a directory for the test's lifetime, unmounted when dropped (also
/// when the test fails).
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    fn mount(path: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(path).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .output()
            .expect("the mount command runs");
        assert!(
            out.status.success(),
            "this test needs a disk that really fills up: mounting a {size} tmpfs at {} failed \
             (run the tests as root, with CAP_SYS_ADMIN): {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Tmpfs {
            path: path.to_owned(),
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.path)
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            // Something still holds a file on it: detach it now, freed when released.
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}

/// Writes `path` until the file system says ENOSPC (a real write error, not a size
/// computed in advance), down to the last page; answers the bytes written.
fn fill(path: &Path) -> u64 {
    let mut f = std::fs::File::create(path).unwrap();
    let mut written = 0u64;
    for chunk in [1 << 20, 4096, 1] {
        let buf = vec![0xa5u8; chunk];
        loop {
            match f.write(&buf) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(e) if e.raw_os_error() == Some(28) => break,
                Err(e) => panic!("filling {}: {e}", path.display()),
            }
        }
    }
    // tmpfs has no delayed allocation: a successful write is space taken.
    let e = f.write(&[0]).expect_err("the disk is full");
    assert_eq!(e.raw_os_error(), Some(28), "ENOSPC, not {e}");
    written
}

/// `steward serve` (the shared harness: a free port it binds itself, its stderr in a file)
/// with `sections` (TOML) as its config, on `data`; answers once the API answers.
async fn serve(dir: &Path, data: &Path, sections: &str) -> Serve {
    let config = dir.join("steward.toml");
    std::fs::write(&config, sections).unwrap();
    ServeCommand::new(&config, data)
        .env("NODE_NAME", "faultnode")
        .start()
        .await
}

async fn provider(s: &Serve, id: &str) -> Value {
    let all = s.get("/api/providers").await;
    all.as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("provider {id} listed"))
}

async fn timeline_of(s: &Serve) -> Vec<Value> {
    s.get("/api/events?limit=5000")
        .await
        .as_array()
        .unwrap()
        .clone()
}

async fn bus_counters(s: &Serve) -> Value {
    s.get("/api/intake").await["bus"].clone()
}

// ---------------------------------------------------------------------------------------
// A full disk
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_reported_probing_goes_on_and_nothing_acknowledged_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Declared before `steward`, so Steward is killed before the unmount.
    let _disk = Tmpfs::mount(&data, "16m");
    let mut web = Service::start(ok_health()).await;
    let mut steward = serve(
        dir.path(),
        &data,
        &format!(
            "[probe]\ninterval = \"200ms\"\ntimeout = \"300ms\"\nfailure_threshold = 2\nbackoff = \"1s\"\n\n\
             [[providers]]\nid = \"web\"\nkind = \"http\"\nurl = \"{}\"\nnode = \"lab\"\nservice = \"nginx\"\n",
            web.url("/health")
        ),
    )
    .await;
    eventually("web probed up", PATIENCE, || async {
        provider(&steward, "web").await["last_outcome"] == "up"
    })
    .await;
    let status = steward.get("/api/status").await;
    assert_eq!(
        status["storage"]["ok"], true,
        "a fresh disk takes writes: {status}"
    );

    let filler = data.join("filler");
    let filled = fill(&filler);
    eprintln!("filled the tmpfs with {filled} bytes");

    // Events keep coming. Each is answered 202 (then it must reach the timeline) or 503
    // storage_unavailable (then it was not taken), until the status says the disk is full.
    let blob = "x".repeat(16 * 1024);
    let event = |service: &str| {
        json!({"type": "service_healthy", "node": "disk", "service": service,
               "payload": {"blob": blob}})
    };
    let (mut accepted, mut refused) = (Vec::new(), Vec::new());
    let deadline = Instant::now() + PATIENCE;
    let storage = loop {
        let service = format!("svc-{}", accepted.len() + refused.len());
        match steward.post("/api/events", &event(&service)).await {
            (202, _) => accepted.push(service),
            (503, body) => {
                assert_eq!(body["code"], "storage_unavailable", "{body}");
                refused.push(service);
            }
            (code, body) => panic!("POST /api/events on a full disk: {code} {body}"),
        }
        let storage = steward.get("/api/status").await["storage"].clone();
        if storage["ok"] == false && !refused.is_empty() {
            break storage;
        }
        assert!(
            Instant::now() < deadline,
            "the full disk never showed in GET /api/status (storage: {storage}) and no event \
             was refused ({} accepted)",
            accepted.len()
        );
    };
    eprintln!(
        "storage while full: {storage}; {} events accepted, {} refused",
        accepted.len(),
        refused.len()
    );
    let error = storage["error"].as_str().expect("the error in words");
    assert!(
        error.contains("full") || error.contains("I/O"),
        "SQLite's words for a full disk: {error}"
    );
    assert!(storage["since"].is_string(), "when it began: {storage}");
    assert!(storage["failed_writes"].as_u64().unwrap() >= 1);
    assert_eq!(
        steward.get("/api/status").await["overall"],
        "degraded",
        "a disk that takes no writes degrades the overall state"
    );
    let detailed = steward.get("/api/health/detailed").await;
    assert_eq!(detailed["status"], "degraded");
    assert_eq!(detailed["storage"]["ok"], false);

    // Probing goes on: the provider dies and comes back, and the live view follows.
    web.stop();
    eventually(
        "web's breaker opens while the disk is full",
        PATIENCE,
        || async { provider(&steward, "web").await["state"] == "open" },
    )
    .await;
    web.restart().await;
    eventually(
        "web closes again while the disk is full",
        PATIENCE,
        || async {
            let p = provider(&steward, "web").await;
            p["state"] == "closed" && p["last_outcome"] == "up"
        },
    )
    .await;
    let storage = steward.get("/api/status").await["storage"].clone();
    assert_eq!(storage["ok"], false, "still full: {storage}");

    // Space returns: writes resume on their own.
    std::fs::remove_file(&filler).unwrap();
    eventually(
        "the status to say writes succeed again",
        PATIENCE,
        || async { steward.get("/api/status").await["storage"]["ok"] == true },
    )
    .await;
    let storage = steward.get("/api/status").await["storage"].clone();
    assert!(storage["recovered_at"].is_string(), "{storage}");
    assert!(storage["outages"].as_u64().unwrap() >= 1, "{storage}");
    assert_eq!(storage["error"], Value::Null);

    eventually(
        "every event answered 202 on the timeline",
        PATIENCE,
        || async {
            let seen: HashSet<String> = timeline_of(&steward)
                .await
                .iter()
                .filter_map(|e| e["service"].as_str().map(str::to_owned))
                .collect();
            accepted.iter().all(|s| seen.contains(s))
        },
    )
    .await;
    let timeline = timeline_of(&steward).await;
    let seen: HashSet<&str> = timeline
        .iter()
        .filter_map(|e| e["service"].as_str())
        .collect();
    for s in &refused {
        assert!(
            !seen.contains(s.as_str()),
            "{s} was refused with 503, so it was not taken"
        );
    }
    // The recorder retries on its own tick: wait for it too.
    eventually(
        "the breaker's trip and recovery during the outage kept and written afterwards",
        PATIENCE,
        || async {
            let timeline = timeline_of(&steward).await;
            let web = |kind: &str| {
                timeline
                    .iter()
                    .any(|e| e["type"] == kind && e["provider_id"] == "web")
            };
            web("breaker_opened") && web("breaker_closed")
        },
    )
    .await;

    let (code, body) = steward.post("/api/events", &event("after")).await;
    assert_eq!(code, 202, "{body}");
    eventually("a new event written", PATIENCE, || async {
        timeline_of(&steward)
            .await
            .iter()
            .any(|e| e["service"] == "after")
    })
    .await;
    // A connection left inside a transaction by a failed COMMIT would hold the database:
    // later writes would wait, then fail with "database is locked" (or be lost in it).
    let log = steward.stderr();
    assert!(
        !log.contains("database is locked"),
        "no write failed on a lock after the disk was full:\n{log}"
    );
    steward.assert_alive_without_panic();
}

// ---------------------------------------------------------------------------------------
// Redis killed mid-flood
// ---------------------------------------------------------------------------------------

/// What a flood got done before it stopped.
#[derive(Debug, Default)]
struct Flood {
    /// PUBLISH answers summed: how many subscribers got each message (Steward is the only
    /// subscriber of `health_events`).
    delivered: u64,
    /// Messages whose pipeline was answered.
    answered: u64,
    /// Messages in the pipeline that failed (the server died): delivered or not, unknown.
    unanswered: u64,
}

/// Publishes benign events on `health_events`, 100 per pipeline, paced at 20,000 a second
/// (so Steward's subscription never exceeds the server's output buffer limit), until
/// `limit` or until the server is gone.
async fn flood(url: String, limit: u64) -> Flood {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("the flood connects");
    let mut out = Flood::default();
    let mut pace = tokio::time::interval(Duration::from_millis(5));
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut i = 0u64;
    while out.answered < limit {
        pace.tick().await;
        let mut pipe = redis::pipe();
        let n = 100.min(limit - out.answered);
        for _ in 0..n {
            let msg = json!({"type": "service_healthy", "node": "flood",
                             "service": format!("s{}", i % 10), "payload": {"i": i}});
            pipe.cmd("PUBLISH")
                .arg("health_events")
                .arg(msg.to_string());
            i += 1;
        }
        match pipe.query_async::<Vec<u64>>(&mut conn).await {
            Ok(replies) => {
                out.delivered += replies.iter().sum::<u64>();
                out.answered += n;
            }
            Err(_) => {
                out.unanswered = n;
                return out;
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_mid_flood_and_restarted_steward_reconnects_and_counts_what_it_got() {
    let dir = tempfile::tempdir().unwrap();
    let mut redis = RedisServer::start().await;
    let mut steward = serve(
        dir.path(),
        &dir.path().join("data"),
        &format!(
            "[planner]\nchain = [\"rules\"]\n\n[bus]\nredis_url = \"{}\"\n",
            redis.url()
        ),
    )
    .await;
    eventually("the bus subscribed", PATIENCE, || async {
        bus_counters(&steward).await["connected"] == true
    })
    .await;

    // A flood, and the server killed (SIGKILL) in the middle of it.
    let flooding = tokio::spawn(flood(redis.url(), u64::MAX));
    eventually("a good part of the flood received", PATIENCE, || async {
        bus_counters(&steward).await["received"]
            .as_u64()
            .unwrap_or(0)
            >= 3000
    })
    .await;
    let bus = bus_counters(&steward).await;
    assert_eq!(
        bus["disconnects"], 0,
        "no disconnect before the kill (the flood stays under Redis's buffer limit): {bus}"
    );
    redis.kill();
    let before = flooding.await.unwrap();
    assert!(before.unanswered > 0, "the kill hit the flood mid-way");
    eventually("Steward notices the dead server", PATIENCE, || async {
        bus_counters(&steward).await["connected"] == false
    })
    .await;
    let bus = bus_counters(&steward).await;
    let received_before = bus["received"].as_u64().unwrap();
    assert_eq!(bus["disconnects"], 1, "one lost session: {bus}");
    // Redis keeps nothing for a subscriber: what it had not yet written to Steward's socket
    // died with it. Steward cannot have more than was published, and the rest is the gap
    // that only the server could have told.
    assert!(
        received_before <= before.delivered + before.unanswered,
        "received {received_before}, but only {} were published",
        before.delivered + before.unanswered
    );
    eprintln!(
        "before the kill: {} delivered by the server (+{} unanswered), {received_before} received; \
         gap lost in the dying server: {}",
        before.delivered,
        before.unanswered,
        before.delivered.saturating_sub(received_before)
    );

    // Steward's own messages while the server is down: queued, not lost.
    for node in ["n1", "n2", "n3"] {
        let event = json!({"type": "service_unhealthy", "node": node, "service": "api"});
        assert_eq!(steward.post("/api/events", &event).await.0, 202);
    }
    // (Each plan publishes one message: `proposal_created`, or what became of it.)
    eventually(
        "three outgoing messages waiting for the server",
        PATIENCE,
        || async {
            let b = bus_counters(&steward).await;
            b["publish_requested"].as_u64() >= Some(3) && b["publish_queued"].as_u64() >= Some(3)
        },
    )
    .await;

    redis.restart().await;
    eventually("the bus subscribed again", PATIENCE, || async {
        bus_counters(&steward).await["connected"] == true
    })
    .await;
    eventually("the queued messages published", PATIENCE, || async {
        let b = bus_counters(&steward).await;
        let n = |k: &str| b[k].as_u64().unwrap_or(0);
        n("publish_queued") == 0 && n("published") + n("publish_dropped") == n("publish_requested")
    })
    .await;
    let bus = bus_counters(&steward).await;
    assert_eq!(
        bus["publish_dropped"], 0,
        "a short outage drops nothing: {bus}"
    );
    assert!(bus["published"].as_u64().unwrap() >= 3, "{bus}");
    assert_eq!(bus["reconnects"], 1, "{bus}");

    // After the restart every message published reaches Steward, exactly once.
    let after = flood(redis.url(), 5000).await;
    assert_eq!(
        after.delivered, 5000,
        "Steward was subscribed to every one of them"
    );
    eventually(
        "every message published after the restart received",
        PATIENCE,
        || async {
            bus_counters(&steward).await["received"].as_u64().unwrap()
                >= received_before + after.delivered
        },
    )
    .await;
    let bus = bus_counters(&steward).await;
    assert_eq!(
        bus["received"].as_u64().unwrap(),
        received_before + after.delivered,
        "received before the kill + published after the restart, nothing more: {bus}"
    );
    assert_eq!(
        (bus["disconnects"].as_u64(), bus["reconnects"].as_u64()),
        (Some(1), Some(1))
    );

    let timeline = timeline_of(&steward).await;
    let count = |kind: &str| timeline.iter().filter(|e| e["type"] == kind).count();
    assert_eq!(count("bus_disconnected"), 1, "one outage, told once");
    assert_eq!(
        count("bus_connected"),
        2,
        "the first connection and the reconnection"
    );
    steward.assert_alive_without_panic();
}
