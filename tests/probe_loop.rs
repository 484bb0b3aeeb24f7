//! The probe loop, specified: every case of seed 000's `test_health_probe.py` (and the
//! lifecycle of seed 002's ticker), then what Steward adds: bounded concurrency, fair
//! scheduling with hanging providers, confirmation re-probes, and no false alarms after the
//! machine sleeps. All on tokio's paused clock with fake probes: no sleeping, no flakiness.

use chrono::TimeZone;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use steward::clock::TokioClock;
use steward::health::breaker::{BreakerPolicy, Breakers, Transition};
use steward::health::monitor::{
    LoopOptions, Monitor, MonitorError, MonitorEvent, Outcome, ProbeTarget,
};
use steward::health::probe::{ErrorKind, FnProbe, Probe, ProbeError, Verdict};
use tokio::sync::mpsc;
use tokio::time::{advance, Instant};

fn clock() -> TokioClock {
    TokioClock::starting_at(chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap())
}

fn cache(threshold: u32) -> Arc<Breakers> {
    Arc::new(Breakers::new(BreakerPolicy {
        failure_threshold: threshold,
        backoff: Duration::from_secs(60),
        backoff_max: Duration::from_secs(60),
    }))
}

fn returns(up: bool) -> Arc<dyn Probe> {
    Arc::new(FnProbe(move || async move {
        Ok(if up {
            Verdict::Up
        } else {
            Verdict::Down {
                reason: "probe returned false".into(),
            }
        })
    }))
}

fn raises() -> Arc<dyn Probe> {
    Arc::new(FnProbe(|| async {
        Err(ProbeError::new(ErrorKind::Connect, "ConnectionError: boom"))
    }))
}

fn panics() -> Arc<dyn Probe> {
    Arc::new(FnProbe(|| async {
        if true {
            panic!("RuntimeError: evil probe");
        }
        Ok(Verdict::Up)
    }))
}

fn slow(delay: Duration) -> Arc<dyn Probe> {
    Arc::new(FnProbe(move || async move {
        tokio::time::sleep(delay).await;
        Ok(Verdict::Up)
    }))
}

fn counter() -> (Arc<dyn Probe>, Arc<AtomicUsize>) {
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = Arc::clone(&n);
    let p: Arc<dyn Probe> = Arc::new(FnProbe(move || {
        let n = Arc::clone(&n2);
        async move {
            n.fetch_add(1, Ordering::SeqCst);
            Ok(Verdict::Up)
        }
    }));
    (p, n)
}

fn opts(interval_ms: u64, timeout_ms: u64) -> LoopOptions {
    LoopOptions {
        interval: Duration::from_millis(interval_ms),
        timeout: Duration::from_millis(timeout_ms),
        ..LoopOptions::default()
    }
}

fn monitor(
    breakers: Arc<Breakers>,
    probes: Vec<(&str, Arc<dyn Probe>)>,
    o: LoopOptions,
) -> Monitor {
    let targets = probes
        .into_iter()
        .map(|(id, p)| ProbeTarget::new(id, p))
        .collect();
    Monitor::new(breakers, targets, o, Arc::new(clock()), None).expect("valid loop")
}

// --- Construction (seed 000) -------------------------------------------------------------

#[test]
fn invalid_interval_is_refused_and_named() {
    let err = Monitor::new(cache(2), vec![], opts(0, 1000), Arc::new(clock()), None)
        .err()
        .expect("interval 0 must be refused");
    assert!(matches!(err, MonitorError::Interval(_)));
    assert!(err.to_string().contains("interval"));
}

#[test]
fn invalid_timeout_is_refused_and_named() {
    let err = Monitor::new(cache(2), vec![], opts(1000, 0), Arc::new(clock()), None)
        .err()
        .expect("timeout 0 must be refused");
    assert!(err.to_string().contains("timeout"));
}

#[test]
fn a_provider_with_a_zero_timeout_is_refused_too() {
    let mut t = ProbeTarget::new("ollama", returns(true));
    t.timeout = Some(Duration::ZERO);
    let err = Monitor::new(cache(2), vec![t], opts(1000, 1000), Arc::new(clock()), None).err();
    assert_eq!(err, Some(MonitorError::Timeout("ollama".into())));
}

#[tokio::test(start_paused = true)]
async fn provider_ids_expose_the_registered_providers() {
    let m = monitor(
        cache(2),
        vec![("ollama", returns(true)), ("groq", returns(true))],
        opts(30_000, 3000),
    );
    assert_eq!(m.provider_ids(), vec!["groq", "ollama"]);
}

// --- tick_once (seed 000) ----------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_healthy_probe_marks_healthy() {
    let b = cache(1);
    b.mark_unhealthy("ollama", "stale", clock_now());
    assert!(!b.is_healthy("ollama", clock_now()), "pre-marked unhealthy");
    let m = monitor(
        Arc::clone(&b),
        vec![("ollama", returns(true))],
        opts(30_000, 3000),
    );
    m.tick_once().await;
    assert!(b.is_healthy("ollama", clock_now()));
}

fn clock_now() -> chrono::DateTime<chrono::Utc> {
    use steward::clock::Clock;
    clock().now()
}

#[tokio::test(start_paused = true)]
async fn returning_down_marks_unhealthy_with_the_reason() {
    let b = cache(1);
    let m = monitor(
        Arc::clone(&b),
        vec![("ollama", returns(false))],
        opts(30_000, 3000),
    );
    m.tick_once().await;
    let s = b.state("ollama").expect("state recorded");
    assert!(!s.is_healthy(clock_now()));
    assert!(s.last_error.unwrap().contains("false"));
}

#[tokio::test(start_paused = true)]
async fn an_error_marks_unhealthy_with_its_kind_and_message() {
    let b = cache(1);
    let m = monitor(
        Arc::clone(&b),
        vec![("ollama", raises())],
        opts(30_000, 3000),
    );
    let reports = m.tick_once().await;
    let err = b.state("ollama").unwrap().last_error.unwrap();
    assert!(err.contains("ConnectionError"), "{err}");
    assert!(err.starts_with("connect:"), "the kind comes first: {err}");
    assert_eq!(reports[0].outcome, Outcome::Error);
}

#[tokio::test(start_paused = true)]
async fn a_timeout_marks_unhealthy_with_timeout() {
    let b = cache(1);
    let m = monitor(
        Arc::clone(&b),
        vec![("ollama", slow(Duration::from_secs(1)))],
        opts(30_000, 50),
    );
    let reports = m.tick_once().await;
    assert_eq!(reports[0].outcome, Outcome::Timeout);
    let err = b.state("ollama").unwrap().last_error.unwrap();
    assert!(err.to_lowercase().contains("timeout"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn one_bad_probe_does_not_sink_the_others() {
    // A panicking probe must not take the tick (or the loop) down with it.
    let b = cache(1);
    let m = monitor(
        Arc::clone(&b),
        vec![
            ("ollama", panics()),
            ("groq", returns(true)),
            ("vllm", raises()),
        ],
        opts(30_000, 3000),
    );
    let reports = m.tick_once().await;
    assert_eq!(reports.len(), 3, "every provider reported");
    assert!(!b.is_healthy("ollama", clock_now()));
    assert!(b
        .state("ollama")
        .unwrap()
        .last_error
        .unwrap()
        .contains("panic"));
    assert!(b.is_healthy("groq", clock_now()));
}

#[tokio::test(start_paused = true)]
async fn probes_of_one_tick_run_concurrently() {
    let probes = (0..5)
        .map(|i| {
            (
                ["p0", "p1", "p2", "p3", "p4"][i],
                slow(Duration::from_millis(100)),
            )
        })
        .collect();
    let m = monitor(cache(2), probes, opts(30_000, 1000));
    let t0 = Instant::now();
    m.tick_once().await;
    let elapsed = t0.elapsed();
    // On tokio's clock: serial would be exactly 500 ms, concurrent exactly 100 ms.
    assert!(
        elapsed < Duration::from_millis(300),
        "ran serially? {elapsed:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_empty_tick_is_a_no_op() {
    let b = cache(2);
    let m = monitor(Arc::clone(&b), vec![], opts(30_000, 3000));
    assert!(m.tick_once().await.is_empty());
    assert!(b.snapshot().is_empty());
}

// --- Lifecycle (seeds 000 and 002) -------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn start_runs_the_first_tick_at_once() {
    let b = cache(1);
    b.mark_unhealthy("ollama", "stale", clock_now());
    let m = monitor(
        Arc::clone(&b),
        vec![("ollama", returns(true))],
        opts(10_000, 3000),
    );
    m.start();
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert!(
        b.is_healthy("ollama", clock_now()),
        "initial tick did not wait an interval"
    );
    m.stop().await;
}

#[tokio::test(start_paused = true)]
async fn stop_cancels_cleanly() {
    let m = monitor(
        cache(2),
        vec![("ollama", returns(true))],
        opts(10_000, 1000),
    );
    m.start();
    assert!(m.is_running());
    m.stop().await;
    assert!(!m.is_running());
}

#[tokio::test(start_paused = true)]
async fn start_is_idempotent() {
    let (p, count) = counter();
    let m = monitor(cache(2), vec![("ollama", p)], opts(10_000, 1000));
    m.start();
    m.start(); // must not spawn a second loop
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert!(m.is_running());
    assert_eq!(
        count.load(Ordering::SeqCst),
        1,
        "one loop, one initial tick"
    );
    m.stop().await;
}

#[tokio::test(start_paused = true)]
async fn stop_without_start_and_twice_is_safe() {
    let m = monitor(cache(2), vec![], opts(10_000, 1000));
    m.stop().await;
    m.start();
    m.stop().await;
    m.stop().await;
    assert!(!m.is_running());
}

#[tokio::test(start_paused = true)]
async fn the_loop_keeps_ticking_after_errors() {
    let (p, count) = counter();
    let m = monitor(
        cache(1),
        vec![("counter", p), ("evil", panics()), ("down", raises())],
        opts(50, 1000),
    );
    m.start();
    tokio::time::sleep(Duration::from_millis(180)).await;
    m.stop().await;
    // Initial tick + at least 2 interval ticks, despite a panic and an error every tick.
    assert!(
        count.load(Ordering::SeqCst) >= 3,
        "count = {}",
        count.load(Ordering::SeqCst)
    );
}

#[tokio::test(start_paused = true)]
async fn stop_is_bounded_even_with_a_hanging_probe() {
    struct Dropped(Arc<AtomicUsize>);
    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicUsize::new(0));
    let d2 = Arc::clone(&dropped);
    let hang: Arc<dyn Probe> = Arc::new(FnProbe(move || {
        let guard = Dropped(Arc::clone(&d2));
        async move {
            let _guard = guard;
            std::future::pending::<()>().await;
            Ok(Verdict::Up)
        }
    }));
    let m = monitor(cache(2), vec![("hang", hang)], opts(1000, 3_600_000));
    m.start();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let t0 = Instant::now();
    m.stop().await;
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "stop waited for the probe"
    );
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        1,
        "the hanging probe was cancelled"
    );
}

// --- What Steward adds --------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_provider_is_never_probed_twice_at_once_and_late_ticks_do_not_burst() {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max_seen = Arc::new(AtomicUsize::new(0));
    let starts = Arc::new(AtomicUsize::new(0));
    let (f, m2, s) = (
        Arc::clone(&in_flight),
        Arc::clone(&max_seen),
        Arc::clone(&starts),
    );
    // Takes 250 ms with a 100 ms interval.
    let long: Arc<dyn Probe> = Arc::new(FnProbe(move || {
        let (f, m2, s) = (Arc::clone(&f), Arc::clone(&m2), Arc::clone(&s));
        async move {
            s.fetch_add(1, Ordering::SeqCst);
            let now = f.fetch_add(1, Ordering::SeqCst) + 1;
            m2.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(250)).await;
            f.fetch_sub(1, Ordering::SeqCst);
            Ok(Verdict::Up)
        }
    }));
    let m = monitor(cache(2), vec![("long", long)], opts(100, 1000));
    m.start();
    tokio::time::sleep(Duration::from_millis(1010)).await;
    m.stop().await;
    assert_eq!(max_seen.load(Ordering::SeqCst), 1);
    // Back to back (Delay semantics): 0, 250, 500, 750, 1000 → 5 starts, never a burst.
    assert_eq!(starts.load(Ordering::SeqCst), 5);
}

#[tokio::test(start_paused = true)]
async fn concurrency_is_bounded_across_thousands_of_providers() {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max_seen = Arc::new(AtomicUsize::new(0));
    let mut probes: Vec<(String, Arc<dyn Probe>)> = Vec::new();
    for i in 0..5000 {
        let (f, m2) = (Arc::clone(&in_flight), Arc::clone(&max_seen));
        probes.push((
            format!("p{i}"),
            Arc::new(FnProbe(move || {
                let (f, m2) = (Arc::clone(&f), Arc::clone(&m2));
                async move {
                    let now = f.fetch_add(1, Ordering::SeqCst) + 1;
                    m2.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    f.fetch_sub(1, Ordering::SeqCst);
                    Ok(Verdict::Up)
                }
            })),
        ));
    }
    let targets = probes
        .into_iter()
        .map(|(id, p)| ProbeTarget::new(id, p))
        .collect();
    let o = LoopOptions {
        max_concurrency: 64,
        slow_lane: 64,
        ..opts(30_000, 3000)
    };
    let b = cache(2);
    let m = Monitor::new(Arc::clone(&b), targets, o, Arc::new(clock()), None).unwrap();
    let reports = m.tick_once().await;
    assert_eq!(reports.len(), 5000);
    assert!(reports.iter().all(|r| r.outcome == Outcome::Up));
    let max = max_seen.load(Ordering::SeqCst);
    assert!(
        max <= 64,
        "at most the fast lane runs at once here, saw {max}"
    );
    assert!(max >= 32, "and it is actually used, saw {max}");
}

#[tokio::test(start_paused = true)]
async fn hanging_providers_do_not_delay_the_others() {
    // 100 providers, 10 of which hang until their 3 s timeout; only 4 fast slots.
    // Without the slow lane the hangers would hold every slot for 3 s each tick.
    let started_late = Arc::new(AtomicUsize::new(0));
    let tick_start = Arc::new(parking_lot::Mutex::new(Instant::now()));
    let mut targets = Vec::new();
    for i in 0..100 {
        let probe: Arc<dyn Probe> = if i % 10 == 0 {
            Arc::new(FnProbe(|| async {
                std::future::pending::<()>().await;
                Ok(Verdict::Up)
            }))
        } else {
            let (late, t0) = (Arc::clone(&started_late), Arc::clone(&tick_start));
            Arc::new(FnProbe(move || {
                let (late, t0) = (Arc::clone(&late), Arc::clone(&t0));
                async move {
                    if t0.lock().elapsed() > Duration::from_secs(1) {
                        late.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(Verdict::Up)
                }
            }))
        };
        targets.push(ProbeTarget::new(format!("p{i:03}"), probe));
    }
    let o = LoopOptions {
        max_concurrency: 4,
        slow_lane: 32,
        soft_deadline: Duration::from_millis(250),
        ..opts(10_000, 3000)
    };
    let m = Monitor::new(cache(2), targets, o, Arc::new(clock()), None).unwrap();
    *tick_start.lock() = Instant::now();
    let reports = m.tick_once().await;
    assert_eq!(
        reports
            .iter()
            .filter(|r| r.outcome == Outcome::Timeout)
            .count(),
        10
    );
    assert_eq!(
        started_late.load(Ordering::SeqCst),
        0,
        "healthy providers started on time"
    );
}

#[tokio::test(start_paused = true)]
async fn a_first_failure_is_confirmed_quickly_instead_of_waiting_an_interval() {
    let b = cache(2);
    let (tx, mut rx) = mpsc::channel(64);
    let mut t = ProbeTarget::new("api", returns(false));
    t.confirm_after = Some(Duration::from_secs(2));
    let m = Monitor::new(
        Arc::clone(&b),
        vec![t],
        opts(30_000, 1000),
        Arc::new(clock()),
        Some(tx),
    )
    .unwrap();
    let t0 = Instant::now();
    m.start();
    let tripped_at = loop {
        match rx.recv().await.expect("reports flow") {
            MonitorEvent::Probed(r)
                if r.transitions
                    .iter()
                    .any(|t| matches!(t, Transition::Opened { .. })) =>
            {
                break t0.elapsed()
            }
            _ => {}
        }
    };
    m.stop().await;
    assert_eq!(
        tripped_at,
        Duration::from_secs(2),
        "tripped on the confirmation re-probe"
    );
}

#[tokio::test(start_paused = true)]
async fn after_a_sleep_first_failures_are_rechecked_before_they_count() {
    // The machine slept an hour; on waking, the Wi-Fi needs a few seconds: the first probe
    // fails, the re-check 5 s later succeeds, and the breaker never hears of the blip.
    let b = cache(1);
    let clock = clock();
    let flips = Arc::new(AtomicUsize::new(0));
    let f2 = Arc::clone(&flips);
    let network_back = Arc::new(parking_lot::Mutex::new(true));
    let nb = Arc::clone(&network_back);
    let probe: Arc<dyn Probe> = Arc::new(FnProbe(move || {
        let (nb, f2) = (Arc::clone(&nb), Arc::clone(&f2));
        async move {
            f2.fetch_add(1, Ordering::SeqCst);
            if *nb.lock() {
                Ok(Verdict::Up)
            } else {
                Err(ProbeError::new(ErrorKind::Connect, "network unreachable"))
            }
        }
    }));
    let (tx, mut rx) = mpsc::channel(64);
    let m = Monitor::new(
        Arc::clone(&b),
        vec![ProbeTarget::new("nas", probe)],
        opts(30_000, 1000),
        Arc::new(clock.clone()),
        Some(tx),
    )
    .unwrap();
    m.start();
    tokio::time::sleep(Duration::from_millis(10)).await; // first tick: up
    *network_back.lock() = false;
    clock.jump(Duration::from_secs(3600)); // the lid was closed for an hour
    advance(Duration::from_secs(30)).await; // next tick notices the gap
    tokio::time::sleep(Duration::from_millis(10)).await;
    *network_back.lock() = true;
    tokio::time::sleep(Duration::from_secs(6)).await; // the re-check
    m.stop().await;
    let mut woke = false;
    let mut uncounted = 0;
    while let Ok(ev) = rx.try_recv() {
        match ev {
            MonitorEvent::Woke { gap, .. } => {
                woke = true;
                assert!(gap >= Duration::from_secs(3500));
            }
            MonitorEvent::Probed(r) if !r.counted => uncounted += 1,
            _ => {}
        }
    }
    assert!(woke, "the wake was noticed");
    assert_eq!(uncounted, 1, "the failure right after waking was held back");
    let s = b.state("nas").unwrap();
    assert_eq!(s.consecutive_failures, 0, "no false alarm");
    assert!(s.open_until.is_none());
}

#[tokio::test(start_paused = true)]
async fn after_a_sleep_a_real_outage_still_counts_after_the_recheck() {
    let b = cache(1);
    let clock = clock();
    let (tx, _rx) = mpsc::channel(64);
    let m = Monitor::new(
        Arc::clone(&b),
        vec![ProbeTarget::new("nas", raises())],
        opts(30_000, 1000),
        Arc::new(clock.clone()),
        Some(tx),
    )
    .unwrap();
    m.start();
    tokio::time::sleep(Duration::from_millis(10)).await;
    m.stop().await;
    assert!(
        !b.is_healthy("nas", steward::clock::Clock::now(&clock)),
        "down before sleeping"
    );
    b.mark_healthy("nas", steward::clock::Clock::now(&clock));
    m.start();
    tokio::time::sleep(Duration::from_millis(10)).await; // fails, trips again (threshold 1)
    b.mark_healthy("nas", steward::clock::Clock::now(&clock));
    clock.jump(Duration::from_secs(3600));
    advance(Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert!(
        b.is_healthy("nas", steward::clock::Clock::now(&clock)),
        "held back once"
    );
    tokio::time::sleep(Duration::from_secs(6)).await;
    m.stop().await;
    assert!(
        !b.is_healthy("nas", steward::clock::Clock::now(&clock)),
        "the re-check counts"
    );
}

#[tokio::test(start_paused = true)]
async fn rate_limited_and_our_own_bad_requests_are_not_provider_failures() {
    let b = cache(1);
    let limited: Arc<dyn Probe> = Arc::new(FnProbe(|| async {
        Ok(Verdict::RateLimited {
            retry_after: Some(Duration::from_secs(30)),
        })
    }));
    let ours: Arc<dyn Probe> = Arc::new(FnProbe(|| async {
        Ok(Verdict::Inconclusive {
            reason: "HTTP 400".into(),
        })
    }));
    let m = monitor(
        Arc::clone(&b),
        vec![("groq", limited), ("vllm", ours)],
        opts(30_000, 1000),
    );
    let reports = m.tick_once().await;
    assert_eq!(reports[0].outcome, Outcome::RateLimited);
    assert_eq!(reports[1].outcome, Outcome::Inconclusive);
    for id in ["groq", "vllm"] {
        assert!(
            b.is_healthy(id, clock_now()),
            "{id} must not be marked down"
        );
        assert_eq!(b.state(id).map_or(0, |s| s.consecutive_failures), 0);
    }
}

#[tokio::test(start_paused = true)]
async fn reload_adds_and_removes_providers_without_restarting() {
    let (a, count_a) = counter();
    let (c, count_c) = counter();
    let m = monitor(cache(2), vec![("a", a)], opts(1000, 100));
    m.start();
    tokio::time::sleep(Duration::from_millis(10)).await;
    m.set_targets(vec![ProbeTarget::new("c", c)]).unwrap();
    tokio::time::sleep(Duration::from_millis(3010)).await;
    m.stop().await;
    assert_eq!(count_a.load(Ordering::SeqCst), 1, "a was removed");
    assert_eq!(
        count_c.load(Ordering::SeqCst),
        4,
        "c probed at once, then every second"
    );
    assert_eq!(m.provider_ids(), vec!["c"]);
}

#[tokio::test(start_paused = true)]
async fn pausing_stops_new_probes_and_resuming_probes_at_once() {
    let (p, count) = counter();
    let m = monitor(cache(2), vec![("a", p)], opts(1000, 100));
    m.start();
    tokio::time::sleep(Duration::from_millis(10)).await;
    m.set_paused(true);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(count.load(Ordering::SeqCst), 1);
    m.set_paused(false);
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(count.load(Ordering::SeqCst), 2);
    m.stop().await;
}
