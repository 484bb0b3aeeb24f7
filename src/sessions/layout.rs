//! Where session files live: `<root>/<user>/<name>.jsonl`, by the naming rules alone.
//!
//! Owns: which paths are a user directory or a session file (no file system access).
//! Both the watcher and the index ask it, so neither needs the other for that.

use std::path::{Component, Path};

/// A session file's place under the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPath {
    /// `"<user>/<name>.jsonl"`.
    pub rel: String,
    pub username: String,
}

/// Whether `name` may be a user directory: not hidden, valid UTF-8 (checked by the caller).
pub(crate) fn is_user_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.')
}

/// Whether `name` may be a session file: `*.jsonl` with a non-empty stem, not hidden and not
/// an editor's or writer's temporary (`.x.jsonl`, `#x.jsonl#`, `x.jsonl.tmp`, `x.jsonl~`).
pub(crate) fn is_session_name(name: &str) -> bool {
    name.len() > ".jsonl".len()
        && name.ends_with(".jsonl")
        && !name.starts_with('.')
        && !name.starts_with('#')
        && !name.starts_with('~')
}

/// `Some` when `path` is `<root>/<user>/<name>.jsonl` by the naming rules alone (no file
/// system access; both must be absolute or both relative, spelled alike).
pub fn session_path(root: &Path, path: &Path) -> Option<SessionPath> {
    let rest = path.strip_prefix(root).ok()?;
    let mut parts = rest.components();
    let (Some(Component::Normal(user)), Some(Component::Normal(name)), None) =
        (parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let (user, name) = (user.to_str()?, name.to_str()?);
    if !is_user_name(user) || !is_session_name(name) {
        return None;
    }
    Some(SessionPath {
        rel: format!("{user}/{name}"),
        username: user.to_owned(),
    })
}

/// `Some(user)` when `path` is a possible user directory `<root>/<user>` (by name only).
pub(crate) fn user_dir(root: &Path, path: &Path) -> Option<String> {
    let rest = path.strip_prefix(root).ok()?;
    let mut parts = rest.components();
    let (Some(Component::Normal(user)), None) = (parts.next(), parts.next()) else {
        return None;
    };
    let user = user.to_str()?;
    is_user_name(user).then(|| user.to_owned())
}
