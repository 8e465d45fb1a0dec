//! The local `target`: receives what a connector streams and hands each
//! batch to the mapper stage (`map_stage.rs`), which maps it while the
//! connector reads on and builds the engine's snapshot. Everything the
//! read keeps is charged to the run's [`ReadBudget`] (`limits.max_read_mb`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::engine::Snapshot;
use crate::model::{ObjectKind, RecordError};
use crate::runtime::{
    put_page_whole, PackedUsers, PluginState, RunWarnings, Schedule, Seats, TargetSink, WireObject,
};

use super::held::{self, ReadBudget};
use super::map_stage::{Batch, Mapping};

/// What one read produced, shared between the sink (inside the plugin's
/// store), the mapper stage and the orchestrator.
#[derive(Default)]
pub struct Collected {
    pub snapshot: Snapshot,
    pub cursor: Option<String>,
    pub state: HashMap<String, Option<Vec<u8>>>,
    pub run_again_in: Option<u32>,
    /// Group members sent separately with `put-members`.
    pub extra_members: Vec<(String, Vec<String>)>,
    /// Warnings the connector logged, for the run record.
    pub warnings: Vec<String>,
    /// The read stopped because it had its sample (not a failure).
    pub sampled: bool,
    /// Attribute names of the first user record the connector sent, for
    /// the connection test's hints.
    pub sample_attributes: Vec<String>,
    /// Why mapping stopped, when the connector may not have heard (its
    /// last batches were still queued when it finished): the run fails.
    pub mapping_failed: Option<String>,
}

pub struct Collector {
    pub shared: Arc<Mutex<Collected>>,
    /// The mapper chain, inline or on its own thread; `None` once finished.
    pub mapping: Option<Mapping>,
    pub seats: Vec<(String, u32, u32)>,
    pub stored_state: HashMap<String, Vec<u8>>,
    /// Set when the host shuts down: the next batch is refused, so the
    /// connector stops at a batch boundary.
    pub cancel: Option<Arc<AtomicBool>>,
    /// Counts the records as they arrive (the console's live view).
    pub progress: Option<Arc<super::progress::Progress>>,
    /// Host memory this read holds, against `limits.max_read_mb`.
    pub budget: ReadBudget,
    /// Why the read must stop (budget, mapper failure, shutdown); the host
    /// then stops the connector even if it ignores the error it was given.
    pub fatal: Option<String>,
    /// Told at the read's first record, removal or error: an incremental
    /// run waits for it before it loads the job's rows (sync/mod.rs).
    pub reported: Arc<tokio::sync::Notify>,
    /// Answers `target.known-users` from the store.
    pub known: KnownUsers,
}

/// The store's view of which users a job holds, asked from the read's
/// blocking thread.
pub struct KnownUsers {
    pub store: crate::store::Store,
    pub tenant: String,
    pub job: String,
    pub rt: tokio::runtime::Handle,
}

impl KnownUsers {
    /// A store failure answers "cannot tell", which only costs the read
    /// time (the groups go again); the run's apply reports the store.
    fn ask(&self, ids: &[String]) -> Vec<bool> {
        let started = std::time::Instant::now();
        let known = self
            .rt
            .block_on(self.store.known_users(&self.tenant, &self.job, ids));
        tracing::debug!(
            ids = ids.len(),
            ms = started.elapsed().as_millis() as u64,
            "known-users answered"
        );
        known.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "known-users: the store did not answer; the groups go again");
            vec![false; ids.len()]
        })
    }
}

impl Collector {
    /// Stop the read: the connector gets `msg`, and the host stops it at
    /// its next instruction if it carries on anyway.
    fn stop(&mut self, msg: String) -> String {
        self.fatal.get_or_insert_with(|| msg.clone());
        msg
    }

    fn check_cancelled(&mut self) -> Result<(), String> {
        match &self.cancel {
            Some(c) if c.load(Ordering::Relaxed) => {
                Err(self.stop("the host is shutting down; this run is cancelled".into()))
            }
            _ => Ok(()),
        }
    }

    /// Charge `bytes` to the budget; past it, the read stops.
    fn charge(&mut self, bytes: usize) -> Result<(), String> {
        self.budget.take(bytes).map_err(|msg| self.stop(msg))
    }

    /// Hand a batch to the mapper stage; its failure stops the read.
    fn map(&mut self, batch: Batch) -> Result<(), String> {
        self.reported.notify_one();
        let sent = match self.mapping.as_mut() {
            Some(mapping) => mapping.send(batch),
            None => Err("the read has finished".into()),
        };
        sent.map_err(|msg| self.stop(msg))
    }
}

impl Drop for Collector {
    /// The read is over: wait for the mapper stage to map what is queued.
    fn drop(&mut self) {
        drop(self.mapping.take());
        tracing::debug!(
            held_kib = self.budget.held() >> 10,
            "what the read held on the host"
        );
    }
}

impl TargetSink for Collector {
    fn known_users(&mut self, ids: &[String]) -> Vec<bool> {
        self.known.ask(ids)
    }

    fn put_users(&mut self, batch: Vec<WireObject>) -> Result<(), String> {
        self.check_cancelled()?;
        if let Some(p) = &self.progress {
            p.add_users(batch.len());
        }
        self.map(Batch::Users(batch))
    }

    fn put_user_page(&mut self, page: Vec<u8>) -> Result<(), String> {
        if !self.mapping.as_ref().is_some_and(Mapping::takes_pages) {
            return put_page_whole(self, &page);
        }
        self.check_cancelled()?;
        let users = PackedUsers::decode(page).map_err(String::from)?;
        if let Some(p) = &self.progress {
            p.add_users(users.heads.len());
        }
        self.map(Batch::UserPage(users))
    }

    fn put_groups(&mut self, batch: Vec<WireObject>) -> Result<(), String> {
        self.check_cancelled()?;
        if let Some(p) = &self.progress {
            p.add_groups(batch.len());
        }
        self.map(Batch::Groups(batch))
    }

    fn put_members(&mut self, group_ref: String, member_refs: Vec<String>) -> Result<(), String> {
        self.check_cancelled()?;
        self.reported.notify_one();
        self.charge(
            std::mem::size_of::<(String, Vec<String>)>()
                + held::string(&group_ref)
                + held::strings(&member_refs),
        )?;
        self.shared
            .lock()
            .expect("collector lock")
            .extra_members
            .push((group_ref, member_refs));
        Ok(())
    }

    fn remove(&mut self, kind: ObjectKind, ids: Vec<String>) -> Result<(), String> {
        self.check_cancelled()?;
        self.reported.notify_one();
        self.charge(held::strings(&ids))?;
        let mut shared = self.shared.lock().expect("collector lock");
        match kind {
            ObjectKind::User => shared.snapshot.removed_users.extend(ids),
            ObjectKind::Group => shared.snapshot.removed_groups.extend(ids),
        }
        Ok(())
    }

    fn reject(&mut self, error: RecordError) {
        // Through the stage, so the run's errors keep the connector's order.
        let _ = self.map(Batch::Reject(error));
    }

    fn checkpoint(&mut self, cursor: String) -> Result<(), String> {
        self.charge(held::string(&cursor))?;
        let old = self
            .shared
            .lock()
            .expect("collector lock")
            .cursor
            .replace(cursor);
        self.budget
            .give_back(old.as_deref().map_or(0, held::string));
        Ok(())
    }

    fn take_fatal(&mut self) -> Option<String> {
        self.fatal.take()
    }
}

impl PluginState for Collector {
    fn state_get(&mut self, key: &str) -> Option<Vec<u8>> {
        let shared = self.shared.lock().expect("collector lock");
        match shared.state.get(key) {
            Some(v) => v.clone(),
            None => self.stored_state.get(key).cloned(),
        }
    }

    fn state_set(&mut self, key: String, value: Option<Vec<u8>>) {
        let size = |v: &Option<Vec<u8>>| v.as_ref().map_or(0, Vec::len);
        if self.charge(held::set_entry(&key) + size(&value)).is_err() {
            return;
        }
        let old = self
            .shared
            .lock()
            .expect("collector lock")
            .state
            .insert(key.clone(), value);
        if let Some(old) = old {
            self.budget.give_back(held::set_entry(&key) + size(&old));
        }
    }
}

impl Schedule for Collector {
    fn run_again_in(&mut self, seconds: u32) {
        self.shared.lock().expect("collector lock").run_again_in = Some(seconds);
    }
}

impl Seats for Collector {
    fn seats(&mut self) -> Vec<(String, u32, u32)> {
        self.seats.clone()
    }
}

impl RunWarnings for Collector {
    fn warn(&mut self, message: String) {
        let mut shared = self.shared.lock().expect("collector lock");
        // A chatty connector cannot flood the run record.
        if shared.warnings.len() < 100 {
            shared.warnings.push(message);
        }
    }
}

/// Attach members sent with `put-members` to their groups.
pub fn merge_extra_members(c: &mut Collected) {
    if c.extra_members.is_empty() {
        return;
    }
    let mut by_ref: HashMap<String, usize> = HashMap::new();
    for (i, g) in c.snapshot.groups.iter().enumerate() {
        by_ref.insert(g.id.clone(), i);
        if !g.ref_key.is_empty() {
            by_ref.insert(g.ref_key.clone(), i);
        }
    }
    for (group, members) in std::mem::take(&mut c.extra_members) {
        if let Some(&i) = by_ref.get(&group) {
            c.snapshot.groups[i].members.extend(members);
        }
    }
}
