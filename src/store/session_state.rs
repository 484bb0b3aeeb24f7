//! Session processing: per processor and file (`session_processor_state`), per processor
//! (`session_processors`: the last run), the usage processor's results (`session_usage*`),
//! and the inputs of the pipeline status.
//!
//! Reads `session_files` (the index, written by the watcher) but never writes it. Every
//! query that walks the files is one SQL statement over the index, so it stays fast at
//! 100,000 files: the join goes through `session_processor_state`'s primary key.

use super::{from_ms, ms, Store, StoreError};
use crate::sessions::records::{FileUsage, ProcessorOutcome, Tokens};
use crate::sessions::status::{FileAt, PipelineInput, ProcessorProgress, Unprocessed};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;
use std::time::Duration;

/// Longest error text kept in a state or bookkeeping row.
const MAX_ERROR_CHARS: usize = 2_000;

/// An indexed session file, as a processor run sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueFile {
    /// Relative to the root: `<user>/<name>.jsonl`.
    pub path: String,
    pub username: String,
    pub size: u64,
    pub mtime: DateTime<Utc>,
    pub file_hash: Option<String>,
}

/// One processor's state for one file (the seed's `session_processor_state` row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileState {
    pub processor: String,
    pub session_file: String,
    pub username: String,
    pub processed_at: Option<DateTime<Utc>>,
    pub items_extracted: u64,
    pub file_hash: Option<String>,
    pub file_mtime: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
}

/// A processor's last run, as persisted.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ProcessorRun {
    pub processor: String,
    pub last_run_started_at: Option<DateTime<Utc>>,
    pub last_run_finished_at: Option<DateTime<Utc>>,
    pub last_outcome: Option<ProcessorOutcome>,
    pub last_error: Option<String>,
    pub files_processed: u64,
    pub files_failed: u64,
}

/// What the usage processor stored for one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileUsageRow {
    pub session_file: String,
    pub username: String,
    pub records: u64,
    pub malformed: u64,
    pub partial_tail: u64,
    pub processed_at: DateTime<Utc>,
}

/// Usage summed over every file.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct UsageTotals {
    pub files: u64,
    pub records: u64,
    pub malformed: u64,
    pub tokens: Tokens,
}

/// Tokens of one model, or of one day (`key` is the model or `YYYY-MM-DD`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct UsageBy {
    pub key: String,
    pub tokens: Tokens,
}

fn clip(text: &str) -> String {
    match text.char_indices().nth(MAX_ERROR_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn due_file(r: &sqlx::sqlite::SqliteRow) -> Result<DueFile, sqlx::Error> {
    Ok(DueFile {
        path: r.try_get("path")?,
        username: r.try_get("username")?,
        size: u(r.try_get("size")?),
        mtime: from_ms(r.try_get("mtime")?),
        file_hash: r.try_get("file_hash")?,
    })
}

fn tokens(r: &sqlx::sqlite::SqliteRow) -> Result<Tokens, sqlx::Error> {
    Ok(Tokens {
        input: u(r.try_get("input_tokens")?),
        output: u(r.try_get("output_tokens")?),
        cache_read: u(r.try_get("cache_read_tokens")?),
        cache_creation: u(r.try_get("cache_creation_tokens")?),
        messages: u(r.try_get("messages")?),
    })
}

/// The files `?1` (a processor name) has to process: never processed successfully, or
/// modified since: a different mtime first (cheap), then a different content hash (or no
/// hash to compare). A touched file with the same content is not due. "Different" rather
/// than "later": a file restored with an older mtime and other content is due too.
const DUE: &str = "FROM session_files f \
     LEFT JOIN session_processor_state s ON s.processor_name = ?1 AND s.session_file = f.path \
     WHERE s.processed_at IS NULL \
        OR (f.mtime <> COALESCE(s.file_mtime, -1) \
            AND (f.file_hash IS NULL OR s.file_hash IS NULL OR f.file_hash <> s.file_hash))";

/// Indexed files `?1` has never processed successfully (the stuck-file check).
const UNPROCESSED: &str = "FROM session_files f \
     LEFT JOIN session_processor_state s ON s.processor_name = ?1 AND s.session_file = f.path \
     WHERE s.processed_at IS NULL";

const TOKEN_SUMS: &str = "COALESCE(SUM(input_tokens), 0) AS input_tokens, \
     COALESCE(SUM(output_tokens), 0) AS output_tokens, \
     COALESCE(SUM(cache_read_tokens), 0) AS cache_read_tokens, \
     COALESCE(SUM(cache_creation_tokens), 0) AS cache_creation_tokens, \
     COALESCE(SUM(messages), 0) AS messages";

impl Store {
    /// The files `processor` has to process, oldest mtime first (FIFO).
    pub async fn session_due_files(&self, processor: &str) -> Result<Vec<DueFile>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT f.path, f.username, f.size, f.mtime, f.file_hash {DUE} \
             ORDER BY f.mtime, f.path"
        ))
        .bind(processor)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(due_file).collect::<Result<_, _>>()?)
    }

    /// How many files `processor` has to process.
    pub async fn session_backlog(&self, processor: &str) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) {DUE}"))
            .bind(processor)
            .fetch_one(&self.pool)
            .await?;
        Ok(u(n))
    }

    /// The index's row for `path` now (`None` when the file left the index).
    pub async fn session_indexed_file(&self, path: &str) -> Result<Option<DueFile>, StoreError> {
        let row = sqlx::query(
            "SELECT path, username, size, mtime, file_hash FROM session_files WHERE path = ?",
        )
        .bind(path)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(due_file).transpose()?)
    }

    /// `processor` processed `file` (as the index described it when processing started):
    /// `processed_at`, items, the hash and mtime it saw; the last error is cleared.
    pub async fn record_session_processed(
        &self,
        processor: &str,
        file: &DueFile,
        items: u64,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.observe(
            self.record_session_processed_once(processor, file, items, at)
                .await,
        )
    }

    async fn record_session_processed_once(
        &self,
        processor: &str,
        file: &DueFile,
        items: u64,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO session_processor_state (processor_name, session_file, username, \
               processed_at, items_extracted, file_hash, file_mtime, last_error, last_error_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL) \
             ON CONFLICT (processor_name, session_file) DO UPDATE SET \
               username = excluded.username, processed_at = excluded.processed_at, \
               items_extracted = excluded.items_extracted, file_hash = excluded.file_hash, \
               file_mtime = excluded.file_mtime, last_error = NULL, last_error_at = NULL",
        )
        .bind(processor)
        .bind(&file.path)
        .bind(&file.username)
        .bind(ms(at))
        .bind(i(items))
        .bind(&file.file_hash)
        .bind(ms(file.mtime))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// `processor` failed on `file`: the error is kept; `processed_at`, the hash and the
    /// items of an earlier success are left as they were.
    pub async fn record_session_failed(
        &self,
        processor: &str,
        file: &DueFile,
        error: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.observe(
            self.record_session_failed_once(processor, file, error, at)
                .await,
        )
    }

    async fn record_session_failed_once(
        &self,
        processor: &str,
        file: &DueFile,
        error: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO session_processor_state (processor_name, session_file, username, \
               last_error, last_error_at) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (processor_name, session_file) DO UPDATE SET \
               last_error = excluded.last_error, last_error_at = excluded.last_error_at",
        )
        .bind(processor)
        .bind(&file.path)
        .bind(&file.username)
        .bind(clip(error))
        .bind(ms(at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// `processor`'s state for one file.
    pub async fn session_file_state(
        &self,
        processor: &str,
        path: &str,
    ) -> Result<Option<FileState>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {STATE_COLUMNS} FROM session_processor_state \
             WHERE processor_name = ? AND session_file = ?"
        ))
        .bind(processor)
        .bind(path)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(file_state_from).transpose()?)
    }

    /// Every processor's state for these files.
    pub async fn session_states_of(&self, paths: &[String]) -> Result<Vec<FileState>, StoreError> {
        let mut out = Vec::new();
        for chunk in paths.chunks(500) {
            let mut q = sqlx::QueryBuilder::new(format!(
                "SELECT {STATE_COLUMNS} FROM session_processor_state WHERE session_file IN ("
            ));
            let mut list = q.separated(", ");
            for p in chunk {
                list.push_bind(p);
            }
            q.push(")");
            for r in q.build().fetch_all(&self.pool).await? {
                out.push(file_state_from(&r)?);
            }
        }
        Ok(out)
    }

    /// A run of `processor` started.
    pub async fn record_run_started(
        &self,
        processor: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.observe(self.record_run_started_once(processor, at).await)
    }

    async fn record_run_started_once(
        &self,
        processor: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO session_processors (processor_name, last_run_started_at) VALUES (?, ?) \
             ON CONFLICT (processor_name) DO UPDATE SET \
               last_run_started_at = excluded.last_run_started_at",
        )
        .bind(processor)
        .bind(ms(at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A run of `processor` ended (`run.last_run_started_at` is left as recorded).
    pub async fn record_run_finished(&self, run: &ProcessorRun) -> Result<(), StoreError> {
        self.observe(self.record_run_finished_once(run).await)
    }

    async fn record_run_finished_once(&self, run: &ProcessorRun) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO session_processors (processor_name, last_run_started_at, \
               last_run_finished_at, last_outcome, last_error, files_processed, files_failed) \
             VALUES (?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (processor_name) DO UPDATE SET \
               last_run_finished_at = excluded.last_run_finished_at, \
               last_outcome = excluded.last_outcome, last_error = excluded.last_error, \
               files_processed = excluded.files_processed, files_failed = excluded.files_failed",
        )
        .bind(&run.processor)
        .bind(run.last_run_started_at.map(ms))
        .bind(run.last_run_finished_at.map(ms))
        .bind(run.last_outcome.map(ProcessorOutcome::as_str))
        .bind(run.last_error.as_deref().map(clip))
        .bind(i(run.files_processed))
        .bind(i(run.files_failed))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every processor's last run, by name.
    pub async fn processor_runs(&self) -> Result<Vec<ProcessorRun>, StoreError> {
        let rows = sqlx::query(
            "SELECT processor_name, last_run_started_at, last_run_finished_at, last_outcome, \
               last_error, files_processed, files_failed \
             FROM session_processors ORDER BY processor_name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ProcessorRun {
                    processor: r.try_get("processor_name")?,
                    last_run_started_at: r
                        .try_get::<Option<i64>, _>("last_run_started_at")?
                        .map(from_ms),
                    last_run_finished_at: r
                        .try_get::<Option<i64>, _>("last_run_finished_at")?
                        .map(from_ms),
                    last_outcome: r
                        .try_get::<Option<String>, _>("last_outcome")?
                        .as_deref()
                        .and_then(ProcessorOutcome::parse),
                    last_error: r.try_get("last_error")?,
                    files_processed: u(r.try_get("files_processed")?),
                    files_failed: u(r.try_get("files_failed")?),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// What the pipeline status needs, for `processors` (name, cadence), read in one
    /// snapshot. `stuck_grace_override` is passed through.
    pub async fn pipeline_input(
        &self,
        processors: &[(&str, Duration)],
        stuck_grace_override: Option<Duration>,
    ) -> Result<PipelineInput, StoreError> {
        let mut tx = self.pool.begin().await?;
        let files: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM session_files")
            .fetch_one(&mut *tx)
            .await?;
        let newest =
            sqlx::query("SELECT path, mtime FROM session_files ORDER BY mtime DESC, path LIMIT 1")
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| -> Result<FileAt, sqlx::Error> {
                    Ok(FileAt {
                        path: r.try_get("path")?,
                        mtime: from_ms(r.try_get("mtime")?),
                    })
                })
                .transpose()?;
        let mut progress = Vec::with_capacity(processors.len());
        for &(name, cadence) in processors {
            let last: Option<i64> = sqlx::query_scalar(
                "SELECT MAX(processed_at) FROM session_processor_state WHERE processor_name = ?",
            )
            .bind(name)
            .fetch_one(&mut *tx)
            .await?;
            let unprocessed: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) {UNPROCESSED}"))
                .bind(name)
                .fetch_one(&mut *tx)
                .await?;
            let oldest = sqlx::query(&format!(
                "SELECT f.path, f.mtime, s.last_error {UNPROCESSED} ORDER BY f.mtime, f.path LIMIT 1"
            ))
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| -> Result<Unprocessed, sqlx::Error> {
                Ok(Unprocessed {
                    path: r.try_get("path")?,
                    mtime: from_ms(r.try_get("mtime")?),
                    last_error: r.try_get("last_error")?,
                })
            })
            .transpose()?;
            progress.push(ProcessorProgress {
                name: name.to_owned(),
                cadence,
                last_processed_at: last.map(from_ms),
                unprocessed: u(unprocessed),
                oldest_unprocessed: oldest,
                // Known to the scheduler, not the store.
                first_run_pending: false,
            });
        }
        tx.commit().await?;
        Ok(PipelineInput {
            files: u(files),
            newest,
            processors: progress,
            stuck_grace_override,
        })
    }

    /// Replaces what the usage processor stored for `session_file` (one transaction), so a
    /// file processed again is never counted twice.
    pub async fn replace_session_usage(
        &self,
        session_file: &str,
        username: &str,
        usage: &FileUsage,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.observe(
            self.replace_session_usage_once(session_file, username, usage, at)
                .await,
        )
    }

    async fn replace_session_usage_once(
        &self,
        session_file: &str,
        username: &str,
        usage: &FileUsage,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO session_usage_files (session_file, username, records, malformed, \
               partial_tail, processed_at) VALUES (?, ?, ?, ?, ?, ?) \
             ON CONFLICT (session_file) DO UPDATE SET username = excluded.username, \
               records = excluded.records, malformed = excluded.malformed, \
               partial_tail = excluded.partial_tail, processed_at = excluded.processed_at",
        )
        .bind(session_file)
        .bind(username)
        .bind(i(usage.records))
        .bind(i(usage.malformed))
        .bind(i(usage.partial_tail))
        .bind(ms(at))
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM session_usage WHERE session_file = ?")
            .bind(session_file)
            .execute(&mut *tx)
            .await?;
        for ((model, day), t) in &usage.usage {
            sqlx::query(
                "INSERT INTO session_usage (session_file, model, day, input_tokens, \
                   output_tokens, cache_read_tokens, cache_creation_tokens, messages) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(session_file)
            .bind(model)
            .bind(day)
            .bind(i(t.input))
            .bind(i(t.output))
            .bind(i(t.cache_read))
            .bind(i(t.cache_creation))
            .bind(i(t.messages))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// What the usage processor stored for one file.
    pub async fn session_usage_file(
        &self,
        session_file: &str,
    ) -> Result<Option<FileUsageRow>, StoreError> {
        let row = sqlx::query(
            "SELECT session_file, username, records, malformed, partial_tail, processed_at \
             FROM session_usage_files WHERE session_file = ?",
        )
        .bind(session_file)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(FileUsageRow {
            session_file: r.try_get("session_file")?,
            username: r.try_get("username")?,
            records: u(r.try_get("records")?),
            malformed: u(r.try_get("malformed")?),
            partial_tail: u(r.try_get("partial_tail")?),
            processed_at: from_ms(r.try_get("processed_at")?),
        }))
    }

    /// Records, malformed lines and tokens over every processed file.
    pub async fn session_usage_totals(&self) -> Result<UsageTotals, StoreError> {
        let mut tx = self.pool.begin().await?;
        let files = sqlx::query(
            "SELECT COUNT(*) AS files, COALESCE(SUM(records), 0) AS records, \
               COALESCE(SUM(malformed), 0) AS malformed FROM session_usage_files",
        )
        .fetch_one(&mut *tx)
        .await?;
        let t = sqlx::query(&format!("SELECT {TOKEN_SUMS} FROM session_usage"))
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(UsageTotals {
            files: u(files.try_get("files")?),
            records: u(files.try_get("records")?),
            malformed: u(files.try_get("malformed")?),
            tokens: tokens(&t)?,
        })
    }

    /// Tokens by model, most tokens first.
    pub async fn session_usage_by_model(&self) -> Result<Vec<UsageBy>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT model AS key, {TOKEN_SUMS} FROM session_usage GROUP BY model \
             ORDER BY SUM(input_tokens + output_tokens + cache_read_tokens + \
               cache_creation_tokens) DESC, model"
        ))
        .fetch_all(&self.pool)
        .await?;
        by_rows(&rows)
    }

    /// Tokens by UTC day (`YYYY-MM-DD`, ascending), from `since` on when given.
    pub async fn session_usage_by_day(
        &self,
        since: Option<chrono::NaiveDate>,
    ) -> Result<Vec<UsageBy>, StoreError> {
        let since = since.map_or_else(String::new, |d| d.format("%Y-%m-%d").to_string());
        let rows = sqlx::query(&format!(
            "SELECT day AS key, {TOKEN_SUMS} FROM session_usage WHERE day >= ? \
             GROUP BY day ORDER BY day"
        ))
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        by_rows(&rows)
    }
}

const STATE_COLUMNS: &str = "processor_name, session_file, username, processed_at, \
    items_extracted, file_hash, file_mtime, last_error, last_error_at";

fn file_state_from(r: &sqlx::sqlite::SqliteRow) -> Result<FileState, sqlx::Error> {
    Ok(FileState {
        processor: r.try_get("processor_name")?,
        session_file: r.try_get("session_file")?,
        username: r.try_get("username")?,
        processed_at: r.try_get::<Option<i64>, _>("processed_at")?.map(from_ms),
        items_extracted: u(r.try_get("items_extracted")?),
        file_hash: r.try_get("file_hash")?,
        file_mtime: r.try_get::<Option<i64>, _>("file_mtime")?.map(from_ms),
        last_error: r.try_get("last_error")?,
        last_error_at: r.try_get::<Option<i64>, _>("last_error_at")?.map(from_ms),
    })
}

fn by_rows(rows: &[sqlx::sqlite::SqliteRow]) -> Result<Vec<UsageBy>, StoreError> {
    rows.iter()
        .map(|r| {
            Ok(UsageBy {
                key: r.try_get("key")?,
                tokens: tokens(r)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(StoreError::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            &dir.path().join("steward.db"),
            std::sync::Arc::new(crate::clock::SystemClock),
        )
        .await
        .unwrap();
        (dir, store)
    }

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_780_000_000 + secs, 0).unwrap()
    }

    /// What the watcher would have indexed.
    async fn index(store: &Store, path: &str, mtime: DateTime<Utc>, hash: Option<&str>) {
        sqlx::query(
            "INSERT INTO session_files (path, username, size, mtime, file_hash, seen_at) \
             VALUES (?, ?, 10, ?, ?, ?) ON CONFLICT (path) DO UPDATE SET \
             mtime = excluded.mtime, file_hash = excluded.file_hash",
        )
        .bind(path)
        .bind(path.split('/').next().unwrap())
        .bind(ms(mtime))
        .bind(hash)
        .bind(ms(mtime))
        .execute(store.pool())
        .await
        .unwrap();
    }

    async fn due(store: &Store, processor: &str) -> Vec<String> {
        store
            .session_due_files(processor)
            .await
            .unwrap()
            .into_iter()
            .map(|f| f.path)
            .collect()
    }

    async fn processed(store: &Store, processor: &str, path: &str, at: DateTime<Utc>) {
        let file = store.session_indexed_file(path).await.unwrap().unwrap();
        store
            .record_session_processed(processor, &file, 3, at)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn new_files_are_due_oldest_first_and_per_processor() {
        let (_d, s) = store().await;
        index(&s, "bob/b.jsonl", t(20), Some("h2")).await;
        index(&s, "ann/a.jsonl", t(10), Some("h1")).await;
        assert_eq!(due(&s, "usage").await, ["ann/a.jsonl", "bob/b.jsonl"]);
        processed(&s, "usage", "ann/a.jsonl", t(30)).await;
        assert_eq!(due(&s, "usage").await, ["bob/b.jsonl"]);
        assert_eq!(
            due(&s, "verification").await,
            ["ann/a.jsonl", "bob/b.jsonl"],
            "each processor has its own state"
        );
        assert_eq!(s.session_backlog("usage").await.unwrap(), 1);
        assert_eq!(s.session_backlog("verification").await.unwrap(), 2);
    }

    #[tokio::test]
    async fn a_modified_file_is_due_again_only_when_its_content_changed() {
        let (_d, s) = store().await;
        index(&s, "u/a.jsonl", t(10), Some("h1")).await;
        processed(&s, "p", "u/a.jsonl", t(11)).await;
        assert!(due(&s, "p").await.is_empty());
        // Touched: a new mtime, the same content.
        index(&s, "u/a.jsonl", t(20), Some("h1")).await;
        assert!(due(&s, "p").await.is_empty(), "same hash: not due");
        // Appended: a new mtime and a new hash.
        index(&s, "u/a.jsonl", t(30), Some("h2")).await;
        assert_eq!(due(&s, "p").await, ["u/a.jsonl"]);
        processed(&s, "p", "u/a.jsonl", t(31)).await;
        assert!(due(&s, "p").await.is_empty());
        // Changed, not hashed yet: due (no hash to prove it unchanged).
        index(&s, "u/a.jsonl", t(40), None).await;
        assert_eq!(due(&s, "p").await, ["u/a.jsonl"]);
        // The same mtime as processed: not due, whatever the hash (the cheap precheck).
        processed(&s, "p", "u/a.jsonl", t(41)).await;
        index(&s, "u/a.jsonl", t(40), Some("h3")).await;
        assert!(due(&s, "p").await.is_empty());
        // Restored with an older mtime and other content: due.
        index(&s, "u/a.jsonl", t(5), Some("h0")).await;
        assert_eq!(due(&s, "p").await, ["u/a.jsonl"]);
    }

    #[tokio::test]
    async fn a_failure_keeps_the_last_success_and_the_file_stays_due() {
        let (_d, s) = store().await;
        index(&s, "u/a.jsonl", t(10), Some("h1")).await;
        processed(&s, "p", "u/a.jsonl", t(11)).await;
        index(&s, "u/a.jsonl", t(20), Some("h2")).await;
        let file = s.session_indexed_file("u/a.jsonl").await.unwrap().unwrap();
        s.record_session_failed("p", &file, "exited with code 1", t(21))
            .await
            .unwrap();
        let st = s
            .session_file_state("p", "u/a.jsonl")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(st.processed_at, Some(t(11)), "the success before stays");
        assert_eq!(st.file_hash.as_deref(), Some("h1"));
        assert_eq!(st.items_extracted, 3);
        assert_eq!(st.last_error.as_deref(), Some("exited with code 1"));
        assert_eq!(st.last_error_at, Some(t(21)));
        assert_eq!(due(&s, "p").await, ["u/a.jsonl"], "still to do");
        // A first failure leaves the file never processed.
        index(&s, "u/b.jsonl", t(10), Some("hb")).await;
        let b = s.session_indexed_file("u/b.jsonl").await.unwrap().unwrap();
        s.record_session_failed("p", &b, &"x".repeat(5000), t(22))
            .await
            .unwrap();
        let st = s
            .session_file_state("p", "u/b.jsonl")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(st.processed_at, None);
        assert_eq!(
            st.last_error.unwrap().chars().count(),
            MAX_ERROR_CHARS + 1,
            "clipped, with an ellipsis"
        );
        // Success clears the error.
        processed(&s, "p", "u/a.jsonl", t(30)).await;
        let st = s
            .session_file_state("p", "u/a.jsonl")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((st.last_error, st.last_error_at), (None, None));
        assert_eq!(st.file_hash.as_deref(), Some("h2"));
        assert_eq!(st.file_mtime, Some(t(20)));
    }

    #[tokio::test]
    async fn the_pipeline_input_counts_in_sql() {
        let (_d, s) = store().await;
        let cadence = Duration::from_secs(900);
        let empty = s.pipeline_input(&[("p", cadence)], None).await.unwrap();
        assert_eq!(empty.files, 0);
        assert_eq!(empty.newest, None);
        assert_eq!(empty.processors[0].last_processed_at, None);

        index(&s, "u/old.jsonl", t(10), Some("a")).await;
        index(&s, "u/mid.jsonl", t(20), Some("b")).await;
        index(&s, "u/new.jsonl", t(30), Some("c")).await;
        processed(&s, "p", "u/mid.jsonl", t(40)).await;
        // A row for a file that is gone counts for the newest processed_at (seed 003).
        sqlx::query(
            "INSERT INTO session_processor_state (processor_name, session_file, processed_at) \
             VALUES ('p', 'gone/x.jsonl', ?)",
        )
        .bind(ms(t(50)))
        .execute(s.pool())
        .await
        .unwrap();
        let old = s
            .session_indexed_file("u/old.jsonl")
            .await
            .unwrap()
            .unwrap();
        s.record_session_failed("p", &old, "bad line", t(45))
            .await
            .unwrap();

        let input = s
            .pipeline_input(
                &[("p", cadence), ("q", cadence)],
                Some(Duration::from_secs(60)),
            )
            .await
            .unwrap();
        assert_eq!(input.files, 3);
        assert_eq!(
            input.newest,
            Some(FileAt {
                path: "u/new.jsonl".into(),
                mtime: t(30)
            })
        );
        assert_eq!(input.stuck_grace_override, Some(Duration::from_secs(60)));
        let p = &input.processors[0];
        assert_eq!(p.last_processed_at, Some(t(50)));
        assert_eq!(p.unprocessed, 2);
        assert_eq!(
            p.oldest_unprocessed,
            Some(Unprocessed {
                path: "u/old.jsonl".into(),
                mtime: t(10),
                last_error: Some("bad line".into()),
            })
        );
        let q = &input.processors[1];
        assert_eq!((q.name.as_str(), q.unprocessed), ("q", 3));
        assert_eq!(q.last_processed_at, None);
    }

    #[tokio::test]
    async fn run_bookkeeping_survives_and_started_does_not_erase_the_last_outcome() {
        let (_d, s) = store().await;
        s.record_run_started("p", t(1)).await.unwrap();
        let run = ProcessorRun {
            processor: "p".into(),
            last_run_started_at: Some(t(1)),
            last_run_finished_at: Some(t(2)),
            last_outcome: Some(ProcessorOutcome::Failed),
            last_error: Some("1 of 2 files failed".into()),
            files_processed: 1,
            files_failed: 1,
        };
        s.record_run_finished(&run).await.unwrap();
        s.record_run_started("p", t(3)).await.unwrap();
        let runs = s.processor_runs().await.unwrap();
        assert_eq!(
            runs,
            [ProcessorRun {
                last_run_started_at: Some(t(3)),
                ..run
            }]
        );
    }

    fn usage(records: u64, rows: &[(&str, &str, u64)]) -> FileUsage {
        FileUsage {
            records,
            malformed: 1,
            partial_tail: 0,
            usage: rows
                .iter()
                .map(|(model, day, n)| {
                    (
                        ((*model).to_owned(), (*day).to_owned()),
                        Tokens {
                            input: *n,
                            output: 2 * n,
                            cache_read: 0,
                            cache_creation: 0,
                            messages: 1,
                        },
                    )
                })
                .collect(),
        }
    }

    #[tokio::test]
    async fn usage_is_replaced_per_file_and_summed_by_model_and_day() {
        let (_d, s) = store().await;
        let a1 = usage(4, &[("claude", "2026-05-01", 10), ("gpt", "2026-05-02", 5)]);
        s.replace_session_usage("u/a.jsonl", "u", &a1, t(1))
            .await
            .unwrap();
        let b = usage(2, &[("claude", "2026-05-02", 1)]);
        s.replace_session_usage("u/b.jsonl", "u", &b, t(1))
            .await
            .unwrap();
        // a.jsonl grew and was processed again: its new result replaces the old one.
        let a2 = usage(6, &[("claude", "2026-05-01", 30)]);
        s.replace_session_usage("u/a.jsonl", "u", &a2, t(2))
            .await
            .unwrap();

        let totals = s.session_usage_totals().await.unwrap();
        assert_eq!((totals.files, totals.records, totals.malformed), (2, 8, 2));
        assert_eq!(
            totals.tokens.input, 31,
            "30 (a, latest) + 1 (b), never 10 or 5"
        );
        assert_eq!(totals.tokens.output, 62);
        assert_eq!(totals.tokens.messages, 2);

        let by_model = s.session_usage_by_model().await.unwrap();
        assert_eq!(
            by_model.len(),
            1,
            "gpt left with a's first result: {by_model:?}"
        );
        assert_eq!(by_model[0].key, "claude");
        let by_day = s.session_usage_by_day(None).await.unwrap();
        let days: Vec<_> = by_day
            .iter()
            .map(|d| (d.key.as_str(), d.tokens.input))
            .collect();
        assert_eq!(days, [("2026-05-01", 30), ("2026-05-02", 1)]);
        let since = chrono::NaiveDate::from_ymd_opt(2026, 5, 2);
        assert_eq!(s.session_usage_by_day(since).await.unwrap().len(), 1);
        let row = s.session_usage_file("u/a.jsonl").await.unwrap().unwrap();
        assert_eq!((row.records, row.processed_at), (6, t(2)));
    }

    #[tokio::test]
    async fn due_files_and_status_stay_fast_at_100_000_files() {
        let (_d, s) = store().await;
        // Generated in SQL: 100,000 files, 50 users, mtimes 1 s apart.
        let base = ms(t(0));
        sqlx::query(
            "WITH RECURSIVE n(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM n WHERE x < 99999) \
             INSERT INTO session_files (path, username, size, mtime, file_hash, seen_at) \
             SELECT 'user' || (x % 50) || '/s' || x || '.jsonl', 'user' || (x % 50), 1, \
                    ? + x * 1000, 'h' || x, 0 FROM n",
        )
        .bind(base)
        .execute(s.pool())
        .await
        .unwrap();
        // Every file but the last 10 processed, as of its current content.
        sqlx::query(
            "INSERT INTO session_processor_state (processor_name, session_file, processed_at, \
               file_hash, file_mtime) \
             SELECT 'p', path, mtime + 1000, file_hash, mtime FROM session_files \
             WHERE mtime < ? + 99990 * 1000",
        )
        .bind(base)
        .execute(s.pool())
        .await
        .unwrap();
        let started = std::time::Instant::now();
        let due_files = s.session_due_files("p").await.unwrap();
        let input = s
            .pipeline_input(&[("p", Duration::from_secs(900))], None)
            .await
            .unwrap();
        let took = started.elapsed();
        eprintln!("due files and pipeline input over 100,000 files: {took:?}");
        assert_eq!(due_files.len(), 10);
        assert_eq!(due_files[0].path, "user40/s99990.jsonl");
        assert_eq!(input.processors[0].unprocessed, 10);
        // Generous for a debug build on a busy machine; a per-file query loop takes minutes.
        assert!(took < Duration::from_secs(5), "took {took:?}");
    }
}
