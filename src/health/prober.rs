//! "Probe it now" for the parts that need an answer: the executor's click-time re-check
//! and verification, `POST /api/providers/{id}/probe`.
//!
//! Owns: one probe out of schedule and the wait until the recorder has applied its result
//! (a read-your-writes barrier on the monitor's report channel), so whoever asks next sees
//! the new state. Does not own: the schedule (`monitor`) or the live board (`recorder`).

use crate::health::monitor::{Monitor, MonitorEvent, Outcome};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

#[derive(Clone)]
pub struct Prober {
    monitor: Arc<Monitor>,
    reports: mpsc::Sender<MonitorEvent>,
}

impl Prober {
    /// `reports` is the channel the monitor sends its reports on (the recorder reads it).
    pub fn new(monitor: Arc<Monitor>, reports: mpsc::Sender<MonitorEvent>) -> Prober {
        Prober { monitor, reports }
    }

    /// Probes `id` now and waits until its report is applied; `None` for an id the monitor
    /// does not probe (unknown or disabled).
    pub async fn probe(&self, id: &str) -> Option<Outcome> {
        let report = self.monitor.probe_now(id).await?;
        self.settle().await;
        Some(report.outcome)
    }

    /// Waits until the recorder has handled everything sent before this call.
    pub async fn settle(&self) {
        let (tx, rx) = oneshot::channel();
        if self.reports.send(MonitorEvent::Flush(tx)).await.is_ok() {
            // A dropped answer means the recorder stopped: nothing left to wait for.
            let _ = rx.await;
        }
    }
}
