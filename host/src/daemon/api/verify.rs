//! `POST /verify-password`: one LDAP bind as a synced user, for
//! applications that log people in with their directory password. The
//! request body is never logged; the answer carries no secret.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use utoipa::ToSchema;

use super::auth::Caller;
use super::{ApiError, ApiJson, ApiResult, AppState};
use crate::sync::PasswordCheck;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    pub job: String,
    /// The job's tenant; needed only when several tenants have the job id.
    #[serde(default)]
    pub tenant: Option<String>,
    pub username: String,
    pub password: String,
}

// Debug without the password, should anything ever print a request.
impl std::fmt::Debug for VerifyRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyRequest")
            .field("tenant", &self.tenant)
            .field("job", &self.job)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

#[utoipa::path(post, path = "/verify-password", tag = "directory",
    request_body = VerifyRequest,
    responses(
        (status = 200, description = "`valid` says whether the directory accepted the password; `reason` why not", body = PasswordCheck),
        (status = 400, description = "An empty password, or a body that is not JSON", body = super::ErrorBody),
        (status = 415, description = "The body is not sent as `application/json`", body = super::ErrorBody),
        (status = 422, description = "Missing or unknown fields", body = super::ErrorBody),
        (status = 404, description = "No such job", body = super::ErrorBody),
        (status = 409, description = "Several tenants have the job id: pass `tenant`", body = super::ErrorBody),
        (status = 502, description = "The directory could not be asked (unreachable, TLS)", body = super::ErrorBody)),
    security(("bearer" = [])))]
pub async fn verify_password(
    State(d): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(req): ApiJson<VerifyRequest>,
) -> ApiResult<PasswordCheck> {
    if req.password.is_empty() {
        return Err(ApiError::bad_request(
            "password is empty (an empty password would be an anonymous bind)",
        ));
    }
    let key = super::jobs::resolve(&d, &caller, req.tenant.as_deref(), &req.job)?.key();
    d.host
        .verify_password(Some(&key.tenant), &key.job, &req.username, &req.password)
        .await
        .map(Json)
        .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, format!("{e:#}")))
}
