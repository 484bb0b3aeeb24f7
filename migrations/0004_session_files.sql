-- The session file index: one row per `<root>/<user>/*.jsonl`, path relative to the root.
-- The content hash is computed only when size or mtime changed since it was last hashed.

CREATE TABLE session_files (
    path         TEXT PRIMARY KEY,     -- relative to the root, '/'-separated: "<user>/<name>.jsonl"
    username     TEXT NOT NULL,        -- the first path component
    size         INTEGER NOT NULL,     -- bytes, at the last stat
    mtime        INTEGER NOT NULL,     -- ms since the epoch, at the last stat
    file_hash    TEXT,                 -- hex content hash; NULL until hashed
    hashed_size  INTEGER,              -- size and mtime the hash was computed at
    hashed_mtime INTEGER,
    seen_at      INTEGER NOT NULL      -- ms: when the row was last written (file new or changed)
);
CREATE INDEX session_files_mtime ON session_files (mtime);
