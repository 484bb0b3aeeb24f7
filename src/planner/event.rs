//! One typed `HealthEvent` for every source, and the parser for raw input.
//!
//! Owns: the two wire shapes of seed 001 (A `{type, node, service, severity, payload,
//! timestamp}`, B `{event_type, node, service, severity, ...}`), their defaults (service
//! falls back to node, timestamp falls back to `now`) and the typed reasons input is
//! refused. Never panics on input: every refusal is a `Rejected` value the caller counts.
//! Does not own: what happens to an event (the gate and the planner decide).

use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use std::fmt;

/// Raw messages larger than this are refused before parsing.
pub const MAX_EVENT_BYTES: usize = 64 * 1024;

/// Event types that report good news: recorded, never planned.
pub const BENIGN: &[&str] = &[
    "service_healthy",
    "service_recovered",
    "node_online",
    "heartbeat",
    "pipeline_ok",
    "disk_ok",
    "remediation_started",
    "remediation_succeeded",
    "proposal_created",
];

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthEvent {
    pub node: String,
    pub service: String,
    pub event_type: String,
    pub severity: String,
    pub payload: Map<String, Value>,
    pub timestamp: DateTime<Utc>,
    /// Where it came from: a Redis channel, `api`, `breaker`, `sessions`.
    pub raw_channel: String,
}

/// `node/service`: the unit of cooldown, flaps and the auto-run budget.
pub fn svc_key(node: &str, service: &str) -> String {
    format!("{node}/{service}")
}

impl HealthEvent {
    /// `node/service`: the unit of cooldown.
    pub fn svc_key(&self) -> String {
        svc_key(&self.node, &self.service)
    }

    pub fn is_benign(&self) -> bool {
        BENIGN.contains(&self.event_type.as_str())
    }

    /// The event as JSON (shape A), as stored in proposals and published on the bus.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "type": self.event_type,
            "node": self.node,
            "service": self.service,
            "severity": self.severity,
            "payload": self.payload,
            "timestamp": self.timestamp.to_rfc3339(),
            "channel": self.raw_channel,
        })
    }
}

impl fmt::Display for HealthEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} [{}] via {}",
            self.event_type,
            self.svc_key(),
            self.severity,
            self.raw_channel
        )
    }
}

/// Why an input was not accepted as an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("message is {0} bytes, more than the limit of {MAX_EVENT_BYTES}")]
    TooLarge(usize),
    #[error("message is not UTF-8 text")]
    NotText,
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    #[error("event must be a JSON object")]
    NotAnObject,
    #[error("missing \"node\"")]
    MissingNode,
    #[error("missing \"type\" (or \"event_type\")")]
    MissingType,
    #[error("field {field:?}: {why}")]
    BadField { field: &'static str, why: String },
    /// A control character (newline, NUL, DEL, …) or an invisible format character (bidi
    /// overrides, zero-width spaces, BOM) in a text field: it could forge log lines or
    /// make the UI show another name than the one stored.
    #[error("field {field:?}: contains the control or format character U+{:04X}", u32::from(*found))]
    ControlCharacter { field: &'static str, found: char },
}

impl Rejected {
    /// A short stable name, for counters.
    pub fn kind(&self) -> &'static str {
        match self {
            Rejected::TooLarge(_) => "too_large",
            Rejected::NotText => "not_text",
            Rejected::InvalidJson(_) => "invalid_json",
            Rejected::NotAnObject => "not_an_object",
            Rejected::MissingNode => "missing_node",
            Rejected::MissingType => "missing_type",
            Rejected::BadField { .. } => "bad_field",
            Rejected::ControlCharacter { .. } => "control_characters",
        }
    }
}

/// Parses a raw message (bytes off the bus or an HTTP body).
pub fn parse_message(
    data: &[u8],
    channel: &str,
    now: DateTime<Utc>,
) -> Result<HealthEvent, Rejected> {
    if data.len() > MAX_EVENT_BYTES {
        return Err(Rejected::TooLarge(data.len()));
    }
    let text = std::str::from_utf8(data).map_err(|_| Rejected::NotText)?;
    let value: Value =
        serde_json::from_str(text).map_err(|e| Rejected::InvalidJson(e.to_string()))?;
    parse_event(&value, channel, now)
}

const SHAPE_KEYS: &[&str] = &[
    "type",
    "event_type",
    "node",
    "service",
    "severity",
    "payload",
    "timestamp",
];

/// Parses an event in shape A or B.
pub fn parse_event(
    raw: &Value,
    channel: &str,
    now: DateTime<Utc>,
) -> Result<HealthEvent, Rejected> {
    let obj = raw.as_object().ok_or(Rejected::NotAnObject)?;
    let text = |field: &'static str| -> Result<Option<String>, Rejected> {
        match obj.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) if s.len() > 200 => Err(Rejected::BadField {
                field,
                why: "longer than 200 characters".into(),
            }),
            Some(Value::String(s)) => match s.chars().find(|c| is_forbidden_in_text(*c)) {
                Some(found) => Err(Rejected::ControlCharacter { field, found }),
                None => Ok(Some(s.trim().to_owned())),
            },
            Some(other) => Err(Rejected::BadField {
                field,
                why: format!("must be a string, not {}", json_kind(other)),
            }),
        }
    };
    let event_type = match text("type")? {
        Some(t) => t,
        None => text("event_type")?.ok_or(Rejected::MissingType)?,
    };
    let node = text("node")?.ok_or(Rejected::MissingNode)?;
    let service = text("service")?.unwrap_or_else(|| node.clone());
    let severity = text("severity")?.unwrap_or_else(|| "warning".to_owned());
    let timestamp = match obj.get("timestamp") {
        None | Some(Value::Null) => now,
        Some(v) => parse_timestamp(v).ok_or_else(|| Rejected::BadField {
            field: "timestamp",
            why: "expected ISO-8601 or epoch seconds".into(),
        })?,
    };
    // Shape A carries a payload object; shape B's other fields are its payload.
    let mut payload = match obj.get("payload") {
        Some(Value::Object(m)) => m.clone(),
        None | Some(Value::Null) => Map::new(),
        Some(other) => {
            let mut m = Map::new();
            m.insert("value".into(), other.clone());
            m
        }
    };
    for (k, v) in obj {
        if !SHAPE_KEYS.contains(&k.as_str()) {
            payload.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    Ok(HealthEvent {
        node,
        service,
        event_type,
        severity,
        payload,
        timestamp,
        raw_channel: channel.to_owned(),
    })
}

/// Characters no name or type may hold: controls (`Cc`: C0 with newline and NUL, DEL, C1),
/// format characters (`Cf`: bidi embeddings, overrides and isolates, U+061C, LRM/RLM,
/// zero-width spaces and joiners, BOM, …) and the line/paragraph separators.
pub fn is_forbidden_in_text(c: char) -> bool {
    use unicode_general_category::{get_general_category, GeneralCategory};
    c.is_control()
        || matches!(
            get_general_category(c),
            GeneralCategory::Format
                | GeneralCategory::LineSeparator
                | GeneralCategory::ParagraphSeparator
        )
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// ISO-8601 / RFC 3339 text, or epoch seconds (a number or numeric text). Values that only
/// make sense as epoch milliseconds are read as such.
pub fn parse_timestamp(v: &Value) -> Option<DateTime<Utc>> {
    let secs = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => {
            if let Ok(d) = DateTime::parse_from_rfc3339(s.trim()) {
                return Some(d.with_timezone(&Utc));
            }
            if let Ok(d) = chrono::NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%dT%H:%M:%S%.f") {
                return Some(d.and_utc());
            }
            s.trim().parse::<f64>().ok()?
        }
        _ => return None,
    };
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    let secs = if secs > 1e11 { secs / 1000.0 } else { secs };
    Utc.timestamp_millis_opt((secs * 1000.0).round() as i64)
        .single()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 27, 12, 0, 0).unwrap()
    }

    fn ev(node: &str, service: &str) -> HealthEvent {
        parse_event(
            &json!({"type": "service_unhealthy", "node": node, "service": service, "severity": "error"}),
            "health_events",
            now(),
        )
        .unwrap()
    }

    // TestHealthEvent
    #[test]
    fn svc_key_is_node_slash_service() {
        assert_eq!(ev("piha", "mosquitto").svc_key(), "piha/mosquitto");
    }

    #[test]
    fn display_names_the_type_and_the_key() {
        let s = ev("vps", "observer").to_string();
        assert!(s.contains("service_unhealthy"), "{s}");
        assert!(s.contains("vps/observer"), "{s}");
    }

    // TestParseEvent
    #[test]
    fn shape_a_node_agent() {
        let raw = json!({"type": "service_unhealthy", "node": "piha", "service": "mosquitto",
                         "severity": "error", "payload": {"status": "exited"}});
        let e = parse_event(&raw, "health_events", now()).unwrap();
        assert_eq!(e.node, "piha");
        assert_eq!(e.service, "mosquitto");
        assert_eq!(e.event_type, "service_unhealthy");
        assert_eq!(e.severity, "error");
        assert_eq!(Value::Object(e.payload), json!({"status": "exited"}));
    }

    #[test]
    fn shape_b_world_updates() {
        let raw = json!({"event_type": "node_offline", "node": "chelsty-infra",
                         "service": "mosquitto", "severity": "critical", "last_seen": 42});
        let e = parse_event(&raw, "world_updates", now()).unwrap();
        assert_eq!(e.event_type, "node_offline");
        assert_eq!(e.node, "chelsty-infra");
        assert_eq!(e.severity, "critical");
        assert_eq!(
            e.payload.get("last_seen"),
            Some(&json!(42)),
            "extra fields are the payload"
        );
    }

    #[test]
    fn missing_node_is_rejected() {
        let raw = json!({"type": "service_unhealthy", "service": "mosquitto"});
        assert_eq!(
            parse_event(&raw, "health_events", now()),
            Err(Rejected::MissingNode)
        );
    }

    #[test]
    fn missing_type_is_rejected() {
        let raw = json!({"node": "piha", "service": "mosquitto"});
        assert_eq!(
            parse_event(&raw, "health_events", now()),
            Err(Rejected::MissingType)
        );
    }

    #[test]
    fn service_falls_back_to_node() {
        let e = parse_event(&json!({"type": "node_offline", "node": "piha"}), "h", now()).unwrap();
        assert_eq!(e.service, "piha");
    }

    #[test]
    fn iso_timestamp_is_parsed() {
        let raw = json!({"type": "service_unhealthy", "node": "piha", "service": "mosquitto",
                         "timestamp": "2026-05-27T12:00:00Z"});
        let e = parse_event(&raw, "h", now() + chrono::Duration::days(9)).unwrap();
        assert_eq!(e.timestamp, now());
        assert!(e.timestamp.timestamp() > 1_700_000_000);
    }

    #[test]
    fn numeric_timestamp_is_accepted() {
        let ts = 1_779_883_200.25_f64;
        let raw = json!({"type": "service_unhealthy", "node": "piha", "timestamp": ts});
        let e = parse_event(&raw, "h", now()).unwrap();
        assert!((e.timestamp.timestamp_millis() as f64 / 1000.0 - ts).abs() < 1.0);
        let ms = json!({"type": "x", "node": "piha", "timestamp": 1_779_883_200_250_i64});
        assert_eq!(parse_event(&ms, "h", now()).unwrap().timestamp, e.timestamp);
        let text = json!({"type": "x", "node": "piha", "timestamp": "1779883200.25"});
        assert_eq!(
            parse_event(&text, "h", now()).unwrap().timestamp,
            e.timestamp
        );
    }

    #[test]
    fn absent_timestamp_is_now() {
        let e = parse_event(&json!({"type": "x", "node": "piha"}), "h", now()).unwrap();
        assert_eq!(e.timestamp, now());
    }

    #[test]
    fn channel_is_stored() {
        let raw = json!({"type": "service_unhealthy", "node": "piha", "service": "mosquitto"});
        assert_eq!(
            parse_event(&raw, "world_updates", now())
                .unwrap()
                .raw_channel,
            "world_updates"
        );
    }

    // TestPlannerDispatch: what never becomes an event
    #[test]
    fn invalid_json_is_rejected() {
        let r = parse_message(b"{not valid json", "health_events", now());
        assert!(matches!(r, Err(Rejected::InvalidJson(_))), "{r:?}");
    }

    #[test]
    fn non_string_data_is_rejected() {
        assert_eq!(parse_message(b"42", "h", now()), Err(Rejected::NotAnObject));
        assert_eq!(
            parse_message(&[0xff, 0xfe, b'{'], "h", now()),
            Err(Rejected::NotText)
        );
        let r = parse_event(&json!({"type": 42, "node": "piha"}), "h", now());
        assert!(
            matches!(r, Err(Rejected::BadField { field: "type", .. })),
            "{r:?}"
        );
    }

    #[test]
    fn valid_json_message_is_an_event() {
        let data = br#"{"type":"service_unhealthy","node":"piha","service":"mosquitto","severity":"error"}"#;
        assert_eq!(
            parse_message(data, "health_events", now())
                .unwrap()
                .svc_key(),
            "piha/mosquitto"
        );
    }

    #[test]
    fn missing_node_message_is_rejected() {
        let data = br#"{"type":"service_unhealthy","service":"mosquitto"}"#;
        assert_eq!(
            parse_message(data, "health_events", now()),
            Err(Rejected::MissingNode)
        );
    }

    #[test]
    fn oversized_and_unreadable_input_is_refused() {
        let big = vec![b' '; MAX_EVENT_BYTES + 1];
        assert_eq!(
            parse_message(&big, "h", now()),
            Err(Rejected::TooLarge(MAX_EVENT_BYTES + 1))
        );
        let r = parse_event(
            &json!({"type": "x", "node": "n", "timestamp": "yesterday"}),
            "h",
            now(),
        );
        assert!(matches!(
            r,
            Err(Rejected::BadField {
                field: "timestamp",
                ..
            })
        ));
    }

    #[test]
    fn control_and_bidi_characters_in_text_fields_are_refused_naming_the_field() {
        let forged = [
            '\n', '\r', '\0', '\u{1b}', '\u{7f}', '\u{85}', '\u{61c}', '\u{200b}', '\u{200c}',
            '\u{200d}', '\u{200e}', '\u{200f}', '\u{2028}', '\u{202a}', '\u{202e}', '\u{2066}',
            '\u{2069}', '\u{feff}',
        ];
        for field in ["type", "event_type", "node", "service", "severity"] {
            for c in forged {
                let mut raw = json!({"node": "piha", "severity": "error"});
                if field != "type" && field != "event_type" {
                    raw["type"] = json!("service_unhealthy");
                }
                raw[field] = json!(format!("pi{c}ha"));
                let r = parse_event(&raw, "h", now());
                assert_eq!(
                    r,
                    Err(Rejected::ControlCharacter { field, found: c }),
                    "{field} with U+{:04X}",
                    u32::from(c)
                );
                let why = r.unwrap_err();
                assert_eq!(why.kind(), "control_characters");
                assert!(why.to_string().contains(&format!("{field:?}")), "{why}");
            }
        }
        // A newline only at the edge would have been trimmed away: still refused.
        let edge = parse_event(&json!({"type": "x", "node": "piha\n"}), "h", now());
        assert!(matches!(
            edge,
            Err(Rejected::ControlCharacter { field: "node", .. })
        ));
        // Ordinary non-ASCII text is fine.
        let e = parse_event(
            &json!({"type": "x", "node": "nœud-é", "service": "サービス"}),
            "h",
            now(),
        );
        assert_eq!(e.unwrap().svc_key(), "nœud-é/サービス");
    }

    #[test]
    fn benign_events_are_known() {
        let e = parse_event(
            &json!({"type": "service_healthy", "node": "piha"}),
            "h",
            now(),
        )
        .unwrap();
        assert!(e.is_benign());
        assert!(!ev("piha", "mosquitto").is_benign());
    }
}
