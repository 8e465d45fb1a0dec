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
