-- Replicas sharing one store. Every commit bumps `commits`, with or without
-- change-log entries (a repeated alert moves a breaker's state and logs
-- nothing), and applies only on top of the count its writer last read: two
-- replicas never overwrite each other's rows. Rows remember the commit that
-- wrote them, so a replica catches up by reading only what is newer.
ALTER TABLE meta ADD COLUMN commits BIGINT NOT NULL DEFAULT 0;
ALTER TABLE meta ADD COLUMN unrouted_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE environments ADD COLUMN written_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE services ADD COLUMN written_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE snapshot_marks ADD COLUMN written_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX services_by_written_at ON services (written_at);
CREATE INDEX snapshot_marks_by_written_at ON snapshot_marks (written_at);

-- Services reclaimed, by the commit that removed them (a service created
-- again leaves this table): what a catching-up replica must forget.
CREATE TABLE removed_services (
    name TEXT PRIMARY KEY,
    written_at BIGINT NOT NULL
);
CREATE INDEX removed_services_by_written_at ON removed_services (written_at);
