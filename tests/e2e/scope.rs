//! Who is in scope: user filters, group scope, required attributes.

use serde_json::json;

use crate::env::TestEnv;
use crate::script::{group, source, user, user_with, with};

fn in_dept(id: &str, uid: &str, department: &str) -> serde_json::Value {
    user_with(id, uid, json!({ "department": department }))
}

#[tokio::test]
async fn user_filter_creates_only_matching_users_and_deactivates_leavers() {
    let people = |ada_dept: &str| {
        source(
            vec![
                in_dept("u1", "ada", ada_dept),
                in_dept("u2", "grace", "Engineering Ops"),
                in_dept("u3", "alan", "Sales"),
            ],
            vec![],
        )
    };
    let env = TestEnv::scripted(people("Engineering"));
    env.set_job(
        "sync",
        json!({ "user_filter": { "attribute": "department", "pattern": "^Eng" } }),
    );
    let report = env.sync().await.unwrap();
    assert_eq!(report.plan.counts().created, 2);
    assert_eq!(env.active().await, ["ada", "grace"], "alan is out of scope");
    assert_eq!(
        env.users().await.len(),
        2,
        "out-of-scope users are never created"
    );

    env.set_job("source", people("Marketing"));
    let report = env.sync().await.unwrap();
    assert_eq!(report.plan.counts().deactivated, 1);
    let ada = env.user("ada").await;
    assert!(!ada.active);
    assert_eq!(ada.deactivation_reason.as_deref(), Some("out_of_scope"));
}

/// ada and grace in "Intranet Users" (grace through a nested group), alan in
/// "Other"; `intranet` lists who is a direct member of the intranet group.
fn group_script(intranet: &[&str]) -> serde_json::Value {
    source(
        vec![user("u1", "ada"), user("u2", "grace"), user("u3", "alan")],
        vec![
            group("g1", "Intranet Users", intranet),
            group("g2", "Intranet Editors", &["u2"]),
            group("g3", "Other", &["u3"]),
        ],
    )
}

#[tokio::test]
async fn group_scope_by_names_follows_membership() {
    let env = TestEnv::scripted(group_script(&["u1"]));
    env.set_job(
        "sync",
        json!({ "scope": "groups", "group_names": ["Intranet Users"] }),
    );
    env.sync().await.unwrap();
    assert_eq!(env.active().await, ["ada"]);
    let groups: Vec<_> = env.groups().await.into_iter().map(|g| g.1).collect();
    assert_eq!(
        groups,
        ["Intranet Users"],
        "only selected groups are synced"
    );

    // grace joins (through the nested editors group), ada leaves.
    env.set_job("source", group_script(&["g2"]));
    let report = env.sync().await.unwrap();
    let c = report.plan.counts();
    assert_eq!((c.created, c.deactivated), (1, 1), "{c:?}");
    assert_eq!(env.active().await, ["grace"]);
    let ada = env.user("ada").await;
    assert_eq!(ada.deactivation_reason.as_deref(), Some("out_of_scope"));

    // ada joins again: the same row comes back.
    env.set_job("source", group_script(&["u1", "g2"]));
    let report = env.sync().await.unwrap();
    assert_eq!(report.plan.counts().reactivated, 1);
    assert_eq!(env.active().await, ["ada", "grace"]);
    assert_eq!(env.user("ada").await.id, ada.id);
}

#[tokio::test]
async fn group_scope_by_pattern_selects_matching_groups() {
    let env = TestEnv::scripted(group_script(&["u1"]));
    env.set_job(
        "sync",
        json!({ "scope": "groups", "group_pattern": "^Intranet" }),
    );
    env.sync().await.unwrap();
    assert_eq!(
        env.active().await,
        ["ada", "grace"],
        "members of either intranet group"
    );
    let groups: Vec<_> = env.groups().await.into_iter().map(|g| g.1).collect();
    assert_eq!(groups, ["Intranet Editors", "Intranet Users"]);
    assert!(env.users().await.iter().all(|u| u.username != "alan"));
}

#[tokio::test]
async fn group_scope_with_no_group_selected_stops_and_creates_nothing() {
    let env = TestEnv::scripted(group_script(&["u1"]));
    env.set_job("sync", json!({ "scope": "groups", "groups": "none" }));
    let report = env.sync().await.unwrap();
    assert_eq!(report.run.outcome, "stopped_no_group_selected");
    let message = report.run.message.clone().unwrap();
    assert!(
        message.contains("no group is selected") && message.contains("group_names"),
        "{message}"
    );
    assert!(env.users().await.is_empty());
    assert!(env.groups().await.is_empty());
    let run = env.run_record(&report.run.id).await;
    assert_eq!(run.outcome, "stopped_no_group_selected");
    assert_eq!(run.message.as_deref(), Some(message.as_str()));
}

#[tokio::test]
async fn a_user_without_a_required_attribute_is_a_record_error_and_the_rest_syncs() {
    let env = TestEnv::scripted(source(
        vec![
            user_with("u1", "ada", json!({ "mail": "ada@example.com" })),
            user("u2", "grace"),
            with(
                user_with("u3", "alan", json!({ "mail": "alan@example.com" })),
                json!({ "enabled": true }),
            ),
        ],
        vec![],
    ));
    // 1 rejected of 3 is over the default max_rejected_percent.
    env.set_job(
        "sync",
        json!({ "required": ["email"], "max_rejected_percent": 50 }),
    );
    let report = env.sync().await.unwrap();
    assert_eq!(report.run.outcome, "succeeded");
    let c = report.plan.counts();
    assert_eq!((c.created, c.errors), (2, 1), "{c:?}");
    assert_eq!(env.active().await, ["ada", "alan"]);

    let run = env.run_record(&report.run.id).await;
    let errors: serde_json::Value = run.errors.unwrap();
    assert_eq!(errors.as_array().unwrap().len(), 1, "{errors}");
    assert_eq!(errors[0]["record"], "u2");
    assert_eq!(errors[0]["field"], "email");
    assert!(
        errors[0]["message"].as_str().unwrap().contains("`email`"),
        "{errors}"
    );
}
