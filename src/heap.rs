//! Giving the heap pages that a burst of work freed back to the system.
//!
//! Owns: one call, [`give_back`], and the rule for when a long-lived loop makes it
//! ([`Trim`]). glibc's allocator keeps what a burst freed (a probe tick's reports,
//! samples and connections at 10,000 providers) inside its per-thread arenas, so the
//! resident set stays at the burst's height between bursts. `malloc_trim` walks those
//! arenas and returns every whole free page (a few milliseconds at 50 MiB of heap). It
//! never moves or changes live memory. Elsewhere than Linux with glibc it does nothing.

use std::time::Duration;
use tokio::time::Instant;

/// Returns the free pages of every heap arena to the system; whether any was returned.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn give_back() -> bool {
    // SAFETY: `malloc_trim` takes no pointer and only touches glibc's own bookkeeping
    // under its arena locks; it is safe to call from any thread at any time.
    unsafe { libc::malloc_trim(0) == 1 }
}

/// Elsewhere the allocator is left alone.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn give_back() -> bool {
    false
}

/// When a loop that works in bursts gives freed memory back: once each time it goes
/// quiet after work, and at least every `every` while it stays busy (a fleet whose
/// probes never pause). A pure rule of its inputs and `now`.
#[derive(Debug)]
pub struct Trim {
    every: Duration,
    /// Since when the loop has worked without giving back (none while it is quiet).
    since: Option<Instant>,
}

impl Trim {
    pub fn new(every: Duration) -> Trim {
        Trim { every, since: None }
    }

    /// After one round of the loop: `worked` when it did something, `quiet` when nothing
    /// more is waiting. True when the freed memory should be given back now.
    pub fn after(&mut self, worked: bool, quiet: bool, now: Instant) -> bool {
        if worked && self.since.is_none() {
            self.since = Some(now);
        }
        let Some(since) = self.since else {
            return false;
        };
        if quiet {
            self.since = None;
            return true;
        }
        if now - since >= self.every {
            // The next period starts with the next work: no work, no more trims.
            self.since = None;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freed_pages_go_back_to_the_system() {
        // Small blocks come from the arena, not from their own mappings, so only a trim
        // returns them once freed.
        let blocks: Vec<Box<[u8; 1024]>> = (0..32 * 1024).map(|_| Box::new([1u8; 1024])).collect();
        drop(blocks);
        assert_eq!(
            give_back(),
            cfg!(all(target_os = "linux", target_env = "gnu"))
        );
    }

    #[test]
    fn a_loop_gives_back_once_when_it_goes_quiet_after_work() {
        let mut trim = Trim::new(Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(
            !trim.after(false, true, t0),
            "idle from the start: nothing freed"
        );
        assert!(!trim.after(true, false, t0), "mid-burst, first round");
        assert!(
            trim.after(false, true, t0 + Duration::from_secs(1)),
            "quiet after work"
        );
        assert!(
            !trim.after(false, true, t0 + Duration::from_secs(2)),
            "still quiet"
        );
        assert!(
            !trim.after(false, true, t0 + Duration::from_secs(120)),
            "quiet for long"
        );
        assert!(!trim.after(true, false, t0 + Duration::from_secs(121)));
        assert!(
            trim.after(false, true, t0 + Duration::from_secs(122)),
            "the next burst ended"
        );
    }

    #[test]
    fn a_loop_that_never_goes_quiet_gives_back_every_period() {
        let mut trim = Trim::new(Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(!trim.after(true, false, t0), "the first busy round");
        assert!(!trim.after(true, false, t0 + Duration::from_secs(59)));
        assert!(trim.after(true, false, t0 + Duration::from_secs(60)));
        assert!(!trim.after(true, false, t0 + Duration::from_secs(61)));
        assert!(trim.after(false, false, t0 + Duration::from_secs(121)));
        assert!(
            !trim.after(false, false, t0 + Duration::from_secs(300)),
            "not quiet (an incident open) but no work since: nothing more to give back"
        );
    }
}
