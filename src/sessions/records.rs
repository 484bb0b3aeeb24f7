//! The session pipeline's records: what a processor extracted from a file and how a run
//! ended, as stored by `store::session_state` and shown by the API.
//!
//! Owns: these data types and their arithmetic (adding token counts) and spelling (an
//! outcome as stored). Vocabulary only: it imports neither the store nor the components
//! that use it (processor, scheduler), so the store can depend on it without a cycle.
//! Does not own: reading files (`processor`), running processors (`scheduler`) or the SQL.

use serde::Serialize;
use std::collections::BTreeMap;

// ---------------------------------------------------------------------------------------
// What the usage processor extracts
// ---------------------------------------------------------------------------------------

/// Token counts (and how many records carried them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, ts_rs::TS)]
pub struct Tokens {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_creation: u64,
    /// Records (replies) that carried usage.
    pub messages: u64,
}

impl Tokens {
    pub fn add(&mut self, other: &Tokens) {
        self.input = self.input.saturating_add(other.input);
        self.output = self.output.saturating_add(other.output);
        self.cache_read = self.cache_read.saturating_add(other.cache_read);
        self.cache_creation = self.cache_creation.saturating_add(other.cache_creation);
        self.messages = self.messages.saturating_add(other.messages);
    }

    /// Every token, cached or not.
    pub fn total(&self) -> u64 {
        self.input
            .saturating_add(self.output)
            .saturating_add(self.cache_read)
            .saturating_add(self.cache_creation)
    }
}

/// What the usage processor read in one file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileUsage {
    /// Valid JSON lines.
    pub records: u64,
    /// Invalid JSON, not UTF-8, or longer than the usage processor's `MAX_LINE`.
    pub malformed: u64,
    /// Bytes after the last newline: being written, counted next time.
    pub partial_tail: u64,
    /// Tokens by (model, UTC day `YYYY-MM-DD`).
    pub usage: BTreeMap<(String, String), Tokens>,
}

impl FileUsage {
    /// Tokens by model, over all days.
    pub fn by_model(&self) -> BTreeMap<String, Tokens> {
        let mut out: BTreeMap<String, Tokens> = BTreeMap::new();
        for ((model, _), t) in &self.usage {
            out.entry(model.clone()).or_default().add(t);
        }
        out
    }
}

// ---------------------------------------------------------------------------------------
// How a run ended
// ---------------------------------------------------------------------------------------

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum ProcessorOutcome {
    /// Every due file was processed.
    Ok,
    /// At least one file failed, or the due files could not be listed.
    Failed,
    /// At least one file's processing panicked (or the run itself did).
    Panicked,
    /// Stopped by shutdown.
    Cancelled,
}

impl ProcessorOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            ProcessorOutcome::Ok => "ok",
            ProcessorOutcome::Failed => "failed",
            ProcessorOutcome::Panicked => "panicked",
            ProcessorOutcome::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<ProcessorOutcome> {
        [
            ProcessorOutcome::Ok,
            ProcessorOutcome::Failed,
            ProcessorOutcome::Panicked,
            ProcessorOutcome::Cancelled,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_round_trip() {
        for o in [
            ProcessorOutcome::Ok,
            ProcessorOutcome::Failed,
            ProcessorOutcome::Panicked,
            ProcessorOutcome::Cancelled,
        ] {
            assert_eq!(ProcessorOutcome::parse(o.as_str()), Some(o));
        }
        assert_eq!(ProcessorOutcome::parse("weird"), None);
    }

    #[test]
    fn tokens_add_up_without_overflowing_and_total_every_kind() {
        let mut t = Tokens {
            input: 1,
            output: 2,
            cache_read: 3,
            cache_creation: 4,
            messages: 1,
        };
        t.add(&t.clone());
        assert_eq!(t.total(), 20);
        assert_eq!(t.messages, 2);
        t.add(&Tokens {
            input: u64::MAX,
            ..Tokens::default()
        });
        assert_eq!(t.input, u64::MAX, "saturates");
    }

    #[test]
    fn usage_by_model_sums_the_days() {
        let day = |input| Tokens {
            input,
            messages: 1,
            ..Tokens::default()
        };
        let u = FileUsage {
            usage: [
                (("opus".into(), "2026-05-26".into()), day(10)),
                (("opus".into(), "2026-05-27".into()), day(5)),
                (("haiku".into(), "2026-05-27".into()), day(1)),
            ]
            .into(),
            ..FileUsage::default()
        };
        let by_model = u.by_model();
        assert_eq!(by_model["opus"].input, 15);
        assert_eq!(by_model["opus"].messages, 2);
        assert_eq!(by_model["haiku"].input, 1);
    }
}
