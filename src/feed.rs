//! One listener's copy of the update stream, coalesced so a slow reader never falls behind.
//!
//! Owns: per listener (an SSE connection, the desktop window), a task that reads the
//! outbox's broadcast as fast as it comes and keeps what the listener has not taken yet in
//! a [`Pending`] queue where a newer update replaces an older one about the same thing (a
//! provider's view, the status, a proposal, a running command's output, the pipeline).
//! Timeline events are never merged or dropped; only when more than [`LOOSE_MAX`] of them
//! wait does the queue give up and say `resync` (refetch everything). So at 10,000
//! providers a listener that reads slower than the probes report gets each provider's
//! latest view instead of a `resync` every few seconds.
//! Does not own: what an update says (the capabilities) or how it is written to the wire
//! (the adapters).

use crate::outbox::Update;
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::Notify;
use tokio_util::task::AbortOnDropHandle;

/// Updates that cannot be merged (timeline events, `resync`) a listener may have waiting;
/// beyond this it gets `resync` instead.
pub const LOOSE_MAX: usize = 4096;

/// What a newer update supersedes: the same key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Provider(String),
    Status,
    Proposal(String),
    Run(String),
    Pipeline,
}

fn key(update: &Update) -> Option<Key> {
    match update {
        Update::ProviderUpdated { provider } => Some(Key::Provider(provider.id.clone())),
        Update::Status { .. } => Some(Key::Status),
        Update::Proposal { proposal } => Some(Key::Proposal(proposal.action_id.clone())),
        Update::RunOutput { output } => Some(Key::Run(output.action_id.clone())),
        Update::Pipeline { .. } => Some(Key::Pipeline),
        Update::Event { .. } | Update::Resync => None,
    }
}

enum Slot {
    Keyed(Key),
    Loose(Box<Update>),
}

/// Updates not yet taken, in the order each thing first changed; a keyed update holds its
/// place and carries the latest value.
#[derive(Default)]
pub struct Pending {
    order: VecDeque<Slot>,
    latest: HashMap<Key, Update>,
    loose: usize,
    closed: bool,
}

impl Pending {
    pub fn push(&mut self, update: Update) {
        match key(&update) {
            Some(k) => {
                if self.latest.insert(k.clone(), update).is_none() {
                    self.order.push_back(Slot::Keyed(k));
                }
            }
            None if self.loose >= LOOSE_MAX => self.resync(),
            None => {
                self.order.push_back(Slot::Loose(Box::new(update)));
                self.loose += 1;
            }
        }
    }

    /// Forgets everything waiting and asks the listener to refetch instead.
    pub fn resync(&mut self) {
        self.order.clear();
        self.latest.clear();
        self.order.push_back(Slot::Loose(Box::new(Update::Resync)));
        self.loose = 1;
    }

    pub fn pop(&mut self) -> Option<Update> {
        loop {
            match self.order.pop_front()? {
                Slot::Loose(u) => {
                    self.loose -= 1;
                    return Some(*u);
                }
                Slot::Keyed(k) => {
                    if let Some(u) = self.latest.remove(&k) {
                        return Some(u);
                    }
                }
            }
        }
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

struct Shared {
    pending: Mutex<Pending>,
    ready: Notify,
}

/// A listener's coalesced updates. Made where the listener subscribes (so nothing sent
/// after that is missed); its reading task starts with the first [`Feed::next`] and stops
/// when the feed is dropped or the engine's broadcast closes.
pub struct Feed {
    shared: Arc<Shared>,
    rx: Option<broadcast::Receiver<Update>>,
    task: Option<AbortOnDropHandle<()>>,
}

impl Feed {
    pub fn new(rx: broadcast::Receiver<Update>) -> Feed {
        Feed {
            shared: Arc::new(Shared {
                pending: Mutex::new(Pending::default()),
                ready: Notify::new(),
            }),
            rx: Some(rx),
            task: None,
        }
    }

    /// The next update, the latest of its kind; `None` once the engine has stopped and
    /// everything was taken.
    pub async fn next(&mut self) -> Option<Update> {
        if let Some(rx) = self.rx.take() {
            self.task = Some(AbortOnDropHandle::new(tokio::spawn(read(
                rx,
                self.shared.clone(),
            ))));
        }
        loop {
            {
                let mut pending = self.shared.pending.lock();
                if let Some(u) = pending.pop() {
                    return Some(u);
                }
                if pending.closed {
                    return None;
                }
            }
            // A push between the check and here leaves a permit: no wake-up is lost.
            self.shared.ready.notified().await;
        }
    }

    /// The feed as a stream (for an SSE body).
    pub fn into_stream(self) -> impl futures::Stream<Item = Update> + Send {
        futures::stream::unfold(self, |mut feed| async move {
            let update = feed.next().await?;
            Some((update, feed))
        })
    }
}

/// Moves broadcast updates into the listener's queue as fast as they come.
async fn read(mut rx: broadcast::Receiver<Update>, shared: Arc<Shared>) {
    loop {
        let got = rx.recv().await;
        {
            let mut pending = shared.pending.lock();
            match got {
                Ok(update) => pending.push(update),
                Err(RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "a listener's reader fell behind; resync");
                    pending.resync();
                }
                Err(RecvError::Closed) => pending.closed = true,
            }
        }
        shared.ready.notify_one();
        if shared.pending.lock().closed {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{EngineEvent, EventRecord};
    use crate::health::breaker::Phase;
    use crate::health::view::{ProviderStatus, ProviderView};

    fn provider(id: &str, latency: f64) -> Update {
        Update::ProviderUpdated {
            provider: ProviderView {
                id: id.into(),
                kind: "http".into(),
                node: "n".into(),
                service: "s".into(),
                enabled: true,
                state: Phase::Closed,
                healthy: true,
                status: ProviderStatus::Ok,
                consecutive_failures: 0,
                last_error: None,
                last_latency_ms: Some(latency),
                last_checked_at: None,
                last_outcome: None,
                open_until: None,
                last_success_at: None,
                last_failure_at: None,
                uptime_24h: None,
                spark: Vec::new(),
            },
        }
    }

    fn event(n: i64) -> Update {
        Update::Event {
            record: EventRecord {
                id: n,
                at: chrono::DateTime::UNIX_EPOCH,
                kind: "woke_from_sleep".into(),
                provider_id: None,
                node: None,
                service: None,
                severity: "info".into(),
                message: format!("event {n}"),
                data: serde_json::Value::Null,
            },
            event: EngineEvent::WokeFromSleep { gap_secs: 1 },
        }
    }

    fn latency(u: &Update) -> (String, Option<f64>) {
        match u {
            Update::ProviderUpdated { provider } => (provider.id.clone(), provider.last_latency_ms),
            other => panic!("not a provider update: {other:?}"),
        }
    }

    #[test]
    fn a_newer_view_of_a_provider_replaces_the_waiting_one_and_keeps_its_place() {
        let mut p = Pending::default();
        p.push(provider("a", 1.0));
        p.push(provider("b", 2.0));
        p.push(provider("a", 3.0));
        assert_eq!(p.len(), 2);
        assert_eq!(latency(&p.pop().unwrap()), ("a".into(), Some(3.0)));
        assert_eq!(latency(&p.pop().unwrap()), ("b".into(), Some(2.0)));
        assert!(p.pop().is_none());
        // Taken: the next view of `a` queues again.
        p.push(provider("a", 4.0));
        assert_eq!(latency(&p.pop().unwrap()), ("a".into(), Some(4.0)));
    }

    #[test]
    fn timeline_events_are_never_merged_and_keep_their_order() {
        let mut p = Pending::default();
        p.push(event(1));
        p.push(provider("a", 1.0));
        p.push(event(2));
        p.push(provider("a", 2.0));
        p.push(event(3));
        let got: Vec<String> = std::iter::from_fn(|| p.pop())
            .map(|u| match u {
                Update::Event { record, .. } => format!("event {}", record.id),
                other => format!("{:?}", latency(&other)),
            })
            .collect();
        assert_eq!(got, ["event 1", "(\"a\", Some(2.0))", "event 2", "event 3"]);
    }

    #[test]
    fn too_many_waiting_events_turn_into_one_resync() {
        let mut p = Pending::default();
        p.push(provider("a", 1.0));
        for n in 0..=LOOSE_MAX as i64 {
            p.push(event(n));
        }
        assert!(matches!(p.pop(), Some(Update::Resync)));
        assert!(p.pop().is_none());
        // After the resync, new updates queue as usual.
        p.push(provider("a", 2.0));
        assert_eq!(latency(&p.pop().unwrap()), ("a".into(), Some(2.0)));
    }

    #[tokio::test]
    async fn a_reader_slower_than_the_engine_gets_each_providers_latest_view_and_no_resync() {
        let (tx, rx) = broadcast::channel(16);
        let mut feed = Feed::new(rx);
        // Start the reading task, then send far more than the broadcast holds.
        tx.send(provider("p0", 0.0)).unwrap();
        assert_eq!(latency(&feed.next().await.unwrap()).0, "p0");
        for round in 1..=50 {
            for i in 0..20 {
                tx.send(provider(&format!("p{i}"), f64::from(round)))
                    .unwrap();
                // The engine sends from tasks that yield between reports.
                tokio::task::yield_now().await;
            }
        }
        drop(tx);
        let mut got = Vec::new();
        while let Some(u) = feed.next().await {
            got.push(latency(&u));
        }
        let want: Vec<(String, Option<f64>)> =
            (0..20).map(|i| (format!("p{i}"), Some(50.0))).collect();
        assert_eq!(got, want);
    }

    #[tokio::test]
    async fn a_reader_that_falls_behind_the_broadcast_itself_gets_resync() {
        let (tx, rx) = broadcast::channel(4);
        let mut feed = Feed::new(rx);
        // Nothing reads yet (the task starts with the first `next`): the broadcast overflows.
        for i in 0..10 {
            tx.send(event(i)).unwrap();
        }
        assert!(matches!(feed.next().await, Some(Update::Resync)));
        // What the broadcast still held follows the resync.
        let rest: Vec<i64> = std::iter::from_fn(|| feed.shared.pending.lock().pop())
            .filter_map(|u| match u {
                Update::Event { record, .. } => Some(record.id),
                _ => None,
            })
            .collect();
        drop(tx);
        let mut tail = rest;
        while let Some(Update::Event { record, .. }) = feed.next().await {
            tail.push(record.id);
        }
        assert_eq!(tail, [6, 7, 8, 9]);
    }
}
