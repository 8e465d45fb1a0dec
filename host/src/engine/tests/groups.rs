//! Engine tests: groups, group scope, roles.

use super::*;

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
fn group_the_source_removed_in_an_incremental_run_is_deactivated() {
    let s = Snapshot {
        removed_groups: vec!["g2".into()],
        ..snap_groups(Vec::new(), Vec::new())
    };
    let mut c = current(vec![stored("u1", "alice")]);
    c.groups = vec![stored_group("g1", "Staff"), stored_group("g2", "Old")];
    let p = plan(&s, &c, &Policy::default(), RunMode::Incremental);
    assert_eq!(group_actions(&p), [("g2", "deactivate")]);
}

#[test]
fn membership_removed_when_user_leaves_group() {
    let s = snap_groups(
        vec![user("u1", "alice"), user("u2", "bob")],
        vec![group("g1", "Staff", &[dn("u1")])],
    );
    let mut c = current(vec![stored("u1", "alice"), stored("u2", "bob")]);
    c.groups = vec![stored_group("g1", "Staff")];
    c.memberships = stored_memberships(&c, &[("g1", "u1"), ("g1", "u2")]);
    let p = full_default(&s, &c);
    assert_eq!(memberships(&p), [("g1", "u2", false)]);
    assert_eq!(p.memberships[0].username(), "bob");
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
    c.memberships = stored_memberships(&c, &[("g1", "u1"), ("g1", "u2")]);
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
    c.memberships = stored_memberships(&c, &[("g1", "u1")]);
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
    c.memberships = stored_memberships(&c, &[("g1", "u1"), ("g1", "u2")]);
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

#[test]
fn an_incremental_run_keeps_roles_held_through_groups_it_did_not_read() {
    // The read names one changed user and one changed group: alice's role
    // comes through Admins, which did not change; bob left Ops.
    let mut policy = admin_rule();
    policy.roles.push(RoleRule {
        group: Some("Ops".into()),
        pattern: None,
        role: "operator".into(),
        kind: "global".into(),
    });
    let s = snap_groups(
        vec![user_with("u2", "bob", "email", "bob@example.org")],
        vec![group("g2", "Ops", &[])],
    );
    let mut c = current(vec![stored("u1", "alice"), stored("u2", "bob")]);
    c.groups = vec![stored_group("g1", "Admins"), stored_group("g2", "Ops")];
    c.memberships = stored_memberships(&c, &[("g1", "u1"), ("g1", "u2"), ("g2", "u2")]);
    c.roles = pairs(&[("u1", "admin"), ("u2", "admin"), ("u2", "operator")]);
    let p = plan(&s, &c, &policy, RunMode::Incremental);
    let roles: Vec<_> = p
        .roles
        .iter()
        .map(|r| (r.user.as_str(), r.role.as_str(), r.grant))
        .collect();
    assert_eq!(roles, [("u2", "operator", false)]);

    // Removed in the source, Admins grants nothing any more.
    let mut removed = s.clone();
    removed.removed_groups = vec!["g1".into()];
    let p = plan(&removed, &c, &policy, RunMode::Incremental);
    assert_eq!(p.counts().roles_revoked, 3, "{:?}", p.roles);
}

#[test]
fn group_scope_in_an_incremental_run_counts_the_groups_it_did_not_read() {
    // alice changed her email; Staff, which scopes her in, did not change.
    let mut policy = scoped(&["Staff"]);
    policy.required = Vec::new();
    let s = snap(vec![user_with("u1", "alice", "email", "alice@example.org")]);
    let mut c = current(vec![stored("u1", "alice"), stored("u2", "bob")]);
    c.groups = vec![stored_group("g2", "Staff")];
    c.memberships = stored_memberships(&c, &[("g2", "u1")]);
    let p = plan(&s, &c, &policy, RunMode::Incremental);
    assert!(deactivations(&p).is_empty(), "{:?}", p.users);
    assert_eq!(actions(&p), [("u1", "update")]);
}

#[test]
fn a_user_deleted_in_the_source_leaves_the_groups_an_incremental_read_did_not_send() {
    // bob was deleted; Staff and Ops did not change (refint took him out of
    // them unseen), Admins changed and no longer lists him.
    let mut s = snap_groups(Vec::new(), vec![group("g3", "Admins", &[dn("u1")])]);
    s.removed_users = vec!["u2".into()];
    let mut c = current(vec![stored("u1", "alice"), stored("u2", "bob")]);
    c.groups = vec![
        stored_group("g1", "Staff"),
        stored_group("g2", "Ops"),
        stored_group("g3", "Admins"),
    ];
    c.memberships = stored_memberships(
        &c,
        &[
            ("g1", "u1"),
            ("g1", "u2"),
            ("g2", "u2"),
            ("g3", "u1"),
            ("g3", "u2"),
        ],
    );
    let p = plan(&s, &c, &Policy::default(), RunMode::Incremental);
    let mut m = memberships(&p);
    m.sort();
    assert_eq!(
        m,
        [
            ("g1", "u2", false),
            ("g2", "u2", false),
            ("g3", "u2", false)
        ]
    );
    assert_eq!(deactivations(&p), [("u2", DeactivationReason::Gone)]);
}

#[test]
fn each_groups_changes_are_listed_by_user_id_however_they_are_sorted() {
    // Read as u3, u1, u2: the engine numbers users in read order, not by id.
    let users = vec![user("u3", "cy"), user("u1", "al"), user("u2", "bo")];
    let members = vec![dn("u3"), dn("u1"), dn("u2")];
    // One group: 3 changes for 3 users, sorted comparing ids. Two: 6
    // changes, more than the users, sorted by each user's place in id order.
    for n in [1, 2] {
        let groups = (0..n)
            .map(|g| group(&format!("g{g}"), &format!("G{g}"), &members))
            .collect();
        let p = full_default(&snap_groups(users.clone(), groups), &current(vec![]));
        for g in 0..n {
            let id = format!("g{g}");
            let listed: Vec<&str> = (p.memberships.iter())
                .filter(|m| m.group() == id)
                .map(|m| m.user())
                .collect();
            assert_eq!(listed, ["u1", "u2", "u3"], "{n} group(s)");
        }
    }
}
