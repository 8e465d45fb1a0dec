//! The first-party plugins embedded in the binary (see host/build.rs). Each
//! is validated (through the same checks and compiled-artifact cache as a
//! file) the first time a run or a listing needs it, so commands that never
//! touch a built-in pay nothing for it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use crate::runtime::{LoadedPlugin, Origin, PluginError, Runtime};

include!(concat!(env!("OUT_DIR"), "/builtins.rs"));

/// The bytes of the built-in `name` (served to agents).
pub fn bytes(name: &str) -> Option<&'static [u8]> {
    BUILTINS.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}

/// The names of the plugins this binary carries.
pub fn names() -> impl Iterator<Item = &'static str> {
    BUILTINS.iter().map(|(name, _)| *name)
}

#[derive(Default)]
pub(super) struct Builtins {
    rt: Option<Arc<Runtime>>,
    entries: BTreeMap<&'static str, Entry>,
}

struct Entry {
    bytes: &'static [u8],
    loaded: OnceLock<Result<LoadedPlugin, PluginError>>,
}

impl Builtins {
    pub(super) fn embedded(rt: &Arc<Runtime>) -> Builtins {
        Builtins {
            rt: Some(rt.clone()),
            entries: BUILTINS
                .iter()
                .map(|(name, bytes)| {
                    let entry = Entry {
                        bytes,
                        loaded: OnceLock::new(),
                    };
                    (*name, entry)
                })
                .collect(),
        }
    }

    pub(super) fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.entries.keys().copied()
    }

    /// The built-in `name`, validated on first use.
    pub(super) fn get(&self, name: &str) -> Option<&LoadedPlugin> {
        self.load(name)?.as_ref().ok()
    }

    /// Why the built-in `name` did not validate (a broken build).
    pub(super) fn error(&self, name: &str) -> Option<&PluginError> {
        self.load(name)?.as_ref().err()
    }

    fn load(&self, name: &str) -> Option<&Result<LoadedPlugin, PluginError>> {
        let (rt, entry) = (self.rt.as_ref()?, self.entries.get(name)?);
        Some(entry.loaded.get_or_init(|| {
            let path = PathBuf::from(format!("(built-in)/{name}.wasm"));
            let loaded = rt
                .load_bytes(&path, entry.bytes, Origin::BuiltIn)
                .and_then(|p| {
                    if p.manifest.name == name {
                        Ok(p)
                    } else {
                        Err(PluginError {
                            path: path.clone(),
                            reason: format!(
                                "its manifest names it {:?}, not {name:?}",
                                p.manifest.name
                            ),
                        })
                    }
                });
            if let Err(e) = &loaded {
                tracing::error!("{e}");
            }
            loaded
        }))
    }
}
