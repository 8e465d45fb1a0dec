//! The user diff: create, update, rename, adopt, deactivate, reactivate,
//! conflicts and per-record errors.

use std::collections::HashSet;

use super::groups::{change, Resolved};
use super::names;
use super::plan::{
    Conflict, DeactivationReason, Decided, FieldChange, NewFields, Plan, UserChange, UserMeta,
};
use super::{Current, FastMap, FastSet, Policy, RunMode, Snapshot, StoredUser, UsernameOwner};
use crate::model::{RecordError, SourceUser, UserFields, TEXT_FIELDS};

pub(super) fn diff<'a>(
    snapshot: &'a Snapshot,
    current: &'a Current,
    policy: &Policy,
    mode: RunMode,
    r: &mut Resolved<'a>,
    plan: &mut Plan,
) {
    let next_name = names::NextNames::new(snapshot);
    let mut claimed: FastMap<&'a str, &'a str> =
        FastMap::with_capacity_and_hasher(snapshot.users.len(), Default::default());
    // (kind, value), borrowed: most users of a directory whose titles the
    // target lacks name one, and a copy each cost two allocations per user.
    let mut missing_lookups: FastSet<(&'static str, &'a str)> = FastSet::default();
    let mut seen = vec![false; r.users.len()];
    // Users whose records failed mapping are left exactly as they are.
    for id in &snapshot.unreadable_user_ids {
        r.untouch(id);
    }

    for (k, su) in snapshot.users.iter().enumerate() {
        let ui = r.snapshot_numbers[k] as usize;
        if std::mem::replace(&mut seen[ui], true) {
            plan.errors.push(error(
                su,
                None,
                "the source returned this id twice; the second record was ignored",
            ));
            continue;
        }
        if let Some(e) = check_required(su, policy) {
            plan.errors.push(e);
            r.untouchable[ui] = true;
            continue;
        }
        let in_scope = su.in_filter && r.in_scope(ui as u32);
        let should_be_active = in_scope && su.enabled;
        let old = r.stored_at[ui].map(|k| &current.users[k as usize]);

        // Who else holds the username this user wants?
        let username = su.fields.username.as_str();
        let owner = current.usernames.get(username);
        let claimant = claimed.get(username);
        // A user of this job that left the source gives its name up.
        let leaver = (policy.release_recycled && claimant.is_none())
            .then(|| names::leaver(current, r, &next_name, su, owner))
            .flatten();
        let taken_by = claimant
            .map(|id| format!("source user {id:?} in this run"))
            .or_else(|| match owner {
                _ if leaver.is_some() => None,
                Some(UsernameOwner::ThisJob { source_id })
                    if source_id != &su.id
                        && next_name.of(source_id).is_none_or(|n| n == username) =>
                {
                    Some(format!("synced user {source_id:?}"))
                }
                Some(UsernameOwner::OtherJob { job }) => {
                    Some(format!("a user synced by job {job:?}"))
                }
                Some(UsernameOwner::Local { .. })
                    if !(policy.adopt_by_username && old.is_none()) =>
                {
                    Some("a user created in the application".to_string())
                }
                _ => None,
            });
        let mapped = Mapped::new(&su.fields, current, &mut missing_lookups, r);

        match old {
            None => {
                // Users disabled in the source the first time they are seen
                // are created (deactivated) only when the job asks for it.
                let create_disabled = in_scope && !su.enabled && policy.create_disabled;
                if !should_be_active && !create_disabled {
                    continue; // never create users that are disabled or out of scope
                }
                if let Some(holder) = taken_by {
                    conflict(plan, r, su, &holder, policy);
                    continue;
                }
                let local = match owner {
                    Some(UsernameOwner::Local { .. }) if create_disabled => {
                        continue; // a local user is adopted only by an active one
                    }
                    Some(UsernameOwner::Local { db_id }) => Some(*db_id),
                    _ => None,
                };
                claimed.insert(username, &su.id);
                if let Some((holder, name)) = leaver {
                    names::release(plan, holder, name);
                }
                let custom_json = su.fields.custom_json();
                if let Some(db_id) = local {
                    let empty = StoredUser::default();
                    plan.users.push(UserChange::Adopt {
                        db_id,
                        source_id: su.id.clone(),
                        ref_key: su.ref_key.clone(),
                        changes: field_changes(&empty, &mapped, custom_json.as_deref()),
                    });
                } else {
                    plan.users.push(UserChange::Create {
                        source_id: su.id.clone(),
                        ref_key: String::new(),
                        fields: NewFields::Decided(mapped.decided(k)),
                        custom_json,
                        disabled: create_disabled,
                    });
                }
                r.active_after[ui] = should_be_active;
                r.usernames[ui] = Some(username);
            }
            Some(old) => {
                let mut mapped = mapped;
                if username != old.fields.username {
                    if let (None, Some((holder, name))) = (&taken_by, leaver) {
                        names::release(plan, holder, name);
                    }
                    if let Some(holder) = taken_by {
                        plan.conflicts.push(Conflict {
                            source_id: su.id.clone(),
                            username: username.to_string(),
                            message: format!(
                                "cannot rename {:?} to {username:?}: the name is held by {holder}; the old name stays",
                                old.fields.username
                            ),
                        });
                        mapped.username = &old.fields.username;
                    }
                }
                claimed.insert(mapped.username, &su.id);
                r.usernames[ui] = Some(mapped.username);
                let custom_json = su.fields.custom_json();
                let changes = field_changes(old, &mapped, custom_json.as_deref());
                let meta_changed =
                    old.ref_key != su.ref_key || !old.in_source || old.source_enabled != su.enabled;
                let username = mapped.username;
                if should_be_active {
                    r.active_after[ui] = true;
                    if !old.active {
                        plan.users.push(UserChange::Reactivate {
                            source_id: su.id.clone(),
                            username: username.to_string(),
                            changes,
                        });
                        continue;
                    }
                }
                if !changes.is_empty() || meta_changed {
                    plan.users.push(UserChange::Update {
                        source_id: su.id.clone(),
                        username: username.to_string(),
                        changes,
                        meta: meta_changed.then(|| UserMeta {
                            ref_key: su.ref_key.clone(),
                            in_source: true,
                            source_enabled: su.enabled,
                        }),
                    });
                }
                if !should_be_active && old.active {
                    let reason = if su.enabled {
                        DeactivationReason::OutOfScope
                    } else {
                        DeactivationReason::Disabled
                    };
                    plan.users.push(UserChange::Deactivate {
                        source_id: su.id.clone(),
                        username: username.to_string(),
                        reason,
                    });
                }
            }
        }
    }

    let mut by_kind: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for (kind, value) in missing_lookups {
        by_kind.entry(kind).or_default().push(value);
    }
    for (kind, values) in by_kind {
        plan.warnings.push(missing_lookup_warning(kind, values));
    }

    names::settle(current, r, plan);
    departures(snapshot, current, mode, &seen, r, plan);
}

/// How many of the names are shown in a missing-lookup warning.
const MISSING_LOOKUPS_SHOWN: usize = 5;

/// One short warning for the values of a lookup table (`kind` is "job
/// title" or "company") the target lacks: how many, the first few, and the
/// command that adds one.
fn missing_lookup_warning(kind: &str, mut values: Vec<&str>) -> String {
    values.sort();
    let n = values.len();
    let mut shown: Vec<String> = values
        .iter()
        .take(MISSING_LOOKUPS_SHOWN)
        .map(|v| format!("{v:?}"))
        .collect();
    if n > MISSING_LOOKUPS_SHOWN {
        shown.push(format!("and {} more", n - MISSING_LOOKUPS_SHOWN));
    }
    let plural = if n == 1 {
        kind.to_string()
    } else if let Some(stem) = kind.strip_suffix('y') {
        format!("{stem}ies")
    } else {
        format!("{kind}s")
    };
    format!(
        "{n} {plural} not in the target ({}): users mapped to them keep their current {kind}; lookups never create entries, add each with `usersync lookup {} NAME`",
        shown.join(", "),
        kind.replace(' ', "-"),
    )
}

/// Users the source no longer has: deactivated, but only after a read that
/// can prove it (full, complete, non-empty, nothing unreadable).
fn departures<'a>(
    snapshot: &Snapshot,
    current: &'a Current,
    mode: RunMode,
    seen: &[bool],
    r: &mut Resolved<'a>,
    plan: &mut Plan,
) {
    // Each stored user with its number.
    let numbered = || (current.users.iter()).zip(r.stored_numbers.iter().map(|&i| i as usize));
    let gone: Vec<(&StoredUser, usize)> = match mode {
        RunMode::Incremental => {
            // The source named what it deleted: groups may go too.
            r.departures_allowed = true;
            let removed: FastSet<&str> =
                snapshot.removed_users.iter().map(String::as_str).collect();
            numbered()
                .filter(|(u, _)| removed.contains(u.source_id.as_str()))
                .collect()
        }
        RunMode::Full => {
            let active_before = current.users.iter().any(|u| u.active);
            // A read that cannot prove departures deactivates nobody; the
            // users it did not see stay active (below).
            let blocked = if !snapshot.complete {
                Some("the connector reported a partial read, so nobody was deactivated for being absent")
            } else if snapshot.users.is_empty() && active_before {
                Some("the source returned no users; an empty read is treated as a failed read, so nobody was deactivated")
            } else if snapshot
                .errors
                .iter()
                .any(|e| !snapshot.unreadable_user_ids.contains(&e.record))
            {
                Some("some source records could not be read, so nobody was deactivated for being absent this run; fix the records listed as errors")
            } else {
                None
            };
            if let Some(warning) = blocked {
                plan.warnings.push(warning.into());
                // The users it did not see may be the ones it missed, and
                // their memberships with them: leave them exactly as they are
                // (no membership removed, role revoked or license freed).
                for (_, i) in numbered() {
                    if !seen[i] {
                        r.untouchable[i] = true;
                    }
                }
                Vec::new()
            } else {
                r.departures_allowed = true;
                numbered()
                    .filter(|&(u, i)| {
                        !seen[i] && !snapshot.unreadable_user_ids.contains(&u.source_id)
                    })
                    .collect()
            }
        }
    };
    let mut gone_now = vec![false; r.users.len()];
    for (u, i) in gone {
        gone_now[i] = true;
        r.usernames[i].get_or_insert(&u.fields.username);
        if u.active {
            plan.users.push(UserChange::Deactivate {
                source_id: u.source_id.clone(),
                username: u.fields.username.clone(),
                reason: DeactivationReason::Gone,
            });
        } else if u.in_source {
            plan.users.push(UserChange::Update {
                source_id: u.source_id.clone(),
                username: u.fields.username.clone(),
                changes: Vec::new(),
                meta: Some(UserMeta {
                    ref_key: u.ref_key.clone(),
                    in_source: false,
                    source_enabled: u.source_enabled,
                }),
            });
        }
    }
    // Users this run did not read keep their names for membership output,
    // and stay active unless they were just deactivated (incremental runs,
    // unreadable records, reads that cannot prove departures).
    for (u, i) in numbered() {
        r.usernames[i].get_or_insert(&u.fields.username);
        if u.active && !seen[i] && !gone_now[i] {
            r.active_after[i] = true;
        }
    }
}

fn check_required(su: &SourceUser, policy: &Policy) -> Option<RecordError> {
    if su.fields.username.trim().is_empty() {
        return Some(error(
            su,
            Some("username"),
            "required field `username` is empty",
        ));
    }
    let missing: Vec<&str> = policy
        .required
        .iter()
        .filter(|f| su.fields.get(f).is_none_or(|v| v.trim().is_empty()))
        .map(String::as_str)
        .collect();
    (!missing.is_empty()).then(|| {
        error(
            su,
            Some(missing[0]),
            &format!(
                "required field(s) {} empty (sync.required); the user was not created or changed",
                missing
                    .iter()
                    .map(|m| format!("`{m}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })
}

fn error(su: &SourceUser, field: Option<&str>, message: &str) -> RecordError {
    RecordError {
        record: su.id.clone(),
        field: field.map(str::to_string),
        message: message.to_string(),
    }
}

fn conflict(plan: &mut Plan, r: &mut Resolved, su: &SourceUser, holder: &str, policy: &Policy) {
    let hint = if holder.contains("created in the application") && !policy.adopt_by_username {
        "; set sync.adopt_by_username = true to link them"
    } else {
        ""
    };
    plan.conflicts.push(Conflict {
        source_id: su.id.clone(),
        username: su.fields.username.clone(),
        message: format!(
            "username {:?} is already held by {holder}; the user was not synced{hint}",
            su.fields.username
        ),
    });
    r.untouch(&su.id);
}

/// A mapped record as it will be stored: the manager ref resolved to a
/// source id, lookup fields kept only when the value already exists in the
/// target (never invent one). Borrows, so unchanged users cost no copies.
struct Mapped<'a> {
    fields: &'a UserFields,
    username: &'a str,
    job_title: Option<&'a str>,
    company: Option<&'a str>,
    manager: Option<&'a str>,
}

impl<'a> Mapped<'a> {
    fn new(
        fields: &'a UserFields,
        current: &Current,
        missing: &mut FastSet<(&'static str, &'a str)>,
        r: &Resolved<'a>,
    ) -> Mapped<'a> {
        let mut lookup =
            |kind: &'static str, table: &HashSet<String>, value: &'a Option<Box<str>>| {
                let v = value.as_deref()?;
                if table.contains(v) {
                    Some(v)
                } else {
                    missing.insert((kind, v));
                    None
                }
            };
        Mapped {
            fields,
            username: &fields.username,
            job_title: lookup("job title", &current.job_titles, &fields.job_title),
            company: lookup("company", &current.companies, &fields.company),
            manager: fields
                .manager
                .as_deref()
                .and_then(|m| r.user_refs.get(m, &r.users))
                .map(|i| r.users.id(i)),
        }
    }

    fn get(&self, field: &str) -> Option<&'a str> {
        match field {
            "job_title" => self.job_title,
            "company" => self.company,
            "manager" => self.manager,
            f => self.fields.get(f),
        }
    }

    /// What planning decided of a new user's fields: its name, the lookups
    /// that exist and its manager's id. The record's own fields come after
    /// planning, moved out of the snapshot (`created.rs`): `record` is its
    /// place there.
    fn decided(&self, record: usize) -> Decided {
        Decided {
            record: record as u32,
            username: self.username.to_string(),
            manager: self.manager.map(Box::from),
            job_title_exists: self.job_title.is_some(),
            company_exists: self.company.is_some(),
        }
    }
}

/// Fields that differ; `None` in the mapped record leaves a field alone.
fn field_changes(old: &StoredUser, new: &Mapped, custom_json: Option<&str>) -> Vec<FieldChange> {
    let mut changes = Vec::new();
    if new.username != old.fields.username {
        changes.push(change(
            "username",
            Some(&old.fields.username)
                .filter(|s| !s.is_empty())
                .map(|s| s.as_str()),
            Some(new.username),
        ));
    }
    for field in TEXT_FIELDS {
        if let Some(v) = new.get(field) {
            if old.fields.get(field) != Some(v) {
                changes.push(change(field, old.fields.get(field), Some(v)));
            }
        }
    }
    if let Some(c) = custom_json {
        if old.custom_json.as_deref() != Some(c) {
            changes.push(change("custom", old.custom_json.as_deref(), Some(c)));
        }
    }
    changes
}
