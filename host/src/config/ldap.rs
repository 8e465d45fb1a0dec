//! `[jobs.ldap]`: the one directory server a job's connector may reach.
//!
//! The host owns the connection: the plugin only sends searches, so the
//! server named here is the plugin's whole LDAP grant, and the bind password
//! never leaves the host.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Result};
use serde::Deserialize;

use crate::secret::Secret;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapConnection {
    /// `ldap://host:389` or `ldaps://host:636`.
    pub url: String,
    /// `ldaps`, `starttls` or `none`; by default `ldaps` for `ldaps://` URLs
    /// and `starttls` for `ldap://` ones (plain text only when asked for).
    pub tls: Option<TlsMode>,
    /// PEM file of the CA that signed the server's certificate; without it
    /// the system's trusted roots are used.
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate (a warning is logged on every connection).
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// A DN (`cn=sync,dc=example,dc=com`) or, for Active Directory, a UPN
    /// (`sync@example.com`). Without it the connection stays anonymous.
    pub bind_dn: Option<String>,
    /// `{ env = "VAR" }` or `{ value = "..." }`.
    pub bind_password: Option<Secret>,
    /// Connect and per-operation timeout.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: f64,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    Ldaps,
    Starttls,
    None,
}

fn default_timeout() -> f64 {
    30.0
}

impl LdapConnection {
    /// The TLS mode in force, from `tls` or the URL's scheme.
    pub fn tls_mode(&self) -> TlsMode {
        self.tls.unwrap_or(if self.url.starts_with("ldaps://") {
            TlsMode::Ldaps
        } else {
            TlsMode::Starttls
        })
    }

    pub fn timeout(&self) -> Duration {
        Duration::try_from_secs_f64(self.timeout_seconds.max(0.1)).unwrap_or(
            Duration::from_secs_f64(super::bounds::MAX_LDAP_TIMEOUT_SECONDS),
        )
    }

    pub fn validate(&self, key: &str) -> Result<()> {
        let scheme_ok = self.url.starts_with("ldap://") || self.url.starts_with("ldaps://");
        if !scheme_ok {
            bail!(
                "{key}.url = {:?} is not an LDAP URL like \"ldaps://dc1.example.com:636\" or \"ldap://127.0.0.1:389\"",
                super::safe_url(&self.url)
            );
        }
        let ldaps_url = self.url.starts_with("ldaps://");
        match (self.tls_mode(), ldaps_url) {
            (TlsMode::Ldaps, false) => {
                bail!("{key}: tls = \"ldaps\" needs an ldaps:// URL")
            }
            (TlsMode::Starttls | TlsMode::None, true) => {
                bail!("{key}: an ldaps:// URL already means TLS; leave `tls` out or set it to \"ldaps\"")
            }
            _ => {}
        }
        if self.bind_dn.is_some() != self.bind_password.is_some() {
            bail!("{key}: set both `bind_dn` and `bind_password`, or neither (anonymous)");
        }
        super::bounds::check_positive(
            &format!("{key}.timeout_seconds"),
            self.timeout_seconds,
            super::bounds::MAX_LDAP_TIMEOUT_SECONDS,
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(toml_text: &str) -> LdapConnection {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn tls_follows_the_scheme_unless_set() {
        assert_eq!(conn("url = \"ldaps://h:636\"").tls_mode(), TlsMode::Ldaps);
        assert_eq!(conn("url = \"ldap://h\"").tls_mode(), TlsMode::Starttls);
        assert_eq!(
            conn("url = \"ldap://h\"\ntls = \"none\"").tls_mode(),
            TlsMode::None
        );
    }

    #[test]
    fn contradictions_are_named() {
        let err = conn("url = \"ldaps://h\"\ntls = \"starttls\"")
            .validate("jobs[0].ldap")
            .unwrap_err();
        assert!(err.to_string().contains("jobs[0].ldap"), "{err}");
        let err = conn("url = \"http://h\"")
            .validate("jobs[0].ldap")
            .unwrap_err();
        assert!(err.to_string().contains("not an LDAP URL"), "{err}");
        let err = conn("url = \"ldap://h\"\nbind_dn = \"cn=x\"")
            .validate("k")
            .unwrap_err();
        assert!(err.to_string().contains("bind_password"), "{err}");
    }

    #[test]
    fn the_ldap_examples_are_valid() {
        for (name, text) in [
            (
                "openldap",
                include_str!("../../../examples/openldap/usersync.toml"),
            ),
            (
                "active-directory",
                include_str!("../../../examples/active-directory/usersync.toml"),
            ),
        ] {
            let c = crate::config::Config::parse(text, name, ".".into()).unwrap();
            let ldap = c.jobs[0].ldap.as_ref().expect("a [jobs.ldap] table");
            assert!(ldap.bind_password.is_some(), "{name}");
        }
    }
}
