//! The tray icon and its menu.
//!
//! Owns: one icon per overall state (healthy / degraded / down, from `icons/`), the
//! tooltip, and the menu — a disabled status line, Open Steward, Snooze notifications 1 h
//! (Resume notifications while snoozed), Pause probing (Resume probing while paused), and
//! Quit — plus what its items do. Every item calls `Api`; the tray only redraws from a
//! `StatusView` (the bridge hands it each new one).
//! Does not own: what the overall state is (the engine's `StatusView` says).
//!
//! Platform notes: on Linux the tray is an AppIndicator (StatusNotifierItem), which has no
//! tooltip and no click events — the menu opens on any click, and its status line says
//! what the tooltip says elsewhere. On Windows and macOS a left click toggles the window.

use std::sync::Mutex;
use steward::api::{Api, Overall, StatusView};
use tauri::image::Image;
use tauri::menu::{Menu, MenuEvent, MenuItem, PredefinedMenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIcon, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Manager};

const TRAY_ID: &str = "steward";

/// Menu item ids.
const STATUS: &str = "status";
const OPEN: &str = "open";
const SNOOZE: &str = "snooze";
const PAUSE: &str = "pause";
const QUIT: &str = "quit";

/// How long "Snooze notifications 1 h" snoozes.
const SNOOZE_MINUTES: u32 = 60;

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

/// The tray's parts, kept to redraw them (managed state).
struct Tray {
    icon: TrayIcon,
    status: MenuItem<tauri::Wry>,
    snooze: MenuItem<tauri::Wry>,
    pause: MenuItem<tauri::Wry>,
    shown: Mutex<TrayView>,
}

/// Builds the tray for the current status.
pub fn create(app: &AppHandle, status: &StatusView) -> tauri::Result<()> {
    let view = TrayView::of(status);
    let status_item = MenuItem::with_id(app, STATUS, &view.line, false, None::<&str>)?;
    let snooze = MenuItem::with_id(app, SNOOZE, view.snooze_label(), true, None::<&str>)?;
    let pause = MenuItem::with_id(app, PAUSE, view.pause_label(), true, None::<&str>)?;
    let menu = Menu::with_items(
        app,
        &[
            &status_item,
            &PredefinedMenuItem::separator(app)?,
            &MenuItem::with_id(app, OPEN, "Open Steward", true, None::<&str>)?,
            &snooze,
            &pause,
            &PredefinedMenuItem::separator(app)?,
            &MenuItem::with_id(app, QUIT, "Quit", true, None::<&str>)?,
        ],
    )?;
    let icon = TrayIconBuilder::with_id(TRAY_ID)
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
                crate::toggle_window(tray.app_handle());
            }
        })
        .build(app)?;
    app.manage(Tray {
        icon,
        status: status_item,
        snooze,
        pause,
        shown: Mutex::new(view),
    });
    Ok(())
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
        Ok(())
    })();
    match result {
        Ok(()) => *shown = view,
        Err(e) => tracing::warn!(error = %e, "cannot update the tray"),
    }
}

fn on_menu(app: &AppHandle, event: MenuEvent) {
    match event.id().as_ref() {
        OPEN => crate::show_window(app),
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
        _ => {}
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
    fn the_status_line_counts_proposals_waiting() {
        let mut s = status(Overall::Degraded, 5, 1, false);
        s.pending_proposals = 2;
        assert_eq!(
            TrayView::of(&s).line,
            "Steward: degraded — 1 of 5 providers down, 2 proposals waiting"
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
