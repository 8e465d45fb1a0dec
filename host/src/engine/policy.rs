//! Run policy (from the job's `[sync]` table and role bindings), license
//! and role entitlements, and the deactivation safety threshold.

use std::collections::{BTreeSet, HashSet};

use regex::Regex;

use super::groups::Resolved;
use super::plan::{LicenseChange, Plan, RoleChange, Stop, UserChange};
use super::Current;
use crate::config::{GroupMode, LicensePolicy, ScopeMode};

#[derive(Debug, Clone)]
pub struct Policy {
    pub adopt_by_username: bool,
    pub required: Vec<String>,
    pub threshold: Threshold,
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
            required: Vec::new(),
            threshold: Threshold {
                count: Some(500),
                percent: None,
            },
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
            required: s.required.clone(),
            threshold: Threshold {
                count: s.deactivate_threshold,
                percent: s.deactivate_threshold_percent,
            },
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
pub(super) fn entitlements(current: &Current, policy: &Policy, r: &Resolved, plan: &mut Plan) {
    // Roles: members (active after the run) of bound groups hold the role.
    let mut desired: BTreeSet<(String, String)> = BTreeSet::new();
    let mut kinds = std::collections::HashMap::new();
    for rule in &policy.roles {
        kinds.insert(rule.role.clone(), rule.kind.clone());
        for (gid, name) in &r.group_names {
            if !rule.matches(name) {
                continue;
            }
            for uid in r.members.get(gid).into_iter().flatten() {
                if r.active_after.contains(uid) {
                    desired.insert((uid.clone(), rule.role.clone()));
                }
            }
        }
    }
    for (user, role) in &desired {
        if !current.roles.contains(&(user.clone(), role.clone())) {
            plan.roles.push(RoleChange {
                username: r.username(user),
                user: user.clone(),
                role: role.clone(),
                role_kind: kinds.get(role).cloned().unwrap_or_default(),
                grant: true,
            });
        }
    }
    let mut held: Vec<_> = current.roles.iter().collect();
    held.sort();
    for (user, role) in held {
        if !desired.contains(&(user.clone(), role.clone())) && r.touchable(user) {
            plan.roles.push(RoleChange {
                username: r.username(user),
                user: user.clone(),
                role: role.clone(),
                role_kind: kinds.get(role).cloned().unwrap_or_default(),
                grant: false,
            });
        }
    }

    let Some(rule) = &policy.license else { return };
    let mut holders: Vec<&String> = current.licensed.iter().collect();
    holders.sort();
    let mut freed = 0;
    for user in holders {
        if !r.active_after.contains(user) && r.touchable(user) {
            plan.licenses.push(LicenseChange {
                username: r.username(user),
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
    let mut wanting: Vec<&String> = r
        .active_after
        .iter()
        .filter(|u| !current.licensed.contains(*u))
        .collect();
    wanting.sort_by_key(|u| r.username(u));
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
    for user in wanting {
        plan.licenses.push(LicenseChange {
            username: r.username(user),
            user: user.clone(),
            kind: rule.kind.clone(),
            grant: true,
        });
    }
}

/// Stop before applying when too many users would be deactivated.
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
    if let Some(limit) = policy.threshold.count {
        if deactivations as u64 > limit {
            plan.stop = Some(Stop::Threshold {
                deactivations,
                limit: format!("{limit} users"),
            });
            return;
        }
    }
    if let Some(pct) = policy.threshold.percent {
        let active = current.users.iter().filter(|u| u.active).count().max(1);
        if deactivations as f64 * 100.0 / active as f64 > pct {
            plan.stop = Some(Stop::Threshold {
                deactivations,
                limit: format!("{pct}% of {active} active users"),
            });
        }
    }
}
