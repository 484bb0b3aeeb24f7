-- The planner: proposals and the cooldown that survives a restart.

CREATE TABLE proposals (
    action_id      TEXT PRIMARY KEY NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    status         TEXT NOT NULL,       -- pending | approved | rejected | running | succeeded | failed | expired
    node           TEXT NOT NULL,
    service        TEXT NOT NULL,
    requires_human INTEGER NOT NULL,
    data           TEXT NOT NULL        -- JSON of planner::proposal::Proposal
);
CREATE INDEX proposals_status_created ON proposals (status, created_at);
CREATE INDEX proposals_created ON proposals (created_at);

CREATE TABLE cooldowns (
    svc_key TEXT PRIMARY KEY NOT NULL,
    until   INTEGER NOT NULL
);
