//! Run records and audit events.

use anyhow::Result;
use serde::Serialize;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::{ApplyContext, Store};
use crate::engine::{FieldChange, GroupChange, Plan, UserChange};
use crate::model::TEXT_FIELDS;

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct RunRecord {
    pub id: String,
    pub tenant_id: String,
    pub job_id: String,
    pub mode: String,
    pub dry_run: bool,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub duration_ms: Option<i64>,
    pub outcome: String,
    pub message: Option<String>,
    pub counts: Option<String>,
    pub errors: Option<String>,
    pub warnings: Option<String>,
    pub connector_version: Option<String>,
    pub mapper_versions: Option<String>,
}

impl RunRecord {
    /// The plugin versions audit events of this run cite.
    pub fn plugin_versions(&self) -> String {
        serde_json::json!({ "connector": self.connector_version, "mappers": self.mapper_versions })
            .to_string()
    }
}

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
    pub changes: Option<String>,
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

/// The shortest run-id prefix `find_run` accepts (as `usersync runs` prints).
pub const MIN_RUN_PREFIX: usize = 8;

/// What a run id or prefix matched.
#[derive(Debug)]
pub enum RunMatch {
    None,
    One(Box<RunRecord>),
    /// Several runs start with the prefix (up to five of their ids).
    Several(Vec<String>),
}

impl RunMatch {
    /// The run, or an error a person can act on.
    pub fn into_run(self, id: &str) -> Result<Option<RunRecord>> {
        match self {
            RunMatch::None => Ok(None),
            RunMatch::One(r) => Ok(Some(*r)),
            RunMatch::Several(ids) => anyhow::bail!(
                "run id prefix {id:?} matches several runs ({}); give more of the id",
                ids.join(", ")
            ),
        }
    }
}

impl Store {
    pub async fn start_run(&self, run: &RunRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO runs (id, tenant_id, job_id, mode, dry_run, started_at, outcome, connector_version, mapper_versions, plugin_versions)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&run.id)
        .bind(&run.tenant_id)
        .bind(&run.job_id)
        .bind(&run.mode)
        .bind(run.dry_run)
        .bind(&run.started_at)
        .bind(&run.outcome)
        .bind(&run.connector_version)
        .bind(&run.mapper_versions)
        .bind(run.plugin_versions())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn finish_run(&self, run: &RunRecord) -> Result<()> {
        sqlx::query(
            "UPDATE runs SET finished_at = ?, duration_ms = ?, outcome = ?, message = ?, counts = ?, errors = ?,
             warnings = ?, connector_version = ?, mapper_versions = ? WHERE id = ?",
        )
        .bind(&run.finished_at)
        .bind(run.duration_ms)
        .bind(&run.outcome)
        .bind(&run.message)
        .bind(&run.counts)
        .bind(&run.errors)
        .bind(&run.warnings)
        .bind(&run.connector_version)
        .bind(&run.mapper_versions)
        .bind(&run.id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Runs left "running" by a process that died are marked as such.
    pub async fn mark_interrupted_runs(&self) -> Result<u64> {
        let r = sqlx::query(
            "UPDATE runs SET outcome = 'failed', message = 'interrupted: the process stopped during this run; nothing it had not committed was applied'
             WHERE outcome = 'running'",
        )
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected())
    }

    pub async fn runs(
        &self,
        tenant: Option<&str>,
        job: Option<&str>,
        limit: i64,
    ) -> Result<Vec<RunRecord>> {
        Ok(sqlx::query_as(
            "SELECT id, tenant_id, job_id, mode, dry_run, started_at, finished_at, duration_ms, outcome, message, counts, errors, warnings, connector_version, mapper_versions FROM runs WHERE (?1 IS NULL OR tenant_id = ?1) AND (?2 IS NULL OR job_id = ?2) ORDER BY started_at DESC LIMIT ?3",
        )
        .bind(tenant)
        .bind(job)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The run with exactly this id.
    pub async fn run(&self, id: &str) -> Result<Option<RunRecord>> {
        Ok(sqlx::query_as(
            "SELECT id, tenant_id, job_id, mode, dry_run, started_at, finished_at, duration_ms, outcome, message, counts, errors, warnings, connector_version, mapper_versions FROM runs WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The run with this id, or the only run whose id starts with it (the
    /// short ids `usersync runs` prints). A prefix must be at least
    /// `MIN_RUN_PREFIX` characters and match one run only. The prefix is
    /// compared as text, never as a pattern, so `%` or `_` match themselves.
    pub async fn find_run(&self, id: &str) -> Result<RunMatch> {
        if let Some(run) = self.run(id).await? {
            return Ok(RunMatch::One(Box::new(run)));
        }
        if id.chars().count() < MIN_RUN_PREFIX {
            return Ok(RunMatch::None);
        }
        let mut runs: Vec<RunRecord> = sqlx::query_as(
            "SELECT id, tenant_id, job_id, mode, dry_run, started_at, finished_at, duration_ms, outcome, message, counts, errors, warnings, connector_version, mapper_versions FROM runs WHERE substr(id, 1, length(?1)) = ?1 ORDER BY started_at DESC LIMIT 5",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok(match runs.len() {
            0 => RunMatch::None,
            1 => RunMatch::One(Box::new(runs.remove(0))),
            _ => RunMatch::Several(runs.into_iter().map(|r| r.id).collect()),
        })
    }

    pub async fn audit(&self, f: &AuditFilter) -> Result<Vec<AuditRow>> {
        Ok(sqlx::query_as(
            "SELECT a.id, r.tenant_id, r.job_id, a.run_id, r.started_at AS at, a.category, a.action, a.subject,
                    a.subject_source_id, a.changes, r.plugin_versions
             FROM audit_events a JOIN runs r ON r.id = a.run_id
             WHERE (?1 IS NULL OR r.tenant_id = ?1) AND (?2 IS NULL OR r.job_id = ?2)
             AND (?3 IS NULL OR a.subject = ?3 OR a.subject_source_id = ?3) AND (?4 IS NULL OR a.category = ?4)
             AND (?5 IS NULL OR r.started_at >= ?5) ORDER BY a.id DESC LIMIT ?6",
        )
        .bind(&f.tenant)
        .bind(&f.job)
        .bind(&f.subject)
        .bind(&f.category)
        .bind(&f.since)
        .bind(f.limit)
        .fetch_all(&self.pool)
        .await?)
    }
}

struct Event<'a> {
    category: &'static str,
    action: &'a str,
    subject: &'a str,
    source_id: &'a str,
    changes: Option<String>,
}

fn json(changes: &[FieldChange]) -> Option<String> {
    (!changes.is_empty()).then(|| serde_json::to_string(changes).expect("serializable"))
}

/// Audit rows are written in chunks of this many: one prepared statement,
/// reused, and only one chunk of events in memory at a time.
const AUDIT_CHUNK: usize = 500;

/// Buffers events and inserts them a chunk at a time.
struct AuditWriter<'a> {
    run_id: &'a str,
    events: Vec<Event<'a>>,
    written: usize,
}

impl<'a> AuditWriter<'a> {
    async fn push(&mut self, conn: &mut SqliteConnection, e: Event<'a>) -> Result<()> {
        self.events.push(e);
        if self.events.len() == AUDIT_CHUNK {
            self.flush(conn).await?;
        }
        Ok(())
    }

    async fn flush(&mut self, conn: &mut SqliteConnection) -> Result<()> {
        if self.events.is_empty() {
            return Ok(());
        }
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO audit_events (run_id, category, action, subject, subject_source_id, changes) ",
        );
        q.push_values(&self.events, |mut b, e| {
            b.push_bind(self.run_id)
                .push_bind(e.category)
                .push_bind(e.action)
                .push_bind(e.subject)
                .push_bind(e.source_id)
                .push_bind(e.changes.as_deref());
        });
        q.build().persistent(true).execute(&mut *conn).await?;
        self.written += self.events.len();
        self.events.clear();
        Ok(())
    }
}

/// A JSON string literal.
fn js(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialize")
}

/// One audit event per change in the plan, in the run's transaction.
pub(super) async fn write_audit(
    conn: &mut SqliteConnection,
    plan: &Plan,
    ctx: &ApplyContext,
    now: &str,
) -> Result<()> {
    let _ = now; // the run record carries the time
    let mut w = AuditWriter {
        run_id: &ctx.run_id,
        events: Vec::with_capacity(AUDIT_CHUNK),
        written: 0,
    };
    for u in &plan.users {
        if u.action() == "refresh" {
            continue;
        }
        let changes = match u {
            UserChange::Create {
                fields,
                custom_json,
                disabled,
                ..
            } => {
                let mut c: Vec<FieldChange> = std::iter::once("username")
                    .chain(TEXT_FIELDS)
                    .filter_map(|f| {
                        fields.get(f).map(|v| FieldChange {
                            field: f.into(),
                            old: None,
                            new: Some(v.into()),
                        })
                    })
                    .collect();
                if let Some(j) = custom_json {
                    c.push(FieldChange {
                        field: "custom".into(),
                        old: None,
                        new: Some(j.clone()),
                    });
                }
                if *disabled {
                    c.push(FieldChange {
                        field: "active".into(),
                        old: None,
                        new: Some("false".into()),
                    });
                }
                json(&c)
            }
            UserChange::Deactivate { reason, .. } => Some(format!(
                r#"[{{"field":"active","old":"true","new":"false","reason":"{}"}}]"#,
                reason.as_str()
            )),
            other => json(other.changes()),
        };
        let e = Event {
            category: "user",
            action: u.action(),
            subject: u.username(),
            source_id: u.source_id(),
            changes,
        };
        w.push(conn, e).await?;
    }
    for g in &plan.groups {
        let changes = match g {
            GroupChange::Update { changes, .. } => json(changes),
            _ => None,
        };
        let e = Event {
            category: "group",
            action: g.action(),
            subject: g.name(),
            source_id: g.source_id(),
            changes,
        };
        w.push(conn, e).await?;
    }
    for m in &plan.memberships {
        let e = Event {
            category: "membership",
            action: if m.add { "add" } else { "remove" },
            subject: &m.username,
            source_id: &m.user,
            // keys in sorted order, as serde_json writes an object
            changes: Some(format!(
                r#"{{"group":{},"group_id":{}}}"#,
                js(&m.group_name),
                js(&m.group)
            )),
        };
        w.push(conn, e).await?;
    }
    for r in &plan.roles {
        let e = Event {
            category: "role",
            action: if r.grant { "grant" } else { "revoke" },
            subject: &r.username,
            source_id: &r.user,
            changes: Some(format!(
                r#"{{"kind":{},"role":{}}}"#,
                js(&r.role_kind),
                js(&r.role)
            )),
        };
        w.push(conn, e).await?;
    }
    for l in &plan.licenses {
        let e = Event {
            category: "license",
            action: if l.grant { "grant" } else { "free" },
            subject: &l.username,
            source_id: &l.user,
            changes: Some(format!(r#"{{"kind":{}}}"#, js(&l.kind))),
        };
        w.push(conn, e).await?;
    }
    w.flush(conn).await?;
    tracing::debug!(events = w.written, "audit events written");
    Ok(())
}
