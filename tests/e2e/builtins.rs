//! The first-party plugins built into the binary: `usersync init` +
//! `usersync sync` work with an empty plugins folder, `plugins list` says
//! what serves from where, a file of the same name overrides a built-in
//! (and removing it serves the built-in again), `builtins = false` turns
//! them off.

use std::process::Command;

use serde_json::Value;
use usersync_host::registry::{FileChange, Registry};
use usersync_host::runtime::Origin;

use crate::env::TestEnv;

fn usersync(dir: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_usersync"));
    c.current_dir(dir)
        .env_remove("RUST_LOG")
        .env_remove("USERSYNC_LOG");
    c.env("XDG_CACHE_HOME", dir.join("xdg-cache"));
    c
}

fn stdout(c: &mut Command) -> String {
    let out = c.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{:?}: {text}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn init_then_sync_works_with_an_empty_plugins_folder() {
    let dir = tempfile::tempdir().unwrap();
    let said = stdout(usersync(dir.path()).arg("init"));
    assert!(said.contains("built in"), "{said}");
    // The shared test cache: the built-ins compile once for the whole suite.
    let config = dir.path().join("usersync.toml");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "cache_dir = \".usersync/cache\"",
        &format!(
            "cache_dir = {:?}",
            crate::env::test_cache().display().to_string()
        ),
    );
    std::fs::write(&config, text).unwrap();
    assert_eq!(
        std::fs::read_dir(dir.path().join("plugins"))
            .unwrap()
            .count(),
        0
    );
    let synced = stdout(usersync(dir.path()).args(["sync", "--job", "people"]));
    assert!(synced.contains("succeeded"), "{synced}");
    assert!(synced.contains("5 created"), "{synced}");

    let listing = stdout(usersync(dir.path()).args(["plugins", "list"]));
    for name in ["csv", "ldap", "graph", "okta", "default-mapper"] {
        assert!(listing.contains(name), "{listing}");
    }
    assert!(listing.contains("built-in"), "{listing}");
    assert!(
        listing.contains("only built-in plugins are served"),
        "the empty folder gets a hint: {listing}"
    );
    let json: Value = serde_json::from_str(&stdout(
        usersync(dir.path()).args(["--json", "plugins", "list"]),
    ))
    .unwrap();
    let plugins = json["plugins"].as_array().unwrap();
    assert_eq!(plugins.len(), 5, "{json}");
    assert!(plugins.iter().all(|p| p["origin"] == "built-in"), "{json}");
}

#[tokio::test]
async fn a_file_overrides_a_builtin_and_its_removal_serves_the_builtin_again() {
    // The csv job's folder holds csv.wasm and default-mapper.wasm as files.
    let env = TestEnv::csv();
    let host = env.host().await;
    let reg = host.registry();
    assert_eq!(reg.get("default", "csv").unwrap().origin, Origin::File);
    assert_eq!(reg.get("default", "okta").unwrap().origin, Origin::BuiltIn);
    let overridden: Vec<_> = reg
        .overridden_builtins()
        .into_iter()
        .map(|(n, _)| n.to_string())
        .collect();
    assert_eq!(overridden, ["csv", "default-mapper"]);

    let dir = env.dir.path().join("plugins");
    let file = dir.join("default-mapper.wasm");
    std::fs::remove_file(&file).unwrap();
    let (next, change) = reg.with_file(&host.runtime, &dir, &file);
    let FileChange::Removed(Some(old), Some(now)) = change else {
        panic!("{change:?}");
    };
    assert_eq!(old, "default-mapper 0.1.0");
    assert!(now.contains("built-in"), "{now}");
    let served = next.get("default", "default-mapper").unwrap();
    assert_eq!(served.origin, Origin::BuiltIn);

    // A run right after the swap uses the built-in: same mapping, no change.
    env.write_csv("id,uid,mail,active,groups\n1,ada,ada@example.com,true,Staff\n");
    host.set_registry(next);
    let report = host
        .sync(&usersync_host::sync::SyncRequest {
            job: "people".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(report.run.outcome, "succeeded", "{:?}", report.run.message);
}

#[tokio::test]
async fn builtins_off_means_only_files_serve() {
    let env = TestEnv::new(
        &[("plugins", "csv")],
        "connector = \"csv\"\nmappers = [\"default-mapper\"]\n",
    );
    let config = std::fs::read_to_string(env.dir.path().join("usersync.toml")).unwrap();
    let config = config.replace("[plugins]\n", "[plugins]\nbuiltins = false\n");
    std::fs::write(env.dir.path().join("usersync.toml"), config).unwrap();
    let host = env.host().await;
    assert!(host.registry().get("default", "okta").is_none());
    assert_eq!(host.registry().all().count(), 1);
    let error = env.sync().await.unwrap_err().to_string();
    assert!(
        error.contains("mappers = \"default-mapper\": no plugin with that name"),
        "{error}"
    );
    // Registry::scan (no policy) never serves built-ins either.
    let rt = usersync_host::runtime::Runtime::new(&env.dir.path().join("cache")).unwrap();
    let reg = Registry::scan(&rt, &env.dir.path().join("plugins"));
    assert!(reg.get("default", "okta").is_none());
}
