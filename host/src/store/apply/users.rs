//! Writing users: multi-row inserts for new users, one staged `UPDATE …
//! FROM` for every other change, manager links resolved last.

use std::borrow::Cow;
use std::collections::BTreeMap;

use anyhow::{Context, Result};
use sqlx::{PgConnection, QueryBuilder, Sqlite, SqliteConnection};

use super::{ApplyContext, IdMap, Lookups};
use crate::engine::{DeactivationReason, FieldChange, Plan, UserChange};
use crate::model::UserFields;
use crate::store::db::{on_tx, Tx};
use crate::store::sqlite_bulk;
use crate::store::MAX_PARAMS;

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

/// Columns of `user_changes` that hold numbers or flags, not text.
const NUMERIC: [&str; 5] = [
    "job_title_id",
    "company_id",
    "in_source",
    "source_enabled",
    "active",
];

type Staged = BTreeMap<&'static str, String>;

/// Insert the plan's new users; returns their row ids by source id.
pub(super) async fn create_users<'a>(
    tx: &mut Tx<'_>,
    plan: &'a Plan,
    ctx: &ApplyContext,
    lookups: &Lookups,
    now: &str,
) -> Result<IdMap<'a>> {
    let creates: Vec<NewUser<'a>> = plan
        .users
        .iter()
        .filter_map(|u| match u {
            UserChange::Create {
                source_id,
                ref_key,
                fields,
                custom_json,
                disabled,
            } => Some((source_id, ref_key, &**fields, custom_json, *disabled)),
            _ => None,
        })
        .collect();
    if creates.is_empty() {
        return Ok(IdMap::default());
    }
    match &mut *tx {
        Tx::Sqlite(t) => insert_users_sqlite(t, &creates, ctx, lookups, now).await,
        Tx::Postgres(t) => insert_users_postgres(t, &creates, ctx, lookups, now).await,
    }
    .context("cannot insert new users")
}

/// (source id, ref key, fields, custom JSON, disabled) of a new user.
type NewUser<'a> = (
    &'a String,
    &'a String,
    &'a UserFields,
    &'a Option<String>,
    bool,
);

/// New users get their row ids here, not from the insert: the run holds
/// SQLite's write lock, so the ids after the highest ever given (the
/// `AUTOINCREMENT` sequence) are free. Knowing them, a new user's manager
/// created in the same run is linked in the insert itself, instead of by an
/// `UPDATE` of every new user afterwards (`link_managers` is left with the
/// managers that were already in the store).
async fn insert_users_sqlite<'a>(
    conn: &mut SqliteConnection,
    creates: &[NewUser<'a>],
    ctx: &ApplyContext,
    lookups: &Lookups,
    now: &str,
) -> Result<IdMap<'a>> {
    let last: i64 = sqlx::query_scalar(
        "SELECT max(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'users'), 0),
                    COALESCE((SELECT max(id) FROM users), 0))",
    )
    .fetch_one(&mut *conn)
    .await?;
    let new_ids = || (last + 1..).zip(creates);
    let ids: IdMap<'a> = new_ids()
        .map(|(id, u)| (Cow::Borrowed(u.0.as_str()), id))
        .collect();
    sqlite_bulk::write(conn, |db| {
        let mut insert = db.prepare(
            "INSERT INTO users (id, manager_id, tenant_id, job_id, source_id, ref_key, origin, username, display_name,
             given_name, family_name, email, phone, job_title_id, company_id, department, manager_source_id,
             employee_id, custom, created_at, updated_at, active, source_enabled, deactivation_reason)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'sync', ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,
                     ?19, ?19, ?20, ?20, ?21)",
        )?;
        for (id, (source_id, ref_key, f, custom, disabled)) in new_ids() {
            let manager = f.manager.as_deref().and_then(|m| ids.get(m));
            insert.execute(rusqlite::params![
                id,
                manager,
                ctx.tenant,
                ctx.job,
                source_id,
                ref_key,
                f.username,
                f.display_name,
                f.given_name,
                f.family_name,
                f.email,
                f.phone,
                lookups.id("job_title", f.job_title.as_deref()),
                lookups.id("company", f.company.as_deref()),
                f.department,
                f.manager,
                f.employee_id,
                custom,
                now,
                !disabled,
                disabled.then_some(DeactivationReason::Disabled.as_str()),
            ])?;
        }
        Ok(())
    })
    .await?;
    Ok(ids)
}

/// One statement for every new user: each column an array, `UNNEST`ed.
async fn insert_users_postgres(
    conn: &mut PgConnection,
    creates: &[NewUser<'_>],
    ctx: &ApplyContext,
    lookups: &Lookups,
    now: &str,
) -> Result<IdMap<'static>> {
    let text = |f: for<'x> fn(&'x NewUser<'x>) -> Option<&'x str>| {
        creates.iter().map(f).collect::<Vec<_>>()
    };
    let ids = |field: &str, name: fn(&UserFields) -> Option<&str>| {
        creates
            .iter()
            .map(|u| lookups.id(field, name(u.2)))
            .collect::<Vec<_>>()
    };
    let enabled: Vec<bool> = creates.iter().map(|u| !u.4).collect();
    let ids: Vec<(String, i64)> = sqlx::query_as(
        "INSERT INTO users (tenant_id, job_id, origin, created_at, updated_at, source_id, ref_key, username,
             display_name, given_name, family_name, email, phone, department, manager_source_id, employee_id,
             custom, deactivation_reason, job_title_id, company_id, active, source_enabled)
         SELECT $1, $2, 'sync', $3, $3, t.* FROM UNNEST($4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
             $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[],
             $17::bigint[], $18::bigint[], $19::boolean[], $19::boolean[]) AS t
         RETURNING source_id, id",
    )
    .bind(&ctx.tenant)
    .bind(&ctx.job)
    .bind(now)
    .bind(text(|u| Some(u.0.as_str())))
    .bind(text(|u| Some(u.1.as_str())))
    .bind(text(|u| Some(u.2.username.as_str())))
    .bind(text(|u| u.2.display_name.as_deref()))
    .bind(text(|u| u.2.given_name.as_deref()))
    .bind(text(|u| u.2.family_name.as_deref()))
    .bind(text(|u| u.2.email.as_deref()))
    .bind(text(|u| u.2.phone.as_deref()))
    .bind(text(|u| u.2.department.as_deref()))
    .bind(text(|u| u.2.manager.as_deref()))
    .bind(text(|u| u.2.employee_id.as_deref()))
    .bind(text(|u| u.3.as_deref()))
    .bind(text(|u| u.4.then_some(DeactivationReason::Disabled.as_str())))
    .bind(ids("job_title", |f| f.job_title.as_deref()))
    .bind(ids("company", |f| f.company.as_deref()))
    .bind(enabled)
    .fetch_all(conn)
    .await?;
    Ok(ids
        .into_iter()
        .map(|(id, row)| (Cow::Owned(id), row))
        .collect())
}

fn stage_changes(row: &mut Staged, changes: &[FieldChange], lookups: &Lookups) {
    for c in changes {
        let value = match c.field.as_str() {
            "job_title" | "company" => lookups
                .id(&c.field, c.new.as_deref())
                .map(|id| id.to_string()),
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

/// Stage every change to an existing user in the `user_changes` table and
/// move each renamed user to a temporary name (`#renaming#<row id>`), so
/// that no name a user gives up is still held when new users are inserted
/// and final names are written: swaps, chains and cycles of renames, and a
/// new user taking a renamed user's old name, all apply in one run.
/// Returns whether anything was staged (see [`write_updates`]).
pub(super) async fn stage_updates(
    tx: &mut Tx<'_>,
    plan: &Plan,
    ctx: &ApplyContext,
    lookups: &Lookups,
) -> Result<bool> {
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
                on_tx!(tx, |c| {
                    sqlx::query("UPDATE users SET job_id = $1, source_id = $2, ref_key = $3, origin = 'sync', active = TRUE, deactivation_reason = NULL WHERE id = $4")
                        .bind(&ctx.job)
                        .bind(source_id)
                        .bind(ref_key)
                        .bind(db_id)
                        .execute(&mut *c)
                        .await?;
                });
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
        return Ok(false);
    }
    let rows: Vec<_> = staged.into_iter().collect();
    match &mut *tx {
        Tx::Sqlite(t) => stage_sqlite(t, &rows).await?,
        Tx::Postgres(t) => stage_postgres(t, &rows).await?,
    }
    // Each staged user's row id, so the updates below join on it: joined
    // on (tenant, job, source id), SQLite walked every user of the job
    // (~40 ms per statement at 100k users) to write a few hundred.
    on_tx!(tx, |c| {
        sqlx::query(
            "UPDATE user_changes SET user_id = (SELECT u.id FROM users u
             WHERE u.tenant_id = $1 AND u.job_id = $2 AND u.source_id = user_changes.source_id)",
        )
        .bind(&ctx.tenant)
        .bind(&ctx.job)
        .execute(&mut *c)
        .await?;
    });
    on_tx!(tx, |c| {
        sqlx::query(&format!(
            "UPDATE users SET username = '#renaming#' || users.id FROM user_changes t
             WHERE {SCOPE} AND t.username IS NOT NULL AND t.username != users.username"
        ))
        .execute(&mut *c)
        .await?;
    });
    Ok(true)
}

async fn stage_sqlite(conn: &mut SqliteConnection, rows: &[(&str, Staged)]) -> Result<()> {
    let columns = STAGED
        .iter()
        .map(|c| {
            let kind = if NUMERIC.contains(c) {
                "INTEGER"
            } else {
                "TEXT"
            };
            format!("{c} {kind}")
        })
        .collect::<Vec<_>>()
        .join(", ");
    sqlx::query(&format!(
        "CREATE TEMP TABLE IF NOT EXISTS user_changes (source_id TEXT PRIMARY KEY, user_id INTEGER, {columns})"
    ))
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM user_changes")
        .execute(&mut *conn)
        .await?;
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
    Ok(())
}

/// A staging table that lives until the transaction ends, filled with one
/// `UNNEST` of text arrays (numbers and flags are cast when written).
async fn stage_postgres(conn: &mut PgConnection, rows: &[(&str, Staged)]) -> Result<()> {
    let columns = STAGED
        .iter()
        .map(|c| format!("{c} TEXT"))
        .collect::<Vec<_>>()
        .join(", ");
    sqlx::query(&format!(
        "CREATE TEMP TABLE user_changes (source_id TEXT PRIMARY KEY, user_id BIGINT, {columns}) ON COMMIT DROP"
    ))
    .execute(&mut *conn)
    .await?;
    let arrays = (1..=STAGED.len() + 1)
        .map(|i| format!("${i}::text[]"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "INSERT INTO user_changes (source_id, {}) SELECT * FROM UNNEST({arrays})",
        STAGED.join(", ")
    );
    let mut q = sqlx::query(&sql).bind(rows.iter().map(|r| r.0).collect::<Vec<_>>());
    for c in STAGED {
        q = q.bind(
            rows.iter()
                .map(|r| r.1.get(c).map(String::as_str))
                .collect::<Vec<_>>(),
        );
    }
    q.execute(&mut *conn).await?;
    Ok(())
}

/// The job's users matched to their staged row, by the row id looked up in
/// the job's users when it was staged (so the tenant and job are implied).
/// SQLite's planner then reads the few staged rows and each user by id;
/// given the (tenant, job) terms as well, it walked the job's users.
const SCOPE: &str = "users.id = t.user_id";

/// Write the staged changes, final usernames included; runs after the new
/// users are inserted.
pub(super) async fn write_updates(tx: &mut Tx<'_>, now: &str) -> Result<()> {
    // PostgreSQL stages everything as text: cast numbers and flags back.
    let cast = |c: &str| match (&*tx, c) {
        (Tx::Postgres(_), "job_title_id" | "company_id") => "::bigint",
        (Tx::Postgres(_), c) if NUMERIC.contains(&c) => "::boolean",
        _ => "",
    };
    let sets = STAGED
        .iter()
        .map(|c| match *c {
            "deactivation_reason" => "deactivation_reason = CASE WHEN t.deactivation_reason IS NULL THEN users.deactivation_reason ELSE NULLIF(t.deactivation_reason, '') END".to_string(),
            c => format!("{c} = COALESCE(t.{c}{}, users.{c})", cast(c)),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!("UPDATE users SET {sets}, updated_at = $1 FROM user_changes t WHERE {SCOPE}");
    on_tx!(tx, |c| {
        sqlx::query(&sql)
            .bind(now)
            .execute(&mut *c)
            .await
            .context("cannot update users")?;
    });
    Ok(())
}

/// Managers are linked by source id; resolve them to row ids (new users
/// included, so this runs after every create and update). Only rows that
/// can change are written: users without a linked manager whose manager now
/// exists (new users, new managers; the `users_unlinked_manager` index
/// finds them without reading the job's other users), and users this run
/// updated (`staged`: the `user_changes` table holds them). Row ids never
/// change, so every other link stays right.
pub(super) async fn link_managers(tx: &mut Tx<'_>, ctx: &ApplyContext, staged: bool) -> Result<()> {
    let manager = "SELECT m.id FROM users m WHERE m.tenant_id = users.tenant_id
           AND m.job_id = users.job_id AND m.source_id = users.manager_source_id";
    let unlinked = format!(
        "UPDATE users SET manager_id = ({manager})
         WHERE tenant_id = $1 AND job_id = $2 AND manager_id IS NULL
           AND manager_source_id IS NOT NULL AND EXISTS ({manager})"
    );
    on_tx!(tx, |c| {
        sqlx::query(&unlinked)
            .bind(&ctx.tenant)
            .bind(&ctx.job)
            .execute(&mut *c)
            .await?;
    });
    if staged {
        let updated = format!(
            "UPDATE users SET manager_id = ({manager}) FROM user_changes t
             WHERE {SCOPE} AND users.manager_source_id IS NOT NULL"
        );
        on_tx!(tx, |c| {
            sqlx::query(&updated).execute(&mut *c).await?;
        });
    }
    Ok(())
}
