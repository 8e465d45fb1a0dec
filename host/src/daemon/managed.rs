//! Tenants, jobs and plugins made through the API reach every node: each
//! node merges what the store holds into its config snapshot (file first:
//! the config file wins a clash), adds the tenants' token digests, and
//! writes their uploaded plugins into its plugins folder as
//! `tenants/<t>/<name>.uploaded.wasm` (temp, then rename) for the watcher
//! to hot-swap. A node polls the store's version counter to notice changes
//! made through another node, and checks it at once when a request names a
//! tenant, job or token it does not know yet.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use super::api::auth::{resolve_tokens, Tokens};
use super::Daemon;
use crate::config::managed::{check_job, parse_limits};
use crate::config::{Config, TenantConfig};
use crate::secret::sealed_job;
use crate::store::Managed;

/// How often a node looks for changes made through another node.
pub const POLL_EVERY: Duration = Duration::from_secs(2);

/// Suffix of the plugin files this module owns in tenant folders.
pub const UPLOADED: &str = ".uploaded.wasm";

impl Daemon {
    /// What the store held at the last refresh.
    pub fn managed(&self) -> Arc<Managed> {
        super::lock(&self.managed).clone()
    }

    /// The config file as last loaded (without what the API made).
    pub fn file_config(&self) -> Arc<Config> {
        super::lock(&self.file_config).clone()
    }

    /// Serve a new config file, merged with what the API made.
    pub(super) fn set_file_config(&self, config: Config) {
        *super::lock(&self.file_config) = Arc::new(config);
        self.apply_managed();
    }

    /// Merge the file config and the managed state into the snapshot and
    /// the tokens in force.
    fn apply_managed(&self) {
        let (file, managed) = (self.file_config(), self.managed());
        let (config, tenant_tokens) = merge(&file, &managed, self.seal_key.as_ref());
        match tokens(&file, tenant_tokens) {
            Ok(t) => self.set_tokens(t),
            Err(e) => tracing::error!("API tokens not changed: {e:#}"),
        }
        self.host.set_config(config);
        self.wake.notify_one();
    }

    /// Read the managed state from the store; if it changed, merge it and
    /// bring this node's uploaded plugin files in line.
    pub async fn refresh_managed(&self) -> Result<()> {
        let _one_at_a_time = self.managed_refresh.lock().await;
        let fresh = self.host.store.managed().await?;
        if *self.managed() == fresh {
            return Ok(());
        }
        *super::lock(&self.managed) = Arc::new(fresh.clone());
        self.apply_managed();
        self.write_plugin_files(&fresh).await
    }

    /// Refresh now if the store changed since the last refresh: a request
    /// naming a tenant, job or token this node does not know yet may have
    /// been made through another node (the poll would see it within
    /// [`POLL_EVERY`]; the request should not get a 404 meanwhile).
    pub(crate) async fn catch_up_managed(&self) {
        let changed = match self.host.store.managed_version().await {
            Ok(v) => v != self.managed().version,
            Err(_) => false, // the poll logs it
        };
        if changed {
            if let Err(e) = self.refresh_managed().await {
                tracing::error!("tenants made through the API could not be refreshed: {e:#}");
            }
        }
    }

    /// Whether `path` (`/tenants/{t}[/jobs/{j}…]`) names a tenant or job
    /// this node's config does not hold.
    pub(crate) fn names_unknown(&self, path: &str) -> bool {
        let mut parts = path.split('/').skip(1);
        if parts.next() != Some("tenants") {
            return false;
        }
        let Some(tenant) = parts.next().filter(|t| !t.is_empty()) else {
            return false;
        };
        let config = self.host.config();
        if config.tenant(tenant).is_none() {
            return true;
        }
        match (parts.next(), parts.next()) {
            (Some("jobs"), Some(job)) => config
                .job_by_key(&crate::config::JobKey {
                    tenant: tenant.to_string(),
                    job: job.to_string(),
                })
                .is_none(),
            _ => false,
        }
    }

    /// Each uploaded plugin as a file in its tenant's folder; files of
    /// plugins no longer stored are removed.
    async fn write_plugin_files(&self, managed: &Managed) -> Result<()> {
        let config = self.host.config();
        let tenants = config.resolve(&config.plugins.dir).join("tenants");
        let mut wanted = HashSet::new();
        for p in &managed.plugins {
            let dir = tenants.join(&p.tenant);
            let path = dir.join(format!("{}{UPLOADED}", p.name));
            wanted.insert(path.clone());
            if file_sha256(&path).as_deref() == Some(p.sha256.as_str()) {
                continue;
            }
            let Some(bytes) = self
                .host
                .store
                .managed_plugin_bytes(&p.tenant, &p.name)
                .await?
            else {
                continue; // deleted meanwhile: the next refresh removes it
            };
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let tmp = dir.join(format!(".{}{UPLOADED}.tmp", p.name));
            std::fs::write(&tmp, &bytes)
                .and_then(|()| std::fs::rename(&tmp, &path))
                .with_context(|| format!("cannot write the uploaded plugin {}", path.display()))?;
        }
        for path in uploaded_files(&tenants) {
            if !wanted.contains(&path) {
                std::fs::remove_file(&path)
                    .with_context(|| format!("cannot remove {}", path.display()))?;
            }
        }
        Ok(())
    }
}

/// Poll the store's version counter until shutdown.
pub(super) async fn poll(daemon: Arc<Daemon>) {
    let mut failing = false;
    while !daemon.shutting_down() {
        tokio::time::sleep(POLL_EVERY).await;
        let changed = match daemon.host.store.managed_version().await {
            Ok(v) => v != daemon.managed().version,
            Err(e) => {
                if !failing {
                    tracing::warn!("cannot read the store's tenants made through the API: {e:#}");
                }
                failing = true;
                continue;
            }
        };
        failing = false;
        if changed {
            if let Err(e) = daemon.refresh_managed().await {
                tracing::error!("tenants made through the API could not be refreshed: {e:#}");
            }
        }
    }
}

/// The file config with the managed tenants and jobs added, and the
/// managed tenants' token digests. What cannot be served (a clash with the
/// file, a secret this node cannot open, a job that no longer validates) is
/// left out and logged, never the whole config.
pub fn merge(
    file: &Config,
    managed: &Managed,
    key: Option<&crate::secret::seal::SealKey>,
) -> (Config, Vec<(String, [u8; 32])>) {
    let mut config = file.clone();
    let mut tokens = Vec::new();
    let mut enabled = HashSet::new();
    for t in &managed.tenants {
        if file.tenant(&t.id).is_some() {
            tracing::warn!(
                "tenant {:?} made through the API is also in the config file; the file's is served",
                t.id
            );
            continue;
        }
        let licenses: BTreeMap<String, u32> = serde_json::from_str(&t.licenses).unwrap_or_default();
        let limits = t
            .limits
            .as_deref()
            .and_then(|l| serde_json::from_str(l).ok())
            .and_then(|v| parse_limits(&v).ok());
        config.tenants.push(TenantConfig {
            id: t.id.clone(),
            licenses,
            limits,
            token: None,
            plugins: None,
        });
        if t.disabled {
            continue;
        }
        enabled.insert(t.id.as_str());
        if let Some(d) = t.token_sha256.as_deref().and_then(|h| hex::decode(h).ok()) {
            if let Ok(d) = <[u8; 32]>::try_from(d) {
                tokens.push((t.id.clone(), d));
            }
        }
    }
    for j in &managed.jobs {
        let key_in_file = file
            .jobs
            .iter()
            .any(|f| f.tenant == j.tenant && f.id == j.id);
        let tenant_ok = enabled.contains(j.tenant.as_str())
            || (file.tenant(&j.tenant).is_some()
                && !managed
                    .tenants
                    .iter()
                    .any(|t| t.id == j.tenant && t.disabled));
        if key_in_file || !tenant_ok {
            continue;
        }
        let job = serde_json::from_str::<serde_json::Value>(&j.body)
            .map_err(anyhow::Error::from)
            .and_then(|body| sealed_job::open(key, &j.tenant, &j.id, &body))
            .and_then(|plain| check_job(&config, &j.tenant, &j.id, &plain));
        match job {
            Ok(job) => config.jobs.push(job),
            Err(e) => tracing::error!(
                "job {}/{} made through the API is not served: {e:#}",
                j.tenant,
                j.id
            ),
        }
    }
    (config, tokens)
}

/// The file's tokens plus the managed tenants' digests (a digest equal to
/// another token is not used).
fn tokens(file: &Config, managed: Vec<(String, [u8; 32])>) -> Result<Tokens> {
    let mut tokens = resolve_tokens(file)?;
    for (tenant, digest) in managed {
        if !tokens.add_tenant(tenant.clone(), digest) {
            tracing::error!("the API token of tenant {tenant:?} is also another token, or there is no operator token; it is not accepted");
        }
    }
    Ok(tokens)
}

fn file_sha256(path: &Path) -> Option<String> {
    std::fs::read(path)
        .ok()
        .map(|b| hex::encode(Sha256::digest(&b)))
}

/// Every `*.uploaded.wasm` in `tenants/*/`.
fn uploaded_files(tenants: &Path) -> Vec<PathBuf> {
    let Ok(dirs) = std::fs::read_dir(tenants) else {
        return Vec::new();
    };
    dirs.flatten()
        .filter_map(|d| std::fs::read_dir(d.path()).ok())
        .flat_map(|files| files.flatten().map(|f| f.path()))
        .filter(|p| {
            p.file_name().is_some_and(|n| {
                n.to_string_lossy().ends_with(UPLOADED) && !n.to_string_lossy().starts_with('.')
            })
        })
        .collect()
}
