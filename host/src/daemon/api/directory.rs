//! `/users` and `/groups`: what the target store holds, filtered and paged.

use axum::extract::State;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::jobs::filter_tenant;
use super::{ApiQuery, ApiResult, AppState, Page};
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
