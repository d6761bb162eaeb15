//! PostgreSQL, for several replicas sharing one database: `setpoint serve
//! --store postgres://…`.
//!
//! Every replica keeps the world in memory. Its writer takes the `meta`
//! row's lock ([`Store::lock`]), reads what others committed, applies and
//! commits; every commit is also the same compare-and-set on the commit
//! count as on SQLite, so a writer without the lock that missed a commit is
//! told it is behind (see `docs/decisions.md`). A commit
//! notifies `setpoint_commits` in its transaction, so the others hear of
//! it when, and only if, it is durable; they read what it wrote by the
//! rows' `written_at`, never by the notification's payload.

use std::time::Duration;

use setpoint_core::Change;
use sqlx::{
    Postgres, QueryBuilder,
    postgres::{PgListener, PgPool, PgPoolOptions},
};
use tokio::sync::mpsc;

use super::{
    AccountWrite, Accounts, Batch, Behind, ChangeQuery, Delta, FleetStore, Locked, Session,
    SnapshotMark, Store, StoreError, StoredReport, Token, User, rows,
};
use crate::{auth::rate_limit, world::World};

rows::reads!(sqlx::Postgres);

/// The channel commits are announced on.
const CHANNEL: &str = "setpoint_commits";

/// Rows per multi-row `INSERT`: well under PostgreSQL's 65,535 parameters
/// for the widest table.
const ROWS_PER_INSERT: usize = 1_000;

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to `url` and migrates the database (replicas starting
    /// together take turns: sqlx migrates under an advisory lock).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            // A request waits at most this long for the database before
            // it is answered 503 (and `/readyz` with it): load balancers'
            // health checks give up after a few seconds.
            .acquire_timeout(Duration::from_secs(3))
            .connect(url)
            .await
            .map_err(StoreError::new)?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(StoreError::new)?;
        Ok(Self { pool })
    }

    /// A transaction that reads one instant of the database.
    async fn snapshot(&self) -> Result<sqlx::Transaction<'static, Postgres>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(StoreError::new)?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(StoreError::new)?;
        Ok(tx)
    }
}

fn db(error: sqlx::Error) -> StoreError {
    StoreError::new(error)
}

#[async_trait::async_trait]
impl Store for PgStore {
    async fn load(&self) -> Result<World, StoreError> {
        let mut tx = self.snapshot().await?;
        reads::load(&mut tx).await
    }

    async fn snapshot_marks(&self) -> Result<Vec<SnapshotMark>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        reads::marks(&mut conn).await
    }

    async fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        write(&mut tx, &batch).await?;
        tx.commit().await.map_err(db)
    }

    async fn changes(&self, query: &ChangeQuery) -> Result<Vec<Change>, StoreError> {
        rows::changes_sql::<Postgres>(query)?
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(db)?
            .iter()
            .map(rows::change)
            .collect()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn since(&self, commits: u64) -> Result<Delta, StoreError> {
        let mut tx = self.snapshot().await?;
        reads::since(&mut tx, commits).await
    }

    async fn lock(&self) -> Result<Option<Box<dyn Locked>>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        // Every commit updates this row first, so holding it queues every
        // other replica's commit; at READ COMMITTED, each read after this
        // sees all that committed before.
        sqlx::query("SELECT commits FROM meta WHERE id = 1 FOR UPDATE")
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        Ok(Some(Box::new(Held { tx })))
    }

    async fn follow(&self) -> Result<Option<mpsc::Receiver<()>>, StoreError> {
        let mut listener = PgListener::connect_with(&self.pool).await.map_err(db)?;
        listener.listen(CHANNEL).await.map_err(db)?;
        // One slot: a wake-up already waiting covers every commit after it,
        // because the follower reads all that is newer, not one commit.
        let (wake, woken) = mpsc::channel(1);
        tokio::spawn(async move {
            while !wake.is_closed() {
                match listener.try_recv().await {
                    Ok(Some(_)) => {}
                    // The connection dropped and the next call reconnects:
                    // commits in between were not heard, so catch up.
                    Ok(None) => tracing::warn!("lost the commit notifications; reconnecting"),
                    Err(error) => {
                        tracing::warn!(%error, "commit notifications failed; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
                let _ = wake.try_send(());
            }
        });
        Ok(Some(woken))
    }
}

/// The write lock: a transaction holding the `meta` row.
struct Held {
    tx: sqlx::Transaction<'static, Postgres>,
}

#[async_trait::async_trait]
impl Locked for Held {
    async fn since(&mut self, commits: u64) -> Result<Delta, StoreError> {
        reads::since(&mut self.tx, commits).await
    }

    async fn commit(mut self: Box<Self>, batch: Batch) -> Result<(), StoreError> {
        write(&mut self.tx, &batch).await?;
        self.tx.commit().await.map_err(db)
    }
}

/// Writes the batch in `tx`; the caller commits.
async fn write(tx: &mut sqlx::PgConnection, batch: &Batch) -> Result<(), StoreError> {
    let written_at = rows::to_i64(batch.commits)?;
    // First: the row lock on `meta` queues every other replica's commit
    // behind this one, and the count tells whether this writer saw all
    // commits before it.
    let moved =
        sqlx::query("UPDATE meta SET revision = $1, commits = $2 WHERE id = 1 AND commits = $3")
            .bind(rows::to_i64(batch.revision)?)
            .bind(written_at)
            .bind(written_at - 1)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
    if moved.rows_affected() != 1 {
        return Err(StoreError::new(Behind));
    }
    write_changes(tx, &batch.changes).await?;
    for env in &batch.environments {
        sqlx::query(
            "INSERT INTO environments (name, description, revision, written_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&env.name)
        .bind(&env.description)
        .bind(rows::to_i64(env.revision)?)
        .bind(written_at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    }
    write_services(tx, batch, written_at).await?;
    write_marks(tx, &batch.snapshot_marks, written_at).await?;
    if let Some(unrouted) = &batch.unrouted {
        // At most a few hundred entries: replaced as a whole.
        sqlx::query("DELETE FROM unrouted_alerts")
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query("UPDATE meta SET unrouted_at = $1 WHERE id = 1")
            .bind(written_at)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        for entry in unrouted.values() {
            sqlx::query("INSERT INTO unrouted_alerts (fingerprint, entry) VALUES ($1, $2)")
                .bind(&entry.alert.fingerprint)
                .bind(rows::json_text(entry)?)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
    }
    for account in &batch.accounts {
        write_account(tx, account).await?;
    }
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(written_at.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    Ok(())
}

/// Appends to the change log, many rows per statement.
async fn write_changes(tx: &mut sqlx::PgConnection, changes: &[Change]) -> Result<(), StoreError> {
    for chunk in changes.chunks(ROWS_PER_INSERT) {
        let mut sql = QueryBuilder::<Postgres>::new(
            "INSERT INTO changes (revision, service, item, environment, actor, at, reason, kind, before, after) ",
        );
        let mut failed = None;
        sql.push_values(chunk, |mut row, change| {
            let revision = rows::to_i64(change.revision).unwrap_or_else(|e| {
                failed = Some(e);
                0
            });
            row.push_bind(revision)
                .push_bind(change.service.clone())
                .push_bind(change.item.clone())
                .push_bind(change.environment.clone())
                .push_bind(change.actor.clone())
                .push_bind(change.at.clone())
                .push_bind(change.reason.clone())
                .push_bind(change.kind.as_str())
                .push_bind(change.before.as_ref().map(ToString::to_string))
                .push_bind(change.after.as_ref().map(ToString::to_string));
        });
        if let Some(error) = failed {
            return Err(error);
        }
        sql.build().execute(&mut *tx).await.map_err(db)?;
    }
    Ok(())
}

/// Writes the services the batch touched and forgets those it reclaimed.
async fn write_services(
    tx: &mut sqlx::PgConnection,
    batch: &Batch,
    written_at: i64,
) -> Result<(), StoreError> {
    for chunk in batch.services.chunks(ROWS_PER_INSERT) {
        let mut values = Vec::with_capacity(chunk.len());
        for service in chunk {
            let tombstone = service.tombstone.as_ref();
            values.push((
                service.doc.service.clone(),
                rows::json_text(&service.doc)?,
                rows::to_i64(service.revision)?,
                tombstone.map(|t| t.deleted_at.clone()),
                tombstone.map(|t| t.reclaim_at.clone()),
                rows::json_text(&service.breakers)?,
            ));
        }
        let mut sql = QueryBuilder::<Postgres>::new(
            "INSERT INTO services (name, doc, revision, deleted_at, reclaim_at, breakers, written_at) ",
        );
        sql.push_values(
            values,
            |mut row, (name, doc, revision, deleted, reclaim, breakers)| {
                row.push_bind(name)
                    .push_bind(doc)
                    .push_bind(revision)
                    .push_bind(deleted)
                    .push_bind(reclaim)
                    .push_bind(breakers)
                    .push_bind(written_at);
            },
        );
        sql.push(
            " ON CONFLICT (name) DO UPDATE SET doc = excluded.doc, revision = excluded.revision, \
             deleted_at = excluded.deleted_at, reclaim_at = excluded.reclaim_at, \
             breakers = excluded.breakers, written_at = excluded.written_at",
        );
        sql.build().execute(&mut *tx).await.map_err(db)?;
        let names: Vec<&str> = chunk.iter().map(|s| s.doc.service.as_str()).collect();
        sqlx::query("DELETE FROM removed_services WHERE name = ANY($1)")
            .bind(&names)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
    }
    if !batch.removed_services.is_empty() {
        let names = &batch.removed_services;
        for sql in [
            "DELETE FROM services WHERE name = ANY($1)",
            "DELETE FROM snapshot_marks WHERE service = ANY($1)",
        ] {
            sqlx::query(sql)
                .bind(names)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        sqlx::query(
            "INSERT INTO removed_services (name, written_at) SELECT unnest($1::text[]), $2 \
             ON CONFLICT (name) DO UPDATE SET written_at = excluded.written_at",
        )
        .bind(names)
        .bind(written_at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    }
    Ok(())
}

/// Records when the batch's rebuilt snapshots last changed.
async fn write_marks(
    tx: &mut sqlx::PgConnection,
    marks: &[SnapshotMark],
    written_at: i64,
) -> Result<(), StoreError> {
    for chunk in marks.chunks(ROWS_PER_INSERT) {
        let mut values = Vec::with_capacity(chunk.len());
        for mark in chunk {
            values.push((mark, rows::to_i64(mark.revision)?));
        }
        let mut sql = QueryBuilder::<Postgres>::new(
            "INSERT INTO snapshot_marks (environment, service, revision, content, written_at) ",
        );
        sql.push_values(values, |mut row, (mark, revision)| {
            row.push_bind(mark.environment.clone())
                .push_bind(mark.service.clone().unwrap_or_default())
                .push_bind(revision)
                .push_bind(mark.content.clone())
                .push_bind(written_at);
        });
        sql.push(
            " ON CONFLICT (environment, service) DO UPDATE SET revision = excluded.revision, \
             content = excluded.content, written_at = excluded.written_at",
        );
        sql.build().execute(&mut *tx).await.map_err(db)?;
    }
    Ok(())
}

/// Writes one user or token change inside the batch's transaction; a user
/// written or deleted loses their sessions on every replica at once.
async fn write_account(
    tx: &mut sqlx::PgConnection,
    write: &AccountWrite,
) -> Result<(), StoreError> {
    let end_sessions = |username: &str| {
        sqlx::query("DELETE FROM sessions WHERE username = $1").bind(username.to_string())
    };
    match write {
        AccountWrite::PutUser(user) => {
            sqlx::query(
                "INSERT INTO users (username, password_hash, role, services, created_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash, role = excluded.role, \
                 services = excluded.services",
            )
            .bind(&user.username)
            .bind(&user.password_hash)
            .bind(user.role.as_str())
            .bind(rows::services_text(user.services.as_ref())?)
            .bind(&user.created_at)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            end_sessions(&user.username)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        AccountWrite::DeleteUser(user) => {
            sqlx::query("DELETE FROM users WHERE username = $1")
                .bind(&user.username)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            end_sessions(&user.username)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        AccountWrite::PutToken(token) => {
            sqlx::query(
                "INSERT INTO tokens (id, name, secret_hash, role, services, environment, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&token.id)
            .bind(&token.name)
            .bind(&token.secret_hash)
            .bind(token.role.as_str())
            .bind(rows::services_text(token.services.as_ref())?)
            .bind(&token.environment)
            .bind(&token.created_by)
            .bind(&token.created_at)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        AccountWrite::DeleteToken(token) => {
            sqlx::query("DELETE FROM tokens WHERE id = $1")
                .bind(&token.id)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl FleetStore for PgStore {
    async fn reports(&self) -> Result<Vec<StoredReport>, StoreError> {
        sqlx::query(
            "SELECT report, reported_at FROM fleet_reports ORDER BY environment, cluster, namespace",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(rows::report)
        .collect()
    }

    async fn put_reports(&self, reports: &[StoredReport]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        for stored in reports {
            let report = &stored.report;
            sqlx::query(
                "INSERT INTO fleet_reports (environment, cluster, namespace, report, reported_at) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (environment, cluster, namespace) \
                 DO UPDATE SET report = excluded.report, reported_at = excluded.reported_at",
            )
            .bind(&report.environment)
            .bind(&report.cluster)
            .bind(&report.namespace)
            .bind(rows::json_text(report)?)
            .bind(stored.reported_at)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    async fn forget_report(
        &self,
        environment: &str,
        cluster: &str,
        namespace: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "DELETE FROM fleet_reports WHERE environment = $1 AND cluster = $2 AND namespace = $3",
        )
        .bind(environment)
        .bind(cluster)
        .bind(namespace)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() > 0)
    }
}

#[async_trait::async_trait]
impl Accounts for PgStore {
    async fn user_count(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        rows::to_u64(count)
    }

    async fn user(&self, username: &str) -> Result<Option<User>, StoreError> {
        sqlx::query("SELECT * FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .as_ref()
            .map(rows::user)
            .transpose()
    }

    async fn users(&self) -> Result<Vec<User>, StoreError> {
        sqlx::query("SELECT * FROM users ORDER BY username")
            .fetch_all(&self.pool)
            .await
            .map_err(db)?
            .iter()
            .map(rows::user)
            .collect()
    }

    async fn token(&self, id: &str) -> Result<Option<Token>, StoreError> {
        sqlx::query("SELECT * FROM tokens WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .as_ref()
            .map(rows::token)
            .transpose()
    }

    async fn tokens(&self) -> Result<Vec<Token>, StoreError> {
        sqlx::query("SELECT * FROM tokens ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await
            .map_err(db)?
            .iter()
            .map(rows::token)
            .collect()
    }

    async fn put_session(&self, session: &Session) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (id_hash, username, csrf, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&session.id_hash)
        .bind(&session.username)
        .bind(&session.csrf)
        .bind(&session.expires_at)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn session(&self, id_hash: &str, now: &str) -> Result<Option<Session>, StoreError> {
        sqlx::query("SELECT * FROM sessions WHERE id_hash = $1 AND expires_at > $2")
            .bind(id_hash)
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .as_ref()
            .map(rows::session)
            .transpose()
    }

    async fn delete_session(&self, id_hash: &str, now: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1 OR expires_at <= $2")
            .bind(id_hash)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn login_attempt(
        &self,
        username: &str,
        now: i64,
    ) -> Result<Option<Result<(), u64>>, StoreError> {
        let name = rate_limit::key(username);
        let window = i64::try_from(rate_limit::WINDOW.as_millis()).unwrap_or(i64::MAX);
        let mut tx = self.pool.begin().await.map_err(db)?;
        // Parallel guesses at one name, on any replica, count one by one.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        // Attempts past the window count for no one: the table holds at
        // most a window's worth, whatever names are sprayed at it.
        sqlx::query("DELETE FROM login_attempts WHERE at <= $1")
            .bind(now - window)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let recent: Vec<i64> =
            sqlx::query_scalar("SELECT at FROM login_attempts WHERE username = $1 ORDER BY at")
                .bind(name)
                .fetch_all(&mut *tx)
                .await
                .map_err(db)?;
        if recent.len() >= rate_limit::MAX_FAILURES {
            let oldest = recent.first().copied().unwrap_or(now);
            let wait_ms = (oldest + window - now).max(1_000);
            return Ok(Some(Err(u64::try_from(wait_ms / 1_000).unwrap_or(1))));
        }
        sqlx::query("INSERT INTO login_attempts (username, at) VALUES ($1, $2)")
            .bind(name)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(Some(Ok(())))
    }

    async fn login_succeeded(&self, username: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM login_attempts WHERE username = $1")
            .bind(rate_limit::key(username))
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }
}
