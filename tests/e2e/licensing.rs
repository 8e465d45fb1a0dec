//! License seats: granted to active users, freed by deactivation, and the
//! two shortage policies.

use serde_json::json;
use usersync_host::sync::{RunReport, SyncRequest};

use crate::env::TestEnv;
use crate::script::{source, user};

fn people(n: usize) -> serde_json::Value {
    let names = ["ada", "grace", "alan", "linus"];
    source(
        (0..n).map(|i| user(&format!("u{i}"), names[i])).collect(),
        vec![],
    )
}

fn licensed_env(seats: u32, policy: &str, users: usize) -> TestEnv {
    let env = TestEnv::scripted(people(users));
    env.set_licenses(json!({ "standard": seats }));
    env.set_job(
        "sync",
        json!({ "license_kind": "standard", "license_policy": policy }),
    );
    env
}

pub(crate) async fn licensed(env: &TestEnv) -> Vec<String> {
    let mut names: Vec<_> = env
        .users()
        .await
        .into_iter()
        .filter(|u| u.licenses == ["standard"])
        .map(|u| u.username)
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn active_users_hold_a_seat_and_deactivated_users_free_it() {
    let env = licensed_env(2, "stop", 2);
    let report = env.sync().await.unwrap();
    assert_eq!(report.plan.counts().licenses_granted, 2);
    assert_eq!(licensed(&env).await, ["ada", "grace"]);

    // grace leaves: her seat is freed ...
    env.set_job("source", people(1));
    let report = env.sync().await.unwrap();
    assert_eq!(report.plan.counts().licenses_freed, 1);
    assert_eq!(licensed(&env).await, ["ada"]);

    // ... so a newcomer fits into two seats.
    env.set_job(
        "source",
        source(vec![user("u0", "ada"), user("u9", "linus")], vec![]),
    );
    let report = env.sync().await.unwrap();
    assert_eq!(report.run.outcome, "succeeded", "{:?}", report.run.message);
    assert_eq!(licensed(&env).await, ["ada", "linus"]);
}

#[tokio::test]
async fn more_users_than_seats_stops_the_run_with_policy_stop() {
    let env = licensed_env(2, "stop", 3);
    let report = env.sync().await.unwrap();
    assert_eq!(report.run.outcome, "stopped_by_license");
    let message = report.run.message.unwrap();
    assert!(
        message.contains("3 users") && message.contains("2 seats"),
        "{message}"
    );
    assert!(env.users().await.is_empty(), "nothing changed");
    assert!(env.audit_of_run(&report.run.id).await.is_empty());
}

#[tokio::test]
async fn a_shortage_stops_a_later_run_without_touching_anything() {
    let env = licensed_env(2, "stop", 2);
    env.sync().await.unwrap();
    env.set_job("source", people(3));
    let report = env.sync().await.unwrap();
    assert_eq!(report.run.outcome, "stopped_by_license");
    assert_eq!(env.active().await, ["ada", "grace"]);
    assert_eq!(licensed(&env).await, ["ada", "grace"]);
}

#[tokio::test]
async fn sync_without_license_syncs_everyone_and_licenses_what_fits() {
    let env = licensed_env(2, "sync_without_license", 3);
    let report = env.sync().await.unwrap();
    assert_eq!(report.run.outcome, "succeeded");
    assert_eq!(env.active().await, ["ada", "alan", "grace"]);
    assert_eq!(licensed(&env).await.len(), 2);
    let warning = report
        .plan
        .warnings
        .iter()
        .find(|w| w.contains("license shortage"))
        .unwrap_or_else(|| panic!("{:?}", report.plan.warnings));
    assert!(
        warning.contains("1 users were synced without one"),
        "{warning}"
    );
    let run = env.run_record(&report.run.id).await;
    assert!(run
        .warnings
        .unwrap()
        .to_string()
        .contains("license shortage"));
}

/// Job `people` and a second job `contractors` of the same tenant, each
/// with `n` users of its own, sharing `seats` seats of `standard`.
pub(crate) fn two_jobs(seats: u32, policy: &str, n: usize) -> TestEnv {
    let users = |prefix: &str| {
        (0..n)
            .map(|i| user(&format!("{prefix}{i}"), &format!("{prefix}{i}")))
            .collect()
    };
    let env = TestEnv::scripted(source(users("p"), vec![]));
    env.set_licenses(json!({ "standard": seats }));
    env.set_job(
        "sync",
        json!({ "license_kind": "standard", "license_policy": policy }),
    );
    let contractors = toml::Value::try_from(source(users("c"), vec![])).unwrap();
    env.edit(|doc| {
        let jobs = doc["jobs"].as_array_mut().unwrap();
        let mut job = jobs[0].as_table().unwrap().clone();
        job.insert("id".into(), "contractors".into());
        job.insert("source".into(), contractors);
        jobs.push(toml::Value::Table(job));
    });
    env
}

/// Both jobs of `two_jobs`, started together on one host.
async fn sync_both(env: &TestEnv) -> [RunReport; 2] {
    let host = env.host().await;
    let run = |job: &str| SyncRequest {
        job: job.into(),
        ..Default::default()
    };
    let (people, contractors) = (run("people"), run("contractors"));
    let (a, b) = tokio::join!(host.sync(&people), host.sync(&contractors));
    [a.unwrap(), b.unwrap()]
}

#[tokio::test]
async fn concurrent_runs_never_assign_more_seats_than_exist() {
    // 300 seats, two jobs of 200 users each, triggered together: both plan
    // against 300 free seats, but only one may take them.
    let env = two_jobs(300, "stop", 200);
    let reports = sync_both(&env).await;
    let mut outcomes: Vec<&str> = reports.iter().map(|r| r.run.outcome.as_str()).collect();
    outcomes.sort();
    assert_eq!(
        outcomes,
        ["stopped_by_license", "succeeded"],
        "{:?}",
        reports.iter().map(|r| &r.run.message).collect::<Vec<_>>()
    );
    let stopped = reports.iter().find(|r| r.plan.stop.is_some()).unwrap();
    assert!(
        env.audit_of_run(&stopped.run.id).await.is_empty(),
        "the stopped run changed nothing"
    );
    assert_eq!(licensed(&env).await.len(), 200);
    assert_eq!(env.users().await.len(), 200);
}

#[tokio::test]
async fn concurrent_runs_without_license_policy_share_the_seats_that_exist() {
    let env = two_jobs(300, "sync_without_license", 200);
    let reports = sync_both(&env).await;
    for r in &reports {
        assert_eq!(r.run.outcome, "succeeded", "{:?}", r.run.message);
    }
    assert_eq!(env.users().await.len(), 400, "everyone is synced");
    assert_eq!(licensed(&env).await.len(), 300, "but only 300 hold a seat");
    let granted: u32 = reports
        .iter()
        .map(|r| r.plan.counts().licenses_granted as u32)
        .sum();
    assert_eq!(granted, 300, "the run records count what was granted");
    assert!(
        reports.iter().any(|r| r
            .plan
            .warnings
            .iter()
            .any(|w| w.contains("license shortage"))),
        "{:?}",
        reports.iter().map(|r| &r.plan.warnings).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn plugins_are_told_the_seats_in_use() {
    let env = licensed_env(5, "stop", 2);
    let mut script = people(2);
    script["seats_attribute"] = json!("seats");
    env.set_job("source", script);
    env.set_job(
        "mapping",
        json!({ "username": "{uid}", "custom": { "seats": "{seats}" } }),
    );
    env.sync().await.unwrap();
    let seats = |custom: Option<String>| -> String {
        let custom: serde_json::Value = serde_json::from_str(&custom.unwrap()).unwrap();
        custom["seats"].as_str().unwrap().to_string()
    };
    assert_eq!(seats(env.user("ada").await.custom), "standard=5/0");
    // The second run reads after the first granted two seats.
    env.sync_full().await.unwrap();
    assert_eq!(seats(env.user("ada").await.custom), "standard=5/2");
}
