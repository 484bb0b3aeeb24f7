//! Engine updates → the window, native notifications and the tray.
//!
//! Owns: one task that forwards every `Update` from `Api::feed` to the web UI as the
//! `steward://update` event (same JSON as the headless server's SSE stream), raises a
//! native notification when `Api::notice` says so (trips and recoveries, not while
//! snoozed), and redraws the tray when the status changes. The feed coalesces what the
//! window has not taken yet; only when it cannot does it send `resync` (the UI refetches).
//! Does not own: what to notify or what it says (the engine decides), nor the tray's
//! drawing (`tray`). Stops with the shell's cancellation token.

use std::time::Duration;
use steward::api::{Api, Update};
use steward::feed::Feed;
use steward::notice::route_for;
use tauri::{AppHandle, Emitter};
use tauri_plugin_notification::NotificationExt;
use tokio_util::sync::CancellationToken;

/// The event the web UI listens to.
pub const UPDATE_EVENT: &str = "steward://update";

/// The status also changes with time alone (a snooze ends); redraw the tray this often.
const TRAY_REFRESH: Duration = Duration::from_secs(30);

pub async fn run(app: AppHandle, api: Api, mut updates: Feed, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(TRAY_REFRESH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            // The first tick is at once: it also lists the proposals already waiting.
            _ = tick.tick() => {
                crate::tray::refresh(&app, &api.status());
                crate::tray::refresh_proposals(&app, &api);
            }
            got = updates.next() => match got {
                Some(update) => forward(&app, &api, update),
                None => break,
            },
        }
    }
}

/// The notification's `extra` key that says what a click opens.
const TARGET: &str = "steward_target";

/// A click on a notification shows the window at what it is about: the proposal that
/// waits for approval, or the provider that went down.
pub fn on_notification_click(app: &AppHandle) {
    let handle = app.clone();
    let registered = app.notification().on_action(move |performed| {
        if performed.action_id() != "tap" {
            return;
        }
        let target = performed
            .notification()
            .and_then(|n| n.extra().get(TARGET))
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        tracing::info!(?target, "notification clicked");
        crate::window::open(&handle, target.as_deref().and_then(route_for));
    });
    if let Err(e) = registered {
        tracing::warn!(error = %e, "notification clicks will not open the window");
    }
}

fn forward(app: &AppHandle, api: &Api, update: Update) {
    if let Err(e) = app.emit(UPDATE_EVENT, &update) {
        tracing::warn!(error = %e, "cannot send an update to the window");
    }
    match &update {
        Update::Event { event, .. } => {
            if let Some(notice) = api.notice(event) {
                let mut builder = app
                    .notification()
                    .builder()
                    .title(&notice.title)
                    .body(&notice.body);
                if let Some(target) = &notice.target {
                    builder = builder.extra(TARGET, target);
                }
                let shown = builder.show();
                if let Err(e) = shown {
                    tracing::warn!(error = %e, title = notice.title, "cannot show a notification");
                }
            }
        }
        Update::Status { status } => {
            crate::tray::refresh(app, status);
            crate::tray::refresh_proposals(app, api);
        }
        Update::Resync => {
            crate::tray::refresh(app, &api.status());
            crate::tray::refresh_proposals(app, api);
        }
        Update::Proposal { .. } => crate::tray::refresh_proposals(app, api),
        Update::ProviderUpdated { .. } | Update::RunOutput { .. } | Update::Pipeline { .. } => {}
    }
}
