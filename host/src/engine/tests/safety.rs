//! Engine tests: safety, threshold.

use super::*;

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
    c.memberships = stored_memberships(&c, &[("g1", "u1"), ("g1", "u2")]);
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
    c.memberships = stored_memberships(&c, &[("g1", "u1"), ("g1", "u2")]);
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

// ------------------------------------------- failed reads are not successes

fn rejected(n: usize) -> Vec<RecordError> {
    (0..n)
        .map(|i| RecordError {
            record: format!("r{i}"),
            field: Some("username".into()),
            message: "none of uid has a value".into(),
        })
        .collect()
}

#[test]
fn empty_read_is_an_empty_read_stop_not_a_success() {
    let p = full_default(
        &snap(Vec::new()),
        &current(vec![stored("u1", "alice"), stored("u2", "bob")]),
    );
    assert_eq!(p.stop, Some(Stop::EmptyRead { active: 2 }));
    assert_eq!(p.stop.unwrap().outcome(), RunOutcome::EmptyRead);
}

#[test]
fn an_empty_first_read_is_not_an_empty_read_stop() {
    let p = full_default(&snap(Vec::new()), &current(Vec::new()));
    assert_eq!(p.stop, None);
}

#[test]
fn every_record_rejected_stops_before_anything_is_applied() {
    let s = Snapshot {
        errors: rejected(3),
        groups: vec![group("g1", "Staff", &[])],
        ..snap(Vec::new())
    };
    let p = full_default(&s, &current(Vec::new()));
    assert!(
        matches!(
            p.stop,
            Some(Stop::Rejected {
                rejected: 3,
                of: 3,
                ..
            })
        ),
        "{:?}",
        p.stop
    );
    assert_eq!(
        p.stop.as_ref().unwrap().outcome(),
        RunOutcome::StoppedByRejected
    );
    assert!(p
        .stop
        .unwrap()
        .message("people")
        .contains("max_rejected_percent"));
}

#[test]
fn rejected_share_is_measured_against_the_directory_and_the_limit_is_configurable() {
    let users: Vec<_> = (0..95)
        .map(|i| user(&format!("u{i}"), &format!("n{i}")))
        .collect();
    let stored: Vec<_> = (0..95)
        .map(|i| stored(&format!("u{i}"), &format!("n{i}")))
        .collect();
    // 5 of 100 rejected: under the default 10%.
    let s = Snapshot {
        errors: rejected(5),
        ..snap(users.clone())
    };
    assert_eq!(full_default(&s, &current(stored.clone())).stop, None);
    // 15 of 110: over it.
    let s = Snapshot {
        errors: rejected(15),
        ..snap(users)
    };
    assert!(matches!(
        full_default(&s, &current(stored.clone())).stop,
        Some(Stop::Rejected {
            rejected: 15,
            of: 110,
            ..
        })
    ));
    let lenient = Policy {
        max_rejected_percent: 20.0,
        ..Policy::default()
    };
    assert_eq!(
        plan(&s, &current(stored.clone()), &lenient, RunMode::Full).stop,
        None
    );
    // An incremental read of one broken change in a 95-user directory.
    let one = Snapshot {
        errors: rejected(1),
        ..snap(Vec::new())
    };
    assert_eq!(
        plan(
            &one,
            &current(stored),
            &Policy::default(),
            RunMode::Incremental
        )
        .stop,
        None
    );
}

/// The store of a job with every kind of row: active and deactivated
/// users, a group with members, roles.
fn busy_store() -> Current {
    let mut c = current(vec![
        stored("u1", "alice"),
        stored("u2", "bob"),
        inactive("u3", "carol", "gone", false),
        inactive("u4", "dave", "disabled", true),
    ]);
    c.groups = vec![stored_group("g1", "Admins"), stored_group("g2", "Staff")];
    c.memberships = stored_memberships(&c, &[("g1", "u1"), ("g2", "u1"), ("g2", "u2")]);
    c.roles = pairs(&[("u1", "admin")]);
    c
}

#[test]
fn an_incremental_read_that_reports_nothing_plans_nothing_whatever_the_store_holds() {
    // What lets such a run skip loading the job's rows (`needs_current`).
    let s = Snapshot {
        complete: true,
        ..Snapshot::default()
    };
    let role_rule = RoleRule {
        group: Some("Admins".into()),
        pattern: None,
        role: "admin".into(),
        kind: "global".into(),
    };
    let policies = [
        Policy::default(),
        Policy {
            scope_by_groups: true,
            groups: selected(&["Staff"], None),
            required: vec!["email".into()],
            ..Policy::default()
        },
        Policy {
            roles: vec![role_rule.clone()],
            ..Policy::default()
        },
    ];
    for policy in &policies {
        let mut busy = busy_store();
        if policy.roles.is_empty() {
            busy.roles.clear();
        }
        for c in [busy, Current::default()] {
            let p = plan(&s, &c, policy, RunMode::Incremental);
            assert!(
                p.users.is_empty()
                    && p.groups.is_empty()
                    && p.memberships.is_empty()
                    && p.roles.is_empty()
                    && p.licenses.is_empty()
                    && p.stop.is_none(),
                "{p:?}"
            );
        }
    }
    assert!(!needs_current(&s, &policies[0], RunMode::Incremental));
    assert!(!needs_current(&s, &policies[1], RunMode::Incremental));
    // A role rule changed since the roles were granted moves them in any
    // run, and a license rule grants a freed seat to a waiting user.
    assert!(needs_current(&s, &policies[2], RunMode::Incremental));
    let moved = Policy {
        roles: vec![RoleRule {
            group: Some("Staff".into()),
            ..role_rule
        }],
        ..Policy::default()
    };
    let p = plan(&s, &busy_store(), &moved, RunMode::Incremental);
    assert_eq!(p.counts().roles_granted, 1, "{:?}", p.roles);
    // Roles held with no rule left go in any run: the caller asks the
    // store whether the job holds any before it skips loading.
    let p = plan(&s, &busy_store(), &Policy::default(), RunMode::Incremental);
    assert_eq!(p.counts().roles_revoked, 1, "{:?}", p.roles);
    let licensed = license_policy(5, LicensePolicy::Stop);
    assert!(needs_current(&s, &licensed, RunMode::Incremental));
    let p = plan(&s, &busy_store(), &licensed, RunMode::Incremental);
    assert_eq!(licenses(&p), [("u1", true), ("u2", true)]);
    // A full read always needs the store: what is missing from it left.
    assert!(needs_current(&s, &Policy::default(), RunMode::Full));
    let mut removed = s.clone();
    removed.removed_users = vec!["u2".into()];
    assert!(!removed.reports_nothing());
}
