//! SQLite reads the job's rows straight off its handle, in one read
//! transaction: stepping rows through rusqlite costs a fraction of building
//! and parsing one JSON array per table (at 100k users and 480k
//! memberships, the JSON cost more than SQLite's own reading).

use std::collections::HashSet;

use rusqlite::{params, Row};

use super::rows::{JobRows, UserRows, LICENSED_ELSEWHERE_SQL, OTHER_OWNERS_SQL, ROLES_SQL};
use super::{
    lean_columns, stored_group, stored_user, user_columns, FieldsLoaded, GroupRow, LeanRow,
    UserRow, USERS_FROM,
};
use crate::engine::{StoredGroup, StoredUser};

/// Which job's rows to read, and how much of each user.
pub(super) struct JobQuery<'a> {
    pub tenant: &'a str,
    pub job: &'a str,
    pub license_kind: Option<&'a str>,
    pub fields: FieldsLoaded,
}

impl JobQuery<'_> {
    /// Every table's rows, as of one moment: the reads share a transaction
    /// (rolled back when dropped, as it wrote nothing).
    pub(super) fn rows(&self, db: &rusqlite::Connection) -> rusqlite::Result<JobRows> {
        let snapshot = db.unchecked_transaction()?;
        let tenant_job = params![self.tenant, self.job];
        let mut rows = JobRows {
            users: self.users(db)?,
            ..JobRows::default()
        };
        rows.owners = db
            .prepare(OTHER_OWNERS_SQL)?
            .query_map(tenant_job, |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        rows.groups = db
            .prepare(
                "SELECT id, source_id, ref_key, name, description, active
                 FROM groups WHERE tenant_id = $1 AND job_id = $2",
            )?
            .query_map(tenant_job, group)?
            .collect::<rusqlite::Result<_>>()?;
        // One primary-key range per group, in key order.
        let mut members = db.prepare("SELECT user_id FROM memberships WHERE group_id = $1")?;
        rows.members = rows
            .groups
            .iter()
            .map(|(id, _)| {
                let users = members
                    .query_map([id], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                Ok((*id, users))
            })
            .collect::<rusqlite::Result<_>>()?;
        rows.roles = db
            .prepare(ROLES_SQL)?
            .query_map(tenant_job, |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        if let Some(kind) = self.license_kind {
            rows.licensed = db
                .prepare(
                    "SELECT la.user_id FROM license_assignments la JOIN users u ON u.id = la.user_id
                     WHERE la.tenant_id = $1 AND la.kind = $2 AND u.job_id = $3",
                )?
                .query_map(params![self.tenant, kind, self.job], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let elsewhere: i64 = db.query_row(
                LICENSED_ELSEWHERE_SQL,
                params![self.tenant, kind, self.job],
                |r| r.get(0),
            )?;
            rows.seats_used_elsewhere = u32::try_from(elsewhere).unwrap_or(u32::MAX);
        }
        rows.job_titles = names(db, "job_titles", self.tenant)?;
        rows.companies = names(db, "companies", self.tenant)?;
        drop(snapshot);
        Ok(rows)
    }

    fn users(&self, db: &rusqlite::Connection) -> rusqlite::Result<UserRows> {
        const WHERE: &str = "WHERE u.tenant_id = $1 AND u.job_id = $2";
        let tenant_job = params![self.tenant, self.job];
        // Sized first (the index alone answers): a user is ~400 bytes, and
        // growing a vector of 100k of them copied 40 MB several times.
        let count: usize = db.query_row(
            &format!("SELECT count(*) FROM users u {WHERE}"),
            tenant_job,
            |r| r.get(0),
        )?;
        let mut users = UserRows::with_capacity(count);
        let (sql, row): (_, UserOfRow) = match self.fields {
            FieldsLoaded::All => (
                format!("SELECT {} {USERS_FROM} {WHERE}", user_columns()),
                user,
            ),
            FieldsLoaded::Later => (
                format!("SELECT {} FROM users u {WHERE}", lean_columns()),
                lean_user,
            ),
        };
        for u in db.prepare(&sql)?.query_map(tenant_job, row)? {
            users.push(u?);
        }
        Ok(users)
    }
}

/// A user and its row id, from a row.
type UserOfRow = fn(&Row<'_>) -> rusqlite::Result<(i64, StoredUser)>;

/// A row of [`user_columns`].
fn user(r: &Row<'_>) -> rusqlite::Result<(i64, StoredUser)> {
    let row = UserRow(
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
        r.get(11)?,
        r.get(12)?,
        r.get(13)?,
        r.get(14)?,
        r.get(15)?,
        r.get(16)?,
        r.get(17)?,
        r.get(18)?,
    );
    Ok((row.0, stored_user(row)))
}

/// A row of [`lean_columns`].
fn lean_user(r: &Row<'_>) -> rusqlite::Result<(i64, StoredUser)> {
    let row = LeanRow(
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    );
    Ok((row.0, super::lean_user(row)))
}

/// A row of the groups' query, as the JSON load reads it too.
fn group(r: &Row<'_>) -> rusqlite::Result<(i64, StoredGroup)> {
    GroupRow::try_from(r).map(stored_group)
}

fn names(
    db: &rusqlite::Connection,
    table: &str,
    tenant: &str,
) -> rusqlite::Result<HashSet<String>> {
    db.prepare(&format!("SELECT name FROM {table} WHERE tenant_id = $1"))?
        .query_map([tenant], |r| r.get(0))?
        .collect()
}
