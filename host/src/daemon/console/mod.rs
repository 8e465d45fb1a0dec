//! The admin console: server-rendered HTML (maud) at `/console`, on the
//! API's listener. A person signs in with an API token (the operator's or a
//! tenant's); the session cookie carries a random id, never the token, and
//! maps to the token's digest and `Caller` in memory. Every page calls the
//! API's own handler functions with that `Caller`, so it sees and may do
//! exactly what the same token may through the API. Forms carry a per-session
//! CSRF token; every answer has a strict Content-Security-Policy (no inline
//! script or style: the CSS and JS are files embedded in the binary).

mod diff;
mod jobs;
mod layout;
mod licenses;
mod plugins;
mod runs;
mod session;
mod users;

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::Markup;

pub use diff::DryRuns;
pub use session::Sessions;

use super::api::auth::Caller;
use super::api::ApiError;
use super::Daemon;

type AppState = Arc<Daemon>;

const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

pub fn router(daemon: Arc<Daemon>) -> Router {
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/jobs") }))
        .route("/console/", get(|| async { Redirect::to("/console/jobs") }))
        .route(
            "/console/login",
            get(session::login_form).post(session::login),
        )
        .route("/console/logout", post(session::logout))
        .route("/console/assets/console.css", get(css))
        .route("/console/assets/console.js", get(js))
        .route("/console/jobs", get(jobs::list))
        .route("/console/jobs/{tenant}/{id}", get(jobs::detail))
        .route("/console/jobs/{tenant}/{id}/run", post(jobs::run))
        .route("/console/jobs/{tenant}/{id}/test", post(jobs::test))
        .route("/console/jobs/{tenant}/{id}/edit", post(jobs::edit))
        .route("/console/runs", get(runs::list))
        .route("/console/runs/{id}", get(runs::detail))
        .route("/console/runs/{id}/progress", get(runs::progress))
        .route("/console/users", get(users::list))
        .route("/console/users/{tenant}/{username}", get(users::detail))
        .route(
            "/console/users/{tenant}/{username}/deactivate",
            post(users::deactivate),
        )
        .route(
            "/console/users/{tenant}/{username}/restore",
            post(users::restore),
        )
        .route("/console/plugins", get(plugins::list))
        .route(
            "/console/plugins/upload",
            post(plugins::upload).layer(axum::extract::DefaultBodyLimit::max(
                super::api::tenant_plugins::MAX_PLUGIN_BYTES + (1 << 20),
            )),
        )
        .route(
            "/console/plugins/preview",
            post(plugins::preview).layer(axum::extract::DefaultBodyLimit::max(
                super::api::preview::MAX_CANDIDATE_BYTES + (1 << 20),
            )),
        )
        .route("/console/licenses", get(licenses::list))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(daemon)
}

/// Every console answer: no framing, no sniffing, no caching, no referrer,
/// and the strict CSP.
async fn security_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.entry(CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    res
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

async fn js() -> Response {
    asset("text/javascript; charset=utf-8", JS)
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static(kind)),
            (CACHE_CONTROL, HeaderValue::from_static("max-age=300")),
        ],
        body,
    )
        .into_response()
}

/// The signed-in person behind a console request: who they are to the API
/// (`caller`), the session's CSRF token and a message from the last action.
pub struct Ctx {
    pub daemon: Arc<Daemon>,
    pub caller: Caller,
    pub csrf: String,
    pub sid: String,
    pub flash: Option<Flash>,
}

#[derive(Debug, Clone)]
pub struct Flash {
    pub ok: bool,
    pub text: String,
}

impl Ctx {
    /// Refuse a form whose CSRF token is not this session's.
    pub fn check_csrf(&self, presented: &str) -> Result<(), Shown> {
        if session::same(presented, &self.csrf) {
            Ok(())
        } else {
            Err(Shown::new(
                StatusCode::FORBIDDEN,
                "this form is out of date or did not come from the console (CSRF check); reload the page and try again",
            ))
        }
    }

    /// Show `text` on the next page this session opens.
    pub fn flash(&self, ok: bool, text: impl Into<String>) {
        self.daemon.console.set_flash(
            &self.sid,
            Flash {
                ok,
                text: text.into(),
            },
        );
    }

    pub fn tenant_only(&self) -> Option<&str> {
        self.caller.tenant()
    }
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, d: &AppState) -> Result<Ctx, Response> {
        match d.console.resolve(d, &parts.headers) {
            Some((sid, caller, csrf, flash)) => Ok(Ctx {
                daemon: d.clone(),
                caller,
                csrf,
                sid,
                flash,
            }),
            None => Err(Redirect::to("/console/login").into_response()),
        }
    }
}

/// An error page: the API's status and message.
#[derive(Debug)]
pub struct Shown {
    pub status: StatusCode,
    pub message: String,
}

impl Shown {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Shown {
        Shown {
            status,
            message: message.into(),
        }
    }
}

impl From<ApiError> for Shown {
    fn from(e: ApiError) -> Shown {
        Shown::new(e.status(), e.message())
    }
}

impl From<anyhow::Error> for Shown {
    fn from(e: anyhow::Error) -> Shown {
        Shown::from(ApiError::from(e))
    }
}

impl IntoResponse for Shown {
    fn into_response(self) -> Response {
        let title = self
            .status
            .canonical_reason()
            .unwrap_or("Error")
            .to_string();
        let body = layout::bare(
            &title,
            maud::html! {
                main id="main" class="narrow" {
                    h1 { (title) }
                    p role="alert" class="flash bad" { (self.message) }
                    p { a href="/console/jobs" { "Back to the jobs" } }
                }
            },
        );
        (self.status, body).into_response()
    }
}

pub type Page = Result<Markup, Shown>;

/// A redirect after a POST (303: the browser follows with GET).
pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// Percent-encode one path segment.
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
