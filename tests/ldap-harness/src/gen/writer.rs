//! Writing a [`DirectorySpec`] as LDIF: to a string, a stream or a file.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};

use super::rng::Rng;
use super::spec::DirectorySpec;
use crate::util::ldif_line;

impl DirectorySpec {
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
}
