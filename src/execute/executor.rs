//! Approval and execution: decisions in, audited runs out.
//!
//! Owns: approve / reject (each one compare-and-set transition in SQLite, so two
//! concurrent approvals run a command once), the click-time re-check (a target that
//! answers again makes the proposal `stale`; so does its alert resolving while it
//! waits), the run (argv from config through `execute::runner`, no shell), the
//! verification re-probes, the auto-execution policy with its budget per service, expiry,
//! and marking work found approved or running at start as `interrupted` (never re-run by
//! itself). Every step writes an audit row, then
//! the action file, then the live update and the timeline event (through the outbox).
//! Also the proposal queries, since a running proposal carries its live output, and the
//! counts since start that `GET /metrics` reads ([`Executor::tally`]: proposals by the
//! status they reached, runs by how they ended, automatic runs and downgrades).
//! Does not own: which status may follow which (`execute::state`), how a command runs
//! (`execute::runner`), or how a target is probed (`health::prober`).

use crate::context::Context;
use crate::error::ApiError;
use crate::events::EngineEvent;
use crate::execute::group;
use crate::execute::live::LiveRuns;
use crate::execute::runner::{self, Known, OutputSink, RunOptions, SpawnHook};
use crate::execute::state::{next, RunEnd, Status, Step, ALL};
use crate::health::monitor::Outcome;
use crate::health::prober::Prober;
use crate::outbox::Update;
use crate::planner::policy::{ActionKind, Risk};
use crate::planner::proposal::{
    claim_action, emit_event_as, write_action, Claim, FsEvent, Proposal,
};
use crate::store::Execution;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The executor: one per engine, shared by its tasks.
pub struct Executor {
    ctx: Arc<Context>,
    prober: Prober,
    /// Output of the commands running now.
    live_runs: LiveRuns,
    /// Automatic runs per service in the last hour (the auto-execution budget).
    auto_runs: Mutex<AutoRuns>,
    /// Proposals waiting for a decision.
    pending: AtomicI64,
    /// Expiry ticks run and proposals they read ([`expire`]).
    expiry_ticks: AtomicU64,
    expiry_rows_read: AtomicU64,
    /// What happened since start, for `GET /metrics`.
    counters: Counters,
}

/// Counted since start (in memory, so retention never lowers them): proposals by the status
/// they reached, runs by how they ended, automatic approvals and downgrades.
#[derive(Debug, Default)]
struct Counters {
    /// Indexed like `state::ALL`; a new proposal reached `pending`.
    reached: [AtomicU64; ALL.len()],
    /// Indexed like [`RUN_ENDS`].
    runs: [AtomicU64; RUN_ENDS.len()],
    auto_runs: AtomicU64,
    auto_downgraded: AtomicU64,
}

/// Every way a run ends, in the order [`ExecutorTally::runs`] lists them.
pub const RUN_ENDS: [RunEnd; 3] = [RunEnd::Ok, RunEnd::Failed, RunEnd::TimedOut];

/// The executor's counters since start (`GET /metrics`).
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutorTally {
    /// Proposals that reached each status (every status listed, zero too).
    pub reached: Vec<(Status, u64)>,
    /// Commands run, by how they ended (every end listed).
    pub runs: Vec<(RunEnd, u64)>,
    /// Proposals the auto-execution policy approved (actor `auto`).
    pub auto_runs: u64,
    /// Automatic runs turned into `notify` because the service used its hourly budget.
    pub auto_downgraded: u64,
}

fn status_slot(status: Status) -> usize {
    ALL.iter()
        .position(|s| *s == status)
        .expect("state::ALL lists every status")
}

impl Executor {
    pub fn new(ctx: Arc<Context>, prober: Prober) -> Arc<Executor> {
        Arc::new(Executor {
            ctx,
            prober,
            live_runs: LiveRuns::default(),
            auto_runs: Mutex::new(AutoRuns::default()),
            pending: AtomicI64::new(0),
            expiry_ticks: AtomicU64::new(0),
            expiry_rows_read: AtomicU64::new(0),
            counters: Counters::default(),
        })
    }

    fn now(&self) -> DateTime<Utc> {
        self.ctx.now()
    }

    fn config(&self) -> Arc<crate::config::Config> {
        self.ctx.config()
    }

    /// Proposals waiting for a decision.
    pub fn pending(&self) -> i64 {
        self.pending.load(Ordering::SeqCst)
    }

    /// A new proposal was stored as `pending`.
    pub fn proposed(&self) {
        self.pending.fetch_add(1, Ordering::SeqCst);
        self.counters.reached[status_slot(Status::Pending)].fetch_add(1, Ordering::Relaxed);
    }

    /// What was counted since start (`GET /metrics`).
    pub fn tally(&self) -> ExecutorTally {
        let c = &self.counters;
        ExecutorTally {
            reached: ALL
                .iter()
                .zip(&c.reached)
                .map(|(s, n)| (*s, n.load(Ordering::Relaxed)))
                .collect(),
            runs: RUN_ENDS
                .iter()
                .zip(&c.runs)
                .map(|(e, n)| (*e, n.load(Ordering::Relaxed)))
                .collect(),
            auto_runs: c.auto_runs.load(Ordering::Relaxed),
            auto_downgraded: c.auto_downgraded.load(Ordering::Relaxed),
        }
    }

    /// At start: the pending count, and the budget of automatic runs from the audit (so a
    /// crash loop cannot reset it).
    pub async fn restore(&self) -> Result<(), crate::store::StoreError> {
        let pending = self.ctx.store.count_proposals(Status::Pending).await?;
        self.pending.store(pending, Ordering::SeqCst);
        let now = self.now();
        let recent = self
            .ctx
            .store
            .auto_approvals_since(now - chrono::Duration::hours(1))
            .await?;
        let mut runs = self.auto_runs.lock();
        for (key, at) in recent {
            runs.restore(&key, at);
        }
        Ok(())
    }
}

/// Automatic runs per service and hour before its proposals wait for a person.
pub const AUTO_BUDGET: usize = 3;
/// Services tracked by the auto-run budget at most (see `AutoRuns::take`).
pub const AUTO_KEYS: usize = 10_000;
/// The second verification probe comes this long after the first failed one.
pub const VERIFY_SETTLE: Duration = Duration::from_secs(5);

/// How often a running command's output is pushed to the UI at most.
pub const OUTPUT_PUSH_EVERY: Duration = Duration::from_millis(200);

/// Automatic runs per `svc_key`, for the budget.
#[derive(Debug, Default)]
pub struct AutoRuns(HashMap<String, VecDeque<DateTime<Utc>>>);

impl AutoRuns {
    /// Puts back a run found in the audit at start.
    pub fn restore(&mut self, key: &str, at: DateTime<Utc>) {
        self.0.entry(key.to_owned()).or_default().push_back(at);
    }

    /// Takes one run from the budget of `key`, if any is left. The map is keyed by event
    /// data, so it is bounded: when [`AUTO_KEYS`] services ran by themselves within the
    /// hour, a new one gets no automatic run (it waits for a person) rather than an old
    /// one losing its count.
    pub fn take(&mut self, key: &str, now: DateTime<Utc>) -> bool {
        let hour_ago = now - chrono::Duration::hours(1);
        if !self.0.contains_key(key) && self.0.len() >= AUTO_KEYS {
            self.0
                .retain(|_, runs| runs.back().is_some_and(|t| *t > hour_ago));
            if self.0.len() >= AUTO_KEYS {
                return false;
            }
        }
        let runs = self.0.entry(key.to_owned()).or_default();
        while runs
            .front()
            .is_some_and(|t| now - *t > chrono::Duration::hours(1))
        {
            runs.pop_front();
        }
        if runs.len() >= AUTO_BUDGET {
            return false;
        }
        runs.push_back(now);
        true
    }
}

fn audit(actor: &str, step: &str, detail: Option<String>) -> Execution {
    Execution {
        actor: actor.to_owned(),
        step: step.to_owned(),
        detail,
        ..Execution::default()
    }
}

/// Applies one step to a stored proposal and tells the world: the action file is
/// rewritten (where it is now) after every committed change, so a file never says
/// `pending` or `approved` about a proposal that moved on. `Conflict` when another step
/// got there first or the step is not allowed from the stored status.
async fn apply(
    ex: &Arc<Executor>,
    p: &Proposal,
    step: Step,
    patch: impl FnOnce(&mut Proposal),
    row: Execution,
) -> Result<Proposal, ApiError> {
    let from = p.status;
    let to = next(from, step).map_err(|e| ApiError::Conflict(e.to_string()))?;
    let now = ex.now();
    let moved = ex
        .ctx
        .store
        .transition(&p.action_id, from, to, now, patch, row)
        .await?
        .ok_or_else(|| {
            ApiError::Conflict(format!(
                "proposal {} is no longer {}",
                p.action_id,
                from.as_str()
            ))
        })?;
    ex.ctx.failpoint(&format!("after_{}", to.as_str()));
    if from == Status::Pending {
        ex.pending.fetch_sub(1, Ordering::SeqCst);
    }
    let counters = &ex.counters;
    counters.reached[status_slot(to)].fetch_add(1, Ordering::Relaxed);
    if let Step::Finish(end) = step {
        let slot = RUN_ENDS.iter().position(|e| *e == end).expect("every end");
        counters.runs[slot].fetch_add(1, Ordering::Relaxed);
    }
    // `approved` is written by the claim (`approve`), a handed-off file is not ours.
    if !matches!(to, Status::Approved | Status::HandedOff) {
        sync_file(ex, &moved).await;
    }
    announce(ex, &moved).await;
    Ok(moved)
}

/// The live update and the `proposal_changed` event of a proposal that changed.
async fn announce(ex: &Arc<Executor>, moved: &Proposal) {
    ex.ctx.outbox.send(Update::proposal(moved));
    let event = EngineEvent::ProposalChanged {
        action_id: moved.action_id.clone(),
        node: moved.node.clone(),
        service: moved.service.clone(),
        status: moved.status,
        actor: moved.decided_by.clone(),
        detail: moved.status_detail.clone(),
    };
    if let Err(e) = ex.ctx.outbox.publish(event).await {
        tracing::warn!(error = %e, "cannot record a proposal change");
    }
}

/// Rewrites the proposal's action file. A failure is logged; the file is put right at the
/// next change or at start (`planning::restore`).
async fn sync_file(ex: &Arc<Executor>, p: &Proposal) {
    let actions = ex.ctx.actions_dir();
    let p = p.clone();
    let id = p.action_id.clone();
    match tokio::task::spawn_blocking(move || write_action(&actions, &p)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, action_id = %id, "cannot rewrite the action file"),
        Err(e) => tracing::warn!(error = %e, action_id = %id, "rewriting the action file failed"),
    }
}

async fn load(ex: &Arc<Executor>, action_id: &str) -> Result<Proposal, ApiError> {
    ex.ctx
        .store
        .proposal(action_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no proposal {action_id:?}")))
}

/// The providers a proposal is about (same node and service).
fn targets(ex: &Arc<Executor>, p: &Proposal) -> Vec<String> {
    ex.config()
        .providers
        .iter()
        .filter(|c| c.enabled && c.node == p.node && c.service == p.service)
        .map(|c| c.id.clone())
        .collect()
}

/// Probes the targets now: `Some(true)` when every one answers, `None` without targets.
async fn targets_healthy(ex: &Arc<Executor>, ids: &[String]) -> Option<bool> {
    if ids.is_empty() {
        return None;
    }
    let mut all = true;
    for id in ids {
        all &= ex.prober.probe(id).await == Some(Outcome::Up);
    }
    Some(all)
}

impl Executor {
    /// Approves a pending proposal: checks its time to live at the click, claims its
    /// action file (so no other executor runs it too), re-checks the target, then runs its
    /// command in the background. Answers the proposal after the approval (or `stale`,
    /// `handed_off`); `Expired` when its time ran out, even if the expiry tick has not
    /// come round yet.
    pub async fn approve(
        self: &Arc<Self>,
        action_id: &str,
        actor: &str,
    ) -> Result<serde_json::Value, ApiError> {
        let p = load(self, action_id).await?;
        let now = self.now();
        if p.status == Status::Expired {
            return Err(ApiError::Expired(format!(
                "proposal {action_id} expired: {}",
                p.status_detail.unwrap_or_default()
            )));
        }
        if p.status == Status::Pending && is_due(&p, self.config().proposal_ttl(), now) {
            let expired = expire_one(self, &p).await?;
            return Err(ApiError::Expired(format!(
                "proposal {action_id} expired: {}",
                expired.status_detail.unwrap_or_default()
            )));
        }
        let approved = apply(
            self,
            &p,
            Step::Approve,
            |p| {
                p.decided_by = Some(actor.to_owned());
                p.decided_at = Some(now);
            },
            audit(actor, "approve", None),
        )
        .await?;
        let actions = self.ctx.actions_dir();
        let to_claim = approved.clone();
        let claim = tokio::task::spawn_blocking(move || claim_action(&actions, &to_claim))
            .await
            .map_err(std::io::Error::other)
            .and_then(|c| c);
        self.ctx.failpoint("after_claim");
        match claim {
            Ok(Claim::Ours) => {}
            Ok(Claim::Taken) => {
                let detail =
                    "another executor claimed its action file first: Steward did not run it"
                        .to_owned();
                let handed = apply(
                    self,
                    &approved,
                    Step::HandOff,
                    |p| p.status_detail = Some(detail.clone()),
                    audit(actor, "hand_off", Some(detail.clone())),
                )
                .await?;
                return Ok(handed.to_action_file());
            }
            Err(e) => {
                // Without a claim another executor could run it too: nothing runs here.
                let failed = refuse(
                    self,
                    &approved,
                    actor,
                    "claim_failed",
                    &format!("cannot claim the action file: {e}"),
                )
                .await;
                return Ok(failed.unwrap_or(approved).to_action_file());
            }
        }
        // Re-check at click time: a target that answers again needs nothing.
        let ids = targets(self, &approved);
        if targets_healthy(self, &ids).await == Some(true) {
            let detail = format!(
                "{} on {} answered again when approved: nothing ran",
                approved.service, approved.node
            );
            let stale = apply(
                self,
                &approved,
                Step::Stale,
                |p| p.status_detail = Some(detail.clone()),
                audit(actor, "stale", Some(detail.clone())),
            )
            .await?;
            return Ok(stale.to_action_file());
        }
        let ex = self.clone();
        let runner_actor = actor.to_owned();
        let run_p = approved.clone();
        self.ctx
            .spawn(async move { run_and_verify(&ex, run_p, &runner_actor).await });
        Ok(approved.to_action_file())
    }

    /// Rejects a pending proposal, with an optional reason.
    pub async fn reject(
        self: &Arc<Self>,
        action_id: &str,
        actor: &str,
        reason: Option<&str>,
    ) -> Result<serde_json::Value, ApiError> {
        let p = load(self, action_id).await?;
        let now = self.now();
        let reason = reason
            .map(|r| r.trim().chars().take(500).collect::<String>())
            .filter(|r| !r.is_empty());
        let rejected = apply(
            self,
            &p,
            Step::Reject,
            |p| {
                p.decided_by = Some(actor.to_owned());
                p.decided_at = Some(now);
                p.status_detail = reason.clone().map(|r| format!("rejected: {r}"));
            },
            audit(actor, "reject", reason.clone()),
        )
        .await?;
        Ok(rejected.to_action_file())
    }

    /// Marks a pending proposal `stale` because what it was for is over (its alert
    /// resolved): nothing runs for it. `detail` says why, `actor` who said so. `Conflict`
    /// when it is no longer pending (decided, or running already: a run is never cut
    /// short by this).
    pub async fn stale(
        self: &Arc<Self>,
        action_id: &str,
        actor: &str,
        detail: &str,
    ) -> Result<Proposal, ApiError> {
        let p = load(self, action_id).await?;
        if p.status != Status::Pending {
            return Err(ApiError::Conflict(format!(
                "proposal {action_id} is {}, not pending",
                p.status
            )));
        }
        apply(
            self,
            &p,
            Step::Stale,
            |q| q.status_detail = Some(detail.to_owned()),
            audit(actor, "stale", Some(detail.to_owned())),
        )
        .await
    }

    /// Audit rows, newest first.
    pub async fn executions(
        self: &Arc<Self>,
        action_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Execution>, ApiError> {
        Ok(self
            .ctx
            .store
            .executions(action_id, limit.clamp(1, 5000))
            .await?)
    }
}

/// Ends an approved proposal as `failed` without running anything (approved → running →
/// failed, so the audit shows the start that was refused and why).
async fn refuse(
    ex: &Arc<Executor>,
    p: &Proposal,
    actor: &str,
    code: &str,
    why: &str,
) -> Result<Proposal, ApiError> {
    let detail = format!("refused: {why}");
    tracing::warn!(action_id = %p.action_id, "{detail}");
    let running = apply(ex, p, Step::Start, |_| {}, audit(actor, "start", None)).await?;
    apply(
        ex,
        &running,
        Step::Finish(RunEnd::Failed),
        |q| q.status_detail = Some(detail.clone()),
        Execution {
            detail: Some(format!("{code}: {detail}")),
            ..audit(actor, "refused", None)
        },
    )
    .await
}

/// What one run ended with: its end, the detail for the proposal, the audit row, and the
/// process group it ran as (when a command started).
struct Ran {
    end: RunEnd,
    detail: String,
    row: Execution,
    pgid: Option<u32>,
}

/// The argv for a proposal: `None` for a kind that runs nothing (`notify`, `ignore`), the
/// refusal when its names or its template are not in the config. Pure.
fn command_for(
    config: &crate::config::Config,
    p: &Proposal,
) -> Result<Option<Vec<String>>, runner::Refusal> {
    if !runner::needs_command(p.kind.as_str()) {
        return Ok(None);
    }
    let none = std::collections::BTreeMap::new();
    let all = config.executor.as_ref().map_or(&none, |e| &e.commands);
    // The most specific template: `kind:node/service`, then `kind:service`, then `kind`.
    let templates: std::collections::BTreeMap<String, Vec<String>> =
        template_for(all, p.kind.as_str(), &p.node, &p.service)
            .map(|t| (p.kind.as_str().to_owned(), t.clone()))
            .into_iter()
            .collect();
    runner::build_argv(
        p.kind.as_str(),
        &p.node,
        &p.service,
        &templates,
        &Known::from_config(config),
    )
    .map(Some)
}

/// Runs an approved proposal's command, records the outcome, verifies the target.
async fn run_and_verify(ex: &Arc<Executor>, p: Proposal, actor: &str) {
    let config = ex.config();
    let timeout = config.executor_timeout();
    let argv = match command_for(&config, &p) {
        Ok(argv) => argv,
        Err(refusal) => {
            // `refuse` logs what went wrong; nothing else is left to do with its answer.
            let _ = refuse(ex, &p, actor, refusal.code(), &refusal.to_string()).await;
            return;
        }
    };
    let running = match apply(ex, &p, Step::Start, |_| {}, audit(actor, "start", None)).await {
        Ok(running) => running,
        Err(e) => {
            // Approved but never started (a concurrent step, or the database): say so.
            tracing::warn!(error = %e, action_id = %p.action_id, "cannot start an approved proposal");
            return;
        }
    };
    let ran = match &argv {
        // notify / ignore: the notification is the action.
        None => Ran {
            end: RunEnd::Ok,
            detail: format!("{}: nothing to run", p.kind),
            row: audit(actor, "run", None),
            pgid: None,
        },
        Some(argv) => run_command(ex, &running, argv, timeout, actor).await,
    };
    let Ran {
        end,
        detail,
        row,
        pgid,
    } = ran;
    let run_json = serde_json::json!({"argv": argv, "end": format!("{end:?}").to_lowercase(), "pgid": pgid,
                                      "exit_code": row.exit_code, "duration_ms": row.duration_ms,
                                      "stdout_tail": row.stdout_tail, "stderr_tail": row.stderr_tail});
    let finished = match apply(
        ex,
        &running,
        Step::Finish(end),
        |q| {
            q.status_detail = Some(detail.clone());
            q.run = Some(run_json);
        },
        row,
    )
    .await
    {
        Ok(finished) => finished,
        Err(e) => {
            tracing::warn!(error = %e, action_id = %p.action_id, "cannot record the end of a run");
            return;
        }
    };
    let outcome = if end == RunEnd::Ok && argv.is_some() {
        verify(ex, finished, actor).await
    } else {
        finished
    };
    finish_event(ex, &outcome).await;
}

/// Runs the command of a `running` proposal: its output streamed to the live view (pushed
/// at most every [`OUTPUT_PUSH_EVERY`]), its process group recorded as soon as it starts,
/// killed when the engine stops or the timeout passes.
async fn run_command(
    ex: &Arc<Executor>,
    running: &Proposal,
    argv: &[String],
    timeout: Duration,
    actor: &str,
) -> Ran {
    let id = &running.action_id;
    let live = &ex.live_runs;
    live.begin(id, argv, ex.now());
    let sink = {
        let ex = Arc::clone(ex);
        let id = id.clone();
        OutputSink::new(move |stream, data| ex.live_runs.push(&id, stream, data))
    };
    let (spawned_tx, mut spawned) = tokio::sync::mpsc::unbounded_channel();
    let opts = RunOptions {
        timeout,
        on_output: Some(sink),
        on_spawn: Some(SpawnHook::new(move |pid| {
            // Ignored on purpose: the receiver only goes away with this run.
            let _ = spawned_tx.send(pid);
        })),
        ..RunOptions::default()
    };
    let cancel = ex.ctx.cancel_token();
    let run = runner::run(argv, &opts, &cancel);
    tokio::pin!(run);
    let mut push = tokio::time::interval(OUTPUT_PUSH_EVERY);
    push.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seen = 0;
    let mut pgid = None;
    let result = loop {
        tokio::select! {
            result = &mut run => break result,
            Some(pid) = spawned.recv(), if pgid.is_none() => {
                pgid = Some(pid);
                record_group(ex, id, argv, pid).await;
            }
            _ = push.tick() => {
                if let Some(output) = live.changed(id, &mut seen, ex.now()) {
                    ex.ctx.outbox.send(Update::RunOutput { output });
                }
            }
        }
    };
    live.end(id);
    let (end, detail, row) = match result {
        Ok(out) => {
            let end = if out.timed_out {
                RunEnd::TimedOut
            } else if out.success() {
                RunEnd::Ok
            } else {
                RunEnd::Failed
            };
            let detail = match end {
                RunEnd::Ok => format!("{} exited 0 in {} ms", argv[0], out.duration_ms),
                RunEnd::TimedOut => format!("{} killed after {} s", argv[0], timeout.as_secs()),
                RunEnd::Failed => format!(
                    "{} failed (exit {:?}, signal {:?})",
                    argv[0], out.exit_code, out.signal
                ),
            };
            let row = Execution {
                argv: Some(argv.to_vec()),
                exit_code: out.exit_code.map(i64::from),
                signal: out.signal.map(i64::from),
                timed_out: Some(out.timed_out),
                duration_ms: Some(out.duration_ms as i64),
                stdout_tail: Some(out.stdout_tail.clone()),
                stderr_tail: Some(out.stderr_tail.clone()),
                ..audit(actor, "run", Some(detail.clone()))
            };
            (end, detail, row)
        }
        Err(e) => {
            let detail = format!("{}: {e}", e.code());
            let row = Execution {
                argv: Some(argv.to_vec()),
                ..audit(actor, "run", Some(detail.clone()))
            };
            (RunEnd::Failed, detail, row)
        }
    };
    Ran {
        end,
        detail,
        row,
        pgid,
    }
}

/// Records the process group of a command that just started (its pgid and the leader's
/// start time, to recognise it after a crash) on the proposal and in its action file.
async fn record_group(ex: &Arc<Executor>, action_id: &str, argv: &[String], pid: u32) {
    let now = ex.now();
    let run = serde_json::json!({
        "live": true,
        "pgid": pid,
        "pid_start_ticks": group::start_ticks(pid),
        "started_at": now.to_rfc3339(),
        "argv": argv,
    });
    match ex
        .ctx
        .store
        .patch_proposal(action_id, Status::Running, now, |q| q.run = Some(run))
        .await
    {
        Ok(Some(p)) => sync_file(ex, &p).await,
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(error = %e, action_id, pgid = pid, "cannot record the command's process group")
        }
    }
    ex.ctx.failpoint("after_spawn");
}

/// The template for one target: `kind:node/service`, else `kind:service`, else `kind`.
pub fn template_for<'a>(
    templates: &'a std::collections::BTreeMap<String, Vec<String>>,
    kind: &str,
    node: &str,
    service: &str,
) -> Option<&'a Vec<String>> {
    [
        format!("{kind}:{node}/{service}"),
        format!("{kind}:{service}"),
        kind.to_owned(),
    ]
    .iter()
    .find_map(|k| templates.get(k))
}

/// Re-probes the target at once and, if it is not back yet, once more after a while.
async fn verify(ex: &Arc<Executor>, p: Proposal, actor: &str) -> Proposal {
    let ids = targets(ex, &p);
    let mut healthy = targets_healthy(ex, &ids).await;
    if healthy == Some(false) {
        tokio::time::sleep(VERIFY_SETTLE).await;
        healthy = targets_healthy(ex, &ids).await;
    }
    let Some(healthy) = healthy else {
        return p; // Nothing to probe: the run's own result is all we know.
    };
    let detail = if healthy {
        format!("{} on {} answers again", p.service, p.node)
    } else {
        format!("{} on {} still does not answer", p.service, p.node)
    };
    apply(
        ex,
        &p,
        Step::Verify { healthy },
        |q| q.status_detail = Some(detail.clone()),
        audit(actor, "verify", Some(detail.clone())),
    )
    .await
    .unwrap_or(p)
}

/// `remediation_finished`: to the timeline, the events dir and the bus.
async fn finish_event(ex: &Arc<Executor>, p: &Proposal) {
    let event = EngineEvent::RemediationFinished {
        action_id: p.action_id.clone(),
        node: p.node.clone(),
        service: p.service.clone(),
        status: p.status,
        detail: p.status_detail.clone(),
    };
    if let Err(e) = ex.ctx.outbox.publish(event).await {
        tracing::warn!(error = %e, "cannot record remediation_finished");
    }
    ex.ctx.outbox.to_bus(
        "remediation_finished",
        &p.node,
        &p.service,
        "info",
        serde_json::json!({"action_id": p.action_id, "status": p.status, "detail": p.status_detail}),
    );
    let events = ex.ctx.events_dir();
    let e = FsEvent {
        event_type: "remediation_finished",
        severity: if matches!(p.status, Status::Resolved | Status::Succeeded) {
            "info"
        } else {
            "warning"
        },
        service: &p.service,
        correlation_id: &p.action_id,
        payload: serde_json::json!({"status": p.status, "detail": p.status_detail, "run": p.run}),
    };
    if let Err(err) = emit_event_as(&events, &ex.config().node, &e, ex.now()) {
        tracing::warn!(error = %err, "cannot write the remediation_finished event");
    }
}

/// Decides, before a new proposal is stored, whether it runs at once: not
/// `requires_human`, its risk in `auto_execute`, and an `[executor]` configured. A service
/// that used its budget of automatic runs this hour gets `notify` instead (recorded as an
/// override), so a flapping fix cannot loop.
pub fn auto_policy(ex: &Executor, p: &mut Proposal) -> bool {
    let config = ex.config();
    let Some(settings) = &config.executor else {
        return false;
    };
    // Only an absent key takes the default: `auto_execute = []` means never by itself.
    let allowed = settings.auto_levels().contains(&p.risk_level);
    if p.requires_human || !allowed {
        return false;
    }
    if !runner::needs_command(p.kind.as_str()) {
        return true;
    }
    let key = crate::planner::svc_key(&p.node, &p.service);
    if ex.auto_runs.lock().take(&key, ex.now()) {
        return true;
    }
    ex.counters.auto_downgraded.fetch_add(1, Ordering::Relaxed);
    p.overrides.push(format!(
        "action downgraded to notify: {AUTO_BUDGET} automatic runs for {key} in the last hour (was {})",
        p.action
    ));
    p.action = "notify".into();
    p.kind = ActionKind::Notify;
    p.risk_level = Risk::Low;
    true
}

/// Runs a new proposal that `auto_policy` allowed ("auto" in the audit).
pub async fn auto_run(ex: &Arc<Executor>, p: &Proposal) {
    match ex.approve(&p.action_id, "auto").await {
        Ok(_) => {
            ex.counters.auto_runs.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => {
            tracing::warn!(error = %e, action_id = %p.action_id, "automatic run refused")
        }
    }
}

/// A command's process group as recorded when it started (`run.pgid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RecordedGroup {
    pgid: i32,
    start: Option<u64>,
}

impl RecordedGroup {
    fn of(p: &Proposal) -> Option<RecordedGroup> {
        let run = p.run.as_ref()?;
        Some(RecordedGroup {
            pgid: i32::try_from(run.get("pgid")?.as_u64()?).ok()?,
            start: run.get("pid_start_ticks").and_then(|s| s.as_u64()),
        })
    }

    async fn alive(self) -> bool {
        tokio::task::spawn_blocking(move || group::alive(self.pgid, self.start))
            .await
            .unwrap_or(false)
    }
}

/// How often a command that outlived a crash is checked for its end.
const ORPHAN_POLL: Duration = Duration::from_secs(1);

/// At start: anything approved or running was cut off by a crash, and is never run again
/// by itself. Approved: nothing ran. Running, with its recorded process group still alive:
/// reported on the proposal ("still running as pgid N since …"), watched until it ends,
/// then `interrupted` and the target re-probed. Running and gone: `interrupted`, then
/// re-probed. Every finding is an audit row.
pub async fn recover(ex: &Arc<Executor>) -> Result<(), crate::store::StoreError> {
    for p in ex.ctx.store.proposals_with_status(Status::Approved).await? {
        let detail =
            "Steward stopped after the approval, before the command started; not run again"
                .to_owned();
        interrupt(ex, &p, detail).await;
    }
    for p in ex
        .ctx
        .store
        .proposals_with_status(Status::Succeeded)
        .await?
    {
        // The run ended well but its verification was cut off: verify now.
        let ex2 = ex.clone();
        ex.ctx.spawn(async move {
            let outcome = verify(&ex2, p, "steward").await;
            finish_event(&ex2, &outcome).await;
        });
    }
    for p in ex.ctx.store.proposals_with_status(Status::Running).await? {
        match RecordedGroup::of(&p) {
            Some(g) if g.alive().await => adopt(ex, p, g).await,
            Some(g) => {
                let detail = format!(
                    "Steward stopped while its command ran; the command (pgid {}) had ended \
                     when Steward started again, exit status unknown; not run again",
                    g.pgid
                );
                if let Some(p) = interrupt(ex, &p, detail).await {
                    spawn_verify_after_interrupt(ex, p);
                }
            }
            None => {
                let detail = "Steward stopped while it was starting the command, before its \
                              process group was recorded; not run again"
                    .to_owned();
                interrupt(ex, &p, detail).await;
            }
        }
    }
    Ok(())
}

async fn interrupt(ex: &Arc<Executor>, p: &Proposal, detail: String) -> Option<Proposal> {
    match apply(
        ex,
        p,
        Step::Interrupt,
        |q| q.status_detail = Some(detail.clone()),
        audit("steward", "interrupt", Some(detail.clone())),
    )
    .await
    {
        Ok(moved) => Some(moved),
        Err(e) => {
            tracing::warn!(error = %e, action_id = %p.action_id, "cannot mark a proposal interrupted");
            None
        }
    }
}

/// Records a finding about a proposal without changing its status (an audit row, the
/// detail, the file, the live update).
async fn annotate(
    ex: &Arc<Executor>,
    p: &Proposal,
    step: &str,
    detail: String,
) -> Option<Proposal> {
    let changed = ex
        .ctx
        .store
        .transition(
            &p.action_id,
            p.status,
            p.status,
            ex.now(),
            |q| q.status_detail = Some(detail.clone()),
            audit("steward", step, Some(detail.clone())),
        )
        .await;
    match changed {
        Ok(Some(moved)) => {
            sync_file(ex, &moved).await;
            announce(ex, &moved).await;
            Some(moved)
        }
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(error = %e, action_id = %p.action_id, "cannot record a finding");
            None
        }
    }
}

/// A command still running after a crash: said on the proposal, then watched (never
/// killed: it may be halfway through a deploy) until its group has ended.
async fn adopt(ex: &Arc<Executor>, p: Proposal, g: RecordedGroup) {
    let since = p
        .run
        .as_ref()
        .and_then(|r| r.get("started_at"))
        .and_then(|s| s.as_str())
        .unwrap_or("an unknown time")
        .to_owned();
    let detail = format!(
        "still running as pgid {} since {since} (Steward restarted meanwhile); watching it \
         until it ends; not run again",
        g.pgid
    );
    let Some(p) = annotate(ex, &p, "adopt", detail).await else {
        return;
    };
    let ex2 = ex.clone();
    ex.ctx.spawn(async move {
        let cancel = ex2.ctx.cancel_token();
        let mut tick = tokio::time::interval(ORPHAN_POLL);
        loop {
            tokio::select! {
                // Stopping again leaves it `running`: the next start adopts it again.
                () = cancel.cancelled() => return,
                _ = tick.tick() => if !g.alive().await { break },
            }
        }
        let detail = format!(
            "the command ran on as pgid {} after Steward restarted and ended by {}; exit \
             status unknown; not run again",
            g.pgid,
            ex2.now().to_rfc3339()
        );
        if let Some(p) = interrupt(&ex2, &p, detail).await {
            verify_after_interrupt(&ex2, p).await;
        }
    });
}

fn spawn_verify_after_interrupt(ex: &Arc<Executor>, p: Proposal) {
    let ex2 = ex.clone();
    ex.ctx
        .tracker()
        .spawn(async move { verify_after_interrupt(&ex2, p).await });
}

/// After a command whose end Steward did not see: re-probe the target and say what was
/// found (the status stays `interrupted`: the run's own result is unknown).
async fn verify_after_interrupt(ex: &Arc<Executor>, p: Proposal) {
    let ids = targets(ex, &p);
    let Some(healthy) = targets_healthy(ex, &ids).await else {
        return;
    };
    let found = if healthy {
        format!("{} on {} answers again", p.service, p.node)
    } else {
        format!("{} on {} still does not answer", p.service, p.node)
    };
    let detail = format!(
        "{}; re-probed: {found}",
        p.status_detail.clone().unwrap_or_default()
    );
    annotate(ex, &p, "verify", detail).await;
}

/// Whether a pending proposal's time to live has run out at `now`.
fn is_due(p: &Proposal, ttl: Duration, now: DateTime<Utc>) -> bool {
    let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::minutes(15));
    p.created_at + ttl <= now
}

/// Expires one pending proposal (by the tick, or at a click that came too late).
async fn expire_one(ex: &Arc<Executor>, p: &Proposal) -> Result<Proposal, ApiError> {
    let ttl = ex.config().proposal_ttl();
    let detail = format!("nobody decided within {} min", ttl.as_secs() / 60);
    apply(
        ex,
        p,
        Step::Expire,
        |q| q.status_detail = Some(detail.clone()),
        audit("steward", "expire", Some(detail.clone())),
    )
    .await
}

/// Proposals one expiry tick handles at most (the rest wait for the next tick, 2 s on).
pub const EXPIRE_BATCH: u32 = 500;

/// Expires pending proposals older than the TTL (called periodically). One tick reads
/// only the pending proposals that are due (`created_at <= now - ttl`, through the
/// `(status, created_at)` index), so its cost follows the number due, not the number
/// pending. Answers how many rows it read.
pub async fn expire(ex: &Arc<Executor>) -> usize {
    let ttl = ex.config().proposal_ttl();
    let cutoff =
        ex.now() - chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::minutes(15));
    ex.expiry_ticks.fetch_add(1, Ordering::Relaxed);
    let due = match ex.ctx.store.due_proposals(cutoff, EXPIRE_BATCH).await {
        Ok(due) => due,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the proposals due to expire");
            return 0;
        }
    };
    let read = due.len();
    ex.expiry_rows_read
        .fetch_add(read as u64, Ordering::Relaxed);
    for p in due {
        if let Err(e) = expire_one(ex, &p).await {
            // A decision that got there first is not a problem.
            tracing::debug!(error = %e, action_id = %p.action_id, "not expired");
        }
    }
    read
}

/// What the expiry ticks did since start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
pub struct ExpiryStats {
    pub ticks: u64,
    /// Proposals read by all ticks: the due ones, never the merely pending.
    pub rows_read: u64,
}

impl Executor {
    /// Runs one expiry tick now (what the engine does every 2 s); answers the number of
    /// proposals it read, which is the number due, whatever the number pending.
    pub async fn expire_due(self: &Arc<Self>) -> usize {
        expire(self).await
    }

    pub fn expiry_stats(&self) -> ExpiryStats {
        ExpiryStats {
            ticks: self.expiry_ticks.load(Ordering::Relaxed),
            rows_read: self.expiry_rows_read.load(Ordering::Relaxed),
        }
    }
}

impl Executor {
    /// Proposals, pending first; `status` filters (`all`, as the CLI says, or absent: every
    /// status); an unknown status is a `BadRequest` naming the known ones.
    pub async fn proposals(
        &self,
        status: Option<&str>,
        limit: u32,
    ) -> Result<Vec<serde_json::Value>, ApiError> {
        use crate::execute::state::ALL;
        let status = match status {
            None | Some("all") => None,
            Some(s) if Status::parse(s).is_some() => Status::parse(s),
            Some(s) => {
                let known: Vec<&str> = ALL.iter().map(|st| st.as_str()).collect();
                return Err(ApiError::BadRequest(format!(
                    "unknown status {s:?}: expected all or one of {}",
                    known.join(", ")
                )));
            }
        };
        let rows = self
            .ctx
            .store
            .proposals(status, limit.clamp(1, 1000))
            .await?;
        Ok(rows.iter().map(|p| self.with_live_run(p)).collect())
    }

    /// The action-file JSON; a running proposal carries its output so far as `run`.
    fn with_live_run(&self, p: &Proposal) -> serde_json::Value {
        let mut v = p.to_action_file();
        if p.status == Status::Running {
            if let Some(run) = self.live_runs.run_json(&p.action_id, self.now()) {
                v["run"] = run;
            }
        }
        v
    }

    pub async fn proposal(&self, action_id: &str) -> Result<serde_json::Value, ApiError> {
        self.ctx
            .store
            .proposal(action_id)
            .await?
            .map(|p| self.with_live_run(&p))
            .ok_or_else(|| ApiError::NotFound(format!("no proposal {action_id:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_specific_template_wins() {
        let t: std::collections::BTreeMap<String, Vec<String>> = [
            ("container_restart", "generic"),
            ("container_restart:mosquitto", "by-service"),
            ("container_restart:piha/mosquitto", "by-node-and-service"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), vec![v.to_owned()]))
        .collect();
        let pick =
            |n: &str, s: &str| template_for(&t, "container_restart", n, s).map(|v| v[0].as_str());
        assert_eq!(pick("piha", "mosquitto"), Some("by-node-and-service"));
        assert_eq!(pick("nas", "mosquitto"), Some("by-service"));
        assert_eq!(pick("nas", "nginx"), Some("generic"));
        assert_eq!(template_for(&t, "redeploy", "piha", "mosquitto"), None);
    }

    #[test]
    fn the_budget_allows_three_runs_an_hour_per_service() {
        let mut b = AutoRuns::default();
        let t0 = chrono::DateTime::from_timestamp(1_780_000_000, 0).unwrap();
        assert!((0..3).all(|_| b.take("lab/x", t0)));
        assert!(!b.take("lab/x", t0));
        assert!(b.take("lab/y", t0), "per service");
        assert!(b.take("lab/x", t0 + chrono::Duration::minutes(61)));
    }

    #[test]
    fn the_budget_tracks_a_bounded_number_of_services() {
        let mut b = AutoRuns::default();
        let t0 = chrono::DateTime::from_timestamp(1_780_000_000, 0).unwrap();
        for i in 0..AUTO_KEYS {
            assert!(b.take(&format!("n{i}/s"), t0));
        }
        assert!(
            !b.take("new/s", t0),
            "full of services that ran this hour: the new one waits for a person"
        );
        assert!(b.take("n0/s", t0), "a known one still has its budget");
        let later = t0 + chrono::Duration::minutes(61);
        assert!(
            b.take("new/s", later),
            "an hour on, the old ones are forgotten"
        );
        assert_eq!(b.0.len(), 1);
    }
}
