//! The target store: the application's users, groups, memberships, roles
//! and licenses, plus run records, audit events and plugin state, in SQLite
//! (embedded) or PostgreSQL through sqlx (see `db.rs`). The schema lives in
//! `host/migrations/<backend>/`.

mod agents;
mod apply;
mod audit_read;
mod audit_shape;
mod audit_write;
mod checkpoint;
mod db;
mod groups;
mod leases;
mod load;
mod managed;
mod owner;
mod run_phases;
mod run_quota;
mod runs;
mod sqlite_bulk;
mod users;

pub use agents::AgentRow;
pub use apply::ApplyContext;
pub use audit_read::{AuditFilter, AuditRow};
pub use db::{commit_uncertain, lost_connection, redact, Backend};
pub use groups::GroupRow;
pub use leases::{Abandoned, Holder, LeaseClaim, Slot, Take};
pub use load::FieldsLoaded;
pub use managed::{Managed, ManagedJob, ManagedPlugin, ManagedTenant};
pub use owner::{Owner, HEARTBEAT_EVERY};
pub use run_phases::{ms_since, Phases};
pub use run_quota::{QuotaHit, RunQuota};
pub use runs::{RunMatch, RunRecord, MIN_RUN_PREFIX};
pub use users::{Lookup, UserRow};

use anyhow::Result;

use db::on_pool;

#[derive(Clone)]
pub struct Store {
    backend: Backend,
    /// Where the database is (`host:port` or the SQLite file), for messages.
    location: String,
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

/// SQLite allows 32766 bound parameters per statement (PostgreSQL 65535);
/// stay well below.
const MAX_PARAMS: usize = 30_000;

impl Store {
    /// Open (creating an SQLite file if needed) and migrate the store at
    /// `url` (`sqlite://…` or `postgres://…`).
    pub async fn open(url: &str) -> Result<Store> {
        Ok(Store {
            backend: Backend::open(url).await?,
            location: db::location(url),
        })
    }

    /// `host:port` of a PostgreSQL store, the file of an SQLite one; never
    /// a password.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The database behind the store (tests and tools reach it directly).
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Close the store's connections before the process exits (see
    /// `Backend::close`): an SQLite store with a small log is left as one
    /// file.
    pub async fn close(&self) {
        self.backend.close().await
    }

    /// The cursor the job's connector last checkpointed, and when the last
    /// full run finished.
    pub async fn job_cursor(
        &self,
        tenant: &str,
        job: &str,
    ) -> Result<(Option<String>, Option<String>)> {
        let row: Option<(Option<String>, Option<String>)> = on_pool!(&self.backend, |p| {
            sqlx::query_as("SELECT cursor, last_full_at FROM jobs WHERE tenant_id = $1 AND id = $2")
                .bind(tenant)
                .bind(job)
                .fetch_optional(p)
                .await?
        });
        Ok(row.unwrap_or((None, None)))
    }

    /// License seats the tenant's users hold now, by kind.
    pub async fn seats_used(&self, tenant: &str) -> Result<std::collections::HashMap<String, u32>> {
        let rows: Vec<(String, i64)> = on_pool!(&self.backend, |p| {
            sqlx::query_as(
                "SELECT kind, count(*) FROM license_assignments WHERE tenant_id = $1 GROUP BY kind",
            )
            .bind(tenant)
            .fetch_all(p)
            .await?
        });
        Ok(rows.into_iter().map(|(k, n)| (k, n as u32)).collect())
    }

    /// Plugin state for tenant + job + plugin.
    pub async fn plugin_state(
        &self,
        tenant: &str,
        job: &str,
        plugin: &str,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        Ok(on_pool!(&self.backend, |p| {
            sqlx::query_as(
                "SELECT key, value FROM plugin_state WHERE tenant_id = $1 AND job_id = $2 AND plugin = $3",
            )
            .bind(tenant)
            .bind(job)
            .bind(plugin)
            .fetch_all(p)
            .await?
        }))
    }
}

pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
