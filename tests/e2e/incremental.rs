//! Full and incremental runs, cursors, failed reads, `--full` and the
//! periodic full run.

use serde_json::{json, Value};
use usersync_host::sync::SyncRequest;

use crate::env::TestEnv;
use crate::script::{user, user_with};

fn grace(mail: &str) -> Value {
    user_with("u2", "grace", json!({ "mail": mail }))
}

/// Three users, checkpointed at "c1"; `incremental` is what a read from
/// a cursor returns.
fn script(incremental: Value) -> Value {
    json!({
        "users": [user("u1", "ada"), grace("grace@old.example"), user("u3", "alan")],
        "cursor": "c1",
        "incremental": incremental,
    })
}

async fn last_full(env: &TestEnv) -> Option<String> {
    let host = env.host().await;
    host.store.job_cursor("default", "people").await.unwrap().1
}

#[tokio::test]
async fn incremental_run_applies_only_the_changes_since_the_cursor() {
    let env = TestEnv::scripted(script(json!({
        "expect_cursor": "c1",
        "users": [grace("grace@new.example")],
        "removed_users": ["u3"],
        "cursor": "c2",
    })));
    let first = env.sync().await.unwrap();
    assert_eq!(first.run.mode, "full", "no cursor yet");
    assert_eq!(first.plan.counts().created, 3);
    assert_eq!(env.cursor().await.as_deref(), Some("c1"));
    let full_at = last_full(&env).await;
    assert!(full_at.is_some());

    let second = env.sync().await.unwrap();
    assert_eq!(second.run.mode, "incremental");
    assert_eq!(second.run.outcome, "succeeded", "{:?}", second.run.message);
    let c = second.plan.counts();
    assert_eq!((c.updated, c.deactivated, c.created), (1, 1, 0), "{c:?}");
    assert_eq!(
        env.cursor().await.as_deref(),
        Some("c2"),
        "the cursor advances"
    );
    assert_eq!(
        last_full(&env).await,
        full_at,
        "an incremental run is not a full one"
    );

    assert_eq!(
        env.user("grace").await.email.as_deref(),
        Some("grace@new.example")
    );
    let alan = env.user("alan").await;
    assert!(!alan.active);
    assert_eq!(alan.deactivation_reason.as_deref(), Some("gone"));
    // ada was not in the changes: untouched, still active, no event.
    assert!(env.user("ada").await.active);
    let events = env.audit_of_run(&second.run.id).await;
    let mut subjects: Vec<_> = events.iter().map(|e| e.subject.as_str()).collect();
    subjects.sort();
    assert_eq!(subjects, ["alan", "grace"], "{events:#?}");
}

#[tokio::test]
async fn a_failed_read_keeps_the_cursor_and_deactivates_nobody() {
    let env = TestEnv::scripted(script(json!({ "cursor": "c2" })));
    env.sync().await.unwrap();
    assert_eq!(env.cursor().await.as_deref(), Some("c1"));

    // The read reports a removal and checkpoints "c2", then fails.
    let mut failing = script(json!({ "removed_users": ["u3"], "cursor": "c2" }));
    failing["fail"] = json!("directory unavailable");
    env.set_job("source", failing.clone());
    let err = env.sync().await.unwrap_err();
    assert!(
        format!("{err:#}").contains("directory unavailable"),
        "{err:#}"
    );
    assert_eq!(
        env.cursor().await.as_deref(),
        Some("c1"),
        "cursor unchanged"
    );
    assert_eq!(env.active().await, ["ada", "alan", "grace"]);
    let run = env.last_run().await;
    assert_eq!(run.outcome, "failed");
    assert!(run
        .message
        .as_deref()
        .unwrap()
        .contains("directory unavailable"));

    // A failed full read that lost users deactivates nobody either.
    failing["users"] = json!([user("u1", "ada")]);
    failing["cursor"] = json!("c9");
    env.set_job("source", failing);
    let req = SyncRequest {
        full: true,
        ..Default::default()
    };
    assert!(env.sync_with(req).await.is_err());
    assert_eq!(env.active().await, ["ada", "alan", "grace"]);
    assert_eq!(env.cursor().await.as_deref(), Some("c1"));
}

#[tokio::test]
async fn full_flag_forces_a_full_read_that_sees_a_deletion() {
    let env = TestEnv::scripted(script(json!({ "cursor": "c2" })));
    env.sync().await.unwrap();

    // alan is deleted in the source; the change feed does not report it.
    let mut after = script(json!({ "expect_cursor": "c1", "cursor": "c2" }));
    after["users"] = json!([user("u1", "ada"), grace("grace@old.example")]);
    after["cursor"] = json!("c3");
    env.set_job("source", after);
    let incremental = env.sync().await.unwrap();
    assert_eq!(incremental.run.mode, "incremental");
    assert!(incremental.plan.is_noop(), "{:#?}", incremental.plan);
    assert_eq!(env.active().await, ["ada", "alan", "grace"]);

    let full = env.sync_full().await.unwrap();
    assert_eq!(full.run.mode, "full");
    assert_eq!(full.plan.counts().deactivated, 1);
    assert_eq!(env.active().await, ["ada", "grace"]);
    assert_eq!(
        env.user("alan").await.deactivation_reason.as_deref(),
        Some("gone")
    );
    assert_eq!(env.cursor().await.as_deref(), Some("c3"));
}

#[tokio::test]
async fn full_every_hours_zero_makes_every_run_full() {
    // An incremental read would fail: the script expects a cursor never given.
    let env = TestEnv::scripted(script(json!({ "expect_cursor": "never", "cursor": "x" })));
    env.set_job("sync", json!({ "full_every_hours": 0.0 }));
    for _ in 0..3 {
        let report = env.sync().await.unwrap();
        assert_eq!(report.run.mode, "full");
        assert_eq!(env.cursor().await.as_deref(), Some("c1"));
    }
}

#[tokio::test]
async fn an_incremental_read_from_an_unexpected_cursor_fails_clearly() {
    // The fixture's own check, which the tests above rely on.
    let env = TestEnv::scripted(script(json!({ "expect_cursor": "c0" })));
    env.sync().await.unwrap();
    let err = format!("{:#}", env.sync().await.unwrap_err());
    assert!(err.contains("\"c1\"") && err.contains("\"c0\""), "{err}");
}

#[tokio::test]
async fn incremental_group_change_updates_its_memberships() {
    let staff = |members: &[&str]| json!({ "id": "g1", "name": "Staff", "members": members });
    let env = TestEnv::scripted(json!({
        "users": [user("u1", "ada"), grace("grace@old.example"), user("u3", "alan")],
        "groups": [staff(&["u1", "u2"])],
        "cursor": "c1",
        "incremental": { "groups": [staff(&["u1", "u3"])], "cursor": "c2" },
    }));
    env.sync().await.unwrap();
    let report = env.sync().await.unwrap();
    assert_eq!(report.run.mode, "incremental");
    let c = report.plan.counts();
    assert_eq!(
        (c.memberships_added, c.memberships_removed),
        (1, 1),
        "{c:?}"
    );
    assert_eq!(env.user("alan").await.groups, ["Staff"]);
    assert!(env.user("grace").await.groups.is_empty());
    assert_eq!(env.user("ada").await.groups, ["Staff"]);
}

#[tokio::test]
async fn an_incremental_read_of_one_user_keeps_what_unread_groups_give() {
    // Content sync and USN reads send only the groups that changed: the
    // groups this read leaves out still scope their members in and still
    // grant their roles.
    let staff = json!({ "id": "g1", "name": "Staff", "members": ["u1", "u2"] });
    let admins = json!({ "id": "g2", "name": "Admins", "members": ["u1"] });
    let env = TestEnv::scripted(json!({
        "users": [user("u1", "ada"), grace("grace@old.example"), user("u3", "alan")],
        "groups": [staff, admins],
        "cursor": "c1",
        "incremental": { "users": [grace("grace@new.example")], "cursor": "c2" },
    }));
    env.set_job(
        "roles",
        json!([{ "group": "Admins", "role": "admin", "kind": "functional" }]),
    );
    env.set_job(
        "sync",
        json!({ "scope": "groups", "group_names": ["Staff", "Admins"] }),
    );
    env.sync().await.unwrap();
    assert_eq!(env.active().await, ["ada", "grace"], "alan is out of scope");
    assert_eq!(env.user("ada").await.roles, ["admin"]);

    let report = env.sync().await.unwrap();
    assert_eq!(report.run.mode, "incremental");
    let c = report.plan.counts();
    assert_eq!(
        (c.updated, c.deactivated, c.roles_revoked),
        (1, 0, 0),
        "{c:?}"
    );
    assert_eq!(env.active().await, ["ada", "grace"]);
    assert_eq!(env.user("ada").await.roles, ["admin"]);
    assert_eq!(
        env.user("grace").await.email.as_deref(),
        Some("grace@new.example")
    );
}
