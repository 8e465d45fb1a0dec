//! The ldap connector against a real slapd (memberof + refint overlays,
//! TLS): full reads, both incremental modes, and the failures a customer
//! meets first (wrong password, wrong CA, server down).

use std::collections::{BTreeMap, BTreeSet};

use ldap_harness::{DirectorySpec, Slapd, SlapdOptions};
use serde_json::json;
use usersync_host::engine::UserChange;

use crate::env::TestEnv;
use crate::ldap_env::{group_sizes, openldap_env, openldap_source, slapd_with};

const SMITH: &str = "dn: cn=Smith\\, John,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
cn: Smith, John
sn: Smith
givenName: John
uid: smith.john
mail: John.Smith@example.com
mail: js@alias.example.com
";
const SMITH_NAME: &str = "Jöhn Smïth 山田";

/// slapd with syncprov and a session log (deletions come as a list).
fn content_sync() -> SlapdOptions {
    SlapdOptions::default()
        .syncprov(true)
        .syncprov_sessionlog(Some(10_000))
}

fn spec() -> DirectorySpec {
    // 25 groups: names with a comma (7), unicode (13) and `+` (21).
    DirectorySpec::new(60, 25, 7)
}

/// Effective user members of each group (nested resolved), by name.
fn expected_groups(spec: &DirectorySpec) -> BTreeMap<String, BTreeSet<u32>> {
    let plan = spec.plan();
    fn effective(plan: &ldap_harness::DirectoryPlan, j: usize, out: &mut BTreeSet<u32>) {
        out.extend(&plan.members[j]);
        for &s in &plan.subgroups[j] {
            effective(plan, s as usize, out);
        }
    }
    (0..spec.groups)
        .map(|j| {
            let mut m = BTreeSet::new();
            effective(&plan, j, &mut m);
            (spec.group_cn(j), m)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_read_brings_users_groups_nesting_and_escaped_names() {
    let spec = spec();
    let slapd = slapd_with(&spec, SlapdOptions::default());
    // LDIF carries non-ASCII values base64-encoded (`::`).
    let name = ldap_harness::base64_encode(SMITH_NAME.as_bytes());
    slapd
        .add_ldif(&format!("{SMITH}displayName:: {name}\n"))
        .unwrap();
    let env = openldap_env(&slapd, openldap_source(&slapd));

    let report = env.sync().await.unwrap();
    assert_eq!(report.run.outcome, "succeeded", "{:?}", report.run.message);
    assert_eq!(report.read.users, 61, "{:?}", report.run.errors);
    // Users disabled in the directory from the start are never created.
    let disabled = (0..spec.users).filter(|&i| spec.user(i).disabled).count();
    assert!(
        disabled > 0,
        "the generator disables ~1%; this seed has some"
    );
    assert_eq!(env.users().await.len(), 61 - disabled);
    for i in (0..spec.users).filter(|&i| !spec.user(i).disabled) {
        let want = spec.user(i);
        let got = env.user(&want.uid).await;
        assert!(got.active, "{}", want.uid);
        assert_eq!(
            got.display_name.as_deref(),
            Some(want.display_name.as_str())
        );
        assert_eq!(
            got.email.as_deref(),
            Some(want.mail[0].to_lowercase().as_str())
        );
        let manager_enabled = want.manager_index.is_some_and(|m| !spec.user(m).disabled);
        assert_eq!(got.manager.is_some(), manager_enabled, "{}", want.uid);
    }
    // A DN with an escaped comma, unicode values, two mails.
    let smith = env.user("smith.john").await;
    assert_eq!(smith.display_name.as_deref(), Some(SMITH_NAME));
    assert_eq!(smith.email.as_deref(), Some("John.Smith@example.com"));

    // Every group, nested members resolved, names with `,` `+` and accents.
    let sizes = group_sizes(&env).await;
    for (name, members) in expected_groups(&spec) {
        assert_eq!(
            sizes.get(&name),
            Some(&(members.len() as i64)),
            "group {name:?}"
        );
    }
    assert!(sizes.contains_key("Team 7, Ops") && sizes.contains_key("Équipe 13"));
    assert!(sizes.contains_key("R&D + QA 21"));

    // The escaped-DN user joins a group: references match despite escaping.
    slapd
        .modify(&format!(
            "dn: {}\nchangetype: modify\nadd: member\nmember: cn=Smith\\2C John,ou=people,dc=example,dc=com\n",
            spec.group_dn(24)
        ))
        .unwrap();
    env.sync_full().await.unwrap();
    let groups = env.user("smith.john").await.groups;
    assert!(groups.contains(&spec.group_cn(24)), "{groups:?}");
}

/// Changes made with ldapmodify between two runs; returns the uid of the
/// deleted user.
fn change_directory(slapd: &Slapd, spec: &DirectorySpec) -> String {
    let people = slapd.people_dn();
    let u = |i| spec.user(i);
    slapd
        .modify(&format!(
            "dn: {}\nchangetype: modify\nreplace: telephoneNumber\ntelephoneNumber: +49 30 1234\n",
            u(1).dn
        ))
        .unwrap();
    slapd.modrdn(&u(2).dn, "uid=renamed.two").unwrap();
    slapd
        .modify(&format!(
            "dn: {}\nchangetype: modify\nreplace: employeeType\nemployeeType: disabled\n",
            u(4).dn
        ))
        .unwrap();
    slapd.delete(&u(5).dn).unwrap();
    slapd
        .add_ldif(&format!(
            "dn: uid=new.person,{people}\nobjectClass: inetOrgPerson\nuid: new.person\ncn: New Person\nsn: Person\ndisplayName: New Person\nmail: new.person@example.com\n"
        ))
        .unwrap();
    // The new user joins the last (smallest) group.
    slapd
        .modify(&format!(
            "dn: {}\nchangetype: modify\nadd: member\nmember: uid=new.person,{people}\n",
            spec.group_dn(spec.groups - 1)
        ))
        .unwrap();
    u(5).uid
}

/// What both incremental modes must show after [`change_directory`].
async fn assert_changes_seen(env: &TestEnv, spec: &DirectorySpec, before: &BTreeMap<String, i64>) {
    assert_eq!(
        env.user(&spec.user(1).uid).await.phone.as_deref(),
        Some("+49 30 1234")
    );
    let renamed = env.user("renamed.two").await;
    assert!(renamed.active);
    assert!(
        env.users()
            .await
            .iter()
            .all(|u| u.username != spec.user(2).uid),
        "a rename keeps the row: no user is left under the old name"
    );
    assert!(
        !env.user(&spec.user(4).uid).await.active,
        "disabled -> deactivated"
    );
    let newbie = env.user("new.person").await;
    assert!(newbie.active);
    let last = spec.group_cn(spec.groups - 1);
    assert!(newbie.groups.contains(&last));
    assert_eq!(group_sizes(env).await[&last], before[&last] + 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn content_sync_sees_changes_and_deletions_incrementally() {
    let spec = spec();
    let slapd = slapd_with(&spec, content_sync());
    let env = openldap_env(&slapd, openldap_source(&slapd));
    let first = env.sync().await.unwrap();
    assert_eq!(first.run.mode, "full");
    assert!(env.cursor().await.unwrap().contains("content-sync"));
    let before = group_sizes(&env).await;
    let renamed_row = env.user(&spec.user(2).uid).await.id;

    let deleted = change_directory(&slapd, &spec);
    let second = env.sync().await.unwrap();
    assert_eq!(second.run.mode, "incremental");
    assert_eq!(second.run.outcome, "succeeded", "{:?}", second.run.message);
    assert_changes_seen(&env, &spec, &before).await;
    assert_eq!(env.user("renamed.two").await.id, renamed_row);
    assert!(
        !env.user(&deleted).await.active,
        "the session log reports the delete"
    );

    // Nothing changed: an incremental run changes nothing.
    let third = env.sync().await.unwrap();
    let c = third.plan.counts();
    assert_eq!((c.created, c.updated, c.deactivated), (0, 0, 0), "{c:?}");

    // A full run afterwards agrees with what the incremental ones built,
    // memberships included: the deleted user left the groups the
    // incremental read did not send.
    let full = env.sync_full().await.unwrap();
    let c = full.plan.counts();
    assert_eq!((c.created, c.updated, c.deactivated), (0, 0, 0), "{c:?}");
    assert_eq!(
        (c.memberships_added, c.memberships_removed),
        (0, 0),
        "{c:?}"
    );
}

/// Content sync sends again only the groups of users new to the store
/// (`target.known-users`): a user that enters the user filter gets the
/// memberships an unchanged group already gave it, and a changed user the
/// store holds keeps its own.
#[tokio::test(flavor = "multi_thread")]
async fn content_sync_gives_a_user_new_to_the_store_the_groups_that_did_not_change() {
    let spec = spec();
    let slapd = slapd_with(&spec, content_sync());
    let people = slapd.people_dn();
    // Listed in the last group, but outside the user filter until later.
    slapd
        .add_ldif(&format!(
            "dn: uid=late.joiner,{people}\nobjectClass: inetOrgPerson\nuid: late.joiner\ncn: Late Joiner\nsn: Joiner\ndescription: contractor\n"
        ))
        .unwrap();
    let last = spec.group_cn(spec.groups - 1);
    slapd
        .modify(&format!(
            "dn: {}\nchangetype: modify\nadd: member\nmember: uid=late.joiner,{people}\n",
            spec.group_dn(spec.groups - 1)
        ))
        .unwrap();
    let mut source = openldap_source(&slapd);
    source["user_filter"] = json!("(&(objectClass=inetOrgPerson)(!(description=contractor)))");
    let env = openldap_env(&slapd, source);
    env.sync().await.unwrap();
    let before = group_sizes(&env).await;
    let known = spec.user(1);
    let known_groups = env.user(&known.uid).await.groups;
    assert!(!known_groups.is_empty());

    slapd
        .modify(&format!(
            "dn: uid=late.joiner,{people}\nchangetype: modify\ndelete: description\n-\n\ndn: {}\nchangetype: modify\nreplace: telephoneNumber\ntelephoneNumber: +49 30 5555\n",
            known.dn
        ))
        .unwrap();
    let second = env.sync().await.unwrap();
    assert_eq!(second.run.mode, "incremental");
    assert_eq!(second.run.outcome, "succeeded", "{:?}", second.run.message);
    let joiner = env.user("late.joiner").await;
    assert!(joiner.active);
    assert!(joiner.groups.contains(&last), "{:?}", joiner.groups);
    // Only the joiner's groups went again (the last one and its parents),
    // not the changed known user's.
    assert_eq!(second.read.groups as usize, joiner.groups.len());
    assert_eq!(group_sizes(&env).await[&last], before[&last] + 1);
    assert_eq!(env.user(&known.uid).await.groups, known_groups);
    // The known user's stored fields were loaded for the comparison (an
    // incremental run loads only the fields of the users it read): only
    // the phone changed.
    let fields: Vec<&str> = second
        .plan
        .users
        .iter()
        .filter_map(|c| match c {
            UserChange::Update {
                username, changes, ..
            } if *username == known.uid => Some(changes.iter().map(|f| f.field.as_str())),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(fields, ["phone"]);

    let full = env.sync_full().await.unwrap();
    let c = full.plan.counts();
    assert_eq!(
        (c.created, c.memberships_added, c.memberships_removed),
        (0, 0, 0),
        "{c:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_syncprov_timestamps_and_group_rereads_and_the_full_run_finds_deletions() {
    let spec = spec();
    let slapd = slapd_with(&spec, SlapdOptions::default());
    let env = openldap_env(&slapd, openldap_source(&slapd));
    env.sync().await.unwrap();
    assert!(env.cursor().await.unwrap().contains("timestamp"));
    let before = group_sizes(&env).await;

    // modifyTimestamp has one-second resolution.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let deleted = change_directory(&slapd, &spec);
    let second = env.sync().await.unwrap();
    assert_eq!(second.run.mode, "incremental");
    assert_changes_seen(&env, &spec, &before).await;
    assert!(
        env.user(&deleted).await.active,
        "a timestamp search cannot see a deletion"
    );

    let full = env.sync_full().await.unwrap();
    assert_eq!(full.run.mode, "full");
    assert!(!env.user(&deleted).await.active, "the full run sees it");
    assert_eq!(full.plan.counts().deactivated, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_password_wrong_ca_and_a_dead_server_fail_clearly_and_deactivate_nobody() {
    let spec = DirectorySpec::new(12, 2, 3);
    let slapd = slapd_with(&spec, SlapdOptions::default());
    let env = openldap_env(&slapd, openldap_source(&slapd));
    env.sync().await.unwrap();
    let active = env.active().await;

    let fail_with = |ldap: serde_json::Value| {
        env.set_job("ldap", ldap);
        async { format!("{:#}", env.sync().await.unwrap_err()) }
    };

    let mut conn = crate::ldap_env::ldaps(&slapd);
    conn["bind_password"] = json!({ "value": "not-the-password" });
    let err = fail_with(conn.clone()).await;
    assert!(err.contains("invalid credentials"), "{err}");
    assert!(
        !err.contains("not-the-password"),
        "the password never shows: {err}"
    );

    let other_ca = tempfile::tempdir().unwrap();
    let tls = ldap_harness::TlsFiles::generate(
        other_ca.path(),
        "Some Other CA",
        &["127.0.0.1".parse().unwrap()],
        &[],
    )
    .unwrap();
    let mut conn = crate::ldap_env::ldaps(&slapd);
    conn["ca_file"] = json!(tls.ca_cert.display().to_string());
    let err = fail_with(conn).await;
    assert!(err.contains("TLS") && err.contains("ca_file"), "{err}");

    let mut conn = crate::ldap_env::ldaps(&slapd);
    conn["url"] = json!(format!(
        "ldaps://127.0.0.1:{}",
        ldap_harness::unused_loopback_port()
    ));
    let err = fail_with(conn).await;
    assert!(err.contains("cannot reach"), "{err}");

    assert_eq!(
        env.active().await,
        active,
        "no failed read deactivates anyone"
    );
    let runs = env
        .host()
        .await
        .store
        .runs(None, Some("people"), 3)
        .await
        .unwrap();
    assert!(runs.iter().all(|r| r.outcome == "failed"));
}

#[tokio::test(flavor = "multi_thread")]
async fn test_connection_reports_each_stage() {
    let spec = DirectorySpec::new(5, 1, 3);
    let slapd = slapd_with(&spec, SlapdOptions::default());
    let env = openldap_env(&slapd, openldap_source(&slapd));
    let host = env.host().await;
    let checks = host.test_connection(None, "people").await.unwrap();
    let stages: Vec<(&str, bool)> = checks
        .iter()
        .map(|c| {
            (
                c.stage.as_str(),
                c.status == usersync_host::model::CheckStatus::Ok,
            )
        })
        .collect();
    // The last stage maps real entries through the job's mapper.
    for want in [
        "tcp",
        "tls",
        "bind",
        "base_dn",
        "users",
        "groups",
        "sample records mapped",
    ] {
        assert!(
            stages.contains(&(want, true)),
            "{want} not green in {checks:?}"
        );
    }

    let mut conn = crate::ldap_env::ldaps(&slapd);
    conn["bind_password"] = json!({ "value": "nope" });
    env.set_job("ldap", conn);
    let checks = env.test_connection().await;
    let bind = checks.iter().find(|c| c.stage == "bind").unwrap();
    assert_eq!(bind.status, usersync_host::model::CheckStatus::Failed);
    assert!(
        bind.detail.contains("invalid credentials"),
        "{}",
        bind.detail
    );
}

/// The uids of the first `n` enabled users of `spec`.
fn enabled_uids(spec: &DirectorySpec, n: usize) -> Vec<String> {
    (0..spec.users)
        .filter(|&i| !spec.user(i).disabled)
        .map(|i| spec.user(i).uid)
        .take(n)
        .collect()
}

/// A first read of a directory that has a posixGroup finds its members.
/// The connector now asks the server whether any group lists members by
/// username before it keeps the names it reads; this pins that the answer
/// "yes" still resolves them. (The names would also resolve by searching,
/// so the test shows the result, not which path gave it.)
#[tokio::test(flavor = "multi_thread")]
async fn a_first_read_finds_posix_group_members_when_the_server_says_there_are_some() {
    let spec = DirectorySpec::new(20, 3, 6);
    let slapd = slapd_with(&spec, content_sync());
    let enabled = enabled_uids(&spec, 4);
    let member_uids: String = enabled
        .iter()
        .map(|u| format!("memberUid: {u}\n"))
        .collect();
    slapd
        .add_ldif(&format!(
            "dn: cn=posix-first,{}\nobjectClass: posixGroup\ncn: posix-first\ngidNumber: 20002\n{member_uids}",
            slapd.groups_dn()
        ))
        .unwrap();
    let env = openldap_env(&slapd, openldap_source(&slapd));
    let first = env.sync().await.unwrap();
    assert_eq!(first.run.outcome, "succeeded", "{:?}", first.run.message);
    assert_eq!(group_sizes(&env).await.get("posix-first"), Some(&4));
    for uid in &enabled {
        let groups = env.user(uid).await.groups;
        assert!(
            groups.contains(&"posix-first".to_string()),
            "{uid}: {groups:?}"
        );
    }
}

/// posixGroup `memberUid` values are usernames: the connector finds their
/// users from the users it read, or by searching when the last runs saw no
/// `memberUid` and it kept no names (a posixGroup new since then).
#[tokio::test(flavor = "multi_thread")]
async fn posix_group_members_are_found_by_username_with_or_without_the_name_cache() {
    let spec = DirectorySpec::new(20, 3, 5);
    let slapd = slapd_with(&spec, content_sync());
    let env = openldap_env(&slapd, openldap_source(&slapd));
    let first = env.sync().await.unwrap();
    assert_eq!(first.run.outcome, "succeeded", "{:?}", first.run.message);
    let enabled = enabled_uids(&spec, 3);
    // Written in another case than the users' own: names compare
    // regardless of case.
    let member_uids: String = enabled
        .iter()
        .map(|u| format!("memberUid: {}\n", u.to_uppercase()))
        .collect();
    slapd
        .add_ldif(&format!(
            "dn: cn=posix-late,{}\nobjectClass: posixGroup\ncn: posix-late\ngidNumber: 20001\n{member_uids}",
            slapd.groups_dn()
        ))
        .unwrap();
    // The last run saw no memberUid: this one searches for the names.
    env.sync_full().await.unwrap();
    assert_eq!(group_sizes(&env).await.get("posix-late"), Some(&3));
    for uid in &enabled {
        assert!(env
            .user(uid)
            .await
            .groups
            .contains(&"posix-late".to_string()));
    }
    // Now it knows: the names come from the users read, and agree.
    let again = env.sync_full().await.unwrap();
    let c = again.plan.counts();
    assert_eq!(
        (c.memberships_added, c.memberships_removed),
        (0, 0),
        "{c:?}"
    );
    assert_eq!(group_sizes(&env).await.get("posix-late"), Some(&3));
}
