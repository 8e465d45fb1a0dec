//! [`DirectorySpec`]: what to generate, and the deterministic users, groups and memberships it
//! describes.

use super::names::{DEPARTMENTS, GIVEN, SURNAMES, TITLES};
use super::rng::Rng;
use crate::util::escape_dn_value;

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
}

/// Memberships computed by [`DirectorySpec::plan`].
#[derive(Debug, Clone)]
pub struct DirectoryPlan {
    /// Sorted user indexes of each group's direct user members.
    pub members: Vec<Vec<u32>>,
    /// Sorted indexes of each group's nested groups (always higher than the group's own).
    pub subgroups: Vec<Vec<u32>>,
}

/// One generated user (see the `gen` module docs).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_power_law() {
        let spec = DirectorySpec::new(100_000, 5_000, 1);
        assert_eq!(spec.group_size(0), 50_000);
        assert_eq!(spec.group_size(1), 25_000);
        let total: usize = (0..5000).map(|j| spec.group_size(j)).sum();
        assert!((440_000..470_000).contains(&total), "{total}");
    }
}
