//! Hot reload of plugins: the plugins folder is watched; a new or changed
//! `.wasm` is validated on a blocking thread (component, world, contract
//! version, compile, link, `describe`) and swapped in atomically. Runs in
//! flight keep the version they started with. A bad file is refused and the
//! previous version keeps serving; a removed file stops being served.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use super::watch::Watch;
use super::Daemon;
use crate::registry::FileChange;

/// When each refused file was refused (the registry keeps the reason).
#[derive(Default)]
pub struct Refusals {
    at: Mutex<HashMap<PathBuf, DateTime<Utc>>>,
}

impl Refusals {
    pub fn at(&self, path: &Path) -> Option<DateTime<Utc>> {
        super::lock(&self.at).get(path).copied()
    }

    fn set(&self, path: &Path, at: Option<DateTime<Utc>>) {
        let mut map = super::lock(&self.at);
        match at {
            Some(t) => map.insert(path.to_path_buf(), t),
            None => map.remove(path),
        };
    }
}

impl Daemon {
    /// Count what the first scan served and refused.
    pub(super) fn note_initial_plugins(&self) {
        let registry = self.host.registry();
        for e in &registry.errors {
            self.refusals.set(&e.path, Some(Utc::now()));
            self.metrics.plugin_load_failures.inc();
        }
        self.metrics
            .plugins_served
            .set(registry.served_count() as i64);
    }
}

/// Watch `dir` and apply changes until the daemon stops.
pub(super) async fn watch(daemon: Arc<Daemon>, dir: PathBuf, mut watch: Watch) {
    while let Some(paths) = watch.changed().await {
        for path in paths {
            if daemon.shutting_down() {
                return;
            }
            reload_file(&daemon, &dir, path).await;
        }
    }
}

/// Validate one file off the async threads, then swap the registry. Only
/// this task writes the registry, so swaps never lose each other's work.
async fn reload_file(daemon: &Arc<Daemon>, dir: &Path, path: PathBuf) {
    let d = daemon.clone();
    let (dir2, path2) = (dir.to_path_buf(), path.clone());
    let result = tokio::task::spawn_blocking(move || {
        d.host.registry().with_file(&d.host.runtime, &dir2, &path2)
    })
    .await;
    let (next, change) = match result {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("validating {} failed unexpectedly: {e}", path.display());
            return;
        }
    };
    let m = &daemon.metrics;
    match &change {
        FileChange::Ignored => return,
        FileChange::Unchanged => daemon.refusals.set(&path, None),
        FileChange::Loaded(new, previous) => {
            m.plugin_reloads.inc();
            daemon.refusals.set(&path, None);
            match previous {
                Some(old) => tracing::info!(
                    "plugin {old} replaced by {new} ({}); new runs use it",
                    path.display()
                ),
                None => tracing::info!("plugin {new} loaded from {}", path.display()),
            }
        }
        FileChange::Removed(previous, now) => {
            daemon.refusals.set(&path, None);
            match (previous, now) {
                (Some(old), Some(now)) => {
                    m.plugin_reloads.inc();
                    tracing::info!(
                        "plugin {old} is no longer served from {}: it was removed; {now} serves now",
                        path.display()
                    );
                }
                (Some(old), None) => {
                    m.plugin_reloads.inc();
                    tracing::warn!(
                        "plugin {old} is no longer served: {} was removed; jobs that use it fail until a file provides it again",
                        path.display()
                    );
                }
                (None, _) => {}
            }
        }
        FileChange::Refused(error, previous) => {
            m.plugin_load_failures.inc();
            daemon.refusals.set(&path, Some(Utc::now()));
            match previous {
                Some(old) => tracing::error!("{error}; {old} keeps serving"),
                None => tracing::error!("{error}"),
            }
        }
    }
    m.plugins_served.set(next.served_count() as i64);
    daemon.host.set_registry(next);
}
