//! A deterministic generator of realistic directories (LDIF) for OpenLDAP.
//!
//! Layout under the base DN:
//! - `ou=people`: `inetOrgPerson` users, RDN `uid=<given>.<surname><index:06>` (ASCII), with cn,
//!   sn, givenName, displayName (unicode in places; some cn/sn contain commas), mail (every 10th
//!   user has a second one), title, departmentNumber, ou (department name), manager (a DN:
//!   user `(i-1)/8`, so user 0 is the root of an 8-ary tree), employeeNumber (`100000+i`),
//!   employeeType (`employee`, `contractor`, or **`disabled`** for ~1% of users: that is the
//!   "disabled" marker, there is no ppolicy), telephoneNumber (2 of 3 users), optionally
//!   userPassword (cleartext) and `memberOf`.
//! - `ou=groups`: `groupOfNames` groups with power-law sizes: group `j` has
//!   `max(1, round(users / 2 / (j + 1)))` distinct users (group 0 has half of them); every 25th
//!   group (`j % 25 == 1`) also has 1-2 nested groups with a higher index as members (a DAG).
//!   RDN `cn=grp-<j:05>`, except `j % 50 == 7` → `cn=Team <j>\, Ops` (comma in the RDN),
//!   `j % 50 == 13` → `cn=Équipe <j>` (unicode), `j % 50 == 21` → `cn=R&D \+ QA <j>` (plus).
//!   Groups are written children first (highest index first) so `ldapadd` through the memberof
//!   overlay sets every `memberOf`.
//! - optional `posixGroup` entries `cn=posix-<k>` with `memberUid` values.
//!
//! 100k users / 5k groups gives ~455k memberships and ~60 MB of LDIF; the plan for it takes a few
//! MB of memory and [`write_directory`] streams the LDIF.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};

use crate::util::{escape_dn_value, ldif_line};

/// What to generate. `DirectorySpec::new(users, groups, seed)` then adjust fields.
#[derive(Debug, Clone)]
pub struct DirectorySpec {
    pub users: usize,
    pub groups: usize,
    pub seed: u64,
    pub base_dn: String,
    /// Write `memberOf` on members (needed for `slapadd`, which bypasses the memberof overlay;
    /// must be off for `ldapadd`, which refuses the operational attribute).
    pub with_memberof: bool,
    /// Write the base entry, `ou=people` and `ou=groups` first (off to `ldapadd` into a
    /// [`crate::Slapd`] started with its default base entries).
    pub include_base: bool,
    /// Give every user this cleartext `userPassword` (for bind tests).
    pub user_password: Option<String>,
    pub mail_domain: String,
    /// Number of extra `posixGroup` entries (`cn=posix-<k>`, `gidNumber`, `memberUid`).
    pub posix_groups: usize,
}

impl DirectorySpec {
    pub fn new(users: usize, groups: usize, seed: u64) -> Self {
        Self {
            users,
            groups,
            seed,
            base_dn: "dc=example,dc=com".into(),
            with_memberof: false,
            include_base: true,
            user_password: None,
            mail_domain: "example.com".into(),
            posix_groups: 0,
        }
    }
    pub fn base_dn(mut self, dn: impl Into<String>) -> Self {
        self.base_dn = dn.into();
        self
    }
    pub fn with_memberof(mut self, on: bool) -> Self {
        self.with_memberof = on;
        self
    }
    pub fn include_base(mut self, on: bool) -> Self {
        self.include_base = on;
        self
    }
    pub fn user_password(mut self, pw: Option<String>) -> Self {
        self.user_password = pw;
        self
    }
    pub fn posix_groups(mut self, n: usize) -> Self {
        self.posix_groups = n;
        self
    }

    /// Attributes of user `i` (deterministic in seed and `i`, independent of the other users).
    pub fn user(&self, i: usize) -> GenUser {
        let mut r = Rng::new(self.seed ^ 0x5553_4552, i as u64);
        let (given, given_ascii) = GIVEN[r.below(GIVEN.len())];
        let (surname, surname_ascii) = SURNAMES[r.below(SURNAMES.len())];
        let uid = format!("{given_ascii}.{surname_ascii}{i:06}");
        let cn = if i % 17 == 3 {
            format!("{surname}, {given}")
        } else {
            format!("{given} {surname}")
        };
        let sn = if i % 29 == 5 {
            format!("{surname}, Jr.")
        } else {
            surname.to_string()
        };
        let mut mail = vec![format!("{uid}@{}", self.mail_domain)];
        if i % 10 == 1 {
            mail.push(format!(
                "{given_ascii}.{surname_ascii}.{i}@alias.{}",
                self.mail_domain
            ));
        }
        let dept = r.below(DEPARTMENTS.len());
        let title = TITLES[r.below(TITLES.len())].to_string();
        let disabled = r.below(1000) < 10;
        let employee_type = if disabled {
            "disabled"
        } else if r.below(5) == 0 {
            "contractor"
        } else {
            "employee"
        };
        let phone = (r.below(3) != 0).then(|| format!("+1 555 {:04}", r.below(10_000)));
        GenUser {
            index: i,
            dn: format!("uid={uid},ou=people,{}", self.base_dn),
            uid,
            cn,
            sn,
            given_name: given.to_string(),
            display_name: format!("{given} {surname}"),
            mail,
            title,
            department_number: format!("D{:03}", dept),
            department: DEPARTMENTS[dept].to_string(),
            manager_index: (i > 0).then(|| (i - 1) / 8),
            employee_number: format!("{}", 100_000 + i),
            employee_type: employee_type.to_string(),
            disabled,
            phone,
        }
    }

    pub fn user_dn(&self, i: usize) -> String {
        self.user(i).dn
    }

    /// The `cn` (RDN value, unescaped) of group `j`.
    pub fn group_cn(&self, j: usize) -> String {
        match j % 50 {
            7 => format!("Team {j}, Ops"),
            13 => format!("Équipe {j}"),
            21 => format!("R&D + QA {j}"),
            _ => format!("grp-{j:05}"),
        }
    }

    /// The DN of group `j` as written in the LDIF (`\,` escaping).
    pub fn group_dn(&self, j: usize) -> String {
        format!(
            "cn={},ou=groups,{}",
            escape_dn_value(&self.group_cn(j)),
            self.base_dn
        )
    }

    /// Intended size of group `j` (users only, before nested groups).
    pub fn group_size(&self, j: usize) -> usize {
        if self.users == 0 {
            return 0;
        }
        let s = (self.users as f64 / 2.0 / (j as f64 + 1.0)).round() as usize;
        s.clamp(1, self.users)
    }

    /// Computes all memberships (deterministic). Memory: ~4 bytes per membership.
    pub fn plan(&self) -> DirectoryPlan {
        let n = self.users;
        let mut perm: Vec<u32> = (0..n as u32).collect();
        let mut r = Rng::new(self.seed ^ 0x4752_4f55, 0);
        let mut members = Vec::with_capacity(self.groups);
        let mut subgroups = Vec::with_capacity(self.groups);
        for j in 0..self.groups {
            let s = self.group_size(j);
            // partial Fisher-Yates: the first s positions become a uniform sample
            for k in 0..s {
                let pick = k + r.below(n - k);
                perm.swap(k, pick);
            }
            let mut m = perm[..s].to_vec();
            m.sort_unstable();
            members.push(m);
            let mut subs = Vec::new();
            if j % 25 == 1 && j + 1 < self.groups {
                let span = (self.groups - j - 1).min(10);
                let count = 1 + r.below(2);
                for _ in 0..count {
                    let c = (j + 1 + r.below(span)) as u32;
                    if !subs.contains(&c) {
                        subs.push(c);
                    }
                }
                subs.sort_unstable();
            }
            subgroups.push(subs);
        }
        DirectoryPlan { members, subgroups }
    }

    /// The whole directory as one LDIF string (fine for tests; use [`write_directory`] for big
    /// directories).
    pub fn to_ldif(&self) -> String {
        let mut buf = Vec::new();
        self.write_to(&mut buf)
            .expect("writing to a Vec cannot fail");
        String::from_utf8(buf).expect("generated LDIF is UTF-8")
    }

    /// Streams the LDIF to `w`.
    pub fn write_to(&self, w: &mut impl Write) -> Result<DirectoryStats> {
        let plan = self.plan();
        let mut stats = DirectoryStats {
            users: self.users,
            groups: self.groups,
            ..Default::default()
        };
        // user -> groups (direct), and group -> parent groups, for memberOf
        let (user_groups, group_parents) = if self.with_memberof {
            let mut ug: Vec<Vec<u32>> = vec![Vec::new(); self.users];
            let mut gp: Vec<Vec<u32>> = vec![Vec::new(); self.groups];
            for (j, m) in plan.members.iter().enumerate() {
                for &u in m {
                    ug[u as usize].push(j as u32);
                }
                for &c in &plan.subgroups[j] {
                    gp[c as usize].push(j as u32);
                }
            }
            (ug, gp)
        } else {
            (Vec::new(), Vec::new())
        };
        let group_dns: Vec<String> = (0..self.groups).map(|j| self.group_dn(j)).collect();
        let user_dns: Vec<String> = (0..self.users).map(|i| self.user_dn(i)).collect();
        let mut out = CountingWriter { inner: w, bytes: 0 };
        let mut s = String::with_capacity(4096);
        if self.include_base {
            s.push_str(&crate::slapd::base_ldif(&self.base_dn)?);
            s.push('\n');
            out.write_all(s.as_bytes())?;
        }
        for i in 0..self.users {
            s.clear();
            let u = self.user(i);
            ldif_line(&mut s, "dn", &u.dn);
            for oc in ["top", "person", "organizationalPerson", "inetOrgPerson"] {
                ldif_line(&mut s, "objectClass", oc);
            }
            ldif_line(&mut s, "uid", &u.uid);
            ldif_line(&mut s, "cn", &u.cn);
            ldif_line(&mut s, "sn", &u.sn);
            ldif_line(&mut s, "givenName", &u.given_name);
            ldif_line(&mut s, "displayName", &u.display_name);
            for m in &u.mail {
                ldif_line(&mut s, "mail", m);
            }
            ldif_line(&mut s, "title", &u.title);
            ldif_line(&mut s, "departmentNumber", &u.department_number);
            ldif_line(&mut s, "ou", &u.department);
            if let Some(m) = u.manager_index {
                ldif_line(&mut s, "manager", &user_dns[m]);
            }
            ldif_line(&mut s, "employeeNumber", &u.employee_number);
            ldif_line(&mut s, "employeeType", &u.employee_type);
            if let Some(p) = &u.phone {
                ldif_line(&mut s, "telephoneNumber", p);
            }
            if let Some(pw) = &self.user_password {
                ldif_line(&mut s, "userPassword", pw);
            }
            if let Some(gs) = user_groups.get(i) {
                for &g in gs {
                    ldif_line(&mut s, "memberOf", &group_dns[g as usize]);
                }
            }
            s.push('\n');
            if u.disabled {
                stats.disabled_users += 1;
            }
            out.write_all(s.as_bytes())?;
        }
        for j in (0..self.groups).rev() {
            s.clear();
            ldif_line(&mut s, "dn", &group_dns[j]);
            ldif_line(&mut s, "objectClass", "top");
            ldif_line(&mut s, "objectClass", "groupOfNames");
            ldif_line(&mut s, "cn", self.group_cn(j));
            ldif_line(&mut s, "description", format!("generated group {j}"));
            for &u in &plan.members[j] {
                ldif_line(&mut s, "member", &user_dns[u as usize]);
            }
            for &c in &plan.subgroups[j] {
                ldif_line(&mut s, "member", &group_dns[c as usize]);
            }
            if self.with_memberof {
                for &p in &group_parents[j] {
                    ldif_line(&mut s, "memberOf", &group_dns[p as usize]);
                }
            }
            s.push('\n');
            stats.memberships += plan.members[j].len();
            stats.nested_memberships += plan.subgroups[j].len();
            stats.largest_group = stats.largest_group.max(plan.members[j].len());
            out.write_all(s.as_bytes())?;
        }
        let mut r = Rng::new(self.seed ^ 0x504f_5349, 0);
        for k in 0..self.posix_groups {
            s.clear();
            ldif_line(
                &mut s,
                "dn",
                format!("cn=posix-{k},ou=groups,{}", self.base_dn),
            );
            ldif_line(&mut s, "objectClass", "top");
            ldif_line(&mut s, "objectClass", "posixGroup");
            ldif_line(&mut s, "cn", format!("posix-{k}"));
            ldif_line(&mut s, "gidNumber", format!("{}", 20_000 + k));
            if self.users > 0 {
                let count = 1 + r.below(20.min(self.users));
                let mut picked: Vec<usize> = (0..count).map(|_| r.below(self.users)).collect();
                picked.sort_unstable();
                picked.dedup();
                for u in picked {
                    ldif_line(&mut s, "memberUid", self.user(u).uid);
                }
            }
            s.push('\n');
            out.write_all(s.as_bytes())?;
        }
        out.flush()?;
        stats.bytes = out.bytes;
        Ok(stats)
    }
}

/// Memberships computed by [`DirectorySpec::plan`].
#[derive(Debug, Clone)]
pub struct DirectoryPlan {
    /// Sorted user indexes of each group's direct user members.
    pub members: Vec<Vec<u32>>,
    /// Sorted indexes of each group's nested groups (always higher than the group's own).
    pub subgroups: Vec<Vec<u32>>,
}

/// Counts of what was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirectoryStats {
    pub users: usize,
    pub groups: usize,
    /// User-in-group memberships (direct).
    pub memberships: usize,
    /// Group-in-group memberships.
    pub nested_memberships: usize,
    pub disabled_users: usize,
    pub largest_group: usize,
    pub bytes: u64,
}

/// One generated user (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenUser {
    pub index: usize,
    pub dn: String,
    pub uid: String,
    pub cn: String,
    pub sn: String,
    pub given_name: String,
    pub display_name: String,
    pub mail: Vec<String>,
    pub title: String,
    pub department_number: String,
    pub department: String,
    pub manager_index: Option<usize>,
    pub employee_number: String,
    pub employee_type: String,
    pub disabled: bool,
    pub phone: Option<String>,
}

/// `DirectorySpec::new(users, groups, seed).to_ldif()`: base entries, users and groups without
/// `memberOf` (for `ldapadd`). For `slapadd` use a spec `.with_memberof(true)`.
pub fn generate_directory(users: usize, groups: usize, seed: u64) -> String {
    DirectorySpec::new(users, groups, seed).to_ldif()
}

/// Streams `spec` as LDIF into a new file at `path`.
pub fn write_directory(path: &Path, spec: &DirectorySpec) -> Result<DirectoryStats> {
    let f = File::create(path).with_context(|| format!("create {}", path.display()))?;
    let mut w = BufWriter::with_capacity(1 << 20, f);
    let stats = spec.write_to(&mut w)?;
    w.flush()?;
    Ok(stats)
}

struct CountingWriter<'a, W: Write> {
    inner: &'a mut W,
    bytes: u64,
}

impl<W: Write> Write for CountingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// SplitMix64, seeded from (seed, stream).
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64, stream: u64) -> Self {
        let mut r = Rng(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        r.next();
        r
    }
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        ((self.next() as u128 * n as u128) >> 64) as usize
    }
}

const GIVEN: &[(&str, &str)] = &[
    ("John", "john"),
    ("Mary", "mary"),
    ("José", "jose"),
    ("Zoë", "zoe"),
    ("Łukasz", "lukasz"),
    ("Søren", "soren"),
    ("Anaïs", "anais"),
    ("Björn", "bjorn"),
    ("Chloé", "chloe"),
    ("Dmitri", "dmitri"),
    ("Алексей", "aleksei"),
    ("Γιώργος", "giorgos"),
    ("明", "ming"),
    ("Fatima", "fatima"),
    ("Priya", "priya"),
    ("Oluwaseun", "oluwaseun"),
    ("Siobhán", "siobhan"),
    ("Jürgen", "jurgen"),
    ("Ana", "ana"),
    ("Wei", "wei"),
    ("Emma", "emma"),
    ("Noah", "noah"),
    ("Olivia", "olivia"),
    ("Liam", "liam"),
];

const SURNAMES: &[(&str, &str)] = &[
    ("Smith", "smith"),
    ("Jones", "jones"),
    ("O'Brien", "obrien"),
    ("Müller", "muller"),
    ("García", "garcia"),
    ("Nguyễn", "nguyen"),
    ("van der Berg", "vanderberg"),
    ("Kowalski", "kowalski"),
    ("Øvergaard", "overgaard"),
    ("Ångström", "angstrom"),
    ("Сидоров", "sidorov"),
    ("Παπαδόπουλος", "papadopoulos"),
    ("田中", "tanaka"),
    ("Dubois", "dubois"),
    ("Rossi", "rossi"),
    ("Okafor", "okafor"),
    ("Patel", "patel"),
    ("Kim", "kim"),
    ("Silva", "silva"),
    ("Novák", "novak"),
    ("Johansson", "johansson"),
    ("Brown", "brown"),
    ("Wilson", "wilson"),
    ("Taylor", "taylor"),
];

const TITLES: &[&str] = &[
    "Engineer",
    "Senior Engineer",
    "Manager",
    "Director",
    "Analyst",
    "Sales Representative",
    "Accountant",
    "Designer",
    "Support Specialist",
    "Vice President",
];

const DEPARTMENTS: &[&str] = &[
    "Engineering",
    "Sales",
    "Marketing",
    "Finance",
    "Human Resources",
    "Support",
    "Legal",
    "Research & Development",
    "Operations",
    "Produit et Qualité",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::parse_ldif;

    #[test]
    fn deterministic_and_parseable() {
        let a = DirectorySpec::new(300, 40, 7).with_memberof(true).to_ldif();
        let b = DirectorySpec::new(300, 40, 7).with_memberof(true).to_ldif();
        assert_eq!(a, b);
        let c = DirectorySpec::new(300, 40, 8).with_memberof(true).to_ldif();
        assert_ne!(a, c);
        let entries = parse_ldif(&a).unwrap();
        assert_eq!(entries.len(), 3 + 300 + 40);
        let g0 = entries
            .iter()
            .find(|e| e.dn.starts_with("cn=grp-00000,"))
            .unwrap();
        assert_eq!(g0.values("member").len(), 150);
        assert!(entries
            .iter()
            .any(|e| e.dn.starts_with("cn=Team 7\\, Ops,")));
        // memberOf is consistent with member
        let total_member: usize = entries.iter().map(|e| e.values("member").len()).sum();
        let total_memberof: usize = entries.iter().map(|e| e.values("memberOf").len()).sum();
        assert_eq!(total_member, total_memberof);
    }

    #[test]
    fn sizes_follow_power_law() {
        let spec = DirectorySpec::new(100_000, 5_000, 1);
        assert_eq!(spec.group_size(0), 50_000);
        assert_eq!(spec.group_size(1), 25_000);
        let total: usize = (0..5000).map(|j| spec.group_size(j)).sum();
        assert!((440_000..470_000).contains(&total), "{total}");
    }
}
