-- Progressive rollouts (docs/change-control.md): environment → flag → the
-- plan under way or last run (`setpoint_core::rollout::Rollout`), JSON, or
-- NULL for a service that never had one. Written with the service's row:
-- a rollout's step changes the flag's default in the same commit.
ALTER TABLE services ADD COLUMN rollouts TEXT;
