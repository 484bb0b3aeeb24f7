-- The audit of every decision on a proposal and every command run.

CREATE TABLE executions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    action_id     TEXT NOT NULL,
    at            INTEGER NOT NULL,
    actor         TEXT NOT NULL,        -- local | api | auto | tray | cli | steward
    step          TEXT NOT NULL,        -- approve | reject | expire | stale | run | refused | verify | interrupt
    status_before TEXT NOT NULL,
    status_after  TEXT NOT NULL,
    argv          TEXT,                 -- JSON array, when a command ran
    exit_code     INTEGER,
    signal        INTEGER,
    timed_out     INTEGER,
    duration_ms   INTEGER,
    stdout_tail   TEXT,
    stderr_tail   TEXT,
    detail        TEXT
);
CREATE INDEX executions_action ON executions (action_id, id);
CREATE INDEX executions_at ON executions (at);
