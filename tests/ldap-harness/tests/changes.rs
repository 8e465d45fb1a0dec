//! The generated change sets apply cleanly to the directory they were made for.

use std::time::Instant;

use ldap_harness::{DirectorySpec, Slapd, SlapdOptions};

#[test]
fn generated_changes_apply_with_ldapmodify() {
    let spec = DirectorySpec::new(2_000, 100, 5).with_memberof(true);
    let slapd = Slapd::start_generated(&spec, SlapdOptions::default().syncprov(true)).unwrap();
    let changes = spec.changes(300, 1);
    let t = Instant::now();
    slapd.modify(&changes.ldif).unwrap();
    eprintln!("{} applied in {:?}", changes.summary(), t.elapsed());
    let users = slapd
        .search_count(&slapd.people_dn(), "(objectClass=inetOrgPerson)")
        .unwrap();
    assert_eq!(users, 2_000 + changes.additions - changes.deletions);
    let renamed = slapd
        .search_count(&slapd.people_dn(), "(uid=renamed.*)")
        .unwrap();
    assert!(renamed > 0 && renamed <= changes.user_renames);
    // every group kept a member
    let empty = slapd
        .search_count(
            &slapd.groups_dn(),
            "(&(objectClass=groupOfNames)(!(member=*)))",
        )
        .unwrap();
    assert_eq!(empty, 0);
}
