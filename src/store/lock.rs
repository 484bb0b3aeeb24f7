//! One engine per data dir: an exclusive `flock` on `<data dir>/steward.lock`, held from
//! before the database is opened until the engine has closed it.
//!
//! Owns: taking the lock, saying who holds it when it is taken, and letting it go. The
//! kernel releases a `flock` when its holder dies, so a crash never leaves a stale lock
//! behind; the PID written in the file is only for the message.

use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The lock file's name in the data dir.
pub const LOCK_FILE: &str = "steward.lock";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another Steward{holder} is already running on the data dir {dir}: two engines never \
         share one database. Stop it first, or give this one its own data dir \
         (STEWARD_DATA_DIR)",
        holder = .pid.map(|p| format!(" (pid {p})")).unwrap_or_default(),
        dir = .dir.display()
    )]
    Held { dir: PathBuf, pid: Option<u32> },
    #[error("cannot lock the data dir {}: {source}", .dir.display())]
    Io {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The held lock; dropping it releases it.
#[derive(Debug)]
pub struct DataDirLock {
    _file: Flock<File>,
}

impl DataDirLock {
    /// Takes the lock of `data_dir` (created when missing), or says who holds it.
    pub fn acquire(data_dir: &Path) -> Result<DataDirLock, LockError> {
        let io = |source| LockError::Io {
            dir: data_dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(data_dir).map_err(io)?;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(data_dir.join(LOCK_FILE))
            .map_err(io)?;
        let mut file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(locked) => locked,
            Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
                let mut pid = String::new();
                // The holder's PID is only for the message: unreadable, it is left out.
                let pid = file
                    .read_to_string(&mut pid)
                    .ok()
                    .and_then(|_| pid.trim().parse().ok());
                return Err(LockError::Held {
                    dir: data_dir.to_path_buf(),
                    pid,
                });
            }
            Err((_, errno)) => return Err(io(errno.into())),
        };
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        Ok(DataDirLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_dir_is_refused_and_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDirLock::acquire(dir.path()).unwrap();
        let err = DataDirLock::acquire(dir.path()).unwrap_err();
        match &err {
            LockError::Held { pid, .. } => assert_eq!(*pid, Some(std::process::id())),
            other => panic!("expected Held, got {other:?}"),
        }
        assert!(err.to_string().contains("already running"), "{err}");
        drop(first);
        DataDirLock::acquire(dir.path()).expect("free again once the holder let go");
    }

    #[test]
    fn other_dirs_are_not_affected() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let _a = DataDirLock::acquire(a.path()).unwrap();
        DataDirLock::acquire(b.path()).unwrap();
    }
}
