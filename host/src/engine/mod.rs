//! The sync engine: a pure function from "what the source says" and "what
//! the store holds" to a [`Plan`] of changes. No I/O, no wasm, no database,
//! so every rule in here is tested directly (see `tests.rs`).
//!
//! Everything is keyed by the source's immutable id within the job, never
//! by name; the store maps those ids to its own row ids when applying.

mod groups;
mod names;
mod plan;
mod policy;
mod users;

#[cfg(test)]
mod tests;

pub use plan::*;
pub use policy::{GroupSelection, LicenseRule, Policy, RoleRule, Threshold};

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Maps and sets for the engine's own indexes, keyed by ids, DNs and names
/// from the directory and the store: foldhash (seeded per process) hashes
/// them several times faster than the standard SipHash, and planning a
/// 100k-user run builds millions of entries.
pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
pub(crate) type FastSet<T> = HashSet<T, foldhash::fast::RandomState>;

use crate::model::{RecordError, SourceGroup, SourceUser, UserFields};

/// Full runs see everything and detect departures; incremental runs see
/// only changes (plus explicit removals).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunMode {
    Full,
    Incremental,
}

/// What the source says, after mapping.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub users: Vec<SourceUser>,
    pub groups: Vec<SourceGroup>,
    /// Incremental reads: ids the source reported deleted.
    pub removed_users: Vec<String>,
    pub removed_groups: Vec<String>,
    /// The connector read everything it meant to (no partial read).
    pub complete: bool,
    /// Records the connector or a mapper could not use.
    pub errors: Vec<RecordError>,
    /// Users whose records failed mapping: known to exist, left as they are.
    pub unreadable_user_ids: HashSet<String>,
}

/// One synced user as the store holds it.
#[derive(Debug, Clone, Default)]
pub struct StoredUser {
    pub source_id: String,
    pub ref_key: String,
    pub fields: UserFields,
    pub custom_json: Option<String>,
    pub active: bool,
    pub in_source: bool,
    pub source_enabled: bool,
    pub deactivation_reason: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct StoredGroup {
    pub source_id: String,
    pub ref_key: String,
    pub name: String,
    pub description: Option<String>,
    pub active: bool,
}

/// Who holds a username in the tenant, for conflict detection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsernameOwner {
    /// A user created in the application, not by sync.
    Local { db_id: i64 },
    /// A user synced by this job (source id).
    ThisJob { source_id: String },
    /// A user synced by another job of the tenant.
    OtherJob { job: String },
}

/// What the store holds for the job (and the tenant facts it needs).
#[derive(Debug, Clone, Default)]
pub struct Current {
    pub users: Vec<StoredUser>,
    pub usernames: HashMap<String, UsernameOwner>,
    pub groups: Vec<StoredGroup>,
    /// Effective memberships: (group source id, user source id), each id
    /// allocated once however many memberships name it.
    pub memberships: Vec<(Arc<str>, Arc<str>)>,
    /// Roles held through this job's bindings: (user source id, role).
    pub roles: HashSet<(String, String)>,
    /// This job's users holding the job's license kind.
    pub licensed: HashSet<String>,
    /// Seats of the job's license kind held by users outside this job.
    pub seats_used_elsewhere: u32,
    /// Lookup tables: values that already exist in the target.
    pub job_titles: HashSet<String>,
    pub companies: HashSet<String>,
}

/// Compute everything a run would change.
pub fn plan(snapshot: &Snapshot, current: &Current, policy: &Policy, mode: RunMode) -> Plan {
    let mut plan = Plan {
        mode: Some(mode),
        errors: snapshot.errors.clone(),
        ..Plan::default()
    };
    let mut resolved = groups::resolve(snapshot, current, policy, mode, &mut plan);
    if plan.stop.is_some() {
        return plan;
    }
    users::diff(snapshot, current, policy, mode, &mut resolved, &mut plan);
    groups::diff(snapshot, current, &resolved, &mut plan);
    policy::entitlements(snapshot, current, policy, &resolved, &mut plan);
    policy::check_threshold(current, policy, &mut plan);
    plan
}
