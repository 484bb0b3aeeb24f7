//! The life of a proposal, as a pure state machine.
//!
//! Owns: which status may follow which, and why not. Nothing here stores, runs or waits:
//! the caller applies a `Step` to the stored status inside one transaction and refuses the
//! change (HTTP 409) when `next` says no, which is also what makes two concurrent approvals
//! run the action once (only one of them finds the proposal `pending`).
//!
//! ```text
//! pending ──approve──► approved ──start──► running ──finish──► succeeded ──verify──► resolved
//!    │                    │                   │                    │                unresolved
//!    ├─reject──► rejected  ├─stale──► stale    ├─► failed | timed_out
//!    ├─expire──► expired   ├─interrupt─┐       └─interrupt──► interrupted
//!    └─stale───► stale     │           └──────────────────► interrupted
//!                          └─hand_off──► handed_off (another executor claimed its file)
//! ```

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pending,
    Approved,
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Rejected,
    Expired,
    /// The target had recovered by the time of the click, or the alert it was planned
    /// for resolved in Alertmanager while it waited: nothing ran.
    Stale,
    /// Steward stopped (crash, restart) while it was approved or running; never re-run.
    Interrupted,
    /// The run succeeded and the target was healthy again afterwards.
    Resolved,
    /// The run succeeded but the target was still unhealthy afterwards.
    Unresolved,
    /// Another executor claimed the action file first (README, "Action files"): Steward
    /// did not run it and does not touch its file any more.
    HandedOff,
}

pub const ALL: [Status; 13] = [
    Status::Pending,
    Status::Approved,
    Status::Running,
    Status::Succeeded,
    Status::Failed,
    Status::TimedOut,
    Status::Rejected,
    Status::Expired,
    Status::Stale,
    Status::Interrupted,
    Status::Resolved,
    Status::Unresolved,
    Status::HandedOff,
];

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Running => "running",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::TimedOut => "timed_out",
            Status::Rejected => "rejected",
            Status::Expired => "expired",
            Status::Stale => "stale",
            Status::Interrupted => "interrupted",
            Status::Resolved => "resolved",
            Status::Unresolved => "unresolved",
            Status::HandedOff => "handed_off",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Nothing follows a terminal status.
    pub fn is_terminal(self) -> bool {
        ALL.iter().all(|to| !allowed(self, *to))
    }
}

/// What happened to a proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// A person (or the auto-execution policy) said yes.
    Approve,
    Reject,
    /// Its time to live ran out while it waited.
    Expire,
    /// The click-time re-check found the target healthy, or its alert resolved.
    Stale,
    Start,
    /// The command ended: exit 0, anything else, or killed at the timeout.
    Finish(RunEnd),
    /// Found approved or running when Steward started again.
    Interrupt,
    /// The re-probe after a successful run.
    Verify {
        healthy: bool,
    },
    /// Its action file was claimed by another executor before Steward could claim it.
    HandOff,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunEnd {
    Ok,
    Failed,
    TimedOut,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a proposal that is {from} cannot be {verb}")]
pub struct Refused {
    pub from: &'static str,
    pub verb: &'static str,
}

fn verb(step: Step) -> &'static str {
    match step {
        Step::Approve => "approved",
        Step::Reject => "rejected",
        Step::Expire => "expired",
        Step::Stale => "marked stale",
        Step::Start => "started",
        Step::Finish(_) => "finished",
        Step::Interrupt => "interrupted",
        Step::Verify { .. } => "verified",
        Step::HandOff => "handed off",
    }
}

/// The status after `step`, or why the step is refused.
pub fn next(from: Status, step: Step) -> Result<Status, Refused> {
    use Status::*;
    let to = match (from, step) {
        (Pending, Step::Approve) => Some(Approved),
        (Pending, Step::Reject) => Some(Rejected),
        (Pending, Step::Expire) => Some(Expired),
        (Pending | Approved, Step::Stale) => Some(Stale),
        (Approved, Step::Start) => Some(Running),
        (Running, Step::Finish(RunEnd::Ok)) => Some(Succeeded),
        (Running, Step::Finish(RunEnd::Failed)) => Some(Failed),
        (Running, Step::Finish(RunEnd::TimedOut)) => Some(TimedOut),
        (Approved | Running, Step::Interrupt) => Some(Interrupted),
        (Succeeded, Step::Verify { healthy: true }) => Some(Resolved),
        (Succeeded, Step::Verify { healthy: false }) => Some(Unresolved),
        (Approved, Step::HandOff) => Some(HandedOff),
        _ => None,
    };
    to.ok_or(Refused {
        from: from.as_str(),
        verb: verb(step),
    })
}

/// Whether some step leads from `from` to `to`.
pub fn allowed(from: Status, to: Status) -> bool {
    STEPS.iter().any(|s| next(from, *s) == Ok(to))
}

pub const STEPS: [Step; 12] = [
    Step::Approve,
    Step::Reject,
    Step::Expire,
    Step::Stale,
    Step::Start,
    Step::Finish(RunEnd::Ok),
    Step::Finish(RunEnd::Failed),
    Step::Finish(RunEnd::TimedOut),
    Step::Interrupt,
    Step::Verify { healthy: true },
    Step::Verify { healthy: false },
    Step::HandOff,
];

#[cfg(test)]
mod tests {
    use super::*;
    use Status::*;

    /// Every (status, step) pair: the expected result, written out once, by hand.
    fn expected(from: Status, step: Step) -> Option<Status> {
        let table: &[(Status, Step, Status)] = &[
            (Pending, Step::Approve, Approved),
            (Pending, Step::Reject, Rejected),
            (Pending, Step::Expire, Expired),
            (Pending, Step::Stale, Stale),
            (Approved, Step::Stale, Stale),
            (Approved, Step::Start, Running),
            (Approved, Step::Interrupt, Interrupted),
            (Running, Step::Finish(RunEnd::Ok), Succeeded),
            (Running, Step::Finish(RunEnd::Failed), Failed),
            (Running, Step::Finish(RunEnd::TimedOut), TimedOut),
            (Running, Step::Interrupt, Interrupted),
            (Succeeded, Step::Verify { healthy: true }, Resolved),
            (Succeeded, Step::Verify { healthy: false }, Unresolved),
            (Approved, Step::HandOff, HandedOff),
        ];
        table
            .iter()
            .find(|(f, s, _)| *f == from && *s == step)
            .map(|(_, _, to)| *to)
    }

    #[test]
    fn every_status_and_step_is_as_the_table_says() {
        let mut allowed_pairs = 0;
        for from in ALL {
            for step in &STEPS {
                let got = next(from, *step).ok();
                assert_eq!(got, expected(from, *step), "{from:?} + {step:?}");
                allowed_pairs += usize::from(got.is_some());
            }
        }
        assert_eq!(allowed_pairs, 14);
    }

    #[test]
    fn allowed_knows_every_transition_of_the_table() {
        // `allowed` walks STEPS: a step missing there (as `Verify { healthy: false }` once
        // was) hides a transition such as succeeded → unresolved.
        for (from, to) in [
            (Succeeded, Unresolved),
            (Succeeded, Resolved),
            (Approved, HandedOff),
            (Running, TimedOut),
        ] {
            assert!(allowed(from, to), "{from:?} → {to:?}");
        }
        assert!(!allowed(Resolved, Unresolved));
    }

    #[test]
    fn terminal_statuses_accept_nothing() {
        let terminal: Vec<Status> = ALL.into_iter().filter(|s| s.is_terminal()).collect();
        assert_eq!(
            terminal,
            [
                Failed,
                TimedOut,
                Rejected,
                Expired,
                Stale,
                Interrupted,
                Resolved,
                Unresolved,
                HandedOff
            ]
        );
    }

    #[test]
    fn a_second_approval_is_refused_with_a_reason() {
        let approved = next(Pending, Step::Approve).unwrap();
        let again = next(approved, Step::Approve).unwrap_err();
        assert_eq!(
            again.to_string(),
            "a proposal that is approved cannot be approved"
        );
        assert_eq!(
            next(Rejected, Step::Approve).unwrap_err().to_string(),
            "a proposal that is rejected cannot be approved"
        );
    }

    #[test]
    fn nothing_runs_again_by_itself_after_an_interruption() {
        let i = next(Running, Step::Interrupt).unwrap();
        assert_eq!(
            next(i, Step::Start),
            Err(Refused {
                from: "interrupted",
                verb: "started"
            })
        );
        assert_eq!(
            next(i, Step::Approve).map(|_| ()).unwrap_err().from,
            "interrupted"
        );
    }

    #[test]
    fn names_round_trip() {
        for s in ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(Status::parse("bogus"), None);
    }
}
