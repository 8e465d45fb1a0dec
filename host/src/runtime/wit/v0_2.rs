//! Contract version 0.2: the generated bindings, and every conversion
//! between 0.2's WIT types and the host's own types. The capabilities
//! (`runtime/capability/`) implement each import once, on host types; this
//! is the one place that knows 0.2's shapes. The calls that carry records
//! take packed pages (`wit/v0.2/PACKED.md`, `runtime/packed.rs`); every
//! other type kept 0.1's shape.

use crate::model;
use crate::runtime::capability::http::broker::{Request as HttpRequest, Response as HttpResponse};
use crate::runtime::capability::ldap::connect::StageReport;
use crate::runtime::capability::ldap::search::{
    Change, Entry, Request as LdapRequest, SyncOutcome, Value,
};

pub const VERSION: &str = "0.2.0";

pub mod connector_bindings {
    wasmtime::component::bindgen!({
        path: "../wit/v0.2",
        world: "connector",
        with: {
            "usersync:plugin/ldap.search": crate::runtime::capability::ldap::search::SearchHandle,
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
pub use connector_bindings::usersync::plugin::{
    http, ldap, licensing, log, schedule, state, target, types,
};

conversions_since_v0_1!();
