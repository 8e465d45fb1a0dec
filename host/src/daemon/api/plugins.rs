//! `/plugins`: what is served, and which files were refused and why.

use axum::extract::State;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Caller;
use super::{ApiResult, AppState};
use crate::runtime::Origin;

#[derive(Debug, Serialize, ToSchema)]
pub struct PluginView {
    pub name: String,
    pub version: String,
    /// `connector` or `mapper`.
    pub kind: String,
    /// The contract (WIT) version it was built against.
    pub wit_version: String,
    /// SHA-256 of the file.
    pub hash: String,
    /// `file` (the plugins folder) or `built-in` (part of the binary).
    pub origin: String,
    /// Who signed the file: `unsigned`, `signed by NAME (KEY ID)`,
    /// `signed by unknown key ID`; `built in` for a built-in.
    pub signature: String,
    /// The file; `(built-in)/NAME.wasm` for a built-in.
    pub path: String,
    /// Set for a tenant's own plugin (`plugins/tenants/<id>/`).
    pub tenant: Option<String>,
    pub loaded_at: DateTime<Utc>,
    pub description: String,
    pub capabilities: Vec<String>,
    /// Why the latest file at this path was refused; this version keeps serving.
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RefusedFile {
    pub path: String,
    pub reason: String,
    pub refused_at: Option<DateTime<Utc>>,
    /// `name version` still served from this path, if an earlier version loaded.
    pub still_serving: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PluginsView {
    /// By name.
    pub plugins: Vec<PluginView>,
    pub refused: Vec<RefusedFile>,
}

#[utoipa::path(get, path = "/plugins", tag = "plugins",
    responses((status = 200, description = "A tenant token sees the shared plugins and its own, and only its own folder's refusals", body = PluginsView)),
    security(("bearer" = [])))]
pub async fn list(
    State(d): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<PluginsView> {
    let registry = d.host.registry();
    let config = d.host.config();
    // Refusals in the shared folder are the operator's business; a tenant
    // sees those of its own folder.
    let refusal_visible = |path: &std::path::Path| match caller.tenant() {
        None => true,
        Some(t) => path.starts_with(config.resolve(&config.plugins.dir).join("tenants").join(t)),
    };
    let error_at = |path: &std::path::Path| registry.errors.iter().find(|e| e.path == path);
    let mut plugins: Vec<PluginView> = registry
        .all()
        .filter(|(tenant, _)| tenant.is_none_or(|t| caller.sees(t)))
        .map(|(tenant, p)| {
            let error = error_at(&p.path).filter(|e| refusal_visible(&e.path));
            PluginView {
                name: p.manifest.name.clone(),
                version: p.manifest.version.clone(),
                kind: p.kind().to_string(),
                wit_version: p.wit_version.clone(),
                hash: p.hash.clone(),
                origin: p.origin.to_string(),
                signature: match p.origin {
                    Origin::BuiltIn => "built in".into(),
                    Origin::File => p.signature.describe(),
                },
                path: p.path.display().to_string(),
                tenant: tenant.map(str::to_string),
                loaded_at: p.loaded_at,
                description: p.manifest.description.clone(),
                capabilities: p.manifest.capabilities.clone(),
                last_error: error.map(|e| e.reason.clone()),
                last_error_at: error.and_then(|e| d.refusals.at(&e.path)),
            }
        })
        .collect();
    plugins.sort_by(|a, b| (&a.tenant, &a.name).cmp(&(&b.tenant, &b.name)));
    let refused = registry
        .refused()
        .iter()
        .filter(|e| refusal_visible(&e.path))
        .map(|e| RefusedFile {
            path: e.path.display().to_string(),
            reason: e.reason.clone(),
            refused_at: d.refusals.at(&e.path),
            still_serving: registry.at_path(&e.path).map(|p| p.label()),
        })
        .collect();
    Ok(Json(PluginsView { plugins, refused }))
}
