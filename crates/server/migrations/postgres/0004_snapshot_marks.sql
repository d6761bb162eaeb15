-- When each snapshot last changed: one row per environment (service '')
-- and per service in it, with a hash of the content. A restart rebuilds
-- the snapshots from the services and keeps the recorded revision where
-- the content is the same, so it serves the same revisions and ETags and
-- wakes no long-poll.
CREATE TABLE snapshot_marks (
    environment TEXT NOT NULL,
    service TEXT NOT NULL,
    revision BIGINT NOT NULL,
    content TEXT NOT NULL,
    PRIMARY KEY (environment, service)
);
