//! The gate in front of the planner: which events are planned, which only recorded.
//!
//! Owns: the cooldown per `svc_key` (`Cooldowns`, the seed's `CooldownTracker`), the set
//! of keys being planned right now (a second event for the same key while the first is
//! with a model is a duplicate), the decision which events are worth a timeline row (the
//! first of a kind per key per window; floods are counted, not stored), and the counters
//! shown in the API and UI, the rate limit on plans for targets the config does not
//! name (`UnknownTargets`), and the flap history per key (`Flaps`).
//! Every map here is keyed by event data (a `svc_key` anybody can invent), so each has a
//! cap (`MAX_*`) and counts what it drops or refuses (`dropped_*` in `IntakeCounts`).
//! Pure: every method takes `now`; persistence is the caller's.

use super::event::{HealthEvent, Rejected};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

/// Keys in cooldown at most. A new key is refused (not planned, counted as
/// `dropped_cooldowns_full`) while this many cooldowns are live: forgetting a live one
/// instead would let its key be planned again inside its cooldown, so a flood of new keys
/// could buy repeated proposals for one target.
pub const MAX_COOLDOWNS: usize = 10_000;
/// Keys being planned at once at most (planning bounds this far lower; this is the
/// gate's own guard). Beyond it a new key is refused, never an entry evicted: evicting
/// one would let a second plan for a key start while the first is with a model.
pub const MAX_IN_FLIGHT: usize = 10_000;
/// (key, type) pairs remembered for the timeline at most. Forgetting one costs at most
/// one more timeline row, so the oldest are evicted.
pub const MAX_RECORD_MARKS: usize = 10_000;
/// Keys with a flap history at most; the least recently heard of are evicted.
pub const MAX_FLAP_KEYS: usize = 10_000;
/// Default of `[planner] unknown_target_rate`: plans per minute for targets that are not
/// in the config's `[[providers]]`.
pub const DEFAULT_UNKNOWN_TARGET_RATE: u32 = 20;
/// The window of `unknown_target_rate`.
pub const UNKNOWN_TARGET_WINDOW: Duration = Duration::minutes(1);

/// When a capped map is full and eviction is allowed, this share of it goes at once (the
/// oldest), so a flood pays for one selection per `1/EVICT_SHARE` inserts, not per insert.
const EVICT_SHARE: usize = 8;

/// Cooldown per `svc_key`: a key in cooldown is not planned again.
#[derive(Debug, Clone)]
pub struct Cooldowns {
    period: Duration,
    until: HashMap<String, DateTime<Utc>>,
    /// No entry ends before this (a lower bound): pruning before it finds nothing.
    earliest: Option<DateTime<Utc>>,
}

impl Cooldowns {
    pub fn new(period: std::time::Duration) -> Cooldowns {
        Cooldowns {
            period: Duration::from_std(period).unwrap_or(Duration::seconds(300)),
            until: HashMap::new(),
            earliest: None,
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
        self.insert(key, until);
        until
    }

    /// Restores a cooldown saved before a restart.
    pub fn restore(&mut self, key: &str, until: DateTime<Utc>) {
        self.insert(key, until);
    }

    /// Never refuses: a cooldown that was earned is kept until it ends (the cap is
    /// enforced where new keys come in, `Gate::admit_target`).
    fn insert(&mut self, key: &str, until: DateTime<Utc>) {
        self.earliest = Some(self.earliest.map_or(until, |e| e.min(until)));
        self.until.insert(key.to_owned(), until);
    }

    /// Whether a cooldown for a new key fits under `MAX_COOLDOWNS` (after dropping the
    /// ended ones, which costs a scan only when one has ended). `reserved`: keys that may
    /// record one soon (those in flight).
    fn has_room(&mut self, key: &str, reserved: usize, now: DateTime<Utc>) -> bool {
        if self.until.contains_key(key) {
            return true;
        }
        if self.until.len() + reserved >= MAX_COOLDOWNS && self.earliest.is_some_and(|e| e <= now) {
            self.prune(now);
        }
        self.until.len() + reserved < MAX_COOLDOWNS
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
        self.earliest = self.until.values().min().copied();
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
    /// A target the config does not name, over `[planner] unknown_target_rate`.
    UnknownTargetLimited,
    /// A new key while `MAX_COOLDOWNS` cooldowns are live.
    CooldownsFull,
    /// A new key while `MAX_IN_FLIGHT` keys are being planned.
    InFlightFull,
}

impl Admission {
    /// The word for it in `POST /api/events` answers.
    pub fn as_str(&self) -> &'static str {
        self.decision().as_str()
    }

    pub fn decision(&self) -> IntakeDecision {
        match self {
            Admission::Plan => IntakeDecision::Plan,
            Admission::Benign => IntakeDecision::Benign,
            Admission::Cooldown { .. } => IntakeDecision::Cooldown,
            Admission::InFlight => IntakeDecision::InFlight,
            Admission::UnknownTargetLimited => IntakeDecision::UnknownTargetLimited,
            Admission::CooldownsFull => IntakeDecision::CooldownsFull,
            Admission::InFlightFull => IntakeDecision::InFlightFull,
        }
    }
}

/// What happened to an event at the door (`decision` in `POST /api/events` answers): the
/// gate's admission, or, for one the gate let through, `suppressed` (this workstation's
/// network looks down) or `overload` (the plan queue is full).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum IntakeDecision {
    Plan,
    Benign,
    Cooldown,
    InFlight,
    Suppressed,
    Overload,
    UnknownTargetLimited,
    CooldownsFull,
    InFlightFull,
}

impl IntakeDecision {
    pub fn as_str(self) -> &'static str {
        match self {
            IntakeDecision::Plan => "plan",
            IntakeDecision::Benign => "benign",
            IntakeDecision::Cooldown => "cooldown",
            IntakeDecision::InFlight => "in_flight",
            IntakeDecision::Suppressed => "suppressed",
            IntakeDecision::Overload => "overload",
            IntakeDecision::UnknownTargetLimited => "unknown_target_limited",
            IntakeDecision::CooldownsFull => "cooldowns_full",
            IntakeDecision::InFlightFull => "in_flight_full",
        }
    }
}

/// Whether an event's target is one the config names (`[[providers]]` node/service, or
/// Steward's own session pipeline). Unknown targets are rate-limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Known,
    /// Not in the config: at most `rate_per_min` new plans a minute for all of them.
    Unknown {
        rate_per_min: u32,
    },
}

/// The rate limit for unknown targets: a sliding window of the plans admitted in the last
/// `UNKNOWN_TARGET_WINDOW` (so no minute, wherever it starts, has more than the rate; a
/// token bucket would allow up to twice the rate in the first minute). Holds at most
/// `rate` instants. A plan counts when admitted, whatever it turns into (proposal, ignore,
/// failure), so the rate bounds proposals.
#[derive(Debug, Default, Clone)]
pub struct UnknownTargets {
    admitted: VecDeque<DateTime<Utc>>,
}

impl UnknownTargets {
    /// Takes one plan from the budget at `now`, when there is one left.
    pub fn try_take(&mut self, rate_per_min: u32, now: DateTime<Utc>) -> bool {
        while self
            .admitted
            .front()
            .is_some_and(|t| now - *t >= UNKNOWN_TARGET_WINDOW)
        {
            self.admitted.pop_front();
        }
        if self.admitted.len() >= rate_per_min as usize {
            return false;
        }
        self.admitted.push_back(now);
        true
    }

    /// Plans counted in the window ending at `now`.
    pub fn in_window(&self, now: DateTime<Utc>) -> usize {
        self.admitted
            .iter()
            .filter(|t| now - **t < UNKNOWN_TARGET_WINDOW)
            .count()
    }
}

/// The gate's counters (`intake` of `GET /api/intake`, with more).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ts_rs::TS)]
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
    /// Not planned: the target is not in the config and `unknown_target_rate` was used up.
    pub unknown_target_limited: u64,
    /// Not planned: a new key while `MAX_COOLDOWNS` cooldowns were live.
    pub dropped_cooldowns_full: u64,
    /// Not planned: a new key while `MAX_IN_FLIGHT` keys were being planned.
    pub dropped_in_flight_full: u64,
    /// Timeline marks forgotten early (`MAX_RECORD_MARKS`): such an event may get one more
    /// timeline row than it would have.
    pub dropped_record_marks: u64,
}

/// The gate's state.
#[derive(Debug)]
pub struct Gate {
    pub cooldowns: Cooldowns,
    in_flight: HashSet<String>,
    /// (svc_key, type) → when such an event was last written to the timeline.
    recorded: HashMap<(String, String), DateTime<Utc>>,
    unknown: UnknownTargets,
    pub counts: IntakeCounts,
}

impl Gate {
    pub fn new(cooldown: std::time::Duration) -> Gate {
        Gate {
            cooldowns: Cooldowns::new(cooldown),
            in_flight: HashSet::new(),
            recorded: HashMap::new(),
            unknown: UnknownTargets::default(),
            counts: IntakeCounts::default(),
        }
    }

    pub fn rejected(&mut self, why: &Rejected) {
        self.refused(why.kind());
    }

    /// Counts refused input by its reason's short name (`invalid_json`, `missing_node`, …).
    pub fn refused(&mut self, kind: &str) {
        self.counts.received += 1;
        self.counts.rejected_total += 1;
        *self.counts.rejected.entry(kind.to_owned()).or_default() += 1;
    }

    /// Decides for one parsed event about a known target and updates the counters.
    pub fn admit(&mut self, event: &HealthEvent, now: DateTime<Utc>) -> Admission {
        self.admit_target(event, Target::Known, now)
    }

    /// Decides for one parsed event and updates the counters. In order: good news is
    /// not planned; a key in cooldown or in flight is not planned twice; a new key needs
    /// room in the capped maps; an unknown target needs room in the rate (checked last,
    /// so an event refused for another reason does not use it up).
    pub fn admit_target(
        &mut self,
        event: &HealthEvent,
        target: Target,
        now: DateTime<Utc>,
    ) -> Admission {
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
        if self.in_flight.contains(&key) {
            self.counts.suppressed_in_flight += 1;
            return Admission::InFlight;
        }
        if self.in_flight.len() >= MAX_IN_FLIGHT {
            self.counts.dropped_in_flight_full += 1;
            return Admission::InFlightFull;
        }
        if !self.cooldowns.has_room(&key, self.in_flight.len(), now) {
            self.counts.dropped_cooldowns_full += 1;
            return Admission::CooldownsFull;
        }
        if let Target::Unknown { rate_per_min } = target {
            if !self.unknown.try_take(rate_per_min, now) {
                self.counts.unknown_target_limited += 1;
                return Admission::UnknownTargetLimited;
            }
        }
        self.in_flight.insert(key);
        self.counts.planned += 1;
        Admission::Plan
    }

    /// Plans for unknown targets admitted in the window ending at `now`.
    pub fn unknown_in_window(&self, now: DateTime<Utc>) -> usize {
        self.unknown.in_window(now)
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
            if !self.recorded.contains_key(&k) && self.recorded.len() >= MAX_RECORD_MARKS {
                self.make_room_for_marks(now);
            }
            self.recorded.insert(k, now);
            true
        } else {
            self.counts.not_recorded += 1;
            false
        }
    }

    /// Drops the marks that no longer matter, then, if that is not enough, the oldest
    /// `1/EVICT_SHARE` of them (counted: each may cost one more timeline row).
    fn make_room_for_marks(&mut self, now: DateTime<Utc>) {
        let period = self.cooldowns.period;
        self.recorded.retain(|_, at| now - *at < period);
        if self.recorded.len() < MAX_RECORD_MARKS {
            return;
        }
        let oldest = oldest_keys(&self.recorded, |at| *at, MAX_RECORD_MARKS / EVICT_SHARE);
        for k in &oldest {
            self.recorded.remove(k);
        }
        self.counts.dropped_record_marks += oldest.len() as u64;
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

/// The `n` keys of `map` with the smallest `age_of` (earliest instants), in no order.
fn oldest_keys<K: Clone, V>(
    map: &HashMap<K, V>,
    age_of: impl Fn(&V) -> DateTime<Utc>,
    n: usize,
) -> Vec<K> {
    let n = n.clamp(1, map.len().max(1));
    let mut entries: Vec<(DateTime<Utc>, &K)> = map.iter().map(|(k, v)| (age_of(v), k)).collect();
    if entries.len() > n {
        entries.select_nth_unstable_by_key(n - 1, |(at, _)| *at);
        entries.truncate(n);
    }
    entries.into_iter().map(|(_, k)| k.clone()).collect()
}

/// Trips within this window count towards flapping.
pub const FLAP_WINDOW: Duration = Duration::hours(1);
/// This many trips within the window make a service flapping.
pub const FLAP_TRIPS: usize = 3;

/// Trips remembered per key at most (the newest); `flapping` needs only `FLAP_TRIPS`.
pub const MAX_TRIPS_PER_KEY: usize = 64;

/// Counts fresh failures per `svc_key`: a failure after good news (or the first one).
/// Bounded: at most `MAX_FLAP_KEYS` keys (the least recently heard of are forgotten first,
/// counted in `dropped`) and `MAX_TRIPS_PER_KEY` trips per key; good news about a key it
/// does not know adds nothing (the default is "healthy").
#[derive(Debug, Default)]
pub struct Flaps {
    keys: HashMap<String, FlapHistory>,
    /// Histories forgotten early because `MAX_FLAP_KEYS` was reached. Forgetting one can
    /// hide a flapping service for up to an hour (it counts from zero again).
    pub dropped: u64,
}

#[derive(Debug)]
struct FlapHistory {
    healthy: bool,
    trips: VecDeque<DateTime<Utc>>,
    last_seen: DateTime<Utc>,
}

impl FlapHistory {
    /// Forgetting it changes nothing that matters: no trip within the window, and either
    /// good news last or no news for a whole window (a failure after that counts as one
    /// trip, which alone is never flapping).
    fn is_spent(&self, now: DateTime<Utc>) -> bool {
        self.trips.back().is_none_or(|at| now - *at > FLAP_WINDOW)
            && (self.healthy || now - self.last_seen > FLAP_WINDOW)
    }
}

impl Flaps {
    /// Notes an event's news for its key.
    pub fn note(&mut self, key: &str, healthy: bool, now: DateTime<Utc>) {
        if !self.keys.contains_key(key) {
            if healthy {
                return;
            }
            if self.keys.len() >= MAX_FLAP_KEYS {
                self.make_room(now);
            }
        }
        let h = self
            .keys
            .entry(key.to_owned())
            .or_insert_with(|| FlapHistory {
                healthy: true,
                trips: VecDeque::new(),
                last_seen: now,
            });
        let was_healthy = std::mem::replace(&mut h.healthy, healthy);
        h.last_seen = h.last_seen.max(now);
        if !healthy && was_healthy {
            h.trips.push_back(now);
            while h.trips.len() > MAX_TRIPS_PER_KEY
                || h.trips.front().is_some_and(|t| now - *t > FLAP_WINDOW)
            {
                h.trips.pop_front();
            }
        }
    }

    /// `Some(trips)` when `key` tripped `FLAP_TRIPS` times or more within the last hour.
    pub fn flapping(&self, key: &str, now: DateTime<Utc>) -> Option<usize> {
        let n = self
            .keys
            .get(key)
            .map(|h| {
                h.trips
                    .iter()
                    .filter(|at| now - **at <= FLAP_WINDOW)
                    .count()
            })
            .unwrap_or(0);
        (n >= FLAP_TRIPS).then_some(n)
    }

    /// Forgets the spent histories (called periodically).
    pub fn prune(&mut self, now: DateTime<Utc>) {
        self.keys.retain(|_, h| !h.is_spent(now));
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// At the cap: the spent histories go first, then the least recently heard of
    /// `1/EVICT_SHARE` (counted).
    fn make_room(&mut self, now: DateTime<Utc>) {
        self.prune(now);
        if self.keys.len() < MAX_FLAP_KEYS {
            return;
        }
        let oldest = oldest_keys(&self.keys, |h| h.last_seen, MAX_FLAP_KEYS / EVICT_SHARE);
        for k in &oldest {
            self.keys.remove(k);
        }
        self.dropped += oldest.len() as u64;
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
        assert!(f.is_empty());
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

    fn unhealthy_at(node: &str) -> HealthEvent {
        parse_event(
            &json!({"type": "service_unhealthy", "node": node, "service": "s"}),
            "t",
            t0(),
        )
        .unwrap()
    }

    const UNKNOWN: Target = Target::Unknown { rate_per_min: 20 };

    #[test]
    fn no_minute_has_more_unknown_target_plans_than_the_rate() {
        let mut u = UnknownTargets::default();
        // One attempt every 100 ms for five minutes: whichever minute we look at, at most
        // 20 were let through, and the budget comes back as the window slides.
        let mut taken = Vec::new();
        for i in 0..3000 {
            let at = t0() + Duration::milliseconds(100 * i);
            if u.try_take(20, at) {
                taken.push(at);
            }
        }
        assert_eq!(
            &taken[..20],
            &(0..20)
                .map(|i| t0() + Duration::milliseconds(100 * i))
                .collect::<Vec<_>>()[..]
        );
        for (i, start) in taken.iter().enumerate() {
            let in_minute = taken[i..]
                .iter()
                .take_while(|t| **t - *start < Duration::minutes(1))
                .count();
            assert!(
                in_minute <= 20,
                "{in_minute} plans in the minute from {start}"
            );
        }
        assert_eq!(taken.len(), 100, "20 a minute for five minutes");
        assert!(u.admitted.len() <= 20, "memory is bounded by the rate");
    }

    #[test]
    fn unknown_targets_beyond_the_rate_are_counted_not_planned_and_known_ones_never() {
        let mut g = Gate::new(secs(300));
        let decisions: Vec<Admission> = (0..100)
            .map(|i| g.admit_target(&unhealthy_at(&format!("ghost{i}")), UNKNOWN, t0()))
            .collect();
        assert_eq!(
            decisions.iter().filter(|a| **a == Admission::Plan).count(),
            20
        );
        assert!(decisions[20..]
            .iter()
            .all(|a| *a == Admission::UnknownTargetLimited));
        assert_eq!(g.counts.unknown_target_limited, 80);
        assert_eq!(g.counts.planned, 20);
        assert_eq!(
            Admission::UnknownTargetLimited.as_str(),
            "unknown_target_limited"
        );
        for i in 0..1000 {
            let a = g.admit_target(&unhealthy_at(&format!("known{i}")), Target::Known, t0());
            assert_eq!(a, Admission::Plan, "a known target is never rate-limited");
        }
        // A minute later the budget is back.
        let later = t0() + Duration::minutes(1);
        assert_eq!(
            g.admit_target(&unhealthy_at("ghost-late"), UNKNOWN, later),
            Admission::Plan
        );
        assert_eq!(g.unknown_in_window(later), 1);
    }

    #[test]
    fn an_event_refused_for_another_reason_does_not_use_the_rate() {
        let mut g = Gate::new(secs(300));
        let e = unhealthy_at("ghost");
        assert_eq!(g.admit_target(&e, UNKNOWN, t0()), Admission::Plan);
        for _ in 0..50 {
            assert_eq!(g.admit_target(&e, UNKNOWN, t0()), Admission::InFlight);
        }
        g.cooldowns.record(&e.svc_key(), t0());
        g.finish(&e.svc_key());
        for _ in 0..50 {
            assert!(matches!(
                g.admit_target(&e, UNKNOWN, t0()),
                Admission::Cooldown { .. }
            ));
        }
        assert_eq!(g.unknown_in_window(t0()), 1, "only the one plan counted");
        assert_eq!(g.counts.unknown_target_limited, 0);
    }

    #[test]
    fn a_full_cooldown_map_refuses_new_keys_and_forgets_no_live_cooldown() {
        let mut g = Gate::new(secs(300));
        for i in 0..MAX_COOLDOWNS {
            g.cooldowns.record(&format!("n{i}/s"), t0());
        }
        let a = g.admit(&unhealthy_at("newcomer"), t0() + Duration::seconds(10));
        assert_eq!(a, Admission::CooldownsFull);
        assert_eq!(g.counts.dropped_cooldowns_full, 1);
        assert_eq!(g.counts.planned, 0);
        assert_eq!(g.cooldowns.len(), MAX_COOLDOWNS, "nothing was evicted");
        assert!(
            (0..MAX_COOLDOWNS).all(|i| !g.cooldowns.is_ready(&format!("n{i}/s"), t0())),
            "every live cooldown still holds its key"
        );
        // A key already in cooldown answers as before.
        assert!(matches!(
            g.admit(&unhealthy_at("n7"), t0()),
            Admission::Cooldown { .. }
        ));
        // Once they end there is room again (without waiting for the periodic prune).
        let after = t0() + Duration::seconds(301);
        assert_eq!(g.admit(&unhealthy_at("newcomer"), after), Admission::Plan);
        assert_eq!(
            g.cooldowns.len(),
            0,
            "the ended ones were dropped to make room"
        );
    }

    #[test]
    fn keys_in_flight_count_against_the_cooldown_cap() {
        let mut g = Gate::new(secs(300));
        for i in 0..MAX_COOLDOWNS - 1 {
            g.cooldowns.record(&format!("n{i}/s"), t0());
        }
        assert_eq!(g.admit(&unhealthy_at("a"), t0()), Admission::Plan);
        assert_eq!(
            g.admit(&unhealthy_at("b"), t0()),
            Admission::CooldownsFull,
            "`a` will record a cooldown when its plan ends"
        );
    }

    #[test]
    fn a_full_in_flight_set_refuses_new_keys_and_evicts_none() {
        let mut g = Gate::new(secs(300));
        for i in 0..MAX_IN_FLIGHT {
            assert_eq!(
                g.admit(&unhealthy_at(&format!("n{i}")), t0()),
                Admission::Plan
            );
        }
        assert_eq!(
            g.admit(&unhealthy_at("one-more"), t0()),
            Admission::InFlightFull
        );
        assert_eq!(g.counts.dropped_in_flight_full, 1);
        assert_eq!(
            g.admit(&unhealthy_at("n0"), t0()),
            Admission::InFlight,
            "a key in flight stays in flight"
        );
        g.finish("n0/s");
        assert_eq!(g.admit(&unhealthy_at("one-more"), t0()), Admission::Plan);
        assert_eq!(g.in_flight(), MAX_IN_FLIGHT);
    }

    #[test]
    fn timeline_marks_are_capped_and_the_evicted_ones_counted() {
        let mut g = Gate::new(secs(300));
        for i in 0..MAX_RECORD_MARKS {
            let e = unhealthy_at(&format!("n{i}"));
            let at = t0() + Duration::milliseconds(i as i64);
            assert!(g.should_record(&e, &Admission::InFlight, at));
        }
        assert_eq!(g.recorded.len(), MAX_RECORD_MARKS);
        let last = t0() + Duration::seconds(20);
        assert!(g.should_record(&unhealthy_at("newest"), &Admission::InFlight, last));
        assert!(g.recorded.len() <= MAX_RECORD_MARKS);
        assert_eq!(
            g.counts.dropped_record_marks,
            (MAX_RECORD_MARKS / EVICT_SHARE) as u64
        );
        // The oldest went: the first key gets a row again, a recent one still does not.
        assert!(g.should_record(&unhealthy_at("n0"), &Admission::InFlight, last));
        let recent = unhealthy_at(&format!("n{}", MAX_RECORD_MARKS - 1));
        assert!(!g.should_record(&recent, &Admission::InFlight, last));
    }

    #[test]
    fn flap_histories_are_capped_and_the_least_recent_forgotten() {
        let mut f = Flaps::default();
        for i in 0..MAX_FLAP_KEYS {
            f.note(
                &format!("n{i}/s"),
                false,
                t0() + Duration::milliseconds(i as i64),
            );
        }
        assert_eq!(f.len(), MAX_FLAP_KEYS);
        let now = t0() + Duration::seconds(20);
        let hot = "n9999/s";
        f.note(hot, true, now);
        f.note(hot, false, now);
        f.note(hot, true, now);
        f.note("newest/s", false, now);
        assert!(f.len() <= MAX_FLAP_KEYS);
        assert_eq!(f.dropped, (MAX_FLAP_KEYS / EVICT_SHARE) as u64);
        assert!(
            !f.keys.contains_key("n0/s"),
            "the least recently heard of went first"
        );
        f.note(hot, false, now);
        assert_eq!(
            f.flapping(hot, now),
            Some(3),
            "a recent history is kept whole"
        );
    }

    #[test]
    fn good_news_about_strangers_adds_nothing_and_old_outages_are_forgotten() {
        let mut f = Flaps::default();
        for i in 0..1000 {
            f.note(&format!("n{i}/s"), true, t0());
        }
        assert!(f.is_empty(), "healthy is the default: nothing to remember");
        // An outage reported once and never again: gone after an hour (it used to stay).
        f.note("down/s", false, t0());
        f.prune(t0() + Duration::minutes(30));
        assert_eq!(f.len(), 1);
        f.prune(t0() + Duration::minutes(61));
        assert!(f.is_empty());
        assert_eq!(f.dropped, 0, "pruning spent histories is not dropping");
    }

    #[test]
    fn one_key_keeps_a_bounded_number_of_trips() {
        let mut f = Flaps::default();
        for i in 0..1000 {
            let at = t0() + Duration::milliseconds(i);
            f.note("k/s", false, at);
            f.note("k/s", true, at);
        }
        assert_eq!(f.keys["k/s"].trips.len(), MAX_TRIPS_PER_KEY);
        assert_eq!(
            f.flapping("k/s", t0() + Duration::seconds(1)),
            Some(MAX_TRIPS_PER_KEY)
        );
    }
}
