//! The LLM chain: asks each model in order until one gives a valid proposal.
//!
//! Owns: the wire formats (OpenAI-compatible chat completions, Anthropic Messages), the
//! breaker gate per model (a model whose provider's breaker is open is skipped), marking
//! that provider on the outcome of a call, extracting and validating the answer against
//! `PROPOSAL_SCHEMA`, and the record of every attempt.
//! Does not own: policy (the answer is checked again in code by `policy`).

use super::event::HealthEvent;
use super::prompt::Messages;
use super::rules::{self, RULES_MODEL};
use crate::clock::SharedClock;
use crate::config::ModelConfig;
use crate::health::breaker::{Breakers, FailureHints, Permit, Phase, Transition};
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

/// Each model tried is part of the proposal's record (`llm_attempts`).
pub use crate::planner::proposal::{Attempt, AttemptOutcome};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteResult {
    /// The validated proposal object, when a model gave one.
    pub content: Option<Value>,
    /// The raw text of the answer that was used.
    pub raw_text: Option<String>,
    /// The id of the model that answered.
    pub model_id: Option<String>,
    /// The model's own name (`qwen2.5:7b`, `claude-haiku-4-5-20251001`, `rules`).
    pub model_used: Option<String>,
    pub attempts: Vec<Attempt>,
    pub latency_ms: u64,
    /// When every model was skipped or failed: the earliest time a skipped model's breaker
    /// half-opens, if any was skipped.
    pub retry_at: Option<DateTime<Utc>>,
    /// Breaker transitions caused by marking providers (the caller publishes them).
    #[serde(skip)]
    pub transitions: Vec<(String, Transition)>,
}

impl RouteResult {
    pub fn succeeded(&self) -> bool {
        self.content.is_some()
    }

    /// One line for logs and events: "every model failed: local failed (HTTP 500), …".
    pub fn failure_summary(&self) -> String {
        let parts: Vec<String> = self
            .attempts
            .iter()
            .map(|a| match &a.error {
                Some(e) => format!("{} {:?} ({e})", a.model, a.outcome).to_lowercase(),
                None => format!("{} {:?}", a.model, a.outcome).to_lowercase(),
            })
            .collect();
        format!("every model failed: {}", parts.join(", "))
    }
}

/// A model's answer larger than this is refused (and counts against its provider).
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// The `anthropic-version` header sent with every Messages call.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// At most this many `{` are tried as the start of the answer's object (bounds the work on
/// a huge answer full of braces).
const MAX_JSON_CANDIDATES: usize = 256;

/// Error bodies are read this far, for the message and the JSON-mode check.
const MAX_ERROR_BODY_BYTES: usize = 8 * 1024;

/// A `Retry-After` longer than this is not believed.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// The shape every answer must have: `action` ∈ restart|redeploy|notify|ignore,
/// `confidence` in 0..1, `requires_human`, a non-empty `reason`; `node` and `service` are
/// optional strings; anything else is allowed (and ignored by the policy).
pub static PROPOSAL_SCHEMA: LazyLock<Value> = LazyLock::new(|| {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "proposal",
        "type": "object",
        "required": ["action", "confidence", "requires_human", "reason"],
        "properties": {
            "action": {"type": "string", "enum": ["restart", "redeploy", "notify", "ignore"]},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "requires_human": {"type": "boolean"},
            "reason": {"type": "string", "minLength": 1, "pattern": "\\S"},
            "node": {"type": "string"},
            "service": {"type": "string"}
        },
        "additionalProperties": true
    })
});

/// `PROPOSAL_SCHEMA`, compiled once.
static PROPOSAL_VALIDATOR: LazyLock<jsonschema::Validator> = LazyLock::new(|| {
    jsonschema::validator_for(&PROPOSAL_SCHEMA).expect("PROPOSAL_SCHEMA is a valid JSON Schema")
});

/// Checks an answer against `PROPOSAL_SCHEMA`. The error names each offending field:
/// `confidence: 1.4 is greater than the maximum of 1`.
pub fn validate_proposal(value: &Value) -> Result<(), String> {
    let errors: Vec<String> = PROPOSAL_VALIDATOR
        .iter_errors(value)
        .take(5)
        .map(|e| {
            let path = e
                .instance_path()
                .as_str()
                .trim_start_matches('/')
                .replace('/', ".");
            let message = truncate_chars(&e.to_string(), 200);
            if path.is_empty() {
                message
            } else {
                format!("{path}: {message}")
            }
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// Finds the proposal object in a model's answer: the whole text when it is one JSON
/// object, else the first balanced `{…}` that parses as a JSON object. Code fences and prose
/// around the object are tolerated; braces inside JSON strings are not counted.
pub fn extract_json(text: &str) -> Result<Value, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("empty answer".into());
    }
    if let Ok(v @ Value::Object(_)) = serde_json::from_str::<Value>(trimmed) {
        return Ok(v);
    }
    let mut first_error: Option<String> = None;
    let mut unclosed = false;
    for (tried, (start, _)) in trimmed.match_indices('{').enumerate() {
        if tried >= MAX_JSON_CANDIDATES {
            break;
        }
        let Some(end) = balanced_end(trimmed, start) else {
            unclosed = true;
            continue;
        };
        match serde_json::from_str::<Value>(&trimmed[start..end]) {
            Ok(v @ Value::Object(_)) => return Ok(v),
            Ok(_) => {}
            Err(e) => {
                first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    Err(match (first_error, unclosed) {
        (Some(e), _) => format!("no JSON object in the answer parses ({e})"),
        (None, true) => "the JSON object in the answer is cut off (a '{' never closes)".into(),
        (None, false) => format!(
            "no JSON object in the answer: {:?}",
            truncate_chars(trimmed, 80)
        ),
    })
}

/// The byte index just past the `}` that closes the `{` at `start`, counting only braces
/// outside JSON strings.
fn balanced_end(text: &str, start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, b) in text.as_bytes()[start..].iter().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(start + i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

/// What the router remembers about one model (served by the API as "model stats").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct ModelStats {
    pub success: u64,
    pub failed: u64,
    /// Answers that were junk: no JSON object, or a schema violation.
    pub invalid: u64,
    pub skipped: u64,
    pub last_outcome: Option<AttemptOutcome>,
    pub last_error: Option<String>,
    pub last_at: Option<DateTime<Utc>>,
}

/// Why a call gave no answer text.
#[derive(Debug)]
enum CallError {
    /// The provider misbehaved (unreachable, timeout, 5xx, 429, oversized or unreadable
    /// answer): counts against its breaker.
    Provider {
        error: String,
        retry_after: Option<Duration>,
    },
    /// Our configuration is wrong (401/403/404, bad API key, unknown `api`): not the
    /// provider's fault, so its breaker is left alone.
    Config(String),
}

impl CallError {
    fn provider(error: impl Into<String>) -> CallError {
        CallError::Provider {
            error: error.into(),
            retry_after: None,
        }
    }
}

/// Asks the models of a chain, in order, until one gives a valid proposal.
pub struct Router {
    breakers: Arc<Breakers>,
    clock: SharedClock,
    client: reqwest::Client,
    stats: Mutex<BTreeMap<String, ModelStats>>,
    /// Models (by id, url and name) that refused OpenAI JSON mode: asked without it since.
    no_json_mode: Mutex<HashSet<String>>,
}

impl Router {
    pub fn new(breakers: Arc<Breakers>, clock: SharedClock) -> Router {
        let client = reqwest::Client::builder()
            // The URLs in config are where the models are: no proxy from the environment,
            // and no redirects (they could carry the API key elsewhere).
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("steward/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "cannot build the LLM HTTP client; using defaults");
                reqwest::Client::new()
            });
        Router {
            breakers,
            clock,
            client,
            stats: Mutex::new(BTreeMap::new()),
            no_json_mode: Mutex::new(HashSet::new()),
        }
    }

    /// Per-model counters since start.
    pub fn model_stats(&self) -> BTreeMap<String, ModelStats> {
        self.stats.lock().clone()
    }

    /// Walks `chain` for one event. Each id is asked at most once; the first valid answer
    /// wins. `rules` is always the built-in rules planner (no HTTP, same validation).
    pub async fn route(
        &self,
        chain: &[String],
        models: &[ModelConfig],
        event: &HealthEvent,
        messages: &Messages,
    ) -> RouteResult {
        let started = Instant::now();
        let mut result = RouteResult {
            content: None,
            raw_text: None,
            model_id: None,
            model_used: None,
            attempts: Vec::new(),
            latency_ms: 0,
            retry_at: None,
            transitions: Vec::new(),
        };
        let mut seen: HashSet<&str> = HashSet::new();
        for id in chain {
            if !seen.insert(id.as_str()) {
                result.attempts.push(Attempt {
                    model: id.clone(),
                    outcome: AttemptOutcome::Skipped,
                    error: Some("already tried".into()),
                    latency_ms: 0,
                });
                tracing::debug!(model = %id, "model listed twice in the chain; skipped");
                continue;
            }
            let done = match models.iter().find(|m| &m.id == id) {
                _ if id == RULES_MODEL => self.ask_rules(event, &mut result),
                Some(model) => self.ask_model(model, messages, &mut result).await,
                None => {
                    let attempt = Attempt {
                        model: id.clone(),
                        outcome: AttemptOutcome::Failed,
                        error: Some("no model with this id".into()),
                        latency_ms: 0,
                    };
                    self.record(&attempt);
                    result.attempts.push(attempt);
                    false
                }
            };
            if done {
                result.retry_at = None;
                break;
            }
        }
        result.latency_ms = millis(started.elapsed());
        if !result.succeeded() {
            tracing::debug!(
                svc_key = %event.svc_key(),
                retry_at = ?result.retry_at,
                latency_ms = result.latency_ms,
                "{}",
                result.failure_summary()
            );
        }
        result
    }

    /// The rules planner: no HTTP, same validation.
    fn ask_rules(&self, event: &HealthEvent, result: &mut RouteResult) -> bool {
        let started = Instant::now();
        let content = rules::plan(event);
        let raw = content.to_string();
        let outcome = validate_proposal(&content);
        let latency_ms = millis(started.elapsed());
        self.finish(
            RULES_MODEL,
            RULES_MODEL,
            outcome.map(|()| (content, raw)),
            latency_ms,
            result,
        )
    }

    async fn ask_model(
        &self,
        model: &ModelConfig,
        messages: &Messages,
        result: &mut RouteResult,
    ) -> bool {
        let now = self.clock.now();
        let provider = model.provider.as_deref();
        let mut trial = false;
        if let Some(p) = provider {
            if let Some(skip) = self.breaker_gate(p, now, result, &mut trial) {
                let attempt = Attempt {
                    model: model.id.clone(),
                    outcome: AttemptOutcome::Skipped,
                    error: Some(skip),
                    latency_ms: 0,
                };
                tracing::warn!(model = %model.id, outcome = "skipped", error = ?attempt.error, "LLM attempt");
                self.record(&attempt);
                result.attempts.push(attempt);
                return false;
            }
        }

        let started = Instant::now();
        let timeout = model.timeout;
        let key = api_key(model);
        let call =
            match tokio::time::timeout(timeout, self.call(model, key.as_deref(), messages)).await {
                Ok(r) => r,
                Err(_) => Err(CallError::provider(format!(
                    "timed out after {}",
                    humantime::format_duration(timeout)
                ))),
            };
        let latency_ms = millis(started.elapsed());
        let now = self.clock.now();
        let scrub = |s: String| redact(s, key.as_deref());

        let answer = match call {
            Ok(text) => {
                if let Some(p) = provider {
                    if let Some(t) = self.breakers.mark_healthy(p, now) {
                        result.transitions.push((p.to_owned(), t));
                    }
                }
                let parsed = extract_json(&text)
                    .and_then(|v| validate_proposal(&v).map(|()| v))
                    .map_err(scrub);
                if let Err(e) = &parsed {
                    let answer = truncate_chars(&scrub(text.clone()), 500);
                    tracing::debug!(model = %model.id, error = %e, answer = %answer, "junk answer");
                }
                parsed.map(|v| (v, text))
            }
            Err(CallError::Provider { error, retry_after }) => {
                let error = scrub(error);
                if let Some(p) = provider {
                    let hints = FailureHints { retry_after };
                    if let Some(t) = self.breakers.mark_unhealthy_with(p, &error, hints, now) {
                        result.transitions.push((p.to_owned(), t));
                    }
                }
                return self.fail(model, error, latency_ms, result);
            }
            Err(CallError::Config(error)) => {
                let error = scrub(error);
                if let (Some(p), true) = (provider, trial) {
                    self.breakers.mark_inconclusive(p);
                }
                tracing::warn!(
                    model = %model.id,
                    url = %model.url,
                    error = %error,
                    "LLM call refused: a configuration problem (check the model's url, model name and API key); the provider's breaker is left alone"
                );
                return self.fail(model, error, latency_ms, result);
            }
        };
        self.finish(&model.id, &model.model, answer, latency_ms, result)
    }

    /// Whether the provider's breaker lets a call through. `Some(reason)` means skip.
    fn breaker_gate(
        &self,
        provider: &str,
        now: DateTime<Utc>,
        result: &mut RouteResult,
        trial: &mut bool,
    ) -> Option<String> {
        // Unknown providers are healthy; do not register them just by looking.
        let state = self.breakers.state(provider)?;
        if state.phase(now) == Phase::Closed {
            return None;
        }
        let (permit, transition) = self.breakers.acquire(provider, now);
        if let Some(t) = transition {
            result.transitions.push((provider.to_owned(), t));
        }
        match permit {
            Permit::Allowed => None,
            Permit::Trial => {
                *trial = true;
                None
            }
            Permit::Denied => {
                let state = self.breakers.state(provider).unwrap_or(state);
                let (until, why) = match state.open_until {
                    Some(until) if now < until => (
                        until,
                        format!(
                            "provider {provider} breaker open until {} UTC",
                            until.format("%H:%M:%S")
                        ),
                    ),
                    _ => {
                        let until = state.trial_claimed_until.unwrap_or(now);
                        (
                            until,
                            format!(
                                "provider {provider} breaker half-open, a trial call is in flight"
                            ),
                        )
                    }
                };
                result.retry_at = Some(result.retry_at.map_or(until, |r| r.min(until)));
                Some(why)
            }
        }
    }

    fn fail(
        &self,
        model: &ModelConfig,
        error: String,
        latency_ms: u64,
        result: &mut RouteResult,
    ) -> bool {
        let attempt = Attempt {
            model: model.id.clone(),
            outcome: AttemptOutcome::Failed,
            error: Some(error),
            latency_ms,
        };
        tracing::warn!(model = %model.id, outcome = "failed", latency_ms, error = ?attempt.error, "LLM attempt");
        self.record(&attempt);
        result.attempts.push(attempt);
        false
    }

    /// Records a call that produced an answer (valid or junk). True when it was valid.
    fn finish(
        &self,
        id: &str,
        model_name: &str,
        answer: Result<(Value, String), String>,
        latency_ms: u64,
        result: &mut RouteResult,
    ) -> bool {
        let (attempt, ok) = match answer {
            Ok((content, raw)) => {
                result.content = Some(content);
                result.raw_text = Some(raw);
                result.model_id = Some(id.to_owned());
                result.model_used = Some(model_name.to_owned());
                let attempt = Attempt {
                    model: id.to_owned(),
                    outcome: AttemptOutcome::Success,
                    error: None,
                    latency_ms,
                };
                tracing::info!(model = %id, outcome = "success", latency_ms, "LLM attempt");
                (attempt, true)
            }
            Err(error) => {
                tracing::warn!(model = %id, outcome = "invalid", latency_ms, error = %error, "LLM attempt");
                let attempt = Attempt {
                    model: id.to_owned(),
                    outcome: AttemptOutcome::Invalid,
                    error: Some(error),
                    latency_ms,
                };
                (attempt, false)
            }
        };
        self.record(&attempt);
        result.attempts.push(attempt);
        ok
    }

    fn record(&self, attempt: &Attempt) {
        let now = self.clock.now();
        let mut stats = self.stats.lock();
        let s = stats.entry(attempt.model.clone()).or_default();
        match attempt.outcome {
            AttemptOutcome::Success => s.success += 1,
            AttemptOutcome::Failed => s.failed += 1,
            AttemptOutcome::Invalid => s.invalid += 1,
            AttemptOutcome::Skipped => s.skipped += 1,
        }
        s.last_outcome = Some(attempt.outcome);
        if attempt.error.is_some() {
            s.last_error = attempt.error.clone();
        }
        s.last_at = Some(now);
    }

    /// One model call: the answer's text, or why there is none.
    async fn call(
        &self,
        model: &ModelConfig,
        key: Option<&str>,
        messages: &Messages,
    ) -> Result<String, CallError> {
        match model.api.as_str() {
            "openai" => self.call_openai(model, key, messages).await,
            "anthropic" => self.call_anthropic(model, key, messages).await,
            other => Err(CallError::Config(format!(
                "unknown api {other:?} (expected \"openai\" or \"anthropic\")"
            ))),
        }
    }

    async fn call_openai(
        &self,
        model: &ModelConfig,
        key: Option<&str>,
        messages: &Messages,
    ) -> Result<String, CallError> {
        let url = format!("{}/chat/completions", model.url.trim_end_matches('/'));
        let memo = format!("{}\u{0}{}\u{0}{}", model.id, model.url, model.model);
        let mut json_mode = !self.no_json_mode.lock().contains(&memo);
        loop {
            let mut body = json!({
                "model": model.model,
                "messages": messages.as_chat(),
                "temperature": 0,
            });
            if json_mode {
                body["response_format"] = json!({"type": "json_object"});
            }
            let mut request = self.client.post(&url).json(&body);
            if let Some(key) = key {
                request = request.header(
                    reqwest::header::AUTHORIZATION,
                    secret_header(&format!("Bearer {key}"))?,
                );
            }
            match self.exchange(request).await {
                Err(Refused {
                    status: 400, body, ..
                }) if json_mode && mentions_json_mode(&body) => {
                    tracing::info!(model = %model.id, "JSON mode (response_format) not supported; asking without it");
                    self.no_json_mode.lock().insert(memo.clone());
                    json_mode = false;
                }
                Err(refused) => return Err(refused.into_error(model)),
                Ok(Ok(wire)) => {
                    let message = wire
                        .pointer("/choices/0/message")
                        .filter(|m| m.is_object())
                        .ok_or_else(|| {
                            CallError::provider("unreadable answer: no choices[0].message")
                        })?;
                    return Ok(message
                        .get("content")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned());
                }
                Ok(Err(e)) => return Err(e),
            }
        }
    }

    async fn call_anthropic(
        &self,
        model: &ModelConfig,
        key: Option<&str>,
        messages: &Messages,
    ) -> Result<String, CallError> {
        let base = model.url.trim_end_matches('/');
        let url = if base.ends_with("/v1") {
            format!("{base}/messages")
        } else {
            format!("{base}/v1/messages")
        };
        let body = json!({
            "model": model.model,
            "max_tokens": 1024,
            "system": messages.system,
            "messages": [{"role": "user", "content": messages.user}],
        });
        let mut request = self
            .client
            .post(&url)
            .header("anthropic-version", ANTHROPIC_VERSION)
            .json(&body);
        if let Some(key) = key {
            request = request.header("x-api-key", secret_header(key)?);
        }
        let wire = match self.exchange(request).await {
            Err(refused) => return Err(refused.into_error(model)),
            Ok(r) => r?,
        };
        let blocks = wire
            .get("content")
            .and_then(Value::as_array)
            .ok_or_else(|| CallError::provider("unreadable answer: no content array"))?;
        Ok(blocks
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""))
    }

    /// Sends a request and reads its (bounded) JSON body. The outer `Err` is a non-2xx
    /// status with the start of its body; the inner `Err` everything else that went wrong.
    async fn exchange(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<Result<Value, CallError>, Refused> {
        let mut response = match request.send().await {
            Ok(r) => r,
            Err(e) => return Ok(Err(CallError::provider(describe(&e)))),
        };
        let status = response.status();
        if !status.is_success() {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER));
            let body = read_bounded(&mut response, MAX_ERROR_BODY_BYTES)
                .await
                .map(|(b, _)| b)
                .unwrap_or_default();
            return Err(Refused {
                status: status.as_u16(),
                body: snippet(&body),
                retry_after,
            });
        }
        let too_large = || {
            Ok(Err(CallError::provider(format!(
                "response larger than {} KiB",
                MAX_RESPONSE_BYTES / 1024
            ))))
        };
        if response
            .content_length()
            .is_some_and(|n| n > MAX_RESPONSE_BYTES as u64)
        {
            return too_large();
        }
        let body = match read_bounded(&mut response, MAX_RESPONSE_BYTES).await {
            Ok((_, true)) => return too_large(),
            Ok((body, false)) => body,
            Err(e) => {
                return Ok(Err(CallError::provider(format!(
                    "reading the answer: {}",
                    describe(&e)
                ))))
            }
        };
        Ok(serde_json::from_slice::<Value>(&body).map_err(|e| {
            CallError::provider(format!(
                "unreadable answer (not JSON: {e}): {}",
                snippet(&body)
            ))
        }))
    }
}

/// A non-2xx answer.
struct Refused {
    status: u16,
    body: String,
    retry_after: Option<Duration>,
}

impl Refused {
    fn into_error(self, model: &ModelConfig) -> CallError {
        let mut error = format!("HTTP {}", self.status);
        if !self.body.is_empty() {
            error.push_str(&format!(": {}", self.body));
        }
        match self.status {
            429 | 500..=599 => CallError::Provider {
                error,
                retry_after: self.retry_after,
            },
            401 | 403 => {
                if let Some(var) = model
                    .api_key_env
                    .as_deref()
                    .filter(|v| api_key_from(v).is_none())
                {
                    error.push_str(&format!(" (env var {var} is not set)"));
                }
                CallError::Config(error)
            }
            300..=399 => {
                CallError::Config(format!("{error} (redirects are not followed; fix the url)"))
            }
            _ => CallError::Config(error),
        }
    }
}

fn mentions_json_mode(body: &str) -> bool {
    let body = body.to_ascii_lowercase();
    ["response_format", "response format", "json_object"]
        .iter()
        .any(|s| body.contains(s))
}

/// Reads at most `limit` bytes; `true` when the body was longer (reading stops there).
async fn read_bounded(
    response: &mut reqwest::Response,
    limit: usize,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            let room = limit - body.len();
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}

/// The start of a body, on one line, for an error message.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    truncate_chars(&one_line, 200)
}

/// A transport error without its URL, with its causes.
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_body() || e.is_decode() {
        "broken answer"
    } else {
        "request failed"
    };
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !causes.contains(&text) {
            causes.push(text);
        }
        source = s.source();
    }
    if causes.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {}", causes.join(": "))
    }
}

fn api_key_from(var: &str) -> Option<String> {
    std::env::var(var)
        .ok()
        .map(|k| k.trim().to_owned())
        .filter(|k| !k.is_empty())
}

fn api_key(model: &ModelConfig) -> Option<String> {
    let var = model.api_key_env.as_deref()?;
    let key = api_key_from(var);
    if key.is_none() {
        tracing::warn!(model = %model.id, env = %var, "API key env var is not set; calling without a key");
    }
    key
}

/// A header value that never shows in `Debug` output.
fn secret_header(value: &str) -> Result<reqwest::header::HeaderValue, CallError> {
    let mut v = reqwest::header::HeaderValue::from_str(value)
        .map_err(|_| CallError::Config("the API key is not a valid HTTP header value".into()))?;
    v.set_sensitive(true);
    Ok(v)
}

/// Removes the API key from anything that may be logged, stored or shown.
fn redact(text: String, key: Option<&str>) -> String {
    match key {
        Some(k) if k.len() >= 4 && text.contains(k) => text.replace(k, "[redacted]"),
        _ => text,
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn valid() -> Value {
        json!({"action": "restart", "node": "piha", "service": "mosquitto",
               "reason": "container exited", "confidence": 0.9, "requires_human": false})
    }

    // extract_json
    #[test]
    fn a_bare_object_is_taken_whole() {
        assert_eq!(extract_json(&valid().to_string()).unwrap(), valid());
    }

    #[test]
    fn a_fenced_object_is_found() {
        let text = format!("```json\n{}\n```", valid());
        assert_eq!(extract_json(&text).unwrap(), valid());
        let bare_fence = format!("```\n{:#}\n```\n", valid());
        assert_eq!(extract_json(&bare_fence).unwrap(), valid());
    }

    #[test]
    fn prose_around_the_object_is_ignored() {
        let text = format!(
            "Sure! Here is my proposal:\n{}\nLet me know if {{you}} need more.",
            valid()
        );
        assert_eq!(extract_json(&text).unwrap(), valid());
    }

    #[test]
    fn nested_objects_are_kept_whole() {
        let v = json!({"action": "notify", "reason": "r", "confidence": 0.5, "requires_human": true,
                       "details": {"disk": {"used_pct": 97}}});
        let text = format!("answer: {v} done");
        assert_eq!(extract_json(&text).unwrap(), v);
    }

    #[test]
    fn braces_inside_strings_do_not_count() {
        let v = json!({"action": "notify", "reason": "log says \"}{ unbalanced {{ \\\" }\"",
                       "confidence": 0.5, "requires_human": true});
        let text = format!("prefix {v} suffix");
        assert_eq!(extract_json(&text).unwrap(), v);
    }

    #[test]
    fn no_object_is_a_readable_error() {
        let e = extract_json("I cannot help with that.").unwrap_err();
        assert!(e.contains("no JSON object"), "{e}");
        assert_eq!(extract_json("   ").unwrap_err(), "empty answer");
        let e = extract_json("here: {\"action\": \"restart\"").unwrap_err();
        assert!(e.contains("cut off"), "{e}");
        let e = extract_json("here: {action: restart}").unwrap_err();
        assert!(e.contains("parses"), "{e}");
        assert!(
            extract_json("[1, 2, 3]").is_err(),
            "an array is not an object"
        );
    }

    #[test]
    fn of_two_objects_the_first_that_parses_wins() {
        let second = json!({"action": "ignore", "reason": "noise", "confidence": 0.9, "requires_human": false});
        let text = format!("{} and also {second}", valid());
        assert_eq!(extract_json(&text).unwrap(), valid());
        let text = format!("{{not json}} then {second}");
        assert_eq!(extract_json(&text).unwrap(), second);
    }

    #[test]
    fn a_huge_answer_full_of_braces_is_bounded() {
        let text = "{".repeat(200_000);
        assert!(extract_json(&text).is_err());
    }

    // PROPOSAL_SCHEMA
    #[test]
    fn a_valid_proposal_passes() {
        assert_eq!(validate_proposal(&valid()), Ok(()));
        let minimal = json!({"action": "ignore", "reason": "noise", "confidence": 0, "requires_human": false});
        assert_eq!(validate_proposal(&minimal), Ok(()));
        let mut extra = valid();
        extra["extra_field"] = json!([1, 2]);
        assert_eq!(
            validate_proposal(&extra),
            Ok(()),
            "additional properties are allowed"
        );
    }

    #[test]
    fn confidence_above_one_is_refused_with_a_readable_message() {
        let mut v = valid();
        v["confidence"] = json!(1.4);
        assert_eq!(
            validate_proposal(&v).unwrap_err(),
            "confidence: 1.4 is greater than the maximum of 1"
        );
        v["confidence"] = json!("0.9");
        let e = validate_proposal(&v).unwrap_err();
        assert!(e.starts_with("confidence:"), "{e}");
    }

    #[test]
    fn a_missing_reason_is_refused() {
        let mut v = valid();
        v.as_object_mut().unwrap().remove("reason");
        let e = validate_proposal(&v).unwrap_err();
        assert!(e.contains("\"reason\" is a required property"), "{e}");
        v["reason"] = json!("   ");
        let e = validate_proposal(&v).unwrap_err();
        assert!(e.starts_with("reason:"), "{e}");
    }

    #[test]
    fn an_unknown_action_is_refused() {
        let mut v = valid();
        v["action"] = json!("reboot_everything");
        let e = validate_proposal(&v).unwrap_err();
        assert!(e.starts_with("action:"), "{e}");
        assert!(e.contains("reboot_everything"), "{e}");
    }

    #[test]
    fn wrong_types_and_non_objects_are_refused() {
        let mut v = valid();
        v["requires_human"] = json!("yes");
        v["node"] = json!(7);
        let e = validate_proposal(&v).unwrap_err();
        assert!(e.contains("requires_human:") && e.contains("node:"), "{e}");
        assert!(validate_proposal(&json!([valid()])).is_err());
    }

    #[test]
    fn the_rules_planner_always_passes_the_schema() {
        for t in [
            "service_unhealthy",
            "deploy_failed",
            "node_offline",
            "disk_pressure",
            "pipeline_stale",
            "service_healthy",
            "something_new",
        ] {
            let e = crate::planner::event::parse_event(
                &json!({"type": t, "node": "piha", "service": "mosquitto"}),
                "t",
                Utc.with_ymd_and_hms(2026, 5, 27, 12, 0, 0).unwrap(),
            )
            .unwrap();
            assert_eq!(validate_proposal(&rules::plan(&e)), Ok(()), "{t}");
        }
    }

    #[test]
    fn secrets_are_redacted() {
        assert_eq!(
            redact("bad key sk-123456".into(), Some("sk-123456")),
            "bad key [redacted]"
        );
        assert_eq!(redact("nothing".into(), None), "nothing");
    }
}
