//! `usersync plugins new`: the generated Rust mapper project builds (for
//! wasm32-wasip2, offline, release) into a file `plugins check` accepts.
//! The build reuses the workspace's target folder and lock file, so only
//! the new crate itself compiles.

use std::path::Path;
use std::process::Command;

use crate::env::usersync;

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

#[test]
fn a_new_rust_mapper_project_builds_into_a_plugin_check_accepts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("acme-titles");
    let (ok, said) = usersync(&[
        "plugins",
        "new",
        "acme-titles",
        "--kind",
        "mapper",
        "--dir",
        dir.to_str().unwrap(),
    ]);
    assert!(ok, "{said}");
    for f in ["Cargo.toml", "src/lib.rs", "build.sh", "README.md"] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    // Same versions as the workspace, so its compiled dependencies serve.
    std::fs::copy(repo().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    let built = Command::new("cargo")
        .args([
            "build",
            "--quiet",
            "--offline",
            "--release",
            "--target",
            "wasm32-wasip2",
        ])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", repo().join("target"))
        // The workspace's release profile, for the same reason.
        .env("CARGO_PROFILE_RELEASE_DEBUG", "line-tables-only")
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let wasm = repo().join("target/wasm32-wasip2/release/acme_titles.wasm");
    let (ok, said) = usersync(&["plugins", "check", wasm.to_str().unwrap()]);
    assert!(ok, "{said}");
    assert!(said.contains("ok: acme-titles 0.1.0 (mapper"), "{said}");

    // A bad name says what a name may hold.
    let (ok, said) = usersync(&["plugins", "new", "Bad_Name", "--kind", "mapper"]);
    assert!(!ok && said.contains("lowercase letters"), "{said}");
}
