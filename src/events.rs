//! The one typed event enum that leaves the engine, and its stored form.
//!
//! Owns: what happened (`EngineEvent`), its name, severity and human message, and the
//! `EventRecord` stored in SQLite and shown in the timeline. Adapters map these to UI
//! names and notifications; they never invent events of their own.

use crate::config::ConfigIssue;
use crate::execute::state::Status;
use crate::sessions::status::PipelineLevel;
use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EngineEvent {
    /// A breaker opened. `reopened` is a failed half-open trial, not a fresh trip.
    BreakerOpened {
        provider_id: String,
        node: String,
        service: String,
        reason: String,
        open_until: DateTime<Utc>,
        reopened: bool,
    },
    BreakerHalfOpen {
        provider_id: String,
        node: String,
        service: String,
    },
    BreakerClosed {
        provider_id: String,
        node: String,
        service: String,
        /// How long it was unhealthy, when known.
        down_for_secs: Option<i64>,
    },
    ConfigReloaded {
        providers: usize,
    },
    ConfigRejected {
        issues: Vec<ConfigIssue>,
    },
    MonitorPaused,
    MonitorResumed,
    NotificationsSnoozed {
        until: Option<DateTime<Utc>>,
    },
    WokeFromSleep {
        gap_secs: u64,
    },
    /// A gateway target failed a request and the next one of its route was tried (not
    /// per request: a failing target's breaker opens after its threshold, and skips are
    /// not failovers).
    GatewayFailover {
        route: String,
        target: String,
        error: String,
        next: String,
    },
    /// A push channel failed a delivery after working (or at its first try).
    PushFailing {
        channel: String,
        error: String,
    },
    /// A failing push channel delivered a notice again.
    PushRecovered {
        channel: String,
    },
    /// A health event from the bus, the API or the session watcher passed the parser.
    HealthReceived {
        source: String,
        node: String,
        service: String,
        event_type: String,
        event_severity: String,
        payload: serde_json::Value,
        /// Whether it went on to the planner (benign and cooled-down events do not).
        planned: bool,
    },
    ProposalCreated {
        action_id: String,
        action: String,
        node: String,
        service: String,
        reason: String,
        confidence: f64,
        requires_human: bool,
        model: String,
        overrides: Vec<String>,
    },
    /// The planner answered `ignore`: nothing to do, cooldown recorded.
    PlanIgnored {
        node: String,
        service: String,
        reason: String,
        model: String,
    },
    /// Every model in the chain was skipped or failed: no proposal, no cooldown.
    PlanningFailed {
        node: String,
        service: String,
        error: String,
        retry_at: Option<DateTime<Utc>>,
    },
    /// A root cause went down; its dependents that failed with it are listed.
    IncidentOpened {
        incident_id: String,
        provider_id: String,
        node: String,
        service: String,
        reason: String,
        dependents: Vec<String>,
    },
    /// A dependent failed while its root cause was down: part of that incident.
    IncidentJoined {
        incident_id: String,
        provider_id: String,
        node: String,
        service: String,
        root: String,
    },
    IncidentResolved {
        incident_id: String,
        provider_id: String,
        node: String,
        service: String,
        dependents: Vec<String>,
        /// Dependents still down when the root recovered (each gets its own incident).
        still_down: Vec<String>,
        down_for_secs: Option<i64>,
    },
    /// Most providers across several nodes failed at once: this workstation's own network
    /// is the likely cause. No remediation is planned until it clears.
    ObserverDegraded {
        failing: usize,
        total: usize,
        nodes: usize,
    },
    ObserverRecovered,
    /// A proposal moved on: approved, rejected, running, succeeded, resolved, …
    ProposalChanged {
        action_id: String,
        node: String,
        service: String,
        status: Status,
        actor: Option<String>,
        detail: Option<String>,
    },
    /// A fix ran to its end: the outcome after verification.
    RemediationFinished {
        action_id: String,
        node: String,
        service: String,
        status: Status,
        detail: Option<String>,
    },
    /// Alertmanager said an alert resolved: what it had planned and is still pending
    /// went stale (nothing runs for it).
    AlertResolved {
        alertname: String,
        node: String,
        service: String,
        fingerprint: String,
        started_at: DateTime<Utc>,
        ended_at: DateTime<Utc>,
        /// Whether Steward had seen it firing (a resolve may come first, or alone).
        seen_firing: bool,
        /// The pending proposals it made stale.
        stale: Vec<String>,
    },
    BusConnected {
        url: String,
    },
    /// The session pipeline's status moved (ok / info / warning).
    PipelineStatusChanged {
        status: PipelineLevel,
        previous: PipelineLevel,
        detail: Option<String>,
        processor: Option<String>,
        stuck_file: Option<String>,
    },
    /// How the session root is watched changed (native, polling after a watch failure,
    /// waiting for the root to exist).
    SessionWatchChanged {
        mode: String,
        previous: String,
        detail: Option<String>,
    },
    BusDisconnected {
        url: String,
        error: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl EngineEvent {
    pub fn kind(&self) -> &'static str {
        match self {
            EngineEvent::BreakerOpened { .. } => "breaker_opened",
            EngineEvent::BreakerHalfOpen { .. } => "breaker_half_open",
            EngineEvent::BreakerClosed { .. } => "breaker_closed",
            EngineEvent::ConfigReloaded { .. } => "config_reloaded",
            EngineEvent::ConfigRejected { .. } => "config_rejected",
            EngineEvent::MonitorPaused => "monitor_paused",
            EngineEvent::MonitorResumed => "monitor_resumed",
            EngineEvent::NotificationsSnoozed { .. } => "notifications_snoozed",
            EngineEvent::WokeFromSleep { .. } => "woke_from_sleep",
            EngineEvent::GatewayFailover { .. } => "gateway_failover",
            EngineEvent::PushFailing { .. } => "push_failing",
            EngineEvent::PushRecovered { .. } => "push_recovered",
            EngineEvent::HealthReceived { .. } => "health_event",
            EngineEvent::ProposalCreated { .. } => "proposal_created",
            EngineEvent::PlanIgnored { .. } => "plan_ignored",
            EngineEvent::PlanningFailed { .. } => "planning_failed",
            EngineEvent::IncidentOpened { .. } => "incident_opened",
            EngineEvent::IncidentJoined { .. } => "incident_joined",
            EngineEvent::IncidentResolved { .. } => "incident_resolved",
            EngineEvent::ObserverDegraded { .. } => "observer_degraded",
            EngineEvent::ObserverRecovered => "observer_recovered",
            EngineEvent::ProposalChanged { .. } => "proposal_changed",
            EngineEvent::RemediationFinished { .. } => "remediation_finished",
            EngineEvent::AlertResolved { .. } => "alert_resolved",
            EngineEvent::BusConnected { .. } => "bus_connected",
            EngineEvent::PipelineStatusChanged { .. } => "pipeline_status_changed",
            EngineEvent::SessionWatchChanged { .. } => "session_watch_changed",
            EngineEvent::BusDisconnected { .. } => "bus_disconnected",
        }
    }

    /// The timeline event of a breaker transition.
    pub fn of_transition(
        p: &crate::config::ProviderConfig,
        t: &crate::health::breaker::Transition,
        down_for: Option<i64>,
    ) -> EngineEvent {
        let (provider_id, node, service) = (p.id.clone(), p.node.clone(), p.service.clone());
        match t {
            crate::health::breaker::Transition::Opened {
                reason,
                open_until,
                reopened,
            } => EngineEvent::BreakerOpened {
                provider_id,
                node,
                service,
                reason: reason.clone(),
                open_until: *open_until,
                reopened: *reopened,
            },
            crate::health::breaker::Transition::HalfOpened => EngineEvent::BreakerHalfOpen {
                provider_id,
                node,
                service,
            },
            crate::health::breaker::Transition::Closed => EngineEvent::BreakerClosed {
                provider_id,
                node,
                service,
                down_for_secs: down_for,
            },
        }
    }

    pub fn severity(&self) -> Severity {
        match self {
            EngineEvent::BreakerOpened { .. } => Severity::Error,
            EngineEvent::ConfigRejected { .. } => Severity::Warning,
            EngineEvent::BreakerHalfOpen { .. } => Severity::Warning,
            EngineEvent::GatewayFailover { .. } | EngineEvent::PushFailing { .. } => {
                Severity::Warning
            }
            EngineEvent::IncidentOpened { .. } | EngineEvent::ObserverDegraded { .. } => {
                Severity::Error
            }
            EngineEvent::PlanningFailed { .. } | EngineEvent::BusDisconnected { .. } => {
                Severity::Warning
            }
            EngineEvent::PipelineStatusChanged {
                status: PipelineLevel::Warning,
                ..
            } => Severity::Warning,
            EngineEvent::SessionWatchChanged { mode, .. } if mode != "native" => Severity::Warning,
            EngineEvent::ProposalChanged { status, .. }
            | EngineEvent::RemediationFinished { status, .. } => match status {
                Status::Failed | Status::TimedOut | Status::Unresolved | Status::Interrupted => {
                    Severity::Warning
                }
                _ => Severity::Info,
            },
            EngineEvent::ProposalCreated {
                requires_human: true,
                ..
            } => Severity::Warning,
            EngineEvent::HealthReceived { event_severity, .. } => match event_severity.as_str() {
                "error" | "critical" | "fatal" => Severity::Error,
                "warning" | "warn" => Severity::Warning,
                _ => Severity::Info,
            },
            _ => Severity::Info,
        }
    }

    /// `(provider_id, node, service)` when the event is about one provider.
    pub fn subject(&self) -> Option<(&str, &str, &str)> {
        match self {
            EngineEvent::BreakerOpened {
                provider_id,
                node,
                service,
                ..
            }
            | EngineEvent::BreakerHalfOpen {
                provider_id,
                node,
                service,
            }
            | EngineEvent::BreakerClosed {
                provider_id,
                node,
                service,
                ..
            }
            | EngineEvent::IncidentOpened {
                provider_id,
                node,
                service,
                ..
            }
            | EngineEvent::IncidentJoined {
                provider_id,
                node,
                service,
                ..
            }
            | EngineEvent::IncidentResolved {
                provider_id,
                node,
                service,
                ..
            } => Some((provider_id, node, service)),
            _ => None,
        }
    }

    /// `(provider_id, node, service)` as far as the event names them (the timeline's columns).
    pub fn target(&self) -> (Option<&str>, Option<&str>, Option<&str>) {
        if let Some((p, n, s)) = self.subject() {
            return (Some(p), Some(n), Some(s));
        }
        match self {
            EngineEvent::HealthReceived { node, service, .. }
            | EngineEvent::ProposalCreated { node, service, .. }
            | EngineEvent::PlanIgnored { node, service, .. }
            | EngineEvent::PlanningFailed { node, service, .. }
            | EngineEvent::AlertResolved { node, service, .. } => (None, Some(node), Some(service)),
            _ => (None, None, None),
        }
    }

    pub fn message(&self) -> String {
        match self {
            EngineEvent::BreakerOpened {
                provider_id,
                reason,
                reopened: false,
                ..
            } => format!("{provider_id} is down: {reason}"),
            EngineEvent::BreakerOpened {
                provider_id,
                reason,
                reopened: true,
                ..
            } => format!("{provider_id} is still down: {reason}"),
            EngineEvent::BreakerHalfOpen { provider_id, .. } => {
                format!("{provider_id}: backoff over, trying again")
            }
            EngineEvent::BreakerClosed {
                provider_id,
                down_for_secs: Some(s),
                ..
            } => format!("{provider_id} recovered after {}", human_secs(*s)),
            EngineEvent::BreakerClosed { provider_id, .. } => format!("{provider_id} recovered"),
            EngineEvent::ConfigReloaded { providers } => {
                format!("config reloaded: {providers} providers")
            }
            EngineEvent::ConfigRejected { issues } => format!(
                "config rejected, keeping the last good one: {}",
                issues.first().map(ToString::to_string).unwrap_or_default()
            ),
            EngineEvent::MonitorPaused => "probing paused".to_owned(),
            EngineEvent::MonitorResumed => "probing resumed".to_owned(),
            EngineEvent::NotificationsSnoozed { until: Some(u) } => {
                format!("notifications snoozed until {}", u.format("%H:%M UTC"))
            }
            EngineEvent::NotificationsSnoozed { until: None } => "notifications back on".to_owned(),
            EngineEvent::GatewayFailover {
                route,
                target,
                error,
                next,
            } => format!(
                "gateway: {target} failed a request for {route} ({error}); {next} was asked next"
            ),
            EngineEvent::PushFailing { channel, error } => {
                format!("push channel {channel} failed a delivery ({error}); retrying with backoff")
            }
            EngineEvent::PushRecovered { channel } => {
                format!("push channel {channel} delivers again")
            }
            EngineEvent::WokeFromSleep { gap_secs } => format!(
                "woke after {}: failures are re-checked before they count",
                human_secs(*gap_secs as i64)
            ),
            EngineEvent::HealthReceived {
                source,
                node,
                service,
                event_type,
                planned,
                ..
            } => format!(
                "{event_type} on {node}/{service} (via {source}){}",
                if *planned { ", planning" } else { "" }
            ),
            EngineEvent::ProposalCreated {
                action,
                node,
                service,
                reason,
                confidence,
                requires_human,
                ..
            } => {
                format!(
                "proposal: {action} {service} on {node}: {reason} (confidence {confidence:.2}{})",
                if *requires_human { ", needs your approval" } else { "" }
            )
            }
            EngineEvent::PlanIgnored {
                node,
                service,
                reason,
                model,
            } => format!("{model} says ignore {node}/{service}: {reason}"),
            EngineEvent::PlanningFailed {
                node,
                service,
                error,
                retry_at,
            } => match retry_at {
                Some(t) => format!(
                    "no plan for {node}/{service}: {error}; a model may answer after {}",
                    t.format("%H:%M:%S UTC")
                ),
                None => format!("no plan for {node}/{service}: {error}"),
            },
            EngineEvent::IncidentOpened {
                provider_id,
                reason,
                dependents,
                ..
            } => match dependents.len() {
                0 => format!("{provider_id} is down: {reason}"),
                n => format!("{provider_id} is down: {reason} ({n} dependents down with it)"),
            },
            EngineEvent::IncidentJoined {
                provider_id, root, ..
            } => format!("{provider_id} is down because {root} is"),
            EngineEvent::IncidentResolved {
                provider_id,
                dependents,
                still_down,
                down_for_secs,
                ..
            } => {
                let mut m = match down_for_secs {
                    Some(s) => format!("{provider_id} recovered after {}", human_secs(*s)),
                    None => format!("{provider_id} recovered"),
                };
                let back = dependents.len() - still_down.len();
                if back > 0 {
                    m.push_str(&format!(", {back} dependents with it"));
                }
                if !still_down.is_empty() {
                    m.push_str(&format!("; still down: {}", still_down.join(", ")));
                }
                m
            }
            EngineEvent::ObserverDegraded {
                failing,
                total,
                nodes,
            } => format!(
                "{failing} of {total} providers on {nodes} nodes failed at once: this \
                 workstation's network is the likely cause; no remediation until it clears"
            ),
            EngineEvent::ObserverRecovered => "observer recovered: remediation resumes".to_owned(),
            EngineEvent::ProposalChanged {
                action_id,
                status,
                actor,
                detail,
                ..
            } => {
                let mut m = format!("{action_id} is {status}");
                if let Some(a) = actor {
                    if matches!(status, Status::Approved | Status::Rejected) {
                        m.push_str(&format!(" by {a}"));
                    }
                }
                if let Some(d) = detail {
                    m.push_str(&format!(": {d}"));
                }
                m
            }
            EngineEvent::RemediationFinished {
                action_id,
                node,
                service,
                status,
                detail,
            } => match detail {
                Some(d) => format!("fix for {service} on {node} ({action_id}) ended {status}: {d}"),
                None => format!("fix for {service} on {node} ({action_id}) ended {status}"),
            },
            EngineEvent::AlertResolved {
                alertname,
                node,
                service,
                ended_at,
                seen_firing,
                stale,
                ..
            } => {
                let mut m = format!(
                    "alert {alertname} on {node}/{service} resolved in Alertmanager at {}",
                    ended_at.format("%H:%M:%S UTC")
                );
                if !seen_firing {
                    m.push_str(" (not seen firing)");
                }
                match stale.as_slice() {
                    [] => {}
                    [one] => m.push_str(&format!("; proposal {one} is stale: nothing runs")),
                    many => m.push_str(&format!(
                        "; proposals {} are stale: nothing runs",
                        many.join(", ")
                    )),
                }
                m
            }
            EngineEvent::BusConnected { url } => format!("bus connected to {url}"),
            EngineEvent::BusDisconnected { url, error } => {
                format!("bus lost {url}: {error}; reconnecting")
            }
            EngineEvent::PipelineStatusChanged { status, detail, .. } => {
                match (status.as_str(), detail) {
                    ("ok", Some(d)) => format!("session pipeline ok again: {d}"),
                    (s, Some(d)) => format!("session pipeline {s}: {d}"),
                    (s, None) => format!("session pipeline {s}"),
                }
            }
            EngineEvent::SessionWatchChanged { mode, detail, .. } => match mode.as_str() {
                "native" => "session files watched (native)".to_owned(),
                "polling" => format!(
                    "session watcher polling: {}",
                    detail.as_deref().unwrap_or("the native watch failed")
                ),
                _ => format!(
                    "session watcher waiting: {}",
                    detail.as_deref().unwrap_or("no root yet")
                ),
            },
        }
    }
}

fn human_secs(s: i64) -> String {
    match s {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// An event as stored and listed (`GET /api/events`).
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct EventRecord {
    pub id: i64,
    pub at: DateTime<Utc>,
    #[serde(rename = "type")]
    pub kind: String,
    pub provider_id: Option<String>,
    pub node: Option<String>,
    pub service: Option<String>,
    /// A [`Severity`]'s name (stored as text).
    #[ts(as = "Severity")]
    pub severity: String,
    pub message: String,
    /// The event's fields (an object: the `EngineEvent` without its `type`).
    #[ts(type = "Record<string, unknown>")]
    pub data: serde_json::Value,
}
