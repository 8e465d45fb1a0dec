//! Connector plugins the server names by hash: downloaded once, checked
//! against the hash, kept in the cache folder (temp, then rename) and
//! validated by the same loader as a plugins folder (component, contract
//! version, imports, manifest). A hot swap on the server is a new hash.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, bail, Context, Result};
use sha2::{Digest, Sha256};

use super::client::Client;
use super::protocol::PluginRef;
use crate::runtime::{LoadedPlugin, Origin, Runtime};

pub struct PluginCache {
    rt: Arc<Runtime>,
    dir: PathBuf,
    loaded: Mutex<HashMap<String, LoadedPlugin>>,
}

fn is_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl PluginCache {
    pub fn new(cache_dir: PathBuf) -> Result<PluginCache> {
        let dir = cache_dir.join("plugins");
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create the cache folder {}", dir.display()))?;
        let rt = Arc::new(Runtime::new(&cache_dir.join("compiled"))?);
        Ok(PluginCache {
            rt,
            dir,
            loaded: Mutex::default(),
        })
    }

    pub fn runtime(&self) -> Arc<Runtime> {
        self.rt.clone()
    }

    /// The plugin `r` names, from memory, the cache folder or the server.
    pub async fn get(&self, client: &Client, r: &PluginRef) -> Result<LoadedPlugin> {
        if !is_hash(&r.sha256) {
            bail!("the server named a plugin by {:?}, not a SHA-256", r.sha256);
        }
        let hash = r.sha256.to_ascii_lowercase();
        if let Some(p) = self.loaded.lock().ok().and_then(|l| l.get(&hash).cloned()) {
            return Ok(p);
        }
        let path = self.dir.join(format!("{hash}.wasm"));
        let cached = std::fs::read(&path).ok().filter(|b| digest(b) == hash);
        let bytes = match cached {
            Some(b) => b,
            None => {
                let b = client
                    .plugin(&hash)
                    .await
                    .with_context(|| format!("cannot download plugin {} {}", r.name, r.version))?;
                if digest(&b) != hash {
                    bail!(
                        "the downloaded plugin {} does not match its hash {hash}",
                        r.name
                    );
                }
                let tmp = self.dir.join(format!(".{hash}.tmp"));
                std::fs::write(&tmp, &b)?;
                std::fs::rename(&tmp, &path)?;
                tracing::info!(plugin = %r.name, version = %r.version, sha256 = %hash, "plugin downloaded");
                b
            }
        };
        let (rt, p) = (self.rt.clone(), path.clone());
        let plugin = tokio::task::spawn_blocking(move || rt.load_bytes(&p, &bytes, Origin::File))
            .await?
            .map_err(|e| anyhow!("{e}"))?;
        if plugin.manifest.name != r.name {
            bail!(
                "plugin {hash} calls itself {:?}, the server said {:?}",
                plugin.manifest.name,
                r.name
            );
        }
        if let Ok(mut l) = self.loaded.lock() {
            l.insert(hash, plugin.clone());
        }
        Ok(plugin)
    }
}

fn digest(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}
