//! Storage behind a narrow trait: load the current state, durably commit a
//! batch of changes with the records they produced, read the change log.
//! Backends only translate SQL dialect and driver errors; every rule lives
//! in [`crate::world`].

mod postgres;
mod rows;
mod sqlite;

use crate::auth::Role;

use std::{collections::BTreeMap, path::Path, sync::Arc};

use serde_json::{Value, json};
use setpoint_core::{Change, ChangeKind, fleet::AgentReport};

pub use postgres::PgStore;
pub use sqlite::SqliteStore;
use tokio::sync::mpsc;

use crate::world::{ChangeRequest, EnvironmentRecord, ServiceRecord, UnroutedAlert, World};

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
    /// Environments created or changed.
    pub environments: Vec<Arc<EnvironmentRecord>>,
    /// Change requests opened or moved.
    pub change_requests: Vec<Arc<ChangeRequest>>,
    /// Users and tokens written, in order.
    pub accounts: Vec<AccountWrite>,
    /// The unrouted alerts, when they changed (replaced as a whole).
    pub unrouted: Option<Arc<BTreeMap<String, UnroutedAlert>>>,
    /// When the snapshots the batch rebuilt last changed (see
    /// [`crate::snapshots`]).
    pub snapshot_marks: Vec<SnapshotMark>,
    /// The revision after the batch.
    pub revision: u64,
    /// The store's commit count after the batch: it applies only if the
    /// store holds `commits - 1`, so a writer that has not seen another
    /// replica's commit is told it is [`Behind`] instead of overwriting it.
    pub commits: u64,
}

/// A commit refused because another process sharing the store committed
/// since the writer last caught up: nothing was written, and the writer
/// should catch up and try again.
#[derive(Debug, thiserror::Error)]
#[error("another replica committed first")]
pub struct Behind;

impl StoreError {
    /// Whether the commit failed only because the writer is [`Behind`].
    pub fn is_behind(&self) -> bool {
        self.0.downcast_ref::<Behind>().is_some()
    }

    /// Whether the database could not be reached (down, restarting, out of
    /// connections): an outage to wait out, not a bug.
    pub fn is_unavailable(&self) -> bool {
        match self.0.downcast_ref::<sqlx::Error>() {
            Some(sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed) => true,
            // SQLSTATE classes 08 (connection exception) and 57P (the
            // server shutting down or restarting).
            Some(sqlx::Error::Database(error)) => error
                .code()
                .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
            _ => false,
        }
    }
}

/// How far a copy of the state has followed the store: the commits taken
/// in, and the revision the last of them logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Commits taken in.
    pub commits: u64,
    /// The last revision logged by them.
    pub revision: u64,
}

/// What the commits after a given one wrote: how a replica follows the
/// others without reloading everything.
#[derive(Debug, Default)]
pub struct Delta {
    /// The store's commit count at the read.
    pub commits: u64,
    /// The store's revision at the read.
    pub revision: u64,
    /// The first changes logged after the reader's revision, oldest first:
    /// what its event streams are sent. At most [`CHANGES_PER_READ`] of
    /// them, and possibly some logged after `revision`; the reader pages
    /// through the log for the rest.
    pub changes: Vec<Change>,
    /// Services written since (their current state).
    pub services: Vec<Arc<ServiceRecord>>,
    /// Services reclaimed since.
    pub removed_services: Vec<String>,
    /// Environments created or changed since.
    pub environments: Vec<Arc<EnvironmentRecord>>,
    /// Change requests opened or moved since.
    pub change_requests: Vec<Arc<ChangeRequest>>,
    /// The unrouted alerts, when they changed since.
    pub unrouted: Option<Arc<BTreeMap<String, UnroutedAlert>>>,
    /// The snapshot marks written since: the follower seals what the
    /// writer sealed with the same revisions, so every replica serves the
    /// same `ETag`s.
    pub snapshot_marks: Vec<SnapshotMark>,
}

/// The revision at which a snapshot — one environment's whole (`service`
/// `None`) or one service's part — last changed, with a hash of its
/// content. Stored with each batch, so a restart serves the same
/// revisions and `ETag`s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotMark {
    /// The environment.
    pub environment: String,
    /// The service, or `None` for the whole environment.
    pub service: Option<String>,
    /// The revision the content last changed at.
    pub revision: u64,
    /// The sha256 of the content without its revision.
    pub content: String,
}

impl Batch {
    /// Whether it writes nothing at all.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
            && self.services.is_empty()
            && self.removed_services.is_empty()
            && self.environments.is_empty()
            && self.change_requests.is_empty()
            && self.accounts.is_empty()
            && self.unrouted.is_none()
    }
}

/// A change to who may do what: written in the same transaction as its
/// change-log entry, so the log is the history of people and machines too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountWrite {
    /// Create or replace a user, ending their sessions: a new password or
    /// role must not leave an old login standing.
    PutUser(User),
    /// Delete a user and end their sessions.
    DeleteUser(User),
    /// Create a token.
    PutToken(Token),
    /// Revoke a token.
    DeleteToken(Token),
}

impl AccountWrite {
    /// What the change log records: kind, item and the states before and
    /// after — never a password hash or a token secret.
    pub fn summary(&self) -> (ChangeKind, String, Option<Value>, Option<Value>) {
        let token = |t: &Token| {
            json!({
                "id": t.id,
                "name": t.name,
                "role": t.role,
                "services": t.services,
                "environment": t.environment,
                "created_by": t.created_by,
            })
        };
        match self {
            Self::PutUser(user) => (
                ChangeKind::UserSaved,
                user.username.clone(),
                None,
                Some(
                    json!({"username": user.username, "role": user.role, "services": user.services}),
                ),
            ),
            Self::DeleteUser(user) => (
                ChangeKind::UserDeleted,
                user.username.clone(),
                Some(
                    json!({"username": user.username, "role": user.role, "services": user.services}),
                ),
                None,
            ),
            Self::PutToken(t) => (
                ChangeKind::TokenCreated,
                t.name.clone(),
                None,
                Some(token(t)),
            ),
            Self::DeleteToken(t) => (
                ChangeKind::TokenRevoked,
                t.name.clone(),
                Some(token(t)),
                None,
            ),
        }
    }
}

/// Records an account change in a store no server is running on (the
/// command line, or first start before the engine): the next revision, in
/// one transaction with the write.
pub async fn record_offline(
    store: &dyn Store,
    write: AccountWrite,
    actor: &str,
    at: &str,
) -> Result<Change, StoreError> {
    let world = store.load().await?;
    let revision = world.revision + 1;
    let (kind, item, before, after) = write.summary();
    let change = Change {
        revision,
        service: None,
        item: Some(item),
        environment: None,
        actor: actor.to_string(),
        at: at.to_string(),
        reason: String::new(),
        kind,
        before,
        after,
    };
    store
        .commit(Batch {
            changes: vec![change.clone()],
            accounts: vec![write],
            revision,
            commits: world.commits + 1,
            ..Batch::default()
        })
        .await?;
    Ok(change)
}

/// A filter over the change log, newest first, paginated by revision.
#[derive(Debug, Clone, Default)]
pub struct ChangeQuery {
    /// Only this service.
    pub service: Option<String>,
    /// Only this item (a flag key, a breaker name).
    pub item: Option<String>,
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

/// How many of the changes logged since a reader's revision a [`Delta`]
/// carries: every change of a usual catch-up (a few commits), without
/// holding an hour of them in memory at once.
pub const CHANGES_PER_READ: u32 = 1_000;

/// A storage backend.
#[async_trait::async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// The current state.
    async fn load(&self) -> Result<World, StoreError>;
    /// The snapshot marks written by past batches.
    async fn snapshot_marks(&self) -> Result<Vec<SnapshotMark>, StoreError>;
    /// Appends the batch's changes and writes its records in one durable
    /// transaction: all or nothing, acknowledged only after commit. Takes
    /// the batch, so a backend may hand it to another thread.
    async fn commit(&self, batch: Batch) -> Result<(), StoreError>;
    /// Reads the change log.
    async fn changes(&self, query: &ChangeQuery) -> Result<Vec<Change>, StoreError>;
    /// The latest change of each item among `kinds` (by service, item and
    /// environment), oldest first, without `before` and `after`.
    async fn latest_by_item(&self, kinds: &[ChangeKind]) -> Result<Vec<Change>, StoreError>;
    /// Checks the store answers.
    async fn ping(&self) -> Result<(), StoreError>;
    /// What the commits after `after` wrote, read at one instant.
    async fn since(&self, after: Position) -> Result<Delta, StoreError>;
    /// For a store other processes commit to as well: its write lock, held
    /// until the returned guard commits or is dropped, so that what the
    /// holder reads of others' commits is still the latest when it
    /// commits. `None` where [`Store::commit`]'s check is enough.
    async fn lock(&self) -> Result<Option<Box<dyn Locked>>, StoreError> {
        Ok(None)
    }
    /// For a store other processes commit to as well: a channel woken on
    /// their commits (and after a reconnect, when some may have been
    /// missed). `None` when this process is the only writer.
    async fn follow(&self) -> Result<Option<mpsc::Receiver<()>>, StoreError> {
        Ok(None)
    }
}

/// A store's write lock, held: read what others committed, then commit.
#[async_trait::async_trait]
pub trait Locked: Send {
    /// What the commits after `after` wrote.
    async fn since(&mut self, after: Position) -> Result<Delta, StoreError>;
    /// Commits the batch and lets the lock go.
    async fn commit(self: Box<Self>, batch: Batch) -> Result<(), StoreError>;
}

/// A backend: the state and log, accounts and the fleet's reports, all in
/// one database.
pub trait Backend: Store + Accounts + FleetStore {}

impl<T: Store + Accounts + FleetStore> Backend for T {}

/// Opens the store `url` names: `postgres://…` (or `postgresql://…`) for a
/// PostgreSQL shared by replicas, anything else — by default — the
/// embedded SQLite file under `data`.
pub async fn open(url: Option<&str>, data: &Path) -> Result<Arc<dyn Backend>, StoreError> {
    match url {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Ok(Arc::new(PgStore::connect(url).await?))
        }
        Some(url) => Err(StoreError::new(format!(
            "unknown store {url:?}: use postgres://… or leave it out for SQLite under --data"
        ))),
        None => Ok(Arc::new(SqliteStore::open(data).await?)),
    }
}

/// An agent's latest report, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReport {
    /// What the agent said.
    pub report: AgentReport,
    /// When central received it (milliseconds since the epoch).
    pub reported_at: i64,
}

/// Where the fleet's latest reports are kept: one per environment,
/// cluster and namespace, replaced by each new one.
#[async_trait::async_trait]
pub trait FleetStore: Send + Sync + std::fmt::Debug + 'static {
    /// Every report kept.
    async fn reports(&self) -> Result<Vec<StoredReport>, StoreError>;
    /// Keeps these reports, replacing older ones of the same clusters, in
    /// one transaction.
    async fn put_reports(&self, reports: &[StoredReport]) -> Result<(), StoreError>;
    /// Forgets one cluster's report; whether there was one.
    async fn forget_report(
        &self,
        environment: &str,
        cluster: &str,
        namespace: &str,
    ) -> Result<bool, StoreError>;
}

/// A person who logs in to the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Login name.
    pub username: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Role.
    pub role: Role,
    /// Services the role applies to; `None` means all.
    pub services: Option<Vec<String>>,
    /// When created (RFC 3339).
    pub created_at: String,
}

/// A machine credential. The secret itself is never stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Public identifier, part of the bearer string.
    pub id: String,
    /// What it is for, e.g. `agent-eu-1`.
    pub name: String,
    /// sha256 of the secret.
    pub secret_hash: String,
    /// Role.
    pub role: Role,
    /// Services the role applies to; `None` means all.
    pub services: Option<Vec<String>>,
    /// The one environment it may act in, if limited.
    pub environment: Option<String>,
    /// Who created it.
    pub created_by: String,
    /// When (RFC 3339).
    pub created_at: String,
}

/// A console login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// sha256 of the cookie's secret.
    pub id_hash: String,
    /// Whose.
    pub username: String,
    /// The CSRF token writes must echo.
    pub csrf: String,
    /// When it ends (RFC 3339).
    pub expires_at: String,
}

/// Where users, tokens and sessions are read (their writes go through a
/// [`Batch`], with the change log), and sessions kept.
#[async_trait::async_trait]
pub trait Accounts: Send + Sync + std::fmt::Debug + 'static {
    /// How many users exist.
    async fn user_count(&self) -> Result<u64, StoreError>;
    /// One user.
    async fn user(&self, username: &str) -> Result<Option<User>, StoreError>;
    /// All users.
    async fn users(&self) -> Result<Vec<User>, StoreError>;
    /// One token by id.
    async fn token(&self, id: &str) -> Result<Option<Token>, StoreError>;
    /// All tokens.
    async fn tokens(&self) -> Result<Vec<Token>, StoreError>;
    /// Creates a session.
    async fn put_session(&self, session: &Session) -> Result<(), StoreError>;
    /// A session that has not expired by `now` (RFC 3339).
    async fn session(&self, id_hash: &str, now: &str) -> Result<Option<Session>, StoreError>;
    /// Ends a session (and forgets expired ones).
    async fn delete_session(&self, id_hash: &str, now: &str) -> Result<(), StoreError>;
    /// Counts a login attempt for `username` at `now` (milliseconds) where
    /// every replica sees it, or refuses it with the seconds to wait: the
    /// same rule as [`crate::auth::LoginLimiter`]. `None` when the store is
    /// not shared and the server's own count is enough.
    async fn login_attempt(
        &self,
        _username: &str,
        _now: i64,
    ) -> Result<Option<Result<(), u64>>, StoreError> {
        Ok(None)
    }
    /// Forgets the attempts of a name after a success.
    async fn login_succeeded(&self, _username: &str) -> Result<(), StoreError> {
        Ok(())
    }
}
