//! The remediation planner: health events in, checked proposals out.
//!
//! Everything here decides and nothing here runs on its own: the engine's `planning`
//! module feeds events in and carries the results out.
//!
//! # Layout
//! - [`event`]: `HealthEvent`, the two wire shapes, typed refusals.
//! - [`gate`]: benign events, cooldown per `svc_key`, in-flight keys, flapping, counters.
//! - [`prompt`]: system and user messages for a model.
//! - [`router`]: the LLM chain with breaker-aware fallback and schema validation.
//! - [`rules`]: the deterministic `rules` planner.
//! - [`policy`]: the hard rules in code and the executor type/risk mapping.
//! - [`proposal`]: the proposal, its action file, the `events/` files.
//! - [`alertmanager`]: Alertmanager's webhook payload as health events, and the pure
//!   decisions that plan one occurrence of an alert once.
//!
//! And the wired parts (capabilities): [`intake`] (the one door), [`planning`] (one plan)
//! and [`alerts`] (Alertmanager as a source).

pub mod alertmanager;
pub mod alerts;
pub mod event;
pub mod gate;
pub mod intake;
pub mod planning;
pub mod policy;
pub mod prompt;
pub mod proposal;
pub mod router;
pub mod rules;

pub use event::{parse_event, parse_message, svc_key, HealthEvent, Rejected};
