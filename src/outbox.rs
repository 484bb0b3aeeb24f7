//! The one way an event leaves the engine.
//!
//! Owns: the `Update` stream the adapters push to the UI, the timeline writes (one event
//! at once with [`Outbox::publish`], queued ones in batches with [`Outbox::write_held`],
//! and the recorder's batches announced with [`Outbox::announce`] — all three log, store
//! and push the same way), the queue of events held while the database takes no writes,
//! Steward's own messages on the Redis bus, and the "status may have changed" signal that
//! wakes the one task that recomputes and pushes the status (in the engine).
//! Does not own: what an event means (the capabilities decide) or the status itself.

use crate::bus::{Bus, BusStatus};
use crate::clock::SharedClock;
use crate::events::{EngineEvent, EventRecord, Severity};
use crate::execute::live::RunOutput;
use crate::health::view::ProviderView;
use crate::notice::{notice_for, Notice};
use crate::planner::proposal::Proposal;
use crate::sessions::view::PipelineUpdate;
use crate::status::StatusView;
use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde::Serialize;
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc, Notify};

/// Accepted events waiting to be written to the timeline; beyond this they are counted.
pub const HELD_EVENTS: usize = 20_000;
/// Notices waiting for the push dispatcher, at most.
pub const NOTICES: usize = 1024;

/// What adapters push to the UI, live.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Update {
    ProviderUpdated {
        provider: ProviderView,
    },
    Event {
        #[serde(rename = "event")]
        record: EventRecord,
        #[serde(skip)]
        #[ts(skip)]
        event: EngineEvent,
    },
    Status {
        status: StatusView,
    },
    /// A new proposal (the full action-file JSON is `proposal`).
    Proposal {
        #[ts(as = "crate::planner::proposal::ActionFile")]
        proposal: AsActionFile,
    },
    /// A running command's output so far (pushed at most every 200 ms while it prints).
    RunOutput {
        output: RunOutput,
    },
    /// The session pipeline's status and processors changed (files and usage: refetch
    /// `GET /api/sessions`).
    Pipeline {
        pipeline: PipelineUpdate,
    },
    /// The receiver fell behind: refetch everything.
    Resync,
}

impl Update {
    /// A new or changed proposal, as the stream carries it.
    pub fn proposal(p: &Proposal) -> Update {
        Update::Proposal {
            proposal: AsActionFile(Box::new(p.clone())),
        }
    }
}

/// A proposal that serializes as its action file (the shape every reader of proposals
/// sees); it reads as the `Proposal` it holds.
#[derive(Debug, Clone)]
pub struct AsActionFile(pub Box<Proposal>);

impl std::ops::Deref for AsActionFile {
    type Target = Proposal;
    fn deref(&self) -> &Proposal {
        &self.0
    }
}

impl Serialize for AsActionFile {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.action_file().serialize(s)
    }
}

/// Cheap to clone; every clone is the same outbox.
#[derive(Clone)]
pub struct Outbox {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    clock: SharedClock,
    updates: broadcast::Sender<Update>,
    held: Mutex<Vec<(DateTime<Utc>, EngineEvent)>>,
    status_changed: Notify,
    bus: Option<Bus>,
    /// This node's name, for the `origin` of bus messages (read once at start).
    node: String,
    /// Where the notices of announced events go (the push channels), once tapped.
    notices: std::sync::OnceLock<mpsc::Sender<Notice>>,
}

impl Outbox {
    pub fn new(store: Store, clock: SharedClock, bus: Option<Bus>, node: String) -> Outbox {
        // Lagging subscribers get `Update::Resync` and refetch; no need to buffer more.
        let (updates, _) = broadcast::channel(1024);
        Outbox {
            inner: Arc::new(Inner {
                store,
                clock,
                updates,
                held: Mutex::new(Vec::new()),
                status_changed: Notify::new(),
                bus,
                node,
                notices: std::sync::OnceLock::new(),
            }),
        }
    }

    /// The notice of every announced event that makes one (`notice::notice_for`), in
    /// order, for the push channels. Notices are rare (one per incident, recovery,
    /// proposal that needs a person, …); past [`NOTICES`] waiting, new ones are dropped
    /// with a warning. Only the first tap gets them.
    pub fn tap_notices(&self) -> Option<mpsc::Receiver<Notice>> {
        let (tx, rx) = mpsc::channel(NOTICES);
        self.inner.notices.set(tx).ok().map(|()| rx)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Update> {
        self.inner.updates.subscribe()
    }

    /// Whether anyone listens to the updates now (a caller may skip building one).
    pub fn has_listeners(&self) -> bool {
        self.inner.updates.receiver_count() > 0
    }

    /// Pushes an update to whoever listens.
    pub fn send(&self, update: Update) {
        // An error only says nobody subscribes right now, which is not a failure.
        let _ = self.inner.updates.send(update);
    }

    /// Says the status may have changed; the status task recomputes it and pushes it when
    /// it did. Cheap: many calls before the task runs make one recomputation.
    pub fn status_changed(&self) {
        self.inner.status_changed.notify_one();
    }

    /// Waits for [`Outbox::status_changed`] (the status task).
    pub async fn status_change(&self) {
        self.inner.status_changed.notified().await
    }

    /// Stores an event at once and pushes it. When the database cannot be written, the
    /// event is held and written (and pushed) by [`Outbox::write_held`] when writes
    /// succeed again; an error only when that queue is full too.
    pub async fn publish(&self, event: EngineEvent) -> Result<(), StoreError> {
        let at = self.inner.clock.now();
        let result = self.inner.store.insert_event(at, &event).await;
        self.status_changed();
        match result {
            Ok(record) => {
                self.announce(vec![record], vec![event]);
                Ok(())
            }
            Err(e) if e.unavailable().is_some() => {
                if self.hold(at, event) {
                    Ok(())
                } else {
                    Err(e)
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Logs and pushes events just written, in order (`records` and `events` pair up).
    pub fn announce(&self, records: Vec<EventRecord>, events: Vec<EngineEvent>) {
        for (record, event) in records.into_iter().zip(events) {
            match (event.severity(), &event) {
                (_, EngineEvent::HealthReceived { .. }) => {
                    tracing::debug!(event = record.kind, "{}", record.message)
                }
                (Severity::Error, _) => tracing::warn!(event = record.kind, "{}", record.message),
                _ => tracing::info!(event = record.kind, "{}", record.message),
            }
            if let Some(tx) = self.inner.notices.get() {
                if let Some(notice) = notice_for(&event) {
                    if tx.try_send(notice).is_err() {
                        tracing::warn!(
                            event = record.kind,
                            "push channels behind: a notice was dropped"
                        );
                    }
                }
            }
            self.send(Update::Event { record, event });
        }
    }

    /// Holds an event for the timeline (written by [`Outbox::write_held`]). False when
    /// [`HELD_EVENTS`] are waiting already.
    pub fn hold(&self, at: DateTime<Utc>, event: EngineEvent) -> bool {
        let mut held = self.inner.held.lock();
        if held.len() >= HELD_EVENTS {
            return false;
        }
        held.push((at, event));
        true
    }

    /// Holds an event even beyond [`HELD_EVENTS`]: for an event whose sender was already
    /// told it is taken (`POST /api/events` refuses first when the queue is full, so this
    /// overshoots by at most the requests racing).
    pub fn hold_always(&self, at: DateTime<Utc>, event: EngineEvent) {
        self.inner.held.lock().push((at, event));
    }

    /// Events waiting to be written to the timeline.
    pub fn unwritten(&self) -> usize {
        self.inner.held.lock().len()
    }

    /// Writes the held events. When the database cannot be written (full disk, I/O error)
    /// they go back in front of the queue, in order, and are tried again on the next call:
    /// an event answered `202` is written once the disk takes writes again (or lost with
    /// the process only). The queue may then hold up to twice `HELD_EVENTS`. With nothing
    /// waiting, a failed storage is re-checked by a one-row write, so the status learns of
    /// the recovery.
    pub async fn write_held(&self) {
        let store = &self.inner.store;
        let was_ok = store.health().is_ok();
        let batch = std::mem::take(&mut *self.inner.held.lock());
        if batch.is_empty() {
            if !was_ok {
                if let Err(e) = store.check_writable().await {
                    tracing::debug!(error = %e, "the database still takes no writes");
                }
            }
        } else {
            match store.insert_events(&batch).await {
                Ok(records) => {
                    let events = batch.into_iter().map(|(_, e)| e).collect();
                    self.announce(records, events);
                }
                Err(e) if e.unavailable().is_some() => {
                    tracing::debug!(error = %e, events = batch.len(), "cannot record events yet");
                    let mut queue = self.inner.held.lock();
                    let newer = std::mem::replace(&mut *queue, batch);
                    queue.extend(newer);
                }
                // Anything else would fail again the same way.
                Err(e) => tracing::warn!(error = %e, events = batch.len(), "cannot record events"),
            }
        }
        if store.health().is_ok() != was_ok {
            self.status_changed();
        }
    }

    /// Publishes one of Steward's own events on the bus (nothing without a bus).
    pub fn to_bus(
        &self,
        kind: &str,
        node: &str,
        service: &str,
        severity: &str,
        payload: serde_json::Value,
    ) {
        if let Some(bus) = &self.inner.bus {
            bus.publish(&serde_json::json!({
                "type": kind,
                "node": node,
                "service": service,
                "severity": severity,
                "timestamp": self.inner.clock.now().to_rfc3339(),
                "source": "steward",
                "origin": self.inner.node,
                "payload": payload,
            }));
        }
    }

    /// Whether a bus message is one of ours coming back (the publish channel is also
    /// subscribed).
    pub fn is_echo(&self, payload: &serde_json::Map<String, serde_json::Value>) -> bool {
        payload.get("source").and_then(|v| v.as_str()) == Some("steward")
            && payload.get("origin").and_then(|v| v.as_str()) == Some(self.inner.node.as_str())
    }

    pub fn bus_status(&self) -> Option<BusStatus> {
        self.inner.bus.as_ref().map(Bus::status)
    }
}
