//! Rows into records, once for both backends: the two speak the same
//! schema (`migrations/`), and only their drivers' row types differ.

use std::sync::Arc;

use serde_json::Value;
use setpoint_core::{Change, ChangeKind, Tombstone};
use sqlx::Row as _;

use super::{Session, SnapshotMark, StoreError, StoredReport, Token, User};
use crate::auth::Role;
use crate::world::{ChangeRequest, EnvironmentRecord, ServiceRecord, UnroutedAlert};

/// The columns a backend's row hands out, decoded and with the error
/// already a [`StoreError`].
pub(super) trait Columns {
    fn text(&self, column: &str) -> Result<String, StoreError>;
    fn maybe_text(&self, column: &str) -> Result<Option<String>, StoreError>;
    fn int(&self, column: &str) -> Result<i64, StoreError>;

    fn revision(&self, column: &str) -> Result<u64, StoreError> {
        to_u64(self.int(column)?)
    }

    fn json<T: serde::de::DeserializeOwned>(&self, column: &str) -> Result<T, StoreError> {
        serde_json::from_str(&self.text(column)?).map_err(StoreError::new)
    }

    fn maybe_json<T: serde::de::DeserializeOwned>(
        &self,
        column: &str,
    ) -> Result<Option<T>, StoreError> {
        self.maybe_text(column)?
            .map(|t| serde_json::from_str(&t))
            .transpose()
            .map_err(StoreError::new)
    }
}

macro_rules! columns {
    ($row:ty) => {
        impl Columns for $row {
            fn text(&self, column: &str) -> Result<String, StoreError> {
                self.try_get(column).map_err(StoreError::new)
            }
            fn maybe_text(&self, column: &str) -> Result<Option<String>, StoreError> {
                self.try_get(column).map_err(StoreError::new)
            }
            fn int(&self, column: &str) -> Result<i64, StoreError> {
                self.try_get(column).map_err(StoreError::new)
            }
        }
    };
}

columns!(sqlx::sqlite::SqliteRow);
columns!(sqlx::postgres::PgRow);

pub(super) fn to_i64(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(StoreError::new)
}

pub(super) fn to_u64(n: i64) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(StoreError::new)
}

/// A JSON list of services, or `NULL` for all.
pub(super) fn services_text(services: Option<&Vec<String>>) -> Result<Option<String>, StoreError> {
    services
        .map(serde_json::to_string)
        .transpose()
        .map_err(StoreError::new)
}

pub(super) fn json_text(value: &impl serde::Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(StoreError::new)
}

fn role_of(text: &str) -> Result<Role, StoreError> {
    Role::parse(text).ok_or_else(|| StoreError::new(format!("unknown role {text:?} in the store")))
}

pub(super) fn user(row: &impl Columns) -> Result<User, StoreError> {
    Ok(User {
        username: row.text("username")?,
        password_hash: row.text("password_hash")?,
        role: role_of(&row.text("role")?)?,
        services: row.maybe_json("services")?,
        created_at: row.text("created_at")?,
    })
}

pub(super) fn token(row: &impl Columns) -> Result<Token, StoreError> {
    Ok(Token {
        id: row.text("id")?,
        name: row.text("name")?,
        secret_hash: row.text("secret_hash")?,
        role: role_of(&row.text("role")?)?,
        services: row.maybe_json("services")?,
        environment: row.maybe_text("environment")?,
        created_by: row.text("created_by")?,
        created_at: row.text("created_at")?,
    })
}

pub(super) fn session(row: &impl Columns) -> Result<Session, StoreError> {
    Ok(Session {
        id_hash: row.text("id_hash")?,
        username: row.text("username")?,
        csrf: row.text("csrf")?,
        expires_at: row.text("expires_at")?,
    })
}

pub(super) fn environment(row: &impl Columns) -> Result<Arc<EnvironmentRecord>, StoreError> {
    Ok(Arc::new(EnvironmentRecord {
        name: row.text("name")?,
        description: row.text("description")?,
        revision: row.revision("revision")?,
        policy: row.maybe_json("policy")?.unwrap_or_default(),
    }))
}

pub(super) fn change_request(row: &impl Columns) -> Result<Arc<ChangeRequest>, StoreError> {
    Ok(Arc::new(row.json("body")?))
}

/// An environment's policy as stored: `NULL` while it asks nothing.
pub(super) fn policy(env: &EnvironmentRecord) -> Result<Option<String>, StoreError> {
    (!env.policy.is_open())
        .then(|| json_text(&env.policy))
        .transpose()
}

pub(super) fn service(row: &impl Columns) -> Result<Arc<ServiceRecord>, StoreError> {
    let tombstone = row
        .maybe_text("deleted_at")?
        .zip(row.maybe_text("reclaim_at")?)
        .map(|(tombstoned_at, reclaim_at)| Tombstone {
            tombstoned_at,
            reclaim_at,
        });
    Ok(Arc::new(ServiceRecord {
        doc: row.json("doc")?,
        revision: row.revision("revision")?,
        tombstone,
        breakers: row.json("breakers")?,
        managed_by: row.maybe_json("managed_by")?,
        rollouts: row.maybe_json("rollouts")?.unwrap_or_default(),
    }))
}

pub(super) fn unrouted(row: &impl Columns) -> Result<UnroutedAlert, StoreError> {
    row.json("entry")
}

pub(super) fn mark(row: &impl Columns) -> Result<SnapshotMark, StoreError> {
    let service = row.text("service")?;
    Ok(SnapshotMark {
        environment: row.text("environment")?,
        service: (!service.is_empty()).then_some(service),
        revision: row.revision("revision")?,
        content: row.text("content")?,
    })
}

pub(super) fn change(row: &impl Columns) -> Result<Change, StoreError> {
    let kind = row.text("kind")?;
    Ok(Change {
        revision: row.revision("revision")?,
        service: row.maybe_text("service")?,
        item: row.maybe_text("item")?,
        environment: row.maybe_text("environment")?,
        actor: row.text("actor")?,
        at: row.text("at")?,
        reason: row.text("reason")?,
        kind: ChangeKind::parse(&kind)
            .ok_or_else(|| StoreError::new(format!("unknown change kind {kind:?} in the log")))?,
        before: row.maybe_json::<Value>("before")?,
        after: row.maybe_json::<Value>("after")?,
    })
}

pub(super) fn report(row: &impl Columns) -> Result<StoredReport, StoreError> {
    Ok(StoredReport {
        report: row.json("report")?,
        reported_at: row.int("reported_at")?,
    })
}

/// The change log's rows, as [`change`] reads them.
pub(super) const CHANGES: &str = "SELECT revision, service, item, environment, actor, at, reason, kind, before, after FROM changes";

/// The change-log query both backends run, with the dialect's placeholders
/// (`QueryBuilder` writes `?` or `$n`).
pub(super) fn changes_sql<'q, DB>(
    query: &super::ChangeQuery,
) -> Result<sqlx::QueryBuilder<'q, DB>, StoreError>
where
    DB: sqlx::Database,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut sql = sqlx::QueryBuilder::new(format!("{CHANGES} WHERE 1 = 1"));
    if let Some(service) = &query.service {
        sql.push(" AND service = ").push_bind(service.clone());
    }
    if let Some(environment) = &query.environment {
        sql.push(" AND (environment IS NULL OR environment = ")
            .push_bind(environment.clone())
            .push(")");
    }
    if let Some(item) = &query.item {
        sql.push(" AND item = ").push_bind(item.clone());
    }
    if let Some(actor) = &query.actor {
        sql.push(" AND actor = ").push_bind(actor.clone());
    }
    if let Some(kind) = query.kind {
        sql.push(" AND kind = ").push_bind(kind.as_str());
    }
    if let Some(since) = &query.since {
        sql.push(" AND at >= ").push_bind(since.clone());
    }
    if let Some(until) = &query.until {
        sql.push(" AND at < ").push_bind(until.clone());
    }
    if let Some(before) = query.before_revision {
        sql.push(" AND revision < ").push_bind(to_i64(before)?);
    }
    if let Some(after) = query.after_revision {
        sql.push(" AND revision > ").push_bind(to_i64(after)?);
        sql.push(" ORDER BY revision ASC");
    } else {
        sql.push(" ORDER BY revision DESC");
    }
    sql.push(" LIMIT ").push_bind(i64::from(query.limit));
    Ok(sql)
}

/// The latest change of each item among `kinds` — by service, item and
/// environment — without its `before` and `after`, which a list showing
/// who changed what last does not need and which may be large.
pub(super) fn latest_by_item_sql<'q, DB>(kinds: &[ChangeKind]) -> sqlx::QueryBuilder<'q, DB>
where
    DB: sqlx::Database,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut sql = sqlx::QueryBuilder::new(
        "SELECT revision, service, item, environment, actor, at, reason, kind, \
         CAST(NULL AS TEXT) AS before, CAST(NULL AS TEXT) AS after FROM changes \
         WHERE revision IN (SELECT MAX(revision) FROM changes WHERE item IS NOT NULL AND kind IN (",
    );
    let mut list = sql.separated(", ");
    for kind in kinds {
        list.push_bind(kind.as_str());
    }
    sql.push(") GROUP BY service, item, environment) ORDER BY revision");
    sql
}

/// The reads every backend makes with the same SQL (no parameters: an
/// integer of ours is written into the text), over one driver's
/// connection. A macro rather than a function generic over the driver:
/// written generically (over `raw_sql`), the async trait methods calling it
/// did not compile ("`Send` is not general enough"); a generic version over
/// `sqlx::query` was not tried.
macro_rules! reads {
    ($db:ty) => {
        /// Reads shared by both backends (see `store::rows::reads`).
        mod reads {
            use std::sync::Arc;

            use $crate::store::rows::{self, Columns as _};
            use $crate::store::{Delta, SnapshotMark, StoreError};
            use $crate::world::World;

            type Connection = <$db as sqlx::Database>::Connection;
            type Row = <$db as sqlx::Database>::Row;

            const ENVIRONMENTS: &str =
                "SELECT name, description, revision, policy FROM environments";
            const REQUESTS: &str = "SELECT body FROM change_requests";
            const SERVICES: &str =
                "SELECT doc, revision, deleted_at, reclaim_at, breakers, managed_by, rollouts FROM services";
            const MARKS: &str =
                "SELECT environment, service, revision, content FROM snapshot_marks";

            /// The whole current state, read in `conn`'s transaction.
            pub(crate) async fn load(conn: &mut Connection) -> Result<World, StoreError> {
                let meta = one(conn, "SELECT revision, commits FROM meta WHERE id = 1").await?;
                Ok(World {
                    revision: meta.revision("revision")?,
                    commits: meta.revision("commits")?,
                    environments: all(conn, ENVIRONMENTS)
                        .await?
                        .iter()
                        .map(|row| rows::environment(row).map(|e| (e.name.clone(), e)))
                        .collect::<Result<_, _>>()?,
                    services: all(conn, SERVICES)
                        .await?
                        .iter()
                        .map(|row| rows::service(row).map(|s| (s.doc.service.clone(), s)))
                        .collect::<Result<_, _>>()?,
                    unrouted: Arc::new(by_fingerprint(
                        &all(conn, "SELECT entry FROM unrouted_alerts").await?,
                    )?),
                    change_requests: all(conn, REQUESTS)
                        .await?
                        .iter()
                        .map(|row| rows::change_request(row).map(|r| (r.id, r)))
                        .collect::<Result<_, _>>()?,
                })
            }

            /// What the commits after `after` wrote, read in one round
            /// trip: the statements go as one text (the simple protocol; the
            /// only values in them are integers of ours), after `first`,
            /// and the rows come back statement by statement. On
            /// PostgreSQL the text runs as one transaction, which `first`
            /// may make one instant (`SET TRANSACTION …`).
            pub(crate) async fn since(
                conn: &mut Connection,
                after: $crate::store::Position,
                first: &str,
            ) -> Result<Delta, StoreError> {
                use futures_util::TryStreamExt as _;
                let commits = rows::to_i64(after.commits)?;
                let newer = format!(" WHERE written_at > {commits}");
                let sql = [
                    first.to_string(),
                    "SELECT revision, commits, unrouted_at FROM meta WHERE id = 1".to_string(),
                    format!("{ENVIRONMENTS}{newer}"),
                    format!("{SERVICES}{newer}"),
                    format!("SELECT name FROM removed_services{newer}"),
                    format!("{MARKS}{newer}"),
                    format!("{REQUESTS}{newer}"),
                    format!(
                        "SELECT entry FROM unrouted_alerts \
                         WHERE (SELECT unrouted_at FROM meta WHERE id = 1) > {commits}"
                    ),
                    format!(
                        "{} WHERE revision > {} ORDER BY revision LIMIT {}",
                        rows::CHANGES,
                        rows::to_i64(after.revision)?,
                        $crate::store::CHANGES_PER_READ,
                    ),
                ]
                .into_iter()
                .filter(|statement| !statement.is_empty())
                .collect::<Vec<_>>()
                .join(";\n");
                // Rows by statement; `first` returns none.
                let mut results: Vec<Vec<Row>> = vec![Vec::new()];
                let mut stream = sqlx::raw_sql(&sql).fetch_many(&mut *conn);
                while let Some(item) = stream.try_next().await.map_err(StoreError::new)? {
                    match item {
                        sqlx::Either::Left(_) => results.push(Vec::new()),
                        sqlx::Either::Right(row) => {
                            if let Some(rows) = results.last_mut() {
                                rows.push(row);
                            }
                        }
                    }
                }
                drop(stream);
                let mut results = results.into_iter();
                let mut next = || results.next().unwrap_or_default();
                if !first.is_empty() {
                    next();
                }
                let meta = next();
                let meta = meta
                    .first()
                    .ok_or_else(|| StoreError::new(sqlx::Error::RowNotFound))?;
                let mut delta = Delta {
                    commits: meta.revision("commits")?,
                    revision: meta.revision("revision")?,
                    ..Delta::default()
                };
                delta.environments = next()
                    .iter()
                    .map(rows::environment)
                    .collect::<Result<_, _>>()?;
                delta.services = next().iter().map(rows::service).collect::<Result<_, _>>()?;
                delta.removed_services = next()
                    .iter()
                    .map(|row| row.text("name"))
                    .collect::<Result<_, _>>()?;
                delta.snapshot_marks = next().iter().map(rows::mark).collect::<Result<_, _>>()?;
                delta.change_requests = next()
                    .iter()
                    .map(rows::change_request)
                    .collect::<Result<_, _>>()?;
                let unrouted = next();
                if meta.revision("unrouted_at")? > after.commits {
                    delta.unrouted = Some(Arc::new(by_fingerprint(&unrouted)?));
                }
                delta.changes = next().iter().map(rows::change).collect::<Result<_, _>>()?;
                Ok(delta)
            }

            /// Every snapshot mark.
            pub(crate) async fn marks(conn: &mut Connection) -> Result<Vec<SnapshotMark>, StoreError> {
                all(conn, MARKS).await?.iter().map(rows::mark).collect()
            }

            /// Unrouted alerts' rows, by the alert's fingerprint.
            fn by_fingerprint(
                found: &[Row],
            ) -> Result<
                std::collections::BTreeMap<String, $crate::world::UnroutedAlert>,
                StoreError,
            > {
                found.iter()
                    .map(|row| {
                        rows::unrouted(row).map(|entry| (entry.alert.fingerprint.clone(), entry))
                    })
                    .collect()
            }

            async fn all(conn: &mut Connection, sql: &str) -> Result<Vec<Row>, StoreError> {
                sqlx::query(sql)
                    .persistent(false)
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(StoreError::new)
            }

            async fn one(conn: &mut Connection, sql: &str) -> Result<Row, StoreError> {
                sqlx::query(sql)
                    .persistent(false)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(StoreError::new)
            }
        }
    };
}

pub(super) use reads;
