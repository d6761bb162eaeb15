//! The embedded default: one SQLite file under `--data`, in WAL mode with
//! `synchronous = FULL`, so an acknowledged write survives a crash.

use std::{path::Path, str::FromStr, time::Duration};

use setpoint_core::{Change, ChangeKind};
use sqlx::{
    Sqlite,
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
    },
};

mod commit;

use commit::Committer;

use super::{
    Accounts, Batch, ChangeQuery, Delta, FleetStore, Position, Session, SnapshotMark, Store,
    StoreError, StoredReport, Token, User, rows,
};
use crate::world::World;

rows::reads!(sqlx::Sqlite);

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
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .map_err(StoreError::new)?;
        let committer = Committer::open(&path)?;
        Ok(Self { pool, committer })
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn load(&self) -> Result<World, StoreError> {
        // One read transaction: WAL gives it one instant of the file.
        let mut tx = self.pool.begin().await.map_err(StoreError::new)?;
        reads::load(&mut tx).await
    }

    async fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        self.committer.commit(batch).await
    }

    async fn snapshot_marks(&self) -> Result<Vec<SnapshotMark>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(StoreError::new)?;
        reads::marks(&mut conn).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(StoreError::new)?;
        Ok(())
    }

    async fn since(&self, after: Position) -> Result<Delta, StoreError> {
        let mut tx = self.pool.begin().await.map_err(StoreError::new)?;
        reads::since(&mut tx, after, "").await
    }

    async fn changes(&self, query: &ChangeQuery) -> Result<Vec<Change>, StoreError> {
        rows::changes_sql::<Sqlite>(query)?
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::new)?
            .iter()
            .map(rows::change)
            .collect()
    }

    async fn latest_by_item(&self, kinds: &[ChangeKind]) -> Result<Vec<Change>, StoreError> {
        if kinds.is_empty() {
            return Ok(Vec::new());
        }
        rows::latest_by_item_sql::<Sqlite>(kinds)
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::new)?
            .iter()
            .map(rows::change)
            .collect()
    }
}

#[async_trait::async_trait]
impl FleetStore for SqliteStore {
    async fn reports(&self) -> Result<Vec<StoredReport>, StoreError> {
        sqlx::query(
            "SELECT report, reported_at FROM fleet_reports ORDER BY environment, cluster, namespace",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::new)?
        .iter()
        .map(rows::report)
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
            .bind(rows::json_text(report)?)
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
        rows::to_u64(count)
    }

    async fn user(&self, username: &str) -> Result<Option<User>, StoreError> {
        sqlx::query("SELECT * FROM users WHERE username = ?")
            .bind(username)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::new)?
            .as_ref()
            .map(rows::user)
            .transpose()
    }

    async fn users(&self) -> Result<Vec<User>, StoreError> {
        sqlx::query("SELECT * FROM users ORDER BY username")
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::new)?
            .iter()
            .map(rows::user)
            .collect()
    }

    async fn token(&self, id: &str) -> Result<Option<Token>, StoreError> {
        sqlx::query("SELECT * FROM tokens WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::new)?
            .as_ref()
            .map(rows::token)
            .transpose()
    }

    async fn tokens(&self) -> Result<Vec<Token>, StoreError> {
        sqlx::query("SELECT * FROM tokens ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::new)?
            .iter()
            .map(rows::token)
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
        row.as_ref().map(rows::session).transpose()
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
