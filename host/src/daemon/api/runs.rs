//! `/runs` and `/audit`: run records and the audit trail, filtered and paged.

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::{ApiError, ApiQuery, ApiResult, AppState, Page};
use crate::store::{AuditFilter, AuditRow, RunRecord};

/// A run record, with its counts, errors and warnings as JSON.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunView {
    pub id: String,
    pub tenant_id: String,
    pub job_id: String,
    /// `full` or `incremental`.
    pub mode: String,
    pub dry_run: bool,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub duration_ms: Option<i64>,
    /// `running`, `succeeded`, `failed`, `cancelled` or `stopped_by_*`.
    pub outcome: String,
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
            counts: json(r.counts),
            errors: json(r.errors),
            warnings: json(r.warnings),
            connector_version: r.connector_version,
            mapper_versions: r.mapper_versions,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunsParams {
    /// Only this job's runs.
    job: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    limit: Option<usize>,
    offset: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RunsPage {
    /// Newest first.
    pub runs: Vec<RunView>,
    /// Pass as `offset` for the next page; absent on the last page.
    pub next_offset: Option<usize>,
}

#[utoipa::path(get, path = "/runs", tag = "runs", params(RunsParams),
    responses((status = 200, body = RunsPage), (status = 400, body = super::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(d): State<AppState>,
    ApiQuery(p): ApiQuery<RunsParams>,
) -> ApiResult<RunsPage> {
    let page = Page::new(p.limit, p.offset)?;
    let rows = d
        .host
        .store
        .runs(p.job.as_deref(), (page.offset + page.limit + 1) as i64)
        .await?;
    let (rows, next_offset) = page.slice(rows);
    Ok(Json(RunsPage {
        runs: rows.into_iter().map(RunView::from).collect(),
        next_offset,
    }))
}

#[utoipa::path(get, path = "/runs/{id}", tag = "runs",
    params(("id" = String, Path, description = "Run id (or a unique prefix)")),
    responses((status = 200, body = RunView), (status = 404, body = super::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(State(d): State<AppState>, Path(id): Path<String>) -> ApiResult<RunView> {
    match d.host.store.run(&id).await? {
        Some(r) => Ok(Json(r.into())),
        None => Err(ApiError::not_found(format!(
            "no run {id:?}; GET /runs lists them"
        ))),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    tenant: Option<String>,
    job: Option<String>,
    /// Username, group name or source id.
    subject: Option<String>,
    /// `user`, `group`, `membership`, `role` or `license`.
    kind: Option<String>,
    /// Events of runs started at or after this RFC 3339 time.
    since: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    limit: Option<usize>,
    offset: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEvent {
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
    ApiQuery(p): ApiQuery<AuditParams>,
) -> ApiResult<AuditPage> {
    let page = Page::new(p.limit, p.offset)?;
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
            tenant: p.tenant,
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
