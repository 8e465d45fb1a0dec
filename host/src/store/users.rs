//! Reading users for the CLI/API, and edits "by hand" in the application
//! (local users, deactivation, deletion) that sync must respect or repair.

use anyhow::{bail, Result};
use serde::Serialize;

use super::db::{on_pool, on_tx, Backend};
use super::{now, Store};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct UserRow {
    pub id: i64,
    pub tenant_id: String,
    pub job_id: Option<String>,
    pub source_id: Option<String>,
    pub origin: String,
    pub username: String,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub job_title: Option<String>,
    pub company: Option<String>,
    pub department: Option<String>,
    pub manager: Option<String>,
    pub employee_id: Option<String>,
    /// Custom attributes: a JSON object in the store, an object in JSON output.
    #[serde(serialize_with = "super::json_text")]
    #[schema(value_type = Option<Object>)]
    pub custom: Option<String>,
    pub active: bool,
    pub deactivation_reason: Option<String>,
    /// Names of the active groups the user is a member of (names may hold commas).
    #[sqlx(json)]
    pub groups: Vec<String>,
    #[sqlx(json)]
    pub roles: Vec<String>,
    /// License kinds assigned.
    #[sqlx(json)]
    pub licenses: Vec<String>,
}

impl Store {
    pub async fn users(&self, tenant: Option<&str>) -> Result<Vec<UserRow>> {
        // Sorted names as one JSON list per user.
        let list = |name: &str, from: &str| match &self.backend {
            Backend::Sqlite(_) => {
                format!("(SELECT json_group_array(v) FROM (SELECT {name} AS v {from} ORDER BY v))")
            }
            Backend::Postgres(_) => {
                format!("(SELECT COALESCE(json_agg({name} ORDER BY {name}), '[]') {from})")
            }
        };
        let sql = format!(
            "SELECT u.id, u.tenant_id, u.job_id, u.source_id, u.origin, u.username, u.display_name, u.given_name,
                    u.family_name, u.email, u.phone, jt.name AS job_title, c.name AS company, u.department,
                    m.username AS manager, u.employee_id, u.custom, u.active, u.deactivation_reason,
                    {} AS groups, {} AS roles, {} AS licenses
             FROM users u
             LEFT JOIN job_titles jt ON jt.id = u.job_title_id
             LEFT JOIN companies c ON c.id = u.company_id
             LEFT JOIN users m ON m.id = u.manager_id
             WHERE $1 IS NULL OR u.tenant_id = $1
             ORDER BY u.username",
            list("g.name", "FROM memberships ms JOIN groups g ON g.id = ms.group_id WHERE ms.user_id = u.id AND g.active"),
            list("r.name", "FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = u.id"),
            list("la.kind", "FROM license_assignments la WHERE la.user_id = u.id"),
        );
        Ok(on_pool!(&self.backend, |p| {
            sqlx::query_as(&sql).bind(tenant).fetch_all(p).await?
        }))
    }

    pub async fn add_local_user(
        &self,
        tenant: &str,
        username: &str,
        email: Option<&str>,
    ) -> Result<()> {
        let now = now();
        on_pool!(&self.backend, |p| {
            sqlx::query(
                "INSERT INTO tenants (id, created_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
            )
            .bind(tenant)
            .bind(&now)
            .execute(p)
            .await?;
            sqlx::query("INSERT INTO users (tenant_id, origin, username, email, created_at, updated_at) VALUES ($1, 'local', $2, $3, $4, $4)")
                .bind(tenant)
                .bind(username)
                .bind(email)
                .bind(&now)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    /// Deactivate by hand; a synced user still active in the source comes
    /// back on the next run (the source is authoritative). `false`: no user
    /// of that name.
    pub async fn deactivate_user(&self, tenant: &str, username: &str) -> Result<bool> {
        let changed = on_pool!(&self.backend, |p| {
            sqlx::query("UPDATE users SET active = FALSE, deactivation_reason = 'manual', updated_at = $1 WHERE tenant_id = $2 AND username = $3")
                .bind(now())
                .bind(tenant)
                .bind(username)
                .execute(p)
                .await?
                .rows_affected()
        });
        Ok(changed > 0)
    }

    /// Restore (reactivate) a deactivated user by hand; the next run may
    /// deactivate it again if the source no longer has it (the source is
    /// authoritative). `false`: no deactivated user of that name.
    pub async fn restore_user(&self, tenant: &str, username: &str) -> Result<bool> {
        let changed = on_pool!(&self.backend, |p| {
            sqlx::query("UPDATE users SET active = TRUE, deactivation_reason = NULL, updated_at = $1 WHERE tenant_id = $2 AND username = $3 AND active = FALSE")
                .bind(now())
                .bind(tenant)
                .bind(username)
                .execute(p)
                .await?
                .rows_affected()
        });
        Ok(changed > 0)
    }

    /// Delete by hand (with its memberships, roles and licenses); a user
    /// still in the source is recreated on the next run.
    pub async fn delete_user(&self, tenant: &str, username: &str) -> Result<()> {
        let mut tx = self.backend.begin_deferred().await?;
        let id: Option<(i64,)> = on_tx!(&mut tx, |c| {
            sqlx::query_as("SELECT id FROM users WHERE tenant_id = $1 AND username = $2")
                .bind(tenant)
                .bind(username)
                .fetch_optional(&mut *c)
                .await?
        });
        let Some((id,)) = id else {
            bail!("no user {username:?} in tenant {tenant:?}")
        };
        for sql in [
            "DELETE FROM memberships WHERE user_id = $1",
            "DELETE FROM user_roles WHERE user_id = $1",
            "DELETE FROM license_assignments WHERE user_id = $1",
            "UPDATE users SET manager_id = NULL WHERE manager_id = $1",
            "DELETE FROM users WHERE id = $1",
        ] {
            on_tx!(&mut tx, |c| {
                sqlx::query(sql).bind(id).execute(&mut *c).await?;
            });
        }
        tx.commit().await?;
        Ok(())
    }

    /// Add an entry to a lookup table (job titles or companies); `false`
    /// when it was already there.
    pub async fn add_lookup(&self, tenant: &str, table: Lookup, name: &str) -> Result<bool> {
        let sql = match table {
            Lookup::JobTitle => {
                "INSERT INTO job_titles (tenant_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING"
            }
            Lookup::Company => {
                "INSERT INTO companies (tenant_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING"
            }
        };
        let added = on_pool!(&self.backend, |p| {
            sqlx::query(sql)
                .bind(tenant)
                .bind(name)
                .execute(p)
                .await?
                .rows_affected()
        });
        Ok(added > 0)
    }

    /// The DN (ref key) and active flag of the user `username` (matched
    /// without regard to ASCII case) that job `job` synced, if any.
    pub async fn synced_user(
        &self,
        tenant: &str,
        job: &str,
        username: &str,
    ) -> Result<Option<(String, bool)>> {
        Ok(on_pool!(&self.backend, |p| {
            sqlx::query_as(
                "SELECT ref_key, active FROM users
                 WHERE tenant_id = $1 AND job_id = $2 AND origin = 'sync' AND lower(username) = lower($3)",
            )
            .bind(tenant)
            .bind(job)
            .bind(username)
            .fetch_optional(p)
            .await?
        }))
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Lookup {
    JobTitle,
    Company,
}
