-- Alertmanager intake (POST /api/alertmanager): the latest occurrence known per alert
-- fingerprint, so a repeated, grouped or out-of-order notification plans nothing twice,
-- also across restarts. See planner::alertmanager.

CREATE TABLE alerts (
    fingerprint   TEXT PRIMARY KEY NOT NULL,   -- Alertmanager's (or computed from the labels)
    alertname     TEXT NOT NULL,
    node          TEXT NOT NULL,
    service       TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('firing', 'resolved')),
    starts_at     INTEGER NOT NULL,            -- ms: the occurrence (its startsAt)
    ends_at       INTEGER,                     -- ms: when it resolved (endsAt)
    first_seen    INTEGER NOT NULL,            -- ms: first notification of the occurrence
    last_seen     INTEGER NOT NULL,            -- ms: latest notification
    notifications INTEGER NOT NULL,            -- notifications of the occurrence
    decision      TEXT                         -- the intake's decision, or planning_failed
);
-- Retention deletes by last_seen.
CREATE INDEX alerts_last_seen ON alerts (last_seen);
