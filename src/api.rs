//! The one surface every caller uses: the Tauri shell, the HTTP server, the CLI, tests.
//!
//! Owns: the `Api` facade (queries, commands, the live `Update` stream) over a running
//! engine, `start` / `EngineHandle`, snoozing of native notifications, and the
//! `/api/health/detailed` report. Every method delegates to the part that owns the
//! answer; this is the only `impl Api`.
//! Does not own: transport. Adapters convert `ApiError` to `{code, message}` and `Update`
//! to their own wire; they call nothing else in the engine.

use crate::config::Config;
use crate::engine::{Engine, EngineError, EngineOptions};
use crate::events::{EngineEvent, EventRecord};
use crate::execute::executor::ExpiryStats;
use crate::health::breaker::Phase;
use crate::planner::intake::{Accepted, IntakeView};
use crate::retention::Pruned;
use crate::sessions::status::{PipelineLevel, PipelineStatus};
use crate::sessions::view::SessionsView;
use crate::store::{Execution, StorageView};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use tokio::sync::broadcast;

pub use crate::config::edit::{Edit, Entries};
pub use crate::engine::{ConfigDocument, TestOutcome};
pub use crate::error::{ApiError, FieldIssue};
pub use crate::gateway::GatewayView;
pub use crate::health::view::{ProviderDetail, ProviderStatus, ProviderView, SPARK_POINTS};
pub use crate::notice::{notice_for, Notice};
pub use crate::outbox::Update;
pub use crate::planner::alerts::{AlertResult, AlertsAccepted};
pub use crate::status::{ChannelTest, ChannelView, Counts, Overall, StatusView};

/// Cheap to clone; every clone is the same engine.
#[derive(Clone)]
pub struct Api {
    engine: Arc<Engine>,
}

/// A running engine. Dropping it cancels every task; `shutdown` also waits for them.
pub struct EngineHandle {
    api: Api,
}

impl Drop for EngineHandle {
    fn drop(&mut self) {
        self.api.engine.cancel();
    }
}

impl EngineHandle {
    pub fn api(&self) -> &Api {
        &self.api
    }

    /// Stops probing, flushes what is pending, and closes the database.
    pub async fn shutdown(self) {
        self.api.engine.shutdown().await;
    }
}

/// Starts an engine (see `engine::start`).
pub async fn start(opts: EngineOptions) -> Result<EngineHandle, EngineError> {
    Ok(EngineHandle {
        api: Api {
            engine: crate::engine::start(opts).await?,
        },
    })
}

impl Api {
    pub fn now(&self) -> DateTime<Utc> {
        self.engine.ctx.now()
    }

    /// `(transactions, samples)` the recorder has written since start.
    pub fn write_stats(&self) -> (u64, u64) {
        self.engine.ctx.store.write_stats()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Update> {
        self.engine.ctx.outbox.subscribe()
    }

    /// The updates from now on for one listener, coalesced so it never falls behind: a
    /// provider's (or the status', a proposal's…) newer update replaces the one it has
    /// not taken yet; timeline events all arrive ([`crate::feed`]).
    pub fn feed(&self) -> crate::feed::Feed {
        crate::feed::Feed::new(self.subscribe())
    }

    pub fn config(&self) -> Arc<Config> {
        self.engine.ctx.config()
    }

    pub async fn providers(&self) -> Vec<ProviderView> {
        self.engine.recorder.providers().await
    }

    pub async fn provider(&self, id: &str) -> Result<ProviderDetail, ApiError> {
        self.engine
            .recorder
            .provider(id)
            .await?
            .ok_or_else(|| ApiError::UnknownProvider(id.to_owned()))
    }

    /// Probes one provider now and answers its new view.
    pub async fn probe(&self, id: &str) -> Result<ProviderView, ApiError> {
        if self.config().provider(id).is_none() {
            return Err(ApiError::UnknownProvider(id.to_owned()));
        }
        self.engine
            .recorder
            .probe(id)
            .await
            .ok_or_else(|| ApiError::UnknownProvider(id.to_owned()))
    }

    pub async fn events(&self, limit: u32) -> Result<Vec<EventRecord>, ApiError> {
        Ok(self
            .engine
            .ctx
            .store
            .recent_events(limit.clamp(1, 5000))
            .await?)
    }

    pub fn status(&self) -> StatusView {
        self.engine.status()
    }

    /// Whether the database takes writes, with the events waiting in memory while it does not.
    pub fn storage(&self) -> StorageView {
        self.engine.storage()
    }

    /// `GET /api/health/detailed`: an open breaker is `error`; any `warning` or `error`
    /// makes the whole `degraded`.
    pub async fn health_detailed(&self) -> serde_json::Value {
        let providers = self.providers().await;
        let mut services = serde_json::Map::new();
        let mut degraded = false;
        for p in providers.iter().filter(|p| p.enabled) {
            degraded |= p.status != ProviderStatus::Ok;
            let detail = match (p.state, &p.last_error) {
                (Phase::Open, Some(e)) => format!("breaker open: {e}"),
                (Phase::HalfOpen, _) => "breaker half-open: next probe decides".to_owned(),
                (Phase::Closed, Some(e)) if p.status != ProviderStatus::Ok => e.clone(),
                _ => match p.last_latency_ms {
                    Some(ms) => format!("up ({ms:.0} ms)"),
                    None => "not probed yet".to_owned(),
                },
            };
            services.insert(
                p.id.clone(),
                serde_json::json!({
                    "status": p.status,
                    "detail": detail,
                    "state": p.state,
                    "consecutive_failures": p.consecutive_failures,
                    "last_checked_at": p.last_checked_at,
                }),
            );
        }
        let config_errors = self.engine.ctx.config_errors();
        let bus = self.bus_status().map(|b| {
            degraded |= !b.connected;
            let detail = if b.connected {
                format!("connected to {}", b.url)
            } else {
                format!(
                    "disconnected from {}: {}; reconnecting",
                    b.url,
                    b.last_error.as_deref().unwrap_or("not connected yet")
                )
            };
            serde_json::json!({
                "status": if b.connected { "ok" } else { "error" },
                "detail": detail,
                "connected": b.connected,
                "reconnects": b.reconnects,
                "received": b.received,
            })
        });
        let observer = self.engine.recorder.observer_degraded();
        degraded |= observer;
        let storage = self.storage();
        degraded |= !storage.ok;
        // A `warning` degrades the whole; an `info` (a skipped file) does not.
        let pipeline = self
            .pipeline_status()
            .await
            .unwrap_or_else(|e| PipelineStatus {
                status: PipelineLevel::Warning,
                detail: Some(format!("cannot compute: {e}")),
                stuck_file: None,
                stuck_file_age_seconds: None,
                processor: None,
            });
        degraded |= pipeline.status == PipelineLevel::Warning;
        let pipeline = serde_json::json!(pipeline);
        services.insert(crate::sessions::status::SERVICE.into(), pipeline);
        serde_json::json!({
            "status": if degraded { "degraded" } else { "ok" },
            "services": services,
            "config_errors": config_errors,
            "bus": bus,
            "storage": storage,
            "planner": {
                "pending_proposals": self.pending_proposals(),
                "observer_degraded": observer,
                "intake": self.intake(),
                "models": self.model_stats(),
            },
        })
    }

    pub async fn set_paused(&self, paused: bool) -> Result<StatusView, ApiError> {
        self.engine.set_paused(paused).await?;
        Ok(self.status())
    }

    pub fn snoozed_until(&self) -> Option<DateTime<Utc>> {
        self.engine.snoozed_until()
    }

    /// Snoozes notifications for `minutes` (0 turns them back on).
    pub async fn snooze(&self, minutes: u32) -> Result<StatusView, ApiError> {
        if minutes > 7 * 24 * 60 {
            return Err(ApiError::BadRequest(
                "minutes must be at most one week (10080)".into(),
            ));
        }
        let until = (minutes > 0).then(|| self.now() + chrono::Duration::minutes(minutes.into()));
        self.engine.snooze(until).await?;
        Ok(self.status())
    }

    /// Sends a test notice to every push channel (one try each) and says how each went.
    pub async fn test_notifications(&self) -> Result<Vec<ChannelTest>, ApiError> {
        Ok(self.engine.push.test().await)
    }

    /// Whether a native notification should be raised for this event now.
    pub fn notice(&self, event: &EngineEvent) -> Option<Notice> {
        if self.snoozed_until().is_some() {
            return None;
        }
        notice_for(event)
    }

    /// Reads the config file again (also what the watcher does on change).
    pub async fn reload_config(&self) -> Result<(), ApiError> {
        self.engine.reload_config().await
    }

    /// `GET /api/config`: the file's path, revision and content (secrets hidden).
    pub async fn config_document(&self) -> Result<ConfigDocument, ApiError> {
        self.engine.config_document().await
    }

    /// A write to the config file made at revision `if_match` (`If-Match`): applied to
    /// the file with everything else kept, checked, written atomically, applied.
    pub async fn edit_config(
        &self,
        edit: Edit,
        if_match: Option<&str>,
    ) -> Result<ConfigDocument, ApiError> {
        self.engine.edit_config(edit, if_match).await
    }

    /// `GET /metrics`: every part's state now, in the Prometheus text format
    /// ([`crate::metrics::CONTENT_TYPE`]); cheap at 10,000 providers (no database read
    /// per provider).
    pub async fn metrics(&self) -> Result<String, crate::metrics::EncodeError> {
        crate::metrics::encode(crate::metrics::gather(&self.engine).await)
    }

    /// `GET /api/gateway`: the LLM gateway's routes and counters.
    pub fn gateway(&self) -> Result<GatewayView, ApiError> {
        self.engine
            .gateway
            .view()
            .ok_or_else(|| ApiError::NotFound("no [gateway] is configured".into()))
    }

    /// `POST /api/providers/test`: one probe of an unsaved provider definition.
    pub async fn test_provider(
        &self,
        fields: serde_json::Map<String, serde_json::Value>,
    ) -> Result<TestOutcome, ApiError> {
        self.engine.test_provider(fields).await
    }

    /// `POST /api/events`: parses, gates, and answers at once; planning goes on behind.
    pub fn submit_event(&self, body: &[u8]) -> Result<Accepted, ApiError> {
        self.engine.intake.submit_event(body)
    }

    /// `POST /api/alertmanager`: Alertmanager's webhook (payload version 4). Each firing
    /// alert is a health event through the same door as `submit_event`; repeats and
    /// out-of-order notifications plan nothing twice; a resolved alert makes its pending
    /// proposals stale (see `planner::alerts`).
    pub async fn alertmanager(&self, body: &[u8]) -> Result<AlertsAccepted, ApiError> {
        self.engine.alerts.receive(body).await
    }

    /// Proposals, pending first; `status` filters (`all` or absent: every status).
    pub async fn proposals(
        &self,
        status: Option<&str>,
        limit: u32,
    ) -> Result<Vec<serde_json::Value>, ApiError> {
        self.engine.executor.proposals(status, limit).await
    }

    pub async fn proposal(&self, action_id: &str) -> Result<serde_json::Value, ApiError> {
        self.engine.executor.proposal(action_id).await
    }

    pub fn pending_proposals(&self) -> i64 {
        self.engine.executor.pending()
    }

    pub fn intake(&self) -> IntakeView {
        self.engine.intake.view()
    }

    /// `GET /api/intake`: the gate's counters, the bus, the models, Alertmanager's webhook.
    pub fn intake_report(&self) -> serde_json::Value {
        serde_json::json!({
            "intake": self.intake(),
            "bus": self.bus_status(),
            "models": self.model_stats(),
            "alertmanager": self.engine.alerts.counts(),
        })
    }

    pub fn bus_status(&self) -> Option<crate::bus::BusStatus> {
        self.engine.ctx.outbox.bus_status()
    }

    /// Per-model counters of the router (successes, failures, junk answers, skips).
    pub fn model_stats(&self) -> serde_json::Value {
        self.engine.planning.model_stats()
    }

    /// Waits until no plan is running, waiting, or deferred (tests, benchmarks).
    pub async fn planning_idle(&self) {
        while !self.engine.planning_idle() {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// Approves a pending proposal (see `execute::executor`).
    pub async fn approve(
        &self,
        action_id: &str,
        actor: &str,
    ) -> Result<serde_json::Value, ApiError> {
        self.engine.executor.approve(action_id, actor).await
    }

    /// Rejects a pending proposal, with an optional reason.
    pub async fn reject(
        &self,
        action_id: &str,
        actor: &str,
        reason: Option<&str>,
    ) -> Result<serde_json::Value, ApiError> {
        self.engine.executor.reject(action_id, actor, reason).await
    }

    /// Audit rows, newest first.
    pub async fn executions(
        &self,
        action_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Execution>, ApiError> {
        self.engine.executor.executions(action_id, limit).await
    }

    /// Runs one expiry tick now (what the engine does every 2 s); answers the number of
    /// proposals it read, which is the number due, whatever the number pending.
    pub async fn expire_due(&self) -> usize {
        self.engine.executor.expire_due().await
    }

    pub fn expiry_stats(&self) -> ExpiryStats {
        self.engine.executor.expiry_stats()
    }

    /// `services.session_pipeline`: computed now.
    pub async fn pipeline_status(&self) -> Result<PipelineStatus, ApiError> {
        match &self.engine.pipeline {
            Some(p) => p.status().await,
            None => Ok(crate::sessions::view::not_configured()),
        }
    }

    /// `GET /api/sessions`.
    pub async fn sessions(&self) -> Result<SessionsView, ApiError> {
        match &self.engine.pipeline {
            Some(p) => p.sessions().await,
            None => Ok(SessionsView::not_configured()),
        }
    }

    /// `POST /api/sessions/processors/{name}/run`: starts a run now; `Conflict` while
    /// one is running, `NotFound` for a name the config does not have.
    pub async fn run_processor(&self, name: &str) -> Result<(), ApiError> {
        match &self.engine.pipeline {
            Some(p) => p.run_processor(name).await,
            None => Err(ApiError::NotFound("no [sessions] configured".into())),
        }
    }

    /// Runs retention now (what the engine does at start and hourly): see `retention`.
    pub async fn prune_history(&self) -> Result<Pruned, ApiError> {
        Ok(crate::retention::prune(&self.engine.ctx, self.now()).await?)
    }
}
