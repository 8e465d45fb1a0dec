//! Validating and loading a plugin file. A file is served only if it is a
//! component, exports a supported version of the connector or mapper API,
//! links against what the host offers, and describes itself consistently.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::Component;

use super::cache::ArtifactCache;
use super::capability::PluginHost;
use super::job::InstanceLimits;
use super::signature::Verdict;
use super::store::probe_store;
use super::wit::{v0_1, v0_2};
use super::{Contract, Runtime};
use crate::model::{Manifest, PluginKind};

/// A validated plugin, ready to instantiate in microseconds.
#[derive(Clone)]
pub struct LoadedPlugin {
    pub manifest: Manifest,
    pub wit_version: String,
    pub hash: String,
    /// The file it came from; for a built-in, `(built-in)/<name>.wasm`.
    pub path: PathBuf,
    pub origin: Origin,
    /// What its embedded signature says, against every configured key.
    pub signature: Verdict,
    pub loaded_at: DateTime<Utc>,
    pub(crate) pre: PluginPre,
}

/// Where a served plugin comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// A file in the plugins folder (or a file given on the command line).
    File,
    /// Embedded in the usersync binary; a file with its name overrides it.
    BuiltIn,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Origin::File => "file",
            Origin::BuiltIn => "built-in",
        })
    }
}

#[derive(Clone)]
pub(crate) enum PluginPre {
    Connector(ConnectorPre),
    Mapper(MapperPre),
}

/// A connector ready to instantiate, with the bindings of its contract.
#[derive(Clone)]
pub(crate) enum ConnectorPre {
    V0_1(v0_1::connector_bindings::ConnectorPre<PluginHost>),
    V0_2(v0_2::connector_bindings::ConnectorPre<PluginHost>),
}

#[derive(Clone)]
pub(crate) enum MapperPre {
    V0_1(v0_1::mapper_bindings::MapperPre<PluginHost>),
    V0_2(v0_2::mapper_bindings::MapperPre<PluginHost>),
}

impl LoadedPlugin {
    pub fn kind(&self) -> PluginKind {
        self.manifest.kind
    }
    /// `name version` for run records and logs.
    pub fn label(&self) -> String {
        format!("{} {}", self.manifest.name, self.manifest.version)
    }
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("manifest", &self.manifest)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Why a file was refused; names the file and the fix.
#[derive(Debug, Clone, Serialize, thiserror::Error)]
#[error("plugin {path} refused: {reason}")]
pub struct PluginError {
    pub path: PathBuf,
    pub reason: String,
}

/// Read a file; refused with the reason when it cannot be read.
pub(super) fn read(path: &Path) -> Result<Vec<u8>, PluginError> {
    std::fs::read(path).map_err(|e| PluginError {
        path: path.to_path_buf(),
        reason: format!("cannot read the file: {e}"),
    })
}

/// Validate and load a plugin's bytes; `path` names it in errors.
pub(super) fn load(
    rt: &Runtime,
    path: &Path,
    bytes: &[u8],
    origin: Origin,
) -> Result<LoadedPlugin, PluginError> {
    let refuse = |reason: String| PluginError {
        path: path.to_path_buf(),
        reason,
    };
    check_header(bytes).map_err(refuse)?;

    let started = Instant::now();
    let hash = ArtifactCache::content_hash(bytes);
    let component = rt
        .cache
        .component(&rt.engine, bytes, &hash)
        .map_err(|e| refuse(format!("it does not compile: {e:#}")))?;
    memory_images(&component).map_err(|e| {
        refuse(format!(
            "its initial memory cannot be prepared: {e:#}; the host may be short of memory"
        ))
    })?;
    let (kind, contract) = exported_api(rt, &component).map_err(refuse)?;
    let version = contract.version().to_string();

    let pre = match kind {
        PluginKind::Connector => rt
            .connector_linker
            .instantiate_pre(&component)
            .and_then(|pre| {
                Ok(match contract {
                    Contract::V0_1 => {
                        ConnectorPre::V0_1(v0_1::connector_bindings::ConnectorPre::new(pre)?)
                    }
                    Contract::V0_2 => {
                        ConnectorPre::V0_2(v0_2::connector_bindings::ConnectorPre::new(pre)?)
                    }
                })
            })
            .map(PluginPre::Connector),
        PluginKind::Mapper => rt
            .mapper_linker
            .instantiate_pre(&component)
            .and_then(|pre| {
                Ok(match contract {
                    Contract::V0_1 => MapperPre::V0_1(v0_1::mapper_bindings::MapperPre::new(pre)?),
                    Contract::V0_2 => MapperPre::V0_2(v0_2::mapper_bindings::MapperPre::new(pre)?),
                })
            })
            .map(PluginPre::Mapper),
    }
    .map_err(|e| refuse(format!("it needs imports this host does not offer: {e:#}")))?;

    let manifest = describe(rt, &pre).map_err(|e| refuse(format!("`describe` failed: {e:#}")))?;
    if manifest.kind != kind {
        return Err(refuse(format!(
            "it exports the {kind} API but its manifest says it is a {}",
            manifest.kind
        )));
    }
    if manifest.name.trim().is_empty() {
        return Err(refuse("its manifest has an empty name".into()));
    }
    tracing::debug!(plugin = %manifest.name, version = %manifest.version, ms = started.elapsed().as_millis() as u64, "plugin validated");
    Ok(LoadedPlugin {
        manifest,
        wit_version: version,
        hash,
        path: path.to_path_buf(),
        origin,
        signature: Verdict::Unsigned,
        loaded_at: Utc::now(),
        pre,
    })
}

fn check_header(bytes: &[u8]) -> Result<(), String> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err("it is not a WebAssembly file (no `\\0asm` header); was it fully written? Copy plugins to a temp name and rename them into place".into());
    }
    if bytes[4..8] == [1, 0, 0, 0] {
        return Err("it is a core WebAssembly module, not a component; build it with `--target wasm32-wasip2`".into());
    }
    Ok(())
}

/// Which API, at which contract version, the component exports.
fn exported_api(rt: &Runtime, component: &Component) -> Result<(PluginKind, Contract), String> {
    let ty = component.component_type();
    let mut names = Vec::new();
    for (name, item) in ty.exports(&rt.engine) {
        if !matches!(item.ty, ComponentItem::ComponentInstance(_)) {
            names.push(name.to_string());
            continue;
        }
        let kind = if name.starts_with("usersync:plugin/connector-api@") {
            PluginKind::Connector
        } else if name.starts_with("usersync:plugin/mapper-api@") {
            PluginKind::Mapper
        } else {
            names.push(name.to_string());
            continue;
        };
        let version = name.rsplit('@').next().unwrap_or_default();
        let Some(contract) = Contract::from_version(version) else {
            return Err(format!(
                "it targets contract version {version}, this host serves {}; rebuild it with a matching usersync-sdk",
                Contract::supported()
            ));
        };
        return Ok((kind, contract));
    }
    Err(format!(
        "it is not a usersync plugin: it exports [{}], but a connector must export \
         `usersync:plugin/connector-api@{v}` and a mapper `usersync:plugin/mapper-api@{v}` \
         (build it with usersync-sdk's export_connector! or export_mapper!)",
        names.join(", "),
        v = Contract::LATEST.version()
    ))
}

fn describe(rt: &Runtime, pre: &PluginPre) -> anyhow::Result<Manifest> {
    let mut store = probe_store(&rt.engine, &InstanceLimits::probe());
    Ok(match pre {
        PluginPre::Connector(ConnectorPre::V0_1(pre)) => pre
            .instantiate(&mut store)?
            .usersync_plugin_connector_api()
            .call_describe(&mut store)?
            .into(),
        PluginPre::Connector(ConnectorPre::V0_2(pre)) => pre
            .instantiate(&mut store)?
            .usersync_plugin_connector_api()
            .call_describe(&mut store)?
            .into(),
        PluginPre::Mapper(MapperPre::V0_1(pre)) => pre
            .instantiate(&mut store)?
            .usersync_plugin_mapper_api()
            .call_describe(&mut store)?
            .into(),
        PluginPre::Mapper(MapperPre::V0_2(pre)) => pre
            .instantiate(&mut store)?
            .usersync_plugin_mapper_api()
            .call_describe(&mut store)?
            .into(),
    })
}

/// Build the component's copy-on-write memory images at load rather than at
/// its first instantiation, retrying a transient refusal. On Linux wasmtime
/// writes each image into a memfd and seals it; the kernel refuses the seal
/// (EBUSY) while pages just written are still pinned, for example held in
/// another CPU's LRU batch on a loaded machine. Each attempt writes a fresh
/// memfd, so a short wait and a retry succeed where the first one lost.
fn memory_images(component: &Component) -> wasmtime::Result<()> {
    const ATTEMPTS: u32 = 5;
    let mut attempt = 1;
    loop {
        match component.initialize_copy_on_write_image() {
            Ok(()) => return Ok(()),
            Err(e) if attempt < ATTEMPTS => {
                tracing::debug!(
                    attempt,
                    "preparing a plugin's memory image failed, retrying: {e:#}"
                );
                std::thread::sleep(Duration::from_millis(10 << attempt));
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}
