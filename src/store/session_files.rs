//! The session file index table (`session_files`): one row per `<root>/<user>/*.jsonl`.
//!
//! Owns: the SQL. Reads return whole rows; writes come in batches, several hundred rows
//! per statement and at most [`ROWS_PER_TRANSACTION`] rows per transaction, so an initial
//! scan of 100,000 files is a few hundred statements, not 100,000.
//! Does not own: deciding which rows changed or hashing (`sessions::index` does both).

use super::{from_ms, ms, Store, StoreError};
use chrono::{DateTime, Utc};
use sqlx::Row;

/// Rows written per transaction: big enough to amortise the commit, small enough that a
/// long initial scan never holds the write lock for long.
pub(crate) const ROWS_PER_TRANSACTION: usize = 1_000;

/// Rows per multi-row statement: 8 bound parameters each, far below SQLite's limit.
const ROWS_PER_STATEMENT: usize = 500;

/// One stored row of `session_files`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionFileRow {
    /// Relative to the root, '/'-separated: `"<user>/<name>.jsonl"`.
    pub path: String,
    pub username: String,
    pub size: u64,
    /// Millisecond precision (the stored unit).
    pub mtime: DateTime<Utc>,
    /// Hex content hash; `None` until hashed.
    pub file_hash: Option<String>,
    /// The size and mtime the file had when it was last hashed (stat'ed before reading,
    /// so a file appended to while it was hashed looks changed at the next look).
    pub hashed_size: Option<u64>,
    pub hashed_mtime: Option<DateTime<Utc>>,
    /// When this row was last written (the file was new or had changed).
    pub seen_at: DateTime<Utc>,
}

/// What a rescan compares a file's stat against: the row's size and mtime, and whether its
/// hash was computed at exactly that size and mtime. No text beyond the path, so loading
/// every row stays cheap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionFileStamp {
    pub path: String,
    pub size: u64,
    pub mtime: DateTime<Utc>,
    /// The hash is present and was computed at this size and mtime.
    pub hash_current: bool,
}

/// Count, bytes and newest mtime over all indexed files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SessionFilesSummary {
    pub files: u64,
    pub total_bytes: u64,
    pub newest_mtime: Option<DateTime<Utc>>,
}

fn row_from(r: &sqlx::sqlite::SqliteRow) -> Result<SessionFileRow, sqlx::Error> {
    Ok(SessionFileRow {
        path: r.try_get("path")?,
        username: r.try_get("username")?,
        size: r.try_get::<i64, _>("size")?.max(0) as u64,
        mtime: from_ms(r.try_get("mtime")?),
        file_hash: r.try_get("file_hash")?,
        hashed_size: r
            .try_get::<Option<i64>, _>("hashed_size")?
            .map(|s| s.max(0) as u64),
        hashed_mtime: r.try_get::<Option<i64>, _>("hashed_mtime")?.map(from_ms),
        seen_at: from_ms(r.try_get("seen_at")?),
    })
}

fn stamp_from(r: &sqlx::sqlite::SqliteRow) -> Result<SessionFileStamp, sqlx::Error> {
    Ok(SessionFileStamp {
        path: r.try_get(0)?,
        size: r.try_get::<i64, _>(1)?.max(0) as u64,
        mtime: from_ms(r.try_get(2)?),
        hash_current: r.try_get(3)?,
    })
}

const STAMP_COLUMNS: &str = "path, size, mtime, \
     (file_hash IS NOT NULL AND hashed_size IS size AND hashed_mtime IS mtime)";

const COLUMNS: &str = "path, username, size, mtime, file_hash, hashed_size, hashed_mtime, seen_at";

impl Store {
    /// Every row, in no particular order.
    pub async fn session_files(&self) -> Result<Vec<SessionFileRow>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM session_files"))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(row_from).collect::<Result<_, _>>()?)
    }

    /// The stamp of every row, in no particular order.
    pub async fn session_file_stamps(&self) -> Result<Vec<SessionFileStamp>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {STAMP_COLUMNS} FROM session_files"))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(stamp_from).collect::<Result<_, _>>()?)
    }

    /// The `limit` newest files (by mtime), newest first.
    pub async fn session_files_recent(
        &self,
        limit: u32,
    ) -> Result<Vec<SessionFileRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM session_files ORDER BY mtime DESC, path LIMIT ?"
        ))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(row_from).collect::<Result<_, _>>()?)
    }

    /// Inserts or replaces `upserts` (by path) and deletes `removes`, at most
    /// [`ROWS_PER_TRANSACTION`] rows per transaction.
    pub async fn write_session_files(
        &self,
        upserts: &[SessionFileRow],
        removes: &[String],
    ) -> Result<(), StoreError> {
        self.observe(self.write_session_files_once(upserts, removes).await)
    }

    async fn write_session_files_once(
        &self,
        upserts: &[SessionFileRow],
        removes: &[String],
    ) -> Result<(), StoreError> {
        for batch in upserts.chunks(ROWS_PER_TRANSACTION) {
            let mut tx = self.pool.begin().await?;
            for chunk in batch.chunks(ROWS_PER_STATEMENT) {
                let mut q =
                    sqlx::QueryBuilder::new(format!("INSERT INTO session_files ({COLUMNS}) "));
                q.push_values(chunk, |mut b, r| {
                    b.push_bind(&r.path)
                        .push_bind(&r.username)
                        .push_bind(r.size as i64)
                        .push_bind(ms(r.mtime))
                        .push_bind(&r.file_hash)
                        .push_bind(r.hashed_size.map(|s| s as i64))
                        .push_bind(r.hashed_mtime.map(ms))
                        .push_bind(ms(r.seen_at));
                });
                q.push(
                    " ON CONFLICT(path) DO UPDATE SET username = excluded.username, \
                     size = excluded.size, mtime = excluded.mtime, \
                     file_hash = excluded.file_hash, hashed_size = excluded.hashed_size, \
                     hashed_mtime = excluded.hashed_mtime, seen_at = excluded.seen_at",
                );
                q.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
        }
        for batch in removes.chunks(ROWS_PER_TRANSACTION) {
            let mut tx = self.pool.begin().await?;
            for chunk in batch.chunks(ROWS_PER_STATEMENT) {
                let mut q = sqlx::QueryBuilder::new("DELETE FROM session_files WHERE path IN (");
                let mut list = q.separated(", ");
                for p in chunk {
                    list.push_bind(p);
                }
                q.push(")");
                q.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }

    /// Count, total bytes and newest mtime of the indexed files.
    pub async fn session_files_summary(&self) -> Result<SessionFilesSummary, StoreError> {
        let r = sqlx::query(
            "SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes, MAX(mtime) AS newest \
             FROM session_files",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(SessionFilesSummary {
            files: r.try_get::<i64, _>("n")?.max(0) as u64,
            total_bytes: r.try_get::<i64, _>("bytes")?.max(0) as u64,
            newest_mtime: r.try_get::<Option<i64>, _>("newest")?.map(from_ms),
        })
    }
}
