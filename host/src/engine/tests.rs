//! Unit tests of the sync semantics: one behaviour per test, built from
//! small helpers so each reads in a few lines.

use std::collections::HashSet;

use regex::Regex;

use super::*;
use crate::config::LicensePolicy;
use crate::model::{RecordError, SourceGroup, SourceUser, UserFields};

// ---------------------------------------------------------------- helpers

fn dn(id: &str) -> String {
    format!("uid={id},ou=people,dc=example,dc=org")
}

fn group_dn(id: &str) -> String {
    format!("cn={id},ou=groups,dc=example,dc=org")
}

fn fields(username: &str) -> UserFields {
    UserFields {
        username: username.to_string(),
        ..UserFields::default()
    }
}

/// An enabled, in-filter source user.
fn user(id: &str, username: &str) -> SourceUser {
    SourceUser {
        id: id.to_string(),
        ref_key: dn(id),
        enabled: true,
        in_filter: true,
        fields: fields(username),
        member_of: Vec::new(),
    }
}

/// A source user with one field set.
fn user_with(id: &str, username: &str, field: &str, value: &str) -> SourceUser {
    let mut u = user(id, username);
    u.fields.set(field, Some(value.to_string()));
    u
}

/// An active stored user that matches `user(id, username)` exactly.
fn stored(id: &str, username: &str) -> StoredUser {
    StoredUser {
        source_id: id.to_string(),
        ref_key: dn(id),
        fields: fields(username),
        custom_json: None,
        active: true,
        in_source: true,
        source_enabled: true,
        deactivation_reason: None,
    }
}

fn stored_with(id: &str, username: &str, field: &str, value: &str) -> StoredUser {
    let mut u = stored(id, username);
    u.fields.set(field, Some(value.to_string()));
    u
}

/// A stored user the sync deactivated earlier.
fn inactive(id: &str, username: &str, reason: &str, in_source: bool) -> StoredUser {
    StoredUser {
        active: false,
        in_source,
        deactivation_reason: Some(reason.to_string()),
        ..stored(id, username)
    }
}

/// A source group whose direct members are refs (user DNs or group refs).
fn group(id: &str, name: &str, members: &[String]) -> SourceGroup {
    SourceGroup {
        id: id.to_string(),
        ref_key: group_dn(id),
        name: name.to_string(),
        description: None,
        members: members.to_vec(),
        member_of: Vec::new(),
    }
}

fn stored_group(id: &str, name: &str) -> StoredGroup {
    StoredGroup {
        source_id: id.to_string(),
        ref_key: group_dn(id),
        name: name.to_string(),
        description: None,
        active: true,
    }
}

/// A complete read of these users.
fn snap(users: Vec<SourceUser>) -> Snapshot {
    Snapshot {
        users,
        complete: true,
        ..Snapshot::default()
    }
}

fn snap_groups(users: Vec<SourceUser>, groups: Vec<SourceGroup>) -> Snapshot {
    Snapshot {
        groups,
        ..snap(users)
    }
}

/// The store holding these users; their usernames are held by this job.
fn current(users: Vec<StoredUser>) -> Current {
    let usernames = users
        .iter()
        .map(|u| {
            (
                u.fields.username.clone(),
                UsernameOwner::ThisJob {
                    source_id: u.source_id.clone(),
                },
            )
        })
        .collect();
    Current {
        users,
        usernames,
        ..Current::default()
    }
}

fn pairs(items: &[(&str, &str)]) -> HashSet<(String, String)> {
    items
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn full(s: &Snapshot, c: &Current, p: &Policy) -> Plan {
    plan(s, c, p, RunMode::Full)
}

fn full_default(s: &Snapshot, c: &Current) -> Plan {
    full(s, c, &Policy::default())
}

/// (source id, action) of every user change, in plan order.
fn actions(p: &Plan) -> Vec<(&str, &str)> {
    p.users
        .iter()
        .map(|u| (u.source_id(), u.action()))
        .collect()
}

/// (source id, reason) of every deactivation.
fn deactivations(p: &Plan) -> Vec<(&str, DeactivationReason)> {
    p.users
        .iter()
        .filter_map(|u| match u {
            UserChange::Deactivate {
                source_id, reason, ..
            } => Some((source_id.as_str(), *reason)),
            _ => None,
        })
        .collect()
}

fn created(p: &Plan) -> Vec<&str> {
    p.users
        .iter()
        .filter(|u| u.action() == "create")
        .map(|u| u.source_id())
        .collect()
}

fn created_fields<'a>(p: &'a Plan, id: &str) -> &'a UserFields {
    p.users
        .iter()
        .find_map(|u| match u {
            UserChange::Create {
                source_id, fields, ..
            } if source_id == id => Some(fields),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no create for {id}: {:?}", p.users))
}

/// (group, user, add) of every membership change, sorted.
fn memberships(p: &Plan) -> Vec<(&str, &str, bool)> {
    let mut m: Vec<_> = p
        .memberships
        .iter()
        .map(|m| (m.group.as_str(), m.user.as_str(), m.add))
        .collect();
    m.sort();
    m
}

fn group_actions(p: &Plan) -> Vec<(&str, &str)> {
    p.groups
        .iter()
        .map(|g| (g.source_id(), g.action()))
        .collect()
}

fn licenses(p: &Plan) -> Vec<(&str, bool)> {
    p.licenses
        .iter()
        .map(|l| (l.user.as_str(), l.grant))
        .collect()
}

fn license_policy(seats: u32, policy: LicensePolicy) -> Policy {
    Policy {
        license: Some(LicenseRule {
            kind: "pro".into(),
            seats,
            policy,
        }),
        ..Policy::default()
    }
}

fn selected(names: &[&str], pattern: Option<&str>) -> GroupSelection {
    GroupSelection::Selected {
        names: names.iter().map(|n| n.to_string()).collect(),
        pattern: pattern.map(|p| Regex::new(p).unwrap()),
    }
}

fn field_change(field: &str, old: Option<&str>, new: Option<&str>) -> FieldChange {
    FieldChange {
        field: field.into(),
        old: old.map(Into::into),
        new: new.map(Into::into),
    }
}

fn has_warning(p: &Plan, needle: &str) -> bool {
    p.warnings.iter().any(|w| w.contains(needle))
}

// ------------------------------------------------------- create / update

#[test]
fn new_user_is_created() {
    let p = full_default(&snap(vec![user("u1", "alice")]), &Current::default());
    assert_eq!(actions(&p), [("u1", "create")]);
    assert_eq!(created_fields(&p, "u1").username, "alice");
    assert!(p.stop.is_none());
    assert_eq!(
        p.counts(),
        Counts {
            created: 1,
            ..Counts::default()
        }
    );
}

#[test]
fn disabled_new_user_is_not_created() {
    let mut u = user("u1", "alice");
    u.enabled = false;
    let p = full_default(&snap(vec![u]), &Current::default());
    assert!(p.users.is_empty(), "{:?}", p.users);
}

#[test]
fn out_of_filter_new_user_is_not_created() {
    let mut u = user("u1", "alice");
    u.in_filter = false;
    let p = full_default(&snap(vec![u]), &Current::default());
    assert!(p.users.is_empty(), "{:?}", p.users);
}

#[test]
fn unchanged_user_is_noop() {
    let p = full_default(
        &snap(vec![user_with("u1", "alice", "email", "a@x.org")]),
        &current(vec![stored_with("u1", "alice", "email", "a@x.org")]),
    );
    assert!(p.is_noop(), "{p:?}");
    assert!(p.users.is_empty());
    assert_eq!(p.counts(), Counts::default());
}

#[test]
fn changed_field_updates_only_that_field() {
    let mut su = user_with("u1", "alice", "email", "new@x.org");
    su.fields.display_name = Some("Alice".into());
    let mut st = stored_with("u1", "alice", "email", "old@x.org");
    st.fields.display_name = Some("Alice".into());
    let p = full_default(&snap(vec![su]), &current(vec![st]));
    assert_eq!(actions(&p), [("u1", "update")]);
    assert_eq!(
        p.users[0].changes(),
        [field_change("email", Some("old@x.org"), Some("new@x.org"))]
    );
    assert_eq!(p.counts().updated, 1);
}

#[test]
fn none_mapped_field_leaves_stored_value_alone() {
    // The source has no phone; the stored phone stays.
    let p = full_default(
        &snap(vec![user("u1", "alice")]),
        &current(vec![stored_with("u1", "alice", "phone", "+1 555 0100")]),
    );
    assert!(p.is_noop(), "{p:?}");
}

#[test]
fn rename_keeps_source_id() {
    let p = full_default(
        &snap(vec![user("u1", "alice.smith")]),
        &current(vec![stored("u1", "alice")]),
    );
    assert_eq!(actions(&p), [("u1", "rename")]);
    assert_eq!(p.users[0].username(), "alice.smith");
    assert_eq!(
        p.users[0].changes(),
        [field_change("username", Some("alice"), Some("alice.smith"))]
    );
    assert_eq!(p.counts().renamed, 1);
}

// ---------------------------------------------- deactivate / reactivate

#[test]
fn user_gone_from_full_read_is_deactivated_gone() {
    let p = full_default(
        &snap(vec![user("u1", "alice")]),
        &current(vec![stored("u1", "alice"), stored("u2", "bob")]),
    );
    assert_eq!(deactivations(&p), [("u2", DeactivationReason::Gone)]);
    assert_eq!(p.counts().deactivated, 1);
}

#[test]
fn user_disabled_in_source_is_deactivated_disabled() {
    let mut u = user("u1", "alice");
    u.enabled = false;
    let p = full_default(&snap(vec![u]), &current(vec![stored("u1", "alice")]));
    assert_eq!(deactivations(&p), [("u1", DeactivationReason::Disabled)]);
}

#[test]
fn user_out_of_filter_is_deactivated_out_of_scope() {
    let mut u = user("u1", "alice");
    u.in_filter = false;
    let p = full_default(&snap(vec![u]), &current(vec![stored("u1", "alice")]));
    assert_eq!(deactivations(&p), [("u1", DeactivationReason::OutOfScope)]);
}

#[test]
fn user_back_in_source_is_reactivated() {
    let p = full_default(
        &snap(vec![user("u1", "alice")]),
        &current(vec![inactive("u1", "alice", "gone", false)]),
    );
    assert_eq!(actions(&p), [("u1", "reactivate")]);
    assert_eq!(p.counts().reactivated, 1);
}

#[test]
fn manually_deactivated_user_still_in_source_is_reactivated() {
    let p = full_default(
        &snap(vec![user("u1", "alice")]),
        &current(vec![inactive("u1", "alice", "manual", true)]),
    );
    assert_eq!(actions(&p), [("u1", "reactivate")]);
}

// ------------------------------------------------------------ incremental

#[test]
fn incremental_leaves_unread_users_alone() {
    let s = snap(vec![user_with("u1", "alice", "email", "new@x.org")]);
    let c = current(vec![
        stored_with("u1", "alice", "email", "old@x.org"),
        stored("u2", "bob"),
    ]);
    let p = plan(&s, &c, &Policy::default(), RunMode::Incremental);
    assert_eq!(actions(&p), [("u1", "update")]);
}

#[test]
fn incremental_removed_users_are_deactivated_gone() {
    let s = Snapshot {
        removed_users: vec!["u2".into()],
        ..snap(Vec::new())
    };
    let c = current(vec![stored("u1", "alice"), stored("u2", "bob")]);
    let p = plan(&s, &c, &Policy::default(), RunMode::Incremental);
    assert_eq!(deactivations(&p), [("u2", DeactivationReason::Gone)]);
    assert_eq!(p.users.len(), 1);
}

// ------------------------------------------------------------------ safety

#[test]
fn partial_read_deactivates_nobody_and_warns() {
    let s = Snapshot {
        complete: false,
        ..snap(vec![user("u1", "alice")])
    };
    let p = full_default(
        &s,
        &current(vec![stored("u1", "alice"), stored("u2", "bob")]),
    );
    assert!(deactivations(&p).is_empty(), "{:?}", p.users);
    assert!(has_warning(&p, "partial read"), "{:?}", p.warnings);
}

#[test]
fn empty_read_deactivates_nobody_and_warns() {
    let p = full_default(
        &snap(Vec::new()),
        &current(vec![stored("u1", "alice"), stored("u2", "bob")]),
    );
    assert!(p.users.is_empty(), "{:?}", p.users);
    assert!(has_warning(&p, "no users"), "{:?}", p.warnings);
}

#[test]
fn rejected_records_block_deactivations() {
    let s = Snapshot {
        errors: vec![RecordError {
            record: "line 17".into(),
            field: None,
            message: "unterminated quote".into(),
        }],
        ..snap(vec![user("u1", "alice")])
    };
    let p = full_default(
        &s,
        &current(vec![stored("u1", "alice"), stored("u2", "bob")]),
    );
    assert!(deactivations(&p).is_empty(), "{:?}", p.users);
    assert!(has_warning(&p, "could not be read"), "{:?}", p.warnings);
    assert_eq!(p.errors.len(), 1);
}

#[test]
fn unreadable_user_is_not_deactivated() {
    let s = Snapshot {
        errors: vec![RecordError {
            record: "u2".into(),
            field: Some("email".into()),
            message: "mapper failed".into(),
        }],
        unreadable_user_ids: HashSet::from(["u2".to_string()]),
        ..snap(vec![user("u1", "alice")])
    };
    let c = current(vec![
        stored("u1", "alice"),
        stored("u2", "bob"),
        stored("u3", "carol"),
    ]);
    let p = full_default(&s, &c);
    // u3 really left; u2 exists but could not be mapped.
    assert_eq!(deactivations(&p), [("u3", DeactivationReason::Gone)]);
}

#[test]
fn unreadable_user_keeps_license_and_roles() {
    let s = Snapshot {
        errors: vec![RecordError {
            record: "u2".into(),
            field: None,
            message: "mapper failed".into(),
        }],
        unreadable_user_ids: HashSet::from(["u2".to_string()]),
        // u2's membership came from its own (unreadable) record.
        groups: vec![group("g1", "Admins", &[dn("u1")])],
        ..snap(vec![user("u1", "alice")])
    };
    let mut c = current(vec![stored("u1", "alice"), stored("u2", "bob")]);
    c.groups = vec![stored_group("g1", "Admins")];
    c.memberships = pairs(&[("g1", "u1"), ("g1", "u2")]);
    c.licensed = HashSet::from(["u1".to_string(), "u2".to_string()]);
    c.roles = pairs(&[("u1", "admin"), ("u2", "admin")]);
    let mut policy = license_policy(10, LicensePolicy::Stop);
    policy.roles = vec![RoleRule {
        group: Some("Admins".into()),
        pattern: None,
        role: "admin".into(),
        kind: "global".into(),
    }];
    let p = full(&s, &c, &policy);
    assert!(p.users.is_empty(), "{:?}", p.users);
    assert!(p.licenses.is_empty(), "{:?}", p.licenses);
    assert!(p.roles.is_empty(), "{:?}", p.roles);
    assert!(p.memberships.is_empty(), "{:?}", p.memberships);
}

#[test]
fn partial_read_keeps_unseen_users_licensed() {
    let s = Snapshot {
        complete: false,
        ..snap(vec![user("u1", "alice")])
    };
    let mut c = current(vec![stored("u1", "alice"), stored("u2", "bob")]);
    c.licensed = HashSet::from(["u1".to_string(), "u2".to_string()]);
    let p = full(&s, &c, &license_policy(2, LicensePolicy::Stop));
    assert!(p.stop.is_none(), "{:?}", p.stop);
    assert!(p.licenses.is_empty(), "{:?}", p.licenses);
}

#[test]
fn read_that_cannot_prove_departures_keeps_unseen_users_memberships_and_roles() {
    // Memberships come from each user's own record (memberOf), so a user
    // the read missed seems to have left the group it did read.
    let mut c = current(vec![stored("u1", "alice"), stored("u2", "bob")]);
    c.groups = vec![stored_group("g1", "Admins")];
    c.memberships = pairs(&[("g1", "u1"), ("g1", "u2")]);
    c.roles = pairs(&[("u1", "admin"), ("u2", "admin")]);
    let policy = Policy {
        roles: vec![RoleRule {
            group: Some("Admins".into()),
            pattern: None,
            role: "admin".into(),
            kind: "functional".into(),
        }],
        ..Policy::default()
    };
    let mut alice = user("u1", "alice");
    alice.member_of = vec![group_dn("g1")];
    let partial = Snapshot {
        complete: false,
        ..snap_groups(vec![alice], vec![group("g1", "Admins", &[])])
    };
    let empty = snap_groups(Vec::new(), vec![group("g1", "Admins", &[])]);
    for s in [partial, empty] {
        let p = full(&s, &c, &policy);
        assert!(p.memberships.is_empty(), "{:?}", p.memberships);
        assert!(p.roles.is_empty(), "{:?}", p.roles);
        assert!(p.users.is_empty(), "{:?}", p.users);
    }
}

// --------------------------------------------------------------- threshold

#[test]
fn threshold_count_stops_run() {
    let c = current(vec![
        stored("u1", "alice"),
        stored("u2", "bob"),
        stored("u3", "carol"),
        stored("u4", "dave"),
    ]);
    let mut policy = Policy::default();
    policy.threshold.count = Some(2);
    let p = full(&snap(vec![user("u1", "alice")]), &c, &policy);
    assert!(
        matches!(
            p.stop,
            Some(Stop::Threshold {
                deactivations: 3,
                ..
            })
        ),
        "{:?}",
        p.stop
    );
    let msg = p.stop.as_ref().unwrap().message("hr");
    assert!(msg.contains("--confirm-deletions"), "{msg}");
}

#[test]
fn confirm_deletions_lets_deactivations_stand() {
    let c = current(vec![
        stored("u1", "alice"),
        stored("u2", "bob"),
        stored("u3", "carol"),
        stored("u4", "dave"),
    ]);
    let mut policy = Policy::default();
    policy.threshold.count = Some(2);
    policy.confirm_deletions = true;
    let p = full(&snap(vec![user("u1", "alice")]), &c, &policy);
    assert!(p.stop.is_none(), "{:?}", p.stop);
    assert_eq!(p.counts().deactivated, 3);
}

#[test]
fn threshold_percent_stops_run() {
    let c = current(vec![
        stored("u1", "alice"),
        stored("u2", "bob"),
        stored("u3", "carol"),
        stored("u4", "dave"),
    ]);
    let policy = Policy {
        threshold: Threshold {
            count: None,
            percent: Some(25.0),
        },
        ..Policy::default()
    };
    // 1 of 4 = 25%: at the limit, allowed.
    let users = vec![user("u1", "alice"), user("u2", "bob"), user("u3", "carol")];
    let p = full(&snap(users), &c, &policy);
    assert!(p.stop.is_none(), "{:?}", p.stop);
    assert_eq!(p.counts().deactivated, 1);
    // 2 of 4 = 50%: over.
    let p = full(
        &snap(vec![user("u1", "alice"), user("u2", "bob")]),
        &c,
        &policy,
    );
    assert!(
        matches!(
            p.stop,
            Some(Stop::Threshold {
                deactivations: 2,
                ..
            })
        ),
        "{:?}",
        p.stop
    );
}

// --------------------------------------------------------------- conflicts

#[test]
fn local_user_with_same_username_is_conflict() {
    let mut c = Current::default();
    c.usernames
        .insert("alice".into(), UsernameOwner::Local { db_id: 42 });
    let p = full_default(&snap(vec![user("u1", "alice")]), &c);
    assert!(p.users.is_empty(), "{:?}", p.users);
    assert_eq!(p.conflicts.len(), 1);
    assert_eq!(p.conflicts[0].source_id, "u1");
    assert!(p.conflicts[0].message.contains("adopt_by_username"));
    assert_eq!(p.counts().conflicts, 1);
}

#[test]
fn adopt_by_username_links_local_user() {
    let mut c = Current::default();
    c.usernames
        .insert("alice".into(), UsernameOwner::Local { db_id: 42 });
    let policy = Policy {
        adopt_by_username: true,
        ..Policy::default()
    };
    let p = full(&snap(vec![user("u1", "alice")]), &c, &policy);
    assert!(p.conflicts.is_empty(), "{:?}", p.conflicts);
    assert!(
        matches!(
            &p.users[..],
            [UserChange::Adopt { db_id: 42, source_id, .. }] if source_id == "u1"
        ),
        "{:?}",
        p.users
    );
    assert_eq!(p.counts().adopted, 1);
}

#[test]
fn username_held_by_other_job_is_conflict() {
    let mut c = Current::default();
    c.usernames.insert(
        "alice".into(),
        UsernameOwner::OtherJob {
            job: "contractors".into(),
        },
    );
    let p = full_default(&snap(vec![user("u1", "alice")]), &c);
    assert!(p.users.is_empty(), "{:?}", p.users);
    assert_eq!(p.conflicts.len(), 1);
    assert!(p.conflicts[0].message.contains("contractors"));
}

#[test]
fn swapping_usernames_is_not_conflict() {
    let p = full_default(
        &snap(vec![user("u1", "bob"), user("u2", "alice")]),
        &current(vec![stored("u1", "alice"), stored("u2", "bob")]),
    );
    assert!(p.conflicts.is_empty(), "{:?}", p.conflicts);
    assert_eq!(actions(&p), [("u1", "rename"), ("u2", "rename")]);
}

// ---------------------------------------------------------------- required

#[test]
fn missing_required_field_is_record_error_and_run_goes_on() {
    let policy = Policy {
        required: vec!["email".into()],
        ..Policy::default()
    };
    let mut changed = user("u1", "alice"); // no email, new display name
    changed.fields.display_name = Some("Alice".into());
    let s = snap(vec![changed, user_with("u2", "bob", "email", "b@x.org")]);
    let c = current(vec![stored_with("u1", "alice", "email", "a@x.org")]);
    let p = full(&s, &c, &policy);
    assert_eq!(p.errors.len(), 1);
    assert_eq!(p.errors[0].record, "u1");
    assert_eq!(p.errors[0].field.as_deref(), Some("email"));
    assert!(p.errors[0].message.contains("`email`"));
    // No change for u1 (not even a deactivation), u2 still created.
    assert_eq!(actions(&p), [("u2", "create")]);
}

#[test]
fn empty_username_is_record_error() {
    let p = full_default(
        &snap(vec![user("u1", ""), user("u2", "bob")]),
        &Current::default(),
    );
    assert_eq!(p.errors.len(), 1);
    assert_eq!(p.errors[0].record, "u1");
    assert_eq!(p.errors[0].field.as_deref(), Some("username"));
    assert_eq!(created(&p), ["u2"]);
}

// ----------------------------------------------------------------- lookups

#[test]
fn existing_lookup_values_are_set() {
    let mut u = user_with("u1", "alice", "job_title", "Engineer");
    u.fields.company = Some("Acme".into());
    let c = Current {
        job_titles: HashSet::from(["Engineer".to_string()]),
        companies: HashSet::from(["Acme".to_string()]),
        ..Current::default()
    };
    let p = full_default(&snap(vec![u]), &c);
    let f = created_fields(&p, "u1");
    assert_eq!(f.job_title.as_deref(), Some("Engineer"));
    assert_eq!(f.company.as_deref(), Some("Acme"));
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
}

#[test]
fn missing_lookup_values_are_left_alone_with_warning() {
    let mut c = current(vec![stored_with("u1", "alice", "job_title", "Engineer")]);
    c.job_titles = HashSet::from(["Engineer".to_string()]);
    let mut new = user_with("u2", "bob", "company", "Initech");
    new.fields.job_title = Some("Engineer".into());
    let s = snap(vec![user_with("u1", "alice", "job_title", "Wizard"), new]);
    let p = full_default(&s, &c);
    // u1 keeps "Engineer": no update.
    assert_eq!(actions(&p), [("u2", "create")]);
    let f = created_fields(&p, "u2");
    assert_eq!(f.company, None);
    assert_eq!(f.job_title.as_deref(), Some("Engineer"));
    assert!(has_warning(&p, "\"Wizard\""), "{:?}", p.warnings);
    assert!(has_warning(&p, "\"Initech\""), "{:?}", p.warnings);
}

#[test]
fn manager_dn_resolves_to_source_id() {
    let mut boss = user("u1", "boss");
    boss.ref_key = "cn=The Boss,ou=people,dc=example,dc=org".into();
    let worker = user_with(
        "u2",
        "worker",
        "manager",
        "cn=The Boss,ou=people,dc=example,dc=org",
    );
    let p = full_default(&snap(vec![worker, boss]), &Current::default());
    assert_eq!(created_fields(&p, "u2").manager.as_deref(), Some("u1"));
}

// ------------------------------------------------------------------ groups

#[test]
fn new_group_is_created_with_members() {
    let s = snap_groups(
        vec![user("u1", "alice")],
        vec![group("g1", "Staff", &[dn("u1")])],
    );
    let p = full_default(&s, &Current::default());
    assert_eq!(group_actions(&p), [("g1", "create")]);
    assert_eq!(p.groups[0].name(), "Staff");
    assert_eq!(memberships(&p), [("g1", "u1", true)]);
    let counts = p.counts();
    assert_eq!(
        (
            counts.created,
            counts.groups_created,
            counts.memberships_added
        ),
        (1, 1, 1)
    );
}

#[test]
fn group_rename_keeps_source_id() {
    let s = snap_groups(Vec::new(), vec![group("g1", "Engineering", &[])]);
    let c = Current {
        groups: vec![stored_group("g1", "Dev")],
        ..Current::default()
    };
    let p = full_default(&s, &c);
    assert_eq!(group_actions(&p), [("g1", "rename")]);
    assert_eq!(p.groups[0].name(), "Engineering");
}

#[test]
fn group_gone_in_full_run_is_deactivated() {
    let s = snap_groups(vec![user("u1", "alice")], vec![group("g1", "Staff", &[])]);
    let mut c = current(vec![stored("u1", "alice")]);
    c.groups = vec![stored_group("g1", "Staff"), stored_group("g2", "Old")];
    let p = full_default(&s, &c);
    assert_eq!(group_actions(&p), [("g2", "deactivate")]);
    assert_eq!(p.counts().groups_deactivated, 1);
}

#[test]
fn membership_removed_when_user_leaves_group() {
    let s = snap_groups(
        vec![user("u1", "alice"), user("u2", "bob")],
        vec![group("g1", "Staff", &[dn("u1")])],
    );
    let mut c = current(vec![stored("u1", "alice"), stored("u2", "bob")]);
    c.groups = vec![stored_group("g1", "Staff")];
    c.memberships = pairs(&[("g1", "u1"), ("g1", "u2")]);
    let p = full_default(&s, &c);
    assert_eq!(memberships(&p), [("g1", "u2", false)]);
    assert_eq!(p.memberships[0].username, "bob");
}

#[test]
fn nested_group_members_are_effective_members_of_parent() {
    let s = snap_groups(
        vec![user("u1", "alice")],
        vec![
            group("parent", "All Staff", &[group_dn("child")]),
            group("child", "Engineering", &[dn("u1")]),
        ],
    );
    let p = full_default(&s, &Current::default());
    assert_eq!(
        memberships(&p),
        [("child", "u1", true), ("parent", "u1", true)]
    );
}

#[test]
fn nested_group_via_member_of_is_resolved() {
    let mut child = group("child", "Engineering", &[]);
    child.member_of = vec![group_dn("parent")];
    let mut u = user("u1", "alice");
    u.member_of = vec!["child".into()];
    let s = snap_groups(vec![u], vec![group("parent", "All Staff", &[]), child]);
    let p = full_default(&s, &Current::default());
    assert_eq!(
        memberships(&p),
        [("child", "u1", true), ("parent", "u1", true)]
    );
}

#[test]
fn group_cycle_terminates_with_members_of_both() {
    let mut a = group("ga", "A", &[group_dn("gb")]);
    a.members.push(dn("u1"));
    let mut b = group("gb", "B", &[group_dn("ga")]);
    b.members.push(dn("u2"));
    let s = snap_groups(vec![user("u1", "alice"), user("u2", "bob")], vec![a, b]);
    let p = full_default(&s, &Current::default());
    assert_eq!(
        memberships(&p),
        [
            ("ga", "u1", true),
            ("ga", "u2", true),
            ("gb", "u1", true),
            ("gb", "u2", true)
        ]
    );
}

#[test]
fn group_selection_by_names() {
    let s = snap_groups(
        Vec::new(),
        vec![
            group("g1", "Staff", &[]),
            group("g2", "Contractors", &[]),
            group("g3", "Admins", &[]),
        ],
    );
    let policy = Policy {
        groups: selected(&["Staff", "Admins"], None),
        ..Policy::default()
    };
    let p = full(&s, &Current::default(), &policy);
    assert_eq!(group_actions(&p), [("g1", "create"), ("g3", "create")]);
}

#[test]
fn group_selection_by_pattern() {
    let s = snap_groups(
        Vec::new(),
        vec![
            group("g1", "eng-backend", &[]),
            group("g2", "sales", &[]),
            group("g3", "eng-frontend", &[]),
        ],
    );
    let policy = Policy {
        groups: selected(&[], Some("^eng-")),
        ..Policy::default()
    };
    let p = full(&s, &Current::default(), &policy);
    assert_eq!(group_actions(&p), [("g1", "create"), ("g3", "create")]);
}

// ------------------------------------------------------------- group scope

fn scoped(names: &[&str]) -> Policy {
    Policy {
        scope_by_groups: true,
        groups: selected(names, None),
        ..Policy::default()
    }
}

#[test]
fn group_scope_creates_only_members() {
    let s = snap_groups(
        vec![user("u1", "alice"), user("u2", "bob"), user("u3", "carol")],
        vec![
            group("g1", "Staff", &[dn("u1")]),
            group("g2", "Other", &[dn("u3")]),
        ],
    );
    let p = full(&s, &Current::default(), &scoped(&["Staff"]));
    assert_eq!(created(&p), ["u1"]);
}

#[test]
fn group_scope_deactivates_user_who_left_group() {
    let s = snap_groups(
        vec![user("u1", "alice"), user("u2", "bob")],
        vec![group("g1", "Staff", &[dn("u1")])],
    );
    let mut c = current(vec![stored("u1", "alice"), stored("u2", "bob")]);
    c.groups = vec![stored_group("g1", "Staff")];
    c.memberships = pairs(&[("g1", "u1"), ("g1", "u2")]);
    let p = full(&s, &c, &scoped(&["Staff"]));
    assert_eq!(deactivations(&p), [("u2", DeactivationReason::OutOfScope)]);
    assert_eq!(memberships(&p), [("g1", "u2", false)]);
}

#[test]
fn group_scope_creates_user_who_joined() {
    let mut joiner = user("u2", "bob");
    joiner.member_of = vec![group_dn("g1")];
    let s = snap_groups(
        vec![user("u1", "alice"), joiner],
        vec![group("g1", "Staff", &[dn("u1")])],
    );
    let mut c = current(vec![stored("u1", "alice")]);
    c.groups = vec![stored_group("g1", "Staff")];
    c.memberships = pairs(&[("g1", "u1")]);
    let p = full(&s, &c, &scoped(&["Staff"]));
    assert_eq!(actions(&p), [("u2", "create")]);
    assert_eq!(memberships(&p), [("g1", "u2", true)]);
}

#[test]
fn group_scope_with_no_selection_stops() {
    let s = snap_groups(
        vec![user("u1", "alice")],
        vec![group("g1", "Staff", &[dn("u1")])],
    );
    let policy = Policy {
        scope_by_groups: true,
        groups: GroupSelection::None,
        ..Policy::default()
    };
    let p = full(&s, &Current::default(), &policy);
    assert_eq!(p.stop, Some(Stop::NoGroupSelected));
    assert!(p.users.is_empty() && p.groups.is_empty() && p.memberships.is_empty());
}

#[test]
fn group_scope_with_empty_selection_stops() {
    let s = snap_groups(
        vec![user("u1", "alice")],
        vec![group("g1", "Staff", &[dn("u1")])],
    );
    let c = current(vec![stored("u2", "bob")]);
    let p = full(&s, &c, &scoped(&[]));
    assert_eq!(p.stop, Some(Stop::NoGroupSelected));
    assert!(p.users.is_empty() && p.groups.is_empty() && p.memberships.is_empty());
}

// ------------------------------------------------------------------- roles

fn admin_rule() -> Policy {
    Policy {
        roles: vec![RoleRule {
            group: Some("Admins".into()),
            pattern: None,
            role: "admin".into(),
            kind: "global".into(),
        }],
        ..Policy::default()
    }
}

#[test]
fn role_granted_to_active_group_members() {
    let mut disabled = user("u3", "carol");
    disabled.enabled = false;
    let s = snap_groups(
        vec![user("u1", "alice"), user("u2", "bob"), disabled],
        vec![group("g1", "Admins", &[dn("u1"), dn("u3")])],
    );
    let p = full(&s, &Current::default(), &admin_rule());
    let roles: Vec<_> = p
        .roles
        .iter()
        .map(|r| {
            (
                r.user.as_str(),
                r.role.as_str(),
                r.role_kind.as_str(),
                r.grant,
            )
        })
        .collect();
    assert_eq!(roles, [("u1", "admin", "global", true)]);
    assert_eq!(p.counts().roles_granted, 1);
}

#[test]
fn role_revoked_when_holder_leaves_group() {
    let s = snap_groups(
        vec![user("u1", "alice"), user("u2", "bob")],
        vec![group("g1", "Admins", &[dn("u1")])],
    );
    let mut c = current(vec![stored("u1", "alice"), stored("u2", "bob")]);
    c.groups = vec![stored_group("g1", "Admins")];
    c.memberships = pairs(&[("g1", "u1"), ("g1", "u2")]);
    c.roles = pairs(&[("u1", "admin"), ("u2", "admin")]);
    let p = full(&s, &c, &admin_rule());
    let roles: Vec<_> = p
        .roles
        .iter()
        .map(|r| (r.user.as_str(), r.username.as_str(), r.grant))
        .collect();
    assert_eq!(roles, [("u2", "bob", false)]);
    assert_eq!(p.counts().roles_revoked, 1);
}

// --------------------------------------------------------------- licensing

#[test]
fn active_users_get_license() {
    let s = snap(vec![user("u1", "alice"), user("u2", "bob")]);
    let mut c = current(vec![stored("u1", "alice")]);
    c.licensed = HashSet::from(["u1".to_string()]);
    let p = full(&s, &c, &license_policy(5, LicensePolicy::Stop));
    assert_eq!(licenses(&p), [("u2", true)]);
    assert_eq!(p.licenses[0].kind, "pro");
}

#[test]
fn deactivated_user_frees_license() {
    let s = snap(vec![user("u1", "alice")]);
    let mut c = current(vec![stored("u1", "alice"), stored("u2", "bob")]);
    c.licensed = HashSet::from(["u1".to_string(), "u2".to_string()]);
    let p = full(&s, &c, &license_policy(5, LicensePolicy::Stop));
    assert_eq!(deactivations(&p), [("u2", DeactivationReason::Gone)]);
    assert_eq!(licenses(&p), [("u2", false)]);
    assert_eq!(p.counts().licenses_freed, 1);
}

#[test]
fn license_shortage_stops_run() {
    let s = snap(vec![
        user("u1", "alice"),
        user("u2", "bob"),
        user("u3", "carol"),
    ]);
    let c = Current {
        seats_used_elsewhere: 1,
        ..Current::default()
    };
    let p = full(&s, &c, &license_policy(3, LicensePolicy::Stop));
    assert_eq!(
        p.stop,
        Some(Stop::License {
            kind: "pro".into(),
            needed: 3,
            available: 2
        })
    );
    assert!(p.licenses.is_empty(), "{:?}", p.licenses);
}

#[test]
fn license_shortage_sync_without_license_grants_what_fits() {
    let s = snap(vec![
        user("u3", "carol"),
        user("u1", "alice"),
        user("u2", "bob"),
    ]);
    let p = full(
        &s,
        &Current::default(),
        &license_policy(2, LicensePolicy::SyncWithoutLicense),
    );
    assert!(p.stop.is_none(), "{:?}", p.stop);
    assert_eq!(created(&p).len(), 3);
    assert_eq!(licenses(&p), [("u1", true), ("u2", true)]);
    assert!(has_warning(&p, "license shortage"), "{:?}", p.warnings);
}

#[test]
fn seat_of_untouched_user_still_counts() {
    // u1 keeps its seat (its record has an error, so it is left alone);
    // two newcomers would need 3 seats out of 2.
    let policy = Policy {
        required: vec!["email".into()],
        ..license_policy(2, LicensePolicy::Stop)
    };
    let s = snap(vec![
        user("u1", "alice"),
        user_with("u2", "bob", "email", "b@x.org"),
        user_with("u3", "carol", "email", "c@x.org"),
    ]);
    let mut c = current(vec![stored_with("u1", "alice", "email", "a@x.org")]);
    c.licensed = HashSet::from(["u1".to_string()]);
    let p = full(&s, &c, &policy);
    assert_eq!(p.errors.len(), 1);
    assert_eq!(
        p.stop,
        Some(Stop::License {
            kind: "pro".into(),
            needed: 3,
            available: 2
        })
    );
}

// ----------------------------------------------------------------- unicode

#[test]
fn unicode_survives_unchanged() {
    let mut u = user("ü-1", "jürgen.müller");
    u.fields.display_name = Some("Jürgen Müller 李雷 🚀".into());
    u.fields.family_name = Some("Ñúñez-Ørsted".into());
    u.fields.custom = vec![("bürö".into(), "Zürich ☕".into())];
    let s = snap_groups(
        vec![u.clone()],
        vec![group("g-ß", "Straße & Café", &[dn("ü-1")])],
    );
    let p = full_default(&s, &Current::default());
    assert_eq!(created_fields(&p, "ü-1"), &u.fields);
    match &p.users[0] {
        UserChange::Create { custom_json, .. } => {
            let custom: std::collections::BTreeMap<String, String> =
                serde_json::from_str(custom_json.as_deref().unwrap()).unwrap();
            assert_eq!(custom["bürö"], "Zürich ☕");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(p.groups[0].name(), "Straße & Café");
    assert_eq!(p.memberships[0].username, "jürgen.müller");

    // Stored as-is, it reads back as a no-op.
    let mut st = stored("ü-1", "jürgen.müller");
    st.fields = u.fields.clone();
    st.custom_json = u.fields.custom_json();
    let p = full_default(&snap(vec![u]), &current(vec![st]));
    assert!(p.is_noop(), "{p:?}");
}
