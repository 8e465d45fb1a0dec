//! Dry runs, run records and the audit trail.

use serde_json::{json, Value};
use usersync_host::engine::Counts;
use usersync_host::store::AuditFilter;
use usersync_host::sync::SyncRequest;

use crate::env::TestEnv;
use crate::script::{group, source, user, user_with, with};

fn staff(u: Value) -> Value {
    with(u, json!({ "member_of": ["g1"] }))
}

/// Before: ada, grace, alan in Staff. After: grace's mail changed, alan
/// gone, linus new.
fn before() -> Value {
    let mut s = source(
        vec![
            staff(user("u1", "ada")),
            staff(user_with(
                "u2",
                "grace",
                json!({ "mail": "grace@old.example" }),
            )),
            staff(user("u3", "alan")),
        ],
        vec![group("g1", "Staff", &[])],
    );
    s["cursor"] = json!("c1");
    s
}

fn after() -> Value {
    let mut s = source(
        vec![
            staff(user("u1", "ada")),
            staff(user_with(
                "u2",
                "grace",
                json!({ "mail": "grace@new.example" }),
            )),
            staff(user("u4", "linus")),
        ],
        vec![group("g1", "Staff", &[])],
    );
    s["cursor"] = json!("c2");
    s
}

fn scripted() -> TestEnv {
    let env = TestEnv::scripted(before());
    env.set_job(
        "sync",
        json!({ "full_every_hours": 0.0, "license_kind": "standard" }),
    );
    env.set_job("roles", json!([{ "group": "Staff", "role": "staff" }]));
    env
}

/// Everything a run could change, as JSON, to compare before and after.
async fn everything(env: &TestEnv) -> Value {
    json!({
        "users": serde_json::to_value(env.users().await).unwrap(),
        "groups": env.groups().await,
        "audit": env.audit(AuditFilter::default()).await.len(),
        "cursor": env.cursor().await,
    })
}

#[tokio::test]
async fn dry_run_reports_what_the_real_run_applies_and_changes_nothing() {
    let env = scripted();
    env.sync().await.unwrap();
    env.set_job("source", after());
    let untouched = everything(&env).await;

    let dry = env
        .sync_with(SyncRequest {
            dry_run: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(dry.run.outcome, "succeeded");
    assert!(dry.run.dry_run);
    let phases = dry.run.phases.expect("a dry run plans");
    assert_eq!(phases.apply_ms, None, "a dry run writes nothing");
    assert_eq!(
        everything(&env).await,
        untouched,
        "a dry run changes nothing"
    );
    let expected = Counts {
        created: 1,
        updated: 1,
        deactivated: 1,
        memberships_added: 1,
        memberships_removed: 1,
        roles_granted: 1,
        roles_revoked: 1,
        licenses_granted: 1,
        licenses_freed: 1,
        ..Counts::default()
    };
    assert_eq!(dry.plan.counts(), expected);
    let recorded: Counts =
        serde_json::from_value(env.run_record(&dry.run.id).await.counts.unwrap()).unwrap();
    assert_eq!(recorded, expected, "the dry run's record has its counts");

    let real = env.sync().await.unwrap();
    assert!(!real.run.dry_run);
    assert_eq!(
        real.plan.counts(),
        expected,
        "the real run applies what was shown"
    );
    assert_ne!(everything(&env).await, untouched);
    assert_eq!(env.cursor().await.as_deref(), Some("c2"));
    assert_eq!(env.active().await, ["ada", "grace", "linus"]);
}

#[tokio::test]
async fn run_records_carry_outcome_duration_counts_and_plugin_versions() {
    let env = scripted();
    let report = env.sync().await.unwrap();
    let runs = env
        .host()
        .await
        .store
        .runs(None, Some("people"), 10)
        .await
        .unwrap();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(run.id, report.run.id);
    assert_eq!(
        (run.tenant_id.as_str(), run.job_id.as_str()),
        ("default", "people")
    );
    assert_eq!(
        (run.mode.as_str(), run.outcome.as_str()),
        ("full", "succeeded")
    );
    assert!(!run.dry_run);
    assert!(run.finished_at.as_deref().unwrap() >= run.started_at.as_str());
    assert!(run.duration_ms.unwrap() >= 0);
    // Where the time went: the record and the report say the same, and the
    // run's duration covers its phases, the writing included.
    let phases = run.phases.expect("an applied run records its phases");
    assert_eq!(report.run.phases, Some(phases));
    assert_eq!(report.run.duration_ms, run.duration_ms);
    let apply_ms = phases.apply_ms.expect("the run applied");
    assert!(run.duration_ms.unwrap() as u64 >= phases.read_ms + phases.plan_ms + apply_ms);
    let counts: Counts = serde_json::from_value(run.counts.clone().unwrap()).unwrap();
    assert_eq!(counts, report.plan.counts());
    assert_eq!((counts.created, counts.groups_created), (3, 1));
    assert_eq!(run.errors, Some(json!([])));
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        run.connector_version.as_deref(),
        Some(format!("scripted-connector {version}").as_str())
    );
    assert_eq!(
        run.mapper_versions.as_deref(),
        Some(format!("default-mapper {version}").as_str())
    );

    let events = env.audit_of_run(&run.id).await;
    // 3 users, 1 group, 3 memberships, 3 roles, 3 licenses.
    assert_eq!(events.len(), 13, "{events:#?}");
    for e in &events {
        assert_eq!(e.job_id.as_deref(), Some("people"));
        let versions = e.plugin_versions.as_deref().unwrap_or_default();
        assert!(
            versions.contains("scripted-connector") && versions.contains("default-mapper"),
            "{e:?}"
        );
    }
}

#[tokio::test]
async fn audit_filters_by_job_user_and_category() {
    let env = scripted();
    // A second job of the same tenant, with its own users.
    env.edit(|doc| {
        let other = toml::Value::try_from(json!({
            "id": "other",
            "connector": "scripted-connector",
            "mappers": ["default-mapper"],
            "source": source(vec![user("x1", "xavier")], vec![]),
        }))
        .unwrap();
        doc["jobs"].as_array_mut().unwrap().push(other);
    });
    env.sync().await.unwrap();
    env.set_job("source", after());
    env.sync().await.unwrap();
    let host = env.host().await;
    let other_run = host
        .sync(&SyncRequest {
            job: "other".into(),
            ..Default::default()
        })
        .await
        .unwrap();

    let by_job = |job: &str| AuditFilter {
        job: Some(job.into()),
        ..Default::default()
    };
    let other = env.audit(by_job("other")).await;
    assert_eq!(other.len(), 1, "{other:#?}");
    assert_eq!(other[0].subject, "xavier");
    assert_eq!(other[0].run_id.as_deref(), Some(other_run.run.id.as_str()));
    let people = env.audit(by_job("people")).await;
    assert!(people.iter().all(|e| e.job_id.as_deref() == Some("people")));
    assert!(people.iter().all(|e| e.subject != "xavier"));

    let grace = env
        .audit(AuditFilter {
            subject: Some("grace".into()),
            ..by_job("people")
        })
        .await;
    let mut kinds: Vec<_> = grace
        .iter()
        .map(|e| format!("{}:{}", e.category, e.action))
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "license:grant",
            "membership:join",
            "role:grant",
            "user:create",
            "user:update"
        ]
    );
    // Grace's create and the groups she joined are one stored event, read
    // as two that share its id. A page is cut after the expansion: a page
    // one event short of her trail reads all her stored rows, which expand
    // to one event more than the page holds.
    let id_of = |kind: &str| {
        let event = grace
            .iter()
            .find(|e| format!("{}:{}", e.category, e.action) == kind);
        event.unwrap().id
    };
    assert_eq!(id_of("membership:join"), id_of("user:create"));
    let newest = env
        .host()
        .await
        .store
        .audit(&AuditFilter {
            subject: Some("grace".into()),
            limit: grace.len() as i64 - 1,
            ..by_job("people")
        })
        .await
        .unwrap();
    assert_eq!(newest.len(), grace.len() - 1, "{newest:#?}");
    let by_source_id = env
        .audit(AuditFilter {
            subject: Some("u2".into()),
            ..Default::default()
        })
        .await;
    assert_eq!(
        by_source_id.len(),
        grace.len(),
        "subject matches the source id too"
    );

    let memberships = env
        .audit(AuditFilter {
            category: Some("membership".into()),
            ..by_job("people")
        })
        .await;
    assert!(memberships.iter().all(|e| e.category == "membership"));
    let mut moves: Vec<_> = memberships
        .iter()
        .map(|e| format!("{} {}", e.action, e.subject))
        .collect();
    moves.sort();
    assert_eq!(
        moves,
        [
            "join ada",
            "join alan",
            "join grace",
            "join linus",
            "remove alan"
        ]
    );
    // A user created by a run joins its groups in one event that names them.
    let grace_joined = memberships.iter().find(|e| e.subject == "grace").unwrap();
    let details: Value = serde_json::from_str(grace_joined.changes.as_deref().unwrap()).unwrap();
    assert_eq!(details["groups"][0]["group"], "Staff");
    let alan_left = memberships.iter().find(|e| e.action == "remove").unwrap();
    let details: Value = serde_json::from_str(alan_left.changes.as_deref().unwrap()).unwrap();
    assert_eq!(details["group"], "Staff");
}
