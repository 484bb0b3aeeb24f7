//! Approval and execution: the life of a proposal and the runner of its command.
//!
//! # Layout
//! - [`state`]: the pure state machine of a proposal.
//! - [`runner`]: argv templates from config, run with no shell.
//! - [`group`]: a command's process group seen through `/proc` (alive, still ours).

pub mod actor;
pub mod executor;
pub mod group;
pub mod live;
pub mod runner;
pub mod state;
