//! The embedded default: one SQLite file under `--data`, in WAL mode with
//! `synchronous = FULL`, so an acknowledged write survives a crash.

use std::{collections::BTreeMap, path::Path, str::FromStr, sync::Arc, time::Duration};

use serde_json::Value;
use setpoint_core::{Change, ChangeKind};
use sqlx::{
    QueryBuilder, Row, Sqlite,
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
    },
};

mod commit;

use commit::Committer;

use super::{
    Accounts, Batch, ChangeQuery, FleetStore, Session, SnapshotMark, Store, StoreError,
    StoredReport, Token, User,
};
use crate::auth::Role;
use crate::world::{EnvironmentRecord, ServiceRecord, Tombstone, UnroutedAlert, World};

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Reads, migrations and sessions.
    pool: SqlitePool,
    /// Every write of the change log and the state.
    committer: Committer,
}

impl SqliteStore {
    /// Opens (creating if needed) `dir/setpoint.db` and migrates it.
    pub async fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(StoreError::new)?;
        let path = dir.join("setpoint.db");
        let options = SqliteConnectOptions::from_str("sqlite://")
            .map_err(StoreError::new)?
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(StoreError::new)?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(StoreError::new)?;
        let committer = Committer::open(&path)?;
        Ok(Self { pool, committer })
    }
}

fn to_i64(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(StoreError::new)
}

fn to_u64(n: i64) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(StoreError::new)
}

fn parse_json(text: Option<String>) -> Result<Option<Value>, StoreError> {
    text.map(|t| serde_json::from_str(&t))
        .transpose()
        .map_err(StoreError::new)
}

impl SqliteStore {
    async fn unrouted(&self) -> Result<BTreeMap<String, UnroutedAlert>, StoreError> {
        let mut unrouted = BTreeMap::new();
        for entry in sqlx::query_scalar::<_, String>("SELECT entry FROM unrouted_alerts")
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::new)?
        {
            let entry: UnroutedAlert = serde_json::from_str(&entry).map_err(StoreError::new)?;
            unrouted.insert(entry.alert.fingerprint.clone(), entry);
        }
        Ok(unrouted)
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn load(&self) -> Result<World, StoreError> {
        let revision: i64 = sqlx::query_scalar("SELECT revision FROM meta WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::new)?;
        let mut world = World {
            revision: to_u64(revision)?,
            ..World::default()
        };
        for row in sqlx::query("SELECT name, description, revision FROM environments")
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::new)?
        {
            let record = EnvironmentRecord {
                name: row.get("name"),
                description: row.get("description"),
                revision: to_u64(row.get("revision"))?,
            };
            world
                .environments
                .insert(record.name.clone(), Arc::new(record));
        }
        let mut services = BTreeMap::new();
        for row in sqlx::query(
            "SELECT name, doc, revision, deleted_at, reclaim_at, breakers FROM services",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::new)?
        {
            let doc: String = row.get("doc");
            let deleted_at: Option<String> = row.get("deleted_at");
            let reclaim_at: Option<String> = row.get("reclaim_at");
            let breakers: String = row.get("breakers");
            let record = ServiceRecord {
                breakers: serde_json::from_str(&breakers).map_err(StoreError::new)?,
                doc: serde_json::from_str(&doc).map_err(StoreError::new)?,
                revision: to_u64(row.get("revision"))?,
                tombstone: deleted_at
                    .zip(reclaim_at)
                    .map(|(deleted_at, reclaim_at)| Tombstone {
                        deleted_at,
                        reclaim_at,
                    }),
            };
            services.insert(row.get::<String, _>("name"), Arc::new(record));
        }
        world.services = services;
        world.unrouted = Arc::new(self.unrouted().await?);
        Ok(world)
    }

    async fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        self.committer.commit(batch).await
    }

    async fn snapshot_marks(&self) -> Result<Vec<SnapshotMark>, StoreError> {
        let rows =
            sqlx::query("SELECT environment, service, revision, content FROM snapshot_marks")
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::new)?;
        rows.into_iter()
            .map(|row| {
                let service: String = row.get("service");
                Ok(SnapshotMark {
                    environment: row.get("environment"),
                    service: (!service.is_empty()).then_some(service),
                    revision: to_u64(row.get("revision"))?,
                    content: row.get("content"),
                })
            })
            .collect()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(StoreError::new)?;
        Ok(())
    }

    async fn changes(&self, query: &ChangeQuery) -> Result<Vec<Change>, StoreError> {
        let mut sql: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT revision, service, item, environment, actor, at, reason, kind, before, after FROM changes WHERE 1 = 1",
        );
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
        let rows = sql
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::new)?;
        rows.into_iter()
            .map(|row| {
                let kind: String = row.get("kind");
                Ok(Change {
                    revision: to_u64(row.get("revision"))?,
                    service: row.get("service"),
                    item: row.get("item"),
                    environment: row.get("environment"),
                    actor: row.get("actor"),
                    at: row.get("at"),
                    reason: row.get("reason"),
                    kind: ChangeKind::parse(&kind).ok_or_else(|| {
                        StoreError::new(format!("unknown change kind {kind:?} in the log"))
                    })?,
                    before: parse_json(row.get("before"))?,
                    after: parse_json(row.get("after"))?,
                })
            })
            .collect()
    }
}

fn services_text(services: Option<&Vec<String>>) -> Result<Option<String>, StoreError> {
    services
        .map(serde_json::to_string)
        .transpose()
        .map_err(StoreError::new)
}

fn services_of(text: Option<String>) -> Result<Option<Vec<String>>, StoreError> {
    text.map(|t| serde_json::from_str(&t))
        .transpose()
        .map_err(StoreError::new)
}

fn role_of(text: &str) -> Result<Role, StoreError> {
    Role::parse(text).ok_or_else(|| StoreError::new(format!("unknown role {text:?} in the store")))
}

fn user_of(row: &sqlx::sqlite::SqliteRow) -> Result<User, StoreError> {
    Ok(User {
        username: row.get("username"),
        password_hash: row.get("password_hash"),
        role: role_of(row.get("role"))?,
        services: services_of(row.get("services"))?,
        created_at: row.get("created_at"),
    })
}

fn token_of(row: &sqlx::sqlite::SqliteRow) -> Result<Token, StoreError> {
    Ok(Token {
        id: row.get("id"),
        name: row.get("name"),
        secret_hash: row.get("secret_hash"),
        role: role_of(row.get("role"))?,
        services: services_of(row.get("services"))?,
        environment: row.get("environment"),
        created_by: row.get("created_by"),
        created_at: row.get("created_at"),
    })
}

#[async_trait::async_trait]
impl FleetStore for SqliteStore {
    async fn reports(&self) -> Result<Vec<StoredReport>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT report, reported_at FROM fleet_reports ORDER BY environment, cluster, namespace",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::new)?;
        rows.into_iter()
            .map(|(report, reported_at)| {
                Ok(StoredReport {
                    report: serde_json::from_str(&report).map_err(StoreError::new)?,
                    reported_at,
                })
            })
            .collect()
    }

    async fn put_reports(&self, reports: &[StoredReport]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(StoreError::new)?;
        for stored in reports {
            let report = &stored.report;
            sqlx::query(
                "INSERT INTO fleet_reports (environment, cluster, namespace, report, reported_at) \
                 VALUES (?, ?, ?, ?, ?) \
                 ON CONFLICT (environment, cluster, namespace) \
                 DO UPDATE SET report = excluded.report, reported_at = excluded.reported_at",
            )
            .bind(&report.environment)
            .bind(&report.cluster)
            .bind(&report.namespace)
            .bind(serde_json::to_string(report).map_err(StoreError::new)?)
            .bind(stored.reported_at)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::new)?;
        }
        tx.commit().await.map_err(StoreError::new)
    }

    async fn forget_report(
        &self,
        environment: &str,
        cluster: &str,
        namespace: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "DELETE FROM fleet_reports WHERE environment = ? AND cluster = ? AND namespace = ?",
        )
        .bind(environment)
        .bind(cluster)
        .bind(namespace)
        .execute(&self.pool)
        .await
        .map_err(StoreError::new)?;
        Ok(done.rows_affected() > 0)
    }
}

#[async_trait::async_trait]
impl Accounts for SqliteStore {
    async fn user_count(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::new)?;
        to_u64(count)
    }

    async fn user(&self, username: &str) -> Result<Option<User>, StoreError> {
        sqlx::query("SELECT * FROM users WHERE username = ?")
            .bind(username)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::new)?
            .as_ref()
            .map(user_of)
            .transpose()
    }

    async fn users(&self) -> Result<Vec<User>, StoreError> {
        sqlx::query("SELECT * FROM users ORDER BY username")
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::new)?
            .iter()
            .map(user_of)
            .collect()
    }

    async fn token(&self, id: &str) -> Result<Option<Token>, StoreError> {
        sqlx::query("SELECT * FROM tokens WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::new)?
            .as_ref()
            .map(token_of)
            .transpose()
    }

    async fn tokens(&self) -> Result<Vec<Token>, StoreError> {
        sqlx::query("SELECT * FROM tokens ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::new)?
            .iter()
            .map(token_of)
            .collect()
    }

    async fn put_session(&self, session: &Session) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (id_hash, username, csrf, expires_at) VALUES (?, ?, ?, ?)",
        )
        .bind(&session.id_hash)
        .bind(&session.username)
        .bind(&session.csrf)
        .bind(&session.expires_at)
        .execute(&self.pool)
        .await
        .map_err(StoreError::new)?;
        Ok(())
    }

    async fn session(&self, id_hash: &str, now: &str) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query("SELECT * FROM sessions WHERE id_hash = ? AND expires_at > ?")
            .bind(id_hash)
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::new)?;
        Ok(row.map(|row| Session {
            id_hash: row.get("id_hash"),
            username: row.get("username"),
            csrf: row.get("csrf"),
            expires_at: row.get("expires_at"),
        }))
    }

    async fn delete_session(&self, id_hash: &str, now: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = ? OR expires_at <= ?")
            .bind(id_hash)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(StoreError::new)?;
        Ok(())
    }
}
