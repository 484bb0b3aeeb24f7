//! The main window's life: made when it is opened, destroyed when it is hidden.
//!
//! Owns: opening the window (created from `tauri.conf.json`'s "main" window when there is
//! none, else shown and focused), optionally at a view of the UI; hiding it, which
//! destroys the window and its web view, so nothing of WebKit renders or keeps a web
//! process while Steward sits in the tray (the engine lives in this process and goes on);
//! and toggling between the two. Closing the window is hiding it: the app keeps running
//! in the tray until Quit (`lib.rs` keeps the last closed window from ending the app).
//! Does not own: what the page shows (it loads current state from the engine on start,
//! like any fresh page).

use tauri::{AppHandle, Manager, WebviewWindow};

/// The label of the one window (see `tauri.conf.json`).
pub const MAIN_WINDOW: &str = "main";

/// Shows the window, creating it if it does not exist; at `route` (e.g. `#/proposals`)
/// when given.
pub fn open(app: &AppHandle, route: Option<&str>) {
    if let Some(w) = app.get_webview_window(MAIN_WINDOW) {
        // Each call may fail only once the window is being destroyed: nothing to show then.
        let _ = w.show();
        let _ = w.unminimize();
        let _ = w.set_focus();
        if let Some(route) = route {
            let js = format!("location.hash = {}", serde_json::Value::from(route));
            if let Err(e) = w.eval(&js) {
                tracing::warn!(error = %e, "cannot open the view {route}");
            }
        }
        return;
    }
    match create(app, route) {
        Ok(_) => {
            tracing::info!("window opened");
            crate::trim::after_open(app);
        }
        Err(e) => tracing::error!(error = %e, "cannot open the window"),
    }
}

/// Destroys the window and its web view (the tray's Hide, closing the window).
pub fn hide(app: &AppHandle) {
    if let Some(w) = app.get_webview_window(MAIN_WINDOW) {
        match w.destroy() {
            Ok(()) => tracing::info!("window hidden: web view destroyed"),
            Err(e) => tracing::warn!(error = %e, "cannot destroy the window"),
        }
    }
}

/// Hides the window when it is shown, opens it otherwise.
pub fn toggle(app: &AppHandle) {
    let shown = app
        .get_webview_window(MAIN_WINDOW)
        .is_some_and(|w| w.is_visible().unwrap_or(false));
    if shown {
        hide(app);
    } else {
        open(app, None);
    }
}

fn create(
    app: &AppHandle,
    route: Option<&str>,
) -> Result<WebviewWindow, Box<dyn std::error::Error>> {
    let mut config = app
        .config()
        .app
        .windows
        .iter()
        .find(|w| w.label == MAIN_WINDOW)
        .cloned()
        .ok_or("tauri.conf.json has no \"main\" window")?;
    config.visible = true;
    let mut builder = tauri::WebviewWindowBuilder::from_config(app, &config)?;
    if let Some(route) = route {
        // Before the page's own scripts, so it starts at that view. The page loads once
        // per window (views change the hash, never reload it).
        builder = builder.initialization_script(format!(
            "if (location.hash === '') history.replaceState(null, '', {});",
            serde_json::Value::from(route)
        ));
    }
    let window = builder.build()?;
    crate::locale::fix_posix_language(&window);
    lean(&window);
    Ok(window)
}

/// A dashboard needs no GPU compositing and no browser-sized caches: without them WebKit's
/// web process takes about 100 MiB less and paints a text change without a GL pass (under
/// a software renderer, the compositor alone cost several % of a core while idle).
fn lean(window: &WebviewWindow) {
    #[cfg(target_os = "linux")]
    {
        use webkit2gtk::{
            CacheModel, HardwareAccelerationPolicy, SettingsExt, WebContextExt, WebViewExt,
        };
        let queued = window.with_webview(|webview| {
            let view = webview.inner();
            if let Some(settings) = view.settings() {
                settings.set_hardware_acceleration_policy(HardwareAccelerationPolicy::Never);
            }
            if let Some(context) = view.context() {
                context.set_cache_model(CacheModel::DocumentViewer);
            }
        });
        if let Err(e) = queued {
            tracing::warn!(error = %e, "cannot set the web view's settings");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = window;
}
