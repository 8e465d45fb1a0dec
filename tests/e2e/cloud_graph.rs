//! The Graph (Entra ID) connector against the local Graph fake: full and
//! delta runs over several pages, rename, disable, removal, nested groups,
//! managers, throttling, a wrong secret, a missing permission and a
//! destination the job does not grant.

use cloud_servers::{GraphGroup, GraphServer, GraphUser};
use usersync_host::model::CheckStatus;
use usersync_host::sync::RunAgainIn;

use crate::cloud_env::{failure, graph_job};

/// Five users (three pages of two), Engineering nested in Staff, grace
/// reporting to ada.
fn directory() -> GraphServer {
    let g = GraphServer::start();
    let mut ada = GraphUser::new("u1", "ada@contoso.com");
    ada.department = Some("Research".into());
    ada.mobile_phone = Some("+1 555 0101".into());
    g.add_user(ada);
    let mut grace = GraphUser::new("u2", "grace@contoso.com");
    grace.manager = Some("u1".into());
    g.add_user(grace);
    for (id, upn) in [
        ("u3", "alan@contoso.com"),
        ("u4", "linus@contoso.com"),
        ("u5", "margaret@contoso.com"),
    ] {
        g.add_user(GraphUser::new(id, upn));
    }
    g.add_group(GraphGroup::new("g-eng", "Engineering", &["u2", "u3"]));
    g.add_group(GraphGroup::new("g-staff", "Staff", &["u1", "g-eng"]));
    g
}

fn count(requests: &[String], path: &str) -> usize {
    requests.iter().filter(|r| r.ends_with(path)).count()
}

#[tokio::test]
async fn full_then_delta_runs_apply_rename_disable_removal_and_membership() {
    let g = directory();
    let env = graph_job(&g, &g.client_secret());

    let first = env.sync().await.unwrap();
    assert_eq!(first.run.mode, "full");
    assert_eq!(first.run.outcome, "succeeded", "{:?}", first.run.message);
    assert_eq!(first.plan.counts().created, 5);
    assert!(
        count(&g.requests(), "/v1.0/users/delta") >= 3,
        "five users in pages of two"
    );
    let ada = env.user("ada@contoso.com").await;
    assert_eq!(ada.department.as_deref(), Some("Research"));
    assert_eq!(
        ada.phone.as_deref(),
        Some("+1 555 0101"),
        "[jobs.mapping] phone = {{mobilePhone}}"
    );
    assert_eq!(
        env.user("grace@contoso.com").await.manager.as_deref(),
        Some("ada@contoso.com")
    );
    assert_eq!(
        env.groups_of("alan@contoso.com").await,
        ["Engineering", "Staff"],
        "nested via transitiveMembers"
    );
    assert!(env.cursor().await.unwrap().contains("deltatoken"));

    g.update_user("u2", |u| {
        u.user_principal_name = "grace.hopper@contoso.com".into()
    });
    g.update_user("u3", |u| u.account_enabled = false);
    g.remove_user("u4");
    g.add_user(GraphUser::new("u6", "barbara@contoso.com"));
    g.set_members("g-eng", &["u2", "u3", "u6"]);

    let second = env.sync().await.unwrap();
    assert_eq!(second.run.mode, "incremental");
    assert_eq!(second.run.outcome, "succeeded", "{:?}", second.run.message);
    let c = second.plan.counts();
    assert_eq!((c.created, c.renamed, c.deactivated), (1, 1, 2), "{c:?}");
    let grace = env.user("grace.hopper@contoso.com").await;
    assert!(
        grace.active && grace.source_id.as_deref() == Some("u2"),
        "renamed, not recreated"
    );
    assert!(
        !env.user("alan@contoso.com").await.active,
        "accountEnabled=false"
    );
    let linus = env.user("linus@contoso.com").await;
    assert!(!linus.active, "@removed");
    assert!(
        env.user("margaret@contoso.com").await.active,
        "unchanged users are left alone"
    );
    // Engineering changed, so Staff (which nests it) is re-read too.
    assert_eq!(
        env.groups_of("barbara@contoso.com").await,
        ["Engineering", "Staff"]
    );
    assert_eq!(
        g.token_requests(),
        1,
        "the token is cached across runs of the job"
    );
}

#[tokio::test]
async fn a_throttled_request_is_retried_after_retry_after() {
    let g = directory();
    g.throttle(1, 1);
    let env = graph_job(&g, &g.client_secret());
    let report = env.sync().await.unwrap();
    assert_eq!(report.run.outcome, "succeeded", "{:?}", report.run.message);
    assert_eq!(report.plan.counts().created, 5);
    let first_two: Vec<_> = g.requests().into_iter().take(2).collect();
    assert_eq!(
        first_two,
        ["GET /v1.0/users/delta", "GET /v1.0/users/delta"],
        "the 429 was retried"
    );
}

#[tokio::test]
async fn throttling_past_the_cap_asks_for_a_later_run_and_deactivates_nobody() {
    let g = directory();
    let env = graph_job(&g, &g.client_secret());
    env.sync().await.unwrap();
    g.throttle(100, 120); // longer than the host waits: the plugin decides
    let err = env.sync_full().await.unwrap_err();
    assert_eq!(
        err.downcast_ref::<RunAgainIn>().map(|r| r.0),
        Some(120),
        "{err:#}"
    );
    assert!(format!("{err:#}").contains("throttling"), "{err:#}");
    assert_eq!(env.active().await.len(), 5);
}

#[tokio::test]
async fn a_wrong_secret_fails_clearly_and_deactivates_nobody() {
    let g = directory();
    let env = graph_job(&g, &g.client_secret());
    env.sync().await.unwrap();

    env.edit(|doc| {
        doc["jobs"][0]["credentials"]["graph"]["client_secret"]["value"] =
            toml::Value::String("not-the-secret".into());
    });
    let err = failure(env.sync_full().await);
    assert!(err.contains("refused the client credentials"), "{err}");
    assert!(err.contains("invalid_client"), "{err}");
    assert!(err.contains("jobs.credentials.graph"), "{err}");
    assert!(
        !err.contains("not-the-secret"),
        "the secret never shows: {err}"
    );
    assert_eq!(env.active().await.len(), 5, "nobody deactivated");
    let runs = env.host().await.store.runs(None, None, 10).await.unwrap();
    let failed = runs
        .iter()
        .find(|r| r.outcome == "failed")
        .expect("a failed run record");
    assert!(!failed
        .message
        .as_deref()
        .unwrap_or("")
        .contains("not-the-secret"));
}

#[tokio::test]
async fn a_missing_permission_is_named_in_test_connection_and_the_run() {
    let g = directory();
    g.revoke("GroupMember.Read.All");
    let env = graph_job(&g, &g.client_secret());
    let checks = env.test_connection().await;
    let members = checks
        .iter()
        .find(|c| c.stage == "group members")
        .expect("a members stage");
    assert_eq!(members.status, CheckStatus::Failed, "{checks:?}");
    assert!(
        members.detail.contains("GroupMember.Read.All"),
        "{}",
        members.detail
    );
    assert!(
        checks
            .iter()
            .filter(|c| c.stage != "group members")
            .all(|c| c.status == CheckStatus::Ok),
        "{checks:?}"
    );

    let err = failure(env.sync().await);
    assert!(
        err.contains("403") && err.contains("GroupMember.Read.All"),
        "{err}"
    );
    assert!(
        env.users().await.is_empty(),
        "a failed read applies nothing"
    );
}

#[tokio::test]
async fn a_destination_the_job_does_not_grant_is_refused() {
    let g = directory();
    let elsewhere = GraphServer::start();
    let env = graph_job(&g, &g.client_secret());
    // The plugin is pointed at another server; only `g` is granted.
    env.edit(|doc| {
        doc["jobs"][0]["source"]["graph_url"] = toml::Value::String(elsewhere.graph_url());
    });
    let err = failure(env.sync().await);
    let origin = elsewhere.origin();
    assert!(
        err.contains(&format!("HTTP to {origin} is not granted")),
        "{err}"
    );
    assert!(
        err.contains(&format!("[jobs.grants] http = [\"{origin}\"]")),
        "{err}"
    );
    assert!(
        elsewhere.requests().is_empty(),
        "nothing reached the other server"
    );
}
