//! Content sync: the changed users whose groups must be sent again. A user
//! the store already holds keeps its memberships of the groups a read does
//! not send, so only users new to it (created, or back in the source) need
//! theirs; the host says which are (`target.known-users`). At 100k users,
//! 1,000 changes touch ~600 users, of which ~150 are new: sending the
//! groups of all of them (the four 50k-member ones among them) was half
//! of the run.

use usersync_sdk::log;

use crate::changes::USERS_BY_SEARCH;

/// A changed user: DN and username (for `memberUid`).
pub type Changed = (String, Option<String>);

/// Ids asked about per call (the contract allows 10,000).
const ASK_EVERY: usize = 1_000;

#[derive(Default)]
pub struct ChangedUsers {
    /// Read, not yet asked about: id, DN, username.
    pending: Vec<(String, Changed)>,
    /// New to the store.
    unknown: Vec<Changed>,
    /// More than [`USERS_BY_SEARCH`] are new: every group is read instead.
    too_many: bool,
}

impl ChangedUsers {
    pub fn push(&mut self, id: &str, dn: &str, username: Option<&str>) {
        if self.too_many {
            return;
        }
        let changed = (dn.to_string(), username.map(str::to_string));
        self.pending.push((id.to_string(), changed));
        if self.pending.len() >= ASK_EVERY {
            self.ask();
        }
    }

    /// The users whose groups go again, or `None` when there are too many
    /// to search for (then every group does).
    pub fn finish(mut self) -> Option<Vec<Changed>> {
        self.ask();
        (!self.too_many).then_some(self.unknown)
    }

    fn ask(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let ids: Vec<String> = self.pending.iter().map(|(id, _)| id.clone()).collect();
        // "Cannot tell" is always safe: those users' groups go again.
        let known = known_users(&ids).unwrap_or_else(|e| {
            log::warn(&format!(
                "the host did not say which users it holds ({e}); their groups are sent again"
            ));
            Vec::new()
        });
        let answers = known.into_iter().chain(std::iter::repeat(false));
        for ((_, changed), known) in self.pending.drain(..).zip(answers) {
            if !known {
                self.unknown.push(changed);
            }
        }
        if self.unknown.len() > USERS_BY_SEARCH {
            self.too_many = true;
            self.unknown = Vec::new();
        }
    }
}

#[cfg(feature = "contract-0-2")]
use usersync_sdk::host::target::known_users;

/// Contract 0.1 has no `known-users`: every changed user's groups go again.
#[cfg(not(feature = "contract-0-2"))]
fn known_users(ids: &[String]) -> Result<Vec<bool>, String> {
    Ok(vec![false; ids.len()])
}
