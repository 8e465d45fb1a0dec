//! `agent.toml`: where the server is, how to trust it, and each job's local
//! grants and secrets (the directory's password stays on this machine).
//!
//! ```toml
//! server = "https://sync.example.com"
//! ca_file = "ca.pem"                 # a private CA; TLS is always verified
//! [jobs.people]                      # the job id on the server
//! input_dir = "/srv/export"
//! [jobs.people.ldap]
//! url = "ldaps://dc1.corp.example:636"
//! bind_dn = "cn=sync,dc=corp,dc=example"
//! bind_password = { env = "LDAP_PASSWORD" }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::config::{bounds::check_range, Credential, LdapConnection};
use crate::runtime::Grant;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// The hosted usersync, `https://host[:port]`.
    pub server: Option<String>,
    /// Extra PEM CA certificate(s) trusted for the server.
    pub ca_file: Option<PathBuf>,
    /// Where the agent's credential is kept (owner-only); default
    /// `agent.credential` beside this file.
    pub credential_file: Option<PathBuf>,
    /// Downloaded plugins and their compiled code; default `agent-cache`.
    pub cache_dir: Option<PathBuf>,
    /// The name the agent enrols with (default: the host name).
    pub name: Option<String>,
    /// How long one poll waits for work (1 to 60 s).
    #[serde(default = "default_poll")]
    pub poll_seconds: u64,
    /// The size a batch of records is sent at (16 KiB to 64 MiB; the
    /// server's own maximum wins).
    #[serde(default = "default_batch_kb")]
    pub batch_kb: u64,
    /// Runs at once (1 to 16).
    #[serde(default = "default_runs")]
    pub max_concurrent_runs: u32,
    #[serde(default)]
    pub jobs: BTreeMap<String, AgentJob>,
    #[serde(skip)]
    pub base_dir: PathBuf,
}

fn default_poll() -> u64 {
    25
}
fn default_batch_kb() -> u64 {
    1024
}
fn default_runs() -> u32 {
    2
}

/// One job's local side: what its connector may reach, with which secrets.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentJob {
    pub input_dir: Option<PathBuf>,
    #[serde(default)]
    pub http: Vec<String>,
    pub http_ca_file: Option<PathBuf>,
    pub ldap: Option<LdapConnection>,
    #[serde(default)]
    pub credentials: BTreeMap<String, Credential>,
}

impl AgentConfig {
    pub fn load(path: &Path) -> Result<AgentConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the agent config {}", path.display()))?;
        let mut config: AgentConfig = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message()))?;
        config.base_dir = std::path::absolute(path)?
            .parent()
            .unwrap_or(Path::new("."))
            .to_path_buf();
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<()> {
        check_range("poll_seconds", self.poll_seconds, 1, 60)?;
        check_range("batch_kb", self.batch_kb, 16, 64 * 1024)?;
        check_range("max_concurrent_runs", self.max_concurrent_runs, 1, 16)?;
        if let Some(s) = &self.server {
            server_url(s)?;
        }
        for (id, job) in &self.jobs {
            if let Some(ldap) = &job.ldap {
                ldap.validate(&format!("jobs.{id}.ldap"))?;
            }
        }
        Ok(())
    }

    pub fn resolve(&self, p: &Path) -> PathBuf {
        self.base_dir.join(p)
    }

    pub fn credential_path(&self) -> PathBuf {
        self.resolve(
            self.credential_file
                .as_deref()
                .unwrap_or(Path::new("agent.credential")),
        )
    }

    pub fn cache_path(&self) -> PathBuf {
        self.resolve(
            self.cache_dir
                .as_deref()
                .unwrap_or(Path::new("agent-cache")),
        )
    }

    /// The grant of job `id`'s connector: what this machine lets it reach.
    pub fn grant(&self, id: &str) -> Option<Grant> {
        let job = self.jobs.get(id)?;
        Some(Grant {
            input_dir: job.input_dir.as_ref().map(|d| self.resolve(d)),
            http: job.http.clone(),
            http_ca_file: job.http_ca_file.as_ref().map(|f| self.resolve(f)),
            http_credentials: job.credentials.clone(),
            ldap: job.ldap.clone().map(|mut l| {
                l.ca_file = l.ca_file.map(|f| self.resolve(&f));
                l
            }),
        })
    }
}

/// The server's base URL, which must be HTTPS.
pub fn server_url(s: &str) -> Result<url::Url> {
    let url = url::Url::parse(s.trim_end_matches('/'))
        .with_context(|| format!("server = {s:?} is not a URL like https://sync.example.com"))?;
    if url.scheme() != "https" {
        bail!("server = {s:?}: the agent talks to the server over HTTPS only (https://...)");
    }
    if !url.username().is_empty() || url.password().is_some() {
        bail!("server: a URL with a user name or password is refused; the agent authenticates with its credential");
    }
    Ok(url)
}
