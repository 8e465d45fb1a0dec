//! Run records: started, heartbeated, finished, interrupted, listed and found.

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::Value;

use super::db::{on_pool, on_tx, Tx};
use super::owner::{Liveness, Owner, HEARTBEAT_STALE};
use super::{now, Phases, Store};
use crate::engine::{Plan, RunMode, RunOutcome, Stop};

/// One run as the store, the CLI (`--json`) and the API show it: counts,
/// errors and warnings are JSON values, not JSON text.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    pub id: String,
    pub tenant_id: String,
    pub job_id: String,
    pub mode: RunMode,
    pub dry_run: bool,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub duration_ms: Option<i64>,
    pub outcome: RunOutcome,
    pub message: Option<String>,
    /// Changes per kind (`created`, `updated`, ...).
    pub counts: Option<Value>,
    /// Per-record errors: `[{record, field, message}]`.
    pub errors: Option<Value>,
    /// `["..."]`
    pub warnings: Option<Value>,
    pub connector_version: Option<String>,
    pub mapper_versions: Option<String>,
    /// The node (`server.node`) that ran it.
    pub node: Option<String>,
    /// How long its phases took (`None` when it stopped before planning).
    pub phases: Option<Phases>,
}

impl RunRecord {
    /// The outcome, message, counts, errors and warnings of the run that
    /// planned `plan`.
    pub fn conclude(&mut self, plan: &Plan) {
        self.outcome = plan
            .stop
            .as_ref()
            .map_or(RunOutcome::Succeeded, Stop::outcome);
        self.message = plan.stop.as_ref().map(|s| s.message(&self.job_id));
        self.counts = serde_json::to_value(plan.counts()).ok();
        self.errors = serde_json::to_value(&plan.errors).ok();
        self.warnings = serde_json::to_value(&plan.warnings).ok();
    }

    /// The plugin versions audit events of this run cite.
    pub fn plugin_versions(&self) -> String {
        serde_json::json!({ "connector": self.connector_version, "mappers": self.mapper_versions })
            .to_string()
    }
}

/// A `runs` row as stored: JSON columns as text, mode and outcome as names.
#[derive(sqlx::FromRow)]
struct RunRow {
    id: String,
    tenant_id: String,
    job_id: String,
    mode: String,
    dry_run: bool,
    started_at: String,
    finished_at: Option<String>,
    duration_ms: Option<i64>,
    outcome: String,
    message: Option<String>,
    counts: Option<String>,
    errors: Option<String>,
    warnings: Option<String>,
    connector_version: Option<String>,
    mapper_versions: Option<String>,
    node: Option<String>,
    phases: Option<String>,
}

impl TryFrom<RunRow> for RunRecord {
    type Error = anyhow::Error;

    fn try_from(r: RunRow) -> Result<RunRecord> {
        let json = |col: &str, text: Option<String>| -> Result<Option<Value>> {
            text.map(|t| serde_json::from_str(&t))
                .transpose()
                .with_context(|| format!("run {}: column {col} holds no JSON", r.id))
        };
        Ok(RunRecord {
            mode: r.mode.parse()?,
            outcome: r.outcome.parse()?,
            counts: json("counts", r.counts)?,
            errors: json("errors", r.errors)?,
            warnings: json("warnings", r.warnings)?,
            phases: r
                .phases
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .with_context(|| format!("run {}: column phases holds no phases", r.id))?,
            id: r.id,
            tenant_id: r.tenant_id,
            job_id: r.job_id,
            dry_run: r.dry_run,
            started_at: r.started_at,
            finished_at: r.finished_at,
            duration_ms: r.duration_ms,
            message: r.message,
            connector_version: r.connector_version,
            mapper_versions: r.mapper_versions,
            node: r.node,
        })
    }
}

fn records(rows: Vec<RunRow>) -> Result<Vec<RunRecord>> {
    rows.into_iter().map(RunRecord::try_from).collect()
}

const RUN_COLUMNS: &str = "id, tenant_id, job_id, mode, dry_run, started_at, finished_at, duration_ms, outcome, message, counts, errors, warnings, connector_version, mapper_versions, node, phases";

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

/// A run in progress and who owns it.
#[derive(sqlx::FromRow)]
struct RunningRow {
    id: String,
    owner_host: Option<String>,
    owner_pid: Option<i64>,
    owner_token: Option<String>,
    heartbeat_at: Option<String>,
    /// Whether a job lease still speaks for the run.
    leased: bool,
}

fn json_text(v: &Option<Value>) -> Option<String> {
    v.as_ref().map(Value::to_string)
}

/// Insert `run` as running, owned by this process.
pub(super) async fn write_start(tx: &mut Tx<'_>, run: &RunRecord) -> Result<()> {
    let owner = Owner::current();
    on_tx!(tx, |c| {
        sqlx::query(
            "INSERT INTO runs (id, tenant_id, job_id, mode, dry_run, started_at, outcome, connector_version, mapper_versions, plugin_versions,
                               owner_host, owner_pid, owner_token, heartbeat_at, node)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(&run.id)
        .bind(&run.tenant_id)
        .bind(&run.job_id)
        .bind(run.mode.as_str())
        .bind(run.dry_run)
        .bind(&run.started_at)
        .bind(run.outcome.as_str())
        .bind(&run.connector_version)
        .bind(&run.mapper_versions)
        .bind(run.plugin_versions())
        .bind(&owner.host)
        .bind(i64::from(owner.pid))
        .bind(&owner.token)
        .bind(now())
        .bind(&run.node)
        .execute(&mut *c)
        .await
        .context("cannot record the run's start")?;
    });
    Ok(())
}

/// Write a run's end; in the apply transaction for a run that applied, so
/// its outcome and counts commit with its data or not at all.
pub(super) async fn write_finish(tx: &mut Tx<'_>, run: &RunRecord) -> Result<()> {
    write_end(tx, run, "").await.map(drop)
}

/// Write a run's end (`filter`: more of the `WHERE`); whether a row changed.
async fn write_end(tx: &mut Tx<'_>, run: &RunRecord, filter: &str) -> Result<bool> {
    let sql = format!(
        "UPDATE runs SET finished_at = $1, duration_ms = $2, outcome = $3, message = $4, counts = $5, errors = $6,
         warnings = $7, connector_version = $8, mapper_versions = $9, phases = $10 WHERE id = $11{filter}"
    );
    let changed = on_tx!(tx, |c| {
        sqlx::query(&sql)
            .bind(&run.finished_at)
            .bind(run.duration_ms)
            .bind(run.outcome.as_str())
            .bind(&run.message)
            .bind(json_text(&run.counts))
            .bind(json_text(&run.errors))
            .bind(json_text(&run.warnings))
            .bind(&run.connector_version)
            .bind(&run.mapper_versions)
            .bind(
                run.phases
                    .map(|p| serde_json::to_string(&p).expect("serializable")),
            )
            .bind(&run.id)
            .execute(&mut *c)
            .await
            .context("cannot record the run's end")?
            .rows_affected()
    });
    Ok(changed > 0)
}

impl Store {
    /// Record a run as running, owned by this process.
    pub async fn start_run(&self, run: &RunRecord) -> Result<()> {
        let mut tx = self.backend.begin_deferred().await?;
        write_start(&mut tx, run).await?;
        tx.commit().await
    }

    /// Record the end of a run that did not apply, unless its record says
    /// otherwise already: a commit whose answer the connection lost may
    /// have reached the database, and then its record (written in that
    /// transaction) stands. Whether this wrote the end.
    pub async fn finish_unapplied_run(&self, run: &RunRecord) -> Result<bool> {
        let mut tx = self.backend.begin_deferred().await?;
        let written = write_end(&mut tx, run, " AND outcome = 'running'").await?;
        tx.commit().await?;
        Ok(written)
    }

    pub async fn finish_run(&self, run: &RunRecord) -> Result<()> {
        let mut tx = self.backend.begin_deferred().await?;
        write_finish(&mut tx, run).await?;
        tx.commit().await
    }

    /// Tell other processes this run is still alive.
    pub async fn heartbeat(&self, run_id: &str) -> Result<()> {
        on_pool!(&self.backend, |p| {
            sqlx::query("UPDATE runs SET heartbeat_at = $1 WHERE id = $2 AND outcome = 'running'")
                .bind(now())
                .bind(run_id)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    /// Record `run` (outcome, message, finish time) unless it already has a
    /// final outcome: for a run that stopped without recording one (a panic),
    /// whether or not it got as far as its start record.
    pub async fn fail_unfinished_run(&self, run: &RunRecord) -> Result<()> {
        on_pool!(&self.backend, |p| {
            sqlx::query(
                "INSERT INTO runs (id, tenant_id, job_id, mode, dry_run, started_at, finished_at, duration_ms, outcome, message, plugin_versions, node)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                 ON CONFLICT(id) DO UPDATE SET finished_at = excluded.finished_at, duration_ms = excluded.duration_ms,
                   outcome = excluded.outcome, message = excluded.message
                 WHERE runs.outcome = 'running'",
            )
            .bind(&run.id)
            .bind(&run.tenant_id)
            .bind(&run.job_id)
            .bind(run.mode.as_str())
            .bind(run.dry_run)
            .bind(&run.started_at)
            .bind(&run.finished_at)
            .bind(run.duration_ms)
            .bind(run.outcome.as_str())
            .bind(&run.message)
            .bind(run.plugin_versions())
            .bind(&run.node)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// Mark "running" rows whose owner is provably gone as interrupted: on
    /// this host, a process that no longer exists (or a reused pid); on
    /// another host, a heartbeat older than [`HEARTBEAT_STALE`]. Rows of
    /// live processes, this one included, are left alone. Returns how many
    /// were marked. A run whose job lease it still holds is left to the
    /// node that takes the job over (see `leases.rs`), which names both
    /// nodes; unless that lease lapsed longer than [`HEARTBEAT_STALE`] ago,
    /// or its process is provably gone from this host (a killed CLI sync):
    /// then the lease is let go too, so the next run need not wait for it.
    pub async fn mark_interrupted_runs(&self) -> Result<u64> {
        let sql = format!(
            "SELECT id, owner_host, owner_pid, owner_token, heartbeat_at, NOT ({}) AS leased FROM runs WHERE outcome = 'running'",
            super::leases::unleased_filter(&self.backend, HEARTBEAT_STALE.as_millis() as i64)
        );
        let rows: Vec<RunningRow> = on_pool!(&self.backend, |p| {
            sqlx::query_as(&sql).fetch_all(p).await?
        });
        let me = Owner::current();
        let stale_before = (chrono::Utc::now()
            - chrono::Duration::from_std(HEARTBEAT_STALE).expect("small"))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut marked = 0;
        for RunningRow {
            id,
            owner_host,
            owner_pid,
            owner_token: token,
            heartbeat_at: heartbeat,
            leased,
        } in rows
        {
            let gone = match (owner_host, owner_pid) {
                (Some(host), Some(pid)) => match me.liveness(&host, pid as u32, token.as_deref()) {
                    Liveness::Dead => true,
                    Liveness::Alive => false,
                    Liveness::Unknown => !leased && heartbeat.is_none_or(|h| h < stale_before),
                },
                // Recorded before runs named their owner.
                _ => !leased,
            };
            if !gone {
                continue;
            }
            if leased {
                self.lapse_lease_of(&id).await?;
            }
            marked += on_pool!(&self.backend, |p| {
                sqlx::query(
                    "UPDATE runs SET outcome = 'interrupted', finished_at = $1, message = 'interrupted: the process running it stopped (killed, crashed or its host went down) before the run ended; nothing it had not committed was applied'
                     WHERE id = $2 AND outcome = 'running'",
                )
                .bind(now())
                .bind(&id)
                .execute(p)
                .await?
                .rows_affected()
            });
        }
        if marked > 0 {
            tracing::warn!(
                runs = marked,
                "marked runs of stopped processes as interrupted"
            );
        }
        Ok(marked)
    }

    pub async fn runs(
        &self,
        tenant: Option<&str>,
        job: Option<&str>,
        limit: i64,
    ) -> Result<Vec<RunRecord>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE ($1 IS NULL OR tenant_id = $1) AND ($2 IS NULL OR job_id = $2) ORDER BY started_at DESC LIMIT $3"
        );
        records(on_pool!(&self.backend, |p| {
            sqlx::query_as(&sql)
                .bind(tenant)
                .bind(job)
                .bind(limit)
                .fetch_all(p)
                .await?
        }))
    }

    /// The run with exactly this id.
    pub async fn run(&self, id: &str) -> Result<Option<RunRecord>> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1");
        let row: Option<RunRow> = on_pool!(&self.backend, |p| {
            sqlx::query_as(&sql).bind(id).fetch_optional(p).await?
        });
        row.map(RunRecord::try_from).transpose()
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
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE substr(id, 1, length($1)) = $1 ORDER BY started_at DESC LIMIT 5"
        );
        let mut runs = records(on_pool!(&self.backend, |p| {
            sqlx::query_as(&sql).bind(id).fetch_all(p).await?
        }))?;
        Ok(match runs.len() {
            0 => RunMatch::None,
            1 => RunMatch::One(Box::new(runs.remove(0))),
            _ => RunMatch::Several(runs.into_iter().map(|r| r.id).collect()),
        })
    }
}
