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
    let stored = &current.memberships;
    let mut start = 0;
    while start < stored.len() {
        let group = &stored[start].0;
        let len = stored[start..]
            .iter()
            .position(|(g, _)| !Arc::ptr_eq(g, group))
            .unwrap_or(stored.len() - start);
        if sent.contains(&**group) {
            let run = stored[start..start + len].iter();
            let have = current_members.entry(&**group).or_default();
            have.extend(run.filter_map(|(_, u)| r.users.get(u)));
        }
        start += len;
    }
    // Each group's adds and removes first, so the plan's list is allocated
    // once at its size (at 100k users a doubling would hold ~20 MB twice).
    let mut diffs: Vec<GroupDiff> = Vec::new();
    for (gi, want) in &r.selected {
        let g = &snapshot.groups[*gi];
        let mut have = current_members.remove(g.id.as_str()).unwrap_or_default();
        have.sort_unstable();
        let (mut adds, mut removes) = member_diff(want, &have, r);
        // The plan lists each group's changes by user id (a first sync
        // sorts every membership here; an incremental run, the few it changes).
        adds.sort_unstable_by(|a, b| r.users.id(*a).cmp(r.users.id(*b)));
        removes.sort_unstable_by(|a, b| r.users.id(*a).cmp(r.users.id(*b)));
        if !adds.is_empty() || !removes.is_empty() {
            diffs.push(((&g.id, &g.name), adds, removes));
        }
    }
    if plan.mode == Some(RunMode::Incremental) {
        deleted_users_leave_unread_groups(snapshot, current, policy, r, &mut diffs);
    }
    let total = diffs.iter().map(|(_, a, d)| a.len() + d.len()).sum();
    plan.memberships.reserve_exact(total);
    let mut names = SharedNames::default();
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
    let deleted: FastSet<&str> = snapshot.removed_users.iter().map(String::as_str).collect();
    let unread: FastMap<&str, &str> = unread_groups(snapshot, current, policy)
        .map(|g| (g.source_id.as_str(), g.name.as_str()))
        .collect();
    let mut leaving: FastMap<&str, Vec<u32>> = FastMap::default();
    for (g, u) in &current.memberships {
        if !deleted.contains(&**u) || !unread.contains_key(&**g) {
            continue;
        }
        if let Some(ui) = r.users.get(u).filter(|&ui| r.touchable(ui)) {
            leaving.entry(&**g).or_default().push(ui);
        }
    }
    for (group, mut users) in leaving {
        users.sort_unstable_by(|a, b| r.users.id(*a).cmp(r.users.id(*b)));
        diffs.push(((group, unread[group]), Vec::new(), users));
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

/// Each user's id and name allocated once for all of their membership changes.
#[derive(Default)]
struct SharedNames(FastMap<u32, Arc<Named>>);

impl SharedNames {
    fn user(&mut self, u: u32, r: &Resolved) -> Arc<Named> {
        self.0
            .entry(u)
            .or_insert_with(|| Named::new(r.users.id(u), r.username(u)))
            .clone()
    }
}
