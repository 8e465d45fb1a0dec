//! Active Directory read by an ordinary service account (not an
//! administrator), as `examples/active-directory` suggests: deleted objects
//! are hidden from it, so test-connection says which right is missing, the
//! run warns and the objectGUID listing finds deletions instead. Also:
//! primary-group membership (`Domain Users`) and mappings naming
//! `sAMAccountName`. Samba listens on fixed ports of 127.0.0.3 here, so
//! it can run beside `ldap_samba`.

use std::net::Ipv4Addr;

use ldap_harness::{SambaDc, SambaOptions};
use serde_json::json;

use crate::env::TestEnv;

const SERVICE_PASSWORD: &str = "Svc-Passw0rd-Strong!";

async fn member_count(env: &TestEnv, group: &str) -> i64 {
    let groups = env.host().await.store.groups(None).await.unwrap();
    groups
        .iter()
        .find(|g| g.name == group)
        .unwrap_or_else(|| panic!("no group {group}"))
        .members
}

#[tokio::test(flavor = "multi_thread")]
async fn a_non_admin_bind_account_still_sees_deletions_and_primary_groups() {
    let dc = SambaDc::start(SambaOptions::default().address(Ipv4Addr::new(127, 0, 0, 3)))
        .expect("Samba AD DC starts");
    let staff = dc.add_users(4, "pg").unwrap();
    let service = dc.add_user("svc-sync", Some(SERVICE_PASSWORD)).unwrap();

    let env = TestEnv::new(
        &[("plugins", "ldap"), ("plugins", "default-mapper")],
        "connector = \"ldap\"\nmappers = [\"default-mapper\"]\n",
    );
    env.set_job(
        "ldap",
        json!({
            "url": dc.ldaps_url(),
            "ca_file": dc.ca_cert_path().display().to_string(),
            "bind_dn": service,
            "bind_password": { "value": SERVICE_PASSWORD },
        }),
    );
    env.set_job(
        "source",
        json!({ "preset": "active-directory", "deletion_check_minutes": 0 }),
    );
    // The directory's own attribute name works in a mapping.
    env.set_job(
        "mapping",
        json!({ "username": { "from": "sAMAccountName" } }),
    );
    env.raise_limits();

    let checks = env.test_connection().await;
    let deletions = checks.iter().find(|c| c.stage == "deletions").unwrap();
    assert!(
        deletions.detail.contains("cannot read deleted objects")
            && deletions.detail.contains("List Contents"),
        "{}",
        deletions.detail
    );

    let first = env.sync().await.unwrap();
    assert_eq!(first.run.outcome, "succeeded", "{:?}", first.run.message);
    assert!(first.plan.errors.is_empty(), "{:?}", first.plan.errors);
    let domain_users = member_count(&env, "Domain Users").await;
    assert!(
        domain_users >= 5,
        "pg0..pg3 and svc-sync are in Domain Users by primaryGroupID: {domain_users}"
    );
    let pg0 = env.user("pg0").await;
    assert!(pg0.groups.iter().any(|g| g == "Domain Users"));

    // A new user joins Domain Users; another is deleted.
    dc.add_users(1, "nb").unwrap();
    dc.delete(&staff[3]).unwrap();
    let second = env.sync().await.unwrap();
    assert_eq!(second.run.mode, "incremental");
    assert_eq!(second.run.outcome, "succeeded", "{:?}", second.run.message);
    assert!(
        !env.user("pg3").await.active,
        "the deletion is found without tombstones"
    );
    assert_eq!(
        member_count(&env, "Domain Users").await,
        domain_users,
        "one joined by primaryGroupID, one left by deletion"
    );
    assert!(env.user("nb0").await.active);
    let said = second.plan.warnings.join("\n");
    assert!(said.contains("cannot read deleted objects"), "{said}");
    assert!(said.contains("deletion check: 1 users"), "{said}");
}
