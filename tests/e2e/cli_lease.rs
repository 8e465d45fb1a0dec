//! `usersync sync` from the CLI holds the job's lease like a node's run: it
//! is refused, naming the node, while a `usersync serve` node runs the job,
//! and runs once the node's run has ended.

use reqwest::StatusCode;

use crate::daemon_env::Served;
use crate::env::usersync;
use crate::leases::{set_node, slow_env};

#[tokio::test(flavor = "multi_thread")]
async fn a_cli_sync_waits_for_the_nodes_run_of_the_job_and_names_it() {
    let env = slow_env(30, 100);
    set_node(&env, "node-a");
    let config = env.dir.path().join("usersync.toml");
    let config = config.to_str().unwrap().to_string();
    let a = Served::start(env);

    let (status, started) = a.post("/jobs/people/run").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let run = started["run_id"].as_str().unwrap();
    let (ok, text) = usersync(&["-c", &config, "sync", "--job", "people"]);
    assert!(!ok, "the CLI ran the job beside node-a's run: {text}");
    assert!(
        text.contains("job default/people is running now on node node-a")
            && text.contains(run)
            && text.contains("usersync runs --job people"),
        "{text}"
    );

    a.wait_finished("people", &started).await;
    let (ok, text) = usersync(&["-c", &config, "--json", "sync", "--job", "people"]);
    assert!(ok, "{text}");
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["run"]["node"], "node-a-cli", "{report}");
    let holder = a.ok("/runs?job=people").await;
    assert!(
        holder["runs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["outcome"] != "running"),
        "{holder}"
    );
}
