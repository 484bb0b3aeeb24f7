//! The LLM gateway: one local endpoint for the workstation's other apps, in front of the
//! `[[models]]`, sharing the breakers with the probe loop and the planner.
//!
//! Owns: the gateway's listener (`[gateway] listen`, loopback by default; a change of it
//! needs a restart, routes and targets are read from the config at each request), its keys
//! (named, read from their environment variables at each request; the admin token is not
//! one), `POST /v1/chat/completions` (OpenAI wire), `POST /v1/messages` (Anthropic wire),
//! `GET /v1/models`; routing a request through its route's targets in order, skipping a
//! target whose provider's breaker is open (a half-open breaker's one trial is claimed by
//! at most one request); failover before the client sees a byte (connect error, timeout
//! for the answer or, streaming, for its first chunk, 429, 5xx, and a redirect, which is
//! never followed); passing 4xx answers back untouched (not held against the breaker);
//! marking the breaker with every outcome (real traffic trips it before the next probe
//! would); ending a stream cut after its first bytes with the wire format's error event
//! (never retried), and one that stalls (no chunk within the target's `timeout`) the same
//! way; `503` in the client's wire format, with what was tried and `Retry-After`, when no
//! target answered; and the counters of `GET /api/gateway`.
//! Does not own: the breakers' rules (`health::breaker`), the models' definitions
//! (`config`), translating between the wire formats (`gateway::translate`: text chat both
//! ways; a request with tools or images skips a target of the other format). A failover
//! is a `gateway_failover` event on the timeline; a breaker it trips, the usual breaker
//! event with the reason "from gateway traffic: …". The Gateway view in the UI reads
//! [`GatewayView`].
//! Request and response bodies are never stored; they are logged only with
//! `log_bodies = true` (the request, and a whole answer; not a stream's events). Upstream
//! keys are read from the environment at call time and never logged.

pub mod translate;
pub mod upstream;

use crate::config::{Config, ModelConfig};
use crate::context::Context;
use crate::events::EngineEvent;
use crate::health::breaker::{Breakers, FailureHints, Permit, Transition};
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use parking_lot::Mutex;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use translate::Format;

/// The Anthropic API version sent when the client names none.
const ANTHROPIC_VERSION: &str = "2023-06-01";
/// The largest answer read whole (non-streaming).
const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;
/// The latest latencies kept per target for its percentiles.
const LATENCIES: usize = 1024;
/// How long a stopping engine lets open requests and streams finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How long a client has to send a request's head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest `Retry-After` honoured from an upstream.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// The wire format of a request, and of its answers and errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wire {
    OpenAi,
    Anthropic,
}

impl Wire {
    fn format(self) -> Format {
        match self {
            Wire::OpenAi => Format::OpenAi,
            Wire::Anthropic => Format::Anthropic,
        }
    }

    fn of(model: &ModelConfig) -> Option<Wire> {
        match model.api.as_str() {
            "openai" => Some(Wire::OpenAi),
            "anthropic" => Some(Wire::Anthropic),
            _ => None,
        }
    }

    /// An error answer as this wire format writes one.
    fn error(self, status: StatusCode, kind: &str, message: &str) -> Response {
        let body = match self {
            Wire::OpenAi => {
                json!({"error": {"message": message, "type": kind, "code": Value::Null}})
            }
            Wire::Anthropic => {
                json!({"type": "error", "error": {"type": kind, "message": message}})
            }
        };
        (status, Json(body)).into_response()
    }

    /// The event that ends a stream cut after its first bytes.
    fn stream_error(self, message: &str) -> Bytes {
        let text = match self {
            Wire::OpenAi => format!(
                "data: {}\n\n",
                json!({"error": {"message": message, "type": "upstream_error"}})
            ),
            Wire::Anthropic => format!(
                "event: error\ndata: {}\n\n",
                json!({"type": "error", "error": {"type": "api_error", "message": message}})
            ),
        };
        Bytes::from(text)
    }
}

/// Counters of one target.
#[derive(Debug, Default)]
struct TargetStats {
    requests: u64,
    ok: u64,
    failed: u64,
    client_errors: u64,
    skipped: u64,
    latency_ms: VecDeque<f64>,
    first_chunk_ms: VecDeque<f64>,
}

fn push(ring: &mut VecDeque<f64>, v: f64) {
    if ring.len() >= LATENCIES {
        ring.pop_front();
    }
    ring.push_back(v);
}

fn percentile(ring: &VecDeque<f64>, p: f64) -> Option<f64> {
    if ring.is_empty() {
        return None;
    }
    let mut v: Vec<f64> = ring.iter().copied().collect();
    v.sort_by(f64::total_cmp);
    let i = ((v.len() - 1) as f64 * p).round() as usize;
    Some(v[i])
}

#[derive(Debug, Default)]
struct Stats {
    targets: BTreeMap<String, TargetStats>,
    /// Requests per key name (the app that sent them).
    apps: BTreeMap<String, u64>,
    failovers: u64,
    unavailable: u64,
    unauthorized: u64,
}

/// `GET /api/gateway`.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct GatewayView {
    pub listen: String,
    pub routes: Vec<GatewayRouteView>,
    pub targets: BTreeMap<String, GatewayTargetView>,
    /// Requests per gateway key name (the app it was given to).
    pub apps: BTreeMap<String, u64>,
    /// Times a target failed and the next one was tried.
    pub failovers: u64,
    /// `503`s: no target answered.
    pub unavailable: u64,
    pub unauthorized: u64,
}

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct GatewayRouteView {
    pub model: String,
    pub targets: Vec<String>,
}

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct GatewayTargetView {
    pub requests: u64,
    pub ok: u64,
    pub failed: u64,
    pub client_errors: u64,
    pub skipped: u64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Streaming: time to the first chunk.
    pub first_chunk_p50_ms: Option<f64>,
    pub first_chunk_p99_ms: Option<f64>,
}

/// One target's outcome for a request.
enum Forwarded {
    /// An answer for the client (2xx, or a 4xx that is the client's to read).
    Answer(Response, bool),
    /// Down, slow or overloaded: the next target is tried.
    Failed {
        error: String,
        retry_after: Option<Duration>,
    },
}

pub struct Gateway {
    ctx: Arc<Context>,
    breakers: Arc<Breakers>,
    upstream: upstream::Upstream,
    stats: Mutex<Stats>,
}

impl Gateway {
    pub fn new(ctx: Arc<Context>, breakers: Arc<Breakers>) -> Arc<Gateway> {
        Arc::new(Gateway {
            ctx,
            breakers,
            upstream: upstream::Upstream::default(),
            stats: Mutex::new(Stats::default()),
        })
    }

    /// The routes and counters.
    pub fn view(&self) -> Option<GatewayView> {
        let config = self.ctx.config();
        let g = config.gateway.as_ref()?;
        let stats = self.stats.lock();
        Some(GatewayView {
            listen: g.listen.to_string(),
            routes: g
                .routes
                .iter()
                .map(|r| GatewayRouteView {
                    model: r.model.clone(),
                    targets: r.targets.clone(),
                })
                .collect(),
            targets: stats
                .targets
                .iter()
                .map(|(id, t)| {
                    (
                        id.clone(),
                        GatewayTargetView {
                            requests: t.requests,
                            ok: t.ok,
                            failed: t.failed,
                            client_errors: t.client_errors,
                            skipped: t.skipped,
                            p50_ms: percentile(&t.latency_ms, 0.5),
                            p99_ms: percentile(&t.latency_ms, 0.99),
                            first_chunk_p50_ms: percentile(&t.first_chunk_ms, 0.5),
                            first_chunk_p99_ms: percentile(&t.first_chunk_ms, 0.99),
                        },
                    )
                })
                .collect(),
            apps: stats.apps.clone(),
            failovers: stats.failovers,
            unavailable: stats.unavailable,
            unauthorized: stats.unauthorized,
        })
    }

    fn router(self: &Arc<Self>, max_body: usize) -> Router {
        Router::new()
            .route("/v1/chat/completions", post(chat_completions))
            .route("/v1/messages", post(messages))
            .route("/v1/models", get(models))
            .layer(DefaultBodyLimit::max(max_body))
            .with_state(Arc::clone(self))
    }

    /// The key name of the request's key (`Authorization: Bearer` or `x-api-key`).
    fn app(&self, config: &Config, headers: &HeaderMap) -> Option<String> {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))?
            .trim();
        let g = config.gateway.as_ref()?;
        g.keys.iter().find_map(|k| {
            let expected = std::env::var(&k.env).ok().filter(|v| !v.is_empty())?;
            constant_time_eq(expected.as_bytes(), given.as_bytes()).then(|| k.name.clone())
        })
    }

    async fn handle(
        self: Arc<Self>,
        wire: Wire,
        headers: HeaderMap,
        body: Result<Bytes, BytesRejection>,
    ) -> Response {
        let config = self.ctx.config();
        let Some(app) = self.app(&config, &headers) else {
            self.stats.lock().unauthorized += 1;
            return wire.error(
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                "a gateway key is needed (Authorization: Bearer <key> or x-api-key)",
            );
        };
        let body = match body {
            Ok(b) => b,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return wire.error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "request_too_large",
                    "the request body is larger than [gateway] max_body",
                )
            }
            Err(e) => {
                return wire.error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    &e.body_text(),
                )
            }
        };
        let request: Value = match serde_json::from_slice(&body) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                return wire.error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    "the body is not a JSON object",
                )
            }
        };
        let gateway = config.gateway.as_ref();
        if gateway.is_some_and(|g| g.log_bodies) {
            tracing::info!(app, body = %request, "gateway request");
        }
        *self.stats.lock().apps.entry(app.clone()).or_default() += 1;
        let asked = request["model"].as_str().unwrap_or_default().to_owned();
        let targets: Vec<String> =
            match gateway.and_then(|g| g.routes.iter().find(|r| r.model == asked)) {
                Some(r) => r.targets.clone(),
                None if config.models.iter().any(|m| m.id == asked) => vec![asked.clone()],
                None => {
                    return wire.error(
                        StatusCode::NOT_FOUND,
                        "not_found_error",
                        &format!("no route or model {asked:?} (GET /v1/models lists them)"),
                    )
                }
            };
        let stream = request["stream"].as_bool().unwrap_or(false);
        let client_version = headers
            .get("anthropic-version")
            .and_then(|v| v.to_str().ok())
            .unwrap_or(ANTHROPIC_VERSION)
            .to_owned();
        let mut tried: Vec<String> = Vec::new();
        let mut retry_at: Option<DateTime<Utc>> = None;
        for (i, id) in targets.iter().enumerate() {
            let Some(model) = config.models.iter().find(|m| m.id == *id) else {
                continue;
            };
            let Some(target_wire) = Wire::of(model) else {
                self.count(id, |t| t.skipped += 1);
                tried.push(format!(
                    "{id}: skipped (api {:?} is neither wire format)",
                    model.api
                ));
                continue;
            };
            if target_wire != wire {
                if let Some(why) = translate::untranslatable(wire.format(), &request) {
                    self.count(id, |t| t.skipped += 1);
                    tried.push(format!(
                        "{id}: skipped (speaks the {} wire format: {why})",
                        model.api
                    ));
                    continue;
                }
            }
            let provider = model.provider.as_deref();
            let mut trial = false;
            if let Some(p) = provider {
                match self.gate(p, &mut trial) {
                    Ok(()) => {}
                    Err((why, until)) => {
                        self.count(id, |t| t.skipped += 1);
                        retry_at = Some(retry_at.map_or(until, |r| r.min(until)));
                        tried.push(format!("{id}: skipped ({why})"));
                        continue;
                    }
                }
            }
            self.count(id, |t| t.requests += 1);
            let started = Instant::now();
            let outcome = self
                .forward(
                    model,
                    (wire, target_wire),
                    &request,
                    stream,
                    &client_version,
                    gateway.is_some_and(|g| g.log_bodies),
                )
                .await;
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            match outcome {
                Forwarded::Answer(response, ok) => {
                    if ok {
                        if let Some(p) = provider {
                            let t = self.breakers.mark_healthy(p, self.ctx.now());
                            self.publish(&config, p, t).await;
                        }
                        self.count(id, |t| {
                            t.ok += 1;
                            push(
                                if stream {
                                    &mut t.first_chunk_ms
                                } else {
                                    &mut t.latency_ms
                                },
                                ms,
                            );
                        });
                    } else {
                        if let (Some(p), true) = (provider, trial) {
                            self.breakers.mark_inconclusive(p);
                        }
                        self.count(id, |t| t.client_errors += 1);
                    }
                    return response;
                }
                Forwarded::Failed { error, retry_after } => {
                    tracing::warn!(target = %id, app, error = %error, "gateway target failed");
                    if let Some(p) = provider {
                        let hints = FailureHints { retry_after };
                        // The reason the breaker (and the timeline, and the UI) shows.
                        let reason = format!("from gateway traffic: {error}");
                        let t =
                            self.breakers
                                .mark_unhealthy_with(p, &reason, hints, self.ctx.now());
                        self.publish(&config, p, t).await;
                    }
                    self.count(id, |t| t.failed += 1);
                    if let Some(next) = targets.get(i + 1) {
                        self.stats.lock().failovers += 1;
                        let event = EngineEvent::GatewayFailover {
                            route: asked.clone(),
                            target: id.clone(),
                            error: error.clone(),
                            next: next.clone(),
                        };
                        if let Err(e) = self.ctx.outbox.publish(event).await {
                            tracing::warn!(error = %e, "cannot record a gateway failover");
                        }
                    }
                    tried.push(format!("{id}: {error}"));
                }
            }
        }
        self.stats.lock().unavailable += 1;
        let mut response = wire.error(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded_error",
            &format!(
                "no target of {asked:?} answered: {}{}",
                tried.join("; "),
                retry_at.map_or(String::new(), |t| format!(
                    "; the earliest breaker half-opens at {} UTC",
                    t.format("%H:%M:%S")
                ))
            ),
        );
        if let Some(t) = retry_at {
            let secs = (t - self.ctx.now()).num_seconds().max(1);
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }

    fn count(&self, id: &str, f: impl FnOnce(&mut TargetStats)) {
        f(self.stats.lock().targets.entry(id.to_owned()).or_default());
    }

    /// Whether the provider's breaker lets this request through: `Err((why, half-open
    /// time))` to skip.
    fn gate(&self, provider: &str, trial: &mut bool) -> Result<(), (String, DateTime<Utc>)> {
        let now = self.ctx.now();
        let Some(state) = self.breakers.state(provider) else {
            return Ok(());
        };
        match self.breakers.acquire(provider, now).0 {
            Permit::Allowed => Ok(()),
            Permit::Trial => {
                *trial = true;
                Ok(())
            }
            Permit::Denied => {
                let state = self.breakers.state(provider).unwrap_or(state);
                Err(match state.open_until {
                    Some(until) if now < until => (
                        format!(
                            "breaker of {provider} open until {} UTC",
                            until.format("%H:%M:%S")
                        ),
                        until,
                    ),
                    _ => (
                        format!("breaker of {provider} half-open, its trial is in flight"),
                        state.trial_claimed_until.unwrap_or(now),
                    ),
                })
            }
        }
    }

    /// A breaker change caused by gateway traffic, on the timeline like the probe's.
    async fn publish(&self, config: &Config, provider: &str, t: Option<Transition>) {
        let (Some(t), Some(pc)) = (t, config.provider(provider)) else {
            return;
        };
        let event = EngineEvent::of_transition(pc, &t, None);
        if let Err(e) = self.ctx.outbox.publish(event).await {
            tracing::warn!(error = %e, "cannot record a breaker change from the gateway");
        }
    }

    /// One try of one target: `wires` is (the client's, the target's); the request and
    /// its answer are translated when they differ. `log_bodies`: a whole answer is logged
    /// as it goes back to the client.
    async fn forward(
        &self,
        model: &ModelConfig,
        wires: (Wire, Wire),
        request: &Value,
        stream: bool,
        anthropic_version: &str,
        log_bodies: bool,
    ) -> Forwarded {
        let (client, wire) = wires;
        let body = translate::request(client.format(), wire.format(), request, &model.model);
        let asked = request["model"].as_str().unwrap_or_default().to_owned();
        let base = model.url.trim_end_matches('/');
        let key = model
            .api_key_env
            .as_deref()
            .and_then(|v| std::env::var(v).ok())
            .filter(|k| !k.is_empty());
        let anthropic_headers = [("anthropic-version", anthropic_version)];
        let body = serde_json::to_vec(&body).unwrap_or_default();
        let call = match wire {
            Wire::OpenAi => upstream::Call {
                url: format!("{base}/chat/completions"),
                key: key.map(|k| (header::AUTHORIZATION, format!("Bearer {k}"))),
                headers: &[],
                body,
                stream,
            },
            Wire::Anthropic => upstream::Call {
                url: if base.ends_with("/v1") {
                    format!("{base}/messages")
                } else {
                    format!("{base}/v1/messages")
                },
                key: key.map(|k| (header::HeaderName::from_static("x-api-key"), k)),
                headers: &anthropic_headers,
                body,
                stream,
            },
        };
        let timeout = model.timeout;
        let started = Instant::now();
        let response = match tokio::time::timeout(timeout, self.upstream.send(call)).await {
            Err(_) => return failed(format!("no answer within {}", secs(timeout))),
            Ok(Err(e)) => return failed(e),
            Ok(Ok(r)) => r,
        };
        let status = response.status;
        if status.as_u16() == 429 || status.is_server_error() {
            let retry_after = response
                .headers
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER));
            return Forwarded::Failed {
                error: format!("HTTP {}", status.as_u16()),
                retry_after,
            };
        }
        if status.is_redirection() {
            // Not followed (the config says where the model is), and not the client's to
            // follow either: this target is not usable as configured.
            return failed(format!(
                "HTTP {} (a redirect, not followed)",
                status.as_u16()
            ));
        }
        let content_type = response
            .headers
            .get(header::CONTENT_TYPE)
            .cloned()
            .unwrap_or_else(|| HeaderValue::from_static("application/json"));
        let ok = status.is_success();
        if !ok || !stream {
            // Read whole, within what is left of the timeout: a failure here is still
            // before the client's first byte.
            let left = timeout.saturating_sub(started.elapsed());
            let read =
                tokio::time::timeout(left, response.body.read_bounded(MAX_ANSWER_BYTES)).await;
            let bytes = match read {
                Err(_) => return failed(format!("no whole answer within {}", secs(timeout))),
                Ok(Err(e)) => return failed(e),
                Ok(Ok(b)) => b,
            };
            if client == wire {
                if log_bodies {
                    log_answer(model, status, String::from_utf8_lossy(&bytes));
                }
                let mut r = (status, bytes).into_response();
                r.headers_mut().insert(header::CONTENT_TYPE, content_type);
                return Forwarded::Answer(r, ok);
            }
            let value: Value = match serde_json::from_slice(&bytes) {
                Ok(v) => v,
                Err(_) if ok => return failed("unreadable answer (not JSON)".into()),
                Err(_) => Value::Null,
            };
            if !ok {
                // The client's own error, said in its wire format.
                let message = value["error"]["message"]
                    .as_str()
                    .unwrap_or("the target refused the request");
                return Forwarded::Answer(
                    client.error(status, "invalid_request_error", message),
                    false,
                );
            }
            let answer = translate::answer(wire.format(), client.format(), &value);
            if log_bodies {
                log_answer(model, status, &answer);
            }
            return Forwarded::Answer((status, Json(answer)).into_response(), true);
        }
        // Streaming: the first chunk decides; after it, the client has bytes.
        let mut response = response.body;
        let left = timeout.saturating_sub(started.elapsed());
        let first = match tokio::time::timeout(left, response.chunk()).await {
            Err(_) => return failed(format!("no first chunk within {}", secs(timeout))),
            Ok(Ok(None)) => return failed("the stream ended before its first chunk".into()),
            Ok(Err(e)) => return failed(e),
            Ok(Ok(Some(b))) => b,
        };
        let rest = futures::stream::unfold(Some(response), |r| async move {
            let mut r = r?;
            match r.chunk().await {
                Ok(Some(b)) => Some((Ok::<Bytes, std::io::Error>(b), Some(r))),
                Ok(None) => None,
                Err(e) => Some((Err(std::io::Error::other(e)), None)),
            }
        })
        .boxed();
        // The client's format: the same bytes, or each chunk's events translated.
        let mut translator = (client != wire)
            .then(|| translate::Stream::new(wire.format(), client.format(), &asked));
        let first = match &mut translator {
            Some(t) => Bytes::from(t.feed(&first)),
            None => first,
        };
        // A cut after the first bytes, or no chunk within the target's timeout (a stalled
        // upstream): the client's error event, then the end.
        let body = futures::stream::once(async move { Ok(first) }).chain(futures::stream::unfold(
            (rest, translator, false),
            move |(mut rest, mut translator, done)| async move {
                if done {
                    return None;
                }
                let Ok(next) = tokio::time::timeout(timeout, rest.next()).await else {
                    let error = format!(
                        "the upstream stream stalled: no chunk for {}",
                        secs(timeout)
                    );
                    tracing::warn!("gateway stream ended: {error}");
                    return Some((Ok(client.stream_error(&error)), (rest, translator, true)));
                };
                match next {
                    None => {
                        let tail = translator.as_mut().map(|t| t.finish()).unwrap_or_default();
                        (!tail.is_empty()).then(|| {
                            (
                                Ok::<Bytes, std::io::Error>(Bytes::from(tail)),
                                (rest, translator, true),
                            )
                        })
                    }
                    Some(Ok(b)) => {
                        let b = match &mut translator {
                            Some(t) => Bytes::from(t.feed(&b)),
                            None => b,
                        };
                        Some((Ok(b), (rest, translator, false)))
                    }
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "gateway stream cut by the upstream");
                        Some((
                            Ok(client.stream_error(&format!("the upstream stream was cut: {e}"))),
                            (rest, translator, true),
                        ))
                    }
                }
            },
        ));
        let mut r = Response::new(Body::from_stream(body));
        *r.status_mut() = status;
        let content_type = if client == wire {
            content_type
        } else {
            HeaderValue::from_static("text/event-stream")
        };
        r.headers_mut().insert(header::CONTENT_TYPE, content_type);
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        Forwarded::Answer(r, true)
    }
}

/// A whole answer as it goes back to the client (`log_bodies = true` only).
fn log_answer(model: &ModelConfig, status: StatusCode, body: impl std::fmt::Display) {
    tracing::info!(target = %model.id, status = status.as_u16(), %body, "gateway answer");
}

fn failed(error: String) -> Forwarded {
    Forwarded::Failed {
        error,
        retry_after: None,
    }
}

fn secs(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

/// Compares keys in time that does not depend on where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn chat_completions(
    State(g): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    g.handle(Wire::OpenAi, headers, body).await
}

async fn messages(
    State(g): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    g.handle(Wire::Anthropic, headers, body).await
}

/// The route names and the models' ids, in the OpenAI list shape (both clients read it).
async fn models(State(g): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    let config = g.ctx.config();
    if g.app(&config, &headers).is_none() {
        g.stats.lock().unauthorized += 1;
        return Wire::OpenAi.error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "a gateway key is needed (Authorization: Bearer <key> or x-api-key)",
        );
    }
    let routes = config
        .gateway
        .iter()
        .flat_map(|g| g.routes.iter().map(|r| r.model.clone()));
    let data: Vec<Value> = routes
        .chain(config.models.iter().map(|m| m.id.clone()))
        .map(|id| json!({"id": id, "object": "model", "owned_by": "steward"}))
        .collect();
    Json(json!({"object": "list", "data": data})).into_response()
}

/// Serves the gateway on `listener` until `cancel`.
pub async fn serve(
    gateway: Arc<Gateway>,
    listener: TcpListener,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    let max_body = gateway
        .ctx
        .config()
        .gateway
        .as_ref()
        .map_or(crate::config::DEFAULT_GATEWAY_MAX_BODY, |g| g.max_body);
    let app = gateway.router(max_body);
    tracing::info!(addr = %listener.local_addr()?, "LLM gateway listening");
    // hyper's HTTP/1 server, not `axum::serve`: its HTTP/1-or-2 detection kept a second
    // read buffer per connection, 8 KiB for each open stream (docs/benchmarks.md). Clients
    // of an OpenAI or Anthropic endpoint speak HTTP/1.1.
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            () = cancel.cancelled() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, most likely: wait rather than spin.
                tracing::warn!(error = %e, "the LLM gateway cannot accept a connection");
                tokio::select! {
                    () = cancel.cancelled() => break,
                    () = tokio::time::sleep(Duration::from_millis(100)) => continue,
                }
            }
        };
        // Nagle off for the stream's small events; a socket that refuses still serves.
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let connection =
            graceful.watch(http.serve_connection(hyper_util::rt::TokioIo::new(stream), service));
        connections.spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "a gateway connection ended with an error");
            }
        });
    }
    drop(listener);
    // Open requests finish; streams get `SHUTDOWN_GRACE`, then their connections close.
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::info!(
            open = connections.len(),
            "LLM gateway: closing the streams still open"
        );
    }
    connections.shutdown().await;
    Ok(())
}

impl Wire {
    #[cfg(test)]
    fn all() -> [Wire; 2] {
        [Wire::OpenAi, Wire::Anthropic]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }

    #[test]
    fn percentiles_of_the_latest_latencies() {
        let mut ring = VecDeque::new();
        for v in 1..=100 {
            push(&mut ring, f64::from(v));
        }
        assert_eq!(percentile(&ring, 0.5), Some(51.0));
        assert_eq!(percentile(&ring, 0.99), Some(99.0));
        assert_eq!(percentile(&VecDeque::new(), 0.5), None);
    }

    #[test]
    fn a_cut_stream_ends_with_the_error_event_of_its_wire_format() {
        for wire in Wire::all() {
            let text = String::from_utf8(wire.stream_error("cut").to_vec()).unwrap();
            assert!(text.ends_with("\n\n"), "{text}");
            let data = text.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
            let v: Value = serde_json::from_str(data).unwrap();
            match wire {
                Wire::OpenAi => assert_eq!(v["error"]["message"], "cut"),
                Wire::Anthropic => {
                    assert!(text.starts_with("event: error\n"));
                    assert_eq!(v["error"]["message"], "cut");
                }
            }
        }
    }
}
