//! Storage behind a narrow trait: load the current state, durably commit a
//! batch of changes with the records they produced, read the change log.
//! Backends only translate SQL dialect and driver errors; every rule lives
//! in [`crate::world`].

mod sqlite;

use std::sync::Arc;

use setpoint_core::{Change, ChangeKind};

pub use sqlite::SqliteStore;

use crate::world::{EnvironmentRecord, ServiceRecord, World};

/// A storage failure: a bug or an infrastructure fault, never the client's.
#[derive(Debug, thiserror::Error)]
#[error("store: {0}")]
pub struct StoreError(#[from] Box<dyn std::error::Error + Send + Sync>);

impl StoreError {
    /// Wraps any error.
    pub fn new(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self(error.into())
    }
}

/// What one write transaction makes durable.
#[derive(Debug, Default)]
pub struct Batch {
    /// Changes to append, in revision order.
    pub changes: Vec<Change>,
    /// The resulting state of each service touched.
    pub services: Vec<Arc<ServiceRecord>>,
    /// Services removed for good.
    pub removed_services: Vec<String>,
    /// Environments created.
    pub environments: Vec<Arc<EnvironmentRecord>>,
    /// The revision after the batch.
    pub revision: u64,
}

/// A filter over the change log, newest first, paginated by revision.
#[derive(Debug, Clone, Default)]
pub struct ChangeQuery {
    /// Only this service.
    pub service: Option<String>,
    /// Only this environment (changes without one, like schema changes,
    /// affect every environment and are included).
    pub environment: Option<String>,
    /// Only this actor.
    pub actor: Option<String>,
    /// Only this kind.
    pub kind: Option<ChangeKind>,
    /// At or after this instant (RFC 3339, as stored).
    pub since: Option<String>,
    /// Before this instant.
    pub until: Option<String>,
    /// Only revisions below this (the cursor of the next page).
    pub before_revision: Option<u64>,
    /// Only revisions above this, oldest first (for replays and resumes).
    pub after_revision: Option<u64>,
    /// At most this many.
    pub limit: u32,
}

/// A storage backend.
#[async_trait::async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// The current state.
    async fn load(&self) -> Result<World, StoreError>;
    /// Appends the batch's changes and writes its records in one durable
    /// transaction: all or nothing, acknowledged only after commit.
    async fn commit(&self, batch: &Batch) -> Result<(), StoreError>;
    /// Reads the change log.
    async fn changes(&self, query: &ChangeQuery) -> Result<Vec<Change>, StoreError>;
}
