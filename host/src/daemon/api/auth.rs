//! Bearer-token authentication and who the caller is. The operator token
//! (`USERSYNC_API_TOKEN` or `server.token`) sees every tenant; a tenant's
//! own token (`[[tenants]] token`) sees only that tenant. Only SHA-256
//! digests are kept, and a presented token is compared in constant time
//! with every known digest (hashing first also hides the length).

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

/// Whom a request speaks for; handlers scope what they show by it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The operator token (or no token configured, loopback only): every tenant.
    Operator,
    /// A tenant's own token: that tenant only.
    Tenant(String),
}

impl Caller {
    /// Whether this caller may see `tenant`'s jobs, runs and users.
    pub fn sees(&self, tenant: &str) -> bool {
        match self {
            Caller::Operator => true,
            Caller::Tenant(own) => own == tenant,
        }
    }

    /// The tenant a tenant token is limited to.
    pub fn tenant(&self) -> Option<&str> {
        match self {
            Caller::Operator => None,
            Caller::Tenant(t) => Some(t),
        }
    }
}

/// The digests of the tokens in force.
#[derive(Debug, Default)]
pub struct Tokens {
    operator: Option<[u8; 32]>,
    tenants: Vec<(String, [u8; 32])>,
}

impl Tokens {
    pub fn has_operator(&self) -> bool {
        self.operator.is_some()
    }

    /// Accept `digest` as `tenant`'s token (a tenant made through the API);
    /// `false`, and not accepted, if it equals another token or there is no
    /// operator token (then every request is the operator's anyway).
    pub(crate) fn add_tenant(&mut self, tenant: String, digest: [u8; 32]) -> bool {
        if self.operator.is_none()
            || self.operator == Some(digest)
            || self.tenants.iter().any(|(_, t)| *t == digest)
        {
            return false;
        }
        self.tenants.push((tenant, digest));
        true
    }

    /// Whether `digest` is any token in force.
    pub(crate) fn knows(&self, digest: &[u8; 32]) -> bool {
        self.operator.as_ref() == Some(digest) || self.tenants.iter().any(|(_, t)| t == digest)
    }
}

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

/// Every token in force: the operator's and each tenant's. Refused with
/// the key at fault: a short tenant token, one that equals another token,
/// or tenant tokens without an operator token (then a request without any
/// token would see every tenant, which makes tenant tokens pointless).
pub fn resolve_tokens(config: &Config) -> Result<Tokens> {
    let operator = resolve_token(config)?;
    let mut tokens = Tokens {
        operator: operator.as_deref().map(digest),
        tenants: Vec::new(),
    };
    for (i, tenant) in config.tenants.iter().enumerate() {
        let Some(secret) = &tenant.token else {
            continue;
        };
        let key = format!("tenants[{i}].token (tenant {:?})", tenant.id);
        let token = secret.reveal().with_context(|| key.clone())?;
        if token.trim().len() < 16 {
            bail!("{key} is too short: use at least 16 characters");
        }
        let d = digest(token.trim());
        if tokens.operator == Some(d) || tokens.tenants.iter().any(|(_, t)| *t == d) {
            bail!("{key} is the same as another API token: give every tenant, and the operator, a token of its own");
        }
        tokens.tenants.push((tenant.id.clone(), d));
    }
    if tokens.operator.is_none() && !tokens.tenants.is_empty() {
        bail!(
            "tenants have API tokens but there is no operator token: set server.token \
             (e.g. token = \"env:USERSYNC_API_TOKEN\") or {TOKEN_ENV}; without it a request \
             with no token at all would see every tenant"
        );
    }
    Ok(tokens)
}

pub(crate) fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Daemon {
    pub(crate) fn set_tokens(&self, tokens: Tokens) {
        self.tokens.store(Arc::new(tokens));
    }

    /// Who the request speaks for, or why it may not use the API.
    pub(crate) fn authorize(&self, headers: &HeaderMap) -> Result<Caller, &'static str> {
        let tokens = self.tokens.load();
        let Some(operator) = tokens.operator else {
            // No token configured: loopback only (checked at start), and
            // no tenant tokens either (checked by `resolve_tokens`).
            return Ok(Caller::Operator);
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
        let presented = digest(presented);
        // Every digest is compared, whichever matches.
        let mut caller = None;
        if bool::from(presented.ct_eq(&operator)) {
            caller = Some(Caller::Operator);
        }
        for (tenant, d) in &tokens.tenants {
            if bool::from(presented.ct_eq(d)) {
                caller = Some(Caller::Tenant(tenant.clone()));
            }
        }
        caller.ok_or("the API token is not valid")
    }
}

/// Middleware: refuse requests without a valid token; otherwise hand the
/// handlers the `Caller`.
pub async fn require_token(
    State(daemon): State<Arc<Daemon>>,
    mut req: Request,
    next: Next,
) -> Response {
    let mut authorized = daemon.authorize(req.headers());
    if authorized.is_err() || daemon.names_unknown(req.uri().path()) {
        // Made through another node a moment ago? Catch up before saying no.
        daemon.catch_up_managed().await;
        authorized = daemon.authorize(req.headers());
    }
    match authorized {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(message) => {
            let mut res = ApiError::new(StatusCode::UNAUTHORIZED, message).into_response();
            res.headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            res
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        Config::parse(text, "usersync.toml", ".".into()).unwrap()
    }

    #[test]
    fn tenant_tokens_need_an_operator_token_and_must_differ() {
        let base = "[server]\ntoken = \"operator-token-0123456789\"\n";
        let short = config(&format!(
            "{base}[[tenants]]\nid = \"acme\"\ntoken = \"short\"\n"
        ));
        let err = format!("{:#}", resolve_tokens(&short).unwrap_err());
        assert!(
            err.contains("tenants[0].token") && err.contains("16"),
            "{err}"
        );

        let same = config(&format!(
            "{base}[[tenants]]\nid = \"acme\"\ntoken = \"operator-token-0123456789\"\n"
        ));
        let err = format!("{:#}", resolve_tokens(&same).unwrap_err());
        assert!(err.contains("same as another"), "{err}");
        assert!(
            !err.contains("operator-token-0123456789"),
            "no token in errors: {err}"
        );

        if std::env::var(TOKEN_ENV).is_err() {
            let no_operator =
                config("[[tenants]]\nid = \"acme\"\ntoken = \"acme-token-0123456789\"\n");
            let err = format!("{:#}", resolve_tokens(&no_operator).unwrap_err());
            assert!(err.contains("no operator token"), "{err}");
        }
    }
}
