//! Config misuse: a planted secret never reaches any output of a refused
//! config, absurd numbers are refused on reload while the daemon keeps
//! answering, and a panic in one run fails only that run.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::Value;

use crate::daemon_env::{flip_env, Served};

const SECRET: &str = "planted-Secret-4242";

/// `usersync -c <config> <args>`: (exit code, stdout, stderr).
fn cli(config: &std::path::Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_usersync"))
        .arg("-c")
        .arg(config)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// The job table with a typo on the line that holds the secret, or in
/// other places around it.
fn broken_configs(good: &str) -> Vec<String> {
    let secrets = format!("\n[jobs.secrets]\napi = {{ value = \"{SECRET}\" }}\n");
    let with = |line: &str| format!("{good}\n[jobs.secrets]\n{line}\n");
    vec![
        with(&format!("api = {{ value = \"{SECRET}\" ")),
        with(&format!("api = {{ valeu = \"{SECRET}\" }}")),
        with(&format!("api = {{ value = \"{SECRET}\" }} }}")),
        // (a plain string is a secret's value since issue 12; a list is not)
        with(&format!("api = [\"{SECRET}\"]")),
        with(&format!("api = {{ value = [\"{SECRET}\"] }}")),
        format!("{good}{secrets}interval_secnds = 5\n"),
        format!("{good}{secrets}[jobs.retry]\nattempts = \"{SECRET}\"\n"),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn a_config_error_never_prints_a_planted_secret() {
    let env = flip_env(1, "");
    let path = env.dir.path().join("usersync.toml");
    let good = std::fs::read_to_string(&path).unwrap();

    // The CLI: every command that loads the config.
    for text in broken_configs(&good) {
        std::fs::write(&path, &text).unwrap();
        for args in [
            &["sync", "--job", "people"][..],
            &["sync", "--job", "people", "--json"],
            &["test-connection", "--job", "people"],
            &["runs"],
        ] {
            let (code, stdout, stderr) = cli(&path, args);
            assert_ne!(code, Some(0), "{args:?} accepted:\n{text}");
            assert!(stderr.contains("line "), "{args:?}: {stderr}");
            assert!(
                !stdout.contains(SECRET) && !stderr.contains(SECRET),
                "{args:?} printed the secret:\n{text}\n=> {stdout}{stderr}"
            );
        }
    }

    // The daemon: a reload refused for each, its log and every answer clean.
    std::fs::write(&path, &good).unwrap();
    let d = Served::start(env);
    for (n, text) in broken_configs(&good).into_iter().enumerate() {
        let tmp = d.env.dir.path().join(".usersync.toml.tmp");
        std::fs::write(&tmp, &text).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        d.signal("HUP");
        let until = std::time::Instant::now() + crate::daemon_env::PATIENCE;
        while d.log().matches("the new config is refused").count() <= n {
            assert!(
                std::time::Instant::now() < until,
                "no refusal:\n{}",
                d.log()
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        for p in ["/health", "/jobs", "/jobs/people", "/plugins", "/runs"] {
            let (_, body) = d.get(p).await;
            assert!(!body.to_string().contains(SECRET), "{p} leaks: {body}");
        }
    }
    let log = d.log();
    assert!(log.contains("line "), "{log}");
    assert!(!log.contains(SECRET), "the log leaks the secret:\n{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_absurd_interval_on_reload_is_refused_and_the_api_keeps_answering() {
    let mut d = Served::start(flip_env(1, ""));
    for (key, value) in [
        ("interval_seconds", toml::Value::Integer(i64::MAX)),
        ("schedule", toml::Value::String("0 0 31 2 *".into())),
    ] {
        d.env.edit(|doc| {
            doc["jobs"][0]
                .as_table_mut()
                .unwrap()
                .insert(key.into(), value.clone());
        });
        let health = d
            .wait_for("the refusal", "/health", |h| {
                h["details"]["config_error"]
                    .as_str()
                    .is_some_and(|e| e.contains(&format!("jobs[0].{key}")))
            })
            .await;
        assert_eq!(health["status"], "degraded");
        // The API and runs go on with the previous config.
        assert_eq!(d.ok("/jobs/people").await["status"], "idle");
        assert_eq!(d.run("people", "").await["outcome"], "succeeded");
        d.env.edit(|doc| {
            doc["jobs"][0].as_table_mut().unwrap().remove(key);
        });
        d.wait_for("the good config", "/health", |h| h["status"] == "ok")
            .await;
    }
    assert!(d.stop().success(), "SIGTERM; log:\n{}", d.log());
    assert!(!d.log().contains("panicked"), "{}", d.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panic_in_one_run_fails_that_run_with_a_record_and_the_daemon_serves_the_next() {
    let env = flip_env(2, "");
    env.edit(|doc| {
        let jobs = doc["jobs"].as_array_mut().unwrap();
        let mut boom = jobs[0].as_table().unwrap().clone();
        boom.insert("id".into(), "boom".into());
        jobs.push(toml::Value::Table(boom));
    });
    let mut d = Served::start_with(env, &[("USERSYNC_TEST_PANIC_JOB", "boom")]);
    for _ in 0..2 {
        let (status, started) = d.post("/jobs/boom/run").await;
        assert_eq!(status, StatusCode::ACCEPTED, "{started}");
        let job = d.wait_finished("boom", &started).await;
        assert_eq!(job["last_run"]["outcome"], "failed", "{job}");
        let run_id = started["run_id"].as_str().unwrap();
        let run: Value = d.ok(&format!("/runs/{run_id}")).await;
        assert_eq!(run["outcome"], "failed", "{run}");
        assert!(
            run["message"].as_str().unwrap().contains("internal error"),
            "{run}"
        );
        // The other job and the API are unaffected.
        assert_eq!(d.run("people", "").await["outcome"], "succeeded");
        assert_eq!(d.ok("/jobs/people").await["status"], "idle");
    }
    assert!(d.stop().success(), "SIGTERM; log:\n{}", d.log());
}
