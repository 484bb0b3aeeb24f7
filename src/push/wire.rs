//! What a push channel sends: the request for one notice, as pure data.
//!
//! Owns: the ntfy JSON publish body (topic, title, message, priority by urgency, tags, a
//! click URL), the webhook body (documented in README, "Push channels") and its
//! HMAC-SHA256 signature header, and the click URL of a notice. Does not own: sending,
//! retrying or reading secrets (`push`).

use crate::notice::{Notice, Urgency};
use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

/// The header that carries a webhook body's signature: `sha256=<hex HMAC-SHA256>`.
pub const SIGNATURE_HEADER: &str = "X-Steward-Signature-256";
/// The header that carries the notice's kind (`incident`, `proposal`, …).
pub const EVENT_HEADER: &str = "X-Steward-Event";
/// The header that carries the delivery's id (the same on every retry of it).
pub const DELIVERY_HEADER: &str = "X-Steward-Delivery";

/// One notice on its way to one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Unique per notice; a retry sends the same id (receivers may drop repeats).
    pub id: String,
    pub notice: Notice,
    pub at: DateTime<Utc>,
    /// This node's name.
    pub node: String,
    /// What a click opens: the UI, on the notice's view.
    pub url: String,
}

/// The UI's URL on the view of a notice's target (`base` ends with `/`).
pub fn click_url(base: &str, notice: &Notice) -> String {
    match notice.route() {
        Some(route) => format!("{base}{route}"),
        None => base.to_owned(),
    }
}

/// ntfy's priority (1 min … 5 max) for an urgency.
pub fn ntfy_priority(urgency: Urgency) -> u8 {
    match urgency {
        Urgency::Info => 3,
        Urgency::Warning => 4,
        Urgency::Critical => 5,
    }
}

/// The body of ntfy's JSON publish API (`POST <server>` with the topic inside).
pub fn ntfy_body(topic: &str, d: &Delivery) -> Value {
    json!({
        "topic": topic,
        "title": d.notice.title,
        "message": if d.notice.body.is_empty() { d.notice.title.clone() } else { d.notice.body.clone() },
        "priority": ntfy_priority(d.notice.urgency),
        "tags": [d.notice.kind.as_str(), d.notice.urgency.as_str(), d.node.as_str()],
        "click": d.url,
    })
}

/// The webhook's JSON body (README, "Push channels"): stable keys, one object per notice.
pub fn webhook_body(d: &Delivery) -> Vec<u8> {
    let body = json!({
        "id": d.id,
        "kind": d.notice.kind.as_str(),
        "severity": d.notice.urgency.as_str(),
        "title": d.notice.title,
        "body": d.notice.body,
        "target": d.notice.target,
        "url": d.url,
        "node": d.node,
        "at": d.at.to_rfc3339_opts(SecondsFormat::Millis, true),
    });
    serde_json::to_vec(&body).expect("a JSON value serializes")
}

/// `sha256=<hex>`: the HMAC-SHA256 of the exact body bytes under `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notice::NoticeKind;

    fn delivery(target: Option<&str>, urgency: Urgency) -> Delivery {
        let notice = Notice {
            title: "web is down".into(),
            body: "web on nas: connection refused".into(),
            target: target.map(str::to_owned),
            kind: NoticeKind::Incident,
            urgency,
        };
        Delivery {
            id: "1700000000000-1".into(),
            url: click_url("http://127.0.0.1:7878/", &notice),
            notice,
            at: DateTime::parse_from_rfc3339("2026-12-03T16:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
            node: "desk".into(),
        }
    }

    #[test]
    fn a_click_opens_the_view_of_the_notices_target() {
        assert_eq!(
            delivery(Some("provider:web"), Urgency::Critical).url,
            "http://127.0.0.1:7878/#/overview"
        );
        assert_eq!(
            delivery(Some("proposal:abc"), Urgency::Warning).url,
            "http://127.0.0.1:7878/#/proposals"
        );
        assert_eq!(
            delivery(Some("view:pipeline"), Urgency::Info).url,
            "http://127.0.0.1:7878/#/pipeline"
        );
        assert_eq!(delivery(None, Urgency::Info).url, "http://127.0.0.1:7878/");
    }

    #[test]
    fn ntfy_gets_the_topic_a_priority_by_urgency_and_the_click_url() {
        let body = ntfy_body("alerts", &delivery(Some("provider:web"), Urgency::Critical));
        assert_eq!(body["topic"], "alerts");
        assert_eq!(body["title"], "web is down");
        assert_eq!(body["message"], "web on nas: connection refused");
        assert_eq!(body["priority"], 5);
        assert_eq!(body["click"], "http://127.0.0.1:7878/#/overview");
        assert_eq!(body["tags"], json!(["incident", "critical", "desk"]));
        let levels = Urgency::ALL.map(ntfy_priority);
        assert_eq!(levels, [3, 4, 5]);
    }

    #[test]
    fn the_webhook_body_has_every_documented_key() {
        let body: Value = serde_json::from_slice(&webhook_body(&delivery(
            Some("provider:web"),
            Urgency::Critical,
        )))
        .unwrap();
        assert_eq!(
            body,
            json!({
                "id": "1700000000000-1",
                "kind": "incident",
                "severity": "critical",
                "title": "web is down",
                "body": "web on nas: connection refused",
                "target": "provider:web",
                "url": "http://127.0.0.1:7878/#/overview",
                "node": "desk",
                "at": "2026-12-03T16:00:00.000Z",
            })
        );
    }

    #[test]
    fn the_signature_is_rfc_4231_hmac_sha256() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
