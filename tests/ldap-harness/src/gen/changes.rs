//! A deterministic set of mixed changes to a generated directory, as one `ldapmodify` LDIF:
//! user renames (some to RDN values with DN-special characters), group renames, attribute
//! edits, disables and re-enables, deletions, new users (with group memberships) and
//! membership adds/removes. For benchmarks of incremental syncs and for tests that need
//! "realistic churn".
//!
//! Rules that keep every change valid against the directory [`DirectorySpec`] describes:
//! every user and group is touched by at most one structural change (rename or delete), and
//! after a structural change it is referred to by its new DN only; a user is deleted or
//! removed from a group only if each of its groups keeps at least one member (a `groupOfNames`
//! needs one). Users in the largest groups are preferred less as rename/delete victims: a
//! rename or delete makes slapd's refint overlay rewrite every group holding the user, and
//! rewriting a 50,000-member entry costs the server far more than the change itself.

use std::collections::{HashSet, VecDeque};

use super::rng::Rng;
use super::spec::DirectorySpec;
use crate::util::{escape_dn_value, ldif_line};

/// What [`DirectorySpec::changes`] produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeSet {
    /// Change records for `ldapmodify` (`changetype: add|delete|modify|modrdn`).
    pub ldif: String,
    /// Total number of change records (= the `count` asked for).
    pub total: usize,
    pub user_renames: usize,
    pub group_renames: usize,
    pub attribute_edits: usize,
    pub disables: usize,
    pub enables: usize,
    pub deletions: usize,
    pub additions: usize,
    pub membership_adds: usize,
    pub membership_removes: usize,
}

impl ChangeSet {
    /// One line, e.g. for a benchmark's output.
    pub fn summary(&self) -> String {
        format!(
            "{} changes: {} user renames, {} group renames, {} attribute edits, {} disables, {} re-enables, {} deletions, {} new users, {} membership adds, {} membership removes",
            self.total,
            self.user_renames,
            self.group_renames,
            self.attribute_edits,
            self.disables,
            self.enables,
            self.deletions,
            self.additions,
            self.membership_adds,
            self.membership_removes
        )
    }
}

#[derive(Clone, Copy)]
enum Op {
    UserRename,
    GroupRename,
    Edit,
    Disable,
    Enable,
    Delete,
    Add,
    MemberAdd,
    MemberRemove,
}

/// Out of every 100 changes.
const MIX: [(Op, usize); 9] = [
    (Op::UserRename, 12),
    (Op::GroupRename, 2),
    (Op::Edit, 26),
    (Op::Disable, 4),
    (Op::Enable, 2),
    (Op::Delete, 8),
    (Op::Add, 14),
    (Op::MemberAdd, 20),
    (Op::MemberRemove, 12),
];

impl DirectorySpec {
    /// `count` mixed changes (deterministic in the spec and `seed`) to the directory this spec
    /// generates, as `ldapmodify` input. New users get indexes `users..` (their attributes are
    /// `self.user(i)` for those `i`, under a `uid=new.<uid>` RDN, never disabled).
    pub fn changes(&self, count: usize, seed: u64) -> ChangeSet {
        let mut set = ChangeSet::default();
        if self.users == 0 || self.groups == 0 {
            return set;
        }
        let plan = self.plan();
        let mut r = Rng::new(self.seed ^ seed ^ 0x4348_414e, 0);
        // Members left in each group (users + nested groups), and each user's groups.
        let mut size: Vec<usize> = plan
            .members
            .iter()
            .zip(&plan.subgroups)
            .map(|(m, s)| m.len() + s.len())
            .collect();
        let mut user_groups: Vec<Vec<u32>> = vec![Vec::new(); self.users];
        for (j, m) in plan.members.iter().enumerate() {
            for &u in m {
                user_groups[u as usize].push(j as u32);
            }
        }
        let mut group_members: Vec<HashSet<u32>> = plan
            .members
            .iter()
            .map(|m| m.iter().copied().collect())
            .collect();
        let mut touched: HashSet<usize> = HashSet::new(); // renamed or deleted users
        let mut deleted: HashSet<usize> = HashSet::new();
        let mut state_changed: HashSet<usize> = HashSet::new(); // disabled or re-enabled
        let mut user_dn: Vec<Option<String>> = vec![None; self.users]; // after a rename
        let mut group_dn: Vec<Option<String>> = vec![None; self.groups];
        let mut renamed_groups: HashSet<usize> = HashSet::new();
        let mut unplaced: VecDeque<String> = VecDeque::new(); // new users not in a group yet
        let mut added = 0usize;
        let base_people = format!("ou=people,{}", self.base_dn);
        let base_groups = format!("ou=groups,{}", self.base_dn);
        let dn_of = |i: usize, user_dn: &[Option<String>]| -> String {
            user_dn[i].clone().unwrap_or_else(|| self.user_dn(i))
        };
        let gdn_of = |j: usize, group_dn: &[Option<String>]| -> String {
            group_dn[j].clone().unwrap_or_else(|| self.group_dn(j))
        };
        // An existing user not in `avoid`, preferring one outside the four biggest groups when
        // `small` (refint rewrites every group of a renamed or deleted user).
        let pick_user = |r: &mut Rng, avoid: &HashSet<usize>, small: bool| -> Option<usize> {
            for attempt in 0..64 {
                let i = r.below(self.users);
                if avoid.contains(&i) {
                    continue;
                }
                if small && attempt < 48 && user_groups[i].iter().any(|&g| g < 4) {
                    continue;
                }
                return Some(i);
            }
            None
        };

        let mut s = String::with_capacity(count * 200);
        let mut produced = 0usize;
        let mut attempts = 0usize;
        while produced < count && attempts < count * 8 + 64 {
            attempts += 1;
            let k = produced;
            let pick = r.below(100);
            let mut acc = 0;
            let mut op = Op::Edit;
            for (o, w) in MIX {
                acc += w;
                if pick < acc {
                    op = o;
                    break;
                }
            }
            match op {
                Op::UserRename => {
                    let Some(i) = pick_user(&mut r, &touched, true) else {
                        continue;
                    };
                    touched.insert(i);
                    let u = self.user(i);
                    let new_uid = if set.user_renames % 5 == 4 {
                        // DN-special characters in the new RDN value
                        format!("{}, jr+{}", u.uid, set.user_renames)
                    } else {
                        format!("renamed.{}", u.uid)
                    };
                    let rdn = format!("uid={}", escape_dn_value(&new_uid));
                    ldif_line(&mut s, "dn", dn_of(i, &user_dn));
                    s.push_str("changetype: modrdn\n");
                    ldif_line(&mut s, "newrdn", &rdn);
                    s.push_str("deleteoldrdn: 1\n\n");
                    user_dn[i] = Some(format!("{rdn},{base_people}"));
                    set.user_renames += 1;
                }
                Op::GroupRename => {
                    // a small group (upper half of the indexes), renamed once
                    let j = self.groups - 1 - r.below(self.groups.div_ceil(2));
                    if !renamed_groups.insert(j) {
                        continue;
                    }
                    let new_cn = format!("{} (renamed {k})", self.group_cn(j));
                    let rdn = format!("cn={}", escape_dn_value(&new_cn));
                    ldif_line(&mut s, "dn", gdn_of(j, &group_dn));
                    s.push_str("changetype: modrdn\n");
                    ldif_line(&mut s, "newrdn", &rdn);
                    s.push_str("deleteoldrdn: 1\n\n");
                    group_dn[j] = Some(format!("{rdn},{base_groups}"));
                    set.group_renames += 1;
                }
                Op::Edit => {
                    let Some(i) = pick_user(&mut r, &deleted, false) else {
                        continue;
                    };
                    ldif_line(&mut s, "dn", dn_of(i, &user_dn));
                    s.push_str("changetype: modify\n");
                    match r.below(4) {
                        0 => {
                            ldif_line(&mut s, "replace", "title");
                            ldif_line(&mut s, "title", format!("Principal Engineer {k}"));
                        }
                        1 => {
                            ldif_line(&mut s, "replace", "displayName");
                            ldif_line(&mut s, "displayName", format!("Zoë Ångström-Nguyễn {k}"));
                        }
                        2 => {
                            ldif_line(&mut s, "add", "mail");
                            let mail = format!("extra.{k}.{i}@alias.{}", self.mail_domain);
                            ldif_line(&mut s, "mail", mail);
                        }
                        _ => {
                            ldif_line(&mut s, "replace", "telephoneNumber");
                            ldif_line(&mut s, "telephoneNumber", format!("+1 555 9{k:04}"));
                        }
                    }
                    s.push_str("-\n\n");
                    set.attribute_edits += 1;
                }
                Op::Disable | Op::Enable => {
                    let enable = matches!(op, Op::Enable);
                    // a user in the other state (enable: one generated disabled)
                    let found = (0..256).map(|_| r.below(self.users)).find(|i| {
                        !deleted.contains(i)
                            && !state_changed.contains(i)
                            && self.user(*i).disabled == enable
                    });
                    let Some(i) = found else { continue };
                    state_changed.insert(i);
                    let value = if enable {
                        set.enables += 1;
                        "employee"
                    } else {
                        set.disables += 1;
                        "disabled"
                    };
                    ldif_line(&mut s, "dn", dn_of(i, &user_dn));
                    s.push_str("changetype: modify\n");
                    ldif_line(&mut s, "replace", "employeeType");
                    ldif_line(&mut s, "employeeType", value);
                    s.push_str("-\n\n");
                }
                Op::Delete => {
                    // a leaf of the manager tree whose groups all keep a member
                    let chosen = (0..8)
                        .filter_map(|_| pick_user(&mut r, &touched, true))
                        .find(|&i| {
                            i * 8 + 1 >= self.users
                                && user_groups[i].iter().all(|&g| size[g as usize] > 1)
                        });
                    let Some(i) = chosen else { continue };
                    touched.insert(i);
                    deleted.insert(i);
                    for &g in &user_groups[i] {
                        if group_members[g as usize].remove(&(i as u32)) {
                            size[g as usize] -= 1;
                        }
                    }
                    ldif_line(&mut s, "dn", dn_of(i, &user_dn));
                    s.push_str("changetype: delete\n\n");
                    set.deletions += 1;
                }
                Op::Add => {
                    let i = self.users + added;
                    added += 1;
                    let u = self.user(i);
                    let uid = format!("new.{}", u.uid);
                    let dn = format!("uid={},{base_people}", escape_dn_value(&uid));
                    ldif_line(&mut s, "dn", &dn);
                    s.push_str("changetype: add\n");
                    for oc in ["top", "person", "organizationalPerson", "inetOrgPerson"] {
                        ldif_line(&mut s, "objectClass", oc);
                    }
                    ldif_line(&mut s, "uid", &uid);
                    ldif_line(&mut s, "cn", &u.cn);
                    ldif_line(&mut s, "sn", &u.sn);
                    ldif_line(&mut s, "givenName", &u.given_name);
                    ldif_line(&mut s, "displayName", &u.display_name);
                    ldif_line(&mut s, "mail", format!("{uid}@{}", self.mail_domain));
                    ldif_line(&mut s, "title", &u.title);
                    ldif_line(&mut s, "departmentNumber", &u.department_number);
                    ldif_line(&mut s, "ou", &u.department);
                    if let Some(m) = u.manager_index.filter(|m| !deleted.contains(m)) {
                        ldif_line(&mut s, "manager", dn_of(m, &user_dn));
                    }
                    ldif_line(&mut s, "employeeNumber", &u.employee_number);
                    ldif_line(&mut s, "employeeType", "employee");
                    s.push('\n');
                    unplaced.push_back(dn);
                    set.additions += 1;
                }
                Op::MemberAdd => {
                    let j = self.pick_group(&mut r);
                    // a new user not in a group yet (every other time), else an existing one
                    let member = match unplaced.front() {
                        Some(_) if r.below(2) == 0 => unplaced.pop_front().expect("front"),
                        _ => {
                            let Some(i) = pick_user(&mut r, &touched, false) else {
                                continue;
                            };
                            if !group_members[j].insert(i as u32) {
                                continue;
                            }
                            size[j] += 1;
                            dn_of(i, &user_dn)
                        }
                    };
                    ldif_line(&mut s, "dn", gdn_of(j, &group_dn));
                    s.push_str("changetype: modify\n");
                    ldif_line(&mut s, "add", "member");
                    ldif_line(&mut s, "member", &member);
                    s.push_str("-\n\n");
                    set.membership_adds += 1;
                }
                Op::MemberRemove => {
                    let j = self.pick_group(&mut r);
                    if size[j] <= 1 {
                        continue;
                    }
                    let start = r.below(usize::MAX);
                    let Some(&i) = group_members[j]
                        .iter()
                        .filter(|&&i| !touched.contains(&(i as usize)))
                        .min_by_key(|&&i| (i as usize).wrapping_mul(0x9E37_79B9) ^ start)
                    else {
                        continue;
                    };
                    group_members[j].remove(&i);
                    size[j] -= 1;
                    ldif_line(&mut s, "dn", gdn_of(j, &group_dn));
                    s.push_str("changetype: modify\n");
                    ldif_line(&mut s, "delete", "member");
                    ldif_line(&mut s, "member", dn_of(i as usize, &user_dn));
                    s.push_str("-\n\n");
                    set.membership_removes += 1;
                }
            }
            produced += 1;
        }
        set.total = produced;
        set.ldif = s;
        set
    }

    /// A group for a membership change: mostly any group (most are small), one time in 20 one
    /// of the eight biggest.
    fn pick_group(&self, r: &mut Rng) -> usize {
        if r.below(20) == 0 {
            r.below(self.groups.min(8))
        } else {
            r.below(self.groups)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_mixed_and_counted() {
        let spec = DirectorySpec::new(2_000, 100, 3);
        let a = spec.changes(500, 1);
        assert_eq!(a, spec.changes(500, 1));
        assert_ne!(a.ldif, spec.changes(500, 2).ldif);
        assert_eq!(a.total, 500);
        let sum = a.user_renames
            + a.group_renames
            + a.attribute_edits
            + a.disables
            + a.enables
            + a.deletions
            + a.additions
            + a.membership_adds
            + a.membership_removes;
        assert_eq!(sum, 500);
        for n in [
            a.user_renames,
            a.attribute_edits,
            a.deletions,
            a.additions,
            a.membership_adds,
            a.membership_removes,
            a.disables,
        ] {
            assert!(n > 0, "{}", a.summary());
        }
        let records = a.ldif.matches("changetype: ").count();
        assert_eq!(records, 500);
    }
}
