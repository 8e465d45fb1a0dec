//! The ldap connector's Active Directory preset against a real Samba AD
//! domain controller: objectGUID identity, userAccountControl, ranged
//! `member` values of a 3,000-member group, uSNChanged incremental runs with
//! deleted objects, and verify-password. Samba listens on fixed ports of
//! 127.0.0.2, so everything AD is in this one test.

use ldap_harness::{SambaDc, SambaOptions};
use serde_json::json;

use crate::env::TestEnv;

const PASSWORD: &str = "Passw0rd-Strong!";

fn ad_env(dc: &SambaDc) -> TestEnv {
    let env = TestEnv::new(
        &[("plugins", "ldap"), ("plugins", "default-mapper")],
        "connector = \"ldap\"\nmappers = [\"default-mapper\"]\n",
    );
    env.set_job(
        "ldap",
        json!({
            "url": dc.ldaps_url(),
            "ca_file": dc.ca_cert_path().display().to_string(),
            "bind_dn": dc.admin_upn(),   // a UPN, as AD admins write it
            "bind_password": { "value": dc.admin_password() },
        }),
    );
    env.set_job(
        "source",
        json!({ "preset": "active-directory", "page_size": 500 }),
    );
    env.raise_limits();
    env
}

async fn members(env: &TestEnv, group: &str) -> i64 {
    let groups = env.host().await.store.groups(None).await.unwrap();
    groups
        .iter()
        .find(|g| g.name == group)
        .unwrap_or_else(|| panic!("no group {group}"))
        .members
}

#[tokio::test(flavor = "multi_thread")]
async fn active_directory_preset_against_samba() {
    let dc = SambaDc::start(SambaOptions::default()).expect("Samba AD DC starts");
    let crowd = dc.add_users(3000, "ru").unwrap();
    dc.add_group("big-group", &crowd).unwrap();
    let staff = dc.add_users(5, "st").unwrap();
    dc.add_user("pwuser", Some(PASSWORD)).unwrap();
    let small = dc.add_group("small-group", &staff[..2]).unwrap();
    dc.add_group("parent-group", std::slice::from_ref(&small))
        .unwrap();
    let env = ad_env(&dc);

    let first = env.sync().await.unwrap();
    assert_eq!(first.run.outcome, "succeeded", "{:?}", first.run.message);
    let ru0 = env.user("ru0").await;
    assert!(ru0.active);
    let guid = ru0.source_id.unwrap();
    assert_eq!(guid.len(), 36, "objectGUID as text: {guid}");
    assert_eq!(members(&env, "big-group").await, 3000, "range retrieval");
    assert_eq!(members(&env, "parent-group").await, 2, "nested");
    assert!(env.cursor().await.unwrap().contains("usn"));

    // Disable, rename, join a group, delete.
    let renamed_row = env.user("st2").await.id;
    dc.disable_user(&staff[1]).unwrap();
    dc.rename_user(&staff[2], "st2 renamed").unwrap();
    dc.add_members(&small, std::slice::from_ref(&staff[3]))
        .unwrap();
    dc.delete(&staff[4]).unwrap();

    let second = env.sync().await.unwrap();
    assert_eq!(second.run.mode, "incremental");
    assert_eq!(second.run.outcome, "succeeded", "{:?}", second.run.message);
    assert!(!env.user("st1").await.active, "userAccountControl bit 2");
    let st2 = env.user("st2").await;
    assert_eq!(st2.id, renamed_row, "a rename keeps the row");
    assert!(st2.active);
    assert_eq!(members(&env, "small-group").await, 3);
    assert_eq!(members(&env, "parent-group").await, 3, "the parent follows");
    assert!(!env.user("st4").await.active, "a deleted object is seen");
    assert!(env.user("ru0").await.active, "untouched users stay");

    // verify-password binds as the user.
    let host = env.host().await;
    assert!(
        host.verify_password(None, "people", "pwuser", PASSWORD)
            .await
            .unwrap()
            .valid
    );
    let bad = host
        .verify_password(None, "people", "pwuser", "nope")
        .await
        .unwrap();
    assert!(bad.reason.contains("wrong password"), "{}", bad.reason);
    drop(host);

    // A wrong service password: AD's reason, nobody deactivated.
    let active_before = env.active().await.len();
    let conn = json!({
        "url": dc.ldaps_url(),
        "ca_file": dc.ca_cert_path().display().to_string(),
        "bind_dn": dc.admin_upn(),
        "bind_password": { "value": "not-it" },
    });
    env.set_job("ldap", conn);
    let err = format!("{:#}", env.sync().await.unwrap_err());
    assert!(err.contains("wrong password"), "{err}");
    assert_eq!(env.active().await.len(), active_before);
}
