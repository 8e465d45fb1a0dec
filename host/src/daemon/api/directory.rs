//! `/users` and `/groups`: what the target store holds, filtered and paged.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::jobs::{filter_tenant, hidden_tenant};
use super::{ApiError, ApiQuery, ApiResult, AppState, Page};
use crate::store::{GroupRow, UserRow};

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DirectoryParams {
    pub tenant: Option<String>,
    /// Only what this job synced (with `tenant` when several tenants have the id).
    pub job: Option<String>,
    /// Only active (`true`) or deactivated (`false`) entries.
    pub active: Option<bool>,
    /// Only entries whose name (users: username, display name or email)
    /// contains this text, ignoring case.
    pub q: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    pub limit: Option<usize>,
    pub offset: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsersPage {
    /// By username.
    pub users: Vec<UserRow>,
    pub total: usize,
    pub next_offset: Option<usize>,
}

#[utoipa::path(get, path = "/users", tag = "directory", params(DirectoryParams),
    responses((status = 200, body = UsersPage), (status = 400, body = super::ErrorBody)),
    security(("bearer" = [])))]
pub async fn users(
    State(d): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(p): ApiQuery<DirectoryParams>,
) -> ApiResult<UsersPage> {
    let page = Page::new(p.limit, p.offset)?;
    let tenant = filter_tenant(&d, &caller, p.tenant, p.job.as_deref())?;
    let mut rows = d.host.store.users(tenant.as_deref()).await?;
    let q =
        p.q.as_deref()
            .map(str::to_lowercase)
            .filter(|q| !q.is_empty());
    let has = |s: Option<&str>, q: &str| s.is_some_and(|s| s.to_lowercase().contains(q));
    rows.retain(|u| {
        p.job.as_ref().is_none_or(|j| u.job_id.as_ref() == Some(j))
            && p.active.is_none_or(|a| u.active == a)
            && q.as_deref().is_none_or(|q| {
                has(Some(&u.username), q)
                    || has(u.display_name.as_deref(), q)
                    || has(u.email.as_deref(), q)
            })
    });
    let total = rows.len();
    let (users, next_offset) = page.slice(rows);
    Ok(Json(UsersPage {
        users,
        total,
        next_offset,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupsPage {
    /// By name.
    pub groups: Vec<GroupRow>,
    pub total: usize,
    pub next_offset: Option<usize>,
}

#[utoipa::path(get, path = "/groups", tag = "directory", params(DirectoryParams),
    responses((status = 200, body = GroupsPage), (status = 400, body = super::ErrorBody)),
    security(("bearer" = [])))]
pub async fn groups(
    State(d): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(p): ApiQuery<DirectoryParams>,
) -> ApiResult<GroupsPage> {
    let page = Page::new(p.limit, p.offset)?;
    let tenant = filter_tenant(&d, &caller, p.tenant, p.job.as_deref())?;
    let mut rows = d.host.store.groups(tenant.as_deref()).await?;
    let q =
        p.q.as_deref()
            .map(str::to_lowercase)
            .filter(|q| !q.is_empty());
    rows.retain(|g| {
        p.job.as_ref().is_none_or(|j| &g.job_id == j)
            && p.active.is_none_or(|a| g.active == a)
            && q.as_deref()
                .is_none_or(|q| g.name.to_lowercase().contains(q))
    });
    let total = rows.len();
    let (groups, next_offset) = page.slice(rows);
    Ok(Json(GroupsPage {
        groups,
        total,
        next_offset,
    }))
}

#[derive(Debug, Deserialize)]
pub struct UserPath {
    pub tenant: String,
    pub username: String,
}

/// A user after a change by hand.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserState {
    pub tenant: String,
    pub username: String,
    pub active: bool,
}

fn no_user(p: &UserPath, what: &str) -> ApiError {
    ApiError::not_found(format!(
        "no {what}user {:?} in tenant {:?}",
        p.username, p.tenant
    ))
}

#[utoipa::path(post, path = "/tenants/{tenant}/users/{username}/deactivate", tag = "directory",
    description = "Deactivate a user by hand (operator token or the tenant's own). A user still active in the source comes back on the next run: the source is authoritative.",
    params(("tenant" = String, Path, description = "Tenant id"), ("username" = String, Path, description = "Username")),
    responses((status = 200, body = UserState), (status = 404, body = super::ErrorBody)),
    security(("bearer" = [])))]
pub async fn deactivate(
    State(d): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(p): Path<UserPath>,
) -> ApiResult<UserState> {
    if !caller.sees(&p.tenant) {
        return Err(hidden_tenant(&p.tenant));
    }
    // A store error is a 500, not a "no such user".
    if !d.host.store.deactivate_user(&p.tenant, &p.username).await? {
        return Err(no_user(&p, ""));
    }
    tracing::info!(tenant = %p.tenant, user = %p.username, "user deactivated by hand through the API");
    Ok(Json(UserState {
        tenant: p.tenant,
        username: p.username,
        active: false,
    }))
}

#[utoipa::path(post, path = "/tenants/{tenant}/users/{username}/restore", tag = "directory",
    description = "Reactivate a deactivated user by hand (operator token or the tenant's own). The next run deactivates it again if the source no longer has it in scope.",
    params(("tenant" = String, Path, description = "Tenant id"), ("username" = String, Path, description = "Username")),
    responses((status = 200, body = UserState), (status = 404, description = "No deactivated user of that name", body = super::ErrorBody)),
    security(("bearer" = [])))]
pub async fn restore(
    State(d): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(p): Path<UserPath>,
) -> ApiResult<UserState> {
    if !caller.sees(&p.tenant) {
        return Err(hidden_tenant(&p.tenant));
    }
    if !d.host.store.restore_user(&p.tenant, &p.username).await? {
        return Err(no_user(&p, "deactivated "));
    }
    tracing::info!(tenant = %p.tenant, user = %p.username, "user restored by hand through the API");
    Ok(Json(UserState {
        tenant: p.tenant,
        username: p.username,
        active: true,
    }))
}
