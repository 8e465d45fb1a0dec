//! Engine tests: create update, lifecycle, incremental, conflicts, required, lookups, unicode.

use super::*;

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
fn many_missing_job_titles_are_one_short_warning() {
    let users: Vec<_> = (0..40)
        .map(|i| {
            user_with(
                &format!("u{i}"),
                &format!("user{i}"),
                "job_title",
                &format!("Title {i:02}"),
            )
        })
        .collect();
    let p = full_default(&snap(users), &Current::default());
    let lookups: Vec<_> = p
        .warnings
        .iter()
        .filter(|w| w.contains("job title"))
        .collect();
    assert_eq!(lookups.len(), 1, "{lookups:?}");
    let w = lookups[0];
    assert!(
        w.starts_with("40 job titles not in the target (\"Title 00\", "),
        "{w}"
    );
    assert!(w.contains("\"Title 04\", and 35 more)"), "{w}");
    assert!(!w.contains("Title 05"), "only the first few are named: {w}");
    assert!(w.contains("usersync lookup job-title NAME"), "{w}");
    assert!(w.len() < 300, "compact: {w}");
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
    assert_eq!(created_fields(&p, "ü-1"), &*u.fields);
    match &p.users[0] {
        UserChange::Create { custom_json, .. } => {
            let custom: std::collections::BTreeMap<String, String> =
                serde_json::from_str(custom_json.as_deref().unwrap()).unwrap();
            assert_eq!(custom["bürö"], "Zürich ☕");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(p.groups[0].name(), "Straße & Café");
    assert_eq!(p.memberships[0].username(), "jürgen.müller");

    // Stored as-is, it reads back as a no-op.
    let mut st = stored("ü-1", "jürgen.müller");
    st.fields = (*u.fields).clone();
    st.custom_json = u.fields.custom_json();
    let p = full_default(&snap(vec![u]), &current(vec![st]));
    assert!(p.is_noop(), "{p:?}");
}

/// A run plans with `plan_taking` (the new users' fields moved out of the
/// snapshot): its plan is the one `plan` copies, field for field, including
/// the lookups it drops, the manager it resolves and a duplicated id.
#[test]
fn planning_that_takes_the_snapshot_plans_what_planning_that_copies_does() {
    let mut boss = user_with("b", "boss", "email", "boss@example.org");
    boss.fields.display_name = Some("The Boss".into());
    boss.fields.custom = vec![("badge".into(), "7".into())];
    let mut worker = user_with("w", "worker", "job_title", "Unknown Title");
    worker.fields.manager = Some(dn("b").into());
    worker.fields.employee_id = Some("E-1".into());
    let twin = user_with("w", "worker-again", "email", "second@example.org");
    let s = snap_groups(
        vec![boss, worker, twin, user("u", "kept")],
        vec![
            group("staff", "Staff", &[dn("w"), group_dn("bosses")]),
            group("bosses", "Bosses", &[dn("b")]),
        ],
    );
    let c = current(vec![stored("u", "kept")]);
    let p = Policy::default();
    let copied = plan(&s, &c, &p, RunMode::Full);
    let taken = plan_taking(s.clone(), &c, &p, RunMode::Full);
    let json = |p: &Plan| serde_json::to_value(p).expect("plan serializes");
    assert_eq!(json(&taken), json(&copied));
    let worker = created_fields(&taken, "w");
    assert_eq!(worker.employee_id.as_deref(), Some("E-1"));
    assert_eq!(worker.job_title, None, "a title the lookup table lacks");
    assert_eq!(worker.manager.as_deref(), Some("b"));
    assert_eq!(created_fields(&taken, "b").custom.len(), 1);
    assert_eq!(
        memberships(&taken).len(),
        3,
        "w and b in Staff, b in Bosses"
    );
}
