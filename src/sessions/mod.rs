//! The session pipeline: session logs under `<root>/<user>/*.jsonl`, watched, indexed and
//! handed to processors; and the pipeline's health.
//!
//! # Layout
//! - [`watcher`]: `notify` glue: changes under the root, bridged into tokio, never dropped.
//! - [`layout`]: which paths are user directories and session files (names only).
//! - [`index`]: the file index in SQLite (size, mtime, content hash when they changed).
//! - [`processor`]: the built-in `usage` processor and the `command` processor.
//! - [`records`]: what processors extract and how runs end (vocabulary the store uses).
//! - [`scheduler`]: runs processors on their cadence and on changes, one run at a time each.
//! - [`status`]: the pipeline status (ok / warning / info), a pure function of its inputs.

pub mod index;
pub mod layout;
pub mod pipeline;
pub mod processor;
pub mod records;
pub mod scheduler;
pub mod status;
pub mod view;
pub mod watcher;
