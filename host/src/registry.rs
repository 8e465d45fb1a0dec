//! The plugin registry: every valid `.wasm` in the plugins folder by name.
//! Tenant folders (`<dir>/tenants/<tenant>/`) shadow shared plugins, so one
//! tenant's plugin never serves another tenant.

use std::collections::HashMap;
use std::path::Path;

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

    pub fn all(&self) -> impl Iterator<Item = (Option<&str>, &LoadedPlugin)> {
        self.shared.values().map(|p| (None, p)).chain(
            self.tenants
                .iter()
                .flat_map(|(t, ps)| ps.values().map(move |p| (Some(t.as_str()), p))),
        )
    }
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
        .filter(|p| {
            p.extension().is_some_and(|e| e == "wasm")
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    paths.sort();
    for path in paths {
        match rt.load(&path) {
            Ok(p) => {
                if let Some(prev) = out.get(&p.manifest.name) {
                    errors.push(PluginError {
                        path: path.clone(),
                        reason: format!(
                            "plugin name {:?} is already served by {}; rename one of them",
                            p.manifest.name,
                            prev.path.display()
                        ),
                    });
                    continue;
                }
                out.insert(p.manifest.name.clone(), p);
            }
            Err(e) => {
                tracing::warn!("{e}");
                errors.push(e);
            }
        }
    }
    out
}
