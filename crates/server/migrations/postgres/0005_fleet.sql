-- The latest report of each agent, one row per cluster and namespace of an
-- environment. Not in the change log: agents report every few seconds, and
-- the fleet view wants where each cluster stands, not how it got there.
CREATE TABLE fleet_reports (
    environment TEXT NOT NULL,
    cluster TEXT NOT NULL,
    namespace TEXT NOT NULL,
    -- The report as the agent sent it (setpoint_core::fleet::AgentReport).
    report TEXT NOT NULL,
    -- When central received it, in milliseconds since the epoch.
    reported_at BIGINT NOT NULL,
    PRIMARY KEY (environment, cluster, namespace)
);
