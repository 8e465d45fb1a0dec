//! Names that move within one run: swaps, chains and cycles of renames, a
//! new user taking a renamed user's old name, and usernames recycled after
//! their holder left the source.

use serde_json::json;

use crate::env::TestEnv;
use crate::script::{group, source, user, with};

/// The row id and source id of each username, sorted by username.
async fn rows(env: &TestEnv) -> Vec<(String, i64, String)> {
    let mut rows: Vec<_> = env
        .users()
        .await
        .into_iter()
        .map(|u| (u.username, u.id, u.source_id.unwrap_or_default()))
        .collect();
    rows.sort();
    rows
}

#[tokio::test]
async fn a_new_user_takes_a_renamed_users_old_name_in_the_same_run() {
    let env = TestEnv::scripted(source(vec![user("u1", "lhart")], vec![]));
    env.sync().await.unwrap();
    let lhart = env.user("lhart").await.id;

    env.set_job(
        "source",
        source(vec![user("u1", "lhart2"), user("u2", "lhart")], vec![]),
    );
    let report = env.sync().await.unwrap();
    assert_eq!(report.run.outcome, "succeeded", "{:?}", report.run.message);
    let c = report.plan.counts();
    assert_eq!((c.renamed, c.created, c.conflicts), (1, 1, 0));
    assert_eq!(
        env.user("lhart2").await.id,
        lhart,
        "the rename kept its row"
    );
    assert_eq!(env.user("lhart").await.source_id.as_deref(), Some("u2"));

    // And the job goes on: the next runs (full included) change nothing.
    assert!(env.sync().await.unwrap().plan.is_noop());
    assert!(env.sync_full().await.unwrap().plan.is_noop());
}

#[tokio::test]
async fn cycles_chains_and_swaps_of_names_apply_in_one_run() {
    let names = |n: [&str; 6]| {
        source(
            n.iter()
                .enumerate()
                .map(|(i, name)| user(&format!("u{i}"), name))
                .collect(),
            vec![],
        )
    };
    let env = TestEnv::scripted(names(["a", "b", "c", "x", "y", "s"]));
    env.sync().await.unwrap();
    let before = rows(&env).await;
    let id_of = |name: &str| before.iter().find(|r| r.0 == name).unwrap().1;

    // a→b, b→c, c→a (a cycle); x→y, y→z (a chain to a free name);
    // s→x (taking the chain's freed name).
    env.set_job("source", names(["b", "c", "a", "y", "z", "x"]));
    let report = env.sync().await.unwrap();
    assert_eq!(report.run.outcome, "succeeded", "{:?}", report.run.message);
    let c = report.plan.counts();
    assert_eq!((c.renamed, c.conflicts, c.created), (6, 0, 0));
    let after = rows(&env).await;
    let expect = [
        ("a", "c", "u2"),
        ("b", "a", "u0"),
        ("c", "b", "u1"),
        ("x", "s", "u5"),
        ("y", "x", "u3"),
        ("z", "y", "u4"),
    ];
    for ((name, id, source_id), (new, old, sid)) in after.iter().zip(expect) {
        assert_eq!(
            (name.as_str(), *id, source_id.as_str()),
            (new, id_of(old), sid)
        );
    }
    assert!(env.sync().await.unwrap().plan.is_noop());
}

#[tokio::test]
async fn csv_rename_and_a_new_row_with_the_old_name_sync_together() {
    const BEFORE: &str = "id,uid,mail,active,groups\n1,lhart,l@example.com,true,Staff\n";
    const AFTER: &str = "id,uid,mail,active,groups\n\
        1,lhart2,l@example.com,true,Staff\n\
        2,lhart,new@example.com,true,Staff\n";
    let env = TestEnv::csv();
    env.write_csv(BEFORE);
    env.sync().await.unwrap();
    env.write_csv(AFTER);
    for _ in 0..2 {
        let report = env.sync().await.unwrap();
        assert_eq!(report.run.outcome, "succeeded", "{:?}", report.run.message);
    }
    let users = env.users().await;
    let lhart = users.iter().find(|u| u.username == "lhart").unwrap();
    assert_eq!(lhart.source_id.as_deref(), Some("2"));
    assert_eq!(lhart.email.as_deref(), Some("new@example.com"));
    assert!(users.iter().any(|u| u.username == "lhart2"));
}

/// ada and lhart (ref `lhart`, as a CSV or LDAP group names its members)
/// in Staff; the incremental script re-sends Staff with the same members.
fn staff(lhart: Option<&str>) -> serde_json::Value {
    let mut users = vec![with(user("u0", "ada"), json!({ "ref_key": "ada" }))];
    let mut members = vec!["ada"];
    if let Some(id) = lhart {
        users.push(with(user(id, "lhart"), json!({ "ref_key": "lhart" })));
        members.push("lhart");
    }
    let mut s = source(users, vec![group("g1", "Staff", &members)]);
    s["cursor"] = json!("c1");
    s["incremental"] = json!({
        "groups": [group("g1", "Staff", &["ada", "lhart"])],
        "cursor": "c1",
    });
    s
}

/// lhart (u1) synced, then gone from the source (deactivated), then a new
/// hire lhart (u2) arrives in a full run.
async fn recycled(policy: &str) -> (TestEnv, usersync_host::sync::RunReport) {
    let env = TestEnv::scripted(staff(Some("u1")));
    env.set_job("sync", json!({ "recycled_usernames": policy }));
    env.sync_full().await.unwrap();
    env.set_job("source", staff(None));
    let left = env.sync_full().await.unwrap();
    assert_eq!(left.plan.counts().deactivated, 1);
    env.set_job("source", staff(Some("u2")));
    let report = env.sync_full().await.unwrap();
    assert_eq!(report.run.outcome, "succeeded", "{:?}", report.run.message);
    (env, report)
}

#[tokio::test]
async fn a_recycled_username_is_released_to_the_new_hire_and_runs_agree() {
    let (env, report) = recycled("release").await;
    assert_eq!(
        report.plan.conflicts.len(),
        0,
        "{:?}",
        report.plan.conflicts
    );
    let lhart = env.user("lhart").await;
    assert_eq!(lhart.source_id.as_deref(), Some("u2"));
    assert!(lhart.active);
    assert_eq!(env.groups_of("lhart").await, ["Staff"]);
    let leaver = env
        .users()
        .await
        .into_iter()
        .find(|u| u.source_id.as_deref() == Some("u1"))
        .unwrap();
    assert!(leaver.username.starts_with("lhart~"), "{}", leaver.username);
    assert!(!leaver.active);
    assert!(env.groups_of(&leaver.username).await.is_empty());
    // The release is audited as a rename of the leaver.
    let audit = env.audit_of_run(&report.run.id).await;
    assert!(
        audit.iter().any(|a| a
            .changes
            .as_deref()
            .is_some_and(|c| c.contains(&leaver.username))),
        "{audit:?}"
    );

    // Incremental and full runs agree: neither changes anything.
    let incremental = env.sync().await.unwrap();
    assert_eq!(incremental.run.mode, "incremental");
    assert!(incremental.plan.is_noop(), "{:#?}", incremental.plan);
    assert!(env.sync_full().await.unwrap().plan.is_noop());
}

#[tokio::test]
async fn recycled_usernames_conflict_keeps_the_name_and_memberships_do_not_flap() {
    let (env, report) = recycled("conflict").await;
    assert_eq!(report.plan.conflicts.len(), 1);
    let holder = env.user("lhart").await;
    assert_eq!(
        holder.source_id.as_deref(),
        Some("u1"),
        "the leaver keeps it"
    );
    // The group names `lhart`: in no run does the leaver get the new
    // hire's membership back.
    for _ in 0..2 {
        let incremental = env.sync().await.unwrap();
        assert_eq!(incremental.run.mode, "incremental");
        assert_eq!(incremental.plan.counts().memberships_added, 0);
        assert!(env.groups_of("lhart").await.is_empty());
        let full = env.sync_full().await.unwrap();
        assert_eq!(full.plan.counts().memberships_removed, 0);
    }
}
