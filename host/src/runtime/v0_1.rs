//! Contract version 0.1: generated bindings, the host side of every import,
//! and conversions between WIT types and the host's own model types.
//!
//! A later contract version gets a sibling module; the loader dispatches on
//! the version a component exports, so old plugins keep loading.

use anyhow::Result;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::Engine;

use super::host_state::PluginHost;
use crate::model;

pub const VERSION: &str = "0.1.0";

pub mod connector_bindings {
    wasmtime::component::bindgen!({
        path: "../wit/v0.1",
        world: "connector",
        with: {
            "usersync:plugin/ldap.search": crate::runtime::ldap::SearchHandle,
        },
    });
}

pub mod mapper_bindings {
    wasmtime::component::bindgen!({
        path: "../wit/v0.1",
        world: "mapper",
        with: {
            "usersync:plugin/types": super::connector_bindings::usersync::plugin::types,
            "usersync:plugin/log": super::connector_bindings::usersync::plugin::log,
        },
    });
}

pub use connector_bindings::exports::usersync::plugin::connector_api;
use connector_bindings::usersync::plugin::{http, licensing, log, schedule, state, target, types};

pub fn connector_linker(engine: &Engine) -> Result<Linker<PluginHost>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    connector_bindings::Connector::add_to_linker::<PluginHost, HasSelf<PluginHost>>(
        &mut linker,
        |h| h,
    )?;
    Ok(linker)
}

pub fn mapper_linker(engine: &Engine) -> Result<Linker<PluginHost>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    mapper_bindings::Mapper::add_to_linker::<PluginHost, HasSelf<PluginHost>>(&mut linker, |h| h)?;
    Ok(linker)
}

// ---- host side of the imports -------------------------------------------

impl types::Host for PluginHost {}

/// Log lines one instance may write; past it, one warning and silence, so
/// a plugin cannot fill the host's disk or drown other tenants' lines.
pub(super) const MAX_LOG_LINES: u32 = 10_000;
/// Longest log line kept (bytes); the rest is cut.
const MAX_LOG_LINE: usize = 4096;

impl log::Host for PluginHost {
    fn log(&mut self, level: log::Level, message: String) {
        self.log_lines = self.log_lines.saturating_add(1);
        if self.log_lines > MAX_LOG_LINES {
            if self.log_lines == MAX_LOG_LINES + 1 {
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
        let message = truncate(&message, MAX_LOG_LINE);
        match level {
            log::Level::Trace => {
                tracing::trace!(tenant = %c.tenant, job = %c.job, run = %c.run, plugin = %c.plugin, "{message}")
            }
            log::Level::Debug => {
                tracing::debug!(tenant = %c.tenant, job = %c.job, run = %c.run, plugin = %c.plugin, "{message}")
            }
            log::Level::Info => {
                tracing::info!(tenant = %c.tenant, job = %c.job, run = %c.run, plugin = %c.plugin, "{message}")
            }
            log::Level::Warn => {
                tracing::warn!(tenant = %c.tenant, job = %c.job, run = %c.run, plugin = %c.plugin, "{message}");
                let message = message.to_string();
                if let Some(sink) = self.sink.as_mut() {
                    sink.warn(message);
                }
            }
            log::Level::Error => {
                tracing::error!(tenant = %c.tenant, job = %c.job, run = %c.run, plugin = %c.plugin, "{message}")
            }
        }
    }
}

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

impl PluginHost {
    /// Refuse batches larger than the tenant's output cap.
    fn check_batch(&mut self, batch: &[types::SourceObject]) -> Result<(), String> {
        let size: usize = batch.iter().map(approx_size).sum();
        self.check_read(|| format!("batch of {} records", batch.len()), size)
    }

    /// Refuse a batch (`what` names it) taking `size` bytes over the
    /// output cap, and count it against the run's read budget.
    pub(super) fn check_read(
        &mut self,
        what: impl FnOnce() -> String,
        size: usize,
    ) -> Result<(), String> {
        if size > self.max_output {
            return Err(format!(
                "{} is {} KiB, over the {} KiB limit (limits.max_output_kb); send smaller batches",
                what(),
                size / 1024,
                self.max_output / 1024
            ));
        }
        self.read_bytes += size;
        if self.read_bytes > self.max_read {
            let msg = format!(
                "connector sent more than {} MiB in one run (limits.max_read_mb); it was stopped",
                self.max_read >> 20
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

    /// Call the sink; a reason it gives to stop the read becomes fatal, so
    /// a connector that ignores the error it got is stopped all the same.
    pub(super) fn with_sink<T>(
        &mut self,
        f: impl FnOnce(&mut dyn super::TargetSink) -> Result<T, String>,
    ) -> Result<T, String> {
        let out = self.sink().and_then(|s| f(s.as_mut()));
        if let Some(reason) = self.sink.as_mut().and_then(|s| s.take_fatal()) {
            self.fatal.get_or_insert_with(|| anyhow::anyhow!(reason));
        }
        self.resume();
        out
    }
}

fn strings_size(list: &[String]) -> usize {
    list.iter().map(String::len).sum()
}

fn approx_size(o: &types::SourceObject) -> usize {
    let attrs: usize = o
        .attributes
        .iter()
        .map(|a| {
            a.name.len()
                + a.values
                    .iter()
                    .map(|v| match v {
                        types::AttrValue::Text(t) => t.len(),
                        types::AttrValue::Binary(b) => b.len(),
                    })
                    .sum::<usize>()
        })
        .sum();
    let refs: usize = o.member_of.iter().chain(&o.members).map(String::len).sum();
    o.id.len() + o.ref_key.len() + attrs + refs
}

impl target::Host for PluginHost {
    fn put_users(&mut self, batch: Vec<types::SourceObject>) -> Result<(), String> {
        self.check_batch(&batch)?;
        self.with_sink(|s| s.put_users(batch))
    }

    fn put_groups(&mut self, batch: Vec<types::SourceObject>) -> Result<(), String> {
        self.check_batch(&batch)?;
        self.with_sink(|s| s.put_groups(batch))
    }

    fn put_members(&mut self, group_ref: String, member_refs: Vec<String>) -> Result<(), String> {
        self.check_payload("put-members", group_ref.len() + strings_size(&member_refs))?;
        self.with_sink(|s| s.put_members(group_ref, member_refs))
    }

    fn remove(&mut self, kind: types::ObjectKind, ids: Vec<String>) -> Result<(), String> {
        self.check_payload("remove", strings_size(&ids))?;
        self.with_sink(|s| s.remove(kind.into(), ids))
    }

    fn reject(&mut self, record_ref: String, message: String) {
        // A reject is a line in the run record: keep it a line.
        let (record, message) = (
            truncate(&record_ref, MAX_LOG_LINE).to_string(),
            truncate(&message, MAX_LOG_LINE).to_string(),
        );
        let _ = self.with_sink(|s| {
            s.reject(model::RecordError {
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
}

impl state::Host for PluginHost {
    fn get(&mut self, key: String) -> Option<Vec<u8>> {
        self.with_sink(|s| Ok(s.state_get(&key))).ok().flatten()
    }
    fn set(&mut self, key: String, value: Vec<u8>) {
        // The contract gives `set` no error, and dropping the value would
        // leave the plugin's state wrong: an oversized one stops the run.
        if let Err(e) = self.check_payload("state value", key.len() + value.len()) {
            let key = truncate(&key, 64);
            self.fatal
                .get_or_insert_with(|| anyhow::anyhow!("state key {key:?} not saved: {e}"));
            self.resume();
            return;
        }
        let _ = self.with_sink(|s| {
            s.state_set(key, Some(value));
            Ok(())
        });
    }
    fn delete(&mut self, key: String) {
        let _ = self.with_sink(|s| {
            s.state_set(key, None);
            Ok(())
        });
    }
}

impl licensing::Host for PluginHost {
    fn seats(&mut self) -> Vec<licensing::SeatCount> {
        self.with_sink(|s| Ok(s.seats()))
            .unwrap_or_default()
            .into_iter()
            .map(|(kind, total, used)| licensing::SeatCount { kind, total, used })
            .collect()
    }
}

impl schedule::Host for PluginHost {
    fn run_again_in(&mut self, seconds: u32) {
        let _ = self.with_sink(|s| {
            s.run_again_in(seconds);
            Ok(())
        });
    }
}

impl http::Host for PluginHost {
    /// Brokered HTTP (see `http_broker.rs`). The wait for the answer, and
    /// for any retries, is not charged to the plugin's CPU time.
    fn send(&mut self, req: http::Request) -> Result<http::Response, String> {
        let out = match &self.http {
            None => Err(super::http_broker::not_granted(&req.url)),
            Some(broker) => broker
                .send(super::http_broker::Request {
                    method: req.method,
                    url: req.url,
                    headers: req.headers,
                    body: req.body,
                    credential: req.credential,
                })
                .map(|r| http::Response {
                    status: r.status,
                    headers: r.headers,
                    body: r.body,
                }),
        };
        self.resume();
        out
    }
}

// `impl ldap::Host` lives beside the broker: runtime/ldap/v0_1.rs

// ---- conversions ---------------------------------------------------------

impl From<types::ObjectKind> for model::ObjectKind {
    fn from(k: types::ObjectKind) -> Self {
        match k {
            types::ObjectKind::User => model::ObjectKind::User,
            types::ObjectKind::Group => model::ObjectKind::Group,
        }
    }
}

impl From<types::TargetUser> for model::UserFields {
    fn from(u: types::TargetUser) -> Self {
        model::UserFields {
            username: u.username,
            display_name: u.display_name,
            given_name: u.given_name,
            family_name: u.family_name,
            email: u.email,
            phone: u.phone,
            job_title: u.job_title,
            company: u.company,
            department: u.department,
            manager: u.manager,
            employee_id: u.employee_id,
            custom: u.custom,
        }
    }
}

impl From<types::Manifest> for model::Manifest {
    fn from(m: types::Manifest) -> Self {
        model::Manifest {
            name: m.name,
            version: m.version,
            kind: match m.kind {
                types::PluginKind::Connector => model::PluginKind::Connector,
                types::PluginKind::Mapper => model::PluginKind::Mapper,
            },
            description: m.description,
            config_schema: m.config_schema,
            capabilities: m.capabilities,
        }
    }
}

impl From<connector_api::Check> for model::Check {
    fn from(c: connector_api::Check) -> Self {
        model::Check {
            stage: c.stage,
            status: match c.status {
                connector_api::CheckStatus::Ok => model::CheckStatus::Ok,
                connector_api::CheckStatus::Failed => model::CheckStatus::Failed,
                connector_api::CheckStatus::Skipped => model::CheckStatus::Skipped,
            },
            detail: c.detail,
        }
    }
}

impl From<types::TargetGroup> for (String, Option<String>) {
    fn from(g: types::TargetGroup) -> Self {
        (g.name, g.description)
    }
}
