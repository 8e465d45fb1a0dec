//! Contract 0.1's `ldap` import: a search page crosses the boundary typed.

use wasmtime::component::Resource;

use super::SearchHandle;
use crate::runtime::wit::v0_1::ldap;
use crate::runtime::PluginHost;

impl ldap::Host for PluginHost {
    fn open_search(&mut self, req: ldap::SearchRequest) -> Result<Resource<SearchHandle>, String> {
        self.ldap_open_search(req.into())
    }

    fn root_dse(&mut self) -> Result<ldap::Entry, String> {
        self.ldap_root_dse().map(Into::into)
    }

    fn check(&mut self) -> Vec<ldap::Stage> {
        self.ldap_check().into_iter().map(Into::into).collect()
    }
}

impl ldap::HostSearch for PluginHost {
    fn next_page(&mut self, search: Resource<SearchHandle>) -> Result<Vec<ldap::Entry>, String> {
        self.ldap_next_page(&search, |page| page.into_iter().map(Into::into).collect())
    }

    fn sync_done(&mut self, search: Resource<SearchHandle>) -> Option<ldap::SyncDone> {
        self.ldap_sync_done(&search).map(Into::into)
    }

    fn drop(&mut self, search: Resource<SearchHandle>) -> wasmtime::Result<()> {
        self.ldap_drop(search)
    }
}
