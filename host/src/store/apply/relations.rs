//! Writing groups, memberships, roles and licenses.

use std::collections::HashMap;

use anyhow::{Context, Result};
use sqlx::{PgConnection, QueryBuilder, Sqlite, SqliteConnection};

use super::{ApplyContext, IdMap};
use crate::engine::{FastMap, GroupChange, Plan};
use crate::store::db::{on_tx, Tx};
use crate::store::sqlite_bulk;
use crate::store::MAX_PARAMS;

/// (source id, ref key, name, description) of a new group.
type NewGroup<'a> = (&'a String, &'a String, &'a String, &'a Option<String>);

pub(super) async fn apply_groups(
    tx: &mut Tx<'_>,
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
    match &mut *tx {
        Tx::Sqlite(t) => insert_groups_sqlite(t, &creates, ctx, now).await?,
        Tx::Postgres(t) => insert_groups_postgres(t, &creates, ctx, now).await?,
    }
    for g in &plan.groups {
        let (sql, name, ref_key) = match g {
            GroupChange::Create { .. } => continue,
            GroupChange::Update { name, ref_key, .. } => (
                "UPDATE groups SET name = $5, ref_key = $6, updated_at = $1 WHERE tenant_id = $2 AND job_id = $3 AND source_id = $4",
                Some(name),
                Some(ref_key),
            ),
            GroupChange::Deactivate { .. } => ("UPDATE groups SET active = FALSE, updated_at = $1 WHERE tenant_id = $2 AND job_id = $3 AND source_id = $4", None, None),
            GroupChange::Reactivate { .. } => ("UPDATE groups SET active = TRUE, updated_at = $1 WHERE tenant_id = $2 AND job_id = $3 AND source_id = $4", None, None),
        };
        on_tx!(tx, |c| {
            let mut q = sqlx::query(sql)
                .bind(now)
                .bind(&ctx.tenant)
                .bind(&ctx.job)
                .bind(g.source_id());
            if let (Some(n), Some(r)) = (name, ref_key) {
                q = q.bind(n).bind(r);
            }
            q.execute(&mut *c).await?;
        });
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
            on_tx!(tx, |c| {
                sqlx::query("UPDATE groups SET description = $1 WHERE tenant_id = $2 AND job_id = $3 AND source_id = $4")
                    .bind(&description)
                    .bind(&ctx.tenant)
                    .bind(&ctx.job)
                    .bind(source_id)
                    .execute(&mut *c)
                    .await?;
            });
        }
    }
    Ok(())
}

async fn insert_groups_sqlite(
    conn: &mut SqliteConnection,
    creates: &[NewGroup<'_>],
    ctx: &ApplyContext,
    now: &str,
) -> Result<()> {
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
    Ok(())
}

/// One statement for every new group: columns as arrays, `UNNEST`ed.
async fn insert_groups_postgres(
    conn: &mut PgConnection,
    creates: &[NewGroup<'_>],
    ctx: &ApplyContext,
    now: &str,
) -> Result<()> {
    if creates.is_empty() {
        return Ok(());
    }
    let column = |f: for<'x> fn(&'x NewGroup<'x>) -> Option<&'x str>| {
        creates.iter().map(f).collect::<Vec<_>>()
    };
    sqlx::query(
        "INSERT INTO groups (tenant_id, job_id, source_id, ref_key, name, description, created_at, updated_at)
         SELECT $1, $2, s, r, n, d, $3, $3 FROM UNNEST($4::text[], $5::text[], $6::text[], $7::text[]) AS t(s, r, n, d)",
    )
    .bind(&ctx.tenant)
    .bind(&ctx.job)
    .bind(now)
    .bind(column(|g| Some(g.0.as_str())))
    .bind(column(|g| Some(g.1.as_str())))
    .bind(column(|g| Some(g.2.as_str())))
    .bind(column(|g| g.3.as_deref()))
    .execute(conn)
    .await
    .context("cannot insert groups")?;
    Ok(())
}

pub(super) async fn apply_memberships(
    tx: &mut Tx<'_>,
    plan: &Plan,
    users: &IdMap<'_>,
    groups: &IdMap<'_>,
) -> Result<()> {
    // Row ids of the plan's adds or removes, computed as they are written
    // (a first sync of 1M users adds 6M, which as a list held 96 MB more at
    // the run's peak), and looked up once per shared handle, not per
    // membership by source id (a string hash and compare each).
    let rows = |add: bool| {
        let mut ids: FastMap<usize, Option<i64>> = FastMap::default();
        let mut id = move |handle, source_id: &str, map: &IdMap<'_>| {
            *ids.entry(handle)
                .or_insert_with(|| map.get(source_id).copied())
        };
        plan.memberships
            .iter()
            .filter(move |m| m.add == add)
            .filter_map(move |m| {
                let group = id(m.group_handle(), m.group(), groups)?;
                Some((group, id(m.user_handle(), m.user(), users)?))
            })
    };
    match &mut *tx {
        Tx::Sqlite(t) => {
            let adding = plan.memberships.iter().filter(|m| m.add).count();
            sqlite_bulk::write(t, |db| {
                let insert =
                    "INSERT OR IGNORE INTO memberships (group_id, user_id) VALUES (?1, ?2)";
                // Written by group; the index by user is built afterwards
                // when this fills most of the table (a first sync).
                sqlite_bulk::with_index_rebuilt(
                    db,
                    "memberships",
                    "memberships_user",
                    adding,
                    || sqlite_bulk::pairs(db, insert, rows(true)),
                )?;
                let delete = "DELETE FROM memberships WHERE group_id = ?1 AND user_id = ?2";
                sqlite_bulk::pairs(db, delete, rows(false))
            })
            .await?;
        }
        Tx::Postgres(t) => {
            let (add, remove): (Vec<_>, Vec<_>) = (rows(true).collect(), rows(false).collect());
            pairs_postgres(t, "INSERT INTO memberships (group_id, user_id) SELECT * FROM UNNEST($1::bigint[], $2::bigint[]) ON CONFLICT DO NOTHING", &add).await?;
            pairs_postgres(t, "DELETE FROM memberships m USING UNNEST($1::bigint[], $2::bigint[]) AS d(g, u) WHERE m.group_id = d.g AND m.user_id = d.u", &remove).await?;
        }
    }
    Ok(())
}

/// Run `sql` with the pairs as two arrays ($1, $2), all in one statement.
async fn pairs_postgres(conn: &mut PgConnection, sql: &str, rows: &[(i64, i64)]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let (a, b): (Vec<i64>, Vec<i64>) = rows.iter().copied().unzip();
    sqlx::query(sql).bind(a).bind(b).execute(conn).await?;
    Ok(())
}

pub(super) async fn apply_roles(
    tx: &mut Tx<'_>,
    plan: &Plan,
    ctx: &ApplyContext,
    users: &IdMap<'_>,
) -> Result<()> {
    for (name, kind) in &ctx.roles {
        on_tx!(tx, |c| {
            sqlx::query("INSERT INTO roles (tenant_id, name, kind) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                .bind(&ctx.tenant)
                .bind(name)
                .bind(kind)
                .execute(&mut *c)
                .await?;
        });
    }
    let roles: Vec<(String, i64)> = on_tx!(tx, |c| {
        sqlx::query_as("SELECT name, id FROM roles WHERE tenant_id = $1")
            .bind(&ctx.tenant)
            .fetch_all(&mut *c)
            .await?
    });
    let roles: HashMap<String, i64> = roles.into_iter().collect();
    for r in &plan.roles {
        let (Some(&user), Some(&role)) = (users.get(r.user.as_str()), roles.get(&r.role)) else {
            continue;
        };
        let sql = if r.grant {
            "INSERT INTO user_roles (user_id, role_id, job_id) VALUES ($1, $2, $3)
             ON CONFLICT (user_id, role_id) DO UPDATE SET job_id = excluded.job_id"
        } else {
            "DELETE FROM user_roles WHERE user_id = $1 AND role_id = $2 AND job_id = $3"
        };
        on_tx!(tx, |c| {
            sqlx::query(sql)
                .bind(user)
                .bind(role)
                .bind(&ctx.job)
                .execute(&mut *c)
                .await?;
        });
    }
    Ok(())
}

pub(super) async fn apply_licenses(
    tx: &mut Tx<'_>,
    plan: &Plan,
    ctx: &ApplyContext,
    users: &IdMap<'_>,
    now: &str,
) -> Result<()> {
    for l in &plan.licenses {
        let Some(&user) = users.get(l.user.as_str()) else {
            continue;
        };
        on_tx!(tx, |c| {
            if l.grant {
                sqlx::query("INSERT INTO license_assignments (tenant_id, user_id, kind, granted_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
                    .bind(&ctx.tenant)
                    .bind(user)
                    .bind(&l.kind)
                    .bind(now)
                    .execute(&mut *c)
                    .await?;
            } else {
                sqlx::query("DELETE FROM license_assignments WHERE user_id = $1 AND kind = $2")
                    .bind(user)
                    .bind(&l.kind)
                    .execute(&mut *c)
                    .await?;
            }
        });
    }
    Ok(())
}
