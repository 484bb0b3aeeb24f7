//! The publisher task and its queue: Steward's own events go out on their own multiplexed
//! connection, in pipelined batches, whatever the state of the subscriber.
//!
//! Delivery is at least once while the server is up: a batch whose connection broke
//! mid-flight is put back and sent again after reconnecting, so a subscriber may see a
//! duplicate. Events still queued at cancellation are not sent.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ErrorKind};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{sleep_backoff, BusOptions, Shared};

/// Most PUBLISH commands per pipeline: large enough for throughput, small enough that a
/// broken connection puts back little.
const BATCH: usize = 1024;

pub(super) async fn run(
    shared: Arc<Shared>,
    opts: BusOptions,
    channel: String,
    cancel: CancellationToken,
) {
    let url = shared.url.clone();
    // An invalid URL is reported by the subscriber, which parses the same one.
    let Ok(client) = redis::Client::open(opts.redis_url.as_str()) else {
        return;
    };
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(opts.connect_timeout))
        .set_response_timeout(Some(opts.connect_timeout));
    let mut attempt: u32 = 0;
    let mut outage_reported = false;
    loop {
        let connected = tokio::select! {
            biased;
            _ = cancel.cancelled() => return,
            r = client.get_multiplexed_async_connection_with_config(&config) => r,
        };
        let error = match connected {
            Ok(mut conn) => {
                attempt = 0;
                outage_reported = false;
                shared.live.lock().publisher_connected = true;
                tracing::info!(%url, %channel, "redis bus: publisher connected");
                let lost = drain(&shared, &channel, &mut conn, &cancel).await;
                shared.live.lock().publisher_connected = false;
                match lost {
                    Some(error) => error,
                    None => return,
                }
            }
            Err(e) => shared.scrub(e.to_string()),
        };
        shared.live.lock().last_error = Some(error.clone());
        if outage_reported {
            tracing::debug!(%url, %error, attempt, "redis bus: publisher still disconnected");
        } else {
            tracing::warn!(%url, %error, "redis bus: publisher disconnected; retrying with backoff");
            outage_reported = true;
        }
        if !sleep_backoff(&opts, attempt, &cancel).await {
            return;
        }
        attempt = attempt.saturating_add(1);
    }
}

/// Publishes queued events until the connection fails (`Some(error)`) or `cancel` (`None`).
async fn drain(
    shared: &Shared,
    channel: &str,
    conn: &mut MultiplexedConnection,
    cancel: &CancellationToken,
) -> Option<String> {
    loop {
        // Expired events are counted by the queue.
        let (batch, _expired) = shared.queue.lock().take(Instant::now(), BATCH);
        if batch.is_empty() {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return None,
                // `notify_one` keeps a permit, so a push between `take` and here is not missed.
                _ = shared.queued.notified() => continue,
            }
        }
        let mut pipe = redis::pipe();
        for item in &batch {
            pipe.cmd("PUBLISH").arg(channel).arg(&item.text).ignore();
        }
        let sent = tokio::select! {
            biased;
            _ = cancel.cancelled() => return None,
            r = pipe.query_async::<()>(conn) => r,
        };
        let n = batch.len() as u64;
        match sent {
            Ok(()) => {
                shared.published.fetch_add(n, Ordering::Relaxed);
            }
            // The server answered with an error (ACL, …): retrying would not help.
            Err(e) if matches!(e.kind(), ErrorKind::Server(_)) => {
                shared.publish_refused.fetch_add(n, Ordering::Relaxed);
                tracing::warn!(
                    channel,
                    error = %shared.scrub(e.to_string()),
                    dropped = n,
                    "redis bus: server refused PUBLISH"
                );
            }
            Err(e) => {
                // Beyond capacity the oldest go, counted by the queue as overflow.
                shared.queue.lock().put_back(batch);
                return Some(shared.scrub(e.to_string()));
            }
        }
    }
}

/// An event waiting to be published.
pub(super) struct Queued {
    at: Instant,
    text: String,
}

/// The bounded, age-limited queue between [`super::Bus::publish`] and the publisher. Pure:
/// callers pass `now`; every method returns how many events it dropped, and the queue keeps
/// the totals by reason.
pub(super) struct PublishQueue {
    items: VecDeque<Queued>,
    capacity: usize,
    max_age: Duration,
    /// Dropped since start because the queue was full.
    pub(super) overflow: u64,
    /// Dropped since start because they waited longer than `max_age`.
    pub(super) expired: u64,
}

impl PublishQueue {
    pub(super) fn new(capacity: usize, max_age: Duration) -> PublishQueue {
        PublishQueue {
            items: VecDeque::new(),
            capacity: capacity.max(1),
            max_age,
            overflow: 0,
            expired: 0,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.items.len()
    }

    /// Appends `text`; drops expired events, then the oldest beyond capacity.
    pub(super) fn push(&mut self, now: Instant, text: String) -> u64 {
        let mut dropped = self.expire(now);
        self.items.push_back(Queued { at: now, text });
        while self.items.len() > self.capacity {
            self.items.pop_front();
            self.overflow += 1;
            dropped += 1;
        }
        dropped
    }

    /// Up to `max` events, oldest first, and how many expired ones were dropped.
    pub(super) fn take(&mut self, now: Instant, max: usize) -> (Vec<Queued>, u64) {
        let expired = self.expire(now);
        let n = max.min(self.items.len());
        (self.items.drain(..n).collect(), expired)
    }

    /// Puts an unsent batch back in front (it is the oldest); the oldest beyond capacity go.
    pub(super) fn put_back(&mut self, batch: Vec<Queued>) -> u64 {
        for item in batch.into_iter().rev() {
            self.items.push_front(item);
        }
        let mut dropped = 0;
        while self.items.len() > self.capacity {
            self.items.pop_front();
            self.overflow += 1;
            dropped += 1;
        }
        dropped
    }

    fn expire(&mut self, now: Instant) -> u64 {
        let mut dropped = 0;
        while self
            .items
            .front()
            .is_some_and(|q| now.saturating_duration_since(q.at) > self.max_age)
        {
            self.items.pop_front();
            dropped += 1;
        }
        self.expired += dropped;
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(batch: &[Queued]) -> Vec<&str> {
        batch.iter().map(|q| q.text.as_str()).collect()
    }

    #[test]
    fn a_full_queue_drops_the_oldest() {
        let now = Instant::now();
        let mut q = PublishQueue::new(3, Duration::from_secs(60));
        let dropped: u64 = (1..=5).map(|i| q.push(now, i.to_string())).sum();
        assert_eq!(dropped, 2);
        assert_eq!((q.overflow, q.expired), (2, 0), "counted as overflow");
        let (batch, expired) = q.take(now, 10);
        assert_eq!(
            texts(&batch),
            ["3", "4", "5"],
            "the newest survive, in order"
        );
        assert_eq!(expired, 0);
    }

    #[test]
    fn events_older_than_max_age_are_dropped() {
        let t0 = Instant::now();
        let mut q = PublishQueue::new(100, Duration::from_secs(60));
        q.push(t0, "old".into());
        q.push(t0 + Duration::from_secs(30), "newer".into());
        let (batch, expired) = q.take(t0 + Duration::from_secs(61), 10);
        assert_eq!(expired, 1, "only the one past 60 s");
        assert_eq!(texts(&batch), ["newer"]);
        q.push(t0, "stale".into());
        assert_eq!(
            q.push(t0 + Duration::from_secs(120), "fresh".into()),
            1,
            "a push also drops expired events, so the count is current while disconnected"
        );
        assert_eq!((q.overflow, q.expired), (0, 2), "counted as expired");
    }

    #[test]
    fn take_is_bounded_and_put_back_restores_order() {
        let now = Instant::now();
        let mut q = PublishQueue::new(4, Duration::from_secs(60));
        for i in 1..=4 {
            q.push(now, i.to_string());
        }
        let (batch, _) = q.take(now, 2);
        assert_eq!(texts(&batch), ["1", "2"]);
        q.push(now, "5".into());
        q.push(now, "6".into());
        assert_eq!(q.put_back(batch), 2, "over capacity: the oldest go");
        let (all, _) = q.take(now, 10);
        assert_eq!(texts(&all), ["3", "4", "5", "6"]);
    }
}
