//! An installation whose job `people` reads a real directory server
//! through the ldap connector plugin.

use std::collections::BTreeMap;

use ldap_harness::{DirectorySpec, Slapd, SlapdOptions};
use serde_json::json;

use crate::env::TestEnv;

/// Connection settings for `[jobs.ldap]`, e.g. `ldaps(&slapd)`.
pub fn ldaps(slapd: &Slapd) -> serde_json::Value {
    json!({
        "url": slapd.ldaps_url(),
        "ca_file": slapd.ca_cert_path().display().to_string(),
        "bind_dn": slapd.admin_dn(),
        "bind_password": { "value": slapd.admin_password() },
        "timeout_seconds": 10.0,
    })
}

/// A slapd with `spec`'s directory added through the overlays (so
/// memberOf and refint behave as in production).
pub fn slapd_with(spec: &DirectorySpec, opts: SlapdOptions) -> Slapd {
    let slapd = Slapd::start(opts).expect("slapd starts");
    slapd
        .add_ldif(&spec.clone().include_base(false).to_ldif())
        .expect("directory loads");
    slapd
}

/// The ldap connector + default mapper, reading `slapd` over LDAPS.
pub fn openldap_env(slapd: &Slapd, source: serde_json::Value) -> TestEnv {
    let env = TestEnv::new(
        &[("plugins", "ldap"), ("plugins", "default-mapper")],
        "connector = \"ldap\"\nmappers = [\"default-mapper\"]\n",
    );
    env.set_job("ldap", ldaps(slapd));
    env.set_job("source", source);
    env.raise_limits();
    env
}

/// Active groups by name, with their member counts.
pub async fn group_sizes(env: &TestEnv) -> BTreeMap<String, i64> {
    let host = env.host().await;
    host.store
        .groups(None)
        .await
        .unwrap()
        .into_iter()
        .filter(|g| g.active)
        .map(|g| (g.name, g.members))
        .collect()
}

/// The OpenLDAP source settings the tests use: the generator's disabled marker.
pub fn openldap_source(slapd: &Slapd) -> serde_json::Value {
    json!({
        "preset": "openldap",
        "users_base": slapd.people_dn(),
        "groups_base": slapd.groups_dn(),
        "disabled_attribute": "employeeType",
        "disabled_value": "disabled",
        "page_size": 7,
    })
}

impl TestEnv {
    /// LDAP reads of a few thousand entries need more than the defaults
    /// the behaviour tests use.
    pub fn raise_limits(&self) {
        self.edit(|doc| {
            let limits = doc["limits"].as_table_mut().unwrap();
            limits.insert("cpu_seconds".into(), 10.0.into());
            limits.insert("max_read_mb".into(), 256.into());
            limits.insert("memory_mb".into(), 256.into());
        });
    }
}
