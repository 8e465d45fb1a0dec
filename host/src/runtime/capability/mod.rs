//! The host capabilities a plugin imports, one module each: `log`,
//! `target`, `state`, `licensing`, `schedule`, `http`, `ldap`. A capability
//! owns its WIT import for every contract version (`add_to_linker`, and the
//! `Host` impls: thin shims that convert through `runtime/wit/` and call
//! the one implementation, on host types), its limits and its per-instance
//! state. [`PluginHost`], the store data, is composed of those states.
//!
//! A capability whose WIT changed in a version keeps that version's code in
//! its own module (`target_sink/v0_2.rs`, `ldap/v0_2.rs`); an unchanged one
//! names the version in its shim macro.
//!
//! Capabilities depend on `runtime/wit/`, `runtime/job.rs`, `meter.rs` and
//! `packed.rs`, never on the instance or the loader above them.

pub mod http;
pub mod ldap;
mod licensing;
mod log;
mod schedule;
mod state;
mod target_sink;

pub use licensing::Seats;
pub use log::RunWarnings;
pub use schedule::Schedule;
pub use state::PluginState;
pub use target_sink::{put_page_whole, TargetSink};

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::StoreLimitsBuilder;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::contract::Contract;
use super::job::{CallContext, Grant, InstanceLimits};
use super::meter::MeteredLimits;
use super::wit;

/// Link one interface of one contract version, served by `PluginHost`. A
/// new contract version adds its arm here.
macro_rules! link_import {
    ($linker:expr, $contract:expr, $interface:ident) => {{
        let linked = match $contract {
            $crate::runtime::contract::Contract::V0_1 => {
                $crate::runtime::wit::v0_1::$interface::add_to_linker::<
                    $crate::runtime::capability::PluginHost,
                    wasmtime::component::HasSelf<$crate::runtime::capability::PluginHost>,
                >($linker, |h| h)
            }
            $crate::runtime::contract::Contract::V0_2 => {
                $crate::runtime::wit::v0_2::$interface::add_to_linker::<
                    $crate::runtime::capability::PluginHost,
                    wasmtime::component::HasSelf<$crate::runtime::capability::PluginHost>,
                >($linker, |h| h)
            }
        };
        linked.map_err(anyhow::Error::from)
    }};
}
use link_import;

/// Where everything a connector's `read` sends goes: its target, and the
/// run's plugin state, seats, schedule and warnings. One object per read
/// (the sync's `Collector`, the agent's `BatchSink`, the conformance kit's
/// capture); each capability reaches it through its own trait.
pub trait ReadSink: TargetSink + PluginState + Seats + Schedule + RunWarnings {}

impl<T: TargetSink + PluginState + Seats + Schedule + RunWarnings> ReadSink for T {}

/// The store data of one instance: what every capability shares (WASI,
/// the resource table, the CPU clock, who it runs for, the first fatal
/// problem) and each capability's own state.
pub struct PluginHost {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    /// Memory (the store's limiter, metered).
    pub(crate) limits: MeteredLimits,
    pub(crate) ctx: CallContext,
    /// When the guest last got control back; the CPU deadline counts from it.
    pub(crate) resumed_at: Instant,
    pub(crate) cpu_limit: Duration,
    /// Most bytes one call may carry (limits.max_output_kb): target
    /// batches, LDAP pages, HTTP answers.
    pub(crate) max_output: usize,
    /// The first fatal problem a host call saw (e.g. the mapper trapped
    /// inside `put-users`); reported instead of the connector's own error.
    pub(crate) fatal: Option<anyhow::Error>,
    /// The run's sink, during `read` only.
    pub(crate) sink: Option<Box<dyn ReadSink>>,
    pub(crate) log: log::LogState,
    pub(crate) target: target_sink::TargetState,
    /// Brokered HTTP, when the job grants any origin.
    pub(crate) http: Option<http::HttpBroker>,
    /// Brokered LDAP, when the job has a `[jobs.ldap]` server.
    pub(crate) ldap: Option<ldap::LdapBroker>,
}

impl PluginHost {
    pub(crate) fn new(
        limits: &InstanceLimits,
        ctx: CallContext,
        grant: &Grant,
    ) -> Result<PluginHost> {
        Ok(PluginHost {
            wasi: wasi(grant)?,
            table: ResourceTable::new(),
            limits: MeteredLimits::new(
                StoreLimitsBuilder::new()
                    .memory_size(limits.memory_bytes)
                    .trap_on_grow_failure(true)
                    .build(),
            ),
            resumed_at: Instant::now(),
            cpu_limit: limits.cpu,
            max_output: limits.max_output,
            fatal: None,
            sink: None,
            log: log::LogState::default(),
            target: target_sink::TargetState::new(limits),
            http: http::broker_for(grant, &ctx, limits.max_output)?,
            ldap: grant.ldap.clone().and_then(ldap::LdapBroker::new),
            ctx,
        })
    }

    /// Called at the end of every host import: the guest resumes now.
    pub(crate) fn resume(&mut self) {
        self.resumed_at = Instant::now();
    }

    /// Call the sink; a reason it gives to stop the read becomes fatal, so
    /// a connector that ignores the error it got is stopped all the same.
    fn with_sink<T>(
        &mut self,
        f: impl FnOnce(&mut dyn ReadSink) -> Result<T, String>,
    ) -> Result<T, String> {
        let out = match self.sink.as_mut() {
            Some(s) => f(s.as_mut()),
            None => Err("the target is only available during `read`".to_string()),
        };
        if let Some(reason) = self.sink.as_mut().and_then(|s| s.take_fatal()) {
            self.fatal.get_or_insert_with(|| anyhow::anyhow!(reason));
        }
        self.resume();
        out
    }

    /// Whether the guest computed past its CPU limit, or must stop.
    pub(crate) fn must_stop(&self) -> bool {
        self.fatal.is_some() || self.resumed_at.elapsed() > self.cpu_limit
    }
}

/// Deny by default: no env, no args, no network, no files but the grant.
fn wasi(grant: &Grant) -> Result<WasiCtx> {
    let mut wasi = WasiCtxBuilder::new();
    wasi.allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    if let Some(dir) = &grant.input_dir {
        wasi.preopened_dir(dir, "/input", FsPerms::ReadOnly)
            .map_err(anyhow::Error::from)
            .with_context(|| {
                format!(
                    "cannot open the granted input folder {} (grants.input_dir)",
                    dir.display()
                )
            })?;
    }
    Ok(wasi.build())
}

impl WasiView for PluginHost {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

// `types` holds no functions, only the records the others share.
impl wit::v0_1::types::Host for PluginHost {}
impl wit::v0_2::types::Host for PluginHost {}

/// What a connector of `contract` may import.
pub(crate) fn add_connector_imports(
    linker: &mut Linker<PluginHost>,
    contract: Contract,
) -> Result<()> {
    add_mapper_imports(linker, contract)?;
    target_sink::add_to_linker(linker, contract)?;
    state::add_to_linker(linker, contract)?;
    licensing::add_to_linker(linker, contract)?;
    schedule::add_to_linker(linker, contract)?;
    http::add_to_linker(linker, contract)?;
    ldap::add_to_linker(linker, contract)
}

/// What a mapper of `contract` may import: the shared types and `log`.
pub(crate) fn add_mapper_imports(
    linker: &mut Linker<PluginHost>,
    contract: Contract,
) -> Result<()> {
    link_import!(linker, contract, types)?;
    log::add_to_linker(linker, contract)
}

/// `s` cut to at most `max` bytes, on a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
