//! Engine tests: licensing.

use super::*;

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
        // 1 rejected of 3 would stop the run before licenses are counted.
        max_rejected_percent: 50.0,
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
