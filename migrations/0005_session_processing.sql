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
