//! What every plugin store carries: its WASI context (deny-by-default), its
//! resource table, its limits, who it runs for, and where a connector's
//! `target` calls go.

use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::WireObject;
use crate::model::{ObjectKind, RecordError};

/// Who a plugin call runs for; every log line a plugin writes carries it.
#[derive(Debug, Clone, Default)]
pub struct CallContext {
    pub tenant: String,
    pub job: String,
    pub run: String,
    pub plugin: String,
    pub version: String,
}

/// Receives what a connector streams through the `target` import. The sync
/// engine implements it locally; an agent would forward it.
pub trait TargetSink: Send {
    fn put_users(&mut self, batch: Vec<WireObject>) -> Result<(), String>;
    fn put_groups(&mut self, batch: Vec<WireObject>) -> Result<(), String>;
    fn put_members(&mut self, group_ref: String, member_refs: Vec<String>) -> Result<(), String>;
    fn remove(&mut self, kind: ObjectKind, ids: Vec<String>) -> Result<(), String>;
    fn reject(&mut self, error: RecordError);
    fn checkpoint(&mut self, cursor: String) -> Result<(), String>;
    /// Plugin state (key/value) for this tenant + job + plugin.
    fn state_get(&mut self, key: &str) -> Option<Vec<u8>>;
    fn state_set(&mut self, key: String, value: Option<Vec<u8>>);
    /// The connector asks for its next run in `seconds`.
    fn run_again_in(&mut self, seconds: u32);
    /// License seats: (kind, total, used).
    fn seats(&mut self) -> Vec<(String, u32, u32)>;
    /// Why the read must stop now (a limit, a failed mapper, shutdown),
    /// once; the host then stops the connector even if it ignores the
    /// error its call returned.
    fn take_fatal(&mut self) -> Option<String> {
        None
    }
    /// A warning the connector logged during a read; it belongs in the
    /// run record, where operators look.
    fn warn(&mut self, _message: String) {}
}

pub struct PluginHost {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limits: super::meter::MeteredLimits,
    pub(crate) ctx: CallContext,
    /// When the guest last got control back; the CPU deadline counts from it.
    pub(crate) resumed_at: Instant,
    pub(crate) cpu_limit: Duration,
    pub(crate) max_output: usize,
    /// Everything a connector may send in one run, and what it sent so far.
    pub(crate) max_read: usize,
    pub(crate) read_bytes: usize,
    /// Log lines written so far (capped, see v0_1::MAX_LOG_LINES).
    pub(crate) log_lines: u32,
    pub(crate) sink: Option<Box<dyn TargetSink>>,
    /// Brokered HTTP, when the job grants any origin.
    pub(crate) http: Option<super::http_broker::HttpBroker>,
    /// Brokered LDAP, when the job has a `[jobs.ldap]` server.
    pub(crate) ldap: Option<super::ldap::LdapBroker>,
    /// The first fatal problem a host call saw (e.g. the mapper trapped
    /// inside `put-users`); reported instead of the connector's own error.
    pub(crate) fatal: Option<anyhow::Error>,
}

impl PluginHost {
    /// Called at the end of every host import: the guest resumes now.
    pub(crate) fn resume(&mut self) {
        self.resumed_at = Instant::now();
    }

    pub(crate) fn sink(&mut self) -> Result<&mut Box<dyn TargetSink>, String> {
        self.sink
            .as_mut()
            .ok_or_else(|| "the target is only available during `read`".to_string())
    }
}

impl WasiView for PluginHost {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
