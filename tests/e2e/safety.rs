//! Reads that cannot prove departures deactivate nobody (and take nothing
//! from the users they missed); too many departures stop the run until
//! confirmed.

use serde_json::{json, Value};
use usersync_host::sync::SyncRequest;

use crate::env::TestEnv;
use crate::script::{group, source, user, with};

const NAMES: [&str; 5] = ["ada", "grace", "alan", "linus", "barbara"];

/// The first `n` of five users, checkpointed at `cursor`. Each names its
/// group (Staff, role "staff") in `member_of`, as AD's memberOf or a CSV
/// groups column do, so a user the read misses takes its membership along.
fn people(n: usize, cursor: &str) -> Value {
    let users = (0..n)
        .map(|i| {
            with(
                user(&format!("u{i}"), NAMES[i]),
                json!({ "member_of": ["g1"] }),
            )
        })
        .collect();
    let mut s = source(users, vec![group("g1", "Staff", &[])]);
    s["cursor"] = json!(cursor);
    s
}

/// Five users synced; every later run is a full read (the fixture
/// checkpoints a cursor, which would otherwise make the next run incremental).
async fn synced_five(sync: Value) -> TestEnv {
    let env = TestEnv::scripted(people(5, "c1"));
    let mut policy = json!({ "full_every_hours": 0.0 });
    for (k, v) in sync.as_object().unwrap() {
        policy[k] = v.clone();
    }
    env.set_job("sync", policy);
    env.set_job("roles", json!([{ "group": "Staff", "role": "staff" }]));
    env.sync().await.unwrap();
    all_five_untouched(&env).await;
    env
}

/// Nobody lost anything: five active users, each in Staff with its role.
async fn all_five_untouched(env: &TestEnv) {
    let users = env.users().await;
    assert_eq!(users.len(), 5);
    for u in users {
        assert!(u.active, "{u:?}");
        assert_eq!(u.groups, ["Staff"], "{u:?}");
        assert_eq!(u.roles, ["staff"], "{u:?}");
    }
}

#[tokio::test]
async fn too_many_departures_stop_the_run_until_confirmed() {
    let env = synced_five(json!({ "deactivate_threshold": 2 })).await;
    env.set_job("source", people(2, "c2"));

    let report = env.sync().await.unwrap();
    assert_eq!(report.run.outcome, "stopped_by_threshold");
    let message = report.run.message.clone().unwrap();
    assert!(
        message.contains("--confirm-deletions") && message.contains("3 users"),
        "{message}"
    );
    all_five_untouched(&env).await;
    assert!(env.audit_of_run(&report.run.id).await.is_empty());
    assert_eq!(
        env.cursor().await.as_deref(),
        Some("c1"),
        "nothing committed"
    );
    let run = env.run_record(&report.run.id).await;
    assert_eq!(run.outcome, "stopped_by_threshold");

    let confirmed = env
        .sync_with(SyncRequest {
            confirm_deletions: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(confirmed.run.outcome, "succeeded");
    let c = confirmed.plan.counts();
    let counts = (c.deactivated, c.memberships_removed, c.roles_revoked);
    assert_eq!(counts, (3, 3, 3), "{c:?}");
    assert_eq!(env.active().await, ["ada", "grace"]);
    assert_eq!(env.cursor().await.as_deref(), Some("c2"));
}

#[tokio::test]
async fn departures_within_the_threshold_apply() {
    let env = synced_five(json!({ "deactivate_threshold": 2 })).await;
    env.set_job("source", people(3, "c2"));
    let report = env.sync().await.unwrap();
    assert_eq!(report.run.outcome, "succeeded");
    assert_eq!(report.plan.counts().deactivated, 2);
}

#[tokio::test]
async fn an_empty_read_deactivates_nobody() {
    let env = synced_five(json!({})).await;
    // The group search still works, the user search returns nothing.
    env.set_job("source", people(0, "c2"));
    let report = env.sync().await.unwrap();
    assert_eq!(report.run.outcome, "empty_read", "not a success");
    assert!(report.plan.is_noop(), "{:#?}", report.plan);
    assert!(
        report.plan.warnings.iter().any(|w| w.contains("no users")),
        "{:?}",
        report.plan.warnings
    );
    all_five_untouched(&env).await;
    assert!(env.groups().await.iter().all(|g| g.2), "groups stay active");

    env.set_job(
        "source",
        json!({ "users": [], "groups": [], "cursor": "c3" }),
    );
    assert!(env.sync().await.unwrap().plan.is_noop());
    all_five_untouched(&env).await;
}

#[tokio::test]
async fn a_partial_read_deactivates_nobody() {
    let env = synced_five(json!({})).await;
    let mut partial = people(2, "c2");
    partial["complete"] = json!(false);
    env.set_job("source", partial);
    let report = env.sync().await.unwrap();
    assert_eq!(report.run.outcome, "succeeded");
    assert!(
        report
            .plan
            .warnings
            .iter()
            .any(|w| w.contains("partial read")),
        "{:?}",
        report.plan.warnings
    );
    // The users it missed keep their memberships and roles too.
    assert!(report.plan.is_noop(), "{:#?}", report.plan);
    all_five_untouched(&env).await;
}

#[tokio::test]
async fn a_rejected_record_is_an_error_and_deactivates_nobody() {
    // 1 rejected of 5 is over the default max_rejected_percent.
    let env = synced_five(json!({ "max_rejected_percent": 50 })).await;
    let mut s = people(4, "c2");
    s["reject"] = json!(["entry cn=barbara: no id"]);
    env.set_job("source", s);
    let report = env.sync().await.unwrap();
    assert_eq!(report.run.outcome, "succeeded");
    let c = report.plan.counts();
    assert_eq!((c.errors, c.deactivated), (1, 0), "{c:?}");
    let run = env.run_record(&report.run.id).await;
    assert!(run
        .errors
        .unwrap()
        .to_string()
        .contains("entry cn=barbara: no id"));
    all_five_untouched(&env).await;
}

#[tokio::test]
async fn a_percentage_threshold_protects_a_directory_smaller_than_the_count() {
    // 2 of 5 users leave: far below the count (500), over 20% of them.
    let env = synced_five(json!({ "deactivate_threshold_percent": 20 })).await;
    env.set_job("source", people(3, "c2"));
    let report = env.sync().await.unwrap();
    assert_eq!(report.run.outcome, "stopped_by_threshold");
    let message = report.run.message.unwrap();
    assert!(
        message.contains("sync.deactivate_threshold_percent = 20")
            && message.contains("sync.deactivate_threshold ")
            && message.contains("--confirm-deletions"),
        "{message}"
    );
    all_five_untouched(&env).await;
}

#[tokio::test]
async fn the_percentage_threshold_defaults_to_20_and_is_bounded() {
    let env = TestEnv::scripted(people(5, "c1"));
    env.edit(|doc| {
        doc["jobs"][0]["sync"]
            .as_table_mut()
            .unwrap()
            .remove("deactivate_threshold_percent");
    });
    let job = env.config().jobs[0].clone();
    assert_eq!(job.sync.deactivate_threshold_percent, Some(20.0));

    for bad in [
        toml::Value::from(500),
        toml::Value::from(-1.0),
        toml::Value::from(f64::NAN),
    ] {
        env.edit(|doc| {
            doc["jobs"][0]["sync"]
                .as_table_mut()
                .unwrap()
                .insert("deactivate_threshold_percent".into(), bad.clone());
        });
        let path = env.dir.path().join("usersync.toml");
        let err = format!(
            "{:#}",
            usersync_host::config::Config::load(&path).unwrap_err()
        );
        assert!(
            err.contains("deactivate_threshold_percent") && err.contains("between 0 and 100"),
            "{bad}: {err}"
        );
    }
}
