//! Does the store equal the directory? Users (by entryUUID: present, active unless disabled,
//! username = uid, display name), groups (by entryUUID: active, name = cn) and effective
//! memberships (nested groups resolved through parsed, normalized member DNs), compared
//! between an `ldapsearch` dump and the store (SQLite or PostgreSQL).

use std::collections::{HashMap, HashSet};

use anyhow::{Context, Result};
use ldap_harness::Slapd;
use serde_json::json;

use crate::runner::JOB;
use crate::store::Target;

#[derive(Debug, Default)]
pub struct Verdict {
    pub users: usize,
    pub active_users: usize,
    pub groups: usize,
    pub memberships: usize,
    pub problems: usize,
    /// The first few problems, for the report.
    pub examples: Vec<String>,
}

impl Verdict {
    pub fn ok(&self) -> bool {
        self.problems == 0
    }
    fn problem(&mut self, p: String) {
        self.problems += 1;
        if self.examples.len() < 8 {
            self.examples.push(p);
        }
    }
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "equal": self.ok(),
            "directory_users": self.users,
            "active_users": self.active_users,
            "groups": self.groups,
            "effective_memberships": self.memberships,
            "problems": self.problems,
            "examples": self.examples,
        })
    }
}

/// A DN in a comparable form: RDNs split on unescaped commas, escapes (`\,` and `\2C`)
/// resolved, attribute types and values lowercased, spaces around separators dropped.
pub fn normalize_dn(dn: &str) -> String {
    let mut out = String::with_capacity(dn.len());
    let mut rdns: Vec<String> = Vec::new();
    let mut cur = Vec::<u8>::new();
    let b = dn.as_bytes();
    let mut i = 0;
    let flush = |cur: &mut Vec<u8>, rdns: &mut Vec<String>| {
        let s = String::from_utf8_lossy(cur).to_string();
        let (t, v) = s.split_once('=').unwrap_or(("", s.as_str()));
        rdns.push(format!(
            "{}={}",
            t.trim().to_lowercase(),
            v.trim().to_lowercase()
        ));
        cur.clear();
    };
    while i < b.len() {
        match b[i] {
            b'\\' if i + 1 < b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                if i + 2 < b.len() {
                    if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                        cur.push((h * 16 + l) as u8);
                        i += 3;
                        continue;
                    }
                }
                cur.push(b[i + 1]);
                i += 2;
            }
            b',' => {
                flush(&mut cur, &mut rdns);
                i += 1;
            }
            c => {
                cur.push(c);
                i += 1;
            }
        }
    }
    flush(&mut cur, &mut rdns);
    out.push_str(&rdns.join(","));
    out
}

struct DirUser {
    uid: String,
    display_name: Option<String>,
    disabled: bool,
}

pub fn verify(rt: &tokio::runtime::Runtime, slapd: &Slapd, store: &Target) -> Result<Verdict> {
    let users = slapd.search(
        &slapd.people_dn(),
        crate::directory::USER_FILTER,
        &["entryUUID", "uid", "displayName", "employeeType"],
    )?;
    let groups = slapd.search(
        &slapd.groups_dn(),
        crate::directory::GROUP_FILTER,
        &["entryUUID", "cn", "member"],
    )?;
    let mut v = Verdict {
        users: users.len(),
        groups: groups.len(),
        ..Default::default()
    };

    // The directory, by entryUUID, and every DN to what it names.
    enum Ref {
        User(String),
        Group(usize),
    }
    let mut by_dn: HashMap<String, Ref> = HashMap::new();
    let mut dir_users: HashMap<String, DirUser> = HashMap::new();
    for e in &users {
        let id = e.first("entryUUID").context("user without entryUUID")?;
        by_dn.insert(normalize_dn(&e.dn), Ref::User(id.clone()));
        dir_users.insert(
            id,
            DirUser {
                uid: e.first("uid").unwrap_or_default(),
                display_name: e.first("displayName"),
                disabled: e.first("employeeType").as_deref() == Some("disabled"),
            },
        );
    }
    let mut group_ids = Vec::with_capacity(groups.len());
    for (j, e) in groups.iter().enumerate() {
        group_ids.push(e.first("entryUUID").context("group without entryUUID")?);
        by_dn.insert(normalize_dn(&e.dn), Ref::Group(j));
    }

    let (s_users, s_groups, s_members) = rt.block_on(load_store(store))?;
    let stored_users: HashMap<&str, &StoreUser> =
        s_users.iter().map(|u| (u.0.as_str(), u)).collect();

    // Users.
    for (id, d) in &dir_users {
        match stored_users.get(id.as_str()) {
            None if d.disabled => {}
            None => v.problem(format!("user {} ({id}) is not in the store", d.uid)),
            Some(s) => {
                if s.3 != 0 {
                    v.active_users += 1;
                }
                if (s.3 != 0) == d.disabled {
                    v.problem(format!(
                        "user {}: active = {} in the store, disabled = {} in the directory",
                        d.uid, s.3, d.disabled
                    ));
                }
                if !s.1.eq_ignore_ascii_case(&d.uid) {
                    v.problem(format!("user {id}: username {:?}, uid {:?}", s.1, d.uid));
                }
                if d.display_name.is_some() && s.2 != d.display_name {
                    v.problem(format!(
                        "user {}: display name {:?}, directory {:?}",
                        d.uid, s.2, d.display_name
                    ));
                }
            }
        }
    }
    for s in &s_users {
        if !dir_users.contains_key(&s.0) && s.3 != 0 {
            v.problem(format!(
                "user {} ({}) is gone from the directory but active in the store",
                s.1, s.0
            ));
        }
    }

    // Groups.
    let stored_groups: HashMap<&str, &StoreGroup> =
        s_groups.iter().map(|g| (g.0.as_str(), g)).collect();
    let dir_group_ids: HashSet<&str> = group_ids.iter().map(String::as_str).collect();
    for (j, e) in groups.iter().enumerate() {
        let cn = e.first("cn").unwrap_or_default();
        match stored_groups.get(group_ids[j].as_str()) {
            None => v.problem(format!("group {cn:?} is not in the store")),
            Some(g) => {
                if g.2 == 0 {
                    v.problem(format!("group {cn:?} is inactive in the store"));
                }
                if g.1 != cn {
                    v.problem(format!("group {cn:?} is named {:?} in the store", g.1));
                }
            }
        }
    }
    for g in &s_groups {
        if !dir_group_ids.contains(g.0.as_str()) && g.2 != 0 {
            v.problem(format!(
                "group {:?} is gone from the directory but active in the store",
                g.1
            ));
        }
    }

    // Effective memberships of the directory's groups, for users the store holds.
    let mut direct_users: Vec<Vec<&str>> = vec![Vec::new(); groups.len()];
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); groups.len()];
    for (j, e) in groups.iter().enumerate() {
        for m in e.values("member") {
            match by_dn.get(&normalize_dn(&m)) {
                Some(Ref::User(id)) => direct_users[j].push(id),
                Some(Ref::Group(c)) => children[j].push(*c),
                None => v.problem(format!(
                    "group {:?}: member {m:?} is not in the directory",
                    e.first("cn").unwrap_or_default()
                )),
            }
        }
    }
    let mut expected: HashSet<(&str, &str)> = HashSet::new();
    for (j, gid) in group_ids.iter().enumerate() {
        let mut seen = vec![false; groups.len()];
        let mut stack = vec![j];
        while let Some(g) = stack.pop() {
            if std::mem::replace(&mut seen[g], true) {
                continue;
            }
            for u in &direct_users[g] {
                if stored_users.contains_key(u) {
                    expected.insert((gid.as_str(), u));
                }
            }
            stack.extend(children[g].iter().copied());
        }
    }
    v.memberships = expected.len();
    let mut stored_pairs: HashSet<(&str, &str)> = HashSet::new();
    for (g, u) in &s_members {
        if !dir_group_ids.contains(g.as_str()) {
            continue; // memberships of deactivated groups are kept as they were
        }
        stored_pairs.insert((g.as_str(), u.as_str()));
    }
    let name = |id: &str| {
        dir_users
            .get(id)
            .map(|d| d.uid.clone())
            .unwrap_or_else(|| format!("(deleted user {id})"))
    };
    let gname = |id: &str| {
        stored_groups
            .get(id)
            .map(|g| g.1.clone())
            .unwrap_or_default()
    };
    let mut missing: Vec<_> = expected.difference(&stored_pairs).collect();
    missing.sort();
    for (g, u) in missing {
        v.problem(format!(
            "membership {} in {:?} is missing from the store",
            name(u),
            gname(g)
        ));
    }
    let mut extra: Vec<_> = stored_pairs.difference(&expected).collect();
    extra.sort();
    for (g, u) in extra {
        v.problem(format!(
            "membership {} in {:?} is in the store but not in the directory",
            name(u),
            gname(g)
        ));
    }
    Ok(v)
}

/// source id, username, display name, active
type StoreUser = (String, String, Option<String>, i64);
/// source id, name, active
type StoreGroup = (String, String, i64);

/// The job's users, groups and direct memberships as stored; each query written once per
/// dialect (SQLite's and PostgreSQL's JSON aggregates, and PostgreSQL's boolean flags as 0/1).
async fn load_store(
    store: &Target,
) -> Result<(Vec<StoreUser>, Vec<StoreGroup>, Vec<(String, String)>)> {
    let pool = store.open().await?;
    let users: Vec<StoreUser> = serde_json::from_str(
        &pool
            .text(
                "SELECT json_group_array(json_array(source_id, username, display_name, active))
                 FROM users WHERE job_id = $1",
                "SELECT COALESCE(json_agg(json_build_array(source_id, username, display_name,
                 CASE WHEN active THEN 1 ELSE 0 END))::text, '[]') FROM users WHERE job_id = $1",
                JOB,
            )
            .await?,
    )?;
    let groups: Vec<StoreGroup> = serde_json::from_str(
        &pool
            .text(
                "SELECT json_group_array(json_array(source_id, name, active))
                 FROM groups WHERE job_id = $1",
                "SELECT COALESCE(json_agg(json_build_array(source_id, name,
                 CASE WHEN active THEN 1 ELSE 0 END))::text, '[]') FROM groups WHERE job_id = $1",
                JOB,
            )
            .await?,
    )?;
    const MEMBERS: &str = "FROM memberships m JOIN groups g ON g.id = m.group_id
         JOIN users u ON u.id = m.user_id WHERE g.job_id = $1";
    let members: Vec<(String, String)> = serde_json::from_str(
        &pool
            .text(
                &format!("SELECT json_group_array(json_array(g.source_id, u.source_id)) {MEMBERS}"),
                &format!(
                    "SELECT COALESCE(json_agg(json_build_array(g.source_id, u.source_id))::text, '[]') {MEMBERS}"
                ),
                JOB,
            )
            .await?,
    )?;
    pool.close().await;
    Ok((users, groups, members))
}

#[cfg(test)]
mod tests {
    use super::normalize_dn;

    #[test]
    fn dns_compare_after_normalizing() {
        assert_eq!(
            normalize_dn("cn=Team 7\\, Ops,ou=groups,dc=example,dc=com"),
            normalize_dn("CN=team 7\\2C Ops, ou=Groups,dc=example,dc=com")
        );
        assert_eq!(
            normalize_dn("uid=a\\2Bb,dc=x"),
            normalize_dn("uid=a\\+b,dc=x")
        );
        assert_ne!(normalize_dn("uid=a,dc=x"), normalize_dn("uid=b,dc=x"));
        assert_eq!(
            normalize_dn("cn=\\C3\\89quipe 13,dc=x"),
            "cn=équipe 13,dc=x"
        );
    }
}
