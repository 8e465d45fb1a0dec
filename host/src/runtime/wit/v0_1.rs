//! Contract version 0.1: the generated bindings, and every conversion
//! between 0.1's WIT types and the host's own types. The capabilities
//! (`runtime/capability/`) implement each import once, on host types; this
//! is the one place that knows 0.1's shapes.

use crate::model;
use crate::runtime::capability::http::broker::{Request as HttpRequest, Response as HttpResponse};
use crate::runtime::capability::ldap::connect::StageReport;
use crate::runtime::capability::ldap::search::{
    Change, Entry, Request as LdapRequest, SyncOutcome, Value,
};

pub const VERSION: &str = "0.1.0";

pub mod connector_bindings {
    wasmtime::component::bindgen!({
        path: "../wit/v0.1",
        world: "connector",
        with: {
            "usersync:plugin/ldap.search": crate::runtime::capability::ldap::search::SearchHandle,
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
pub use connector_bindings::usersync::plugin::{
    http, ldap, licensing, log, schedule, state, target, types,
};

conversions_since_v0_1!();

// ---- what only 0.1 carries typed: a mapper's results -------------------

impl From<types::TargetUser> for model::UserFields {
    fn from(u: types::TargetUser) -> Self {
        model::UserFields {
            username: u.username,
            display_name: u.display_name.map(String::into_boxed_str),
            given_name: u.given_name.map(String::into_boxed_str),
            family_name: u.family_name.map(String::into_boxed_str),
            email: u.email.map(String::into_boxed_str),
            phone: u.phone.map(String::into_boxed_str),
            job_title: u.job_title.map(String::into_boxed_str),
            company: u.company.map(String::into_boxed_str),
            department: u.department.map(String::into_boxed_str),
            manager: u.manager.map(String::into_boxed_str),
            employee_id: u.employee_id.map(String::into_boxed_str),
            custom: u.custom,
        }
    }
}

impl From<types::TargetGroup> for (String, Option<String>) {
    fn from(g: types::TargetGroup) -> Self {
        (g.name, g.description)
    }
}
