//! A new user's fields in the plan. Planning decides its name, which of its
//! lookups exist and its manager's id ([`NewFields::Decided`]); the record's
//! fields box (and its ref key) are then moved out of the snapshot and the
//! decisions written into them, so a first sync of 1M users neither
//! allocates a field set per user nor holds every user's fields twice.

use super::plan::{Plan, UserChange};
use super::FastMap;
use crate::model::{SourceUser, UserFields};

/// For each create in `plan`: (its index in `plan.users`, the index of its
/// record in `users`), by record. A source id the read returned twice
/// was planned from its first record, so the first one is taken.
fn creates(plan: &Plan, users: &[SourceUser]) -> Vec<(usize, usize)> {
    if !plan
        .users
        .iter()
        .any(|u| matches!(u, UserChange::Create { .. }))
    {
        return Vec::new();
    }
    let mut by_id: FastMap<&str, usize> = FastMap::default();
    for (i, u) in users.iter().enumerate() {
        by_id.entry(u.id.as_str()).or_insert(i);
    }
    let mut creates: Vec<(usize, usize)> = plan
        .users
        .iter()
        .enumerate()
        .filter_map(|(c, change)| match change {
            UserChange::Create { source_id, .. } => Some((c, *by_id.get(source_id.as_str())?)),
            _ => None,
        })
        .collect();
    creates.sort_unstable_by_key(|&(_, u)| u);
    creates
}

/// Move the records of the users `plan` creates into it. Returns the
/// records it did not take, for the caller to free.
pub(super) fn take_fields(plan: &mut Plan, users: Vec<SourceUser>) -> Vec<SourceUser> {
    let creates = creates(plan, &users);
    if creates.is_empty() {
        return users;
    }
    let mut rest = Vec::with_capacity(users.len() - creates.len());
    let mut next = creates.into_iter().peekable();
    for (i, user) in users.into_iter().enumerate() {
        match next.next_if(|&(_, u)| u == i) {
            Some((c, _)) => complete(&mut plan.users[c], user.ref_key, user.fields),
            None => rest.push(user),
        }
    }
    rest
}

/// Copy them, for a caller that keeps the snapshot.
pub(super) fn copy_fields(plan: &mut Plan, users: &[SourceUser]) {
    for (c, u) in creates(plan, users) {
        complete(
            &mut plan.users[c],
            users[u].ref_key.clone(),
            users[u].fields.clone(),
        );
    }
}

fn complete(change: &mut UserChange, from_ref_key: String, from: Box<UserFields>) {
    if let UserChange::Create {
        ref_key, fields, ..
    } = change
    {
        *ref_key = from_ref_key;
        fields.complete(from);
    }
}
