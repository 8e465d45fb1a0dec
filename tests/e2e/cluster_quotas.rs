//! Tenant run quotas across nodes: `max_concurrent_runs` and
//! `runs_per_hour` are counted in the store, inside the lease take, so
//! several nodes sharing it never give a tenant more than its quota.

use std::time::Duration;

use reqwest::StatusCode;
use usersync_host::store::{LeaseClaim, QuotaHit, RunQuota, Store, Take};

use crate::daemon_env::Served;
use crate::env::TestEnv;
use crate::leases::{node_env, set_node, slow_env};

const LONG: Duration = Duration::from_secs(60);

fn claim(node: &str) -> LeaseClaim {
    LeaseClaim {
        node: node.into(),
        lease: LONG,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn nodes_racing_for_a_tenants_jobs_never_exceed_its_concurrent_quota() {
    let env = TestEnv::csv();
    let s = Store::open(&env.config().store_url()).await.unwrap();
    let quota = RunQuota {
        concurrent: Some(2),
        per_hour: None,
    };
    // 12 jobs of one tenant, taken at once by 4 nodes.
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                let (job, run) = (format!("job-{i}"), format!("run-{i}"));
                let take = s
                    .take_lease(
                        "acme",
                        &job,
                        &run,
                        &claim(&format!("node-{}", i % 4)),
                        None,
                        quota,
                    )
                    .await;
                (job, run, take.unwrap())
            })
        })
        .collect();
    let mut taken = Vec::new();
    for t in tasks {
        let (job, run, take) = t.await.unwrap();
        match take {
            Take::Taken { .. } => taken.push((job, run)),
            Take::Quota(hit) => assert_eq!(hit, QuotaHit::Concurrent { limit: 2 }),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(taken.len(), 2, "{taken:?}");

    // Another tenant is not counted; a released run frees a place.
    let other = s
        .take_lease("globex", "job-0", "g-0", &claim("node-0"), None, quota)
        .await
        .unwrap();
    assert!(matches!(other, Take::Taken { .. }), "{other:?}");
    let (job, run) = &taken[0];
    let node = s.lease_holder("acme", job).await.unwrap().unwrap().node;
    s.release_lease("acme", job, run, &node).await.unwrap();
    // A job none of the racers got (which ones won is up to the race).
    let waiting = (0..12)
        .map(|i| format!("job-{i}"))
        .find(|j| taken.iter().all(|(t, _)| t != j))
        .unwrap();
    let again = s
        .take_lease("acme", &waiting, "run-again", &claim("node-3"), None, quota)
        .await
        .unwrap();
    assert!(matches!(again, Take::Taken { .. }), "{again:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_per_hour_counts_the_starts_of_every_node() {
    let env = TestEnv::csv();
    let s = Store::open(&env.config().store_url()).await.unwrap();
    let quota = RunQuota {
        concurrent: None,
        per_hour: Some(3),
    };
    let mut refused = None;
    for i in 0..5 {
        let (node, run) = (format!("node-{}", i % 2), format!("run-{i}"));
        match s
            .take_lease("acme", "people", &run, &claim(&node), None, quota)
            .await
            .unwrap()
        {
            Take::Taken { .. } => {
                assert!(i < 3, "start {i} was allowed");
                s.release_lease("acme", "people", &run, &node)
                    .await
                    .unwrap();
            }
            Take::Quota(hit) => {
                assert!(i >= 3, "start {i} was refused");
                refused = Some(hit);
            }
            other => panic!("{other:?}"),
        }
    }
    let Some(QuotaHit::Hourly { limit, reopens_ms }) = refused else {
        panic!("{refused:?}")
    };
    assert_eq!(limit, 3);
    let in_an_hour = chrono::Utc::now().timestamp_millis() + 3_600_000;
    assert!(
        (in_an_hour - reopens_ms).abs() < 60_000,
        "a place frees up an hour after the first start: {reopens_ms}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_node_refuses_a_run_over_the_tenants_concurrent_quota() {
    let base = slow_env(40, 100);
    base.edit(|doc| {
        let jobs = doc["jobs"].as_array_mut().unwrap();
        let mut second = jobs[0].clone();
        second["id"] = "people2".into();
        jobs.push(second);
        let mut limits = toml::Table::new();
        limits.insert("max_concurrent_runs".into(), 1.into());
        doc["tenants"].as_array_mut().unwrap()[0]
            .as_table_mut()
            .unwrap()
            .insert("limits".into(), limits.into());
    });
    set_node(&base, "node-a");
    let env_b = node_env(&base, "node-b");
    let a = Served::start(base);
    let b = Served::start(env_b);

    let (status, started) = a.post("/jobs/people/run").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let (status, refused) = b.post("/jobs/people2/run").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{refused}");
    let id = refused["run_id"].as_str().unwrap();
    let record = b
        .wait_for("the refused run's record", &format!("/runs/{id}"), |_| true)
        .await;
    assert_eq!(record["outcome"], "stopped_by_quota", "{record}");
    let message = record["message"].as_str().unwrap();
    assert!(
        message.contains("max_concurrent_runs = 1") && message.contains("on all nodes"),
        "{message}"
    );

    a.wait_finished("people", &started).await;
    let (status, again) = b.post("/jobs/people2/run").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{again}");
}
