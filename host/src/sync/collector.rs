//! The local `target`: receives what a connector streams, runs the mapper
//! chain on each batch right away (so raw records never pile up), and
//! builds the engine's snapshot. Everything it keeps is charged to the
//! run's [`ReadBudget`] (`limits.max_read_mb`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use regex::Regex;

use crate::engine::Snapshot;
use crate::model::{ObjectKind, RecordError, SourceGroup, SourceUser, UserFields};
use crate::runtime::{MapperInstance, TargetSink, WireObject, WireValue};

use super::held::{self, ReadBudget};
use super::hooks::CallObserver;

/// What one read produced, shared between the sink (inside the plugin's
/// store) and the orchestrator.
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
}

/// What the collector tells a connector once a sampled read has enough.
pub const SAMPLE_TAKEN: &str = "the connection test has its sample; the read stops here";

pub struct Collector {
    pub shared: Arc<Mutex<Collected>>,
    pub mappers: Vec<MapperInstance>,
    pub user_filter: Option<(String, Regex)>,
    pub seats: Vec<(String, u32, u32)>,
    pub stored_state: HashMap<String, Vec<u8>>,
    /// Told how long each mapper call took; `mapper_names` match `mappers`.
    pub observer: Option<Arc<dyn CallObserver>>,
    pub mapper_names: Vec<String>,
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
    /// Stop after this many users (see `SyncRequest::sample`).
    pub sample: Option<usize>,
}

impl Collector {
    fn in_filter(&self, o: &WireObject) -> bool {
        let Some((attr, re)) = &self.user_filter else {
            return true;
        };
        o.attributes
            .iter()
            .filter(|a| a.name.eq_ignore_ascii_case(attr))
            .flat_map(|a| &a.values)
            .any(|v| matches!(v, WireValue::Text(t) if re.is_match(t)))
    }

    /// Stop the read: the connector gets `msg`, and the host stops it at
    /// its next instruction if it carries on anyway.
    fn stop(&mut self, msg: String) -> String {
        self.fatal.get_or_insert_with(|| msg.clone());
        msg
    }

    fn fail(&mut self, e: anyhow::Error) -> String {
        self.stop(format!("{e:#}"))
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

    fn observe(&self, mapper: usize, call: &str, started: Instant) {
        if let (Some(o), Some(name)) = (&self.observer, self.mapper_names.get(mapper)) {
            o.plugin_call(name, call, started.elapsed());
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        tracing::debug!(
            held_kib = self.budget.held() >> 10,
            "what the read held on the host"
        );
    }
}

impl TargetSink for Collector {
    fn put_users(&mut self, batch: Vec<WireObject>) -> Result<(), String> {
        self.check_cancelled()?;
        if let Some(p) = &self.progress {
            p.add_users(batch.len());
        }
        let mut merged: Vec<Result<Option<UserFields>, RecordError>> = Vec::new();
        for i in 0..self.mappers.len() {
            let started = Instant::now();
            let out = self.mappers[i].map_users(&batch);
            self.observe(i, "map-users", started);
            let out = out.map_err(|e| self.fail(e))?;
            if i == 0 {
                merged = out;
                continue;
            }
            for (slot, later) in merged.iter_mut().zip(out) {
                match (slot.as_mut(), later) {
                    (Ok(Some(base)), Ok(Some(more))) => base.overlay(more),
                    (Ok(_), Err(e)) => *slot = Err(e),
                    _ => {}
                }
            }
        }
        let mut filtered: Vec<bool> = batch.iter().map(|o| self.in_filter(o)).collect();
        let shared = self.shared.clone();
        let mut shared = shared.lock().expect("collector lock");
        if self.sample.is_some() && shared.sample_attributes.is_empty() {
            if let Some(first) = batch.first() {
                shared.sample_attributes =
                    first.attributes.iter().map(|a| a.name.clone()).collect();
            }
        }
        let snap = &mut shared.snapshot;
        let mut bytes = 0;
        for ((object, result), in_filter) in batch.into_iter().zip(merged).zip(filtered.drain(..)) {
            match result {
                Ok(Some(fields)) => {
                    let user = SourceUser {
                        id: object.id,
                        ref_key: object.ref_key,
                        enabled: object.enabled,
                        in_filter,
                        fields,
                        member_of: object.member_of,
                    };
                    bytes += held::user(&user);
                    snap.users.push(user);
                }
                Ok(None) => {}
                Err(e) => {
                    bytes += held::set_entry(&object.id) + held::record_error(&e);
                    snap.unreadable_user_ids.insert(object.id);
                    snap.errors.push(e);
                }
            }
        }
        let sampled = self
            .sample
            .is_some_and(|n| snap.users.len() + snap.errors.len() >= n);
        shared.sampled |= sampled;
        drop(shared);
        self.charge(bytes)?;
        if sampled {
            return Err(self.stop(SAMPLE_TAKEN.into()));
        }
        Ok(())
    }

    fn put_groups(&mut self, batch: Vec<WireObject>) -> Result<(), String> {
        self.check_cancelled()?;
        if let Some(p) = &self.progress {
            p.add_groups(batch.len());
        }
        let started = Instant::now();
        let names = match self.mappers.first_mut() {
            Some(m) => {
                let out = m.map_groups(&batch);
                self.observe(0, "map-groups", started);
                out.map_err(|e| self.fail(e))?
            }
            None => batch
                .iter()
                .map(|o| Ok(Some((o.id.clone(), None))))
                .collect(),
        };
        let mut bytes = 0;
        let mut shared = self.shared.lock().expect("collector lock");
        for (object, result) in batch.into_iter().zip(names) {
            match result {
                Ok(Some((name, description))) => {
                    let group = SourceGroup {
                        id: object.id,
                        ref_key: object.ref_key,
                        name,
                        description,
                        members: object.members,
                        member_of: object.member_of,
                    };
                    bytes += held::group(&group);
                    shared.snapshot.groups.push(group);
                }
                Ok(None) => {}
                Err(e) => {
                    bytes += held::record_error(&e);
                    shared.snapshot.errors.push(e);
                }
            }
        }
        drop(shared);
        self.charge(bytes)
    }

    fn put_members(&mut self, group_ref: String, member_refs: Vec<String>) -> Result<(), String> {
        self.check_cancelled()?;
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
        self.charge(held::strings(&ids))?;
        let mut shared = self.shared.lock().expect("collector lock");
        match kind {
            ObjectKind::User => shared.snapshot.removed_users.extend(ids),
            ObjectKind::Group => shared.snapshot.removed_groups.extend(ids),
        }
        Ok(())
    }

    fn reject(&mut self, error: RecordError) {
        if self.charge(held::record_error(&error)).is_err() {
            return;
        }
        self.shared
            .lock()
            .expect("collector lock")
            .snapshot
            .errors
            .push(error);
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

    fn run_again_in(&mut self, seconds: u32) {
        self.shared.lock().expect("collector lock").run_again_in = Some(seconds);
    }

    fn seats(&mut self) -> Vec<(String, u32, u32)> {
        self.seats.clone()
    }

    fn take_fatal(&mut self) -> Option<String> {
        self.fatal.take()
    }

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
