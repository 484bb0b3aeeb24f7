//! Wall-clock time for decisions that are persisted or shown to people.
//!
//! Owns: the `Clock` seam. Decisions (breaker, pipeline status) take `now` as an argument;
//! the loops that call them read it from a `Clock`. `SystemClock` is the real one;
//! `TokioClock` follows tokio's (pausable) clock and can jump forward, which is how tests
//! simulate a laptop waking from sleep without sleeping themselves.
//! Does not own: timers. Waiting is always done with `tokio::time`.

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;

/// Wall-clock time source.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A wall clock that advances with tokio's clock (so `start_paused` tests are deterministic)
/// plus an offset that tests can bump to model a suspend/resume gap.
#[derive(Debug, Clone)]
pub struct TokioClock {
    inner: Arc<TokioClockInner>,
}

#[derive(Debug)]
struct TokioClockInner {
    wall0: DateTime<Utc>,
    instant0: tokio::time::Instant,
    offset: Mutex<Duration>,
}

impl TokioClock {
    pub fn starting_at(wall0: DateTime<Utc>) -> Self {
        Self {
            inner: Arc::new(TokioClockInner {
                wall0,
                instant0: tokio::time::Instant::now(),
                offset: Mutex::new(Duration::ZERO),
            }),
        }
    }

    /// Moves wall time forward without moving tokio's clock (a machine that slept).
    pub fn jump(&self, by: Duration) {
        *self.inner.offset.lock() += by;
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = self.inner.instant0.elapsed() + *self.inner.offset.lock();
        self.inner.wall0 + chrono::Duration::from_std(elapsed).unwrap_or_default()
    }
}

pub type SharedClock = Arc<dyn Clock>;

/// `a + d` for a std duration, saturating instead of panicking on absurd values.
pub fn add(a: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| a.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `a - b` as a std duration, zero when `b` is later.
pub fn since(a: DateTime<Utc>, b: DateTime<Utc>) -> Duration {
    (a - b).to_std().unwrap_or(Duration::ZERO)
}
