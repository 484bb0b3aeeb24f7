//! Alertmanager as an event source: `POST /api/alertmanager` (webhook payload version 4).
//!
//! Owns: taking one webhook at a time (two notifications about one alert never race),
//! what is known per alert fingerprint (read and written through the store, so a restart
//! changes nothing), handing each new occurrence to the intake as a health event (the same
//! door, gate, cooldown, policy and planner as `POST /api/events`), noting when its plan
//! failed (the next notification tries again), and an alert's resolution: its pending
//! proposals go `stale` (nothing runs for a resolved alert) and `alert_resolved` goes on
//! the timeline. Refused input is counted with the intake's other refusals.
//! Does not own: reading the payload or deciding what a notification means
//! (`planner::alertmanager`, pure), the plan itself (`planning`), or the proposal's
//! states (`execute`).

use crate::context::Context;
use crate::error::ApiError;
use crate::events::EngineEvent;
use crate::execute::executor::Executor;
use crate::planner::alertmanager::{
    decide, next_record, parse_webhook, stale_detail, Alert, AlertRecord, AlertStatus, Refusal,
    Verdict, WebhookRefused, CHANNEL,
};
use crate::planner::gate::IntakeDecision;
use crate::planner::intake::Intake;
use crate::planner::planning::Planned;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

/// What `POST /api/alertmanager` answers (`202`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertsAccepted {
    pub status: &'static str,
    pub receiver: Option<String>,
    pub group_key: Option<String>,
    /// Alerts in the payload.
    pub alerts: usize,
    /// Firing alerts taken as health events (new occurrences, and ones not planned yet).
    pub accepted: usize,
    /// Notifications that add nothing: a repeat, a late firing of a resolved alert, a
    /// resolve again, news of an older occurrence.
    pub duplicates: usize,
    /// Resolved alerts that ended an occurrence.
    pub resolved: usize,
    /// Alerts that could not be taken, with why.
    pub refused: Vec<Refusal>,
    /// Each alert taken, in the payload's order.
    pub results: Vec<AlertResult>,
}

/// What became of one alert of the payload.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertResult {
    pub index: usize,
    pub fingerprint: String,
    pub alertname: String,
    pub svc_key: String,
    pub status: AlertStatus,
    pub outcome: Verdict,
    /// The intake's decision for an alert it took (`plan`, `cooldown`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<IntakeDecision>,
    /// Pending proposals its resolution made stale.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stale: Vec<String>,
}

/// What the webhook took since start (`alertmanager` in `GET /api/intake`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AlertCounts {
    /// Notifications answered `202`.
    pub notifications: u64,
    /// Alerts in them.
    pub alerts: u64,
    pub accepted: u64,
    pub duplicates: u64,
    pub resolved: u64,
    /// Alerts refused (whole notifications refused are counted with the intake's refusals).
    pub refused: u64,
    /// Pending proposals made stale by a resolution (a plan that ends after its alert's
    /// resolution is made stale by the planner and not counted here).
    pub stale: u64,
}

pub struct Alerts {
    ctx: Arc<Context>,
    intake: Arc<Intake>,
    executor: Arc<Executor>,
    /// One webhook at a time: the read-decide-write of an alert's record is not split by
    /// another notification about it.
    turn: tokio::sync::Mutex<()>,
    counts: parking_lot::Mutex<AlertCounts>,
}

/// A resolution to carry out once the records are stored.
struct Resolution {
    alert: Alert,
    seen_firing: bool,
    ended: DateTime<Utc>,
}

impl Alerts {
    pub fn new(ctx: Arc<Context>, intake: Arc<Intake>, executor: Arc<Executor>) -> Arc<Alerts> {
        Arc::new(Alerts {
            ctx,
            intake,
            executor,
            turn: tokio::sync::Mutex::new(()),
            counts: parking_lot::Mutex::new(AlertCounts::default()),
        })
    }

    pub fn counts(&self) -> AlertCounts {
        *self.counts.lock()
    }

    /// `POST /api/alertmanager`. `400` (counted) for a body that is not a version 4
    /// payload with alerts; `503` while what it says could not be kept (Alertmanager sends
    /// it again). Otherwise the summary: a refused alert does not refuse its group.
    pub async fn receive(self: &Arc<Self>, body: &[u8]) -> Result<AlertsAccepted, ApiError> {
        self.intake.check_storage("the notification")?;
        let config = self.ctx.config();
        let hook = match parse_webhook(body, &config.alertmanager, self.ctx.now()) {
            Ok(hook) => hook,
            Err(why) => {
                self.intake.refused(why.kind());
                let message = format!("Alertmanager notification refused: {why}");
                return Err(match why {
                    WebhookRefused::TooLarge(_) => ApiError::PayloadTooLarge(message),
                    _ => ApiError::BadRequest(message),
                });
            }
        };
        let _turn = self.turn.lock().await;
        let now = self.ctx.now();
        let fingerprints: Vec<&str> = hook
            .alerts
            .iter()
            .filter_map(|a| a.as_ref().ok())
            .map(|a| a.fingerprint.as_str())
            .collect();
        let mut known = self.ctx.store.alert_records(&fingerprints).await?;
        let mut answer = AlertsAccepted {
            status: "accepted",
            receiver: hook.receiver.clone(),
            group_key: hook.group_key.clone(),
            alerts: hook.alerts.len(),
            accepted: 0,
            duplicates: 0,
            resolved: 0,
            refused: Vec::new(),
            results: Vec::new(),
        };
        let mut changed: HashMap<String, AlertRecord> = HashMap::new();
        let mut resolutions = Vec::new();
        for alert in hook.alerts {
            let alert = match alert {
                Ok(a) => a,
                Err(refusal) => {
                    self.intake.refused(refusal.kind);
                    answer.refused.push(refusal);
                    continue;
                }
            };
            let before = known.get(&alert.fingerprint);
            let verdict = decide(before, &alert);
            let mut record = next_record(before, &alert, verdict, now);
            let mut decision = None;
            if verdict.admits() {
                let (accepted, plan) = self.intake.admit_watched(alert.event.clone());
                record.decision = Some(accepted.decision.as_str().to_owned());
                decision = Some(accepted.decision);
                if let Some(plan) = plan {
                    self.watch(plan, alert.fingerprint.clone(), alert.starts_at);
                }
                answer.accepted += 1;
            } else if verdict == Verdict::Resolve {
                answer.resolved += 1;
                resolutions.push(Resolution {
                    seen_firing: before.is_some_and(|k| k.status == AlertStatus::Firing),
                    ended: record.ends_at.unwrap_or(now),
                    alert: alert.clone(),
                });
            } else {
                answer.duplicates += 1;
            }
            answer.results.push(AlertResult {
                index: alert.index,
                fingerprint: alert.fingerprint.clone(),
                alertname: alert.alertname().to_owned(),
                svc_key: alert.event.svc_key(),
                status: alert.status,
                outcome: verdict,
                decision,
                stale: Vec::new(),
            });
            known.insert(alert.fingerprint.clone(), record.clone());
            changed.insert(alert.fingerprint.clone(), record);
        }
        let changed: Vec<AlertRecord> = changed.into_values().collect();
        // Stored before the pending proposals are looked up (see `planning::plan`). When
        // this fails the answer is 503 and Alertmanager sends it again: an event already
        // admitted is then held off by the gate (in flight, cooldown), not planned twice.
        self.ctx.store.save_alert_records(&changed).await?;
        let mut stale_total = 0;
        for r in resolutions {
            let stale = self.resolve(&r).await;
            stale_total += stale.len() as u64;
            if let Some(result) = answer.results.iter_mut().find(|x| x.index == r.alert.index) {
                result.stale = stale;
            }
        }
        let mut c = self.counts.lock();
        c.notifications += 1;
        c.alerts += answer.alerts as u64;
        c.accepted += answer.accepted as u64;
        c.duplicates += answer.duplicates as u64;
        c.resolved += answer.resolved as u64;
        c.refused += answer.refused.len() as u64;
        c.stale += stale_total;
        drop(c);
        Ok(answer)
    }

    /// Notes a plan that made nothing on the occurrence (no model answered, the proposal
    /// could not be stored, or the engine stopped before the plan ran), so the next
    /// notification tries again.
    fn watch(
        self: &Arc<Self>,
        plan: tokio::sync::oneshot::Receiver<Planned>,
        fingerprint: String,
        starts_at: DateTime<Utc>,
    ) {
        let alerts = Arc::clone(self);
        self.ctx.spawn(async move {
            let decision = match plan.await {
                Ok(Planned::Failed) => "planning_failed",
                // Closed unanswered: the engine stopped before a slot was free.
                Err(_) => "not_planned",
                Ok(Planned::Proposed(_) | Planned::Ignored) => return,
            };
            // After the webhook that admitted it has stored its record (a plan can fail
            // before the rest of its group is read).
            let _turn = alerts.turn.lock().await;
            if let Err(e) = alerts
                .ctx
                .store
                .set_alert_decision(&fingerprint, starts_at, decision)
                .await
            {
                tracing::warn!(error = %e, fingerprint, "cannot note that an alert was not planned");
            }
        });
    }

    /// The alert ended: its pending proposals go stale, the timeline says so.
    async fn resolve(&self, r: &Resolution) -> Vec<String> {
        let fingerprint = &r.alert.fingerprint;
        let pending = match self.ctx.store.pending_proposals_of_alert(fingerprint).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, fingerprint, "cannot look up the proposals of a resolved alert");
                Vec::new()
            }
        };
        let detail = stale_detail(r.alert.alertname(), r.ended);
        let mut stale = Vec::new();
        for p in pending {
            match self.executor.stale(&p.action_id, CHANNEL, &detail).await {
                Ok(_) => stale.push(p.action_id),
                // Decided meanwhile (approved, rejected, expired): it stays as it is.
                Err(e) => tracing::info!(error = %e, action_id = %p.action_id, "not made stale"),
            }
        }
        let e = &r.alert.event;
        let event = EngineEvent::AlertResolved {
            alertname: e.event_type.clone(),
            node: e.node.clone(),
            service: e.service.clone(),
            fingerprint: fingerprint.clone(),
            started_at: r.alert.starts_at,
            ended_at: r.ended,
            seen_firing: r.seen_firing,
            stale: stale.clone(),
        };
        if let Err(err) = self.ctx.outbox.publish(event).await {
            tracing::warn!(error = %err, "cannot record an alert's resolution");
        }
        stale
    }
}
