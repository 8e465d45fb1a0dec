//! Tests of the slapd harness against a real slapd.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use ldap_harness::{write_directory, DirectorySpec, Slapd, SlapdOptions, TlsFiles};

fn ok(c: &mut Command) -> String {
    let out = c.output().expect("run client tool");
    assert!(
        out.status.success(),
        "{c:?} failed: {}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn loaded_1k() -> (Slapd, DirectorySpec, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let spec = DirectorySpec::new(1000, 50, 42)
        .with_memberof(true)
        .user_password(Some("user-pw".into()));
    let path = tmp.path().join("dir.ldif");
    let t = Instant::now();
    let stats = write_directory(&path, &spec).unwrap();
    eprintln!(
        "generated 1k users / 50 groups in {:?}: {stats:?}",
        t.elapsed()
    );
    let t = Instant::now();
    let slapd = Slapd::start(SlapdOptions::default().load_ldif_offline(&path)).unwrap();
    eprintln!(
        "slapd with 1k users loaded by slapadd: ready in {:?} (slapd itself: {:?})",
        t.elapsed(),
        slapd.last_start
    );
    (slapd, spec, tmp)
}

#[test]
fn start_empty_server() {
    let t = Instant::now();
    let slapd = Slapd::start(SlapdOptions::default()).unwrap();
    eprintln!(
        "empty slapd ready in {:?} (spawn to bind: {:?})",
        t.elapsed(),
        slapd.last_start
    );
    assert!(slapd.ldap_url().starts_with("ldap://127.0.0.1:"));
    assert!(slapd.ldaps_url().starts_with("ldaps://127.0.0.1:"));
    assert_eq!(slapd.base_dn(), "dc=example,dc=com");
    assert_eq!(slapd.admin_dn(), "cn=admin,dc=example,dc=com");
    // base entry + ou=people + ou=groups
    assert_eq!(
        slapd
            .search_count(slapd.base_dn(), "(objectClass=*)")
            .unwrap(),
        3
    );
    let who = ok(&mut slapd.client("ldapwhoami"));
    assert!(who.contains("cn=admin,dc=example,dc=com"), "{who}");
}

#[test]
fn slapadd_1k_counts_and_content() {
    let (slapd, spec, _tmp) = loaded_1k();
    let people = slapd.people_dn();
    let groups = slapd.groups_dn();
    assert_eq!(
        slapd
            .search_count(&people, "(objectClass=inetOrgPerson)")
            .unwrap(),
        1000
    );
    assert_eq!(
        slapd
            .search_count(&groups, "(objectClass=groupOfNames)")
            .unwrap(),
        50
    );

    // a paged dump straight from ldapsearch, as the benchmark will do it
    let out = ok(slapd.client("ldapsearch").args([
        "-LLL",
        "-o",
        "ldif-wrap=no",
        "-E",
        "pr=1000/noprompt",
        "-b",
        &people,
        "(uid=*)",
        "uid",
        "entryUUID",
    ]));
    assert_eq!(out.lines().filter(|l| l.starts_with("dn:")).count(), 1000);
    assert_eq!(
        out.lines().filter(|l| l.starts_with("entryUUID:")).count(),
        1000
    );

    // memberOf came from the LDIF (slapadd bypasses the overlay) and is searchable
    let g0 = spec.group_dn(0);
    assert_eq!(
        slapd
            .search_count(&people, &format!("(memberOf={g0})"))
            .unwrap(),
        500
    );
    let plan = spec.plan();
    let expected_disabled = (0..1000).filter(|&i| spec.user(i).disabled).count();
    assert_eq!(
        slapd
            .search_count(&people, "(employeeType=disabled)")
            .unwrap(),
        expected_disabled
    );
    assert!(expected_disabled > 0);

    // a group whose RDN has a comma comes back re-escaped as \2C
    let team = slapd
        .search(&groups, "(cn=Team 7, Ops)", &["member", "cn"])
        .unwrap();
    assert_eq!(team.len(), 1);
    assert_eq!(team[0].dn, "cn=Team 7\\2C Ops,ou=groups,dc=example,dc=com");
    assert_eq!(team[0].first("cn").unwrap(), "Team 7, Ops");
    assert_eq!(team[0].values("member").len(), plan.members[7].len());

    // unicode values survive
    let u = (0..1000)
        .map(|i| spec.user(i))
        .find(|u| !u.cn.is_ascii())
        .unwrap();
    let got = slapd
        .get(&u.dn, &["cn", "sn", "mail", "manager"])
        .unwrap()
        .unwrap();
    assert_eq!(got.first("cn").unwrap(), u.cn);
    assert_eq!(got.values("mail"), u.mail);

    // users can bind with their password; a wrong one gives 49; a reader account reads
    let bind = |dn: &str, pw: &str| {
        Command::new("ldapwhoami")
            .env("LDAPCONF", "/dev/null")
            .args(["-x", "-H", &slapd.ldap_url(), "-D", dn, "-w", pw])
            .output()
            .unwrap()
            .status
            .code()
    };
    assert_eq!(bind(&spec.user_dn(3), "user-pw"), Some(0));
    assert_eq!(bind(&spec.user_dn(3), "wrong"), Some(49));
    let reader = slapd.add_reader("reader", "reader-pw").unwrap();
    let out = ok(Command::new("ldapsearch")
        .env("LDAPCONF", "/dev/null")
        .args([
            "-x",
            "-LLL",
            "-H",
            &slapd.ldap_url(),
            "-D",
            &reader,
            "-w",
            "reader-pw",
            "-E",
            "pr=1000/noprompt",
            "-b",
            &people,
            "(uid=*)",
            "uid",
            "userPassword",
        ]));
    assert_eq!(out.lines().filter(|l| l.starts_with("dn:")).count(), 1000);
    assert!(
        !out.contains("userPassword"),
        "the reader must not see passwords"
    );
    // nothing listens on an unused port
    let url = format!("ldap://127.0.0.1:{}", ldap_harness::unused_loopback_port());
    let out = Command::new("ldapwhoami")
        .args(["-x", "-H", &url])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(255), "can't contact LDAP server");

    // nested groups: group 1 contains groups
    let g1 = slapd.get(&spec.group_dn(1), &["member"]).unwrap().unwrap();
    let nested = g1
        .values("member")
        .iter()
        .filter(|m| m.contains("ou=groups"))
        .count();
    assert_eq!(nested, plan.subgroups[1].len());
    assert!(nested > 0);
}

#[test]
fn ldaps_and_starttls_with_generated_ca() {
    let slapd = Slapd::start(SlapdOptions::default()).unwrap();
    // LDAPS
    let who = ok(&mut slapd.client_url("ldapwhoami", &slapd.ldaps_url()));
    assert!(who.contains("cn=admin"));
    // StartTLS (-ZZ: fail unless TLS is established)
    let who = ok(slapd.client("ldapwhoami").arg("-ZZ"));
    assert!(who.contains("cn=admin"));
    // the same with localhost as the host name (SAN DNS:localhost)
    let url = slapd.ldaps_url().replace("127.0.0.1", "localhost");
    let out = slapd.client_url("ldapwhoami", &url).output().unwrap();
    // localhost may resolve to ::1 first; accept success or a connect failure, never a cert error
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() || !err.contains("certificate"),
        "{err}"
    );

    // a different CA is refused, for LDAPS and for StartTLS
    let other = tempfile::tempdir().unwrap();
    let wrong = TlsFiles::generate(other.path(), "some other CA", &[], &["localhost"]).unwrap();
    for (url, starttls) in [(slapd.ldaps_url(), false), (slapd.ldap_url(), true)] {
        let mut c = slapd.client_url("ldapwhoami", &url);
        c.env("LDAPTLS_CACERT", &wrong.ca_cert);
        if starttls {
            c.arg("-ZZ");
        }
        let out = c.output().unwrap();
        assert!(
            !out.status.success(),
            "TLS with the wrong CA must fail ({url})"
        );
    }
    // the certificate really carries the IP SAN
    let text = ok(Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
        .arg(&slapd.tls().server_cert));
    assert!(
        text.contains("IP Address:127.0.0.1") && text.contains("DNS:localhost"),
        "{text}"
    );
}

#[test]
fn memberof_and_refint_follow_a_rename_and_a_delete() {
    let slapd = Slapd::start(SlapdOptions::default()).unwrap();
    // through ldapadd (overlays active): no memberOf in the LDIF, no base entries
    let spec = DirectorySpec::new(40, 6, 3).include_base(false);
    let t = Instant::now();
    slapd.add_ldif(&spec.to_ldif()).unwrap();
    eprintln!("ldapadd of 40 users / 6 groups: {:?}", t.elapsed());
    let plan = spec.plan();
    let g0 = spec.group_dn(0);
    let people = slapd.people_dn();
    // the memberof overlay filled memberOf
    assert_eq!(
        slapd
            .search_count(&people, &format!("(memberOf={g0})"))
            .unwrap(),
        plan.members[0].len()
    );

    // rename a user who is in a group and manages others (user i manages 8i+1..=8i+8)
    let who = (1..=4usize)
        .find(|&i| plan.members.iter().any(|m| m.contains(&(i as u32))))
        .expect("one of users 1-4 is in a group");
    let u = spec.user(who);
    let new_rdn = "uid=renamed.user";
    slapd.modrdn(&u.dn, new_rdn).unwrap();
    let new_dn = format!("{new_rdn},{people}");
    let groups_of_u: Vec<usize> = (0..spec.groups)
        .filter(|&j| plan.members[j].contains(&(who as u32)))
        .collect();
    for &j in &groups_of_u {
        let g = slapd.get(&spec.group_dn(j), &["member"]).unwrap().unwrap();
        let members = g.values("member");
        assert!(
            members.iter().any(|m| m == &new_dn),
            "group {j} does not list {new_dn}"
        );
        assert!(
            !members.iter().any(|m| m == &u.dn),
            "group {j} still lists {}",
            u.dn
        );
    }
    // refint also rewrote manager
    let report = spec.user(8 * who + 1);
    let got = slapd.get(&report.dn, &["manager"]).unwrap().unwrap();
    assert_eq!(got.first("manager").unwrap(), new_dn);
    // memberOf of the renamed user is still right
    let got = slapd.get(&new_dn, &["memberOf"]).unwrap().unwrap();
    assert_eq!(got.values("memberOf").len(), groups_of_u.len());

    // delete: refint removes the member values (keep a group non-empty: pick a user whose
    // groups all have another member)
    let victim = (5..40)
        .find(|&i| {
            (0..spec.groups)
                .all(|j| !plan.members[j].contains(&(i as u32)) || plan.members[j].len() > 1)
                && (0..spec.groups).any(|j| plan.members[j].contains(&(i as u32)))
        })
        .unwrap();
    let v = spec.user(victim);
    slapd.delete(&v.dn).unwrap();
    let still = slapd
        .search_count(&slapd.groups_dn(), &format!("(member={})", v.dn))
        .unwrap();
    assert_eq!(still, 0);
}

#[test]
fn syncprov_refresh_only_returns_entries_and_changes() {
    let spec = DirectorySpec::new(200, 10, 9).with_memberof(true);
    let slapd = Slapd::start_generated(&spec, SlapdOptions::default().syncprov(true)).unwrap();
    assert!(
        !slapd.context_csn().unwrap().is_empty(),
        "slapadd -w sets contextCSN"
    );
    let sync = |cookie: Option<&str>| -> (usize, Option<String>, String) {
        let arg = match cookie {
            Some(c) => format!("sync=ro/{c}"),
            None => "sync=ro".to_string(),
        };
        let out = ok(slapd.client("ldapsearch").args([
            "-o",
            "ldif-wrap=no",
            "-E",
            &arg,
            "-b",
            slapd.base_dn(),
            "(objectClass=*)",
            "1.1",
        ]));
        let n = out.lines().filter(|l| l.starts_with("dn:")).count();
        let cookie = out
            .lines()
            .filter_map(|l| l.strip_prefix("# cookie: "))
            .next_back()
            .map(str::to_string);
        (n, cookie, out)
    };
    let (n, cookie, _) = sync(None);
    assert_eq!(n, 3 + 200 + 10);
    let cookie = cookie.expect("a refreshOnly search ends with a cookie");
    assert!(cookie.contains("csn="), "{cookie}");

    // one attribute change: only that entry comes back
    let u = spec.user(5);
    slapd
        .modify(&format!(
            "dn: {}\nchangetype: modify\nreplace: title\ntitle: Chief\n-\n",
            u.dn
        ))
        .unwrap();
    let (n, cookie2, out) = sync(Some(&cookie));
    assert_eq!(n, 1, "{out}");
    assert!(out.contains(&u.uid));

    // a delete is reported through the session log (a syncIdSet of deleted entryUUIDs)
    slapd.delete(&spec.user(150).dn).unwrap();
    let (_, cookie3, out) = sync(Some(&cookie2.unwrap()));
    assert!(out.contains("SyncInfo Received: ID Set"), "{out}");

    // A FACT the connector must live with (slapd 2.5): changes the overlays make to *other*
    // entries get no new entryCSN, so a refresh with a cookie does not report them. Renaming a
    // user who is in groups: refint rewrites the groups' member values, yet only the user
    // comes back.
    let plan = spec.plan();
    let who = (0..200u32)
        .find(|i| plan.members.iter().filter(|m| m.contains(i)).count() >= 2)
        .unwrap();
    let u = spec.user(who as usize);
    slapd.modrdn(&u.dn, "uid=renamed.for.sync").unwrap();
    let new_dn = format!("uid=renamed.for.sync,{}", slapd.people_dn());
    let in_groups = slapd
        .search_count(&slapd.groups_dn(), &format!("(member={new_dn})"))
        .unwrap();
    assert!(in_groups >= 2, "refint rewrote the groups");
    let (n, cookie4, out) = sync(Some(&cookie3.unwrap()));
    assert_eq!(
        n, 1,
        "only the renamed user is reported, not its {in_groups} groups:\n{out}"
    );
    // Likewise adding a member to a group reports the group but not the user whose memberOf
    // the memberof overlay changed.
    let outsider = (0..200u32)
        .find(|i| !plan.members[0].contains(i) && *i != who)
        .unwrap();
    slapd
        .modify(&format!(
            "dn: {}\nchangetype: modify\nadd: member\nmember: {}\n-\n",
            spec.group_dn(0),
            spec.user_dn(outsider as usize)
        ))
        .unwrap();
    let got = slapd
        .get(&spec.user_dn(outsider as usize), &["memberOf"])
        .unwrap()
        .unwrap();
    assert!(got.values("memberOf").contains(&spec.group_dn(0)));
    let (n, _, out) = sync(Some(&cookie4.unwrap()));
    assert_eq!(n, 1, "only the group is reported:\n{out}");
    assert!(out.contains("dn: cn=grp-00000,"), "{out}");
}

#[test]
fn stop_restart_offline_load_and_drop_cleanup() {
    let mut slapd = Slapd::start(SlapdOptions::default()).unwrap();
    let url = slapd.ldap_url();
    let tmp = tempfile::tempdir().unwrap();
    let spec = DirectorySpec::new(100, 5, 1)
        .with_memberof(true)
        .include_base(false);
    let path = tmp.path().join("more.ldif");
    write_directory(&path, &spec).unwrap();
    slapd.load_ldif_offline(&path).unwrap();
    assert_eq!(slapd.ldap_url(), url, "same ports after a restart");
    assert_eq!(
        slapd.search_count(&slapd.people_dn(), "(uid=*)").unwrap(),
        100
    );
    slapd.restart().unwrap();
    assert_eq!(
        slapd.search_count(&slapd.people_dn(), "(uid=*)").unwrap(),
        100
    );

    let pid = slapd.pid().unwrap();
    let dir = slapd.dir().to_path_buf();
    drop(slapd);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "slapd still running after drop"
    );
    assert!(!dir.exists(), "slapd dir not removed");
}

#[test]
fn a_failing_slapd_reports_its_log() {
    let t = Instant::now();
    let err = Slapd::start(SlapdOptions::default().debug_level("no-such-level"))
        .err()
        .expect("must fail");
    let msg = format!("{err:#}");
    assert!(msg.contains("slapd exited during start"), "{msg}");
    assert!(
        msg.contains("no-such-level"),
        "the error should quote slapd's own output: {msg}"
    );
    assert!(t.elapsed().as_secs() < 10);
    eprintln!("the error reads:\n{msg}");
}

/// 100k users / 5k groups: generation + slapadd + start. `cargo test --release -- --ignored`.
#[test]
#[ignore]
fn load_100k() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = DirectorySpec::new(100_000, 5_000, 1).with_memberof(true);
    let path = tmp.path().join("100k.ldif");
    let t = Instant::now();
    let stats = write_directory(&path, &spec).unwrap();
    eprintln!("generated 100k/5k in {:?}: {stats:?}", t.elapsed());
    let t = Instant::now();
    let slapd = Slapd::start(
        SlapdOptions::default()
            .syncprov(true)
            .load_ldif_offline(&path),
    )
    .unwrap();
    eprintln!("slapadd + start: {:?}", t.elapsed());
    let t = Instant::now();
    assert_eq!(
        slapd
            .search_count(&slapd.people_dn(), "(objectClass=inetOrgPerson)")
            .unwrap(),
        100_000
    );
    eprintln!("paged count of 100k users (dn only): {:?}", t.elapsed());
    let t = Instant::now();
    let out = ok(slapd.client("ldapsearch").args([
        "-LLL",
        "-o",
        "ldif-wrap=no",
        "-E",
        "pr=1000/noprompt",
        "-b",
        &slapd.people_dn(),
        "(objectClass=inetOrgPerson)",
    ]));
    eprintln!(
        "paged dump of 100k users: {:?} ({} bytes)",
        t.elapsed(),
        out.len()
    );
    assert_eq!(
        slapd
            .search_count(
                &slapd.people_dn(),
                &format!("(memberOf={})", spec.group_dn(0))
            )
            .unwrap(),
        50_000
    );
}

/// ldapadd (through memberof/refint) of 10k users / 500 groups, for the README's timings.
/// `cargo test --release -- --ignored`.
#[test]
#[ignore]
fn ldapadd_10k_timing() {
    let slapd = Slapd::start(SlapdOptions::default()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let spec = DirectorySpec::new(10_000, 500, 2).include_base(false);
    let path = tmp.path().join("10k.ldif");
    write_directory(&path, &spec).unwrap();
    let t = Instant::now();
    slapd.add_ldif_file(&path).unwrap();
    eprintln!("ldapadd of 10k users / 500 groups: {:?}", t.elapsed());
    assert_eq!(
        slapd
            .search_count(
                &slapd.people_dn(),
                &format!("(memberOf={})", spec.group_dn(0))
            )
            .unwrap(),
        5_000
    );
}
