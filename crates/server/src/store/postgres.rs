//! PostgreSQL, for several replicas sharing one database: `setpoint serve
//! --store postgres://…`.
//!
//! Every replica keeps the world in memory. A commit is a compare-and-set
//! on the commit count in the `meta` row, as on SQLite: a writer that
//! missed another replica's commit is told it is behind and writes
//! nothing. A writer that lost such a race takes that row's lock
//! ([`Store::lock`]) before its next batches, reads what others committed,
//! applies and commits under it (see `docs/decisions.md`). A commit
//! notifies `setpoint_commits` in its transaction, so the others hear of
//! it when, and only if, it is durable; they read what it wrote by the
//! rows' `written_at`. The notification's payload names the process that
//! committed, only so that it does not catch up with itself.

use std::time::Duration;

use setpoint_core::{Change, ChangeKind};
use sqlx::{
    Postgres,
    postgres::{PgListener, PgPool, PgPoolOptions},
};
use tokio::sync::mpsc;

use super::{
    AccountWrite, Accounts, Batch, Behind, ChangeQuery, Delta, FleetStore, Locked, Position,
    Session, SnapshotMark, Store, StoreError, StoredReport, Token, User, rows,
};
use crate::{auth::rate_limit, world::World};

rows::reads!(sqlx::Postgres);

/// The channel commits are announced on.
const CHANNEL: &str = "setpoint_commits";

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Names this process in its notifications, so that it does not
    /// catch up with its own commits.
    origin: String,
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
        let mut origin = [0; 8];
        getrandom::fill(&mut origin).expect("the operating system's random source works");
        Ok(Self {
            pool,
            origin: format!("{:016x}", u64::from_le_bytes(origin)),
        })
    }

    /// A transaction that reads one instant of the database.
    async fn snapshot(&self) -> Result<sqlx::Transaction<'static, Postgres>, StoreError> {
        self.pool
            .begin_with(format!("BEGIN {ONE_INSTANT}"))
            .await
            .map_err(db)
    }
}

/// How a read sees one instant of the database.
const ONE_INSTANT: &str = "ISOLATION LEVEL REPEATABLE READ, READ ONLY";

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
        if batch.is_usual() {
            let mut conn = self.pool.acquire().await.map_err(db)?;
            return write_usual(&mut conn, &batch, &self.origin).await;
        }
        let mut tx = self.pool.begin().await.map_err(db)?;
        write(&mut tx, &batch, &self.origin).await?;
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

    async fn latest_by_item(&self, kinds: &[ChangeKind]) -> Result<Vec<Change>, StoreError> {
        if kinds.is_empty() {
            return Ok(Vec::new());
        }
        rows::latest_by_item_sql::<Postgres>(kinds)
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

    async fn since(&self, after: Position) -> Result<Delta, StoreError> {
        // The text runs as one implicit transaction: no BEGIN and COMMIT
        // round trips around it.
        let mut conn = self.pool.acquire().await.map_err(db)?;
        reads::since(&mut conn, after, &format!("SET TRANSACTION {ONE_INSTANT}")).await
    }

    async fn lock(&self) -> Result<Option<Box<dyn Locked>>, StoreError> {
        // Every commit updates this row first, so holding it queues every
        // other replica's commit; at READ COMMITTED, each read after this
        // sees all that committed before. Sent with the BEGIN: one round
        // trip.
        let tx = self
            .pool
            .begin_with("BEGIN; SELECT commits FROM meta WHERE id = 1 FOR UPDATE")
            .await
            .map_err(db)?;
        Ok(Some(Box::new(Held {
            tx,
            origin: self.origin.clone(),
        })))
    }

    async fn follow(&self) -> Result<Option<mpsc::Receiver<()>>, StoreError> {
        let mut listener = PgListener::connect_with(&self.pool).await.map_err(db)?;
        listener.listen(CHANNEL).await.map_err(db)?;
        // One slot: a wake-up already waiting covers every commit after it,
        // because the follower reads all that is newer, not one commit.
        let (wake, woken) = mpsc::channel(1);
        let own = format!("{} ", self.origin);
        tokio::spawn(async move {
            loop {
                let heard = tokio::select! {
                    heard = listener.try_recv() => heard,
                    // Nobody follows any more: let the connection go.
                    () = wake.closed() => return,
                };
                match heard {
                    // This process's writer has it already.
                    Ok(Some(heard)) if heard.payload().starts_with(&own) => continue,
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
    origin: String,
}

#[async_trait::async_trait]
impl Locked for Held {
    async fn since(&mut self, after: Position) -> Result<Delta, StoreError> {
        reads::since(&mut self.tx, after, "").await
    }

    async fn commit(mut self: Box<Self>, batch: Batch) -> Result<(), StoreError> {
        write(&mut self.tx, &batch, &self.origin).await?;
        self.tx.commit().await.map_err(db)
    }
}

/// A batch's usual writes in one statement: the compare-and-set on the
/// commit count, the change log, the services, the snapshot marks and the
/// notification. Rows go in as one array per column (`unnest`), so the text
/// is the same for every batch and stays prepared on each connection, and
/// no batch is too big for PostgreSQL's limit on parameters. Every part
/// depends on the compare-and-set: a writer that missed a commit writes
/// nothing and gets no row back. On its own it is its own transaction: one
/// round trip for a whole commit.
const COMMIT: &str = "\
WITH head AS (
    UPDATE meta SET revision = $1, commits = $2 WHERE id = 1 AND commits = $2 - 1
    RETURNING commits
), logged AS (
    INSERT INTO changes (revision, service, item, environment, actor, at, reason, kind, before, after)
    SELECT * FROM unnest($3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[],
                         $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])
    WHERE EXISTS (SELECT FROM head)
), upserted AS (
    INSERT INTO services (name, doc, revision, deleted_at, reclaim_at, breakers, managed_by,
                          rollouts, written_at)
    SELECT s.*, $2 FROM unnest($13::text[], $14::text[], $15::bigint[], $16::text[], $17::text[],
                               $18::text[], $25::text[], $26::text[]) AS s
    WHERE EXISTS (SELECT FROM head)
    ON CONFLICT (name) DO UPDATE SET doc = excluded.doc, revision = excluded.revision,
        deleted_at = excluded.deleted_at, reclaim_at = excluded.reclaim_at,
        breakers = excluded.breakers, managed_by = excluded.managed_by,
        rollouts = excluded.rollouts, written_at = excluded.written_at
), recreated AS (
    DELETE FROM removed_services WHERE name = ANY($13) AND EXISTS (SELECT FROM head)
), marked AS (
    INSERT INTO snapshot_marks (environment, service, revision, content, written_at)
    SELECT m.*, $2 FROM unnest($19::text[], $20::text[], $21::bigint[], $22::text[]) AS m
    WHERE EXISTS (SELECT FROM head)
    ON CONFLICT (environment, service) DO UPDATE SET revision = excluded.revision,
        content = excluded.content, written_at = excluded.written_at
)
SELECT pg_notify($23, $24) FROM head";

impl Batch {
    /// Whether [`COMMIT`] writes all of it: true of nearly every batch
    /// (config, flag and breaker writes), so they need no transaction of
    /// their own.
    fn is_usual(&self) -> bool {
        self.environments.is_empty()
            && self.change_requests.is_empty()
            && self.removed_services.is_empty()
            && self.unrouted.is_none()
            && self.accounts.is_empty()
    }
}

/// Writes the batch in `tx`; the caller commits.
async fn write(tx: &mut sqlx::PgConnection, batch: &Batch, origin: &str) -> Result<(), StoreError> {
    write_usual(tx, batch, origin).await?;
    let written_at = rows::to_i64(batch.commits)?;
    for env in &batch.environments {
        sqlx::query(
            "INSERT INTO environments (name, description, revision, policy, written_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (name) DO UPDATE SET description = excluded.description, \
             policy = excluded.policy, written_at = excluded.written_at",
        )
        .bind(&env.name)
        .bind(&env.description)
        .bind(rows::to_i64(env.revision)?)
        .bind(rows::policy(env)?)
        .bind(written_at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    }
    for request in &batch.change_requests {
        sqlx::query(
            "INSERT INTO change_requests (id, body, written_at) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET body = excluded.body, written_at = excluded.written_at",
        )
        .bind(rows::to_i64(request.id)?)
        .bind(rows::json_text(&**request)?)
        .bind(written_at)
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
        let (fingerprints, entries): (Vec<&str>, Vec<String>) = unrouted
            .values()
            .map(|entry| Ok((entry.alert.fingerprint.as_str(), rows::json_text(entry)?)))
            .collect::<Result<Vec<_>, StoreError>>()?
            .into_iter()
            .unzip();
        sqlx::query(
            "INSERT INTO unrouted_alerts (fingerprint, entry) SELECT * FROM unnest($1::text[], $2::text[])",
        )
        .bind(fingerprints)
        .bind(entries)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    }
    for account in &batch.accounts {
        write_account(tx, account).await?;
    }
    Ok(())
}

/// Runs [`COMMIT`] for the batch, announced as `<origin> <commits>`:
/// [`Behind`] when the store's commit count is not the one before the
/// batch's.
async fn write_usual(
    conn: &mut sqlx::PgConnection,
    batch: &Batch,
    origin: &str,
) -> Result<(), StoreError> {
    let text = |value: &Option<serde_json::Value>| value.as_ref().map(ToString::to_string);
    let (changes, services, marks) = (&batch.changes, &batch.services, &batch.snapshot_marks);
    let committed = sqlx::query(COMMIT)
        .bind(rows::to_i64(batch.revision)?)
        .bind(rows::to_i64(batch.commits)?)
        .bind(try_column(changes, |c| rows::to_i64(c.revision))?)
        .bind(column(changes, |c| c.service.clone()))
        .bind(column(changes, |c| c.item.clone()))
        .bind(column(changes, |c| c.environment.clone()))
        .bind(column(changes, |c| c.actor.clone()))
        .bind(column(changes, |c| c.at.clone()))
        .bind(column(changes, |c| c.reason.clone()))
        .bind(column(changes, |c| c.kind.as_str()))
        .bind(column(changes, |c| text(&c.before)))
        .bind(column(changes, |c| text(&c.after)))
        .bind(column(services, |s| s.doc.service.clone()))
        .bind(try_column(services, |s| rows::json_text(&s.doc))?)
        .bind(try_column(services, |s| rows::to_i64(s.revision))?)
        .bind(column(services, |s| {
            s.tombstone.as_ref().map(|t| t.tombstoned_at.clone())
        }))
        .bind(column(services, |s| {
            s.tombstone.as_ref().map(|t| t.reclaim_at.clone())
        }))
        .bind(try_column(services, |s| rows::json_text(&s.breakers))?)
        .bind(column(marks, |m| m.environment.clone()))
        .bind(column(marks, |m| m.service.clone().unwrap_or_default()))
        .bind(try_column(marks, |m| rows::to_i64(m.revision))?)
        .bind(column(marks, |m| m.content.clone()))
        .bind(CHANNEL)
        .bind(format!("{origin} {}", batch.commits))
        .bind(try_column(services, |s| {
            s.managed_by.as_ref().map(rows::json_text).transpose()
        })?)
        .bind(try_column(services, |s| {
            (!s.rollouts.is_empty())
                .then(|| rows::json_text(&s.rollouts))
                .transpose()
        })?)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?;
    match committed {
        Some(_) => Ok(()),
        None => Err(StoreError::new(Behind)),
    }
}

/// One column of a table's new rows, as an array parameter for `unnest`.
fn column<T, U>(items: &[T], field: impl Fn(&T) -> U) -> Vec<U> {
    items.iter().map(field).collect()
}

/// [`column`] of a field that may fail to convert.
fn try_column<T, U>(
    items: &[T],
    field: impl Fn(&T) -> Result<U, StoreError>,
) -> Result<Vec<U>, StoreError> {
    items.iter().map(field).collect()
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
