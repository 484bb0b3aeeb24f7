//! Alertmanager's webhook (payload version 4) as health events, and the decisions that keep
//! a grouped, repeated or out-of-order notification from planning twice.
//!
//! Owns: the wire shape of `POST /api/alertmanager` and its typed parser
//! ([`parse_webhook`]: never panics; a payload it cannot read at all is a
//! [`WebhookRefused`], one bad alert of a group is an [`AlertRefused`] beside the good
//! ones), the label mapping ([`Mapping`], `[alertmanager]` in the config: which labels name
//! the node, the service and the severity), the severity words, Alertmanager's own
//! fingerprint of a label set ([`fingerprint_of`]), what is remembered per fingerprint
//! ([`AlertRecord`]) and the decision per notification ([`decide`], [`next_record`]):
//! pure functions of the notification, what is known and `now`.
//! Does not own: storing the records (`store::alerts`), admitting the events, marking
//! proposals stale or the timeline (`planner::alerts`).
//!
//! # One occurrence, one plan
//! Alertmanager names an alert by the fingerprint of its labels and an occurrence of it by
//! its `startsAt` (kept while it fires; a new one after it resolved). So:
//! - a firing alert never seen, or with a later `startsAt` than the one known (a new
//!   occurrence), is a health event ([`Verdict::Fire`]);
//! - the same occurrence again (a repeat, a group sent again) plans nothing
//!   ([`Verdict::Repeat`]) — unless no admission of it was planned yet (the gate said
//!   cooldown, in flight, overload…, or no model answered): then it is admitted again
//!   ([`Verdict::Retry`]), so an alert is planned once, not never;
//! - a resolved alert ends its occurrence ([`Verdict::Resolve`]); one that arrives before
//!   its firing notification is remembered, and the late firing one (a `startsAt` within
//!   the resolved occurrence) is ignored ([`Verdict::AlreadyResolved`]);
//! - anything about an occurrence older than the one known is ignored
//!   ([`Verdict::Outdated`]).

use super::event::{is_forbidden_in_text, parse_event, HealthEvent, Rejected};
use chrono::{DateTime, Datelike, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The `raw_channel` of events from Alertmanager (and `source` in their payload).
pub const CHANNEL: &str = "alertmanager";
/// The webhook payload version this parser reads.
pub const VERSION: &str = "4";
/// Webhook bodies larger than this are refused (`413`). Alertmanager's `max_alerts`
/// keeps a receiver's groups smaller when needed.
pub const MAX_WEBHOOK_BYTES: usize = 1024 * 1024;
/// Labels and annotations of one alert, as JSON, are cut to this many bytes in the
/// event's payload (a model sees at most `prompt::MAX_PAYLOAD_CHARS` of it anyway).
const MAX_TEXT_VALUE: usize = 4096;

/// `[alertmanager]`: which labels name an alert's node, service and severity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// The first of these labels with a value names the node (default `instance`, `node`).
    pub node_labels: Vec<String>,
    /// The first of these labels with a value names the service (default `job`,
    /// `service`); none: the node, as for other events.
    pub service_labels: Vec<String>,
    /// The label with the severity (default `severity`); absent: `warning`.
    pub severity_label: String,
    /// Whether a node label's value is reduced to its host: `host:9100` → `host`,
    /// `https://host:8443/path` → `host`, `[::1]:9100` → `::1` (default true).
    pub strip_port: bool,
}

impl Default for Mapping {
    fn default() -> Self {
        Mapping {
            node_labels: vec!["instance".into(), "node".into()],
            service_labels: vec!["job".into(), "service".into()],
            severity_label: "severity".into(),
            strip_port: true,
        }
    }
}

/// Whether `name` is a Prometheus label name (`[a-zA-Z_][a-zA-Z0-9_]*`).
pub fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Why a whole webhook body was refused (`400`, or `413` when too large). Counted by
/// [`WebhookRefused::kind`] with the intake's other refusals.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookRefused {
    #[error("the body is {0} bytes, more than the limit of {MAX_WEBHOOK_BYTES}")]
    TooLarge(usize),
    #[error("the body is not UTF-8 text")]
    NotText,
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    #[error("the body must be a JSON object (Alertmanager's webhook payload)")]
    NotAnObject,
    #[error("\"version\" must be \"4\" (Alertmanager's webhook payload version 4), not {0}")]
    Version(String),
    #[error("\"alerts\" must be a list of alerts, not {0}")]
    AlertsNotAList(String),
    #[error("\"alerts\" is empty: nothing to take")]
    NoAlerts,
}

impl WebhookRefused {
    /// A short stable name, for the intake's refusal counters.
    pub fn kind(&self) -> &'static str {
        match self {
            WebhookRefused::TooLarge(_) => "too_large",
            WebhookRefused::NotText => "not_text",
            WebhookRefused::InvalidJson(_) => "invalid_json",
            WebhookRefused::NotAnObject => "not_an_object",
            WebhookRefused::Version(_) => "unsupported_version",
            WebhookRefused::AlertsNotAList(_) | WebhookRefused::NoAlerts => "no_alerts",
        }
    }
}

/// Why one alert of a group was refused (the others are still taken).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlertRefused {
    #[error("not an alert of payload version 4: {0}")]
    Malformed(String),
    #[error("\"status\" must be \"firing\" or \"resolved\", not {0:?}")]
    Status(String),
    #[error("no \"alertname\" label (it is the event's type)")]
    MissingAlertname,
    #[error("none of the node labels ({}) has a value", .0.join(", "))]
    MissingNode(Vec<String>),
    #[error("{field:?} is not an RFC 3339 time: {value:?}")]
    Time { field: &'static str, value: String },
    #[error("\"endsAt\" ({ends}) is before \"startsAt\" ({starts})")]
    EndsBeforeStarts { starts: String, ends: String },
    #[error("\"fingerprint\" must be 1 to 64 of 0-9 a-z A-Z, not {0:?}")]
    Fingerprint(String),
    #[error("{0}")]
    Event(Rejected),
}

impl AlertRefused {
    /// A short stable name, for the intake's refusal counters (the names `POST
    /// /api/events` uses where the reason is the same).
    pub fn kind(&self) -> &'static str {
        match self {
            AlertRefused::Malformed(_) | AlertRefused::Status(_) => "bad_alert",
            AlertRefused::MissingAlertname => "missing_type",
            AlertRefused::MissingNode(_) => "missing_node",
            AlertRefused::Time { .. } | AlertRefused::EndsBeforeStarts { .. } => "bad_field",
            AlertRefused::Fingerprint(_) => "bad_field",
            AlertRefused::Event(r) => r.kind(),
        }
    }
}

/// Firing or resolved, as Alertmanager says per alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<AlertStatus> {
        match s {
            "firing" => Some(AlertStatus::Firing),
            "resolved" => Some(AlertStatus::Resolved),
            _ => None,
        }
    }
}

/// One alert of a webhook, read and mapped.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Its place in the payload's `alerts` (0-based), named in the answer.
    pub index: usize,
    /// Alertmanager's, or [`fingerprint_of`] its labels when absent.
    pub fingerprint: String,
    pub status: AlertStatus,
    pub starts_at: DateTime<Utc>,
    /// Only for a resolved alert: when it ended (`now` if Alertmanager sent none).
    pub ends_at: Option<DateTime<Utc>>,
    /// The health event it is: `alertname` as its type, node and service from the
    /// [`Mapping`], labels, annotations and the rest in its payload.
    pub event: HealthEvent,
}

impl Alert {
    pub fn alertname(&self) -> &str {
        &self.event.event_type
    }
}

/// A webhook body, read: the group's fields and each alert, taken or refused.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    pub receiver: Option<String>,
    pub group_key: Option<String>,
    pub status: Option<String>,
    /// Alerts Alertmanager left out of this notification (its `max_alerts`).
    pub truncated_alerts: u64,
    pub alerts: Vec<Result<Alert, Refusal>>,
}

/// One refused alert, as the answer names it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Refusal {
    pub index: usize,
    /// The alert's fingerprint and alertname, when they could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alertname: Option<String>,
    /// The counter it is counted under (`missing_node`, `bad_field`, …).
    pub kind: &'static str,
    pub reason: String,
}

/// The group's fields as sent (names as in payload version 4).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawGroup {
    group_key: Option<String>,
    truncated_alerts: Option<u64>,
    status: Option<String>,
    receiver: Option<String>,
    #[serde(rename = "externalURL")]
    external_url: Option<String>,
}

/// One alert as sent.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawAlert {
    status: String,
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    starts_at: Option<String>,
    ends_at: Option<String>,
    #[serde(rename = "generatorURL")]
    generator_url: Option<String>,
    fingerprint: Option<String>,
}

fn json_kind(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("{s:?}"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// Reads a webhook body. `now` stands in for a resolved alert's missing `endsAt` and is the
/// events' timestamp (when the notification came; `startsAt` is in the payload).
pub fn parse_webhook(
    body: &[u8],
    mapping: &Mapping,
    now: DateTime<Utc>,
) -> Result<Webhook, WebhookRefused> {
    if body.len() > MAX_WEBHOOK_BYTES {
        return Err(WebhookRefused::TooLarge(body.len()));
    }
    let text = std::str::from_utf8(body).map_err(|_| WebhookRefused::NotText)?;
    let value: Value =
        serde_json::from_str(text).map_err(|e| WebhookRefused::InvalidJson(e.to_string()))?;
    let Value::Object(obj) = value else {
        return Err(WebhookRefused::NotAnObject);
    };
    match obj.get("version") {
        Some(Value::String(v)) if v == VERSION => {}
        Some(other) => return Err(WebhookRefused::Version(json_kind(other))),
        None => return Err(WebhookRefused::Version("none".into())),
    }
    let alerts = match obj.get("alerts") {
        Some(Value::Array(a)) if a.is_empty() => return Err(WebhookRefused::NoAlerts),
        Some(Value::Array(a)) => a,
        Some(other) => return Err(WebhookRefused::AlertsNotAList(json_kind(other))),
        None => return Err(WebhookRefused::AlertsNotAList("none".into())),
    };
    // The group's own fields are only context: a wrong type there refuses nothing.
    let group =
        serde_json::from_value::<RawGroup>(Value::Object(obj.clone())).unwrap_or(RawGroup {
            group_key: None,
            truncated_alerts: None,
            status: None,
            receiver: None,
            external_url: None,
        });
    let alerts = alerts
        .iter()
        .enumerate()
        .map(|(index, raw)| parse_alert(index, raw, &group, mapping, now))
        .collect();
    Ok(Webhook {
        receiver: group.receiver.clone(),
        group_key: group.group_key.clone(),
        status: group.status.clone(),
        truncated_alerts: group.truncated_alerts.unwrap_or(0),
        alerts,
    })
}

fn parse_alert(
    index: usize,
    raw: &Value,
    group: &RawGroup,
    mapping: &Mapping,
    now: DateTime<Utc>,
) -> Result<Alert, Refusal> {
    // What can be named of a refused alert, read leniently from the raw JSON.
    let refuse = |why: AlertRefused| Refusal {
        index,
        fingerprint: raw["fingerprint"]
            .as_str()
            .filter(|s| !s.trim().is_empty())
            .map(|s| cut(s, 64)),
        alertname: raw["labels"]["alertname"]
            .as_str()
            .filter(|s| !s.trim().is_empty())
            .map(|s| cut(s, 200)),
        kind: why.kind(),
        reason: why.to_string(),
    };
    let a: RawAlert = serde_json::from_value(raw.clone())
        .map_err(|e| refuse(AlertRefused::Malformed(e.to_string())))?;
    let status = AlertStatus::parse(&a.status)
        .ok_or_else(|| refuse(AlertRefused::Status(cut(&a.status, 40))))?;
    let alertname =
        label(&a.labels, "alertname").ok_or_else(|| refuse(AlertRefused::MissingAlertname))?;
    let node = mapping
        .node_labels
        .iter()
        .find_map(|l| label(&a.labels, l))
        .map(|v| {
            if mapping.strip_port {
                host_of(v)
            } else {
                v.to_owned()
            }
        })
        .ok_or_else(|| refuse(AlertRefused::MissingNode(mapping.node_labels.clone())))?;
    let service = mapping
        .service_labels
        .iter()
        .find_map(|l| label(&a.labels, l));
    let raw_severity = label(&a.labels, &mapping.severity_label);
    let starts_at = match a.starts_at.as_deref() {
        Some(s) => time(s).ok_or_else(|| {
            refuse(AlertRefused::Time {
                field: "startsAt",
                value: cut(s, 60),
            })
        })?,
        None => {
            return Err(refuse(AlertRefused::Time {
                field: "startsAt",
                value: String::new(),
            }))
        }
    };
    let ends_at = match a.ends_at.as_deref() {
        Some(s) => Some(time(s).ok_or_else(|| {
            refuse(AlertRefused::Time {
                field: "endsAt",
                value: cut(s, 60),
            })
        })?),
        None => None,
    }
    // Go's zero time: "not ended" (what Alertmanager sends for a firing alert).
    .filter(|t| t.year() > 1);
    let ends_at = match status {
        AlertStatus::Firing => None,
        AlertStatus::Resolved => {
            let ends = ends_at.unwrap_or(now);
            if ends < starts_at {
                return Err(refuse(AlertRefused::EndsBeforeStarts {
                    starts: starts_at.to_rfc3339(),
                    ends: ends.to_rfc3339(),
                }));
            }
            Some(ends)
        }
    };
    let fingerprint = match a.fingerprint.as_deref().map(str::trim) {
        None | Some("") => fingerprint_of(&a.labels),
        Some(f) if f.len() <= 64 && f.chars().all(|c| c.is_ascii_alphanumeric()) => f.to_owned(),
        Some(f) => return Err(refuse(AlertRefused::Fingerprint(cut(f, 80)))),
    };
    let mut payload = Map::new();
    payload.insert("source".into(), json!(CHANNEL));
    payload.insert("alertname".into(), json!(alertname));
    payload.insert("status".into(), json!(status.as_str()));
    payload.insert("fingerprint".into(), json!(fingerprint));
    payload.insert("startsAt".into(), json!(starts_at.to_rfc3339()));
    if let Some(e) = ends_at {
        payload.insert("endsAt".into(), json!(e.to_rfc3339()));
    }
    payload.insert("labels".into(), bounded(&a.labels));
    payload.insert("annotations".into(), bounded(&a.annotations));
    if let Some(raw) = raw_severity {
        payload.insert("severity_label".into(), json!(cut(raw, 200)));
    }
    for (key, value) in [
        ("generatorURL", &a.generator_url),
        ("receiver", &group.receiver),
        ("groupKey", &group.group_key),
        ("externalURL", &group.external_url),
    ] {
        if let Some(v) = value {
            payload.insert(key.into(), json!(cut(v, 2048)));
        }
    }
    // The same checks as every other event: lengths, control and bidi characters.
    let event = parse_event(
        &json!({
            "type": alertname,
            "node": node,
            "service": service,
            "severity": severity_word(raw_severity),
            "payload": payload,
        }),
        CHANNEL,
        now,
    )
    .map_err(|e| refuse(AlertRefused::Event(e)))?;
    Ok(Alert {
        index,
        fingerprint,
        status,
        starts_at,
        ends_at,
        event,
    })
}

/// A label's value, trimmed; an empty one is absent.
fn label<'a>(labels: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    labels.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

/// RFC 3339, as Alertmanager writes times, to the millisecond: Alertmanager sends
/// nanoseconds, the store keeps milliseconds, and an occurrence is compared by its start.
fn time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|d| d.with_timezone(&Utc).trunc_subsecs(3))
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Labels or annotations as a JSON object, each value cut to [`MAX_TEXT_VALUE`] bytes and
/// control or bidi characters replaced (they are shown in the UI and sent to a model).
fn bounded(map: &BTreeMap<String, String>) -> Value {
    let clean = |s: &str| -> String {
        cut(s, MAX_TEXT_VALUE)
            .chars()
            .map(|c| {
                if c != '\n' && is_forbidden_in_text(c) {
                    '\u{fffd}'
                } else {
                    c
                }
            })
            .collect()
    };
    Value::Object(
        map.iter()
            .map(|(k, v)| (clean(k), Value::String(clean(v))))
            .collect(),
    )
}

/// The host of a node label's value: `host:9100` → `host`, `https://host:8443/x` →
/// `host`, `[::1]:9100` → `::1`, `user@host` → `host`. A bare IPv6 address or anything
/// else is kept as it is.
pub fn host_of(value: &str) -> String {
    let v = value.trim();
    let authority = match v.split_once("://") {
        Some((_, rest)) => rest.split(['/', '?', '#']).next().unwrap_or(rest),
        None => v,
    };
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(rest) = authority.strip_prefix('[') {
        rest.split_once(']').map_or(authority, |(h, _)| h)
    } else {
        match authority.rsplit_once(':') {
            Some((h, port))
                if !h.contains(':')
                    && !port.is_empty()
                    && port.chars().all(|c| c.is_ascii_digit()) =>
            {
                h
            }
            _ => authority,
        }
    };
    if host.is_empty() {
        v.to_owned()
    } else {
        host.to_owned()
    }
}

/// The severity of an event from a `severity` label, in the words the rest of Steward
/// uses: `critical` (also `page`, `fatal`, `emergency`, `alert`, `disaster`), `error`
/// (`err`, `high`, `major`), `warning` (`warn`, `medium`, `minor`, and any word not
/// listed), `info` (`informational`, `notice`, `low`, `none`, `ok`). Absent: `warning`,
/// as for other events. Case and spaces do not matter; the label as sent stays in the
/// payload (`severity_label`).
pub fn severity_word(label: Option<&str>) -> &'static str {
    let Some(word) = label.map(|l| l.trim().to_ascii_lowercase()) else {
        return "warning";
    };
    match word.as_str() {
        "critical" | "crit" | "page" | "fatal" | "emergency" | "emerg" | "alert" | "disaster" => {
            "critical"
        }
        "error" | "err" | "high" | "major" => "error",
        "info" | "informational" | "notice" | "low" | "none" | "ok" => "info",
        _ => "warning",
    }
}

/// Alertmanager's fingerprint of a label set (Prometheus `model.LabelSet.Fingerprint`:
/// FNV-1a 64 over the names in byte order, each name and value followed by 0xff, as 16
/// hex digits), for an alert sent without one.
pub fn fingerprint_of(labels: &BTreeMap<String, String>) -> String {
    const OFFSET: u64 = 14_695_981_039_346_656_037;
    const PRIME: u64 = 1_099_511_628_211;
    let mut h = OFFSET;
    let mut add = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(PRIME);
        }
    };
    // A BTreeMap iterates in byte order, as Go's sort of label names does.
    for (name, value) in labels {
        add(name.as_bytes());
        add(&[0xff]);
        add(value.as_bytes());
        add(&[0xff]);
    }
    format!("{h:016x}")
}

/// What is remembered per fingerprint (`alerts` table): the latest occurrence known.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRecord {
    pub fingerprint: String,
    pub alertname: String,
    pub node: String,
    pub service: String,
    pub status: AlertStatus,
    /// The occurrence: its `startsAt`.
    pub starts_at: DateTime<Utc>,
    /// When it resolved (`endsAt`), once it has.
    pub ends_at: Option<DateTime<Utc>>,
    /// First and latest notification about this occurrence.
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// Notifications about this occurrence.
    pub notifications: i64,
    /// What became of its admission (an `IntakeDecision`'s name, or `planning_failed`);
    /// `None` before one (and for an occurrence only seen resolved).
    pub decision: Option<String>,
}

impl AlertRecord {
    /// The occurrence was planned (or found benign): repeats plan nothing.
    pub fn planned(&self) -> bool {
        matches!(self.decision.as_deref(), Some("plan" | "benign"))
    }
}

/// What to do with one notification about an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// A new occurrence firing: admitted as a health event.
    Fire,
    /// The occurrence again, none of whose admissions was planned yet: admitted again.
    Retry,
    /// The occurrence again, already planned: nothing new.
    Repeat,
    /// A firing notification of an occurrence already resolved (it came late): ignored.
    AlreadyResolved,
    /// The occurrence (or a newer one) ended: recorded, its pending proposals go stale.
    Resolve,
    /// The same resolution again.
    ResolvedAgain,
    /// About an occurrence older than the one known: ignored.
    Outdated,
}

impl Verdict {
    /// Whether it is a health event for the intake.
    pub fn admits(self) -> bool {
        matches!(self, Verdict::Fire | Verdict::Retry)
    }

    /// Whether it adds nothing to what is known (counted as a duplicate).
    pub fn is_duplicate(self) -> bool {
        matches!(
            self,
            Verdict::Repeat | Verdict::AlreadyResolved | Verdict::ResolvedAgain | Verdict::Outdated
        )
    }
}

/// The decision for one notification, from what is known about its fingerprint.
pub fn decide(known: Option<&AlertRecord>, alert: &Alert) -> Verdict {
    let Some(k) = known else {
        return match alert.status {
            AlertStatus::Firing => Verdict::Fire,
            AlertStatus::Resolved => Verdict::Resolve,
        };
    };
    if alert.starts_at < k.starts_at {
        return Verdict::Outdated;
    }
    let same = alert.starts_at == k.starts_at;
    match (alert.status, k.status) {
        (AlertStatus::Firing, AlertStatus::Firing) if same && k.planned() => Verdict::Repeat,
        (AlertStatus::Firing, AlertStatus::Firing) if same => Verdict::Retry,
        // A later start while one fires: that one ended (its resolve never came).
        (AlertStatus::Firing, AlertStatus::Firing) => Verdict::Fire,
        // After a resolve, only a start at or after its end is a new occurrence
        // (Alertmanager merges overlapping ones into the resolved one).
        (AlertStatus::Firing, AlertStatus::Resolved)
            if !same && k.ends_at.is_none_or(|end| alert.starts_at >= end) =>
        {
            Verdict::Fire
        }
        (AlertStatus::Firing, AlertStatus::Resolved) => Verdict::AlreadyResolved,
        (AlertStatus::Resolved, AlertStatus::Resolved) if same => Verdict::ResolvedAgain,
        (AlertStatus::Resolved, _) => Verdict::Resolve,
    }
}

/// What is known after `verdict` on `alert` at `now` (before the intake's decision, which
/// the caller adds for an admitted one).
pub fn next_record(
    known: Option<&AlertRecord>,
    alert: &Alert,
    verdict: Verdict,
    now: DateTime<Utc>,
) -> AlertRecord {
    let e = &alert.event;
    let fresh = |status, ends_at| AlertRecord {
        fingerprint: alert.fingerprint.clone(),
        alertname: e.event_type.clone(),
        node: e.node.clone(),
        service: e.service.clone(),
        status,
        starts_at: alert.starts_at,
        ends_at,
        first_seen: now,
        last_seen: now,
        notifications: 1,
        decision: None,
    };
    let Some(k) = known else {
        return fresh(alert.status, alert.ends_at);
    };
    let seen = AlertRecord {
        last_seen: now,
        notifications: k.notifications + 1,
        ..k.clone()
    };
    match verdict {
        Verdict::Fire => fresh(AlertStatus::Firing, None),
        Verdict::Resolve if alert.starts_at == k.starts_at => AlertRecord {
            status: AlertStatus::Resolved,
            ends_at: alert.ends_at,
            ..seen
        },
        // A newer occurrence, seen only resolved.
        Verdict::Resolve => AlertRecord {
            decision: None,
            ..fresh(AlertStatus::Resolved, alert.ends_at)
        },
        Verdict::Retry
        | Verdict::Repeat
        | Verdict::AlreadyResolved
        | Verdict::ResolvedAgain
        | Verdict::Outdated => seen,
    }
}

/// The occurrence a health event from Alertmanager is about: its fingerprint and
/// `startsAt`, read from its payload. `None` for events from anywhere else.
pub fn occurrence_of(event: &HealthEvent) -> Option<(String, DateTime<Utc>)> {
    if event.raw_channel != CHANNEL {
        return None;
    }
    let fingerprint = event.payload.get("fingerprint")?.as_str()?.to_owned();
    let starts_at = time(event.payload.get("startsAt")?.as_str()?)?;
    Some((fingerprint, starts_at))
}

/// When the occurrence that started at `starts_at` resolved, by what is known now.
pub fn resolved_at(known: &AlertRecord, starts_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    (known.status == AlertStatus::Resolved && known.starts_at >= starts_at)
        .then(|| known.ends_at.unwrap_or(known.last_seen))
}

/// The `status_detail` of a proposal made stale by its alert's resolution.
pub fn stale_detail(alertname: &str, ends_at: DateTime<Utc>) -> String {
    format!(
        "the alert {alertname} resolved in Alertmanager at {}: nothing ran",
        ends_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 27, 12, 0, 0).unwrap()
    }

    fn at(minutes: i64) -> String {
        (now() + Duration::minutes(minutes)).to_rfc3339()
    }

    /// An alert as Alertmanager sends it: `labels` over the defaults below.
    fn alert(status: &str, starts: i64, ends: Option<i64>, labels: Value) -> Value {
        let mut l = json!({"alertname": "HighLatency", "instance": "piha:9100",
                           "job": "mosquitto", "severity": "critical"});
        for (k, v) in labels.as_object().unwrap() {
            if v.is_null() {
                l.as_object_mut().unwrap().remove(k);
            } else {
                l[k] = v.clone();
            }
        }
        json!({
            "status": status,
            "labels": l,
            "annotations": {"summary": "p99 above 2 s", "runbook_url": "https://runbooks/x"},
            "startsAt": at(starts),
            "endsAt": ends.map_or("0001-01-01T00:00:00Z".to_owned(), at),
            "generatorURL": "http://prometheus:9090/graph?g0.expr=x",
            "fingerprint": "",
        })
    }

    fn webhook(alerts: Vec<Value>) -> Vec<u8> {
        json!({
            "version": "4",
            "groupKey": "{}:{alertname=\"HighLatency\"}",
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "steward",
            "groupLabels": {"alertname": "HighLatency"},
            "commonLabels": {"alertname": "HighLatency"},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093",
            "alerts": alerts,
        })
        .to_string()
        .into_bytes()
    }

    fn parse(alerts: Vec<Value>) -> Webhook {
        parse_webhook(&webhook(alerts), &Mapping::default(), now()).unwrap()
    }

    fn one(a: Value) -> Alert {
        parse(vec![a]).alerts.remove(0).unwrap()
    }

    // --- the parser ---------------------------------------------------------------

    #[test]
    fn a_firing_alert_is_a_health_event_named_by_its_labels() {
        let a = one(alert("firing", -5, None, json!({})));
        let e = &a.event;
        assert_eq!(e.event_type, "HighLatency", "the type is the alertname");
        assert_eq!(e.node, "piha", "instance, without its port");
        assert_eq!(e.service, "mosquitto", "job");
        assert_eq!(e.severity, "critical");
        assert_eq!(e.raw_channel, CHANNEL);
        assert_eq!(e.timestamp, now(), "when the notification came");
        assert_eq!(a.status, AlertStatus::Firing);
        assert_eq!(a.starts_at.to_rfc3339(), at(-5));
        assert_eq!(a.ends_at, None, "Go's zero time is no end");
        let p = &e.payload;
        assert_eq!(p["source"], "alertmanager");
        assert_eq!(p["labels"]["instance"], "piha:9100", "labels as sent");
        assert_eq!(p["annotations"]["summary"], "p99 above 2 s");
        assert_eq!(p["generatorURL"], "http://prometheus:9090/graph?g0.expr=x");
        assert_eq!(p["startsAt"], at(-5));
        assert_eq!(p["receiver"], "steward");
        assert_eq!(p["externalURL"], "http://alertmanager:9093");
        assert_eq!(p["fingerprint"], a.fingerprint.as_str());
        assert_eq!(p["severity_label"], "critical");
    }

    #[test]
    fn times_are_read_to_the_millisecond_as_they_are_stored() {
        // Alertmanager writes nanoseconds; the store keeps milliseconds. A repeat read
        // back from the store must still be the same occurrence.
        let mut raw = alert("firing", 0, None, json!({}));
        raw["startsAt"] = json!("2026-12-03T16:06:43.003444765Z");
        let a = one(raw.clone());
        assert_eq!(a.starts_at.to_rfc3339(), "2026-12-03T16:06:43.003+00:00");
        let stored = chrono::DateTime::from_timestamp_millis(a.starts_at.timestamp_millis());
        assert_eq!(stored, Some(a.starts_at));
        let mut known = next_record(None, &a, Verdict::Fire, now());
        known.decision = Some("plan".into());
        known.starts_at = stored.unwrap();
        assert_eq!(decide(Some(&known), &one(raw)), Verdict::Repeat);
    }

    #[test]
    fn a_grouped_payload_gives_one_alert_each_in_order() {
        let w = parse(vec![
            alert("firing", -5, None, json!({"instance": "piha:9100"})),
            alert("firing", -4, None, json!({"instance": "nas:9100"})),
            alert("resolved", -9, Some(-1), json!({"instance": "vps:9100"})),
        ]);
        assert_eq!(w.receiver.as_deref(), Some("steward"));
        let nodes: Vec<(usize, String, AlertStatus)> = w
            .alerts
            .iter()
            .map(|a| {
                let a = a.as_ref().unwrap();
                (a.index, a.event.node.clone(), a.status)
            })
            .collect();
        assert_eq!(
            nodes,
            [
                (0, "piha".to_owned(), AlertStatus::Firing),
                (1, "nas".to_owned(), AlertStatus::Firing),
                (2, "vps".to_owned(), AlertStatus::Resolved),
            ]
        );
        let resolved = w.alerts[2].as_ref().unwrap();
        assert_eq!(resolved.ends_at.map(|t| t.to_rfc3339()), Some(at(-1)));
    }

    #[test]
    fn missing_labels_fall_back_as_documented() {
        // No instance: the next node label. No job: the next service label.
        let a = one(alert(
            "firing",
            -1,
            None,
            json!({"instance": null, "node": "nas", "job": null, "service": "backup", "severity": null}),
        ));
        assert_eq!(
            (a.event.node.as_str(), a.event.service.as_str()),
            ("nas", "backup")
        );
        assert_eq!(a.event.severity, "warning", "no severity label: warning");
        assert!(!a.event.payload.contains_key("severity_label"));
        // No service label at all: the node, as for every other event.
        let a = one(alert("firing", -1, None, json!({"job": null})));
        assert_eq!(a.event.service, "piha");
        // An empty label is no label.
        let a = one(alert(
            "firing",
            -1,
            None,
            json!({"instance": " ", "node": "nas"}),
        ));
        assert_eq!(a.event.node, "nas");
    }

    #[test]
    fn the_mapping_chooses_the_labels() {
        let mapping = Mapping {
            node_labels: vec!["host".into()],
            service_labels: vec!["container".into()],
            severity_label: "level".into(),
            strip_port: false,
        };
        let body = webhook(vec![alert(
            "firing",
            -1,
            None,
            json!({"host": "piha:22", "container": "mqtt", "level": "page"}),
        )]);
        let a = parse_webhook(&body, &mapping, now())
            .unwrap()
            .alerts
            .remove(0)
            .unwrap();
        assert_eq!(
            a.event.node, "piha:22",
            "strip_port = false keeps the value"
        );
        assert_eq!(a.event.service, "mqtt");
        assert_eq!(a.event.severity, "critical");
    }

    #[test]
    fn a_node_label_is_reduced_to_its_host() {
        for (value, host) in [
            ("piha:9100", "piha"),
            ("10.0.0.5:9100", "10.0.0.5"),
            ("[::1]:9100", "::1"),
            ("[fe80::1]", "fe80::1"),
            ("fe80::1", "fe80::1"),
            ("https://example.org:8443/health?x=1", "example.org"),
            ("http://user@example.org/", "example.org"),
            ("piha", "piha"),
            ("piha:", "piha:"),
            ("piha:http", "piha:http"),
        ] {
            assert_eq!(host_of(value), host, "{value}");
        }
    }

    #[test]
    fn severities_are_normalised_to_the_words_steward_uses() {
        for (label, word) in [
            (Some("critical"), "critical"),
            (Some(" Page "), "critical"),
            (Some("ERROR"), "error"),
            (Some("high"), "error"),
            (Some("warning"), "warning"),
            (Some("warn"), "warning"),
            (Some("whatever"), "warning"),
            (Some("info"), "info"),
            (Some("none"), "info"),
            (None, "warning"),
        ] {
            assert_eq!(severity_word(label), word, "{label:?}");
        }
    }

    #[test]
    fn an_alert_without_a_fingerprint_gets_alertmanagers_own() {
        // The real Alertmanager's fingerprints are checked against this function by
        // tests/alertmanager.rs.
        let labels: BTreeMap<String, String> = [("alertname", "Test"), ("instance", "a:1")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let fp = fingerprint_of(&labels);
        assert_eq!(fp.len(), 16);
        assert!(fp.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(
            fp,
            fingerprint_of(&labels.clone()),
            "a function of the labels"
        );
        let mut other = labels.clone();
        other.insert("job".into(), "x".into());
        assert_ne!(fp, fingerprint_of(&other));
        // The empty set is FNV-1a's offset basis, as in Prometheus.
        assert_eq!(fingerprint_of(&BTreeMap::new()), "cbf29ce484222325");
        let a = one(alert("firing", -1, None, json!({})));
        let sent: BTreeMap<String, String> =
            serde_json::from_value(a.event.payload["labels"].clone()).unwrap();
        assert_eq!(a.fingerprint, fingerprint_of(&sent));
        // What Alertmanager 0.25 sent as the fingerprint of these four labels.
        assert_eq!(a.fingerprint, "8149e7326f5c25eb");
        let mut given = alert("firing", -1, None, json!({}));
        given["fingerprint"] = json!("0123abcd0123abcd");
        assert_eq!(one(given).fingerprint, "0123abcd0123abcd");
    }

    #[test]
    fn a_bad_alert_is_refused_by_itself_and_named() {
        let w = parse(vec![
            alert("firing", -1, None, json!({"alertname": null})),
            alert("firing", -1, None, json!({"instance": "nas:9100"})),
            alert("firing", -1, None, json!({"instance": null})),
            alert("pending", -1, None, json!({})),
            json!({"status": "firing", "labels": {"alertname": 5}}),
            alert("resolved", -1, Some(-2), json!({})),
            alert("firing", -1, None, json!({"job": "mos\u{202e}quitto"})),
            json!("not an alert"),
        ]);
        let refused: Vec<(usize, &str)> = w
            .alerts
            .iter()
            .filter_map(|a| a.as_ref().err())
            .map(|r| (r.index, r.kind))
            .collect();
        assert_eq!(
            refused,
            [
                (0, "missing_type"),
                (2, "missing_node"),
                (3, "bad_alert"),
                (4, "bad_alert"),
                (5, "bad_field"),
                (6, "control_characters"),
                (7, "bad_alert"),
            ]
        );
        assert!(w.alerts[1].is_ok(), "the good alert of the group is taken");
        let r = w.alerts[2].as_ref().unwrap_err();
        assert_eq!(
            r.reason,
            "none of the node labels (instance, node) has a value"
        );
        assert_eq!(r.alertname.as_deref(), Some("HighLatency"));
        let r = w.alerts[5].as_ref().unwrap_err();
        assert!(r.reason.contains("before \"startsAt\""), "{}", r.reason);
        let r = w.alerts[6].as_ref().unwrap_err();
        assert!(r.reason.contains("\"service\""), "{}", r.reason);
    }

    #[test]
    fn junk_bodies_are_refused_with_a_reason() {
        let m = Mapping::default();
        let refused = |body: &[u8]| parse_webhook(body, &m, now()).unwrap_err();
        assert_eq!(refused(&[0xff, 0xfe]), WebhookRefused::NotText);
        assert!(matches!(
            refused(b"{\"version\": "),
            WebhookRefused::InvalidJson(_)
        ));
        assert_eq!(refused(b"[1, 2]"), WebhookRefused::NotAnObject);
        assert_eq!(
            refused(br#"{"version": "3", "alerts": []}"#),
            WebhookRefused::Version("\"3\"".into())
        );
        assert_eq!(
            refused(br#"{"version": 4, "alerts": []}"#),
            WebhookRefused::Version("4".into())
        );
        assert_eq!(
            refused(br#"{"alerts": []}"#),
            WebhookRefused::Version("none".into())
        );
        assert_eq!(
            refused(br#"{"version": "4", "alerts": []}"#),
            WebhookRefused::NoAlerts
        );
        assert_eq!(
            refused(br#"{"version": "4", "alerts": {}}"#),
            WebhookRefused::AlertsNotAList("an object".into())
        );
        let big = vec![b' '; MAX_WEBHOOK_BYTES + 1];
        assert_eq!(
            refused(&big),
            WebhookRefused::TooLarge(MAX_WEBHOOK_BYTES + 1)
        );
        assert_eq!(
            WebhookRefused::Version("\"3\"".into()).to_string(),
            "\"version\" must be \"4\" (Alertmanager's webhook payload version 4), not \"3\""
        );
        // Group fields of the wrong type refuse nothing: they are only context.
        let mut odd: Value =
            serde_json::from_slice(&webhook(vec![alert("firing", -1, None, json!({}))])).unwrap();
        odd["receiver"] = json!(42);
        let w = parse_webhook(odd.to_string().as_bytes(), &m, now()).unwrap();
        assert!(w.alerts[0].is_ok());
        assert_eq!(w.receiver, None);
    }

    #[test]
    fn label_names_are_prometheus_names() {
        for ok in ["instance", "_x", "a1_b"] {
            assert!(is_label_name(ok), "{ok}");
        }
        for bad in ["", "1a", "a-b", "a b", "é"] {
            assert!(!is_label_name(bad), "{bad:?}");
        }
    }

    // --- one occurrence, one plan -------------------------------------------------

    /// The record after `notes` (each: the alert and the intake's decision for an
    /// admitted one), with each note's verdict.
    fn replay(notes: &[(Value, Option<&str>)]) -> (Vec<Verdict>, AlertRecord) {
        let mut known: Option<AlertRecord> = None;
        let mut verdicts = Vec::new();
        for (i, (raw, decision)) in notes.iter().enumerate() {
            let a = one(raw.clone());
            let v = decide(known.as_ref(), &a);
            let mut r = next_record(known.as_ref(), &a, v, now() + Duration::seconds(i as i64));
            if v.admits() {
                r.decision = decision.map(str::to_owned);
            }
            verdicts.push(v);
            known = Some(r);
        }
        (verdicts, known.unwrap())
    }

    #[test]
    fn a_repeated_firing_notification_plans_once() {
        let firing = alert("firing", -5, None, json!({}));
        let (v, r) = replay(&[
            (firing.clone(), Some("plan")),
            (firing.clone(), None),
            (firing.clone(), None),
        ]);
        assert_eq!(v, [Verdict::Fire, Verdict::Repeat, Verdict::Repeat]);
        assert_eq!(r.notifications, 3);
        assert_eq!(r.first_seen, now(), "the occurrence's first notification");
        assert_eq!(
            r.last_seen,
            now() + Duration::seconds(2),
            "refreshed by each repeat"
        );
        assert_eq!(r.decision.as_deref(), Some("plan"));
    }

    #[test]
    fn an_occurrence_not_planned_yet_is_admitted_again_until_it_is() {
        let firing = alert("firing", -5, None, json!({}));
        let (v, r) = replay(&[
            (firing.clone(), Some("overload")),
            (firing.clone(), Some("cooldown")),
            (firing.clone(), Some("plan")),
            (firing.clone(), None),
        ]);
        assert_eq!(
            v,
            [
                Verdict::Fire,
                Verdict::Retry,
                Verdict::Retry,
                Verdict::Repeat
            ]
        );
        assert_eq!(r.decision.as_deref(), Some("plan"));
        let mut failed = r.clone();
        failed.decision = Some("planning_failed".into());
        assert_eq!(
            decide(Some(&failed), &one(firing.clone())),
            Verdict::Retry,
            "no model answered: the next notification tries again"
        );
        failed.decision = Some("benign".into());
        assert_eq!(decide(Some(&failed), &one(firing)), Verdict::Repeat);
    }

    #[test]
    fn a_resolved_notification_resolves_the_occurrence_once() {
        let (v, r) = replay(&[
            (alert("firing", -5, None, json!({})), Some("plan")),
            (alert("resolved", -5, Some(-1), json!({})), None),
            (alert("resolved", -5, Some(-1), json!({})), None),
        ]);
        assert_eq!(v, [Verdict::Fire, Verdict::Resolve, Verdict::ResolvedAgain]);
        assert_eq!(r.status, AlertStatus::Resolved);
        assert_eq!(r.ends_at.map(|t| t.to_rfc3339()), Some(at(-1)));
        assert_eq!(r.first_seen, now(), "the same occurrence");
        assert_eq!(
            resolved_at(&r, one(alert("firing", -5, None, json!({}))).starts_at),
            r.ends_at
        );
    }

    #[test]
    fn a_resolved_notification_before_its_firing_one_wins() {
        let (v, r) = replay(&[
            (alert("resolved", -5, Some(-1), json!({})), None),
            (alert("firing", -5, None, json!({})), Some("plan")),
            // Alertmanager merges a start inside the resolved span into that occurrence.
            (alert("firing", -3, None, json!({})), Some("plan")),
        ]);
        assert_eq!(
            v,
            [
                Verdict::Resolve,
                Verdict::AlreadyResolved,
                Verdict::AlreadyResolved
            ]
        );
        assert_eq!(r.status, AlertStatus::Resolved);
        assert_eq!(r.decision, None, "never admitted");
    }

    #[test]
    fn firing_after_a_resolve_with_a_newer_start_is_a_new_occurrence() {
        let (v, r) = replay(&[
            (alert("firing", -10, None, json!({})), Some("plan")),
            (alert("resolved", -10, Some(-6), json!({})), None),
            (alert("firing", -2, None, json!({})), Some("cooldown")),
            (alert("firing", -2, None, json!({})), Some("plan")),
        ]);
        assert_eq!(
            v,
            [
                Verdict::Fire,
                Verdict::Resolve,
                Verdict::Fire,
                Verdict::Retry
            ]
        );
        assert_eq!(r.status, AlertStatus::Firing);
        assert_eq!(r.starts_at.to_rfc3339(), at(-2));
        assert_eq!(r.ends_at, None);
        assert_eq!(r.notifications, 2, "counted per occurrence");
        assert_eq!(r.first_seen, now() + Duration::seconds(2));
    }

    #[test]
    fn a_later_start_while_firing_is_a_new_occurrence_whose_resolve_was_missed() {
        let (v, _) = replay(&[
            (alert("firing", -10, None, json!({})), Some("plan")),
            (alert("firing", -2, None, json!({})), Some("plan")),
        ]);
        assert_eq!(v, [Verdict::Fire, Verdict::Fire]);
    }

    #[test]
    fn news_of_an_older_occurrence_is_ignored() {
        let (v, r) = replay(&[
            (alert("firing", -2, None, json!({})), Some("plan")),
            (alert("firing", -10, None, json!({})), Some("plan")),
            (alert("resolved", -10, Some(-6), json!({})), None),
        ]);
        assert_eq!(v, [Verdict::Fire, Verdict::Outdated, Verdict::Outdated]);
        assert_eq!(
            r.status,
            AlertStatus::Firing,
            "the newer occurrence still fires"
        );
        assert_eq!(r.starts_at.to_rfc3339(), at(-2));
    }

    #[test]
    fn a_resolve_of_a_newer_occurrence_ends_everything_before_it() {
        let (v, r) = replay(&[
            (alert("firing", -10, None, json!({})), Some("plan")),
            (alert("resolved", -4, Some(-1), json!({})), None),
        ]);
        assert_eq!(v, [Verdict::Fire, Verdict::Resolve]);
        assert_eq!(r.starts_at.to_rfc3339(), at(-4));
        let older = one(alert("firing", -10, None, json!({}))).starts_at;
        assert!(
            resolved_at(&r, older).is_some(),
            "a plan for the older one is stale too"
        );
    }

    #[test]
    fn the_counts_of_the_answer_follow_the_verdicts() {
        let dup: Vec<Verdict> = [
            Verdict::Fire,
            Verdict::Retry,
            Verdict::Repeat,
            Verdict::AlreadyResolved,
            Verdict::Resolve,
            Verdict::ResolvedAgain,
            Verdict::Outdated,
        ]
        .into_iter()
        .filter(|v| v.is_duplicate())
        .collect();
        assert_eq!(
            dup,
            [
                Verdict::Repeat,
                Verdict::AlreadyResolved,
                Verdict::ResolvedAgain,
                Verdict::Outdated
            ]
        );
        assert!(Verdict::Fire.admits() && Verdict::Retry.admits());
        assert!(!Verdict::Resolve.admits() && !Verdict::Resolve.is_duplicate());
    }

    #[test]
    fn an_event_tells_its_occurrence_only_when_it_came_from_alertmanager() {
        let a = one(alert("firing", -5, None, json!({})));
        assert_eq!(
            occurrence_of(&a.event),
            Some((a.fingerprint.clone(), a.starts_at))
        );
        let mut api = a.event.clone();
        api.raw_channel = "api".into();
        assert_eq!(
            occurrence_of(&api),
            None,
            "a payload can claim anything over the API"
        );
    }

    #[test]
    fn the_stale_detail_says_when_the_alert_resolved() {
        let d = stale_detail("HighLatency", now());
        assert_eq!(
            d,
            "the alert HighLatency resolved in Alertmanager at 2026-05-27T12:00:00Z: nothing ran"
        );
    }
}
