//! Bearer-token authentication. The token comes from `USERSYNC_API_TOKEN`
//! or `server.token`; only its SHA-256 is kept, and a presented token is
//! compared in constant time (hashing first also hides the length).

use std::sync::Arc;

use anyhow::{bail, Context, Result};
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::ApiError;
use crate::config::Config;
use crate::daemon::Daemon;

pub const TOKEN_ENV: &str = "USERSYNC_API_TOKEN";

/// The API token: `USERSYNC_API_TOKEN` if set, else `server.token`.
pub fn resolve_token(config: &Config) -> Result<Option<String>> {
    let token = match std::env::var(TOKEN_ENV) {
        Ok(t) if !t.is_empty() => Some(t),
        _ => match &config.server.token {
            Some(secret) => Some(secret.reveal().context("server.token")?),
            None => None,
        },
    };
    if token.as_deref().is_some_and(|t| t.trim().len() < 16) {
        bail!(
            "the API token (server.token or {TOKEN_ENV}) is too short: use at least 16 characters"
        );
    }
    Ok(token)
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Daemon {
    pub(crate) fn set_token(&self, token: Option<&str>) {
        self.token.store(token.map(|t| Arc::new(digest(t))));
    }

    /// `Ok` if the request may use the API.
    pub(crate) fn authorize(&self, headers: &HeaderMap) -> Result<(), &'static str> {
        let Some(expected) = self.token.load_full() else {
            return Ok(()); // no token configured: loopback only (checked at start)
        };
        let presented = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim);
        let Some(presented) = presented else {
            return Err("this endpoint needs the API token: send `Authorization: Bearer <token>` (the token is server.token in the config, or USERSYNC_API_TOKEN)");
        };
        if bool::from(digest(presented).ct_eq(&*expected)) {
            Ok(())
        } else {
            Err("the API token is not valid")
        }
    }
}

/// Middleware: refuse requests without the right token.
pub async fn require_token(
    State(daemon): State<Arc<Daemon>>,
    req: Request,
    next: Next,
) -> Response {
    match daemon.authorize(req.headers()) {
        Ok(()) => next.run(req).await,
        Err(message) => {
            let mut res = ApiError::new(StatusCode::UNAUTHORIZED, message).into_response();
            res.headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            res
        }
    }
}
