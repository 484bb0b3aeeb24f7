//! The web view's language under a POSIX locale.
//!
//! Owns: one platform quirk. Under `LANG=C` / `C.UTF-8` (containers, CI, minimal installs)
//! WebKitGTK reports `navigator.language` as `"C"`, which is not a BCP 47 tag: any
//! `Intl.*(navigator.language)` in the page throws `RangeError: invalid language tag: C`
//! (uPlot does this when it loads, and the window stays empty). Browsers map the POSIX
//! locale to `en-US`; so does the shell, and only then — a real locale is left alone.
//! Does not own: anything about what the UI shows.

/// The language the web view gets when the system says "C" (what browsers use).
const POSIX_LANGUAGE: &str = "en-US";

/// Whether the messages locale, read as glibc does (`LC_ALL`, `LC_MESSAGES`, `LANG`;
/// the first one set wins), is the POSIX one.
fn is_posix(lookup: impl Fn(&str) -> Option<String>) -> bool {
    let locale = ["LC_ALL", "LC_MESSAGES", "LANG"]
        .into_iter()
        .find_map(|k| lookup(k).filter(|v| !v.is_empty()));
    match locale.as_deref() {
        None => true,
        Some(l) => l == "C" || l == "POSIX" || l.starts_with("C.") || l.starts_with("C@"),
    }
}

/// Gives the window's web view a valid language when the system locale is POSIX.
/// Queued on the main thread before the page's assets are served, so the page's scripts
/// see it from their first line.
pub fn fix_posix_language(window: &tauri::WebviewWindow) {
    if !is_posix(|k| std::env::var(k).ok()) {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        use webkit2gtk::{WebContextExt, WebViewExt};
        let queued = window.with_webview(|webview| {
            if let Some(context) = webview.inner().context() {
                context.set_preferred_languages(&[POSIX_LANGUAGE]);
            }
        });
        if let Err(e) = queued {
            tracing::warn!(error = %e, "cannot set the web view's language");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (window, POSIX_LANGUAGE);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_posix_locale_is_recognised_in_its_spellings() {
        for lang in ["C", "C.UTF-8", "C.utf8", "POSIX"] {
            assert!(is_posix(env(&[("LANG", lang)])), "{lang}");
        }
        assert!(is_posix(env(&[])), "no locale at all is POSIX");
    }

    #[test]
    fn a_real_locale_is_left_alone_and_the_first_variable_set_wins() {
        assert!(!is_posix(env(&[("LANG", "de_DE.UTF-8")])));
        assert!(!is_posix(env(&[("LC_ALL", "fr_FR.UTF-8"), ("LANG", "C")])));
        assert!(is_posix(env(&[("LC_ALL", "C"), ("LANG", "en_GB.UTF-8")])));
        assert!(
            !is_posix(env(&[("LC_ALL", ""), ("LANG", "en_GB.UTF-8")])),
            "an empty variable does not count"
        );
    }
}
