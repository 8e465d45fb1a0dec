//! Contract 0.1's `ldap` import, served by the job's [`LdapBroker`].

use wasmtime::component::Resource;

use super::{Change, Entry, LdapBroker, Request, SearchHandle, Value};
use crate::runtime::v0_1::connector_bindings::usersync::plugin::{ldap, types};
use crate::runtime::PluginHost;

const NOT_GRANTED: &str =
    "LDAP is not granted to this job: add a [jobs.ldap] table with the server's url (and bind_dn, bind_password)";

impl PluginHost {
    /// Run `f` with the job's broker; every exit resumes the guest's clock.
    pub(super) fn with_ldap<T>(
        &mut self,
        f: impl FnOnce(&mut LdapBroker, &mut wasmtime::component::ResourceTable) -> Result<T, String>,
    ) -> Result<T, String> {
        let out = match self.ldap.as_mut() {
            Some(broker) => f(broker, &mut self.table),
            None => Err(NOT_GRANTED.to_string()),
        };
        self.resume();
        out
    }
}

impl ldap::Host for PluginHost {
    fn open_search(&mut self, req: ldap::SearchRequest) -> Result<Resource<SearchHandle>, String> {
        let req = Request {
            base: req.base,
            scope: match req.scope {
                ldap::Scope::Base => ldap3::Scope::Base,
                ldap::Scope::OneLevel => ldap3::Scope::OneLevel,
                ldap::Scope::Subtree => ldap3::Scope::Subtree,
            },
            filter: req.filter,
            attributes: req.attributes,
            binary_attributes: req.binary_attributes,
            page_size: req.page_size,
            controls: req.controls,
            max_page_bytes: self.max_output,
            sync: req.sync.map(|s| s.cookie),
        };
        self.with_ldap(|broker, table| {
            let search = broker.open_search(req)?;
            table
                .push(search)
                .map_err(|e| format!("too many open searches: {e}"))
        })
    }

    fn root_dse(&mut self) -> Result<ldap::Entry, String> {
        self.with_ldap(|broker, _| broker.root_dse().map(wire_entry))
    }

    fn check(&mut self) -> Vec<ldap::Stage> {
        let stages = self.with_ldap(|broker, _| Ok(broker.check()));
        match stages {
            Ok(stages) => stages
                .into_iter()
                .map(|s| ldap::Stage {
                    name: s.name.to_string(),
                    ok: s.ok,
                    detail: s.detail,
                })
                .collect(),
            Err(e) => vec![ldap::Stage {
                name: "config".into(),
                ok: false,
                detail: e,
            }],
        }
    }
}

impl ldap::HostSearch for PluginHost {
    fn next_page(&mut self, search: Resource<SearchHandle>) -> Result<Vec<ldap::Entry>, String> {
        self.with_ldap(|broker, table| {
            let search = table
                .get_mut(&search)
                .map_err(|_| "no such search".to_string())?;
            let page = broker.next_page(search)?;
            Ok(page.into_iter().map(wire_entry).collect())
        })
    }

    fn sync_done(&mut self, search: Resource<SearchHandle>) -> Option<ldap::SyncDone> {
        let done = self.table.get(&search).ok()?.sync_done()?;
        Some(ldap::SyncDone {
            cookie: done.cookie,
            deleted: done.deleted,
            present: done.present,
            present_phase: done.present_phase,
        })
    }

    fn drop(&mut self, search: Resource<SearchHandle>) -> wasmtime::Result<()> {
        self.table.delete(search)?;
        Ok(())
    }
}

fn wire_entry(e: Entry) -> ldap::Entry {
    ldap::Entry {
        dn: e.dn,
        attributes: e
            .attributes
            .into_iter()
            .map(|(name, values)| types::Attribute {
                name,
                values: values
                    .into_iter()
                    .map(|v| match v {
                        Value::Text(t) => types::AttrValue::Text(t),
                        Value::Bytes(b) => types::AttrValue::Binary(b),
                    })
                    .collect(),
            })
            .collect(),
        change: e.change.map(|(c, uuid)| {
            let c = match c {
                Change::Add => ldap::Change::Add,
                Change::Modify => ldap::Change::Modify,
                Change::Delete => ldap::Change::Delete,
                Change::Present => ldap::Change::Present,
            };
            (c, uuid)
        }),
    }
}
