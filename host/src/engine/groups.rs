//! Groups: which are selected, their effective (nested) members, the group
//! scope, and the group changes themselves.
//!
//! Users are numbered once per plan ([`UserTable`]: the snapshot's users,
//! then the store's); everything here works on those numbers and on
//! borrowed ids, so planning 100k users and 450k memberships copies no
//! strings until it writes the plan.

mod edges;

use super::plan::{FieldChange, GroupChange, Plan, Stop};
use super::{Current, FastMap, FastSet, GroupSelection, Policy, RunMode, Snapshot, StoredGroup};

/// Every user id this plan knows, numbered: the store's users first, each
/// numbered by its index in `current.users` (found through the index the
/// load built), then the read's users the store does not hold.
#[derive(Debug, Default)]
pub(super) struct UserTable<'a> {
    pub ids: Vec<&'a str>,
    stored: &'a [super::StoredUser],
    index: Option<&'a super::StoredIndex>,
    /// The read's users the store does not hold.
    new: FastMap<&'a str, u32>,
}

impl<'a> UserTable<'a> {
    fn of_store(current: &'a Current, extra: usize) -> UserTable<'a> {
        let mut ids = Vec::with_capacity(current.users.len() + extra);
        ids.extend(current.users.iter().map(|u| u.source_id.as_str()));
        // Sized for a first sync, where every read user is new: growing a
        // map of 1M entries would rehash it, and hold both tables at once.
        let new = FastMap::with_capacity_and_hasher(extra, Default::default());
        UserTable {
            ids,
            stored: &current.users,
            index: Some(current.stored_index()),
            new,
        }
    }
    fn add(&mut self, id: &'a str) -> u32 {
        if let Some(i) = self.get(id) {
            return i;
        }
        let next = self.ids.len() as u32;
        self.ids.push(id);
        self.new.insert(id, next);
        next
    }
    pub fn get(&self, id: &str) -> Option<u32> {
        let stored = self.index.and_then(|x| x.user(self.stored, id));
        stored.or_else(|| self.new.get(id).copied())
    }
    pub fn id(&self, i: u32) -> &'a str {
        self.ids[i as usize]
    }
    pub fn len(&self) -> usize {
        self.ids.len()
    }
}

/// Any user ref (id or ref key) -> user number: the read's ref keys, the
/// store's ids and refs (the index the load built), then the ids of the
/// read's users new to the store. Ids are not copied in here: the
/// [`UserTable`] already finds them, and at 1M users a map of ids and ref
/// keys took 100 MB. Members name users by ref key, so most lookups end at
/// the first map, and an incremental run's members of unchanged users at
/// the second.
#[derive(Debug, Default)]
pub(super) struct UserRefs<'a> {
    read_ref_keys: FastMap<&'a str, u32>,
}

impl UserRefs<'_> {
    pub fn get(&self, r: &str, users: &UserTable) -> Option<u32> {
        let read = self.read_ref_keys.get(r).copied();
        // A stored user's number is its index in `current.users`.
        read.or_else(|| users.index.and_then(|x| x.by_ref(users.stored, r)))
            .or_else(|| users.new.get(r).copied())
    }
}

/// What group resolution found, shared by the later steps of planning.
#[derive(Debug, Default)]
pub(super) struct Resolved<'a> {
    pub users: UserTable<'a>,
    /// Selected groups present in the source (index into `snapshot.groups`,
    /// in order) with their effective user members (nested resolved),
    /// sorted by user number.
    pub selected: Vec<(usize, Vec<u32>)>,
    /// `Some` when only members of selected groups are in scope.
    pub scope: Option<Vec<bool>>,
    /// Any user ref (id or ref key) -> user.
    pub user_refs: UserRefs<'a>,
    /// Filled by the user diff: who is active after the run, and names.
    pub active_after: Vec<bool>,
    pub usernames: Vec<Option<&'a str>>,
    /// Users this run must not touch (conflicts, unreadable records).
    pub untouchable: Vec<bool>,
    /// Each stored user's number, in `current.users` order.
    pub stored_numbers: Vec<u32>,
    /// Each read user's number, in `snapshot.users` order (a user the
    /// source sent twice has its first record's number).
    pub snapshot_numbers: Vec<u32>,
    /// Each number's stored user (its index in `current.users`), if any:
    /// array reads instead of a second map of 100k ids.
    pub stored_at: Vec<Option<u32>>,
    /// A complete, non-empty full read: things missing from it are gone.
    pub departures_allowed: bool,
}

impl<'a> Resolved<'a> {
    pub fn username(&self, user: u32) -> &'a str {
        self.usernames[user as usize].unwrap_or_else(|| self.users.id(user))
    }

    pub fn touchable(&self, user: u32) -> bool {
        !self.untouchable[user as usize]
    }

    pub fn untouch(&mut self, id: &str) {
        if let Some(i) = self.users.get(id) {
            self.untouchable[i as usize] = true;
        }
    }

    /// The stored user with source id `id`, if the store holds one.
    pub fn stored(&self, current: &'a super::Current, id: &str) -> Option<&'a super::StoredUser> {
        let k = self.stored_at[self.users.get(id)? as usize]?;
        Some(&current.users[k as usize])
    }

    pub fn in_scope(&self, user: u32) -> bool {
        self.scope.as_ref().is_none_or(|s| s[user as usize])
    }
}

/// `taken_members`: the groups' member lists, when the caller took them
/// out of the snapshot so they are freed here, once resolved (455k refs at
/// 100k users, a third of a read); `None` reads them in the snapshot.
pub(super) fn resolve<'a>(
    snapshot: &'a Snapshot,
    taken_members: Option<Vec<Vec<String>>>,
    current: &'a Current,
    policy: &Policy,
    mode: RunMode,
    plan: &mut Plan,
) -> Resolved<'a> {
    let mut r = Resolved::default();
    let mut users = UserTable::of_store(current, snapshot.users.len());
    let snapshot_numbers: Vec<u32> = snapshot.users.iter().map(|u| users.add(&u.id)).collect();
    let mut read_ref_keys: FastMap<&'a str, u32> =
        FastMap::with_capacity_and_hasher(snapshot.users.len(), Default::default());
    for (u, &i) in snapshot.users.iter().zip(&snapshot_numbers) {
        if !u.ref_key.is_empty() {
            read_ref_keys.insert(&u.ref_key, i);
        }
    }
    let user_refs = UserRefs { read_ref_keys };
    let n_users = users.len();
    r.active_after = vec![false; n_users];
    r.usernames = vec![None; n_users];
    r.untouchable = vec![false; n_users];
    r.stored_numbers = (0..current.users.len() as u32).collect();
    r.stored_at = (0..n_users as u32)
        .map(|i| ((i as usize) < current.users.len()).then_some(i))
        .collect();

    // Group refs -> index into snapshot.groups.
    let mut group_refs: FastMap<&str, usize> = FastMap::default();
    for (i, g) in snapshot.groups.iter().enumerate() {
        group_refs.insert(&g.id, i);
        if !g.ref_key.is_empty() {
            group_refs.insert(&g.ref_key, i);
        }
    }
    // Direct edges, from both directions of the source's data.
    let n = snapshot.groups.len();
    let member_lists: Vec<&[String]> = match &taken_members {
        Some(taken) => taken.iter().map(Vec::as_slice).collect(),
        None => snapshot
            .groups
            .iter()
            .map(|g| g.members.as_slice())
            .collect(),
    };
    let (mut child_groups, mut direct_users) =
        edges::of_members(&member_lists, &group_refs, &|m| user_refs.get(m, &users));
    drop(member_lists);
    for (i, g) in snapshot.groups.iter().enumerate() {
        for parent in &g.member_of {
            if let Some(&p) = group_refs.get(parent.as_str()) {
                child_groups[p].push(i);
            }
        }
    }
    if let Some(taken) = taken_members {
        super::drop_in_background(taken);
    }
    for (u, &ui) in snapshot.users.iter().zip(&snapshot_numbers) {
        if u.member_of.is_empty() {
            continue;
        }
        for g in &u.member_of {
            if let Some(&gi) = group_refs.get(g.as_str()) {
                direct_users[gi].push(ui);
            }
        }
    }

    let mut seen = vec![false; n];
    let mut visited: Vec<usize> = Vec::new();
    for i in (0..n).filter(|&i| policy.groups.selects(&snapshot.groups[i].name)) {
        // Depth-first over nested groups; `seen` makes cycles harmless.
        let mut members: Vec<u32> = Vec::new();
        let mut stack = vec![i];
        while let Some(g) = stack.pop() {
            if std::mem::replace(&mut seen[g], true) {
                continue;
            }
            visited.push(g);
            members.extend_from_slice(&direct_users[g]);
            stack.extend(child_groups[g].iter().copied());
        }
        for g in visited.drain(..) {
            seen[g] = false;
        }
        // By number, not by id: comparing numbers sorts a 50k-member
        // group several times faster. The diff orders its changes by id.
        members.sort_unstable();
        members.dedup();
        r.selected.push((i, members));
    }
    r.users = users;
    r.user_refs = user_refs;
    r.snapshot_numbers = snapshot_numbers;

    if policy.scope_by_groups {
        let nothing_selected = match &policy.groups {
            GroupSelection::None => true,
            GroupSelection::All => false,
            GroupSelection::Selected { names, pattern } => names.is_empty() && pattern.is_none(),
        };
        if nothing_selected {
            plan.stop = Some(Stop::NoGroupSelected);
            return r;
        }
        if r.selected.is_empty() && mode == RunMode::Full {
            plan.warnings.push(
                "group scope: none of the source's groups matched the selection, so no user is in scope"
                    .into(),
            );
        }
        let mut scope = vec![false; n_users];
        for (_, members) in &r.selected {
            for &u in members {
                scope[u as usize] = true;
            }
        }
        if mode == RunMode::Incremental {
            scope_of_unread_groups(snapshot, current, policy, &r, &mut scope);
        }
        r.scope = Some(scope);
    }
    r
}

/// The active stored groups `policy` selects that this read neither sent
/// nor removed, with their index in `current.groups`: in an incremental
/// run they keep their stored members.
pub(super) fn unread_groups<'a>(
    snapshot: &'a Snapshot,
    current: &'a Current,
    policy: &'a Policy,
) -> impl Iterator<Item = (usize, &'a StoredGroup)> {
    let read: FastSet<&str> = snapshot
        .groups
        .iter()
        .map(|g| g.id.as_str())
        .chain(snapshot.removed_groups.iter().map(String::as_str))
        .collect();
    current
        .groups
        .iter()
        .enumerate()
        .filter(move |(_, g)| g.active && !read.contains(g.source_id.as_str()))
        .filter(|(_, g)| policy.groups.selects(&g.name))
}

/// An incremental read sends only the groups that changed: the selected
/// groups it did not read (nor remove) still scope their stored members in.
fn scope_of_unread_groups(
    snapshot: &Snapshot,
    current: &Current,
    policy: &Policy,
    r: &Resolved,
    scope: &mut [bool],
) {
    let mut unread = vec![false; current.groups.len()];
    for (g, _) in unread_groups(snapshot, current, policy) {
        unread[g] = true;
    }
    for &(group, user) in &current.memberships {
        if unread[group as usize] {
            scope[r.stored_numbers[user as usize] as usize] = true;
        }
    }
}

/// Group creates/renames/deactivations and membership changes.
pub(super) fn diff(snapshot: &Snapshot, current: &Current, r: &Resolved, plan: &mut Plan) {
    let stored: FastMap<&str, _> = current
        .groups
        .iter()
        .map(|g| (g.source_id.as_str(), g))
        .collect();
    let mut seen = FastSet::default();
    for (gi, _) in &r.selected {
        let g = &snapshot.groups[*gi];
        seen.insert(g.id.as_str());
        match stored.get(g.id.as_str()) {
            None => plan.groups.push(GroupChange::Create {
                source_id: g.id.clone(),
                ref_key: g.ref_key.clone(),
                name: g.name.clone(),
                description: g.description.clone(),
            }),
            Some(s) => {
                let mut changes = Vec::new();
                if s.name != g.name {
                    changes.push(change("name", Some(&s.name), Some(&g.name)));
                }
                if g.description.is_some() && s.description != g.description {
                    changes.push(change(
                        "description",
                        s.description.as_deref(),
                        g.description.as_deref(),
                    ));
                }
                if !s.active {
                    plan.groups.push(GroupChange::Reactivate {
                        source_id: g.id.clone(),
                        name: g.name.clone(),
                    });
                }
                if !changes.is_empty() || s.ref_key != g.ref_key {
                    plan.groups.push(GroupChange::Update {
                        source_id: g.id.clone(),
                        name: g.name.clone(),
                        ref_key: g.ref_key.clone(),
                        changes,
                    });
                }
            }
        }
    }
    if plan.mode == Some(RunMode::Full) && r.departures_allowed {
        for s in &current.groups {
            if s.active && !seen.contains(s.source_id.as_str()) {
                plan.groups.push(GroupChange::Deactivate {
                    source_id: s.source_id.clone(),
                    name: s.name.clone(),
                });
            }
        }
    }
    // Incremental reads name the groups deleted in the source (content
    // sync, tombstones, the LDAP id listing): deactivate those.
    if plan.mode == Some(RunMode::Incremental)
        && r.departures_allowed
        && !snapshot.removed_groups.is_empty()
    {
        let removed: FastSet<&str> = snapshot.removed_groups.iter().map(String::as_str).collect();
        for s in &current.groups {
            let id = s.source_id.as_str();
            if s.active && removed.contains(id) && !seen.contains(id) {
                plan.groups.push(GroupChange::Deactivate {
                    source_id: s.source_id.clone(),
                    name: s.name.clone(),
                });
            }
        }
    }
}

pub(super) fn change(field: &str, old: Option<&str>, new: Option<&str>) -> FieldChange {
    FieldChange {
        field: field.to_string(),
        old: old.map(str::to_string),
        new: new.map(str::to_string),
    }
}
