//! The Okta connector against the local Okta fake: `Link` paging, status
//! (only ACTIVE is active), incremental runs by `lastUpdated`, a removal
//! seen by the next full run, group assignment scope, rate limiting and a
//! wrong API token.

use cloud_servers::{OktaGroup, OktaServer, OktaUser};

use crate::cloud_env::{failure, okta_job};

/// Five users (pages of two), one SUSPENDED; Engineering and Sales.
fn org() -> OktaServer {
    let o = OktaServer::start();
    let mut ada = OktaUser::new("00u1", "ada@example.com", "Ada", "Lovelace");
    ada.department = Some("Research".into());
    o.add_user(ada);
    let mut grace = OktaUser::new("00u2", "grace@example.com", "Grace", "Hopper");
    grace.manager_id = Some("ada@example.com".into());
    o.add_user(grace);
    o.add_user(OktaUser::new("00u3", "alan@example.com", "Alan", "Turing"));
    o.add_user(OktaUser::new(
        "00u4",
        "linus@example.com",
        "Linus",
        "Torvalds",
    ));
    let mut margaret = OktaUser::new("00u5", "margaret@example.com", "Margaret", "Hamilton");
    margaret.status = "SUSPENDED".into();
    o.add_user(margaret);
    o.add_group(OktaGroup::new("00g1", "Engineering", &["00u2", "00u3"]));
    o.add_group(OktaGroup::new("00g2", "Sales", &["00u4"]));
    o
}

#[tokio::test]
async fn full_then_incremental_runs_follow_okta() {
    let o = org();
    let env = okta_job(&o, &o.token(), "");
    let first = env.sync().await.unwrap();
    assert_eq!(first.run.outcome, "succeeded", "{:?}", first.run.message);
    assert_eq!(
        first.plan.counts().created,
        4,
        "a SUSPENDED user is not created"
    );
    let pages = o
        .requests()
        .iter()
        .filter(|r| *r == "GET /api/v1/users")
        .count();
    assert_eq!(pages, 3, "five users in pages of two, by Link rel=next");
    assert!(
        !env.active()
            .await
            .contains(&"margaret@example.com".to_string()),
        "only ACTIVE is active"
    );
    let grace = env.user("grace@example.com").await;
    assert_eq!(
        (grace.given_name.as_deref(), grace.family_name.as_deref()),
        (Some("Grace"), Some("Hopper"))
    );
    assert_eq!(
        grace.manager.as_deref(),
        Some("ada@example.com"),
        "managerId by login"
    );
    assert_eq!(env.groups_of("alan@example.com").await, ["Engineering"]);

    o.update_user("00u2", |u| u.login = "grace.hopper@example.com".into());
    o.update_user("00u3", |u| u.status = "DEPROVISIONED".into());
    o.add_user(OktaUser::new(
        "00u6",
        "barbara@example.com",
        "Barbara",
        "Liskov",
    ));
    o.set_members("00g2", &["00u4", "00u6"]);
    o.delete_user("00u4");

    let second = env.sync().await.unwrap();
    assert_eq!(second.run.mode, "incremental");
    assert_eq!(second.run.outcome, "succeeded", "{:?}", second.run.message);
    assert!(
        o.requests().iter().any(|r| r == "GET /api/v1/users"),
        "lastUpdated search"
    );
    let c = second.plan.counts();
    assert_eq!((c.created, c.renamed), (1, 1), "{c:?}");
    let renamed = env.user("grace.hopper@example.com").await;
    assert_eq!(renamed.source_id.as_deref(), Some("00u2"));
    assert!(!env.user("alan@example.com").await.active, "DEPROVISIONED");
    assert_eq!(env.groups_of("barbara@example.com").await, ["Sales"]);
    assert!(
        env.user("linus@example.com").await.active,
        "a deletion is invisible to lastUpdated"
    );

    let full = env.sync_full().await.unwrap();
    assert_eq!(full.run.mode, "full");
    assert!(
        !env.user("linus@example.com").await.active,
        "the full run sees the deletion"
    );
    assert!(env.user("ada@example.com").await.active);
}

#[tokio::test]
async fn group_assignment_scope_reads_only_the_assigned_groups() {
    let o = org();
    o.assign("0oa-usersync", &["00g1"]);
    let env = okta_job(&o, &o.token(), "app_id = \"0oa-usersync\"");
    let report = env.sync().await.unwrap();
    assert_eq!(report.run.outcome, "succeeded", "{:?}", report.run.message);
    let mut names: Vec<_> = env.users().await.into_iter().map(|u| u.username).collect();
    names.sort();
    assert_eq!(names, ["alan@example.com", "grace@example.com"]);
    let checks = env.test_connection().await;
    assert!(
        checks
            .iter()
            .any(|c| c.detail.contains("1 groups in scope")),
        "{checks:?}"
    );
}

#[tokio::test]
async fn a_rate_limited_request_waits_for_the_reset_and_succeeds() {
    let o = org();
    o.throttle(1, 1);
    let env = okta_job(&o, &o.token(), "");
    let report = env.sync().await.unwrap();
    assert_eq!(report.run.outcome, "succeeded", "{:?}", report.run.message);
    assert_eq!(report.plan.counts().created, 4);
}

#[tokio::test]
async fn a_wrong_api_token_fails_clearly_and_deactivates_nobody() {
    let o = org();
    let env = okta_job(&o, &o.token(), "");
    env.sync().await.unwrap();
    env.edit(|doc| {
        doc["jobs"][0]["credentials"]["okta"]["token"]["value"] =
            toml::Value::String("wrong-token".into());
    });
    let err = failure(env.sync_full().await);
    assert!(
        err.contains("Okta refused the API token") && err.contains("E0000011"),
        "{err}"
    );
    assert!(err.contains("[jobs.credentials.okta]"), "{err}");
    assert!(!err.contains("wrong-token"), "{err}");
    assert_eq!(env.active().await.len(), 4, "nobody deactivated");
}
