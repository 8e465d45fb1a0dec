//! License seats are counted and taken inside the applying transaction.
//!
//! The planner decides with counts read before the run (so `--dry-run` can
//! say what would happen), but two jobs of one tenant planning at the same
//! time both see the same free seats. So the apply counts again, under a
//! lock no other applying run of the tenant can hold at the same time, and
//! follows the job's `license_policy` with the figures of that moment.
//!
//! The lock: on SQLite the transaction began `IMMEDIATE`, so it holds the
//! database's write lock from its first statement and nobody can take a seat
//! until it commits. PostgreSQL lets writers run side by side, so the apply
//! first locks the tenant's row (`lock_tenant`): that serializes the
//! tenant's applying runs, and after it (read committed) the counts below see
//! every seat committed before.

use anyhow::Result;

use super::ApplyContext;
use crate::config::LicensePolicy;
use crate::engine::{Plan, Stop};
use crate::store::db::{on_tx, Tx};

/// Check the plan's grants against the seats free right now. Returns
/// `false` when the run must stop (the plan's `stop` says why) and nothing
/// may be applied; with `sync_without_license`, grants that no longer fit
/// are dropped from the plan (the last by username, as the planner would).
pub(super) async fn take_seats(
    tx: &mut Tx<'_>,
    plan: &mut Plan,
    ctx: &ApplyContext,
) -> Result<bool> {
    let Some(rule) = &ctx.license else {
        return Ok(true);
    };
    let grants = plan.licenses.iter().filter(|l| l.grant).count() as u32;
    if grants == 0 {
        return Ok(true); // freeing or keeping seats never needs more
    }
    let (held_here, held_elsewhere): (i64, i64) = on_tx!(tx, |c| {
        sqlx::query_as(
            "SELECT COALESCE(SUM(CASE WHEN u.job_id IS NOT DISTINCT FROM $3 THEN 1 ELSE 0 END), 0),
                    COALESCE(SUM(CASE WHEN u.job_id IS NOT DISTINCT FROM $3 THEN 0 ELSE 1 END), 0)
             FROM license_assignments la JOIN users u ON u.id = la.user_id
             WHERE la.tenant_id = $1 AND la.kind = $2",
        )
        .bind(&ctx.tenant)
        .bind(&rule.kind)
        .bind(&ctx.job)
        .fetch_one(&mut *c)
        .await?
    });
    let freed = plan.licenses.iter().filter(|l| !l.grant).count() as u32;
    let keep = (held_here as u32).saturating_sub(freed);
    let available = rule.seats.saturating_sub(held_elsewhere as u32);
    let needed = keep + grants;
    if needed <= available {
        return Ok(true);
    }
    match rule.policy {
        LicensePolicy::Stop => {
            plan.stop = Some(Stop::License {
                kind: rule.kind.clone(),
                needed,
                available,
            });
            Ok(false)
        }
        LicensePolicy::SyncWithoutLicense => {
            let fits = available.saturating_sub(keep) as usize;
            let mut kept = 0;
            plan.licenses.retain(|l| {
                if !l.grant {
                    return true;
                }
                kept += 1;
                kept <= fits
            });
            plan.warnings.push(format!(
                "license shortage: other runs of the tenant took `{}` seats while this one was reading; {needed} active users need one, {available} seats are free, so {} users were synced without one",
                rule.kind,
                grants as usize - fits.min(grants as usize)
            ));
            Ok(true)
        }
    }
}
