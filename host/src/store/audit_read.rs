//! Reading the audit trail: filtered by tenant, job, subject (under any
//! name it bore), category and time, newest first. Rows are stored as
//! `audit_write.rs` writes them and read back through `audit_shape.rs`.

use anyhow::Result;
use serde::Serialize;

use super::db::{on_pool, Backend};
use super::Store;

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub tenant_id: String,
    pub job_id: Option<String>,
    pub run_id: Option<String>,
    pub at: String,
    pub category: String,
    pub action: String,
    pub subject: String,
    pub subject_source_id: Option<String>,
    /// `[{field, old, new}]`: JSON text in the store, real JSON when serialized.
    #[serde(serialize_with = "super::json_text")]
    pub changes: Option<String>,
    #[serde(serialize_with = "super::json_text")]
    pub plugin_versions: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub tenant: Option<String>,
    pub job: Option<String>,
    pub subject: Option<String>,
    pub category: Option<String>,
    pub since: Option<String>,
    pub limit: i64,
}

impl Store {
    /// Audit events, newest first. `subject` matches a name, a source id, or
    /// any name the subject had: an old username finds the rename and what
    /// came after it (the events of every source id that ever bore it).
    pub async fn audit(&self, f: &AuditFilter) -> Result<Vec<AuditRow>> {
        // Whether a rename event names ?3 as old or new: JSON differs by backend.
        let renamed = |field: &str| {
            match &self.backend {
            Backend::Sqlite(_) => format!(
                "(n.changes LIKE '%\"{field}\"%' AND json_valid(n.changes)
                  AND EXISTS (SELECT 1 FROM json_each(n.changes) c WHERE json_extract(c.value, '$.field') = '{field}'
                      AND (json_extract(c.value, '$.old') = $3 OR json_extract(c.value, '$.new') = $3)))"
            ),
            Backend::Postgres(_) => format!(
                "(n.changes LIKE '[%\"{field}\"%'
                  AND EXISTS (SELECT 1 FROM json_array_elements(n.changes::json) c WHERE c->>'field' = '{field}'
                      AND (c->>'old' = $3 OR c->>'new' = $3)))"
            ),
        }
        };
        let sql = format!(
            "SELECT a.id, r.tenant_id, r.job_id, a.run_id, r.started_at AS at, a.category, a.action, a.subject,
                    a.subject_source_id, a.changes, r.plugin_versions
             FROM audit_events a JOIN runs r ON r.id = a.run_id
             WHERE ($1 IS NULL OR r.tenant_id = $1) AND ($2 IS NULL OR r.job_id = $2)
             AND ($3 IS NULL OR a.subject = $3 OR a.subject_source_id = $3
                  OR (a.category <> 'group' AND a.subject_source_id IN (SELECT n.subject_source_id FROM audit_events n
                      WHERE n.category = 'user' AND n.subject_source_id <> '' AND (n.subject = $3 OR {users})))
                  OR (a.category = 'group' AND a.subject_source_id IN (SELECT n.subject_source_id FROM audit_events n
                      WHERE n.category = 'group' AND n.subject_source_id <> '' AND (n.subject = $3 OR {groups}))))
             AND ($4 IS NULL OR a.category = $4
                  OR ($4 = 'membership' AND a.category = 'user' AND a.action = 'create' AND a.changes LIKE '{joins}%'))
             AND ($5 IS NULL OR r.started_at >= $5) ORDER BY a.id DESC LIMIT $6",
            users = renamed("username"),
            groups = renamed("name"),
            joins = super::audit_shape::JOINS_PREFIX,
        );
        let rows: Vec<AuditRow> = on_pool!(&self.backend, |p| {
            sqlx::query_as(&sql)
                .bind(&f.tenant)
                .bind(&f.job)
                .bind(&f.subject)
                .bind(&f.category)
                .bind(&f.since)
                .bind(f.limit)
                .fetch_all(p)
                .await?
        });
        // A created user's stored row reads as its create and its join.
        let rows = rows
            .into_iter()
            .flat_map(super::audit_shape::as_read)
            .filter(|row| f.category.as_ref().is_none_or(|c| *c == row.category));
        Ok(match usize::try_from(f.limit) {
            Ok(limit) => rows.take(limit).collect(),
            Err(_) => rows.collect(),
        })
    }
}
