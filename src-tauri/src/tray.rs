//! The tray icon and its menu.
//!
//! Owns: one icon per overall state (healthy / degraded / down, from `icons/`), the
//! tooltip, and the menu — a disabled status line, the providers that are down (at most
//! ten "Down: p12" items, then "… and N more"; a click opens the window), up to five
//! "Approve: restart mosquitto on piha" items (pending proposals, newest first; one click approves, as "tray"), Open
//! Steward, Snooze notifications 1 h (Resume notifications while snoozed), Pause probing
//! (Resume probing while paused), and Quit — plus what its items do. Every item calls
//! `Api`; the tray only redraws from a `StatusView` (the bridge hands it each new one) and
//! from the pending proposals it asks `Api` for when the bridge says they changed.
//! Does not own: what the overall state is (the engine's `StatusView` says), nor whether a
//! proposal may still be approved (the engine refuses one that is no longer pending).
//!
//! Platform notes: on Linux the tray is an AppIndicator (StatusNotifierItem), which has no
//! tooltip and no click events — the menu opens on any click, and its status line says
//! what the tooltip says elsewhere. On Windows and macOS a left click toggles the window.

use serde_json::Value;
use std::sync::Mutex;
use steward::api::{Api, Overall, StatusView};
use tauri::image::Image;
use tauri::menu::{CheckMenuItem, Menu, MenuEvent, MenuItem, PredefinedMenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIcon, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Manager};

const TRAY_ID: &str = "steward";

/// Menu item ids.
const STATUS: &str = "status";
const OPEN: &str = "open";
const SNOOZE: &str = "snooze";
const PAUSE: &str = "pause";
const AUTOSTART: &str = "autostart";
const QUIT: &str = "quit";

/// How long "Snooze notifications 1 h" snoozes.
const SNOOZE_MINUTES: u32 = 60;

/// An "Approve: …" item's id is this prefix and the proposal's `action_id`.
const APPROVE: &str = "approve:";
/// Pending proposals listed in the menu, at most (newest first).
const MAX_APPROVALS: usize = 5;
/// Longer labels are cut (a menu is not the place for a long service name).
const MAX_LABEL: usize = 64;
/// Who decided, in the audit: a click in the tray menu.
fn tray_actor() -> String {
    steward::execute::actor::actor("tray", steward::execute::actor::local_user().as_deref())
}
/// Where the first "Down: …" item goes: right below the status line; the "Approve: …"
/// items follow the down ones.
const DOWN_AT: usize = 1;
/// Prefix of a "Down: …" item's id.
const DOWN: &str = "down:";

fn icon(overall: Overall) -> Image<'static> {
    let bytes: &'static [u8] = match overall {
        Overall::Healthy => include_bytes!("../../icons/tray-healthy.png"),
        Overall::Degraded => include_bytes!("../../icons/tray-degraded.png"),
        Overall::Down => include_bytes!("../../icons/tray-down.png"),
    };
    Image::from_bytes(bytes).expect("the tray icons are valid PNG files")
}

/// What the tray shows; redrawn only when it changes.
#[derive(Debug, Clone, PartialEq)]
struct TrayView {
    overall: Overall,
    line: String,
    snoozed: bool,
    paused: bool,
    /// "Down: …" labels, then "… and N more" when the status listed fewer than are down.
    down: Vec<(String, String)>,
}

impl TrayView {
    fn of(status: &StatusView) -> Self {
        let c = &status.counts;
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        let mut line = if c.error > 0 {
            format!(
                "Steward: {} — {} of {} provider{} down",
                status.overall.as_str(),
                c.error,
                c.providers,
                plural(c.providers)
            )
        } else {
            format!(
                "Steward: {} — {} provider{}",
                status.overall.as_str(),
                c.providers,
                plural(c.providers)
            )
        };
        if status.pipeline == Some(steward::sessions::status::PipelineLevel::Warning) {
            line.push_str(", session pipeline behind");
        }
        match status.pending_proposals {
            0 => {}
            1 => line.push_str(", 1 proposal waiting"),
            n => line.push_str(&format!(", {n} proposals waiting")),
        }
        if status.paused {
            line.push_str(" (probing paused)");
        }
        TrayView {
            overall: status.overall,
            line,
            snoozed: status.snoozed_until.is_some(),
            paused: status.paused,
            down: down_items(status),
        }
    }

    fn snooze_label(&self) -> &'static str {
        if self.snoozed {
            "Resume notifications"
        } else {
            "Snooze notifications 1 h"
        }
    }

    fn pause_label(&self) -> &'static str {
        if self.paused {
            "Resume probing"
        } else {
            "Pause probing"
        }
    }
}

/// The "Down: …" items for a status: (id, label), at most `DOWN_LISTED` of them, then
/// "… and N more" for the rest.
fn down_items(status: &StatusView) -> Vec<(String, String)> {
    let mut items: Vec<(String, String)> = status
        .down_providers
        .iter()
        .map(|id| {
            let mut label = format!("Down: {id}");
            if label.chars().count() > MAX_LABEL {
                label = label.chars().take(MAX_LABEL - 1).collect::<String>() + "…";
            }
            (format!("{DOWN}{id}"), label.replace('&', "&&"))
        })
        .collect();
    let more = status.counts.error.saturating_sub(items.len());
    if more > 0 {
        items.push((format!("{DOWN}*"), format!("… and {more} more down")));
    }
    items
}

/// One "Approve: …" item of the menu.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Approval {
    action_id: String,
    label: String,
}

/// "Approve: restart mosquitto on piha" for a proposal (action-file JSON).
fn approve_label(p: &Value) -> String {
    let text = |k: &str| p[k].as_str().unwrap_or("").trim();
    let action = p["payload"]["action"]
        .as_str()
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| text("type"));
    let mut label = format!("Approve: {action} {} on {}", text("service"), text("node"));
    if label.chars().count() > MAX_LABEL {
        label = label.chars().take(MAX_LABEL - 1).collect::<String>() + "…";
    }
    // A single `&` marks a mnemonic in menu labels; `&&` is a literal one.
    label.replace('&', "&&")
}

/// The proposals the menu offers to approve: pending ones, newest first, at most five.
fn approvals(proposals: &[Value]) -> Vec<Approval> {
    let mut pending: Vec<&Value> = proposals
        .iter()
        .filter(|p| p["status"] == "pending" && p["action_id"].is_string())
        .collect();
    let key = |p: &Value| {
        (
            p["timestamp"].as_f64().unwrap_or(0.0),
            p["action_id"].as_str().unwrap_or("").to_owned(),
        )
    };
    pending.sort_by(|a, b| {
        let (ta, ia) = key(a);
        let (tb, ib) = key(b);
        tb.total_cmp(&ta).then_with(|| ib.cmp(&ia))
    });
    pending
        .into_iter()
        .take(MAX_APPROVALS)
        .map(|p| Approval {
            action_id: p["action_id"].as_str().unwrap_or("").to_owned(),
            label: approve_label(p),
        })
        .collect()
}

/// The tray's parts, kept to redraw them (managed state).
struct Tray {
    icon: TrayIcon,
    menu: Menu<tauri::Wry>,
    status: MenuItem<tauri::Wry>,
    snooze: MenuItem<tauri::Wry>,
    pause: MenuItem<tauri::Wry>,
    autostart: CheckMenuItem<tauri::Wry>,
    shown: Mutex<TrayView>,
    /// The "Down: …" items shown (locked after `approvals` where both are).
    down: Mutex<Vec<MenuItem<tauri::Wry>>>,
    /// The "Approve: …" items shown. Held across the query and the redraw, so redraws
    /// happen one at a time and each one shows what it read last.
    approvals: tokio::sync::Mutex<Vec<(Approval, MenuItem<tauri::Wry>)>>,
}

/// Builds the tray for the current status.
pub fn create(app: &AppHandle, status: &StatusView) -> tauri::Result<()> {
    let view = TrayView::of(status);
    let status_item = MenuItem::with_id(app, STATUS, &view.line, false, None::<&str>)?;
    let snooze = MenuItem::with_id(app, SNOOZE, view.snooze_label(), true, None::<&str>)?;
    let pause = MenuItem::with_id(app, PAUSE, view.pause_label(), true, None::<&str>)?;
    let autostart_on = crate::autostart::is_enabled().unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot read the start at login setting");
        false
    });
    let autostart = CheckMenuItem::with_id(
        app,
        AUTOSTART,
        "Start at login",
        true,
        autostart_on,
        None::<&str>,
    )?;
    let menu = Menu::with_items(
        app,
        &[
            &status_item,
            &PredefinedMenuItem::separator(app)?,
            &MenuItem::with_id(app, OPEN, "Open Steward", true, None::<&str>)?,
            &snooze,
            &pause,
            &autostart,
            &PredefinedMenuItem::separator(app)?,
            &MenuItem::with_id(app, QUIT, "Quit", true, None::<&str>)?,
        ],
    )?;
    let tray_icon = TrayIconBuilder::with_id(TRAY_ID)
        .icon(icon(view.overall))
        .tooltip(&view.line)
        .menu(&menu)
        .show_menu_on_left_click(false)
        .on_menu_event(on_menu)
        .on_tray_icon_event(|tray, event| {
            if let TrayIconEvent::Click {
                button: MouseButton::Left,
                button_state: MouseButtonState::Up,
                ..
            } = event
            {
                crate::window::toggle(tray.app_handle());
            }
        })
        .build(app)?;
    app.manage(Tray {
        icon: tray_icon,
        menu,
        status: status_item,
        snooze,
        pause,
        autostart,
        shown: Mutex::new(TrayView {
            down: Vec::new(),
            ..view.clone()
        }),
        down: Mutex::new(Vec::new()),
        approvals: tokio::sync::Mutex::new(Vec::new()),
    });
    // Draws the "Down: …" items, if any are down already.
    refresh(app, status);
    Ok(())
}

/// Redraws the "Approve: …" items from the pending proposals, in the background (the
/// bridge calls this when a proposal or the status changed).
pub fn refresh_proposals(app: &AppHandle, api: &Api) {
    let (app, api) = (app.clone(), api.clone());
    tauri::async_runtime::spawn(async move { redraw_approvals(&app, &api).await });
}

async fn redraw_approvals(app: &AppHandle, api: &Api) {
    let Some(tray) = app.try_state::<Tray>() else {
        return;
    };
    let mut shown = tray.approvals.lock().await;
    let pending = match api.proposals(Some("pending"), 1000).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the pending proposals for the tray");
            return;
        }
    };
    let want = approvals(&pending);
    if shown.iter().map(|(a, _)| a).eq(want.iter()) {
        return;
    }
    let Ok(down) = tray.down.lock() else {
        return;
    };
    let result = (|| -> tauri::Result<()> {
        for (_, item) in shown.drain(..) {
            tray.menu.remove(&item)?;
        }
        for (i, a) in want.into_iter().enumerate() {
            let id = format!("{APPROVE}{}", a.action_id);
            let item = MenuItem::with_id(app, id, &a.label, true, None::<&str>)?;
            tray.menu.insert(&item, DOWN_AT + down.len() + i)?;
            shown.push((a, item));
        }
        Ok(())
    })();
    if let Err(e) = result {
        tracing::warn!(error = %e, "cannot update the tray's proposals");
    }
}

/// One click approves: the engine re-checks the target and runs the command.
fn approve(app: &AppHandle, action_id: &str) {
    let app = app.clone();
    let api = app.state::<Api>().inner().clone();
    let action_id = action_id.to_owned();
    tauri::async_runtime::spawn(async move {
        match api.approve(&action_id, &tray_actor()).await {
            Ok(p) => tracing::info!(%action_id, status = %p["status"], "approved from the tray"),
            Err(e) => {
                tracing::warn!(error = %e, code = e.code(), %action_id, "tray approval refused")
            }
        }
        redraw_approvals(&app, &api).await;
    });
}

/// Redraws what changed since the last redraw.
pub fn refresh(app: &AppHandle, status: &StatusView) {
    let Some(tray) = app.try_state::<Tray>() else {
        return;
    };
    let view = TrayView::of(status);
    let Ok(mut shown) = tray.shown.lock() else {
        return;
    };
    if *shown == view {
        return;
    }
    let result = (|| -> tauri::Result<()> {
        if shown.overall != view.overall {
            tray.icon.set_icon(Some(icon(view.overall)))?;
        }
        if shown.line != view.line {
            tray.status.set_text(&view.line)?;
            tray.icon.set_tooltip(Some(&view.line))?;
        }
        if shown.snoozed != view.snoozed {
            tray.snooze.set_text(view.snooze_label())?;
        }
        if shown.paused != view.paused {
            tray.pause.set_text(view.pause_label())?;
        }
        if shown.down != view.down {
            let Ok(mut items) = tray.down.lock() else {
                return Ok(());
            };
            for item in items.drain(..) {
                tray.menu.remove(&item)?;
            }
            for (i, (id, label)) in view.down.iter().enumerate() {
                let item = MenuItem::with_id(app, id, label, true, None::<&str>)?;
                tray.menu.insert(&item, DOWN_AT + i)?;
                items.push(item);
            }
        }
        Ok(())
    })();
    match result {
        Ok(()) => *shown = view,
        Err(e) => tracing::warn!(error = %e, "cannot update the tray"),
    }
}

/// Checks or unchecks "Start at login" (after a change from the tray or the window).
pub fn show_autostart(app: &AppHandle, enabled: bool) {
    if let Some(tray) = app.try_state::<Tray>() {
        if let Err(e) = tray.autostart.set_checked(enabled) {
            tracing::warn!(error = %e, "cannot update the tray's start at login item");
        }
    }
}

fn on_menu(app: &AppHandle, event: MenuEvent) {
    match event.id().as_ref() {
        OPEN => crate::window::open(app, None),
        AUTOSTART => {
            // The item toggled its own check: make it so (or put it back on failure).
            let want = app
                .try_state::<Tray>()
                .and_then(|t| t.autostart.is_checked().ok())
                .unwrap_or(false);
            if crate::autostart::set(app, want).is_err() {
                show_autostart(app, !want);
            }
        }
        QUIT => crate::quit(app),
        SNOOZE => act(app, |api| async move {
            let minutes = if api.snoozed_until().is_some() {
                0
            } else {
                SNOOZE_MINUTES
            };
            api.snooze(minutes).await
        }),
        PAUSE => act(app, |api| async move {
            let paused = api.status().paused;
            api.set_paused(!paused).await
        }),
        other => {
            if let Some(action_id) = other.strip_prefix(APPROVE) {
                approve(app, action_id);
            } else if other.starts_with(DOWN) {
                crate::window::open(app, Some("#/overview"));
            }
        }
    }
}

/// Runs a menu action off the main thread and redraws the tray with its answer.
fn act<F, Fut>(app: &AppHandle, f: F)
where
    F: FnOnce(Api) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<StatusView, steward::api::ApiError>> + Send,
{
    let app = app.clone();
    let api = app.state::<Api>().inner().clone();
    tauri::async_runtime::spawn(async move {
        match f(api).await {
            Ok(status) => refresh(&app, &status),
            Err(e) => tracing::warn!(error = %e, code = e.code(), "tray action failed"),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use steward::api::Counts;

    #[test]
    fn the_menu_lists_at_most_ten_down_providers_then_how_many_more() {
        let mut s = status(Overall::Down, 40, 12, false);
        s.down_providers = (1..=10).map(|i| format!("p{i}")).collect();
        let items = down_items(&s);
        assert_eq!(items.len(), 11);
        assert_eq!(items[0], ("down:p1".to_owned(), "Down: p1".to_owned()));
        assert_eq!(items[9].1, "Down: p10");
        assert_eq!(
            items[10],
            ("down:*".to_owned(), "… and 2 more down".to_owned())
        );

        let mut s = status(Overall::Degraded, 40, 1, false);
        s.down_providers = vec!["a&b".into()];
        assert_eq!(
            down_items(&s),
            [("down:a&b".to_owned(), "Down: a&&b".to_owned())]
        );
        assert!(down_items(&status(Overall::Healthy, 40, 0, false)).is_empty());
    }

    fn status(overall: Overall, providers: usize, error: usize, paused: bool) -> StatusView {
        StatusView {
            overall,
            counts: Counts {
                providers,
                ok: providers - error,
                error,
                ..Counts::default()
            },
            paused,
            snoozed_until: None,
            config_errors: Vec::new(),
            config_path: None,
            node: "ws".into(),
            version: "0",
            pending_proposals: 0,
            events_rejected: 0,
            observer_degraded: false,
            incidents: 0,
            bus: None,
            proposal_ttl_secs: 900,
            pipeline: None,
            storage: Default::default(),
            down_providers: Vec::new(),
            channels: Vec::new(),
        }
    }

    #[test]
    fn the_status_line_says_the_overall_state_and_what_is_down() {
        let v = TrayView::of(&status(Overall::Healthy, 5, 0, false));
        assert_eq!(v.line, "Steward: healthy — 5 providers");
        let v = TrayView::of(&status(Overall::Degraded, 5, 1, true));
        assert_eq!(
            v.line,
            "Steward: degraded — 1 of 5 providers down (probing paused)"
        );
        assert_eq!(v.pause_label(), "Resume probing", "paused offers resume");
    }

    #[test]
    fn the_status_line_says_when_the_session_pipeline_is_behind() {
        let mut s = status(Overall::Degraded, 2, 0, false);
        s.pipeline = Some(steward::sessions::status::PipelineLevel::Warning);
        assert_eq!(
            TrayView::of(&s).line,
            "Steward: degraded — 2 providers, session pipeline behind"
        );
        s.pipeline = Some(steward::sessions::status::PipelineLevel::Info);
        assert_eq!(TrayView::of(&s).line, "Steward: degraded — 2 providers");
    }

    #[test]
    fn the_status_line_counts_proposals_waiting() {
        let mut s = status(Overall::Degraded, 5, 1, false);
        s.pending_proposals = 2;
        assert_eq!(
            TrayView::of(&s).line,
            "Steward: degraded — 1 of 5 providers down, 2 proposals waiting"
        );
    }

    fn proposal(id: &str, status: &str, ts: f64, action: &str, node: &str, service: &str) -> Value {
        serde_json::json!({"action_id": id, "status": status, "timestamp": ts,
            "type": "container_restart", "node": node, "service": service,
            "payload": {"action": action, "reason": "exited"}})
    }

    #[test]
    fn a_pending_proposal_is_offered_as_approve_action_service_on_node() {
        let p = proposal(
            "plan-piha-mosquitto-1",
            "pending",
            1.0,
            "restart",
            "piha",
            "mosquitto",
        );
        assert_eq!(approve_label(&p), "Approve: restart mosquitto on piha");
        let no_action = serde_json::json!({"type": "redeploy", "node": "n", "service": "s",
            "payload": {}});
        assert_eq!(
            approve_label(&no_action),
            "Approve: redeploy s on n",
            "the type instead"
        );
        let amp = proposal("a", "pending", 1.0, "restart", "r&d", "svc");
        assert_eq!(
            approve_label(&amp),
            "Approve: restart svc on r&&d",
            "no mnemonic"
        );
        let long = proposal("b", "pending", 1.0, "restart", "n", &"x".repeat(200));
        let label = approve_label(&long);
        assert_eq!(label.chars().count(), MAX_LABEL);
        assert!(label.ends_with('…'));
    }

    #[test]
    fn the_menu_offers_the_five_newest_pending_proposals() {
        let mut all: Vec<Value> = (1..=7)
            .map(|i| {
                proposal(
                    &format!("p{i}"),
                    "pending",
                    f64::from(i),
                    "restart",
                    "n",
                    &format!("s{i}"),
                )
            })
            .collect();
        all.push(proposal("done", "rejected", 100.0, "restart", "n", "old"));
        all.push(proposal("ran", "approved", 99.0, "restart", "n", "old"));
        let got = approvals(&all);
        let ids: Vec<&str> = got.iter().map(|a| a.action_id.as_str()).collect();
        assert_eq!(
            ids,
            ["p7", "p6", "p5", "p4", "p3"],
            "newest first, only pending, five"
        );
        assert_eq!(got[0].label, "Approve: restart s7 on n");
        assert!(approvals(&[]).is_empty());
        assert!(
            approvals(&[proposal("x", "rejected", 1.0, "restart", "n", "s")]).is_empty(),
            "nothing decided is offered"
        );
    }

    #[test]
    fn every_overall_state_has_an_icon() {
        for o in [Overall::Healthy, Overall::Degraded, Overall::Down] {
            let i = icon(o);
            assert!(i.width() > 0 && i.height() > 0);
        }
    }
}
