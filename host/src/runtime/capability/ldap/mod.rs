//! The brokered `ldap` capability: the host connects to the job's one
//! configured server (`[jobs.ldap]`), binds with a password the plugin
//! never sees, and runs the plugin's searches with `ldap3` on tokio.
//!
//! Plugins run on blocking threads, so each call waits on the runtime
//! handle; the connection is opened on first use and kept for the run.
//!
//! `connect.rs` TCP/TLS/bind, `search.rs` paged and content-sync searches,
//! `entry.rs` an entry off the wire, `page.rs` a page in the contract's
//! form, `prefetch.rs` a search read ahead;
//! the import changed in 0.2 (packed search pages): `v0_1.rs`, `v0_2.rs`.

pub(crate) mod connect;
mod entry;
mod page;
mod prefetch;
pub(crate) mod search;
mod v0_1;
mod v0_2;

use connect::report;
pub use connect::{
    bind, bind_failure, connect_and_bind, open as open_connection, ConnectError, Stage, StageReport,
};
pub use search::{Change, Entry, Page, PageForm, Request, SearchHandle, SyncOutcome, Value};

use anyhow::Result;
use ldap3::{Ldap, Scope};
use wasmtime::component::{Linker, Resource, ResourceTable};

use super::{link_import, Contract, PluginHost};
use crate::config::LdapConnection;
use crate::runtime::wit;

const NOT_GRANTED: &str =
    "LDAP is not granted to this job: add a [jobs.ldap] table with the server's url (and bind_dn, bind_password)";

pub(super) fn add_to_linker(linker: &mut Linker<PluginHost>, contract: Contract) -> Result<()> {
    link_import!(linker, contract, ldap)
}

// The calls on host types; each version's `Host` converts into these.
impl PluginHost {
    /// Run `f` with the job's broker; every exit resumes the guest's clock.
    fn with_ldap<T>(
        &mut self,
        f: impl FnOnce(&mut LdapBroker, &mut ResourceTable) -> Result<T, String>,
    ) -> Result<T, String> {
        let out = match self.ldap.as_mut() {
            Some(broker) => f(broker, &mut self.table),
            None => Err(NOT_GRANTED.to_string()),
        };
        self.resume();
        out
    }

    fn ldap_open_search(
        &mut self,
        mut req: Request,
        form: PageForm,
    ) -> Result<Resource<SearchHandle>, String> {
        // Set by the host (limits.max_output_kb), not by the plugin.
        req.max_page_bytes = self.max_output;
        self.with_ldap(|broker, table| {
            let search = broker.open_search(req, form)?;
            table
                .push(search)
                .map_err(|e| format!("too many open searches: {e}"))
        })
    }

    fn ldap_root_dse(&mut self) -> Result<Entry, String> {
        self.with_ldap(|broker, _| broker.root_dse())
    }

    fn ldap_check(&mut self) -> Vec<StageReport> {
        match self.with_ldap(|broker, _| Ok(broker.check())) {
            Ok(stages) => stages,
            Err(e) => vec![StageReport {
                name: "config",
                ok: false,
                detail: e,
            }],
        }
    }

    /// The next page, in the form `lift` gives it (inside the host's time).
    fn ldap_next_page<T>(
        &mut self,
        search: &Resource<SearchHandle>,
        lift: impl FnOnce(Page) -> Result<T, String>,
    ) -> Result<T, String> {
        self.with_ldap(|broker, table| {
            let search = table
                .get_mut(search)
                .map_err(|_| "no such search".to_string())?;
            broker.next_page(search).and_then(lift)
        })
    }

    fn ldap_sync_done(&mut self, search: &Resource<SearchHandle>) -> Option<SyncOutcome> {
        self.table.get(search).ok()?.sync_done()
    }

    fn ldap_drop(&mut self, search: Resource<SearchHandle>) -> wasmtime::Result<()> {
        self.table.delete(search)?;
        Ok(())
    }
}

pub struct LdapBroker {
    conn: LdapConnection,
    handle: tokio::runtime::Handle,
    ldap: Option<Ldap>,
    open: prefetch::OpenSearches,
}

impl LdapBroker {
    /// `None` without a tokio runtime to run the connection on.
    pub fn new(conn: LdapConnection) -> Option<LdapBroker> {
        Some(LdapBroker {
            conn,
            handle: tokio::runtime::Handle::try_current().ok()?,
            ldap: None,
            open: Default::default(),
        })
    }

    fn connected(&mut self) -> Result<Ldap, String> {
        if let Some(ldap) = self.ldap.as_mut() {
            if !ldap.is_closed() {
                return Ok(ldap.clone());
            }
        }
        let ldap = self
            .handle
            .block_on(connect_and_bind(&self.conn))
            .map_err(|e| e.message)?;
        self.ldap = Some(ldap.clone());
        Ok(ldap)
    }

    pub fn open_search(&mut self, req: Request, form: PageForm) -> Result<SearchHandle, String> {
        let open = self.open.take()?;
        let mut ldap = self.connected()?;
        let reader = self
            .handle
            .block_on(search::Reader::open(&mut ldap, req, form))?;
        Ok(SearchHandle::spawn(reader, &self.handle, open))
    }

    pub fn next_page(&self, search: &mut SearchHandle) -> Result<Page, String> {
        search.next_page(&self.handle)
    }

    pub fn root_dse(&mut self) -> Result<Entry, String> {
        let mut ldap = self.connected()?;
        let req = Request {
            base: String::new(),
            scope: Scope::Base,
            filter: "(objectClass=*)".into(),
            attributes: vec!["*".into(), "+".into()],
            binary_attributes: vec![],
            page_size: 0,
            controls: vec![],
            max_page_bytes: usize::MAX,
            sync: None,
        };
        self.handle.block_on(async move {
            let mut search = search::Reader::open(&mut ldap, req, PageForm::Typed).await?;
            let mut page = search.next_page().await?.into_typed()?;
            page.pop()
                .ok_or_else(|| "the LDAP server returned no root DSE".to_string())
        })
    }

    /// TCP, then TLS, then bind; stops at the first red stage.
    pub fn check(&mut self) -> Vec<StageReport> {
        let conn = self.conn.clone();
        let mut out = Vec::new();
        let tcp = self.handle.block_on(connect::probe_tcp(&conn));
        let (host, port) = connect::host_port(&conn.url).unwrap_or_default();
        out.push(report(
            Stage::Tcp,
            tcp.map(|_| format!("{host}:{port} answers")),
        ));
        if out[0].ok {
            let tls = self.handle.block_on(connect::open(&conn));
            let tls_detail = match conn.tls_mode() {
                crate::config::TlsMode::None => "plain LDAP (no TLS configured)".to_string(),
                mode => format!("{mode:?} handshake verified").to_lowercase(),
            };
            match tls {
                Err(e) => out.push(report(e.stage, Err(e))),
                Ok(mut ldap) => {
                    out.push(report(Stage::Tls, Ok(tls_detail)));
                    let bound = self.handle.block_on(async {
                        match (&conn.bind_dn, &conn.bind_password) {
                            (Some(dn), Some(secret)) => {
                                let pw = secret.reveal().map_err(|e| ConnectError {
                                    stage: Stage::Bind,
                                    message: format!("jobs.ldap.bind_password: {e}"),
                                })?;
                                connect::bind(&mut ldap, dn, &pw)
                                    .await
                                    .map(|_| format!("bound as {dn}"))
                            }
                            _ => Ok("anonymous (no bind_dn configured)".to_string()),
                        }
                    });
                    out.push(report(Stage::Bind, bound));
                    let _ = self.handle.block_on(ldap.unbind());
                }
            }
        }
        out
    }
}

impl Drop for LdapBroker {
    fn drop(&mut self) {
        if let Some(mut ldap) = self.ldap.take() {
            // Unbind politely without holding up the end of the run.
            self.handle.spawn(async move {
                let _ = ldap.unbind().await;
            });
        }
    }
}

/// The calls outside a search, in the contract versions where they have
/// 0.1's shape (0.2 changed only a search's pages: `v0_2.rs`), each with
/// the form its pages take.
macro_rules! ldap_import {
    ($($version:ident: $form:expr),*) => {$(
        impl wit::$version::ldap::Host for PluginHost {
            fn open_search(
                &mut self,
                req: wit::$version::ldap::SearchRequest,
            ) -> Result<Resource<SearchHandle>, String> {
                self.ldap_open_search(req.into(), $form)
            }

            fn root_dse(&mut self) -> Result<wit::$version::ldap::Entry, String> {
                self.ldap_root_dse().map(Into::into)
            }

            fn check(&mut self) -> Vec<wit::$version::ldap::Stage> {
                self.ldap_check().into_iter().map(Into::into).collect()
            }
        }
    )*};
}
ldap_import!(v0_1: PageForm::Typed, v0_2: PageForm::Packed);
