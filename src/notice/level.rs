//! The words a notice is filed under: how urgent it is and what it is about.
//!
//! Owns: `Urgency` (info < warning < critical) and `NoticeKind`, with their names as they
//! appear in the config (`[[notifications.channels]] min_severity`, `kinds`), in webhook
//! bodies and in `/api/status`. Does not own: which event makes which notice (`notice`).

use serde::Serialize;

/// How urgent a notice is; push channels map it to a priority and filter on it
/// (`min_severity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    Info,
    Warning,
    Critical,
}

impl Urgency {
    pub const ALL: [Urgency; 3] = [Urgency::Info, Urgency::Warning, Urgency::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::Info => "info",
            Urgency::Warning => "warning",
            Urgency::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Urgency> {
        Urgency::ALL.into_iter().find(|u| u.as_str() == s)
    }
}

/// What a notice is about; push channels may take only some kinds (`kinds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// A provider went down (one per incident, not per symptom).
    Incident,
    /// A provider answers again.
    Recovery,
    /// A proposal waits for a person.
    Proposal,
    /// An approved or automatic fix ended: fixed, still down, or failed.
    Remediation,
    /// The session pipeline fell behind, caught up, or watches by polling.
    Pipeline,
    /// This workstation's own network went down or came back.
    Observer,
    /// A test a person asked for (`POST /api/notifications/test`); not a filter value.
    Test,
}

impl NoticeKind {
    pub const ALL: [NoticeKind; 6] = [
        NoticeKind::Incident,
        NoticeKind::Recovery,
        NoticeKind::Proposal,
        NoticeKind::Remediation,
        NoticeKind::Pipeline,
        NoticeKind::Observer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Incident => "incident",
            NoticeKind::Recovery => "recovery",
            NoticeKind::Proposal => "proposal",
            NoticeKind::Remediation => "remediation",
            NoticeKind::Pipeline => "pipeline",
            NoticeKind::Observer => "observer",
            NoticeKind::Test => "test",
        }
    }

    pub fn parse(s: &str) -> Option<NoticeKind> {
        NoticeKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urgencies_order_from_info_to_critical_and_read_back_from_their_names() {
        assert!(Urgency::Info < Urgency::Warning && Urgency::Warning < Urgency::Critical);
        for u in Urgency::ALL {
            assert_eq!(Urgency::parse(u.as_str()), Some(u));
        }
        assert_eq!(Urgency::parse("error"), None);
    }

    #[test]
    fn kinds_read_back_from_their_names() {
        for k in NoticeKind::ALL {
            assert_eq!(NoticeKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(NoticeKind::parse("everything"), None);
    }
}
