//! The audit table and the one way a proposal's status changes.

use super::{from_ms, ms, Store, StoreError};
use crate::execute::state::Status;
use crate::planner::proposal::Proposal;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

/// One audit row (`GET /api/executions`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, ts_rs::TS)]
pub struct Execution {
    pub id: i64,
    pub action_id: String,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub step: String,
    pub status_before: String,
    pub status_after: String,
    pub argv: Option<Vec<String>>,
    pub exit_code: Option<i64>,
    pub signal: Option<i64>,
    pub timed_out: Option<bool>,
    pub duration_ms: Option<i64>,
    pub stdout_tail: Option<String>,
    pub stderr_tail: Option<String>,
    pub detail: Option<String>,
}

impl Store {
    /// Moves `action_id` from `from` to `to` (compare-and-set), applies `patch` to the stored
    /// proposal and writes the audit row, all in one transaction. `None` when the proposal
    /// is not `from` any more (someone else moved it first).
    pub async fn transition(
        &self,
        action_id: &str,
        from: Status,
        to: Status,
        at: DateTime<Utc>,
        patch: impl FnOnce(&mut Proposal),
        audit: Execution,
    ) -> Result<Option<Proposal>, StoreError> {
        self.change(action_id, from, to, at, patch, Some(audit))
            .await
    }

    /// Applies `patch` to a proposal that is still `status`, without an audit row (e.g.
    /// the pgid of a command that just started). `None` when it is not `status` any more.
    pub async fn patch_proposal(
        &self,
        action_id: &str,
        status: Status,
        at: DateTime<Utc>,
        patch: impl FnOnce(&mut Proposal),
    ) -> Result<Option<Proposal>, StoreError> {
        self.change(action_id, status, status, at, patch, None)
            .await
    }

    async fn change(
        &self,
        action_id: &str,
        from: Status,
        to: Status,
        at: DateTime<Utc>,
        patch: impl FnOnce(&mut Proposal),
        audit: Option<Execution>,
    ) -> Result<Option<Proposal>, StoreError> {
        let mut tx = self.pool.begin().await?;
        // The compare-and-set comes first: it takes the write lock (waiting for another
        // writer), so two concurrent transitions from one status cannot both succeed.
        let claimed = sqlx::query(
            "UPDATE proposals SET status = ?, updated_at = ? WHERE action_id = ? AND status = ?",
        )
        .bind(to.as_str())
        .bind(ms(at))
        .bind(action_id)
        .bind(from.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed != 1 {
            return Ok(None);
        }
        let data: String = sqlx::query_scalar("SELECT data FROM proposals WHERE action_id = ?")
            .bind(action_id)
            .fetch_one(&mut *tx)
            .await?;
        let mut p: Proposal = serde_json::from_str(&data)?;
        patch(&mut p);
        p.status = to;
        p.updated_at = Some(at);
        sqlx::query("UPDATE proposals SET data = ? WHERE action_id = ?")
            .bind(serde_json::to_string(&p)?)
            .bind(action_id)
            .execute(&mut *tx)
            .await?;
        let Some(mut audit) = audit else {
            tx.commit().await?;
            return Ok(Some(p));
        };
        audit.action_id = action_id.to_owned();
        audit.at = at;
        audit.status_before = from.as_str().to_owned();
        audit.status_after = to.as_str().to_owned();
        sqlx::query(
            "INSERT INTO executions (action_id, at, actor, step, status_before, status_after, \
             argv, exit_code, signal, timed_out, duration_ms, stdout_tail, stderr_tail, detail) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&audit.action_id)
        .bind(ms(at))
        .bind(&audit.actor)
        .bind(&audit.step)
        .bind(&audit.status_before)
        .bind(&audit.status_after)
        .bind(
            audit
                .argv
                .as_ref()
                .map(|a| serde_json::to_string(a).unwrap_or_default()),
        )
        .bind(audit.exit_code)
        .bind(audit.signal)
        .bind(audit.timed_out)
        .bind(audit.duration_ms)
        .bind(&audit.stdout_tail)
        .bind(&audit.stderr_tail)
        .bind(&audit.detail)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(p))
    }

    /// Audit rows, newest first; for one proposal when `action_id` is given.
    pub async fn executions(
        &self,
        action_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Execution>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, action_id, at, actor, step, status_before, status_after, argv, exit_code, \
             signal, timed_out, duration_ms, stdout_tail, stderr_tail, detail FROM executions \
             WHERE (?1 IS NULL OR action_id = ?1) ORDER BY id DESC LIMIT ?2",
        )
        .bind(action_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| Execution {
                id: r.get(0),
                action_id: r.get(1),
                at: from_ms(r.get(2)),
                actor: r.get(3),
                step: r.get(4),
                status_before: r.get(5),
                status_after: r.get(6),
                argv: r
                    .get::<Option<String>, _>(7)
                    .and_then(|a| serde_json::from_str(&a).ok()),
                exit_code: r.get(8),
                signal: r.get(9),
                timed_out: r.get(10),
                duration_ms: r.get(11),
                stdout_tail: r.get(12),
                stderr_tail: r.get(13),
                detail: r.get(14),
            })
            .collect())
    }

    /// `(node/service, at)` of every automatic approval since `since`, oldest first: the
    /// auto-run budget, rebuilt from the audit at start.
    pub async fn auto_approvals_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT p.node, p.service, e.at FROM executions e \
             JOIN proposals p ON p.action_id = e.action_id \
             WHERE e.actor = 'auto' AND e.step = 'approve' AND e.at >= ? ORDER BY e.at",
        )
        .bind(ms(since))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| {
                (
                    format!("{}/{}", r.get::<String, _>(0), r.get::<String, _>(1)),
                    from_ms(r.get(2)),
                )
            })
            .collect())
    }

    /// Proposals in one status, oldest first (restart recovery, expiry).
    pub async fn proposals_with_status(&self, status: Status) -> Result<Vec<Proposal>, StoreError> {
        let rows = sqlx::query("SELECT data FROM proposals WHERE status = ? ORDER BY created_at")
            .bind(status.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok(serde_json::from_str(&r.get::<String, _>(0))?))
            .collect()
    }
}
