//! Reading what the store holds for a job into the engine's `Current`.
//!
//! A run's load reads the job's rows ([`JobRows`]): SQLite steps them
//! straight off its handle ([`sqlite`]); PostgreSQL, and the smaller reads
//! here, ask the database for one JSON array per table (`json_group_array`
//! on SQLite, `json_agg` on PostgreSQL; see [`json_rows_of`]) and parse it
//! with serde. sqlx hands every row of a plain query through a channel
//! (~10 µs a row), which made loading 100k users take seconds.

mod rows;
mod sqlite;

use std::collections::{HashMap, HashSet};

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::db::{on_pool, Backend};
use super::Store;
use crate::engine::{Current, StoredGroup, StoredUser};
use crate::model::UserFields;
use rows::{JobRows, UserRows, LICENSED_ELSEWHERE_SQL, OTHER_OWNERS_SQL, ROLES_SQL};

/// One stored user, in the column order of the query below.
#[derive(Deserialize)]
struct UserRow(
    i64,
    String,
    String,
    String,
    Option<Box<str>>,
    Option<Box<str>>,
    Option<Box<str>>,
    Option<Box<str>>,
    Option<Box<str>>,
    Option<Box<str>>,
    Option<Box<str>>,
    Option<Box<str>>,
    Option<Box<str>>,
    Option<Box<str>>,
    Option<String>,
    i64,
    i64,
    i64,
    Option<String>,
);

/// username, row id, origin, job
type OwnerRow = (String, i64, String, Option<String>);
/// id, source id, ref key, name, description, active
type GroupRow = (i64, String, String, String, Option<String>, i64);

/// The SQL of one column holding every row's `columns` as a JSON array of
/// arrays (`[]` when there are none), as text.
pub(super) fn json_rows_of(backend: &str, columns: &str) -> String {
    match backend {
        "postgres" => format!("COALESCE(json_agg(json_build_array({columns})), '[]')::text"),
        _ => format!("json_group_array(json_array({columns}))"),
    }
}

/// The SQL of a subquery listing the strings of the JSON array bound as
/// `param`.
pub(super) fn json_list(backend: &str, param: &str) -> String {
    match backend {
        "postgres" => format!("SELECT json_array_elements_text({param}::json)"),
        _ => format!("SELECT value FROM json_each({param})"),
    }
}

/// A flag column as 0 or 1 on both backends (PostgreSQL stores booleans).
fn flag(column: &str) -> String {
    format!("CASE WHEN {column} THEN 1 ELSE 0 END")
}

/// Whether [`Store::load_current`] reads the users' fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldsLoaded {
    All,
    /// Only what planning needs of every user (ids, ref key, username,
    /// flags): an incremental run compares the fields of the few users its
    /// read sent, so it loads theirs afterwards (at 100k users, a third of
    /// the bytes).
    Later,
}

const USERS_FROM: &str = "FROM users u
     LEFT JOIN job_titles jt ON jt.id = u.job_title_id
     LEFT JOIN companies c ON c.id = u.company_id";

/// The columns of a [`UserRow`].
fn user_columns() -> String {
    format!(
        "u.id, u.source_id, u.ref_key, u.username, u.display_name, u.given_name, u.family_name,
         u.email, u.phone, jt.name, c.name, u.department, u.manager_source_id, u.employee_id,
         u.custom, {}, {}, {}, u.deactivation_reason",
        flag("u.active"),
        flag("u.in_source"),
        flag("u.source_enabled")
    )
}

/// A stored user without its fields ([`FieldsLoaded::Later`]), in the
/// column order of [`lean_columns`].
#[derive(Deserialize)]
struct LeanRow(i64, String, String, String, i64, i64, i64, Option<String>);

fn lean_columns() -> String {
    format!(
        "u.id, u.source_id, u.ref_key, u.username, {}, {}, {}, u.deactivation_reason",
        flag("u.active"),
        flag("u.in_source"),
        flag("u.source_enabled")
    )
}

fn lean_user(r: LeanRow) -> StoredUser {
    StoredUser {
        source_id: r.1,
        ref_key: r.2,
        fields: UserFields {
            username: r.3,
            ..UserFields::default()
        },
        custom_json: None,
        active: r.4 != 0,
        in_source: r.5 != 0,
        source_enabled: r.6 != 0,
        deactivation_reason: r.7,
    }
}

/// A group row and its row id (both loads).
fn stored_group(
    (id, source_id, ref_key, name, description, active): GroupRow,
) -> (i64, StoredGroup) {
    let group = StoredGroup {
        source_id,
        ref_key,
        name,
        description,
        active: active != 0,
    };
    (id, group)
}

fn stored_user(r: UserRow) -> StoredUser {
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
}

impl Store {
    /// The job's users, with their row ids.
    async fn job_users(&self, fields: FieldsLoaded, tenant_job: &[&str]) -> Result<UserRows> {
        const WHERE: &str = "WHERE u.tenant_id = $1 AND u.job_id = $2";
        match fields {
            FieldsLoaded::All => {
                let from = format!("{USERS_FROM} {WHERE}");
                self.users_as(&user_columns(), &from, tenant_job, |r: UserRow| {
                    (r.0, stored_user(r))
                })
                .await
            }
            FieldsLoaded::Later => {
                let from = format!("FROM users u {WHERE}");
                self.users_as(&lean_columns(), &from, tenant_job, |r: LeanRow| {
                    (r.0, lean_user(r))
                })
                .await
            }
        }
    }

    /// Rows of type `R` made into users by `user`.
    async fn users_as<R: DeserializeOwned>(
        &self,
        columns: &str,
        from: &str,
        binds: &[&str],
        user: fn(R) -> (i64, StoredUser),
    ) -> Result<UserRows> {
        let rows: Vec<R> = self.json_rows(columns, from, binds).await?;
        Ok(rows.into_iter().map(user).collect())
    }

    /// Run `SELECT {rows} FROM …` with `{rows}` one JSON column of `columns`
    /// (see [`json_rows_of`]) and parse it.
    async fn json_rows<T: DeserializeOwned>(
        &self,
        columns: &str,
        from: &str,
        binds: &[&str],
    ) -> Result<Vec<T>> {
        let sql = format!(
            "SELECT {} {from}",
            json_rows_of(self.backend.name(), columns)
        );
        let json: String = on_pool!(&self.backend, |p| {
            let mut q = sqlx::query_scalar(&sql);
            for b in binds {
                q = q.bind(*b);
            }
            q.fetch_one(p).await?
        });
        serde_json::from_str(&json).context("cannot parse the store's bulk read")
    }

    /// The job's rows for planning. With [`FieldsLoaded::Later`] the users'
    /// fields (all but the username) are left empty, to be filled for the
    /// users a read sent with [`Store::load_user_fields`].
    pub async fn load_current(
        &self,
        tenant: &str,
        job: &str,
        license_kind: Option<&str>,
        fields: FieldsLoaded,
    ) -> Result<Current> {
        let started = std::time::Instant::now();
        let rows = match &self.backend {
            Backend::Sqlite(pool) => {
                let mut conn = pool.acquire().await?;
                let query = sqlite::JobQuery {
                    tenant,
                    job,
                    license_kind,
                    fields,
                };
                crate::store::sqlite_bulk::read(&mut conn, |db| query.rows(db))
                    .await
                    .context("cannot read the job's rows from the store")?
            }
            Backend::Postgres(_) => {
                self.job_rows_json(tenant, job, license_kind, fields)
                    .await?
            }
        };
        let read_ms = started.elapsed().as_millis() as u64;
        let current = rows.into_current();
        tracing::debug!(
            ms = started.elapsed().as_millis() as u64,
            read_ms,
            users = current.users.len(),
            memberships = current.memberships.len(),
            "loaded the job's rows"
        );
        Ok(current)
    }

    /// [`JobRows`] through JSON bulk reads (PostgreSQL).
    async fn job_rows_json(
        &self,
        tenant: &str,
        job: &str,
        license_kind: Option<&str>,
        fields: FieldsLoaded,
    ) -> Result<JobRows> {
        // Four bulk reads at once: each runs on its own connection, so
        // building the JSON overlaps.
        let tenant_job = [tenant, job];
        let group_columns = format!(
            "id, source_id, ref_key, name, description, {}",
            flag("active")
        );
        let owners_from = format!("FROM ({OTHER_OWNERS_SQL}) AS owners");
        let (users, owners, groups, members) = tokio::try_join!(
            self.job_users(fields, &tenant_job),
            self.json_rows::<OwnerRow>(
                "username, id, origin, job_id",
                &owners_from,
                &tenant_job,
            ),
            self.json_rows::<GroupRow>(
                &group_columns,
                "FROM groups WHERE tenant_id = $1 AND job_id = $2",
                &tenant_job,
            ),
            // Each group's members as one array: half the JSON of a pair per row.
            self.json_rows::<(i64, Vec<i64>)>(
                "g.id, (SELECT COALESCE(json_agg(m.user_id), '[]'::json) FROM memberships m WHERE m.group_id = g.id)",
                "FROM groups g WHERE g.tenant_id = $1 AND g.job_id = $2",
                &tenant_job,
            ),
        )?;
        let roles: Vec<(String, String)> = on_pool!(&self.backend, |p| {
            sqlx::query_as(ROLES_SQL)
                .bind(tenant)
                .bind(job)
                .fetch_all(p)
                .await?
        });
        let mut licensed = Vec::new();
        let mut seats_used_elsewhere = 0;
        if let Some(kind) = license_kind {
            let rows: Vec<(i64,)> = self
                .json_rows(
                    "la.user_id",
                    "FROM license_assignments la JOIN users u ON u.id = la.user_id
                     WHERE la.tenant_id = $1 AND la.kind = $2 AND u.job_id = $3",
                    &[tenant, kind, job],
                )
                .await?;
            licensed = rows.into_iter().map(|(u,)| u).collect();
            let (elsewhere,): (i64,) = on_pool!(&self.backend, |p| {
                sqlx::query_as(LICENSED_ELSEWHERE_SQL)
                    .bind(tenant)
                    .bind(kind)
                    .bind(job)
                    .fetch_one(p)
                    .await?
            });
            seats_used_elsewhere = elsewhere as u32;
        }
        Ok(JobRows {
            users,
            owners,
            groups: groups.into_iter().map(stored_group).collect(),
            members,
            roles,
            licensed,
            seats_used_elsewhere,
            job_titles: names(self, "job_titles", tenant).await?,
            companies: names(self, "companies", tenant).await?,
        })
    }
}

impl Store {
    /// Fill in the fields of the stored users among `ids` (after a load
    /// with [`FieldsLoaded::Later`]): one indexed lookup per id.
    pub async fn load_user_fields(
        &self,
        tenant: &str,
        job: &str,
        current: &mut Current,
        ids: &[&str],
    ) -> Result<()> {
        if ids.is_empty() || current.users.is_empty() {
            return Ok(());
        }
        let list = serde_json::to_string(ids)?;
        let rows: Vec<UserRow> = self
            .json_rows(
                &user_columns(),
                &format!(
                    "{USERS_FROM} WHERE u.tenant_id = $1 AND u.job_id = $2 AND u.source_id IN ({})",
                    json_list(self.backend.name(), "$3")
                ),
                &[tenant, job, &list],
            )
            .await?;
        let mut full: HashMap<String, StoredUser> = rows
            .into_iter()
            .map(|r| (r.1.clone(), stored_user(r)))
            .collect();
        let mut indexed_the_same = true;
        for u in &mut current.users {
            if let Some(f) = full.remove(&u.source_id) {
                indexed_the_same &= f.ref_key == u.ref_key && f.in_source == u.in_source;
                *u = f;
            }
        }
        if !indexed_the_same {
            current.forget_index();
        }
        Ok(())
    }

    /// Which of `ids` the job holds as users still in its source, in
    /// order: an incremental read need not re-send the groups of those
    /// (`target.known-users`). One indexed lookup per id; on SQLite stepped
    /// off the handle, as the load is: through sqlx's row channel, 588 ids
    /// took 15-45 ms of an incremental read beside the load.
    pub async fn known_users(&self, tenant: &str, job: &str, ids: &[String]) -> Result<Vec<bool>> {
        match &self.backend {
            Backend::Sqlite(pool) => {
                let mut conn = pool.acquire().await?;
                crate::store::sqlite_bulk::read(&mut conn, |db| {
                    let mut held = db.prepare(
                        "SELECT 1 FROM users WHERE tenant_id = ?1 AND job_id = ?2
                         AND source_id = ?3 AND in_source = TRUE",
                    )?;
                    ids.iter()
                        .map(|id| held.exists(rusqlite::params![tenant, job, id]))
                        .collect()
                })
                .await
            }
            Backend::Postgres(pool) => {
                let sql = format!(
                    "SELECT source_id FROM users WHERE tenant_id = $1 AND job_id = $2
                     AND in_source = TRUE AND source_id IN ({})",
                    json_list("postgres", "$3")
                );
                let rows: Vec<(String,)> = sqlx::query_as(&sql)
                    .bind(tenant)
                    .bind(job)
                    .bind(serde_json::to_string(ids)?)
                    .fetch_all(pool)
                    .await?;
                let known: HashSet<String> = rows.into_iter().map(|(id,)| id).collect();
                Ok(ids.iter().map(|id| known.contains(id)).collect())
            }
        }
    }

    /// Whether the job still holds a role its bindings granted (a run with
    /// no rule left revokes it, whatever it read).
    pub async fn job_holds_roles(&self, tenant: &str, job: &str) -> Result<bool> {
        let (held,): (i64,) = on_pool!(&self.backend, |p| {
            sqlx::query_as(
                "SELECT count(*) FROM (SELECT 1 FROM user_roles ur JOIN users u ON u.id = ur.user_id
                 WHERE u.tenant_id = $1 AND ur.job_id = $2 LIMIT 1) held",
            )
            .bind(tenant)
            .bind(job)
            .fetch_one(p)
            .await?
        });
        Ok(held > 0)
    }
}

async fn names(store: &Store, table: &str, tenant: &str) -> Result<HashSet<String>> {
    let rows: Vec<(String,)> = store
        .json_rows(
            "name",
            &format!("FROM {table} WHERE tenant_id = $1"),
            &[tenant],
        )
        .await?;
    Ok(rows.into_iter().map(|(n,)| n).collect())
}
