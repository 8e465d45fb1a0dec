//! The `log` import: a plugin's lines go to `tracing`, tagged with the
//! tenant, job, run and plugin; warnings also go to the run record.

use anyhow::Result;
use tracing::Level;
use wasmtime::component::Linker;

use super::{link_import, truncate, Contract, PluginHost};
use crate::runtime::wit;

/// Log lines one instance may write; past it, one warning and silence, so
/// a plugin cannot fill the host's disk or drown other tenants' lines.
pub(super) const MAX_LOG_LINES: u32 = 10_000;
/// Longest log line kept (bytes); the rest is cut. Also bounds a reject.
pub(super) const MAX_LOG_LINE: usize = 4096;

/// Receives the warnings a connector logs during a read; they belong in
/// the run record, where operators look.
pub trait RunWarnings: Send {
    fn warn(&mut self, _message: String) {}
}

/// Per instance: log lines written so far (capped at [`MAX_LOG_LINES`]).
#[derive(Debug, Default)]
pub(crate) struct LogState {
    lines: u32,
}

pub(super) fn add_to_linker(linker: &mut Linker<PluginHost>, contract: Contract) -> Result<()> {
    link_import!(linker, contract, log)
}

impl PluginHost {
    fn write_log(&mut self, level: Level, message: &str) {
        self.log.lines = self.log.lines.saturating_add(1);
        if self.log.lines > MAX_LOG_LINES {
            if self.log.lines == MAX_LOG_LINES + 1 {
                let c = &self.ctx;
                tracing::warn!(tenant = %c.tenant, job = %c.job, run = %c.run, plugin = %c.plugin,
                    "the plugin wrote more than {MAX_LOG_LINES} log lines; its further lines are dropped (and count as computing time, limits.cpu_seconds)");
            }
            // No `resume`: a plugin that only logs keeps its CPU clock
            // running, so an endless logging loop hits limits.cpu_seconds.
            return;
        }
        self.resume();
        let c = &self.ctx;
        let message = truncate(message, MAX_LOG_LINE);
        match level {
            Level::TRACE => {
                tracing::trace!(tenant = %c.tenant, job = %c.job, run = %c.run, plugin = %c.plugin, "{message}")
            }
            Level::DEBUG => {
                tracing::debug!(tenant = %c.tenant, job = %c.job, run = %c.run, plugin = %c.plugin, "{message}")
            }
            Level::INFO => {
                tracing::info!(tenant = %c.tenant, job = %c.job, run = %c.run, plugin = %c.plugin, "{message}")
            }
            Level::WARN => {
                tracing::warn!(tenant = %c.tenant, job = %c.job, run = %c.run, plugin = %c.plugin, "{message}");
                let message = message.to_string();
                if let Some(sink) = self.sink.as_mut() {
                    sink.warn(message);
                }
            }
            _ => {
                tracing::error!(tenant = %c.tenant, job = %c.job, run = %c.run, plugin = %c.plugin, "{message}")
            }
        }
    }
}

/// The import in the contract versions where it has 0.1's shape.
macro_rules! log_import {
    ($($version:ident),*) => {$(
        impl wit::$version::log::Host for PluginHost {
            fn log(&mut self, level: wit::$version::log::Level, message: String) {
                self.write_log(level.into(), &message)
            }
        }
    )*};
}
log_import!(v0_1, v0_2);
