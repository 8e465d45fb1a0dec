//! Job leases: several `usersync serve` nodes share one store, and the
//! database decides which node runs a job. A lease row per (tenant, job) is
//! taken in one upsert that succeeds only if the lease lapsed or is already
//! this node's; expiry is computed with the database's clock, never a node's.
//! The holder renews it while its run lives and releases it at the end; the
//! apply transaction renews it too, so a run that lost its lease applies
//! nothing.

use std::time::Duration;

use anyhow::{bail, Result};

use super::db::{on_pool, on_tx, Backend, Tx};
use super::run_quota::{self, within_quota_sql, QuotaHit, RunQuota};
use super::{now, RunRecord, Store};

/// What a run needs to keep its lease: who holds it and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseClaim {
    pub node: String,
    pub lease: Duration,
}

impl LeaseClaim {
    fn ms(&self) -> i64 {
        self.lease.as_millis() as i64
    }
}

/// The lease's previous node and run, as a take returns them.
type Previous = (Option<String>, Option<String>);

/// Who holds a job's lease now.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Holder {
    pub node: String,
    /// `None`: released (no run holds it).
    pub run_id: Option<String>,
    pub last_slot: Option<String>,
    /// Whether it has not lapsed yet, by the database's clock.
    pub live: bool,
}

/// A run that was `running` under a node whose lease lapsed, marked
/// interrupted when another run took the job over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Abandoned {
    pub run_id: String,
    pub node: String,
}

/// The answer to [`Store::take_lease`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Take {
    /// This run holds the lease; `abandoned` is the run it took over from.
    Taken { abandoned: Option<Abandoned> },
    /// Another node's run holds it.
    Held(Holder),
    /// The schedule slot already ran (on some node): `last_slot` is the
    /// latest slot started.
    SlotDone { last_slot: String },
    /// The tenant is at one of its run quotas (across every node).
    Quota(QuotaHit),
}

impl Take {
    /// Why a run of `tenant`/`job` that asked for the lease cannot start,
    /// or `None` if it was taken.
    pub fn refusal(&self, tenant: &str, job: &str) -> Option<String> {
        Some(match self {
            Take::Taken { .. } => return None,
            Take::Held(holder) => format!(
                "job {tenant}/{job} is running now on node {} (run {}); wait for that run to end \
                 (`usersync runs --job {job}` shows it), then sync again",
                holder.node,
                holder.run_id.as_deref().unwrap_or_default(),
            ),
            other => {
                format!("job {tenant}/{job}: its lease could not be taken ({other:?}); try again")
            }
        })
    }
}

/// A schedule slot: the run it starts is the slot's only run across the
/// cluster. A slot is refused when one at or after `floor` already started.
#[derive(Debug, Clone, Copy)]
pub struct Slot<'a> {
    pub at: &'a str,
    pub floor: &'a str,
}

/// Milliseconds since the epoch by the database's clock, as SQL.
pub(super) fn db_now_ms(backend: &str) -> &'static str {
    if backend == "sqlite" {
        "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"
    } else {
        "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"
    }
}

/// SQL true while the lease row `alias` is held by a live run: taken by a
/// run that has not finished, and not lapsed. A process killed after its
/// run committed but before it let go leaves a finished run's lease: that
/// holds nothing.
pub(super) fn held_sql(backend: &str, alias: &str) -> String {
    format!(
        "({alias}.run_id IS NOT NULL AND {alias}.expires_at >= {} AND {})",
        db_now_ms(backend),
        run_unfinished_sql(alias)
    )
}

/// SQL true while the run holding the lease row `alias` has not finished.
fn run_unfinished_sql(alias: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM runs f WHERE f.id = {alias}.run_id AND f.finished_at IS NOT NULL)"
    )
}

/// `SELECT` of a lease's holder (`$1` tenant, `$2` job).
fn holder_sql(backend: &str) -> String {
    format!(
        "SELECT node, run_id, last_slot, {} AS live FROM leases WHERE tenant_id = $1 AND job_id = $2",
        held_sql(backend, "leases")
    )
}

impl Store {
    /// Take the job's lease for `run_id` on `claim.node`, in one statement:
    /// only if it lapsed, was released, or is this run's already, and (for a
    /// scheduled run) only if the slot did not run yet. A node's name alone
    /// is not enough: a restarted node waits for its old lease to lapse like
    /// any other, so two processes given one name never both run a job. A run it takes over from is
    /// marked interrupted, naming both nodes.
    pub async fn take_lease(
        &self,
        tenant: &str,
        job: &str,
        run_id: &str,
        claim: &LeaseClaim,
        slot: Option<Slot<'_>>,
        quota: RunQuota,
    ) -> Result<Take> {
        self.take(tenant, job, run_id, claim, slot, quota, None)
            .await
    }

    /// Take the job's lease for `run` and record it as running in the same
    /// transaction (the CLI's run): a process killed in between leaves no
    /// lease without a run whose owner the stale-run sweep can check.
    /// Nothing is recorded when the take is refused.
    pub async fn take_lease_starting(&self, run: &RunRecord, claim: &LeaseClaim) -> Result<Take> {
        let (tenant, job) = (&run.tenant_id, &run.job_id);
        self.take(
            tenant,
            job,
            &run.id,
            claim,
            None,
            RunQuota::default(),
            Some(run),
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn take(
        &self,
        tenant: &str,
        job: &str,
        run_id: &str,
        claim: &LeaseClaim,
        slot: Option<Slot<'_>>,
        quota: RunQuota,
        start: Option<&RunRecord>,
    ) -> Result<Take> {
        let backend = self.backend.name();
        let now_ms = db_now_ms(backend);
        let within_quota = within_quota_sql(backend);
        let held = held_sql(backend, "leases");
        let sql = format!(
            "INSERT INTO leases (tenant_id, job_id, node, run_id, expires_at, last_slot)
             SELECT $1, $2, $3, $4, {now_ms} + $5, $6 WHERE {within_quota}
             ON CONFLICT (tenant_id, job_id) DO UPDATE SET
               prev_node = leases.node, prev_run_id = leases.run_id,
               node = excluded.node, run_id = excluded.run_id, expires_at = excluded.expires_at,
               last_slot = COALESCE(excluded.last_slot, leases.last_slot)
             WHERE (NOT {held} OR (leases.node = excluded.node AND leases.run_id = excluded.run_id))
               AND ($7 IS NULL OR leases.last_slot IS NULL OR leases.last_slot < $7)
             RETURNING prev_node, prev_run_id"
        );
        // One transaction: the quota's counts, the take and the start it
        // records cannot interleave with another node's take.
        let mut tx = self.backend.begin().await?;
        run_quota::lock_tenant(&mut tx, tenant, quota).await?;
        bound_lock_wait(&mut tx).await?;
        let taken: Result<Option<Previous>, sqlx::Error> = on_tx!(&mut tx, |c| {
            sqlx::query_as(&sql)
                .bind(tenant)
                .bind(job)
                .bind(&claim.node)
                .bind(run_id)
                .bind(claim.ms())
                .bind(slot.map(|s| s.at))
                .bind(slot.map(|s| s.floor))
                .bind(quota.concurrent.map(i64::from))
                .bind(quota.per_hour.map(i64::from))
                .fetch_optional(&mut *c)
                .await
        });
        let taken = match taken {
            Ok(taken) => taken,
            // The row is locked by the holder's apply transaction: the job
            // is busy, whoever holds it (the committed row says who).
            Err(e) if lock_not_available(&e) => {
                drop(tx); // rolled back
                return self.why_refused(tenant, job, slot, quota).await;
            }
            Err(e) => return Err(e.into()),
        };
        if taken.is_some() {
            run_quota::record_start(&mut tx, tenant, run_id).await?;
            if let Some(run) = start {
                super::runs::write_start(&mut tx, run).await?;
            }
        }
        tx.commit().await?;
        let Some((prev_node, prev_run)) = taken else {
            return self.why_refused(tenant, job, slot, quota).await;
        };
        let abandoned = match (prev_node, prev_run) {
            (Some(node), Some(prev)) if prev != run_id => {
                self.mark_abandoned(&prev, &node, run_id, &claim.node)
                    .await?
            }
            _ => None,
        };
        Ok(Take::Taken { abandoned })
    }

    /// Why a take was refused: another run holds the job, its slot ran, or
    /// the tenant is at a quota.
    async fn why_refused(
        &self,
        tenant: &str,
        job: &str,
        slot: Option<Slot<'_>>,
        quota: RunQuota,
    ) -> Result<Take> {
        let holder = self.lease_holder(tenant, job).await?;
        if let (Some(h), Some(s)) = (&holder, slot) {
            if let Some(last_slot) = h.last_slot.as_ref().filter(|l| l.as_str() >= s.floor) {
                return Ok(Take::SlotDone {
                    last_slot: last_slot.clone(),
                });
            }
        }
        if let Some(h) = holder.filter(|h| h.live && h.run_id.is_some()) {
            return Ok(Take::Held(h));
        }
        if let Some(hit) = self.quota_hit(tenant, job, quota).await? {
            return Ok(Take::Quota(hit));
        }
        // Released or taken over in between: rare; the caller retries later.
        bail!("the lease of job {tenant}/{job} changed while it was taken; the next pass retries")
    }

    /// Mark `prev` interrupted if it is still `running`: its node stopped
    /// renewing the lease and `run_id` on `node` took the job over.
    async fn mark_abandoned(
        &self,
        prev: &str,
        prev_node: &str,
        run_id: &str,
        node: &str,
    ) -> Result<Option<Abandoned>> {
        let message = format!(
            "abandoned: node {prev_node} stopped renewing the job's lease (killed, cut off from the database or stuck) and the lease lapsed; \
             nothing it had not committed was applied; run {run_id} on node {node} took the job over"
        );
        let marked = on_pool!(&self.backend, |p| {
            sqlx::query(
                "UPDATE runs SET outcome = 'interrupted', finished_at = $1, message = $2 WHERE id = $3 AND outcome = 'running'",
            )
            .bind(now())
            .bind(&message)
            .bind(prev)
            .execute(p)
            .await?
            .rows_affected()
        });
        if marked == 0 {
            return Ok(None);
        }
        tracing::warn!(run = prev, node = prev_node, "{message}");
        Ok(Some(Abandoned {
            run_id: prev.to_string(),
            node: prev_node.to_string(),
        }))
    }

    /// Extend the lease `run_id` holds; `false` if it holds it no more.
    pub async fn renew_lease(
        &self,
        tenant: &str,
        job: &str,
        run_id: &str,
        claim: &LeaseClaim,
    ) -> Result<bool> {
        let sql = renew_sql(self.backend.name());
        let n = on_pool!(&self.backend, |p| {
            sqlx::query(&sql)
                .bind(tenant)
                .bind(job)
                .bind(&claim.node)
                .bind(run_id)
                .bind(claim.ms())
                .execute(p)
                .await?
                .rows_affected()
        });
        Ok(n == 1)
    }

    /// Let go of the lease at the run's end, so any node may run the job.
    pub async fn release_lease(
        &self,
        tenant: &str,
        job: &str,
        run_id: &str,
        node: &str,
    ) -> Result<()> {
        let sql = format!(
            "UPDATE leases SET run_id = NULL, expires_at = {}
             WHERE tenant_id = $1 AND job_id = $2 AND node = $3 AND run_id = $4",
            db_now_ms(self.backend.name())
        );
        on_pool!(&self.backend, |p| {
            sqlx::query(&sql)
                .bind(tenant)
                .bind(job)
                .bind(node)
                .bind(run_id)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    /// Let the lease run `run_id` holds lapse now (its process is gone).
    pub(super) async fn lapse_lease_of(&self, run_id: &str) -> Result<()> {
        let sql = format!(
            "UPDATE leases SET expires_at = {} - 1 WHERE run_id = $1",
            db_now_ms(self.backend.name())
        );
        on_pool!(&self.backend, |p| {
            sqlx::query(&sql).bind(run_id).execute(p).await?;
        });
        Ok(())
    }

    /// Who holds the job's lease, if anyone ever took it.
    pub async fn lease_holder(&self, tenant: &str, job: &str) -> Result<Option<Holder>> {
        let sql = holder_sql(self.backend.name());
        Ok(on_pool!(&self.backend, |p| {
            sqlx::query_as(&sql)
                .bind(tenant)
                .bind(job)
                .fetch_optional(p)
                .await?
        }))
    }

    /// Jobs whose lease lapsed while a run held it: their node stopped
    /// renewing (killed, cut off), so another node should take them over.
    pub async fn lapsed_leases(&self) -> Result<Vec<(String, String)>> {
        let sql = format!(
            "SELECT tenant_id, job_id FROM leases WHERE run_id IS NOT NULL AND expires_at < {} AND {}",
            db_now_ms(self.backend.name()),
            run_unfinished_sql("leases")
        );
        Ok(on_pool!(&self.backend, |p| {
            sqlx::query_as(&sql).fetch_all(p).await?
        }))
    }

    /// Whether the database answers (a cheap round trip).
    pub async fn ping(&self) -> Result<()> {
        on_pool!(&self.backend, |p| {
            sqlx::query("SELECT 1").execute(p).await?;
        });
        Ok(())
    }
}

/// On PostgreSQL, wait at most a moment for the lease row: a run applying
/// its changes keeps it locked until it commits, and a node asking for a
/// job another node is applying should hear "held" at once, not stall its
/// scheduler until that commit.
async fn bound_lock_wait(tx: &mut Tx<'_>) -> Result<()> {
    if let Tx::Postgres(t) = tx {
        sqlx::query("SET LOCAL lock_timeout = '200ms'")
            .execute(&mut **t)
            .await?;
    }
    Ok(())
}

/// PostgreSQL's `lock_not_available` (55P03): `lock_timeout` expired.
fn lock_not_available(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("55P03"))
}

fn renew_sql(backend: &str) -> String {
    format!(
        "UPDATE leases SET expires_at = {} + $5 WHERE tenant_id = $1 AND job_id = $2 AND node = $3 AND run_id = $4",
        db_now_ms(backend)
    )
}

/// Inside the apply transaction: renew the run's lease, or fail the run
/// before anything is written. On PostgreSQL the renewed row stays locked
/// until commit, so no node can take the lease in between.
pub(super) async fn hold_in(
    tx: &mut Tx<'_>,
    tenant: &str,
    job: &str,
    run_id: &str,
    claim: &LeaseClaim,
) -> Result<()> {
    let backend = tx.backend_name();
    let sql = renew_sql(backend);
    let renewed = on_tx!(tx, |c| {
        sqlx::query(&sql)
            .bind(tenant)
            .bind(job)
            .bind(&claim.node)
            .bind(run_id)
            .bind(claim.ms())
            .execute(&mut *c)
            .await?
            .rows_affected()
    });
    if renewed == 1 {
        return Ok(());
    }
    let sql = holder_sql(backend);
    let holder: Option<Holder> = on_tx!(tx, |c| {
        sqlx::query_as(&sql)
            .bind(tenant)
            .bind(job)
            .fetch_optional(&mut *c)
            .await?
    });
    let now_held = match holder {
        Some(Holder {
            node,
            run_id: Some(r),
            ..
        }) => format!("node {node} holds it now for run {r}"),
        _ => "no run holds it now".to_string(),
    };
    bail!(
        "run {run_id} lost the lease of job {tenant}/{job} on node {} (it was not renewed within {} s; {now_held}); nothing was applied",
        claim.node,
        claim.lease.as_secs()
    )
}

/// SQL true for a `runs` row no lease speaks for: the stale-run sweep
/// leaves a run whose lease is unreleased (and lapsed less than `stale_ms`
/// ago) to the node that takes the job over, which names both nodes.
pub(super) fn unleased_filter(backend: &Backend, stale_ms: i64) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM leases l WHERE l.run_id = runs.id AND l.expires_at > {} - {stale_ms})",
        db_now_ms(backend.name())
    )
}
