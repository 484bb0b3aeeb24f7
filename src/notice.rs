//! Which events raise a native notification, and what it says.
//!
//! Owns: `Notice` and the pure rule `notice_for`: one notification per incident (not per
//! symptom), per recovery, per observer change, per pipeline warning and recovery, and
//! per proposal that needs a person. Every shell says the same thing. Snoozing is the
//! caller's (`Api::notice`, and the push channels in `push`). Each notice says what it is
//! about and how urgent it is (`level`), for the push channels' filters and priorities.

pub mod level;

pub use level::{NoticeKind, Urgency};

use crate::events::EngineEvent;
use crate::execute::state::Status;
use crate::sessions::status::PipelineLevel;

/// A native notification to raise, decided here so every shell says the same thing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub title: String,
    pub body: String,
    /// What a click opens: `proposal:<action_id>`, `provider:<id>`, `view:pipeline`, or
    /// nothing.
    pub target: Option<String>,
    pub kind: NoticeKind,
    pub urgency: Urgency,
}

impl Notice {
    /// The UI view a click on it opens (`#/proposals`, `#/overview`, `#/pipeline`).
    pub fn route(&self) -> Option<&'static str> {
        route_for(self.target.as_deref()?)
    }
}

/// The UI view for a notice target (`proposal:<id>`, `provider:<id>`, `view:pipeline`).
pub fn route_for(target: &str) -> Option<&'static str> {
    match target.split_once(':')?.0 {
        "proposal" => Some("#/proposals"),
        "provider" => Some("#/overview"),
        "view" if target == "view:pipeline" => Some("#/pipeline"),
        _ => None,
    }
}

/// One notification per incident (not per symptom), per recovery, per observer change,
/// and per proposal that needs a person. Breaker events themselves do not notify: the
/// incident they open or join does.
pub fn notice_for(event: &EngineEvent) -> Option<Notice> {
    match event {
        EngineEvent::IncidentOpened {
            provider_id,
            node,
            service,
            reason,
            dependents,
            ..
        } => Some(Notice {
            title: format!("{provider_id} is down"),
            body: match dependents.len() {
                0 => format!("{service} on {node}: {reason}"),
                n => format!("{service} on {node}: {reason}; {n} dependents down with it"),
            },
            target: Some(format!("provider:{provider_id}")),
            kind: NoticeKind::Incident,
            urgency: Urgency::Critical,
        }),
        EngineEvent::IncidentResolved {
            provider_id,
            node,
            service,
            dependents,
            still_down,
            ..
        } => Some(Notice {
            title: format!("{provider_id} recovered"),
            body: {
                let mut b = format!("{service} on {node} is answering again");
                let back = dependents.len() - still_down.len();
                if back > 0 {
                    b.push_str(&format!(", {back} dependents with it"));
                }
                if !still_down.is_empty() {
                    b.push_str(&format!("; still down: {}", still_down.join(", ")));
                }
                b
            },
            target: Some(format!("provider:{provider_id}")),
            kind: NoticeKind::Recovery,
            urgency: Urgency::Info,
        }),
        EngineEvent::ObserverDegraded { .. } => Some(Notice {
            title: "This workstation's network looks down".into(),
            body: event.message(),
            target: None,
            kind: NoticeKind::Observer,
            urgency: Urgency::Warning,
        }),
        EngineEvent::PipelineStatusChanged {
            status: PipelineLevel::Warning,
            detail,
            ..
        } => Some(Notice {
            title: "Session pipeline is behind".into(),
            body: detail.clone().unwrap_or_default(),
            target: Some("view:pipeline".into()),
            kind: NoticeKind::Pipeline,
            urgency: Urgency::Warning,
        }),
        EngineEvent::PipelineStatusChanged {
            status, previous, ..
        } if *previous == PipelineLevel::Warning && *status != PipelineLevel::Warning => {
            Some(Notice {
                title: "Session pipeline caught up".into(),
                body: event.message(),
                target: Some("view:pipeline".into()),
                kind: NoticeKind::Pipeline,
                urgency: Urgency::Info,
            })
        }
        EngineEvent::SessionWatchChanged { mode, detail, .. } if mode == "polling" => {
            Some(Notice {
                title: "Session files: polling".into(),
                body: detail.clone().unwrap_or_default(),
                target: Some("view:pipeline".into()),
                kind: NoticeKind::Pipeline,
                urgency: Urgency::Info,
            })
        }
        EngineEvent::ObserverRecovered => Some(Notice {
            title: "Network back".into(),
            body: event.message(),
            target: None,
            kind: NoticeKind::Observer,
            urgency: Urgency::Info,
        }),
        EngineEvent::ProposalCreated {
            action_id,
            action,
            node,
            service,
            reason,
            confidence,
            requires_human: true,
            ..
        } => Some(Notice {
            title: format!("Approve: {action} {service} on {node}?"),
            body: format!("{reason} (confidence {confidence:.2})"),
            target: Some(format!("proposal:{action_id}")),
            kind: NoticeKind::Proposal,
            urgency: Urgency::Warning,
        }),
        EngineEvent::ProposalChanged {
            action_id,
            node,
            service,
            status,
            detail,
            ..
        } if matches!(
            status,
            Status::Resolved | Status::Unresolved | Status::Failed | Status::TimedOut
        ) =>
        {
            Some(Notice {
                title: match status {
                    Status::Resolved => format!("Fixed: {service} on {node}"),
                    Status::Unresolved => format!("Ran, but {service} on {node} is still down"),
                    _ => format!("The fix for {service} on {node} failed"),
                },
                body: detail.clone().unwrap_or_default(),
                target: Some(format!("proposal:{action_id}")),
                kind: NoticeKind::Remediation,
                urgency: if *status == Status::Resolved {
                    Urgency::Info
                } else {
                    Urgency::Critical
                },
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ended(status: Status) -> Option<(NoticeKind, Urgency, String)> {
        notice_for(&EngineEvent::ProposalChanged {
            action_id: "plan-1".into(),
            node: "piha".into(),
            service: "mosquitto".into(),
            status,
            actor: None,
            detail: None,
        })
        .map(|n| (n.kind, n.urgency, n.title))
    }

    #[test]
    fn a_fix_that_worked_is_news_and_one_that_did_not_is_critical() {
        use NoticeKind::Remediation;
        assert_eq!(
            ended(Status::Resolved),
            Some((
                Remediation,
                Urgency::Info,
                "Fixed: mosquitto on piha".into()
            ))
        );
        for status in [Status::Unresolved, Status::Failed, Status::TimedOut] {
            let (kind, urgency, _) = ended(status).unwrap();
            assert_eq!(
                (kind, urgency),
                (Remediation, Urgency::Critical),
                "{status:?}"
            );
        }
        assert_eq!(
            ended(Status::Approved),
            None,
            "steps on the way notify nobody"
        );
    }

    #[test]
    fn a_notification_click_opens_what_it_is_about() {
        assert_eq!(
            route_for("proposal:plan-piha-mosquitto-1"),
            Some("#/proposals")
        );
        assert_eq!(route_for("provider:web"), Some("#/overview"));
        assert_eq!(route_for("view:pipeline"), Some("#/pipeline"));
        assert_eq!(route_for("view:other"), None);
        assert_eq!(route_for("nothing"), None);
        assert_eq!(route_for("other:x"), None);
    }
}
