//! Probes: one question to one provider, "are you up?", asked four ways.
//!
//! Owns: the `Probe` seam, its `Verdict`s and `ProbeError`s, and the real kinds: HTTP(S)
//! (status, body keyword, JSON field), TCP connect, LLM endpoints (OpenAI-compatible
//! `/v1/models`, Ollama `/api/tags`) and commands (argv, exit code, no shell).
//! Does not own: timeouts, concurrency or the breaker (the monitor wraps every probe in its
//! own timeout and records what it says). Errors never carry URLs or header values, so
//! secrets cannot leak into logs or the database through them.

use crate::clock::SharedClock;
use crate::config::{JsonExpect, LlmApi, ProviderConfig, Target};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use reqwest::StatusCode;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Upper bound of a response body we read to check keywords or JSON.
pub const MAX_BODY: usize = 256 * 1024;

/// What a probe concluded.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Up,
    Down {
        reason: String,
    },
    /// The provider answered 429: reachable but throttled. Not down.
    RateLimited {
        retry_after: Option<Duration>,
    },
    /// Our own bad request (400/422): the provider is not to blame.
    Inconclusive {
        reason: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Connect,
    Dns,
    Tls,
    Protocol,
    Body,
    Spawn,
    Io,
    Config,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Dns => "dns",
            ErrorKind::Tls => "tls",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Body => "body",
            ErrorKind::Spawn => "spawn",
            ErrorKind::Io => "io",
            ErrorKind::Config => "config",
        }
    }
}

/// A probe that could not reach a verdict: the provider is marked unhealthy with
/// `"<kind>: <message>"`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ProbeError {
    pub kind: ErrorKind,
    pub message: String,
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.message)
    }
}

impl ProbeError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

pub type ProbeResult = Result<Verdict, ProbeError>;

/// Asks one provider whether it is up. Implementations must be cancel-safe: the monitor
/// drops the future on timeout or shutdown.
pub trait Probe: Send + Sync + 'static {
    fn check(&self) -> BoxFuture<'_, ProbeResult>;
}

/// A probe from a closure: the fake that tests use, and a handy adapter.
pub struct FnProbe<F>(pub F);

impl<F, Fut> Probe for FnProbe<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ProbeResult> + Send + 'static,
{
    fn check(&self) -> BoxFuture<'_, ProbeResult> {
        Box::pin((self.0)())
    }
}

/// Builds the real probe for a configured provider. One HTTP client is shared by all;
/// `clock` turns a `Retry-After` date into a delay.
pub fn for_provider(
    p: &ProviderConfig,
    http: &reqwest::Client,
    clock: &SharedClock,
) -> Arc<dyn Probe> {
    match &p.target {
        Target::Http {
            url,
            expect_status,
            expect_body,
            expect_json,
            headers,
        } => Arc::new(HttpProbe {
            client: http.clone(),
            parsed: reqwest::Url::parse(url).ok(),
            url: url.clone(),
            expect_status: *expect_status,
            expect_body: expect_body.clone(),
            expect_json: expect_json.clone(),
            headers: headers.clone(),
            clock: Arc::clone(clock),
        }),
        Target::Tcp { address } => Arc::new(TcpProbe {
            address: address.clone(),
        }),
        Target::Llm {
            api,
            url,
            api_key_env,
            model,
        } => Arc::new(LlmProbe {
            client: http.clone(),
            api: api.clone(),
            url: url.clone(),
            api_key_env: api_key_env.clone(),
            model: model.clone(),
            clock: Arc::clone(clock),
        }),
        Target::Command { argv } => Arc::new(CommandProbe { argv: argv.clone() }),
    }
}

/// Idle connections are held from one tick to the next only when the HTTP providers
/// live on at most this many hosts (host and port).
pub const KEEP_ALIVE_HOSTS: usize = 64;
/// How long an idle connection is held when it is not kept for the next tick.
const IDLE_WITHIN_TICK: Duration = Duration::from_secs(5);

/// How the shared client keeps idle connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pooling {
    /// How long an idle connection is kept.
    pub idle: Duration,
    /// Idle connections kept per host.
    pub per_host: usize,
}

impl Pooling {
    /// For these providers, `max_concurrency` probes at once: when they live on few
    /// hosts, a tick's connections are kept for the next one (the longest interval plus a
    /// margin), so a tick reuses the last tick's
    /// connections instead of connecting again (about 2 × `max_concurrency` idle sockets
    /// in all, at least `IDLE_PER_HOST` per host; each costs ~27 KB). Otherwise
    /// connections are reused only within a tick, so 10,000 providers on 10,000 hosts
    /// never mean 10,000 idle sockets (~27 KB each) for the whole run.
    pub fn for_providers(providers: &[ProviderConfig], max_concurrency: usize) -> Pooling {
        let mut hosts = std::collections::HashSet::new();
        let mut longest = Duration::ZERO;
        for p in providers.iter().filter(|p| p.enabled) {
            let url = match &p.target {
                Target::Http { url, .. } | Target::Llm { url, .. } => url,
                _ => continue,
            };
            let Ok(u) = reqwest::Url::parse(url) else {
                continue;
            };
            hosts.insert((u.host_str().map(str::to_owned), u.port_or_known_default()));
            longest = longest.max(p.interval);
        }
        if hosts.len() <= KEEP_ALIVE_HOSTS {
            // At most `max_concurrency` probes run at once, whatever their hosts: keep
            // about twice that in all, spread over the hosts (a host probed alone may use
            // `max_concurrency` connections in a tick; the ones beyond its share close).
            let share = (2 * max_concurrency).div_ceil(hosts.len().max(1));
            Pooling {
                idle: longest + Duration::from_secs(10),
                per_host: share.clamp(IDLE_PER_HOST, max_concurrency.max(IDLE_PER_HOST)),
            }
        } else {
            Pooling::within_tick()
        }
    }

    /// Connections reused within a tick only.
    pub fn within_tick() -> Pooling {
        Pooling {
            idle: IDLE_WITHIN_TICK,
            per_host: IDLE_PER_HOST,
        }
    }
}

/// Idle connections per host when they are not kept for the next tick.
const IDLE_PER_HOST: usize = 8;

/// The client every HTTP-based probe shares (connection reuse matters at 10,000
/// providers).
pub fn http_client(pooling: Pooling) -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(concat!("steward/", env!("CARGO_PKG_VERSION")))
        .tcp_nodelay(true)
        .pool_idle_timeout(pooling.idle)
        .pool_max_idle_per_host(pooling.per_host)
        .connect_timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()
        .expect("a TLS backend is compiled in")
}

fn classify(e: &reqwest::Error) -> ProbeError {
    let chain = reqwest_without_url(e);
    let kind = if e.is_connect() {
        let text = chain.to_lowercase();
        if text.contains("dns") || text.contains("resolve") {
            ErrorKind::Dns
        } else if text.contains("certificate") || text.contains("tls") {
            ErrorKind::Tls
        } else {
            ErrorKind::Connect
        }
    } else if e.is_body() || e.is_decode() {
        ErrorKind::Body
    } else {
        ErrorKind::Protocol
    };
    ProbeError::new(kind, root_cause(&chain))
}

fn reqwest_without_url(e: &reqwest::Error) -> String {
    // `without_url` consumes; rebuild the text from the source chain instead.
    let mut parts = Vec::new();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = src {
        parts.push(s.to_string());
        src = s.source();
    }
    parts.join(": ")
}

/// The innermost error's text ("Connection refused (os error 111)"), never the URL.
fn root_cause(chain: &str) -> String {
    let last = chain.rsplit(": ").next().unwrap_or(chain).trim();
    if last.is_empty() {
        "request failed".to_owned()
    } else {
        last.to_owned()
    }
}

/// Expands `${VAR}` from the environment. The value never appears in errors.
fn expand_env(value: &str) -> Result<String, ProbeError> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| ProbeError::new(ErrorKind::Config, "unclosed ${ in a header value"))?;
        let name = &after[..end];
        let v = std::env::var(name).map_err(|_| {
            ProbeError::new(
                ErrorKind::Config,
                format!("environment variable {name} is not set"),
            )
        })?;
        out.push_str(&v);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `Retry-After` as a delay from `now`: seconds, or an HTTP date (none when it is past).
fn retry_after(headers: &reqwest::header::HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    if let Ok(secs) = v.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = DateTime::parse_from_rfc2822(v.trim()).ok()?;
    (when.with_timezone(&Utc) - now).to_std().ok()
}

/// Reads at most `MAX_BODY` bytes.
async fn bounded_body(mut resp: reqwest::Response) -> Result<Vec<u8>, ProbeError> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| classify(&e))? {
        let room = MAX_BODY.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= MAX_BODY {
            break;
        }
    }
    Ok(body)
}

/// Common answers for HTTP-based probes before kind-specific checks, for an answer
/// received at `now`.
fn status_verdict(
    status: StatusCode,
    headers: &reqwest::header::HeaderMap,
    now: DateTime<Utc>,
) -> Option<Verdict> {
    match status.as_u16() {
        429 => Some(Verdict::RateLimited {
            retry_after: retry_after(headers, now),
        }),
        400 | 422 => Some(Verdict::Inconclusive {
            reason: format!("HTTP {status}: the probe's own request was rejected"),
        }),
        _ => None,
    }
}

struct HttpProbe {
    client: reqwest::Client,
    url: String,
    /// `url`, parsed once (not on every probe); `None` leaves the error to reqwest.
    parsed: Option<reqwest::Url>,
    expect_status: Option<u16>,
    expect_body: Option<String>,
    expect_json: Option<JsonExpect>,
    headers: BTreeMap<String, String>,
    clock: SharedClock,
}

impl HttpProbe {
    async fn run(&self) -> ProbeResult {
        let mut req = match &self.parsed {
            Some(url) => self.client.get(url.clone()),
            None => self.client.get(&self.url),
        };
        for (k, v) in &self.headers {
            req = req.header(k, expand_env(v)?);
        }
        let resp = req.send().await.map_err(|e| classify(&e))?;
        let status = resp.status();
        let expected = match self.expect_status {
            Some(s) => status.as_u16() == s,
            None => status.is_success(),
        };
        if !expected {
            if let Some(v) = status_verdict(status, resp.headers(), self.clock.now()) {
                return Ok(v);
            }
            let want = self
                .expect_status
                .map_or("2xx".to_owned(), |s| s.to_string());
            return Ok(Verdict::Down {
                reason: format!("HTTP {} (expected {want})", status.as_u16()),
            });
        }
        // The body is read even when nothing checks it: a connection whose answer was
        // read to the end goes back to the pool for the next probe of the same host.
        let body = bounded_body(resp).await?;
        if self.expect_body.is_none() && self.expect_json.is_none() {
            return Ok(Verdict::Up);
        }
        if let Some(word) = &self.expect_body {
            if !String::from_utf8_lossy(&body).contains(word.as_str()) {
                return Ok(Verdict::Down {
                    reason: format!("body does not contain {word:?}"),
                });
            }
        }
        if let Some(expect) = &self.expect_json {
            let json: serde_json::Value = match serde_json::from_slice(&body) {
                Ok(v) => v,
                Err(e) => {
                    return Ok(Verdict::Down {
                        reason: format!("body is not JSON ({e})"),
                    })
                }
            };
            match json.pointer(&expect.pointer) {
                Some(v) if *v == expect.equals => {}
                Some(v) => {
                    return Ok(Verdict::Down {
                        reason: format!("{} is {v}, expected {}", expect.pointer, expect.equals),
                    })
                }
                None => {
                    return Ok(Verdict::Down {
                        reason: format!("{} is missing from the body", expect.pointer),
                    })
                }
            }
        }
        Ok(Verdict::Up)
    }
}

impl Probe for HttpProbe {
    fn check(&self) -> BoxFuture<'_, ProbeResult> {
        Box::pin(self.run())
    }
}

struct TcpProbe {
    address: String,
}

impl Probe for TcpProbe {
    fn check(&self) -> BoxFuture<'_, ProbeResult> {
        Box::pin(async move {
            match tokio::net::TcpStream::connect(self.address.as_str()).await {
                Ok(_) => Ok(Verdict::Up),
                Err(e) => {
                    let kind = match e.kind() {
                        std::io::ErrorKind::ConnectionRefused
                        | std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::HostUnreachable
                        | std::io::ErrorKind::NetworkUnreachable => ErrorKind::Connect,
                        _ if e.to_string().contains("lookup") => ErrorKind::Dns,
                        _ => ErrorKind::Io,
                    };
                    Err(ProbeError::new(kind, e.to_string()))
                }
            }
        })
    }
}

struct LlmProbe {
    client: reqwest::Client,
    api: LlmApi,
    url: String,
    api_key_env: Option<String>,
    model: Option<String>,
    clock: SharedClock,
}

impl LlmProbe {
    fn endpoint(&self) -> String {
        let base = self.url.trim_end_matches('/');
        match self.api {
            LlmApi::Ollama => format!("{base}/api/tags"),
            LlmApi::OpenAi if base.ends_with("/v1") => format!("{base}/models"),
            LlmApi::OpenAi => format!("{base}/v1/models"),
        }
    }

    async fn run(&self) -> ProbeResult {
        let mut req = self.client.get(self.endpoint());
        if let Some(var) = &self.api_key_env {
            let key = std::env::var(var).map_err(|_| {
                ProbeError::new(
                    ErrorKind::Config,
                    format!("environment variable {var} is not set"),
                )
            })?;
            req = req.bearer_auth(key);
        }
        let resp = req.send().await.map_err(|e| classify(&e))?;
        let status = resp.status();
        if let Some(v) = status_verdict(status, resp.headers(), self.clock.now()) {
            return Ok(v);
        }
        if matches!(status.as_u16(), 401 | 403) {
            return Ok(Verdict::Down {
                reason: format!("HTTP {}: unauthorized (check api_key_env)", status.as_u16()),
            });
        }
        if !status.is_success() {
            return Ok(Verdict::Down {
                reason: format!("HTTP {}", status.as_u16()),
            });
        }
        let body = bounded_body(resp).await?;
        let json: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
            ProbeError::new(ErrorKind::Body, format!("model list is not JSON ({e})"))
        })?;
        let names = model_names(&self.api, &json)
            .ok_or_else(|| ProbeError::new(ErrorKind::Body, "answer has no model list"))?;
        match &self.model {
            Some(m)
                if !names
                    .iter()
                    .any(|n| n == m || n.strip_suffix(":latest") == Some(m)) =>
            {
                Ok(Verdict::Down {
                    reason: format!(
                        "model {m:?} is not listed by the server ({} models available)",
                        names.len()
                    ),
                })
            }
            _ => Ok(Verdict::Up),
        }
    }
}

fn model_names(api: &LlmApi, json: &serde_json::Value) -> Option<Vec<String>> {
    let (list, keys): (&str, &[&str]) = match api {
        LlmApi::Ollama => ("models", &["name", "model"]),
        LlmApi::OpenAi => ("data", &["id"]),
    };
    let items = json.get(list)?.as_array()?;
    Some(
        items
            .iter()
            .filter_map(|m| keys.iter().find_map(|k| m.get(*k)?.as_str()))
            .map(str::to_owned)
            .collect(),
    )
}

impl Probe for LlmProbe {
    fn check(&self) -> BoxFuture<'_, ProbeResult> {
        Box::pin(self.run())
    }
}

struct CommandProbe {
    argv: Vec<String>,
}

/// Kills the whole process group when the probe is dropped (timeout, shutdown), so a
/// check script cannot leave grandchildren behind.
struct GroupGuard(Option<i32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.0.take() {
            // ESRCH (the group has exited already) is the usual, fine answer.
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pgid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

impl CommandProbe {
    async fn run(&self) -> ProbeResult {
        let (program, args) = self
            .argv
            .split_first()
            .ok_or_else(|| ProbeError::new(ErrorKind::Config, "empty command"))?;
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        let mut child = cmd
            .spawn()
            .map_err(|e| ProbeError::new(ErrorKind::Spawn, format!("{program}: {e}")))?;
        let mut guard = GroupGuard(child.id().map(|id| id as i32));
        let mut stderr = child.stderr.take();
        let read_tail = async {
            use tokio::io::AsyncReadExt;
            let mut buf = Vec::new();
            if let Some(s) = stderr.as_mut() {
                // What was read before an error still explains the failure; the error does not.
                let _ = s.take(16 * 1024).read_to_end(&mut buf).await;
            }
            buf
        };
        let (status, tail) = tokio::join!(child.wait(), read_tail);
        guard.0 = None; // exited by itself: nothing to kill
        let status = status.map_err(|e| ProbeError::new(ErrorKind::Io, e.to_string()))?;
        if status.success() {
            return Ok(Verdict::Up);
        }
        let tail = String::from_utf8_lossy(&tail);
        let last = tail
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        let code = status.code().map_or("killed by a signal".to_owned(), |c| {
            format!("exit code {c}")
        });
        Ok(Verdict::Down {
            reason: if last.is_empty() {
                code
            } else {
                format!("{code}: {}", last.trim())
            },
        })
    }
}

impl Probe for CommandProbe {
    fn check(&self) -> BoxFuture<'_, ProbeResult> {
        Box::pin(self.run())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn providers(urls: &[String], interval: &str) -> Vec<ProviderConfig> {
        let mut text = format!("[probe]\ninterval = \"{interval}\"\n");
        for (i, url) in urls.iter().enumerate() {
            text.push_str(&format!(
                "[[providers]]\nid = \"p{i}\"\nnode = \"n\"\nkind = \"http\"\nurl = \"{url}\"\n"
            ));
        }
        crate::config::Config::parse(&text, None).unwrap().providers
    }

    #[test]
    fn connections_are_kept_for_the_next_tick_only_when_the_providers_live_on_few_hosts() {
        // 1,000 paths on two hosts: kept past the interval, as many per host as run at once.
        let few: Vec<String> = (0..1000)
            .map(|i| format!("http://10.0.0.{}:8080/health/{i}", i % 2))
            .collect();
        assert_eq!(
            Pooling::for_providers(&providers(&few, "30s"), 64),
            Pooling {
                idle: Duration::from_secs(40),
                per_host: 64
            }
        );
        // On ten hosts: about twice what runs at once in all (each idle socket ~27 KB).
        let ten: Vec<String> = (0..1000)
            .map(|i| format!("http://10.0.0.{}:8080/health/{i}", i % 10))
            .collect();
        assert_eq!(
            Pooling::for_providers(&providers(&ten, "30s"), 64).per_host,
            13
        );
        // On 64 hosts: still a few per host.
        let spread: Vec<String> = (0..KEEP_ALIVE_HOSTS)
            .map(|i| format!("http://host{i}.lan/health"))
            .collect();
        assert_eq!(
            Pooling::for_providers(&providers(&spread, "30s"), 64).per_host,
            IDLE_PER_HOST
        );
        // One more host than the bound: within a tick only.
        let many: Vec<String> = (0..=KEEP_ALIVE_HOSTS)
            .map(|i| format!("http://host{i}.lan/health"))
            .collect();
        assert_eq!(
            Pooling::for_providers(&providers(&many, "30s"), 64),
            Pooling::within_tick()
        );
        // The same host on another port is another host.
        let ports: Vec<String> = (0..=KEEP_ALIVE_HOSTS)
            .map(|i| format!("http://10.0.0.1:{}/", 9000 + i))
            .collect();
        assert_eq!(
            Pooling::for_providers(&providers(&ports, "30s"), 64),
            Pooling::within_tick()
        );
    }

    #[test]
    fn env_placeholders_expand_and_missing_ones_name_the_variable_only() {
        std::env::set_var("STEWARD_TEST_SECRET_X", "s3cret");
        assert_eq!(
            expand_env("Bearer ${STEWARD_TEST_SECRET_X}").unwrap(),
            "Bearer s3cret"
        );
        let err = expand_env("${STEWARD_TEST_NOPE}").unwrap_err();
        assert_eq!(
            err.to_string(),
            "config: environment variable STEWARD_TEST_NOPE is not set"
        );
    }

    #[test]
    fn retry_after_is_seconds_or_a_date_counted_from_the_answers_now() {
        use chrono::TimeZone;
        let header = |v: &str| {
            let mut h = reqwest::header::HeaderMap::new();
            h.insert(reqwest::header::RETRY_AFTER, v.parse().unwrap());
            h
        };
        let now = Utc.with_ymd_and_hms(2026, 5, 27, 12, 0, 0).unwrap();
        assert_eq!(
            retry_after(&header("120"), now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            retry_after(&header("Wed, 27 May 2026 12:01:30 GMT"), now),
            Some(Duration::from_secs(90)),
            "a date is read against `now`, not the machine's clock"
        );
        assert_eq!(
            retry_after(&header("Wed, 27 May 2026 11:59:00 GMT"), now),
            None,
            "a date in the past asks for no wait"
        );
        assert_eq!(retry_after(&header("soon"), now), None);
        assert_eq!(retry_after(&reqwest::header::HeaderMap::new(), now), None);
    }

    #[test]
    fn model_lists_are_read_in_both_dialects() {
        let ollama = serde_json::json!({"models": [{"name": "qwen2.5:7b"}, {"model": "llama3"}]});
        assert_eq!(
            model_names(&LlmApi::Ollama, &ollama).unwrap(),
            vec!["qwen2.5:7b", "llama3"]
        );
        let openai = serde_json::json!({"data": [{"id": "gpt-4o"}]});
        assert_eq!(
            model_names(&LlmApi::OpenAi, &openai).unwrap(),
            vec!["gpt-4o"]
        );
        assert!(model_names(&LlmApi::OpenAi, &serde_json::json!({"x": 1})).is_none());
    }

    #[test]
    fn root_cause_keeps_the_innermost_text() {
        assert_eq!(
            root_cause(
                "client error (Connect): tcp connect error: Connection refused (os error 111)"
            ),
            "Connection refused (os error 111)"
        );
    }
}
