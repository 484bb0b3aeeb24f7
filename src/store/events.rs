//! The event timeline.

use super::{from_ms, ms, Store, StoreError};
use crate::events::{EngineEvent, EventRecord};
use chrono::{DateTime, Utc};
use sqlx::{Row, Sqlite, Transaction};

pub(super) async fn insert(
    tx: &mut Transaction<'_, Sqlite>,
    at: DateTime<Utc>,
    event: &EngineEvent,
) -> Result<EventRecord, StoreError> {
    let data = serde_json::to_value(event)?;
    let (p, n, s) = event.target();
    let (provider_id, node, service) = (
        p.map(str::to_owned),
        n.map(str::to_owned),
        s.map(str::to_owned),
    );
    let message = event.message();
    let severity = event.severity().as_str();
    let id = sqlx::query(
        "INSERT INTO events (at, type, provider_id, node, service, severity, message, data) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(ms(at))
    .bind(event.kind())
    .bind(&provider_id)
    .bind(&node)
    .bind(&service)
    .bind(severity)
    .bind(&message)
    .bind(data.to_string())
    .execute(&mut **tx)
    .await?
    .last_insert_rowid();
    Ok(EventRecord {
        id,
        at,
        kind: event.kind().to_owned(),
        provider_id,
        node,
        service,
        severity: severity.to_owned(),
        message,
        data,
    })
}

impl Store {
    pub async fn insert_event(
        &self,
        at: DateTime<Utc>,
        event: &EngineEvent,
    ) -> Result<EventRecord, StoreError> {
        self.observe(self.insert_event_once(at, event).await)
    }

    async fn insert_event_once(
        &self,
        at: DateTime<Utc>,
        event: &EngineEvent,
    ) -> Result<EventRecord, StoreError> {
        let mut tx = self.pool.begin().await?;
        let rec = insert(&mut tx, at, event).await?;
        tx.commit().await?;
        Ok(rec)
    }

    /// Stores many events in one transaction (the intake's batches).
    pub async fn insert_events(
        &self,
        events: &[(DateTime<Utc>, EngineEvent)],
    ) -> Result<Vec<EventRecord>, StoreError> {
        self.observe(self.insert_events_once(events).await)
    }

    async fn insert_events_once(
        &self,
        events: &[(DateTime<Utc>, EngineEvent)],
    ) -> Result<Vec<EventRecord>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut out = Vec::with_capacity(events.len());
        for (at, e) in events {
            out.push(insert(&mut tx, *at, e).await?);
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Newest first.
    pub async fn recent_events(&self, limit: u32) -> Result<Vec<EventRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at, type, provider_id, node, service, severity, message, data \
             FROM events ORDER BY id DESC LIMIT ?",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| EventRecord {
                id: r.get(0),
                at: from_ms(r.get(1)),
                kind: r.get(2),
                provider_id: r.get(3),
                node: r.get(4),
                service: r.get(5),
                severity: r.get(6),
                message: r.get(7),
                data: serde_json::from_str(r.get::<&str, _>(8)).unwrap_or_default(),
            })
            .collect())
    }

    /// Keeps the timeline bounded.
    pub async fn prune_events(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM events WHERE at < ?")
            .bind(ms(before))
            .execute(&self.pool)
            .await?
            .rows_affected())
    }
}
