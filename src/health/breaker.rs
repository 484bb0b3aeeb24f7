//! The circuit breaker: one pure state machine per provider, and a registry of them.
//!
//! Owns: the semantics of seed 000 (`ProviderHealthCache`) and design.md "Breaker".
//! A first failure keeps a provider healthy; failure number `failure_threshold` in a row
//! opens the breaker for `backoff`; after the window it is half-open and exactly one trial
//! call is let through (claimed atomically, others see it as open); a good trial closes it,
//! a bad one re-arms the window at once (growing up to `backoff_max`). A re-trip never
//! shortens an open window, and a `Retry-After` longer than the window wins.
//! Every function takes `now`: nothing here reads a clock or does I/O.
//! Does not own: persistence (the store saves `BreakerState`) or events (callers turn the
//! returned `Transition`s into engine events).

use crate::clock;
use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// How long a claimed half-open trial may stay unreported before another caller may try.
/// A caller that vanishes (cancelled, crashed) must not wedge the breaker forever.
pub const TRIAL_LEASE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerPolicy {
    pub failure_threshold: u32,
    pub backoff: Duration,
    /// Upper bound of the window when repeated trials fail; equal to `backoff` means the
    /// seed's fixed window.
    pub backoff_max: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self {
            failure_threshold: 2,
            backoff: Duration::from_secs(60),
            backoff_max: Duration::from_secs(60),
        }
    }
}

/// A breaker's state (`state` of a provider in the API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Closed,
    Open,
    HalfOpen,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Closed => "closed",
            Phase::Open => "open",
            Phase::HalfOpen => "half_open",
        }
    }
}

/// What one provider's breaker remembers. Serializable so it survives restarts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BreakerState {
    pub consecutive_failures: u32,
    pub open_until: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_failure_at: Option<DateTime<Utc>>,
    /// Trials that failed since the breaker last closed (drives window growth).
    pub failed_trials: u32,
    /// Set while a half-open trial is in flight.
    pub trial_claimed_until: Option<DateTime<Utc>>,
    /// Whether the half-open transition for the current window was already reported.
    pub half_open_reported: bool,
}

/// A state change worth telling people about.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// The breaker opened. `reopened` is a failed half-open trial, not a fresh trip.
    Opened {
        reason: String,
        open_until: DateTime<Utc>,
        reopened: bool,
    },
    HalfOpened,
    Closed,
}

/// What a caller about to use a provider may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    /// Closed: go ahead.
    Allowed,
    /// Half-open and this caller holds the one trial: report the outcome.
    Trial,
    /// Open, or another caller holds the trial.
    Denied,
}

/// How a failure should be counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FailureHints {
    /// From a 429/503 `Retry-After`: the window is at least this long.
    pub retry_after: Option<Duration>,
}

impl BreakerState {
    pub fn phase(&self, now: DateTime<Utc>) -> Phase {
        match self.open_until {
            None => Phase::Closed,
            Some(until) if now < until => Phase::Open,
            Some(_) => Phase::HalfOpen,
        }
    }

    fn trial_in_flight(&self, now: DateTime<Utc>) -> bool {
        self.trial_claimed_until.is_some_and(|t| now < t)
    }

    /// Seed semantics: false only while the window runs (or a trial is already in flight).
    pub fn is_healthy(&self, now: DateTime<Utc>) -> bool {
        match self.phase(now) {
            Phase::Closed => true,
            Phase::Open => false,
            Phase::HalfOpen => !self.trial_in_flight(now),
        }
    }

    /// Claims the right to call the provider. In half-open only one caller gets `Trial`.
    pub fn acquire(&mut self, now: DateTime<Utc>) -> (Permit, Option<Transition>) {
        match self.phase(now) {
            Phase::Closed => (Permit::Allowed, None),
            Phase::Open => (Permit::Denied, None),
            Phase::HalfOpen if self.trial_in_flight(now) => (Permit::Denied, None),
            Phase::HalfOpen => {
                self.trial_claimed_until = Some(clock::add(now, TRIAL_LEASE));
                (Permit::Trial, self.report_half_open())
            }
        }
    }

    /// Reports the half-open transition once per window, whoever notices it first.
    pub fn poll(&mut self, now: DateTime<Utc>) -> Option<Transition> {
        (self.phase(now) == Phase::HalfOpen)
            .then(|| self.report_half_open())
            .flatten()
    }

    fn report_half_open(&mut self) -> Option<Transition> {
        if self.half_open_reported {
            return None;
        }
        self.half_open_reported = true;
        Some(Transition::HalfOpened)
    }

    pub fn on_success(&mut self, now: DateTime<Utc>) -> Option<Transition> {
        let was_open = self.open_until.is_some();
        self.consecutive_failures = 0;
        self.open_until = None;
        self.failed_trials = 0;
        self.trial_claimed_until = None;
        self.half_open_reported = false;
        self.last_success_at = Some(now);
        was_open.then_some(Transition::Closed)
    }

    pub fn on_failure(
        &mut self,
        now: DateTime<Utc>,
        reason: &str,
        hints: FailureHints,
        policy: &BreakerPolicy,
    ) -> Option<Transition> {
        let phase = self.phase(now);
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.last_failure_at = Some(now);
        self.last_error = Some(reason.to_owned());
        self.trial_claimed_until = None;
        let reopened = match phase {
            Phase::Closed if self.consecutive_failures < policy.failure_threshold.max(1) => {
                return None
            }
            Phase::Closed => false,
            Phase::HalfOpen => {
                self.failed_trials = self.failed_trials.saturating_add(1);
                true
            }
            // Already open: the window stands (a Retry-After may lengthen it, nothing
            // shortens it), and it is not news.
            Phase::Open => {
                if hints.retry_after.is_some() {
                    self.extend_window(now, Duration::ZERO, hints);
                }
                return None;
            }
        };
        let window = grown_window(policy, self.failed_trials);
        let until = self.extend_window(now, window, hints);
        self.half_open_reported = false;
        Some(Transition::Opened {
            reason: reason.to_owned(),
            open_until: until,
            reopened,
        })
    }

    /// Our own mistake or a cancellation: the provider is not to blame. Frees a held trial.
    pub fn on_inconclusive(&mut self) {
        self.trial_claimed_until = None;
    }

    fn extend_window(
        &mut self,
        now: DateTime<Utc>,
        window: Duration,
        hints: FailureHints,
    ) -> DateTime<Utc> {
        let window = window.max(hints.retry_after.unwrap_or(Duration::ZERO));
        let candidate = clock::add(now, window);
        let until = match self.open_until {
            Some(old) if old > candidate => old,
            _ => candidate,
        };
        self.open_until = Some(until);
        until
    }
}

/// `backoff * 2^failed_trials`, capped at `backoff_max` (never below `backoff`).
fn grown_window(policy: &BreakerPolicy, failed_trials: u32) -> Duration {
    let cap = policy.backoff_max.max(policy.backoff);
    let factor = 1u32.checked_shl(failed_trials.min(20)).unwrap_or(u32::MAX);
    policy.backoff.saturating_mul(factor).min(cap)
}

struct Cell {
    policy: BreakerPolicy,
    state: Mutex<BreakerState>,
}

/// The breakers of all providers. Reads take no global lock: the map is swapped whole on
/// the rare insert, and each provider's state has its own small mutex.
pub struct Breakers {
    default_policy: Mutex<BreakerPolicy>,
    cells: ArcSwap<HashMap<String, Arc<Cell>>>,
}

impl Default for Breakers {
    fn default() -> Self {
        Self::new(BreakerPolicy::default())
    }
}

impl Breakers {
    pub fn new(default_policy: BreakerPolicy) -> Self {
        Self {
            default_policy: Mutex::new(default_policy),
            cells: ArcSwap::from_pointee(HashMap::new()),
        }
    }

    /// Registers (or re-configures) a provider, keeping any state it already has.
    pub fn register(&self, id: &str, policy: BreakerPolicy, state: Option<BreakerState>) {
        self.register_all([(id, policy, state)]);
    }

    /// Registers (or re-configures) many providers in one copy of the map (one
    /// `register` per provider copied the whole map each time: 10,000 providers made
    /// 50 million allocations at start).
    pub fn register_all<'a>(
        &self,
        providers: impl IntoIterator<Item = (&'a str, BreakerPolicy, Option<BreakerState>)>,
    ) {
        let providers: Vec<_> = providers.into_iter().collect();
        self.cells.rcu(|cells| {
            let mut cells = HashMap::clone(cells);
            cells.reserve(providers.len());
            for (id, policy, state) in &providers {
                let kept = cells.get(*id).map(|c| c.state.lock().clone());
                let state = state.clone().or(kept).unwrap_or_default();
                cells.insert(
                    (*id).to_owned(),
                    Arc::new(Cell {
                        policy: *policy,
                        state: Mutex::new(state),
                    }),
                );
            }
            cells
        });
    }

    /// Forgets providers that are no longer configured.
    pub fn retain(&self, keep: &dyn Fn(&str) -> bool) {
        self.cells.rcu(|cells| {
            let mut cells = HashMap::clone(cells);
            cells.retain(|id, _| keep(id));
            cells
        });
    }

    pub fn set_default_policy(&self, policy: BreakerPolicy) {
        *self.default_policy.lock() = policy;
    }

    fn cell(&self, id: &str) -> Arc<Cell> {
        if let Some(cell) = self.cells.load().get(id) {
            return Arc::clone(cell);
        }
        let policy = *self.default_policy.lock();
        self.register(id, policy, None);
        Arc::clone(self.cells.load().get(id).expect("just registered"))
    }

    /// Unknown providers are healthy. Cheap: no allocation, no global lock.
    pub fn is_healthy(&self, id: &str, now: DateTime<Utc>) -> bool {
        match self.cells.load().get(id) {
            Some(cell) => cell.state.lock().is_healthy(now),
            None => true,
        }
    }

    pub fn acquire(&self, id: &str, now: DateTime<Utc>) -> (Permit, Option<Transition>) {
        self.cell(id).state.lock().acquire(now)
    }

    pub fn poll(&self, id: &str, now: DateTime<Utc>) -> Option<Transition> {
        let cells = self.cells.load();
        let cell = cells.get(id)?;
        let t = cell.state.lock().poll(now);
        t
    }

    pub fn mark_healthy(&self, id: &str, now: DateTime<Utc>) -> Option<Transition> {
        self.cell(id).state.lock().on_success(now)
    }

    pub fn mark_unhealthy(&self, id: &str, reason: &str, now: DateTime<Utc>) -> Option<Transition> {
        self.mark_unhealthy_with(id, reason, FailureHints::default(), now)
    }

    pub fn mark_unhealthy_with(
        &self,
        id: &str,
        reason: &str,
        hints: FailureHints,
        now: DateTime<Utc>,
    ) -> Option<Transition> {
        let cell = self.cell(id);
        let t = cell
            .state
            .lock()
            .on_failure(now, reason, hints, &cell.policy);
        t
    }

    pub fn mark_inconclusive(&self, id: &str) {
        if let Some(cell) = self.cells.load().get(id) {
            cell.state.lock().on_inconclusive();
        }
    }

    pub fn state(&self, id: &str) -> Option<BreakerState> {
        self.cells.load().get(id).map(|c| c.state.lock().clone())
    }

    pub fn snapshot(&self) -> HashMap<String, BreakerState> {
        self.cells
            .load()
            .iter()
            .map(|(id, c)| (id.clone(), c.state.lock().clone()))
            .collect()
    }

    pub fn ids(&self) -> Vec<String> {
        self.cells.load().keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    //! The breaker half of seed 000, against a hand-moved `now`.
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }
    fn at(secs: i64) -> DateTime<Utc> {
        t0() + chrono::Duration::seconds(secs)
    }
    fn policy(threshold: u32, backoff: u64, max: u64) -> BreakerPolicy {
        BreakerPolicy {
            failure_threshold: threshold,
            backoff: Duration::from_secs(backoff),
            backoff_max: Duration::from_secs(max),
        }
    }
    fn breakers(threshold: u32, backoff: u64) -> Breakers {
        Breakers::new(policy(threshold, backoff, backoff))
    }

    #[test]
    fn unknown_provider_is_healthy_and_has_no_state() {
        let b = Breakers::default();
        assert!(b.is_healthy("nobody", at(0)));
        assert!(b.state("nobody").is_none());
        assert!(b.snapshot().is_empty());
    }

    #[test]
    fn first_failure_keeps_provider_healthy() {
        let b = breakers(2, 60);
        assert_eq!(b.mark_unhealthy("ollama", "boom", at(0)), None);
        assert!(b.is_healthy("ollama", at(0)), "one blip must not trip");
        let s = b.state("ollama").unwrap();
        assert_eq!(s.consecutive_failures, 1);
        assert_eq!(s.last_error.as_deref(), Some("boom"));
        assert_eq!(s.open_until, None);
    }

    #[test]
    fn second_consecutive_failure_opens_for_the_backoff() {
        let b = breakers(2, 60);
        b.mark_unhealthy("ollama", "boom", at(0));
        let t = b.mark_unhealthy("ollama", "boom again", at(1));
        assert_eq!(
            t,
            Some(Transition::Opened {
                reason: "boom again".into(),
                open_until: at(61),
                reopened: false
            })
        );
        assert!(!b.is_healthy("ollama", at(1)));
        assert!(!b.is_healthy("ollama", at(60)), "still inside the window");
        assert!(b.is_healthy("ollama", at(61)), "half-open after the window");
    }

    #[test]
    fn success_between_failures_resets_the_count() {
        let b = breakers(2, 60);
        b.mark_unhealthy("p", "x", at(0));
        b.mark_healthy("p", at(1));
        assert_eq!(b.mark_unhealthy("p", "x", at(2)), None);
        assert!(b.is_healthy("p", at(2)));
        assert_eq!(b.state("p").unwrap().consecutive_failures, 1);
    }

    #[test]
    fn threshold_of_one_trips_at_once() {
        let b = breakers(1, 60);
        assert!(matches!(
            b.mark_unhealthy("p", "x", at(0)),
            Some(Transition::Opened { .. })
        ));
        assert!(!b.is_healthy("p", at(0)));
    }

    #[test]
    fn half_open_success_closes_and_resets() {
        let b = breakers(2, 60);
        b.mark_unhealthy("p", "x", at(0));
        b.mark_unhealthy("p", "x", at(0));
        assert_eq!(
            b.acquire("p", at(61)),
            (Permit::Trial, Some(Transition::HalfOpened))
        );
        assert_eq!(b.mark_healthy("p", at(62)), Some(Transition::Closed));
        let s = b.state("p").unwrap();
        assert_eq!(s.consecutive_failures, 0);
        assert_eq!(s.open_until, None);
        assert_eq!(s.last_success_at, Some(at(62)));
        assert!(b.is_healthy("p", at(62)));
    }

    #[test]
    fn half_open_failure_rearms_a_full_window_at_once() {
        let b = breakers(2, 60);
        b.mark_unhealthy("p", "x", at(0));
        b.mark_unhealthy("p", "x", at(0));
        let t = b.mark_unhealthy("p", "still down", at(70));
        assert_eq!(
            t,
            Some(Transition::Opened {
                reason: "still down".into(),
                open_until: at(130),
                reopened: true
            }),
            "one failed trial is enough: no second chance while half-open"
        );
        assert!(!b.is_healthy("p", at(70)));
        assert!(b.is_healthy("p", at(130)));
    }

    #[test]
    fn only_one_trial_is_let_through_while_half_open() {
        let b = breakers(2, 60);
        b.mark_unhealthy("p", "x", at(0));
        b.mark_unhealthy("p", "x", at(0));
        assert_eq!(b.acquire("p", at(60)).0, Permit::Trial);
        assert_eq!(
            b.acquire("p", at(60)).0,
            Permit::Denied,
            "second caller sees it open"
        );
        assert!(
            !b.is_healthy("p", at(60)),
            "trial in flight reads as unhealthy"
        );
        b.mark_inconclusive("p");
        assert_eq!(
            b.acquire("p", at(61)).0,
            Permit::Trial,
            "a cancelled trial frees the claim"
        );
    }

    #[test]
    fn an_abandoned_trial_claim_expires() {
        let b = breakers(2, 60);
        b.mark_unhealthy("p", "x", at(0));
        b.mark_unhealthy("p", "x", at(0));
        assert_eq!(b.acquire("p", at(60)).0, Permit::Trial);
        let later = clock::add(at(60), TRIAL_LEASE);
        assert_eq!(b.acquire("p", later).0, Permit::Trial);
    }

    #[test]
    fn half_open_is_reported_once_per_window() {
        let b = breakers(2, 60);
        b.mark_unhealthy("p", "x", at(0));
        b.mark_unhealthy("p", "x", at(0));
        assert_eq!(b.poll("p", at(30)), None);
        assert_eq!(b.poll("p", at(60)), Some(Transition::HalfOpened));
        assert_eq!(b.poll("p", at(61)), None);
        assert_eq!(b.acquire("p", at(62)), (Permit::Trial, None));
    }

    #[test]
    fn a_retrip_never_shortens_an_open_window() {
        let b = Breakers::new(policy(2, 60, 60));
        b.mark_unhealthy_with(
            "p",
            "429",
            FailureHints {
                retry_after: Some(Duration::from_secs(600)),
            },
            at(0),
        );
        b.mark_unhealthy_with(
            "p",
            "429",
            FailureHints {
                retry_after: Some(Duration::from_secs(600)),
            },
            at(0),
        );
        assert_eq!(
            b.state("p").unwrap().open_until,
            Some(at(600)),
            "Retry-After longer wins"
        );
        assert_eq!(
            b.mark_unhealthy("p", "x", at(10)),
            None,
            "already open: no new trip"
        );
        assert_eq!(b.state("p").unwrap().open_until, Some(at(600)));
        let short = FailureHints {
            retry_after: Some(Duration::from_secs(5)),
        };
        b.mark_unhealthy_with("p", "429", short, at(20));
        assert_eq!(
            b.state("p").unwrap().open_until,
            Some(at(600)),
            "shorter never wins"
        );
    }

    #[test]
    fn failures_inside_the_window_do_not_slide_it() {
        let b = breakers(2, 60);
        b.mark_unhealthy("p", "x", at(0));
        b.mark_unhealthy("p", "x", at(0));
        b.mark_unhealthy("p", "x", at(30));
        assert_eq!(b.state("p").unwrap().open_until, Some(at(60)));
        assert_eq!(b.state("p").unwrap().consecutive_failures, 3);
    }

    #[test]
    fn windows_grow_on_failed_trials_up_to_backoff_max() {
        let b = Breakers::new(policy(1, 10, 35));
        b.mark_unhealthy("p", "x", at(0)); // open until 10
        b.mark_unhealthy("p", "x", at(10)); // trial fails: 20
        assert_eq!(b.state("p").unwrap().open_until, Some(at(30)));
        b.mark_unhealthy("p", "x", at(30)); // 40 capped to 35
        assert_eq!(b.state("p").unwrap().open_until, Some(at(65)));
        b.mark_healthy("p", at(65));
        b.mark_unhealthy("p", "x", at(70));
        assert_eq!(
            b.state("p").unwrap().open_until,
            Some(at(80)),
            "closing resets growth"
        );
    }

    #[test]
    fn default_policy_is_the_seeds_fixed_window() {
        assert_eq!(
            grown_window(&BreakerPolicy::default(), 5),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn snapshot_lists_every_touched_provider() {
        let b = breakers(2, 60);
        b.mark_healthy("a", at(0));
        b.mark_unhealthy("b", "x", at(0));
        let snap = b.snapshot();
        assert_eq!(snap.len(), 2);
        assert_eq!(snap["b"].consecutive_failures, 1);
    }

    #[test]
    fn register_keeps_existing_state() {
        let b = breakers(2, 60);
        b.mark_unhealthy("p", "x", at(0));
        b.register("p", policy(5, 60, 60), None);
        assert_eq!(b.state("p").unwrap().consecutive_failures, 1);
    }
}
