//! On-disk cache of compiled components. Compiling costs ~50 ms per plugin;
//! loading a cached artifact costs well under a millisecond.
//!
//! Key: SHA-256 of the `.wasm` bytes plus the engine's compatibility hash,
//! so a wasmtime upgrade or a config change never loads a stale artifact.
//! Files are written to a temp name and renamed, so a crash never leaves a
//! half-written artifact under a valid name.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use anyhow::Result;
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

pub struct ArtifactCache {
    dir: PathBuf,
    engine_hash: String,
}

impl ArtifactCache {
    pub fn new(dir: &Path, engine: &Engine) -> Self {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        ArtifactCache {
            dir: dir.to_path_buf(),
            engine_hash: format!("{:016x}", h.finish()),
        }
    }

    pub fn content_hash(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    /// The compiled component for `bytes`, from the cache or freshly compiled.
    pub fn component(&self, engine: &Engine, bytes: &[u8], hash: &str) -> Result<Component> {
        let path = self.dir.join(format!("{hash}-{}.cwasm", self.engine_hash));
        if path.exists() {
            // SAFETY: the file was written by `serialize` below for this
            // exact engine configuration (the name carries both hashes) and
            // lives in a folder only the host writes.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => return Ok(component),
                Err(e) => {
                    tracing::warn!(path = %path.display(), "ignoring unreadable cached artifact: {e}")
                }
            }
        }
        let component = Component::new(engine, bytes)?;
        if let Err(e) = self.store(&path, &component) {
            tracing::warn!(dir = %self.dir.display(), "cannot write the plugin cache: {e}");
        }
        Ok(component)
    }

    fn store(&self, path: &Path, component: &Component) -> Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, component.serialize()?)?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }
}
