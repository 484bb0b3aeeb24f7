//! The one typed event enum that leaves the engine, and its stored form.
//!
//! Owns: what happened (`EngineEvent`), its name, severity and human message, and the
//! `EventRecord` stored in SQLite and shown in the timeline. Adapters map these to UI
//! names and notifications; they never invent events of their own.

use crate::config::ConfigIssue;
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
        }
    }

    pub fn severity(&self) -> Severity {
        match self {
            EngineEvent::BreakerOpened { .. } => Severity::Error,
            EngineEvent::ConfigRejected { .. } => Severity::Warning,
            EngineEvent::BreakerHalfOpen { .. } => Severity::Warning,
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
            } => Some((provider_id, node, service)),
            _ => None,
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
            EngineEvent::WokeFromSleep { gap_secs } => format!(
                "woke after {}: failures are re-checked before they count",
                human_secs(*gap_secs as i64)
            ),
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
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventRecord {
    pub id: i64,
    pub at: DateTime<Utc>,
    #[serde(rename = "type")]
    pub kind: String,
    pub provider_id: Option<String>,
    pub node: Option<String>,
    pub service: Option<String>,
    pub severity: String,
    pub message: String,
    pub data: serde_json::Value,
}
