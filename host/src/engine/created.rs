//! A new user's fields in the plan. Planning decides its name, which of its
//! lookups exist and its manager's id ([`NewFields::Decided`]); the record's
//! fields box (and its ref key) are then moved out of the snapshot and the
//! decisions written into them, so a first sync of 1M users neither
//! allocates a field set per user nor holds every user's fields twice.

use serde::Serialize;

use super::plan::{Plan, UserChange};
use crate::model::{SourceUser, UserFields};

/// For each create in `plan`: (its index in `plan.users`, the index of its
/// record in `users`), by record. Each create names its record: finding it
/// by source id took a map of every read user, ~0.4 s of a 1M-user first
/// sync's planning.
fn creates(plan: &Plan, users: &[SourceUser]) -> Vec<(usize, usize)> {
    let mut creates: Vec<(usize, usize)> = (plan.users.iter().enumerate())
        .filter_map(|(c, change)| match change {
            UserChange::Create {
                fields: NewFields::Decided(d),
                source_id,
                ..
            } => {
                let record = d.record as usize;
                debug_assert_eq!(users.get(record).map(|u| &u.id), Some(source_id));
                Some((c, record))
            }
            _ => None,
        })
        .collect();
    // Already in order, unless a later rule moved a change.
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

/// A new user's fields. Planning decides its name, which of its lookups
/// exist and its manager's id; then the record's own fields are moved in,
/// box and all (`take_fields`). So planning allocates no field set per new
/// user, and a first sync does not hold every user's fields twice (at 1M
/// users that was ~300 MB of the peak).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewFields {
    /// While planning.
    Decided(Decided),
    /// Once planned: the record's fields with the decisions written in.
    Planned(Box<UserFields>),
}

/// What planning decided of a new user's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    /// The place in the snapshot's users of the record it was planned from
    /// (the first, when the source sent its id twice).
    pub record: u32,
    pub username: String,
    /// The manager's source id, when the ref names a user.
    pub manager: Option<Box<str>>,
    /// Whether the value exists in the target's lookup table (a sync never
    /// invents one), so the record's value is kept.
    pub job_title_exists: bool,
    pub company_exists: bool,
}

impl NewFields {
    pub fn username(&self) -> &str {
        match self {
            NewFields::Decided(d) => &d.username,
            NewFields::Planned(f) => &f.username,
        }
    }

    /// Write the decisions into the record's fields, which become these.
    fn complete(&mut self, mut record: Box<UserFields>) {
        let NewFields::Decided(d) = self else {
            return;
        };
        record.username = std::mem::take(&mut d.username);
        record.manager = d.manager.take();
        if !d.job_title_exists {
            record.job_title = None;
        }
        if !d.company_exists {
            record.company = None;
        }
        *self = NewFields::Planned(record);
    }
}

/// The fields, once planned (a plan hands out no other).
impl std::ops::Deref for NewFields {
    type Target = UserFields;
    fn deref(&self) -> &UserFields {
        match self {
            NewFields::Planned(f) => f,
            NewFields::Decided(d) => panic!(
                "the fields of new user {:?} read before planning ended",
                d.username
            ),
        }
    }
}

impl Serialize for NewFields {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(s)
    }
}
