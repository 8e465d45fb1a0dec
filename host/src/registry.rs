//! The plugin registry: every valid `.wasm` in the plugins folder by name.
//! Tenant folders (`<dir>/tenants/<tenant>/`) shadow shared plugins, so one
//! tenant's plugin never serves another tenant.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::runtime::{LoadedPlugin, PluginError, Runtime};

#[derive(Default, Clone)]
pub struct Registry {
    shared: HashMap<String, LoadedPlugin>,
    tenants: HashMap<String, HashMap<String, LoadedPlugin>>,
    pub errors: Vec<PluginError>,
}

impl Registry {
    /// Validate and load every plugin under `dir`. Bad files are listed in
    /// `errors`; they never stop the good ones from loading.
    pub fn scan(rt: &Runtime, dir: &Path) -> Registry {
        let mut reg = Registry::default();
        reg.shared = load_dir(rt, dir, &mut reg.errors);
        if let Ok(entries) = std::fs::read_dir(dir.join("tenants")) {
            for entry in entries.flatten() {
                if entry.path().is_dir() {
                    let tenant = entry.file_name().to_string_lossy().to_string();
                    let plugins = load_dir(rt, &entry.path(), &mut reg.errors);
                    reg.tenants.insert(tenant, plugins);
                }
            }
        }
        reg
    }

    pub fn get(&self, tenant: &str, name: &str) -> Option<&LoadedPlugin> {
        self.tenants
            .get(tenant)
            .and_then(|t| t.get(name))
            .or_else(|| self.shared.get(name))
    }

    /// The plugin loaded from `path`, if one is served.
    pub fn at_path(&self, path: &Path) -> Option<&LoadedPlugin> {
        self.all().map(|(_, p)| p).find(|p| p.path == path)
    }

    /// A copy of this registry with one file of the plugins folder `dir`
    /// loaded again (hot reload), or dropped if it is gone. A file that
    /// fails validation is refused and the plugin it would have replaced
    /// keeps serving. Only `*.wasm` files directly in `dir` or in
    /// `dir/tenants/<tenant>/` count; hidden files never load.
    pub fn with_file(&self, rt: &Runtime, dir: &Path, path: &Path) -> (Registry, FileChange) {
        let Some(tenant) = scope_of(dir, path) else {
            return (self.clone(), FileChange::Ignored);
        };
        let mut next = self.clone();
        next.errors.retain(|e| e.path != path);
        let previous = self.at_path(path).map(LoadedPlugin::label);
        if !path.exists() {
            next.scope_mut(tenant.as_deref())
                .retain(|_, p| p.path != path);
            // Another file of the same name (an older version it shadowed)
            // serves now: the whole folder is evaluated again, so there is
            // never a moment with nothing served while a valid file exists.
            next.refill(rt, &scope_dir(dir, tenant.as_deref()), tenant.as_deref());
            return (next, FileChange::Removed(previous));
        }
        let loaded =
            rt.load(path).and_then(
                |p| match next.scope(tenant.as_deref()).get(&p.manifest.name) {
                    Some(other) if other.path != path && !newer(&p, other) => {
                        Err(shadowed(&p, other))
                    }
                    _ => Ok(p),
                },
            );
        match loaded {
            Ok(p) if self.at_path(path).is_some_and(|old| old.hash == p.hash) => {
                (next, FileChange::Unchanged)
            }
            Ok(p) => {
                let scope = next.scope_mut(tenant.as_deref());
                scope.retain(|_, old| old.path != path);
                let label = p.label();
                if let Some(older) = scope.insert(p.manifest.name.clone(), p.clone()) {
                    next.errors.retain(|e| e.path != older.path);
                    next.errors.push(shadowed(&older, &p));
                }
                (next, FileChange::Loaded(label, previous))
            }
            Err(error) => {
                next.errors.push(error.clone());
                (next, FileChange::Refused(error, previous))
            }
        }
    }

    /// Serve, from the folder `dir` of one scope, every plugin name that
    /// nothing serves now (the highest valid version of it).
    fn refill(&mut self, rt: &Runtime, dir: &Path, tenant: Option<&str>) {
        let mut errors = Vec::new();
        let fresh = load_dir(rt, dir, &mut errors);
        let scope = self.scope_mut(tenant);
        let mut served = Vec::new();
        for (name, plugin) in fresh {
            if let std::collections::hash_map::Entry::Vacant(slot) = scope.entry(name) {
                served.push(plugin.path.clone());
                slot.insert(plugin);
            }
        }
        self.errors.retain(|e| !served.contains(&e.path));
    }

    fn scope(&self, tenant: Option<&str>) -> &HashMap<String, LoadedPlugin> {
        static EMPTY: std::sync::OnceLock<HashMap<String, LoadedPlugin>> =
            std::sync::OnceLock::new();
        match tenant {
            None => &self.shared,
            Some(t) => self
                .tenants
                .get(t)
                .unwrap_or_else(|| EMPTY.get_or_init(HashMap::new)),
        }
    }

    fn scope_mut(&mut self, tenant: Option<&str>) -> &mut HashMap<String, LoadedPlugin> {
        match tenant {
            None => &mut self.shared,
            Some(t) => self.tenants.entry(t.to_string()).or_default(),
        }
    }

    pub fn all(&self) -> impl Iterator<Item = (Option<&str>, &LoadedPlugin)> {
        self.shared.values().map(|p| (None, p)).chain(
            self.tenants
                .iter()
                .flat_map(|(t, ps)| ps.values().map(move |p| (Some(t.as_str()), p))),
        )
    }
}

/// What a hot reload did with one file; plugins are named by their label
/// (`name version`).
#[derive(Debug)]
pub enum FileChange {
    /// A new plugin, or a new version of the one at that path (the second).
    Loaded(String, Option<String>),
    /// Same content as the version already served (an earlier refusal of
    /// this path is cleared).
    Unchanged,
    /// The file is gone; this plugin (if any) is no longer served.
    Removed(Option<String>),
    /// Refused; the plugin loaded earlier from that path (if any) keeps serving.
    Refused(PluginError, Option<String>),
    /// Not a plugin file (hidden, temporary, or outside the plugin folders).
    Ignored,
}

/// Whether `a` should be served rather than `b` (same name): the higher
/// version, numerically part by part; on a tie the file name last in order.
fn newer(a: &LoadedPlugin, b: &LoadedPlugin) -> bool {
    let parts = |v: &str| -> Vec<u64> {
        v.split(['.', '-', '+'])
            .map(|x| x.parse().unwrap_or(0))
            .collect()
    };
    match parts(&a.manifest.version).cmp(&parts(&b.manifest.version)) {
        std::cmp::Ordering::Equal => a.path > b.path,
        o => o.is_gt(),
    }
}

/// The listing entry of a valid file that is not served because another
/// file of the same name has a higher version.
fn shadowed(loser: &LoadedPlugin, winner: &LoadedPlugin) -> PluginError {
    PluginError {
        path: loser.path.clone(),
        reason: format!(
            "not served: {} is shadowed by {} from {} (of several files with one plugin name, the highest version is served)",
            loser.label(),
            winner.label(),
            winner.path.display()
        ),
    }
}

/// The folder of one scope: `dir` itself, or `dir/tenants/<tenant>`.
fn scope_dir(dir: &Path, tenant: Option<&str>) -> PathBuf {
    match tenant {
        None => dir.to_path_buf(),
        Some(t) => dir.join("tenants").join(t),
    }
}

/// Whether `path` names a file the registry would load: `*.wasm`, not
/// hidden (temp files mid-copy are hidden or carry another extension).
pub fn is_plugin_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "wasm")
        && !path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

/// `Some(None)` for a shared plugin file, `Some(Some(tenant))` for one in
/// `dir/tenants/<tenant>/`, `None` for anything else.
fn scope_of(dir: &Path, path: &Path) -> Option<Option<String>> {
    if !is_plugin_file(path) {
        return None;
    }
    let parent = path.parent()?;
    if parent == dir {
        return Some(None);
    }
    let tenants: PathBuf = dir.join("tenants");
    if parent.parent()? == tenants {
        return Some(Some(parent.file_name()?.to_string_lossy().to_string()));
    }
    None
}

fn load_dir(
    rt: &Runtime,
    dir: &Path,
    errors: &mut Vec<PluginError>,
) -> HashMap<String, LoadedPlugin> {
    let mut out: HashMap<String, LoadedPlugin> = HashMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut paths: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        // Hidden files are temp files mid-copy: never load them.
        .filter(|p| is_plugin_file(p))
        .collect();
    paths.sort();
    for path in paths {
        match rt.load(&path) {
            Ok(p) => match out.get(&p.manifest.name) {
                Some(prev) if !newer(&p, prev) => errors.push(shadowed(&p, prev)),
                Some(prev) => {
                    errors.push(shadowed(prev, &p));
                    out.insert(p.manifest.name.clone(), p);
                }
                None => {
                    out.insert(p.manifest.name.clone(), p);
                }
            },
            // Listed in `errors`: the caller says it once, where it fits.
            Err(e) => errors.push(e),
        }
    }
    out
}
