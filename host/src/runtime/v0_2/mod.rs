//! Contract version 0.2: generated bindings and the host side of every
//! import. The calls that carry records take packed pages (see
//! `wit/v0.2/PACKED.md` and `runtime/packed.rs`); every other import is
//! 0.1's, so it converts its arguments and hands over to the 0.1 host
//! code, which stays the one implementation of each capability.

mod target;

use anyhow::Result;
use wasmtime::component::{HasSelf, Linker};

use super::host_state::PluginHost;
use super::v0_1::connector_bindings::usersync::plugin as v1;
use crate::model;

pub const VERSION: &str = "0.2.0";

pub mod connector_bindings {
    wasmtime::component::bindgen!({
        path: "../wit/v0.2",
        world: "connector",
        with: {
            "usersync:plugin/ldap.search": crate::runtime::ldap::SearchHandle,
        },
    });
}

pub mod mapper_bindings {
    wasmtime::component::bindgen!({
        path: "../wit/v0.2",
        world: "mapper",
        with: {
            "usersync:plugin/types": super::connector_bindings::usersync::plugin::types,
            "usersync:plugin/log": super::connector_bindings::usersync::plugin::log,
        },
    });
}

pub use connector_bindings::exports::usersync::plugin::connector_api;
pub(super) use connector_bindings::usersync::plugin::ldap;
use connector_bindings::usersync::plugin::{http, licensing, log, schedule, state, types};

/// Add 0.2's imports to a linker that already serves WASI (and 0.1).
pub fn add_connector(linker: &mut Linker<PluginHost>) -> Result<()> {
    connector_bindings::Connector::add_to_linker::<PluginHost, HasSelf<PluginHost>>(linker, |h| h)?;
    Ok(())
}

pub fn add_mapper(linker: &mut Linker<PluginHost>) -> Result<()> {
    mapper_bindings::Mapper::add_to_linker::<PluginHost, HasSelf<PluginHost>>(linker, |h| h)?;
    Ok(())
}

// ---- the imports 0.2 shares with 0.1 --------------------------------------

impl types::Host for PluginHost {}

impl log::Host for PluginHost {
    fn log(&mut self, level: log::Level, message: String) {
        let level = match level {
            log::Level::Trace => v1::log::Level::Trace,
            log::Level::Debug => v1::log::Level::Debug,
            log::Level::Info => v1::log::Level::Info,
            log::Level::Warn => v1::log::Level::Warn,
            log::Level::Error => v1::log::Level::Error,
        };
        v1::log::Host::log(self, level, message)
    }
}

impl state::Host for PluginHost {
    fn get(&mut self, key: String) -> Option<Vec<u8>> {
        v1::state::Host::get(self, key)
    }
    fn set(&mut self, key: String, value: Vec<u8>) {
        v1::state::Host::set(self, key, value)
    }
    fn delete(&mut self, key: String) {
        v1::state::Host::delete(self, key)
    }
}

impl licensing::Host for PluginHost {
    fn seats(&mut self) -> Vec<licensing::SeatCount> {
        v1::licensing::Host::seats(self)
            .into_iter()
            .map(|s| licensing::SeatCount {
                kind: s.kind,
                total: s.total,
                used: s.used,
            })
            .collect()
    }
}

impl schedule::Host for PluginHost {
    fn run_again_in(&mut self, seconds: u32) {
        v1::schedule::Host::run_again_in(self, seconds)
    }
}

impl http::Host for PluginHost {
    fn send(&mut self, req: http::Request) -> Result<http::Response, String> {
        let req = v1::http::Request {
            method: req.method,
            url: req.url,
            headers: req.headers,
            body: req.body,
            credential: req.credential,
        };
        v1::http::Host::send(self, req).map(|r| http::Response {
            status: r.status,
            headers: r.headers,
            body: r.body,
        })
    }
}

// ---- conversions ---------------------------------------------------------

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
