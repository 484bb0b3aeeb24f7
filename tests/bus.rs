//! The Redis bus against a real `redis-server`: each test runs its own server on a free
//! loopback port (killed on drop) and talks to it with a real client.

use std::collections::HashSet;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use parking_lot::Mutex;
use serde_json::json;
use steward::bus::{Bus, BusInput, BusOptions, BusStatus};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{timeout, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

mod common;
#[path = "common/redis.rs"]
mod redis_server;
use common::wait::eventually;
use redis_server::RedisServer;

/// How long any awaited condition may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------

/// A bus under test with its sink's receiving end; cancels its tasks when dropped.
struct Running {
    bus: Bus,
    rx: mpsc::Receiver<BusInput>,
    tracker: TaskTracker,
    cancel: CancellationToken,
}

impl Running {
    fn start(opts: BusOptions) -> Running {
        Running::start_with_sink(opts, 1024)
    }

    fn start_with_sink(opts: BusOptions, capacity: usize) -> Running {
        let (tx, rx) = mpsc::channel(capacity);
        let tracker = TaskTracker::new();
        let cancel = CancellationToken::new();
        let bus = Bus::start(
            opts,
            std::sync::Arc::new(steward::clock::SystemClock),
            tx,
            &tracker,
            cancel.clone(),
        );
        Running {
            bus,
            rx,
            tracker,
            cancel,
        }
    }

    /// The next input from the bus; panics when none comes in time.
    async fn next(&mut self) -> BusInput {
        timeout(PATIENCE, self.rx.recv())
            .await
            .expect("an input from the bus in time")
            .expect("the bus keeps its sink open")
    }

    async fn expect_connected(&mut self) {
        let input = self.next().await;
        assert_eq!(input, BusInput::Connected, "expected Connected");
    }

    async fn expect_disconnected(&mut self) -> String {
        match self.next().await {
            BusInput::Disconnected { error } => error,
            other => panic!("expected Disconnected, got {other:?}"),
        }
    }

    async fn expect_message(&mut self) -> (String, Vec<u8>) {
        match self.next().await {
            BusInput::Message { channel, data } => (channel, data),
            other => panic!("expected a message, got {other:?}"),
        }
    }

    fn status(&self) -> BusStatus {
        self.bus.status()
    }

    /// Cancels and returns how long the tasks took to finish (panics past 10 s).
    async fn stop(&self) -> Duration {
        let started = Instant::now();
        self.cancel.cancel();
        self.tracker.close();
        timeout(PATIENCE, self.tracker.wait())
            .await
            .expect("the bus's tasks end within 10 s of cancellation");
        started.elapsed()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Options for tests: quick retries so outages heal fast.
fn quick(url: String) -> BusOptions {
    BusOptions {
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(300),
        ..BusOptions::new(url)
    }
}

/// PUBLISH from a separate, ordinary client; answers how many subscribers got it.
async fn publish(conn: &mut redis::aio::MultiplexedConnection, channel: &str, data: &[u8]) -> i64 {
    redis::cmd("PUBLISH")
        .arg(channel)
        .arg(data)
        .query_async(conn)
        .await
        .expect("PUBLISH")
}

async fn client(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("test client connects")
}

/// A test subscriber on `channel`, confirmed subscribed on return.
async fn subscriber(url: &str, channel: &str) -> redis::aio::PubSubStream {
    let mut pubsub = redis::Client::open(url)
        .expect("url")
        .get_async_pubsub()
        .await
        .expect("test subscriber connects");
    pubsub.subscribe(channel).await.expect("SUBSCRIBE");
    pubsub.into_on_message()
}

async fn next_json(stream: &mut redis::aio::PubSubStream) -> serde_json::Value {
    let msg = timeout(PATIENCE, stream.next())
        .await
        .expect("a message in time")
        .expect("the test subscriber stays connected");
    serde_json::from_slice(msg.get_payload_bytes()).expect("the bus publishes JSON")
}

/// A TCP proxy in front of the server, so a test can break the bus's connections while the
/// server (and the test's own clients) stay up.
struct Proxy {
    port: u16,
    state: Arc<Mutex<ProxyState>>,
    accept: tokio::task::JoinHandle<()>,
}

#[derive(Clone, Copy, PartialEq)]
enum ProxyMode {
    Forward,
    /// Closes every connection and every new one at once.
    Refuse,
    /// Keeps connections open but passes nothing: a host that vanished without a FIN.
    Silent,
}

struct ProxyState {
    mode: ProxyMode,
    /// Cancelled when the mode changes, to end the current forwarding sessions.
    generation: CancellationToken,
    held: Vec<TcpStream>,
}

impl Proxy {
    async fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(Mutex::new(ProxyState {
            mode: ProxyMode::Forward,
            generation: CancellationToken::new(),
            held: Vec::new(),
        }));
        let st = Arc::clone(&state);
        let accept = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let (mode, generation) = {
                    let s = st.lock();
                    (s.mode, s.generation.clone())
                };
                match mode {
                    ProxyMode::Refuse => drop(inbound),
                    ProxyMode::Silent => st.lock().held.push(inbound),
                    ProxyMode::Forward => {
                        let st = Arc::clone(&st);
                        tokio::spawn(async move {
                            let Ok(mut outbound) =
                                TcpStream::connect(("127.0.0.1", upstream)).await
                            else {
                                return;
                            };
                            let mut inbound = inbound;
                            tokio::select! {
                                _ = generation.cancelled() => {}
                                _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => return,
                            }
                            let mut s = st.lock();
                            if s.mode == ProxyMode::Silent {
                                s.held.push(inbound);
                                s.held.push(outbound);
                            }
                        });
                    }
                }
            }
        });
        Proxy {
            port,
            state,
            accept,
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn set(&self, mode: ProxyMode) {
        let mut s = self.state.lock();
        s.mode = mode;
        let old = std::mem::replace(&mut s.generation, CancellationToken::new());
        old.cancel();
        if mode != ProxyMode::Silent {
            s.held.clear();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.set(ProxyMode::Refuse);
    }
}

// ---------------------------------------------------------------------------------------
// Specifications
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn messages_on_both_channels_arrive_as_raw_bytes() {
    let server = RedisServer::start().await;
    let mut bus = Running::start(quick(server.url()));
    bus.expect_connected().await;
    let mut conn = client(&server.url()).await;

    let sent: Vec<(&str, &[u8])> = vec![
        (
            "health_events",
            br#"{"type":"service_unhealthy","node":"piha"}"#,
        ),
        ("world_updates", b"{not json"),
        ("health_events", &[0xff, 0xfe, 0x00, 0x80, b'\n']),
        ("world_updates", b""),
    ];
    for (channel, data) in &sent {
        assert_eq!(
            publish(&mut conn, channel, data).await,
            1,
            "the bus is subscribed to {channel}"
        );
    }
    assert_eq!(
        publish(&mut conn, "elsewhere", b"not for us").await,
        0,
        "nobody subscribes to an unconfigured channel"
    );
    assert_eq!(publish(&mut conn, "health_events", b"last").await, 1);

    for (channel, data) in &sent {
        let (got_channel, got_data) = bus.expect_message().await;
        assert_eq!(got_channel, *channel);
        assert_eq!(
            got_data, *data,
            "payloads are forwarded byte for byte, junk included"
        );
    }
    assert_eq!(
        bus.expect_message().await,
        ("health_events".into(), b"last".to_vec()),
        "the unconfigured channel's message never arrived"
    );
    let status = bus.status();
    assert!(status.connected);
    assert_eq!(status.received, 5);
    assert!(status.last_message_at.is_some());
    assert!(status.connected_since.is_some());
    assert_eq!(status.reconnects, 0);
}

#[tokio::test]
async fn a_20_mb_message_is_refused_uncopied_and_counted_and_the_next_one_arrives() {
    let server = RedisServer::start().await;
    let mut bus = Running::start(quick(server.url()));
    bus.expect_connected().await;
    let mut conn = client(&server.url()).await;

    let huge = vec![b'x'; 20 * 1024 * 1024];
    assert_eq!(publish(&mut conn, "health_events", &huge).await, 1);
    let normal = br#"{"type":"service_unhealthy","node":"piha"}"#;
    assert_eq!(publish(&mut conn, "health_events", normal).await, 1);

    match bus.next().await {
        BusInput::Oversized { channel, bytes } => {
            assert_eq!((channel.as_str(), bytes), ("health_events", huge.len()))
        }
        BusInput::Message { data, .. } => panic!(
            "the {} bytes were copied and passed on: only the size should be",
            data.len()
        ),
        other => panic!("expected Oversized, got {other:?}"),
    }
    assert_eq!(
        bus.expect_message().await,
        ("health_events".into(), normal.to_vec()),
        "the connection survives: the next message arrives as usual"
    );
    let status = bus.status();
    assert_eq!(status.oversized, 1, "the refusal is counted");
    assert_eq!(status.received, 2);
    assert!(status.connected);
    assert_eq!(status.reconnects, 0, "refusing is not a reconnect");

    // The limit is the planner's: a message exactly that large still goes through.
    let limit = steward::planner::event::MAX_EVENT_BYTES;
    assert_eq!(BusOptions::new("redis://x").max_message, limit);
    let at_limit = vec![b' '; limit];
    publish(&mut conn, "world_updates", &at_limit).await;
    assert_eq!(bus.expect_message().await.1.len(), limit);
}

#[tokio::test]
async fn the_readme_acl_lets_steward_subscribe_and_publish_and_nothing_else() {
    let server = RedisServer::start().await;
    let mut admin = client(&server.url()).await;
    // README, "Securing the bus", verbatim.
    let _: () = redis::cmd("ACL")
        .arg(&[
            "SETUSER",
            "steward",
            "reset",
            "on",
            ">s3cret",
            "resetchannels",
            "&health_events",
            "&world_updates",
            "+subscribe",
            "+unsubscribe",
            "+ping",
            "(+publish &steward_events)",
        ])
        .query_async(&mut admin)
        .await
        .expect("the README's ACL is valid for this redis-server");
    let url = format!("redis://steward:s3cret@127.0.0.1:{}", server.port);
    let mut watcher = subscriber(&server.url(), "steward_events").await;
    let mut bus = Running::start(quick(url.clone()));
    bus.expect_connected().await;

    assert_eq!(publish(&mut admin, "world_updates", b"in").await, 1);
    assert_eq!(
        bus.expect_message().await,
        ("world_updates".into(), b"in".to_vec())
    );
    bus.bus.publish(&json!({"type": "proposal_created"}));
    assert_eq!(
        next_json(&mut watcher).await,
        json!({"type": "proposal_created"})
    );

    // With the same credentials nothing else is allowed: no forged events, no keys.
    let mut as_steward = client(&url).await;
    let forged: redis::RedisResult<i64> = redis::cmd("PUBLISH")
        .arg("health_events")
        .arg("forged")
        .query_async(&mut as_steward)
        .await;
    assert!(
        forged.is_err(),
        "publishing on a subscribed channel is refused"
    );
    let get: redis::RedisResult<Option<String>> = redis::cmd("GET")
        .arg("k")
        .query_async(&mut as_steward)
        .await;
    assert!(get.is_err(), "no key access");
}

#[tokio::test]
async fn reports_connected_then_disconnected_when_the_server_dies_and_reconnects_when_it_returns() {
    let mut server = RedisServer::start().await;
    let mut bus = Running::start(quick(server.url()));
    bus.expect_connected().await;
    assert!(bus.status().connected);

    server.kill();
    let error = bus.expect_disconnected().await;
    assert!(!error.is_empty(), "the outage says why");
    assert!(!bus.status().connected);
    assert!(bus.status().last_error.is_some());

    eventually("a few failed retries", PATIENCE, || async {
        bus.status().failed_connects >= 3
    })
    .await;
    server.restart().await;
    assert_eq!(
        bus.next().await,
        BusInput::Connected,
        "one Disconnected per outage, however many retries failed, then Connected"
    );

    let mut conn = client(&server.url()).await;
    assert_eq!(publish(&mut conn, "world_updates", b"after").await, 1);
    assert_eq!(
        bus.expect_message().await,
        ("world_updates".into(), b"after".to_vec())
    );
    let status = bus.status();
    assert!(status.connected, "connected again");
    assert!(status.reconnects >= 1, "the reconnect is counted");
    assert_eq!(
        status.disconnects, 1,
        "one lost session, however many retries"
    );
    assert_eq!(status.received, 1);
}

#[tokio::test]
async fn publishes_own_events_on_the_publish_channel() {
    let server = RedisServer::start().await;
    let mut watcher = subscriber(&server.url(), "steward_events").await;
    let bus = Running::start(quick(server.url()));

    let events = [
        json!({"type": "proposal_created", "action_id": "plan-piha-nginx-1"}),
        json!({"type": "bus_check", "n": 2, "nested": {"ok": true}}),
    ];
    for e in &events {
        bus.bus.publish(e);
    }
    for e in &events {
        assert_eq!(
            &next_json(&mut watcher).await,
            e,
            "published as JSON, in order"
        );
    }
    eventually("the published counter", PATIENCE, || async {
        bus.status().published == 2
    })
    .await;
    let status = bus.status();
    assert_eq!(status.publish_channel.as_deref(), Some("steward_events"));
    assert_eq!(status.publish_dropped, 0);
    assert_eq!(status.publish_queued, 0);
}

#[tokio::test]
async fn publishing_is_a_no_op_without_a_publish_channel() {
    let server = RedisServer::start().await;
    let mut watcher = subscriber(&server.url(), "steward_events").await;
    let mut bus = Running::start(BusOptions {
        publish_channel: None,
        ..quick(server.url())
    });
    bus.expect_connected().await;
    bus.bus.publish(&json!({"type": "ignored"}));
    let status = bus.status();
    assert_eq!((status.publish_queued, status.published), (0, 0));
    assert!(
        !status.publisher_connected,
        "no publisher connection at all"
    );
    // The watcher proves the channel stays silent: the next thing on it is ours.
    let mut conn = client(&server.url()).await;
    publish(&mut conn, "steward_events", br#"{"from":"test"}"#).await;
    assert_eq!(next_json(&mut watcher).await, json!({"from": "test"}));
}

#[tokio::test]
async fn publishing_while_disconnected_queues_then_delivers_the_newest_and_counts_the_dropped() {
    let server = RedisServer::start().await;
    let proxy = Proxy::start(server.port).await;
    // The test's subscriber talks to the server directly and never misses a thing.
    let mut watcher = subscriber(&server.url(), "steward_events").await;
    let mut bus = Running::start(BusOptions {
        publish_queue: 5,
        ..quick(proxy.url())
    });
    bus.expect_connected().await;
    bus.bus.publish(&json!({"seq": 0}));
    assert_eq!(next_json(&mut watcher).await, json!({"seq": 0}));

    proxy.set(ProxyMode::Refuse);
    bus.expect_disconnected().await;
    for seq in 1..=8 {
        bus.bus.publish(&json!({ "seq": seq }));
    }
    eventually("the oldest three dropped, five kept", PATIENCE, || async {
        let s = bus.status();
        s.publish_dropped == 3 && s.publish_queued == 5
    })
    .await;
    eventually("the publisher to notice the outage", PATIENCE, || async {
        !bus.status().publisher_connected
    })
    .await;

    proxy.set(ProxyMode::Forward);
    bus.expect_connected().await;
    for seq in 4..=8 {
        assert_eq!(
            next_json(&mut watcher).await,
            json!({ "seq": seq }),
            "the newest five, in order, after the reconnect"
        );
    }
    eventually("all queued events published", PATIENCE, || async {
        bus.status().published == 6
    })
    .await;
    let status = bus.status();
    assert_eq!(status.publish_dropped, 3);
    assert_eq!(
        (
            status.publish_overflow,
            status.publish_expired,
            status.publish_refused
        ),
        (3, 0, 0),
        "dropped because the queue was full while disconnected, and said so"
    );
    assert_eq!(status.publish_queued, 0);
    assert_eq!(
        status.publish_requested,
        status.published + status.publish_dropped,
        "every event handed to the bus is either published or counted as dropped"
    );
    assert_eq!(status.publish_requested, 9);
    assert!(status.publisher_connected);
}

#[tokio::test]
async fn notices_a_connection_gone_silent_through_keepalive_pings() {
    let server = RedisServer::start().await;
    let proxy = Proxy::start(server.port).await;
    let mut bus = Running::start(BusOptions {
        keepalive: Duration::from_millis(200),
        connect_timeout: Duration::from_millis(500),
        ..quick(proxy.url())
    });
    bus.expect_connected().await;

    proxy.set(ProxyMode::Silent);
    let error = bus.expect_disconnected().await;
    assert!(
        error.contains("PING"),
        "no FIN came; the unanswered PING told: {error}"
    );

    proxy.set(ProxyMode::Forward);
    bus.expect_connected().await;
    let mut conn = client(&server.url()).await;
    assert_eq!(publish(&mut conn, "health_events", b"back").await, 1);
    assert_eq!(bus.expect_message().await.1, b"back");
}

#[tokio::test]
async fn a_password_in_the_url_never_appears_in_status() {
    const PASSWORD: &str = "s3cr3t-Pa55w0rd";
    const WRONG: &str = "wr0ng-Pa55w0rd";
    let logs = Arc::new(Mutex::new(Vec::<u8>::new()));
    let sink = Arc::clone(&logs);
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || CapturedLogs(Arc::clone(&sink)))
        .finish();
    // current_thread runtime: every task of the bus logs through this thread's default.
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = RedisServer::start_with(&["--requirepass", PASSWORD]).await;
    let good_url = format!("redis://:{PASSWORD}@127.0.0.1:{}", server.port);
    let mut good = Running::start(quick(good_url));
    good.expect_connected().await;
    good.bus.publish(&json!({"type": "hello"}));
    eventually("the event published", PATIENCE, || async {
        good.status().published == 1
    })
    .await;

    let bad_url = format!("redis://steward:{WRONG}@127.0.0.1:{}", server.port);
    let mut bad = Running::start(quick(bad_url));
    let error = bad.expect_disconnected().await;
    assert!(
        !error.contains(WRONG),
        "the error names no password: {error}"
    );
    bad.bus.publish(&json!({"type": "never"}));
    eventually("the bad publisher to fail too", PATIENCE, || async {
        String::from_utf8_lossy(&logs.lock()).contains("publisher disconnected")
    })
    .await;

    let good_status = good.status();
    assert!(good_status.connected);
    assert_eq!(
        good_status.url,
        format!("redis://:***@127.0.0.1:{}", server.port)
    );
    let bad_status = bad.status();
    assert_eq!(
        bad_status.url,
        format!("redis://steward:***@127.0.0.1:{}", server.port)
    );
    let shown = serde_json::to_string(&(&good_status, &bad_status)).expect("serializes");
    assert!(
        !shown.contains(PASSWORD) && !shown.contains(WRONG),
        "{shown}"
    );

    good.stop().await;
    bad.stop().await;
    let logs = String::from_utf8_lossy(&logs.lock()).into_owned();
    assert!(
        logs.contains(":***@127.0.0.1"),
        "the logs did capture the bus (with its redacted URL): {logs}"
    );
    assert!(
        !logs.contains(PASSWORD) && !logs.contains(WRONG),
        "no password in the logs"
    );
}

/// An `io::Write` into a shared buffer, for capturing logs.
struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn stops_promptly_when_cancelled() {
    let mut server = RedisServer::start().await;
    let mut bus = Running::start(BusOptions {
        // Long backoff: cancellation must cut the sleep short, not wait it out.
        backoff_min: Duration::from_secs(30),
        backoff_max: Duration::from_secs(60),
        ..BusOptions::new(server.url())
    });
    bus.expect_connected().await;
    server.kill();
    bus.expect_disconnected().await;
    // The publisher has something to do and nowhere to send it.
    bus.bus.publish(&json!({"type": "stranded"}));
    eventually("the publisher to notice the outage", PATIENCE, || async {
        !bus.status().publisher_connected
    })
    .await;

    let took = bus.stop().await;
    eprintln!("stopped {took:?} after cancellation, while backing off");
}

#[tokio::test]
async fn stops_promptly_when_cancelled_mid_connect_to_a_silent_server() {
    let server = RedisServer::start().await;
    let proxy = Proxy::start(server.port).await;
    proxy.set(ProxyMode::Silent);
    let bus = Running::start(BusOptions {
        connect_timeout: Duration::from_secs(60),
        ..BusOptions::new(proxy.url())
    });
    eventually(
        "both connections to hang at the silent proxy",
        PATIENCE,
        || async { proxy.state.lock().held.len() >= 2 },
    )
    .await;
    let took = bus.stop().await;
    eprintln!("stopped {took:?} after cancellation, while connecting");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sustains_high_rate_without_loss() {
    const N: usize = 50_000;
    const PIPELINE: usize = 1_000;
    let server = RedisServer::start().await;
    // The engine's sink is 65,536 deep; a smaller one here makes backpressure actually bite.
    let mut bus = Running::start_with_sink(quick(server.url()), 4_096);
    bus.expect_connected().await;

    let url = server.url();
    let started = Instant::now();
    let producer = tokio::spawn(async move {
        let mut conn = client(&url).await;
        for chunk in 0..N / PIPELINE {
            let mut pipe = redis::pipe();
            for i in chunk * PIPELINE..(chunk + 1) * PIPELINE {
                let data = format!(r#"{{"type":"tick","node":"n{}","i":{i}}}"#, i % 7);
                pipe.cmd("PUBLISH").arg("health_events").arg(data).ignore();
            }
            pipe.query_async::<()>(&mut conn).await.expect("pipeline");
        }
        started.elapsed()
    });

    let mut seen = HashSet::with_capacity(N);
    let deadline = Instant::now() + Duration::from_secs(120);
    while seen.len() < N {
        let input = tokio::time::timeout_at(deadline, bus.rx.recv())
            .await
            .unwrap_or_else(|_| panic!("only {} of {N} arrived", seen.len()))
            .expect("sink open");
        let BusInput::Message { data, .. } = input else {
            panic!("unexpected {input:?} mid-stream");
        };
        let v: serde_json::Value = serde_json::from_slice(&data).expect("intact payload");
        assert!(
            seen.insert(v["i"].as_u64().expect("i")),
            "no duplicates: {v}"
        );
    }
    let took = started.elapsed();
    let sent_in = producer.await.expect("producer");
    assert_eq!(seen.len(), N, "every message arrived once");
    assert_eq!(bus.status().received, N as u64);
    eprintln!(
        "intake: {N} messages in {took:?} = {:.0} msg/s (producer done after {sent_in:?})",
        N as f64 / took.as_secs_f64()
    );
}
