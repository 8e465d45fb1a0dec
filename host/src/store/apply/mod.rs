//! Applying a plan: one transaction per run, multi-row statements, the
//! connector's cursor and plugin state committed with the data they cover.
//! A crash before commit leaves the store exactly as it was, so re-running
//! converges.

mod relations;
mod seats;
mod users;

use std::borrow::Cow;
use std::collections::HashMap;

use anyhow::{Context, Result};

use super::db::{on_tx, Tx};
use super::{ms_since, now, Store};
use crate::engine::{FastMap, FastSet, LicenseRule, Plan, UserChange};
use relations::{apply_groups, apply_licenses, apply_memberships, apply_roles};
use users::{create_users, link_managers, stage_updates, write_updates};

/// Everything besides the plan that a run commits.
#[derive(Debug, Default)]
pub struct ApplyContext {
    pub tenant: String,
    pub job: String,
    pub run_id: String,
    /// The connector's last checkpoint; `None` keeps the stored one.
    pub cursor: Option<String>,
    pub full: bool,
    /// Roles the job's bindings name: (name, kind).
    pub roles: Vec<(String, String)>,
    /// Plugin state writes: (plugin, key, value or delete).
    pub state: Vec<(String, String, Option<Vec<u8>>)>,
    /// The job's license kind, seats and shortage policy: seats are
    /// counted again, and taken, inside the applying transaction.
    pub license: Option<LicenseRule>,
    /// The run's finished record, committed with its data: a process killed
    /// right after the commit still leaves the run's true outcome and counts.
    pub run: Option<super::RunRecord>,
    /// The job lease the run holds (daemon runs): renewed inside the
    /// transaction, so a run that lost it applies nothing.
    pub lease: Option<super::LeaseClaim>,
}

impl Store {
    /// Apply `plan` in one transaction. Facts that other runs can change
    /// (free license seats) are checked again under the write lock; when
    /// they stop the run, `plan.stop` says why and nothing is applied.
    /// Returns how long writing took up to the commit, as the run's record
    /// (its `phases`) says.
    pub async fn apply(&self, plan: &mut Plan, ctx: &ApplyContext) -> Result<u64> {
        let started = std::time::Instant::now();
        let mut writer = self.backend.writer().await?;
        let mut tx = self.backend.begin_on(&mut writer).await?;
        let conn = &mut tx;
        let now = now();
        lock_tenant(conn, &ctx.tenant, &now).await?;
        if let Some(claim) = &ctx.lease {
            super::leases::hold_in(conn, &ctx.tenant, &ctx.job, &ctx.run_id, claim).await?;
        }
        if !seats::take_seats(conn, plan, ctx).await? {
            // Dropping the transaction rolls it back; the caller records
            // the stop, with no apply phase.
            return Ok(ms_since(started));
        }
        let plan = &*plan;

        let t = std::time::Instant::now();
        let lookups = Lookups::load(conn, &ctx.tenant).await?;
        // Renamed users leave their old names first, so a new user may take one.
        let staged = stage_updates(conn, plan, ctx, &lookups).await?;
        let created = create_users(conn, plan, ctx, &lookups, &now).await?;
        refresh_statistics_after_bulk_insert(conn, plan).await?;
        tracing::debug!(ms = t.elapsed().as_millis() as u64, "users created");
        if staged {
            write_updates(conn, &now).await?;
        }
        if !plan.users.is_empty() {
            link_managers(conn, ctx, staged).await?;
        }
        apply_groups(conn, plan, ctx, &now).await?;
        tracing::debug!(
            ms = t.elapsed().as_millis() as u64,
            "users updated, groups written"
        );
        let needs_ids =
            !plan.memberships.is_empty() || !plan.roles.is_empty() || !plan.licenses.is_empty();
        if needs_ids {
            let users = user_id_map(conn, plan, ctx, created).await?;
            let groups = id_map(conn, "groups", ctx, None).await?;
            tracing::debug!(ms = t.elapsed().as_millis() as u64, "row ids read");
            apply_memberships(conn, plan, &users, &groups).await?;
            apply_roles(conn, plan, ctx, &users).await?;
            apply_licenses(conn, plan, ctx, &users, &now).await?;
        }
        tracing::debug!(
            ms = t.elapsed().as_millis() as u64,
            "memberships, roles, licenses written"
        );
        super::audit_write::write_audit(conn, plan, ctx).await?;
        tracing::debug!(ms = t.elapsed().as_millis() as u64, "audit written");

        on_tx!(conn, |c| {
            sqlx::query(
                "INSERT INTO jobs (tenant_id, id, cursor, last_full_at) VALUES ($1, $2, $3, CASE WHEN $4 THEN $5 END)
                 ON CONFLICT (tenant_id, id) DO UPDATE SET
                   cursor = COALESCE(excluded.cursor, jobs.cursor),
                   last_full_at = CASE WHEN $4 THEN $5 ELSE jobs.last_full_at END",
            )
            .bind(&ctx.tenant)
            .bind(&ctx.job)
            .bind(&ctx.cursor)
            .bind(ctx.full)
            .bind(&now)
            .execute(&mut *c)
            .await?;
        });
        for (plugin, key, value) in &ctx.state {
            let q = match value {
                Some(_) => "INSERT INTO plugin_state (tenant_id, job_id, plugin, key, value) VALUES ($1, $2, $3, $4, $5)
                            ON CONFLICT (tenant_id, job_id, plugin, key) DO UPDATE SET value = excluded.value",
                None => "DELETE FROM plugin_state WHERE tenant_id = $1 AND job_id = $2 AND plugin = $3 AND key = $4",
            };
            on_tx!(conn, |c| {
                let mut q = sqlx::query(q)
                    .bind(&ctx.tenant)
                    .bind(&ctx.job)
                    .bind(plugin)
                    .bind(key);
                if let Some(v) = value {
                    q = q.bind(v);
                }
                q.execute(&mut *c).await?;
            });
        }
        let apply_ms = ms_since(started);
        if let Some(run) = &ctx.run {
            // From the plan as applied (the seat check may have trimmed it).
            let mut run = run.clone();
            run.conclude(plan);
            run.applied(apply_ms);
            super::runs::write_finish(conn, &run).await?;
        }
        tx.commit()
            .await
            .context("cannot commit the run's changes")?;
        tracing::debug!(ms = t.elapsed().as_millis() as u64, "committed");
        self.backend.checkpoint_after_run();
        Ok(apply_ms)
    }
}

/// Make sure the tenant's row exists and serialize this transaction with
/// every other applying run of the tenant. SQLite already holds the
/// database's write lock (`BEGIN IMMEDIATE`); PostgreSQL lets writers run
/// side by side, so the tenant's row is locked (`FOR UPDATE`) until commit:
/// seat counts, username checks and renames of one tenant never interleave,
/// while other tenants' runs go on in parallel.
/// How many created users make PostgreSQL's statistics on `users` stale
/// enough to matter.
const BULK_INSERT: usize = 1_000;

/// PostgreSQL plans each statement from the statistics the table had before
/// this transaction; after a first sync's bulk insert they still say
/// "nearly empty", and the manager links' lookup by source id became a scan
/// per row (a 100k-user first sync took 15 minutes instead of seconds).
/// Fresh statistics make it an index lookup again. SQLite's planner has no
/// such cliff, and a run that creates few users keeps the old statistics.
async fn refresh_statistics_after_bulk_insert(tx: &mut Tx<'_>, plan: &Plan) -> Result<()> {
    let created = plan
        .users
        .iter()
        .filter(|u| matches!(u, UserChange::Create { .. }))
        .count();
    if let (Tx::Postgres(c), true) = (&mut *tx, created >= BULK_INSERT) {
        sqlx::query("ANALYZE users")
            .execute(&mut **c)
            .await
            .context("cannot refresh the statistics of users")?;
    }
    Ok(())
}

async fn lock_tenant(tx: &mut Tx<'_>, tenant: &str, now: &str) -> Result<()> {
    on_tx!(tx, |c| {
        sqlx::query(
            "INSERT INTO tenants (id, created_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
        )
        .bind(tenant)
        .bind(now)
        .execute(&mut *c)
        .await?;
    });
    if let Tx::Postgres(t) = tx {
        sqlx::query("SELECT id FROM tenants WHERE id = $1 FOR UPDATE")
            .bind(tenant)
            .execute(&mut **t)
            .await
            .context("cannot lock the tenant for the run's changes")?;
    }
    Ok(())
}

/// Name -> id of the lookup tables (job titles, companies).
pub(super) struct Lookups {
    job_titles: HashMap<String, i64>,
    companies: HashMap<String, i64>,
}

impl Lookups {
    async fn load(tx: &mut Tx<'_>, tenant: &str) -> Result<Lookups> {
        let mut load = async |table: &str| -> Result<HashMap<String, i64>> {
            let sql = format!("SELECT name, id FROM {table} WHERE tenant_id = $1");
            let rows: Vec<(String, i64)> = on_tx!(&mut *tx, |c| {
                sqlx::query_as(&sql).bind(tenant).fetch_all(&mut *c).await?
            });
            Ok(rows.into_iter().collect())
        };
        Ok(Lookups {
            job_titles: load("job_titles").await?,
            companies: load("companies").await?,
        })
    }

    pub(super) fn id(&self, field: &str, name: Option<&str>) -> Option<i64> {
        let table = if field == "job_title" {
            &self.job_titles
        } else {
            &self.companies
        };
        name.and_then(|n| table.get(n)).copied()
    }
}

/// Row ids of the users the plan's memberships, roles and licenses name:
/// `created` (the users this run inserted) and, read from the store, the
/// others: the whole job's when they are many, else only theirs (an
/// incremental run need not read 100k ids for a few hundred changes; a
/// first sync names only users it created, and reads none).
async fn user_id_map<'a>(
    tx: &mut Tx<'_>,
    plan: &Plan,
    ctx: &ApplyContext,
    mut created: IdMap<'a>,
) -> Result<IdMap<'a>> {
    // Only the users this run did not create (a first sync's 6M
    // memberships at 1M users name nobody else, and a set of all of their
    // users held ~90 MB at the run's peak), each checked once, by handle
    // (6M string lookups took ~1 s at 1M users).
    let mut seen: FastSet<usize> = FastSet::default();
    let named: FastSet<&str> = plan
        .memberships
        .iter()
        .filter(|m| seen.insert(m.user_handle()))
        .map(|m| m.user())
        .chain(plan.roles.iter().map(|r| r.user.as_str()))
        .chain(plan.licenses.iter().map(|l| l.user.as_str()))
        .filter(|u| !created.contains_key(*u))
        .collect();
    let stored = match named.len() {
        0 => return Ok(created),
        n if n > FEW_USERS => id_map(tx, "users", ctx, None).await?,
        _ => {
            let named: Vec<&str> = named.into_iter().collect();
            id_map(tx, "users", ctx, Some(&serde_json::to_string(&named)?)).await?
        }
    };
    created.extend(stored);
    Ok(created)
}

/// Source id -> row id; looked up once per membership written. The ids of
/// the users a run creates are borrowed from its plan (a first sync of 1M
/// users would copy each), those read from the store owned.
pub(super) type IdMap<'a> = FastMap<Cow<'a, str>, i64>;

/// Past this many users, reading the job's whole id map is cheaper.
const FEW_USERS: usize = 5_000;

/// `source_id` -> row id of the job's rows of `table`; with `only` (a
/// JSON array of source ids), of those rows alone.
pub(super) async fn id_map(
    tx: &mut Tx<'_>,
    table: &str,
    ctx: &ApplyContext,
    only: Option<&str>,
) -> Result<IdMap<'static>> {
    // One JSON aggregate instead of a row each through sqlx (see load.rs).
    let backend = tx.backend_name();
    let mut sql = format!(
        "SELECT {} FROM {table} WHERE tenant_id = $1 AND job_id = $2",
        super::load::json_rows_of(backend, "source_id, id")
    );
    if only.is_some() {
        sql.push_str(&format!(
            " AND source_id IN ({})",
            super::load::json_list(backend, "$3")
        ));
    }
    let json: String = on_tx!(tx, |c| {
        let mut q = sqlx::query_scalar(&sql).bind(&ctx.tenant).bind(&ctx.job);
        if let Some(only) = only {
            q = q.bind(only);
        }
        q.fetch_one(&mut *c).await?
    });
    let rows: Vec<(String, i64)> =
        serde_json::from_str(&json).context("cannot parse the store's id map")?;
    Ok(rows
        .into_iter()
        .map(|(id, row)| (Cow::Owned(id), row))
        .collect())
}
