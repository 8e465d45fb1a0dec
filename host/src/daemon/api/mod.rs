//! The admin HTTP API (axum). Every answer is JSON (or Prometheus text for
//! `/metrics`); errors are `{"error": "..."}` with a message a person can act
//! on. Everything but `/health` and `/openapi.json` needs the bearer token.
//! No answer carries a secret: jobs are shown without their source, mapping
//! or secrets, and config errors without the offending line.

mod agents;
pub mod auth;
pub(crate) mod directory;
mod health;
pub(crate) mod jobs;
pub mod openapi;
pub(crate) mod plugins;
pub(crate) mod preview;
pub(crate) mod runs;
pub(crate) mod tenant_jobs;
pub(crate) mod tenant_plugins;
mod tenants;
mod verify;

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put, MethodRouter};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Serialize;
use utoipa::ToSchema;

use super::Daemon;

type AppState = Arc<Daemon>;

/// Every endpoint that needs a token, by path. The router is built from
/// this list, and a test checks it against the OpenAPI document, which the
/// cross-tenant test walks: an endpoint added here and not documented, or
/// documented and not scoped, fails a test.
pub fn protected_routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        ("/jobs", get(jobs::list)),
        ("/jobs/{id}", get(jobs::get)),
        ("/jobs/{id}/run", post(jobs::run)),
        ("/jobs/{id}/test-connection", post(jobs::test_connection)),
        ("/tenants/{tenant}/jobs", get(jobs::list_tenant)),
        ("/tenants", get(tenants::list).post(tenants::create)),
        (
            "/tenants/{tenant}",
            get(tenants::get)
                .patch(tenants::update)
                .delete(tenants::delete),
        ),
        (
            "/tenants/{tenant}/jobs/{id}",
            get(jobs::get)
                .put(tenant_jobs::put)
                .delete(tenant_jobs::delete),
        ),
        (
            "/tenants/{tenant}/plugins/{name}",
            put(tenant_plugins::put)
                .delete(tenant_plugins::delete)
                .layer(axum::extract::DefaultBodyLimit::max(
                    tenant_plugins::MAX_PLUGIN_BYTES,
                )),
        ),
        ("/tenants/{tenant}/jobs/{id}/run", post(jobs::run)),
        (
            "/tenants/{tenant}/jobs/{id}/test-connection",
            post(jobs::test_connection),
        ),
        ("/tenants/{tenant}/jobs/{id}/runs", get(runs::list_job)),
        (
            "/tenants/{tenant}/jobs/{id}/preview",
            post(preview::preview).layer(axum::extract::DefaultBodyLimit::max(
                preview::MAX_CANDIDATE_BYTES,
            )),
        ),
        ("/runs", get(runs::list)),
        ("/runs/{id}", get(runs::get)),
        ("/audit", get(runs::audit)),
        ("/plugins", get(plugins::list)),
        ("/users", get(directory::users)),
        ("/groups", get(directory::groups)),
        (
            "/tenants/{tenant}/users/{username}/deactivate",
            post(directory::deactivate),
        ),
        (
            "/tenants/{tenant}/users/{username}/restore",
            post(directory::restore),
        ),
        ("/verify-password", post(verify::verify_password)),
        ("/metrics", get(health::metrics)),
        ("/tenants/{tenant}/agents/enrollments", post(agents::enroll)),
        ("/tenants/{tenant}/agents", get(agents::list)),
        (
            "/tenants/{tenant}/agents/{id}",
            axum::routing::delete(agents::revoke),
        ),
    ]
}

/// The endpoints anyone may call.
pub const PUBLIC_ROUTES: [&str; 2] = ["/health", "/openapi.json"];

pub fn router(daemon: Arc<Daemon>) -> Router {
    let protected = protected_routes()
        .into_iter()
        .fold(Router::new(), |r, (path, route)| r.route(path, route))
        .route_layer(axum::middleware::from_fn_with_state(
            daemon.clone(),
            auth::require_token,
        ));
    Router::new()
        .route(PUBLIC_ROUTES[0], get(health::health))
        .route(PUBLIC_ROUTES[1], get(openapi::document))
        .merge(protected)
        .merge(crate::daemon::agents::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::map_response(json_errors))
        .with_state(daemon.clone())
        // The console answers HTML, so it is merged after the JSON-errors layer.
        .merge(super::console::router(daemon))
        .layer(catch_panics())
}

/// A panic in a request handler (a bug in usersync) answers that request
/// with a JSON 500 and is logged; the daemon and other requests go on.
pub fn catch_panics(
) -> tower_http::catch_panic::CatchPanicLayer<fn(Box<dyn std::any::Any + Send + 'static>) -> Response>
{
    fn answer(payload: Box<dyn std::any::Any + Send + 'static>) -> Response {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        tracing::error!("an API request panicked (a bug in usersync): {what}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error while answering this request (a bug in usersync; the daemon goes on, see its log)",
        )
        .into_response()
    }
    tower_http::catch_panic::CatchPanicLayer::custom(answer as fn(_) -> Response)
}

/// The last line of "every error is JSON": an error answer some layer or
/// extractor wrote as plain text becomes `{"error": <that text>}`, with
/// its status and other headers kept.
async fn json_errors(res: Response) -> Response {
    let status = res.status();
    let is_json = res
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return res;
    }
    let (parts, body) = res.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    let mut out = ApiError::new(status, message).into_response();
    for (name, value) in &parts.headers {
        if name != CONTENT_TYPE && name != CONTENT_LENGTH {
            out.headers_mut().append(name, value.clone());
        }
    }
    out
}

/// The answer to a DELETE: what was deleted.
#[derive(Debug, Serialize, ToSchema)]
pub struct Deleted {
    pub deleted: String,
}

/// An error answer: `{"error": message}` with a status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, and what to do about it.
    pub error: String,
    /// For `409 already running`: the run in progress.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// For `409` on a job id several tenants use: those tenants.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenants: Option<Vec<String>>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: ErrorBody {
                error: message.into(),
                run_id: None,
                tenants: None,
            },
        }
    }
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn status(&self) -> StatusCode {
        self.status
    }
    /// The error's text (what `{"error": ...}` carries).
    pub fn message(&self) -> &str {
        &self.body.error
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> ApiError {
        tracing::error!("API request failed: {e:#}");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cross-tenant e2e test walks the OpenAPI document: every route
    /// the router serves must be in it (but the document itself), and
    /// nothing else.
    #[test]
    fn every_route_is_in_the_openapi_document() {
        use utoipa::OpenApi;
        let doc = openapi::ApiDoc::openapi();
        let mut documented: Vec<&str> = doc.paths.paths.keys().map(String::as_str).collect();
        let mut served: Vec<&str> = protected_routes().iter().map(|(p, _)| *p).collect();
        served.push("/health");
        documented.sort_unstable();
        served.sort_unstable();
        assert_eq!(served, documented);
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_500_json_and_the_server_goes_on() {
        let app: Router = Router::new()
            .route("/boom", get(|| async { panic!("boom") as &'static str }))
            .route("/fine", get(|| async { "fine" }))
            .layer(catch_panics());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let client = reqwest::Client::new();
        for _ in 0..2 {
            let res = client
                .get(format!("http://{addr}/boom"))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 500);
            let body: serde_json::Value = res.json().await.unwrap();
            assert!(
                body["error"].as_str().unwrap().contains("internal error"),
                "{body}"
            );
            let res = client
                .get(format!("http://{addr}/fine"))
                .send()
                .await
                .unwrap();
            assert_eq!(res.text().await.unwrap(), "fine");
        }
        server.abort();
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

pub type ApiResult<T> = Result<Json<T>, ApiError>;

/// `Query<T>` whose rejection is a JSON error naming the bad parameter.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| ApiQuery(q))
            .map_err(|e| ApiError::bad_request(format!("bad query parameters: {}", e.body_text())))
    }
}

/// `Json<T>` whose rejection is a JSON error with the rejection's status
/// (415 without a JSON content type, 400 for bad syntax, 422 for a body
/// of the wrong shape) and what to send instead.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        Json::<T>::from_request(req, state)
            .await
            .map(|Json(body)| ApiJson(body))
            .map_err(|e| {
                let hint = match e.status() {
                    StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                        "; send the body as JSON with `Content-Type: application/json`"
                    }
                    _ => "; the API is described at /openapi.json",
                };
                ApiError::new(e.status(), format!("{}{hint}", e.body_text()))
            })
    }
}

/// `limit` (default 100, at most 1000) and `offset` of a listing.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub limit: usize,
    pub offset: usize,
}

impl Page {
    pub fn new(limit: Option<usize>, offset: Option<usize>) -> Result<Page, ApiError> {
        let limit = limit.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(ApiError::bad_request(format!(
                "limit = {limit}: use 1 to 1000"
            )));
        }
        let offset = offset.unwrap_or(0);
        if offset > 10_000_000 {
            return Err(ApiError::bad_request(format!(
                "offset = {offset}: use at most 10000000 (narrow the filters instead)"
            )));
        }
        Ok(Page { limit, offset })
    }

    /// This page of `items`, and the offset of the next page if any.
    pub fn slice<T>(&self, items: Vec<T>) -> (Vec<T>, Option<usize>) {
        let more = items.len() > self.offset + self.limit;
        let page = items
            .into_iter()
            .skip(self.offset)
            .take(self.limit)
            .collect();
        (page, more.then_some(self.offset + self.limit))
    }
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!(
        "no endpoint {method} {}; the API is described at /openapi.json",
        uri.path()
    ))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{} does not take {method}; the API is described at /openapi.json",
            uri.path()
        ),
    )
}
