//! Agents in the admin API: enrolment codes (`POST
//! /tenants/{tenant}/agents/enrollments`), the tenant's agents (`GET
//! /tenants/{tenant}/agents`) and revocation (`DELETE
//! /tenants/{tenant}/agents/{id}`). Operator token or the tenant's own;
//! another tenant is the same 404 as a made-up one.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Caller;
use super::jobs::hidden_tenant;
use super::{ApiError, ApiQuery, AppState, Deleted};
use crate::store::AgentRow;

/// A code lives 1 minute to 7 days (default 1 hour).
const TTL_MINUTES: (u32, u32) = (1, 7 * 24 * 60);

fn tenant_of(d: &crate::daemon::Daemon, caller: &Caller, tenant: &str) -> Result<(), ApiError> {
    if !caller.sees(tenant) {
        return Err(hidden_tenant(tenant));
    }
    if d.host.config().tenant(tenant).is_none() {
        return Err(ApiError::not_found(format!(
            "no tenant {tenant:?}; GET /tenants lists them"
        )));
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
pub struct EnrollmentQuery {
    pub ttl_minutes: Option<u32>,
    /// Comma-separated job ids: the only jobs the agent may serve.
    pub jobs: Option<String>,
}

/// A new enrolment code: shown once, used once.
#[derive(Debug, Serialize, ToSchema)]
pub struct Enrollment {
    pub tenant: String,
    /// Give it to `usersync agent --enroll CODE`; kept only as a digest.
    pub code: String,
    pub expires_at: String,
    /// The only jobs the agent may serve; absent: every agent job of the tenant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jobs: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
pub struct AgentPath {
    pub tenant: String,
    pub id: String,
}

#[utoipa::path(post, path = "/tenants/{tenant}/agents/enrollments", tag = "agents",
    description = "A one-time enrolment code for an agent of this tenant (operator token or the tenant's own). `usersync agent --server URL --enroll CODE` exchanges it for the agent's credential. The code is shown only in this answer.",
    params(("tenant" = String, Path, description = "Tenant id"),
        ("ttl_minutes" = Option<u32>, Query, description = "How long the code is valid: 1 to 10080 minutes (default 60)"),
        ("jobs" = Option<String>, Query, description = "Comma-separated ids of the tenant's agent jobs the agent may serve (default: all of them)")),
    responses((status = 201, body = Enrollment), (status = 400, body = super::ErrorBody), (status = 404, body = super::ErrorBody)),
    security(("bearer" = [])))]
pub async fn enroll(
    State(d): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(tenant): Path<String>,
    ApiQuery(q): ApiQuery<EnrollmentQuery>,
) -> Result<(StatusCode, Json<Enrollment>), ApiError> {
    tenant_of(&d, &caller, &tenant)?;
    let ttl = q.ttl_minutes.unwrap_or(60);
    if !(TTL_MINUTES.0..=TTL_MINUTES.1).contains(&ttl) {
        return Err(ApiError::bad_request(format!(
            "ttl_minutes = {ttl}: use {} to {}",
            TTL_MINUTES.0, TTL_MINUTES.1
        )));
    }
    let jobs = match &q.jobs {
        None => None,
        Some(list) => {
            let config = d.host.config();
            let ids: Vec<String> = list
                .split(',')
                .map(str::trim)
                .filter(|j| !j.is_empty())
                .map(String::from)
                .collect();
            if ids.is_empty() || ids.len() > 1000 {
                return Err(ApiError::bad_request(
                    "jobs: name 1 to 1000 job ids, comma-separated",
                ));
            }
            for id in &ids {
                let agent_job = config
                    .job_by_key(&crate::config::JobKey {
                        tenant: tenant.clone(),
                        job: id.clone(),
                    })
                    .is_some_and(|j| j.runs_on == crate::config::RunsOn::Agent);
                if !agent_job {
                    return Err(ApiError::bad_request(format!(
                        "jobs: tenant {tenant:?} has no job {id:?} with runs_on = \"agent\""
                    )));
                }
            }
            Some(ids)
        }
    };
    let code = crate::daemon::agents::random_secret("use_");
    let expires_at = (chrono::Utc::now() + chrono::Duration::minutes(i64::from(ttl)))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    d.host
        .store
        .create_enrollment(
            &tenant,
            &crate::daemon::agents::hex_digest(&code),
            &expires_at,
            jobs.as_deref(),
        )
        .await?;
    tracing::info!(tenant = %tenant, expires_at = %expires_at, "agent enrolment code made");
    Ok((
        StatusCode::CREATED,
        Json(Enrollment {
            tenant,
            code,
            expires_at,
            jobs,
        }),
    ))
}

#[utoipa::path(get, path = "/tenants/{tenant}/agents", tag = "agents",
    description = "The tenant's enrolled agents: version, last seen, jobs, last error.",
    params(("tenant" = String, Path, description = "Tenant id")),
    responses((status = 200, body = [AgentRow]), (status = 404, body = super::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(d): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(tenant): Path<String>,
) -> Result<Json<Vec<AgentRow>>, ApiError> {
    tenant_of(&d, &caller, &tenant)?;
    Ok(Json(d.host.store.agents(Some(&tenant)).await?))
}

#[utoipa::path(delete, path = "/tenants/{tenant}/agents/{id}", tag = "agents",
    description = "Revoke an agent: its credential is refused from the next request on.",
    params(("tenant" = String, Path, description = "Tenant id"), ("id" = String, Path, description = "Agent id")),
    responses((status = 200, body = Deleted), (status = 404, body = super::ErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke(
    State(d): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(p): Path<AgentPath>,
) -> Result<Json<Deleted>, ApiError> {
    tenant_of(&d, &caller, &p.tenant)?;
    if !d.host.store.revoke_agent(&p.tenant, &p.id).await? {
        return Err(ApiError::not_found(format!(
            "tenant {:?} has no agent {:?}; GET /tenants/{}/agents lists them",
            p.tenant, p.id, p.tenant
        )));
    }
    tracing::info!(tenant = %p.tenant, agent = %p.id, "agent revoked");
    Ok(Json(Deleted {
        deleted: format!("agent {}", p.id),
    }))
}
