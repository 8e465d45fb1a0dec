//! The sync engine: a pure function from "what the source says" and "what
//! the store holds" to a [`Plan`] of changes. No I/O, no wasm, no database,
//! so every rule in here is tested directly (see `tests.rs`).
//!
//! Everything is keyed by the source's immutable id within the job, never
//! by name; the store maps those ids to its own row ids when applying.

mod created;
mod groups;
mod members;
mod names;
mod outcome;
mod plan;
mod policy;
mod stored_index;
mod users;

#[cfg(test)]
mod tests;

pub use outcome::RunOutcome;
pub use plan::*;
pub use policy::{GroupSelection, LicenseRule, Policy, RoleRule, Threshold};
pub use stored_index::StoredIndex;

use std::collections::{HashMap, HashSet};

/// Maps and sets for the engine's own indexes, keyed by ids, DNs and names
/// from the directory and the store: foldhash (seeded per process) hashes
/// them several times faster than the standard SipHash, and planning a
/// 100k-user run builds millions of entries.
pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
pub(crate) type FastSet<T> = HashSet<T, foldhash::fast::RandomState>;

use crate::model::{RecordError, SourceGroup, SourceUser, UserFields};

/// Full runs see everything and detect departures; incremental runs see
/// only changes (plus explicit removals).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum RunMode {
    Full,
    Incremental,
}

impl RunMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RunMode::Full => "full",
            RunMode::Incremental => "incremental",
        }
    }
}

impl std::fmt::Display for RunMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for RunMode {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<RunMode> {
        match s {
            "full" => Ok(RunMode::Full),
            "incremental" => Ok(RunMode::Incremental),
            _ => anyhow::bail!("unknown run mode {s:?} in the store"),
        }
    }
}

impl PartialEq<&str> for RunMode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
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

impl Snapshot {
    /// An incremental read that reported nothing: no record, removal or
    /// error. Its plan is empty whatever the store holds, unless a rule acts
    /// in any run (see [`needs_current`]).
    pub fn reports_nothing(&self) -> bool {
        self.users.is_empty()
            && self.groups.is_empty()
            && self.removed_users.is_empty()
            && self.removed_groups.is_empty()
            && self.errors.is_empty()
            && self.unreadable_user_ids.is_empty()
    }
}

/// Whether planning this read needs what the store holds for the job. An
/// incremental read that reported nothing changes nobody, so its run skips
/// loading the job's rows, unless a rule acts in any run: a license rule
/// gives waiting users the seats a departure elsewhere freed, and role
/// rules move roles when the bindings changed. (Roles the job holds with no
/// rule left are revoked in any run too: the caller asks the store.)
pub fn needs_current(snapshot: &Snapshot, policy: &Policy, mode: RunMode) -> bool {
    mode == RunMode::Full
        || policy.license.is_some()
        || !policy.roles.is_empty()
        || !snapshot.reports_nothing()
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
/// A read that must not be applied at all: too many records rejected (a
/// broken mapping would otherwise sync the rest and create its groups), or
/// a full read with no users where the store has active ones. Either wins
/// over other stops: it is the cause, they are symptoms.
fn read_failed(
    snapshot: &Snapshot,
    current: &Current,
    policy: &Policy,
    mode: RunMode,
    plan: &Plan,
) -> Option<Stop> {
    let active = current.users.iter().filter(|u| u.active).count();
    // Errors of the connector, the mappers and the engine (required fields).
    let rejected = plan.errors.len();
    // The share of the directory, not of this read: an incremental read of
    // one changed, broken record is not "100% rejected".
    let of = (snapshot.users.len() + snapshot.errors.len()).max(active);
    if rejected > 0 && rejected as f64 * 100.0 > policy.max_rejected_percent * of as f64 {
        return Some(Stop::Rejected {
            rejected,
            of,
            limit_percent: policy.max_rejected_percent,
        });
    }
    (mode == RunMode::Full && snapshot.users.is_empty() && active > 0)
        .then_some(Stop::EmptyRead { active })
}

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
    pub usernames: FastMap<String, UsernameOwner>,
    pub groups: Vec<StoredGroup>,
    /// Effective memberships: (index into `groups`, index into `users`),
    /// each group's together. Indexes, not ids: planning walks all of them
    /// (480k at 100k users) without hashing a string.
    pub memberships: Vec<(u32, u32)>,
    /// Roles held through this job's bindings: (user source id, role).
    pub roles: HashSet<(String, String)>,
    /// This job's users holding the job's license kind.
    pub licensed: HashSet<String>,
    /// Seats of the job's license kind held by users outside this job.
    pub seats_used_elsewhere: u32,
    /// Lookup tables: values that already exist in the target.
    pub job_titles: HashSet<String>,
    pub companies: HashSet<String>,
    /// `users` by id and by ref; see [`Current::stored_index`].
    index: std::sync::OnceLock<StoredIndex>,
}

impl Current {
    /// `users` by source id and by ref. Built on first need; the load
    /// builds it while the read runs, so planning does not wait for it.
    pub fn stored_index(&self) -> &StoredIndex {
        let index = self.index.get_or_init(|| StoredIndex::build(&self.users));
        debug_assert!(index.indexes(&self.users), "a stale stored index");
        index
    }

    /// After `users` changed in a way the index sees (ids, ref keys,
    /// whether in the source, or their number).
    pub fn forget_index(&mut self) {
        self.index = std::sync::OnceLock::new();
    }
}

/// Compute everything a run would change.
pub fn plan(snapshot: &Snapshot, current: &Current, policy: &Policy, mode: RunMode) -> Plan {
    let mut plan = plan_of(snapshot, None, current, policy, mode);
    created::copy_fields(&mut plan, &snapshot.users);
    plan
}

/// [`plan`], taking what it needs out of the snapshot instead of copying
/// it (the groups' members, freed once resolved; new users' fields, moved
/// into the plan): what a run does, since it drops the snapshot after.
pub fn plan_taking(
    mut snapshot: Snapshot,
    current: &Current,
    policy: &Policy,
    mode: RunMode,
) -> Plan {
    let members = snapshot
        .groups
        .iter_mut()
        .map(|g| std::mem::take(&mut g.members))
        .collect();
    let mut plan = plan_of(&snapshot, Some(members), current, policy, mode);
    let users = std::mem::take(&mut snapshot.users);
    let rest = created::take_fields(&mut plan, users);
    drop_in_background((snapshot, rest));
    plan
}

/// Free `value` on a thread of its own: a read's 100k users or 480k member
/// refs take tens of milliseconds to free, which the run need not wait for.
/// Even in a process that exits after its run (`one_shot`): what a run frees
/// before it writes makes room for the write, and leaving it to the exit
/// raised a 100k-user first sync's peak by ~28 MB.
pub fn drop_in_background<T: Send + 'static>(value: T) {
    let spawned = std::thread::Builder::new()
        .name("usersync-free".into())
        .spawn(move || drop(value));
    // Without a thread (the process is at its limit) the value was moved
    // into the failed closure and is freed here, on this thread.
    drop(spawned);
}

fn plan_of(
    snapshot: &Snapshot,
    members: Option<Vec<Vec<String>>>,
    current: &Current,
    policy: &Policy,
    mode: RunMode,
) -> Plan {
    let mut plan = Plan {
        mode: Some(mode),
        errors: snapshot.errors.clone(),
        ..Plan::default()
    };
    let started = std::time::Instant::now();
    let mut resolved = groups::resolve(snapshot, members, current, policy, mode, &mut plan);
    if plan.stop.is_some() {
        return plan;
    }
    let resolved_at = started.elapsed();
    users::diff(snapshot, current, policy, mode, &mut resolved, &mut plan);
    // Refs were for members and managers, both resolved now: the map of
    // every read user's id and ref key (~100 MB at 1M users) goes before
    // the membership changes are written out.
    resolved.user_refs = Default::default();
    let users_at = started.elapsed();
    groups::diff(snapshot, current, &resolved, &mut plan);
    members::diff(snapshot, current, policy, &resolved, &mut plan);
    let members_at = started.elapsed();
    policy::entitlements(snapshot, current, policy, &resolved, &mut plan);
    tracing::debug!(
        resolve_ms = resolved_at.as_millis() as u64,
        users_ms = (users_at - resolved_at).as_millis() as u64,
        groups_and_members_ms = (members_at - users_at).as_millis() as u64,
        entitlements_ms = (started.elapsed() - members_at).as_millis() as u64,
        "the plan's steps"
    );
    if let Some(stop) = read_failed(snapshot, current, policy, mode, &plan) {
        plan.stop = Some(stop);
    }
    policy::check_threshold(current, policy, &mut plan);
    plan
}
