//! The gate in front of the planner: which events are planned, which only recorded.
//!
//! Owns: the cooldown per `svc_key` (`Cooldowns`, the seed's `CooldownTracker`), the set
//! of keys being planned right now (a second event for the same key while the first is
//! with a model is a duplicate), the decision which events are worth a timeline row (the
//! first of a kind per key per window; floods are counted, not stored), and the counters
//! shown in the API and UI. Pure: every method takes `now`; persistence is the caller's.

use super::event::{HealthEvent, Rejected};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Cooldown per `svc_key`: a key in cooldown is not planned again.
#[derive(Debug, Clone)]
pub struct Cooldowns {
    period: Duration,
    until: HashMap<String, DateTime<Utc>>,
}

impl Cooldowns {
    pub fn new(period: std::time::Duration) -> Cooldowns {
        Cooldowns {
            period: Duration::from_std(period).unwrap_or(Duration::seconds(300)),
            until: HashMap::new(),
        }
    }

    pub fn set_period(&mut self, period: std::time::Duration) {
        self.period = Duration::from_std(period).unwrap_or(self.period);
    }

    pub fn period(&self) -> std::time::Duration {
        self.period.to_std().unwrap_or_default()
    }

    /// Records a plan for `key` at `now`; answers when its cooldown ends.
    pub fn record(&mut self, key: &str, now: DateTime<Utc>) -> DateTime<Utc> {
        let until = now + self.period;
        self.until.insert(key.to_owned(), until);
        until
    }

    /// Restores a cooldown saved before a restart.
    pub fn restore(&mut self, key: &str, until: DateTime<Utc>) {
        self.until.insert(key.to_owned(), until);
    }

    pub fn is_ready(&self, key: &str, now: DateTime<Utc>) -> bool {
        self.until.get(key).is_none_or(|u| *u <= now)
    }

    pub fn remaining_seconds(&self, key: &str, now: DateTime<Utc>) -> f64 {
        self.until
            .get(key)
            .map(|u| ((*u - now).num_milliseconds() as f64 / 1000.0).max(0.0))
            .unwrap_or(0.0)
    }

    pub fn reset(&mut self, key: &str) {
        self.until.remove(key);
    }

    /// Forgets expired entries (memory stays bounded by the keys in cooldown).
    pub fn prune(&mut self, now: DateTime<Utc>) {
        self.until.retain(|_, u| *u > now);
    }

    pub fn len(&self) -> usize {
        self.until.len()
    }

    pub fn is_empty(&self) -> bool {
        self.until.is_empty()
    }
}

/// What the gate decided for one event.
#[derive(Debug, Clone, PartialEq)]
pub enum Admission {
    /// Plan it. The key is now in flight until `finish` is called.
    Plan,
    /// Good news: recorded, not planned.
    Benign,
    /// The key was planned recently.
    Cooldown { remaining_secs: f64 },
    /// The key is with a model right now.
    InFlight,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IntakeCounts {
    /// Every input seen (valid or not).
    pub received: u64,
    pub accepted: u64,
    /// Refused input, by reason (`invalid_json`, `missing_node`, …).
    pub rejected: BTreeMap<String, u64>,
    pub rejected_total: u64,
    pub benign: u64,
    pub suppressed_cooldown: u64,
    pub suppressed_in_flight: u64,
    /// Planned while an observer incident or a dependency explained it (not planned).
    pub suppressed_incident: u64,
    pub planned: u64,
    pub proposals: u64,
    pub ignored: u64,
    pub planning_failed: u64,
    /// Accepted events not written to the timeline because one like it was, recently.
    pub not_recorded: u64,
}

/// The gate's state.
#[derive(Debug)]
pub struct Gate {
    pub cooldowns: Cooldowns,
    in_flight: HashSet<String>,
    /// (svc_key, type) → when such an event was last written to the timeline.
    recorded: HashMap<(String, String), DateTime<Utc>>,
    pub counts: IntakeCounts,
}

impl Gate {
    pub fn new(cooldown: std::time::Duration) -> Gate {
        Gate {
            cooldowns: Cooldowns::new(cooldown),
            in_flight: HashSet::new(),
            recorded: HashMap::new(),
            counts: IntakeCounts::default(),
        }
    }

    pub fn rejected(&mut self, why: &Rejected) {
        self.counts.received += 1;
        self.counts.rejected_total += 1;
        *self
            .counts
            .rejected
            .entry(why.kind().to_owned())
            .or_default() += 1;
    }

    /// Decides for one parsed event and updates the counters.
    pub fn admit(&mut self, event: &HealthEvent, now: DateTime<Utc>) -> Admission {
        self.counts.received += 1;
        self.counts.accepted += 1;
        let key = event.svc_key();
        if event.is_benign() {
            self.counts.benign += 1;
            return Admission::Benign;
        }
        if !self.cooldowns.is_ready(&key, now) {
            self.counts.suppressed_cooldown += 1;
            return Admission::Cooldown {
                remaining_secs: self.cooldowns.remaining_seconds(&key, now),
            };
        }
        if !self.in_flight.insert(key) {
            self.counts.suppressed_in_flight += 1;
            return Admission::InFlight;
        }
        self.counts.planned += 1;
        Admission::Plan
    }

    /// Planning of `key` ended (whatever the outcome).
    pub fn finish(&mut self, key: &str) {
        self.in_flight.remove(key);
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Whether this event deserves its own timeline row: planned ones always; others once
    /// per key and type per cooldown period.
    pub fn should_record(
        &mut self,
        event: &HealthEvent,
        admission: &Admission,
        now: DateTime<Utc>,
    ) -> bool {
        let k = (event.svc_key(), event.event_type.clone());
        let fresh = match self.recorded.get(&k) {
            Some(at) => now - *at >= self.cooldowns.period,
            None => true,
        };
        if *admission == Admission::Plan || fresh {
            self.recorded.insert(k, now);
            true
        } else {
            self.counts.not_recorded += 1;
            false
        }
    }

    /// Drops expired cooldowns and record marks (called periodically).
    pub fn prune(&mut self, now: DateTime<Utc>) {
        self.cooldowns.prune(now);
        let period = self.cooldowns.period;
        self.recorded.retain(|_, at| now - *at < period);
    }

    pub fn tracked_keys(&self) -> usize {
        self.recorded.len() + self.cooldowns.len() + self.in_flight.len()
    }
}

/// Trips within this window count towards flapping.
pub const FLAP_WINDOW: Duration = Duration::hours(1);
/// This many trips within the window make a service flapping.
pub const FLAP_TRIPS: usize = 3;

/// Counts fresh failures per `svc_key`: a failure after good news (or the first one).
#[derive(Debug, Default)]
pub struct Flaps {
    trips: HashMap<String, std::collections::VecDeque<DateTime<Utc>>>,
    healthy: HashMap<String, bool>,
}

impl Flaps {
    /// Notes an event's news for its key.
    pub fn note(&mut self, key: &str, healthy: bool, now: DateTime<Utc>) {
        let was_healthy = self.healthy.insert(key.to_owned(), healthy).unwrap_or(true);
        if !healthy && was_healthy {
            let trips = self.trips.entry(key.to_owned()).or_default();
            trips.push_back(now);
            while trips.front().is_some_and(|t| now - *t > FLAP_WINDOW) {
                trips.pop_front();
            }
        }
    }

    /// `Some(trips)` when `key` tripped `FLAP_TRIPS` times or more within the last hour.
    pub fn flapping(&self, key: &str, now: DateTime<Utc>) -> Option<usize> {
        let n = self
            .trips
            .get(key)
            .map(|t| t.iter().filter(|at| now - **at <= FLAP_WINDOW).count())
            .unwrap_or(0);
        (n >= FLAP_TRIPS).then_some(n)
    }

    pub fn prune(&mut self, now: DateTime<Utc>) {
        self.trips
            .retain(|_, t| t.back().is_some_and(|at| now - *at <= FLAP_WINDOW));
        let trips = &self.trips;
        self.healthy.retain(|k, h| !*h || trips.contains_key(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::event::parse_event;
    use chrono::TimeZone;
    use serde_json::json;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 27, 12, 0, 0).unwrap()
    }

    fn secs(n: u64) -> std::time::Duration {
        std::time::Duration::from_secs(n)
    }

    // TestCooldownTracker
    #[test]
    fn initially_ready() {
        assert!(Cooldowns::new(secs(60)).is_ready("piha/mosquitto", t0()));
    }

    #[test]
    fn not_ready_after_record() {
        let mut c = Cooldowns::new(secs(300));
        c.record("piha/mosquitto", t0());
        assert!(!c.is_ready("piha/mosquitto", t0()));
    }

    #[test]
    fn ready_after_elapsed() {
        let mut c = Cooldowns::new(secs(1));
        c.record("piha/mosquitto", t0());
        assert!(c.is_ready("piha/mosquitto", t0() + Duration::milliseconds(1100)));
    }

    #[test]
    fn remaining_seconds_decreases() {
        let mut c = Cooldowns::new(secs(60));
        c.record("piha/mosquitto", t0());
        let r = c.remaining_seconds("piha/mosquitto", t0() + Duration::seconds(10));
        assert!(r > 0.0 && r <= 60.0, "{r}");
        assert_eq!(r, 50.0);
    }

    #[test]
    fn remaining_zero_when_never_recorded() {
        assert_eq!(
            Cooldowns::new(secs(300)).remaining_seconds("ghost/svc", t0()),
            0.0
        );
    }

    #[test]
    fn reset_clears_cooldown() {
        let mut c = Cooldowns::new(secs(300));
        c.record("piha/mosquitto", t0());
        assert!(!c.is_ready("piha/mosquitto", t0()));
        c.reset("piha/mosquitto");
        assert!(c.is_ready("piha/mosquitto", t0()));
    }

    #[test]
    fn independent_keys() {
        let mut c = Cooldowns::new(secs(300));
        c.record("piha/mosquitto", t0());
        assert!(!c.is_ready("piha/mosquitto", t0()));
        assert!(c.is_ready("solaria/ollama", t0()));
    }

    fn event(kind: &str) -> HealthEvent {
        parse_event(
            &json!({"type": kind, "node": "piha", "service": "mosquitto"}),
            "t",
            t0(),
        )
        .unwrap()
    }

    #[test]
    fn benign_events_are_not_planned() {
        let mut g = Gate::new(secs(300));
        assert_eq!(g.admit(&event("service_healthy"), t0()), Admission::Benign);
        assert_eq!(g.counts.benign, 1);
        assert_eq!(g.counts.planned, 0);
    }

    #[test]
    fn a_key_in_flight_or_cooldown_is_not_planned_twice() {
        let mut g = Gate::new(secs(300));
        let e = event("service_unhealthy");
        assert_eq!(g.admit(&e, t0()), Admission::Plan);
        assert_eq!(g.admit(&e, t0()), Admission::InFlight);
        g.cooldowns.record(&e.svc_key(), t0());
        g.finish(&e.svc_key());
        assert!(
            matches!(g.admit(&e, t0()), Admission::Cooldown { remaining_secs } if remaining_secs == 300.0)
        );
        // A chain failure records no cooldown: the next event is planned.
        let mut g = Gate::new(secs(300));
        assert_eq!(g.admit(&e, t0()), Admission::Plan);
        g.finish(&e.svc_key());
        assert_eq!(g.admit(&e, t0()), Admission::Plan);
    }

    #[test]
    fn floods_are_counted_not_recorded() {
        let mut g = Gate::new(secs(300));
        let e = event("service_unhealthy");
        let first = g.admit(&e, t0());
        assert!(g.should_record(&e, &first, t0()));
        for _ in 0..1000 {
            let a = g.admit(&e, t0());
            assert!(!g.should_record(&e, &a, t0()));
        }
        assert_eq!(g.counts.not_recorded, 1000);
        assert_eq!(g.counts.suppressed_in_flight, 1000);
        assert!(g.should_record(&e, &Admission::InFlight, t0() + Duration::seconds(300)));
    }

    #[test]
    fn rejected_input_is_counted_by_reason() {
        let mut g = Gate::new(secs(300));
        g.rejected(&Rejected::MissingNode);
        g.rejected(&Rejected::InvalidJson("x".into()));
        g.rejected(&Rejected::MissingNode);
        assert_eq!(g.counts.rejected_total, 3);
        assert_eq!(g.counts.rejected["missing_node"], 2);
        assert_eq!(g.counts.received, 3);
    }

    #[test]
    fn three_trips_within_an_hour_is_flapping() {
        let mut f = Flaps::default();
        let k = "piha/mosquitto";
        f.note(k, false, t0());
        f.note(k, false, t0() + Duration::seconds(5));
        assert_eq!(
            f.flapping(k, t0()),
            None,
            "one outage reported twice is one trip"
        );
        f.note(k, true, t0() + Duration::minutes(5));
        f.note(k, false, t0() + Duration::minutes(10));
        f.note(k, true, t0() + Duration::minutes(15));
        f.note(k, false, t0() + Duration::minutes(20));
        assert_eq!(f.flapping(k, t0() + Duration::minutes(20)), Some(3));
        assert_eq!(
            f.flapping(k, t0() + Duration::minutes(61)),
            None,
            "the first trip aged out"
        );
        f.prune(t0() + Duration::hours(3));
        assert!(f.trips.is_empty());
    }

    #[test]
    fn prune_bounds_memory() {
        let mut g = Gate::new(secs(60));
        for i in 0..100 {
            let e = parse_event(&json!({"type": "x", "node": format!("n{i}")}), "t", t0()).unwrap();
            let a = g.admit(&e, t0());
            g.should_record(&e, &a, t0());
            g.cooldowns.record(&e.svc_key(), t0());
            g.finish(&e.svc_key());
        }
        assert_eq!(g.tracked_keys(), 200);
        g.prune(t0() + Duration::seconds(61));
        assert_eq!(g.tracked_keys(), 0);
    }
}
