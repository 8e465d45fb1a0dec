//! `PUT` and `DELETE /tenants/{tenant}/plugins/{name}`: a tenant's own
//! plugin, uploaded as the body. It is checked by the registry's own check
//! of a plugins-folder file (signature rule of the tenant, validation,
//! compile, link, manifest) and refused with the reason; a good one is
//! stored in the store, and every node writes it into its plugins folder
//! (`tenants/<t>/<name>.uploaded.wasm`), where the watcher hot-swaps it
//! for that tenant only.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::auth::Caller;
use super::jobs::hidden_tenant;
use super::tenants::unprocessable;
use super::{ApiError, AppState};
use crate::config::managed::check_name;
use crate::daemon::managed::UPLOADED;
use crate::store::ManagedPlugin;

/// The largest plugin an upload may carry (interpreter components are ~20 MB).
pub const MAX_PLUGIN_BYTES: usize = 64 << 20;

#[derive(Debug, Deserialize)]
pub struct PluginPath {
    pub tenant: String,
    pub name: String,
}

/// An accepted upload.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadedPlugin {
    pub tenant: String,
    pub name: String,
    pub version: String,
    /// `connector` or `mapper`.
    pub kind: String,
    /// SHA-256 of the file.
    pub hash: String,
    /// Where each node keeps it, in its plugins folder.
    pub file: String,
}

/// The tenant, if the caller sees it and it exists (404 alike otherwise).
fn tenant_of(d: &crate::daemon::Daemon, caller: &Caller, tenant: &str) -> Result<(), ApiError> {
    if !caller.sees(tenant) {
        return Err(hidden_tenant(tenant));
    }
    if d.host.config().tenant(tenant).is_none() {
        return Err(ApiError::not_found(format!(
            "no tenant {tenant:?}; make it with POST /tenants"
        )));
    }
    Ok(())
}

#[utoipa::path(put, path = "/tenants/{tenant}/plugins/{name}", tag = "plugins",
    description = "Upload a plugin for this tenant only (operator token or the tenant's own); the body is the `.wasm` (at most 64 MiB). Checked like a file in the plugins folder; a refused file changes nothing and the version served before keeps serving.",
    params(("tenant" = String, Path, description = "Tenant id"), ("name" = String, Path, description = "The plugin's manifest name")),
    request_body(content = Vec<u8>, content_type = "application/wasm"),
    responses((status = 200, body = UploadedPlugin), (status = 404, body = super::ErrorBody),
        (status = 422, description = "Refused, with the reason", body = super::ErrorBody)),
    security(("bearer" = [])))]
pub async fn put(
    State(d): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(path): Path<PluginPath>,
    body: Bytes,
) -> Result<Json<UploadedPlugin>, ApiError> {
    tenant_of(&d, &caller, &path.tenant)?;
    check_name("plugin name", &path.name).map_err(unprocessable)?;
    let config = d.host.config();
    let file = config
        .resolve(&config.plugins.dir)
        .join("tenants")
        .join(&path.tenant)
        .join(format!("{}{UPLOADED}", path.name));
    let (registry, rt, tenant, bytes, at) = (
        d.host.registry(),
        d.host.runtime.clone(),
        path.tenant.clone(),
        body.clone(),
        file.clone(),
    );
    let checked =
        tokio::task::spawn_blocking(move || registry.check(&rt, &at, &bytes, Some(&tenant)))
            .await
            .map_err(|e| anyhow::anyhow!("checking the plugin failed unexpectedly: {e}"))?;
    let refused = |reason: String| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("the plugin is refused: {reason}; nothing changed, the version served before keeps serving"),
        )
    };
    let plugin = checked.map_err(|e| refused(e.reason))?;
    if plugin.manifest.name != path.name {
        return Err(refused(format!(
            "its manifest names it {:?}, not {:?}; upload it to /tenants/{}/plugins/{}",
            plugin.manifest.name, path.name, path.tenant, plugin.manifest.name
        )));
    }
    let hash = hex::encode(Sha256::digest(&body));
    let stored = ManagedPlugin {
        tenant: path.tenant.clone(),
        name: path.name.clone(),
        sha256: hash.clone(),
    };
    d.host.store.put_managed_plugin(&stored, &body).await?;
    d.refresh_managed().await?;
    tracing::info!(
        "plugin {} uploaded for tenant {:?} through the API",
        plugin.label(),
        path.tenant
    );
    Ok(Json(UploadedPlugin {
        tenant: path.tenant,
        name: path.name,
        version: plugin.manifest.version.clone(),
        kind: plugin.kind().to_string(),
        hash,
        file: file.display().to_string(),
    }))
}

#[utoipa::path(delete, path = "/tenants/{tenant}/plugins/{name}", tag = "plugins",
    description = "Remove a plugin uploaded for this tenant (operator token or the tenant's own).",
    params(("tenant" = String, Path, description = "Tenant id"), ("name" = String, Path, description = "The plugin's name")),
    responses((status = 200, body = super::Deleted), (status = 404, body = super::ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete(
    State(d): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(path): Path<PluginPath>,
) -> Result<Json<super::Deleted>, ApiError> {
    tenant_of(&d, &caller, &path.tenant)?;
    if !d
        .host
        .store
        .delete_managed_plugin(&path.tenant, &path.name)
        .await?
    {
        return Err(ApiError::not_found(format!(
            "no plugin {:?} uploaded for tenant {:?}",
            path.name, path.tenant
        )));
    }
    d.refresh_managed().await?;
    Ok(Json(super::Deleted { deleted: path.name }))
}
