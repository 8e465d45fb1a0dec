//! Credential injection by reference: a plugin names a credential, the host
//! turns it into a header. OAuth2 client-credentials tokens are fetched from
//! the configured token endpoint and cached (process-wide, keyed by tenant,
//! job, credential and a hash of its settings) until shortly before they
//! expire, so consecutive runs of a job reuse one token.
//!
//! The token endpoint comes from the operator's config, not from the plugin,
//! so it does not need to be in `[jobs.grants] http`: the plugin still
//! cannot reach it, only the host can.

use std::collections::{BTreeMap, HashMap};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::Url;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::broker::{origin, read_body};
use crate::config::{Credential, CredentialKind};
use crate::runtime::job::CallContext;

/// Token answers are small; anything bigger is not a token endpoint.
const MAX_TOKEN_RESPONSE: usize = 64 * 1024;
/// Refresh this long before the token says it expires.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);
/// Tokens are fetched again at least daily, whatever the server says.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

struct CachedToken {
    value: String,
    expires: Instant,
}

static TOKENS: LazyLock<Mutex<HashMap<[u8; 32], CachedToken>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// A configured credential, ready to be injected.
pub struct Named {
    name: String,
    key: String,
    cred: Credential,
    /// Where it may go (its `send_to`, else every granted origin).
    origins: Vec<String>,
    /// Token-cache key; changes whenever a setting or the secret changes.
    cache_key: [u8; 32],
}

impl Named {
    pub fn header_name(&self) -> &str {
        match self.cred.kind {
            CredentialKind::Header => self.cred.header.as_deref().unwrap_or("authorization"),
            _ => "authorization",
        }
    }

    pub fn is_oauth2(&self) -> bool {
        self.cred.kind == CredentialKind::OAuth2ClientCredentials
    }
}

pub struct Injector {
    job: String,
    creds: BTreeMap<String, Named>,
}

impl Injector {
    pub fn new(
        ctx: &CallContext,
        creds: &BTreeMap<String, Credential>,
        granted: &[String],
    ) -> Self {
        let creds = creds
            .iter()
            .map(|(name, cred)| {
                let origins = if cred.send_to.is_empty() {
                    granted.to_vec()
                } else {
                    cred.send_to
                        .iter()
                        .filter_map(|o| Url::parse(o).ok().as_ref().and_then(origin))
                        .collect()
                };
                let mut h = Sha256::new();
                for part in [&ctx.tenant, &ctx.job, name] {
                    h.update(part.as_bytes());
                    h.update([0]);
                }
                h.update(format!("{cred:?}").as_bytes()); // settings; the secret prints as ***
                if let Some(secret) = cred.client_secret.as_ref().and_then(|s| s.reveal().ok()) {
                    h.update(secret.as_bytes());
                }
                let named = Named {
                    name: name.clone(),
                    key: format!("jobs.credentials.{name}"),
                    cred: cred.clone(),
                    origins,
                    cache_key: h.finalize().into(),
                };
                (name.clone(), named)
            })
            .collect();
        Injector {
            job: ctx.job.clone(),
            creds,
        }
    }

    /// The credential `name`, if the job configures it and may send it to `origin`.
    pub fn pick(&self, name: &str, origin: &str) -> Result<&Named, String> {
        let c = self.creds.get(name).ok_or_else(|| {
            format!(
                "credential {name:?} is not configured for job {:?}; add [jobs.credentials.{name}] with type = \"oauth2_client_credentials\", \"header\" or \"basic\"",
                self.job
            )
        })?;
        if !c.origins.iter().any(|o| o == origin) {
            return Err(format!(
                "credential {name:?} may not be sent to {origin}; it goes only to {} ({}.send_to)",
                c.origins.join(", "),
                c.key
            ));
        }
        Ok(c)
    }

    /// The header that authenticates a request with `c`.
    pub async fn header(
        &self,
        c: &Named,
        client: &reqwest::Client,
    ) -> Result<(HeaderName, HeaderValue), String> {
        let reveal = |s: &Option<crate::secret::Secret>, what: &str| {
            s.as_ref()
                .ok_or_else(|| format!("{}: no `{what}`", c.key))?
                .reveal()
                .map_err(|e| format!("{}.{what}: {e}", c.key))
        };
        let value = match c.cred.kind {
            CredentialKind::Header => {
                format!("{}{}", c.cred.prefix, reveal(&c.cred.token, "token")?)
            }
            CredentialKind::Basic => {
                let user = c.cred.username.clone().unwrap_or_default();
                let pass = reveal(&c.cred.password, "password")?;
                format!("Basic {}", STANDARD.encode(format!("{user}:{pass}")))
            }
            CredentialKind::OAuth2ClientCredentials => {
                format!("Bearer {}", self.token(c, client).await?)
            }
        };
        let name = HeaderName::from_bytes(c.header_name().as_bytes())
            .map_err(|_| format!("{}.header is not a valid header name", c.key))?;
        let mut value = HeaderValue::from_str(&value)
            .map_err(|_| format!("{}: the secret is not usable in an HTTP header", c.key))?;
        value.set_sensitive(true);
        Ok((name, value))
    }

    /// Drop a cached token (the server refused it).
    pub fn forget(&self, c: &Named) {
        TOKENS.lock().expect("token cache").remove(&c.cache_key);
    }

    async fn token(&self, c: &Named, client: &reqwest::Client) -> Result<String, String> {
        if let Some(t) = TOKENS.lock().expect("token cache").get(&c.cache_key) {
            if t.expires > Instant::now() {
                return Ok(t.value.clone());
            }
        }
        let (value, lifetime) = fetch_token(c, client).await?;
        let lifetime = if lifetime > EXPIRY_MARGIN * 2 {
            lifetime - EXPIRY_MARGIN
        } else {
            lifetime / 2
        };
        TOKENS.lock().expect("token cache").insert(
            c.cache_key,
            CachedToken {
                value: value.clone(),
                // A token server's absurd `expires_in` must not overflow.
                expires: Instant::now()
                    .checked_add(lifetime.min(MAX_TOKEN_LIFETIME))
                    .unwrap_or_else(Instant::now),
            },
        );
        tracing::debug!(credential = %c.name, lifetime_s = lifetime.as_secs(), "fetched an OAuth2 token");
        Ok(value)
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    expires_in: Option<serde_json::Value>,
    error: Option<String>,
    error_description: Option<String>,
}

/// POST the client credentials to the token endpoint (RFC 6749 §4.4).
async fn fetch_token(c: &Named, client: &reqwest::Client) -> Result<(String, Duration), String> {
    let url = c
        .cred
        .token_endpoint()
        .ok_or_else(|| format!("{}: no token_url", c.key))?;
    let endpoint = Url::parse(&url)
        .ok()
        .and_then(|u| origin(&u))
        .unwrap_or_else(|| url.clone());
    let secret = c
        .cred
        .client_secret
        .as_ref()
        .ok_or_else(|| format!("{}: no client_secret", c.key))?
        .reveal()
        .map_err(|e| format!("{}.client_secret: {e}", c.key))?;
    let mut form = vec![
        ("grant_type", "client_credentials".to_string()),
        ("client_id", c.cred.client_id.clone().unwrap_or_default()),
        ("client_secret", secret.clone()),
    ];
    if let Some(scope) = &c.cred.scope {
        form.push(("scope", scope.clone()));
    }
    let resp = client.post(&url).form(&form).send().await.map_err(|e| {
        format!(
            "credential {:?}: the token endpoint {endpoint} could not be reached: {} ({}.token_url)",
            c.name,
            super::broker::describe(&e),
            c.key
        )
    })?;
    let status = resp.status();
    let body = read_body(resp, MAX_TOKEN_RESPONSE, &endpoint).await?;
    let answer: Option<TokenAnswer> = serde_json::from_slice(&body).ok();
    let answer = match answer {
        Some(a) if status.is_success() && a.access_token.is_some() => a,
        other => {
            let reason = other
                .map(|a| {
                    let mut r = a.error.unwrap_or_default();
                    if let Some(d) = a.error_description {
                        r.push_str(": ");
                        r.push_str(d.lines().next().unwrap_or_default());
                    }
                    r
                })
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| "no access_token in the answer".into());
            // Never echo the secret, even if a server were to.
            let reason: String = reason.replace(&secret, "***").chars().take(300).collect();
            return Err(format!(
                "credential {:?}: the token endpoint {endpoint} refused the client credentials (HTTP {}): {reason}; check {}.client_id and client_secret",
                c.name,
                status.as_u16(),
                c.key
            ));
        }
    };
    let seconds = match &answer.expires_in {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.parse().ok(),
        _ => None,
    }
    .unwrap_or(300);
    Ok((
        answer.access_token.expect("checked"),
        Duration::from_secs(seconds),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_to_limits_where_a_credential_goes() {
        let cred: Credential = toml::from_str(
            "type = \"header\"\ntoken = { value = \"t\" }\nsend_to = [\"https://a.example.com\"]",
        )
        .unwrap();
        let creds = BTreeMap::from([("k".to_string(), cred)]);
        let granted = vec![
            "https://a.example.com:443".into(),
            "https://b.example.com:443".into(),
        ];
        let inj = Injector::new(&CallContext::default(), &creds, &granted);
        assert!(inj.pick("k", "https://a.example.com:443").is_ok());
        let e = inj.pick("k", "https://b.example.com:443").err().unwrap();
        assert!(e.contains("jobs.credentials.k.send_to"), "{e}");
    }
}
