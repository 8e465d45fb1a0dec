//! Groups: which are selected, their effective (nested) members, the group
//! scope, and the group changes themselves.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::plan::{FieldChange, GroupChange, MembershipChange, Plan, Stop};
use super::{Current, GroupSelection, Policy, RunMode, Snapshot};
use crate::model::SourceGroup;

/// What group resolution found, shared by the later steps of planning.
#[derive(Debug, Default)]
pub(super) struct Resolved {
    /// Selected groups present in the source: (source id, name), in order.
    pub group_names: Vec<(String, String)>,
    pub selected: Vec<SourceGroup>,
    /// Effective user members of each selected group (nested resolved).
    pub members: HashMap<String, BTreeSet<String>>,
    /// `Some` when only members of selected groups are in scope.
    pub scope: Option<HashSet<String>>,
    /// Any user ref (id or ref key) -> user source id.
    pub user_refs: HashMap<String, String>,
    /// Filled by the user diff: who is active after the run, and names.
    pub active_after: HashSet<String>,
    pub usernames: HashMap<String, String>,
    /// Users this run must not touch (conflicts, unreadable records).
    pub untouchable: HashSet<String>,
    /// A complete, non-empty full read: things missing from it are gone.
    pub departures_allowed: bool,
}

impl Resolved {
    pub fn username(&self, user: &str) -> String {
        self.usernames
            .get(user)
            .cloned()
            .unwrap_or_else(|| user.to_string())
    }

    pub fn touchable(&self, user: &str) -> bool {
        !self.untouchable.contains(user)
    }
}

pub(super) fn resolve(
    snapshot: &Snapshot,
    current: &Current,
    policy: &Policy,
    mode: RunMode,
    plan: &mut Plan,
) -> Resolved {
    let mut r = Resolved::default();
    for u in &current.users {
        r.user_refs.insert(u.source_id.clone(), u.source_id.clone());
        if !u.ref_key.is_empty() {
            r.user_refs.insert(u.ref_key.clone(), u.source_id.clone());
        }
    }
    for u in &snapshot.users {
        r.user_refs.insert(u.id.clone(), u.id.clone());
        if !u.ref_key.is_empty() {
            r.user_refs.insert(u.ref_key.clone(), u.id.clone());
        }
    }

    // Group refs -> index into snapshot.groups.
    let mut group_refs: HashMap<&str, usize> = HashMap::new();
    for (i, g) in snapshot.groups.iter().enumerate() {
        group_refs.insert(&g.id, i);
        if !g.ref_key.is_empty() {
            group_refs.insert(&g.ref_key, i);
        }
    }
    // Direct edges, from both directions of the source's data.
    let n = snapshot.groups.len();
    let mut child_groups: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut direct_users: Vec<Vec<&str>> = vec![Vec::new(); n];
    for (i, g) in snapshot.groups.iter().enumerate() {
        for m in &g.members {
            if let Some(&child) = group_refs.get(m.as_str()) {
                child_groups[i].push(child);
            } else if let Some(uid) = r.user_refs.get(m) {
                direct_users[i].push(uid);
            }
        }
        for parent in &g.member_of {
            if let Some(&p) = group_refs.get(parent.as_str()) {
                child_groups[p].push(i);
            }
        }
    }
    for u in &snapshot.users {
        for g in &u.member_of {
            if let Some(&gi) = group_refs.get(g.as_str()) {
                direct_users[gi].push(&u.id);
            }
        }
    }

    let selected: Vec<usize> = (0..n)
        .filter(|&i| policy.groups.selects(&snapshot.groups[i].name))
        .collect();
    for &i in &selected {
        // Depth-first over nested groups; `seen` makes cycles harmless.
        let mut users = BTreeSet::new();
        let mut seen = vec![false; n];
        let mut stack = vec![i];
        while let Some(g) = stack.pop() {
            if std::mem::replace(&mut seen[g], true) {
                continue;
            }
            users.extend(direct_users[g].iter().map(|u| u.to_string()));
            stack.extend(child_groups[g].iter().copied());
        }
        let g = &snapshot.groups[i];
        r.members.insert(g.id.clone(), users);
        r.group_names.push((g.id.clone(), g.name.clone()));
        r.selected.push(g.clone());
    }

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
        if selected.is_empty() && mode == RunMode::Full {
            plan.warnings.push(
                "group scope: none of the source's groups matched the selection, so no user is in scope"
                    .into(),
            );
        }
        r.scope = Some(r.members.values().flatten().cloned().collect());
    }
    r
}

/// Group creates/renames/deactivations and membership changes.
pub(super) fn diff(current: &Current, r: &Resolved, plan: &mut Plan) {
    let stored: HashMap<&str, _> = current
        .groups
        .iter()
        .map(|g| (g.source_id.as_str(), g))
        .collect();
    let mut seen = HashSet::new();
    for g in &r.selected {
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

    // Memberships of the groups this run read.
    let mut current_members: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    for (g, u) in &current.memberships {
        current_members
            .entry(g.as_str())
            .or_default()
            .insert(u.as_str());
    }
    for (gid, name) in &r.group_names {
        let want = &r.members[gid];
        let have = current_members.remove(gid.as_str()).unwrap_or_default();
        for u in want {
            if !have.contains(u.as_str()) && r.usernames.contains_key(u) {
                plan.memberships.push(membership(gid, name, u, r, true));
            }
        }
        for u in have {
            if !want.contains(u) && r.touchable(u) {
                plan.memberships.push(membership(gid, name, u, r, false));
            }
        }
    }
}

fn membership(gid: &str, name: &str, user: &str, r: &Resolved, add: bool) -> MembershipChange {
    MembershipChange {
        group: gid.to_string(),
        group_name: name.to_string(),
        user: user.to_string(),
        username: r.username(user),
        add,
    }
}

pub(super) fn change(field: &str, old: Option<&str>, new: Option<&str>) -> FieldChange {
    FieldChange {
        field: field.to_string(),
        old: old.map(str::to_string),
        new: new.map(str::to_string),
    }
}
