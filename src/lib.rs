//! Steward's engine: everything that decides, with no GUI dependency.
//!
//! The Tauri shell (`src-tauri/`) and the headless server (`steward serve`) are adapters
//! over [`api::Api`]; neither holds logic of its own.
//!
//! # Layout
//! - [`config`]: the TOML contract, validation with file/line/field, paths.
//! - [`clock`]: wall-clock seam (`Clock`), so decisions take `now`.
//! - [`health`]: breaker (pure state machine), probes (HTTP, TCP, LLM, command), monitor,
//!   incidents (root causes by `depends_on`, observer failures).
//! - [`store`]: SQLite (WAL, migrations): breaker state, probe history, events, proposals,
//!   cooldowns.
//! - [`events`]: the one typed event enum leaving the engine, and its stored form.
//! - [`planner`]: health events, the gate and cooldown, prompt, LLM router, rules
//!   planner, policy, proposals and their files (decisions, no engine state).
//! - [`planning`]: the planner wired into the engine: intake, planning tasks, proposals API.
//! - [`secret`]: secrets inside connection URLs: redacted for display, scrubbed from errors.
//! - [`bus`]: Redis pub/sub in (raw messages) and out (Steward's own events).
//! - [`execute`]: the proposal state machine (pure) and the command runner (no shell).
//! - [`executing`]: approval and execution wired in: approve/reject, runs, verification,
//!   auto-execution, expiry, the audit.
//! - [`sessions`]: the session pipeline's parts: watcher (notify), file index, processors
//!   (`usage`, `command`), scheduler, pipeline status (pure).
//! - [`pipeline`]: the session pipeline wired into the engine: watcher → index →
//!   processors, status transitions, `pipeline_stale` to the planner, the sessions API.
//! - [`retention`]: `[store] keep`: decided proposals, their audit and files, the
//!   timeline and event files, deleted once older (never pending work).
//! - [`engine`]: wires the parts, owns the tasks, reloads config; `Engine::start`.
//! - [`api`]: the facade every adapter calls: queries, commands, live updates.
//! - [`http`]: axum adapter for headless mode (routes call `api` only).
//! - [`demo`]: loopback demo services for `--demo`.

pub mod api;
pub mod bus;
pub mod clock;
pub mod config;
pub mod demo;
pub mod engine;
pub mod events;
pub mod execute;
pub mod executing;
pub mod health;
pub mod http;
pub mod pipeline;
pub mod planner;
pub mod planning;
pub mod retention;
pub mod secret;
pub mod sessions;
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
