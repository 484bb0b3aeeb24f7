//! The whole engine in one line: `GET /api/status`, the tray's line, the status push.
//!
//! Owns: `StatusView` with its `Counts` and `Overall`, and the pure rule that turns
//! per-provider states, the session pipeline and the storage into the overall state.
//! Does not own: gathering the inputs (the engine reads them from each part) or pushing
//! the view (one status task in the engine, woken by the outbox).

use crate::bus::BusStatus;
use crate::config::ConfigIssue;
use crate::health::view::ProviderStatus;
use crate::sessions::status::PipelineLevel;
use crate::store::StorageView;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::path::PathBuf;

#[derive(Debug, Clone, Serialize, PartialEq, Default, ts_rs::TS)]
pub struct Counts {
    pub providers: usize,
    pub ok: usize,
    pub warning: usize,
    pub error: usize,
    pub disabled: usize,
}

impl Counts {
    /// Counts one provider by its view's `status`.
    pub fn add(&mut self, status: ProviderStatus) {
        self.providers += 1;
        match status {
            ProviderStatus::Ok => self.ok += 1,
            ProviderStatus::Warning => self.warning += 1,
            ProviderStatus::Error => self.error += 1,
            ProviderStatus::Disabled => self.disabled += 1,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, ts_rs::TS)]
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

    /// `down` when at least half the enabled providers are in error; `degraded` for any
    /// error or warning, a pipeline `warning` or a database that takes no writes.
    pub fn of(counts: &Counts, pipeline: Option<PipelineLevel>, storage_ok: bool) -> Overall {
        let enabled = counts.providers - counts.disabled;
        if counts.error > 0 && counts.error * 2 >= enabled {
            Overall::Down
        } else if counts.error + counts.warning > 0
            || pipeline == Some(PipelineLevel::Warning)
            || !storage_ok
        {
            Overall::Degraded
        } else {
            Overall::Healthy
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, ts_rs::TS)]
pub struct StatusView {
    pub overall: Overall,
    pub counts: Counts,
    pub paused: bool,
    pub snoozed_until: Option<DateTime<Utc>>,
    pub config_errors: Vec<ConfigIssue>,
    #[ts(type = "string | null")]
    pub config_path: Option<PathBuf>,
    pub node: String,
    pub version: &'static str,
    pub pending_proposals: i64,
    /// Input refused since start (invalid JSON, missing node, …).
    pub events_rejected: u64,
    pub observer_degraded: bool,
    pub incidents: usize,
    pub bus: Option<BusStatus>,
    /// How long a proposal waits for a decision before it expires (`[executor] proposal_ttl`).
    pub proposal_ttl_secs: u64,
    /// The session pipeline's level (`None` without `[sessions]` or before the first scan);
    /// a `warning` makes the overall state `degraded`.
    pub pipeline: Option<PipelineLevel>,
    /// Whether the database takes writes; not `ok` makes the overall state `degraded`.
    pub storage: StorageView,
    /// The providers whose breaker is open (status `error`), in natural order (`p2`
    /// before `p10`), at most `DOWN_LISTED`; `counts.error` says how many in all.
    pub down_providers: Vec<String>,
    /// The push channels (`[[notifications.channels]]`), in config order.
    pub channels: Vec<ChannelView>,
}

/// A push channel's state: `idle` until its first delivery, `ok` after a delivery,
/// `failing` from a failed try until the next delivery.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum ChannelState {
    Idle,
    Ok,
    Failing,
}

/// What one try of a test notice to a push channel came to.
#[derive(Debug, Clone, Serialize, PartialEq, ts_rs::TS)]
pub struct ChannelTest {
    pub name: String,
    pub kind: String,
    pub ok: bool,
    /// Why it failed (the receiver's status and answer, or no connection).
    pub error: Option<String>,
}

/// One push channel, as `/api/status` and the status bar show it.
#[derive(Debug, Clone, Serialize, PartialEq, ts_rs::TS)]
pub struct ChannelView {
    pub name: String,
    /// `ntfy` or `webhook`.
    pub kind: String,
    pub state: ChannelState,
    /// Notices waiting (the first one may be between retries).
    pub queued: usize,
    pub sent: u64,
    /// Notices given up (after every retry, or at once when a retry cannot help).
    pub failed: u64,
    /// Notices dropped because the queue was full.
    pub dropped: u64,
    pub last_error: Option<String>,
    pub last_sent_at: Option<DateTime<Utc>>,
    pub last_error_at: Option<DateTime<Utc>>,
    /// When the waiting notice is tried again, while a retry waits.
    pub next_retry_at: Option<DateTime<Utc>>,
}

/// Down providers listed in the status (and the tray menu), at most.
pub const DOWN_LISTED: usize = 10;

/// Natural order of ids: runs of digits compare as numbers (`p2` < `p10` < `p100`),
/// everything else as text; equal-valued numbers with more leading zeros come later.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (mut a, mut b) = (a, b);
    loop {
        match (a.chars().next(), b.chars().next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let da = a.len() - a.trim_start_matches(|c: char| c.is_ascii_digit()).len();
                let db = b.len() - b.trim_start_matches(|c: char| c.is_ascii_digit()).len();
                let (na, nb) = (&a[..da], &b[..db]);
                let (ta, tb) = (na.trim_start_matches('0'), nb.trim_start_matches('0'));
                let by_value = ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb));
                let ord = by_value.then_with(|| na.len().cmp(&nb.len()));
                if ord != Ordering::Equal {
                    return ord;
                }
                (a, b) = (&a[da..], &b[db..]);
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(&y);
                }
                (a, b) = (&a[x.len_utf8()..], &b[y.len_utf8()..]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_naturally() {
        let mut ids = vec![
            "p100", "p10", "p2", "p1000", "p1", "web", "p02", "p10a", "p10b",
        ];
        ids.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            ids,
            ["p1", "p2", "p02", "p10", "p10a", "p10b", "p100", "p1000", "web"]
        );
        assert_eq!(natural_cmp("a", "a"), std::cmp::Ordering::Equal);
        assert_eq!(natural_cmp("node9-x", "node10-a"), std::cmp::Ordering::Less);
    }

    fn counts(ok: usize, warning: usize, error: usize, disabled: usize) -> Counts {
        Counts {
            providers: ok + warning + error + disabled,
            ok,
            warning,
            error,
            disabled,
        }
    }

    #[test]
    fn half_the_enabled_providers_in_error_is_down() {
        assert_eq!(Overall::of(&counts(1, 0, 1, 5), None, true), Overall::Down);
        assert_eq!(
            Overall::of(&counts(2, 0, 1, 0), None, true),
            Overall::Degraded
        );
    }

    #[test]
    fn a_pipeline_warning_or_a_failing_disk_degrades_a_healthy_fleet() {
        assert_eq!(
            Overall::of(&counts(3, 0, 0, 0), None, true),
            Overall::Healthy
        );
        let warning = Some(PipelineLevel::Warning);
        assert_eq!(
            Overall::of(&counts(3, 0, 0, 0), warning, true),
            Overall::Degraded
        );
        let info = Some(PipelineLevel::Info);
        assert_eq!(
            Overall::of(&counts(3, 0, 0, 0), info, true),
            Overall::Healthy
        );
        assert_eq!(
            Overall::of(&counts(3, 0, 0, 0), None, false),
            Overall::Degraded
        );
    }
}
