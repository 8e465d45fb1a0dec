//! The local `target`: receives what a connector streams, runs the mapper
//! chain on each batch right away (so raw records never pile up), and
//! builds the engine's snapshot.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use regex::Regex;

use crate::engine::Snapshot;
use crate::model::{ObjectKind, RecordError, SourceGroup, SourceUser, UserFields};
use crate::runtime::{MapperInstance, TargetSink, WireObject, WireValue};

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
}

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

    fn fail(e: anyhow::Error) -> String {
        format!("{e:#}")
    }

    fn check_cancelled(&self) -> Result<(), String> {
        match &self.cancel {
            Some(c) if c.load(Ordering::Relaxed) => {
                Err("the host is shutting down; this run is cancelled".into())
            }
            _ => Ok(()),
        }
    }

    fn observe(&self, mapper: usize, call: &str, started: Instant) {
        if let (Some(o), Some(name)) = (&self.observer, self.mapper_names.get(mapper)) {
            o.plugin_call(name, call, started.elapsed());
        }
    }
}

impl TargetSink for Collector {
    fn put_users(&mut self, batch: Vec<WireObject>) -> Result<(), String> {
        self.check_cancelled()?;
        let mut merged: Vec<Result<Option<UserFields>, RecordError>> = Vec::new();
        for i in 0..self.mappers.len() {
            let started = Instant::now();
            let out = self.mappers[i].map_users(&batch);
            self.observe(i, "map-users", started);
            let out = out.map_err(Self::fail)?;
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
        let mut shared = self.shared.lock().expect("collector lock");
        let snap = &mut shared.snapshot;
        for ((object, result), in_filter) in batch.into_iter().zip(merged).zip(filtered.drain(..)) {
            match result {
                Ok(Some(fields)) => snap.users.push(SourceUser {
                    id: object.id,
                    ref_key: object.ref_key,
                    enabled: object.enabled,
                    in_filter,
                    fields,
                    member_of: object.member_of,
                }),
                Ok(None) => {}
                Err(e) => {
                    snap.unreadable_user_ids.insert(object.id);
                    snap.errors.push(e);
                }
            }
        }
        Ok(())
    }

    fn put_groups(&mut self, batch: Vec<WireObject>) -> Result<(), String> {
        self.check_cancelled()?;
        let started = Instant::now();
        let names = match self.mappers.first_mut() {
            Some(m) => {
                let out = m.map_groups(&batch);
                self.observe(0, "map-groups", started);
                out.map_err(Self::fail)?
            }
            None => batch
                .iter()
                .map(|o| Ok(Some((o.id.clone(), None))))
                .collect(),
        };
        let mut shared = self.shared.lock().expect("collector lock");
        for (object, result) in batch.into_iter().zip(names) {
            match result {
                Ok(Some((name, description))) => shared.snapshot.groups.push(SourceGroup {
                    id: object.id,
                    ref_key: object.ref_key,
                    name,
                    description,
                    members: object.members,
                    member_of: object.member_of,
                }),
                Ok(None) => {}
                Err(e) => shared.snapshot.errors.push(e),
            }
        }
        Ok(())
    }

    fn put_members(&mut self, group_ref: String, member_refs: Vec<String>) -> Result<(), String> {
        self.shared
            .lock()
            .expect("collector lock")
            .extra_members
            .push((group_ref, member_refs));
        Ok(())
    }

    fn remove(&mut self, kind: ObjectKind, ids: Vec<String>) -> Result<(), String> {
        let mut shared = self.shared.lock().expect("collector lock");
        match kind {
            ObjectKind::User => shared.snapshot.removed_users.extend(ids),
            ObjectKind::Group => shared.snapshot.removed_groups.extend(ids),
        }
        Ok(())
    }

    fn reject(&mut self, error: RecordError) {
        self.shared
            .lock()
            .expect("collector lock")
            .snapshot
            .errors
            .push(error);
    }

    fn checkpoint(&mut self, cursor: String) -> Result<(), String> {
        self.shared.lock().expect("collector lock").cursor = Some(cursor);
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
        self.shared
            .lock()
            .expect("collector lock")
            .state
            .insert(key, value);
    }

    fn run_again_in(&mut self, seconds: u32) {
        self.shared.lock().expect("collector lock").run_again_in = Some(seconds);
    }

    fn seats(&mut self) -> Vec<(String, u32, u32)> {
        self.seats.clone()
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
