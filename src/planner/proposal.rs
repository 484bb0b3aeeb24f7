//! Proposals and the files external executors read.
//!
//! Owns: `Proposal` (what the planner decided, with the model's trail and every policy
//! override), its action-file form (the keys of seed 001), the atomic write of that file
//! (temp file + rename: a reader never sees half a file, a crash leaves no partial one),
//! and the filesystem events under `events/YYYY-MM-DD/<node>/`.

use super::router::Attempt;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    pub action_id: String,
    /// Executor type: `container_restart`, `redeploy`, `notify`, `ignore`.
    #[serde(rename = "type")]
    pub kind: String,
    pub action: String,
    pub node: String,
    pub service: String,
    pub reason: String,
    #[serde(default)]
    pub description: String,
    pub confidence: f64,
    pub requires_human: bool,
    pub risk_level: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
    /// The event that caused it (shape A JSON).
    pub source_event: Value,
    pub llm_model: String,
    #[serde(default)]
    pub llm_attempts: Vec<Attempt>,
    #[serde(default)]
    pub overrides: Vec<String>,
    /// Providers that failed because of this one (an incident's dependents).
    #[serde(default)]
    pub dependents: Vec<String>,
    #[serde(default)]
    pub latency_ms: u64,
    /// Who approved or rejected it (`local`, `api`, `auto`, `tray`, `cli`) and when.
    #[serde(default)]
    pub decided_by: Option<String>,
    #[serde(default)]
    pub decided_at: Option<DateTime<Utc>>,
    /// Why it ended as it did (reject reason, refusal, stale, run result, verification).
    #[serde(default)]
    pub status_detail: Option<String>,
    /// The command's outcome, once it ran.
    #[serde(default)]
    pub run: Option<Value>,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
}

impl Proposal {
    /// `plan-<node>-<service>-<epoch>`, safe in a URL path and a file name (anything
    /// outside `[A-Za-z0-9._-]` in a name becomes `_`).
    pub fn make_id(node: &str, service: &str, at: DateTime<Utc>) -> String {
        format!(
            "plan-{}-{}-{}",
            sanitize(node),
            sanitize(service),
            at.timestamp()
        )
    }

    pub fn summary(&self) -> String {
        format!(
            "{} {} on {}: {} (confidence {:.2}{})",
            self.action,
            self.service,
            self.node,
            self.reason,
            self.confidence,
            if self.requires_human {
                ", needs your approval"
            } else {
                ""
            }
        )
    }

    /// The action file of seed 001 (plus Steward's extra fields).
    pub fn to_action_file(&self) -> Value {
        let description = if self.description.trim().is_empty() {
            self.reason.clone()
        } else {
            self.description.clone()
        };
        json!({
            "action_id": self.action_id,
            "type": self.kind,
            "node": self.node,
            "service": self.service,
            "risk_level": self.risk_level,
            "confidence": self.confidence,
            "requires_human": self.requires_human,
            "status": self.status,
            "timestamp": self.created_at.timestamp_millis() as f64 / 1000.0,
            "created_at": self.created_at.to_rfc3339(),
            "source_event": self.source_event,
            "llm_model": self.llm_model,
            "llm_attempts": self.llm_attempts,
            "payload": {"action": self.action, "reason": self.reason},
            "description": description,
            "overrides": self.overrides,
            "dependents": self.dependents,
            "decided_by": self.decided_by,
            "decided_at": self.decided_at.map(|t| t.to_rfc3339()),
            "status_detail": self.status_detail,
            "run": self.run,
            "updated_at": self.updated_at.map(|t| t.to_rfc3339()),
        })
    }
}

/// Writes `value` to `dir/name` atomically: a temp file in the same directory, fsync,
/// then rename over the target.
pub fn write_atomic(dir: &Path, name: &str, value: &Value) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let target = dir.join(name);
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        serde_json::to_writer_pretty(&mut f, value)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, &target)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map(|()| target)
}

/// Writes the pending action file `<actions_dir>/<action_id>.json`.
pub fn write_pending_action(actions_dir: &Path, p: &Proposal) -> std::io::Result<PathBuf> {
    write_atomic(
        actions_dir,
        &format!("{}.json", p.action_id),
        &p.to_action_file(),
    )
}

/// One filesystem event, as other homelab tools write them.
#[derive(Debug, Clone, PartialEq)]
pub struct FsEvent<'a> {
    pub event_type: &'a str,
    pub severity: &'a str,
    pub service: &'a str,
    pub correlation_id: &'a str,
    pub payload: Value,
}

/// Writes `<events_dir>/<YYYY-MM-DD>/<node>/<epoch ms>-<type>-<correlation>.json`. The node
/// is read at call time (`NODE_NAME`, else the hostname).
pub fn emit_event(
    events_dir: &Path,
    e: &FsEvent<'_>,
    now: DateTime<Utc>,
) -> std::io::Result<PathBuf> {
    let node = crate::config::node_name();
    let dir = events_dir
        .join(now.format("%Y-%m-%d").to_string())
        .join(sanitize(&node));
    let name = format!(
        "{}-{}-{}.json",
        now.timestamp_millis(),
        sanitize(e.event_type),
        sanitize(e.correlation_id)
    );
    let value = json!({
        "type": e.event_type,
        "severity": e.severity,
        "node": node,
        "service": e.service,
        "correlation_id": e.correlation_id,
        "payload": e.payload,
        "timestamp": now.timestamp_millis() as f64 / 1000.0,
        "source": "steward",
    });
    write_atomic(&dir, &name, &value)
}

/// File-name safe: keeps `[A-Za-z0-9._-]`, maps the rest to `_`.
fn sanitize(s: &str) -> String {
    let s: String = s
        .chars()
        .take(100)
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    match s.trim_start_matches('.') {
        "" => "_".to_owned(),
        t => t.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn sample() -> Proposal {
        Proposal {
            action_id: "plan-piha-mosquitto-123".into(),
            kind: "container_restart".into(),
            action: "restart".into(),
            node: "piha".into(),
            service: "mosquitto".into(),
            reason: "Container stopped unexpectedly".into(),
            description: String::new(),
            confidence: 0.9,
            requires_human: false,
            risk_level: "low".into(),
            status: "pending".into(),
            created_at: Utc.with_ymd_and_hms(2026, 5, 27, 12, 0, 0).unwrap(),
            source_event: json!({"type": "service_unhealthy"}),
            llm_model: "qwen2.5:7b".into(),
            llm_attempts: Vec::new(),
            overrides: Vec::new(),
            dependents: Vec::new(),
            latency_ms: 120,
            decided_by: None,
            decided_at: None,
            status_detail: None,
            run: None,
            updated_at: None,
        }
    }

    // TestActionProposal
    #[test]
    fn action_file_has_every_seed_key() {
        let d = sample().to_action_file();
        for key in [
            "action_id",
            "type",
            "node",
            "service",
            "risk_level",
            "confidence",
            "requires_human",
            "status",
            "timestamp",
            "source_event",
            "llm_model",
            "llm_attempts",
            "payload",
            "description",
        ] {
            assert!(d.get(key).is_some(), "missing key: {key}");
        }
    }

    #[test]
    fn status_is_pending() {
        assert_eq!(sample().to_action_file()["status"], "pending");
    }

    #[test]
    fn payload_has_action_and_reason() {
        let d = sample().to_action_file();
        assert_eq!(d["payload"]["action"], "restart");
        assert!(d["payload"]["reason"]
            .as_str()
            .unwrap()
            .contains("Container stopped"));
    }

    #[test]
    fn description_falls_back_to_reason() {
        let p = sample();
        assert_eq!(p.to_action_file()["description"], p.reason.as_str());
    }

    #[test]
    fn id_is_plan_node_service_epoch() {
        let at = Utc.timestamp_opt(1000, 0).unwrap();
        assert_eq!(
            Proposal::make_id("piha", "mosquitto", at),
            "plan-piha-mosquitto-1000"
        );
        assert_eq!(
            Proposal::make_id("../etc", "x; rm -rf /", at),
            "plan-_etc-x__rm_-rf__-1000",
            "safe in a URL path and a file name"
        );
    }

    // TestWritePendingAction
    #[test]
    fn pending_action_file_is_written_with_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = sample();
        p.action_id = "plan-piha-mosquitto-1000".into();
        p.confidence = 0.95;
        let path = write_pending_action(dir.path(), &p).unwrap();
        assert!(path.exists());
        let data: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(data["action_id"], "plan-piha-mosquitto-1000");
        assert_eq!(data["status"], "pending");
        assert_eq!(data["type"], "container_restart");
        assert_eq!(data["confidence"], 0.95);
        assert_eq!(data["requires_human"], false);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temp file is left behind: {names:?}");
    }

    #[test]
    fn a_failed_write_leaves_no_temp_file_and_keeps_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let p = sample();
        write_pending_action(dir.path(), &p).unwrap();
        // A directory where the file should go makes the rename fail.
        let blocked = dir.path().join("blocked");
        std::fs::create_dir_all(blocked.join("x.json")).unwrap();
        assert!(write_atomic(&blocked, "x.json", &json!({})).is_err());
        let left: Vec<_> = std::fs::read_dir(&blocked)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left.len(), 1, "{left:?}");
        let kept: Value = serde_json::from_slice(
            &std::fs::read(dir.path().join("plan-piha-mosquitto-123.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(kept["action_id"], "plan-piha-mosquitto-123");
    }

    // TestEmitEvent
    #[test]
    fn events_go_under_date_and_node() {
        let dir = tempfile::tempdir().unwrap();
        // NODE_NAME is read at call time.
        std::env::set_var("NODE_NAME", "piha");
        let now = Utc.with_ymd_and_hms(2026, 5, 27, 12, 0, 0).unwrap();
        let e = FsEvent {
            event_type: "remediation_started",
            severity: "info",
            service: "mosquitto",
            correlation_id: "plan-abc-123",
            payload: json!({"action": "restart"}),
        };
        let path = emit_event(dir.path(), &e, now).unwrap();
        let parts: Vec<_> = path.strip_prefix(dir.path()).unwrap().iter().collect();
        assert_eq!(parts.len(), 3, "date / node / file.json: {parts:?}");
        assert_eq!(parts[0], "2026-05-27");
        assert_eq!(parts[1], "piha");
        let data: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(data["type"], "remediation_started");
        assert_eq!(data["service"], "mosquitto");
        assert_eq!(data["correlation_id"], "plan-abc-123");
        assert_eq!(data["payload"]["action"], "restart");
    }
}
