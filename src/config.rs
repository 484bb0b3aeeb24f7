//! Configuration: the TOML file of design.md "Interfaces", parsed, validated and located.
//!
//! Owns: the names of config keys (a contract: extend, never rename), defaults, validation
//! with errors that name the file, the line and the field, the typed values (the file as
//! written is read into private `Raw*` structs; the validator turns them into the public
//! ones with every duration parsed and defaulted once per load: no caller parses a config
//! string again), the commented default written on first run, where the file and the data
//! dir live (`STEWARD_CONFIG`, `STEWARD_DATA_DIR`), and the settings read from the
//! environment when a config is loaded (`NODE_NAME` into [`Config::node`],
//! `SESSION_PIPELINE_STUCK_FILE_GRACE_SECONDS` into [`Config::stuck_file_grace`]): read
//! once per load, so nothing reads them per status.
//! Does not own: reloading (the engine watches the file and calls `Config::load` again) or
//! acting on sections whose features are not built yet (`sessions` is parsed and checked
//! so a valid file is never rejected).

pub mod edit;
mod split;

use crate::health::breaker::BreakerPolicy;
use crate::notice::level::{NoticeKind, Urgency};
use crate::planner::alertmanager::is_label_name;
pub use crate::planner::alertmanager::Mapping as AlertmanagerConfig;
use crate::planner::policy::Risk;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
pub struct ConfigIssue {
    pub file: Option<PathBuf>,
    pub line: Option<usize>,
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}", file.display())?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
            }
            write!(f, ": ")?;
        } else if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        write!(f, "{}", self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write default config {path}: {source}")]
    WriteDefault {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", join_issues(.0))]
    Invalid(Vec<ConfigIssue>),
}

fn join_issues(issues: &[ConfigIssue]) -> String {
    issues
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl ConfigError {
    pub fn issues(&self) -> Vec<ConfigIssue> {
        match self {
            ConfigError::Invalid(issues) => issues.clone(),
            other => vec![ConfigIssue {
                file: None,
                line: None,
                field: None,
                message: other.to_string(),
            }],
        }
    }
}

// ---------------------------------------------------------------------------------------
// The file as written (every table rejects unknown keys)
// ---------------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    probe: RawProbe,
    #[serde(default)]
    http: RawHttp,
    #[serde(default)]
    providers: Vec<RawProvider>,
    planner: Option<RawPlanner>,
    #[serde(default)]
    models: Vec<RawModel>,
    bus: Option<BusConfig>,
    executor: Option<RawExecutor>,
    sessions: Option<RawSessions>,
    #[serde(default)]
    store: RawStore,
    gateway: Option<RawGateway>,
    notifications: Option<RawNotifications>,
    alertmanager: Option<RawAlertmanager>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotifications {
    ui_url: Option<String>,
    #[serde(default)]
    channels: Vec<RawChannel>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChannel {
    name: Option<String>,
    kind: Option<String>,
    url: Option<String>,
    topic: Option<String>,
    token_env: Option<String>,
    secret_env: Option<String>,
    min_severity: Option<String>,
    kinds: Option<Vec<String>>,
}

/// `[notifications]`: where notices go besides the native notification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotificationsConfig {
    /// What a click on a pushed notice opens (`ui_url`), else `http://<[http] listen>/`.
    pub ui_url: Option<String>,
    pub channels: Vec<ChannelConfig>,
}

/// One `[[notifications.channels]]`: a push channel and the notices it takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelConfig {
    /// Unique; defaults to the kind (`ntfy`, `webhook`), numbered when repeated.
    pub name: String,
    pub target: ChannelTarget,
    /// The least urgent notice sent (default `info`: all).
    pub min_severity: Urgency,
    /// The kinds of notice sent; empty: all.
    pub kinds: Vec<NoticeKind>,
}

impl ChannelConfig {
    /// Whether this channel takes a notice of this kind and urgency.
    pub fn takes(&self, kind: NoticeKind, urgency: Urgency) -> bool {
        urgency >= self.min_severity && (self.kinds.is_empty() || self.kinds.contains(&kind))
    }
}

/// Where a channel sends, and the secrets it reads from the environment at each send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelTarget {
    /// An ntfy server's JSON publish API: `POST <url>` with the topic in the body.
    Ntfy {
        url: String,
        topic: String,
        /// Env var holding an access token (sent as a bearer token).
        token_env: Option<String>,
    },
    /// A JSON `POST` to `url`, signed with HMAC-SHA256 when `secret_env` is set.
    Webhook {
        url: String,
        secret_env: Option<String>,
    },
}

impl ChannelTarget {
    pub fn kind(&self) -> &'static str {
        match self {
            ChannelTarget::Ntfy { .. } => "ntfy",
            ChannelTarget::Webhook { .. } => "webhook",
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlertmanager {
    node_labels: Option<Vec<String>>,
    service_labels: Option<Vec<String>>,
    severity_label: Option<String>,
    strip_port: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGateway {
    listen: Option<String>,
    api_key_env: Option<String>,
    #[serde(default)]
    keys: Vec<RawGatewayKey>,
    max_body: Option<String>,
    log_bodies: Option<bool>,
    #[serde(default)]
    routes: Vec<RawGatewayRoute>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGatewayKey {
    name: String,
    env: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGatewayRoute {
    model: String,
    targets: Vec<String>,
}

/// Default `[gateway] listen`.
pub const DEFAULT_GATEWAY_LISTEN: &str = "127.0.0.1:7879";
/// Default `[gateway] max_body`.
pub const DEFAULT_GATEWAY_MAX_BODY: usize = 10 * 1024 * 1024;

/// `[gateway]`: the LLM gateway for the workstation's other apps (`gateway`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayConfig {
    pub listen: SocketAddr,
    /// The keys clients send, each named (the app it was given to) and read from its
    /// environment variable at each request. `api_key_env` is the key named `default`.
    pub keys: Vec<GatewayKey>,
    /// Largest request body taken.
    pub max_body: usize,
    /// Whether request and response bodies may be logged (never stored). Default false.
    pub log_bodies: bool,
    pub routes: Vec<GatewayRoute>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayKey {
    pub name: String,
    pub env: String,
}

/// A model name clients ask for, and the `[[models]]` ids tried for it, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayRoute {
    pub model: String,
    pub targets: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    keep: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProbe {
    interval: Option<String>,
    timeout: Option<String>,
    failure_threshold: Option<i64>,
    backoff: Option<String>,
    backoff_max: Option<String>,
    confirm_after: Option<String>,
    max_concurrency: Option<i64>,
    raw_retention: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    listen: Option<String>,
    metrics_token_env: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProvider {
    id: Option<String>,
    kind: Option<String>,
    node: Option<String>,
    service: Option<String>,
    enabled: Option<bool>,
    interval: Option<String>,
    timeout: Option<String>,
    failure_threshold: Option<i64>,
    backoff: Option<String>,
    backoff_max: Option<String>,
    confirm_after: Option<String>,
    depends_on: Option<Vec<String>>,
    // http / llm
    url: Option<String>,
    expect_status: Option<i64>,
    expect_body: Option<String>,
    expect_json: Option<RawJsonExpect>,
    headers: Option<BTreeMap<String, String>>,
    // tcp
    address: Option<String>,
    // llm
    api: Option<String>,
    api_key_env: Option<String>,
    model: Option<String>,
    // command
    command: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJsonExpect {
    pointer: String,
    equals: toml::Value,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlanner {
    cooldown: Option<String>,
    confidence_threshold: Option<f64>,
    #[serde(default)]
    protected_nodes: Vec<String>,
    #[serde(default)]
    chain: Vec<String>,
    actions_dir: Option<PathBuf>,
    events_dir: Option<PathBuf>,
    unknown_target_rate: Option<i64>,
}

/// Default `[planner] cooldown`: one plan per node/service this often.
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(5 * 60);

/// `[planner]`: cooldown, threshold, protected nodes, the model chain, file outputs.
#[derive(Debug, Clone)]
pub struct PlannerConfig {
    /// One plan per node/service per cooldown (default [`DEFAULT_COOLDOWN`]).
    pub cooldown: Duration,
    pub confidence_threshold: Option<f64>,
    pub protected_nodes: Vec<String>,
    pub chain: Vec<String>,
    pub actions_dir: Option<PathBuf>,
    pub events_dir: Option<PathBuf>,
    /// New plans a minute for targets not in `[[providers]]` (default 20); checked ≥ 1.
    pub unknown_target_rate: Option<i64>,
}

impl Default for PlannerConfig {
    fn default() -> Self {
        PlannerConfig {
            cooldown: DEFAULT_COOLDOWN,
            confidence_threshold: None,
            protected_nodes: Vec::new(),
            chain: Vec::new(),
            actions_dir: None,
            events_dir: None,
            unknown_target_rate: None,
        }
    }
}

impl PlannerConfig {
    /// `unknown_target_rate` with its default (a rejected value never gets here).
    pub fn unknown_target_rate(&self) -> u32 {
        self.unknown_target_rate
            .and_then(|r| u32::try_from(r).ok())
            .filter(|r| *r >= 1)
            .unwrap_or(crate::planner::gate::DEFAULT_UNKNOWN_TARGET_RATE)
    }
}

/// Default `[store] keep`.
pub const DEFAULT_KEEP: Duration = Duration::from_secs(90 * 24 * 3600);

/// `[store]`: how long decided proposals, their audit, the timeline and the action and
/// event files are kept (pending work is never dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    pub keep: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig { keep: DEFAULT_KEEP }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    id: String,
    api: String,
    url: String,
    model: String,
    provider: Option<String>,
    api_key_env: Option<String>,
    timeout: Option<String>,
}

/// Default `timeout` of a `[[models]]` entry: one call's limit, then the next model.
pub const DEFAULT_MODEL_TIMEOUT: Duration = Duration::from_secs(30);

/// `[[models]]`: the LLMs the router can ask (`planner::router`).
#[derive(Debug, Clone)]
pub struct ModelConfig {
    pub id: String,
    pub api: String,
    pub url: String,
    pub model: String,
    pub provider: Option<String>,
    pub api_key_env: Option<String>,
    /// One call's limit (default [`DEFAULT_MODEL_TIMEOUT`]).
    pub timeout: Duration,
}

/// `[bus]`: Redis pub/sub in and out (`bus`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusConfig {
    pub redis_url: String,
    #[serde(default)]
    pub channels: Vec<String>,
    pub publish_channel: Option<String>,
    /// Whether events from the bus may run a fix without a click (default `false`: anyone
    /// who can publish on the bus could otherwise run commands here).
    #[serde(default)]
    pub trusted: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExecutor {
    auto_execute: Option<Vec<String>>,
    timeout: Option<String>,
    proposal_ttl: Option<String>,
    #[serde(default)]
    commands: BTreeMap<String, Vec<String>>,
}

/// The risk levels that run without a click when `[executor] auto_execute` is absent.
pub const DEFAULT_AUTO_EXECUTE: &[Risk] = &[Risk::None, Risk::Low];
/// Default `[executor] timeout`: then the command's process group is killed.
pub const DEFAULT_EXECUTOR_TIMEOUT: Duration = Duration::from_secs(60);
/// Default `[executor] proposal_ttl`: how long a proposal waits for a decision.
pub const DEFAULT_PROPOSAL_TTL: Duration = Duration::from_secs(15 * 60);

/// `[executor]`: what runs for an approved proposal, and what runs without a click.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// Risk levels that run without a click. Absent: the default [`DEFAULT_AUTO_EXECUTE`];
    /// an explicit empty list: nothing runs by itself (an explicit setting wins over a
    /// default). See [`ExecutorConfig::auto_levels`].
    pub auto_execute: Option<Vec<Risk>>,
    /// A command's limit (default [`DEFAULT_EXECUTOR_TIMEOUT`]).
    pub timeout: Duration,
    /// How long a proposal waits for a decision (default [`DEFAULT_PROPOSAL_TTL`]).
    pub proposal_ttl: Duration,
    pub commands: BTreeMap<String, Vec<String>>,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            auto_execute: None,
            timeout: DEFAULT_EXECUTOR_TIMEOUT,
            proposal_ttl: DEFAULT_PROPOSAL_TTL,
            commands: BTreeMap::new(),
        }
    }
}

impl ExecutorConfig {
    /// The risk levels that run without a click: `auto_execute`, else the default.
    pub fn auto_levels(&self) -> &[Risk] {
        self.auto_execute.as_deref().unwrap_or(DEFAULT_AUTO_EXECUTE)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSessions {
    root: PathBuf,
    #[serde(default)]
    processors: Vec<RawSessionProcessor>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSessionProcessor {
    name: String,
    kind: String,
    command: Option<Vec<String>>,
    cadence: Option<String>,
    enabled: Option<bool>,
    timeout: Option<String>,
}

/// `[sessions]`: the session files' root and the processors that read them.
#[derive(Debug, Clone)]
pub struct SessionsConfig {
    pub root: PathBuf,
    pub processors: Vec<SessionProcessorConfig>,
}

/// Default `cadence` of a session processor (design.md: grace = 2 × cadence).
pub const DEFAULT_SESSION_CADENCE: Duration = Duration::from_secs(15 * 60);
/// Default `timeout` of one file's processing by a `command` processor.
pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// The one placeholder of a session processor's `command`.
pub const SESSION_FILE_PLACEHOLDER: &str = "{file}";

/// One `[[sessions.processors]]`, checked at load with its defaults applied.
#[derive(Debug, Clone)]
pub struct SessionProcessorConfig {
    pub name: String,
    /// `usage` (built in) or `command`.
    pub kind: String,
    /// For `command`: an argv whose only placeholder is `{file}` (the file's absolute path).
    pub command: Option<Vec<String>>,
    /// How often it runs, and soon after files change (default [`DEFAULT_SESSION_CADENCE`]).
    pub cadence: Duration,
    /// `false`: listed, runs only when asked to (default `true`).
    pub enabled: Option<bool>,
    /// For `command`: the limit for one file (default [`DEFAULT_SESSION_TIMEOUT`]), then
    /// its process group is killed.
    pub timeout: Duration,
}

impl SessionProcessorConfig {
    pub fn cadence(&self) -> Duration {
        self.cadence
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn enabled(&self) -> bool {
        self.enabled.unwrap_or(true)
    }
}

// ---------------------------------------------------------------------------------------
// The validated config
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub struct ProbeDefaults {
    pub interval: Duration,
    pub timeout: Duration,
    pub failure_threshold: u32,
    pub backoff: Duration,
    pub backoff_max: Duration,
    /// Re-probe this soon after a first failure, instead of waiting a whole interval.
    pub confirm_after: Option<Duration>,
    /// Probes in the fast lane at once; as many again may sit in the slow lane
    /// (see `health::monitor`). 64 + 64: with connections kept between ticks
    /// (`probe::Pooling`) it halved the CPU per probe of 256 + 256 at 10,000 providers
    /// (docs/benchmarks.md, "Probe engine").
    pub max_concurrency: usize,
    /// Raw probe samples are kept this long, then folded into hourly aggregates.
    pub raw_retention: Duration,
}

impl Default for ProbeDefaults {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(3),
            failure_threshold: 2,
            backoff: Duration::from_secs(60),
            backoff_max: Duration::from_secs(60),
            confirm_after: None,
            max_concurrency: 64,
            raw_retention: Duration::from_secs(48 * 3600),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LlmApi {
    Ollama,
    OpenAi,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JsonExpect {
    /// RFC 6901 pointer, e.g. `/status`.
    pub pointer: String,
    pub equals: serde_json::Value,
}

/// What a provider is and how to reach it.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Http {
        url: String,
        expect_status: Option<u16>,
        expect_body: Option<String>,
        expect_json: Option<JsonExpect>,
        /// Values may hold `${ENV_VAR}`; they are expanded at probe time, never stored.
        headers: BTreeMap<String, String>,
    },
    Tcp {
        address: String,
    },
    Llm {
        api: LlmApi,
        url: String,
        api_key_env: Option<String>,
        model: Option<String>,
    },
    Command {
        argv: Vec<String>,
    },
}

impl Target {
    pub fn kind(&self) -> &'static str {
        match self {
            Target::Http { .. } => "http",
            Target::Tcp { .. } => "tcp",
            Target::Llm { .. } => "llm",
            Target::Command { .. } => "command",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProviderConfig {
    pub id: String,
    pub node: String,
    pub service: String,
    pub enabled: bool,
    pub interval: Duration,
    pub timeout: Duration,
    pub confirm_after: Option<Duration>,
    pub policy: BreakerPolicy,
    pub depends_on: Vec<String>,
    pub target: Target,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub source: Option<PathBuf>,
    pub probe: ProbeDefaults,
    pub listen: SocketAddr,
    /// `[http] metrics_token_env`: the environment variable holding a scrape-only token,
    /// which opens `GET /metrics` and nothing else (the admin token opens it too). Only
    /// the name is in the config; the adapter reads the value, never logs or stores it.
    pub metrics_token_env: Option<String>,
    pub providers: Vec<ProviderConfig>,
    pub planner: Option<PlannerConfig>,
    pub models: Vec<ModelConfig>,
    pub bus: Option<BusConfig>,
    pub executor: Option<ExecutorConfig>,
    pub sessions: Option<SessionsConfig>,
    pub store: StoreConfig,
    /// `[gateway]`, when present (absent: no gateway).
    pub gateway: Option<GatewayConfig>,
    /// `[notifications]`: push channels (none by default).
    pub notifications: NotificationsConfig,
    /// `[alertmanager]`: the labels `POST /api/alertmanager` reads (absent: the defaults;
    /// the route works without it).
    pub alertmanager: AlertmanagerConfig,
    /// This workstation's node name: `NODE_NAME`, else the hostname, else `localhost`.
    /// Read from the environment when the config is loaded (and again on reload).
    pub node: String,
    /// [`STUCK_GRACE_ENV`] when set to whole seconds greater than 0: replaces the session
    /// pipeline's stuck-file grace (4 × grace). Read when the config is loaded.
    pub stuck_file_grace: Option<Duration>,
    /// Provider id → position in `providers` (lookups happen per probe result).
    index: HashMap<String, usize>,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:7878";

impl Default for Config {
    fn default() -> Self {
        Self {
            source: None,
            probe: ProbeDefaults::default(),
            listen: DEFAULT_LISTEN.parse().expect("valid default"),
            metrics_token_env: None,
            providers: Vec::new(),
            planner: None,
            models: Vec::new(),
            bus: None,
            executor: None,
            sessions: None,
            store: StoreConfig::default(),
            gateway: None,
            notifications: NotificationsConfig::default(),
            alertmanager: AlertmanagerConfig::default(),
            node: node_name(),
            stuck_file_grace: stuck_grace_from_env(),
            index: HashMap::new(),
        }
    }
}

impl Config {
    /// The breaker policy for providers the config does not name (e.g. LLM providers).
    pub fn probe_policy(&self) -> BreakerPolicy {
        BreakerPolicy {
            failure_threshold: self.probe.failure_threshold,
            backoff: self.probe.backoff,
            backoff_max: self.probe.backoff_max,
        }
    }

    /// `[planner] cooldown`, else its default (no `[planner]`).
    pub fn cooldown(&self) -> Duration {
        self.planner
            .as_ref()
            .map_or(DEFAULT_COOLDOWN, |p| p.cooldown)
    }

    /// `[executor] proposal_ttl`, else its default (no `[executor]`).
    pub fn proposal_ttl(&self) -> Duration {
        self.executor
            .as_ref()
            .map_or(DEFAULT_PROPOSAL_TTL, |e| e.proposal_ttl)
    }

    /// `[executor] timeout`, else its default (no `[executor]`).
    pub fn executor_timeout(&self) -> Duration {
        self.executor
            .as_ref()
            .map_or(DEFAULT_EXECUTOR_TIMEOUT, |e| e.timeout)
    }

    /// Reads and validates a file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, Some(path))
    }

    /// Reads the file, writing the commented default first when it does not exist.
    pub fn load_or_init(path: &Path) -> Result<Config, ConfigError> {
        if !path.exists() {
            let write = |p: &Path| -> std::io::Result<()> {
                if let Some(dir) = p.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                std::fs::write(p, DEFAULT_CONFIG)
            };
            write(path).map_err(|source| ConfigError::WriteDefault {
                path: path.to_owned(),
                source,
            })?;
            tracing::info!(path = %path.display(), "wrote a commented default config");
        }
        Self::load(path)
    }

    /// Parses and validates text; `file` only labels the errors.
    pub fn parse(text: &str, file: Option<&Path>) -> Result<Config, ConfigError> {
        let issue = |line: Option<usize>, field: Option<String>, message: String| ConfigIssue {
            file: file.map(Path::to_owned),
            line,
            field,
            message,
        };
        let raw: RawConfig = match split::split(text).and_then(|s| Self::raw_in_parts(text, &s)) {
            Some(raw) => raw,
            None => toml::from_str(text).map_err(|e| {
                let line = e.span().map(|s| line_of(text, s.start));
                ConfigError::Invalid(vec![issue(line, None, e.message().trim().to_owned())])
            })?,
        };
        let mut v = Validator {
            text,
            issues: Vec::new(),
            file,
        };
        let config = v.config(raw);
        if v.issues.is_empty() {
            let index = config
                .providers
                .iter()
                .enumerate()
                .map(|(i, p)| (p.id.clone(), i))
                .collect();
            Ok(Config {
                source: file.map(Path::to_owned),
                index,
                ..config
            })
        } else {
            Err(ConfigError::Invalid(v.issues))
        }
    }

    /// The document read as its rest and then one `[[providers]]` entry at a time (see
    /// `config::split`), or `None` when any part does not read alone: the caller then
    /// parses the whole text, which reports the error the TOML parser finds.
    fn raw_in_parts(text: &str, split: &split::Split) -> Option<RawConfig> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Entry {
            providers: Vec<RawProvider>,
        }
        let mut raw: RawConfig = toml::from_str(&split::Split::text(text, &split.rest)).ok()?;
        if !raw.providers.is_empty() {
            return None;
        }
        raw.providers.reserve_exact(split.providers.len());
        for ranges in &split.providers {
            let entry: Entry = toml::from_str(&split::Split::text(text, ranges)).ok()?;
            raw.providers.extend(entry.providers);
        }
        Some(raw)
    }

    pub fn provider(&self, id: &str) -> Option<&ProviderConfig> {
        self.index.get(id).map(|&i| &self.providers[i])
    }
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

struct Validator<'a> {
    text: &'a str,
    issues: Vec<ConfigIssue>,
    file: Option<&'a Path>,
}

/// Where a field lives: `[table] key`, or the `index`-th `[[table]]` and its key.
#[derive(Clone, Copy)]
struct At<'k> {
    table: &'k str,
    index: Option<usize>,
    key: &'k str,
}

impl<'k> At<'k> {
    /// `[table] key`.
    fn key(table: &'k str, key: &'k str) -> At<'k> {
        At {
            table,
            index: None,
            key,
        }
    }

    /// `key` of the `index`-th `[[table]]`.
    fn nth(table: &'k str, index: usize, key: &'k str) -> At<'k> {
        At {
            table,
            index: Some(index),
            key,
        }
    }
}

impl<'a> Validator<'a> {
    fn report(&mut self, at: At<'_>, message: impl Into<String>) {
        let field = match at.index {
            Some(i) => format!("{}[{i}].{}", at.table, at.key),
            None => format!("{}.{}", at.table, at.key),
        };
        self.issues.push(ConfigIssue {
            file: self.file.map(Path::to_owned),
            line: self.locate(at),
            field: Some(field),
            message: message.into(),
        });
    }

    /// Finds the line of a key by reading the file's table headers. Good enough for
    /// hand-written configs; falls back to the table header when the key is absent.
    fn locate(&self, at: At<'_>) -> Option<usize> {
        let header = match at.index {
            Some(_) => format!("[[{}]]", at.table),
            None => format!("[{}]", at.table),
        };
        let mut seen = 0usize;
        let mut in_table = false;
        let mut header_line = None;
        for (n, line) in self.text.lines().enumerate() {
            let t = line.trim();
            if t.starts_with('[') {
                if in_table {
                    break;
                }
                if t.split('#').next().unwrap_or("").trim() == header {
                    let wanted = at.index.unwrap_or(0);
                    if seen == wanted {
                        in_table = true;
                        header_line = Some(n + 1);
                    }
                    seen += 1;
                }
                continue;
            }
            if in_table {
                if let Some((k, _)) = t.split_once('=') {
                    if k.trim().trim_matches('"') == at.key {
                        return Some(n + 1);
                    }
                }
            }
        }
        header_line
    }

    /// The one place a config duration is parsed: absent, the default; zero or not a
    /// duration, an issue (and the default, though the config is then refused).
    fn duration(&mut self, at: At<'_>, value: Option<&str>, default: Duration) -> Duration {
        let Some(s) = value else { return default };
        match humantime::parse_duration(s) {
            Ok(d) if d.is_zero() => {
                self.report(at, "must be greater than 0");
                default
            }
            Ok(d) => d,
            Err(e) => {
                self.report(
                    at,
                    format!("{s:?} is not a duration like \"30s\" or \"5m\" ({e})"),
                );
                default
            }
        }
    }

    fn positive(&mut self, at: At<'_>, value: Option<i64>, default: u64) -> u64 {
        match value {
            None => default,
            Some(v) if v > 0 => v as u64,
            Some(v) => {
                self.report(
                    at,
                    format!("must be a whole number greater than 0, not {v}"),
                );
                default
            }
        }
    }

    /// The whole file, one section after the other (the order of the issues reported).
    fn config(&mut self, raw: RawConfig) -> Config {
        let probe = self.probe(&raw.probe);
        let listen = self.listen(&raw.http);
        let metrics_token_env = self.env_name(
            At::key("http", "metrics_token_env"),
            raw.http.metrics_token_env,
        );
        let providers = self.providers(raw.providers, &probe);
        self.dependencies(&providers);
        let planner = raw.planner.map(|p| self.planner(p));
        let store = self.store(&raw.store);
        let models = self.models(raw.models, &providers);
        if let Some(planner) = &planner {
            self.chain(&planner.chain, &models);
        }
        let executor = raw.executor.map(|e| self.executor(e));
        if let Some(bus) = &raw.bus {
            self.bus(bus);
        }
        let sessions = raw.sessions.map(|s| self.sessions(s));
        let gateway = raw.gateway.map(|g| self.gateway(g, &models));
        let notifications = raw
            .notifications
            .map(|n| self.notifications(n))
            .unwrap_or_default();
        let alertmanager = raw
            .alertmanager
            .map(|a| self.alertmanager(a))
            .unwrap_or_default();
        Config {
            source: None,
            probe,
            listen,
            metrics_token_env,
            providers,
            planner,
            models,
            bus: raw.bus,
            executor,
            sessions,
            store,
            gateway,
            notifications,
            alertmanager,
            // Not in the file: read from the environment, once per load.
            node: node_name(),
            stuck_file_grace: stuck_grace_from_env(),
            index: HashMap::new(),
        }
    }

    /// `[probe]`: the defaults of every provider.
    fn probe(&mut self, p: &RawProbe) -> ProbeDefaults {
        let at = |key| At::key("probe", key);
        let d = ProbeDefaults::default();
        let backoff = self.duration(at("backoff"), p.backoff.as_deref(), d.backoff);
        ProbeDefaults {
            interval: self.duration(at("interval"), p.interval.as_deref(), d.interval),
            timeout: self.duration(at("timeout"), p.timeout.as_deref(), d.timeout),
            failure_threshold: self.positive(
                at("failure_threshold"),
                p.failure_threshold,
                u64::from(d.failure_threshold),
            ) as u32,
            backoff,
            backoff_max: self.duration(at("backoff_max"), p.backoff_max.as_deref(), backoff),
            confirm_after: p
                .confirm_after
                .as_deref()
                .map(|s| self.duration(at("confirm_after"), Some(s), Duration::from_secs(5))),
            max_concurrency: self.positive(
                at("max_concurrency"),
                p.max_concurrency,
                d.max_concurrency as u64,
            ) as usize,
            raw_retention: self.duration(
                at("raw_retention"),
                p.raw_retention.as_deref(),
                d.raw_retention,
            ),
        }
    }

    /// `[http] listen`.
    fn listen(&mut self, http: &RawHttp) -> SocketAddr {
        let default = || DEFAULT_LISTEN.parse().expect("valid default");
        match http.listen.as_deref() {
            None => default(),
            Some(s) => s.parse().unwrap_or_else(|_| {
                self.report(
                    At::key("http", "listen"),
                    format!("{s:?} is not an address like \"127.0.0.1:7878\""),
                );
                default()
            }),
        }
    }

    /// A key that names an environment variable (`[A-Za-z_][A-Za-z0-9_]*`): the name, or
    /// an issue (an empty or malformed name could never be set).
    fn env_name(&mut self, at: At<'_>, name: Option<String>) -> Option<String> {
        let name = name?;
        let mut chars = name.chars();
        let valid = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if valid {
            Some(name)
        } else {
            self.report(
                at,
                format!(
                    "{name:?} is not an environment variable name (letters, digits and _, not starting with a digit)"
                ),
            );
            None
        }
    }

    /// `[[providers]]`: the valid ones, each id once.
    fn providers(&mut self, raw: Vec<RawProvider>, d: &ProbeDefaults) -> Vec<ProviderConfig> {
        // Sized once: a config lives as long as the engine (10,000 providers grown by
        // doubling kept room for 16,384).
        let mut providers = Vec::with_capacity(raw.len());
        let mut ids = HashSet::with_capacity(raw.len());
        for (i, rp) in raw.into_iter().enumerate() {
            let Some(p) = self.provider(i, rp, d) else {
                continue;
            };
            if ids.insert(p.id.clone()) {
                providers.push(p);
            } else {
                self.report(
                    At::nth("providers", i, "id"),
                    format!("duplicate provider id {:?}", p.id),
                );
            }
        }
        providers
    }

    /// `[store]`.
    fn store(&mut self, raw: &RawStore) -> StoreConfig {
        StoreConfig {
            keep: self.duration(At::key("store", "keep"), raw.keep.as_deref(), DEFAULT_KEEP),
        }
    }

    /// `[planner] chain`: each entry a valid `[[models]]` id or `rules`.
    fn chain(&mut self, chain: &[String], models: &[ModelConfig]) {
        for (i, id) in chain.iter().enumerate() {
            let known = models.iter().any(|m| m.id == *id && valid_id(&m.id));
            if id != "rules" && !known {
                self.report(
                    At::key("planner", "chain"),
                    format!(
                        "entry {} is {id:?}, which is neither a [[models]] id nor \"rules\"",
                        i + 1
                    ),
                );
            }
        }
    }

    /// `[alertmanager]`: label lists of Prometheus label names, each name once.
    fn alertmanager(&mut self, raw: RawAlertmanager) -> AlertmanagerConfig {
        let d = AlertmanagerConfig::default();
        let node_labels = self.label_list("node_labels", raw.node_labels, d.node_labels);
        let service_labels =
            self.label_list("service_labels", raw.service_labels, d.service_labels);
        let severity_label = match raw.severity_label {
            Some(l) if is_label_name(&l) => l,
            Some(l) => {
                self.report(
                    At::key("alertmanager", "severity_label"),
                    format!("{l:?} is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)"),
                );
                d.severity_label
            }
            None => d.severity_label,
        };
        AlertmanagerConfig {
            node_labels,
            service_labels,
            severity_label,
            strip_port: raw.strip_port.unwrap_or(d.strip_port),
        }
    }

    /// `[alertmanager] <key>`: a non-empty list of label names, each once.
    fn label_list(
        &mut self,
        key: &'static str,
        raw: Option<Vec<String>>,
        default: Vec<String>,
    ) -> Vec<String> {
        let at = At::key("alertmanager", key);
        let Some(list) = raw else { return default };
        if list.is_empty() {
            self.report(
                at,
                "must name at least one label (remove the key for the default)",
            );
            return default;
        }
        let mut seen = HashSet::new();
        for l in &list {
            if !is_label_name(l) {
                self.report(
                    at,
                    format!("{l:?} is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)"),
                );
            } else if !seen.insert(l.as_str()) {
                self.report(at, format!("{l:?} is listed twice"));
            }
        }
        list
    }

    /// `[gateway]`: a listen address, at least one key, known targets.
    /// `[notifications]` and its `[[notifications.channels]]`.
    fn notifications(&mut self, raw: RawNotifications) -> NotificationsConfig {
        let ui_url = raw.ui_url.filter(|u| {
            let ok = u.starts_with("http://") || u.starts_with("https://");
            if !ok {
                self.report(
                    At::key("notifications", "ui_url"),
                    format!("{u:?} must start with http:// or https://"),
                );
            }
            ok
        });
        let mut channels: Vec<ChannelConfig> = Vec::with_capacity(raw.channels.len());
        for (i, c) in raw.channels.into_iter().enumerate() {
            let at = |key| At::nth("notifications.channels", i, key);
            let url = match c.url {
                Some(u) if u.starts_with("http://") || u.starts_with("https://") => u,
                Some(u) => {
                    self.report(
                        at("url"),
                        format!("{u:?} must start with http:// or https://"),
                    );
                    continue;
                }
                None => {
                    self.report(at("url"), "is required: the server or receiver URL");
                    continue;
                }
            };
            let target = match c.kind.as_deref() {
                Some("ntfy") => {
                    if c.secret_env.is_some() {
                        self.report(at("secret_env"), "is for webhooks; ntfy takes token_env");
                    }
                    match c.topic.filter(|t| !t.trim().is_empty()) {
                        Some(topic) if topic.contains('/') => {
                            self.report(at("topic"), format!("{topic:?} must not contain '/'"));
                            continue;
                        }
                        Some(topic) => ChannelTarget::Ntfy {
                            url,
                            topic,
                            token_env: c.token_env,
                        },
                        None => {
                            self.report(at("topic"), "is required for an ntfy channel");
                            continue;
                        }
                    }
                }
                Some("webhook") => {
                    if c.topic.is_some() || c.token_env.is_some() {
                        let key = if c.topic.is_some() {
                            "topic"
                        } else {
                            "token_env"
                        };
                        self.report(at(key), "is for ntfy; a webhook takes url and secret_env");
                    }
                    ChannelTarget::Webhook {
                        url,
                        secret_env: c.secret_env,
                    }
                }
                Some(other) => {
                    self.report(at("kind"), format!("{other:?} is not one of ntfy, webhook"));
                    continue;
                }
                None => {
                    self.report(at("kind"), "is required: one of ntfy, webhook");
                    continue;
                }
            };
            let (key, env) = match &target {
                ChannelTarget::Ntfy { token_env, .. } => ("token_env", token_env),
                ChannelTarget::Webhook { secret_env, .. } => ("secret_env", secret_env),
            };
            if env.as_deref().is_some_and(|n| n.trim().is_empty()) {
                self.report(at(key), "must name an environment variable");
            }
            let min_severity = match c.min_severity.as_deref() {
                None => Urgency::Info,
                Some(s) => Urgency::parse(s).unwrap_or_else(|| {
                    self.report(
                        at("min_severity"),
                        format!("{s:?} is not one of info, warning, critical"),
                    );
                    Urgency::Info
                }),
            };
            let mut kinds = Vec::new();
            for k in c.kinds.unwrap_or_default() {
                match NoticeKind::parse(&k) {
                    Some(kind) if !kinds.contains(&kind) => kinds.push(kind),
                    Some(_) => {}
                    None => self.report(
                        at("kinds"),
                        format!(
                            "{k:?} is not one of {}",
                            NoticeKind::ALL.map(NoticeKind::as_str).join(", ")
                        ),
                    ),
                }
            }
            let kind = target.kind();
            let name = match c.name {
                Some(n) if n.trim().is_empty() => {
                    self.report(at("name"), "must not be empty");
                    continue;
                }
                Some(n) => n,
                None => {
                    let same = channels.iter().filter(|c| c.target.kind() == kind).count();
                    if same == 0 {
                        kind.to_owned()
                    } else {
                        format!("{kind}-{}", same + 1)
                    }
                }
            };
            if channels.iter().any(|c| c.name == name) {
                self.report(at("name"), format!("duplicate channel name {name:?}"));
                continue;
            }
            channels.push(ChannelConfig {
                name,
                target,
                min_severity,
                kinds,
            });
        }
        NotificationsConfig { ui_url, channels }
    }

    fn gateway(&mut self, raw: RawGateway, models: &[ModelConfig]) -> GatewayConfig {
        let at = |key| At::key("gateway", key);
        let listen = match raw.listen.as_deref() {
            None => DEFAULT_GATEWAY_LISTEN.parse().expect("valid default"),
            Some(s) => s.parse().unwrap_or_else(|_| {
                self.report(
                    at("listen"),
                    format!("{s:?} is not an address like \"127.0.0.1:7879\""),
                );
                DEFAULT_GATEWAY_LISTEN.parse().expect("valid default")
            }),
        };
        let mut keys: Vec<GatewayKey> = raw
            .api_key_env
            .map(|env| GatewayKey {
                name: "default".into(),
                env,
            })
            .into_iter()
            .collect();
        keys.extend(raw.keys.into_iter().map(|k| GatewayKey {
            name: k.name,
            env: k.env,
        }));
        if keys.is_empty() {
            self.report(
                at("api_key_env"),
                "the gateway needs a key: api_key_env = \"VAR\" or [[gateway.keys]] (name, env)",
            );
        }
        let mut names = HashSet::new();
        for (i, k) in keys.iter().enumerate() {
            if k.env.trim().is_empty() || k.name.trim().is_empty() {
                self.report(
                    At::nth("gateway.keys", i, "env"),
                    "a key needs a name and an env",
                );
            }
            if !names.insert(k.name.clone()) {
                self.report(
                    At::nth("gateway.keys", i, "name"),
                    format!("duplicate key name {:?}", k.name),
                );
            }
        }
        let max_body = match raw.max_body.as_deref() {
            None => DEFAULT_GATEWAY_MAX_BODY,
            Some(s) => parse_size(s).unwrap_or_else(|| {
                self.report(
                    at("max_body"),
                    format!("{s:?} is not a size like \"10MiB\" or \"512KiB\""),
                );
                DEFAULT_GATEWAY_MAX_BODY
            }),
        };
        let mut routes = Vec::new();
        let mut seen = HashSet::new();
        for (i, r) in raw.routes.into_iter().enumerate() {
            if r.model.trim().is_empty() {
                self.report(
                    At::nth("gateway.routes", i, "model"),
                    "a route needs a model name",
                );
            } else if !seen.insert(r.model.clone()) {
                self.report(
                    At::nth("gateway.routes", i, "model"),
                    format!("duplicate route {:?}", r.model),
                );
            }
            if r.targets.is_empty() {
                self.report(
                    At::nth("gateway.routes", i, "targets"),
                    "a route needs targets",
                );
            }
            for t in &r.targets {
                if !models.iter().any(|m| m.id == *t) {
                    self.report(
                        At::nth("gateway.routes", i, "targets"),
                        format!("{t:?} is not a [[models]] id"),
                    );
                }
            }
            routes.push(GatewayRoute {
                model: r.model,
                targets: r.targets,
            });
        }
        GatewayConfig {
            listen,
            keys,
            max_body,
            log_bodies: raw.log_bodies.unwrap_or(false),
            routes,
        }
    }

    /// `[bus]`: a Redis URL, channel names that are not empty.
    fn bus(&mut self, bus: &BusConfig) {
        let at = |key| At::key("bus", key);
        let url = &bus.redis_url;
        if !["redis://", "rediss://", "redis+unix://", "unix://"]
            .iter()
            .any(|scheme| url.starts_with(scheme))
        {
            self.report(
                at("redis_url"),
                format!("{:?} is not a redis:// URL", crate::secret::redact(url)),
            );
        }
        if bus.channels.iter().any(|c| c.trim().is_empty()) {
            self.report(at("channels"), "channel names must not be empty");
        }
    }

    fn planner(&mut self, raw: RawPlanner) -> PlannerConfig {
        let at = |key| At::key("planner", key);
        if let Some(c) = raw.confidence_threshold {
            if !(0.0..=1.0).contains(&c) {
                self.report(at("confidence_threshold"), "must be between 0 and 1");
            }
        }
        let cooldown = self.duration(at("cooldown"), raw.cooldown.as_deref(), DEFAULT_COOLDOWN);
        if let Some(r) = raw.unknown_target_rate {
            if !(1..=i64::from(u32::MAX)).contains(&r) {
                self.report(
                    at("unknown_target_rate"),
                    format!("must be a whole number of proposals per minute, at least 1, not {r}"),
                );
            }
        }
        PlannerConfig {
            cooldown,
            confidence_threshold: raw.confidence_threshold,
            protected_nodes: raw.protected_nodes,
            chain: raw.chain,
            actions_dir: raw.actions_dir,
            events_dir: raw.events_dir,
            unknown_target_rate: raw.unknown_target_rate,
        }
    }

    /// `[[models]]`; a model's `provider` must be one of `providers`.
    fn models(&mut self, raw: Vec<RawModel>, providers: &[ProviderConfig]) -> Vec<ModelConfig> {
        let providers: HashSet<&str> = providers.iter().map(|p| p.id.as_str()).collect();
        let mut ids = HashSet::new();
        raw.into_iter()
            .enumerate()
            .map(|(i, m)| self.model(i, m, &providers, &mut ids))
            .collect()
    }

    /// One `[[models]]` entry; `ids` holds the valid model ids seen before it.
    fn model(
        &mut self,
        i: usize,
        m: RawModel,
        providers: &HashSet<&str>,
        ids: &mut HashSet<String>,
    ) -> ModelConfig {
        let at = |key| At::nth("models", i, key);
        if !matches!(m.api.as_str(), "openai" | "anthropic") {
            self.report(
                at("api"),
                format!("{:?} is not one of openai, anthropic", m.api),
            );
        }
        if !valid_id(&m.id) || m.id == "rules" {
            self.report(
                at("id"),
                format!(
                    "{:?} must be non-empty, use only A-Z a-z 0-9 _ . - and not be \"rules\" (the built-in planner)",
                    m.id
                ),
            );
        } else if !ids.insert(m.id.clone()) {
            self.report(at("id"), format!("duplicate model id {:?}", m.id));
        }
        if !(m.url.starts_with("http://") || m.url.starts_with("https://")) {
            self.report(at("url"), format!("{:?} is not an http(s) URL", m.url));
        }
        if let Some(p) = &m.provider {
            if !providers.contains(p.as_str()) {
                self.report(at("provider"), format!("unknown provider {p:?}"));
            }
        }
        let timeout = self.duration(at("timeout"), m.timeout.as_deref(), DEFAULT_MODEL_TIMEOUT);
        ModelConfig {
            id: m.id,
            api: m.api,
            url: m.url,
            model: m.model,
            provider: m.provider,
            api_key_env: m.api_key_env,
            timeout,
        }
    }

    fn executor(&mut self, raw: RawExecutor) -> ExecutorConfig {
        let at = |key| At::key("executor", key);
        let auto_execute = raw.auto_execute.map(|levels| {
            let mut risks = Vec::new();
            for level in levels {
                match Risk::parse(&level) {
                    Some(risk) => risks.push(risk),
                    None => self.report(
                        at("auto_execute"),
                        format!("{level:?} is not one of none, low, guarded"),
                    ),
                }
            }
            risks
        });
        let timeout = self.duration(
            at("timeout"),
            raw.timeout.as_deref(),
            DEFAULT_EXECUTOR_TIMEOUT,
        );
        let proposal_ttl = self.duration(
            at("proposal_ttl"),
            raw.proposal_ttl.as_deref(),
            DEFAULT_PROPOSAL_TTL,
        );
        self.commands(&raw.commands);
        ExecutorConfig {
            auto_execute,
            timeout,
            proposal_ttl,
            commands: raw.commands,
        }
    }

    /// `[executor.commands]`: keys name a kind that runs a command, values are argv lists.
    fn commands(&mut self, commands: &BTreeMap<String, Vec<String>>) {
        let at = At::key("executor", "commands");
        for (name, argv) in commands {
            let kind = name.split(':').next().unwrap_or_default();
            if !matches!(kind, "container_restart" | "redeploy") {
                self.report(
                    at,
                    format!(
                        "{name:?}: commands are for container_restart or redeploy \
                         (optionally \"kind:service\" or \"kind:node/service\")"
                    ),
                );
            }
            let bad = argv.is_empty()
                || argv[0].contains('{')
                || argv.iter().any(|a| {
                    a.replace("{node}", "")
                        .replace("{service}", "")
                        .contains(['{', '}'])
                });
            if bad {
                self.report(
                    at,
                    format!(
                        "{name:?}: an argv list whose program is fixed and whose only \
                         placeholders are {{node}} and {{service}}"
                    ),
                );
            }
        }
    }

    fn sessions(&mut self, raw: RawSessions) -> SessionsConfig {
        if raw.root.as_os_str().is_empty() {
            self.report(
                At::key("sessions", "root"),
                "must not be empty: the directory holding <user>/*.jsonl",
            );
        }
        let mut names = HashSet::new();
        let processors = raw
            .processors
            .into_iter()
            .enumerate()
            .map(|(i, p)| self.session_processor(i, p, &mut names))
            .collect();
        SessionsConfig {
            root: raw.root,
            processors,
        }
    }

    /// One `[[sessions.processors]]`; `names` holds the valid names seen before it.
    fn session_processor(
        &mut self,
        i: usize,
        p: RawSessionProcessor,
        names: &mut HashSet<String>,
    ) -> SessionProcessorConfig {
        let at = |key| At::nth("sessions.processors", i, key);
        if !valid_id(&p.name) {
            self.report(
                at("name"),
                format!(
                    "{:?} must be non-empty and use only A-Z a-z 0-9 _ . -",
                    p.name
                ),
            );
        } else if !names.insert(p.name.clone()) {
            self.report(at("name"), format!("duplicate processor name {:?}", p.name));
        }
        let cadence = self.duration(at("cadence"), p.cadence.as_deref(), DEFAULT_SESSION_CADENCE);
        let timeout = self.session_processor_kind(i, &p);
        SessionProcessorConfig {
            name: p.name,
            kind: p.kind,
            command: p.command,
            cadence,
            enabled: p.enabled,
            timeout,
        }
    }

    /// What a session processor's `kind` needs and refuses; its `timeout` (which only
    /// `command` uses).
    fn session_processor_kind(&mut self, i: usize, p: &RawSessionProcessor) -> Duration {
        let at = |key| At::nth("sessions.processors", i, key);
        match p.kind.as_str() {
            "usage" => {
                for (key, present) in [
                    ("command", p.command.is_some()),
                    ("timeout", p.timeout.is_some()),
                ] {
                    if present {
                        self.report(at(key), "is not used by kind \"usage\"");
                    }
                }
                DEFAULT_SESSION_TIMEOUT
            }
            "command" => {
                let timeout =
                    self.duration(at("timeout"), p.timeout.as_deref(), DEFAULT_SESSION_TIMEOUT);
                let problem = match &p.command {
                    None => Some(
                        "is required for kind \"command\": an argv list such as \
                         [\"verify-session\", \"{file}\"]"
                            .to_owned(),
                    ),
                    Some(argv) => session_command_problem(argv),
                };
                if let Some(problem) = problem {
                    self.report(at("command"), problem);
                }
                timeout
            }
            other => {
                self.report(
                    at("kind"),
                    format!("{other:?} is not one of usage, command"),
                );
                DEFAULT_SESSION_TIMEOUT
            }
        }
    }

    fn dependencies(&mut self, providers: &[ProviderConfig]) {
        let known: HashSet<&str> = providers.iter().map(|p| p.id.as_str()).collect();
        for (i, p) in providers.iter().enumerate() {
            for dep in &p.depends_on {
                if !known.contains(dep.as_str()) {
                    self.report(
                        At::nth("providers", i, "depends_on"),
                        format!("unknown provider {dep:?}"),
                    );
                }
            }
        }
        // Cycles: a depth-first walk over the declared edges.
        fn visit<'p>(
            id: &'p str,
            providers: &'p [ProviderConfig],
            path: &mut Vec<&'p str>,
            done: &mut HashSet<&'p str>,
        ) -> Option<Vec<String>> {
            if let Some(pos) = path.iter().position(|p| *p == id) {
                let mut cycle: Vec<String> = path[pos..].iter().map(|s| s.to_string()).collect();
                cycle.push(id.to_owned());
                return Some(cycle);
            }
            if !done.insert(id) {
                return None;
            }
            path.push(id);
            let deps = providers
                .iter()
                .find(|p| p.id == id)
                .map(|p| p.depends_on.as_slice())
                .unwrap_or_default();
            for dep in deps {
                if let Some(c) = visit(dep, providers, path, done) {
                    return Some(c);
                }
            }
            path.pop();
            None
        }
        let mut done = HashSet::new();
        for (i, p) in providers.iter().enumerate() {
            if let Some(cycle) = visit(&p.id, providers, &mut Vec::new(), &mut done) {
                self.report(
                    At::nth("providers", i, "depends_on"),
                    format!("dependency cycle: {}", cycle.join(" -> ")),
                );
                break;
            }
        }
    }

    /// The `i`-th `[[providers]]`, or none when anything in it is wrong.
    fn provider(
        &mut self,
        i: usize,
        mut rp: RawProvider,
        d: &ProbeDefaults,
    ) -> Option<ProviderConfig> {
        let at = |key| At::nth("providers", i, key);
        let before = self.issues.len();
        let (id, node, service) = self.provider_names(i, &mut rp);
        let interval = self.duration(at("interval"), rp.interval.as_deref(), d.interval);
        let timeout = self.duration(at("timeout"), rp.timeout.as_deref(), d.timeout);
        let policy = self.provider_policy(i, &rp, d);
        let confirm_after = match rp.confirm_after.as_deref() {
            Some(s) => Some(self.duration(at("confirm_after"), Some(s), Duration::from_secs(5))),
            None => d.confirm_after,
        };
        let enabled = rp.enabled.unwrap_or(true);
        let depends_on = rp.depends_on.take().unwrap_or_default();
        let target = self.target(i, rp)?;
        (self.issues.len() == before).then_some(ProviderConfig {
            id,
            node,
            service,
            enabled,
            interval,
            timeout,
            confirm_after,
            policy,
            depends_on,
            target,
        })
    }

    /// A provider's `id`, `node` and `service` (the id by default), taken from `rp`.
    fn provider_names(&mut self, i: usize, rp: &mut RawProvider) -> (String, String, String) {
        let at = |key| At::nth("providers", i, key);
        let id = match rp.id.take() {
            Some(id) if valid_id(&id) => id,
            Some(id) => {
                self.report(
                    at("id"),
                    format!("{id:?} must be non-empty and use only A-Z a-z 0-9 _ . -"),
                );
                id
            }
            None => {
                self.report(at("id"), "is required");
                String::new()
            }
        };
        let node = rp.node.take().unwrap_or_else(|| {
            self.report(at("node"), "is required");
            String::new()
        });
        if !node.is_empty() && !valid_id(&node) {
            self.report(
                at("node"),
                format!("{node:?} must use only A-Z a-z 0-9 _ . -"),
            );
        }
        let service = rp.service.take().unwrap_or_else(|| id.clone());
        if !valid_id(&service) {
            self.report(
                at("service"),
                format!("{service:?} must use only A-Z a-z 0-9 _ . -"),
            );
        }
        (id, node, service)
    }

    /// A provider's breaker: its own settings over the `[probe]` defaults. A provider that
    /// sets its `backoff` grows it up to at least the default `backoff_max`.
    fn provider_policy(&mut self, i: usize, rp: &RawProvider, d: &ProbeDefaults) -> BreakerPolicy {
        let at = |key| At::nth("providers", i, key);
        let backoff = self.duration(at("backoff"), rp.backoff.as_deref(), d.backoff);
        let failure_threshold = self.positive(
            at("failure_threshold"),
            rp.failure_threshold,
            u64::from(d.failure_threshold),
        ) as u32;
        let backoff_max_default = if rp.backoff.is_some() {
            backoff.max(d.backoff_max)
        } else {
            d.backoff_max
        };
        BreakerPolicy {
            failure_threshold,
            backoff,
            backoff_max: self.duration(
                at("backoff_max"),
                rp.backoff_max.as_deref(),
                backoff_max_default,
            ),
        }
    }

    /// What a provider probes, by its `kind`; none when the kind is missing or unknown.
    fn target(&mut self, i: usize, rp: RawProvider) -> Option<Target> {
        let at = At::nth("providers", i, "kind");
        match rp.kind.as_deref().unwrap_or("") {
            "http" => Some(self.http_target(i, rp)),
            "tcp" => Some(self.tcp_target(i, rp)),
            "llm" => Some(self.llm_target(i, rp)),
            "command" => Some(self.command_target(i, rp)),
            "" => {
                self.report(at, "is required: one of http, tcp, llm, command");
                None
            }
            other => {
                self.report(
                    at,
                    format!("{other:?} is not one of http, tcp, llm, command"),
                );
                None
            }
        }
    }

    /// Reports each `(key, present)` of the `i`-th provider that its `kind` does not use.
    fn unused(&mut self, i: usize, kind: &str, fields: &[(&'static str, bool)]) {
        for &(key, present) in fields {
            if present {
                self.report(
                    At::nth("providers", i, key),
                    format!("is not used by kind {kind:?}"),
                );
            }
        }
    }

    fn http_target(&mut self, i: usize, rp: RawProvider) -> Target {
        let at = |key| At::nth("providers", i, key);
        self.unused(
            i,
            "http",
            &[
                ("address", rp.address.is_some()),
                ("api", rp.api.is_some()),
                ("model", rp.model.is_some()),
                ("command", rp.command.is_some()),
                ("api_key_env", rp.api_key_env.is_some()),
            ],
        );
        let url = self.url(at("url"), rp.url);
        let expect_status = rp.expect_status.and_then(|s| match u16::try_from(s) {
            Ok(s) if (100..=599).contains(&s) => Some(s),
            _ => {
                self.report(at("expect_status"), format!("{s} is not an HTTP status"));
                None
            }
        });
        let expect_json = rp.expect_json.and_then(|j| {
            if !j.pointer.starts_with('/') {
                self.report(
                    at("expect_json"),
                    format!(
                        "pointer {:?} must start with '/', e.g. \"/status\"",
                        j.pointer
                    ),
                );
                return None;
            }
            Some(JsonExpect {
                pointer: j.pointer,
                equals: serde_json::to_value(j.equals).unwrap_or_default(),
            })
        });
        Target::Http {
            url,
            expect_status,
            expect_body: rp.expect_body,
            expect_json,
            headers: rp.headers.unwrap_or_default(),
        }
    }

    fn tcp_target(&mut self, i: usize, rp: RawProvider) -> Target {
        let at = At::nth("providers", i, "address");
        self.unused(
            i,
            "tcp",
            &[
                ("url", rp.url.is_some()),
                ("command", rp.command.is_some()),
                ("api", rp.api.is_some()),
            ],
        );
        let address = rp.address.unwrap_or_else(|| {
            self.report(at, "is required for kind \"tcp\" (host:port)");
            String::new()
        });
        if !address.is_empty()
            && address
                .rsplit_once(':')
                .is_none_or(|(_, p)| p.parse::<u16>().is_err())
        {
            self.report(at, format!("{address:?} is not host:port"));
        }
        Target::Tcp { address }
    }

    fn llm_target(&mut self, i: usize, rp: RawProvider) -> Target {
        let at = |key| At::nth("providers", i, key);
        self.unused(
            i,
            "llm",
            &[
                ("command", rp.command.is_some()),
                ("address", rp.address.is_some()),
            ],
        );
        let api = match rp.api.as_deref() {
            Some("ollama") => LlmApi::Ollama,
            Some("openai") | None => LlmApi::OpenAi,
            Some(other) => {
                self.report(at("api"), format!("{other:?} is not one of ollama, openai"));
                LlmApi::OpenAi
            }
        };
        Target::Llm {
            api,
            url: self.url(at("url"), rp.url),
            api_key_env: rp.api_key_env,
            model: rp.model,
        }
    }

    fn command_target(&mut self, i: usize, rp: RawProvider) -> Target {
        self.unused(
            i,
            "command",
            &[("url", rp.url.is_some()), ("address", rp.address.is_some())],
        );
        let argv = rp.command.unwrap_or_default();
        if argv.is_empty() || argv[0].is_empty() {
            self.report(
                At::nth("providers", i, "command"),
                "is required for kind \"command\": an argv list such as [\"/usr/bin/check\", \"--quick\"]",
            );
        }
        Target::Command { argv }
    }

    fn url(&mut self, at: At<'_>, url: Option<String>) -> String {
        match url {
            Some(u) if u.starts_with("http://") || u.starts_with("https://") => u,
            Some(u) => {
                self.report(at, format!("{u:?} must start with http:// or https://"));
                u
            }
            None => {
                self.report(at, "is required");
                String::new()
            }
        }
    }
}

/// What is wrong with a session processor's argv, if anything: the program must be fixed
/// and non-empty, `{file}` must appear (else the command cannot know which file), and it is
/// the only placeholder (any other brace is refused rather than passed on literally).
pub fn session_command_problem(argv: &[String]) -> Option<String> {
    let Some(program) = argv.first().filter(|p| !p.is_empty()) else {
        return Some(
            "must start with a program: an argv list such as [\"verify-session\", \"{file}\"]"
                .into(),
        );
    };
    if program.contains(['{', '}']) {
        return Some(format!(
            "the program {program:?} must be fixed; {{file}} goes in an argument"
        ));
    }
    if let Some(bad) = argv
        .iter()
        .find(|a| a.replace(SESSION_FILE_PLACEHOLDER, "").contains(['{', '}']))
    {
        return Some(format!(
            "{bad:?}: {{file}} is the only placeholder (no other braces)"
        ));
    }
    if !argv[1..]
        .iter()
        .any(|a| a.contains(SESSION_FILE_PLACEHOLDER))
    {
        return Some("must pass the file: put {file} in an argument".into());
    }
    None
}

pub fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// `--config`, else `STEWARD_CONFIG`, else the user's config dir.
pub fn config_path(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_owned();
    }
    if let Some(p) = std::env::var_os("STEWARD_CONFIG").filter(|v| !v.is_empty()) {
        return PathBuf::from(p);
    }
    dirs::config_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("steward")
        .join("config.toml")
}

/// `STEWARD_DATA_DIR`, else the user's data dir.
pub fn data_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("STEWARD_DATA_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(p);
    }
    dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("steward")
}

/// The env var naming this workstation's node (design.md "Interfaces").
pub const NODE_NAME_ENV: &str = "NODE_NAME";

/// The env var that replaces the session pipeline's stuck-file grace, in seconds.
pub const STUCK_GRACE_ENV: &str = "SESSION_PIPELINE_STUCK_FILE_GRACE_SECONDS";

/// This workstation's node name: `NODE_NAME`, else the hostname. Read at call time: code
/// with a [`Config`] uses [`Config::node`], resolved once per load, instead.
pub fn node_name() -> String {
    resolve_node(std::env::var(NODE_NAME_ENV).ok(), || {
        hostname::get().ok().and_then(|h| h.into_string().ok())
    })
}

/// The node name from `NODE_NAME`'s value and the hostname: a non-empty `NODE_NAME`, else
/// the hostname, else `localhost`. Pure but for `hostname`, asked only when needed.
pub fn resolve_node(
    node_name: Option<String>,
    hostname: impl FnOnce() -> Option<String>,
) -> String {
    node_name
        .filter(|v| !v.is_empty())
        .or_else(hostname)
        .unwrap_or_else(|| "localhost".to_owned())
}

/// [`STUCK_GRACE_ENV`] as a duration, read at call time (see [`parse_stuck_grace`]). Code
/// with a [`Config`] uses [`Config::stuck_file_grace`], resolved once per load, instead.
pub fn stuck_grace_from_env() -> Option<Duration> {
    parse_stuck_grace(std::env::var(STUCK_GRACE_ENV).ok().as_deref())
}

/// The value of [`STUCK_GRACE_ENV`] as a duration: whole seconds greater than 0, else none
/// (and a warning when set but unusable).
/// A size like `10MiB`, `512KiB`, `1MB`, `2048` (bytes); `None` when unreadable or 0.
pub fn parse_size(s: &str) -> Option<usize> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: usize = n.parse().ok()?;
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1024,
        "m" | "mb" => 1000 * 1000,
        "mib" => 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(factor).filter(|v| *v > 0)
}

pub fn parse_stuck_grace(value: Option<&str>) -> Option<Duration> {
    let value = value?.trim();
    match value.parse::<u64>() {
        Ok(secs) if secs > 0 => Some(Duration::from_secs(secs)),
        _ => {
            tracing::warn!(
                value,
                "{STUCK_GRACE_ENV} must be whole seconds greater than 0; using the default"
            );
            None
        }
    }
}

/// Written on first run. Every key is commented so the file documents itself.
pub const DEFAULT_CONFIG: &str = r#"# Steward configuration. Durations are strings like "30s", "5m", "1h".
# Edit and save: Steward reloads this file; a broken edit keeps the last good config
# and shows the error in the window and at GET /api/health/detailed.

[probe]                      # defaults for every provider
interval = "30s"             # how often each provider is probed
timeout = "3s"               # each probe's own limit
failure_threshold = 2        # consecutive failures that open the breaker
backoff = "60s"              # how long an open breaker skips the provider
# backoff_max = "10m"        # grow the window on failed trials, up to this
# confirm_after = "5s"       # re-probe this soon after a first failure
# max_concurrency = 64       # probes started at once (as many again may hang)

[http]                       # headless API and UI (steward serve)
listen = "127.0.0.1:7878"
# metrics_token_env = "STEWARD_METRICS_TOKEN"   # a scrape-only token for GET /metrics

# [[providers]]
# id = "web"                 # unique, [A-Za-z0-9_.-]+
# kind = "http"              # http | tcp | llm | command
# url = "http://127.0.0.1:8080/health"
# expect_status = 200        # default: any 2xx
# expect_body = "ok"         # optional: the body must contain this
# expect_json = { pointer = "/status", equals = "ok" }
# headers = { Authorization = "Bearer ${WEB_TOKEN}" }   # secrets from env vars
# node = "piha"
# service = "nginx"
# depends_on = ["router"]

# [[providers]]
# id = "mqtt"
# kind = "tcp"
# address = "127.0.0.1:1883"
# node = "piha"
# service = "mosquitto"

# [[providers]]
# id = "ollama"
# kind = "llm"
# api = "ollama"             # ollama (/api/tags) | openai (/v1/models)
# url = "http://127.0.0.1:11434"
# model = "qwen2.5:7b"       # optional: down when the server does not list it
# api_key_env = "OPENAI_API_KEY"
# node = "solaria"
# service = "ollama"

# [[providers]]
# id = "backup"
# kind = "command"
# command = ["/usr/local/bin/check-backup", "--quick"]   # argv, no shell; exit 0 = up
# node = "nas"
# service = "backup"

# When a breaker trips (or an event arrives on the bus or at POST /api/events), Steward
# plans a fix. Without [[models]] the built-in "rules" planner answers; the safety rules
# below are enforced in code whatever a model says.
# [planner]
# cooldown = "5m"                 # one plan per node/service per cooldown
# confidence_threshold = 0.7      # below: the proposal waits for your approval
# protected_nodes = ["chelsty*"]  # globs: always wait for your approval
# chain = ["local", "rules"]      # models asked in order; default: every model, then rules
# actions_dir = "/srv/actions"    # default: <data dir>/actions (one JSON file per proposal)
# events_dir = "/srv/events"      # default: <data dir>/events/YYYY-MM-DD/<node>/
# unknown_target_rate = 20        # new proposals a minute for targets not in [[providers]];
#                                 # beyond it events are counted (unknown_target_limited)

# [[models]]
# id = "local"
# api = "openai"                  # openai (chat completions: Ollama /v1, LiteLLM, vLLM, Groq)
#                                 # | anthropic (Messages API)
# url = "http://127.0.0.1:11434/v1"
# model = "qwen2.5:7b"
# provider = "ollama"             # skipped while this provider's breaker is open
# api_key_env = "OPENAI_API_KEY"  # the key is read from this env var, never stored
# timeout = "30s"

# Other workstations' health events in, Steward's own events out.
# [bus]
# redis_url = "redis://127.0.0.1:6379"
# channels = ["health_events", "world_updates"]
# publish_channel = "steward_events"
# trusted = false                 # true: bus events may run fixes without a click

# What an approved proposal runs: argv lists, never a shell; {node} and {service} are the
# only placeholders and only names from [[providers]] are ever put in. Without [executor]
# nothing runs by itself and approving a restart fails with "no template".
# [executor]
# auto_execute = ["none", "low"]  # risk levels that run without a click (3 an hour per
#                                 # service; only for enabled providers); [] = never
# timeout = "60s"                 # then the whole process group is killed
# proposal_ttl = "15m"            # pending longer: expired
# [executor.commands]
# container_restart = ["docker", "restart", "{service}"]
# redeploy = ["ssh", "{node}", "deploy", "{service}"]
# "container_restart:mosquitto" = ["systemctl", "restart", "mosquitto"]   # per service

# Alertmanager's webhook (POST /api/alertmanager, payload version 4, the API token as
# bearer): each firing alert is a health event, a resolved one makes its pending
# proposal stale. These say which labels name the node, the service and the severity;
# the first label with a value wins. Without this table the defaults below apply.
# [alertmanager]
# node_labels = ["instance", "node"]   # "host:9100" and "https://host/x" become "host"
# service_labels = ["job", "service"]  # none set: the node
# severity_label = "severity"          # absent: warning
# strip_port = true                    # false: the node label's value as it is

# How long history is kept: decided proposals (not pending, approved or running) with
# their audit rows and action files, the timeline, the event files' date folders, and
# what is known of Alertmanager alerts not heard of since.
# [store]
# keep = "90d"                    # a duration: "90d", "2w", "720h"

# Session logs under <root>/<user>/*.jsonl: watched, handed to processors, and the
# pipeline's health (stale after 2 × cadence; a file left unprocessed is reported).
# [sessions]
# root = "/data/user_sessions"
# [[sessions.processors]]
# name = "usage"                  # unique, [A-Za-z0-9_.-]+
# kind = "usage"                  # built in: records, malformed lines, tokens by model
# cadence = "15m"                 # and soon after files change
# [[sessions.processors]]
# name = "verification"
# kind = "command"                # run once per new or changed file; exit 0 = processed
# command = ["verify-session", "{file}"]   # argv, no shell; {file}: the file's absolute path
# timeout = "5m"                  # per file, then its process group is killed
# enabled = true                  # false: listed, runs only when asked

# Push channels beside the native notification, for when you are away from the desk.
# Each takes notices at or above min_severity (info | warning | critical) of the listed
# kinds (incident, recovery, proposal, remediation, pipeline, observer; absent: all).
# Snoozing stops them too. A failing channel is retried and shown in the status bar.
# [notifications]
# ui_url = "http://steward.lan:7878/"   # what a click opens (default: [http] listen)
# [[notifications.channels]]
# kind = "ntfy"
# url = "https://ntfy.sh"
# topic = "my-steward-alerts"
# token_env = "NTFY_TOKEN"        # optional access token, read from this env var
# min_severity = "warning"
# [[notifications.channels]]
# kind = "webhook"
# url = "https://hooks.example.org/steward"
# secret_env = "STEWARD_WEBHOOK_SECRET"   # HMAC-SHA256 of the body in X-Steward-Signature-256
# kinds = ["incident", "proposal"]
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Some(Path::new("steward.toml")))
    }

    fn errors(text: &str) -> String {
        parse(text)
            .expect_err("config should be rejected")
            .to_string()
    }

    /// A file of every provider form, with sub-tables placed after other sections.
    const FLEET: &str = r#"
node = "ws"   # not a real key: the rest must keep its errors

[probe]
interval = "30s"

[[providers]]
id = "web"
kind = "http"
node = "ws"
url = "http://127.0.0.1:8080/health?x=[[providers]]"
expect_status = 200
expect_json = { pointer = "/ok", equals = true }
depends_on = ["db"]
[providers.headers]
Authorization = "Bearer ${WEB_TOKEN}"

[[models]]
id = "local"
api = "openai"
url = "http://127.0.0.1:11434/v1"
model = "qwen2.5:7b"

[[providers]]
id = "db"
kind = "tcp"
node = "ws"
address = "127.0.0.1:5432"
# [[providers]] in a comment
[[providers]]
id = "job"
kind = "command"
node = "ws"
command = [
  "/usr/bin/true",
  "[not a header]",
]
[executor]
timeout = "30s"
[providers.headers]
X-Late = "attached to job"
"#;

    #[test]
    fn a_file_read_one_provider_at_a_time_reads_as_the_whole_document_does() {
        let text = FLEET.replacen(
            "node = \"ws\"   # not a real key: the rest must keep its errors\n",
            "",
            1,
        );
        let parts = split::split(&text).expect("this file is read in parts");
        assert_eq!(parts.providers.len(), 3);
        let whole: RawConfig = toml::from_str(&text).unwrap();
        let in_parts = Config::raw_in_parts(&text, &parts).expect("every part reads");
        assert_eq!(format!("{in_parts:?}"), format!("{whole:?}"));
        let config = parse(&text).unwrap();
        let ids: Vec<&str> = config.providers.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["web", "db", "job"], "file order is kept");
        let late = in_parts.providers[2]
            .headers
            .as_ref()
            .and_then(|h| h.get("X-Late"));
        assert_eq!(
            late.map(String::as_str),
            Some("attached to job"),
            "a late sub-table"
        );
    }

    #[test]
    fn an_error_in_a_file_read_in_parts_is_the_whole_document_s_error() {
        // An unknown key in the rest, and one in an entry: the same message and line as
        // parsing the whole text gives.
        let whole_error = |text: &str| {
            let e = toml::from_str::<RawConfig>(text).unwrap_err();
            (
                e.message().trim().to_owned(),
                e.span().map(|s| line_of(text, s.start)),
            )
        };
        for text in [
            FLEET.to_owned(),
            FLEET
                .replacen(
                    "node = \"ws\"   # not a real key: the rest must keep its errors\n",
                    "",
                    1,
                )
                .replacen("address = ", "adress = ", 1),
        ] {
            let (message, line) = whole_error(&text);
            let e = errors(&text);
            assert!(e.contains(&message), "{e}");
            assert!(
                e.contains(&format!("steward.toml:{}", line.unwrap())),
                "{e}"
            );
        }
    }

    #[test]
    fn the_node_is_a_non_empty_node_name_else_the_hostname_else_localhost() {
        let host = || Some("workstation".to_owned());
        assert_eq!(resolve_node(Some("piha".into()), host), "piha");
        assert_eq!(
            resolve_node(Some(String::new()), host),
            "workstation",
            "an empty NODE_NAME is unset"
        );
        assert_eq!(resolve_node(None, host), "workstation");
        assert_eq!(resolve_node(None, || None), "localhost");
        assert_eq!(
            resolve_node(Some("piha".into()), || panic!("not asked")),
            "piha",
            "the hostname is looked up only when needed"
        );
    }

    #[test]
    fn a_loaded_config_carries_the_node_and_stuck_grace_of_the_environment() {
        let c = parse("").unwrap();
        assert_eq!(c.node, node_name());
        assert_eq!(c.stuck_file_grace, stuck_grace_from_env());
    }

    #[test]
    fn the_stuck_grace_override_is_whole_seconds_greater_than_zero() {
        assert_eq!(parse_stuck_grace(Some("60")), Some(Duration::from_secs(60)));
        assert_eq!(
            parse_stuck_grace(Some(" 7200 ")),
            Some(Duration::from_secs(7200))
        );
        for bad in ["0", "-5", "1h", "", "soon"] {
            assert_eq!(parse_stuck_grace(Some(bad)), None, "{bad:?}");
        }
        assert_eq!(parse_stuck_grace(None), None);
    }

    #[test]
    fn the_commented_default_parses_to_the_documented_defaults() {
        let c = parse(DEFAULT_CONFIG).unwrap();
        assert_eq!(c.probe, ProbeDefaults::default());
        assert_eq!(c.listen.to_string(), "127.0.0.1:7878");
        assert!(c.providers.is_empty());
    }

    #[test]
    fn the_unknown_target_rate_is_a_whole_number_of_at_least_one() {
        let rate = |v: &str| parse(&format!("[planner]\nunknown_target_rate = {v}\n"));
        assert_eq!(rate("5").unwrap().planner.unwrap().unknown_target_rate(), 5);
        assert_eq!(
            parse("[planner]\n")
                .unwrap()
                .planner
                .unwrap()
                .unknown_target_rate(),
            20,
            "20 a minute by default"
        );
        for bad in ["0", "-3"] {
            let msg = rate(bad).expect_err(bad).to_string();
            assert!(
                msg.contains("steward.toml:2: planner.unknown_target_rate: must be a whole number")
                    && msg.contains(&format!("not {bad}")),
                "{msg}"
            );
        }
        let msg = rate("2.5").expect_err("a fraction").to_string();
        assert!(msg.contains("steward.toml:2"), "{msg}");
        let msg = rate("\"20\"").expect_err("a string").to_string();
        assert!(msg.contains("steward.toml:2"), "{msg}");
    }

    #[test]
    fn the_planner_cooldown_is_typed_at_load_and_five_minutes_by_default() {
        assert_eq!(DEFAULT_COOLDOWN, Duration::from_secs(300));
        assert_eq!(
            parse("").unwrap().cooldown(),
            DEFAULT_COOLDOWN,
            "no [planner]"
        );
        let c = parse("[planner]\n").unwrap();
        assert_eq!(c.planner.as_ref().unwrap().cooldown, DEFAULT_COOLDOWN);
        assert_eq!(c.cooldown(), DEFAULT_COOLDOWN);
        let c = parse("[planner]\ncooldown = \"90s\"\n").unwrap();
        assert_eq!(c.planner.unwrap().cooldown, Duration::from_secs(90));
        let msg = errors("[planner]\ncooldown = \"soon\"\n");
        assert!(
            msg.contains("steward.toml:2: planner.cooldown: \"soon\" is not a duration"),
            "{msg}"
        );
        let msg = errors("[planner]\nchain = []\ncooldown = \"0s\"\n");
        assert_eq!(
            msg,
            "steward.toml:3: planner.cooldown: must be greater than 0"
        );
    }

    #[test]
    fn executor_durations_and_levels_are_typed_at_load_with_their_defaults() {
        assert_eq!(DEFAULT_EXECUTOR_TIMEOUT, Duration::from_secs(60));
        assert_eq!(DEFAULT_PROPOSAL_TTL, Duration::from_secs(15 * 60));
        let none = parse("").unwrap();
        assert!(none.executor.is_none());
        assert_eq!(none.executor_timeout(), DEFAULT_EXECUTOR_TIMEOUT);
        assert_eq!(none.proposal_ttl(), DEFAULT_PROPOSAL_TTL);
        let c = parse("[executor]\n").unwrap();
        let ex = c.executor.as_ref().unwrap();
        assert_eq!(ex.timeout, DEFAULT_EXECUTOR_TIMEOUT);
        assert_eq!(ex.proposal_ttl, DEFAULT_PROPOSAL_TTL);
        assert_eq!(ex.auto_execute, None);
        assert_eq!(
            ex.auto_levels(),
            [Risk::None, Risk::Low],
            "absent: the default"
        );
        let c = parse(
            "[executor]\nauto_execute = [\"guarded\"]\ntimeout = \"2m\"\nproposal_ttl = \"1h\"\n",
        )
        .unwrap();
        assert_eq!(c.executor_timeout(), Duration::from_secs(120));
        assert_eq!(c.proposal_ttl(), Duration::from_secs(3600));
        assert_eq!(c.executor.unwrap().auto_levels(), [Risk::Guarded]);
        let c = parse("[executor]\nauto_execute = []\n").unwrap();
        let ex = c.executor.unwrap();
        assert_eq!(ex.auto_execute, Some(vec![]));
        assert!(
            ex.auto_levels().is_empty(),
            "an explicit [] runs nothing by itself"
        );
        let msg = errors("[executor]\nauto_execute = [\"low\"]\nproposal_ttl = \"0s\"\n");
        assert_eq!(
            msg,
            "steward.toml:3: executor.proposal_ttl: must be greater than 0"
        );
        let msg = errors("[executor]\ntimeout = \"soon\"\nauto_execute = [\"high\"]\n");
        assert!(
            msg.contains(
                "steward.toml:3: executor.auto_execute: \"high\" is not one of none, low, guarded"
            ),
            "{msg}"
        );
        assert!(
            msg.contains("steward.toml:2: executor.timeout: \"soon\" is not a duration"),
            "{msg}"
        );
    }

    #[test]
    fn store_keep_is_a_human_duration_of_ninety_days_by_default() {
        assert_eq!(parse("").unwrap().store.keep, DEFAULT_KEEP);
        assert_eq!(DEFAULT_KEEP, Duration::from_secs(90 * 86_400));
        let c = parse("[store]\nkeep = \"2w\"\n").unwrap();
        assert_eq!(c.store.keep, Duration::from_secs(14 * 86_400));
        let msg = errors("[store]\nkeep = \"forever\"\n");
        assert!(
            msg.contains("steward.toml:2: store.keep: \"forever\" is not a duration"),
            "{msg}"
        );
        let msg = errors("[store]\nkeep = \"0d\"\n");
        assert!(msg.contains("store.keep: must be greater than 0"), "{msg}");
        assert!(errors("[store]\nkept = \"1d\"\n").contains("unknown field"));
        // The commented example in the default config is valid once uncommented.
        let block: String = DEFAULT_CONFIG
            .lines()
            .skip_while(|l| !l.starts_with("# [store]"))
            .take_while(|l| !l.is_empty())
            .map(|l| format!("{}\n", l.trim_start_matches("# ")))
            .collect();
        assert_eq!(parse(&block).unwrap().store.keep, DEFAULT_KEEP, "{block}");
    }

    #[test]
    fn http_metrics_token_env_names_an_environment_variable() {
        assert_eq!(parse("").unwrap().metrics_token_env, None, "off by default");
        let c = parse("[http]\nmetrics_token_env = \"STEWARD_METRICS_TOKEN\"\n").unwrap();
        assert_eq!(
            c.metrics_token_env.as_deref(),
            Some("STEWARD_METRICS_TOKEN")
        );
        // A name that no variable can have is refused where it is written, not found out
        // later as a scrape that never authenticates.
        for bad in ["", "METRICS TOKEN", "1TOKEN", "${TOKEN}"] {
            let msg = errors(&format!("[http]\nmetrics_token_env = {bad:?}\n"));
            assert!(
                msg.contains("steward.toml:2: http.metrics_token_env:")
                    && msg.contains("is not an environment variable name"),
                "{bad:?}: {msg}"
            );
        }
    }

    #[test]
    fn the_design_example_is_accepted_whole() {
        let text = r#"
[probe]
interval = "30s"
timeout = "3s"
failure_threshold = 2
backoff = "60s"
[http]
listen = "127.0.0.1:7878"
[[providers]]
id = "web"
kind = "http"
url = "http://127.0.0.1:8080/health"
expect_status = 200
node = "piha"
service = "nginx"
[[providers]]
id = "mqtt"
kind = "tcp"
address = "127.0.0.1:1883"
node = "piha"
service = "mosquitto"
[[providers]]
id = "ollama"
kind = "llm"
api = "ollama"
url = "http://127.0.0.1:11434"
node = "solaria"
service = "ollama"
[[providers]]
id = "backup"
kind = "command"
command = ["/usr/local/bin/check-backup", "--quick"]
node = "nas"
service = "backup"
[planner]
cooldown = "5m"
confidence_threshold = 0.7
protected_nodes = ["chelsty*"]
chain = ["local", "rules"]
[[models]]
id = "local"
api = "openai"
url = "http://127.0.0.1:11434/v1"
model = "qwen2.5:7b"
provider = "ollama"
api_key_env = "OPENAI_API_KEY"
timeout = "30s"
[bus]
redis_url = "redis://127.0.0.1:6379"
channels = ["health_events", "world_updates"]
publish_channel = "steward_events"
[executor]
auto_execute = ["none", "low"]
timeout = "60s"
proposal_ttl = "15m"
[executor.commands]
container_restart = ["docker", "restart", "{service}"]
redeploy = ["ssh", "{node}", "deploy", "{service}"]
[sessions]
root = "/data/user_sessions"
[[sessions.processors]]
name = "verification"
kind = "command"
command = ["verify-session", "{file}"]
cadence = "15m"
"#;
        let c = parse(text).unwrap();
        assert_eq!(c.providers.len(), 4);
        assert_eq!(c.providers[2].target.kind(), "llm");
        assert_eq!(c.providers[0].policy.failure_threshold, 2);
    }

    #[test]
    fn zero_interval_is_a_clear_error_with_line_and_field() {
        let msg = errors("[probe]\ninterval = \"0s\"\n");
        assert_eq!(
            msg,
            "steward.toml:2: probe.interval: must be greater than 0"
        );
    }

    #[test]
    fn without_an_alertmanager_table_the_default_labels_apply() {
        let c = parse("").unwrap();
        assert_eq!(c.alertmanager, AlertmanagerConfig::default());
        assert_eq!(c.alertmanager.node_labels, ["instance", "node"]);
        assert_eq!(c.alertmanager.service_labels, ["job", "service"]);
        assert_eq!(c.alertmanager.severity_label, "severity");
        assert!(c.alertmanager.strip_port);
        let c = parse("[alertmanager]\nnode_labels = [\"host\"]\nstrip_port = false\n").unwrap();
        assert_eq!(c.alertmanager.node_labels, ["host"]);
        assert_eq!(
            c.alertmanager.service_labels,
            ["job", "service"],
            "an absent key keeps its default"
        );
        assert!(!c.alertmanager.strip_port);
    }

    #[test]
    fn bad_alertmanager_labels_are_clear_errors_with_their_line() {
        let text = "[probe]\ninterval = \"30s\"\n\n[alertmanager]\nnode_labels = []\n\
                    service_labels = [\"job\", \"my-service\", \"job\"]\nseverity_label = \"\"\n";
        assert_eq!(
            errors(text),
            "steward.toml:5: alertmanager.node_labels: must name at least one label (remove \
             the key for the default)\n\
             steward.toml:6: alertmanager.service_labels: \"my-service\" is not a label name \
             ([a-zA-Z_][a-zA-Z0-9_]*)\n\
             steward.toml:6: alertmanager.service_labels: \"job\" is listed twice\n\
             steward.toml:7: alertmanager.severity_label: \"\" is not a label name \
             ([a-zA-Z_][a-zA-Z0-9_]*)"
        );
        let unknown = errors("[alertmanager]\nnode_label = [\"host\"]\n");
        assert!(unknown.starts_with("steward.toml:2:"), "{unknown}");
        assert!(unknown.contains("node_label"), "{unknown}");
        let wrong_type = errors("[alertmanager]\nstrip_port = \"yes\"\n");
        assert!(wrong_type.starts_with("steward.toml:2:"), "{wrong_type}");
    }

    #[test]
    fn zero_timeout_names_the_timeout() {
        assert!(errors("[probe]\ntimeout = \"0s\"\n").contains("probe.timeout"));
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_line() {
        let msg = errors("[probe]\ninterval = \"30s\"\nintervall = \"5s\"\n");
        assert!(msg.starts_with("steward.toml:3:"), "{msg}");
        assert!(msg.contains("intervall"), "{msg}");
    }

    #[test]
    fn provider_errors_point_at_the_right_table_and_line() {
        let text = "[[providers]]\nid = \"a\"\nkind = \"tcp\"\naddress = \"127.0.0.1:1\"\nnode = \"n\"\n\n[[providers]]\nid = \"b\"\nkind = \"http\"\nnode = \"n\"\nurl = \"ftp://x\"\n";
        let msg = errors(text);
        assert_eq!(
            msg,
            "steward.toml:11: providers[1].url: \"ftp://x\" must start with http:// or https://"
        );
    }

    #[test]
    fn every_problem_is_reported_not_just_the_first() {
        let text = "[[providers]]\nid = \"bad id\"\nkind = \"tcp\"\naddress = \"nope\"\n";
        let issues = parse(text).unwrap_err().issues();
        let fields: Vec<_> = issues.iter().filter_map(|i| i.field.clone()).collect();
        assert!(fields.contains(&"providers[0].id".to_owned()), "{fields:?}");
        assert!(
            fields.contains(&"providers[0].node".to_owned()),
            "{fields:?}"
        );
        assert!(
            fields.contains(&"providers[0].address".to_owned()),
            "{fields:?}"
        );
    }

    #[test]
    fn duplicate_ids_and_unknown_kinds_are_errors() {
        let dup = "[[providers]]\nid=\"a\"\nkind=\"tcp\"\naddress=\"h:1\"\nnode=\"n\"\n[[providers]]\nid=\"a\"\nkind=\"tcp\"\naddress=\"h:2\"\nnode=\"n\"\n";
        assert!(errors(dup).contains("duplicate provider id \"a\""));
        let kind = "[[providers]]\nid=\"a\"\nkind=\"smtp\"\nnode=\"n\"\n";
        assert!(errors(kind).contains("\"smtp\" is not one of http, tcp, llm, command"));
    }

    #[test]
    fn fields_of_another_kind_are_rejected() {
        let text = "[[providers]]\nid=\"a\"\nkind=\"http\"\nurl=\"http://x\"\naddress=\"h:1\"\nnode=\"n\"\n";
        assert!(errors(text).contains("providers[0].address: is not used by kind \"http\""));
    }

    #[test]
    fn dependency_cycles_are_config_errors() {
        let text = "[[providers]]\nid=\"a\"\nkind=\"tcp\"\naddress=\"h:1\"\nnode=\"n\"\ndepends_on=[\"b\"]\n[[providers]]\nid=\"b\"\nkind=\"tcp\"\naddress=\"h:2\"\nnode=\"n\"\ndepends_on=[\"a\"]\n";
        assert!(errors(text).contains("dependency cycle: a -> b -> a"));
    }

    #[test]
    fn per_provider_settings_override_the_defaults() {
        let text = "[probe]\ninterval=\"10s\"\n[[providers]]\nid=\"a\"\nkind=\"tcp\"\naddress=\"h:1\"\nnode=\"n\"\ntimeout=\"1s\"\nenabled=false\n";
        let c = parse(text).unwrap();
        let p = &c.providers[0];
        assert_eq!(p.interval, Duration::from_secs(10));
        assert_eq!(p.timeout, Duration::from_secs(1));
        assert!(!p.enabled);
        assert_eq!(p.service, "a", "service defaults to the id");
    }

    #[test]
    fn bad_toml_syntax_names_the_line() {
        let msg = errors("[probe]\ninterval = \n");
        assert!(msg.starts_with("steward.toml:2"), "{msg}");
    }

    #[test]
    fn the_chain_names_only_configured_models_or_rules() {
        let text = "[planner]\nchain = [\"local\", \"rules\", \"ghost\"]\n[[models]]\nid = \"local\"\napi = \"openai\"\nurl = \"http://127.0.0.1:11434/v1\"\nmodel = \"m\"\n";
        let msg = errors(text);
        assert!(msg.contains("planner.chain"), "{msg}");
        assert!(msg.contains("entry 3 is \"ghost\""), "{msg}");
        assert!(!msg.contains("\"local\", which"), "{msg}");
    }

    #[test]
    fn models_are_checked() {
        let text = "[[models]]\nid = \"rules\"\napi = \"gemini\"\nurl = \"ftp://x\"\nmodel = \"m\"\nprovider = \"nope\"\ntimeout = \"soon\"\n";
        let msg = errors(text);
        for want in [
            "models[0].id",
            "models[0].api",
            "models[0].url",
            "unknown provider \"nope\"",
            "models[0].timeout",
        ] {
            assert!(msg.contains(want), "{want} missing from {msg}");
        }
    }

    #[test]
    fn a_model_timeout_is_typed_at_load_and_thirty_seconds_by_default() {
        assert_eq!(DEFAULT_MODEL_TIMEOUT, Duration::from_secs(30));
        let model = |extra: &str| {
            format!(
                "[[models]]\nid = \"m\"\napi = \"openai\"\nurl = \"http://h/v1\"\nmodel = \"x\"\n{extra}"
            )
        };
        assert_eq!(
            parse(&model("")).unwrap().models[0].timeout,
            DEFAULT_MODEL_TIMEOUT
        );
        let c = parse(&model("timeout = \"1500ms\"\n")).unwrap();
        assert_eq!(c.models[0].timeout, Duration::from_millis(1500));
        assert_eq!(
            errors(&model("timeout = \"0s\"\n")),
            "steward.toml:6: models[0].timeout: must be greater than 0"
        );
        let msg = errors(&model("timeout = \"soon\"\n"));
        assert!(
            msg.starts_with("steward.toml:6: models[0].timeout: \"soon\" is not a duration"),
            "{msg}"
        );
    }

    #[test]
    fn a_bad_redis_url_is_an_error_without_its_password() {
        let msg = errors("[bus]\nredis_url = \"http://:hunter2@h:6379\"\n");
        assert!(msg.contains("bus.redis_url"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
    }

    const SESSIONS_OK: &str = "[sessions]\nroot = \"/data/user_sessions\"\n\
        [[sessions.processors]]\nname = \"verification\"\nkind = \"command\"\n\
        command = [\"verify-session\", \"--in={file}\"]\ncadence = \"10m\"\ntimeout = \"30s\"\n\
        [[sessions.processors]]\nname = \"usage\"\nkind = \"usage\"\nenabled = false\n";

    #[test]
    fn session_processors_have_defaults_and_their_own_settings() {
        let c = parse(SESSIONS_OK).unwrap();
        let s = c.sessions.unwrap();
        let (v, u) = (&s.processors[0], &s.processors[1]);
        assert_eq!(v.cadence(), Duration::from_secs(600));
        assert_eq!(v.timeout(), Duration::from_secs(30));
        assert!(v.enabled(), "enabled unless said otherwise");
        assert_eq!(u.cadence(), DEFAULT_SESSION_CADENCE, "15 min by default");
        assert_eq!(u.timeout(), DEFAULT_SESSION_TIMEOUT, "5 min by default");
        assert!(!u.enabled());
    }

    #[test]
    fn session_processor_durations_are_typed_at_load() {
        let s = parse(SESSIONS_OK).unwrap().sessions.unwrap();
        let (v, u) = (&s.processors[0], &s.processors[1]);
        assert_eq!(
            (v.cadence, v.timeout),
            (Duration::from_secs(600), Duration::from_secs(30))
        );
        assert_eq!(
            (u.cadence, u.timeout),
            (DEFAULT_SESSION_CADENCE, DEFAULT_SESSION_TIMEOUT)
        );
    }

    #[test]
    fn the_commented_sessions_example_is_valid_once_uncommented() {
        let block: String = DEFAULT_CONFIG
            .lines()
            .skip_while(|l| !l.starts_with("# [sessions]"))
            .take_while(|l| !l.is_empty())
            .map(|l| format!("{}\n", l.trim_start_matches("# ")))
            .collect();
        let c = parse(&block).expect("the documented example is accepted");
        let s = c.sessions.unwrap();
        assert_eq!(s.processors.len(), 2, "{block}");
        assert_eq!(s.processors[1].timeout(), Duration::from_secs(300));
    }

    #[test]
    fn the_commented_push_channels_example_is_valid_once_uncommented() {
        let block: String = DEFAULT_CONFIG
            .lines()
            .skip_while(|l| !l.starts_with("# [notifications]"))
            .take_while(|l| !l.is_empty())
            .map(|l| format!("{}\n", l.trim_start_matches("# ")))
            .collect();
        let c = parse(&block).expect("the documented example is accepted");
        let n = c.notifications;
        assert_eq!(n.ui_url.as_deref(), Some("http://steward.lan:7878/"));
        assert_eq!(n.channels.len(), 2, "{block}");
        let (ntfy, hook) = (&n.channels[0], &n.channels[1]);
        assert_eq!(
            (ntfy.name.as_str(), hook.name.as_str()),
            ("ntfy", "webhook")
        );
        assert_eq!(ntfy.min_severity, Urgency::Warning);
        assert!(ntfy.takes(NoticeKind::Proposal, Urgency::Warning));
        assert!(!ntfy.takes(NoticeKind::Recovery, Urgency::Info));
        assert_eq!(hook.kinds, [NoticeKind::Incident, NoticeKind::Proposal]);
        assert!(!hook.takes(NoticeKind::Recovery, Urgency::Critical));
        assert!(hook.takes(NoticeKind::Incident, Urgency::Critical));
        assert_eq!(
            hook.target,
            ChannelTarget::Webhook {
                url: "https://hooks.example.org/steward".into(),
                secret_env: Some("STEWARD_WEBHOOK_SECRET".into()),
            }
        );
    }

    #[test]
    fn session_processor_names_are_ids_and_unique() {
        let text = "[sessions]\nroot = \"/s\"\n[[sessions.processors]]\nname = \"a b\"\nkind = \"usage\"\n\
                    [[sessions.processors]]\nname = \"u\"\nkind = \"usage\"\n\
                    [[sessions.processors]]\nname = \"u\"\nkind = \"usage\"\n";
        let msg = errors(text);
        assert!(
            msg.contains("steward.toml:4: sessions.processors[0].name: \"a b\" must"),
            "{msg}"
        );
        assert!(
            msg.contains(
                "steward.toml:10: sessions.processors[2].name: duplicate processor name \"u\""
            ),
            "{msg}"
        );
        assert!(
            !msg.contains("processors[1]"),
            "the first \"u\" is fine: {msg}"
        );
    }

    #[test]
    fn session_processor_kinds_and_their_fields_are_checked() {
        let text = "[sessions]\nroot = \"/s\"\n\
                    [[sessions.processors]]\nname = \"a\"\nkind = \"python\"\n\
                    [[sessions.processors]]\nname = \"b\"\nkind = \"command\"\n\
                    [[sessions.processors]]\nname = \"c\"\nkind = \"usage\"\ncommand = [\"x\", \"{file}\"]\ntimeout = \"1m\"\n";
        let msg = errors(text);
        assert!(
            msg.contains("sessions.processors[0].kind: \"python\" is not one of usage, command"),
            "{msg}"
        );
        assert!(
            msg.contains("sessions.processors[1].command: is required for kind \"command\""),
            "{msg}"
        );
        assert!(
            msg.contains(
                "steward.toml:12: sessions.processors[2].command: is not used by kind \"usage\""
            ),
            "{msg}"
        );
        assert!(
            msg.contains("sessions.processors[2].timeout: is not used by kind \"usage\""),
            "{msg}"
        );
    }

    #[test]
    fn session_commands_take_the_file_as_their_only_placeholder() {
        let with = |argv: &str| {
            format!(
                "[sessions]\nroot = \"/s\"\n[[sessions.processors]]\nname = \"v\"\nkind = \"command\"\ncommand = {argv}\n"
            )
        };
        for (argv, want) in [
            ("[]", "must start with a program"),
            ("[\"\", \"{file}\"]", "must start with a program"),
            ("[\"{file}\"]", "must be fixed"),
            ("[\"verify\", \"{path}\"]", "{file} is the only placeholder"),
            (
                "[\"verify\", \"{file}\", \"{}\"]",
                "{file} is the only placeholder",
            ),
            ("[\"verify\", \"{file\"]", "{file} is the only placeholder"),
            ("[\"verify\", \"--all\"]", "must pass the file"),
        ] {
            let msg = errors(&with(argv));
            assert!(
                msg.contains("steward.toml:6: sessions.processors[0].command:"),
                "{argv}: {msg}"
            );
            assert!(msg.contains(want), "{argv}: {want:?} missing from {msg}");
        }
        assert!(parse(&with("[\"verify\", \"{file}\", \"--out={file}.json\"]")).is_ok());
    }

    #[test]
    fn session_durations_must_be_human_and_positive() {
        let text = "[sessions]\nroot = \"/s\"\n[[sessions.processors]]\nname = \"v\"\nkind = \"command\"\n\
                    command = [\"v\", \"{file}\"]\ncadence = \"0s\"\ntimeout = \"soon\"\n";
        let msg = errors(text);
        assert!(
            msg.contains("steward.toml:7: sessions.processors[0].cadence: must be greater than 0"),
            "{msg}"
        );
        assert!(
            msg.contains(
                "steward.toml:8: sessions.processors[0].timeout: \"soon\" is not a duration"
            ),
            "{msg}"
        );
        assert!(errors("[sessions]\nroot = \"\"\n").contains("sessions.root: must not be empty"));
    }

    #[test]
    fn executor_templates_and_levels_are_checked() {
        let text = "[executor]\nauto_execute = [\"low\", \"yolo\"]\ntimeout = \"soon\"\n[executor.commands]\ncontainer_restart = [\"docker\", \"restart\", \"{service}\"]\nreboot = [\"reboot\"]\nredeploy = [\"{node}\", \"x\"]\n\"redeploy:web\" = [\"ssh\", \"{host}\"]\n";
        let msg = errors(text);
        assert!(
            msg.contains("\"yolo\" is not one of none, low, guarded"),
            "{msg}"
        );
        assert!(msg.contains("executor.timeout"), "{msg}");
        assert!(msg.contains("\"reboot\": commands are for"), "{msg}");
        assert!(msg.contains("\"redeploy\": an argv list"), "{msg}");
        assert!(msg.contains("\"redeploy:web\": an argv list"), "{msg}");
        assert!(!msg.contains("\"container_restart\""), "{msg}");
    }
}
