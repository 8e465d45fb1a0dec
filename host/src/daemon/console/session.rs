//! Console sessions: sign in with an API token, a random session id in an
//! `HttpOnly; SameSite=Strict; Path=/console` cookie, the token's digest
//! (never the token) and `Caller` in memory, a CSRF token per session.
//! A session ends on sign-out, after 8 idle hours, or as soon as its token
//! is no longer in force (a tenant deleted, a token changed).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::header::{AUTHORIZATION, COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use maud::html;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::{layout, see_other, AppState, Ctx, Flash, Shown};
use crate::daemon::api::auth::{digest, Caller};
use crate::daemon::{lock, Daemon};

const COOKIE_NAME: &str = "usersync_console";
const LOGIN_COOKIE: &str = "usersync_console_login";
const IDLE: Duration = Duration::from_secs(8 * 3600);
const MAX_SESSIONS: usize = 10_000;

struct Session {
    /// `None` when no token is configured (loopback-only daemon).
    digest: Option<[u8; 32]>,
    caller: Caller,
    csrf: String,
    last_seen: Instant,
    flash: Option<Flash>,
}

#[derive(Default)]
pub struct Sessions(Mutex<HashMap<String, Session>>);

/// 32 random bytes as hex.
fn random_id() -> String {
    let mut b = [0u8; 32];
    getrandom::getrandom(&mut b).expect("the OS random source");
    hex::encode(b)
}

/// Constant-time equality of two strings.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn set_cookie(name: &str, value: &str, max_age: Option<u64>) -> HeaderValue {
    let age = max_age
        .map(|s| format!("; Max-Age={s}"))
        .unwrap_or_default();
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/console; HttpOnly; SameSite=Strict{age}"
    ))
    .expect("a valid cookie")
}

impl Sessions {
    /// The session of a request: (id, caller, CSRF token, flash message).
    pub(super) fn resolve(
        &self,
        d: &Daemon,
        headers: &HeaderMap,
    ) -> Option<(String, Caller, String, Option<Flash>)> {
        let sid = cookie(headers, COOKIE_NAME)?;
        let mut sessions = lock(&self.0);
        let s = sessions.get_mut(&sid)?;
        let tokens = d.tokens.load();
        let valid = match &s.digest {
            Some(dg) => tokens.knows(dg),
            None => !tokens.has_operator(),
        };
        if !valid || s.last_seen.elapsed() > IDLE {
            sessions.remove(&sid);
            return None;
        }
        s.last_seen = Instant::now();
        let flash = s.flash.take();
        Some((sid, s.caller.clone(), s.csrf.clone(), flash))
    }

    pub(super) fn set_flash(&self, sid: &str, flash: Flash) {
        if let Some(s) = lock(&self.0).get_mut(sid) {
            s.flash = Some(flash);
        }
    }

    fn start(&self, digest: Option<[u8; 32]>, caller: Caller) -> String {
        let sid = random_id();
        let mut sessions = lock(&self.0);
        sessions.retain(|_, s| s.last_seen.elapsed() <= IDLE);
        if sessions.len() >= MAX_SESSIONS {
            if let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(k, _)| k.clone())
            {
                sessions.remove(&oldest);
            }
        }
        sessions.insert(
            sid.clone(),
            Session {
                digest,
                caller,
                csrf: random_id(),
                last_seen: Instant::now(),
                flash: None,
            },
        );
        sid
    }

    fn end(&self, sid: &str) {
        lock(&self.0).remove(sid);
    }
}

/// The sign-in form. Its CSRF token is a double-submit pair: a random value
/// in a short-lived cookie and the same in the form.
pub async fn login_form(State(d): State<AppState>, headers: HeaderMap) -> Response {
    if d.console.resolve(&d, &headers).is_some() {
        return see_other("/console/jobs");
    }
    login_page(None, StatusCode::OK)
}

fn login_page(error: Option<&str>, status: StatusCode) -> Response {
    let nonce = random_id();
    let body = layout::bare(
        "Sign in",
        html! {
            main id="main" class="narrow" {
                h1 { "usersync console" }
                @if let Some(e) = error {
                    p role="alert" class="flash bad" id="login-error" { (e) }
                }
                form method="post" action="/console/login" class="card" {
                    input type="hidden" name="csrf" value=(nonce);
                    label for="token" { "API token" }
                    p class="hint" id="token-hint" {
                        "The operator's token (server.token or USERSYNC_API_TOKEN) or a tenant's own token; a tenant token shows only that tenant."
                    }
                    input type="password" id="token" name="token" autocomplete="current-password"
                        aria-describedby="token-hint" required autofocus;
                    button type="submit" { "Sign in" }
                }
            }
        },
    );
    let mut res = (status, body).into_response();
    res.headers_mut()
        .append(SET_COOKIE, set_cookie(LOGIN_COOKIE, &nonce, Some(600)));
    res
}

#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
    csrf: String,
}

pub async fn login(
    State(d): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let nonce = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if nonce.is_empty() || !same(&nonce, &f.csrf) {
        return login_page(
            Some("The sign-in form expired; enter the token again."),
            StatusCode::FORBIDDEN,
        );
    }
    let token = f.token.trim();
    // The API's own check: the same header the API reads.
    let mut auth = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!("Bearer {token}")) {
        auth.insert(AUTHORIZATION, v);
    }
    let caller = match d.authorize(&auth) {
        Ok(c) if !token.is_empty() || !d.tokens.load().has_operator() => c,
        _ => {
            tracing::info!("console: a sign-in with a token that is not valid");
            return login_page(Some("That token is not valid."), StatusCode::UNAUTHORIZED);
        }
    };
    let dg = d.tokens.load().has_operator().then(|| digest(token));
    tracing::info!(caller = ?caller, "console: signed in");
    let sid = d.console.start(dg, caller);
    let mut res = see_other("/console/jobs");
    let h = res.headers_mut();
    h.append(SET_COOKIE, set_cookie(COOKIE_NAME, &sid, None));
    h.append(SET_COOKIE, set_cookie(LOGIN_COOKIE, "", Some(0)));
    res
}

#[derive(Deserialize)]
pub struct CsrfForm {
    pub csrf: String,
}

pub async fn logout(ctx: Ctx, Form(f): Form<CsrfForm>) -> Result<Response, Shown> {
    ctx.check_csrf(&f.csrf)?;
    ctx.daemon.console.end(&ctx.sid);
    let mut res = see_other("/console/login");
    res.headers_mut()
        .append(SET_COOKIE, set_cookie(COOKIE_NAME, "", Some(0)));
    Ok(res)
}
