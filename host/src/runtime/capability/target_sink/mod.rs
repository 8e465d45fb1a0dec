//! The `target` import: what a connector streams during `read` (records,
//! members, removals, rejects, its checkpoint) goes to the run's
//! [`TargetSink`] (part of its [`ReadSink`](super::ReadSink)). Batches over `limits.max_output_kb` are refused; a run
//! whose read sends more than `limits.max_read_mb` is stopped.
//!
//! The import changed in 0.2 (packed pages): `v0_1.rs` and `v0_2.rs` each
//! lift their version's calls into the host's wire records.

mod v0_1;
mod v0_2;

use anyhow::Result;
use wasmtime::component::Linker;

use super::{link_import, Contract, PluginHost};
use crate::model::{ObjectKind, RecordError};
use crate::runtime::job::InstanceLimits;
use crate::runtime::wit::WireObject;

/// A contract 0.2 page of users decoded whole and put as one batch: what a
/// sink that reads every attribute of every record does with it.
pub fn put_page_whole<S: TargetSink + ?Sized>(sink: &mut S, page: &[u8]) -> Result<(), String> {
    sink.put_users(crate::runtime::packed::decode_objects(page).map_err(String::from)?)
}

/// Receives what a connector streams through the `target` import. The sync
/// engine implements it locally; an agent would forward it.
pub trait TargetSink: Send {
    fn put_users(&mut self, batch: Vec<WireObject>) -> Result<(), String>;
    /// A contract 0.2 page of users, as the connector packed it. Decoded
    /// whole by default; the sync's collector passes it on to 0.2 mappers.
    fn put_user_page(&mut self, page: Vec<u8>) -> Result<(), String> {
        put_page_whole(self, &page)
    }
    fn put_groups(&mut self, batch: Vec<WireObject>) -> Result<(), String>;
    fn put_members(&mut self, group_ref: String, member_refs: Vec<String>) -> Result<(), String>;
    fn remove(&mut self, kind: ObjectKind, ids: Vec<String>) -> Result<(), String>;
    fn reject(&mut self, error: RecordError);
    fn checkpoint(&mut self, cursor: String) -> Result<(), String>;
    /// Which of `ids` the store holds as users read from this source, in
    /// order; `false` also means "cannot tell", which is always safe (the
    /// connector then re-sends those users' groups). An agent answers so.
    fn known_users(&mut self, ids: &[String]) -> Vec<bool> {
        vec![false; ids.len()]
    }
    /// Why the read must stop now (a limit, a failed mapper, shutdown),
    /// once; the host then stops the connector even if it ignores the
    /// error its call returned.
    fn take_fatal(&mut self) -> Option<String> {
        None
    }
}

/// Per instance: the run's read budget.
pub(crate) struct TargetState {
    /// Everything a connector may send in one run, and what it sent so far.
    max_read: usize,
    read_bytes: usize,
}

impl TargetState {
    pub(super) fn new(limits: &InstanceLimits) -> Self {
        TargetState {
            max_read: limits.max_read,
            read_bytes: 0,
        }
    }
}

pub(super) fn add_to_linker(linker: &mut Linker<PluginHost>, contract: Contract) -> Result<()> {
    link_import!(linker, contract, target)
}

impl PluginHost {
    /// Refuse a batch (`what` names it) taking `size` bytes over the
    /// output cap, and count it against the run's read budget.
    fn check_read(&mut self, what: impl FnOnce() -> String, size: usize) -> Result<(), String> {
        if size > self.max_output {
            return Err(format!(
                "{} is {} KiB, over the {} KiB limit (limits.max_output_kb); send smaller batches",
                what(),
                size / 1024,
                self.max_output / 1024
            ));
        }
        let target = &mut self.target;
        target.read_bytes += size;
        if target.read_bytes > target.max_read {
            let msg = format!(
                "connector sent more than {} MiB in one run (limits.max_read_mb); it was stopped",
                target.max_read >> 20
            );
            self.fatal
                .get_or_insert_with(|| anyhow::anyhow!(msg.clone()));
            return Err(msg);
        }
        Ok(())
    }

    /// Refuse one call's payload over the output cap: what the host must
    /// copy and keep per call is bounded, whatever the run's budget.
    pub(super) fn check_payload(&mut self, what: &str, size: usize) -> Result<(), String> {
        if size > self.max_output {
            return Err(format!(
                "{what} of {} KiB is over the {} KiB limit (limits.max_output_kb); send less per call",
                size / 1024,
                self.max_output / 1024
            ));
        }
        Ok(())
    }

    // The calls on host types; each version's `Host` lifts its arguments
    // into these.

    fn remove(&mut self, kind: ObjectKind, ids: Vec<String>) -> Result<(), String> {
        self.check_payload("remove", strings_size(&ids))?;
        self.with_sink(|s| s.remove(kind, ids))
    }

    fn reject(&mut self, record_ref: String, message: String) {
        // A reject is a line in the run record: keep it a line.
        let max = super::log::MAX_LOG_LINE;
        let (record, message) = (
            super::truncate(&record_ref, max).to_string(),
            super::truncate(&message, max).to_string(),
        );
        let _ = self.with_sink(|s| {
            s.reject(RecordError {
                record,
                field: None,
                message,
            });
            Ok(())
        });
    }

    fn checkpoint(&mut self, cursor: String) -> Result<(), String> {
        self.check_payload("checkpoint", cursor.len())?;
        self.with_sink(|s| s.checkpoint(cursor))
    }

    fn known_users(&mut self, ids: Vec<String>) -> Result<Vec<bool>, String> {
        if ids.len() > MAX_KNOWN_USERS {
            return Err(format!(
                "known-users asked about {} ids; at most {MAX_KNOWN_USERS} per call",
                ids.len()
            ));
        }
        self.check_payload("known-users", strings_size(&ids))?;
        self.with_sink(|s| Ok(s.known_users(&ids)))
    }
}

/// Ids one `known-users` call may ask about (the contract says so).
const MAX_KNOWN_USERS: usize = 10_000;

fn strings_size(list: &[String]) -> usize {
    list.iter().map(String::len).sum()
}
