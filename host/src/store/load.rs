//! Reading what the store holds for a job into the engine's `Current`.
//!
//! Bulk reads ask SQLite for one JSON array per table (`json_group_array`)
//! and parse it with serde: sqlx hands every row of a plain query through a
//! channel (~10 µs a row), which made loading 100k users take seconds.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::Store;
use crate::engine::{Current, StoredGroup, StoredUser, UsernameOwner};
use crate::model::UserFields;

/// One stored user, in the column order of the query below.
#[derive(Deserialize)]
struct UserRow(
    i64,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    i64,
    i64,
    Option<String>,
);

/// username, row id, origin, job, source id
type OwnerRow = (String, i64, String, Option<String>, Option<String>);
/// id, source id, ref key, name, description, active
type GroupRow = (i64, String, String, String, Option<String>, i64);

impl Store {
    /// Run `select` (one `json_group_array(...)` column) and parse it.
    async fn json_rows<T: DeserializeOwned>(&self, select: &str, binds: &[&str]) -> Result<Vec<T>> {
        let mut q = sqlx::query_scalar::<_, String>(select);
        for b in binds {
            q = q.bind(*b);
        }
        let json = q.fetch_one(&self.pool).await?;
        serde_json::from_str(&json).context("cannot parse the store's bulk read")
    }

    pub async fn load_current(
        &self,
        tenant: &str,
        job: &str,
        license_kind: Option<&str>,
    ) -> Result<Current> {
        let pool = &self.pool;
        let mut current = Current::default();

        // Four bulk reads at once: each runs on its own connection (SQLite
        // WAL lets readers run side by side), so building the JSON overlaps.
        let (tenant_job, tenant_only) = ([tenant, job], [tenant]);
        let (users, owners, groups, pairs) = tokio::try_join!(
            self.json_rows::<UserRow>(
                "SELECT json_group_array(json_array(u.id, u.source_id, u.ref_key, u.username, u.display_name,
                    u.given_name, u.family_name, u.email, u.phone, jt.name, c.name, u.department,
                    u.manager_source_id, u.employee_id, u.custom, u.active, u.in_source, u.source_enabled,
                    u.deactivation_reason))
                 FROM users u
                 LEFT JOIN job_titles jt ON jt.id = u.job_title_id
                 LEFT JOIN companies c ON c.id = u.company_id
                 WHERE u.tenant_id = ? AND u.job_id = ?",
                &tenant_job,
            ),
            self.json_rows::<OwnerRow>(
                "SELECT json_group_array(json_array(username, id, origin, job_id, source_id))
                 FROM users WHERE tenant_id = ?",
                &tenant_only,
            ),
            self.json_rows::<GroupRow>(
                "SELECT json_group_array(json_array(id, source_id, ref_key, name, description, active))
                 FROM groups WHERE tenant_id = ? AND job_id = ?",
                &tenant_job,
            ),
            self.json_rows::<(i64, i64)>(
                "SELECT json_group_array(json_array(m.group_id, m.user_id))
                 FROM memberships m JOIN groups g ON g.id = m.group_id
                 WHERE g.tenant_id = ? AND g.job_id = ?",
                &tenant_job,
            ),
        )?;
        let mut user_ids: HashMap<i64, Arc<str>> = HashMap::with_capacity(users.len());
        current.users = users
            .into_iter()
            .map(|r| {
                user_ids.insert(r.0, r.1.as_str().into());
                StoredUser {
                    source_id: r.1,
                    ref_key: r.2,
                    fields: UserFields {
                        username: r.3,
                        display_name: r.4,
                        given_name: r.5,
                        family_name: r.6,
                        email: r.7,
                        phone: r.8,
                        job_title: r.9,
                        company: r.10,
                        department: r.11,
                        manager: r.12,
                        employee_id: r.13,
                        custom: Vec::new(),
                    },
                    custom_json: r.14,
                    active: r.15 != 0,
                    in_source: r.16 != 0,
                    source_enabled: r.17 != 0,
                    deactivation_reason: r.18,
                }
            })
            .collect();

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

        let mut group_ids: HashMap<i64, Arc<str>> = HashMap::with_capacity(groups.len());
        current.groups = groups
            .into_iter()
            .map(|(id, source_id, ref_key, name, description, active)| {
                group_ids.insert(id, source_id.as_str().into());
                StoredGroup {
                    source_id,
                    ref_key,
                    name,
                    description,
                    active: active != 0,
                }
            })
            .collect();

        // Integer pairs, mapped through the id maps above.
        current.memberships = pairs
            .into_iter()
            .filter_map(|(g, u)| Some((group_ids.get(&g)?.clone(), user_ids.get(&u)?.clone())))
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
            let licensed: Vec<(i64,)> = self
                .json_rows(
                    "SELECT json_group_array(json_array(la.user_id)) FROM license_assignments la
                     JOIN users u ON u.id = la.user_id
                     WHERE la.tenant_id = ? AND la.kind = ? AND u.job_id = ?",
                    &[tenant, kind, job],
                )
                .await?;
            current.licensed = licensed
                .into_iter()
                .filter_map(|(u,)| user_ids.get(&u).map(|id| id.to_string()))
                .collect();
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
    let rows: Vec<String> = store
        .json_rows(
            &format!("SELECT json_group_array(name) FROM {table} WHERE tenant_id = ?"),
            &[tenant],
        )
        .await?;
    Ok(rows.into_iter().collect())
}
