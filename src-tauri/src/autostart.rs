//! Start at login: an XDG autostart entry, `$XDG_CONFIG_HOME/autostart/steward-desktop.desktop`
//! (`~/.config/autostart` by default), whose `Exec` line is this executable with
//! `--hidden`, so a login starts Steward in the tray without a window.
//!
//! Owns: the entry (written atomically, `Exec` quoted as the Desktop Entry spec says, and
//! removed), the two IPC commands the window's toggle calls (`get_autostart`,
//! `set_autostart`: desktop only, not in the route table, since a headless Steward has no
//! login to start at), and keeping the tray's check item and the window's toggle in step
//! (the `steward://autostart` event).
//!
//! Written here rather than through `tauri-plugin-autostart`: its Linux backend writes to
//! `$HOME/.config/autostart` whatever `XDG_CONFIG_HOME` says, and leaves a path with a
//! space unquoted in `Exec`.

use serde::Serialize;
use std::path::{Path, PathBuf};
use tauri::ipc::Invoke;
use tauri::{AppHandle, Emitter};

/// The argument a login start gets.
pub const HIDDEN: &str = "--hidden";

/// What the window hears when the setting changes (from the tray or another window).
pub const EVENT: &str = "steward://autostart";

/// The commands of this module (dispatched by `commands::app_handler`).
pub const COMMANDS: [&str; 2] = ["get_autostart", "set_autostart"];

/// The entry's file name (the installed `.desktop` entry's name: one identity).
const FILE: &str = "steward-desktop.desktop";

/// The setting as the UI reads it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Autostart {
    pub enabled: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum AutostartError {
    #[error("no config directory (neither XDG_CONFIG_HOME nor HOME is set)")]
    NoConfigDir,
    #[error("cannot find this program's path: {0}")]
    Exe(#[source] std::io::Error),
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// `$XDG_CONFIG_HOME/autostart` (else `~/.config/autostart`).
fn autostart_dir() -> Result<PathBuf, AutostartError> {
    dirs::config_dir()
        .map(|d| d.join("autostart"))
        .ok_or(AutostartError::NoConfigDir)
}

/// Whether the entry is there and not switched off by a `Hidden=true` line (the spec's
/// way for a desktop's own settings to disable it).
pub fn is_enabled_in(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join(FILE))
        .is_ok_and(|entry| !entry.lines().any(|l| l.trim() == "Hidden=true"))
}

/// The entry that starts `exe` hidden.
pub fn entry(exe: &Path) -> String {
    format!(
        "[Desktop Entry]\n\
         Type=Application\n\
         Name=Steward\n\
         Comment=Keeps a small fleet alive (starts in the tray)\n\
         Exec={} {HIDDEN}\n\
         Icon=steward-desktop\n\
         Terminal=false\n\
         X-GNOME-Autostart-enabled=true\n",
        exec_arg(&exe.to_string_lossy())
    )
}

/// One `Exec` argument: quoted when it holds a reserved character, `"`, `` ` ``, `$` and
/// `\` escaped inside the quotes, `%` doubled; then `\` escaped again, as every string
/// value of a desktop entry is.
fn exec_arg(arg: &str) -> String {
    const RESERVED: &str = " \t\n\"'\\><~|&;$*?#()`";
    let arg = arg.replace('%', "%%");
    let quoted = if arg.chars().any(|c| RESERVED.contains(c)) {
        let mut q = String::from("\"");
        for c in arg.chars() {
            if matches!(c, '"' | '`' | '$' | '\\') {
                q.push('\\');
            }
            q.push(c);
        }
        q.push('"');
        q
    } else {
        arg
    };
    quoted.replace('\\', "\\\\")
}

/// Writes (through a temporary file, renamed) or removes the entry in `dir`.
pub fn set_in(dir: &Path, exe: &Path, enabled: bool) -> Result<(), AutostartError> {
    let path = dir.join(FILE);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| AutostartError::Io { path, source }
    };
    if !enabled {
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&path)(e)),
            _ => Ok(()),
        };
    }
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let tmp = dir.join(format!(".{FILE}.tmp"));
    std::fs::write(&tmp, entry(exe)).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io(&path))
}

/// Whether Steward starts at login.
pub fn is_enabled() -> Result<bool, AutostartError> {
    Ok(is_enabled_in(&autostart_dir()?))
}

/// Writes or removes the entry, then tells the tray and the window.
pub fn set(app: &AppHandle, enabled: bool) -> Result<bool, AutostartError> {
    let exe = std::env::current_exe().map_err(AutostartError::Exe)?;
    let dir = autostart_dir()?;
    if let Err(e) = set_in(&dir, &exe, enabled) {
        tracing::warn!(error = %e, enabled, "cannot change start at login");
        return Err(e);
    }
    let now = is_enabled_in(&dir);
    tracing::info!(enabled = now, "start at login changed");
    crate::tray::show_autostart(app, now);
    // Nobody listening (no window) is fine: a window reads the setting when it opens.
    let _ = app.emit(EVENT, Autostart { enabled: now });
    Ok(now)
}

#[tauri::command]
async fn get_autostart() -> Result<Autostart, crate::commands::IpcError> {
    is_enabled()
        .map(|enabled| Autostart { enabled })
        .map_err(failed)
}

#[tauri::command]
async fn set_autostart(
    app: AppHandle,
    enabled: bool,
) -> Result<Autostart, crate::commands::IpcError> {
    set(&app, enabled)
        .map(|enabled| Autostart { enabled })
        .map_err(failed)
}

fn failed(e: AutostartError) -> crate::commands::IpcError {
    crate::commands::IpcError {
        code: "autostart",
        message: format!("cannot change start at login: {e}"),
        details: serde_json::Map::new(),
    }
}

/// The handler of [`COMMANDS`].
pub fn handler() -> impl Fn(Invoke<tauri::Wry>) -> bool + Send + Sync + 'static {
    tauri::generate_handler![get_autostart, set_autostart]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entry_starts_this_program_hidden() {
        let e = entry(Path::new("/usr/bin/steward-desktop"));
        assert!(e.starts_with("[Desktop Entry]\n"), "{e}");
        assert!(
            e.contains("\nExec=/usr/bin/steward-desktop --hidden\n"),
            "{e}"
        );
        assert!(e.contains("\nType=Application\n") && e.contains("\nName=Steward\n"));
    }

    #[test]
    fn exec_quotes_a_path_with_spaces_and_escapes_what_the_spec_reserves() {
        assert_eq!(exec_arg("/opt/My Apps/steward"), "\"/opt/My Apps/steward\"");
        assert_eq!(exec_arg("/opt/a$b"), "\"/opt/a\\\\$b\"");
        assert_eq!(exec_arg("/opt/100%/s"), "/opt/100%%/s");
        assert_eq!(
            exec_arg("/usr/bin/steward-desktop"),
            "/usr/bin/steward-desktop"
        );
    }

    #[test]
    fn turning_it_on_and_off_writes_and_removes_the_entry() {
        let dir = tempfile::tempdir().unwrap();
        let auto = dir.path().join("autostart");
        let exe = Path::new("/usr/bin/steward-desktop");
        assert!(!is_enabled_in(&auto));
        set_in(&auto, exe, true).unwrap();
        assert!(is_enabled_in(&auto));
        let written = std::fs::read_to_string(auto.join(FILE)).unwrap();
        assert_eq!(written, entry(exe));
        assert_eq!(
            std::fs::read_dir(&auto).unwrap().count(),
            1,
            "no temporary file left"
        );
        set_in(&auto, exe, true).unwrap();
        assert!(is_enabled_in(&auto), "twice on is on");
        set_in(&auto, exe, false).unwrap();
        assert!(!is_enabled_in(&auto));
        set_in(&auto, exe, false).unwrap();
        assert!(!is_enabled_in(&auto), "twice off is off, no error");
    }

    #[test]
    fn an_entry_hidden_by_the_desktop_counts_as_off() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), "[Desktop Entry]\nHidden=true\n").unwrap();
        assert!(!is_enabled_in(dir.path()));
    }
}
