//! Proposals and planner cooldowns, and their retention: which proposals are due to
//! expire, which decided ones are old enough to delete (with their audit rows).

use super::{from_ms, ms, Store, StoreError};
use crate::execute::state::Status;
use crate::planner::proposal::Proposal;
use chrono::{DateTime, Utc};
use sqlx::Row;

/// Pending proposals created at or before `?1`, oldest first, at most `?2`: the expiry
/// tick's only read. A range on `proposals_status_created (status, created_at)`, so its
/// cost follows the due rows, not the pending ones.
pub const DUE_PROPOSALS_SQL: &str = "SELECT data FROM proposals \
     WHERE status = 'pending' AND created_at <= ?1 ORDER BY created_at LIMIT ?2";

/// Decided proposals last updated before `?2`, at most `?3`; `?1` is a JSON array of the
/// terminal statuses. Pending, approved and running ones never match.
pub const PRUNABLE_PROPOSALS_SQL: &str = "SELECT action_id FROM proposals \
     WHERE status IN (SELECT value FROM json_each(?1)) AND updated_at < ?2 \
     ORDER BY updated_at LIMIT ?3";

/// How many proposals one retention transaction deletes (short write locks).
const PRUNE_BATCH: i64 = 500;

impl Store {
    /// Stores a new proposal. An `action_id` already taken (two plans for one key within a
    /// second) gets a `-2`, `-3`, … suffix; the stored id is returned.
    pub async fn insert_proposal(&self, p: &Proposal) -> Result<String, StoreError> {
        self.observe(self.insert_proposal_once(p).await)
    }

    async fn insert_proposal_once(&self, p: &Proposal) -> Result<String, StoreError> {
        let mut p = p.clone();
        let base = p.action_id.clone();
        for n in 1..100 {
            if n > 1 {
                p.action_id = format!("{base}-{n}");
            }
            let done = sqlx::query(
                "INSERT OR IGNORE INTO proposals \
                 (action_id, created_at, updated_at, status, node, service, requires_human, data) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&p.action_id)
            .bind(ms(p.created_at))
            .bind(ms(p.created_at))
            .bind(p.status.as_str())
            .bind(&p.node)
            .bind(&p.service)
            .bind(p.requires_human)
            .bind(serde_json::to_string(&p)?)
            .execute(&self.pool)
            .await?
            .rows_affected();
            if done == 1 {
                return Ok(p.action_id);
            }
        }
        Err(StoreError::Db(sqlx::Error::Protocol(format!(
            "no free action id for {base}"
        ))))
    }

    pub async fn proposal(&self, action_id: &str) -> Result<Option<Proposal>, StoreError> {
        let row = sqlx::query("SELECT data FROM proposals WHERE action_id = ?")
            .bind(action_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok(serde_json::from_str(&r.get::<String, _>(0))?))
            .transpose()
    }

    /// Pending first (oldest first), then the rest newest first.
    pub async fn proposals(
        &self,
        status: Option<Status>,
        limit: u32,
    ) -> Result<Vec<Proposal>, StoreError> {
        let rows = sqlx::query(
            "SELECT data FROM proposals WHERE (?1 IS NULL OR status = ?1) \
             ORDER BY (status = 'pending') DESC, \
                      CASE WHEN status = 'pending' THEN created_at ELSE -created_at END \
             LIMIT ?2",
        )
        .bind(status.map(Status::as_str))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok(serde_json::from_str(&r.get::<String, _>(0))?))
            .collect()
    }

    pub async fn count_proposals(&self, status: Status) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM proposals WHERE status = ?")
                .bind(status.as_str())
                .fetch_one(&self.pool)
                .await?,
        )
    }

    pub async fn save_cooldown(&self, key: &str, until: DateTime<Utc>) -> Result<(), StoreError> {
        self.observe(self.save_cooldown_once(key, until).await)
    }

    async fn save_cooldown_once(&self, key: &str, until: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO cooldowns (svc_key, until) VALUES (?, ?) \
             ON CONFLICT(svc_key) DO UPDATE SET until = excluded.until",
        )
        .bind(key)
        .bind(ms(until))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Cooldowns still running at `now` (expired ones are deleted).
    pub async fn load_cooldowns(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        sqlx::query("DELETE FROM cooldowns WHERE until <= ?")
            .bind(ms(now))
            .execute(&self.pool)
            .await?;
        let rows = sqlx::query("SELECT svc_key, until FROM cooldowns")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get::<String, _>(0), from_ms(r.get::<i64, _>(1))))
            .collect())
    }

    /// Pending proposals due to expire: created at or before `cutoff` (`now - ttl`),
    /// oldest first, at most `limit` (`DUE_PROPOSALS_SQL`).
    pub async fn due_proposals(
        &self,
        cutoff: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Proposal>, StoreError> {
        let rows = sqlx::query(DUE_PROPOSALS_SQL)
            .bind(ms(cutoff))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok(serde_json::from_str(&r.get::<String, _>(0))?))
            .collect()
    }

    /// Deletes proposals in one of the `terminal` statuses (the caller's word for
    /// "decided": nothing follows them) last updated before `cutoff`, with their audit
    /// rows, in transactions of `PRUNE_BATCH`; answers the deleted action ids (their files
    /// are the caller's) and the number of audit rows deleted.
    pub async fn prune_decided_proposals(
        &self,
        terminal: &[&str],
        cutoff: DateTime<Utc>,
    ) -> Result<(Vec<String>, u64), StoreError> {
        let terminal = serde_json::to_string(terminal)?;
        let mut deleted = Vec::new();
        let mut executions = 0;
        loop {
            let mut tx = self.pool.begin().await?;
            let ids: Vec<String> = sqlx::query_scalar(PRUNABLE_PROPOSALS_SQL)
                .bind(&terminal)
                .bind(ms(cutoff))
                .bind(PRUNE_BATCH)
                .fetch_all(&mut *tx)
                .await?;
            if ids.is_empty() {
                break;
            }
            let list = serde_json::to_string(&ids)?;
            executions += sqlx::query(
                "DELETE FROM executions WHERE action_id IN (SELECT value FROM json_each(?))",
            )
            .bind(&list)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            sqlx::query(
                "DELETE FROM proposals WHERE action_id IN (SELECT value FROM json_each(?))",
            )
            .bind(&list)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            let last = (ids.len() as i64) < PRUNE_BATCH;
            deleted.extend(ids);
            if last {
                break;
            }
        }
        Ok((deleted, executions))
    }

    /// Deletes cooldowns that ended at or before `now` (they are only read at start).
    pub async fn prune_cooldowns(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM cooldowns WHERE until <= ?")
            .bind(ms(now))
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    /// `EXPLAIN QUERY PLAN` of `sql` (binds left NULL), one line per step: how SQLite
    /// will run a query, to check that a hot query uses its index.
    pub async fn query_plan(&self, sql: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}"))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(|r| r.get::<String, _>(3)).collect())
    }

    /// When the oldest proposal that is not in one of the `terminal` statuses was
    /// created (pending, approved, running …), if any.
    pub async fn oldest_open_proposal(
        &self,
        terminal: &[&str],
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let at: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(created_at) FROM proposals \
             WHERE status NOT IN (SELECT value FROM json_each(?))",
        )
        .bind(serde_json::to_string(terminal)?)
        .fetch_one(&self.pool)
        .await?;
        Ok(at.map(from_ms))
    }
}
