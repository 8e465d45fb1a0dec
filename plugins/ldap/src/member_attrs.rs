//! Which member attributes the directory's groups use (`member`,
//! `uniqueMember`, `memberUid`), kept in the plugin's state, so that finding
//! the groups of changed users searches only those. A term on an attribute
//! no group uses is not free: slapd evaluates an unindexed one against every
//! group's values (50 users' groups took 0.13 s instead of 0.02 s at 100k).
//!
//! Exact: a full read sets the attributes from every group it read, and an
//! incremental read adds those of the groups it read. A group using another
//! attribute must have been created or changed since, and then the change
//! search sends it anyway.

use usersync_sdk::host::ldap::{self, EntryRef, Page};
use usersync_sdk::host::state;

use crate::config::Resolved;
use crate::search;

const KEY: &str = "member-attributes";

pub const MEMBER: u8 = 1;
pub const UNIQUE_MEMBER: u8 = 2;
pub const MEMBER_UID: u8 = 4;
const ALL: u8 = MEMBER | UNIQUE_MEMBER | MEMBER_UID;

/// The member attributes `e` has values of.
pub fn of(e: EntryRef<'_>) -> u8 {
    e.attributes()
        .filter(|a| !a.is_empty())
        .map(|a| {
            let name = a.name().split(';').next().unwrap_or_default();
            if name.eq_ignore_ascii_case("member") {
                MEMBER
            } else if name.eq_ignore_ascii_case("uniqueMember") {
                UNIQUE_MEMBER
            } else if name.eq_ignore_ascii_case("memberUid") {
                MEMBER_UID
            } else {
                0
            }
        })
        .fold(0, |acc, f| acc | f)
}

/// What the last runs saw; every attribute when nothing is known.
pub fn load() -> u8 {
    match state::get(KEY).as_deref() {
        Some([flags]) => flags & ALL,
        _ => ALL,
    }
}

pub fn save(flags: u8) {
    state::set(KEY, &[flags & ALL]);
}

/// Whether any group in scope lists members by username (`memberUid`):
/// one search that stops at the first such group. Its posixGroup term
/// keeps the server on the objectClass index (`memberUid` is posixGroup's
/// attribute); a presence test alone would read every group.
pub fn any_member_uid(cfg: &Resolved) -> Result<bool, String> {
    let filter = format!(
        "(&{}(objectClass=posixGroup)(memberUid=*))",
        cfg.group_filter
    );
    let mut req = search::request(cfg, &cfg.groups_base, &filter, vec!["1.1".into()]);
    req.page_size = 1;
    let found = ldap::open_search(&req)?;
    let mut page = Page::new();
    found.read_page(&mut page)?;
    // Dropping the search abandons the rest on the server.
    Ok(!page.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use usersync_sdk::host::ldap::{Entry, Page};
    use usersync_sdk::{AttrValue, Attribute};

    fn of_entry(attrs: &[(&str, usize)]) -> u8 {
        let page = Page::from_entries(&[entry(attrs)]);
        of(page.get(0).unwrap())
    }

    fn entry(attrs: &[(&str, usize)]) -> Entry {
        Entry {
            dn: "cn=g,dc=example,dc=com".into(),
            attributes: attrs
                .iter()
                .map(|(name, n)| Attribute {
                    name: name.to_string(),
                    values: vec![AttrValue::Text("x".into()); *n],
                })
                .collect(),
            change: None,
        }
    }

    #[test]
    fn an_entry_names_the_member_attributes_it_has_values_of() {
        assert_eq!(of_entry(&[("cn", 1), ("member", 2)]), MEMBER);
        assert_eq!(
            of_entry(&[("uniquemember", 1), ("memberUid", 1)]),
            UNIQUE_MEMBER | MEMBER_UID
        );
        assert_eq!(of_entry(&[("member;range=0-1499", 1500)]), MEMBER);
        assert_eq!(of_entry(&[("member", 0)]), 0);
    }
}
