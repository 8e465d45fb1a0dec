//! Writing groups, memberships, roles and licenses.

use std::collections::HashMap;

use anyhow::{Context, Result};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::{pairs, ApplyContext};
use crate::engine::{GroupChange, Plan};
use crate::store::MAX_PARAMS;

pub(super) async fn apply_groups(
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

pub(super) async fn apply_memberships(
    conn: &mut SqliteConnection,
    plan: &Plan,
    users: &HashMap<String, i64>,
    groups: &HashMap<String, i64>,
) -> Result<()> {
    let (mut add, mut remove) = (Vec::new(), Vec::new());
    for m in &plan.memberships {
        if let (Some(&g), Some(&u)) = (groups.get(&*m.group), users.get(&*m.user)) {
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

pub(super) async fn apply_roles(
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

pub(super) async fn apply_licenses(
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
