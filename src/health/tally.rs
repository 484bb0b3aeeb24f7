//! Probe results counted since the process started, for `GET /metrics`.
//!
//! Owns: [`ProbeTally`], one provider's probe durations as a histogram with fixed buckets
//! ([`DURATION_BUCKETS`], 5 ms to 10 s) and its failed probes, and [`Outcomes`], the
//! fleet's probes by outcome. Plain data fed one probe result at a time (the recorder sees
//! each one); nothing here reads a clock, stores or encodes. Counts only grow while the
//! process runs and start at zero with it (Prometheus reads a restart as a counter reset),
//! so retention, which prunes the stored history, never lowers them.
//! Does not own: the exposition (`metrics`) or the stored history (`store::probes`).

use crate::health::monitor::Outcome;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the duration buckets, in seconds (Prometheus' default buckets: a
/// loopback answer in the first, a probe that ran into a 10 s timeout in the last).
pub const DURATION_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// One provider's counted probes since start.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProbeTally {
    /// Probes per bucket of [`DURATION_BUCKETS`] (not cumulative); the last slot holds
    /// those longer than the last bound.
    buckets: [u64; DURATION_BUCKETS.len() + 1],
    /// Sum of every duration, in seconds.
    sum_secs: f64,
    count: u64,
    /// Probes whose outcome was not ok (down, timeout, error, inconclusive).
    failures: u64,
}

impl ProbeTally {
    /// Counts one probe: its duration whatever the outcome (a timeout counts with the time
    /// it took), and a failure unless the provider answered as it should.
    pub fn observe(&mut self, duration: Duration, outcome: Outcome) {
        let secs = duration.as_secs_f64();
        let slot = DURATION_BUCKETS
            .iter()
            .position(|le| secs <= *le)
            .unwrap_or(DURATION_BUCKETS.len());
        self.buckets[slot] += 1;
        self.sum_secs += secs;
        self.count += 1;
        if !outcome.is_ok() {
            self.failures += 1;
        }
    }

    /// `(upper bound, probes in that bucket)`, not cumulative, the last with `+Inf`.
    pub fn buckets(&self) -> Vec<(f64, u64)> {
        DURATION_BUCKETS
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(self.buckets)
            .collect()
    }

    pub fn sum_secs(&self) -> f64 {
        self.sum_secs
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn failures(&self) -> u64 {
        self.failures
    }
}

/// Every outcome, in the order [`Outcomes`] counts them.
pub const OUTCOMES: [Outcome; 6] = Outcome::ALL;

fn slot(outcome: Outcome) -> usize {
    OUTCOMES
        .iter()
        .position(|o| *o == outcome)
        .expect("OUTCOMES lists every outcome")
}

/// The fleet's counted probes by outcome since start (kept apart from the providers', so
/// a provider removed from the config does not lower the totals).
#[derive(Debug, Default)]
pub struct Outcomes([AtomicU64; 6]);

impl Outcomes {
    pub fn add(&self, outcome: Outcome) {
        self.0[slot(outcome)].fetch_add(1, Ordering::Relaxed);
    }

    /// Each outcome with its count, every outcome listed.
    pub fn counts(&self) -> Vec<(Outcome, u64)> {
        OUTCOMES
            .iter()
            .map(|o| (*o, self.0[slot(*o)].load(Ordering::Relaxed)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_lands_in_the_first_bucket_whose_bound_holds_it() {
        let mut t = ProbeTally::default();
        t.observe(Duration::from_millis(3), Outcome::Up);
        t.observe(Duration::from_millis(5), Outcome::Up);
        t.observe(Duration::from_millis(120), Outcome::Down);
        t.observe(Duration::from_secs(30), Outcome::Timeout);
        let b = t.buckets();
        assert_eq!(b.len(), DURATION_BUCKETS.len() + 1, "every bound and +Inf");
        assert_eq!(b[0], (0.005, 2), "a bound is inclusive (le)");
        assert_eq!(b[5], (0.25, 1), "120 ms is under 250 ms, over 100 ms");
        assert_eq!(b[11], (f64::INFINITY, 1), "past the last bound: +Inf");
        assert_eq!(b.iter().map(|(_, n)| n).sum::<u64>(), t.count());
        assert_eq!(t.count(), 4);
        assert!((t.sum_secs() - 30.128).abs() < 1e-9, "{}", t.sum_secs());
    }

    #[test]
    fn failures_are_the_probes_that_did_not_answer_as_they_should() {
        let mut t = ProbeTally::default();
        for o in OUTCOMES {
            t.observe(Duration::from_millis(1), o);
        }
        // Up and rate-limited (an answer: the provider is there) are not failures.
        assert_eq!(t.failures(), 4);
    }

    #[test]
    fn outcomes_count_each_outcome_apart() {
        let o = Outcomes::default();
        o.add(Outcome::Up);
        o.add(Outcome::Up);
        o.add(Outcome::Timeout);
        let counts = o.counts();
        assert_eq!(
            counts.len(),
            OUTCOMES.len(),
            "every outcome is listed, zero too"
        );
        assert!(counts.contains(&(Outcome::Up, 2)));
        assert!(counts.contains(&(Outcome::Timeout, 1)));
        assert!(counts.contains(&(Outcome::Down, 0)));
    }
}
