//! How often a housekeeping loop wakes: often while it has work, rarely when it has none.
//!
//! Owns: [`Pace`], the timer of the engine's periodic loops (the recorder's flush and
//! incident tick, the intake's timeline writes). Each wakes every `busy` while something
//! waits for it and every `quiet` when nothing does; work that arrives while it is quiet
//! ([`Pace::stir`]) brings its next wake-up back within `busy`. An engine with nothing to
//! do then wakes a few times a minute instead of several times a second.
//! Does not own: what counts as work (each loop decides) or the clock of decisions.

use std::pin::Pin;
use std::time::Duration;
use tokio::time::{Instant, Sleep};

pub struct Pace {
    sleep: Pin<Box<Sleep>>,
    busy: Duration,
    quiet: Duration,
}

impl Pace {
    /// First wake-up after `busy`.
    pub fn new(busy: Duration, quiet: Duration) -> Pace {
        Pace {
            sleep: Box::pin(tokio::time::sleep(busy)),
            busy,
            quiet,
        }
    }

    /// Waits for the next wake-up. Cancel-safe (a `select!` branch).
    pub async fn tick(&mut self) {
        self.sleep.as_mut().await;
        // Until `next` says otherwise, the loop is busy.
        let at = Instant::now() + self.busy;
        self.sleep.as_mut().reset(at);
    }

    /// After a wake-up: the next one after `quiet` when the loop had nothing to do,
    /// else after `busy`.
    pub fn next(&mut self, idle: bool) {
        let wait = if idle { self.quiet } else { self.busy };
        self.sleep.as_mut().reset(Instant::now() + wait);
    }

    /// Work arrived: wake within `busy` (an earlier wake-up stays).
    pub fn stir(&mut self) {
        let soon = Instant::now() + self.busy;
        if self.sleep.deadline() > soon {
            self.sleep.as_mut().reset(soon);
        }
    }

    /// When the next wake-up is due.
    pub fn deadline(&self) -> Instant {
        self.sleep.deadline()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUSY: Duration = Duration::from_millis(250);
    const QUIET: Duration = Duration::from_secs(5);

    #[tokio::test(start_paused = true)]
    async fn a_loop_with_nothing_to_do_wakes_every_quiet_period_and_work_brings_it_back() {
        let t0 = Instant::now();
        let mut pace = Pace::new(BUSY, QUIET);
        pace.tick().await;
        assert_eq!(t0.elapsed(), BUSY);
        // Nothing to do: the next wake-up is a quiet period away.
        pace.next(true);
        assert_eq!(pace.deadline() - Instant::now(), QUIET);
        // Work arrives a second later: wake within `busy` of it.
        tokio::time::advance(Duration::from_secs(1)).await;
        pace.stir();
        let stirred = Instant::now();
        pace.tick().await;
        assert_eq!(stirred.elapsed(), BUSY);
        // Had work: busy pace.
        pace.next(false);
        assert_eq!(pace.deadline() - Instant::now(), BUSY);
        // Stirring a busy loop does not push its wake-up later.
        tokio::time::advance(Duration::from_millis(100)).await;
        let due = pace.deadline();
        pace.stir();
        assert_eq!(pace.deadline(), due);
    }
}
