-- People and machines. Passwords are argon2 hashes; token and session
-- secrets are high-entropy random values stored only as sha256 hashes, so a
-- copy of the database grants no access.

CREATE TABLE users (
    username TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    -- JSON array of service names, or NULL for all services.
    services TEXT,
    created_at TEXT NOT NULL
);

CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    services TEXT,
    -- Limits the token to one environment when set.
    environment TEXT,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- Sessions live in the store so they survive restarts and are valid on
-- every replica.
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    csrf TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
