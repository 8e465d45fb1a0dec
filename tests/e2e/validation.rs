//! Files that are not valid plugins are refused with a clear reason, and
//! never stop the valid ones from loading.

use usersync_host::runtime::Runtime;

use crate::env::{built, TestEnv};

fn runtime(env: &TestEnv) -> Runtime {
    Runtime::new(&env.dir.path().join("cache")).unwrap()
}

#[test]
fn garbage_is_refused_naming_the_file() {
    let env = TestEnv::csv();
    let path = env.dir.path().join("garbage.wasm");
    std::fs::write(&path, b"this is not wasm at all").unwrap();
    let err = runtime(&env).load(&path).unwrap_err().to_string();
    assert!(
        err.contains("garbage.wasm") && err.contains("not a WebAssembly file"),
        "{err}"
    );
}

#[test]
fn a_half_written_file_is_refused() {
    let env = TestEnv::csv();
    let bytes = std::fs::read(built("plugins", "csv")).unwrap();
    let path = env.dir.path().join("half.wasm");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = runtime(&env).load(&path).unwrap_err().to_string();
    assert!(
        err.contains("half.wasm") && err.contains("does not compile"),
        "{err}"
    );
}

#[test]
fn a_component_of_the_wrong_world_is_refused() {
    let env = TestEnv::csv();
    let err = runtime(&env)
        .load(&built("test-plugins", "wrong-world"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("not a usersync plugin") && err.contains("greet"),
        "{err}"
    );
}

#[test]
fn a_core_module_is_refused() {
    let env = TestEnv::csv();
    let path = env.dir.path().join("core.wasm");
    std::fs::write(&path, b"\0asm\x01\0\0\0").unwrap();
    let err = runtime(&env).load(&path).unwrap_err().to_string();
    assert!(err.contains("core WebAssembly module"), "{err}");
}

#[test]
fn valid_plugins_describe_themselves() {
    let env = TestEnv::csv();
    let rt = runtime(&env);
    let csv = rt.load(&built("plugins", "csv")).unwrap();
    assert_eq!(
        (csv.manifest.name.as_str(), csv.wit_version.as_str()),
        ("csv", "0.2.0")
    );
    let mapper = rt.load(&built("plugins", "default-mapper")).unwrap();
    assert_eq!(
        mapper.manifest.kind,
        usersync_host::model::PluginKind::Mapper
    );
}

#[tokio::test]
async fn a_bad_file_in_the_plugins_folder_does_not_stop_the_others() {
    let env = TestEnv::csv();
    std::fs::write(env.dir.path().join("plugins/broken.wasm"), b"nope").unwrap();
    env.write_csv("id,uid,active,groups\n1,ada,true,Staff\n");
    let host = env.host().await;
    assert_eq!(host.registry().errors.len(), 1);
    let report = env.sync().await.unwrap();
    assert_eq!(report.run.outcome, "succeeded");
}
