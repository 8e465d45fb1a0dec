//! Run ids are matched exactly (or by a unique prefix of at least eight
//! characters, as `usersync runs` prints them), never as an SQL pattern
//! (issue 11, item 6).

use reqwest::StatusCode;

use crate::daemon_env::Served;
use crate::env::TestEnv;

#[tokio::test(flavor = "multi_thread")]
async fn run_ids_are_not_patterns_in_the_api() {
    let env = TestEnv::csv();
    env.write_csv("id,uid,active,groups\n1,ada,true,Staff\n");
    let d = Served::start(env);
    let run = d.run("people", "").await;
    let id = run["id"].as_str().unwrap();

    // `%` and `_` once matched every run as LIKE wildcards.
    for path in [
        "/runs/%25",
        "/runs/_",
        "/runs/%25%25%25%25%25%25%25%25",
        "/runs/________",
        "/runs/%5C",
    ] {
        let (status, err) = d.get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "GET {path}: {err}");
        assert!(err["error"].as_str().unwrap().contains("no run"), "{err}");
    }
    let pattern = format!("/runs/{}%25", &id[..8]);
    assert_eq!(d.get(&pattern).await.0, StatusCode::NOT_FOUND);

    // The id, or a prefix of eight characters or more, finds the run;
    // a shorter prefix does not.
    assert_eq!(d.ok(&format!("/runs/{id}")).await["id"], id);
    assert_eq!(d.ok(&format!("/runs/{}", &id[..8])).await["id"], id);
    let (status, _) = d.get(&format!("/runs/{}", &id[..7])).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[test]
fn runs_show_takes_an_id_or_a_unique_prefix_never_a_pattern() {
    let env = TestEnv::csv();
    env.write_csv("id,uid,active,groups\n1,ada,true,Staff\n");
    let cli = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_usersync"))
            .arg("-c")
            .arg(env.dir.path().join("usersync.toml"))
            .args(args)
            .output()
            .unwrap()
    };
    assert!(cli(&["sync", "--job", "people"]).status.success());
    let out = cli(&["--json", "runs"]);
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = runs[0]["id"].as_str().unwrap().to_string();

    for pattern in ["%", "_", "%%%%%%%%", "________"] {
        let out = cli(&["runs", "show", pattern]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "runs show {pattern} found a run");
        assert!(stderr.contains("no run"), "{stderr}");
    }
    for given in [&id[..], &id[..8]] {
        let out = cli(&["--json", "runs", "show", given]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let run: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(run["id"], id.as_str());
    }
}
