//! What a hidden window leaves behind, and what only start-up ran, given back.
//!
//! Owns: once the window has been gone for [`SETTLE`], ending WebKit's network process
//! (it serves web views only, there are none, and WebKit starts a new one for the next
//! window) and asking the kernel to take back the clean pages of this process's read-only
//! file mappings (the WebKit, GTK and Mesa code the window ran: nothing is lost, a page
//! touched again is read again from its file). Destroying the web view ends the web
//! process, but the network process and those pages stayed for the app's life: after one
//! Open and Hide, Steward in the tray weighed ~230 MiB against ~80 MiB started hidden.
//! The app's own executable too: the code the engine runs is read back within a probe
//! tick, the rest (start-up, the window's side) stays out (115 against 122 MiB hidden
//! when it was left alone, see docs/benchmarks.md). Under WebDriver
//! (`TAURI_WEBVIEW_AUTOMATION=true`, set by tauri-driver) the network process is kept:
//! WebKit ends the automation session with it.
//!
//! Also once start-up has settled: [`SETTLE_START`] after the app started hidden and after
//! each window was made, the same page-out (no process is ended), which gives back the
//! code that ran only to start (the engine's config and database set-up, the tray,
//! WebKit's and the page's loading). With the window shown the app went 117 → 97 MiB at
//! that moment, and was still 4–15 MiB under its 118 MiB at the end of the idle bench
//! (docs/benchmarks.md); started hidden, 77 → 42–44 MiB.
//! Linux only; elsewhere this does nothing.
//! Does not own: destroying the window (`window`), the engine's memory.

use std::ops::Range;
use std::time::Duration;

use tauri::{AppHandle, Manager};
use tokio_util::sync::CancellationToken;

use crate::window::MAIN_WINDOW;

/// How long the window stays gone before its leftovers are given back: a window closed
/// and opened again at once keeps its network process.
const SETTLE: Duration = Duration::from_secs(5);

/// How long after a start or an Open the code that ran only to get there is given back:
/// the page has loaded and painted by then, and the engine has run its first tick.
const SETTLE_START: Duration = Duration::from_secs(10);

/// WebKit's network process, by executable name (a `comm` is cut to 15 characters).
const NETWORK_PROCESS: &str = "WebKitNetworkProcess";

/// Called when the main window was destroyed: after [`SETTLE`], if there is still no
/// window, ends the network process and pages out. Stops with the shell's other tasks.
pub fn after_hide(app: &AppHandle) {
    later(app, SETTLE, |app, stop| async move {
        // On the main thread, where windows are made: none can appear during the check.
        let (tx, rx) = tokio::sync::oneshot::channel();
        let handle = app.clone();
        let queued = app.run_on_main_thread(move || {
            let gone = handle.get_webview_window(MAIN_WINDOW).is_none();
            let ended = if gone && !automated() {
                end_network_processes()
            } else {
                0
            };
            let _ = tx.send((gone, ended));
        });
        if queued.is_err() {
            return;
        }
        let Ok((true, ended)) = rx.await else {
            return;
        };
        // Let the ended process go, so the pages it shared are ours alone to give back.
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        if app.get_webview_window(MAIN_WINDOW).is_some() {
            return;
        }
        give_back("window gone: WebKit's leftovers given back".into(), ended).await;
    });
}

/// Called when the app started without a window: after [`SETTLE_START`], if there is
/// still none (an Open meanwhile has its own page-out), pages out.
pub fn after_start(app: &AppHandle) {
    settle(app, "start-up", |app| {
        app.get_webview_window(MAIN_WINDOW).is_none()
    });
}

/// Called when the main window was made: after [`SETTLE_START`], if the window is still
/// there (a Hide meanwhile has its own page-out), pages out.
pub fn after_open(app: &AppHandle) {
    settle(app, "window opened", |app| {
        app.get_webview_window(MAIN_WINDOW).is_some()
    });
}

/// After [`SETTLE_START`], pages out if `still` holds then.
fn settle(app: &AppHandle, what: &'static str, still: fn(&AppHandle) -> bool) {
    later(app, SETTLE_START, move |app, _| async move {
        if still(&app) {
            give_back(
                format!("{what} settled: the code that ran only for it given back"),
                0,
            )
            .await;
        }
    });
}

/// Runs `work` after `delay` as one of the shell's tasks; not at all if the app stops
/// first (`work` gets the stop token for its own waits).
fn later<F, W>(app: &AppHandle, delay: Duration, work: W)
where
    W: FnOnce(AppHandle, CancellationToken) -> F + Send + 'static,
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let Some(shell) = app.try_state::<crate::Shell>() else {
        return;
    };
    let (stop, app) = (shell.tasks.clone(), app.clone());
    tauri::async_runtime::spawn(shell.tracker.track_future(async move {
        tokio::select! {
            () = stop.cancelled() => {}
            () = tokio::time::sleep(delay) => work(app, stop).await,
        }
    }));
}

/// [`page_out`] off the async threads; logs `what` with the network processes ended
/// before it, the mappings advised and this process's RSS before and after.
async fn give_back(what: String, network_processes_ended: usize) {
    let before = rss_kib();
    match tokio::task::spawn_blocking(page_out).await {
        Ok(Ok(mappings)) => tracing::info!(
            network_processes_ended,
            mappings,
            rss_before_mib = before / 1024,
            rss_after_mib = rss_kib() / 1024,
            "{what}"
        ),
        Ok(Err(e)) => tracing::warn!(error = %e, "cannot read this process's mappings"),
        Err(e) => tracing::warn!(error = %e, "the page-out task failed"),
    }
}

/// Driven by WebDriver: the web context allows automation (what tauri's runtime checks).
fn automated() -> bool {
    std::env::var("TAURI_WEBVIEW_AUTOMATION").as_deref() == Ok("true")
}

/// Sends SIGTERM to this process's WebKit network processes; how many.
#[cfg(target_os = "linux")]
fn end_network_processes() -> usize {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let mut ended = 0;
    for pid in children() {
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
        if exe.file_name().is_some_and(|n| n == NETWORK_PROCESS) {
            match kill(Pid::from_raw(pid), Signal::SIGTERM) {
                Ok(()) => ended += 1,
                Err(e) => tracing::warn!(pid, error = %e, "cannot end WebKit's network process"),
            }
        }
    }
    ended
}

#[cfg(not(target_os = "linux"))]
fn end_network_processes() -> usize {
    0
}

/// This process's children (each thread lists those it started).
#[cfg(target_os = "linux")]
fn children() -> Vec<i32> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|s| {
            s.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect()
}

/// Resident set of this process, in KiB (0 when unknown).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// Asks the kernel to reclaim the pages of every read-only file mapping; how many
/// mappings were advised.
#[cfg(target_os = "linux")]
fn page_out() -> std::io::Result<usize> {
    let maps = std::fs::read_to_string("/proc/self/maps")?;
    let ranges = read_only_file_mappings(&maps);
    let advised = ranges.iter().filter(|r| page_out_range(r)).count();
    Ok(advised)
}

#[cfg(not(target_os = "linux"))]
fn page_out() -> std::io::Result<usize> {
    Ok(0)
}

/// `madvise(MADV_PAGEOUT)`: a hint that never changes memory contents (a clean file page
/// is dropped and read again on the next touch; anything else is left or swapped).
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn page_out_range(r: &Range<usize>) -> bool {
    // SAFETY: MADV_PAGEOUT only reclaims pages; it does not change what the memory holds,
    // so no Rust reference into the range can observe a difference. A range unmapped since
    // /proc/self/maps was read makes the call fail with ENOMEM, which is ignored.
    unsafe { libc::madvise(r.start as *mut libc::c_void, r.len(), libc::MADV_PAGEOUT) == 0 }
}

/// The address ranges of `/proc/self/maps` lines that map a file read-only (`r-xp`,
/// `r--p`), deleted files aside.
fn read_only_file_mappings(maps: &str) -> Vec<Range<usize>> {
    maps.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let range = fields.next()?;
            let perms = fields.next()?;
            let path = fields.nth(3)?;
            if !perms.starts_with("r-") || !path.starts_with('/') {
                return None;
            }
            if line.ends_with("(deleted)") {
                return None;
            }
            let (start, end) = range.split_once('-')?;
            let start = usize::from_str_radix(start, 16).ok()?;
            let end = usize::from_str_radix(end, 16).ok()?;
            (end > start).then_some(start..end)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPS: &str = "\
55d0c0000000-55d0c0100000 r--p 00000000 fe:01 1001 /usr/bin/steward-desktop
55d0c0100000-55d0c0900000 r-xp 00100000 fe:01 1001 /usr/bin/steward-desktop
55d0c0900000-55d0c0a00000 rw-p 00900000 fe:01 1001 /usr/bin/steward-desktop
55d0c1000000-55d0c2000000 rw-p 00000000 00:00 0          [heap]
7f0000000000-7f0002000000 r-xp 00000000 fe:01 2002 /usr/lib/x86_64-linux-gnu/libLLVM-15.so.1
7f0002000000-7f0002400000 r--p 02000000 fe:01 2002 /usr/lib/x86_64-linux-gnu/libLLVM-15.so.1
7f0002400000-7f0002500000 rw-p 02400000 fe:01 2002 /usr/lib/x86_64-linux-gnu/libLLVM-15.so.1
7f0003000000-7f0003001000 r--s 00000000 00:05 3003 /SYSV00000000 (deleted)
7f0004000000-7f0004100000 rw-s 00000000 00:05 4004 /memfd:wpe (deleted)
7f0005000000-7f0005010000 r--p 00000000 fe:01 5005 /usr/lib/old.so (deleted)
7f0006000000-7f0006021000 ---p 00000000 00:00 0
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0          [stack]
7ffd00100000-7ffd00102000 r-xp 00000000 00:00 0          [vdso]
";

    #[test]
    fn only_read_only_mappings_of_files_are_paged_out() {
        let ranges = read_only_file_mappings(MAPS);
        assert_eq!(
            ranges,
            [
                0x55d0_c000_0000..0x55d0_c010_0000,
                0x55d0_c010_0000..0x55d0_c090_0000,
                0x7f00_0000_0000..0x7f00_0200_0000,
                0x7f00_0200_0000..0x7f00_0240_0000,
            ],
            "the executable's and libLLVM's code and read-only data; not writable or \
             shared mappings, anonymous memory, the heap, the stack, [vdso] or deleted files"
        );
    }

    #[test]
    fn a_line_it_cannot_read_is_skipped() {
        let maps =
            "garbage\n7f00-zz r-xp 0 fe:01 1 /lib/a.so\n7f00-7f10 r-xp 0 fe:01 1 /lib/a.so\n";
        let ranges = read_only_file_mappings(maps);
        assert_eq!(ranges.len(), 1, "{ranges:?}");
        assert_eq!(ranges[0], 0x7f00..0x7f10);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_kernel_takes_the_hint_for_this_process_s_library_mappings() {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let ranges = read_only_file_mappings(&maps);
        assert!(
            ranges.len() > 2,
            "libc and the rest are mapped read-only: {maps}"
        );
        let advised = page_out().unwrap();
        assert!(
            advised > 0,
            "madvise(MADV_PAGEOUT) refused all {} mappings",
            ranges.len()
        );
    }
}
