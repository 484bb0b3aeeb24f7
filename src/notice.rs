//! Which events raise a native notification, and what it says.
//!
//! Owns: `Notice` and the pure rule `notice_for`: one notification per incident (not per
//! symptom), per recovery, per observer change, per pipeline warning and recovery, and
//! per proposal that needs a person. Every shell says the same thing. Snoozing is the
//! caller's (`Api::notice`).

use crate::events::EngineEvent;
use crate::execute::state::Status;
use crate::sessions::status::PipelineLevel;

/// A native notification to raise, decided here so every shell says the same thing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub title: String,
    pub body: String,
    /// What a click opens: `proposal:<action_id>`, `provider:<id>`, or nothing.
    pub target: Option<String>,
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
        }),
        EngineEvent::ObserverDegraded { .. } => Some(Notice {
            title: "This workstation's network looks down".into(),
            body: event.message(),
            target: None,
        }),
        EngineEvent::PipelineStatusChanged {
            status: PipelineLevel::Warning,
            detail,
            ..
        } => Some(Notice {
            title: "Session pipeline is behind".into(),
            body: detail.clone().unwrap_or_default(),
            target: Some("view:pipeline".into()),
        }),
        EngineEvent::PipelineStatusChanged {
            status, previous, ..
        } if *previous == PipelineLevel::Warning && *status != PipelineLevel::Warning => {
            Some(Notice {
                title: "Session pipeline caught up".into(),
                body: event.message(),
                target: Some("view:pipeline".into()),
            })
        }
        EngineEvent::SessionWatchChanged { mode, detail, .. } if mode == "polling" => {
            Some(Notice {
                title: "Session files: polling".into(),
                body: detail.clone().unwrap_or_default(),
                target: Some("view:pipeline".into()),
            })
        }
        EngineEvent::ObserverRecovered => Some(Notice {
            title: "Network back".into(),
            body: event.message(),
            target: None,
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
            })
        }
        _ => None,
    }
}
