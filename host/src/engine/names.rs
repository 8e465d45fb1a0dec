//! Names that move: a username a user who left the source gives up to a
//! newcomer (recycled usernames), and the check that every name the run
//! hands out has exactly one holder after it.

use std::cell::OnceCell;

use super::groups::{change, Resolved};
use super::plan::{Conflict, Plan, UserChange};
use super::{Current, FastMap, Snapshot, StoredUser, UsernameOwner};
use crate::model::SourceUser;

/// The username each source id of the read will hold after the run, to
/// tell a real conflict from two users swapping names. Built on first use:
/// it is only asked about a name another user of the job holds, which a
/// run without renames never does (100k inserts saved in a no-op).
pub(super) struct NextNames<'a> {
    snapshot: &'a Snapshot,
    by_id: OnceCell<FastMap<&'a str, &'a str>>,
}

impl<'a> NextNames<'a> {
    pub fn new(snapshot: &'a Snapshot) -> Self {
        NextNames {
            snapshot,
            by_id: OnceCell::new(),
        }
    }

    /// The name the read gives `source_id`; `None` if the read lacks it.
    pub fn of(&self, source_id: &str) -> Option<&'a str> {
        let by_id = self.by_id.get_or_init(|| {
            self.snapshot
                .users
                .iter()
                .map(|u| (u.id.as_str(), u.fields.username.as_str()))
                .collect()
        });
        by_id.get(source_id).copied()
    }
}

/// The user of this job that left the source and holds the name `su`
/// wants, with the name it gets instead (`recycled_usernames = "release"`);
/// `None` when there is none or its new name is taken. `owner`: who holds
/// that name in the store (`current.usernames`, looked up once per user).
pub(super) fn leaver<'a>(
    current: &'a Current,
    r: &Resolved<'a>,
    next_name: &NextNames,
    su: &SourceUser,
    owner: Option<&UsernameOwner>,
) -> Option<(&'a StoredUser, String)> {
    let username = su.fields.username.as_str();
    let Some(UsernameOwner::ThisJob { source_id }) = owner else {
        return None;
    };
    if source_id == &su.id || next_name.of(source_id).is_some() {
        return None; // the holder is this user, or still in the source
    }
    let holder = r.stored(current, source_id)?;
    if holder.active || holder.in_source {
        return None;
    }
    let name = released_name(username, &holder.source_id);
    (!current.usernames.contains_key(&name)).then_some((holder, name))
}

/// Rename a user that left the source out of the way of a new holder of
/// its name (`recycled_usernames = "release"`); audited as a rename.
pub(super) fn release(plan: &mut Plan, holder: &StoredUser, name: String) {
    plan.warnings.push(format!(
        "username {:?} was released for a new source user: the user who held it left the source (id {:?}) and is now {name:?} (sync.recycled_usernames = \"conflict\" keeps names with users who left)",
        holder.fields.username, holder.source_id
    ));
    plan.users.push(UserChange::Update {
        source_id: holder.source_id.clone(),
        username: name.clone(),
        changes: vec![change(
            "username",
            Some(&holder.fields.username),
            Some(&name),
        )],
        meta: None,
    });
}

/// `name~<8 hex digits>`: the hash (FNV-1a) of the leaver's source id keeps
/// the name stable across runs and hosts, and unique in practice.
fn released_name(username: &str, source_id: &str) -> String {
    let hash = source_id.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    format!("{username}~{hash:08x}")
}

/// The username a change gives its user, if it gives one.
fn new_name(u: &UserChange) -> Option<&str> {
    match u {
        UserChange::Create { fields, .. } => Some(fields.username()),
        UserChange::Update { changes, .. } | UserChange::Reactivate { changes, .. } => changes
            .iter()
            .find(|c| c.field == "username")
            .and_then(|c| c.new.as_deref()),
        _ => None,
    }
}

/// Make the run's final usernames unique. The diff lets a user take a name
/// whose holder moves away in this run; when the holder keeps it after all
/// (its own rename refused, its record unreadable or rejected), applying
/// would break the store's unique names and fail every later run. So a
/// create into a name still held becomes a conflict, and a rename into one
/// keeps its old name; that may keep a name another user wanted, so repeat
/// until every name has one holder (each user moves back at most once).
pub(super) fn settle<'a>(current: &'a Current, r: &mut Resolved<'a>, plan: &mut Plan) {
    loop {
        let moved: FastMap<&str, &str> = plan
            .users
            .iter()
            .filter_map(|u| new_name(u).map(|n| (u.source_id(), n)))
            .collect();
        if moved.is_empty() {
            return;
        }
        // Holders of each name a user moves into: its holder in the store
        // unless that one moves away too, and every user moving in. Only
        // these names are checked, so the tenant's other names are not counted.
        let mut holders: FastMap<&str, u32> = FastMap::default();
        for &name in moved.values() {
            *holders
                .entry(name)
                .or_insert_with(|| match current.usernames.get(name) {
                    Some(UsernameOwner::ThisJob { source_id })
                        if moved.contains_key(source_id.as_str()) =>
                    {
                        0
                    }
                    Some(_) => 1,
                    None => 0,
                }) += 1;
        }
        let Some(i) = plan
            .users
            .iter()
            .position(|u| new_name(u).is_some_and(|n| holders[n] > 1))
        else {
            return;
        };
        let source_id = plan.users[i].source_id().to_string();
        let wanted = new_name(&plan.users[i]).unwrap_or_default().to_string();
        let ui = r.users.get(&source_id).map(|i| i as usize);
        let old = r.stored(current, &source_id);
        let message = match (&mut plan.users[i], old) {
            (
                UserChange::Update {
                    changes, username, ..
                },
                Some(old),
            )
            | (
                UserChange::Reactivate {
                    changes, username, ..
                },
                Some(old),
            ) => {
                changes.retain(|c| c.field != "username");
                *username = old.fields.username.clone();
                if let Some(ui) = ui {
                    r.usernames[ui] = Some(old.fields.username.as_str());
                }
                format!(
                    "cannot rename {:?} to {wanted:?}: the name stays with a user who keeps it in this run; the old name stays",
                    old.fields.username
                )
            }
            _ => {
                plan.users.remove(i);
                if let Some(ui) = ui {
                    r.active_after[ui] = false;
                    r.untouchable[ui] = true;
                }
                format!(
                    "username {wanted:?} stays with a user who keeps it in this run; the user was not synced"
                )
            }
        };
        plan.conflicts.push(Conflict {
            source_id,
            username: wanted,
            message,
        });
    }
}
