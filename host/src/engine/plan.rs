//! The plan: every change a run makes, in a form the store applies, the
//! audit log records and `--dry-run` prints.

use std::sync::Arc;

use serde::Serialize;

pub use super::created::{Decided, NewFields};
use super::{RunMode, RunOutcome};
use crate::model::RecordError;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    pub mode: Option<RunMode>,
    pub users: Vec<UserChange>,
    pub groups: Vec<GroupChange>,
    pub memberships: Vec<MembershipChange>,
    pub roles: Vec<RoleChange>,
    pub licenses: Vec<LicenseChange>,
    pub conflicts: Vec<Conflict>,
    pub errors: Vec<RecordError>,
    pub warnings: Vec<String>,
    /// Set when the run must not apply anything.
    pub stop: Option<Stop>,
}

/// One changed field: old → new.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeactivationReason {
    /// No longer in the source.
    Gone,
    /// Disabled in the source.
    Disabled,
    /// Filtered out or not in a selected group.
    OutOfScope,
}

impl DeactivationReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DeactivationReason::Gone => "gone",
            DeactivationReason::Disabled => "disabled",
            DeactivationReason::OutOfScope => "out_of_scope",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum UserChange {
    Create {
        source_id: String,
        ref_key: String,
        fields: NewFields,
        custom_json: Option<String>,
        /// Disabled in the source: created deactivated (`create_disabled`).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        disabled: bool,
    },
    /// Link a locally created user with the same username (opt-in).
    Adopt {
        db_id: i64,
        source_id: String,
        ref_key: String,
        changes: Vec<FieldChange>,
    },
    Update {
        source_id: String,
        username: String,
        changes: Vec<FieldChange>,
        /// Bookkeeping that is not a user-visible field.
        meta: Option<UserMeta>,
    },
    Deactivate {
        source_id: String,
        username: String,
        reason: DeactivationReason,
    },
    Reactivate {
        source_id: String,
        username: String,
        changes: Vec<FieldChange>,
    },
}

/// Bookkeeping columns refreshed alongside a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserMeta {
    pub ref_key: String,
    pub in_source: bool,
    pub source_enabled: bool,
}

impl UserChange {
    pub fn source_id(&self) -> &str {
        match self {
            UserChange::Create { source_id, .. }
            | UserChange::Adopt { source_id, .. }
            | UserChange::Update { source_id, .. }
            | UserChange::Deactivate { source_id, .. }
            | UserChange::Reactivate { source_id, .. } => source_id,
        }
    }

    pub fn username(&self) -> &str {
        match self {
            UserChange::Create { fields, .. } => fields.username(),
            UserChange::Adopt { changes, .. } => changes
                .iter()
                .find(|c| c.field == "username")
                .and_then(|c| c.new.as_deref())
                .unwrap_or(""),
            UserChange::Update { username, .. }
            | UserChange::Deactivate { username, .. }
            | UserChange::Reactivate { username, .. } => username,
        }
    }

    /// A short verb for tables and counts.
    pub fn action(&self) -> &'static str {
        match self {
            UserChange::Create { .. } => "create",
            UserChange::Adopt { .. } => "adopt",
            UserChange::Update { changes, .. } if changes.iter().any(|c| c.field == "username") => {
                "rename"
            }
            UserChange::Update { changes, .. } if changes.is_empty() => "refresh",
            UserChange::Update { .. } => "update",
            UserChange::Deactivate { .. } => "deactivate",
            UserChange::Reactivate { .. } => "reactivate",
        }
    }

    pub fn changes(&self) -> &[FieldChange] {
        match self {
            UserChange::Adopt { changes, .. }
            | UserChange::Update { changes, .. }
            | UserChange::Reactivate { changes, .. } => changes,
            _ => &[],
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum GroupChange {
    Create {
        source_id: String,
        ref_key: String,
        name: String,
        description: Option<String>,
    },
    Update {
        source_id: String,
        name: String,
        ref_key: String,
        changes: Vec<FieldChange>,
    },
    Deactivate {
        source_id: String,
        name: String,
    },
    Reactivate {
        source_id: String,
        name: String,
    },
}

impl GroupChange {
    pub fn source_id(&self) -> &str {
        match self {
            GroupChange::Create { source_id, .. }
            | GroupChange::Update { source_id, .. }
            | GroupChange::Deactivate { source_id, .. }
            | GroupChange::Reactivate { source_id, .. } => source_id,
        }
    }
    pub fn name(&self) -> &str {
        match self {
            GroupChange::Create { name, .. }
            | GroupChange::Update { name, .. }
            | GroupChange::Deactivate { name, .. }
            | GroupChange::Reactivate { name, .. } => name,
        }
    }
    pub fn action(&self) -> &'static str {
        match self {
            GroupChange::Create { .. } => "create",
            GroupChange::Update { changes, .. } if changes.iter().any(|c| c.field == "name") => {
                "rename"
            }
            GroupChange::Update { .. } => "update",
            GroupChange::Deactivate { .. } => "deactivate",
            GroupChange::Reactivate { .. } => "reactivate",
        }
    }
}

/// A user or a group as membership changes name it: its source id and its
/// name, allocated once for all of its changes.
#[derive(Debug, PartialEq, Eq)]
pub struct Named {
    pub id: Box<str>,
    pub name: Box<str>,
}

impl Named {
    pub fn new(id: &str, name: &str) -> Arc<Named> {
        Arc::new(Named {
            id: id.into(),
            name: name.into(),
        })
    }
}

/// One user joining or leaving one group. Two shared handles and a flag
/// (24 bytes): a first sync of 100k users plans ~455k of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipChange {
    group: Arc<Named>,
    user: Arc<Named>,
    pub add: bool,
}

impl MembershipChange {
    pub fn new(group: Arc<Named>, user: Arc<Named>, add: bool) -> MembershipChange {
        MembershipChange { group, user, add }
    }
    /// The group's source id.
    pub fn group(&self) -> &str {
        &self.group.id
    }
    pub fn group_name(&self) -> &str {
        &self.group.name
    }
    /// The user's source id.
    pub fn user(&self) -> &str {
        &self.user.id
    }
    pub fn username(&self) -> &str {
        &self.user.name
    }
    /// The address of the user's shared names: one user's memberships in
    /// a plan share them, so it tells users apart without reading a string
    /// (two handles of one user are possible, and only cost a second
    /// lookup by source id).
    pub(crate) fn user_handle(&self) -> usize {
        Arc::as_ptr(&self.user) as usize
    }
    /// The group's shared handle, as [`MembershipChange::user_handle`].
    pub(crate) fn group_handle(&self) -> usize {
        Arc::as_ptr(&self.group) as usize
    }
}

/// The JSON shape scripts read: `{group, group_name, user, username, add}`.
impl Serialize for MembershipChange {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut m = s.serialize_struct("MembershipChange", 5)?;
        m.serialize_field("group", self.group())?;
        m.serialize_field("group_name", self.group_name())?;
        m.serialize_field("user", self.user())?;
        m.serialize_field("username", self.username())?;
        m.serialize_field("add", &self.add)?;
        m.end()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoleChange {
    pub user: String,
    pub username: String,
    pub role: String,
    pub role_kind: String,
    pub grant: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LicenseChange {
    pub user: String,
    pub username: String,
    pub kind: String,
    pub grant: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conflict {
    pub source_id: String,
    pub username: String,
    pub message: String,
}

/// Why a run stopped before applying anything.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "stop", rename_all = "snake_case")]
pub enum Stop {
    Threshold {
        deactivations: usize,
        limit: String,
    },
    License {
        kind: String,
        needed: u32,
        available: u32,
    },
    NoGroupSelected,
    /// A full read returned no users while the store has active ones.
    EmptyRead {
        active: usize,
    },
    /// Too many records were rejected (per-record errors).
    Rejected {
        rejected: usize,
        of: usize,
        limit_percent: f64,
    },
    /// The tenant would have more active users than its quota.
    MaxUsers {
        tenant: String,
        would_have: u64,
        limit: u64,
    },
}

impl Stop {
    /// The run outcome for this stop.
    pub fn outcome(&self) -> RunOutcome {
        match self {
            Stop::Threshold { .. } => RunOutcome::StoppedByThreshold,
            Stop::License { .. } => RunOutcome::StoppedByLicense,
            Stop::NoGroupSelected => RunOutcome::StoppedNoGroupSelected,
            Stop::EmptyRead { .. } => RunOutcome::EmptyRead,
            Stop::Rejected { .. } => RunOutcome::StoppedByRejected,
            Stop::MaxUsers { .. } => RunOutcome::StoppedByQuota,
        }
    }

    pub fn message(&self, job: &str) -> String {
        match self {
            Stop::Threshold { deactivations, limit } => format!(
                "stopped before changing anything: this run would deactivate {deactivations} users, over the threshold ({limit}; \
                 the lower of sync.deactivate_threshold and sync.deactivate_threshold_percent applies). \
                 Check the source; if the departures are real, run `usersync sync --job {job} --confirm-deletions`"
            ),
            Stop::License { kind, needed, available } => format!(
                "stopped before changing anything: {needed} users need a `{kind}` license but only {available} seats are free. \
                 Add seats under [tenants.licenses], narrow the scope, or set sync.license_policy = \"sync_without_license\""
            ),
            Stop::NoGroupSelected => "stopped: sync.scope = \"groups\" but no group is selected, so nobody is in scope. \
                 Set sync.group_names or sync.group_pattern to the groups whose members should be synced"
                .to_string(),
            Stop::EmptyRead { active } => format!(
                "stopped before changing anything: the source returned no users although {active} are active in the store; \
                 an empty read is treated as a failed read, so nobody was deactivated. Check the source (an empty export, \
                 a wrong base DN, filter or credentials); if the directory really is empty, deactivate the users by hand"
            ),
            Stop::Rejected { rejected, of, limit_percent } => format!(
                "stopped before changing anything: {rejected} of {of} records were rejected (listed as errors), over \
                 [jobs.sync] max_rejected_percent = {limit_percent}. Fix the mapping or the records (a mapping may name a \
                 field the connector does not send), or raise max_rejected_percent"
            ),
            Stop::MaxUsers { tenant, would_have, limit } => format!(
                "stopped before changing anything: tenant {tenant:?} would have {would_have} active users, over its quota \
                 [tenants.limits] max_users = {limit}. Raise max_users for the tenant, or narrow the job's scope"
            ),
        }
    }
}

/// Counts per change kind, for run records and summaries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Counts {
    pub created: u64,
    pub updated: u64,
    pub renamed: u64,
    pub adopted: u64,
    pub deactivated: u64,
    pub reactivated: u64,
    pub groups_created: u64,
    pub groups_updated: u64,
    pub groups_deactivated: u64,
    pub memberships_added: u64,
    pub memberships_removed: u64,
    pub roles_granted: u64,
    pub roles_revoked: u64,
    pub licenses_granted: u64,
    pub licenses_freed: u64,
    pub conflicts: u64,
    pub errors: u64,
}

impl Plan {
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for u in &self.users {
            match u.action() {
                "create" => c.created += 1,
                "adopt" => c.adopted += 1,
                "rename" => c.renamed += 1,
                "update" => c.updated += 1,
                "deactivate" => c.deactivated += 1,
                "reactivate" => c.reactivated += 1,
                _ => {}
            }
        }
        for g in &self.groups {
            match g {
                GroupChange::Create { .. } => c.groups_created += 1,
                GroupChange::Deactivate { .. } => c.groups_deactivated += 1,
                _ => c.groups_updated += 1,
            }
        }
        for m in &self.memberships {
            if m.add {
                c.memberships_added += 1
            } else {
                c.memberships_removed += 1
            }
        }
        for r in &self.roles {
            if r.grant {
                c.roles_granted += 1
            } else {
                c.roles_revoked += 1
            }
        }
        for l in &self.licenses {
            if l.grant {
                c.licenses_granted += 1
            } else {
                c.licenses_freed += 1
            }
        }
        c.conflicts = self.conflicts.len() as u64;
        c.errors = self.errors.len() as u64;
        c
    }

    /// True when applying would change nothing visible.
    pub fn is_noop(&self) -> bool {
        self.users.iter().all(|u| u.action() == "refresh")
            && self.groups.is_empty()
            && self.memberships.is_empty()
            && self.roles.is_empty()
            && self.licenses.is_empty()
    }
}
