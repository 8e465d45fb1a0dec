//! Tenant quotas (issue 12): `[tenants.limits]` max_users, runs_per_hour
//! and max_concurrent_runs, through the real daemon. A refused run leaves
//! a `stopped_by_quota` record naming the quota and how to raise it.

use reqwest::StatusCode;
use serde_json::Value;

use crate::daemon_env::Served;
use crate::env::{built, TestEnv};

const THREE: &str = "id,uid,active,groups\n1,ada,true,Staff\n2,alan,true,Staff\n3,grace,true,Ops\n";

/// The CSV job `people` (three users) with the default tenant's limits
/// set to `limits`.
fn env_with_limits(limits: toml::Table) -> TestEnv {
    let env = TestEnv::csv();
    env.write_csv(THREE);
    env.edit(|doc| {
        let tenant = doc["tenants"].as_array_mut().unwrap()[0]
            .as_table_mut()
            .unwrap();
        tenant.insert("limits".into(), toml::Value::Table(limits));
    });
    env
}

/// Wait until the run record `id` exists (a refused run's record is
/// written in the background) and return it.
async fn record(d: &Served, id: &Value) -> Value {
    let id = id.as_str().unwrap();
    d.wait_for("the run record", &format!("/runs/{id}"), |_| true)
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn max_users_stops_a_run_and_runs_per_hour_refuses_the_next_with_a_record() {
    let d = Served::start(env_with_limits(toml::toml! {
        max_users = 2
        runs_per_hour = 1
    }));

    // Three users would exceed max_users = 2: stopped, nothing applied.
    let run = d.run("people", "").await;
    assert_eq!(run["outcome"], "stopped_by_quota", "{run}");
    let message = run["message"].as_str().unwrap();
    assert!(
        message.contains("would have 3 active users")
            && message.contains("max_users = 2")
            && message.contains("Raise max_users"),
        "{message}"
    );
    assert_eq!(d.ok("/users").await["total"], 0, "nothing applied");

    // The hour's one run is used: the next is refused, with a record.
    let (status, err) = d.post("/jobs/people/run").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{err}");
    let message = err["error"].as_str().unwrap();
    assert!(
        message.contains("runs_per_hour = 1") && message.contains("Raise runs_per_hour"),
        "{message}"
    );
    let refused = record(&d, &err["run_id"]).await;
    assert_eq!(refused["outcome"], "stopped_by_quota", "{refused}");
    assert_eq!(refused["message"], err["error"]);
    let job = d.ok("/jobs/people").await;
    assert_eq!(job["last_run"]["outcome"], "stopped_by_quota", "{job}");
}

#[tokio::test(flavor = "multi_thread")]
async fn max_concurrent_runs_refuses_a_second_run_of_the_tenant_while_one_runs() {
    // Job `spin` loops until its CPU limit stops it (2 s): long enough to
    // try a second run of the tenant meanwhile.
    let env = env_with_limits(toml::toml! {
        max_concurrent_runs = 1
        cpu_seconds = 2.0
        memory_mb = 64
    });
    std::fs::copy(
        built("test-plugins", "hostile-connector"),
        env.dir.path().join("plugins/hostile-connector.wasm"),
    )
    .unwrap();
    env.edit(|doc| {
        let jobs = doc["jobs"].as_array_mut().unwrap();
        jobs.push(toml::Value::Table(toml::toml! {
            id = "spin"
            connector = "hostile-connector"
            mappers = ["default-mapper"]
            [source]
            mode = "loop"
            users = 1
        }));
    });
    let d = Served::start(env);
    let (status, spin) = d.post("/jobs/spin/run").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{spin}");
    let (status, err) = d.post("/jobs/people/run").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{err}");
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("max_concurrent_runs = 1"),
        "{err}"
    );
    assert_eq!(
        record(&d, &err["run_id"]).await["outcome"],
        "stopped_by_quota"
    );
    // Once the spinning run is stopped, the tenant's place is free again.
    let spun = d.wait_finished("spin", &spin).await;
    assert_eq!(spun["last_run"]["outcome"], "failed", "{spun}");
    let run = d.run("people", "").await;
    assert_eq!(run["outcome"], "succeeded", "{run}");
}
