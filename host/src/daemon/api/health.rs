//! `/health` (no token needed; details only with the token) and `/metrics`.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Caller;
use super::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`; `degraded` when the last config reload or a plugin file was
    /// refused; `unreachable` while the store's database does not answer;
    /// `shutting_down` while runs in flight finish.
    pub status: String,
    pub version: String,
    pub started_at: DateTime<Utc>,
    /// This node's name (`server.node`).
    pub node: String,
    /// `ok` while this node reaches the store's database, `unreachable`
    /// while it does not (the answer is then 503 and runs are paused).
    pub database: String,
    /// Only with the operator token (they cover every tenant).
    pub details: Option<HealthDetails>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthDetails {
    pub jobs: usize,
    pub runs_in_progress: usize,
    pub plugins_served: usize,
    pub plugins_refused: usize,
    pub config_path: String,
    pub config_loaded_at: DateTime<Utc>,
    /// Why the last config reload was refused (the previous config serves).
    pub config_error: Option<String>,
    pub config_error_at: Option<DateTime<Utc>>,
}

/// A config error without the quoted lines of the file (they could hold a
/// secret); the message still names the file, line and key.
fn without_quoted_lines(message: &str) -> String {
    message
        .lines()
        .filter(|l| !l.contains('|'))
        .collect::<Vec<_>>()
        .join("\n")
}

#[utoipa::path(get, path = "/health", tag = "daemon",
    responses((status = 200, description = "The daemon is up; `details` only with the operator token", body = Health),
        (status = 503, description = "This node cannot reach the store's database (`database: unreachable`); runs are paused until it answers", body = Health)))]
pub async fn health(State(d): State<AppState>, headers: HeaderMap) -> (StatusCode, Json<Health>) {
    let registry = d.host.registry();
    let config = d.config_status();
    let refused = registry.errors.len();
    let database = d.store_up();
    let status = if d.shutting_down() {
        "shutting_down"
    } else if !database {
        "unreachable"
    } else if config.last_error.is_some() || refused > 0 {
        "degraded"
    } else {
        "ok"
    };
    let operator = d.authorize(&headers) == Ok(Caller::Operator);
    let details = operator.then(|| HealthDetails {
        jobs: d.host.config().jobs.len(),
        runs_in_progress: d.running_count(),
        plugins_served: registry.all().count(),
        plugins_refused: refused,
        config_path: config.path.display().to_string(),
        config_loaded_at: config.loaded_at,
        config_error: config.last_error.as_deref().map(without_quoted_lines),
        config_error_at: config.last_error_at,
    });
    let code = if database {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let health = Health {
        status: status.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        started_at: d.started_at,
        node: d.node.clone(),
        database: if database { "ok" } else { "unreachable" }.into(),
        details,
    };
    (code, Json(health))
}

#[utoipa::path(get, path = "/metrics", tag = "daemon",
    responses((status = 200, description = "Prometheus text format; a tenant token gets its own tenant's runs, durations and records only", content_type = "text/plain", body = String)),
    security(("bearer" = [])))]
pub async fn metrics(
    State(d): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> impl IntoResponse {
    let text = match caller.tenant() {
        None => d.metrics.encode(),
        Some(tenant) => d.metrics.encode_for_tenant(tenant),
    };
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
}
