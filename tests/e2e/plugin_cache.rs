//! Issue 11 item 4: the compiled-plugin cache only loads what this host
//! wrote for that exact plugin, from a folder only this user can write.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use usersync_host::runtime::Runtime;

use crate::env::built;

fn artifacts(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect()
}

/// The artifact whose name starts with the plugin file's content hash.
fn artifact_of(dir: &Path, hash: &str) -> PathBuf {
    artifacts(dir)
        .into_iter()
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(hash))
        .expect("the plugin was cached")
}

#[test]
fn an_artifact_planted_under_another_plugins_hash_is_not_run() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let (csv, mapper) = (built("plugins", "csv"), built("plugins", "default-mapper"));
    let (csv_hash, mapper_hash) = {
        let rt = Runtime::new(&cache).unwrap();
        let a = rt.load(&csv).unwrap();
        let b = rt.load(&mapper).unwrap();
        (a.hash, b.hash)
    };
    // Copy csv's compiled code over the mapper's cache entry.
    std::fs::copy(
        artifact_of(&cache, &csv_hash),
        artifact_of(&cache, &mapper_hash),
    )
    .unwrap();
    let rt = Runtime::new(&cache).unwrap();
    let loaded = rt.load(&mapper).unwrap();
    assert_eq!(
        loaded.manifest.name, "default-mapper",
        "the planted artifact must be recompiled, not run as the mapper"
    );
    // ...and the entry was rewritten with the right code.
    let again = Runtime::new(&cache).unwrap().load(&mapper).unwrap();
    assert_eq!(again.manifest.name, "default-mapper");
}

#[test]
fn a_world_writable_cache_folder_is_not_used() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    std::fs::create_dir(&cache).unwrap();
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    let csv = built("plugins", "csv");
    let rt = Runtime::new(&cache).unwrap();
    assert_eq!(rt.load(&csv).unwrap().manifest.name, "csv");
    assert!(
        artifacts(&cache).is_empty(),
        "nothing is cached in (or loaded from) a folder others can write"
    );
}
