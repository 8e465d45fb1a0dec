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

use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use usersync_sdk::host::{state, target};
use usersync_sdk::{log, ObjectKind};

use crate::config::Resolved;
use crate::{entries, search};

const LAST_CHECK: &str = "deletion-check-at";
const KNOWN_USERS: &str = "known-users";
const KNOWN_GROUPS: &str = "known-groups";

/// The ids of users and groups read in one run.
#[derive(Default)]
pub struct Seen {
    pub users: BTreeSet<String>,
    pub groups: BTreeSet<String>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// After a full read: everything in scope is known, and it counts as a check.
pub fn remember_full(seen: &Seen) {
    state::set(KNOWN_USERS, &encode(&seen.users));
    state::set(KNOWN_GROUPS, &encode(&seen.groups));
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
        known.extend(ids.iter().cloned());
        if known.len() != before {
            state::set(key, &encode(&known));
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
    state::set(KNOWN_USERS, &encode(&users));
    state::set(KNOWN_GROUPS, &encode(&groups));
    state::set(LAST_CHECK, now().to_string().as_bytes());
    Ok(())
}

fn gone(
    known: BTreeSet<String>,
    listed: &BTreeSet<String>,
    read: &BTreeSet<String>,
) -> Vec<String> {
    known
        .into_iter()
        .filter(|id| !listed.contains(id) && !read.contains(id))
        .collect()
}

/// The ids of everything a filter finds: a paged search for the id alone.
fn list_ids(cfg: &Resolved, base: &str, filter: &str) -> Result<BTreeSet<String>, String> {
    let mut req = search::request(cfg, base, filter, vec![cfg.id_attr.clone()]);
    req.page_size = req.page_size.max(1000);
    let mut ids = BTreeSet::new();
    search::each_page(&req, |page| {
        ids.extend(page.iter().filter_map(|e| entries::id_of(e, &cfg.id_attr)));
        Ok(())
    })?;
    Ok(ids)
}

fn load(key: &str) -> BTreeSet<String> {
    state::get(key).map(|b| decode(&b)).unwrap_or_default()
}

/// Compact: a UUID/GUID text as its 16 bytes, anything else as
/// length-prefixed text.
fn encode(ids: &BTreeSet<String>) -> Vec<u8> {
    let mut out = Vec::with_capacity(ids.len() * 17 + 1);
    out.push(1); // format version
    for id in ids {
        match uuid_bytes(id) {
            Some(b) => {
                out.push(0);
                out.extend_from_slice(&b);
            }
            None => {
                let len = id.len().min(255);
                out.push(1);
                out.push(len as u8);
                out.extend_from_slice(&id.as_bytes()[..len]);
            }
        }
    }
    out
}

fn decode(b: &[u8]) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    if b.first() != Some(&1) {
        return ids; // unknown format: the next check starts over
    }
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            0 if i + 17 <= b.len() => {
                ids.insert(uuid_text(&b[i + 1..i + 17]));
                i += 17;
            }
            1 if i + 2 <= b.len() => {
                let len = b[i + 1] as usize;
                let end = (i + 2 + len).min(b.len());
                ids.insert(String::from_utf8_lossy(&b[i + 2..end]).into_owned());
                i = end;
            }
            _ => break,
        }
    }
    ids
}

/// `8-4-4-4-12` lowercase hex, as [`entries::id_of`] writes ids.
fn uuid_bytes(id: &str) -> Option<[u8; 16]> {
    let groups: Vec<&str> = id.split('-').collect();
    let lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    if lens != [8, 4, 4, 4, 12] {
        return None;
    }
    let hex: String = groups.concat();
    if !hex
        .bytes()
        .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    {
        return None;
    }
    let mut out = [0u8; 16];
    for (k, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * k..2 * k + 2], 16).ok()?;
    }
    Some(out)
}

fn uuid_text(b: &[u8]) -> String {
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_ids_round_trip_compactly() {
        let ids: BTreeSet<String> = [
            "0f8fad5b-d9cb-469f-a165-70867728950e",
            "7c9e6679-7425-40de-944b-e07fc1f90ae7",
            "not-a-uuid",
            "0F8FAD5B-D9CB-469F-A165-70867728950E-x",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        let bytes = encode(&ids);
        assert_eq!(decode(&bytes), ids);
        assert!(bytes.len() < 2 * 17 + 60);
    }

    #[test]
    fn only_known_ids_that_are_neither_listed_nor_read_are_gone() {
        let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        let got = gone(set(&["a", "b", "c"]), &set(&["a"]), &set(&["c"]));
        assert_eq!(got, vec!["b".to_string()]);
    }
}
