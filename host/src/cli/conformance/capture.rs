//! One connector read, captured: a `TargetSink` that keeps what the
//! connector hands over (no mappers, no store), so the checks can look at
//! the raw records, removals, rejects and checkpoints.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::Result;

use crate::config::Limits;
use crate::model::{ObjectKind, ReadMode, RecordError};
use crate::runtime::{
    CallContext, ConnectorInstance, Grant, LoadedPlugin, PluginState, RunWarnings, Runtime,
    Schedule, Seats, TargetSink, WireObject,
};

/// Everything one read sent through the `target` import.
#[derive(Debug, Default, Clone)]
pub struct Capture {
    pub users: Vec<WireObject>,
    pub groups: Vec<WireObject>,
    pub removed: Vec<(ObjectKind, String)>,
    pub rejects: Vec<RecordError>,
    pub checkpoints: Vec<String>,
}

impl Capture {
    pub fn user_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.users.iter().map(|u| u.id.clone()).collect();
        ids.sort();
        ids
    }

    pub fn removed_users(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .removed
            .iter()
            .filter(|(k, _)| *k == ObjectKind::User)
            .map(|(_, id)| id.clone())
            .collect();
        ids.sort();
        ids
    }
}

struct CaptureSink {
    capture: Arc<Mutex<Capture>>,
    /// Plugin state lives as long as the scenario, like the store keeps it.
    state: Arc<Mutex<HashMap<String, Vec<u8>>>>,
}

impl CaptureSink {
    fn with<T>(&self, f: impl FnOnce(&mut Capture) -> T) -> T {
        f(&mut self.capture.lock().expect("capture lock"))
    }
}

impl TargetSink for CaptureSink {
    fn put_users(&mut self, batch: Vec<WireObject>) -> Result<(), String> {
        self.with(|c| c.users.extend(batch));
        Ok(())
    }
    fn put_groups(&mut self, batch: Vec<WireObject>) -> Result<(), String> {
        self.with(|c| c.groups.extend(batch));
        Ok(())
    }
    fn put_members(&mut self, _group: String, _members: Vec<String>) -> Result<(), String> {
        Ok(())
    }
    fn remove(&mut self, kind: ObjectKind, ids: Vec<String>) -> Result<(), String> {
        self.with(|c| c.removed.extend(ids.into_iter().map(|id| (kind, id))));
        Ok(())
    }
    fn reject(&mut self, error: RecordError) {
        self.with(|c| c.rejects.push(error));
    }
    fn checkpoint(&mut self, cursor: String) -> Result<(), String> {
        self.with(|c| c.checkpoints.push(cursor));
        Ok(())
    }
}

impl PluginState for CaptureSink {
    fn state_get(&mut self, key: &str) -> Option<Vec<u8>> {
        self.state.lock().expect("state lock").get(key).cloned()
    }
    fn state_set(&mut self, key: String, value: Option<Vec<u8>>) {
        let mut state = self.state.lock().expect("state lock");
        match value {
            Some(v) => state.insert(key, v),
            None => state.remove(&key),
        };
    }
}

impl Schedule for CaptureSink {
    fn run_again_in(&mut self, _seconds: u32) {}
}

impl Seats for CaptureSink {
    fn seats(&mut self) -> Vec<(String, u32, u32)> {
        Vec::new()
    }
}

/// Warnings stay in the log lines the kit shows.
impl RunWarnings for CaptureSink {}

/// The connector under test with the limits the kit runs it under.
pub struct Subject {
    pub rt: Arc<Runtime>,
    pub plugin: LoadedPlugin,
    pub limits: Limits,
    state: Arc<Mutex<HashMap<String, Vec<u8>>>>,
}

impl Subject {
    pub fn new(rt: Arc<Runtime>, plugin: LoadedPlugin, limits: Limits) -> Self {
        Subject {
            rt,
            plugin,
            limits,
            state: Arc::default(),
        }
    }

    /// A fresh instance with the host's real imports and `grant`.
    pub fn instance(&self, grant: &Grant) -> Result<ConnectorInstance> {
        let ctx = CallContext {
            tenant: "conformance".into(),
            job: "conformance".into(),
            run: "conformance".into(),
            plugin: self.plugin.manifest.name.clone(),
            version: self.plugin.manifest.version.clone(),
        };
        ConnectorInstance::new(&self.rt, &self.plugin, &self.limits, ctx, grant)
    }

    /// One read on `instance`: its result and what it sent before it ended.
    pub fn read_on(
        &self,
        instance: &mut ConnectorInstance,
        source: &str,
        mode: &ReadMode,
    ) -> (Result<()>, Capture) {
        let capture = Arc::new(Mutex::new(Capture::default()));
        let sink = CaptureSink {
            capture: capture.clone(),
            state: self.state.clone(),
        };
        let result = instance.read(source, mode, Box::new(sink)).map(|_| ());
        let taken = std::mem::take(&mut *capture.lock().expect("capture lock"));
        (result, taken)
    }

    /// One read on a fresh instance, as each run of a job gets.
    pub fn read(&self, grant: &Grant, source: &str, mode: &ReadMode) -> (Result<()>, Capture) {
        match self.instance(grant) {
            Ok(mut instance) => self.read_on(&mut instance, source, mode),
            Err(e) => (Err(e), Capture::default()),
        }
    }
}
