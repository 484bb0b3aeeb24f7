//! `GET /metrics`: the engine in the Prometheus text exposition format (version 0.0.4).
//!
//! Owns: the metric families (every name prefixed `steward_`, each with its help text and
//! labels; README "Prometheus metrics" lists them), gathering them at scrape time from
//! each part's in-memory state ([`gather`] into a plain [`Snapshot`]), and encoding the
//! snapshot with `prometheus-client` ([`encode`], [`CONTENT_TYPE`]).
//! A scrape reads no database row per provider: providers, breakers, probe counts,
//! proposals, the intake, the bus and the gateway are all in memory; only the session
//! processors' backlog is counted in the store, at most every
//! `sessions::pipeline::SCRAPE_TTL` however often Prometheus scrapes.
//! Counters count from the process start in memory (retention, which prunes the stored
//! history, never lowers them; a restart is a counter reset to Prometheus). Gauges are
//! read at the scrape. An enum (a breaker's state, the overall state, the session
//! pipeline's status) is one series per value, 1 for the current one and 0 for the others.
//! Does not own: the counts (each part keeps its own: `health::tally`, the executor, the
//! intake's gate, the bus, the gateway) or who may scrape (`http`: the admin token, or the
//! scrape-only token named by `[http] metrics_token_env`).

use crate::bus::BusStatus;
use crate::engine::Engine;
use crate::execute::executor::ExecutorTally;
use crate::execute::state::RunEnd;
use crate::health::breaker::Phase;
use crate::health::monitor::Outcome;
use crate::health::tally::ProbeTally;
use crate::planner::gate::IntakeCounts;
use crate::sessions::status::PipelineLevel;
use crate::status::{ChannelState, ChannelView, Counts, Overall};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::fmt;

/// The `Content-Type` of [`encode`]'s text (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Every reason an input is refused (`planner::event::Rejected::kind`), listed at zero
/// before the first one so that `rate()` works from the start.
pub const REJECT_REASONS: [&str; 8] = [
    "too_large",
    "not_text",
    "invalid_json",
    "not_an_object",
    "missing_node",
    "missing_type",
    "bad_field",
    "control_characters",
];

/// Everything one scrape reports, read from the parts at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub node: String,
    pub version: &'static str,
    pub overall: Overall,
    pub counts: Counts,
    pub paused: bool,
    pub incidents: usize,
    pub storage_ok: bool,
    /// The enabled providers, in config order.
    pub providers: Vec<ProviderSample>,
    /// The fleet's probes by outcome since start.
    pub probes: Vec<(Outcome, u64)>,
    pub pending_proposals: i64,
    pub executor: ExecutorTally,
    pub intake: IntakeCounts,
    /// Planned events refused for a full plan queue.
    pub intake_overload: u64,
    /// `None` without `[sessions]`.
    pub sessions: Option<SessionsSample>,
    /// `None` without `[bus]`.
    pub bus: Option<BusStatus>,
    /// `None` without `[gateway]`.
    pub gateway: Option<GatewaySample>,
    /// The push channels (`[[notifications.channels]]`), in config order.
    pub channels: Vec<ChannelView>,
}

/// One enabled provider at the scrape.
#[derive(Debug, Clone)]
pub struct ProviderSample {
    pub id: String,
    pub node: String,
    pub service: String,
    pub kind: &'static str,
    /// Whether its last probe answered as it should; `None` before its first probe.
    pub up: Option<bool>,
    pub phase: Phase,
    pub consecutive_failures: u32,
    pub tally: ProbeTally,
}

/// The session pipeline at the scrape.
#[derive(Debug, Clone)]
pub struct SessionsSample {
    /// `None` while the first scan runs.
    pub level: Option<PipelineLevel>,
    pub processors: Vec<ProcessorSample>,
}

#[derive(Debug, Clone)]
pub struct ProcessorSample {
    pub name: String,
    /// Files due for it (new, or changed since it processed them).
    pub backlog: u64,
    pub running: bool,
}

/// The LLM gateway's counters since start.
#[derive(Debug, Clone, Default)]
pub struct GatewaySample {
    /// Per target (`[[models]]` id): requests sent to it, and how they went.
    pub targets: Vec<GatewayTargetSample>,
    /// Requests per gateway key name (the app it was given to).
    pub apps: Vec<(String, u64)>,
    pub failovers: u64,
    pub unavailable: u64,
    pub unauthorized: u64,
}

#[derive(Debug, Clone, Default)]
pub struct GatewayTargetSample {
    pub target: String,
    pub requests: u64,
    pub ok: u64,
    pub failed: u64,
    pub client_errors: u64,
    pub skipped: u64,
}

/// Reads every part's state now. In memory but for the session processors' backlog
/// (cached, see the module doc).
pub async fn gather(engine: &Engine) -> Snapshot {
    let status = engine.status();
    let config = engine.ctx.config();
    let now = engine.ctx.now();
    let mut providers = Vec::with_capacity(config.providers.len());
    engine.recorder.each_provider(&config, |p, state, live| {
        if !p.enabled {
            return;
        }
        providers.push(ProviderSample {
            id: p.id.clone(),
            node: p.node.clone(),
            service: p.service.clone(),
            kind: p.target.kind(),
            up: live.and_then(|l| l.last_outcome).map(Outcome::is_ok),
            phase: state.phase(now),
            consecutive_failures: state.consecutive_failures,
            tally: live.map(|l| l.tally.clone()).unwrap_or_default(),
        });
    });
    let sessions = match &engine.pipeline {
        Some(p) => Some(SessionsSample {
            level: p.level(),
            processors: p
                .processors_for_scrape()
                .await
                .into_iter()
                .map(|s| ProcessorSample {
                    name: s.name,
                    backlog: s.backlog,
                    running: s.running,
                })
                .collect(),
        }),
        None => None,
    };
    let intake = engine.intake.view();
    let gateway = engine.gateway.view().map(|g| GatewaySample {
        targets: g
            .targets
            .into_iter()
            .map(|(target, t)| GatewayTargetSample {
                target,
                requests: t.requests,
                ok: t.ok,
                failed: t.failed,
                client_errors: t.client_errors,
                skipped: t.skipped,
            })
            .collect(),
        apps: g.apps.into_iter().collect(),
        failovers: g.failovers,
        unavailable: g.unavailable,
        unauthorized: g.unauthorized,
    });
    Snapshot {
        node: status.node,
        version: status.version,
        overall: status.overall,
        counts: status.counts,
        paused: status.paused,
        incidents: status.incidents,
        storage_ok: status.storage.ok,
        providers,
        probes: engine.recorder.outcomes(),
        pending_proposals: status.pending_proposals,
        executor: engine.executor.tally(),
        intake: intake.counts,
        intake_overload: intake.overload,
        sessions,
        bus: status.bus,
        gateway,
        channels: status.channels,
    }
}

/// The exposition could not be written (`prometheus-client` refused a value).
#[derive(Debug, thiserror::Error)]
#[error("cannot encode the metrics: {0}")]
pub struct EncodeError(#[from] fmt::Error);

/// The snapshot in the Prometheus text format 0.0.4 ([`CONTENT_TYPE`]).
pub fn encode(snapshot: Snapshot) -> Result<String, EncodeError> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(snapshot));
    let mut text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)?;
    Ok(text)
}

impl Collector for Snapshot {
    fn encode(&self, mut d: DescriptorEncoder) -> fmt::Result {
        self.engine(&mut d)?;
        self.providers(&mut d)?;
        self.proposals(&mut d)?;
        self.intake(&mut d)?;
        self.sessions(&mut d)?;
        self.bus(&mut d)?;
        self.gateway(&mut d)?;
        self.push(&mut d)
    }
}

/// One family: its descriptor, then the series `series` writes.
fn family(
    d: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    series: impl FnOnce(&mut MetricEncoder) -> fmt::Result,
) -> fmt::Result {
    let mut m = d.encode_descriptor(name, help, None, kind)?;
    series(&mut m)
}

/// A family of one unlabelled gauge.
fn gauge(d: &mut DescriptorEncoder, name: &str, help: &str, v: i64) -> fmt::Result {
    family(d, name, help, MetricType::Gauge, |m| m.encode_gauge(&v))
}

/// A family of one unlabelled counter (`name` without `_total`: the encoder adds it).
fn counter(d: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> fmt::Result {
    family(d, name, help, MetricType::Counter, |m| count(m, v))
}

fn count(m: &mut MetricEncoder, v: u64) -> fmt::Result {
    m.encode_counter::<NoLabelSet, u64, u64>(&v, None)
}

fn labelled_gauge(m: &mut MetricEncoder, labels: &impl EncodeLabelSet, v: i64) -> fmt::Result {
    m.encode_family(labels)?.encode_gauge(&v)
}

fn labelled_count(m: &mut MetricEncoder, labels: &impl EncodeLabelSet, v: u64) -> fmt::Result {
    count(&mut m.encode_family(labels)?, v)
}

const PHASES: [Phase; 3] = [Phase::Closed, Phase::Open, Phase::HalfOpen];

/// The labels of a provider's gauges. (Its histogram and counter carry `provider` alone:
/// they are most of a scrape's lines at 10,000 providers; `steward_provider_info` joins
/// the rest on `provider`.)
fn provider_labels(p: &ProviderSample) -> [(&'static str, &str); 4] {
    [
        ("provider", p.id.as_str()),
        ("node", p.node.as_str()),
        ("service", p.service.as_str()),
        ("kind", p.kind),
    ]
}

fn overall_name(o: Overall) -> &'static str {
    o.as_str()
}

fn run_end_name(e: RunEnd) -> &'static str {
    // The status a run of that end leaves its proposal in.
    match e {
        RunEnd::Ok => "succeeded",
        RunEnd::Failed => "failed",
        RunEnd::TimedOut => "timed_out",
    }
}

impl Snapshot {
    fn engine(&self, d: &mut DescriptorEncoder) -> fmt::Result {
        family(
            d,
            "steward_info",
            "Steward's version and this workstation's node name (always 1).",
            MetricType::Gauge,
            |m| {
                let labels = [("version", self.version), ("node", self.node.as_str())];
                labelled_gauge(m, &labels, 1)
            },
        )?;
        family(
            d,
            "steward_overall_state",
            "The whole fleet's state: 1 for the current one (healthy, degraded, down), 0 for the others.",
            MetricType::Gauge,
            |m| {
                for o in [Overall::Healthy, Overall::Degraded, Overall::Down] {
                    let v = i64::from(o == self.overall);
                    labelled_gauge(m, &[("state", overall_name(o))], v)?;
                }
                Ok(())
            },
        )?;
        family(
            d,
            "steward_providers",
            "Configured providers by status (ok, warning, error: breaker open, disabled).",
            MetricType::Gauge,
            |m| {
                let c = &self.counts;
                for (status, n) in [
                    ("ok", c.ok),
                    ("warning", c.warning),
                    ("error", c.error),
                    ("disabled", c.disabled),
                ] {
                    labelled_gauge(m, &[("status", status)], n as i64)?;
                }
                Ok(())
            },
        )?;
        gauge(
            d,
            "steward_monitor_paused",
            "1 while probing is paused.",
            i64::from(self.paused),
        )?;
        gauge(
            d,
            "steward_incidents_open",
            "Open incidents (a root provider down, with the dependents that failed with it).",
            self.incidents as i64,
        )?;
        gauge(
            d,
            "steward_storage_ok",
            "1 while the database takes writes, 0 while it does not (events wait in memory).",
            i64::from(self.storage_ok),
        )
    }

    fn providers(&self, d: &mut DescriptorEncoder) -> fmt::Result {
        family(
            d,
            "steward_provider_info",
            "One series per enabled provider (always 1): join on provider for node, service and kind.",
            MetricType::Gauge,
            |m| {
                for p in &self.providers {
                    labelled_gauge(m, &provider_labels(p), 1)?;
                }
                Ok(())
            },
        )?;
        family(
            d,
            "steward_provider_up",
            "1 when the provider's last probe answered as it should, 0 when it did not; no series before its first probe.",
            MetricType::Gauge,
            |m| {
                for p in &self.providers {
                    if let Some(up) = p.up {
                        labelled_gauge(m, &provider_labels(p), i64::from(up))?;
                    }
                }
                Ok(())
            },
        )?;
        family(
            d,
            "steward_provider_breaker_state",
            "The provider's circuit breaker: 1 for its current state (closed, open, half_open), 0 for the others.",
            MetricType::Gauge,
            |m| {
                for p in &self.providers {
                    let [a, b, c, e] = provider_labels(p);
                    for phase in PHASES {
                        let set = [a, b, c, e, ("state", phase.as_str())];
                        labelled_gauge(m, &set, i64::from(phase == p.phase))?;
                    }
                }
                Ok(())
            },
        )?;
        family(
            d,
            "steward_provider_consecutive_failures",
            "Failed probes in a row since the provider's last good one.",
            MetricType::Gauge,
            |m| {
                for p in &self.providers {
                    let v = i64::from(p.consecutive_failures);
                    labelled_gauge(m, &provider_labels(p), v)?;
                }
                Ok(())
            },
        )?;
        family(
            d,
            "steward_probe_duration_seconds",
            "How long each probe took since start, whatever its outcome (a timeout counts with the time it took).",
            MetricType::Histogram,
            |m| {
                for p in &self.providers {
                    let t = &p.tally;
                    m.encode_family(&[("provider", p.id.as_str())])?
                        .encode_histogram::<NoLabelSet>(t.sum_secs(), t.count(), &t.buckets(), None)?;
                }
                Ok(())
            },
        )?;
        family(
            d,
            "steward_probe_failures",
            "Probes since start that did not answer as they should (down, timeout, error, inconclusive).",
            MetricType::Counter,
            |m| {
                for p in &self.providers {
                    labelled_count(m, &[("provider", p.id.as_str())], p.tally.failures())?;
                }
                Ok(())
            },
        )?;
        family(
            d,
            "steward_probes",
            "Probes of every provider since start, by outcome.",
            MetricType::Counter,
            |m| {
                for (outcome, n) in &self.probes {
                    labelled_count(m, &[("outcome", outcome.as_str())], *n)?;
                }
                Ok(())
            },
        )
    }

    fn proposals(&self, d: &mut DescriptorEncoder) -> fmt::Result {
        gauge(
            d,
            "steward_proposals_pending",
            "Proposals waiting for a decision now.",
            self.pending_proposals,
        )?;
        family(
            d,
            "steward_proposals",
            "Proposals that reached each status since start (a new proposal reaches pending).",
            MetricType::Counter,
            |m| {
                for (status, n) in &self.executor.reached {
                    labelled_count(m, &[("status", status.as_str())], *n)?;
                }
                Ok(())
            },
        )?;
        family(
            d,
            "steward_executions",
            "Remediation commands run since start, by how they ended (succeeded, failed, timed_out).",
            MetricType::Counter,
            |m| {
                for (end, n) in &self.executor.runs {
                    labelled_count(m, &[("outcome", run_end_name(*end))], *n)?;
                }
                Ok(())
            },
        )?;
        counter(
            d,
            "steward_auto_runs",
            "Proposals approved by the auto-execution policy (actor auto) since start.",
            self.executor.auto_runs,
        )?;
        counter(
            d,
            "steward_auto_runs_downgraded",
            "Automatic runs turned into notify since start: the service had used its hourly budget.",
            self.executor.auto_downgraded,
        )
    }

    fn intake(&self, d: &mut DescriptorEncoder) -> fmt::Result {
        let c = &self.intake;
        counter(
            d,
            "steward_intake_received",
            "Events received since start from every source (the bus, POST /api/events, the breakers, the session pipeline), valid or not.",
            c.received,
        )?;
        family(
            d,
            "steward_intake_rejected",
            "Input refused since start, by reason (invalid JSON, a missing node, a control character, too large, ...).",
            MetricType::Counter,
            |m| {
                for reason in REJECT_REASONS {
                    let n = c.rejected.get(reason).copied().unwrap_or(0);
                    labelled_count(m, &[("reason", reason)], n)?;
                }
                // A reason added to the parser and not to the list above still shows.
                for (reason, n) in &c.rejected {
                    if !REJECT_REASONS.contains(&reason.as_str()) {
                        labelled_count(m, &[("reason", reason.as_str())], *n)?;
                    }
                }
                Ok(())
            },
        )?;
        family(
            d,
            "steward_intake_not_planned",
            "Accepted events not planned since start, by reason.",
            MetricType::Counter,
            |m| {
                for (reason, n) in [
                    ("benign", c.benign),
                    ("cooldown", c.suppressed_cooldown),
                    ("in_flight", c.suppressed_in_flight),
                    ("incident", c.suppressed_incident),
                    ("unknown_target_limited", c.unknown_target_limited),
                    ("overload", self.intake_overload),
                    ("cooldowns_full", c.dropped_cooldowns_full),
                    ("in_flight_full", c.dropped_in_flight_full),
                ] {
                    labelled_count(m, &[("reason", reason)], n)?;
                }
                Ok(())
            },
        )
    }

    fn sessions(&self, d: &mut DescriptorEncoder) -> fmt::Result {
        let Some(s) = &self.sessions else {
            return Ok(());
        };
        family(
            d,
            "steward_session_pipeline_status",
            "The session pipeline's status: 1 for the current one (ok, info, warning), 0 for the others; no series while the first scan runs.",
            MetricType::Gauge,
            |m| {
                if let Some(level) = s.level {
                    for l in PipelineLevel::ALL {
                        labelled_gauge(m, &[("status", l.as_str())], i64::from(l == level))?;
                    }
                }
                Ok(())
            },
        )?;
        family(
            d,
            "steward_session_backlog_files",
            "Session files due for the processor (new, or changed since it processed them).",
            MetricType::Gauge,
            |m| {
                for p in &s.processors {
                    let v = i64::try_from(p.backlog).unwrap_or(i64::MAX);
                    labelled_gauge(m, &[("processor", p.name.as_str())], v)?;
                }
                Ok(())
            },
        )?;
        family(
            d,
            "steward_session_processor_running",
            "1 while the processor runs.",
            MetricType::Gauge,
            |m| {
                for p in &s.processors {
                    labelled_gauge(m, &[("processor", p.name.as_str())], i64::from(p.running))?;
                }
                Ok(())
            },
        )
    }

    fn bus(&self, d: &mut DescriptorEncoder) -> fmt::Result {
        let Some(b) = &self.bus else {
            return Ok(());
        };
        gauge(
            d,
            "steward_bus_connected",
            "1 while the Redis subscriber is connected and subscribed.",
            i64::from(b.connected),
        )?;
        counter(
            d,
            "steward_bus_messages_received",
            "Messages received on the subscribed channels since start (oversized ones included).",
            b.received,
        )?;
        counter(
            d,
            "steward_bus_disconnects",
            "Subscribed sessions lost since start (what was published meanwhile never arrives).",
            b.disconnects,
        )?;
        counter(
            d,
            "steward_bus_events_published",
            "Events the Redis server accepted since start.",
            b.published,
        )?;
        counter(
            d,
            "steward_bus_events_dropped",
            "Events not published since start: queue full, too old, or refused by the server.",
            b.publish_dropped,
        )
    }

    fn push(&self, d: &mut DescriptorEncoder) -> fmt::Result {
        if self.channels.is_empty() {
            return Ok(());
        }
        family(
            d,
            "steward_push_notices",
            "Notices each push channel handled since start: sent, failed (given up after its retries, or at once when a retry cannot help), dropped (its queue was full).",
            MetricType::Counter,
            |m| {
                for c in &self.channels {
                    for (result, n) in [("sent", c.sent), ("failed", c.failed), ("dropped", c.dropped)] {
                        labelled_count(m, &[("channel", c.name.as_str()), ("result", result)], n)?;
                    }
                }
                Ok(())
            },
        )?;
        family(
            d,
            "steward_push_channel_failing",
            "1 while a push channel's last try failed (until it delivers again).",
            MetricType::Gauge,
            |m| {
                for c in &self.channels {
                    let failing = i64::from(c.state == ChannelState::Failing);
                    labelled_gauge(
                        m,
                        &[("channel", c.name.as_str()), ("kind", c.kind.as_str())],
                        failing,
                    )?;
                }
                Ok(())
            },
        )?;
        family(
            d,
            "steward_push_queued",
            "Notices waiting in each push channel's queue.",
            MetricType::Gauge,
            |m| {
                for c in &self.channels {
                    labelled_gauge(m, &[("channel", c.name.as_str())], c.queued as i64)?;
                }
                Ok(())
            },
        )
    }

    fn gateway(&self, d: &mut DescriptorEncoder) -> fmt::Result {
        let Some(g) = &self.gateway else {
            return Ok(());
        };
        family(
            d,
            "steward_gateway_target_requests",
            "Requests the LLM gateway sent to each target ([[models]] id) since start.",
            MetricType::Counter,
            |m| {
                for t in &g.targets {
                    labelled_count(m, &[("target", t.target.as_str())], t.requests)?;
                }
                Ok(())
            },
        )?;
        family(
            d,
            "steward_gateway_target_results",
            "How each target's requests went since start: ok, failed (the next target was tried), client_error (4xx passed back), skipped (not sent: its breaker was open, or it cannot take the request's format).",
            MetricType::Counter,
            |m| {
                for t in &g.targets {
                    for (result, n) in [
                        ("ok", t.ok),
                        ("failed", t.failed),
                        ("client_error", t.client_errors),
                        ("skipped", t.skipped),
                    ] {
                        let labels = [("target", t.target.as_str()), ("result", result)];
                        labelled_count(m, &labels, n)?;
                    }
                }
                Ok(())
            },
        )?;
        family(
            d,
            "steward_gateway_app_requests",
            "Requests to the LLM gateway per key name (the app it was given to) since start.",
            MetricType::Counter,
            |m| {
                for (app, n) in &g.apps {
                    labelled_count(m, &[("app", app.as_str())], *n)?;
                }
                Ok(())
            },
        )?;
        counter(
            d,
            "steward_gateway_failovers",
            "Times a gateway target failed and the next one was tried, since start.",
            g.failovers,
        )?;
        counter(
            d,
            "steward_gateway_unavailable",
            "Gateway requests answered 503 since start: no target answered.",
            g.unavailable,
        )?;
        counter(
            d,
            "steward_gateway_unauthorized",
            "Gateway requests refused since start for a missing or wrong key.",
            g.unauthorized,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute::executor::RUN_ENDS;
    use crate::execute::state::ALL;
    use std::time::Duration;

    fn provider(id: &str, phase: Phase, probes: &[(u64, Outcome)]) -> ProviderSample {
        let mut tally = ProbeTally::default();
        for (ms, outcome) in probes {
            tally.observe(Duration::from_millis(*ms), *outcome);
        }
        ProviderSample {
            id: id.into(),
            node: "lab".into(),
            service: format!("{id}-svc"),
            kind: "http",
            up: probes.last().map(|(_, o)| o.is_ok()),
            phase,
            consecutive_failures: 0,
            tally,
        }
    }

    fn snapshot(providers: Vec<ProviderSample>) -> Snapshot {
        Snapshot {
            node: "lab".into(),
            version: "0.0.0",
            overall: Overall::Degraded,
            counts: Counts::default(),
            paused: false,
            incidents: 0,
            storage_ok: true,
            providers,
            probes: Vec::new(),
            pending_proposals: 0,
            executor: ExecutorTally {
                reached: ALL.iter().map(|s| (*s, 0)).collect(),
                runs: RUN_ENDS.iter().map(|e| (*e, 0)).collect(),
                auto_runs: 0,
                auto_downgraded: 0,
            },
            intake: IntakeCounts::default(),
            intake_overload: 0,
            sessions: None,
            bus: None,
            gateway: None,
            channels: Vec::new(),
        }
    }

    fn lines_of<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
        text.lines().filter(|l| l.starts_with(prefix)).collect()
    }

    #[test]
    fn a_breaker_is_one_series_per_state_with_only_the_current_one_set() {
        let text = encode(snapshot(vec![
            provider("a", Phase::Closed, &[]),
            provider("b", Phase::HalfOpen, &[]),
        ]))
        .unwrap();
        let b = lines_of(&text, r#"steward_provider_breaker_state{provider="b""#);
        assert_eq!(b.len(), 3, "closed, open, half_open: {b:?}");
        assert!(b[0].ends_with(r#"state="closed"} 0"#), "{b:?}");
        assert!(b[1].ends_with(r#"state="open"} 0"#), "{b:?}");
        assert!(b[2].ends_with(r#"state="half_open"} 1"#), "{b:?}");
        assert!(
            lines_of(&text, "steward_provider_up{").is_empty(),
            "no up series before a first probe"
        );
        let overall = lines_of(&text, "steward_overall_state{");
        assert_eq!(
            overall,
            [
                r#"steward_overall_state{state="healthy"} 0"#,
                r#"steward_overall_state{state="degraded"} 1"#,
                r#"steward_overall_state{state="down"} 0"#,
            ]
        );
    }

    #[test]
    fn the_duration_histogram_is_cumulative_and_ends_with_every_probe() {
        let probes = [
            (3, Outcome::Up),
            (40, Outcome::Up),
            (3000, Outcome::Timeout),
        ];
        let text = encode(snapshot(vec![provider("a", Phase::Closed, &probes)])).unwrap();
        let buckets: Vec<u64> = lines_of(
            &text,
            r#"steward_probe_duration_seconds_bucket{provider="a""#,
        )
        .iter()
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
        assert_eq!(buckets.len(), 12, "11 bounds and +Inf");
        assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
        assert_eq!(
            (buckets[0], buckets[3], buckets[9]),
            (1, 2, 3),
            "{buckets:?}"
        );
        assert!(text.contains("steward_probe_duration_seconds_count{provider=\"a\"} 3\n"));
        assert!(text.contains("steward_probe_failures_total{provider=\"a\"} 1\n"));
        assert!(text.contains(
            "steward_provider_up{provider=\"a\",node=\"lab\",service=\"a-svc\",kind=\"http\"} 0\n"
        ), "the last probe timed out");
    }

    #[test]
    fn label_values_are_escaped() {
        let mut p = provider("a", Phase::Open, &[]);
        p.service = "say \"hi\"\\now".into();
        let text = encode(snapshot(vec![p])).unwrap();
        assert!(
            text.contains(r#"service="say \"hi\"\\now""#),
            "quotes and backslashes in a label value cannot break a line: {text}"
        );
    }
}
