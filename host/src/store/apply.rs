//! Applying a plan: one transaction per run, multi-row statements, the
//! connector's cursor and plugin state committed with the data they cover.
//! A crash before commit leaves the store exactly as it was, so re-running
//! converges.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context, Result};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::{now, Store, MAX_PARAMS};
use crate::engine::{DeactivationReason, FieldChange, GroupChange, Plan, UserChange};

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
}

/// Columns of the staging table for user updates; NULL means "unchanged".
const STAGED: [&str; 17] = [
    "username",
    "display_name",
    "given_name",
    "family_name",
    "email",
    "phone",
    "job_title_id",
    "company_id",
    "department",
    "manager_source_id",
    "employee_id",
    "custom",
    "ref_key",
    "in_source",
    "source_enabled",
    "active",
    "deactivation_reason",
];

type Staged = BTreeMap<&'static str, String>;

impl Store {
    pub async fn apply(&self, plan: &Plan, ctx: &ApplyContext) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let conn: &mut SqliteConnection = &mut tx;
        let now = now();
        sqlx::query("INSERT OR IGNORE INTO tenants (id, created_at) VALUES (?, ?)")
            .bind(&ctx.tenant)
            .bind(&now)
            .execute(&mut *conn)
            .await?;

        let t = std::time::Instant::now();
        let lookups = Lookups::load(conn, &ctx.tenant).await?;
        create_users(conn, plan, ctx, &lookups, &now).await?;
        tracing::debug!(ms = t.elapsed().as_millis() as u64, "users created");
        update_users(conn, plan, ctx, &lookups, &now).await?;
        if !plan.users.is_empty() {
            link_managers(conn, ctx).await?;
        }
        apply_groups(conn, plan, ctx, &now).await?;
        tracing::debug!(
            ms = t.elapsed().as_millis() as u64,
            "users updated, groups written"
        );
        let needs_ids =
            !plan.memberships.is_empty() || !plan.roles.is_empty() || !plan.licenses.is_empty();
        if needs_ids {
            let users = id_map(conn, "users", ctx).await?;
            let groups = id_map(conn, "groups", ctx).await?;
            apply_memberships(conn, plan, &users, &groups).await?;
            apply_roles(conn, plan, ctx, &users).await?;
            apply_licenses(conn, plan, ctx, &users, &now).await?;
        }
        tracing::debug!(
            ms = t.elapsed().as_millis() as u64,
            "memberships, roles, licenses written"
        );
        super::runs::write_audit(conn, plan, ctx, &now).await?;
        tracing::debug!(ms = t.elapsed().as_millis() as u64, "audit written");

        sqlx::query(
            "INSERT INTO jobs (tenant_id, id, cursor, last_full_at) VALUES (?1, ?2, ?3, CASE WHEN ?4 THEN ?5 END)
             ON CONFLICT (tenant_id, id) DO UPDATE SET
               cursor = COALESCE(excluded.cursor, jobs.cursor),
               last_full_at = CASE WHEN ?4 THEN ?5 ELSE jobs.last_full_at END",
        )
        .bind(&ctx.tenant)
        .bind(&ctx.job)
        .bind(&ctx.cursor)
        .bind(ctx.full)
        .bind(&now)
        .execute(&mut *conn)
        .await?;
        for (plugin, key, value) in &ctx.state {
            let q = match value {
                Some(_) => "INSERT OR REPLACE INTO plugin_state (tenant_id, job_id, plugin, key, value) VALUES (?, ?, ?, ?, ?)",
                None => "DELETE FROM plugin_state WHERE tenant_id = ? AND job_id = ? AND plugin = ? AND key = ?",
            };
            let mut q = sqlx::query(q)
                .bind(&ctx.tenant)
                .bind(&ctx.job)
                .bind(plugin)
                .bind(key);
            if let Some(v) = value {
                q = q.bind(v);
            }
            q.execute(&mut *conn).await?;
        }
        tx.commit()
            .await
            .context("cannot commit the run's changes")?;
        Ok(())
    }
}

/// Name -> id of the lookup tables (job titles, companies).
struct Lookups {
    job_titles: HashMap<String, i64>,
    companies: HashMap<String, i64>,
}

impl Lookups {
    async fn load(conn: &mut SqliteConnection, tenant: &str) -> Result<Lookups> {
        let mut load = async |table: &str| -> Result<HashMap<String, i64>> {
            let rows: Vec<(String, i64)> =
                sqlx::query_as(&format!("SELECT name, id FROM {table} WHERE tenant_id = ?"))
                    .bind(tenant)
                    .fetch_all(&mut *conn)
                    .await?;
            Ok(rows.into_iter().collect())
        };
        Ok(Lookups {
            job_titles: load("job_titles").await?,
            companies: load("companies").await?,
        })
    }

    fn id(&self, field: &str, name: Option<&str>) -> Option<String> {
        let table = if field == "job_title" {
            &self.job_titles
        } else {
            &self.companies
        };
        name.and_then(|n| table.get(n)).map(i64::to_string)
    }
}

async fn create_users(
    conn: &mut SqliteConnection,
    plan: &Plan,
    ctx: &ApplyContext,
    lookups: &Lookups,
    now: &str,
) -> Result<()> {
    let creates: Vec<_> = plan
        .users
        .iter()
        .filter_map(|u| match u {
            UserChange::Create {
                source_id,
                ref_key,
                fields,
                custom_json,
            } => Some((source_id, ref_key, fields, custom_json)),
            _ => None,
        })
        .collect();
    for chunk in creates.chunks(MAX_PARAMS / 19) {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO users (tenant_id, job_id, source_id, ref_key, origin, username, display_name, given_name,
             family_name, email, phone, job_title_id, company_id, department, manager_source_id, employee_id,
             custom, created_at, updated_at) ",
        );
        q.push_values(chunk, |mut b, (source_id, ref_key, f, custom)| {
            b.push_bind(&ctx.tenant)
                .push_bind(&ctx.job)
                .push_bind(source_id.as_str())
                .push_bind(ref_key.as_str())
                .push_bind("sync")
                .push_bind(f.username.as_str())
                .push_bind(f.display_name.as_deref())
                .push_bind(f.given_name.as_deref())
                .push_bind(f.family_name.as_deref())
                .push_bind(f.email.as_deref())
                .push_bind(f.phone.as_deref())
                .push_bind(lookups.id("job_title", f.job_title.as_deref()))
                .push_bind(lookups.id("company", f.company.as_deref()))
                .push_bind(f.department.as_deref())
                .push_bind(f.manager.as_deref())
                .push_bind(f.employee_id.as_deref())
                .push_bind(custom.as_deref())
                .push_bind(now)
                .push_bind(now);
        });
        q.build()
            .execute(&mut *conn)
            .await
            .context("cannot insert new users")?;
    }
    Ok(())
}

fn stage_changes(row: &mut Staged, changes: &[FieldChange], lookups: &Lookups) {
    for c in changes {
        let value = match c.field.as_str() {
            "job_title" | "company" => lookups.id(&c.field, c.new.as_deref()),
            _ => c.new.clone(),
        };
        let column = match c.field.as_str() {
            "job_title" => "job_title_id",
            "company" => "company_id",
            "manager" => "manager_source_id",
            f => STAGED.iter().copied().find(|s| *s == f).unwrap_or("custom"),
        };
        if let Some(v) = value {
            row.insert(column, v);
        }
    }
}

async fn update_users(
    conn: &mut SqliteConnection,
    plan: &Plan,
    ctx: &ApplyContext,
    lookups: &Lookups,
    now: &str,
) -> Result<()> {
    let mut staged: BTreeMap<&str, Staged> = BTreeMap::new();
    for change in &plan.users {
        match change {
            UserChange::Create { .. } => {}
            UserChange::Adopt {
                db_id,
                source_id,
                ref_key,
                changes,
            } => {
                sqlx::query("UPDATE users SET job_id = ?, source_id = ?, ref_key = ?, origin = 'sync', active = 1, deactivation_reason = NULL WHERE id = ?")
                    .bind(&ctx.job)
                    .bind(source_id)
                    .bind(ref_key)
                    .bind(db_id)
                    .execute(&mut *conn)
                    .await?;
                stage_changes(staged.entry(source_id).or_default(), changes, lookups);
            }
            UserChange::Update {
                source_id,
                changes,
                meta,
                ..
            } => {
                let row = staged.entry(source_id).or_default();
                stage_changes(row, changes, lookups);
                if let Some(m) = meta {
                    row.insert("ref_key", m.ref_key.clone());
                    row.insert("in_source", (m.in_source as i32).to_string());
                    row.insert("source_enabled", (m.source_enabled as i32).to_string());
                }
            }
            UserChange::Reactivate {
                source_id, changes, ..
            } => {
                let row = staged.entry(source_id).or_default();
                stage_changes(row, changes, lookups);
                row.insert("active", "1".into());
                row.insert("in_source", "1".into());
                row.insert("source_enabled", "1".into());
                row.insert("deactivation_reason", String::new());
            }
            UserChange::Deactivate {
                source_id, reason, ..
            } => {
                let row = staged.entry(source_id).or_default();
                row.insert("active", "0".into());
                row.insert("deactivation_reason", reason.as_str().into());
                match reason {
                    DeactivationReason::Gone => row.insert("in_source", "0".into()),
                    DeactivationReason::Disabled => row.insert("source_enabled", "0".into()),
                    DeactivationReason::OutOfScope => None,
                };
            }
        }
    }
    if staged.is_empty() {
        return Ok(());
    }
    let columns = STAGED
        .iter()
        .map(|c| {
            let kind = if matches!(
                *c,
                "job_title_id" | "company_id" | "in_source" | "source_enabled" | "active"
            ) {
                "INTEGER"
            } else {
                "TEXT"
            };
            format!("{c} {kind}")
        })
        .collect::<Vec<_>>()
        .join(", ");
    sqlx::query(&format!(
        "CREATE TEMP TABLE IF NOT EXISTS user_changes (source_id TEXT PRIMARY KEY, {columns})"
    ))
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM user_changes")
        .execute(&mut *conn)
        .await?;
    let rows: Vec<_> = staged.into_iter().collect();
    for chunk in rows.chunks(MAX_PARAMS / (STAGED.len() + 1)) {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
            "INSERT INTO user_changes (source_id, {}) ",
            STAGED.join(", ")
        ));
        q.push_values(chunk, |mut b, (source_id, row)| {
            b.push_bind(*source_id);
            for c in STAGED {
                b.push_bind(row.get(c).map(String::as_str));
            }
        });
        q.build().execute(&mut *conn).await?;
    }
    // Two steps for renames, so users swapping names never collide.
    let scope = "users.tenant_id = ? AND users.job_id = ? AND users.source_id = t.source_id";
    sqlx::query(&format!(
        "UPDATE users SET username = '#renaming#' || users.id FROM user_changes t
         WHERE {scope} AND t.username IS NOT NULL AND t.username != users.username"
    ))
    .bind(&ctx.tenant)
    .bind(&ctx.job)
    .execute(&mut *conn)
    .await?;
    let sets = STAGED
        .iter()
        .map(|c| match *c {
            "deactivation_reason" => "deactivation_reason = CASE WHEN t.deactivation_reason IS NULL THEN users.deactivation_reason ELSE NULLIF(t.deactivation_reason, '') END".to_string(),
            c => format!("{c} = COALESCE(t.{c}, users.{c})"),
        })
        .collect::<Vec<_>>()
        .join(", ");
    sqlx::query(&format!(
        "UPDATE users SET {sets}, updated_at = ? FROM user_changes t WHERE {scope}"
    ))
    .bind(now)
    .bind(&ctx.tenant)
    .bind(&ctx.job)
    .execute(&mut *conn)
    .await
    .context("cannot update users")?;
    Ok(())
}

/// Managers are linked by source id; resolve them to row ids (new users
/// included, so this runs after every create and update).
async fn link_managers(conn: &mut SqliteConnection, ctx: &ApplyContext) -> Result<()> {
    sqlx::query(
        "UPDATE users SET manager_id = (SELECT m.id FROM users m WHERE m.tenant_id = users.tenant_id
           AND m.job_id = users.job_id AND m.source_id = users.manager_source_id)
         WHERE tenant_id = ? AND job_id = ? AND manager_source_id IS NOT NULL",
    )
    .bind(&ctx.tenant)
    .bind(&ctx.job)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn apply_groups(
    conn: &mut SqliteConnection,
    plan: &Plan,
    ctx: &ApplyContext,
    now: &str,
) -> Result<()> {
    let creates: Vec<_> = plan
        .groups
        .iter()
        .filter_map(|g| match g {
            GroupChange::Create {
                source_id,
                ref_key,
                name,
                description,
            } => Some((source_id, ref_key, name, description)),
            _ => None,
        })
        .collect();
    for chunk in creates.chunks(MAX_PARAMS / 8) {
        let mut q: QueryBuilder<Sqlite> =
            QueryBuilder::new("INSERT INTO groups (tenant_id, job_id, source_id, ref_key, name, description, created_at, updated_at) ");
        q.push_values(chunk, |mut b, (source_id, ref_key, name, description)| {
            b.push_bind(&ctx.tenant)
                .push_bind(&ctx.job)
                .push_bind(source_id.as_str())
                .push_bind(ref_key.as_str())
                .push_bind(name.as_str())
                .push_bind(description.as_deref())
                .push_bind(now)
                .push_bind(now);
        });
        q.build()
            .execute(&mut *conn)
            .await
            .context("cannot insert groups")?;
    }
    for g in &plan.groups {
        let (sql, name, ref_key) = match g {
            GroupChange::Create { .. } => continue,
            GroupChange::Update { name, ref_key, .. } => (
                "UPDATE groups SET name = ?, ref_key = ?, updated_at = ? WHERE tenant_id = ? AND job_id = ? AND source_id = ?",
                Some(name),
                Some(ref_key),
            ),
            GroupChange::Deactivate { .. } => ("UPDATE groups SET active = 0, updated_at = ? WHERE tenant_id = ? AND job_id = ? AND source_id = ?", None, None),
            GroupChange::Reactivate { .. } => ("UPDATE groups SET active = 1, updated_at = ? WHERE tenant_id = ? AND job_id = ? AND source_id = ?", None, None),
        };
        let mut q = sqlx::query(sql);
        if let (Some(n), Some(r)) = (name, ref_key) {
            q = q.bind(n).bind(r);
        }
        q.bind(now)
            .bind(&ctx.tenant)
            .bind(&ctx.job)
            .bind(g.source_id())
            .execute(&mut *conn)
            .await?;
    }
    if let Some(descriptions) = Some(plan.groups.iter().filter_map(|g| {
        match g {
            GroupChange::Update {
                source_id, changes, ..
            } => changes
                .iter()
                .find(|c| c.field == "description")
                .map(|c| (source_id, c.new.clone())),
            _ => None,
        }
    })) {
        for (source_id, description) in descriptions {
            sqlx::query("UPDATE groups SET description = ? WHERE tenant_id = ? AND job_id = ? AND source_id = ?")
                .bind(description)
                .bind(&ctx.tenant)
                .bind(&ctx.job)
                .bind(source_id)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

async fn id_map(
    conn: &mut SqliteConnection,
    table: &str,
    ctx: &ApplyContext,
) -> Result<HashMap<String, i64>> {
    let rows: Vec<(String, i64)> = sqlx::query_as(&format!(
        "SELECT source_id, id FROM {table} WHERE tenant_id = ? AND job_id = ?"
    ))
    .bind(&ctx.tenant)
    .bind(&ctx.job)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().collect())
}

/// Run `sql_head (VALUES ...)` for pairs in chunks.
async fn pairs(
    conn: &mut SqliteConnection,
    head: &str,
    tail: &str,
    rows: &[(i64, i64)],
) -> Result<()> {
    for chunk in rows.chunks(MAX_PARAMS / 2) {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(head);
        q.push_values(chunk, |mut b, (a, c)| {
            b.push_bind(*a).push_bind(*c);
        });
        q.push(tail);
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

async fn apply_memberships(
    conn: &mut SqliteConnection,
    plan: &Plan,
    users: &HashMap<String, i64>,
    groups: &HashMap<String, i64>,
) -> Result<()> {
    let (mut add, mut remove) = (Vec::new(), Vec::new());
    for m in &plan.memberships {
        if let (Some(&g), Some(&u)) = (groups.get(&m.group), users.get(&m.user)) {
            if m.add {
                add.push((g, u))
            } else {
                remove.push((g, u))
            }
        }
    }
    pairs(
        conn,
        "INSERT OR IGNORE INTO memberships (group_id, user_id) ",
        "",
        &add,
    )
    .await?;
    pairs(
        conn,
        "DELETE FROM memberships WHERE (group_id, user_id) IN (",
        ")",
        &remove,
    )
    .await?;
    Ok(())
}

async fn apply_roles(
    conn: &mut SqliteConnection,
    plan: &Plan,
    ctx: &ApplyContext,
    users: &HashMap<String, i64>,
) -> Result<()> {
    for (name, kind) in &ctx.roles {
        sqlx::query("INSERT OR IGNORE INTO roles (tenant_id, name, kind) VALUES (?, ?, ?)")
            .bind(&ctx.tenant)
            .bind(name)
            .bind(kind)
            .execute(&mut *conn)
            .await?;
    }
    let roles: HashMap<String, i64> =
        sqlx::query_as::<_, (String, i64)>("SELECT name, id FROM roles WHERE tenant_id = ?")
            .bind(&ctx.tenant)
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .collect();
    for r in &plan.roles {
        let (Some(&user), Some(&role)) = (users.get(&r.user), roles.get(&r.role)) else {
            continue;
        };
        let sql = if r.grant {
            "INSERT OR REPLACE INTO user_roles (user_id, role_id, job_id) VALUES (?, ?, ?)"
        } else {
            "DELETE FROM user_roles WHERE user_id = ? AND role_id = ? AND job_id = ?"
        };
        sqlx::query(sql)
            .bind(user)
            .bind(role)
            .bind(&ctx.job)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

async fn apply_licenses(
    conn: &mut SqliteConnection,
    plan: &Plan,
    ctx: &ApplyContext,
    users: &HashMap<String, i64>,
    now: &str,
) -> Result<()> {
    for l in &plan.licenses {
        let Some(&user) = users.get(&l.user) else {
            continue;
        };
        if l.grant {
            sqlx::query("INSERT OR IGNORE INTO license_assignments (tenant_id, user_id, kind, granted_at) VALUES (?, ?, ?, ?)")
                .bind(&ctx.tenant)
                .bind(user)
                .bind(&l.kind)
                .bind(now)
                .execute(&mut *conn)
                .await?;
        } else {
            sqlx::query("DELETE FROM license_assignments WHERE user_id = ? AND kind = ?")
                .bind(user)
                .bind(&l.kind)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}
