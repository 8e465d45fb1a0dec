//! The repository itself: no machine-specific build output is committed
//! (compiled plugin caches are native code for one host and one engine).

use std::path::Path;
use std::process::Command;

/// Files git tracks that are build output: compiled plugins (`.cwasm`),
/// anything under a `.usersync/` state folder, native libraries.
fn build_output(path: &str) -> bool {
    let native = [".cwasm", ".so", ".dylib", ".dll", ".exe", ".o"];
    native.iter().any(|ext| path.ends_with(ext))
        || path.starts_with(".usersync/")
        || path.contains("/.usersync/")
}

#[test]
fn no_compiled_artifacts_are_tracked_by_git() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let listing = Command::new("git")
        .arg("-C")
        .arg(&repo)
        .args(["ls-files", "-z"])
        .output();
    let Some(listing) = listing.ok().filter(|o| o.status.success()) else {
        eprintln!("skipped: no git, or not a git checkout");
        return;
    };
    let tracked = String::from_utf8_lossy(&listing.stdout);
    let bad: Vec<&str> = tracked.split('\0').filter(|p| build_output(p)).collect();
    assert!(
        bad.is_empty(),
        "compiled artifacts are committed (remove them with `git rm --cached`; .gitignore lists .usersync/): {bad:?}"
    );
}

#[test]
fn the_build_output_rule_knows_the_cache_files() {
    assert!(build_output(
        "examples/quickstart/.usersync/cache/ab12.cwasm"
    ));
    assert!(build_output(".usersync/state.json"));
    assert!(!build_output("plugins/csv/src/lib.rs"));
    assert!(!build_output("examples/quickstart/usersync.toml"));
}
