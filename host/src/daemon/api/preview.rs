//! `POST /tenants/{tenant}/jobs/{id}/preview`: try a mapper before swapping
//! it. The request body is a candidate mapper `.wasm`; the job runs as a
//! full dry run with it in place of the served mapper of its name, and the
//! answer is the dry-run report (what `usersync sync --json --dry-run
//! --mapper FILE` prints). The candidate is validated like a file in the
//! tenant's plugins folder and never installed.

use std::path::PathBuf;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};

use super::auth::Caller;
use super::jobs::{resolve, JobPath};
use super::{ApiError, AppState};
use crate::sync::SyncRequest;

/// The largest candidate accepted (first-party plugins are 3-7 MB).
pub const MAX_CANDIDATE_BYTES: usize = 64 << 20;

#[utoipa::path(post, path = "/tenants/{tenant}/jobs/{id}/preview", tag = "jobs",
    params(("tenant" = String, Path, description = "Tenant id"), ("id" = String, Path, description = "Job id")),
    request_body(content = Vec<u8>, content_type = "application/wasm", description = "The candidate mapper component"),
    responses(
        (status = 200, description = "What a run with the candidate would change; nothing was changed (the `sync --json` report of a dry run)", body = Object),
        (status = 400, description = "The candidate is not a valid mapper (or not signed as the tenant requires)", body = super::ErrorBody),
        (status = 404, body = super::ErrorBody),
        (status = 422, description = "The dry run failed; `error` says why", body = super::ErrorBody),
        (status = 503, description = "The daemon is shutting down", body = super::ErrorBody)),
    security(("bearer" = [])))]
pub async fn preview(
    State(d): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(path): Path<JobPath>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    // A tenant's token previews only its own jobs (404 for the others).
    let job = resolve(&d, &caller, path.tenant.as_deref(), &path.id)?;
    if d.shutting_down() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the daemon is shutting down and starts no new runs",
        ));
    }
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "send the candidate mapper's .wasm as the request body (Content-Type: application/wasm)",
        ));
    }
    let name = PathBuf::from(format!("(candidate for {})", job.key()));
    let candidate = d
        .host
        .load_candidate(&job.tenant, &name, body.to_vec())
        .await
        .map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
    let req = SyncRequest {
        job: job.id.clone(),
        tenant: Some(job.tenant.clone()),
        ..SyncRequest::default()
    };
    let report = d
        .host
        .sync_with_candidate(&req, candidate)
        .await
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("{e:#}")))?;
    let value = serde_json::to_value(&report)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Json(value))
}
