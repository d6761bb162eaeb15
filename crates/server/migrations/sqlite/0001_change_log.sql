-- The change log is the record of truth: every write appends one row per
-- change and is never edited. `environments` and `services` hold the current
-- state derived from it, written in the same transaction, so that starting
-- up and serving reads never replays the log (`setpoint verify` does, to
-- prove the two agree).
--
-- Plain SQL shared by SQLite and PostgreSQL: BIGINT revisions, TEXT for JSON
-- and RFC 3339 timestamps (fixed-width UTC, so text order is time order).

CREATE TABLE meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    -- The latest revision; bumped in the same transaction as the log.
    revision BIGINT NOT NULL
);
INSERT INTO meta (id, revision) VALUES (1, 0);

CREATE TABLE changes (
    revision BIGINT PRIMARY KEY,
    service TEXT,
    item TEXT,
    environment TEXT,
    actor TEXT NOT NULL,
    at TEXT NOT NULL,
    reason TEXT NOT NULL,
    kind TEXT NOT NULL,
    before TEXT,
    after TEXT
);
-- Per-service history and the audit filters read these.
CREATE INDEX changes_by_service ON changes (service, revision);
CREATE INDEX changes_by_at ON changes (at);

CREATE TABLE environments (
    name TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    revision BIGINT NOT NULL
);

CREATE TABLE services (
    name TEXT PRIMARY KEY,
    -- The service document as JSON.
    doc TEXT NOT NULL,
    -- The revision of the service's last change: writes name it as base.
    revision BIGINT NOT NULL,
    -- Set while tombstoned.
    deleted_at TEXT,
    reclaim_at TEXT
);
