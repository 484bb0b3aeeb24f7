//! Cost of a breaker decision: `is_healthy` is on every routed request's path.
//! `cargo bench --bench breaker`

use chrono::Utc;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::sync::Arc;
use std::time::{Duration, Instant};
use steward::health::breaker::Breakers;

fn registry(n: usize) -> Arc<Breakers> {
    let b = Arc::new(Breakers::default());
    let now = Utc::now();
    for i in 0..n {
        b.mark_healthy(&format!("provider-{i}"), now);
    }
    b.mark_unhealthy("provider-7", "down", now);
    b.mark_unhealthy("provider-7", "down", now);
    b
}

fn single_thread(c: &mut Criterion) {
    let b = registry(10_000);
    let now = Utc::now();
    c.bench_function("is_healthy/closed (10k registered)", |bench| {
        bench.iter(|| b.is_healthy(black_box("provider-4242"), black_box(now)))
    });
    c.bench_function("is_healthy/open (10k registered)", |bench| {
        bench.iter(|| b.is_healthy(black_box("provider-7"), black_box(now)))
    });
    c.bench_function("is_healthy/unknown (10k registered)", |bench| {
        bench.iter(|| b.is_healthy(black_box("nobody"), black_box(now)))
    });
    c.bench_function("mark_healthy (10k registered)", |bench| {
        bench.iter(|| b.mark_healthy(black_box("provider-4242"), black_box(now)))
    });
}

/// `threads` threads call `is_healthy` at once; the time reported is per call per thread.
fn contended(c: &mut Criterion) {
    let b = registry(10_000);
    let now = Utc::now();
    for (threads, same) in [(2, true), (4, true), (4, false)] {
        let name = format!(
            "is_healthy/{threads} threads, {} provider",
            if same { "same" } else { "different" }
        );
        c.bench_function(&name, |bench| {
            bench.iter_custom(|iters| {
                let start = Instant::now();
                std::thread::scope(|s| {
                    for t in 0..threads {
                        let b = Arc::clone(&b);
                        let id = if same {
                            "provider-4242".to_owned()
                        } else {
                            format!("provider-{}", 100 + t)
                        };
                        s.spawn(move || {
                            for _ in 0..iters {
                                black_box(b.is_healthy(black_box(&id), now));
                            }
                        });
                    }
                });
                start.elapsed()
            })
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = single_thread, contended
}
criterion_main!(benches);
