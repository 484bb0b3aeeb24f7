//! Push channels: the notices of the native notification, sent off the desk too (ntfy, a
//! signed webhook), for when the admin is away.
//!
//! Owns: one queue and one sending task per `[[notifications.channels]]` entry, the
//! dispatcher that hands each notice (from the outbox, see `Outbox::notices`) to the
//! channels that take it (`min_severity`, `kinds`) unless notifications are snoozed,
//! retries with backoff, each channel's state for `/api/status`, and the timeline events
//! of a channel starting to fail and working again. A slow or dead channel only fills its
//! own queue (the oldest notice is dropped past [`QUEUE`], counted): nothing here ever
//! waits on the engine or makes it wait. Does not own: which event makes a notice
//! (`notice`) or the request bodies (`push::wire`).

pub mod wire;

use crate::config::{ChannelConfig, ChannelTarget, Config};
use crate::context::Context;
use crate::events::EngineEvent;
use crate::notice::{Notice, NoticeKind, Urgency};
use crate::status::{ChannelState, ChannelTest, ChannelView};
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;
use wire::Delivery;

/// Notices waiting per channel; past this the oldest is dropped (and counted).
pub const QUEUE: usize = 100;
/// Tries per notice before a channel gives it up (about two minutes of retries).
pub const ATTEMPTS: u32 = 8;
/// Each request's own limit.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The wait before try `attempt + 1` after `attempt` failed: 1 s, doubling, at most 60 s.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.saturating_sub(1).min(6)).min(Duration::from_secs(60))
}

/// What one try of a delivery came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    Ok,
    /// Worth another try (no answer, timeout, 5xx, 408, 429).
    Retry(String),
    /// Another try would fail the same way (another 4xx, a secret not set).
    GiveUp(String),
}

/// The channels and their dispatcher.
pub struct Push {
    ctx: Arc<Context>,
    /// Shared with the engine: notifications are off until then.
    snoozed_until: Arc<Mutex<Option<DateTime<Utc>>>>,
    client: reqwest::Client,
    channels: Mutex<Vec<Arc<Channel>>>,
    seq: AtomicU64,
}

struct Channel {
    config: ChannelConfig,
    queue: Mutex<VecDeque<Delivery>>,
    wake: Notify,
    stats: Mutex<Stats>,
    stop: CancellationToken,
}

#[derive(Debug, Default)]
struct Stats {
    failing: bool,
    sent: u64,
    failed: u64,
    dropped: u64,
    last_error: Option<String>,
    last_sent_at: Option<DateTime<Utc>>,
    last_error_at: Option<DateTime<Utc>>,
    next_retry_at: Option<DateTime<Utc>>,
}

impl Push {
    pub fn new(ctx: Arc<Context>, snoozed_until: Arc<Mutex<Option<DateTime<Utc>>>>) -> Arc<Push> {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("steward/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the push HTTP client builds");
        let push = Arc::new(Push {
            ctx,
            snoozed_until,
            client,
            channels: Mutex::new(Vec::new()),
            seq: AtomicU64::new(0),
        });
        push.sync(&push.ctx.config());
        push
    }

    /// Takes the config's channels: unchanged ones keep their queue and counts, changed
    /// and removed ones stop (their waiting notices are dropped), new ones start.
    pub fn sync(self: &Arc<Self>, config: &Config) {
        let mut channels = self.channels.lock();
        let mut kept = Vec::with_capacity(config.notifications.channels.len());
        for c in &config.notifications.channels {
            match channels.iter().position(|ch| ch.config == *c) {
                Some(i) => kept.push(channels.remove(i)),
                None => {
                    let ch = Arc::new(Channel {
                        config: c.clone(),
                        queue: Mutex::new(VecDeque::new()),
                        wake: Notify::new(),
                        stats: Mutex::new(Stats::default()),
                        stop: self.ctx.cancel_token().child_token(),
                    });
                    self.ctx.spawn(Arc::clone(self).send_loop(Arc::clone(&ch)));
                    kept.push(ch);
                }
            }
        }
        for gone in channels.drain(..) {
            gone.stop.cancel();
        }
        *channels = kept;
    }

    fn snoozed(&self) -> bool {
        self.snoozed_until
            .lock()
            .is_some_and(|until| until > self.ctx.now())
    }

    /// Hands each notice to the channels that take it, until `cancel`.
    pub async fn run(
        self: Arc<Self>,
        mut notices: mpsc::Receiver<Notice>,
        cancel: CancellationToken,
    ) {
        loop {
            let notice = tokio::select! {
                _ = cancel.cancelled() => return,
                n = notices.recv() => match n {
                    Some(n) => n,
                    None => return,
                },
            };
            self.dispatch(notice);
        }
    }

    /// Queues a notice on every channel that takes it (none while snoozed).
    pub fn dispatch(&self, notice: Notice) {
        if self.snoozed() {
            return;
        }
        let config = self.ctx.config();
        let base = ui_base(&config);
        let at = self.ctx.now();
        let id = format!(
            "{}-{}",
            at.timestamp_millis(),
            self.seq.fetch_add(1, Ordering::Relaxed) + 1
        );
        for ch in self.channels.lock().iter() {
            if !ch.config.takes(notice.kind, notice.urgency) {
                continue;
            }
            let delivery = Delivery {
                id: id.clone(),
                url: wire::click_url(&base, &notice),
                notice: notice.clone(),
                at,
                node: config.node.clone(),
            };
            let mut queue = ch.queue.lock();
            if queue.len() >= QUEUE {
                queue.pop_front();
                ch.stats.lock().dropped += 1;
            }
            queue.push_back(delivery);
            drop(queue);
            ch.wake.notify_one();
        }
    }

    /// One channel's sender: the oldest waiting notice first, each tried up to
    /// [`ATTEMPTS`] times with [`backoff`] between tries.
    async fn send_loop(self: Arc<Self>, ch: Arc<Channel>) {
        loop {
            let next = ch.queue.lock().front().cloned();
            let Some(delivery) = next else {
                tokio::select! {
                    _ = ch.stop.cancelled() => return,
                    _ = ch.wake.notified() => continue,
                }
            };
            let mut attempt = 0;
            let outcome = loop {
                if self.snoozed() {
                    break None; // snoozed while it waited: not sent, not a failure
                }
                attempt += 1;
                let sent = tokio::select! {
                    _ = ch.stop.cancelled() => return,
                    s = self.send(&ch.config, &delivery) => s,
                };
                match sent {
                    Sent::Ok => break Some(Ok(())),
                    Sent::GiveUp(e) => break Some(Err(e)),
                    Sent::Retry(e) if attempt >= ATTEMPTS => {
                        break Some(Err(format!("{e} (gave up after {attempt} tries)")))
                    }
                    Sent::Retry(e) => {
                        let wait = backoff(attempt);
                        let retry_at =
                            self.ctx.now() + chrono::Duration::from_std(wait).unwrap_or_default();
                        self.failed_try(&ch, e, Some(retry_at)).await;
                        tokio::select! {
                            _ = ch.stop.cancelled() => return,
                            _ = tokio::time::sleep(wait) => {}
                        }
                    }
                }
            };
            {
                let mut queue = ch.queue.lock();
                if queue.front().is_some_and(|d| d.id == delivery.id) {
                    queue.pop_front();
                }
            }
            match outcome {
                None => {}
                Some(Ok(())) => self.sent(&ch).await,
                Some(Err(e)) => {
                    ch.stats.lock().failed += 1;
                    self.failed_try(&ch, e, None).await;
                }
            }
        }
    }

    /// Counts a delivered notice; a failing channel that works again says so.
    async fn sent(&self, ch: &Channel) {
        let recovered = {
            let mut s = ch.stats.lock();
            s.sent += 1;
            s.last_sent_at = Some(self.ctx.now());
            s.next_retry_at = None;
            std::mem::replace(&mut s.failing, false)
        };
        self.ctx.outbox.status_changed();
        if recovered {
            tracing::info!(channel = ch.config.name, "push channel works again");
            self.publish(EngineEvent::PushRecovered {
                channel: ch.config.name.clone(),
            })
            .await;
        }
    }

    /// Records a failed try; a channel that starts failing says so on the timeline.
    async fn failed_try(&self, ch: &Channel, error: String, retry_at: Option<DateTime<Utc>>) {
        let started = {
            let mut s = ch.stats.lock();
            s.last_error = Some(error.clone());
            s.last_error_at = Some(self.ctx.now());
            s.next_retry_at = retry_at;
            !std::mem::replace(&mut s.failing, true)
        };
        tracing::warn!(
            channel = ch.config.name,
            error,
            "push channel failed a delivery"
        );
        if started {
            self.publish(EngineEvent::PushFailing {
                channel: ch.config.name.clone(),
                error,
            })
            .await;
        } else {
            self.ctx.outbox.status_changed();
        }
    }

    async fn publish(&self, event: EngineEvent) {
        if let Err(e) = self.ctx.outbox.publish(event).await {
            tracing::warn!(error = %e, "cannot record a push channel's state change");
        }
    }

    /// One try of one delivery.
    async fn send(&self, config: &ChannelConfig, d: &Delivery) -> Sent {
        let request = match &config.target {
            ChannelTarget::Ntfy {
                url,
                topic,
                token_env,
            } => {
                let mut r = self.client.post(url).json(&wire::ntfy_body(topic, d));
                if let Some(env) = token_env {
                    match secret(env) {
                        Ok(token) => r = r.bearer_auth(token),
                        Err(e) => return Sent::GiveUp(e),
                    }
                }
                r
            }
            ChannelTarget::Webhook { url, secret_env } => {
                let body = wire::webhook_body(d);
                let mut r = self
                    .client
                    .post(url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .header(wire::EVENT_HEADER, d.notice.kind.as_str())
                    .header(wire::DELIVERY_HEADER, &d.id);
                if let Some(env) = secret_env {
                    match secret(env) {
                        Ok(key) => {
                            r = r.header(
                                wire::SIGNATURE_HEADER,
                                wire::signature(key.as_bytes(), &body),
                            )
                        }
                        Err(e) => return Sent::GiveUp(e),
                    }
                }
                r.body(body)
            }
        };
        match request.send().await {
            Ok(resp) if resp.status().is_success() => Sent::Ok,
            Ok(resp) => {
                let status = resp.status();
                let text: String = resp
                    .text()
                    .await
                    .unwrap_or_default()
                    .chars()
                    .take(200)
                    .collect();
                let error = format!("{status}: {}", text.trim());
                if status.is_server_error()
                    || status == reqwest::StatusCode::REQUEST_TIMEOUT
                    || status == reqwest::StatusCode::TOO_MANY_REQUESTS
                {
                    Sent::Retry(error)
                } else {
                    Sent::GiveUp(error)
                }
            }
            // Without the URL: a token could be in it.
            Err(e) if e.is_timeout() => {
                Sent::Retry(format!("no answer within {}s", REQUEST_TIMEOUT.as_secs()))
            }
            Err(e) if e.is_connect() => Sent::Retry("cannot connect".into()),
            Err(e) => Sent::Retry(e.without_url().to_string()),
        }
    }

    /// Sends a test notice to every channel at once, one try each, whatever its filters and
    /// the snooze (a person asked for it), and says what each came to. Counts nothing.
    pub async fn test(&self) -> Vec<ChannelTest> {
        let config = self.ctx.config();
        let notice = Notice {
            title: "Steward: test notification".into(),
            body: format!("Sent from {} on request: this channel works.", config.node),
            target: None,
            kind: NoticeKind::Test,
            urgency: Urgency::Info,
        };
        let at = self.ctx.now();
        let delivery = Delivery {
            id: format!("{}-test", at.timestamp_millis()),
            url: wire::click_url(&ui_base(&config), &notice),
            notice,
            at,
            node: config.node.clone(),
        };
        let channels: Vec<Arc<Channel>> = self.channels.lock().clone();
        futures::future::join_all(channels.iter().map(|ch| async {
            let error = match self.send(&ch.config, &delivery).await {
                Sent::Ok => None,
                Sent::Retry(e) | Sent::GiveUp(e) => Some(e),
            };
            ChannelTest {
                name: ch.config.name.clone(),
                kind: ch.config.target.kind().to_owned(),
                ok: error.is_none(),
                error,
            }
        }))
        .await
    }

    /// Every channel's state, in config order.
    pub fn views(&self) -> Vec<ChannelView> {
        self.channels
            .lock()
            .iter()
            .map(|ch| {
                let s = ch.stats.lock();
                ChannelView {
                    name: ch.config.name.clone(),
                    kind: ch.config.target.kind().to_owned(),
                    state: if s.failing {
                        ChannelState::Failing
                    } else if s.sent > 0 {
                        ChannelState::Ok
                    } else {
                        ChannelState::Idle
                    },
                    queued: ch.queue.lock().len(),
                    sent: s.sent,
                    failed: s.failed,
                    dropped: s.dropped,
                    last_error: s.last_error.clone(),
                    last_sent_at: s.last_sent_at,
                    last_error_at: s.last_error_at,
                    next_retry_at: s.next_retry_at,
                }
            })
            .collect()
    }
}

/// `[notifications] ui_url` (with a trailing `/`), else the headless UI's address.
pub fn ui_base(config: &Config) -> String {
    match &config.notifications.ui_url {
        Some(u) if u.ends_with('/') => u.clone(),
        Some(u) => format!("{u}/"),
        None => format!("http://{}/", config.listen),
    }
}

/// A secret from its environment variable, read at each send (never stored or logged).
fn secret(env: &str) -> Result<String, String> {
    match std::env::var(env) {
        Ok(v) if !v.is_empty() => Ok(v),
        _ => Err(format!("the environment variable {env} is not set")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_one_second_then_double_up_to_a_minute() {
        let waits: Vec<u64> = (1..=ATTEMPTS).map(|a| backoff(a).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
    }

    #[test]
    fn the_ui_base_is_the_configured_url_else_the_listen_address() {
        let mut config = Config::default();
        assert_eq!(ui_base(&config), "http://127.0.0.1:7878/");
        config.notifications.ui_url = Some("https://steward.lan".into());
        assert_eq!(ui_base(&config), "https://steward.lan/");
    }
}
