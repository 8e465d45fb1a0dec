//! Reading what the store holds for a job into the engine's `Current`.

use std::collections::HashSet;

use anyhow::Result;
use sqlx::Row;

use super::Store;

/// username, row id, origin, job, source id
type OwnerRow = (String, i64, String, Option<String>, Option<String>);
use crate::engine::{Current, StoredGroup, StoredUser, UsernameOwner};
use crate::model::UserFields;

impl Store {
    pub async fn load_current(
        &self,
        tenant: &str,
        job: &str,
        license_kind: Option<&str>,
    ) -> Result<Current> {
        let pool = &self.pool;
        let mut current = Current::default();

        let rows = sqlx::query(
            "SELECT u.source_id, u.ref_key, u.username, u.display_name, u.given_name, u.family_name,
                    u.email, u.phone, jt.name AS job_title, c.name AS company, u.department,
                    u.manager_source_id, u.employee_id, u.custom, u.active, u.in_source,
                    u.source_enabled, u.deactivation_reason
             FROM users u
             LEFT JOIN job_titles jt ON jt.id = u.job_title_id
             LEFT JOIN companies c ON c.id = u.company_id
             WHERE u.tenant_id = ? AND u.job_id = ?",
        )
        .bind(tenant)
        .bind(job)
        .fetch_all(pool)
        .await?;
        current.users = rows
            .iter()
            .map(|r| StoredUser {
                source_id: r.get("source_id"),
                ref_key: r.get("ref_key"),
                fields: UserFields {
                    username: r.get("username"),
                    display_name: r.get("display_name"),
                    given_name: r.get("given_name"),
                    family_name: r.get("family_name"),
                    email: r.get("email"),
                    phone: r.get("phone"),
                    job_title: r.get("job_title"),
                    company: r.get("company"),
                    department: r.get("department"),
                    manager: r.get("manager_source_id"),
                    employee_id: r.get("employee_id"),
                    custom: Vec::new(),
                },
                custom_json: r.get("custom"),
                active: r.get("active"),
                in_source: r.get("in_source"),
                source_enabled: r.get("source_enabled"),
                deactivation_reason: r.get("deactivation_reason"),
            })
            .collect();

        let owners: Vec<OwnerRow> = sqlx::query_as(
            "SELECT username, id, origin, job_id, source_id FROM users WHERE tenant_id = ?",
        )
        .bind(tenant)
        .fetch_all(pool)
        .await?;
        for (username, id, origin, owner_job, source_id) in owners {
            let owner = match (origin.as_str(), owner_job) {
                ("local", _) | (_, None) => UsernameOwner::Local { db_id: id },
                (_, Some(j)) if j == job => UsernameOwner::ThisJob {
                    source_id: source_id.unwrap_or_default(),
                },
                (_, Some(j)) => UsernameOwner::OtherJob { job: j },
            };
            current.usernames.insert(username, owner);
        }

        let groups: Vec<(String, String, String, Option<String>, bool)> = sqlx::query_as(
            "SELECT source_id, ref_key, name, description, active FROM groups WHERE tenant_id = ? AND job_id = ?",
        )
        .bind(tenant)
        .bind(job)
        .fetch_all(pool)
        .await?;
        current.groups = groups
            .into_iter()
            .map(
                |(source_id, ref_key, name, description, active)| StoredGroup {
                    source_id,
                    ref_key,
                    name,
                    description,
                    active,
                },
            )
            .collect();

        current.memberships = sqlx::query_as(
            "SELECT g.source_id, u.source_id FROM memberships m
             JOIN groups g ON g.id = m.group_id JOIN users u ON u.id = m.user_id
             WHERE g.tenant_id = ? AND g.job_id = ?",
        )
        .bind(tenant)
        .bind(job)
        .fetch_all(pool)
        .await?
        .into_iter()
        .collect();

        current.roles = sqlx::query_as(
            "SELECT u.source_id, r.name FROM user_roles ur
             JOIN users u ON u.id = ur.user_id JOIN roles r ON r.id = ur.role_id
             WHERE u.tenant_id = ? AND ur.job_id = ?",
        )
        .bind(tenant)
        .bind(job)
        .fetch_all(pool)
        .await?
        .into_iter()
        .collect();

        if let Some(kind) = license_kind {
            let licensed: Vec<(String,)> = sqlx::query_as(
                "SELECT u.source_id FROM license_assignments la JOIN users u ON u.id = la.user_id
                 WHERE la.tenant_id = ? AND la.kind = ? AND u.job_id = ?",
            )
            .bind(tenant)
            .bind(kind)
            .bind(job)
            .fetch_all(pool)
            .await?;
            current.licensed = licensed.into_iter().map(|(s,)| s).collect();
            let (elsewhere,): (i64,) = sqlx::query_as(
                "SELECT count(*) FROM license_assignments la JOIN users u ON u.id = la.user_id
                 WHERE la.tenant_id = ? AND la.kind = ? AND (u.job_id IS NULL OR u.job_id != ?)",
            )
            .bind(tenant)
            .bind(kind)
            .bind(job)
            .fetch_one(pool)
            .await?;
            current.seats_used_elsewhere = elsewhere as u32;
        }

        current.job_titles = names(self, "job_titles", tenant).await?;
        current.companies = names(self, "companies", tenant).await?;
        Ok(current)
    }
}

async fn names(store: &Store, table: &str, tenant: &str) -> Result<HashSet<String>> {
    let rows: Vec<(String,)> =
        sqlx::query_as(&format!("SELECT name FROM {table} WHERE tenant_id = ?"))
            .bind(tenant)
            .fetch_all(&store.pool)
            .await?;
    Ok(rows.into_iter().map(|(n,)| n).collect())
}
