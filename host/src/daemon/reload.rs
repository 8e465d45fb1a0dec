//! Config reload, on a change of the config file or on SIGHUP. An invalid
//! config is refused with a clear error and the previous one keeps serving.
//! Runs in flight keep the config they started with.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Result};
use chrono::{DateTime, Utc};

use super::watch::Watch;
use super::Daemon;
use crate::config::Config;

/// The config in force and the last refused one.
#[derive(Debug, Clone)]
pub struct ConfigStatus {
    pub path: PathBuf,
    pub loaded_at: DateTime<Utc>,
    /// Why the last reload was refused (cleared by a good one).
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
}

/// Watch the config file's folder and reload when the file changes.
pub(super) async fn watch(daemon: Arc<Daemon>, mut watch: Watch) {
    let name = daemon.config_path.file_name().map(|n| n.to_owned());
    while let Some(paths) = watch.changed().await {
        if daemon.shutting_down() {
            return;
        }
        if paths
            .iter()
            .any(|p| p.file_name().map(|n| n.to_owned()) == name)
        {
            reload(&daemon, "the config file changed");
        }
    }
}

/// Load the config file again and serve it if it is valid.
pub(super) fn reload(daemon: &Daemon, why: &str) {
    match load(daemon) {
        Ok(config) => {
            let jobs = config.jobs.len();
            daemon.set_file_config(config);
            let mut status = super::lock(&daemon.config_status);
            status.loaded_at = Utc::now();
            status.last_error = None;
            status.last_error_at = None;
            drop(status);
            tracing::info!(
                "{why}: config reloaded from {}, {jobs} jobs",
                daemon.config_path.display()
            );
        }
        Err(e) => {
            tracing::error!(
                "{why}: the new config is refused, the previous one keeps serving: {e:#}"
            );
            let mut status = super::lock(&daemon.config_status);
            status.last_error = Some(format!("{e:#}"));
            status.last_error_at = Some(Utc::now());
        }
    }
}

/// The new config, if it is valid and needs no restart.
fn load(daemon: &Daemon) -> Result<Config> {
    let new = Config::load(&daemon.config_path)?;
    let old = daemon.file_config();
    if new.store_url() != old.store_url() {
        bail!("store.url changed: restart `usersync serve` to switch stores");
    }
    // Leases and run records name the node; a rename mid-flight would
    // orphan the leases its runs hold.
    if new.server.node != old.server.node {
        bail!("server.node changed: restart `usersync serve` to rename the node");
    }
    if new.resolve(&new.plugins.dir) != old.resolve(&old.plugins.dir)
        || new.resolve(&new.plugins.cache_dir) != old.resolve(&old.plugins.cache_dir)
    {
        bail!("plugins.dir or plugins.cache_dir changed: restart `usersync serve` to use another folder");
    }
    // Files were admitted under the old rule: only a fresh scan applies a new one.
    if new.plugin_policy() != old.plugin_policy() {
        bail!("plugins.builtins, require_signature or trusted_keys changed (globally or for a tenant): restart `usersync serve` to check every plugin file under the new rule");
    }
    let has_operator = super::api::auth::resolve_tokens(&new)?.has_operator();
    if !has_operator && !daemon.listen.ip().is_loopback() {
        bail!(
            "server.token is required while the API listens on {}, which is not a loopback address",
            daemon.listen
        );
    }
    if new.server.listen != old.server.listen {
        tracing::warn!(
            "server.listen changed to {:?}; the API keeps listening on {} until a restart",
            new.server.listen,
            daemon.listen
        );
    }
    // Tokens are set, with the managed tenants', when the config is served.
    Ok(new)
}
