-- Change control (docs/change-control.md). An environment's policy is JSON
-- (`setpoint_core::Policy`), NULL while it asks nothing. Change requests
-- are kept whole as JSON, open and closed alike, each row rewritten as the
-- request moves; their history is in the change log (`change_request_*`).
ALTER TABLE environments ADD COLUMN policy TEXT;
CREATE TABLE change_requests (
    id BIGINT PRIMARY KEY,
    body TEXT NOT NULL,
    written_at BIGINT NOT NULL
);
CREATE INDEX change_requests_by_written_at ON change_requests (written_at);
