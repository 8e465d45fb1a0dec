//! The TOML configuration: store, plugins, limits, tenants and jobs.
//!
//! Errors name the file and the key at fault. Relative paths are resolved
//! against the folder that holds the config file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::secret::Secret;

pub mod bounds;
mod credentials;
mod daemon;
mod job;
mod ldap;
pub mod limits;
pub mod managed;
pub mod origins;
mod parse_error;
mod plugins;
pub use credentials::{Credential, CredentialKind};
pub use daemon::{RetryPolicy, ServerConfig};
pub use job::*;
pub use ldap::{LdapConnection, TlsMode};
pub use limits::Limits;
pub use parse_error::safe_url;
pub use plugins::{KeyEntry, PluginPolicy, PluginsConfig, Trust, TrustConfig};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub plugins: PluginsConfig,
    /// Defaults for every tenant; a tenant's own `[tenants.limits]` wins.
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub tenants: Vec<TenantConfig>,
    #[serde(default)]
    pub jobs: Vec<JobConfig>,
    /// The admin API of `usersync serve`.
    #[serde(default)]
    pub server: ServerConfig,
    /// Where the file was read from; relative paths resolve against it.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite://usersync.db` (relative to the config file), `sqlite::memory:`
    /// or `postgres://user:password@host:port/database`.
    pub url: String,
}

impl StoreConfig {
    /// SQLite (embedded) or PostgreSQL; another scheme gets a clear error
    /// (the URL itself is not echoed, it may hold a password).
    fn validate(&self) -> Result<()> {
        let url = self.url.as_str();
        if url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://")
        {
            return Ok(());
        }
        let scheme = url.split_once("://").map_or("this", |(s, _)| s).to_string();
        bail!(
            "store.url: {scheme:?} URLs are not supported; usersync stores its data in SQLite or PostgreSQL. \
             Write store.url = \"sqlite://usersync.db\" (a file next to the config), \
             \"sqlite:///var/lib/usersync/usersync.db\" (an absolute path), \"sqlite::memory:\" \
             or \"postgres://<user>:<password>@<host>:<port>/<database>\""
        );
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: "sqlite://usersync.db".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    pub id: String,
    /// License seats by kind, e.g. `{ standard = 100 }`.
    #[serde(default)]
    pub licenses: BTreeMap<String, u32>,
    pub limits: Option<Limits>,
    /// This tenant's own API token (`"env:VAR"`, `"file:path"` or the value,
    /// at least 16 characters): it sees and changes only this tenant.
    pub token: Option<Secret>,
    /// This tenant's signature rule (`require_signature`, `trusted_keys`
    /// added to the global ones).
    pub plugins: Option<TrustConfig>,
}

impl Config {
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "cannot read config file {}; create one with `usersync init`",
                path.display()
            )
        })?;
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
            .canonicalize()
            .unwrap_or_else(|_| PathBuf::from("."));
        Config::parse(&text, &path.display().to_string(), base)
    }

    pub fn parse(text: &str, origin: &str, base_dir: PathBuf) -> Result<Config> {
        // Never toml's own Display: it quotes the line, which may hold a secret.
        let mut config: Config =
            parse_error::from_toml(text).map_err(|e| anyhow::anyhow!("in {origin}: {e}"))?;
        config.base_dir = base_dir;
        if config.tenants.is_empty() {
            config.tenants.push(TenantConfig {
                id: default_tenant(),
                licenses: BTreeMap::new(),
                limits: None,
                token: None,
                plugins: None,
            });
        }
        // `file:` secrets are relative to the config's folder.
        let base = config.base_dir.clone();
        for secret in config
            .tenants
            .iter_mut()
            .filter_map(|t| t.token.as_mut())
            .chain(config.server.token.as_mut())
        {
            secret.anchor(&base);
        }
        config.validate().with_context(|| format!("in {origin}"))?;
        Ok(config)
    }

    fn validate(&self) -> Result<()> {
        self.server.validate()?;
        self.limits.validate("limits")?;
        for (i, tenant) in self.tenants.iter().enumerate() {
            if let Some(limits) = &tenant.limits {
                limits.validate(&format!("tenants[{i}].limits"))?;
            }
        }
        self.store.validate()?;
        bounds::validate(self)?;
        let mut seen = std::collections::HashMap::new();
        for (i, job) in self.jobs.iter().enumerate() {
            daemon::validate_job(i, job)?;
            credentials::validate_job(i, job)?;
            if let Some(first) = seen.insert((&job.tenant, &job.id), i) {
                bail!(
                    "jobs[{i}].id = {:?} is used twice in tenant {:?} (also jobs[{first}].id); job ids must be unique within a tenant",
                    job.id,
                    job.tenant
                );
            }
            if self.tenant(&job.tenant).is_none() {
                bail!(
                    "jobs[{i}].tenant = {:?}: no [[tenants]] entry has that id",
                    job.tenant
                );
            }
            if let Some(pct) = job.sync.deactivate_threshold_percent {
                if !(0.0..=100.0).contains(&pct) {
                    bail!(
                        "jobs[{i}].sync.deactivate_threshold_percent = {pct}: it is a percentage of the job's active users, so it must be between 0 and 100 (the default is 20)"
                    );
                }
            }
            let rejected = job.sync.max_rejected_percent;
            if !(0.0..=100.0).contains(&rejected) {
                bail!("jobs[{i}].sync.max_rejected_percent = {rejected}: use a percentage from 0 to 100 (100 never stops a run for rejected records)");
            }
            if let Some(p) = &job.sync.group_pattern {
                regex::Regex::new(p).with_context(|| {
                    format!("jobs[{i}].sync.group_pattern is not a valid regex")
                })?;
            }
            if let Some(f) = &job.sync.user_filter {
                regex::Regex::new(&f.pattern).with_context(|| {
                    format!("jobs[{i}].sync.user_filter.pattern is not a valid regex")
                })?;
            }
            for (g, origin) in job.grants.http.iter().enumerate() {
                let url = reqwest::Url::parse(origin).ok();
                if url.as_ref().and_then(|u| u.host_str()).is_none() {
                    bail!(
                        "jobs[{i}].grants.http[{g}] = {:?} is not an origin like \"https://graph.example.com\"",
                        safe_url(origin)
                    );
                }
            }
            if let Some(ldap) = &job.ldap {
                ldap.validate(&format!("jobs[{i}].ldap"))?;
            }
            if job.runs_on == RunsOn::Agent
                && (job.ldap.is_some()
                    || job.grants.input_dir.is_some()
                    || !job.grants.http.is_empty()
                    || !job.credentials.is_empty()
                    || !job.secrets.is_empty())
            {
                bail!(
                    "jobs[{i}] has runs_on = \"agent\": its directory settings, grants and secrets belong in the agent's config (agent.toml, [jobs.{}]), not on the server",
                    job.id
                );
            }
            for (r, binding) in job.roles.iter().enumerate() {
                if binding.group.is_none() == binding.group_pattern.is_none() {
                    bail!("jobs[{i}].roles[{r}]: set exactly one of `group` or `group_pattern`");
                }
            }
            if let Some(kind) = &job.sync.license_kind {
                let tenant = self.tenant(&job.tenant).expect("checked above");
                if !tenant.licenses.contains_key(kind) {
                    bail!(
                        "jobs[{i}].sync.license_kind = {kind:?}: tenant {:?} has no such license; add it under [tenants.licenses]",
                        job.tenant
                    );
                }
            }
        }
        Ok(())
    }

    pub fn tenant(&self, id: &str) -> Option<&TenantConfig> {
        self.tenants.iter().find(|t| t.id == id)
    }

    /// The job `id` of `tenant`; without a tenant, the only job with that id
    /// (an id used in several tenants is refused, naming them).
    pub fn job(&self, tenant: Option<&str>, id: &str) -> Result<&JobConfig> {
        if let Some(t) = tenant {
            if self.tenant(t).is_none() {
                let known: Vec<_> = self.tenants.iter().map(|t| t.id.as_str()).collect();
                bail!(
                    "no tenant {t:?} in the config (tenants: {})",
                    known.join(", ")
                );
            }
        }
        let matches: Vec<&JobConfig> = self
            .jobs
            .iter()
            .filter(|j| j.id == id && tenant.is_none_or(|t| j.tenant == t))
            .collect();
        match matches.as_slice() {
            [job] => Ok(job),
            [] => {
                let known: Vec<_> = self.jobs.iter().map(|j| j.key().to_string()).collect();
                match tenant {
                    Some(t) => bail!(
                        "no job {id:?} in tenant {t:?} (jobs as tenant/job: {})",
                        known.join(", ")
                    ),
                    None => bail!(
                        "no job {id:?} in the config (jobs as tenant/job: {})",
                        known.join(", ")
                    ),
                }
            }
            several => {
                let tenants: Vec<_> = several.iter().map(|j| j.tenant.as_str()).collect();
                bail!(
                    "job `{id}` exists in tenants {}: pass --tenant (or use /tenants/{{tenant}}/jobs/{id})",
                    tenants.join(", ")
                )
            }
        }
    }

    /// The job with this exact identity, if the config has it.
    pub fn job_by_key(&self, key: &JobKey) -> Option<&JobConfig> {
        self.jobs
            .iter()
            .find(|j| j.id == key.job && j.tenant == key.tenant)
    }

    /// Built-ins and signature rules of every scope, for the registry.
    pub fn plugin_policy(&self) -> PluginPolicy {
        let tenants: Vec<_> = self
            .tenants
            .iter()
            .map(|t| (t.id.clone(), t.plugins.clone()))
            .collect();
        PluginPolicy::new(&self.plugins, &tenants)
    }

    pub fn limits_for(&self, tenant: &str) -> Limits {
        self.tenant(tenant)
            .and_then(|t| t.limits)
            .unwrap_or(self.limits)
    }

    /// A path from the config, made absolute against the config's folder.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base_dir.join(path)
        }
    }

    /// The store URL with a relative SQLite path made absolute.
    pub fn store_url(&self) -> String {
        match self.store.url.strip_prefix("sqlite://") {
            Some(rest) if !rest.starts_with('/') && !rest.starts_with(':') => {
                format!("sqlite://{}", self.base_dir.join(rest).display())
            }
            _ => self.store.url.clone(),
        }
    }
}
