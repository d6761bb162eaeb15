//! The write transaction on SQLite, as one blocking call.
//!
//! sqlx's SQLite driver runs each statement on its own worker thread and
//! hands the result back to the calling task, which then waits its turn on
//! a runtime busy with request handlers. Under 64 writers that cost more
//! than the transaction itself: `BEGIN` alone took 0.5–2.5 ms, while the
//! WAL's fsync at `COMMIT` took about 1 ms. Here the whole transaction runs
//! on a blocking thread against one connection kept for writing, so a batch
//! costs one hand-off and the connection's page cache stays warm. sqlx still
//! migrates the file and serves every read.

use std::{
    path::Path,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicUsize, Ordering},
        mpsc::{SyncSender, sync_channel},
    },
    time::Duration,
};

use rusqlite::{Connection, Transaction, TransactionBehavior, params};

use crate::store::rows::{self, services_text, to_i64};
use crate::store::{AccountWrite, Batch, Behind, SnapshotMark, StoreError};

/// The connection every commit goes through. Only the engine's writer
/// commits (and the command line, offline), so the lock is uncontended.
#[derive(Debug, Clone)]
pub(super) struct Committer {
    connection: Arc<Mutex<Connection>>,
    checkpoints: Arc<Checkpoints>,
}

/// About what SQLite's own automatic checkpoint waits for: 1,000 pages.
const CHECKPOINT_AFTER_BYTES: usize = 4 * 1024 * 1024;

/// What a commit adds to the WAL beyond its text: a few pages (the log,
/// its indexes, the meta row), however small the change.
const PAGES_PER_COMMIT: usize = 4 * 4096;

/// Copies the WAL into the database file on a thread and connection of
/// its own. SQLite's automatic checkpoint runs inside the commit that
/// crosses its threshold, so that commit's writer waited for the copy —
/// 0.4 s of a 50 MB import's commit, which every write queued behind it
/// waited too. A passive checkpoint never blocks the writer.
#[derive(Debug)]
struct Checkpoints {
    /// Bytes of text committed since the last wake-up.
    pending: AtomicUsize,
    wake: Mutex<SyncSender<()>>,
}

impl Checkpoints {
    /// Starts the checkpointer on `path`; it stops with the last handle.
    fn start(path: &Path) -> Result<Self, StoreError> {
        let connection = Connection::open(path).map_err(StoreError::new)?;
        connection
            .busy_timeout(Duration::from_secs(10))
            .map_err(StoreError::new)?;
        let (wake, woken) = sync_channel::<()>(1);
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                while woken.recv().is_ok() {
                    let copied =
                        connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                    if let Err(error) = copied {
                        tracing::warn!(%error, "WAL checkpoint failed; the next one retries");
                    }
                }
            })
            .map_err(StoreError::new)?;
        Ok(Self {
            pending: AtomicUsize::new(0),
            wake: Mutex::new(wake),
        })
    }

    /// Counts a commit of about `bytes`, waking the checkpointer when
    /// enough accumulated (a wake-up already pending is enough).
    fn committed(&self, bytes: usize) {
        let pending = self.pending.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if pending >= CHECKPOINT_AFTER_BYTES {
            self.pending.store(0, Ordering::Relaxed);
            let _ = self
                .wake
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .try_send(());
        }
    }
}

impl Committer {
    /// Opens the already-migrated database file for writing.
    pub(super) fn open(path: &Path) -> Result<Self, StoreError> {
        let connection = Connection::open(path).map_err(StoreError::new)?;
        connection
            .busy_timeout(Duration::from_secs(10))
            .map_err(StoreError::new)?;
        // WAL is a property of the file (sqlx set it); `synchronous` and
        // foreign keys are per connection. FULL syncs the WAL on every
        // commit: an acknowledged write survives power loss.
        // Checkpoints are the checkpointer's, off the commit path.
        connection
            .execute_batch(
                "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 0;",
            )
            .map_err(StoreError::new)?;
        let mode: String = connection
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .map_err(StoreError::new)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::new(format!(
                "expected the store in WAL mode, found {mode:?}"
            )));
        }
        Ok(Self {
            connection: Arc::new(Mutex::new(connection)),
            checkpoints: Arc::new(Checkpoints::start(path)?),
        })
    }

    /// Writes the batch in one transaction, durable when this returns `Ok`.
    pub(super) async fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        let connection = Arc::clone(&self.connection);
        let checkpoints = Arc::clone(&self.checkpoints);
        let work = move || {
            let mut connection = connection.lock().unwrap_or_else(PoisonError::into_inner);
            // IMMEDIATE takes the write lock up front, so two writers (say,
            // a second process on the same file) queue instead of
            // deadlocking.
            let tx = connection
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(StoreError::new)?;
            let bytes = write(&tx, &batch)?;
            tx.commit().map_err(StoreError::new)?;
            checkpoints.committed(bytes + PAGES_PER_COMMIT);
            Ok(())
        };
        // On the server's multi-threaded runtime the writer blocks its own
        // worker (the runtime moves the other tasks away): the commit
        // starts at once and the writer goes on without waiting for a turn
        // on a worker. A single-threaded runtime (tests, the command line)
        // cannot block in place, so there the commit goes to the blocking
        // pool.
        match tokio::runtime::Handle::current().runtime_flavor() {
            tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(work),
            _ => tokio::task::spawn_blocking(work)
                .await
                .map_err(StoreError::new)?,
        }
    }
}

/// Writes the batch; returns about how many bytes of text it wrote.
fn write(tx: &Transaction<'_>, batch: &Batch) -> Result<usize, StoreError> {
    let sql = |error| StoreError::new(error);
    let written_at = to_i64(batch.commits)?;
    // First, so nothing is written on top of a commit this writer has not
    // seen (a second process on the file; on PostgreSQL, a replica).
    let moved = tx
        .prepare_cached("UPDATE meta SET revision = ?, commits = ? WHERE id = 1 AND commits = ?")
        .map_err(sql)?
        .execute(params![to_i64(batch.revision)?, written_at, written_at - 1])
        .map_err(sql)?;
    if moved != 1 {
        return Err(StoreError::new(Behind));
    }
    let mut insert_change = tx
        .prepare_cached(
            "INSERT INTO changes (revision, service, item, environment, actor, at, reason, kind, before, after) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .map_err(sql)?;
    let mut bytes = 0;
    for change in &batch.changes {
        let before = change.before.as_ref().map(ToString::to_string);
        let after = change.after.as_ref().map(ToString::to_string);
        bytes += before.as_ref().map_or(0, String::len) + after.as_ref().map_or(0, String::len);
        insert_change
            .execute(params![
                to_i64(change.revision)?,
                change.service,
                change.item,
                change.environment,
                change.actor,
                change.at,
                change.reason,
                change.kind.as_str(),
                before,
                after,
            ])
            .map_err(sql)?;
    }
    for env in &batch.environments {
        tx.prepare_cached(
            "INSERT INTO environments (name, description, revision, policy, written_at) \
             VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (name) DO UPDATE SET description = excluded.description, \
             policy = excluded.policy, written_at = excluded.written_at",
        )
        .map_err(sql)?
        .execute(params![
            env.name,
            env.description,
            to_i64(env.revision)?,
            rows::policy(env)?,
            written_at
        ])
        .map_err(sql)?;
    }
    for request in &batch.change_requests {
        tx.prepare_cached(
            "INSERT INTO change_requests (id, body, written_at) VALUES (?, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET body = excluded.body, written_at = excluded.written_at",
        )
        .map_err(sql)?
        .execute(params![
            to_i64(request.id)?,
            rows::json_text(&**request)?,
            written_at
        ])
        .map_err(sql)?;
    }
    bytes += write_services(tx, batch, written_at)?;
    write_marks(tx, &batch.snapshot_marks, written_at)?;
    if let Some(unrouted) = &batch.unrouted {
        // At most a few hundred entries: replaced as a whole.
        tx.execute("DELETE FROM unrouted_alerts", []).map_err(sql)?;
        tx.execute("UPDATE meta SET unrouted_at = ? WHERE id = 1", [written_at])
            .map_err(sql)?;
        let mut insert = tx
            .prepare_cached("INSERT INTO unrouted_alerts (fingerprint, entry) VALUES (?, ?)")
            .map_err(sql)?;
        for entry in unrouted.values() {
            insert
                .execute(params![
                    entry.alert.fingerprint,
                    serde_json::to_string(entry).map_err(StoreError::new)?,
                ])
                .map_err(sql)?;
        }
    }
    for account in &batch.accounts {
        write_account(tx, account)?;
    }
    Ok(bytes)
}

/// Writes the services the batch touched and forgets those it reclaimed;
/// returns the bytes of the documents written.
fn write_services(
    tx: &Transaction<'_>,
    batch: &Batch,
    written_at: i64,
) -> Result<usize, StoreError> {
    let sql = |error| StoreError::new(error);
    let mut upsert_service = tx
        .prepare_cached(
            "INSERT INTO services \
             (name, doc, revision, deleted_at, reclaim_at, breakers, managed_by, rollouts, written_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (name) DO UPDATE SET doc = excluded.doc, revision = excluded.revision, \
             deleted_at = excluded.deleted_at, reclaim_at = excluded.reclaim_at, breakers = excluded.breakers, \
             managed_by = excluded.managed_by, rollouts = excluded.rollouts, \
             written_at = excluded.written_at",
        )
        .map_err(sql)?;
    let mut bytes = 0;
    for service in &batch.services {
        let tombstone = service.tombstone.as_ref();
        let doc = serde_json::to_string(&service.doc).map_err(StoreError::new)?;
        bytes += doc.len();
        upsert_service
            .execute(params![
                service.doc.service,
                doc,
                to_i64(service.revision)?,
                tombstone.map(|t| &t.tombstoned_at),
                tombstone.map(|t| &t.reclaim_at),
                serde_json::to_string(&service.breakers).map_err(StoreError::new)?,
                service
                    .managed_by
                    .as_ref()
                    .map(serde_json::to_string)
                    .transpose()
                    .map_err(StoreError::new)?,
                (!service.rollouts.is_empty())
                    .then(|| serde_json::to_string(&service.rollouts))
                    .transpose()
                    .map_err(StoreError::new)?,
                written_at,
            ])
            .map_err(sql)?;
    }
    if !batch.services.is_empty() {
        let mut revived = tx
            .prepare_cached("DELETE FROM removed_services WHERE name = ?")
            .map_err(sql)?;
        for service in &batch.services {
            revived.execute([&service.doc.service]).map_err(sql)?;
        }
    }
    for name in &batch.removed_services {
        tx.prepare_cached("DELETE FROM services WHERE name = ?")
            .map_err(sql)?
            .execute([name])
            .map_err(sql)?;
        tx.prepare_cached("DELETE FROM snapshot_marks WHERE service = ?")
            .map_err(sql)?
            .execute([name])
            .map_err(sql)?;
        tx.prepare_cached(
            "INSERT INTO removed_services (name, written_at) VALUES (?, ?) \
             ON CONFLICT (name) DO UPDATE SET written_at = excluded.written_at",
        )
        .map_err(sql)?
        .execute(params![name, written_at])
        .map_err(sql)?;
    }
    Ok(bytes)
}

/// Records when the batch's rebuilt snapshots last changed.
fn write_marks(
    tx: &Transaction<'_>,
    marks: &[SnapshotMark],
    written_at: i64,
) -> Result<(), StoreError> {
    let sql = |error| StoreError::new(error);
    let mut upsert_mark = tx
        .prepare_cached(
            "INSERT INTO snapshot_marks (environment, service, revision, content, written_at) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (environment, service) DO UPDATE SET revision = excluded.revision, content = excluded.content, \
             written_at = excluded.written_at",
        )
        .map_err(sql)?;
    for mark in marks {
        upsert_mark
            .execute(params![
                mark.environment,
                mark.service.as_deref().unwrap_or_default(),
                to_i64(mark.revision)?,
                mark.content,
                written_at,
            ])
            .map_err(sql)?;
    }
    Ok(())
}

/// Writes one user or token change inside the batch's transaction.
fn write_account(tx: &Transaction<'_>, write: &AccountWrite) -> Result<(), StoreError> {
    let sql = |error| StoreError::new(error);
    match write {
        AccountWrite::PutUser(user) => tx
            .execute(
                "INSERT INTO users (username, password_hash, role, services, created_at) VALUES (?, ?, ?, ?, ?) \
                 ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash, role = excluded.role, \
                 services = excluded.services",
                params![
                    user.username,
                    user.password_hash,
                    user.role.as_str(),
                    services_text(user.services.as_ref())?,
                    user.created_at,
                ],
            )
            .and_then(|_| {
                tx.execute("DELETE FROM sessions WHERE username = ?", [&user.username])
            }),
        AccountWrite::DeleteUser(user) => tx
            .execute("DELETE FROM users WHERE username = ?", [&user.username])
            .and_then(|_| {
                tx.execute("DELETE FROM sessions WHERE username = ?", [&user.username])
            }),
        AccountWrite::PutToken(token) => tx.execute(
            "INSERT INTO tokens (id, name, secret_hash, role, services, environment, created_by, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                token.id,
                token.name,
                token.secret_hash,
                token.role.as_str(),
                services_text(token.services.as_ref())?,
                token.environment,
                token.created_by,
                token.created_at,
            ],
        ),
        AccountWrite::DeleteToken(token) => {
            tx.execute("DELETE FROM tokens WHERE id = ?", [&token.id])
        }
    }
    .map_err(sql)?;
    Ok(())
}
