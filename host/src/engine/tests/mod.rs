//! Unit tests of the sync semantics: one behaviour per test, built from
//! small helpers so each reads in a few lines.

mod groups;
mod licensing;
mod names;
mod safety;
mod users;

pub(super) use std::collections::HashSet;

pub(super) use regex::Regex;

pub(super) use super::*;
pub(super) use crate::config::LicensePolicy;
pub(super) use crate::model::{RecordError, SourceGroup, SourceUser, UserFields};

// ---------------------------------------------------------------- helpers

pub(super) fn dn(id: &str) -> String {
    format!("uid={id},ou=people,dc=example,dc=org")
}

pub(super) fn group_dn(id: &str) -> String {
    format!("cn={id},ou=groups,dc=example,dc=org")
}

pub(super) fn fields(username: &str) -> UserFields {
    UserFields {
        username: username.to_string(),
        ..UserFields::default()
    }
}

/// An enabled, in-filter source user.
pub(super) fn user(id: &str, username: &str) -> SourceUser {
    SourceUser {
        id: id.to_string(),
        ref_key: dn(id),
        enabled: true,
        in_filter: true,
        fields: Box::new(fields(username)),
        member_of: Vec::new(),
    }
}

/// A source user with one field set.
pub(super) fn user_with(id: &str, username: &str, field: &str, value: &str) -> SourceUser {
    let mut u = user(id, username);
    u.fields.set(field, Some(value.to_string()));
    u
}

/// An active stored user that matches `user(id, username)` exactly.
pub(super) fn stored(id: &str, username: &str) -> StoredUser {
    StoredUser {
        source_id: id.to_string(),
        ref_key: dn(id),
        fields: fields(username),
        custom_json: None,
        active: true,
        in_source: true,
        source_enabled: true,
        deactivation_reason: None,
    }
}

pub(super) fn stored_with(id: &str, username: &str, field: &str, value: &str) -> StoredUser {
    let mut u = stored(id, username);
    u.fields.set(field, Some(value.to_string()));
    u
}

/// A stored user the sync deactivated earlier.
pub(super) fn inactive(id: &str, username: &str, reason: &str, in_source: bool) -> StoredUser {
    StoredUser {
        active: false,
        in_source,
        deactivation_reason: Some(reason.to_string()),
        ..stored(id, username)
    }
}

/// A source group whose direct members are refs (user DNs or group refs).
pub(super) fn group(id: &str, name: &str, members: &[String]) -> SourceGroup {
    SourceGroup {
        id: id.to_string(),
        ref_key: group_dn(id),
        name: name.to_string(),
        description: None,
        members: members.to_vec(),
        member_of: Vec::new(),
    }
}

pub(super) fn stored_group(id: &str, name: &str) -> StoredGroup {
    StoredGroup {
        source_id: id.to_string(),
        ref_key: group_dn(id),
        name: name.to_string(),
        description: None,
        active: true,
    }
}

/// A complete read of these users.
pub(super) fn snap(users: Vec<SourceUser>) -> Snapshot {
    Snapshot {
        users,
        complete: true,
        ..Snapshot::default()
    }
}

pub(super) fn snap_groups(users: Vec<SourceUser>, groups: Vec<SourceGroup>) -> Snapshot {
    Snapshot {
        groups,
        ..snap(users)
    }
}

/// The store holding these users; their usernames are held by this job.
pub(super) fn current(users: Vec<StoredUser>) -> Current {
    let usernames = users
        .iter()
        .map(|u| {
            (
                u.fields.username.clone(),
                UsernameOwner::ThisJob {
                    source_id: u.source_id.clone(),
                },
            )
        })
        .collect();
    Current {
        users,
        usernames,
        ..Current::default()
    }
}

/// Stored memberships (group id, user id) as `Current` holds them: by
/// index into its groups and users, each group's together.
pub(super) fn stored_memberships(c: &Current, items: &[(&str, &str)]) -> Vec<(u32, u32)> {
    let found =
        |i: Option<usize>, id: &str| i.unwrap_or_else(|| panic!("{id} is not stored")) as u32;
    let mut m: Vec<(u32, u32)> = items
        .iter()
        .map(|&(g, u)| {
            let group = c.groups.iter().position(|s| s.source_id == g);
            let user = c.users.iter().position(|s| s.source_id == u);
            (found(group, g), found(user, u))
        })
        .collect();
    m.sort_by_key(|&(g, _)| g);
    m
}

pub(super) fn pairs<T: FromIterator<(A, A)>, A: for<'a> From<&'a str>>(
    items: &[(&str, &str)],
) -> T {
    items
        .iter()
        .map(|(a, b)| ((*a).into(), (*b).into()))
        .collect()
}

pub(super) fn full(s: &Snapshot, c: &Current, p: &Policy) -> Plan {
    plan(s, c, p, RunMode::Full)
}

pub(super) fn full_default(s: &Snapshot, c: &Current) -> Plan {
    full(s, c, &Policy::default())
}

/// (source id, action) of every user change, in plan order.
pub(super) fn actions(p: &Plan) -> Vec<(&str, &str)> {
    p.users
        .iter()
        .map(|u| (u.source_id(), u.action()))
        .collect()
}

/// (source id, reason) of every deactivation.
pub(super) fn deactivations(p: &Plan) -> Vec<(&str, DeactivationReason)> {
    p.users
        .iter()
        .filter_map(|u| match u {
            UserChange::Deactivate {
                source_id, reason, ..
            } => Some((source_id.as_str(), *reason)),
            _ => None,
        })
        .collect()
}

pub(super) fn created(p: &Plan) -> Vec<&str> {
    p.users
        .iter()
        .filter(|u| u.action() == "create")
        .map(|u| u.source_id())
        .collect()
}

pub(super) fn created_fields<'a>(p: &'a Plan, id: &str) -> &'a UserFields {
    p.users
        .iter()
        .find_map(|u| match u {
            UserChange::Create {
                source_id, fields, ..
            } if source_id == id => Some(&**fields),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no create for {id}: {:?}", p.users))
}

/// (group, user, add) of every membership change, sorted.
pub(super) fn memberships(p: &Plan) -> Vec<(&str, &str, bool)> {
    let mut m: Vec<_> = p
        .memberships
        .iter()
        .map(|m| (m.group(), m.user(), m.add))
        .collect();
    m.sort();
    m
}

pub(super) fn group_actions(p: &Plan) -> Vec<(&str, &str)> {
    p.groups
        .iter()
        .map(|g| (g.source_id(), g.action()))
        .collect()
}

pub(super) fn licenses(p: &Plan) -> Vec<(&str, bool)> {
    p.licenses
        .iter()
        .map(|l| (l.user.as_str(), l.grant))
        .collect()
}

pub(super) fn license_policy(seats: u32, policy: LicensePolicy) -> Policy {
    Policy {
        license: Some(LicenseRule {
            kind: "pro".into(),
            seats,
            policy,
        }),
        ..Policy::default()
    }
}

pub(super) fn selected(names: &[&str], pattern: Option<&str>) -> GroupSelection {
    GroupSelection::Selected {
        names: names.iter().map(|n| n.to_string()).collect(),
        pattern: pattern.map(|p| Regex::new(p).unwrap()),
    }
}

pub(super) fn field_change(field: &str, old: Option<&str>, new: Option<&str>) -> FieldChange {
    FieldChange {
        field: field.into(),
        old: old.map(Into::into),
        new: new.map(Into::into),
    }
}

pub(super) fn has_warning(p: &Plan, needle: &str) -> bool {
    p.warnings.iter().any(|w| w.contains(needle))
}
