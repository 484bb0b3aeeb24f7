//! SQLite persistence: one pool, WAL, forward-only migrations from `migrations/`.
//!
//! Owns: the database file and every query (one file per table group: `probes` for
//! breaker state and probe history, `events` for the timeline, `settings` for the few
//! switches that survive a restart, `proposals` and `executions` for plans and their
//! audit, `session_files` for the session index, `session_state` for what processors
//! did with each file, their runs and the usage they extracted, `alerts` for what is known
//! per Alertmanager alert). Writes of probe results
//! are batched by the caller into one transaction per flush (`Store::write_batch`).
//! Every write reports its outcome to `health` (`StorageHealth`): whether the disk takes
//! writes now, read by the status. The times the store stamps by itself (a breaker state's
//! `updated_at`, an outage's start and end, the writability check) come from the
//! [`SharedClock`] it was opened with. A connection left inside a transaction by a failed
//! COMMIT (SQLite may roll back by itself on a full disk) is closed, not reused.
//! Does not own: what to store or when (the engine decides).

mod alerts;
mod events;
mod executions;
mod health;
pub mod lock;
mod permissions;
mod probes;
mod proposals;
mod session_files;
mod session_state;
mod settings;

pub use executions::Execution;
pub use health::{StorageHealth, StorageView};
pub use permissions::{private_dir, private_file};
pub use probes::{Batch, HourlyRow, Sample};
pub use proposals::{DUE_PROPOSALS_SQL, PRUNABLE_PROPOSALS_SQL};
pub use session_files::{SessionFileRow, SessionFileStamp, SessionFilesSummary};
pub use session_state::{DueFile, FileState, FileUsageRow, ProcessorRun, UsageBy, UsageTotals};

use crate::clock::SharedClock;
use chrono::{DateTime, TimeZone, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("corrupt stored value: {0}")]
    Corrupt(#[from] serde_json::Error),
    /// The database is known not to take writes now (see `StorageHealth`).
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("cannot create the data directory {path}: {source}")]
    Dir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot make {path} private (0600): {source}")]
    Private {
        path: String,
        source: std::io::Error,
    },
}

#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    stats: std::sync::Arc<WriteStats>,
    health: std::sync::Arc<StorageHealth>,
    clock: SharedClock,
}

/// Counters of what `write_batch` did, to show (and test) that writes are batched.
#[derive(Debug, Default)]
pub struct WriteStats {
    pub transactions: std::sync::atomic::AtomicU64,
    pub samples: std::sync::atomic::AtomicU64,
}

pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// Creates the database file empty and 0600 before SQLite opens it (SQLite would create it
/// with the process umask, usually 0644); an existing one of ours is tightened to 0600.
fn create_private_database(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => private_file(path),
        Err(e) => Err(e),
    }
}

impl Store {
    /// Opens (creating when needed) the database file and migrates it. The directory is
    /// made 0700 and the database 0600 (see [`private_dir`]). `clock` stamps what the store
    /// records on its own account (see the module doc).
    pub async fn open(path: &Path, clock: SharedClock) -> Result<Store, StoreError> {
        let private_error = |p: &Path, source| StoreError::Private {
            path: p.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            private_dir(dir).map_err(|source| StoreError::Dir {
                path: dir.display().to_string(),
                source,
            })?;
        }
        create_private_database(path).map_err(|e| private_error(path, e))?;
        let opts = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            // sqlx keeps its own transaction depth; after a COMMIT that failed (disk full)
            // it can disagree with SQLite's and the next `begin` would nest in a stale
            // transaction forever. Such a connection is closed; the pool opens a fresh one.
            .before_acquire(|conn, _| {
                use sqlx::Connection;
                let clean = !conn.is_in_transaction();
                Box::pin(async move { Ok(clean) })
            })
            .connect_with(opts)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        // SQLite creates `-wal` and `-shm` with the database file's mode, so these are 0600
        // already; ones left by an older Steward (0644) are tightened here.
        for suffix in ["-wal", "-shm"] {
            let mut side = path.as_os_str().to_owned();
            side.push(suffix);
            private_file(Path::new(&side)).map_err(|e| private_error(Path::new(&side), e))?;
        }
        Ok(Store {
            pool,
            stats: Default::default(),
            health: std::sync::Arc::new(StorageHealth::new()),
            clock,
        })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// `(transactions, samples)` written by `write_batch` since open.
    pub fn write_stats(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.stats.transactions.load(Relaxed),
            self.stats.samples.load(Relaxed),
        )
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Whether writes succeed now; every write path reports here.
    pub fn health(&self) -> &StorageHealth {
        &self.health
    }

    /// Notes a write's outcome in [`StorageHealth`] at the clock's now and hands it back.
    pub(crate) fn observe<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        self.health.observe(result, self.clock.now())
    }

    /// A write of one small row, to learn whether the disk takes writes again when nothing
    /// else is waiting to be written.
    pub async fn check_writable(&self) -> Result<(), StoreError> {
        self.set_setting("storage_checked_at", Some(&self.clock.now().to_rfc3339()))
            .await
    }
}
