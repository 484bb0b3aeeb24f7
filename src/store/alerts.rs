//! What is known per Alertmanager alert (`alerts`), and the pending proposals an alert
//! made.
//!
//! Owns: the queries. Does not own: what a notification means (`planner::alertmanager`
//! decides) or when to ask (`planner::alerts`).

use super::{from_ms, ms, Store, StoreError};
use crate::planner::alertmanager::{AlertRecord, AlertStatus, CHANNEL};
use crate::planner::proposal::Proposal;
use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;
use std::collections::HashMap;

const COLUMNS: &str = "fingerprint, alertname, node, service, status, starts_at, ends_at, \
                       first_seen, last_seen, notifications, decision";

fn record(r: &SqliteRow) -> Result<AlertRecord, StoreError> {
    let status: String = r.get(4);
    Ok(AlertRecord {
        fingerprint: r.get(0),
        alertname: r.get(1),
        node: r.get(2),
        service: r.get(3),
        // The table's CHECK allows only these two words.
        status: AlertStatus::parse(&status).ok_or_else(|| {
            StoreError::Db(sqlx::Error::Protocol(format!(
                "alerts.status is {status:?}"
            )))
        })?,
        starts_at: from_ms(r.get(5)),
        ends_at: r.get::<Option<i64>, _>(6).map(from_ms),
        first_seen: from_ms(r.get(7)),
        last_seen: from_ms(r.get(8)),
        notifications: r.get(9),
        decision: r.get(10),
    })
}

impl Store {
    /// What is known about each of `fingerprints` (unknown ones are absent).
    pub async fn alert_records(
        &self,
        fingerprints: &[&str],
    ) -> Result<HashMap<String, AlertRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM alerts \
             WHERE fingerprint IN (SELECT value FROM json_each(?))"
        ))
        .bind(serde_json::to_string(fingerprints)?)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| record(r).map(|a| (a.fingerprint.clone(), a)))
            .collect()
    }

    pub async fn alert_record(&self, fingerprint: &str) -> Result<Option<AlertRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM alerts WHERE fingerprint = ?"
        ))
        .bind(fingerprint)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(record).transpose()
    }

    /// Writes `records` (new or changed) in one transaction.
    pub async fn save_alert_records(&self, records: &[AlertRecord]) -> Result<(), StoreError> {
        self.observe(self.save_alert_records_once(records).await)
    }

    async fn save_alert_records_once(&self, records: &[AlertRecord]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for a in records {
            sqlx::query(&format!(
                "INSERT INTO alerts ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT(fingerprint) DO UPDATE SET alertname = excluded.alertname, \
                 node = excluded.node, service = excluded.service, status = excluded.status, \
                 starts_at = excluded.starts_at, ends_at = excluded.ends_at, \
                 first_seen = excluded.first_seen, last_seen = excluded.last_seen, \
                 notifications = excluded.notifications, decision = excluded.decision"
            ))
            .bind(&a.fingerprint)
            .bind(&a.alertname)
            .bind(&a.node)
            .bind(&a.service)
            .bind(a.status.as_str())
            .bind(ms(a.starts_at))
            .bind(a.ends_at.map(ms))
            .bind(ms(a.first_seen))
            .bind(ms(a.last_seen))
            .bind(a.notifications)
            .bind(&a.decision)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Sets the decision of the occurrence of `fingerprint` that started at `starts_at`
    /// (nothing when a newer one is known by now).
    pub async fn set_alert_decision(
        &self,
        fingerprint: &str,
        starts_at: DateTime<Utc>,
        decision: &str,
    ) -> Result<(), StoreError> {
        let done =
            sqlx::query("UPDATE alerts SET decision = ? WHERE fingerprint = ? AND starts_at = ?")
                .bind(decision)
                .bind(fingerprint)
                .bind(ms(starts_at))
                .execute(&self.pool)
                .await
                .map(|_| ())
                .map_err(StoreError::from);
        self.observe(done)
    }

    /// Pending proposals planned from an Alertmanager event about `fingerprint` (read
    /// from the stored source event; pending ones are few, found by the status index).
    pub async fn pending_proposals_of_alert(
        &self,
        fingerprint: &str,
    ) -> Result<Vec<Proposal>, StoreError> {
        let rows = sqlx::query(
            "SELECT data FROM proposals WHERE status = 'pending' \
             AND json_extract(data, '$.source_event.channel') = ? \
             AND json_extract(data, '$.source_event.payload.fingerprint') = ? \
             ORDER BY created_at",
        )
        .bind(CHANNEL)
        .bind(fingerprint)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok(serde_json::from_str(&r.get::<String, _>(0))?))
            .collect()
    }

    /// Deletes what is known about alerts last heard of before `cutoff` (retention).
    pub async fn prune_alerts(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM alerts WHERE last_seen < ?")
            .bind(ms(cutoff))
            .execute(&self.pool)
            .await?
            .rows_affected())
    }
}
