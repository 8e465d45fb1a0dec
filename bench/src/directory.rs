//! A generated directory served by a throwaway slapd (loaded offline with slapadd), and the
//! floor every usersync figure is divided by: a plain paged `ldapsearch` dump of the same
//! entries and attributes to /dev/null.

use std::process::Stdio;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use ldap_harness::{write_directory, DirectorySpec, DirectoryStats, Slapd, SlapdOptions};

/// The user attributes and filter the LDAP connector's `openldap` preset reads with the bench's
/// job config (plugins/ldap/src/config.rs); the floor dumps the same.
pub const USER_ATTRS: &[&str] = &[
    "entryUUID",
    "modifyTimestamp",
    "uid",
    "displayName",
    "givenName",
    "sn",
    "mail",
    "telephoneNumber",
    "title",
    "o",
    "ou",
    "manager",
    "employeeNumber",
    "employeeType",
];
pub const USER_FILTER: &str = "(objectClass=inetOrgPerson)";
/// The group attributes and filter the connector reads.
pub const GROUP_ATTRS: &[&str] = &[
    "entryUUID",
    "cn",
    "member",
    "uniqueMember",
    "memberUid",
    "description",
];
pub const GROUP_FILTER: &str =
    "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))";

pub struct Directory {
    pub spec: DirectorySpec,
    pub stats: DirectoryStats,
    pub slapd: Slapd,
    pub generate_s: f64,
    pub load_s: f64,
    _tmp: tempfile::TempDir,
}

impl Directory {
    /// Generate `users`/`groups` (deterministic in `seed`) and serve them from a new slapd with
    /// syncprov (so incremental syncs can use a syncrepl cookie).
    pub fn start(users: usize, groups: usize, seed: u64) -> Result<Directory> {
        let tmp = tempfile::tempdir()?;
        let spec = DirectorySpec::new(users, groups, seed).with_memberof(true);
        let ldif = tmp.path().join("directory.ldif");
        let t = Instant::now();
        let stats = write_directory(&ldif, &spec)?;
        let generate_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let slapd = Slapd::start(
            SlapdOptions::default()
                .syncprov(true)
                .load_ldif_offline(&ldif),
        )
        .context("start slapd with the generated directory")?;
        let load_s = t.elapsed().as_secs_f64();
        let _ = std::fs::remove_file(&ldif);
        Ok(Directory {
            spec,
            stats,
            slapd,
            generate_s,
            load_s,
            _tmp: tmp,
        })
    }

    /// One floor measurement: paged `ldapsearch` of the users and of the groups with the
    /// attributes the connector reads, output to /dev/null. Seconds.
    pub fn floor(&self) -> Result<f64> {
        let t = Instant::now();
        self.dump(&self.slapd.people_dn(), USER_FILTER, USER_ATTRS)?;
        self.dump(&self.slapd.groups_dn(), GROUP_FILTER, GROUP_ATTRS)?;
        Ok(t.elapsed().as_secs_f64())
    }

    fn dump(&self, base: &str, filter: &str, attrs: &[&str]) -> Result<()> {
        let status = self
            .slapd
            .client("ldapsearch")
            .args(["-LLL", "-E", "pr=1000/noprompt", "-b", base, filter])
            .args(attrs)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .status()?;
        if !status.success() {
            bail!("ldapsearch of {base} failed: {status}");
        }
        Ok(())
    }
}
