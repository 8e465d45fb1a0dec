//! Run policy (from the job's `[sync]` table and role bindings), license
//! and role entitlements, and the deactivation safety threshold.

use std::collections::{BTreeSet, HashSet};

use regex::Regex;

use super::groups::Resolved;
use super::plan::{LicenseChange, Plan, RoleChange, Stop, UserChange};
use super::{Current, RunMode, Snapshot};
use crate::config::{GroupMode, LicensePolicy, ScopeMode};

#[derive(Debug, Clone)]
pub struct Policy {
    pub adopt_by_username: bool,
    /// Create users disabled in the source on first sight, deactivated.
    pub create_disabled: bool,
    /// Rename a user that left the source when another claims its name.
    pub release_recycled: bool,
    pub required: Vec<String>,
    pub threshold: Threshold,
    /// Stop when more than this percentage of the records were rejected.
    pub max_rejected_percent: f64,
    /// `--confirm-deletions`: apply even above the threshold.
    pub confirm_deletions: bool,
    pub scope_by_groups: bool,
    pub groups: GroupSelection,
    pub roles: Vec<RoleRule>,
    pub license: Option<LicenseRule>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            adopt_by_username: false,
            create_disabled: false,
            release_recycled: true,
            required: Vec::new(),
            threshold: Threshold {
                count: Some(500),
                percent: None,
            },
            max_rejected_percent: 10.0,
            confirm_deletions: false,
            scope_by_groups: false,
            groups: GroupSelection::All,
            roles: Vec::new(),
            license: None,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Threshold {
    pub count: Option<u64>,
    pub percent: Option<f64>,
}

#[derive(Debug, Clone)]
pub enum GroupSelection {
    All,
    None,
    /// By exact name or by pattern.
    Selected {
        names: HashSet<String>,
        pattern: Option<Regex>,
    },
}

impl GroupSelection {
    pub fn selects(&self, name: &str) -> bool {
        match self {
            GroupSelection::All => true,
            GroupSelection::None => false,
            GroupSelection::Selected { names, pattern } => {
                names.contains(name) || pattern.as_ref().is_some_and(|p| p.is_match(name))
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct RoleRule {
    pub group: Option<String>,
    pub pattern: Option<Regex>,
    pub role: String,
    pub kind: String,
}

impl RoleRule {
    fn matches(&self, group_name: &str) -> bool {
        self.group.as_deref() == Some(group_name)
            || self
                .pattern
                .as_ref()
                .is_some_and(|p| p.is_match(group_name))
    }
}

#[derive(Debug, Clone)]
pub struct LicenseRule {
    pub kind: String,
    pub seats: u32,
    pub policy: LicensePolicy,
}

impl Policy {
    pub fn from_job(job: &crate::config::JobConfig, seats: Option<u32>) -> Policy {
        let s = &job.sync;
        let groups = match s.groups {
            GroupMode::All => GroupSelection::All,
            GroupMode::None => GroupSelection::None,
            GroupMode::Selected => GroupSelection::Selected {
                names: s.group_names.iter().cloned().collect(),
                pattern: s
                    .group_pattern
                    .as_deref()
                    .map(|p| Regex::new(p).expect("validated")),
            },
        };
        // Naming groups implies selecting them.
        let groups = match groups {
            GroupSelection::All if !s.group_names.is_empty() || s.group_pattern.is_some() => {
                GroupSelection::Selected {
                    names: s.group_names.iter().cloned().collect(),
                    pattern: s
                        .group_pattern
                        .as_deref()
                        .map(|p| Regex::new(p).expect("validated")),
                }
            }
            g => g,
        };
        Policy {
            adopt_by_username: s.adopt_by_username,
            create_disabled: s.create_disabled,
            release_recycled: s.recycled_usernames == crate::config::RecycledUsernames::Release,
            required: s.required.clone(),
            threshold: Threshold {
                count: s.deactivate_threshold,
                percent: s.deactivate_threshold_percent,
            },
            max_rejected_percent: s.max_rejected_percent,
            confirm_deletions: false,
            scope_by_groups: s.scope == ScopeMode::Groups,
            groups,
            roles: job
                .roles
                .iter()
                .map(|r| RoleRule {
                    group: r.group.clone(),
                    pattern: r
                        .group_pattern
                        .as_deref()
                        .map(|p| Regex::new(p).expect("validated")),
                    role: r.role.clone(),
                    kind: r.kind.as_str().to_string(),
                })
                .collect(),
            license: s.license_kind.as_ref().map(|kind| LicenseRule {
                kind: kind.clone(),
                seats: seats.unwrap_or(0),
                policy: s.license_policy,
            }),
        }
    }
}

/// Roles follow group membership; licenses follow being active.
pub(super) fn entitlements(
    snapshot: &Snapshot,
    current: &Current,
    policy: &Policy,
    r: &Resolved,
    plan: &mut Plan,
) {
    // Roles: members (active after the run) of bound groups hold the role.
    let mut desired: BTreeSet<(&str, &str)> = BTreeSet::new();
    let mut kinds = std::collections::HashMap::new();
    for rule in &policy.roles {
        kinds.insert(rule.role.as_str(), rule.kind.as_str());
        for (gi, members) in &r.selected {
            if !rule.matches(&snapshot.groups[*gi].name) {
                continue;
            }
            for &u in members {
                if r.active_after[u as usize] {
                    desired.insert((r.users.id(u), rule.role.as_str()));
                }
            }
        }
    }
    if plan.mode == Some(RunMode::Incremental) {
        roles_of_unread_groups(snapshot, current, policy, r, &mut desired);
    }
    let held: HashSet<(&str, &str)> = current
        .roles
        .iter()
        .map(|(u, role)| (u.as_str(), role.as_str()))
        .collect();
    let username = |user: &str| match r.users.get(user) {
        Some(i) => r.username(i).to_string(),
        None => user.to_string(),
    };
    let touchable = |user: &str| r.users.get(user).is_none_or(|i| r.touchable(i));
    for &(user, role) in &desired {
        if !held.contains(&(user, role)) {
            plan.roles.push(RoleChange {
                username: username(user),
                user: user.to_string(),
                role: role.to_string(),
                role_kind: kinds.get(role).map(|k| k.to_string()).unwrap_or_default(),
                grant: true,
            });
        }
    }
    let mut held: Vec<_> = held.into_iter().collect();
    held.sort();
    for (user, role) in held {
        if !desired.contains(&(user, role)) && touchable(user) {
            plan.roles.push(RoleChange {
                username: username(user),
                user: user.to_string(),
                role: role.to_string(),
                role_kind: kinds.get(role).map(|k| k.to_string()).unwrap_or_default(),
                grant: false,
            });
        }
    }

    let Some(rule) = &policy.license else { return };
    let active_after = |user: &str| {
        r.users
            .get(user)
            .is_some_and(|i| r.active_after[i as usize])
    };
    let mut holders: Vec<&String> = current.licensed.iter().collect();
    holders.sort();
    let mut freed = 0;
    for user in holders {
        if !active_after(user) && touchable(user) {
            plan.licenses.push(LicenseChange {
                username: username(user),
                user: user.clone(),
                kind: rule.kind.clone(),
                grant: false,
            });
            freed += 1;
        }
    }
    // Every seat not freed stays taken, including those of users this run
    // must not touch.
    let keep = (current.licensed.len() - freed) as u32;
    let mut wanting: Vec<u32> = (0..r.users.len() as u32)
        .filter(|&u| r.active_after[u as usize] && !current.licensed.contains(r.users.id(u)))
        .collect();
    wanting.sort_by_key(|&u| r.username(u));
    let available = rule.seats.saturating_sub(current.seats_used_elsewhere);
    let needed = keep + wanting.len() as u32;
    if needed > available {
        match rule.policy {
            LicensePolicy::Stop => {
                plan.stop = Some(Stop::License {
                    kind: rule.kind.clone(),
                    needed,
                    available,
                });
                return;
            }
            LicensePolicy::SyncWithoutLicense => {
                let fits = available.saturating_sub(keep) as usize;
                plan.warnings.push(format!(
                    "license shortage: {needed} active users need a `{}` license, {available} seats are free; {} users were synced without one",
                    rule.kind,
                    wanting.len().saturating_sub(fits)
                ));
                wanting.truncate(fits);
            }
        }
    }
    for u in wanting {
        plan.licenses.push(LicenseChange {
            username: r.username(u).to_string(),
            user: r.users.id(u).to_string(),
            kind: rule.kind.clone(),
            grant: true,
        });
    }
}

/// An incremental read sends only the groups that changed: a bound group
/// it did not read still grants its role to its stored members that stay
/// active, or every holder of a role through an unchanged group would lose
/// it. Groups the read removed are not among them.
fn roles_of_unread_groups<'a>(
    snapshot: &'a Snapshot,
    current: &'a Current,
    policy: &'a Policy,
    r: &Resolved<'a>,
    desired: &mut BTreeSet<(&'a str, &'a str)>,
) {
    if policy.roles.is_empty() {
        return;
    }
    // Each stored group's bound roles, by its index in `current.groups`.
    let mut bound: Vec<Vec<&str>> = vec![Vec::new(); current.groups.len()];
    for (gi, g) in super::groups::unread_groups(snapshot, current, policy) {
        bound[gi] = policy
            .roles
            .iter()
            .filter(|rule| rule.matches(&g.name))
            .map(|rule| rule.role.as_str())
            .collect();
    }
    for &(group, user) in &current.memberships {
        let roles = &bound[group as usize];
        let u = r.stored_numbers[user as usize];
        if !roles.is_empty() && r.active_after[u as usize] {
            for role in roles {
                desired.insert((r.users.id(u), role));
            }
        }
    }
}

/// Stop before applying when too many users would be deactivated: more
/// than `deactivate_threshold` users or `deactivate_threshold_percent` of
/// the job's active users, whichever is lower (a count alone protects
/// nobody in a directory smaller than it).
pub(super) fn check_threshold(current: &Current, policy: &Policy, plan: &mut Plan) {
    if policy.confirm_deletions || plan.stop.is_some() {
        return;
    }
    let deactivations = plan
        .users
        .iter()
        .filter(|u| matches!(u, UserChange::Deactivate { .. }))
        .count();
    if deactivations == 0 {
        return;
    }
    let active = current.users.iter().filter(|u| u.active).count();
    let by_count = policy
        .threshold
        .count
        .map(|n| (n as f64, format!("sync.deactivate_threshold = {n} users")));
    let by_percent = policy.threshold.percent.map(|pct| {
        let users = pct * active as f64 / 100.0;
        (
            users,
            format!("sync.deactivate_threshold_percent = {pct}, i.e. {users:.0} of {active} active users"),
        )
    });
    let lowest = [by_count, by_percent]
        .into_iter()
        .flatten()
        .min_by(|a, b| a.0.total_cmp(&b.0));
    if let Some((limit, name)) = lowest {
        if deactivations as f64 > limit {
            plan.stop = Some(Stop::Threshold {
                deactivations,
                limit: name,
            });
        }
    }
}
