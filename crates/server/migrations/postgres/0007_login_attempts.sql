-- Recent logins by user name, not yet followed by a success: the throttle
-- replicas share (PostgreSQL). A single server on SQLite counts them in
-- memory and leaves this table empty. Times in milliseconds since the
-- epoch; rows older than the throttle's window are deleted as attempts
-- come.
CREATE TABLE login_attempts (
    username TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX login_attempts_by_name ON login_attempts (username, at);
CREATE INDEX login_attempts_by_at ON login_attempts (at);
