//! A new user's fields in the plan. Planning decides its name, which of its
//! lookups exist and its manager's id; the record's other fields (and its
//! ref key) are then moved out of the snapshot, so a first sync of 100k
//! users does not hold every field twice while it plans and writes.

use super::plan::{Plan, UserChange};
use super::FastMap;
use crate::model::{SourceUser, UserFields};

/// For each create in `plan`: (its index in `plan.users`, the index of its
/// record in `users`). A source id the read returned twice was planned from
/// its first record, so the first one is taken.
fn creates(plan: &Plan, users: &[SourceUser]) -> Vec<(usize, usize)> {
    let mut by_id: FastMap<&str, usize> = FastMap::default();
    for (i, u) in users.iter().enumerate() {
        by_id.entry(u.id.as_str()).or_insert(i);
    }
    plan.users
        .iter()
        .enumerate()
        .filter_map(|(c, change)| match change {
            UserChange::Create { source_id, .. } => Some((c, *by_id.get(source_id.as_str())?)),
            _ => None,
        })
        .collect()
}

/// Move the records' own fields into the plan's creates.
pub(super) fn take_fields(plan: &mut Plan, users: &mut [SourceUser]) {
    for (c, u) in creates(plan, users) {
        let user = &mut users[u];
        complete(
            &mut plan.users[c],
            std::mem::take(&mut user.ref_key),
            std::mem::take(&mut user.fields),
        );
    }
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

fn complete(change: &mut UserChange, from_ref_key: String, from: UserFields) {
    let UserChange::Create {
        ref_key, fields, ..
    } = change
    else {
        return;
    };
    *ref_key = from_ref_key;
    // Every field named, so a field added to records is not left out.
    let UserFields {
        username: _,
        job_title: _,
        company: _,
        manager: _,
        display_name,
        given_name,
        family_name,
        email,
        phone,
        department,
        employee_id,
        custom,
    } = from;
    fields.display_name = display_name;
    fields.given_name = given_name;
    fields.family_name = family_name;
    fields.email = email;
    fields.phone = phone;
    fields.department = department;
    fields.employee_id = employee_id;
    fields.custom = custom;
}
