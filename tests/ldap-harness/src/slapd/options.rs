//! [`SlapdOptions`]: how to start a [`Slapd`](super::Slapd).

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

/// How to start a [`Slapd`](super::Slapd). `SlapdOptions::default()` gives `dc=example,dc=com`
/// with the memberof and refint overlays, no syncprov, and just the base entries.
#[derive(Debug, Clone)]
pub struct SlapdOptions {
    /// Suffix of the mdb database; the root DN is `cn=admin,<suffix>`.
    pub suffix: String,
    /// Password of the root DN (stored in cleartext in cn=config: it is a throwaway server).
    pub admin_password: String,
    /// Add the syncprov overlay (RFC 4533 content synchronization).
    pub syncprov: bool,
    /// syncprov session log size (lets a refresh with a cookie report deletes as a syncIdSet
    /// instead of a present phase). `None` = no session log.
    pub syncprov_sessionlog: Option<u32>,
    /// Loopback address to listen on.
    pub address: Ipv4Addr,
    /// LDIF files loaded with `slapadd -q` before the first start, in order. Bypasses the
    /// overlays: the LDIF must carry `memberOf` itself (see [`crate::DirectorySpec::with_memberof`])
    /// and must contain the suffix entry.
    pub offline_ldif: Vec<PathBuf>,
    /// When `offline_ldif` is empty: create the suffix entry, `ou=people` and `ou=groups`.
    pub create_base: bool,
    /// `slapd -d` level: "none" (default: quiet, but errors such as a bad certificate are
    /// logged; "0" would hide them), "stats" (one line per operation), "-1" (everything).
    pub debug_level: String,
    /// How long to wait for the first successful bind.
    pub start_timeout: Duration,
    /// mdb `maxsize` in bytes (a sparse file: large is free).
    pub db_max_size: u64,
}

impl Default for SlapdOptions {
    fn default() -> Self {
        Self {
            suffix: "dc=example,dc=com".into(),
            admin_password: "admin-secret".into(),
            syncprov: false,
            syncprov_sessionlog: Some(100_000),
            address: Ipv4Addr::LOCALHOST,
            offline_ldif: Vec::new(),
            create_base: true,
            debug_level: "none".into(),
            start_timeout: Duration::from_secs(30),
            db_max_size: 32 << 30,
        }
    }
}

impl SlapdOptions {
    pub fn suffix(mut self, s: impl Into<String>) -> Self {
        self.suffix = s.into();
        self
    }
    pub fn admin_password(mut self, s: impl Into<String>) -> Self {
        self.admin_password = s.into();
        self
    }
    pub fn syncprov(mut self, on: bool) -> Self {
        self.syncprov = on;
        self
    }
    pub fn syncprov_sessionlog(mut self, size: Option<u32>) -> Self {
        self.syncprov_sessionlog = size;
        self
    }
    pub fn address(mut self, a: Ipv4Addr) -> Self {
        self.address = a;
        self
    }
    /// Adds an LDIF file for `slapadd` before the first start.
    pub fn load_ldif_offline(mut self, path: impl Into<PathBuf>) -> Self {
        self.offline_ldif.push(path.into());
        self
    }
    pub fn create_base(mut self, on: bool) -> Self {
        self.create_base = on;
        self
    }
    pub fn debug_level(mut self, level: impl Into<String>) -> Self {
        self.debug_level = level.into();
        self
    }
    pub fn start_timeout(mut self, t: Duration) -> Self {
        self.start_timeout = t;
        self
    }
}
