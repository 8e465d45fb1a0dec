//! `/tenants` and `/tenants/{tenant}`: tenants made through the API live in
//! the store (every node serves them). Only the operator token creates,
//! changes or deletes one; a tenant token reads its own tenant, gets 403
//! for the operator's actions on it and 404 for any other name. A tenant's
//! token is shown once, when it is generated, and kept only as a digest.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::auth::{digest, Caller};
use super::jobs::hidden_tenant;
use super::{ApiError, ApiJson, AppState};
use crate::config::managed::{check_tenant_id, parse_limits};
use crate::config::Limits;
use crate::daemon::Daemon;
use crate::store::ManagedTenant;

/// A tenant as the API shows it (never its token).
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantView {
    pub id: String,
    /// `api` (made through the API, in the store) or the config file's path.
    pub defined_in: String,
    pub licenses: BTreeMap<String, u32>,
    /// `[tenants.limits]`, if the tenant has its own.
    #[schema(value_type = Option<Object>)]
    pub limits: Option<Limits>,
    /// A disabled tenant's jobs do not run and its token is refused.
    pub disabled: bool,
    pub has_token: bool,
    /// Its job ids (those served now).
    pub jobs: Vec<String>,
    /// Its plugins uploaded through the API.
    pub plugins: Vec<String>,
    /// The new token: only in the answer that generated it. Keep it; it is
    /// not stored and cannot be shown again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// `POST /tenants`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    /// Lower-case letters, digits, `-`, `_`.
    pub id: String,
    /// Its API token (16 characters or more); left out, one is generated
    /// and shown once in the answer.
    pub token: Option<String>,
    #[serde(default)]
    pub licenses: BTreeMap<String, u32>,
    /// As `[tenants.limits]`.
    #[schema(value_type = Option<Object>)]
    pub limits: Option<Value>,
    #[serde(default)]
    pub disabled: bool,
}

/// `PATCH /tenants/{tenant}`: only the keys given change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantChange {
    /// A new token (16 characters or more).
    pub token: Option<String>,
    /// `true`: generate a new token, shown once in the answer.
    #[serde(default)]
    pub new_token: bool,
    /// Replaces every license count.
    pub licenses: Option<BTreeMap<String, u32>>,
    /// Replaces the limits; `{}` removes them (the global `[limits]` apply).
    #[schema(value_type = Option<Object>)]
    pub limits: Option<Value>,
    pub disabled: Option<bool>,
}

fn operator_only(caller: &Caller, tenant: Option<&str>) -> Result<(), ApiError> {
    match (caller, tenant) {
        (Caller::Operator, _) => Ok(()),
        (Caller::Tenant(own), Some(t)) if own != t => Err(hidden_tenant(t)),
        _ => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "only the operator token creates, changes or deletes tenants; a tenant token reads its own tenant and manages its jobs and plugins",
        )),
    }
}

fn view(d: &Daemon, id: &str, token: Option<String>) -> Option<TenantView> {
    let config = d.host.config();
    let managed = d.managed();
    let stored = managed.tenants.iter().find(|t| t.id == id);
    let file = d.file_config();
    let in_file = file.tenant(id);
    let tenant = config.tenant(id)?;
    Some(TenantView {
        id: id.to_string(),
        defined_in: match in_file {
            Some(_) => d.config_path.display().to_string(),
            None => "api".into(),
        },
        licenses: tenant.licenses.clone(),
        limits: tenant.limits,
        disabled: in_file.is_none() && stored.is_some_and(|t| t.disabled),
        has_token: match in_file {
            Some(t) => t.token.is_some(),
            None => stored.is_some_and(|t| t.token_sha256.is_some()),
        },
        jobs: config
            .jobs
            .iter()
            .filter(|j| j.tenant == id)
            .map(|j| j.id.clone())
            .collect(),
        plugins: managed
            .plugins
            .iter()
            .filter(|p| p.tenant == id)
            .map(|p| p.name.clone())
            .collect(),
        token,
    })
}

fn no_tenant(id: &str) -> ApiError {
    ApiError::not_found(format!("no tenant {id:?}; GET /tenants lists them"))
}

#[utoipa::path(get, path = "/tenants", tag = "tenants",
    responses((status = 200, description = "Every tenant (a tenant token: its own)", body = [TenantView])),
    security(("bearer" = [])))]
pub async fn list(
    State(d): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Json<Vec<TenantView>> {
    let config = d.host.config();
    Json(
        config
            .tenants
            .iter()
            .filter(|t| caller.sees(&t.id))
            .filter_map(|t| view(&d, &t.id, None))
            .collect(),
    )
}

#[utoipa::path(get, path = "/tenants/{tenant}", tag = "tenants",
    params(("tenant" = String, Path, description = "Tenant id")),
    responses((status = 200, body = TenantView), (status = 404, body = super::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    State(d): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(tenant): Path<String>,
) -> Result<Json<TenantView>, ApiError> {
    if !caller.sees(&tenant) {
        return Err(hidden_tenant(&tenant));
    }
    view(&d, &tenant, None)
        .map(Json)
        .ok_or_else(|| no_tenant(&tenant))
}

/// The token to keep: the one given (checked) or a new one (returned).
fn token(d: &Daemon, given: Option<String>) -> Result<(String, Option<String>), ApiError> {
    let unprocessable = unprocessable_msg;
    if !d.tokens.load().has_operator() {
        return Err(unprocessable("tenant tokens need an operator token: set server.token or USERSYNC_API_TOKEN first (without one every request is the operator's)"));
    }
    let (token, shown) = match given {
        Some(t) if t.trim().len() < 16 => {
            return Err(unprocessable(
                "token is too short: use at least 16 characters",
            ))
        }
        Some(t) => (t.trim().to_string(), None),
        None => {
            let mut bytes = [0u8; 24];
            getrandom::getrandom(&mut bytes)
                .map_err(|e| anyhow::anyhow!("no random source: {e}"))?;
            let t = format!("ust_{}", hex::encode(bytes));
            (t.clone(), Some(t))
        }
    };
    let sha = digest(&token);
    if d.tokens.load().knows(&sha) {
        return Err(unprocessable_msg(
            "this token is in use already: give every tenant, and the operator, a token of its own",
        ));
    }
    Ok((hex::encode(sha), shown))
}

#[utoipa::path(post, path = "/tenants", tag = "tenants",
    description = "Operator token only.",
    request_body = NewTenant,
    responses((status = 201, description = "Made; `token` is shown this once if it was generated", body = TenantView),
        (status = 403, body = super::ErrorBody), (status = 409, body = super::ErrorBody), (status = 422, body = super::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(d): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(new): ApiJson<NewTenant>,
) -> Result<(StatusCode, Json<TenantView>), ApiError> {
    operator_only(&caller, None)?;
    check_tenant_id(&new.id).map_err(unprocessable)?;
    if d.file_config().tenant(&new.id).is_some() {
        return Err(in_file(&d, &new.id));
    }
    if d.host.config().tenant(&new.id).is_some()
        || d.managed().tenants.iter().any(|t| t.id == new.id)
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "tenant {:?} exists already; PATCH /tenants/{} changes it",
                new.id, new.id
            ),
        ));
    }
    let limits = limits_json(new.limits.as_ref())?;
    let (token_sha256, shown) = token(&d, new.token)?;
    let tenant = ManagedTenant {
        id: new.id.clone(),
        token_sha256: Some(token_sha256),
        licenses: serde_json::to_string(&new.licenses).expect("a map serializes"),
        limits,
        disabled: new.disabled,
    };
    d.host.store.put_managed_tenant(&tenant, true).await?;
    d.refresh_managed().await?;
    tracing::info!("tenant {:?} made through the API", new.id);
    let view = view(&d, &new.id, shown).ok_or_else(|| no_tenant(&new.id))?;
    Ok((StatusCode::CREATED, Json(view)))
}

#[utoipa::path(patch, path = "/tenants/{tenant}", tag = "tenants",
    description = "Operator token only.",
    params(("tenant" = String, Path, description = "Tenant id")),
    request_body = TenantChange,
    responses((status = 200, body = TenantView), (status = 403, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody), (status = 409, description = "Defined in the config file", body = super::ErrorBody)),
    security(("bearer" = [])))]
pub async fn update(
    State(d): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(tenant): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<TenantView>, ApiError> {
    operator_only(&caller, Some(&tenant))?;
    // Read after the caller is checked: another tenant's name gets the
    // same 404 whatever the body holds.
    let change: TenantChange = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("the body is not a tenant change ({e}); the API is described at /openapi.json"),
        )
    })?;
    let mut stored = stored_tenant(&d, &tenant)?;
    let mut shown = None;
    if change.token.is_some() || change.new_token {
        let (sha, new) = token(&d, change.token)?;
        stored.token_sha256 = Some(sha);
        shown = new;
    }
    if let Some(licenses) = change.licenses {
        stored.licenses = serde_json::to_string(&licenses).expect("a map serializes");
    }
    if let Some(limits) = change.limits {
        stored.limits = limits_json(Some(&limits))?;
    }
    if let Some(disabled) = change.disabled {
        stored.disabled = disabled;
    }
    d.host.store.put_managed_tenant(&stored, false).await?;
    d.refresh_managed().await?;
    view(&d, &tenant, shown)
        .map(Json)
        .ok_or_else(|| no_tenant(&tenant))
}

#[utoipa::path(delete, path = "/tenants/{tenant}", tag = "tenants",
    description = "Operator token only. Removes the tenant with its jobs and uploaded plugins; its users and run history stay in the store.",
    params(("tenant" = String, Path, description = "Tenant id")),
    responses((status = 200, body = super::Deleted), (status = 403, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete(
    State(d): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(tenant): Path<String>,
) -> Result<Json<super::Deleted>, ApiError> {
    operator_only(&caller, Some(&tenant))?;
    stored_tenant(&d, &tenant)?;
    d.host.store.delete_managed_tenant(&tenant).await?;
    d.refresh_managed().await?;
    tracing::info!("tenant {tenant:?} deleted through the API");
    Ok(Json(super::Deleted { deleted: tenant }))
}

/// The stored tenant `id`: 409 if the config file defines it, 404 if none.
fn stored_tenant(d: &Daemon, id: &str) -> Result<ManagedTenant, ApiError> {
    if d.file_config().tenant(id).is_some() {
        return Err(in_file(d, id));
    }
    d.managed()
        .tenants
        .iter()
        .find(|t| t.id == id)
        .cloned()
        .ok_or_else(|| no_tenant(id))
}

/// 409: what the config file defines is changed in the file.
pub fn in_file(d: &Daemon, what: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        format!(
            "{what} is defined in the config file {}; change it there (the API manages only what it made)",
            d.config_path.display()
        ),
    )
}

fn unprocessable_msg(m: &str) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, m.to_string())
}

pub fn unprocessable(e: anyhow::Error) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("{e:#}"))
}

/// Checked limits as stored JSON; `{}` or none: no limits of its own.
fn limits_json(limits: Option<&Value>) -> Result<Option<String>, ApiError> {
    match limits {
        None => Ok(None),
        Some(Value::Object(m)) if m.is_empty() => Ok(None),
        Some(v) => {
            parse_limits(v).map_err(unprocessable)?;
            Ok(Some(v.to_string()))
        }
    }
}
