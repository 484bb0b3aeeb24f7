//! Breaker state and probe history: raw samples, hourly aggregates, retention.

use super::{from_ms, ms, Store, StoreError};
use crate::events::EngineEvent;
use crate::health::breaker::BreakerState;
use chrono::{DateTime, Utc};
use sqlx::Row;
use std::collections::HashMap;

/// One probe result (`history` of a provider in the API).
#[derive(Debug, Clone, PartialEq, serde::Serialize, ts_rs::TS)]
pub struct Sample {
    pub provider_id: String,
    pub at: DateTime<Utc>,
    pub ok: bool,
    pub latency_ms: Option<f64>,
    pub outcome: String,
    pub error: Option<String>,
}

/// One hour of a provider's probe results (`hourly` in the API).
#[derive(Debug, Clone, PartialEq, serde::Serialize, ts_rs::TS)]
pub struct HourlyRow {
    pub hour: DateTime<Utc>,
    pub samples: i64,
    pub ok: i64,
    pub avg_latency_ms: Option<f64>,
    pub max_latency_ms: Option<f64>,
}

/// Everything one flush writes, in one transaction.
#[derive(Debug, Default)]
pub struct Batch {
    pub samples: Vec<Sample>,
    pub states: HashMap<String, BreakerState>,
    pub events: Vec<(DateTime<Utc>, EngineEvent)>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty() && self.states.is_empty() && self.events.is_empty()
    }
}

/// Rows per multi-row insert (`ROWS` × 6 parameters, well under SQLite's 32,766).
const ROWS: usize = 64;
const SAMPLE_SQL: &str =
    "INSERT INTO probe_samples (provider_id, at, ok, latency_ms, outcome, error) \
                          VALUES (?, ?, ?, ?, ?, ?)";
const STATE_SQL: &str =
    "INSERT INTO breaker_state (provider_id, state, updated_at) VALUES (?, ?, ?) \
                         ON CONFLICT(provider_id) DO UPDATE SET state = excluded.state, \
                         updated_at = excluded.updated_at";
static SAMPLES_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let rows = vec!["(?, ?, ?, ?, ?, ?)"; ROWS].join(", ");
    format!(
        "INSERT INTO probe_samples (provider_id, at, ok, latency_ms, outcome, error) VALUES {rows}"
    )
});
static STATES_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let rows = vec!["(?, ?, ?)"; ROWS].join(", ");
    format!(
        "INSERT INTO breaker_state (provider_id, state, updated_at) VALUES {rows} \
         ON CONFLICT(provider_id) DO UPDATE SET state = excluded.state, \
         updated_at = excluded.updated_at"
    )
});

impl Store {
    /// Writes a batch in one transaction; returns the stored events in order.
    pub async fn write_batch(
        &self,
        batch: Batch,
    ) -> Result<Vec<crate::events::EventRecord>, StoreError> {
        self.write_batch_ref(&batch).await
    }

    /// The same, leaving the batch with the caller (to keep it when the write fails).
    pub async fn write_batch_ref(
        &self,
        batch: &Batch,
    ) -> Result<Vec<crate::events::EventRecord>, StoreError> {
        self.observe(self.write_batch_once(batch).await)
    }

    async fn write_batch_once(
        &self,
        batch: &Batch,
    ) -> Result<Vec<crate::events::EventRecord>, StoreError> {
        let batch_samples = batch.samples.len();
        let mut tx = self.pool.begin().await?;
        // Multi-row inserts of exactly `ROWS` rows, the rest one row at a time: two SQL
        // texts in all, so the connection's statement cache holds two small statements
        // (one text per batch size would cache a statement per size, megabytes each).
        for chunk in batch.samples.chunks(ROWS) {
            let sql = if chunk.len() == ROWS {
                &*SAMPLES_SQL
            } else {
                SAMPLE_SQL
            };
            for rows in chunk.chunks(if chunk.len() == ROWS { ROWS } else { 1 }) {
                let mut q = sqlx::query(sql);
                for s in rows {
                    q = q
                        .bind(&s.provider_id)
                        .bind(ms(s.at))
                        .bind(s.ok)
                        .bind(s.latency_ms)
                        .bind(&s.outcome)
                        .bind(&s.error);
                }
                q.execute(&mut *tx).await?;
            }
        }
        let now = ms(self.clock.now());
        let states: Vec<(&String, String)> = batch
            .states
            .iter()
            .map(|(id, s)| Ok((id, serde_json::to_string(s)?)))
            .collect::<Result<_, serde_json::Error>>()?;
        for chunk in states.chunks(ROWS) {
            let sql = if chunk.len() == ROWS {
                &*STATES_SQL
            } else {
                STATE_SQL
            };
            for rows in chunk.chunks(if chunk.len() == ROWS { ROWS } else { 1 }) {
                let mut q = sqlx::query(sql);
                for (id, state) in rows {
                    q = q.bind(*id).bind(state).bind(now);
                }
                q.execute(&mut *tx).await?;
            }
        }
        let mut records = Vec::with_capacity(batch.events.len());
        for (at, event) in &batch.events {
            records.push(super::events::insert(&mut tx, *at, event).await?);
        }
        tx.commit().await?;
        use std::sync::atomic::Ordering::Relaxed;
        self.stats.transactions.fetch_add(1, Relaxed);
        self.stats.samples.fetch_add(batch_samples as u64, Relaxed);
        Ok(records)
    }

    pub async fn load_breakers(&self) -> Result<HashMap<String, BreakerState>, StoreError> {
        let rows = sqlx::query("SELECT provider_id, state FROM breaker_state")
            .fetch_all(&self.pool)
            .await?;
        let mut out = HashMap::with_capacity(rows.len());
        for row in rows {
            let id: String = row.get(0);
            let state: String = row.get(1);
            match serde_json::from_str(&state) {
                Ok(s) => {
                    out.insert(id, s);
                }
                // A row we cannot read must not stop the app: start that breaker fresh.
                Err(e) => {
                    tracing::warn!(provider = %id, error = %e, "ignoring unreadable breaker state")
                }
            }
        }
        Ok(out)
    }

    /// Raw samples of one provider since `since`, oldest first.
    pub async fn history(
        &self,
        provider_id: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<Sample>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, ok, latency_ms, outcome, error FROM probe_samples \
             WHERE provider_id = ? AND at >= ? ORDER BY at",
        )
        .bind(provider_id)
        .bind(ms(since))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| Sample {
                provider_id: provider_id.to_owned(),
                at: from_ms(r.get(0)),
                ok: r.get(1),
                latency_ms: r.get(2),
                outcome: r.get(3),
                error: r.get(4),
            })
            .collect())
    }

    /// Recent samples of every provider since `since`, oldest first (seeds sparklines).
    pub async fn recent_samples(&self, since: DateTime<Utc>) -> Result<Vec<Sample>, StoreError> {
        let rows = sqlx::query(
            "SELECT provider_id, at, ok, latency_ms, outcome, error FROM probe_samples \
             WHERE at >= ? ORDER BY at",
        )
        .bind(ms(since))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| Sample {
                provider_id: r.get(0),
                at: from_ms(r.get(1)),
                ok: r.get(2),
                latency_ms: r.get(3),
                outcome: r.get(4),
                error: r.get(5),
            })
            .collect())
    }

    pub async fn hourly(
        &self,
        provider_id: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<HourlyRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT hour, samples, ok, latency_sum_ms, latency_n, latency_max_ms \
             FROM probe_hourly WHERE provider_id = ? AND hour >= ? ORDER BY hour",
        )
        .bind(provider_id)
        .bind(ms(since))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let sum: f64 = r.get(3);
                let n: i64 = r.get(4);
                HourlyRow {
                    hour: from_ms(r.get(0)),
                    samples: r.get(1),
                    ok: r.get(2),
                    avg_latency_ms: (n > 0).then(|| sum / n as f64),
                    max_latency_ms: r.get(5),
                }
            })
            .collect())
    }

    /// `(samples, ok)` per provider since `since`, raw and aggregated together.
    pub async fn uptime_counts(
        &self,
        since: DateTime<Utc>,
    ) -> Result<HashMap<String, (i64, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT provider_id, SUM(n), SUM(ok) FROM ( \
               SELECT provider_id, COUNT(*) AS n, SUM(ok) AS ok FROM probe_samples \
                 WHERE at >= ?1 GROUP BY provider_id \
               UNION ALL \
               SELECT provider_id, SUM(samples), SUM(ok) FROM probe_hourly \
                 WHERE hour >= ?1 GROUP BY provider_id \
             ) GROUP BY provider_id",
        )
        .bind(ms(since))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.get::<String, _>(0), (r.get(1), r.get(2))))
            .collect())
    }

    /// Folds raw samples older than `cutoff` into hourly rows and deletes them, and drops
    /// hourly rows older than `hourly_cutoff`. Returns how many raw samples were folded.
    pub async fn compact(
        &self,
        cutoff: DateTime<Utc>,
        hourly_cutoff: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO probe_hourly (provider_id, hour, samples, ok, latency_sum_ms, latency_n, latency_max_ms) \
             SELECT provider_id, (at / 3600000) * 3600000 AS hour, COUNT(*), SUM(ok), \
                    COALESCE(SUM(latency_ms), 0), COUNT(latency_ms), MAX(latency_ms) \
             FROM probe_samples WHERE at < ? GROUP BY provider_id, hour \
             ON CONFLICT(provider_id, hour) DO UPDATE SET \
               samples = samples + excluded.samples, ok = ok + excluded.ok, \
               latency_sum_ms = latency_sum_ms + excluded.latency_sum_ms, \
               latency_n = latency_n + excluded.latency_n, \
               latency_max_ms = MAX(COALESCE(latency_max_ms, excluded.latency_max_ms), \
                                    COALESCE(excluded.latency_max_ms, latency_max_ms))",
        )
        .bind(ms(cutoff))
        .execute(&mut *tx)
        .await?;
        let folded = sqlx::query("DELETE FROM probe_samples WHERE at < ?")
            .bind(ms(cutoff))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM probe_hourly WHERE hour < ?")
            .bind(ms(hourly_cutoff))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(folded)
    }
}
