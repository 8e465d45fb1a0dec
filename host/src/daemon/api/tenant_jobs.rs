//! `PUT` and `DELETE /tenants/{tenant}/jobs/{id}`: jobs made through the
//! API, by the operator or the tenant's own token. The body is a `[[jobs]]`
//! entry as JSON and goes through the config file's checks; its paths must
//! be under the tenant's files and its secrets are sealed before they are
//! stored. Answers show every secret as `"(set)"`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::auth::Caller;
use super::jobs::{hidden_tenant, job_path, JobPath};
use super::tenants::{in_file, unprocessable};
use super::{ApiError, AppState};
use crate::config::managed::{check_job, check_name, confine_paths};
use crate::config::JobKey;
use crate::daemon::Daemon;
use crate::secret::sealed_job;
use crate::store::ManagedJob;

/// A job made through the API, as stored, with its secrets as `"(set)"`.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobDefinition {
    pub tenant: String,
    pub id: String,
    pub path: String,
    /// The job's keys as given (paths made absolute, secrets `"(set)"`).
    #[schema(value_type = Object)]
    pub job: Value,
}

/// The body of `PUT /tenants/{tenant}/jobs/{id}`: the keys of a
/// `[[jobs]]` entry (README "Concepts"); documentation only.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct JobBody {
    /// The connector plugin's name.
    connector: String,
    mappers: Option<Vec<String>>,
    #[schema(value_type = Option<Object>)]
    source: Option<Value>,
    #[schema(value_type = Option<Object>)]
    mapping: Option<Value>,
    /// `input_dir` (and CA files) under the tenant's files.
    #[schema(value_type = Option<Object>)]
    grants: Option<Value>,
    #[schema(value_type = Option<Object>)]
    sync: Option<Value>,
    /// Secret values by name (sealed at rest, shown as "(set)").
    #[schema(value_type = Option<Object>)]
    secrets: Option<Value>,
    #[schema(value_type = Option<Object>)]
    credentials: Option<Value>,
    schedule: Option<String>,
    interval_seconds: Option<u64>,
}

/// The tenant of a job path, visible to the caller and known: 404 alike
/// for another tenant's names and made-up ones.
fn tenant_of(d: &Daemon, caller: &Caller, path: &JobPath) -> Result<String, ApiError> {
    let tenant = path.tenant.clone().unwrap_or_default();
    if !caller.sees(&tenant) {
        return Err(hidden_tenant(&tenant));
    }
    if d.host.config().tenant(&tenant).is_none() {
        return Err(ApiError::not_found(format!(
            "no tenant {tenant:?}; make it with POST /tenants"
        )));
    }
    if d.file_config()
        .job_by_key(&JobKey::new(&tenant, &path.id))
        .is_some()
    {
        return Err(in_file(d, &format!("job {tenant}/{}", path.id)));
    }
    Ok(tenant)
}

#[utoipa::path(put, path = "/tenants/{tenant}/jobs/{id}", tag = "jobs",
    description = "Make or replace a job of this tenant (operator token or the tenant's own). The body holds the keys of a `[[jobs]]` entry as JSON and is checked like the config file; secrets are given as values (never `env:` or `file:`), stored sealed, shown as \"(set)\"; sending \"(set)\" back keeps the stored secret.",
    params(("tenant" = String, Path, description = "Tenant id"), ("id" = String, Path, description = "Job id")),
    request_body(content = JobBody, content_type = "application/json"),
    responses((status = 200, description = "Replaced", body = JobDefinition), (status = 201, description = "Made", body = JobDefinition),
        (status = 404, body = super::ErrorBody), (status = 409, description = "Defined in the config file", body = super::ErrorBody),
        (status = 422, description = "Refused: the message names the key", body = super::ErrorBody)),
    security(("bearer" = [])))]
pub async fn put(
    State(d): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(path): Path<JobPath>,
    body: Bytes,
) -> Result<(StatusCode, Json<JobDefinition>), ApiError> {
    let tenant = tenant_of(&d, &caller, &path)?;
    let id = path.id;
    check_name("job id", &id).map_err(unprocessable)?;
    let mut body: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body is not JSON ({e}); send the job as a JSON object"
        ))
    })?;
    let config = d.host.config();
    confine_paths(&config, &tenant, &mut body).map_err(unprocessable)?;
    let managed = d.managed();
    let previous = managed
        .jobs
        .iter()
        .find(|j| j.tenant == tenant && j.id == id)
        .and_then(|j| serde_json::from_str::<Value>(&j.body).ok());
    let (plain, sealed) =
        sealed_job::seal(d.seal_key.as_ref(), &tenant, &id, &body, previous.as_ref())
            .map_err(unprocessable)?;
    check_job(&config, &tenant, &id, &plain).map_err(unprocessable)?;
    d.host
        .store
        .put_managed_job(&ManagedJob {
            tenant: tenant.clone(),
            id: id.clone(),
            body: sealed.to_string(),
        })
        .await?;
    d.refresh_managed().await?;
    tracing::info!("job {tenant}/{id} saved through the API");
    let status = if previous.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(JobDefinition {
            path: job_path(&JobKey::new(&tenant, &id)),
            tenant,
            id,
            job: sealed_job::redact(&sealed),
        }),
    ))
}

#[utoipa::path(delete, path = "/tenants/{tenant}/jobs/{id}", tag = "jobs",
    description = "Delete a job made through the API (operator token or the tenant's own); its users and runs stay in the store.",
    params(("tenant" = String, Path, description = "Tenant id"), ("id" = String, Path, description = "Job id")),
    responses((status = 200, body = super::Deleted), (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete(
    State(d): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(path): Path<JobPath>,
) -> Result<Json<super::Deleted>, ApiError> {
    let tenant = tenant_of(&d, &caller, &path)?;
    if !d.host.store.delete_managed_job(&tenant, &path.id).await? {
        return Err(ApiError::not_found(format!(
            "no job {:?} made through the API in tenant {tenant:?}",
            path.id
        )));
    }
    d.refresh_managed().await?;
    tracing::info!("job {tenant}/{} deleted through the API", path.id);
    Ok(Json(super::Deleted { deleted: path.id }))
}
