//! SQLite persistence: one pool, WAL, forward-only migrations from `migrations/`.
//!
//! Owns: the database file and every query (one file per table group: `probes` for
//! breaker state and probe history, `events` for the timeline, `settings` for the few
//! switches that survive a restart, `proposals` and `executions` for plans and their
//! audit, `session_files` for the session index, `session_state` for what processors
//! did with each file, their runs and the usage they extracted). Writes of probe results
//! are batched by the caller into one transaction per flush (`Store::write_batch`).
//! Does not own: what to store or when (the engine decides).

mod events;
mod executions;
mod probes;
mod proposals;
mod session_files;
mod session_state;
mod settings;

pub use executions::Execution;
pub use probes::{Batch, HourlyRow, Sample};
pub use proposals::{DUE_PROPOSALS_SQL, PRUNABLE_PROPOSALS_SQL};
pub use session_files::{SessionFileRow, SessionFileStamp, SessionFilesSummary};
pub use session_state::{DueFile, FileState, FileUsageRow, ProcessorRun, UsageBy, UsageTotals};

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
    #[error("cannot create the data directory {path}: {source}")]
    Dir {
        path: String,
        source: std::io::Error,
    },
}

#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    stats: std::sync::Arc<WriteStats>,
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

impl Store {
    /// Opens (creating when needed) the database file and migrates it.
    pub async fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let opts = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Store {
            pool,
            stats: Default::default(),
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
}
