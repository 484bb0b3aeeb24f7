-- Proposal statuses are the closed set of execute::state::Status: the database refuses
-- any other word, whoever writes. SQLite adds a CHECK only by rebuilding the table.
CREATE TABLE proposals_checked (
    action_id      TEXT PRIMARY KEY NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    status         TEXT NOT NULL CHECK (status IN (
                       'pending', 'approved', 'running', 'succeeded', 'failed', 'timed_out',
                       'rejected', 'expired', 'stale', 'interrupted', 'resolved',
                       'unresolved', 'handed_off')),
    node           TEXT NOT NULL,
    service        TEXT NOT NULL,
    requires_human INTEGER NOT NULL,
    data           TEXT NOT NULL        -- JSON of planner::proposal::Proposal
);
INSERT INTO proposals_checked
    (action_id, created_at, updated_at, status, node, service, requires_human, data)
    SELECT action_id, created_at, updated_at, status, node, service, requires_human, data
    FROM proposals;
DROP TABLE proposals;
ALTER TABLE proposals_checked RENAME TO proposals;
CREATE INDEX proposals_status_created ON proposals (status, created_at);
CREATE INDEX proposals_created ON proposals (created_at);

-- The session pipeline's stored level is one of ok, info, warning.
-- (settings is a key/value table: the level's key is checked by a trigger.)
CREATE TRIGGER settings_pipeline_level_insert
BEFORE INSERT ON settings
WHEN NEW.key = 'session_pipeline_level' AND NEW.value NOT IN ('ok', 'info', 'warning')
BEGIN
    SELECT RAISE(ABORT, 'session_pipeline_level must be ok, info or warning');
END;
CREATE TRIGGER settings_pipeline_level_update
BEFORE UPDATE ON settings
WHEN NEW.key = 'session_pipeline_level' AND NEW.value NOT IN ('ok', 'info', 'warning')
BEGIN
    SELECT RAISE(ABORT, 'session_pipeline_level must be ok, info or warning');
END;
