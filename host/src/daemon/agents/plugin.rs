//! `GET /agent/v1/plugins/{sha256}`: the connector an agent job of the
//! caller's tenant is served, by content hash. Only plugins that one of the
//! tenant's agent jobs uses now are handed out; the agent checks the bytes
//! against the hash and validates them with the same loader as a plugins
//! folder.

use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::routes::agent;
use crate::config::RunsOn;
use crate::daemon::api::ApiError;
use crate::runtime::Origin;

pub(super) async fn download(
    State(d): State<std::sync::Arc<crate::daemon::Daemon>>,
    Path(sha256): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let me = agent(&d, &headers).await?;
    let config = d.host.config();
    let registry = d.host.registry();
    let plugin = config
        .jobs
        .iter()
        .filter(|j| j.runs_on == RunsOn::Agent && me.may_serve(&j.tenant, &j.id))
        .filter_map(|j| registry.serve(&me.tenant, &j.connector).ok())
        .find(|p| p.hash == sha256)
        .cloned();
    let gone = || {
        ApiError::not_found(format!(
            "no plugin {sha256} is served to this tenant's agent jobs (it may have been replaced: poll again)"
        ))
    };
    let plugin = plugin.ok_or_else(gone)?;
    let bytes = match plugin.origin {
        Origin::BuiltIn => {
            let name = plugin
                .path
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            crate::registry::builtin::bytes(&name)
                .map(<[u8]>::to_vec)
                .ok_or_else(gone)?
        }
        Origin::File => {
            let path = plugin.path.clone();
            tokio::task::spawn_blocking(move || std::fs::read(path))
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .map_err(|_| gone())?
        }
    };
    // The file may have been replaced since it was loaded.
    if hex::encode(Sha256::digest(&bytes)) != sha256 {
        return Err(gone());
    }
    Ok(([(CONTENT_TYPE, "application/wasm")], bytes).into_response())
}
