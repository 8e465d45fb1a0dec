//! DNs that need escaping, against a real slapd: users whose `cn` holds
//! `+`, `,`, `#` and leading/trailing spaces keep their group memberships
//! and their reports' manager references, however the server or the
//! person who wrote the values spelled the escapes.

use ldap_harness::{base64_encode, DirectorySpec, SlapdOptions};

use crate::ldap_env::{openldap_env, openldap_source, slapd_with};

const PEOPLE: &str = "ou=people,dc=example,dc=com";

/// (uid, cn, the DN as written when adding, another spelling of it).
const ODD: [(&str, &str, &str, &str); 4] = [
    (
        "megan.nichols",
        "Megan+Arthur Nichols",
        "cn=Megan\\+Arthur Nichols",
        "CN=Megan\\2bArthur Nichols",
    ),
    (
        "anna.smith",
        "Smith, Anna",
        "cn=Smith\\, Anna",
        "cn = Smith\\2C Anna",
    ),
    ("hash.tag", "#hash Tag", "cn=\\#hash Tag", "cn=\\23hash tag"),
    (
        "spacey",
        " Spacey Person ",
        "cn=\\ Spacey Person\\ ",
        "cn=\\20Spacey Person\\20",
    ),
];

fn person(uid: &str, cn: &str, dn: &str, manager: Option<&str>) -> String {
    let mut ldif = format!(
        "dn: {dn},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn:: {}\nsn: Odd\nmail: {uid}@example.com\n",
        base64_encode(cn.as_bytes())
    );
    if let Some(m) = manager {
        ldif.push_str(&format!("manager: {m}\n"));
    }
    ldif
}

#[tokio::test(flavor = "multi_thread")]
async fn escaped_names_keep_their_memberships_and_manager_references() {
    let spec = DirectorySpec::new(3, 1, 5);
    let mut slapd = slapd_with(&spec, SlapdOptions::default());
    // slapadd keeps DN values as written (ldapadd would re-escape them all
    // one way), as directories loaded from exports do.
    let mut ldif = String::new();
    for (uid, cn, dn, _) in ODD {
        ldif.push_str(&person(uid, cn, dn, None));
        ldif.push('\n');
    }
    // Each odd user manages one report, referenced in the other spelling.
    for (uid, _, _, other) in ODD {
        let report = format!("report.{uid}");
        ldif.push_str(&person(
            &report,
            &report,
            &format!("uid={report}"),
            Some(&format!("{other},{PEOPLE}")),
        ));
        ldif.push('\n');
    }
    // A group with all four, half in each spelling.
    let members: String = ODD
        .iter()
        .enumerate()
        .map(|(i, (_, _, dn, other))| {
            let dn = if i % 2 == 0 { dn } else { other };
            format!("member: {dn},{PEOPLE}\n")
        })
        .collect();
    ldif.push_str(&format!(
        "dn: cn=odd names,ou=groups,dc=example,dc=com\nobjectClass: groupOfNames\ncn: odd names\n{members}"
    ));
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), ldif).unwrap();
    slapd.load_ldif_offline(file.path()).unwrap();

    let env = openldap_env(&slapd, openldap_source(&slapd));
    let report = env.sync().await.unwrap();
    assert_eq!(report.run.outcome, "succeeded", "{:?}", report.run.message);
    assert!(report.plan.errors.is_empty(), "{:?}", report.plan.errors);

    let groups = env.host().await.store.groups(None).await.unwrap();
    let odd = groups.iter().find(|g| g.name == "odd names").unwrap();
    assert_eq!(odd.members, 4, "every escaped member DN matched its user");
    for (uid, _, _, _) in ODD {
        let user = env.user(uid).await;
        assert!(
            user.groups.iter().any(|g| g == "odd names"),
            "{uid} lost its membership"
        );
        let report = env.user(&format!("report.{uid}")).await;
        assert!(
            report.manager.is_some(),
            "report.{uid} lost its manager reference"
        );
    }
}
