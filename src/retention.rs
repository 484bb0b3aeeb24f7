//! Retention: how long decided work and its traces are kept (`[store] keep`, 90 days).
//!
//! Owns: `prune`, run by the engine's `retain` task (at start, then hourly) and by
//! `Api::prune_history`. With `cutoff = now - keep` it deletes decided proposals (a
//! terminal status, `execute::state::Status::is_terminal`) last updated before the cutoff
//! with their audit rows and action files (`<actions_dir>/<id>.json` and
//! `<actions_dir>/claimed/<id>.json`), timeline events before the cutoff, ended cooldown
//! rows, what is known of Alertmanager alerts last heard of before the cutoff, and the
//! event files' date folders (`<events_dir>/YYYY-MM-DD/`) whose whole day is before the
//! cutoff. The choice of folders is pure (`expired_day`).
//! Never: drops a pending, approved or running proposal (nor the day folders from the
//! oldest of them on), or follows a symlink while deleting (a linked folder or file is
//! left alone, or only the link itself is removed).
//! Does not own: the probe history's retention (`[probe] raw_retention`, in `engine`).

use crate::context::Context;
use crate::store::StoreError;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What one pass deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct Pruned {
    pub proposals: usize,
    pub executions: u64,
    pub action_files: usize,
    pub events: u64,
    pub event_dirs: usize,
    pub cooldowns: u64,
    /// Alertmanager alerts last heard of before the cutoff (`store::alerts`).
    pub alerts: u64,
}

impl Pruned {
    pub fn is_empty(&self) -> bool {
        *self == Pruned::default()
    }
}

/// Whether the event folder `name` (`YYYY-MM-DD`, a UTC day) lies wholly before `cutoff`.
/// Anything else (another name, a day that touches the cutoff) is kept.
pub fn expired_day(name: &str, cutoff: DateTime<Utc>) -> bool {
    if name.len() != 10 {
        return false;
    }
    let Ok(day) = NaiveDate::parse_from_str(name, "%Y-%m-%d") else {
        return false;
    };
    day.succ_opt()
        .and_then(|next| next.and_hms_opt(0, 0, 0))
        .is_some_and(|end| end.and_utc() <= cutoff)
}

/// The statuses nothing follows: the only ones retention deletes.
fn terminal_statuses() -> Vec<&'static str> {
    crate::execute::state::ALL
        .iter()
        .filter(|s| s.is_terminal())
        .map(|s| s.as_str())
        .collect()
}

/// One retention pass at `now` (see the module docs).
pub async fn prune(ctx: &Context, now: DateTime<Utc>) -> Result<Pruned, StoreError> {
    // Events accepted before this pass are written first, so the pass applies to them too
    // (an old one written after it would outlive `keep` until the next pass).
    ctx.outbox.write_held().await;
    let config = ctx.config();
    let keep = chrono::Duration::from_std(config.store.keep)
        .unwrap_or_else(|_| chrono::Duration::days(90));
    let cutoff = now - keep;
    let store = &ctx.store;
    let terminal = terminal_statuses();
    let (ids, executions) = store.prune_decided_proposals(&terminal, cutoff).await?;
    let events = store.prune_events(cutoff).await?;
    let cooldowns = store.prune_cooldowns(now).await?;
    let alerts = store.prune_alerts(cutoff).await?;
    // A day folder may hold the `remediation_started` file of work still open: keep the
    // folders from the oldest open proposal's day on, whatever `keep` says.
    let open = store.oldest_open_proposal(&terminal).await?;
    let files_cutoff = open.map_or(cutoff, |at| at.min(cutoff));
    let actions = ctx.actions_dir();
    let events_dir = ctx.events_dir();
    let proposals = ids.len();
    let (action_files, event_dirs) = tokio::task::spawn_blocking(move || {
        (
            remove_action_files(&actions, &ids),
            remove_old_days(&events_dir, files_cutoff),
        )
    })
    .await
    .unwrap_or_default();
    Ok(Pruned {
        proposals,
        executions,
        action_files,
        events,
        event_dirs,
        cooldowns,
        alerts,
    })
}

/// An action id is a file name of ours only when it cannot name another place.
fn is_plain_name(id: &str) -> bool {
    !id.is_empty() && !id.starts_with('.') && !id.contains(['/', '\\', '\0'])
}

/// Removes `<dir>/<id>.json` and `<dir>/claimed/<id>.json` for each id. A symlink is
/// removed as a link (its target is untouched); a directory under that name is left.
fn remove_action_files(dir: &Path, ids: &[String]) -> usize {
    let mut removed = 0;
    for id in ids.iter().filter(|id| is_plain_name(id)) {
        let name = format!("{id}.json");
        for path in [dir.join(&name), dir.join("claimed").join(&name)] {
            match std::fs::symlink_metadata(&path) {
                Ok(m) if !m.is_dir() => match std::fs::remove_file(&path) {
                    Ok(()) => removed += 1,
                    Err(e) => tracing::warn!(path = %path.display(), error = %e,
                                             "cannot remove an old action file"),
                },
                Ok(_) => tracing::warn!(path = %path.display(),
                                        "an action file's name is a directory; left alone"),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(path = %path.display(), error = %e,
                                         "cannot check an old action file"),
            }
        }
    }
    removed
}

/// Removes the date folders of `events_dir` whose day is wholly before `cutoff`. Only
/// real directories: a symlinked day is left (and said); inside a folder nothing is
/// followed (`remove_dir_all` removes links, not their targets).
fn remove_old_days(events_dir: &Path, cutoff: DateTime<Utc>) -> usize {
    let Ok(entries) = std::fs::read_dir(events_dir) else {
        return 0;
    };
    let old: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| expired_day(n, cutoff))
        })
        .map(|e| e.path())
        .collect();
    let mut removed = 0;
    for path in old {
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_dir() => match std::fs::remove_dir_all(&path) {
                Ok(()) => removed += 1,
                Err(e) => tracing::warn!(path = %path.display(), error = %e,
                                         "cannot remove an old event folder"),
            },
            Ok(_) => tracing::warn!(path = %path.display(),
                                    "an old event folder is not a plain directory; left alone"),
            Err(_) => {}
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_day_folder_goes_once_its_whole_day_is_before_the_cutoff() {
        let cutoff = Utc.with_ymd_and_hms(2026, 3, 10, 12, 0, 0).unwrap();
        assert!(
            expired_day("2026-03-09", cutoff),
            "ended at midnight, before noon"
        );
        assert!(
            !expired_day("2026-03-10", cutoff),
            "half of it is after the cutoff"
        );
        assert!(!expired_day("2026-03-11", cutoff));
        let midnight = Utc.with_ymd_and_hms(2026, 3, 10, 0, 0, 0).unwrap();
        assert!(expired_day("2026-03-09", midnight));
        for odd in ["claimed", "2026-3-9", "2026-03-09x", "..", "", "2026-02-30"] {
            assert!(!expired_day(odd, cutoff), "{odd:?} is not a day folder");
        }
    }

    #[test]
    fn only_terminal_statuses_are_pruned() {
        let t = terminal_statuses();
        for open in ["pending", "approved", "running", "succeeded"] {
            assert!(!t.contains(&open), "{open} is never deleted");
        }
        for done in ["rejected", "expired", "failed", "resolved", "interrupted"] {
            assert!(t.contains(&done), "{done} is decided");
        }
    }

    #[test]
    fn an_action_id_never_names_another_place() {
        assert!(is_plain_name("plan-piha-mosquitto-1700000000"));
        for bad in ["", ".hidden", "../x", "a/b", "a\\b"] {
            assert!(!is_plain_name(bad), "{bad:?}");
        }
    }
}
