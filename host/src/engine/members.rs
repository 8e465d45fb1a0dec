//! Membership changes: the diff of each group the read sent against its
//! stored members, and, in incremental runs, users the source deleted
//! leaving the groups it did not send.

use std::sync::Arc;

use super::groups::{unread_groups, Resolved};
use super::plan::{MembershipChange, Named, Plan};
use super::{Current, FastMap, FastSet, Policy, RunMode, Snapshot};

/// One group's changes: (its id and name, users to add, users to remove).
type GroupDiff<'a> = ((&'a str, &'a str), Vec<u32>, Vec<u32>);

pub(super) fn diff(
    snapshot: &Snapshot,
    current: &Current,
    policy: &Policy,
    r: &Resolved,
    plan: &mut Plan,
) {
    // Stored members of each group the read sent, each side sorted by
    // user number below. The store lists memberships group by group, so each
    // run of one group is looked up once (an incremental run sends few).
    let sent: FastSet<&str> = r
        .selected
        .iter()
        .map(|(gi, _)| snapshot.groups[*gi].id.as_str())
        .collect();
    let mut current_members: FastMap<&str, Vec<u32>> = FastMap::default();
    for run in current.memberships.chunk_by(|a, b| a.0 == b.0) {
        let group = current.groups[run[0].0 as usize].source_id.as_str();
        if sent.contains(group) {
            let have = current_members.entry(group).or_default();
            have.extend(run.iter().map(|&(_, u)| r.stored_numbers[u as usize]));
        }
    }
    // Each group's adds and removes first, so the plan's list is allocated
    // once at its size (at 100k users a doubling would hold ~20 MB twice).
    let mut diffs: Vec<GroupDiff> = Vec::new();
    for (gi, want) in &r.selected {
        let g = &snapshot.groups[*gi];
        let mut have = current_members.remove(g.id.as_str()).unwrap_or_default();
        have.sort_unstable();
        let (adds, removes) = member_diff(want, &have, r);
        if !adds.is_empty() || !removes.is_empty() {
            diffs.push(((&g.id, &g.name), adds, removes));
        }
    }
    // The plan lists each group's changes by user id (a first sync sorts
    // every membership here; an incremental run, the few it changes).
    let changes = diffs.iter().map(|(_, a, d)| a.len() + d.len()).sum();
    let by_id = IdOrder::new(r, changes);
    for (_, adds, removes) in &mut diffs {
        by_id.sort(adds, r);
        by_id.sort(removes, r);
    }
    if plan.mode == Some(RunMode::Incremental) {
        deleted_users_leave_unread_groups(snapshot, current, policy, r, &mut diffs);
    }
    let total = diffs.iter().map(|(_, a, d)| a.len() + d.len()).sum();
    plan.memberships.reserve_exact(total);
    let mut names = SharedNames::new(r);
    for ((id, name), adds, removes) in diffs {
        let group = Named::new(id, name);
        let changes = adds
            .into_iter()
            .map(|u| (u, true))
            .chain(removes.into_iter().map(|u| (u, false)));
        for (u, add) in changes {
            let user = names.user(u, r);
            plan.memberships
                .push(MembershipChange::new(group.clone(), user, add));
        }
    }
}

/// A user the source deleted is in no group. An incremental read sends only
/// the groups that changed, and a deleted user's groups need not be among
/// them (OpenLDAP's refint takes the user out of its groups without that
/// showing in a sync search), so its stored memberships of the groups the
/// read did not send end here.
fn deleted_users_leave_unread_groups<'a>(
    snapshot: &'a Snapshot,
    current: &'a Current,
    policy: &'a Policy,
    r: &Resolved,
    diffs: &mut Vec<GroupDiff<'a>>,
) {
    if snapshot.removed_users.is_empty() || !r.departures_allowed {
        return;
    }
    // By index in `current.users` and `current.groups`: the stored
    // memberships are walked whole, and flags cost no hashing.
    let mut deleted = vec![false; current.users.len()];
    for id in &snapshot.removed_users {
        if let Some(k) = r.users.get(id).and_then(|i| r.stored_at[i as usize]) {
            deleted[k as usize] = true;
        }
    }
    let mut unread = vec![false; current.groups.len()];
    for (g, _) in unread_groups(snapshot, current, policy) {
        unread[g] = true;
    }
    let mut leaving: std::collections::BTreeMap<u32, Vec<u32>> = Default::default();
    for &(g, u) in &current.memberships {
        let ui = r.stored_numbers[u as usize];
        if deleted[u as usize] && unread[g as usize] && r.touchable(ui) {
            leaving.entry(g).or_default().push(ui);
        }
    }
    for (g, mut users) in leaving {
        let group = &current.groups[g as usize];
        users.sort_unstable_by(|a, b| r.users.id(*a).cmp(r.users.id(*b)));
        diffs.push(((&group.source_id, &group.name), Vec::new(), users));
    }
}

/// The users to add to a group and to remove from it: `want` and `have`
/// are both sorted by user number. Only users with a name after the run
/// are added, and only touchable ones removed.
fn member_diff(want: &[u32], have: &[u32], r: &Resolved) -> (Vec<u32>, Vec<u32>) {
    let (mut a, mut b) = (0, 0);
    let mut adds = Vec::new();
    let mut removes = Vec::new();
    while a < want.len() || b < have.len() {
        let order = match (want.get(a), have.get(b)) {
            (Some(w), Some(h)) => w.cmp(h),
            (Some(_), None) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        };
        match order {
            std::cmp::Ordering::Less => {
                let u = want[a];
                if r.usernames[u as usize].is_some() {
                    adds.push(u);
                }
                a += 1;
            }
            std::cmp::Ordering::Greater => {
                let u = have[b];
                if r.touchable(u) {
                    removes.push(u);
                }
                b += 1;
            }
            std::cmp::Ordering::Equal => {
                a += 1;
                b += 1;
            }
        }
    }
    (adds, removes)
}

/// Sorts user numbers by user id. Comparing two ids reads two strings
/// from anywhere in memory: a first sync of 1M users sorted its 6M
/// memberships that way, and it was most of planning's growth from 100k to
/// 1M users. When the changes to sort outnumber the users, each user's
/// place in id order is found once, and numbers sort by place (ids are
/// unique, so the order is the same).
enum IdOrder {
    Ids,
    Places(Vec<u32>),
}

impl IdOrder {
    fn new(r: &Resolved, changes: usize) -> IdOrder {
        let n = r.users.len();
        if changes <= n {
            return IdOrder::Ids;
        }
        let mut numbers: Vec<u32> = (0..n as u32).collect();
        numbers.sort_unstable_by(|a, b| r.users.id(*a).cmp(r.users.id(*b)));
        let mut places = vec![0u32; n];
        for (place, &u) in numbers.iter().enumerate() {
            places[u as usize] = place as u32;
        }
        IdOrder::Places(places)
    }

    fn sort(&self, users: &mut [u32], r: &Resolved) {
        match self {
            IdOrder::Ids => users.sort_unstable_by(|a, b| r.users.id(*a).cmp(r.users.id(*b))),
            IdOrder::Places(places) => users.sort_unstable_by_key(|&u| places[u as usize]),
        }
    }
}

/// Each user's id and name allocated once for all of their membership
/// changes, by user number (a list, not a map: a first sync names them all).
struct SharedNames(Vec<Option<Arc<Named>>>);

impl SharedNames {
    fn new(r: &Resolved) -> SharedNames {
        SharedNames(vec![None; r.users.len()])
    }

    fn user(&mut self, u: u32, r: &Resolved) -> Arc<Named> {
        self.0[u as usize]
            .get_or_insert_with(|| Named::new(r.users.id(u), r.username(u)))
            .clone()
    }
}
