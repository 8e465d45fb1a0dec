//! Trying a mapper before swapping it: `usersync sync --dry-run --mapper
//! FILE` and `POST /tenants/{t}/jobs/{id}/preview` run the job with the
//! candidate in place of the served mapper and show what would change;
//! nothing is applied and the candidate is never installed.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::Value;

use crate::daemon_env::{flip_env, Served, TOKEN};
use crate::env::{built, TestEnv};

/// Job `people`: three users synced through flip-mapper variant a
/// (display name `a userN`).
async fn synced_with_variant_a() -> TestEnv {
    let env = flip_env(3, "");
    let report = env.sync().await.unwrap();
    assert_eq!(report.run.outcome, "succeeded", "{:?}", report.run.message);
    env
}

fn usersync(env: &TestEnv, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_usersync"))
        .arg("-c")
        .arg(env.dir.path().join("usersync.toml"))
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("USERSYNC_LOG")
        .output()
        .unwrap()
}

/// The display names the store holds, by username.
async fn display_names(env: &TestEnv) -> Vec<String> {
    let host = env.host().await;
    let mut users = host.store.users(None).await.unwrap();
    users.sort_by(|a, b| a.username.cmp(&b.username));
    users
        .iter()
        .map(|u| u.display_name.clone().unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn a_candidate_mapper_shows_its_changes_and_changes_nothing() {
    let env = synced_with_variant_a().await;
    let candidate = built("test-plugins", "flip-mapper-b");
    let out = usersync(
        &env,
        &[
            "--json",
            "sync",
            "--job",
            "people",
            "--dry-run",
            "--mapper",
            candidate.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let run = &report["run"];
    assert_eq!(run["dry_run"], true);
    assert_eq!(run["mode"], "full", "a candidate is tried on every record");
    assert!(
        run["mapper_versions"]
            .as_str()
            .unwrap()
            .contains("flip-mapper 0.1.0-b (candidate"),
        "{run}"
    );
    let users = report["plan"]["users"].as_array().unwrap();
    assert_eq!(users.len(), 3, "{report}");
    let text = serde_json::to_string(users).unwrap();
    assert!(
        text.contains("a user1") && text.contains("b user1"),
        "old and new display names: {text}"
    );

    // Nothing applied, nothing installed: variant a still maps.
    assert_eq!(display_names(&env).await, ["a user1", "a user2", "a user3"]);
    let plugins: Vec<_> = std::fs::read_dir(env.dir.path().join("plugins"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(plugins.len(), 2, "{plugins:?}");
    let human = usersync(
        &env,
        &[
            "sync",
            "--job",
            "people",
            "--dry-run",
            "--mapper",
            candidate.to_str().unwrap(),
        ],
    );
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.contains("dry run: nothing was changed"), "{text}");
    assert!(text.contains("b user2"), "{text}");
}

#[tokio::test]
async fn a_candidate_needs_dry_run_and_must_be_a_mapper() {
    let env = synced_with_variant_a().await;
    let candidate = built("test-plugins", "flip-mapper-b");
    let out = usersync(
        &env,
        &[
            "sync",
            "--job",
            "people",
            "--mapper",
            candidate.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--dry-run"), "{err}");

    let connector = built("test-plugins", "scripted-connector");
    let out = usersync(
        &env,
        &[
            "sync",
            "--job",
            "people",
            "--dry-run",
            "--mapper",
            connector.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is a connector, not a mapper"), "{err}");
    let garbage = env.dir.path().join("garbage.wasm");
    std::fs::write(&garbage, b"not wasm").unwrap();
    let out = usersync(
        &env,
        &[
            "sync",
            "--job",
            "people",
            "--dry-run",
            "--mapper",
            garbage.to_str().unwrap(),
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a WebAssembly file"), "{err}");
    assert_eq!(display_names(&env).await, ["a user1", "a user2", "a user3"]);
}

#[tokio::test]
async fn the_api_previews_a_candidate_uploaded_in_the_body() {
    let served = Served::start(synced_with_variant_a().await);
    let client = reqwest::Client::new();
    let url = served.url("/tenants/default/jobs/people/preview");
    let bytes = std::fs::read(built("test-plugins", "flip-mapper-b")).unwrap();
    let answer = client
        .post(&url)
        .bearer_auth(TOKEN)
        .header("content-type", "application/wasm")
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let report: Value = answer.json().await.unwrap();
    assert_eq!(report["run"]["dry_run"], true);
    assert!(serde_json::to_string(&report["plan"]["users"])
        .unwrap()
        .contains("b user3"));

    let bad = client
        .post(&url)
        .bearer_auth(TOKEN)
        .body(b"not wasm".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let body: Value = bad.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("not a WebAssembly file"),
        "{body}"
    );
    // Still variant a in the store and in the folder.
    assert_eq!(
        display_names(&served.env).await,
        ["a user1", "a user2", "a user3"]
    );
}
