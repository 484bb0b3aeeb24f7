//! The two messages sent to a model for one event.
//!
//! Owns: the system prompt (topology from config, the hard rules, the answer's shape) and
//! the user message (the event's fields and its payload, bounded in size).

use super::event::HealthEvent;
use crate::config::Config;
use std::collections::BTreeMap;

/// The payload is cut to this many bytes of JSON in the user message.
pub const MAX_PAYLOAD_CHARS: usize = 4000;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Messages {
    pub system: String,
    pub user: String,
}

impl Messages {
    /// `[{role, content}, …]` as chat APIs take them.
    pub fn as_chat(&self) -> serde_json::Value {
        serde_json::json!([
            {"role": "system", "content": self.system},
            {"role": "user", "content": self.user},
        ])
    }
}

/// What the system prompt says about the fleet.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Topology {
    /// node → its services, from the providers in config.
    pub nodes: BTreeMap<String, Vec<String>>,
    pub protected_nodes: Vec<String>,
    pub confidence_threshold: f64,
}

impl Topology {
    pub fn from_config(config: &Config) -> Topology {
        let mut nodes: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for p in &config.providers {
            let services = nodes.entry(p.node.clone()).or_default();
            if !services.contains(&p.service) {
                services.push(p.service.clone());
            }
        }
        let planner = config.planner.clone().unwrap_or_default();
        Topology {
            nodes,
            protected_nodes: planner.protected_nodes,
            confidence_threshold: planner.confidence_threshold.unwrap_or(0.7),
        }
    }
}

pub fn build_messages(event: &HealthEvent, topology: &Topology) -> Messages {
    let mut system = String::from(
        "You are the remediation planner of a small homelab fleet. For one health event, \
         propose exactly one action.\n\nTopology (node: services):\n",
    );
    if topology.nodes.is_empty() {
        system.push_str("- (no providers configured)\n");
    }
    for (node, services) in &topology.nodes {
        system.push_str(&format!("- {node}: {}\n", services.join(", ")));
    }
    let protected = if topology.protected_nodes.is_empty() {
        "(none)".to_owned()
    } else {
        topology.protected_nodes.join(", ")
    };
    system.push_str(&format!(
        "\nRules (enforced in code whatever you answer):\n\
         - Protected nodes ({protected}) always have requires_human = true.\n\
         - disk_pressure is always answered with action \"notify\".\n\
         - confidence below {:.2} means requires_human = true.\n\
         - The action is for the event's node and service only.\n\
         - Prefer \"restart\" for a stopped or crashed service, \"redeploy\" only when a \
           restart cannot help, \"notify\" when a person must look, \"ignore\" for noise.\n\
         \nAnswer with one JSON object and nothing else:\n\
         {{\"action\": \"restart|redeploy|notify|ignore\", \"node\": \"...\", \"service\": \"...\", \
         \"reason\": \"one sentence\", \"confidence\": 0.0-1.0, \"requires_human\": true|false}}\n",
        topology.confidence_threshold
    ));
    let mut payload = serde_json::to_string(&event.payload).unwrap_or_default();
    if payload.len() > MAX_PAYLOAD_CHARS {
        let mut cut = MAX_PAYLOAD_CHARS;
        while !payload.is_char_boundary(cut) {
            cut -= 1;
        }
        payload.truncate(cut);
        payload.push_str("… (truncated)");
    }
    let user = format!(
        "Event: {}\nNode: {}\nService: {}\nSeverity: {}\nTime: {}\nSource: {}\nPayload: {}\n",
        event.event_type,
        event.node,
        event.service,
        event.severity,
        event.timestamp.to_rfc3339(),
        event.raw_channel,
        if event.payload.is_empty() {
            "{}".to_owned()
        } else {
            payload
        },
    );
    Messages { system, user }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::event::parse_event;
    use serde_json::json;

    fn event(payload: serde_json::Value) -> HealthEvent {
        parse_event(
            &json!({"type": "service_unhealthy", "node": "vps", "service": "observer",
                    "severity": "error", "payload": payload}),
            "health_events",
            chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 5, 27, 12, 0, 0).unwrap(),
        )
        .unwrap()
    }

    fn topology() -> Topology {
        Topology {
            nodes: [("piha".to_owned(), vec!["mosquitto".to_owned()])].into(),
            protected_nodes: vec!["chelsty*".into()],
            confidence_threshold: 0.7,
        }
    }

    // TestBuildMessages
    #[test]
    fn two_messages_system_then_user() {
        let m = build_messages(&event(json!({})), &topology());
        let chat = m.as_chat();
        assert_eq!(chat.as_array().unwrap().len(), 2);
        assert_eq!(chat[0]["role"], "system");
        assert_eq!(chat[1]["role"], "user");
    }

    #[test]
    fn user_message_has_the_event_fields() {
        let m = build_messages(&event(json!({"exit_code": 1})), &topology());
        for s in ["vps", "observer", "service_unhealthy"] {
            assert!(m.user.contains(s), "{s} missing from {}", m.user);
        }
    }

    #[test]
    fn payload_is_included_when_present() {
        let m = build_messages(&event(json!({"disk_pct": 95})), &topology());
        assert!(m.user.contains("disk_pct"));
    }

    #[test]
    fn system_prompt_has_the_rules_and_topology() {
        let m = build_messages(&event(json!({})), &topology());
        assert!(m.system.contains("chelsty"));
        assert!(m.system.contains("requires_human"));
        assert!(m.system.contains("piha: mosquitto"));
        assert!(m.system.contains("disk_pressure"));
    }

    #[test]
    fn a_huge_payload_is_cut() {
        let m = build_messages(&event(json!({"log": "é".repeat(50_000)})), &topology());
        assert!(m.user.len() < MAX_PAYLOAD_CHARS + 500, "{}", m.user.len());
        assert!(m.user.contains("truncated"));
    }
}
