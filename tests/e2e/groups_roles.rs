//! Groups and roles: nested groups, cycles, role bindings, group selection.

use serde_json::json;

use crate::env::TestEnv;
use crate::script::{group, source, user, with};

#[tokio::test]
async fn nested_group_members_are_members_of_the_parent() {
    // ada is in Child (by member_of); Child is in Parent (by members) and
    // Parent in Grandparent (by the child's member_of).
    let env = TestEnv::scripted(source(
        vec![
            with(user("u1", "ada"), json!({ "member_of": ["cn=child"] })),
            user("u2", "grace"),
        ],
        vec![
            json!({ "id": "g1", "ref_key": "cn=parent", "name": "Parent", "members": ["cn=child"], "member_of": ["g0"] }),
            json!({ "id": "g2", "ref_key": "cn=child", "name": "Child" }),
            group("g0", "Grandparent", &["u2"]),
        ],
    ));
    let report = env.sync().await.unwrap();
    assert_eq!(
        report.plan.counts().memberships_added,
        4,
        "{:#?}",
        report.plan.memberships
    );
    assert_eq!(
        env.groups_of("ada").await,
        ["Child", "Grandparent", "Parent"]
    );
    assert_eq!(env.groups_of("grace").await, ["Grandparent"]);
}

#[tokio::test]
async fn a_group_cycle_terminates_and_resolves_every_member() {
    let env = TestEnv::scripted(source(
        vec![user("u1", "ada"), user("u2", "grace")],
        vec![
            group("a", "A", &["b", "u1"]),
            group("b", "B", &["c"]),
            group("c", "C", &["a", "u2"]),
        ],
    ));
    let report = tokio::time::timeout(std::time::Duration::from_secs(60), env.sync())
        .await
        .expect("a cycle must not hang the run")
        .unwrap();
    assert_eq!(report.run.outcome, "succeeded");
    assert_eq!(env.groups_of("ada").await, ["A", "B", "C"]);
    assert_eq!(env.groups_of("grace").await, ["A", "B", "C"]);
    assert!(env.sync().await.unwrap().plan.is_noop());
}

#[tokio::test]
async fn role_bound_to_a_group_follows_membership() {
    let people = |admins: &[&str]| {
        source(
            vec![user("u1", "ada"), user("u2", "grace"), user("u3", "alan")],
            vec![
                group("g1", "Admins", admins),
                group("g2", "Staff", &["u1", "u2", "u3"]),
            ],
        )
    };
    let env = TestEnv::scripted(people(&["u1", "u2"]));
    env.set_job(
        "roles",
        json!([{ "group": "Admins", "role": "admin", "kind": "functional" }]),
    );
    let report = env.sync().await.unwrap();
    assert_eq!(report.plan.counts().roles_granted, 2);
    assert_eq!(env.user("ada").await.roles, ["admin"]);
    assert_eq!(env.user("grace").await.roles, ["admin"]);
    assert!(env.user("alan").await.roles.is_empty());
    let host = env.host().await;
    let kind: (String,) = crate::on_store!(host.store, |p| {
        sqlx::query_as("SELECT kind FROM roles WHERE name = 'admin'")
            .fetch_one(p)
            .await
            .unwrap()
    });
    assert_eq!(kind.0, "functional");

    // grace leaves Admins, alan joins.
    env.set_job("source", people(&["u1", "u3"]));
    let report = env.sync().await.unwrap();
    let c = report.plan.counts();
    assert_eq!((c.roles_granted, c.roles_revoked), (1, 1), "{c:?}");
    assert!(
        env.user("grace").await.roles.is_empty(),
        "a leaver loses the role"
    );
    assert_eq!(env.user("alan").await.roles, ["admin"]);
    assert_eq!(env.user("ada").await.roles, ["admin"]);
}

#[tokio::test]
async fn a_deactivated_member_loses_the_role() {
    let people = |with_grace: bool| {
        let mut users = vec![user("u1", "ada")];
        if with_grace {
            users.push(user("u2", "grace"));
        }
        source(users, vec![group("g1", "Admins", &["u1", "u2"])])
    };
    let env = TestEnv::scripted(people(true));
    env.set_job(
        "roles",
        json!([{ "group": "Admins", "role": "admin", "kind": "organizational" }]),
    );
    env.sync().await.unwrap();
    assert_eq!(env.user("grace").await.roles, ["admin"]);
    env.set_job("source", people(false));
    let report = env.sync().await.unwrap();
    assert_eq!(report.plan.counts().roles_revoked, 1);
    let grace = env.user("grace").await;
    assert!(!grace.active);
    assert!(grace.roles.is_empty());
}

#[tokio::test]
async fn group_pattern_selects_only_matching_groups() {
    let env = TestEnv::scripted(source(
        vec![user("u1", "ada"), user("u2", "grace")],
        vec![
            group("g1", "Intranet Users", &["u1"]),
            group("g2", "Intranet Admins", &["u2"]),
            group("g3", "VPN Users", &["u1", "u2"]),
        ],
    ));
    env.set_job("sync", json!({ "group_pattern": "^Intranet" }));
    env.sync().await.unwrap();
    let names: Vec<_> = env.groups().await.into_iter().map(|g| g.1).collect();
    assert_eq!(names, ["Intranet Admins", "Intranet Users"]);
    assert_eq!(
        env.active().await,
        ["ada", "grace"],
        "scope `all`: everyone synced"
    );
    assert_eq!(env.groups_of("ada").await, ["Intranet Users"]);
    assert_eq!(env.groups_of("grace").await, ["Intranet Admins"]);
}

#[tokio::test]
async fn a_group_gone_from_the_source_is_deactivated_and_comes_back() {
    let people = |groups: Vec<serde_json::Value>| {
        source(vec![user("u1", "ada"), user("u2", "grace")], groups)
    };
    let admins = || group("g1", "Admins", &["u1"]);
    let staff = || group("g2", "Staff", &["u1", "u2"]);
    let env = TestEnv::scripted(people(vec![admins(), staff()]));
    env.set_job("roles", json!([{ "group": "Admins", "role": "admin" }]));
    env.sync().await.unwrap();
    let id = env.groups().await[0].0;

    env.set_job("source", people(vec![staff()]));
    let report = env.sync().await.unwrap();
    assert_eq!(report.plan.counts().groups_deactivated, 1);
    assert_eq!(env.groups().await[0], (id, "Admins".into(), false));
    assert!(
        env.user("ada").await.roles.is_empty(),
        "the role goes with the group"
    );

    env.set_job("source", people(vec![admins(), staff()]));
    let report = env.sync().await.unwrap();
    assert_eq!(report.plan.counts().groups_updated, 1, "reactivated");
    assert_eq!(env.groups().await[0], (id, "Admins".into(), true));
    assert_eq!(env.user("ada").await.roles, ["admin"]);
}
