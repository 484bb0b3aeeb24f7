//! Waiting for something to happen, each wait with its own deadline.
//!
//! - [`expect_update`]: an engine in this process (`Steward::start`, `Engine::start`). It
//!   subscribes to `Api::subscribe` *before* the first check, then re-checks after every
//!   update the engine publishes (a burst of them is one re-check): it never sleeps and
//!   cannot miss a change that happened before it was called. Use it for anything the
//!   engine announces: provider views, events in the timeline, proposals and their
//!   status, the status (bus connection, counts), the session pipeline.
//! - [`eventually`]: everything else, which announces nothing in this process: a child
//!   `steward serve`, files on disk, an OS process, a Redis server, a component tested
//!   without an engine (the bus, the watcher). It polls every [`POLL`].
//!
//! Both take the check as a closure returning a future of `bool` (done or not) or of
//! `Option<T>` (the value once there is one), and answer `()` or that `T`. The timeout is
//! the caller's: short when the thing is quick (a probe on loopback, a plan by the rules
//! planner), longer for real processes and file system events on a busy machine. A test
//! never asserts speed, so a timeout only bounds how long a broken test hangs.
//!
//! Under paused time (`start_paused`) only `expect_update` fits: it waits on the engine,
//! whose timers follow the paused clock, while `eventually` would spin through its real
//! deadline without giving the outside world time to act.

use std::future::Future;
use std::time::Duration;
use steward::api::Api;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

/// How often [`eventually`] looks again.
pub const POLL: Duration = Duration::from_millis(20);

/// What a check answers: done (`true`, `Some(value)`) or not yet (`false`, `None`).
pub trait Check {
    type Value;
    fn done(self) -> Option<Self::Value>;
}

impl Check for bool {
    type Value = ();
    fn done(self) -> Option<()> {
        self.then_some(())
    }
}

impl<T> Check for Option<T> {
    type Value = T;
    fn done(self) -> Option<T> {
        self
    }
}

/// Waits until `check` holds for the in-process engine behind `api`: checked at once, then
/// after each update it publishes; panics naming `what` after `timeout`.
pub async fn expect_update<C, F, Fut>(
    api: &Api,
    what: &str,
    timeout: Duration,
    mut check: F,
) -> C::Value
where
    C: Check,
    F: FnMut() -> Fut,
    Fut: Future<Output = C>,
{
    // Subscribed before the first check: a change after it is an update still to come.
    let mut updates = api.subscribe();
    let started = tokio::time::Instant::now();
    let deadline = started + timeout;
    loop {
        if let Some(v) = check().await.done() {
            return v;
        }
        let timed_out = || {
            panic!(
                "timed out after {:?} (limit {timeout:?}) waiting for: {what} \
                 (re-checked after every engine update)",
                started.elapsed()
            )
        };
        if tokio::time::Instant::now() >= deadline {
            timed_out();
        }
        match tokio::time::timeout_at(deadline, updates.recv()).await {
            Err(_) => timed_out(),
            Ok(Err(RecvError::Closed)) => panic!("the engine stopped while waiting for: {what}"),
            // Lagged: updates were missed, which the next check covers like any other.
            Ok(Ok(_) | Err(RecvError::Lagged(_))) => {}
        }
        while matches!(updates.try_recv(), Ok(_) | Err(TryRecvError::Lagged(_))) {}
    }
}

/// Polls `check` every [`POLL`] until it holds; panics naming `what` after `timeout`.
pub async fn eventually<C, F, Fut>(what: &str, timeout: Duration, mut check: F) -> C::Value
where
    C: Check,
    F: FnMut() -> Fut,
    Fut: Future<Output = C>,
{
    // The real clock: what is waited for here lives outside tokio's (maybe paused) one.
    let started = std::time::Instant::now();
    loop {
        if let Some(v) = check().await.done() {
            return v;
        }
        assert!(
            started.elapsed() < timeout,
            "timed out after {:?} (limit {timeout:?}) waiting for: {what}",
            started.elapsed()
        );
        tokio::time::sleep(POLL).await;
    }
}
