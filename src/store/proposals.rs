//! Proposals and planner cooldowns.

use super::{from_ms, ms, Store, StoreError};
use crate::planner::proposal::Proposal;
use chrono::{DateTime, Utc};
use sqlx::Row;

impl Store {
    /// Stores a new proposal. An `action_id` already taken (two plans for one key within a
    /// second) gets a `-2`, `-3`, … suffix; the stored id is returned.
    pub async fn insert_proposal(&self, p: &Proposal) -> Result<String, StoreError> {
        self.health.observe(self.insert_proposal_once(p).await)
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
            .bind(&p.status)
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
        status: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Proposal>, StoreError> {
        let rows = sqlx::query(
            "SELECT data FROM proposals WHERE (?1 IS NULL OR status = ?1) \
             ORDER BY (status = 'pending') DESC, \
                      CASE WHEN status = 'pending' THEN created_at ELSE -created_at END \
             LIMIT ?2",
        )
        .bind(status)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok(serde_json::from_str(&r.get::<String, _>(0))?))
            .collect()
    }

    pub async fn count_proposals(&self, status: &str) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM proposals WHERE status = ?")
                .bind(status)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    pub async fn save_cooldown(&self, key: &str, until: DateTime<Utc>) -> Result<(), StoreError> {
        self.health
            .observe(self.save_cooldown_once(key, until).await)
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
}
