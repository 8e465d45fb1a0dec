//! Signed plugins: `plugins keygen` / `sign` / `verify`, and
//! `[plugins] require_signature` with `trusted_keys` (globally and per
//! tenant): a file signed by a trusted key serves; unsigned, tampered and
//! unknown-key files are refused with the reason, and in the daemon the
//! previously served version keeps serving.

use std::path::{Path, PathBuf};

use crate::daemon_env::{flip_env, Served};
use crate::env::{built, usersync, TestEnv};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `plugins keygen --out DIR/NAME`: the secret key file and the public key.
fn keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let (ok, said) = usersync(&["plugins", "keygen", "--out", s(&dir.join(name))]);
    assert!(ok, "{said}");
    let public = std::fs::read_to_string(dir.join(format!("{name}.pub"))).unwrap();
    (dir.join(format!("{name}.key")), public.trim().to_string())
}

fn sign(file: &Path, key: &Path) {
    let (ok, said) = usersync(&["plugins", "sign", s(file), "--key", s(key)]);
    assert!(ok, "{said}");
}

/// Require signatures by `trusted` (a TOML array) for every tenant.
fn require(env: &TestEnv, trusted: &str) {
    let path = env.dir.path().join("usersync.toml");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "[plugins]\n",
        &format!("[plugins]\nrequire_signature = true\ntrusted_keys = {trusted}\n"),
    );
    std::fs::write(path, text).unwrap();
}

#[tokio::test]
async fn signed_files_serve_and_unsigned_tampered_or_unknown_key_files_are_refused() {
    let env = flip_env(2, "");
    let keys = env.dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    let (acme, acme_pub) = keygen(&keys, "acme");
    let (other, _) = keygen(&keys, "other");
    let plugins = env.dir.path().join("plugins");
    sign(&plugins.join("scripted-connector.wasm"), &acme);
    sign(&plugins.join("flip-mapper.wasm"), &acme);
    let (ok, said) = usersync(&[
        "plugins",
        "verify",
        s(&plugins.join("flip-mapper.wasm")),
        "--key",
        s(&keys.join("acme.pub")),
    ]);
    assert!(ok && said.contains("signed by"), "{said}");

    // Three bad files beside the good ones.
    let unsigned = plugins.join("unsigned.wasm");
    std::fs::copy(built("example-plugins", "contractor-mapper"), &unsigned).unwrap();
    let unknown = plugins.join("unknown.wasm");
    std::fs::copy(built("example-plugins", "contractor-mapper"), &unknown).unwrap();
    sign(&unknown, &other);
    let tampered = plugins.join("tampered.wasm");
    std::fs::copy(built("example-plugins", "contractor-mapper"), &tampered).unwrap();
    sign(&tampered, &acme);
    let mut bytes = std::fs::read(&tampered).unwrap();
    let at = bytes.len() - 100;
    bytes[at] ^= 1;
    std::fs::write(&tampered, bytes).unwrap();
    let (ok, said) = usersync(&["plugins", "verify", s(&tampered), "--key", &acme_pub]);
    assert!(
        !ok && said.contains("changed after it was signed"),
        "{said}"
    );

    require(
        &env,
        &format!("[{{ name = \"acme\", key = \"{acme_pub}\" }}]"),
    );
    let host = env.host().await;
    let registry = host.registry();
    let mapper = registry
        .get("default", "flip-mapper")
        .expect("signed: served");
    assert!(
        mapper.signature.describe().starts_with("signed by acme"),
        "{:?}",
        mapper.signature
    );
    let reason = |path: &Path| {
        registry
            .errors
            .iter()
            .find(|e| e.path == path)
            .map(|e| e.reason.clone())
            .unwrap_or_else(|| panic!("{} not refused", path.display()))
    };
    assert!(reason(&unsigned).contains("it is not signed"));
    assert!(reason(&unknown).contains("not in trusted_keys"));
    assert!(reason(&tampered).contains("changed after it was signed"));
    let report = env.sync().await.unwrap();
    assert_eq!(report.run.outcome, "succeeded", "{:?}", report.run.message);

    let (ok, listing) = usersync(&[
        "-c",
        s(&env.dir.path().join("usersync.toml")),
        "plugins",
        "list",
    ]);
    assert!(ok, "{listing}");
    assert!(listing.contains("signed by acme"), "{listing}");
    assert!(listing.contains("refused:"), "{listing}");
}

#[tokio::test]
async fn a_tenant_can_require_signatures_the_others_do_not() {
    let env = flip_env(1, "");
    let keys = env.dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    let (_, acme_pub) = keygen(&keys, "acme");
    let path = env.dir.path().join("usersync.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&format!(
        "\n[[tenants]]\nid = \"strict\"\nplugins = {{ require_signature = true, trusted_keys = [\"{acme_pub}\"] }}\n"
    ));
    std::fs::write(&path, text).unwrap();
    let host = env.host().await;
    let registry = host.registry();
    assert!(registry.serve("default", "flip-mapper").is_ok());
    let refused = registry.serve("strict", "flip-mapper").unwrap_err();
    assert!(
        refused
            .as_deref()
            .is_some_and(|r| r.contains("not served to tenant strict: it is not signed")),
        "{refused:?}"
    );
    // Built-ins are part of the binary: they serve every tenant.
    assert!(registry.serve("strict", "default-mapper").is_ok());
}

#[tokio::test]
async fn the_daemon_swaps_in_a_signed_mapper_and_refuses_an_unsigned_one() {
    let env = flip_env(1, "");
    let keys = env.dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    let (acme, acme_pub) = keygen(&keys, "acme");
    let plugins = env.dir.path().join("plugins");
    sign(&plugins.join("scripted-connector.wasm"), &acme);
    sign(&plugins.join("flip-mapper.wasm"), &acme);
    require(&env, &format!("[\"{acme_pub}\"]"));
    let d = Served::start(env);
    let version = |p: &serde_json::Value| {
        p["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "flip-mapper")
            .map(|p| p["version"].as_str().unwrap().to_string())
    };

    // A signed build b replaces a.
    let staged = d.env.dir.path().join("flip-b.wasm");
    std::fs::copy(built("test-plugins", "flip-mapper-b"), &staged).unwrap();
    sign(&staged, &acme);
    std::fs::rename(&staged, plugins.join("flip-mapper.wasm")).unwrap();
    let listing = d
        .wait_for("the signed swap", "/plugins", |p| {
            version(p).as_deref() == Some("0.1.0-b")
        })
        .await;
    let flip = listing["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "flip-mapper")
        .unwrap()
        .clone();
    assert!(
        flip["signature"]
            .as_str()
            .unwrap()
            .starts_with("signed by key "),
        "{flip}"
    );

    // An unsigned build a is refused; b keeps serving.
    d.install("test-plugins", "flip-mapper-a", "flip-mapper");
    let listing = d
        .wait_for("the refusal", "/plugins", |p| {
            !p["refused"].as_array().unwrap().is_empty()
        })
        .await;
    let refused = &listing["refused"][0];
    assert!(
        refused["reason"]
            .as_str()
            .unwrap()
            .contains("it is not signed"),
        "{refused}"
    );
    assert_eq!(refused["still_serving"], "flip-mapper 0.1.0-b");
    assert_eq!(version(&listing).as_deref(), Some("0.1.0-b"));
    assert!(d.log().contains("it is not signed"), "{}", d.log());
    let run = d.run("people", "").await;
    assert_eq!(run["outcome"], "succeeded", "{run}");
    assert_eq!(run["mapper_versions"], "flip-mapper 0.1.0-b");
}

/// wasmsign2's key files and signed files work with the CLI, both ways (its
/// library stands in for its command line, which writes the same bytes).
#[test]
fn wasmsign2_keys_and_signatures_work_with_plugins_sign_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let vendor = wasmsign2::KeyPair::generate();
    let (w2_pub, w2_key) = (dir.path().join("w2.pub"), dir.path().join("w2.key"));
    vendor.pk.to_file(&w2_pub).unwrap();
    vendor.sk.to_file(&w2_key).unwrap();
    let with_id = vendor.pk.clone().attach_default_key_id();

    // Signed by wasmsign2, verified by usersync with wasmsign2's public key file.
    let theirs = dir.path().join("theirs.wasm");
    let module =
        wasmsign2::Module::deserialize_from_file(built("example-plugins", "contractor-mapper"))
            .unwrap();
    let (signed, _) = vendor
        .sk
        .sign_multi(module, with_id.key_id(), false, false)
        .unwrap();
    signed.serialize_to_file(&theirs).unwrap();
    let (ok, said) = usersync(&["plugins", "verify", s(&theirs), "--key", s(&w2_pub)]);
    assert!(ok && said.contains("signed by"), "{said}");
    let (ok, said) = usersync(&["plugins", "check", s(&theirs)]);
    assert!(ok, "{said}");

    // Signed by usersync with wasmsign2's secret key file, verified by wasmsign2.
    let ours = dir.path().join("ours.wasm");
    std::fs::copy(built("example-plugins", "contractor-mapper"), &ours).unwrap();
    sign(&ours, &w2_key);
    let mut file = std::io::BufReader::new(std::fs::File::open(&ours).unwrap());
    with_id.verify(&mut file, None).unwrap();

    // A key file that is neither says what it expected.
    std::fs::write(dir.path().join("bad.pub"), "hello").unwrap();
    let (ok, said) = usersync(&[
        "plugins",
        "verify",
        s(&ours),
        "--key",
        s(&dir.path().join("bad.pub")),
    ]);
    assert!(!ok && said.contains("wasmsign2 public key"), "{said}");
}
