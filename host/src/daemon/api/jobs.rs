//! `/jobs` and `/tenants/{tenant}/jobs`: status, next and last run, manual
//! runs, connection tests. A job is identified by (tenant, job id); the
//! short `/jobs/{id}` paths answer only while no other tenant uses the id.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::{ApiError, ApiQuery, ApiResult, AppState};
use crate::config::{JobConfig, JobKey};
use crate::daemon::jobs::{LastRun, NextRun, RunOptions, Running, StartError, Trigger};
use crate::daemon::Daemon;
use crate::model::CheckStatus;

/// A job as the API shows it (never its source, mapping or secrets).
#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    pub id: String,
    pub tenant: String,
    /// This job's own path in the API: `/tenants/{tenant}/jobs/{id}`.
    pub path: String,
    pub connector: String,
    pub mappers: Vec<String>,
    /// Cron expression (local time), if scheduled by cron.
    pub schedule: Option<String>,
    pub interval_seconds: Option<u64>,
    /// `running` or `idle`.
    pub status: String,
    pub running: Option<Running>,
    pub next_run: Option<NextRun>,
    pub last_run: Option<LastRun>,
    /// Failed runs in a row; retries stop after `retry_attempts`.
    pub consecutive_failures: u32,
    pub retry_attempts: u32,
}

impl JobView {
    fn new(daemon: &Daemon, job: &JobConfig) -> JobView {
        let state = daemon.job_state(&job.key());
        JobView {
            id: job.id.clone(),
            tenant: job.tenant.clone(),
            path: job_path(&job.key()),
            connector: job.connector.clone(),
            mappers: job.mappers.clone(),
            schedule: job.schedule.clone(),
            interval_seconds: job.interval_seconds,
            status: if state.running.is_some() {
                "running"
            } else {
                "idle"
            }
            .into(),
            running: state.running,
            next_run: state.next,
            last_run: state.last,
            consecutive_failures: state.failures,
            retry_attempts: job.retry.attempts,
        }
    }
}

/// `/tenants/{tenant}/jobs/{id}`, with both parts percent-encoded.
pub fn job_path(key: &JobKey) -> String {
    let mut url = reqwest::Url::parse("http://localhost/").expect("a valid URL");
    url.path_segments_mut()
        .expect("an http URL has a path")
        .extend(["tenants", &key.tenant, "jobs", &key.job]);
    url.path().to_string()
}

#[utoipa::path(get, path = "/jobs", tag = "jobs",
    responses((status = 200, description = "Every job in the config (a tenant token: its tenant's), each with its tenant", body = [JobView])),
    security(("bearer" = [])))]
pub async fn list(
    State(d): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Vec<JobView>> {
    let config = d.host.config();
    Ok(Json(
        config
            .jobs
            .iter()
            .filter(|j| caller.sees(&j.tenant))
            .map(|j| JobView::new(&d, j))
            .collect(),
    ))
}

/// The answer to a tenant token naming another tenant: the same whether
/// that tenant exists or not, so it confirms nothing.
pub fn hidden_tenant(tenant: &str) -> ApiError {
    ApiError::not_found(format!(
        "no tenant {tenant:?} for this token (a tenant token sees only its own tenant)"
    ))
}

#[utoipa::path(get, path = "/tenants/{tenant}/jobs", tag = "jobs",
    params(("tenant" = String, Path, description = "Tenant id")),
    responses((status = 200, description = "The tenant's jobs", body = [JobView]), (status = 404, body = super::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_tenant(
    State(d): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(tenant): Path<String>,
) -> ApiResult<Vec<JobView>> {
    if !caller.sees(&tenant) {
        return Err(hidden_tenant(&tenant));
    }
    let config = d.host.config();
    if config.tenant(&tenant).is_none() {
        let known: Vec<_> = config.tenants.iter().map(|t| t.id.as_str()).collect();
        return Err(ApiError::not_found(format!(
            "no tenant {tenant:?} in the config (tenants: {})",
            known.join(", ")
        )));
    }
    Ok(Json(
        config
            .jobs
            .iter()
            .filter(|j| j.tenant == tenant)
            .map(|j| JobView::new(&d, j))
            .collect(),
    ))
}

/// A job's path parameters: `tenant` is absent on the short `/jobs/{id}`
/// paths.
#[derive(Debug, Deserialize)]
pub struct JobPath {
    pub tenant: Option<String>,
    pub id: String,
}

/// The job a path names: 404 if none (or if it is not the caller's), 409
/// naming the tenants if a bare id is used by several.
pub fn resolve(
    d: &Daemon,
    caller: &Caller,
    tenant: Option<&str>,
    id: &str,
) -> Result<JobConfig, ApiError> {
    if let Caller::Tenant(own) = caller {
        return resolve_own(d, own, tenant, id);
    }
    let config = d.host.config();
    let tenants: Vec<&str> = config
        .jobs
        .iter()
        .filter(|j| j.id == id)
        .map(|j| j.tenant.as_str())
        .collect();
    if tenant.is_none() && tenants.len() > 1 {
        let mut e = ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "job `{id}` exists in tenants {}: use /tenants/{{tenant}}/jobs/{id} (or pass tenant)",
                tenants.join(", ")
            ),
        );
        e.body.tenants = Some(tenants.iter().map(|t| t.to_string()).collect());
        return Err(e);
    }
    config
        .job(tenant, id)
        .cloned()
        .map_err(|e| ApiError::not_found(format!("{e:#}")))
}

/// For a tenant token: the job `id` of its own tenant. Another tenant's
/// name gets the same 404 whether it exists or not, and the message lists
/// only the caller's own jobs.
fn resolve_own(
    d: &Daemon,
    own: &str,
    tenant: Option<&str>,
    id: &str,
) -> Result<JobConfig, ApiError> {
    if let Some(t) = tenant.filter(|t| *t != own) {
        return Err(hidden_tenant(t));
    }
    let config = d.host.config();
    if let Some(job) = config.job_by_key(&JobKey::new(own, id)) {
        return Ok(job.clone());
    }
    let mine: Vec<&str> = config
        .jobs
        .iter()
        .filter(|j| j.tenant == own)
        .map(|j| j.id.as_str())
        .collect();
    Err(ApiError::not_found(format!(
        "no job {id:?} in tenant {own:?} (its jobs: {})",
        mine.join(", ")
    )))
}

/// The tenant to filter a listing by: the one given, or for a `job` filter
/// alone, that job's tenant (409 if several tenants use the id). An id no
/// longer in the config (old runs) filters by id only. A tenant token
/// always filters by its own tenant, and naming another one is a 404.
pub fn filter_tenant(
    d: &Daemon,
    caller: &Caller,
    tenant: Option<String>,
    job: Option<&str>,
) -> Result<Option<String>, ApiError> {
    if let Caller::Tenant(own) = caller {
        return match tenant {
            Some(t) if t != *own => Err(hidden_tenant(&t)),
            _ => Ok(Some(own.clone())),
        };
    }
    match (tenant, job) {
        (None, Some(job)) if d.host.config().jobs.iter().any(|j| j.id == job) => {
            Ok(Some(resolve(d, caller, None, job)?.tenant))
        }
        (tenant, _) => Ok(tenant),
    }
}

#[utoipa::path(get, path = "/tenants/{tenant}/jobs/{id}", tag = "jobs",
    params(("tenant" = String, Path, description = "Tenant id"), ("id" = String, Path, description = "Job id")),
    responses((status = 200, body = JobView), (status = 404, body = super::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    State(d): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(p): Path<JobPath>,
) -> ApiResult<JobView> {
    let job = resolve(&d, &caller, p.tenant.as_deref(), &p.id)?;
    Ok(Json(JobView::new(&d, &job)))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunParams {
    /// Show what would change, change nothing.
    pub dry_run: Option<bool>,
    /// Read everything even if an incremental read would do.
    pub full: Option<bool>,
    /// Apply even if more users than the threshold would be deactivated.
    pub confirm_deletions: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RunStarted {
    pub tenant: String,
    pub job: String,
    pub run_id: String,
    pub trigger: Trigger,
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// Follow the run here (`GET /runs/{id}`) or at `job_url`.
    pub run_url: String,
    pub job_url: String,
}

#[utoipa::path(post, path = "/tenants/{tenant}/jobs/{id}/run", tag = "jobs",
    params(("tenant" = String, Path, description = "Tenant id"), ("id" = String, Path, description = "Job id"), RunParams),
    responses(
        (status = 202, description = "The run started in the background", body = RunStarted),
        (status = 404, body = super::ErrorBody),
        (status = 409, description = "The job is already running, on this node or (by its lease) on another node sharing the store (never two runs at once), or (on `/jobs/{id}/run`) several tenants have the id", body = super::ErrorBody),
        (status = 429, description = "A tenant quota (`max_concurrent_runs`, `runs_per_hour`) refused the run; `run_id` is its `stopped_by_quota` record", body = super::ErrorBody),
        (status = 503, description = "The daemon is shutting down, or the store's database is unreachable", body = super::ErrorBody)),
    security(("bearer" = [])))]
pub async fn run(
    State(d): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(path): Path<JobPath>,
    ApiQuery(p): ApiQuery<RunParams>,
) -> Result<(StatusCode, Json<RunStarted>), ApiError> {
    let key = resolve(&d, &caller, path.tenant.as_deref(), &path.id)?.key();
    let opts = RunOptions {
        dry_run: p.dry_run.unwrap_or(false),
        full: p.full.unwrap_or(false),
        confirm_deletions: p.confirm_deletions.unwrap_or(false),
        slot: None,
    };
    match d.start_run(&key, Trigger::Api, opts).await {
        Ok(r) => Ok((
            StatusCode::ACCEPTED,
            Json(RunStarted {
                job_url: job_path(&key),
                tenant: key.tenant,
                job: key.job,
                run_url: format!("/runs/{}", r.run_id),
                run_id: r.run_id,
                trigger: r.trigger,
                started_at: r.started_at,
            }),
        )),
        Err(StartError::UnknownJob(e)) => Err(ApiError::not_found(e)),
        Err(StartError::AlreadyRunning(r)) => {
            let mut e = ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "job {key} is already running (run {}, started {} by {}); try again when it has finished",
                    r.run_id, r.started_at, r.trigger
                ),
            );
            e.body.run_id = Some(r.run_id);
            Err(e)
        }
        Err(StartError::Quota(q)) => {
            let mut e = ApiError::new(StatusCode::TOO_MANY_REQUESTS, q.message);
            e.body.run_id = Some(q.run_id);
            Err(e)
        }
        Err(StartError::ShuttingDown) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the daemon is shutting down and starts no new runs",
        )),
        Err(StartError::HeldElsewhere(h)) => {
            let run = h.run_id.as_deref().unwrap_or("-");
            let mut e = ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "job {key} is already running on node {} (run {run}): it holds the job's lease; try again when it has finished",
                    h.node
                ),
            );
            e.body.run_id = h.run_id;
            Err(e)
        }
        Err(StartError::StoreDown(why)) => Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, why)),
        Err(StartError::SlotDone) => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("job {key}: this schedule slot already ran on another node"),
        )),
        // Only scheduled runs wait for a place; an API run is refused with a record.
        Err(StartError::WaitingForQuota) => Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("job {key}: its tenant is at its max_concurrent_runs quota; try again when a run has finished"),
        )),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckView {
    pub stage: String,
    /// `ok`, `warning` (works, but a sync may not do what is wanted), `failed` or `skipped`.
    pub status: String,
    pub detail: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionTest {
    pub tenant: String,
    pub job: String,
    /// No check failed.
    pub ok: bool,
    pub checks: Vec<CheckView>,
}

#[utoipa::path(post, path = "/tenants/{tenant}/jobs/{id}/test-connection", tag = "jobs",
    params(("tenant" = String, Path, description = "Tenant id"), ("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "The connector's checks (see `ok`)", body = ConnectionTest),
        (status = 404, body = super::ErrorBody),
        (status = 422, description = "The connector could not be run", body = super::ErrorBody)),
    security(("bearer" = [])))]
pub async fn test_connection(
    State(d): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(path): Path<JobPath>,
) -> ApiResult<ConnectionTest> {
    let key = resolve(&d, &caller, path.tenant.as_deref(), &path.id)?.key();
    let checks = d
        .host
        .test_connection(Some(&key.tenant), &key.job)
        .await
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("{e:#}")))?;
    Ok(Json(ConnectionTest {
        tenant: key.tenant,
        job: key.job,
        ok: checks.iter().all(|c| c.status != CheckStatus::Failed),
        checks: checks
            .into_iter()
            .map(|c| CheckView {
                status: serde_json::to_value(c.status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                stage: c.stage,
                detail: c.detail,
            })
            .collect(),
    }))
}

// The short paths, documented for the OpenAPI document; `get`, `run` and
// `test_connection` serve them.

#[utoipa::path(get, path = "/jobs/{id}", tag = "jobs",
    params(("id" = String, Path, description = "Job id, when only one tenant has it")),
    responses(
        (status = 200, body = JobView),
        (status = 404, body = super::ErrorBody),
        (status = 409, description = "Several tenants have a job with this id (`tenants` names them): use /tenants/{tenant}/jobs/{id}", body = super::ErrorBody)),
    security(("bearer" = [])))]
#[allow(dead_code)]
pub fn get_short() {}

#[utoipa::path(post, path = "/jobs/{id}/run", tag = "jobs",
    params(("id" = String, Path, description = "Job id, when only one tenant has it"), RunParams),
    responses(
        (status = 202, description = "The run started in the background", body = RunStarted),
        (status = 404, body = super::ErrorBody),
        (status = 409, description = "The job is already running, or several tenants have a job with this id (`tenants` names them)", body = super::ErrorBody),
        (status = 429, description = "A tenant quota refused the run; `run_id` is its `stopped_by_quota` record", body = super::ErrorBody),
        (status = 503, description = "The daemon is shutting down", body = super::ErrorBody)),
    security(("bearer" = [])))]
#[allow(dead_code)]
pub fn run_short() {}

#[utoipa::path(post, path = "/jobs/{id}/test-connection", tag = "jobs",
    params(("id" = String, Path, description = "Job id, when only one tenant has it")),
    responses(
        (status = 200, description = "The connector's checks (see `ok`)", body = ConnectionTest),
        (status = 404, body = super::ErrorBody),
        (status = 409, description = "Several tenants have a job with this id (`tenants` names them)", body = super::ErrorBody),
        (status = 422, description = "The connector could not be run", body = super::ErrorBody)),
    security(("bearer" = [])))]
#[allow(dead_code)]
pub fn test_connection_short() {}
