//! What a person sees of a provider: the live board and the provider view.
//!
//! Owns: `Live` (latest results and the sparkline per provider, in memory; the store has
//! the history), `ProviderView` / `ProviderDetail`, and the pure rule that turns config,
//! breaker state and latest result into `status` (`ok`, `warning`, `error`, `disabled`).

use crate::config::ProviderConfig;
use crate::health::breaker::{BreakerState, Phase};
use crate::health::monitor::Outcome;
use crate::health::tally::ProbeTally;
use crate::store::{HourlyRow, Sample};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::VecDeque;

/// How many recent latencies each provider keeps for its sparkline.
pub const SPARK_POINTS: usize = 120;

#[derive(Debug, Clone, Serialize, PartialEq, ts_rs::TS)]
pub struct ProviderView {
    pub id: String,
    #[ts(type = "'http' | 'tcp' | 'llm' | 'command'")]
    pub kind: String,
    pub node: String,
    pub service: String,
    pub enabled: bool,
    pub state: Phase,
    pub healthy: bool,
    pub status: ProviderStatus,
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

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct ProviderDetail {
    #[serde(flatten)]
    pub provider: ProviderView,
    pub history: Vec<Sample>,
    pub hourly: Vec<HourlyRow>,
}

/// A provider as the overview shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum ProviderStatus {
    Ok,
    Warning,
    Error,
    Disabled,
}

impl ProviderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderStatus::Ok => "ok",
            ProviderStatus::Warning => "warning",
            ProviderStatus::Error => "error",
            ProviderStatus::Disabled => "disabled",
        }
    }
}

/// In-memory latest results per provider (the store has the full history).
#[derive(Debug, Default, Clone)]
pub struct Live {
    pub last_latency_ms: Option<f64>,
    pub last_checked_at: Option<DateTime<Utc>>,
    pub last_outcome: Option<Outcome>,
    pub last_probe_error: Option<String>,
    pub down_since: Option<DateTime<Utc>>,
    /// Probe durations and failures since start (`GET /metrics`); not seeded from the
    /// store, like every counter of the exposition.
    pub tally: ProbeTally,
    spark: VecDeque<SparkPoint>,
}

/// One sparkline point in 8 bytes (10,000 providers × 120 points stay under 10 MB).
#[derive(Debug, Clone, Copy)]
struct SparkPoint {
    /// Unix seconds.
    at: u32,
    /// Latency in ms; NaN for a failed sample.
    ms: f32,
}

impl Live {
    pub fn push_spark(&mut self, at: DateTime<Utc>, latency: Option<f64>) {
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

/// `error` while the breaker is open, `warning` half-open or after a failure that has not
/// tripped it yet, `ok` otherwise; `disabled` for a provider the config switched off.
pub fn status_of(
    enabled: bool,
    phase: Phase,
    state: &BreakerState,
    last: Option<Outcome>,
) -> ProviderStatus {
    if !enabled {
        return ProviderStatus::Disabled;
    }
    match phase {
        Phase::Open => ProviderStatus::Error,
        Phase::HalfOpen => ProviderStatus::Warning,
        Phase::Closed => match last {
            None | Some(Outcome::Up) if state.consecutive_failures == 0 => ProviderStatus::Ok,
            _ => ProviderStatus::Warning,
        },
    }
}

/// One provider's view at `now`, from its config, breaker state, latest results and the
/// 24 h `(samples, ok)` counts when known.
pub fn view(
    p: &ProviderConfig,
    state: &BreakerState,
    live: Option<&Live>,
    uptime: Option<(i64, i64)>,
    now: DateTime<Utc>,
) -> ProviderView {
    let phase = state.phase(now);
    let last_outcome = live.and_then(|l| l.last_outcome);
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
        status: status_of(p.enabled, phase, state, last_outcome),
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
