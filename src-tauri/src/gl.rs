//! The app process without a GL driver.
//!
//! Owns: keeping the system's EGL driver out of this process. WebKitGTK sets up EGL in the
//! app (UI) process when the first web view is made, to take the web process's frames as
//! GL textures. Steward's web view renders without GPU acceleration (`window`), and when
//! the app process has no EGL display WebKit hands the frames over in shared memory and
//! GTK paints them, which is all a dashboard needs. With Mesa, that EGL display loaded
//! the Gallium driver and LLVM into this process for the rest of its life: 55 MiB RSS
//! (44 of them LLVM) once a window had been shown (docs/benchmarks.md, idle tray app).
//!
//! How: libglvnd reads its list of EGL drivers once per process, at the first EGL call.
//! [`keep_out`] makes that call at start, before any thread exists, with an empty list in
//! the environment, then restores the environment; so WebKit finds no EGL driver here,
//! while the web process it starts later (which needs one) reads the usual list.
//!
//! An explicit setting wins: `STEWARD_WEBVIEW_GL=on` leaves EGL to WebKit (for a system
//! whose window would stay blank without it), and a user's own
//! `__EGL_VENDOR_LIBRARY_FILENAMES` or `__EGL_VENDOR_LIBRARY_DIRS` is left alone.
//! Linux only; elsewhere this does nothing.
//! Does not own: the web view's settings (`window`), the web process's GL.

/// The environment variable that, set to `on`, leaves EGL in the app process to WebKit.
pub const SETTING: &str = "STEWARD_WEBVIEW_GL";

/// libglvnd's list of EGL driver files; set (even empty), it replaces the search.
const VENDOR_FILES: &str = "__EGL_VENDOR_LIBRARY_FILENAMES";
/// libglvnd's list of directories to search for EGL driver files.
const VENDOR_DIRS: &str = "__EGL_VENDOR_LIBRARY_DIRS";

/// What [`keep_out`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// libglvnd has read an empty driver list: no EGL driver will load in this process.
    KeptOut,
    /// EGL is left to WebKit, and why.
    LeftToWebKit(&'static str),
}

/// Whether to keep EGL out, from the environment variables that decide it (`None` when
/// unset). Pure: [`keep_out`] passes the process's environment.
pub fn decide(setting: Option<&str>, vendor_files: bool, vendor_dirs: bool) -> Outcome {
    match setting.map(str::trim) {
        Some(v) if v.eq_ignore_ascii_case("on") || v == "1" || v.eq_ignore_ascii_case("true") => {
            Outcome::LeftToWebKit("STEWARD_WEBVIEW_GL=on")
        }
        _ if vendor_files || vendor_dirs => {
            Outcome::LeftToWebKit("the environment chooses the EGL drivers")
        }
        _ => Outcome::KeptOut,
    }
}

/// Keeps the EGL driver out of this process, unless a setting says otherwise (see the
/// module doc). Call first thing in `main`: it changes the environment, which is only
/// sound while no other thread runs.
#[cfg(target_os = "linux")]
pub fn keep_out() -> Outcome {
    let setting = std::env::var(SETTING).ok();
    let decided = decide(
        setting.as_deref(),
        std::env::var_os(VENDOR_FILES).is_some(),
        std::env::var_os(VENDOR_DIRS).is_some(),
    );
    if decided != Outcome::KeptOut {
        return decided;
    }
    std::env::set_var(VENDOR_FILES, "");
    let loaded = first_egl_call();
    std::env::remove_var(VENDOR_FILES);
    if loaded {
        Outcome::KeptOut
    } else {
        // No libEGL in this process: WebKit was built without it, nothing to keep out.
        Outcome::LeftToWebKit("no libEGL in this process")
    }
}

#[cfg(not(target_os = "linux"))]
pub fn keep_out() -> Outcome {
    Outcome::LeftToWebKit("not Linux")
}

/// Makes libglvnd read its driver list: `eglQueryString(EGL_NO_DISPLAY, EGL_EXTENSIONS)`
/// through the libEGL that WebKit linked. False when this process has no libEGL loaded.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn first_egl_call() -> bool {
    type QueryString = unsafe extern "C" fn(*mut libc::c_void, i32) -> *const libc::c_char;
    const EGL_EXTENSIONS: i32 = 0x3055;
    // SAFETY: RTLD_NOLOAD only looks up a library already loaded (libEGL.so.1, a
    // dependency of libwebkit2gtk); it runs no constructor. `eglQueryString` has this C
    // signature in EGL 1.4 and later; with EGL_NO_DISPLAY (null) and EGL_EXTENSIONS it
    // returns a static string or null and has no other effect than loading the drivers.
    // The handle is closed again, which only drops the reference taken here.
    unsafe {
        let lib = libc::dlopen(c"libEGL.so.1".as_ptr(), libc::RTLD_NOW | libc::RTLD_NOLOAD);
        if lib.is_null() {
            return false;
        }
        let symbol = libc::dlsym(lib, c"eglQueryString".as_ptr());
        let found = !symbol.is_null();
        if found {
            let query: QueryString = std::mem::transmute(symbol);
            query(std::ptr::null_mut(), EGL_EXTENSIONS);
        }
        libc::dlclose(lib);
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_default_the_driver_is_kept_out() {
        assert_eq!(decide(None, false, false), Outcome::KeptOut);
        assert_eq!(decide(Some("off"), false, false), Outcome::KeptOut);
        assert_eq!(decide(Some(""), false, false), Outcome::KeptOut);
    }

    #[test]
    fn the_setting_on_leaves_egl_to_webkit() {
        for on in ["on", "ON", "1", "true", " on "] {
            assert!(
                matches!(decide(Some(on), false, false), Outcome::LeftToWebKit(_)),
                "{on:?}"
            );
        }
    }

    #[test]
    fn a_driver_list_the_user_chose_is_left_alone() {
        assert!(matches!(
            decide(None, true, false),
            Outcome::LeftToWebKit(_)
        ));
        assert!(matches!(
            decide(Some("off"), false, true),
            Outcome::LeftToWebKit(_)
        ));
    }
}
