//! Identity and lifecycle: renames keep rows, only changed fields are
//! written, disabled/back, and repairs of edits made by hand.

use serde_json::json;
use usersync_host::store::AuditFilter;

use crate::env::TestEnv;
use crate::script::{group, source, user, user_with, with};

fn ada(uid: &str, display: &str) -> serde_json::Value {
    with(
        user_with(
            "u1",
            uid,
            json!({ "displayName": display, "mail": "ada@example.com" }),
        ),
        json!({ "member_of": ["g1"] }),
    )
}

#[tokio::test]
async fn rename_in_source_renames_user_and_group_in_place() {
    let env = TestEnv::scripted(source(
        vec![ada("ada", "Ada Lovelace"), user("u2", "grace")],
        vec![group("g1", "Staff", &[])],
    ));
    env.sync().await.unwrap();
    let before = env.user("ada").await;
    let groups_before = env.groups().await;

    env.set_job(
        "source",
        source(
            vec![ada("ada.king", "Ada King"), user("u2", "grace")],
            vec![group("g1", "Everyone", &[])],
        ),
    );
    let report = env.sync().await.unwrap();
    let c = report.plan.counts();
    assert_eq!((c.renamed, c.created, c.deactivated), (1, 0, 0), "{c:?}");
    assert_eq!((c.groups_updated, c.groups_created), (1, 0), "{c:?}");

    let after = env.user("ada.king").await;
    assert_eq!(after.id, before.id, "same row after a rename");
    assert_eq!(after.display_name.as_deref(), Some("Ada King"));
    assert_eq!(after.groups, ["Everyone"]);
    assert!(env.users().await.iter().all(|u| u.username != "ada"));
    let groups_after = env.groups().await;
    assert_eq!(groups_after.len(), 1, "{groups_after:?}");
    assert_eq!(groups_after[0].0, groups_before[0].0, "same group row");
    assert_eq!(groups_after[0].1, "Everyone");
}

#[tokio::test]
async fn only_changed_fields_are_written() {
    let people = |mail: &str| {
        source(
            vec![
                user_with(
                    "u1",
                    "ada",
                    json!({ "displayName": "Ada", "mail": mail, "department": "Eng" }),
                ),
                user_with("u2", "grace", json!({ "displayName": "Grace" })),
            ],
            vec![],
        )
    };
    let env = TestEnv::scripted(people("ada@old.example"));
    env.sync().await.unwrap();
    env.set_job("source", people("ada@new.example"));
    let report = env.sync().await.unwrap();
    assert_eq!(report.plan.counts().updated, 1);

    let events = env.audit_of_run(&report.run.id).await;
    assert_eq!(
        events.len(),
        1,
        "one event for one changed user: {events:#?}"
    );
    let e = &events[0];
    assert_eq!((e.category.as_str(), e.action.as_str()), ("user", "update"));
    assert_eq!(e.subject, "ada");
    let changes: serde_json::Value = serde_json::from_str(e.changes.as_deref().unwrap()).unwrap();
    assert_eq!(
        changes,
        json!([{ "field": "email", "old": "ada@old.example", "new": "ada@new.example" }]),
        "only the changed field, with old and new"
    );
    let ada = env.user("ada").await;
    assert_eq!(ada.email.as_deref(), Some("ada@new.example"));
    assert_eq!(ada.department.as_deref(), Some("Eng"));
}

#[tokio::test]
async fn disabled_in_source_deactivates_and_enabled_again_reactivates() {
    let people = |enabled: bool| {
        source(
            vec![
                with(user("u1", "ada"), json!({ "enabled": enabled })),
                user("u2", "grace"),
            ],
            vec![],
        )
    };
    let env = TestEnv::scripted(people(true));
    env.sync().await.unwrap();

    env.set_job("source", people(false));
    let report = env.sync().await.unwrap();
    assert_eq!(report.plan.counts().deactivated, 1);
    let ada = env.user("ada").await;
    assert!(!ada.active);
    assert_eq!(ada.deactivation_reason.as_deref(), Some("disabled"));
    assert!(env.user("grace").await.active);

    env.set_job("source", people(true));
    let report = env.sync().await.unwrap();
    assert_eq!(report.plan.counts().reactivated, 1);
    let ada = env.user("ada").await;
    assert!(ada.active);
    assert_eq!(ada.deactivation_reason, None);
}

#[tokio::test]
async fn deactivated_by_hand_while_active_in_source_is_reactivated() {
    let env = TestEnv::scripted(source(vec![user("u1", "ada"), user("u2", "grace")], vec![]));
    env.sync().await.unwrap();
    let id = env.user("ada").await.id;
    env.host()
        .await
        .store
        .deactivate_user("default", "ada")
        .await
        .unwrap();
    assert!(!env.user("ada").await.active);

    let report = env.sync().await.unwrap();
    assert_eq!(report.plan.counts().reactivated, 1, "{:#?}", report.plan);
    let ada = env.user("ada").await;
    assert!(ada.active, "the source is authoritative");
    assert_eq!(ada.deactivation_reason, None);
    assert_eq!(ada.id, id);
}

#[tokio::test]
async fn deleted_by_hand_while_in_source_is_recreated() {
    let env = TestEnv::scripted(source(
        vec![
            with(user("u1", "ada"), json!({ "member_of": ["g1"] })),
            user("u2", "grace"),
        ],
        vec![group("g1", "Staff", &[])],
    ));
    env.sync().await.unwrap();
    env.host()
        .await
        .store
        .delete_user("default", "ada")
        .await
        .unwrap();
    assert!(env.users().await.iter().all(|u| u.username != "ada"));

    let report = env.sync().await.unwrap();
    let c = report.plan.counts();
    assert_eq!((c.created, c.memberships_added), (1, 1), "{c:?}");
    let ada = env.user("ada").await;
    assert!(ada.active);
    assert_eq!(ada.groups, ["Staff"]);
}

#[tokio::test]
async fn local_user_with_the_same_username_is_a_conflict_and_untouched() {
    let env = TestEnv::scripted(source(
        vec![
            user_with("u1", "ada", json!({ "mail": "ada@source.example" })),
            user("u2", "grace"),
        ],
        vec![],
    ));
    let host = env.host().await;
    host.store
        .add_local_user("default", "ada", Some("ada@local.example"))
        .await
        .unwrap();
    let report = env.sync().await.unwrap();
    assert_eq!(report.plan.counts().created, 1, "grace only");
    assert_eq!(report.plan.conflicts.len(), 1, "{:#?}", report.plan);
    let conflict = &report.plan.conflicts[0];
    assert_eq!(
        (conflict.source_id.as_str(), conflict.username.as_str()),
        ("u1", "ada")
    );
    assert!(
        conflict.message.contains("adopt_by_username"),
        "{}",
        conflict.message
    );

    let ada = env.user("ada").await;
    assert_eq!(ada.origin, "local");
    assert_eq!(ada.job_id, None);
    assert_eq!(ada.email.as_deref(), Some("ada@local.example"));
    let events = env
        .audit(AuditFilter {
            subject: Some("ada".into()),
            ..Default::default()
        })
        .await;
    assert!(
        events.is_empty(),
        "nothing was written for ada: {events:#?}"
    );
}

#[tokio::test]
async fn adopt_by_username_links_the_local_user() {
    let env = TestEnv::scripted(source(
        vec![user_with(
            "u1",
            "ada",
            json!({ "mail": "ada@source.example" }),
        )],
        vec![],
    ));
    env.set_job("sync", json!({ "adopt_by_username": true }));
    let host = env.host().await;
    host.store
        .add_local_user("default", "ada", Some("ada@local.example"))
        .await
        .unwrap();
    let local_id = env.user("ada").await.id;

    let report = env.sync().await.unwrap();
    let c = report.plan.counts();
    assert_eq!((c.adopted, c.created, c.conflicts), (1, 0, 0), "{c:?}");
    let ada = env.user("ada").await;
    assert_eq!(ada.id, local_id, "the same row, now synced");
    assert_eq!(ada.origin, "sync");
    assert_eq!(ada.source_id.as_deref(), Some("u1"));
    assert_eq!(ada.email.as_deref(), Some("ada@source.example"));
    // From now on it is an ordinary synced user.
    let again = env.sync().await.unwrap();
    assert!(again.plan.is_noop(), "{:#?}", again.plan);
}

#[tokio::test]
async fn two_users_swapping_usernames_keep_their_rows() {
    let people = |a: &str, b: &str| source(vec![user("u1", a), user("u2", b)], vec![]);
    let env = TestEnv::scripted(people("ada", "grace"));
    env.sync().await.unwrap();
    let (ada, grace) = (env.user("ada").await.id, env.user("grace").await.id);
    env.set_job("source", people("grace", "ada"));
    let report = env.sync().await.unwrap();
    let c = report.plan.counts();
    assert_eq!((c.renamed, c.conflicts), (2, 0), "{:#?}", report.plan);
    assert_eq!(env.user("grace").await.id, ada);
    assert_eq!(env.user("ada").await.id, grace);
    assert_eq!(env.user("ada").await.source_id.as_deref(), Some("u2"));
}

#[tokio::test]
async fn a_user_disabled_on_first_sight_is_created_deactivated_only_with_create_disabled() {
    let grace = |enabled: bool| with(user("u2", "grace"), json!({ "enabled": enabled }));
    let env = TestEnv::scripted(source(vec![user("u1", "ada"), grace(false)], vec![]));
    env.sync_full().await.unwrap();
    assert_eq!(env.users().await.len(), 1, "by default it is not created");

    env.set_job("sync", json!({ "create_disabled": true }));
    let report = env.sync_full().await.unwrap();
    assert_eq!(report.plan.counts().created, 1);
    let g = env.user("grace").await;
    assert!(!g.active);
    assert_eq!(g.deactivation_reason.as_deref(), Some("disabled"));
    let audit = env.audit_of_run(&report.run.id).await;
    assert!(
        audit[0].changes.as_deref().unwrap().contains("active"),
        "{audit:?}"
    );
    assert!(env.sync_full().await.unwrap().plan.is_noop());

    // Enabled in the source: reactivated like any disabled user.
    env.set_job(
        "source",
        source(vec![user("u1", "ada"), grace(true)], vec![]),
    );
    let report = env.sync_full().await.unwrap();
    assert_eq!(report.plan.counts().reactivated, 1);
    assert!(env.user("grace").await.active);
}
