//! Proposals and the files external executors read.
//!
//! Owns: `Proposal` (what the planner decided, with the model's trail and every policy
//! override), its action-file form (the keys of seed 001), the atomic write of that file
//! (temp file + rename: a reader never sees half a file, a crash leaves no partial one),
//! and the filesystem events under `events/YYYY-MM-DD/<node>/`.

use super::policy::{ActionKind, Risk};
use crate::execute::state::Status;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};

/// How one model the router asked did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// A valid answer.
    Success,
    /// Not called: its provider's breaker is open (or the model is listed twice).
    Skipped,
    /// The call failed: connect error, timeout, 5xx, 429, oversized body.
    Failed,
    /// The call worked but the answer was junk (no JSON object, schema violation).
    Invalid,
}

/// One model the router tried, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct Attempt {
    /// The model's id in config (`rules` for the rules planner).
    pub model: String,
    pub outcome: AttemptOutcome,
    pub error: Option<String>,
    pub latency_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    pub action_id: String,
    /// Executor type: `container_restart`, `redeploy`, `notify`, `ignore`.
    #[serde(rename = "type")]
    pub kind: ActionKind,
    pub action: String,
    pub node: String,
    pub service: String,
    pub reason: String,
    #[serde(default)]
    pub description: String,
    pub confidence: f64,
    pub requires_human: bool,
    pub risk_level: Risk,
    pub status: Status,
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

    /// The action file of seed 001 (plus Steward's extra fields), as JSON.
    pub fn to_action_file(&self) -> Value {
        serde_json::to_value(self.action_file()).expect("an action file is plain JSON")
    }

    /// The action file of seed 001 (plus Steward's extra fields).
    pub fn action_file(&self) -> ActionFile {
        let description = if self.description.trim().is_empty() {
            self.reason.clone()
        } else {
            self.description.clone()
        };
        ActionFile {
            action_id: self.action_id.clone(),
            kind: self.kind,
            node: self.node.clone(),
            service: self.service.clone(),
            risk_level: self.risk_level,
            confidence: self.confidence,
            requires_human: self.requires_human,
            status: self.status,
            timestamp: self.created_at.timestamp_millis() as f64 / 1000.0,
            created_at: self.created_at.to_rfc3339(),
            source_event: self.source_event.clone(),
            llm_model: self.llm_model.clone(),
            llm_attempts: self.llm_attempts.clone(),
            payload: ActionPayload {
                action: self.action.clone(),
                reason: self.reason.clone(),
            },
            description,
            overrides: self.overrides.clone(),
            dependents: self.dependents.clone(),
            decided_by: self.decided_by.clone(),
            decided_at: self.decided_at.map(|t| t.to_rfc3339()),
            status_detail: self.status_detail.clone(),
            run: self.run.clone(),
            updated_at: self.updated_at.map(|t| t.to_rfc3339()),
        }
    }
}

/// A proposal as external executors read it (the action file: the keys of seed 001 plus
/// Steward's), which is also what the API answers for a proposal. Times are RFC 3339 text
/// with `+00:00`, as seed 001 writes them.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct ActionFile {
    pub action_id: String,
    /// Executor type: `container_restart`, `redeploy`, `notify`, `ignore`.
    #[serde(rename = "type")]
    pub kind: ActionKind,
    pub node: String,
    pub service: String,
    /// `low`, `guarded` or `none`.
    pub risk_level: Risk,
    pub confidence: f64,
    pub requires_human: bool,
    /// `pending`, then whatever the executor makes of it (`approved`, `rejected`, …).
    pub status: Status,
    /// `created_at` in epoch seconds.
    pub timestamp: f64,
    pub created_at: String,
    /// The event that caused it (shape A).
    #[ts(type = "unknown")]
    pub source_event: Value,
    /// The model that answered (`rules` for the built-in rules planner).
    pub llm_model: String,
    pub llm_attempts: Vec<Attempt>,
    pub payload: ActionPayload,
    pub description: String,
    /// What the policy in code forced, whatever the model said.
    pub overrides: Vec<String>,
    /// Provider ids that failed because of this one.
    pub dependents: Vec<String>,
    /// Who approved or rejected it (`api`, `local`, `auto`, …) and when; `null` while pending.
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    /// Why it is in its status, in words.
    pub status_detail: Option<String>,
    /// The command's run: its output so far while it runs, the result once it ended.
    #[ts(type = "unknown")]
    pub run: Option<Value>,
    pub updated_at: Option<String>,
}

/// `payload` of an action file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct ActionPayload {
    pub action: String,
    pub reason: String,
}

/// Writes `value` to `dir/name` atomically: a temp file created exclusively (random name,
/// mode 0600, never through a symlink) in the same directory, fsync, rename over the
/// target (which replaces a symlink there rather than following it), fsync of the
/// directory. A reader never sees half a file; a crash leaves the old file or the new one.
pub fn write_atomic(dir: &Path, name: &str, value: &Value) -> std::io::Result<PathBuf> {
    create_private_dir(dir)?;
    let target = dir.join(name);
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)?;
    serde_json::to_writer_pretty(tmp.as_file_mut(), value)?;
    tmp.as_file_mut().write_all(b"\n")?;
    tmp.as_file().sync_all()?;
    // On error the temp file is removed when `tmp` is dropped.
    tmp.persist(&target).map_err(|e| e.error)?;
    sync_dir(dir);
    Ok(target)
}

/// `create_dir_all` with 0700 for what it creates: action and event files carry payloads.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Makes a rename in `dir` durable. Best effort: some filesystems refuse to fsync a
/// directory, and the file itself is already complete either way.
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        // Ignored on purpose: see above.
        let _ = d.sync_all();
    }
}

/// Where claimed action files go (README, "Action files"): `<actions_dir>/claimed/`.
pub const CLAIMED_DIR: &str = "claimed";

fn file_name(action_id: &str) -> String {
    format!("{action_id}.json")
}

/// The action file of `action_id` where it is now: `claimed/<id>.json` once claimed,
/// else `<id>.json`.
pub fn action_path(actions_dir: &Path, action_id: &str) -> PathBuf {
    let claimed = actions_dir.join(CLAIMED_DIR).join(file_name(action_id));
    if claimed.symlink_metadata().is_ok() {
        claimed
    } else {
        actions_dir.join(file_name(action_id))
    }
}

/// Writes the pending action file `<actions_dir>/<action_id>.json`.
pub fn write_pending_action(actions_dir: &Path, p: &Proposal) -> std::io::Result<PathBuf> {
    write_atomic(actions_dir, &file_name(&p.action_id), &p.to_action_file())
}

/// Rewrites a proposal's action file where it is now (claimed or not), so it always says
/// what the database says.
pub fn write_action(actions_dir: &Path, p: &Proposal) -> std::io::Result<PathBuf> {
    let path = action_path(actions_dir, &p.action_id);
    let dir = path.parent().unwrap_or(actions_dir);
    write_atomic(dir, &file_name(&p.action_id), &p.to_action_file())
}

/// What [`claim_action`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The file is ours (moved into `claimed/`): this executor runs the proposal.
    Ours,
    /// Another executor claimed it first: do not run it.
    Taken,
}

/// Claims a proposal for running, the way every executor must (README, "Action files"):
/// an atomic rename of `<id>.json` into `claimed/`. Two executors renaming the same file:
/// exactly one succeeds. A file that was never written (a failed write) is claimed by
/// creating `claimed/<id>.json` exclusively, which also loses to a rename that got there
/// first. The claimed file then holds `p` (the proposal as it is now).
pub fn claim_action(actions_dir: &Path, p: &Proposal) -> std::io::Result<Claim> {
    let claimed_dir = actions_dir.join(CLAIMED_DIR);
    create_private_dir(&claimed_dir)?;
    let name = file_name(&p.action_id);
    let claimed = claimed_dir.join(&name);
    if claimed.symlink_metadata().is_ok() {
        return Ok(Claim::Taken);
    }
    match std::fs::rename(actions_dir.join(&name), &claimed) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&claimed)
            {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(Claim::Taken),
                Err(e) => return Err(e),
            }
        }
        Err(e) => return Err(e),
    }
    write_atomic(&claimed_dir, &name, &p.to_action_file())?;
    Ok(Claim::Ours)
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

/// Writes `<events_dir>/<YYYY-MM-DD>/<node>/<epoch ms>-<type>-<correlation>.json`, an
/// event from `node` (this workstation: the config's `node`).
pub fn emit_event_as(
    events_dir: &Path,
    node: &str,
    e: &FsEvent<'_>,
    now: DateTime<Utc>,
) -> std::io::Result<PathBuf> {
    let dir = events_dir
        .join(now.format("%Y-%m-%d").to_string())
        .join(sanitize(node));
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
            kind: ActionKind::ContainerRestart,
            action: "restart".into(),
            node: "piha".into(),
            service: "mosquitto".into(),
            reason: "Container stopped unexpectedly".into(),
            description: String::new(),
            confidence: 0.9,
            requires_human: false,
            risk_level: Risk::Low,
            status: Status::Pending,
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

    /// The typed action file is byte for byte the `json!` it replaced (keys, values, time
    /// format, key order), with every optional field set and unset.
    #[test]
    fn action_file_is_the_json_it_always_was() {
        let before = |p: &Proposal| {
            let description = if p.description.trim().is_empty() {
                p.reason.clone()
            } else {
                p.description.clone()
            };
            json!({
                "action_id": p.action_id,
                "type": p.kind,
                "node": p.node,
                "service": p.service,
                "risk_level": p.risk_level,
                "confidence": p.confidence,
                "requires_human": p.requires_human,
                "status": p.status,
                "timestamp": p.created_at.timestamp_millis() as f64 / 1000.0,
                "created_at": p.created_at.to_rfc3339(),
                "source_event": p.source_event,
                "llm_model": p.llm_model,
                "llm_attempts": p.llm_attempts,
                "payload": {"action": p.action, "reason": p.reason},
                "description": description,
                "overrides": p.overrides,
                "dependents": p.dependents,
                "decided_by": p.decided_by,
                "decided_at": p.decided_at.map(|t| t.to_rfc3339()),
                "status_detail": p.status_detail,
                "run": p.run,
                "updated_at": p.updated_at.map(|t| t.to_rfc3339()),
            })
        };
        let unset = sample();
        let at = Utc.with_ymd_and_hms(2026, 5, 27, 12, 0, 1).unwrap()
            + chrono::Duration::milliseconds(250);
        let set = Proposal {
            description: "Restart it".into(),
            created_at: at,
            llm_attempts: vec![Attempt {
                model: "local".into(),
                outcome: super::super::router::AttemptOutcome::Failed,
                error: Some("HTTP 500".into()),
                latency_ms: 12,
            }],
            overrides: vec!["risk raised".into()],
            dependents: vec!["web".into()],
            decided_by: Some("api:ann".into()),
            decided_at: Some(at),
            status_detail: Some("approved".into()),
            run: Some(json!({"end": "ok", "exit_code": 0})),
            updated_at: Some(at),
            ..sample()
        };
        for p in [unset, set] {
            let (now, then) = (p.to_action_file(), before(&p));
            assert_eq!(now, then);
            assert_eq!(
                now.to_string(),
                then.to_string(),
                "the same text, keys in order"
            );
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

    #[test]
    fn files_are_private_and_written_through_no_symlink() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside.json");
        std::fs::write(&outside, "precious").unwrap();
        let actions = dir.path().join("actions");
        std::fs::create_dir(&actions).unwrap();
        std::os::unix::fs::symlink(&outside, actions.join("plan-x.json")).unwrap();
        let p = Proposal {
            action_id: "plan-x".into(),
            ..sample()
        };
        let path = write_pending_action(&actions, &p).unwrap();
        assert_eq!(
            std::fs::read_to_string(&outside).unwrap(),
            "precious",
            "the link was replaced, not followed"
        );
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.is_file());
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn exactly_one_of_two_executors_claims_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = sample();
        write_pending_action(dir.path(), &p).unwrap();
        assert_eq!(claim_action(dir.path(), &p).unwrap(), Claim::Ours);
        assert_eq!(
            claim_action(dir.path(), &p).unwrap(),
            Claim::Taken,
            "a second claim loses"
        );
        assert!(!dir.path().join("plan-piha-mosquitto-123.json").exists());
        assert_eq!(
            action_path(dir.path(), &p.action_id),
            dir.path().join("claimed/plan-piha-mosquitto-123.json")
        );
    }

    #[test]
    fn a_file_claimed_by_another_executor_is_not_claimed_again() {
        let dir = tempfile::tempdir().unwrap();
        let p = sample();
        write_pending_action(dir.path(), &p).unwrap();
        // What an external executor does (README, "Action files").
        std::fs::create_dir(dir.path().join("claimed")).unwrap();
        std::fs::rename(
            dir.path().join("plan-piha-mosquitto-123.json"),
            dir.path().join("claimed/plan-piha-mosquitto-123.json"),
        )
        .unwrap();
        assert_eq!(claim_action(dir.path(), &p).unwrap(), Claim::Taken);
    }

    #[test]
    fn a_file_that_was_never_written_is_claimed_by_an_exclusive_create() {
        let dir = tempfile::tempdir().unwrap();
        let p = sample();
        assert_eq!(claim_action(dir.path(), &p).unwrap(), Claim::Ours);
        let data: Value = serde_json::from_slice(
            &std::fs::read(dir.path().join("claimed/plan-piha-mosquitto-123.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(data["action_id"], "plan-piha-mosquitto-123");
    }

    #[test]
    fn a_rewrite_goes_where_the_file_is_now() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = sample();
        write_pending_action(dir.path(), &p).unwrap();
        claim_action(dir.path(), &p).unwrap();
        p.status = Status::Running;
        let path = write_action(dir.path(), &p).unwrap();
        assert_eq!(
            path,
            dir.path().join("claimed/plan-piha-mosquitto-123.json")
        );
        assert!(!dir.path().join("plan-piha-mosquitto-123.json").exists());
        let data: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(data["status"], "running");
    }

    // TestEmitEvent
    #[test]
    fn events_go_under_date_and_node() {
        let dir = tempfile::tempdir().unwrap();
        let now = Utc.with_ymd_and_hms(2026, 5, 27, 12, 0, 0).unwrap();
        let e = FsEvent {
            event_type: "remediation_started",
            severity: "info",
            service: "mosquitto",
            correlation_id: "plan-abc-123",
            payload: json!({"action": "restart"}),
        };
        let path = emit_event_as(dir.path(), "piha", &e, now).unwrap();
        let parts: Vec<_> = path.strip_prefix(dir.path()).unwrap().iter().collect();
        assert_eq!(parts.len(), 3, "date / node / file.json: {parts:?}");
        assert_eq!(parts[0], "2026-05-27");
        assert_eq!(parts[1], "piha");
        let data: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(data["type"], "remediation_started");
        assert_eq!(data["node"], "piha");
        assert_eq!(data["service"], "mosquitto");
        assert_eq!(data["correlation_id"], "plan-abc-123");
        assert_eq!(data["payload"]["action"], "restart");
    }
}
