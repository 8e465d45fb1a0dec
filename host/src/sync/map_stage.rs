//! The read's second stage: the mapper chain. It runs on its own thread
//! while the connector reads, fed through a bounded queue, so reading and
//! mapping overlap and a slow mapper holds the connector back (the queue
//! is full) instead of letting raw records pile up.
//!
//! A connection test's sample maps inline instead: it stops the read after
//! an exact count of mapped users, which a queue would overshoot.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use regex::Regex;

use crate::model::{RecordError, SourceGroup, SourceUser, UserFields};
use crate::runtime::{MapperInstance, PackedUsers, WireObject, WireValue};

use super::collector::Collected;
use super::held::{self, ReadBudget};
use super::hooks::CallObserver;

/// Batches waiting for the mapper stage: each is at most one connector
/// page, so raw records held at once are bounded by this many pages.
const QUEUE_DEPTH: usize = 4;

/// What goes through the queue, in the order the connector sent it.
pub enum Batch {
    Users(Vec<WireObject>),
    /// A connector's page of users as it came, for mappers that take pages
    /// (see [`MapStage::takes_pages`]).
    UserPage(PackedUsers),
    Groups(Vec<WireObject>),
    /// A record the connector rejected: queued, so the run's errors keep
    /// the connector's order.
    Reject(RecordError),
}

/// The mapper chain and the snapshot it fills.
pub struct MapStage {
    pub mappers: Vec<MapperInstance>,
    /// Told how long each mapper call took; `mapper_names` match `mappers`.
    pub observer: Option<Arc<dyn CallObserver>>,
    pub mapper_names: Vec<String>,
    pub user_filter: Option<(String, Regex)>,
    pub shared: Arc<Mutex<Collected>>,
    /// Host memory the read holds, shared with the collector.
    pub budget: ReadBudget,
    /// Stop after this many users (a connection test's sample).
    pub sample: Option<usize>,
}

/// Why mapping stopped: the read must stop too.
pub type Stop = String;

/// What the connector is told once a sampled read has enough.
pub const SAMPLE_TAKEN: &str = "the connection test has its sample; the read stops here";

impl MapStage {
    /// Whether a connector's page of users can go to the mappers as it
    /// came: every mapper takes pages, and the host reads no attribute of
    /// a user itself (no user filter, no connection test's sample).
    pub fn takes_pages(&self) -> bool {
        self.user_filter.is_none()
            && self.sample.is_none()
            && self.mappers.iter().all(MapperInstance::takes_pages)
    }

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

    fn observe(&self, mapper: usize, call: &str, started: Instant) {
        if let (Some(o), Some(name)) = (&self.observer, self.mapper_names.get(mapper)) {
            o.plugin_call(name, call, started.elapsed());
        }
    }

    pub fn apply(&mut self, batch: Batch) -> Result<(), Stop> {
        match batch {
            Batch::Users(b) => self.users(b, None),
            Batch::UserPage(p) => self.users(p.heads, Some(p.page)),
            Batch::Groups(b) => self.groups(b),
            Batch::Reject(e) => self.reject(e),
        }
    }

    /// Run every mapper on the batch; a later mapper's fields overlay the
    /// earlier ones', and any mapper's rejection rejects the record.
    /// `page`, when given, holds the records whole (`batch` their heads).
    fn users(&mut self, batch: Vec<WireObject>, page: Option<Vec<u8>>) -> Result<(), Stop> {
        let mut merged: Vec<Result<Option<UserFields>, RecordError>> = Vec::new();
        for i in 0..self.mappers.len() {
            let started = Instant::now();
            let out = match &page {
                Some(page) => self.mappers[i].map_user_page(&batch, page),
                None => self.mappers[i].map_users(&batch),
            };
            self.observe(i, "map-users", started);
            let out = out.map_err(|e| format!("{e:#}"))?;
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
        let filtered: Vec<bool> = batch.iter().map(|o| self.in_filter(o)).collect();
        let mut shared = self.shared.lock().expect("collector lock");
        if self.sample.is_some() && shared.sample_attributes.is_empty() {
            if let Some(first) = batch.first() {
                shared.sample_attributes =
                    first.attributes.iter().map(|a| a.name.clone()).collect();
            }
        }
        let snap = &mut shared.snapshot;
        let mut bytes = 0;
        for ((object, result), in_filter) in batch.into_iter().zip(merged).zip(filtered) {
            match result {
                Ok(Some(fields)) => {
                    let user = SourceUser {
                        id: object.id,
                        ref_key: object.ref_key,
                        enabled: object.enabled,
                        in_filter,
                        fields: Box::new(fields),
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
        self.budget.take(bytes)?;
        if sampled {
            return Err(SAMPLE_TAKEN.into());
        }
        Ok(())
    }

    /// Groups go through the first mapper only (it names them).
    fn groups(&mut self, batch: Vec<WireObject>) -> Result<(), Stop> {
        let started = Instant::now();
        let names = match self.mappers.first_mut() {
            Some(m) => {
                let out = m.map_groups(&batch);
                self.observe(0, "map-groups", started);
                out.map_err(|e| format!("{e:#}"))?
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
        self.budget.take(bytes)
    }

    fn reject(&mut self, error: RecordError) -> Result<(), Stop> {
        self.budget.take(held::record_error(&error))?;
        self.shared
            .lock()
            .expect("collector lock")
            .snapshot
            .errors
            .push(error);
        Ok(())
    }
}

/// Where the collector sends batches: straight into the stage (a sample),
/// or through the queue to the stage's thread.
pub enum Mapping {
    Inline(Box<MapStage>),
    Pipelined(Pipeline),
}

impl Mapping {
    /// A sampled read maps inline; every other read gets its own thread.
    pub fn start(stage: MapStage) -> std::io::Result<Mapping> {
        if stage.sample.is_some() {
            return Ok(Mapping::Inline(Box::new(stage)));
        }
        Pipeline::spawn(stage).map(Mapping::Pipelined)
    }

    /// Whether users may come as pages ([`Batch::UserPage`]).
    pub fn takes_pages(&self) -> bool {
        match self {
            Mapping::Inline(stage) => stage.takes_pages(),
            Mapping::Pipelined(p) => p.takes_pages,
        }
    }

    /// Hand a batch on. An error is why the read must stop: this batch's
    /// (inline) or an earlier one's (pipelined) mapping failed.
    pub fn send(&mut self, batch: Batch) -> Result<(), Stop> {
        match self {
            Mapping::Inline(stage) => stage.apply(batch),
            Mapping::Pipelined(p) => p.send(batch),
        }
    }
}

pub struct Pipeline {
    /// The stage's [`MapStage::takes_pages`].
    takes_pages: bool,
    queue: Option<SyncSender<Batch>>,
    thread: Option<JoinHandle<()>>,
    /// Where the stage's thread writes why it stopped (`mapping_failed`).
    shared: Arc<Mutex<Collected>>,
}

impl Pipeline {
    fn spawn(mut stage: MapStage) -> std::io::Result<Pipeline> {
        let (queue, batches): (SyncSender<Batch>, Receiver<Batch>) = sync_channel(QUEUE_DEPTH);
        let shared = stage.shared.clone();
        let takes_pages = stage.takes_pages();
        let thread = std::thread::Builder::new()
            .name("usersync-map".into())
            .spawn(move || {
                for batch in batches {
                    if let Err(why) = stage.apply(batch) {
                        stage.shared.lock().expect("collector lock").mapping_failed = Some(why);
                        // Dropping the receiver refuses the next send.
                        return;
                    }
                }
            })?;
        Ok(Pipeline {
            takes_pages,
            queue: Some(queue),
            thread: Some(thread),
            shared,
        })
    }

    fn stop_reason(&self) -> Option<Stop> {
        self.shared
            .lock()
            .expect("collector lock")
            .mapping_failed
            .clone()
    }

    fn send(&mut self, batch: Batch) -> Result<(), Stop> {
        if let Some(why) = self.stop_reason() {
            return Err(why);
        }
        let queue = self.queue.as_ref().expect("open until finished");
        if queue.send(batch).is_err() {
            // The stage's thread ended: it says why (or it panicked).
            self.join();
            return Err(self
                .stop_reason()
                .unwrap_or_else(|| "the mapper stage stopped unexpectedly".into()));
        }
        Ok(())
    }

    /// Close the queue and wait for the stage to map what is in it.
    fn join(&mut self) {
        self.queue = None;
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                self.shared
                    .lock()
                    .expect("collector lock")
                    .mapping_failed
                    .get_or_insert_with(|| "the mapper stage panicked".into());
            }
        }
    }
}

/// Dropping the pipeline waits for every queued batch to be mapped. A
/// failure the connector was not told about (its last batches) stays in
/// `mapping_failed` for the run: the connector may have finished its read.
impl Drop for Pipeline {
    fn drop(&mut self) {
        self.join();
    }
}
