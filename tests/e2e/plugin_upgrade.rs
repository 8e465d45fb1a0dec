//! Upgrading a plugin under a new file name: of several valid files with one
//! plugin name the highest version is served (on a tie, the file name last in
//! order), the others are listed as shadowed, and removing the served file
//! serves the next one at once: never a moment with nothing served.

use usersync_host::registry::Registry;
use usersync_host::runtime::Runtime;

use crate::env::{built, TestEnv};

#[test]
fn a_second_file_of_one_plugin_serves_when_the_first_is_removed() {
    let env = TestEnv::csv();
    let dir = env.dir.path().join("plugins");
    let rt = Runtime::new(&env.dir.path().join("cache")).unwrap();
    let upgrade = dir.join("default-mapper-v2.wasm");
    std::fs::copy(built("plugins", "default-mapper"), &upgrade).unwrap();

    // After a restart: one file serves, the other is listed as shadowed.
    let reg = Registry::scan(&rt, &dir);
    let served = reg
        .get("default", "default-mapper")
        .expect("served")
        .path
        .clone();
    let listed: Vec<_> = reg.errors.iter().map(|e| e.reason.clone()).collect();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(listed[0].contains("shadowed by"), "{listed:?}");

    // Removing the served file serves the other one in the same swap.
    std::fs::remove_file(&served).unwrap();
    let (next, _) = reg.with_file(&rt, &dir, &served);
    let now = next.get("default", "default-mapper").expect("still served");
    assert_ne!(now.path, served);
    assert!(next.errors.is_empty(), "{:?}", next.errors);

    // The old name coming back is shadowed or serves; a mapper is served either way.
    std::fs::copy(built("plugins", "default-mapper"), &served).unwrap();
    let (again, _) = next.with_file(&rt, &dir, &served);
    assert!(again.get("default", "default-mapper").is_some());
    assert_eq!(again.errors.len(), 1, "{:?}", again.errors);
}
