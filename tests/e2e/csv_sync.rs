//! CSV -> SQLite through the real csv connector and default mapper.

use crate::env::TestEnv;

const PEOPLE: &str = "id,uid,givenName,sn,mail,active,groups
1,ada,Ada,Lovelace,ada@example.com,true,Staff;Admins
2,grace,Grace,Hopper,grace@example.com,true,Staff
3,alan,Alan,Turing,alan@example.com,true,Staff
4,zoë,Zoë,Ångström,zoe@example.com,true,Staff
";

#[tokio::test]
async fn csv_sync_creates_users_and_groups() {
    let env = TestEnv::csv();
    env.write_csv(PEOPLE);
    let report = env.sync().await.unwrap();
    assert_eq!(report.run.outcome, "succeeded");
    let c = report.plan.counts();
    assert_eq!(
        (c.created, c.groups_created, c.memberships_added),
        (4, 2, 5)
    );
    let users = env.host().await.store.users(None).await.unwrap();
    let zoe = users
        .iter()
        .find(|u| u.username == "zoë")
        .expect("unicode username survives");
    assert_eq!(zoe.email.as_deref(), Some("zoe@example.com"));
    assert!(users
        .iter()
        .find(|u| u.username == "ada")
        .unwrap()
        .groups
        .iter()
        .any(|g| g == "Admins"));
}

#[tokio::test]
async fn rerun_with_the_same_file_changes_nothing() {
    let env = TestEnv::csv();
    env.write_csv(PEOPLE);
    env.sync().await.unwrap();
    let again = env.sync().await.unwrap();
    assert!(
        again.plan.is_noop(),
        "second run changed something: {:?}",
        again.plan.counts()
    );
}

#[tokio::test]
async fn an_edited_file_updates_and_renames_in_place() {
    let env = TestEnv::csv();
    env.write_csv(PEOPLE);
    env.sync().await.unwrap();
    let before = env.host().await.store.users(None).await.unwrap();
    let ada_id = before.iter().find(|u| u.username == "ada").unwrap().id;
    env.write_csv(&PEOPLE.replace(
        "1,ada,Ada,Lovelace,ada@example.com",
        "1,ada.king,Ada,King,ada.king@example.com",
    ));
    let report = env.sync().await.unwrap();
    let c = report.plan.counts();
    assert_eq!((c.renamed, c.created, c.deactivated), (1, 0, 0));
    let after = env.host().await.store.users(None).await.unwrap();
    let ada = after.iter().find(|u| u.username == "ada.king").unwrap();
    assert_eq!(ada.id, ada_id, "a rename keeps the same row");
    assert_eq!(ada.email.as_deref(), Some("ada.king@example.com"));
}

#[tokio::test]
async fn a_removed_row_deactivates_and_a_returning_one_reactivates() {
    let env = TestEnv::csv();
    env.write_csv(PEOPLE);
    env.sync().await.unwrap();
    env.write_csv(&PEOPLE.replace("3,alan,Alan,Turing,alan@example.com,true,Staff\n", ""));
    let report = env.sync().await.unwrap();
    assert_eq!(report.plan.counts().deactivated, 1, "{:#?}", report.plan);
    let users = env.host().await.store.users(None).await.unwrap();
    let alan = users
        .iter()
        .find(|u| u.username == "alan")
        .expect("deactivated, never deleted");
    assert!(!alan.active);
    assert_eq!(alan.deactivation_reason.as_deref(), Some("gone"));
    env.write_csv(PEOPLE);
    let back = env.sync().await.unwrap();
    assert_eq!(back.plan.counts().reactivated, 1, "{:#?}", back.plan);
}

#[tokio::test]
async fn a_malformed_row_is_a_per_record_error_and_the_rest_syncs() {
    let env = TestEnv::csv();
    // 1 bad row of 5 is 20%: over the default max_rejected_percent.
    env.set_job("sync", serde_json::json!({ "max_rejected_percent": 50 }));
    env.write_csv(PEOPLE);
    env.sync().await.unwrap();
    // Row 3 loses a field; row 5 is new. Nobody may be deactivated by a bad read.
    env.write_csv(&format!(
        "{}5,linus,Linus,Torvalds,linus@example.com,true,Staff\n",
        PEOPLE.replace(
            "3,alan,Alan,Turing,alan@example.com,true,Staff",
            "3,alan,Alan,alan@example.com,true,Staff"
        )
    ));
    let report = env.sync().await.unwrap();
    assert_eq!(report.run.outcome, "succeeded");
    let c = report.plan.counts();
    assert_eq!((c.created, c.deactivated, c.errors), (1, 0, 1));
    assert!(
        report.plan.errors[0].message.contains("field"),
        "{:?}",
        report.plan.errors
    );
    let run = env
        .host()
        .await
        .store
        .run(&report.run.id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        run.errors.unwrap().to_string().contains("line"),
        "the run record names the bad line"
    );
}

#[tokio::test]
async fn dry_run_changes_nothing() {
    let env = TestEnv::csv();
    env.write_csv(PEOPLE);
    let host = env.host().await;
    let report = host
        .sync(&usersync_host::sync::SyncRequest {
            job: "people".into(),
            dry_run: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(report.plan.counts().created, 4);
    assert!(host.store.users(None).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_missing_file_fails_the_run_and_deactivates_nobody() {
    let env = TestEnv::csv();
    env.write_csv(PEOPLE);
    env.sync().await.unwrap();
    std::fs::remove_file(env.dir.path().join("data/people.csv")).unwrap();
    let err = env.sync().await.unwrap_err();
    assert!(format!("{err:#}").contains("people.csv"), "{err:#}");
    let users = env.host().await.store.users(None).await.unwrap();
    assert!(users.iter().all(|u| u.active));
    assert_eq!(env.last_run().await.outcome, "failed");
}
