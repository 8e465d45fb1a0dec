//! `/runs` and `/audit`: run records and the audit trail, filtered and paged.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::jobs::{filter_tenant, resolve, JobPath};
use super::{ApiError, ApiQuery, ApiResult, AppState, Page};
use crate::daemon::Daemon;
use crate::engine::{RunMode, RunOutcome};
use crate::store::{AuditFilter, AuditRow, Phases, RunMatch, RunRecord, MIN_RUN_PREFIX};

/// A run record, with its counts, errors and warnings as JSON.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunView {
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
    #[schema(value_type = Object)]
    pub counts: Value,
    /// Per-record errors.
    #[schema(value_type = Vec<Object>)]
    pub errors: Value,
    #[schema(value_type = Vec<String>)]
    pub warnings: Value,
    /// `name version` of the connector this run used.
    pub connector_version: Option<String>,
    /// `name version` of each mapper this run used, comma-separated.
    pub mapper_versions: Option<String>,
    /// The node (`server.node`) that ran it.
    pub node: Option<String>,
    /// Milliseconds per phase: `read_ms` (the connector's read through the
    /// mappers, the store's rows loading alongside), `plan_ms`, and
    /// `apply_ms` (writing, up to the commit) when it applied; `null` for a
    /// run that stopped before it planned.
    #[schema(value_type = Option<Object>)]
    pub phases: Option<Phases>,
}

fn json(text: Option<String>) -> Value {
    text.and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null)
}

impl From<RunRecord> for RunView {
    fn from(r: RunRecord) -> RunView {
        RunView {
            id: r.id,
            tenant_id: r.tenant_id,
            job_id: r.job_id,
            mode: r.mode,
            dry_run: r.dry_run,
            started_at: r.started_at,
            finished_at: r.finished_at,
            duration_ms: r.duration_ms,
            outcome: r.outcome,
            message: r.message,
            counts: r.counts.unwrap_or(Value::Null),
            errors: r.errors.unwrap_or(Value::Null),
            warnings: r.warnings.unwrap_or(Value::Null),
            connector_version: r.connector_version,
            mapper_versions: r.mapper_versions,
            node: r.node,
            phases: r.phases,
        }
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunsParams {
    /// Only this tenant's runs.
    pub tenant: Option<String>,
    /// Only this job's runs (with `tenant` when several tenants have the id).
    pub job: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    pub limit: Option<usize>,
    pub offset: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RunsPage {
    /// Newest first.
    pub runs: Vec<RunView>,
    /// Pass as `offset` for the next page; absent on the last page.
    pub next_offset: Option<usize>,
}

#[utoipa::path(get, path = "/runs", tag = "runs", params(RunsParams),
    responses(
        (status = 200, body = RunsPage),
        (status = 400, body = super::ErrorBody),
        (status = 409, description = "`job` alone names a job id several tenants have: add `tenant`", body = super::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(d): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(p): ApiQuery<RunsParams>,
) -> ApiResult<RunsPage> {
    let tenant = filter_tenant(&d, &caller, p.tenant, p.job.as_deref())?;
    page_of_runs(&d, tenant.as_deref(), p.job.as_deref(), p.limit, p.offset).await
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page size, 1 to 1000 (default 100).
    pub limit: Option<usize>,
    pub offset: Option<usize>,
}

#[utoipa::path(get, path = "/tenants/{tenant}/jobs/{id}/runs", tag = "runs",
    params(("tenant" = String, Path, description = "Tenant id"), ("id" = String, Path, description = "Job id"), PageParams),
    responses((status = 200, body = RunsPage), (status = 400, body = super::ErrorBody), (status = 404, body = super::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_job(
    State(d): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(path): Path<JobPath>,
    ApiQuery(p): ApiQuery<PageParams>,
) -> ApiResult<RunsPage> {
    let key = resolve(&d, &caller, path.tenant.as_deref(), &path.id)?.key();
    page_of_runs(&d, Some(&key.tenant), Some(&key.job), p.limit, p.offset).await
}

async fn page_of_runs(
    d: &Daemon,
    tenant: Option<&str>,
    job: Option<&str>,
    limit: Option<usize>,
    offset: Option<usize>,
) -> ApiResult<RunsPage> {
    let page = Page::new(limit, offset)?;
    let rows = d
        .host
        .store
        .runs(tenant, job, (page.offset + page.limit + 1) as i64)
        .await?;
    let (rows, next_offset) = page.slice(rows);
    Ok(Json(RunsPage {
        runs: rows.into_iter().map(RunView::from).collect(),
        next_offset,
    }))
}

#[utoipa::path(get, path = "/runs/{id}", tag = "runs",
    params(("id" = String, Path, description = "Run id, or a prefix of at least 8 characters that only one run has")),
    responses(
        (status = 200, body = RunView),
        (status = 404, body = super::ErrorBody),
        (status = 409, description = "The prefix matches several runs", body = super::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    State(d): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<RunView> {
    match find_visible_run(&d, &caller, &id).await? {
        RunMatch::One(r) => Ok(Json((*r).into())),
        RunMatch::None => Err(ApiError::not_found(format!(
            "no run {id:?}; give its id or at least its first {MIN_RUN_PREFIX} characters (GET /runs lists them)"
        ))),
        RunMatch::Several(ids) => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "run id prefix {id:?} matches several runs ({}); give more of the id",
                ids.join(", ")
            ),
        )),
    }
}

/// The run an id or prefix names, among the runs the caller may see: a
/// tenant token finds neither another tenant's run nor, in a prefix
/// match, its id (a 409 listing it would confirm it exists).
async fn find_visible_run(d: &Daemon, caller: &Caller, id: &str) -> anyhow::Result<RunMatch> {
    let found = d.host.store.find_run(id).await?;
    if *caller == Caller::Operator {
        return Ok(found);
    }
    Ok(match found {
        RunMatch::One(r) if caller.sees(&r.tenant_id) => RunMatch::One(r),
        RunMatch::One(_) | RunMatch::None => RunMatch::None,
        RunMatch::Several(ids) => {
            let mut mine = Vec::new();
            for id in ids {
                if let Some(r) = d.host.store.run(&id).await? {
                    if caller.sees(&r.tenant_id) {
                        mine.push(r);
                    }
                }
            }
            match mine.len() {
                0 => RunMatch::None,
                1 => RunMatch::One(Box::new(mine.remove(0))),
                _ => RunMatch::Several(mine.into_iter().map(|r| r.id).collect()),
            }
        }
    })
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    pub tenant: Option<String>,
    /// Only this job's events (with `tenant` when several tenants have the id).
    pub job: Option<String>,
    /// Username, group name or source id.
    pub subject: Option<String>,
    /// `user`, `group`, `membership`, `role` or `license`.
    pub kind: Option<String>,
    /// Events of runs started at or after this RFC 3339 time.
    pub since: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    pub limit: Option<usize>,
    pub offset: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEvent {
    /// The stored event's id. A user created by a run is stored with the
    /// groups it joined in one event, listed as two: its `membership:join`
    /// shares its `user:create`'s id.
    pub id: i64,
    pub tenant_id: String,
    pub job_id: Option<String>,
    pub run_id: Option<String>,
    pub at: String,
    /// `user`, `group`, `membership`, `role` or `license`.
    pub category: String,
    pub action: String,
    pub subject: String,
    pub subject_source_id: Option<String>,
    /// `[{field, old, new}]` or details of the change.
    #[schema(value_type = Object)]
    pub changes: Value,
    /// The connector and mapper versions of the run.
    #[schema(value_type = Object)]
    pub plugin_versions: Value,
}

impl From<AuditRow> for AuditEvent {
    fn from(a: AuditRow) -> AuditEvent {
        AuditEvent {
            id: a.id,
            tenant_id: a.tenant_id,
            job_id: a.job_id,
            run_id: a.run_id,
            at: a.at,
            category: a.category,
            action: a.action,
            subject: a.subject,
            subject_source_id: a.subject_source_id,
            changes: json(a.changes),
            plugin_versions: json(a.plugin_versions),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    /// Newest first.
    pub events: Vec<AuditEvent>,
    pub next_offset: Option<usize>,
}

const KINDS: [&str; 5] = ["user", "group", "membership", "role", "license"];

#[utoipa::path(get, path = "/audit", tag = "runs", params(AuditParams),
    responses((status = 200, body = AuditPage), (status = 400, body = super::ErrorBody)),
    security(("bearer" = [])))]
pub async fn audit(
    State(d): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(p): ApiQuery<AuditParams>,
) -> ApiResult<AuditPage> {
    let page = Page::new(p.limit, p.offset)?;
    let tenant = filter_tenant(&d, &caller, p.tenant, p.job.as_deref())?;
    if let Some(k) = p.kind.as_deref().filter(|k| !KINDS.contains(k)) {
        return Err(ApiError::bad_request(format!(
            "kind = {k:?}: use one of {}",
            KINDS.join(", ")
        )));
    }
    if let Some(s) = p.since.as_deref() {
        chrono::DateTime::parse_from_rfc3339(s).map_err(|_| {
            ApiError::bad_request(format!(
                "since = {s:?} is not an RFC 3339 time like 2026-11-01T00:00:00Z"
            ))
        })?;
    }
    let rows = d
        .host
        .store
        .audit(&AuditFilter {
            tenant,
            job: p.job,
            subject: p.subject,
            category: p.kind,
            since: p.since,
            limit: (page.offset + page.limit + 1) as i64,
        })
        .await?;
    let (rows, next_offset) = page.slice(rows);
    Ok(Json(AuditPage {
        events: rows.into_iter().map(AuditEvent::from).collect(),
        next_offset,
    }))
}
