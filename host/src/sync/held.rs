//! What a run's read holds on the host, and the cap on it
//! (`limits.max_read_mb`).
//!
//! The figure is the estimated heap size of what the collector keeps
//! (records as mapped, groups and their member lists, removals, rejects,
//! plugin state, the cursor), not the bytes a plugin sent: a 30-byte wire
//! record becomes a few hundred bytes of structs, strings and allocator
//! overhead here, which is how a flood used to grow the host by gigabytes.

use std::mem::size_of;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::model::{RecordError, SourceGroup, SourceUser, UserFields};

/// Allocator overhead per heap block (header and rounding), a fair average
/// for glibc malloc on 64-bit.
const PER_ALLOCATION: usize = 16;

/// Heap bytes of one owned string.
pub fn string(s: &str) -> usize {
    if s.is_empty() {
        0
    } else {
        s.len() + PER_ALLOCATION
    }
}

/// Heap bytes of a list of strings (the list's buffer and each string).
pub fn strings<S: AsRef<str>>(list: &[S]) -> usize {
    if list.is_empty() {
        return 0;
    }
    list.len() * size_of::<String>()
        + PER_ALLOCATION
        + list.iter().map(|s| string(s.as_ref())).sum::<usize>()
}

fn fields(f: &UserFields) -> usize {
    let opt = |o: &Option<Box<str>>| o.as_deref().map_or(0, string);
    string(&f.username)
        + opt(&f.display_name)
        + opt(&f.given_name)
        + opt(&f.family_name)
        + opt(&f.email)
        + opt(&f.phone)
        + opt(&f.job_title)
        + opt(&f.company)
        + opt(&f.department)
        + opt(&f.manager)
        + opt(&f.employee_id)
        + f.custom.len() * size_of::<(String, String)>()
        + f.custom
            .iter()
            .map(|(k, v)| string(k) + string(v))
            .sum::<usize>()
}

pub fn user(u: &SourceUser) -> usize {
    size_of::<SourceUser>()
        + size_of::<UserFields>()
        + PER_ALLOCATION
        + string(&u.id)
        + string(&u.ref_key)
        + fields(&u.fields)
        + strings(&u.member_of)
}

pub fn group(g: &SourceGroup) -> usize {
    size_of::<SourceGroup>()
        + string(&g.id)
        + string(&g.ref_key)
        + string(&g.name)
        + g.description.as_deref().map_or(0, string)
        + strings(&g.members)
        + strings(&g.member_of)
}

pub fn record_error(e: &RecordError) -> usize {
    size_of::<RecordError>()
        + string(&e.record)
        + e.field.as_deref().map_or(0, string)
        + string(&e.message)
}

/// An entry of a hash set or map: the key's heap plus the table slot.
pub fn set_entry(key: &str) -> usize {
    size_of::<String>() + 8 + string(key)
}

/// The running total of one read against its cap, shared by the
/// collector and the mapper stage's thread.
#[derive(Debug, Clone)]
pub struct ReadBudget {
    held: Arc<AtomicUsize>,
    max: usize,
}

impl ReadBudget {
    pub fn new(max_bytes: usize) -> Self {
        ReadBudget {
            held: Arc::new(AtomicUsize::new(0)),
            max: max_bytes,
        }
    }

    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    /// Count `bytes` more; past the cap, the message that stops the run.
    pub fn take(&self, bytes: usize) -> Result<(), String> {
        let held = self
            .held
            .fetch_add(bytes, Ordering::Relaxed)
            .saturating_add(bytes);
        if held > self.max {
            return Err(format!(
                "the connector's read holds more than {} MiB of records on the host \
                 (limits.max_read_mb = {}); it was stopped. If the source really is \
                 this big, raise limits.max_read_mb (in [limits] or the tenant's \
                 [tenants.limits])",
                self.max >> 20,
                self.max >> 20
            ));
        }
        Ok(())
    }

    /// Something counted earlier was replaced or dropped.
    pub fn give_back(&self, bytes: usize) {
        let _ = self
            .held
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |h| {
                Some(h.saturating_sub(bytes))
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tiny_wire_record_is_charged_its_host_footprint() {
        let u = SourceUser {
            id: "flood-1-1".into(),
            ref_key: String::new(),
            enabled: true,
            in_filter: true,
            fields: Box::new(UserFields {
                username: "flood1x1".into(),
                ..UserFields::default()
            }),
            member_of: vec![],
        };
        // The struct alone is several hundred bytes, whatever was sent.
        assert!(user(&u) > size_of::<SourceUser>(), "{}", user(&u));
        assert!(user(&u) > 300, "{}", user(&u));
    }

    #[test]
    fn the_budget_stops_past_its_cap_naming_the_limit_key() {
        let b = ReadBudget::new(1 << 20);
        b.take(1 << 19).unwrap();
        b.give_back(1 << 19);
        b.take(1 << 20).unwrap();
        let err = b.take(1).unwrap_err();
        assert!(err.contains("limits.max_read_mb = 1"), "{err}");
        assert!(err.contains("raise limits.max_read_mb"), "{err}");
    }
}
