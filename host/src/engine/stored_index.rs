//! The store's users by source id and by ref, built once per load.
//!
//! Planning numbers every user it knows and finds users by the refs group
//! members name. For the store's users that meant two hash maps of 100k
//! entries built after the read, on the run's critical path (~60 ms at
//! 100k users, most of an incremental run's plan). The load builds this
//! index instead, while the connector still reads; its tables hold only
//! user indexes and compare against the users' own strings, so nothing is
//! copied.

use std::hash::BuildHasher;

use hashbrown::HashTable;

use super::StoredUser;

#[derive(Debug, Clone, Default)]
pub struct StoredIndex {
    hasher: foldhash::fast::RandomState,
    /// Index in `users` of each source id.
    ids: HashTable<u32>,
    /// Each ref a member list may name (a source id, or the ref key of a
    /// user still in its source) and whose it is: `index << 1 | is_ref_key`.
    refs: HashTable<u32>,
    /// How many users it indexes (a sanity check against a stale index).
    len: usize,
}

impl StoredIndex {
    pub fn build(users: &[StoredUser]) -> StoredIndex {
        let mut index = StoredIndex {
            ids: HashTable::with_capacity(users.len()),
            refs: HashTable::with_capacity(2 * users.len()),
            len: users.len(),
            ..StoredIndex::default()
        };
        for (k, u) in users.iter().enumerate() {
            let k = k as u32;
            let hasher = &index.hasher;
            upsert(
                &mut index.ids,
                hasher.hash_one(u.source_id.as_str()),
                |i| users[i as usize].source_id == u.source_id,
                |i| hasher.hash_one(users[i as usize].source_id.as_str()),
                k,
            );
            // In the order planning used to insert them, the later winning:
            // a user's source id, then its ref key. A user that left the
            // source has no ref there any more: its old one (often its
            // username, which a new hire may now hold) names somebody else.
            index.set_ref(users, &u.source_id, k << 1);
            if !u.ref_key.is_empty() && u.in_source {
                index.set_ref(users, &u.ref_key, (k << 1) | 1);
            }
        }
        index
    }

    fn set_ref(&mut self, users: &[StoredUser], key: &str, value: u32) {
        let hasher = &self.hasher;
        upsert(
            &mut self.refs,
            hasher.hash_one(key),
            |e| ref_of(users, e) == key,
            |e| hasher.hash_one(ref_of(users, e)),
            value,
        );
    }

    /// Whether this index was built for `users`.
    pub fn indexes(&self, users: &[StoredUser]) -> bool {
        self.len == users.len()
    }

    /// The index in `users` of the user with source id `id`.
    pub fn user(&self, users: &[StoredUser], id: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(id);
        self.ids
            .find(hash, |&i| users[i as usize].source_id == id)
            .copied()
    }

    /// The index in `users` of the user `r` names (a source id or a ref key).
    pub fn by_ref(&self, users: &[StoredUser], r: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(r);
        self.refs
            .find(hash, |&e| ref_of(users, e) == r)
            .map(|&e| e >> 1)
    }
}

/// Set the entry `eq` finds to `value`, or add it: the later wins.
fn upsert(
    table: &mut HashTable<u32>,
    hash: u64,
    eq: impl Fn(u32) -> bool,
    rehash: impl Fn(u32) -> u64,
    value: u32,
) {
    match table.entry(hash, |&e| eq(e), |&e| rehash(e)) {
        hashbrown::hash_table::Entry::Occupied(mut e) => *e.get_mut() = value,
        hashbrown::hash_table::Entry::Vacant(e) => {
            e.insert(value);
        }
    }
}

fn ref_of(users: &[StoredUser], entry: u32) -> &str {
    let u = &users[(entry >> 1) as usize];
    if entry & 1 == 1 {
        &u.ref_key
    } else {
        &u.source_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, ref_key: &str, in_source: bool) -> StoredUser {
        StoredUser {
            source_id: id.into(),
            ref_key: ref_key.into(),
            in_source,
            ..StoredUser::default()
        }
    }

    #[test]
    fn finds_users_by_id_and_by_the_refs_of_users_still_in_the_source() {
        let users = vec![
            user("u1", "uid=ann", true),
            user("u2", "uid=bob", false),
            user("u3", "", true),
        ];
        let index = StoredIndex::build(&users);
        assert!(index.indexes(&users));
        assert_eq!(index.user(&users, "u2"), Some(1));
        assert_eq!(index.user(&users, "uid=ann"), None, "a ref is not an id");
        assert_eq!(index.by_ref(&users, "uid=ann"), Some(0));
        assert_eq!(index.by_ref(&users, "u3"), Some(2));
        assert_eq!(index.by_ref(&users, "uid=bob"), None, "a leaver's ref");
        assert_eq!(index.by_ref(&users, "u2"), Some(1), "its id still names it");
    }

    #[test]
    fn a_later_users_ref_wins_as_in_insertion_order() {
        // u2's ref key is u1's source id: inserted later, it wins.
        let users = vec![user("u1", "", true), user("u2", "u1", true)];
        let index = StoredIndex::build(&users);
        assert_eq!(index.by_ref(&users, "u1"), Some(1));
        assert_eq!(index.user(&users, "u1"), Some(0));
    }
}
