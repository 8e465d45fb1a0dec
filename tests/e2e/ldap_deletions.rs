//! What incremental runs and test-connection tell an operator, against a
//! real slapd without syncprov: deletions found by the periodic id listing
//! (and said in the run record), mappings that name the directory's own
//! attributes, whole counts, and a failed bind named as such.

use ldap_harness::{DirectorySpec, SlapdOptions};
use serde_json::json;
use usersync_host::model::CheckStatus;

use crate::ldap_env::{openldap_env, openldap_source, slapd_with};

fn warnings(report: &usersync_host::sync::RunReport) -> String {
    report.plan.warnings.join("\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn without_syncprov_the_id_listing_finds_deletions_in_an_incremental_run() {
    let spec = DirectorySpec::new(12, 6, 3);
    let slapd = slapd_with(&spec, SlapdOptions::default());
    let mut source = openldap_source(&slapd);
    source["deletion_check_minutes"] = json!(0); // every incremental run
    let env = openldap_env(&slapd, source);
    let first = env.sync().await.unwrap();
    assert_eq!(first.run.mode, "full");
    assert!(env.cursor().await.unwrap().contains("timestamp"));

    let gone_user = (0..spec.users)
        .rev()
        .find(|&i| !spec.user(i).disabled)
        .unwrap();
    // The last group is nobody's parent and has members of its own.
    let gone_group = spec.group_cn(spec.groups - 1);
    slapd.delete(&spec.group_dn(spec.groups - 1)).unwrap();
    slapd.delete(&spec.user(gone_user).dn).unwrap();

    let second = env.sync().await.unwrap();
    assert_eq!(second.run.mode, "incremental");
    assert_eq!(second.run.outcome, "succeeded", "{:?}", second.run.message);
    assert!(
        !env.user(&spec.user(gone_user).uid).await.active,
        "the deleted user is deactivated without waiting for a full run"
    );
    let groups = env.groups().await;
    let (_, _, active) = groups.iter().find(|g| g.1 == gone_group).unwrap();
    assert!(
        !active,
        "the deleted group is deactivated without waiting for a full run"
    );
    let said = warnings(&second);
    assert!(
        said.contains("deletion check: 1 users, 1 groups gone"),
        "the run record says what the check found: {said}"
    );
    let stored = second.run.warnings.clone().unwrap_or_default();
    assert!(stored.to_string().contains("deletion check"), "{stored}");

    // Nothing else vanished: the next check finds nothing, changes nothing.
    let third = env.sync().await.unwrap();
    let c = third.plan.counts();
    assert_eq!((c.created, c.updated, c.deactivated), (0, 0, 0), "{c:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn mappings_may_name_the_directorys_own_attributes() {
    let spec = DirectorySpec::new(12, 2, 3);
    let slapd = slapd_with(&spec, SlapdOptions::default());
    let env = openldap_env(&slapd, openldap_source(&slapd));
    env.set_job(
        "mapping",
        json!({ "username": { "from": "uid" }, "email": { "from": "mail" } }),
    );
    let report = env.sync().await.unwrap();
    assert!(report.plan.errors.is_empty(), "{:?}", report.plan.errors);
    let enabled = (0..spec.users).filter(|&i| !spec.user(i).disabled).count();
    assert_eq!(env.users().await.len(), enabled);
    let u = spec.user(0);
    assert_eq!(
        env.user(&u.uid).await.email.as_deref(),
        Some(u.mail[0].to_lowercase().as_str())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn test_connection_counts_everything_and_names_a_failed_bind() {
    let spec = DirectorySpec::new(30, 2, 3);
    let slapd = slapd_with(&spec, SlapdOptions::default());
    // Pages of 7: a one-page sample would say "at least 7".
    let env = openldap_env(&slapd, openldap_source(&slapd));
    let checks = env.test_connection().await;
    let users = checks.iter().find(|c| c.stage == "users").unwrap();
    assert!(users.detail.contains("finds 30 under"), "{}", users.detail);
    let deletions = checks.iter().find(|c| c.stage == "deletions").unwrap();
    assert!(
        deletions.detail.contains("deletion_check_minutes"),
        "{}",
        deletions.detail
    );

    let mut conn = crate::ldap_env::ldaps(&slapd);
    conn["bind_password"] = json!({ "value": "nope" });
    env.set_job("ldap", conn);
    let checks = env.test_connection().await;
    for later in checks.iter().filter(|c| c.status == CheckStatus::Skipped) {
        assert_eq!(later.detail, "the bind failed", "{later:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_record_error_names_the_entrys_dn() {
    let spec = DirectorySpec::new(3, 1, 3);
    let slapd = slapd_with(&spec, SlapdOptions::default());
    slapd
        .add_ldif("dn: cn=No Uid,ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\ncn: No Uid\nsn: Uid\n")
        .unwrap();
    let env = openldap_env(&slapd, openldap_source(&slapd));
    env.set_job(
        "mapping",
        json!({ "username": { "from": "uid" }, "defaults": false }),
    );
    let report = env.sync().await.unwrap();
    let error = report
        .plan
        .errors
        .iter()
        .find(|e| e.record.contains("No Uid"))
        .unwrap_or_else(|| panic!("{:?}", report.plan.errors));
    assert!(error.record.contains("cn=No Uid,ou=people"), "{error:?}");
}
