//! The output of the commands running now, for the window and the live stream.
//!
//! Owns: `LiveRuns` (per proposal: argv, start, the last 8 KiB of each stream, a version
//! bumped on every chunk) and its view `RunOutput`. In memory only: the finished run's
//! tails go to the audit.

use crate::execute::runner::{self, OutputStream, Tail};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// Output of the commands running now, per proposal, so a window opened mid-run sees it
/// too (the stream only carries what comes after).
#[derive(Default)]
pub struct LiveRuns(parking_lot::Mutex<HashMap<String, LiveRun>>);

struct LiveRun {
    argv: Vec<String>,
    started: DateTime<Utc>,
    stdout: Tail,
    stderr: Tail,
    /// Bumped on every chunk; the pusher sends when it moved.
    version: u64,
}

impl LiveRuns {
    pub fn begin(&self, action_id: &str, argv: &[String], now: DateTime<Utc>) {
        self.0.lock().insert(
            action_id.to_owned(),
            LiveRun {
                argv: argv.to_vec(),
                started: now,
                stdout: Tail::new(runner::DEFAULT_TAIL_BYTES),
                stderr: Tail::new(runner::DEFAULT_TAIL_BYTES),
                version: 0,
            },
        );
    }

    pub fn push(&self, action_id: &str, stream: OutputStream, data: &[u8]) {
        if let Some(run) = self.0.lock().get_mut(action_id) {
            match stream {
                OutputStream::Stdout => run.stdout.push(data),
                OutputStream::Stderr => run.stderr.push(data),
            }
            run.version += 1;
        }
    }

    pub fn end(&self, action_id: &str) {
        self.0.lock().remove(action_id);
    }

    /// The run's output so far, when it changed since `seen` (which is updated).
    pub fn changed(
        &self,
        action_id: &str,
        seen: &mut u64,
        now: DateTime<Utc>,
    ) -> Option<RunOutput> {
        let runs = self.0.lock();
        let run = runs.get(action_id)?;
        if run.version == *seen {
            return None;
        }
        *seen = run.version;
        Some(run.view(action_id, now))
    }

    /// The `run` object of a proposal that is running now.
    pub fn run_json(&self, action_id: &str, now: DateTime<Utc>) -> Option<serde_json::Value> {
        let runs = self.0.lock();
        let view = runs.get(action_id)?.view(action_id, now);
        serde_json::to_value(view).ok()
    }
}

impl LiveRun {
    fn view(&self, action_id: &str, now: DateTime<Utc>) -> RunOutput {
        RunOutput {
            action_id: action_id.to_owned(),
            live: true,
            argv: self.argv.clone(),
            started_at: self.started,
            elapsed_ms: (now - self.started).num_milliseconds().max(0),
            stdout_tail: self.stdout.text(),
            stderr_tail: self.stderr.text(),
            truncated: self.stdout.truncated() || self.stderr.truncated(),
        }
    }
}

/// A running command's output so far (the last 8 KiB of each stream).
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq, ts_rs::TS)]
pub struct RunOutput {
    pub action_id: String,
    /// Always true: the command has not ended (the finished `run` has `end` instead).
    #[ts(type = "true")]
    pub live: bool,
    pub argv: Vec<String>,
    pub started_at: DateTime<Utc>,
    pub elapsed_ms: i64,
    pub stdout_tail: String,
    pub stderr_tail: String,
    pub truncated: bool,
}
