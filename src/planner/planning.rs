//! Plans one admitted event and carries out the result.
//!
//! Owns: the plan of one event in four steps, each a function of its inputs: **route**
//! (the LLM chain through the router, breaker changes of the models recorded), **decide**
//! (the pure policy: confidence, protected nodes, flapping, enabled target, trusted
//! source), **persist** (proposal row, cooldown row, action file, `remediation_started`
//! file) and **announce** (timeline event, live update, bus message, and the automatic
//! run when the policy allows one). Also what planning restores at start: cooldowns and
//! action files that fell behind the database.
//! Does not own: the intake's gate and queue (`intake`), the decisions themselves
//! (`router`, `policy`, `rules`) or what happens to a proposal after it exists
//! (`execute::executor`).

use crate::config::Config;
use crate::context::Context;
use crate::events::EngineEvent;
use crate::execute::executor::{self, Executor};
use crate::execute::state::Status;
use crate::outbox::Update;
use crate::planner::alertmanager;
use crate::planner::gate::{Flaps, Gate};
use crate::planner::policy::{decide, Decision, Rules};
use crate::planner::prompt::{build_messages, Topology};
use crate::planner::proposal::{
    emit_event_as, write_action, write_pending_action, FsEvent, Proposal,
};
use crate::planner::router::{RouteResult, Router};
use crate::planner::rules::RULES_MODEL;
use crate::planner::HealthEvent;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;

/// What became of one plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Planned {
    /// A proposal was stored (its `action_id`).
    Proposed(String),
    /// The model said nothing needs doing (a cooldown was recorded).
    Ignored,
    /// No model answered usably, or the proposal could not be stored: no cooldown, the
    /// next event retries.
    Failed,
}

pub struct Planning {
    ctx: Arc<Context>,
    router: Router,
    gate: Arc<Mutex<Gate>>,
    flaps: Arc<Mutex<Flaps>>,
    executor: Arc<Executor>,
}

/// The chain from config; without one, every configured model in order, then `rules`.
pub fn chain_of(config: &Config) -> Vec<String> {
    match config.planner.as_ref().map(|p| &p.chain) {
        Some(chain) if !chain.is_empty() => chain.clone(),
        _ => config
            .models
            .iter()
            .map(|m| m.id.clone())
            .chain([RULES_MODEL.to_owned()])
            .collect(),
    }
}

/// The rules the policy applies to `event` at `now`.
fn rules_for(config: &Config, event: &HealthEvent, flapping: Option<usize>) -> Rules {
    let planner = config.planner.clone().unwrap_or_default();
    Rules {
        confidence_threshold: planner.confidence_threshold.unwrap_or(0.7),
        protected_nodes: planner.protected_nodes.clone(),
        flapping,
        target_enabled: config
            .providers
            .iter()
            .any(|c| c.enabled && c.node == event.node && c.service == event.service),
        untrusted_source: untrusted_source(config, event),
    }
}

/// The proposal a decision makes, `pending`, before the auto-run policy and the store.
fn proposal_of(
    event: &HealthEvent,
    d: &Decision,
    route: &RouteResult,
    model: &str,
    dependents: Vec<String>,
    now: DateTime<Utc>,
) -> Proposal {
    Proposal {
        action_id: Proposal::make_id(&event.node, &event.service, now),
        kind: d.kind,
        action: d.action.clone(),
        node: event.node.clone(),
        service: event.service.clone(),
        reason: d.reason.clone(),
        description: format!(
            "{} {} on {}: {}",
            d.action, event.service, event.node, d.reason
        ),
        confidence: d.confidence,
        requires_human: d.requires_human,
        risk_level: d.risk_level,
        status: Status::Pending,
        created_at: now,
        source_event: event.to_json(),
        llm_model: model.to_owned(),
        llm_attempts: route.attempts.clone(),
        overrides: d.overrides.clone(),
        dependents,
        latency_ms: route.latency_ms,
        decided_by: None,
        decided_at: None,
        status_detail: None,
        run: None,
        updated_at: None,
    }
}

impl Planning {
    pub fn new(
        ctx: Arc<Context>,
        router: Router,
        gate: Arc<Mutex<Gate>>,
        flaps: Arc<Mutex<Flaps>>,
        executor: Arc<Executor>,
    ) -> Arc<Planning> {
        Arc::new(Planning {
            ctx,
            router,
            gate,
            flaps,
            executor,
        })
    }

    /// Per-model counters of the router (successes, failures, junk answers, skips).
    pub fn model_stats(&self) -> serde_json::Value {
        serde_json::to_value(self.router.model_stats()).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot serialize the model counters");
            serde_json::Value::Null
        })
    }

    /// Plans one admitted event: route, decide, persist, announce.
    pub async fn plan(&self, event: HealthEvent, dependents: Vec<String>) -> Planned {
        let config = self.ctx.config();
        let Some((route, content)) = self.route(&config, &event).await else {
            return Planned::Failed;
        };
        let now = self.ctx.now();
        let key = event.svc_key();
        let flapping = self.flaps.lock().flapping(&key, now);
        let d = decide(&event, &content, &rules_for(&config, &event, flapping));
        let model = route.model_used.clone().unwrap_or_else(|| "unknown".into());
        if d.action == "ignore" {
            self.ignored(&event, &d, model, now).await;
            return Planned::Ignored;
        }
        let mut proposal = proposal_of(&event, &d, &route, &model, dependents, now);
        let auto_run = executor::auto_policy(&self.executor, &mut proposal);
        if !self.persist(&mut proposal, now).await {
            return Planned::Failed;
        }
        self.announce(&proposal, model).await;
        // An alert that resolved while a model thought about it needs nothing: the
        // resolution (`planner::alerts`) stored it before looking for pending proposals,
        // this looks after storing the proposal, so one of the two finds the other.
        if let Some(detail) = self.resolved_meanwhile(&event).await {
            if let Err(e) = self
                .executor
                .stale(&proposal.action_id, alertmanager::CHANNEL, &detail)
                .await
            {
                tracing::debug!(error = %e, action_id = %proposal.action_id, "not made stale");
            }
        } else if auto_run {
            executor::auto_run(&self.executor, &proposal).await;
        }
        Planned::Proposed(proposal.action_id)
    }

    /// For an event from Alertmanager whose alert has resolved since: the stale detail.
    async fn resolved_meanwhile(&self, event: &HealthEvent) -> Option<String> {
        let (fingerprint, starts_at) = alertmanager::occurrence_of(event)?;
        let known = match self.ctx.store.alert_record(&fingerprint).await {
            Ok(known) => known?,
            Err(e) => {
                tracing::warn!(error = %e, fingerprint, "cannot read what is known of an alert");
                return None;
            }
        };
        let ended = alertmanager::resolved_at(&known, starts_at)?;
        Some(alertmanager::stale_detail(&event.event_type, ended))
    }

    /// Asks the chain; breaker changes of the models go to the timeline. `None` (after
    /// recording the failure) when no model answered usably.
    async fn route(
        &self,
        config: &Config,
        event: &HealthEvent,
    ) -> Option<(RouteResult, serde_json::Value)> {
        let chain = chain_of(config);
        let topology = Topology::from_config(config);
        let messages = build_messages(event, &topology);
        let result = self
            .router
            .route(&chain, &config.models, event, &messages)
            .await;
        for (provider_id, t) in &result.transitions {
            if let Some(pc) = config.provider(provider_id) {
                let e = EngineEvent::of_transition(pc, t, None);
                if let Err(err) = self.ctx.outbox.publish(e).await {
                    tracing::warn!(error = %err, "cannot record a breaker change from the router");
                }
            }
        }
        if let Some(content) = result.content.clone() {
            return Some((result, content));
        }
        self.gate.lock().counts.planning_failed += 1;
        let error = result.failure_summary();
        tracing::warn!(svc_key = %event.svc_key(), "{error}");
        self.ctx.outbox.to_bus(
            "planning_failed",
            &event.node,
            &event.service,
            "warning",
            serde_json::json!({"error": error, "retry_at": result.retry_at}),
        );
        let e = EngineEvent::PlanningFailed {
            node: event.node.clone(),
            service: event.service.clone(),
            error,
            retry_at: result.retry_at,
        };
        if let Err(err) = self.ctx.outbox.publish(e).await {
            tracing::warn!(error = %err, "cannot record a planning failure");
        }
        None
    }

    /// The model said nothing needs doing: a cooldown, a count, the timeline and the bus.
    async fn ignored(&self, event: &HealthEvent, d: &Decision, model: String, now: DateTime<Utc>) {
        self.record_cooldown(&event.svc_key(), now).await;
        self.gate.lock().counts.ignored += 1;
        self.ctx.outbox.to_bus(
            "plan_ignored",
            &event.node,
            &event.service,
            "info",
            serde_json::json!({"reason": d.reason}),
        );
        let e = EngineEvent::PlanIgnored {
            node: event.node.clone(),
            service: event.service.clone(),
            reason: d.reason.clone(),
            model,
        };
        if let Err(err) = self.ctx.outbox.publish(e).await {
            tracing::warn!(error = %err, "cannot record an ignore");
        }
    }

    /// Stores the proposal (its id may change to stay unique), its cooldown and its files.
    /// False when it could not be stored: not stored means not proposed, no cooldown, and
    /// the next event retries.
    async fn persist(&self, proposal: &mut Proposal, now: DateTime<Utc>) -> bool {
        let key = crate::planner::svc_key(&proposal.node, &proposal.service);
        match self.ctx.store.insert_proposal(proposal).await {
            Ok(id) => proposal.action_id = id,
            Err(e) => {
                tracing::error!(error = %e, svc_key = %key, "cannot store a proposal");
                self.gate.lock().counts.planning_failed += 1;
                return false;
            }
        }
        self.record_cooldown(&key, now).await;
        self.executor.proposed();
        self.gate.lock().counts.proposals += 1;
        write_files(&self.ctx, proposal).await;
        true
    }

    /// A new proposal: the log, the bus, the live update and the timeline.
    async fn announce(&self, proposal: &Proposal, model: String) {
        tracing::info!(action_id = %proposal.action_id, "{}", proposal.summary());
        self.ctx.outbox.to_bus(
            "proposal_created",
            &proposal.node,
            &proposal.service,
            "info",
            proposal.to_action_file(),
        );
        self.ctx.outbox.send(Update::proposal(proposal));
        let e = EngineEvent::ProposalCreated {
            action_id: proposal.action_id.clone(),
            action: proposal.action.clone(),
            node: proposal.node.clone(),
            service: proposal.service.clone(),
            reason: proposal.reason.clone(),
            confidence: proposal.confidence,
            requires_human: proposal.requires_human,
            model,
            overrides: proposal.overrides.clone(),
        };
        if let Err(err) = self.ctx.outbox.publish(e).await {
            tracing::warn!(error = %err, "cannot record a proposal event");
        }
    }

    async fn record_cooldown(&self, key: &str, now: DateTime<Utc>) {
        let until = self.gate.lock().cooldowns.record(key, now);
        if let Err(e) = self.ctx.store.save_cooldown(key, until).await {
            tracing::warn!(error = %e, svc_key = key, "cannot save a cooldown; it holds until restart");
        }
    }

    /// A new cooldown period (a reload).
    pub fn set_cooldown(&self, period: Duration) {
        self.gate.lock().cooldowns.set_period(period);
    }

    /// Loads saved cooldowns (at start). A crash between storing a proposal and its
    /// cooldown or its action file loses neither: recent proposals hold their keys,
    /// pending ones get their file back.
    pub async fn restore(&self) -> Result<(), crate::store::StoreError> {
        let now = self.ctx.now();
        let saved = self.ctx.store.load_cooldowns(now).await?;
        {
            let mut gate = self.gate.lock();
            for (key, until) in saved {
                gate.cooldowns.restore(&key, until);
            }
        }
        let period = chrono::Duration::from_std(self.ctx.config().cooldown())
            .unwrap_or(chrono::Duration::minutes(5));
        let actions = self.ctx.actions_dir();
        for p in self.ctx.store.proposals(None, 1000).await? {
            let until = p.created_at + period;
            if until > now {
                let key = crate::planner::svc_key(&p.node, &p.service);
                let mut gate = self.gate.lock();
                if gate.cooldowns.is_ready(&key, now) {
                    gate.cooldowns.restore(&key, until);
                }
            }
            reconcile_action_file(&actions, &p);
        }
        Ok(())
    }
}

/// The event's source in words when it may not run a fix by itself: everything but
/// Steward's own sources (its breakers, its session pipeline, the token-protected API and
/// Alertmanager's webhook, which carries the same token), that is the Redis bus, unless
/// `[bus] trusted = true`.
fn untrusted_source(config: &Config, event: &HealthEvent) -> Option<String> {
    let own = matches!(
        event.raw_channel.as_str(),
        "breaker" | "sessions" | "api" | alertmanager::CHANNEL
    );
    let trusted = config.bus.as_ref().is_some_and(|b| b.trusted);
    (!own && !trusted).then(|| {
        format!(
            "the Redis bus (channel {:?}; [bus] trusted = false)",
            event.raw_channel
        )
    })
}

/// The action file and the `remediation_started` event, for external executors.
async fn write_files(ctx: &Context, proposal: &Proposal) {
    let actions = ctx.actions_dir();
    let events = ctx.events_dir();
    let p = proposal.clone();
    let now = ctx.now();
    let node = ctx.config().node.clone();
    let written = tokio::task::spawn_blocking(move || {
        let a = write_pending_action(&actions, &p)
            .map_err(|e| format!("action file in {}: {e}", actions.display()));
        let fs_event = FsEvent {
            event_type: "remediation_started",
            severity: "info",
            service: &p.service,
            correlation_id: &p.action_id,
            payload: serde_json::json!({"action": p.action, "type": p.kind, "node": p.node,
                                        "requires_human": p.requires_human}),
        };
        let e = emit_event_as(&events, &node, &fs_event, now)
            .map_err(|e| format!("event file in {}: {e}", events.display()));
        [a.err(), e.err()]
    })
    .await;
    match written {
        Ok(errors) => {
            for e in errors.into_iter().flatten() {
                tracing::warn!("cannot write {e}");
            }
        }
        Err(e) => tracing::warn!(error = %e, "writing proposal files failed"),
    }
}

/// A crash between a committed change and its file leaves the file behind: at start, a
/// file that is missing or says another status than the database is written again. A
/// handed-off proposal's file belongs to the executor that claimed it.
fn reconcile_action_file(actions: &std::path::Path, p: &Proposal) {
    // Approved and running proposals are settled by `executor::recover` right after,
    // which writes their files; a handed-off proposal's file belongs to its claimant.
    if matches!(
        p.status,
        Status::HandedOff | Status::Approved | Status::Running
    ) {
        return;
    }
    let path = crate::planner::proposal::action_path(actions, &p.action_id);
    let on_disk = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    let says = on_disk.as_ref().and_then(|v| v["status"].as_str());
    if says == Some(p.status.as_str()) || (on_disk.is_none() && p.status != Status::Pending) {
        // In step, or a decided proposal whose file is gone (pruned, or never written):
        // nothing an executor could act on.
        return;
    }
    match write_action(actions, p) {
        Ok(path) => {
            tracing::info!(path = %path.display(), status = %p.status, "rewrote an action file that was behind")
        }
        Err(e) => {
            tracing::warn!(error = %e, action_id = %p.action_id, "cannot rewrite an action file")
        }
    }
}
