//! The hard safety rules, in code, whatever the model said.
//!
//! Owns: the action → executor type and risk mapping of seed 001, and `decide`, a pure
//! function from an event and a model's answer to the final action with every override
//! spelled out ("requires_human forced: node matches protected 'chelsty*'").

use super::event::HealthEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The executor type of a proposal (`type` in its action file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    ContainerRestart,
    Redeploy,
    Notify,
    Ignore,
}

impl ActionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::ContainerRestart => "container_restart",
            ActionKind::Redeploy => "redeploy",
            ActionKind::Notify => "notify",
            ActionKind::Ignore => "ignore",
        }
    }
}

impl std::fmt::Display for ActionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How much harm a proposal's action can do; `[executor] auto_execute` names the levels
/// that run without a click.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ts_rs::TS,
)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    None,
    Low,
    Guarded,
}

impl Risk {
    pub const ALL: [Risk; 3] = [Risk::None, Risk::Low, Risk::Guarded];

    pub fn as_str(self) -> &'static str {
        match self {
            Risk::None => "none",
            Risk::Low => "low",
            Risk::Guarded => "guarded",
        }
    }

    pub fn parse(s: &str) -> Option<Risk> {
        Risk::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl std::fmt::Display for Risk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Seed 001's mapping; anything unknown becomes a low-risk `notify`.
pub fn map_action_to_executor_type(action: &str) -> (ActionKind, Risk) {
    match action {
        "restart" => (ActionKind::ContainerRestart, Risk::Low),
        "redeploy" => (ActionKind::Redeploy, Risk::Guarded),
        "notify" => (ActionKind::Notify, Risk::Low),
        "ignore" => (ActionKind::Ignore, Risk::None),
        _ => (ActionKind::Notify, Risk::Low),
    }
}

/// What the rules need besides the event and the answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    pub confidence_threshold: f64,
    pub protected_nodes: Vec<String>,
    /// Fresh trips of this service within the last hour, when it is flapping.
    pub flapping: Option<usize>,
    /// Whether an enabled provider watches the event's node and service. A fix for a
    /// target Steward does not watch (or no longer watches) always waits for a person.
    pub target_enabled: bool,
    /// Where the event came from when that source may not run fixes by itself (the
    /// Redis bus unless `[bus] trusted = true`), in words.
    pub untrusted_source: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub action: String,
    /// Executor type (`container_restart`, `redeploy`, `notify`, `ignore`).
    pub kind: ActionKind,
    pub risk_level: Risk,
    pub confidence: f64,
    pub requires_human: bool,
    pub reason: String,
    /// Every rule that changed the model's answer, in words.
    pub overrides: Vec<String>,
}

/// Applies the rules to a model's answer for `event`.
pub fn decide(event: &HealthEvent, answer: &Value, rules: &Rules) -> Decision {
    let mut overrides = Vec::new();
    let said = |k: &str| answer.get(k).and_then(Value::as_str).unwrap_or_default();

    // The target is the event's, never the model's.
    let (node, service) = (said("node"), said("service"));
    if (!node.is_empty() && node != event.node) || (!service.is_empty() && service != event.service)
    {
        let named = format!(
            "{}/{}",
            if node.is_empty() { &event.node } else { node },
            if service.is_empty() {
                &event.service
            } else {
                service
            }
        );
        overrides.push(format!(
            "target ignored: the model named {named}; the proposal is for {}",
            event.svc_key()
        ));
    }

    let confidence = answer
        .get("confidence")
        .and_then(Value::as_f64)
        .filter(|c| c.is_finite())
        .map(|c| c.clamp(0.0, 1.0))
        .unwrap_or(0.0);
    let mut action = said("action").to_owned();
    if !matches!(
        action.as_str(),
        "restart" | "redeploy" | "notify" | "ignore"
    ) {
        overrides.push(format!(
            "action forced to notify: {action:?} is not a known action"
        ));
        action = "notify".into();
    }
    if event.event_type == "disk_pressure" && action != "notify" {
        overrides.push(format!(
            "action forced to notify: disk_pressure is always notify (model said {action})"
        ));
        action = "notify".into();
    }
    if let Some(trips) = rules.flapping {
        if matches!(action.as_str(), "restart" | "redeploy") {
            overrides.push(format!(
                "action downgraded to notify: {} flapped ({trips} trips in the last hour; model said {action})",
                event.svc_key()
            ));
            action = "notify".into();
        }
    }

    let mut requires_human = answer
        .get("requires_human")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if !requires_human && confidence < rules.confidence_threshold {
        overrides.push(format!(
            "requires_human forced: confidence {confidence:.2} is below {:.2}",
            rules.confidence_threshold
        ));
        requires_human = true;
    }
    if !requires_human {
        if let Some(glob) = rules
            .protected_nodes
            .iter()
            .find(|g| glob_match(g, &event.node))
        {
            overrides.push(format!(
                "requires_human forced: node matches protected '{glob}'"
            ));
            requires_human = true;
        }
    }
    if !requires_human && !rules.target_enabled {
        overrides.push(format!(
            "requires_human forced: {} matches no enabled provider",
            event.svc_key()
        ));
        requires_human = true;
    }
    if !requires_human {
        if let Some(source) = &rules.untrusted_source {
            overrides.push(format!(
                "requires_human forced: the event came from {source}, which is not trusted to run fixes"
            ));
            requires_human = true;
        }
    }
    let (kind, risk_level) = map_action_to_executor_type(&action);
    let reason = match said("reason").trim() {
        "" => "no reason given".to_owned(),
        r => r.chars().take(1000).collect(),
    };
    Decision {
        action,
        kind,
        risk_level,
        confidence,
        requires_human,
        reason,
        overrides,
    }
}

/// Shell-style glob: `*` any run of characters, `?` one character.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::event::parse_event;
    use serde_json::json;

    fn event(node: &str, kind: &str) -> HealthEvent {
        parse_event(
            &json!({"type": kind, "node": node, "service": "mosquitto"}),
            "test",
            chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 5, 27, 12, 0, 0).unwrap(),
        )
        .unwrap()
    }

    fn rules() -> Rules {
        Rules {
            confidence_threshold: 0.7,
            protected_nodes: vec!["chelsty*".into()],
            flapping: None,
            target_enabled: true,
            untrusted_source: None,
        }
    }

    #[test]
    fn a_target_no_enabled_provider_watches_always_waits_for_a_person() {
        let r = Rules {
            target_enabled: false,
            ..rules()
        };
        let d = decide(
            &event("piha", "service_unhealthy"),
            &answer("restart", 0.95, false),
            &r,
        );
        assert!(d.requires_human, "high confidence does not matter");
        assert_eq!(d.action, "restart", "the fix is still proposed");
        assert_eq!(
            d.overrides,
            ["requires_human forced: piha/mosquitto matches no enabled provider"]
        );
    }

    #[test]
    fn an_untrusted_source_never_runs_a_fix_by_itself() {
        let r = Rules {
            untrusted_source: Some("the Redis bus (health_events)".into()),
            ..rules()
        };
        let d = decide(
            &event("piha", "service_unhealthy"),
            &answer("restart", 0.95, false),
            &r,
        );
        assert!(d.requires_human);
        assert_eq!(
            d.overrides,
            ["requires_human forced: the event came from the Redis bus (health_events), which is not trusted to run fixes"]
        );
        let trusted = decide(
            &event("piha", "service_unhealthy"),
            &answer("restart", 0.95, false),
            &rules(),
        );
        assert!(
            !trusted.requires_human,
            "the same answer from a trusted source"
        );
    }

    fn answer(action: &str, confidence: f64, requires_human: bool) -> Value {
        json!({"action": action, "node": "piha", "service": "mosquitto",
               "reason": "Container is stopped", "confidence": confidence,
               "requires_human": requires_human})
    }

    // TestMapActionToExecutorType
    #[test]
    fn mapping_is_seed_001s() {
        for (action, kind, risk) in [
            ("restart", "container_restart", "low"),
            ("redeploy", "redeploy", "guarded"),
            ("notify", "notify", "low"),
            ("ignore", "ignore", "none"),
            ("unknown", "notify", "low"),
        ] {
            let (k, r) = map_action_to_executor_type(action);
            assert_eq!((k.as_str(), r.as_str()), (kind, risk), "{action}");
        }
    }

    #[test]
    fn a_confident_restart_passes_unchanged() {
        let d = decide(
            &event("piha", "service_unhealthy"),
            &answer("restart", 0.9, false),
            &rules(),
        );
        assert_eq!(
            (d.action.as_str(), d.kind.as_str(), d.risk_level.as_str()),
            ("restart", "container_restart", "low")
        );
        assert!(!d.requires_human);
        assert!(d.overrides.is_empty(), "{:?}", d.overrides);
    }

    #[test]
    fn low_confidence_forces_requires_human() {
        let d = decide(
            &event("piha", "service_unhealthy"),
            &answer("restart", 0.62, false),
            &rules(),
        );
        assert!(d.requires_human);
        assert_eq!(
            d.overrides,
            ["requires_human forced: confidence 0.62 is below 0.70"]
        );
    }

    #[test]
    fn requires_human_from_the_model_is_kept() {
        let d = decide(
            &event("piha", "service_unhealthy"),
            &answer("restart", 0.6, true),
            &rules(),
        );
        assert!(d.requires_human);
        assert!(d.overrides.is_empty());
    }

    #[test]
    fn protected_nodes_force_requires_human() {
        let mut e = event("chelsty-infra", "service_unhealthy");
        e.service = "mosquitto".into();
        let mut a = answer("restart", 0.95, false);
        a["node"] = json!("chelsty-infra");
        let d = decide(&e, &a, &rules());
        assert!(d.requires_human);
        assert_eq!(
            d.overrides,
            ["requires_human forced: node matches protected 'chelsty*'"]
        );
    }

    #[test]
    fn disk_pressure_is_always_notify() {
        let d = decide(
            &event("piha", "disk_pressure"),
            &answer("restart", 0.99, false),
            &rules(),
        );
        assert_eq!(
            (d.action.as_str(), d.kind.as_str(), d.risk_level.as_str()),
            ("notify", "notify", "low")
        );
        assert!(d.overrides[0].contains("disk_pressure is always notify"));
    }

    #[test]
    fn unknown_actions_become_notify() {
        let d = decide(
            &event("piha", "service_unhealthy"),
            &answer("reboot_everything", 0.99, false),
            &rules(),
        );
        assert_eq!(d.action, "notify");
        assert!(d.overrides[0].contains("\"reboot_everything\" is not a known action"));
    }

    #[test]
    fn another_target_is_recorded_and_ignored() {
        let mut a = answer("restart", 0.9, false);
        a["node"] = json!("solaria");
        a["service"] = json!("ollama");
        let d = decide(&event("piha", "service_unhealthy"), &a, &rules());
        assert_eq!(d.action, "restart");
        assert_eq!(
            d.overrides,
            ["target ignored: the model named solaria/ollama; the proposal is for piha/mosquitto"]
        );
    }

    #[test]
    fn flapping_services_are_downgraded_to_notify() {
        let r = Rules {
            flapping: Some(4),
            ..rules()
        };
        let d = decide(
            &event("piha", "service_unhealthy"),
            &answer("restart", 0.9, false),
            &r,
        );
        assert_eq!(d.action, "notify");
        assert!(
            d.overrides[0].contains("flapped (4 trips in the last hour"),
            "{:?}",
            d.overrides
        );
        let ignore = decide(
            &event("piha", "service_unhealthy"),
            &answer("ignore", 0.9, false),
            &r,
        );
        assert_eq!(
            ignore.action, "ignore",
            "only restart and redeploy are downgraded"
        );
    }

    #[test]
    fn globs() {
        assert!(glob_match("chelsty*", "chelsty-infra"));
        assert!(glob_match("chelsty*", "chelsty"));
        assert!(!glob_match("chelsty*", "piha"));
        assert!(glob_match("*-infra", "chelsty-infra"));
        assert!(glob_match("node?", "node1"));
        assert!(!glob_match("node?", "node12"));
        assert!(glob_match("*", ""));
    }
}
