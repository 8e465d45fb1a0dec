//! The target store (SQLite through sqlx): the application's users, groups,
//! memberships, roles and licenses, plus run records, audit events and
//! plugin state. The schema lives in `host/migrations/`.

mod apply;
mod groups;
mod load;
mod owner;
mod runs;
mod users;

pub use apply::ApplyContext;
pub use groups::GroupRow;
pub use owner::{Owner, HEARTBEAT_EVERY};
pub use runs::{AuditFilter, AuditRow, RunMatch, RunRecord, MIN_RUN_PREFIX};
pub use users::{Lookup, UserRow};

use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, Result};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
}

/// Serializes a column holding JSON text as that JSON (not as a string
/// holding JSON); text that is not JSON stays a string.
pub(crate) fn json_text<S: serde::Serializer>(
    text: &Option<String>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    use serde::Serialize;
    match text
        .as_deref()
        .map(serde_json::from_str::<serde_json::Value>)
    {
        None => s.serialize_none(),
        Some(Ok(value)) => value.serialize(s),
        Some(Err(_)) => text.serialize(s),
    }
}

/// SQLite allows 32766 bound parameters per statement; stay well below.
const MAX_PARAMS: usize = 30_000;

impl Store {
    /// Open (creating if needed) and migrate the store at `url`.
    pub async fn open(url: &str) -> Result<Store> {
        let opts = SqliteConnectOptions::from_str(url)
            .with_context(|| {
                format!("store.url {url:?} is not a valid SQLite URL (e.g. sqlite://usersync.db)")
            })?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true)
            // A run writes hundreds of thousands of index entries; a 64 MiB
            // page cache keeps the indexes' hot pages in memory.
            .pragma("cache_size", "-65536")
            .pragma("temp_store", "memory");
        if let Some(dir) = url
            .strip_prefix("sqlite://")
            .map(std::path::Path::new)
            .and_then(|p| p.parent())
        {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).with_context(|| {
                    format!("cannot create the store's folder {}", dir.display())
                })?;
            }
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await
            .with_context(|| format!("cannot open the store at {url}"))?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .with_context(|| {
                format!("cannot migrate the store's schema at {url}; if it was made by a pre-release build, move it away and sync again")
            })?;
        Ok(Store { pool })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The cursor the job's connector last checkpointed, and when the last
    /// full run finished.
    pub async fn job_cursor(
        &self,
        tenant: &str,
        job: &str,
    ) -> Result<(Option<String>, Option<String>)> {
        let row: Option<(Option<String>, Option<String>)> =
            sqlx::query_as("SELECT cursor, last_full_at FROM jobs WHERE tenant_id = ? AND id = ?")
                .bind(tenant)
                .bind(job)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.unwrap_or((None, None)))
    }

    /// License seats the tenant's users hold now, by kind.
    pub async fn seats_used(&self, tenant: &str) -> Result<std::collections::HashMap<String, u32>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT kind, count(*) FROM license_assignments WHERE tenant_id = ? GROUP BY kind",
        )
        .bind(tenant)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(k, n)| (k, n as u32)).collect())
    }

    /// Plugin state for tenant + job + plugin.
    pub async fn plugin_state(
        &self,
        tenant: &str,
        job: &str,
        plugin: &str,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        Ok(sqlx::query_as(
            "SELECT key, value FROM plugin_state WHERE tenant_id = ? AND job_id = ? AND plugin = ?",
        )
        .bind(tenant)
        .bind(job)
        .bind(plugin)
        .fetch_all(&self.pool)
        .await?)
    }
}

pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
