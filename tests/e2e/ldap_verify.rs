//! `verify-password` (library, CLI and `POST /verify-password`) against a
//! real slapd: one bind as the synced user; the password shows nowhere.

use std::io::Write;
use std::process::{Command, Stdio};

use ldap_harness::{DirectorySpec, SlapdOptions};
use reqwest::StatusCode;
use serde_json::json;

use crate::daemon_env::Served;
use crate::ldap_env::{openldap_env, openldap_source, slapd_with};

const PASSWORD: &str = "Corr3ct horse, battery";

fn cli(env: &crate::env::TestEnv, username: &str, password: &str) -> (bool, serde_json::Value) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_usersync"))
        .arg("-c")
        .arg(env.dir.path().join("usersync.toml"))
        .args([
            "--json",
            "verify-password",
            "--job",
            "people",
            username,
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains(password), "{stderr}");
    let answer = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("stdout: {:?} stderr: {stderr}", out.stdout));
    (out.status.success(), answer)
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_password_binds_as_the_synced_user() {
    let spec = DirectorySpec::new(8, 2, 5).user_password(Some(PASSWORD.into()));
    let slapd = slapd_with(&spec, SlapdOptions::default());
    let env = openldap_env(&slapd, openldap_source(&slapd));
    env.sync().await.unwrap();
    let uid = (0..spec.users)
        .map(|i| spec.user(i))
        .find(|u| !u.disabled)
        .unwrap()
        .uid;

    let host = env.host().await;
    let ok = host
        .verify_password(None, "people", &uid, PASSWORD)
        .await
        .unwrap();
    assert!(ok.valid, "{ok:?}");
    let bad = host
        .verify_password(None, "people", &uid, "guess")
        .await
        .unwrap();
    assert!(!bad.valid);
    assert!(bad.reason.contains("invalid credentials"), "{}", bad.reason);
    let nobody = host
        .verify_password(None, "people", "nobody", PASSWORD)
        .await
        .unwrap();
    assert!(
        !nobody.valid && nobody.reason.contains("no user"),
        "{nobody:?}"
    );
    drop(host);

    let (accepted, answer) = cli(&env, &uid, PASSWORD);
    assert!(accepted && answer["valid"] == true, "{answer}");
    let (accepted, answer) = cli(&env, &uid, "guess");
    assert!(!accepted && answer["valid"] == false, "{answer}");

    let d = Served::start(env);
    let ask = |password: &str| json!({ "job": "people", "username": uid, "password": password });
    let (status, answer) = d.post_json("/verify-password", &ask(PASSWORD)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["valid"], true);
    let (status, answer) = d.post_json("/verify-password", &ask("guess")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["valid"], false);
    let (status, _) = d.post_json("/verify-password", &ask("")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        !d.log().contains(PASSWORD),
        "the password never reaches the log"
    );
}
