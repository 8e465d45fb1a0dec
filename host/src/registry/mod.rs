//! The plugin registry: every valid `.wasm` in the plugins folder by name,
//! over the first-party plugins built into the binary. Tenant folders
//! (`<dir>/tenants/<tenant>/`) shadow shared plugins, so one tenant's
//! plugin never serves another tenant; a file of either kind overrides a
//! built-in of the same name. Files are checked against the scope's
//! signature rule before they are compiled.

pub mod builtin;
mod trust;

pub use trust::admit;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::PluginPolicy;
use crate::runtime::{signature, LoadedPlugin, Origin, PluginError, Runtime};

#[derive(Default, Clone)]
pub struct Registry {
    shared: HashMap<String, LoadedPlugin>,
    tenants: HashMap<String, HashMap<String, LoadedPlugin>>,
    builtins: Arc<builtin::Builtins>,
    policy: Arc<PluginPolicy>,
    pub errors: Vec<PluginError>,
}

impl Registry {
    /// Validate and load every plugin under `dir`, with no built-ins and no
    /// signature rule. Bad files are listed in `errors`; they never stop
    /// the good ones from loading.
    pub fn scan(rt: &Runtime, dir: &Path) -> Registry {
        Registry::load(rt, dir, None, PluginPolicy::default())
    }

    /// [`Registry::scan`] under `policy`: its signature rules, and the
    /// built-in plugins (validated when first used) unless it turns them off.
    pub fn open(rt: &Arc<Runtime>, dir: &Path, policy: PluginPolicy) -> Registry {
        let builtins = policy.builtins.then(|| builtin::Builtins::embedded(rt));
        Registry::load(rt, dir, builtins, policy)
    }

    fn load(
        rt: &Runtime,
        dir: &Path,
        builtins: Option<builtin::Builtins>,
        policy: PluginPolicy,
    ) -> Registry {
        let mut reg = Registry {
            builtins: Arc::new(builtins.unwrap_or_default()),
            policy: Arc::new(policy),
            ..Registry::default()
        };
        reg.shared = load_dir(rt, &reg.policy, dir, None, &mut reg.errors);
        if let Ok(entries) = std::fs::read_dir(dir.join("tenants")) {
            for entry in entries.flatten() {
                if entry.path().is_dir() {
                    let tenant = entry.file_name().to_string_lossy().to_string();
                    let plugins = load_dir(
                        rt,
                        &reg.policy,
                        &entry.path(),
                        Some(&tenant),
                        &mut reg.errors,
                    );
                    reg.tenants.insert(tenant, plugins);
                }
            }
        }
        reg
    }

    /// The signature rules and built-ins this registry was loaded under.
    pub fn policy(&self) -> &PluginPolicy {
        &self.policy
    }

    pub fn get(&self, tenant: &str, name: &str) -> Option<&LoadedPlugin> {
        self.serve(tenant, name).ok()
    }

    /// The plugin `name` as served to `tenant`: the tenant's own file, a
    /// shared file its signature rule admits, or the built-in. `Err` holds
    /// why a shared file is not served to this tenant, if that is why.
    pub fn serve(&self, tenant: &str, name: &str) -> Result<&LoadedPlugin, Option<String>> {
        if let Some(p) = self.tenants.get(tenant).and_then(|t| t.get(name)) {
            return Ok(p);
        }
        let mut refused = None;
        if let Some(p) = self.shared.get(name) {
            match admit(&p.signature, self.policy.trust(Some(tenant))) {
                Ok(()) => return Ok(p),
                Err(reason) => {
                    refused = Some(format!(
                        "{} from {} is not served to tenant {tenant}: {reason}",
                        p.label(),
                        p.path.display()
                    ))
                }
            }
        }
        self.builtins.get(name).ok_or(refused)
    }

    /// Built-in plugins overridden by a shared file: (name, that file).
    pub fn overridden_builtins(&self) -> Vec<(&str, &Path)> {
        self.builtins
            .names()
            .filter_map(|n| self.shared.get(n).map(|p| (n, p.path.as_path())))
            .collect()
    }

    /// Refused files, and built-ins that failed validation (a broken build).
    pub fn refused(&self) -> Vec<PluginError> {
        let mut out = self.errors.clone();
        out.extend(
            self.builtins
                .names()
                .filter(|n| !self.shared.contains_key(*n))
                .filter_map(|n| self.builtins.error(n).cloned()),
        );
        out
    }

    /// How many plugins serve, without validating built-ins not used yet.
    pub fn served_count(&self) -> usize {
        let builtins = self
            .builtins
            .names()
            .filter(|n| !self.shared.contains_key(*n))
            .count();
        self.shared.len() + self.tenants.values().map(HashMap::len).sum::<usize>() + builtins
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
            let now = self.at_path(path).and_then(|old| {
                let name = &old.manifest.name;
                let p = match tenant.as_deref() {
                    Some(t) => next.serve(t, name).ok(),
                    None => next.shared.get(name).or_else(|| next.builtins.get(name)),
                };
                p.map(|p| format!("{} ({}, {})", p.label(), p.origin, p.path.display()))
            });
            return (next, FileChange::Removed(previous, now));
        }
        let loaded = load_file(rt, &self.policy, path, tenant.as_deref()).and_then(|p| match next
            .scope(tenant.as_deref())
            .get(&p.manifest.name)
        {
            Some(other) if other.path != path && !newer(&p, other) => Err(shadowed(&p, other)),
            _ => Ok(p),
        });
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

    /// Check `bytes` exactly as a file at `path` in `tenant`'s folder
    /// would be checked (signature rule, then validation), without
    /// installing it: what an upload through the API must pass.
    pub fn check(
        &self,
        rt: &Runtime,
        path: &Path,
        bytes: &[u8],
        tenant: Option<&str>,
    ) -> Result<LoadedPlugin, PluginError> {
        check_bytes(rt, &self.policy, path, bytes, tenant)
    }

    /// Serve, from the folder `dir` of one scope, every plugin name that
    /// nothing serves now (the highest valid version of it).
    fn refill(&mut self, rt: &Runtime, dir: &Path, tenant: Option<&str>) {
        let mut errors = Vec::new();
        let policy = self.policy.clone();
        let fresh = load_dir(rt, &policy, dir, tenant, &mut errors);
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

    /// Every plugin served: shared files, tenants' files, and the built-ins
    /// no shared file overrides (validating them if no run has yet).
    pub fn all(&self) -> impl Iterator<Item = (Option<&str>, &LoadedPlugin)> {
        let builtins = self
            .builtins
            .names()
            .filter(|n| !self.shared.contains_key(*n))
            .filter_map(|n| self.builtins.get(n));
        self.shared
            .values()
            .chain(builtins)
            .map(|p| (None, p))
            .chain(
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
    /// The file is gone; this plugin (if any) is no longer served from it;
    /// what serves its name now (another file or the built-in), if anything.
    Removed(Option<String>, Option<String>),
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

/// Check one file's signature against the rule of its scope (before any
/// of its code is compiled), then validate and load it.
fn load_file(
    rt: &Runtime,
    policy: &PluginPolicy,
    path: &Path,
    tenant: Option<&str>,
) -> Result<LoadedPlugin, PluginError> {
    let bytes = std::fs::read(path).map_err(|e| PluginError {
        path: path.to_path_buf(),
        reason: format!("cannot read the file: {e}"),
    })?;
    check_bytes(rt, policy, path, &bytes, tenant)
}

/// The checks of [`load_file`] on bytes that are not in the folder yet.
fn check_bytes(
    rt: &Runtime,
    policy: &PluginPolicy,
    path: &Path,
    bytes: &[u8],
    tenant: Option<&str>,
) -> Result<LoadedPlugin, PluginError> {
    let verdict = signature::verify(bytes, &policy.all_keys());
    admit(&verdict, policy.trust(tenant)).map_err(|reason| PluginError {
        path: path.to_path_buf(),
        reason,
    })?;
    let mut plugin = rt.load_bytes(path, bytes, Origin::File)?;
    plugin.signature = verdict;
    Ok(plugin)
}

fn load_dir(
    rt: &Runtime,
    policy: &PluginPolicy,
    dir: &Path,
    tenant: Option<&str>,
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
        match load_file(rt, policy, &path, tenant) {
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
