//! License seats: granted to active users, freed by deactivation, and the
//! two shortage policies.

use serde_json::json;

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

async fn licensed(env: &TestEnv) -> Vec<String> {
    let mut names: Vec<_> = env
        .users()
        .await
        .into_iter()
        .filter(|u| u.licenses.as_deref() == Some("standard"))
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
    assert!(run.warnings.unwrap().contains("license shortage"));
}
