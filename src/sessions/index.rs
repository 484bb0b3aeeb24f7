//! The session file index: which session files exist, their size and mtime, and a content
//! hash computed only when size or mtime changed since the last hash.
//!
//! Owns: what a session file is (`<root>/<user>/<name>.jsonl`, no dotfiles, no temp files,
//! regular files only, in a real user directory: no symbolic link below the root is ever
//! followed, neither a linked file nor a linked user directory, wherever it points; the
//! root itself may be a link, followed as configured), the full rescan, and
//! applying the watcher's [`Change`]s. Every look re-reads the file system: a `Change` is a
//! hint of *where* to look, so a stale or reordered hint cannot corrupt the index (an
//! `Upsert` of a file that is gone removes its row; a `Remove` of a file that is back keeps
//! it). Rescans and applies are serialised, so neither overwrites the other's newer
//! result.
//! Does not own: watching (`watcher`), the SQL (`store::session_files`), or what the
//! processors do with the files.
//!
//! Cost: an unchanged rescan is one directory walk (a stat per file), a comparison with an
//! in-memory copy of the table's sizes and mtimes, one summary query to check that copy,
//! and no writes and no hashing at all. Hashing (BLAKE3, streamed in 64 KiB chunks, on as
//! many threads as there are cores) and the walk run on blocking threads.

use super::layout::{is_session_name, is_user_name, session_path};
use super::watcher::Change;
use crate::clock::SharedClock;
use crate::store::{from_ms, SessionFileRow, SessionFilesSummary, Store, StoreError};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

/// What one rescan or apply did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ScanReport {
    /// Session files found on disk (by the walk, or among the paths looked at).
    pub seen: u64,
    /// Rows inserted.
    pub new: u64,
    /// Rows updated because the file's size or mtime changed (or its hash was missing).
    pub changed: u64,
    /// Rows deleted because the file is gone (or is no longer a session file).
    pub removed: u64,
    /// Files whose content was hashed.
    pub hashed: u64,
    /// Paths that are not session files: outside the root, wrong depth or name, not a
    /// regular file, a symlink, or in a user directory that is a symlink.
    pub ignored: u64,
}

/// One indexed session file, as the status and the API show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexedFile {
    /// Relative to the root, '/'-separated: `"<user>/<name>.jsonl"`.
    pub path: String,
    pub username: String,
    pub size: u64,
    pub mtime: DateTime<Utc>,
    /// BLAKE3, hex; `None` when the file could not be read yet.
    pub file_hash: Option<String>,
}

/// Count, total bytes and newest mtime of the indexed files.
pub type IndexSummary = SessionFilesSummary;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The root is missing (an unmounted share looks like this): the index is left as it
    /// was rather than emptied.
    #[error("the session root {} does not exist or is not a directory", .0.display())]
    RootMissing(PathBuf),
    #[error("cannot read {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("the index task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The file index over a store and a root. Clones share one lock (and one cache of what the
/// table holds), so a rescan and an apply never interleave.
#[derive(Clone)]
pub struct FileIndex {
    store: Store,
    root: Arc<PathBuf>,
    /// Dates the rows it writes (`seen_at`).
    clock: SharedClock,
    known: Arc<tokio::sync::Mutex<Option<Known>>>,
}

/// What the table holds, kept in memory after the first load (about 100 bytes a file), so
/// an unchanged rescan reads no rows: loading 100,000 rows through sqlx costs more than
/// walking 100,000 files. The index is the table's only writer; each rescan still checks
/// the table's count, bytes and newest mtime against this copy and reloads on a mismatch.
#[derive(Default)]
struct Known {
    stamps: HashMap<String, Stamp>,
}

#[derive(Debug, Clone, Copy)]
struct Stamp {
    size: u64,
    mtime: DateTime<Utc>,
    /// The stored hash was computed at this size and mtime.
    hash_current: bool,
}

impl Known {
    fn summary(&self) -> SessionFilesSummary {
        SessionFilesSummary {
            files: self.stamps.len() as u64,
            total_bytes: self.stamps.values().map(|s| s.size).sum(),
            newest_mtime: self.stamps.values().map(|s| s.mtime).max(),
        }
    }

    /// Whether a file with this stat needs hashing and writing: new, size or mtime moved,
    /// or its hash is not the hash of that size and mtime (never hashed, or unreadable
    /// last time). `Some(had_row)` when it does.
    fn needs_look(&self, o: &Observed) -> Option<bool> {
        match self.stamps.get(&o.rel) {
            None => Some(false),
            Some(s) if s.size != o.size || s.mtime != o.mtime || !s.hash_current => Some(true),
            Some(_) => None,
        }
    }
}

impl FileIndex {
    /// `root` is made absolute (not canonical: the watcher reports paths under the root
    /// as it was given, so both sides must spell it the same way); `clock` dates the rows.
    pub fn new(store: Store, root: impl AsRef<Path>, clock: SharedClock) -> FileIndex {
        let root = root.as_ref();
        let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
        FileIndex {
            store,
            root: Arc::new(root),
            clock,
            known: Default::default(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Walks the whole root and makes the table match it: new and changed files are
    /// (re)hashed and written, rows of vanished files deleted, unchanged files not touched.
    pub async fn rescan(&self) -> Result<ScanReport, IndexError> {
        let mut slot = self.known.lock().await;
        let started = std::time::Instant::now();
        let root = self.root.clone();
        let walk = tokio::task::spawn_blocking(move || walk(&root));
        let (walk, known) = tokio::join!(walk, self.known(&mut slot, true));
        let (walk, known) = (walk??, known?);
        let looked = started.elapsed();

        let mut report = ScanReport {
            seen: walk.files.len() as u64,
            ignored: walk.ignored,
            ..ScanReport::default()
        };
        let needs: Vec<Option<bool>> = walk.files.iter().map(|o| known.needs_look(o)).collect();
        let known_seen = needs.iter().filter(|n| *n != &Some(false)).count();
        // What the walk did not find is gone (and when every known file was found, nothing
        // is: no need to build a set of 100,000 paths to learn that).
        let gone: Vec<String> = if known_seen == known.stamps.len() {
            Vec::new()
        } else {
            let on_disk: HashSet<&str> = walk.files.iter().map(|o| o.rel.as_str()).collect();
            known
                .stamps
                .keys()
                .filter(|p| !on_disk.contains(p.as_str()))
                .cloned()
                .collect()
        };
        let to_hash = walk
            .files
            .into_iter()
            .zip(needs)
            .filter_map(|(o, had_row)| had_row.map(|h| (o, h)))
            .collect();
        self.write(&mut slot, to_hash, gone, &mut report).await?;
        tracing::debug!(
            ?report,
            walk_and_check_ms = looked.as_millis() as u64,
            total_ms = started.elapsed().as_millis() as u64,
            "session index rescan"
        );
        Ok(report)
    }

    /// Applies a batch from the watcher: each path is looked at again and its row made to
    /// match the file system. A `Rescan` anywhere in the batch means a full [`rescan`]
    /// (which covers the rest of the batch).
    ///
    /// [`rescan`]: FileIndex::rescan
    pub async fn apply(&self, changes: &[Change]) -> Result<ScanReport, IndexError> {
        if changes.iter().any(|c| matches!(c, Change::Rescan { .. })) {
            return self.rescan().await;
        }
        let mut slot = self.known.lock().await;
        let mut report = ScanReport::default();
        let mut seen_paths = HashSet::new();
        let mut targets = Vec::new();
        for change in changes {
            let path = match change {
                Change::Upsert(p) | Change::Remove(p) => p,
                Change::Rescan { .. } => continue,
            };
            if !seen_paths.insert(path.as_path()) {
                continue;
            }
            match session_path(&self.root, path) {
                Some(sp) => targets.push((sp, path.clone())),
                None => report.ignored += 1,
            }
        }
        if targets.is_empty() {
            return Ok(report);
        }
        let looked = tokio::task::spawn_blocking(move || {
            targets
                .into_iter()
                .map(|(sp, abs)| {
                    let look = look(&abs);
                    (sp, abs, look)
                })
                .collect::<Vec<_>>()
        })
        .await?;

        let known = self.known(&mut slot, false).await?;
        let mut to_hash = Vec::new();
        let mut gone = Vec::new();
        for (sp, abs, look) in looked {
            match look {
                Look::File { size, mtime } => {
                    report.seen += 1;
                    let o = Observed {
                        rel: sp.rel,
                        username: sp.username,
                        abs,
                        size,
                        mtime,
                    };
                    if let Some(had_row) = known.needs_look(&o) {
                        to_hash.push((o, had_row));
                    }
                }
                Look::NotSession | Look::Gone => {
                    if matches!(look, Look::NotSession) {
                        report.ignored += 1;
                    }
                    if known.stamps.contains_key(&sp.rel) {
                        gone.push(sp.rel);
                    }
                }
            }
        }
        self.write(&mut slot, to_hash, gone, &mut report).await?;
        Ok(report)
    }

    /// Every indexed file, in path order.
    pub async fn files(&self) -> Result<Vec<IndexedFile>, IndexError> {
        let mut rows = self.store.session_files().await?;
        rows.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        Ok(rows
            .into_iter()
            .map(|r| IndexedFile {
                path: r.path,
                username: r.username,
                size: r.size,
                mtime: r.mtime,
                file_hash: r.file_hash,
            })
            .collect())
    }

    /// Count, total bytes and newest mtime, for the pipeline status.
    pub async fn summary(&self) -> Result<IndexSummary, IndexError> {
        Ok(self.store.session_files_summary().await?)
    }

    /// Hashes and writes `to_hash` (file, whether it has a row) and deletes `gone` (rows
    /// known to exist). Updates the report's `new`, `changed`, `removed`, `hashed`.
    async fn write(
        &self,
        slot: &mut Option<Known>,
        to_hash: Vec<(Observed, bool)>,
        mut gone: Vec<String>,
        report: &mut ScanReport,
    ) -> Result<(), IndexError> {
        let mut rows = Vec::with_capacity(to_hash.len());
        if !to_hash.is_empty() {
            let paths: Vec<PathBuf> = to_hash.iter().map(|(o, _)| o.abs.clone()).collect();
            let hashes = tokio::task::spawn_blocking(move || hash_files(&paths)).await?;
            let now = from_ms(self.clock.now().timestamp_millis());
            for ((o, had_row), hash) in to_hash.into_iter().zip(hashes) {
                let hash = match hash {
                    Ok(h) => {
                        report.hashed += 1;
                        Some(h)
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        // Vanished between the stat and the read.
                        if had_row {
                            gone.push(o.rel);
                        }
                        continue;
                    }
                    Err(e) => {
                        // Unreadable for now: indexed unhashed, hashed again at the next look.
                        tracing::debug!(path = %o.abs.display(), error = %e, "cannot hash a session file");
                        None
                    }
                };
                if had_row {
                    report.changed += 1;
                } else {
                    report.new += 1;
                }
                // The size and mtime are those stat'ed before reading: a file appended to
                // while it was hashed looks changed at the next look, and is hashed again.
                rows.push(SessionFileRow {
                    path: o.rel,
                    username: o.username,
                    size: o.size,
                    mtime: o.mtime,
                    hashed_size: hash.as_ref().map(|_| o.size),
                    hashed_mtime: hash.as_ref().map(|_| o.mtime),
                    file_hash: hash,
                    seen_at: now,
                });
            }
        }
        report.removed += gone.len() as u64;
        if rows.is_empty() && gone.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.store.write_session_files(&rows, &gone).await {
            // Some transactions may have committed: the copy is reloaded at the next look.
            *slot = None;
            return Err(e.into());
        }
        if let Some(known) = slot {
            for r in rows {
                let stamp = Stamp {
                    size: r.size,
                    mtime: r.mtime,
                    hash_current: r.file_hash.is_some(),
                };
                known.stamps.insert(r.path, stamp);
            }
            for p in &gone {
                known.stamps.remove(p);
            }
        }
        Ok(())
    }

    /// The in-memory copy of the table, loaded when there is none, or (with `verify`) when
    /// the table's summary no longer matches it.
    async fn known<'k>(
        &self,
        slot: &'k mut Option<Known>,
        verify: bool,
    ) -> Result<&'k mut Known, IndexError> {
        let load = match slot.as_ref() {
            None => true,
            Some(_) if !verify => false,
            Some(known) => {
                let stored = self.store.session_files_summary().await?;
                let differs = stored != known.summary();
                if differs {
                    tracing::warn!(
                        ?stored,
                        "the session file table changed behind the index; reloading it"
                    );
                }
                differs
            }
        };
        if load {
            let stamps = self
                .store
                .session_file_stamps()
                .await?
                .into_iter()
                .map(|r| {
                    let stamp = Stamp {
                        size: r.size,
                        mtime: r.mtime,
                        hash_current: r.hash_current,
                    };
                    (r.path, stamp)
                })
                .collect();
            *slot = Some(Known { stamps });
        }
        Ok(slot.get_or_insert_with(Known::default))
    }
}

/// A session file found on disk, with the stat taken before any hashing.
struct Observed {
    rel: String,
    username: String,
    abs: PathBuf,
    size: u64,
    mtime: DateTime<Utc>,
}

enum Look {
    File {
        size: u64,
        mtime: DateTime<Utc>,
    },
    /// Not there (or not stat-able).
    Gone,
    /// There, but not a regular file, or a symlink, or in a symlinked user directory.
    NotSession,
}

fn mtime_of(meta: &std::fs::Metadata) -> DateTime<Utc> {
    let ms = match meta.modified() {
        Ok(t) => match t.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => d.as_millis() as i64,
            Err(e) => -(e.duration().as_millis() as i64),
        },
        Err(_) => 0,
    };
    from_ms(ms)
}

/// Looks at `abs` (a path that passed the naming rules) without following any symlink
/// below the root: its user directory must be a real directory and it a regular file.
fn look(abs: &Path) -> Look {
    let meta = match std::fs::symlink_metadata(abs) {
        Ok(m) => m,
        Err(_) => return Look::Gone,
    };
    let dir_is_real = abs
        .parent()
        .and_then(|d| std::fs::symlink_metadata(d).ok())
        .is_some_and(|m| m.file_type().is_dir());
    if !dir_is_real || !meta.file_type().is_file() {
        return Look::NotSession;
    }
    Look::File {
        size: meta.len(),
        mtime: mtime_of(&meta),
    }
}

struct Walk {
    files: Vec<Observed>,
    ignored: u64,
}

/// Lists `<root>/<user>/*.jsonl` with a stat each.
fn walk(root: &Path) -> Result<Walk, IndexError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| IndexError::Io { path, source }
    };
    match std::fs::metadata(root) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(IndexError::RootMissing(root.to_path_buf())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(IndexError::RootMissing(root.to_path_buf()))
        }
        Err(e) => return Err(io_err(root)(e)),
    }
    let mut out = Walk {
        files: Vec::new(),
        ignored: 0,
    };
    for entry in std::fs::read_dir(root).map_err(io_err(root))? {
        let entry = entry.map_err(io_err(root))?;
        let Some(user) = entry.file_name().to_str().map(str::to_owned) else {
            out.ignored += 1;
            continue;
        };
        let Ok(ft) = entry.file_type() else { continue };
        let dir = entry.path();
        // `file_type` does not follow a symlink: a linked user directory is not a directory
        // here, and is never listed.
        if !is_user_name(&user) || !ft.is_dir() {
            out.ignored += 1;
            continue;
        }
        // A user directory that vanished mid-walk, or that cannot be read, has no files
        // for this scan.
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str().filter(|n| is_session_name(n)) else {
                out.ignored += 1;
                continue;
            };
            let abs = entry.path();
            // One lstat (`DirEntry::metadata` does not follow a symlink either).
            let look = match entry.file_type() {
                Ok(ft) if ft.is_file() => match entry.metadata() {
                    Ok(m) if m.file_type().is_file() => Look::File {
                        size: m.len(),
                        mtime: mtime_of(&m),
                    },
                    Ok(_) => Look::NotSession,
                    Err(_) => Look::Gone,
                },
                Ok(_) => Look::NotSession,
                Err(_) => Look::Gone,
            };
            match look {
                Look::File { size, mtime } => out.files.push(Observed {
                    rel: format!("{user}/{name}"),
                    username: user.clone(),
                    abs,
                    size,
                    mtime,
                }),
                Look::NotSession => out.ignored += 1,
                Look::Gone => {}
            }
        }
    }
    Ok(out)
}

/// Components of a session file's path below the root: `<user>/<name>.jsonl`.
const SESSION_DEPTH: usize = 2;

/// Why [`open_no_follow`] or [`no_link_below_root`] refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum NoFollow {
    /// A symbolic link `up` levels above the file's path (0: the file itself, 1: its user
    /// directory).
    #[error("a symbolic link ({up} level(s) above the file): not followed")]
    Link { up: usize },
    #[error(transparent)]
    Io(io::Error),
}

/// `(device, inode)` of the directories on a path.
type DirIds = Vec<(u64, u64)>;

/// Looks at the last `below` components of `abs` (those below the root: 2 for a session
/// file), the top one first, without following anything: each directory must be a real
/// directory and the file a regular file. Answers the directories' identities.
pub fn no_link_below_root(abs: &Path, below: usize) -> Result<DirIds, NoFollow> {
    use std::os::unix::fs::MetadataExt;
    let mut ids = Vec::with_capacity(below.saturating_sub(1));
    for up in (1..below).rev() {
        let Some(dir) = abs.ancestors().nth(up) else {
            return Err(NoFollow::Io(io::Error::other("the path is too short")));
        };
        let meta = std::fs::symlink_metadata(dir).map_err(NoFollow::Io)?;
        if meta.file_type().is_symlink() {
            return Err(NoFollow::Link { up });
        }
        if !meta.is_dir() {
            return Err(NoFollow::Io(io::Error::other(format!(
                "{} is not a directory",
                dir.display()
            ))));
        }
        ids.push((meta.dev(), meta.ino()));
    }
    let meta = std::fs::symlink_metadata(abs).map_err(NoFollow::Io)?;
    if meta.file_type().is_symlink() {
        return Err(NoFollow::Link { up: 0 });
    }
    if !meta.is_file() {
        return Err(NoFollow::Io(io::Error::other("not a regular file")));
    }
    Ok(ids)
}

/// Opens the file `abs`, whose last `below` components are below the root, for reading
/// without following a symbolic link below the root (the root itself, and what is above
/// it, are followed as configured).
///
/// The file is opened with `O_NOFOLLOW` (a link swapped in after any earlier look fails
/// the open itself) and `O_NONBLOCK` (a FIFO swapped in cannot hang it), and must be a
/// regular file. `O_NOFOLLOW` covers the last component only, so the directories are
/// looked at before and after the open and must be the same real directories: a
/// directory swapped for a link during the open is refused. What remains is a swap to a
/// link and back between those two looks; closing that needs `openat` on each component,
/// which std does not offer without `unsafe`.
pub fn open_no_follow(abs: &Path, below: usize) -> Result<std::fs::File, NoFollow> {
    use std::os::unix::fs::OpenOptionsExt;
    let before = no_link_below_root(abs, below)?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(abs)
        .map_err(|e| match e.raw_os_error() {
            Some(nix::libc::ELOOP) => NoFollow::Link { up: 0 },
            _ => NoFollow::Io(e),
        })?;
    if !file.metadata().map_err(NoFollow::Io)?.is_file() {
        return Err(NoFollow::Io(io::Error::other("not a regular file")));
    }
    let after = no_link_below_root(abs, below)?;
    if after != before {
        return Err(NoFollow::Io(io::Error::other(
            "a directory on its path was replaced while it was opened",
        )));
    }
    Ok(file)
}

const HASH_CHUNK: usize = 64 * 1024;

/// BLAKE3 of a session file, read in 64 KiB chunks into `buf` (never the whole file in
/// memory), never through a symbolic link: a link swapped in after the look is no session
/// file, so it reads as gone.
fn hash_file(path: &Path, buf: &mut [u8]) -> io::Result<String> {
    let mut file = match open_no_follow(path, SESSION_DEPTH) {
        Ok(file) => file,
        Err(NoFollow::Io(e)) => return Err(e),
        Err(NoFollow::Link { .. }) => {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "a symbolic link: not followed",
            ))
        }
    };
    let mut hasher = blake3::Hasher::new();
    loop {
        match file.read(buf) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buf[..n]);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(hasher.finalize().to_hex().to_string())
}

/// Hashes `paths` on up to as many threads as there are cores; results in input order.
fn hash_files(paths: &[PathBuf]) -> Vec<io::Result<String>> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Threads only pay off for more than a handful of files.
    let threads = cores.min(paths.len().div_ceil(64)).max(1);
    let per_thread = paths.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let workers: Vec<_> = paths
            .chunks(per_thread)
            .map(|chunk| {
                let worker = s.spawn(move || {
                    let mut buf = vec![0u8; HASH_CHUNK];
                    chunk
                        .iter()
                        .map(|p| hash_file(p, &mut buf))
                        .collect::<Vec<_>>()
                });
                (chunk.len(), worker)
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|(n, w)| {
                w.join().unwrap_or_else(|_| {
                    (0..n)
                        .map(|_| Err(io::Error::other("hashing thread panicked")))
                        .collect()
                })
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sessions::layout::user_dir;

    fn rel(root: &str, path: &str) -> Option<String> {
        session_path(Path::new(root), Path::new(path)).map(|s| s.rel)
    }

    #[test]
    fn a_session_file_is_a_jsonl_file_directly_in_a_user_directory() {
        assert_eq!(
            rel("/r", "/r/u/a.jsonl").as_deref(),
            Some("u/a.jsonl"),
            "<root>/<user>/<name>.jsonl is the one shape"
        );
        let sp = session_path(Path::new("/r"), Path::new("/r/alice/s 1.jsonl")).unwrap();
        assert_eq!(sp.username, "alice", "the user is the first component");
        assert_eq!(sp.rel, "alice/s 1.jsonl", "names keep their spaces");
    }

    #[test]
    fn other_depths_names_and_places_are_not_session_files() {
        for (path, why) in [
            ("/r/a.jsonl", "a file directly in the root has no user"),
            (
                "/r/u/sub/a.jsonl",
                "files in subdirectories of a user are not sessions",
            ),
            ("/r/u/a.jsonl.tmp", "a writer's temporary file"),
            ("/r/u/a.tmp", "not jsonl"),
            ("/r/u/.a.jsonl", "a dotfile (often a temporary one)"),
            ("/r/.u/a.jsonl", "a hidden user directory"),
            ("/r/u/.jsonl", "no stem"),
            ("/r/u/a.json", "json is not jsonl"),
            ("/r/u/a.jsonl~", "an editor's backup"),
            ("/r/u/#a.jsonl#", "an editor's autosave"),
            ("/elsewhere/u/a.jsonl", "outside the root"),
            ("/r/u/../v/a.jsonl", "not a normal path under the root"),
            ("/r", "the root itself"),
            ("/r/u", "a user directory"),
        ] {
            assert_eq!(rel("/r", path), None, "{path}: {why}");
        }
    }

    #[test]
    fn user_directories_are_direct_children_of_the_root_that_are_not_hidden() {
        let root = Path::new("/r");
        assert_eq!(user_dir(root, Path::new("/r/u")).as_deref(), Some("u"));
        assert_eq!(user_dir(root, Path::new("/r/.cache")), None, "hidden");
        assert_eq!(user_dir(root, Path::new("/r/u/x")), None, "too deep");
        assert_eq!(user_dir(root, Path::new("/r")), None, "the root");
    }

    #[test]
    fn hashing_streams_and_matches_blake3_of_the_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        // More than two chunks, not a multiple of the chunk size.
        let content: Vec<u8> = (0..(HASH_CHUNK * 2 + 123))
            .map(|i| (i % 251) as u8)
            .collect();
        std::fs::write(&path, &content).unwrap();
        let mut buf = vec![0u8; HASH_CHUNK];
        assert_eq!(
            hash_file(&path, &mut buf).unwrap(),
            blake3::hash(&content).to_hex().to_string(),
            "chunked hashing must equal hashing the whole content"
        );
        let many: Vec<PathBuf> = (0..200).map(|_| path.clone()).collect();
        let missing = dir.path().join("missing");
        let mut with_missing = many.clone();
        with_missing.insert(100, missing);
        let results = hash_files(&with_missing);
        assert_eq!(results.len(), 201, "one result per path, in order");
        assert!(
            results[100]
                .as_ref()
                .is_err_and(|e| e.kind() == io::ErrorKind::NotFound),
            "the missing file's result stays at its index"
        );
        assert!(results[99].is_ok() && results[101].is_ok());
    }
}
