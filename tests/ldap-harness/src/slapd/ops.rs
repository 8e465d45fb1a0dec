//! Operations on a running [`Slapd`] through the OpenLDAP client tools: adds, modifications,
//! renames, deletes and searches.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::Slapd;
use crate::util::{run, search, LdifEntry};

impl Slapd {
    /// Adds entries with `ldapadd` (through the overlays: don't include `memberOf`).
    pub fn add_ldif(&self, ldif: &str) -> Result<()> {
        let path = self.scratch_file("add", ldif)?;
        let r = self.add_ldif_file(&path);
        let _ = fs::remove_file(path);
        r
    }

    /// `ldapadd -f path`.
    pub fn add_ldif_file(&self, path: &Path) -> Result<()> {
        run(self.client("ldapadd").arg("-f").arg(path)).map(|_| ())
    }

    /// Applies change records with `ldapmodify` (`changetype: modify|add|delete|modrdn`).
    pub fn modify(&self, ldif: &str) -> Result<()> {
        let path = self.scratch_file("modify", ldif)?;
        let r = run(self.client("ldapmodify").arg("-f").arg(&path)).map(|_| ());
        let _ = fs::remove_file(path);
        r
    }

    /// `ldapmodrdn -r DN NEWRDN` (the old RDN value is removed).
    pub fn modrdn(&self, dn: &str, new_rdn: &str) -> Result<()> {
        run(self.client("ldapmodrdn").args(["-r", dn, new_rdn])).map(|_| ())
    }

    /// `ldapdelete DN`.
    pub fn delete(&self, dn: &str) -> Result<()> {
        run(self.client("ldapdelete").arg(dn)).map(|_| ())
    }

    /// `ldapsearch -LLL -o ldif-wrap=no` bound as the admin with `args` appended.
    pub fn ldapsearch(&self, args: &[&str]) -> Result<String> {
        search::ldapsearch(self.client("ldapsearch"), args)
    }

    /// Entries under `base` (subtree) matching `filter`, read with a paged search.
    pub fn search_count(&self, base: &str, filter: &str) -> Result<usize> {
        search::search_count(self.client("ldapsearch"), base, filter)
    }

    /// Entries under `base` (subtree) matching `filter` with `attrs` (empty = all user
    /// attributes; add "+" for operational ones), paged.
    pub fn search(&self, base: &str, filter: &str, attrs: &[&str]) -> Result<Vec<LdifEntry>> {
        search::search(self.client("ldapsearch"), base, filter, attrs)
    }

    /// The entry at `dn` (base search), if it exists.
    pub fn get(&self, dn: &str, attrs: &[&str]) -> Result<Option<LdifEntry>> {
        search::get(self.client("ldapsearch"), dn, attrs)
    }

    /// Adds a non-admin account `cn=<cn>,<suffix>` (simpleSecurityObject) with `password`. It
    /// can read everything but `userPassword` (reads are ~30% slower than the root DN's: ACLs).
    /// Returns its DN.
    pub fn add_reader(&self, cn: &str, password: &str) -> Result<String> {
        let dn = format!(
            "cn={},{}",
            crate::util::escape_dn_value(cn),
            self.opts.suffix
        );
        let mut s = String::new();
        crate::util::ldif_line(&mut s, "dn", &dn);
        for oc in ["top", "organizationalRole", "simpleSecurityObject"] {
            crate::util::ldif_line(&mut s, "objectClass", oc);
        }
        crate::util::ldif_line(&mut s, "cn", cn);
        crate::util::ldif_line(&mut s, "userPassword", password);
        self.add_ldif(&s)?;
        Ok(dn)
    }

    /// The database's `contextCSN` (syncprov maintains it; `None` without syncprov/data).
    pub fn context_csn(&self) -> Result<Vec<String>> {
        Ok(self
            .get(&self.opts.suffix, &["contextCSN"])?
            .map(|e| e.values("contextCSN"))
            .unwrap_or_default())
    }

    fn scratch_file(&self, what: &str, contents: &str) -> Result<PathBuf> {
        let f = tempfile::Builder::new()
            .prefix(what)
            .suffix(".ldif")
            .tempfile_in(self.dir.path())?;
        fs::write(f.path(), contents)?;
        let (_, path) = f.keep()?;
        Ok(path)
    }
}
