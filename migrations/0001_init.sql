-- Steward's first schema. Forward-only: later changes get new files.
-- Times are Unix milliseconds (UTC).

CREATE TABLE breaker_state (
    provider_id TEXT PRIMARY KEY NOT NULL,
    state       TEXT NOT NULL,          -- JSON of health::breaker::BreakerState
    updated_at  INTEGER NOT NULL
);

CREATE TABLE probe_samples (
    id          INTEGER PRIMARY KEY,
    provider_id TEXT NOT NULL,
    at          INTEGER NOT NULL,
    ok          INTEGER NOT NULL,       -- 1 when the provider answered as it should
    latency_ms  REAL,
    outcome     TEXT NOT NULL,          -- up | down | timeout | error | rate_limited | inconclusive
    error       TEXT
);
CREATE INDEX probe_samples_provider_at ON probe_samples (provider_id, at);
CREATE INDEX probe_samples_at ON probe_samples (at);

-- Raw samples older than the retention are folded into one row per provider and hour.
CREATE TABLE probe_hourly (
    provider_id    TEXT NOT NULL,
    hour           INTEGER NOT NULL,    -- start of the hour
    samples        INTEGER NOT NULL,
    ok             INTEGER NOT NULL,
    latency_sum_ms REAL NOT NULL DEFAULT 0,
    latency_n      INTEGER NOT NULL DEFAULT 0,
    latency_max_ms REAL,
    PRIMARY KEY (provider_id, hour)
);

CREATE TABLE events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    type        TEXT NOT NULL,
    provider_id TEXT,
    node        TEXT,
    service     TEXT,
    severity    TEXT NOT NULL,
    message     TEXT NOT NULL,
    data        TEXT NOT NULL
);
CREATE INDEX events_at ON events (at);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
