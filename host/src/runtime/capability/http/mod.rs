//! The brokered `http` capability. A plugin builds a request; the host
//! checks its destination against the job's grant, adds the named
//! credential, sends it, retries as the server asks and caps time and
//! response size (`broker.rs`, `credentials.rs`, `retry.rs`). A plugin
//! never opens a socket and never sees a secret.

pub(crate) mod broker;
mod credentials;
mod retry;

pub use broker::{not_granted, HttpBroker, Request, Response};

use anyhow::Result;
use wasmtime::component::Linker;

use super::{link_import, Contract, PluginHost};
use crate::runtime::job::{CallContext, Grant};
use crate::runtime::wit;

pub(super) fn add_to_linker(linker: &mut Linker<PluginHost>, contract: Contract) -> Result<()> {
    link_import!(linker, contract, http)
}

/// Per instance: a broker only when the job grants an origin. Fails on an
/// unreadable CA file.
pub(super) fn broker_for(
    grant: &Grant,
    ctx: &CallContext,
    max_body: usize,
) -> Result<Option<HttpBroker>> {
    if grant.http.is_empty() {
        return Ok(None);
    }
    HttpBroker::new(grant, ctx, max_body).map(Some)
}

impl PluginHost {
    /// The wait for the answer, and for any retries, is not charged to
    /// the plugin's CPU time.
    fn http_send(&mut self, req: Request) -> Result<Response, String> {
        let out = match &self.http {
            None => Err(not_granted(&req.url)),
            Some(broker) => broker.send(req),
        };
        self.resume();
        out
    }
}

/// The import in the contract versions where it has 0.1's shape.
macro_rules! http_import {
    ($($version:ident),*) => {$(
        impl wit::$version::http::Host for PluginHost {
            fn send(
                &mut self,
                req: wit::$version::http::Request,
            ) -> Result<wit::$version::http::Response, String> {
                self.http_send(req.into()).map(Into::into)
            }
        }
    )*};
}
http_import!(v0_1, v0_2);
