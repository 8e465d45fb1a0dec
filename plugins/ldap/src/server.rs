//! What the root DSE says about the server: its naming context, whether it
//! offers content synchronization, and (Active Directory) its current USN.

use usersync_sdk::host::ldap::{self, Page};

/// The Sync Request control (RFC 4533); listed when `syncprov` is loaded.
const SYNC_REQUEST_OID: &str = "1.3.6.1.4.1.4203.1.9.1.1";

#[derive(Debug, Clone, Default)]
pub struct Server {
    pub naming_context: Option<String>,
    pub content_sync: bool,
    pub highest_usn: Option<u64>,
}

impl Server {
    pub fn read() -> Result<Server, String> {
        let page = Page::from_entries(&[ldap::root_dse()?]);
        let dse = page.get(0).expect("a page of one entry");
        let naming_context = dse
            .first_text("defaultNamingContext")
            .or_else(|| dse.first_text("namingContexts"))
            .map(str::to_string);
        let content_sync = dse.texts("supportedControl").any(|c| c == SYNC_REQUEST_OID);
        let highest_usn = dse
            .first_text("highestCommittedUSN")
            .and_then(|v| v.parse().ok());
        Ok(Server {
            naming_context,
            content_sync,
            highest_usn,
        })
    }
}
