//! What can go wrong: a snapshot refused ([`Rejection`]), a client that
//! cannot be built ([`BuildError`]), a read by name that names nothing
//! registered ([`ReadError`]), a rollback past the history
//! ([`RollbackError`]).

use setpoint_core::snapshot::VerifyError;

/// Why a snapshot was refused. The client keeps what it had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The bytes are not a sealed snapshot, or their checksum fails.
    #[error(transparent)]
    Unverified(#[from] VerifyError),
    /// A snapshot of another environment than the client reads.
    #[error("it is a snapshot of {found:?}; this client reads {expected:?}")]
    Environment {
        /// The client's environment.
        expected: String,
        /// The snapshot's.
        found: String,
    },
    /// The snapshot does not hold the client's service.
    #[error("the snapshot holds no service {0:?}")]
    Service(String),
    /// A registered key, flag or breaker is not in the snapshot.
    #[error("registered {kind} {name:?} is not in the snapshot")]
    Missing {
        /// `key`, `flag` or `breaker`.
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// A registered key (or a flag's variant) is not of the registered type.
    #[error("registered {kind} {name:?} should be {expected}, the snapshot has {found}")]
    Type {
        /// `key` or `flag`.
        kind: &'static str,
        /// Its name.
        name: String,
        /// The registered type, in words.
        expected: String,
        /// The value found (its JSON, shortened).
        found: String,
    },
    /// The payload is larger than the client reads.
    #[error("the payload is {0} bytes, more than the client reads")]
    TooLarge(usize),
}

impl Rejection {
    /// A short, stable word for metrics and logs
    /// (`load_failures_total{reason}`).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Unverified(VerifyError::NotJson(_)) => "parse",
            Self::Unverified(VerifyError::NoChecksum | VerifyError::Mismatch { .. }) => "checksum",
            Self::Unverified(VerifyError::NotSnapshot(_)) => "shape",
            Self::Environment { .. } => "environment",
            Self::Service(_) => "service",
            Self::Missing { .. } => "missing",
            Self::Type { .. } => "type",
            Self::TooLarge(_) => "size",
        }
    }
}

/// Why [`Builder::build`](crate::Builder::build) refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The same name was registered twice.
    #[error("{kind} {name:?} is registered twice")]
    Duplicate {
        /// `key`, `flag` or `breaker`.
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// Sources were given outside a Tokio runtime, which they run on.
    #[error("sources run on Tokio: build the client inside a runtime")]
    NoRuntime,
}

/// Why a read by name failed. Reads through handles cannot fail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// No key of that name was registered.
    #[error("key {0:?} was not registered with this client")]
    Undeclared(String),
    /// The key was registered as another type.
    #[error("key {name:?} was registered as {registered}, not as {asked}")]
    WrongType {
        /// The key.
        name: String,
        /// The type it was registered as.
        registered: &'static str,
        /// The type asked for.
        asked: &'static str,
    },
}

/// Why a rollback did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("asked to go back {asked} snapshots; the history holds {available} before the newest")]
pub struct RollbackError {
    /// Steps asked for.
    pub asked: usize,
    /// Steps the history allows.
    pub available: usize,
}
