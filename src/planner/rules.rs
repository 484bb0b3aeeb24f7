//! The built-in `rules` planner: a deterministic answer when no LLM is configured or every
//! LLM in the chain failed.
//!
//! Owns: the mapping from event type (and payload) to an action with a stated reason and
//! confidence. Its answer has the same shape as an LLM's and goes through the same policy.

use super::event::HealthEvent;
use serde_json::{json, Value};

/// The chain entry that names this planner.
pub const RULES_MODEL: &str = "rules";

/// Plans one event. Pure: the same event always gives the same answer.
pub fn plan(event: &HealthEvent) -> Value {
    let detail = describe_payload(event);
    let (action, confidence, reason) = match event.event_type.as_str() {
        "service_unhealthy" | "service_down" | "container_exited" | "container_unhealthy" => {
            match exit_code(event) {
                // 137: killed (often the OOM killer); a restart usually brings it back.
                Some(137) => (
                    "restart",
                    0.62,
                    format!(
                        "{} exited with 137 (killed, often out of memory){detail}",
                        event.service
                    ),
                ),
                Some(code) => (
                    "restart",
                    0.75,
                    format!("{} exited with code {code}{detail}", event.service),
                ),
                None => (
                    "restart",
                    0.75,
                    format!("{} on {} is unhealthy{detail}", event.service, event.node),
                ),
            }
        }
        "deploy_failed" | "image_outdated" | "config_drift" => (
            "redeploy",
            0.6,
            format!(
                "{} on {} needs a redeploy ({}){detail}",
                event.service, event.node, event.event_type
            ),
        ),
        "node_offline" => (
            "notify",
            0.9,
            format!(
                "node {} is offline: a person has to look (power, network){detail}",
                event.node
            ),
        ),
        "disk_pressure" => (
            "notify",
            0.9,
            format!(
                "disk pressure on {}: free space by hand{detail}",
                event.node
            ),
        ),
        "pipeline_stale" => (
            "notify",
            0.85,
            format!("session pipeline {} is stale{detail}", event.service),
        ),
        other if super::event::BENIGN.contains(&other) => {
            ("ignore", 0.95, format!("{other} is good news"))
        }
        other => (
            "notify",
            0.5,
            format!(
                "no rule for {other:?} on {}: telling a person{detail}",
                event.svc_key()
            ),
        ),
    };
    json!({
        "action": action,
        "node": event.node,
        "service": event.service,
        "reason": reason,
        "confidence": confidence,
        "requires_human": false,
    })
}

fn exit_code(event: &HealthEvent) -> Option<i64> {
    ["exit_code", "exitcode", "code"]
        .iter()
        .find_map(|k| event.payload.get(*k))
        .and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok()))
}

/// A short hint from the payload ("status: exited") for the reason.
fn describe_payload(event: &HealthEvent) -> String {
    for key in ["status", "detail", "error", "message"] {
        if let Some(v) = event.payload.get(key).and_then(|v| v.as_str()) {
            let v: String = v.chars().take(120).collect();
            return format!(" ({key}: {v})");
        }
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::event::parse_event;
    use chrono::{TimeZone, Utc};

    fn plan_for(raw: Value) -> Value {
        let at = Utc.with_ymd_and_hms(2026, 5, 27, 12, 0, 0).unwrap();
        plan(&parse_event(&raw, "test", at).unwrap())
    }

    #[test]
    fn unhealthy_service_is_restarted() {
        let p =
            plan_for(json!({"type": "service_unhealthy", "node": "piha", "service": "mosquitto"}));
        assert_eq!(p["action"], "restart");
        assert!(p["reason"].as_str().unwrap().contains("mosquitto"));
    }

    #[test]
    fn exit_137_is_restarted_with_less_confidence() {
        let p = plan_for(
            json!({"type": "service_unhealthy", "node": "piha", "service": "mosquitto",
                                "payload": {"exit_code": 137, "status": "exited"}}),
        );
        assert_eq!(p["action"], "restart");
        assert_eq!(p["confidence"], 0.62);
        assert!(p["reason"].as_str().unwrap().contains("137"));
    }

    #[test]
    fn node_offline_disk_pressure_and_stale_pipelines_notify() {
        for t in [
            "node_offline",
            "disk_pressure",
            "pipeline_stale",
            "something_new",
        ] {
            let p = plan_for(json!({"type": t, "node": "piha"}));
            assert_eq!(p["action"], "notify", "{t}");
            assert!(!p["reason"].as_str().unwrap().is_empty());
        }
    }

    #[test]
    fn the_answer_is_deterministic() {
        let raw =
            json!({"type": "service_unhealthy", "node": "piha", "service": "x", "timestamp": 1});
        assert_eq!(plan_for(raw.clone()), plan_for(raw));
    }
}
