//! What the root DSE says about the server: its naming context, whether it
//! offers content synchronization, and (Active Directory) its current USN.

use usersync_sdk::host::ldap;

use crate::entries::{first_text, texts};

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
        let dse = ldap::root_dse()?;
        let naming_context = first_text(&dse, "defaultNamingContext")
            .or_else(|| first_text(&dse, "namingContexts"))
            .map(str::to_string);
        let content_sync = texts(&dse, "supportedControl").any(|c| c == SYNC_REQUEST_OID);
        let highest_usn = first_text(&dse, "highestCommittedUSN").and_then(|v| v.parse().ok());
        Ok(Server {
            naming_context,
            content_sync,
            highest_usn,
        })
    }
}
