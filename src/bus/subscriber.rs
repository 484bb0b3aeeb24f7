//! The subscriber task: one pub/sub connection, forwarded message by message, re-made after
//! every failure until cancelled.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures::StreamExt;
use redis::aio::{PubSubSink, PubSubStream};
use tokio::sync::mpsc;
use tokio::time::{timeout, Instant};
use tokio_util::sync::CancellationToken;

use super::{sleep_backoff, BusInput, BusOptions, Shared};

/// Why a subscribed session ended.
enum End {
    /// Cancelled, or nobody listens any more: the task stops.
    Stop,
    /// The connection broke; the text is scrubbed.
    Lost(String),
}

pub(super) async fn run(
    shared: Arc<Shared>,
    opts: BusOptions,
    sink: mpsc::Sender<BusInput>,
    cancel: CancellationToken,
) {
    let url = shared.url.clone();
    let client = match redis::Client::open(opts.redis_url.as_str()) {
        Ok(client) => client,
        Err(e) => {
            // A malformed URL will not heal by retrying; config validation should catch it.
            let error = shared.scrub(format!("invalid redis url: {e}"));
            tracing::error!(%url, %error, "redis bus: not starting");
            shared.live.lock().last_error = Some(error.clone());
            // The task ends either way: whether the engine heard it changes nothing here.
            deliver(&sink, BusInput::Disconnected { error }, &cancel).await;
            return;
        }
    };

    let mut attempt: u32 = 0;
    // An outage is reported once: on its first failed connect or on the loss of a session.
    let mut outage_reported = false;
    let mut ever_connected = false;
    loop {
        let connected = tokio::select! {
            biased;
            _ = cancel.cancelled() => return,
            r = timeout(opts.connect_timeout, subscribe(&client, &opts.channels)) => r,
        };
        let error = match connected {
            Ok(Ok((control, messages))) => {
                attempt = 0;
                if ever_connected {
                    shared.reconnects.fetch_add(1, Ordering::Relaxed);
                }
                ever_connected = true;
                {
                    let mut live = shared.live.lock();
                    live.connected = true;
                    live.connected_since = Some(shared.clock.now());
                }
                tracing::info!(%url, channels = ?opts.channels, "redis bus: subscribed");
                if !deliver(&sink, BusInput::Connected, &cancel).await {
                    return;
                }
                outage_reported = false;
                let end = session(&shared, &opts, &sink, control, messages, &cancel).await;
                {
                    let mut live = shared.live.lock();
                    live.connected = false;
                    live.connected_since = None;
                }
                match end {
                    End::Stop => return,
                    End::Lost(error) => {
                        shared.disconnects.fetch_add(1, Ordering::Relaxed);
                        error
                    }
                }
            }
            Ok(Err(e)) => {
                shared.failed_connects.fetch_add(1, Ordering::Relaxed);
                shared.scrub(e.to_string())
            }
            Err(_) => {
                shared.failed_connects.fetch_add(1, Ordering::Relaxed);
                format!("no connection within {:?}", opts.connect_timeout)
            }
        };
        shared.live.lock().last_error = Some(error.clone());
        if outage_reported {
            tracing::debug!(%url, %error, attempt, "redis bus: still disconnected");
        } else {
            tracing::warn!(%url, %error, "redis bus: disconnected; retrying with backoff");
            outage_reported = true;
            if !deliver(&sink, BusInput::Disconnected { error }, &cancel).await {
                return;
            }
        }
        if !sleep_backoff(&opts, attempt, &cancel).await {
            return;
        }
        attempt = attempt.saturating_add(1);
    }
}

/// Connects and subscribes to every channel; the SUBSCRIBE is confirmed on return.
async fn subscribe(
    client: &redis::Client,
    channels: &[String],
) -> redis::RedisResult<(PubSubSink, PubSubStream)> {
    let mut pubsub = client.get_async_pubsub().await?;
    if !channels.is_empty() {
        pubsub.subscribe(channels).await?;
    }
    Ok(pubsub.split())
}

/// Forwards messages until the connection breaks, the sink closes or `cancel` fires.
async fn session(
    shared: &Shared,
    opts: &BusOptions,
    sink: &mpsc::Sender<BusInput>,
    mut control: PubSubSink,
    mut messages: PubSubStream,
    cancel: &CancellationToken,
) -> End {
    // A killed server closes the socket and ends the stream at once; a vanished host does not,
    // so an idle connection is PINGed and must answer in time.
    let mut idle_deadline = Instant::now() + opts.keepalive;
    loop {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return End::Stop,
            msg = messages.next() => {
                let Some(msg) = msg else {
                    return End::Lost("connection closed by the server".into());
                };
                shared.received.fetch_add(1, Ordering::Relaxed);
                shared
                    .last_message_us
                    .store(shared.clock.now().timestamp_micros(), Ordering::Relaxed);
                // redis-rs hands over a message it has read whole; the one copy we would make
                // (and the parsing) is skipped for one too large to be an event.
                let payload = msg.get_payload_bytes();
                let channel = msg.get_channel_name().to_owned();
                let input = if payload.len() > opts.max_message {
                    shared.oversized.fetch_add(1, Ordering::Relaxed);
                    BusInput::Oversized { channel, bytes: payload.len() }
                } else {
                    BusInput::Message { channel, data: payload.to_vec() }
                };
                drop(msg);
                // Awaiting is the backpressure: redis-rs buffers behind us meanwhile.
                if !deliver(sink, input, cancel).await {
                    return End::Stop;
                }
                idle_deadline = Instant::now() + opts.keepalive;
            }
            _ = tokio::time::sleep_until(idle_deadline) => {
                let pong = tokio::select! {
                    biased;
                    _ = cancel.cancelled() => return End::Stop,
                    r = timeout(opts.connect_timeout, control.ping::<redis::Value>()) => r,
                };
                match pong {
                    Ok(Ok(_)) => idle_deadline = Instant::now() + opts.keepalive,
                    Ok(Err(e)) => return End::Lost(shared.scrub(format!("PING failed: {e}"))),
                    Err(_) => {
                        return End::Lost(format!("no answer to PING within {:?}", opts.connect_timeout))
                    }
                }
            }
        }
    }
}

/// Sends to the engine; false when cancelled or when the engine is gone (then the bus stops).
async fn deliver(
    sink: &mpsc::Sender<BusInput>,
    input: BusInput,
    cancel: &CancellationToken,
) -> bool {
    tokio::select! {
        biased;
        _ = cancel.cancelled() => false,
        r = sink.send(input) => {
            if r.is_err() {
                tracing::debug!("redis bus: the engine's receiver is gone; stopping");
            }
            r.is_ok()
        }
    }
}
