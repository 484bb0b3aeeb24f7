//! The one surface every caller uses: the Tauri shell, the HTTP server, the CLI, tests.
//!
//! Owns: the views (`ProviderView`, `StatusView`, health report), commands (probe now,
//! pause/resume, snooze), the live `Update` stream, the mapping of engine events to native
//! notifications, and the typed `ApiError` with its stable `code`.
//! Does not own: transport. Adapters convert `ApiError` to `{code, message}` and `Update`
//! to their own wire; they call nothing else in the engine.

use crate::clock::SharedClock;
use crate::config::{Config, ConfigIssue};
use crate::events::{EngineEvent, EventRecord};
use crate::health::breaker::{Breakers, Phase};
use crate::health::monitor::{Monitor, Outcome};
use crate::store::{HourlyRow, Sample, Store, StoreError};
use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// How many recent latencies each provider keeps for its sparkline.
pub const SPARK_POINTS: usize = 120;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no provider {0:?}")]
    UnknownProvider(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    /// The proposal's time to live ran out (a `409` with code `expired`).
    #[error("{0}")]
    Expired(String),
    /// The input is larger than its limit (HTTP 413).
    #[error("{0}")]
    PayloadTooLarge(String),
    /// Shutting down, or a part that is not running.
    #[error("{0}")]
    Unavailable(String),
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
}

impl ApiError {
    /// Stable machine-readable code (`{code, message}` on the wire).
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::UnknownProvider(_) | ApiError::NotFound(_) => "not_found",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Conflict(_) => "conflict",
            ApiError::Expired(_) => "expired",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Store(e) if e.unavailable().is_some() => "storage_unavailable",
            ApiError::Store(_) => "internal",
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ProviderView {
    pub id: String,
    pub kind: String,
    pub node: String,
    pub service: String,
    pub enabled: bool,
    pub state: Phase,
    pub healthy: bool,
    pub status: &'static str,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    pub last_latency_ms: Option<f64>,
    pub last_checked_at: Option<DateTime<Utc>>,
    pub last_outcome: Option<Outcome>,
    pub open_until: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_failure_at: Option<DateTime<Utc>>,
    pub uptime_24h: Option<f64>,
    /// Recent latencies, oldest first; `null` for a failed sample.
    pub spark: Vec<Option<f64>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProviderDetail {
    #[serde(flatten)]
    pub provider: ProviderView,
    pub history: Vec<Sample>,
    pub hourly: Vec<HourlyRow>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Counts {
    pub providers: usize,
    pub ok: usize,
    pub warning: usize,
    pub error: usize,
    pub disabled: usize,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Overall {
    Healthy,
    Degraded,
    Down,
}

impl Overall {
    pub fn as_str(self) -> &'static str {
        match self {
            Overall::Healthy => "healthy",
            Overall::Degraded => "degraded",
            Overall::Down => "down",
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StatusView {
    pub overall: Overall,
    pub counts: Counts,
    pub paused: bool,
    pub snoozed_until: Option<DateTime<Utc>>,
    pub config_errors: Vec<ConfigIssue>,
    pub config_path: Option<PathBuf>,
    pub node: String,
    pub version: &'static str,
    pub pending_proposals: i64,
    /// Input refused since start (invalid JSON, missing node, …).
    pub events_rejected: u64,
    pub observer_degraded: bool,
    pub incidents: usize,
    pub bus: Option<crate::bus::BusStatus>,
    /// How long a proposal waits for a decision before it expires (`[executor] proposal_ttl`).
    pub proposal_ttl_secs: u64,
    /// The session pipeline's level (`None` without `[sessions]` or before the first scan);
    /// a `warning` makes the overall state `degraded`.
    pub pipeline: Option<crate::sessions::status::PipelineLevel>,
    /// Whether the database takes writes; not `ok` makes the overall state `degraded`.
    pub storage: crate::store::StorageView,
}

/// What adapters push to the UI, live.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Update {
    ProviderUpdated {
        provider: ProviderView,
    },
    Event {
        #[serde(rename = "event")]
        record: EventRecord,
        #[serde(skip)]
        event: EngineEvent,
    },
    Status {
        status: StatusView,
    },
    /// A new proposal (the full action-file JSON is `proposal`).
    Proposal {
        #[serde(serialize_with = "proposal_as_action_file")]
        proposal: Box<crate::planner::proposal::Proposal>,
    },
    /// A running command's output so far (pushed at most every 200 ms while it prints).
    RunOutput {
        output: crate::executing::RunOutput,
    },
    /// The session pipeline's status and processors changed (files and usage: refetch
    /// `GET /api/sessions`).
    Pipeline {
        pipeline: crate::pipeline::PipelineUpdate,
    },
    /// The receiver fell behind: refetch everything.
    Resync,
}

fn proposal_as_action_file<S: serde::Serializer>(
    p: &crate::planner::proposal::Proposal,
    s: S,
) -> Result<S::Ok, S::Error> {
    p.to_action_file().serialize(s)
}

/// A native notification to raise, decided here so every shell says the same thing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub title: String,
    pub body: String,
    /// What a click opens: `proposal:<action_id>`, `provider:<id>`, or nothing.
    pub target: Option<String>,
}

/// One notification per incident (not per symptom), per recovery, per observer change,
/// and per proposal that needs a person. Breaker events themselves do not notify: the
/// incident they open or join does.
pub fn notice_for(event: &EngineEvent) -> Option<Notice> {
    match event {
        EngineEvent::IncidentOpened {
            provider_id,
            node,
            service,
            reason,
            dependents,
            ..
        } => Some(Notice {
            title: format!("{provider_id} is down"),
            body: match dependents.len() {
                0 => format!("{service} on {node}: {reason}"),
                n => format!("{service} on {node}: {reason}; {n} dependents down with it"),
            },
            target: Some(format!("provider:{provider_id}")),
        }),
        EngineEvent::IncidentResolved {
            provider_id,
            node,
            service,
            dependents,
            still_down,
            ..
        } => Some(Notice {
            title: format!("{provider_id} recovered"),
            body: {
                let mut b = format!("{service} on {node} is answering again");
                let back = dependents.len() - still_down.len();
                if back > 0 {
                    b.push_str(&format!(", {back} dependents with it"));
                }
                if !still_down.is_empty() {
                    b.push_str(&format!("; still down: {}", still_down.join(", ")));
                }
                b
            },
            target: Some(format!("provider:{provider_id}")),
        }),
        EngineEvent::ObserverDegraded { .. } => Some(Notice {
            title: "This workstation's network looks down".into(),
            body: event.message(),
            target: None,
        }),
        EngineEvent::PipelineStatusChanged { status, detail, .. } if status == "warning" => {
            Some(Notice {
                title: "Session pipeline is behind".into(),
                body: detail.clone().unwrap_or_default(),
                target: Some("view:pipeline".into()),
            })
        }
        EngineEvent::PipelineStatusChanged {
            status, previous, ..
        } if previous == "warning" && status != "warning" => Some(Notice {
            title: "Session pipeline caught up".into(),
            body: event.message(),
            target: Some("view:pipeline".into()),
        }),
        EngineEvent::SessionWatchChanged { mode, detail, .. } if mode == "polling" => {
            Some(Notice {
                title: "Session files: polling".into(),
                body: detail.clone().unwrap_or_default(),
                target: Some("view:pipeline".into()),
            })
        }
        EngineEvent::ObserverRecovered => Some(Notice {
            title: "Network back".into(),
            body: event.message(),
            target: None,
        }),
        EngineEvent::ProposalCreated {
            action_id,
            action,
            node,
            service,
            reason,
            confidence,
            requires_human: true,
            ..
        } => Some(Notice {
            title: format!("Approve: {action} {service} on {node}?"),
            body: format!("{reason} (confidence {confidence:.2})"),
            target: Some(format!("proposal:{action_id}")),
        }),
        EngineEvent::ProposalChanged {
            action_id,
            node,
            service,
            status,
            detail,
            ..
        } if matches!(
            status.as_str(),
            "resolved" | "unresolved" | "failed" | "timed_out"
        ) =>
        {
            Some(Notice {
                title: match status.as_str() {
                    "resolved" => format!("Fixed: {service} on {node}"),
                    "unresolved" => format!("Ran, but {service} on {node} is still down"),
                    _ => format!("The fix for {service} on {node} failed"),
                },
                body: detail.clone().unwrap_or_default(),
                target: Some(format!("proposal:{action_id}")),
            })
        }
        _ => None,
    }
}

/// In-memory latest results per provider (the store has the full history).
#[derive(Debug, Default, Clone)]
pub(crate) struct Live {
    pub last_latency_ms: Option<f64>,
    pub last_checked_at: Option<DateTime<Utc>>,
    pub last_outcome: Option<Outcome>,
    pub last_probe_error: Option<String>,
    pub down_since: Option<DateTime<Utc>>,
    pub spark: VecDeque<SparkPoint>,
}

/// One sparkline point in 8 bytes (10,000 providers × 120 points stay under 10 MB).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SparkPoint {
    /// Unix seconds.
    at: u32,
    /// Latency in ms; NaN for a failed sample.
    ms: f32,
}

impl Live {
    pub(crate) fn push_spark(&mut self, at: DateTime<Utc>, latency: Option<f64>) {
        if self.spark.len() >= SPARK_POINTS {
            self.spark.pop_front();
        }
        self.spark.push_back(SparkPoint {
            at: u32::try_from(at.timestamp()).unwrap_or(0),
            ms: latency.map_or(f32::NAN, |v| v as f32),
        });
    }

    fn spark_since(&self, since: DateTime<Utc>) -> Vec<Option<f64>> {
        let since = since.timestamp();
        self.spark
            .iter()
            .filter(|p| i64::from(p.at) >= since)
            .map(|p| (!p.ms.is_nan()).then(|| (f64::from(p.ms) * 1000.0).round() / 1000.0))
            .collect()
    }
}

/// `(samples, ok)` per provider over 24 h, and when it was computed.
pub(crate) type UptimeCache = (Option<tokio::time::Instant>, HashMap<String, (i64, i64)>);

pub(crate) struct Inner {
    pub store: Store,
    pub breakers: Arc<Breakers>,
    pub monitor: Arc<Monitor>,
    pub config: ArcSwap<Config>,
    pub config_errors: RwLock<Vec<ConfigIssue>>,
    pub live: RwLock<HashMap<String, Live>>,
    pub updates: broadcast::Sender<Update>,
    pub snoozed_until: Mutex<Option<DateTime<Utc>>>,
    pub clock: SharedClock,
    pub uptime: tokio::sync::Mutex<UptimeCache>,
    pub last_status: Mutex<Option<StatusView>>,
    pub recorder: tokio::sync::mpsc::Sender<crate::health::monitor::MonitorEvent>,
    pub factory: crate::engine::ProbeFactory,
    pub planning: crate::planning::Planning,
    /// The session pipeline, when `[sessions]` is configured (a change needs a restart).
    pub pipeline: Option<crate::pipeline::Pipeline>,
}

/// Cheap to clone; every clone is the same engine.
#[derive(Clone)]
pub struct Api {
    pub(crate) inner: Arc<Inner>,
}

const UPTIME_TTL: Duration = Duration::from_secs(30);

impl Api {
    pub fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    /// `(transactions, samples)` the recorder has written since start.
    pub fn write_stats(&self) -> (u64, u64) {
        self.inner.store.write_stats()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Update> {
        self.inner.updates.subscribe()
    }

    pub fn config(&self) -> Arc<Config> {
        self.inner.config.load_full()
    }

    fn view(
        &self,
        p: &crate::config::ProviderConfig,
        live: Option<&Live>,
        uptime: Option<(i64, i64)>,
        now: DateTime<Utc>,
    ) -> ProviderView {
        let state = self.inner.breakers.state(&p.id).unwrap_or_default();
        let phase = state.phase(now);
        let last_outcome = live.and_then(|l| l.last_outcome);
        let status = if !p.enabled {
            "disabled"
        } else {
            match phase {
                Phase::Open => "error",
                Phase::HalfOpen => "warning",
                Phase::Closed => match last_outcome {
                    None | Some(Outcome::Up) if state.consecutive_failures == 0 => "ok",
                    _ => "warning",
                },
            }
        };
        let spark = live
            .map(|l| l.spark_since(now - chrono::Duration::hours(1)))
            .unwrap_or_default();
        ProviderView {
            id: p.id.clone(),
            kind: p.target.kind().to_owned(),
            node: p.node.clone(),
            service: p.service.clone(),
            enabled: p.enabled,
            state: phase,
            healthy: state.is_healthy(now),
            status,
            consecutive_failures: state.consecutive_failures,
            last_error: live
                .and_then(|l| l.last_probe_error.clone())
                .or(state.last_error.clone()),
            last_latency_ms: live.and_then(|l| l.last_latency_ms),
            last_checked_at: live.and_then(|l| l.last_checked_at),
            last_outcome,
            open_until: state.open_until,
            last_success_at: state.last_success_at,
            last_failure_at: state.last_failure_at,
            uptime_24h: uptime
                .filter(|(n, _)| *n > 0)
                .map(|(n, ok)| (ok as f64 * 1000.0 / n as f64).round() / 10.0),
            spark,
        }
    }

    async fn uptimes(&self) -> HashMap<String, (i64, i64)> {
        let mut cache = self.inner.uptime.lock().await;
        let fresh = cache.0.is_some_and(|t| t.elapsed() < UPTIME_TTL);
        if !fresh {
            let since = self.now() - chrono::Duration::hours(24);
            match self.inner.store.uptime_counts(since).await {
                Ok(counts) => *cache = (Some(tokio::time::Instant::now()), counts),
                Err(e) => tracing::warn!(error = %e, "uptime query failed"),
            }
        }
        cache.1.clone()
    }

    /// One provider's view without touching the database (used for live updates).
    pub(crate) fn view_now(&self, id: &str) -> Option<ProviderView> {
        let config = self.config();
        let p = config.provider(id)?;
        let live = self.inner.live.read();
        let uptime = self
            .inner
            .uptime
            .try_lock()
            .ok()
            .and_then(|c| c.1.get(id).copied());
        Some(self.view(p, live.get(id), uptime, self.now()))
    }

    pub async fn providers(&self) -> Vec<ProviderView> {
        let uptimes = self.uptimes().await;
        let config = self.config();
        let live = self.inner.live.read();
        let now = self.now();
        config
            .providers
            .iter()
            .map(|p| self.view(p, live.get(&p.id), uptimes.get(&p.id).copied(), now))
            .collect()
    }

    pub async fn provider(&self, id: &str) -> Result<ProviderDetail, ApiError> {
        let config = self.config();
        let p = config
            .provider(id)
            .ok_or_else(|| ApiError::UnknownProvider(id.to_owned()))?;
        let uptimes = self.uptimes().await;
        let now = self.now();
        let provider = {
            let live = self.inner.live.read();
            self.view(p, live.get(id), uptimes.get(id).copied(), now)
        };
        let history = self
            .inner
            .store
            .history(id, now - chrono::Duration::hours(24))
            .await?;
        let hourly = self
            .inner
            .store
            .hourly(id, now - chrono::Duration::days(30))
            .await?;
        Ok(ProviderDetail {
            provider,
            history,
            hourly,
        })
    }

    /// Probes one provider now and answers its new view.
    pub async fn probe(&self, id: &str) -> Result<ProviderView, ApiError> {
        if self.config().provider(id).is_none() {
            return Err(ApiError::UnknownProvider(id.to_owned()));
        }
        self.inner
            .monitor
            .probe_now(id)
            .await
            .ok_or_else(|| ApiError::UnknownProvider(id.to_owned()))?;
        // The recorder applies the report; wait until it has (it is in-process and fast).
        crate::engine::settle(self).await;
        self.view_now(id)
            .ok_or_else(|| ApiError::UnknownProvider(id.to_owned()))
    }

    pub async fn events(&self, limit: u32) -> Result<Vec<EventRecord>, ApiError> {
        Ok(self.inner.store.recent_events(limit.clamp(1, 5000)).await?)
    }

    pub fn status(&self) -> StatusView {
        let config = self.config();
        let now = self.now();
        let live = self.inner.live.read();
        let mut counts = Counts::default();
        for p in &config.providers {
            counts.providers += 1;
            match self.view(p, live.get(&p.id), None, now).status {
                "ok" => counts.ok += 1,
                "warning" => counts.warning += 1,
                "error" => counts.error += 1,
                _ => counts.disabled += 1,
            }
        }
        let enabled = counts.providers - counts.disabled;
        let pipeline = self.inner.pipeline.as_ref().and_then(|p| p.level());
        let storage = self.storage();
        let overall = if counts.error > 0 && counts.error * 2 >= enabled {
            Overall::Down
        } else if counts.error + counts.warning > 0
            || pipeline == Some(crate::sessions::status::PipelineLevel::Warning)
            || !storage.ok
        {
            Overall::Degraded
        } else {
            Overall::Healthy
        };
        // One lock at a time (a guard in a struct literal lives to the end of it).
        let events_rejected = self.inner.planning.gate.lock().counts.rejected_total;
        let (observer_degraded, incidents) = {
            let i = self.inner.planning.incidents.lock();
            (i.observer_degraded(), i.incidents().len())
        };
        StatusView {
            overall,
            counts,
            paused: self.inner.monitor.is_paused(),
            snoozed_until: self.snoozed_until(),
            config_errors: self.inner.config_errors.read().clone(),
            config_path: config.source.clone(),
            node: crate::config::node_name(),
            version: env!("CARGO_PKG_VERSION"),
            pending_proposals: self.pending_proposals(),
            events_rejected,
            observer_degraded,
            incidents,
            bus: self.bus_status(),
            proposal_ttl_secs: crate::executing::proposal_ttl(&config).as_secs(),
            pipeline,
            storage,
        }
    }

    /// Whether the database takes writes, with the events waiting in memory while it does not.
    pub fn storage(&self) -> crate::store::StorageView {
        let mut storage = self.inner.store.health().view();
        if !storage.ok {
            storage.unwritten_events = crate::planning::unwritten_records(self);
        }
        storage
    }

    /// `GET /api/health/detailed`: an open breaker is `error`; any `warning` or `error`
    /// makes the whole `degraded`.
    pub async fn health_detailed(&self) -> serde_json::Value {
        let providers = self.providers().await;
        let mut services = serde_json::Map::new();
        let mut degraded = false;
        for p in providers.iter().filter(|p| p.enabled) {
            degraded |= p.status != "ok";
            let detail = match (p.state, &p.last_error) {
                (Phase::Open, Some(e)) => format!("breaker open: {e}"),
                (Phase::HalfOpen, _) => "breaker half-open: next probe decides".to_owned(),
                (Phase::Closed, Some(e)) if p.status != "ok" => e.clone(),
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
        let config_errors = self.inner.config_errors.read().clone();
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
        let observer = self.inner.planning.incidents.lock().observer_degraded();
        degraded |= observer;
        let storage = self.storage();
        degraded |= !storage.ok;
        // A `warning` degrades the whole; an `info` (a skipped file) does not.
        let pipeline = match self.pipeline_status().await {
            Ok(s) => serde_json::to_value(&s).unwrap_or_default(),
            Err(e) => {
                serde_json::json!({"status": "warning", "detail": format!("cannot compute: {e}")})
            }
        };
        degraded |= pipeline["status"] == "warning";
        services.insert(crate::pipeline::SERVICE.into(), pipeline);
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
        if self.inner.monitor.is_paused() != paused {
            self.inner.monitor.set_paused(paused);
            self.inner
                .store
                .set_setting("paused", paused.then_some("1"))
                .await?;
            let event = if paused {
                EngineEvent::MonitorPaused
            } else {
                EngineEvent::MonitorResumed
            };
            crate::engine::publish_event(self, event).await?;
        }
        Ok(self.status())
    }

    pub fn snoozed_until(&self) -> Option<DateTime<Utc>> {
        let until = *self.inner.snoozed_until.lock();
        until.filter(|u| *u > self.now())
    }

    /// Snoozes notifications for `minutes` (0 turns them back on).
    pub async fn snooze(&self, minutes: u32) -> Result<StatusView, ApiError> {
        if minutes > 7 * 24 * 60 {
            return Err(ApiError::BadRequest(
                "minutes must be at most one week (10080)".into(),
            ));
        }
        let until = (minutes > 0).then(|| self.now() + chrono::Duration::minutes(minutes.into()));
        *self.inner.snoozed_until.lock() = until;
        let stored = until.map(|u| u.to_rfc3339());
        self.inner
            .store
            .set_setting("snoozed_until", stored.as_deref())
            .await?;
        crate::engine::publish_event(self, EngineEvent::NotificationsSnoozed { until }).await?;
        Ok(self.status())
    }

    /// Whether a native notification should be raised for this event now.
    pub fn notice(&self, event: &EngineEvent) -> Option<Notice> {
        if self.snoozed_until().is_some() {
            return None;
        }
        notice_for(event)
    }
}
