//! Contract 0.2's `ldap` search resource: as 0.1, but a page crosses the
//! boundary as one packed buffer (one guest allocation per page, not one
//! per string), written as the entries arrived (`page.rs`). The other calls kept 0.1's shape: `mod.rs`'s `ldap_import!`.

use wasmtime::component::Resource;

use super::{Page, SearchHandle};
use crate::runtime::capability::PluginHost;
use crate::runtime::wit::v0_2::ldap;

impl ldap::HostSearch for PluginHost {
    fn next_page(&mut self, search: Resource<SearchHandle>) -> Result<Vec<u8>, String> {
        self.ldap_next_page(&search, Page::into_packed)
    }

    fn sync_done(&mut self, search: Resource<SearchHandle>) -> Option<ldap::SyncDone> {
        self.ldap_sync_done(&search).map(Into::into)
    }

    fn drop(&mut self, search: Resource<SearchHandle>) -> wasmtime::Result<()> {
        self.ldap_drop(search)
    }
}
