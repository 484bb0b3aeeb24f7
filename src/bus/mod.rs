//! The Redis bus: Steward's pub/sub link to the rest of the fleet.
//!
//! Owns:
//! - subscribing to the configured channels (default `health_events`, `world_updates`) and
//!   forwarding every message as raw bytes ([`BusInput::Message`]) to the engine's sink,
//!   except one larger than `max_message`: that one is refused unread and uncopied
//!   ([`BusInput::Oversized`]);
//! - publishing Steward's own events (JSON) on `publish_channel` (default `steward_events`)
//!   from a bounded queue that never blocks the caller;
//! - reconnecting both connections forever, with exponential backoff and jitter, until
//!   cancelled;
//! - reporting its connection state: [`BusInput::Connected`] / [`BusInput::Disconnected`]
//!   (once per outage) to the sink, and counters in [`BusStatus`] (its times from the
//!   clock given to [`Bus::start`]).
//!
//! Does not own: parsing or judging events (the planner does; junk is forwarded unchanged),
//! nor the decision to run at all (the engine starts a [`Bus`] only when `[bus]` is
//! configured). The Redis URL's password never leaves this module: logs, errors and status
//! carry [`redact`]ed URLs, and error texts are scrubbed of the password.

mod publisher;
mod subscriber;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::SharedClock;
pub use crate::secret::redact;
use crate::secret::secrets_of;
use publisher::PublishQueue;

/// Channels subscribed when `[bus].channels` is empty.
pub const DEFAULT_CHANNELS: [&str; 2] = ["health_events", "world_updates"];
/// Channel for Steward's own events when `[bus].publish_channel` is absent.
pub const DEFAULT_PUBLISH_CHANNEL: &str = "steward_events";

/// How the bus connects, what it listens to and where it publishes.
#[derive(Debug, Clone, PartialEq)]
pub struct BusOptions {
    pub redis_url: String,
    pub channels: Vec<String>,
    /// `None`: [`Bus::publish`] is a no-op and no publisher connection is made.
    pub publish_channel: Option<String>,
    /// First retry delay after a failure (default 500 ms).
    pub backoff_min: Duration,
    /// Ceiling of the exponential backoff (default 30 s).
    pub backoff_max: Duration,
    /// Bound on connecting (TCP, AUTH, SUBSCRIBE) and on each answer (default 5 s).
    pub connect_timeout: Duration,
    /// The subscriber PINGs after this long without traffic, so a half-open connection
    /// (no FIN from a vanished host) is noticed too (default 15 s).
    pub keepalive: Duration,
    /// Most events waiting to be published; beyond it the oldest are dropped (default 10,000).
    pub publish_queue: usize,
    /// Events waiting longer than this (publisher disconnected) are dropped (default 5 min).
    pub publish_max_age: Duration,
    /// Messages larger than this are refused before they are copied or parsed (default the
    /// planner's `MAX_EVENT_BYTES`, 64 KiB). Redis has already sent the whole message by
    /// then: its own bound is `client-output-buffer-limit pubsub` (README, "Securing the bus").
    pub max_message: usize,
}

impl BusOptions {
    /// Options with the defaults: default channels, `steward_events`, 500 ms..30 s backoff.
    pub fn new(redis_url: impl Into<String>) -> BusOptions {
        BusOptions {
            redis_url: redis_url.into(),
            channels: DEFAULT_CHANNELS.iter().map(|c| c.to_string()).collect(),
            publish_channel: Some(DEFAULT_PUBLISH_CHANNEL.to_owned()),
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            keepalive: Duration::from_secs(15),
            publish_queue: 10_000,
            publish_max_age: Duration::from_secs(300),
            max_message: crate::planner::event::MAX_EVENT_BYTES,
        }
    }

    /// From `[bus]`: empty `channels` means the defaults; an absent `publish_channel` means
    /// `steward_events`, an empty one turns publishing off.
    pub fn from_config(c: &crate::config::BusConfig) -> BusOptions {
        let mut opts = BusOptions::new(c.redis_url.clone());
        if !c.channels.is_empty() {
            opts.channels = c.channels.clone();
        }
        opts.publish_channel = match c.publish_channel.as_deref().map(str::trim) {
            None => Some(DEFAULT_PUBLISH_CHANNEL.to_owned()),
            Some("") => None,
            Some(ch) => Some(ch.to_owned()),
        };
        opts
    }
}

/// What the bus hands to the engine, in order of occurrence.
#[derive(Debug, Clone, PartialEq)]
pub enum BusInput {
    /// A message on a subscribed channel: the payload exactly as published, unparsed.
    Message { channel: String, data: Vec<u8> },
    /// A message larger than `max_message`, refused unread: only its size is passed on.
    Oversized { channel: String, bytes: usize },
    /// Subscribed (first time or after an outage).
    Connected,
    /// The subscription broke or could not be made; sent once per outage, not per retry.
    /// `error` never contains the URL's password.
    Disconnected { error: String },
}

/// A snapshot of the bus for the API and the UI.
#[derive(Serialize, Clone, Debug, PartialEq, ts_rs::TS)]
pub struct BusStatus {
    pub configured: bool,
    /// The subscriber is connected and subscribed.
    pub connected: bool,
    /// The URL with its password replaced by `***`.
    pub url: String,
    pub channels: Vec<String>,
    pub publish_channel: Option<String>,
    /// Last connection error of either connection (scrubbed of the password).
    pub last_error: Option<String>,
    /// Successful subscriber connections after the first one.
    pub reconnects: u64,
    /// Subscribed sessions lost (server gone, connection broken). Redis keeps nothing for
    /// a subscriber that is not connected: whatever was published meanwhile, or was still in
    /// the server's output buffer when it died, never reaches Steward and cannot be counted
    /// here. Messages published while Steward is subscribed all arrive (`received`).
    pub disconnects: u64,
    /// Subscriber connection attempts that failed (each retry counts).
    pub failed_connects: u64,
    /// Messages received on the subscribed channels (oversized ones included).
    pub received: u64,
    /// Messages refused for their size before being copied or parsed.
    pub oversized: u64,
    /// Events the server accepted (PUBLISH answered).
    pub published: u64,
    /// Events dropped: queue full, too old, or refused by the server (the sum of the three
    /// below).
    pub publish_dropped: u64,
    /// Events handed to the publisher since start: `published + publish_dropped +
    /// publish_queued`, plus a batch in flight.
    pub publish_requested: u64,
    /// Dropped because the queue was full (the oldest go first; the queue fills while the
    /// publisher is disconnected).
    pub publish_overflow: u64,
    /// Dropped because they waited longer than the queue's maximum age (disconnected).
    pub publish_expired: u64,
    /// Dropped because the server answered PUBLISH with an error (ACL, …).
    pub publish_refused: u64,
    pub connected_since: Option<DateTime<Utc>>,
    pub last_message_at: Option<DateTime<Utc>>,
    /// The publisher holds a connection. It learns of a dead server on its next PUBLISH.
    pub publisher_connected: bool,
    /// Events waiting to be published.
    pub publish_queued: u64,
}

/// The running bus. Cheap to clone; the tasks stop with the `cancel` given to [`Bus::start`].
#[derive(Clone)]
pub struct Bus {
    shared: Arc<Shared>,
}

/// State shared by the handle and the two tasks.
struct Shared {
    url: String,
    /// The password as written in the URL (and decoded), to scrub from error texts.
    secrets: Vec<String>,
    channels: Vec<String>,
    publish_channel: Option<String>,
    /// Wall time for `connected_since` and `last_message_at`.
    clock: SharedClock,
    live: Mutex<Live>,
    received: AtomicU64,
    oversized: AtomicU64,
    reconnects: AtomicU64,
    failed_connects: AtomicU64,
    disconnects: AtomicU64,
    published: AtomicU64,
    publish_requested: AtomicU64,
    publish_refused: AtomicU64,
    /// Microseconds since the epoch; 0 = never.
    last_message_us: AtomicI64,
    queue: Mutex<PublishQueue>,
    /// Wakes the publisher when the queue gets an item.
    queued: Notify,
}

#[derive(Default)]
struct Live {
    connected: bool,
    connected_since: Option<DateTime<Utc>>,
    last_error: Option<String>,
    publisher_connected: bool,
}

impl Shared {
    fn new(opts: &BusOptions, clock: SharedClock) -> Shared {
        Shared {
            url: redact(&opts.redis_url),
            secrets: secrets_of(&opts.redis_url),
            channels: opts.channels.clone(),
            publish_channel: opts.publish_channel.clone(),
            clock,
            live: Mutex::new(Live::default()),
            received: AtomicU64::new(0),
            oversized: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            failed_connects: AtomicU64::new(0),
            disconnects: AtomicU64::new(0),
            published: AtomicU64::new(0),
            publish_requested: AtomicU64::new(0),
            publish_refused: AtomicU64::new(0),
            last_message_us: AtomicI64::new(0),
            queue: Mutex::new(PublishQueue::new(opts.publish_queue, opts.publish_max_age)),
            queued: Notify::new(),
        }
    }

    /// An error text fit for logs and status: no password in it.
    fn scrub(&self, text: impl Into<String>) -> String {
        let mut text = text.into();
        for secret in &self.secrets {
            text = text.replace(secret.as_str(), "***");
        }
        text
    }
}

impl Bus {
    /// Starts the subscriber and publisher tasks on `tracker`, stopped by `cancel`; `clock`
    /// dates the connection and the last message in [`BusStatus`].
    pub fn start(
        opts: BusOptions,
        clock: SharedClock,
        sink: mpsc::Sender<BusInput>,
        tracker: &TaskTracker,
        cancel: CancellationToken,
    ) -> Bus {
        let shared = Arc::new(Shared::new(&opts, clock));
        tracker.spawn(subscriber::run(
            Arc::clone(&shared),
            opts.clone(),
            sink,
            cancel.clone(),
        ));
        if let Some(channel) = opts.publish_channel.clone() {
            tracker.spawn(publisher::run(Arc::clone(&shared), opts, channel, cancel));
        }
        Bus { shared }
    }

    pub fn status(&self) -> BusStatus {
        let s = &self.shared;
        let live = s.live.lock();
        let last_us = s.last_message_us.load(Ordering::Relaxed);
        let (queued, overflow, expired) = {
            let q = s.queue.lock();
            (q.len() as u64, q.overflow, q.expired)
        };
        let refused = s.publish_refused.load(Ordering::Relaxed);
        BusStatus {
            configured: true,
            connected: live.connected,
            url: s.url.clone(),
            channels: s.channels.clone(),
            publish_channel: s.publish_channel.clone(),
            last_error: live.last_error.clone(),
            reconnects: s.reconnects.load(Ordering::Relaxed),
            failed_connects: s.failed_connects.load(Ordering::Relaxed),
            received: s.received.load(Ordering::Relaxed),
            oversized: s.oversized.load(Ordering::Relaxed),
            disconnects: s.disconnects.load(Ordering::Relaxed),
            published: s.published.load(Ordering::Relaxed),
            publish_dropped: overflow + expired + refused,
            publish_requested: s.publish_requested.load(Ordering::Relaxed),
            publish_overflow: overflow,
            publish_expired: expired,
            publish_refused: refused,
            connected_since: live.connected_since,
            last_message_at: (last_us != 0)
                .then(|| DateTime::from_timestamp_micros(last_us))
                .flatten(),
            publisher_connected: live.publisher_connected,
            publish_queued: queued,
        }
    }

    /// Non-blocking: queues `value` (as JSON text) for PUBLISH on the publish channel. When
    /// the queue is full the oldest waiting event is dropped and counted in
    /// `publish_overflow` (expired ones in `publish_expired`). No-op when there is no
    /// publish channel.
    pub fn publish(&self, value: &serde_json::Value) {
        let s = &self.shared;
        if s.publish_channel.is_none() {
            return;
        }
        s.publish_requested.fetch_add(1, Ordering::Relaxed);
        // The queue counts what it drops (`overflow`, `expired`).
        s.queue
            .lock()
            .push(tokio::time::Instant::now(), value.to_string());
        s.queued.notify_one();
    }
}

/// Delay before retry number `attempt` (0-based): `min·2^attempt` capped at `max`, with
/// jitter taking off up to half (`jitter` in 0..=1), never below `min` nor above `max`.
/// Jitter spreads reconnects of many clients after a shared server restarts.
fn backoff_delay(attempt: u32, min: Duration, max: Duration, jitter: f64) -> Duration {
    let max = max.max(min);
    let base = min
        .checked_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX))
        .unwrap_or(max)
        .min(max);
    let jittered = base.mul_f64(1.0 - 0.5 * jitter.clamp(0.0, 1.0));
    jittered.clamp(min, max)
}

/// Sleeps for the backoff of `attempt`; false when cancelled first.
async fn sleep_backoff(opts: &BusOptions, attempt: u32, cancel: &CancellationToken) -> bool {
    let delay = backoff_delay(
        attempt,
        opts.backoff_min,
        opts.backoff_max,
        rand::random::<f64>(),
    );
    tokio::select! {
        _ = cancel.cancelled() => false,
        _ = tokio::time::sleep(delay) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BusConfig;

    #[test]
    fn redact_hides_the_password_and_keeps_the_rest() {
        assert_eq!(
            redact("redis://:s3cret@10.0.0.5:6379"),
            "redis://:***@10.0.0.5:6379"
        );
        assert_eq!(
            redact("redis://steward:s3cret@host:6380/2"),
            "redis://steward:***@host:6380/2",
            "the user and the db stay visible"
        );
        assert_eq!(
            redact("rediss://u:p%40ss@host/0?protocol=resp3"),
            "rediss://u:***@host/0?protocol=resp3"
        );
        assert_eq!(
            redact("redis://s3cret@host"),
            "redis://***@host",
            "a lone user part may be a password"
        );
        assert_eq!(
            redact("redis+unix:///run/redis.sock?db=1&pass=s3cret"),
            "redis+unix:///run/redis.sock?db=1&pass=***"
        );
    }

    #[test]
    fn redact_hides_credentials_in_something_that_is_not_a_url() {
        assert_eq!(redact("user:s3cret@host:6379"), "***@host:6379");
    }

    #[test]
    fn redact_leaves_a_url_without_credentials_unchanged() {
        for url in [
            "redis://127.0.0.1:6379",
            "redis://host/3",
            "redis://host:6379/?protocol=resp2",
            "unix:///tmp/redis.sock",
        ] {
            assert_eq!(redact(url), url);
        }
    }

    #[test]
    fn scrub_removes_the_password_as_written_and_decoded() {
        let shared = Shared::new(
            &BusOptions::new("redis://u:p%40ss@host"),
            Arc::new(crate::clock::SystemClock),
        );
        assert_eq!(
            shared.scrub("auth p@ss failed for p%40ss"),
            "auth *** failed for ***"
        );
    }

    #[test]
    fn options_default_to_the_documented_channels_and_backoff() {
        let opts = BusOptions::from_config(&BusConfig {
            redis_url: "redis://127.0.0.1:6379".into(),
            channels: vec![],
            publish_channel: None,
            trusted: false,
        });
        assert_eq!(opts.channels, ["health_events", "world_updates"]);
        assert_eq!(opts.publish_channel.as_deref(), Some("steward_events"));
        assert_eq!(opts.backoff_min, Duration::from_millis(500));
        assert_eq!(opts.backoff_max, Duration::from_secs(30));
        assert_eq!(opts.publish_queue, 10_000);
    }

    #[test]
    fn options_keep_configured_channels_and_an_empty_publish_channel_turns_publishing_off() {
        let opts = BusOptions::from_config(&BusConfig {
            redis_url: "redis://h".into(),
            channels: vec!["alerts".into()],
            publish_channel: Some("mine".into()),
            trusted: false,
        });
        assert_eq!(opts.channels, ["alerts"]);
        assert_eq!(opts.publish_channel.as_deref(), Some("mine"));
        let off = BusOptions::from_config(&BusConfig {
            redis_url: "redis://h".into(),
            channels: vec![],
            publish_channel: Some(String::new()),
            trusted: false,
        });
        assert_eq!(off.publish_channel, None);
    }

    #[test]
    fn backoff_doubles_from_min_to_max_and_jitter_stays_within_bounds() {
        let (min, max) = (Duration::from_millis(500), Duration::from_secs(30));
        assert_eq!(backoff_delay(0, min, max, 0.0), min);
        assert_eq!(backoff_delay(1, min, max, 0.0), Duration::from_secs(1));
        assert_eq!(backoff_delay(3, min, max, 0.0), Duration::from_secs(4));
        assert_eq!(backoff_delay(10, min, max, 0.0), max, "capped");
        assert_eq!(backoff_delay(u32::MAX, min, max, 0.0), max, "no overflow");
        assert_eq!(
            backoff_delay(0, min, max, 1.0),
            min,
            "jitter never goes below min"
        );
        assert_eq!(backoff_delay(2, min, max, 1.0), Duration::from_secs(1));
        for attempt in 0..40 {
            for jitter in [0.0, 0.3, 0.99, 1.0] {
                let d = backoff_delay(attempt, min, max, jitter);
                assert!(d >= min && d <= max, "{attempt} {jitter}: {d:?}");
            }
        }
    }
}
