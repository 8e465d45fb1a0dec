//! Deletions a change search cannot see: OpenLDAP without syncprov (a
//! timestamp search never returns a deleted entry) and Active Directory
//! when the bind account cannot read `CN=Deleted Objects`. Every
//! `deletion_check_minutes` an incremental run lists only the ids of the
//! users and groups in scope (~1 s per 100k) and removes the ones known
//! before that are gone.
//!
//! The ids known so far live in the plugin's state (committed with the
//! run's data): written whole by a full run or a check, grown by the users
//! an incremental run reads in between.

use std::time::{SystemTime, UNIX_EPOCH};

use usersync_sdk::host::{state, target};
use usersync_sdk::{log, ObjectKind};

use crate::config::Resolved;
use crate::ids::Ids;
use crate::{entries, search};

const LAST_CHECK: &str = "deletion-check-at";
const KNOWN_USERS: &str = "known-users";
const KNOWN_GROUPS: &str = "known-groups";

/// The ids of users and groups read in one run, kept only when the run
/// needs them (`tracking`: the change search cannot see deletions).
#[derive(Default)]
pub struct Seen {
    pub tracking: bool,
    pub users: Ids,
    pub groups: Ids,
}

impl Seen {
    pub fn user(&mut self, id: &str) {
        if self.tracking {
            self.users.insert(id);
        }
    }

    pub fn group(&mut self, id: &str) {
        if self.tracking {
            self.groups.insert(id);
        }
    }

    /// Sort what was read (before it is compared or stored).
    pub fn finish(&mut self) {
        self.users.finish();
        self.groups.finish();
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// After a full read: everything in scope is known, and it counts as a check.
pub fn remember_full(seen: &Seen) {
    state::set(KNOWN_USERS, &seen.users.encode());
    state::set(KNOWN_GROUPS, &seen.groups.encode());
    state::set(LAST_CHECK, now().to_string().as_bytes());
}

/// After an incremental read without a check: add what it read.
pub fn remember_more(seen: &Seen) {
    for (key, ids) in [(KNOWN_USERS, &seen.users), (KNOWN_GROUPS, &seen.groups)] {
        if ids.is_empty() {
            continue;
        }
        let mut known = load(key);
        let before = known.len();
        known.extend(ids);
        if known.len() != before {
            state::set(key, &known.encode());
        }
    }
}

/// Whether this incremental run should list the ids.
pub fn due(cfg: &Resolved) -> bool {
    let last = state::get(LAST_CHECK)
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|v| v.parse::<u64>().ok());
    match last {
        // Never checked, or known ids missing (a cursor from an older
        // version): a check now also fills them in.
        None => true,
        Some(at) => now().saturating_sub(at) >= u64::from(cfg.deletion_check_minutes) * 60,
    }
}

/// List the ids in scope, remove the known ones that are gone, and say
/// how many in the run's warnings. `seen` is what this run read already.
pub fn check(cfg: &Resolved, seen: &Seen) -> Result<(), String> {
    let first = state::get(KNOWN_USERS).is_none();
    let users = list_ids(cfg, &cfg.users_base, &cfg.user_filter)?;
    let groups = list_ids(cfg, &cfg.groups_base, &cfg.group_filter)?;
    let gone_users = gone(load(KNOWN_USERS), &users, &seen.users);
    let gone_groups = gone(load(KNOWN_GROUPS), &groups, &seen.groups);
    if !gone_users.is_empty() {
        target::remove(ObjectKind::User, &gone_users)?;
    }
    if !gone_groups.is_empty() {
        target::remove(ObjectKind::Group, &gone_groups)?;
    }
    let message = format!(
        "deletion check: {} users, {} groups gone ({} users and {} groups in scope)",
        gone_users.len(),
        gone_groups.len(),
        users.len(),
        groups.len()
    );
    if first {
        log::info(&format!(
            "{message}; first check: the known ids start from this listing"
        ));
    } else if gone_users.is_empty() && gone_groups.is_empty() {
        log::info(&message);
    } else {
        // A warning lands in the run record.
        log::warn(&message);
    }
    state::set(KNOWN_USERS, &users.encode());
    state::set(KNOWN_GROUPS, &groups.encode());
    state::set(LAST_CHECK, now().to_string().as_bytes());
    Ok(())
}

fn gone(known: Ids, listed: &Ids, read: &Ids) -> Vec<String> {
    known
        .iter()
        .filter(|id| !listed.contains(id) && !read.contains(id))
        .collect()
}

/// The ids of everything a filter finds: a paged search for the id alone.
fn list_ids(cfg: &Resolved, base: &str, filter: &str) -> Result<Ids, String> {
    let mut req = search::request(cfg, base, filter, vec![cfg.id_attr.clone()]);
    req.page_size = req.page_size.max(1000);
    let mut ids = Ids::default();
    search::each_page(&req, |page| {
        page.iter()
            .filter_map(|e| entries::id_of(e, &cfg.id_attr))
            .for_each(|id| ids.insert(&id));
        Ok(())
    })?;
    ids.finish();
    Ok(ids)
}

fn load(key: &str) -> Ids {
    state::get(key).map(|b| Ids::decode(&b)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_ids_that_are_neither_listed_nor_read_are_gone() {
        let set = |v: &[&str]| {
            let mut ids = Ids::default();
            v.iter().for_each(|id| ids.insert(id));
            ids.finish();
            ids
        };
        let got = gone(set(&["a", "b", "c"]), &set(&["a"]), &set(&["c"]));
        assert_eq!(got, vec!["b".to_string()]);
    }
}
