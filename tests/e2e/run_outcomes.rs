//! Run outcomes a script or a monitor can trust: a run that cannot start is
//! recorded with its reason, empty and mostly rejected reads are not
//! successes, `sync --json` prints the run even when it fails, and the exit
//! code says how the run ended.

use std::process::{Command, Output};

use serde_json::{json, Value};

use crate::env::TestEnv;
use crate::script::{group, source, user, with};

/// `usersync --json <args>` on the env's config.
fn cli(env: &TestEnv, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_usersync"))
        .arg("-c")
        .arg(env.dir.path().join("usersync.toml"))
        .arg("--json")
        .args(args)
        .output()
        .unwrap()
}

fn stdout_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn staff(id: &str, uid: &str) -> Value {
    with(user(id, uid), json!({ "member_of": ["g1"] }))
}

fn three_staff() -> Value {
    let mut s = source(
        vec![
            staff("u1", "ada"),
            staff("u2", "grace"),
            staff("u3", "alan"),
        ],
        vec![group("g1", "Staff", &[])],
    );
    s["cursor"] = json!("c1");
    s
}

/// No csv connector at all: its file gone and no built-in behind it.
fn remove_csv_connector(env: &TestEnv) {
    std::fs::remove_file(env.dir.path().join("plugins/csv.wasm")).unwrap();
    env.edit(|doc| {
        let plugins = doc["plugins"].as_table_mut().unwrap();
        plugins.insert("builtins".into(), toml::Value::Boolean(false));
    });
}

#[tokio::test]
async fn a_run_whose_connector_is_missing_is_recorded_with_its_reason() {
    let env = TestEnv::csv();
    remove_csv_connector(&env);
    let err = env.sync().await.unwrap_err();
    assert!(format!("{err:#}").contains("connector"), "{err:#}");

    let runs = env
        .host()
        .await
        .store
        .runs(None, Some("people"), 10)
        .await
        .unwrap();
    assert_eq!(runs.len(), 1, "the attempt has a record");
    assert_eq!(runs[0].outcome, "failed");
    let message = runs[0].message.as_deref().unwrap();
    assert!(
        message.contains("could not start") && message.contains("connector = \"csv\""),
        "{message}"
    );
    assert!(runs[0].finished_at.is_some());
}

#[tokio::test]
async fn sync_json_prints_the_failed_run_and_exits_non_zero() {
    let env = TestEnv::csv();
    remove_csv_connector(&env);
    let out = cli(&env, &["sync", "--job", "people"]);
    assert!(!out.status.success());
    let body = stdout_json(&out);
    assert_eq!(body["run"]["outcome"], "failed", "{body:#}");
    assert_eq!(body["run"]["job_id"], "people");
    assert!(
        body["error"].as_str().unwrap().contains("connector"),
        "{body:#}"
    );
    // The same run, from the record.
    let runs = cli(&env, &["runs"]);
    let runs = stdout_json(&runs);
    assert_eq!(runs[0]["id"], body["run"]["id"]);
}

#[tokio::test]
async fn run_records_in_json_hold_counts_errors_and_warnings_as_values() {
    let env = TestEnv::scripted(three_staff());
    let out = cli(&env, &["sync", "--job", "people"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = stdout_json(&out);
    assert_eq!(report["run"]["counts"]["created"], 3, "{report:#}");
    assert!(report["run"]["errors"].is_array(), "{report:#}");
    assert!(report["run"]["warnings"].is_array(), "{report:#}");

    let runs = stdout_json(&cli(&env, &["runs"]));
    assert_eq!(runs[0]["counts"]["groups_created"], 1, "{runs:#}");
    let id = runs[0]["id"].as_str().unwrap();
    let shown = stdout_json(&cli(&env, &["runs", "show", id]));
    assert_eq!(shown["counts"]["memberships_added"], 3, "{shown:#}");
    assert_eq!(shown["errors"], json!([]));
}

#[tokio::test]
async fn a_mapping_that_rejects_every_user_stops_before_creating_anything() {
    let env = TestEnv::scripted(three_staff());
    // The connector sends `uid`; this mapping names an attribute it lacks.
    env.set_job(
        "mapping",
        json!({ "username": { "from": "sAMAccountName" } }),
    );
    let out = cli(&env, &["sync", "--job", "people"]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "exit code of stopped_by_rejected"
    );
    let report = stdout_json(&out);
    assert_eq!(
        report["run"]["outcome"], "stopped_by_rejected",
        "{report:#}"
    );
    let message = report["run"]["message"].as_str().unwrap();
    assert!(message.contains("max_rejected_percent"), "{message}");
    assert!(env.users().await.is_empty());
    assert!(env.groups().await.is_empty(), "no group created either");
    assert_eq!(env.cursor().await, None, "the cursor did not move");
}

#[tokio::test]
async fn max_rejected_percent_lets_a_run_with_some_rejected_records_apply() {
    let mut s = three_staff();
    s["reject"] = json!(["entry cn=barbara: no id"]);
    let env = TestEnv::scripted(s.clone());
    // 1 of 4 records: over the default 10%.
    let report = env.sync().await.unwrap();
    assert_eq!(report.run.outcome, "stopped_by_rejected");
    assert!(env.users().await.is_empty());
    env.set_job("sync", json!({ "max_rejected_percent": 50 }));
    let report = env.sync().await.unwrap();
    assert_eq!(report.run.outcome, "succeeded");
    assert_eq!(env.active().await, ["ada", "alan", "grace"]);
}

#[tokio::test]
async fn max_rejected_percent_out_of_range_is_a_config_error_naming_the_key() {
    let env = TestEnv::scripted(three_staff());
    env.set_job("sync", json!({ "max_rejected_percent": 150 }));
    let err =
        usersync_host::config::Config::load(&env.dir.path().join("usersync.toml")).unwrap_err();
    assert!(
        format!("{err:#}").contains("jobs[0].sync.max_rejected_percent"),
        "{err:#}"
    );
}

#[tokio::test]
async fn an_empty_read_is_recorded_as_empty_read_and_exits_3() {
    let env = TestEnv::scripted(three_staff());
    env.set_job("sync", json!({ "full_every_hours": 0.0 }));
    env.sync().await.unwrap();
    let mut empty = source(vec![], vec![group("g1", "Staff", &[])]);
    empty["cursor"] = json!("c2");
    env.set_job("source", empty);
    let out = cli(&env, &["sync", "--job", "people"]);
    assert_eq!(out.status.code(), Some(3), "exit code of empty_read");
    let report = stdout_json(&out);
    assert_eq!(report["run"]["outcome"], "empty_read", "{report:#}");
    assert_eq!(env.active().await, ["ada", "alan", "grace"]);
    assert_eq!(env.cursor().await.as_deref(), Some("c1"), "not applied");
}
