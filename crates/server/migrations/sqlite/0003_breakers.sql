-- Breaker states live beside the service they belong to, as JSON
-- (environment → breaker → status). They are not part of the service's
-- revision: alerts move them without making anyone's pending edit stale.
ALTER TABLE services ADD COLUMN breakers TEXT NOT NULL DEFAULT '{}';

-- Alerts that matched no breaker, kept (the latest few) so that someone
-- notices a matcher that no longer matches.
CREATE TABLE unrouted_alerts (
    fingerprint TEXT PRIMARY KEY,
    -- The alert, its receiver and when it was last delivered, as JSON.
    entry TEXT NOT NULL
);
