//! On-disk cache of compiled components. Compiling costs ~50 ms per plugin;
//! loading a cached artifact costs well under a millisecond.
//!
//! A cached artifact is native code that wasmtime's `deserialize` trusts
//! blindly, so the host only loads what it wrote itself:
//! - the folder must be a real directory owned by this user that nobody
//!   else can write (the host creates it 0700 and tightens its own 0755
//!   folders; a foreign-owned, group/world-writable or symlinked folder is
//!   not used at all, and every plugin is compiled instead);
//! - every file carries an HMAC-SHA256 of (wasm hash, engine hash, artifact)
//!   under a key the host keeps in that folder (0600), checked on the bytes
//!   read into memory before they are deserialized. A file copied under
//!   another plugin's name, truncated or written by anyone else fails the
//!   check and is recompiled, never run.
//!
//! Key: SHA-256 of the `.wasm` bytes plus the engine's compatibility hash,
//! so a wasmtime upgrade or a config change never loads a stale artifact.
//! Files are written to a temp name and renamed, so a crash never leaves a
//! half-written artifact under a valid name.

use std::fs::{DirBuilder, OpenOptions};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Result;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

const KEY_FILE: &str = "cache.key";
const KEY_LEN: usize = 32;
const MAC_LEN: usize = 32;

pub struct ArtifactCache {
    /// `None`: the folder failed its checks; nothing is read or written.
    dir: Option<PathBuf>,
    key: [u8; KEY_LEN],
    engine_hash: String,
}

impl ArtifactCache {
    pub fn new(dir: &Path, engine: &Engine) -> Self {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        let engine_hash = format!("{:016x}", h.finish());
        match private_dir(dir).and_then(|()| key(dir)) {
            Ok(key) => ArtifactCache {
                dir: Some(dir.to_path_buf()),
                key,
                engine_hash,
            },
            Err(reason) => {
                tracing::warn!(
                    "not using the plugin cache {}: {reason}; every plugin is compiled on load instead",
                    dir.display()
                );
                ArtifactCache {
                    dir: None,
                    key: [0; KEY_LEN],
                    engine_hash,
                }
            }
        }
    }

    /// Whether the folder passed its checks and is used.
    #[cfg(test)]
    pub fn in_use(&self) -> bool {
        self.dir.is_some()
    }

    pub fn content_hash(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    /// The compiled component for `bytes`, from the cache or freshly compiled.
    pub fn component(&self, engine: &Engine, bytes: &[u8], hash: &str) -> Result<Component> {
        let Some(dir) = &self.dir else {
            return Ok(Component::new(engine, bytes)?);
        };
        let path = dir.join(format!("{hash}-{}.cwasm", self.engine_hash));
        if let Some(artifact) = self.verified(&path, hash) {
            // SAFETY: `verified` checked the bytes in memory against an HMAC
            // only this host can make, bound to this wasm hash and engine:
            // they are exactly what `serialize` below wrote for this plugin.
            match unsafe { Component::deserialize(engine, artifact) } {
                Ok(component) => return Ok(component),
                Err(e) => {
                    tracing::warn!(path = %path.display(), "ignoring unreadable cached artifact: {e}")
                }
            }
        }
        let component = Component::new(engine, bytes)?;
        if let Err(e) = self.store(&path, hash, &component) {
            tracing::warn!(dir = %dir.display(), "cannot write the plugin cache: {e}");
        }
        Ok(component)
    }

    fn mac(&self, hash: &str, artifact: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(hash.as_bytes());
        mac.update(b"\0");
        mac.update(self.engine_hash.as_bytes());
        mac.update(b"\0");
        mac.update(artifact);
        mac
    }

    /// The artifact in `path` if its HMAC is right for `hash`; a file
    /// that fails is logged and left to be overwritten by a fresh compile.
    fn verified(&self, path: &Path, hash: &str) -> Option<Vec<u8>> {
        let mut file = std::fs::read(path).ok()?;
        if file.len() > MAC_LEN {
            let artifact = file.split_off(MAC_LEN);
            if self.mac(hash, &artifact).verify_slice(&file).is_ok() {
                return Some(artifact);
            }
        }
        tracing::warn!(path = %path.display(), "a cached artifact is not what this host wrote for this plugin; compiling the plugin instead");
        None
    }

    fn store(&self, path: &Path, hash: &str, component: &Component) -> Result<()> {
        let artifact = component.serialize()?;
        let tag = self.mac(hash, &artifact).finalize().into_bytes();
        let tmp = path.with_extension(unique_tmp());
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&tag)?;
        f.write_all(&artifact)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }
}

/// A temp-file suffix no other process or thread uses.
fn unique_tmp() -> String {
    format!("tmp-{}", uuid::Uuid::new_v4().simple())
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Create `dir` owner-only, or check an existing one: a real directory,
/// owned by this user, writable by nobody else.
fn private_dir(dir: &Path) -> Result<(), String> {
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| format!("cannot create its parent: {e}"))?;
    }
    match DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("cannot create it: {e}")),
    }
    let meta = std::fs::symlink_metadata(dir).map_err(|e| format!("cannot inspect it: {e}"))?;
    if meta.file_type().is_symlink() || !meta.is_dir() {
        return Err("it is not a plain directory (a symbolic link?); point plugins.cache_dir at a folder this user owns".into());
    }
    if meta.uid() != euid() {
        return Err(format!(
            "it belongs to uid {}, not to this user (uid {}); remove it or point plugins.cache_dir elsewhere",
            meta.uid(),
            euid()
        ));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o022 != 0 {
        return Err(format!(
            "others can write to it (mode {mode:o}); make it private (`chmod 700`) and empty it, or point plugins.cache_dir elsewhere"
        ));
    }
    if mode & 0o077 != 0 {
        // Ours and writable only by us: just hide it from others as well.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("cannot make it private: {e}"))?;
    }
    Ok(())
}

/// The folder's HMAC key, created on first use. A key file that is not a
/// private regular file of the right size is replaced (artifacts made with
/// any other key then fail their check and are recompiled).
fn key(dir: &Path) -> Result<[u8; KEY_LEN], String> {
    let path = dir.join(KEY_FILE);
    if let Ok(meta) = std::fs::symlink_metadata(&path) {
        let sound = meta.is_file()
            && meta.uid() == euid()
            && meta.mode() & 0o077 == 0
            && meta.len() == KEY_LEN as u64;
        if sound {
            if let Ok(bytes) = std::fs::read(&path) {
                if let Ok(key) = bytes.try_into() {
                    return Ok(key);
                }
            }
        }
        std::fs::remove_file(&path).map_err(|e| format!("cannot replace {KEY_FILE}: {e}"))?;
    }
    let mut key = [0u8; KEY_LEN];
    key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    // Written whole under a temp name, then linked into place: a process
    // racing us either sees no key or a complete one.
    let tmp = dir.join(format!("{KEY_FILE}.{}", unique_tmp()));
    let write = || -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&key)?;
        f.sync_all()
    };
    write().map_err(|e| format!("cannot write {KEY_FILE}: {e}"))?;
    let linked = std::fs::hard_link(&tmp, &path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(key),
        // Another process won the race: use its key.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => std::fs::read(&path)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| format!("cannot read {KEY_FILE}")),
        Err(e) => Err(format!("cannot write {KEY_FILE}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest valid component: no imports, no exports.
    const EMPTY: &[u8] = b"\0asm\x0d\0\x01\0";

    fn engine() -> Engine {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        Engine::new(&config).unwrap()
    }

    fn cached_files(dir: &Path) -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
            .collect()
    }

    #[test]
    fn the_host_creates_its_cache_folder_owner_only() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cache");
        let engine = engine();
        let cache = ArtifactCache::new(&dir, &engine);
        assert!(cache.in_use());
        let mode = std::fs::metadata(&dir).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let key_mode = std::fs::metadata(dir.join(KEY_FILE)).unwrap().mode() & 0o777;
        assert_eq!(key_mode, 0o600);
        let hash = ArtifactCache::content_hash(EMPTY);
        cache.component(&engine, EMPTY, &hash).unwrap();
        assert_eq!(cached_files(&dir).len(), 1);
        // A second host reads it back (same key on disk).
        let again = ArtifactCache::new(&dir, &engine);
        assert!(again.verified(&cached_files(&dir)[0], &hash).is_some());
    }

    #[test]
    fn an_artifact_copied_under_another_hash_is_not_loaded() {
        let tmp = tempfile::tempdir().unwrap();
        let engine = engine();
        let cache = ArtifactCache::new(tmp.path(), &engine);
        let hash = ArtifactCache::content_hash(EMPTY);
        cache.component(&engine, EMPTY, &hash).unwrap();
        let written = cached_files(tmp.path()).remove(0);
        let other = "f".repeat(64);
        let planted = tmp
            .path()
            .join(format!("{other}-{}.cwasm", cache.engine_hash));
        std::fs::copy(&written, &planted).unwrap();
        assert!(cache.verified(&planted, &other).is_none());
        assert!(cache.verified(&written, &hash).is_some());
        // A bare wasmtime artifact (no tag), as older hosts wrote, neither.
        let bare = engine.precompile_component(EMPTY).unwrap();
        std::fs::write(&written, bare).unwrap();
        assert!(cache.verified(&written, &hash).is_none());
    }

    #[test]
    fn a_world_writable_cache_folder_is_not_used() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let engine = engine();
        let cache = ArtifactCache::new(tmp.path(), &engine);
        assert!(!cache.in_use());
        let hash = ArtifactCache::content_hash(EMPTY);
        cache.component(&engine, EMPTY, &hash).unwrap();
        assert!(cached_files(tmp.path()).is_empty(), "nothing written there");
        assert!(!tmp.path().join(KEY_FILE).exists());
    }

    #[test]
    fn a_symlinked_or_foreign_owned_cache_folder_is_not_used() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real");
        std::fs::create_dir(&real).unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert!(!ArtifactCache::new(&link, &engine()).in_use());
        if euid() == 0 {
            // Only root can hand a folder to someone else.
            let foreign = tmp.path().join("foreign");
            std::fs::create_dir(&foreign).unwrap();
            std::os::unix::fs::chown(&foreign, Some(4242), Some(4242)).unwrap();
            std::fs::set_permissions(&foreign, std::fs::Permissions::from_mode(0o700)).unwrap();
            assert!(!ArtifactCache::new(&foreign, &engine()).in_use());
        }
    }

    #[test]
    fn a_private_folder_of_ours_is_tightened_and_used() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(ArtifactCache::new(tmp.path(), &engine()).in_use());
        let mode = std::fs::metadata(tmp.path()).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }
}
