//! Contract 0.1's `ldap` search resource: a page crosses the boundary typed.
//! The other calls are `mod.rs`'s `ldap_import!`.

use wasmtime::component::Resource;

use super::SearchHandle;
use crate::runtime::capability::PluginHost;
use crate::runtime::wit::v0_1::ldap;

impl ldap::HostSearch for PluginHost {
    fn next_page(&mut self, search: Resource<SearchHandle>) -> Result<Vec<ldap::Entry>, String> {
        self.ldap_next_page(&search, |page| {
            Ok(page.into_typed()?.into_iter().map(Into::into).collect())
        })
    }

    fn sync_done(&mut self, search: Resource<SearchHandle>) -> Option<ldap::SyncDone> {
        self.ldap_sync_done(&search).map(Into::into)
    }

    fn drop(&mut self, search: Resource<SearchHandle>) -> wasmtime::Result<()> {
        self.ldap_drop(search)
    }
}
