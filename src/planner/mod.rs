//! The remediation planner: health events in, checked proposals out.
//!
//! # Layout
//! - [`event`]: `HealthEvent`, the two wire shapes, typed refusals.
//! - [`prompt`]: system and user messages for a model.
//! - [`router`]: the LLM chain with breaker-aware fallback and schema validation.
//! - [`rules`]: the deterministic `rules` planner.

pub mod event;
pub mod prompt;
pub mod router;
pub mod rules;

pub use event::{parse_event, parse_message, HealthEvent, Rejected};
pub mod gate;
pub mod policy;
pub mod proposal;
