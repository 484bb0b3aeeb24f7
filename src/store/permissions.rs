//! Who may read the data dir: only the user Steward runs as.
//!
//! The database holds command output and event payloads, the token file the API's key, so
//! the data dir is 0700 and those files 0600. Owns: creating the dir that way and tightening
//! a dir or file of ours left wider by an older version or a umask. Does not own: what goes
//! in them.

use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

/// Creates `dir` as 0700 (missing parents as usual), or tightens an existing one of ours to
/// 0700. A dir someone else owns, or a shared one (sticky bit, like `/tmp`), is left as it
/// is with a warning: changing it would break others and would not make it private anyway.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    tighten(dir, 0o700)
}

/// Tightens an existing file of ours to 0600; a missing one is fine.
pub fn private_file(path: &Path) -> io::Result<()> {
    match tighten(path, 0o600) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

fn tighten(path: &Path, mode: u32) -> io::Result<()> {
    let meta = std::fs::metadata(path)?;
    let current = meta.mode() & 0o7777;
    if current & 0o077 == 0 {
        return Ok(());
    }
    let ours = meta.uid() == nix::unistd::geteuid().as_raw();
    let shared = meta.is_dir() && current & 0o1000 != 0;
    if !ours || shared {
        tracing::warn!(
            path = %path.display(),
            mode = format!("{current:o}"),
            "readable by other users, and not Steward's to tighten"
        );
        return Ok(());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().mode() & 0o7777
    }

    #[test]
    fn a_new_dir_is_0700_and_a_wide_one_of_ours_is_tightened() {
        let tmp = tempfile::tempdir().unwrap();
        let fresh = tmp.path().join("a/b/data");
        private_dir(&fresh).unwrap();
        assert_eq!(mode(&fresh), 0o700);

        let wide = tmp.path().join("wide");
        std::fs::create_dir(&wide).unwrap();
        std::fs::set_permissions(&wide, std::fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&wide).unwrap();
        assert_eq!(mode(&wide), 0o700, "an existing 0755 data dir is tightened");
    }

    #[test]
    fn a_shared_sticky_dir_is_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let shared = tmp.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        private_dir(&shared).unwrap();
        assert_eq!(mode(&shared), 0o1777, "like /tmp: not ours to close");
    }

    #[test]
    fn files_are_tightened_to_0600_and_missing_ones_are_fine() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("steward.db-wal");
        std::fs::write(&f, b"x").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        private_file(&f).unwrap();
        assert_eq!(mode(&f), 0o600);
        private_file(&tmp.path().join("absent")).unwrap();
    }
}
