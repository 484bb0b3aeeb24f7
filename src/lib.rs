//! Steward's engine: everything that decides, with no GUI dependency.
//!
//! The Tauri shell (`src-tauri/`) and the headless server (`steward serve`) are adapters
//! over [`api::Api`]; neither holds logic of its own.
//!
//! # The dependency rule
//!
//! A file may import only from its own layer or the layers below it, and no import
//! circle may exist between files (checked by `tests/architecture.rs`, which reads every
//! `use crate::…` and `crate::…` path of `src/`, test modules excepted). From the top:
//!
//! 1. **adapters**: [`http`], `main.rs`, [`demo`] (and `src-tauri/`, another crate) —
//!    transport only; they call [`api`].
//! 2. **api**: [`api`] — the facade; the only `impl Api`; delegates to the engine's parts.
//! 3. **engine**: [`engine`] — builds the parts, spawns and stops their tasks, reloads the
//!    config, computes the whole-engine status; [`metrics`] — the whole engine read for a
//!    Prometheus scrape.
//! 4. **capabilities**: the wired parts, each owning its state and tasks, handed the
//!    parts below it: `sessions::pipeline` → `health::recorder` → `planner::intake` →
//!    `planner::planning` → `execute::executor`, `planner::alerts` (Alertmanager's
//!    webhook, a source beside the recorder: intake in, executor for stale proposals),
//!    [`retention`], [`gateway`] (the LLM gateway, beside them: it shares the
//!    breakers), and [`push`] (notices to ntfy and webhooks). A breaker trip flows
//!    one way: monitor → recorder (board, incident, events) → intake (gate) → planning
//!    (proposal) → executor (run, verify) → outbox.
//! 5. **shared**: [`context`] (config, clock, store, outbox, tasks), [`outbox`] (the
//!    one way an event is stored and pushed) and [`feed`] (one listener's coalesced copy
//!    of the pushed updates).
//! 6. **components**: the self-contained parts that do I/O but know nothing of the engine:
//!    `health::{monitor, probe, prober}`, `planner::router`, `execute::runner`,
//!    `sessions::{index, processor, scheduler, watcher}`, [`bus`], [`heap`].
//! 7. **store and config**: [`store`], [`config`].
//! 8. **vocabulary**: pure types and decisions: [`events`], [`clock`], [`pace`], [`error`],
//!    [`secret`], [`status`], [`notice`] (with `push::wire`), `health::{breaker, incidents, view}`,
//!    `planner::{alertmanager, event, gate, policy, prompt, proposal, rules}`, `execute::{state, group,
//!    live, actor}`, `sessions::{status, layout, view, records}`.
//!
//! To add a capability: put its pure rules in the vocabulary, its I/O in a component, and
//! its state and tasks in one capability file holding an `Arc<Context>` and the handles it
//! needs from below; build it in `engine::start`; expose it through `Api`; add its routes
//! to the adapters. See `docs/architecture.md`.

pub mod api;
pub mod bus;
pub mod clock;
pub mod config;
pub mod context;
pub mod demo;
pub mod engine;
pub mod error;
pub mod events;
pub mod execute;
pub mod feed;
pub mod gateway;
pub mod health;
pub mod heap;
pub mod http;
pub mod metrics;
pub mod notice;
pub mod outbox;
pub mod pace;
pub mod planner;
pub mod push;
pub mod retention;
pub mod secret;
pub mod sessions;
pub mod status;
pub mod store;

/// Logs to stderr, filtered by `STEWARD_LOG` (else `default_filter`). For the binaries.
pub fn init_logging(default_filter: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("STEWARD_LOG")
                .unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        .init();
}
