//! Tenant run quotas (`[tenants.limits]` max_concurrent_runs and
//! runs_per_hour), counted in the store so that every node sharing it sees
//! the same numbers. They are checked inside the lease take (see
//! `leases.rs`): a run holds its job's lease while it lives, so a tenant's
//! runs in progress are its live leases, and each take records its start.

use anyhow::Result;

use super::db::{on_pool, on_tx, Tx};
use super::leases::{db_now_ms, held_sql};
use super::Store;

/// A tenant's run quotas, as the lease take enforces them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunQuota {
    /// Runs of the tenant at once, across every node.
    pub concurrent: Option<u32>,
    /// Runs the tenant may start in any hour, across every node.
    pub per_hour: Option<u32>,
}

/// Which quota refused a lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaHit {
    /// The tenant already has `limit` runs in progress.
    Concurrent { limit: u32 },
    /// The tenant started `limit` runs in the last hour; a place frees up
    /// at `reopens_ms` (milliseconds since the epoch).
    Hourly { limit: u32, reopens_ms: i64 },
}

const HOUR_MS: i64 = 3_600_000;

/// SQL true while the tenant (`$1`) is within its quotas for a run of job
/// `$2`: fewer than `$8` live leases on its other jobs, fewer than `$9`
/// starts in the last hour (a NULL quota always holds).
pub(super) fn within_quota_sql(backend: &str) -> String {
    let now = db_now_ms(backend);
    let held = held_sql(backend, "q");
    format!(
        "($8 IS NULL OR (SELECT COUNT(*) FROM leases q WHERE q.tenant_id = $1 AND q.job_id <> $2
                          AND {held}) < $8)
         AND ($9 IS NULL OR (SELECT COUNT(*) FROM run_starts s WHERE s.tenant_id = $1
                             AND s.started_ms > {now} - {HOUR_MS}) < $9)"
    )
}

/// On PostgreSQL, serialise the lease takes of one tenant with quotas until
/// the transaction ends, so two nodes counting at once cannot both take the
/// last place. (SQLite's `BEGIN IMMEDIATE` already serialises writers.)
pub(super) async fn lock_tenant(tx: &mut Tx<'_>, tenant: &str, quota: RunQuota) -> Result<()> {
    if quota == RunQuota::default() {
        return Ok(());
    }
    if let Tx::Postgres(t) = tx {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('usersync-quota:' || $1, 0))")
            .bind(tenant)
            .execute(&mut **t)
            .await?;
    }
    Ok(())
}

/// Count a start of `run_id` for its tenant; forget starts over an hour old.
pub(super) async fn record_start(tx: &mut Tx<'_>, tenant: &str, run_id: &str) -> Result<()> {
    let now = db_now_ms(tx.backend_name());
    let insert = format!(
        "INSERT INTO run_starts (run_id, tenant_id, started_ms) VALUES ($1, $2, {now})
         ON CONFLICT (run_id) DO NOTHING"
    );
    let prune =
        format!("DELETE FROM run_starts WHERE tenant_id = $1 AND started_ms <= {now} - {HOUR_MS}");
    on_tx!(tx, |c| {
        sqlx::query(&insert)
            .bind(run_id)
            .bind(tenant)
            .execute(&mut *c)
            .await?;
        sqlx::query(&prune).bind(tenant).execute(&mut *c).await?;
    });
    Ok(())
}

impl Store {
    /// Which of `quota` the tenant is at now, if any (after a refused take).
    pub(super) async fn quota_hit(
        &self,
        tenant: &str,
        job: &str,
        quota: RunQuota,
    ) -> Result<Option<QuotaHit>> {
        let now = db_now_ms(self.backend.name());
        if let Some(limit) = quota.concurrent {
            let sql = format!(
                "SELECT COUNT(*) FROM leases WHERE tenant_id = $1 AND job_id <> $2 AND {}",
                held_sql(self.backend.name(), "leases")
            );
            let live: i64 = on_pool!(&self.backend, |p| {
                sqlx::query_scalar(&sql)
                    .bind(tenant)
                    .bind(job)
                    .fetch_one(p)
                    .await?
            });
            if live >= i64::from(limit) {
                return Ok(Some(QuotaHit::Concurrent { limit }));
            }
        }
        if let Some(limit) = quota.per_hour {
            let sql = format!(
                "SELECT COUNT(*), MIN(started_ms) FROM run_starts
                 WHERE tenant_id = $1 AND started_ms > {now} - {HOUR_MS}"
            );
            let (count, oldest): (i64, Option<i64>) = on_pool!(&self.backend, |p| {
                sqlx::query_as(&sql).bind(tenant).fetch_one(p).await?
            });
            if count >= i64::from(limit) {
                let reopens_ms = oldest.unwrap_or_default() + HOUR_MS;
                return Ok(Some(QuotaHit::Hourly { limit, reopens_ms }));
            }
        }
        Ok(None)
    }
}
