-- The files a service is managed by (`setpoint apply`): JSON
-- `{"set", "file", "source", "revision"}`, or NULL for a service kept some
-- other way. Written with the service's row; its changes are logged as
-- `service_managed`.
ALTER TABLE services ADD COLUMN managed_by TEXT;
