//! `[jobs.credentials.NAME]`: how the host authenticates brokered HTTP
//! requests for a job. A plugin names a credential in `request.credential`;
//! the host looks it up here and adds it, so the plugin never holds the
//! secret.
//!
//! ```toml
//! [jobs.credentials.graph]
//! type = "oauth2_client_credentials"
//! token_url = "https://login.microsoftonline.com/<tenant id>/oauth2/v2.0/token"
//! client_id = "..."
//! client_secret = { env = "GRAPH_SECRET" }
//! scope = "https://graph.microsoft.com/.default"
//!
//! [jobs.credentials.okta]
//! type = "header"                # Authorization: SSWS <token>
//! prefix = "SSWS "
//! token = { env = "OKTA_TOKEN" }
//!
//! [jobs.credentials.csv]
//! type = "basic"
//! username = "sync"
//! password = { env = "CSV_PASSWORD" }
//! ```

use anyhow::{bail, Result};
use serde::Deserialize;

use super::JobConfig;
use crate::secret::Secret;

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// OAuth2 client credentials: the host fetches (and caches) a bearer token.
    #[serde(rename = "oauth2_client_credentials")]
    OAuth2ClientCredentials,
    /// A static token in a header, e.g. `Authorization: SSWS <token>`.
    Header,
    /// HTTP basic authentication.
    Basic,
}

/// One flat table for every kind (so errors can name the missing key);
/// [`validate_job`] checks that each kind has what it needs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    #[serde(rename = "type")]
    pub kind: CredentialKind,
    // oauth2_client_credentials
    /// The token endpoint; or give `authority` + `tenant` for Entra ID.
    pub token_url: Option<String>,
    /// e.g. `https://login.microsoftonline.com`; with `tenant` makes
    /// `<authority>/<tenant>/oauth2/v2.0/token`.
    pub authority: Option<String>,
    pub tenant: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub scope: Option<String>,
    // header
    /// Header name (default `Authorization`).
    pub header: Option<String>,
    /// Put before the token, e.g. `"SSWS "` or `"Bearer "`.
    #[serde(default)]
    pub prefix: String,
    pub token: Option<Secret>,
    // basic
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// Origins this credential may be sent to (default: every origin the
    /// job grants in `[jobs.grants] http`).
    #[serde(default)]
    pub send_to: Vec<String>,
}

impl Credential {
    /// The token endpoint of an OAuth2 credential.
    pub fn token_endpoint(&self) -> Option<String> {
        if let Some(url) = &self.token_url {
            return Some(url.clone());
        }
        let authority = self.authority.as_deref()?.trim_end_matches('/');
        Some(format!(
            "{authority}/{}/oauth2/v2.0/token",
            self.tenant.as_deref()?
        ))
    }

    /// A static bearer token (how a name in the job's `secrets` table is
    /// used when a plugin names it as a credential).
    pub fn bearer(secret: Secret) -> Credential {
        Credential {
            kind: CredentialKind::Header,
            token_url: None,
            authority: None,
            tenant: None,
            client_id: None,
            client_secret: None,
            scope: None,
            header: None,
            prefix: "Bearer ".into(),
            token: Some(secret),
            username: None,
            password: None,
            send_to: Vec::new(),
        }
    }
}

fn is_origin(s: &str) -> bool {
    reqwest::Url::parse(s)
        .ok()
        .is_some_and(|u| u.host_str().is_some() && matches!(u.scheme(), "http" | "https"))
}

/// Each credential of job `i` has the keys its `type` needs.
pub(super) fn validate_job(i: usize, job: &JobConfig) -> Result<()> {
    for (name, c) in &job.credentials {
        let key = format!("jobs[{i}].credentials.{name}");
        let need = |what: &str, present: bool| -> Result<()> {
            if !present {
                bail!("{key}: type = {:?} needs `{what}`", kind_name(c.kind));
            }
            Ok(())
        };
        match c.kind {
            CredentialKind::OAuth2ClientCredentials => {
                need("client_id", c.client_id.is_some())?;
                need("client_secret", c.client_secret.is_some())?;
                let Some(url) = c.token_endpoint() else {
                    bail!("{key}: set `token_url`, or `authority` and `tenant`");
                };
                if !is_origin(&url) {
                    bail!(
                        "{key}: token endpoint {:?} is not an http(s) URL",
                        super::safe_url(&url)
                    );
                }
            }
            CredentialKind::Header => need("token", c.token.is_some())?,
            CredentialKind::Basic => {
                need("username", c.username.is_some())?;
                need("password", c.password.is_some())?;
            }
        }
        if let Some(h) = &c.header {
            if reqwest::header::HeaderName::from_bytes(h.as_bytes()).is_err() {
                bail!("{key}.header = {h:?} is not a valid header name");
            }
        }
        for (n, origin) in c.send_to.iter().enumerate() {
            if !is_origin(origin) {
                bail!(
                    "{key}.send_to[{n}] = {:?} is not an origin like \"https://graph.microsoft.com\"",
                    super::safe_url(origin)
                );
            }
        }
    }
    if let Some(ca) = &job.grants.http_ca_file {
        if ca.as_os_str().is_empty() {
            bail!("jobs[{i}].grants.http_ca_file is empty; give a PEM file or remove the key");
        }
    }
    Ok(())
}

fn kind_name(k: CredentialKind) -> &'static str {
    match k {
        CredentialKind::OAuth2ClientCredentials => "oauth2_client_credentials",
        CredentialKind::Header => "header",
        CredentialKind::Basic => "basic",
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn parse(creds: &str) -> anyhow::Result<Config> {
        let text = format!(
            "[[jobs]]\nid = \"j\"\nconnector = \"graph\"\n[jobs.grants]\nhttp = [\"https://graph.example.com\"]\n{creds}"
        );
        Config::parse(&text, "test.toml", ".".into())
    }

    #[test]
    fn every_kind_parses_and_secrets_stay_hidden() {
        let c = parse(
            r#"
[jobs.credentials.graph]
type = "oauth2_client_credentials"
authority = "https://login.example.com/"
tenant = "t1"
client_id = "app"
client_secret = { value = "hunter2" }
[jobs.credentials.okta]
type = "header"
prefix = "SSWS "
token = { value = "tok" }
[jobs.credentials.csv]
type = "basic"
username = "u"
password = { env = "CSV_PW" }
send_to = ["https://files.example.com"]
"#,
        )
        .unwrap();
        let creds = &c.jobs[0].credentials;
        assert_eq!(
            creds["graph"].token_endpoint().unwrap(),
            "https://login.example.com/t1/oauth2/v2.0/token"
        );
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn the_cloud_examples_are_valid() {
        for (name, text) in [
            (
                "graph.toml",
                include_str!("../../../examples/cloud/graph.toml"),
            ),
            (
                "okta.toml",
                include_str!("../../../examples/cloud/okta.toml"),
            ),
            (
                "remote-csv.toml",
                include_str!("../../../examples/cloud/remote-csv.toml"),
            ),
        ] {
            let c = Config::parse(text, name, ".".into()).unwrap();
            assert!(!c.jobs[0].credentials.is_empty(), "{name}");
        }
    }

    #[test]
    fn missing_keys_are_named() {
        let e = parse("[jobs.credentials.okta]\ntype = \"header\"\n").unwrap_err();
        assert!(
            format!("{e:#}").contains("jobs[0].credentials.okta: type = \"header\" needs `token`"),
            "{e:#}"
        );
        let e = parse(
            "[jobs.credentials.g]\ntype = \"oauth2_client_credentials\"\nclient_id = \"a\"\nclient_secret = { value = \"s\" }\n",
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("token_url"), "{e:#}");
        let e = parse("[jobs.credentials.x]\ntype = \"kerberos\"\n").unwrap_err();
        // The value is not echoed (it could be a secret), the key and choices are.
        assert!(
            format!("{e:#}").contains("jobs[0].credentials.x.type: unknown variant"),
            "{e:#}"
        );
        assert!(format!("{e:#}").contains("`header`"), "{e:#}");
    }
}
