//! Contract 0.2's `ldap` import: as 0.1, but a search page crosses the
//! boundary as one packed buffer (one guest allocation per page, not one
//! per string). The rest converts to 0.1's host code.

use wasmtime::component::Resource;

use super::{Change, Entry, SearchHandle, Value};
use crate::runtime::v0_1::connector_bindings::usersync::plugin::ldap as v1;
use crate::runtime::v0_2::connector_bindings::usersync::plugin::types;
use crate::runtime::v0_2::ldap;
use crate::runtime::{packed, PluginHost};

impl ldap::Host for PluginHost {
    fn open_search(&mut self, req: ldap::SearchRequest) -> Result<Resource<SearchHandle>, String> {
        let req = v1::SearchRequest {
            base: req.base,
            scope: match req.scope {
                ldap::Scope::Base => v1::Scope::Base,
                ldap::Scope::OneLevel => v1::Scope::OneLevel,
                ldap::Scope::Subtree => v1::Scope::Subtree,
            },
            filter: req.filter,
            attributes: req.attributes,
            binary_attributes: req.binary_attributes,
            page_size: req.page_size,
            controls: req.controls,
            sync: req.sync.map(|s| v1::SyncRequest { cookie: s.cookie }),
        };
        v1::Host::open_search(self, req)
    }

    fn root_dse(&mut self) -> Result<ldap::Entry, String> {
        self.with_ldap(|broker, _| broker.root_dse().map(typed_entry))
    }

    fn check(&mut self) -> Vec<ldap::Stage> {
        v1::Host::check(self)
            .into_iter()
            .map(|s| ldap::Stage {
                name: s.name,
                ok: s.ok,
                detail: s.detail,
            })
            .collect()
    }
}

impl ldap::HostSearch for PluginHost {
    fn next_page(&mut self, search: Resource<SearchHandle>) -> Result<Vec<u8>, String> {
        self.with_ldap(|broker, table| {
            let search = table
                .get_mut(&search)
                .map_err(|_| "no such search".to_string())?;
            let page = broker.next_page(search)?;
            Ok(packed::encode_entries(&page))
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

/// The root DSE stays a typed entry: it is one small call.
fn typed_entry(e: Entry) -> ldap::Entry {
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
