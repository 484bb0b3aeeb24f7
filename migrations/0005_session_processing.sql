-- Session processors: state per processor and file (the seed's session_processor_state),
-- bookkeeping per processor, and what the built-in `usage` processor extracted.

CREATE TABLE session_processor_state (
    processor_name  TEXT NOT NULL,
    session_file    TEXT NOT NULL,     -- relative path, as in session_files.path
    username        TEXT NOT NULL DEFAULT '',
    processed_at    INTEGER,           -- ms of the last successful processing; NULL: never
    items_extracted INTEGER NOT NULL DEFAULT 0,
    file_hash       TEXT,              -- hash of the content that was processed
    file_mtime      INTEGER,           -- the file's mtime (ms) when it was processed
    last_error      TEXT,              -- why the last attempt failed; NULL after a success
    last_error_at   INTEGER,
    PRIMARY KEY (processor_name, session_file)
);
-- The newest processed_at of a processor (the status' freshness check) without a scan.
CREATE INDEX session_processor_state_done ON session_processor_state (processor_name, processed_at);

-- One row per processor: its last run, kept across restarts. A run that was cut short by
-- a crash has started_at > finished_at.
CREATE TABLE session_processors (
    processor_name        TEXT PRIMARY KEY,
    last_run_started_at   INTEGER,     -- ms
    last_run_finished_at  INTEGER,     -- ms
    last_outcome          TEXT,        -- ok | failed | panicked | cancelled
    last_error            TEXT,        -- the run's error, or its first file's error
    files_processed       INTEGER NOT NULL DEFAULT 0,   -- in the last run
    files_failed          INTEGER NOT NULL DEFAULT 0
);

-- The usage processor's result per file, replaced whenever the file is processed again,
-- so totals never count a file twice.
CREATE TABLE session_usage_files (
    session_file  TEXT PRIMARY KEY,    -- relative path
    username      TEXT NOT NULL,
    records       INTEGER NOT NULL,    -- valid JSON lines
    malformed     INTEGER NOT NULL,    -- invalid JSON, not UTF-8, or too long
    partial_tail  INTEGER NOT NULL,    -- bytes after the last newline (not counted yet)
    processed_at  INTEGER NOT NULL     -- ms
);

-- Tokens per file, model and day. The day (UTC, YYYY-MM-DD) is the record's `timestamp`
-- when it has one, else the file's mtime.
CREATE TABLE session_usage (
    session_file           TEXT NOT NULL REFERENCES session_usage_files (session_file) ON DELETE CASCADE,
    model                  TEXT NOT NULL,
    day                    TEXT NOT NULL,
    input_tokens           INTEGER NOT NULL DEFAULT 0,
    output_tokens          INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens      INTEGER NOT NULL DEFAULT 0,
    cache_creation_tokens  INTEGER NOT NULL DEFAULT 0,
    messages               INTEGER NOT NULL DEFAULT 0,   -- records that carried usage
    PRIMARY KEY (session_file, model, day)
);
CREATE INDEX session_usage_day ON session_usage (day);
