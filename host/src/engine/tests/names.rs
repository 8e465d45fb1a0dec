//! Engine tests: names that move within a run, recycled usernames, and
//! users disabled on first sight.

use super::*;

/// The username each rename in the plan gives, by source id.
fn renames(p: &Plan) -> Vec<(&str, &str)> {
    let mut r: Vec<_> = p
        .users
        .iter()
        .filter(|u| u.action() == "rename")
        .map(|u| (u.source_id(), u.username()))
        .collect();
    r.sort();
    r
}

#[test]
fn a_cycle_of_renames_is_not_a_conflict() {
    let p = full_default(
        &snap(vec![user("u1", "b"), user("u2", "c"), user("u3", "a")]),
        &current(vec![
            stored("u1", "a"),
            stored("u2", "b"),
            stored("u3", "c"),
        ]),
    );
    assert!(p.conflicts.is_empty(), "{:?}", p.conflicts);
    assert_eq!(renames(&p), [("u1", "b"), ("u2", "c"), ("u3", "a")]);
}

#[test]
fn a_new_user_may_take_a_renamed_users_old_name() {
    let p = full_default(
        &snap(vec![user("u1", "lhart2"), user("u2", "lhart")]),
        &current(vec![stored("u1", "lhart")]),
    );
    assert!(p.conflicts.is_empty(), "{:?}", p.conflicts);
    assert_eq!(actions(&p), [("u1", "rename"), ("u2", "create")]);
}

/// `lhart` left the source and was deactivated; a new hire `lhart` arrives.
fn recycled() -> (Snapshot, Current) {
    (
        snap(vec![user("u1", "ada"), user("u9", "lhart")]),
        current(vec![
            stored("u1", "ada"),
            inactive("u2", "lhart", "gone", false),
        ]),
    )
}

#[test]
fn a_username_recycled_from_a_user_who_left_is_released() {
    let (s, c) = recycled();
    let p = full_default(&s, &c);
    assert!(p.conflicts.is_empty(), "{:?}", p.conflicts);
    assert_eq!(actions(&p), [("u2", "rename"), ("u9", "create")]);
    let released = renames(&p)[0].1;
    assert!(
        released.starts_with("lhart~") && released.len() == 14,
        "{released}"
    );
    assert_eq!(created_fields(&p, "u9").username, "lhart");
    assert!(has_warning(&p, "released"), "{:?}", p.warnings);
    // The suffix depends on the leaver's id alone: every run agrees.
    assert_eq!(renames(&full_default(&s, &c)), renames(&p));
}

#[test]
fn recycled_usernames_conflict_keeps_the_name_with_the_user_who_left() {
    let (s, c) = recycled();
    let policy = Policy {
        release_recycled: false,
        ..Policy::default()
    };
    let p = full(&s, &c, &policy);
    assert_eq!(p.conflicts.len(), 1, "{:?}", p.users);
    assert!(renames(&p).is_empty());
}

#[test]
fn a_name_held_by_a_user_disabled_in_the_source_is_not_released() {
    let s = snap(vec![user("u9", "lhart")]);
    let c = current(vec![inactive("u2", "lhart", "disabled", true)]);
    let p = plan(&s, &c, &Policy::default(), RunMode::Incremental);
    assert_eq!(p.conflicts.len(), 1, "{:?}", p.users);
}

#[test]
fn memberships_of_a_recycled_ref_never_attach_to_the_user_who_left() {
    // The new hire conflicts (policy conflict) and is not stored; the
    // group still names `lhart` by its ref, which the leaver used to have.
    let mut leaver = inactive("u2", "lhart", "gone", false);
    leaver.ref_key = "lhart".into();
    let mut hire = user("u9", "lhart");
    hire.ref_key = "lhart".into();
    let c = current(vec![leaver]);
    let policy = Policy {
        release_recycled: false,
        ..Policy::default()
    };
    let groups = vec![group("g1", "Staff", &["lhart".to_string()])];
    let incremental = Snapshot {
        groups: groups.clone(),
        ..snap(vec![])
    };
    let full_read = snap_groups(vec![hire], groups);
    for (s, mode) in [
        (incremental, RunMode::Incremental),
        (full_read, RunMode::Full),
    ] {
        let p = plan(&s, &c, &policy, mode);
        assert!(
            memberships(&p).iter().all(|m| m.1 != "u2"),
            "{mode:?}: {:?}",
            memberships(&p)
        );
    }
}

#[test]
fn a_user_disabled_on_first_sight_is_created_deactivated_when_asked() {
    let mut u = user("u1", "alice");
    u.enabled = false;
    let s = snap(vec![u]);
    assert!(full_default(&s, &Current::default()).users.is_empty());

    let policy = Policy {
        create_disabled: true,
        ..Policy::default()
    };
    let p = full(&s, &Current::default(), &policy);
    assert!(
        matches!(&p.users[..], [UserChange::Create { disabled: true, .. }]),
        "{:?}",
        p.users
    );
    // Stored that way, the next run leaves it alone.
    let c = current(vec![StoredUser {
        active: false,
        source_enabled: false,
        deactivation_reason: Some("disabled".into()),
        ..stored("u1", "alice")
    }]);
    assert!(
        full(&s, &c, &policy).is_noop(),
        "{:?}",
        full(&s, &c, &policy)
    );
}

#[test]
fn a_name_whose_holder_cannot_move_is_not_given_to_a_new_user() {
    // u1 wants to move from `lhart` to `bob`, held by a local user, so it
    // keeps `lhart`; the new u2 must not get `lhart` too.
    let mut c = current(vec![stored("u1", "lhart")]);
    c.usernames
        .insert("bob".into(), UsernameOwner::Local { db_id: 7 });
    let p = full_default(&snap(vec![user("u1", "bob"), user("u2", "lhart")]), &c);
    assert!(
        p.users.iter().all(|u| u.action() != "create"),
        "{:?}",
        p.users
    );
    assert_eq!(p.conflicts.len(), 2, "{:?}", p.conflicts);

    // The same when the holder's record is unusable this run.
    let policy = Policy {
        required: vec!["email".into()],
        ..Policy::default()
    };
    let c = current(vec![stored_with("u1", "lhart", "email", "l@x")]);
    let s = snap(vec![
        user("u1", "lhart2"), // no email: a per-record error, left as it is
        user_with("u2", "lhart", "email", "n@x"),
    ]);
    let p = full(&s, &c, &policy);
    assert!(
        p.users.iter().all(|u| u.action() != "create"),
        "{:?}",
        p.users
    );
    assert_eq!(p.conflicts.len(), 1, "{:?}", p.conflicts);
}

#[test]
fn a_chain_stops_where_a_holder_keeps_its_name() {
    // u1 a→b, u2 b→c, u3 c→x where x is held locally: u3 keeps c, so u2
    // keeps b, so u1 keeps a; nothing collides.
    let mut c = current(vec![
        stored("u1", "a"),
        stored("u2", "b"),
        stored("u3", "c"),
    ]);
    c.usernames
        .insert("x".into(), UsernameOwner::Local { db_id: 7 });
    let p = full_default(
        &snap(vec![user("u1", "b"), user("u2", "c"), user("u3", "x")]),
        &c,
    );
    assert!(renames(&p).is_empty(), "{:?}", p.users);
    assert_eq!(p.conflicts.len(), 3, "{:?}", p.conflicts);
}
