//! `[plugins]`: where plugins live, whether the built-in ones serve, and
//! which signatures are required (globally, and per tenant in
//! `[tenants.plugins]`).

use std::collections::HashMap;
use std::path::PathBuf;

use serde::Deserialize;

use crate::runtime::signature::{PublicKey, TrustedKey};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginsConfig {
    /// Folder of `.wasm` plugins shared by all tenants. A tenant's own
    /// plugins live in `<dir>/tenants/<tenant id>/` and shadow shared ones.
    pub dir: PathBuf,
    /// Compiled-artifact cache (keyed by content hash and engine version).
    pub cache_dir: PathBuf,
    /// Serve the first-party plugins embedded in the binary (csv, ldap,
    /// graph, okta, default-mapper) unless a file with the name overrides
    /// them.
    pub builtins: bool,
    /// Refuse every plugin file not signed by one of `trusted_keys`.
    pub require_signature: bool,
    pub trusted_keys: Vec<KeyEntry>,
}

impl Default for PluginsConfig {
    fn default() -> Self {
        PluginsConfig {
            dir: "plugins".into(),
            cache_dir: ".usersync/cache".into(),
            builtins: true,
            require_signature: false,
            trusted_keys: Vec::new(),
        }
    }
}

/// A tenant's own signature rule (`[tenants.plugins]`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TrustConfig {
    #[serde(default)]
    pub require_signature: Option<bool>,
    #[serde(default)]
    pub trusted_keys: Vec<KeyEntry>,
}

/// `"ed25519:<hex>"`, or `{ name = "acme", key = "ed25519:<hex>" }` to
/// show a name in `plugins list`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(try_from = "KeyEntryToml")]
pub struct KeyEntry(pub TrustedKey);

#[derive(Deserialize)]
#[serde(untagged)]
enum KeyEntryToml {
    Key(String),
    Named { name: String, key: String },
}

impl TryFrom<KeyEntryToml> for KeyEntry {
    type Error = String;
    fn try_from(entry: KeyEntryToml) -> Result<Self, String> {
        let (name, text) = match entry {
            KeyEntryToml::Key(k) => (None, k),
            KeyEntryToml::Named { name, key } => (Some(name), key),
        };
        let key = PublicKey::parse(&text)?;
        let name = name.unwrap_or_else(|| format!("key {}", key.fingerprint()));
        Ok(KeyEntry(TrustedKey { name, key }))
    }
}

/// The signature rule of one scope, as the registry applies it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trust {
    pub require_signature: bool,
    pub keys: Vec<TrustedKey>,
}

/// Every scope's rule: the shared folder's, and each tenant's (the
/// global keys plus the tenant's own; a tenant's `require_signature`
/// wins over the global one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PluginPolicy {
    pub builtins: bool,
    pub shared: Trust,
    pub tenants: HashMap<String, Trust>,
}

impl PluginPolicy {
    pub fn new(global: &PluginsConfig, tenants: &[(String, Option<TrustConfig>)]) -> Self {
        let shared = Trust {
            require_signature: global.require_signature,
            keys: global.trusted_keys.iter().map(|k| k.0.clone()).collect(),
        };
        // Only tenants with a rule of their own: the others follow the
        // shared one (and adding such a tenant changes no rule).
        let tenants = tenants
            .iter()
            .filter_map(|(id, own)| Some((id, own.as_ref()?)))
            .map(|(id, own)| {
                let mut trust = shared.clone();
                if let Some(r) = own.require_signature {
                    trust.require_signature = r;
                }
                trust
                    .keys
                    .extend(own.trusted_keys.iter().map(|k| k.0.clone()));
                (id.clone(), trust)
            })
            .collect();
        PluginPolicy {
            builtins: global.builtins,
            shared,
            tenants,
        }
    }

    /// The rule for plugins served to `tenant` (`None`: the shared folder).
    pub fn trust(&self, tenant: Option<&str>) -> &Trust {
        tenant
            .and_then(|t| self.tenants.get(t))
            .unwrap_or(&self.shared)
    }

    /// Every key any scope trusts, so a signature is recognised whoever
    /// it serves.
    pub fn all_keys(&self) -> Vec<TrustedKey> {
        let mut keys = self.shared.keys.clone();
        for t in self.tenants.values() {
            for k in &t.keys {
                if !keys.contains(k) {
                    keys.push(k.clone());
                }
            }
        }
        keys
    }
}
