//! Whether the database can be written right now.
//!
//! Owns: the judgement of which errors mean "the storage is unavailable" (disk or database
//! full, I/O error, read-only or unopenable file, corruption) as opposed to a problem with
//! one statement, and the record of the current outage: its last error, when it began, how
//! many writes failed. Every write path of [`Store`](super::Store) reports its outcome here,
//! with the time it happened (the store's clock); the first write that succeeds ends the
//! outage.
//! Does not own: retrying. Writers keep what they could not write and try again (the
//! recorder its batch, the intake its timeline queue); the engine pushes the status.

use super::StoreError;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde::Serialize;

/// Primary SQLite result codes that say the file cannot take writes now.
const SQLITE_READONLY: i32 = 8;
const SQLITE_IOERR: i32 = 10;
const SQLITE_CORRUPT: i32 = 11;
const SQLITE_FULL: i32 = 13;
const SQLITE_CANTOPEN: i32 = 14;
const SQLITE_NOTADB: i32 = 26;

/// `storage` in `GET /api/status`. The default is a healthy store with no history.
#[derive(Debug, Clone, Serialize, PartialEq, ts_rs::TS)]
pub struct StorageView {
    /// The last write succeeded (or nothing has failed yet).
    pub ok: bool,
    /// SQLite's words for the current outage's last failure, e.g. "database or disk is full".
    pub error: Option<String>,
    /// When the current outage began.
    pub since: Option<DateTime<Utc>>,
    /// Writes that failed for a storage reason since start (every retry counts).
    pub failed_writes: u64,
    /// Outages since start.
    pub outages: u64,
    /// When the last outage ended.
    pub recovered_at: Option<DateTime<Utc>>,
    /// Timeline events accepted and held in memory until they can be written.
    pub unwritten_events: usize,
    /// Probe samples the recorder gave up on during outages (its backlog is bounded).
    pub dropped_samples: u64,
}

impl Default for StorageView {
    fn default() -> StorageView {
        StorageView {
            ok: true,
            error: None,
            since: None,
            failed_writes: 0,
            outages: 0,
            recovered_at: None,
            unwritten_events: 0,
            dropped_samples: 0,
        }
    }
}

#[derive(Debug, Default)]
pub struct StorageHealth {
    state: Mutex<StorageView>,
}

impl StorageHealth {
    pub(super) fn new() -> StorageHealth {
        StorageHealth::default()
    }

    /// Notes a write's outcome, which happened at `now`, and hands it back unchanged.
    pub(super) fn observe<T>(
        &self,
        result: Result<T, StoreError>,
        now: DateTime<Utc>,
    ) -> Result<T, StoreError> {
        match &result {
            Ok(_) => self.succeeded(now),
            Err(e) => {
                if let Some(why) = e.unavailable() {
                    self.failed(why, now);
                }
            }
        }
        result
    }

    fn succeeded(&self, now: DateTime<Utc>) {
        let mut s = self.state.lock();
        if !s.ok {
            s.ok = true;
            s.error = None;
            s.since = None;
            s.recovered_at = Some(now);
            tracing::warn!(
                failed_writes = s.failed_writes,
                "storage: writes succeed again"
            );
        }
    }

    fn failed(&self, why: String, now: DateTime<Utc>) {
        let mut s = self.state.lock();
        s.failed_writes += 1;
        if s.ok {
            s.ok = false;
            s.since = Some(now);
            s.outages += 1;
            tracing::error!(error = %why, "storage: the database cannot be written; holding what can be held and retrying");
        }
        s.error = Some(why);
    }

    pub fn is_ok(&self) -> bool {
        self.state.lock().ok
    }

    /// The current error, when writes fail.
    pub fn error(&self) -> Option<String> {
        let s = self.state.lock();
        (!s.ok).then(|| s.error.clone().unwrap_or_default())
    }

    pub fn view(&self) -> StorageView {
        self.state.lock().clone()
    }

    /// Counts probe samples dropped from a backlog that could not be written.
    pub fn dropped_samples(&self, n: u64) {
        self.state.lock().dropped_samples += n;
    }
}

impl StoreError {
    /// `Some(SQLite's message)` when this error means the database cannot be written now
    /// (disk full, I/O error, …), `None` for an error of one statement or value.
    pub fn unavailable(&self) -> Option<String> {
        match self {
            StoreError::Unavailable(why) => Some(why.clone()),
            StoreError::Db(sqlx::Error::Database(d)) => {
                let code: i32 = d.code()?.parse().ok()?;
                matches!(
                    code & 0xff,
                    SQLITE_READONLY
                        | SQLITE_IOERR
                        | SQLITE_CORRUPT
                        | SQLITE_FULL
                        | SQLITE_CANTOPEN
                        | SQLITE_NOTADB
                )
                .then(|| d.message().to_owned())
            }
            StoreError::Db(sqlx::Error::Io(e)) => Some(e.to_string()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn full() -> StoreError {
        StoreError::Unavailable("database or disk is full".into())
    }

    fn at(secs: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 27, 12, 0, secs).unwrap()
    }

    #[test]
    fn a_storage_failure_starts_an_outage_and_a_success_ends_it() {
        let h = StorageHealth::new();
        assert!(h.is_ok(), "nothing failed yet");
        assert!(h.observe::<()>(Err(full()), at(1)).is_err(), "handed back");
        assert!(h.observe::<()>(Err(full()), at(2)).is_err());
        let v = h.view();
        assert!(!v.ok);
        assert_eq!(v.error.as_deref(), Some("database or disk is full"));
        assert_eq!(
            v.since,
            Some(at(1)),
            "the outage began with its first failure"
        );
        assert_eq!(
            (v.failed_writes, v.outages),
            (2, 1),
            "one outage, two failures"
        );

        assert!(h.observe(Ok(()), at(3)).is_ok());
        let v = h.view();
        assert!(v.ok, "the first good write ends the outage");
        assert_eq!((v.error, v.since), (None, None));
        assert_eq!(v.recovered_at, Some(at(3)));
        assert_eq!(v.failed_writes, 2, "the count is kept");
    }

    #[test]
    fn an_error_of_one_statement_is_not_a_storage_outage() {
        let h = StorageHealth::new();
        let corrupt_value = serde_json::from_str::<u8>("x").unwrap_err();
        assert!(h
            .observe::<()>(Err(StoreError::Corrupt(corrupt_value)), at(1))
            .is_err());
        assert!(h
            .observe::<()>(Err(StoreError::Db(sqlx::Error::RowNotFound)), at(2))
            .is_err());
        assert!(h.is_ok());
        assert_eq!(h.view().failed_writes, 0);
    }
}
