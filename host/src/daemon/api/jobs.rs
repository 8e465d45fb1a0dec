//! `/jobs`: status, next and last run, manual runs, connection tests.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiError, ApiQuery, ApiResult, AppState};
use crate::config::JobConfig;
use crate::daemon::jobs::{LastRun, NextRun, RunOptions, Running, StartError, Trigger};
use crate::daemon::Daemon;
use crate::model::CheckStatus;

/// A job as the API shows it (never its source, mapping or secrets).
#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    pub id: String,
    pub tenant: String,
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
        let state = daemon.job_state(&job.id);
        JobView {
            id: job.id.clone(),
            tenant: job.tenant.clone(),
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

#[utoipa::path(get, path = "/jobs", tag = "jobs",
    responses((status = 200, description = "Every job in the config", body = [JobView])),
    security(("bearer" = [])))]
pub async fn list(State(d): State<AppState>) -> ApiResult<Vec<JobView>> {
    let config = d.host.config();
    Ok(Json(
        config.jobs.iter().map(|j| JobView::new(&d, j)).collect(),
    ))
}

fn job(d: &Daemon, id: &str) -> Result<JobConfig, ApiError> {
    d.host
        .config()
        .job(id)
        .cloned()
        .map_err(|e| ApiError::not_found(format!("{e:#}")))
}

#[utoipa::path(get, path = "/jobs/{id}", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    responses((status = 200, body = JobView), (status = 404, body = super::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(State(d): State<AppState>, Path(id): Path<String>) -> ApiResult<JobView> {
    let job = job(&d, &id)?;
    Ok(Json(JobView::new(&d, &job)))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunParams {
    /// Show what would change, change nothing.
    dry_run: Option<bool>,
    /// Read everything even if an incremental read would do.
    full: Option<bool>,
    /// Apply even if more users than the threshold would be deactivated.
    confirm_deletions: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RunStarted {
    pub job: String,
    pub run_id: String,
    pub trigger: Trigger,
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// Follow the run here (`GET /runs/{id}`) or at `GET /jobs/{id}`.
    pub run_url: String,
}

#[utoipa::path(post, path = "/jobs/{id}/run", tag = "jobs",
    params(("id" = String, Path, description = "Job id"), RunParams),
    responses(
        (status = 202, description = "The run started in the background", body = RunStarted),
        (status = 404, body = super::ErrorBody),
        (status = 409, description = "The job is already running (never two runs at once)", body = super::ErrorBody),
        (status = 503, description = "The daemon is shutting down", body = super::ErrorBody)),
    security(("bearer" = [])))]
pub async fn run(
    State(d): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(p): ApiQuery<RunParams>,
) -> Result<(StatusCode, Json<RunStarted>), ApiError> {
    let opts = RunOptions {
        dry_run: p.dry_run.unwrap_or(false),
        full: p.full.unwrap_or(false),
        confirm_deletions: p.confirm_deletions.unwrap_or(false),
    };
    match d.start_run(&id, Trigger::Api, opts) {
        Ok(r) => Ok((
            StatusCode::ACCEPTED,
            Json(RunStarted {
                job: id,
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
                    "job {id:?} is already running (run {}, started {} by {}); try again when it has finished",
                    r.run_id, r.started_at, r.trigger
                ),
            );
            e.body.run_id = Some(r.run_id);
            Err(e)
        }
        Err(StartError::ShuttingDown) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the daemon is shutting down and starts no new runs",
        )),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckView {
    pub stage: String,
    /// `ok`, `failed` or `skipped`.
    pub status: String,
    pub detail: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionTest {
    pub job: String,
    /// No check failed.
    pub ok: bool,
    pub checks: Vec<CheckView>,
}

#[utoipa::path(post, path = "/jobs/{id}/test-connection", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "The connector's checks (see `ok`)", body = ConnectionTest),
        (status = 404, body = super::ErrorBody),
        (status = 422, description = "The connector could not be run", body = super::ErrorBody)),
    security(("bearer" = [])))]
pub async fn test_connection(
    State(d): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<ConnectionTest> {
    job(&d, &id)?;
    let checks = d
        .host
        .test_connection(&id)
        .await
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("{e:#}")))?;
    Ok(Json(ConnectionTest {
        job: id,
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
