//! [`SambaOptions`] (how to start a [`SambaDc`](super::SambaDc)) and [`SambaTimings`].

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

/// How to start a [`SambaDc`](super::SambaDc).
#[derive(Debug, Clone)]
pub struct SambaOptions {
    /// Loopback address for LDAP (389), LDAPS (636), GC (3268/3269) and Kerberos (88/464).
    pub address: Ipv4Addr,
    /// Kerberos realm / DNS domain, upper case: `USERSYNC.TEST` gives `DC=usersync,DC=test`.
    pub realm: String,
    /// NetBIOS domain name.
    pub domain: String,
    pub host_name: String,
    /// Administrator's password (must satisfy AD complexity rules).
    pub admin_password: String,
    /// Where provisioned copies are cached; `None` provisions every time.
    pub cache_dir: Option<PathBuf>,
    /// How long to wait for the first successful bind after starting samba.
    pub start_timeout: Duration,
}

impl Default for SambaOptions {
    fn default() -> Self {
        Self {
            address: Ipv4Addr::new(127, 0, 0, 2),
            realm: "USERSYNC.TEST".into(),
            domain: "USERSYNC".into(),
            host_name: "dc1".into(),
            admin_password: "Adm1n-Passw0rd!".into(),
            cache_dir: Some(PathBuf::from("/tmp/usersync-samba-cache")),
            start_timeout: Duration::from_secs(60),
        }
    }
}

impl SambaOptions {
    pub fn address(mut self, a: Ipv4Addr) -> Self {
        self.address = a;
        self
    }
    pub fn realm(mut self, realm: impl Into<String>, domain: impl Into<String>) -> Self {
        self.realm = realm.into().to_ascii_uppercase();
        self.domain = domain.into().to_ascii_uppercase();
        self
    }
    pub fn admin_password(mut self, pw: impl Into<String>) -> Self {
        self.admin_password = pw.into();
        self
    }
    pub fn cache_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.cache_dir = dir;
        self
    }
}

/// Timings of the last start, for reports.
#[derive(Debug, Clone, Default)]
pub struct SambaTimings {
    /// `samba-tool domain provision` (zero when the cache was used).
    pub provision: Duration,
    /// Copying the cached directory.
    pub copy: Duration,
    /// From spawning samba to the first successful bind.
    pub start: Duration,
    pub from_cache: bool,
}
